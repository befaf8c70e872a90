//! The generator of the demo warehouse: a regional bank in Meizhou with ten
//! branches, fourteen deposit products and daily balances from 2024-01-01 to
//! 2026-11-30.
//!
//! All data is generated inside DuckDB by the SQL files next to this module.
//! Every random draw is a hash of the seed and the ids it belongs to, and
//! every insert is ordered, so the same seed and scale give the same table
//! contents. The database is written to a partial file next to the target and
//! renamed over it only once complete, so a failed run never damages an
//! existing warehouse.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use duckdb::Connection;
use indicatif::{ProgressBar, ProgressStyle};

mod parquet;

pub use parquet::{SPARK_SCRIPT, export_parquet};

/// Customers generated at scale 1. Each has one to four accounts, 1.75 on
/// average, so scale 1 gives about 4,000 accounts.
const CUSTOMERS_PER_SCALE: u64 = 2_300;

/// The largest accepted scale, about 3 billion daily rows. Benchmarks use
/// scale 50 (about 150 million rows), so a larger value is likely a typo.
const MAX_SCALE: u32 = 1_000;

/// Months from January 2024 to November 2026, the range of `biz_date`.
const MONTH_COUNT: u32 = 35;

/// Tables of the finished warehouse, in the order the summary lists them.
const TABLES: [&str; 8] = [
    "dim_date",
    "dim_branch",
    "dim_product",
    "dim_customer",
    "dim_account_manager",
    "dim_account",
    "bridge_account_manager",
    "fact_deposit_daily",
];

/// Steps that run one SQL file each, before the daily balances.
const SETUP_STEPS: [(&str, &str); 6] = [
    ("creating tables", include_str!("schema.sql")),
    (
        "branches, products and dates",
        include_str!("reference.sql"),
    ),
    ("customers", include_str!("customers.sql")),
    ("accounts", include_str!("accounts.sql")),
    ("account managers", include_str!("managers.sql")),
    ("calendar", include_str!("calendar.sql")),
];

/// Inserts the daily balances of one month, the month index being `$1`.
const DAILY_SQL: &str = include_str!("daily.sql");

/// Settings of one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// The DuckDB file to create or replace.
    pub out: PathBuf,
    /// Multiplier of the number of customers and accounts. Scale 1 gives
    /// about 4,000 accounts and 3 million daily rows.
    pub scale: u32,
    /// Seed of every random draw.
    pub seed: u64,
    /// Whether to draw progress bars on the terminal.
    pub progress: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("data/demo.duckdb"),
            scale: 1,
            seed: 42,
            progress: true,
        }
    }
}

/// Outcome of one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// The warehouse file, as given in [`DemoOptions::out`].
    pub path: PathBuf,
    /// Each table with its row count.
    pub tables: Vec<(String, u64)>,
    /// Wall-clock time of the whole generation.
    pub elapsed: Duration,
}

/// Errors from generating the demo warehouse.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("scale `{0}` is out of range; use a whole number from 1 to {max}", max = MAX_SCALE)]
    InvalidScale(u32),
    #[error("output path `{}` names a folder; give a file such as `data/demo.duckdb`", .0.display())]
    InvalidOutput(PathBuf),
    #[error("cannot create folder `{}`: {source}", path.display())]
    CreateFolder {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove `{}` left by an earlier run: {source}", path.display())]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open database `{}`: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: duckdb::Error,
    },
    #[error("demo generation failed at step `{step}`: {source}")]
    Step {
        step: &'static str,
        #[source]
        source: duckdb::Error,
    },
    #[error("cannot move the new warehouse to `{}`: {source}", path.display())]
    Replace {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Generates the demo warehouse at `options.out`, replacing any file there.
///
/// 1. Checks the scale and the output path, and creates the parent folder
///    if missing.
/// 2. Builds the whole database in `<out>.partial` next to the target.
/// 3. Renames the partial file over the target, then removes a write-ahead
///    log the old file may have left behind.
///
/// On failure the partial files are removed and an existing target is left
/// untouched.
pub fn generate(options: &DemoOptions) -> Result<DemoSummary, DemoError> {
    if options.scale == 0 || options.scale > MAX_SCALE {
        return Err(DemoError::InvalidScale(options.scale));
    }
    let Some(file_name) = options.out.file_name() else {
        return Err(DemoError::InvalidOutput(options.out.clone()));
    };
    if options.out.is_dir() {
        return Err(DemoError::InvalidOutput(options.out.clone()));
    }

    let started = Instant::now();
    tracing::info!(
        path = %options.out.display(),
        scale = options.scale,
        seed = options.seed,
        "generating demo warehouse"
    );

    let folder = match options.out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&folder).map_err(|source| DemoError::CreateFolder {
        path: folder.clone(),
        source,
    })?;

    let mut partial_name = file_name.to_os_string();
    partial_name.push(".partial");
    let partial = folder.join(partial_name);
    remove_database_files(&partial)?;

    let tables = match build(&partial, options) {
        Ok(tables) => tables,
        Err(error) => {
            // The build error matters more than a failed clean-up.
            let _ = remove_database_files(&partial);
            return Err(error);
        }
    };

    if let Err(source) = fs::rename(&partial, &options.out) {
        let _ = remove_database_files(&partial);
        return Err(DemoError::Replace {
            path: options.out.clone(),
            source,
        });
    }
    // A log left by the replaced file would be replayed onto the new one.
    remove_file_if_present(&wal_path(&options.out))?;

    let elapsed = started.elapsed();
    tracing::info!(
        path = %options.out.display(),
        elapsed_ms = elapsed.as_millis() as u64,
        "demo warehouse ready"
    );
    Ok(DemoSummary {
        path: options.out.clone(),
        tables,
        elapsed,
    })
}

/// Writes the whole warehouse into `path` and returns the row count of each table.
fn build(path: &Path, options: &DemoOptions) -> Result<Vec<(String, u64)>, DemoError> {
    let connection = Connection::open(path).map_err(|source| DemoError::Open {
        path: path.to_path_buf(),
        source,
    })?;

    let customer_count = CUSTOMERS_PER_SCALE * u64::from(options.scale);
    let variables = format!(
        "SET VARIABLE demo_seed = CAST({seed} AS UBIGINT);\n\
         SET VARIABLE demo_customer_count = CAST({customer_count} AS BIGINT);",
        seed = options.seed,
    );
    connection
        .execute_batch(&variables)
        .map_err(|source| DemoError::Step {
            step: "settings",
            source,
        })?;
    for (step, sql) in SETUP_STEPS {
        run_step(&connection, step, sql, options.progress)?;
    }
    insert_daily_balances(&connection, options.progress)?;

    let tables = count_rows(&connection)?;

    let bar = start_spinner("writing to disk", options.progress);
    connection
        .execute_batch("CHECKPOINT;")
        .map_err(|source| DemoError::Step {
            step: "writing to disk",
            source,
        })?;
    connection.close().map_err(|(_, source)| DemoError::Step {
        step: "writing to disk",
        source,
    })?;
    finish(&bar, "writing to disk");

    Ok(tables)
}

/// Runs one SQL batch under a spinner named `step`.
fn run_step(
    connection: &Connection,
    step: &'static str,
    sql: &str,
    progress: bool,
) -> Result<(), DemoError> {
    let bar = start_spinner(step, progress);
    connection
        .execute_batch(sql)
        .map_err(|source| DemoError::Step { step, source })?;
    finish(&bar, step);
    Ok(())
}

/// Inserts the daily balances month by month, so that each insert sorts one
/// month and the bar advances as they complete.
fn insert_daily_balances(connection: &Connection, progress: bool) -> Result<(), DemoError> {
    const STEP: &str = "daily balances";

    let bar = if progress {
        ProgressBar::new(u64::from(MONTH_COUNT))
    } else {
        ProgressBar::hidden()
    };
    let style =
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} months ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(STEP);
    bar.enable_steady_tick(Duration::from_millis(120));

    let mut statement = connection
        .prepare(DAILY_SQL)
        .map_err(|source| DemoError::Step { step: STEP, source })?;
    for month_index in 0..MONTH_COUNT {
        statement
            .execute([month_index])
            .map_err(|source| DemoError::Step { step: STEP, source })?;
        bar.inc(1);
    }
    finish(&bar, STEP);
    Ok(())
}

fn count_rows(connection: &Connection) -> Result<Vec<(String, u64)>, DemoError> {
    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let count: i64 = connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .map_err(|source| DemoError::Step {
                step: "counting rows",
                source,
            })?;
        tables.push((table.to_owned(), count.unsigned_abs()));
    }
    Ok(tables)
}

fn start_spinner(step: &str, progress: bool) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }

    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressBar::new_spinner().with_style(style);
    bar.set_message(step.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn finish(bar: &ProgressBar, step: &str) {
    bar.set_style(
        ProgressStyle::with_template("✓ {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.finish_with_message(step.to_owned());
}

/// The write-ahead log DuckDB keeps next to a database file.
fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_os_string();
    name.push(".wal");
    PathBuf::from(name)
}

/// Removes a database file and its write-ahead log, if present.
fn remove_database_files(database: &Path) -> Result<(), DemoError> {
    remove_file_if_present(database)?;
    remove_file_if_present(&wal_path(database))
}

fn remove_file_if_present(path: &Path) -> Result<(), DemoError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DemoError::RemoveStale {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_path_appends_suffix() {
        assert_eq!(
            wal_path(Path::new("data/demo.duckdb")),
            PathBuf::from("data/demo.duckdb.wal")
        );
    }

    #[test]
    fn scale_zero_is_rejected() {
        let options = DemoOptions {
            scale: 0,
            ..DemoOptions::default()
        };

        let error = generate(&options).unwrap_err();

        assert_eq!(
            error.to_string(),
            "scale `0` is out of range; use a whole number from 1 to 1000"
        );
    }

    #[test]
    fn directory_output_is_rejected() {
        let options = DemoOptions {
            out: PathBuf::from(".."),
            ..DemoOptions::default()
        };

        let error = generate(&options).unwrap_err();

        assert!(matches!(error, DemoError::InvalidOutput(_)), "{error}");
    }

    #[test]
    fn remove_missing_file_succeeds() {
        let missing = Path::new("no/such/folder/demo.duckdb");

        assert!(remove_file_if_present(missing).is_ok());
    }
}
