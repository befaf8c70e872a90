//! The loader's diagnostics on semantic layers with one deliberate mistake.
//!
//! Each folder under `tests/fixtures/broken/` is a small semantic layer with
//! one mistake, described in a comment at the top of the file that contains
//! it. `tests/fixtures/valid/` has none. The tests assert the full text a user
//! sees from `wenshu check`: file:line:column, the message and the "did you
//! mean" suggestion. Folders are given relative to the crate root, which is
//! the working directory cargo gives integration tests, so the file names in
//! the expected text are the ones a user sees when running from the
//! repository.

use std::path::{Path, PathBuf};

use wenshu::semantic::{Diagnostic, Diagnostics, SemanticLayer, check_warehouse, load_dir};
use wenshu::warehouse::DuckDb;

fn fixture(case: &str) -> PathBuf {
    Path::new("tests/fixtures").join(case)
}

/// Loads a fixture that must fail and returns its diagnostics.
fn load_broken(case: &str) -> Vec<Diagnostic> {
    let dir = fixture(case);
    match load_dir(&dir) {
        Ok(_) => panic!("`{}` loaded without diagnostics", dir.display()),
        Err(Diagnostics(diagnostics)) => diagnostics,
    }
}

/// Loads a fixture that must load cleanly.
fn load_valid(case: &str) -> SemanticLayer {
    let dir = fixture(case);
    load_dir(&dir)
        .unwrap_or_else(|diagnostics| panic!("`{}` is invalid:\n{diagnostics}", dir.display()))
}

fn texts(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics.iter().map(ToString::to_string).collect()
}

#[test]
fn valid_fixture_loads() {
    let layer = load_valid("valid");

    let models: Vec<&str> = layer
        .semantic_models
        .iter()
        .map(|model| model.name.as_str())
        .collect();
    let metrics: Vec<&str> = layer
        .metrics
        .iter()
        .map(|metric| metric.name.as_str())
        .collect();
    // Files load in path order: branch.yaml, deposit_daily.yaml, metrics.yaml.
    assert_eq!(models, ["branch", "deposit_daily"]);
    assert_eq!(
        metrics,
        [
            "deposit_balance",
            "average_daily_balance",
            "deposit_deviation"
        ]
    );
}

#[test]
fn typo_key_in_measure() {
    let diagnostics = load_broken("broken/typo_key");

    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/typo_key/deposit_daily.yaml:17:7: unknown key `agg_tyme_dimension` in a measure; \
             did you mean `agg_time_dimension`?"
        ]
    );
}

#[test]
fn typo_section_in_model() {
    let diagnostics = load_broken("broken/typo_section");

    // The metric's error follows from the first: the measures under the
    // misspelt key were never read.
    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/typo_section/deposit_daily.yaml:14:3: unknown key `measurs` in a semantic model; \
             did you mean `measures`?",
            "tests/fixtures/broken/typo_section/deposit_daily.yaml:23:14: metric `deposit_balance` refers to \
             unknown measure `deposit_balance`",
        ]
    );
}

#[test]
fn unknown_measure_in_metric() {
    let diagnostics = load_broken("broken/unknown_measure");

    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/unknown_measure/metrics.yaml:8:14: metric `deposit_balance` refers to unknown \
             measure `deposit_balence`; did you mean `deposit_balance`?"
        ]
    );
    // The position and the suggestion are also data, for callers that
    // render them differently.
    let diagnostic = &diagnostics[0];
    assert_eq!((diagnostic.line, diagnostic.column), (8, 14));
    assert_eq!(diagnostic.suggestion.as_deref(), Some("deposit_balance"));
}

#[test]
fn cycle_between_derived_metrics() {
    let diagnostics = load_broken("broken/metric_cycle");

    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/metric_cycle/metrics.yaml:9:3: metric `net_increase` depends on itself: \
             net_increase -> adjusted_balance -> net_increase",
        ]
    );
}

#[test]
fn missing_column_in_warehouse() {
    let layer = load_valid("broken/missing_column");
    let folder = tempfile::tempdir().expect("temporary folder");
    let warehouse =
        DuckDb::open_read_write(&folder.path().join("warehouse.duckdb")).expect("open warehouse");
    warehouse
        .execute_batch(
            "CREATE TABLE fact_deposit_daily (biz_date DATE, account_id BIGINT, branch_id INTEGER, \
             balance DECIMAL(18, 2));",
        )
        .expect("create table");

    let diagnostics = check_warehouse(&layer, &warehouse);

    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/missing_column/deposit_daily.yaml:19:7: measure `deposit_balance` of semantic \
             model `deposit_daily` reads column `balnce`, which table `fact_deposit_daily` does not have; \
             did you mean `balance`?"
        ]
    );
}

#[test]
fn duplicate_metric_across_files() {
    let diagnostics = load_broken("broken/duplicate_metric");

    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/duplicate_metric/metrics_growth.yaml:3:3: duplicate metric `deposit_balance`; \
             it is first defined at tests/fixtures/broken/duplicate_metric/metrics_balances.yaml:2:3"
        ]
    );
}

#[test]
fn unknown_dimension_in_filter() {
    let diagnostics = load_broken("broken/bad_filter");

    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/bad_filter/metrics.yaml:9:11: filter `{{ Dimension('branch__branch_nam') }} = \
             '梅江支行'` refers to unknown dimension `branch__branch_nam`; did you mean `branch__branch_name`?"
        ]
    );
}

#[test]
fn invalid_yaml_syntax() {
    let diagnostics = load_broken("broken/invalid_yaml");

    assert_eq!(
        texts(&diagnostics),
        [
            "tests/fixtures/broken/invalid_yaml/metrics.yaml:8:4: invalid YAML: while parsing a block mapping, \
             did not find expected key"
        ]
    );
}
