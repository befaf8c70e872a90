//! Offline scoring of FAQ retrieval on a question file, without a server.
//!
//! The file is JSON Lines: one conversation per line, `{"id": ...,
//! "turns": [{"q": ..., "faq_id": ...}, ...]}`. A turn with `faq_id` is
//! correct when the top hit is that entry. The chat answers with that entry
//! only when the search is also confident, so both counts are reported.
//! Turns without `faq_id` (metric or out-of-scope questions) should not be
//! matched confidently, and those that are get listed.

use std::fmt;
use std::path::{Path, PathBuf};

use super::FaqIndex;

/// Errors reading a question file.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}:{line}: {message}")]
    Shape {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// One turn answered wrongly or without confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqMiss {
    /// The case id and the turn's 1-based number, such as `f12.1`.
    pub turn: String,
    pub question: String,
    /// The entry expected, or None for a turn that is not an FAQ question.
    pub expected: Option<String>,
    /// The top hit's id, or None when nothing matched.
    pub found: Option<String>,
    pub confident: bool,
    pub coverage: f32,
    pub margin: f32,
}

impl fmt::Display for FaqMiss {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = self.found.as_deref().unwrap_or("nothing");
        let judgement = if self.confident {
            "confident"
        } else {
            "not sure"
        };
        write!(formatter, "{} {}: ", self.turn, self.question)?;
        if let Some(expected) = &self.expected {
            write!(formatter, "expected `{expected}`, ")?;
        }
        write!(
            formatter,
            "found `{found}` ({judgement}, coverage {:.2}, margin {:.2})",
            self.coverage, self.margin
        )
    }
}

/// The scores of one question file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationReport {
    /// Turns with a `faq_id`.
    pub faq_turns: usize,
    /// FAQ turns whose top hit is the expected entry.
    pub top_hit_correct: usize,
    /// FAQ turns whose top hit is the expected entry and judged confident:
    /// the turns the chat would answer correctly once routed to the FAQ.
    pub confident_correct: usize,
    /// FAQ turns not counted in `confident_correct`.
    pub misses: Vec<FaqMiss>,
    /// Turns without a `faq_id`.
    pub other_turns: usize,
    /// Turns without a `faq_id` that an entry matched confidently.
    pub other_confident: Vec<FaqMiss>,
}

impl EvaluationReport {
    /// The share of FAQ turns whose top hit is right, from 0 to 1.
    pub fn top_hit_accuracy(&self) -> f64 {
        ratio(self.top_hit_correct, self.faq_turns)
    }

    /// The share of FAQ turns whose top hit is right and confident, from 0 to 1.
    pub fn confident_accuracy(&self) -> f64 {
        ratio(self.confident_correct, self.faq_turns)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl fmt::Display for EvaluationReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "FAQ turns: {}/{} top hit correct ({:.1} %), {}/{} correct and confident ({:.1} %)",
            self.top_hit_correct,
            self.faq_turns,
            100.0 * self.top_hit_accuracy(),
            self.confident_correct,
            self.faq_turns,
            100.0 * self.confident_accuracy(),
        )?;
        writeln!(
            formatter,
            "other turns: {}/{} matched confidently",
            self.other_confident.len(),
            self.other_turns
        )?;
        for miss in &self.misses {
            writeln!(formatter, "miss {miss}")?;
        }
        for miss in &self.other_confident {
            writeln!(formatter, "not an FAQ but matched {miss}")?;
        }
        Ok(())
    }
}

/// Searches every turn of the JSON Lines file at `path` and scores the
/// top hits.
///
/// # Errors
///
/// When the file cannot be read, or a line is not a conversation with
/// `turns` that each have a text `q`.
pub fn evaluate_file(index: &FaqIndex, path: &Path) -> Result<EvaluationReport, EvaluationError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvaluationError::Read {
        path: path.to_path_buf(),
        source,
    })?;

    let mut report = EvaluationReport::default();
    for (line_index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = line_index + 1;
        let shape_error = |message: &str| EvaluationError::Shape {
            path: path.to_path_buf(),
            line: line_number,
            message: message.to_owned(),
        };
        let case: serde_json::Value =
            serde_json::from_str(line).map_err(|source| EvaluationError::Json {
                path: path.to_path_buf(),
                line: line_number,
                source,
            })?;
        let case_id = case.get("id").and_then(|id| id.as_str()).unwrap_or("?");
        let turns = case
            .get("turns")
            .and_then(|turns| turns.as_array())
            .ok_or_else(|| shape_error("missing `turns`: expected a list of turns"))?;

        for (turn_index, turn) in turns.iter().enumerate() {
            let question = turn
                .get("q")
                .and_then(|question| question.as_str())
                .ok_or_else(|| shape_error("a turn has no text `q`"))?;
            let expected = turn.get("faq_id").and_then(|id| id.as_str());
            score_turn(
                index,
                &mut report,
                format!("{case_id}.{}", turn_index + 1),
                question,
                expected,
            );
        }
    }
    Ok(report)
}

fn score_turn(
    index: &FaqIndex,
    report: &mut EvaluationReport,
    turn: String,
    question: &str,
    expected: Option<&str>,
) {
    let outcome = index.search(question, 4);
    let found = outcome.hits.first().map(|hit| hit.id.clone());
    let miss = FaqMiss {
        turn,
        question: question.to_owned(),
        expected: expected.map(str::to_owned),
        found: found.clone(),
        confident: outcome.confident,
        coverage: outcome.coverage,
        margin: outcome.margin,
    };

    let Some(expected) = expected else {
        report.other_turns += 1;
        if outcome.confident {
            report.other_confident.push(miss);
        }
        return;
    };

    report.faq_turns += 1;
    let top_hit_correct = found.as_deref() == Some(expected);
    if top_hit_correct {
        report.top_hit_correct += 1;
    }
    if top_hit_correct && outcome.confident {
        report.confident_correct += 1;
    } else {
        report.misses.push(miss);
    }
}
