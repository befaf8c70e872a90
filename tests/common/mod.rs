//! Fixtures shared by the integration tests.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use wenshu::demo::{DemoOptions, generate};

/// The repository's semantic layer.
pub fn semantic_layer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("semantic_layer")
}

/// Generates the demo warehouse (scale 1, seed 42) into `folder` under the
/// tests' scratch folder, replacing the previous run's file so that the
/// data always comes from the current generator.
pub fn generate_demo_warehouse(folder: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(folder)
        .join("demo.duckdb");
    let options = DemoOptions {
        out: out.clone(),
        scale: 1,
        seed: 42,
        progress: false,
    };
    generate(&options)
        .unwrap_or_else(|error| panic!("cannot generate the demo warehouse: {error}"));
    out
}

/// Opens the assistant over the repository's semantic layer and knowledge
/// base and the warehouse at `warehouse`.
pub fn open_assistant(warehouse: &Path) -> wenshu::assistant::Assistant {
    let knowledge_base = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge_base");
    wenshu::assistant::Assistant::open(&semantic_layer_dir(), warehouse)
        .and_then(|assistant| assistant.with_knowledge_base_dir(&knowledge_base))
        .unwrap_or_else(|error| panic!("cannot open the assistant: {error}"))
}
