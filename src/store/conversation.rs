//! Conversations: the owner of a chat session and the questions asked in it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, format_time};

/// A conversation as stored, with the time of its last save.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredConversation {
    pub session_id: String,
    pub user: String,
    /// The questions asked so far, oldest first.
    pub questions: Vec<String>,
    /// For each question, the reading in the semantic layer's words that
    /// answered it, when a verified question or the model gave one.
    pub readings: Vec<Option<String>>,
    pub updated_at: DateTime<Utc>,
}

impl StoredConversation {
    /// Pairs the questions with their readings, as [`crate::assistant::Assistant::restore`] takes them.
    pub fn turns(&self) -> Vec<(String, Option<String>)> {
        self.questions
            .iter()
            .cloned()
            .zip(self.readings.iter().cloned().chain(std::iter::repeat(None)))
            .collect()
    }
}

/// One question in the `questions` JSON: a string, or the question with
/// its reading. Conversations saved before readings were kept hold only
/// strings.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum StoredQuestion {
    Plain(String),
    Read { question: String, reading: String },
}

impl Store {
    /// Inserts or replaces the conversation of `session_id` and sets its
    /// `updated_at` to now.
    ///
    /// The owner is replaced too, so a caller that must keep one session to
    /// one user checks the owner with [`Store::load_conversation`] first.
    pub fn save_conversation(
        &self,
        session_id: &str,
        user: &str,
        questions: &[String],
        readings: &[Option<String>],
    ) -> Result<()> {
        let stored: Vec<StoredQuestion> = questions
            .iter()
            .zip(readings.iter().chain(std::iter::repeat(&None)))
            .map(|(question, reading)| match reading {
                Some(reading) => StoredQuestion::Read {
                    question: question.clone(),
                    reading: reading.clone(),
                },
                None => StoredQuestion::Plain(question.clone()),
            })
            .collect();
        let questions_json = serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_owned());
        let updated_at = format_time(Utc::now());

        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "INSERT INTO conversations (session_id, user, questions, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (session_id) DO UPDATE SET
                     user = excluded.user,
                     questions = excluded.questions,
                     updated_at = excluded.updated_at",
            )
            .map_err(self.statement_error("save a conversation"))?;
        statement
            .execute(params![session_id, user, questions_json, updated_at])
            .map_err(self.statement_error("save a conversation"))?;
        Ok(())
    }

    /// Returns the conversation of `session_id`, or `None` if none is stored.
    pub fn load_conversation(&self, session_id: &str) -> Result<Option<StoredConversation>> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "SELECT user, questions, updated_at FROM conversations WHERE session_id = ?1",
            )
            .map_err(self.statement_error("load a conversation"))?;
        let row = statement
            .query_row(params![session_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .optional()
            .map_err(self.statement_error("load a conversation"))?;
        drop(statement);
        drop(connection);

        let Some((user, questions_json, updated_at)) = row else {
            return Ok(None);
        };
        let stored: Vec<StoredQuestion> =
            self.parse_json("conversations", "questions", &questions_json)?;
        let (questions, readings) = stored
            .into_iter()
            .map(|question| match question {
                StoredQuestion::Plain(question) => (question, None),
                StoredQuestion::Read { question, reading } => (question, Some(reading)),
            })
            .unzip();
        Ok(Some(StoredConversation {
            session_id: session_id.to_string(),
            user,
            questions,
            readings,
            updated_at: self.parse_time("conversations", "updated_at", &updated_at)?,
        }))
    }

    /// Deletes the conversations last saved before `before` and returns how
    /// many were deleted.
    pub fn delete_conversations_idle_since(&self, before: DateTime<Utc>) -> Result<usize> {
        let connection = self.lock();
        connection
            .execute(
                "DELETE FROM conversations WHERE updated_at < ?1",
                params![format_time(before)],
            )
            .map_err(self.statement_error("delete idle conversations"))
    }
}
