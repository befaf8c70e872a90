//! SQL written by the model for an analyst's question that the semantic
//! layer does not cover. The SQL runs only through the SQL guard, over the
//! tables the semantic layer declares, and is shown with its rows.

use serde::Deserialize;
use serde_json::{Value, json};

/// The prompt that asks for analyst SQL.
pub const SQL_PROMPT: &str = include_str!("../../prompts/sql.md");

/// The maximum length of a kept explanation, in characters.
const MAX_EXPLANATION_CHARS: usize = 300;

/// The model's SQL and its explanation of what the SQL counts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSql {
    /// None when the tables cannot answer the question.
    pub sql: Option<String>,
    pub explanation: String,
}

/// Returns the JSON schema of the reply.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["sql", "explanation"],
        "properties": {
            "sql": {"type": ["string", "null"]},
            "explanation": {"type": "string"},
        },
    })
}

/// Describes the declared tables for the prompt, one line per table:
/// `fact_deposit_daily(biz_date DATE, balance DECIMAL(18,2), ...)`.
pub fn describe_tables(columns: &[(String, String, String)]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut current: Option<&str> = None;
    for (table, column, type_name) in columns {
        if current != Some(table.as_str()) {
            lines.push(format!("- {table}("));
            current = Some(table);
        } else if let Some(line) = lines.last_mut() {
            line.push_str(", ");
        }
        if let Some(line) = lines.last_mut() {
            line.push_str(&format!("{column} {type_name}"));
        }
    }
    for line in &mut lines {
        line.push(')');
    }
    lines.join("\n")
}

/// Builds the chat messages that request SQL for `question`, in the
/// warehouse's `dialect` (`DuckDB`, `Spark SQL`).
pub fn sql_messages(
    dialect: &str,
    tables: &str,
    reference_date: &str,
    max_rows: u64,
    question: &str,
) -> Vec<Value> {
    let system = SQL_PROMPT
        .replace("{dialect}", dialect)
        .replace("{reference_date}", reference_date)
        .replace("{max_rows}", &max_rows.to_string())
        .replace("{tables}", tables);
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": question}),
    ]
}

/// Reads a reply. The explanation is cut to its first lines and length.
pub fn parse_reply(text: &str) -> Result<ModelSql, String> {
    let unfenced = super::strip_code_fence(text);
    let mut reply: ModelSql = serde_json::from_str(unfenced)
        .map_err(|error| format!("the reply is not valid: {error}"))?;
    reply.explanation = reply
        .explanation
        .trim()
        .chars()
        .take(MAX_EXPLANATION_CHARS)
        .collect();
    reply.sql = reply
        .sql
        .map(|sql| sql.trim().to_owned())
        .filter(|sql| !sql.is_empty());
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_described_one_per_line() {
        let columns = vec![
            (
                "dim_branch".to_owned(),
                "branch_id".to_owned(),
                "VARCHAR".to_owned(),
            ),
            (
                "dim_branch".to_owned(),
                "branch_name".to_owned(),
                "VARCHAR".to_owned(),
            ),
            (
                "fact_deposit_daily".to_owned(),
                "balance".to_owned(),
                "DECIMAL(18,2)".to_owned(),
            ),
        ];

        assert_eq!(
            describe_tables(&columns),
            "- dim_branch(branch_id VARCHAR, branch_name VARCHAR)\n- fact_deposit_daily(balance DECIMAL(18,2))"
        );
    }

    #[test]
    fn replies_are_read_or_rejected() {
        let reply = parse_reply(r#"{"sql": " SELECT 1 ", "explanation": "说明"}"#).unwrap();
        assert_eq!(reply.sql.as_deref(), Some("SELECT 1"));
        assert_eq!(
            parse_reply(r#"{"sql": null, "explanation": "缺少贷款表"}"#)
                .unwrap()
                .sql,
            None
        );
        assert!(parse_reply("SELECT 1").is_err());
        assert!(parse_reply(r#"{"sql": "SELECT 1", "explanation": "", "run": true}"#).is_err());
    }
}
