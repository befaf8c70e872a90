//! One immutable tantivy index over a set of entries, and the search on it.
//!
//! Scores are BM25 (tantivy's) summed over the fields, each field weighted
//! by its boost. Whether the best hit is clearly the answer is judged apart
//! from the score, in [`judge`], because BM25 scores of different questions
//! cannot be compared with one fixed threshold.

use std::collections::{HashMap, HashSet};

use tantivy::collector::TopDocs;
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, Searcher, TantivyDocument, Term};

use crate::assistant::FaqHit;

use super::FaqError;
use super::analysis::{self, GramTokenizer, WordTokenizer};
use super::entry::FaqEntry;

/// Field boosts: how much a match in each field counts. The question and
/// its phrasings say what the entry answers, keywords are hints, and the
/// answer mentions many things it does not answer. The grams field matches
/// characters and character pairs of question, phrasings and keywords; it
/// is lower because one shared character says little.
const QUESTION_BOOST: f32 = 3.0;
const PHRASINGS_BOOST: f32 = 3.0;
const KEYWORDS_BOOST: f32 = 2.0;
const ANSWER_BOOST: f32 = 0.5;
const GRAMS_BOOST: f32 = 1.0;

/// The confidence thresholds, tuned on the development questions (see
/// [`judge`]).
const MIN_COVERAGE: f32 = 0.5;
const MIN_MARGIN: f32 = 0.1;

/// The memory budget of the one indexing thread; tantivy's minimum.
const WRITER_MEMORY_BYTES: usize = 15_000_000;

/// The entries found for a question and whether the best one is clearly
/// the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// Best first; only entries sharing at least one term with the question.
    pub hits: Vec<FaqHit>,
    /// True when the best hit covers enough of the question and is clearly
    /// ahead of the second; false means "not sure": offer the hits as
    /// suggestions instead of answering with the first.
    pub confident: bool,
    /// The weighted share of the question's character pairs found in the
    /// best entry's question, phrasings or keywords, from 0 to 1.
    pub coverage: f32,
    /// How far the best score is ahead of the second, as a share of the
    /// best: 1 when there is no second hit, 0 on a tie.
    pub margin: f32,
    pub word_coverage: f32,
}

impl SearchOutcome {
    fn empty() -> SearchOutcome {
        SearchOutcome {
            hits: Vec::new(),
            confident: false,
            coverage: 0.0,
            margin: 0.0,
            word_coverage: 0.0,
        }
    }
}

/// The fields of the index schema.
#[derive(Clone, Copy)]
struct Fields {
    ordinal: Field,
    question: Field,
    phrasings: Field,
    keywords: Field,
    answer: Field,
    grams: Field,
}

/// An index over a fixed set of entries; a changed folder gets a new one.
pub(super) struct EntryIndex {
    entries: Vec<FaqEntry>,
    /// Per entry: the grams of its question, phrasings and keywords.
    entry_grams: Vec<HashSet<String>>,
    /// Per gram: the number of entries whose `entry_grams` contain it.
    gram_entry_counts: HashMap<String, u32>,
    /// Per entry: the words of its question, phrasings and keywords.
    entry_words: Vec<HashSet<String>>,
    /// Per word: the number of entries whose `entry_words` contain it.
    word_entry_counts: HashMap<String, u32>,
    searcher: Searcher,
    /// Per segment: the column mapping a document to its entry's position.
    ordinals: Vec<Column<u64>>,
    fields: Fields,
}

impl EntryIndex {
    /// Indexes `entries` in memory.
    pub(super) fn build(entries: Vec<FaqEntry>) -> Result<EntryIndex, FaqError> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(analysis::WORDS, WordTokenizer);
        index.tokenizers().register(analysis::GRAMS, GramTokenizer);

        let mut writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        for (ordinal, entry) in entries.iter().enumerate() {
            writer.add_document(document(&fields, ordinal, entry))?;
        }
        writer.commit()?;
        let searcher = index.reader()?.searcher();
        let mut ordinals = Vec::new();
        for segment in searcher.segment_readers() {
            ordinals.push(segment.fast_fields().u64("ordinal")?);
        }

        let entry_grams: Vec<HashSet<String>> = entries
            .iter()
            .map(|entry| matching_texts(entry).flat_map(analysis::grams).collect())
            .collect();
        let mut gram_entry_counts: HashMap<String, u32> = HashMap::new();
        for grams in &entry_grams {
            for gram in grams {
                *gram_entry_counts.entry(gram.clone()).or_default() += 1;
            }
        }

        let entry_words: Vec<HashSet<String>> = entries
            .iter()
            .map(|entry| matching_texts(entry).flat_map(analysis::words).collect())
            .collect();
        let mut word_entry_counts: HashMap<String, u32> = HashMap::new();
        for words in &entry_words {
            for word in words {
                *word_entry_counts.entry(word.clone()).or_default() += 1;
            }
        }

        Ok(EntryIndex {
            entries,
            entry_grams,
            gram_entry_counts,
            entry_words,
            word_entry_counts,
            searcher,
            ordinals,
            fields,
        })
    }

    pub(super) fn entries(&self) -> &[FaqEntry] {
        &self.entries
    }

    /// Finds the best `limit` entries for `question` and judges the first.
    pub(super) fn search(&self, question: &str, limit: usize) -> SearchOutcome {
        let words = distinct(analysis::words(question));
        let grams = distinct(analysis::grams(question));
        if grams.is_empty() || limit == 0 {
            return SearchOutcome::empty();
        }

        let query = self.query(&words, &grams);
        // One more than asked, so that the margin to the second is known
        // even when only one hit is asked for.
        let collector = TopDocs::with_limit(limit.max(2)).order_by_score();
        let top = match self.searcher.search(&query, &collector) {
            Ok(top) => top,
            Err(error) => {
                tracing::error!(%error, "FAQ search failed");
                return SearchOutcome::empty();
            }
        };
        let ranked: Vec<(f32, usize)> = top
            .into_iter()
            .filter_map(|(score, address)| {
                let ordinal = self
                    .ordinals
                    .get(address.segment_ord as usize)?
                    .first(address.doc_id)?;
                Some((score, usize::try_from(ordinal).ok()?))
            })
            .collect();
        let Some(&(best_score, best)) = ranked.first() else {
            return SearchOutcome::empty();
        };

        let second_score = ranked.get(1).map_or(0.0, |(score, _)| *score);
        let margin = if best_score > 0.0 {
            (best_score - second_score) / best_score
        } else {
            0.0
        };
        let coverage = self.coverage(&grams, best);
        let word_coverage = self.word_coverage(&analysis::segments(question), best);
        let hits = ranked
            .iter()
            .take(limit)
            .map(|&(score, ordinal)| {
                let entry = &self.entries[ordinal];
                FaqHit {
                    id: entry.id.clone(),
                    question: entry.question.clone(),
                    answer: entry.answer.clone(),
                    score,
                }
            })
            .collect();
        SearchOutcome {
            hits,
            confident: judge(coverage, margin),
            coverage,
            margin,
            word_coverage,
        }
    }

    fn word_coverage(&self, segments: &[String], ordinal: usize) -> f32 {
        let entry_count = self.entries.len() as f32;
        let entry_words = &self.entry_words[ordinal];
        let mut total = 0.0;
        let mut found = 0.0;
        for word in segments {
            let count = self.word_entry_counts.get(word.as_str()).copied().unwrap_or(0).max(1) as f32;
            let mut weight = (1.0 + entry_count / (count + 1.0)).ln();
            if word.chars().count() == 1 && !word.is_ascii() {
                weight *= 0.5;
            }
            total += weight;
            if entry_words.contains(word.as_str()) {
                found += weight;
            }
        }
        if total > 0.0 { found / total } else { 0.0 }
    }

    /// Builds the query: every word in every word field and every gram in
    /// the gram field, each optional, so that an entry scores by how many
    /// of them it matches and how rare they are.
    fn query(&self, words: &[String], grams: &[String]) -> BooleanQuery {
        let word_fields = [
            (self.fields.question, QUESTION_BOOST),
            (self.fields.phrasings, PHRASINGS_BOOST),
            (self.fields.keywords, KEYWORDS_BOOST),
            (self.fields.answer, ANSWER_BOOST),
        ];
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in words {
            for (field, boost) in word_fields {
                clauses.push((Occur::Should, term_query(field, word, boost)));
            }
        }
        for gram in grams {
            clauses.push((
                Occur::Should,
                term_query(self.fields.grams, gram, GRAMS_BOOST),
            ));
        }
        BooleanQuery::new(clauses)
    }

    /// The share of the question's character pairs that the entry at
    /// `ordinal` contains, each pair weighted by its inverse entry
    /// frequency so that rare, telling pairs (惠农, 回单) count more than
    /// common ones (怎么). A question without pairs (one character, or one
    /// English word) is measured by its single characters instead.
    ///
    /// Pairs that no entry contains count with the weight of the rarest
    /// pair: the question asks about something the knowledge base does not
    /// mention (支行, 余额 in 各支行存款余额), which should lower the
    /// confidence in any entry.
    fn coverage(&self, grams: &[String], ordinal: usize) -> f32 {
        let pairs: Vec<&String> = grams.iter().filter(|gram| is_pair(gram)).collect();
        let measured: Vec<&String> = if pairs.is_empty() {
            grams.iter().collect()
        } else {
            pairs
        };

        let entry_count = self.entries.len() as f32;
        let entry_grams = &self.entry_grams[ordinal];
        let mut total = 0.0;
        let mut found = 0.0;
        for gram in measured {
            let count = self
                .gram_entry_counts
                .get(gram.as_str())
                .copied()
                .unwrap_or(0) as f32;
            let weight = (1.0 + entry_count / (count + 1.0)).ln();
            total += weight;
            if entry_grams.contains(gram.as_str()) {
                found += weight;
            }
        }
        if total > 0.0 { found / total } else { 0.0 }
    }
}

/// Decides whether the best hit is clearly the answer: it must contain
/// enough of the question ([`MIN_COVERAGE`]) and score clearly above the
/// second hit ([`MIN_MARGIN`]).
fn judge(coverage: f32, margin: f32) -> bool {
    coverage >= MIN_COVERAGE && margin >= MIN_MARGIN
}

/// True for a gram of two units (two characters, or a character and an
/// ASCII word).
fn is_pair(gram: &str) -> bool {
    let mut chars = gram.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if first.is_ascii_alphanumeric() {
        // An ASCII word alone, or followed by one character.
        return gram
            .chars()
            .any(|character| !character.is_ascii_alphanumeric());
    }
    chars.next().is_some()
}

fn term_query(field: Field, text: &str, boost: f32) -> Box<dyn Query> {
    let term = Term::from_field_text(field, text);
    let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
    Box::new(BoostQuery::new(Box::new(query), boost))
}

fn distinct(items: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|item| seen.insert(item.clone()))
        .collect()
}

/// The texts that say what an entry answers: question, phrasings, keywords.
fn matching_texts(entry: &FaqEntry) -> impl Iterator<Item = &str> {
    std::iter::once(entry.question.as_str())
        .chain(entry.phrasings.iter().map(String::as_str))
        .chain(entry.keywords.iter().map(String::as_str))
}

fn schema() -> (Schema, Fields) {
    let text = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
    };
    let mut builder = Schema::builder();
    let fields = Fields {
        ordinal: builder.add_u64_field("ordinal", FAST),
        question: builder.add_text_field("question", text(analysis::WORDS)),
        phrasings: builder.add_text_field("phrasings", text(analysis::WORDS)),
        keywords: builder.add_text_field("keywords", text(analysis::WORDS)),
        answer: builder.add_text_field("answer", text(analysis::WORDS)),
        grams: builder.add_text_field("grams", text(analysis::GRAMS)),
    };
    (builder.build(), fields)
}

fn document(fields: &Fields, ordinal: usize, entry: &FaqEntry) -> TantivyDocument {
    let mut document = TantivyDocument::default();
    document.add_u64(fields.ordinal, ordinal as u64);
    document.add_text(fields.question, &entry.question);
    for phrasing in &entry.phrasings {
        document.add_text(fields.phrasings, phrasing);
    }
    for keyword in &entry.keywords {
        document.add_text(fields.keywords, keyword);
    }
    document.add_text(fields.answer, &entry.answer);
    for text in matching_texts(entry) {
        document.add_text(fields.grams, text);
    }
    document
}
