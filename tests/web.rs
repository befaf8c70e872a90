//! The chat page's server side: the embedded page, the streamed answer,
//! table downloads, feedback and example questions, through the router.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;
use wenshu::assistant::Assistant;
use wenshu::server::{AppState, Limits, StateOptions, WebAssets, router};
use wenshu::store::{Rating, Store};

fn demo_warehouse() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::generate_demo_warehouse("web"))
}

fn assistant() -> Arc<Assistant> {
    static ASSISTANT: OnceLock<Arc<Assistant>> = OnceLock::new();
    let assistant = ASSISTANT.get_or_init(|| Arc::new(common::open_assistant(demo_warehouse())));
    Arc::clone(assistant)
}

fn app_with_store(store: Arc<Store>) -> Router {
    let state = AppState::new(StateOptions {
        store,
        ..StateOptions::in_memory(Limits::default())
    });
    state.mark_ready(assistant());
    router(state)
}

fn app() -> Router {
    router(AppState::ready(assistant(), Limits::default()))
}

/// A response's status, headers and body bytes.
struct Reply {
    status: StatusCode,
    content_type: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "status {}: not JSON ({error}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }
}

async fn send(app: &Router, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).expect("a valid request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a readable body")
        .to_vec();
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

async fn ask(app: &Router, session_id: Option<&str>, message: &str) -> Value {
    let body = json!({"session_id": session_id, "message": message});
    let reply = send(app, Method::POST, "/api/chat", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

/// Splits a server-sent event stream into (event, data) pairs.
fn events(stream: &str) -> Vec<(String, String)> {
    stream
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_owned();
                } else if let Some(text) = line.strip_prefix("data:") {
                    data.push_str(text.trim_start());
                }
            }
            (event, data)
        })
        .collect()
}

#[tokio::test]
async fn page_is_served_with_a_strict_content_policy() {
    let app = app();

    let page = send(&app, Method::GET, "/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("an ASCII policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(page.text().contains("app.js"), "the page loads its script");

    let chart_library = send(&app, Method::GET, "/vendor/echarts/echarts.min.js", None).await;
    assert_eq!(chart_library.status, StatusCode::OK);
    assert!(chart_library.content_type.starts_with("text/javascript"));
    assert!(chart_library.body.len() > 100_000);
}

#[tokio::test]
async fn paths_outside_the_page_are_not_found() {
    let app = app();

    for path in [
        "/Cargo.toml",
        "/web/index.html",
        "/../Cargo.toml",
        "/vendor/echarts/LICENSE",
        "/%2e%2e/Cargo.toml",
    ] {
        let reply = send(&app, Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json()["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn page_folder_is_read_from_disk() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    for file in ["app.js", "i18n.js", "style.css", "favicon.svg"] {
        std::fs::copy(web.join(file), folder.path().join(file)).expect("a page file is copied");
    }
    std::fs::create_dir_all(folder.path().join("vendor/echarts")).expect("the vendor folder");
    std::fs::write(
        folder.path().join("vendor/echarts/echarts.min.js"),
        "// stand-in",
    )
    .expect("a stand-in chart library");
    std::fs::write(folder.path().join("index.html"), "<p>edited</p>").expect("an edited page");
    let assets = WebAssets::Folder(folder.path().to_owned());
    assets.check().expect("the folder has every page file");
    let state = AppState::new(StateOptions {
        web_assets: assets,
        ..StateOptions::in_memory(Limits::default())
    });
    state.mark_ready(assistant());
    let app = router(state);

    let page = send(&app, Method::GET, "/", None).await;

    assert_eq!(page.text(), "<p>edited</p>");
}

#[tokio::test]
async fn stream_reports_stages_then_the_answer() {
    let app = app();
    let body = json!({"message": "各支行存款余额前五"});

    let reply = send(&app, Method::POST, "/api/chat/stream", Some(body)).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.content_type.starts_with("text/event-stream"),
        "{}",
        reply.content_type
    );
    let events = events(&reply.text());
    let stages: Vec<String> = events
        .iter()
        .filter(|(event, _)| event == "stage")
        .map(|(_, data)| {
            let stage: Value = serde_json::from_str(data).expect("a JSON stage");
            format!(
                "{}/{}",
                stage["stage"].as_str().unwrap(),
                stage["label"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            "understanding/理解问题",
            "compiling/生成查询",
            "querying/查询数据",
            "answering/生成回答"
        ]
    );
    let (last_event, last_data) = events.last().expect("at least one event");
    assert_eq!(last_event, "answer");
    let answer: Value = serde_json::from_str(last_data).expect("a JSON answer");
    assert_eq!(answer["kind"], "metric");
    assert_eq!(answer["rows"].as_array().map(Vec::len), Some(5));
    assert!(answer["answer_id"].is_string(), "{answer}");
}

#[tokio::test]
async fn stream_keeps_the_conversation() {
    let app = app();
    let first = ask(&app, None, "各支行存款余额").await;
    let session_id = first["session_id"].as_str().unwrap();
    let body = json!({"session_id": session_id, "message": "那上个月呢？"});

    let reply = send(&app, Method::POST, "/api/chat/stream", Some(body)).await;

    let events = events(&reply.text());
    let answer: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(answer["session_id"], session_id);
    assert_eq!(answer["query"]["period"]["end"], "2026-10-31", "{answer}");
    assert!(
        answer["rewritten"]
            .as_str()
            .is_some_and(|text| text.contains("机构")),
        "{answer}"
    );
}

#[tokio::test]
async fn stream_rejects_bad_requests_as_json_errors() {
    let app = app();

    let empty = send(
        &app,
        Method::POST,
        "/api/chat/stream",
        Some(json!({"message": "  "})),
    )
    .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.json()["error"]["code"], "empty_message");

    let wrong_type = send(
        &app,
        Method::POST,
        "/api/chat/stream",
        Some(json!({"message": 5})),
    )
    .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_type.json()["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn stream_answers_faq_questions_with_one_stage() {
    let app = app();
    let body = json!({"message": "手机银行转账限额怎么调？"});

    let reply = send(&app, Method::POST, "/api/chat/stream", Some(body)).await;

    let events = events(&reply.text());
    assert_eq!(events.len(), 2, "{events:?}");
    let answer: Value = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(answer["kind"], "faq");
    assert_eq!(answer["faq"]["category"], "限额");
    assert!(
        answer.get("answer_id").is_none(),
        "only tables are kept: {answer}"
    );
}

#[tokio::test]
async fn csv_download_holds_the_answer_rows() {
    let app = app();
    let answer = ask(&app, None, "今年以来每月个人存款日均").await;
    let id = answer["answer_id"].as_str().expect("an answer id");

    let csv = send(
        &app,
        Method::GET,
        &format!("/api/answers/{id}/table.csv"),
        None,
    )
    .await;

    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.content_type.starts_with("text/csv"));
    let disposition = csv.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let text = csv.text();
    let mut lines = text.trim_start_matches('\u{FEFF}').lines();
    assert_eq!(lines.next(), Some("月份,日均存款"));
    let rows: Vec<(String, f64)> = lines
        .map(|line| {
            let (month, value) = line.split_once(',').expect("two fields");
            (month.to_owned(), value.parse().expect("a number"))
        })
        .collect();
    let expected = answer["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows.len(), expected.len());
    for ((month, value), row) in rows.iter().zip(expected) {
        assert_eq!(month, row[0].as_str().unwrap());
        // serde_json reads floats to within one unit in the last place.
        let api_value = row[1].as_f64().unwrap();
        assert!(
            (value - api_value).abs() <= api_value.abs() * 1e-15,
            "{value} vs {api_value}"
        );
    }
}

#[tokio::test]
async fn excel_download_is_a_workbook() {
    let app = app();
    let answer = ask(&app, None, "各支行存款余额").await;
    let id = answer["answer_id"].as_str().expect("an answer id");

    let xlsx = send(
        &app,
        Method::GET,
        &format!("/api/answers/{id}/table.xlsx"),
        None,
    )
    .await;

    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(
        xlsx.content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(&xlsx.body[..4], b"PK\x03\x04", "a zip container");
}

#[tokio::test]
async fn unknown_answers_and_files_are_not_found() {
    let app = app();
    let answer = ask(&app, None, "各支行存款余额").await;
    let id = answer["answer_id"].as_str().unwrap();

    let unknown = send(&app, Method::GET, "/api/answers/0123abcd/table.csv", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["error"]["code"], "answer_not_kept");

    let other_file = send(
        &app,
        Method::GET,
        &format!("/api/answers/{id}/table.pdf"),
        None,
    )
    .await;
    assert_eq!(other_file.status, StatusCode::NOT_FOUND);
    assert_eq!(other_file.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn feedback_is_kept_in_the_store() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let file = folder.path().join("state/wenshu.sqlite");
    let app = app_with_store(Arc::new(Store::open(&file).expect("a store")));
    let answer = ask(&app, None, "各支行存款余额").await;
    let body = json!({
        "session_id": answer["session_id"],
        "answer_id": answer["answer_id"],
        "rating": "down",
        "question": "各支行存款余额",
        "comment": "想看对公",
    });

    let reply = send(&app, Method::POST, "/api/feedback", Some(body)).await;
    let up = json!({"session_id": answer["session_id"], "rating": "up"});
    let second = send(&app, Method::POST, "/api/feedback", Some(up)).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "recorded"}));
    assert_eq!(second.status, StatusCode::OK);
    // A new connection to the same file sees both, newest first.
    let stored = Store::open(&file).unwrap().list_feedback(10).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].rating, Rating::Down);
    assert_eq!(stored[1].answer_id.as_deref(), answer["answer_id"].as_str());
    assert_eq!(stored[1].comment.as_deref(), Some("想看对公"));
    assert_eq!(stored[1].user, "anonymous");
    assert_eq!(stored[0].rating, Rating::Up);
}

#[tokio::test]
async fn bad_feedback_is_rejected() {
    let app = app();

    for body in [
        json!({"session_id": "abc", "rating": "meh"}),
        json!({"rating": "up"}),
        json!({"session_id": "a b", "rating": "up"}),
        json!({"session_id": "abc", "rating": "up", "answer_id": "../x"}),
        json!({"session_id": "abc", "rating": "up", "extra": 1}),
    ] {
        let reply = send(&app, Method::POST, "/api/feedback", Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(reply.json()["error"]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn every_example_question_gets_a_figure() {
    let app = app();

    for lang in ["zh", "en"] {
        let reply = send(
            &app,
            Method::GET,
            &format!("/api/examples?lang={lang}"),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        let examples = reply.json()["examples"].as_array().cloned().unwrap();
        assert!(examples.len() >= 5, "{lang}: {examples:?}");
        for example in examples {
            let question = example.as_str().unwrap();
            let answer = ask(&app, None, question).await;
            assert_eq!(answer["kind"], "metric", "{question}: {answer}");
            assert!(
                answer["rows"]
                    .as_array()
                    .is_some_and(|rows| !rows.is_empty()),
                "{question}: {answer}"
            );
            assert!(
                answer["headline"]["value"].is_string(),
                "{question}: {answer}"
            );
        }
    }

    let unknown = send(&app, Method::GET, "/api/examples?lang=fr", None).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn headline_leads_with_the_right_figure() {
    let app = app();

    let ranking = ask(&app, None, "各支行存款余额前五").await;
    let first_row = &ranking["rows"][0];
    assert_eq!(ranking["headline"]["raw"], first_row[1], "{ranking}");
    assert!(
        ranking["headline"]["label"]
            .as_str()
            .unwrap()
            .contains(first_row[0].as_str().unwrap())
    );
    assert!(
        ranking["headline"]["value"]
            .as_str()
            .unwrap()
            .ends_with("元")
    );

    let series = ask(&app, None, "今年每月存款余额").await;
    let rows = series["rows"].as_array().unwrap();
    assert_eq!(
        series["headline"]["raw"],
        rows.last().unwrap()[1],
        "{series}"
    );
    assert_eq!(series["period_text"], "2026-01-01 至 2026-11-30");
}

#[tokio::test]
async fn breakdown_rows_come_largest_first() {
    let app = app();

    let answer = ask(&app, None, "各区县存款余额").await;

    let values: Vec<f64> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[1].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 8, "{answer}");
    assert!(
        values.windows(2).all(|pair| pair[0] >= pair[1]),
        "{values:?}"
    );
    assert_eq!(answer["headline"]["raw"].as_f64(), Some(values[0]));
}
