use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use super::*;

/// Returns a time on 2026-12-05 with whole milliseconds, which survives the
/// round trip exactly.
fn at(hour: u32, minute: u32, second: u32, millis: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, hour, minute, second)
        .unwrap()
        + Duration::milliseconds(i64::from(millis))
}

fn audit_record(time: DateTime<Utc>, user: &str, question: &str) -> AuditRecord {
    AuditRecord {
        time,
        user: user.to_string(),
        role: "analyst".to_string(),
        endpoint: "POST /api/chat".to_string(),
        session_id: Some("session-1".to_string()),
        question: Some(question.to_string()),
        intent: Some("metric".to_string()),
        resolved_query: Some(json!({"metrics": ["deposit_balance"], "group_by": ["branch"]})),
        sql: Some(
            "SELECT branch, SUM(balance) FROM fact_deposit_daily GROUP BY branch".to_string(),
        ),
        row_count: Some(12),
        latency_ms: 37,
        status: 200,
        outcome: "ok".to_string(),
    }
}

/// Builds the stored form of `record`, for comparing round trips.
fn stored(id: i64, record: &AuditRecord) -> StoredAudit {
    StoredAudit {
        id,
        record: record.clone(),
    }
}

fn all_audit() -> AuditFilter {
    AuditFilter {
        limit: usize::MAX,
        ..AuditFilter::default()
    }
}

fn ids(records: &[StoredAudit]) -> Vec<i64> {
    records.iter().map(|record| record.id).collect()
}

fn pragma_text(store: &Store, name: &str) -> String {
    store
        .lock()
        .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
        .map(|value| match value {
            rusqlite::types::Value::Text(text) => text,
            rusqlite::types::Value::Integer(number) => number.to_string(),
            other => format!("{other:?}"),
        })
        .unwrap()
}

fn open_file(folder: &Path) -> Store {
    Store::open(&folder.join("wenshu.sqlite")).unwrap()
}

#[test]
fn readings_are_stored_with_their_questions() {
    let store = Store::open_in_memory().unwrap();
    let questions = vec!["老百姓存了多少钱".to_string(), "按支行拆分".to_string()];
    let readings = vec![Some("个人 存款余额".to_string()), None];

    store
        .save_conversation("session-1", "zhang.wei", &questions, &readings)
        .unwrap();
    let conversation = store.load_conversation("session-1").unwrap().unwrap();

    assert_eq!(conversation.questions, questions);
    assert_eq!(conversation.readings, readings);
    assert_eq!(
        conversation.turns(),
        vec![
            (
                "老百姓存了多少钱".to_string(),
                Some("个人 存款余额".to_string())
            ),
            ("按支行拆分".to_string(), None),
        ]
    );
}

#[test]
fn conversation_round_trip() {
    let store = Store::open_in_memory().unwrap();
    let questions = vec!["上月存款余额".to_string(), "按支行拆分".to_string()];
    let before_save = Utc::now() - Duration::seconds(1);

    store
        .save_conversation("session-1", "zhang.wei", &questions, &[])
        .unwrap();
    let conversation = store.load_conversation("session-1").unwrap().unwrap();

    assert_eq!(conversation.session_id, "session-1");
    assert_eq!(conversation.user, "zhang.wei");
    assert_eq!(conversation.questions, questions);
    assert!(conversation.updated_at >= before_save);
    assert!(conversation.updated_at <= Utc::now());
}

#[test]
fn conversation_missing_is_none() {
    let store = Store::open_in_memory().unwrap();

    assert_eq!(store.load_conversation("no-such-session").unwrap(), None);
}

#[test]
fn conversation_save_replaces_existing() {
    let store = Store::open_in_memory().unwrap();
    store
        .save_conversation("session-1", "zhang.wei", &["第一个问题".to_string()], &[])
        .unwrap();
    let first = store.load_conversation("session-1").unwrap().unwrap();

    let questions = vec!["第一个问题".to_string(), "第二个问题".to_string()];
    store
        .save_conversation("session-1", "zhang.wei", &questions, &[])
        .unwrap();
    let second = store.load_conversation("session-1").unwrap().unwrap();

    assert_eq!(second.questions, questions);
    assert!(second.updated_at >= first.updated_at);
    let count: i64 = store
        .lock()
        .query_row("SELECT COUNT(*) FROM conversations", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

#[test]
fn conversation_with_no_questions() {
    let store = Store::open_in_memory().unwrap();

    store
        .save_conversation("session-1", "anonymous", &[], &[])
        .unwrap();

    let conversation = store.load_conversation("session-1").unwrap().unwrap();
    assert!(conversation.questions.is_empty());
}

#[test]
fn idle_conversations_are_deleted() {
    let store = Store::open_in_memory().unwrap();
    store
        .save_conversation("old", "zhang.wei", &[], &[])
        .unwrap();
    store
        .save_conversation("recent", "li.na", &[], &[])
        .unwrap();
    store
        .lock()
        .execute(
            "UPDATE conversations SET updated_at = ?1 WHERE session_id = 'old'",
            [format_time(Utc::now() - Duration::hours(2))],
        )
        .unwrap();

    let deleted = store
        .delete_conversations_idle_since(Utc::now() - Duration::hours(1))
        .unwrap();

    assert_eq!(deleted, 1);
    assert_eq!(store.load_conversation("old").unwrap(), None);
    assert!(store.load_conversation("recent").unwrap().is_some());
}

#[test]
fn feedback_round_trip() {
    let store = Store::open_in_memory().unwrap();
    let full = Feedback {
        time: at(9, 30, 0, 123),
        user: "zhang.wei".to_string(),
        session_id: "session-1".to_string(),
        answer_id: Some("answer-7".to_string()),
        rating: Rating::Down,
        question: Some("上月存款余额".to_string()),
        comment: Some("口径不对".to_string()),
    };
    let bare = Feedback {
        time: at(9, 31, 0, 0),
        user: "li.na".to_string(),
        session_id: "session-2".to_string(),
        answer_id: None,
        rating: Rating::Up,
        question: None,
        comment: None,
    };

    let full_id = store.record_feedback(&full).unwrap();
    let bare_id = store.record_feedback(&bare).unwrap();
    let listed = store.list_feedback(10).unwrap();

    let expected = [(bare_id, &bare), (full_id, &full)].map(|(id, feedback)| StoredFeedback {
        id,
        time: feedback.time,
        user: feedback.user.clone(),
        session_id: feedback.session_id.clone(),
        answer_id: feedback.answer_id.clone(),
        rating: feedback.rating,
        question: feedback.question.clone(),
        comment: feedback.comment.clone(),
    });
    assert_eq!(listed, expected);
}

#[test]
fn feedback_list_respects_limit() {
    let store = Store::open_in_memory().unwrap();
    for minute in 0..5 {
        let feedback = Feedback {
            time: at(10, minute, 0, 0),
            user: "zhang.wei".to_string(),
            session_id: "session-1".to_string(),
            answer_id: None,
            rating: Rating::Up,
            question: None,
            comment: Some(format!("minute {minute}")),
        };
        store.record_feedback(&feedback).unwrap();
    }

    let listed = store.list_feedback(2).unwrap();

    let comments: Vec<_> = listed
        .iter()
        .map(|feedback| feedback.comment.as_deref())
        .collect();
    assert_eq!(comments, [Some("minute 4"), Some("minute 3")]);
    assert!(store.list_feedback(0).unwrap().is_empty());
}

#[test]
fn rating_json_is_lowercase() {
    assert_eq!(serde_json::to_string(&Rating::Up).unwrap(), "\"up\"");
    assert_eq!(serde_json::to_string(&Rating::Down).unwrap(), "\"down\"");
    assert_eq!(
        serde_json::from_str::<Rating>("\"down\"").unwrap(),
        Rating::Down
    );
}

#[test]
fn audit_round_trip() {
    let store = Store::open_in_memory().unwrap();
    let full = audit_record(at(8, 0, 0, 5), "zhang.wei", "上月各支行存款余额");
    let bare = AuditRecord {
        time: at(8, 0, 1, 0),
        user: "anonymous".to_string(),
        role: "executive".to_string(),
        endpoint: "GET /api/catalog".to_string(),
        session_id: None,
        question: None,
        intent: None,
        resolved_query: None,
        sql: None,
        row_count: None,
        latency_ms: 0,
        status: 429,
        outcome: "rate_limited".to_string(),
    };

    let full_id = store.append_audit(&full).unwrap();
    let bare_id = store.append_audit(&bare).unwrap();

    assert_eq!(
        store.list_audit(&all_audit()).unwrap(),
        [stored(bare_id, &bare), stored(full_id, &full)]
    );
    assert_eq!(store.audit_count().unwrap(), 2);
}

#[test]
fn audit_time_keeps_milliseconds_only() {
    let store = Store::open_in_memory().unwrap();
    let time = at(8, 0, 0, 123) + Duration::microseconds(456);

    store
        .append_audit(&audit_record(time, "zhang.wei", "q"))
        .unwrap();

    let text: String = store
        .lock()
        .query_row("SELECT time FROM audit", [], |row| row.get(0))
        .unwrap();
    assert_eq!(text, "2026-12-05T08:00:00.123Z");
    assert_eq!(
        store.list_audit(&all_audit()).unwrap()[0].record.time,
        at(8, 0, 0, 123)
    );
}

#[test]
fn audit_filters() {
    let store = Store::open_in_memory().unwrap();
    let mut first = audit_record(at(8, 0, 0, 0), "zhang.wei", "上月存款余额");
    first.session_id = Some("session-a".to_string());
    let mut second = audit_record(at(9, 0, 0, 0), "li.na", "SELECT 100% FROM t");
    second.session_id = Some("session-b".to_string());
    second.outcome = "sql_rejected".to_string();
    second.status = 400;
    let mut third = audit_record(at(10, 0, 0, 0), "zhang.wei", "本月存款余额按支行");
    third.session_id = Some("session-b".to_string());
    let mut fourth = audit_record(at(11, 0, 0, 0), "wang.fang", "");
    fourth.question = None;
    fourth.session_id = None;
    fourth.outcome = "forbidden".to_string();
    let id = [&first, &second, &third, &fourth].map(|record| store.append_audit(record).unwrap());

    let cases = [
        (
            "no condition",
            all_audit(),
            vec![id[3], id[2], id[1], id[0]],
        ),
        (
            "user",
            AuditFilter {
                user: Some("zhang.wei".to_string()),
                ..all_audit()
            },
            vec![id[2], id[0]],
        ),
        (
            "session",
            AuditFilter {
                session_id: Some("session-b".to_string()),
                ..all_audit()
            },
            vec![id[2], id[1]],
        ),
        (
            "outcome",
            AuditFilter {
                outcome: Some("sql_rejected".to_string()),
                ..all_audit()
            },
            vec![id[1]],
        ),
        (
            "since is inclusive",
            AuditFilter {
                since: Some(at(9, 0, 0, 0)),
                ..all_audit()
            },
            vec![id[3], id[2], id[1]],
        ),
        (
            "until is exclusive",
            AuditFilter {
                until: Some(at(10, 0, 0, 0)),
                ..all_audit()
            },
            vec![id[1], id[0]],
        ),
        (
            "since and until",
            AuditFilter {
                since: Some(at(8, 30, 0, 0)),
                until: Some(at(10, 30, 0, 0)),
                ..all_audit()
            },
            vec![id[2], id[1]],
        ),
        (
            "text",
            AuditFilter {
                text: Some("存款余额".to_string()),
                ..all_audit()
            },
            vec![id[2], id[0]],
        ),
        (
            "text with a LIKE wildcard",
            AuditFilter {
                text: Some("100%".to_string()),
                ..all_audit()
            },
            vec![id[1]],
        ),
        (
            "text is case-sensitive",
            AuditFilter {
                text: Some("select".to_string()),
                ..all_audit()
            },
            vec![],
        ),
        (
            "empty text matches all",
            AuditFilter {
                text: Some(String::new()),
                ..all_audit()
            },
            vec![id[3], id[2], id[1], id[0]],
        ),
        (
            "limit keeps the newest",
            AuditFilter {
                limit: 2,
                ..all_audit()
            },
            vec![id[3], id[2]],
        ),
        (
            "limit zero",
            AuditFilter {
                limit: 0,
                ..all_audit()
            },
            vec![],
        ),
        (
            "user and text",
            AuditFilter {
                user: Some("zhang.wei".to_string()),
                text: Some("本月".to_string()),
                ..all_audit()
            },
            vec![id[2]],
        ),
    ];
    for (name, filter, expected) in cases {
        assert_eq!(ids(&store.list_audit(&filter).unwrap()), expected, "{name}");
    }
}

#[test]
fn audit_newest_first_by_time() {
    let store = Store::open_in_memory().unwrap();
    // Appended out of time order, as concurrent requests may finish.
    let late = store
        .append_audit(&audit_record(at(12, 0, 0, 0), "zhang.wei", "late"))
        .unwrap();
    let early = store
        .append_audit(&audit_record(at(11, 0, 0, 0), "zhang.wei", "early"))
        .unwrap();
    let same_time = store
        .append_audit(&audit_record(at(12, 0, 0, 0), "zhang.wei", "same time"))
        .unwrap();

    assert_eq!(
        ids(&store.list_audit(&all_audit()).unwrap()),
        [same_time, late, early]
    );
}

#[test]
fn audit_rejects_update_and_delete() {
    let store = Store::open_in_memory().unwrap();
    let id = store
        .append_audit(&audit_record(at(8, 0, 0, 0), "zhang.wei", "上月存款余额"))
        .unwrap();
    let original = store.list_audit(&all_audit()).unwrap();

    let statements = [
        "UPDATE audit SET outcome = 'forged'",
        "DELETE FROM audit",
        "DELETE FROM audit WHERE id = 1",
        "INSERT OR REPLACE INTO audit (id, time, user, role, endpoint, latency_ms, status, outcome)
         VALUES (1, '2026-12-05T08:00:00.000Z', 'forged', 'admin', 'POST /api/chat', 0, 200, 'ok')",
        "REPLACE INTO audit (id, time, user, role, endpoint, latency_ms, status, outcome)
         VALUES (1, '2026-12-05T08:00:00.000Z', 'forged', 'admin', 'POST /api/chat', 0, 200, 'ok')",
        "INSERT INTO audit (id, time, user, role, endpoint, latency_ms, status, outcome)
         VALUES (1, '2026-12-05T08:00:00.000Z', 'forged', 'admin', 'POST /api/chat', 0, 200, 'ok')
         ON CONFLICT (id) DO UPDATE SET user = 'forged'",
    ];
    for statement in statements {
        let error = store.lock().execute(statement, []).unwrap_err();
        assert!(
            error.to_string().contains("audit rows are append-only"),
            "`{statement}` failed with an unexpected error: {error}"
        );
    }

    assert_eq!(id, 1);
    assert_eq!(store.list_audit(&all_audit()).unwrap(), original);
}

#[test]
fn audit_display_line() {
    let mut record = stored(
        1,
        &audit_record(
            at(8, 5, 9, 999),
            "zhang.wei",
            "SELECT branch,\n       SUM(balance)\nFROM fact_deposit_daily\nGROUP BY branch",
        ),
    );
    record.record.latency_ms = 1234;

    let line = record.table_line_in(&Utc);

    assert_eq!(
        line,
        "2026-12-05T08:05:09+00:00 zhang.wei        analyst         POST /api/chat         \
         ok              200    1234ms      12 SELECT branch,        SUM(balance) FROM…"
    );
    assert_eq!(
        line.chars().count(),
        audit_table_header().chars().count() - "question".len() + 40
    );
}

#[test]
fn audit_display_without_optional_values() {
    let mut record = stored(1, &audit_record(at(8, 0, 0, 0), "anonymous", "q"));
    record.record.question = None;
    record.record.row_count = None;
    record.record.user = "a.user.name.longer.than.sixteen".to_string();
    record.record.outcome = "rate_limited".to_string();
    record.record.status = 429;

    let line = record.table_line_in(&Utc);

    assert!(
        line.starts_with("2026-12-05T08:00:00+00:00 a.user.name.lon… analyst "),
        "{line}"
    );
    assert!(
        line.ends_with(" rate_limited    429      37ms       - -"),
        "{line}"
    );
    assert_eq!(line.to_string(), line.trim_end());
}

#[test]
fn audit_display_removes_control_characters() {
    let record = stored(
        1,
        &audit_record(at(8, 0, 0, 0), "zhang.wei", "a\u{1b}[31mred\tb\r\nc"),
    );

    let line = record.table_line_in(&Utc);

    assert!(line.ends_with(" a [31mred b  c"), "{line}");
    assert!(!line.chars().any(char::is_control));
}

#[test]
fn audit_table_header_aligns() {
    assert_eq!(
        audit_table_header(),
        "time                      user             role            endpoint               \
         outcome      status   latency    rows question"
    );
}

#[test]
fn stored_types_serialize_to_json() {
    let record = stored(
        3,
        &audit_record(at(8, 0, 0, 0), "zhang.wei", "上月存款余额"),
    );

    let value = serde_json::to_value(&record).unwrap();

    assert_eq!(value["id"], 3);
    assert_eq!(value["time"], "2026-12-05T08:00:00Z");
    assert_eq!(value["resolved_query"]["metrics"][0], "deposit_balance");
    assert_eq!(value["row_count"], 12);
}

#[test]
fn reopen_keeps_everything() {
    let folder = tempfile::tempdir().unwrap();
    let record = audit_record(at(8, 0, 0, 0), "zhang.wei", "上月存款余额");
    let feedback = Feedback {
        time: at(8, 1, 0, 0),
        user: "zhang.wei".to_string(),
        session_id: "session-1".to_string(),
        answer_id: Some("answer-1".to_string()),
        rating: Rating::Up,
        question: Some("上月存款余额".to_string()),
        comment: None,
    };
    let questions = vec!["上月存款余额".to_string()];
    let audit_id;
    let feedback_id;
    {
        let store = open_file(folder.path());
        store
            .save_conversation("session-1", "zhang.wei", &questions, &[])
            .unwrap();
        feedback_id = store.record_feedback(&feedback).unwrap();
        audit_id = store.append_audit(&record).unwrap();
    }

    let store = open_file(folder.path());

    let conversation = store.load_conversation("session-1").unwrap().unwrap();
    assert_eq!(conversation.user, "zhang.wei");
    assert_eq!(conversation.questions, questions);
    let listed_feedback = store.list_feedback(10).unwrap();
    assert_eq!(listed_feedback.len(), 1);
    assert_eq!(listed_feedback[0].id, feedback_id);
    assert_eq!(listed_feedback[0].comment, None);
    assert_eq!(
        store.list_audit(&all_audit()).unwrap(),
        [stored(audit_id, &record)]
    );
    assert_eq!(
        pragma_text(&store, "user_version"),
        SCHEMA_VERSION.to_string()
    );
}

#[test]
fn concurrent_appends_all_survive_reopen() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50;
    let folder = tempfile::tempdir().unwrap();
    let store = Arc::new(open_file(folder.path()));

    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for index in 0..PER_THREAD {
                    let question = format!("thread {thread} question {index}");
                    let record = audit_record(Utc::now(), &format!("user-{thread}"), &question);
                    store.append_audit(&record).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    // A second connection counts every row while the first is still open, so
    // the rows are in the file and its WAL, not in a buffer of the first.
    let second = open_file(folder.path());
    assert_eq!(second.audit_count().unwrap(), (THREADS * PER_THREAD) as u64);
    drop(second);
    drop(store);

    let reopened = open_file(folder.path());
    let records = reopened.list_audit(&all_audit()).unwrap();
    assert_eq!(records.len(), THREADS * PER_THREAD);
    let mut questions: Vec<_> = records
        .iter()
        .map(|stored| stored.record.question.clone().unwrap())
        .collect();
    questions.sort();
    questions.dedup();
    assert_eq!(questions.len(), THREADS * PER_THREAD);
}

#[test]
fn file_connection_settings() {
    let folder = tempfile::tempdir().unwrap();
    let store = open_file(folder.path());

    assert_eq!(pragma_text(&store, "journal_mode"), "wal");
    // 1 is NORMAL.
    assert_eq!(pragma_text(&store, "synchronous"), "1");
    assert_eq!(pragma_text(&store, "foreign_keys"), "1");
    assert_eq!(pragma_text(&store, "busy_timeout"), "5000");
    assert_eq!(pragma_text(&store, "recursive_triggers"), "1");
}

#[test]
fn open_creates_parent_folders() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder
        .path()
        .join("data")
        .join("state")
        .join("wenshu.sqlite");

    Store::open(&path).unwrap();

    assert!(path.is_file());
}

#[test]
fn newer_schema_version_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("wenshu.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();

    let error = Store::open(&path).unwrap_err();

    assert!(
        matches!(error, StoreError::NewerSchema { found: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the state database `{}` has schema version 2, but this build of wenshu supports \
             versions up to 1; run a newer wenshu or point it at another file",
            path.display()
        )
    );
}

#[test]
fn folder_that_cannot_be_created_is_reported() {
    let folder = tempfile::tempdir().unwrap();
    // A regular file where a folder should be: creating a folder under it
    // fails even for root, unlike a folder without write permission.
    let blocker = folder.path().join("blocker");
    std::fs::write(&blocker, "not a folder").unwrap();
    let path = blocker.join("state").join("wenshu.sqlite");

    let error = Store::open(&path).unwrap_err();

    assert!(
        matches!(error, StoreError::CreateFolder { .. }),
        "{error:?}"
    );
    let expected_start = format!(
        "cannot create the folder `{}` for the state database: ",
        blocker.join("state").display()
    );
    assert!(error.to_string().starts_with(&expected_start), "{error}");
}

#[test]
fn file_that_is_not_a_database_is_reported() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("wenshu.sqlite");
    std::fs::write(
        &path,
        "this is a text file, not SQLite, and long enough to have a header",
    )
    .unwrap();

    let error = Store::open(&path).unwrap_err();

    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the state database `{}`: file is not a database",
            path.display()
        )
    );
}

#[test]
fn invalid_stored_time_is_reported() {
    let store = Store::open_in_memory().unwrap();
    store
        .save_conversation("session-1", "zhang.wei", &[], &[])
        .unwrap();
    store
        .lock()
        .execute("UPDATE conversations SET updated_at = 'yesterday'", [])
        .unwrap();

    let error = store.load_conversation("session-1").unwrap_err();

    assert!(
        error.to_string().starts_with(
            "the state database `:memory:` contains an invalid value `yesterday` in \
             `conversations.updated_at`: "
        ),
        "{error}"
    );
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}
