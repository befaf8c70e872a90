//! How the FAQ index splits text into terms, alike for entries and questions.
//!
//! - Words: jieba's search mode, which adds the dictionary words inside a
//!   long word (身份证 also yields 身份). English words stay whole.
//! - Grams: each Chinese character and each pair of neighbouring ones, where
//!   an English word counts as one character. They match typos and colloquial
//!   forms that share no whole word with an entry, such as 等录 for 登录.
//! - Content words: jieba's part-of-speech tags drop pronouns, particles,
//!   prepositions, conjunctions and adverbs (你们, 吗, 怎么, 一直), and a
//!   short list drops 是, 有, 多少 and the like, which say nothing about the
//!   topic. The confidence judgement counts only these, and the pairs of
//!   characters that touch them.
//!
//! All three first apply [`normalize`], which turns full-width forms into
//! ASCII and lowercases ASCII. Tokens without a letter or digit (spaces,
//! punctuation) are dropped.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::understanding::lexicon::normalize;

/// The tokenizer name of the word fields in the index.
pub(super) const WORDS: &str = "faq_words";
/// The tokenizer name of the gram field in the index.
pub(super) const GRAMS: &str = "faq_grams";

/// One jieba instance with its built-in dictionary, shared by all indexes
/// because loading the dictionary takes about 25 MB and a noticeable pause.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Splits `text` into words, with the shorter words inside long ones; a
/// word may repeat.
pub(super) fn words(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    JIEBA
        .cut_for_search(&normalized, true)
        .into_iter()
        .filter(|token| has_letter_or_digit(token.word))
        .map(|token| token.word.to_owned())
        .collect()
}

/// Splits `text` into words without overlaps and keeps those that carry
/// meaning, in order; a word may repeat.
///
/// The segmentation runs without jieba's HMM, so that characters it does
/// not know as a word stay single (钱存 becomes 钱, 存) instead of being
/// guessed into a new word that no entry contains.
pub fn content_words(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    JIEBA
        .tag(&normalized, false)
        .into_iter()
        .filter(|tag| has_letter_or_digit(tag.word) && !is_function_word(tag.word, tag.tag))
        .map(|tag| tag.word.to_owned())
        .collect()
}

/// The pairs of [`grams`] with at least one unit inside a content word
/// (see [`content_words`]); a pair may repeat. 有多少 has none, while
/// 没用的卡 keeps 没用, 用的 and 的卡.
pub(super) fn content_pairs(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    let mut is_content_byte = vec![false; normalized.len()];
    for tag in JIEBA.tag(&normalized, false) {
        if has_letter_or_digit(tag.word) && !is_function_word(tag.word, tag.tag) {
            is_content_byte[tag.byte_start..tag.byte_end].fill(true);
        }
    }

    let mut pairs = Vec::new();
    let mut previous: Option<(usize, &str)> = None;
    for unit in units(&normalized) {
        let Some((start, text)) = unit else {
            previous = None;
            continue;
        };
        if let Some((previous_start, previous_text)) = previous
            && (is_content_byte[previous_start] || is_content_byte[start])
        {
            pairs.push(format!("{previous_text}{text}"));
        }
        previous = Some((start, text));
    }
    pairs
}

/// Words that frame a question without naming its topic, although jieba
/// tags them as verbs or numerals: the copula, 有, modal verbs and the
/// question words for amounts.
const QUESTION_FRAME_WORDS: &[&str] = &["是", "有", "能", "会", "要", "想", "可以", "多少", "几"];

/// True for a word without content: one of [`QUESTION_FRAME_WORDS`], or a
/// word whose jieba (ICTCLAS) tag is a pronoun (r), particle (u, y),
/// preposition (p), conjunction (c), adverb (d), interjection (e),
/// onomatopoeia (o) or non-word (x).
fn is_function_word(word: &str, tag: &str) -> bool {
    QUESTION_FRAME_WORDS.contains(&word)
        || tag == "e"
        || matches!(
            tag.chars().next(),
            Some('r' | 'u' | 'y' | 'p' | 'c' | 'd' | 'o' | 'x')
        )
}

fn has_letter_or_digit(word: &str) -> bool {
    word.chars().any(char::is_alphanumeric)
}

/// Splits `text` into single characters and pairs of neighbouring
/// characters, where an ASCII word counts as one character; a gram may repeat.
pub(super) fn grams(text: &str) -> Vec<String> {
    let normalized = normalize(text);
    let mut grams = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for unit in units(&normalized) {
        match unit {
            Some((_, unit)) => run.push(unit),
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

/// Splits normalized text into units with their byte offsets: a run of
/// ASCII letters and digits, or one other character. `None` stands for a
/// separator (space or punctuation), which no pair crosses.
fn units(text: &str) -> impl Iterator<Item = Option<(usize, &str)>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let rest = &text[start..];
        let first = rest.chars().next()?;
        let length = if first.is_ascii_alphanumeric() {
            rest.find(|character: char| !character.is_ascii_alphanumeric())
                .unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        let unit = (start, &rest[..length]);
        start += length;
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

/// Tokens computed in advance. Offsets are left at zero because the index
/// stores no positions: no query here is a phrase query, and nothing is
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
        // The default position is usize::MAX, so the first token gets 0.
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
        assert!(split.contains(&"手机".to_owned()), "{split:?}");
        assert!(split.contains(&"银行".to_owned()), "{split:?}");
        assert!(split.contains(&"app".to_owned()), "{split:?}");
        assert!(
            !split.iter().any(|word| word == "?" || word == "？"),
            "{split:?}"
        );

        let inner = words("身份证");
        assert!(inner.contains(&"身份".to_owned()), "{inner:?}");
        assert!(inner.contains(&"身份证".to_owned()), "{inner:?}");
    }

    #[test]
    fn content_words_drop_function_words() {
        assert_eq!(
            content_words("钱存你们银行安全吗"),
            vec!["钱", "存", "银行", "安全"]
        );
        assert_eq!(content_words("app登不进去了"), vec!["app", "登", "进去"]);
        assert!(content_words("有多少").is_empty());
    }

    #[test]
    fn content_pairs_need_a_content_unit() {
        assert!(content_pairs("有多少").is_empty());
        assert_eq!(content_pairs("没用的卡"), vec!["没用", "用的", "的卡"]);
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
