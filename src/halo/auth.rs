//! Halo tokens: client credentials (fetched once, shared, refreshed before they expire) and an
//! agent's own tokens from Halo's sign-in ([`AgentTokens`], rotating single-use refresh tokens).
//!
//! Halo's token endpoint is `POST {auth}/token[?tenant=...]` with a form body
//! (`grant_type=client_credentials`, `client_id`, `client_secret`, `scope`); hosted multi-tenant
//! instances need the tenant as a *query* parameter. Client credentials get no refresh token, so
//! refreshing means asking again.
//!
//! Concurrency: the slot is an async mutex held across the refresh, so when twenty tool calls find
//! the token stale at once, one request goes out and the other nineteen wait for its result.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use serde_json::Value;
// tokio's clock, which is the system's monotonic clock except in a test that pauses it: token
// expiry can then be reached with `tokio::time::advance` instead of a real wait.
use tokio::time::Instant;

use super::{HaloConfig, error::HaloError, error::readable_body};
use crate::secret::Secret;

/// Refresh this long before expiry (less for very short-lived tokens; see [`refresh_margin`]).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Assumed lifetime when Halo omits `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

struct Token {
    value: Secret,
    expires_at: Instant,
    refresh_at: Instant,
    generation: u64,
}

/// What `halo_status` shows about the token; never the token itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TokenStatus {
    /// "not requested yet", "valid" or "expired".
    pub state: &'static str,
    /// Seconds until the current token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_s: Option<u64>,
    /// Tokens fetched since start.
    pub fetched: u64,
    /// The scopes Halo granted the current token (its `scope` answer), when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Default)]
pub(crate) struct TokenCache {
    slot: tokio::sync::Mutex<Option<Token>>,
    generation: AtomicU64,
    fetched: AtomicU64,
    /// Mirror of the slot's expiry for status reads that must not wait on the async lock.
    expires_at: parking_lot::Mutex<Option<Instant>>,
    last_error: parking_lot::Mutex<Option<String>>,
    /// The scopes granted with the current token.
    scope: parking_lot::Mutex<Option<String>>,
}

/// 60 s before expiry, or half the lifetime for tokens shorter than two minutes.
fn refresh_margin(lifetime: Duration) -> Duration {
    REFRESH_MARGIN.min(lifetime / 2)
}

impl TokenCache {
    /// A valid bearer token and its generation (used to invalidate exactly this token on 401).
    pub(crate) async fn bearer(
        &self,
        http: &reqwest::Client,
        cfg: &HaloConfig,
    ) -> Result<(Secret, u64), HaloError> {
        let mut slot = self.slot.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok((t.value.clone(), t.generation));
        }
        match fetch(http, cfg).await {
            Ok((value, lifetime, scope)) => {
                let now = Instant::now();
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                let token = Token {
                    value: value.clone(),
                    expires_at: now + lifetime,
                    refresh_at: now + lifetime.saturating_sub(refresh_margin(lifetime)),
                    generation,
                };
                *self.expires_at.lock() = Some(token.expires_at);
                *self.scope.lock() = scope;
                *slot = Some(token);
                self.fetched.fetch_add(1, Ordering::Relaxed);
                *self.last_error.lock() = None;
                tracing::debug!(
                    lifetime_s = lifetime.as_secs(),
                    "fetched a Halo access token"
                );
                Ok((value, generation))
            }
            Err(e) => {
                *self.last_error.lock() = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Drops the token of `generation` (Halo said 401 to it). A newer token is kept: another
    /// task already replaced the stale one.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|t| t.generation == generation) {
            *slot = None;
            *self.expires_at.lock() = None;
        }
    }

    pub(crate) fn status(&self) -> TokenStatus {
        let expires_at = *self.expires_at.lock();
        let now = Instant::now();
        let (state, expires_in_s) = match expires_at {
            None => ("not requested yet", None),
            Some(at) if at > now => ("valid", Some((at - now).as_secs())),
            Some(_) => ("expired", Some(0)),
        };
        TokenStatus {
            state,
            expires_in_s,
            fetched: self.fetched.load(Ordering::Relaxed),
            scope: self.scope.lock().clone(),
            last_error: self.last_error.lock().clone(),
        }
    }
}

/// Who an agent's tokens act as, from Halo's `/Agent/me`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentIdentity {
    pub id: i64,
    pub name: String,
}

/// An agent's tokens as kept outside this process (sealed, in Redis), so that several replicas
/// serving one sign-in share one rotation of Halo's single-use refresh token.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredAgentTokens {
    pub access: String,
    pub refresh: Option<String>,
    /// Unix milliseconds.
    pub expires_ms: u64,
}

impl std::fmt::Debug for StoredAgentTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredAgentTokens(…)")
    }
}

/// Where an agent's tokens are kept besides this process. A renewal takes the store's lock
/// (one replica renews at a time), reads the newest tokens first (another replica may have
/// renewed already: its refresh token is the live one) and writes back what Halo answered.
pub trait AgentTokenStore: Send + Sync {
    /// Waits (bounded) for the renewal lock; the guard to release it with.
    fn lock(&self) -> futures::future::BoxFuture<'_, Result<String, String>>;
    fn unlock(&self, guard: String) -> futures::future::BoxFuture<'_, ()>;
    /// The newest tokens; `None` when the grant is gone (revoked or ended).
    fn load(&self) -> futures::future::BoxFuture<'_, Result<Option<StoredAgentTokens>, String>>;
    fn save(&self, tokens: StoredAgentTokens)
    -> futures::future::BoxFuture<'_, Result<(), String>>;
    /// Halo refused to renew: the grant ends for every replica.
    fn end(&self) -> futures::future::BoxFuture<'_, ()>;
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An agent's own Halo tokens, from Halo's authorization-code grant (`MCP_AUTH=halo`).
///
/// Halo's refresh tokens are single-use and rotate: each refresh answer carries the next one,
/// and the one sent is spent. So refreshing is serialised per grant (the slot is an async mutex
/// held across the refresh: callers that find the token stale together wait for one refresh),
/// and a refused refresh ends the grant for good: the user signs in again. Transport failures
/// do not end it (the refresh may simply not have arrived); if it did arrive and the answer was
/// lost, Halo refuses the spent token next time and the grant ends then.
pub struct AgentTokens {
    slot: tokio::sync::Mutex<AgentSlot>,
    ended: std::sync::atomic::AtomicBool,
    refreshed: AtomicU64,
    generation: AtomicU64,
    expires_at: parking_lot::Mutex<Option<Instant>>,
    identity: parking_lot::Mutex<Option<AgentIdentity>>,
    last_error: parking_lot::Mutex<Option<String>>,
    scope: Option<String>,
    /// Shared with other replicas (Redis), or this process's alone.
    store: Option<std::sync::Arc<dyn AgentTokenStore>>,
}

/// The shared renewal lock while a renewal holds it. A renewal dropped midway (the call was
/// cancelled) releases it here, so the other replicas need not wait out the lock's TTL.
struct HeldLock {
    store: std::sync::Arc<dyn AgentTokenStore>,
    guard: Option<String>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = self.store.clone();
            runtime.spawn(async move { store.unlock(guard).await });
        }
    }
}

struct AgentSlot {
    access: Secret,
    refresh: Option<Secret>,
    refresh_at: Instant,
    generation: u64,
    /// Halo refused the access token (401): it must not be used again, live or not.
    stale: bool,
}

/// What Halo's token endpoint gave for an authorization code or a refresh.
pub struct AgentGrant {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub lifetime: Duration,
    pub scope: Option<String>,
}

impl AgentTokens {
    pub fn new(grant: AgentGrant) -> AgentTokens {
        let now = Instant::now();
        let expires = now + grant.lifetime;
        AgentTokens {
            slot: tokio::sync::Mutex::new(AgentSlot {
                access: grant.access,
                refresh: grant.refresh,
                refresh_at: now
                    + grant
                        .lifetime
                        .saturating_sub(refresh_margin(grant.lifetime)),
                generation: 1,
                stale: false,
            }),
            ended: std::sync::atomic::AtomicBool::new(false),
            refreshed: AtomicU64::new(0),
            generation: AtomicU64::new(1),
            expires_at: parking_lot::Mutex::new(Some(expires)),
            identity: parking_lot::Mutex::new(None),
            last_error: parking_lot::Mutex::new(None),
            scope: grant.scope,
            store: None,
        }
    }

    /// Tokens kept in `store` too, shared with other replicas.
    pub fn shared(grant: AgentGrant, store: std::sync::Arc<dyn AgentTokenStore>) -> AgentTokens {
        let mut tokens = AgentTokens::new(grant);
        tokens.store = Some(store);
        tokens
    }

    /// Tokens read back from a store (another replica's sign-in).
    pub fn restored(
        stored: StoredAgentTokens,
        store: std::sync::Arc<dyn AgentTokenStore>,
    ) -> AgentTokens {
        let lifetime = Duration::from_millis(stored.expires_ms.saturating_sub(unix_ms()));
        AgentTokens::shared(
            AgentGrant {
                access: Secret::new(stored.access),
                refresh: stored.refresh.map(Secret::new),
                lifetime,
                scope: None,
            },
            store,
        )
    }

    /// The tokens as they are now, to be kept in a store.
    pub async fn snapshot(&self) -> StoredAgentTokens {
        let slot = self.slot.lock().await;
        let left = self
            .expires_at
            .lock()
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        StoredAgentTokens {
            access: slot.access.expose().to_owned(),
            refresh: slot.refresh.as_ref().map(|r| r.expose().to_owned()),
            expires_ms: unix_ms().saturating_add(left.as_millis() as u64),
        }
    }

    /// Adopts tokens another replica renewed.
    fn adopt(&self, slot: &mut AgentSlot, stored: StoredAgentTokens) -> (Secret, u64) {
        let now = Instant::now();
        let lifetime = Duration::from_millis(stored.expires_ms.saturating_sub(unix_ms()));
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        slot.access = Secret::new(stored.access);
        slot.refresh = stored.refresh.map(Secret::new);
        slot.refresh_at = now + lifetime.saturating_sub(refresh_margin(lifetime));
        slot.generation = generation;
        slot.stale = false;
        *self.expires_at.lock() = Some(now + lifetime);
        (slot.access.clone(), generation)
    }

    /// A renewal with a shared store: under its lock, the newest tokens first; Halo only when
    /// no other replica renewed meanwhile.
    async fn renew_shared(
        &self,
        store: &std::sync::Arc<dyn AgentTokenStore>,
        slot: &mut AgentSlot,
        http: &reqwest::Client,
        cfg: &HaloConfig,
    ) -> Result<(Secret, u64), HaloError> {
        let shared_error = |e: String| HaloError::SignInEnded {
            detail: format!("the shared sign-in state is unavailable: {e}"),
        };
        let mut held = HeldLock {
            store: store.clone(),
            guard: Some(store.lock().await.map_err(shared_error)?),
        };
        let result = async {
            let Some(newest) = store.load().await.map_err(shared_error)? else {
                return Err(self.end("the sign-in was revoked".into()));
            };
            if newest.access != slot.access.expose() {
                // Another replica renewed: its refresh token is the live one now.
                return Ok(self.adopt(slot, newest));
            }
            let Some(refresh) = slot.refresh.clone() else {
                store.end().await;
                return Err(
                    self.end("Halo gave no refresh token and the access token expired".into())
                );
            };
            match refresh_agent(http, cfg, &refresh).await {
                Ok(grant) => {
                    let renewed = StoredAgentTokens {
                        access: grant.access.expose().to_owned(),
                        refresh: grant
                            .refresh
                            .as_ref()
                            .or(Some(&refresh))
                            .map(|r| r.expose().to_owned()),
                        expires_ms: unix_ms().saturating_add(grant.lifetime.as_millis() as u64),
                    };
                    // Halo has spent the old refresh token: the new one must reach the store, or
                    // the other replicas would present a spent one.
                    store.save(renewed.clone()).await.map_err(shared_error)?;
                    self.refreshed.fetch_add(1, Ordering::Relaxed);
                    *self.last_error.lock() = None;
                    Ok(self.adopt(slot, renewed))
                }
                Err(HaloError::Auth { code, .. }) => {
                    slot.refresh = None;
                    store.end().await;
                    Err(self.end(format!("Halo refused the refresh: {code}")))
                }
                Err(e) => self.keep_live(slot, e),
            }
        }
        .await;
        if let Some(guard) = held.guard.take() {
            store.unlock(guard).await;
        }
        result
    }

    /// A renewal that did not get through (not a refusal). Renewal starts before expiry: while
    /// the current token still lives, it need not fail the call.
    fn keep_live(&self, slot: &AgentSlot, e: HaloError) -> Result<(Secret, u64), HaloError> {
        *self.last_error.lock() = Some(e.to_string());
        let live = self.expires_at.lock().is_some_and(|at| Instant::now() < at);
        if live && !slot.stale {
            return Ok((slot.access.clone(), slot.generation));
        }
        Err(e)
    }

    /// Whether Halo refused to renew the grant (the user must sign in again).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Who the tokens act as, once known.
    pub fn identity(&self) -> Option<AgentIdentity> {
        self.identity.lock().clone()
    }

    pub fn set_identity(&self, identity: AgentIdentity) {
        *self.identity.lock() = Some(identity);
    }

    fn end(&self, why: String) -> HaloError {
        self.ended.store(true, Ordering::Release);
        *self.expires_at.lock() = None;
        *self.last_error.lock() = Some(why.clone());
        HaloError::SignInEnded { detail: why }
    }

    pub(crate) async fn bearer(
        &self,
        http: &reqwest::Client,
        cfg: &HaloConfig,
    ) -> Result<(Secret, u64), HaloError> {
        let mut slot = self.slot.lock().await;
        if self.ended() {
            return Err(HaloError::SignInEnded {
                detail: "Halo refused to renew it earlier".into(),
            });
        }
        if Instant::now() < slot.refresh_at {
            return Ok((slot.access.clone(), slot.generation));
        }
        if let Some(store) = &self.store {
            return self.renew_shared(store, &mut slot, http, cfg).await;
        }
        let Some(refresh) = slot.refresh.clone() else {
            return Err(self.end("Halo gave no refresh token and the access token expired".into()));
        };
        match refresh_agent(http, cfg, &refresh).await {
            Ok(grant) => {
                let now = Instant::now();
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                slot.access = grant.access;
                // Halo rotates: the answer's refresh token replaces the spent one. An answer
                // without one means the server does not rotate, so the one sent stays usable.
                if grant.refresh.is_some() {
                    slot.refresh = grant.refresh;
                }
                slot.refresh_at = now
                    + grant
                        .lifetime
                        .saturating_sub(refresh_margin(grant.lifetime));
                slot.generation = generation;
                slot.stale = false;
                *self.expires_at.lock() = Some(now + grant.lifetime);
                *self.last_error.lock() = None;
                self.refreshed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    lifetime_s = grant.lifetime.as_secs(),
                    "renewed an agent's Halo token"
                );
                Ok((slot.access.clone(), generation))
            }
            Err(HaloError::Auth { code, .. }) => {
                slot.refresh = None;
                Err(self.end(format!("Halo refused the refresh: {code}")))
            }
            Err(e) => self.keep_live(&slot, e),
        }
    }

    /// Halo said 401 to the token of `generation`: renew it at the next call.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.generation == generation {
            slot.refresh_at = Instant::now();
            slot.stale = true;
        }
    }

    pub(crate) fn status(&self) -> TokenStatus {
        let now = Instant::now();
        let (state, expires_in_s) = match *self.expires_at.lock() {
            None => ("ended: sign in again", None),
            Some(at) if at > now => ("valid", Some((at - now).as_secs())),
            Some(_) => ("expired (renewed at the next call)", Some(0)),
        };
        TokenStatus {
            state,
            expires_in_s,
            fetched: self.refreshed.load(Ordering::Relaxed),
            scope: self.scope.clone(),
            last_error: self.last_error.lock().clone(),
        }
    }
}

/// `grant_type=authorization_code` at Halo's token endpoint: the code from Halo's sign-in page,
/// the redirect URI it was sent to and the PKCE verifier. `cfg` names the sign-in application
/// (its client id, and secret if it has one).
pub async fn exchange_agent_code(
    http: &reqwest::Client,
    cfg: &HaloConfig,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<AgentGrant, HaloError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    agent_token_request(http, cfg, &with_client(cfg, &form)).await
}

async fn refresh_agent(
    http: &reqwest::Client,
    cfg: &HaloConfig,
    refresh: &Secret,
) -> Result<AgentGrant, HaloError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
    ];
    agent_token_request(http, cfg, &with_client(cfg, &form)).await
}

/// A token request's form with the sign-in application's id, and its secret when it has one
/// (a public application proves itself with PKCE alone).
fn with_client<'a>(cfg: &'a HaloConfig, form: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = form.to_vec();
    all.push(("client_id", cfg.client_id.as_str()));
    if !cfg.client_secret.is_empty() {
        all.push(("client_secret", cfg.client_secret.expose()));
    }
    all
}

async fn agent_token_request(
    http: &reqwest::Client,
    cfg: &HaloConfig,
    form: &[(&str, &str)],
) -> Result<AgentGrant, HaloError> {
    let (json, _) = post_token(http, cfg, form).await?;
    let refresh = json
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let (access, lifetime, scope) = read_token(&json, &token_url(cfg), 200)?;
    Ok(AgentGrant {
        access,
        refresh,
        lifetime,
        scope,
    })
}

/// The token URL: `{auth}/token`, with `?tenant=` when a tenant is configured.
pub(crate) fn token_url(cfg: &HaloConfig) -> String {
    let base = format!("{}/token", cfg.auth_url);
    match &cfg.tenant {
        Some(t) => {
            let encoded: String = url_encode(t);
            format!("{base}?tenant={encoded}")
        }
        None => base,
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A token, its lifetime and the scopes granted with it.
type Fetched = (Secret, Duration, Option<String>);

async fn fetch(http: &reqwest::Client, cfg: &HaloConfig) -> Result<Fetched, HaloError> {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.expose()),
        ("scope", cfg.scope.as_str()),
    ];
    let (json, status) = post_token(http, cfg, &form).await?;
    read_token(&json, &token_url(cfg), status)
}

/// One request to Halo's token endpoint; its JSON answer when Halo gave a token, else the
/// error (refusals as [`HaloError::Auth`] or [`HaloError::Scope`]).
async fn post_token(
    http: &reqwest::Client,
    cfg: &HaloConfig,
    form: &[(&str, &str)],
) -> Result<(Value, u16), HaloError> {
    let url = token_url(cfg);
    let response = http
        .post(&url)
        .form(form)
        .timeout(cfg.timeout)
        .send()
        .await
        .map_err(|e| token_transport_error(e, &url, cfg))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| token_transport_error(e, &url, cfg))?;
    let tenant_hint = if cfg.tenant.is_some() {
        " and HALO_TENANT".to_owned()
    } else {
        " (and HALO_TENANT if your Halo is hosted multi-tenant)".to_owned()
    };
    if status == 400 || status == 401 || status == 403 {
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let code = json
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or(if status == 401 {
                "unauthorized"
            } else {
                "refused"
            })
            .to_owned();
        let detail = json
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| readable_body(&body));
        if code == "invalid_scope" {
            return Err(HaloError::Scope {
                scope: cfg.scope.clone(),
                detail,
            });
        }
        return Err(HaloError::Auth {
            code,
            detail,
            tenant_hint,
        });
    }
    if !(200..300).contains(&status) {
        return Err(HaloError::TokenEndpoint {
            url: url_without_query(&url),
            status,
            detail: readable_body(&body),
        });
    }
    let json: Value = serde_json::from_str(&body).map_err(|_| HaloError::TokenEndpoint {
        url: url_without_query(&url),
        status,
        detail: "the answer is not JSON; is HALO_AUTH_URL (or HALO_BASE_URL) right?".into(),
    })?;
    Ok((json, status))
}

/// The access token, its lifetime and granted scopes in a token answer.
fn read_token(json: &Value, url: &str, status: u16) -> Result<Fetched, HaloError> {
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| HaloError::TokenEndpoint {
            url: url_without_query(url),
            status,
            detail: "the answer has no access_token".into(),
        })?;
    let lifetime = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64().map(Duration::from_secs_f64),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().map(Duration::from_secs_f64),
        _ => None,
    }
    .filter(|d| !d.is_zero())
    .unwrap_or(DEFAULT_LIFETIME);
    let scope = json
        .get("scope")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok((Secret::new(token), lifetime, scope))
}

/// A token request that got no answer. Only a refused connection keeps its own variant (it is
/// the same "cannot reach Halo" as for the API); a timeout or a broken answer becomes
/// [`HaloError::TokenUnreachable`], so that no caller mistakes it for an API request that may
/// have been applied: the API is only called with a token in hand.
fn token_transport_error(e: reqwest::Error, url: &str, cfg: &HaloConfig) -> HaloError {
    match super::transport_error(e, "POST", "/auth/token", cfg) {
        connect @ HaloError::Connect { .. } => connect,
        HaloError::Timeout { after, .. } => HaloError::TokenUnreachable {
            url: url_without_query(url),
            detail: format!("no answer within {} s (timeout)", after.as_secs_f32()),
        },
        HaloError::Transport { detail, .. } | HaloError::Decode { detail, .. } => {
            HaloError::TokenUnreachable {
                url: url_without_query(url),
                detail,
            }
        }
        other => other,
    }
}

fn url_without_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(4)),
            Duration::from_secs(2)
        );
    }

    /// A store whose load never answers, counting locks and unlocks.
    #[derive(Default)]
    struct HangingStore {
        locked: AtomicU64,
        unlocked: AtomicU64,
    }

    impl AgentTokenStore for HangingStore {
        fn lock(&self) -> futures::future::BoxFuture<'_, Result<String, String>> {
            self.locked.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok("guard".to_owned()) })
        }
        fn unlock(&self, _guard: String) -> futures::future::BoxFuture<'_, ()> {
            self.unlocked.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {})
        }
        fn load(
            &self,
        ) -> futures::future::BoxFuture<'_, Result<Option<StoredAgentTokens>, String>> {
            Box::pin(futures::future::pending())
        }
        fn save(&self, _: StoredAgentTokens) -> futures::future::BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn end(&self) -> futures::future::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn a_cancelled_shared_renewal_releases_the_lock() {
        let store = std::sync::Arc::new(HangingStore::default());
        let tokens = AgentTokens::shared(
            AgentGrant {
                access: Secret::new("a"),
                refresh: Some(Secret::new("r")),
                lifetime: Duration::ZERO,
                scope: None,
            },
            store.clone(),
        );
        let cfg = HaloConfig {
            base_url: "http://127.0.0.1:9".into(),
            auth_url: "http://127.0.0.1:9/auth".into(),
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            tenant: None,
            scope: "all".into(),
            timeout: Duration::from_secs(1),
            resilience: Default::default(),
            asset_fields: Default::default(),
        };
        super::super::install_crypto();
        let http = reqwest::Client::new();
        let call = tokens.bearer(&http, &cfg);
        // The renewal takes the lock, then waits on the store: the caller gives up.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), call)
                .await
                .is_err()
        );
        assert_eq!(store.locked.load(Ordering::SeqCst), 1);
        for _ in 0..100 {
            if store.unlocked.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(store.unlocked.load(Ordering::SeqCst), 1);
        // The grant itself is untouched: still not ended.
        assert!(!tokens.ended());
    }

    #[test]
    fn tenant_is_encoded() {
        assert_eq!(url_encode("acme corp&x"), "acme%20corp%26x");
    }
}
