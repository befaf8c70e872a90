//! The load generator of `wenshu bench load`, run against the real server
//! on a loopback port with tiny budgets: its counts, its split of answers
//! and errors, and its stopping rules. No assertion is about time.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wenshu::load_test::{LoadOptions, LoadReport, Script, conversations, run};
use wenshu::server::{Limits, ServerConfig, WebAssets};

/// The server shared by the tests, serving until the test process exits.
struct Server {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
    /// Kept so that the state database outlives the server.
    _state_folder: tempfile::TempDir,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
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
            semantic_layer: common::semantic_layer_dir(),
            warehouse: common::generate_demo_warehouse("load_test").into(),
            knowledge_base: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge_base")),
            limits: Limits::default(),
            web_assets: WebAssets::Embedded,
            state_file: state_folder.path().join("wenshu.sqlite"),
            access: std::sync::Arc::new(wenshu::server::Access::default()),
            query_settings: wenshu::assistant::QuerySettings::default(),
            llm: wenshu::llm::LlmSettings::default(),
        };
        runtime.spawn(wenshu::server::run(
            listener,
            config,
            std::future::pending::<()>(),
        ));
        wait_until_ready(address);
        Server {
            runtime,
            address,
            _state_folder: state_folder,
        }
    })
}

/// Polls `GET /api/health` until it returns 200; the server returns 503
/// while it loads.
fn wait_until_ready(address: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if health_status(address) == Some(200) {
            return;
        }
        assert!(Instant::now() < deadline, "{address} not ready after 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn health_status(address: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    let request =
        format!("GET /api/health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

fn options(url: String) -> LoadOptions {
    LoadOptions {
        url,
        conversations: 3,
        duration: Duration::from_secs(60),
        max_requests: Some(12),
        think_time: Duration::ZERO,
        request_timeout: Duration::from_secs(60),
        token: None,
        scripts: conversations::built_in(),
    }
}

fn load(options: &LoadOptions) -> LoadReport {
    server()
        .runtime
        .block_on(run(options))
        .unwrap_or_else(|error| panic!("the load test did not start: {error}"))
}

#[test]
fn request_budget_bounds_run() {
    let report = load(&options(format!("http://{}", server().address)));

    assert_eq!(report.requests, 12);
    assert_eq!(report.conversations, 3);
    assert_eq!(report.errors.total(), 0, "{}", report.to_text());
    assert_eq!(report.kinds.values().sum::<u64>(), 12);
    assert_eq!(report.all.count, 12);
    assert_eq!(report.metric.count + report.other.count, 12);
    assert!(report.metric.count > 0, "{}", report.to_text());
    assert!(report.completed_conversations >= 1);
    assert!(report.all.p50 <= report.all.p95);
    assert!(report.all.p95 <= report.all.p99);
    assert!(report.all.p99 <= report.all.max);
    assert!(report.throughput() > 0.0);
    assert!(report.summary_line().starts_with("p99_ms="));
    assert!(
        report.summary_line().ends_with(" errors=0 requests=12"),
        "{}",
        report.summary_line()
    );
    assert!(
        report
            .to_text()
            .ends_with(&format!("{}\n", report.summary_line()))
    );
}

#[test]
fn follow_ups_share_session() {
    let script = Script {
        name: "follow_up".to_owned(),
        turns: vec!["各支行存款余额".to_owned(), "只看个人".to_owned()],
    };
    let options = LoadOptions {
        conversations: 1,
        max_requests: Some(2),
        scripts: vec![script],
        ..options(format!("http://{}", server().address))
    };

    let report = load(&options);

    assert_eq!(report.requests, 2);
    assert_eq!(report.completed_conversations, 1);
    // A follow-up in a new session would have no breakdown to narrow and
    // would not be a metric answer.
    assert_eq!(report.kinds.get("metric"), Some(&2), "{}", report.to_text());
    assert_eq!(report.errors.total(), 0);
}

#[test]
fn error_status_counts_as_error() {
    let options = LoadOptions {
        max_requests: Some(4),
        ..options(format!("http://{}/no-such-prefix", server().address))
    };

    let report = load(&options);

    assert_eq!(report.requests, 4);
    assert_eq!(report.errors.statuses.get(&404), Some(&4));
    assert_eq!(report.errors.total(), 4);
    assert_eq!(report.all.count, 0);
    assert_eq!(report.completed_conversations, 0);
    assert_eq!(report.summary_line(), "p99_ms=0.0 errors=4 requests=4");
}

#[test]
fn refused_connection_counts_as_error() {
    // A port that was just free: nothing listens on it any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a loopback port");
    let options = LoadOptions {
        max_requests: Some(3),
        ..options(format!("http://{closed}"))
    };

    let report = load(&options);

    assert_eq!(report.requests, 3);
    assert_eq!(report.errors.transport, 3);
    assert_eq!(report.errors.total(), 3);
    assert!(report.kinds.is_empty());
}

#[test]
fn time_limit_ends_unbounded_run() {
    let options = LoadOptions {
        conversations: 2,
        duration: Duration::from_secs(1),
        max_requests: None,
        think_time: Duration::from_millis(200),
        ..options(format!("http://{}", server().address))
    };

    let report = load(&options);

    assert!(report.requests >= 1, "{}", report.to_text());
    assert_eq!(report.errors.total(), 0, "{}", report.to_text());
}

#[test]
fn invalid_options_do_not_start() {
    let options = LoadOptions {
        conversations: 0,
        ..options(format!("http://{}", server().address))
    };

    let error = server().runtime.block_on(run(&options)).unwrap_err();

    assert_eq!(
        error.to_string(),
        "invalid load test setting: conversations `0`: use 1 to 1000"
    );
}
