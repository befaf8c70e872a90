//! Reading the declarative integration cases (`itest_*.yaml`).
//!
//! Each YAML document contains one case under `integration_test:`. A document
//! that cannot be read becomes a [`BadCase`] so that the runner reports it as
//! a failure and goes on with the other cases.

use std::path::{Path, PathBuf};

use crate::yaml::{self, Node};

/// One integration case, as written in the fixture file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Case {
    pub name: String,
    /// `file:line` of the case, for messages about the fixture itself.
    pub location: String,
    pub model: String,
    pub metrics: Vec<String>,
    pub group_bys: Vec<String>,
    pub group_by_objects: Vec<GroupByObject>,
    /// A Jinja template that renders to MetricFlow's filter syntax.
    pub where_filter: Option<String>,
    pub order_bys: Vec<String>,
    pub limit: Option<u64>,
    /// Inclusive start and end of `metric_time`, as written.
    pub time_constraint: Option<(String, String)>,
    pub check_order: bool,
    pub min_max_only: bool,
    /// False when the case requests rows without deduplication.
    pub apply_group_by: bool,
    pub saved_query_name: Option<String>,
    /// A Jinja template of the SQL that computes the expected rows.
    pub check_query: String,
}

/// A structured group-by item (`group_by_objs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GroupByObject {
    pub name: String,
    pub grain: Option<String>,
    pub date_part: Option<String>,
}

/// A case document that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BadCase {
    /// The case name when it could be read, else `file:line`.
    pub label: String,
    pub reason: String,
}

/// Keys of `integration_test` that carry no query input: they are read so
/// that a misspelt key is still reported.
const DESCRIPTIVE_KEYS: [&str; 3] = ["description", "required_features", "allow_empty"];

/// Lists the case files of `dir` (`*.yaml` and `*.yml`), sorted by name.
pub(crate) fn case_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| extension == "yaml" || extension == "yml");
        if path.is_file() && is_yaml {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every case of one file; unreadable documents come back as [`BadCase`].
pub(crate) fn read_case_file(path: &Path) -> Vec<Result<Case, BadCase>> {
    let file_name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            return vec![Err(BadCase {
                label: file_name.clone(),
                reason: format!("cannot read case file `{file_name}`: {error}"),
            })];
        }
    };
    let documents = match yaml::parse_documents(&text) {
        Ok(documents) => documents,
        Err(error) => {
            return vec![Err(BadCase {
                label: file_name.clone(),
                reason: format!("cannot parse case file `{file_name}`: {error}"),
            })];
        }
    };

    documents
        .iter()
        .filter(|document| !document.is_null())
        .map(|document| parse_case(document, &file_name))
        .collect()
}

fn parse_case(document: &Node, file_name: &str) -> Result<Case, BadCase> {
    let location = format!("{file_name}:{}", document.span.line);
    let bad = |label: &str, reason: String| BadCase {
        label: label.to_owned(),
        reason: format!("{reason} (at {location})"),
    };

    let Some(body) = document.get("integration_test") else {
        return Err(bad(
            &location,
            "document has no `integration_test` key".to_owned(),
        ));
    };
    let Some(entries) = body.as_mapping() else {
        return Err(bad(
            &location,
            format!(
                "`integration_test` is {}, expected a mapping",
                body.kind_name()
            ),
        ));
    };
    let Some(name) = body.get("name").and_then(Node::as_str) else {
        return Err(bad(&location, "case has no `name`".to_owned()));
    };

    let mut case = Case {
        name: name.to_owned(),
        location: location.clone(),
        apply_group_by: true,
        ..Case::default()
    };
    let mut problems = Vec::new();
    for (key, value) in entries {
        let key_text = key.as_str().unwrap_or_default();
        let field = FieldReader {
            key: key_text,
            value,
            problems: &mut problems,
        };
        match key_text {
            "name" => {}
            "model" => case.model = field.string().unwrap_or_default(),
            "metrics" => case.metrics = field.string_list(),
            "group_bys" => case.group_bys = field.string_list(),
            "group_by_objs" => case.group_by_objects = field.group_by_objects(),
            "where_filter" => case.where_filter = field.optional_string(),
            "order_bys" => case.order_bys = field.string_list(),
            "limit" => case.limit = field.unsigned(),
            "time_constraint" => case.time_constraint = field.time_constraint(),
            "check_order" => case.check_order = field.boolean(),
            "min_max_only" => case.min_max_only = field.boolean(),
            "apply_group_by" => case.apply_group_by = field.boolean(),
            "saved_query_name" => case.saved_query_name = field.optional_string(),
            "check_query" => case.check_query = field.string().unwrap_or_default(),
            known if DESCRIPTIVE_KEYS.contains(&known) => {}
            unknown => problems.push(format!("unknown key `{unknown}`")),
        }
    }
    if case.model.is_empty() {
        problems.push("missing `model`".to_owned());
    }
    if case.check_query.trim().is_empty() {
        problems.push("missing `check_query`".to_owned());
    }

    if problems.is_empty() {
        Ok(case)
    } else {
        Err(bad(name, format!("invalid case: {}", problems.join("; "))))
    }
}

/// Reads one value of a case, recording a problem when its shape is wrong.
struct FieldReader<'a> {
    key: &'a str,
    value: &'a Node,
    problems: &'a mut Vec<String>,
}

impl FieldReader<'_> {
    fn wrong_shape(self, expected: &str) {
        self.problems.push(format!(
            "`{}` is {}, expected {expected}",
            self.key,
            self.value.kind_name()
        ));
    }

    fn string(self) -> Option<String> {
        match self.value.as_str() {
            Some(text) if !self.value.is_null() => Some(text.to_owned()),
            _ => {
                self.wrong_shape("a string");
                None
            }
        }
    }

    fn optional_string(self) -> Option<String> {
        if self.value.is_null() {
            return None;
        }
        self.string()
    }

    fn string_list(self) -> Vec<String> {
        if self.value.is_null() {
            return Vec::new();
        }
        let Some(items) = self.value.as_sequence() else {
            self.wrong_shape("a list of strings");
            return Vec::new();
        };
        let texts: Option<Vec<String>> = items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect();
        match texts {
            Some(texts) => texts,
            None => {
                self.wrong_shape("a list of strings");
                Vec::new()
            }
        }
    }

    fn boolean(self) -> bool {
        match self.value.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => {
                self.wrong_shape("true or false");
                false
            }
        }
    }

    fn unsigned(self) -> Option<u64> {
        if self.value.is_null() {
            return None;
        }
        let parsed = self.value.as_str().and_then(|text| text.parse().ok());
        if parsed.is_none() {
            self.wrong_shape("a non-negative integer");
        }
        parsed
    }

    fn time_constraint(self) -> Option<(String, String)> {
        if self.value.is_null() {
            return None;
        }
        let bounds: Option<Vec<&str>> = self
            .value
            .as_sequence()
            .map(|items| items.iter().filter_map(Node::as_str).collect());
        match bounds.as_deref() {
            Some([start, end]) => Some(((*start).to_owned(), (*end).to_owned())),
            _ => {
                self.wrong_shape("a list of a start and an end");
                None
            }
        }
    }

    fn group_by_objects(self) -> Vec<GroupByObject> {
        let Some(items) = self.value.as_sequence() else {
            self.wrong_shape("a list of mappings");
            return Vec::new();
        };
        let mut objects = Vec::new();
        for item in items {
            let text_of = |key: &str| item.get(key).and_then(Node::as_str).map(str::to_owned);
            let Some(name) = text_of("name") else {
                self.problems
                    .push(format!("an item of `{}` has no `name`", self.key));
                continue;
            };
            objects.push(GroupByObject {
                name,
                grain: text_of("grain"),
                date_part: text_of("date_part"),
            });
        }
        objects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(text: &str) -> Result<Case, BadCase> {
        let documents = yaml::parse_documents(text).unwrap();
        parse_case(&documents[0], "cases.yaml")
    }

    #[test]
    fn case_fields_are_read() {
        let case = parse_one(
            "integration_test:\n  name: c\n  description: d\n  model: SIMPLE_MODEL\n  metrics: [\"bookings\"]\n  group_bys:\n    [\"metric_time\", \"booking__is_instant\"]\n  group_by_objs: [{\"name\": \"metric_time\", \"grain\": \"month\"}]\n  order_bys: [\"-bookings\"]\n  limit: 3\n  time_constraint: [\"2020-01-01\", \"2020-01-02\"]\n  check_order: true\n  check_query: SELECT 1\n",
        )
        .unwrap();

        assert_eq!(case.name, "c");
        assert_eq!(case.model, "SIMPLE_MODEL");
        assert_eq!(case.metrics, ["bookings"]);
        assert_eq!(case.group_bys, ["metric_time", "booking__is_instant"]);
        assert_eq!(case.group_by_objects[0].grain.as_deref(), Some("month"));
        assert_eq!(case.order_bys, ["-bookings"]);
        assert_eq!(case.limit, Some(3));
        assert_eq!(
            case.time_constraint,
            Some(("2020-01-01".to_owned(), "2020-01-02".to_owned()))
        );
        assert!(case.check_order);
        assert!(case.apply_group_by);
        assert_eq!(case.location, "cases.yaml:1");
    }

    #[test]
    fn unknown_key_is_reported() {
        let error = parse_one(
            "integration_test:\n  name: c\n  model: M\n  metricz: [a]\n  check_query: SELECT 1\n",
        )
        .unwrap_err();

        assert_eq!(error.label, "c");
        assert_eq!(
            error.reason,
            "invalid case: unknown key `metricz` (at cases.yaml:1)"
        );
    }

    #[test]
    fn missing_check_query_is_reported() {
        let error = parse_one("integration_test:\n  name: c\n  model: M\n").unwrap_err();

        assert_eq!(
            error.reason,
            "invalid case: missing `check_query` (at cases.yaml:1)"
        );
    }

    #[test]
    fn empty_group_bys_read_as_empty() {
        let case = parse_one(
            "integration_test:\n  name: c\n  model: M\n  group_bys: []\n  metrics:\n  check_query: SELECT 1\n",
        )
        .unwrap();

        assert!(case.group_bys.is_empty());
        assert!(case.metrics.is_empty());
    }
}
