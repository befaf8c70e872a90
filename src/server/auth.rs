//! Access control: bearer tokens, roles, the account managers' row scope
//! and per-token rate limits.
//!
//! Tokens are kept as SHA-256 hashes; a request's token is hashed and
//! looked up, so the server never holds a token in the clear. With auth
//! disabled (the local demo) every request is an anonymous executive.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use crate::compiler::RowScope;
use crate::config::{AuthSection, Role, default_account_manager_scope};

use super::error::ApiError;

/// The sender of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    /// The account manager's id, for their row scope.
    pub manager_id: Option<String>,
}

impl Principal {
    /// Returns the principal of every request while auth is disabled.
    pub fn anonymous() -> Principal {
        Principal {
            user: "anonymous".to_owned(),
            role: Role::Executive,
            manager_id: None,
        }
    }

    /// Returns Ok when the principal has one of `roles`, else a 403.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "角色 {} 不能{action} / role `{}` may not {action_en}",
                self.role.name(),
                self.role.name(),
                action_en = english_action(action)
            )))
        }
    }
}

fn english_action(action: &str) -> &'static str {
    match action {
        "执行 SQL" => "run SQL",
        "重新加载" => "reload",
        "查看审计记录" => "read the audit record",
        _ => "do this",
    }
}

/// The tokens, the scope template and the rate limits.
#[derive(Debug)]
pub struct Access {
    enabled: bool,
    /// Principals by the hex SHA-256 of their token.
    tokens: HashMap<String, Principal>,
    scope_template: BTreeMap<String, String>,
    limiter: Mutex<RateLimiter>,
    per_token_per_minute: u32,
    anonymous_per_minute: u32,
}

impl Default for Access {
    fn default() -> Self {
        Access::new(&AuthSection::default(), 0, 0)
    }
}

impl Access {
    pub fn new(auth: &AuthSection, per_token_per_minute: u32, anonymous_per_minute: u32) -> Access {
        let tokens = auth
            .tokens
            .iter()
            .map(|token| {
                (
                    token.token_sha256.to_ascii_lowercase(),
                    Principal {
                        user: token.user.clone(),
                        role: token.role,
                        manager_id: token.manager_id.clone(),
                    },
                )
            })
            .collect();
        Access {
            enabled: auth.enabled,
            tokens,
            scope_template: auth
                .account_manager_scope
                .clone()
                .unwrap_or_else(default_account_manager_scope),
            limiter: Mutex::new(RateLimiter::default()),
            per_token_per_minute,
            anonymous_per_minute,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Finds the principal of a request from its `Authorization: Bearer`
    /// header; a 401 when auth is enabled and the token is missing or
    /// unknown.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        if !self.enabled {
            return Ok(Principal::anonymous());
        }
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        self.tokens
            .get(&hash_token(token))
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }

    /// Counts a request against its sender's limit: the token's user, or
    /// the client address while auth is disabled. Returns how long to wait
    /// when the limit is reached.
    pub fn admit(&self, principal: &Principal, client: Option<IpAddr>) -> Result<(), Duration> {
        let (key, per_minute) = if self.enabled {
            (
                format!("user:{}", principal.user),
                self.per_token_per_minute,
            )
        } else {
            let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
            (format!("address:{address}"), self.anonymous_per_minute)
        };
        if per_minute == 0 {
            return Ok(());
        }
        self.limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(&key, per_minute, Instant::now())
    }

    /// Counts a request whose token was missing or wrong against its client
    /// address, so that guessing tokens is slowed down: at most
    /// [`FAILED_ATTEMPTS_PER_MINUTE`] a minute.
    pub fn admit_failed_attempt(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        self.limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(
                &format!("failed:{address}"),
                FAILED_ATTEMPTS_PER_MINUTE,
                Instant::now(),
            )
    }

    /// Returns the rows the principal may see: None for every role but
    /// account manager.
    pub fn scope(&self, principal: &Principal) -> Option<RowScope> {
        if principal.role != Role::AccountManager {
            return None;
        }
        // The id was checked to hold only letters, digits, `_` and `-`
        // when the configuration was loaded, so quoting it is safe.
        let id = principal.manager_id.as_deref().unwrap_or("");
        let literal = format!("'{}'", id.replace('\'', "''"));
        let keys = self
            .scope_template
            .iter()
            .map(|(entity, query)| (entity.clone(), query.replace(":manager_id", &literal)))
            .collect();
        Some(RowScope { keys })
    }
}

/// Returns the lowercase hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Token buckets, one per sender: each holds up to a minute's requests and
/// refills continuously.
#[derive(Debug, Default)]
struct RateLimiter {
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Requests with a missing or wrong token allowed per client address and
/// minute. Past it the response is 429, not 401.
pub const FAILED_ATTEMPTS_PER_MINUTE: u32 = 30;

/// Senders kept before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    fn admit(&mut self, key: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(key) {
            // A bucket idle for a minute is full again, the same as a new one.
            self.buckets
                .retain(|_, bucket| now.duration_since(bucket.updated) < Duration::from_secs(60));
        }
        let bucket = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenEntry;

    fn access() -> Access {
        let auth = AuthSection {
            enabled: true,
            tokens: vec![
                TokenEntry {
                    user: "li".to_owned(),
                    role: Role::AccountManager,
                    manager_id: Some("M001".to_owned()),
                    token_sha256: hash_token("secret-li"),
                },
                TokenEntry {
                    user: "chen".to_owned(),
                    role: Role::Executive,
                    manager_id: None,
                    token_sha256: hash_token("secret-chen"),
                },
            ],
            account_manager_scope: None,
        };
        Access::new(&auth, 3, 0)
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[test]
    fn sha256_of_a_known_text() {
        assert_eq!(
            hash_token("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn tokens_identify_their_users() {
        let access = access();

        assert_eq!(
            access.authenticate(&bearer("secret-li")).unwrap().user,
            "li"
        );
        for headers in [HeaderMap::new(), bearer("wrong"), bearer("")] {
            assert!(matches!(
                access.authenticate(&headers),
                Err(ApiError::Unauthorized)
            ));
        }
    }

    #[test]
    fn account_manager_scope_names_their_id() {
        let access = access();
        let li = access.authenticate(&bearer("secret-li")).unwrap();
        let chen = access.authenticate(&bearer("secret-chen")).unwrap();

        let scope = access.scope(&li).unwrap();
        assert_eq!(
            scope.keys["account"],
            "SELECT account_id FROM bridge_account_manager WHERE manager_id = 'M001'"
        );
        assert!(access.scope(&chen).is_none());
    }

    #[test]
    fn rate_limit_refills_over_time() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();

        for _ in 0..3 {
            assert!(limiter.admit("a", 3, start).is_ok());
        }
        let wait = limiter.admit("a", 3, start).unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limiter.admit("b", 3, start).is_ok(),
            "senders are counted apart"
        );
        assert!(
            limiter
                .admit("a", 3, start + Duration::from_secs(20))
                .is_ok()
        );
    }

    #[test]
    fn roles_are_checked() {
        let chen = Principal {
            user: "chen".to_owned(),
            role: Role::Executive,
            manager_id: None,
        };

        assert!(chen.require(&[Role::Executive], "执行 SQL").is_ok());
        let error = chen
            .require(&[Role::Analyst, Role::Admin], "执行 SQL")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "没有权限 / forbidden: 角色 executive 不能执行 SQL / role `executive` may not run SQL"
        );
    }
}
