//! The state the handlers share: the assistant once it is loaded (and
//! replaced on reload), the metric catalog, the sessions, access control
//! and the durable store.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use serde::Serialize;

use crate::assistant::Assistant;
use crate::store::Store;

use super::Limits;
use super::answers::{AnswerStore, KeptAnswer};
use super::auth::Access;
use super::catalog::Catalog;
use super::session::{Conversation, SessionStore};
use super::web::WebAssets;

/// The handlers' shared state; clones share the same sessions and assistant.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

/// The parts of a state, besides the assistant.
pub struct StateOptions {
    pub limits: Limits,
    pub web_assets: WebAssets,
    pub access: Arc<Access>,
    /// Conversations, feedback and the audit record.
    pub store: Arc<Store>,
}

impl StateOptions {
    /// Default limits, the embedded page, auth disabled and a store in memory.
    pub fn in_memory(limits: Limits) -> StateOptions {
        StateOptions {
            limits,
            web_assets: WebAssets::Embedded,
            access: Arc::new(Access::default()),
            store: Arc::new(Store::open_in_memory().expect("an in-memory SQLite database opens")),
        }
    }
}

struct Shared {
    limits: Limits,
    web_assets: WebAssets,
    access: Arc<Access>,
    store: Arc<Store>,
    /// None until the assistant has loaded; until then the API returns 503.
    ready: RwLock<Option<Arc<Ready>>>,
    sessions: Mutex<SessionStore>,
    answers: Mutex<AnswerStore>,
    reload: Mutex<ReloadReport>,
    sources: Mutex<Option<super::reload::Sources>>,
}

struct Ready {
    assistant: Arc<Assistant>,
    catalog: Arc<Catalog>,
}

/// The outcome of the latest reload of the semantic layer, for
/// `GET /api/health`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadReport {
    /// `ok`, or `error` while a broken file keeps the previous version serving.
    pub status: &'static str,
    /// When the version now serving was loaded (RFC 3339).
    pub loaded_at: Option<String>,
    /// The errors of the latest attempt, when it failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl AppState {
    /// Creates a state with no assistant yet, auth disabled and a store in
    /// memory: every endpoint returns 503 until [`AppState::mark_ready`].
    pub fn starting(limits: Limits) -> AppState {
        AppState::new(StateOptions::in_memory(limits))
    }

    /// Creates a state with no assistant yet.
    pub fn new(options: StateOptions) -> AppState {
        let limits = options.limits;
        let sessions = SessionStore::new(limits.session_idle_timeout, limits.max_sessions);
        AppState {
            shared: Arc::new(Shared {
                limits,
                web_assets: options.web_assets,
                access: options.access,
                store: options.store,
                ready: RwLock::new(None),
                sessions: Mutex::new(sessions),
                answers: Mutex::new(AnswerStore::default()),
                reload: Mutex::new(ReloadReport::default()),
                sources: Mutex::new(None),
            }),
        }
    }

    /// Creates a state that serves requests with `assistant` from the start.
    pub fn ready(assistant: Arc<Assistant>, limits: Limits) -> AppState {
        let state = AppState::starting(limits);
        state.mark_ready(assistant);
        state
    }

    /// Builds the metric catalog and serves requests with `assistant` from
    /// now on; a reload calls it again with the new assistant. Requests
    /// already running finish with the assistant they started with.
    ///
    /// Blocking: building the catalog compiles one query per metric and
    /// dimension (no SQL runs).
    pub fn mark_ready(&self, assistant: Arc<Assistant>) {
        let catalog = Arc::new(Catalog::build(&assistant));
        let ready = Arc::new(Ready { assistant, catalog });
        *self
            .shared
            .ready
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(ready);
        let mut report = self.lock_reload();
        report.status = "ok";
        report.loaded_at = Some(chrono::Utc::now().to_rfc3339());
        report.errors.clear();
    }

    /// Records a reload that failed; the previous assistant keeps serving.
    pub fn reload_failed(&self, errors: Vec<String>) {
        let mut report = self.lock_reload();
        report.status = "error";
        report.errors = errors;
    }

    /// Sets where reloads load the assistant from.
    pub fn set_sources(&self, sources: super::reload::Sources) {
        *self
            .shared
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(sources);
    }

    pub fn sources(&self) -> Option<super::reload::Sources> {
        self.shared
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reload_report(&self) -> ReloadReport {
        self.lock_reload().clone()
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    pub fn web_assets(&self) -> &WebAssets {
        &self.shared.web_assets
    }

    pub fn access(&self) -> &Access {
        &self.shared.access
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Returns the assistant, or `None` while it is loading.
    pub fn assistant(&self) -> Option<Arc<Assistant>> {
        self.current().map(|ready| Arc::clone(&ready.assistant))
    }

    /// Returns the metric catalog, or `None` while the assistant is loading.
    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.current().map(|ready| Arc::clone(&ready.catalog))
    }

    fn current(&self) -> Option<Arc<Ready>> {
        self.shared
            .ready
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Returns the conversation of `session_id`, starting an empty one when
    /// the id is unknown or has expired.
    pub fn conversation(&self, session_id: &str) -> Conversation {
        self.lock_sessions().checkout(session_id, Instant::now())
    }

    /// Keeps the table of a metric answer for `user` to download and sets
    /// its `answer_id`.
    pub fn keep_answer(
        &self,
        response: &mut crate::assistant::ChatResponse,
        question: &str,
        user: &str,
    ) {
        self.shared
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keep(response, question, user);
    }

    /// Returns a kept answer's table, or None once it has been dropped.
    pub fn kept_answer(&self, id: &str) -> Option<Arc<KeptAnswer>> {
        self.shared
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
    }

    pub fn session_count(&self) -> usize {
        self.lock_sessions().len()
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, SessionStore> {
        // The store's methods panic only on debug assertions, so a poisoned
        // lock still guards a usable store.
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_reload(&self) -> std::sync::MutexGuard<'_, ReloadReport> {
        self.shared
            .reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
