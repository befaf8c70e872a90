//! Spark SQL from the compiler and the SQL guard's Spark mode. Running the
//! SQL needs a Spark Connect server, so these tests check two things
//! without one. Compiled Spark SQL passes the guard, and hostile Spark
//! statements do not.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wenshu::assistant::{Assistant, declared_tables};
use wenshu::compiler::SparkSql;
use wenshu::guard::{GuardDialect, SqlGuard};

fn demo_warehouse() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::generate_demo_warehouse("spark-sql"))
}

fn assistant() -> &'static Assistant {
    static ASSISTANT: OnceLock<Assistant> = OnceLock::new();
    ASSISTANT.get_or_init(|| common::open_assistant(demo_warehouse()))
}

fn spark_guard() -> SqlGuard {
    SqlGuard::new(declared_tables(assistant().layer()), 5_000).with_dialect(GuardDialect::Spark)
}

/// Questions covering every kind of metric: balances (semi-additive), daily
/// averages, shares, growth with offsets, ratios, counts, performance
/// deposits through the bridge table, series and rankings.
const QUESTIONS: &[&str] = &[
    "全行存款余额是多少？",
    "各支行存款余额前五",
    "今年以来个人存款日均是多少？",
    "每月存款余额",
    "各季度日均存款",
    "活期存款占比",
    "各产品类别存款占比",
    "存款余额同比增长多少",
    "存款余额环比",
    "比年初增量",
    "户均存款",
    "存款客户数",
    "今年新开户数",
    "存款付息率",
    "10月存款偏离度",
    "各客户经理绩效存款前十",
    "绩效日均",
    "今年哪个月日均存款最高",
    "2025年末对公定期存款余额",
    "近6个月每月个人存款余额",
];

#[test]
fn compiled_spark_sql_passes_spark_guard() {
    let guard = spark_guard();
    for question in QUESTIONS {
        let compiled = assistant()
            .compile_question_with(question, &SparkSql)
            .unwrap_or_else(|| panic!("`{question}` does not compile"));

        let guarded = guard
            .check(&compiled.sql)
            .unwrap_or_else(|error| panic!("`{question}`: {error}\n{}", compiled.sql));

        assert!(guarded.sql.contains('`'), "`{question}`: {}", guarded.sql);
        assert!(
            !guarded.sql.contains('"'),
            "`{question}` has a double quote: {}",
            guarded.sql
        );
    }
}

#[test]
fn spark_guard_rejects_hostile_statements() {
    let guard = spark_guard();
    let hostile = [
        "SELECT * FROM parquet.`/etc/passwd`",
        "SELECT * FROM delta.`/tmp/table`",
        "SELECT * FROM read_files('/etc')",
        "SELECT * FROM range(10)",
        "SELECT reflect('java.lang.Runtime', 'getRuntime')",
        "SELECT java_method('java.lang.System', 'getenv', 'HOME')",
        "SELECT input_file_name() FROM dim_branch",
        "INSERT INTO dim_branch SELECT * FROM dim_branch",
        "CREATE TABLE copied USING parquet LOCATION '/tmp/copied' AS SELECT * FROM dim_branch",
        "DROP TABLE dim_branch",
        "SELECT * FROM dim_branch; DROP TABLE dim_branch",
        "SET spark.sql.ansi.enabled = false",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM secret_table",
    ];
    for statement in hostile {
        assert!(guard.check(statement).is_err(), "accepted: {statement}");
    }
}

#[test]
fn spark_guard_caps_rows_with_a_limit() {
    let guarded = spark_guard()
        .check("SELECT `branch_name` FROM dim_branch")
        .unwrap();

    assert_eq!(guarded.limit, 5_000);
    assert!(guarded.sql.ends_with("LIMIT 5000"), "{}", guarded.sql);
    assert!(guarded.sql.contains("`branch_name`"), "{}", guarded.sql);
}
