//! The gate every API request passes: authentication, the rate limit, then
//! one audit record once it is answered.
//!
//! Handlers add what they know (the question, the intent, the SQL, the row
//! count) to the response as [`AuditDetails`]; the gate writes the record
//! with the user, endpoint, status and latency before the response leaves,
//! so an answered request is on disk even if the process is killed next.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::store::AuditRecord;

use super::auth::Principal;
use super::error::ApiError;
use super::state::AppState;

/// The details a handler has of a request, for its audit record.
#[derive(Debug, Clone, Default)]
pub struct AuditDetails {
    pub session_id: Option<String>,
    pub question: Option<String>,
    pub intent: Option<String>,
    pub resolved_query: Option<serde_json::Value>,
    pub sql: Option<String>,
    pub row_count: Option<u64>,
    /// An outcome other than the status's (`timeout`, `sql_rejected`).
    pub outcome: Option<String>,
}

/// Marks a response whose handler writes its own audit record later, as
/// the streamed chat does once its answer is complete.
#[derive(Debug, Clone, Copy)]
pub struct AuditedByHandler;

/// Authenticates the request, applies the rate limit, runs the handler and
/// writes the audit record.
pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = format!("{} {}", request.method(), request.uri().path());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());

    let principal = match state.access().authenticate(request.headers()) {
        Ok(principal) => principal,
        Err(error) => {
            // No role is known for a request without a valid token.
            let unknown = Principal {
                user: "unknown".to_owned(),
                ..Principal::anonymous()
            };
            let error = match state.access().admit_failed_attempt(client) {
                Ok(()) => error,
                Err(retry_after) => ApiError::RateLimited { retry_after },
            };
            return reject(&state, &unknown, &endpoint, started, error).await;
        }
    };
    if let Err(retry_after) = state.access().admit(&principal, client) {
        return reject(
            &state,
            &principal,
            &endpoint,
            started,
            ApiError::RateLimited { retry_after },
        )
        .await;
    }

    request.extensions_mut().insert(principal.clone());
    let response = next.run(request).await;
    if response.extensions().get::<AuditedByHandler>().is_some() {
        return response;
    }
    let details = response
        .extensions()
        .get::<AuditDetails>()
        .cloned()
        .unwrap_or_default();
    let status = response.status().as_u16();
    let outcome = details
        .outcome
        .clone()
        .unwrap_or_else(|| outcome_of_status(status).to_owned());
    write(
        &state,
        record(&principal, &endpoint, started, status, outcome, details),
    )
    .await;
    response
}

/// Responds to a request the gate turned away, and records it.
async fn reject(
    state: &AppState,
    principal: &Principal,
    endpoint: &str,
    started: Instant,
    error: ApiError,
) -> Response {
    let (status, code) = error.status_and_code();
    let details = AuditDetails::default();
    write(
        state,
        record(
            principal,
            endpoint,
            started,
            status.as_u16(),
            code.to_owned(),
            details,
        ),
    )
    .await;
    error.into_response()
}

/// Builds the audit record of a finished request.
pub fn record(
    principal: &Principal,
    endpoint: &str,
    started: Instant,
    status: u16,
    outcome: String,
    details: AuditDetails,
) -> AuditRecord {
    let role = if outcome == "unauthorized" || principal.user == "unknown" {
        "none"
    } else {
        principal.role.name()
    };
    AuditRecord {
        time: chrono::Utc::now(),
        user: principal.user.clone(),
        role: role.to_owned(),
        endpoint: endpoint.to_owned(),
        session_id: details.session_id,
        question: details.question,
        intent: details.intent,
        resolved_query: details.resolved_query,
        sql: details.sql,
        row_count: details.row_count,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        status,
        outcome,
    }
}

/// Appends a record on the blocking thread pool and waits for it. A record
/// that cannot be written is logged with its content, so it is not lost.
pub async fn write(state: &AppState, record: AuditRecord) {
    let store = std::sync::Arc::clone(state.store());
    let written = tokio::task::spawn_blocking(move || {
        let result = store.append_audit(&record);
        (result, record)
    })
    .await;
    match written {
        Ok((Ok(_), _)) => {}
        Ok((Err(error), record)) => {
            tracing::error!(%error, ?record, "cannot write the audit record");
        }
        Err(error) => tracing::error!(%error, "the audit task failed"),
    }
}

fn outcome_of_status(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        413 => "body_too_large",
        429 => "rate_limited",
        503 => "not_ready",
        500..=599 => "internal",
        _ => "error",
    }
}
