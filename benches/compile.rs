//! Time to compile representative bank queries to SQL against the real
//! `semantic_layer/`, and to load that folder.
//!
//! Run with `cargo bench --bench compile`; see `docs/benchmarks.md`.

use std::hint::black_box;
use std::path::Path;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use wenshu::compiler::{CompileOptions, MetricQuery, compile};
use wenshu::semantic::{SemanticLayer, load_dir};

fn semantic_layer_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/semantic_layer"))
}

fn load_layer() -> SemanticLayer {
    load_dir(semantic_layer_dir())
        .unwrap_or_else(|diagnostics| panic!("semantic_layer/ is invalid:\n{diagnostics}"))
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("valid date")
}

/// Returns the questions the benchmark compiles, as (name, query) pairs.
/// The dates are the demo warehouse's, whose data ends on 2026-11-30.
fn bank_queries() -> Vec<(&'static str, MetricQuery)> {
    let year_start = Some(date("2026-01-01"));
    let reference_date = Some(date("2026-11-30"));
    vec![
        (
            "balance_by_branch",
            MetricQuery {
                metrics: vec!["deposit_balance".to_owned()],
                group_by: vec!["branch__branch_name".to_owned()],
                end: reference_date,
                ..MetricQuery::default()
            },
        ),
        (
            "average_daily_balance_year_to_date",
            MetricQuery {
                metrics: vec!["average_daily_balance".to_owned()],
                start: year_start,
                end: reference_date,
                ..MetricQuery::default()
            },
        ),
        (
            "monthly_balance_series",
            MetricQuery {
                metrics: vec!["deposit_balance".to_owned()],
                group_by: vec!["metric_time__month".to_owned()],
                start: year_start,
                end: reference_date,
                ..MetricQuery::default()
            },
        ),
        (
            "growth_year_on_year",
            MetricQuery {
                metrics: vec!["growth_rate_year_on_year".to_owned()],
                end: reference_date,
                ..MetricQuery::default()
            },
        ),
        (
            "share_by_product_category",
            MetricQuery {
                metrics: vec!["deposit_share".to_owned()],
                group_by: vec!["product__product_category".to_owned()],
                end: reference_date,
                ..MetricQuery::default()
            },
        ),
    ]
}

fn compile_queries(criterion: &mut Criterion) {
    let layer = load_layer();
    let options = CompileOptions::default();
    let mut group = criterion.benchmark_group("compile");
    for (name, query) in bank_queries() {
        // A query that fails to compile would time the error path instead.
        if let Err(error) = compile(&layer, &query, &options) {
            panic!("query `{name}` does not compile: {error}");
        }
        group.bench_function(name, |bencher| {
            bencher.iter(|| compile(black_box(&layer), black_box(&query), &options))
        });
    }
    group.finish();
}

fn load_semantic_layer(criterion: &mut Criterion) {
    criterion.bench_function("load_semantic_layer", |bencher| {
        bencher.iter(|| load_dir(black_box(semantic_layer_dir())))
    });
}

criterion_group!(benches, compile_queries, load_semantic_layer);
criterion_main!(benches);
