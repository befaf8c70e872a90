//! Durable state: the real server is killed with SIGKILL in the middle of
//! a conversation, started again on the same state file, and the
//! conversation goes on; the audit record holds every answered request.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wenshu::store::{AuditFilter, Store};

fn demo_warehouse() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::generate_demo_warehouse("restart"))
}

/// A loopback port that was free a moment ago.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().expect("the bound address")
}

fn start(address: SocketAddr, state: &Path) -> Child {
    // An empty settings file, so that a wenshu.toml in the repository
    // does not apply.
    let config = state.with_extension("toml");
    std::fs::write(&config, "").expect("an empty settings file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wenshu"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["serve", "--bind", &address.to_string(), "--state"])
        .arg(state)
        .arg("--config")
        .arg(&config)
        .arg("--warehouse")
        .arg(demo_warehouse())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, _)) = http(address, "GET", "/api/health", "") {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server at {address} did not become ready");
}

/// Sends one HTTP/1.1 request and returns the status and the JSON body.
fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn ask(address: SocketAddr, session_id: Option<&str>, message: &str) -> Value {
    let body = json!({"session_id": session_id, "message": message}).to_string();
    let (status, answer) = http(address, "POST", "/api/chat", &body).expect("the server answers");
    assert_eq!(status, 200, "`{message}`: {answer}");
    answer
}

#[test]
fn conversation_and_audit_survive_sigkill() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let state = folder.path().join("wenshu.sqlite");
    let address = free_port();

    let mut server = start(address, &state);
    let first = ask(address, None, "各支行存款余额");
    let session_id = first["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let second = ask(address, Some(&session_id), "那上个月呢？");
    assert_eq!(second["query"]["period"]["end"], "2026-10-31", "{second}");
    server.kill().expect("SIGKILL is sent");
    server.wait().expect("the server is gone");

    let mut server = start(address, &state);
    let third = ask(address, Some(&session_id), "只看对公");
    server.kill().expect("SIGKILL is sent");
    server.wait().expect("the server is gone");

    // The third turn kept the breakdown and the month of the first two.
    assert_eq!(third["kind"], "metric", "{third}");
    assert_eq!(third["query"]["period"]["end"], "2026-10-31", "{third}");
    assert_eq!(
        third["query"]["dimensions"],
        json!(["branch__branch_name"]),
        "{third}"
    );
    let filters = third["query"]["filters"].to_string();
    assert!(filters.contains("对公"), "{third}");

    let store = Store::open(&state).expect("the state file opens");
    let records = store
        .list_audit(&AuditFilter {
            session_id: Some(session_id.clone()),
            limit: 100,
            ..AuditFilter::default()
        })
        .expect("the audit record is readable");
    let questions: Vec<&str> = records
        .iter()
        .rev()
        .filter_map(|stored| stored.record.question.as_deref())
        .collect();
    assert_eq!(questions, ["各支行存款余额", "那上个月呢？", "只看对公"]);
    for stored in &records {
        assert_eq!(stored.record.status, 200);
        assert_eq!(stored.record.outcome, "ok");
        assert!(stored.record.sql.is_some(), "each turn ran SQL");
    }

    let listed = Command::new(env!("CARGO_BIN_EXE_wenshu"))
        .args(["audit", "--json", "--session", &session_id, "--state"])
        .arg(&state)
        .output()
        .expect("wenshu audit runs");
    assert!(listed.status.success());
    let lines = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert_eq!(lines, 3);
}
