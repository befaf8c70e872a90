//! The words a question can use, built from the semantic layer and from
//! the dimension values stored in the warehouse.
//!
//! Nothing here knows about deposits: a metric, synonym or value added to
//! the YAML is found after the lexicon is rebuilt.

use std::collections::HashMap;

use crate::compiler::relation_sql_in;
use crate::semantic::{DimensionKind, EntityKind, SemanticLayer};
use crate::warehouse::{Value, Warehouse, WarehouseError};

/// What a matched word stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Metric(String),
    /// A dimension, used as a breakdown (各支行, 按区县, by branch).
    Dimension(String),
    /// A stored value of a dimension, used as a filter (个人, 梅江支行).
    Value {
        dimension: String,
        value: Value,
    },
}

/// One word of the lexicon and what it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub target: Target,
    /// Synonyms rank above stored values that are spelt the same, because
    /// analysts write them to settle such clashes.
    pub priority: u8,
}

/// A span of the question matched to lexicon entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Byte range in the normalised question.
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub entries: Vec<Entry>,
}

/// A dimension's group-by name and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionInfo {
    pub item: String,
    pub label: String,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    words: HashMap<String, Vec<Entry>>,
    /// The word the rules read for a value that is not a word itself (涉农
    /// for `true` of `customer__is_rural`), keyed by item and value.
    value_words: HashMap<(String, String), String>,
    longest: usize,
    pub dimensions: Vec<DimensionInfo>,
}

/// At most this many distinct values of one dimension enter the lexicon;
/// a dimension with more (account numbers) is a breakdown, not a filter.
const MAX_VALUES: usize = 2_000;

impl Lexicon {
    /// Builds the lexicon; reads each categorical dimension's values.
    pub fn build(
        layer: &SemanticLayer,
        warehouse: &dyn Warehouse,
    ) -> Result<Lexicon, WarehouseError> {
        let mut lexicon = Lexicon::default();
        for metric in &layer.metrics {
            let target = Target::Metric(metric.name.clone());
            lexicon.add(&metric.name.replace('_', " "), target.clone(), 1);
            if let Some(label) = &metric.label {
                lexicon.add(label, target.clone(), 2);
            }
            for synonym in &metric.synonyms {
                lexicon.add(synonym, target.clone(), 2);
            }
        }

        // Dimensions are reached through the models where an entity is the
        // primary key: `branch__branch_name` lives in the branch model.
        for model in &layer.semantic_models {
            let Some(entity) = model
                .entities
                .iter()
                .find(|entity| entity.kind == EntityKind::Primary && model.has_key_column())
            else {
                continue;
            };
            for dimension in &model.dimensions {
                if dimension.kind != DimensionKind::Categorical {
                    continue;
                }
                let item = format!("{}__{}", entity.name, dimension.name);
                let label = dimension
                    .label
                    .clone()
                    .unwrap_or_else(|| dimension.name.clone());
                let target = Target::Dimension(item.clone());
                lexicon.add(&label, target.clone(), 2);
                for synonym in &dimension.synonyms {
                    lexicon.add(synonym, target.clone(), 2);
                }

                let relation = relation_sql_in(&model.relation, warehouse.engine().dialect());
                let sql = format!(
                    "SELECT DISTINCT {expr} FROM {relation} WHERE {expr} IS NOT NULL ORDER BY 1 LIMIT {}",
                    MAX_VALUES + 1,
                    expr = dimension.expr
                );
                let values: Vec<Value> = warehouse
                    .query(&sql)?
                    .rows
                    .into_iter()
                    .filter_map(|row| row.into_iter().next())
                    .collect();
                let filterable = values.len() <= MAX_VALUES;
                if filterable {
                    for value in &values {
                        // Plain numbers and booleans are too ambiguous to match as words.
                        if let Value::Text(text) = value {
                            let target = Target::Value {
                                dimension: item.clone(),
                                value: value.clone(),
                            };
                            lexicon.add(text, target, 1);
                        }
                    }
                    for (stored, synonyms) in &dimension.value_synonyms {
                        let Some(value) = values.iter().find(|value| value.to_string() == *stored)
                        else {
                            continue;
                        };
                        for synonym in synonyms {
                            let target = Target::Value {
                                dimension: item.clone(),
                                value: value.clone(),
                            };
                            lexicon.add(synonym, target, 3);
                        }
                        if let Some(first) = synonyms.first() {
                            lexicon
                                .value_words
                                .entry((item.clone(), stored.clone()))
                                .or_insert_with(|| first.clone());
                        }
                    }
                }
                lexicon.dimensions.push(DimensionInfo {
                    item,
                    label,
                    values: if filterable { values } else { Vec::new() },
                });
            }
        }
        Ok(lexicon)
    }

    fn add(&mut self, word: &str, target: Target, priority: u8) {
        let key = normalize(word);
        if key.is_empty() {
            return;
        }
        self.longest = self.longest.max(key.chars().count());
        let entries = self.words.entry(key).or_default();
        if !entries.iter().any(|entry| entry.target == target) {
            entries.push(Entry { target, priority });
        }
    }

    /// Finds the longest lexicon words in `text`, left to right, without
    /// overlaps. `text` must already be normalised.
    pub fn find(&self, text: &str) -> Vec<Match> {
        let characters: Vec<(usize, char)> = text.char_indices().collect();
        let mut matches = Vec::new();
        let mut index = 0;
        while index < characters.len() {
            let mut found = self.longest_at(text, &characters, index);
            // 各 and 每 mark a breakdown and rarely start a term: in 各行业
            // the word is 行业, not 各行 followed by a stray 业.
            if let Some((length, ..)) = found {
                let marker = matches!(characters[index].1, '各' | '每');
                let next = self.longest_at(text, &characters, index + 1);
                if marker && next.is_some_and(|(next_length, ..)| next_length + 1 > length) {
                    found = None;
                }
            }
            match found {
                Some((length, start, end, entries)) => {
                    let best = entries
                        .iter()
                        .map(|entry| entry.priority)
                        .max()
                        .unwrap_or(0);
                    matches.push(Match {
                        start,
                        end,
                        text: text[start..end].to_owned(),
                        entries: entries
                            .iter()
                            .filter(|entry| entry.priority == best)
                            .cloned()
                            .collect(),
                    });
                    index += length;
                }
                None => index += 1,
            }
        }
        matches
    }

    /// Finds the longest word starting at character `index` and returns its
    /// length in characters and its byte range.
    fn longest_at<'w>(
        &'w self,
        text: &str,
        characters: &[(usize, char)],
        index: usize,
    ) -> Option<(usize, usize, usize, &'w Vec<Entry>)> {
        if index >= characters.len() {
            return None;
        }
        let longest = self.longest.min(characters.len() - index);
        for length in (1..=longest).rev() {
            let start = characters[index].0;
            let end = characters
                .get(index + length)
                .map_or(text.len(), |(offset, _)| *offset);
            let Some(entries) = self.words.get(&text[start..end]) else {
                continue;
            };
            if is_word_boundary(text, start, end) {
                return Some((length, start, end, entries));
            }
            // An English plural (time deposits) matches its singular.
            let plural = text[end..].starts_with('s') && text[start..end].is_ascii();
            if plural && is_word_boundary(text, start, end + 1) {
                return Some((length + 1, start, end + 1, entries));
            }
        }
        None
    }

    /// Finds long words (four characters or more) written with one typo
    /// (a wrong, missing, extra or swapped character) in the parts of
    /// `text` that `matches` do not cover.
    pub fn find_with_typos(&self, text: &str, matches: &[Match]) -> Vec<Match> {
        let characters: Vec<(usize, char)> = text.char_indices().collect();
        // Short exact words may be pieces of a misspelt long one (存款 in
        // 存款偏离渡), so only long exact words are left alone.
        let covered = |offset: usize| {
            matches.iter().any(|found| {
                found.start <= offset && offset < found.end && found.text.chars().count() >= 4
            })
        };
        let mut found = Vec::new();
        let mut index = 0;
        while index < characters.len() {
            if covered(characters[index].0) || !is_cjk(characters[index].1) {
                index += 1;
                continue;
            }
            let run_start = index;
            while index < characters.len()
                && !covered(characters[index].0)
                && is_cjk(characters[index].1)
            {
                index += 1;
            }
            let run: Vec<char> = characters[run_start..index]
                .iter()
                .map(|(_, character)| *character)
                .collect();
            if run.len() < 3 {
                continue;
            }
            if let Some((offset, length, word)) = self.closest_long_word(&run) {
                let start = characters[run_start + offset].0;
                let end = characters
                    .get(run_start + offset + length)
                    .map_or(text.len(), |(byte, _)| *byte);
                if let Some(entries) = self.words.get(&word) {
                    found.push(Match {
                        start,
                        end,
                        text: text[start..end].to_owned(),
                        entries: entries.clone(),
                    });
                }
            }
        }
        found
    }

    /// The long word within one edit of some window of `run`, preferring
    /// longer words; returns the window's offset and length and the word.
    fn closest_long_word(&self, run: &[char]) -> Option<(usize, usize, String)> {
        let mut best: Option<(usize, usize, String)> = None;
        for (word, entries) in &self.words {
            // Values (branch names, products) are short and alike, so a typo
            // match there is more often wrong than right.
            if entries
                .iter()
                .all(|entry| matches!(entry.target, Target::Value { .. }))
            {
                continue;
            }
            let word_characters: Vec<char> = word.chars().collect();
            let length = word_characters.len();
            if length < 4
                || length > run.len() + 1
                || !word_characters.iter().all(|character| is_cjk(*character))
            {
                continue;
            }
            // Cheap filter: a word one edit away shares all but one character.
            let shared = word_characters
                .iter()
                .filter(|character| run.contains(character))
                .count();
            if shared + 1 < length {
                continue;
            }
            for window in [length, length - 1, length + 1] {
                if window == 0 || window > run.len() {
                    continue;
                }
                for offset in 0..=run.len() - window {
                    let candidate: String = run[offset..offset + window].iter().collect();
                    // A particle in place of a character (前五的支行) is grammar, not a typo.
                    let particle = candidate.chars().any(|character| {
                        PARTICLES.contains(&character) && !word.contains(character)
                    });
                    if !particle
                        && strsim::damerau_levenshtein(&candidate, word) <= 1
                        && best
                            .as_ref()
                            .is_none_or(|(_, _, known)| known.chars().count() < length)
                    {
                        best = Some((offset, window, word.clone()));
                    }
                }
            }
        }
        best
    }

    /// True when `part` appears, unchanged, inside the lexicon word that the
    /// corrected match `whole` stands for.
    pub fn is_part_of_word(&self, part: &str, whole: &Match) -> bool {
        self.words
            .iter()
            .filter(|(_, entries)| *entries == &whole.entries)
            .any(|(word, _)| word.contains(part))
    }

    /// The number of distinct values of a dimension item in the lexicon.
    pub fn value_count(&self, item: &str) -> usize {
        self.dimensions
            .iter()
            .find(|dimension| dimension.item == item)
            .map_or(usize::MAX, |dimension| dimension.values.len())
    }

    /// Returns the words of the lexicon (metric names, labels and synonyms,
    /// dimension labels and values) that contain `word`.
    pub fn words_containing<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a str> {
        self.words
            .keys()
            .filter(move |known| known.contains(word))
            .map(String::as_str)
    }

    /// Returns the dimension item of the longest dimension word that `text`
    /// starts with: 客户经理 in the metric synonym 客户经理存款.
    pub fn dimension_at_start(&self, text: &str) -> Option<&str> {
        text.char_indices()
            .map(|(offset, character)| offset + character.len_utf8())
            .rev()
            .find_map(|end| {
                self.words
                    .get(&text[..end])?
                    .iter()
                    .find_map(|entry| match &entry.target {
                        Target::Dimension(item) => Some(item.as_str()),
                        _ => None,
                    })
            })
    }

    /// Returns the word the rules read as `value` of dimension `item`: the
    /// value itself when it is text, or else its first value synonym. None
    /// for a value no word stands for (a number or boolean without synonyms).
    pub fn value_word(&self, item: &str, value: &Value) -> Option<String> {
        if let Value::Text(text) = value {
            return Some(text.clone());
        }
        self.value_words
            .get(&(item.to_owned(), value.to_string()))
            .cloned()
    }

    /// The label of a dimension item.
    pub fn dimension_label(&self, item: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|dimension| dimension.item == item)
            .map(|dimension| dimension.label.as_str())
    }
}

/// Grammatical particles that typos never produce.
const PARTICLES: [char; 8] = ['的', '了', '是', '呢', '吗', '和', '在', '有'];

fn is_cjk(character: char) -> bool {
    ('\u{3400}'..='\u{9FFF}').contains(&character)
}

/// An ASCII word must not start or end inside another ASCII word
/// (`IT` must not match inside `with`); CJK text has no such boundaries.
fn is_word_boundary(text: &str, start: usize, end: usize) -> bool {
    let inner_first = text[start..end].chars().next();
    let inner_last = text[start..end].chars().last();
    let before = text[..start].chars().last();
    let after = text[end..].chars().next();
    let joins = |outer: Option<char>, inner: Option<char>| matches!((outer, inner), (Some(outer), Some(inner)) if outer.is_ascii_alphanumeric() && inner.is_ascii_alphanumeric());
    !joins(before, inner_first) && !joins(after, inner_last)
}

/// Lowercases ASCII, turns full-width forms into ASCII and collapses spaces.
pub fn normalize(text: &str) -> String {
    let mut normalized = String::with_capacity(text.len());
    let mut last_space = true;
    for character in text.chars() {
        let character = match character {
            '\u{FF01}'..='\u{FF5E}' => {
                char::from_u32(character as u32 - 0xFEE0).unwrap_or(character)
            }
            '\u{3000}' => ' ',
            other => other,
        };
        if character.is_whitespace() {
            if !last_space {
                normalized.push(' ');
            }
            last_space = true;
            continue;
        }
        normalized.push(character.to_ascii_lowercase());
        last_space = false;
    }
    normalized.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon(words: &[(&str, Target, u8)]) -> Lexicon {
        let mut lexicon = Lexicon::default();
        for (word, target, priority) in words {
            lexicon.add(word, target.clone(), *priority);
        }
        lexicon
    }

    #[test]
    fn longest_match_wins() {
        let lexicon = lexicon(&[
            ("存款", Target::Metric("balance".into()), 2),
            ("日均存款", Target::Metric("average".into()), 2),
        ]);
        let matches = lexicon.find("今年日均存款");
        assert_eq!(matches.len(), 1);
        assert_eq!(matches[0].text, "日均存款");
    }

    #[test]
    fn ascii_words_need_boundaries() {
        let lexicon = lexicon(&[("it", Target::Dimension("industry".into()), 2)]);
        assert!(lexicon.find("with").is_empty());
        assert_eq!(lexicon.find("it industry").len(), 1);
    }

    #[test]
    fn one_typo_in_a_long_word_is_tolerated() {
        let lexicon = lexicon(&[("存款偏离度", Target::Metric("deviation".into()), 2)]);
        let text = "十月存款偏离渡是多少";
        let exact = lexicon.find(text);
        assert!(exact.is_empty());
        let fuzzy = lexicon.find_with_typos(text, &exact);
        assert_eq!(fuzzy.len(), 1);
        assert_eq!(fuzzy[0].text, "存款偏离渡");
    }

    #[test]
    fn normalize_full_width_and_case() {
        assert_eq!(normalize("ＡＢＣ１２３  Deposit"), "abc123 deposit");
    }
}
