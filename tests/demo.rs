//! Generates the demo warehouse at scale 1 into real DuckDB files and checks
//! the data contract: reference rows, types, grain, balances, splits and the
//! shape of the series.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use duckdb::{AccessMode, Config, Connection};
use wenshu::demo::{DemoError, DemoOptions, DemoSummary, generate};

/// The warehouse most tests read, generated once per test run.
struct Shared {
    path: PathBuf,
    summary: DemoSummary,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        // The target's temporary folder, so repeated runs reuse one file.
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo/shared/demo.duckdb");
        let summary = generate(&options(&path, 42)).expect("demo generation failed");
        Shared { path, summary }
    })
}

fn options(path: &Path, seed: u64) -> DemoOptions {
    DemoOptions {
        out: path.to_path_buf(),
        scale: 1,
        seed,
        progress: false,
    }
}

fn open(path: &Path) -> Connection {
    let config = Config::default()
        .access_mode(AccessMode::ReadOnly)
        .expect("read-only config");
    Connection::open_with_flags(path, config).expect("cannot open the generated warehouse")
}

fn scalar(connection: &Connection, sql: &str) -> i64 {
    connection
        .query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|error| panic!("query failed: {error}\n{sql}"))
}

fn strings(connection: &Connection, sql: &str) -> Vec<String> {
    let mut statement = connection
        .prepare(sql)
        .unwrap_or_else(|error| panic!("query failed: {error}\n{sql}"));
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .unwrap_or_else(|error| panic!("query failed: {error}\n{sql}"))
}

/// Returns an order-sensitive checksum of every table: row count and a
/// combined hash of each row with its position.
fn checksums(path: &Path) -> Vec<String> {
    let connection = open(path);
    let tables = strings(
        &connection,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1",
    );
    tables
        .iter()
        .map(|table| {
            let sql = format!(
                "SELECT printf('%s %d %d', '{table}', count(*), bit_xor(hash(rowid, t))) FROM {table} AS t"
            );
            strings(&connection, &sql).concat()
        })
        .collect()
}

#[test]
fn summary_lists_every_table() {
    let shared = shared();
    let connection = open(&shared.path);

    let names: Vec<&str> = shared
        .summary
        .tables
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "dim_date",
            "dim_branch",
            "dim_product",
            "dim_customer",
            "dim_account_manager",
            "dim_account",
            "bridge_account_manager",
            "fact_deposit_daily",
        ]
    );
    for (table, rows) in &shared.summary.tables {
        let counted = scalar(&connection, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(*rows, counted as u64, "row count of {table}");
    }
    assert_eq!(shared.summary.path, shared.path);
}

#[test]
fn partial_file_is_gone() {
    let shared = shared();

    let partial = shared.path.with_file_name("demo.duckdb.partial");

    assert!(shared.path.is_file());
    assert!(!partial.exists());
}

#[test]
fn sizes_match_scale_one() {
    let connection = open(&shared().path);

    let accounts = scalar(&connection, "SELECT count(*) FROM dim_account");
    let daily_rows = scalar(&connection, "SELECT count(*) FROM fact_deposit_daily");

    assert!((3_500..=4_500).contains(&accounts), "{accounts} accounts");
    assert!(
        (2_000_000..=5_000_000).contains(&daily_rows),
        "{daily_rows} daily rows"
    );
}

#[test]
fn column_types_follow_contract() {
    let connection = open(&shared().path);

    let columns = strings(
        &connection,
        "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_schema = 'main' ORDER BY table_name, ordinal_position",
    );

    let expected = [
        "bridge_account_manager.account_id VARCHAR",
        "bridge_account_manager.manager_id VARCHAR",
        "bridge_account_manager.share DECIMAL(5,4)",
        "dim_account.account_id VARCHAR",
        "dim_account.customer_id VARCHAR",
        "dim_account.product_id VARCHAR",
        "dim_account.branch_id VARCHAR",
        "dim_account.open_channel VARCHAR",
        "dim_account.open_date DATE",
        "dim_account.close_date DATE",
        "dim_account_manager.manager_id VARCHAR",
        "dim_account_manager.manager_name VARCHAR",
        "dim_account_manager.branch_id VARCHAR",
        "dim_branch.branch_id VARCHAR",
        "dim_branch.branch_name VARCHAR",
        "dim_branch.district VARCHAR",
        "dim_branch.opened_date DATE",
        "dim_customer.customer_id VARCHAR",
        "dim_customer.customer_name VARCHAR",
        "dim_customer.customer_type VARCHAR",
        "dim_customer.customer_segment VARCHAR",
        "dim_customer.industry VARCHAR",
        "dim_customer.home_branch_id VARCHAR",
        "dim_customer.is_rural BOOLEAN",
        "dim_customer.open_date DATE",
        "dim_date.date_day DATE",
        "dim_product.product_id VARCHAR",
        "dim_product.product_name VARCHAR",
        "dim_product.product_category VARCHAR",
        "dim_product.term_type VARCHAR",
        "dim_product.term_months INTEGER",
        "dim_product.interest_rate DECIMAL(6,4)",
        "dim_product.for_customer_type VARCHAR",
        "fact_deposit_daily.biz_date DATE",
        "fact_deposit_daily.account_id VARCHAR",
        "fact_deposit_daily.customer_id VARCHAR",
        "fact_deposit_daily.product_id VARCHAR",
        "fact_deposit_daily.branch_id VARCHAR",
        "fact_deposit_daily.balance DECIMAL(18,2)",
        "fact_deposit_daily.interest_accrued DECIMAL(18,2)",
    ];
    assert_eq!(columns, expected);
}

#[test]
fn branches_are_the_ten_given() {
    let connection = open(&shared().path);

    let branches = strings(
        &connection,
        "SELECT branch_id || ' ' || branch_name || ' ' || district FROM dim_branch ORDER BY branch_id",
    );

    assert_eq!(
        branches,
        [
            "B01 总行营业部 梅江区",
            "B02 梅江支行 梅江区",
            "B03 网络金融部 梅江区",
            "B04 梅县支行 梅县区",
            "B05 兴宁支行 兴宁市",
            "B06 平远支行 平远县",
            "B07 蕉岭支行 蕉岭县",
            "B08 大埔支行 大埔县",
            "B09 丰顺支行 丰顺县",
            "B10 五华支行 五华县",
        ]
    );
}

#[test]
fn products_are_the_fourteen_given() {
    let connection = open(&shared().path);

    let products = strings(
        &connection,
        "SELECT concat_ws(' ', product_id, product_name, product_category, term_type, term_months, \
         interest_rate, for_customer_type) FROM dim_product ORDER BY product_id",
    );

    assert_eq!(
        products,
        [
            "P01 个人活期存款 活期存款 活期 0 0.2000 个人",
            "P02 单位活期存款 活期存款 活期 0 0.2000 对公",
            "P03 整存整取三个月 定期存款 定期 3 1.0500 个人",
            "P04 整存整取六个月 定期存款 定期 6 1.2500 个人",
            "P05 整存整取一年期 定期存款 定期 12 1.4500 个人",
            "P06 整存整取两年期 定期存款 定期 24 1.5500 个人",
            "P07 整存整取三年期 定期存款 定期 36 1.8000 个人",
            "P08 整存整取五年期 定期存款 定期 60 1.8500 个人",
            "P09 单位定期一年期 定期存款 定期 12 1.3000 对公",
            "P10 大额存单一年期 大额存单 定期 12 1.7000 通用",
            "P11 大额存单三年期 大额存单 定期 36 2.1000 通用",
            "P12 七天通知存款 通知存款 定期 0 0.8500 通用",
            "P13 单位协定存款 协定存款 活期 0 0.8000 对公",
            "P14 保证金存款 保证金存款 活期 0 0.3500 对公",
        ]
    );
}

#[test]
fn date_spine_covers_2019_to_2027() {
    let connection = open(&shared().path);

    let first = strings(
        &connection,
        "SELECT CAST(min(date_day) AS VARCHAR) FROM dim_date",
    );
    let last = strings(
        &connection,
        "SELECT CAST(max(date_day) AS VARCHAR) FROM dim_date",
    );
    let days = scalar(&connection, "SELECT count(DISTINCT date_day) FROM dim_date");

    assert_eq!(first, ["2019-01-01"]);
    assert_eq!(last, ["2027-12-31"]);
    assert_eq!(days, 3_287);
}

#[test]
fn daily_rows_cover_every_day() {
    let connection = open(&shared().path);

    let first = strings(
        &connection,
        "SELECT CAST(min(biz_date) AS VARCHAR) FROM fact_deposit_daily",
    );
    let last = strings(
        &connection,
        "SELECT CAST(max(biz_date) AS VARCHAR) FROM fact_deposit_daily",
    );
    let days = scalar(
        &connection,
        "SELECT count(DISTINCT biz_date) FROM fact_deposit_daily",
    );

    assert_eq!(first, ["2024-01-01"]);
    assert_eq!(last, ["2026-11-30"]);
    assert_eq!(days, 1_065);
}

#[test]
fn one_row_per_account_and_day() {
    let connection = open(&shared().path);

    let duplicates = scalar(
        &connection,
        "SELECT count(*) FROM (SELECT account_id, biz_date FROM fact_deposit_daily \
         GROUP BY ALL HAVING count(*) > 1)",
    );
    // Each account has a row for every day from the later of 2024-01-01 and
    // its opening to the earlier of 2026-11-30 and the day before closing.
    let wrong_spans = scalar(
        &connection,
        "WITH expected AS ( \
             SELECT account_id, greatest(0, least(DATE '2026-11-30', coalesce(close_date - 1, DATE '2026-11-30')) \
                 - greatest(DATE '2024-01-01', open_date) + 1) AS days \
             FROM dim_account), \
         actual AS (SELECT account_id, count(*) AS days FROM fact_deposit_daily GROUP BY ALL) \
         SELECT count(*) FROM expected LEFT JOIN actual USING (account_id) \
         WHERE expected.days <> coalesce(actual.days, 0)",
    );
    let rows_after_close = scalar(
        &connection,
        "SELECT count(*) FROM fact_deposit_daily f JOIN dim_account a USING (account_id) \
         WHERE f.biz_date >= a.close_date",
    );

    assert_eq!(duplicates, 0);
    assert_eq!(wrong_spans, 0);
    assert_eq!(rows_after_close, 0);
}

#[test]
fn denormalised_ids_match_account() {
    let connection = open(&shared().path);

    let mismatches = scalar(
        &connection,
        "SELECT count(*) FROM fact_deposit_daily f LEFT JOIN dim_account a USING (account_id) \
         WHERE a.account_id IS NULL OR f.customer_id <> a.customer_id \
         OR f.product_id <> a.product_id OR f.branch_id <> a.branch_id",
    );

    assert_eq!(mismatches, 0);
}

#[test]
fn balances_are_not_negative() {
    let connection = open(&shared().path);

    let negative = scalar(
        &connection,
        "SELECT count(*) FROM fact_deposit_daily WHERE balance < 0",
    );
    let zero = scalar(
        &connection,
        "SELECT count(*) FROM fact_deposit_daily WHERE balance = 0",
    );

    assert_eq!(negative, 0);
    assert!(
        zero > 0,
        "closing accounts are emptied, so some balances are zero"
    );
}

#[test]
fn interest_follows_daily_rate() {
    let connection = open(&shared().path);

    let wrong = scalar(
        &connection,
        "SELECT count(*) FROM fact_deposit_daily f JOIN dim_product p USING (product_id) \
         WHERE abs(f.interest_accrued - f.balance * p.interest_rate / 100 / 360) > 0.0050001",
    );
    let positive = scalar(
        &connection,
        "SELECT count(*) FROM fact_deposit_daily WHERE interest_accrued > 0",
    );

    assert_eq!(wrong, 0);
    assert!(positive > 1_000_000, "{positive} rows accrue interest");
}

#[test]
fn shares_sum_to_one() {
    let connection = open(&shared().path);

    let wrong_sums = scalar(
        &connection,
        "SELECT count(*) FROM (SELECT account_id FROM bridge_account_manager GROUP BY ALL HAVING sum(share) <> 1)",
    );
    let accounts = scalar(&connection, "SELECT count(*) FROM dim_account");
    let managed = scalar(
        &connection,
        "SELECT count(DISTINCT account_id) FROM bridge_account_manager",
    );
    let split = scalar(
        &connection,
        "SELECT count(*) FROM (SELECT account_id FROM bridge_account_manager GROUP BY ALL HAVING count(*) > 1)",
    );
    let over_three = scalar(
        &connection,
        "SELECT count(*) FROM (SELECT account_id FROM bridge_account_manager GROUP BY ALL HAVING count(*) > 3)",
    );
    let unmanaged_offline = scalar(
        &connection,
        "SELECT count(*) FROM dim_account WHERE account_id NOT IN (SELECT account_id FROM bridge_account_manager) \
         AND open_channel IN ('柜面', '网上银行')",
    );

    assert_eq!(wrong_sums, 0);
    let split_percent = split * 100 / managed;
    assert!(
        (10..=20).contains(&split_percent),
        "{split_percent} % split"
    );
    assert_eq!(over_three, 0);
    let unmanaged_percent = (accounts - managed) * 100 / accounts;
    assert!(
        (1..=10).contains(&unmanaged_percent),
        "{unmanaged_percent} % without manager"
    );
    assert_eq!(unmanaged_offline, 0);
}

#[test]
fn managers_have_unique_names() {
    let connection = open(&shared().path);

    let managers = scalar(&connection, "SELECT count(*) FROM dim_account_manager");
    let names = scalar(
        &connection,
        "SELECT count(DISTINCT manager_name) FROM dim_account_manager",
    );
    let odd_branches = scalar(
        &connection,
        "SELECT count(*) FROM dim_branch b LEFT JOIN (SELECT branch_id, count(*) AS n FROM dim_account_manager \
         GROUP BY ALL) m USING (branch_id) WHERE coalesce(m.n, 0) NOT BETWEEN 2 AND 5",
    );
    let foreign_managers = scalar(
        &connection,
        "SELECT count(*) FROM bridge_account_manager s JOIN dim_account a USING (account_id) \
         JOIN dim_account_manager m USING (manager_id) WHERE m.branch_id <> a.branch_id",
    );

    assert_eq!(managers, names);
    assert_eq!(odd_branches, 0);
    assert_eq!(foreign_managers, 0);
}

#[test]
fn customers_mostly_personal() {
    let connection = open(&shared().path);

    let personal_percent = scalar(
        &connection,
        "SELECT CAST(100 * count(*) FILTER (WHERE customer_type = '个人') / count(*) AS BIGINT) FROM dim_customer",
    );
    let inconsistent_segments = scalar(
        &connection,
        "SELECT count(*) FROM dim_customer WHERE (customer_type = '个人') <> (customer_segment = '个人') \
         OR (customer_type = '个人') <> (industry IS NULL)",
    );
    let unmasked_names = scalar(
        &connection,
        "SELECT count(*) FROM dim_customer WHERE customer_type = '个人' \
         AND NOT regexp_full_match(customer_name, '.\\*{1,2}')",
    );

    assert!(
        (80..=90).contains(&personal_percent),
        "{personal_percent} % personal"
    );
    assert_eq!(inconsistent_segments, 0);
    assert_eq!(unmasked_names, 0);
}

#[test]
fn products_match_customer_type() {
    let connection = open(&shared().path);

    let mismatches = scalar(
        &connection,
        "SELECT count(*) FROM dim_account a JOIN dim_customer c USING (customer_id) \
         JOIN dim_product p USING (product_id) \
         WHERE p.for_customer_type NOT IN ('通用', c.customer_type)",
    );

    assert_eq!(mismatches, 0);
}

#[test]
fn account_dates_in_range() {
    let connection = open(&shared().path);

    let outside = scalar(
        &connection,
        "SELECT count(*) FROM dim_account WHERE open_date NOT BETWEEN DATE '2019-01-01' AND DATE '2026-11-30' \
         OR close_date <= open_date OR close_date > DATE '2026-11-30'",
    );
    let before_customer = scalar(
        &connection,
        "SELECT count(*) FROM dim_account a JOIN dim_customer c USING (customer_id) WHERE a.open_date < c.open_date",
    );
    let opened_in_range_percent = scalar(
        &connection,
        "SELECT CAST(100 * count(*) FILTER (WHERE open_date >= DATE '2024-01-01') / count(*) AS BIGINT) \
         FROM dim_account",
    );

    assert_eq!(outside, 0);
    assert_eq!(before_customer, 0);
    assert!(
        (25..=45).contains(&opened_in_range_percent),
        "{opened_in_range_percent} %"
    );
}

#[test]
fn online_branch_has_most_accounts() {
    let connection = open(&shared().path);

    let largest = strings(
        &connection,
        "SELECT b.branch_name FROM dim_account a JOIN dim_branch b USING (branch_id) \
         GROUP BY ALL ORDER BY count(*) DESC LIMIT 1",
    );

    assert_eq!(largest, ["网络金融部"]);
}

#[test]
fn every_branch_has_both_customer_types_daily() {
    let connection = open(&shared().path);

    // Ten branches, two customer types and 1,065 days.
    let positive_cells = scalar(
        &connection,
        "SELECT count(*) FROM (SELECT f.branch_id, c.customer_type, f.biz_date FROM fact_deposit_daily f \
         JOIN dim_customer c USING (customer_id) GROUP BY ALL HAVING sum(f.balance) > 0)",
    );

    assert_eq!(positive_cells, 10 * 2 * 1_065);
}

#[test]
fn month_end_deviation_is_never_zero() {
    let connection = open(&shared().path);

    let flat_months = scalar(
        &connection,
        "WITH daily AS (SELECT biz_date, sum(balance) AS total FROM fact_deposit_daily GROUP BY ALL) \
         SELECT count(*) FROM (SELECT date_trunc('month', biz_date) AS month, \
             (arg_max(total, biz_date) - avg(total)) / avg(total) AS deviation FROM daily GROUP BY ALL) \
         WHERE abs(deviation) < 0.001",
    );

    assert_eq!(flat_months, 0);
}

#[test]
fn series_grows_and_dips_at_festival() {
    let connection = open(&shared().path);
    let total_on = |day: &str| {
        scalar(
            &connection,
            &format!(
                "SELECT CAST(sum(balance) AS BIGINT) FROM fact_deposit_daily WHERE biz_date = DATE '{day}'"
            ),
        )
    };
    let corporate_on = |day: &str| {
        scalar(
            &connection,
            &format!(
                "SELECT CAST(sum(balance) AS BIGINT) FROM fact_deposit_daily f JOIN dim_customer c USING (customer_id) \
                 WHERE c.customer_type = '对公' AND biz_date = DATE '{day}'"
            ),
        )
    };

    assert!(total_on("2026-11-30") > total_on("2024-11-30") * 12 / 10);
    // The Spring Festival of 2026 is on 17 February.
    assert!(corporate_on("2026-02-13") < corporate_on("2026-01-20"));
    assert!(corporate_on("2026-03-20") > corporate_on("2026-02-13"));
    // Balances are pushed up on the last day of a quarter.
    assert!(total_on("2026-09-30") > total_on("2026-09-28"));
    assert!(total_on("2026-09-30") > total_on("2026-10-01"));
}

#[test]
fn corporate_is_large_minority() {
    let connection = open(&shared().path);

    let corporate_percent = scalar(
        &connection,
        "SELECT CAST(100 * sum(balance) FILTER (WHERE c.customer_type = '对公') / sum(balance) AS BIGINT) \
         FROM fact_deposit_daily f JOIN dim_customer c USING (customer_id) WHERE biz_date = DATE '2026-11-30'",
    );

    assert!(
        (25..=50).contains(&corporate_percent),
        "{corporate_percent} % corporate"
    );
}

#[test]
fn same_seed_gives_same_tables() {
    let shared = shared();
    let folder = tempfile::tempdir().expect("temporary folder");
    // The folder of the second file does not exist yet.
    let again = folder.path().join("nested/again.duckdb");
    let other_seed = folder.path().join("other.duckdb");

    generate(&options(&again, 42)).expect("second generation failed");
    generate(&options(&other_seed, 7)).expect("generation with seed 7 failed");

    let expected = checksums(&shared.path);
    assert_eq!(expected.len(), 8);
    assert_eq!(checksums(&again), expected);
    assert_ne!(checksums(&other_seed), expected);
}

#[test]
fn failed_generation_keeps_old_file() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let target = folder.path().join("demo.duckdb");
    fs::write(&target, b"previous warehouse").expect("write old file");
    // A folder where the partial file goes makes the clean-up step fail.
    fs::create_dir(folder.path().join("demo.duckdb.partial")).expect("create blocking folder");

    let error = generate(&options(&target, 42)).expect_err("generation should fail");

    assert!(matches!(error, DemoError::RemoveStale { .. }), "{error}");
    assert!(error.to_string().contains("demo.duckdb.partial"), "{error}");
    assert_eq!(
        fs::read(&target).expect("read old file"),
        b"previous warehouse"
    );
}

#[test]
fn folder_as_output_is_rejected() {
    let folder = tempfile::tempdir().expect("temporary folder");

    let error = generate(&options(folder.path(), 42)).expect_err("generation should fail");

    assert!(matches!(error, DemoError::InvalidOutput(_)), "{error}");
    assert!(error.to_string().contains("names a folder"), "{error}");
}
