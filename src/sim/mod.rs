//! A simulated Halo PSA / Halo ITSM tenant, served over real HTTP.
//!
//! Why it exists: `halo-mcp --demo` runs it in process so a newcomer can try the server with no
//! Halo tenant, `halo-mcp simulate --port 8080` serves it alone, and every test runs against it.
//! Tests only mean something if it behaves like Halo, so it reproduces what is known about
//! Halo's API (`halo-api.md`): OAuth client-credentials tokens at `/auth/token`, bearer-only
//! `/api`, case-insensitive paths, the per-resource list envelopes (or bare arrays), Halo's
//! pagination spelling and clamp, array-only POST upserts answered with `201` and a single
//! object, per-ticket action numbers, soft-deleted tickets, double-typed ids and sentinel dates;
//! list rows as narrow as Halo's `*_List` models, unpaged lists capped without `count`, asset
//! types that choose their own key fields, and guid ids where Halo's are guids (priorities,
//! holidays). It follows Halo, not the tools: where a tool's assumption and Halo's documented
//! behaviour differ, the simulator takes Halo's side so the tests catch the tool.
//!
//! Tenants: one simulator can serve several tenants ([`SimConfig::extra_tenants`]), told apart
//! by the API credentials their tokens were issued for, as one Halo server hosting several
//! customers would. Each has its own database, seeded from its own seed (so the same id means a
//! different record), with its own id sequences; the server around them (request log, injected
//! faults, rate limit, token lifetime) is shared. This exists so the MCP server's HTTP
//! transport, where every session brings its own Halo credentials, can be tested for leaks
//! between sessions: a token only ever reaches the data of the tenant it was issued for.
//!
//! Independence: this module imports nothing from the rest of the crate (tests/e2e/layering.rs
//! checks it) and reads no
//! `domains/*.toml`. Its resource table ([`resources`]) is written separately from the client's
//! catalog, so a misreading of Halo cannot hide in both.
//!
//! Layout:
//! * [`resources`]: the resource table (path, envelope key or bare array, verbs).
//! * [`asset_layouts`]: which fields each asset type uses as its key fields.
//! * [`seed`]: the deterministic fictional tenant (SplitMix64 [`prng`], fixed seed day).
//! * [`store`]: in-memory tables of JSON rows; [`derive`] fills Halo's denormalised fields;
//!   [`shapes`] holds the wide ticket/action shapes; [`clock`] Halo's date formats.
//! * [`list_models`]: which fields a list row carries (Halo's `*_List` models).
//! * [`query`]: list/get semantics; [`writes`]: POST/DELETE semantics; [`error`]: Halo's
//!   error bodies.
//! * [`reports`]: `/Report` runs (ad-hoc SQL and saved reports) over [`sql`], a small
//!   read-only SQL engine on Halo's table names (`FAULTS`, `AREA`, `USERS`, …).
//! * [`http`]: axum wiring: one fallback dispatcher behind a logging layer and the `/api`
//!   gate (fault injection, then the bearer check).
//! * [`names`]: the company names a non-default seed gives its tenant.
//! * [`scopes`]: Halo's permission areas and scope grants (its own table, not the client's).
//! * [`signin`]: Halo's sign-in for agents: `/auth/authorize` (a minimal page, or approval at
//!   once for a configured test agent), the authorization-code grant with PKCE, and rotating
//!   single-use refresh tokens; tokens act as the agent who signed in.
//! * [`faults`]: what can be injected ([`Faults`]: 429 rate limits with or without
//!   `Retry-After`, gateway 5xx before or after the write lands, latency, truncated JSON,
//!   dropped connections) and the request statistics tests read ([`RequestStats`]).

mod asset_layouts;
mod clock;
mod derive;
mod error;
mod faults;
mod http;
mod list_models;
mod names;
mod prng;
mod query;
mod reports;
mod resources;
mod scopes;
mod seed;
mod shapes;
mod signin;
mod sql;
mod store;
mod writes;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::faults::FaultState;
use self::prng::Prng;
use self::store::Db;

pub use self::asset_layouts::AssetLayout;
pub use self::faults::{
    Faults, RequestStats, TokenFault, parse_error_status, parse_fraction, parse_rate_limit,
    parse_token_fault,
};
pub use self::signin::{SimAgent, Written};

/// How the simulated Halo is set up. Its own credentials, tenant and seed are those of tenant 0;
/// [`SimConfig::extra_tenants`] adds more.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// OAuth client id the token endpoint accepts. Default `"demo-client"`.
    pub client_id: String,
    /// OAuth client secret the token endpoint accepts. Default `"demo-secret"`.
    pub client_secret: String,
    /// If set, `POST /auth/token` must carry `?tenant=<it>` (else 400 `invalid_request`), as
    /// hosted multi-tenant Halo requires.
    pub tenant: Option<String>,
    /// Lifetime of issued tokens (`expires_in`). Default 3600 s.
    pub token_lifetime: Duration,
    /// Seed of the generated data: the same seed gives identical data.
    pub seed: u64,
    /// Faults injected into `/api` requests from the start (default: none). Change them while
    /// running with [`Simulator::set_faults`].
    pub faults: Faults,
    /// Additional generated assets after the seeded ones (default 0), for scale tests. The
    /// rule, and how many duplicate groups it adds, is documented on the `seed` module:
    /// `extra_assets / 50` serial-duplicate pairs and `(extra_assets + 25) / 50`
    /// hostname-duplicate pairs.
    pub extra_assets: usize,
    /// Additional generated end users after the seeded ones (default 0): emails unique except
    /// `extra_users / 40` pairs that differ only in case (see the `seed` module).
    pub extra_users: usize,
    /// Tenants 1, 2, … after tenant 0 (default none). Each gets its own data from its own seed;
    /// `extra_assets` and `extra_users` apply to every tenant. When two tenants accept the same
    /// credentials, the token goes to the first whose `tenant` requirement the request meets.
    pub extra_tenants: Vec<SimTenant>,
    /// What tenant 0's API application and login-as agent may do (default: everything).
    pub permissions: Permissions,
    /// The simulated "today" as (year, month, day), UTC. `None` (the default) is the current
    /// date: the seeded tickets, invoices and contracts are placed relative to it, so a demo
    /// always looks current. Tests pin it to get byte-identical data on any day.
    pub today: Option<(i64, u32, u32)>,
    /// Which fields the asset types use as key fields 1-3, in every tenant (default: a
    /// different layout per type; see `asset_layouts`).
    pub asset_layout: AssetLayout,
    /// Agents of tenant 0 whose access is narrower than the application's when they sign in
    /// (default none: any enabled agent may sign in, with the tenant's permissions).
    pub signin_agents: Vec<SimAgent>,
    /// Redirect URIs registered on the sign-in application, matched exactly (default none:
    /// any `http://127.0.0.1` or `http://localhost` URI, so a demo on any port works).
    pub signin_redirect_uris: Vec<String>,
    /// The agent `/auth/authorize` signs in at once, without showing its page (default none:
    /// the page, unless the request names an agent with `login_hint`).
    pub signin_auto_agent: Option<i64>,
}

/// What a tenant's API application and its login-as agent may do. Halo's effective permission
/// is the application's scopes *and* the agent's access (halo-api.md §1.2): a token request
/// for a scope the application lacks is refused (`invalid_scope`), and an API call outside the
/// token's scopes or the agent's areas gets 403 with no body.
#[derive(Debug, Clone, PartialEq)]
pub struct Permissions {
    /// Permissions ticked on the API application: `all`, or `read:<area>` / `edit:<area>`
    /// (areas as Halo names them: `tickets`, `customers`, `invoices`, ...).
    pub app_scopes: Vec<String>,
    /// Areas the login-as agent has no access to (e.g. `invoices`); `admin` stands for the
    /// configuration resources no area names (statuses, agents, teams, ...).
    pub agent_denied: Vec<String>,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            app_scopes: vec!["all".into()],
            agent_denied: Vec::new(),
        }
    }
}

impl Permissions {
    /// Whether the application may be granted a requested scope.
    pub(crate) fn grants(&self, requested: &str) -> bool {
        self.app_scopes
            .iter()
            .any(|s| s.eq_ignore_ascii_case("all") || s.eq_ignore_ascii_case(requested))
    }

    /// Whether a call is allowed with a token holding `granted`.
    fn allows(&self, granted: &[String], method: &str, path: &str) -> bool {
        let area = scopes::area(path);
        let denied_area = area.unwrap_or("admin");
        // The agent's own record is always readable: it is how a caller learns who it is.
        let own_record = path
            .trim_end_matches('/')
            .to_ascii_lowercase()
            .ends_with("/agent/me");
        if !own_record
            && self
                .agent_denied
                .iter()
                .any(|d| d.eq_ignore_ascii_case(denied_area))
        {
            return false;
        }
        scopes::allow(granted, method, area)
    }
}

/// Another tenant of the same simulated Halo (see [`SimConfig::extra_tenants`]).
#[derive(Debug, Clone)]
pub struct SimTenant {
    pub client_id: String,
    pub client_secret: String,
    /// If Some, this tenant's token requests must carry ?tenant=<it>.
    pub tenant: Option<String>,
    /// Seed of this tenant's data (a different seed gives different data).
    pub seed: u64,
    /// What this tenant's application and agent may do (default: everything).
    pub permissions: Permissions,
}

/// Parses `CLIENT_ID:SECRET[:SEED]` (`halo-mcp simulate --extra-tenant`). The secret cannot
/// contain `:`. SEED is decimal or `0x` hex; without it the seed is derived from the client id,
/// so tenants with different client ids get different data. The tenant has no `?tenant=`
/// requirement.
pub fn parse_extra_tenant(s: &str) -> Result<SimTenant, String> {
    let bad = |why: &str| format!("expected CLIENT_ID:SECRET[:SEED] ({why}), got {s:?}");
    let mut parts = s.trim().splitn(3, ':');
    let client_id = parts.next().unwrap_or_default().trim();
    let client_secret = parts.next().map(str::trim).unwrap_or_default();
    if client_id.is_empty() {
        return Err(bad("the client id is empty"));
    }
    if client_secret.is_empty() {
        return Err(bad("the secret is empty"));
    }
    let seed = match parts.next().map(str::trim) {
        None => derived_seed(client_id),
        Some(n) => {
            let parsed = match n.strip_prefix("0x").or_else(|| n.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                None => n.replace('_', "").parse::<u64>(),
            };
            parsed.map_err(|_| bad("SEED must be a whole number, decimal or 0x hex"))?
        }
    };
    Ok(SimTenant {
        client_id: client_id.to_string(),
        client_secret: client_secret.to_string(),
        tenant: None,
        seed,
        permissions: Permissions::default(),
    })
}

/// FNV-1a of the client id: a stable seed per client id.
fn derived_seed(client_id: &str) -> u64 {
    client_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            client_id: "demo-client".to_string(),
            client_secret: "demo-secret".to_string(),
            tenant: None,
            token_lifetime: Duration::from_secs(3600),
            seed: seed::DEFAULT_SEED,
            faults: Faults::default(),
            extra_assets: 0,
            extra_users: 0,
            extra_tenants: Vec::new(),
            permissions: Permissions::default(),
            today: None,
            asset_layout: AssetLayout::default(),
            signin_agents: Vec::new(),
            signin_redirect_uris: Vec::new(),
            signin_auto_agent: None,
        }
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// The path as sent (original casing).
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    /// The status sent; 0 when the connection was dropped without an answer.
    pub status: u16,
    /// When the request arrived (before any injected latency or processing).
    pub at: Instant,
    /// The injected fault, if any: `"rate_limited"`, `"error_before"`, `"error_after"`,
    /// `"malformed"`, `"dropped_before"` or `"dropped_after"`.
    pub fault: Option<String>,
    /// The tenant whose live bearer token the request carried (0 is [`SimConfig`]'s own);
    /// `None` for token requests and calls without a live token.
    pub tenant: Option<usize>,
}

/// Token bookkeeping.
struct AuthState {
    /// Live tokens: when each expires, the tenant it was issued for, its scopes, and for a
    /// signed-in agent's token, the agent and its sign-in.
    tokens: HashMap<String, LiveToken>,
    /// Lifetime of tokens issued from now on.
    lifetime: Duration,
    /// Successful token requests.
    issued: usize,
    /// Token material; seeded from the clock, tokens need not be reproducible.
    rng: Prng,
}

#[derive(Clone)]
struct LiveToken {
    /// On tokio's clock (the system's, unless a test pauses it to reach expiry without waiting).
    expires: tokio::time::Instant,
    tenant: usize,
    scopes: Arc<Vec<String>>,
    /// Who the token acts as when an agent signed in; `None`: the application's login-as agent.
    agent: Option<i64>,
    /// The sign-in it belongs to, so a replayed code or refresh token revokes all of it.
    family: Option<u64>,
}

/// Who a live token acts as (see [`Shared::token_grant`]).
#[derive(Clone)]
pub(crate) struct Grant {
    pub tenant: usize,
    pub scopes: Arc<Vec<String>>,
    pub agent: Option<i64>,
}

/// One tenant: the credentials that reach it and its data.
pub(crate) struct Tenant {
    client_id: String,
    client_secret: String,
    /// The `?tenant=` its token requests must carry, if any.
    tenant: Option<String>,
    permissions: Permissions,
    db: RwLock<Db>,
}

impl Tenant {
    fn seeded(
        spec: SimTenant,
        extras: seed::Extras,
        today: Option<(i64, u32, u32)>,
        layout: AssetLayout,
    ) -> Self {
        Tenant {
            db: RwLock::new(seed::build_on(spec.seed, extras, today, layout)),
            client_id: spec.client_id,
            client_secret: spec.client_secret,
            tenant: spec.tenant,
            permissions: spec.permissions,
        }
    }
}

/// Everything a request handler needs, fault-injection state included; behind one `Arc` so
/// new state can be added here without touching the handlers' signatures.
pub(crate) struct Shared {
    config: SimConfig,
    base_url: String,
    /// Tenant 0 (from the config's own credentials and seed), then the extra tenants.
    tenants: Vec<Tenant>,
    auth: Mutex<AuthState>,
    log: Mutex<Vec<LoggedRequest>>,
    /// Woken after each request is logged, so a test can wait for a request instead of
    /// sleeping and hoping it has happened ([`Simulator::until_logged`]).
    logged: tokio::sync::Notify,
    faults: Mutex<FaultState>,
    signin: Mutex<signin::SignInState>,
}

impl Shared {
    fn new(config: SimConfig, base_url: String) -> Self {
        let extras = seed::Extras {
            assets: config.extra_assets,
            users: config.extra_users,
        };
        let first = SimTenant {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            tenant: config.tenant.clone(),
            seed: config.seed,
            permissions: config.permissions.clone(),
        };
        let tenants = std::iter::once(first)
            .chain(config.extra_tenants.iter().cloned())
            .map(|spec| Tenant::seeded(spec, extras, config.today, config.asset_layout))
            .collect();
        let clock_seed = clock::now_ticks() as u64 ^ u64::from(std::process::id()).rotate_left(32);
        Shared {
            auth: Mutex::new(AuthState {
                tokens: HashMap::new(),
                lifetime: config.token_lifetime,
                issued: 0,
                rng: Prng::new(clock_seed),
            }),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            config,
            base_url,
            tenants,
            log: Mutex::new(Vec::new()),
            logged: tokio::sync::Notify::new(),
            signin: Mutex::new(signin::SignInState::default()),
        }
    }

    /// A tenant's data.
    fn db(&self, tenant: usize) -> Option<&RwLock<Db>> {
        self.tenants.get(tenant).map(|t| &t.db)
    }

    /// Mints an opaque token for `tenant` with `scopes` and remembers it until it expires.
    fn issue_token(&self, tenant: usize, scopes: Vec<String>) -> (String, Duration) {
        self.issue_token_for(tenant, scopes, None, None)
    }

    /// Mints a token acting as `agent` (a sign-in of `family`), or as the application.
    fn issue_token_for(
        &self,
        tenant: usize,
        scopes: Vec<String>,
        agent: Option<i64>,
        family: Option<u64>,
    ) -> (String, Duration) {
        let mut auth = self.auth.lock();
        let token = random_token(&mut auth.rng);
        let lifetime = auth.lifetime;
        let now = tokio::time::Instant::now();
        auth.tokens.retain(|_, t| t.expires > now);
        auth.tokens.insert(
            token.clone(),
            LiveToken {
                expires: now + lifetime,
                tenant,
                scopes: Arc::new(scopes),
                agent,
                family,
            },
        );
        auth.issued += 1;
        (token, lifetime)
    }

    /// The tenant, scopes and agent of the live token in `Authorization: Bearer <token>`.
    fn token_grant(&self, headers: &HeaderMap) -> Option<Grant> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let auth = self.auth.lock();
        auth.tokens
            .get(token.trim())
            .filter(|t| t.expires > tokio::time::Instant::now())
            .map(|t| Grant {
                tenant: t.tenant,
                scopes: t.scopes.clone(),
                agent: t.agent,
            })
    }

    /// Whether a token may make this call: the application's scopes, and the areas of the
    /// agent it acts as (a signed-in agent's own, else the login-as agent's).
    fn permits(&self, g: &Grant, method: &str, path: &str) -> bool {
        let Some(tenant) = self.tenants.get(g.tenant) else {
            return false;
        };
        match g
            .agent
            .and_then(|a| self.config.signin_agents.iter().find(|s| s.id == a))
        {
            Some(agent) => Permissions {
                app_scopes: tenant.permissions.app_scopes.clone(),
                agent_denied: agent.denied.clone(),
            }
            .allows(&g.scopes, method, path),
            None if g.agent.is_some() => Permissions {
                app_scopes: tenant.permissions.app_scopes.clone(),
                agent_denied: Vec::new(),
            }
            .allows(&g.scopes, method, path),
            None => tenant.permissions.allows(&g.scopes, method, path),
        }
    }
}

/// A running simulated Halo.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Seeds the tenant, binds `addr` (port 0 picks a free port) and serves in the background.
    /// Returns once the socket is listening.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Simulator::start_on(config, listener).await
    }

    /// Like [`Simulator::start`] on a listener the caller already bound, so the caller knows the
    /// address before the seed is built (the demo mode answers `initialize` meanwhile).
    pub async fn start_on(
        config: SimConfig,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<Simulator> {
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, base_url_for(local)));
        let app = http::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "simulated Halo stopped with an error");
            }
        });
        Ok(Simulator {
            shared,
            addr: local,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (API under `/api`, auth under `/auth`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The configuration the simulator was started with (its `faults` are the initial ones:
    /// see [`Simulator::faults`] for the live ones).
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Number of tenants (1 + `extra_tenants`).
    pub fn tenant_count(&self) -> usize {
        self.shared.tenants.len()
    }

    /// Every stored record of a resource in tenant 0 (Halo path name, case-insensitive:
    /// `"Tickets"`, `"actions"`), including soft-deleted tickets. `"Tickets"` is the ticket
    /// domain only; projects and opportunities are under `"Projects"` / `"Opportunities"`.
    pub fn records(&self, resource: &str) -> Vec<Value> {
        self.records_in(0, resource)
    }

    /// [`Simulator::records`] of tenant `tenant` (empty for an unknown tenant).
    pub fn records_in(&self, tenant: usize, resource: &str) -> Vec<Value> {
        let (Some(res), Some(db)) = (resources::find(resource), self.shared.db(tenant)) else {
            return Vec::new();
        };
        db.read().rows(res, None).into_iter().cloned().collect()
    }

    /// One record of tenant 0 as `GET /X/{id}` would find it (for `"Tickets"` any Faults row,
    /// deleted or not). Actions need a ticket: see [`Simulator::action`].
    pub fn record(&self, resource: &str, id: i64) -> Option<Value> {
        self.record_in(0, resource, id)
    }

    /// [`Simulator::record`] of tenant `tenant`.
    pub fn record_in(&self, tenant: usize, resource: &str, id: i64) -> Option<Value> {
        let res = resources::find(resource)?;
        self.shared.db(tenant)?.read().by_id(res, id).cloned()
    }

    /// Action `action_id` of ticket `ticket_id` in tenant 0.
    pub fn action(&self, ticket_id: i64, action_id: i64) -> Option<Value> {
        self.action_in(0, ticket_id, action_id)
    }

    /// [`Simulator::action`] of tenant `tenant`.
    pub fn action_in(&self, tenant: usize, ticket_id: i64, action_id: i64) -> Option<Value> {
        self.shared
            .db(tenant)?
            .read()
            .actions
            .get(&(ticket_id, action_id))
            .cloned()
    }

    /// Number of records [`Simulator::records`] would return.
    pub fn count(&self, resource: &str) -> usize {
        self.count_in(0, resource)
    }

    /// Number of records [`Simulator::records_in`] would return.
    pub fn count_in(&self, tenant: usize, resource: &str) -> usize {
        match (resources::find(resource), self.shared.db(tenant)) {
            (Some(res), Some(db)) => db.read().rows(res, None).len(),
            _ => 0,
        }
    }

    /// Successful `POST /auth/token` calls so far, all tenants together.
    pub fn token_requests(&self) -> usize {
        self.shared.auth.lock().issued
    }

    /// Every request so far, in order of completion (`at` is each one's arrival).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.lock().clone()
    }

    /// Waits until a logged request satisfies `found` (checking those already logged first);
    /// false if none has by `within`. Requests are logged when their answer is sent, or when the
    /// simulator drops the connection.
    pub async fn until_logged(
        &self,
        found: impl Fn(&LoggedRequest) -> bool,
        within: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the log is read, so a request logged in between still wakes us.
            let notified = self.shared.logged.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.log.lock().iter().any(&found) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Replaces the injected faults from the next request on. The dice are reseeded with
    /// `faults.seed`; the rate limit keeps counting requests already in its window.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults.lock().set(faults);
    }

    /// The faults injected now.
    pub fn faults(&self) -> Faults {
        self.shared.faults.lock().faults().clone()
    }

    /// API request counts so far: per path, per injected fault, and the busiest rolling window
    /// of the current rate limit.
    pub fn stats(&self) -> RequestStats {
        let window = self.faults().rate_limit.map(|(_, w)| w);
        faults::stats(&self.shared.log.lock(), window)
    }

    /// The most accepted (non-429) API requests whose arrival times fall within any rolling
    /// `window` (a run spanning less than `window`). Requests still in flight are not counted.
    pub fn max_requests_in(&self, window: Duration) -> usize {
        faults::max_in(&self.shared.log.lock(), window)
    }

    /// Every write a token made, with the agent it acted as, oldest first.
    pub fn written(&self) -> Vec<Written> {
        self.shared.signin.lock().written.clone()
    }

    /// Halo refuses every refresh token from now on (an administrator revoked the sign-ins);
    /// access tokens already issued live on until they expire.
    pub fn refuse_refreshes(&self) {
        self.shared.signin.lock().refusing = true;
    }

    /// Authorization codes and refresh tokens redeemed so far (`(codes, refreshes)`).
    pub fn signin_counts(&self) -> (usize, usize) {
        let s = self.shared.signin.lock();
        (s.codes_redeemed, s.refreshed)
    }

    /// Forgets every issued token, of every tenant: the next API call with one gets 401.
    pub fn revoke_tokens(&self) {
        self.shared.auth.lock().tokens.clear();
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, d: Duration) {
        self.shared.auth.lock().lifetime = d;
    }

    /// Stops serving and waits (up to 5 s) for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn base_url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Serves the simulator until Ctrl-C (`halo-mcp simulate`), logging where it is and which
/// credentials to use.
pub async fn run_standalone(config: SimConfig, addr: SocketAddr) -> anyhow::Result<()> {
    let sim = Simulator::start(config, addr).await?;
    let base = sim.base_url();
    let cfg = sim.config();
    tracing::info!(%base, api = %format!("{base}/api"), token_url = %format!("{base}/auth/token"), "simulated Halo listening");
    tracing::info!(
        tenant_index = 0,
        client_id = %cfg.client_id,
        client_secret = %cfg.client_secret,
        tenant = %cfg.tenant.as_deref().unwrap_or("(none required)"),
        seed = cfg.seed,
        "credentials: grant_type=client_credentials, scope=all"
    );
    for (i, t) in cfg.extra_tenants.iter().enumerate() {
        tracing::info!(
            tenant_index = i + 1,
            client_id = %t.client_id,
            client_secret = %t.client_secret,
            tenant = %t.tenant.as_deref().unwrap_or("(none required)"),
            seed = t.seed,
            "credentials of another tenant (its own data)"
        );
    }
    if cfg.faults.is_active() {
        tracing::info!(faults = %cfg.faults, "injecting faults into /api requests");
    }
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down simulated Halo");
    sim.shutdown().await;
    Ok(())
}

/// 256 bits of token material, hex.
fn random_token(rng: &mut Prng) -> String {
    (0..4).map(|_| format!("{:016x}", rng.next_u64())).collect()
}
