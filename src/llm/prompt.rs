//! The prompts, kept as files in `prompts/` and built into the binary,
//! filled with the slice of the semantic layer a question needs.

use serde_json::{Value, json};

use crate::semantic::{Metric, SemanticLayer, VerifiedQuestion};
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
/// A catalog with at most this many metrics lists them all; a larger one
/// lists this many, those whose words are closest to the question's.
const LISTED_METRICS: usize = 40;

/// Builds the chat messages that ask the model to read `question`.
///
/// The catalog slice: the metrics (label, name, a few synonyms), all of
/// them in a small catalog or else those closest to the question and the
/// recent questions; every categorical dimension the lexicon knows, and for
/// each dimension its values when they are few, or else only those the
/// question mentions.
pub fn parse_messages(
    layer: &SemanticLayer,
    lexicon: &Lexicon,
    reference_date: &str,
    history: &[String],
    question: &str,
) -> Vec<Value> {
    let metrics: Vec<String> = relevant_metrics(layer, history, question)
        .into_iter()
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

/// Picks the metrics shown to the model, in the layer's order. A catalog of
/// at most [`LISTED_METRICS`] shows them all. A larger one shows the default
/// metric and the metrics whose name, label and synonyms share the most
/// adjacent character pairs with the question and the recent questions.
fn relevant_metrics<'l>(
    layer: &'l SemanticLayer,
    history: &[String],
    question: &str,
) -> Vec<&'l Metric> {
    if layer.metrics.len() <= LISTED_METRICS {
        return layer.metrics.iter().collect();
    }
    let start = history.len().saturating_sub(HISTORY_TURNS);
    let asked = character_pairs(&format!("{question} {}", history[start..].join(" ")));
    let mut scored: Vec<(usize, usize)> = layer
        .metrics
        .iter()
        .enumerate()
        .map(|(position, metric)| {
            let words = format!(
                "{} {} {}",
                metric.name,
                metric.label.as_deref().unwrap_or(""),
                metric.synonyms.join(" ")
            );
            let shared = character_pairs(&words)
                .iter()
                .filter(|pair| asked.contains(pair))
                .count();
            let default = layer.default_metric.as_deref() == Some(metric.name.as_str());
            (if default { usize::MAX } else { shared }, position)
        })
        .collect();
    scored.sort_by_key(|(shared, position)| (std::cmp::Reverse(*shared), *position));
    let mut kept: Vec<usize> = scored
        .into_iter()
        .take(LISTED_METRICS)
        .map(|(_, position)| position)
        .collect();
    kept.sort_unstable();
    kept.into_iter()
        .map(|position| &layer.metrics[position])
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a layer of `count` simple metrics over one semantic model, the
    /// last one about loans.
    fn layer_with_metrics(count: usize) -> SemanticLayer {
        let mut text = String::from(
            "semantic_models:\n  - name: deposits\n    node_relation: {alias: deposits, relation_name: fact_deposit_daily}\n    defaults: {agg_time_dimension: biz_date}\n    entities: [{name: account, type: primary, expr: account_id}]\n    dimensions: [{name: biz_date, type: time, type_params: {time_granularity: day}}]\n    measures:\n      - {name: balance, agg: sum, expr: balance}\nmetrics:\n",
        );
        for number in 0..count {
            let label = if number + 1 == count {
                "贷款逾期率".to_owned()
            } else {
                format!("存款指标{number}")
            };
            text.push_str(&format!(
                "  - name: metric_{number}\n    label: {label}\n    type: simple\n    type_params: {{measure: balance}}\n"
            ));
        }
        crate::semantic::load_sources(&[("layer.yaml".to_owned(), text)])
            .unwrap_or_else(|diagnostics| panic!("invalid test layer: {}", diagnostics.0[0]))
    }

    #[test]
    fn small_catalog_lists_every_metric() {
        let layer = layer_with_metrics(LISTED_METRICS);

        assert_eq!(
            relevant_metrics(&layer, &[], "随便问问").len(),
            LISTED_METRICS
        );
    }

    #[test]
    fn large_catalog_lists_closest_metrics() {
        let layer = layer_with_metrics(500);

        let listed = relevant_metrics(&layer, &[], "上个月贷款逾期率是多少");

        assert_eq!(listed.len(), LISTED_METRICS);
        assert!(listed.iter().any(|metric| metric.name == "metric_499"));
        let history = ["贷款逾期率呢".to_owned()];
        let from_history = relevant_metrics(&layer, &history, "按支行看");
        assert!(
            from_history
                .iter()
                .any(|metric| metric.name == "metric_499")
        );
    }
}
