//! Session records in Redis, so a session opened on one replica goes on on another.
//!
//! rmcp keeps a session's worker in the memory of the replica that opened it. With a session
//! store configured, rmcp writes the client's `initialize` parameters to it after the
//! handshake, and a replica that receives a request for a session it does not hold loads them,
//! asks the session manager to re-create the session under the same id
//! ([`super::Sessions`]'s `restore_session`), and replays the handshake to a fresh handler
//! (which reads its tree domain back, see `server::memory`). The client sees nothing.
//!
//! One record per session, a Redis hash `halo-mcp:v1:session:<id>` with a TTL of the idle
//! time (restarted by every request, see `mcp_auth`): `init` (the `initialize` parameters, the
//! client's own name and capabilities), `owner` (a digest of the principal that opened it: a
//! session moves between replicas, never between principals) and `domain` (tree mode).
//!
//! A DELETE removes the record (rmcp calls [`SessionStore::delete`]); a session that ends
//! because its replica stops keeps its record, which is the point: a rolling restart or a
//! crash must not end the sessions.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};

use super::sessions::PRINCIPAL;
use crate::{
    server::SessionMemory,
    state::{RedisState, digest},
};

const INIT_FIELD: &str = "init";
const OWNER_FIELD: &str = "owner";

/// rmcp's session store, in Redis.
pub struct RedisSessions {
    memory: SessionMemory,
}

impl RedisSessions {
    pub fn new(redis: Arc<RedisState>, idle: Duration) -> RedisSessions {
        RedisSessions {
            memory: SessionMemory { redis, idle },
        }
    }

    /// What the HTTP layer hands the handler with each request.
    pub fn memory(&self) -> SessionMemory {
        self.memory.clone()
    }

    /// Restarts a session's TTL (every request to it does).
    pub async fn touch(&self, session_id: &str) {
        let key = self.memory.key(session_id);
        let _ = self.memory.redis.touch(&key, self.memory.idle).await;
    }

    /// The owner digest of the current request's principal.
    fn caller() -> Option<String> {
        PRINCIPAL.try_with(|p| digest(p)).ok()
    }

    async fn load_record(&self, session_id: &str) -> Result<Option<SessionState>, String> {
        let key = self.memory.key(session_id);
        let redis = &self.memory.redis;
        let Some(owner) = redis.get_field(&key, OWNER_FIELD).await? else {
            return Ok(None);
        };
        // Another principal's session does not exist, as far as this caller knows.
        if Some(owner) != Self::caller() {
            tracing::info!("refused to resume a session opened by another principal");
            return Ok(None);
        }
        let Some(init) = redis.get_field(&key, INIT_FIELD).await? else {
            return Ok(None);
        };
        let state: SessionState = serde_json::from_str(&init)
            .map_err(|e| format!("a stored session is not readable: {e}"))?;
        Ok(Some(state))
    }

    async fn store_record(&self, session_id: &str, state: &SessionState) -> Result<(), String> {
        let key = self.memory.key(session_id);
        let redis = &self.memory.redis;
        let init = serde_json::to_string(state).map_err(|e| e.to_string())?;
        let owner = Self::caller().unwrap_or_default();
        redis
            .set_field(&key, OWNER_FIELD, &owner, self.memory.idle)
            .await?;
        redis
            .set_field(&key, INIT_FIELD, &init, self.memory.idle)
            .await
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, SessionStoreError>> + Send + 'a>>;

fn boxed_error(e: String) -> SessionStoreError {
    e.into()
}

// rmcp declares the trait with `async_trait`; these are the boxed futures it expects.
impl SessionStore for RedisSessions {
    fn load<'a, 'b, 'c>(&'a self, session_id: &'b str) -> Boxed<'c, Option<SessionState>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            match self.load_record(session_id).await {
                Ok(found) => Ok(found),
                // Unknown rather than a server error: the client then opens a new session
                // (404 tells it to), which works on any replica while Redis is away.
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "could not read a session record from Redis; the client must start a \
                         new session"
                    );
                    Ok(None)
                }
            }
        })
    }

    fn store<'a, 'b, 'd, 'c>(
        &'a self,
        session_id: &'b str,
        state: &'d SessionState,
    ) -> Boxed<'c, ()>
    where
        'a: 'c,
        'b: 'c,
        'd: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.store_record(session_id, state)
                .await
                .map_err(boxed_error)
        })
    }

    fn delete<'a, 'b, 'c>(&'a self, session_id: &'b str) -> Boxed<'c, ()>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.memory
                .redis
                .delete(&self.memory.key(session_id))
                .await
                .map_err(boxed_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{SharedState, test_redis::start_or_skip};
    use rmcp::model::InitializeRequestParams;

    #[tokio::test]
    async fn a_record_is_resumed_only_by_the_principal_that_opened_it() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let SharedState::Redis(redis) = SharedState::parse(&server.url()).unwrap() else {
            unreachable!()
        };
        let store = RedisSessions::new(redis.clone(), Duration::from_secs(30));
        let state = SessionState::new(InitializeRequestParams::default());
        PRINCIPAL
            .scope("client:alice".into(), store.store("s1", &state))
            .await
            .unwrap();
        let as_bob = PRINCIPAL.scope("client:bob".into(), store.load("s1")).await;
        assert!(
            as_bob.unwrap().is_none(),
            "another principal sees no session"
        );
        let as_alice = PRINCIPAL
            .scope("client:alice".into(), store.load("s1"))
            .await;
        assert!(as_alice.unwrap().is_some());
        // The owner is stored as a digest, never as the principal itself; the record expires.
        let key = store.memory().key("s1");
        let owner = redis.get_field(&key, "owner").await.unwrap().unwrap();
        assert!(!owner.contains("alice"));
        let mut conn = redis.conn();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0 && ttl <= 30_000, "{ttl}");
        store.delete("s1").await.unwrap();
        let gone = PRINCIPAL
            .scope("client:alice".into(), store.load("s1"))
            .await;
        assert!(gone.unwrap().is_none());
    }
}
