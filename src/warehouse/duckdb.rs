//! The embedded engine: a DuckDB file opened read-only and locked down.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use duckdb::{AccessMode, Config, Connection};

use super::{Column, Engine, Result, Table, Value, Warehouse, WarehouseError};

/// Resource limits of a read-only warehouse connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarehouseLimits {
    /// DuckDB's worker threads; DuckDB's default (one per core) when None.
    pub threads: Option<u32>,
    /// DuckDB's memory limit, such as `2GB`; DuckDB's default (80 % of RAM)
    /// when None.
    pub memory_limit: Option<String>,
}

/// A DuckDB connection to the warehouse.
pub struct DuckDb {
    connection: Connection,
}

impl DuckDb {
    /// Opens an existing warehouse file read-only with DuckDB's default
    /// limits; see [`DuckDb::open_read_only_with`].
    pub fn open_read_only(path: &Path) -> Result<Self> {
        Self::open_read_only_with(path, &WarehouseLimits::default())
    }

    /// Opens an existing warehouse file read-only and locks it down before
    /// any query runs: no access to other files or the network (so no
    /// `read_csv`, `ATTACH` or `COPY`), no extension installed or loaded on
    /// demand, and the configuration locked so that no statement can undo
    /// either.
    pub fn open_read_only_with(path: &Path, limits: &WarehouseLimits) -> Result<Self> {
        if !path.exists() {
            return Err(WarehouseError::Missing(path.display().to_string()));
        }

        let open_error = |source| WarehouseError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut config = Config::default()
            .access_mode(AccessMode::ReadOnly)
            .and_then(|config| config.enable_external_access(false))
            .and_then(|config| config.enable_autoload_extension(false))
            .and_then(|config| config.with("autoinstall_known_extensions", "false"))
            .map_err(open_error)?;
        if let Some(threads) = limits.threads {
            config = config.threads(i64::from(threads)).map_err(open_error)?;
        }
        if let Some(memory) = &limits.memory_limit {
            config = config.max_memory(memory).map_err(open_error)?;
        }
        let connection = Connection::open_with_flags(path, config).map_err(open_error)?;
        connection
            .execute_batch("SET lock_configuration = true")
            .map_err(open_error)?;
        Ok(Self { connection })
    }

    /// Opens (or creates) a warehouse file for writing, as the demo generator does.
    pub fn open_read_write(path: &Path) -> Result<Self> {
        let connection = Connection::open(path).map_err(|source| WarehouseError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self { connection })
    }

    /// Opens an empty in-memory database, used by tests and the conformance runner.
    pub fn open_in_memory() -> Result<Self> {
        let connection = Connection::open_in_memory().map_err(|source| WarehouseError::Open {
            path: ":memory:".to_owned(),
            source,
        })?;
        Ok(Self { connection })
    }

    /// Opens another connection to the same database: it shares the data,
    /// the read-only mode and the locked configuration, and runs its own
    /// statements alongside this one's.
    pub fn try_clone(&self) -> Result<Self> {
        let connection = self
            .connection
            .try_clone()
            .map_err(|source| WarehouseError::Query { source })?;
        Ok(Self { connection })
    }

    /// The underlying connection, for code that loads data.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Runs statements that return no rows (DDL and loads).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.connection
            .execute_batch(sql)
            .map_err(|source| WarehouseError::Query { source })
    }
}

impl Warehouse for DuckDb {
    fn engine(&self) -> Engine {
        Engine::DuckDb
    }

    /// Runs one query like [`Warehouse::query`], interrupting it once it has
    /// run for `limit`.
    ///
    /// A watchdog thread waits for the query to finish or the limit to pass,
    /// whichever is first; an interrupted query returns
    /// [`WarehouseError::Timeout`].
    fn query_with_limit(&self, sql: &str, limit: Duration) -> Result<Table> {
        let interrupt = self.connection.interrupt_handle();
        let fired = Arc::new(AtomicBool::new(false));
        let (finished, wait) = mpsc::channel::<()>();
        let watchdog_fired = Arc::clone(&fired);
        let watchdog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                watchdog_fired.store(true, Ordering::SeqCst);
                interrupt.interrupt();
            }
        });

        let result = self.query(sql);
        drop(finished);
        let _ = watchdog.join();
        match result {
            Err(_) if fired.load(Ordering::SeqCst) => Err(WarehouseError::Timeout { limit }),
            other => other,
        }
    }

    /// Runs one query and collects its rows.
    fn query(&self, sql: &str) -> Result<Table> {
        let query_error = |source| WarehouseError::Query { source };
        let mut statement = self.connection.prepare(sql).map_err(query_error)?;
        let mut result_rows = statement.query([]).map_err(query_error)?;

        let width = result_rows
            .as_ref()
            .map_or(0, |executed| executed.column_count());
        let mut rows = Vec::new();
        while let Some(row) = result_rows.next().map_err(query_error)? {
            let mut values = Vec::with_capacity(width);
            for index in 0..width {
                let value = row.get_ref(index).map_err(query_error)?;
                values.push(Value::from_duckdb(value));
            }
            rows.push(values);
        }
        drop(result_rows);

        let names = statement.column_names();
        let columns = names
            .into_iter()
            .enumerate()
            .map(|(index, name)| Column {
                type_name: format!("{:?}", statement.column_type(index)),
                name,
            })
            .collect();
        Ok(Table { columns, rows })
    }

    fn try_clone(&self) -> Result<Box<dyn Warehouse>> {
        Ok(Box::new(DuckDb::try_clone(self)?))
    }

    fn table_columns(&self, tables: &[String]) -> Result<Vec<(String, String, String)>> {
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = tables
            .iter()
            .map(|table| format!("'{}'", table.replace('\'', "''")))
            .collect();
        let table = self.query(&format!(
            "SELECT table_name, column_name, data_type FROM information_schema.columns \
             WHERE table_name IN ({}) ORDER BY table_name, ordinal_position",
            names.join(", ")
        ))?;
        Ok(table
            .rows
            .iter()
            .map(|row| {
                let text =
                    |index: usize| row.get(index).map(ToString::to_string).unwrap_or_default();
                (text(0), text(1), text(2))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_file() -> tempfile::TempDir {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let writer = DuckDb::open_read_write(&folder.path().join("w.duckdb")).unwrap();
        writer
            .execute_batch("CREATE TABLE t AS SELECT range AS n FROM range(10)")
            .unwrap();
        folder
    }

    #[test]
    fn read_only_warehouse_refuses_writes_files_and_settings() {
        let folder = demo_file();
        let secret = folder.path().join("secret.csv");
        std::fs::write(&secret, "a\nsecret\n").unwrap();
        let warehouse = DuckDb::open_read_only(&folder.path().join("w.duckdb")).unwrap();

        for sql in [
            "DELETE FROM t".to_owned(),
            "CREATE TABLE u (x INT)".to_owned(),
            format!("SELECT * FROM read_csv('{}')", secret.display()),
            format!("COPY t TO '{}'", folder.path().join("out.csv").display()),
            format!(
                "ATTACH '{}' AS other",
                folder.path().join("other.duckdb").display()
            ),
            "SET enable_external_access = true".to_owned(),
            "SET lock_configuration = false".to_owned(),
            "INSTALL httpfs".to_owned(),
        ] {
            let result = warehouse.execute_batch(&sql);
            assert!(result.is_err(), "`{sql}` ran");
        }
        assert!(!folder.path().join("out.csv").exists());
        assert!(!folder.path().join("other.duckdb").exists());
        let rows = warehouse.query("SELECT count(*) FROM t").unwrap().rows;
        assert_eq!(rows, vec![vec![Value::Int(10)]]);
    }

    #[test]
    fn limits_are_applied() {
        let folder = demo_file();
        let limits = WarehouseLimits {
            threads: Some(1),
            memory_limit: Some("256MB".to_owned()),
        };
        let warehouse =
            DuckDb::open_read_only_with(&folder.path().join("w.duckdb"), &limits).unwrap();

        let threads = warehouse
            .query("SELECT current_setting('threads')")
            .unwrap()
            .rows;
        assert_eq!(threads[0][0].to_string(), "1");
    }

    #[test]
    fn cloned_connection_stays_locked_down() {
        let folder = demo_file();
        let warehouse = DuckDb::open_read_only(&folder.path().join("w.duckdb")).unwrap();

        let clone = warehouse.try_clone().unwrap();

        assert!(clone.execute_batch("DELETE FROM t").is_err());
        assert!(
            clone
                .execute_batch("SET enable_external_access = true")
                .is_err()
        );
        let rows = clone.query("SELECT count(*) FROM t").unwrap().rows;
        assert_eq!(rows, vec![vec![Value::Int(10)]]);
    }

    #[test]
    fn slow_query_is_interrupted() {
        let folder = demo_file();
        let warehouse = DuckDb::open_read_only(&folder.path().join("w.duckdb")).unwrap();
        let slow = "SELECT count(*) FROM range(100000000000) AS a(x) WHERE x % 7 = 3";

        let started = std::time::Instant::now();
        let result = warehouse.query_with_limit(slow, Duration::from_millis(200));

        assert!(
            matches!(result, Err(WarehouseError::Timeout { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        let fast = warehouse
            .query_with_limit("SELECT 1", Duration::from_secs(5))
            .unwrap();
        assert_eq!(fast.rows, vec![vec![Value::Int(1)]]);
    }
}
