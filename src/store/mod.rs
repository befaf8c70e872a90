//! The state database: conversations, feedback and the audit record kept in
//! an embedded SQLite file so that they survive a restart of the server.
//!
//! Every write is one SQLite statement that has committed when the call
//! returns. The file runs in WAL mode with `synchronous = NORMAL`, so a
//! committed record survives the process being killed (SIGKILL included).
//!
//! The API is synchronous: the server calls it from
//! `tokio::task::spawn_blocking`. A [`Store`] holds one connection behind a
//! mutex, so calls from several threads run one at a time; share it in an
//! `Arc`.
//!
//! Times are stored as RFC 3339 UTC text with milliseconds
//! (`2026-12-05T08:30:00.123Z`), so comparing the text orders them, and JSON
//! values are stored as text.

mod audit;
mod conversation;
mod feedback;
mod schema;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;
use rusqlite::config::DbConfig;

pub use audit::{AuditFilter, AuditRecord, StoredAudit, audit_table_header};
pub use conversation::StoredConversation;
pub use feedback::{Feedback, Rating, StoredFeedback};
pub use schema::SCHEMA_VERSION;

/// How long a statement waits for another connection's lock on the file
/// before it fails with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors from opening the state database or running a statement on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder `{folder}` for the state database: {source}")]
    CreateFolder {
        folder: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the state database `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the state database `{path}` has schema version {found}, but this build of wenshu \
         supports versions up to {SCHEMA_VERSION}; run a newer wenshu or point it at another file"
    )]
    NewerSchema { path: String, found: i64 },
    #[error("cannot {action} in the state database `{path}`: {source}")]
    Statement {
        path: String,
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the state database `{path}` contains an invalid value `{value}` in `{table}.{column}`: {reason}"
    )]
    InvalidValue {
        path: String,
        table: &'static str,
        column: &'static str,
        value: String,
        reason: String,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection to the state database, safe to share between threads.
#[derive(Debug)]
pub struct Store {
    /// The file name shown in error messages (`:memory:` for an in-memory store).
    path: String,
    connection: Mutex<Connection>,
}

impl Store {
    /// Opens or creates the database file (and its parent folder), then
    /// creates any missing table.
    ///
    /// Fails with [`StoreError::NewerSchema`] when the file was written by a
    /// newer wenshu whose schema version this build does not know.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::CreateFolder {
                folder: folder.display().to_string(),
                source,
            })?;
        }

        let display_path = path.display().to_string();
        let connection = Connection::open(path).map_err(|source| StoreError::Open {
            path: display_path.clone(),
            source,
        })?;
        Store::prepare(display_path, connection, true)
    }

    /// Opens an empty in-memory store, for tests.
    pub fn open_in_memory() -> Result<Store> {
        let display_path = ":memory:".to_string();
        let connection = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: display_path.clone(),
            source,
        })?;
        Store::prepare(display_path, connection, false)
    }

    /// Sets the connection's options and brings the schema up to date.
    fn prepare(path: String, mut connection: Connection, is_file: bool) -> Result<Store> {
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };

        connection.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        connection
            .pragma_update(None, "foreign_keys", true)
            .map_err(open_error)?;
        // The audit triggers reject a DELETE. `INSERT OR REPLACE` deletes the
        // row it replaces, and SQLite fires delete triggers for that only
        // when recursive triggers are on.
        connection
            .pragma_update(None, "recursive_triggers", true)
            .map_err(open_error)?;
        // Defensive mode forbids SQL that can corrupt the file on purpose,
        // such as writes to `sqlite_schema` through `PRAGMA writable_schema`.
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .map_err(open_error)?;

        if is_file {
            let journal_mode: String = connection
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(open_error)?;
            // SQLite keeps the old mode when the file system does not support
            // WAL, as some network file systems do not. Writes stay durable
            // against a killed process in any journal mode, so this is not fatal.
            if !journal_mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(
                    path = %path,
                    journal_mode = %journal_mode,
                    "the state database could not switch to WAL mode, so other processes \
                     that read it will wait while it is written"
                );
            }
        }
        // NOTE: in WAL mode NORMAL syncs the WAL only at checkpoints, not at
        // each commit, so a power loss or an operating-system crash can roll
        // back the last commits (SQLite documentation of `PRAGMA synchronous`).
        // A killed process loses nothing. Surviving power loss as well would
        // need `synchronous = FULL`.
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;

        schema::create_or_check(&mut connection, &path)?;

        Ok(Store {
            path,
            connection: Mutex::new(connection),
        })
    }

    /// Locks the connection. Each call runs one statement in autocommit mode,
    /// and rusqlite resets a statement when it is dropped, so a lock poisoned
    /// by a panic in another thread leaves nothing half done and is still safe
    /// to use.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns a closure that wraps a rusqlite error with this database's
    /// path and the action that failed.
    fn statement_error(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Statement {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn invalid_value(
        &self,
        table: &'static str,
        column: &'static str,
        value: &str,
        reason: impl ToString,
    ) -> StoreError {
        StoreError::InvalidValue {
            path: self.path.clone(),
            table,
            column,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Parses a time column written by [`format_time`].
    fn parse_time(
        &self,
        table: &'static str,
        column: &'static str,
        text: &str,
    ) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|error| self.invalid_value(table, column, text, error))
    }

    /// Parses a JSON column.
    fn parse_json<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        column: &'static str,
        text: &str,
    ) -> Result<T> {
        serde_json::from_str(text).map_err(|error| self.invalid_value(table, column, text, error))
    }
}

/// Formats a time as stored: RFC 3339 in UTC with exactly three fractional
/// digits, so that text order is time order (for years 0 to 9999). Any
/// precision below a millisecond is dropped.
fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Converts a row limit for SQLite, where a limit above `i64::MAX` means the same as no limit.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
