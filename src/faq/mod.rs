//! The e-banking FAQ: the `knowledge_base/` folder loaded into an in-memory
//! tantivy index with a Chinese (jieba) tokenizer, searched for how-to
//! questions such as 手机银行转账限额怎么调.
//!
//! A search returns scored entries and a judgement of whether the best one
//! is clearly the answer ([`SearchOutcome::confident`]), so that a weak or
//! ambiguous match becomes "not sure" with suggestions rather than a wrong
//! answer. [`FaqIndex::reload`] rebuilds the index from the folder and
//! swaps it in while searches go on.

mod analysis;
mod entry;
mod evaluate;
mod index;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::assistant::{KnowledgeBase, KnowledgeBaseHits};

pub use analysis::content_words;
pub use entry::{Diagnostic, Diagnostics, FaqEntry, LoadedEntries, load_dir, parse_entry};
pub use evaluate::{EvaluationError, EvaluationReport, FaqMiss, evaluate_file};
pub use index::SearchOutcome;

use index::EntryIndex;

/// Errors that stop a knowledge base from loading or reloading.
#[derive(Debug, thiserror::Error)]
pub enum FaqError {
    #[error("cannot read the knowledge-base folder `{path}`: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the knowledge base has invalid entries; fix them and reload:\n{0}")]
    Invalid(Diagnostics),
    #[error("the knowledge-base folder `{path}` has no entry: add `<id>.md` files")]
    Empty { path: PathBuf },
    #[error("cannot build the FAQ index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("this FAQ index was built from entries in memory, so it has no folder to reload")]
    NoFolder,
}

/// The searchable knowledge base. A rebuild runs outside the lock and only
/// the swap takes it, so searches go on during a rebuild, each with the
/// index that was current when it started.
pub struct FaqIndex {
    folder: Option<PathBuf>,
    current: RwLock<Arc<EntryIndex>>,
    /// The folder's file names, sizes and modification times at the last
    /// load, to tell whether it changed.
    loaded_state: Mutex<Vec<FileState>>,
}

/// A file's name, size and modification time.
type FileState = (PathBuf, u64, Option<SystemTime>);

impl FaqIndex {
    /// Loads `folder` and indexes its valid entries. The problems of the
    /// files left out are returned beside the index, for the caller to log.
    ///
    /// # Errors
    ///
    /// When the folder cannot be read, or no file in it is a valid entry.
    pub fn open(folder: &Path) -> Result<(FaqIndex, Diagnostics), FaqError> {
        let state = folder_state(folder)?;
        let loaded = load_dir(folder)?;
        if loaded.entries.is_empty() {
            if loaded.diagnostics.is_empty() {
                return Err(FaqError::Empty {
                    path: folder.to_path_buf(),
                });
            }
            return Err(FaqError::Invalid(loaded.diagnostics));
        }

        let index = EntryIndex::build(loaded.entries)?;
        let faq = FaqIndex {
            folder: Some(folder.to_path_buf()),
            current: RwLock::new(Arc::new(index)),
            loaded_state: Mutex::new(state),
        };
        Ok((faq, loaded.diagnostics))
    }

    /// Like [`FaqIndex::open`], logging the entries left out and the count
    /// loaded.
    pub fn open_logged(folder: &Path) -> Result<FaqIndex, FaqError> {
        let (index, diagnostics) = FaqIndex::open(folder)?;
        for diagnostic in &diagnostics.0 {
            tracing::warn!(%diagnostic, "knowledge-base entry left out");
        }
        tracing::info!(entries = index.len(), folder = %folder.display(), "knowledge base loaded");
        Ok(index)
    }

    /// Indexes entries held in memory; such an index cannot be reloaded.
    ///
    /// # Errors
    ///
    /// Only when tantivy fails to build the index.
    pub fn from_entries(entries: Vec<FaqEntry>) -> Result<FaqIndex, FaqError> {
        Ok(FaqIndex {
            folder: None,
            current: RwLock::new(Arc::new(EntryIndex::build(entries)?)),
            loaded_state: Mutex::new(Vec::new()),
        })
    }

    /// Rebuilds the index from the folder and swaps it in; returns the
    /// number of entries now searched. Unlike [`FaqIndex::open`], any
    /// problem keeps the current index: a file saved halfway through an
    /// edit must not drop its entry.
    ///
    /// # Errors
    ///
    /// [`FaqError::Invalid`] with every problem of the folder, or the
    /// errors of [`FaqIndex::open`]; the current index stays in use.
    pub fn reload(&self) -> Result<usize, FaqError> {
        let Some(folder) = &self.folder else {
            return Err(FaqError::NoFolder);
        };
        let state = folder_state(folder)?;
        *self
            .loaded_state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;

        let loaded = load_dir(folder)?;
        if !loaded.diagnostics.is_empty() {
            return Err(FaqError::Invalid(loaded.diagnostics));
        }
        if loaded.entries.is_empty() {
            return Err(FaqError::Empty {
                path: folder.clone(),
            });
        }

        let count = loaded.entries.len();
        let index = Arc::new(EntryIndex::build(loaded.entries)?);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = index;
        tracing::info!(folder = %folder.display(), entries = count, "FAQ index reloaded");
        Ok(count)
    }

    /// Reloads when a file of the folder was added, removed or changed
    /// (by size or modification time) since the last load; returns whether
    /// it reloaded. Cheap enough to call every few seconds.
    ///
    /// # Errors
    ///
    /// Those of [`FaqIndex::reload`]. A failed reload is not retried until
    /// the folder changes again.
    pub fn reload_if_changed(&self) -> Result<bool, FaqError> {
        let Some(folder) = &self.folder else {
            return Err(FaqError::NoFolder);
        };
        let state = folder_state(folder)?;
        let unchanged = *self
            .loaded_state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            == state;
        if unchanged {
            return Ok(false);
        }
        self.reload().map(|_| true)
    }

    /// Finds the best `limit` entries for `question`, best first, and
    /// judges whether the first is clearly the answer.
    pub fn search(&self, question: &str, limit: usize) -> SearchOutcome {
        self.snapshot().search(question, limit)
    }

    /// The entries searched now, in file-name order.
    pub fn entries(&self) -> Vec<FaqEntry> {
        self.snapshot().entries().to_vec()
    }

    pub fn len(&self) -> usize {
        self.snapshot().entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Arc<EntryIndex> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

impl KnowledgeBase for FaqIndex {
    fn search(&self, question: &str, limit: usize) -> KnowledgeBaseHits {
        let outcome = FaqIndex::search(self, question, limit);
        KnowledgeBaseHits {
            hits: outcome.hits,
            confident: outcome.confident,
        }
    }

    fn reload_if_changed(&self) -> Result<bool, String> {
        FaqIndex::reload_if_changed(self).map_err(|error| error.to_string())
    }
}

/// Lists the entry files of `folder` with their sizes and modification
/// times, sorted by name.
fn folder_state(folder: &Path) -> Result<Vec<FileState>, FaqError> {
    let mut state = Vec::new();
    for path in entry::markdown_files(folder)? {
        let metadata = std::fs::metadata(&path).ok();
        let size = metadata.as_ref().map_or(0, std::fs::Metadata::len);
        let modified = metadata.and_then(|metadata| metadata.modified().ok());
        state.push((path, size, modified));
    }
    state.sort();
    Ok(state)
}
