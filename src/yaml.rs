//! YAML parsed into a small tree that keeps the line and column of each node.
//!
//! The semantic-layer loader reads this tree by hand instead of through serde
//! so that every problem (an unknown key, a wrong type, a dangling name) is
//! reported at its own position, and all problems of a file in one pass.
//! Duplicate keys are kept in order so the loader can report them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Span {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar as written; `quoted` is false for plain scalars, which YAML
    /// may read as null, a boolean or a number.
    Scalar {
        text: String,
        quoted: bool,
    },
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

impl Node {
    /// The scalar's text, or None for a sequence or mapping.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for an empty plain scalar, `~` or `null`.
    pub fn is_null(&self) -> bool {
        match &self.value {
            Value::Scalar { text, quoted } => {
                !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Sequence(items) => Some(items),
            _ => None,
        }
    }

    /// Looks up a key in a mapping (the first occurrence).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_mapping()?
            .iter()
            .find(|(name, _)| name.as_str() == Some(key))
            .map(|(_, value)| value)
    }

    /// A short name of the node's shape for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }
}

/// A syntax error, with where the parser stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid YAML at {span}: {message}")]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

/// Parses every document of a YAML stream.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = TreeBuilder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| SyntaxError {
            message: error.info().to_owned(),
            span: Span {
                line: error.marker().line(),
                column: error.marker().col() + 1,
            },
        })?;
        let position = Span {
            line: span.start.line(),
            column: span.start.col() + 1,
        };
        builder.push(event, position)?;
    }
    Ok(builder.documents)
}

/// An open sequence or mapping, waiting for its items.
enum Frame {
    Sequence {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Mapping {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        span: Span,
        anchor: usize,
    },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Node>,
}

impl TreeBuilder {
    fn push(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    value: Value::Scalar {
                        text: Cow::into_owned(text),
                        quoted: style != ScalarStyle::Plain,
                    },
                    span,
                };
                self.remember(anchor, &node);
                self.attach(node);
            }
            Event::SequenceStart(anchor, _tag) => self.stack.push(Frame::Sequence {
                items: Vec::new(),
                span,
                anchor,
            }),
            Event::MappingStart(anchor, _tag) => self.stack.push(Frame::Mapping {
                entries: Vec::new(),
                pending_key: None,
                span,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(SyntaxError {
                        message: "unbalanced end of a collection".to_owned(),
                        span,
                    });
                };
                let (node, anchor) = match frame {
                    Frame::Sequence {
                        items,
                        span,
                        anchor,
                    } => (
                        Node {
                            value: Value::Sequence(items),
                            span,
                        },
                        anchor,
                    ),
                    Frame::Mapping {
                        entries,
                        span,
                        anchor,
                        ..
                    } => (
                        Node {
                            value: Value::Mapping(entries),
                            span,
                        },
                        anchor,
                    ),
                };
                self.remember(anchor, &node);
                self.attach(node);
            }
            Event::Alias(anchor) => {
                let Some(node) = self.anchors.get(&anchor).cloned() else {
                    return Err(SyntaxError {
                        message: "alias to an unknown anchor".to_owned(),
                        span,
                    });
                };
                self.attach(node);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn attach(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_one_based() {
        let documents = parse_documents("a: 1\nb:\n  - x\n  - y\n").unwrap();
        let root = &documents[0];
        let entries = root.as_mapping().unwrap();
        assert_eq!(entries[0].0.span, Span { line: 1, column: 1 });
        let list = root.get("b").unwrap().as_sequence().unwrap();
        assert_eq!(list[1].span, Span { line: 4, column: 5 });
    }

    #[test]
    fn several_documents_and_quoting() {
        let documents = parse_documents("---\nx: '1'\n---\ny: 2\n").unwrap();
        assert_eq!(documents.len(), 2);
        let quoted = documents[0].get("x").unwrap();
        assert_eq!(
            quoted.value,
            Value::Scalar {
                text: "1".to_owned(),
                quoted: true
            }
        );
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let documents = parse_documents("a: 1\na: 2\n").unwrap();
        assert_eq!(documents[0].as_mapping().unwrap().len(), 2);
    }

    #[test]
    fn syntax_error_has_position() {
        let error = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(error.span.line >= 1, "{error}");
    }

    #[test]
    fn aliases_resolve() {
        let documents = parse_documents("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(
            documents[0].get("b").unwrap().get("k").unwrap().as_str(),
            Some("v")
        );
    }
}
