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
    /// Reads a `--warehouse` value: `sc://HOST[:PORT][/;PARAMS]` (any case
    /// of `sc`) is Spark, anything else a file. The port defaults to 15002,
    /// Spark Connect's.
    pub fn parse(text: &str) -> Result<WarehouseSource, String> {
        let scheme = text.get(..SPARK_SCHEME.len());
        if !scheme.is_some_and(|scheme| scheme.eq_ignore_ascii_case(SPARK_SCHEME)) {
            return Ok(WarehouseSource::DuckDb(PathBuf::from(text)));
        }
        let rest = &text[SPARK_SCHEME.len()..];
        let authority = rest.split(['/', ';']).next().unwrap_or_default();
        let invalid = |reason: &str| {
            format!(
                "invalid Spark Connect address `{}`: {reason}; use sc://HOST:PORT, such as sc://127.0.0.1:15002",
                redacted(text)
            )
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(invalid("the host is missing"));
        }
        if let Some(port) = port
            && port.parse::<u16>().map_or(true, |number| number == 0)
        {
            return Err(invalid(&format!("`{port}` is not a port number")));
        }
        Ok(WarehouseSource::Spark(format!("{SPARK_SCHEME}{rest}")))
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
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        WarehouseSource::parse(text)
    }
}

/// Returns a Spark Connect address with the value of its `token` parameter
/// hidden, for messages and logs.
pub fn redacted(remote: &str) -> String {
    let mut parts = remote.split(';');
    let mut masked = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        masked.push(';');
        match part.split_once('=') {
            Some((key, _)) if key.trim().eq_ignore_ascii_case("token") => {
                masked.push_str(key);
                masked.push_str("=***");
            }
            _ => masked.push_str(part),
        }
    }
    masked
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
            WarehouseSource::Spark(remote) => formatter.write_str(&redacted(remote)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_addresses_differ_from_paths() {
        assert_eq!(
            WarehouseSource::parse("sc://127.0.0.1:15002"),
            Ok(WarehouseSource::Spark("sc://127.0.0.1:15002".to_owned()))
        );
        assert_eq!(
            WarehouseSource::parse("SC://spark-gateway"),
            Ok(WarehouseSource::Spark("sc://spark-gateway".to_owned()))
        );
        assert_eq!(
            WarehouseSource::parse("data/demo.duckdb"),
            Ok(WarehouseSource::DuckDb(PathBuf::from("data/demo.duckdb")))
        );
        assert_eq!(WarehouseSource::parse("sc://h:1").unwrap().path(), None);
    }

    #[test]
    fn malformed_spark_addresses_rejected() {
        for bad in [
            "sc://",
            "sc://:15002",
            "sc://127.0.0.1:notaport",
            "sc://h:0",
            "sc://h:70000",
        ] {
            let error = WarehouseSource::parse(bad).unwrap_err();
            assert!(error.contains("sc://HOST:PORT"), "{error}");
        }
    }

    #[test]
    fn tokens_hidden_in_messages() {
        let source = WarehouseSource::parse("sc://h:443/;use_ssl=true;token=secret").unwrap();

        let shown = source.to_string();

        assert_eq!(shown, "sc://h:443/;use_ssl=true;token=***");
        assert!(!shown.contains("secret"));
    }
}
