//! `GET /api/health` and `GET /api/metrics`: the server's state and the
//! metrics it serves, with the dimensions each can be grouped by.

use std::collections::BTreeSet;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::assistant::Assistant;
use crate::compiler::{CompileOptions, MetricQuery, compile};
use crate::semantic::{
    DefaultPeriod, DimensionKind, Metric, MetricKind, SemanticLayer, TimeGrain, Unit,
};

use super::error::ApiError;
use super::state::AppState;

/// The metrics of the semantic layer as `GET /api/metrics` returns them.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    /// The data date (数据日期) that relative periods resolve against.
    pub reference_date: NaiveDate,
    pub metrics: Vec<MetricEntry>,
}

/// One metric of the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct MetricEntry {
    pub name: String,
    /// The label people read; the name when the YAML gives none.
    pub label: String,
    pub description: Option<String>,
    pub synonyms: Vec<String>,
    /// `simple`, `ratio`, `derived`, `cumulative`, `conversion` or `share`.
    #[serde(rename = "type")]
    pub metric_type: &'static str,
    /// `yuan`, `percent`, `count` or `number`.
    pub unit: Option<&'static str>,
    /// The period a question with no time words is answered for:
    /// `reference_date`, `year_to_date` or `reference_month`.
    pub default_period: Option<&'static str>,
    /// The grains of `metric_time__<grain>` the metric can be grouped by.
    pub time_grains: Vec<&'static str>,
    /// The categorical dimensions the metric can be grouped by.
    pub dimensions: Vec<DimensionEntry>,
}

/// A categorical dimension, named as a group-by item (`entity__dimension`).
#[derive(Debug, Clone, Serialize)]
pub struct DimensionEntry {
    pub name: String,
    pub label: String,
    pub description: Option<String>,
}

impl Catalog {
    /// Lists every metric with the group-by items the compiler accepts for it.
    ///
    /// The candidates are each categorical dimension named through an entity
    /// that is a key of the dimension's model (`customer__customer_type`),
    /// and `metric_time` at each grain. A candidate is listed for a metric
    /// when a query grouping the metric by it alone compiles, over the year
    /// to the reference date. No SQL runs.
    pub fn build(assistant: &Assistant) -> Catalog {
        let started = Instant::now();
        let layer = assistant.layer();
        let reference_date = assistant.reference_date();
        let dimensions = dimension_candidates(layer);

        let metrics: Vec<MetricEntry> = layer
            .metrics
            .iter()
            .map(|metric| metric_entry(layer, metric, &dimensions, reference_date))
            .collect();

        tracing::info!(
            metrics = metrics.len(),
            dimensions = dimensions.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "metric catalog built"
        );
        Catalog {
            reference_date,
            metrics,
        }
    }
}

/// `GET /api/health`: 200 with the data date and counts once the assistant
/// is loaded, 503 before.
pub async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(catalog) = state.catalog() else {
        return Err(ApiError::NotReady);
    };

    // Debug, not info: load balancers poll this every few seconds.
    tracing::debug!("health checked");
    Ok(Json(serde_json::json!({
        "status": "ok",
        "reference_date": catalog.reference_date,
        "metrics": catalog.metrics.len(),
        "sessions": state.session_count(),
        "version": env!("CARGO_PKG_VERSION"),
        "auth": state.access().enabled(),
        "semantic_layer": state.reload_report(),
    })))
}

/// The query string of `GET /api/faq`.
#[derive(Debug, serde::Deserialize)]
pub struct FaqQuery {
    #[serde(default)]
    q: String,
}

/// Entries returned by `GET /api/faq`.
const FAQ_SEARCH_LIMIT: usize = 5;

/// `GET /api/faq?q=`: the knowledge-base entries closest to `q`, for the
/// page's search box, with whether the first is clearly the answer.
pub async fn faq(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<FaqQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(assistant) = state.assistant() else {
        return Err(ApiError::NotReady);
    };
    let text = super::chat::check_message(&query.q, state.limits().max_message_chars)?.to_owned();

    let searched = tokio::task::spawn_blocking(move || {
        assistant.search_knowledge_base(&text, FAQ_SEARCH_LIMIT)
    })
    .await
    .map_err(|error| ApiError::Internal(format!("the FAQ search task failed: {error}")))?;
    let (hits, confident, available) = match searched {
        Some(found) => (found.hits, found.confident, true),
        None => (Vec::new(), false, false),
    };
    tracing::info!(hits = hits.len(), confident, "faq searched");
    Ok(Json(serde_json::json!({
        "knowledge_base": available,
        "confident": confident,
        "hits": hits,
    })))
}

/// The `lang` of `GET /api/examples`.
#[derive(Debug, serde::Deserialize)]
pub struct ExamplesQuery {
    #[serde(default)]
    lang: Option<String>,
}

/// `GET /api/examples?lang=zh|en`: example questions built from the
/// semantic layer's labels, for the page's empty screen.
pub async fn examples(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<ExamplesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(assistant) = state.assistant() else {
        return Err(ApiError::NotReady);
    };
    let english = match query.lang.as_deref() {
        None | Some("zh" | "zh-CN") => false,
        Some("en") => true,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "不支持的语言 / unsupported `lang` `{other}`: use `zh` or `en`"
            )));
        }
    };
    Ok(Json(serde_json::json!({
        "examples": assistant.example_questions(english),
    })))
}

/// `GET /api/metrics`: the catalog.
pub async fn metrics(State(state): State<AppState>) -> Result<Json<Catalog>, ApiError> {
    let Some(catalog) = state.catalog() else {
        return Err(ApiError::NotReady);
    };

    tracing::info!(metrics = catalog.metrics.len(), "metric catalog sent");
    Ok(Json(Catalog::clone(&catalog)))
}

fn dimension_candidates(layer: &SemanticLayer) -> Vec<DimensionEntry> {
    let mut seen = BTreeSet::new();
    let mut candidates = Vec::new();
    for model in &layer.semantic_models {
        let keys = model
            .entities
            .iter()
            .filter(|entity| entity.kind.is_unique_key());
        for entity in keys {
            let categorical = model
                .dimensions
                .iter()
                .filter(|dimension| dimension.kind == DimensionKind::Categorical);
            for dimension in categorical {
                let name = format!("{}__{}", entity.name, dimension.name);
                if !seen.insert(name.clone()) {
                    continue;
                }
                candidates.push(DimensionEntry {
                    name,
                    label: dimension
                        .label
                        .clone()
                        .unwrap_or_else(|| dimension.name.clone()),
                    description: dimension.description.clone(),
                });
            }
        }
    }
    candidates
}

fn metric_entry(
    layer: &SemanticLayer,
    metric: &Metric,
    candidates: &[DimensionEntry],
    reference_date: NaiveDate,
) -> MetricEntry {
    let year_start = NaiveDate::from_ymd_opt(reference_date.year(), 1, 1).unwrap_or(reference_date);
    let options = CompileOptions {
        reference_date: Some(reference_date),
        ..CompileOptions::default()
    };
    let compiles = |group_by: &str| {
        let query = MetricQuery {
            metrics: vec![metric.name.clone()],
            group_by: vec![group_by.to_owned()],
            start: Some(year_start),
            end: Some(reference_date),
            ..MetricQuery::default()
        };
        compile(layer, &query, &options).is_ok()
    };

    let time_grains: Vec<&'static str> = TimeGrain::ALL
        .into_iter()
        .map(TimeGrain::name)
        .filter(|grain| compiles(&format!("metric_time__{grain}")))
        .collect();
    let dimensions: Vec<DimensionEntry> = candidates
        .iter()
        .filter(|candidate| compiles(&candidate.name))
        .cloned()
        .collect();
    if time_grains.is_empty() && dimensions.is_empty() {
        tracing::warn!(
            metric = %metric.name,
            "no group-by item compiles for the metric; run `wenshu query --metrics <name> --explain` to see why"
        );
    }

    MetricEntry {
        name: metric.name.clone(),
        label: metric.label.clone().unwrap_or_else(|| metric.name.clone()),
        description: metric.description.clone(),
        synonyms: metric.synonyms.clone(),
        metric_type: metric_type(&metric.kind),
        unit: metric.unit.map(Unit::name),
        default_period: metric.default_period.map(default_period_name),
        time_grains,
        dimensions,
    }
}

fn metric_type(kind: &MetricKind) -> &'static str {
    match kind {
        MetricKind::Simple { .. } => "simple",
        MetricKind::Ratio { .. } => "ratio",
        MetricKind::Derived { .. } => "derived",
        MetricKind::Cumulative { .. } => "cumulative",
        MetricKind::Conversion => "conversion",
        MetricKind::Share { .. } => "share",
    }
}

fn default_period_name(period: DefaultPeriod) -> &'static str {
    match period {
        DefaultPeriod::ReferenceDate => "reference_date",
        DefaultPeriod::YearToDate => "year_to_date",
        DefaultPeriod::ReferenceMonth => "reference_month",
    }
}
