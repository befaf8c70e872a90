//! Run time of the SQL Wenshu generates for ten representative questions
//! against SQL written by hand for the same answers, on the demo warehouse
//! at scale 50 (about 153 million daily rows).
//!
//! Criterion runs all samples of one benchmark before the next, so a slow
//! drift of the machine (page cache, another process) would land on one
//! side. This harness instead runs the statements of one question in turn,
//! in one process and on one DuckDB connection, changing which goes first
//! every round:
//!
//! 1. Opens the assistant over the warehouse, generating the warehouse first
//!    when it is missing, and turns each question into the SQL the server
//!    runs: read, planned and compiled as a first turn, then passed through
//!    the SQL guard with the server's row cap. The assistant is then closed;
//!    compile time is not part of the numbers.
//! 2. Opens the warehouse read-only on one connection and runs each
//!    statement once as a warm-up, checking that all return the same rows.
//! 3. Runs `WENSHU_BENCH_ROUNDS` rounds (default 12) of every statement and
//!    prints the minimum, median, mean and maximum wall-clock time of each,
//!    and the ratio of the medians.
//!
//! Run with `cargo bench --bench sql_vs_handwritten`. The warehouse is kept
//! at `$WENSHU_BENCH_WAREHOUSE`, by default
//! `$HOME/.cache/wenshu/bench/demo-scale50-seed42.duckdb`, outside the
//! repository. `WENSHU_BENCH_ONLY` runs only the questions whose name
//! contains its text. See `docs/benchmarks.md` for the numbers.
//!
//! With `SPARK_REMOTE=sc://HOST:PORT`, each question also runs on that
//! Spark Connect server, as the Spark SQL Wenshu generates for it. The data
//! is the same: the warehouse copied to Parquet at `$WENSHU_BENCH_PARQUET`
//! (by default beside the warehouse file, written when missing) and
//! registered as Spark tables, replacing tables of the same names. The
//! server must read that folder. Spark's rows are checked against DuckDB's,
//! then the Spark SQL runs `WENSHU_BENCH_ROUNDS` times after DuckDB's rounds
//! of the question. See `docs/scale-out.md` for the numbers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use wenshu::assistant::{Assistant, declared_tables};
use wenshu::demo::{DemoOptions, generate};
use wenshu::guard::{GuardDialect, SqlGuard};
use wenshu::warehouse::{DuckDb, Spark, SparkSettings, Table, Value, Warehouse};

const SCALE: u32 = 50;
const SEED: u64 = 42;
const DEFAULT_ROUNDS: usize = 12;
/// The largest ratio of medians, generated over fastest hand-written, that
/// counts as on target.
const TARGET_RATIO: f64 = 1.2;

/// Every fact row joined to the dimension tables an analyst's query starts
/// from, whether or not the question needs them.
const DEPOSITS: &str = "fact_deposit_daily f \
    JOIN dim_customer c ON c.customer_id = f.customer_id \
    JOIN dim_product p ON p.product_id = f.product_id \
    JOIN dim_branch b ON b.branch_id = f.branch_id";

/// One question, asked through Wenshu and written by hand.
///
/// The demo data ends on 2026-11-30, so that day is the reference date of
/// every question, and "this year" runs from 2026-01-01.
struct Case {
    name: &'static str,
    question: &'static str,
    /// SQL as the bank's analysts write it: every dimension table joined.
    analyst: String,
    /// The fastest SQL found by hand for the same rows: only the joins the
    /// question needs, and no step the answer does not need.
    tuned: String,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "balance_by_branch",
            question: "各支行存款余额",
            analyst: format!(
                "SELECT b.branch_name, SUM(f.balance) FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '2026-11-30' GROUP BY 1"
            ),
            tuned: "SELECT b.branch_name, SUM(f.balance) FROM fact_deposit_daily f \
                 JOIN dim_branch b ON b.branch_id = f.branch_id \
                 WHERE f.biz_date = DATE '2026-11-30' GROUP BY 1"
                .to_owned(),
        },
        Case {
            name: "average_daily_balance_year_to_date",
            question: "今年以来日均存款",
            analyst: format!(
                "SELECT SUM(f.balance) / (DATE '2026-11-30' - DATE '2026-01-01' + 1) FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30'"
            ),
            tuned: "SELECT SUM(balance) / (DATE '2026-11-30' - DATE '2026-01-01' + 1) \
                 FROM fact_deposit_daily WHERE biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30'"
                .to_owned(),
        },
        Case {
            name: "monthly_balance_series",
            question: "今年每个月的存款余额",
            // Every month of the demo data has its last calendar day.
            analyst: format!(
                "SELECT CAST(DATE_TRUNC('month', f.biz_date) AS DATE), SUM(f.balance) FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30' \
                 AND f.biz_date = LAST_DAY(f.biz_date) GROUP BY 1 ORDER BY 1"
            ),
            // The last day of each month with data, found among a few
            // hundred distinct days rather than by grouping every row.
            tuned: "SELECT CAST(DATE_TRUNC('month', biz_date) AS DATE), SUM(balance) FROM fact_deposit_daily \
                 WHERE biz_date IN (SELECT MAX(day) FROM (SELECT DISTINCT biz_date AS day FROM fact_deposit_daily \
                 WHERE biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30') \
                 GROUP BY DATE_TRUNC('month', day)) GROUP BY 1 ORDER BY 1"
                .to_owned(),
        },
        Case {
            name: "monthly_average_daily_balance",
            question: "近12个月日均存款趋势",
            analyst: format!(
                "SELECT month, total / DAY(LAST_DAY(month)) FROM (\
                 SELECT CAST(DATE_TRUNC('month', f.biz_date) AS DATE) AS month, SUM(f.balance) AS total \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '2025-12-01' AND DATE '2026-11-30' \
                 GROUP BY 1) ORDER BY 1"
            ),
            tuned: "SELECT month, total / DAY(LAST_DAY(month)) FROM (\
                 SELECT CAST(DATE_TRUNC('month', biz_date) AS DATE) AS month, SUM(balance) AS total \
                 FROM fact_deposit_daily WHERE biz_date BETWEEN DATE '2025-12-01' AND DATE '2026-11-30' \
                 GROUP BY 1) ORDER BY 1"
                .to_owned(),
        },
        Case {
            name: "demand_deposit_share",
            question: "活期存款占比是多少",
            analyst: format!(
                "SELECT SUM(CASE WHEN p.term_type = '活期' THEN f.balance ELSE 0 END) * 100.0 / SUM(f.balance) \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-11-30'"
            ),
            tuned: "SELECT SUM(CASE WHEN p.term_type = '活期' THEN f.balance ELSE 0 END) * 100.0 / SUM(f.balance) \
                 FROM fact_deposit_daily f JOIN dim_product p ON p.product_id = f.product_id \
                 WHERE f.biz_date = DATE '2026-11-30'"
                .to_owned(),
        },
        Case {
            name: "share_by_product_category",
            question: "按产品类别看存款结构",
            analyst: format!(
                "SELECT p.product_category, SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER () \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-11-30' GROUP BY 1"
            ),
            tuned: "SELECT p.product_category, SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER () \
                 FROM fact_deposit_daily f JOIN dim_product p ON p.product_id = f.product_id \
                 WHERE f.biz_date = DATE '2026-11-30' GROUP BY 1"
                .to_owned(),
        },
        Case {
            name: "increase_since_year_start",
            question: "存款比年初增加了多少",
            analyst: format!(
                "SELECT SUM(CASE WHEN f.biz_date = DATE '2026-11-30' THEN f.balance ELSE -f.balance END) \
                 FROM {DEPOSITS} WHERE f.biz_date IN (DATE '2026-11-30', DATE '2025-12-31')"
            ),
            tuned: "SELECT SUM(CASE WHEN biz_date = DATE '2026-11-30' THEN balance ELSE -balance END) \
                 FROM fact_deposit_daily WHERE biz_date IN (DATE '2026-11-30', DATE '2025-12-31')"
                .to_owned(),
        },
        Case {
            name: "growth_rate_year_on_year",
            question: "存款同比增长率",
            analyst: format!(
                "SELECT (now - earlier) * 100.0 / earlier FROM (SELECT \
                 SUM(CASE WHEN f.biz_date = DATE '2026-11-30' THEN f.balance END) AS now, \
                 SUM(CASE WHEN f.biz_date = DATE '2025-11-30' THEN f.balance END) AS earlier \
                 FROM {DEPOSITS} WHERE f.biz_date IN (DATE '2026-11-30', DATE '2025-11-30'))"
            ),
            tuned: "SELECT (now - earlier) * 100.0 / earlier FROM (SELECT \
                 SUM(CASE WHEN biz_date = DATE '2026-11-30' THEN balance END) AS now, \
                 SUM(CASE WHEN biz_date = DATE '2025-11-30' THEN balance END) AS earlier \
                 FROM fact_deposit_daily WHERE biz_date IN (DATE '2026-11-30', DATE '2025-11-30'))"
                .to_owned(),
        },
        Case {
            name: "performance_deposits_top_10_managers",
            question: "客户经理绩效存款排名前10",
            analyst: "SELECT m.manager_name, SUM(f.balance * s.share) FROM fact_deposit_daily f \
                 JOIN dim_customer c ON c.customer_id = f.customer_id \
                 JOIN dim_product p ON p.product_id = f.product_id \
                 JOIN dim_branch b ON b.branch_id = f.branch_id \
                 JOIN bridge_account_manager s ON s.account_id = f.account_id \
                 JOIN dim_account_manager m ON m.manager_id = s.manager_id \
                 WHERE f.biz_date = DATE '2026-11-30' GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
                .to_owned(),
            tuned: "SELECT m.manager_name, SUM(f.balance * s.share) FROM fact_deposit_daily f \
                 JOIN bridge_account_manager s ON s.account_id = f.account_id \
                 JOIN dim_account_manager m ON m.manager_id = s.manager_id \
                 WHERE f.biz_date = DATE '2026-11-30' GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
                .to_owned(),
        },
        Case {
            name: "average_daily_balance_by_product_category",
            question: "各产品类别今年的日均存款",
            analyst: format!(
                "SELECT p.product_category, SUM(f.balance) / (DATE '2026-11-30' - DATE '2026-01-01' + 1) \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30' GROUP BY 1"
            ),
            // Summed per product before the join to the 14 products.
            tuned: "SELECT p.product_category, SUM(s.total) / (DATE '2026-11-30' - DATE '2026-01-01' + 1) \
                 FROM (SELECT product_id, SUM(balance) AS total FROM fact_deposit_daily \
                 WHERE biz_date BETWEEN DATE '2026-01-01' AND DATE '2026-11-30' GROUP BY 1) s \
                 JOIN dim_product p ON p.product_id = s.product_id GROUP BY 1"
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
    // should not generate and scan a warehouse of several gigabytes.
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

/// Returns the SQL the server runs for each case's question, in order, in
/// DuckDB's dialect or Spark SQL.
fn generated_sql(
    path: &std::path::Path,
    cases: &[Case],
    dialect: GuardDialect,
) -> Result<Vec<String>, String> {
    let layer_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("semantic_layer");
    let assistant = Assistant::open(&layer_dir, path)
        .map_err(|error| format!("cannot open the assistant: {error}"))?;
    // The same guard and row cap as the assistant's own, which keeps one
    // row over the cap to show a cut.
    let guard = SqlGuard::new(declared_tables(assistant.layer()), assistant.max_rows() + 1)
        .with_dialect(dialect);
    let compiler_dialect: &dyn wenshu::compiler::Dialect = match dialect {
        GuardDialect::DuckDb => &wenshu::compiler::DuckDb,
        GuardDialect::Spark => &wenshu::compiler::SparkSql,
    };
    let mut statements = Vec::with_capacity(cases.len());
    for case in cases {
        let Some(compiled) = assistant.compile_question_with(case.question, compiler_dialect)
        else {
            return Err(format!(
                "`{}`: the question `{}` does not compile to SQL",
                case.name, case.question
            ));
        };
        let guarded = guard
            .check(&compiled.sql)
            .map_err(|error| format!("`{}`: the guard rejects the SQL: {error}", case.name))?;
        statements.push(guarded.sql);
    }
    Ok(statements)
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

    let only = std::env::var("WENSHU_BENCH_ONLY").unwrap_or_default();
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|case| case.name.contains(&only))
        .collect();
    let generated = generated_sql(&path, &cases, GuardDialect::DuckDb)?;
    let spark = match std::env::var("SPARK_REMOTE") {
        Ok(remote) if !remote.trim().is_empty() => Some((
            spark_copy(remote.trim(), &path)?,
            generated_sql(&path, &cases, GuardDialect::Spark)?,
        )),
        _ => None,
    };

    let warehouse = DuckDb::open_read_only(&path).map_err(|error| error.to_string())?;
    let rows: i64 = match warehouse.query("SELECT count(*) FROM fact_deposit_daily") {
        Ok(table) => match table.rows.first().and_then(|row| row.first()) {
            Some(Value::Int(count)) => *count,
            other => return Err(format!("unexpected row count {other:?}")),
        },
        Err(error) => return Err(format!("cannot count rows: {error}")),
    };
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

    let mut ratios = Vec::with_capacity(cases.len());
    let mut spark_ratios = Vec::new();
    for (index, (case, generated)) in cases.iter().zip(&generated).enumerate() {
        let statements = [
            ("generated", generated.as_str()),
            ("analyst", case.analyst.as_str()),
            ("tuned", case.tuned.as_str()),
        ];

        let (expected, _) = time_query(&warehouse, statements[0].1)?;
        for (label, sql) in &statements[1..] {
            let (rows, _) = time_query(&warehouse, sql)?;
            if let Err(difference) = same_rows(&expected, &rows) {
                return Err(format!(
                    "`{}`: {label} disagrees with generated: {difference}",
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
        let summaries = report(case.name, case.question, &labels, &timings);
        let fastest_hand = summaries[1].median.min(summaries[2].median);
        ratios.push((case.name, summaries[0].median / fastest_hand));

        // Spark runs after DuckDB's rounds, so that its scans of the Parquet
        // copy do not sit between DuckDB's statements.
        if let Some((spark, spark_sql)) = &spark {
            let sql = spark_sql[index].as_str();
            let (rows, _) = time_query(spark, sql)?;
            if let Err(difference) = same_rows(&expected, &rows) {
                return Err(format!(
                    "`{}`: Spark disagrees with DuckDB: {difference}",
                    case.name
                ));
            }
            let mut spark_timings = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                spark_timings.push(time_query(spark, sql)?.1);
            }
            let summary = Summary::of(&spark_timings);
            println!(
                "  spark (Spark SQL, {rounds} runs): min {:.2} ms, median {:.2} ms, max {:.2} ms",
                summary.min, summary.median, summary.max
            );
            spark_ratios.push((case.name, summaries[0].median, summary.median));
        }
    }
    if !spark_ratios.is_empty() {
        println!("\nSpark / DuckDB, generated SQL (medians):");
        for (name, duckdb, spark) in &spark_ratios {
            println!(
                "  {name:<44} DuckDB {duckdb:>9.1} ms  Spark {spark:>9.1} ms  {:>6.1}x",
                spark / duckdb
            );
        }
    }

    println!("\ngenerated / fastest hand-written (medians), target {TARGET_RATIO}:");
    for (name, ratio) in &ratios {
        let verdict = if *ratio <= TARGET_RATIO {
            "met"
        } else {
            "MISSED"
        };
        println!("  {name:<44} {ratio:>5.2}  {verdict}");
    }
    Ok(())
}

/// Connects to Spark and registers the Parquet copy of the warehouse at
/// `path`, writing the copy first when it is missing.
fn spark_copy(remote: &str, path: &std::path::Path) -> Result<Spark, String> {
    let folder = match std::env::var_os("WENSHU_BENCH_PARQUET") {
        Some(folder) => PathBuf::from(folder),
        None => path.with_extension("parquet"),
    };
    let script_path = folder.join(wenshu::demo::SPARK_SCRIPT);
    if !script_path.exists() {
        println!(
            "copying {} to Parquet at {}",
            path.display(),
            folder.display()
        );
        wenshu::demo::export_parquet(path, &folder)
            .map_err(|error| format!("cannot write Parquet: {error}"))?;
    }
    let script = std::fs::read_to_string(&script_path)
        .map_err(|error| format!("cannot read `{}`: {error}", script_path.display()))?;
    let spark =
        Spark::connect(remote, &SparkSettings::default()).map_err(|error| error.to_string())?;
    spark
        .execute_script(&script)
        .map_err(|error| format!("cannot register the Parquet tables: {error}"))?;
    let version = spark
        .query("SELECT version()")
        .map_err(|error| error.to_string())?;
    println!(
        "Spark {} at {remote}, tables from {}",
        version
            .rows
            .first()
            .and_then(|row| row.first())
            .map(Value::to_string)
            .unwrap_or_default(),
        folder.display()
    );
    Ok(spark)
}

fn time_query(warehouse: &dyn Warehouse, sql: &str) -> Result<(Table, Duration), String> {
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

/// Prints the timings of one question and returns their summaries.
fn report(name: &str, question: &str, labels: &[&str], timings: &[Vec<Duration>]) -> Vec<Summary> {
    let summaries: Vec<Summary> = timings.iter().map(|side| Summary::of(side)).collect();
    println!("\n{name} ({question})");
    println!(
        "  {:<12} {:>9} {:>9} {:>9} {:>9}",
        "", "min ms", "median ms", "mean ms", "max ms"
    );
    for (label, summary) in labels.iter().zip(&summaries) {
        println!(
            "  {label:<12} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            summary.min, summary.median, summary.mean, summary.max
        );
    }
    for (label, summary) in labels.iter().zip(&summaries).skip(1) {
        println!(
            "  generated / {label} (medians): {:.2}",
            summaries[0].median / summary.median
        );
    }
    summaries
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
