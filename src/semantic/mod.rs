//! The semantic layer: MetricFlow-compatible YAML with Wenshu's extensions.

pub mod model;

use std::fmt;
use std::path::Path;

pub use model::*;

/// One problem found in a semantic-layer file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The closest valid name, when the problem is a misspelt one.
    pub suggestion: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(suggestion) = &self.suggestion {
            write!(formatter, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

/// All problems found while loading a semantic layer.
#[derive(Debug, Clone, Default, PartialEq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            writeln!(formatter, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Loads every `*.yaml` and `*.yml` file under `dir` (recursively, in
/// path order) and validates the result.
pub fn load_dir(dir: &Path) -> Result<SemanticLayer, Diagnostics> {
    let mut files = Vec::new();
    if let Err(error) = collect_yaml_files(dir, &mut files) {
        return Err(Diagnostics(vec![Diagnostic {
            file: dir.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the semantic-layer folder: {error}"),
            suggestion: None,
        }]));
    }
    files.sort();

    let mut sources = Vec::new();
    let mut diagnostics = Vec::new();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push((path.display().to_string(), text)),
            Err(error) => diagnostics.push(Diagnostic {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read file: {error}"),
                suggestion: None,
            }),
        }
    }
    if sources.is_empty() && diagnostics.is_empty() {
        diagnostics.push(Diagnostic {
            file: dir.display().to_string(),
            line: 0,
            column: 0,
            message: "no `.yaml` or `.yml` files found".to_owned(),
            suggestion: None,
        });
    }
    match load_sources(&sources) {
        Ok(layer) if diagnostics.is_empty() => Ok(layer),
        Ok(_) => Err(Diagnostics(diagnostics)),
        Err(Diagnostics(more)) => {
            diagnostics.extend(more);
            Err(Diagnostics(diagnostics))
        }
    }
}

/// Loads and validates semantic-layer files given as (file name, contents).
pub fn load_sources(sources: &[(String, String)]) -> Result<SemanticLayer, Diagnostics> {
    let mut layer = SemanticLayer::default();
    let mut diagnostics = Vec::new();
    for (file, text) in sources {
        let mut report = reader::Report {
            file,
            diagnostics: &mut diagnostics,
        };
        match crate::yaml::parse_documents(text) {
            Ok(documents) => {
                for document in &documents {
                    load::load_document(document, file, &mut layer, &mut report);
                }
            }
            Err(error) => report.error(error.span, format!("invalid YAML: {}", error.message)),
        }
    }
    validate::validate(&layer, &mut diagnostics);
    if diagnostics.is_empty() {
        Ok(layer)
    } else {
        diagnostics.sort_by(|left, right| {
            (&left.file, left.line, left.column).cmp(&(&right.file, right.line, right.column))
        });
        Err(Diagnostics(diagnostics))
    }
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_yaml_files(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml")
        {
            files.push(path);
        }
    }
    Ok(())
}

mod load;
mod reader;
mod validate;

pub use validate::check_warehouse;

pub use load::parse_window;

/// Returns the candidate closest to `name`, if it is close enough to be a typo.
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    reader::closest(name, candidates)
}
