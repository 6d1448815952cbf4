//! The OAuth proxy's state in Redis, so that replicas behind one load balancer act as one
//! authorisation server: a flow begun on one replica finishes on another, and a token issued by
//! one is honoured, rotated or revoked by all.
//!
//! Same rules as the in-memory store, made to hold across processes:
//! - a code is taken with one atomic step (a Lua script: read, delete, mark used), so of two
//!   replicas presented the same code at once only one gets it; the other sees the marker, flags
//!   it replayed and revokes whatever the code granted, and the first exchange issues nothing if
//!   it finishes after that (the flag is checked in the same script that creates the grant);
//! - a refresh token is rotated by one script that checks it is unspent, marks it spent and
//!   stores its successor, so a token rotates at most once whichever replicas race;
//! - revoking a grant is deleting its record: every token names its grant and is only valid
//!   while that record exists, so there is no list of tokens to chase across replicas;
//! - only the newest two access tokens of a grant pass (a generation number in the grant).
//!
//! What is stored: codes, access and refresh tokens are keys by their SHA-256, never as they
//! are; the code record (it may hold a verifier this server made) and the Halo client secret a
//! grant was proved with are sealed (`sealed`). Every key has a TTL equal to the in-memory
//! lifetime of what it stands for. Registrations are a hash per client id whose fields are the
//! SHA-256 of each registered redirect URI.
//!
//! Caps differ from memory, where the least valuable entry is evicted: Redis evicts by TTL, and
//! new registrations are limited per source (`max_clients` a day from one address or /64), the
//! only thing an anonymous caller can create without a code or credentials.
//!
//! If Redis does not answer, every step fails with 503 `temporarily_unavailable`: there is no
//! local copy to fall back to that could still accept a revoked token.

use std::{collections::HashMap, net::IpAddr, sync::Arc, time::Duration};

use redis::AsyncCommands;
use serde_json::{Value, json};

use super::{
    Approval, Approved, Held, OAuthError, OAuthStore, Principal, check_exchange, invalid_grant,
    source_of, unregistered,
};
use crate::{
    halo::HaloClient,
    remote::{
        authz::{after, make_room, registration_response, token_answer},
        sealed::Sealer,
    },
    secret::Secret,
    state::{RedisState, ttl_ms},
};

/// The store's connection and key.
pub(super) struct Shared {
    pub(super) redis: Arc<RedisState>,
    pub(super) sealer: Sealer,
}

/// Redis could not be asked: fail closed.
pub(crate) fn unavailable(_: redis::RedisError) -> OAuthError {
    OAuthError::new(
        503,
        "temporarily_unavailable",
        "the shared OAuth state (Redis) does not answer: try again shortly",
    )
}

/// Full SHA-256, hex: the key of a code or token, never the value itself.
pub(crate) fn hashed(value: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, value.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a grant keeps sealed. The client id is in it as well as beside it (in the clear, for
/// nothing but reading): a record whose clear id was changed in Redis does not open as a grant.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    client_id: String,
    secret: String,
}

/// Takes a code: if it is there, deletes it and marks it used; if it was used, flags the
/// marker replayed and says which grant it led to.
pub(crate) const TAKE_CODE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'replayed', '0')
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  return {'fresh', v}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'replayed', '1')
  return {'used', redis.call('HGET', KEYS[2], 'grant') or ''}
end
return {'unknown', ''}
";

/// Runs `TAKE_CODE` for the code stored at `code_key` (its used-marker at `used_key`) and
/// returns the sealed record a first use finds. Both shared stores answer a replay the same way
/// (RFC 6749 §4.1.2: revoke what the first use got, then refuse), so that rule lives here once;
/// `revoke` is the store's own, given the grant the marker names.
pub(crate) async fn take_code<F>(
    redis: &RedisState,
    code_key: &str,
    used_key: &str,
    code_ttl: Duration,
    what: &str,
    revoke: impl FnOnce(String) -> F,
) -> Result<String, OAuthError>
where
    F: std::future::Future<Output = Result<(), OAuthError>>,
{
    let mut conn = redis.conn();
    // The marker outlives the code so a late replay is still recognised.
    let taken: redis::RedisResult<(String, String)> = redis::Script::new(TAKE_CODE)
        .key(code_key)
        .key(used_key)
        .arg(ttl_ms(code_ttl.saturating_mul(10)))
        .invoke_async(&mut conn)
        .await;
    redis.observe(what, &taken);
    let (outcome, value) = taken.map_err(unavailable)?;
    match outcome.as_str() {
        "fresh" => Ok(value),
        "used" => {
            // Used before: someone else may hold it, so revoke what its first use got; an
            // exchange still running was flagged by the script (empty grant here).
            if !value.is_empty() {
                revoke(value).await?;
            }
            Err(invalid_grant(
                "this code was already used: the tokens issued for it are revoked",
            ))
        }
        _ => Err(invalid_grant("unknown or expired code")),
    }
}

/// Runs `REGISTER` for `uris`: `keys` are the client's record and its source's counter, which
/// allows `max_clients` new registrations per `window`; the record lives at least `ttl` more.
/// Both shared stores count registrations per source this way, so a flood from one address is
/// refused alike in either mode.
pub(crate) async fn register_client(
    redis: &RedisState,
    keys: [String; 2],
    ttl: Duration,
    max_clients: usize,
    window: Duration,
    uris: &[String],
    what: &str,
) -> Result<(), OAuthError> {
    let [client_key, source_key] = keys;
    let register = redis::Script::new(REGISTER);
    let mut script = register.prepare_invoke();
    script
        .key(client_key)
        .key(source_key)
        .arg(ttl_ms(ttl))
        .arg(max_clients.max(1))
        .arg(ttl_ms(window));
    for u in uris {
        script.arg(hashed(u));
    }
    let mut conn = redis.conn();
    let result: redis::RedisResult<i64> = script.invoke_async(&mut conn).await;
    redis.observe(what, &result);
    if result.map_err(unavailable)? == 0 {
        return Err(OAuthError::new(
            429,
            "invalid_client_metadata",
            "too many registrations from this address today: reuse a registration",
        ));
    }
    Ok(())
}

/// The grant and generation an access token at `key` names (ISSUE and ROTATE store it as
/// `grant|generation`), or `None` for an unknown token or a value that does not read as one.
/// Whether that grant still stands, and that generation is still current, is the caller's to ask.
pub(crate) async fn access_grant(
    redis: &RedisState,
    key: &str,
    what: &str,
) -> Result<Option<(String, i64)>, OAuthError> {
    let mut conn = redis.conn();
    let found: redis::RedisResult<Option<String>> = conn.get(key).await;
    redis.observe(what, &found);
    Ok(found.map_err(unavailable)?.and_then(|value| {
        value
            .split_once('|')
            .and_then(|(g, n)| Some((g.to_owned(), n.parse::<i64>().ok()?)))
    }))
}

/// Creates a grant and its first tokens, unless the code was presented again meanwhile.
pub(crate) const ISSUE: &str = r"
if redis.call('HGET', KEYS[1], 'replayed') ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'grant', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'client', ARGV[3], 'sealed', ARGV[4], 'gen', '0', 'expires', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[1] .. '|0', 'PX', ARGV[6])
redis.call('HSET', KEYS[4], 'grant', ARGV[1], 'spent', '0')
redis.call('PEXPIRE', KEYS[4], ARGV[2])
return 1
";

/// Rotates a refresh token of a live grant once: the old one is marked spent, the new pair
/// stored. A spent one revokes the grant.
pub(crate) const ROTATE: &str = r"
if redis.call('HGET', KEYS[1], 'grant') ~= ARGV[1] then return 'unknown' end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'unknown' end
if redis.call('HGET', KEYS[1], 'spent') ~= '0' then
  redis.call('DEL', KEYS[2])
  return 'spent'
end
redis.call('HSET', KEYS[1], 'spent', '1')
local gen = redis.call('HINCRBY', KEYS[2], 'gen', 1)
redis.call('HSET', KEYS[3], 'grant', ARGV[1], 'spent', '0')
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[1] .. '|' .. gen, 'PX', ARGV[3])
return 'ok'
";

/// Registers redirect URIs (ARGV[4..]) for a client: a registration already there is only
/// refreshed; a new one counts against its source's daily allowance.
pub(crate) const REGISTER: &str = r"
local new = false
for i = 4, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then new = true end
end
if new then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
  if n > tonumber(ARGV[2]) then return 0 end
  for i = 4, #ARGV do redis.call('HSETNX', KEYS[1], ARGV[i], '0') end
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
";

/// Extends a key's TTL to ARGV[1] ms, never shortens it. (`PEXPIRE … GT` says the same but
/// needs Redis 7; this runs on any Redis with scripting.)
pub(crate) const EXTEND: &str = r"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
";

/// Takes a value once: GETDEL, which needs Redis 6.2, as a script.
pub(crate) const TAKE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
";

/// Only the newest this many access tokens of a grant pass (as in memory).
const ACCESS_GENERATIONS: i64 = super::ACCESS_PER_GRANT as i64;

impl OAuthStore {
    fn client_key(shared: &Shared, client_id: &str) -> String {
        shared
            .redis
            .key(&format!("oauth:client:{}", hashed(client_id)))
    }

    pub(super) async fn shared_register(
        &self,
        shared: &Shared,
        request: &Value,
        source: IpAddr,
    ) -> Result<Value, OAuthError> {
        let super::Asked {
            uris,
            method,
            client_name,
            client_id,
        } = super::asked(request)?;
        let client_id = match client_id {
            Some(id) => id,
            None => format!("hmcp-{}", self.random()?),
        };
        let source = source_of(source).to_string();
        let window = self.config.unproven_registration_ttl;
        register_client(
            &shared.redis,
            [
                Self::client_key(shared, &client_id),
                shared
                    .redis
                    .key(&format!("oauth:source:{}", hashed(&source))),
            ],
            self.config.unproven_registration_ttl,
            self.config.max_clients,
            window,
            &uris,
            "oauth register",
        )
        .await?;
        Ok(registration_response(
            &client_id,
            &uris,
            client_name.as_deref(),
            &method,
        ))
    }

    pub(super) async fn shared_authorize(
        &self,
        shared: &Shared,
        params: &HashMap<String, String>,
    ) -> Result<String, OAuthError> {
        let (client_id, redirect_uri) = super::client_and_redirect(params)?;
        let client_key = Self::client_key(shared, client_id);
        let field = hashed(redirect_uri);
        let mut conn = shared.redis.conn();
        let found: redis::RedisResult<(Option<String>, bool)> = redis::pipe()
            .hget(&client_key, &field)
            .exists(&client_key)
            .query_async(&mut conn)
            .await;
        shared.redis.observe("oauth authorize", &found);
        let (proven, known) = found.map_err(unavailable)?;
        let registration = match proven {
            Some(proven) => {
                // Used: it lives on from now (longer once proven), never shorter than it had.
                let ttl = if proven == "1" {
                    self.config.registration_ttl
                } else {
                    self.config.unproven_registration_ttl
                };
                let touched: redis::RedisResult<i64> = redis::Script::new(EXTEND)
                    .key(&client_key)
                    .arg(ttl_ms(ttl))
                    .invoke_async(&mut conn)
                    .await;
                shared.redis.observe("oauth authorize", &touched);
                touched.map_err(unavailable)?;
                Some(field)
            }
            None if self.config.redirect_uris.iter().any(|u| u == redirect_uri) => None,
            None => return Err(unregistered(known)),
        };
        let (location, code, approved) = match self.approve(params)? {
            Approval::Back(location) => return Ok(location),
            Approval::Code {
                location,
                code,
                approved,
            } => (location, code, approved),
        };
        let key = shared.redis.key(&format!("oauth:code:{}", hashed(&code)));
        let record = json!({"approved": approved, "registration": registration});
        // The record may hold a verifier this server made: sealed like a secret.
        let sealed = shared
            .sealer
            .seal(&key, record.to_string().as_bytes())
            .map_err(|e| OAuthError::new(500, "server_error", e))?;
        let stored: redis::RedisResult<()> = conn
            .pset_ex(&key, sealed, ttl_ms(self.config.code_ttl))
            .await;
        shared.redis.observe("oauth authorize", &stored);
        stored.map_err(unavailable)?;
        Ok(location)
    }

    pub(super) async fn shared_exchange(
        &self,
        shared: &Shared,
        form: &HashMap<String, String>,
        code: &str,
        client_id: String,
        secret: Option<String>,
    ) -> Result<Value, OAuthError> {
        let code_key = shared.redis.key(&format!("oauth:code:{}", hashed(code)));
        let used_key = shared.redis.key(&format!("oauth:used:{}", hashed(code)));
        let value = take_code(
            &shared.redis,
            &code_key,
            &used_key,
            self.config.code_ttl,
            "oauth exchange",
            |grant| async move { self.shared_revoke(shared, &grant).await },
        )
        .await?;
        let mut conn = shared.redis.conn();
        let record: Value = shared
            .sealer
            .open(&code_key, &value)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or_else(|| invalid_grant("unknown or expired code"))?;
        let approved: Approved = serde_json::from_value(record["approved"].clone())
            .map_err(|_| invalid_grant("unknown or expired code"))?;
        let secret = check_exchange(
            form,
            &client_id,
            secret,
            &approved.client_id,
            &approved.redirect_uri,
            &approved.challenge,
            approved.injected_verifier.as_deref(),
        )?;
        self.prove(&client_id, &secret).await?;
        let grant = self.random()?;
        let access = self.random()?;
        let refresh = self.random()?;
        let grant_key = shared.redis.key(&format!("oauth:grant:{grant}"));
        let sealed = serde_json::to_vec(&Sealed {
            client_id: client_id.clone(),
            secret,
        })
        .map_err(|e| e.to_string())
        .and_then(|plain| shared.sealer.seal(&grant_key, &plain))
        .map_err(|e| OAuthError::new(500, "server_error", e))?;
        let credential_ttl = self.config.credential_ttl;
        let access_ttl = self.config.access_ttl.min(credential_ttl);
        let expires_ms = now_ms().saturating_add(ttl_ms(credential_ttl));
        let issued: redis::RedisResult<i64> = redis::Script::new(ISSUE)
            .key(&used_key)
            .key(&grant_key)
            .key(self.access_key(shared, &access))
            .key(self.refresh_key(shared, &refresh))
            .arg(&grant)
            .arg(ttl_ms(credential_ttl))
            .arg(&client_id)
            .arg(sealed)
            .arg(expires_ms)
            .arg(ttl_ms(access_ttl))
            .invoke_async(&mut conn)
            .await;
        shared.redis.observe("oauth exchange", &issued);
        if issued.map_err(unavailable)? == 0 {
            return Err(invalid_grant(
                "this code was presented twice: no tokens are issued for it",
            ));
        }
        if let Some(field) = record["registration"].as_str() {
            // The registration led to tokens: it is proven, and lives longer. Best effort: the
            // tokens are issued already, and an unproven registration only lapses sooner.
            let key = Self::client_key(shared, &approved.client_id);
            let proven: redis::RedisResult<()> = conn.hset(&key, field, "1").await;
            shared.redis.observe("oauth exchange", &proven);
            let extended: redis::RedisResult<i64> = redis::Script::new(EXTEND)
                .key(&key)
                .arg(ttl_ms(self.config.registration_ttl))
                .invoke_async(&mut conn)
                .await;
            shared.redis.observe("oauth exchange", &extended);
        }
        Ok(token_answer(&access, &refresh, access_ttl))
    }

    fn access_key(&self, shared: &Shared, token: &str) -> String {
        shared.redis.key(&format!("oauth:access:{}", hashed(token)))
    }

    fn refresh_key(&self, shared: &Shared, token: &str) -> String {
        shared
            .redis
            .key(&format!("oauth:refresh:{}", hashed(token)))
    }

    /// Revokes a grant: its record goes, and with it the validity of every token naming it.
    async fn shared_revoke(&self, shared: &Shared, grant: &str) -> Result<(), OAuthError> {
        let key = shared.redis.key(&format!("oauth:grant:{grant}"));
        let mut conn = shared.redis.conn();
        let result: redis::RedisResult<()> = conn.del(&key).await;
        shared.redis.observe("oauth revoke", &result);
        result.map_err(unavailable)
    }

    /// A grant's client id, secret, generation and expiry (unix ms), if it is live.
    async fn shared_grant(
        &self,
        shared: &Shared,
        grant: &str,
    ) -> Result<Option<(String, String, i64, u64)>, OAuthError> {
        let key = shared.redis.key(&format!("oauth:grant:{grant}"));
        let mut conn = shared.redis.conn();
        type Fields = (Option<String>, Option<String>, Option<i64>, Option<u64>);
        let result: redis::RedisResult<Fields> = redis::cmd("HMGET")
            .arg(&key)
            .arg("client")
            .arg("sealed")
            .arg("gen")
            .arg("expires")
            .query_async(&mut conn)
            .await;
        shared.redis.observe("oauth grant", &result);
        let (Some(client), Some(sealed), Some(generation), Some(expires)) =
            result.map_err(unavailable)?
        else {
            return Ok(None);
        };
        // A value sealed with a key no longer configured reads as no grant: its client
        // authorizes again.
        let secret = shared
            .sealer
            .open(&key, &sealed)
            .ok()
            .and_then(|plain| serde_json::from_slice::<Sealed>(&plain).ok())
            .filter(|s| s.client_id == client)
            .map(|s| s.secret);
        Ok(secret.map(|secret| (client, secret, generation, expires)))
    }

    pub(super) async fn shared_refresh(
        &self,
        shared: &Shared,
        token: &str,
        client_id: String,
        secret: Option<String>,
    ) -> Result<Value, OAuthError> {
        let unknown = || invalid_grant("unknown, revoked or expired refresh token");
        let old_key = self.refresh_key(shared, token);
        let mut conn = shared.redis.conn();
        let found: redis::RedisResult<Option<String>> = conn.hget(&old_key, "grant").await;
        shared.redis.observe("oauth refresh", &found);
        let grant = found.map_err(unavailable)?.ok_or_else(unknown)?;
        let (owner, proved, _, expires) = self
            .shared_grant(shared, &grant)
            .await?
            .ok_or_else(unknown)?;
        // Nothing changes unless the caller is the client the token was issued to, with the
        // secret its grant was proved with.
        let authentic = owner == client_id
            && secret
                .as_deref()
                .is_some_and(|s| crate::secret::same_bytes(s.as_bytes(), proved.as_bytes()));
        if !authentic {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                "client authentication failed: use the client id and secret the token was \
                 issued to",
            ));
        }
        let remaining = Duration::from_millis(expires.saturating_sub(now_ms()));
        if remaining.is_zero() {
            self.shared_revoke(shared, &grant).await?;
            return Err(invalid_grant("the credentials expired: authorize again"));
        }
        let access = self.random()?;
        let refresh = self.random()?;
        let access_ttl = self.config.access_ttl.min(remaining);
        let rotated: redis::RedisResult<String> = redis::Script::new(ROTATE)
            .key(&old_key)
            .key(shared.redis.key(&format!("oauth:grant:{grant}")))
            .key(self.refresh_key(shared, &refresh))
            .key(self.access_key(shared, &access))
            .arg(&grant)
            .arg(ttl_ms(remaining))
            .arg(ttl_ms(access_ttl))
            .invoke_async(&mut conn)
            .await;
        shared.redis.observe("oauth refresh", &rotated);
        match rotated.map_err(unavailable)?.as_str() {
            "ok" => Ok(token_answer(&access, &refresh, access_ttl)),
            "spent" => Err(invalid_grant(
                "this refresh token was already used: every token of its grant is revoked; \
                 authorize again",
            )),
            _ => Err(unknown()),
        }
    }

    pub(super) async fn shared_principal(
        &self,
        shared: &Shared,
        token: &str,
    ) -> Result<Option<Principal>, OAuthError> {
        let Some((grant, generation)) = access_grant(
            &shared.redis,
            &self.access_key(shared, token),
            "oauth principal",
        )
        .await?
        else {
            return Ok(None);
        };
        let Some((client_id, secret, newest, expires)) = self.shared_grant(shared, &grant).await?
        else {
            return Ok(None);
        };
        if generation + ACCESS_GENERATIONS <= newest || expires <= now_ms() {
            return Ok(None);
        }
        let remaining = Duration::from_millis(expires.saturating_sub(now_ms()));
        let halo = self.halo_for(&client_id, &secret, remaining)?;
        Ok(Some(Principal { client_id, halo }))
    }

    /// A Halo client for credentials a grant holds: this replica's (with its Halo token) when
    /// it has one for the same secret, else a new one. Halo accepted these credentials when
    /// the grant was made, so they are not checked again here; if Halo stopped accepting them,
    /// calls fail as they would on the replica that made the grant.
    fn halo_for(
        &self,
        client_id: &str,
        secret: &str,
        remaining: Duration,
    ) -> Result<HaloClient, OAuthError> {
        let wanted = super::digest(secret);
        let now = self.clock.now();
        let mut state = self.state.lock();
        if let Some(h) = state.held.get(client_id)
            && h.expires > now
            && crate::secret::same_bytes(&h.secret_digest, &wanted)
        {
            return Ok(h.halo.clone());
        }
        let mut cfg = self.template.clone();
        cfg.client_id = client_id.to_owned();
        cfg.client_secret = Secret::new(secret);
        let halo = HaloClient::new(cfg)
            .map_err(|e| OAuthError::new(500, "server_error", format!("cannot reach Halo: {e}")))?;
        // Bounded as in memory: one entry per application, at most `max_grants`.
        // A client already held is replaced in place, so only a new one needs room.
        if !state.held.contains_key(client_id) {
            make_room(&mut state.held, self.config.max_grants, |h| h.expires);
        }
        state.held.insert(
            client_id.to_owned(),
            Held {
                halo: halo.clone(),
                secret_digest: wanted,
                expires: after(now, remaining),
            },
        );
        Ok(halo)
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{
        remote::oauth::{OAuthConfig, s256},
        sim::Simulator,
        state::{SharedState, test_redis::start_or_skip},
    };

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const VERIFIER: &str = "shared-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    const REDIRECT: &str = "http://127.0.0.1:9/cb";
    const DEMO: (&str, &str) = ("demo-client", "demo-secret");

    /// Two replicas' stores on one Redis, in front of one simulator.
    async fn two_stores(url: &str) -> (Simulator, Arc<OAuthStore>, Arc<OAuthStore>) {
        let sim = crate::local::simulator(Default::default()).await.unwrap();
        let template = crate::local::halo_config(&sim);
        let mut stores = (0..2).map(|_| {
            let state = SharedState::parse(url).unwrap();
            OAuthStore::for_state(OAuthConfig::default(), template.clone(), &state, Some(KEY))
                .unwrap()
        });
        let (a, b) = (stores.next().unwrap(), stores.next().unwrap());
        (sim, a, b)
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn creds() -> Option<(String, Option<String>)> {
        Some((DEMO.0.to_owned(), Some(DEMO.1.to_owned())))
    }

    async fn code_on(store: &OAuthStore) -> String {
        store
            .register_any(
                &json!({"client_id": DEMO.0, "redirect_uris": [REDIRECT]}),
                "127.0.0.1".parse().unwrap(),
            )
            .await
            .unwrap();
        let location = store
            .authorize_any(&map(&[
                ("response_type", "code"),
                ("client_id", DEMO.0),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &s256(VERIFIER)),
                ("code_challenge_method", "S256"),
            ]))
            .await
            .unwrap();
        let url = reqwest::Url::parse(&location).unwrap();
        let code = url.query_pairs().find(|(k, _)| k == "code");
        code.unwrap().1.into_owned()
    }

    async fn exchange(store: &OAuthStore, code: &str) -> Result<Value, OAuthError> {
        let form = map(&[
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]);
        store.exchange_code(&form, creds()).await
    }

    async fn refresh(store: &OAuthStore, token: &Value) -> Result<Value, OAuthError> {
        let t = token["refresh_token"].as_str().unwrap();
        store.refresh(&map(&[("refresh_token", t)]), creds()).await
    }

    async fn works(store: &OAuthStore, token: &Value) -> bool {
        let t = token["access_token"].as_str().unwrap();
        store.resolve(t).await.unwrap().is_some()
    }

    /// Every key and value in Redis, as text.
    async fn dump(store: &OAuthStore) -> String {
        let redis = &store.shared.as_ref().unwrap().redis;
        let mut conn = redis.conn();
        let keys: Vec<String> = conn.keys("*").await.unwrap();
        let mut out = String::new();
        for k in keys {
            let kind: String = redis::cmd("TYPE")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap();
            let value = match kind.as_str() {
                "string" => conn.get::<_, String>(&k).await.unwrap(),
                "hash" => format!("{:?}", conn.hgetall::<_, Vec<String>>(&k).await.unwrap()),
                _ => String::new(),
            };
            out.push_str(&format!("{k} = {value}\n"));
        }
        out
    }

    #[tokio::test]
    async fn a_flow_begun_on_one_replica_ends_on_another_and_nothing_is_stored_in_the_clear() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let (_sim, a, b) = two_stores(&server.url()).await;
        let code = code_on(&a).await;
        let token = exchange(&b, &code).await.unwrap();
        assert!(works(&a, &token).await && works(&b, &token).await);
        let p = a.resolve(token["access_token"].as_str().unwrap()).await;
        assert_eq!(p.unwrap().unwrap().client_id, DEMO.0);
        let stored = dump(&a).await;
        assert!(stored.contains("halo-mcp:v1:oauth:grant:"), "{stored}");
        for secret in [
            DEMO.1,
            &code,
            token["access_token"].as_str().unwrap(),
            token["refresh_token"].as_str().unwrap(),
            REDIRECT,
        ] {
            assert!(
                !stored.contains(secret),
                "{secret} is stored as it is:\n{stored}"
            );
        }
        // Every key expires.
        let redis = &a.shared.as_ref().unwrap().redis;
        let mut conn = redis.conn();
        let keys: Vec<String> = conn.keys("*").await.unwrap();
        for k in keys {
            let ttl: i64 = conn.pttl(&k).await.unwrap();
            assert!(ttl > 0, "{k} has no TTL");
        }
    }

    #[tokio::test]
    async fn a_code_used_on_one_replica_is_refused_on_another_and_revokes_its_grant() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let (_sim, a, b) = two_stores(&server.url()).await;
        let code = code_on(&a).await;
        let token = exchange(&a, &code).await.unwrap();
        let e = exchange(&b, &code).await.unwrap_err();
        assert_eq!(e.error, "invalid_grant");
        assert!(!works(&a, &token).await && !works(&b, &token).await);
        assert_eq!(
            refresh(&a, &token).await.unwrap_err().error,
            "invalid_grant"
        );

        // Two replicas racing for one code: one wins, the loser's replay revokes the winner's
        // grant (or stops it being issued), so no token comes out alive.
        let code = code_on(&b).await;
        let (x, y) = tokio::join!(exchange(&a, &code), exchange(&b, &code));
        let live = [x, y].into_iter().flatten().collect::<Vec<_>>();
        assert!(live.len() <= 1);
        for t in &live {
            assert!(!works(&a, t).await);
        }
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_across_replicas_and_a_rotated_one_revokes_the_grant() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let (_sim, a, b) = two_stores(&server.url()).await;
        let first = exchange(&a, &code_on(&a).await).await.unwrap();
        // A stranger's attempt on B changes nothing.
        let t = first["refresh_token"].as_str().unwrap();
        let e = b
            .refresh(
                &map(&[("refresh_token", t)]),
                Some((DEMO.0.to_owned(), Some("wrong".into()))),
            )
            .await
            .unwrap_err();
        assert_eq!(e.error, "invalid_client");
        let second = refresh(&b, &first).await.unwrap();
        assert!(works(&a, &second).await);
        // The previous access token still passes (requests in flight over a refresh)...
        assert!(works(&b, &first).await);
        let third = refresh(&a, &second).await.unwrap();
        // ...but only the newest two do.
        assert!(!works(&b, &first).await && works(&b, &third).await);
        // The rotated token again, on either replica: the whole grant goes.
        let e = refresh(&a, &first).await.unwrap_err();
        assert_eq!(e.error, "invalid_grant");
        assert!(!works(&a, &third).await && !works(&b, &third).await);
        assert!(refresh(&b, &third).await.is_err());
    }

    #[tokio::test]
    async fn new_registrations_are_limited_per_source_and_repeats_are_free() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let sim = crate::local::simulator(Default::default()).await.unwrap();
        let config = OAuthConfig {
            max_clients: 3,
            ..OAuthConfig::default()
        };
        let state = SharedState::parse(&server.url()).unwrap();
        let store =
            OAuthStore::for_state(config, crate::local::halo_config(&sim), &state, Some(KEY))
                .unwrap();
        let from = |ip: &str| ip.parse::<IpAddr>().unwrap();
        let reg = |uri: String, ip: &'static str| {
            let store = store.clone();
            async move {
                store
                    .register_any(&json!({"redirect_uris": [uri]}), from(ip))
                    .await
            }
        };
        for i in 0..3 {
            reg(format!("https://a.example/{i}"), "10.0.0.1")
                .await
                .unwrap();
        }
        let e = reg("https://a.example/x".into(), "10.0.0.1")
            .await
            .unwrap_err();
        assert_eq!(e.status, 429);
        // Another source, and an IPv6 /64 counted as one.
        reg("https://b.example/x".into(), "10.0.0.2").await.unwrap();
        for i in 0..3 {
            reg(format!("https://c.example/{i}"), "2001:db8::1")
                .await
                .unwrap();
        }
        let e = reg("https://c.example/x".into(), "2001:db8::ffff")
            .await
            .unwrap_err();
        assert_eq!(e.status, 429);
        // A named client registering the same URIs again refreshes, and is not counted.
        let named = json!({"client_id": DEMO.0, "redirect_uris": [REDIRECT]});
        store.register_any(&named, from("10.0.0.3")).await.unwrap();
        for _ in 0..5 {
            store.register_any(&named, from("10.0.0.3")).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_grant_whose_clear_client_id_was_changed_does_not_open() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let (_sim, a, _) = two_stores(&server.url()).await;
        let token = exchange(&a, &code_on(&a).await).await.unwrap();
        let redis = &a.shared.as_ref().unwrap().redis;
        let mut conn = redis.conn();
        let grants: Vec<String> = conn.keys("halo-mcp:v1:oauth:grant:*").await.unwrap();
        for g in grants {
            let _: () = conn.hset(&g, "client", "someone-else").await.unwrap();
        }
        assert!(!works(&a, &token).await);
    }

    #[tokio::test]
    async fn without_redis_every_step_fails_closed_with_503() {
        let Some(mut server) = start_or_skip() else {
            return;
        };
        let (_sim, a, b) = two_stores(&server.url()).await;
        let token = exchange(&a, &code_on(&a).await).await.unwrap();
        assert!(works(&b, &token).await);
        server.stop();
        let e = b
            .resolve(token["access_token"].as_str().unwrap())
            .await
            .err()
            .unwrap();
        assert_eq!((e.status, e.error), (503, "temporarily_unavailable"));
        assert!(
            !e.description
                .contains(token["access_token"].as_str().unwrap())
        );
        assert_eq!(refresh(&b, &token).await.unwrap_err().status, 503);
        let e = a
            .authorize_any(&map(&[("client_id", DEMO.0), ("redirect_uri", REDIRECT)]))
            .await
            .unwrap_err();
        assert_eq!(e.status, 503);
    }

    #[tokio::test]
    async fn redis_requires_a_key_of_32_bytes() {
        let state = SharedState::parse("redis://127.0.0.1:1/").unwrap();
        let sim = crate::local::simulator(Default::default()).await.unwrap();
        let template = crate::local::halo_config(&sim);
        for key in [None, Some(""), Some("short"), Some("c2hvcnQ=")] {
            let e = OAuthStore::for_state(OAuthConfig::default(), template.clone(), &state, key)
                .err()
                .unwrap();
            assert!(e.contains("HALO_MCP_STATE_KEY") && !e.contains('\n'), "{e}");
        }
        assert!(
            OAuthStore::for_state(OAuthConfig::default(), template, &SharedState::Memory, None)
                .is_ok()
        );
    }
}
