//! The state the handlers share: the assistant once it is loaded, the
//! metric catalog and the sessions.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::assistant::Assistant;

use super::Limits;
use super::catalog::Catalog;
use super::session::{Conversation, SessionStore};

/// The handlers' shared state; clones share the same sessions and assistant.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

struct Shared {
    limits: Limits,
    /// Set once, when the assistant has loaded; until then the API returns 503.
    ready: OnceLock<Ready>,
    sessions: Mutex<SessionStore>,
}

struct Ready {
    assistant: Arc<Assistant>,
    catalog: Catalog,
}

impl AppState {
    /// Creates a state with no assistant yet: every endpoint returns 503
    /// until [`AppState::mark_ready`] is called.
    pub fn starting(limits: Limits) -> AppState {
        let sessions = SessionStore::new(limits.session_idle_timeout, limits.max_sessions);
        AppState {
            shared: Arc::new(Shared {
                limits,
                ready: OnceLock::new(),
                sessions: Mutex::new(sessions),
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
