//! The SQL guard: the check every statement passes before it runs on the
//! warehouse.
//!
//! Wenshu runs SQL from three sources: the compiler, a language model and an
//! analyst's raw-SQL request. Each statement must be exactly one read-only
//! query over the tables the semantic layer declares, and it runs with a row
//! cap. [`SqlGuard::check`] parses the text with sqlparser's DuckDB dialect,
//! walks the whole syntax tree and returns the query re-rendered from that
//! tree. DuckDB then runs the tree that was checked, without the comments
//! and spacing of the original text.
//!
//! The rules, in the order they are checked:
//!
//! 1. The text is not empty, parses, and contains exactly one statement.
//! 2. The statement is a query. DDL, DML, `PRAGMA`, `SET`, `ATTACH`, `COPY`,
//!    `INSTALL`, `LOAD`, `CALL` and the rest are rejected, also when DML is
//!    nested in a query as `WITH … INSERT`.
//! 3. Every relation in every nested query is a plain name of a declared
//!    table or of a CTE in scope. So table functions (`read_csv(…)`,
//!    `range(…)`), file paths (`FROM 'x.csv'`) and catalog views
//!    (`information_schema.tables`) are rejected.
//! 4. Every function call is on the allow-list in [`functions`].
//! 5. No `SELECT … INTO`, no `WITH RECURSIVE`, and no clause DuckDB does not
//!    run (`FETCH`, `FOR UPDATE`, `LIMIT BY`).
//! 6. The outermost `LIMIT` is an integer literal. A missing one, or one
//!    above the row cap, becomes the cap.

mod checker;
mod functions;

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, LimitClause, Offset, OffsetRows, Query, Statement, Value, Visit};
use sqlparser::dialect::{Dialect, DuckDbDialect, SparkSqlDialect};
use sqlparser::parser::{Parser, ParserError};

use checker::{DeclaredTables, QueryChecker, statement_kind};

/// Checks SQL against the semantic layer's tables and caps its rows.
#[derive(Debug, Clone)]
pub struct SqlGuard {
    tables: DeclaredTables,
    max_rows: u64,
    dialect: GuardDialect,
}

/// The SQL dialect a guard parses and re-renders statements in: that of the
/// warehouse they run on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GuardDialect {
    /// DuckDB, the embedded warehouse.
    #[default]
    DuckDb,
    /// Spark SQL, with backtick-quoted names.
    Spark,
}

/// A query that passed the guard.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardedSql {
    /// The query re-rendered from its syntax tree, with the capped `LIMIT`.
    pub sql: String,
    /// The `LIMIT` of `sql`: the query's own limit, or the row cap if that
    /// is smaller or the query had none.
    pub limit: u64,
}

/// The reason the guard rejected a statement.
///
/// Each message names the rejected part, in Chinese first and then in
/// English, because analysts read it in the chat. [`GuardError::code`]
/// returns a stable code for programs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GuardError {
    #[error("SQL 为空 / the SQL text is empty")]
    Empty,

    /// sqlparser's DuckDB dialect cannot parse the text. This includes DuckDB
    /// statements it does not know, such as `EXPORT DATABASE` and `CHECKPOINT`.
    #[error("SQL 无法解析 / cannot parse the SQL: {message}")]
    Parse { message: String },

    #[error("只能执行一条语句，这里有 {count} 条 / expected exactly one statement, found {count}")]
    MultipleStatements { count: usize },

    /// A statement other than a query, named by its leading keywords.
    #[error("只能执行查询语句，不能执行 {kind} / only queries are allowed, not {kind}")]
    NotAQuery { kind: String },

    #[error(
        "不允许访问表 `{table}`{} / table `{table}` is not declared in the semantic layer{}",
        zh_did_you_mean(.suggestion),
        did_you_mean(.suggestion)
    )]
    UnknownTable {
        /// The name as written, in lower case, with its schema if it had one.
        table: String,
        /// The closest declared table name, if one is close.
        suggestion: Option<String>,
    },

    /// A relation that is computed rather than read from a table:
    /// `read_csv(…)`, `UNNEST(…)`, `TABLE(…)`.
    #[error(
        "不允许调用表函数 `{name}` / table function `{name}` is not allowed; read a declared table instead"
    )]
    TableFunction { name: String },

    /// A relation written as a string (`FROM 'x.csv'`) or as a quoted name
    /// with `/`, `\`, `.` or `:` in it, which DuckDB reads as a file.
    #[error(
        "不允许读取文件 `{path}` / reading the file `{path}` is not allowed; read a declared table instead"
    )]
    FilePath { path: String },

    /// A function off the allow-list, or any schema-qualified function.
    #[error("不允许调用函数 `{name}` / function `{name}` is not on the allow-list")]
    UnknownFunction { name: String },

    #[error(
        "不允许 SELECT … INTO（`{target}`） / SELECT … INTO is not allowed (`{target}`); only read data"
    )]
    SelectInto { target: String },

    #[error(
        "LIMIT 必须是非负整数常量，不能是 `{limit}` / LIMIT must be a non-negative integer literal, not `{limit}`"
    )]
    LimitNotLiteral { limit: String },

    /// A clause the guard does not pass: `WITH RECURSIVE`, `FETCH`,
    /// `FOR UPDATE`, `LIMIT BY` and other dialects' clauses.
    #[error(
        "不支持 {syntax} / {syntax} is not supported in checked SQL; rewrite the query without it"
    )]
    UnsupportedSyntax { syntax: String },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!("; did you mean `{name}`?"),
        None => String::new(),
    }
}

fn zh_did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!("（是否要查 `{name}`？）"),
        None => String::new(),
    }
}

impl GuardError {
    /// Returns a stable machine-readable code for the kind of rejection.
    pub fn code(&self) -> &'static str {
        match self {
            GuardError::Empty => "empty",
            GuardError::Parse { .. } => "parse_error",
            GuardError::MultipleStatements { .. } => "multiple_statements",
            GuardError::NotAQuery { .. } => "not_a_query",
            GuardError::UnknownTable { .. } => "unknown_table",
            GuardError::TableFunction { .. } => "table_function",
            GuardError::FilePath { .. } => "file_path",
            GuardError::UnknownFunction { .. } => "unknown_function",
            GuardError::SelectInto { .. } => "select_into",
            GuardError::LimitNotLiteral { .. } => "limit_not_literal",
            GuardError::UnsupportedSyntax { .. } => "unsupported_syntax",
        }
    }
}

impl SqlGuard {
    /// Creates a guard over the tables the semantic layer declares.
    ///
    /// `tables` are the relation names as the semantic layer writes them,
    /// either bare (`fact_deposit_daily`) or schema-qualified
    /// (`main.fact_deposit_daily`), matched case-insensitively as DuckDB
    /// does. A bare name also matches `main.name`, DuckDB's default schema.
    /// `max_rows` is the row cap that [`SqlGuard::check`] puts in the
    /// outermost `LIMIT`.
    pub fn new(tables: impl IntoIterator<Item = String>, max_rows: u64) -> SqlGuard {
        SqlGuard {
            tables: DeclaredTables::new(tables),
            max_rows,
            dialect: GuardDialect::DuckDb,
        }
    }

    /// Checks statements in `dialect` instead of DuckDB's. The rules are the
    /// same; only the parsing and the re-rendered text differ.
    pub fn with_dialect(mut self, dialect: GuardDialect) -> SqlGuard {
        self.dialect = dialect;
        self
    }

    /// Checks one SQL text and returns the query to run in its place.
    ///
    /// The returned SQL is the same query re-rendered from its syntax tree,
    /// with an outermost `LIMIT` of at most the row cap: a smaller literal
    /// `LIMIT` stays, a larger or missing one becomes the cap, and `OFFSET`
    /// stays. The module documentation lists the rules behind each error.
    pub fn check(&self, sql: &str) -> Result<GuardedSql, GuardError> {
        if sql.trim().is_empty() {
            return Err(GuardError::Empty);
        }

        let parser_dialect: &dyn Dialect = match self.dialect {
            GuardDialect::DuckDb => &DuckDbDialect {},
            GuardDialect::Spark => &SparkSqlDialect {},
        };
        let mut statements =
            Parser::parse_sql(parser_dialect, sql).map_err(|error| GuardError::Parse {
                message: parser_message(error),
            })?;
        if statements.len() > 1 {
            return Err(GuardError::MultipleStatements {
                count: statements.len(),
            });
        }
        // A text of only comments and semicolons parses to no statement.
        let Some(statement) = statements.pop() else {
            return Err(GuardError::Empty);
        };
        let mut query = match statement {
            Statement::Query(query) => query,
            other => {
                return Err(GuardError::NotAQuery {
                    kind: statement_kind(&other),
                });
            }
        };

        let mut checker = QueryChecker::new(&self.tables);
        if let ControlFlow::Break(error) = query.visit(&mut checker) {
            return Err(error);
        }

        let limit = cap_limit(&mut query, self.max_rows)?;
        Ok(GuardedSql {
            sql: query.to_string(),
            limit,
        })
    }
}

/// Returns the parser's message without the "sql parser error: " prefix that
/// its `Display` adds.
fn parser_message(error: ParserError) -> String {
    match error {
        ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
        ParserError::RecursionLimitExceeded => "the SQL is nested too deeply".to_string(),
    }
}

/// Sets the outermost `LIMIT` of `query` to at most `max_rows` and returns
/// it. Limits inside subqueries stay as written, because the outermost one
/// bounds the result.
fn cap_limit(query: &mut Query, max_rows: u64) -> Result<u64, GuardError> {
    let (limit, offset) = match query.limit_clause.take() {
        None => (None, None),
        Some(LimitClause::LimitOffset { limit, offset, .. }) => (limit, offset),
        // MySQL's `LIMIT offset, count`, rewritten as `LIMIT count OFFSET offset`.
        // The DuckDB dialect of sqlparser 0.64 does not parse it.
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => (
            Some(limit),
            Some(Offset {
                value: offset,
                rows: OffsetRows::None,
            }),
        ),
    };

    let capped = match limit {
        None => max_rows,
        Some(expr) => literal_row_count(&expr)
            .ok_or_else(|| GuardError::LimitNotLiteral {
                limit: expr.to_string(),
            })?
            .min(max_rows),
    };

    // `limit_by` is always empty here: the checker rejects `LIMIT BY`.
    query.limit_clause = Some(LimitClause::LimitOffset {
        limit: Some(Expr::value(Value::Number(capped.to_string(), false))),
        offset,
        limit_by: Vec::new(),
    });
    Ok(capped)
}

/// Returns the row count of a `LIMIT` that is a non-negative integer literal,
/// possibly in parentheses.
fn literal_row_count(expr: &Expr) -> Option<u64> {
    match expr {
        Expr::Nested(inner) => literal_row_count(inner),
        Expr::Value(value) => match &value.value {
            Value::Number(digits, _) => digits.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::{DuckDb, Warehouse};

    /// The row cap of the guard under test.
    const MAX_ROWS: u64 = 1000;

    /// The relations that `semantic_layer/*.yaml` reads: each model's
    /// `node_relation.alias`, plus `bridge_account_manager`, which the SQL of
    /// the `performance_deposit_daily` model joins.
    const DECLARED_TABLES: &[&str] = &[
        "fact_deposit_daily",
        "dim_branch",
        "dim_customer",
        "dim_product",
        "dim_account",
        "dim_account_manager",
        "bridge_account_manager",
        "dim_date",
    ];

    fn guard() -> SqlGuard {
        SqlGuard::new(
            DECLARED_TABLES.iter().map(|table| table.to_string()),
            MAX_ROWS,
        )
    }

    /// Parses one query and drops its outermost `LIMIT` clause, so that two
    /// texts can be compared up to their limits.
    fn query_without_limit(sql: &str) -> Query {
        let mut statements = Parser::parse_sql(&DuckDbDialect {}, sql)
            .unwrap_or_else(|error| panic!("cannot parse {sql:?}: {error}"));
        assert_eq!(statements.len(), 1, "expected one statement in {sql:?}");
        let Some(Statement::Query(mut query)) = statements.pop() else {
            panic!("expected a query in {sql:?}");
        };
        query.limit_clause = None;
        *query
    }

    /// Inputs the guard must reject: the SQL, the expected error code and a
    /// fragment the message must contain to name the offending part.
    const REJECTED: &[(&str, &str, &str)] = &[
        // Statements that are not queries.
        ("DROP TABLE fact_deposit_daily", "not_a_query", "DROP TABLE"),
        (
            "drop view if exists v_vip_customers",
            "not_a_query",
            "DROP VIEW",
        ),
        (
            "DELETE FROM fact_deposit_daily WHERE 1 = 1",
            "not_a_query",
            "DELETE",
        ),
        (
            "UPDATE dim_branch SET branch_name = '梅江支行' WHERE branch_id = 1",
            "not_a_query",
            "UPDATE",
        ),
        (
            "INSERT INTO dim_branch VALUES (99, '假支行', '梅江区')",
            "not_a_query",
            "INSERT",
        ),
        (
            "INSERT INTO dim_branch SELECT * FROM dim_branch",
            "not_a_query",
            "INSERT",
        ),
        (
            "WITH copied AS (SELECT * FROM dim_branch) INSERT INTO dim_branch SELECT * FROM copied",
            "not_a_query",
            "INSERT",
        ),
        (
            "CREATE TABLE stolen AS SELECT * FROM dim_customer",
            "not_a_query",
            "CREATE TABLE",
        ),
        ("CREATE VIEW v AS SELECT 1", "not_a_query", "CREATE VIEW"),
        ("CREATE MACRO plus_one(a) AS a + 1", "not_a_query", "CREATE"),
        (
            "CREATE SECRET (TYPE S3, KEY_ID 'key', SECRET 'secret')",
            "not_a_query",
            "CREATE SECRET",
        ),
        (
            "ALTER TABLE dim_branch ADD COLUMN note VARCHAR",
            "not_a_query",
            "ALTER TABLE",
        ),
        ("TRUNCATE fact_deposit_daily", "not_a_query", "TRUNCATE"),
        (
            "MERGE INTO dim_branch USING dim_branch AS s ON TRUE WHEN MATCHED THEN DELETE",
            "not_a_query",
            "MERGE",
        ),
        ("PRAGMA database_list", "not_a_query", "PRAGMA"),
        ("pragma enable_profiling", "not_a_query", "PRAGMA"),
        ("SET enable_external_access = true", "not_a_query", "SET"),
        ("SET memory_limit = '100GB'", "not_a_query", "SET"),
        ("ATTACH 'x.db'", "not_a_query", "ATTACH"),
        (
            "ATTACH DATABASE '/tmp/other.db' AS other",
            "not_a_query",
            "ATTACH",
        ),
        ("DETACH other", "not_a_query", "DETACH"),
        (
            "COPY fact_deposit_daily TO '/tmp/x.csv'",
            "not_a_query",
            "COPY",
        ),
        (
            "COPY (SELECT * FROM dim_customer) TO '/tmp/customers.parquet' (FORMAT PARQUET)",
            "not_a_query",
            "COPY",
        ),
        ("INSTALL httpfs", "not_a_query", "INSTALL"),
        ("LOAD httpfs", "not_a_query", "LOAD"),
        ("CALL pragma_version()", "not_a_query", "CALL"),
        ("USE other", "not_a_query", "USE"),
        ("VACUUM", "not_a_query", "VACUUM"),
        ("BEGIN TRANSACTION", "not_a_query", "BEGIN"),
        ("COMMIT", "not_a_query", "COMMIT"),
        (
            "GRANT SELECT ON dim_customer TO analyst",
            "not_a_query",
            "GRANT",
        ),
        ("EXPLAIN SELECT * FROM dim_branch", "not_a_query", "EXPLAIN"),
        ("DESCRIBE dim_customer", "not_a_query", "DESCRIBE"),
        // DuckDB statements that sqlparser 0.64 cannot parse.
        ("EXPORT DATABASE '/tmp/dump'", "parse_error", "DATABASE"),
        ("IMPORT DATABASE '/tmp/dump'", "parse_error", "IMPORT"),
        ("CHECKPOINT", "parse_error", "CHECKPOINT"),
        // Look-alike characters in keywords.
        (
            "ＤＲＯＰ TABLE fact_deposit_daily",
            "parse_error",
            "ＤＲＯＰ",
        ),
        ("SЕLECT * FROM dim_branch", "parse_error", "SЕLECT"),
        (
            "ＳＥＬＥＣＴ * FROM dim_branch",
            "parse_error",
            "ＳＥＬＥＣＴ",
        ),
        ("SELECT 1；DROP TABLE dim_branch", "parse_error", "；"),
        // Broken SQL.
        ("SELEC * FROM dim_branch", "parse_error", "SELEC"),
        (
            "SELECT * FROM dim_branch WHERE branch_name = '梅江支行",
            "parse_error",
            "cannot parse",
        ),
        ("SELECT * FROM dim_branch LIMIT 5, 10", "parse_error", ","),
        // More than one statement.
        (
            "SELECT 1; DROP TABLE dim_branch",
            "multiple_statements",
            "2",
        ),
        (
            "SELECT 1 -- 注释\n; DROP TABLE dim_branch",
            "multiple_statements",
            "2",
        ),
        (
            "SELECT 1 /* ; */ ; DELETE FROM fact_deposit_daily",
            "multiple_statements",
            "2",
        ),
        (
            "SELECT * FROM dim_branch; SELECT * FROM dim_customer;",
            "multiple_statements",
            "2",
        ),
        (
            "SELECT 1;\nPRAGMA database_list;\nSELECT 2",
            "multiple_statements",
            "3",
        ),
        // No statement.
        ("", "empty", "empty"),
        ("   \n\t  ", "empty", "empty"),
        ("-- 只有注释", "empty", "empty"),
        (";", "empty", "empty"),
        // Undeclared tables, at every depth.
        ("SELECT * FROM secrets", "unknown_table", "secrets"),
        ("select * from 客户隐私表", "unknown_table", "客户隐私表"),
        (
            "SELECT * FROM information_schema.tables",
            "unknown_table",
            "information_schema.tables",
        ),
        (
            "SELECT * FROM pg_catalog.pg_tables",
            "unknown_table",
            "pg_catalog.pg_tables",
        ),
        (
            "SELECT * FROM duckdb_tables",
            "unknown_table",
            "duckdb_tables",
        ),
        (
            "SELECT * FROM sqlite_master",
            "unknown_table",
            "sqlite_master",
        ),
        (
            "SELECT * FROM other.fact_deposit_daily",
            "unknown_table",
            "other.fact_deposit_daily",
        ),
        (
            "SELECT * FROM demo.main.fact_deposit_daily",
            "unknown_table",
            "demo.main.fact_deposit_daily",
        ),
        ("FROM secrets SELECT *", "unknown_table", "secrets"),
        (
            "WITH recent AS (SELECT * FROM salaries) SELECT * FROM recent",
            "unknown_table",
            "salaries",
        ),
        (
            "SELECT * FROM fact_deposit_daily WHERE customer_id IN (SELECT customer_id FROM vip_list)",
            "unknown_table",
            "vip_list",
        ),
        (
            "SELECT * FROM dim_branch WHERE EXISTS (SELECT 1 FROM secrets)",
            "unknown_table",
            "secrets",
        ),
        (
            "SELECT (SELECT max(amount) FROM secrets) AS m FROM dim_branch",
            "unknown_table",
            "secrets",
        ),
        (
            "SELECT * FROM fact_deposit_daily f JOIN salaries s ON f.customer_id = s.customer_id",
            "unknown_table",
            "salaries",
        ),
        (
            "SELECT * FROM dim_branch b LEFT JOIN (dim_customer c JOIN secrets s ON TRUE) ON TRUE",
            "unknown_table",
            "secrets",
        ),
        (
            "SELECT branch_id FROM dim_branch UNION ALL SELECT id FROM secrets",
            "unknown_table",
            "secrets",
        ),
        (
            "SELECT branch_id FROM dim_branch EXCEPT (SELECT id FROM secrets ORDER BY id)",
            "unknown_table",
            "secrets",
        ),
        (
            "SELECT * FROM dim_branch b, LATERAL (SELECT * FROM secrets s WHERE s.branch_id = b.branch_id) x",
            "unknown_table",
            "secrets",
        ),
        (
            "SELECT * FROM dim_branch ORDER BY (SELECT count(*) FROM secrets)",
            "unknown_table",
            "secrets",
        ),
        (
            "SELECT sum(balance) FILTER (WHERE customer_id IN (SELECT id FROM secrets)) FROM fact_deposit_daily",
            "unknown_table",
            "secrets",
        ),
        // A CTE is not visible in its own body, before its definition or
        // outside its query, so each of these names reaches the catalog.
        (
            "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets",
            "unknown_table",
            "secrets",
        ),
        (
            "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a",
            "unknown_table",
            "`b`",
        ),
        (
            "SELECT * FROM (WITH t AS (SELECT 1 AS x) SELECT * FROM t) AS inner_t, t",
            "unknown_table",
            "`t`",
        ),
        ("SELECT * FROM main.recent", "unknown_table", "main.recent"),
        // Table functions.
        (
            "SELECT * FROM read_csv('/etc/passwd')",
            "table_function",
            "read_csv",
        ),
        (
            "SELECT * FROM read_csv_auto('/etc/passwd')",
            "table_function",
            "read_csv_auto",
        ),
        (
            "SELECT * FROM read_parquet('s3://bank-bucket/deposits.parquet')",
            "table_function",
            "read_parquet",
        ),
        (
            "SELECT * FROM read_json_auto('https://example.com/x.json')",
            "table_function",
            "read_json_auto",
        ),
        ("SELECT * FROM glob('*')", "table_function", "glob"),
        ("SELECT * FROM range(10)", "table_function", "range"),
        (
            "SELECT * FROM generate_series(1, 1000000000)",
            "table_function",
            "generate_series",
        ),
        (
            "SELECT * FROM duckdb_settings()",
            "table_function",
            "duckdb_settings",
        ),
        (
            "SELECT * FROM sniff_csv('/etc/passwd')",
            "table_function",
            "sniff_csv",
        ),
        (
            "SELECT * FROM query_table('secrets')",
            "table_function",
            "query_table",
        ),
        (
            "SELECT * FROM main.read_csv('x.csv')",
            "table_function",
            "main.read_csv",
        ),
        (
            "SELECT * FROM sqlite_scan('x.db', 'secrets')",
            "table_function",
            "sqlite_scan",
        ),
        (
            "SELECT * FROM postgres_scan('host=localhost', 'public', 'salaries')",
            "table_function",
            "postgres_scan",
        ),
        (
            "SELECT * FROM iceberg_scan('s3://bucket/t')",
            "table_function",
            "iceberg_scan",
        ),
        (
            "SELECT * FROM delta_scan('/data/t')",
            "table_function",
            "delta_scan",
        ),
        (
            "SELECT * FROM dim_branch JOIN read_csv('/tmp/x.csv') AS r ON TRUE",
            "table_function",
            "read_csv",
        ),
        (
            "SELECT * FROM fact_deposit_daily WHERE customer_id IN (SELECT * FROM read_text('/etc/shadow'))",
            "table_function",
            "read_text",
        ),
        (
            "WITH leaked AS (SELECT * FROM read_blob('/etc/hosts')) SELECT * FROM leaked",
            "table_function",
            "read_blob",
        ),
        (
            "SELECT * FROM UNNEST([1, 2, 3])",
            "table_function",
            "UNNEST",
        ),
        (
            "SELECT * FROM dim_branch, TABLE(read_csv('x.csv'))",
            "table_function",
            "read_csv",
        ),
        // File paths in place of a table.
        ("SELECT * FROM '/etc/passwd'", "file_path", "/etc/passwd"),
        ("FROM 'customers.csv'", "file_path", "customers.csv"),
        (
            "SELECT * FROM \"/tmp/customers.parquet\"",
            "file_path",
            "/tmp/customers.parquet",
        ),
        (
            "SELECT * FROM \"deposits.csv\"",
            "file_path",
            "deposits.csv",
        ),
        (
            "SELECT * FROM dim_branch WHERE branch_id IN (SELECT branch_id FROM 's3://bucket/x.parquet')",
            "file_path",
            "s3://bucket/x.parquet",
        ),
        // Functions off the allow-list, wherever they are called.
        ("SELECT getenv('HOME')", "unknown_function", "getenv"),
        (
            "SELECT current_setting('access_mode')",
            "unknown_function",
            "current_setting",
        ),
        (
            "SELECT read_text('/etc/passwd')",
            "unknown_function",
            "read_text",
        ),
        ("SELECT version()", "unknown_function", "version"),
        ("SELECT CURRENT_DATE", "unknown_function", "CURRENT_DATE"),
        ("SELECT 'HOME'.getenv()", "unknown_function", "getenv"),
        (
            "SELECT main.sum(balance) FROM fact_deposit_daily",
            "unknown_function",
            "main.sum",
        ),
        (
            "SELECT sum(balance) FILTER (WHERE getenv('X') IS NULL) FROM fact_deposit_daily",
            "unknown_function",
            "getenv",
        ),
        (
            "SELECT count(*) FROM dim_branch WHERE pragma_version() IS NOT NULL",
            "unknown_function",
            "pragma_version",
        ),
        (
            "SELECT coalesce(branch_name, duckdb_extensions()) FROM dim_branch",
            "unknown_function",
            "duckdb_extensions",
        ),
        (
            "SELECT row_number() OVER (ORDER BY getenv('HOME')) FROM dim_branch",
            "unknown_function",
            "getenv",
        ),
        (
            "SELECT * FROM dim_branch ORDER BY random()",
            "unknown_function",
            "random",
        ),
        (
            "SELECT repeat('x', 1000000000)",
            "unknown_function",
            "repeat",
        ),
        (
            "SELECT list_transform([1, 2], x -> x + 1)",
            "unknown_function",
            "list_transform",
        ),
        (
            "SELECT ѕum(balance) FROM fact_deposit_daily",
            "unknown_function",
            "ѕum",
        ),
        (
            "SELECT * REPLACE (getenv('HOME') AS branch_name) FROM dim_branch",
            "unknown_function",
            "getenv",
        ),
        (
            "SELECT * FROM dim_branch WHERE branch_name = (SELECT write_csv('x'))",
            "unknown_function",
            "write_csv",
        ),
        // SELECT … INTO writes a table.
        (
            "SELECT * INTO stolen FROM dim_customer",
            "select_into",
            "stolen",
        ),
        (
            "SELECT * FROM dim_branch WHERE branch_id IN (SELECT branch_id INTO copied FROM dim_branch)",
            "select_into",
            "copied",
        ),
        // A row cap that is not a literal.
        (
            "SELECT * FROM dim_branch LIMIT (SELECT count(*) FROM dim_customer)",
            "limit_not_literal",
            "SELECT count(*) FROM dim_customer",
        ),
        (
            "SELECT * FROM dim_branch LIMIT -1",
            "limit_not_literal",
            "-1",
        ),
        (
            "SELECT * FROM dim_branch LIMIT 10.5",
            "limit_not_literal",
            "10.5",
        ),
        (
            "SELECT * FROM dim_branch LIMIT '100'",
            "limit_not_literal",
            "'100'",
        ),
        (
            "SELECT * FROM dim_branch LIMIT 1 + 1",
            "limit_not_literal",
            "1 + 1",
        ),
        // Clauses DuckDB does not run or that bypass LIMIT.
        (
            "SELECT * FROM dim_branch FETCH FIRST 10 ROWS ONLY",
            "unsupported_syntax",
            "FETCH",
        ),
        (
            "SELECT * FROM dim_branch FOR UPDATE",
            "unsupported_syntax",
            "FOR UPDATE",
        ),
        (
            "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
            "unsupported_syntax",
            "WITH RECURSIVE",
        ),
        (
            "SELECT * FROM (WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r) AS t",
            "unsupported_syntax",
            "WITH RECURSIVE",
        ),
    ];

    #[test]
    fn rejects_unsafe_statements() {
        let guard = guard();
        let mut failures = Vec::new();
        for &(sql, code, fragment) in REJECTED {
            match guard.check(sql) {
                Ok(guarded) => failures.push(format!("{sql:?}: accepted as {:?}", guarded.sql)),
                Err(error) => {
                    let message = error.to_string();
                    if error.code() != code {
                        failures.push(format!(
                            "{sql:?}: code `{}`, expected `{code}` ({message})",
                            error.code()
                        ));
                    }
                    if !message.contains(fragment) {
                        failures.push(format!("{sql:?}: message {message:?} lacks {fragment:?}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn rejection_table_is_large_enough() {
        assert!(
            REJECTED.len() >= 60,
            "only {} rejected inputs",
            REJECTED.len()
        );
    }

    /// Queries the guard must accept with their text unchanged up to the
    /// `LIMIT`, which is the row cap because none of them has a smaller one.
    const ACCEPTED: &[&str] = &[
        "SELECT * FROM dim_branch",
        "SELECT * FROM fact_deposit_daily;",
        "select branch_name from DIM_BRANCH",
        "SELECT * FROM main.fact_deposit_daily",
        "SELECT * FROM \"Fact_Deposit_Daily\"",
        "SELECT 1",
        "SELECT make_date(2026, 11, 30) - INTERVAL 1 YEAR",
        "SELECT '; DROP TABLE dim_branch; --' AS note FROM dim_branch",
        "SELECT * FROM dim_branch WHERE branch_name = '梅江支行'' OR 1=1 --'",
        "SELECT count(*) FROM dim_customer -- 客户总数",
        "/* 客户总数 */ SELECT count(*) FROM dim_customer /* ; DROP TABLE x */",
        "WITH branches AS (SELECT * FROM dim_branch) SELECT * FROM branches",
        "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b",
        "WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM (SELECT x FROM a) AS t) SELECT * FROM b",
        "WITH a AS (SELECT 1 AS x) SELECT * FROM (WITH b AS (SELECT x FROM a) SELECT * FROM b) AS t",
        "SELECT * FROM fact_deposit_daily PIVOT (sum(balance) FOR branch_id IN (1, 2))",
        "WITH dim_branch AS (SELECT 1 AS branch_id) SELECT * FROM dim_branch",
        "SELECT branch_id FROM dim_branch UNION ALL SELECT branch_id FROM fact_deposit_daily",
        "SELECT date_trunc('month', biz_date) AS 月份, sum(balance) AS 存款余额 \
         FROM fact_deposit_daily GROUP BY 1 ORDER BY 1",
        "SELECT branch_id, rank() OVER (ORDER BY sum(balance) DESC) AS 排名 \
         FROM fact_deposit_daily GROUP BY branch_id",
        "SELECT EXTRACT(YEAR FROM biz_date), CAST(balance AS DECIMAL(18, 2)), \
         TRY_CAST(customer_id AS BIGINT), biz_date - INTERVAL 1 MONTH FROM fact_deposit_daily",
        "SELECT CASE WHEN balance >= 500000 THEN '大额' ELSE '普通' END AS 档位, \
         count(DISTINCT customer_id) FROM fact_deposit_daily GROUP BY 1",
        "FROM dim_branch SELECT branch_name",
        "SELECT * FROM fact_deposit_daily AS f LEFT JOIN dim_branch AS b USING (branch_id)",
        "SELECT * FROM dim_branch WHERE branch_id IN (SELECT branch_id FROM fact_deposit_daily)",
        "SELECT * FROM dim_branch AS b, LATERAL (SELECT sum(balance) AS s FROM fact_deposit_daily AS f \
         WHERE f.branch_id = b.branch_id) AS totals",
        "SELECT median(balance), quantile_cont(balance, 0.9), arg_max(customer_id, balance), \
         coalesce(nullif(sum(balance), 0), 1) FROM fact_deposit_daily",
        "SELECT strftime(biz_date, '%Y年%m月') AS 月份, lag(sum(balance)) OVER (ORDER BY 1) \
         FROM fact_deposit_daily GROUP BY 1",
        "SELECT * FROM dim_branch QUALIFY row_number() OVER (PARTITION BY district) = 1",
    ];

    #[test]
    fn accepts_read_only_queries() {
        let guard = guard();
        for sql in ACCEPTED {
            let guarded = guard
                .check(sql)
                .unwrap_or_else(|error| panic!("{sql:?} rejected: {error}"));
            assert_eq!(guarded.limit, MAX_ROWS, "limit of {sql:?}");
            assert!(
                guarded.sql.ends_with(&format!("LIMIT {MAX_ROWS}")),
                "{sql:?} became {:?}",
                guarded.sql
            );
            assert_eq!(
                query_without_limit(&guarded.sql),
                query_without_limit(sql),
                "{sql:?} changed beyond its LIMIT: {:?}",
                guarded.sql
            );
        }
    }

    #[test]
    fn acceptance_table_is_large_enough() {
        assert!(
            ACCEPTED.len() >= 15,
            "only {} accepted inputs",
            ACCEPTED.len()
        );
    }

    #[test]
    fn guarded_sql_passes_again_unchanged() {
        let guard = guard();
        for sql in ACCEPTED {
            let first = guard.check(sql).expect("accepted above");
            let second = guard
                .check(&first.sql)
                .unwrap_or_else(|error| panic!("{:?} rejected: {error}", first.sql));
            assert_eq!(second, first, "checking {sql:?} twice");
        }
    }

    #[test]
    fn limit_missing_becomes_cap() {
        let guarded = guard().check("SELECT * FROM dim_branch").unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 1000");
    }

    #[test]
    fn limit_larger_becomes_cap() {
        let guarded = guard()
            .check("SELECT * FROM dim_branch LIMIT 5000")
            .unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 1000");
    }

    #[test]
    fn limit_smaller_stays() {
        let guarded = guard().check("SELECT * FROM dim_branch LIMIT 10").unwrap();
        assert_eq!(guarded.limit, 10);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 10");
    }

    #[test]
    fn limit_equal_to_cap_stays() {
        let guarded = guard()
            .check("SELECT * FROM dim_branch LIMIT 1000")
            .unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 1000");
    }

    #[test]
    fn limit_in_parentheses_is_literal() {
        let guarded = guard()
            .check("SELECT * FROM dim_branch LIMIT (20)")
            .unwrap();
        assert_eq!(guarded.limit, 20);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 20");
    }

    #[test]
    fn limit_zero_stays() {
        let guarded = guard().check("SELECT * FROM dim_branch LIMIT 0").unwrap();
        assert_eq!(guarded.limit, 0);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 0");
    }

    #[test]
    fn limit_all_becomes_cap() {
        let guarded = guard().check("SELECT * FROM dim_branch LIMIT ALL").unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 1000");
    }

    #[test]
    fn offset_stays_with_limit() {
        let guarded = guard()
            .check("SELECT * FROM dim_branch ORDER BY branch_id LIMIT 10 OFFSET 20")
            .unwrap();
        assert_eq!(guarded.limit, 10);
        assert_eq!(
            guarded.sql,
            "SELECT * FROM dim_branch ORDER BY branch_id LIMIT 10 OFFSET 20"
        );
    }

    #[test]
    fn offset_stays_without_limit() {
        let guarded = guard().check("SELECT * FROM dim_branch OFFSET 5").unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert_eq!(guarded.sql, "SELECT * FROM dim_branch LIMIT 1000 OFFSET 5");
    }

    #[test]
    fn limit_of_subquery_stays() {
        let guarded = guard()
            .check("SELECT * FROM (SELECT * FROM dim_branch LIMIT 5000) AS t")
            .unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert_eq!(
            guarded.sql,
            "SELECT * FROM (SELECT * FROM dim_branch LIMIT 5000) AS t LIMIT 1000"
        );
    }

    #[test]
    fn limit_caps_whole_union() {
        let guarded = guard()
            .check("SELECT branch_id FROM dim_branch UNION SELECT branch_id FROM fact_deposit_daily LIMIT 99999")
            .unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert_eq!(
            guarded.sql,
            "SELECT branch_id FROM dim_branch UNION SELECT branch_id FROM fact_deposit_daily LIMIT 1000"
        );
    }

    #[test]
    fn guarded_sql_drops_comments() {
        let guarded = guard().check("SELECT 1 /* 注释 */ -- 行尾注释\n").unwrap();
        assert_eq!(guarded.sql, "SELECT 1 LIMIT 1000");
    }

    #[test]
    fn string_with_statement_stays_string() {
        let guarded = guard()
            .check("SELECT * FROM dim_branch WHERE branch_name = '梅江支行'' OR 1=1 --'")
            .unwrap();
        assert_eq!(
            guarded.sql,
            "SELECT * FROM dim_branch WHERE branch_name = '梅江支行'' OR 1=1 --' LIMIT 1000"
        );
    }

    #[test]
    fn qualified_declaration_allows_its_schema() {
        let guard = SqlGuard::new(
            [
                "analytics.fact_deposit_daily".to_string(),
                "main.dim_branch".to_string(),
            ],
            MAX_ROWS,
        );

        assert!(
            guard
                .check("SELECT * FROM analytics.fact_deposit_daily")
                .is_ok()
        );
        assert!(
            guard
                .check("SELECT * FROM ANALYTICS.Fact_Deposit_Daily")
                .is_ok()
        );
        assert!(guard.check("SELECT * FROM dim_branch").is_ok());
        assert!(guard.check("SELECT * FROM main.dim_branch").is_ok());
        let bare = guard.check("SELECT * FROM fact_deposit_daily").unwrap_err();
        assert_eq!(bare.code(), "unknown_table");
        let other_schema = guard.check("SELECT * FROM staging.dim_branch").unwrap_err();
        assert_eq!(other_schema.code(), "unknown_table");
    }

    #[test]
    fn unknown_table_suggests_declared_name() {
        let error = guard()
            .check("SELECT * FROM fact_deposit_dialy")
            .unwrap_err();
        assert_eq!(
            error,
            GuardError::UnknownTable {
                table: "fact_deposit_dialy".to_string(),
                suggestion: Some("fact_deposit_daily".to_string()),
            }
        );
        assert_eq!(
            error.to_string(),
            "不允许访问表 `fact_deposit_dialy`（是否要查 `fact_deposit_daily`？） / \
             table `fact_deposit_dialy` is not declared in the semantic layer; \
             did you mean `fact_deposit_daily`?"
        );
    }

    #[test]
    fn deep_nesting_is_parse_error() {
        let sql = format!("SELECT {}1{}", "(".repeat(1000), ")".repeat(1000));
        let error = guard().check(&sql).unwrap_err();
        assert_eq!(error.code(), "parse_error");
        assert!(error.to_string().contains("nested too deeply"), "{error}");
    }

    #[test]
    fn parse_error_names_token() {
        let error = guard().check("ＤＲＯＰ TABLE dim_branch").unwrap_err();
        assert_eq!(
            error.to_string(),
            "SQL 无法解析 / cannot parse the SQL: \
             Expected: an SQL statement, found: ＤＲＯＰ at Line: 1, Column: 1"
        );
    }

    #[test]
    fn not_a_query_message_names_kind() {
        let error = guard().check("DROP TABLE dim_branch").unwrap_err();
        assert_eq!(
            error.to_string(),
            "只能执行查询语句，不能执行 DROP TABLE / only queries are allowed, not DROP TABLE"
        );
    }

    // SQL that the compiler generated for real questions, copied from
    // `wenshu ask --json` on the demo warehouse.

    /// `wenshu ask "各支行存款余额前五"` on the demo warehouse.
    const TOP_FIVE_BRANCHES_BY_BALANCE: &str = r#"SELECT p0."branch__branch_name" AS "branch__branch_name", "deposit_balance" AS "deposit_balance"
FROM (
SELECT "branch__branch_name", "deposit_balance" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT j1.c1 AS "branch__branch_name", CAST(src.c0 AS DATE) AS "__day", SUM(src.c2) AS "deposit_balance"
FROM (SELECT biz_date AS c0, branch_id AS c1, balance AS c2 FROM "fact_deposit_daily") AS src
  LEFT OUTER JOIN (SELECT branch_id AS c0, branch_name AS c1 FROM "dim_branch") AS j1 ON src.c1 = j1.c0
WHERE CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1, 2
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p0
ORDER BY "deposit_balance" DESC
LIMIT 5"#;

    /// `wenshu ask "今年以来每月个人存款日均"` on the demo warehouse.
    const MONTHLY_PERSONAL_AVERAGE_DAILY_BALANCE: &str = r#"SELECT p0."metric_time__month" AS "metric_time__month", "average_daily_balance" AS "average_daily_balance"
FROM (
SELECT "metric_time__month", CAST("__sum" AS DOUBLE) / (DATE_DIFF('day', GREATEST("metric_time__month", DATE '2026-01-01'), LEAST(CAST(CAST("metric_time__month" - INTERVAL (-1) MONTH AS DATE) - INTERVAL (1) DAY AS DATE), DATE '2026-11-30')) + 1) AS "average_daily_balance" FROM (
SELECT CAST(DATE_TRUNC('month', CAST(src.c0 AS DATE)) AS DATE) AS "metric_time__month", SUM(src.c2) AS "__sum"
FROM (SELECT biz_date AS c0, customer_id AS c1, balance AS c2 FROM "fact_deposit_daily") AS src
  LEFT OUTER JOIN (SELECT customer_id AS c0, customer_type AS c1 FROM "dim_customer") AS j1 ON src.c1 = j1.c0
WHERE (j1.c1 = '个人')
  AND CAST(src.c0 AS DATE) >= DATE '2026-01-01'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1
) AS sums
) AS p0
ORDER BY "metric_time__month"
LIMIT 5001"#;

    /// `wenshu ask "活期存款占比"` on the demo warehouse.
    const DEMAND_DEPOSIT_SHARE: &str = r#"SELECT "demand_deposit_share" AS "demand_deposit_share"
FROM (
SELECT (demand_balance * 100.0 / NULLIF(deposit_balance, 0)) AS "demand_deposit_share"
FROM (
SELECT "demand_balance" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT CAST(src.c0 AS DATE) AS "__day", SUM(src.c2) AS "demand_balance"
FROM (SELECT biz_date AS c0, product_id AS c1, balance AS c2 FROM "fact_deposit_daily") AS src
  LEFT OUTER JOIN (SELECT product_id AS c0, term_type AS c1 FROM "dim_product") AS j1 ON src.c1 = j1.c0
WHERE (j1.c1 = '活期')
  AND CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p0
FULL OUTER JOIN (
SELECT "deposit_balance" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT CAST(src.c0 AS DATE) AS "__day", SUM(src.c1) AS "deposit_balance"
FROM (SELECT biz_date AS c0, balance AS c1 FROM "fact_deposit_daily") AS src
WHERE CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p1 ON TRUE
) AS p0
LIMIT 5001"#;

    /// `wenshu ask "存款同比增长率"` on the demo warehouse.
    const GROWTH_RATE_YEAR_ON_YEAR: &str = r#"SELECT "growth_rate_year_on_year" AS "growth_rate_year_on_year"
FROM (
SELECT ((deposit_balance - balance_a_year_earlier) * 100.0 / NULLIF(balance_a_year_earlier, 0)) AS "growth_rate_year_on_year"
FROM (
SELECT "deposit_balance" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT CAST(src.c0 AS DATE) AS "__day", SUM(src.c1) AS "deposit_balance"
FROM (SELECT biz_date AS c0, balance AS c1 FROM "fact_deposit_daily") AS src
WHERE CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p0
FULL OUTER JOIN (
SELECT "balance_a_year_earlier" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT CAST(src.c0 AS DATE) AS "__day", SUM(src.c1) AS "balance_a_year_earlier"
FROM (SELECT biz_date AS c0, balance AS c1 FROM "fact_deposit_daily") AS src
WHERE CAST(src.c0 AS DATE) >= DATE '2025-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2025-11-30'
GROUP BY 1
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p1 ON TRUE
) AS p0
LIMIT 5001"#;

    /// `wenshu ask "各区县存款占比"` on the demo warehouse.
    const DEPOSIT_SHARE_BY_DISTRICT: &str = r#"SELECT p0."branch__district" AS "branch__district", "deposit_share" AS "deposit_share"
FROM (
SELECT p0."branch__district" AS "branch__district", CAST("__part" * 100 AS DOUBLE) / CAST(NULLIF(SUM("__part") OVER (), 0) AS DOUBLE) AS "deposit_share"
FROM (
SELECT "branch__district", "__part" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT j1.c1 AS "branch__district", CAST(src.c0 AS DATE) AS "__day", SUM(src.c2) AS "__part"
FROM (SELECT biz_date AS c0, branch_id AS c1, balance AS c2 FROM "fact_deposit_daily") AS src
  LEFT OUTER JOIN (SELECT branch_id AS c0, district AS c1 FROM "dim_branch") AS j1 ON src.c1 = j1.c0
WHERE CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1, 2
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p0
) AS p0
LIMIT 5001"#;

    /// `wenshu ask "绩效存款前十的客户经理"` on the demo warehouse.
    const TOP_TEN_MANAGERS_BY_PERFORMANCE: &str = r#"SELECT p0."manager__manager_name" AS "manager__manager_name", "performance_balance" AS "performance_balance"
FROM (
SELECT "manager__manager_name", "performance_balance" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT j1.c1 AS "manager__manager_name", CAST(src.c0 AS DATE) AS "__day", SUM(src.c2) AS "performance_balance"
FROM (SELECT biz_date AS c0, manager_id AS c1, performance_balance AS c2 FROM (SELECT
  f.biz_date,
  f.account_id,
  f.customer_id,
  f.product_id,
  s.manager_id,
  m.branch_id,
  f.balance * s.share AS performance_balance
FROM fact_deposit_daily f
JOIN bridge_account_manager s ON s.account_id = f.account_id
JOIN dim_account_manager m ON m.manager_id = s.manager_id)) AS src
  LEFT OUTER JOIN (SELECT manager_id AS c0, manager_name AS c1 FROM "dim_account_manager") AS j1 ON src.c1 = j1.c0
WHERE CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1, 2
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p0
ORDER BY "performance_balance" DESC
LIMIT 10"#;

    /// `wenshu ask "今年以来日均存款"` on the demo warehouse.
    const AVERAGE_DAILY_BALANCE_YEAR_TO_DATE: &str = r#"SELECT "average_daily_balance" AS "average_daily_balance"
FROM (
SELECT CAST("__sum" AS DOUBLE) / (DATE_DIFF('day', DATE '2026-01-01', DATE '2026-11-30') + 1) AS "average_daily_balance" FROM (
SELECT SUM(src.c1) AS "__sum"
FROM (SELECT biz_date AS c0, balance AS c1 FROM "fact_deposit_daily") AS src
WHERE CAST(src.c0 AS DATE) >= DATE '2026-01-01'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
) AS sums
) AS p0
LIMIT 5001"#;

    /// `wenshu ask "存款客户数"` on the demo warehouse.
    const DEPOSITOR_COUNT: &str = r#"SELECT "depositors" AS "depositors"
FROM (
SELECT "depositors" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT CAST(src.c0 AS DATE) AS "__day", COUNT(DISTINCT src.c1) AS "depositors"
FROM (SELECT biz_date AS c0, CASE WHEN balance > 0 THEN customer_id END AS c1 FROM "fact_deposit_daily") AS src
WHERE CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p0
LIMIT 5001"#;

    /// `wenshu ask "付息率"` on the demo warehouse.
    const COST_OF_DEPOSITS: &str = r#"SELECT "cost_of_deposits" AS "cost_of_deposits"
FROM (
SELECT (interest_expense * 36000.0 / NULLIF(balance_day_sum, 0)) AS "cost_of_deposits"
FROM (
SELECT SUM(src.c1) AS "interest_expense"
FROM (SELECT biz_date AS c0, interest_accrued AS c1 FROM "fact_deposit_daily") AS src
WHERE CAST(src.c0 AS DATE) >= DATE '2026-01-01'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
) AS p0
FULL OUTER JOIN (
SELECT SUM(src.c1) AS "balance_day_sum"
FROM (SELECT biz_date AS c0, balance AS c1 FROM "fact_deposit_daily") AS src
WHERE CAST(src.c0 AS DATE) >= DATE '2026-01-01'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
) AS p1 ON TRUE
) AS p0
LIMIT 5001"#;

    /// `wenshu ask "各支行存款余额较上月末增长率"` on the demo warehouse.
    const INCREASE_MONTH_ON_MONTH_BY_BRANCH: &str = r#"SELECT p0."branch__branch_name" AS "branch__branch_name", "increase_month_on_month" AS "increase_month_on_month"
FROM (
SELECT COALESCE(p0."branch__branch_name", p1."branch__branch_name") AS "branch__branch_name", (deposit_balance - balance_at_prior_month_end) AS "increase_month_on_month"
FROM (
SELECT "branch__branch_name", "deposit_balance" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT j1.c1 AS "branch__branch_name", CAST(src.c0 AS DATE) AS "__day", SUM(src.c2) AS "deposit_balance"
FROM (SELECT biz_date AS c0, branch_id AS c1, balance AS c2 FROM "fact_deposit_daily") AS src
  LEFT OUTER JOIN (SELECT branch_id AS c0, branch_name AS c1 FROM "dim_branch") AS j1 ON src.c1 = j1.c0
WHERE CAST(src.c0 AS DATE) >= DATE '2026-11-30'
  AND CAST(src.c0 AS DATE) <= DATE '2026-11-30'
GROUP BY 1, 2
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p0
FULL OUTER JOIN (
SELECT "branch__branch_name", "balance_at_prior_month_end" FROM (
SELECT *, MAX("__day") OVER () AS "__chosen_day" FROM (
SELECT j1.c1 AS "branch__branch_name", CAST(src.c0 AS DATE) AS "__day", SUM(src.c2) AS "balance_at_prior_month_end"
FROM (SELECT biz_date AS c0, branch_id AS c1, balance AS c2 FROM "fact_deposit_daily") AS src
  LEFT OUTER JOIN (SELECT branch_id AS c0, branch_name AS c1 FROM "dim_branch") AS j1 ON src.c1 = j1.c0
WHERE CAST(src.c0 AS DATE) >= DATE '2026-10-31'
  AND CAST(src.c0 AS DATE) <= DATE '2026-10-31'
GROUP BY 1, 2
) AS daily
) AS ranked
WHERE "__day" = "__chosen_day"
) AS p1 ON p0."branch__branch_name" IS NOT DISTINCT FROM p1."branch__branch_name"
) AS p0
LIMIT 5001"#;

    const COMPILED: &[(&str, u64)] = &[
        (TOP_FIVE_BRANCHES_BY_BALANCE, 5),
        (MONTHLY_PERSONAL_AVERAGE_DAILY_BALANCE, 5001),
        (DEMAND_DEPOSIT_SHARE, 5001),
        (GROWTH_RATE_YEAR_ON_YEAR, 5001),
        (DEPOSIT_SHARE_BY_DISTRICT, 5001),
        (TOP_TEN_MANAGERS_BY_PERFORMANCE, 10),
        (AVERAGE_DAILY_BALANCE_YEAR_TO_DATE, 5001),
        (DEPOSITOR_COUNT, 5001),
        (COST_OF_DEPOSITS, 5001),
        (INCREASE_MONTH_ON_MONTH_BY_BRANCH, 5001),
    ];

    /// Returns a guard whose cap is above every compiled `LIMIT`.
    fn compiled_sql_guard() -> SqlGuard {
        SqlGuard::new(
            DECLARED_TABLES.iter().map(|table| table.to_string()),
            10_000,
        )
    }

    #[test]
    fn compiled_sql_passes_unchanged() {
        let guard = compiled_sql_guard();
        for &(sql, limit) in COMPILED {
            let guarded = guard
                .check(sql)
                .unwrap_or_else(|error| panic!("compiled SQL rejected: {error}\n{sql}"));
            assert_eq!(guarded.limit, limit, "limit of\n{sql}");
            assert_eq!(
                query_without_limit(&guarded.sql),
                query_without_limit(sql),
                "compiled SQL changed:\n{sql}\nbecame\n{}",
                guarded.sql
            );
        }
    }

    #[test]
    fn compiled_sql_is_capped() {
        let guarded = guard().check(DEMAND_DEPOSIT_SHARE).unwrap();
        assert_eq!(guarded.limit, MAX_ROWS);
        assert!(guarded.sql.ends_with("LIMIT 1000"), "{}", guarded.sql);
    }

    /// Tables with the columns the compiled SQL reads, and a few rows. The
    /// settings keep DuckDB from downloading an extension that a query needs.
    const DEMO_SCHEMA: &str = "
        SET autoinstall_known_extensions = false;
        SET autoload_known_extensions = false;
        CREATE TABLE dim_branch (branch_id INTEGER, branch_name VARCHAR, district VARCHAR);
        INSERT INTO dim_branch VALUES (1, '梅江支行', '梅江区'), (2, '梅县支行', '梅县区');
        CREATE TABLE dim_customer (customer_id INTEGER, customer_type VARCHAR);
        INSERT INTO dim_customer VALUES (10, '个人'), (11, '对公');
        CREATE TABLE dim_product (product_id INTEGER, term_type VARCHAR);
        INSERT INTO dim_product VALUES (100, '活期'), (101, '定期');
        CREATE TABLE dim_account_manager (manager_id INTEGER, manager_name VARCHAR, branch_id INTEGER);
        INSERT INTO dim_account_manager VALUES (7, '叶雪航', 1);
        CREATE TABLE bridge_account_manager (account_id INTEGER, manager_id INTEGER, share DOUBLE);
        INSERT INTO bridge_account_manager VALUES (1000, 7, 0.6), (1001, 7, 1.0);
        CREATE TABLE fact_deposit_daily (
            biz_date DATE, account_id INTEGER, customer_id INTEGER, product_id INTEGER,
            branch_id INTEGER, balance DOUBLE, interest_accrued DOUBLE);
        INSERT INTO fact_deposit_daily VALUES
            (DATE '2025-10-31', 1000, 10, 100, 1, 800.0, 0.01),
            (DATE '2025-11-30', 1000, 10, 100, 1, 900.0, 0.02),
            (DATE '2025-12-31', 1001, 11, 101, 2, 1500.0, 0.05),
            (DATE '2026-10-31', 1000, 10, 100, 1, 1100.0, 0.03),
            (DATE '2026-11-30', 1000, 10, 100, 1, 1200.0, 0.03),
            (DATE '2026-11-30', 1001, 11, 101, 2, 3000.0, 0.08);
    ";

    #[test]
    fn accepted_sql_runs_on_duckdb() {
        let warehouse = DuckDb::open_in_memory().expect("in-memory DuckDB");
        warehouse.execute_batch(DEMO_SCHEMA).expect("demo tables");
        let guard = guard();

        for sql in ACCEPTED {
            let guarded = guard.check(sql).expect("accepted above");
            if let Err(error) = warehouse.query(&guarded.sql) {
                panic!("DuckDB rejected {:?} (from {sql:?}): {error}", guarded.sql);
            }
        }
    }

    #[test]
    fn compiled_sql_runs_same_on_duckdb() {
        let warehouse = DuckDb::open_in_memory().expect("in-memory DuckDB");
        warehouse.execute_batch(DEMO_SCHEMA).expect("demo tables");
        let guard = compiled_sql_guard();

        for &(sql, _) in COMPILED {
            let guarded = guard.check(sql).expect("compiled SQL passes");
            let expected = warehouse
                .query(sql)
                .unwrap_or_else(|error| panic!("original failed: {error}\n{sql}"));
            let actual = warehouse
                .query(&guarded.sql)
                .unwrap_or_else(|error| panic!("guarded failed: {error}\n{}", guarded.sql));
            assert_eq!(actual, expected, "results differ for\n{sql}");
        }
    }
}
