//! The audit record: one row per API request, append-only.
//!
//! The store offers no update or delete, and triggers in the schema abort
//! any UPDATE or DELETE of an audit row, including SQL sent through the
//! store's own connection.
//!
//! NOTE: the triggers do not stop DDL: `DROP TRIGGER` or `DROP TABLE` on
//! this connection, or anyone who can write the file, can still remove rows.

use std::fmt;

use chrono::{DateTime, Local, TimeZone, Utc};
use rusqlite::params;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use super::{Result, Store, format_time, sql_limit};

/// One request to record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub time: DateTime<Utc>,
    /// The user of the access token, or `anonymous` when authentication is off.
    pub user: String,
    /// `executive`, `account_manager`, `analyst` or `admin`.
    pub role: String,
    /// The method and path, such as `POST /api/chat`.
    pub endpoint: String,
    pub session_id: Option<String>,
    /// The chat message, or the SQL an analyst typed.
    pub question: Option<String>,
    /// The kind of answer: `metric`, `faq`, `clarify`, `fallback`,
    /// `refused`, `glossary` or `sql`.
    pub intent: Option<String>,
    /// The structured query the question was resolved to.
    pub resolved_query: Option<serde_json::Value>,
    /// The SQL that ran on the warehouse.
    pub sql: Option<String>,
    pub row_count: Option<u64>,
    pub latency_ms: u64,
    /// The HTTP status of the response.
    pub status: u16,
    /// `ok`, or an error code such as `rate_limited`, `forbidden`,
    /// `sql_rejected` or `timeout`.
    pub outcome: String,
}

/// An audit record as stored, with its row id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAudit {
    pub id: i64,
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// Conditions on the audit rows to list. Every condition that is set must
/// hold. The rows come newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub session_id: Option<String>,
    pub outcome: Option<String>,
    /// The earliest time listed (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// The end of the time range (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// A case-sensitive substring of the question. An empty string matches
    /// every row, including rows without a question.
    pub text: Option<String>,
    /// The maximum number of rows returned. 0 returns none.
    pub limit: usize,
}

/// The columns of one `audit` row, before the time and JSON are parsed.
struct AuditRow {
    id: i64,
    time: String,
    user: String,
    role: String,
    endpoint: String,
    session_id: Option<String>,
    question: Option<String>,
    intent: Option<String>,
    resolved_query: Option<String>,
    sql: Option<String>,
    row_count: Option<u64>,
    latency_ms: u64,
    status: u16,
    outcome: String,
}

const AUDIT_COLUMNS: &str = "id, time, user, role, endpoint, session_id, question, intent, \
                             resolved_query, sql, row_count, latency_ms, status, outcome";

impl Store {
    /// Appends one audit record and returns its id.
    pub fn append_audit(&self, record: &AuditRecord) -> Result<i64> {
        let resolved_query = record
            .resolved_query
            .as_ref()
            .map(|query| query.to_string());

        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "INSERT INTO audit (time, user, role, endpoint, session_id, question, intent,
                                    resolved_query, sql, row_count, latency_ms, status, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .map_err(self.statement_error("append an audit record"))?;
        statement
            .execute(params![
                format_time(record.time),
                record.user,
                record.role,
                record.endpoint,
                record.session_id,
                record.question,
                record.intent,
                resolved_query,
                record.sql,
                record.row_count,
                record.latency_ms,
                record.status,
                record.outcome,
            ])
            .map_err(self.statement_error("append an audit record"))?;
        Ok(connection.last_insert_rowid())
    }

    /// Returns the audit records that match `filter`, newest first.
    pub fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<StoredAudit>> {
        let mut conditions: Vec<&str> = Vec::new();
        let mut values: Vec<SqlValue> = Vec::new();
        if let Some(user) = &filter.user {
            conditions.push("user = ?");
            values.push(SqlValue::Text(user.clone()));
        }
        if let Some(session_id) = &filter.session_id {
            conditions.push("session_id = ?");
            values.push(SqlValue::Text(session_id.clone()));
        }
        if let Some(outcome) = &filter.outcome {
            conditions.push("outcome = ?");
            values.push(SqlValue::Text(outcome.clone()));
        }
        if let Some(since) = filter.since {
            conditions.push("time >= ?");
            values.push(SqlValue::Text(format_time(since)));
        }
        if let Some(until) = filter.until {
            conditions.push("time < ?");
            values.push(SqlValue::Text(format_time(until)));
        }
        // instr() rather than LIKE, so that `%` and `_` in the text match
        // themselves and the match is case-sensitive for every script.
        if let Some(text) = filter.text.as_ref().filter(|text| !text.is_empty()) {
            conditions.push("instr(question, ?) > 0");
            values.push(SqlValue::Text(text.clone()));
        }
        values.push(SqlValue::Integer(sql_limit(filter.limit)));

        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY time DESC, id DESC LIMIT ?");

        let connection = self.lock();
        let mut statement = connection
            .prepare(&sql)
            .map_err(self.statement_error("list audit records"))?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values), |row| {
                Ok(AuditRow {
                    id: row.get(0)?,
                    time: row.get(1)?,
                    user: row.get(2)?,
                    role: row.get(3)?,
                    endpoint: row.get(4)?,
                    session_id: row.get(5)?,
                    question: row.get(6)?,
                    intent: row.get(7)?,
                    resolved_query: row.get(8)?,
                    sql: row.get(9)?,
                    row_count: row.get(10)?,
                    latency_ms: row.get(11)?,
                    status: row.get(12)?,
                    outcome: row.get(13)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.statement_error("list audit records"))?;
        drop(statement);
        drop(connection);

        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let resolved_query = match &row.resolved_query {
                Some(json) => Some(self.parse_json("audit", "resolved_query", json)?),
                None => None,
            };
            records.push(StoredAudit {
                id: row.id,
                record: AuditRecord {
                    time: self.parse_time("audit", "time", &row.time)?,
                    user: row.user,
                    role: row.role,
                    endpoint: row.endpoint,
                    session_id: row.session_id,
                    question: row.question,
                    intent: row.intent,
                    resolved_query,
                    sql: row.sql,
                    row_count: row.row_count,
                    latency_ms: row.latency_ms,
                    status: row.status,
                    outcome: row.outcome,
                },
            });
        }
        Ok(records)
    }

    /// Returns the number of audit records.
    pub fn audit_count(&self) -> Result<u64> {
        let connection = self.lock();
        connection
            .query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))
            .map_err(self.statement_error("count audit records"))
    }
}

/// Column widths of the terminal table, in characters. The time column is
/// always 25 characters (`2026-12-05T08:30:00+08:00`).
const TIME_WIDTH: usize = 25;
const USER_WIDTH: usize = 16;
const ROLE_WIDTH: usize = 15;
const ENDPOINT_WIDTH: usize = 22;
const OUTCOME_WIDTH: usize = 12;
const STATUS_WIDTH: usize = 6;
const LATENCY_WIDTH: usize = 9;
const ROWS_WIDTH: usize = 7;
/// The maximum length of the question cell, in characters, including the
/// `…` that marks a cut.
const QUESTION_CHARS: usize = 40;

/// Returns the header line of the terminal table whose rows are the
/// `Display` output of [`StoredAudit`].
pub fn audit_table_header() -> String {
    table_line([
        "time", "user", "role", "endpoint", "outcome", "status", "latency", "rows", "question",
    ])
}

impl StoredAudit {
    /// Renders the record as one table line with the time in `zone`.
    pub fn table_line_in<Tz>(&self, zone: &Tz) -> String
    where
        Tz: TimeZone,
        Tz::Offset: fmt::Display,
    {
        let record = &self.record;
        let time = record
            .time
            .with_timezone(zone)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string();
        let status = record.status.to_string();
        let latency = format!("{}ms", record.latency_ms);
        let row_count = record
            .row_count
            .map_or_else(|| "-".to_string(), |count| count.to_string());
        let question = record.question.as_deref().unwrap_or("-");

        table_line([
            &time,
            &record.user,
            &record.role,
            &record.endpoint,
            &record.outcome,
            &status,
            &latency,
            &row_count,
            question,
        ])
    }
}

/// One line of the terminal table, with the time in the local time zone and
/// the question cut to 40 characters.
///
/// NOTE: columns are padded by characters, not display width, so a user name
/// in Chinese (two terminal columns per character) shifts the rest of its line.
impl fmt::Display for StoredAudit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.table_line_in(&Local))
    }
}

/// Lays out the nine cells of a table line: text left-aligned, numbers
/// right-aligned, every cell cut to its column and on one line.
fn table_line(cells: [&str; 9]) -> String {
    let [
        time,
        user,
        role,
        endpoint,
        outcome,
        status,
        latency,
        rows,
        question,
    ] = cells.map(one_line);
    let time = fit(&time, TIME_WIDTH);
    let user = fit(&user, USER_WIDTH);
    let role = fit(&role, ROLE_WIDTH);
    let endpoint = fit(&endpoint, ENDPOINT_WIDTH);
    let outcome = fit(&outcome, OUTCOME_WIDTH);
    let question = fit(&question, QUESTION_CHARS);

    format!(
        "{time:<TIME_WIDTH$} {user:<USER_WIDTH$} {role:<ROLE_WIDTH$} {endpoint:<ENDPOINT_WIDTH$} \
         {outcome:<OUTCOME_WIDTH$} {status:>STATUS_WIDTH$} {latency:>LATENCY_WIDTH$} \
         {rows:>ROWS_WIDTH$} {question}"
    )
}

/// Replaces line breaks, tabs and other control characters with spaces, so
/// that a multi-line SQL query stays on one line and no escape sequence
/// reaches the terminal.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .collect()
}

/// Cuts `text` to at most `max_chars` characters, ending with `…` when cut.
fn fit(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
