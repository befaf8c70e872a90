//! Knowledge-base entries: one Markdown file per entry, whose YAML front
//! matter (between the first two `---` lines) names the entry and the ways
//! people ask for it, followed by the answer in Markdown.
//!
//! ```text
//! ---
//! id: lim-raise
//! category: 限额
//! question: 手机银行转账限额怎么调高？
//! phrasings: [转账额度不够用, 单日限额想提高]
//! keywords: [限额, 额度, U盾]
//! ---
//! 在“安全中心—限额管理”中调整……
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::{self, Node, Span};

use super::FaqError;

/// The keys a front matter may contain.
const KEYS: &[&str] = &["id", "category", "question", "phrasings", "keywords"];

/// One knowledge-base entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqEntry {
    /// The file name without `.md`, such as `lim-raise`.
    pub id: String,
    pub category: String,
    /// The canonical question, shown to the user with the answer.
    pub question: String,
    /// Other ways people ask the same question, typos and colloquial forms included.
    pub phrasings: Vec<String>,
    pub keywords: Vec<String>,
    /// The Markdown after the front matter, without surrounding blank lines.
    pub answer: String,
}

/// One problem found in a knowledge-base file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based; 0 when the problem concerns the whole file.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// All problems found while loading a knowledge-base folder, one per line
/// when displayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            writeln!(formatter, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// The valid entries of a folder, and the problems of the files that were
/// left out.
#[derive(Debug, Clone, Default)]
pub struct LoadedEntries {
    /// In file-name order.
    pub entries: Vec<FaqEntry>,
    pub diagnostics: Diagnostics,
}

/// Reads every `*.md` file directly in `dir` except `README.md`. A file
/// with a problem is left out and its problems are listed; the others load.
///
/// # Errors
///
/// [`FaqError::Folder`] when the folder cannot be listed.
pub fn load_dir(dir: &Path) -> Result<LoadedEntries, FaqError> {
    let mut files = markdown_files(dir)?;
    files.sort();

    let mut loaded = LoadedEntries::default();
    for path in files {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                loaded.diagnostics.0.push(Diagnostic {
                    file: name,
                    line: 0,
                    column: 0,
                    message: format!("cannot read the file: {error}"),
                });
                continue;
            }
        };
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default();
        match parse_entry(&name, stem, &text) {
            Ok(entry) => loaded.entries.push(entry),
            Err(mut problems) => loaded.diagnostics.0.append(&mut problems),
        }
    }
    Ok(loaded)
}

/// Lists the entry files of `dir`, unsorted.
pub(super) fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>, FaqError> {
    let folder_error = |source| FaqError::Folder {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for item in std::fs::read_dir(dir).map_err(folder_error)? {
        let path = item.map_err(folder_error)?.path();
        let is_markdown = path.extension().is_some_and(|extension| extension == "md");
        let is_readme = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.eq_ignore_ascii_case("README.md"));
        if is_markdown && !is_readme && path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

/// Parses one entry file. `file` names it in diagnostics and `stem` is its
/// name without `.md`, which the id must equal.
///
/// # Errors
///
/// Every problem of the file, each with its line and column.
pub fn parse_entry(file: &str, stem: &str, text: &str) -> Result<FaqEntry, Vec<Diagnostic>> {
    let mut problems = Problems {
        file,
        list: Vec::new(),
    };
    let Some(parts) = split_front_matter(text) else {
        problems.push(
            Span { line: 1, column: 1 },
            "missing front matter: the file must start with a `---` line, then the YAML keys, then a closing `---` line"
                .to_owned(),
        );
        return Err(problems.list);
    };
    let Some(body_line) = parts.body_line else {
        problems.push(
            Span { line: 1, column: 1 },
            "the front matter is not closed: add a `---` line between the YAML keys and the answer"
                .to_owned(),
        );
        return Err(problems.list);
    };

    let documents = match yaml::parse_documents(parts.yaml) {
        Ok(documents) => documents,
        Err(error) => {
            problems.push_yaml(error.span, format!("invalid YAML: {}", error.message));
            return Err(problems.list);
        }
    };
    let Some(root) = documents.first() else {
        problems.push(
            Span { line: 1, column: 1 },
            "the front matter is empty: it needs at least `id`, `category` and `question`"
                .to_owned(),
        );
        return Err(problems.list);
    };
    let Some(mapping) = root.as_mapping() else {
        problems.push_yaml(
            root.span,
            format!(
                "the front matter must be a mapping of keys such as `id: ...`, found {}",
                root.kind_name()
            ),
        );
        return Err(problems.list);
    };

    check_keys(mapping, &mut problems);
    let front_matter_start = Span { line: 2, column: 1 };
    let id = problems.required_text(root, "id", front_matter_start);
    let category = problems.required_text(root, "category", front_matter_start);
    let question = problems.required_text(root, "question", front_matter_start);
    let phrasings = problems.text_list(root, "phrasings");
    let keywords = problems.text_list(root, "keywords");

    if let Some((id, span)) = &id {
        check_id(id, *span, stem, &mut problems);
    }
    let answer = parts.body.trim();
    if answer.is_empty() {
        problems.push(
            Span {
                line: body_line,
                column: 1,
            },
            "the answer is empty: write it in Markdown after the closing `---` line".to_owned(),
        );
    }

    if !problems.list.is_empty() {
        return Err(problems.list);
    }
    let (Some((id, _)), Some((category, _)), Some((question, _))) = (id, category, question) else {
        unreachable!("a missing key is reported as a problem");
    };
    Ok(FaqEntry {
        id,
        category,
        question,
        phrasings,
        keywords,
        answer: answer.to_owned(),
    })
}

/// The front matter and the answer of an entry file.
struct FrontMatter<'t> {
    /// The lines between the two `---` lines; line 1 of this text is line 2 of the file.
    yaml: &'t str,
    body: &'t str,
    /// The file line where the body starts, or None when the closing `---` is missing.
    body_line: Option<usize>,
}

/// Splits a file at its `---` lines; None when the first line is not `---`.
fn split_front_matter(text: &str) -> Option<FrontMatter<'_>> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next()?;
    if first.trim_end() != "---" {
        return None;
    }

    let yaml_start = first.len();
    let mut offset = yaml_start;
    for (index, line) in lines.enumerate() {
        if line.trim_end() == "---" {
            return Some(FrontMatter {
                yaml: &text[yaml_start..offset],
                body: &text[offset + line.len()..],
                // The first line is `---`, the YAML's lines follow from line 2
                // and this closing line is line `index + 2`.
                body_line: Some(index + 3),
            });
        }
        offset += line.len();
    }
    Some(FrontMatter {
        yaml: &text[yaml_start..],
        body: "",
        body_line: None,
    })
}

/// Reports unknown and duplicate keys.
fn check_keys(mapping: &[(Node, Node)], problems: &mut Problems<'_>) {
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for (key, _) in mapping {
        let Some(name) = key.as_str() else {
            problems.push_yaml(
                key.span,
                format!("a key must be a plain name, found {}", key.kind_name()),
            );
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(seen_name, _)| *seen_name == name) {
            let first_line = first.line + 1;
            problems.push_yaml(
                key.span,
                format!("duplicate key `{name}`: it is already set on line {first_line}"),
            );
            continue;
        }
        seen.push((name, key.span));
        if !KEYS.contains(&name) {
            let hint = match closest_key(name) {
                Some(closest) => format!("did you mean `{closest}`?"),
                None => format!(
                    "the keys are {}",
                    KEYS.iter()
                        .map(|key| format!("`{key}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            problems.push_yaml(key.span, format!("unknown key `{name}`: {hint}"));
        }
    }
}

/// Returns the known key closest to a misspelt `name`, if it is close
/// enough to be a typo.
fn closest_key(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (strsim::normalized_damerau_levenshtein(name, key), *key))
        .filter(|(similarity, _)| *similarity >= 0.5)
        .max_by(|left, right| left.0.total_cmp(&right.0))
        .map(|(_, key)| key)
}

/// Checks that an id is a file-name-safe slug equal to the file's name.
fn check_id(id: &str, span: Span, stem: &str, problems: &mut Problems<'_>) {
    let is_slug = id.chars().all(|character| {
        character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
    });
    if !is_slug {
        problems.push(
            span,
            format!("invalid id `{id}`: use lowercase ASCII letters, digits and `-` only"),
        );
        return;
    }
    if id != stem {
        problems.push(
            span,
            format!("the id `{id}` differs from the file name `{stem}.md`: rename the file to `{id}.md` or change the id"),
        );
    }
}

/// The problems of one file, with YAML positions moved to file positions.
struct Problems<'f> {
    file: &'f str,
    list: Vec<Diagnostic>,
}

impl Problems<'_> {
    /// Records a problem at `span`, a position in the file.
    fn push(&mut self, span: Span, message: String) {
        self.list.push(Diagnostic {
            file: self.file.to_owned(),
            line: span.line,
            column: span.column,
            message,
        });
    }

    /// Records a problem at a YAML position, shifted by the opening `---` line.
    fn push_yaml(&mut self, span: Span, message: String) {
        let file_span = Span {
            line: span.line + 1,
            column: span.column,
        };
        self.push(file_span, message);
    }

    /// Reads a key whose value must be non-empty text; returns the text and
    /// its file position.
    fn required_text(
        &mut self,
        root: &Node,
        key: &str,
        missing_at: Span,
    ) -> Option<(String, Span)> {
        let Some(node) = root.get(key) else {
            self.push(
                missing_at,
                format!("missing key `{key}`: add `{key}: ...` to the front matter"),
            );
            return None;
        };
        let text = self.text_of(node, &format!("`{key}`"))?;
        Some((
            text,
            Span {
                line: node.span.line + 1,
                column: node.span.column,
            },
        ))
    }

    /// Reads a scalar as trimmed, non-empty text; `what` names the value in
    /// messages.
    fn text_of(&mut self, node: &Node, what: &str) -> Option<String> {
        if node.is_null() {
            self.push_yaml(node.span, format!("{what} is empty: write its text"));
            return None;
        }
        let Some(text) = node.as_str() else {
            self.push_yaml(
                node.span,
                format!("{what} must be text, found {}", node.kind_name()),
            );
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            self.push_yaml(node.span, format!("{what} is empty: write its text"));
            return None;
        }
        Some(text.to_owned())
    }

    /// Reads an optional list of non-empty texts; a missing key is an empty list.
    fn text_list(&mut self, root: &Node, key: &str) -> Vec<String> {
        let Some(node) = root.get(key) else {
            return Vec::new();
        };
        if node.is_null() {
            return Vec::new();
        }
        let Some(items) = node.as_sequence() else {
            self.push_yaml(
                node.span,
                format!(
                    "`{key}` must be a list such as `[a, b]` or lines starting with `- `, found {}",
                    node.kind_name()
                ),
            );
            return Vec::new();
        };
        let what = format!("an item of `{key}`");
        items
            .iter()
            .filter_map(|item| self.text_of(item, &what))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "---\nid: lim-raise\ncategory: 限额\nquestion: 限额怎么调高？\nphrasings:\n  - 额度不够\nkeywords: [限额, U盾]\n---\n\n在安全中心调整。\n";

    #[test]
    fn valid_entry_parses() {
        let entry = parse_entry("lim-raise.md", "lim-raise", VALID).unwrap();
        assert_eq!(entry.id, "lim-raise");
        assert_eq!(entry.category, "限额");
        assert_eq!(entry.question, "限额怎么调高？");
        assert_eq!(entry.phrasings, vec!["额度不够"]);
        assert_eq!(entry.keywords, vec!["限额", "U盾"]);
        assert_eq!(entry.answer, "在安全中心调整。");
    }

    #[test]
    fn crlf_line_endings_parse() {
        let text = VALID.replace('\n', "\r\n");
        let entry = parse_entry("lim-raise.md", "lim-raise", &text).unwrap();
        assert_eq!(entry.keywords, vec!["限额", "U盾"]);
        assert_eq!(entry.answer, "在安全中心调整。");
    }

    fn messages(text: &str) -> Vec<String> {
        parse_entry("x.md", "lim-raise", text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn problems_carry_file_positions() {
        let text = "---\nid: lim-raise\ncategory: 限额\nquestoin: 限额怎么调高？\nphrasings: 额度不够\nkeywords: [限额, [U盾]]\n---\n";
        assert_eq!(
            messages(text),
            vec![
                "x.md:4:1: unknown key `questoin`: did you mean `question`?",
                "x.md:2:1: missing key `question`: add `question: ...` to the front matter",
                "x.md:5:12: `phrasings` must be a list such as `[a, b]` or lines starting with `- `, found a scalar",
                "x.md:6:16: an item of `keywords` must be text, found a list",
                "x.md:8:1: the answer is empty: write it in Markdown after the closing `---` line",
            ]
        );
    }

    #[test]
    fn syntax_error_position() {
        let text = "---\nid: lim-raise\nquestion: [unclosed\n---\nanswer\n";
        let problems = messages(text);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("x.md:"), "{problems:?}");
        assert!(problems[0].contains("invalid YAML"), "{problems:?}");
    }

    #[test]
    fn front_matter_missing_or_unclosed() {
        assert_eq!(
            messages("id: lim-raise\n"),
            vec![
                "x.md:1:1: missing front matter: the file must start with a `---` line, then the YAML keys, then a closing `---` line"
            ]
        );
        assert_eq!(
            messages("---\nid: lim-raise\n"),
            vec![
                "x.md:1:1: the front matter is not closed: add a `---` line between the YAML keys and the answer"
            ]
        );
    }

    #[test]
    fn id_must_match_file_name() {
        let text = VALID.replace("id: lim-raise", "id: lim-rise");
        assert_eq!(
            messages(&text),
            vec![
                "x.md:2:5: the id `lim-rise` differs from the file name `lim-raise.md`: rename the file to `lim-rise.md` or change the id"
            ]
        );
    }

    #[test]
    fn duplicate_key_reported() {
        let text = VALID.replace("category: 限额\n", "category: 限额\ncategory: 转账\n");
        assert_eq!(
            messages(&text),
            vec!["x.md:4:1: duplicate key `category`: it is already set on line 3"]
        );
    }
}
