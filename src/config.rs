//! `wenshu.toml`: the server's settings, access tokens and limits.
//!
//! Every key is optional; `wenshu.example.toml` lists them with comments.
//! Command-line flags override the file. A mistake (an unknown key, a
//! value of the wrong type, a token hash that is not 64 hex digits) is
//! reported with the file, line and column, and stops the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub warehouse: WarehouseSection,
    #[serde(default)]
    pub state: StateSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub llm: LlmSection,
}

/// The optional language model. The key is read from `OPENAI_API_KEY`
/// only, never from this file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSection {
    /// `rules` (default), `hybrid` or `llm`.
    pub mode: Option<String>,
    /// The OpenAI-compatible endpoint, such as "http://127.0.0.1:8000/v1".
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// The endpoint's embedding model for FAQ retrieval (optional).
    pub embedding_model: Option<String>,
    /// Seconds one call may take, retries included (default 20).
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub bind: Option<SocketAddr>,
    pub semantic_layer: Option<PathBuf>,
    pub knowledge_base: Option<PathBuf>,
    pub web_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSection {
    /// A DuckDB file, or a Spark Connect address `sc://HOST:PORT`.
    pub path: Option<String>,
    /// DuckDB's worker threads.
    pub threads: Option<u32>,
    /// DuckDB's memory limit, such as "2GB".
    pub memory_limit: Option<String>,
    /// A query running longer is interrupted (default 30 seconds).
    pub query_timeout_seconds: Option<u64>,
    /// The most rows one answer or raw query returns (default 5,000).
    pub max_rows: Option<u64>,
    /// Connections to the warehouse, so that this many queries run at once
    /// (default 4).
    pub connections: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    /// The SQLite file of conversations, feedback and the audit record
    /// (default data/wenshu.sqlite).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Without it, every request is served as an anonymous executive.
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// For each entity of the semantic layer, the query of the keys an
    /// account manager may see; `:manager_id` stands for their id.
    #[serde(default)]
    pub account_manager_scope: Option<BTreeMap<String, String>>,
}

/// One access token, stored as the SHA-256 hash of the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub user: String,
    pub role: Role,
    /// The account manager's `manager_id`; required for that role only.
    pub manager_id: Option<String>,
    pub token_sha256: String,
}

/// The permissions of a token's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every figure.
    Executive,
    /// Only the accounts they hold a share of.
    AccountManager,
    /// Every figure, and guarded raw SQL.
    Analyst,
    /// Every figure, reloading and the audit record.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Executive => "executive",
            Role::AccountManager => "account_manager",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Requests per minute for each token (default 600); 0 turns the limit off.
    pub requests_per_minute: Option<u32>,
    /// Requests per minute for each client address while auth is disabled
    /// (default 0, no limit).
    pub anonymous_requests_per_minute: Option<u32>,
    pub max_message_chars: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub max_sessions: Option<usize>,
    pub session_idle_minutes: Option<u64>,
}

/// The scope of an account manager when the file gives none: their
/// accounts through the bridge table, and their own manager rows.
pub fn default_account_manager_scope() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "account".to_owned(),
            "SELECT account_id FROM bridge_account_manager WHERE manager_id = :manager_id"
                .to_owned(),
        ),
        (
            "manager".to_owned(),
            "SELECT manager_id FROM dim_account_manager WHERE manager_id = :manager_id".to_owned(),
        ),
    ])
}

/// A file that cannot be read or has a mistake.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and checks the text of a configuration file.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|error| error.to_string())?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let mut users = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for (index, token) in self.auth.tokens.iter().enumerate() {
            let at = format!("auth.tokens[{index}] (user `{}`)", token.user);
            if token.user.trim().is_empty() {
                return Err(format!("{at}: `user` is empty"));
            }
            let hash = token.token_sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return Err(format!(
                    "{at}: `token_sha256` must be 64 hex digits, the SHA-256 of the token; \
                     `wenshu token new` prints a token and its hash"
                ));
            }
            match (token.role, &token.manager_id) {
                (Role::AccountManager, None) => {
                    return Err(format!(
                        "{at}: role `account_manager` needs `manager_id`, the id in dim_account_manager"
                    ));
                }
                (Role::AccountManager, Some(id)) if !is_plain_id(id) => {
                    return Err(format!(
                        "{at}: `manager_id` may hold only letters, digits, `_` and `-`"
                    ));
                }
                (role, Some(_)) if role != Role::AccountManager => {
                    return Err(format!(
                        "{at}: `manager_id` applies to role `account_manager` only, not `{}`",
                        role.name()
                    ));
                }
                _ => {}
            }
            if !users.insert(token.user.clone()) {
                return Err(format!("{at}: user `{}` has two tokens", token.user));
            }
            if !hashes.insert(hash) {
                return Err(format!("{at}: the same token hash appears twice"));
            }
        }
        if self.auth.enabled && self.auth.tokens.is_empty() {
            return Err(
                "auth.enabled is true but auth.tokens is empty, so no request could be served"
                    .to_owned(),
            );
        }
        if let Some(mode) = &self.llm.mode {
            crate::llm::LlmMode::parse(mode).map_err(|error| format!("llm.mode: {error}"))?;
        }
        if let Some(scope) = &self.auth.account_manager_scope {
            for (entity, query) in scope {
                if !query.contains(":manager_id") {
                    return Err(format!(
                        "auth.account_manager_scope.{entity}: the query must use `:manager_id`"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// True for ids of letters, digits, `_` and `-`, which are safe to quote.
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn example_file_parses() {
        let text = include_str!("../wenshu.example.toml");

        let config = Config::parse(text).unwrap();

        assert!(!config.auth.enabled);
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let config = Config::parse("").unwrap();

        assert!(!config.auth.enabled);
        assert!(config.server.bind.is_none());
    }

    #[test]
    fn tokens_and_roles_parse() {
        let text = format!(
            "[auth]\nenabled = true\n\n[[auth.tokens]]\nuser = \"li\"\nrole = \"account_manager\"\n\
             manager_id = \"M001\"\ntoken_sha256 = \"{HASH}\"\n"
        );

        let config = Config::parse(&text).unwrap();

        assert_eq!(config.auth.tokens[0].role, Role::AccountManager);
        assert_eq!(config.auth.tokens[0].manager_id.as_deref(), Some("M001"));
    }

    #[test]
    fn mistakes_name_the_line_or_the_token() {
        let cases = [
            (
                "[server]\nbnid = \"127.0.0.1:80\"\n",
                "unknown field `bnid`",
            ),
            ("[warehouse]\nthreads = \"two\"\n", "line 2"),
            (
                "[[auth.tokens]]\nuser = \"a\"\nrole = \"boss\"\ntoken_sha256 = \"x\"\n",
                "unknown variant `boss`",
            ),
            (
                "[[auth.tokens]]\nuser = \"a\"\nrole = \"admin\"\ntoken_sha256 = \"abc\"\n",
                "64 hex digits",
            ),
            (
                &format!(
                    "[[auth.tokens]]\nuser = \"a\"\nrole = \"account_manager\"\ntoken_sha256 = \"{HASH}\"\n"
                ),
                "needs `manager_id`",
            ),
            (
                &format!(
                    "[[auth.tokens]]\nuser = \"a\"\nrole = \"account_manager\"\nmanager_id = \"x' OR 1=1\"\ntoken_sha256 = \"{HASH}\"\n"
                ),
                "only letters",
            ),
            ("[auth]\nenabled = true\n", "auth.tokens is empty"),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}\n=> {error}");
        }
    }
}
