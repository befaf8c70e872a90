//! A load generator for the chat API: concurrent conversations of several
//! turns against a running server, as `wenshu bench load` runs them.
//!
//! Each of the `conversations` workers runs one conversation at a time. It
//! sends the conversation's questions in turn to `POST /api/chat`, each
//! follow-up with the session id of the previous answer, then starts the
//! next conversation in a new session. A conversation whose request gets
//! no answer (an error status, no response, a body that is not an answer)
//! is dropped, because its session may be lost, and the worker starts the
//! next one. Workers stop starting requests once the run's time is up or the
//! request budget is spent; the requests in flight then finish, each within
//! the request timeout.
//!
//! The latency of a request runs from sending it to reading the whole
//! response body, so it includes the client's own queueing. The generator
//! shares the machine with the server when both run on one host; run it on
//! a single thread (as the command does) to take at most one core from the
//! server.

pub mod conversations;
pub mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

pub use conversations::Script;
pub use report::{ErrorCounts, Latencies, LoadReport, Outcome, Sample};

/// The maximum number of concurrent conversations.
pub const MAX_CONVERSATIONS: usize = 1_000;
/// The maximum run time, in seconds.
pub const MAX_SECONDS: u64 = 3_600;
/// The maximum pause between turns.
pub const MAX_THINK_TIME: Duration = Duration::from_secs(60);
/// The maximum wait for one response, in seconds.
pub const MAX_REQUEST_TIMEOUT_SECONDS: u64 = 600;
/// Errors logged one by one before the rest are only counted.
const LOGGED_ERRORS: u64 = 5;

/// Why a load test could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid load test setting: {0}")]
    Invalid(String),
    #[error("cannot read the conversations in `{path}`: {reason}")]
    Questions { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// What to send, where, and for how long.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server's base URL, such as `http://127.0.0.1:8080`.
    pub url: String,
    /// Conversations held at the same time, 1 to [`MAX_CONVERSATIONS`].
    pub conversations: usize,
    /// How long workers start new requests, 1 s to [`MAX_SECONDS`].
    pub duration: Duration,
    /// Requests sent in all, at most; None for no limit but the duration.
    pub max_requests: Option<u64>,
    /// Pause before each request but a worker's first, as a person reads
    /// the answer before asking on; at most [`MAX_THINK_TIME`].
    pub think_time: Duration,
    /// The maximum wait for one response, 1 s to
    /// [`MAX_REQUEST_TIMEOUT_SECONDS`]; a request past it has no response.
    pub request_timeout: Duration,
    /// A bearer token, for a server with access control.
    pub token: Option<String>,
    /// The conversations the workers take in turn.
    pub scripts: Vec<Script>,
}

impl LoadOptions {
    /// Checks every setting against its bounds.
    pub fn check(&self) -> Result<(), LoadError> {
        let invalid = |message: String| Err(LoadError::Invalid(message));
        let url = reqwest::Url::parse(&self.url)
            .map_err(|error| LoadError::Invalid(format!("URL `{}`: {error}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return invalid(format!(
                "URL `{}`: use http:// or https:// and a host, e.g. http://127.0.0.1:8080",
                self.url
            ));
        }

        if !(1..=MAX_CONVERSATIONS).contains(&self.conversations) {
            return invalid(format!(
                "conversations `{}`: use 1 to {MAX_CONVERSATIONS}",
                self.conversations
            ));
        }
        let seconds = self.duration.as_secs_f64();
        if !(1.0..=MAX_SECONDS as f64).contains(&seconds) {
            return invalid(format!(
                "duration `{seconds}` s: use 1 to {MAX_SECONDS} seconds"
            ));
        }

        if self.max_requests == Some(0) {
            return invalid("requests `0`: use 1 or more, or no limit".to_owned());
        }
        if self.think_time > MAX_THINK_TIME {
            return invalid(format!(
                "think time `{}` ms: use at most {} ms",
                self.think_time.as_millis(),
                MAX_THINK_TIME.as_millis()
            ));
        }
        let timeout = self.request_timeout.as_secs_f64();
        if !(1.0..=MAX_REQUEST_TIMEOUT_SECONDS as f64).contains(&timeout) {
            return invalid(format!(
                "request timeout `{timeout}` s: use 1 to {MAX_REQUEST_TIMEOUT_SECONDS} seconds"
            ));
        }

        if self.scripts.is_empty() {
            return invalid("no conversations to send".to_owned());
        }
        if let Some(script) = self.scripts.iter().find(|script| script.turns.is_empty()) {
            return invalid(format!("conversation `{}` has no turns", script.name));
        }
        Ok(())
    }

    fn chat_url(&self) -> String {
        format!("{}/api/chat", self.url.trim_end_matches('/'))
    }
}

/// What the workers share.
struct Run {
    options: LoadOptions,
    client: reqwest::Client,
    chat_url: String,
    deadline: Instant,
    /// The index of the next script to start, modulo their number.
    next_script: AtomicUsize,
    /// Requests sent so far, against `options.max_requests`.
    sent: AtomicU64,
    completed_conversations: AtomicU64,
    /// Errors seen so far, to log only the first few.
    errors: AtomicU64,
}

/// Runs the load test and returns its report.
pub async fn run(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    options.check()?;

    // reqwest's rustls needs a process-wide crypto provider even for plain
    // HTTP; a second install finds the first one there, which is fine. ring
    // is the provider the language-model client installs too.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(options.request_timeout)
        .pool_max_idle_per_host(options.conversations)
        .tcp_nodelay(true)
        .build()
        .map_err(|error| LoadError::Client(error.to_string()))?;

    let started = Instant::now();
    let run = Arc::new(Run {
        options: options.clone(),
        client,
        chat_url: options.chat_url(),
        deadline: started + options.duration,
        next_script: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        completed_conversations: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    tracing::info!(
        url = %run.chat_url,
        conversations = options.conversations,
        seconds = options.duration.as_secs_f64(),
        "load test started"
    );

    let workers: Vec<_> = (0..options.conversations)
        .map(|worker| tokio::spawn(converse(worker, Arc::clone(&run))))
        .collect();
    let mut samples = Vec::new();
    for worker in workers {
        match worker.await {
            Ok(worker_samples) => samples.extend(worker_samples),
            // A worker only panics on a bug; its samples are lost.
            Err(error) => tracing::error!(%error, "a load test worker failed"),
        }
    }
    let elapsed = started.elapsed();
    tracing::info!(
        requests = samples.len(),
        elapsed_ms = elapsed.as_millis() as u64,
        "load test finished"
    );

    Ok(LoadReport::from_samples(
        &samples,
        elapsed,
        options.conversations,
        run.completed_conversations.load(Ordering::Relaxed),
    ))
}

/// Runs one worker's conversations one after another until the time or
/// the request budget runs out, and returns the samples of its requests.
async fn converse(worker: usize, run: Arc<Run>) -> Vec<Sample> {
    let options = &run.options;
    let mut samples = Vec::new();

    // Spread the workers' first requests over one think time, so that they
    // do not all ask at the same instant.
    let offset = options
        .think_time
        .mul_f64(worker as f64 / options.conversations as f64);
    pause(offset, run.deadline).await;

    let mut first_request = true;
    'conversations: while Instant::now() < run.deadline {
        let index = run.next_script.fetch_add(1, Ordering::Relaxed) % options.scripts.len();
        let script = &options.scripts[index];
        let mut session_id: Option<String> = None;
        for question in &script.turns {
            if !first_request {
                pause(options.think_time, run.deadline).await;
            }
            first_request = false;
            if Instant::now() >= run.deadline || !reserve_request(&run) {
                break 'conversations;
            }

            let (sample, next_session_id) =
                ask(&run, session_id.as_deref(), question, &script.name).await;
            samples.push(sample);
            match next_session_id {
                Some(id) => session_id = Some(id),
                None => continue 'conversations,
            }
        }
        run.completed_conversations.fetch_add(1, Ordering::Relaxed);
    }
    samples
}

/// Sleeps for `duration`, or until `deadline` if that comes first.
async fn pause(duration: Duration, deadline: Instant) {
    if duration.is_zero() {
        return;
    }
    let until = (Instant::now() + duration).min(deadline);
    tokio::time::sleep_until(until.into()).await;
}

/// Counts one more request against the budget; false once it is spent.
fn reserve_request(run: &Run) -> bool {
    let sent = run.sent.fetch_add(1, Ordering::Relaxed);
    run.options.max_requests.is_none_or(|max| sent < max)
}

/// Sends one question and returns its sample, with the session id to send
/// the next turn with, or None when the conversation cannot go on.
async fn ask(
    run: &Run,
    session_id: Option<&str>,
    question: &str,
    script: &str,
) -> (Sample, Option<String>) {
    let body = json!({"session_id": session_id, "message": question}).to_string();
    let mut request = run
        .client
        .post(&run.chat_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(token) = &run.options.token {
        request = request.bearer_auth(token);
    }

    let started = Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            log_error(run, script, question, &format!("no response: {error}"));
            return (sample(Outcome::Transport, started), None);
        }
    };
    let status = response.status();
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => {
            log_error(run, script, question, &format!("body not read: {error}"));
            return (sample(Outcome::Transport, started), None);
        }
    };
    let latency = started.elapsed();

    if !status.is_success() {
        let excerpt: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        log_error(run, script, question, &format!("HTTP {status}: {excerpt}"));
        let outcome = Outcome::Status(status.as_u16());
        return (Sample { outcome, latency }, None);
    }
    let answer: Option<Json> = serde_json::from_slice(&bytes).ok();
    let kind = answer
        .as_ref()
        .and_then(|answer| answer["kind"].as_str())
        .map(str::to_owned);
    let next_session_id = answer
        .as_ref()
        .and_then(|answer| answer["session_id"].as_str())
        .map(str::to_owned);
    let (Some(kind), Some(next_session_id)) = (kind, next_session_id) else {
        log_error(
            run,
            script,
            question,
            "the body has no `kind` or `session_id`",
        );
        let outcome = Outcome::InvalidBody;
        return (Sample { outcome, latency }, None);
    };
    let error = answer
        .as_ref()
        .and_then(|answer| answer["error"]["code"].as_str())
        .map(str::to_owned);
    if let Some(code) = &error {
        log_error(
            run,
            script,
            question,
            &format!("answer with error `{code}`"),
        );
    }
    let outcome = Outcome::Answer { kind, error };
    (Sample { outcome, latency }, Some(next_session_id))
}

fn sample(outcome: Outcome, started: Instant) -> Sample {
    Sample {
        outcome,
        latency: started.elapsed(),
    }
}

/// Logs the first [`LOGGED_ERRORS`] errors; the report counts them all.
fn log_error(run: &Run, script: &str, question: &str, error: &str) {
    let seen = run.errors.fetch_add(1, Ordering::Relaxed);
    if seen < LOGGED_ERRORS {
        tracing::warn!(conversation = script, question, error, "request failed");
    } else if seen == LOGGED_ERRORS {
        tracing::warn!("more requests failed; the report counts them");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> LoadOptions {
        LoadOptions {
            url: "http://127.0.0.1:8080".to_owned(),
            conversations: 50,
            duration: Duration::from_secs(30),
            max_requests: None,
            think_time: Duration::ZERO,
            request_timeout: Duration::from_secs(30),
            token: None,
            scripts: conversations::built_in(),
        }
    }

    fn error_of(options: LoadOptions) -> String {
        options.check().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(options().check().is_ok());
    }

    #[test]
    fn bounds_are_checked() {
        let cases = [
            (
                LoadOptions {
                    conversations: 0,
                    ..options()
                },
                "conversations `0`: use 1 to 1000",
            ),
            (
                LoadOptions {
                    conversations: MAX_CONVERSATIONS + 1,
                    ..options()
                },
                "conversations `1001`",
            ),
            (
                LoadOptions {
                    duration: Duration::from_millis(500),
                    ..options()
                },
                "duration `0.5` s",
            ),
            (
                LoadOptions {
                    duration: Duration::from_secs(MAX_SECONDS + 1),
                    ..options()
                },
                "use 1 to 3600 seconds",
            ),
            (
                LoadOptions {
                    max_requests: Some(0),
                    ..options()
                },
                "requests `0`",
            ),
            (
                LoadOptions {
                    think_time: Duration::from_secs(61),
                    ..options()
                },
                "think time `61000` ms",
            ),
            (
                LoadOptions {
                    request_timeout: Duration::ZERO,
                    ..options()
                },
                "request timeout `0` s",
            ),
            (
                LoadOptions {
                    url: "ftp://127.0.0.1/".to_owned(),
                    ..options()
                },
                "use http:// or https://",
            ),
            (
                LoadOptions {
                    url: "127.0.0.1:8080".to_owned(),
                    ..options()
                },
                "URL `127.0.0.1:8080`",
            ),
            (
                LoadOptions {
                    scripts: Vec::new(),
                    ..options()
                },
                "no conversations to send",
            ),
            (
                LoadOptions {
                    scripts: vec![Script {
                        name: "empty".to_owned(),
                        turns: Vec::new(),
                    }],
                    ..options()
                },
                "conversation `empty` has no turns",
            ),
        ];
        for (options, expected) in cases {
            let error = error_of(options);
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
    }

    #[test]
    fn chat_url_joins_path() {
        let with_slash = LoadOptions {
            url: "http://127.0.0.1:8080/".to_owned(),
            ..options()
        };
        assert_eq!(with_slash.chat_url(), "http://127.0.0.1:8080/api/chat");
        assert_eq!(options().chat_url(), "http://127.0.0.1:8080/api/chat");
    }
}
