//! Hot reload: the semantic layer and the knowledge base are checked every
//! few seconds and reloaded when their files change (or at once through
//! `POST /api/admin/reload`). A file with a mistake keeps the previous
//! version serving; its errors go to the log and to `GET /api/health`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::assistant::{Assistant, QuerySettings};

use super::state::AppState;

/// How often the files are checked for changes.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The files a new assistant is loaded from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub semantic_layer: PathBuf,
    pub warehouse: crate::warehouse::WarehouseSource,
    pub settings: QuerySettings,
}

/// Loads the semantic layer again and, when it is valid, serves with the
/// new assistant (keeping the knowledge base). Returns whether it did.
pub async fn reload_now(state: &AppState) -> bool {
    let (Some(sources), Some(current)) = (state.sources(), state.assistant()) else {
        return false;
    };
    let task_sources = sources.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        Assistant::connect(
            &task_sources.semantic_layer,
            &task_sources.warehouse,
            task_sources.settings.clone(),
        )
        .map(|assistant| {
            let assistant = match current.knowledge_base() {
                Some(knowledge_base) => assistant.with_knowledge_base(knowledge_base),
                None => assistant,
            };
            match current.llm() {
                Some((client, mode)) => assistant.with_llm(client, mode),
                None => assistant,
            }
        })
    })
    .await;
    match loaded {
        Ok(Ok(assistant)) => {
            let state = state.clone();
            let marked =
                tokio::task::spawn_blocking(move || state.mark_ready(Arc::new(assistant))).await;
            if let Err(error) = marked {
                tracing::error!(%error, "the reload task failed");
                return false;
            }
            tracing::info!(folder = %sources.semantic_layer.display(), "semantic layer reloaded");
            true
        }
        Ok(Err(error)) => {
            let errors: Vec<String> = error
                .to_string()
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(str::to_owned)
                .collect();
            tracing::warn!(
                %error,
                "semantic layer not reloaded; the previous version keeps serving"
            );
            state.reload_failed(errors);
            false
        }
        Err(error) => {
            tracing::error!(%error, "the reload task failed");
            false
        }
    }
}

/// Checks the semantic layer and the knowledge base for changes, forever.
pub async fn watch(state: AppState) {
    let mut ticker = tokio::time::interval(CHECK_INTERVAL);
    let mut last = state
        .sources()
        .map(|sources| fingerprint(&sources.semantic_layer));
    loop {
        ticker.tick().await;
        if let Some(sources) = state.sources() {
            let folder = sources.semantic_layer.clone();
            let now = tokio::task::spawn_blocking(move || fingerprint(&folder))
                .await
                .unwrap_or_default();
            if last.as_ref() != Some(&now) {
                last = Some(now);
                reload_now(&state).await;
            }
        }

        let Some(assistant) = state.assistant() else {
            continue;
        };
        match tokio::task::spawn_blocking(move || assistant.reload_knowledge_base()).await {
            Ok(Ok(true)) => tracing::info!("knowledge base reloaded"),
            Ok(Ok(false)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "knowledge base not reloaded; the previous entries stay in use")
            }
            Err(error) => tracing::error!(%error, "knowledge-base reload task failed"),
        }
    }
}

/// The path, size and modification time of every file under `folder`.
fn fingerprint(folder: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = Vec::new();
    let mut pending = vec![folder.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(path);
            } else {
                files.push((path, metadata.len(), metadata.modified().ok()));
            }
        }
    }
    files.sort();
    files
}
