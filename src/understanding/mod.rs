//! Question understanding without a language model: words are matched
//! against a lexicon built from the semantic layer, time expressions are
//! parsed by rules, and the result is a structured [`Interpretation`].

pub mod interpret;
pub mod lexicon;
pub mod time;
