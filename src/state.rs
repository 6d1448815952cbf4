//! Where state shared between replicas lives: in this process (`memory`, the default), or in
//! Redis (`--state redis://…`), so that several replicas behind a load balancer draw on one
//! Halo rate budget and a session can move between them.
//!
//! Everything this module writes to Redis is under one namespace with a version,
//! `halo-mcp:v1:…`, so a future change of layout takes a new prefix instead of misreading old
//! values, and every key carries a TTL: a replica that dies leaves nothing that lives forever.
//!
//! The layer is deliberately small: a connection that reconnects by itself, key naming, and a
//! few typed helpers (JSON values and hash fields with a TTL). The rate budget
//! (`halo::shared_budget`), the session records (`remote::shared_sessions`) and the two
//! authorisation servers' stores (`remote::oauth`, `remote::halo_signin`, their secrets sealed
//! by `remote::sealed` first) build on it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use redis::{AsyncCommands, aio::ConnectionManager};

/// The namespace and layout version of every key.
pub const KEY_PREFIX: &str = "halo-mcp:v1:";

/// Longest a Redis command may take before the caller treats Redis as unreachable. Redis
/// answers in well under a millisecond on a healthy network; a stalled one must not hold up
/// calls to Halo for longer than this.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Where shared state lives.
#[derive(Clone, Default)]
pub enum SharedState {
    /// In this process: right for one replica.
    #[default]
    Memory,
    /// In Redis, shared by every replica that names the same server.
    Redis(Arc<RedisState>),
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SharedState::Memory => f.write_str("memory"),
            // The address only: a URL may carry a password.
            SharedState::Redis(r) => write!(f, "redis({})", r.address),
        }
    }
}

impl PartialEq for SharedState {
    fn eq(&self, other: &SharedState) -> bool {
        match (self, other) {
            (SharedState::Memory, SharedState::Memory) => true,
            (SharedState::Redis(a), SharedState::Redis(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl SharedState {
    /// Parses `memory` or a `redis://` / `rediss://` URL. The connection is made on first use,
    /// so a Redis that is down at start does not stop the server (it falls back, see
    /// `halo::shared_budget`).
    pub fn parse(value: &str) -> Result<SharedState, String> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("memory") {
            return Ok(SharedState::Memory);
        }
        let lower = v.to_ascii_lowercase();
        if !(lower.starts_with("redis://") || lower.starts_with("rediss://")) {
            return Err(format!(
                "expected memory or a redis:// or rediss:// URL, got {:?}",
                redact(v)
            ));
        }
        RedisState::lazy(v).map(|r| SharedState::Redis(Arc::new(r)))
    }

    pub fn redis(&self) -> Option<&Arc<RedisState>> {
        match self {
            SharedState::Memory => None,
            SharedState::Redis(r) => Some(r),
        }
    }
}

/// A URL with any password replaced, for messages and logs.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        // Not a URL: shown as given, unless it might hold a password.
        Err(_) if !url.contains('@') => url.to_owned(),
        Err(_) => "(not shown: it may hold a password)".into(),
    }
}

/// A Redis server and the connection to it.
pub struct RedisState {
    conn: ConnectionManager,
    /// host:port, for logs (never the password).
    address: String,
    /// The last command failed; cleared by the next that succeeds. Used to log an outage once
    /// and its end once.
    down: AtomicBool,
}

impl RedisState {
    fn lazy(url: &str) -> Result<RedisState, String> {
        // rediss:// uses rustls with the process's crypto provider (the one the Halo client
        // uses), so it must be installed before the first connection.
        crate::halo::install_crypto();
        let client = redis::Client::open(url)
            .map_err(|e| format!("not a usable Redis URL {:?}: {e}", redact(url)))?;
        let address = reqwest::Url::parse(url)
            .ok()
            .map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or("localhost"),
                    u.port().unwrap_or(6379)
                )
            })
            .unwrap_or_else(|| "redis".into());
        // Reconnection is the manager's job; a few quick attempts per failed command, then the
        // caller falls back and tries again later. Both timeouts bound how long a call to Halo
        // can be held up by a Redis that stopped answering.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let conn = client
            .get_connection_manager_lazy(config)
            .map_err(|e| format!("cannot set up the Redis connection: {e}"))?;
        Ok(RedisState {
            conn,
            address,
            down: AtomicBool::new(false),
        })
    }

    /// host:port of the server.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A handle for one command; clones share the connection.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `halo-mcp:v1:{suffix}`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{KEY_PREFIX}{suffix}")
    }

    /// Records the outcome of a command: logs the first failure of an outage and its end.
    pub fn observe<T>(&self, what: &str, result: &redis::RedisResult<T>) {
        match result {
            Ok(_) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(address = %self.address, "Redis answers again");
                }
            }
            Err(e) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        address = %self.address,
                        error = %e,
                        what,
                        "Redis is unreachable"
                    );
                }
            }
        }
    }

    /// Whether Redis answers a PING within [`COMMAND_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn();
        let result: redis::RedisResult<String> =
            match tokio::time::timeout(COMMAND_TIMEOUT, redis::cmd("PING").query_async(&mut conn))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer",
                ))),
            };
        self.observe("ping", &result);
        result.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Stores `value` as JSON under `key` for `ttl`.
    pub async fn put_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), String> {
        let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
        let mut conn = self.conn();
        let result: redis::RedisResult<()> = conn.pset_ex(key, text, ttl_ms(ttl)).await;
        self.observe("put", &result);
        result.map_err(|e| e.to_string())
    }

    /// The JSON value under `key`, if any.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, String> {
        let mut conn = self.conn();
        let result: redis::RedisResult<Option<String>> = conn.get(key).await;
        self.observe("get", &result);
        match result.map_err(|e| e.to_string())? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("a stored value under {key} is not readable: {e}")),
        }
    }

    /// Sets one field of the hash under `key` and (re)sets the hash's TTL.
    pub async fn set_field(
        &self,
        key: &str,
        field: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), String> {
        let mut conn = self.conn();
        let result: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .hset(key, field, value)
            .ignore()
            .pexpire(key, ttl_ms(ttl) as i64)
            .ignore()
            .query_async(&mut conn)
            .await;
        self.observe("hset", &result);
        result.map_err(|e| e.to_string())
    }

    /// One field of the hash under `key`.
    pub async fn get_field(&self, key: &str, field: &str) -> Result<Option<String>, String> {
        let mut conn = self.conn();
        let result: redis::RedisResult<Option<String>> = conn.hget(key, field).await;
        self.observe("hget", &result);
        result.map_err(|e| e.to_string())
    }

    /// Restarts the TTL of `key`; false when there is no such key.
    pub async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, String> {
        let mut conn = self.conn();
        let result: redis::RedisResult<bool> = conn.pexpire(key, ttl_ms(ttl) as i64).await;
        self.observe("pexpire", &result);
        result.map_err(|e| e.to_string())
    }

    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let mut conn = self.conn();
        let result: redis::RedisResult<()> = conn.del(key).await;
        self.observe("del", &result);
        result.map_err(|e| e.to_string())
    }
}

/// A TTL in whole milliseconds, never zero (Redis refuses a zero expiry).
pub fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

/// A short, stable, non-reversible name for a value that should not be stored as it is
/// (a tenant's address and client id in a key, a session's owner).
pub fn digest(value: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    d.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_memory_and_redis_urls_without_showing_passwords() {
        assert_eq!(SharedState::parse("memory").unwrap(), SharedState::Memory);
        assert_eq!(SharedState::parse(" MEMORY ").unwrap(), SharedState::Memory);
        let r = SharedState::parse("redis://:hunter2hunter2@127.0.0.1:6390/0").unwrap();
        assert_eq!(format!("{r:?}"), "redis(127.0.0.1:6390)");
        assert!(SharedState::parse("rediss://cache.example.com").is_ok());
        let e = SharedState::parse("http://user:pw@x").unwrap_err();
        assert!(e.contains("redis://"), "{e}");
        assert!(!e.contains("pw@"), "{e}");
    }

    #[test]
    fn digests_are_short_and_stable() {
        assert_eq!(digest("a"), digest("a"));
        assert_ne!(digest("a"), digest("b"));
        assert_eq!(digest("a").len(), 24);
    }
}

#[cfg(test)]
#[path = "../tests/e2e/redis_server.rs"]
pub(crate) mod test_redis;
