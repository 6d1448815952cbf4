//! Sign in with Halo (`MCP_AUTH=halo`): this server is the OAuth 2.1 authorisation server its MCP
//! clients see, and hands the user's sign-in to Halo's own authorisation server.
//!
//! Why: with the OAuth proxy (`oauth`), every remote user acts as the operator's API application
//! and its one login-as agent, and a standard MCP client cannot finish unaided (it registers,
//! gets a public client id, and has no Halo secret to give). Here a standard client needs
//! nothing but the server's URL, and each user acts in Halo as themselves.
//!
//! The flow, as the MCP client sees it: discovery (RFC 9728, RFC 8414), registration (RFC 7591,
//! public clients: no secret), `/authorize` with PKCE S256 (required), then `/token`. Behind
//! `/authorize` the browser goes to Halo's `/auth/authorize` for the operator's sign-in
//! application (`HALO_SIGNIN_CLIENT_ID`, redirect URI `{MCP_PUBLIC_URL}/oauth/halo/callback`,
//! scope `all offline_access`, a PKCE pair of this server's own); Halo sends it back to
//! `/oauth/halo/callback`, where the server redeems Halo's code, asks Halo who signed in
//! (`/Agent/me`), and sends the browser on to the MCP client with a code of its own. The MCP
//! client's tokens are this server's: short-lived, opaque, and bound to that agent's Halo
//! tokens, which never leave the server.
//!
//! Rules kept exactly:
//! - redirect URIs match a registration exactly; errors before the redirect URI is trusted are
//!   shown, never redirected;
//! - PKCE S256 is required (no challenge, no code);
//! - codes are single-use and short-lived; a code presented twice revokes what its first use
//!   got;
//! - refresh tokens rotate and work once; a spent one presented again revokes the grant (a copy
//!   is in other hands); a client may only refresh its own tokens;
//! - Halo's refresh tokens rotate too and are single-use: the agent's client renews them,
//!   serialised per grant ([`crate::halo::auth::AgentTokens`]); once Halo refuses, the grant
//!   ends and its tokens stop working, so the MCP client is sent to sign in again;
//! - everything kept has a lifetime and a cap (see [`SignInConfig`]), least valuable first out.
//!
//! Client ID Metadata Documents are accepted too (the MCP authorization spec's 2026-07-28
//! revision; rmcp's `AuthorizationRequest::with_client_metadata_url`): a client id that is an
//! `https` URL with a path names a JSON document at that URL, whose `client_id` must be the URL
//! itself and whose `redirect_uris` must list the redirect URI. It is fetched with care, since
//! anyone can name any URL: https only, every address the host resolves to must be public (the
//! connection is pinned to the one checked, so DNS cannot swap it), no redirects, 5 s, 16 KB;
//! documents are cached 5 minutes, at most 1,000.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use ring::rand::SystemRandom;
use serde_json::Value;

use super::authz::{
    Clock, OAuthError, after, client_name, invalid_grant, make_room, pkce_holds,
    registered_redirects, registration_response, s256, source_of, token_answer,
};
use crate::halo::{
    Caching, HaloClient, HaloConfig,
    auth::{AgentIdentity, AgentTokens, exchange_agent_code},
};

/// Where Halo sends the browser back, under the server's public URL.
pub const CALLBACK_PATH: &str = "/oauth/halo/callback";

/// Access tokens kept per grant: the newest and the one before it (requests in flight when a
/// client refreshes still pass).
const ACCESS_PER_GRANT: usize = 2;
/// Rotated refresh tokens remembered per grant, to recognise one presented again.
const SPENT_REFRESH_PER_GRANT: usize = 16;
/// How long a fetched Client ID Metadata Document is trusted, and how many are kept.
const DOCUMENT_TTL: Duration = Duration::from_secs(300);
const MAX_DOCUMENTS: usize = 1000;
/// Limits on fetching one.
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(5);
const DOCUMENT_MAX_BYTES: usize = 16 * 1024;

/// Fetches a Client ID Metadata Document (a seam, so tests need no https server).
type Fetcher = Arc<dyn Fn(String) -> BoxFuture<'static, Result<Value, String>> + Send + Sync>;

/// Expired entries are swept at most this often; caps hold on every insert regardless.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Settings of the sign-in server.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    /// Scope asked of Halo (`offline_access` brings the refresh token).
    pub halo_scope: String,
    /// How long a user has to finish signing in at Halo.
    pub pending_ttl: Duration,
    /// How long this server's authorization code lives.
    pub code_ttl: Duration,
    /// How long this server's access tokens live.
    pub access_ttl: Duration,
    /// A grant unused this long ends (Halo's own refresh-token lifetime may end it sooner).
    pub grant_idle_ttl: Duration,
    pub max_clients: usize,
    pub max_clients_per_source: usize,
    /// A registration unused this long is dropped.
    pub registration_ttl: Duration,
    /// Sign-ins in progress at Halo, at most.
    pub max_pending: usize,
    pub max_codes: usize,
    pub max_grants: usize,
    /// Grants per MCP client id, at most.
    pub max_grants_per_client: usize,
}

impl Default for SignInConfig {
    fn default() -> SignInConfig {
        SignInConfig {
            halo_scope: "all offline_access".into(),
            pending_ttl: Duration::from_secs(600),
            code_ttl: Duration::from_secs(60),
            access_ttl: Duration::from_secs(900),
            grant_idle_ttl: Duration::from_secs(30 * 24 * 3600),
            max_clients: 1000,
            max_clients_per_source: 20,
            registration_ttl: Duration::from_secs(30 * 24 * 3600),
            max_pending: 10_000,
            max_codes: 10_000,
            max_grants: 10_000,
            max_grants_per_client: 100,
        }
    }
}

struct Registration {
    redirect_uris: Vec<String>,
    source: IpAddr,
    last_used: Instant,
    /// A sign-in through it finished: such registrations are dropped last.
    proven: bool,
}

/// A sign-in waiting for Halo to send the browser back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    state: Option<String>,
    /// This server's own PKCE verifier towards Halo.
    halo_verifier: String,
    /// The callback URI sent to Halo (the code must be redeemed with the same).
    callback: String,
    /// In shared state the key's TTL is the lifetime: read back, a pending sign-in is new.
    #[serde(skip, default = "Instant::now")]
    created: Instant,
}

/// This server's code, for an agent Halo signed in.
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    halo: HaloClient,
    agent: AgentIdentity,
    created: Instant,
}

struct UsedCode {
    at: Instant,
    grant: Option<u64>,
}

struct Grant {
    client_id: String,
    halo: HaloClient,
    agent: AgentIdentity,
    last_used: Instant,
    code: String,
    access: VecDeque<String>,
    refresh: String,
    spent: VecDeque<String>,
}

struct Access {
    grant: u64,
    expires: Instant,
}

struct Refresh {
    grant: u64,
    spent: bool,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, Registration>,
    pending: HashMap<String, Pending>,
    codes: HashMap<String, Code>,
    used_codes: HashMap<String, UsedCode>,
    grants: HashMap<u64, Grant>,
    next_grant: u64,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    /// Client ID Metadata Documents fetched recently, by URL.
    documents: HashMap<String, (Instant, Value)>,
    swept: Option<Instant>,
}

impl State {
    fn revoke(&mut self, id: u64) {
        let Some(grant) = self.grants.remove(&id) else {
            return;
        };
        super::authz::revoke_tokens(
            &mut self.access,
            &mut self.refresh,
            &grant.access,
            &grant.refresh,
            &grant.spent,
            self.used_codes.get_mut(&grant.code).map(|u| &mut u.grant),
            id,
        );
    }

    fn sweep(&mut self, now: Instant, c: &SignInConfig) {
        if self
            .swept
            .is_some_and(|t| now.duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        self.pending
            .retain(|_, p| now.duration_since(p.created) < c.pending_ttl);
        self.codes
            .retain(|_, k| now.duration_since(k.created) < c.code_ttl);
        let keep = c.code_ttl.saturating_mul(10);
        self.used_codes
            .retain(|_, u| u.grant.is_some() || now.duration_since(u.at) < keep);
        let dead: Vec<u64> = self
            .grants
            .iter()
            .filter(|(_, g)| {
                now.duration_since(g.last_used) >= c.grant_idle_ttl
                    || g.halo.agent_tokens().is_some_and(|t| t.ended())
            })
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.revoke(id);
        }
        let grants = &mut self.grants;
        self.access.retain(|token, a| {
            let live = a.expires > now;
            if !live && let Some(g) = grants.get_mut(&a.grant) {
                g.access.retain(|t| t != token);
            }
            live
        });
        self.clients
            .retain(|_, r| now.duration_since(r.last_used) < c.registration_ttl);
        self.documents
            .retain(|_, (at, _)| now.duration_since(*at) < DOCUMENT_TTL);
    }

    /// Revokes the grant `pick` selects that was unused longest; false if none.
    fn evict_grant(&mut self, pick: impl Fn(&Grant) -> bool) -> bool {
        let victim = self
            .grants
            .iter()
            .filter(|(_, g)| pick(g))
            .min_by_key(|(_, g)| g.last_used)
            .map(|(id, _)| *id);
        victim.is_some_and(|id| {
            self.revoke(id);
            true
        })
    }
}

/// A bearer token of this server, resolved.
#[derive(Clone)]
pub struct AgentPrincipal {
    /// Binds MCP sessions: the same agent through the same client.
    pub key: String,
    pub halo: HaloClient,
}

/// The sign-in server's state: in memory, or in Redis (`shared`).
pub struct HaloSignIn {
    config: SignInConfig,
    /// Halo settings with the sign-in application's client id (and secret, if it has one).
    halo: HaloConfig,
    /// The sign-in application's client: its connection pool serves every agent's client.
    app: HaloClient,
    http: reqwest::Client,
    rng: SystemRandom,
    clock: Clock,
    state: Mutex<State>,
    fetch: Fetcher,
    /// Registrations, sign-ins in progress, codes, grants and tokens in Redis when replicas
    /// share state; `None` keeps them in `state`.
    shared: Option<shared::Shared>,
}

/// The same server's state kept in Redis (`HALO_MCP_STATE=redis://…`).
#[path = "signin_shared.rs"]
mod shared;

fn query_url(base: &str, pairs: &[(&str, &str)]) -> Result<String, OAuthError> {
    let mut url = reqwest::Url::parse(base)
        .map_err(|_| OAuthError::new(400, "invalid_request", "redirect_uri is not a URL"))?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Ok(url.to_string())
}

/// The checks of a sign-in code exchange once the code was found and taken: the client it was
/// issued to, the redirect URI it was issued for, and PKCE. Unlike the proxy's there is no
/// secret and no verifier of this server's own, so the client must bring its verifier.
fn check_code(
    form: &HashMap<String, String>,
    issued_to: &str,
    redirect_uri: &str,
    challenge: &str,
) -> Result<(), OAuthError> {
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("client_id") != Some(issued_to) {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if get("redirect_uri") != Some(redirect_uri) {
        return Err(invalid_grant(
            "redirect_uri does not match the one used to authorize",
        ));
    }
    if !get("code_verifier").is_some_and(|v| pkce_holds(v, challenge)) {
        return Err(invalid_grant("PKCE verification failed"));
    }
    Ok(())
}

/// The redirect URIs and name of a sign-in registration request, once it is seen to ask for a
/// public client: memory and Redis register alike, so they refuse alike too.
fn public_client(request: &Value) -> Result<(Vec<String>, Option<String>), OAuthError> {
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
    Ok((uris, client_name(request)))
}

impl HaloSignIn {
    /// `halo`: the operator's Halo settings with `client_id` (and `client_secret`, empty for a
    /// public application) set to the sign-in application.
    pub fn new(config: SignInConfig, halo: HaloConfig) -> anyhow::Result<Arc<HaloSignIn>> {
        crate::halo::install_crypto();
        let http = reqwest::Client::builder()
            .user_agent(concat!("halo-mcp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(halo.timeout.min(Duration::from_secs(10)))
            // Halo's token endpoint answers directly; a redirect would be a misconfiguration.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let app = HaloClient::new(halo.clone())?;
        Ok(Arc::new(HaloSignIn {
            config,
            app,
            halo,
            http,
            rng: SystemRandom::new(),
            clock: Clock::default(),
            state: Mutex::new(State::default()),
            fetch: Arc::new(|url| Box::pin(fetch_document(url))),
            shared: None,
        }))
    }

    /// A sign-in server whose state lives in Redis, the agents' Halo tokens sealed with
    /// `sealer`, so that any replica on the same Redis continues a sign-in another began,
    /// honours its tokens, and renews Halo's tokens in turn with the others.
    pub fn shared(
        config: SignInConfig,
        halo: HaloConfig,
        redis: Arc<crate::state::RedisState>,
        sealer: super::sealed::Sealer,
    ) -> anyhow::Result<Arc<HaloSignIn>> {
        let made = HaloSignIn::new(config, halo)?;
        let mut made = Arc::try_unwrap(made)
            .map_err(|_| anyhow::anyhow!("the sign-in server was shared before it was set up"))?;
        made.shared = Some(shared::Shared::new(redis, sealer));
        Ok(Arc::new(made))
    }

    /// RFC 7591 registration, wherever the server keeps its state.
    pub async fn register_any(&self, request: &Value, source: IpAddr) -> Result<Value, OAuthError> {
        match &self.shared {
            Some(shared) => self.shared_register(shared, request, source).await,
            None => self.register(request, source),
        }
    }

    /// `/token` with `grant_type=authorization_code`, wherever the state is.
    pub async fn exchange_any(&self, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
        match &self.shared {
            Some(shared) => self.shared_exchange(shared, form).await,
            None => self.exchange_code(form),
        }
    }

    /// `/token` with `grant_type=refresh_token`, wherever the state is.
    pub async fn refresh_any(&self, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
        match &self.shared {
            Some(shared) => self.shared_refresh(shared, form).await,
            None => self.refresh(form),
        }
    }

    /// The agent behind a bearer token. An error means the shared state could not be asked:
    /// the request is refused (503) rather than judged on a local view.
    pub async fn resolve(&self, token: &str) -> Result<Option<AgentPrincipal>, OAuthError> {
        match &self.shared {
            Some(shared) => self.shared_principal(shared, token).await,
            None => Ok(self.principal(token)),
        }
    }

    fn random(&self) -> Result<String, OAuthError> {
        super::authz::random(&self.rng)
    }

    /// RFC 7591 registration of a public client: no secret is issued, none is needed (PKCE
    /// binds each code to the flow that asked for it). Capped per source and overall.
    pub fn register(&self, request: &Value, source: IpAddr) -> Result<Value, OAuthError> {
        let (uris, client_name) = public_client(request)?;
        let source = source_of(source);
        let now = self.clock.now();
        let client_id = format!("hsi-{}", self.random()?);
        let mut state = self.state.lock();
        state.sweep(now, &self.config);
        let per_source = self.config.max_clients_per_source.max(1);
        while state
            .clients
            .values()
            .filter(|r| r.source == source)
            .count()
            >= per_source
        {
            let victim = state
                .clients
                .iter()
                .filter(|(_, r)| r.source == source)
                .min_by_key(|(_, r)| (r.proven, r.last_used))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => state.clients.remove(&k),
                None => break,
            };
        }
        make_room(&mut state.clients, self.config.max_clients, |r| {
            (r.proven, r.last_used)
        });
        state.clients.insert(
            client_id.clone(),
            Registration {
                redirect_uris: uris.clone(),
                source,
                last_used: now,
                proven: false,
            },
        );
        Ok(registration_response(
            &client_id,
            &uris,
            client_name.as_deref(),
            "none",
        ))
    }

    /// `/authorize`: checks the client and redirect URI (errors shown), then the request
    /// (errors sent back to the client), and sends the browser to Halo's sign-in. `base` is
    /// this server's public URL. Returns where to redirect.
    pub async fn authorize(
        &self,
        params: &HashMap<String, String>,
        base: &str,
    ) -> Result<String, OAuthError> {
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let client_id = get("client_id")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "client_id is required"))?;
        let redirect_uri = get("redirect_uri")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "redirect_uri is required"))?;
        let now = self.clock.now();
        if is_document_url(client_id) {
            self.check_document(client_id, redirect_uri, now).await?;
        } else if let Some(shared) = &self.shared {
            self.shared_check_client(shared, client_id, redirect_uri)
                .await?;
        } else {
            let mut state = self.state.lock();
            state.sweep(now, &self.config);
            let Some(r) = state.clients.get_mut(client_id) else {
                return Err(OAuthError::new(
                    400,
                    "invalid_client",
                    "unknown client: register it first (POST /register)",
                ));
            };
            if !r.redirect_uris.iter().any(|u| u == redirect_uri) {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    "redirect_uri does not match the client's registered redirect URIs",
                ));
            }
            r.last_used = now;
        }
        let client_state = get("state");
        let back = |error: &str, description: &str| {
            let mut q = vec![("error", error), ("error_description", description)];
            if let Some(s) = client_state {
                q.push(("state", s));
            }
            query_url(redirect_uri, &q)
        };
        if get("response_type") != Some("code") {
            return back("unsupported_response_type", "only response_type=code");
        }
        let challenge = match (get("code_challenge"), get("code_challenge_method")) {
            (Some(c), Some("S256")) if c.len() == 43 => c.to_owned(),
            (Some(_), Some("S256")) => {
                return back(
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256",
                );
            }
            (Some(_), _) => return back("invalid_request", "code_challenge_method must be S256"),
            (None, _) => return back("invalid_request", "PKCE is required: send code_challenge"),
        };
        let halo_state = self.random()?;
        let halo_verifier = self.random()?;
        let callback = format!("{}{CALLBACK_PATH}", base.trim_end_matches('/'));
        let pending = Pending {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            state: client_state.map(str::to_owned),
            halo_verifier: halo_verifier.clone(),
            callback: callback.clone(),
            created: now,
        };
        if let Some(shared) = &self.shared {
            self.shared_keep_pending(shared, &halo_state, &pending)
                .await?;
        } else {
            let mut state = self.state.lock();
            make_room(&mut state.pending, self.config.max_pending, |p| p.created);
            state.pending.insert(halo_state.clone(), pending);
        }
        let halo_challenge = s256(&halo_verifier);
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", self.halo.client_id.as_str()),
            ("redirect_uri", callback.as_str()),
            ("scope", self.config.halo_scope.as_str()),
            ("state", halo_state.as_str()),
            ("code_challenge", halo_challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(t) = &self.halo.tenant {
            q.push(("tenant", t));
        }
        query_url(&format!("{}/authorize", self.halo.auth_url), &q)
    }

    /// A Client ID Metadata Document's client may use `redirect_uri`: the document (fetched,
    /// or cached) names itself and lists that redirect URI. Errors are shown, never redirected.
    async fn check_document(
        &self,
        url: &str,
        redirect_uri: &str,
        now: Instant,
    ) -> Result<(), OAuthError> {
        let cached = {
            let mut state = self.state.lock();
            state.sweep(now, &self.config);
            state.documents.get(url).map(|(_, d)| d.clone())
        };
        let document = match cached {
            Some(d) => d,
            None => {
                let d = (self.fetch)(url.to_owned()).await.map_err(|why| {
                    OAuthError::new(
                        400,
                        "invalid_client",
                        format!("the client's metadata document could not be used: {why}"),
                    )
                })?;
                let mut state = self.state.lock();
                make_room(&mut state.documents, MAX_DOCUMENTS, |(at, _)| *at);
                state.documents.insert(url.to_owned(), (now, d.clone()));
                d
            }
        };
        let bad = |why: &str| {
            OAuthError::new(
                400,
                "invalid_client",
                format!("the client's metadata document {why}"),
            )
        };
        if document.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err(bad("does not name its own URL as client_id"));
        }
        match document
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
        {
            None | Some("none") => {}
            Some(_) => {
                return Err(bad(
                    "asks for client authentication; clients here are public",
                ));
            }
        }
        let uris = registered_redirects(&document).map_err(|e| bad(&e.description))?;
        if !uris.iter().any(|u| u == redirect_uri) {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "redirect_uri is not among the client's metadata document's redirect_uris",
            ));
        }
        Ok(())
    }

    /// `/oauth/halo/callback`: Halo sent the browser back. Redeems Halo's code, learns who
    /// signed in, and returns where to send the browser: the MCP client's redirect URI with
    /// this server's code. Errors with no trusted redirect URI (unknown or expired state) are
    /// returned as errors, to be shown.
    pub async fn callback(&self, params: &HashMap<String, String>) -> Result<String, OAuthError> {
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let halo_state = get("state").ok_or_else(|| {
            OAuthError::new(400, "invalid_request", "Halo's answer carries no state")
        })?;
        let now = self.clock.now();
        let pending = match &self.shared {
            Some(shared) => self.shared_take_pending(shared, halo_state).await?,
            None => {
                let mut state = self.state.lock();
                state.sweep(now, &self.config);
                state.pending.remove(halo_state)
            }
        }
        .ok_or_else(|| {
            OAuthError::new(
                400,
                "invalid_request",
                "this sign-in is unknown or expired: start again from the MCP client",
            )
        })?;
        let back = |error: &str, description: &str| {
            let mut q = vec![("error", error), ("error_description", description)];
            if let Some(s) = &pending.state {
                q.push(("state", s.as_str()));
            }
            query_url(&pending.redirect_uri, &q)
        };
        if now.duration_since(pending.created) >= self.config.pending_ttl {
            return back("access_denied", "the sign-in took too long; start again");
        }
        let Some(code) = get("code") else {
            // Halo's own words are not passed on: its error code is enough to act on. The code
            // arrives in the callback's query, which anyone can write: escaped and bounded.
            let why = crate::text::clip(get("error").unwrap_or("no code"));
            return back(
                "access_denied",
                &format!("Halo did not sign you in ({why})"),
            );
        };
        let grant = match exchange_agent_code(
            &self.http,
            &self.halo,
            code,
            &pending.callback,
            &pending.halo_verifier,
        )
        .await
        {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "Halo refused to redeem a sign-in code");
                return back("access_denied", "Halo refused the sign-in");
            }
        };
        if grant.refresh.is_none() {
            tracing::warn!(
                "Halo gave no refresh token: the sign-in ends when its access token expires \
                 (is offline_access allowed for the sign-in application?)"
            );
        }
        let tokens = Arc::new(AgentTokens::new(grant));
        // Asked first with a client of its own, keyed by this sign-in, so nothing is cached
        // under an agent before Halo has said which agent it is.
        let probe_key = format!("signin:{}", self.random()?);
        let probe = self.app.for_agent(tokens.clone(), &probe_key);
        let me = match probe.get("/Agent/me", &[], Caching::Live).await {
            Ok(me) => me,
            Err(e) => {
                tracing::warn!(error = %e, "GET /Agent/me failed after a sign-in");
                return back("server_error", "Halo did not say who signed in");
            }
        };
        let Some(id) = me.get("id").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        }) else {
            return back("server_error", "Halo did not say who signed in");
        };
        let name = me
            .get("name")
            .and_then(Value::as_str)
            .map(crate::text::clip)
            .unwrap_or_default();
        let agent = AgentIdentity { id, name };
        tokens.set_identity(agent.clone());
        let ours = self.random()?;
        if let Some(shared) = &self.shared {
            // Kept sealed with the code: the replica that takes the code makes the grant.
            let kept = shared::CodeRecord {
                client_id: pending.client_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                challenge: pending.challenge.clone(),
                agent: agent.clone(),
                tokens: tokens.snapshot().await,
            };
            self.shared_keep_code(shared, &ours, &kept).await?;
        } else {
            let halo = self.app.for_agent(tokens, &id.to_string());
            let now = self.clock.now();
            let mut state = self.state.lock();
            make_room(&mut state.codes, self.config.max_codes, |c| c.created);
            state.codes.insert(
                ours.clone(),
                Code {
                    client_id: pending.client_id.clone(),
                    redirect_uri: pending.redirect_uri.clone(),
                    challenge: pending.challenge.clone(),
                    halo,
                    agent: agent.clone(),
                    created: now,
                },
            );
        }
        tracing::info!(agent_id = agent.id, "an agent signed in with Halo");
        let mut q = vec![("code", ours.as_str())];
        if let Some(s) = &pending.state {
            q.push(("state", s.as_str()));
        }
        query_url(&pending.redirect_uri, &q)
    }

    /// `/token` with `grant_type=authorization_code`.
    pub fn exchange_code(&self, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
        let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let code = get("code")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "code is required"))?;
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.sweep(now, &self.config);
        let Some(record) = state.codes.remove(code) else {
            let Some(used) = state.used_codes.get(code) else {
                return Err(invalid_grant("unknown or expired code"));
            };
            // Presented before: whoever holds what its first use got may not be its owner.
            if let Some(id) = used.grant {
                state.revoke(id);
            }
            return Err(invalid_grant(
                "this code was already used: the tokens issued for it are revoked",
            ));
        };
        let cap = self.config.max_codes.saturating_add(self.config.max_grants);
        make_room(&mut state.used_codes, cap, |u| (u.grant.is_some(), u.at));
        state.used_codes.insert(
            code.to_owned(),
            UsedCode {
                at: now,
                grant: None,
            },
        );
        if now.duration_since(record.created) >= self.config.code_ttl {
            return Err(invalid_grant("the code has expired"));
        }
        check_code(
            form,
            &record.client_id,
            &record.redirect_uri,
            &record.challenge,
        )?;
        if let Some(r) = state.clients.get_mut(&record.client_id) {
            r.proven = true;
            r.last_used = now;
        }
        let client_id = record.client_id.clone();
        let per_client = self.config.max_grants_per_client.max(1);
        while state
            .grants
            .values()
            .filter(|g| g.client_id == client_id)
            .count()
            >= per_client
            && state.evict_grant(|g| g.client_id == client_id)
        {}
        while state.grants.len() >= self.config.max_grants.max(1) && state.evict_grant(|_| true) {}
        let id = state.next_grant;
        state.next_grant = state.next_grant.wrapping_add(1);
        let (access, refresh) = (self.random()?, self.random()?);
        let expires = after(now, self.config.access_ttl);
        state
            .access
            .insert(access.clone(), Access { grant: id, expires });
        state.refresh.insert(
            refresh.clone(),
            Refresh {
                grant: id,
                spent: false,
            },
        );
        state.grants.insert(
            id,
            Grant {
                client_id,
                halo: record.halo,
                agent: record.agent,
                last_used: now,
                code: code.to_owned(),
                access: VecDeque::from([access.clone()]),
                refresh: refresh.clone(),
                spent: VecDeque::new(),
            },
        );
        if let Some(u) = state.used_codes.get_mut(code) {
            u.grant = Some(id);
        }
        Ok(token_answer(&access, &refresh, expires.duration_since(now)))
    }

    /// `/token` with `grant_type=refresh_token`: rotates this server's refresh token. Halo's
    /// own tokens are renewed by the agent's client when they near expiry, not here.
    pub fn refresh(&self, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
        let token = form
            .get("refresh_token")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "refresh_token is required"))?;
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.sweep(now, &self.config);
        let unknown = || invalid_grant("unknown, revoked or expired refresh token: sign in again");
        let (id, spent) = state
            .refresh
            .get(token)
            .map(|r| (r.grant, r.spent))
            .ok_or_else(unknown)?;
        let grant = state.grants.get(&id).ok_or_else(unknown)?;
        // A public client proves nothing but its id; another client's id changes nothing (it
        // must not be able to spend or revoke the holder's token).
        if form.get("client_id").map(String::as_str) != Some(grant.client_id.as_str()) {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if grant.halo.agent_tokens().is_some_and(|t| t.ended()) {
            state.revoke(id);
            return Err(invalid_grant(
                "Halo ended this sign-in (it refused to renew it): sign in again",
            ));
        }
        if spent {
            state.revoke(id);
            return Err(invalid_grant(
                "this refresh token was already used: every token of its grant is revoked; \
                 sign in again",
            ));
        }
        let (new_access, new_refresh) = (self.random()?, self.random()?);
        let Some(grant) = state.grants.get_mut(&id) else {
            return Err(unknown());
        };
        grant.last_used = now;
        let old = std::mem::replace(&mut grant.refresh, new_refresh.clone());
        grant.spent.push_back(old.clone());
        let mut forget_refresh = Vec::new();
        while grant.spent.len() > SPENT_REFRESH_PER_GRANT {
            forget_refresh.extend(grant.spent.pop_front());
        }
        grant.access.push_back(new_access.clone());
        let mut forget_access = Vec::new();
        while grant.access.len() > ACCESS_PER_GRANT {
            forget_access.extend(grant.access.pop_front());
        }
        if let Some(r) = state.refresh.get_mut(&old) {
            r.spent = true;
        }
        for t in forget_refresh {
            state.refresh.remove(&t);
        }
        for t in forget_access {
            state.access.remove(&t);
        }
        let expires = after(now, self.config.access_ttl);
        state.refresh.insert(
            new_refresh.clone(),
            Refresh {
                grant: id,
                spent: false,
            },
        );
        state
            .access
            .insert(new_access.clone(), Access { grant: id, expires });
        Ok(token_answer(
            &new_access,
            &new_refresh,
            expires.duration_since(now),
        ))
    }

    /// The agent behind a bearer token, if it is live and Halo has not ended the sign-in.
    pub fn principal(&self, token: &str) -> Option<AgentPrincipal> {
        let now = self.clock.now();
        let mut state = self.state.lock();
        let a = state.access.get(token)?;
        if a.expires <= now {
            return None;
        }
        let id = a.grant;
        let g = state.grants.get_mut(&id)?;
        if g.halo.agent_tokens().is_some_and(|t| t.ended()) {
            state.revoke(id);
            return None;
        }
        g.last_used = now;
        Some(AgentPrincipal {
            key: format!("agent:{}@{}", g.agent.id, g.client_id),
            halo: g.halo.clone(),
        })
    }

    /// Registered clients and live grants (for status and tests).
    pub fn counts(&self) -> (usize, usize) {
        let s = self.state.lock();
        (s.clients.len(), s.grants.len())
    }

    #[cfg(test)]
    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// A client id naming a Client ID Metadata Document: an https URL with a path, no fragment,
/// no credentials, no dot segments.
fn is_document_url(client_id: &str) -> bool {
    if !client_id.starts_with("https://") || client_id.len() > 2000 {
        return false;
    }
    let Ok(u) = reqwest::Url::parse(client_id) else {
        return false;
    };
    // The parser removes dot segments: a URL that changed was not in normal form.
    u.as_str() == client_id
        && u.host_str().is_some()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none()
        && u.path() != "/"
}

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// documentation, multicast or otherwise reserved): the only places a metadata document may be
/// fetched from, so a client id cannot make the server reach inside its own network.
fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

/// Fetches a Client ID Metadata Document with the limits the module docs describe.
async fn fetch_document(url: String) -> Result<Value, String> {
    let parsed = reqwest::Url::parse(&url).map_err(|_| "its URL is not valid".to_owned())?;
    let host = parsed
        .host_str()
        .ok_or_else(|| "its URL has no host".to_owned())?
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addrs: Vec<std::net::SocketAddr> =
        tokio::time::timeout(DOCUMENT_TIMEOUT, tokio::net::lookup_host((lookup, port)))
            .await
            .map_err(|_| "its host did not resolve in time".to_owned())?
            .map_err(|_| "its host does not resolve".to_owned())?
            .collect();
    let Some(first) = addrs.first().copied() else {
        return Err("its host does not resolve".into());
    };
    if !addrs.iter().all(|a| is_public(a.ip())) {
        return Err("its host is not on the public internet".into());
    }
    crate::halo::install_crypto();
    // Pinned to the address just checked: a second lookup could answer differently.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DOCUMENT_TIMEOUT)
        .resolve(&host, first)
        .build()
        .map_err(|_| "it could not be fetched".to_owned())?;
    let mut response = http
        .get(parsed)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|_| "it could not be fetched".to_owned())?;
    if !response.status().is_success() {
        return Err(format!(
            "fetching it answered {}",
            response.status().as_u16()
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "it could not be fetched".to_owned())?
    {
        if body.len() + chunk.len() > DOCUMENT_MAX_BYTES {
            return Err("it is larger than 16 KB".into());
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err("it is not a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REDIRECT: &str = "http://127.0.0.1:9/cb";

    fn store() -> Arc<HaloSignIn> {
        let mut halo = crate::halo::HaloConfig {
            base_url: "http://127.0.0.1:9".into(),
            auth_url: "http://127.0.0.1:9/auth".into(),
            client_id: "signin-app".into(),
            client_secret: crate::secret::Secret::new(""),
            tenant: Some("acme".into()),
            scope: "all".into(),
            timeout: Duration::from_secs(1),
            resilience: Default::default(),
            asset_fields: Default::default(),
        };
        halo.resilience.max_retries = 0;
        HaloSignIn::new(SignInConfig::default(), halo).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn register(s: &HaloSignIn, from: &str) -> String {
        let r = s
            .register(&json!({"redirect_uris": [REDIRECT]}), ip(from))
            .unwrap();
        assert!(r.get("client_secret").is_none());
        r["client_id"].as_str().unwrap().to_owned()
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    async fn authorize(
        s: &HaloSignIn,
        client: &str,
        redirect: &str,
        pkce: bool,
    ) -> Result<String, OAuthError> {
        let challenge = s256("unit-verifier-0123456789-abcdefghijklmnopqrstuvwxyz");
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", redirect),
            ("state", "st"),
        ];
        if pkce {
            p.push(("code_challenge", &challenge));
            p.push(("code_challenge_method", "S256"));
        }
        s.authorize(&params(&p), "https://mcp.example.com").await
    }

    #[test]
    fn registration_is_for_public_clients_and_capped_per_source() {
        let s = store();
        let refused = s.register(
            &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"}),
            ip("192.0.2.1"),
        );
        assert_eq!(refused.unwrap_err().error, "invalid_client_metadata");
        for _ in 0..30 {
            register(&s, "192.0.2.1");
        }
        register(&s, "192.0.2.2");
        assert_eq!(s.counts().0, 21, "20 from one source, 1 from another");
    }

    #[tokio::test]
    async fn authorize_sends_the_browser_to_halo_with_pkce_of_its_own() {
        let s = store();
        let client = register(&s, "192.0.2.1");
        // Redirect URIs match exactly; a mismatch is shown, not redirected.
        let e = authorize(&s, &client, "http://127.0.0.1:9/cb2", true)
            .await
            .unwrap_err();
        assert_eq!(e.error, "invalid_request");
        assert_eq!(
            authorize(&s, "nobody", REDIRECT, true)
                .await
                .unwrap_err()
                .error,
            "invalid_client"
        );
        // No PKCE: the error goes back to the (trusted) redirect URI.
        let back = authorize(&s, &client, REDIRECT, false).await.unwrap();
        assert!(back.starts_with(REDIRECT) && back.contains("error=invalid_request"));
        let to_halo = authorize(&s, &client, REDIRECT, true).await.unwrap();
        let url = reqwest::Url::parse(&to_halo).unwrap();
        assert_eq!(url.path(), "/auth/authorize");
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "signin-app");
        assert_eq!(
            q["redirect_uri"],
            "https://mcp.example.com/oauth/halo/callback"
        );
        assert_eq!(q["scope"], "all offline_access");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["tenant"], "acme");
        // The client's own challenge and state never go to Halo.
        assert_ne!(q["state"], "st");
        assert_ne!(
            q["code_challenge"],
            s256("unit-verifier-0123456789-abcdefghijklmnopqrstuvwxyz")
        );
    }

    #[tokio::test]
    async fn a_sign_in_left_at_halo_expires_and_its_state_works_once() {
        let s = store();
        let client = register(&s, "192.0.2.1");
        let to_halo = authorize(&s, &client, REDIRECT, true).await.unwrap();
        let state = reqwest::Url::parse(&to_halo)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        // Halo said no: the client hears access_denied, with its own state.
        let back = s
            .callback(&params(&[("state", &state), ("error", "access_denied")]))
            .await
            .unwrap();
        assert!(back.starts_with(REDIRECT) && back.contains("error=access_denied"));
        assert!(back.contains("state=st"));
        // The state was used up.
        assert!(
            s.callback(&params(&[("state", &state), ("code", "x")]))
                .await
                .is_err()
        );
        // A sign-in left too long is forgotten.
        let to_halo = authorize(&s, &client, REDIRECT, true).await.unwrap();
        let state = reqwest::Url::parse(&to_halo)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        s.advance(SignInConfig::default().pending_ttl + Duration::from_secs(2));
        let e = s
            .callback(&params(&[("state", &state), ("code", "x")]))
            .await
            .unwrap_err();
        assert!(e.description.contains("unknown or expired"));
    }

    #[tokio::test]
    async fn client_id_metadata_documents_are_checked() {
        const URL: &str = "https://client.example.com/oauth/metadata.json";
        let mut s = store();
        let fetched = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = fetched.clone();
        Arc::get_mut(&mut s).unwrap().fetch = Arc::new(move |url: String| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                match url.as_str() {
                    URL => Ok(json!({"client_id": URL, "redirect_uris": [REDIRECT]})),
                    "https://client.example.com/liar.json" => {
                        Ok(json!({"client_id": URL, "redirect_uris": [REDIRECT]}))
                    }
                    "https://client.example.com/secret.json" => Ok(json!({
                        "client_id": "https://client.example.com/secret.json",
                        "redirect_uris": [REDIRECT],
                        "token_endpoint_auth_method": "client_secret_basic",
                    })),
                    _ => Err("it could not be fetched".to_owned()),
                }
            })
        });
        let to_halo = authorize(&s, URL, REDIRECT, true).await.unwrap();
        assert!(to_halo.contains("/auth/authorize?"));
        // Cached: a second sign-in does not fetch again.
        authorize(&s, URL, REDIRECT, true).await.unwrap();
        assert_eq!(fetched.load(std::sync::atomic::Ordering::SeqCst), 1);
        let e = authorize(&s, URL, "http://127.0.0.1:9/other", true)
            .await
            .unwrap_err();
        assert_eq!(e.error, "invalid_request");
        for bad in [
            "https://client.example.com/liar.json",
            "https://client.example.com/secret.json",
            "https://client.example.com/missing.json",
        ] {
            let e = authorize(&s, bad, REDIRECT, true).await.unwrap_err();
            assert_eq!(e.error, "invalid_client", "{bad}");
        }
        // Not a document URL: an ordinary (unknown) client id, never fetched.
        for id in [
            "http://client.example.com/m.json",
            "https://client.example.com/",
            "https://client.example.com/a/../m.json",
            "https://user:pw@client.example.com/m.json",
        ] {
            assert!(!is_document_url(id), "{id}");
        }
        assert_eq!(fetched.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[test]
    fn documents_are_fetched_only_from_public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_private_document_host_is_refused_before_any_request() {
        let e = fetch_document("https://127.0.0.1/m.json".into())
            .await
            .unwrap_err();
        assert!(e.contains("public internet"), "{e}");
    }
}
