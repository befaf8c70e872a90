//! The bank's metric definitions (指标口径), checked end to end.
//!
//! Each test compiles metric queries against `semantic_layer/`, runs the SQL
//! on a freshly generated demo warehouse (seed 42, scale 1) and compares the
//! rows with SQL written by hand from the definitions, independently of the
//! compiler. Rows are compared as multisets; numbers match when they differ
//! by at most 0.01 or by a relative 1e-6.
//!
//! The compiler's time semantics that the hand-written SQL follows: with no
//! time group-by, a balance is taken on the query's `end` and an average
//! daily balance divides by the days of `[start, end]`. With a time group-by,
//! each bucket is named by its first day, a balance is taken on the bucket's
//! last day with data inside `[start, end]`, and an average daily balance
//! divides by the bucket's days clipped to `[start, end]`. Offsets shift the
//! day a balance is taken on.

mod common;

use std::cmp::Ordering;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use chrono::{NaiveDate, NaiveTime};
use wenshu::compiler::{CompileOptions, MetricQuery, OrderBy, compile};
use wenshu::semantic::{MetricKind, SemanticLayer, Unit, load_dir};
use wenshu::warehouse::{DuckDb, Table, Value, Warehouse};

/// The demo warehouse's reference date: its latest `biz_date`.
const REFERENCE_DATE: &str = "2026-11-30";
const YEAR_START: &str = "2026-01-01";

/// Every fact row with the dimension tables a filter or group-by may need.
const DEPOSITS: &str = "fact_deposit_daily f \
    JOIN dim_customer c ON c.customer_id = f.customer_id \
    JOIN dim_product p ON p.product_id = f.product_id \
    JOIN dim_branch b ON b.branch_id = f.branch_id \
    JOIN dim_account a ON a.account_id = f.account_id";

/// Daily balances split between account managers. `mb` is the manager's branch.
const PERFORMANCE_DEPOSITS: &str = "fact_deposit_daily f \
    JOIN bridge_account_manager s ON s.account_id = f.account_id \
    JOIN dim_account_manager m ON m.manager_id = s.manager_id \
    JOIN dim_branch mb ON mb.branch_id = m.branch_id \
    JOIN dim_customer c ON c.customer_id = f.customer_id";

const ABSOLUTE_TOLERANCE: f64 = 0.01;
const RELATIVE_TOLERANCE: f64 = 1e-6;

// ---------------------------------------------------------------------------
// Fixtures

fn semantic_layer() -> &'static SemanticLayer {
    static LAYER: OnceLock<SemanticLayer> = OnceLock::new();
    LAYER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("semantic_layer");
        load_dir(&dir)
            .unwrap_or_else(|diagnostics| panic!("semantic_layer/ is invalid:\n{diagnostics}"))
    })
}

/// Generates the demo warehouse once per test run, then shares one read-only
/// connection between the tests.
fn warehouse() -> MutexGuard<'static, DuckDb> {
    static WAREHOUSE: OnceLock<Mutex<DuckDb>> = OnceLock::new();
    let shared = WAREHOUSE.get_or_init(|| {
        let path = common::generate_demo_warehouse("bank_metrics");
        let warehouse = DuckDb::open_read_only(&path)
            .unwrap_or_else(|error| panic!("cannot open `{}`: {error}", path.display()));
        Mutex::new(warehouse)
    });
    // A test that panicked while holding the lock left the connection intact.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| panic!("invalid date `{text}`"))
}

/// Builds a MetricFlow filter on one dimension, e.g. `{{ Dimension('x') }} = '1'`.
fn dimension_filter(dimension: &str, condition: &str) -> String {
    format!("{{{{ Dimension('{dimension}') }}}} {condition}")
}

/// Returns a SELECT of the last day with data in each `grain` bucket of `[start, end]`.
fn bucket_last_days(grain: &str, start: &str, end: &str) -> String {
    format!(
        "SELECT max(biz_date) AS day FROM fact_deposit_daily \
         WHERE biz_date BETWEEN DATE '{start}' AND DATE '{end}' \
         GROUP BY date_trunc('{grain}', biz_date)"
    )
}

// ---------------------------------------------------------------------------
// Cases

/// One metric query and the hand-written SQL that computes its expected rows.
/// The SQL names its columns as the compiled query does: group-by items as
/// written in the query, metrics by name.
struct Case {
    label: &'static str,
    query: MetricQuery,
    expected_sql: String,
}

impl Case {
    fn new(
        label: &'static str,
        metric: &str,
        start: &str,
        end: &str,
        expected_sql: impl Into<String>,
    ) -> Case {
        let query = MetricQuery {
            metrics: vec![metric.to_owned()],
            start: Some(date(start)),
            end: Some(date(end)),
            ..MetricQuery::default()
        };
        Case {
            label,
            query,
            expected_sql: expected_sql.into(),
        }
    }

    fn group_by(mut self, item: &str) -> Case {
        self.query.group_by.push(item.to_owned());
        self
    }

    fn filter(mut self, dimension: &str, condition: &str) -> Case {
        self.query
            .where_filters
            .push(dimension_filter(dimension, condition));
        self
    }

    /// Drops the start of the period, leaving only its end.
    fn without_start(mut self) -> Case {
        self.query.start = None;
        self
    }

    /// Asks for one more metric in the same query.
    fn with_metric(mut self, metric: &str) -> Case {
        self.query.metrics.push(metric.to_owned());
        self
    }

    /// Keeps the `count` rows with the largest `item`.
    fn top(mut self, count: u64, item: &str) -> Case {
        self.query.order_by.push(OrderBy {
            item: item.to_owned(),
            descending: true,
        });
        self.query.limit = Some(count);
        self
    }
}

/// Runs every case and fails once, listing each case that did not match.
fn check_cases(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(message) = run_case(case) {
            failures.push(format!("case `{}`: {message}", case.label));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn run_case(case: &Case) -> Result<(), String> {
    // The hand-written SQL runs first so that its mistakes show up even when
    // the query does not compile.
    let warehouse = warehouse();
    let expected = warehouse.query(&case.expected_sql).map_err(|error| {
        format!(
            "hand-written SQL failed: {error}\nSQL:\n{}",
            case.expected_sql
        )
    })?;

    let compiled = compile(semantic_layer(), &case.query, &CompileOptions::default())
        .map_err(|error| format!("compile failed: {error}\nquery: {:?}", case.query))?;
    let actual = warehouse
        .query(&compiled.sql)
        .map_err(|error| format!("compiled SQL failed: {error}\nSQL:\n{}", compiled.sql))?;
    drop(warehouse);

    compare_tables(&expected, &actual).map_err(|mismatch| {
        format!(
            "{mismatch}\nquery: {:?}\ncompiled SQL:\n{}\nexpected SQL:\n{}",
            case.query, compiled.sql, case.expected_sql
        )
    })
}

// ---------------------------------------------------------------------------
// Comparing results

/// A result value reduced to what the comparison needs.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Number(f64),
    Text(String),
}

impl Cell {
    fn from_value(value: &Value) -> Cell {
        let midnight = NaiveTime::MIN;
        match value {
            Value::Null => Cell::Null,
            Value::Int(_) | Value::Float(_) => Cell::Number(value.as_f64().unwrap_or(f64::NAN)),
            // A bucket may come back as DATE or as TIMESTAMP at midnight.
            Value::Timestamp(moment) if moment.time() == midnight => {
                Cell::Text(moment.date().format("%Y-%m-%d").to_string())
            }
            other => Cell::Text(other.to_string()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Cell::Null => 0,
            Cell::Number(_) => 1,
            Cell::Text(_) => 2,
        }
    }

    fn order(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Number(left), Cell::Number(right)) => left.total_cmp(right),
            (Cell::Text(left), Cell::Text(right)) => left.cmp(right),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    fn matches(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Number(left), Cell::Number(right)) => {
                let difference = (left - right).abs();
                let scale = left.abs().max(right.abs());
                difference <= ABSOLUTE_TOLERANCE || difference <= RELATIVE_TOLERANCE * scale
            }
            (Cell::Text(left), Cell::Text(right)) => left == right,
            _ => false,
        }
    }
}

fn sorted_rows(mut rows: Vec<Vec<Cell>>) -> Vec<Vec<Cell>> {
    rows.sort_by(|left, right| {
        left.iter()
            .zip(right)
            .map(|(a, b)| a.order(b))
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    rows
}

/// Compares the rows of `actual` with `expected` as multisets, matching
/// columns by name.
fn compare_tables(expected: &Table, actual: &Table) -> Result<(), String> {
    let actual_names: Vec<&str> = actual
        .columns
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    if actual.columns.len() != expected.columns.len() {
        return Err(format!(
            "expected {} columns, got {}: {actual_names:?}",
            expected.columns.len(),
            actual.columns.len()
        ));
    }
    let mut positions = Vec::new();
    for column in &expected.columns {
        let Some(position) = actual.column_index(&column.name) else {
            return Err(format!(
                "missing column `{}`; got {actual_names:?}",
                column.name
            ));
        };
        positions.push(position);
    }

    let expected_rows = sorted_rows(
        expected
            .rows
            .iter()
            .map(|row| row.iter().map(Cell::from_value).collect())
            .collect(),
    );
    let actual_rows = sorted_rows(
        actual
            .rows
            .iter()
            .map(|row| {
                positions
                    .iter()
                    .map(|&position| Cell::from_value(&row[position]))
                    .collect()
            })
            .collect(),
    );
    if expected_rows.len() != actual_rows.len() {
        return Err(format!(
            "expected {} rows, got {}\nexpected: {expected_rows:?}\nactual:   {actual_rows:?}",
            expected_rows.len(),
            actual_rows.len()
        ));
    }
    for (expected_row, actual_row) in expected_rows.iter().zip(&actual_rows) {
        let row_matches = expected_row
            .iter()
            .zip(actual_row)
            .all(|(left, right)| left.matches(right));
        if !row_matches {
            return Err(format!(
                "rows differ\nexpected row: {expected_row:?}\nactual row:   {actual_row:?}\n\
                 all expected: {expected_rows:?}\nall actual:   {actual_rows:?}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The layer itself

/// Each metric of the bank's definitions: its name, Chinese label and the
/// synonyms that the definitions list for it.
const BANK_METRICS: &[(&str, &str, &[&str])] = &[
    (
        "deposit_balance",
        "存款余额",
        &[
            "存款",
            "余额",
            "存款总额",
            "存款规模",
            "时点存款",
            "时点余额",
            "存款量",
            "deposits",
            "deposit balance",
        ],
    ),
    (
        "average_daily_balance",
        "日均存款",
        &[
            "日均",
            "日均余额",
            "存款日均",
            "平均余额",
            "日均存款余额",
            "average daily balance",
            "ADB",
        ],
    ),
    (
        "increase_since_year_start",
        "比年初增量",
        &[
            "比年初",
            "较年初",
            "新增存款",
            "存款增量",
            "较年初增加",
            "年内新增",
            "increase since start of year",
        ],
    ),
    (
        "increase_month_on_month",
        "比上月增量",
        &["比上月", "较上月末", "环比增量", "月增量"],
    ),
    (
        "growth_rate_month_on_month",
        "环比增长率",
        &["环比", "环比增速", "环比增长", "MoM"],
    ),
    (
        "growth_rate_year_on_year",
        "同比增长率",
        &["同比", "同比增速", "同比增长", "YoY"],
    ),
    (
        "deposit_share",
        "存款占比",
        &["占比", "结构", "构成", "比重", "存款结构", "share"],
    ),
    (
        "demand_deposit_share",
        "活期存款占比",
        &["活期占比", "活期率", "活期存款比例"],
    ),
    (
        "performance_balance",
        "绩效存款",
        &["绩效存款余额", "考核存款", "业绩存款", "客户经理存款"],
    ),
    (
        "performance_average_daily_balance",
        "绩效日均存款",
        &["绩效日均", "考核日均"],
    ),
    (
        "depositors",
        "存款客户数",
        &["存款户数", "有效存款客户", "客户数", "户数"],
    ),
    ("balance_per_depositor", "户均存款", &["户均", "户均余额"]),
    (
        "new_accounts",
        "新开户数",
        &["开户数", "新开账户", "新增账户"],
    ),
    ("interest_expense", "利息支出", &["付息", "利息成本"]),
    (
        "cost_of_deposits",
        "存款付息率",
        &["付息率", "存款成本率", "成本率", "cost of deposits"],
    ),
    ("deposit_deviation", "存款偏离度", &["偏离度", "月末偏离度"]),
];

#[test]
fn layer_defines_every_bank_metric() {
    let layer = semantic_layer();
    for (name, label, synonyms) in BANK_METRICS {
        let Some(metric) = layer.metric(name) else {
            panic!("metric `{name}` is not defined");
        };
        assert_eq!(metric.label.as_deref(), Some(*label), "label of `{name}`");
        assert!(metric.description.is_some(), "`{name}` has no description");
        assert!(
            metric.default_period.is_some(),
            "`{name}` has no default_period"
        );
        assert!(metric.unit.is_some(), "`{name}` has no unit");
        for synonym in *synonyms {
            assert!(
                metric.synonyms.iter().any(|word| word == synonym),
                "`{name}` lacks the synonym `{synonym}`"
            );
        }
    }
}

#[test]
fn percentages_have_percent_unit() {
    let layer = semantic_layer();
    let percentages = [
        "growth_rate_month_on_month",
        "growth_rate_year_on_year",
        "deposit_share",
        "demand_deposit_share",
        "cost_of_deposits",
        "deposit_deviation",
    ];
    for name in percentages {
        let metric = layer
            .metric(name)
            .unwrap_or_else(|| panic!("metric `{name}` is not defined"));
        assert_eq!(metric.unit, Some(Unit::Percent), "unit of `{name}`");
    }
    let share = layer
        .metric("deposit_share")
        .expect("deposit_share is defined");
    assert!(
        matches!(share.kind, MetricKind::Share { .. }),
        "deposit_share is a share metric"
    );
}

#[test]
fn value_synonyms_cover_filter_words() {
    let layer = semantic_layer();
    // (semantic model, dimension, stored value, a word users type for it)
    let expected = [
        ("customer", "customer_type", "个人", "储蓄"),
        ("customer", "customer_type", "个人", "对私"),
        ("customer", "customer_type", "对公", "单位"),
        ("customer", "customer_type", "对公", "企业"),
        ("customer", "is_rural", "true", "涉农"),
        ("product", "term_type", "活期", "活期存款"),
        ("product", "term_type", "定期", "定期存款"),
        ("product", "term_months", "12", "一年期"),
        ("product", "term_months", "6", "半年"),
        ("product", "product_category", "大额存单", "CD"),
        ("product", "product_category", "保证金存款", "保证金"),
        ("account", "open_channel", "网上银行", "网银"),
        ("account", "open_channel", "微信小程序", "小程序"),
    ];
    for (model_name, dimension_name, value, word) in expected {
        let model = layer
            .semantic_model(model_name)
            .unwrap_or_else(|| panic!("semantic model `{model_name}` is not defined"));
        let dimension = model
            .dimension(dimension_name)
            .unwrap_or_else(|| panic!("dimension `{model_name}.{dimension_name}` is not defined"));
        let words = dimension
            .value_synonyms
            .get(value)
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(
            words.iter().any(|known| known == word),
            "`{word}` does not name {dimension_name} = `{value}`"
        );
    }
}

// ---------------------------------------------------------------------------
// Balances

#[test]
fn deposit_balance_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    let month_ends_to_march_15 = bucket_last_days("month", YEAR_START, "2026-03-15");
    let quarter_ends_2025 = bucket_last_days("quarter", "2025-01-01", "2025-12-31");
    check_cases(vec![
        Case::new(
            "point at reference date",
            "deposit_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!("SELECT SUM(f.balance) AS deposit_balance FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}'"),
        ),
        Case::new(
            "year 2025 is its last day",
            "deposit_balance",
            "2025-01-01",
            "2025-12-31",
            format!("SELECT SUM(f.balance) AS deposit_balance FROM {DEPOSITS} WHERE f.biz_date = DATE '2025-12-31'"),
        ),
        Case::new(
            "end date only is the last day with data",
            "deposit_balance",
            REFERENCE_DATE,
            "2026-12-31",
            format!("SELECT SUM(f.balance) AS deposit_balance FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}'"),
        )
        .without_start(),
        Case::new(
            "personal by branch",
            "deposit_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT b.branch_name AS branch__branch_name, SUM(f.balance) AS deposit_balance FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND c.customer_type = '个人' GROUP BY 1"
            ),
        )
        .group_by("branch__branch_name")
        .filter("customer__customer_type", "= '个人'"),
        Case::new(
            "top five branches",
            "deposit_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT b.branch_name AS branch__branch_name, SUM(f.balance) AS deposit_balance FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
            ),
        )
        .group_by("branch__branch_name")
        .top(5, "deposit_balance"),
        Case::new(
            "by district and customer type",
            "deposit_balance",
            "2025-06-30",
            "2025-06-30",
            format!(
                "SELECT b.district AS branch__district, c.customer_type AS customer__customer_type, \
                 SUM(f.balance) AS deposit_balance FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '2025-06-30' GROUP BY 1, 2"
            ),
        )
        .group_by("branch__district")
        .group_by("customer__customer_type"),
        Case::new(
            "monthly 2026",
            "deposit_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, SUM(f.balance) AS deposit_balance \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({month_ends_2026}) GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
        Case::new(
            "monthly series ending mid-month",
            "deposit_balance",
            YEAR_START,
            "2026-03-15",
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, SUM(f.balance) AS deposit_balance \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({month_ends_to_march_15}) GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
        // 2026-11-01 is a Sunday and 2026-11-30 a Monday, so both end weeks are partial.
        Case::new(
            "weekly November 2026",
            "deposit_balance",
            "2026-11-01",
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('week', f.biz_date)::DATE AS metric_time__week, SUM(f.balance) AS deposit_balance \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({}) GROUP BY 1",
                bucket_last_days("week", "2026-11-01", REFERENCE_DATE)
            ),
        )
        .group_by("metric_time__week"),
        Case::new(
            "quarterly 2025 corporate",
            "deposit_balance",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT date_trunc('quarter', f.biz_date)::DATE AS metric_time__quarter, SUM(f.balance) AS deposit_balance \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({quarter_ends_2025}) AND c.customer_type = '对公' GROUP BY 1"
            ),
        )
        .group_by("metric_time__quarter")
        .filter("customer__customer_type", "= '对公'"),
        Case::new(
            "one-year time deposits",
            "deposit_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance) AS deposit_balance FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND p.term_type = '定期' AND p.term_months = 12"
            ),
        )
        .filter("product__term_type", "= '定期'")
        .filter("product__term_months", "= 12"),
        Case::new(
            "rural customers",
            "deposit_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance) AS deposit_balance FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND c.is_rural"
            ),
        )
        .filter("customer__is_rural", "= TRUE"),
        Case::new(
            "accounts opened through open banking",
            "deposit_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance) AS deposit_balance FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND a.open_channel = '开放银行'"
            ),
        )
        .filter("account__open_channel", "= '开放银行'"),
    ]);
}

#[test]
fn average_daily_balance_matches_definition() {
    check_cases(vec![
        Case::new(
            "year to date",
            "average_daily_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance) / (DATE '{REFERENCE_DATE}' - DATE '{YEAR_START}' + 1) AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}'"
            ),
        ),
        Case::new(
            "one day is that day's balance",
            "average_daily_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance) AS average_daily_balance FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}'"
            ),
        ),
        Case::new(
            "by product category year to date",
            "average_daily_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT p.product_category AS product__product_category, \
                 SUM(f.balance) / (DATE '{REFERENCE_DATE}' - DATE '{YEAR_START}' + 1) AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("product__product_category"),
        Case::new(
            "personal by branch year to date",
            "average_daily_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT b.branch_name AS branch__branch_name, \
                 SUM(f.balance) / (DATE '{REFERENCE_DATE}' - DATE '{YEAR_START}' + 1) AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' \
                 AND c.customer_type = '个人' GROUP BY 1"
            ),
        )
        .group_by("branch__branch_name")
        .filter("customer__customer_type", "= '个人'"),
        Case::new(
            "open-banking accounts year to date",
            "average_daily_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance) / (DATE '{REFERENCE_DATE}' - DATE '{YEAR_START}' + 1) AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' \
                 AND a.open_channel = '开放银行'"
            ),
        )
        .filter("account__open_channel", "= '开放银行'"),
        Case::new(
            "monthly 2026",
            "average_daily_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, \
                 SUM(f.balance) / (last_day(f.biz_date) - date_trunc('month', f.biz_date)::DATE + 1) AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' \
                 GROUP BY 1, last_day(f.biz_date), date_trunc('month', f.biz_date)"
            ),
        )
        .group_by("metric_time__month"),
        Case::new(
            "monthly buckets clipped to the range",
            "average_daily_balance",
            "2026-01-15",
            "2026-03-20",
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, \
                 SUM(f.balance) / CASE date_trunc('month', f.biz_date)::DATE \
                     WHEN DATE '2026-01-01' THEN 17 WHEN DATE '2026-02-01' THEN 28 ELSE 20 END AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '2026-01-15' AND DATE '2026-03-20' GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
        Case::new(
            "weekly buckets clipped to the range",
            "average_daily_balance",
            "2026-11-01",
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('week', f.biz_date)::DATE AS metric_time__week, \
                 SUM(f.balance) / COUNT(DISTINCT f.biz_date) AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '2026-11-01' AND DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("metric_time__week"),
        Case::new(
            "quarterly 2025 corporate",
            "average_daily_balance",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT date_trunc('quarter', f.biz_date)::DATE AS metric_time__quarter, \
                 SUM(f.balance) / COUNT(DISTINCT f.biz_date) AS average_daily_balance \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31' \
                 AND c.customer_type = '对公' GROUP BY 1"
            ),
        )
        .group_by("metric_time__quarter")
        .filter("customer__customer_type", "= '对公'"),
    ]);
}

#[test]
fn balance_day_sum_matches_definition() {
    check_cases(vec![
        Case::new(
            "year to date",
            "balance_day_sum",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance) AS balance_day_sum FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}'"
            ),
        ),
        Case::new(
            "monthly 2025",
            "balance_day_sum",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, SUM(f.balance) AS balance_day_sum \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31' GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

// ---------------------------------------------------------------------------
// Growth

/// Returns a SELECT of daily balance totals per group (one group when `key`
/// is `NULL`), so that growth SQL can look up any day's balance by `(key, day)`.
fn daily_totals(key: &str, condition: &str) -> String {
    format!(
        "SELECT {key} AS key, f.biz_date AS day, SUM(f.balance) AS total FROM {DEPOSITS} \
         WHERE {condition} GROUP BY 1, 2"
    )
}

#[test]
fn increase_since_year_start_matches_definition() {
    let month_ends_2025 = bucket_last_days("month", "2025-01-01", "2025-12-31");
    let balance_on = |day: &str, condition: &str| {
        format!(
            "(SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{day}' AND {condition})"
        )
    };
    check_cases(vec![
        Case::new(
            "point at reference date",
            "increase_since_year_start",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT {} - {} AS increase_since_year_start",
                balance_on(REFERENCE_DATE, "TRUE"),
                balance_on("2025-12-31", "TRUE")
            ),
        ),
        Case::new(
            "personal deposits",
            "increase_since_year_start",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT {} - {} AS increase_since_year_start",
                balance_on(REFERENCE_DATE, "c.customer_type = '个人'"),
                balance_on("2025-12-31", "c.customer_type = '个人'")
            ),
        )
        .filter("customer__customer_type", "= '个人'"),
        Case::new(
            "year 2025",
            "increase_since_year_start",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT {} - {} AS increase_since_year_start",
                balance_on("2025-12-31", "TRUE"),
                balance_on("2024-12-31", "TRUE")
            ),
        ),
        // 2023-12-31 is before the data, so 2024 has no value.
        Case::new(
            "year 2024 has no value",
            "increase_since_year_start",
            "2024-01-01",
            "2024-12-31",
            "SELECT CAST(NULL AS DOUBLE) AS increase_since_year_start",
        ),
        Case::new(
            "by customer type",
            "increase_since_year_start",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "WITH daily AS ({}) \
                 SELECT latest.key AS customer__customer_type, latest.total - earlier.total AS increase_since_year_start \
                 FROM daily latest LEFT JOIN daily earlier ON earlier.key = latest.key AND earlier.day = DATE '2025-12-31' \
                 WHERE latest.day = DATE '{REFERENCE_DATE}'",
                daily_totals("c.customer_type", "f.biz_date IN (DATE '2025-12-31', DATE '2026-11-30')")
            ),
        )
        .group_by("customer__customer_type"),
        Case::new(
            "monthly 2025",
            "increase_since_year_start",
            "2025-01-01",
            "2025-12-31",
            format!(
                "WITH daily AS ({}) \
                 SELECT date_trunc('month', latest.day)::DATE AS metric_time__month, \
                 latest.total - earlier.total AS increase_since_year_start \
                 FROM daily latest LEFT JOIN daily earlier ON earlier.day = DATE '2024-12-31' \
                 WHERE latest.day IN ({month_ends_2025})",
                daily_totals("NULL", "TRUE")
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

#[test]
fn increase_month_on_month_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    check_cases(vec![
        Case::new(
            "point at reference date",
            "increase_month_on_month",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}') \
                 - (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-10-31') AS increase_month_on_month"
            ),
        ),
        Case::new(
            "mid-month against previous month end",
            "increase_month_on_month",
            "2026-03-15",
            "2026-03-15",
            format!(
                "SELECT (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-03-15') \
                 - (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-02-28') AS increase_month_on_month"
            ),
        ),
        Case::new(
            "range ends on June 30",
            "increase_month_on_month",
            YEAR_START,
            "2026-06-30",
            format!(
                "SELECT (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-06-30') \
                 - (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-05-31') AS increase_month_on_month"
            ),
        ),
        Case::new(
            "by district",
            "increase_month_on_month",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "WITH daily AS ({}) \
                 SELECT latest.key AS branch__district, latest.total - earlier.total AS increase_month_on_month \
                 FROM daily latest LEFT JOIN daily earlier ON earlier.key = latest.key AND earlier.day = DATE '2026-10-31' \
                 WHERE latest.day = DATE '{REFERENCE_DATE}'",
                daily_totals("b.district", "f.biz_date IN (DATE '2026-10-31', DATE '2026-11-30')")
            ),
        )
        .group_by("branch__district"),
        // January's previous month end, 2025-12-31, lies outside the query range.
        Case::new(
            "monthly 2026",
            "increase_month_on_month",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "WITH daily AS ({}) \
                 SELECT date_trunc('month', latest.day)::DATE AS metric_time__month, \
                 latest.total - earlier.total AS increase_month_on_month \
                 FROM daily latest LEFT JOIN daily earlier \
                 ON earlier.day = (date_trunc('month', latest.day) - INTERVAL 1 DAY)::DATE \
                 WHERE latest.day IN ({month_ends_2026})",
                daily_totals("NULL", "TRUE")
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

#[test]
fn growth_rate_month_on_month_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    check_cases(vec![
        Case::new(
            "point at reference date",
            "growth_rate_month_on_month",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "WITH latest AS (SELECT SUM(f.balance) AS total FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}'), \
                 earlier AS (SELECT SUM(f.balance) AS total FROM {DEPOSITS} WHERE f.biz_date = DATE '2026-10-31') \
                 SELECT (latest.total - earlier.total) * 100.0 / earlier.total AS growth_rate_month_on_month FROM latest, earlier"
            ),
        ),
        Case::new(
            "by branch",
            "growth_rate_month_on_month",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "WITH daily AS ({}) \
                 SELECT latest.key AS branch__branch_name, \
                 (latest.total - earlier.total) * 100.0 / earlier.total AS growth_rate_month_on_month \
                 FROM daily latest LEFT JOIN daily earlier ON earlier.key = latest.key AND earlier.day = DATE '2026-10-31' \
                 WHERE latest.day = DATE '{REFERENCE_DATE}'",
                daily_totals("b.branch_name", "f.biz_date IN (DATE '2026-10-31', DATE '2026-11-30')")
            ),
        )
        .group_by("branch__branch_name"),
        Case::new(
            "monthly 2026 corporate",
            "growth_rate_month_on_month",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "WITH daily AS ({}) \
                 SELECT date_trunc('month', latest.day)::DATE AS metric_time__month, \
                 (latest.total - earlier.total) * 100.0 / earlier.total AS growth_rate_month_on_month \
                 FROM daily latest LEFT JOIN daily earlier \
                 ON earlier.day = (date_trunc('month', latest.day) - INTERVAL 1 DAY)::DATE \
                 WHERE latest.day IN ({month_ends_2026})",
                daily_totals("NULL", "c.customer_type = '对公'")
            ),
        )
        .group_by("metric_time__month")
        .filter("customer__customer_type", "= '对公'"),
    ]);
}

#[test]
fn growth_rate_year_on_year_matches_definition() {
    let month_ends_2025 = bucket_last_days("month", "2025-01-01", "2025-12-31");
    let growth_between = |latest: &str, earlier: &str, condition: &str| {
        format!(
            "WITH latest AS (SELECT SUM(f.balance) AS total FROM {DEPOSITS} WHERE f.biz_date = DATE '{latest}' AND {condition}), \
             earlier AS (SELECT SUM(f.balance) AS total FROM {DEPOSITS} WHERE f.biz_date = DATE '{earlier}' AND {condition}) \
             SELECT (latest.total - earlier.total) * 100.0 / earlier.total AS growth_rate_year_on_year FROM latest, earlier"
        )
    };
    check_cases(vec![
        Case::new(
            "point at reference date",
            "growth_rate_year_on_year",
            REFERENCE_DATE,
            REFERENCE_DATE,
            growth_between(REFERENCE_DATE, "2025-11-30", "TRUE"),
        ),
        Case::new(
            "personal deposits",
            "growth_rate_year_on_year",
            REFERENCE_DATE,
            REFERENCE_DATE,
            growth_between(REFERENCE_DATE, "2025-11-30", "c.customer_type = '个人'"),
        )
        .filter("customer__customer_type", "= '个人'"),
        // A month end compares with the month end a year earlier, a leap day here.
        Case::new(
            "February month end against leap day",
            "growth_rate_year_on_year",
            "2025-02-28",
            "2025-02-28",
            growth_between("2025-02-28", "2024-02-29", "TRUE"),
        ),
        Case::new(
            "mid-month against same day",
            "growth_rate_year_on_year",
            "2025-03-15",
            "2025-03-15",
            growth_between("2025-03-15", "2024-03-15", "TRUE"),
        ),
        Case::new(
            "by customer type",
            "growth_rate_year_on_year",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "WITH daily AS ({}) \
                 SELECT latest.key AS customer__customer_type, \
                 (latest.total - earlier.total) * 100.0 / earlier.total AS growth_rate_year_on_year \
                 FROM daily latest LEFT JOIN daily earlier ON earlier.key = latest.key AND earlier.day = DATE '2025-11-30' \
                 WHERE latest.day = DATE '{REFERENCE_DATE}'",
                daily_totals("c.customer_type", "f.biz_date IN (DATE '2025-11-30', DATE '2026-11-30')")
            ),
        )
        .group_by("customer__customer_type"),
        Case::new(
            "monthly 2025",
            "growth_rate_year_on_year",
            "2025-01-01",
            "2025-12-31",
            format!(
                "WITH daily AS ({}) \
                 SELECT date_trunc('month', latest.day)::DATE AS metric_time__month, \
                 (latest.total - earlier.total) * 100.0 / earlier.total AS growth_rate_year_on_year \
                 FROM daily latest LEFT JOIN daily earlier \
                 ON earlier.day = last_day((latest.day - INTERVAL 1 YEAR)::DATE) \
                 WHERE latest.day IN ({month_ends_2025})",
                daily_totals("NULL", "TRUE")
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

// ---------------------------------------------------------------------------
// Structure

#[test]
fn deposit_share_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    check_cases(vec![
        Case::new(
            "by product category",
            "deposit_share",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT p.product_category AS product__product_category, \
                 SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER () AS deposit_share \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("product__product_category"),
        Case::new(
            "by customer type",
            "deposit_share",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT c.customer_type AS customer__customer_type, \
                 SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER () AS deposit_share \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("customer__customer_type"),
        // The filter applies to the total too: segments' shares of corporate deposits.
        Case::new(
            "segments within corporate",
            "deposit_share",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT c.customer_segment AS customer__customer_segment, \
                 SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER () AS deposit_share \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND c.customer_type = '对公' GROUP BY 1"
            ),
        )
        .group_by("customer__customer_segment")
        .filter("customer__customer_type", "= '对公'"),
        Case::new(
            "by branch at end of 2025",
            "deposit_share",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT b.branch_name AS branch__branch_name, \
                 SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER () AS deposit_share \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '2025-12-31' GROUP BY 1"
            ),
        )
        .group_by("branch__branch_name"),
        Case::new(
            "monthly by customer type",
            "deposit_share",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, \
                 c.customer_type AS customer__customer_type, \
                 SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER (PARTITION BY date_trunc('month', f.biz_date)) \
                 AS deposit_share \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({month_ends_2026}) GROUP BY 1, 2, date_trunc('month', f.biz_date)"
            ),
        )
        .group_by("metric_time__month")
        .group_by("customer__customer_type"),
        Case::new(
            "with balance and average by product category",
            "deposit_share",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "WITH point AS (SELECT p.product_category AS category, SUM(f.balance) AS balance FROM {DEPOSITS} \
                     WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1), \
                 average AS (SELECT p.product_category AS category, SUM(f.balance) / 334 AS balance FROM {DEPOSITS} \
                     WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1) \
                 SELECT point.category AS product__product_category, \
                 point.balance * 100.0 / SUM(point.balance) OVER () AS deposit_share, \
                 point.balance AS deposit_balance, average.balance AS average_daily_balance \
                 FROM point JOIN average ON average.category = point.category"
            ),
        )
        .with_metric("deposit_balance")
        .with_metric("average_daily_balance")
        .group_by("product__product_category"),
        Case::new(
            "no group is the whole",
            "deposit_share",
            REFERENCE_DATE,
            REFERENCE_DATE,
            "SELECT 100.0 AS deposit_share",
        ),
    ]);
}

#[test]
fn demand_deposit_share_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    let demand_share =
        "SUM(CASE WHEN p.term_type = '活期' THEN f.balance END) * 100.0 / SUM(f.balance)";
    check_cases(vec![
        Case::new(
            "point at reference date",
            "demand_deposit_share",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND p.term_type = '活期') \
                 * 100.0 / (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}') \
                 AS demand_deposit_share"
            ),
        ),
        Case::new(
            "year 2025 is its last day",
            "demand_deposit_share",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT {demand_share} AS demand_deposit_share FROM {DEPOSITS} WHERE f.biz_date = DATE '2025-12-31'"
            ),
        ),
        Case::new(
            "by branch",
            "demand_deposit_share",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT b.branch_name AS branch__branch_name, {demand_share} AS demand_deposit_share \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("branch__branch_name"),
        Case::new(
            "monthly 2026",
            "demand_deposit_share",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, {demand_share} AS demand_deposit_share \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({month_ends_2026}) GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

// ---------------------------------------------------------------------------
// Performance deposits

#[test]
fn performance_balance_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    check_cases(vec![
        Case::new(
            "whole bank",
            "performance_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.balance * s.share) AS performance_balance FROM {PERFORMANCE_DEPOSITS} \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}'"
            ),
        ),
        Case::new(
            "by manager",
            "performance_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT m.manager_name AS manager__manager_name, SUM(f.balance * s.share) AS performance_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("manager__manager_name"),
        Case::new(
            "top ten managers",
            "performance_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT m.manager_name AS manager__manager_name, SUM(f.balance * s.share) AS performance_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
                 GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
            ),
        )
        .group_by("manager__manager_name")
        .top(10, "performance_balance"),
        Case::new(
            "by manager's branch",
            "performance_balance",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT mb.branch_name AS branch__branch_name, SUM(f.balance * s.share) AS performance_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("branch__branch_name"),
        Case::new(
            "personal by manager at end of 2025",
            "performance_balance",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT m.manager_name AS manager__manager_name, SUM(f.balance * s.share) AS performance_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date = DATE '2025-12-31' AND c.customer_type = '个人' GROUP BY 1"
            ),
        )
        .group_by("manager__manager_name")
        .filter("customer__customer_type", "= '个人'"),
        Case::new(
            "monthly 2026",
            "performance_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, \
                 SUM(f.balance * s.share) AS performance_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date IN ({month_ends_2026}) GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

#[test]
fn performance_average_daily_balance_matches_definition() {
    check_cases(vec![
        Case::new(
            "by manager year to date",
            "performance_average_daily_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT m.manager_name AS manager__manager_name, \
                 SUM(f.balance * s.share) / (DATE '{REFERENCE_DATE}' - DATE '{YEAR_START}' + 1) \
                 AS performance_average_daily_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' \
                 GROUP BY 1"
            ),
        )
        .group_by("manager__manager_name"),
        Case::new(
            "by manager's branch in the third quarter",
            "performance_average_daily_balance",
            "2026-07-01",
            "2026-09-30",
            format!(
                "SELECT mb.branch_name AS branch__branch_name, \
                 SUM(f.balance * s.share) / 92 AS performance_average_daily_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date BETWEEN DATE '2026-07-01' AND DATE '2026-09-30' GROUP BY 1"
            ),
        )
        .group_by("branch__branch_name"),
        Case::new(
            "monthly 2026",
            "performance_average_daily_balance",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, \
                 SUM(f.balance * s.share) / COUNT(DISTINCT f.biz_date) AS performance_average_daily_balance \
                 FROM {PERFORMANCE_DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' \
                 GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

// ---------------------------------------------------------------------------
// Customers and accounts

#[test]
fn depositors_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    let depositors = "COUNT(DISTINCT CASE WHEN f.balance > 0 THEN f.customer_id END)";
    check_cases(vec![
        Case::new(
            "point at reference date",
            "depositors",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT COUNT(DISTINCT f.customer_id) AS depositors FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND f.balance > 0"
            ),
        ),
        Case::new(
            "year 2025 is its last day",
            "depositors",
            "2025-01-01",
            "2025-12-31",
            format!("SELECT {depositors} AS depositors FROM {DEPOSITS} WHERE f.biz_date = DATE '2025-12-31'"),
        ),
        Case::new(
            "by customer type",
            "depositors",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT c.customer_type AS customer__customer_type, {depositors} AS depositors \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("customer__customer_type"),
        Case::new(
            "by branch",
            "depositors",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT b.branch_name AS branch__branch_name, {depositors} AS depositors \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("branch__branch_name"),
        Case::new(
            "monthly 2026",
            "depositors",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, {depositors} AS depositors \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({month_ends_2026}) GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

#[test]
fn balance_per_depositor_matches_definition() {
    let month_ends_2026 = bucket_last_days("month", YEAR_START, REFERENCE_DATE);
    let per_depositor =
        "SUM(f.balance) / COUNT(DISTINCT CASE WHEN f.balance > 0 THEN f.customer_id END)";
    check_cases(vec![
        Case::new(
            "point at reference date",
            "balance_per_depositor",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT (SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}') \
                 / (SELECT COUNT(DISTINCT f.customer_id) FROM {DEPOSITS} \
                    WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND f.balance > 0) AS balance_per_depositor"
            ),
        ),
        Case::new(
            "by customer type",
            "balance_per_depositor",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT c.customer_type AS customer__customer_type, {per_depositor} AS balance_per_depositor \
                 FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("customer__customer_type"),
        Case::new(
            "monthly 2026 personal",
            "balance_per_depositor",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, {per_depositor} AS balance_per_depositor \
                 FROM {DEPOSITS} WHERE f.biz_date IN ({month_ends_2026}) AND c.customer_type = '个人' GROUP BY 1"
            ),
        )
        .group_by("metric_time__month")
        .filter("customer__customer_type", "= '个人'"),
    ]);
}

#[test]
fn new_accounts_matches_definition() {
    check_cases(vec![
        Case::new(
            "year to date",
            "new_accounts",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT COUNT(*) AS new_accounts FROM dim_account a \
                 WHERE a.open_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}'"
            ),
        ),
        // Opening dates start in 2019, before the daily balances.
        Case::new(
            "year 2019 before the balances",
            "new_accounts",
            "2019-01-01",
            "2019-12-31",
            "SELECT COUNT(*) AS new_accounts FROM dim_account a \
             WHERE a.open_date BETWEEN DATE '2019-01-01' AND DATE '2019-12-31'",
        ),
        Case::new(
            "by channel year to date",
            "new_accounts",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT a.open_channel AS account__open_channel, COUNT(*) AS new_accounts FROM dim_account a \
                 WHERE a.open_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("account__open_channel"),
        Case::new(
            "corporate by branch in 2025",
            "new_accounts",
            "2025-01-01",
            "2025-12-31",
            "SELECT b.branch_name AS branch__branch_name, COUNT(*) AS new_accounts FROM dim_account a \
             JOIN dim_branch b ON b.branch_id = a.branch_id JOIN dim_customer c ON c.customer_id = a.customer_id \
             WHERE a.open_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31' AND c.customer_type = '对公' GROUP BY 1",
        )
        .group_by("branch__branch_name")
        .filter("customer__customer_type", "= '对公'"),
        Case::new(
            "monthly 2026",
            "new_accounts",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', a.open_date)::DATE AS metric_time__month, COUNT(*) AS new_accounts \
                 FROM dim_account a WHERE a.open_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

// ---------------------------------------------------------------------------
// Interest

#[test]
fn interest_expense_matches_definition() {
    check_cases(vec![
        Case::new(
            "year 2024",
            "interest_expense",
            "2024-01-01",
            "2024-12-31",
            "SELECT SUM(f.interest_accrued) AS interest_expense FROM fact_deposit_daily f \
             WHERE f.biz_date BETWEEN DATE '2024-01-01' AND DATE '2024-12-31'",
        ),
        Case::new(
            "one day",
            "interest_expense",
            REFERENCE_DATE,
            REFERENCE_DATE,
            format!(
                "SELECT SUM(f.interest_accrued) AS interest_expense FROM fact_deposit_daily f \
                 WHERE f.biz_date = DATE '{REFERENCE_DATE}'"
            ),
        ),
        Case::new(
            "by product category year to date",
            "interest_expense",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT p.product_category AS product__product_category, SUM(f.interest_accrued) AS interest_expense \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("product__product_category"),
        Case::new(
            "monthly 2026",
            "interest_expense",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, SUM(f.interest_accrued) AS interest_expense \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1"
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

#[test]
fn cost_of_deposits_matches_definition() {
    // 利息支出 / 日均存款 × 360 / days(P) × 100, written out as defined.
    let cost = |days: &str| {
        format!("SUM(f.interest_accrued) / (SUM(f.balance) / ({days})) * 360.0 / ({days}) * 100")
    };
    let year_to_date_days = format!("DATE '{REFERENCE_DATE}' - DATE '{YEAR_START}' + 1");
    check_cases(vec![
        Case::new(
            "year to date",
            "cost_of_deposits",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT {} AS cost_of_deposits FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}'",
                cost(&year_to_date_days)
            ),
        ),
        Case::new(
            "year 2025",
            "cost_of_deposits",
            "2025-01-01",
            "2025-12-31",
            format!(
                "SELECT {} AS cost_of_deposits FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'",
                cost("365")
            ),
        ),
        Case::new(
            "by customer type year to date",
            "cost_of_deposits",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT c.customer_type AS customer__customer_type, {} AS cost_of_deposits FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1",
                cost(&year_to_date_days)
            ),
        )
        .group_by("customer__customer_type"),
        Case::new(
            "monthly 2026",
            "cost_of_deposits",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "SELECT date_trunc('month', f.biz_date)::DATE AS metric_time__month, {} AS cost_of_deposits \
                 FROM {DEPOSITS} WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' GROUP BY 1",
                cost("COUNT(DISTINCT f.biz_date)")
            ),
        )
        .group_by("metric_time__month"),
    ]);
}

// ---------------------------------------------------------------------------
// Deviation

#[test]
fn deposit_deviation_matches_definition() {
    let deviation_in = |start: &str, end: &str, condition: &str| {
        format!(
            "WITH month_end AS (SELECT SUM(f.balance) AS total FROM {DEPOSITS} \
                 WHERE f.biz_date = DATE '{end}' AND {condition}), \
             average AS (SELECT SUM(f.balance) / (DATE '{end}' - DATE '{start}' + 1) AS total FROM {DEPOSITS} \
                 WHERE f.biz_date BETWEEN DATE '{start}' AND DATE '{end}' AND {condition}) \
             SELECT (month_end.total - average.total) * 100.0 / average.total AS deposit_deviation \
             FROM month_end, average"
        )
    };
    check_cases(vec![
        Case::new(
            "October 2026",
            "deposit_deviation",
            "2026-10-01",
            "2026-10-31",
            deviation_in("2026-10-01", "2026-10-31", "TRUE"),
        ),
        Case::new(
            "personal February 2026",
            "deposit_deviation",
            "2026-02-01",
            "2026-02-28",
            deviation_in("2026-02-01", "2026-02-28", "c.customer_type = '个人'"),
        )
        .filter("customer__customer_type", "= '个人'"),
        Case::new(
            "by branch October 2026",
            "deposit_deviation",
            "2026-10-01",
            "2026-10-31",
            format!(
                "WITH daily AS ({}) \
                 SELECT key AS branch__branch_name, \
                 (arg_max(total, day) - SUM(total) / 31) * 100.0 / (SUM(total) / 31) AS deposit_deviation \
                 FROM daily GROUP BY 1",
                daily_totals("b.branch_name", "f.biz_date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'")
            ),
        )
        .group_by("branch__branch_name"),
        Case::new(
            "monthly 2026",
            "deposit_deviation",
            YEAR_START,
            REFERENCE_DATE,
            format!(
                "WITH daily AS ({}) \
                 SELECT date_trunc('month', day)::DATE AS metric_time__month, \
                 (arg_max(total, day) - AVG(total)) * 100.0 / AVG(total) AS deposit_deviation \
                 FROM daily GROUP BY 1",
                daily_totals("NULL", &format!("f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}'"))
            ),
        )
        .group_by("metric_time__month"),
    ]);
}
