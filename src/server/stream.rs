//! `POST /api/chat/stream`: the chat answer as server-sent events.
//!
//! The request is checked as for `POST /api/chat`, and a rejected one gets
//! the same JSON error. An accepted one gets `text/event-stream`: one
//! `stage` event as each stage starts, then one `answer` event with the
//! same JSON as `/api/chat`, or one `error` event with the error's JSON.
//!
//! With a language model configured, an FAQ answer is followed by the
//! model's phrasing of the entries found, as `delta` events with pieces of
//! text as they arrive. One `phrased` event then carries the checked text
//! and the entries it cites, or the reason it is not shown. In that case
//! the page keeps the entry's own text.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::assistant::{AnswerKind, FaqAnswer, Stage};
use crate::llm::LlmClient;
use crate::llm::faq::PhrasedAnswer;
use crate::understanding::interpret::is_english;

use super::audit::{self, AuditDetails, AuditedByHandler};
use super::chat::{answer, check_owner, prepare};
use super::error::ApiError;
use super::state::AppState;

pub async fn chat_stream(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let prepared = prepare(&state, request).await?;
    check_owner(&state, &prepared).await?;
    let english = is_english(&prepared.message);
    let principal = prepared.principal.clone();
    let started = prepared.started;
    let assistant = std::sync::Arc::clone(&prepared.assistant);
    let question = prepared.message.clone();
    // Unbounded, because neither sender can wait: stages come from the
    // blocking thread that runs the assistant, and phrased text from a model
    // callback. One answer sends a few dozen events at most.
    let (sender, receiver) = mpsc::unbounded_channel::<Event>();

    let stage_sender = sender.clone();
    tokio::spawn(async move {
        let progress = move |stage: Stage| {
            // Called on the blocking thread that answers. A page that went
            // away closes the channel; the answer still completes and is
            // remembered by the conversation.
            let _ = stage_sender.send(stage_event(stage, english));
        };
        let mut faq = None;
        let (event, status, outcome, details) = match answer(&state, prepared, progress).await {
            Ok((answered, details)) => {
                if answered.kind == AnswerKind::Faq {
                    faq = answered.faq.clone();
                }
                (
                    Event::default().event("answer").json_data(&answered),
                    200,
                    "ok".to_owned(),
                    details,
                )
            }
            Err(error) => {
                let (status, code) = error.status_and_code();
                (
                    Event::default().event("error").json_data(error.body()),
                    status.as_u16(),
                    code.to_owned(),
                    AuditDetails::default(),
                )
            }
        };
        let record = audit::record(
            &principal,
            "POST /api/chat/stream",
            started,
            status,
            outcome,
            details,
        );
        audit::write(&state, record).await;
        let event = event.unwrap_or_else(|error| {
            tracing::error!(%error, "cannot serialize a streamed answer");
            Event::default()
                .event("error")
                .data(r#"{"error":{"code":"internal","message":"internal server error"}}"#)
        });
        let _ = sender.send(event);
        if let (Some(faq), Some((client, _))) = (faq, assistant.llm()) {
            phrase_faq(&client, &faq, &question, &sender).await;
        }
    });

    let mut response = Sse::new(Events(receiver))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response();
    response.extensions_mut().insert(AuditedByHandler);
    // Event streams are always UTF-8; saying so keeps clients that guess a
    // charset from reading the Chinese text as Latin-1.
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    Ok(response)
}

/// Streams the model's phrasing of an FAQ answer, then sends whether it
/// passed the checks of [`crate::llm::faq::check_answer`].
async fn phrase_faq(
    client: &LlmClient,
    faq: &FaqAnswer,
    question: &str,
    sender: &mpsc::UnboundedSender<Event>,
) {
    let messages = crate::llm::faq::faq_messages(faq, question);
    // Text is sent a sentence at a time, each checked for numbers the
    // entries lack; after a failed sentence nothing more is sent.
    let mut pending = String::new();
    let mut blocked: Option<String> = None;
    let send_checked = |text: String, blocked: &mut Option<String>| {
        if blocked.is_some() || text.is_empty() {
            return;
        }
        match crate::llm::faq::check_numbers(&text, faq) {
            Ok(()) => {
                let data = serde_json::json!({ "text": text });
                let _ = sender.send(Event::default().event("delta").data(data.to_string()));
            }
            Err(reason) => *blocked = Some(reason),
        }
    };
    let mut on_text = |piece: &str| {
        pending.push_str(piece);
        if let Some(sentences) = crate::llm::faq::take_sentences(&mut pending) {
            send_checked(sentences, &mut blocked);
        }
    };
    let streamed = client
        .complete_streaming("phrase_faq", messages, &mut on_text)
        .await;
    send_checked(std::mem::take(&mut pending), &mut blocked);
    let verdict = match streamed {
        Ok(_) if let Some(reason) = blocked => {
            tracing::info!(%reason, entry = %faq.best.id, "the model's FAQ answer is not shown");
            serde_json::json!({ "rejected": reason })
        }
        Ok((text, _)) => match crate::llm::faq::check_answer(&text, faq) {
            Ok(sources) => serde_json::to_value(PhrasedAnswer {
                text: text.trim().to_owned(),
                sources,
                model: client.model().to_owned(),
            })
            .unwrap_or_default(),
            Err(reason) => {
                tracing::info!(%reason, entry = %faq.best.id, "the model's FAQ answer is not shown");
                serde_json::json!({ "rejected": reason })
            }
        },
        Err(error) => serde_json::json!({ "rejected": error.to_string() }),
    };
    let _ = sender.send(Event::default().event("phrased").data(verdict.to_string()));
}

fn stage_event(stage: Stage, english: bool) -> Event {
    let data = serde_json::json!({"stage": stage, "label": stage.label(english)});
    Event::default().event("stage").data(data.to_string())
}

/// The events of one answer, as the stream axum sends.
struct Events(mpsc::UnboundedReceiver<Event>);

impl futures_core::Stream for Events {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(context).map(|event| event.map(Ok))
    }
}
