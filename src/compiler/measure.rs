//! The SQL for one measure aggregated at the query's group-by items.
//!
//! Shapes, by the measure's kind:
//! - additive: one grouped SELECT over the model and its joins;
//! - semi-additive (`non_additive_dimension`): aggregated per day first,
//!   then each time bucket keeps only its last (or first) day;
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
use super::from::{FromBuilder, JoinKind, relation_sql};
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
        for item in request.items {
            let expr = match &item.spec {
                ItemSpec::MetricTime { grain } => truncate(dialect, *grain, &output_day),
                _ => {
                    let location = locate(self.layer, model, item)?;
                    match item.time_grain() {
                        // The measure's own time dimension is metric_time under another name.
                        Some(grain)
                            if location.path.is_empty() && location.expr == time_dimension =>
                        {
                            truncate(dialect, grain, &output_day)
                        }
                        Some(grain) if location.is_time => truncate(
                            dialect,
                            grain,
                            &from.column(&location.path, &location.expr)?,
                        ),
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

        // Filters and the time range.
        let mut conditions = Vec::new();
        for filter in request.filters {
            let sql = filter.substitute(|reference| {
                self.filter_column(model, &mut from, reference, &output_day, &time_dimension)
            })?;
            conditions.push(format!("({sql})"));
        }
        let (row_start, row_end) = request.mapping.row_range(request.start, request.end);
        if let Some(start) = row_start {
            conditions.push(format!("{row_day} >= {}", dialect.date_literal(start)));
        }
        if let Some(end) = row_end {
            conditions.push(format!("{row_day} <= {}", dialect.date_literal(end)));
        }
        if uses_spine {
            if let Some(start) = request.start {
                conditions.push(format!("ts.ds >= {}", dialect.date_literal(start)));
            }
            if let Some(end) = request.end {
                conditions.push(format!("ts.ds <= {}", dialect.date_literal(end)));
            }
        }

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
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("\nWHERE {}", conditions.join("\n  AND "))
        };

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
        let column = from.column(&location.path, &location.expr)?;
        Ok(match item.time_grain() {
            Some(grain) if location.is_time => truncate(self.dialect, grain, &column),
            _ => column,
        })
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
