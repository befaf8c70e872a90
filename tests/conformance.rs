//! MetricFlow's integration cases run through the compiler.
//!
//! The fixtures live outside the repository, in
//! `../shared/conformance/metricflow` next to the crate root. When that
//! folder is absent the tests print that they are skipped and pass.

use std::path::PathBuf;

use wenshu::conformance::{self, ConformanceOptions, ConformanceReport};

/// Cases that must pass: every case that uses only supported features.
const MIN_PASSED: usize = 174;

fn fixture_root() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/metricflow");
    if root.is_dir() {
        Some(root)
    } else {
        println!("skipped: no conformance fixtures at `{}`", root.display());
        None
    }
}

fn options(root: PathBuf) -> ConformanceOptions {
    ConformanceOptions {
        root,
        cases_dir: None,
        name_filter: None,
        spark: None,
    }
}

fn print_report(output: &[u8], report: &ConformanceReport) {
    println!("{}", String::from_utf8_lossy(output));
    println!(
        "passed {}, failed {}, skipped {}",
        report.passed,
        report.failed.len(),
        report.skipped.len()
    );
}

#[test]
fn suite_passes_floor() {
    let Some(root) = fixture_root() else {
        return;
    };
    let mut output = Vec::new();

    let report = conformance::run(&options(root), &mut output).expect("conformance run failed");

    print_report(&output, &report);
    assert!(
        report.failed.is_empty(),
        "failed cases: {:?}",
        report.failed
    );
    assert!(
        report.passed >= MIN_PASSED,
        "{} cases passed, fewer than the floor of {MIN_PASSED}",
        report.passed
    );
}

#[test]
fn expected_queries_render_and_run() {
    let Some(root) = fixture_root() else {
        return;
    };
    let mut output = Vec::new();

    let report = conformance::check_expected_queries(&options(root), &mut output)
        .expect("self-check failed");

    print_report(&output, &report);
    assert!(report.passed > 0, "no case is in scope");
    assert_eq!(report.failed, Vec::<(String, String)>::new());
}

#[test]
fn name_filter_selects_cases() {
    let Some(root) = fixture_root() else {
        return;
    };
    let mut selected = options(root);
    selected.name_filter = Some("simple_query_with_time_constraint".to_owned());
    let mut output = Vec::new();

    let report =
        conformance::check_expected_queries(&selected, &mut output).expect("self-check failed");

    assert_eq!(
        report.passed + report.failed.len() + report.skipped.len(),
        1
    );
}

#[test]
fn missing_root_is_an_error() {
    let missing = options(PathBuf::from("/nonexistent/conformance"));
    let mut output = Vec::new();

    let error = conformance::run(&missing, &mut output).unwrap_err();

    assert_eq!(
        error.to_string(),
        "conformance fixtures not found at `/nonexistent/conformance`; \
         pass the folder that holds `metricflow_semantics` and `tests_metricflow`"
    );
}

#[test]
fn broken_case_file_fails_its_cases() {
    let Some(root) = fixture_root() else {
        return;
    };
    let cases_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        cases_dir.path().join("itest_broken.yaml"),
        "---\nintegration_test:\n  name: typo_case\n  model: SIMPLE_MODEL\n  metricz: [\"bookings\"]\n  check_query: SELECT 1\n---\nintegration_test:\n  name: unknown_model_case\n  model: NO_SUCH_MODEL\n  check_query: SELECT 1\n",
    )
    .unwrap();
    let mut broken = options(root);
    broken.cases_dir = Some(cases_dir.path().to_path_buf());
    let mut output = Vec::new();

    let report = conformance::run(&broken, &mut output).expect("conformance run failed");

    let file = cases_dir.path().join("itest_broken.yaml");
    assert_eq!(report.passed, 0);
    assert_eq!(
        report.failed[0],
        (
            "typo_case".to_owned(),
            format!(
                "invalid case: unknown key `metricz` (at {}:2)",
                file.display()
            )
        )
    );
    assert_eq!(report.failed[1].0, "unknown_model_case");
    assert!(
        report.failed[1]
            .1
            .starts_with("unknown model `NO_SUCH_MODEL`; known models: SIMPLE_MODEL,"),
        "{}",
        report.failed[1].1
    );
    let text = String::from_utf8(output).unwrap();
    assert!(text.ends_with("0 passed, 2 failed\n0 skipped\n"), "{text}");
}
