//! The prompts, kept as files in `prompts/` and built into the binary,
//! filled with the slice of the semantic layer a question needs.

use serde_json::{Value, json};

use crate::semantic::{SemanticLayer, VerifiedQuestion};
use crate::understanding::lexicon::Lexicon;

use super::query::ModelQuery;

/// The prompt that asks for a [`super::query::ModelQuery`].
pub const PARSE_PROMPT: &str = include_str!("../../prompts/parse.md");

/// A dimension with at most this many values lists them all; a larger one
/// lists only the values the question mentions.
const LISTED_VALUES: usize = 12;
/// Earlier questions of the conversation shown to the model.
const HISTORY_TURNS: usize = 4;
/// Verified questions shown to the model as examples.
const EXAMPLES: usize = 3;

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
    let history = super::recent_questions(history, HISTORY_TURNS);
    let examples: Vec<String> = similar_verified_questions(layer, question, EXAMPLES)
        .into_iter()
        .map(|verified| {
            let query =
                serde_json::to_string(&ModelQuery::from_verified(verified)).unwrap_or_default();
            format!("问题：{}\nJSON：{query}", verified.question)
        })
        .collect();
    let examples = if examples.is_empty() {
        "（无）".to_owned()
    } else {
        examples.join("\n\n")
    };
    let system = PARSE_PROMPT
        .replace("{reference_date}", reference_date)
        .replace("{examples}", &examples)
        .replace("{metrics}", &metrics.join("\n"))
        .replace("{dimensions}", &dimensions.join("\n"))
        .replace("{history}", &history);
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": question}),
    ]
}

/// Finds the verified questions that share the most pairs of adjacent
/// characters with `question`, most similar first. Those sharing none are
/// left out.
pub fn similar_verified_questions<'l>(
    layer: &'l SemanticLayer,
    question: &str,
    limit: usize,
) -> Vec<&'l VerifiedQuestion> {
    let asked = character_pairs(question);
    let mut scored: Vec<(usize, &VerifiedQuestion)> = layer
        .verified_questions
        .iter()
        .map(|verified| {
            let shared = character_pairs(&verified.question)
                .iter()
                .filter(|pair| asked.contains(pair))
                .count();
            (shared, verified)
        })
        .filter(|(shared, _)| *shared > 0)
        .collect();
    scored.sort_by_key(|(shared, _)| std::cmp::Reverse(*shared));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, verified)| verified)
        .collect()
}

fn character_pairs(text: &str) -> Vec<(char, char)> {
    let characters: Vec<char> = text
        .chars()
        .filter(|character| character.is_alphanumeric())
        .collect();
    let mut pairs: Vec<(char, char)> = characters
        .windows(2)
        .map(|pair| (pair[0], pair[1]))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}
