//! `POST /api/feedback`: a thumbs up or down on an answer, kept in the
//! durable store.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::store::{Feedback, Rating};

use super::audit::AuditDetails;
use super::auth::Principal;
use super::chat::check_session_id;
use super::error::ApiError;
use super::state::AppState;

/// The longest comment kept, in characters.
const MAX_COMMENT_CHARS: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackRequest {
    session_id: String,
    #[serde(default)]
    answer_id: Option<String>,
    rating: Rating,
    #[serde(default)]
    question: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// Records `{session_id, answer_id?, rating: "up" | "down", question?,
/// comment?}` and replies `{"status": "recorded"}` once it is on disk.
pub async fn record(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = principal.map_or_else(|| Principal::anonymous().user, |Extension(p)| p.user);
    let request: FeedbackRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::InvalidRequest(format!(
            "反馈格式不对 / feedback must be {{\"session_id\", \"rating\": \"up\" | \"down\", \"answer_id\"?, \"question\"?, \"comment\"?}}: {error}"
        ))
    })?;
    check_session_id(&request.session_id)?;
    if let Some(answer_id) = &request.answer_id {
        check_session_id(answer_id).map_err(|_| {
            ApiError::InvalidRequest("answer_id 无效 / invalid `answer_id`".to_owned())
        })?;
    }
    let limit = state.limits().max_message_chars;
    let feedback = Feedback {
        time: chrono::Utc::now(),
        user,
        session_id: request.session_id,
        answer_id: request.answer_id,
        rating: request.rating,
        question: request
            .question
            .map(|text| text.chars().take(limit).collect()),
        comment: request
            .comment
            .map(|text| text.chars().take(MAX_COMMENT_CHARS).collect()),
    };

    let store = std::sync::Arc::clone(state.store());
    let task_feedback = feedback.clone();
    tokio::task::spawn_blocking(move || store.record_feedback(&task_feedback))
        .await
        .map_err(|error| ApiError::Internal(format!("the feedback task failed: {error}")))?
        .map_err(|error| ApiError::Internal(format!("cannot record the feedback: {error}")))?;
    tracing::info!(
        session_id = %feedback.session_id,
        rating = feedback.rating.as_str(),
        "feedback recorded"
    );
    let mut response = Json(serde_json::json!({"status": "recorded"})).into_response();
    response.extensions_mut().insert(AuditDetails {
        session_id: Some(feedback.session_id),
        question: feedback.question,
        intent: Some(format!("feedback_{}", feedback.rating.as_str())),
        ..AuditDetails::default()
    });
    Ok(response)
}
