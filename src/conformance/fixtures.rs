//! Fixture locations and the loading of source-table snapshots into DuckDB.
//!
//! A case names a model (`SIMPLE_MODEL`, ...). The model determines two
//! folders: the semantic manifest the compiler reads, and the snapshot
//! folder whose tables the manifest's semantic models read. The table below
//! was derived from the fixture names and checked against the tables each
//! manifest's `node_relation`s name: for example the non-`ds` manifest reads
//! `fct_bookings_dt` and `dim_listings_latest`, both in `simple_model`.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::types::{TimeUnit, Value as DuckValue};

use crate::warehouse::DuckDb;
use crate::yaml::{self, Node};

/// Where the manifests live, relative to the fixture root.
pub(crate) const MANIFESTS_DIR: &str = "metricflow_semantics/test_helpers/semantic_manifest_yamls";
/// Where the snapshots live, relative to the fixture root.
pub(crate) const SNAPSHOTS_DIR: &str = "tests_metricflow/fixtures/source_table_snapshots";
/// Where the cases live, relative to the fixture root.
pub(crate) const CASES_DIR: &str = "tests_metricflow/integration/test_cases";
/// The snapshot folder holding the time spines, loaded into every schema.
const TIME_SPINE_SNAPSHOTS: &str = "time_spine_table";

/// The manifest and snapshot folders of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModelFixture {
    pub model: &'static str,
    pub manifest: &'static str,
    pub snapshots: &'static str,
}

/// Every model the cases name, with its folders.
///
/// The partitioned and unpartitioned multi-hop manifests read the same
/// tables. The simple, non-`ds` and slowly-changing-dimension manifests all
/// read `simple_model` tables (`scd_manifest` reads `dim_listings` and
/// `dim_lux_listings` from there).
pub(crate) const MODEL_FIXTURES: [ModelFixture; 8] = [
    ModelFixture {
        model: "SIMPLE_MODEL",
        manifest: "simple_manifest",
        snapshots: "simple_model",
    },
    ModelFixture {
        model: "SIMPLE_MODEL_NON_DS",
        manifest: "non_sm_manifest",
        snapshots: "simple_model",
    },
    ModelFixture {
        model: "EXTENDED_DATE_MODEL",
        manifest: "extended_date_manifest",
        snapshots: "extended_date_model",
    },
    ModelFixture {
        model: "MULTI_HOP_JOIN_MODEL",
        manifest: "multi_hop_join_manifest",
        snapshots: "multi_hop_join_model",
    },
    ModelFixture {
        model: "UNPARTITIONED_MULTI_HOP_JOIN_MODEL",
        manifest: "multi_hop_join_manifest",
        snapshots: "multi_hop_join_model",
    },
    ModelFixture {
        model: "PARTITIONED_MULTI_HOP_JOIN_MODEL",
        manifest: "partitioned_multi_hop_join_manifest",
        snapshots: "multi_hop_join_model",
    },
    ModelFixture {
        model: "SIMPLE_MULTI_HOP_JOIN_MODEL",
        manifest: "simple_multi_hop_join_manifest",
        snapshots: "simple_multi_hop_join_manifest",
    },
    ModelFixture {
        model: "SCD_MODEL",
        manifest: "scd_manifest",
        snapshots: "simple_model",
    },
];

pub(crate) fn model_fixture(model: &str) -> Option<ModelFixture> {
    MODEL_FIXTURES
        .iter()
        .copied()
        .find(|fixture| fixture.model == model)
}

/// Column types of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    String,
    Int,
    Float,
    Boolean,
    Time,
}

impl ColumnType {
    fn parse(name: &str) -> Option<ColumnType> {
        let column_type = match name {
            "STRING" => ColumnType::String,
            "INT" => ColumnType::Int,
            "FLOAT" => ColumnType::Float,
            "BOOLEAN" => ColumnType::Boolean,
            "TIME" => ColumnType::Time,
            _ => return None,
        };
        Some(column_type)
    }

    fn sql_type(self) -> &'static str {
        match self {
            ColumnType::String => "VARCHAR",
            ColumnType::Int => "BIGINT",
            ColumnType::Float => "DOUBLE",
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::Time => "TIMESTAMP",
        }
    }
}

/// One table snapshot as read from its YAML file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub table_name: String,
    pub columns: Vec<(String, ColumnType)>,
    /// Cells as written; `None` is a YAML null.
    pub rows: Vec<Vec<Option<String>>>,
}

/// Creates `schema` and loads into it every snapshot of `snapshots_dir` and
/// of the time-spine folder next to it. Returns the names of the tables.
pub(crate) fn load_model_snapshots(
    warehouse: &DuckDb,
    snapshots_root: &Path,
    snapshots_folder: &str,
    schema: &str,
) -> Result<Vec<String>, String> {
    let mut files = snapshot_files(&snapshots_root.join(snapshots_folder))?;
    files.extend(snapshot_files(&snapshots_root.join(TIME_SPINE_SNAPSHOTS))?);

    warehouse
        .execute_batch(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_identifier(schema)
        ))
        .map_err(|error| format!("cannot create schema `{schema}`: {error}"))?;
    let mut tables = Vec::new();
    for file in files {
        let snapshot = read_snapshot(&file)?;
        load_snapshot(warehouse, schema, &snapshot)
            .map_err(|error| format!("cannot load `{}`: {error}", file.display()))?;
        tables.push(snapshot.table_name);
    }
    Ok(tables)
}

fn snapshot_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot list snapshot folder `{}`: {error}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|error| format!("cannot list snapshot folder `{}`: {error}", dir.display()))?
            .path();
        let is_yaml = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| extension == "yaml" || extension == "yml");
        if is_yaml {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads one `table_snapshot` file.
pub(crate) fn read_snapshot(path: &Path) -> Result<Snapshot, String> {
    let file_name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read snapshot `{file_name}`: {error}"))?;
    let documents = yaml::parse_documents(&text)
        .map_err(|error| format!("cannot parse snapshot `{file_name}`: {error}"))?;
    let Some(body) = documents
        .first()
        .and_then(|document| document.get("table_snapshot"))
    else {
        return Err(format!(
            "snapshot `{file_name}` has no `table_snapshot` key"
        ));
    };
    parse_snapshot(body).map_err(|reason| format!("invalid snapshot `{file_name}`: {reason}"))
}

fn parse_snapshot(body: &Node) -> Result<Snapshot, String> {
    let Some(table_name) = body.get("table_name").and_then(Node::as_str) else {
        return Err("missing `table_name`".to_owned());
    };

    let Some(definitions) = body.get("column_definitions").and_then(Node::as_sequence) else {
        return Err("missing `column_definitions`".to_owned());
    };
    let mut columns = Vec::new();
    for definition in definitions {
        let name = definition.get("name").and_then(Node::as_str);
        let type_name = definition.get("type").and_then(Node::as_str);
        let (Some(name), Some(type_name)) = (name, type_name) else {
            return Err(format!(
                "column definition at line {} needs `name` and `type`",
                definition.span.line
            ));
        };
        let Some(column_type) = ColumnType::parse(type_name) else {
            return Err(format!(
                "column `{name}` has unknown type `{type_name}`; expected STRING, INT, FLOAT, BOOLEAN or TIME"
            ));
        };
        columns.push((name.to_owned(), column_type));
    }

    let rows_node = body.get("rows");
    let rows_items = match rows_node {
        None => &[][..],
        Some(node) if node.is_null() => &[][..],
        Some(node) => node.as_sequence().ok_or("`rows` is not a list")?,
    };
    let mut rows = Vec::with_capacity(rows_items.len());
    for row in rows_items {
        let Some(cells) = row.as_sequence() else {
            return Err(format!("row at line {} is not a list", row.span.line));
        };
        if cells.len() != columns.len() {
            return Err(format!(
                "row at line {} has {} values for {} columns",
                row.span.line,
                cells.len(),
                columns.len()
            ));
        }
        let values = cells
            .iter()
            .map(|cell| {
                if cell.is_null() {
                    None
                } else {
                    cell.as_str().map(str::to_owned)
                }
            })
            .collect();
        rows.push(values);
    }

    Ok(Snapshot {
        table_name: table_name.to_owned(),
        columns,
        rows,
    })
}

/// Creates the snapshot's table in `schema` and appends its rows.
pub(crate) fn load_snapshot(
    warehouse: &DuckDb,
    schema: &str,
    snapshot: &Snapshot,
) -> Result<(), String> {
    let column_list: Vec<String> = snapshot
        .columns
        .iter()
        .map(|(name, column_type)| format!("{} {}", quote_identifier(name), column_type.sql_type()))
        .collect();
    let create = format!(
        "CREATE OR REPLACE TABLE {}.{} ({})",
        quote_identifier(schema),
        quote_identifier(&snapshot.table_name),
        column_list.join(", ")
    );
    warehouse
        .execute_batch(&create)
        .map_err(|error| error.to_string())?;

    let mut appender = warehouse
        .connection()
        .appender_to_db(&snapshot.table_name, schema)
        .map_err(|error| error.to_string())?;
    for (row_number, row) in snapshot.rows.iter().enumerate() {
        let mut values = Vec::with_capacity(row.len());
        for ((column, column_type), cell) in snapshot.columns.iter().zip(row) {
            let value = typed_value(*column_type, cell.as_deref())
                .map_err(|reason| format!("row {}, column `{column}`: {reason}", row_number + 1))?;
            values.push(value);
        }
        appender
            .append_row(duckdb::appender_params_from_iter(values))
            .map_err(|error| error.to_string())?;
    }
    appender.flush().map_err(|error| error.to_string())
}

/// Converts one cell to the DuckDB value of its column type.
fn typed_value(column_type: ColumnType, cell: Option<&str>) -> Result<DuckValue, String> {
    let Some(text) = cell else {
        return Ok(DuckValue::Null);
    };
    let value = match column_type {
        ColumnType::String => DuckValue::Text(text.to_owned()),
        ColumnType::Int => DuckValue::BigInt(
            text.trim()
                .parse()
                .map_err(|_| format!("`{text}` is not an integer"))?,
        ),
        ColumnType::Float => DuckValue::Double(
            text.trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number"))?,
        ),
        ColumnType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" => DuckValue::Boolean(true),
            "false" => DuckValue::Boolean(false),
            _ => return Err(format!("`{text}` is not a boolean")),
        },
        ColumnType::Time => {
            let moment =
                parse_time(text).ok_or_else(|| format!("`{text}` is not a date or timestamp"))?;
            DuckValue::Timestamp(TimeUnit::Microsecond, moment.and_utc().timestamp_micros())
        }
    };
    Ok(value)
}

/// Parses `2020-01-01` or `2020-01-01 00:00:02.123456789`.
///
/// NOTE: DuckDB's TIMESTAMP stores microseconds, so nanosecond digits in the
/// nanosecond time spine are truncated.
fn parse_time(text: &str) -> Option<NaiveDateTime> {
    let trimmed = text.trim();
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(moment) = NaiveDateTime::parse_from_str(trimmed, format) {
            return Some(moment);
        }
    }
    NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
}

pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::{Value, Warehouse};

    const SNAPSHOT: &str = "\
table_snapshot:
  table_name: fct_things
  column_definitions:
    - name: ds
      type: TIME
    - name: label
      type: STRING
    - name: amount
      type: FLOAT
    - name: count
      type: INT
    - name: flag
      type: BOOLEAN
  rows:
    - [\"2020-01-02\", \"a\", \"1.5\", \"3\", \"True\"]
    - [\"2020-01-03 04:05:06.123456789\", null, null, null, \"False\"]
";

    fn write_snapshot(dir: &Path, file_name: &str, text: &str) -> PathBuf {
        let path = dir.join(file_name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn snapshot_rows_load_with_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_snapshot(dir.path(), "fct_things.yaml", SNAPSHOT);
        let snapshot = read_snapshot(&path).unwrap();
        let warehouse = DuckDb::open_in_memory().unwrap();
        warehouse.execute_batch("CREATE SCHEMA model_a").unwrap();

        load_snapshot(&warehouse, "model_a", &snapshot).unwrap();
        let table = warehouse
            .query("SELECT ds, label, amount, count, flag FROM model_a.fct_things ORDER BY ds")
            .unwrap();

        let day = NaiveDate::from_ymd_opt(2020, 1, 2).unwrap();
        assert_eq!(
            table.rows[0],
            vec![
                Value::Timestamp(day.and_hms_opt(0, 0, 0).unwrap()),
                Value::Text("a".to_owned()),
                Value::Float(1.5),
                Value::Int(3),
                Value::Bool(true),
            ]
        );
        let later = NaiveDate::from_ymd_opt(2020, 1, 3)
            .unwrap()
            .and_hms_micro_opt(4, 5, 6, 123_456)
            .unwrap();
        assert_eq!(
            table.rows[1],
            vec![
                Value::Timestamp(later),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Bool(false)
            ]
        );
        let types: Vec<&str> = table
            .columns
            .iter()
            .map(|column| column.type_name.as_str())
            .collect();
        assert_eq!(types.len(), 5);
    }

    #[test]
    fn model_snapshots_include_time_spines() {
        let root = tempfile::tempdir().unwrap();
        let model_dir = root.path().join("model_a");
        let spine_dir = root.path().join(TIME_SPINE_SNAPSHOTS);
        std::fs::create_dir_all(&model_dir).unwrap();
        std::fs::create_dir_all(&spine_dir).unwrap();
        write_snapshot(&model_dir, "fct_things.yaml", SNAPSHOT);
        write_snapshot(
            &spine_dir,
            "mf_time_spine.yaml",
            "table_snapshot:\n  table_name: mf_time_spine\n  column_definitions:\n    - name: ds\n      type: TIME\n  rows:\n    - [\"2020-01-01\"]\n",
        );
        let warehouse = DuckDb::open_in_memory().unwrap();

        let tables = load_model_snapshots(&warehouse, root.path(), "model_a", "model_a").unwrap();

        assert_eq!(tables, ["fct_things", "mf_time_spine"]);
        let count = warehouse
            .query("SELECT COUNT(*) FROM model_a.mf_time_spine")
            .unwrap();
        assert_eq!(count.rows, vec![vec![Value::Int(1)]]);
    }

    #[test]
    fn bad_cell_names_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_snapshot(
            dir.path(),
            "bad.yaml",
            "table_snapshot:\n  table_name: bad\n  column_definitions:\n    - name: n\n      type: INT\n  rows:\n    - [\"1\"]\n    - [\"x\"]\n",
        );
        let snapshot = read_snapshot(&path).unwrap();
        let warehouse = DuckDb::open_in_memory().unwrap();
        warehouse.execute_batch("CREATE SCHEMA s").unwrap();

        let error = load_snapshot(&warehouse, "s", &snapshot).unwrap_err();

        assert_eq!(error, "row 2, column `n`: `x` is not an integer");
    }

    #[test]
    fn row_width_mismatch_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_snapshot(
            dir.path(),
            "short.yaml",
            "table_snapshot:\n  table_name: short\n  column_definitions:\n    - name: a\n      type: STRING\n    - name: b\n      type: STRING\n  rows:\n    - [\"1\"]\n",
        );

        let error = read_snapshot(&path).unwrap_err();

        assert!(
            error.ends_with("row at line 9 has 1 values for 2 columns"),
            "{error}"
        );
    }

    #[test]
    fn unknown_column_type_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_snapshot(
            dir.path(),
            "typed.yaml",
            "table_snapshot:\n  table_name: typed\n  column_definitions:\n    - name: a\n      type: DECIMAL\n  rows: []\n",
        );

        let error = read_snapshot(&path).unwrap_err();

        assert!(
            error.ends_with("column `a` has unknown type `DECIMAL`; expected STRING, INT, FLOAT, BOOLEAN or TIME"),
            "{error}"
        );
    }

    #[test]
    fn every_model_has_distinct_name() {
        let mut names: Vec<&str> = MODEL_FIXTURES.iter().map(|fixture| fixture.model).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MODEL_FIXTURES.len());
        assert_eq!(
            model_fixture("SIMPLE_MODEL_NON_DS").unwrap().snapshots,
            "simple_model"
        );
        assert!(model_fixture("NO_SUCH_MODEL").is_none());
    }
}
