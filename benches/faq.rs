//! FAQ search latency and index build time, on the real `knowledge_base/`
//! and on generated knowledge bases of 10,000 and 100,000 entries.
//!
//! The generated entries mix the words of the real ones at random, with a
//! fixed seed, so that their term statistics resemble the real folder's.
//! The real entries are among them. The questions searched are the first
//! phrasing of every real entry, so each should find its own entry first.
//!
//! Before handing over to criterion, each knowledge base prints its build
//! time, the 50th and 99th percentiles of single searches timed one by one,
//! and how many questions found their own entry first. Run with
//! `cargo bench --bench faq`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wenshu::faq::{FaqEntry, FaqIndex, load_dir};

/// Sizes of the generated knowledge bases.
const GENERATED_SIZES: [usize; 2] = [10_000, 100_000];
const SEED: u64 = 42;
/// Searches timed one by one for the percentiles.
const TIMED_SEARCHES: usize = 2_000;

fn real_entries() -> Vec<FaqEntry> {
    let folder = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge_base"));
    let loaded = load_dir(folder).unwrap_or_else(|error| panic!("{error}"));
    assert!(
        !loaded.entries.is_empty(),
        "knowledge_base/ has no valid entry:\n{}",
        loaded.diagnostics
    );
    loaded.entries
}

/// The first phrasing of every entry, with the entry's id.
fn questions(entries: &[FaqEntry]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|entry| {
            let question = entry.phrasings.first().unwrap_or(&entry.question);
            (question.clone(), entry.id.clone())
        })
        .collect()
}

/// A xorshift generator: enough to pick words, and no extra dependency.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Cuts the texts into pieces of two characters, as stand-ins for words.
fn pieces(texts: impl Iterator<Item = String>) -> Vec<String> {
    let mut pieces = Vec::new();
    for text in texts {
        let characters: Vec<char> = text
            .chars()
            .filter(|character| character.is_alphanumeric())
            .collect();
        pieces.extend(
            characters
                .chunks(2)
                .map(|chunk| chunk.iter().collect::<String>()),
        );
    }
    pieces
}

fn sentence(random: &mut Random, words: &[String], length: usize) -> String {
    (0..length)
        .map(|_| words[random.below(words.len())].as_str())
        .collect()
}

/// The real entries plus generated ones, `count` in all.
fn generated_entries(real: &[FaqEntry], count: usize) -> Vec<FaqEntry> {
    let question_words = pieces(real.iter().flat_map(|entry| {
        std::iter::once(entry.question.clone()).chain(entry.phrasings.iter().cloned())
    }));
    let answer_words = pieces(real.iter().map(|entry| entry.answer.clone()));
    let keywords: Vec<String> = real
        .iter()
        .flat_map(|entry| entry.keywords.iter().cloned())
        .collect();

    let mut random = Random(SEED);
    let mut entries = real.to_vec();
    for number in entries.len()..count {
        let source = &real[number % real.len()];
        entries.push(FaqEntry {
            id: format!("generated-{number}"),
            category: source.category.clone(),
            question: sentence(&mut random, &question_words, 5),
            phrasings: (0..8)
                .map(|_| sentence(&mut random, &question_words, 4))
                .collect(),
            keywords: (0..8)
                .map(|_| keywords[random.below(keywords.len())].clone())
                .collect(),
            answer: sentence(&mut random, &answer_words, 120),
        });
    }
    entries
}

/// Builds the index, prints its build time, its search percentiles and how
/// many questions find their own entry first, and returns it.
fn build_and_time(name: &str, entries: Vec<FaqEntry>, questions: &[(String, String)]) -> FaqIndex {
    let count = entries.len();
    let started = Instant::now();
    let index = FaqIndex::from_entries(entries).unwrap_or_else(|error| panic!("{error}"));
    let build_time = started.elapsed();

    let mut times: Vec<Duration> = Vec::with_capacity(TIMED_SEARCHES);
    for number in 0..TIMED_SEARCHES {
        let (question, _) = &questions[number % questions.len()];
        let started = Instant::now();
        black_box(index.search(black_box(question), 4));
        times.push(started.elapsed());
    }
    times.sort();
    let percentile = |share: f64| times[((times.len() - 1) as f64 * share) as usize];

    let own_entry_first = questions
        .iter()
        .filter(|(question, id)| {
            let outcome = index.search(question, 4);
            outcome.hits.first().is_some_and(|hit| hit.id == *id)
        })
        .count();
    println!(
        "{name}: {count} entries, index built in {:.1} ms; search p50 {:.3} ms, p99 {:.3} ms \
         ({TIMED_SEARCHES} searches); own entry first for {own_entry_first} of {} questions",
        build_time.as_secs_f64() * 1e3,
        percentile(0.5).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        questions.len(),
    );
    index
}

fn search(criterion: &mut Criterion) {
    let real = real_entries();
    let questions = questions(&real);
    let mut indexes = Vec::new();
    for size in GENERATED_SIZES {
        let generated = generated_entries(&real, size);
        let name = format!("generated_{size}");
        let index = build_and_time(
            &format!("generated knowledge base of {size}"),
            generated,
            &questions,
        );
        indexes.push((name, index));
    }
    let real_index = build_and_time("real knowledge base", real, &questions);
    indexes.insert(0, ("real".to_owned(), real_index));

    let mut group = criterion.benchmark_group("faq_search");
    for (name, index) in &indexes {
        let mut next = 0;
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                next = (next + 1) % questions.len();
                index.search(black_box(&questions[next].0), 4)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
