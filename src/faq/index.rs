//! One immutable tantivy index over a set of entries, and the search on it.
//!
//! Hits are ranked by tantivy's BM25, summed over the fields with each
//! field's boost. Whether the best hit is clearly the answer is judged apart
//! from that score (see [`judge`]), because BM25 scores of different
//! questions cannot be compared with one fixed threshold.

use std::collections::{HashMap, HashSet};

use tantivy::collector::TopDocs;
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, Searcher, TantivyDocument, Term};

use crate::assistant::FaqHit;
use crate::understanding::lexicon::normalize;

use super::FaqError;
use super::analysis::{self, GramTokenizer, WordTokenizer};
use super::entry::FaqEntry;

/// Field boosts. The question and its phrasings say what the entry answers,
/// keywords are hints, and the answer mentions much that it does not answer.
/// The gram field matches single characters and character pairs of the
/// question, phrasings and keywords; one shared character says little, so
/// it counts less than a keyword.
const QUESTION_BOOST: f32 = 3.0;
const PHRASINGS_BOOST: f32 = 3.0;
const KEYWORDS_BOOST: f32 = 2.0;
const ANSWER_BOOST: f32 = 0.5;
const GRAMS_BOOST: f32 = 1.0;

/// The confidence thresholds of [`judge`]: round values inside the range
/// that worked in tuning. Of 55 colloquial how-to questions, 53 found their
/// entry and were judged confident. One of the other two has two equally
/// likely entries, and one finds a neighbouring entry. All 45 how-to
/// questions written apart from those passed, and 6 of 67 metric questions.
// NOTE: tuned on one knowledge base of 70 entries. Word weights depend on
// the number of entries, so a much larger one may need other values.
const MIN_COVERAGE: f32 = 0.4;
const MIN_SCORE_MARGIN: f32 = 0.1;
const MIN_COVERAGE_MARGIN: f32 = 0.25;

/// Single characters (钱, 存, 卡) weigh half as much as longer words in the
/// coverage, because many are light verbs or parts of a longer word.
const SINGLE_CHARACTER_WEIGHT: f32 = 0.5;

/// Query terms found in more than this share of the entries are left out,
/// because they add little to the BM25 score but cost the most time: their
/// posting lists are the longest. On the generated knowledge base of 10,000
/// entries in `benches/faq.rs` this cut the median search from about 1.9 ms
/// to 0.5 ms (2-core AMD EPYC virtual machine).
const MAX_QUERY_TERM_SHARE: f64 = 0.1;
/// In a small knowledge base a topic word passes that share (转账 is in the
/// question, phrasings or keywords of 16 of the 70 entries), so only terms
/// in more entries than this are ever left out.
const MIN_LEFT_OUT_ENTRY_COUNT: u64 = 50;

/// The memory budget of the one indexing thread: tantivy's minimum.
const WRITER_MEMORY_BYTES: usize = 15_000_000;

/// The entries found for a question and whether the best one is clearly
/// the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// Best first; only entries that share at least one term with the question.
    pub hits: Vec<FaqHit>,
    /// False means "not sure": the best hit covers too little of the
    /// question or is not clearly ahead of the second, so the hits are
    /// suggestions rather than the answer.
    pub confident: bool,
    /// The weighted share of the question found in the best entry's
    /// question, phrasings or keywords, from 0 to 1.
    pub coverage: f32,
    /// The lead of the best score over the second, as a share of the best
    /// score: 1 without a second hit, 0 on a tie.
    pub margin: f32,
    /// The best entry's coverage minus the second entry's.
    pub coverage_margin: f32,
}

impl SearchOutcome {
    fn empty() -> SearchOutcome {
        SearchOutcome {
            hits: Vec::new(),
            confident: false,
            coverage: 0.0,
            margin: 0.0,
            coverage_margin: 0.0,
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

/// The terms of an entry's question, phrasings and keywords, for coverage.
struct EntryTerms {
    words: HashSet<String>,
    grams: HashSet<String>,
    /// The normalized texts joined by line breaks, to find a word that
    /// jieba split differently in the entry.
    text: String,
}

/// The terms of a question.
struct QuestionTerms {
    /// Words and grams of the whole question, for the query.
    words: Vec<String>,
    grams: Vec<String>,
    /// Content words, and the character pairs that touch them, for the
    /// coverage.
    content_words: Vec<String>,
    content_pairs: Vec<String>,
}

/// An index over a fixed set of entries; a changed folder gets a new one.
pub(super) struct EntryIndex {
    entries: Vec<FaqEntry>,
    entry_terms: Vec<EntryTerms>,
    /// Per word: the number of entries whose `EntryTerms::words` contain it.
    word_entry_counts: HashMap<String, u32>,
    /// Per gram: the number of entries whose `EntryTerms::grams` contain it.
    gram_entry_counts: HashMap<String, u32>,
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

        let entry_terms: Vec<EntryTerms> = entries.iter().map(entry_terms).collect();
        let mut word_entry_counts: HashMap<String, u32> = HashMap::new();
        let mut gram_entry_counts: HashMap<String, u32> = HashMap::new();
        for terms in &entry_terms {
            for word in &terms.words {
                *word_entry_counts.entry(word.clone()).or_default() += 1;
            }
            for gram in &terms.grams {
                *gram_entry_counts.entry(gram.clone()).or_default() += 1;
            }
        }

        Ok(EntryIndex {
            entries,
            entry_terms,
            word_entry_counts,
            gram_entry_counts,
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
        let terms = QuestionTerms {
            words: distinct(analysis::words(question)),
            grams: distinct(analysis::grams(question)),
            content_words: analysis::content_words(question),
            content_pairs: distinct(analysis::content_pairs(question)),
        };
        if terms.grams.is_empty() || limit == 0 {
            return SearchOutcome::empty();
        }

        // At least two hits, so that the best can be compared with the second.
        let collector = TopDocs::with_limit(limit.max(2)).order_by_score();
        let top = match self.searcher.search(&self.query(&terms), &collector) {
            Ok(top) => top,
            Err(error) => {
                tracing::error!(%error, "FAQ search failed");
                return SearchOutcome::empty();
            }
        };
        let ranked: Vec<(f32, usize)> = top
            .into_iter()
            .filter_map(|(score, address)| {
                let column = self.ordinals.get(address.segment_ord as usize)?;
                let ordinal = usize::try_from(column.first(address.doc_id)?).ok()?;
                Some((score, ordinal))
            })
            .collect();
        let Some(&(best_score, best)) = ranked.first() else {
            return SearchOutcome::empty();
        };

        let second = ranked.get(1).copied();
        let second_score = second.map_or(0.0, |(score, _)| score);
        let margin = if best_score > 0.0 {
            (best_score - second_score) / best_score
        } else {
            0.0
        };
        let coverage = self.coverage(&terms, best);
        let second_coverage = second.map_or(0.0, |(_, ordinal)| self.coverage(&terms, ordinal));
        let coverage_margin = coverage - second_coverage;

        let hits = ranked
            .iter()
            .take(limit)
            .map(|&(score, ordinal)| {
                let entry = &self.entries[ordinal];
                FaqHit {
                    id: entry.id.clone(),
                    category: entry.category.clone(),
                    question: entry.question.clone(),
                    answer: entry.answer.clone(),
                    score,
                }
            })
            .collect();
        SearchOutcome {
            hits,
            confident: judge(coverage, margin, coverage_margin),
            coverage,
            margin,
            coverage_margin,
        }
    }

    /// Builds the query: every word in every word field and every gram in
    /// the gram field, each optional, so that an entry scores by how many
    /// of them it matches and how rare they are. Terms that too many
    /// entries contain are left out (see [`MAX_QUERY_TERM_SHARE`]).
    fn query(&self, terms: &QuestionTerms) -> BooleanQuery {
        let word_fields = [
            (self.fields.question, QUESTION_BOOST),
            (self.fields.phrasings, PHRASINGS_BOOST),
            (self.fields.keywords, KEYWORDS_BOOST),
            (self.fields.answer, ANSWER_BOOST),
        ];
        let grams = terms
            .grams
            .iter()
            .map(|gram| (self.fields.grams, gram, GRAMS_BOOST));
        let words = terms
            .words
            .iter()
            .flat_map(|word| word_fields.map(|(field, boost)| (field, word, boost)));

        let too_common = ((self.searcher.num_docs() as f64 * MAX_QUERY_TERM_SHARE) as u64)
            .max(MIN_LEFT_OUT_ENTRY_COUNT);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, text, boost) in words.chain(grams) {
            let term = Term::from_field_text(field, text);
            if self.searcher.doc_freq(&term).unwrap_or(0) > too_common {
                continue;
            }
            let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(query), boost)),
            ));
        }
        BooleanQuery::new(clauses)
    }

    /// Measures how much of the question's content the entry at `ordinal`
    /// contains, in two ways, and keeps the larger:
    ///
    /// - by content words, which misses a misspelt word;
    /// - by the character pairs that touch a content word, which still
    ///   finds most of a misspelt word and of a phrasing that jieba splits
    ///   differently, at the price of pairs that straddle two words.
    ///
    /// A question without content words (有多少) has coverage 0.
    fn coverage(&self, terms: &QuestionTerms, ordinal: usize) -> f32 {
        let word_coverage = self.word_coverage(&terms.content_words, ordinal);
        let pair_coverage = self.pair_coverage(&terms.content_pairs, ordinal);
        word_coverage.max(pair_coverage)
    }

    /// The weighted share of the question's content words that the entry
    /// contains as a word or within its text. Each word weighs by how rare
    /// it is among the entries, so that 惠农贷 counts more than 银行. A word
    /// that no entry contains weighs most: a question about 日均 or 支行
    /// asks for something the knowledge base does not cover.
    fn word_coverage(&self, content_words: &[String], ordinal: usize) -> f32 {
        let entry = &self.entry_terms[ordinal];
        let mut total = 0.0;
        let mut found = 0.0;
        for word in content_words {
            let mut weight = self.weight(self.word_entry_counts.get(word).copied());
            if word.chars().count() == 1 && !word.is_ascii() {
                weight *= SINGLE_CHARACTER_WEIGHT;
            }
            total += weight;
            if entry.words.contains(word) || entry.text.contains(word.as_str()) {
                found += weight;
            }
        }
        if total > 0.0 { found / total } else { 0.0 }
    }

    /// Returns the weighted share of the question's content pairs that the
    /// entry contains, weighted as in [`EntryIndex::word_coverage`].
    fn pair_coverage(&self, pairs: &[String], ordinal: usize) -> f32 {
        let entry = &self.entry_terms[ordinal];
        let mut total = 0.0;
        let mut found = 0.0;
        for gram in pairs {
            // A pair that no entry contains weighs like one in a single
            // entry: many such pairs straddle two words and mean nothing.
            let count = self
                .gram_entry_counts
                .get(gram)
                .copied()
                .unwrap_or(0)
                .max(1);
            let weight = self.weight(Some(count));
            total += weight;
            if entry.grams.contains(gram) {
                found += weight;
            }
        }
        if total > 0.0 { found / total } else { 0.0 }
    }

    /// Returns the inverse entry frequency of a term found in `count`
    /// entries (None for none), as in BM25.
    fn weight(&self, count: Option<u32>) -> f32 {
        let entries = self.entries.len() as f32;
        let count = count.unwrap_or(0) as f32;
        ((entries + 1.0) / (count + 0.5)).ln()
    }
}

/// Decides whether the best hit is clearly the answer: it must contain
/// enough of the question, and be ahead of the second hit by score or by
/// covering clearly more of the question.
fn judge(coverage: f32, margin: f32, coverage_margin: f32) -> bool {
    let clearly_ahead = margin >= MIN_SCORE_MARGIN || coverage_margin >= MIN_COVERAGE_MARGIN;
    coverage >= MIN_COVERAGE && clearly_ahead
}

fn distinct(items: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|item| seen.insert(item.clone()))
        .collect()
}

/// Returns the texts that name what an entry answers: question, phrasings
/// and keywords.
fn matching_texts(entry: &FaqEntry) -> impl Iterator<Item = &str> {
    std::iter::once(entry.question.as_str())
        .chain(entry.phrasings.iter().map(String::as_str))
        .chain(entry.keywords.iter().map(String::as_str))
}

fn entry_terms(entry: &FaqEntry) -> EntryTerms {
    EntryTerms {
        words: matching_texts(entry).flat_map(analysis::words).collect(),
        grams: matching_texts(entry).flat_map(analysis::grams).collect(),
        text: matching_texts(entry)
            .map(normalize)
            .collect::<Vec<_>>()
            .join("\n"),
    }
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
