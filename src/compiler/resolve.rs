//! Resolves group-by items and filter references against the semantic
//! layer, starting from the semantic model that holds a measure.

use crate::semantic::{DimensionKind, EntityKind, SemanticLayer, SemanticModel, TimeGrain};

use super::CompileError;
use super::filter::{FilterReference, ReferenceKind};

/// A group-by item as requested, before resolution against a model.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupItem {
    /// The result column's name, such as `metric_time__month`.
    pub output: String,
    pub spec: ItemSpec,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemSpec {
    MetricTime {
        grain: TimeGrain,
    },
    /// A dimension (categorical or time) reached through an entity path.
    Dimension {
        path: Vec<String>,
        name: String,
        grain: Option<TimeGrain>,
    },
    Entity {
        path: Vec<String>,
        name: String,
    },
}

impl GroupItem {
    pub fn time_grain(&self) -> Option<TimeGrain> {
        match &self.spec {
            ItemSpec::MetricTime { grain } => Some(*grain),
            ItemSpec::Dimension { grain, .. } => *grain,
            ItemSpec::Entity { .. } => None,
        }
    }

    pub fn is_metric_time(&self) -> bool {
        matches!(self.spec, ItemSpec::MetricTime { .. })
    }
}

/// Parses a group-by item written in MetricFlow's dunder syntax.
pub fn parse_group_item(layer: &SemanticLayer, text: &str) -> Result<GroupItem, CompileError> {
    let parts: Vec<&str> = text.split("__").collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err(unknown_group_by(layer, text));
    }

    if parts[0] == "metric_time" {
        let grain = match parts.get(1) {
            None => TimeGrain::Day,
            Some(name) if parts.len() == 2 => {
                TimeGrain::parse(name).ok_or_else(|| unsupported_grain(name))?
            }
            Some(_) => return Err(unknown_group_by(layer, text)),
        };
        return Ok(GroupItem {
            output: format!("metric_time__{}", grain.name()),
            spec: ItemSpec::MetricTime { grain },
        });
    }

    if parts.len() == 1 {
        return Ok(GroupItem {
            output: text.to_owned(),
            spec: ItemSpec::Entity {
                path: Vec::new(),
                name: text.to_owned(),
            },
        });
    }

    let last = parts[parts.len() - 1];
    let grain = TimeGrain::parse(last).filter(|_| parts.len() >= 3);
    if let Some(grain) = grain {
        let name = parts[parts.len() - 2];
        if is_time_dimension(layer, name) {
            return Ok(GroupItem {
                output: text.to_owned(),
                spec: ItemSpec::Dimension {
                    path: to_owned(&parts[..parts.len() - 2]),
                    name: name.to_owned(),
                    grain: Some(grain),
                },
            });
        }
    }
    if is_sub_daily_grain(last) && parts.len() >= 3 {
        return Err(unsupported_grain(last));
    }

    let path = to_owned(&parts[..parts.len() - 1]);
    if is_time_dimension(layer, last) {
        let grain = default_grain(layer, &path, last);
        return Ok(GroupItem {
            output: format!("{text}__{}", grain.name()),
            spec: ItemSpec::Dimension {
                path,
                name: last.to_owned(),
                grain: Some(grain),
            },
        });
    }
    if is_dimension(layer, last) {
        return Ok(GroupItem {
            output: text.to_owned(),
            spec: ItemSpec::Dimension {
                path,
                name: last.to_owned(),
                grain: None,
            },
        });
    }
    if is_entity(layer, last) {
        return Ok(GroupItem {
            output: text.to_owned(),
            spec: ItemSpec::Entity {
                path,
                name: last.to_owned(),
            },
        });
    }
    Err(unknown_group_by(layer, text))
}

/// Turns a filter reference into the group item it names.
pub fn filter_item(
    layer: &SemanticLayer,
    reference: &FilterReference,
) -> Result<GroupItem, CompileError> {
    if reference.kind == ReferenceKind::Metric {
        return Err(CompileError::Unsupported {
            feature: "metrics inside filters".to_owned(),
        });
    }
    if reference.date_part.is_some() {
        return Err(CompileError::Unsupported {
            feature: "date parts".to_owned(),
        });
    }
    let qualified = reference.qualified_name();
    let mut item = parse_group_item(layer, &qualified)?;
    if let Some(grain) = reference.grain {
        match &mut item.spec {
            ItemSpec::MetricTime { grain: current } => *current = grain,
            ItemSpec::Dimension { grain: current, .. } => *current = Some(grain),
            ItemSpec::Entity { .. } => {}
        }
    }
    Ok(item)
}

fn to_owned(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

fn is_sub_daily_grain(name: &str) -> bool {
    matches!(
        name,
        "hour" | "minute" | "second" | "millisecond" | "microsecond" | "nanosecond"
    )
}

fn unsupported_grain(name: &str) -> CompileError {
    if is_sub_daily_grain(name) {
        CompileError::Unsupported {
            feature: "sub-daily grains".to_owned(),
        }
    } else {
        CompileError::Unsupported {
            feature: format!("custom granularity `{name}`"),
        }
    }
}

fn is_time_dimension(layer: &SemanticLayer, name: &str) -> bool {
    layer.semantic_models.iter().any(|model| {
        model
            .dimension(name)
            .is_some_and(|dimension| matches!(dimension.kind, DimensionKind::Time { .. }))
    })
}

fn is_dimension(layer: &SemanticLayer, name: &str) -> bool {
    layer
        .semantic_models
        .iter()
        .any(|model| model.dimension(name).is_some())
}

fn is_entity(layer: &SemanticLayer, name: &str) -> bool {
    layer
        .semantic_models
        .iter()
        .any(|model| model.entity(name).is_some())
}

/// The grain a time dimension has in the model its entity path most
/// likely ends at (the model where the last entity is a key).
fn default_grain(layer: &SemanticLayer, path: &[String], name: &str) -> TimeGrain {
    let grain_in = |model: &SemanticModel| match model.dimension(name)?.kind {
        DimensionKind::Time { grain } => Some(grain),
        DimensionKind::Categorical => None,
    };
    let keyed = path.last().and_then(|entity| {
        layer.semantic_models.iter().find_map(|model| {
            let is_key = model
                .entity(entity)
                .is_some_and(|found| found.kind.is_unique_key());
            if is_key { grain_in(model) } else { None }
        })
    });
    keyed
        .or_else(|| layer.semantic_models.iter().find_map(grain_in))
        .unwrap_or(TimeGrain::Day)
}

fn unknown_group_by(layer: &SemanticLayer, text: &str) -> CompileError {
    let mut candidates = vec!["metric_time".to_owned()];
    for model in &layer.semantic_models {
        for entity in &model.entities {
            candidates.push(entity.name.clone());
            for dimension in &model.dimensions {
                candidates.push(format!("{}__{}", entity.name, dimension.name));
            }
        }
    }
    CompileError::UnknownGroupBy {
        name: text.to_owned(),
        suggestion: crate::semantic::closest_name(text, candidates.iter().map(String::as_str)),
    }
}

/// One join from a model to another through an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinStep {
    pub entity: String,
    pub model: String,
}

/// Where a resolved item's value comes from: a model reached by a join
/// path (empty for the measure's own model) and an expression in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub path: Vec<JoinStep>,
    pub expr: String,
    pub is_time: bool,
}

/// Resolves a dimension or entity item relative to `source`.
pub fn locate(
    layer: &SemanticLayer,
    source: &SemanticModel,
    item: &GroupItem,
) -> Result<Location, CompileError> {
    match &item.spec {
        ItemSpec::MetricTime { .. } => Err(CompileError::InvalidQuery(
            "metric_time is resolved by the measure, not by a join".to_owned(),
        )),
        ItemSpec::Dimension { path, name, .. } => {
            locate_dimension(layer, source, path, name, &item.output)
        }
        ItemSpec::Entity { path, name } => locate_entity(layer, source, path, name, &item.output),
    }
}

fn locate_dimension(
    layer: &SemanticLayer,
    source: &SemanticModel,
    path: &[String],
    name: &str,
    output: &str,
) -> Result<Location, CompileError> {
    let source_key = path.len() == 1
        && source
            .entity(&path[0])
            .is_some_and(|entity| entity.kind.is_unique_key());
    if source_key && let Some(dimension) = source.dimension(name) {
        return Ok(Location {
            path: Vec::new(),
            expr: dimension.expr.clone(),
            is_time: matches!(dimension.kind, DimensionKind::Time { .. }),
        });
    }
    if path.is_empty() {
        if let Some(dimension) = source.dimension(name) {
            return Ok(Location {
                path: Vec::new(),
                expr: dimension.expr.clone(),
                is_time: matches!(dimension.kind, DimensionKind::Time { .. }),
            });
        }
        return Err(not_reachable(source, output));
    }

    let steps = join_path(
        layer,
        source,
        path,
        |model| model.dimension(name).is_some(),
        output,
    )?;
    let target = steps
        .last()
        .and_then(|step| layer.semantic_model(&step.model))
        .ok_or_else(|| not_reachable(source, output))?;
    let dimension = target
        .dimension(name)
        .ok_or_else(|| not_reachable(source, output))?;
    if let Some(feature) = &dimension.unsupported {
        return Err(CompileError::Unsupported {
            feature: feature.clone(),
        });
    }
    Ok(Location {
        path: steps,
        expr: dimension.expr.clone(),
        is_time: matches!(dimension.kind, DimensionKind::Time { .. }),
    })
}

fn locate_entity(
    layer: &SemanticLayer,
    source: &SemanticModel,
    path: &[String],
    name: &str,
    output: &str,
) -> Result<Location, CompileError> {
    if path.is_empty() {
        let entity = source
            .entity(name)
            .ok_or_else(|| not_reachable(source, output))?;
        return Ok(Location {
            path: Vec::new(),
            expr: entity.expr.clone(),
            is_time: false,
        });
    }
    let steps = join_path(
        layer,
        source,
        path,
        |model| model.entity(name).is_some(),
        output,
    )?;
    let target = steps
        .last()
        .and_then(|step| layer.semantic_model(&step.model))
        .ok_or_else(|| not_reachable(source, output))?;
    let entity = target
        .entity(name)
        .ok_or_else(|| not_reachable(source, output))?;
    Ok(Location {
        path: steps,
        expr: entity.expr.clone(),
        is_time: false,
    })
}

/// Finds the joins along `path` that end in a model satisfying `is_target`.
/// Each join goes to a model where the entity is a unique key, so no join
/// can multiply the measure's rows.
fn join_path(
    layer: &SemanticLayer,
    source: &SemanticModel,
    path: &[String],
    is_target: impl Fn(&SemanticModel) -> bool,
    output: &str,
) -> Result<Vec<JoinStep>, CompileError> {
    let mut steps = Vec::new();
    let mut current = source;
    for (index, entity) in path.iter().enumerate() {
        if current.entity(entity).is_none() {
            return Err(not_reachable(source, output));
        }
        let is_last = index + 1 == path.len();
        let next_entity = path.get(index + 1);
        let candidates: Vec<&SemanticModel> = layer
            .semantic_models
            .iter()
            .filter(|model| model.name != current.name)
            .filter(|model| {
                model
                    .entity(entity)
                    .is_some_and(|found| found.kind.is_unique_key())
            })
            .collect();
        let chosen = candidates.iter().copied().find(|model| {
            if is_last {
                is_target(model)
            } else {
                next_entity.is_some_and(|next| model.entity(next).is_some())
            }
        });
        let Some(chosen) = chosen else {
            let fans_out = layer.semantic_models.iter().any(|model| {
                model.name != current.name
                    && model
                        .entity(entity)
                        .is_some_and(|found| found.kind == EntityKind::Foreign)
                    && (!is_last || is_target(model))
            });
            if fans_out {
                return Err(CompileError::InvalidQuery(format!(
                    "`{output}` is reachable from `{}` only through a join on `{entity}` that would multiply rows (fan-out)",
                    current.name
                )));
            }
            return Err(not_reachable(source, output));
        };
        steps.push(JoinStep {
            entity: entity.clone(),
            model: chosen.name.clone(),
        });
        current = chosen;
    }
    Ok(steps)
}

fn not_reachable(source: &SemanticModel, output: &str) -> CompileError {
    CompileError::InvalidQuery(format!(
        "`{output}` cannot be reached from semantic model `{}`",
        source.name
    ))
}
