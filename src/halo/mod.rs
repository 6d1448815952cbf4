//! The one Halo API client every session and tool shares.
//!
//! It knows Halo, not MCP: paths, tokens, list envelopes, array POST bodies and error shapes.
//! Quirks handled here, each in one place:
//! - POST bodies are always JSON arrays, even for one record ([`HaloClient::post`]);
//! - a single posted record comes back as a single object (201), several as an array;
//! - list bodies are a bare array or an envelope object ([`envelope::parse_list`]);
//! - a 401 from the API means the token died early: refresh once and retry once;
//! - lists page with Halo's own spelling, `pageinate=true`, and unpaged lists need `count`
//!   ([`HaloClient::list_page`], [`HaloClient::pager`]).
//!
//! Every request goes through the same pipeline: reference-data cache (GETs the caller marks
//! cacheable) → sharing of identical GETs in flight → circuit breaker → retries that cannot
//! duplicate a write ([`retry`]) → the tenant's rate budget ([`budget`]) → one HTTP exchange.

pub mod auth;
pub mod breaker;
pub mod budget;
pub mod cache;
pub mod envelope;
pub mod error;
mod listing;
pub mod retry;
pub mod shared_budget;
mod tenant;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::FutureExt;
use reqwest::Method;
use serde_json::Value;

pub use auth::TokenStatus;
pub use breaker::BreakerStatus;
pub use budget::{BudgetStatus, RateLimit};
pub use cache::{CacheLimits, CacheStatus};
pub use envelope::ListPage;
pub use error::HaloError;
pub use listing::{PageRequest, Pager, UNPAGED_COUNT};

use crate::secret::Secret;

/// Where and how to reach one Halo tenant.
#[derive(Clone, Debug)]
pub struct HaloConfig {
    /// The Halo web address, without a trailing slash or `/api` (e.g. `https://acme.halopsa.com`).
    pub base_url: String,
    /// The authorisation server, without `/token` (default `{base_url}/auth`).
    pub auth_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Sent as `?tenant=` on the token URL (hosted multi-tenant Halo).
    pub tenant: Option<String>,
    /// OAuth scope; `all` unless the application was given narrower ones.
    pub scope: String,
    /// Limit for each HTTP exchange with Halo.
    pub timeout: Duration,
    pub resilience: Resilience,
    /// Where this tenant keeps asset serials and hostnames, when field names do not say it.
    pub asset_fields: AssetFieldSettings,
}

/// Fields named by `HALO_ASSET_SERIAL_FIELD` / `HALO_ASSET_HOSTNAME_FIELD` (a field name or
/// id each). Each asset type in Halo chooses its own key fields, so the tools find the serial
/// and hostname by field name; these settings name them where the names say nothing (or they
/// are custom fields). The client only carries them to the tools.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssetFieldSettings {
    pub serial: Option<String>,
    pub hostname: Option<String>,
}

/// How the client copes with Halo's limits and failures.
#[derive(Clone, Debug, PartialEq)]
pub struct Resilience {
    /// Halo's rate limit, as this server respects it (shared by the tenant's sessions).
    pub rate_limit: RateLimit,
    /// Longest a request waits for the rate budget (or a `Retry-After`) before failing.
    pub rate_wait: Duration,
    /// Retries after a first attempt (429s and failures counted separately).
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive failed calls that open the circuit breaker.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// Lifetime of cached reference data; zero turns the cache off.
    pub cache_ttl: Duration,
    /// How many entries and (approximate) bytes the cache may hold.
    pub cache_limits: cache::CacheLimits,
    /// Where the rate budget lives: this process, or Redis shared by the replicas.
    pub state: crate::state::SharedState,
    /// Most replicas expected to run at once; with Redis unreachable each uses this share of
    /// the limit.
    pub replicas: u32,
}

impl Default for Resilience {
    fn default() -> Resilience {
        Resilience {
            rate_limit: RateLimit::HALO_DEFAULT,
            rate_wait: Duration::from_secs(60),
            // At 20 % transient failures a read still fails only once in 0.2^6 ≈ 15 600 calls;
            // the call's time budget bounds how long the retries take.
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            cache_ttl: Duration::from_secs(600),
            cache_limits: cache::CacheLimits::DEFAULT,
            state: crate::state::SharedState::Memory,
            replicas: DEFAULT_REPLICAS,
        }
    }
}

/// Replicas assumed when none are named (`HALO_MCP_REPLICAS`). Three, not one: it only
/// matters with Redis, which is there because several replicas run, and guessing too many only
/// slows a replica down while Redis is out, where too few sends Halo more than its limit.
pub const DEFAULT_REPLICAS: u32 = 3;

/// How long past the request timeout a rate-budget slot may stay in flight in a shared budget
/// before it counts as answered (a replica that died mid-request never stamps it).
const LEASE_MARGIN: Duration = Duration::from_secs(5);

impl Resilience {
    /// The retry policy for requests of at most `timeout` each.
    fn retry_policy(&self, timeout: Duration) -> retry::RetryPolicy {
        retry::RetryPolicy {
            max_retries: self.max_retries,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            max_retry_after: self.rate_wait,
            // Retries after failures stop once a call has run this long: a few slow attempts,
            // and never less than the longest backoff allows for.
            call_budget: (timeout * CALL_BUDGET_TIMEOUTS).max(self.backoff_max * 2),
        }
    }
}

/// A call's time budget for retries after failures, in request timeouts (15 s by default: one
/// minute).
const CALL_BUDGET_TIMEOUTS: u32 = 4;

/// Whether a GET may be answered from the reference-data cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Slowly changing reference data: cached for the TTL.
    Reference,
    /// Live data: never cached (identical requests in flight are still shared).
    Live,
}

/// A cheap, clonable handle; clones share tokens, budget, breaker and cache.
#[derive(Clone)]
pub struct HaloClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    cfg: HaloConfig,
    tokens: Tokens,
    tenant: Arc<tenant::TenantShared>,
    cache: Arc<cache::Cache>,
    requests: AtomicU64,
}

/// Where a client's bearer tokens come from.
enum Tokens {
    /// The API application's client credentials: acts as its login-as agent.
    App(auth::TokenCache),
    /// One agent's own sign-in (`MCP_AUTH=halo`): acts as that agent.
    Agent(Arc<auth::AgentTokens>),
}

impl Tokens {
    async fn bearer(
        &self,
        http: &reqwest::Client,
        cfg: &HaloConfig,
    ) -> Result<(Secret, u64), HaloError> {
        match self {
            Tokens::App(t) => t.bearer(http, cfg).await,
            Tokens::Agent(t) => t.bearer(http, cfg).await,
        }
    }

    async fn invalidate(&self, generation: u64) {
        match self {
            Tokens::App(t) => t.invalidate(generation).await,
            Tokens::Agent(t) => t.invalidate(generation).await,
        }
    }

    fn status(&self) -> TokenStatus {
        match self {
            Tokens::App(t) => t.status(),
            Tokens::Agent(t) => t.status(),
        }
    }
}

/// What `halo_status` shows about the connection. Never the secret or the token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionStatus {
    pub base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub client_id: String,
    /// The agent this session acts as, when it signed in with Halo (`MCP_AUTH=halo`); without
    /// it, the API application's login-as agent acts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acting_as: Option<auth::AgentIdentity>,
    pub token: TokenStatus,
    /// The rolling-window budget shared by every session on this tenant.
    pub rate_budget: BudgetStatus,
    pub circuit_breaker: BreakerStatus,
    pub cache: CacheStatus,
    /// HTTP requests sent to the API since start (token requests not counted).
    pub requests: u64,
}

/// Installs the TLS crypto provider once per process (reqwest is built without a default one,
/// so the smaller `ring` backend is used).
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// One request as the pipeline carries it.
#[derive(Clone)]
struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    /// The latest moment this call may still wait for the rate budget (set by `execute`).
    rate_deadline: Option<std::time::Instant>,
}

impl HaloClient {
    pub fn new(cfg: HaloConfig) -> Result<HaloClient, HaloError> {
        let key = cfg.client_id.clone();
        HaloClient::build(cfg, Tokens::App(auth::TokenCache::default()), &key)
    }

    /// A client acting as one agent with that agent's own tokens (`MCP_AUTH=halo`), built on
    /// this one: the same sign-in application and connection pool (one per server, not one per
    /// sign-in). `agent_key` keys the cache: cached answers and shared requests in flight depend
    /// on who asks, so they never cross agents; the rate budget and the breaker stay per tenant.
    pub fn for_agent(&self, tokens: Arc<auth::AgentTokens>, agent_key: &str) -> HaloClient {
        let cfg = self.inner.cfg.clone();
        let key = format!("{}|agent:{agent_key}", cfg.client_id);
        HaloClient::assemble(self.inner.http.clone(), cfg, Tokens::Agent(tokens), &key)
    }

    /// Who Halo records as acting for this client: the signed-in agent, or the API
    /// application (whose login-as agent Halo uses). Never a secret.
    pub fn principal(&self) -> String {
        match &self.inner.tokens {
            Tokens::Agent(t) => match t.identity() {
                Some(a) => format!("agent:{} ({})", a.id, a.name),
                None => "agent:unknown".into(),
            },
            Tokens::App(_) => format!("application:{}", self.inner.cfg.client_id),
        }
    }

    /// The agent's tokens, when this client acts as a signed-in agent.
    pub fn agent_tokens(&self) -> Option<&Arc<auth::AgentTokens>> {
        match &self.inner.tokens {
            Tokens::Agent(t) => Some(t),
            Tokens::App(_) => None,
        }
    }

    fn build(cfg: HaloConfig, tokens: Tokens, cache_key: &str) -> Result<HaloClient, HaloError> {
        install_crypto();
        let http = reqwest::Client::builder()
            .user_agent(concat!("halo-mcp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| HaloError::Connect {
                host: cfg.base_url.clone(),
                detail: format!("cannot build the HTTP client: {}", root_cause(&e)),
            })?;
        Ok(HaloClient::assemble(http, cfg, tokens, cache_key))
    }

    fn assemble(
        http: reqwest::Client,
        cfg: HaloConfig,
        tokens: Tokens,
        cache_key: &str,
    ) -> HaloClient {
        let tenant_key = format!("{}|{}", cfg.base_url, cfg.tenant.as_deref().unwrap_or(""));
        let tenant = tenant::TenantShared::for_tenant(
            &tenant_key,
            &cfg.resilience,
            cfg.timeout + LEASE_MARGIN,
        );
        // Cached answers depend on who asks (the application's agent and scopes), so the cache
        // is per tenant *and* credentials.
        let cache = tenant::cache_for(
            &format!("{tenant_key}|{cache_key}"),
            cfg.resilience.cache_ttl,
            cfg.resilience.cache_limits,
        );
        HaloClient {
            inner: Arc::new(Inner {
                http,
                cfg,
                tokens,
                tenant,
                cache,
                requests: AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> &HaloConfig {
        &self.inner.cfg
    }

    pub fn status(&self) -> ConnectionStatus {
        let cfg = &self.inner.cfg;
        ConnectionStatus {
            base_url: cfg.base_url.clone(),
            tenant: cfg.tenant.clone(),
            client_id: cfg.client_id.clone(),
            acting_as: self.agent_tokens().and_then(|t| t.identity()),
            token: token_status(self.inner.tokens.status()),
            rate_budget: self.inner.tenant.budget.status(),
            circuit_breaker: self.inner.tenant.breaker.status(),
            cache: self.inner.cache.status(),
            requests: self.inner.requests.load(Ordering::Relaxed),
        }
    }

    /// Fetches a token now: proves the credentials (used by the OAuth proxy and `doctor`).
    pub async fn check_credentials(&self) -> Result<(), HaloError> {
        self.inner
            .tokens
            .bearer(&self.inner.http, &self.inner.cfg)
            .await
            .map(|_| ())
    }

    /// `GET /api{path}`.
    pub async fn get(
        &self,
        path: &str,
        query: &[(String, String)],
        caching: Caching,
    ) -> Result<Value, HaloError> {
        // Refused before the cache, the breaker and the budget: such a path is never sent.
        api_url(&self.inner.cfg.base_url, path)?;
        let key = cache::key(path, query);
        let cache = &self.inner.cache;
        let cacheable = caching == Caching::Reference && cache.enabled();
        if cacheable && let Some(v) = cache.get(&key) {
            return Ok(v);
        }
        let resource = cache::resource_of(path);
        let generation = cache.generation(&resource);
        let inner = Arc::clone(&self.inner);
        let request = Request {
            method: Method::GET,
            path: path.to_owned(),
            query: query.to_vec(),
            body: None,
            rate_deadline: None,
        };
        let value = cache
            .shared_fetch(&key, move || {
                async move { execute(&inner, &request).await }.boxed()
            })
            .await?;
        if cacheable {
            cache.put(&key, &resource, generation, &value);
        }
        Ok(value)
    }

    /// `GET /api{path}` read as a list (bare array or envelope under `key`).
    pub async fn list(
        &self,
        path: &str,
        key: Option<&str>,
        query: &[(String, String)],
        caching: Caching,
    ) -> Result<ListPage, HaloError> {
        let body = self.get(path, query, caching).await?;
        envelope::parse_list(body, key).map_err(|detail| HaloError::Decode {
            method: "GET".into(),
            path: path.to_owned(),
            detail,
        })
    }

    /// `POST /api{path}` with `[record]`: Halo creates when the record has no `id` and updates
    /// when it has one. Returns the saved record.
    pub async fn post(&self, path: &str, record: &Value) -> Result<Value, HaloError> {
        let saved = self
            .write(
                Method::POST,
                path,
                &[],
                Some(Value::Array(vec![record.clone()])),
            )
            .await?;
        Ok(match saved {
            // Several records posted come back as an array; one comes back as an object, but
            // accept a one-element array too.
            Value::Array(mut items) if items.len() == 1 => items.remove(0),
            other => other,
        })
    }

    /// `POST /api{path}` with an arbitrary body (already an array where Halo wants one).
    pub async fn post_raw(&self, path: &str, body: &Value) -> Result<Value, HaloError> {
        self.write(Method::POST, path, &[], Some(body.clone()))
            .await
    }

    /// `DELETE /api{path}`.
    pub async fn delete(&self, path: &str, query: &[(String, String)]) -> Result<Value, HaloError> {
        self.write(Method::DELETE, path, query, None).await
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Value>,
    ) -> Result<Value, HaloError> {
        api_url(&self.inner.cfg.base_url, path)?;
        let request = Request {
            method,
            path: path.to_owned(),
            query: query.to_vec(),
            body,
            rate_deadline: None,
        };
        let result = execute(&self.inner, &request).await;
        // Whatever happened, cached copies of this resource may now be wrong.
        self.inner.cache.invalidate(&cache::resource_of(path));
        result
    }
}

/// Breaker, retries and budget around single exchanges.
async fn execute(inner: &Inner, request: &Request) -> Result<Value, HaloError> {
    let pass = inner
        .tenant
        .breaker
        .enter()
        .map_err(HaloError::CircuitOpen)?;
    let policy = inner.cfg.resilience.retry_policy(inner.cfg.timeout);
    let started = std::time::Instant::now();
    // Every wait for the rate budget within this call ends by the same deadline.
    let mut request = request.clone();
    request.rate_deadline = Some(started + inner.cfg.resilience.rate_wait);
    let request = &request;
    let update = retry::checkable_update(&request.method, request.body.as_ref());
    let write = !matches!(request.method, Method::GET | Method::HEAD);
    let (mut rate_limited, mut failed, mut requeued) = (0u32, 0u32, 0u32);
    let mut uncertain_delete = false;
    // A write attempt failed after it may have reached Halo.
    let mut maybe_applied = false;
    let mut outcome = None;
    let result = loop {
        let error = match exchange(inner, request).await {
            Ok(v) => break Ok(v),
            Err(e) => e,
        };
        // A DELETE repeated after an answer was lost: "not found" now means it worked.
        if uncertain_delete && matches!(error, HaloError::NotFound { .. }) {
            break Ok(Value::Null);
        }
        let reached = !error.never_sent() && !matches!(error, HaloError::RateLimited { .. });
        maybe_applied |= write && reached;
        let attempt = retry::Attempt {
            method: &request.method,
            checkable_update: update.is_some(),
            rate_limited,
            failed,
            elapsed: started.elapsed(),
        };
        let decision = policy.decide(&attempt, &error);
        match decision {
            retry::Decision::RetryAfter(wait) => {
                if matches!(error, HaloError::RateLimited { .. }) {
                    rate_limited += 1;
                } else {
                    failed += 1;
                    uncertain_delete |= request.method == Method::DELETE && reached;
                }
                tracing::info!(
                    method = %request.method,
                    path = %request.path,
                    wait_ms = wait.as_millis() as u64,
                    error = %error,
                    "retrying a Halo request"
                );
                tokio::time::sleep(wait).await;
            }
            retry::Decision::Requeue => {
                // Halo refused it before doing anything; the budget (which learned from the 429)
                // says when it goes out again.
                requeued += 1;
                tracing::debug!(
                    method = %request.method,
                    path = %request.path,
                    "Halo answered 429 without Retry-After; queueing the request again"
                );
            }
            retry::Decision::Verify(wait) => {
                failed += 1;
                tracing::info!(
                    method = %request.method,
                    path = %request.path,
                    error = %error,
                    "an update's outcome is unknown; reading the record back"
                );
                tokio::time::sleep(wait).await;
                match verify_update(inner, &policy, request, update.as_ref(), started).await {
                    Verified::Applied(record) => break Ok(record),
                    // Not (or not yet) applied: sending it again sets the same fields.
                    Verified::NotApplied => {}
                    Verified::Unknown(why) => {
                        let cause = match why {
                            Some(e) => format!("{error}; reading the record back failed too: {e}"),
                            None => error.to_string(),
                        };
                        break Err(uncertain(request, &cause));
                    }
                }
            }
            retry::Decision::Uncertain => break Err(uncertain(request, &error)),
            retry::Decision::Fail => {
                outcome = Some(error.health());
                let tally = Tally {
                    write,
                    maybe_applied,
                    retried_429: rate_limited + requeued,
                    requeued,
                };
                break Err(give_up(request, error, &tally));
            }
        }
    };
    pass.finish(match (&result, outcome) {
        (Ok(_), _) => breaker::Outcome::Healthy,
        (Err(_), Some(o)) => o,
        (Err(e), None) => e.health(),
    });
    result
}

/// What a call's attempts came to, for the error it ends with.
struct Tally {
    write: bool,
    /// A write attempt failed after it may have reached Halo.
    maybe_applied: bool,
    /// 429s answered, whether retried after a wait or queued again.
    retried_429: u32,
    /// 429s without Retry-After queued again behind the learned limit.
    requeued: u32,
}

/// The error a call ends with once the retry policy gives up on `error`.
fn give_up(request: &Request, error: HaloError, tally: &Tally) -> HaloError {
    let write = tally.write;
    match error {
        // An earlier attempt may have been applied, and this one says nothing new.
        e if write
            && tally.maybe_applied
            && (e.never_sent() || matches!(e, HaloError::RateLimited { .. })) =>
        {
            uncertain(request, &e)
        }
        HaloError::RateLimited { retry_after } if tally.retried_429 > 0 => {
            HaloError::StillRateLimited {
                retries: tally.retried_429,
                retry_after,
            }
        }
        HaloError::BudgetExhausted(_) if tally.requeued > 0 => HaloError::StillRateLimited {
            retries: tally.requeued,
            retry_after: None,
        },
        // Halo's API was unreachable (no token, no connection): say plainly that nothing was
        // applied. Refused credentials, an open breaker and a spent budget already say what to
        // do.
        e @ (HaloError::TokenUnreachable { .. }
        | HaloError::TokenEndpoint { .. }
        | HaloError::Connect { .. })
            if write =>
        {
            HaloError::WriteNotSent {
                method: request.method.to_string(),
                path: request.path.clone(),
                not_done: if request.method == Method::DELETE {
                    "deleted".into()
                } else {
                    "created or updated".into()
                },
                cause: e.to_string(),
            }
        }
        other => other,
    }
}

/// What reading an update's record back showed.
enum Verified {
    /// Every field sent holds: the update was applied.
    Applied(Value),
    /// Some field does not hold yet: sending the update again sets the same fields.
    NotApplied,
    /// Nothing can be said (not a checkable update, or the read failed, with why).
    Unknown(Option<HaloError>),
}

/// Reads back the record an update whose answer was lost was meant to change.
async fn verify_update(
    inner: &Inner,
    policy: &retry::RetryPolicy,
    request: &Request,
    update: Option<&(String, serde_json::Map<String, Value>)>,
    started: std::time::Instant,
) -> Verified {
    let Some((id, fields)) = update else {
        return Verified::Unknown(None);
    };
    match read_back(inner, policy, request, id, started).await {
        Ok(record) if retry::fields_hold(fields, &record) => {
            tracing::info!(
                path = %request.path,
                id = %id,
                "the update had been applied: every field sent holds"
            );
            Verified::Applied(record)
        }
        Ok(_) => Verified::NotApplied,
        Err(e) => Verified::Unknown(Some(e)),
    }
}

fn uncertain(request: &Request, cause: &dyn std::fmt::Display) -> HaloError {
    HaloError::WriteUncertain {
        method: request.method.to_string(),
        path: request.path.clone(),
        cause: cause.to_string(),
    }
}

/// `GET {path}/{id}` after an update's outcome was lost, with the retries a read gets.
async fn read_back(
    inner: &Inner,
    policy: &retry::RetryPolicy,
    update: &Request,
    id: &str,
    started: std::time::Instant,
) -> Result<Value, HaloError> {
    let request = Request {
        method: Method::GET,
        path: format!("{}/{id}", update.path.trim_end_matches('/')),
        query: Vec::new(),
        body: None,
        rate_deadline: update.rate_deadline,
    };
    let (mut rate_limited, mut failed) = (0u32, 0u32);
    loop {
        let error = match exchange(inner, &request).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let attempt = retry::Attempt {
            method: &request.method,
            checkable_update: false,
            rate_limited,
            failed,
            elapsed: started.elapsed(),
        };
        match policy.decide(&attempt, &error) {
            retry::Decision::RetryAfter(wait) => {
                if matches!(error, HaloError::RateLimited { .. }) {
                    rate_limited += 1;
                } else {
                    failed += 1;
                }
                tokio::time::sleep(wait).await;
            }
            retry::Decision::Requeue => {}
            _ => return Err(error),
        }
    }
}

/// One HTTP exchange (plus one retry with a fresh token after a 401), inside the rate budget.
async fn exchange(inner: &Inner, request: &Request) -> Result<Value, HaloError> {
    let url = api_url(&inner.cfg.base_url, &request.path)?;
    let method = &request.method;
    let path = request.path.as_str();
    let mut refreshed = false;
    loop {
        let (token, generation) = inner.tokens.bearer(&inner.http, &inner.cfg).await?;
        // The permit lives until the whole answer is read: see budget.rs on why.
        let permit = inner
            .tenant
            .budget
            .acquire_by(request.rate_deadline)
            .await
            .map_err(HaloError::BudgetExhausted)?;
        let mut http = inner
            .http
            .request(method.clone(), url.clone())
            .query(&request.query)
            .bearer_auth(token.expose())
            .timeout(inner.cfg.timeout);
        if let Some(b) = &request.body {
            http = http.json(b);
        }
        inner.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%method, path, "halo request");
        let response = http
            .send()
            .await
            .map_err(|e| transport_error(e, method.as_str(), path, &inner.cfg))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        if status == 429 {
            permit.rate_limited(retry_after.is_some());
        }
        let text = response
            .text()
            .await
            .map_err(|e| transport_error(e, method.as_str(), path, &inner.cfg))?;
        if status == 401 && !refreshed {
            // The token died before its time (revoked, or Halo restarted): one fresh token,
            // one more try.
            tracing::info!(path, "Halo answered 401; refreshing the token once");
            inner.tokens.invalidate(generation).await;
            refreshed = true;
            continue;
        }
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| HaloError::Decode {
                method: method.to_string(),
                path: path.to_owned(),
                detail: format!("not JSON ({e})"),
            });
        }
        return Err(status_error(
            status,
            method.as_str(),
            path,
            &text,
            retry_after,
        ));
    }
}

/// Longest part of a refused path quoted in the error.
const MAX_PATH_QUOTE: usize = 200;

/// The URL of `/api{path}` on the tenant at `base`, or a refusal.
///
/// The tools encode every id as one path segment; this is the second line: whatever a tool
/// builds, only a path of plain segments (unreserved characters and well-formed `%XX` escapes)
/// that decode to no separator, `.`/`..`, or control character is sent, and the final URL is
/// checked to be exactly `{base path}/api{path}` with no query or fragment of its own. So a
/// caller's `../Tickets/1001`, `%2e%2e/%2e%2e/auth/token`, `1?deleted=true` or `1#x` can neither
/// climb out of the resource nor reach `/auth` with the bearer token, nor add query arguments.
pub(crate) fn api_url(base: &str, path: &str) -> Result<reqwest::Url, HaloError> {
    let refuse = |why: &str| {
        let mut shown: String = path.chars().take(MAX_PATH_QUOTE).collect();
        if path.chars().nth(MAX_PATH_QUOTE).is_some() {
            shown.push('…');
        }
        HaloError::UnsafePath {
            path: format!("{:?}", shown),
            why: why.to_owned(),
        }
    };
    let Some(rest) = path.strip_prefix('/') else {
        return Err(refuse("it does not start with `/`"));
    };
    for segment in rest.split('/') {
        check_segment(segment).map_err(&refuse)?;
    }
    let mut url = reqwest::Url::parse(base).map_err(|_| refuse("the Halo address is not a URL"))?;
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("the Halo address cannot take an API path"));
    }
    let expected = format!("{}/api{path}", url.path().trim_end_matches('/'));
    url.set_path(&expected);
    // What the URL parser made of it must be what was asked for, byte for byte.
    if url.path() != expected || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("it does not stay one API path"));
    }
    Ok(url)
}

/// One path segment as sent: non-empty, only unreserved characters and `%XX` escapes, and not
/// decoding to `.`, `..`, a separator, `%`, or a control character.
fn check_segment(segment: &str) -> Result<(), &'static str> {
    if segment.is_empty() {
        return Err("it has an empty segment");
    }
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => decoded.push(v),
                None => return Err("it has a malformed `%` escape"),
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            decoded.push(b);
            i += 1;
        } else {
            return Err("it has a character that is not allowed in a path segment");
        }
    }
    if decoded == b"." || decoded == b".." {
        return Err("it has a `.` or `..` segment");
    }
    if decoded
        .iter()
        .any(|b| b"/\\?#%".contains(b) || b.is_ascii_control())
    {
        return Err("a segment decodes to a separator, `%` or a control character");
    }
    Ok(())
}

fn status_error(
    status: u16,
    method: &str,
    path: &str,
    body: &str,
    retry_after: Option<Duration>,
) -> HaloError {
    let method = method.to_owned();
    let path = path.to_owned();
    match status {
        400 | 409 | 422 => HaloError::BadRequest {
            method,
            path,
            message: error::readable_body(body),
        },
        401 => HaloError::Unauthorized { method, path },
        403 => {
            let detail = if body.trim().is_empty() {
                String::new()
            } else {
                format!(" (Halo said: {})", error::readable_body(body))
            };
            HaloError::Forbidden {
                scope: error::likely_scope(&method, &path),
                method,
                path,
                detail,
            }
        }
        404 => HaloError::NotFound { method, path },
        429 => HaloError::RateLimited { retry_after },
        500..=599 => HaloError::Server {
            method,
            path,
            status,
            message: error::readable_body(body),
        },
        _ => HaloError::Http {
            method,
            path,
            status,
            message: error::readable_body(body),
        },
    }
}

/// A transport failure, described by its root cause (never the URL's query or a header).
pub(crate) fn transport_error(
    e: reqwest::Error,
    method: &str,
    path: &str,
    cfg: &HaloConfig,
) -> HaloError {
    // Connect errors come first: a connect timeout also proves Halo never saw the request.
    if e.is_connect() {
        return HaloError::Connect {
            host: cfg.base_url.clone(),
            detail: root_cause(&e),
        };
    }
    if e.is_timeout() {
        return HaloError::Timeout {
            method: method.to_owned(),
            path: path.to_owned(),
            after: cfg.timeout,
        };
    }
    if e.is_decode() || e.is_body() {
        return HaloError::Decode {
            method: method.to_owned(),
            path: path.to_owned(),
            detail: root_cause(&e),
        };
    }
    HaloError::Transport {
        method: method.to_owned(),
        path: path.to_owned(),
        detail: root_cause(&e),
    }
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A token that was asked for and refused is not "not requested yet": beside the error from that
/// request, the state would tell a newcomer the opposite of what happened.
fn token_status(mut t: auth::TokenStatus) -> auth::TokenStatus {
    if t.state == "not requested yet" && t.last_error.is_some() {
        t.state = "request failed";
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_are_exactly_the_path_asked_for() {
        let base = "https://acme.halopsa.com";
        for (path, url) in [
            ("/Tickets", "https://acme.halopsa.com/api/Tickets"),
            ("/Tickets/1001", "https://acme.halopsa.com/api/Tickets/1001"),
            ("/Agent/me", "https://acme.halopsa.com/api/Agent/me"),
            ("/X/a%3Ab", "https://acme.halopsa.com/api/X/a%3Ab"),
        ] {
            assert_eq!(api_url(base, path).unwrap().as_str(), url);
        }
        let sub = api_url("https://h.example/halo/", "/Site/2").unwrap();
        assert_eq!(sub.as_str(), "https://h.example/halo/api/Site/2");
        for bad in [
            "/Priority/../Tickets/1001",
            "/Priority/%2e%2e/%2e%2e/auth/token",
            "/Priority/%2E",
            "/Priority/1?deleted=true",
            "/Priority/1#x",
            "/Priority/\0",
            "/Priority/",
            "/Priority//x",
            "Priority/1",
            "/Priority/a%2Fb",
            "/Priority/a%5Cb",
            "/Priority/a%3fb",
            "/Priority/a%25",
            "/Priority/a%0a",
            "/Priority/a%zz",
            "/Priority/a%2",
            "/Priority/a b",
            "/Priority/a\\b",
            "/Priority/.",
        ] {
            let e = api_url(base, bad).unwrap_err();
            assert!(matches!(e, HaloError::UnsafePath { .. }), "{bad}: {e}");
        }
        let long = format!("/X/{}", "a/".repeat(100_000));
        assert!(api_url(base, &long).unwrap_err().to_string().len() < 500);
    }
}
