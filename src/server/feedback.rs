//! `POST /api/feedback`: a thumbs up or down on an answer, appended to a
//! log file as one JSON object per line.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::chat::check_session_id;
use super::error::ApiError;
use super::state::AppState;

/// The longest comment kept, in characters.
const MAX_COMMENT_CHARS: usize = 1_000;

/// The destination of feedback: a file it is appended to, or only the log.
#[derive(Debug, Clone)]
pub struct FeedbackLog {
    file: Option<Arc<Mutex<PathBuf>>>,
}

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

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Rating {
    Up,
    Down,
}

/// One line of the feedback log.
#[derive(Debug, Serialize)]
struct FeedbackRecord {
    time: String,
    session_id: String,
    answer_id: Option<String>,
    rating: Rating,
    question: Option<String>,
    comment: Option<String>,
}

impl FeedbackLog {
    pub fn new(file: Option<PathBuf>) -> FeedbackLog {
        FeedbackLog {
            file: file.map(|path| Arc::new(Mutex::new(path))),
        }
    }

    /// Appends one line and flushes it to disk before returning.
    fn append(&self, line: &str) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let path = file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder)?;
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)?;
        log.write_all(line.as_bytes())?;
        log.write_all(b"\n")?;
        log.sync_data()
    }
}

/// Records `{session_id, answer_id?, rating: "up" | "down", question?,
/// comment?}` and answers `{"status": "recorded"}`.
pub async fn record(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    let question = request
        .question
        .map(|text| text.chars().take(limit).collect::<String>());
    let comment = request
        .comment
        .map(|text| text.chars().take(MAX_COMMENT_CHARS).collect::<String>());
    let record = FeedbackRecord {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        session_id: request.session_id,
        answer_id: request.answer_id,
        rating: request.rating,
        question,
        comment,
    };
    let line = serde_json::to_string(&record)
        .map_err(|error| ApiError::Internal(format!("cannot serialize feedback: {error}")))?;

    let log = state.feedback_log().clone();
    tokio::task::spawn_blocking(move || log.append(&line))
        .await
        .map_err(|error| ApiError::Internal(format!("the feedback task failed: {error}")))?
        .map_err(|error| ApiError::Internal(format!("cannot write the feedback log: {error}")))?;
    tracing::info!(
        session_id = %record.session_id,
        rating = ?record.rating,
        "feedback recorded"
    );
    Ok(Json(serde_json::json!({"status": "recorded"})))
}
