//! Question understanding, checked through `Assistant::respond` with the
//! questions a user types: Chinese and English questions, follow-ups in one
//! conversation, a semantic layer extended in YAML, periods without data and
//! malformed input.
//!
//! The assistant runs on a demo warehouse (seed 42, scale 1) generated once
//! per test run and on the repository's `semantic_layer/`. Each test asserts
//! the answer's kind and the fields of its `query` JSON. Where a hand-written
//! SQL statement is cheap to write from the bank's definitions, the answer's
//! rows are also compared with the rows that statement returns on the same
//! warehouse. Numbers match when they differ by at most 0.01 or by a
//! relative 1e-6.
//!
//! A question the assistant still misreads keeps its test, marked
//! `#[ignore]` with the reason, so that fixing the reading makes it pass.
//! None is ignored now.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use common::semantic_layer_dir;
use serde_json::{Value as Json, json};
use wenshu::assistant::{AnswerKind, Assistant, ChatResponse, ConversationState};
use wenshu::warehouse::{DuckDb, Value, Warehouse};

/// The demo warehouse's reference date (数据日期): its latest `biz_date`.
const REFERENCE_DATE: &str = "2026-11-30";
const YEAR_START: &str = "2026-01-01";
/// The first `biz_date` of the demo warehouse.
const DATA_START: &str = "2024-01-01";

/// Every daily balance row with the dimension tables a filter may need.
const DEPOSITS: &str = "fact_deposit_daily f \
    JOIN dim_customer c ON c.customer_id = f.customer_id \
    JOIN dim_product p ON p.product_id = f.product_id \
    JOIN dim_branch b ON b.branch_id = f.branch_id";

const ABSOLUTE_TOLERANCE: f64 = 0.01;
const RELATIVE_TOLERANCE: f64 = 1e-6;

// ---------------------------------------------------------------------------
// Fixtures

/// Generates the demo warehouse once per test run.
fn demo_warehouse() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::generate_demo_warehouse("understanding"))
}

/// Returns the assistant over the repository's `semantic_layer/`, shared by the tests.
fn assistant() -> &'static Assistant {
    static ASSISTANT: OnceLock<Assistant> = OnceLock::new();
    ASSISTANT.get_or_init(|| {
        Assistant::open(&semantic_layer_dir(), demo_warehouse())
            .unwrap_or_else(|error| panic!("cannot open the assistant: {error}"))
    })
}

/// Returns a second read-only connection for the hand-written SQL, shared by the tests.
fn warehouse() -> MutexGuard<'static, DuckDb> {
    static WAREHOUSE: OnceLock<Mutex<DuckDb>> = OnceLock::new();
    let shared = WAREHOUSE.get_or_init(|| {
        let path = demo_warehouse();
        let warehouse = DuckDb::open_read_only(path)
            .unwrap_or_else(|error| panic!("cannot open `{}`: {error}", path.display()));
        Mutex::new(warehouse)
    });
    // A test that panicked while holding the lock left the connection intact.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Asks one question in a new conversation.
fn ask(question: &str) -> ChatResponse {
    Conversation::new(assistant()).ask(question)
}

/// One conversation: its memory carries from one question to the next.
struct Conversation<'a> {
    assistant: &'a Assistant,
    state: ConversationState,
}

impl<'a> Conversation<'a> {
    fn new(assistant: &'a Assistant) -> Conversation<'a> {
        Conversation {
            assistant,
            state: ConversationState::default(),
        }
    }

    fn ask(&mut self, question: &str) -> ChatResponse {
        self.assistant
            .respond("understanding-test", &mut self.state, question)
    }
}

// ---------------------------------------------------------------------------
// Expected queries

/// The expected `query` JSON of a metric response, built field by field. It
/// starts as one metric on the reference date with no breakdown, filter or order.
#[derive(Debug, Clone)]
struct Expected {
    metrics: Vec<String>,
    dimensions: Vec<String>,
    filters: Vec<String>,
    start: String,
    end: String,
    grain: Option<String>,
    order: Vec<String>,
    limit: Option<u64>,
}

impl Expected {
    fn metric(name: &str) -> Expected {
        Expected {
            metrics: vec![name.to_owned()],
            dimensions: Vec::new(),
            filters: Vec::new(),
            start: REFERENCE_DATE.to_owned(),
            end: REFERENCE_DATE.to_owned(),
            grain: None,
            order: Vec::new(),
            limit: None,
        }
    }

    fn and_metric(mut self, name: &str) -> Expected {
        self.metrics.push(name.to_owned());
        self
    }

    fn by(mut self, item: &str) -> Expected {
        self.dimensions.push(item.to_owned());
        self
    }

    /// Adds `dimension = 'value'` in MetricFlow's filter syntax.
    fn filter(mut self, dimension: &str, value: &str) -> Expected {
        self.filters
            .push(dimension_filter(dimension, &format!("'{value}'")));
        self
    }

    /// Adds `dimension = number` for a numeric dimension.
    fn filter_number(mut self, dimension: &str, value: i64) -> Expected {
        self.filters
            .push(dimension_filter(dimension, &value.to_string()));
        self
    }

    fn period(mut self, start: &str, end: &str) -> Expected {
        self.start = start.to_owned();
        self.end = end.to_owned();
        self
    }

    fn year_to_date(self) -> Expected {
        self.period(YEAR_START, REFERENCE_DATE)
    }

    /// Adds a time breakdown: the `metric_time__<grain>` dimension, ordered
    /// by time.
    fn series(mut self, grain: &str) -> Expected {
        let item = format!("metric_time__{grain}");
        self.dimensions.push(item.clone());
        self.order.push(item);
        self.grain = Some(grain.to_owned());
        self
    }

    /// Orders by an item, descending when it starts with `-`.
    fn order(mut self, item: &str) -> Expected {
        self.order.push(item.to_owned());
        self
    }

    /// Expects a series whose time buckets are ranked by the metric first.
    fn ranked_series(mut self, grain: &str, metric: &str) -> Expected {
        let item = format!("metric_time__{grain}");
        self.dimensions.push(item.clone());
        self.order.push(format!("-{metric}"));
        self.order.push(item);
        self.grain = Some(grain.to_owned());
        self
    }

    fn limit(mut self, limit: u64) -> Expected {
        self.limit = Some(limit);
        self
    }

    fn to_json(&self) -> Json {
        json!({
            "metrics": self.metrics,
            "dimensions": self.dimensions,
            "filters": self.filters,
            "period": {"start": self.start, "end": self.end},
            "grain": self.grain,
            "order": self.order,
            "limit": self.limit,
        })
    }
}

/// Builds the filter text the assistant writes, e.g.
/// `{{ Dimension('customer__customer_type') }} = '个人'`, from a SQL literal.
fn dimension_filter(dimension: &str, literal: &str) -> String {
    format!("{{{{ Dimension('{dimension}') }}}} = {literal}")
}

/// The fields of the `query` JSON, in the order the API documents them.
const QUERY_FIELDS: [&str; 7] = [
    "metrics",
    "dimensions",
    "filters",
    "period",
    "grain",
    "order",
    "limit",
];

/// Lists how `response` differs from a metric answer with the `expected`
/// query, one line per field; returns an empty list when it does not.
fn query_differences(response: &ChatResponse, expected: &Expected) -> Vec<String> {
    if response.kind != AnswerKind::Metric {
        return vec![format!(
            "kind is {:?}, expected Metric; text: {}",
            response.kind, response.text
        )];
    }
    let Some(actual) = &response.query else {
        return vec![format!(
            "the metric answer has no query; text: {}",
            response.text
        )];
    };
    let expected = expected.to_json();
    let mut differences = Vec::new();
    for field in QUERY_FIELDS {
        if actual.get(field) != expected.get(field) {
            differences.push(format!(
                "{field} is {}, expected {}",
                actual.get(field).unwrap_or(&Json::Null),
                expected[field]
            ));
        }
    }
    differences
}

/// Asserts that `response` is a metric answer with the `expected` query,
/// with one assert per field.
fn assert_query(question: &str, response: &ChatResponse, expected: &Expected) {
    assert_eq!(
        response.kind,
        AnswerKind::Metric,
        "`{question}`: kind; text: {}",
        response.text
    );
    let actual = response.query.as_ref().unwrap_or_else(|| {
        panic!(
            "`{question}`: the metric answer has no query; text: {}",
            response.text
        )
    });
    let expected = expected.to_json();
    for field in QUERY_FIELDS {
        assert_eq!(
            actual.get(field),
            expected.get(field),
            "`{question}`: query field `{field}`"
        );
    }
}

/// Checks a table of (question, expected query) in new conversations and
/// fails once, listing every question that was read differently.
fn assert_readings(cases: &[(&str, Expected)]) {
    let mut misread = Vec::new();
    for (question, expected) in cases {
        let differences = query_differences(&ask(question), expected);
        if !differences.is_empty() {
            misread.push(format!("`{question}`:\n  {}", differences.join("\n  ")));
        }
    }
    assert!(
        misread.is_empty(),
        "{} of {} questions were misread:\n{}",
        misread.len(),
        cases.len(),
        misread.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Expected rows

/// Runs `sql` on the warehouse and asserts that the answer's rows are the
/// same. Unless `ordered`, rows are compared after sorting both sides by
/// their text and date columns.
fn assert_rows(question: &str, response: &ChatResponse, sql: &str, ordered: bool) {
    let expected = warehouse()
        .query(sql)
        .unwrap_or_else(|error| {
            panic!("`{question}`: hand-written SQL failed: {error}\nSQL: {sql}")
        })
        .rows;
    let mut actual = response.rows.clone().unwrap_or_else(|| {
        panic!(
            "`{question}`: the answer has no rows; text: {}",
            response.text
        )
    });
    let mut expected = expected;
    if !ordered {
        actual.sort_by_key(|row| group_key(row));
        expected.sort_by_key(|row| group_key(row));
    }

    assert_eq!(
        actual.len(),
        expected.len(),
        "`{question}`: row count\nactual: {actual:?}\nexpected: {expected:?}\nSQL: {sql}"
    );
    for (index, (actual_row, expected_row)) in actual.iter().zip(&expected).enumerate() {
        let same = actual_row.len() == expected_row.len()
            && actual_row
                .iter()
                .zip(expected_row)
                .all(|(left, right)| same_value(left, right));
        assert!(
            same,
            "`{question}`: row {index} is {actual_row:?}, expected {expected_row:?}\nSQL: {sql}"
        );
    }
}

/// Returns the row's text and date columns, which name its group.
fn group_key(row: &[Value]) -> Vec<String> {
    row.iter()
        .filter(|value| value.as_f64().is_none())
        .map(Value::to_string)
        .collect()
}

fn same_value(left: &Value, right: &Value) -> bool {
    match (left.as_f64(), right.as_f64()) {
        (Some(left), Some(right)) => {
            let difference = (left - right).abs();
            difference <= ABSOLUTE_TOLERANCE
                || difference <= RELATIVE_TOLERANCE * left.abs().max(right.abs())
        }
        _ => left == right,
    }
}

/// Returns the one number of a one-row, one-value answer.
fn single_number(question: &str, response: &ChatResponse) -> f64 {
    let rows = response.rows.as_deref().unwrap_or_default();
    assert_eq!(
        rows.len(),
        1,
        "`{question}`: expected one row, got {rows:?}"
    );
    let value = rows[0].last().and_then(Value::as_f64);
    value.unwrap_or_else(|| panic!("`{question}`: expected a number, got {:?}", rows[0]))
}

// ---------------------------------------------------------------------------
// Metric words and synonyms

#[test]
fn derived_metric_beside_its_base_wins() {
    let cases = [
        (
            "存款余额环比",
            Expected::metric("growth_rate_month_on_month"),
        ),
        (
            "11月存款余额环比",
            Expected::metric("growth_rate_month_on_month").period("2026-11-01", "2026-11-30"),
        ),
        ("存款余额同比", Expected::metric("growth_rate_year_on_year")),
        (
            "存款余额比年初",
            Expected::metric("increase_since_year_start"),
        ),
        ("户均存款余额", Expected::metric("balance_per_depositor")),
        (
            "deposit balance year over year",
            Expected::metric("growth_rate_year_on_year"),
        ),
        (
            "存款余额和日均存款",
            Expected::metric("deposit_balance")
                .and_metric("average_daily_balance")
                .year_to_date(),
        ),
    ];
    assert_readings(&cases);
}

#[test]
fn definition_follows_question_language() {
    let english = ask("What is the deposit balance?");
    let chinese = ask("存款余额是多少");

    assert!(
        english.text.contains("Definition (口径): Period-end"),
        "{}",
        english.text
    );
    assert!(
        english.definitions[0].starts_with("deposit balance: Period-end"),
        "{:?}",
        english.definitions
    );
    assert!(
        chinese.text.contains("口径：期末（时点）存款余额"),
        "{}",
        chinese.text
    );
}

#[test]
fn which_month_ranks_the_months() {
    let cases = [
        (
            "今年哪个月日均存款最高",
            Expected::metric("average_daily_balance")
                .year_to_date()
                .ranked_series("month", "average_daily_balance")
                .limit(1),
        ),
        (
            "存款余额最高的是哪个月",
            Expected::metric("deposit_balance")
                .period("2025-12-01", REFERENCE_DATE)
                .ranked_series("month", "deposit_balance")
                .limit(1),
        ),
    ];
    assert_readings(&cases);
}

#[test]
fn ranking_without_breakdown_asks_back() {
    for question in [
        "存款余额前十",
        "余额最大的10个账户",
        "top 5 deposit balance",
    ] {
        let response = ask(question);

        assert_eq!(
            response.kind,
            AnswerKind::Clarify,
            "{question}: {}",
            response.text
        );
        let candidates = response.candidates.clone().unwrap_or_default();
        assert!(
            candidates
                .iter()
                .any(|candidate| candidate.contains("机构") || candidate.contains("branch")),
            "{question}: {candidates:?}"
        );
        assert!(response.sql.is_none(), "{question}");
    }
}

#[test]
fn breakdown_inside_metric_word() {
    let by_manager = || {
        Expected::metric("performance_balance")
            .by("manager__manager_name")
            .order("-performance_balance")
    };
    let cases = [
        ("各客户经理存款余额前十", by_manager().limit(10)),
        ("客户经理存款排名", by_manager()),
        (
            "客户经理存款有多少",
            Expected::metric("performance_balance"),
        ),
    ];
    assert_readings(&cases);
}

#[test]
fn metric_labels_and_synonyms() {
    let ytd = |name: &str| Expected::metric(name).year_to_date();
    let cases = [
        ("全行存款余额是多少？", Expected::metric("deposit_balance")),
        ("存款规模", Expected::metric("deposit_balance")),
        ("时点余额", Expected::metric("deposit_balance")),
        ("deposit balance", Expected::metric("deposit_balance")),
        (
            "What are the total deposits?",
            Expected::metric("deposit_balance"),
        ),
        ("日均存款", ytd("average_daily_balance")),
        ("今年日均余额", ytd("average_daily_balance")),
        ("ADB", ytd("average_daily_balance")),
        ("average daily balance", ytd("average_daily_balance")),
        (
            "What is the year-to-date average daily deposit balance?",
            ytd("average_daily_balance"),
        ),
        ("存款客户数", Expected::metric("depositors")),
        ("有效存款客户有多少", Expected::metric("depositors")),
        ("number of depositors", Expected::metric("depositors")),
        ("户均存款", Expected::metric("balance_per_depositor")),
        ("新开户数", ytd("new_accounts")),
        ("accounts opened", ytd("new_accounts")),
        ("利息支出", ytd("interest_expense")),
        ("存款付息率", ytd("cost_of_deposits")),
        ("cost of deposits", ytd("cost_of_deposits")),
        ("考核存款", Expected::metric("performance_balance")),
        ("绩效日均", ytd("performance_average_daily_balance")),
        ("活期存款占比", Expected::metric("demand_deposit_share")),
        // 存款偏离度 defaults to the reference month.
        (
            "月末偏离度",
            Expected::metric("deposit_deviation").period("2026-11-01", REFERENCE_DATE),
        ),
    ];
    assert_readings(&cases);
}

#[test]
fn balance_rows_match_sql() {
    let question = "全行存款余额是多少？";
    let response = ask(question);

    assert_query(question, &response, &Expected::metric("deposit_balance"));
    let sql = format!(
        "SELECT SUM(f.balance) FROM fact_deposit_daily f WHERE f.biz_date = DATE '{REFERENCE_DATE}'"
    );
    assert_rows(question, &response, &sql, false);
    assert!(
        response.text.contains(REFERENCE_DATE),
        "the answer names its date: {}",
        response.text
    );
}

#[test]
fn average_daily_balance_rows_match_sql() {
    let question = "ADB";
    let response = ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("average_daily_balance").year_to_date(),
    );
    let sql = format!(
        "SELECT SUM(f.balance) / (DATE '{REFERENCE_DATE}' - DATE '{YEAR_START}' + 1) FROM fact_deposit_daily f \
         WHERE f.biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}'"
    );
    assert_rows(question, &response, &sql, false);
}

// ---------------------------------------------------------------------------
// Value words as filters

#[test]
fn personal_time_deposits_filter_two_dimensions() {
    let question = "个人定期存款";
    let response = ask(question);

    let expected = Expected::metric("deposit_balance")
        .filter("customer__customer_type", "个人")
        .filter("product__term_type", "定期");
    assert_query(question, &response, &expected);
    let sql = format!(
        "SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
         AND c.customer_type = '个人' AND p.term_type = '定期'"
    );
    assert_rows(question, &response, &sql, false);
}

#[test]
fn savings_deposits_mean_personal() {
    let question = "储蓄存款余额";
    let response = ask(question);

    let expected = Expected::metric("deposit_balance").filter("customer__customer_type", "个人");
    assert_query(question, &response, &expected);
    let sql = format!(
        "SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND c.customer_type = '个人'"
    );
    assert_rows(question, &response, &sql, false);
}

#[test]
fn certificates_of_deposit_filter_category() {
    let question = "大额存单余额";
    let response = ask(question);

    let expected =
        Expected::metric("deposit_balance").filter("product__product_category", "大额存单");
    assert_query(question, &response, &expected);
    let sql = format!(
        "SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
         AND p.product_category = '大额存单'"
    );
    assert_rows(question, &response, &sql, false);
}

/// The value synonym is `time deposit`, and the plural must not lose it.
#[test]
fn english_plural_value_word() {
    let expected = Expected::metric("deposit_balance").filter("product__term_type", "定期");
    assert_readings(&[("time deposits", expected)]);
}

#[test]
fn value_words_in_english_and_short_forms() {
    let balance = || Expected::metric("deposit_balance");
    let cases = [
        (
            "对公存款有多少",
            balance().filter("customer__customer_type", "对公"),
        ),
        (
            "corporate deposits",
            balance().filter("customer__customer_type", "对公"),
        ),
        ("兴宁支行个人定期存款", {
            balance()
                .filter("branch__branch_name", "兴宁支行")
                .filter("customer__customer_type", "个人")
                .filter("product__term_type", "定期")
        }),
        ("梅县对公存款余额", {
            balance()
                .filter("branch__district", "梅县区")
                .filter("customer__customer_type", "对公")
        }),
        (
            "小微企业存款余额",
            balance().filter("customer__customer_segment", "小微企业"),
        ),
        (
            "手机银行开户的存款余额",
            balance().filter("account__open_channel", "手机银行"),
        ),
        ("一年期定期存款余额", {
            balance()
                .filter_number("product__term_months", 12)
                .filter("product__term_type", "定期")
        }),
    ];
    assert_readings(&cases);
}

// ---------------------------------------------------------------------------
// Breakdowns, rankings and shares

#[test]
fn breakdown_words() {
    let balance = || Expected::metric("deposit_balance");
    let cases = [
        ("各支行存款余额", balance().by("branch__branch_name")),
        ("按区县看存款", balance().by("branch__district")),
        (
            "deposit balance by branch",
            balance().by("branch__branch_name"),
        ),
        ("各渠道存款", balance().by("account__open_channel")),
        ("按区县看个人存款", {
            balance()
                .by("branch__district")
                .filter("customer__customer_type", "个人")
        }),
        ("各产品类别今年的日均存款", {
            Expected::metric("average_daily_balance")
                .year_to_date()
                .by("product__product_category")
        }),
    ];
    assert_readings(&cases);
}

#[test]
fn balance_by_branch_rows_match_sql() {
    let question = "各支行存款余额";
    let response = ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("deposit_balance").by("branch__branch_name"),
    );
    let sql = format!(
        "SELECT b.branch_name, SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
    );
    assert_rows(question, &response, &sql, false);
}

/// 五的支行 is one character away from the branch name 五华支行, which must
/// not turn the ranking into a filter.
#[test]
fn top_five_branches() {
    let question = "存款余额前五的支行";
    let response = ask(question);

    let expected = Expected::metric("deposit_balance")
        .by("branch__branch_name")
        .order("-deposit_balance")
        .limit(5);
    assert_query(question, &response, &expected);
    let sql = format!(
        "SELECT b.branch_name, SUM(f.balance) AS v FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
         GROUP BY 1 ORDER BY v DESC LIMIT 5"
    );
    assert_rows(question, &response, &sql, true);
}

#[test]
fn highest_branch_is_top_one() {
    let expected = Expected::metric("deposit_balance")
        .by("branch__branch_name")
        .order("-deposit_balance")
        .limit(1);
    let cases = [
        ("哪个支行存款最高", expected.clone()),
        ("存款最高的支行", expected.clone()),
        ("哪个区县的存款最多", {
            Expected::metric("deposit_balance")
                .by("branch__district")
                .order("-deposit_balance")
                .limit(1)
        }),
    ];
    assert_readings(&cases);

    let question = "存款最高的支行";
    let sql = format!(
        "SELECT b.branch_name, SUM(f.balance) AS v FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
         GROUP BY 1 ORDER BY v DESC LIMIT 1"
    );
    assert_rows(question, &ask(question), &sql, true);
}

#[test]
fn lowest_three_branches() {
    let question = "存款最少的三个支行";
    let response = ask(question);

    let expected = Expected::metric("deposit_balance")
        .by("branch__branch_name")
        .order("deposit_balance")
        .limit(3);
    assert_query(question, &response, &expected);
    let sql = format!(
        "SELECT b.branch_name, SUM(f.balance) AS v FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
         GROUP BY 1 ORDER BY v ASC LIMIT 3"
    );
    assert_rows(question, &response, &sql, true);
}

#[test]
fn ranking_words() {
    let by_branch = || Expected::metric("deposit_balance").by("branch__branch_name");
    let cases = [
        (
            "存款余额前5的支行",
            by_branch().order("-deposit_balance").limit(5),
        ),
        (
            "各支行存款余额排名前10",
            by_branch().order("-deposit_balance").limit(10),
        ),
        ("各支行存款排名", by_branch().order("-deposit_balance")),
        (
            "top 5 branches by deposit balance",
            by_branch().order("-deposit_balance").limit(5),
        ),
        (
            "bottom 3 branches by deposit balance",
            by_branch().order("deposit_balance").limit(3),
        ),
    ];
    assert_readings(&cases);
}

#[test]
fn top_ten_managers_by_performance() {
    let question = "客户经理绩效存款排名前10";
    let response = ask(question);

    let expected = Expected::metric("performance_balance")
        .by("manager__manager_name")
        .order("-performance_balance")
        .limit(10);
    assert_query(question, &response, &expected);
    let sql = format!(
        "SELECT m.manager_name, SUM(f.balance * s.share) AS v FROM fact_deposit_daily f \
         JOIN bridge_account_manager s ON s.account_id = f.account_id \
         JOIN dim_account_manager m ON m.manager_id = s.manager_id \
         WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1 ORDER BY v DESC LIMIT 10"
    );
    assert_rows(question, &response, &sql, true);
}

#[test]
fn structure_by_product_category() {
    let question = "按产品类别看存款结构";
    let response = ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("deposit_share").by("product__product_category"),
    );
    let sql = format!(
        "SELECT p.product_category, SUM(f.balance) * 100.0 / SUM(SUM(f.balance)) OVER () FROM {DEPOSITS} \
         WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
    );
    assert_rows(question, &response, &sql, false);
}

#[test]
fn share_words() {
    let cases = [
        (
            "个人和对公存款占比",
            Expected::metric("deposit_share").by("customer__customer_type"),
        ),
        (
            "个人和对公存款各占多少比例",
            Expected::metric("deposit_share").by("customer__customer_type"),
        ),
        (
            "各支行存款占比",
            Expected::metric("deposit_share").by("branch__branch_name"),
        ),
        (
            "deposit mix by district",
            Expected::metric("deposit_share").by("branch__district"),
        ),
    ];
    assert_readings(&cases);
}

// ---------------------------------------------------------------------------
// Growth

#[test]
fn growth_words() {
    let cases = [
        ("同比", Expected::metric("growth_rate_year_on_year")),
        (
            "存款同比增长率",
            Expected::metric("growth_rate_year_on_year"),
        ),
        ("YoY", Expected::metric("growth_rate_year_on_year")),
        ("环比", Expected::metric("growth_rate_month_on_month")),
        (
            "存款环比增速",
            Expected::metric("growth_rate_month_on_month"),
        ),
        ("比年初", Expected::metric("increase_since_year_start")),
        (
            "存款比年初增加了多少",
            Expected::metric("increase_since_year_start"),
        ),
        ("个人存款较年初新增多少", {
            Expected::metric("increase_since_year_start").filter("customer__customer_type", "个人")
        }),
        ("比上月增量", Expected::metric("increase_month_on_month")),
    ];
    assert_readings(&cases);
}

/// 存款同比 is 存款 followed by the metric word 同比, but 存款同比 is also one
/// character away from 存款占比, a synonym of 存款占比 (share of deposits).
#[test]
fn growth_word_after_deposit_word() {
    let cases = [
        ("存款同比", Expected::metric("growth_rate_year_on_year")),
        ("存款环比", Expected::metric("growth_rate_month_on_month")),
        ("存款比年初", Expected::metric("increase_since_year_start")),
        (
            "各支行存款同比",
            Expected::metric("growth_rate_year_on_year").by("branch__branch_name"),
        ),
    ];
    assert_readings(&cases);
}

#[test]
fn year_on_year_rows_match_sql() {
    let question = "存款同比增长率";
    let response = ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("growth_rate_year_on_year"),
    );
    // 2026-11-30 is a month end, so the day a year earlier is 2025-11-30.
    let sql = "SELECT (SUM(balance) FILTER (WHERE biz_date = DATE '2026-11-30') \
               - SUM(balance) FILTER (WHERE biz_date = DATE '2025-11-30')) * 100.0 \
               / SUM(balance) FILTER (WHERE biz_date = DATE '2025-11-30') FROM fact_deposit_daily";
    assert_rows(question, &response, sql, false);
}

#[test]
fn increase_since_year_start_rows_match_sql() {
    let question = "存款比年初增加了多少";
    let response = ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("increase_since_year_start"),
    );
    let sql = "SELECT SUM(balance) FILTER (WHERE biz_date = DATE '2026-11-30') \
               - SUM(balance) FILTER (WHERE biz_date = DATE '2025-12-31') FROM fact_deposit_daily";
    assert_rows(question, &response, sql, false);
}

// ---------------------------------------------------------------------------
// Several metrics at once

#[test]
fn metrics_joined_by_conjunctions() {
    let cases = [
        (
            "存款余额和日均存款",
            Expected::metric("deposit_balance")
                .and_metric("average_daily_balance")
                .year_to_date(),
        ),
        ("存款余额、存款客户数和户均存款", {
            Expected::metric("deposit_balance")
                .and_metric("depositors")
                .and_metric("balance_per_depositor")
        }),
        ("各支行存款余额和日均存款", {
            Expected::metric("deposit_balance")
                .and_metric("average_daily_balance")
                .by("branch__branch_name")
                .year_to_date()
        }),
        (
            "deposit balance and depositors",
            Expected::metric("deposit_balance").and_metric("depositors"),
        ),
    ];
    assert_readings(&cases);
}

/// 日均存款 without a period means the year to date. Asked together with a
/// balance, the query covers the year to date too, and the balance is read
/// on its last day.
#[test]
fn average_beside_balance_covers_year_to_date() {
    let question = "存款余额和日均存款";
    let response = ask(question);

    let rows = response.rows.as_deref().unwrap_or_default();
    assert_eq!(rows.len(), 1, "`{question}`: one row, got {rows:?}");
    let average = rows[0].get(1).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let year_to_date = single_number("日均存款", &ask("日均存款"));
    assert!(
        same_value(&Value::Float(average), &Value::Float(year_to_date)),
        "`{question}`: 日均存款 is {average}, expected the year-to-date average {year_to_date}"
    );
}

// ---------------------------------------------------------------------------
// Series

#[test]
fn monthly_balances_this_year() {
    let question = "今年每月存款余额";
    let response = ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("deposit_balance")
            .year_to_date()
            .series("month"),
    );
    // Each month's balance is that of its last day with data; the bucket is
    // named by its first day.
    let sql = format!(
        "SELECT CAST(date_trunc('month', f.biz_date) AS DATE), SUM(f.balance) FROM fact_deposit_daily f \
         WHERE f.biz_date IN (SELECT max(biz_date) FROM fact_deposit_daily \
             WHERE biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}' \
             GROUP BY date_trunc('month', biz_date)) \
         GROUP BY 1 ORDER BY 1"
    );
    assert_rows(question, &response, &sql, true);
}

/// A monthly breakdown with no period should cover several months; 趋势
/// with no period covers the last 12.
#[test]
fn monthly_series_without_period() {
    let question = "每月存款余额";
    let response = ask(question);

    assert_eq!(
        response.kind,
        AnswerKind::Metric,
        "`{question}`: kind; text: {}",
        response.text
    );
    let rows = response.rows.as_deref().unwrap_or_default();
    assert!(
        rows.len() > 1,
        "`{question}`: a monthly series has several months, got {rows:?}; query: {:?}",
        response.query
    );
}

#[test]
fn series_words() {
    let cases = [
        ("存款余额趋势", {
            Expected::metric("deposit_balance")
                .period("2025-12-01", REFERENCE_DATE)
                .series("month")
        }),
        ("近12个月日均存款趋势", {
            Expected::metric("average_daily_balance")
                .period("2025-12-01", REFERENCE_DATE)
                .series("month")
        }),
        ("2025年各季度日均存款", {
            Expected::metric("average_daily_balance")
                .period("2025-01-01", "2025-12-31")
                .series("quarter")
        }),
        (
            "今年每月的存款偏离度",
            Expected::metric("deposit_deviation")
                .year_to_date()
                .series("month"),
        ),
        // A balance over a rolling window is one balance a month.
        ("五华支行近6个月存款余额", {
            Expected::metric("deposit_balance")
                .filter("branch__branch_name", "五华支行")
                .period("2026-06-01", REFERENCE_DATE)
                .series("month")
        }),
    ];
    assert_readings(&cases);
}

// ---------------------------------------------------------------------------
// Glossary, fallback, refusal, clarification

#[test]
fn definition_questions_get_glossary() {
    let cases = [
        ("日均存款是怎么计算的", "日均"),
        ("存款付息率的口径", "360"),
        ("存款偏离度怎么算", "日均存款"),
        ("What does average daily balance mean?", "days(P)"),
    ];
    for (question, fragment) in cases {
        let response = ask(question);

        assert_eq!(
            response.kind,
            AnswerKind::Glossary,
            "`{question}`: kind; text: {}",
            response.text
        );
        assert!(
            response.text.contains(fragment),
            "`{question}`: text lacks `{fragment}`: {}",
            response.text
        );
        assert!(
            response.query.is_none(),
            "`{question}`: a definition runs no query"
        );
    }
}

#[test]
fn out_of_scope_questions_fall_back() {
    let questions = [
        "明天梅州会下雨吗",
        "What's the weather in Guangzhou?",
        "帮我订一张去广州的机票",
        "讲个笑话",
    ];
    for question in questions {
        let response = ask(question);

        assert_eq!(
            response.kind,
            AnswerKind::Fallback,
            "`{question}`: kind; text: {}",
            response.text
        );
        assert!(response.query.is_none(), "`{question}`: no query");
        assert!(
            !response.suggestions.is_empty(),
            "`{question}`: a fallback suggests questions"
        );
    }
}

/// Time words alone are a question only as a follow-up, so the weather
/// after a metric question is still out of scope.
#[test]
fn weather_after_a_metric_question_falls_back() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("存款余额");
    let response = conversation.ask("明天梅州会下雨吗");

    assert_eq!(
        response.kind,
        AnswerKind::Fallback,
        "kind; text: {}",
        response.text
    );
}

#[test]
fn data_changes_and_exports_are_refused() {
    let questions = [
        "删除所有数据",
        "帮我把fact_deposit_daily表删掉",
        "drop table fact_deposit_daily",
        "DROP TABLE dim_branch;",
        "导出客户手机号",
        "把客户名单导出来",
        "把兴宁支行的存款余额改成0",
        "delete from dim_customer",
    ];
    for question in questions {
        let response = ask(question);

        assert_eq!(
            response.kind,
            AnswerKind::Refused,
            "`{question}`: kind; text: {}",
            response.text
        );
        assert!(response.sql.is_none(), "`{question}`: no SQL runs");
        assert!(response.query.is_none(), "`{question}`: no query");
    }
}

// NOTE: in `semantic_layer/` no word is the label or synonym of two metrics,
// or of a metric and a dimension, so no question on the real layer gets
// `clarify`. The clarification path is tested on the extended layer below,
// where a synonym is shared on purpose.

// ---------------------------------------------------------------------------
// Follow-ups

/// Asserts that a follow-up's `rewritten` question is present and names
/// each of `fragments`.
fn assert_rewritten(question: &str, response: &ChatResponse, fragments: &[&str]) -> String {
    let rewritten = response.rewritten.clone().unwrap_or_else(|| {
        panic!(
            "`{question}`: a follow-up has a `rewritten` question; text: {}",
            response.text
        )
    });
    for fragment in fragments {
        assert!(
            rewritten.contains(fragment),
            "`{question}`: `{rewritten}` lacks `{fragment}`"
        );
    }
    rewritten
}

#[test]
fn follow_up_with_another_period() {
    let mut conversation = Conversation::new(assistant());
    let first = conversation.ask("今年以来日均存款是多少");
    assert_query(
        "今年以来日均存款是多少",
        &first,
        &Expected::metric("average_daily_balance").year_to_date(),
    );
    assert!(
        first.rewritten.is_none(),
        "a first question is not rewritten"
    );

    let question = "那去年呢";
    let response = conversation.ask(question);

    let expected = Expected::metric("average_daily_balance").period("2025-01-01", "2025-12-31");
    assert_query(question, &response, &expected);
    assert_rewritten(
        question,
        &response,
        &["日均存款", "2025-01-01", "2025-12-31"],
    );
    let sql = "SELECT SUM(balance) / 365 FROM fact_deposit_daily \
               WHERE biz_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'";
    assert_rows(question, &response, sql, false);
}

#[test]
fn follow_up_with_another_branch() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("五华支行存款余额");

    let question = "兴宁支行呢";
    let response = conversation.ask(question);

    let expected = Expected::metric("deposit_balance").filter("branch__branch_name", "兴宁支行");
    assert_query(question, &response, &expected);
    assert_rewritten(
        question,
        &response,
        &["兴宁支行", "存款余额", REFERENCE_DATE],
    );
    let sql = format!(
        "SELECT SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' AND b.branch_name = '兴宁支行'"
    );
    assert_rows(question, &response, &sql, false);
}

#[test]
fn follow_up_with_another_customer_type() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("个人存款余额");

    let question = "对公呢";
    let response = conversation.ask(question);

    let expected = Expected::metric("deposit_balance").filter("customer__customer_type", "对公");
    assert_query(question, &response, &expected);
    let rewritten = assert_rewritten(question, &response, &["对公", "存款余额"]);
    assert!(
        !rewritten.contains("个人"),
        "`{question}`: 对公 replaces 个人 in `{rewritten}`"
    );
}

#[test]
fn follow_up_adds_a_filter() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("各支行存款余额");

    let question = "只看个人";
    let response = conversation.ask(question);

    let expected = Expected::metric("deposit_balance")
        .by("branch__branch_name")
        .filter("customer__customer_type", "个人");
    assert_query(question, &response, &expected);
    assert_rewritten(question, &response, &["个人", "存款余额"]);
    let sql = format!(
        "SELECT b.branch_name, SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
         AND c.customer_type = '个人' GROUP BY 1"
    );
    assert_rows(question, &response, &sql, false);
}

#[test]
fn follow_up_replaces_the_metric() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("2025年末存款余额");

    let question = "换成日均";
    let response = conversation.ask(question);

    // An average asked at the end of a year is the average over that year.
    let expected = Expected::metric("average_daily_balance").period("2025-01-01", "2025-12-31");
    assert_query(question, &response, &expected);
    let rewritten = assert_rewritten(question, &response, &["日均存款"]);
    assert!(
        !rewritten.contains("存款余额"),
        "`{question}`: the old metric is gone from `{rewritten}`"
    );
}

#[test]
fn follow_up_adds_a_breakdown() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("对公存款余额");

    let question = "按支行看";
    let response = conversation.ask(question);

    let expected = Expected::metric("deposit_balance")
        .filter("customer__customer_type", "对公")
        .by("branch__branch_name");
    assert_query(question, &response, &expected);
    assert_rewritten(question, &response, &["对公", "存款余额"]);
}

#[test]
fn follow_up_keeps_top_three() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("各支行存款余额");

    let question = "前三名呢";
    let response = conversation.ask(question);

    let expected = Expected::metric("deposit_balance")
        .by("branch__branch_name")
        .order("-deposit_balance")
        .limit(3);
    assert_query(question, &response, &expected);
    assert_rewritten(question, &response, &["存款余额", "前3"]);
    let sql = format!(
        "SELECT b.branch_name, SUM(f.balance) AS v FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' \
         GROUP BY 1 ORDER BY v DESC LIMIT 3"
    );
    assert_rows(question, &response, &sql, true);
}

#[test]
fn follow_up_asks_for_the_highest() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("各区县存款余额");

    let question = "最高的是哪个";
    let response = conversation.ask(question);

    let expected = Expected::metric("deposit_balance")
        .by("branch__district")
        .order("-deposit_balance")
        .limit(1);
    assert_query(question, &response, &expected);
    assert_rewritten(question, &response, &["存款余额"]);
}

#[test]
fn follow_ups_chain_in_one_conversation() {
    let mut conversation = Conversation::new(assistant());
    let steps = [
        (
            "今年以来日均存款是多少",
            Expected::metric("average_daily_balance").year_to_date(),
        ),
        (
            "那去年呢",
            Expected::metric("average_daily_balance").period("2025-01-01", "2025-12-31"),
        ),
        ("按支行看", {
            Expected::metric("average_daily_balance")
                .period("2025-01-01", "2025-12-31")
                .by("branch__branch_name")
        }),
        ("只看对公", {
            Expected::metric("average_daily_balance")
                .period("2025-01-01", "2025-12-31")
                .by("branch__branch_name")
                .filter("customer__customer_type", "对公")
        }),
        ("前三名呢", {
            Expected::metric("average_daily_balance")
                .period("2025-01-01", "2025-12-31")
                .by("branch__branch_name")
                .filter("customer__customer_type", "对公")
                .order("-average_daily_balance")
                .limit(3)
        }),
    ];
    for (question, expected) in &steps {
        let response = conversation.ask(question);
        assert_query(question, &response, expected);
    }
}

/// A follow-up's `rewritten` question, asked in a new conversation, gets
/// the same query: it needs no context.
#[test]
fn rewritten_questions_stand_alone() {
    let conversations: [&[&str]; 7] = [
        &["今年以来日均存款是多少", "那去年呢"],
        &["五华支行存款余额", "兴宁支行呢"],
        &["个人存款余额", "对公呢"],
        &["各支行存款余额", "只看个人"],
        &["2025年末存款余额", "换成日均"],
        &["对公存款余额", "按支行看"],
        &["各支行存款余额", "前三名呢"],
    ];
    let mut dependent = Vec::new();
    for questions in conversations {
        let mut conversation = Conversation::new(assistant());
        let mut last = None;
        for question in questions {
            last = Some(conversation.ask(question));
        }
        let Some(follow_up) = last else { continue };
        let Some(rewritten) = follow_up.rewritten.clone() else {
            dependent.push(format!("{questions:?}: no rewritten question"));
            continue;
        };
        let fresh = ask(&rewritten);
        if fresh.query != follow_up.query {
            dependent.push(format!(
                "{questions:?} → `{rewritten}`:\n  follow-up query {}\n  fresh query     {}",
                follow_up.query.unwrap_or_default(),
                fresh.query.unwrap_or_default()
            ));
        }
    }
    assert!(
        dependent.is_empty(),
        "rewritten questions that need context:\n{}",
        dependent.join("\n")
    );
}

// ---------------------------------------------------------------------------
// A semantic layer extended in YAML

/// Copies the files of `semantic_layer/` into the empty scratch folder
/// `folder` and returns its path.
fn semantic_layer_copy(folder: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("understanding")
        .join(folder);
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot clear `{}`: {error}", dir.display()));
    }
    fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("cannot create `{}`: {error}", dir.display()));
    for entry in fs::read_dir(semantic_layer_dir()).expect("semantic_layer/ is readable") {
        let path = entry.expect("a readable folder entry").path();
        let Some(name) = path.file_name() else {
            continue;
        };
        fs::copy(&path, dir.join(name))
            .unwrap_or_else(|error| panic!("cannot copy `{}`: {error}", path.display()));
    }
    dir
}

/// Copies `semantic_layer/` into a scratch folder, adds the metric of
/// `tests/fixtures/extended_layer/` and adds 片区 as a synonym of the district
/// dimension, then opens an assistant on the copy. No code changes.
fn extended_assistant() -> &'static Assistant {
    static ASSISTANT: OnceLock<Assistant> = OnceLock::new();
    ASSISTANT.get_or_init(|| {
        let dir = semantic_layer_copy("extended_layer");

        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/extended_layer/metrics_extension.yaml");
        fs::copy(&fixture, dir.join("metrics_extension.yaml"))
            .expect("the extension fixture is readable");

        let branch = dir.join("branch.yaml");
        let text = fs::read_to_string(&branch).expect("branch.yaml is readable");
        let synonyms = "synonyms: [区县, ";
        assert!(
            text.contains(synonyms),
            "branch.yaml no longer lists the district synonyms as `{synonyms}...`"
        );
        fs::write(
            &branch,
            text.replacen(synonyms, "synonyms: [片区, 区县, ", 1),
        )
        .expect("branch.yaml is writable");

        Assistant::open(&dir, demo_warehouse()).unwrap_or_else(|error| {
            panic!("cannot open the assistant on the extended layer: {error}")
        })
    })
}

#[test]
fn yaml_metric_is_understood() {
    let question = "今年计提利息";
    let response = Conversation::new(extended_assistant()).ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("accrued_interest").year_to_date(),
    );
    let sql = format!(
        "SELECT SUM(interest_accrued) FROM fact_deposit_daily \
         WHERE biz_date BETWEEN DATE '{YEAR_START}' AND DATE '{REFERENCE_DATE}'"
    );
    assert_rows(question, &response, &sql, false);
    assert!(
        response.text.contains("计提利息"),
        "the answer names the new label: {}",
        response.text
    );
}

#[test]
fn yaml_metric_synonym_is_understood() {
    let cases = [
        (
            "各支行应计利息",
            Expected::metric("accrued_interest")
                .year_to_date()
                .by("branch__branch_name"),
        ),
        (
            "accrued interest last year",
            Expected::metric("accrued_interest").period("2025-01-01", "2025-12-31"),
        ),
    ];
    for (question, expected) in &cases {
        let response = Conversation::new(extended_assistant()).ask(question);
        assert_query(question, &response, expected);
    }
}

#[test]
fn yaml_dimension_synonym_is_understood() {
    let question = "各片区存款余额";
    let response = Conversation::new(extended_assistant()).ask(question);

    assert_query(
        question,
        &response,
        &Expected::metric("deposit_balance").by("branch__district"),
    );
    let sql = format!(
        "SELECT b.district, SUM(f.balance) FROM {DEPOSITS} WHERE f.biz_date = DATE '{REFERENCE_DATE}' GROUP BY 1"
    );
    assert_rows(question, &response, &sql, false);
}

/// The words the extended layer adds mean nothing to the repository's layer,
/// so the tests above pass because of the YAML.
#[test]
fn yaml_words_unknown_without_extension() {
    let metric = ask("今年计提利息");
    let metrics = metric.query.as_ref().map(|query| query["metrics"].clone());
    assert_ne!(
        metrics,
        Some(json!(["accrued_interest"])),
        "计提利息 without the extension"
    );

    let breakdown = ask("各片区存款余额");
    let dimensions = breakdown
        .query
        .as_ref()
        .map(|query| query["dimensions"].clone());
    assert_ne!(
        dimensions,
        Some(json!(["branch__district"])),
        "片区 without the extension"
    );
}

#[test]
fn shared_synonym_asks_back() {
    let question = "今年付息多少";
    let response = Conversation::new(extended_assistant()).ask(question);

    assert_eq!(
        response.kind,
        AnswerKind::Clarify,
        "`{question}`: kind; text: {}",
        response.text
    );
    let candidates = response.candidates.clone().unwrap_or_default();
    assert!(
        candidates
            .iter()
            .any(|candidate| candidate.contains("利息支出")),
        "candidates: {candidates:?}"
    );
    assert!(
        candidates
            .iter()
            .any(|candidate| candidate.contains("计提利息")),
        "candidates: {candidates:?}"
    );
    assert!(
        response.query.is_none(),
        "`{question}`: no query before the choice"
    );
}

// ---------------------------------------------------------------------------
// Periods without data

/// Asserts that an answer for a period without data says so, with the range
/// that has data, instead of a number.
fn assert_no_data(question: &str, response: &ChatResponse, phrase: &str) {
    assert_eq!(
        response.kind,
        AnswerKind::Metric,
        "`{question}`: kind; text: {}",
        response.text
    );
    assert!(
        response.text.contains(phrase),
        "`{question}`: text lacks `{phrase}`: {}",
        response.text
    );
    assert!(
        response.text.contains(DATA_START),
        "`{question}`: text names the first day of data: {}",
        response.text
    );
    assert!(
        response.text.contains(REFERENCE_DATE),
        "`{question}`: text names the data date: {}",
        response.text
    );
    let rows = response.rows.as_deref().unwrap_or_default();
    assert!(rows.is_empty(), "`{question}`: no rows, got {rows:?}");
    assert!(
        response.sql.is_none(),
        "`{question}`: no SQL runs for a period without data"
    );
}

#[test]
fn period_before_data_says_no_data() {
    for question in [
        "2023年存款余额",
        "2023年各支行日均存款",
        "2023年12月31日存款余额",
    ] {
        assert_no_data(question, &ask(question), "没有数据");
    }
}

#[test]
fn period_after_data_says_no_data() {
    for question in ["明年存款余额", "2030年日均存款"] {
        assert_no_data(question, &ask(question), "没有数据");
    }
    let question = "deposit balance in 2030";
    assert_no_data(question, &ask(question), "no data");
}

#[test]
fn follow_up_to_period_without_data() {
    let mut conversation = Conversation::new(assistant());
    conversation.ask("存款余额");

    let question = "那2023年呢";
    assert_no_data(question, &conversation.ask(question), "没有数据");
}

/// Checks that a `metric` answer for a period without data still has a
/// `query`, because the chat API documents `query` on every `metric` answer.
#[test]
fn no_data_answer_keeps_query() {
    let question = "2023年存款余额";
    let response = ask(question);

    assert!(
        response.query.is_some(),
        "`{question}`: metric answers carry a query"
    );
}

// ---------------------------------------------------------------------------
// Malformed input

/// The kinds an answer to any input may have.
const ANY_KIND: [AnswerKind; 6] = [
    AnswerKind::Metric,
    AnswerKind::Faq,
    AnswerKind::Glossary,
    AnswerKind::Clarify,
    AnswerKind::Fallback,
    AnswerKind::Refused,
];

/// Asks `question` and returns the answer and how long it took.
fn timed_ask(question: &str) -> (ChatResponse, Duration) {
    let started = Instant::now();
    let response = ask(question);
    (response, started.elapsed())
}

#[test]
fn emoji_only_falls_back() {
    for question in ["😀😀😀", "🏦💰📈", "👍", "🇨🇳"] {
        let response = ask(question);

        assert_eq!(
            response.kind,
            AnswerKind::Fallback,
            "`{question}`: kind; text: {}",
            response.text
        );
        assert!(
            !response.text.is_empty(),
            "`{question}`: the fallback explains itself"
        );
    }
}

#[test]
fn empty_and_blank_messages() {
    for question in ["", "   ", "\n\t", "？", "……"] {
        let response = ask(question);

        assert_eq!(
            response.kind,
            AnswerKind::Fallback,
            "{question:?}: kind; text: {}",
            response.text
        );
    }
}

/// Checks that 10,000 characters are answered without a panic. The HTTP
/// server rejects long messages before they reach the assistant, so this
/// checks the assistant on its own.
#[test]
fn ten_thousand_characters() {
    let inputs = [
        ("a metric word repeated", "存款".repeat(5_000)),
        ("Latin letters", "a".repeat(10_000)),
        (
            "Chinese text with no metric words",
            "天地玄黄宇宙洪荒日月盈昃辰宿列张".repeat(625),
        ),
        (
            "a question padded with spaces",
            format!("各支行存款余额{}", " ".repeat(9_993)),
        ),
        ("digits", "9".repeat(10_000)),
        ("metric words with a typo", "存款偏离渡".repeat(2_000)),
        ("metric labels backwards", reversed_labels(10_000)),
    ];
    // Opening the assistant generates the warehouse, which must not be timed.
    assistant();
    for (description, question) in &inputs {
        assert_eq!(
            question.chars().count(),
            10_000,
            "{description}: input length"
        );

        let (response, elapsed) = timed_ask(question);

        assert!(
            ANY_KIND.contains(&response.kind),
            "{description}: kind {:?}",
            response.kind
        );
        assert!(
            !response.text.is_empty(),
            "{description}: an answer has text"
        );
        // Far above the tens of milliseconds measured; a slower answer means
        // a search that grows with the square of the length or worse.
        assert!(
            elapsed < Duration::from_secs(5),
            "{description}: answered in {elapsed:?}"
        );
        println!("{description}: {:?} in {elapsed:?}", response.kind);
    }

    let padded = timed_ask(&inputs[3].1).0;
    assert_query(
        "各支行存款余额 + spaces",
        &padded,
        &Expected::metric("deposit_balance").by("branch__branch_name"),
    );
}

/// Returns `length` characters of the metric labels written backwards: no
/// exact word, but the characters of many words, which the typo search
/// compares with every window.
fn reversed_labels(length: usize) -> String {
    let labels = "存款余额日均存款存款客户数户均存款新开户数利息支出存款付息率存款偏离度绩效存款存款占比活期存款占比比年初增量同比增长率";
    labels.chars().rev().cycle().take(length).collect()
}

#[test]
fn sql_fragments_never_reach_the_sql() {
    let questions = [
        "SELECT * FROM dim_customer",
        "' OR 1=1 --",
        "存款余额'; DROP TABLE dim_branch; --",
        "1; select 1",
        "存款余额 union select customer_id from dim_customer",
        "各支行存款余额 WHERE 1=1",
        "兴宁支行' OR '1'='1 存款余额",
        "{{ Dimension('customer__customer_type') }} = '个人' 存款余额",
    ];
    for question in questions {
        let response = ask(question);

        assert!(
            ANY_KIND.contains(&response.kind),
            "`{question}`: kind {:?}",
            response.kind
        );
        let Some(sql) = &response.sql else { continue };
        let lowered = sql.to_lowercase();
        for fragment in ["drop", "union", "1=1", "' or", "dim_customer.customer_id"] {
            assert!(
                !lowered.contains(fragment),
                "`{question}`: SQL contains `{fragment}`:\n{sql}"
            );
        }
    }

    // The warehouse is read-only, but check anyway that the tables are there.
    let branches = warehouse()
        .query("SELECT COUNT(*) FROM dim_branch")
        .expect("dim_branch is still there");
    assert_eq!(
        branches.rows,
        vec![vec![Value::Int(10)]],
        "dim_branch keeps its ten rows"
    );
}

#[test]
fn mixed_scripts() {
    let balance = || Expected::metric("deposit_balance");
    let cases = [
        ("存款余额 by branch", balance().by("branch__branch_name")),
        ("deposit 余额 按支行", balance().by("branch__branch_name")),
        ("各支行deposit balance", balance().by("branch__branch_name")),
        (
            "２０２５年末存款余额",
            balance().period("2025-12-31", "2025-12-31"),
        ),
        (
            "ＡＤＢ",
            Expected::metric("average_daily_balance").year_to_date(),
        ),
        (
            "存款余额\u{200b}按支行",
            balance().by("branch__branch_name"),
        ),
    ];
    assert_readings(&cases);

    // Scripts the layer has no words for are answered, whatever the kind.
    for question in [
        "Баланс депозитов",
        "ودائع البنك",
        "預金残高",
        "존재 예금 잔액",
        "e\u{301}\u{301}\u{301}",
    ] {
        let response = ask(question);
        assert!(
            ANY_KIND.contains(&response.kind),
            "`{question}`: kind {:?}",
            response.kind
        );
        assert!(
            !response.text.is_empty(),
            "`{question}`: an answer has text"
        );
    }
}

/// 存款餘額 is 存款余额 in traditional characters, one character apart.
#[test]
fn traditional_characters() {
    let question = "存款餘額";
    assert_query(
        question,
        &ask(question),
        &Expected::metric("deposit_balance"),
    );
}

#[test]
fn other_business_lines_get_no_deposit_figure() {
    for question in [
        "贷款余额",
        "各产品贷款余额占比",
        "今年理财产品余额",
        "信用卡有多少张",
        "loan balance by branch",
    ] {
        let response = ask(question);

        assert_eq!(
            response.kind,
            AnswerKind::Fallback,
            "`{question}`: {}",
            response.text
        );
        assert!(response.rows.is_none(), "`{question}`");
        assert!(!response.suggestions.is_empty(), "`{question}`");
    }
    let follow_up = Conversation::new(assistant()).ask("各支行存款余额");
    assert_eq!(follow_up.kind, AnswerKind::Metric);

    let mut conversation = Conversation::new(assistant());
    conversation.ask("各支行存款余额");
    let loans = conversation.ask("贷款余额呢？");
    assert_eq!(loans.kind, AnswerKind::Fallback, "{}", loans.text);
    assert!(loans.text.contains("贷款"), "{}", loans.text);
}

#[test]
fn layer_word_with_business_line_matches() {
    // 理财经理 is a synonym of the account-manager dimension, so the
    // question is about deposits, not wealth management.
    let response = ask("各理财经理存款余额");

    assert!(!response.text.contains("理财方面"), "{}", response.text);
}

#[test]
fn value_change_rejected_metric_switch_kept() {
    for question in ["把梅江支行的存款余额改成 0", "余额清零", "存款设为-1"] {
        assert_eq!(ask(question).kind, AnswerKind::Refused, "`{question}`");
    }

    let mut conversation = Conversation::new(assistant());
    conversation.ask("各支行存款余额");
    let switched = conversation.ask("改成日均存款");
    assert_eq!(switched.kind, AnswerKind::Metric, "{}", switched.text);
    let filtered = conversation.ask("只看对公");
    assert_eq!(filtered.kind, AnswerKind::Metric, "{}", filtered.text);
    let filters = filtered.query.as_ref().unwrap()["filters"].to_string();
    assert!(filters.contains("对公"), "{filters}");
}

#[test]
fn impossible_breakdown_is_explained() {
    let response = ask("按客户经理看存款余额");

    assert_eq!(response.kind, AnswerKind::Clarify, "{}", response.text);
    assert!(
        response.text.contains("存款余额不能按客户经理拆分"),
        "{}",
        response.text
    );
    assert!(
        !response.text.contains("semantic model"),
        "{}",
        response.text
    );
    assert!(
        response
            .candidates
            .as_ref()
            .is_some_and(|candidates| !candidates.is_empty())
    );
}

// ---------------------------------------------------------------------------
// A query that fails in the warehouse

/// Opens an assistant on a copy of `semantic_layer/` whose interest measure
/// reads a column the warehouse does not have, so its query fails.
fn assistant_with_missing_column() -> Assistant {
    let dir = semantic_layer_copy("missing_column_layer");

    let deposits = dir.join("deposit_daily.yaml");
    let text = fs::read_to_string(&deposits).expect("deposit_daily.yaml is readable");
    let measure = "expr: interest_accrued\n";
    assert!(
        text.contains(measure),
        "deposit_daily.yaml no longer has the measure expression `{measure}`"
    );
    fs::write(
        &deposits,
        text.replacen(measure, "expr: interest_accrued_missing\n", 1),
    )
    .expect("deposit_daily.yaml is writable");

    Assistant::open(&dir, demo_warehouse())
        .unwrap_or_else(|error| panic!("cannot open the assistant on the changed layer: {error}"))
}

#[test]
fn failed_query_reports_error_code() {
    let assistant = assistant_with_missing_column();
    let answer = assistant.respond(
        "failing-query",
        &mut ConversationState::default(),
        "2024年全年利息支出",
    );

    assert_eq!(answer.kind, AnswerKind::Fallback, "{}", answer.text);
    assert_eq!(
        answer.error.as_ref().map(|error| error.code),
        Some("query_failed"),
        "{}",
        answer.text
    );
    let body = serde_json::to_value(&answer).expect("the answer serializes");
    assert_eq!(body["error"], json!({"code": "query_failed"}));
}

#[test]
fn answered_question_has_no_error() {
    let answer = assistant().respond(
        "no-error",
        &mut ConversationState::default(),
        "2024年全年利息支出",
    );

    assert_eq!(answer.kind, AnswerKind::Metric, "{}", answer.text);
    assert!(answer.error.is_none());
    let body = serde_json::to_value(&answer).expect("the answer serializes");
    assert!(body.get("error").is_none(), "{body}");
}
