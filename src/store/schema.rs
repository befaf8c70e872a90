//! The tables of the state database and its schema version.

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StoreError};

/// The schema version this build writes, kept in `PRAGMA user_version`.
/// A file with a higher version is rejected, because an older build cannot
/// know what the newer columns or rules mean.
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1 of the schema. Times are RFC 3339 UTC text with milliseconds,
/// and `questions` and `resolved_query` are JSON text.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS conversations (
    session_id TEXT PRIMARY KEY NOT NULL,
    user TEXT NOT NULL,
    questions TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_updated_at ON conversations (updated_at);

CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    user TEXT NOT NULL,
    session_id TEXT NOT NULL,
    answer_id TEXT,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    question TEXT,
    comment TEXT
);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback (time);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    session_id TEXT,
    question TEXT,
    intent TEXT,
    resolved_query TEXT,
    sql TEXT,
    row_count INTEGER,
    latency_ms INTEGER NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (time);
CREATE INDEX IF NOT EXISTS audit_by_user ON audit (user, time);
CREATE INDEX IF NOT EXISTS audit_by_session ON audit (session_id, time);

-- The audit record is append-only. These triggers stop UPDATE and DELETE
-- statements, and the connection turns on recursive triggers so that the
-- delete inside INSERT OR REPLACE is stopped too.
CREATE TRIGGER IF NOT EXISTS audit_rejects_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only and cannot be updated');
END;
CREATE TRIGGER IF NOT EXISTS audit_rejects_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only and cannot be deleted');
END;
";

/// Creates the missing tables, indexes and triggers and records the schema
/// version, or fails if the file has a newer version than [`SCHEMA_VERSION`].
///
/// The work runs in one IMMEDIATE transaction, so two processes opening a
/// new file at once do not both create it.
pub(super) fn create_or_check(connection: &mut Connection, path: &str) -> Result<()> {
    let open_error = |source| StoreError::Open {
        path: path.to_string(),
        source,
    };

    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_error)?;

    let found: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_error)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_string(),
            found,
        });
    }

    transaction.execute_batch(SCHEMA).map_err(open_error)?;
    if found < SCHEMA_VERSION {
        transaction
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_error)?;
    }
    transaction.commit().map_err(open_error)
}
