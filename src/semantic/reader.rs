//! Helpers that read the YAML tree into typed values and collect diagnostics.

use crate::yaml::{Node, Span};

use super::Diagnostic;

/// Collects the diagnostics of one file.
pub(crate) struct Report<'a> {
    pub file: &'a str,
    pub diagnostics: &'a mut Vec<Diagnostic>,
}

impl Report<'_> {
    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.push(span, message.into(), None);
    }

    pub fn error_with_suggestion(
        &mut self,
        span: Span,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) {
        self.push(span, message.into(), suggestion);
    }

    fn push(&mut self, span: Span, message: String, suggestion: Option<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.file.to_owned(),
            line: span.line,
            column: span.column,
            message,
            suggestion,
        });
    }
}

/// Returns the candidate closest to `name`, if it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let similarity = strsim::normalized_damerau_levenshtein(name, candidate);
        if best.is_none_or(|(score, _)| similarity > score) {
            best = Some((similarity, candidate));
        }
    }
    best.filter(|(score, _)| *score >= 0.5)
        .map(|(_, candidate)| candidate.to_owned())
}

/// The keys of one YAML mapping, read one by one; keys never read are
/// reported as unknown when the reader finishes.
pub(crate) struct Fields<'n> {
    entries: &'n [(Node, Node)],
    allowed: &'static [&'static str],
    context: &'static str,
    pub span: Span,
}

impl<'n> Fields<'n> {
    /// Starts reading `node` as a mapping with the given keys; reports and
    /// returns None when it is not a mapping.
    pub fn new(
        node: &'n Node,
        context: &'static str,
        allowed: &'static [&'static str],
        report: &mut Report<'_>,
    ) -> Option<Fields<'n>> {
        let Some(entries) = node.as_mapping() else {
            report.error(
                node.span,
                format!("{context} must be a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        Some(Fields {
            entries,
            allowed,
            context,
            span: node.span,
        })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        debug_assert!(self.allowed.contains(&key), "key `{key}` is not declared");
        self.entries
            .iter()
            .find(|(name, _)| name.as_str() == Some(key))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null())
    }

    /// A required string; reports a missing key.
    pub fn required_string(&self, key: &str, report: &mut Report<'_>) -> Option<String> {
        match self.get(key) {
            Some(node) => scalar(node, key, report),
            None => {
                report.error(
                    self.span,
                    format!("{} is missing the key `{key}`", self.context),
                );
                None
            }
        }
    }

    pub fn optional_string(&self, key: &str, report: &mut Report<'_>) -> Option<String> {
        self.get(key).and_then(|node| scalar(node, key, report))
    }

    pub fn optional_bool(&self, key: &str, report: &mut Report<'_>) -> Option<bool> {
        let node = self.get(key)?;
        let text = scalar(node, key, report)?;
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            _ => {
                report.error(
                    node.span,
                    format!("`{key}` must be true or false, found `{text}`"),
                );
                None
            }
        }
    }

    /// A list of strings; a single string is read as a list of one.
    pub fn string_list(&self, key: &str, report: &mut Report<'_>) -> Vec<String> {
        match self.get(key) {
            Some(node) => string_list(node, key, report),
            None => Vec::new(),
        }
    }

    /// Reports duplicate and unknown keys.
    pub fn finish(self, report: &mut Report<'_>) {
        for (index, (key, _)) in self.entries.iter().enumerate() {
            let Some(name) = key.as_str() else {
                report.error(
                    key.span,
                    format!("{} has a key that is not a string", self.context),
                );
                continue;
            };
            if self.entries[..index]
                .iter()
                .any(|(earlier, _)| earlier.as_str() == Some(name))
            {
                report.error(
                    key.span,
                    format!("duplicate key `{name}` in {}", self.context),
                );
                continue;
            }
            if !self.allowed.contains(&name) {
                let suggestion = closest(name, self.allowed.iter().copied());
                report.error_with_suggestion(
                    key.span,
                    format!("unknown key `{name}` in {}", self.context),
                    suggestion,
                );
            }
        }
    }
}

pub fn scalar(node: &Node, key: &str, report: &mut Report<'_>) -> Option<String> {
    match node.as_str() {
        Some(text) => Some(text.to_owned()),
        None => {
            report.error(
                node.span,
                format!("`{key}` must be a string, found {}", node.kind_name()),
            );
            None
        }
    }
}

pub fn string_list(node: &Node, key: &str, report: &mut Report<'_>) -> Vec<String> {
    if let Some(text) = node.as_str() {
        return vec![text.to_owned()];
    }
    let Some(items) = node.as_sequence() else {
        report.error(
            node.span,
            format!(
                "`{key}` must be a string or a list of strings, found {}",
                node.kind_name()
            ),
        );
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| scalar(item, key, report))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let names = ["measures", "dimensions", "entities"];
        assert_eq!(closest("measurs", names), Some("measures".to_owned()));
        assert_eq!(closest("zzz", names), None);
    }
}
