//! The chat API, driven through the router without a socket and once over a
//! real loopback port, against a demo warehouse (seed 42, scale 1) generated
//! once per run and the repository's `semantic_layer/`.
//!
//! The assistant's answers are still being written, so these tests check
//! the API's contract (status codes, fields, error shape, sessions), not the
//! wording or the numbers of an answer.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use common::semantic_layer_dir;
use serde_json::{Value, json};
use tower::ServiceExt;
use wenshu::assistant::Assistant;
use wenshu::server::{AppState, Limits, ServerConfig, WebAssets, router, run};

/// The kinds of answer the API contract allows.
const KINDS: [&str; 6] = [
    "metric", "faq", "glossary", "clarify", "fallback", "refused",
];

/// The demo warehouse's latest `biz_date`.
const REFERENCE_DATE: &str = "2026-11-30";

// ---------------------------------------------------------------------------
// Fixtures

/// Generates the demo warehouse once per test run.
fn demo_warehouse() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::generate_demo_warehouse("server"))
}

fn assistant() -> Arc<Assistant> {
    static ASSISTANT: OnceLock<Arc<Assistant>> = OnceLock::new();
    let assistant = ASSISTANT.get_or_init(|| {
        let assistant = Assistant::open(&semantic_layer_dir(), demo_warehouse())
            .unwrap_or_else(|error| panic!("cannot open the assistant: {error}"));
        Arc::new(assistant)
    });
    Arc::clone(assistant)
}

/// A ready router with the default limits. Each call has its own sessions.
fn app() -> Router {
    router(AppState::ready(assistant(), Limits::default()))
}

// ---------------------------------------------------------------------------
// Helpers

/// Sends one request through the router and returns the status and the
/// body parsed as JSON.
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|error| panic!("the router failed: {error}"));
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_else(|error| panic!("cannot read the response body: {error}"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        content_type.starts_with("application/json"),
        "status {status}: content type `{content_type}`, body {text}"
    );
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|error| panic!("status {status}: the body is not JSON ({error}): {text}"));
    (status, body)
}

async fn post_chat(app: &Router, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/chat")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("a valid request");
    send(app, request).await
}

async fn ask(app: &Router, session_id: Option<&str>, message: &str) -> (StatusCode, Value) {
    let body = json!({ "session_id": session_id, "message": message });
    post_chat(app, body.to_string()).await
}

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .uri(path)
        .body(Body::empty())
        .expect("a valid request");
    send(app, request).await
}

/// Checks a 200 chat answer: the fields the contract always requires.
fn assert_answer(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::OK, "{body}");
    let session_id = body["session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no session_id: {body}"));
    assert!(!session_id.is_empty(), "{body}");
    let kind = body["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("no kind: {body}"));
    assert!(KINDS.contains(&kind), "unknown kind `{kind}`: {body}");
    let text = body["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {body}"));
    assert!(!text.trim().is_empty(), "empty text: {body}");
}

/// Checks an error response: the status, and a body that is exactly
/// `{"error": {"code": code, "message": "<non-empty>"}}`.
fn assert_error(status: StatusCode, body: &Value, expected_status: StatusCode, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    let outer = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(outer.len(), 1, "extra top-level fields: {body}");
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {body}"));
    assert_eq!(error.len(), 2, "extra error fields: {body}");
    assert_eq!(error["code"], code, "{body}");
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"));
    assert!(!message.is_empty(), "{body}");
}

// ---------------------------------------------------------------------------
// Chat

#[tokio::test]
async fn chat_round_trip() {
    let app = app();

    let (status, body) = ask(&app, None, "今年以来日均存款是多少").await;

    assert_answer(status, &body);
    let session_id = body["session_id"].as_str().unwrap_or_default();
    assert_eq!(session_id.len(), 32, "{body}");
    assert!(
        session_id.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "{body}"
    );
}

#[tokio::test]
async fn new_sessions_get_distinct_ids() {
    let app = app();

    let (_, first) = ask(&app, None, "存款余额").await;
    let (_, second) = post_chat(&app, r#"{"message": "存款余额"}"#).await;

    assert_ne!(first["session_id"], second["session_id"]);
}

#[tokio::test]
async fn follow_up_keeps_session_id() {
    let app = app();
    let (status, first) = ask(&app, None, "2025年末各支行存款余额").await;
    assert_answer(status, &first);
    let session_id = first["session_id"].as_str().unwrap_or_default().to_owned();

    let (status, second) = ask(&app, Some(&session_id), "那个人存款呢").await;

    assert_answer(status, &second);
    assert_eq!(second["session_id"], session_id.as_str());
}

#[tokio::test]
async fn unknown_session_says_context_is_lost() {
    let app = app();

    let (status, lost) = ask(&app, Some("session-the-server-never-saw"), "那去年呢").await;
    let (_, fresh) = ask(&app, None, "那去年呢").await;
    let (_, whole) = ask(&app, Some("another-unknown-session"), "各支行存款余额").await;

    assert_answer(status, &lost);
    let text = lost["text"].as_str().unwrap_or_default();
    assert!(text.contains("没有找到这个会话之前的问题"), "{lost}");
    assert!(
        !fresh["text"]
            .as_str()
            .unwrap_or_default()
            .contains("没有找到这个会话"),
        "{fresh}"
    );
    assert_eq!(
        whole["kind"], "metric",
        "a whole question needs no context: {whole}"
    );
    assert!(
        !whole["text"]
            .as_str()
            .unwrap_or_default()
            .contains("没有找到这个会话"),
        "{whole}"
    );
}

#[tokio::test]
async fn client_session_id_is_kept() {
    let app = app();

    let (status, body) = ask(&app, Some("web-Client_01"), "存款余额").await;

    assert_answer(status, &body);
    assert_eq!(body["session_id"], "web-Client_01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_turns_of_one_session() {
    let app = app();
    let mut tasks = Vec::new();
    for turn in 0..6 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            ask(
                &app,
                Some("shared-session"),
                &format!("第{turn}个问题：存款余额"),
            )
            .await
        }));
    }

    for task in tasks {
        let (status, body) = task.await.expect("the request task panicked");
        assert_answer(status, &body);
        assert_eq!(body["session_id"], "shared-session");
    }
}

#[tokio::test]
async fn unusual_messages_are_answered() {
    let app = app();
    let messages = [
        "😀😀😀",
        "'; DROP TABLE fact_deposit_daily; --",
        "SELECT * FROM dim_customer",
        "梅州分行 deposit balance 多少 ＄？",
        "<script>alert(1)</script>",
        "{{ Dimension('customer__customer_type') }}",
        "存\u{0}款",
        "ثم 存款 余额 Ёж",
        "？？？",
        &"存款".repeat(1000),
    ];

    for message in messages {
        let (status, body) = ask(&app, None, message).await;

        assert_answer(status, &body);
    }

    let (status, health) = get(&app, "/api/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
}

// ---------------------------------------------------------------------------
// Rejected requests

#[tokio::test]
async fn empty_message_is_rejected() {
    let app = app();
    let bodies = [
        r#"{"message": ""}"#,
        r#"{"message": null}"#,
        r#"{"session_id": null}"#,
        "{}",
    ];

    for body in bodies {
        let (status, response) = post_chat(&app, body).await;

        assert_error(status, &response, StatusCode::BAD_REQUEST, "empty_message");
    }
}

#[tokio::test]
async fn whitespace_message_is_rejected() {
    let app = app();

    for message in ["   ", "\n\t", "\u{3000}\u{3000}", "\u{200B}"] {
        let (status, body) = ask(&app, None, message).await;

        assert_error(status, &body, StatusCode::BAD_REQUEST, "empty_message");
    }
}

#[tokio::test]
async fn long_message_is_rejected() {
    let app = app();

    let (status, body) = ask(&app, None, &"存".repeat(10_000)).await;

    assert_error(status, &body, StatusCode::BAD_REQUEST, "message_too_long");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("问题过长（最多 2000 字"), "{message}");
    assert!(message.contains("max 2000 characters"), "{message}");
}

#[tokio::test]
async fn message_at_limit_is_accepted() {
    let app = app();

    let (status, body) = ask(&app, None, &"a".repeat(2000)).await;

    assert_answer(status, &body);
}

#[tokio::test]
async fn malformed_json_is_rejected() {
    let app = app();

    for body in [
        "",
        "not json",
        r#"{"message": "存款"#,
        r#"{"message": '存款'}"#,
        "{\"message\": \"a\"} x",
    ] {
        let (status, response) = post_chat(&app, body).await;

        assert_error(status, &response, StatusCode::BAD_REQUEST, "invalid_json");
    }
}

#[tokio::test]
async fn wrong_field_types_are_rejected() {
    let app = app();
    let bodies = [
        r#"{"message": 5}"#,
        r#"{"message": ["存款"]}"#,
        r#"{"message": {"text": "存款"}}"#,
        r#"{"message": true}"#,
        r#"{"message": "存款", "session_id": 7}"#,
        r#"["存款"]"#,
        r#""存款""#,
        "null",
    ];

    for body in bodies {
        let (status, response) = post_chat(&app, body).await;

        assert_error(
            status,
            &response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
}

#[tokio::test]
async fn oversized_body_is_rejected() {
    let app = app();
    let body = json!({ "message": "存".repeat(40_000) }).to_string();
    assert!(body.len() > 64 * 1024);

    let (status, response) = post_chat(&app, body).await;

    assert_error(
        status,
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
}

#[tokio::test]
async fn oversized_content_length_is_rejected_unread() {
    let app = app();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/chat")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "10000000")
        .body(Body::from(r#"{"message": "存款余额"}"#))
        .expect("a valid request");

    let (status, response) = send(&app, request).await;

    assert_error(
        status,
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
}

#[tokio::test]
async fn bad_session_id_is_rejected() {
    let app = app();
    let long = "a".repeat(65);
    let ids = ["", " ", "a b", "会话", "../etc/passwd", "x;DROP", &long];

    for id in ids {
        let (status, body) = ask(&app, Some(id), "存款余额").await;

        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_session_id");
    }
}

#[tokio::test]
async fn not_ready_returns_503() {
    let app = router(AppState::starting(Limits::default()));

    let (status, body) = ask(&app, None, "存款余额").await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    let (status, body) = get(&app, "/api/health").await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    let (status, body) = get(&app, "/api/metrics").await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
}

#[tokio::test]
async fn unknown_route_returns_404() {
    let app = app();

    let (status, body) = get(&app, "/api/nothing").await;

    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn wrong_method_returns_405() {
    let app = app();

    let (status, body) = get(&app, "/api/chat").await;

    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

// ---------------------------------------------------------------------------
// Health and catalog

#[tokio::test]
async fn health_reports_reference_date() {
    let app = app();

    let (status, body) = get(&app, "/api/health").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["reference_date"], REFERENCE_DATE);
    assert_eq!(body["metrics"], assistant().layer().metrics.len());
}

#[tokio::test]
async fn metrics_lists_every_metric() {
    let app = app();

    let (status, body) = get(&app, "/api/metrics").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reference_date"], REFERENCE_DATE);
    let metrics = body["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("no metrics: {body}"));
    assert_eq!(metrics.len(), assistant().layer().metrics.len());
    for metric in metrics {
        assert!(metric["name"].is_string(), "{metric}");
        assert!(metric["label"].is_string(), "{metric}");
        assert!(metric["synonyms"].is_array(), "{metric}");
        assert!(metric["time_grains"].is_array(), "{metric}");
        let dimensions = metric["dimensions"]
            .as_array()
            .unwrap_or_else(|| panic!("{metric}"));
        for dimension in dimensions {
            let name = dimension["name"].as_str().unwrap_or_default();
            assert!(name.contains("__"), "{dimension}");
            assert!(dimension["label"].is_string(), "{dimension}");
        }
    }
}

#[tokio::test]
async fn deposit_balance_catalog_entry() {
    let app = app();

    let (_, body) = get(&app, "/api/metrics").await;

    let metrics = body["metrics"].as_array().cloned().unwrap_or_default();
    let balance = metrics
        .iter()
        .find(|metric| metric["name"] == "deposit_balance")
        .unwrap_or_else(|| panic!("no deposit_balance: {body}"));
    assert_eq!(balance["label"], "存款余额");
    assert_eq!(balance["unit"], "yuan");
    assert_eq!(balance["default_period"], "reference_date");
    assert!(
        balance["synonyms"]
            .as_array()
            .is_some_and(|synonyms| !synonyms.is_empty())
    );
    let grains = balance["time_grains"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(grains.contains(&json!("month")), "{balance}");
    let dimensions = balance["dimensions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let customer_type = dimensions
        .iter()
        .find(|dimension| dimension["name"] == "customer__customer_type")
        .unwrap_or_else(|| panic!("no customer__customer_type: {balance}"));
    assert_eq!(customer_type["label"], "客户类型");
    assert!(
        dimensions
            .iter()
            .any(|dimension| dimension["name"] == "branch__branch_name"),
        "{balance}"
    );
}

// ---------------------------------------------------------------------------
// A real server on a loopback port

/// Sends one HTTP/1.1 request with `Connection: close` and returns the
/// status code and the body parsed as JSON.
fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(address)
        .unwrap_or_else(|error| panic!("cannot connect to {address}: {error}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("a read timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("the request is sent");

    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {response}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let json = serde_json::from_str(body)
        .unwrap_or_else(|error| panic!("status {status}: not JSON ({error}): {body}"));
    (status, json)
}

#[test]
fn serve_on_loopback_port() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let address = listener.local_addr().expect("the bound address");
    let state_folder = tempfile::tempdir().expect("a temporary folder");
    let config = ServerConfig {
        bind: address,
        semantic_layer: semantic_layer_dir(),
        warehouse: demo_warehouse().to_path_buf().into(),
        knowledge_base: None,
        limits: Limits::default(),
        web_assets: WebAssets::Embedded,
        state_file: state_folder.path().join("wenshu.sqlite"),
        access: std::sync::Arc::new(wenshu::server::Access::default()),
        query_settings: wenshu::assistant::QuerySettings::default(),
        llm: wenshu::llm::LlmSettings::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(run(listener, config, async {
        let _ = stopped.await;
    }));

    // The server answers 503 until the assistant has loaded.
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        let (status, body) = http(address, "GET", "/api/health", "");
        if status == 200 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "not ready after 60 s: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health["reference_date"], REFERENCE_DATE);

    let (status, first) = http(
        address,
        "POST",
        "/api/chat",
        r#"{"message": "今年以来日均存款是多少"}"#,
    );
    assert_answer(StatusCode::from_u16(status).expect("a status"), &first);
    let session_id = first["session_id"].as_str().unwrap_or_default().to_owned();
    let follow_up = json!({ "session_id": session_id, "message": "按月呢" }).to_string();
    let (status, second) = http(address, "POST", "/api/chat", &follow_up);
    assert_answer(StatusCode::from_u16(status).expect("a status"), &second);
    assert_eq!(second["session_id"], session_id.as_str());
    let (status, error) = http(address, "POST", "/api/chat", "{");
    assert_error(
        StatusCode::from_u16(status).expect("a status"),
        &error,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );

    stop.send(()).expect("the server is running");
    let outcome = runtime.block_on(server).expect("the server task panicked");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        TcpStream::connect(address).is_err(),
        "{address} still accepts connections"
    );
}

// ---------------------------------------------------------------------------
// Knowledge base

fn assistant_with_knowledge_base() -> Arc<Assistant> {
    static ASSISTANT: OnceLock<Arc<Assistant>> = OnceLock::new();
    let assistant = ASSISTANT.get_or_init(|| {
        let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("knowledge_base");
        let assistant = Assistant::open(&semantic_layer_dir(), demo_warehouse())
            .and_then(|assistant| assistant.with_knowledge_base_dir(&folder))
            .unwrap_or_else(|error| panic!("cannot open the assistant: {error}"));
        Arc::new(assistant)
    });
    Arc::clone(assistant)
}

fn faq_app() -> Router {
    router(AppState::ready(
        assistant_with_knowledge_base(),
        Limits::default(),
    ))
}

/// Percent-encodes a query-string value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn faq_search_finds_entry() {
    let app = faq_app();

    let (status, body) = get(&app, &format!("/api/faq?q={}", encode("U盾证书过期怎么办"))).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["knowledge_base"], true, "{body}");
    assert_eq!(body["confident"], true, "{body}");
    assert_eq!(body["hits"][0]["id"], "cb-ukey-expire", "{body}");
}

#[tokio::test]
async fn faq_search_without_query_is_rejected() {
    let app = faq_app();

    let (status, body) = get(&app, "/api/faq?q=").await;

    assert_error(status, &body, StatusCode::BAD_REQUEST, "empty_message");
}

#[tokio::test]
async fn faq_search_without_knowledge_base_is_empty() {
    let app = app();

    let (status, body) = get(&app, &format!("/api/faq?q={}", encode("转账限额"))).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["knowledge_base"], false, "{body}");
    assert_eq!(body["hits"].as_array().map(Vec::len), Some(0), "{body}");
}

#[tokio::test]
async fn service_question_gets_faq_answer() {
    let app = faq_app();

    let (status, body) = ask(&app, None, "手机银行转账限额怎么调").await;

    assert_answer(status, &body);
    assert_eq!(body["kind"], "faq", "{body}");
    assert_eq!(body["faq"]["id"], "lim-raise", "{body}");
}

#[tokio::test]
async fn metric_question_skips_knowledge_base() {
    let app = faq_app();

    let (status, body) = ask(&app, None, "各支行存款余额").await;

    assert_answer(status, &body);
    assert_eq!(body["kind"], "metric", "{body}");
}
