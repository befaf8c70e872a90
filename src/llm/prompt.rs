//! The prompts, kept as files in `prompts/` and built into the binary,
//! filled with the slice of the semantic layer a question needs.

use serde_json::{Value, json};

use crate::semantic::SemanticLayer;
use crate::understanding::lexicon::Lexicon;

/// The prompt that asks for a [`super::query::ModelQuery`].
pub const PARSE_PROMPT: &str = include_str!("../../prompts/parse.md");

/// A dimension with at most this many values lists them all; a larger one
/// lists only the values the question mentions.
const LISTED_VALUES: usize = 12;
/// Earlier questions of the conversation shown to the model.
const HISTORY_TURNS: usize = 4;

/// Builds the chat messages that ask the model to read `question`.
///
/// The catalog slice: every metric (label, name, a few synonyms), every
/// categorical dimension the lexicon knows, and for each dimension its
/// values when they are few, or else only those the question mentions.
pub fn parse_messages(
    layer: &SemanticLayer,
    lexicon: &Lexicon,
    reference_date: &str,
    history: &[String],
    question: &str,
) -> Vec<Value> {
    let metrics: Vec<String> = layer
        .metrics
        .iter()
        .map(|metric| {
            let label = metric.label.clone().unwrap_or_else(|| metric.name.clone());
            let synonyms: Vec<&str> = metric.synonyms.iter().take(4).map(String::as_str).collect();
            format!("- {}：{label}（{}）", metric.name, synonyms.join("、"))
        })
        .collect();
    let dimensions: Vec<String> = lexicon
        .dimensions
        .iter()
        .map(|dimension| {
            let values: Vec<String> = dimension
                .values
                .iter()
                .map(ToString::to_string)
                .filter(|value| {
                    dimension.values.len() <= LISTED_VALUES || question.contains(value.as_str())
                })
                .collect();
            format!(
                "- {}：{}；{}",
                dimension.item,
                dimension.label,
                values.join("、")
            )
        })
        .collect();
    let recent: Vec<&str> = history
        .iter()
        .rev()
        .take(HISTORY_TURNS)
        .rev()
        .map(String::as_str)
        .collect();
    let history = if recent.is_empty() {
        "（无）".to_owned()
    } else {
        recent
            .iter()
            .map(|turn| format!("- {turn}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let system = PARSE_PROMPT
        .replace("{reference_date}", reference_date)
        .replace("{metrics}", &metrics.join("\n"))
        .replace("{dimensions}", &dimensions.join("\n"))
        .replace("{history}", &history);
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": question}),
    ]
}
