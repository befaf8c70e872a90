//! The FAQ index on the real `knowledge_base/` folder and on temporary
//! copies of it: loading, search quality, the confidence judgement, reload
//! and the diagnostics of malformed entries.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wenshu::faq::{FaqError, FaqIndex, evaluate_file};

fn knowledge_base_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge_base")
}

/// The shared evaluation and specification files, which sit beside the
/// repository and are absent from a plain clone.
fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    if path.is_file() {
        return Some(path);
    }
    eprintln!("skipped: {} is absent", path.display());
    None
}

/// The index over the real knowledge base, built once for all tests.
fn real_index() -> &'static FaqIndex {
    static INDEX: OnceLock<FaqIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let (index, diagnostics) =
            FaqIndex::open(&knowledge_base_dir()).expect("knowledge_base/ loads");
        assert!(
            diagnostics.is_empty(),
            "knowledge_base/ has invalid entries:\n{diagnostics}"
        );
        index
    })
}

/// Copies every file of the real knowledge base into a new temporary folder.
fn copy_of_knowledge_base() -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temporary folder");
    for item in std::fs::read_dir(knowledge_base_dir()).expect("knowledge_base/ is readable") {
        let path = item.expect("folder entry").path();
        if path.is_file() {
            std::fs::copy(
                &path,
                copy.path().join(path.file_name().expect("file name")),
            )
            .expect("copy");
        }
    }
    copy
}

fn assert_confident_match(index: &FaqIndex, question: &str, expected: &str) {
    let outcome = index.search(question, 4);
    let found: Vec<&str> = outcome.hits.iter().map(|hit| hit.id.as_str()).collect();
    assert_eq!(
        found.first().copied(),
        Some(expected),
        "`{question}` found {found:?}"
    );
    assert!(
        outcome.confident,
        "`{question}` found `{expected}` without confidence (coverage {:.2}, margin {:.2})",
        outcome.coverage, outcome.margin
    );
}

#[test]
fn knowledge_base_loads_without_problems() {
    let loaded = wenshu::faq::load_dir(&knowledge_base_dir()).expect("knowledge_base/ is readable");
    assert!(loaded.diagnostics.is_empty(), "{}", loaded.diagnostics);
    assert!(!loaded.entries.is_empty());
}

#[test]
fn every_topic_has_entry() {
    let Some(topics) = shared_file("spec/faq_topics.tsv") else {
        return;
    };
    let text = std::fs::read_to_string(topics).expect("topic list is readable");
    let ids: Vec<String> = real_index()
        .entries()
        .into_iter()
        .map(|entry| entry.id)
        .collect();
    let missing: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .filter(|id| !id.is_empty() && !ids.iter().any(|known| known == id))
        .collect();
    assert!(missing.is_empty(), "topics without an entry: {missing:?}");
}

#[test]
fn canonical_questions_find_their_entry() {
    let index = real_index();
    for entry in index.entries() {
        assert_confident_match(index, &entry.question, &entry.id);
    }
}

#[test]
fn typos_find_their_entry() {
    let index = real_index();
    // 帐 for 账, 陆 for 录, 证数 for 证书.
    assert_confident_match(index, "转帐限额怎么调高", "lim-raise");
    assert_confident_match(index, "登陆密码忘记了", "pwd-login-reset");
    assert_confident_match(index, "U盾证数过期了", "cb-ukey-expire");
}

#[test]
fn colloquial_phrasings_find_their_entry() {
    let index = real_index();
    assert_confident_match(index, "app登不进去了", "mb-login-fail");
    assert_confident_match(index, "卡丢了咋整", "acct-card-lost");
    assert_confident_match(index, "钱转错人了能要回来不", "tf-wrong-account");
}

#[test]
fn english_question_finds_entry() {
    assert_confident_match(
        real_index(),
        "I forgot my mobile banking login password",
        "pwd-login-reset",
    );
}

/// Questions written apart from the development questions, to catch
/// tuning that only fits those.
const UNSEEN_QUESTIONS: &[(&str, &str)] = &[
    ("手机银行版本太旧了怎么更新", "mb-update"),
    ("手机银行能不能注销掉", "mb-logout"),
    ("登录密码想换一个", "pwd-change"),
    ("密码输错太多次锁住了", "pwd-locked"),
    ("手机上怎么给别人打钱", "tf-how"),
    ("跨行转账要不要手续费", "tf-fee"),
    ("转账时开户行不知道选哪个支行", "tf-cross-bank"),
    ("能不能设置每个月自动转账", "tf-scheduled"),
    ("ATM一天最多能取多少钱", "lim-atm"),
    ("转账额度太低了怎么提额", "lim-raise"),
    ("卡被冻结了怎么解冻", "acct-frozen"),
    ("好久没用的卡还能用吗", "acct-dormant"),
    ("身份证过期了要去柜台吗", "acct-info-update"),
    ("怎么查最近半年的交易记录", "acct-statement"),
    ("电子回单有没有盖章", "rcpt-stamp"),
    ("电脑识别不了U盾", "cb-ukey-install"),
    ("U盾证书快到期了怎么续", "cb-ukey-expire"),
    ("企业网银用什么浏览器", "cb-browser"),
    ("代发工资模板怎么填", "cb-batch-pay"),
    ("大额存单起存金额是多少", "dep-cd-buy"),
    ("定期存款提前取出来有利息吗", "dep-early-withdraw"),
    ("七天通知存款怎么取钱", "dep-notice"),
    ("保证金什么时候能取出来", "dep-margin"),
    ("协定存款怎么算利息", "dep-agreement"),
    ("为什么我的贷款额度这么低", "loan-limit"),
    ("申请贷款会不会影响征信", "loan-credit-report"),
    ("网店卖家能贷款吗", "loan-ecommerce"),
    ("微信小程序能办什么业务", "mini-function"),
    ("收到短信说账户异常让点链接", "sec-fraud-link"),
    ("怎么删除手机银行里登录过的设备", "sec-device-bind"),
    ("我要投诉", "svc-complaint"),
    ("最近的网点在哪", "svc-branch-find"),
    ("能换美元吗", "svc-foreign"),
    ("收不到验证码短信", "sec-sms-missing"),
    ("人脸识别老是失败", "mb-face-fail"),
    ("转帐手续费多少", "tf-fee"),
    ("登陆不了手机银行", "mb-login-fail"),
    ("忘记登陆密马", "pwd-login-reset"),
];

#[test]
fn unseen_questions_reach_accuracy() {
    let index = real_index();
    let mut misses = Vec::new();
    for (question, expected) in UNSEEN_QUESTIONS {
        let outcome = index.search(question, 4);
        let found = outcome.hits.first().map(|hit| hit.id.as_str());
        if found != Some(*expected) || !outcome.confident {
            misses.push(format!(
                "{question}: expected `{expected}`, found {found:?}, confident {}",
                outcome.confident
            ));
        }
    }
    // At least 95 % correct and confident.
    assert!(misses.len() * 20 <= UNSEEN_QUESTIONS.len(), "{misses:#?}");
}

#[test]
fn metric_questions_are_not_confident() {
    let index = real_index();
    for question in [
        "各支行存款余额",
        "今年日均存款",
        "大额存单余额",
        "存款同比增长率",
    ] {
        let outcome = index.search(question, 4);
        assert!(
            !outcome.confident,
            "`{question}` matched `{}` confidently (coverage {:.2}, margin {:.2})",
            outcome.hits[0].id, outcome.coverage, outcome.margin
        );
    }
}

#[test]
fn out_of_scope_questions_are_not_confident() {
    let index = real_index();
    for question in ["梅州明天天气怎么样", "帮我写一首诗", "你好"] {
        let outcome = index.search(question, 4);
        assert!(
            !outcome.confident,
            "`{question}` matched {:?} confidently",
            outcome.hits.first()
        );
    }
}

#[test]
fn empty_question_finds_nothing() {
    let outcome = real_index().search(" ？", 4);
    assert!(outcome.hits.is_empty());
    assert!(!outcome.confident);
}

#[test]
fn development_questions_reach_accuracy() {
    let Some(questions) = shared_file("eval/faq_dev.jsonl") else {
        return;
    };
    let report = evaluate_file(real_index(), &questions).expect("question file is valid");
    println!("{report}");
    assert!(report.faq_turns > 0);
    assert!(report.top_hit_accuracy() >= 0.95, "{report}");
    assert!(report.confident_accuracy() >= 0.95, "{report}");
    assert!(report.other_confident.is_empty(), "{report}");
}

/// The assistant sends a question with a metric word to the metric path
/// before the knowledge base, so the judgement is only a second guard
/// there: a few metric questions that read like how-to questions (对公存款有多少
/// against the entry on 协定存款) pass it.
#[test]
fn most_metric_questions_are_not_confident() {
    let Some(questions) = shared_file("eval/metrics_dev.jsonl") else {
        return;
    };
    let report = evaluate_file(real_index(), &questions).expect("question file is valid");
    println!("{report}");
    assert_eq!(report.faq_turns, 0);
    assert!(report.other_turns > 0);
    assert!(
        report.other_confident.len() * 10 <= report.other_turns,
        "{report}"
    );
}

#[test]
fn reload_finds_edited_phrasing() {
    let folder = copy_of_knowledge_base();
    let (index, _) = FaqIndex::open(folder.path()).expect("copy loads");
    let question = "自助机器把卡吃了";
    let before = index.search(question, 4);
    let already_found =
        before.confident && before.hits.first().is_some_and(|hit| hit.id == "lim-atm");
    assert!(!already_found, "`{question}` already finds lim-atm");

    let file = folder.path().join("lim-atm.md");
    let text = std::fs::read_to_string(&file).expect("entry is readable");
    let edited = text.replacen("phrasings:\n", &format!("phrasings:\n  - {question}\n"), 1);
    assert_ne!(edited, text, "lim-atm.md has no `phrasings:` line");
    std::fs::write(&file, edited).expect("entry is writable");

    assert_eq!(index.reload().expect("edited copy reloads"), index.len());
    assert_confident_match(&index, question, "lim-atm");
}

#[test]
fn reload_if_changed_notices_a_new_entry() {
    let folder = copy_of_knowledge_base();
    let (index, _) = FaqIndex::open(folder.path()).expect("copy loads");
    let before = index.len();
    assert!(!index.reload_if_changed().expect("folder is readable"));

    let entry = "---\nid: svc-parking\ncategory: 服务\nquestion: 网点有停车位吗？\nphrasings: [去银行办事停车方便吗]\nkeywords: [停车, 车位]\n---\n各网点停车条件不同，请在App“网点查询”中查看。\n";
    std::fs::write(folder.path().join("svc-parking.md"), entry).expect("entry is writable");

    assert!(index.reload_if_changed().expect("new entry is valid"));
    assert_eq!(index.len(), before + 1);
    assert_confident_match(&index, "去银行停车方便吗", "svc-parking");
}

#[test]
fn failed_reload_keeps_old_index() {
    let folder = copy_of_knowledge_base();
    let (index, _) = FaqIndex::open(folder.path()).expect("copy loads");
    let before = index.len();

    let file = folder.path().join("lim-atm.md");
    let text = std::fs::read_to_string(&file).expect("entry is readable");
    std::fs::write(&file, text.replacen("question:", "questoin:", 1)).expect("entry is writable");

    let Err(FaqError::Invalid(diagnostics)) = index.reload() else {
        panic!("a misspelt key must fail the reload");
    };
    let path = file.display();
    let expected = [
        format!("{path}:4:1: unknown key `questoin`: did you mean `question`?"),
        format!("{path}:2:1: missing key `question`: add `question: ...` to the front matter"),
    ];
    let messages: Vec<String> = diagnostics.0.iter().map(ToString::to_string).collect();
    assert_eq!(messages, expected);
    assert_eq!(index.len(), before);
    assert_confident_match(&index, "ATM取款限额是多少？", "lim-atm");
}

#[test]
fn malformed_entries_report_positions() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let valid = "---\nid: tf-fee\ncategory: 转账汇款\nquestion: 转账要手续费吗？\nkeywords: [手续费]\n---\n以App公示为准。\n";
    let unclosed_list = "---\nid: tf-how\ncategory: 转账汇款\nquestion: 手机银行怎么转账？\nphrasings: [怎么转账\n---\n在首页点“转账”。\n";
    let wrong_types = "---\nid: tf-cancel\ncategory:\n  - 转账汇款\nquestion: 转账可以撤销吗？\nkeywords: 撤销\nsource: 柜面\n---\n\n";
    std::fs::write(folder.path().join("tf-fee.md"), valid).expect("write");
    std::fs::write(folder.path().join("tf-how.md"), unclosed_list).expect("write");
    std::fs::write(folder.path().join("tf-cancel.md"), wrong_types).expect("write");

    let (index, diagnostics) = FaqIndex::open(folder.path()).expect("the valid entry loads");
    assert_eq!(index.len(), 1);
    assert_confident_match(&index, "转账收手续费吗", "tf-fee");

    let cancel = folder.path().join("tf-cancel.md");
    let how = folder.path().join("tf-how.md");
    let messages: Vec<String> = diagnostics.0.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert_eq!(
        messages[0],
        format!(
            "{}:7:1: unknown key `source`: the keys are `id`, `category`, `question`, `phrasings`, `keywords`",
            cancel.display()
        )
    );
    assert_eq!(
        messages[1],
        format!(
            "{}:4:3: `category` must be text, found a list",
            cancel.display()
        )
    );
    assert_eq!(
        messages[2],
        format!(
            "{}:6:11: `keywords` must be a list such as `[a, b]` or lines starting with `- `, found a scalar",
            cancel.display()
        )
    );
    assert_eq!(
        messages[3],
        format!(
            "{}:9:1: the answer is empty: write it in Markdown after the closing `---` line",
            cancel.display()
        )
    );
    assert!(
        messages[4].starts_with(&format!("{}:", how.display())),
        "{}",
        messages[4]
    );
    assert!(messages[4].contains(": invalid YAML: "), "{}", messages[4]);
}

#[test]
fn searches_continue_during_reload() {
    let folder = copy_of_knowledge_base();
    let (index, _) = FaqIndex::open(folder.path()).expect("copy loads");
    let index = Arc::new(index);

    let searchers: Vec<_> = (0..4)
        .map(|_| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let outcome = index.search("手机银行转账限额怎么调高", 4);
                    assert_eq!(
                        outcome.hits.first().map(|hit| hit.id.as_str()),
                        Some("lim-raise")
                    );
                }
            })
        })
        .collect();
    for _ in 0..5 {
        index.reload().expect("copy reloads");
    }
    for searcher in searchers {
        searcher.join().expect("searches succeed");
    }
}
