//! Errors of the HTTP API and their mapping to status codes.
//!
//! Every error leaves the server as `{"error": {"code": "...", "message": "..."}}`.
//! A message the user can act on is written in Chinese first, then in
//! English. An internal error sends a fixed message and logs its details.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The message sent for every internal error; the details go to the log.
const INTERNAL_MESSAGE: &str = "服务内部错误，请稍后再试 / internal server error, try again later";

/// A request the API rejects, or an internal failure while answering it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("请求体不是有效的 JSON / request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON of the wrong shape. The text names the field and the rule.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("问题不能为空 / the question is empty: send a non-empty `message`")]
    EmptyMessage,
    #[error(
        "问题过长（最多 {max} 字，收到 {actual} 字）/ question too long (max {max} characters, got {actual})"
    )]
    MessageTooLong { max: usize, actual: usize },
    #[error(
        "会话 ID 无效 / invalid `session_id`: use 1 to {max} characters of A-Z, a-z, 0-9, `_` and `-`, \
         or send null to start a new conversation"
    )]
    InvalidSessionId { max: usize },
    #[error("请求体过大（最多 {max} 字节）/ request body too large (max {max} bytes)")]
    BodyTooLarge { max: usize },
    #[error(
        "这个结果已不在服务器上，请重新提问后再下载 / this answer is no longer kept: ask again, then download"
    )]
    AnswerNotKept,
    #[error(
        "需要登录：请在 Authorization 头中提供有效的令牌 / a valid token is needed: send `Authorization: Bearer <token>`"
    )]
    Unauthorized,
    #[error("没有权限 / forbidden: {0}")]
    Forbidden(String),
    #[error(
        "请求过于频繁，请 {} 秒后再试 / too many requests: try again in {} s",
        .retry_after.as_secs().max(1),
        .retry_after.as_secs().max(1)
    )]
    RateLimited { retry_after: std::time::Duration },
    /// SQL the guard refused or that failed; the text says why.
    #[error("{message}")]
    Sql { code: &'static str, message: String },
    #[error("服务正在启动，请稍后再试 / the server is starting, try again shortly")]
    NotReady,
    #[error("接口不存在 / not found: no endpoint at `{0}`")]
    NotFound(String),
    #[error("不支持该请求方法 / method `{method}` is not allowed on `{path}`")]
    MethodNotAllowed { method: String, path: String },
    /// A bug or a broken dependency; the text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Returns the status code and the machine-readable code of the error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::EmptyMessage => (StatusCode::BAD_REQUEST, "empty_message"),
            ApiError::MessageTooLong { .. } => (StatusCode::BAD_REQUEST, "message_too_long"),
            ApiError::InvalidSessionId { .. } => (StatusCode::BAD_REQUEST, "invalid_session_id"),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::AnswerNotKept => (StatusCode::NOT_FOUND, "answer_not_kept"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Sql {
                code: "timeout", ..
            } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ApiError::Sql { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// Returns the JSON body sent to the client.
    pub fn body(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        serde_json::json!({"error": {"code": code, "message": self.client_message()}})
    }

    /// Returns the text sent to the client.
    fn client_message(&self) -> String {
        match self {
            ApiError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), code, error = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), code, "request rejected");
        }

        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.client_message(),
            },
        };
        // serde_json cannot fail on a struct of strings. The fallback still keeps
        // the error shape.
        let json = serde_json::to_string(&body).unwrap_or_else(|_| {
            format!(r#"{{"error":{{"code":"{code}","message":"{INTERNAL_MESSAGE}"}}}}"#)
        });
        let mut response = (status, [(CONTENT_TYPE, "application/json")], json).into_response();
        match &self {
            ApiError::Unauthorized => {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            ApiError::RateLimited { retry_after } => {
                let seconds = retry_after.as_secs().max(1).to_string();
                if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_error_hides_details() {
        let error = ApiError::Internal("duckdb: table `x` not found".to_owned());

        assert_eq!(error.client_message(), INTERNAL_MESSAGE);
        assert_eq!(error.status_and_code().0, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn too_long_message_names_limit() {
        let error = ApiError::MessageTooLong {
            max: 2000,
            actual: 10_000,
        };

        assert_eq!(
            error.client_message(),
            "问题过长（最多 2000 字，收到 10000 字）/ question too long (max 2000 characters, got 10000)"
        );
    }
}
