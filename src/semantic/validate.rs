//! Checks that need the whole semantic layer: duplicate names, references
//! between objects, cycles, filters and expressions; and, given a
//! warehouse, that every column an expression reads exists.

use std::collections::{BTreeMap, BTreeSet};

use sqlparser::ast::{Expr, Visit, Visitor};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

use crate::compiler::filter::{ReferenceKind, parse_filter};
use crate::warehouse::Warehouse;
use crate::yaml::Span;

use super::reader::closest;
use super::{Diagnostic, DimensionKind, Metric, MetricInput, MetricKind, Relation, SemanticLayer};

fn diagnostic(file: &str, span: Span, message: String, suggestion: Option<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: span.line,
        column: span.column,
        message,
        suggestion,
    }
}

pub(crate) fn validate(layer: &SemanticLayer, diagnostics: &mut Vec<Diagnostic>) {
    check_duplicates(layer, diagnostics);
    check_models(layer, diagnostics);
    check_metric_references(layer, diagnostics);
    check_cycles(layer, diagnostics);
    check_custom_granularities(layer, diagnostics);
    if let Some(name) = &layer.default_metric
        && layer.metric(name).is_none()
    {
        diagnostics.push(Diagnostic {
            file: "project_configuration".to_owned(),
            line: 0,
            column: 0,
            message: format!("`default_metric` names unknown metric `{name}`"),
            suggestion: closest(
                name,
                layer.metrics.iter().map(|metric| metric.name.as_str()),
            ),
        });
    }
}

/// Reports window units that are neither a standard grain nor declared as
/// a custom granularity of a time spine (most often a typo).
fn check_custom_granularities(layer: &SemanticLayer, diagnostics: &mut Vec<Diagnostic>) {
    for (file, span, unit) in &layer.custom_granularity_uses {
        let singular = unit.strip_suffix('s').unwrap_or(unit);
        let declared = layer
            .custom_granularities
            .iter()
            .any(|name| name == unit || name == singular);
        if !declared {
            let mut candidates: Vec<&str> = vec!["day", "week", "month", "quarter", "year"];
            candidates.extend(layer.custom_granularities.iter().map(String::as_str));
            diagnostics.push(diagnostic(
                file,
                *span,
                format!("unknown time granularity `{unit}` in a window"),
                closest(singular, candidates),
            ));
        }
    }
}

fn check_duplicates(layer: &SemanticLayer, diagnostics: &mut Vec<Diagnostic>) {
    let mut models = BTreeSet::new();
    let mut measures = BTreeSet::new();
    for model in &layer.semantic_models {
        if !models.insert(model.name.as_str()) {
            diagnostics.push(diagnostic(
                &model.file,
                model.span,
                format!("duplicate semantic model `{}`", model.name),
                None,
            ));
        }
        let mut names = BTreeSet::new();
        for (name, span) in model
            .entities
            .iter()
            .map(|entity| (&entity.name, entity.span))
            .chain(
                model
                    .dimensions
                    .iter()
                    .map(|dimension| (&dimension.name, dimension.span)),
            )
        {
            if !names.insert(name.as_str()) {
                diagnostics.push(diagnostic(
                    &model.file,
                    span,
                    format!(
                        "duplicate entity or dimension `{name}` in semantic model `{}`",
                        model.name
                    ),
                    None,
                ));
            }
        }
        for measure in &model.measures {
            if !measures.insert(measure.name.as_str()) {
                diagnostics.push(diagnostic(
                    &model.file,
                    measure.span,
                    format!(
                        "duplicate measure `{}`; measure names are global",
                        measure.name
                    ),
                    None,
                ));
            }
        }
    }
    let mut metrics: BTreeMap<&str, &Metric> = BTreeMap::new();
    for metric in &layer.metrics {
        match metrics.get(metric.name.as_str()) {
            Some(first) => diagnostics.push(diagnostic(
                &metric.file,
                metric.span,
                format!(
                    "duplicate metric `{}`; it is first defined at {}:{}",
                    metric.name, first.file, first.span
                ),
                None,
            )),
            None => {
                metrics.insert(&metric.name, metric);
            }
        }
    }
}

fn check_models(layer: &SemanticLayer, diagnostics: &mut Vec<Diagnostic>) {
    for model in &layer.semantic_models {
        let time_dimensions: Vec<&str> = model
            .dimensions
            .iter()
            .filter(|dimension| matches!(dimension.kind, DimensionKind::Time { .. }))
            .map(|dimension| dimension.name.as_str())
            .collect();
        let check_time_dimension =
            |name: &str, span: Span, role: &str, diagnostics: &mut Vec<Diagnostic>| {
                if !time_dimensions.contains(&name) {
                    diagnostics.push(diagnostic(
                        &model.file,
                        span,
                        format!(
                            "{role} `{name}` is not a time dimension of semantic model `{}`",
                            model.name
                        ),
                        closest(name, time_dimensions.iter().copied()),
                    ));
                }
            };
        if let Some(name) = &model.default_agg_time_dimension {
            check_time_dimension(name, model.span, "defaults.agg_time_dimension", diagnostics);
        }
        for measure in &model.measures {
            match &measure.agg_time_dimension {
                Some(name) => {
                    check_time_dimension(name, measure.span, "agg_time_dimension", diagnostics)
                }
                None if model.default_agg_time_dimension.is_none() => {
                    diagnostics.push(diagnostic(
                        &model.file,
                        measure.span,
                        format!(
                            "measure `{}` has no agg_time_dimension and semantic model `{}` sets no `defaults.agg_time_dimension`",
                            measure.name, model.name
                        ),
                        None,
                    ));
                }
                None => {}
            }
            if let Some(non_additive) = &measure.non_additive_dimension {
                check_time_dimension(
                    &non_additive.name,
                    non_additive.span,
                    "non_additive_dimension",
                    diagnostics,
                );
                for grouping in &non_additive.window_groupings {
                    if model.entity(grouping).is_none() {
                        diagnostics.push(diagnostic(
                            &model.file,
                            non_additive.span,
                            format!(
                                "window grouping `{grouping}` is not an entity of semantic model `{}`",
                                model.name
                            ),
                            closest(grouping, model.entities.iter().map(|entity| entity.name.as_str())),
                        ));
                    }
                }
            }
        }
    }
}

/// True when the metric's inputs name measures rather than metrics.
fn reads_measures(metric: &Metric, layer: &SemanticLayer) -> bool {
    match &metric.kind {
        MetricKind::Simple { .. } => true,
        // A cumulative metric of the newer spec names a metric instead.
        MetricKind::Cumulative { measure, .. } => {
            layer.measure(&measure.name).is_some() || layer.metric(&measure.name).is_none()
        }
        _ => false,
    }
}

fn check_metric_references(layer: &SemanticLayer, diagnostics: &mut Vec<Diagnostic>) {
    let measure_names: Vec<&str> = layer
        .semantic_models
        .iter()
        .flat_map(|model| model.measures.iter().map(|measure| measure.name.as_str()))
        .collect();
    let metric_names: Vec<&str> = layer
        .metrics
        .iter()
        .map(|metric| metric.name.as_str())
        .collect();

    for metric in &layer.metrics {
        let by_measure = reads_measures(metric, layer);
        for input in metric.inputs() {
            let (known, kind) = if by_measure {
                (&measure_names, "measure")
            } else {
                (&metric_names, "metric")
            };
            if !known.contains(&input.name.as_str()) {
                diagnostics.push(diagnostic(
                    &metric.file,
                    input.span,
                    format!(
                        "metric `{}` refers to unknown {kind} `{}`",
                        metric.name, input.name
                    ),
                    closest(&input.name, known.iter().copied()),
                ));
            }
            for filter in &input.filter {
                check_filter(layer, filter, &metric.file, input.span, diagnostics);
            }
        }
        for filter in &metric.filter {
            let span = metric.filter_span.unwrap_or(metric.span);
            check_filter(layer, filter, &metric.file, span, diagnostics);
        }
        if let MetricKind::Derived { expr, inputs } = &metric.kind {
            check_derived_expr(metric, expr, inputs, diagnostics);
        }
    }
}

/// Checks a filter's Jinja and that each name in it exists.
fn check_filter(
    layer: &SemanticLayer,
    filter: &str,
    file: &str,
    span: Span,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let parsed = match parse_filter(filter) {
        Ok(parsed) => parsed,
        Err(reason) => {
            diagnostics.push(diagnostic(
                file,
                span,
                format!("invalid filter `{filter}`: {reason}"),
                None,
            ));
            return;
        }
    };
    for reference in parsed.used_references() {
        if reference.kind == ReferenceKind::Metric {
            continue;
        }
        let name = reference.qualified_name();
        let parts: Vec<&str> = name.split("__").collect();
        let Some((last, entities)) = parts.split_last() else {
            continue;
        };
        if *last == "metric_time" && entities.is_empty() {
            continue;
        }
        let exists = match reference.kind {
            ReferenceKind::Entity => layer
                .semantic_models
                .iter()
                .any(|model| model.entity(last).is_some()),
            _ => layer.semantic_models.iter().any(|model| {
                model.dimension(last).is_some()
                    && entities.last().is_none_or(|entity| {
                        model.entity(entity).is_some()
                            || layer
                                .semantic_models
                                .iter()
                                .any(|other| other.entity(entity).is_some())
                    })
            }),
        };
        if !exists {
            let candidates: Vec<String> = layer
                .semantic_models
                .iter()
                .flat_map(|model| {
                    model.entities.iter().flat_map(move |entity| {
                        model
                            .dimensions
                            .iter()
                            .map(move |dimension| format!("{}__{}", entity.name, dimension.name))
                    })
                })
                .collect();
            diagnostics.push(diagnostic(
                file,
                span,
                format!("filter `{filter}` refers to unknown dimension `{name}`"),
                closest(&name, candidates.iter().map(String::as_str)),
            ));
        }
    }
}

struct IdentifierCollector(Vec<String>);

impl Visitor for IdentifierCollector {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<Self::Break> {
        match expr {
            Expr::Identifier(identifier) => self.0.push(identifier.value.clone()),
            Expr::CompoundIdentifier(parts) => {
                if let Some(first) = parts.first() {
                    self.0.push(first.value.clone());
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Checks that a derived metric's expression parses and names only its inputs.
fn check_derived_expr(
    metric: &Metric,
    expr: &str,
    inputs: &[MetricInput],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let dialect = DuckDbDialect {};
    let parsed = Parser::new(&dialect)
        .try_with_sql(expr)
        .and_then(|mut parser| parser.parse_expr());
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            diagnostics.push(diagnostic(
                &metric.file,
                metric.span,
                format!(
                    "derived metric `{}` has an invalid expr `{expr}`: {error}",
                    metric.name
                ),
                None,
            ));
            return;
        }
    };
    let mut collector = IdentifierCollector(Vec::new());
    let _ = parsed.visit(&mut collector);
    let names: Vec<&str> = inputs.iter().map(MetricInput::reference_name).collect();
    for identifier in collector.0 {
        if !names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(&identifier))
        {
            diagnostics.push(diagnostic(
                &metric.file,
                metric.span,
                format!(
                    "derived metric `{}` uses `{identifier}` in its expr, which is not one of its inputs",
                    metric.name
                ),
                closest(&identifier, names.iter().copied()),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for input in inputs {
        if !seen.insert(input.reference_name()) {
            diagnostics.push(diagnostic(
                &metric.file,
                input.span,
                format!(
                    "derived metric `{}` reads `{}` twice; give one of them an `alias`",
                    metric.name,
                    input.reference_name()
                ),
                None,
            ));
        }
    }
}

/// Reports metrics that refer back to themselves through their inputs.
fn check_cycles(layer: &SemanticLayer, diagnostics: &mut Vec<Diagnostic>) {
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for metric in &layer.metrics {
        if reads_measures(metric, layer) {
            continue;
        }
        edges.insert(
            &metric.name,
            metric
                .inputs()
                .iter()
                .map(|input| input.name.as_str())
                .collect(),
        );
    }

    let mut reported = BTreeSet::new();
    for metric in &layer.metrics {
        let mut path = vec![metric.name.as_str()];
        if let Some(cycle) = find_cycle(&edges, &mut path) {
            // The last name closes the cycle, so it is left out of the key.
            let mut members = cycle[..cycle.len() - 1].to_vec();
            members.sort_unstable();
            if reported.insert(members) && cycle.first() == Some(&metric.name.as_str()) {
                diagnostics.push(diagnostic(
                    &metric.file,
                    metric.span,
                    format!(
                        "metric `{}` depends on itself: {}",
                        metric.name,
                        cycle.join(" -> ")
                    ),
                    None,
                ));
            }
        }
    }
}

fn find_cycle<'a>(
    edges: &BTreeMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<&'a str>> {
    let current = *path.last()?;
    for next in edges.get(current).into_iter().flatten() {
        if *next == path[0] {
            let mut cycle = path.clone();
            cycle.push(next);
            return Some(cycle);
        }
        if path.contains(next) {
            continue;
        }
        path.push(next);
        if let Some(cycle) = find_cycle(edges, path) {
            return Some(cycle);
        }
        path.pop();
    }
    None
}

/// Checks every expression of every semantic model against the columns
/// the warehouse has, and that each relation exists.
pub fn check_warehouse(layer: &SemanticLayer, warehouse: &dyn Warehouse) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for model in &layer.semantic_models {
        let relation =
            crate::compiler::relation_sql_in(&model.relation, warehouse.engine().dialect());
        let columns = match warehouse.query(&format!("SELECT * FROM {relation} LIMIT 0")) {
            Ok(table) => table
                .columns
                .into_iter()
                .map(|column| column.name)
                .collect::<Vec<_>>(),
            Err(error) => {
                diagnostics.push(diagnostic(
                    &model.file,
                    model.span,
                    format!("semantic model `{}` reads `{relation}`, which the warehouse cannot read: {error}", model.name),
                    None,
                ));
                continue;
            }
        };
        let expressions = model
            .entities
            .iter()
            .map(|entity| ("entity", &entity.name, &entity.expr, entity.span))
            .chain(model.dimensions.iter().map(|dimension| {
                (
                    "dimension",
                    &dimension.name,
                    &dimension.expr,
                    dimension.span,
                )
            }))
            .chain(
                model
                    .measures
                    .iter()
                    .map(|measure| ("measure", &measure.name, &measure.expr, measure.span)),
            );
        let relation_name = match &model.relation {
            Relation::Table { name, .. } => format!("table `{name}`"),
            Relation::Sql(_) => "its `sql`".to_owned(),
        };
        for (kind, name, expr, span) in expressions {
            let probe = format!("SELECT {expr} FROM {relation} LIMIT 0");
            if let Err(error) = warehouse.query(&probe) {
                let missing = missing_column(&error.to_string());
                let suggestion = missing
                    .as_deref()
                    .and_then(|column| closest(column, columns.iter().map(String::as_str)));
                let message = match missing {
                    Some(column) => format!(
                        "{kind} `{name}` of semantic model `{}` reads column `{column}`, which {relation_name} does not have",
                        model.name
                    ),
                    None => format!(
                        "{kind} `{name}` of semantic model `{}` has an expression `{expr}` the warehouse rejects: {error}",
                        model.name
                    ),
                };
                diagnostics.push(diagnostic(&model.file, span, message, suggestion));
            }
        }
    }
    diagnostics
}

/// Pulls the column name out of DuckDB's `Referenced column "x" not found`
/// error, or Spark's ``… with name `x` cannot be resolved``.
fn missing_column(message: &str) -> Option<String> {
    if let Some(start) = message.find("with name `") {
        let rest = &message[start + "with name `".len()..];
        return rest.find('`').map(|end| rest[..end].to_owned());
    }
    let start = message.find("column \"")? + "column \"".len();
    let rest = &message[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_owned())
}
