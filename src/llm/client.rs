//! Calls to the model: a time limit per call, and a circuit breaker that
//! stops calling a failing endpoint for a while, so the rules answer at once
//! instead. async-openai itself retries a 429, a 5xx or a lost connection
//! three times with exponential backoff (from 100 ms, honouring
//! `Retry-After`); the time limit covers the retries too.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionResponseStream, CreateChatCompletionRequest, CreateChatCompletionResponse,
};
use async_openai::types::embeddings::CreateEmbeddingRequest;
use serde_json::{Value, json};

use super::LlmSettings;

/// Consecutive failed calls that open the circuit.
const FAILURES_TO_OPEN: u32 = 3;
/// How long an open circuit refuses calls before one is tried again.
const OPEN_FOR: Duration = Duration::from_secs(30);

/// The reason a call gave no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the model did not answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the model endpoint failed: {0}")]
    Endpoint(String),
    #[error("the model has failed {FAILURES_TO_OPEN} times in a row; it is not asked for {} s", OPEN_FOR.as_secs())]
    CircuitOpen,
    #[error("the model's reply has no text")]
    EmptyReply,
}

/// Tokens a call used, as the endpoint reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// A client of one OpenAI-compatible endpoint and model.
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    model: String,
    timeout: Duration,
    breaker: Mutex<Breaker>,
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

impl LlmClient {
    /// Builds a client from settings that passed [`LlmSettings::check`].
    pub fn new(settings: &LlmSettings) -> Result<LlmClient, String> {
        settings.check()?;
        // reqwest's rustls needs a process-wide crypto provider; a second
        // install finds the first one there, which is fine. ring builds
        // without the C toolchain and CMake that aws-lc needs; it lacks only
        // the post-quantum key exchange.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = OpenAIConfig::new()
            .with_api_base(settings.base_url.clone().unwrap_or_default())
            .with_api_key(settings.api_key.clone().unwrap_or_default());
        if settings.api_key.is_none() {
            // Local servers (vLLM, Ollama) need no key.
            config = config.with_api_key("none");
        }
        Ok(LlmClient {
            client: Client::with_config(config),
            model: settings.model.clone().unwrap_or_default(),
            timeout: settings.timeout,
            breaker: Mutex::new(Breaker::default()),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sends chat messages and asks for a reply that follows `schema`
    /// (structured output). Returns the reply's text and the tokens used.
    pub async fn complete_json(
        &self,
        purpose: &str,
        messages: Vec<Value>,
        schema: Value,
    ) -> Result<(String, Usage), LlmError> {
        self.check_breaker()?;
        let request = json!({
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": purpose, "schema": schema, "strict": true},
            },
        });
        let request: CreateChatCompletionRequest = serde_json::from_value(request)
            .map_err(|error| LlmError::Endpoint(format!("cannot build the request: {error}")))?;

        let started = Instant::now();
        let chat = self.client.chat();
        let result = match tokio::time::timeout(self.timeout, chat.create(request)).await {
            Err(_) => Err(LlmError::Timeout(self.timeout)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(LlmError::Endpoint(describe(&error))),
        };

        let result = result.and_then(|response| {
            let usage = usage_of(&response);
            reply_text(response).map(|text| (text, usage))
        });
        self.log_call(purpose, &self.model, &started, &result);
        result
    }

    /// Sends chat messages and streams the reply's text: `on_text` gets
    /// each piece as it arrives. Returns the whole text and the tokens
    /// used. The time limit covers the whole reply.
    pub async fn complete_streaming(
        &self,
        purpose: &str,
        messages: Vec<Value>,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(String, Usage), LlmError> {
        self.check_breaker()?;
        let request = json!({
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let request: CreateChatCompletionRequest = serde_json::from_value(request)
            .map_err(|error| LlmError::Endpoint(format!("cannot build the request: {error}")))?;

        let started = Instant::now();
        let chat = self.client.chat();
        let streamed = async {
            let stream = chat
                .create_stream(request)
                .await
                .map_err(|error| LlmError::Endpoint(describe(&error)))?;
            collect_stream(stream, on_text).await
        };
        let result = match tokio::time::timeout(self.timeout, streamed).await {
            Err(_) => Err(LlmError::Timeout(self.timeout)),
            Ok(result) => result.and_then(|(text, usage)| {
                if text.trim().is_empty() {
                    Err(LlmError::EmptyReply)
                } else {
                    Ok((text, usage))
                }
            }),
        };
        self.log_call(purpose, &self.model, &started, &result);
        result
    }

    /// Asks the endpoint for one embedding per text, in the texts' order.
    pub async fn embed(
        &self,
        model: &str,
        texts: &[String],
    ) -> Result<(Vec<Vec<f32>>, Usage), LlmError> {
        self.check_breaker()?;
        let request: CreateEmbeddingRequest =
            serde_json::from_value(json!({"model": model, "input": texts})).map_err(|error| {
                LlmError::Endpoint(format!("cannot build the request: {error}"))
            })?;
        let started = Instant::now();
        let embeddings = self.client.embeddings();
        let result = match tokio::time::timeout(self.timeout, embeddings.create(request)).await {
            Err(_) => Err(LlmError::Timeout(self.timeout)),
            Ok(Err(error)) => Err(LlmError::Endpoint(describe(&error))),
            Ok(Ok(response)) => {
                let usage = Usage {
                    prompt_tokens: response.usage.prompt_tokens,
                    completion_tokens: 0,
                };
                let mut data = response.data;
                data.sort_by_key(|embedding| embedding.index);
                if data.len() == texts.len()
                    && data
                        .iter()
                        .enumerate()
                        .all(|(position, embedding)| embedding.index as usize == position)
                {
                    Ok((
                        data.into_iter()
                            .map(|embedding| embedding.embedding)
                            .collect(),
                        usage,
                    ))
                } else {
                    Err(LlmError::Endpoint(format!(
                        "{} embeddings for {} texts",
                        data.len(),
                        texts.len()
                    )))
                }
            }
        };
        self.log_call("embed", model, &started, &result);
        result
    }

    /// Records a call's outcome in the breaker and writes its log line.
    fn log_call<T>(
        &self,
        purpose: &str,
        model: &str,
        started: &Instant,
        result: &Result<(T, Usage), LlmError>,
    ) {
        let elapsed_ms = started.elapsed().as_millis() as u64;
        self.record(result.is_ok());
        match result {
            Ok((_, usage)) => tracing::info!(
                purpose,
                model,
                latency_ms = elapsed_ms,
                prompt_tokens = usage.prompt_tokens,
                completion_tokens = usage.completion_tokens,
                outcome = "ok",
                "model called"
            ),
            Err(error) => tracing::warn!(
                purpose,
                model,
                latency_ms = elapsed_ms,
                %error,
                "model call failed"
            ),
        }
    }

    fn check_breaker(&self) -> Result<(), LlmError> {
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        match breaker.open_until {
            Some(until) if Instant::now() < until => Err(LlmError::CircuitOpen),
            Some(_) => {
                // Half open: this call decides whether it closes again.
                breaker.open_until = None;
                breaker.failures = FAILURES_TO_OPEN - 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record(&self, success: bool) {
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        if success {
            breaker.failures = 0;
            return;
        }
        breaker.failures += 1;
        if breaker.failures >= FAILURES_TO_OPEN {
            breaker.open_until = Some(Instant::now() + OPEN_FOR);
            tracing::warn!(
                seconds = OPEN_FOR.as_secs(),
                "the model failed {FAILURES_TO_OPEN} times in a row; the rules answer alone for a while"
            );
        }
    }
}

/// Describes an endpoint error without the request, so no key or prompt
/// reaches the log.
fn describe(error: &OpenAIError) -> String {
    match error {
        OpenAIError::ApiError(response) => format!("HTTP {}", response.status_code.as_u16()),
        OpenAIError::Reqwest(error) => {
            if error.is_connect() {
                "connection failed".to_owned()
            } else if error.is_timeout() {
                "connection timed out".to_owned()
            } else {
                match error.status() {
                    Some(status) => format!("HTTP {}", status.as_u16()),
                    None => "transport error".to_owned(),
                }
            }
        }
        OpenAIError::JSONDeserialize(_, _) => {
            "the reply does not have the shape of an OpenAI API reply".to_owned()
        }
        other => other.to_string().chars().take(200).collect(),
    }
}

/// Reads a streamed reply to its end, handing each piece of text to
/// `on_text`.
async fn collect_stream(
    mut stream: ChatCompletionResponseStream,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<(String, Usage), LlmError> {
    let mut text = String::new();
    let mut usage = Usage::default();
    while let Some(chunk) = std::future::poll_fn(|context| stream.as_mut().poll_next(context)).await
    {
        let chunk = chunk.map_err(|error| LlmError::Endpoint(describe(&error)))?;
        if let Some(reported) = &chunk.usage {
            usage = Usage {
                prompt_tokens: reported.prompt_tokens,
                completion_tokens: reported.completion_tokens,
            };
        }
        for choice in &chunk.choices {
            if let Some(piece) = choice
                .delta
                .content
                .as_deref()
                .filter(|piece| !piece.is_empty())
            {
                on_text(piece);
                text.push_str(piece);
            }
        }
    }
    Ok((text, usage))
}

fn usage_of(response: &CreateChatCompletionResponse) -> Usage {
    response
        .usage
        .as_ref()
        .map_or(Usage::default(), |usage| Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        })
}

fn reply_text(response: CreateChatCompletionResponse) -> Result<String, LlmError> {
    response
        .choices
        .into_iter()
        .next()
        .and_then(|choice| choice.message.content)
        .filter(|text| !text.trim().is_empty())
        .ok_or(LlmError::EmptyReply)
}
