//! Conversations kept in memory between chat requests.
//!
//! Each session id maps to one [`ConversationState`] behind an async mutex:
//! a request holds the mutex for its whole turn, so two messages of the same
//! conversation are handled one after the other and the second sees the
//! first. Sessions expire after an idle timeout, and when the store is full
//! the least recently used one is evicted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::assistant::ConversationState;

/// One conversation's memory, locked for the duration of a turn.
pub type Conversation = Arc<tokio::sync::Mutex<ConversationState>>;

/// The sessions of one server, bounded in number and in idle time.
#[derive(Debug)]
pub struct SessionStore {
    idle_timeout: Duration,
    max_sessions: usize,
    sessions: HashMap<String, Session>,
    /// Session ids by last use, least recent first. The key is a counter
    /// that grows with every use, so it orders uses even when two share an
    /// `Instant`.
    recency: BTreeMap<u64, String>,
    next_use: u64,
}

#[derive(Debug)]
struct Session {
    conversation: Conversation,
    last_used: Instant,
    use_number: u64,
}

impl SessionStore {
    /// Creates an empty store. A `max_sessions` of 0 is treated as 1.
    pub fn new(idle_timeout: Duration, max_sessions: usize) -> SessionStore {
        SessionStore {
            idle_timeout,
            max_sessions: max_sessions.max(1),
            sessions: HashMap::new(),
            recency: BTreeMap::new(),
            next_use: 0,
        }
    }

    /// Returns the conversation of `id` and marks it used at `now`.
    ///
    /// An unknown or expired id starts an empty conversation under that id.
    /// Expired sessions are removed first, then the least recently used ones
    /// while the store is full. `now` must not go backwards between calls.
    pub fn checkout(&mut self, id: &str, now: Instant) -> Conversation {
        self.remove_expired(now);

        let use_number = self.next_use;
        self.next_use += 1;

        if let Some(session) = self.sessions.get_mut(id) {
            self.recency.remove(&session.use_number);
            self.recency.insert(use_number, id.to_owned());
            session.last_used = now;
            session.use_number = use_number;
            return Arc::clone(&session.conversation);
        }

        while self.sessions.len() >= self.max_sessions {
            let Some((_, evicted)) = self.recency.pop_first() else {
                break;
            };
            self.sessions.remove(&evicted);
            tracing::debug!(session_id = %evicted, "session evicted: the session store is full");
        }
        let conversation = Conversation::default();
        self.sessions.insert(
            id.to_owned(),
            Session {
                conversation: Arc::clone(&conversation),
                last_used: now,
                use_number,
            },
        );
        self.recency.insert(use_number, id.to_owned());
        debug_assert_eq!(self.sessions.len(), self.recency.len());
        conversation
    }

    /// Number of sessions currently stored, expired ones included until the
    /// next checkout removes them.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Removes the sessions idle for at least the idle timeout. They are the
    /// oldest entries of `recency`, so the scan stops at the first live one.
    fn remove_expired(&mut self, now: Instant) {
        while let Some((&use_number, id)) = self.recency.first_key_value() {
            let Some(session) = self.sessions.get(id) else {
                debug_assert!(
                    false,
                    "session `{id}` is in `recency` but not in `sessions`"
                );
                self.recency.remove(&use_number);
                continue;
            };
            if now.saturating_duration_since(session.last_used) < self.idle_timeout {
                break;
            }
            self.sessions.remove(id);
            self.recency.remove(&use_number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(30 * 60);

    #[test]
    fn same_id_returns_same_conversation() {
        let mut store = SessionStore::new(IDLE, 10);
        let now = Instant::now();

        let first = store.checkout("a", now);
        let second = store.checkout("a", now + Duration::from_secs(1));

        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn idle_session_expires() {
        let mut store = SessionStore::new(IDLE, 10);
        let now = Instant::now();
        let first = store.checkout("a", now);

        let later = store.checkout("a", now + IDLE);

        assert!(!Arc::ptr_eq(&first, &later));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn use_keeps_session_alive() {
        let mut store = SessionStore::new(IDLE, 10);
        let now = Instant::now();
        let first = store.checkout("a", now);
        store.checkout("a", now + IDLE / 2);

        let later = store.checkout("a", now + IDLE);

        assert!(Arc::ptr_eq(&first, &later));
    }

    #[test]
    fn expired_sessions_are_removed_on_checkout() {
        let mut store = SessionStore::new(IDLE, 10);
        let now = Instant::now();
        store.checkout("a", now);
        store.checkout("b", now);

        store.checkout("c", now + IDLE);

        assert_eq!(store.len(), 1);
    }

    #[test]
    fn full_store_evicts_least_recently_used() {
        let mut store = SessionStore::new(IDLE, 2);
        let now = Instant::now();
        let a = store.checkout("a", now);
        let b = store.checkout("b", now);
        store.checkout("a", now);

        store.checkout("c", now);

        assert_eq!(store.len(), 2);
        assert!(Arc::ptr_eq(&a, &store.checkout("a", now)));
        assert!(!Arc::ptr_eq(&b, &store.checkout("b", now)));
    }

    #[test]
    fn zero_max_sessions_keeps_one() {
        let mut store = SessionStore::new(IDLE, 0);
        let now = Instant::now();

        store.checkout("a", now);
        store.checkout("b", now);

        assert_eq!(store.len(), 1);
    }
}
