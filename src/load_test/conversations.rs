//! The conversations a load test sends: built-in ones, or the cases of an
//! evaluation file.

use std::path::Path;

use serde_json::Value as Json;

use super::LoadError;

/// One conversation: questions sent in turn in one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// A name for messages, such as the case id of an evaluation file.
    pub name: String,
    pub turns: Vec<String>,
}

/// Conversations as the bank's staff hold them: a metric question, then
/// follow-ups that narrow, widen or switch the metric in the same session,
/// mixed with e-banking questions, definitions and an out-of-scope question.
/// The dates are relative, so they read against any warehouse's data date.
pub fn built_in() -> Vec<Script> {
    let scripts: [(&str, &[&str]); 14] = [
        (
            "branch_balances",
            &[
                "各支行的存款余额是多少",
                "只看对公客户",
                "前五名是哪些",
                "换成日均存款",
            ],
        ),
        (
            "personal_average",
            &["今年以来个人存款的日均是多少", "去年同期呢", "按区县拆开看"],
        ),
        (
            "growth",
            &["全行存款同比增长多少", "环比呢", "个人存款的同比增速"],
        ),
        (
            "monthly_series",
            &["今年每个月末的存款余额", "只看定期存款", "按季度看"],
        ),
        (
            "demand_share",
            &["活期存款占比是多少", "对公的活期占比呢", "按支行看"],
        ),
        (
            "managers",
            &["绩效存款排名前五的客户经理", "梅县支行的客户经理呢"],
        ),
        (
            "year_start",
            &["存款比年初增加了多少", "个人存款呢", "按产品类别看"],
        ),
        (
            "trend",
            &["近6个月日均存款走势", "只看兴宁支行", "换成存款余额"],
        ),
        ("new_accounts", &["今年新开户多少户", "按开户渠道分"]),
        ("cost", &["今年存款付息率是多少", "去年呢"]),
        (
            "mobile_banking",
            &["手机银行登录不了怎么办", "转账限额怎么提高"],
        ),
        ("lost_card", &["银行卡丢了要怎么挂失"]),
        ("definitions", &["日均存款的口径是什么", "存款偏离度怎么算"]),
        ("out_of_scope", &["帮我订一张去广州的高铁票"]),
    ];
    scripts
        .iter()
        .map(|(name, turns)| Script {
            name: (*name).to_owned(),
            turns: turns.iter().map(|turn| (*turn).to_owned()).collect(),
        })
        .collect()
}

/// Reads conversations from a JSON Lines file of evaluation cases: one
/// object per line with an `id` and `turns`, each turn with its question in
/// `q`, the format of the metric and FAQ evaluation files.
///
/// A case with `params` has questions with placeholders that its SQL fills
/// in from the warehouse. The load generator does not read the warehouse,
/// so those cases are left out; the second value counts them.
pub fn read_file(path: &Path) -> Result<(Vec<Script>, usize), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Questions {
        path: path.display().to_string(),
        reason: error.to_string(),
    })?;
    let invalid = |line: usize, reason: String| LoadError::Questions {
        path: format!("{}:{line}", path.display()),
        reason,
    };

    let mut scripts = Vec::new();
    let mut skipped = 0;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Json = serde_json::from_str(line)
            .map_err(|error| invalid(index + 1, format!("invalid JSON: {error}")))?;
        let Some(turns) = case["turns"].as_array() else {
            return Err(invalid(index + 1, "missing `turns` list".to_owned()));
        };
        if case.get("params").is_some_and(|params| !params.is_null()) {
            skipped += 1;
            continue;
        }
        let mut questions = Vec::with_capacity(turns.len());
        for turn in turns {
            let Some(question) = turn["q"].as_str() else {
                return Err(invalid(
                    index + 1,
                    "a turn without a `q` question".to_owned(),
                ));
            };
            questions.push(question.to_owned());
        }
        if questions.is_empty() {
            return Err(invalid(index + 1, "empty `turns` list".to_owned()));
        }
        let name = case["id"]
            .as_str()
            .map_or_else(|| format!("line {}", index + 1), str::to_owned);
        scripts.push(Script {
            name,
            turns: questions,
        });
    }
    if scripts.is_empty() {
        return Err(LoadError::Questions {
            path: path.display().to_string(),
            reason: "no conversation without `params`".to_owned(),
        });
    }
    Ok((scripts, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_has_follow_ups() {
        let scripts = built_in();
        assert!(scripts.iter().all(|script| !script.turns.is_empty()));
        let with_follow_ups = scripts
            .iter()
            .filter(|script| script.turns.len() >= 2)
            .count();
        assert!(with_follow_ups >= 10, "{with_follow_ups}");
    }

    #[test]
    fn file_cases_become_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        std::fs::write(
            &path,
            concat!(
                r#"{"id": "c01", "turns": [{"q": "各支行存款余额"}, {"q": "只看个人"}]}"#,
                "\n\n",
                r#"{"id": "d51", "params": {"manager": "SELECT 1"}, "turns": [{"q": "{manager}的绩效存款"}]}"#,
                "\n",
                r#"{"turns": [{"q": "手机银行在哪注册", "faq_id": "mb-register"}]}"#,
                "\n",
            ),
        )
        .unwrap();

        let (scripts, skipped) = read_file(&path).unwrap();

        assert_eq!(skipped, 1);
        assert_eq!(scripts.len(), 2);
        assert_eq!(scripts[0].name, "c01");
        assert_eq!(scripts[0].turns, ["各支行存款余额", "只看个人"]);
        assert_eq!(scripts[1].name, "line 4");
    }

    #[test]
    fn file_without_turns_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        std::fs::write(&path, "{\"id\": \"x\"}\n").unwrap();

        let error = read_file(&path).unwrap_err().to_string();

        assert!(error.contains("cases.jsonl:1"), "{error}");
        assert!(error.contains("missing `turns` list"), "{error}");
    }
}
