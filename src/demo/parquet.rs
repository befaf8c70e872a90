//! The demo warehouse as Parquet files, for engines that read Parquet
//! (Spark, Trino, another DuckDB), with a script that registers them as
//! Spark SQL tables.

use std::fs;
use std::path::{Path, PathBuf};

use duckdb::Connection;

use super::{DemoError, TABLES};

/// The file beside the Parquet files that registers them in Spark SQL.
pub const SPARK_SCRIPT: &str = "register_spark.sql";

/// Writes each table of the warehouse at `warehouse` to
/// `<folder>/<table>/data.parquet`, a folder per table as Spark's `LOCATION`
/// expects, and a Spark SQL script that registers them. Returns the paths
/// written.
///
/// Each table's folder is written under a `.partial` name and renamed when
/// complete, so a failed export leaves no half-written table.
pub fn export_parquet(warehouse: &Path, folder: &Path) -> Result<Vec<PathBuf>, DemoError> {
    fs::create_dir_all(folder).map_err(|source| DemoError::CreateFolder {
        path: folder.to_path_buf(),
        source,
    })?;
    let folder = fs::canonicalize(folder).map_err(|source| DemoError::CreateFolder {
        path: folder.to_path_buf(),
        source,
    })?;
    let connection = Connection::open(warehouse).map_err(|source| DemoError::Open {
        path: warehouse.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let mut script = String::from(
        "-- Registers the Wenshu demo warehouse's Parquet files as Spark SQL tables.\n\
         -- Run with: spark-sql -f register_spark.sql (or paste into any Spark SQL session).\n",
    );
    for table in TABLES {
        let target = folder.join(table);
        let partial = folder.join(format!("{table}.partial"));
        for stale in [&partial, &target] {
            if stale.exists() {
                fs::remove_dir_all(stale).map_err(|source| DemoError::RemoveStale {
                    path: stale.clone(),
                    source,
                })?;
            }
        }
        fs::create_dir_all(&partial).map_err(|source| DemoError::CreateFolder {
            path: partial.clone(),
            source,
        })?;
        let copy = format!(
            "COPY {table} TO '{}' (FORMAT parquet, COMPRESSION zstd)",
            sql_string(&partial.join("data.parquet"))
        );
        connection
            .execute_batch(&copy)
            .map_err(|source| DemoError::Step {
                step: "export parquet",
                source,
            })?;
        fs::rename(&partial, &target).map_err(|source| DemoError::Replace {
            path: target.clone(),
            source,
        })?;
        script.push_str(&format!(
            "DROP TABLE IF EXISTS {table};\nCREATE TABLE {table} USING parquet LOCATION '{}';\n",
            sql_string(&target)
        ));
        written.push(target);
    }
    let script_path = folder.join(SPARK_SCRIPT);
    fs::write(&script_path, script).map_err(|source| DemoError::Replace {
        path: script_path.clone(),
        source,
    })?;
    written.push(script_path);
    Ok(written)
}

/// Escapes a path for the body of a single-quoted SQL string.
fn sql_string(path: &Path) -> String {
    path.display().to_string().replace('\'', "''")
}
