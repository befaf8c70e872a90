//! Helpers the benches share: the evaluation questions they time, read from
//! JSON Lines files of cases (the metric and FAQ evaluation files beside the
//! repository, or the files named by `WENSHU_BENCH_QUESTIONS`), and the
//! percentile of their timings.

// Each bench compiles this module and uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;
use wenshu::assistant::Assistant;
use wenshu::warehouse::{DuckDb, Value, Warehouse};

/// One turn of an evaluation case.
pub struct Question {
    /// The letters that start the case id: `d` (single metric questions),
    /// `c` (turns of conversations), `k` (glossary, out-of-scope and
    /// refused questions), `f` and `fn` (e-banking questions).
    pub set: String,
    pub text: String,
    /// The turn's hand-written SQL, for metric questions.
    pub gold_sql: Option<String>,
}

/// Returns the question files: those listed in `WENSHU_BENCH_QUESTIONS`
/// (separated as in `PATH`), or else the metric and FAQ evaluation files
/// that exist beside the repository.
pub fn question_files() -> Vec<PathBuf> {
    if let Some(list) = std::env::var_os("WENSHU_BENCH_QUESTIONS") {
        return std::env::split_paths(&list).collect();
    }
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    ["metrics_dev.jsonl", "faq_dev.jsonl"]
        .iter()
        .map(|name| folder.join(name))
        .filter(|path| path.exists())
        .collect()
}

/// Reads every turn of every case. A `{name}` placeholder in a question or
/// its SQL is replaced by the first value of the case's `params.name` SQL.
pub fn read_questions(path: &Path, warehouse: &DuckDb) -> Vec<Question> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", path.display()));
    let mut questions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Json = serde_json::from_str(line).unwrap_or_else(|error| {
            panic!("{}:{}: invalid JSON: {error}", path.display(), index + 1)
        });
        let id = case["id"].as_str().unwrap_or("?");
        let set = id
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect::<String>();

        let mut params = Vec::new();
        if let Some(object) = case["params"].as_object() {
            for (name, sql) in object {
                let sql = sql.as_str().unwrap_or_default();
                let table = warehouse.query(sql).unwrap_or_else(|error| {
                    panic!("case `{id}`: parameter `{name}` failed: {error}")
                });
                let value = table
                    .rows
                    .first()
                    .and_then(|row| row.first())
                    .map(Value::to_string);
                params.push((format!("{{{name}}}"), value.unwrap_or_default()));
            }
        }
        let fill = |template: &str| {
            let mut text = template.to_owned();
            for (placeholder, value) in &params {
                text = text.replace(placeholder, value);
            }
            text
        };

        for turn in case["turns"].as_array().into_iter().flatten() {
            let Some(question) = turn["q"].as_str() else {
                continue;
            };
            questions.push(Question {
                set: set.clone(),
                text: fill(question),
                gold_sql: turn["gold_sql"].as_str().map(fill),
            });
        }
    }
    questions
}

/// Generates the demo warehouse (seed 42, scale 1) into `folder` of Cargo's
/// scratch folder for benches, reads every question file against it and
/// opens the assistant over it. Returns None, after printing why, when
/// there is no question file.
pub fn questions_and_assistant(folder: &str) -> Option<(Vec<Question>, Assistant)> {
    let files = question_files();
    if files.is_empty() {
        println!(
            "skipped: no question file in ../shared/eval; set WENSHU_BENCH_QUESTIONS to JSON Lines files of evaluation cases"
        );
        return None;
    }

    let warehouse_path = crate::common::generate_demo_warehouse(folder);
    let warehouse = DuckDb::open_read_only(&warehouse_path)
        .unwrap_or_else(|error| panic!("cannot open `{}`: {error}", warehouse_path.display()));
    let questions: Vec<Question> = files
        .iter()
        .flat_map(|path| read_questions(path, &warehouse))
        .collect();
    let assistant = Assistant::open(&crate::common::semantic_layer_dir(), &warehouse_path)
        .unwrap_or_else(|error| panic!("cannot open the assistant: {error}"));
    let names: Vec<String> = files
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    println!("{} questions from {}", questions.len(), names.join(", "));
    Some((questions, assistant))
}

/// Returns the nearest-rank percentile of sorted durations.
pub fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
