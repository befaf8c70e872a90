//! Wenshu (问数): a natural-language metrics assistant for a regional bank.
//!
//! The modules follow the path of a metric question:
//!
//! - [`yaml`]: YAML parsed into a tree that keeps each node's line and column.
//! - [`semantic`]: the semantic layer (MetricFlow-compatible YAML): loading
//!   and validation with file:line:column diagnostics.
//! - [`understanding`]: a question read into metrics, filters, breakdowns
//!   and a period, by rules over the semantic layer.
//! - [`compiler`]: a typed metric query compiled to SQL through a dialect.
//! - [`guard`]: the SQL guard: one read-only query over declared tables.
//! - [`warehouse`]: the DuckDB database the SQL runs on, opened read-only
//!   and locked down.
//! - [`faq`]: the e-banking knowledge base, searched with tantivy and jieba.
//! - [`assistant`]: one chat message in, one answer out.
//! - [`server`]: the HTTP chat API and page over the assistant, with
//!   sessions, access control and the audit record.
//! - [`store`]: conversations, feedback and the audit record in SQLite.
//! - [`config`]: the settings file, `wenshu.toml`.
//! - [`demo`]: the generator of the embedded demo warehouse.
//! - [`conformance`]: runs MetricFlow's own integration cases through the compiler.
//! - [`load_test`]: concurrent conversations against a running server's
//!   chat API, with latency percentiles and errors (`wenshu bench load`).

pub mod assistant;
pub mod compiler;
pub mod config;
pub mod conformance;
pub mod demo;
pub mod faq;
pub mod guard;
pub mod llm;
pub mod load_test;
pub mod semantic;
pub mod server;
pub mod store;
pub mod understanding;
pub mod warehouse;
pub mod yaml;
