//! What a load test measured: latency percentiles, throughput and errors.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The outcome of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A 2xx response with an answer of `kind`; `error` is the code of an
    /// answer that reports a failure (`query_failed`, `query_timeout`).
    Answer { kind: String, error: Option<String> },
    /// A response with a status outside 2xx.
    Status(u16),
    /// A 2xx response whose body is not a chat answer.
    InvalidBody,
    /// No response: refused connection, reset, or timed out.
    Transport,
}

/// One finished request: its outcome and the time from sending the request
/// to reading the whole body.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub outcome: Outcome,
    pub latency: Duration,
}

/// Nearest-rank percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latencies {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latencies {
    /// Summarizes `latencies`; all fields are 0 when it is empty.
    pub fn of(latencies: &[Duration]) -> Latencies {
        if latencies.is_empty() {
            return Latencies::default();
        }
        let mut milliseconds: Vec<f64> = latencies
            .iter()
            .map(|latency| latency.as_secs_f64() * 1e3)
            .collect();
        milliseconds.sort_by(f64::total_cmp);
        let count = milliseconds.len();
        Latencies {
            count,
            p50: percentile(&milliseconds, 50.0),
            p95: percentile(&milliseconds, 95.0),
            p99: percentile(&milliseconds, 99.0),
            max: milliseconds[count - 1],
            mean: milliseconds.iter().sum::<f64>() / count as f64,
        }
    }
}

/// Returns the nearest-rank percentile of ascending `sorted` values: the
/// smallest value with at least `percent` % of the values at or below it.
pub fn percentile(sorted: &[f64], percent: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Errors by cause.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorCounts {
    /// Responses outside 2xx, by status.
    pub statuses: BTreeMap<u16, u64>,
    pub transport: u64,
    pub invalid_bodies: u64,
    /// 2xx answers that report a failure, by error code.
    pub answers: BTreeMap<String, u64>,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.statuses.values().sum::<u64>()
            + self.transport
            + self.invalid_bodies
            + self.answers.values().sum::<u64>()
    }
}

/// The report of one load test.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// From the first request to the end of the last one.
    pub elapsed: Duration,
    pub conversations: usize,
    /// Every request sent, whatever its outcome.
    pub requests: u64,
    /// Conversations whose every turn was answered.
    pub completed_conversations: u64,
    /// Answers that are not errors.
    pub all: Latencies,
    /// Answers of kind `metric` that are not errors.
    pub metric: Latencies,
    /// The other answers that are not errors (faq, glossary, clarify, ...).
    pub other: Latencies,
    /// Answers by kind, errors included.
    pub kinds: BTreeMap<String, u64>,
    pub errors: ErrorCounts,
}

impl LoadReport {
    /// Builds the report from every request's sample.
    pub fn from_samples(
        samples: &[Sample],
        elapsed: Duration,
        conversations: usize,
        completed_conversations: u64,
    ) -> LoadReport {
        let mut all = Vec::new();
        let mut metric = Vec::new();
        let mut other = Vec::new();
        let mut kinds = BTreeMap::new();
        let mut errors = ErrorCounts::default();
        for sample in samples {
            match &sample.outcome {
                Outcome::Answer { kind, error } => {
                    *kinds.entry(kind.clone()).or_insert(0) += 1;
                    if let Some(code) = error {
                        *errors.answers.entry(code.clone()).or_insert(0) += 1;
                        continue;
                    }
                    all.push(sample.latency);
                    if kind == "metric" {
                        metric.push(sample.latency);
                    } else {
                        other.push(sample.latency);
                    }
                }
                Outcome::Status(status) => *errors.statuses.entry(*status).or_insert(0) += 1,
                Outcome::InvalidBody => errors.invalid_bodies += 1,
                Outcome::Transport => errors.transport += 1,
            }
        }
        LoadReport {
            elapsed,
            conversations,
            requests: samples.len() as u64,
            completed_conversations,
            all: Latencies::of(&all),
            metric: Latencies::of(&metric),
            other: Latencies::of(&other),
            kinds,
            errors,
        }
    }

    /// Requests per second over the whole run.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }

    /// Returns the last line of the report, for scripts: the 99th
    /// percentile of all answers that are not errors, the errors and the
    /// requests.
    pub fn summary_line(&self) -> String {
        format!(
            "p99_ms={:.1} errors={} requests={}",
            self.all.p99,
            self.errors.total(),
            self.requests
        )
    }

    /// Formats the report for people, ending with [`LoadReport::summary_line`].
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{} requests in {:.1} s from {} concurrent conversations: {:.1} requests/s, {} conversations completed",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.conversations,
            self.throughput(),
            self.completed_conversations
        );
        let _ = writeln!(
            text,
            "{:<8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "answers", "count", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"
        );
        for (label, latencies) in [
            ("metric", &self.metric),
            ("other", &self.other),
            ("all", &self.all),
        ] {
            let _ = writeln!(
                text,
                "{label:<8} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                latencies.count,
                latencies.p50,
                latencies.p95,
                latencies.p99,
                latencies.max,
                latencies.mean
            );
        }
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        let _ = writeln!(text, "kinds: {}", kinds.join(", "));
        let _ = writeln!(text, "errors: {}", self.error_text());
        text.push_str(&self.summary_line());
        text.push('\n');
        text
    }

    fn error_text(&self) -> String {
        if self.errors.total() == 0 {
            return "none".to_owned();
        }
        let mut parts = Vec::new();
        for (status, count) in &self.errors.statuses {
            parts.push(format!("HTTP {status}: {count}"));
        }
        if self.errors.transport > 0 {
            parts.push(format!(
                "no response (connection or timeout): {}",
                self.errors.transport
            ));
        }
        if self.errors.invalid_bodies > 0 {
            parts.push(format!(
                "body not a chat answer: {}",
                self.errors.invalid_bodies
            ));
        }
        for (code, count) in &self.errors.answers {
            parts.push(format!("answer with error `{code}`: {count}"));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(kind: &str, milliseconds: u64) -> Sample {
        Sample {
            outcome: Outcome::Answer {
                kind: kind.to_owned(),
                error: None,
            },
            latency: Duration::from_millis(milliseconds),
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 95.0), 95.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), 2.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn latencies_of_unsorted_samples() {
        let latencies = Latencies::of(&[
            Duration::from_millis(30),
            Duration::from_millis(10),
            Duration::from_millis(20),
        ]);
        assert_eq!(latencies.count, 3);
        assert_eq!(latencies.p50, 20.0);
        assert_eq!(latencies.p99, 30.0);
        assert_eq!(latencies.max, 30.0);
        assert_eq!(latencies.mean, 20.0);
        assert_eq!(Latencies::of(&[]), Latencies::default());
    }

    #[test]
    fn report_splits_kinds_and_errors() {
        let samples = vec![
            answer("metric", 10),
            answer("metric", 30),
            answer("faq", 5),
            Sample {
                outcome: Outcome::Answer {
                    kind: "fallback".to_owned(),
                    error: Some("query_timeout".to_owned()),
                },
                latency: Duration::from_secs(30),
            },
            Sample {
                outcome: Outcome::Status(503),
                latency: Duration::from_millis(1),
            },
            Sample {
                outcome: Outcome::Transport,
                latency: Duration::from_millis(2),
            },
            Sample {
                outcome: Outcome::InvalidBody,
                latency: Duration::from_millis(3),
            },
        ];

        let report = LoadReport::from_samples(&samples, Duration::from_secs(2), 4, 1);

        assert_eq!(report.requests, 7);
        assert_eq!(report.metric.count, 2);
        assert_eq!(report.metric.p99, 30.0);
        assert_eq!(report.other.count, 1);
        assert_eq!(report.all.count, 3);
        assert_eq!(report.all.p99, 30.0);
        assert_eq!(report.kinds["metric"], 2);
        assert_eq!(report.kinds["fallback"], 1);
        assert_eq!(report.errors.statuses[&503], 1);
        assert_eq!(report.errors.transport, 1);
        assert_eq!(report.errors.invalid_bodies, 1);
        assert_eq!(report.errors.answers["query_timeout"], 1);
        assert_eq!(report.errors.total(), 4);
        assert_eq!(report.throughput(), 3.5);
        assert_eq!(report.summary_line(), "p99_ms=30.0 errors=4 requests=7");
        assert!(
            report
                .to_text()
                .ends_with("\np99_ms=30.0 errors=4 requests=7\n")
        );
    }
}
