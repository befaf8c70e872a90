//! The warehouse location: a DuckDB file or a Spark Connect address.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{DuckDb, Result, Spark, SparkSettings, Warehouse, WarehouseLimits};

/// The scheme of a Spark Connect address.
const SPARK_SCHEME: &str = "sc://";

/// A warehouse as the command line and `wenshu.toml` name it: a path to a
/// DuckDB file, or `sc://HOST:PORT` for a Spark Connect server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseSource {
    DuckDb(PathBuf),
    /// The Spark Connect address, `sc://` included.
    Spark(String),
}

impl WarehouseSource {
    /// Reads a `--warehouse` value: `sc://…` is Spark, anything else a file.
    pub fn parse(text: &str) -> WarehouseSource {
        if text.starts_with(SPARK_SCHEME) {
            WarehouseSource::Spark(text.to_owned())
        } else {
            WarehouseSource::DuckDb(PathBuf::from(text))
        }
    }

    /// Returns the DuckDB file, when this is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            WarehouseSource::DuckDb(path) => Some(path),
            WarehouseSource::Spark(_) => None,
        }
    }

    /// Opens a read-only connection: DuckDB with `limits`, Spark with
    /// `spark`.
    pub fn open(
        &self,
        limits: &WarehouseLimits,
        spark: &SparkSettings,
    ) -> Result<Box<dyn Warehouse>> {
        match self {
            WarehouseSource::DuckDb(path) => {
                Ok(Box::new(DuckDb::open_read_only_with(path, limits)?))
            }
            WarehouseSource::Spark(remote) => Ok(Box::new(Spark::connect(remote, spark)?)),
        }
    }
}

impl FromStr for WarehouseSource {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        Ok(WarehouseSource::parse(text))
    }
}

impl From<PathBuf> for WarehouseSource {
    fn from(path: PathBuf) -> Self {
        WarehouseSource::DuckDb(path)
    }
}

impl From<&Path> for WarehouseSource {
    fn from(path: &Path) -> Self {
        WarehouseSource::DuckDb(path.to_path_buf())
    }
}

impl fmt::Display for WarehouseSource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarehouseSource::DuckDb(path) => write!(formatter, "{}", path.display()),
            WarehouseSource::Spark(remote) => formatter.write_str(remote),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_addresses_are_told_from_paths() {
        assert_eq!(
            WarehouseSource::parse("sc://127.0.0.1:15002"),
            WarehouseSource::Spark("sc://127.0.0.1:15002".to_owned())
        );
        assert_eq!(
            WarehouseSource::parse("data/demo.duckdb"),
            WarehouseSource::DuckDb(PathBuf::from("data/demo.duckdb"))
        );
        assert_eq!(WarehouseSource::parse("sc://h:1").path(), None);
    }
}
