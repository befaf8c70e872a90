//! MetricFlow filter expressions: Jinja templates whose calls
//! (`{{ Dimension('customer__customer_type') }}`, `{{ TimeDimension('metric_time', 'month') }}`,
//! `{{ Entity('listing') }}`) name semantic-layer objects.
//!
//! Rendering replaces each call with a placeholder token and records what it
//! named; the compiler then swaps each token for the column it resolved to.

use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::semantic::TimeGrain;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    Dimension,
    TimeDimension,
    Entity,
    Metric,
}

/// One object named inside a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterReference {
    pub kind: ReferenceKind,
    /// The name as written, such as `listing__user__home_state` or `metric_time`.
    pub name: String,
    /// Entities given separately with `entity_path=[...]`, outermost first.
    pub entity_path: Vec<String>,
    pub grain: Option<TimeGrain>,
    pub date_part: Option<String>,
    /// For `Metric(...)`: the entities it is grouped by.
    pub group_by: Vec<String>,
}

impl FilterReference {
    /// The full dunder name with the separate entity path prepended.
    pub fn qualified_name(&self) -> String {
        let mut parts = self.entity_path.clone();
        parts.push(self.name.clone());
        parts.join("__")
    }
}

/// A rendered filter: SQL text with placeholder tokens, and the references.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFilter {
    pub source: String,
    pub template: String,
    pub references: Vec<FilterReference>,
}

impl ParsedFilter {
    /// Replaces each placeholder with the SQL that `resolve` returns for it.
    pub fn substitute<E>(
        &self,
        mut resolve: impl FnMut(&FilterReference) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut sql = self.template.clone();
        for (index, reference) in self.references.iter().enumerate().rev() {
            let token = placeholder(index);
            if sql.contains(&token) {
                sql = sql.replace(&token, &resolve(reference)?);
            }
        }
        Ok(sql)
    }

    /// The references that appear in the rendered SQL (a reference whose
    /// method was called is replaced by the reference the method returned).
    pub fn used_references(&self) -> impl Iterator<Item = &FilterReference> {
        self.references
            .iter()
            .enumerate()
            .filter(|(index, _)| self.template.contains(&placeholder(*index)))
            .map(|(_, reference)| reference)
    }
}

fn placeholder(index: usize) -> String {
    format!("__wenshu_ref_{index}__")
}

type Recorded = Arc<Mutex<Vec<FilterReference>>>;

#[derive(Debug)]
struct ReferenceObject {
    index: usize,
    reference: FilterReference,
    recorded: Recorded,
}

impl ReferenceObject {
    fn create(recorded: &Recorded, reference: FilterReference) -> Value {
        let mut list = recorded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = list.len();
        list.push(reference.clone());
        drop(list);
        Value::from_object(ReferenceObject {
            index,
            reference,
            recorded: Arc::clone(recorded),
        })
    }
}

impl Object for ReferenceObject {
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let argument = || {
            args.first()
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("`{method}` needs a string argument"),
                    )
                })
        };
        let mut reference = self.reference.clone();
        match method {
            "grain" => reference.grain = Some(parse_grain(&argument()?)?),
            "date_part" => reference.date_part = Some(argument()?),
            // Ordering hints have no meaning inside a filter.
            "descending" => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("unknown method `{method}`; filters support grain() and date_part()"),
                ));
            }
        }
        Ok(ReferenceObject::create(&self.recorded, reference))
    }

    fn render(self: &Arc<Self>, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&placeholder(self.index))
    }
}

fn parse_grain(text: &str) -> Result<TimeGrain, Error> {
    TimeGrain::parse(text).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("unsupported time granularity `{text}`"),
        )
    })
}

fn entity_path(kwargs: &Kwargs) -> Result<Vec<String>, Error> {
    if kwargs.has("entity_path") {
        kwargs.get::<Vec<String>>("entity_path")
    } else {
        Ok(Vec::new())
    }
}

fn new_reference(kind: ReferenceKind, name: String) -> FilterReference {
    FilterReference {
        kind,
        name,
        entity_path: Vec::new(),
        grain: None,
        date_part: None,
        group_by: Vec::new(),
    }
}

/// Renders a MetricFlow filter and records the objects it names.
pub fn parse_filter(text: &str) -> Result<ParsedFilter, String> {
    let recorded: Recorded = Arc::default();
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);

    let sink = Arc::clone(&recorded);
    environment.add_function(
        "Dimension",
        move |name: String, kwargs: Kwargs| -> Result<Value, Error> {
            let mut reference = new_reference(ReferenceKind::Dimension, name);
            reference.entity_path = entity_path(&kwargs)?;
            kwargs.assert_all_used()?;
            Ok(ReferenceObject::create(&sink, reference))
        },
    );
    let sink = Arc::clone(&recorded);
    environment.add_function(
        "TimeDimension",
        move |name: String, grain: Option<String>, kwargs: Kwargs| -> Result<Value, Error> {
            let mut reference = new_reference(ReferenceKind::TimeDimension, name);
            let grain = match grain {
                Some(grain) => Some(grain),
                None if kwargs.has("time_granularity_name") => {
                    Some(kwargs.get("time_granularity_name")?)
                }
                None => None,
            };
            reference.grain = grain.as_deref().map(parse_grain).transpose()?;
            reference.entity_path = entity_path(&kwargs)?;
            if kwargs.has("date_part_name") {
                reference.date_part = Some(kwargs.get("date_part_name")?);
            }
            kwargs.assert_all_used()?;
            Ok(ReferenceObject::create(&sink, reference))
        },
    );
    let sink = Arc::clone(&recorded);
    environment.add_function(
        "Entity",
        move |name: String, kwargs: Kwargs| -> Result<Value, Error> {
            let mut reference = new_reference(ReferenceKind::Entity, name);
            reference.entity_path = entity_path(&kwargs)?;
            kwargs.assert_all_used()?;
            Ok(ReferenceObject::create(&sink, reference))
        },
    );
    let sink = Arc::clone(&recorded);
    environment.add_function(
        "Metric",
        move |name: String,
              group_by: Option<Vec<String>>,
              kwargs: Kwargs|
              -> Result<Value, Error> {
            let mut reference = new_reference(ReferenceKind::Metric, name);
            reference.group_by = match group_by {
                Some(list) => list,
                None if kwargs.has("group_by") => kwargs.get("group_by")?,
                None => Vec::new(),
            };
            kwargs.assert_all_used()?;
            Ok(ReferenceObject::create(&sink, reference))
        },
    );

    let template = environment
        .render_str(text, ())
        .map_err(|error| error.to_string())?;
    let references = recorded
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    Ok(ParsedFilter {
        source: text.to_owned(),
        template,
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_reference_is_recorded() {
        let filter = parse_filter("{{ Dimension('customer__customer_type') }} = '个人'").unwrap();
        assert_eq!(filter.references.len(), 1);
        assert_eq!(filter.references[0].name, "customer__customer_type");
        let sql = filter
            .substitute(|_| Ok::<_, ()>("c.customer_type".to_owned()))
            .unwrap();
        assert_eq!(sql, "c.customer_type = '个人'");
    }

    #[test]
    fn grain_method_and_time_dimension() {
        let filter =
            parse_filter("{{ TimeDimension('metric_time', 'week') }} >= '2020-01-01' AND {{ Dimension('booking__ds').grain('month') }} > '2020-01-01'")
                .unwrap();
        let used: Vec<_> = filter.used_references().collect();
        assert_eq!(used.len(), 2);
        assert_eq!(used[0].grain, Some(TimeGrain::Week));
        assert_eq!(used[1].grain, Some(TimeGrain::Month));
    }

    #[test]
    fn entity_path_keyword() {
        let filter =
            parse_filter("{{ Dimension('user__home_state', entity_path=['listing']) }} = 'CA'")
                .unwrap();
        assert_eq!(
            filter.references[0].qualified_name(),
            "listing__user__home_state"
        );
    }

    #[test]
    fn unknown_function_is_an_error() {
        assert!(parse_filter("{{ Dimensoin('x') }} = 1").is_err());
    }
}
