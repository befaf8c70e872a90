//! `POST /api/chat`: one message in, one answer out.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

use crate::assistant::{AnswerKind, ChatResponse, Stage};
use crate::config::Role;

use super::audit::AuditDetails;
use super::auth::Principal;
use super::error::ApiError;
use super::state::AppState;

/// Maximum length of a client's session id, in characters. Generated ids
/// have 32.
pub const MAX_SESSION_ID_CHARS: usize = 64;

/// A chat request after its JSON was checked field by field.
#[derive(Debug, PartialEq)]
struct ChatRequest {
    session_id: Option<String>,
    message: Option<String>,
}

/// A checked chat request, ready for the assistant.
pub(super) struct Prepared {
    pub assistant: std::sync::Arc<crate::assistant::Assistant>,
    pub principal: Principal,
    pub session_id: String,
    /// Whether the client sent the session id (it continues a conversation)
    /// rather than the server making a new one.
    pub continues: bool,
    pub message: String,
    pub started: Instant,
}

/// Checks a chat request: rejects it while the assistant is loading, or
/// when the body is too large, not JSON, or has fields of the wrong type.
/// Then checks the message and the session id, or creates a session id.
pub(super) async fn prepare(state: &AppState, request: Request) -> Result<Prepared, ApiError> {
    let started = Instant::now();
    let Some(assistant) = state.assistant() else {
        return Err(ApiError::NotReady);
    };
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(Principal::anonymous);
    let limits = state.limits();
    let body = read_body(request, limits.max_body_bytes).await?;
    let request = parse_request(&body)?;
    let message = check_message(
        request.message.as_deref().unwrap_or(""),
        limits.max_message_chars,
    )?
    .to_owned();
    let continues = request.session_id.is_some();
    let session_id = match request.session_id {
        Some(id) => check_session_id(&id).map(|()| id)?,
        None => new_session_id(),
    };
    Ok(Prepared {
        assistant,
        principal,
        session_id,
        continues,
        message,
        started,
    })
}

/// Answers a checked request on the blocking thread pool, calling
/// `progress` from that thread as each stage starts.
///
/// 1. Waits for the session's previous turn to finish. A session of
///    another user is refused. A session the server does not hold in
///    memory (after a restart) is restored from the store.
/// 2. Runs the assistant with the user's row scope, then saves the
///    conversation's questions to the store.
/// 3. Keeps the answer's table for download and logs the answer.
pub(super) async fn answer(
    state: &AppState,
    prepared: Prepared,
    mut progress: impl FnMut(Stage) + Send + 'static,
) -> Result<(ChatResponse, AuditDetails), ApiError> {
    let Prepared {
        assistant,
        principal,
        session_id,
        continues,
        message,
        started,
    } = prepared;
    let conversation = state.conversation(&session_id);
    let mut turn = conversation.lock_owned().await;
    if turn
        .owner
        .as_ref()
        .is_some_and(|owner| *owner != principal.user)
    {
        return Err(session_of_another_user());
    }
    let scope = state.access().scope(&principal);
    let model_sql = matches!(principal.role, Role::Analyst | Role::Admin);
    let store = std::sync::Arc::clone(state.store());
    let task_session_id = session_id.clone();
    let user = principal.user.clone();
    let message_chars = message.chars().count();
    let question = message.clone();
    let answered = tokio::task::spawn_blocking(move || -> Result<ChatResponse, ApiError> {
        let mut lost = false;
        if turn.questions.is_empty() {
            let stored = store.load_conversation(&task_session_id).map_err(|error| {
                ApiError::Internal(format!("cannot read the conversation: {error}"))
            })?;
            // A session id the server never saw, or whose conversation was
            // removed as idle: the earlier questions are gone.
            lost = continues && stored.is_none();
            if let Some(stored) = stored {
                if stored.user != user {
                    return Err(session_of_another_user());
                }
                assistant.restore(&mut turn, &stored.turns());
            }
        }
        turn.owner = Some(user.clone());
        turn.scope = scope;
        turn.model_sql = model_sql;
        let mut answer =
            assistant.respond_with_progress(&task_session_id, &mut turn, &message, &mut progress);
        if lost && matches!(answer.kind, AnswerKind::Fallback | AnswerKind::Clarify) {
            answer.text.push_str(if crate::understanding::interpret::is_english(&message) {
                "\n(This conversation's earlier questions were not found, so a follow-up has no context: ask the whole question.)"
            } else {
                "\n（没有找到这个会话之前的问题，追问无法接上文，请把问题说完整。）"
            });
        }
        if let Err(error) =
            store.save_conversation(&task_session_id, &user, &turn.questions, &turn.readings)
        {
            tracing::error!(%error, session_id = %task_session_id, "cannot save the conversation");
        }
        Ok(answer)
    })
    .await;
    let mut answer = answered
        .map_err(|error| ApiError::Internal(format!("the assistant task failed: {error}")))??;
    answer.session_id = session_id;
    state.keep_answer(&mut answer, &question, &principal.user);

    let kind = serde_json::to_value(answer.kind).unwrap_or(Json::Null);
    let kind = kind.as_str().unwrap_or("unknown").to_owned();
    tracing::info!(
        session_id = %answer.session_id,
        user = %principal.user,
        kind = %kind,
        metrics = %query_metrics(answer.query.as_ref()),
        message_chars,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "chat answered"
    );
    let details = AuditDetails {
        session_id: Some(answer.session_id.clone()),
        question: Some(question),
        intent: Some(kind),
        resolved_query: answer.query.clone(),
        sql: answer.sql.clone(),
        row_count: answer.rows.as_ref().map(|rows| rows.len() as u64),
        outcome: None,
    };
    Ok((answer, details))
}

/// Refuses a session that belongs to another user, in memory or in the
/// store, before a streamed answer starts.
pub(super) async fn check_owner(state: &AppState, prepared: &Prepared) -> Result<(), ApiError> {
    let owner = state
        .conversation(&prepared.session_id)
        .lock_owned()
        .await
        .owner
        .clone();
    let owner = match owner {
        Some(owner) => Some(owner),
        None => {
            let store = std::sync::Arc::clone(state.store());
            let session_id = prepared.session_id.clone();
            tokio::task::spawn_blocking(move || store.load_conversation(&session_id))
                .await
                .map_err(|error| ApiError::Internal(format!("the store task failed: {error}")))?
                .map_err(|error| {
                    ApiError::Internal(format!("cannot read the conversation: {error}"))
                })?
                .map(|stored| stored.user)
        }
    };
    match owner {
        Some(owner) if owner != prepared.principal.user => Err(session_of_another_user()),
        _ => Ok(()),
    }
}

fn session_of_another_user() -> ApiError {
    ApiError::Forbidden(
        "这个会话属于其他用户，请开始新对话 / this conversation belongs to another user: start a new one"
            .to_owned(),
    )
}

/// Runs the assistant on one chat message and returns its answer as JSON.
pub async fn chat(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let prepared = prepare(&state, request).await?;
    let (answer, details) = answer(&state, prepared, |_| {}).await?;
    let json = serde_json::to_string(&answer)
        .map_err(|error| ApiError::Internal(format!("cannot serialize the answer: {error}")))?;
    let mut response = (StatusCode::OK, [(CONTENT_TYPE, "application/json")], json).into_response();
    response.extensions_mut().insert(details);
    Ok(response)
}

/// Returns the trimmed message, or the error that rejects it: empty,
/// whitespace or invisible characters only, or longer than `max_chars`
/// characters (Unicode scalar values, so one Chinese character counts one).
pub fn check_message(message: &str, max_chars: usize) -> Result<&str, ApiError> {
    let trimmed = message.trim();
    if trimmed.chars().all(is_invisible) {
        return Err(ApiError::EmptyMessage);
    }

    let actual = trimmed.chars().count();
    if actual > max_chars {
        return Err(ApiError::MessageTooLong {
            max: max_chars,
            actual,
        });
    }
    Ok(trimmed)
}

/// Checks a client's session id: 1 to 64 characters of `[A-Za-z0-9_-]`.
pub fn check_session_id(id: &str) -> Result<(), ApiError> {
    let valid_length = (1..=MAX_SESSION_ID_CHARS).contains(&id.len());
    let valid_characters = id
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    if valid_length && valid_characters {
        Ok(())
    } else {
        Err(ApiError::InvalidSessionId {
            max: MAX_SESSION_ID_CHARS,
        })
    }
}

/// Creates a session id: a random (version 4) UUID as 32 hex digits, drawn
/// from the operating system's random source so that it cannot be guessed.
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// True for whitespace, control characters and the zero-width characters
/// that render as nothing.
fn is_invisible(character: char) -> bool {
    character.is_whitespace()
        || character.is_control()
        || matches!(character, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Reads the request body. A declared `Content-Length` over the limit is
/// rejected before any byte is read. A chunked body, or one longer than it
/// declared, is rejected once the bytes read pass the limit.
async fn read_body(request: Request, max_body_bytes: usize) -> Result<Bytes, ApiError> {
    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let max_length = u64::try_from(max_body_bytes).unwrap_or(u64::MAX);
    if declared_length.is_some_and(|length| length > max_length) {
        return Err(ApiError::BodyTooLarge {
            max: max_body_bytes,
        });
    }

    // The router's `DefaultBodyLimit` layer sets the limit this extractor applies.
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| body_error(&rejection, max_body_bytes))
}

fn body_error(rejection: &BytesRejection, max_body_bytes: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::BodyTooLarge {
            max: max_body_bytes,
        };
    }
    ApiError::InvalidRequest(format!(
        "请求体读取失败 / failed to read the request body: {}",
        rejection.body_text()
    ))
}

/// Parses the body as a JSON object with an optional string `message` and
/// an optional string or null `session_id`; other fields are ignored.
fn parse_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let value: Json =
        serde_json::from_slice(body).map_err(|error| ApiError::InvalidJson(error.to_string()))?;
    let Json::Object(fields) = value else {
        return Err(ApiError::InvalidRequest(format!(
            "请求体必须是 JSON 对象 / request body must be a JSON object such as {{\"message\": \"...\"}}, got {}",
            json_type(&value)
        )));
    };

    Ok(ChatRequest {
        session_id: optional_string(fields.get("session_id"), "session_id")?,
        message: optional_string(fields.get("message"), "message")?,
    })
}

fn optional_string(value: Option<&Json>, field: &str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ApiError::InvalidRequest(format!(
            "字段 {field} 必须是字符串 / field `{field}` must be a string, got {}",
            json_type(other)
        ))),
    }
}

fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Joins the metric names of an answer's query with commas, for the log.
fn query_metrics(query: Option<&Json>) -> String {
    let Some(Json::Array(metrics)) = query.and_then(|query| query.get("metrics")) else {
        return String::new();
    };
    let names: Vec<&str> = metrics.iter().filter_map(Json::as_str).collect();
    names.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_trimmed() {
        assert_eq!(check_message("  日均存款 \n", 2000).unwrap(), "日均存款");
    }

    #[test]
    fn blank_messages_are_rejected() {
        for message in ["", "   ", "\u{3000}\t\n", "\u{200B}\u{FEFF}", "\0"] {
            let result = check_message(message, 2000);

            assert!(
                matches!(result, Err(ApiError::EmptyMessage)),
                "{message:?}: {result:?}"
            );
        }
    }

    #[test]
    fn message_limit_counts_characters() {
        let at_limit = "存".repeat(2000);
        let over_limit = "存".repeat(2001);

        assert!(check_message(&at_limit, 2000).is_ok());
        assert!(matches!(
            check_message(&over_limit, 2000),
            Err(ApiError::MessageTooLong {
                max: 2000,
                actual: 2001
            })
        ));
    }

    #[test]
    fn session_id_rules() {
        assert!(check_session_id("abc-DEF_123").is_ok());
        assert!(check_session_id(&"a".repeat(64)).is_ok());
        for invalid in ["", "a b", "会话", "a/b", "x;y", &"a".repeat(65)] {
            assert!(check_session_id(invalid).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn new_session_id_is_valid_and_unique() {
        let first = new_session_id();
        let second = new_session_id();

        assert!(check_session_id(&first).is_ok());
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);
    }

    #[test]
    fn request_fields_are_type_checked() {
        let parsed =
            parse_request(br#"{"session_id": null, "message": "hi", "extra": 1}"#).unwrap();
        assert_eq!(
            parsed,
            ChatRequest {
                session_id: None,
                message: Some("hi".to_owned())
            }
        );

        let wrong_type = parse_request(br#"{"message": 5}"#).unwrap_err();
        assert_eq!(
            wrong_type.to_string(),
            "字段 message 必须是字符串 / field `message` must be a string, got a number"
        );

        assert!(matches!(
            parse_request(b"[1]"),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_request(b"{\"message\": "),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(parse_request(b""), Err(ApiError::InvalidJson(_))));
    }

    #[test]
    fn query_metrics_lists_names() {
        let query = serde_json::json!({"metrics": ["deposit_balance", "average_daily_balance"]});

        assert_eq!(
            query_metrics(Some(&query)),
            "deposit_balance,average_daily_balance"
        );
        assert_eq!(query_metrics(None), "");
    }
}
