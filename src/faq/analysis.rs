//! The two ways the FAQ index splits text into terms, used alike on the
//! entries and on the question.
//!
//! - Words: jieba's search mode (手机银行 yields 手机, 银行 and 手机银行),
//!   which also keeps English words whole. Matches on words score highest.
//! - Grams: each Chinese character and each pair of neighbouring ones
//!   (an English word counts as one character). They match typos and
//!   colloquial forms that share no whole word with an entry, such as
//!   等录 for 登录 or 刷脸 against 人脸识别 in an entry's keywords.
//!
//! Both first apply [`normalize`]: full-width forms become ASCII and ASCII
//! is lowercased. Tokens without a letter or digit (spaces, punctuation)
//! are dropped.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy_jieba::JiebaTokenizer;

use crate::understanding::lexicon::normalize;

/// The tokenizer name of the word fields in the index.
pub(super) const WORDS: &str = "faq_words";
/// The tokenizer name of the gram field in the index.
pub(super) const GRAMS: &str = "faq_grams";

/// Splits `text` into words; a word may repeat.
pub(super) fn words(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    let mut jieba = JiebaTokenizer::new();
    let mut stream = jieba.token_stream(&normalized);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        if token.text.chars().any(char::is_alphanumeric) {
            words.push(token.text.clone());
        }
    }
    words
}

/// Splits `text` into words without overlaps (jieba's default mode), for
/// judging how much of a question an entry covers.
pub(super) fn segments(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    let mut jieba = JiebaTokenizer::with_search_mode(false);
    let mut stream = jieba.token_stream(&normalized);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        if token.text.chars().any(char::is_alphanumeric) {
            words.push(token.text.clone());
        }
    }
    words
}

/// Splits `text` into single characters and pairs of neighbouring
/// characters, where an ASCII word counts as one character; a gram may repeat.
pub(super) fn grams(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    let mut grams = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for unit in units(&normalized) {
        match unit {
            Some(unit) => run.push(unit),
            None => {
                push_run_grams(&run, &mut grams);
                run.clear();
            }
        }
    }
    push_run_grams(&run, &mut grams);
    grams
}

fn push_run_grams(run: &[&str], grams: &mut Vec<String>) {
    for unit in run {
        grams.push((*unit).to_owned());
    }
    for pair in run.windows(2) {
        grams.push(format!("{}{}", pair[0], pair[1]));
    }
}

/// Splits normalized text into units: a run of ASCII letters and digits,
/// or one other letter (a Chinese character). `None` marks a separator
/// (space or punctuation), which no pair crosses.
fn units(text: &str) -> impl Iterator<Item = Option<&str>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let length = if first.is_ascii_alphanumeric() {
            rest.find(|character: char| !character.is_ascii_alphanumeric())
                .unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        let (unit, tail) = rest.split_at(length);
        rest = tail;
        Some(first.is_alphanumeric().then_some(unit))
    })
}

/// A tantivy tokenizer over [`words`].
#[derive(Clone, Default)]
pub(super) struct WordTokenizer;

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = OwnedTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> OwnedTokenStream {
        OwnedTokenStream::new(words(text))
    }
}

/// A tantivy tokenizer over [`grams`].
#[derive(Clone, Default)]
pub(super) struct GramTokenizer;

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = OwnedTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> OwnedTokenStream {
        OwnedTokenStream::new(grams(text))
    }
}

/// Tokens computed in advance. Offsets are not kept because the index
/// stores no positions: no query here is a phrase query and nothing is
/// highlighted.
pub(super) struct OwnedTokenStream {
    texts: std::vec::IntoIter<String>,
    token: Token,
}

impl OwnedTokenStream {
    fn new(texts: Vec<String>) -> OwnedTokenStream {
        OwnedTokenStream {
            texts: texts.into_iter(),
            token: Token::default(),
        }
    }
}

impl TokenStream for OwnedTokenStream {
    fn advance(&mut self) -> bool {
        let Some(text) = self.texts.next() else {
            return false;
        };
        self.token.text = text;
        self.token.position = self.token.position.wrapping_add(1);
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_english_and_drop_punctuation() {
        let split = words("手机银行APP登不上？");
        assert!(split.contains(&"手机银行".to_owned()), "{split:?}");
        assert!(split.contains(&"手机".to_owned()), "{split:?}");
        assert!(split.contains(&"app".to_owned()), "{split:?}");
        assert!(
            !split.iter().any(|word| word == "?" || word == "？"),
            "{split:?}"
        );
    }

    #[test]
    fn grams_pair_neighbours_within_runs() {
        assert_eq!(
            grams("U盾，丢了"),
            vec!["u", "盾", "u盾", "丢", "了", "丢了"]
        );
        assert_eq!(grams("ＵＫｅｙ 证书"), vec!["ukey", "证", "书", "证书"]);
    }
}
