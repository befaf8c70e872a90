//! Static decisions on which cases use a MetricFlow feature out of scope.
//!
//! A case is skipped when its own fields, or the metrics it reaches in the
//! manifest (through derived, ratio and cumulative inputs and filters), use
//! a feature Wenshu does not compile. The decision never runs the compiler,
//! so a case that is in scope and fails to compile counts as a failure.

use std::collections::BTreeSet;

use super::cases::Case;
use super::manifest::ManifestIndex;

/// The model MetricFlow uses for slowly-changing-dimension cases.
const SCD_MODEL: &str = "SCD_MODEL";

/// Granularities finer than a day, as MetricFlow names them.
const SUB_DAILY_GRAINS: [&str; 6] = [
    "hour",
    "minute",
    "second",
    "millisecond",
    "microsecond",
    "nanosecond",
];

/// Features that put a case out of scope, in the order they are checked;
/// a case is reported under the first one it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Feature {
    SlowlyChangingDimensions,
    ConversionMetrics,
    CustomGranularities,
    SubDailyGrains,
    Percentiles,
    MetricsInFilters,
    DateParts,
    MinMaxOnly,
    SavedQueries,
    UndeduplicatedRows,
}

impl Feature {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Feature::SlowlyChangingDimensions => "slowly changing dimensions",
            Feature::ConversionMetrics => "conversion metrics",
            Feature::CustomGranularities => "custom granularities",
            Feature::SubDailyGrains => "sub-daily grains",
            Feature::Percentiles => "percentile measures",
            Feature::MetricsInFilters => "metrics in filters",
            Feature::DateParts => "date parts",
            Feature::MinMaxOnly => "min_max_only",
            Feature::SavedQueries => "saved queries",
            Feature::UndeduplicatedRows => "apply_group_by: false",
        }
    }
}

/// Returns the first out-of-scope feature the case uses, if any.
pub(crate) fn out_of_scope_feature(case: &Case, index: &ManifestIndex) -> Option<Feature> {
    features_used(case, index).into_iter().next()
}

fn features_used(case: &Case, index: &ManifestIndex) -> BTreeSet<Feature> {
    let mut features = BTreeSet::new();
    let reached = ReachedDefinitions::collect(case, index);

    if case.model == SCD_MODEL || index.has_validity_params {
        features.insert(Feature::SlowlyChangingDimensions);
    }
    if reached.metric_kinds.contains("conversion") {
        features.insert(Feature::ConversionMetrics);
    }
    if reached.measure_aggs.contains("percentile") {
        features.insert(Feature::Percentiles);
    }
    if case.min_max_only {
        features.insert(Feature::MinMaxOnly);
    }
    if case.saved_query_name.is_some() {
        features.insert(Feature::SavedQueries);
    }
    if !case.apply_group_by {
        features.insert(Feature::UndeduplicatedRows);
    }

    let case_filter = case.where_filter.as_deref().unwrap_or_default();
    let filters_have_metric = std::iter::once(case_filter)
        .chain(reached.filters.iter().map(String::as_str))
        .any(|filter| filter.contains("Metric(") || filter.contains("render_metric_template("));
    if filters_have_metric {
        features.insert(Feature::MetricsInFilters);
    }

    let uses_date_part = case
        .group_by_objects
        .iter()
        .any(|object| object.date_part.is_some())
        || case
            .group_bys
            .iter()
            .any(|name| name.contains("__extract_"));
    if uses_date_part {
        features.insert(Feature::DateParts);
    }

    // Granularities named in group-bys, filters, windows and offsets.
    let mut grains: Vec<String> = Vec::new();
    for name in group_by_names(case) {
        grains.extend(requested_grain(&name, index));
    }
    for filter in std::iter::once(case_filter).chain(reached.filters.iter().map(String::as_str)) {
        grains.extend(identifier_tokens(filter).map(|token| grain_suffix(token).to_owned()));
    }
    for word in &reached.time_words {
        let unit = word.split_whitespace().last().unwrap_or_default();
        grains.push(singular(unit).to_owned());
    }
    grains.extend(reached.measure_grains.iter().cloned());

    if grains
        .iter()
        .any(|grain| index.custom_granularities.contains(grain))
    {
        features.insert(Feature::CustomGranularities);
    }
    let constraint_has_time_of_day = case
        .time_constraint
        .as_ref()
        .is_some_and(|(start, end)| has_time_of_day(start) || has_time_of_day(end));
    if constraint_has_time_of_day
        || grains
            .iter()
            .any(|grain| SUB_DAILY_GRAINS.contains(&grain.as_str()))
    {
        features.insert(Feature::SubDailyGrains);
    }

    features
}

/// Returns the group-by items of a case in string form, structured ones included.
fn group_by_names(case: &Case) -> Vec<String> {
    let structured = case
        .group_by_objects
        .iter()
        .map(|object| match &object.grain {
            Some(grain) => format!("{}__{grain}", object.name),
            None => object.name.clone(),
        });
    case.group_bys.iter().cloned().chain(structured).collect()
}

/// Returns the granularity a group-by item requests: the one written after
/// the last `__`, or else the default granularity of the dimension it names.
fn requested_grain(name: &str, index: &ManifestIndex) -> Option<String> {
    let segments: Vec<&str> = name.split("__").collect();
    let last = *segments.last()?;
    if segments.len() >= 2 && is_grain_name(last, index) {
        return Some(last.to_owned());
    }

    // `entity__dimension` (or a longer join path): find the dimension in a
    // model that has the entity before it.
    let entity = segments
        .len()
        .checked_sub(2)
        .map(|position| segments[position]);
    index
        .semantic_models
        .iter()
        .filter(|model| {
            entity.is_none_or(|entity| model.entities.iter().any(|name| name == entity))
        })
        .find_map(|model| model.time_dimensions.get(last).cloned())
}

fn is_grain_name(word: &str, index: &ManifestIndex) -> bool {
    const STANDARD_GRAINS: [&str; 5] = ["day", "week", "month", "quarter", "year"];
    STANDARD_GRAINS.contains(&word)
        || SUB_DAILY_GRAINS.contains(&word)
        || index.custom_granularities.contains(word)
}

/// Returns the part of an identifier after its last `__`, or the whole identifier.
fn grain_suffix(token: &str) -> &str {
    token.rsplit("__").next().unwrap_or(token)
}

/// `hours` → `hour`; windows are written with plural units.
fn singular(unit: &str) -> &str {
    unit.strip_suffix('s').unwrap_or(unit)
}

fn identifier_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
        .filter(|token| !token.is_empty())
}

fn has_time_of_day(bound: &str) -> bool {
    let Some((_, time)) = bound.trim().split_once([' ', 'T']) else {
        return false;
    };
    let after_midnight = time.trim().trim_start_matches(['0', ':', '.']);
    !after_midnight.is_empty()
}

/// Everything the case's metrics reach in the manifest.
#[derive(Default)]
struct ReachedDefinitions {
    metric_kinds: BTreeSet<String>,
    measure_aggs: BTreeSet<String>,
    /// Granularities of the reached measures' aggregation time dimensions.
    measure_grains: BTreeSet<String>,
    filters: Vec<String>,
    time_words: Vec<String>,
}

impl ReachedDefinitions {
    fn collect(case: &Case, index: &ManifestIndex) -> ReachedDefinitions {
        let mut reached = ReachedDefinitions::default();
        let mut visited = BTreeSet::new();
        let mut pending: Vec<String> = case.metrics.clone();

        while let Some(name) = pending.pop() {
            if !visited.insert(name.clone()) {
                continue;
            }
            let Some(metric) = index.metrics.get(&name) else {
                continue;
            };
            reached.metric_kinds.insert(metric.kind.clone());
            reached.filters.extend(metric.filters.iter().cloned());
            reached.time_words.extend(metric.time_words.iter().cloned());
            pending.extend(metric.input_metrics.iter().cloned());
            for measure_name in &metric.input_measures {
                let Some(measure) = index.measures.get(measure_name) else {
                    continue;
                };
                reached.measure_aggs.insert(measure.agg.clone());
                if let Some(grain) = &measure.agg_time_granularity {
                    reached.measure_grains.insert(grain.clone());
                }
            }
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::cases::GroupByObject;

    const MANIFEST: &str = "\
project_configuration:
  time_spines:
    - node_relation:
        alias: mf_time_spine
      primary_column:
        name: ds
        time_granularity: day
      custom_granularities:
        - name: alien_day
---
semantic_model:
  name: bookings_source
  defaults:
    agg_time_dimension: ds
  primary_entity: booking
  entities:
    - name: listing
      type: foreign
  dimensions:
    - name: ds
      type: time
      type_params:
        time_granularity: day
    - name: is_instant
      type: categorical
  measures:
    - name: bookings
      agg: sum
      create_metric: true
    - name: booking_value_p99
      agg: percentile
---
semantic_model:
  name: users
  defaults:
    agg_time_dimension: created_at
  entities:
    - name: user
      type: primary
  dimensions:
    - name: created_at
      type: time
      type_params:
        time_granularity: day
    - name: bio_added_ts
      type: time
      type_params:
        time_granularity: second
  measures:
    - name: archived_users
      agg: sum
      agg_time_dimension: bio_added_ts
---
metric:
  name: p99
  type: simple
  type_params:
    measure: booking_value_p99
---
metric:
  name: wrapped_p99
  type: derived
  type_params:
    expr: p99
    metrics:
      - name: p99
---
metric:
  name: offset_alien
  type: derived
  type_params:
    expr: bookings
    metrics:
      - name: bookings
        offset_window: 1 alien_day
---
metric:
  name: archived
  type: simple
  type_params:
    measure: archived_users
---
metric:
  name: active
  type: simple
  type_params:
    measure: bookings
  filter: \"{{ Metric('bookings', ['listing']) }} > 2\"
---
metric:
  name: rate
  type: conversion
  type_params:
    conversion_type_params:
      base_measure: bookings
      conversion_measure: bookings
";

    fn index() -> ManifestIndex {
        let mut index = ManifestIndex::default();
        index.add_yaml(MANIFEST).unwrap();
        index
    }

    fn case(metrics: &[&str], group_bys: &[&str]) -> Case {
        Case {
            name: "c".to_owned(),
            model: "SIMPLE_MODEL".to_owned(),
            metrics: metrics.iter().map(|name| (*name).to_owned()).collect(),
            group_bys: group_bys.iter().map(|name| (*name).to_owned()).collect(),
            apply_group_by: true,
            check_query: "SELECT 1".to_owned(),
            ..Case::default()
        }
    }

    fn feature_of(case: &Case) -> Option<&'static str> {
        out_of_scope_feature(case, &index()).map(Feature::name)
    }

    #[test]
    fn plain_case_in_scope() {
        assert_eq!(
            feature_of(&case(
                &["bookings"],
                &["metric_time__month", "booking__is_instant"]
            )),
            None
        );
    }

    #[test]
    fn percentile_reached_through_derived_metric() {
        assert_eq!(
            feature_of(&case(&["wrapped_p99"], &[])),
            Some("percentile measures")
        );
    }

    #[test]
    fn custom_grain_in_group_by_and_offset() {
        assert_eq!(
            feature_of(&case(&["bookings"], &["booking__ds__alien_day"])),
            Some("custom granularities")
        );
        assert_eq!(
            feature_of(&case(&["offset_alien"], &["metric_time"])),
            Some("custom granularities")
        );
    }

    #[test]
    fn custom_grain_in_where_filter() {
        let mut filtered = case(&["bookings"], &[]);
        filtered.where_filter = Some(
            "{{ render_time_constraint(render_time_dimension_template('metric_time', 'alien_day'), start_time=\"2020-01-01\") }}"
                .to_owned(),
        );
        assert_eq!(feature_of(&filtered), Some("custom granularities"));
    }

    #[test]
    fn sub_daily_grains() {
        assert_eq!(
            feature_of(&case(&[], &["metric_time__hour"])),
            Some("sub-daily grains")
        );
        assert_eq!(
            feature_of(&case(&[], &["user__bio_added_ts"])),
            Some("sub-daily grains")
        );
        assert_eq!(
            feature_of(&case(&["archived"], &["metric_time"])),
            Some("sub-daily grains")
        );

        let mut constrained = case(&[], &["metric_time__day"]);
        constrained.time_constraint = Some((
            "2020-01-01 00:00:02".to_owned(),
            "2020-01-01 00:00:08".to_owned(),
        ));
        assert_eq!(feature_of(&constrained), Some("sub-daily grains"));
    }

    #[test]
    fn midnight_time_constraint_in_scope() {
        let mut constrained = case(&["bookings"], &["metric_time"]);
        constrained.time_constraint =
            Some(("2020-01-01 00:00:00".to_owned(), "2020-01-02".to_owned()));
        assert_eq!(feature_of(&constrained), None);
    }

    #[test]
    fn metric_in_filters() {
        assert_eq!(
            feature_of(&case(&["active"], &[])),
            Some("metrics in filters")
        );

        let mut filtered = case(&["bookings"], &["listing"]);
        filtered.where_filter =
            Some("{{ render_metric_template('bookings', ['listing']) }} > 2".to_owned());
        assert_eq!(feature_of(&filtered), Some("metrics in filters"));
    }

    #[test]
    fn conversion_scd_and_case_flags() {
        assert_eq!(
            feature_of(&case(&["rate"], &["metric_time"])),
            Some("conversion metrics")
        );

        let mut scd = case(&["bookings"], &[]);
        scd.model = "SCD_MODEL".to_owned();
        assert_eq!(feature_of(&scd), Some("slowly changing dimensions"));

        let mut min_max = case(&[], &["booking__is_instant"]);
        min_max.min_max_only = true;
        assert_eq!(feature_of(&min_max), Some("min_max_only"));

        let mut no_dedupe = case(&[], &["booking__is_instant"]);
        no_dedupe.apply_group_by = false;
        assert_eq!(feature_of(&no_dedupe), Some("apply_group_by: false"));
    }

    #[test]
    fn date_part_group_by() {
        let mut with_date_part = case(&["bookings"], &[]);
        with_date_part.group_by_objects = vec![GroupByObject {
            name: "metric_time".to_owned(),
            grain: None,
            date_part: Some("dow".to_owned()),
        }];
        assert_eq!(feature_of(&with_date_part), Some("date parts"));
    }
}
