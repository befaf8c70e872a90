//! Time to understand a question and compile it to SQL, without running the
//! SQL: time parsing, interpretation against the lexicon, planning and
//! compilation, for every question of the metric evaluation set.
//!
//! Each question goes through `Assistant::compile_question`, the same
//! reading, planning and compiling as the first turn of a conversation.
//! Follow-up turns are therefore timed as questions on their own. Questions
//! whose intent is not a metric (glossary, fallback, refusal) stop after
//! interpretation.
//!
//! The questions are read at bench time from the JSON Lines file named by
//! `WENSHU_BENCH_QUESTIONS` (default in [`questions_path`]). When the file is
//! missing, the bench prints why and measures nothing. The questions are
//! grouped into sets by the letters that start their case id: `d` (single
//! questions), `c` (turns of conversations) and `k` (glossary, out-of-scope
//! and refused questions).
//!
//! Criterion reports the mean time of one pass over each set. It has no
//! percentiles, so afterwards the bench times every question one by one
//! with `Instant`, `TIMED_ROUNDS` passes over all questions, and prints the
//! 50th and 99th percentile (nearest rank) of single questions for each set.
//!
//! The lexicon is built from a demo warehouse (seed 42, scale 1) generated
//! into Cargo's scratch folder for benches. Run with
//! `cargo bench --bench understand`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::Value as Json;
use wenshu::assistant::Assistant;
use wenshu::warehouse::{Value, Warehouse};

#[path = "../tests/common/mod.rs"]
mod common;

/// Passes over all questions timed one by one for the percentiles.
const TIMED_ROUNDS: usize = 2_000;

/// One evaluation question and the set it belongs to.
struct Question {
    set: String,
    text: String,
}

// ---------------------------------------------------------------------------
// Setup

fn questions_path() -> PathBuf {
    match std::env::var_os("WENSHU_BENCH_QUESTIONS") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/metrics_dev.jsonl"),
    }
}

/// Reads every turn of every case. A `{name}` placeholder in a question is
/// replaced by the first value of the case's `params.name` SQL.
fn read_questions(path: &Path, warehouse: &Warehouse) -> Vec<Question> {
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

        for turn in case["turns"].as_array().into_iter().flatten() {
            let Some(question) = turn["q"].as_str() else {
                continue;
            };
            let mut text = question.to_owned();
            for (placeholder, value) in &params {
                text = text.replace(placeholder, value);
            }
            questions.push(Question {
                set: set.clone(),
                text,
            });
        }
    }
    questions
}

// ---------------------------------------------------------------------------
// Measurements

/// Registers one criterion benchmark per question set. Each iteration is
/// one pass over the set.
fn bench_question_sets(
    criterion: &mut Criterion,
    assistant: &Assistant,
    sets: &BTreeMap<String, Vec<&str>>,
) {
    let mut group = criterion.benchmark_group("understand_and_compile");
    for (set, questions) in sets {
        group.bench_function(
            format!("set_{set}_{}_questions", questions.len()),
            |bencher| {
                bencher.iter(|| {
                    for question in questions {
                        black_box(assistant.compile_question(black_box(question)));
                    }
                })
            },
        );
    }
    group.finish();
}

/// Times every question one by one, `TIMED_ROUNDS` passes over all of them,
/// and prints the 50th and 99th percentile of each set and of all questions.
fn print_percentiles(assistant: &Assistant, questions: &[Question]) {
    let mut samples: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..TIMED_ROUNDS {
        for question in questions {
            let started = Instant::now();
            black_box(assistant.compile_question(black_box(&question.text)));
            let elapsed = started.elapsed();
            samples.entry(&question.set).or_default().push(elapsed);
            samples.entry("all").or_default().push(elapsed);
        }
    }

    println!(
        "\nunderstand + plan + compile, single questions timed one by one ({TIMED_ROUNDS} passes over {} questions):",
        questions.len()
    );
    println!(
        "{:<6} {:>9} {:>12} {:>12} {:>12}",
        "set", "samples", "p50", "p99", "max"
    );
    for (set, durations) in &mut samples {
        durations.sort_unstable();
        println!(
            "{set:<6} {:>9} {:>12?} {:>12?} {:>12?}",
            durations.len(),
            percentile(durations, 50.0),
            percentile(durations, 99.0),
            durations.last().copied().unwrap_or_default()
        );
    }
}

/// Returns the nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let path = questions_path();
    let Ok(path) = path.canonicalize() else {
        println!(
            "skipped: no question file at `{}`; set WENSHU_BENCH_QUESTIONS to a JSON Lines file of evaluation cases",
            path.display()
        );
        return;
    };

    let warehouse_path = common::generate_demo_warehouse("understand_bench");
    let warehouse = Warehouse::open_read_only(&warehouse_path)
        .unwrap_or_else(|error| panic!("cannot open `{}`: {error}", warehouse_path.display()));
    let questions = read_questions(&path, &warehouse);
    let assistant = Assistant::open(&common::semantic_layer_dir(), &warehouse_path)
        .unwrap_or_else(|error| panic!("cannot open the assistant: {error}"));

    let compiled = questions
        .iter()
        .filter(|question| assistant.compile_question(&question.text).is_some())
        .count();
    println!(
        "{} questions from `{}`, {compiled} of them compiled to SQL",
        questions.len(),
        path.display()
    );
    let mut sets: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for question in &questions {
        sets.entry(question.set.clone())
            .or_default()
            .push(&question.text);
    }

    let mut criterion = Criterion::default().configure_from_args();
    bench_question_sets(&mut criterion, &assistant, &sets);
    criterion.final_summary();

    print_percentiles(&assistant, &questions);
}
