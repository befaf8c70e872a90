//! The state the handlers share: the assistant once it is loaded, the
//! metric catalog and the sessions.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::assistant::Assistant;

use super::Limits;
use super::answers::{AnswerStore, KeptAnswer};
use super::catalog::Catalog;
use super::session::{Conversation, SessionStore};
use super::web::WebAssets;

/// The handlers' shared state; clones share the same sessions and assistant.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    limits: Limits,
    web_assets: WebAssets,
    /// Set once, when the assistant has loaded; until then the API returns 503.
    ready: OnceLock<Ready>,
    sessions: Mutex<SessionStore>,
    answers: Mutex<AnswerStore>,
    feedback: super::feedback::FeedbackLog,
}

struct Ready {
    assistant: Arc<Assistant>,
    catalog: Catalog,
}

impl AppState {
    /// Creates a state with no assistant yet: every endpoint returns 503
    /// until [`AppState::mark_ready`] is called.
    pub fn starting(limits: Limits) -> AppState {
        AppState::starting_with(limits, WebAssets::Embedded, None)
    }

    /// Like [`AppState::starting`], serving the page from `web_assets` and
    /// appending feedback to `feedback_log` when there is one.
    pub fn starting_with(
        limits: Limits,
        web_assets: WebAssets,
        feedback_log: Option<std::path::PathBuf>,
    ) -> AppState {
        let feedback = super::feedback::FeedbackLog::new(feedback_log);
        let sessions = SessionStore::new(limits.session_idle_timeout, limits.max_sessions);
        AppState {
            shared: Arc::new(Shared {
                limits,
                web_assets,
                ready: OnceLock::new(),
                sessions: Mutex::new(sessions),
                answers: Mutex::new(AnswerStore::default()),
                feedback,
            }),
        }
    }

    /// Creates a state that serves requests with `assistant` from the start.
    pub fn ready(assistant: Arc<Assistant>, limits: Limits) -> AppState {
        let state = AppState::starting(limits);
        state.mark_ready(assistant);
        state
    }

    /// Builds the metric catalog and marks the state ready to serve requests
    /// with `assistant`.
    ///
    /// Blocking: building the catalog compiles one query per metric and
    /// dimension (no SQL runs). Only the first call has an effect.
    pub fn mark_ready(&self, assistant: Arc<Assistant>) {
        if self.shared.ready.get().is_some() {
            tracing::warn!("the server is already ready; the second assistant is ignored");
            return;
        }

        let catalog = Catalog::build(&assistant);
        let _ = self.shared.ready.set(Ready { assistant, catalog });
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    pub fn web_assets(&self) -> &WebAssets {
        &self.shared.web_assets
    }

    /// Returns the assistant, or `None` while it is loading.
    pub fn assistant(&self) -> Option<Arc<Assistant>> {
        self.shared
            .ready
            .get()
            .map(|ready| Arc::clone(&ready.assistant))
    }

    /// Returns the metric catalog, or `None` while the assistant is loading.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.shared.ready.get().map(|ready| &ready.catalog)
    }

    /// Returns the conversation of `session_id`, starting an empty one when
    /// the id is unknown or has expired.
    pub fn conversation(&self, session_id: &str) -> Conversation {
        self.lock_sessions().checkout(session_id, Instant::now())
    }

    /// Keeps the table of a metric answer for download and sets its
    /// `answer_id`.
    pub fn keep_answer(&self, response: &mut crate::assistant::ChatResponse, question: &str) {
        self.shared
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keep(response, question);
    }

    /// Returns a kept answer's table, or None once it has been dropped.
    pub fn kept_answer(&self, id: &str) -> Option<Arc<KeptAnswer>> {
        self.shared
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
    }

    pub fn feedback_log(&self) -> &super::feedback::FeedbackLog {
        &self.shared.feedback
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
}
