//! Wenshu (问数): a natural-language metrics assistant for a regional bank.
//!
//! The modules follow the path of a metric question:
//!
//! - [`yaml`]: YAML parsed into a tree that keeps each node's line and column.
//! - [`semantic`]: the semantic layer (MetricFlow-compatible YAML): loading
//!   and validation with file:line:column diagnostics.
//! - [`compiler`]: a typed metric query compiled to SQL through a dialect.
//! - [`warehouse`]: the DuckDB database the SQL runs on.
//! - [`demo`]: the generator of the embedded demo warehouse.
//! - [`conformance`]: runs MetricFlow's own integration cases through the compiler.

pub mod compiler;
pub mod conformance;
pub mod demo;
pub mod semantic;
pub mod warehouse;
pub mod yaml;
