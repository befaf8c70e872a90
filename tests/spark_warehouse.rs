//! The Spark backend against a real Spark Connect server.
//!
//! These tests need a server: `SPARK_REMOTE=sc://127.0.0.1:15002` names it
//! (`.ci/run` starts one). Without `SPARK_REMOTE` each test prints that it
//! is skipped and passes. The server must read files on this machine: the
//! demo warehouse is exported to Parquet under the tests' scratch folder
//! and registered there as Spark tables.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wenshu::assistant::{AnswerKind, Assistant, ChatResponse, ConversationState, QuerySettings};
use wenshu::warehouse::{Spark, SparkSettings, Value, Warehouse, WarehouseError, WarehouseSource};

/// Returns the Spark Connect address, or None (and a note) when the tests
/// are skipped.
fn spark_remote(test: &str) -> Option<String> {
    match std::env::var("SPARK_REMOTE") {
        Ok(remote) if !remote.trim().is_empty() => Some(remote.trim().to_owned()),
        _ => {
            println!(
                "skipped {test}: SPARK_REMOTE is not set (e.g. SPARK_REMOTE=sc://127.0.0.1:15002)"
            );
            None
        }
    }
}

fn demo_warehouse() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::generate_demo_warehouse("spark-warehouse"))
}

/// Exports the demo warehouse to Parquet and registers it on Spark, once
/// per test run.
fn load_demo_into_spark(remote: &str) {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spark-warehouse/parquet");
        wenshu::demo::export_parquet(demo_warehouse(), &folder)
            .unwrap_or_else(|error| panic!("cannot export the demo to Parquet: {error}"));
        let script = std::fs::read_to_string(folder.join(wenshu::demo::SPARK_SCRIPT))
            .expect("the registration script");
        Spark::connect(remote, &SparkSettings::default())
            .and_then(|spark| spark.execute_script(&script))
            .unwrap_or_else(|error| panic!("cannot register the demo tables on Spark: {error}"));
    });
}

fn duckdb_assistant() -> &'static Assistant {
    static ASSISTANT: OnceLock<Assistant> = OnceLock::new();
    ASSISTANT.get_or_init(|| common::open_assistant(demo_warehouse()))
}

fn spark_assistant(remote: &str) -> &'static Assistant {
    static ASSISTANT: OnceLock<Assistant> = OnceLock::new();
    ASSISTANT.get_or_init(|| {
        load_demo_into_spark(remote);
        let knowledge_base = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge_base");
        Assistant::connect(
            &common::semantic_layer_dir(),
            &WarehouseSource::parse(remote).expect("a Spark Connect address"),
            QuerySettings::default(),
        )
        .and_then(|assistant| assistant.with_knowledge_base_dir(&knowledge_base))
        .unwrap_or_else(|error| panic!("cannot open the assistant on Spark: {error}"))
    })
}

/// Conversations to compare: the dev question set when `../shared` is
/// there, and questions of every metric kind in any case.
fn conversations() -> Vec<Vec<String>> {
    let mut conversations: Vec<Vec<String>> = [
        "全行存款余额是多少？",
        "各支行存款余额前五",
        "今年以来个人存款日均是多少？",
        "每月存款余额",
        "活期存款占比",
        "存款余额同比增长多少",
        "本月存款余额环比",
        "对公存款比年初增加了多少",
        "各客户经理存款余额前十",
        "今年哪个月日均存款最高",
    ]
    .iter()
    .map(|question| vec![(*question).to_owned()])
    .collect();
    conversations.push(vec![
        "今年以来个人存款日均是多少？".to_owned(),
        "那上个月呢？".to_owned(),
        "只看对公".to_owned(),
    ]);
    let dev_set = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/metrics_dev.jsonl");
    if let Ok(text) = std::fs::read_to_string(&dev_set) {
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let record: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let turns = record["turns"]
                .as_array()
                .expect("turns")
                .iter()
                .map(|turn| turn["q"].as_str().expect("a question").to_owned())
                .collect();
            conversations.push(turns);
        }
    } else {
        println!(
            "no dev set at `{}`; comparing the built-in questions only",
            dev_set.display()
        );
    }
    conversations
}

fn same_value(left: &Value, right: &Value) -> bool {
    match (left.as_f64(), right.as_f64()) {
        (Some(left), Some(right)) => (left - right).abs() <= 1e-10 * left.abs().max(1.0),
        _ => left == right,
    }
}

/// Describes how two answers to the same question differ, if they do.
fn difference(duckdb: &ChatResponse, spark: &ChatResponse) -> Option<String> {
    if duckdb.kind != spark.kind {
        return Some(format!("kind {:?} vs {:?}", duckdb.kind, spark.kind));
    }
    let duckdb_rows = duckdb.rows.clone().unwrap_or_default();
    let spark_rows = spark.rows.clone().unwrap_or_default();
    if duckdb_rows.len() != spark_rows.len() {
        return Some(format!(
            "{} rows vs {}",
            duckdb_rows.len(),
            spark_rows.len()
        ));
    }
    for (duckdb_row, spark_row) in duckdb_rows.iter().zip(&spark_rows) {
        let equal = duckdb_row.len() == spark_row.len()
            && duckdb_row
                .iter()
                .zip(spark_row)
                .all(|(a, b)| same_value(a, b));
        if !equal {
            return Some(format!("row {duckdb_row:?} vs {spark_row:?}"));
        }
    }
    if duckdb.text != spark.text {
        return Some(format!("text `{}` vs `{}`", duckdb.text, spark.text));
    }
    None
}

#[test]
fn spark_answers_equal_duckdb() {
    let Some(remote) = spark_remote("spark_answers_equal_duckdb") else {
        return;
    };
    let spark = spark_assistant(&remote);
    let duckdb = duckdb_assistant();

    let mut compared = 0;
    let mut differences = Vec::new();
    for turns in conversations() {
        let mut duckdb_state = ConversationState::default();
        let mut spark_state = ConversationState::default();
        for question in &turns {
            let expected = duckdb.respond("parity", &mut duckdb_state, question);
            let actual = spark.respond("parity", &mut spark_state, question);
            compared += 1;
            if let Some(difference) = difference(&expected, &actual) {
                differences.push(format!("{question}: {difference}"));
            }
        }
    }
    println!("compared {compared} answers");
    assert!(differences.is_empty(), "{differences:#?}");
}

#[test]
fn catalog_reads_through_spark() {
    let Some(remote) = spark_remote("catalog_reads_through_spark") else {
        return;
    };
    let spark = spark_assistant(&remote);
    let duckdb = duckdb_assistant();

    assert_eq!(spark.reference_date(), duckdb.reference_date());
    let layer = wenshu::semantic::load_dir(&common::semantic_layer_dir()).unwrap();
    let warehouse = Spark::connect(&remote, &SparkSettings::default()).unwrap();
    let diagnostics = wenshu::semantic::check_warehouse(&layer, &warehouse);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    // A branch name from the warehouse is a word the rules read.
    let answer = spark.respond(
        "catalog",
        &mut ConversationState::default(),
        "梅江支行存款余额",
    );
    assert_eq!(answer.kind, AnswerKind::Metric, "{}", answer.text);
}

#[test]
fn slow_query_stops_at_limit() {
    let Some(remote) = spark_remote("slow_query_stops_at_limit") else {
        return;
    };
    let spark = Spark::connect(&remote, &SparkSettings::default()).unwrap();
    let slow = "SELECT count(*) FROM range(100000000000) AS a WHERE id % 7 = 3 AND sqrt(id) > 2";

    let started = Instant::now();
    let result = spark.query_with_limit(slow, Duration::from_secs(2));

    assert!(
        matches!(result, Err(WarehouseError::Timeout { .. })),
        "{result:?}"
    );
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2 + 5 + 5), "waited {waited:?}");
    let after = spark
        .query_with_limit("SELECT 1 AS one", Duration::from_secs(30))
        .unwrap();
    assert_eq!(after.rows, vec![vec![Value::Int(1)]]);
}

#[test]
fn guard_caps_rows_and_blocks_files() {
    let Some(remote) = spark_remote("guard_caps_rows_and_blocks_files") else {
        return;
    };
    load_demo_into_spark(&remote);
    let settings = QuerySettings {
        max_rows: 3,
        ..QuerySettings::default()
    };
    let assistant = Assistant::connect(
        &common::semantic_layer_dir(),
        &WarehouseSource::parse(&remote).expect("a Spark Connect address"),
        settings,
    )
    .unwrap();

    let (_, table) = assistant
        .run_sql("SELECT customer_id FROM dim_customer")
        .unwrap();
    assert_eq!(
        table.rows.len(),
        4,
        "the cap plus one row that shows the cut"
    );
    let answer = assistant.respond(
        "cap",
        &mut ConversationState::default(),
        "各客户经理存款余额",
    );
    assert!(answer.rows.unwrap_or_default().len() <= 3);

    let secret = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spark-warehouse/parquet/dim_branch");
    for hostile in [
        format!("SELECT * FROM parquet.`{}`", secret.display()),
        "SELECT reflect('java.lang.System', 'getenv', 'HOME')".to_owned(),
        "CREATE TABLE stolen AS SELECT * FROM dim_customer".to_owned(),
        "SET spark.sql.runSQLOnFiles=true".to_owned(),
    ] {
        assert!(assistant.run_sql(&hostile).is_err(), "`{hostile}` ran");
    }
    // Past the guard too, the session reads no files directly.
    let spark = Spark::connect(&remote, &SparkSettings::default()).unwrap();
    let direct = spark.query(&format!("SELECT * FROM parquet.`{}`", secret.display()));
    assert!(direct.is_err(), "{direct:?}");
}

#[test]
fn conformance_matches_duckdb() {
    let Some(remote) = spark_remote("conformance_matches_duckdb") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/metricflow");
    if !root.is_dir() {
        println!("skipped: no conformance fixtures at `{}`", root.display());
        return;
    }
    let options = wenshu::conformance::ConformanceOptions {
        root,
        cases_dir: None,
        name_filter: None,
        spark: None,
    };
    let mut output = Vec::new();
    let on_duckdb = wenshu::conformance::run(&options, &mut output).unwrap();
    let on_spark_options = wenshu::conformance::ConformanceOptions {
        spark: Some(remote),
        ..options
    };
    let mut output = Vec::new();
    let on_spark = wenshu::conformance::run(&on_spark_options, &mut output).unwrap();

    println!("{}", String::from_utf8_lossy(&output));
    println!(
        "DuckDB: {} passed, {} failed; Spark: {} passed, {} failed",
        on_duckdb.passed,
        on_duckdb.failed.len(),
        on_spark.passed,
        on_spark.failed.len()
    );
    assert_eq!(on_spark.skipped, on_duckdb.skipped);
    assert!(on_duckdb.failed.is_empty(), "{:#?}", on_duckdb.failed);
    assert!(on_spark.failed.is_empty(), "{:#?}", on_spark.failed);
    assert_eq!(on_spark.passed, on_duckdb.passed);
}
