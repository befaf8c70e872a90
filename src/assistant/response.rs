//! The chat API's answer, field for field as the evaluation contract names them.

use serde::Serialize;

use crate::warehouse::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerKind {
    /// A data answer.
    Metric,
    /// A knowledge-base answer.
    Faq,
    /// A metric's definition.
    Glossary,
    /// The server asks back.
    Clarify,
    /// Out of scope.
    Fallback,
    /// A request Wenshu will not do.
    Refused,
    /// Rows of SQL the language model wrote for an analyst's question that
    /// the semantic layer does not cover, shown with the SQL.
    Sql,
}

/// One result column: its name, a label for people and a type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseColumn {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The chart the page should draw for a metric answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    None,
    Line,
    Bar,
    Pie,
}

/// A knowledge-base entry in an FAQ answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqHit {
    pub id: String,
    /// The entry's category (限额, U盾, ...).
    pub category: String,
    pub question: String,
    pub answer: String,
    pub score: f32,
}

/// The FAQ part of an answer: the entry found and the runners-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaqAnswer {
    #[serde(flatten)]
    pub best: FaqHit,
    pub runners_up: Vec<FaqHit>,
}

/// The figure a metric answer leads with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    /// The metric's label, with the row it belongs to when there are several
    /// (存款余额 · 网络金融部).
    pub label: String,
    /// The value as bankers write it: 1.29 亿元, 12.34%, 1,024.
    pub value: String,
    /// The raw value: yuan, a percentage or a count.
    pub raw: Value,
    /// `yuan`, `percent`, `count` or `number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
}

/// The failure that left an understood question without figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerError {
    /// `query_timeout` (the query ran past its time limit) or `query_failed`
    /// (the warehouse or the SQL guard rejected the query, a bug to log).
    pub code: &'static str,
}

/// The answer to one chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatResponse {
    pub session_id: String,
    pub kind: AnswerKind,
    /// The answer a person reads, in the question's language.
    pub text: String,
    /// The self-contained question after merging the conversation's context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
    /// The structured metric query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<ResponseColumn>>,
    /// Raw values: yuan as numbers, rates and shares as percentages,
    /// dates as ISO strings, time buckets as their first day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Vec<Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faq: Option<FaqAnswer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartKind>,
    /// Identifies a metric answer's table for export and feedback; set by
    /// the server when it keeps the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<Headline>,
    /// The period answered, in words: 2026-01-01 至 2026-11-30.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_text: Option<String>,
    /// The data date (数据日期) the answer is relative to, as an ISO date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_date: Option<String>,
    /// The definitions (口径) of the metrics used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub definitions: Vec<String>,
    /// Which words of the question matched which metric, dimension or value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<crate::understanding::interpret::Evidence>,
    /// Questions the person might ask next.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
    /// Set when the answer reports a failure instead of figures, so that
    /// programs need not read `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AnswerError>,
    /// Whether the semantic layer cannot express what was asked, such as a
    /// breakdown that no metric of the question has. An analyst's question
    /// then goes on to model-written SQL.
    #[serde(skip)]
    pub beyond_layer: bool,
}

impl ChatResponse {
    /// An answer with only a kind and a text.
    pub fn text_only(session_id: &str, kind: AnswerKind, text: impl Into<String>) -> ChatResponse {
        ChatResponse {
            session_id: session_id.to_owned(),
            kind,
            text: text.into(),
            rewritten: None,
            query: None,
            sql: None,
            columns: None,
            rows: None,
            faq: None,
            candidates: None,
            chart: None,
            answer_id: None,
            headline: None,
            period_text: None,
            reference_date: None,
            definitions: Vec::new(),
            evidence: Vec::new(),
            suggestions: Vec::new(),
            error: None,
            beyond_layer: false,
        }
    }
}
