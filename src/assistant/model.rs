//! The optional language model's part in answering: verified questions,
//! rewritten follow-ups, readings of questions the rules are unsure of,
//! and SQL for analysts. Each result is checked before it is used, and
//! every failure leaves the rules' own answer.

use crate::llm::{self, LlmMode, query};
use crate::semantic::{Diagnostic, Diagnostics, SemanticLayer};
use crate::understanding::interpret::{Intent, Interpretation};
use crate::understanding::lexicon::{Lexicon, normalize};
use crate::understanding::time::TimeContext;

use super::{
    AnswerKind, Assistant, ChatResponse, ConversationState, ResponseColumn, SqlError,
    UNSURE_UNMATCHED, read_question,
};

/// A verified question ready to be matched: its words without punctuation
/// and the question in the layer's own words that the rules read.
#[derive(Debug, Clone)]
pub(super) struct Verified {
    key: String,
    reading: String,
}

/// Checks every verified question of the layer against the lexicon (names
/// and values) and the rules (its query must read as a metric question).
pub(super) fn check_verified_questions(
    layer: &SemanticLayer,
    lexicon: &Lexicon,
    context: &TimeContext,
) -> Result<Vec<Verified>, Diagnostics> {
    let mut verified = Vec::new();
    let mut problems = Vec::new();
    for question in &layer.verified_questions {
        let problem = |message: String| Diagnostic {
            file: question.file.clone(),
            line: question.span.line,
            column: question.span.column,
            message: format!("verified question `{}`: {message}", question.question),
            suggestion: None,
        };
        match query::ModelQuery::from_verified(question).check(layer, lexicon, context) {
            Ok(reading) => {
                let reread = read_question(layer, lexicon, context, &reading);
                if reread.intent == Intent::Metric && !reread.metrics.is_empty() {
                    verified.push(Verified {
                        key: match_key(&question.question),
                        reading,
                    });
                } else {
                    problems.push(problem(format!(
                        "its query reads as `{reading}`, which is not a metric question; name at least one metric under `metrics`"
                    )));
                }
            }
            Err(rejection) => problems.push(problem(rejection.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(verified)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Normalises a question for matching verified questions and drops its
/// spaces and punctuation.
fn match_key(question: &str) -> String {
    normalize(question)
        .chars()
        .filter(|character| character.is_alphanumeric())
        .collect()
}

impl Assistant {
    /// Returns the reading of a question asked in the words of a verified question.
    pub(super) fn verified_reading(&self, question: &str) -> Option<(String, Interpretation)> {
        let key = match_key(question);
        let verified = self.verified.iter().find(|verified| verified.key == key)?;
        let (_, reread) = self.read(&verified.reading);
        Some((verified.reading.clone(), reread))
    }

    /// Asks the model to rewrite a follow-up the rules are unsure of as a
    /// question that stands alone, and returns it with the rules' reading,
    /// when the rules read it as a metric question.
    pub(super) fn model_rewrite(
        &self,
        state: &ConversationState,
        question: &str,
        interpretation: &Interpretation,
    ) -> Option<(String, Interpretation)> {
        let (client, _) = self.llm.as_ref()?;
        if state.replaying
            || state.last.is_none()
            || !self.asks_model(LlmMode::Hybrid, question, interpretation)
        {
            return None;
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let history = &state.questions[..state.questions.len().saturating_sub(1)];
        let messages = llm::rewrite::rewrite_messages(
            &self.layer,
            &self.time_context.reference.to_string(),
            history,
            question,
        );
        let reply = handle.block_on(client.complete_json(
            "rewrite_follow_up",
            messages,
            llm::rewrite::schema(),
        ));
        let rewritten = match reply {
            Ok((text, _)) => llm::rewrite::parse_reply(&text, question),
            Err(error) => Err(error.to_string()),
        };
        match rewritten {
            Ok(rewritten) => {
                let (_, reread) = self.read(&rewritten);
                if reread.intent == Intent::Metric && !reread.metrics.is_empty() {
                    Some((rewritten, reread))
                } else {
                    tracing::info!(%rewritten, "the rewritten follow-up is not a metric question");
                    None
                }
            }
            Err(reason) => {
                tracing::info!(%reason, "no rewritten follow-up from the model");
                None
            }
        }
    }

    /// Asks the model for SQL answering an analyst's question that the
    /// semantic layer does not cover. The SQL runs through the SQL guard;
    /// a rejected statement gets one repair round. None when there is no
    /// model, it has no SQL, or its SQL did not pass.
    pub(super) fn analyst_sql(
        &self,
        session_id: &str,
        question: &str,
        english: bool,
    ) -> Option<ChatResponse> {
        let (client, _) = self.llm.as_ref()?;
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let mut messages = llm::sql::sql_messages(
            self.engine.name(),
            &self.sql_tables,
            &self.time_context.reference.to_string(),
            self.settings.max_rows,
            question,
        );
        for round in 0..2 {
            let reply = handle.block_on(client.complete_json(
                "analyst_sql",
                messages.clone(),
                llm::sql::schema(),
            ));
            let text = match reply {
                Ok((text, _)) => text,
                Err(error) => {
                    tracing::info!(%error, "no SQL from the model");
                    return None;
                }
            };
            let model_sql = match llm::sql::parse_reply(&text) {
                Ok(model_sql) => model_sql,
                Err(reason) => {
                    tracing::info!(%reason, "the model's SQL reply was rejected");
                    return None;
                }
            };
            let sql = model_sql.sql.as_deref()?;
            let problem = match self.run_sql(sql) {
                Ok((ran, table)) => {
                    return Some(self.sql_answer(
                        session_id,
                        ran,
                        table,
                        &model_sql.explanation,
                        english,
                    ));
                }
                Err(SqlError::Timeout(limit)) => {
                    // The same SQL again would take as long, so the answer
                    // shows it and the limit instead of a repair round.
                    tracing::info!(
                        seconds = limit.as_secs(),
                        "the model's SQL ran past its time limit"
                    );
                    let text = if english {
                        format!(
                            "The SQL that the language model wrote ran longer than {} seconds and was stopped. Narrow the question, or run a changed SQL yourself.",
                            limit.as_secs()
                        )
                    } else {
                        format!(
                            "语言模型写的 SQL 运行超过 {} 秒，已中止。请缩小问题范围，或修改 SQL 后自行查询。",
                            limit.as_secs()
                        )
                    };
                    let mut response = ChatResponse::text_only(session_id, AnswerKind::Sql, text);
                    response.sql = Some(sql.to_owned());
                    response.error = Some(super::AnswerError {
                        code: "query_timeout",
                    });
                    return Some(response);
                }
                Err(SqlError::Rejected(error)) => error.to_string(),
                Err(SqlError::Unavailable(error)) => {
                    // A repair round cannot help while the warehouse is away.
                    tracing::error!(session = session_id, %error, "warehouse unavailable");
                    let mut response =
                        super::answer::unavailable_response(session_id, AnswerKind::Sql, english);
                    response.sql = Some(sql.to_owned());
                    return Some(response);
                }
                Err(error) => {
                    tracing::info!(%error, "the model's SQL failed");
                    error.to_string()
                }
            };
            tracing::info!(round, %problem, "the model's SQL did not run");
            if round == 0 {
                messages.push(serde_json::json!({"role": "assistant", "content": text}));
                messages.push(serde_json::json!({
                    "role": "user",
                    "content": format!("上面的 SQL 不能运行：{problem}。请修改后重新输出一个 JSON 对象。"),
                }));
            }
        }
        None
    }

    fn sql_answer(
        &self,
        session_id: &str,
        sql: String,
        table: crate::warehouse::Table,
        explanation: &str,
        english: bool,
    ) -> ChatResponse {
        let max_rows = self.settings.max_rows as usize;
        let truncated = table.rows.len() > max_rows;
        let mut text = if english {
            "These rows come from SQL that the language model wrote for your question; it was not checked against the metric definitions (口径). Check the SQL before using the figures.".to_owned()
        } else {
            "以下结果来自语言模型根据问题写的 SQL，未经指标口径核对，请先核对 SQL 再使用。"
                .to_owned()
        };
        if !explanation.is_empty() {
            text.push('\n');
            text.push_str(explanation);
        }
        if truncated {
            text.push_str(&if english {
                format!("\nOnly the first {max_rows} rows are shown.")
            } else {
                format!("\n结果较多，只显示前 {max_rows} 行。")
            });
        }
        let mut response = ChatResponse::text_only(session_id, AnswerKind::Sql, text);
        response.columns = Some(
            table
                .columns
                .iter()
                .map(|column| ResponseColumn {
                    name: column.name.clone(),
                    label: column.name.clone(),
                    type_name: column_type(&column.type_name).to_owned(),
                })
                .collect(),
        );
        response.rows = Some(table.rows.into_iter().take(max_rows).collect());
        response.sql = Some(sql);
        response.reference_date = Some(self.time_context.reference.to_string());
        response
    }

    /// Returns true when `mode` calls for asking the model about this reading: in
    /// `llm` mode always, in `hybrid` mode when the rules are not
    /// confident (they ask back, found nothing, or left much of the
    /// question unread). Refusals are never sent to the model.
    pub(super) fn asks_model(
        &self,
        mode: crate::llm::LlmMode,
        question: &str,
        interpretation: &Interpretation,
    ) -> bool {
        match (mode, interpretation.intent) {
            (LlmMode::Rules, _) | (_, Intent::Refused | Intent::Glossary) => false,
            (LlmMode::Llm, _) => true,
            (LlmMode::Hybrid, Intent::Clarify) => true,
            (LlmMode::Hybrid, Intent::Faq) => false,
            // A question the knowledge base clearly answers needs no model.
            (LlmMode::Hybrid, Intent::Fallback) => !self
                .knowledge_base
                .as_ref()
                .is_some_and(|knowledge_base| knowledge_base.search(question, 2).confident),
            (LlmMode::Hybrid, Intent::Metric) => {
                interpretation.unmatched > UNSURE_UNMATCHED && interpretation.metrics.is_empty()
            }
        }
    }

    /// Asks the model to read the question, when the mode says to, and
    /// returns its reading as a question in the layer's words with the
    /// rules' reading of that question. None when there is no model, the
    /// call failed, or the reply did not pass the checks (after one repair
    /// round): the rules' own reading then stands.
    pub(super) fn model_reading(
        &self,
        state: &ConversationState,
        question: &str,
        interpretation: &Interpretation,
    ) -> Option<(String, Interpretation)> {
        let (client, mode) = self.llm.as_ref()?;
        if state.replaying || !self.asks_model(*mode, question, interpretation) {
            return None;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no async runtime; the language model is not asked");
            return None;
        };
        let history = &state.questions[..state.questions.len().saturating_sub(1)];
        let mut messages = llm::parse_messages(
            &self.layer,
            &self.lexicon,
            &self.time_context.reference.to_string(),
            history,
            question,
        );
        for round in 0..2 {
            let reply = handle.block_on(client.complete_json(
                "parse_question",
                messages.clone(),
                query::schema(),
            ));
            let text = match reply {
                Ok((text, _)) => text,
                Err(error) => {
                    tracing::info!(%error, "no reading from the model; the rules' reading is used");
                    return None;
                }
            };
            let checked = query::parse_reply(&text)
                .and_then(|query| query.check(&self.layer, &self.lexicon, &self.time_context));
            let rejection = match checked {
                Ok(reading) => {
                    let (_, reread) = self.read(&reading);
                    if reread.intent == Intent::Metric && !reread.metrics.is_empty() {
                        return Some((reading, reread));
                    }
                    tracing::info!(%reading, "the rules do not read the model's reading as a metric question");
                    return None;
                }
                Err(query::Rejection::NotAMetricQuestion) => return None,
                Err(rejection) => rejection,
            };
            tracing::info!(round, %rejection, "the model's reply was rejected");
            if round == 0 {
                messages.push(serde_json::json!({"role": "assistant", "content": text}));
                messages.push(serde_json::json!({
                    "role": "user",
                    "content": format!(
                        "上面的 JSON 不可用：{rejection}。请只使用列出的指标、维度和取值，重新输出一个 JSON 对象。"
                    ),
                }));
            }
        }
        None
    }
}

/// Maps a DuckDB column type to the response's column type.
fn column_type(duckdb_type: &str) -> &'static str {
    let upper = duckdb_type.to_ascii_uppercase();
    if upper.starts_with("DATE") || upper.starts_with("TIMESTAMP") {
        "date"
    } else if [
        "INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL",
        "NUMERIC", "UBIGINT", "UINTEGER", "INTEGER",
    ]
    .iter()
    .any(|numeric| upper.starts_with(numeric))
    {
        "number"
    } else {
        "text"
    }
}
