//! The semantic layer's types, after loading and before validation.
//!
//! They follow MetricFlow's semantic manifest: semantic models hold entities,
//! dimensions and measures over one relation; metrics are built from
//! measures or from other metrics. Wenshu's extensions (labels, synonyms,
//! value synonyms, the `average_daily` aggregation, offsets to the end of the
//! previous period, `share` metrics, SQL relations) are documented in
//! `docs/semantic-layer.md`.

use std::collections::BTreeMap;

use crate::yaml::Span;

/// Everything loaded from one semantic-layer folder.
#[derive(Debug, Clone, Default)]
pub struct SemanticLayer {
    pub semantic_models: Vec<SemanticModel>,
    pub metrics: Vec<Metric>,
    pub time_spines: Vec<TimeSpine>,
    /// Extension `default_metric` of `project_configuration`: the metric a
    /// question means when it names only filters (对公存款有多少).
    pub default_metric: Option<String>,
    /// Names declared under a time spine's `custom_granularities`.
    pub custom_granularities: Vec<String>,
    /// Windows that name a granularity Wenshu does not know, checked
    /// against `custom_granularities` once every file is loaded.
    pub custom_granularity_uses: Vec<(String, Span, String)>,
    /// Extension `verified_questions`: questions an analyst checked, each
    /// with the query it means.
    pub verified_questions: Vec<VerifiedQuestion>,
}

/// A question and the query an analyst checked it means (extension
/// `verified_questions`). The names and values are checked against the
/// warehouse when the assistant starts. A question asked in these words is
/// answered with this query, and similar ones are shown to the model as
/// examples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerifiedQuestion {
    pub question: String,
    pub metrics: Vec<String>,
    /// Group-by items, as `customer__customer_type` or `metric_time`.
    pub group_by: Vec<String>,
    /// Filters: a group-by item and the values kept.
    pub filters: Vec<(String, Vec<String>)>,
    /// A time phrase of `spec/time.md`, such as 今年以来.
    pub time: Option<String>,
    /// `day`, `week`, `month`, `quarter` or `year`, for a series.
    pub grain: Option<String>,
    /// The largest (`desc`) or smallest (`asc`) rows, and how many.
    pub top: Option<(String, u64)>,
    /// The person or team that checked it, as free text.
    pub verified_by: Option<String>,
    pub file: String,
    pub span: Span,
}

impl SemanticLayer {
    pub fn semantic_model(&self, name: &str) -> Option<&SemanticModel> {
        self.semantic_models.iter().find(|model| model.name == name)
    }

    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|metric| metric.name == name)
    }

    /// Finds a measure by name with the semantic model that defines it.
    pub fn measure(&self, name: &str) -> Option<(&SemanticModel, &Measure)> {
        self.semantic_models.iter().find_map(|model| {
            model
                .measures
                .iter()
                .find(|measure| measure.name == name)
                .map(|measure| (model, measure))
        })
    }

    /// The day-grain time spine, if one is configured.
    pub fn day_time_spine(&self) -> Option<&TimeSpine> {
        self.time_spines
            .iter()
            .find(|spine| spine.grain == TimeGrain::Day)
    }
}

/// Where a semantic model's rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    /// A table or view, optionally in a schema (`$source_schema` is kept as
    /// written and substituted by the compiler's options).
    Table {
        schema: Option<String>,
        name: String,
    },
    /// A SELECT statement over warehouse tables (Wenshu extension `sql`).
    Sql(String),
}

#[derive(Debug, Clone)]
pub struct SemanticModel {
    pub name: String,
    pub label: Option<String>,
    pub description: Option<String>,
    pub relation: Relation,
    pub default_agg_time_dimension: Option<String>,
    pub entities: Vec<Entity>,
    pub dimensions: Vec<Dimension>,
    pub measures: Vec<Measure>,
    /// The `primary_entity` key: a name for the model's rows when no
    /// column is a key (typical of fact tables).
    pub primary_entity_name: Option<String>,
    pub file: String,
    pub span: Span,
}

impl SemanticModel {
    /// True when a column of the model is its primary key, as in a
    /// dimension table.
    pub fn has_key_column(&self) -> bool {
        self.entities.iter().any(|entity| {
            entity.kind == EntityKind::Primary
                && self.primary_entity_name.as_ref() != Some(&entity.name)
        })
    }

    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|entity| entity.name == name)
    }

    pub fn dimension(&self, name: &str) -> Option<&Dimension> {
        self.dimensions
            .iter()
            .find(|dimension| dimension.name == name)
    }

    pub fn primary_entity(&self) -> Option<&Entity> {
        self.entities
            .iter()
            .find(|entity| entity.kind == EntityKind::Primary)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Primary,
    Unique,
    Natural,
    Foreign,
}

impl EntityKind {
    /// True when each value of the entity appears at most once in the model,
    /// so joining to the model cannot multiply rows.
    pub fn is_unique_key(self) -> bool {
        matches!(
            self,
            EntityKind::Primary | EntityKind::Unique | EntityKind::Natural
        )
    }
}

#[derive(Debug, Clone)]
pub struct Entity {
    pub name: String,
    pub kind: EntityKind,
    /// The SQL expression of the key; the entity's name when not given.
    pub expr: String,
    pub label: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeGrain {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl TimeGrain {
    pub const ALL: [TimeGrain; 5] = [
        TimeGrain::Day,
        TimeGrain::Week,
        TimeGrain::Month,
        TimeGrain::Quarter,
        TimeGrain::Year,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TimeGrain::Day => "day",
            TimeGrain::Week => "week",
            TimeGrain::Month => "month",
            TimeGrain::Quarter => "quarter",
            TimeGrain::Year => "year",
        }
    }

    pub fn parse(text: &str) -> Option<TimeGrain> {
        TimeGrain::ALL
            .into_iter()
            .find(|grain| grain.name().eq_ignore_ascii_case(text))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DimensionKind {
    Categorical,
    Time { grain: TimeGrain },
}

#[derive(Debug, Clone)]
pub struct Dimension {
    pub name: String,
    pub kind: DimensionKind,
    /// The SQL expression of the dimension; its name when not given.
    pub expr: String,
    pub label: Option<String>,
    pub description: Option<String>,
    pub synonyms: Vec<String>,
    /// Extension: words users type for a value, keyed by the value as stored.
    pub value_synonyms: BTreeMap<String, Vec<String>>,
    pub is_partition: bool,
    /// A MetricFlow feature this dimension uses that Wenshu cannot compile
    /// (a sub-daily grain); queries that touch it are rejected with this text.
    pub unsupported: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Sum,
    SumBoolean,
    Count,
    CountDistinct,
    Min,
    Max,
    Average,
    Median,
    Percentile,
    /// Extension: the sum over the period divided by its number of calendar
    /// days (an average daily balance).
    AverageDaily,
}

impl Aggregation {
    pub const NAMES: [&'static str; 10] = [
        "sum",
        "sum_boolean",
        "count",
        "count_distinct",
        "min",
        "max",
        "average",
        "median",
        "percentile",
        "average_daily",
    ];

    pub fn parse(text: &str) -> Option<Aggregation> {
        let aggregation = match text.to_ascii_lowercase().as_str() {
            "sum" => Aggregation::Sum,
            "sum_boolean" => Aggregation::SumBoolean,
            "count" => Aggregation::Count,
            "count_distinct" => Aggregation::CountDistinct,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "average" => Aggregation::Average,
            "median" => Aggregation::Median,
            "percentile" => Aggregation::Percentile,
            "average_daily" => Aggregation::AverageDaily,
            _ => return None,
        };
        Some(aggregation)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowChoice {
    Min,
    Max,
}

/// A measure that must not be summed across one dimension (a balance across days).
#[derive(Debug, Clone)]
pub struct NonAdditiveDimension {
    pub name: String,
    pub window_choice: WindowChoice,
    pub window_groupings: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PercentileParams {
    pub percentile: f64,
    pub discrete: bool,
    pub approximate: bool,
}

#[derive(Debug, Clone)]
pub struct Measure {
    pub name: String,
    pub agg: Aggregation,
    /// The SQL expression aggregated; the measure's name when not given.
    pub expr: String,
    pub agg_time_dimension: Option<String>,
    pub non_additive_dimension: Option<NonAdditiveDimension>,
    pub percentile: Option<PercentileParams>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub create_metric: bool,
    pub span: Span,
}

/// A reference from a metric to a measure or to another metric, with the
/// options MetricFlow allows on it.
#[derive(Debug, Clone)]
pub struct MetricInput {
    pub name: String,
    pub filter: Vec<String>,
    pub alias: Option<String>,
    pub offset_window: Option<Window>,
    pub offset_to_grain: Option<TimeGrain>,
    /// Extension: the value on the last day of the previous period of this
    /// grain (比年初 uses `year`: the previous 31 December).
    pub offset_to_prior_period_end: Option<TimeGrain>,
    pub join_to_timespine: bool,
    pub fill_nulls_with: Option<i64>,
    pub span: Span,
}

impl MetricInput {
    pub fn has_offset(&self) -> bool {
        self.offset_window.is_some()
            || self.offset_to_grain.is_some()
            || self.offset_to_prior_period_end.is_some()
    }

    /// The name the input goes by in a derived metric's expression.
    pub fn reference_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// A time window such as `7 days` or `1 month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u32,
    pub grain: TimeGrain,
    /// Extension `month_end_aligned`: a month-end date maps to the month-end
    /// of the shifted month (2025-02-28 one year back is 2024-02-29).
    pub month_end_aligned: bool,
}

#[derive(Debug, Clone)]
pub enum MetricKind {
    Simple {
        measure: MetricInput,
    },
    Ratio {
        numerator: MetricInput,
        denominator: MetricInput,
    },
    Derived {
        expr: String,
        inputs: Vec<MetricInput>,
    },
    Cumulative {
        measure: MetricInput,
        window: Option<Window>,
        grain_to_date: Option<TimeGrain>,
        period_agg: PeriodAggregation,
    },
    Conversion,
    /// Extension: a group's share of the metric's total over all groups in
    /// the same scope, as a percentage.
    Share {
        metric: MetricInput,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodAggregation {
    First,
    Last,
    Average,
}

/// The period a question with no time expression is answered for (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPeriod {
    ReferenceDate,
    YearToDate,
    ReferenceMonth,
}

/// How an answer formats a metric's value (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Yuan,
    Percent,
    Count,
    Number,
}

impl Unit {
    /// The unit's name in the API: `yuan`, `percent`, `count` or `number`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Yuan => "yuan",
            Unit::Percent => "percent",
            Unit::Count => "count",
            Unit::Number => "number",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    pub filter: Vec<String>,
    /// Where the `filter` key's value starts, for diagnostics.
    pub filter_span: Option<Span>,
    pub label: Option<String>,
    pub description: Option<String>,
    /// Extension `description_en`: the definition for English answers.
    pub description_en: Option<String>,
    pub synonyms: Vec<String>,
    pub default_period: Option<DefaultPeriod>,
    pub unit: Option<Unit>,
    /// The grain `metric_time` gets when a query names no grain.
    pub time_granularity: Option<TimeGrain>,
    /// A MetricFlow feature this metric uses that Wenshu cannot compile
    /// (a custom or sub-daily granularity in a window); queries that ask
    /// for the metric are rejected with this text.
    pub unsupported: Option<String>,
    pub file: String,
    pub span: Span,
}

impl Metric {
    /// Returns the definition (口径) in the answer's language: the English
    /// one when asked in English and the layer has it, else the Chinese one.
    pub fn description_for(&self, english: bool) -> Option<&str> {
        match (&self.description_en, english) {
            (Some(english_text), true) => Some(english_text),
            _ => self.description.as_deref(),
        }
    }

    /// Returns the measures or metrics this metric reads.
    pub fn inputs(&self) -> Vec<&MetricInput> {
        match &self.kind {
            MetricKind::Simple { measure } | MetricKind::Cumulative { measure, .. } => {
                vec![measure]
            }
            MetricKind::Ratio {
                numerator,
                denominator,
            } => vec![numerator, denominator],
            MetricKind::Derived { inputs, .. } => inputs.iter().collect(),
            MetricKind::Share { metric } => vec![metric],
            MetricKind::Conversion => Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TimeSpine {
    pub relation: Relation,
    pub column: String,
    pub grain: TimeGrain,
}
