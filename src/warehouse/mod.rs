//! The warehouse: a DuckDB database that compiled SQL runs on.
//!
//! Results come back as a [`Table`] of plain [`Value`]s so that callers (the
//! CLI, the conformance runner, the chat API) never touch DuckDB's types.

mod value;

use std::path::Path;

use duckdb::{AccessMode, Config, Connection};

pub use value::Value;

/// Errors from opening the warehouse or running a statement on it.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot open warehouse `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: duckdb::Error,
    },
    #[error("warehouse `{0}` does not exist; run `wenshu demo` to generate the demo warehouse")]
    Missing(String),
    #[error("query failed: {source}")]
    Query {
        #[source]
        source: duckdb::Error,
    },
}

pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// One result column: its name and DuckDB's name for its type.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Column {
    pub name: String,
    pub type_name: String,
}

/// A query result held in memory.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// Returns the index of the column named `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }
}

/// A DuckDB connection to the warehouse.
pub struct Warehouse {
    connection: Connection,
}

impl Warehouse {
    /// Opens an existing warehouse file read-only.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(WarehouseError::Missing(path.display().to_string()));
        }

        let open_error = |source| WarehouseError::Open {
            path: path.display().to_string(),
            source,
        };
        let config = Config::default()
            .access_mode(AccessMode::ReadOnly)
            .map_err(open_error)?;
        let connection = Connection::open_with_flags(path, config).map_err(open_error)?;
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

    /// Runs one query and collects its rows.
    pub fn query(&self, sql: &str) -> Result<Table> {
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
}
