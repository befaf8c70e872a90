//! Follow-ups the rules cannot merge, rewritten by the model as questions
//! that stand alone; the rules then read the rewritten question.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::semantic::SemanticLayer;

/// The prompt that asks for a rewritten follow-up.
pub const REWRITE_PROMPT: &str = include_str!("../../prompts/rewrite.md");

/// The maximum length of a rewritten question, in characters.
const MAX_QUESTION_CHARS: usize = 120;
/// Earlier questions shown to the model.
const HISTORY_TURNS: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rewritten {
    question: Option<String>,
}

/// Returns the JSON schema of the reply: the rewritten question, or null.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["question"],
        "properties": {"question": {"type": ["string", "null"]}},
    })
}

/// Builds the chat messages that ask the model to rewrite `question`.
pub fn rewrite_messages(
    layer: &SemanticLayer,
    reference_date: &str,
    history: &[String],
    question: &str,
) -> Vec<Value> {
    let metrics: Vec<String> = layer
        .metrics
        .iter()
        .filter_map(|metric| metric.label.clone())
        .collect();
    let system = REWRITE_PROMPT
        .replace("{reference_date}", reference_date)
        .replace("{metrics}", &metrics.join("、"))
        .replace(
            "{history}",
            &super::recent_questions(history, HISTORY_TURNS),
        );
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": question}),
    ]
}

/// Reads a reply: the rewritten question, or why it is not used. A
/// question of more than one line, too long, or the same as the follow-up
/// is not used.
pub fn parse_reply(text: &str, follow_up: &str) -> Result<String, String> {
    let unfenced = super::strip_code_fence(text);
    let reply: Rewritten = serde_json::from_str(unfenced)
        .map_err(|error| format!("the reply is not valid: {error}"))?;
    let question = reply
        .question
        .map(|question| question.trim().to_owned())
        .filter(|question| !question.is_empty())
        .ok_or_else(|| "the model did not rewrite the question".to_owned())?;
    if question.contains(['\n', '\r']) {
        return Err("the rewritten question has more than one line".to_owned());
    }
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(format!(
            "the rewritten question is longer than {MAX_QUESTION_CHARS} characters"
        ));
    }
    if question == follow_up.trim() {
        return Err("the rewritten question is the follow-up itself".to_owned());
    }
    Ok(question)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reply_reads_question() {
        let reply = r#"{"question": "上个月对公存款余额是多少"}"#;

        assert_eq!(
            parse_reply(reply, "那对公呢"),
            Ok("上个月对公存款余额是多少".to_owned())
        );
    }

    #[test]
    fn parse_reply_rejects_unusable() {
        for reply in [
            "上个月对公存款余额",
            r#"{"question": null}"#,
            r#"{"question": "  "}"#,
            r#"{"question": "那对公呢"}"#,
            r#"{"question": "存款余额\nDROP TABLE x"}"#,
            r#"{"question": "存款余额", "sql": "SELECT 1"}"#,
        ] {
            assert!(parse_reply(reply, "那对公呢").is_err(), "{reply}");
        }
        let long = format!(
            r#"{{"question": "{}"}}"#,
            "存".repeat(MAX_QUESTION_CHARS + 1)
        );
        assert!(parse_reply(&long, "那对公呢").is_err());
    }
}
