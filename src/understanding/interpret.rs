//! Reads one question into an [`Interpretation`]: the intent, the metrics,
//! filters, breakdowns, ranking and period it asks for, and the evidence
//! (which words meant what) for the answer's explanation.

use serde::Serialize;

use crate::semantic::{MetricKind, SemanticLayer};
use crate::warehouse::Value;

use super::lexicon::{Lexicon, Match, Target, normalize};
use super::time::TimeParse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    Metric,
    Glossary,
    Faq,
    Clarify,
    Fallback,
    Refused,
}

/// Keep rows whose dimension has one of these values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filter {
    pub dimension: String,
    pub values: Vec<Value>,
}

/// Order by the first metric, and keep the first `limit` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ranking {
    pub descending: bool,
    pub limit: Option<u64>,
}

/// The time words of a question, as the time parser read them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeReading {
    #[serde(skip)]
    pub parse: TimeParse,
}

impl TimeReading {
    pub fn has_any(&self) -> bool {
        !self.parse.expressions.is_empty()
    }
}

/// Which words matched what, for the explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub text: String,
    pub meaning: String,
}

/// Words that only make sense against the previous turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    /// 换成日均: the new metric replaces the old one.
    pub replace_metric: bool,
    /// 只看个人: the new filter is added to the old ones.
    pub only: bool,
    /// 呢, 那, 再看: an elliptic question.
    pub elliptic: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interpretation {
    pub intent: Intent,
    pub metrics: Vec<String>,
    pub filters: Vec<Filter>,
    pub group_by: Vec<String>,
    pub time: TimeReading,
    pub ranking: Option<Ranking>,
    pub follow_up: FollowUp,
    /// True when the question is in English; the answer follows it.
    pub english: bool,
    pub evidence: Vec<Evidence>,
    /// For `clarify`: the readings offered.
    pub candidates: Vec<String>,
    /// Letters and characters that matched no word and no time expression,
    /// particles left out: many of them mean the question is about
    /// something else (明天梅州会下雨吗).
    pub unmatched: usize,
}

/// Reads a question whose time words `time` has already parsed from the
/// normalised text.
pub fn interpret(
    question: &str,
    layer: &SemanticLayer,
    lexicon: &Lexicon,
    time: TimeReading,
) -> Interpretation {
    let text = normalize(question);
    let english = is_english(&text);
    let mut interpretation = Interpretation {
        intent: Intent::Metric,
        metrics: Vec::new(),
        filters: Vec::new(),
        group_by: Vec::new(),
        time,
        ranking: None,
        follow_up: follow_up_words(&text),
        english,
        evidence: Vec::new(),
        candidates: Vec::new(),
        unmatched: 0,
    };

    if is_refused(&text) {
        interpretation.intent = Intent::Refused;
        return interpretation;
    }

    // Time words are blanked out so that their characters match nothing else.
    let mut masked = text.clone();
    for span in interpretation.time.parse.spans() {
        if masked.is_char_boundary(span.start)
            && masked.is_char_boundary(span.end)
            && span.end <= masked.len()
        {
            let blank = " ".repeat(span.end - span.start);
            masked.replace_range(span, &blank);
        }
    }
    let mut matches = lexicon.find(&masked);
    // A long word with one typo replaces the short exact words inside it,
    // unless the typo would change one of them (存款同比 is not 存款占比).
    for corrected in lexicon.find_with_typos(&masked, &matches) {
        let overlapped: Vec<&Match> = matches
            .iter()
            .filter(|found| found.start < corrected.end && found.end > corrected.start)
            .collect();
        let keeps_exact_words = overlapped
            .iter()
            .all(|found| lexicon.is_part_of_word(&found.text, &corrected));
        if !keeps_exact_words {
            continue;
        }
        matches.retain(|found| found.end <= corrected.start || found.start >= corrected.end);
        matches.push(corrected);
    }
    matches.sort_by_key(|found| found.start);

    let mut metric_matches: Vec<&Match> = Vec::new();
    for found in &matches {
        let mut targets: Vec<&Target> = found.entries.iter().map(|entry| &entry.target).collect();
        // A value stored in two dimensions (个人 is a customer type and a
        // segment) means the coarser one: the dimension with fewer values.
        if targets
            .iter()
            .all(|target| matches!(target, Target::Value { .. }))
        {
            targets.sort_by_key(|target| match target {
                Target::Value { dimension, .. } => lexicon.value_count(dimension),
                _ => usize::MAX,
            });
            targets.truncate(1);
        }
        if targets.len() > 1 && !same_dimension_values(&targets) {
            interpretation.candidates = targets
                .iter()
                .map(|target| describe(target, layer, lexicon))
                .collect();
        }
        match targets[0] {
            Target::Metric(name) => {
                metric_matches.push(found);
                interpretation.evidence.push(Evidence {
                    text: found.text.clone(),
                    meaning: format!("指标：{}", metric_label(layer, name)),
                });
            }
            Target::Dimension(item) => {
                if !interpretation.group_by.contains(item) {
                    interpretation.group_by.push(item.clone());
                }
                interpretation.evidence.push(Evidence {
                    text: found.text.clone(),
                    meaning: format!("维度：{}", lexicon.dimension_label(item).unwrap_or(item)),
                });
            }
            Target::Value { dimension, value } => {
                match interpretation
                    .filters
                    .iter_mut()
                    .find(|filter| filter.dimension == *dimension)
                {
                    Some(filter) if !filter.values.contains(value) => {
                        filter.values.push(value.clone())
                    }
                    Some(_) => {}
                    None => interpretation.filters.push(Filter {
                        dimension: dimension.clone(),
                        values: vec![value.clone()],
                    }),
                }
                interpretation.evidence.push(Evidence {
                    text: found.text.clone(),
                    meaning: format!(
                        "{}：{value}",
                        lexicon.dimension_label(dimension).unwrap_or(dimension)
                    ),
                });
            }
        }
    }

    interpretation.unmatched = masked
        .char_indices()
        .filter(|(offset, character)| {
            character.is_alphanumeric()
                && !FUNCTION_CHARACTERS.contains(character)
                && !matches
                    .iter()
                    .any(|found| found.start <= *offset && *offset < found.end)
        })
        .count();
    interpretation.metrics = choose_metrics(&masked, &metric_matches, english, layer);
    settle_breakdowns(&masked, &matches, &mut interpretation);
    interpretation.ranking = ranking(&masked);
    // 各客户经理存款余额前十: the metric word 客户经理存款 starts with the
    // dimension word 客户经理, and 各 or a ranking asks for a breakdown by it.
    for found in &metric_matches {
        let before = &masked[..found.start];
        let asks_breakdown = BREAKDOWN_MARKERS
            .iter()
            .any(|marker| before.trim_end().ends_with(marker))
            || interpretation.ranking.is_some();
        if asks_breakdown
            && let Some(item) = lexicon.dimension_at_start(&found.text)
            && !interpretation.group_by.iter().any(|known| known == item)
        {
            interpretation.group_by.push(item.to_owned());
        }
    }

    if !interpretation.candidates.is_empty() {
        interpretation.intent = Intent::Clarify;
        return interpretation;
    }
    if is_glossary(&text) && !interpretation.metrics.is_empty() {
        interpretation.intent = Intent::Glossary;
        return interpretation;
    }
    let understood_anything = !interpretation.metrics.is_empty()
        || !interpretation.filters.is_empty()
        || !interpretation.group_by.is_empty()
        || interpretation.time.has_any()
        || interpretation.ranking.is_some();
    if !understood_anything {
        interpretation.intent = if is_how_to(&text) {
            Intent::Faq
        } else {
            Intent::Fallback
        };
        return interpretation;
    }
    if interpretation.metrics.is_empty() && is_how_to(&text) && !interpretation.time.has_any() {
        interpretation.intent = Intent::Faq;
    }
    interpretation
}

fn same_dimension_values(targets: &[&Target]) -> bool {
    let Some(Target::Value { dimension, .. }) = targets.first() else {
        return false;
    };
    targets.iter().all(
        |target| matches!(target, Target::Value { dimension: other, .. } if other == dimension),
    )
}

fn describe(target: &Target, layer: &SemanticLayer, lexicon: &Lexicon) -> String {
    match target {
        Target::Metric(name) => metric_label(layer, name),
        Target::Dimension(item) => lexicon.dimension_label(item).unwrap_or(item).to_owned(),
        Target::Value { dimension, value } => {
            format!(
                "{}：{value}",
                lexicon.dimension_label(dimension).unwrap_or(dimension)
            )
        }
    }
}

pub fn metric_label(layer: &SemanticLayer, name: &str) -> String {
    layer
        .metric(name)
        .and_then(|metric| metric.label.clone())
        .unwrap_or_else(|| name.to_owned())
}

/// Words right before a dimension word that ask for a breakdown by it.
const BREAKDOWN_MARKERS: [&str; 6] = ["各", "按", "每个", "每位", "分", "各位"];

/// Picks the metrics a question names. Several metric words name several
/// metrics only when a conjunction joins them (存款余额和日均存款). Otherwise
/// a metric computed from another one named beside it wins (存款余额环比
/// asks for the growth rate of the balance). Failing that, the most specific
/// word wins, which is the longest. On a tie the head of the phrase wins:
/// the last word in Chinese, the first in English.
fn choose_metrics(
    text: &str,
    matches: &[&Match],
    english: bool,
    layer: &SemanticLayer,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let Some(first) = matches.first() else {
        return names;
    };
    let mut groups: Vec<Vec<&Match>> = vec![vec![first]];
    for pair in matches.windows(2) {
        let between = &text[pair[0].end..pair[1].start];
        let joined = [
            "和", "与", "及", "以及", "、", ",", "，", " and ", "&", "跟",
        ]
        .iter()
        .any(|word| between.contains(word));
        if joined {
            groups.push(vec![pair[1]]);
        } else if let Some(group) = groups.last_mut() {
            group.push(pair[1]);
        }
    }
    for group in groups {
        let longest = group
            .iter()
            .map(|found| found.text.chars().count())
            .max()
            .unwrap_or(0);
        let mut best: Vec<&&Match> = group
            .iter()
            .filter(|found| found.text.chars().count() == longest)
            .collect();
        if !english {
            best.reverse();
        }
        let chosen = best.first().and_then(|found| metric_of(found));
        // The last metric word computed from the chosen one, if any.
        let derived = chosen.and_then(|base| {
            group
                .iter()
                .rev()
                .filter_map(|found| metric_of(found))
                .find(|name| *name != base && depends_on(layer, name, base, 0))
        });
        if let Some(name) = derived.or(chosen)
            && !names.iter().any(|known| known == name)
        {
            names.push(name.to_owned());
        }
    }
    names
}

fn metric_of(found: &Match) -> Option<&str> {
    match found.entries.first().map(|entry| &entry.target) {
        Some(Target::Metric(name)) => Some(name),
        _ => None,
    }
}

/// Returns whether metric `name` is computed from metric `base`, directly or through
/// other metrics, or from the measure of a simple `base`. The depth limit
/// stops at a cycle, which validation reports anyway.
fn depends_on(layer: &SemanticLayer, name: &str, base: &str, depth: usize) -> bool {
    const MAX_DEPTH: usize = 8;
    let (Some(metric), Some(base_metric)) = (layer.metric(name), layer.metric(base)) else {
        return false;
    };
    if depth > MAX_DEPTH || matches!(metric.kind, MetricKind::Simple { .. }) {
        return false;
    }
    let base_measure = match &base_metric.kind {
        MetricKind::Simple { measure } => Some(measure.name.as_str()),
        _ => None,
    };
    metric.inputs().iter().any(|input| {
        input.name == base
            || base_measure == Some(input.name.as_str()) && layer.metric(&input.name).is_none()
            || depends_on(layer, &input.name, base, depth + 1)
    })
}

/// Keeps a dimension word as a breakdown unless the question also names one
/// of its values without a breakdown word (开放银行渠道 filters by channel).
fn settle_breakdowns(text: &str, matches: &[Match], interpretation: &mut Interpretation) {
    let breakdown_words = ["各", "按", "每个", "分", "by ", "per ", "each "];
    let mut kept = Vec::new();
    for item in &interpretation.group_by {
        let has_value = interpretation
            .filters
            .iter()
            .any(|filter| filter.dimension == *item);
        let explicit = matches.iter().any(|found| {
            matches!(found.entries.first().map(|entry| &entry.target), Some(Target::Dimension(other)) if other == item)
                && breakdown_words
                    .iter()
                    .any(|word| text[..found.start].trim_end().ends_with(word.trim_end()))
        });
        if !has_value || explicit {
            kept.push(item.clone());
        }
    }
    // Two values of one dimension (个人和对公) compare groups: break down by it.
    for filter in &interpretation.filters {
        if filter.values.len() > 1 && !kept.contains(&filter.dimension) {
            kept.push(filter.dimension.clone());
        }
    }
    interpretation.group_by = kept;
}

/// Question and follow-up words that carry no subject of their own.
const FUNCTION_CHARACTERS: [char; 16] = [
    '那', '呢', '吗', '的', '了', '是', '看', '再', '多', '少', '有', '么', '什', '怎', '和', '也',
];

const CHINESE_DIGITS: [(char, u64); 11] = [
    ('零', 0),
    ('一', 1),
    ('二', 2),
    ('两', 2),
    ('三', 3),
    ('四', 4),
    ('五', 5),
    ('六', 6),
    ('七', 7),
    ('八', 8),
    ('九', 9),
];

/// Reads a number written in digits or in Chinese numerals up to 99.
fn read_number(text: &str) -> Option<(u64, usize)> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if !digits.is_empty() {
        return digits.parse().ok().map(|number| (number, digits.len()));
    }
    let mut value = 0;
    let mut current = 0;
    let mut consumed = 0;
    for character in text.chars() {
        if let Some((_, digit)) = CHINESE_DIGITS
            .iter()
            .find(|(numeral, _)| *numeral == character)
        {
            current = *digit;
        } else if character == '十' {
            value += if current == 0 { 10 } else { current * 10 };
            current = 0;
        } else {
            break;
        }
        consumed += character.len_utf8();
    }
    if consumed == 0 {
        return None;
    }
    Some((value + current, consumed))
}

/// Top and bottom N, highest and lowest, and rankings.
fn ranking(text: &str) -> Option<Ranking> {
    let count_after = |word: &str| -> Option<u64> {
        let position = text.find(word)?;
        read_number(text[position + word.len()..].trim_start()).map(|(number, _)| number)
    };
    for word in ["前", "top"] {
        if let Some(limit) = count_after(word) {
            return Some(Ranking {
                descending: true,
                limit: Some(limit),
            });
        }
    }
    for word in ["后", "倒数", "末", "bottom"] {
        if let Some(limit) = count_after(word) {
            return Some(Ranking {
                descending: false,
                limit: Some(limit),
            });
        }
    }
    let highest = [
        "最高", "最多", "最大", "第一", "highest", "largest", "most", "biggest",
    ];
    let lowest = [
        "最低", "最少", "最小", "lowest", "smallest", "least", "fewest",
    ];
    let count_near = |word: &str| -> Option<u64> {
        let position = text.find(word)?;
        let rest = &text[position + word.len()..];
        let rest = rest.trim_start_matches(['的', ' ']);
        read_number(rest).map(|(number, _)| number)
    };
    if let Some(word) = highest.iter().find(|word| text.contains(*word)) {
        return Some(Ranking {
            descending: true,
            limit: Some(count_near(word).unwrap_or(1)),
        });
    }
    if let Some(word) = lowest.iter().find(|word| text.contains(*word)) {
        return Some(Ranking {
            descending: false,
            limit: Some(count_near(word).unwrap_or(1)),
        });
    }
    if ["排名", "排行", "排序", "rank", "ranking"]
        .iter()
        .any(|word| text.contains(word))
    {
        return Some(Ranking {
            descending: true,
            limit: None,
        });
    }
    None
}

fn follow_up_words(text: &str) -> FollowUp {
    FollowUp {
        replace_metric: ["换成", "改成", "换为", "改为", "switch to", "instead"]
            .iter()
            .any(|word| text.contains(word)),
        only: ["只看", "仅看", "只要", "only"]
            .iter()
            .any(|word| text.contains(word)),
        elliptic: text.ends_with('呢')
            || text.ends_with("呢?")
            || text.ends_with("呢？")
            || text.starts_with('那')
            || text.starts_with("再看")
            || text.starts_with("what about")
            || text.starts_with("and "),
    }
}

/// English when the question has Latin letters and no CJK characters;
/// table names inside a Chinese question do not make it English.
pub fn is_english(text: &str) -> bool {
    let letters = text
        .chars()
        .any(|character| character.is_ascii_alphabetic());
    let cjk = text.chars().any(|character| character as u32 >= 0x3400);
    letters && !cjk
}

/// Requests to change data, to run arbitrary SQL, or to export personal data.
fn is_refused(text: &str) -> bool {
    let chinese = [
        "删除",
        "删掉",
        "删了",
        "清空",
        "清除",
        "修改数据",
        "修改余额",
        "改成0",
        "更新数据",
        "插入",
        "写入",
        "建表",
        "导出客户",
        "导出全部",
        "导出所有",
        "身份证号",
        "手机号码",
        "客户名单",
        "客户明细",
        "执行sql",
        "运行sql",
    ];
    let english = [
        "drop ",
        "delete ",
        "truncate ",
        "update ",
        "insert ",
        "alter ",
        "attach ",
        "copy ",
        "pragma ",
        "export ",
        "create table",
        "grant ",
        "; --",
    ];
    // 把余额改成 0 sets data to a value; 改成日均存款 switches the metric.
    let change = ["改成", "改为", "设为", "设置为", "调成", "置为"];
    let compact: String = text
        .chars()
        .filter(|character| !character.is_whitespace())
        .collect();
    let sets_a_value = change.iter().any(|word| {
        compact.match_indices(word).any(|(at, _)| {
            compact[at + word.len()..]
                .chars()
                .next()
                .is_some_and(|next| next.is_ascii_digit() || "零〇空负-".contains(next))
        })
    });
    let changes_data = sets_a_value || compact.contains("清零") || compact.contains("置零");
    let sql = (text.contains("select ") && text.contains(" from ")) || text.contains("drop table");
    chinese.iter().any(|word| compact.contains(word))
        || english.iter().any(|word| text.contains(word))
        || sql
        || changes_data
}

fn is_glossary(text: &str) -> bool {
    [
        "口径",
        "怎么算",
        "怎么计算",
        "如何计算",
        "如何算",
        "计算方法",
        "计算公式",
        "定义",
        "什么意思",
        "含义",
        "是什么指标",
        "how is",
        "definition",
        "defined",
        "what does",
        "meaning of",
    ]
    .iter()
    .any(|word| text.contains(word))
}

/// True for how-to and service wording (怎么, 如何, 登录, 转账, how do).
pub fn is_how_to(text: &str) -> bool {
    [
        "怎么",
        "如何",
        "怎样",
        "办理",
        "开通",
        "登录",
        "登陆",
        "密码",
        "转账",
        "限额",
        "u盾",
        "手机银行",
        "网银",
        "网上银行",
        "验证码",
        "挂失",
        "how do",
        "how can",
        "how to",
        "password",
        "login",
        "transfer",
    ]
    .iter()
    .any(|word| text.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_digits_and_numerals() {
        assert_eq!(read_number("10名"), Some((10, 2)));
        assert_eq!(read_number("三名").map(|(number, _)| number), Some(3));
        assert_eq!(read_number("十二").map(|(number, _)| number), Some(12));
        assert_eq!(read_number("二十").map(|(number, _)| number), Some(20));
        assert_eq!(read_number("名"), None);
    }

    #[test]
    fn rankings() {
        assert_eq!(
            ranking("存款余额前五的支行"),
            Some(Ranking {
                descending: true,
                limit: Some(5)
            })
        );
        assert_eq!(
            ranking("最少的三个"),
            Some(Ranking {
                descending: false,
                limit: Some(3)
            })
        );
        assert_eq!(
            ranking("哪个区县的存款最多"),
            Some(Ranking {
                descending: true,
                limit: Some(1)
            })
        );
        assert_eq!(
            ranking("各行业对公存款余额排名"),
            Some(Ranking {
                descending: true,
                limit: None
            })
        );
        assert_eq!(ranking("存款余额"), None);
    }

    #[test]
    fn refusals() {
        assert!(is_refused("帮我把fact_deposit_daily表删掉"));
        assert!(is_refused("drop table dim_branch"));
        assert!(!is_refused("各支行存款余额"));
    }
}
