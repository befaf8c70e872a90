//! The model's reading of a question, its JSON schema, and the check that
//! turns it into a question in the semantic layer's own words.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::semantic::{SemanticLayer, VerifiedQuestion};
use crate::understanding::lexicon::{Lexicon, normalize};
use crate::understanding::time::{TimeContext, parse_time_in};

/// The longest time phrase accepted from the model, in characters.
const MAX_TIME_CHARS: usize = 30;
/// Values listed in the message about an unknown value.
const LISTED_VALUES: usize = 12;
/// The largest ranking the model may ask for.
const MAX_TOP: u64 = 100;

/// The structured query a model returns.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelQuery {
    /// `metric` for a question about figures, `other` for anything else.
    pub intent: String,
    pub metrics: Vec<String>,
    pub group_by: Vec<String>,
    pub filters: Vec<ModelFilter>,
    /// A time phrase in Chinese, such as 今年以来 or 2025年末.
    pub time: Option<String>,
    /// `day`, `week`, `month`, `quarter` or `year`, for a series.
    pub grain: Option<String>,
    pub top: Option<ModelTop>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFilter {
    pub dimension: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTop {
    /// `desc` for the largest first, `asc` for the smallest first.
    pub order: String,
    pub limit: u64,
}

/// The JSON schema the model's reply must follow (strict structured output:
/// every field required, nulls where a field does not apply).
pub fn schema() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["intent", "metrics", "group_by", "filters", "time", "grain", "top"],
        "properties": {
            "intent": {"type": "string", "enum": ["metric", "other"]},
            "metrics": strings,
            "group_by": strings,
            "filters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["dimension", "values"],
                    "properties": {"dimension": {"type": "string"}, "values": strings},
                },
            },
            "time": {"type": ["string", "null"]},
            "grain": {"type": ["string", "null"], "enum": ["day", "week", "month", "quarter", "year", null]},
            "top": {
                "type": ["object", "null"],
                "additionalProperties": false,
                "required": ["order", "limit"],
                "properties": {
                    "order": {"type": "string", "enum": ["desc", "asc"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_TOP},
                },
            },
        },
    })
}

/// The reason a reply was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The reply is not JSON of the schema's shape.
    Malformed(String),
    /// The model says the question is not about figures.
    NotAMetricQuestion,
    /// Names or values the semantic layer does not have.
    Unknown(Vec<String>),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Malformed(reason) => write!(formatter, "the reply is not valid: {reason}"),
            Rejection::NotAMetricQuestion => formatter.write_str("not a metric question"),
            Rejection::Unknown(problems) => formatter.write_str(&problems.join("; ")),
        }
    }
}

/// Parses a reply's text as a [`ModelQuery`]. A reply wrapped in a Markdown
/// code fence is unwrapped first, as some local models add one.
pub fn parse_reply(text: &str) -> Result<ModelQuery, Rejection> {
    let unfenced = super::strip_code_fence(text);
    serde_json::from_str(unfenced).map_err(|error| Rejection::Malformed(error.to_string()))
}

impl ModelQuery {
    /// Converts a verified question's query to the shape of a model's reply.
    pub fn from_verified(verified: &VerifiedQuestion) -> ModelQuery {
        ModelQuery {
            intent: "metric".to_owned(),
            metrics: verified.metrics.clone(),
            group_by: verified.group_by.clone(),
            filters: verified
                .filters
                .iter()
                .map(|(dimension, values)| ModelFilter {
                    dimension: dimension.clone(),
                    values: values.clone(),
                })
                .collect(),
            time: verified.time.clone(),
            grain: verified.grain.clone(),
            top: verified.top.as_ref().map(|(order, limit)| ModelTop {
                order: order.clone(),
                limit: *limit,
            }),
        }
    }

    /// Checks every name and value against the semantic layer and returns
    /// the question written in the layer's own words (labels and values),
    /// for the rules to read: 今年以来 每月 个人 各机构 日均存款 前5.
    pub fn check(
        &self,
        layer: &SemanticLayer,
        lexicon: &Lexicon,
        time_context: &TimeContext,
    ) -> Result<String, Rejection> {
        if self.intent != "metric" {
            return Err(Rejection::NotAMetricQuestion);
        }
        let mut problems = Vec::new();
        let mut words = Vec::new();

        if let Some(time) = self
            .time
            .as_deref()
            .map(str::trim)
            .filter(|time| !time.is_empty())
        {
            let parsed = parse_time_in(&normalize(time), time_context);
            // Time words are Chinese words and digits; letters or quotes mean
            // something else was slipped in.
            let foreign = time.chars().any(|character| {
                character.is_ascii_alphabetic() || ";'\"`=()<>{}".contains(character)
            });
            if foreign || time.chars().count() > MAX_TIME_CHARS || parsed.expressions.is_empty() {
                problems.push(format!("`{time}` is not a time phrase Wenshu reads"));
            } else {
                words.push(time.to_owned());
            }
        }
        if let Some(grain) = &self.grain {
            match grain.as_str() {
                "day" => words.push("每天".to_owned()),
                "week" => words.push("每周".to_owned()),
                "month" => words.push("每月".to_owned()),
                "quarter" => words.push("每季度".to_owned()),
                "year" => words.push("每年".to_owned()),
                other => problems.push(format!("unknown grain `{other}`")),
            }
        }
        for filter in &self.filters {
            let Some(dimension) = lexicon
                .dimensions
                .iter()
                .find(|dimension| dimension.item == filter.dimension)
            else {
                problems.push(unknown_item("dimension", &filter.dimension, lexicon));
                continue;
            };
            for value in &filter.values {
                let known = dimension
                    .values
                    .iter()
                    .find(|known| known.to_string() == *value);
                match known.map(|known| lexicon.value_word(&dimension.item, known)) {
                    Some(Some(word)) => words.push(word),
                    Some(None) => problems.push(format!(
                        "`{value}` of `{}` has no word Wenshu reads: give it a value synonym in the semantic layer",
                        filter.dimension
                    )),
                    None => {
                        let listed: Vec<String> = dimension
                            .values
                            .iter()
                            .take(LISTED_VALUES)
                            .map(ToString::to_string)
                            .collect();
                        problems.push(format!(
                            "`{value}` is not a value of `{}` (values: {}{})",
                            filter.dimension,
                            listed.join(", "),
                            if dimension.values.len() > LISTED_VALUES { ", ..." } else { "" }
                        ));
                    }
                }
            }
        }
        for item in &self.group_by {
            match lexicon
                .dimensions
                .iter()
                .find(|dimension| dimension.item == *item)
            {
                Some(dimension) => words.push(format!("各{}", dimension.label)),
                None => problems.push(unknown_item("group-by item", item, lexicon)),
            }
        }
        if self.metrics.is_empty() {
            problems.push("no metric named".to_owned());
        }
        let mut labels = Vec::new();
        for name in &self.metrics {
            match layer.metric(name) {
                Some(metric) => labels.push(metric.label.clone().unwrap_or_else(|| name.clone())),
                None => problems.push(
                    match crate::semantic::closest_name(
                        name,
                        layer.metrics.iter().map(|metric| metric.name.as_str()),
                    ) {
                        Some(close) => format!("unknown metric `{name}` (did you mean `{close}`?)"),
                        None => format!("unknown metric `{name}`"),
                    },
                ),
            }
        }
        words.push(labels.join("和"));
        if let Some(top) = &self.top {
            match (top.order.as_str(), top.limit) {
                (_, 0) => problems.push("a ranking of 0 rows".to_owned()),
                (_, limit) if limit > MAX_TOP => {
                    problems.push(format!("a ranking of {limit} rows (at most {MAX_TOP})"))
                }
                ("desc", limit) => words.push(format!("前{limit}")),
                ("asc", limit) => words.push(format!("后{limit}")),
                (other, _) => problems.push(format!("unknown order `{other}`")),
            }
        }

        if problems.is_empty() {
            Ok(words.join(" "))
        } else {
            Err(Rejection::Unknown(problems))
        }
    }
}

/// Describes an unknown dimension item with the closest known one.
fn unknown_item(kind: &str, item: &str, lexicon: &Lexicon) -> String {
    let items = lexicon
        .dimensions
        .iter()
        .map(|dimension| dimension.item.as_str());
    match crate::semantic::closest_name(item, items) {
        Some(close) => format!("unknown {kind} `{item}` (did you mean `{close}`?)"),
        None => format!("unknown {kind} `{item}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_requires_every_field() {
        let schema = schema();

        assert_eq!(schema["required"].as_array().map(Vec::len), Some(7));
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn fenced_and_bare_replies_parse() {
        let bare = r#"{"intent":"metric","metrics":["deposit_balance"],"group_by":[],"filters":[],"time":null,"grain":null,"top":null}"#;
        let fenced = format!("```json\n{bare}\n```");

        assert_eq!(parse_reply(bare), parse_reply(&fenced));
        assert!(parse_reply(bare).is_ok());
    }

    #[test]
    fn malformed_replies_are_rejected() {
        for reply in [
            "",
            "存款余额是 4.73 亿元",
            r#"{"intent":"metric"}"#,
            r#"{"intent":"metric","metrics":[],"group_by":[],"filters":[],"time":null,"grain":null,"top":null,"sql":"DROP TABLE x"}"#,
        ] {
            assert!(
                matches!(parse_reply(reply), Err(Rejection::Malformed(_))),
                "{reply}"
            );
        }
    }
}
