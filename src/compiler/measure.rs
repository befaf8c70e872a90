//! The SQL for one measure aggregated at the query's group-by items.
//!
//! Shapes, by the measure's kind:
//! - additive: one grouped SELECT over the model and its joins. A sum over
//!   more than one day with joined models is first summed per join key
//!   ([`PreAggregation`]);
//! - semi-additive (`non_additive_dimension`): aggregated per day first,
//!   then each time bucket keeps only its last (or first) day. Over more
//!   than one day, the rows are first restricted to the days kept
//!   (`chosen_days_sql`);
//! - `average_daily`: the sum divided by the calendar days of each bucket,
//!   clipped to the query's range.
//!
//! A derived metric's offset or a cumulative window maps each output day to
//! the days of data it reads through the time spine.

use chrono::NaiveDate;

use crate::semantic::{
    Aggregation, DimensionKind, Measure, PeriodAggregation, SemanticModel, TimeGrain, WindowChoice,
};

use super::filter::{FilterReference, ParsedFilter};
use super::from::{FromBuilder, JoinKind, PreAggregation, relation_sql};
use super::resolve::{GroupItem, ItemSpec, filter_item, locate};
use super::{CompileError, Compiler, TimeMapping};

/// Everything one measure query is computed for.
pub struct MeasureRequest<'q> {
    pub model: &'q SemanticModel,
    pub measure: &'q Measure,
    pub items: &'q [GroupItem],
    pub filters: &'q [ParsedFilter],
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub mapping: TimeMapping,
    /// The name of the value column.
    pub output: &'q str,
}

impl Compiler<'_> {
    pub(super) fn measure_sql(&self, request: &MeasureRequest<'_>) -> Result<String, CompileError> {
        let (sql, period_agg) = self.measure_sql_by_day(request)?;
        let Some(period_agg) = period_agg else {
            return Ok(sql);
        };
        let dialect = self.dialect;
        let output = dialect.quote(request.output);
        let keys: Vec<String> = request
            .items
            .iter()
            .map(|item| dialect.quote(&item.output))
            .collect();
        let value = match period_agg {
            PeriodAggregation::First => dialect.min_by(&output, "__spine_day"),
            PeriodAggregation::Last => dialect.max_by(&output, "__spine_day"),
            PeriodAggregation::Average => format!("AVG({output})"),
        };
        let mut columns = keys.clone();
        columns.push(format!("{value} AS {output}"));
        let group_by = if keys.is_empty() {
            String::new()
        } else {
            format!("\nGROUP BY {}", ordinals(keys.len()))
        };
        Ok(format!(
            "SELECT {} FROM (\n{sql}\n) AS by_day{group_by}",
            columns.join(", ")
        ))
    }

    /// The measure query, and the period aggregation still to apply when a
    /// running total was computed per day for coarser buckets.
    fn measure_sql_by_day(
        &self,
        request: &MeasureRequest<'_>,
    ) -> Result<(String, Option<PeriodAggregation>), CompileError> {
        let dialect = self.dialect;
        let model = request.model;
        let measure = request.measure;
        let mut from = FromBuilder::new(self.layer, model);

        let time_dimension = self.agg_time_dimension(model, measure)?;
        let row_day = dialect.to_date(&from.column(&[], &time_dimension)?);
        let uses_spine = !matches!(request.mapping, TimeMapping::Identity);
        // The day each output row is reported at: the row's own day, or the
        // time spine's day it is mapped to.
        let output_day = if uses_spine {
            "ts.ds".to_owned()
        } else {
            row_day.clone()
        };

        // Group-by columns.
        let mut select_items = Vec::new();
        let mut time_outputs = Vec::new();
        // The time items are buckets of the output day, of these grains,
        // unless one of them is another time dimension.
        let mut day_buckets = Vec::new();
        let mut other_time_items = false;
        for item in request.items {
            let expr = match &item.spec {
                ItemSpec::MetricTime { grain } => {
                    day_buckets.push(*grain);
                    truncate(dialect, *grain, &output_day)
                }
                _ => {
                    let location = locate(self.layer, model, item)?;
                    match item.time_grain() {
                        // The measure's own time dimension is metric_time under another name.
                        Some(grain)
                            if location.path.is_empty() && location.expr == time_dimension =>
                        {
                            day_buckets.push(grain);
                            truncate(dialect, grain, &output_day)
                        }
                        Some(grain) if location.is_time => {
                            other_time_items = true;
                            truncate(
                                dialect,
                                grain,
                                &from.column(&location.path, &location.expr)?,
                            )
                        }
                        _ => from.column(&location.path, &location.expr)?,
                    }
                }
            };
            if item.time_grain().is_some() {
                time_outputs.push(item.output.clone());
            }
            select_items.push((expr, item.output.clone()));
        }

        // A running total reported at a grain coarser than a day is first
        // computed for each day, then one day's value (or the average) is
        // kept per bucket.
        let period_agg = match request.mapping {
            TimeMapping::Cumulative { period_agg, .. }
                if request.items.iter().any(|item| {
                    item.time_grain()
                        .is_some_and(|grain| grain != TimeGrain::Day)
                }) =>
            {
                select_items.push(("ts.ds".to_owned(), "__spine_day".to_owned()));
                Some(period_agg)
            }
            _ => None,
        };

        // Filters and the time range, each marked with whether it reads a
        // joined model.
        let mut conditions: Vec<(String, bool)> = Vec::new();
        for filter in request.filters {
            let mut reads_joins = false;
            let sql = filter.substitute(|reference| {
                self.filter_column(
                    model,
                    &mut from,
                    reference,
                    &output_day,
                    &time_dimension,
                    &mut reads_joins,
                )
            })?;
            let sql = inline_output_names(&sql, &select_items);
            conditions.push((format!("({sql})"), reads_joins));
        }
        let (row_start, row_end) = request.mapping.row_range(request.start, request.end);
        if let Some(start) = row_start {
            conditions.push((
                format!("{row_day} >= {}", dialect.date_literal(start)),
                false,
            ));
        }
        if let Some(end) = row_end {
            conditions.push((format!("{row_day} <= {}", dialect.date_literal(end)), false));
        }
        if uses_spine {
            if let Some(start) = request.start {
                conditions.push((format!("ts.ds >= {}", dialect.date_literal(start)), false));
            }
            if let Some(end) = request.end {
                conditions.push((format!("ts.ds <= {}", dialect.date_literal(end)), false));
            }
        }
        let single_day = matches!((row_start, row_end), (Some(first), Some(last)) if first == last);

        let value_expr = from.column(&[], &measure.expr)?;
        let non_additive = match &measure.non_additive_dimension {
            Some(non_additive) => {
                let Some(dimension) = model.dimension(&non_additive.name) else {
                    return Err(CompileError::InvalidQuery(format!(
                        "measure `{}` has an unknown non_additive_dimension `{}`",
                        measure.name, non_additive.name
                    )));
                };
                let day = dialect.to_date(&from.column(&[], &dimension.expr)?);
                let mut groupings = Vec::new();
                for entity_name in &non_additive.window_groupings {
                    let Some(entity) = model.entity(entity_name) else {
                        return Err(CompileError::InvalidQuery(format!(
                            "measure `{}` has an unknown window grouping `{entity_name}`",
                            measure.name
                        )));
                    };
                    groupings.push(from.column(&[], &entity.expr)?);
                }
                Some((day, non_additive.window_choice, groupings))
            }
            None => None,
        };

        // Two rewrites that keep the rows but read fewer of them. Both need
        // the rows of more than one day, an output day that is the row's own
        // day, and joins that keep every row of the measure's model.
        let may_rewrite = !uses_spine && !single_day && from.join_kind == JoinKind::LeftOuter;
        match &non_additive {
            Some((day, choice, groupings))
                if may_rewrite
                    && groupings.is_empty()
                    && *day == row_day
                    && !other_time_items
                    && !day_buckets.contains(&TimeGrain::Day)
                    && conditions.iter().all(|(_, reads_joins)| !reads_joins) =>
            {
                let chosen =
                    self.chosen_days_sql(&from, &conditions, day, *choice, &day_buckets)?;
                conditions.push((format!("{day} IN (\n{chosen}\n)"), false));
            }
            None if may_rewrite
                && from.has_joins()
                && matches!(measure.agg, Aggregation::Sum | Aggregation::AverageDaily) =>
            {
                if let Some(pre_aggregation) =
                    pre_aggregation(&from, &select_items, &conditions, &value_expr, &row_day)
                {
                    from.pre_aggregate(pre_aggregation);
                    conditions.retain(|(_, reads_joins)| *reads_joins);
                }
            }
            _ => {}
        }

        let mut from_sql = from.render(dialect, &self.options)?;
        if uses_spine {
            let spine = self.spine_relation()?;
            let grains: Vec<TimeGrain> = request
                .items
                .iter()
                .filter_map(GroupItem::time_grain)
                .collect();
            let condition = request.mapping.spine_condition(dialect, &row_day, &grains);
            from_sql.push_str(&format!("\n  INNER JOIN {spine} AS ts ON {condition}"));
        }
        let where_sql = where_clause(&conditions);

        let quote = |name: &str| dialect.quote(name);
        let output = quote(request.output);
        match non_additive {
            None => {
                let aggregate = aggregate_sql(measure, &value_expr)?;
                let mut columns: Vec<String> = select_items
                    .iter()
                    .map(|(expr, name)| format!("{expr} AS {}", quote(name)))
                    .collect();
                if measure.agg == Aggregation::AverageDaily {
                    columns.push(format!("{aggregate} AS __sum"));
                    let grouped =
                        grouped_select(&columns, &from_sql, &where_sql, select_items.len());
                    let days = self.days_expr(request, &time_outputs, &row_day, model)?;
                    let keys: Vec<String> =
                        select_items.iter().map(|(_, name)| quote(name)).collect();
                    let mut outer = keys.clone();
                    outer.push(format!("CAST(__sum AS DOUBLE) / {days} AS {output}"));
                    return Ok((
                        format!("SELECT {} FROM (\n{grouped}\n) AS sums", outer.join(", ")),
                        period_agg,
                    ));
                }
                columns.push(format!("{aggregate} AS {output}"));
                Ok((
                    grouped_select(&columns, &from_sql, &where_sql, select_items.len()),
                    period_agg,
                ))
            }
            Some((day, _, groupings)) if groupings.is_empty() && single_day && day == row_day => {
                // Every row is of the same day, which each bucket then keeps.
                // Without a group-by item, HAVING keeps the result empty when
                // no row has data, as the per-day grouping does.
                let aggregate = aggregate_sql(measure, &value_expr)?;
                let mut columns: Vec<String> = select_items
                    .iter()
                    .map(|(expr, name)| format!("{expr} AS {}", quote(name)))
                    .collect();
                columns.push(format!("{aggregate} AS {output}"));
                let mut sql = grouped_select(&columns, &from_sql, &where_sql, select_items.len());
                if select_items.is_empty() {
                    sql.push_str("\nHAVING COUNT(*) > 0");
                }
                Ok((sql, period_agg))
            }
            Some((day, choice, groupings)) if groupings.is_empty() => {
                // Aggregate per day, then keep each bucket's last (or first) day.
                let aggregate = aggregate_sql(measure, &value_expr)?;
                let mut columns: Vec<String> = select_items
                    .iter()
                    .map(|(expr, name)| format!("{expr} AS {}", quote(name)))
                    .collect();
                columns.push(format!("{day} AS __day"));
                columns.push(format!("{aggregate} AS {output}"));
                let grouped =
                    grouped_select(&columns, &from_sql, &where_sql, select_items.len() + 1);
                let window = window_sql(choice, &time_outputs, dialect);
                let keys: Vec<String> = select_items.iter().map(|(_, name)| quote(name)).collect();
                let mut outer = keys;
                outer.push(output);
                Ok((
                    format!(
                        "SELECT {} FROM (\nSELECT *, {window} AS __chosen_day FROM (\n{grouped}\n) AS daily\n) AS ranked\nWHERE __day = __chosen_day",
                        outer.join(", ")
                    ),
                    period_agg,
                ))
            }
            Some((day, choice, groupings)) => {
                // Window groupings: each entity keeps its own last (or first) day.
                let mut columns: Vec<String> = select_items
                    .iter()
                    .map(|(expr, name)| format!("{expr} AS {}", quote(name)))
                    .collect();
                columns.push(format!("{day} AS __day"));
                columns.push(format!("{value_expr} AS __value"));
                let mut partition: Vec<String> =
                    time_outputs.iter().map(|name| quote(name)).collect();
                for (index, grouping) in groupings.iter().enumerate() {
                    columns.push(format!("{grouping} AS __grouping_{index}"));
                    partition.push(format!("__grouping_{index}"));
                }
                let rows = format!("SELECT {} FROM {from_sql}{where_sql}", columns.join(", "));
                let function = match choice {
                    WindowChoice::Max => "MAX",
                    WindowChoice::Min => "MIN",
                };
                let over = if partition.is_empty() {
                    String::new()
                } else {
                    format!("PARTITION BY {}", partition.join(", "))
                };
                let aggregate = aggregate_sql(measure, "__value")?;
                let keys: Vec<String> = select_items.iter().map(|(_, name)| quote(name)).collect();
                let mut outer = keys.clone();
                outer.push(format!("{aggregate} AS {output}"));
                let group_by = if keys.is_empty() {
                    String::new()
                } else {
                    format!("\nGROUP BY {}", ordinals(keys.len()))
                };
                Ok((
                    format!(
                        "SELECT {} FROM (\nSELECT *, {function}(__day) OVER ({over}) AS __chosen_day FROM (\n{rows}\n) AS measure_rows\n) AS ranked\nWHERE __day = __chosen_day{group_by}",
                        outer.join(", ")
                    ),
                    period_agg,
                ))
            }
        }
    }

    /// Resolves one filter reference to a SQL expression over the FROM clause.
    fn filter_column(
        &self,
        model: &SemanticModel,
        from: &mut FromBuilder<'_>,
        reference: &FilterReference,
        output_day: &str,
        time_dimension: &str,
        reads_joins: &mut bool,
    ) -> Result<String, CompileError> {
        let item = filter_item(self.layer, reference).map_err(|error| match error {
            CompileError::UnknownGroupBy { name, suggestion } => CompileError::InvalidFilter {
                filter: name,
                reason: match suggestion {
                    Some(suggestion) => format!("unknown name; did you mean `{suggestion}`?"),
                    None => "unknown name".to_owned(),
                },
            },
            other => other,
        })?;
        if let ItemSpec::MetricTime { grain } = item.spec {
            return Ok(truncate(self.dialect, grain, output_day));
        }
        let location = locate(self.layer, model, &item)?;
        if location.path.is_empty() && location.is_time && location.expr == time_dimension {
            let grain = item.time_grain().unwrap_or(TimeGrain::Day);
            return Ok(truncate(self.dialect, grain, output_day));
        }
        if !location.path.is_empty() {
            *reads_joins = true;
        }
        let column = from.column(&location.path, &location.expr)?;
        Ok(match item.time_grain() {
            Some(grain) if location.is_time => truncate(self.dialect, grain, &column),
            _ => column,
        })
    }

    /// A query of the days a semi-additive measure keeps: the last (or
    /// first) day with rows in each time bucket, over the measure's model
    /// alone and under `conditions`, which must not read joined models.
    ///
    /// Restricting the rows to these days first returns the same rows,
    /// because the kept day of every bucket is among them. It lets DuckDB
    /// skip the other days' row groups instead of summing every day.
    fn chosen_days_sql(
        &self,
        from: &FromBuilder<'_>,
        conditions: &[(String, bool)],
        day: &str,
        choice: WindowChoice,
        buckets: &[TimeGrain],
    ) -> Result<String, CompileError> {
        let base = from.render_base(self.dialect, &self.options)?;
        let where_sql = where_clause(conditions);
        let function = match choice {
            WindowChoice::Max => "MAX",
            WindowChoice::Min => "MIN",
        };
        if buckets.is_empty() {
            return Ok(format!("SELECT {function}({day})\nFROM {base}{where_sql}"));
        }
        // DuckDB groups a few thousand distinct days much faster than
        // every row by a truncated date.
        let mut grains = buckets.to_vec();
        grains.sort_by_key(|grain| grain.name());
        grains.dedup();
        let keys: Vec<String> = grains
            .iter()
            .map(|grain| truncate(self.dialect, *grain, "__day"))
            .collect();
        Ok(format!(
            "SELECT {function}(__day) FROM (\nSELECT DISTINCT {day} AS __day\nFROM {base}{where_sql}\n) AS days\nGROUP BY {}",
            keys.join(", ")
        ))
    }

    fn agg_time_dimension(
        &self,
        model: &SemanticModel,
        measure: &Measure,
    ) -> Result<String, CompileError> {
        let name = measure
            .agg_time_dimension
            .as_ref()
            .or(model.default_agg_time_dimension.as_ref())
            .ok_or_else(|| {
                CompileError::InvalidQuery(format!(
                    "measure `{}` has no agg_time_dimension and semantic model `{}` no default",
                    measure.name, model.name
                ))
            })?;
        match model.dimension(name) {
            Some(dimension) if dimension.unsupported.is_some() => Err(CompileError::Unsupported {
                feature: dimension.unsupported.clone().unwrap_or_default(),
            }),
            Some(dimension) if matches!(dimension.kind, DimensionKind::Time { .. }) => {
                Ok(dimension.expr.clone())
            }
            _ => Err(CompileError::InvalidQuery(format!(
                "agg_time_dimension `{name}` of measure `{}` is not a time dimension of `{}`",
                measure.name, model.name
            ))),
        }
    }

    pub(super) fn spine_relation(&self) -> Result<String, CompileError> {
        let spine = self.layer.day_time_spine().ok_or_else(|| {
            CompileError::InvalidQuery(
                "this query needs a day-grain time spine; declare one in project_configuration"
                    .to_owned(),
            )
        })?;
        let relation = relation_sql(&spine.relation, self.dialect, &self.options);
        Ok(format!(
            "(SELECT {} AS ds FROM {relation})",
            self.dialect.to_date(&self.dialect.quote(&spine.column))
        ))
    }

    /// The number of days each output row averages over.
    fn days_expr(
        &self,
        request: &MeasureRequest<'_>,
        time_outputs: &[String],
        row_day: &str,
        model: &SemanticModel,
    ) -> Result<String, CompileError> {
        let dialect = self.dialect;
        let relation = relation_sql(&model.relation, dialect, &self.options);
        let time_dimension = self.agg_time_dimension(model, request.measure)?;
        let _ = row_day;
        let start = match request.start {
            Some(start) => dialect.date_literal(start),
            None => format!(
                "(SELECT {} FROM {relation})",
                dialect.to_date(&format!("MIN({time_dimension})"))
            ),
        };
        let end = match request.end {
            Some(end) => dialect.date_literal(end),
            None => format!(
                "(SELECT {} FROM {relation})",
                dialect.to_date(&format!("MAX({time_dimension})"))
            ),
        };
        let metric_time = request.items.iter().find(|item| item.is_metric_time());
        let Some(item) = metric_time.filter(|item| time_outputs.contains(&item.output)) else {
            return Ok(format!("({} + 1)", dialect.days_between(&start, &end)));
        };
        let grain = item.time_grain().unwrap_or(TimeGrain::Day);
        let bucket = dialect.quote(&item.output);
        let bucket_end = dialect.date_sub(&dialect.date_sub(&bucket, -1, grain), 1, TimeGrain::Day);
        Ok(format!(
            "({} + 1)",
            dialect.days_between(
                &format!("GREATEST({bucket}, {start})"),
                &format!("LEAST({bucket_end}, {end})")
            )
        ))
    }
}

fn truncate(dialect: &dyn super::Dialect, grain: TimeGrain, expr: &str) -> String {
    match grain {
        TimeGrain::Day => dialect.to_date(expr),
        other => dialect.date_trunc(other, expr),
    }
}

fn ordinals(count: usize) -> String {
    (1..=count)
        .map(|index| index.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn where_clause(conditions: &[(String, bool)]) -> String {
    if conditions.is_empty() {
        return String::new();
    }
    let conditions: Vec<&str> = conditions.iter().map(|(sql, _)| sql.as_str()).collect();
    format!("\nWHERE {}", conditions.join("\n  AND "))
}

/// Plans the sum of an additive measure per key of the measure's model
/// before the joins (see [`PreAggregation`]), or returns None when that
/// would not shrink the rows or could change the result.
///
/// The keys are the base columns that group-by items, join conditions and
/// conditions on joined models read. Conditions on the base alone move
/// inside the sum. The plan is rejected when a key is the row's day, since
/// a daily model then has about one row per key, or when anything outside
/// the sum reads the summed column.
fn pre_aggregation(
    from: &FromBuilder<'_>,
    select_items: &[(String, String)],
    conditions: &[(String, bool)],
    value_expr: &str,
    row_day: &str,
) -> Option<PreAggregation> {
    let [value] = base_columns(value_expr)[..] else {
        return None;
    };
    if value_expr != format!("src.c{value}") {
        return None;
    }
    let mut keys = from.base_join_columns();
    for (expr, _) in select_items {
        keys.extend(base_columns(expr));
    }
    for (sql, reads_joins) in conditions {
        if *reads_joins {
            keys.extend(base_columns(sql));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    let day_keys = base_columns(row_day);
    if keys.is_empty() || keys.contains(&value) || keys.iter().any(|key| day_keys.contains(key)) {
        return None;
    }
    let inner = conditions
        .iter()
        .filter(|(_, reads_joins)| !reads_joins)
        .map(|(sql, _)| sql.clone())
        .collect();
    Some(PreAggregation {
        keys,
        value,
        conditions: inner,
    })
}

/// Positions of the base columns (`src.c<N>`) that a SQL fragment written by
/// the compiler reads.
fn base_columns(sql: &str) -> Vec<usize> {
    const PREFIX: &str = "src.c";
    let mut positions = Vec::new();
    let mut rest = sql;
    let mut offset = 0;
    while let Some(found) = rest.find(PREFIX) {
        let start = offset + found;
        let preceded_by_name = sql[..start]
            .chars()
            .next_back()
            .is_some_and(|before| before.is_alphanumeric() || before == '_' || before == '.');
        let digits: String = sql[start + PREFIX.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if !preceded_by_name && let Ok(position) = digits.parse::<usize>() {
            positions.push(position);
        }
        offset = start + PREFIX.len();
        rest = &sql[offset..];
    }
    positions
}

fn grouped_select(columns: &[String], from_sql: &str, where_sql: &str, keys: usize) -> String {
    let group_by = if keys == 0 {
        String::new()
    } else {
        format!("\nGROUP BY {}", ordinals(keys))
    };
    format!(
        "SELECT {}\nFROM {from_sql}{where_sql}{group_by}",
        columns.join(", ")
    )
}

fn window_sql(choice: WindowChoice, partition: &[String], dialect: &dyn super::Dialect) -> String {
    let function = match choice {
        WindowChoice::Max => "MAX",
        WindowChoice::Min => "MIN",
    };
    if partition.is_empty() {
        return format!("{function}(__day) OVER ()");
    }
    let keys: Vec<String> = partition.iter().map(|name| dialect.quote(name)).collect();
    format!("{function}(__day) OVER (PARTITION BY {})", keys.join(", "))
}

fn aggregate_sql(measure: &Measure, expr: &str) -> Result<String, CompileError> {
    Ok(match measure.agg {
        Aggregation::Sum | Aggregation::AverageDaily => format!("SUM({expr})"),
        Aggregation::SumBoolean => format!("SUM(CAST({expr} AS INTEGER))"),
        Aggregation::Count => format!("COUNT({expr})"),
        Aggregation::CountDistinct => format!("COUNT(DISTINCT {expr})"),
        Aggregation::Min => format!("MIN({expr})"),
        Aggregation::Max => format!("MAX({expr})"),
        Aggregation::Average => format!("AVG({expr})"),
        Aggregation::Median => format!("PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {expr})"),
        Aggregation::Percentile => {
            return Err(CompileError::Unsupported {
                feature: "percentiles".to_owned(),
            });
        }
    })
}

impl Compiler<'_> {
    /// The distinct combinations of the group-by items, for a query with no
    /// metric. Dimensions come from one semantic model and the models joined
    /// to it; metric_time comes from the time spine.
    pub(super) fn dimension_values_sql(
        &self,
        items: &[GroupItem],
        filters: &[ParsedFilter],
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<String, CompileError> {
        let dialect = self.dialect;
        let dimension_items: Vec<&GroupItem> =
            items.iter().filter(|item| !item.is_metric_time()).collect();
        let has_time = items.iter().any(GroupItem::is_metric_time);
        let spine_day = "ts.ds";

        // The base model must also reach what the filters name.
        let mut reachable = dimension_items.clone();
        let mut filter_items = Vec::new();
        for filter in filters {
            for reference in filter.used_references() {
                let item = filter_item(self.layer, reference)?;
                if !item.is_metric_time() {
                    filter_items.push(item);
                }
            }
        }
        reachable.extend(filter_items.iter());
        let base = self.dimension_base(&reachable)?;
        let mut from = base.map(|model| {
            let mut builder = FromBuilder::new(self.layer, model);
            // Values of dimension tables are listed even where the other
            // side of the join has no match, as MetricFlow does.
            if model.has_key_column() {
                builder.join_kind = JoinKind::FullOuter;
            }
            builder
        });

        let mut columns = Vec::new();
        for item in items {
            let expr = match (&item.spec, from.as_mut(), base) {
                (ItemSpec::MetricTime { grain }, _, _) => truncate(dialect, *grain, spine_day),
                (_, Some(builder), Some(model)) => {
                    let location = locate(self.layer, model, item)?;
                    let column = builder.column(&location.path, &location.expr)?;
                    match item.time_grain() {
                        Some(grain) if location.is_time => truncate(dialect, grain, &column),
                        _ => column,
                    }
                }
                _ => {
                    return Err(CompileError::InvalidQuery(
                        "no semantic model contains these items".to_owned(),
                    ));
                }
            };
            columns.push(format!("{expr} AS {}", dialect.quote(&item.output)));
        }

        let mut conditions = Vec::new();
        for filter in filters {
            let sql = filter.substitute(|reference| {
                let item = filter_item(self.layer, reference)?;
                if let ItemSpec::MetricTime { grain } = item.spec {
                    if !has_time {
                        return Err(CompileError::InvalidQuery(
                            "a filter on metric_time needs metric_time in the group-by".to_owned(),
                        ));
                    }
                    return Ok(truncate(dialect, grain, spine_day));
                }
                let (Some(builder), Some(model)) = (from.as_mut(), base) else {
                    return Err(CompileError::InvalidQuery(
                        "no semantic model contains the items of this filter".to_owned(),
                    ));
                };
                let location = locate(self.layer, model, &item)?;
                let column = builder.column(&location.path, &location.expr)?;
                Ok(match item.time_grain() {
                    Some(grain) if location.is_time => truncate(dialect, grain, &column),
                    _ => column,
                })
            })?;
            conditions.push(format!("({sql})"));
        }
        if has_time {
            if let Some(start) = start {
                conditions.push(format!("{spine_day} >= {}", dialect.date_literal(start)));
            }
            if let Some(end) = end {
                conditions.push(format!("{spine_day} <= {}", dialect.date_literal(end)));
            }
        }

        let spine = if has_time {
            Some(self.spine_relation()?)
        } else {
            None
        };
        let from_sql = match (from, spine) {
            (Some(builder), Some(spine)) => {
                let cross_join = format!("\n  CROSS JOIN {spine} AS ts");
                builder.render_with(dialect, &self.options, Some(&cross_join))?
            }
            (Some(builder), None) => builder.render(dialect, &self.options)?,
            (None, Some(spine)) => format!("{spine} AS ts"),
            (None, None) => {
                return Err(CompileError::InvalidQuery(
                    "a query needs at least one group-by item".to_owned(),
                ));
            }
        };
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("\nWHERE {}", conditions.join("\n  AND "))
        };
        Ok(grouped_select(&columns, &from_sql, &where_sql, items.len()))
    }

    /// The semantic model every dimension item can be reached from,
    /// preferring the one that contains the first item itself.
    fn dimension_base(&self, items: &[&GroupItem]) -> Result<Option<&SemanticModel>, CompileError> {
        let Some(first) = items.first() else {
            return Ok(None);
        };
        let reaches_all = |model: &SemanticModel| {
            items
                .iter()
                .all(|item| locate(self.layer, model, item).is_ok())
        };
        let holds_first = |model: &SemanticModel| {
            locate(self.layer, model, first).is_ok_and(|location| location.path.is_empty())
        };
        let models = &self.layer.semantic_models;
        let chosen = models
            .iter()
            .find(|model| holds_first(model) && reaches_all(model))
            .or_else(|| models.iter().find(|model| reaches_all(model)));
        match chosen {
            Some(model) => Ok(Some(model)),
            None => Err(CompileError::InvalidQuery(format!(
                "no semantic model reaches all of {}",
                items
                    .iter()
                    .map(|item| format!("`{}`", item.output))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// Replaces a bare column name in a filter that names one of the query's
/// outputs (`metric_time__day >= '2020-01-01'`, written as plain SQL rather
/// than a template) with that output's expression. DuckDB resolves a
/// select-list alias inside WHERE; Spark SQL does not, so the expression
/// must be written out. A filter that does not parse is left as written.
fn inline_output_names(sql: &str, outputs: &[(String, String)]) -> String {
    let named: Vec<&(String, String)> = outputs
        .iter()
        .filter(|(_, name)| sql.contains(name.as_str()))
        .collect();
    if named.is_empty() {
        return sql.to_owned();
    }
    super::replace_identifiers(sql, |ident| {
        named
            .iter()
            .find(|(_, name)| *name == ident.value)
            .map(|(expr, _)| format!("({expr})"))
    })
    .unwrap_or_else(|| sql.to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::NaiveDate;

    use super::base_columns;

    use crate::compiler::{CompileOptions, MetricQuery, compile};
    use crate::semantic::{SemanticLayer, load_dir};

    fn bank_layer() -> SemanticLayer {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("semantic_layer");
        load_dir(&dir).unwrap_or_else(|diagnostics| panic!("{diagnostics}"))
    }

    fn compiled_sql(metric: &str, group_by: &[&str], start: &str, end: &str) -> String {
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        let query = MetricQuery {
            metrics: vec![metric.to_owned()],
            group_by: group_by.iter().map(|item| (*item).to_owned()).collect(),
            start: Some(date(start)),
            end: Some(date(end)),
            ..MetricQuery::default()
        };
        compile(&bank_layer(), &query, &CompileOptions::default())
            .unwrap()
            .sql
    }

    #[test]
    fn base_columns_finds_each_reference() {
        assert_eq!(base_columns("CAST(src.c0 AS DATE) >= src.c12"), [0, 12]);
        assert_eq!(base_columns("j1.c0 = src.c3"), [3]);
        assert!(base_columns("mysrc.c1 + x.src.c2 + src.cx").is_empty());
    }

    #[test]
    fn monthly_balance_reads_chosen_days() {
        let sql = compiled_sql(
            "deposit_balance",
            &["metric_time__month"],
            "2026-01-01",
            "2026-11-30",
        );
        assert!(
            sql.contains("SELECT DISTINCT CAST(src.c0 AS DATE)"),
            "{sql}"
        );
        assert!(
            sql.contains(") AS days\nGROUP BY CAST(DATE_TRUNC('month', __day) AS DATE)"),
            "{sql}"
        );
    }

    #[test]
    fn one_day_balance_sums_that_day() {
        let sql = compiled_sql("deposit_balance", &[], "2026-11-30", "2026-11-30");
        assert!(!sql.contains("AS days"), "{sql}");
        assert!(!sql.contains("__chosen_day"), "{sql}");
        assert!(sql.contains("\nHAVING COUNT(*) > 0"), "{sql}");
    }

    #[test]
    fn one_day_balance_by_branch_groups_by_branch() {
        let sql = compiled_sql(
            "deposit_balance",
            &["branch__branch_name"],
            "2026-11-30",
            "2026-11-30",
        );
        assert!(!sql.contains("__chosen_day"), "{sql}");
        assert!(!sql.contains("HAVING"), "{sql}");
        assert!(sql.contains("\nGROUP BY 1\n"), "{sql}");
    }

    #[test]
    fn daily_balance_has_no_chosen_days() {
        let sql = compiled_sql(
            "deposit_balance",
            &["metric_time__day"],
            "2026-11-01",
            "2026-11-30",
        );
        assert!(!sql.contains("AS days"), "{sql}");
    }

    #[test]
    fn average_by_category_sums_before_join() {
        let sql = compiled_sql(
            "average_daily_balance",
            &["product__product_category"],
            "2026-01-01",
            "2026-11-30",
        );
        assert!(
            sql.contains("FROM (SELECT src.c1 AS c1, SUM(src.c2) AS c2\n"),
            "{sql}"
        );
        assert!(
            sql.contains("  GROUP BY 1) AS src\n  LEFT OUTER JOIN"),
            "{sql}"
        );
    }

    #[test]
    fn daily_average_by_category_joins_rows() {
        let sql = compiled_sql(
            "average_daily_balance",
            &["metric_time__day", "product__product_category"],
            "2026-01-01",
            "2026-11-30",
        );
        assert!(!sql.contains("SUM(src.c2) AS c2"), "{sql}");
    }

    #[test]
    fn one_day_average_by_category_joins_rows() {
        let sql = compiled_sql(
            "average_daily_balance",
            &["product__product_category"],
            "2026-11-30",
            "2026-11-30",
        );
        assert!(!sql.contains("SUM(src.c2) AS c2"), "{sql}");
    }

    #[test]
    fn plain_filter_output_names_inlined() {
        let outputs = vec![(
            "CAST(src.c0 AS DATE)".to_owned(),
            "metric_time__day".to_owned(),
        )];

        let inlined = super::inline_output_names("metric_time__day >= '2020-01-01'", &outputs);
        let untouched = super::inline_output_names("src.c1 > 3", &outputs);
        let qualified = super::inline_output_names("p.metric_time__day > 3", &outputs);

        assert_eq!(inlined, "(CAST(src.c0 AS DATE)) >= '2020-01-01'");
        assert_eq!(untouched, "src.c1 > 3");
        assert_eq!(qualified, "p.metric_time__day > 3");
    }
}
