//! The conformance runner: MetricFlow's declarative integration cases run
//! through Wenshu's compiler on DuckDB.
//!
//! For each case the runner:
//!
//! 1. finds the case's model, its manifest folder and its snapshot folder
//!    (`fixtures::MODEL_FIXTURES`);
//! 2. skips the case when it uses a feature out of scope (`scope`);
//! 3. loads the model's snapshots and time spines into a DuckDB schema named
//!    after the snapshot folder, once per run;
//! 4. renders `where_filter` and `check_query` with the fixture helpers
//!    (`templates`), compiles the metric query and runs both queries;
//! 5. compares the two results (`compare`).
//!
//! With a Spark Connect server given, each loaded schema is also copied to
//! Parquet files and registered as Spark tables. The compiled query (in
//! Spark SQL) then runs on Spark, while `check_query` still runs on DuckDB,
//! so the expected rows come from the same engine on every run.
//!
//! A problem with one case (a bad fixture, a compile error, an SQL error)
//! fails that case. Only problems that stop the whole run are errors.

mod cases;
mod compare;
mod fixtures;
mod manifest;
mod scope;
mod templates;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use minijinja::Environment;

use crate::compiler::{self, CompileOptions, MetricQuery, OrderBy};
use crate::semantic::{self, SemanticLayer};
use crate::warehouse::{DuckDb, Engine, Spark, SparkSettings, Warehouse, WarehouseError};

use cases::Case;
use fixtures::ModelFixture;
use manifest::ManifestIndex;

/// The day-grain time spine's table when a manifest does not name one.
const DEFAULT_TIME_SPINE_TABLE: &str = "mf_time_spine";

/// Settings of a conformance run.
#[derive(Debug, Clone)]
pub struct ConformanceOptions {
    /// The fixture root: the folder containing `metricflow_semantics/` and
    /// `tests_metricflow/`.
    pub root: PathBuf,
    /// The case folder; `tests_metricflow/integration/test_cases` under
    /// `root` when not given.
    pub cases_dir: Option<PathBuf>,
    /// Runs only the cases whose name contains this text.
    pub name_filter: Option<String>,
    /// Runs the compiled queries on this Spark Connect server
    /// (`sc://HOST:PORT`), which must read files on this machine.
    pub spark: Option<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConformanceReport {
    pub passed: usize,
    /// Case name and the reason it failed.
    pub failed: Vec<(String, String)>,
    /// Case name and the out-of-scope feature it uses.
    pub skipped: Vec<(String, String)>,
}

impl ConformanceReport {
    /// Skipped cases counted by feature, most frequent first.
    pub fn skipped_by_feature(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, feature) in &self.skipped {
            *counts.entry(feature.as_str()).or_default() += 1;
        }
        let mut sorted: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(feature, count)| (feature.to_owned(), count))
            .collect();
        sorted.sort_by(|left, right| right.1.cmp(&left.1).then_with(|| left.0.cmp(&right.0)));
        sorted
    }
}

/// Problems that stop the whole run.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error(
        "conformance fixtures not found at `{0}`; pass the folder that holds `metricflow_semantics` and `tests_metricflow`"
    )]
    MissingRoot(PathBuf),
    #[error("cannot list the case folder `{path}`: {source}")]
    CaseFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the warehouse: {0}")]
    Warehouse(#[from] WarehouseError),
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs every case and compares the compiler's results with the expected rows.
///
/// Writes `FAIL <case>: <why>` and `SKIP <case>: <feature>` lines to `out` as
/// cases finish, then `N passed, M failed` and the skipped counts.
pub fn run(
    options: &ConformanceOptions,
    out: &mut dyn Write,
) -> Result<ConformanceReport, ConformanceError> {
    run_cases(options, out, Mode::Compare)
}

/// Checks the fixtures and the harness without the compiler: renders every
/// in-scope case's templates and runs its `check_query` on the loaded data.
///
/// A case counts as passed when its expected query renders and runs.
pub fn check_expected_queries(
    options: &ConformanceOptions,
    out: &mut dyn Write,
) -> Result<ConformanceReport, ConformanceError> {
    run_cases(options, out, Mode::ExpectedOnly)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Compare,
    ExpectedOnly,
}

fn run_cases(
    options: &ConformanceOptions,
    out: &mut dyn Write,
    mode: Mode,
) -> Result<ConformanceReport, ConformanceError> {
    let root = &options.root;
    if !root.join(fixtures::MANIFESTS_DIR).is_dir() || !root.join(fixtures::SNAPSHOTS_DIR).is_dir()
    {
        return Err(ConformanceError::MissingRoot(root.clone()));
    }
    let cases_dir = options
        .cases_dir
        .clone()
        .unwrap_or_else(|| root.join(fixtures::CASES_DIR));
    let files = cases::case_files(&cases_dir).map_err(|source| ConformanceError::CaseFolder {
        path: cases_dir.clone(),
        source,
    })?;

    let spark = match &options.spark {
        Some(remote) => Some(SparkCopy::connect(remote)?),
        None => None,
    };
    let mut runner = Runner {
        root,
        warehouse: DuckDb::open_in_memory()?,
        spark,
        manifests: HashMap::new(),
        schemas: HashMap::new(),
        mode,
    };
    let mut report = ConformanceReport::default();
    for file in &files {
        for parsed in cases::read_case_file(file) {
            let name = match &parsed {
                Ok(case) => case.name.clone(),
                Err(bad_case) => bad_case.label.clone(),
            };
            let selected = options
                .name_filter
                .as_deref()
                .is_none_or(|filter| name.contains(filter));
            if !selected {
                continue;
            }

            let outcome = match parsed {
                Ok(case) => runner.run_case(&case),
                Err(bad_case) => Outcome::Failed(bad_case.reason),
            };
            record(&mut report, out, name, outcome)?;
        }
    }

    write_summary(&report, out)?;
    Ok(report)
}

fn record(
    report: &mut ConformanceReport,
    out: &mut dyn Write,
    name: String,
    outcome: Outcome,
) -> std::io::Result<()> {
    match outcome {
        Outcome::Passed => report.passed += 1,
        Outcome::Failed(reason) => {
            writeln!(out, "FAIL {name}: {reason}")?;
            report.failed.push((name, reason));
        }
        Outcome::Skipped(feature) => {
            writeln!(out, "SKIP {name}: {feature}")?;
            report.skipped.push((name, feature.to_owned()));
        }
    }
    Ok(())
}

fn write_summary(report: &ConformanceReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} passed, {} failed",
        report.passed,
        report.failed.len()
    )?;
    let counts: Vec<String> = report
        .skipped_by_feature()
        .into_iter()
        .map(|(feature, count)| format!("{feature}: {count}"))
        .collect();
    if counts.is_empty() {
        writeln!(out, "0 skipped")
    } else {
        writeln!(
            out,
            "{} skipped ({})",
            report.skipped.len(),
            counts.join(", ")
        )
    }
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(&'static str),
}

/// A manifest read both ways: the raw index for scope decisions and the
/// semantic layer for the compiler.
struct LoadedManifest {
    index: ManifestIndex,
    /// The loader's diagnostics, on one line, when the folder does not load.
    layer: Result<SemanticLayer, String>,
}

/// State shared by the cases of one run.
struct Runner<'a> {
    root: &'a Path,
    warehouse: DuckDb,
    /// Spark, where the compiled queries run when given.
    spark: Option<SparkCopy>,
    /// Manifests by folder name, read once per run.
    manifests: HashMap<&'static str, Result<LoadedManifest, String>>,
    /// Snapshot load results by schema (the snapshot folder's name).
    schemas: HashMap<&'static str, Result<(), String>>,
    mode: Mode,
}

impl Runner<'_> {
    fn run_case(&mut self, case: &Case) -> Outcome {
        let Some(fixture) = fixtures::model_fixture(&case.model) else {
            let known: Vec<&str> = fixtures::MODEL_FIXTURES
                .iter()
                .map(|fixture| fixture.model)
                .collect();
            return Outcome::Failed(format!(
                "unknown model `{}`; known models: {}",
                case.model,
                known.join(", ")
            ));
        };
        let root = self.root;
        let loaded = self.manifests.entry(fixture.manifest).or_insert_with(|| {
            load_manifest(&root.join(fixtures::MANIFESTS_DIR).join(fixture.manifest))
        });
        let manifest = match loaded {
            Ok(manifest) => &*manifest,
            Err(reason) => return Outcome::Failed(reason.clone()),
        };
        if let Some(feature) = scope::out_of_scope_feature(case, &manifest.index) {
            return Outcome::Skipped(feature.name());
        }

        if let Err(reason) = ensure_schema(
            &mut self.schemas,
            &self.warehouse,
            self.spark.as_ref(),
            root,
            fixture,
        ) {
            return Outcome::Failed(reason);
        }
        let time_spine_table = manifest
            .index
            .day_time_spine_table
            .as_deref()
            .unwrap_or(DEFAULT_TIME_SPINE_TABLE);
        let environment = templates::environment(fixture.snapshots, time_spine_table);
        let evaluation = Evaluation {
            warehouse: &self.warehouse,
            spark: self.spark.as_ref().map(|copy| &copy.spark),
            mode: self.mode,
            fixture,
            environment: &environment,
            layer: manifest.layer.as_ref(),
        };
        match evaluation.evaluate(case) {
            Ok(()) => Outcome::Passed,
            Err(reason) => Outcome::Failed(reason),
        }
    }
}

/// Loads the model's snapshots into its schema unless an earlier case did,
/// and returns the (remembered) result of that load.
fn ensure_schema(
    schemas: &mut HashMap<&'static str, Result<(), String>>,
    warehouse: &DuckDb,
    spark: Option<&SparkCopy>,
    root: &Path,
    fixture: ModelFixture,
) -> Result<(), String> {
    let schema = fixture.snapshots;
    schemas
        .entry(schema)
        .or_insert_with(|| {
            let snapshots_root = root.join(fixtures::SNAPSHOTS_DIR);
            let mut loaded =
                fixtures::load_model_snapshots(warehouse, &snapshots_root, schema, schema);
            if let (Ok(tables), Some(spark)) = (&loaded, spark)
                && let Err(error) = spark.copy_schema(warehouse, schema, tables)
            {
                loaded = Err(format!("cannot copy to Spark: {error}"));
            }
            match &loaded {
                Ok(tables) => tracing::info!(schema, tables = tables.len(), "loaded snapshots"),
                Err(error) => tracing::warn!(schema, %error, "cannot load snapshots"),
            }
            loaded.map(|_| ())
        })
        .clone()
        .map_err(|reason| format!("snapshots of `{schema}` did not load: {reason}"))
}

/// The database, templates and semantic layer an in-scope case runs with.
struct Evaluation<'a> {
    warehouse: &'a DuckDb,
    spark: Option<&'a Spark>,
    mode: Mode,
    fixture: ModelFixture,
    environment: &'a Environment<'static>,
    layer: Result<&'a SemanticLayer, &'a String>,
}

impl Evaluation<'_> {
    /// Renders, compiles, runs and compares one case.
    fn evaluate(&self, case: &Case) -> Result<(), String> {
        let where_filter = match &case.where_filter {
            Some(template) => Some(
                templates::render(self.environment, template)
                    .map_err(|error| format!("cannot render where_filter: {error}"))?,
            ),
            None => None,
        };
        let check_query = templates::render(self.environment, &case.check_query)
            .map_err(|error| format!("cannot render check_query: {error}"))?;
        let query = metric_query(case, where_filter)?;

        if self.mode == Mode::ExpectedOnly {
            self.warehouse
                .query(&check_query)
                .map_err(|error| format!("check_query failed: {error}"))?;
            return Ok(());
        }

        let layer = self.layer.map_err(|reason| reason.to_owned())?;
        // MetricFlow has no reference date, so ranges are never cut back to one.
        let compile_options = CompileOptions {
            source_schema: Some(self.fixture.snapshots.to_owned()),
            widen_to_buckets: true,
            ..CompileOptions::default()
        };
        let runs_on: &dyn Warehouse = match self.spark {
            Some(spark) => spark,
            None => self.warehouse,
        };
        let compiled =
            compiler::compile_with(layer, &query, &compile_options, runs_on.engine().dialect())
                .map_err(|error| format!("compile error: {error}"))?;
        tracing::debug!(case = %case.name, sql = %compiled.sql, "compiled conformance case");

        let actual = runs_on
            .query(&compiled.sql)
            .map_err(|error| format!("compiled SQL failed: {error}"))?;
        let expected = self
            .warehouse
            .query(&check_query)
            .map_err(|error| format!("check_query failed: {error}"))?;
        compare::compare_tables(&expected, &actual, case.check_order)
    }
}

/// A Spark Connect server and the folder of Parquet copies it reads the
/// fixtures from; the folder is removed with it.
struct SparkCopy {
    spark: Spark,
    folder: PathBuf,
}

impl SparkCopy {
    fn connect(remote: &str) -> Result<SparkCopy, ConformanceError> {
        let spark = Spark::connect(remote, &SparkSettings::default())?;
        debug_assert_eq!(spark.engine(), Engine::Spark);
        let folder = std::env::temp_dir().join(format!(
            "wenshu-conformance-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        Ok(SparkCopy { spark, folder })
    }

    /// Writes each table of `schema` to Parquet and registers it on Spark
    /// under the same schema and name.
    fn copy_schema(
        &self,
        warehouse: &DuckDb,
        schema: &str,
        tables: &[String],
    ) -> Result<(), String> {
        let dialect = Engine::Spark.dialect();
        let mut script = format!("CREATE DATABASE IF NOT EXISTS {};\n", dialect.quote(schema));
        for table in tables {
            let location = self.folder.join(schema).join(table);
            std::fs::create_dir_all(&location)
                .map_err(|error| format!("cannot create `{}`: {error}", location.display()))?;
            let file = location.join("data.parquet");
            warehouse
                .execute_batch(&format!(
                    "COPY {}.{} TO '{}' (FORMAT parquet)",
                    fixtures::quote_identifier(schema),
                    fixtures::quote_identifier(table),
                    file.display().to_string().replace('\'', "''")
                ))
                .map_err(|error| error.to_string())?;
            let name = format!("{}.{}", dialect.quote(schema), dialect.quote(table));
            script.push_str(&format!(
                "DROP TABLE IF EXISTS {name};\nCREATE TABLE {name} USING parquet LOCATION '{}';\n",
                location.display().to_string().replace('\'', "\\'")
            ));
        }
        self.spark
            .execute_script(&script)
            .map_err(|error| error.to_string())
    }
}

impl Drop for SparkCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn load_manifest(dir: &Path) -> Result<LoadedManifest, String> {
    let index = ManifestIndex::read_dir(dir)?;
    let layer = semantic::load_dir(dir).map_err(|diagnostics| {
        let messages: Vec<String> = diagnostics.0.iter().map(ToString::to_string).collect();
        let summary = if messages.is_empty() {
            "no diagnostics given".to_owned()
        } else {
            messages.join("; ")
        };
        format!("manifest `{}` did not load: {summary}", dir.display())
    });
    Ok(LoadedManifest { index, layer })
}

/// Builds the compiler's query from a case; `where_filter` is already rendered.
fn metric_query(case: &Case, where_filter: Option<String>) -> Result<MetricQuery, String> {
    let mut group_by = case.group_bys.clone();
    for object in &case.group_by_objects {
        if let Some(date_part) = &object.date_part {
            return Err(format!(
                "group-by `{}` asks for date part `{date_part}`, which a metric query cannot express",
                object.name
            ));
        }
        group_by.push(match &object.grain {
            Some(grain) => format!("{}__{grain}", object.name),
            None => object.name.clone(),
        });
    }

    let (start, end) = match &case.time_constraint {
        Some((start, end)) => (Some(parse_day(start)?), Some(parse_day(end)?)),
        None => (None, None),
    };

    Ok(MetricQuery {
        metrics: case.metrics.clone(),
        group_by,
        where_filters: where_filter
            .map(|filter| filter.trim().to_owned())
            .into_iter()
            .collect(),
        start,
        end,
        order_by: case
            .order_bys
            .iter()
            .map(|item| OrderBy::parse(item))
            .collect(),
        limit: case.limit,
    })
}

/// Parses a `time_constraint` bound: a date, or a timestamp at midnight.
fn parse_day(text: &str) -> Result<NaiveDate, String> {
    let bound = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(bound, "%Y-%m-%d") {
        return Ok(date);
    }
    match NaiveDateTime::parse_from_str(bound, "%Y-%m-%d %H:%M:%S%.f") {
        Ok(moment) if moment.time() == chrono::NaiveTime::MIN => Ok(moment.date()),
        Ok(_) => Err(format!(
            "time_constraint bound `{bound}` has a time of day; only whole days are supported"
        )),
        Err(_) => Err(format!(
            "invalid time_constraint bound `{bound}`; expected YYYY-MM-DD"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_query_from_case() {
        let case = Case {
            name: "c".to_owned(),
            model: "SIMPLE_MODEL".to_owned(),
            metrics: vec!["bookings".to_owned()],
            group_bys: vec!["booking__is_instant".to_owned()],
            group_by_objects: vec![cases::GroupByObject {
                name: "metric_time".to_owned(),
                grain: Some("month".to_owned()),
                date_part: None,
            }],
            order_bys: vec!["-metric_time__month".to_owned()],
            limit: Some(5),
            time_constraint: Some(("2020-01-01".to_owned(), "2020-01-31 00:00:00".to_owned())),
            apply_group_by: true,
            check_query: "SELECT 1".to_owned(),
            ..Case::default()
        };

        let query = metric_query(
            &case,
            Some("{{ Dimension('booking__is_instant') }}\n".to_owned()),
        )
        .unwrap();

        assert_eq!(
            query.group_by,
            ["booking__is_instant", "metric_time__month"]
        );
        assert_eq!(
            query.where_filters,
            ["{{ Dimension('booking__is_instant') }}"]
        );
        assert_eq!(query.start, NaiveDate::from_ymd_opt(2020, 1, 1));
        assert_eq!(query.end, NaiveDate::from_ymd_opt(2020, 1, 31));
        assert_eq!(query.order_by, [OrderBy::parse("-metric_time__month")]);
        assert_eq!(query.limit, Some(5));
    }

    #[test]
    fn time_of_day_bound_rejected() {
        let error = parse_day("2020-01-01 02:00:00").unwrap_err();
        assert_eq!(
            error,
            "time_constraint bound `2020-01-01 02:00:00` has a time of day; only whole days are supported"
        );
    }

    #[test]
    fn summary_counts_skips_by_feature() {
        let report = ConformanceReport {
            passed: 2,
            failed: vec![("a".to_owned(), "why".to_owned())],
            skipped: vec![
                ("b".to_owned(), "date parts".to_owned()),
                ("c".to_owned(), "sub-daily grains".to_owned()),
                ("d".to_owned(), "sub-daily grains".to_owned()),
            ],
        };
        let mut out = Vec::new();

        write_summary(&report, &mut out).unwrap();

        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2 passed, 1 failed\n3 skipped (sub-daily grains: 2, date parts: 1)\n"
        );
    }
}
