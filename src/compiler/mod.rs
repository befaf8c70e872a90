//! Compiles a [`MetricQuery`] against the semantic layer into one SQL statement.
//!
//! Each requested metric becomes a subquery with one column per group-by
//! item and one value column; subqueries are joined on the group-by
//! columns. Measures are computed in [`measure`]; metrics built from other
//! metrics (ratio, derived, share) combine their inputs' subqueries here.

mod dialect;
pub mod filter;
mod from;
mod measure;
pub mod query;
mod resolve;

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::semantic::{
    Metric, MetricInput, MetricKind, PeriodAggregation, SemanticLayer, TimeGrain, Window,
    closest_name,
};

pub use dialect::{Dialect, DuckDb, SparkSql};
use filter::{ParsedFilter, parse_filter};
use measure::MeasureRequest;
pub use query::{MetricQuery, OrderBy};
pub use resolve::{GroupItem, ItemSpec, parse_group_item};

/// Settings that do not come from the query itself.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Replaces `$source_schema` in `node_relation.schema_name`.
    pub source_schema: Option<String>,
    /// The last day with data: a query's end is cut back to it, so averages
    /// never count days after it.
    pub reference_date: Option<NaiveDate>,
    /// Widens the time range to whole buckets of the query's metric_time
    /// grain, as MetricFlow does (2020-01-15..2020-02-15 by month reads all
    /// of January and February). Off by default: a bank's period ends where
    /// the question says, so a month asked up to the 15th ends on the 15th.
    pub widen_to_buckets: bool,
    /// Restricts every model the query reads to the rows a caller may see.
    pub row_scope: Option<RowScope>,
}

/// The rows a caller may see, as the keys of entities: an account manager
/// sees the accounts they hold a share of. Every model with one of the
/// entities is filtered to those keys; a query whose measures come from a
/// model with none of them is refused, since nothing would restrict it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowScope {
    /// For each entity name, a query that returns the allowed keys.
    pub keys: std::collections::BTreeMap<String, String>,
}

impl RowScope {
    /// Returns the condition that keeps a model's allowed rows, or None when
    /// the model has none of the scope's entities.
    pub fn condition(&self, model: &crate::semantic::SemanticModel) -> Option<String> {
        let parts: Vec<String> = model
            .entities
            .iter()
            .filter_map(|entity| {
                self.keys
                    .get(&entity.name)
                    .map(|query| format!("{} IN ({query})", entity.expr))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }
}

/// What a result column holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum OutputKind {
    Dimension,
    TimeDimension,
    Entity,
    Metric,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutputColumn {
    pub name: String,
    pub kind: OutputKind,
}

#[derive(Debug, Clone)]
pub struct CompiledQuery {
    pub sql: String,
    pub columns: Vec<OutputColumn>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error("unknown metric `{name}`{}", did_you_mean(.suggestion))]
    UnknownMetric {
        name: String,
        suggestion: Option<String>,
    },
    #[error("unknown group-by item `{name}`{}", did_you_mean(.suggestion))]
    UnknownGroupBy {
        name: String,
        suggestion: Option<String>,
    },
    #[error("invalid filter `{filter}`: {reason}")]
    InvalidFilter { filter: String, reason: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error(
        "semantic model `{model}` has none of the entities the access scope restricts ({entities}), so its figures cannot be limited to the rows you may see"
    )]
    OutOfScope { model: String, entities: String },
    /// A feature of MetricFlow that Wenshu does not compile yet.
    #[error("not supported yet: {feature}")]
    Unsupported { feature: String },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(name) => format!("; did you mean `{name}`?"),
        None => String::new(),
    }
}

/// Wraps each input name in a derived metric's expression as the dialect
/// needs ([`Dialect::derived_input`]). An expression that does not parse is
/// left as written.
fn wrap_derived_inputs(expr: &str, names: &[&str], dialect: &dyn Dialect) -> String {
    if dialect.derived_input("x").is_none() {
        return expr.to_owned();
    }
    replace_identifiers(expr, |ident| {
        if names.contains(&ident.value.as_str()) {
            dialect.derived_input(&ident.to_string())
        } else {
            None
        }
    })
    .unwrap_or_else(|| expr.to_owned())
}

/// Re-renders a SQL expression with each bare identifier for which
/// `replace` returns SQL replaced by that SQL. Returns None when the
/// expression or a replacement does not parse.
pub(crate) fn replace_identifiers(
    sql: &str,
    replace: impl Fn(&sqlparser::ast::Ident) -> Option<String>,
) -> Option<String> {
    use sqlparser::ast::{Expr, visit_expressions_mut};
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    let parse = |text: &str| {
        Parser::new(&GenericDialect {})
            .try_with_sql(text)?
            .parse_expr()
    };
    let mut parsed = parse(sql).ok()?;
    let mut failed = false;
    let _ = visit_expressions_mut(&mut parsed, |node| {
        if let Expr::Identifier(ident) = node
            && let Some(replacement) = replace(ident)
        {
            match parse(&replacement) {
                Ok(replaced) => *node = replaced,
                Err(_) => failed = true,
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    (!failed).then(|| parsed.to_string())
}

/// Returns the SQL that names a semantic model's relation, for DuckDB and with no
/// `$source_schema` substitution.
pub fn relation_sql(relation: &crate::semantic::Relation) -> String {
    from::relation_sql(relation, &DuckDb, &CompileOptions::default())
}

/// Like [`relation_sql`], in the given dialect.
pub fn relation_sql_in(relation: &crate::semantic::Relation, dialect: &dyn Dialect) -> String {
    from::relation_sql(relation, dialect, &CompileOptions::default())
}

/// Compiles `query` to SQL for DuckDB.
pub fn compile(
    layer: &SemanticLayer,
    query: &MetricQuery,
    options: &CompileOptions,
) -> Result<CompiledQuery, CompileError> {
    compile_with(layer, query, options, &DuckDb)
}

/// Compiles `query` to SQL in the given dialect.
pub fn compile_with(
    layer: &SemanticLayer,
    query: &MetricQuery,
    options: &CompileOptions,
    dialect: &dyn Dialect,
) -> Result<CompiledQuery, CompileError> {
    let compiler = Compiler {
        layer,
        options: options.clone(),
        dialect,
    };
    compiler.compile(query)
}

/// How the days of data map to the days a measure is reported at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TimeMapping {
    /// Each row is reported at its own day.
    Identity,
    /// A derived metric's input read at an earlier day.
    Offset(Offset),
    /// A running total over a window, to date of a grain, or over all time.
    Cumulative {
        window: Option<Window>,
        grain_to_date: Option<TimeGrain>,
        period_agg: PeriodAggregation,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Offset {
    Window(Window),
    ToGrain(TimeGrain),
    PriorPeriodEnd(TimeGrain),
}

impl Offset {
    fn of(input: &MetricInput) -> Option<Offset> {
        if let Some(window) = input.offset_window {
            return Some(Offset::Window(window));
        }
        if let Some(grain) = input.offset_to_grain {
            return Some(Offset::ToGrain(grain));
        }
        input.offset_to_prior_period_end.map(Offset::PriorPeriodEnd)
    }

    /// Returns the day this offset reads for the output day `day`.
    fn shift(self, day: NaiveDate) -> Option<NaiveDate> {
        match self {
            Offset::Window(window) => {
                let shifted = sub_window(day, window)?;
                if window.month_end_aligned && is_month_end(day) {
                    Some(month_end(shifted))
                } else {
                    Some(shifted)
                }
            }
            Offset::ToGrain(grain) => Some(truncate_date(day, grain)),
            Offset::PriorPeriodEnd(grain) => {
                truncate_date(day, grain).checked_sub_days(Days::new(1))
            }
        }
    }
}

impl TimeMapping {
    /// Returns the range of row days a query over output days `[start, end]` needs.
    fn row_range(
        self,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> (Option<NaiveDate>, Option<NaiveDate>) {
        match self {
            TimeMapping::Identity => (start, end),
            TimeMapping::Offset(offset) => match offset {
                Offset::Window(window) => (
                    start.and_then(|day| sub_window(day, window)),
                    end.and_then(|day| sub_window(day, window)).map(month_end),
                ),
                Offset::ToGrain(grain) => (start.map(|day| truncate_date(day, grain)), end),
                Offset::PriorPeriodEnd(grain) => (
                    start.and_then(|day| truncate_date(day, grain).checked_sub_days(Days::new(1))),
                    end,
                ),
            },
            TimeMapping::Cumulative {
                window,
                grain_to_date,
                ..
            } => {
                let first = match (window, grain_to_date) {
                    (Some(window), _) => start.and_then(|day| sub_window(day, window)),
                    (None, Some(grain)) => start.map(|day| truncate_date(day, grain)),
                    (None, None) => None,
                };
                (first, end)
            }
        }
    }

    /// Builds the join condition between row days and the time spine's `ts.ds`.
    fn spine_condition(self, dialect: &dyn Dialect, row_day: &str, grains: &[TimeGrain]) -> String {
        let spine_day = "ts.ds";
        // An offset to a grain reads one day per output bucket: its first.
        let bucket_start = if grains.is_empty() || grains.contains(&TimeGrain::Day) {
            String::new()
        } else {
            let starts: Vec<String> = grains
                .iter()
                .map(|grain| format!("{} = {spine_day}", dialect.date_trunc(*grain, spine_day)))
                .collect();
            format!(" AND ({})", starts.join(" OR "))
        };
        match self {
            TimeMapping::Identity => format!("{row_day} = {spine_day}"),
            TimeMapping::Offset(Offset::Window(window)) => {
                let shifted = dialect.date_sub(spine_day, i64::from(window.count), window.grain);
                if window.month_end_aligned {
                    let last_day = dialect.last_day_of_month(spine_day);
                    format!(
                        "{row_day} = CASE WHEN {spine_day} = {last_day} THEN {} ELSE {shifted} END",
                        dialect.last_day_of_month(&shifted)
                    )
                } else {
                    format!("{row_day} = {shifted}")
                }
            }
            TimeMapping::Offset(Offset::ToGrain(grain)) => {
                format!(
                    "{row_day} = {}{bucket_start}",
                    dialect.date_trunc(grain, spine_day)
                )
            }
            TimeMapping::Offset(Offset::PriorPeriodEnd(grain)) => format!(
                "{row_day} = {}{bucket_start}",
                dialect.date_sub(&dialect.date_trunc(grain, spine_day), 1, TimeGrain::Day)
            ),
            TimeMapping::Cumulative {
                window,
                grain_to_date,
                ..
            } => match (window, grain_to_date) {
                (Some(window), _) => format!(
                    "{row_day} <= {spine_day} AND {row_day} > {}",
                    dialect.date_sub(spine_day, i64::from(window.count), window.grain)
                ),
                (None, Some(grain)) => format!(
                    "{row_day} <= {spine_day} AND {row_day} >= {}",
                    dialect.date_trunc(grain, spine_day)
                ),
                (None, None) => format!("{row_day} <= {spine_day}"),
            },
        }
    }
}

fn sub_window(day: NaiveDate, window: Window) -> Option<NaiveDate> {
    let count = window.count;
    match window.grain {
        TimeGrain::Day => day.checked_sub_days(Days::new(count.into())),
        TimeGrain::Week => day.checked_sub_days(Days::new(u64::from(count) * 7)),
        TimeGrain::Month => day.checked_sub_months(Months::new(count)),
        TimeGrain::Quarter => day.checked_sub_months(Months::new(count * 3)),
        TimeGrain::Year => day.checked_sub_months(Months::new(count * 12)),
    }
}

fn truncate_date(day: NaiveDate, grain: TimeGrain) -> NaiveDate {
    let first_of = |month: u32| NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day);
    match grain {
        TimeGrain::Day => day,
        TimeGrain::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
        TimeGrain::Month => first_of(day.month()),
        TimeGrain::Quarter => first_of((day.month() - 1) / 3 * 3 + 1),
        TimeGrain::Year => first_of(1),
    }
}

/// Returns the last day of the bucket of `grain` that contains `day`.
fn bucket_end(day: NaiveDate, grain: TimeGrain) -> NaiveDate {
    let start = truncate_date(day, grain);
    let next = match grain {
        TimeGrain::Day => start.checked_add_days(Days::new(1)),
        TimeGrain::Week => start.checked_add_days(Days::new(7)),
        TimeGrain::Month => start.checked_add_months(Months::new(1)),
        TimeGrain::Quarter => start.checked_add_months(Months::new(3)),
        TimeGrain::Year => start.checked_add_months(Months::new(12)),
    };
    next.and_then(|next| next.pred_opt()).unwrap_or(day)
}

fn month_end(day: NaiveDate) -> NaiveDate {
    let first = truncate_date(day, TimeGrain::Month);
    first
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(day)
}

fn is_month_end(day: NaiveDate) -> bool {
    month_end(day) == day
}

/// Returns the same time item at day grain, as an offset reads it.
fn at_day_grain(item: &GroupItem) -> GroupItem {
    match &item.spec {
        ItemSpec::Dimension { path, name, .. } => {
            let mut parts = path.clone();
            parts.push(name.clone());
            parts.push("day".to_owned());
            GroupItem {
                output: parts.join("__"),
                spec: ItemSpec::Dimension {
                    path: path.clone(),
                    name: name.clone(),
                    grain: Some(TimeGrain::Day),
                },
            }
        }
        _ => GroupItem {
            output: "metric_time__day".to_owned(),
            spec: ItemSpec::MetricTime {
                grain: TimeGrain::Day,
            },
        },
    }
}

/// Returns the value a metric's NULLs become, from its measure's `fill_nulls_with`.
fn fill_value(metric: &Metric) -> Option<i64> {
    match &metric.kind {
        MetricKind::Simple { measure } | MetricKind::Cumulative { measure, .. } => {
            measure.fill_nulls_with
        }
        _ => None,
    }
}

/// True for a filter whose only references are to metric_time.
fn only_metric_time(filter: &ParsedFilter) -> bool {
    let mut references = filter.used_references().peekable();
    references.peek().is_some()
        && references.all(|reference| {
            reference.kind != filter::ReferenceKind::Metric
                && reference.qualified_name() == "metric_time"
        })
}

/// What one metric is computed for: the query's items and everything its
/// callers narrowed it to.
#[derive(Clone)]
struct Scope<'q> {
    items: &'q [GroupItem],
    filters: Vec<ParsedFilter>,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    mapping: TimeMapping,
}

impl Scope<'_> {
    /// True when some item has a time grain: metric_time or a time dimension,
    /// which may be the measure's own time dimension under another name.
    fn has_time_items(&self) -> bool {
        self.items.iter().any(|item| item.time_grain().is_some())
    }
}

pub(crate) struct Compiler<'a> {
    layer: &'a SemanticLayer,
    options: CompileOptions,
    dialect: &'a dyn Dialect,
}

/// Input metrics nest at most this deep, which also stops reference cycles
/// that validation did not catch.
const MAX_METRIC_DEPTH: usize = 16;

impl Compiler<'_> {
    fn compile(&self, query: &MetricQuery) -> Result<CompiledQuery, CompileError> {
        if query.metrics.is_empty() && query.group_by.is_empty() {
            return Err(CompileError::InvalidQuery(
                "a query needs at least one metric or group-by item".to_owned(),
            ));
        }
        let mut query = query.clone();
        if let (Some(reference), Some(end)) = (self.options.reference_date, query.end) {
            query.end = Some(end.min(reference));
        }
        let query = &query;
        if let (Some(start), Some(end)) = (query.start, query.end)
            && start > end
        {
            return Err(CompileError::InvalidQuery(format!(
                "the time range starts on {start}, after its end {end}"
            )));
        }

        let mut metrics = Vec::new();
        for name in &query.metrics {
            metrics.push(self.metric(name)?);
        }
        // A bare `metric_time` takes the coarsest grain of the measures'
        // time dimensions (a monthly snapshot cannot be reported by day).
        let default_grain = metrics
            .iter()
            .filter_map(|metric| self.default_grain(metric, 0))
            .max()
            .unwrap_or(TimeGrain::Day);
        let mut items: Vec<GroupItem> = Vec::new();
        for text in &query.group_by {
            let text = if text == "metric_time" {
                format!("metric_time__{}", default_grain.name())
            } else {
                text.clone()
            };
            let item = parse_group_item(self.layer, &text)?;
            if !items.iter().any(|known| known.output == item.output) {
                items.push(item);
            }
        }
        let mut filters = Vec::new();
        for text in &query.where_filters {
            filters.push(self.parse_filter(text)?);
        }
        let (start, end) = self.widen_to_buckets(&items, default_grain, query.start, query.end);
        if metrics.is_empty() {
            return self.compile_dimension_values(query, &items, &filters, start, end);
        }
        let scope = Scope {
            items: &items,
            filters,
            start,
            end,
            mapping: TimeMapping::Identity,
        };

        let mut parts = Vec::new();
        for (name, metric) in query.metrics.iter().zip(&metrics) {
            let sql = self.metric_sql(metric, &scope, name, 0)?;
            parts.push((sql, vec![name.clone()]));
        }
        let outputs: Vec<String> = query.metrics.clone();
        // `fill_nulls_with` also covers rows that only another metric has.
        let values: Vec<String> = outputs
            .iter()
            .zip(&metrics)
            .map(|(name, metric)| match fill_value(metric) {
                Some(fill) => format!("COALESCE({}, {fill})", self.dialect.quote(name)),
                None => self.dialect.quote(name),
            })
            .collect();
        let sql = self.combine(&parts, &items, &values, &outputs)?;
        self.finish(query, &items, sql)
    }

    /// Adds ORDER BY and LIMIT and lists the result columns.
    fn finish(
        &self,
        query: &MetricQuery,
        items: &[GroupItem],
        mut sql: String,
    ) -> Result<CompiledQuery, CompileError> {
        let order = self.order_by(query, items)?;
        if !order.is_empty() {
            sql.push_str(&format!("\nORDER BY {}", order.join(", ")));
        }
        if let Some(limit) = query.limit {
            sql.push_str(&format!("\nLIMIT {limit}"));
        }

        let mut columns: Vec<OutputColumn> = items
            .iter()
            .map(|item| OutputColumn {
                name: item.output.clone(),
                kind: match &item.spec {
                    ItemSpec::MetricTime { .. } => OutputKind::TimeDimension,
                    ItemSpec::Dimension { grain: Some(_), .. } => OutputKind::TimeDimension,
                    ItemSpec::Dimension { .. } => OutputKind::Dimension,
                    ItemSpec::Entity { .. } => OutputKind::Entity,
                },
            })
            .collect();
        columns.extend(query.metrics.iter().map(|name| OutputColumn {
            name: name.clone(),
            kind: OutputKind::Metric,
        }));
        Ok(CompiledQuery { sql, columns })
    }

    /// Returns the grain of the time dimension a metric's measures are aggregated by.
    fn default_grain(&self, metric: &Metric, depth: usize) -> Option<TimeGrain> {
        if depth > MAX_METRIC_DEPTH {
            return None;
        }
        // A metric's own `time_granularity` counts only where it is queried,
        // not where it is an input of another metric.
        if depth == 0 && metric.time_granularity.is_some() {
            return metric.time_granularity;
        }
        if let MetricKind::Simple { measure } | MetricKind::Cumulative { measure, .. } =
            &metric.kind
        {
            let (model, measure) = self.layer.measure(&measure.name)?;
            let name = measure
                .agg_time_dimension
                .as_ref()
                .or(model.default_agg_time_dimension.as_ref())?;
            return match model.dimension(name)?.kind {
                crate::semantic::DimensionKind::Time { grain } => Some(grain),
                crate::semantic::DimensionKind::Categorical => None,
            };
        }
        let inputs = metric.inputs();
        inputs
            .iter()
            .filter_map(|input| self.layer.metric(&input.name))
            .filter_map(|input| self.default_grain(input, depth + 1))
            .max()
    }

    /// Widens the range to whole buckets of the finest metric_time grain
    /// asked for, as MetricFlow does, then cuts it back to the reference date.
    fn widen_to_buckets(
        &self,
        items: &[GroupItem],
        default_grain: TimeGrain,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let grain = items
            .iter()
            .filter(|item| item.is_metric_time())
            .filter_map(GroupItem::time_grain)
            .min()
            .or(Some(default_grain));
        let Some(grain) =
            grain.filter(|grain| *grain != TimeGrain::Day && self.options.widen_to_buckets)
        else {
            return (start, end);
        };
        let start = start.map(|day| truncate_date(day, grain));
        let end =
            end.map(|day| bucket_end(day, grain))
                .map(|day| match self.options.reference_date {
                    Some(reference) if reference < day => reference.max(truncate_date(day, grain)),
                    _ => day,
                });
        (start, end)
    }

    /// A query with group-by items only: the distinct values of its dimensions.
    fn compile_dimension_values(
        &self,
        query: &MetricQuery,
        items: &[GroupItem],
        filters: &[ParsedFilter],
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<CompiledQuery, CompileError> {
        let sql = self.dimension_values_sql(items, filters, start, end)?;
        self.finish(query, items, sql)
    }

    fn metric(&self, name: &str) -> Result<&Metric, CompileError> {
        self.layer
            .metric(name)
            .ok_or_else(|| CompileError::UnknownMetric {
                name: name.to_owned(),
                suggestion: closest_name(
                    name,
                    self.layer.metrics.iter().map(|metric| metric.name.as_str()),
                ),
            })
    }

    fn parse_filter(&self, text: &str) -> Result<ParsedFilter, CompileError> {
        parse_filter(text).map_err(|reason| CompileError::InvalidFilter {
            filter: text.to_owned(),
            reason,
        })
    }

    fn order_by(
        &self,
        query: &MetricQuery,
        items: &[GroupItem],
    ) -> Result<Vec<String>, CompileError> {
        let mut order = Vec::new();
        for entry in &query.order_by {
            let name = if query.metrics.contains(&entry.item) {
                entry.item.clone()
            } else if let Some(item) = items.iter().find(|item| {
                item.output == entry.item
                    || (entry.item == "metric_time" && item.is_metric_time())
                    || parse_group_item(self.layer, &entry.item)
                        .is_ok_and(|parsed| parsed.output == item.output)
            }) {
                item.output.clone()
            } else {
                return Err(CompileError::InvalidQuery(format!(
                    "cannot order by `{}`: it is neither a requested metric nor a group-by item",
                    entry.item
                )));
            };
            let direction = if entry.descending { " DESC" } else { "" };
            order.push(format!("{}{direction}", self.dialect.quote(&name)));
        }
        Ok(order)
    }

    /// Compiles one metric into a subquery with the scope's group-by columns
    /// and one value column named `output`.
    fn metric_sql(
        &self,
        metric: &Metric,
        scope: &Scope<'_>,
        output: &str,
        depth: usize,
    ) -> Result<String, CompileError> {
        if depth > MAX_METRIC_DEPTH {
            return Err(CompileError::InvalidQuery(format!(
                "metric `{}` nests inputs more than {MAX_METRIC_DEPTH} deep; check for a cycle",
                metric.name
            )));
        }
        if let Some(feature) = &metric.unsupported {
            return Err(CompileError::Unsupported {
                feature: feature.clone(),
            });
        }
        let mut scope = scope.clone();
        for text in &metric.filter {
            scope.filters.push(self.parse_filter(text)?);
        }

        match &metric.kind {
            MetricKind::Simple { measure } => self.simple_sql(measure, &scope, output),
            MetricKind::Ratio {
                numerator,
                denominator,
            } => {
                let numerator_sql = self.input_sql(numerator, &scope, "__numerator", depth)?;
                let denominator_sql =
                    self.input_sql(denominator, &scope, "__denominator", depth)?;
                let value = self.dialect.safe_divide("__numerator", "__denominator");
                self.combine(
                    &[
                        (numerator_sql, vec!["__numerator".to_owned()]),
                        (denominator_sql, vec!["__denominator".to_owned()]),
                    ],
                    scope.items,
                    &[value],
                    &[output.to_owned()],
                )
            }
            MetricKind::Derived { expr, inputs } => {
                let mut parts = Vec::new();
                for input in inputs {
                    let name = input.reference_name().to_owned();
                    let sql = self.input_sql(input, &scope, &name, depth)?;
                    parts.push((sql, vec![name]));
                }
                let names: Vec<&str> = inputs.iter().map(|input| input.reference_name()).collect();
                let expr = wrap_derived_inputs(expr, &names, self.dialect);
                self.combine(
                    &parts,
                    scope.items,
                    &[format!("({expr})")],
                    &[output.to_owned()],
                )
            }
            MetricKind::Cumulative {
                measure,
                window,
                grain_to_date,
                period_agg,
            } => {
                if scope.mapping != TimeMapping::Identity {
                    return Err(CompileError::Unsupported {
                        feature: "offsets of cumulative metrics".to_owned(),
                    });
                }
                let mapping = TimeMapping::Cumulative {
                    window: *window,
                    grain_to_date: *grain_to_date,
                    period_agg: *period_agg,
                };
                if scope.has_time_items() {
                    scope.mapping = mapping;
                } else {
                    // Without metric_time, the running total is taken at the range's end.
                    let (start, _) = mapping.row_range(scope.end, scope.end);
                    scope.start = start;
                }
                self.simple_sql(measure, &scope, output)
            }
            MetricKind::Share { metric: input } => {
                let part = self.input_sql(input, &scope, "__part", depth)?;
                let time_keys: Vec<String> = scope
                    .items
                    .iter()
                    .filter(|item| item.time_grain().is_some())
                    .map(|item| self.dialect.quote(&item.output))
                    .collect();
                let over = if time_keys.is_empty() {
                    String::new()
                } else {
                    format!("PARTITION BY {}", time_keys.join(", "))
                };
                let value = self
                    .dialect
                    .safe_divide("__part * 100", &format!("SUM(__part) OVER ({over})"));
                self.combine(
                    &[(part, vec!["__part".to_owned()])],
                    scope.items,
                    &[value],
                    &[output.to_owned()],
                )
            }
            MetricKind::Conversion => Err(CompileError::Unsupported {
                feature: "conversion metrics".to_owned(),
            }),
        }
    }

    /// A measure read by a simple or cumulative metric.
    fn simple_sql(
        &self,
        input: &MetricInput,
        scope: &Scope<'_>,
        output: &str,
    ) -> Result<String, CompileError> {
        let Some((model, measure)) = self.layer.measure(&input.name) else {
            return Err(CompileError::InvalidQuery(format!(
                "unknown measure `{}`",
                input.name
            )));
        };
        let mut filters = scope.filters.clone();
        for text in &input.filter {
            filters.push(self.parse_filter(text)?);
        }
        let request = MeasureRequest {
            model,
            measure,
            items: scope.items,
            filters: &filters,
            start: scope.start,
            end: scope.end,
            mapping: scope.mapping,
            output,
        };
        let sql = self.measure_sql(&request)?;
        if input.join_to_timespine || input.fill_nulls_with.is_some() {
            return self.fill_sql(sql, input, scope, output);
        }
        Ok(sql)
    }

    /// Wraps a measure's subquery so that every time-spine bucket has a row
    /// (`join_to_timespine`) and NULL values become `fill_nulls_with`.
    fn fill_sql(
        &self,
        sql: String,
        input: &MetricInput,
        scope: &Scope<'_>,
        output: &str,
    ) -> Result<String, CompileError> {
        let quote = |name: &str| self.dialect.quote(name);
        let value = match input.fill_nulls_with {
            Some(fill) => format!("COALESCE(m.{}, {fill}) AS {}", quote(output), quote(output)),
            None => format!("m.{}", quote(output)),
        };
        let agg_time_name = self
            .layer
            .measure(&input.name)
            .and_then(|(model, measure)| {
                measure
                    .agg_time_dimension
                    .clone()
                    .or_else(|| model.default_agg_time_dimension.clone())
            });
        let time_item = scope.items.iter().find(|item| item.is_metric_time()).or_else(|| {
            scope.items.iter().find(|item| {
                matches!(&item.spec, ItemSpec::Dimension { name, grain: Some(_), .. } if Some(name) == agg_time_name.as_ref())
            })
        });
        let Some(time_item) = time_item.filter(|_| input.join_to_timespine) else {
            let keys: Vec<String> = scope
                .items
                .iter()
                .map(|item| format!("m.{}", quote(&item.output)))
                .collect();
            let mut columns = keys;
            columns.push(value);
            return Ok(format!(
                "SELECT {} FROM (\n{sql}\n) AS m",
                columns.join(", ")
            ));
        };
        let grain = time_item.time_grain().unwrap_or(TimeGrain::Day);
        let spine = self.spine_relation()?;
        let mut bounds = Vec::new();
        if let Some(start) = scope.start {
            bounds.push(format!("ds >= {}", self.dialect.date_literal(start)));
        }
        if let Some(end) = scope.end {
            bounds.push(format!("ds <= {}", self.dialect.date_literal(end)));
        }
        // Filters on metric_time alone also bound the spine's buckets.
        for filter in scope
            .filters
            .iter()
            .filter(|filter| only_metric_time(filter))
        {
            bounds.push(format!("({})", self.spine_filter_sql(filter, "ds")?));
        }
        let where_sql = if bounds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", bounds.join(" AND "))
        };
        let bucket = match grain {
            TimeGrain::Day => "ds".to_owned(),
            other => self.dialect.date_trunc(other, "ds"),
        };
        let time_name = quote(&time_item.output);
        let mut columns = Vec::new();
        for item in scope.items {
            if item.output == time_item.output {
                columns.push(format!("buckets.{time_name}"));
            } else {
                columns.push(format!("m.{}", quote(&item.output)));
            }
        }
        columns.push(value);
        // A filter on group-by items also applies after the join, so the
        // spine's empty buckets do not bring back the rows it removed.
        let mut outer = Vec::new();
        for filter in scope
            .filters
            .iter()
            .filter(|filter| !only_metric_time(filter))
        {
            let substituted = filter.substitute(|reference| {
                let item = resolve::filter_item(self.layer, reference)?;
                let Some(found) = scope.items.iter().find(|known| known.output == item.output)
                else {
                    return Err(CompileError::InvalidQuery(String::new()));
                };
                if found.output == time_item.output {
                    Ok(format!("buckets.{time_name}"))
                } else {
                    Ok(format!("m.{}", quote(&found.output)))
                }
            });
            if let Ok(sql) = substituted {
                outer.push(format!("({sql})"));
            }
        }
        let outer_where = if outer.is_empty() {
            String::new()
        } else {
            format!("\nWHERE {}", outer.join(" AND "))
        };
        Ok(format!(
            "SELECT {} FROM (SELECT DISTINCT {bucket} AS {time_name} FROM {spine} AS spine{where_sql}) AS buckets\nLEFT OUTER JOIN (\n{sql}\n) AS m ON m.{time_name} = buckets.{time_name}{outer_where}",
            columns.join(", ")
        ))
    }

    /// A filter on metric_time alone, applied to a time spine's day column.
    fn spine_filter_sql(&self, filter: &ParsedFilter, day: &str) -> Result<String, CompileError> {
        filter.substitute(|reference| {
            Ok::<_, CompileError>(match reference.grain {
                Some(grain) if grain != TimeGrain::Day => self.dialect.date_trunc(grain, day),
                _ => day.to_owned(),
            })
        })
    }

    /// An input of a ratio, derived or share metric, with its own filter and offset.
    fn input_sql(
        &self,
        input: &MetricInput,
        scope: &Scope<'_>,
        output: &str,
        depth: usize,
    ) -> Result<String, CompileError> {
        let metric = self.metric(&input.name)?;
        let mut scope = scope.clone();
        for text in &input.filter {
            scope.filters.push(self.parse_filter(text)?);
        }
        if let Some(offset) = Offset::of(input) {
            let measure_level = scope.mapping == TimeMapping::Identity
                && matches!(metric.kind, MetricKind::Simple { .. });
            if scope.has_time_items() && !measure_level {
                let sql = self.offset_metric_sql(metric, &scope, offset, output, depth)?;
                return self.fill_input(sql, input, &scope, output);
            }
            if scope.has_time_items() {
                scope.mapping = TimeMapping::Offset(offset);
            } else {
                let Some(end) = scope.end else {
                    return Err(CompileError::InvalidQuery(format!(
                        "`{}` reads an earlier period, so the query needs metric_time or an end date",
                        input.reference_name()
                    )));
                };
                let shifted_end = offset.shift(end);
                let shifted_start = match offset {
                    Offset::Window(window) => {
                        scope.start.and_then(|start| sub_window(start, window))
                    }
                    Offset::ToGrain(_) | Offset::PriorPeriodEnd(_) => shifted_end,
                };
                let Some(shifted_end) = shifted_end else {
                    return Err(CompileError::InvalidQuery(format!(
                        "`{}` reads a day before the calendar's start",
                        input.reference_name()
                    )));
                };
                scope.start = shifted_start.or(scope.start);
                scope.end = Some(shifted_end);
            }
        }
        let sql = self.metric_sql(metric, &scope, output, depth + 1)?;
        self.fill_input(sql, input, &scope, output)
    }

    fn fill_input(
        &self,
        sql: String,
        input: &MetricInput,
        scope: &Scope<'_>,
        output: &str,
    ) -> Result<String, CompileError> {
        let Some(fill) = input.fill_nulls_with else {
            return Ok(sql);
        };
        let quote = |name: &str| self.dialect.quote(name);
        let mut columns: Vec<String> = scope.items.iter().map(|item| quote(&item.output)).collect();
        columns.push(format!(
            "COALESCE({}, {fill}) AS {}",
            quote(output),
            quote(output)
        ));
        Ok(format!(
            "SELECT {} FROM (\n{sql}\n) AS filled",
            columns.join(", ")
        ))
    }

    /// An offset applied to a whole metric (a derived or cumulative one, or
    /// an input already under an offset): the metric is computed per day,
    /// each output day reads the day the offset maps it to, and the days
    /// are summed into the requested buckets.
    fn offset_metric_sql(
        &self,
        metric: &Metric,
        scope: &Scope<'_>,
        offset: Offset,
        output: &str,
        depth: usize,
    ) -> Result<String, CompileError> {
        let dialect = self.dialect;
        let quote = |name: &str| dialect.quote(name);
        // The time items must all name one time dimension (metric_time, or
        // the measure's own time dimension) at various grains.
        let time_items: Vec<&GroupItem> = scope
            .items
            .iter()
            .filter(|item| item.time_grain().is_some())
            .collect();
        let Some(day_item) = time_items.first().map(|item| at_day_grain(item)) else {
            return Err(CompileError::InvalidQuery(
                "an offset needs metric_time in the group-by".to_owned(),
            ));
        };
        if time_items.iter().any(|item| at_day_grain(item) != day_item) {
            return Err(CompileError::Unsupported {
                feature: "offsets over two different time dimensions".to_owned(),
            });
        }
        let day_column = format!("inner_metric.{}", quote(&day_item.output));
        let mut inner_items: Vec<GroupItem> = scope
            .items
            .iter()
            .filter(|item| item.time_grain().is_none())
            .cloned()
            .collect();
        inner_items.push(day_item);
        let mapping = TimeMapping::Offset(offset);
        // MetricFlow bounds a cumulative input by the query's own range and
        // any other input by the range the offset reads.
        let (row_start, row_end) = if matches!(metric.kind, MetricKind::Cumulative { .. }) {
            (scope.start, scope.end)
        } else {
            mapping.row_range(scope.start, scope.end)
        };
        // Filters on metric_time alone select output days, so they apply
        // after the offset; the others apply to the input.
        let (time_filters, input_filters): (Vec<ParsedFilter>, Vec<ParsedFilter>) =
            scope.filters.iter().cloned().partition(only_metric_time);
        let inner_scope = Scope {
            items: &inner_items,
            filters: input_filters,
            start: row_start,
            end: row_end,
            mapping: scope.mapping,
        };
        let inner = self.metric_sql(metric, &inner_scope, output, depth + 1)?;

        let grains: Vec<TimeGrain> = time_items
            .iter()
            .filter_map(|item| item.time_grain())
            .collect();
        let condition = mapping.spine_condition(dialect, &day_column, &grains);
        let all_daily = grains.iter().all(|grain| *grain == TimeGrain::Day);
        let mut columns = Vec::new();
        for item in scope.items {
            let expr = match item.time_grain() {
                Some(grain) => match grain {
                    TimeGrain::Day => "ts.ds".to_owned(),
                    other => dialect.date_trunc(other, "ts.ds"),
                },
                _ => format!("inner_metric.{}", quote(&item.output)),
            };
            columns.push(format!("{expr} AS {}", quote(&item.output)));
        }
        let value = format!("inner_metric.{}", quote(output));
        let value = if all_daily {
            value
        } else {
            format!("SUM({value})")
        };
        columns.push(format!("{value} AS {}", quote(output)));
        let mut conditions = Vec::new();
        if let Some(start) = scope.start {
            conditions.push(format!("ts.ds >= {}", dialect.date_literal(start)));
        }
        if let Some(end) = scope.end {
            conditions.push(format!("ts.ds <= {}", dialect.date_literal(end)));
        }
        for filter in &time_filters {
            conditions.push(format!("({})", self.spine_filter_sql(filter, "ts.ds")?));
        }
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("\nWHERE {}", conditions.join(" AND "))
        };
        let group_by = if all_daily || scope.items.is_empty() {
            String::new()
        } else {
            let positions: Vec<String> = (1..=scope.items.len())
                .map(|index| index.to_string())
                .collect();
            format!("\nGROUP BY {}", positions.join(", "))
        };
        let spine = self.spine_relation()?;
        Ok(format!(
            "SELECT {}\nFROM {spine} AS ts\nINNER JOIN (\n{inner}\n) AS inner_metric ON {condition}{where_sql}{group_by}",
            columns.join(", ")
        ))
    }

    /// Joins subqueries that share the group-by columns and selects
    /// `values` (SQL over the parts' value columns) as `names`.
    fn combine(
        &self,
        parts: &[(String, Vec<String>)],
        items: &[GroupItem],
        values: &[String],
        names: &[String],
    ) -> Result<String, CompileError> {
        let quote = |name: &str| self.dialect.quote(name);
        let mut columns = Vec::new();
        for item in items {
            let key = quote(&item.output);
            let sources: Vec<String> = (0..parts.len())
                .map(|index| format!("p{index}.{key}"))
                .collect();
            let expr = if sources.len() == 1 {
                sources[0].clone()
            } else {
                format!("COALESCE({})", sources.join(", "))
            };
            columns.push(format!("{expr} AS {key}"));
        }
        for (value, name) in values.iter().zip(names) {
            columns.push(format!("{value} AS {}", quote(name)));
        }

        let mut from = String::new();
        for (index, (sql, _)) in parts.iter().enumerate() {
            if index == 0 {
                from.push_str(&format!("(\n{sql}\n) AS p0"));
                continue;
            }
            let conditions: Vec<String> = items
                .iter()
                .map(|item| {
                    let key = quote(&item.output);
                    let left = if index == 1 {
                        format!("p0.{key}")
                    } else {
                        let earlier: Vec<String> = (0..index)
                            .map(|earlier| format!("p{earlier}.{key}"))
                            .collect();
                        format!("COALESCE({})", earlier.join(", "))
                    };
                    self.dialect
                        .null_safe_equal(&left, &format!("p{index}.{key}"))
                })
                .collect();
            let condition = if conditions.is_empty() {
                "TRUE".to_owned()
            } else {
                conditions.join(" AND ")
            };
            from.push_str(&format!(
                "\nFULL OUTER JOIN (\n{sql}\n) AS p{index} ON {condition}"
            ));
        }
        Ok(format!("SELECT {}\nFROM {from}", columns.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn month_end_aligned_year_offset() {
        let window = Window {
            count: 1,
            grain: TimeGrain::Year,
            month_end_aligned: true,
        };
        assert_eq!(
            Offset::Window(window).shift(day("2025-02-28")),
            Some(day("2024-02-29"))
        );
        assert_eq!(
            Offset::Window(window).shift(day("2026-11-30")),
            Some(day("2025-11-30"))
        );
        assert_eq!(
            Offset::Window(window).shift(day("2026-11-15")),
            Some(day("2025-11-15"))
        );
    }

    #[test]
    fn prior_period_end() {
        assert_eq!(
            Offset::PriorPeriodEnd(TimeGrain::Year).shift(day("2026-11-30")),
            Some(day("2025-12-31"))
        );
        assert_eq!(
            Offset::PriorPeriodEnd(TimeGrain::Month).shift(day("2026-03-15")),
            Some(day("2026-02-28"))
        );
    }

    #[test]
    fn truncation() {
        assert_eq!(
            truncate_date(day("2026-11-30"), TimeGrain::Week),
            day("2026-11-30")
        );
        assert_eq!(
            truncate_date(day("2026-12-06"), TimeGrain::Week),
            day("2026-11-30")
        );
        assert_eq!(
            truncate_date(day("2026-08-15"), TimeGrain::Quarter),
            day("2026-07-01")
        );
    }
}
