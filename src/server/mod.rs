//! The HTTP API: chat, health and the metric catalog, served with axum.
//!
//! [`router`] builds the routes over an [`AppState`] without a socket, so
//! tests drive it directly. [`serve`] binds the address and returns 503
//! from every endpoint while it loads the assistant on the blocking thread
//! pool. It then serves requests until Ctrl-C or SIGTERM, when it stops
//! accepting connections and finishes the requests in flight.
//!
//! | route | answer |
//! |---|---|
//! | `POST /api/chat` | the assistant's answer to `{session_id?, message}` |
//! | `POST /api/chat/stream` | the same answer as server-sent events, after the stages |
//! | `GET /api/answers/{id}/table.csv` | a metric answer's table as CSV (`.xlsx` for Excel) |
//! | `POST /api/feedback` | records a thumbs up or down on an answer |
//! | `GET /api/health` | `{"status": "ok", "reference_date": ..., "metrics": ...}` |
//! | `GET /api/metrics` | every metric with its labels and group-by items |
//! | `GET /api/examples?lang=zh` | example questions drawn from the semantic layer |
//! | `GET /api/faq?q=...` | knowledge-base entries for a search |
//! | `GET /` | the chat page (see [`WebAssets`]) |
//!
//! Errors are `{"error": {"code": ..., "message": ...}}` with a 4xx or 5xx
//! status (see [`ApiError`]).

mod admin;
mod answers;
mod audit;
mod auth;
mod catalog;
mod chat;
mod error;
mod feedback;
mod reload;
mod session;
mod state;
mod stream;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{get, post};
use chrono::NaiveDate;
use tokio::net::TcpListener;

use crate::assistant::Assistant;

pub use auth::{Access, FAILED_ATTEMPTS_PER_MINUTE, Principal, hash_token};
pub use catalog::{Catalog, DimensionEntry, MetricEntry};
pub use chat::{MAX_SESSION_ID_CHARS, check_message, check_session_id, new_session_id};
pub use error::ApiError;
pub use reload::Sources;
pub use session::{Conversation, SessionStore};
pub use state::{AppState, ReloadReport, StateOptions};
pub use web::WebAssets;

/// The address `wenshu serve` listens on by default: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Limits on requests and sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted message, in characters (default 2,000).
    pub max_message_chars: usize,
    /// Largest accepted request body, in bytes (default 64 KiB). A body over
    /// it gets a 413.
    pub max_body_bytes: usize,
    /// A session unused for this long is forgotten (default 30 minutes).
    pub session_idle_timeout: Duration,
    /// Most sessions kept at once; the least recently used one is evicted
    /// to make room (default 10,000).
    pub max_sessions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_chars: 2_000,
            max_body_bytes: 64 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
        }
    }
}

/// Settings of [`serve`]: the address, the input paths and the limits.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// The semantic-layer folder.
    pub semantic_layer: PathBuf,
    /// The warehouse: a DuckDB file, opened read-only, or a Spark Connect
    /// server.
    pub warehouse: crate::warehouse::WarehouseSource,
    /// The e-banking knowledge base; FAQ questions get a fallback without it.
    pub knowledge_base: Option<PathBuf>,
    pub limits: Limits,
    /// Where the chat page's files come from.
    pub web_assets: WebAssets,
    /// The SQLite file of conversations, feedback and the audit record.
    pub state_file: PathBuf,
    /// Tokens, roles and rate limits; disabled by default.
    pub access: Arc<Access>,
    /// The row cap, time limit and DuckDB limits of queries.
    pub query_settings: crate::assistant::QuerySettings,
    /// The optional language model; `rules` mode by default.
    pub llm: crate::llm::LlmSettings,
}

/// Builds the API's routes over `state`.
///
/// NOTE: no timeout applies to reading a body or to an answer, so a client
/// that stops sending in the middle of a body keeps its connection open.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.limits().max_body_bytes;
    let api = Router::new()
        .route("/api/chat", post(chat::chat))
        .route("/api/chat/stream", post(stream::chat_stream))
        .route("/api/answers/{id}/{file}", get(answers::download))
        .route("/api/feedback", post(feedback::record))
        .route("/api/examples", get(catalog::examples))
        .route("/api/metrics", get(catalog::metrics))
        .route("/api/faq", get(catalog::faq))
        .route("/api/sql", post(admin::sql))
        .route("/api/admin/reload", post(admin::reload))
        .route("/api/audit", get(admin::audit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::gate,
        ));
    let mut routes = Router::new()
        .merge(api)
        .route("/api/health", get(catalog::health))
        .route("/", get(web::page));
    for path in web::asset_paths() {
        routes = routes.route(&format!("/{path}"), get(web::page));
    }
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Listens on `config.bind` and serves the API until Ctrl-C or SIGTERM.
pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on `{}`", config.bind))?;
    run(listener, config, shutdown_signal()).await
}

/// Serves the API on `listener` until `shutdown` completes, then waits for
/// the requests in flight. `config.bind` is not used.
///
/// 1. Starts serving at once: every endpoint returns 503 while loading.
/// 2. Loads the semantic layer, opens the warehouse and builds the metric
///    catalog on the blocking thread pool.
/// 3. On success, serves requests normally. On failure, stops the server
///    and returns the loading error.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let store = crate::store::Store::open(&config.state_file).with_context(|| {
        format!(
            "cannot open the state database `{}`",
            config.state_file.display()
        )
    })?;
    if !config.access.enabled() {
        tracing::warn!(
            "authentication is disabled: anyone who can reach {address} sees every figure; \
             enable [auth] in wenshu.toml before serving other people"
        );
    }
    let llm = match config.llm.mode {
        crate::llm::LlmMode::Rules => None,
        mode => {
            let client = crate::llm::LlmClient::new(&config.llm).map_err(anyhow::Error::msg)?;
            tracing::info!(
                mode = mode.name(),
                model = client.model(),
                base_url = config.llm.base_url.as_deref().unwrap_or(""),
                "language model configured"
            );
            Some((Arc::new(client), mode))
        }
    };
    let state = AppState::new(StateOptions {
        limits: config.limits.clone(),
        web_assets: config.web_assets.clone(),
        access: Arc::clone(&config.access),
        store: Arc::new(store),
    });
    let (load_failed, load_failure) = tokio::sync::oneshot::channel::<()>();

    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            // Only a failed load sends; a dropped sender disables this branch.
            Ok(()) = load_failure => {}
        }
    };
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(stop);
    let server = tokio::spawn(server.into_future());
    tracing::info!(%address, "listening; loading the semantic layer and the warehouse");

    let loaded = load(state, config, llm).await;
    if loaded.is_err() {
        let _ = load_failed.send(());
    }

    let served = server.await;
    tracing::info!(%address, "server stopped");
    loaded?;
    served
        .context("the server task failed")?
        .context("the server failed")
}

/// Opens the assistant on the blocking thread pool and marks `state` ready.
async fn load(
    state: AppState,
    config: ServerConfig,
    llm: Option<(Arc<crate::llm::LlmClient>, crate::llm::LlmMode)>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let watched = state.clone();
    let runtime = tokio::runtime::Handle::current();
    let loading = tokio::task::spawn_blocking(move || -> anyhow::Result<NaiveDate> {
        let mut assistant = Assistant::connect(
            &config.semantic_layer,
            &config.warehouse,
            config.query_settings.clone(),
        )
        .with_context(|| {
            format!(
                "cannot start the assistant with semantic layer `{}` and warehouse `{}`",
                config.semantic_layer.display(),
                config.warehouse
            )
        })?;
        match (&config.knowledge_base, &llm, &config.llm.embedding_model) {
            (Some(folder), Some((client, _)), Some(model)) => {
                let index = crate::faq::FaqIndex::open_logged(folder).with_context(|| {
                    format!("cannot load the knowledge base `{}`", folder.display())
                })?;
                let fused = crate::llm::retrieval::FusedKnowledgeBase::new(
                    Arc::new(index),
                    Arc::clone(client),
                    model.clone(),
                );
                fused.refresh_in_background(&runtime);
                assistant = assistant.with_knowledge_base(Arc::new(fused));
            }
            (Some(folder), _, _) => {
                assistant = assistant.with_knowledge_base_dir(folder).with_context(|| {
                    format!("cannot load the knowledge base `{}`", folder.display())
                })?;
            }
            (None, _, _) => {}
        }
        if let Some((client, mode)) = &llm {
            assistant = assistant.with_llm(Arc::clone(client), *mode);
        }
        let reference_date = assistant.reference_date();
        state.set_sources(Sources {
            semantic_layer: config.semantic_layer.clone(),
            warehouse: config.warehouse.clone(),
            settings: config.query_settings.clone(),
        });
        state.mark_ready(Arc::new(assistant));
        Ok(reference_date)
    });
    let reference_date = loading.await.context("loading the assistant failed")??;

    tracing::info!(
        %reference_date,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    tokio::spawn(reload::watch(watched));
    Ok(())
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C; stop the server with SIGTERM");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stop the server with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; finishing the requests in flight");
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
