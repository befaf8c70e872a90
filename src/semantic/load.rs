//! Reads semantic-layer YAML documents into [`SemanticLayer`] values.
//!
//! Both MetricFlow specs are accepted. In the legacy one, each document holds
//! one `semantic_model:` or `metric:`, measures live inside semantic models,
//! and metrics point at measures through `type_params`. In the latest one,
//! lists sit under `semantic_models:` and `metrics:`, and a simple metric
//! carries `agg` and `expr` itself and names its `semantic_model`.

use std::collections::BTreeMap;

use crate::yaml::{Node, Span};

use super::model::*;
use super::reader::{Fields, Report, scalar, string_list};

const DOCUMENT_KEYS: &[&str] = &[
    "semantic_model",
    "semantic_models",
    "metric",
    "metrics",
    "project_configuration",
    "saved_query",
    "saved_queries",
    "verified_questions",
];

/// Adds the contents of one parsed document to `layer`.
pub(crate) fn load_document(
    document: &Node,
    file: &str,
    layer: &mut SemanticLayer,
    report: &mut Report<'_>,
) {
    if document.is_null() {
        return;
    }
    let Some(fields) = Fields::new(document, "a semantic-layer document", DOCUMENT_KEYS, report)
    else {
        return;
    };

    if let Some(node) = fields.get("semantic_model")
        && let Some(model) = read_semantic_model(node, file, layer, report)
    {
        layer.semantic_models.push(model);
    }
    if let Some(node) = fields.get("semantic_models") {
        for item in sequence(node, "semantic_models", report) {
            if let Some(model) = read_semantic_model(item, file, layer, report) {
                layer.semantic_models.push(model);
            }
        }
    }
    if let Some(node) = fields.get("metric")
        && let Some(metric) = read_metric(node, file, layer, report)
    {
        layer.metrics.push(metric);
    }
    if let Some(node) = fields.get("metrics") {
        for item in sequence(node, "metrics", report) {
            if let Some(metric) = read_metric(item, file, layer, report) {
                layer.metrics.push(metric);
            }
        }
    }
    if let Some(node) = fields.get("project_configuration") {
        read_project_configuration(node, layer, report);
    }
    if let Some(node) = fields.get("verified_questions") {
        for item in sequence(node, "verified_questions", report) {
            if let Some(question) = read_verified_question(item, file, report) {
                layer.verified_questions.push(question);
            }
        }
    }
    // Saved queries are MetricFlow's named queries; Wenshu does not serve them.
    fields.finish(report);
}

fn read_verified_question(
    node: &Node,
    file: &str,
    report: &mut Report<'_>,
) -> Option<VerifiedQuestion> {
    let fields = Fields::new(
        node,
        "a verified question",
        &["question", "query", "verified_by"],
        report,
    )?;
    let question = fields.required_string("question", report);
    let verified_by = fields.optional_string("verified_by", report);
    let query = match fields.get("query") {
        Some(query) => read_verified_query(query, report),
        None => {
            report.error(
                fields.span,
                "a verified question is missing the key `query`",
            );
            None
        }
    };
    fields.finish(report);
    let question = question?;
    if question.trim().is_empty() {
        report.error(node.span, "a verified question's `question` is empty");
        return None;
    }
    Some(VerifiedQuestion {
        question,
        verified_by,
        file: file.to_owned(),
        span: node.span,
        ..query?
    })
}

fn read_verified_filters(list: &Node, report: &mut Report<'_>) -> Vec<(String, Vec<String>)> {
    let mut filters = Vec::new();
    for item in sequence(list, "filters", report) {
        let Some(filter) = Fields::new(item, "a filter", &["dimension", "values"], report) else {
            continue;
        };
        let dimension = filter.required_string("dimension", report);
        let values = filter.string_list("values", report);
        if values.is_empty() {
            report.error(filter.span, "a filter needs at least one of `values`");
        }
        filter.finish(report);
        if let Some(dimension) = dimension {
            filters.push((dimension, values));
        }
    }
    filters
}

fn read_verified_top(top: &Node, report: &mut Report<'_>) -> Option<(String, u64)> {
    let fields = Fields::new(top, "`top`", &["order", "limit"], report)?;
    let order = fields
        .optional_string("order", report)
        .unwrap_or_else(|| "desc".to_owned());
    let limit = fields.required_string("limit", report);
    fields.finish(report);
    if order != "desc" && order != "asc" {
        report.error(
            top.span,
            format!("`order` must be desc or asc, found `{order}`"),
        );
        return None;
    }
    match limit?.parse::<u64>() {
        Ok(limit) if (1..=100).contains(&limit) => Some((order, limit)),
        _ => {
            report.error(top.span, "`limit` must be a whole number from 1 to 100");
            None
        }
    }
}

fn read_verified_query(node: &Node, report: &mut Report<'_>) -> Option<VerifiedQuestion> {
    let fields = Fields::new(
        node,
        "a verified question's `query`",
        &["metrics", "group_by", "filters", "time", "grain", "top"],
        report,
    )?;
    let metrics = fields.string_list("metrics", report);
    if metrics.is_empty() {
        report.error(
            fields.span,
            "a verified question's `query` names no `metrics`",
        );
    }
    let filters = fields
        .get("filters")
        .map(|list| read_verified_filters(list, report))
        .unwrap_or_default();

    let grain = fields.optional_string("grain", report);
    if let Some(grain) = &grain
        && !["day", "week", "month", "quarter", "year"].contains(&grain.as_str())
    {
        report.error_with_suggestion(
            fields.get("grain").map_or(fields.span, |grain| grain.span),
            format!("unknown grain `{grain}`"),
            Some("use day, week, month, quarter or year".to_owned()),
        );
    }
    let top = fields
        .get("top")
        .and_then(|top| read_verified_top(top, report));

    let verified = VerifiedQuestion {
        metrics,
        group_by: fields.string_list("group_by", report),
        filters,
        time: fields.optional_string("time", report),
        grain,
        top,
        ..VerifiedQuestion::default()
    };
    fields.finish(report);
    Some(verified)
}

/// Drops the spaces that YAML's folded style (`>-`) puts where a Chinese
/// line was broken: 可加；\n按月 folds to 可加； 按月, which reads as a typo.
/// Spaces next to Latin letters or digits stay.
fn join_folded_chinese(text: &str) -> String {
    let characters: Vec<char> = text.chars().collect();
    let mut joined = String::with_capacity(text.len());
    for (index, character) in characters.iter().enumerate() {
        let between_chinese = *character == ' '
            && index > 0
            && characters.get(index + 1).is_some_and(|next| is_wide(*next))
            && is_wide(characters[index - 1]);
        if !between_chinese {
            joined.push(*character);
        }
    }
    joined
}

/// Chinese characters and full-width punctuation.
fn is_wide(character: char) -> bool {
    matches!(character as u32, 0x3000..=0x303F | 0x4E00..=0x9FFF | 0xFF00..=0xFFEF)
}

fn sequence<'n>(node: &'n Node, key: &str, report: &mut Report<'_>) -> &'n [Node] {
    match node.as_sequence() {
        Some(items) => items,
        None => {
            report.error(
                node.span,
                format!("`{key}` must be a list, found {}", node.kind_name()),
            );
            &[]
        }
    }
}

const SEMANTIC_MODEL_KEYS: &[&str] = &[
    "name",
    "label",
    "description",
    "node_relation",
    "sql",
    "defaults",
    "primary_entity",
    "entities",
    "dimensions",
    "measures",
    "config",
    "metadata",
];

fn read_semantic_model(
    node: &Node,
    file: &str,
    layer: &mut SemanticLayer,
    report: &mut Report<'_>,
) -> Option<SemanticModel> {
    let fields = Fields::new(node, "a semantic model", SEMANTIC_MODEL_KEYS, report)?;
    let name = fields.required_string("name", report);

    let relation = match (
        fields.get("node_relation"),
        fields.optional_string("sql", report),
    ) {
        (Some(_), Some(_)) => {
            report.error(
                fields.span,
                "a semantic model has either `node_relation` or `sql`, not both",
            );
            None
        }
        (Some(relation), None) => read_node_relation(relation, report),
        (None, Some(sql)) => Some(Relation::Sql(sql)),
        (None, None) => {
            report.error(
                fields.span,
                "a semantic model is missing the key `node_relation` (or the extension `sql`)",
            );
            None
        }
    };

    let default_agg_time_dimension = fields.get("defaults").and_then(|defaults| {
        let defaults = Fields::new(defaults, "`defaults`", &["agg_time_dimension"], report)?;
        let value = defaults.optional_string("agg_time_dimension", report);
        defaults.finish(report);
        value
    });

    let mut entities: Vec<Entity> = fields
        .get("entities")
        .map(|list| sequence(list, "entities", report))
        .unwrap_or_default()
        .iter()
        .filter_map(|item| read_entity(item, report))
        .collect();
    let primary_entity_name = fields.optional_string("primary_entity", report);
    if let Some(primary) = primary_entity_name.clone()
        && !entities.iter().any(|entity| entity.name == primary)
    {
        entities.push(Entity {
            expr: primary.clone(),
            name: primary,
            kind: EntityKind::Primary,
            label: None,
            span: fields.span,
        });
    }
    let dimensions = fields
        .get("dimensions")
        .map(|list| sequence(list, "dimensions", report))
        .unwrap_or_default()
        .iter()
        .filter_map(|item| read_dimension(item, report))
        .collect();
    let measures: Vec<Measure> = fields
        .get("measures")
        .map(|list| sequence(list, "measures", report))
        .unwrap_or_default()
        .iter()
        .filter_map(|item| read_measure(item, report))
        .collect();

    let label = fields.optional_string("label", report);
    let description = fields
        .optional_string("description", report)
        .map(|text| join_folded_chinese(&text));
    fields.finish(report);

    let name = name?;
    for measure in measures.iter().filter(|measure| measure.create_metric) {
        layer.metrics.push(metric_for_measure(measure, file));
    }
    Some(SemanticModel {
        name,
        label,
        description,
        relation: relation?,
        default_agg_time_dimension,
        entities,
        dimensions,
        measures,
        primary_entity_name,
        file: file.to_owned(),
        span: node.span,
    })
}

/// Builds the simple metric that `create_metric: true` requests.
fn metric_for_measure(measure: &Measure, file: &str) -> Metric {
    Metric {
        name: measure.name.clone(),
        kind: MetricKind::Simple {
            measure: plain_input(measure.name.clone(), measure.span),
        },
        filter: Vec::new(),
        filter_span: None,
        label: measure.label.clone(),
        description: measure.description.clone(),
        description_en: None,
        synonyms: Vec::new(),
        default_period: None,
        unit: None,
        time_granularity: None,
        unsupported: None,
        file: file.to_owned(),
        span: measure.span,
    }
}

fn plain_input(name: String, span: Span) -> MetricInput {
    MetricInput {
        name,
        filter: Vec::new(),
        alias: None,
        offset_window: None,
        offset_to_grain: None,
        offset_to_prior_period_end: None,
        join_to_timespine: false,
        fill_nulls_with: None,
        span,
    }
}

fn read_node_relation(node: &Node, report: &mut Report<'_>) -> Option<Relation> {
    let fields = Fields::new(
        node,
        "`node_relation`",
        &["alias", "schema_name", "database", "relation_name"],
        report,
    )?;
    let alias = fields.required_string("alias", report);
    let schema = fields.optional_string("schema_name", report);
    let _ = fields.optional_string("database", report);
    let _ = fields.optional_string("relation_name", report);
    fields.finish(report);
    Some(Relation::Table {
        schema,
        name: alias?,
    })
}

fn read_entity(node: &Node, report: &mut Report<'_>) -> Option<Entity> {
    let fields = Fields::new(
        node,
        "an entity",
        &[
            "name",
            "type",
            "expr",
            "label",
            "description",
            "role",
            "config",
            "metadata",
        ],
        report,
    )?;
    let name = fields.required_string("name", report);
    let kind = match fields.required_string("type", report).as_deref() {
        Some("primary") => Some(EntityKind::Primary),
        Some("unique") => Some(EntityKind::Unique),
        Some("natural") => Some(EntityKind::Natural),
        Some("foreign") => Some(EntityKind::Foreign),
        Some(other) => {
            let suggestion =
                super::reader::closest(other, ["primary", "unique", "natural", "foreign"]);
            report.error_with_suggestion(
                fields.get("type").map_or(fields.span, |node| node.span),
                format!(
                    "unknown entity type `{other}`; expected primary, unique, natural or foreign"
                ),
                suggestion,
            );
            None
        }
        None => None,
    };
    let expr = fields.optional_string("expr", report);
    let label = fields.optional_string("label", report);
    let _ = fields.optional_string("description", report);
    let _ = fields.optional_string("role", report);
    fields.finish(report);

    let name = name?;
    Some(Entity {
        expr: expr.unwrap_or_else(|| name.clone()),
        name,
        kind: kind?,
        label,
        span: node.span,
    })
}

fn read_grain(node: &Node, key: &str, report: &mut Report<'_>) -> Option<TimeGrain> {
    let text = scalar(node, key, report)?;
    let grain = TimeGrain::parse(&text);
    if grain.is_none() {
        let suggestion =
            super::reader::closest(&text, TimeGrain::ALL.iter().map(|grain| grain.name()));
        report.error_with_suggestion(
            node.span,
            format!(
                "unknown time granularity `{text}`; expected day, week, month, quarter or year"
            ),
            suggestion,
        );
    }
    grain
}

fn read_dimension(node: &Node, report: &mut Report<'_>) -> Option<Dimension> {
    let fields = Fields::new(
        node,
        "a dimension",
        &[
            "name",
            "type",
            "expr",
            "label",
            "description",
            "is_partition",
            "type_params",
            "synonyms",
            "value_synonyms",
            "config",
            "metadata",
        ],
        report,
    )?;
    let name = fields.required_string("name", report);
    let kind_name = fields.required_string("type", report);
    let grain = fields.get("type_params").and_then(|params| {
        let params = Fields::new(
            params,
            "a dimension's `type_params`",
            &["time_granularity", "validity_params"],
            report,
        )?;
        let grain = params.get("time_granularity").map(|node| {
            match node.as_str().map(str::to_ascii_lowercase) {
                Some(text) if is_sub_daily(&text) => Err("sub-daily grains".to_owned()),
                _ => Ok(read_grain(node, "time_granularity", report)),
            }
        });
        params.finish(report);
        grain
    });
    let (grain, unsupported) = match grain {
        Some(Ok(grain)) => (grain, None),
        Some(Err(feature)) => (Some(TimeGrain::Day), Some(feature)),
        None => (None, None),
    };
    let kind = match kind_name.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("categorical") => Some(DimensionKind::Categorical),
        Some("time") => Some(DimensionKind::Time {
            grain: grain.unwrap_or(TimeGrain::Day),
        }),
        Some(other) => {
            let suggestion = super::reader::closest(other, ["categorical", "time"]);
            report.error_with_suggestion(
                fields.get("type").map_or(fields.span, |node| node.span),
                format!("unknown dimension type `{other}`; expected categorical or time"),
                suggestion,
            );
            None
        }
        None => None,
    };
    let value_synonyms = fields
        .get("value_synonyms")
        .map(|node| read_value_synonyms(node, report))
        .unwrap_or_default();
    let expr = fields.optional_string("expr", report);
    let label = fields.optional_string("label", report);
    let description = fields
        .optional_string("description", report)
        .map(|text| join_folded_chinese(&text));
    let synonyms = fields.string_list("synonyms", report);
    let is_partition = fields
        .optional_bool("is_partition", report)
        .unwrap_or(false);
    fields.finish(report);

    let name = name?;
    Some(Dimension {
        expr: expr.unwrap_or_else(|| name.clone()),
        name,
        kind: kind?,
        label,
        description,
        synonyms,
        value_synonyms,
        is_partition,
        unsupported,
        span: node.span,
    })
}

fn read_value_synonyms(node: &Node, report: &mut Report<'_>) -> BTreeMap<String, Vec<String>> {
    let Some(entries) = node.as_mapping() else {
        report.error(
            node.span,
            format!(
                "`value_synonyms` must map each value to its words, found {}",
                node.kind_name()
            ),
        );
        return BTreeMap::new();
    };
    let mut synonyms = BTreeMap::new();
    for (value, words) in entries {
        let Some(value) = scalar(value, "value_synonyms", report) else {
            continue;
        };
        synonyms.insert(value, string_list(words, "value_synonyms", report));
    }
    synonyms
}

fn read_aggregation(node: &Node, report: &mut Report<'_>) -> Option<Aggregation> {
    let text = scalar(node, "agg", report)?;
    let aggregation = Aggregation::parse(&text);
    if aggregation.is_none() {
        let suggestion = super::reader::closest(&text, Aggregation::NAMES);
        report.error_with_suggestion(
            node.span,
            format!("unknown aggregation `{text}`"),
            suggestion,
        );
    }
    aggregation
}

const MEASURE_KEYS: &[&str] = &[
    "name",
    "agg",
    "expr",
    "label",
    "description",
    "agg_time_dimension",
    "non_additive_dimension",
    "agg_params",
    "create_metric",
    "config",
    "metadata",
];

fn read_measure(node: &Node, report: &mut Report<'_>) -> Option<Measure> {
    let fields = Fields::new(node, "a measure", MEASURE_KEYS, report)?;
    let name = fields.required_string("name", report);
    let agg = match fields.get("agg") {
        Some(agg) => read_aggregation(agg, report),
        None => {
            report.error(fields.span, "a measure is missing the key `agg`");
            None
        }
    };
    let measure = read_measure_body(&fields, name, agg, node.span, report);
    fields.finish(report);
    measure
}

/// Reads the keys that a legacy measure and a latest-spec simple metric share.
fn read_measure_body(
    fields: &Fields<'_>,
    name: Option<String>,
    agg: Option<Aggregation>,
    span: Span,
    report: &mut Report<'_>,
) -> Option<Measure> {
    let non_additive_dimension = fields
        .get("non_additive_dimension")
        .and_then(|node| read_non_additive_dimension(node, report));
    let percentile = fields
        .get("agg_params")
        .and_then(|node| read_percentile_params(node, report));
    let expr = fields.optional_string("expr", report);
    let agg_time_dimension = fields.optional_string("agg_time_dimension", report);
    let label = fields.optional_string("label", report);
    let description = fields
        .optional_string("description", report)
        .map(|text| join_folded_chinese(&text));
    let create_metric = fields
        .optional_bool("create_metric", report)
        .unwrap_or(false);

    let name = name?;
    Some(Measure {
        expr: expr.unwrap_or_else(|| name.clone()),
        name,
        agg: agg?,
        agg_time_dimension,
        non_additive_dimension,
        percentile,
        label,
        description,
        create_metric,
        span,
    })
}

fn read_non_additive_dimension(
    node: &Node,
    report: &mut Report<'_>,
) -> Option<NonAdditiveDimension> {
    let fields = Fields::new(
        node,
        "`non_additive_dimension`",
        &["name", "window_choice", "window_groupings"],
        report,
    )?;
    let name = fields.required_string("name", report);
    let window_choice = match fields.optional_string("window_choice", report).as_deref() {
        None | Some("min") => Some(WindowChoice::Min),
        Some("max") => Some(WindowChoice::Max),
        Some(other) => {
            report.error(
                fields
                    .get("window_choice")
                    .map_or(fields.span, |node| node.span),
                format!("unknown window_choice `{other}`; expected min or max"),
            );
            None
        }
    };
    let window_groupings = fields.string_list("window_groupings", report);
    fields.finish(report);
    Some(NonAdditiveDimension {
        name: name?,
        window_choice: window_choice?,
        window_groupings,
        span: node.span,
    })
}

fn read_percentile_params(node: &Node, report: &mut Report<'_>) -> Option<PercentileParams> {
    let fields = Fields::new(
        node,
        "`agg_params`",
        &[
            "percentile",
            "use_discrete_percentile",
            "use_approximate_percentile",
        ],
        report,
    )?;
    let percentile = fields
        .optional_string("percentile", report)
        .and_then(|text| {
            let value = text.parse::<f64>().ok();
            if value.is_none() {
                report.error(
                    fields.span,
                    format!("`percentile` must be a number, found `{text}`"),
                );
            }
            value
        });
    let discrete = fields
        .optional_bool("use_discrete_percentile", report)
        .unwrap_or(false);
    let approximate = fields
        .optional_bool("use_approximate_percentile", report)
        .unwrap_or(false);
    fields.finish(report);
    Some(PercentileParams {
        percentile: percentile?,
        discrete,
        approximate,
    })
}

const METRIC_KEYS: &[&str] = &[
    "name",
    "type",
    "type_params",
    "filter",
    "label",
    "description",
    "description_en",
    "synonyms",
    "default_period",
    "unit",
    "time_granularity",
    "config",
    "metadata",
    // Latest spec: a simple metric carries its measure's keys itself.
    "semantic_model",
    "agg",
    "expr",
    "agg_time_dimension",
    "non_additive_dimension",
    "agg_params",
    "join_to_timespine",
    "fill_nulls_with",
];

const TYPE_PARAMS_KEYS: &[&str] = &[
    "measure",
    "numerator",
    "denominator",
    "expr",
    "metrics",
    "metric",
    "window",
    "grain_to_date",
    "cumulative_type_params",
    "conversion_type_params",
    "input_measures",
    "join_to_timespine",
    "fill_nulls_with",
];

fn read_metric(
    node: &Node,
    file: &str,
    layer: &mut SemanticLayer,
    report: &mut Report<'_>,
) -> Option<Metric> {
    let fields = Fields::new(node, "a metric", METRIC_KEYS, report)?;
    let name = fields.required_string("name", report);
    let kind_name = fields.required_string("type", report);
    let type_params = fields.get("type_params").and_then(|params| {
        Fields::new(params, "a metric's `type_params`", TYPE_PARAMS_KEYS, report)
    });

    let mut sink = WindowSink::default();
    let kind = match kind_name.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("simple") => read_simple(
            &fields,
            type_params.as_ref(),
            name.as_deref(),
            layer,
            &mut sink,
            report,
        ),
        Some("ratio") => read_ratio(&fields, type_params.as_ref(), &mut sink, report),
        Some("derived") => read_derived(&fields, type_params.as_ref(), &mut sink, report),
        Some("cumulative") => read_cumulative(&fields, type_params.as_ref(), &mut sink, report),
        Some("conversion") => {
            sink.unsupported = Some("conversion metrics".to_owned());
            Some(MetricKind::Conversion)
        }
        Some("share") => read_share(&fields, type_params.as_ref(), &mut sink, report),
        Some(other) => {
            let kinds = [
                "simple",
                "ratio",
                "derived",
                "cumulative",
                "conversion",
                "share",
            ];
            report.error_with_suggestion(
                fields.get("type").map_or(fields.span, |node| node.span),
                format!("unknown metric type `{other}`"),
                super::reader::closest(other, kinds),
            );
            None
        }
        None => None,
    };
    if let Some(params) = type_params {
        // Read but unused by Wenshu: MetricFlow fills them in itself.
        let _ = params.get("input_measures");
        let _ = params.get("conversion_type_params");
        params.finish(report);
    }

    let filter = fields.string_list("filter", report);
    let filter_span = fields.get("filter").map(|node| node.span);
    let label = fields.optional_string("label", report);
    let description = fields
        .optional_string("description", report)
        .map(|text| join_folded_chinese(&text));
    let description_en = fields.optional_string("description_en", report);
    let synonyms = fields.string_list("synonyms", report);
    let default_period = match fields.optional_string("default_period", report).as_deref() {
        None => None,
        Some("reference_date") => Some(DefaultPeriod::ReferenceDate),
        Some("year_to_date") => Some(DefaultPeriod::YearToDate),
        Some("reference_month") => Some(DefaultPeriod::ReferenceMonth),
        Some(other) => {
            let periods = ["reference_date", "year_to_date", "reference_month"];
            report.error_with_suggestion(
                fields
                    .get("default_period")
                    .map_or(fields.span, |node| node.span),
                format!("unknown default_period `{other}`"),
                super::reader::closest(other, periods),
            );
            None
        }
    };
    let unit = match fields.optional_string("unit", report).as_deref() {
        None => None,
        Some("yuan") => Some(Unit::Yuan),
        Some("percent") => Some(Unit::Percent),
        Some("count") => Some(Unit::Count),
        Some("number") => Some(Unit::Number),
        Some(other) => {
            report.error_with_suggestion(
                fields.get("unit").map_or(fields.span, |node| node.span),
                format!("unknown unit `{other}`"),
                super::reader::closest(other, ["yuan", "percent", "count", "number"]),
            );
            None
        }
    };
    let time_granularity = fields
        .get("time_granularity")
        .and_then(|node| read_metric_grain(node, "time_granularity", &mut sink, report));
    fields.finish(report);
    layer.custom_granularity_uses.extend(sink.custom_uses);

    Some(Metric {
        name: name?,
        kind: kind?,
        filter,
        filter_span,
        label,
        description,
        description_en,
        synonyms,
        default_period,
        unit,
        time_granularity,
        unsupported: sink.unsupported,
        file: file.to_owned(),
        span: node.span,
    })
}

fn missing_type_params(fields: &Fields<'_>, what: &str, report: &mut Report<'_>) {
    report.error(
        fields.span,
        format!("a {what} metric is missing `type_params`"),
    );
}

fn read_simple(
    fields: &Fields<'_>,
    type_params: Option<&Fields<'_>>,
    metric_name: Option<&str>,
    layer: &mut SemanticLayer,
    sink: &mut WindowSink,
    report: &mut Report<'_>,
) -> Option<MetricKind> {
    // Latest spec: the metric defines its own aggregation over a semantic model.
    if let Some(agg) = fields.get("agg") {
        let agg = read_aggregation(agg, report);
        let model_name = fields.required_string("semantic_model", report);
        let measure = read_measure_body(
            fields,
            metric_name.map(str::to_owned),
            agg,
            fields.span,
            report,
        )?;
        let join_to_timespine = fields
            .optional_bool("join_to_timespine", report)
            .unwrap_or(false);
        let fill_nulls_with = read_fill_nulls(fields.get("fill_nulls_with"), report);
        let model_name = model_name?;
        let Some(model) = layer
            .semantic_models
            .iter_mut()
            .find(|model| model.name == model_name)
        else {
            let known = layer
                .semantic_models
                .iter()
                .map(|model| model.name.as_str());
            report.error_with_suggestion(
                fields.get("semantic_model").map_or(fields.span, |node| node.span),
                format!(
                    "unknown semantic model `{model_name}` (a latest-spec metric must come after its semantic model)"
                ),
                super::reader::closest(&model_name, known),
            );
            return None;
        };
        let input = MetricInput {
            join_to_timespine,
            fill_nulls_with,
            ..plain_input(measure.name.clone(), measure.span)
        };
        model.measures.push(measure);
        return Some(MetricKind::Simple { measure: input });
    }

    let Some(params) = type_params else {
        missing_type_params(fields, "simple", report);
        return None;
    };
    let Some(measure) = params.get("measure") else {
        report.error(
            params.span,
            "a simple metric's `type_params` is missing the key `measure`",
        );
        return None;
    };
    let mut input = read_input(measure, "measure", sink, report)?;
    if let Some(flag) = params.optional_bool("join_to_timespine", report) {
        input.join_to_timespine = flag;
    }
    if let Some(value) = read_fill_nulls(params.get("fill_nulls_with"), report) {
        input.fill_nulls_with = Some(value);
    }
    Some(MetricKind::Simple { measure: input })
}

fn read_fill_nulls(node: Option<&Node>, report: &mut Report<'_>) -> Option<i64> {
    let node = node?;
    let text = scalar(node, "fill_nulls_with", report)?;
    let value = text.parse::<i64>().ok();
    if value.is_none() {
        report.error(
            node.span,
            format!("`fill_nulls_with` must be an integer, found `{text}`"),
        );
    }
    value
}

const INPUT_KEYS: &[&str] = &[
    "name",
    "filter",
    "alias",
    "offset_window",
    "offset_to_grain",
    "offset_to_prior_period_end",
    "month_end_aligned",
    "join_to_timespine",
    "fill_nulls_with",
];

/// Reads a reference to a measure or metric: a bare name or a mapping.
fn read_input(
    node: &Node,
    key: &str,
    sink: &mut WindowSink,
    report: &mut Report<'_>,
) -> Option<MetricInput> {
    if let Some(name) = node.as_str() {
        return Some(plain_input(name.to_owned(), node.span));
    }
    let fields = Fields::new(node, "a metric input", INPUT_KEYS, report)?;
    let name = fields.required_string("name", report);
    let month_end_aligned = fields
        .optional_bool("month_end_aligned", report)
        .unwrap_or(false);
    let offset_window = fields
        .get("offset_window")
        .and_then(|window| read_window(window, sink, report))
        .map(|window| Window {
            month_end_aligned,
            ..window
        });
    let offset_to_grain = fields
        .get("offset_to_grain")
        .and_then(|grain| read_metric_grain(grain, "offset_to_grain", sink, report));
    let offset_to_prior_period_end = fields
        .get("offset_to_prior_period_end")
        .and_then(|grain| read_metric_grain(grain, "offset_to_prior_period_end", sink, report));
    let offsets = [
        offset_window.is_some(),
        offset_to_grain.is_some(),
        offset_to_prior_period_end.is_some(),
    ];
    if offsets.iter().filter(|set| **set).count() > 1 {
        report.error(
            node.span,
            format!("`{key}` sets more than one of offset_window, offset_to_grain and offset_to_prior_period_end"),
        );
    }
    let input = MetricInput {
        filter: fields.string_list("filter", report),
        alias: fields.optional_string("alias", report),
        join_to_timespine: fields
            .optional_bool("join_to_timespine", report)
            .unwrap_or(false),
        fill_nulls_with: read_fill_nulls(fields.get("fill_nulls_with"), report),
        offset_window,
        offset_to_grain,
        offset_to_prior_period_end,
        name: name?,
        span: node.span,
    };
    fields.finish(report);
    Some(input)
}

/// Collects, while one metric is read, what of it Wenshu cannot compile.
#[derive(Default)]
struct WindowSink {
    custom_uses: Vec<(String, Span, String)>,
    unsupported: Option<String>,
}

/// Reads a window such as `7 days` or `1 month`.
fn read_window(node: &Node, sink: &mut WindowSink, report: &mut Report<'_>) -> Option<Window> {
    let text = scalar(node, "window", report)?;
    if let Some(window) = parse_window(&text) {
        return Some(window);
    }
    let mut parts = text.split_whitespace();
    let count_ok = parts
        .next()
        .is_some_and(|count| count.parse::<u32>().is_ok());
    let unit = parts.next().map(str::to_ascii_lowercase);
    match unit {
        Some(unit) if count_ok && parts.next().is_none() => {
            let singular = unit.strip_suffix('s').unwrap_or(&unit).to_owned();
            if is_sub_daily(&singular) {
                sink.unsupported = Some("sub-daily grains".to_owned());
                return None;
            }
            sink.custom_uses
                .push((report.file.to_owned(), node.span, unit.clone()));
            sink.unsupported = Some(format!("custom granularity `{unit}`"));
            None
        }
        _ => {
            report.error(
                node.span,
                format!("invalid window `{text}`; write a count and a granularity such as `7 days` or `1 month`"),
            );
            None
        }
    }
}

/// Reads a grain in a metric; a sub-daily or custom grain marks the metric
/// as unsupported instead of failing the load.
fn read_metric_grain(
    node: &Node,
    key: &str,
    sink: &mut WindowSink,
    report: &mut Report<'_>,
) -> Option<TimeGrain> {
    let text = scalar(node, key, report)?.to_ascii_lowercase();
    if let Some(grain) = TimeGrain::parse(&text) {
        return Some(grain);
    }
    if is_sub_daily(&text) {
        sink.unsupported = Some("sub-daily grains".to_owned());
    } else {
        sink.custom_uses
            .push((report.file.to_owned(), node.span, text.clone()));
        sink.unsupported = Some(format!("custom granularity `{text}`"));
    }
    None
}

fn is_sub_daily(name: &str) -> bool {
    matches!(
        name,
        "hour" | "minute" | "second" | "millisecond" | "microsecond" | "nanosecond"
    )
}

pub fn parse_window(text: &str) -> Option<Window> {
    let mut parts = text.split_whitespace();
    let count = parts.next()?.parse::<u32>().ok()?;
    let unit = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let grain = TimeGrain::parse(unit.strip_suffix('s').unwrap_or(unit))?;
    Some(Window {
        count,
        grain,
        month_end_aligned: false,
    })
}

fn read_ratio(
    fields: &Fields<'_>,
    type_params: Option<&Fields<'_>>,
    sink: &mut WindowSink,
    report: &mut Report<'_>,
) -> Option<MetricKind> {
    let Some(params) = type_params else {
        missing_type_params(fields, "ratio", report);
        return None;
    };
    let mut side = |key: &str| match params.get(key) {
        Some(node) => read_input(node, key, sink, report),
        None => {
            report.error(
                params.span,
                format!("a ratio metric's `type_params` is missing the key `{key}`"),
            );
            None
        }
    };
    let numerator = side("numerator");
    let denominator = side("denominator");
    Some(MetricKind::Ratio {
        numerator: numerator?,
        denominator: denominator?,
    })
}

fn read_derived(
    fields: &Fields<'_>,
    type_params: Option<&Fields<'_>>,
    sink: &mut WindowSink,
    report: &mut Report<'_>,
) -> Option<MetricKind> {
    let Some(params) = type_params else {
        missing_type_params(fields, "derived", report);
        return None;
    };
    let expr = params.required_string("expr", report);
    let inputs: Vec<MetricInput> = match params.get("metrics") {
        Some(list) => sequence(list, "metrics", report)
            .iter()
            .filter_map(|item| read_input(item, "metrics", sink, report))
            .collect(),
        None => {
            report.error(
                params.span,
                "a derived metric's `type_params` is missing the key `metrics`",
            );
            Vec::new()
        }
    };
    Some(MetricKind::Derived {
        expr: expr?,
        inputs,
    })
}

fn read_cumulative(
    fields: &Fields<'_>,
    type_params: Option<&Fields<'_>>,
    sink: &mut WindowSink,
    report: &mut Report<'_>,
) -> Option<MetricKind> {
    let Some(params) = type_params else {
        missing_type_params(fields, "cumulative", report);
        return None;
    };
    let mut window = params
        .get("window")
        .and_then(|node| read_window(node, sink, report));
    let mut grain_to_date = params
        .get("grain_to_date")
        .and_then(|node| read_metric_grain(node, "grain_to_date", sink, report));
    let mut period_agg = PeriodAggregation::First;
    let mut metric_input = None;
    if let Some(node) = params.get("cumulative_type_params")
        && let Some(nested) = Fields::new(
            node,
            "`cumulative_type_params`",
            &["window", "grain_to_date", "period_agg", "metric"],
            report,
        )
    {
        if let Some(node) = nested.get("window") {
            window = read_window(node, sink, report);
        }
        if let Some(node) = nested.get("grain_to_date") {
            grain_to_date = read_metric_grain(node, "grain_to_date", sink, report);
        }
        match nested.optional_string("period_agg", report).as_deref() {
            None | Some("first") => {}
            Some("last") => period_agg = PeriodAggregation::Last,
            Some("average") => period_agg = PeriodAggregation::Average,
            Some(other) => report.error(
                nested.span,
                format!("unknown period_agg `{other}`; expected first, last or average"),
            ),
        }
        metric_input = nested
            .get("metric")
            .and_then(|node| read_input(node, "metric", sink, report));
        nested.finish(report);
    }
    let measure = match (params.get("measure"), metric_input) {
        (Some(node), _) => read_input(node, "measure", sink, report),
        (None, Some(input)) => Some(input),
        (None, None) => {
            report.error(
                params.span,
                "a cumulative metric's `type_params` is missing the key `measure`",
            );
            None
        }
    };
    Some(MetricKind::Cumulative {
        measure: measure?,
        window,
        grain_to_date,
        period_agg,
    })
}

fn read_share(
    fields: &Fields<'_>,
    type_params: Option<&Fields<'_>>,
    sink: &mut WindowSink,
    report: &mut Report<'_>,
) -> Option<MetricKind> {
    let Some(params) = type_params else {
        missing_type_params(fields, "share", report);
        return None;
    };
    let Some(node) = params.get("metric") else {
        report.error(
            params.span,
            "a share metric's `type_params` is missing the key `metric`",
        );
        return None;
    };
    Some(MetricKind::Share {
        metric: read_input(node, "metric", sink, report)?,
    })
}

fn read_project_configuration(node: &Node, layer: &mut SemanticLayer, report: &mut Report<'_>) {
    let Some(fields) = Fields::new(
        node,
        "`project_configuration`",
        &[
            "time_spine_table_configurations",
            "time_spines",
            "dsi_package_version",
            "metadata",
            "default_metric",
        ],
        report,
    ) else {
        return;
    };
    if let Some(list) = fields.get("time_spines") {
        for item in sequence(list, "time_spines", report) {
            if let Some(spine) = read_time_spine(item, &mut layer.custom_granularities, report) {
                layer.time_spines.push(spine);
            }
        }
    }
    if let Some(list) = fields.get("time_spine_table_configurations") {
        for item in sequence(list, "time_spine_table_configurations", report) {
            let Some(config) = Fields::new(
                item,
                "a time spine table configuration",
                &["location", "column_name", "grain"],
                report,
            ) else {
                continue;
            };
            let location = config.required_string("location", report);
            let column = config.required_string("column_name", report);
            let grain = config
                .get("grain")
                .and_then(|node| read_grain(node, "grain", report));
            config.finish(report);
            let (Some(location), Some(column), Some(grain)) = (location, column, grain) else {
                continue;
            };
            let relation = match location.rsplit_once('.') {
                Some((schema, name)) => Relation::Table {
                    schema: Some(schema.to_owned()),
                    name: name.to_owned(),
                },
                None => Relation::Table {
                    schema: None,
                    name: location,
                },
            };
            // The newer `time_spines` entry wins when both describe the same grain.
            if !layer.time_spines.iter().any(|spine| spine.grain == grain) {
                layer.time_spines.push(TimeSpine {
                    relation,
                    column,
                    grain,
                });
            }
        }
    }
    let _ = fields.get("dsi_package_version");
    if let Some(name) = fields.optional_string("default_metric", report) {
        layer.default_metric = Some(name);
    }
    fields.finish(report);
}

/// Reads one `time_spines` entry; spines below day grain are skipped.
fn read_time_spine(
    node: &Node,
    custom_granularities: &mut Vec<String>,
    report: &mut Report<'_>,
) -> Option<TimeSpine> {
    let fields = Fields::new(
        node,
        "a time spine",
        &["node_relation", "primary_column", "custom_granularities"],
        report,
    )?;
    let relation = fields
        .get("node_relation")
        .and_then(|relation| read_node_relation(relation, report));
    let column = fields.get("primary_column").and_then(|column| {
        let column = Fields::new(
            column,
            "`primary_column`",
            &["name", "time_granularity"],
            report,
        )?;
        let name = column.required_string("name", report);
        let grain = column.optional_string("time_granularity", report);
        column.finish(report);
        Some((name?, grain))
    });
    let custom = fields
        .get("custom_granularities")
        .map(|list| sequence(list, "custom_granularities", report))
        .unwrap_or_default();
    for entry in custom {
        let name = match entry.as_str() {
            Some(name) => Some(name.to_owned()),
            None => entry.get("name").and_then(Node::as_str).map(str::to_owned),
        };
        match name {
            Some(name) => custom_granularities.push(name.to_ascii_lowercase()),
            None => report.error(entry.span, "a custom granularity needs a `name`"),
        }
    }
    fields.finish(report);

    let (column, grain) = column?;
    let grain = TimeGrain::parse(grain.as_deref().unwrap_or("day"))?;
    Some(TimeSpine {
        relation: relation?,
        column,
        grain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_chinese_lines_join_without_space() {
        assert_eq!(
            join_folded_chinese("跨日不可加； 按月拆分"),
            "跨日不可加；按月拆分"
        );
        assert_eq!(
            join_folded_chinese("余额 B(期末) 之和"),
            "余额 B(期末) 之和"
        );
        assert_eq!(
            join_folded_chinese("balance per depositor"),
            "balance per depositor"
        );
    }

    #[test]
    fn windows_parse() {
        let window = parse_window("7 days").unwrap();
        assert_eq!((window.count, window.grain), (7, TimeGrain::Day));
        assert_eq!(parse_window("1 month").unwrap().grain, TimeGrain::Month);
        assert!(parse_window("seven days").is_none());
        assert!(parse_window("2 fortnights").is_none());
    }

    #[test]
    fn verified_questions_load_with_their_lines() {
        let text = "verified_questions:\n  - question: 老百姓存了多少钱\n    verified_by: 计划财务部\n    query:\n      metrics: [deposit_balance]\n      filters:\n        - dimension: customer__customer_type\n          values: [个人]\n      top: {order: asc, limit: 3}\n";

        let layer = crate::semantic::load_sources(&[("verified.yaml".to_owned(), text.to_owned())])
            .unwrap();

        let verified = &layer.verified_questions[0];
        assert_eq!(verified.question, "老百姓存了多少钱");
        assert_eq!(verified.metrics, ["deposit_balance"]);
        assert_eq!(
            verified.filters,
            [(
                "customer__customer_type".to_owned(),
                vec!["个人".to_owned()]
            )]
        );
        assert_eq!(verified.top, Some(("asc".to_owned(), 3)));
        assert_eq!(verified.verified_by.as_deref(), Some("计划财务部"));
        assert_eq!(
            (verified.file.as_str(), verified.span.line),
            ("verified.yaml", 2)
        );
    }

    #[test]
    fn verified_question_mistakes_are_reported() {
        let text = "verified_questions:\n  - question: 存款\n    query:\n      grain: monthly\n      top: {order: up, limit: 0}\n      sql: SELECT 1\n  - query:\n      metrics: [deposit_balance]\n";

        let diagnostics =
            crate::semantic::load_sources(&[("verified.yaml".to_owned(), text.to_owned())])
                .unwrap_err()
                .to_string();

        for expected in [
            "names no `metrics`",
            "unknown grain `monthly`",
            "`order` must be desc or asc",
            "sql",
            "missing the key `question`",
        ] {
            assert!(diagnostics.contains(expected), "{expected}: {diagnostics}");
        }
    }
}
