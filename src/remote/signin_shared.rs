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
//! once (single use, one script). Client ID Metadata Documents stay cached per replica: they are
//! public, and fetching one again costs nothing but a request.

use std::{collections::HashMap, net::IpAddr, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use redis::AsyncCommands;
use serde_json::Value;

use super::{AgentPrincipal, HaloSignIn, OAuthError, Pending, invalid_grant};
use crate::{
    halo::{
        HaloClient,
        auth::{AgentIdentity, AgentTokenStore, AgentTokens, StoredAgentTokens},
    },
    remote::{
        authz::{registration_response, source_of, token_answer},
        oauth::shared::{
            ISSUE, ROTATE, TAKE, access_grant, hashed, now_ms, register_client, take_code,
            unavailable,
        },
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

/// Stores `value` sealed under `key` for `ttl`: a pending sign-in holds this server's verifier
/// towards Halo and a code the agent's Halo tokens, so neither may sit in Redis in the clear
/// or outlive its lifetime.
async fn keep_sealed<T: serde::Serialize>(
    shared: &Shared,
    key: &str,
    value: &T,
    ttl: Duration,
    what: &str,
) -> Result<(), OAuthError> {
    let sealed = seal_json(&shared.sealer, key, value)?;
    let mut conn = shared.redis.conn();
    let stored: redis::RedisResult<()> = conn.pset_ex(key, sealed, ttl_ms(ttl)).await;
    shared.redis.observe(what, &stored);
    stored.map_err(unavailable)
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
        let (uris, client_name) = super::public_client(request)?;
        let client_id = format!("hsi-{}", self.random()?);
        let source = source_of(source).to_string();
        register_client(
            &shared.redis,
            [
                shared.key(&format!("client:{}", hashed(&client_id))),
                shared.key(&format!("source:{}", hashed(&source))),
            ],
            self.config.registration_ttl,
            self.config.max_clients,
            Duration::from_secs(24 * 3600),
            &uris,
            "sign-in register",
        )
        .await?;
        Ok(registration_response(
            &client_id,
            &uris,
            client_name.as_deref(),
            "none",
        ))
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
        keep_sealed(
            shared,
            &key,
            pending,
            self.config.pending_ttl,
            "sign-in authorize",
        )
        .await
    }

    pub(super) async fn shared_take_pending(
        &self,
        shared: &Shared,
        halo_state: &str,
    ) -> Result<Option<Pending>, OAuthError> {
        let key = shared.key(&format!("pending:{}", hashed(halo_state)));
        let mut conn = shared.redis.conn();
        let taken: redis::RedisResult<Option<String>> = redis::Script::new(TAKE)
            .key(&key)
            .invoke_async(&mut conn)
            .await;
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
        keep_sealed(
            shared,
            &key,
            record,
            self.config.code_ttl,
            "sign-in callback",
        )
        .await
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
        let value = take_code(
            &shared.redis,
            &code_key,
            &used_key,
            self.config.code_ttl,
            "sign-in exchange",
            |grant| async move { self.shared_revoke(shared, &grant).await },
        )
        .await?;
        let mut conn = shared.redis.conn();
        let record: CodeRecord = open_json(&shared.sealer, &code_key, &value)
            .ok_or_else(|| invalid_grant("unknown or expired code"))?;
        super::check_code(
            form,
            &record.client_id,
            &record.redirect_uri,
            &record.challenge,
        )?;
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
        Ok(token_answer(&access, &refresh, access_ttl))
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
                Ok(token_answer(&access, &refresh, access_ttl))
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
        let Some((grant, generation)) = access_grant(
            &shared.redis,
            &shared.key(&format!("access:{}", hashed(token))),
            "sign-in principal",
        )
        .await?
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::{
        remote::{halo_signin::SignInConfig, oauth::s256},
        state::{SharedState, test_redis::start_or_skip},
    };

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const VERIFIER: &str = "signin-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    const REDIRECT: &str = "http://127.0.0.1:9/cb";
    const HALO_ACCESS: &str = "halo-access-token-of-the-agent-0123456789";
    const HALO_REFRESH: &str = "halo-refresh-token-of-the-agent-0123456789";

    fn server(url: &str) -> Arc<HaloSignIn> {
        let halo = crate::halo::HaloConfig {
            base_url: "http://127.0.0.1:9".into(),
            auth_url: "http://127.0.0.1:9/auth".into(),
            client_id: "signin-app".into(),
            client_secret: crate::secret::Secret::new(""),
            tenant: None,
            scope: "all".into(),
            timeout: Duration::from_secs(1),
            resilience: Default::default(),
            asset_fields: Default::default(),
        };
        let SharedState::Redis(redis) = SharedState::parse(url).unwrap() else {
            unreachable!()
        };
        HaloSignIn::shared(
            SignInConfig::default(),
            halo,
            redis,
            Sealer::from_setting(KEY).unwrap(),
        )
        .unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A code as Halo's callback leaves it (the Halo side is the e2e tests' business).
    async fn code_on(s: &HaloSignIn, client_id: &str) -> String {
        let code = s.random().unwrap();
        let record = CodeRecord {
            client_id: client_id.to_owned(),
            redirect_uri: REDIRECT.into(),
            challenge: s256(VERIFIER),
            agent: AgentIdentity {
                id: 3,
                name: "Bethany".into(),
            },
            tokens: StoredAgentTokens {
                access: HALO_ACCESS.into(),
                refresh: Some(HALO_REFRESH.into()),
                expires_ms: now_ms() + 3_600_000,
            },
        };
        let shared = s.shared.as_ref().unwrap();
        s.shared_keep_code(shared, &code, &record).await.unwrap();
        code
    }

    async fn register(s: &HaloSignIn) -> String {
        let r = s
            .register_any(
                &json!({"redirect_uris": [REDIRECT]}),
                "127.0.0.1".parse().unwrap(),
            )
            .await
            .unwrap();
        r["client_id"].as_str().unwrap().to_owned()
    }

    async fn exchange(s: &HaloSignIn, client_id: &str, code: &str) -> Result<Value, OAuthError> {
        s.exchange_any(&form(&[
            ("code", code),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .await
    }

    async fn refresh(s: &HaloSignIn, client_id: &str, t: &Value) -> Result<Value, OAuthError> {
        s.refresh_any(&form(&[
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", client_id),
        ]))
        .await
    }

    async fn works(s: &HaloSignIn, t: &Value) -> bool {
        s.resolve(t["access_token"].as_str().unwrap())
            .await
            .unwrap()
            .is_some()
    }

    #[tokio::test]
    async fn codes_grants_and_rotation_hold_across_replicas_and_halo_tokens_are_sealed() {
        let Some(redis) = start_or_skip() else {
            return;
        };
        let (a, b) = (server(&redis.url()), server(&redis.url()));
        let client = register(&a).await;
        // The registration is known to B.
        b.shared_check_client(b.shared.as_ref().unwrap(), &client, REDIRECT)
            .await
            .unwrap();
        let code = code_on(&a, &client).await;
        let first = exchange(&b, &client, &code).await.unwrap();
        assert!(works(&a, &first).await);
        let p = a
            .resolve(first["access_token"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.key, format!("agent:3@{client}"));

        // Nothing that would let Redis's reader act is there as it is.
        let mut conn = a.shared.as_ref().unwrap().redis.conn();
        let keys: Vec<String> = conn.keys("*").await.unwrap();
        let mut stored = String::new();
        for k in &keys {
            let kind: String = redis::cmd("TYPE")
                .arg(k)
                .query_async(&mut conn)
                .await
                .unwrap();
            let v = match kind.as_str() {
                "string" => conn.get::<_, String>(k).await.unwrap(),
                "hash" => format!("{:?}", conn.hgetall::<_, Vec<String>>(k).await.unwrap()),
                _ => String::new(),
            };
            stored.push_str(&format!("{k} = {v}\n"));
            let ttl: i64 = conn.pttl(k).await.unwrap();
            assert!(ttl > 0, "{k} has no TTL");
        }
        for secret in [
            HALO_ACCESS,
            HALO_REFRESH,
            "Bethany",
            &code,
            first["access_token"].as_str().unwrap(),
            first["refresh_token"].as_str().unwrap(),
        ] {
            assert!(
                !stored.contains(secret),
                "{secret} stored as it is:\n{stored}"
            );
        }

        // Another client's id changes nothing; the owner rotates on A, and B honours it.
        let other = register(&b).await;
        assert!(refresh(&b, &other, &first).await.is_err());
        let second = refresh(&a, &client, &first).await.unwrap();
        assert!(works(&b, &second).await && works(&b, &first).await);
        // The rotated token presented again on B: the grant goes, on both.
        assert_eq!(
            refresh(&b, &client, &first).await.unwrap_err().error,
            "invalid_grant"
        );
        assert!(!works(&a, &second).await && !works(&b, &second).await);

        // A code is single-use across replicas, and its replay revokes what it got.
        let code = code_on(&b, &client).await;
        let t = exchange(&a, &client, &code).await.unwrap();
        assert_eq!(
            exchange(&b, &client, &code).await.unwrap_err().error,
            "invalid_grant"
        );
        assert!(!works(&a, &t).await);
    }

    #[tokio::test]
    async fn without_redis_the_sign_in_server_fails_closed() {
        let Some(mut redis) = start_or_skip() else {
            return;
        };
        let (a, b) = (server(&redis.url()), server(&redis.url()));
        let client = register(&a).await;
        let t = exchange(&a, &client, &code_on(&a, &client).await)
            .await
            .unwrap();
        assert!(works(&b, &t).await);
        redis.stop();
        let e = b
            .resolve(t["access_token"].as_str().unwrap())
            .await
            .err()
            .unwrap();
        assert_eq!((e.status, e.error), (503, "temporarily_unavailable"));
        assert_eq!(refresh(&b, &client, &t).await.unwrap_err().status, 503);
        let e = b
            .register_any(
                &json!({"redirect_uris": [REDIRECT]}),
                "127.0.0.1".parse().unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.status, 503);
    }

    #[tokio::test]
    async fn renewal_under_the_lock_adopts_what_another_replica_wrote() {
        let Some(redis) = start_or_skip() else {
            return;
        };
        let (a, b) = (server(&redis.url()), server(&redis.url()));
        let client = register(&a).await;
        let t = exchange(&a, &client, &code_on(&a, &client).await)
            .await
            .unwrap();
        let on_a = a
            .resolve(t["access_token"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let on_b = b
            .resolve(t["access_token"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let tokens_a = on_a.halo.agent_tokens().unwrap().clone();
        let tokens_b = on_b.halo.agent_tokens().unwrap().clone();
        // B renewed (as if Halo had answered) and wrote the pair back under the lock.
        let shared = b.shared.as_ref().unwrap();
        let grant = {
            let agents = shared.agents.lock();
            agents.keys().next().unwrap().clone()
        };
        let store = GrantTokens {
            redis: shared.redis.clone(),
            sealer: shared.sealer.clone(),
            grant_key: shared.key(&format!("grant:{grant}")),
            lock_key: shared.key(&format!("lock:{grant}")),
            client_id: client.clone(),
            agent: AgentIdentity {
                id: 3,
                name: "Bethany".into(),
            },
        };
        let guard = store.lock().await.unwrap();
        // While B holds it, nobody else gets it.
        let mut conn = shared.redis.conn();
        let held: Option<String> = redis::cmd("SET")
            .arg(&store.lock_key)
            .arg("x")
            .arg("NX")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(held.is_none());
        let renewed = StoredAgentTokens {
            access: "renewed-access".into(),
            refresh: Some("renewed-refresh".into()),
            expires_ms: now_ms() + 3_600_000,
        };
        store.save(renewed).await.unwrap();
        store.unlock(guard).await;
        assert_eq!(
            store.load().await.unwrap().unwrap().access,
            "renewed-access"
        );
        assert_eq!(tokens_b.snapshot().await.access, HALO_ACCESS);
        // A is told its token is dead (Halo said 401): it renews, finds B's pair and takes it
        // without asking Halo (which is unreachable here: asking would fail).
        let http = reqwest::Client::new();
        let cfg = on_a.halo.config().clone();
        let (_, generation) = tokens_a.bearer(&http, &cfg).await.unwrap();
        tokens_a.invalidate(generation).await;
        let (bearer, _) = tokens_a.bearer(&http, &cfg).await.unwrap();
        assert_eq!(bearer.expose(), "renewed-access");
        assert!(!tokens_a.ended());
    }
}
