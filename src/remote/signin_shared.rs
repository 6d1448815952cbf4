//! Sign-in with Halo's state in Redis, so replicas behind one load balancer act as one
//! authorisation server: the browser may come back from Halo to another replica than the one
//! that sent it there, the code may be exchanged on a third, and every replica honours, rotates
//! and revokes the same tokens.
//!
//! The atomic steps are the OAuth proxy's (`oauth::shared`: one Lua script each to take a code,
//! issue a grant, rotate a refresh token), with the same key shapes under `signin:`. What
//! differs is what a grant holds: the agent's Halo access and refresh tokens, sealed
//! (`sealed`), together with the client id and the agent they belong to. Halo's refresh token
//! is single-use, so renewing it is serialised across replicas by a lock per grant in Redis
//! ([`AgentTokenStore`]): the replica that renews writes the new pair back under the lock, and
//! one that finds a newer pair there adopts it instead of presenting a spent token. Halo
//! refusing a renewal deletes the grant, which ends it on every replica.
//!
//! Sign-ins in progress (with this server's PKCE verifier towards Halo) are sealed and taken
//! with GETDEL (single use). Client ID Metadata Documents stay cached per replica: they are
//! public, and fetching one again costs nothing but a request.

use std::{collections::HashMap, net::IpAddr, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use redis::AsyncCommands;
use serde_json::{Value, json};

use super::{AgentPrincipal, HaloSignIn, OAuthError, Pending, invalid_grant, now_secs};
use crate::{
    halo::{
        HaloClient,
        auth::{AgentIdentity, AgentTokenStore, AgentTokens, StoredAgentTokens},
    },
    remote::{
        authz::{pkce_holds, registered_redirects, source_of},
        oauth::shared::{ISSUE, REGISTER, ROTATE, TAKE_CODE, hashed, now_ms, unavailable},
        sealed::Sealer,
    },
    state::{RedisState, ttl_ms},
};

/// Only the newest this many access tokens of a grant pass (as in memory).
const ACCESS_GENERATIONS: i64 = super::ACCESS_PER_GRANT as i64;
/// How long one replica may hold a grant's renewal lock: a token request to Halo, with room.
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How often, and how many times, a replica asks again for a lock another replica holds.
const LOCK_POLL: Duration = Duration::from_millis(50);
const LOCK_TRIES: u32 = 200;

pub(super) struct Shared {
    redis: Arc<RedisState>,
    sealer: Arc<Sealer>,
    /// This replica's Halo clients per grant: the agent's Halo token is reused between
    /// requests. Whether the grant is live is asked of Redis on every request regardless.
    agents: Mutex<HashMap<String, HaloClient>>,
}

impl Shared {
    pub(super) fn new(redis: Arc<RedisState>, sealer: Sealer) -> Shared {
        Shared {
            redis,
            sealer: Arc::new(sealer),
            agents: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, suffix: &str) -> String {
        self.redis.key(&format!("signin:{suffix}"))
    }
}

/// A code of this server, kept sealed until it is exchanged.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct CodeRecord {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: String,
    pub(super) agent: AgentIdentity,
    pub(super) tokens: StoredAgentTokens,
}

/// What a grant keeps sealed.
#[derive(serde::Serialize, serde::Deserialize)]
struct GrantSecrets {
    client_id: String,
    agent: AgentIdentity,
    tokens: StoredAgentTokens,
}

fn seal_json<T: serde::Serialize>(
    sealer: &Sealer,
    key: &str,
    value: &T,
) -> Result<String, OAuthError> {
    serde_json::to_vec(value)
        .map_err(|e| e.to_string())
        .and_then(|plain| sealer.seal(key, &plain))
        .map_err(|e| OAuthError::new(500, "server_error", e))
}

fn open_json<T: serde::de::DeserializeOwned>(
    sealer: &Sealer,
    key: &str,
    sealed: &str,
) -> Option<T> {
    sealer
        .open(key, sealed)
        .ok()
        .and_then(|plain| serde_json::from_slice(&plain).ok())
}

/// One grant's tokens in Redis, for its agent's Halo client.
struct GrantTokens {
    redis: Arc<RedisState>,
    sealer: Arc<Sealer>,
    grant_key: String,
    lock_key: String,
    client_id: String,
    agent: AgentIdentity,
}

impl AgentTokenStore for GrantTokens {
    fn lock(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let guard = super::super::authz::random(&ring::rand::SystemRandom::new())
                .map_err(|e| e.description)?;
            for _ in 0..LOCK_TRIES {
                let mut conn = self.redis.conn();
                let taken: redis::RedisResult<Option<String>> = redis::cmd("SET")
                    .arg(&self.lock_key)
                    .arg(&guard)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms(LOCK_TTL))
                    .query_async(&mut conn)
                    .await;
                self.redis.observe("sign-in lock", &taken);
                if taken.map_err(|e| e.to_string())?.is_some() {
                    return Ok(guard);
                }
                // Another replica is renewing these tokens: its result is what this one needs.
                tokio::time::sleep(LOCK_POLL).await;
            }
            Err("another replica held the renewal lock too long".into())
        })
    }

    fn unlock(&self, guard: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Only this replica's own lock: one that outlived its TTL may be another's now.
            let mut conn = self.redis.conn();
            let released: redis::RedisResult<i64> = redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            )
            .key(&self.lock_key)
            .arg(guard)
            .invoke_async(&mut conn)
            .await;
            self.redis.observe("sign-in unlock", &released);
        })
    }

    fn load(&self) -> BoxFuture<'_, Result<Option<StoredAgentTokens>, String>> {
        Box::pin(async move {
            let mut conn = self.redis.conn();
            let found: redis::RedisResult<Option<String>> =
                conn.hget(&self.grant_key, "sealed").await;
            self.redis.observe("sign-in tokens", &found);
            Ok(found
                .map_err(|e| e.to_string())?
                .and_then(|sealed| {
                    open_json::<GrantSecrets>(&self.sealer, &self.grant_key, &sealed)
                })
                .filter(|g| g.client_id == self.client_id)
                .map(|g| g.tokens))
        })
    }

    fn save(&self, tokens: StoredAgentTokens) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let secrets = GrantSecrets {
                client_id: self.client_id.clone(),
                agent: self.agent.clone(),
                tokens,
            };
            let sealed =
                seal_json(&self.sealer, &self.grant_key, &secrets).map_err(|e| e.description)?;
            let mut conn = self.redis.conn();
            // A grant revoked meanwhile stays revoked.
            let saved: redis::RedisResult<i64> = redis::Script::new(
                "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'sealed', ARGV[1]) return 1 end return 0",
            )
            .key(&self.grant_key)
            .arg(sealed)
            .invoke_async(&mut conn)
            .await;
            self.redis.observe("sign-in tokens", &saved);
            saved.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    fn end(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut conn = self.redis.conn();
            let result: redis::RedisResult<()> = conn.del(&self.grant_key).await;
            self.redis.observe("sign-in end", &result);
        })
    }
}

impl HaloSignIn {
    pub(super) async fn shared_register(
        &self,
        shared: &Shared,
        request: &Value,
        source: IpAddr,
    ) -> Result<Value, OAuthError> {
        let uris = registered_redirects(request)?;
        let method = request
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .unwrap_or("none");
        if method != "none" {
            return Err(OAuthError::new(
                400,
                "invalid_client_metadata",
                "token_endpoint_auth_method must be none: clients here are public (PKCE) and \
                 sign in with Halo",
            ));
        }
        let client_name = request
            .get("client_name")
            .and_then(Value::as_str)
            .map(|s| s.chars().take(200).collect::<String>());
        let client_id = format!("hsi-{}", self.random()?);
        let source = source_of(source).to_string();
        let register = redis::Script::new(REGISTER);
        let mut script = register.prepare_invoke();
        script
            .key(shared.key(&format!("client:{}", hashed(&client_id))))
            .key(shared.key(&format!("source:{}", hashed(&source))))
            .arg(ttl_ms(self.config.registration_ttl))
            .arg(self.config.max_clients.max(1))
            .arg(ttl_ms(Duration::from_secs(24 * 3600)));
        for u in &uris {
            script.arg(hashed(u));
        }
        let mut conn = shared.redis.conn();
        let result: redis::RedisResult<i64> = script.invoke_async(&mut conn).await;
        shared.redis.observe("sign-in register", &result);
        if result.map_err(unavailable)? == 0 {
            return Err(OAuthError::new(
                429,
                "invalid_client_metadata",
                "too many registrations from this address today: reuse a registration",
            ));
        }
        Ok(json!({
            "client_id": client_id,
            "client_id_issued_at": now_secs(),
            "redirect_uris": uris,
            "client_name": client_name,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
    }

    /// The client is registered with this redirect URI (errors are shown, never redirected).
    pub(super) async fn shared_check_client(
        &self,
        shared: &Shared,
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<(), OAuthError> {
        let key = shared.key(&format!("client:{}", hashed(client_id)));
        let mut conn = shared.redis.conn();
        let found: redis::RedisResult<(bool, bool)> = redis::pipe()
            .hexists(&key, hashed(redirect_uri))
            .exists(&key)
            .query_async(&mut conn)
            .await;
        shared.redis.observe("sign-in authorize", &found);
        match found.map_err(unavailable)? {
            (true, _) => {
                let touched: redis::RedisResult<i64> = redis::cmd("PEXPIRE")
                    .arg(&key)
                    .arg(ttl_ms(self.config.registration_ttl))
                    .query_async(&mut conn)
                    .await;
                shared.redis.observe("sign-in authorize", &touched);
                touched.map_err(unavailable)?;
                Ok(())
            }
            (false, true) => Err(OAuthError::new(
                400,
                "invalid_request",
                "redirect_uri does not match the client's registered redirect URIs",
            )),
            (false, false) => Err(OAuthError::new(
                400,
                "invalid_client",
                "unknown client: register it first (POST /register)",
            )),
        }
    }

    pub(super) async fn shared_keep_pending(
        &self,
        shared: &Shared,
        halo_state: &str,
        pending: &Pending,
    ) -> Result<(), OAuthError> {
        let key = shared.key(&format!("pending:{}", hashed(halo_state)));
        let sealed = seal_json(&shared.sealer, &key, pending)?;
        let mut conn = shared.redis.conn();
        let stored: redis::RedisResult<()> = conn
            .pset_ex(&key, sealed, ttl_ms(self.config.pending_ttl))
            .await;
        shared.redis.observe("sign-in authorize", &stored);
        stored.map_err(unavailable)
    }

    pub(super) async fn shared_take_pending(
        &self,
        shared: &Shared,
        halo_state: &str,
    ) -> Result<Option<Pending>, OAuthError> {
        let key = shared.key(&format!("pending:{}", hashed(halo_state)));
        let mut conn = shared.redis.conn();
        let taken: redis::RedisResult<Option<String>> =
            redis::cmd("GETDEL").arg(&key).query_async(&mut conn).await;
        shared.redis.observe("sign-in callback", &taken);
        Ok(taken
            .map_err(unavailable)?
            .and_then(|sealed| open_json(&shared.sealer, &key, &sealed)))
    }

    pub(super) async fn shared_keep_code(
        &self,
        shared: &Shared,
        code: &str,
        record: &CodeRecord,
    ) -> Result<(), OAuthError> {
        let key = shared.key(&format!("code:{}", hashed(code)));
        let sealed = seal_json(&shared.sealer, &key, record)?;
        let mut conn = shared.redis.conn();
        let stored: redis::RedisResult<()> = conn
            .pset_ex(&key, sealed, ttl_ms(self.config.code_ttl))
            .await;
        shared.redis.observe("sign-in callback", &stored);
        stored.map_err(unavailable)
    }

    pub(super) async fn shared_exchange(
        &self,
        shared: &Shared,
        form: &HashMap<String, String>,
    ) -> Result<Value, OAuthError> {
        let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let code = get("code")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "code is required"))?;
        let code_key = shared.key(&format!("code:{}", hashed(code)));
        let used_key = shared.key(&format!("used:{}", hashed(code)));
        let mut conn = shared.redis.conn();
        let taken: redis::RedisResult<(String, String)> = redis::Script::new(TAKE_CODE)
            .key(&code_key)
            .key(&used_key)
            .arg(ttl_ms(self.config.code_ttl.saturating_mul(10)))
            .invoke_async(&mut conn)
            .await;
        shared.redis.observe("sign-in exchange", &taken);
        let (outcome, value) = taken.map_err(unavailable)?;
        match outcome.as_str() {
            "fresh" => {}
            "used" => {
                // Presented before: whoever holds what its first use got may not be its owner.
                if !value.is_empty() {
                    self.shared_revoke(shared, &value).await?;
                }
                return Err(invalid_grant(
                    "this code was already used: the tokens issued for it are revoked",
                ));
            }
            _ => return Err(invalid_grant("unknown or expired code")),
        }
        let record: CodeRecord = open_json(&shared.sealer, &code_key, &value)
            .ok_or_else(|| invalid_grant("unknown or expired code"))?;
        if get("client_id") != Some(record.client_id.as_str()) {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if get("redirect_uri") != Some(record.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri does not match the one used to authorize",
            ));
        }
        if !get("code_verifier").is_some_and(|v| pkce_holds(v, &record.challenge)) {
            return Err(invalid_grant("PKCE verification failed"));
        }
        let (grant, access, refresh) = (self.random()?, self.random()?, self.random()?);
        let grant_key = shared.key(&format!("grant:{grant}"));
        let secrets = GrantSecrets {
            client_id: record.client_id.clone(),
            agent: record.agent,
            tokens: record.tokens,
        };
        let sealed = seal_json(&shared.sealer, &grant_key, &secrets)?;
        let idle = self.config.grant_idle_ttl;
        let access_ttl = self.config.access_ttl.min(idle);
        let issued: redis::RedisResult<i64> = redis::Script::new(ISSUE)
            .key(&used_key)
            .key(&grant_key)
            .key(shared.key(&format!("access:{}", hashed(&access))))
            .key(shared.key(&format!("refresh:{}", hashed(&refresh))))
            .arg(&grant)
            .arg(ttl_ms(idle))
            .arg(&record.client_id)
            .arg(sealed)
            .arg(now_ms().saturating_add(ttl_ms(idle)))
            .arg(ttl_ms(access_ttl))
            .invoke_async(&mut conn)
            .await;
        shared.redis.observe("sign-in exchange", &issued);
        if issued.map_err(unavailable)? == 0 {
            return Err(invalid_grant(
                "this code was presented twice: no tokens are issued for it",
            ));
        }
        Ok(super::token_answer(&access, &refresh, access_ttl))
    }

    async fn shared_revoke(&self, shared: &Shared, grant: &str) -> Result<(), OAuthError> {
        shared.agents.lock().remove(grant);
        let mut conn = shared.redis.conn();
        let result: redis::RedisResult<()> = conn.del(shared.key(&format!("grant:{grant}"))).await;
        shared.redis.observe("sign-in revoke", &result);
        result.map_err(unavailable)
    }

    /// A live grant's client id, generation and sealed secrets.
    async fn shared_grant(
        &self,
        shared: &Shared,
        grant: &str,
    ) -> Result<Option<(String, i64, GrantSecrets)>, OAuthError> {
        let key = shared.key(&format!("grant:{grant}"));
        let mut conn = shared.redis.conn();
        type Fields = (Option<String>, Option<String>, Option<i64>);
        let result: redis::RedisResult<Fields> = redis::cmd("HMGET")
            .arg(&key)
            .arg("client")
            .arg("sealed")
            .arg("gen")
            .query_async(&mut conn)
            .await;
        shared.redis.observe("sign-in grant", &result);
        let (Some(client), Some(sealed), Some(generation)) = result.map_err(unavailable)? else {
            return Ok(None);
        };
        Ok(open_json::<GrantSecrets>(&shared.sealer, &key, &sealed)
            .filter(|s| s.client_id == client)
            .map(|s| (client, generation, s)))
    }

    pub(super) async fn shared_refresh(
        &self,
        shared: &Shared,
        form: &HashMap<String, String>,
    ) -> Result<Value, OAuthError> {
        let token = form
            .get("refresh_token")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "refresh_token is required"))?;
        let unknown = || invalid_grant("unknown, revoked or expired refresh token: sign in again");
        let old_key = shared.key(&format!("refresh:{}", hashed(token)));
        let mut conn = shared.redis.conn();
        let found: redis::RedisResult<Option<String>> = conn.hget(&old_key, "grant").await;
        shared.redis.observe("sign-in refresh", &found);
        let grant = found.map_err(unavailable)?.ok_or_else(unknown)?;
        let (client, _, _) = self
            .shared_grant(shared, &grant)
            .await?
            .ok_or_else(unknown)?;
        // A public client proves nothing but its id; another client's id changes nothing.
        if form.get("client_id").map(String::as_str) != Some(client.as_str()) {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let ended = shared
            .agents
            .lock()
            .get(&grant)
            .and_then(|h| h.agent_tokens().map(|t| t.ended()))
            .unwrap_or(false);
        if ended {
            self.shared_revoke(shared, &grant).await?;
            return Err(invalid_grant(
                "Halo ended this sign-in (it refused to renew it): sign in again",
            ));
        }
        let (access, refresh) = (self.random()?, self.random()?);
        let grant_key = shared.key(&format!("grant:{grant}"));
        let idle = self.config.grant_idle_ttl;
        let access_ttl = self.config.access_ttl.min(idle);
        let rotated: redis::RedisResult<String> = redis::Script::new(ROTATE)
            .key(&old_key)
            .key(&grant_key)
            .key(shared.key(&format!("refresh:{}", hashed(&refresh))))
            .key(shared.key(&format!("access:{}", hashed(&access))))
            .arg(&grant)
            .arg(ttl_ms(idle))
            .arg(ttl_ms(access_ttl))
            .invoke_async(&mut conn)
            .await;
        shared.redis.observe("sign-in refresh", &rotated);
        match rotated.map_err(unavailable)?.as_str() {
            "ok" => {
                // Used: the grant's idle time starts again.
                let touched: redis::RedisResult<i64> =
                    conn.pexpire(&grant_key, ttl_ms(idle) as i64).await;
                shared.redis.observe("sign-in refresh", &touched);
                touched.map_err(unavailable)?;
                Ok(super::token_answer(&access, &refresh, access_ttl))
            }
            "spent" => {
                shared.agents.lock().remove(&grant);
                Err(invalid_grant(
                    "this refresh token was already used: every token of its grant is revoked; \
                     sign in again",
                ))
            }
            _ => Err(unknown()),
        }
    }

    pub(super) async fn shared_principal(
        &self,
        shared: &Shared,
        token: &str,
    ) -> Result<Option<AgentPrincipal>, OAuthError> {
        let mut conn = shared.redis.conn();
        let found: redis::RedisResult<Option<String>> = conn
            .get(shared.key(&format!("access:{}", hashed(token))))
            .await;
        shared.redis.observe("sign-in principal", &found);
        let Some(value) = found.map_err(unavailable)? else {
            return Ok(None);
        };
        let Some((grant, generation)) = value
            .split_once('|')
            .and_then(|(g, n)| Some((g.to_owned(), n.parse::<i64>().ok()?)))
        else {
            return Ok(None);
        };
        let Some((client_id, newest, secrets)) = self.shared_grant(shared, &grant).await? else {
            shared.agents.lock().remove(&grant);
            return Ok(None);
        };
        if generation + ACCESS_GENERATIONS <= newest {
            return Ok(None);
        }
        let key = format!("agent:{}@{}", secrets.agent.id, client_id);
        let cached = shared.agents.lock().get(&grant).cloned();
        let halo = match cached {
            Some(h) if h.agent_tokens().is_some_and(|t| t.ended()) => {
                self.shared_revoke(shared, &grant).await?;
                return Ok(None);
            }
            Some(h) => h,
            None => {
                let store = Arc::new(GrantTokens {
                    redis: shared.redis.clone(),
                    sealer: shared.sealer.clone(),
                    grant_key: shared.key(&format!("grant:{grant}")),
                    lock_key: shared.key(&format!("lock:{grant}")),
                    client_id: client_id.clone(),
                    agent: secrets.agent.clone(),
                });
                let tokens = AgentTokens::restored(secrets.tokens, store);
                tokens.set_identity(secrets.agent.clone());
                let halo = self
                    .app
                    .for_agent(Arc::new(tokens), &secrets.agent.id.to_string());
                let mut agents = shared.agents.lock();
                // Bounded like every map here: the cache is only a saving, any entry may go.
                if agents.len() >= self.config.max_grants.max(1)
                    && let Some(victim) = agents.keys().next().cloned()
                {
                    agents.remove(&victim);
                }
                agents.insert(grant.clone(), halo.clone());
                halo
            }
        };
        Ok(Some(AgentPrincipal { key, halo }))
    }
}
