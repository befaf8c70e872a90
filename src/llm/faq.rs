//! FAQ answers phrased by the model from the knowledge-base entries that
//! retrieval found. A phrased answer is shown only if it cites at least one
//! of those entries and no other. Every number in it (a limit, a fee, a
//! phone number) must also appear in the entries it cites.

use serde::Serialize;
use serde_json::{Value, json};

use crate::assistant::FaqAnswer;

/// The prompt that asks for a phrased FAQ answer.
pub const FAQ_PROMPT: &str = include_str!("../../prompts/faq.md");

/// The runners-up shown to the model besides the entry found.
const SUPPORTING_ENTRIES: usize = 2;
/// The longest phrased answer kept, in characters.
const MAX_ANSWER_CHARS: usize = 1_200;

/// A phrased answer that passed the checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhrasedAnswer {
    pub text: String,
    /// The ids of the entries the text cites, in order of first citation.
    pub sources: Vec<String>,
    pub model: String,
}

/// Builds the chat messages that ask for an answer to `question` from the
/// entry found and its closest runners-up.
pub fn faq_messages(faq: &FaqAnswer, question: &str) -> Vec<Value> {
    let entries: Vec<String> = supporting_entries(faq)
        .map(|hit| {
            format!(
                "[{}] {}（{}）\n{}",
                hit.id,
                hit.question,
                hit.category,
                hit.answer.trim()
            )
        })
        .collect();
    let system = FAQ_PROMPT.replace("{entries}", &entries.join("\n\n"));
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": question}),
    ]
}

fn supporting_entries(faq: &FaqAnswer) -> impl Iterator<Item = &crate::assistant::FaqHit> {
    std::iter::once(&faq.best).chain(faq.runners_up.iter().take(SUPPORTING_ENTRIES))
}

/// Checks a phrased answer against the entries it was given. Returns the
/// ids it cites, or why it is not shown.
pub fn check_answer(text: &str, faq: &FaqAnswer) -> Result<Vec<String>, String> {
    let text = text.trim();
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(format!("longer than {MAX_ANSWER_CHARS} characters"));
    }
    let given: Vec<&crate::assistant::FaqHit> = supporting_entries(faq).collect();
    let mut sources: Vec<String> = Vec::new();
    for cited in citations(text) {
        if !given.iter().any(|hit| hit.id == cited) {
            return Err(format!("cites `{cited}`, which it was not given"));
        }
        if !sources.contains(&cited) {
            sources.push(cited);
        }
    }
    if sources.is_empty() {
        return Err("cites no entry".to_owned());
    }
    let cited_text: String = given
        .iter()
        .filter(|hit| sources.contains(&hit.id))
        .map(|hit| format!("{} {}", hit.question, hit.answer))
        .collect();
    let cited_numbers = numbers(&cited_text);
    for number in numbers(&strip_citations(text)) {
        if !cited_numbers.contains(&number) {
            return Err(format!("the number {number} is not in the cited entries"));
        }
    }
    Ok(sources)
}

/// Checks that every number in `text` appears in one of the entries the
/// model was given. The stream checks each sentence with this before
/// sending it to the page, so a made-up limit or fee is never shown.
pub fn check_numbers(text: &str, faq: &FaqAnswer) -> Result<(), String> {
    let given: String = supporting_entries(faq)
        .map(|hit| format!("{} {}", hit.question, hit.answer))
        .collect();
    let known = numbers(&given);
    match numbers(&strip_citations(text))
        .into_iter()
        .find(|number| !known.contains(number))
    {
        Some(number) => Err(format!("the number {number} is not in the entries")),
        None => Ok(()),
    }
}

/// Splits the complete sentences off the start of `buffer` and returns
/// them; the unfinished rest stays in `buffer`.
pub fn take_sentences(buffer: &mut String) -> Option<String> {
    let end = buffer
        .char_indices()
        .rev()
        .find(|(_, character)| SENTENCE_ENDS.contains(character))
        .map(|(offset, character)| offset + character.len_utf8())?;
    let rest = buffer.split_off(end);
    Some(std::mem::replace(buffer, rest))
}

/// Characters that end a sentence or a list item.
const SENTENCE_ENDS: [char; 7] = ['。', '！', '？', '；', '\n', '!', '?'];

/// Collects the ids in square brackets: `[acct-close]`, also `[acct-close, lim-atm]`.
fn citations(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['[', '【']) {
        let after = &rest[open + rest[open..].chars().next().map_or(1, char::len_utf8)..];
        let Some(close) = after.find([']', '】']) else {
            break;
        };
        let inside = &after[..close];
        for id in inside.split([',', '，', '、', ' ']) {
            let id = id.trim();
            if is_entry_id(id) {
                found.push(id.to_owned());
            }
        }
        rest = &after[close..];
    }
    found
}

fn is_entry_id(text: &str) -> bool {
    !text.is_empty()
        && text.contains('-')
        && text.chars().all(|character| {
            character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
        })
}

fn strip_citations(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut depth = 0usize;
    for character in text.chars() {
        match character {
            '[' | '【' => depth += 1,
            ']' | '】' => depth = depth.saturating_sub(1),
            _ if depth == 0 => kept.push(character),
            _ => {}
        }
    }
    kept
}

/// Collects the numbers in `text` as digits only, so 50,000 and 5.5 read as
/// 50000 and 55. Single digits are skipped because they are usually step
/// numbers.
fn numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    let characters: Vec<char> = text.chars().collect();
    for (position, character) in characters.iter().enumerate() {
        let joins = matches!(character, ',' | '.' | '-')
            && !current.is_empty()
            && characters
                .get(position + 1)
                .is_some_and(char::is_ascii_digit);
        if character.is_ascii_digit() {
            current.push(*character);
        } else if !joins {
            if current.len() >= 2 {
                found.push(std::mem::take(&mut current));
            }
            current.clear();
        }
    }
    if current.len() >= 2 {
        found.push(current);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::FaqHit;

    fn hit(id: &str, answer: &str) -> FaqHit {
        FaqHit {
            id: id.to_owned(),
            category: "限额".to_owned(),
            question: "手机银行转账限额怎么调？".to_owned(),
            answer: answer.to_owned(),
            score: 1.0,
        }
    }

    fn faq() -> FaqAnswer {
        FaqAnswer {
            best: hit(
                "lim-raise",
                "登录手机银行，进入“安全中心—限额管理”，单日最高可调至 50,000 元。客服电话 400-830-1234。",
            ),
            runners_up: vec![hit("lim-query", "在“我的—限额查询”查看当前限额。")],
        }
    }

    #[test]
    fn check_accepts_given_citations() {
        let text = "可以在手机银行自助调整，单日最高 50000 元 [lim-raise]。当前限额在“我的”里查看【lim-query】。";

        assert_eq!(
            check_answer(text, &faq()),
            Ok(vec!["lim-raise".to_owned(), "lim-query".to_owned()])
        );
    }

    #[test]
    fn check_rejects_missing_or_foreign_citations() {
        assert!(
            check_answer("去柜台办理即可。", &faq())
                .unwrap_err()
                .contains("no entry")
        );
        assert!(
            check_answer("见 [acct-close]。", &faq())
                .unwrap_err()
                .contains("acct-close")
        );
    }

    #[test]
    fn check_rejects_unknown_numbers() {
        let made_up = "单日最高可调至 200,000 元 [lim-raise]。";
        let other_phone = "请拨打 95588 咨询 [lim-raise]。";

        assert!(
            check_answer(made_up, &faq())
                .unwrap_err()
                .contains("200000")
        );
        assert!(
            check_answer(other_phone, &faq())
                .unwrap_err()
                .contains("95588")
        );
        assert!(check_answer("请拨打 400-830-1234 [lim-raise]。", &faq()).is_ok());
    }

    #[test]
    fn sentences_are_split_off_complete() {
        let mut buffer = "第一句。第二句没完".to_owned();

        assert_eq!(take_sentences(&mut buffer).as_deref(), Some("第一句。"));
        assert_eq!(buffer, "第二句没完");
        assert_eq!(take_sentences(&mut buffer), None);
    }

    #[test]
    fn check_numbers_uses_every_given_entry() {
        assert!(check_numbers("单日最高 50,000 元。", &faq()).is_ok());
        let invented = check_numbers("手续费 5 元，单日 500000 元。", &faq());
        assert!(invented.unwrap_err().contains("500000"));
    }

    #[test]
    fn prompt_contains_entries_and_question() {
        let messages = faq_messages(&faq(), "转账限额怎么调");
        let system = messages[0]["content"].as_str().unwrap();

        assert!(system.contains("[lim-raise]"));
        assert!(system.contains("[lim-query]"));
        assert!(!system.contains("{entries}"));
        assert_eq!(messages[1]["content"], "转账限额怎么调");
    }
}
