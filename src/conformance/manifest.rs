//! A raw index of a MetricFlow manifest folder, read for scope decisions.
//!
//! The semantic-layer loader ([`crate::semantic::load_dir`]) keeps only what
//! the compiler supports, so it cannot tell why a case is out of scope. This
//! index reads the same YAML files directly and keeps what the scope checks
//! need: metric inputs, measure aggregations, time granularities, filters,
//! custom granularities and validity parameters. Shapes it does not expect
//! are passed over: problems in a manifest are the loader's to report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::yaml::{self, Node};

#[derive(Debug, Clone, Default)]
pub(crate) struct ManifestIndex {
    /// Names of custom granularities defined on the time spines.
    pub custom_granularities: BTreeSet<String>,
    /// Unqualified table name of the day-grain time spine.
    pub day_time_spine_table: Option<String>,
    pub semantic_models: Vec<ModelEntry>,
    pub measures: BTreeMap<String, MeasureEntry>,
    pub metrics: BTreeMap<String, MetricEntry>,
    /// True when some dimension has `validity_params` (a slowly changing
    /// dimension).
    pub has_validity_params: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ModelEntry {
    pub entities: Vec<String>,
    /// Time dimension name to its granularity (`day`, `hour`, ...).
    pub time_dimensions: BTreeMap<String, String>,
    pub categorical_dimensions: BTreeSet<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MeasureEntry {
    /// The aggregation in lower case (`sum`, `percentile`, ...).
    pub agg: String,
    /// Granularity of the measure's aggregation time dimension, if known.
    pub agg_time_granularity: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MetricEntry {
    /// The metric type in lower case (`simple`, `derived`, `conversion`, ...).
    pub kind: String,
    pub input_metrics: Vec<String>,
    pub input_measures: Vec<String>,
    /// Filters on the metric and on its inputs, as written.
    pub filters: Vec<String>,
    /// Windows, offsets and grains (`7 days`, `1 alien_day`, `month`).
    pub time_words: Vec<String>,
}

impl ManifestIndex {
    /// Reads every `*.yaml` and `*.yml` file under `dir`.
    pub(crate) fn read_dir(dir: &Path) -> Result<ManifestIndex, String> {
        let mut files = Vec::new();
        collect_yaml_files(dir, &mut files)
            .map_err(|error| format!("cannot list manifest folder `{}`: {error}", dir.display()))?;
        files.sort();

        let mut index = ManifestIndex::default();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|error| format!("cannot read `{}`: {error}", file.display()))?;
            index
                .add_yaml(&text)
                .map_err(|error| format!("cannot parse `{}`: {error}", file.display()))?;
        }
        Ok(index)
    }

    /// Adds the documents of one YAML stream.
    pub(crate) fn add_yaml(&mut self, text: &str) -> Result<(), yaml::SyntaxError> {
        for document in &yaml::parse_documents(text)? {
            self.add_document(document);
        }
        Ok(())
    }

    fn add_document(&mut self, document: &Node) {
        if let Some(model) = document.get("semantic_model") {
            self.add_semantic_model(model);
        }
        if let Some(metric) = document.get("metric") {
            self.add_metric(metric);
        }
        if let Some(configuration) = document.get("project_configuration") {
            self.add_project_configuration(configuration);
        }
    }

    fn add_semantic_model(&mut self, model: &Node) {
        let mut entry = ModelEntry::default();
        if let Some(primary_entity) = text(model, "primary_entity") {
            entry.entities.push(primary_entity);
        }
        for entity in items(model, "entities") {
            if let Some(name) = text(entity, "name") {
                entry.entities.push(name);
            }
        }
        for dimension in items(model, "dimensions") {
            let Some(name) = text(dimension, "name") else {
                continue;
            };
            if dimension
                .get("validity_params")
                .or_else(|| {
                    dimension
                        .get("type_params")
                        .and_then(|params| params.get("validity_params"))
                })
                .is_some()
            {
                self.has_validity_params = true;
            }
            let is_time =
                text(dimension, "type").is_some_and(|kind| kind.eq_ignore_ascii_case("time"));
            if is_time {
                let granularity = dimension
                    .get("type_params")
                    .and_then(|params| text(params, "time_granularity"))
                    .unwrap_or_else(|| "day".to_owned());
                entry
                    .time_dimensions
                    .insert(name, granularity.to_ascii_lowercase());
            } else {
                entry.categorical_dimensions.insert(name);
            }
        }

        let default_agg_time = model
            .get("defaults")
            .and_then(|defaults| text(defaults, "agg_time_dimension"));
        for measure in items(model, "measures") {
            let Some(name) = text(measure, "name") else {
                continue;
            };
            let agg_time_dimension =
                text(measure, "agg_time_dimension").or_else(|| default_agg_time.clone());
            let agg_time_granularity = agg_time_dimension
                .and_then(|dimension| entry.time_dimensions.get(&dimension).cloned());
            let creates_metric = text(measure, "create_metric")
                .is_some_and(|flag| flag.eq_ignore_ascii_case("true"));
            if creates_metric {
                self.metrics
                    .entry(name.clone())
                    .or_insert_with(|| MetricEntry {
                        kind: "simple".to_owned(),
                        input_measures: vec![name.clone()],
                        ..MetricEntry::default()
                    });
            }
            self.measures.insert(
                name,
                MeasureEntry {
                    agg: text(measure, "agg")
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    agg_time_granularity,
                },
            );
        }

        self.semantic_models.push(entry);
    }

    fn add_metric(&mut self, metric: &Node) {
        let Some(name) = text(metric, "name") else {
            return;
        };
        let mut entry = MetricEntry {
            kind: text(metric, "type")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            ..MetricEntry::default()
        };
        collect_filters(metric.get("filter"), &mut entry.filters);
        if let Some(granularity) = text(metric, "time_granularity") {
            entry.time_words.push(granularity);
        }

        if let Some(params) = metric.get("type_params") {
            if let Some(measure) = params.get("measure") {
                add_input(measure, InputKind::Measure, &mut entry);
            }
            for key in ["numerator", "denominator"] {
                if let Some(input) = params.get(key) {
                    add_input(input, InputKind::Metric, &mut entry);
                }
            }
            for input in items(params, "metrics") {
                add_input(input, InputKind::Metric, &mut entry);
            }
            add_time_words(params, &mut entry.time_words);
            if let Some(cumulative) = params.get("cumulative_type_params") {
                add_time_words(cumulative, &mut entry.time_words);
            }
            if let Some(conversion) = params.get("conversion_type_params") {
                add_time_words(conversion, &mut entry.time_words);
                for key in ["base_measure", "conversion_measure"] {
                    if let Some(measure) = conversion.get(key) {
                        add_input(measure, InputKind::Measure, &mut entry);
                    }
                }
            }
        }

        self.metrics.insert(name, entry);
    }

    fn add_project_configuration(&mut self, configuration: &Node) {
        for spine in items(configuration, "time_spines") {
            for granularity in items(spine, "custom_granularities") {
                if let Some(name) = text(granularity, "name") {
                    self.custom_granularities.insert(name);
                }
            }
            let is_day = spine
                .get("primary_column")
                .and_then(|column| text(column, "time_granularity"))
                .is_some_and(|granularity| granularity.eq_ignore_ascii_case("day"));
            let table = spine
                .get("node_relation")
                .and_then(|relation| text(relation, "alias"));
            if is_day && self.day_time_spine_table.is_none() {
                self.day_time_spine_table = table;
            }
        }

        // The legacy form names the table as `schema.table` in `location`.
        for legacy in items(configuration, "time_spine_table_configurations") {
            let is_day =
                text(legacy, "grain").is_some_and(|grain| grain.eq_ignore_ascii_case("day"));
            let table = text(legacy, "location")
                .map(|location| location.rsplit('.').next().unwrap_or_default().to_owned());
            if is_day && self.day_time_spine_table.is_none() {
                self.day_time_spine_table = table;
            }
        }
    }
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_yaml_files(&path, files)?;
            continue;
        }
        let is_yaml = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| extension == "yaml" || extension == "yml");
        if is_yaml {
            files.push(path);
        }
    }
    Ok(())
}

fn text(node: &Node, key: &str) -> Option<String> {
    let value = node.get(key)?;
    if value.is_null() {
        return None;
    }
    value.as_str().map(str::to_owned)
}

fn items<'a>(node: &'a Node, key: &str) -> &'a [Node] {
    node.get(key)
        .and_then(Node::as_sequence)
        .unwrap_or_default()
}

#[derive(Clone, Copy)]
enum InputKind {
    Measure,
    Metric,
}

/// Adds a metric or measure reference, written either as a bare name or as a
/// mapping with `name`, `filter`, `offset_window` and `offset_to_grain`.
fn add_input(input: &Node, kind: InputKind, entry: &mut MetricEntry) {
    let names = match kind {
        InputKind::Measure => &mut entry.input_measures,
        InputKind::Metric => &mut entry.input_metrics,
    };
    if let Some(name) = input.as_str().filter(|_| !input.is_null()) {
        names.push(name.to_owned());
        return;
    }
    if let Some(name) = text(input, "name") {
        names.push(name);
    }
    collect_filters(input.get("filter"), &mut entry.filters);
    add_time_words(input, &mut entry.time_words);
}

fn add_time_words(node: &Node, words: &mut Vec<String>) {
    for key in [
        "window",
        "grain_to_date",
        "offset_window",
        "offset_to_grain",
    ] {
        if let Some(word) = text(node, key) {
            words.push(word);
        }
    }
}

fn collect_filters(filter: Option<&Node>, filters: &mut Vec<String>) {
    let Some(filter) = filter else {
        return;
    };
    if let Some(items) = filter.as_sequence() {
        filters.extend(items.iter().filter_map(Node::as_str).map(str::to_owned));
    } else if let Some(single) = filter.as_str().filter(|_| !filter.is_null()) {
        filters.push(single.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(text: &str) -> ManifestIndex {
        let mut index = ManifestIndex::default();
        index.add_yaml(text).unwrap();
        index
    }

    #[test]
    fn measures_take_the_default_agg_time_granularity() {
        let index = index_of(
            "semantic_model:\n  name: users\n  defaults:\n    agg_time_dimension: created_at\n  dimensions:\n    - name: created_at\n      type: time\n      type_params:\n        time_granularity: day\n    - name: archived_at\n      type: time\n      type_params:\n        time_granularity: hour\n  measures:\n    - name: new_users\n      agg: SUM\n      create_metric: true\n    - name: archived_users\n      agg: sum\n      agg_time_dimension: archived_at\n",
        );

        assert_eq!(index.measures["new_users"].agg, "sum");
        assert_eq!(
            index.measures["new_users"].agg_time_granularity.as_deref(),
            Some("day")
        );
        assert_eq!(
            index.measures["archived_users"]
                .agg_time_granularity
                .as_deref(),
            Some("hour")
        );
        assert_eq!(index.metrics["new_users"].input_measures, ["new_users"]);
        assert!(!index.metrics.contains_key("archived_users"));
    }

    #[test]
    fn metric_inputs_filters_and_windows() {
        let index = index_of(
            "---\nmetric:\n  name: growth\n  type: derived\n  filter: \"{{ Metric('bookings', ['listing']) }} > 2\"\n  type_params:\n    expr: a - b\n    metrics:\n      - name: bookings\n      - name: bookings\n        offset_window: 1 alien_day\n        filter: x\n---\nmetric:\n  name: rate\n  type: conversion\n  type_params:\n    conversion_type_params:\n      base_measure: visits\n      conversion_measure:\n        name: buys\n      window: 7 days\n",
        );

        let growth = &index.metrics["growth"];
        assert_eq!(growth.input_metrics, ["bookings", "bookings"]);
        assert_eq!(growth.filters.len(), 2);
        assert_eq!(growth.time_words, ["1 alien_day"]);
        let rate = &index.metrics["rate"];
        assert_eq!(rate.kind, "conversion");
        assert_eq!(rate.input_measures, ["visits", "buys"]);
        assert_eq!(rate.time_words, ["7 days"]);
    }

    #[test]
    fn time_spines_and_custom_granularities() {
        let index = index_of(
            "project_configuration:\n  time_spines:\n    - node_relation:\n        alias: mf_time_spine_hour\n      primary_column:\n        name: ts\n        time_granularity: hour\n    - node_relation:\n        alias: mf_time_spine\n      primary_column:\n        name: ds\n        time_granularity: day\n      custom_granularities:\n        - name: alien_day\n",
        );

        assert_eq!(index.day_time_spine_table.as_deref(), Some("mf_time_spine"));
        assert!(index.custom_granularities.contains("alien_day"));
    }
}
