//! Time to load and validate a generated semantic layer of 500 metrics, the
//! size of a bank's whole indicator catalog rather than the 17 metrics of
//! `semantic_layer/`.
//!
//! The generated layer has 10 dimension models, 10 fact models joined to
//! them, 60 measures and 500 metrics. Each fact model has 6 simple metrics,
//! 12 simple metrics with a filter through a join, 12 ratios, 10 derived
//! metrics with an offset and 10 cumulative metrics. Every metric has a
//! label, a description and synonyms, as the bank's metrics do. The layer is
//! checked to load without a diagnostic before it is timed.
//!
//! Criterion times `load_dir` on the files written to a temporary folder
//! (reading, parsing and validation) and `load_sources` on the same texts in
//! memory (parsing and validation). Run with `cargo bench --bench catalog`.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wenshu::semantic::{load_dir, load_sources};

const DIMENSION_MODELS: usize = 10;
const FACT_MODELS: usize = 10;
/// Metrics per fact model; 50 × 10 = 500 in all.
const METRICS_PER_FACT: usize = 50;
const TOTAL_METRICS: usize = FACT_MODELS * METRICS_PER_FACT;

/// Returns a dimension model: a primary key, four categorical dimensions and a
/// date.
fn dimension_model(index: usize) -> String {
    let mut yaml = format!(
        "semantic_model:\n  name: dim_{index}\n  label: 维度{index}\n  description: 生成的维度表 {index}。\n  \
         node_relation:\n    alias: dim_table_{index}\n  entities:\n    - name: key_{index}\n      type: primary\n      \
         expr: key_{index}_id\n      label: 维度{index}\n  dimensions:\n"
    );
    for attribute in 0..4 {
        let _ = write!(
            yaml,
            "    - name: attribute_{attribute}\n      type: categorical\n      label: 属性{index}{attribute}\n      \
             synonyms: [属性{index}-{attribute}, attribute {index} {attribute}]\n"
        );
    }
    yaml.push_str(
        "    - name: opened_on\n      type: time\n      type_params:\n        time_granularity: day\n",
    );
    yaml
}

/// Returns a fact model with a foreign key to every dimension model and six
/// measures: sums, a balance on the period's last day, an average daily
/// balance, a distinct count and a maximum.
fn fact_model(index: usize) -> String {
    let mut yaml = format!(
        "semantic_model:\n  name: fact_{index}\n  label: 事实{index}\n  description: 生成的每日事实表 {index}。\n  \
         node_relation:\n    alias: fact_table_{index}\n  defaults:\n    agg_time_dimension: biz_date\n  entities:\n"
    );
    for dimension in 0..DIMENSION_MODELS {
        let _ = write!(
            yaml,
            "    - name: key_{dimension}\n      type: foreign\n      expr: key_{dimension}_id\n"
        );
    }
    yaml.push_str(
        "  dimensions:\n    - name: biz_date\n      type: time\n      type_params:\n        time_granularity: day\n  measures:\n",
    );
    let measures = [
        "agg: sum\n      expr: amount",
        "agg: sum\n      expr: amount\n      non_additive_dimension:\n        name: biz_date\n        window_choice: max",
        "agg: average_daily\n      expr: amount",
        "agg: sum\n      expr: interest",
        "agg: count_distinct\n      expr: key_0_id",
        "agg: max\n      expr: amount",
    ];
    for (number, definition) in measures.iter().enumerate() {
        let _ = write!(
            yaml,
            "    - name: measure_{index}_{number}\n      label: 度量{index}-{number}\n      {definition}\n"
        );
    }
    yaml
}

/// Returns the 50 metrics of one fact model, as YAML documents.
fn metrics(fact: usize) -> String {
    let mut documents = Vec::with_capacity(METRICS_PER_FACT);
    let header = |name: &str, kind: &str| {
        format!(
            "metric:\n  name: {name}\n  label: 指标 {name}\n  description: >-\n    生成的指标 {name}，用于计时。\n  \
             synonyms: [{name} 别名, 指标{name}]\n  type: {kind}\n  type_params:\n"
        )
    };
    for number in 0..6 {
        let name = format!("simple_{fact}_{number}");
        documents.push(format!(
            "{}    measure: measure_{fact}_{number}\n",
            header(&name, "simple")
        ));
    }
    for number in 0..12 {
        let name = format!("filtered_{fact}_{number}");
        let dimension = number % DIMENSION_MODELS;
        documents.push(format!(
            "{}    measure: measure_{fact}_{}\n  filter: \"{{{{ Dimension('key_{dimension}__attribute_{}') }}}} = 'v{number}'\"\n",
            header(&name, "simple"),
            number % 6,
            number % 4
        ));
    }
    for number in 0..12 {
        let name = format!("ratio_{fact}_{number}");
        documents.push(format!(
            "{}    numerator: filtered_{fact}_{number}\n    denominator: simple_{fact}_{}\n",
            header(&name, "ratio"),
            number % 6
        ));
    }
    for number in 0..10 {
        let name = format!("derived_{fact}_{number}");
        let input = format!("simple_{fact}_{}", number % 6);
        documents.push(format!(
            "{}    expr: (current - earlier) * 100.0 / NULLIF(earlier, 0)\n    metrics:\n      - name: {input}\n        \
             alias: current\n      - name: {input}\n        offset_window: 1 year\n        alias: earlier\n",
            header(&name, "derived")
        ));
    }
    for number in 0..10 {
        let name = format!("cumulative_{fact}_{number}");
        let window = if number % 2 == 0 {
            "window: 7 days".to_owned()
        } else {
            "grain_to_date: month".to_owned()
        };
        documents.push(format!(
            "{}    measure: measure_{fact}_{}\n    cumulative_type_params:\n      {window}\n",
            header(&name, "cumulative"),
            [0, 3][number % 2]
        ));
    }
    assert_eq!(documents.len(), METRICS_PER_FACT);
    documents.join("---\n")
}

/// Returns the generated layer as (file name, contents), in load order.
fn catalog() -> Vec<(String, String)> {
    let mut files = vec![(
        "project_configuration.yaml".to_owned(),
        "project_configuration:\n  time_spines:\n    - node_relation:\n        alias: dim_date\n      \
         primary_column:\n        name: date_day\n        time_granularity: day\n"
            .to_owned(),
    )];
    for index in 0..DIMENSION_MODELS {
        files.push((format!("dim_{index}.yaml"), dimension_model(index)));
    }
    for index in 0..FACT_MODELS {
        files.push((format!("fact_{index}.yaml"), fact_model(index)));
        files.push((format!("metrics_{index}.yaml"), metrics(index)));
    }
    files
}

fn load_catalog(criterion: &mut Criterion) {
    let files = catalog();
    let layer = load_sources(&files)
        .unwrap_or_else(|diagnostics| panic!("the generated layer is invalid:\n{diagnostics}"));
    assert_eq!(layer.metrics.len(), TOTAL_METRICS);
    let bytes: usize = files.iter().map(|(_, text)| text.len()).sum();

    let folder = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in &files {
        std::fs::write(folder.path().join(name), text).expect("a writable temporary folder");
    }
    if let Err(diagnostics) = load_dir(folder.path()) {
        panic!("the written layer is invalid:\n{diagnostics}");
    }
    println!(
        "generated layer: {} files, {} KiB, {} semantic models, {} metrics",
        files.len(),
        bytes / 1024,
        layer.semantic_models.len(),
        layer.metrics.len()
    );

    let mut group = criterion.benchmark_group("catalog_500_metrics");
    group.bench_function("load_dir", |bencher| {
        bencher.iter(|| load_dir(black_box(folder.path())))
    });
    group.bench_function("load_sources", |bencher| {
        bencher.iter(|| load_sources(black_box(&files)))
    });
    group.finish();
}

criterion_group!(benches, load_catalog);
criterion_main!(benches);
