//! FAQ retrieval with embeddings from the model endpoint, fused with the
//! BM25 search of the tantivy index by reciprocal rank fusion.
//!
//! The entries are embedded once in the background after the knowledge
//! base loads and again after it changes; until then, and whenever the
//! endpoint fails, the BM25 search answers alone. A question's embedding
//! is asked for with the client's time limit and circuit breaker.
//!
//! Fusion keeps BM25's judgement of a clear answer: when BM25 is sure, its
//! best entry stays first. When it is not, the fused list is sure only if
//! both searches put the same entry first.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::assistant::{FaqHit, KnowledgeBase, KnowledgeBaseHits};
use crate::faq::{FaqEntry, FaqIndex};

use super::LlmClient;

/// The constant of reciprocal rank fusion: an entry at rank r (from 1)
/// adds 1 / (RRF_K + r).
pub const RRF_K: f32 = 60.0;
/// Entries taken from each search before fusion.
const CANDIDATES: usize = 10;
/// The maximum wait for a question's embedding. BM25 answers alone after
/// it, because every FAQ answer waits for this call.
const QUESTION_EMBEDDING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Entries embedded per request.
const BATCH: usize = 32;
/// Characters of an entry's answer embedded with its question and phrasings.
const ANSWER_CHARS: usize = 200;

/// The embeddings of the entries, with the entries they were made from.
#[derive(Default)]
struct EntryVectors {
    entries: Vec<FaqEntry>,
    vectors: Vec<Vec<f32>>,
}

/// The knowledge base searched by BM25 and by embeddings.
pub struct FusedKnowledgeBase {
    index: Arc<FaqIndex>,
    client: Arc<LlmClient>,
    model: String,
    vectors: Arc<RwLock<Arc<EntryVectors>>>,
}

impl FusedKnowledgeBase {
    pub fn new(index: Arc<FaqIndex>, client: Arc<LlmClient>, model: String) -> FusedKnowledgeBase {
        FusedKnowledgeBase {
            index,
            client,
            model,
            vectors: Arc::new(RwLock::new(Arc::new(EntryVectors::default()))),
        }
    }

    /// Embeds the current entries. On failure the previous embeddings stay
    /// (or none, and BM25 answers alone); the error is logged.
    pub async fn refresh(&self) {
        refresh(
            Arc::clone(&self.index),
            Arc::clone(&self.client),
            self.model.clone(),
            Arc::clone(&self.vectors),
        )
        .await;
    }

    /// Embeds the current entries on `runtime`, without waiting.
    pub fn refresh_in_background(&self, runtime: &tokio::runtime::Handle) {
        runtime.spawn(refresh(
            Arc::clone(&self.index),
            Arc::clone(&self.client),
            self.model.clone(),
            Arc::clone(&self.vectors),
        ));
    }

    /// Returns whether the entries have embeddings.
    pub fn is_embedded(&self) -> bool {
        !self.snapshot().vectors.is_empty()
    }

    fn snapshot(&self) -> Arc<EntryVectors> {
        Arc::clone(&self.vectors.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Finds the entries closest to the question's embedding, closest first,
    /// with their cosine similarity. Empty when the endpoint returned none.
    fn nearest(&self, question: &str, vectors: &EntryVectors) -> Vec<(usize, f32)> {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Vec::new();
        };
        let asked = handle.block_on(tokio::time::timeout(
            QUESTION_EMBEDDING_TIMEOUT,
            self.client.embed(&self.model, &[question.to_owned()]),
        ));
        let Some(query) = asked
            .ok()
            .and_then(Result::ok)
            .and_then(|(mut embedded, _)| embedded.pop())
        else {
            return Vec::new();
        };
        let mut scored: Vec<(usize, f32)> = vectors
            .vectors
            .iter()
            .enumerate()
            .filter_map(|(position, vector)| cosine(&query, vector).map(|score| (position, score)))
            .collect();
        scored.sort_by(|left, right| right.1.total_cmp(&left.1));
        scored.truncate(CANDIDATES);
        scored
    }
}

impl KnowledgeBase for FusedKnowledgeBase {
    fn search(&self, question: &str, limit: usize) -> KnowledgeBaseHits {
        let lexical = KnowledgeBase::search(self.index.as_ref(), question, CANDIDATES.max(limit));
        let vectors = self.snapshot();
        if vectors.vectors.is_empty() {
            return truncated(lexical, limit);
        }
        let nearest = self.nearest(question, &vectors);
        if nearest.is_empty() {
            return truncated(lexical, limit);
        }
        let semantic: Vec<FaqHit> = nearest
            .iter()
            .map(|(position, score)| hit_of(&vectors.entries[*position], *score))
            .collect();
        fuse(lexical, semantic, limit)
    }

    fn reload_if_changed(&self) -> Result<bool, String> {
        let changed = self
            .index
            .reload_if_changed()
            .map_err(|error| error.to_string())?;
        if changed && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.refresh_in_background(&runtime);
        }
        Ok(changed)
    }
}

async fn refresh(
    index: Arc<FaqIndex>,
    client: Arc<LlmClient>,
    model: String,
    slot: Arc<RwLock<Arc<EntryVectors>>>,
) {
    let entries = index.entries();
    let texts: Vec<String> = entries.iter().map(entry_text).collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for batch in texts.chunks(BATCH) {
        match client.embed(&model, batch).await {
            Ok((mut embedded, _)) => vectors.append(&mut embedded),
            Err(error) => {
                tracing::warn!(%error, "cannot embed the knowledge base; BM25 searches alone");
                return;
            }
        }
    }
    tracing::info!(entries = entries.len(), %model, "knowledge base embedded");
    *slot.write().unwrap_or_else(PoisonError::into_inner) =
        Arc::new(EntryVectors { entries, vectors });
}

/// Fuses two rankings by reciprocal rank fusion (see the module notes for
/// how BM25's judgement of a clear answer is kept).
pub fn fuse(lexical: KnowledgeBaseHits, semantic: Vec<FaqHit>, limit: usize) -> KnowledgeBaseHits {
    let mut scores: HashMap<String, f32> = HashMap::new();
    let mut hits: HashMap<String, FaqHit> = HashMap::new();
    for ranking in [&lexical.hits, &semantic] {
        for (rank, hit) in ranking.iter().enumerate() {
            *scores.entry(hit.id.clone()).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
            hits.entry(hit.id.clone()).or_insert_with(|| hit.clone());
        }
    }
    let mut order: Vec<(String, f32)> = scores.into_iter().collect();
    order.sort_by(|left, right| {
        right
            .1
            .total_cmp(&left.1)
            .then_with(|| left.0.cmp(&right.0))
    });
    let lexical_first = lexical.hits.first().map(|hit| hit.id.clone());
    let semantic_first = semantic.first().map(|hit| hit.id.clone());
    let confident = if lexical.confident {
        if let Some(first) = &lexical_first
            && let Some(position) = order.iter().position(|(id, _)| id == first)
        {
            let kept = order.remove(position);
            order.insert(0, kept);
        }
        true
    } else {
        lexical_first.is_some() && lexical_first == semantic_first
    };
    KnowledgeBaseHits {
        hits: order
            .into_iter()
            .take(limit)
            .filter_map(|(id, _)| hits.remove(&id))
            .collect(),
        confident,
    }
}

fn truncated(mut hits: KnowledgeBaseHits, limit: usize) -> KnowledgeBaseHits {
    hits.hits.truncate(limit);
    hits
}

fn hit_of(entry: &FaqEntry, score: f32) -> FaqHit {
    FaqHit {
        id: entry.id.clone(),
        category: entry.category.clone(),
        question: entry.question.clone(),
        answer: entry.answer.clone(),
        score,
    }
}

/// Builds the text embedded for an entry: its question, phrasings,
/// keywords and the start of its answer.
fn entry_text(entry: &FaqEntry) -> String {
    let answer: String = entry.answer.chars().take(ANSWER_CHARS).collect();
    format!(
        "{}\n{}\n{}\n{answer}",
        entry.question,
        entry.phrasings.join("\n"),
        entry.keywords.join(" ")
    )
}

/// Computes the cosine similarity of two vectors of the same length. None
/// for vectors of different lengths or of length zero.
fn cosine(left: &[f32], right: &[f32]) -> Option<f32> {
    if left.len() != right.len() || left.is_empty() {
        return None;
    }
    let dot: f32 = left.iter().zip(right).map(|(a, b)| a * b).sum();
    let norms = left.iter().map(|a| a * a).sum::<f32>().sqrt()
        * right.iter().map(|b| b * b).sum::<f32>().sqrt();
    (norms > 0.0).then(|| dot / norms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str) -> FaqHit {
        FaqHit {
            id: id.to_owned(),
            category: String::new(),
            question: String::new(),
            answer: String::new(),
            score: 0.0,
        }
    }

    fn ids(hits: &KnowledgeBaseHits) -> Vec<&str> {
        hits.hits.iter().map(|hit| hit.id.as_str()).collect()
    }

    #[test]
    fn fuse_ranks_shared_entries_first() {
        let lexical = KnowledgeBaseHits {
            hits: vec![hit("a"), hit("b"), hit("c")],
            confident: false,
        };
        let semantic = vec![hit("b"), hit("d"), hit("a")];

        let fused = fuse(lexical, semantic, 4);

        assert_eq!(ids(&fused), ["b", "a", "d", "c"]);
        assert!(
            !fused.confident,
            "the two searches disagree on the first entry"
        );
    }

    #[test]
    fn fuse_agreement_makes_answer_clear() {
        let lexical = KnowledgeBaseHits {
            hits: vec![hit("a"), hit("b")],
            confident: false,
        };

        let fused = fuse(lexical, vec![hit("a"), hit("c")], 3);

        assert_eq!(ids(&fused), ["a", "b", "c"]);
        assert!(fused.confident);
    }

    #[test]
    fn fuse_keeps_clear_bm25_answer_first() {
        let lexical = KnowledgeBaseHits {
            hits: vec![hit("a"), hit("b")],
            confident: true,
        };

        let fused = fuse(lexical, vec![hit("b"), hit("c")], 3);

        assert_eq!(ids(&fused)[0], "a");
        assert!(fused.confident);
    }

    #[test]
    fn cosine_needs_equal_lengths() {
        assert_eq!(cosine(&[1.0, 0.0], &[1.0, 0.0]), Some(1.0));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), Some(0.0));
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), None);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), None);
    }
}
