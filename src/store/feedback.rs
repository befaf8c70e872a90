//! Feedback: a user's thumbs up or down on an answer.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Result, Store, format_time, sql_limit};

/// A thumbs up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

impl Rating {
    /// Returns the name stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Up => "up",
            Rating::Down => "down",
        }
    }

    fn from_name(name: &str) -> Option<Rating> {
        match name {
            "up" => Some(Rating::Up),
            "down" => Some(Rating::Down),
            _ => None,
        }
    }
}

/// Feedback to record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feedback {
    pub time: DateTime<Utc>,
    pub user: String,
    pub session_id: String,
    /// The answer rated, when the client sent its id.
    pub answer_id: Option<String>,
    pub rating: Rating,
    /// The question that was answered, when the client sent it.
    pub question: Option<String>,
    pub comment: Option<String>,
}

/// Feedback as stored, with its row id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredFeedback {
    pub id: i64,
    pub time: DateTime<Utc>,
    pub user: String,
    pub session_id: String,
    pub answer_id: Option<String>,
    pub rating: Rating,
    pub question: Option<String>,
    pub comment: Option<String>,
}

/// The columns of one `feedback` row, before the time and rating are parsed.
struct FeedbackRow {
    id: i64,
    time: String,
    user: String,
    session_id: String,
    answer_id: Option<String>,
    rating: String,
    question: Option<String>,
    comment: Option<String>,
}

impl Store {
    /// Appends one feedback record and returns its id.
    pub fn record_feedback(&self, feedback: &Feedback) -> Result<i64> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "INSERT INTO feedback (time, user, session_id, answer_id, rating, question, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(self.statement_error("record feedback"))?;
        statement
            .execute(params![
                format_time(feedback.time),
                feedback.user,
                feedback.session_id,
                feedback.answer_id,
                feedback.rating.as_str(),
                feedback.question,
                feedback.comment,
            ])
            .map_err(self.statement_error("record feedback"))?;
        Ok(connection.last_insert_rowid())
    }

    /// Returns up to `limit` feedback records, newest first.
    pub fn list_feedback(&self, limit: usize) -> Result<Vec<StoredFeedback>> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "SELECT id, time, user, session_id, answer_id, rating, question, comment
                 FROM feedback ORDER BY time DESC, id DESC LIMIT ?1",
            )
            .map_err(self.statement_error("list feedback"))?;
        let rows = statement
            .query_map(params![sql_limit(limit)], |row| {
                Ok(FeedbackRow {
                    id: row.get(0)?,
                    time: row.get(1)?,
                    user: row.get(2)?,
                    session_id: row.get(3)?,
                    answer_id: row.get(4)?,
                    rating: row.get(5)?,
                    question: row.get(6)?,
                    comment: row.get(7)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.statement_error("list feedback"))?;
        drop(statement);
        drop(connection);

        let mut feedback = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(rating) = Rating::from_name(&row.rating) else {
                return Err(self.invalid_value(
                    "feedback",
                    "rating",
                    &row.rating,
                    "expected `up` or `down`",
                ));
            };
            feedback.push(StoredFeedback {
                id: row.id,
                time: self.parse_time("feedback", "time", &row.time)?,
                user: row.user,
                session_id: row.session_id,
                answer_id: row.answer_id,
                rating,
                question: row.question,
                comment: row.comment,
            });
        }
        Ok(feedback)
    }
}
