//! `wenshu audit`: lists the audit record of the state database.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use wenshu::store::{AuditFilter, Store, audit_table_header};

/// The flags of `wenshu audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The SQLite state file (default: data/wenshu.sqlite).
    #[arg(long, default_value = super::DEFAULT_STATE)]
    pub state: PathBuf,
    /// Only the records of this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only the records of this session.
    #[arg(long)]
    pub session: Option<String>,
    /// `ok`, or an error code such as `forbidden` or `sql_rejected`.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only records at or after this time (RFC 3339, or a date such as 2026-12-05).
    #[arg(long)]
    pub since: Option<String>,
    /// Only records whose question contains this text.
    #[arg(long)]
    pub text: Option<String>,
    /// The most records listed, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the newest records that match the flags, as a table or JSON lines.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    if !args.state.exists() {
        anyhow::bail!(
            "no state database at `{}`: the server creates it on its first start (see --state)",
            args.state.display()
        );
    }
    let since = args.since.as_deref().map(parse_time).transpose()?;
    let store = Store::open(&args.state)
        .with_context(|| format!("cannot open `{}`", args.state.display()))?;
    let filter = AuditFilter {
        user: args.user,
        session_id: args.session,
        outcome: args.outcome,
        since,
        until: None,
        text: args.text,
        limit: args.limit,
    };
    let records = store.list_audit(&filter)?;

    let mut stdout = std::io::stdout().lock();
    if args.json {
        for record in &records {
            writeln!(stdout, "{}", serde_json::to_string(record)?)?;
        }
    } else {
        writeln!(stdout, "{}", audit_table_header())?;
        for record in &records {
            writeln!(stdout, "{record}")?;
        }
        writeln!(
            stdout,
            "{} record(s) shown, newest first; {} in all",
            records.len(),
            store.audit_count()?
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an RFC 3339 time, or a date meaning its midnight in UTC.
fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("`--since {text}`: use a date such as 2026-12-05 or a time such as 2026-12-05T08:00:00+08:00")
    })?;
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}
