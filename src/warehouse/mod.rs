//! The warehouse that compiled SQL runs on, behind one interface with two
//! engines: embedded DuckDB (the default) and Apache Spark reached through
//! Spark Connect.
//!
//! Results come back as a [`Table`] of plain [`Value`]s so that callers (the
//! CLI, the conformance runner, the chat API) never touch an engine's types.

mod duckdb;
mod source;
mod spark;
mod value;

use std::time::Duration;

pub use self::duckdb::{DuckDb, WarehouseLimits};
pub use self::source::WarehouseSource;
pub use self::spark::{Spark, SparkSettings};
pub use self::value::Value;

/// Errors from opening the warehouse or running a statement on it.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot open warehouse `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: ::duckdb::Error,
    },
    #[error("warehouse `{0}` does not exist; run `wenshu demo` to generate the demo warehouse")]
    Missing(String),
    #[error("query failed: {source}")]
    Query {
        #[source]
        source: ::duckdb::Error,
    },
    #[error("the query ran past its time limit of {} s and was stopped", .limit.as_secs_f64())]
    Timeout { limit: Duration },
    /// The Spark Connect server refused or dropped the connection, or did
    /// not respond in time.
    #[error("Spark Connect server `{remote}` is unavailable: {message}")]
    Unavailable { remote: String, message: String },
    /// Spark ran the statement and reported an error.
    #[error("query failed on Spark: {message}")]
    Spark { message: String },
}

pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// The engine behind a warehouse, which decides the SQL dialect that the
/// compiler writes and the SQL guard parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    DuckDb,
    Spark,
}

impl Engine {
    /// Returns the compiler's dialect for this engine.
    pub fn dialect(self) -> &'static dyn crate::compiler::Dialect {
        match self {
            Engine::DuckDb => &crate::compiler::DuckDb,
            Engine::Spark => &crate::compiler::SparkSql,
        }
    }

    /// Returns the SQL guard's dialect for this engine.
    pub fn guard_dialect(self) -> crate::guard::GuardDialect {
        match self {
            Engine::DuckDb => crate::guard::GuardDialect::DuckDb,
            Engine::Spark => crate::guard::GuardDialect::Spark,
        }
    }

    /// Returns the engine's name as messages and prompts show it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::DuckDb => "DuckDB",
            Engine::Spark => "Spark SQL",
        }
    }
}

/// A connection to a warehouse. Each connection runs one statement at a
/// time; [`Warehouse::try_clone`] opens another for statements that run
/// alongside.
pub trait Warehouse: Send {
    /// Returns the engine, and so the SQL dialect, of this warehouse.
    fn engine(&self) -> Engine;

    /// Runs one query and collects its rows.
    fn query(&self, sql: &str) -> Result<Table>;

    /// Runs one query like [`Warehouse::query`], stopping it once it has run
    /// for `limit`; a stopped query returns [`WarehouseError::Timeout`].
    fn query_with_limit(&self, sql: &str, limit: Duration) -> Result<Table>;

    /// Opens another connection to the same warehouse, with the same
    /// restrictions.
    fn try_clone(&self) -> Result<Box<dyn Warehouse>>;

    /// Lists `(table, column, type)` of the given tables, in column order.
    /// A table the warehouse does not have lists nothing.
    fn table_columns(&self, tables: &[String]) -> Result<Vec<(String, String, String)>> {
        let dialect = self.engine().dialect();
        let mut columns = Vec::new();
        for table in tables {
            let Ok(result) = self.query(&format!("SELECT * FROM {} LIMIT 0", dialect.quote(table)))
            else {
                continue;
            };
            columns.extend(
                result
                    .columns
                    .into_iter()
                    .map(|column| (table.clone(), column.name, column.type_name)),
            );
        }
        Ok(columns)
    }
}

/// One result column: its name and the engine's name for its type.
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
