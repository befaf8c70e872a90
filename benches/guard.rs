//! Time the SQL guard takes to check a statement: parse it with sqlparser,
//! walk its syntax tree against the declared tables and allowed functions,
//! and render the checked query with its row cap.
//!
//! Three sets of statements:
//! - `generated`: the SQL the compiler writes for every metric question of
//!   the evaluation files (as in the `understand` bench), which the guard
//!   checks before every metric answer;
//! - `handwritten`: the evaluation files' gold SQL, written by hand as an
//!   analyst would send it to `POST /api/sql`;
//! - `rejected`: statements the guard must reject (DDL, DML, file reads,
//!   several statements, catalog views).
//!
//! Criterion reports the mean time of one pass over each set. Then every
//! statement is timed alone, `TIMED_ROUNDS` passes over all of them, and the
//! bench prints the 50th and 99th percentile (nearest rank) of each set.
//! Run with `cargo bench --bench guard`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use wenshu::assistant::declared_tables;
use wenshu::guard::SqlGuard;

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use support::{percentile, questions_and_assistant};

/// Passes over all statements timed one by one for the percentiles.
const TIMED_ROUNDS: usize = 500;

/// Statements a user might send that the guard rejects, each for another
/// rule.
const REJECTED: [&str; 8] = [
    "DROP TABLE fact_deposit_daily",
    "DELETE FROM fact_deposit_daily WHERE biz_date < DATE '2025-01-01'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT 1; SELECT 2",
    "SELECT table_name FROM information_schema.tables",
    "COPY fact_deposit_daily TO '/tmp/out.csv'",
    "SELECT getenv('HOME')",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
];

fn main() {
    let Some((questions, assistant)) = questions_and_assistant("guard_bench") else {
        return;
    };
    let guard = SqlGuard::new(declared_tables(assistant.layer()), assistant.max_rows() + 1);

    let mut sets: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for question in &questions {
        if let Some(compiled) = assistant.compile_question(&question.text) {
            sets.entry("generated").or_default().push(compiled.sql);
        }
        if let Some(gold_sql) = &question.gold_sql {
            sets.entry("handwritten")
                .or_default()
                .push(gold_sql.clone());
        }
    }
    sets.insert(
        "rejected",
        REJECTED.iter().map(|sql| (*sql).to_owned()).collect(),
    );
    for (set, statements) in &sets {
        let passing = statements
            .iter()
            .filter(|sql| guard.check(sql).is_ok())
            .count();
        let expected = if *set == "rejected" {
            0
        } else {
            statements.len()
        };
        assert_eq!(
            passing,
            expected,
            "set `{set}`: {passing} of {} statements pass the guard",
            statements.len()
        );
    }

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("sql_guard");
    for (set, statements) in &sets {
        group.bench_function(
            format!("{set}_{}_statements", statements.len()),
            |bencher| {
                bencher.iter(|| {
                    for sql in statements {
                        let _ = black_box(guard.check(black_box(sql)));
                    }
                })
            },
        );
    }
    group.finish();
    criterion.final_summary();

    print_percentiles(&guard, &sets);
}

/// Times every statement alone, `TIMED_ROUNDS` passes over all of them,
/// and prints the 50th and 99th percentile of each set.
fn print_percentiles(guard: &SqlGuard, sets: &BTreeMap<&str, Vec<String>>) {
    println!("\nSQL guard, single statements timed one by one ({TIMED_ROUNDS} passes):");
    println!(
        "{:<12} {:>10} {:>9} {:>12} {:>12} {:>12}",
        "set", "statements", "samples", "p50", "p99", "max"
    );
    for (set, statements) in sets {
        let mut durations = Vec::with_capacity(TIMED_ROUNDS * statements.len());
        for _ in 0..TIMED_ROUNDS {
            for sql in statements {
                let started = Instant::now();
                let _ = black_box(guard.check(black_box(sql)));
                durations.push(started.elapsed());
            }
        }
        durations.sort_unstable();
        println!(
            "{set:<12} {:>10} {:>9} {:>12?} {:>12?} {:>12?}",
            statements.len(),
            durations.len(),
            percentile(&durations, 50.0),
            percentile(&durations, 99.0),
            durations.last().copied().unwrap_or_default()
        );
    }
}
