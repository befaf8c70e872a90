//! The endpoints of analysts and administrators: guarded raw SQL, reloading
//! the semantic layer, and the audit record.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::assistant::SqlError;
use crate::config::Role;
use crate::store::AuditFilter;

use super::audit::AuditDetails;
use super::auth::Principal;
use super::error::ApiError;
use super::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
}

/// `POST /api/sql` (analysts and admins): `{"sql": "SELECT ..."}` runs
/// through the SQL guard and the time limit, and comes back as
/// `{sql, columns, rows, truncated}`, where `sql` is the statement that ran
/// and `truncated` says the rows were cut at the row cap.
pub async fn sql(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(&[Role::Analyst, Role::Admin], "执行 SQL")?;
    let Some(assistant) = state.assistant() else {
        return Err(ApiError::NotReady);
    };
    if body.len() > state.limits().max_body_bytes {
        return Err(ApiError::BodyTooLarge {
            max: state.limits().max_body_bytes,
        });
    }
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::InvalidRequest(format!(
            "请求体应为 {{\"sql\": \"SELECT ...\"}} / body must be {{\"sql\": \"SELECT ...\"}}: {error}"
        ))
    })?;

    let typed = request.sql.clone();
    let max_rows = usize::try_from(assistant.max_rows()).unwrap_or(usize::MAX);
    let ran = tokio::task::spawn_blocking(move || assistant.run_sql(&request.sql))
        .await
        .map_err(|error| ApiError::Internal(format!("the SQL task failed: {error}")))?;
    let mut details = AuditDetails {
        question: Some(typed),
        intent: Some("sql".to_owned()),
        ..AuditDetails::default()
    };
    match ran {
        Ok((sql, mut table)) => {
            let truncated = table.rows.len() > max_rows;
            table.rows.truncate(max_rows);
            details.sql = Some(sql.clone());
            details.row_count = Some(table.rows.len() as u64);
            let mut response = Json(serde_json::json!({
                "sql": sql,
                "columns": table.columns,
                "rows": table.rows,
                "truncated": truncated,
            }))
            .into_response();
            response.extensions_mut().insert(details);
            Ok(response)
        }
        Err(error) => {
            let code = match &error {
                SqlError::Rejected(_) => "sql_rejected",
                SqlError::Timeout(_) => "timeout",
                SqlError::Failed(_) => "sql_failed",
                SqlError::Unavailable(_) => "warehouse_unavailable",
            };
            tracing::info!(user = %principal.user, code, %error, "raw SQL not run");
            details.outcome = Some(code.to_owned());
            let mut response = ApiError::Sql {
                code,
                message: error.to_string(),
            }
            .into_response();
            response.extensions_mut().insert(details);
            Ok(response)
        }
    }
}

/// `POST /api/admin/reload` (admins): reloads the semantic layer and the
/// knowledge base now. Answers with the reload report; a broken file keeps
/// the previous version serving and the report lists its errors.
pub async fn reload(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<super::state::ReloadReport>, ApiError> {
    principal.require(&[Role::Admin], "重新加载")?;
    super::reload::reload_now(&state).await;
    Ok(Json(state.reload_report()))
}

/// The query of `GET /api/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    user: Option<String>,
    session_id: Option<String>,
    outcome: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    limit: Option<usize>,
}

/// `GET /api/audit` (admins): the newest audit records, filtered.
pub async fn audit(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    principal.require(&[Role::Admin], "查看审计记录")?;
    let filter = AuditFilter {
        user: query.user,
        session_id: query.session_id,
        outcome: query.outcome,
        since: query.since,
        until: None,
        text: None,
        limit: query.limit.unwrap_or(100).min(10_000),
    };
    let store = Arc::clone(state.store());
    let records = tokio::task::spawn_blocking(move || store.list_audit(&filter))
        .await
        .map_err(|error| ApiError::Internal(format!("the audit task failed: {error}")))?
        .map_err(|error| ApiError::Internal(format!("cannot read the audit record: {error}")))?;
    Ok(Json(serde_json::json!({ "records": records })))
}
