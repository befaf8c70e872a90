//! The optional language model, through any OpenAI-compatible endpoint
//! (vLLM, Ollama, a hosted Qwen or DeepSeek).
//!
//! The model is never trusted with a figure. Its uses, and the check each
//! result passes before it is used:
//!
//! - Parse ([`query`]): a question the rules are not sure of becomes the
//!   metrics, breakdowns, filter values and time words of a JSON reply
//!   under a schema. [`query::ModelQuery::check`] rejects any name or value
//!   the layer does not have, and the accepted reading is written back as
//!   a question in the layer's own words, which the rules then read. So
//!   periods follow the bank's time rules, and every answer goes through
//!   the same planner, compiler and SQL guard as without a model.
//! - Rewrite ([`rewrite`]): a follow-up the rules cannot merge becomes a
//!   question that stands alone, which the rules then read.
//! - Analyst SQL ([`sql`]): for analysts, a question outside the semantic
//!   layer becomes SQL over the declared tables, which runs only through
//!   the SQL guard.
//! - FAQ wording ([`faq`]): an answer written from the retrieved entries,
//!   kept only if it cites those entries and no number they lack.
//! - Embeddings ([`retrieval`]): FAQ retrieval fused with BM25.
//!
//! | mode | the model is asked to parse |
//! |---|---|
//! | `rules` (default) | never; no endpoint is needed |
//! | `hybrid` | only when the rules are not confident |
//! | `llm` | every question but refusals |
//!
//! The other uses need `hybrid` or `llm`.

mod client;
pub mod faq;
mod prompt;
pub mod query;
pub mod retrieval;
pub mod rewrite;
pub mod sql;

use std::time::Duration;

pub use client::{LlmClient, LlmError, Usage};
pub use prompt::{PARSE_PROMPT, parse_messages, similar_verified_questions};

/// Returns a reply's text without the Markdown code fence that some local
/// models put around JSON, trimmed.
fn strip_code_fence(text: &str) -> &str {
    let trimmed = text.trim();
    trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed)
}

/// Formats the last `count` earlier questions as a list for a prompt,
/// oldest first, or （无） when there are none.
fn recent_questions(history: &[String], count: usize) -> String {
    let start = history.len().saturating_sub(count);
    let lines: Vec<String> = history[start..]
        .iter()
        .map(|question| format!("- {question}"))
        .collect();
    if lines.is_empty() {
        "（无）".to_owned()
    } else {
        lines.join("\n")
    }
}

/// When the model is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmMode {
    /// Rules only.
    #[default]
    Rules,
    /// The model reads what the rules are not sure of.
    Hybrid,
    /// The model reads every question; the rules are the fallback.
    Llm,
}

impl LlmMode {
    /// Reads `rules`, `hybrid` or `llm`.
    pub fn parse(text: &str) -> Result<LlmMode, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "rules" => Ok(LlmMode::Rules),
            "hybrid" => Ok(LlmMode::Hybrid),
            "llm" => Ok(LlmMode::Llm),
            other => Err(format!(
                "unknown LLM mode `{other}`: use `rules`, `hybrid` or `llm`"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LlmMode::Rules => "rules",
            LlmMode::Hybrid => "hybrid",
            LlmMode::Llm => "llm",
        }
    }
}

/// How to reach the model. The key comes from `OPENAI_API_KEY` only and is
/// never logged or shown.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmSettings {
    pub mode: LlmMode,
    /// The endpoint's base URL, such as `http://127.0.0.1:8000/v1`.
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// The endpoint's embedding model, for FAQ retrieval fused with BM25;
    /// BM25 searches alone when None.
    pub embedding_model: Option<String>,
    pub api_key: Option<String>,
    /// The time one call may take, retries included, before it is abandoned.
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LlmSettings")
            .field("mode", &self.mode)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("embedding_model", &self.embedding_model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            mode: LlmMode::Rules,
            base_url: None,
            model: None,
            embedding_model: None,
            api_key: None,
            timeout: Duration::from_secs(20),
        }
    }
}

impl LlmSettings {
    /// Checks that a mode other than `rules` names an endpoint and a model.
    pub fn check(&self) -> Result<(), String> {
        if self.mode == LlmMode::Rules {
            return Ok(());
        }
        let mode = self.mode.name();
        match (&self.base_url, &self.model) {
            (None, _) => Err(format!(
                "LLM mode `{mode}` needs an endpoint: set --llm-base-url, WENSHU_LLM_BASE_URL or [llm] base_url"
            )),
            (_, None) => Err(format!(
                "LLM mode `{mode}` needs a model: set --llm-model, WENSHU_LLM_MODEL or [llm] model"
            )),
            (Some(url), _) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(
                format!("the LLM base URL `{url}` must start with http:// or https://"),
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_not_in_debug_output() {
        let settings = LlmSettings {
            api_key: Some("sk-secret-value".to_owned()),
            ..LlmSettings::default()
        };

        let shown = format!("{settings:?}");

        assert!(!shown.contains("sk-secret-value"), "{shown}");
        assert!(shown.contains("<set>"));
    }

    #[test]
    fn modes_other_than_rules_need_an_endpoint_and_a_model() {
        let mut settings = LlmSettings {
            mode: LlmMode::Hybrid,
            ..LlmSettings::default()
        };
        assert!(settings.check().unwrap_err().contains("endpoint"));
        settings.base_url = Some("127.0.0.1:8000".to_owned());
        settings.model = Some("qwen".to_owned());
        assert!(settings.check().unwrap_err().contains("http://"));
        settings.base_url = Some("http://127.0.0.1:8000/v1".to_owned());
        assert!(settings.check().is_ok());
        assert_eq!(LlmMode::parse("HYBRID"), Ok(LlmMode::Hybrid));
        assert!(LlmMode::parse("gpt").is_err());
    }
}
