//! Run time of the compiler's SQL against SQL written by hand for the same
//! question, on the demo warehouse at scale 10 (about 30 million daily rows).
//!
//! Criterion runs all samples of one benchmark before the next, so a slow
//! drift of the machine (page cache, another process) would land on one
//! side. This harness instead runs the statements of one question in turn,
//! in one process and on one DuckDB connection, changing which goes first
//! every round:
//!
//! 1. Opens the warehouse read-only, generating it first when it is missing.
//! 2. Compiles each question once; compile time is not part of the numbers.
//! 3. Runs each statement once as a warm-up, checking that all return the
//!    same rows.
//! 4. Runs `WENSHU_BENCH_ROUNDS` rounds (default 12) of every statement and
//!    prints the minimum, median, mean and maximum wall-clock time of each.
//!
//! Run with `cargo bench --bench sql_vs_handwritten`. The warehouse is kept
//! at `$WENSHU_BENCH_WAREHOUSE`, by default
//! `$HOME/.cache/wenshu/bench/demo-scale10-seed42.duckdb`, outside the
//! repository. See `docs/benchmarks.md` for the numbers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use wenshu::compiler::{CompileOptions, MetricQuery, compile};
use wenshu::demo::{DemoOptions, generate};
use wenshu::semantic::load_dir;
use wenshu::warehouse::{Table, Value, Warehouse};

const SCALE: u32 = 10;
const SEED: u64 = 42;
const DEFAULT_ROUNDS: usize = 12;

/// Every fact row joined to the dimension tables an analyst's query starts
/// from, whether or not the question needs them.
const DEPOSITS: &str = "fact_deposit_daily f \
    JOIN dim_customer c ON c.customer_id = f.customer_id \
    JOIN dim_product p ON p.product_id = f.product_id \
    JOIN dim_branch b ON b.branch_id = f.branch_id";

/// One question, asked through the compiler and by hand.
struct Case {
    name: &'static str,
    query: MetricQuery,
    /// SQL as an analyst writes it: every dimension table joined.
    handwritten: String,
    /// The same SQL with only the joins the question needs, which separates
    /// the cost of the extra joins from the cost of the compiler's shape.
    handwritten_minimal: String,
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("valid date")
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "balance_by_branch",
            query: MetricQuery {
                metrics: vec!["deposit_balance".to_owned()],
                group_by: vec!["branch__branch_name".to_owned()],
                // The assistant asks for a balance on one day: the period
                // 2026-11-30 to 2026-11-30.
                start: Some(date("2026-11-30")),
                end: Some(date("2026-11-30")),
                ..MetricQuery::default()
            },
            handwritten: format!(
                "SELECT b.branch_name AS k, SUM(f.balance) AS v FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '2026-11-30' GROUP BY k"
            ),
            handwritten_minimal: "SELECT b.branch_name AS k, SUM(f.balance) AS v FROM fact_deposit_daily f \
                 JOIN dim_branch b ON b.branch_id = f.branch_id \
                 WHERE f.biz_date = DATE '2026-11-30' GROUP BY k"
                .to_owned(),
        },
        Case {
            name: "average_daily_balance_year_to_date",
            query: MetricQuery {
                metrics: vec!["average_daily_balance".to_owned()],
                start: Some(date("2026-01-01")),
                end: Some(date("2026-11-30")),
                ..MetricQuery::default()
            },
            handwritten: format!(
                "SELECT SUM(f.balance) / (DATE '2026-11-30' - DATE '2026-01-01' + 1) FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30'"
            ),
            handwritten_minimal: "SELECT SUM(f.balance) / (DATE '2026-11-30' - DATE '2026-01-01' + 1) \
                 FROM fact_deposit_daily f WHERE f.biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30'"
                .to_owned(),
        },
    ]
}

fn warehouse_path() -> PathBuf {
    if let Some(path) = std::env::var_os("WENSHU_BENCH_WAREHOUSE") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(format!(
        ".cache/wenshu/bench/demo-scale{SCALE}-seed{SEED}.duckdb"
    ))
}

fn rounds() -> Result<usize, String> {
    match std::env::var("WENSHU_BENCH_ROUNDS") {
        Err(_) => Ok(DEFAULT_ROUNDS),
        Ok(text) => match text.parse::<usize>() {
            Ok(count) if count > 0 => Ok(count),
            _ => Err(format!(
                "invalid WENSHU_BENCH_ROUNDS `{text}`: use a whole number of 1 or more"
            )),
        },
    }
}

fn main() -> ExitCode {
    // `cargo test --benches` runs this binary without `--bench`. A test run
    // should not generate and scan a half-gigabyte warehouse.
    if !std::env::args().any(|argument| argument == "--bench") {
        println!("skipped: run with `cargo bench --bench sql_vs_handwritten`");
        return ExitCode::SUCCESS;
    }

    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let rounds = rounds()?;
    let path = warehouse_path();
    // NOTE: a cached warehouse is reused as it is, even if the generator has
    // changed since; delete the file to regenerate it.
    if !path.exists() {
        println!(
            "generating the scale-{SCALE} demo warehouse at {}",
            path.display()
        );
        let options = DemoOptions {
            out: path.clone(),
            scale: SCALE,
            seed: SEED,
            progress: false,
        };
        let summary =
            generate(&options).map_err(|error| format!("demo generation failed: {error}"))?;
        println!("generated in {:.1} s", summary.elapsed.as_secs_f64());
    }
    let warehouse = Warehouse::open_read_only(&path).map_err(|error| error.to_string())?;
    let rows: i64 = match warehouse.query("SELECT count(*) FROM fact_deposit_daily") {
        Ok(table) => match table.rows.first().and_then(|row| row.first()) {
            Some(Value::Int(count)) => *count,
            other => return Err(format!("unexpected row count {other:?}")),
        },
        Err(error) => return Err(format!("cannot count rows: {error}")),
    };
    let layer_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("semantic_layer");
    let layer = load_dir(&layer_dir)
        .map_err(|diagnostics| format!("semantic_layer/ is invalid:\n{diagnostics}"))?;

    let settings = warehouse
        .query("SELECT version(), current_setting('threads')")
        .map_err(|error| format!("cannot read DuckDB settings: {error}"))?;
    let settings: Vec<String> = settings
        .rows
        .iter()
        .flatten()
        .map(Value::to_string)
        .collect();
    println!(
        "warehouse {} ({rows} daily rows), {rounds} rounds",
        path.display()
    );
    println!("DuckDB {}", settings.join(", threads "));
    for case in cases() {
        let compiled = compile(&layer, &case.query, &CompileOptions::default())
            .map_err(|error| format!("`{}` does not compile: {error}", case.name))?;
        let statements = [
            ("compiled", compiled.sql.as_str()),
            ("handwritten", case.handwritten.as_str()),
            ("minimal", case.handwritten_minimal.as_str()),
        ];

        let (expected, _) = time_query(&warehouse, statements[0].1)?;
        for (label, sql) in &statements[1..] {
            let (rows, _) = time_query(&warehouse, sql)?;
            if let Err(difference) = same_rows(&expected, &rows) {
                return Err(format!(
                    "`{}`: {label} disagrees with compiled: {difference}",
                    case.name
                ));
            }
        }

        // Each round starts with the next statement, so each one runs first,
        // second and third equally often over a multiple of three rounds.
        let mut timings: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); statements.len()];
        for round in 0..rounds {
            for offset in 0..statements.len() {
                let side = (round + offset) % statements.len();
                let (_, elapsed) = time_query(&warehouse, statements[side].1)?;
                timings[side].push(elapsed);
            }
        }
        let labels: Vec<&str> = statements.iter().map(|(label, _)| *label).collect();
        report(case.name, &labels, &timings);
    }
    Ok(())
}

fn time_query(warehouse: &Warehouse, sql: &str) -> Result<(Table, Duration), String> {
    let started = Instant::now();
    let table = warehouse
        .query(sql)
        .map_err(|error| format!("query failed: {error}\n{sql}"))?;
    Ok((table, started.elapsed()))
}

/// Compares two results as multisets of rows, numbers within 0.01 or a
/// relative 1e-9, ignoring column names.
fn same_rows(left: &Table, right: &Table) -> Result<(), String> {
    if left.rows.len() != right.rows.len() {
        return Err(format!(
            "{} rows against {}",
            left.rows.len(),
            right.rows.len()
        ));
    }
    let sorted = |table: &Table| {
        let mut rows: Vec<Vec<String>> = table
            .rows
            .iter()
            .map(|row| row.iter().map(sort_key).collect())
            .collect();
        rows.sort();
        rows
    };
    for (left_row, right_row) in sorted(left).iter().zip(sorted(right).iter()) {
        for (left_cell, right_cell) in left_row.iter().zip(right_row) {
            let equal = match (left_cell.parse::<f64>(), right_cell.parse::<f64>()) {
                (Ok(a), Ok(b)) => {
                    (a - b).abs() <= 0.01 || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
                }
                _ => left_cell == right_cell,
            };
            if !equal {
                return Err(format!("row {left_row:?} against {right_row:?}"));
            }
        }
    }
    Ok(())
}

/// Returns the text a value sorts by. Numbers get six decimals, so that
/// equal sums sort alike.
fn sort_key(value: &Value) -> String {
    match value.as_f64() {
        Some(number) => format!("{number:.6}"),
        None => value.to_string(),
    }
}

fn report(name: &str, labels: &[&str], timings: &[Vec<Duration>]) {
    let summaries: Vec<Summary> = timings.iter().map(|side| Summary::of(side)).collect();
    println!("\n{name}");
    println!(
        "  {:<12} {:>9} {:>9} {:>9} {:>9}",
        "", "min ms", "median ms", "mean ms", "max ms"
    );
    for (label, summary) in labels.iter().zip(&summaries) {
        println!(
            "  {label:<12} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            summary.min, summary.median, summary.mean, summary.max
        );
    }
    for (label, summary) in labels.iter().zip(&summaries).skip(1) {
        println!(
            "  compiled / {label} (medians): {:.2}",
            summaries[0].median / summary.median
        );
    }
}

/// Milliseconds.
struct Summary {
    min: f64,
    median: f64,
    mean: f64,
    max: f64,
}

impl Summary {
    fn of(timings: &[Duration]) -> Summary {
        debug_assert!(!timings.is_empty());
        let mut milliseconds: Vec<f64> = timings
            .iter()
            .map(|elapsed| elapsed.as_secs_f64() * 1e3)
            .collect();
        milliseconds.sort_by(f64::total_cmp);
        let count = milliseconds.len();
        let median = if count % 2 == 1 {
            milliseconds[count / 2]
        } else {
            (milliseconds[count / 2 - 1] + milliseconds[count / 2]) / 2.0
        };
        Summary {
            min: milliseconds[0],
            median,
            mean: milliseconds.iter().sum::<f64>() / count as f64,
            max: milliseconds[count - 1],
        }
    }
}
