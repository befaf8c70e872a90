//! The FROM clause of a measure query: the measure's semantic model and the
//! models joined to it, each projected into a subquery so that column
//! expressions written for one table never clash with another's.

use crate::semantic::{Relation, SemanticLayer, SemanticModel};

use super::resolve::JoinStep;
use super::{CompileError, CompileOptions, Dialect};

struct Projection {
    alias: String,
    model: String,
    /// The path from the measure's model; empty for the measure's model.
    path: Vec<JoinStep>,
    /// The full path this projection was joined for.
    owner: Vec<JoinStep>,
    /// The index of the projection it joins to.
    parent: usize,
    /// Expressions in the model's relation, each selected as `c<index>`.
    exprs: Vec<String>,
}

/// How joined models attach to the measure's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    LeftOuter,
    FullOuter,
}

/// A measure summed per combination of the measure model's columns that the
/// rest of the query reads, before the joins.
///
/// The sum of those partial sums equals the sum over the rows. Every column
/// read outside the base subquery is constant within one combination. A join
/// repeats a base row as often as it repeats the partial sum of that row's
/// combination, because its condition reads only those columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreAggregation {
    /// Positions of the base columns read outside the base subquery.
    pub keys: Vec<usize>,
    /// Position of the summed column, which nothing outside the sum reads.
    pub value: usize,
    /// Conditions on base columns alone, applied before summing.
    pub conditions: Vec<String>,
}

/// Collects the columns a measure query needs, model by model.
pub struct FromBuilder<'a> {
    layer: &'a SemanticLayer,
    projections: Vec<Projection>,
    pub join_kind: JoinKind,
    pre_aggregation: Option<PreAggregation>,
}

impl<'a> FromBuilder<'a> {
    pub fn new(layer: &'a SemanticLayer, source: &SemanticModel) -> Self {
        FromBuilder {
            layer,
            projections: vec![Projection {
                alias: "src".to_owned(),
                model: source.name.clone(),
                path: Vec::new(),
                owner: Vec::new(),
                parent: 0,
                exprs: Vec::new(),
            }],
            join_kind: JoinKind::LeftOuter,
            pre_aggregation: None,
        }
    }

    /// Returns whether any model is joined to the measure's model.
    pub fn has_joins(&self) -> bool {
        self.projections.len() > 1
    }

    /// Positions of the measure model's columns that join conditions read.
    pub fn base_join_columns(&self) -> Vec<usize> {
        let base = &self.projections[0];
        let mut positions = Vec::new();
        for projection in self.projections.iter().skip(1) {
            if projection.parent != 0 {
                continue;
            }
            let (Some(last), Ok(base_model), Ok(model)) = (
                projection.path.last(),
                self.model(&base.model),
                self.model(&projection.model),
            ) else {
                continue;
            };
            let mut exprs: Vec<String> = partition_pairs(base_model, model)
                .into_iter()
                .map(|(base_expr, _)| base_expr)
                .collect();
            if let Some(entity) = base_model.entity(&last.entity) {
                exprs.push(entity.expr.clone());
            }
            for expr in exprs {
                if let Some(position) = base.exprs.iter().position(|known| *known == expr) {
                    positions.push(position);
                }
            }
        }
        positions.sort_unstable();
        positions.dedup();
        positions
    }

    /// Makes [`FromBuilder::render`] sum the measure per key in the base
    /// subquery (see [`PreAggregation`]).
    pub fn pre_aggregate(&mut self, pre_aggregation: PreAggregation) {
        self.pre_aggregation = Some(pre_aggregation);
    }

    /// Returns a qualified reference to `expr` evaluated in the model at the
    /// end of `path`, adding the joins it needs.
    pub fn column(&mut self, path: &[JoinStep], expr: &str) -> Result<String, CompileError> {
        let index = self.projection(path)?;
        Ok(self.add_expr(index, expr))
    }

    fn add_expr(&mut self, index: usize, expr: &str) -> String {
        let projection = &mut self.projections[index];
        let position = match projection.exprs.iter().position(|known| known == expr) {
            Some(position) => position,
            None => {
                projection.exprs.push(expr.to_owned());
                projection.exprs.len() - 1
            }
        };
        format!("{}.c{position}", projection.alias)
    }

    fn projection(&mut self, path: &[JoinStep]) -> Result<usize, CompileError> {
        self.projection_for(path, path)
    }

    /// The projection at the end of `path`. Intermediate joins belong to
    /// the full path `owner` they serve: two items reached through the same
    /// bridge get one bridge join each, as in MetricFlow's plans.
    fn projection_for(
        &mut self,
        owner: &[JoinStep],
        path: &[JoinStep],
    ) -> Result<usize, CompileError> {
        if path.is_empty() {
            return Ok(0);
        }
        // The end of a path reuses any join that already reaches it; the
        // steps before it are shared only with the same full path.
        let is_target = path == owner;
        if let Some(index) = self.projections.iter().position(|projection| {
            projection.path == path && (is_target || projection.owner == owner)
        }) {
            return Ok(index);
        }
        let Some((last, parent_path)) = path.split_last() else {
            return Ok(0);
        };
        let parent = self.projection_for(owner, parent_path)?;
        let parent_model = self.model(&self.projections[parent].model)?;
        let Some(parent_entity) = parent_model.entity(&last.entity) else {
            return Err(CompileError::InvalidQuery(format!(
                "semantic model `{}` has no entity `{}`",
                parent_model.name, last.entity
            )));
        };
        let parent_key = parent_entity.expr.clone();
        self.add_expr(parent, &parent_key);

        let alias = format!("j{}", self.projections.len());
        self.projections.push(Projection {
            alias,
            model: last.model.clone(),
            path: path.to_vec(),
            owner: owner.to_vec(),
            parent,
            exprs: Vec::new(),
        });
        let index = self.projections.len() - 1;
        let child_model = self.model(&last.model)?;
        let Some(child_entity) = child_model.entity(&last.entity) else {
            return Err(CompileError::InvalidQuery(format!(
                "semantic model `{}` has no entity `{}`",
                child_model.name, last.entity
            )));
        };
        let child_key = child_entity.expr.clone();
        self.add_expr(index, &child_key);
        for (parent_expr, child_expr) in partition_pairs(parent_model, child_model) {
            self.add_expr(parent, &parent_expr);
            self.add_expr(index, &child_expr);
        }
        Ok(index)
    }

    fn model(&self, name: &str) -> Result<&'a SemanticModel, CompileError> {
        self.layer
            .semantic_model(name)
            .ok_or_else(|| CompileError::InvalidQuery(format!("unknown semantic model `{name}`")))
    }

    /// Renders the measure's model alone, without joins or pre-aggregation,
    /// under the alias `src`.
    pub fn render_base(
        &self,
        dialect: &dyn Dialect,
        options: &CompileOptions,
    ) -> Result<String, CompileError> {
        self.subquery(0, dialect, options)
    }

    /// Renders the subquery of one projection: its columns from its
    /// model's relation, restricted to the row scope.
    fn subquery(
        &self,
        index: usize,
        dialect: &dyn Dialect,
        options: &CompileOptions,
    ) -> Result<String, CompileError> {
        let projection = &self.projections[index];
        let model = self.model(&projection.model)?;
        let relation = relation_sql(&model.relation, dialect, options);
        let columns = if projection.exprs.is_empty() {
            "1 AS c0".to_owned()
        } else {
            projection
                .exprs
                .iter()
                .enumerate()
                .map(|(position, expr)| format!("{expr} AS c{position}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let scope = match &options.row_scope {
            Some(scope) => match scope.condition(model) {
                Some(condition) => format!(" WHERE {condition}"),
                // Dimension tables hold no figures; a measure's model must
                // be restricted.
                None if index == 0 && !model.measures.is_empty() => {
                    return Err(CompileError::OutOfScope {
                        model: model.name.clone(),
                        entities: scope.keys.keys().cloned().collect::<Vec<_>>().join(", "),
                    });
                }
                None => String::new(),
            },
            None => String::new(),
        };
        Ok(format!(
            "(SELECT {columns} FROM {relation}{scope}) AS {}",
            projection.alias
        ))
    }

    /// Renders the FROM clause with its LEFT OUTER JOINs.
    pub fn render(
        &self,
        dialect: &dyn Dialect,
        options: &CompileOptions,
    ) -> Result<String, CompileError> {
        self.render_with(dialect, options, None)
    }

    /// Renders the FROM clause with `after_base` (such as a CROSS JOIN)
    /// placed between the measure's model and the joined models.
    pub fn render_with(
        &self,
        dialect: &dyn Dialect,
        options: &CompileOptions,
        after_base: Option<&str>,
    ) -> Result<String, CompileError> {
        let mut sql = String::new();
        for (index, projection) in self.projections.iter().enumerate() {
            let model = self.model(&projection.model)?;
            let subquery = self.subquery(index, dialect, options)?;
            if index == 0 {
                let base = match &self.pre_aggregation {
                    Some(pre_aggregation) => pre_aggregated(&subquery, pre_aggregation),
                    None => subquery,
                };
                sql.push_str(&base);
                if let Some(extra) = after_base {
                    sql.push_str(extra);
                }
                continue;
            }

            let last = projection
                .path
                .last()
                .ok_or_else(|| CompileError::InvalidQuery("a join without a path".to_owned()))?;
            let parent = &self.projections[projection.parent];
            let parent_model = self.model(&parent.model)?;
            let parent_key = parent_model
                .entity(&last.entity)
                .map(|entity| entity.expr.as_str())
                .unwrap_or_default();
            let parent_position = parent
                .exprs
                .iter()
                .position(|expr| expr == parent_key)
                .unwrap_or_default();
            let child_key = model
                .entity(&last.entity)
                .map(|entity| entity.expr.as_str())
                .unwrap_or_default();
            let child_position = projection
                .exprs
                .iter()
                .position(|expr| expr == child_key)
                .unwrap_or_default();
            let mut condition = format!(
                "{}.c{parent_position} = {}.c{child_position}",
                parent.alias, projection.alias
            );
            for (parent_expr, child_expr) in partition_pairs(parent_model, model) {
                let left = parent.exprs.iter().position(|expr| *expr == parent_expr);
                let right = projection.exprs.iter().position(|expr| *expr == child_expr);
                if let (Some(left), Some(right)) = (left, right) {
                    condition.push_str(&format!(
                        " AND {}.c{left} = {}.c{right}",
                        parent.alias, projection.alias
                    ));
                }
            }
            let join = match self.join_kind {
                JoinKind::LeftOuter => "LEFT OUTER JOIN",
                JoinKind::FullOuter => "FULL OUTER JOIN",
            };
            sql.push_str(&format!("\n  {join} {subquery} ON {condition}"));
        }
        Ok(sql)
    }
}

/// Wraps the base subquery `base` (aliased `src`) in the sum of
/// `pre_aggregation`, keeping the alias and the column names.
fn pre_aggregated(base: &str, pre_aggregation: &PreAggregation) -> String {
    let mut columns: Vec<String> = pre_aggregation
        .keys
        .iter()
        .map(|position| format!("src.c{position} AS c{position}"))
        .collect();
    columns.push(format!("SUM(src.c{0}) AS c{0}", pre_aggregation.value));
    let where_sql = if pre_aggregation.conditions.is_empty() {
        String::new()
    } else {
        format!(
            "\n  WHERE {}",
            pre_aggregation.conditions.join("\n    AND ")
        )
    };
    let group_by = if pre_aggregation.keys.is_empty() {
        String::new()
    } else {
        let ordinals: Vec<String> = (1..=pre_aggregation.keys.len())
            .map(|ordinal| ordinal.to_string())
            .collect();
        format!("\n  GROUP BY {}", ordinals.join(", "))
    };
    format!(
        "(SELECT {}\n  FROM {base}{where_sql}{group_by}) AS src",
        columns.join(", ")
    )
}

/// Partition dimensions that two joined models share by name: MetricFlow
/// joins on them too, so each side's partition lines up with the other's.
fn partition_pairs(left: &SemanticModel, right: &SemanticModel) -> Vec<(String, String)> {
    left.dimensions
        .iter()
        .filter(|dimension| dimension.is_partition)
        .filter_map(|dimension| {
            right
                .dimension(&dimension.name)
                .filter(|other| other.is_partition)
                .map(|other| (dimension.expr.clone(), other.expr.clone()))
        })
        .collect()
}

/// The SQL that names a relation: a table reference or a parenthesised query.
pub fn relation_sql(
    relation: &Relation,
    dialect: &dyn Dialect,
    options: &CompileOptions,
) -> String {
    match relation {
        Relation::Table { schema, name } => {
            let schema = match schema.as_deref() {
                Some("$source_schema") => options.source_schema.clone(),
                Some(schema) => Some(schema.to_owned()),
                None => None,
            };
            match schema {
                Some(schema) => format!("{}.{}", dialect.quote(&schema), dialect.quote(name)),
                None => dialect.quote(name),
            }
        }
        Relation::Sql(sql) => format!("({})", sql.trim().trim_end_matches(';')),
    }
}
