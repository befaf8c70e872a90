//! Time to understand a question and compile it to SQL, without running the
//! SQL: time parsing, interpretation against the lexicon, planning and
//! compilation, for every question of the evaluation sets.
//!
//! Each question goes through `Assistant::compile_question`, the same
//! reading, planning and compiling as the first turn of a conversation.
//! Follow-up turns are therefore timed as questions on their own. Questions
//! whose intent is not a metric (glossary, fallback, refusal) stop after
//! interpretation.
//!
//! The questions are read at bench time from the metric and FAQ evaluation
//! files beside the repository, or from the JSON Lines files listed in
//! `WENSHU_BENCH_QUESTIONS`. When there is none, the bench prints why and
//! measures nothing. The questions are grouped into sets by the letters that
//! start their case id: `d` (single questions), `c` (turns of
//! conversations), `k` (glossary, out-of-scope and refused questions) and
//! `f` (e-banking questions, which stop after interpretation too).
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
use std::time::{Duration, Instant};

use criterion::Criterion;
use wenshu::assistant::Assistant;

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use support::{Question, percentile, questions_and_assistant};

/// Passes over all questions timed one by one for the percentiles.
const TIMED_ROUNDS: usize = 2_000;

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

fn main() {
    let Some((questions, assistant)) = questions_and_assistant("understand_bench") else {
        return;
    };
    let compiled = questions
        .iter()
        .filter(|question| assistant.compile_question(&question.text).is_some())
        .count();
    println!("{compiled} of them compile to SQL");
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
