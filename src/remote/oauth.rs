//! The OAuth proxy: OAuth 2.1 for MCP clients in front of Halo's client-credentials grant.
//!
//! An MCP client (a claude.ai connector, say) is given the Halo API application's client id and
//! secret as its OAuth client credentials. It runs the standard Authorization Code + PKCE flow
//! against this server: `/authorize` approves at once (there is no user to ask: the credentials
//! are the authority) and redirects with a code; `/token` checks the code, the redirect URI and
//! the PKCE verifier, then exchanges the client id and secret with Halo's client-credentials
//! grant. Only if Halo accepts them does the client get an access token of ours, which maps to a
//! Halo client built with those credentials. The credentials are kept for a limited time (24 h by
//! default), so refresh tokens can keep working: in memory, or, when replicas share state, in
//! Redis encrypted with `HALO_MCP_STATE_KEY` (see `oauth_shared.rs`); never on disk, never
//! logged.
//!
//! Rules kept exactly:
//! - codes are single-use and live 60 s; a code presented twice revokes the whole grant issued
//!   from it (its access and refresh tokens, rotated ones included), and if the first exchange
//!   is still being checked with Halo, that exchange issues nothing;
//! - redirect URIs must match a registered one exactly: clients registered through RFC 7591
//!   registration have theirs; any client may use the operator's allowed list
//!   (`MCP_OAUTH_REDIRECT_URIS`);
//! - PKCE is S256 only. A client that sends no challenge gets one made for it (documented): the
//!   server keeps the verifier, so such a client's code is still bound to the flow that asked.
//! - refresh tokens rotate: each works once, and only for the client it was issued to,
//!   authenticated with the secret its grant was proved with. A failed attempt (no or wrong
//!   credentials, another client, an unknown token) changes nothing; the authenticated client
//!   presenting a rotated token again revokes the grant (a copy is in other hands).
//! - everything kept (registrations, codes, grants, tokens, proofs) has a lifetime and a cap,
//!   with the oldest or least valuable dropped first (see `OAuthConfig`), so no flood can grow
//!   memory or lock a legitimate client out.
//!
//! Registration extension: a registration request may carry `client_id`, naming the Halo
//! application it will authenticate as; its redirect URIs are then registered for that id.
//! Registration is anonymous, so this only ever adds: each registration is a record of its own
//! and never replaces, blocks or narrows another registration of the same id (whoever gets a
//! code at an added URI still needs the application's secret to exchange it). Without
//! `client_id` a random id is issued, and such a client must still present Halo credentials at
//! `/token` — this server has no other accounts.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use ring::rand::SystemRandom;
use serde_json::Value;

use super::authz::{
    Clock, after, client_name, digest, invalid_grant, make_room, pkce_holds, registered_redirects,
    registration_response, token_answer,
};
pub use super::authz::{OAuthError, s256, source_of};
#[cfg(test)]
use super::authz::{acceptable_redirect, valid_verifier};

use crate::{
    halo::{HaloClient, HaloConfig, HaloError},
    secret::Secret,
};

/// The same store kept in Redis (`HALO_MCP_STATE=redis://…`).
#[path = "oauth_shared.rs"]
pub(crate) mod shared;

/// Access tokens kept per grant: the newest and the one before it, so requests already in flight
/// when a client refreshes still pass, while a client refreshing in a loop cannot pile them up.
const ACCESS_PER_GRANT: usize = 2;
/// Rotated refresh tokens remembered per grant, to recognise one presented again.
const SPENT_REFRESH_PER_GRANT: usize = 16;
/// Expired entries are swept at most this often: a sweep scans everything, and caps are enforced
/// on every insert anyway, so memory stays bounded between sweeps.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Settings of the proxy.
///
/// Everything the proxy keeps has a lifetime and a cap; at a cap the least valuable entry of the
/// same kind is dropped (expired first, then the one unused longest), so a flood only ever pushes
/// out its own kind and never makes a new legitimate request fail.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// How long an authorization code lives.
    pub code_ttl: Duration,
    /// How long an access token lives.
    pub access_ttl: Duration,
    /// How long Halo credentials (and so refresh tokens) are kept.
    pub credential_ttl: Duration,
    /// Redirect URIs allowed for clients that did not register.
    pub redirect_uris: Vec<String>,
    /// Registrations kept at most, over all sources.
    pub max_clients: usize,
    /// Registrations kept at most per source (an IPv4 address, or an IPv6 /64).
    pub max_clients_per_source: usize,
    /// A registration that has led to tokens is dropped after this long unused.
    pub registration_ttl: Duration,
    /// A registration that never led to tokens is dropped after this long unused.
    pub unproven_registration_ttl: Duration,
    /// Authorization codes waiting to be exchanged, at most.
    pub max_codes: usize,
    /// Grants (what one code exchange gave: credentials and tokens) kept at most.
    pub max_grants: usize,
    /// Grants kept at most per client id.
    pub max_grants_per_client: usize,
}

impl Default for OAuthConfig {
    fn default() -> OAuthConfig {
        OAuthConfig {
            code_ttl: Duration::from_secs(60),
            access_ttl: Duration::from_secs(3600),
            credential_ttl: Duration::from_secs(24 * 3600),
            redirect_uris: vec![
                "https://claude.ai/api/mcp/auth_callback".into(),
                "https://claude.com/api/mcp/auth_callback".into(),
            ],
            max_clients: 1000,
            max_clients_per_source: 20,
            registration_ttl: Duration::from_secs(30 * 24 * 3600),
            unproven_registration_ttl: Duration::from_secs(24 * 3600),
            max_codes: 10_000,
            max_grants: 10_000,
            max_grants_per_client: 100,
        }
    }
}

/// One registration: redirect URIs for a client id, from one source.
struct Registration {
    client_id: String,
    redirect_uris: Vec<String>,
    source: IpAddr,
    last_used: Instant,
    /// A code sent to it was exchanged for tokens, so whoever uses it holds real Halo
    /// credentials: such registrations live longer and are dropped last.
    proven: bool,
}

impl Registration {
    fn ttl(&self, config: &OAuthConfig) -> Duration {
        if self.proven {
            config.registration_ttl
        } else {
            config.unproven_registration_ttl
        }
    }
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    /// The verifier, when the server made the challenge (the client sent none).
    injected_verifier: Option<String>,
    created: Instant,
    /// The registration whose redirect URI it went to (none: the operator's allowed list).
    registration: Option<String>,
}

/// A code presented once already.
struct UsedCode {
    at: Instant,
    /// The grant its exchange created, if it did.
    grant: Option<u64>,
    /// Presented again while the first exchange was still checking the credentials with Halo:
    /// that exchange must then issue nothing.
    replayed: bool,
}

/// What one code exchange granted: the proved credentials and every token that speaks for them,
/// so a replayed code or refresh token can revoke all of it at once.
struct Grant {
    client_id: String,
    halo: HaloClient,
    /// SHA-256 of the secret the credentials were proved with: refreshes must present it.
    secret_digest: Vec<u8>,
    expires: Instant,
    last_used: Instant,
    /// The code it was issued for (its marker points back here).
    code: String,
    access: VecDeque<String>,
    refresh: String,
    spent: VecDeque<String>,
}

struct AccessToken {
    grant: u64,
    expires: Instant,
}

struct RefreshToken {
    grant: u64,
    /// Rotated already: presenting it again (authenticated) revokes the grant.
    spent: bool,
}

/// Credentials a client proved with Halo recently, so a new exchange need not ask Halo again.
struct Held {
    halo: HaloClient,
    secret_digest: Vec<u8>,
    expires: Instant,
}

/// What a registration request asks for, once checked. Memory and Redis register alike, so
/// they check the request in one place and refuse alike.
struct Asked {
    uris: Vec<String>,
    method: String,
    client_name: Option<String>,
    /// The Halo application's client id, when the client names it (else one is made up).
    client_id: Option<String>,
}

fn asked(request: &Value) -> Result<Asked, OAuthError> {
    let bad = |why: &str| OAuthError::new(400, "invalid_client_metadata", why);
    let uris = registered_redirects(request)?;
    let method = request
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_post")
        .to_owned();
    if !["client_secret_post", "client_secret_basic", "none"].contains(&method.as_str()) {
        return Err(bad(
            "token_endpoint_auth_method must be client_secret_post, client_secret_basic or none",
        ));
    }
    let client_name = client_name(request);
    let client_id = match request.get("client_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control) => {
            Some(id.to_owned())
        }
        Some(_) => return Err(bad("client_id must be the Halo application's client id")),
        None => None,
    };
    Ok(Asked {
        uris,
        method,
        client_name,
        client_id,
    })
}

/// Everything the proxy keeps, under one lock so each step (consume a code, rotate a token,
/// revoke a grant) is atomic.
#[derive(Default)]
struct State {
    /// Registrations by a key of their own (a client id may have several).
    clients: HashMap<String, Registration>,
    codes: HashMap<String, Code>,
    used_codes: HashMap<String, UsedCode>,
    grants: HashMap<u64, Grant>,
    next_grant: u64,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    held: HashMap<String, Held>,
    swept: Option<Instant>,
}

impl State {
    /// Drops a grant and every token it issued.
    fn revoke(&mut self, id: u64) {
        let Some(grant) = self.grants.remove(&id) else {
            return;
        };
        // The code's marker stays a while (as a grantless one) so a later replay is still
        // answered "already used".
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

    /// Drops registrations unused past their lifetime.
    fn sweep_clients(&mut self, now: Instant, config: &OAuthConfig) {
        self.clients
            .retain(|_, r| now.duration_since(r.last_used) < r.ttl(config));
    }

    /// Drops what has expired; at most every `SWEEP_EVERY`.
    fn sweep(&mut self, now: Instant, config: &OAuthConfig) {
        if self
            .swept
            .is_some_and(|t| now.duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        let code_ttl = config.code_ttl;
        self.codes
            .retain(|_, c| now.duration_since(c.created) < code_ttl);
        // A marker without a grant only has to outlive its code (to answer a replay); one with a
        // grant lives as long as the grant, to revoke it.
        let keep = code_ttl.saturating_mul(10);
        self.used_codes
            .retain(|_, u| u.grant.is_some() || now.duration_since(u.at) < keep);
        let expired: Vec<u64> = self
            .grants
            .iter()
            .filter(|(_, g)| g.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
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
        self.held.retain(|_, h| h.expires > now);
        self.sweep_clients(now, config);
    }

    /// Drops one registration among those `pick` selects: unproven before proven, then the one
    /// unused longest. False if there was none.
    fn evict_client(&mut self, pick: impl Fn(&Registration) -> bool) -> bool {
        let victim = self
            .clients
            .iter()
            .filter(|(_, r)| pick(r))
            .min_by_key(|(_, r)| (r.proven, r.last_used))
            .map(|(k, _)| k.clone());
        victim.is_some_and(|k| self.clients.remove(&k).is_some())
    }

    /// Revokes one grant among those `pick` selects: the one unused longest.
    fn evict_grant(&mut self, pick: impl Fn(&Grant) -> bool) -> bool {
        let victim = self
            .grants
            .iter()
            .filter(|(_, g)| pick(g))
            .min_by_key(|(_, g)| g.last_used)
            .map(|(id, _)| *id);
        match victim {
            Some(id) => {
                self.revoke(id);
                true
            }
            None => false,
        }
    }

    /// Records that `code` was presented, keeping the markers bounded: those without a grant
    /// (failed or in-flight exchanges, which anyone can cause) go first, oldest first.
    fn mark_used(&mut self, code: &str, now: Instant, config: &OAuthConfig) {
        let cap = config
            .max_codes
            .max(1)
            .saturating_add(config.max_grants.max(1));
        while self.used_codes.len() >= cap {
            let victim = self
                .used_codes
                .iter()
                .min_by_key(|(_, u)| (u.grant.is_some(), u.at))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    self.used_codes.remove(&k);
                }
                None => break,
            }
        }
        self.used_codes.insert(
            code.to_owned(),
            UsedCode {
                at: now,
                grant: None,
                replayed: false,
            },
        );
    }
}

/// What `/authorize` approved, before it is kept (in memory or in shared state).
#[derive(serde::Serialize, serde::Deserialize)]
struct Approved {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    injected_verifier: Option<String>,
}

enum Approval {
    /// An error sent back to the client's redirect URI.
    Back(String),
    /// A new code, and where to send it.
    Code {
        location: String,
        code: String,
        approved: Approved,
    },
}

/// `client_id` and `redirect_uri` of an `/authorize` request, both required.
fn client_and_redirect(params: &HashMap<String, String>) -> Result<(&str, &str), OAuthError> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = get("client_id")
        .ok_or_else(|| OAuthError::new(400, "invalid_request", "client_id is required"))?;
    let redirect_uri = get("redirect_uri")
        .ok_or_else(|| OAuthError::new(400, "invalid_request", "redirect_uri is required"))?;
    Ok((client_id, redirect_uri))
}

/// `/authorize` for a redirect URI no registration of the client lists (and the operator does
/// not allow): `known` says whether the client id is registered at all.
fn unregistered(known: bool) -> OAuthError {
    if known {
        OAuthError::new(
            400,
            "invalid_request",
            "redirect_uri does not match the client's registered redirect URIs",
        )
    } else {
        OAuthError::new(
            400,
            "invalid_client",
            "unknown client: register it first (POST /register), or use a redirect \
             URI this server allows",
        )
    }
}

/// The checks of a code exchange once the code was found and taken: the client it was issued
/// to, the redirect URI, PKCE, and a secret to prove. Returns the secret.
fn check_exchange(
    form: &HashMap<String, String>,
    client_id: &str,
    secret: Option<String>,
    issued_to: &str,
    redirect_uri: &str,
    challenge: &str,
    injected_verifier: Option<&str>,
) -> Result<String, OAuthError> {
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if issued_to != client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if get("redirect_uri") != Some(redirect_uri) {
        return Err(invalid_grant(
            "redirect_uri does not match the one used to authorize",
        ));
    }
    let verifier = match (get("code_verifier"), injected_verifier) {
        (Some(v), _) => v,
        (None, Some(injected)) => injected,
        (None, None) => return Err(invalid_grant("code_verifier is required")),
    };
    if !pkce_holds(verifier, challenge) {
        return Err(invalid_grant("PKCE verification failed"));
    }
    secret.ok_or_else(|| {
        OAuthError::new(
            401,
            "invalid_client",
            "a client secret is required: the Halo API application's secret",
        )
    })
}

/// A bearer token resolved to the Halo client it speaks for.
#[derive(Clone)]
pub struct Principal {
    /// Which OAuth client (the Halo application) it is.
    pub client_id: String,
    pub halo: HaloClient,
}

/// The proxy's state: in memory, or in Redis (`shared`).
pub struct OAuthStore {
    config: OAuthConfig,
    /// Halo connection settings without credentials; each client's credentials fill them in.
    template: HaloConfig,
    rng: SystemRandom,
    clock: Clock,
    state: Mutex<State>,
    /// Where registrations, codes, grants and tokens live when replicas share state (Redis);
    /// `None` keeps them in `state`. The in-memory `held` proofs are used either way: they only
    /// spare this replica a round trip to Halo.
    shared: Option<shared::Shared>,
}

impl OAuthStore {
    pub fn new(config: OAuthConfig, template: HaloConfig) -> Arc<OAuthStore> {
        Arc::new(OAuthStore {
            config,
            template,
            rng: SystemRandom::new(),
            clock: Clock::default(),
            state: Mutex::new(State::default()),
            shared: None,
        })
    }

    /// A store whose registrations, codes, grants and tokens live in Redis, so any replica
    /// on the same Redis continues a flow another began and honours its tokens. The Halo
    /// client secret each grant was proved with is sealed with `sealer` before it is stored.
    pub fn shared(
        config: OAuthConfig,
        template: HaloConfig,
        redis: Arc<crate::state::RedisState>,
        sealer: super::sealed::Sealer,
    ) -> Arc<OAuthStore> {
        Arc::new(OAuthStore {
            config,
            template,
            rng: SystemRandom::new(),
            clock: Clock::default(),
            state: Mutex::new(State::default()),
            shared: Some(shared::Shared { redis, sealer }),
        })
    }

    /// The store for `state`: in memory, or in Redis with the secrets sealed by the key in
    /// `key` (the value of `HALO_MCP_STATE_KEY`), which Redis makes required. The error is one
    /// line for the operator and never shows the key.
    pub fn for_state(
        config: OAuthConfig,
        template: HaloConfig,
        state: &crate::state::SharedState,
        key: Option<&str>,
    ) -> Result<Arc<OAuthStore>, String> {
        let Some(redis) = state.redis() else {
            return Ok(OAuthStore::new(config, template));
        };
        let sealer = OAuthStore::sealer(key)?;
        Ok(OAuthStore::shared(config, template, redis.clone(), sealer))
    }

    /// The sealing key from the value of `HALO_MCP_STATE_KEY`, which a store in Redis requires.
    /// Checked again at start-up, before anything is served, so a bad key stops the process with
    /// this one line.
    pub fn sealer(key: Option<&str>) -> Result<super::sealed::Sealer, String> {
        let key = key.filter(|k| !k.trim().is_empty()).ok_or_else(|| {
            format!(
                "{var} is required with HALO_MCP_STATE=redis and MCP_AUTH=oauth or halo: the \
                 Halo credentials and tokens kept in Redis are encrypted with it (32 random \
                 bytes as hex or base64: `openssl rand -base64 32`, the same on every replica)",
                var = super::sealed::STATE_KEY_VAR
            )
        })?;
        super::sealed::Sealer::from_setting(key)
    }

    /// RFC 7591 registration, wherever the store keeps it.
    pub async fn register_any(&self, request: &Value, source: IpAddr) -> Result<Value, OAuthError> {
        match &self.shared {
            Some(shared) => self.shared_register(shared, request, source).await,
            None => self.register(request, source),
        }
    }

    /// `/authorize`, wherever the store keeps its state.
    pub async fn authorize_any(
        &self,
        params: &HashMap<String, String>,
    ) -> Result<String, OAuthError> {
        match &self.shared {
            Some(shared) => self.shared_authorize(shared, params).await,
            None => self.authorize(params),
        }
    }

    /// The principal behind a bearer token, wherever the store keeps its state. An error means
    /// the shared state could not be asked: the caller refuses the request (503) rather than
    /// guess.
    pub async fn resolve(&self, token: &str) -> Result<Option<Principal>, OAuthError> {
        match &self.shared {
            Some(shared) => self.shared_principal(shared, token).await,
            None => Ok(self.principal(token)),
        }
    }

    fn random(&self) -> Result<String, OAuthError> {
        super::authz::random(&self.rng)
    }

    /// RFC 7591 registration, from `source` (the caller's address).
    ///
    /// Registration is anonymous, so it can only ever add: a registration naming a client id
    /// gets a record of its own, and never replaces, blocks or narrows another registration of
    /// that id (nor the operator's allowed redirect URIs). Registrations are capped per source
    /// and overall; at a cap the source's (then anyone's) least valuable one is dropped.
    pub fn register(&self, request: &Value, source: IpAddr) -> Result<Value, OAuthError> {
        let Asked {
            uris,
            method,
            client_name,
            client_id: named,
        } = asked(request)?;
        let source = source_of(source);
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.sweep(now, &self.config);
        // The same registration again from the same place refreshes the one kept.
        let same = named.as_ref().and_then(|id| {
            state
                .clients
                .iter()
                .find(|(_, r)| &r.client_id == id && r.redirect_uris == uris && r.source == source)
                .map(|(k, _)| k.clone())
        });
        let client_id = match (same, named) {
            (Some(key), Some(id)) => {
                if let Some(r) = state.clients.get_mut(&key) {
                    r.last_used = now;
                }
                id
            }
            (_, named) => {
                let from_source =
                    |s: &State| s.clients.values().filter(|r| r.source == source).count();
                let per_source = self.config.max_clients_per_source.max(1);
                let overall = self.config.max_clients.max(1);
                if from_source(&state) >= per_source || state.clients.len() >= overall {
                    // Expired registrations go before live ones are evicted.
                    state.sweep_clients(now, &self.config);
                }
                while from_source(&state) >= per_source
                    && state.evict_client(|r| r.source == source)
                {}
                while state.clients.len() >= overall && state.evict_client(|_| true) {}
                let (key, client_id) = match named {
                    Some(id) => (format!("reg-{}", self.random()?), id),
                    None => {
                        let id = format!("hmcp-{}", self.random()?);
                        (id.clone(), id)
                    }
                };
                state.clients.insert(
                    key,
                    Registration {
                        client_id: client_id.clone(),
                        redirect_uris: uris.clone(),
                        source,
                        last_used: now,
                        proven: false,
                    },
                );
                client_id
            }
        };
        Ok(registration_response(
            &client_id,
            &uris,
            client_name.as_deref(),
            &method,
        ))
    }

    /// `/authorize`: checks the client and redirect URI (errors here are shown, never
    /// redirected), then the request (errors here go back to the client's redirect URI), and
    /// approves. Returns the URL to redirect to.
    pub fn authorize(&self, params: &HashMap<String, String>) -> Result<String, OAuthError> {
        let (client_id, redirect_uri) = client_and_redirect(params)?;
        let now = self.clock.now();
        let registration = {
            let mut state = self.state.lock();
            state.sweep(now, &self.config);
            // Any registration of this id that lists the URI will do; the proven, most recently
            // used one is credited with the flow.
            let matching = state
                .clients
                .iter()
                .filter(|(_, r)| {
                    r.client_id == client_id && r.redirect_uris.iter().any(|u| u == redirect_uri)
                })
                .max_by_key(|(_, r)| (r.proven, r.last_used))
                .map(|(k, _)| k.clone());
            match matching {
                Some(key) => {
                    if let Some(r) = state.clients.get_mut(&key) {
                        r.last_used = now;
                    }
                    Some(key)
                }
                None if self.config.redirect_uris.iter().any(|u| u == redirect_uri) => None,
                None => {
                    let known = state.clients.values().any(|r| r.client_id == client_id);
                    return Err(unregistered(known));
                }
            }
        };
        let (location, code, approved) = match self.approve(params)? {
            Approval::Back(location) => return Ok(location),
            Approval::Code {
                location,
                code,
                approved,
            } => (location, code, approved),
        };
        let mut codes = self.state.lock();
        // Anyone may ask for codes; past the cap the oldest waiting code goes (a legitimate
        // client exchanges its code within seconds).
        make_room(&mut codes.codes, self.config.max_codes, |c| c.created);
        codes.codes.insert(
            code,
            Code {
                client_id: approved.client_id,
                redirect_uri: approved.redirect_uri,
                challenge: approved.challenge,
                injected_verifier: approved.injected_verifier,
                created: now,
                registration,
            },
        );
        Ok(location)
    }

    /// The part of `/authorize` after the client and redirect URI were found acceptable (in
    /// memory or in shared state): the request's checks, and a new code. Errors from here on
    /// go back to the (now trusted) redirect URI.
    fn approve(&self, params: &HashMap<String, String>) -> Result<Approval, OAuthError> {
        let (client_id, redirect_uri) = client_and_redirect(params)?;
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let state = get("state");
        let base = reqwest::Url::parse(redirect_uri)
            .map_err(|_| OAuthError::new(400, "invalid_request", "redirect_uri is not a URL"))?;
        let back = |error: &str, description: &str| -> Result<Approval, OAuthError> {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("error", error);
                q.append_pair("error_description", description);
                if let Some(s) = state {
                    q.append_pair("state", s);
                }
            }
            Ok(Approval::Back(url.to_string()))
        };
        if get("response_type") != Some("code") {
            return back("unsupported_response_type", "only response_type=code");
        }
        let (challenge, injected_verifier) =
            match (get("code_challenge"), get("code_challenge_method")) {
                (Some(c), Some("S256")) if c.len() == 43 => (c.to_owned(), None),
                (Some(_), Some("S256")) => {
                    return back(
                        "invalid_request",
                        "code_challenge must be a base64url SHA-256",
                    );
                }
                (Some(_), _) => {
                    return back("invalid_request", "code_challenge_method must be S256");
                }
                (None, _) => {
                    // The client sent no PKCE: make it here, keep the verifier (documented).
                    let verifier = self.random()?;
                    (s256(&verifier), Some(verifier))
                }
            };
        let code = self.random()?;
        let mut url = base;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("code", &code);
            if let Some(s) = state {
                q.append_pair("state", s);
            }
        }
        Ok(Approval::Code {
            location: url.to_string(),
            code,
            approved: Approved {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                challenge,
                injected_verifier,
            },
        })
    }

    /// Creates a grant for proved credentials and issues its first tokens.
    fn grant(
        &self,
        state: &mut State,
        now: Instant,
        code: &str,
        (client_id, halo, secret_digest, expires): (String, HaloClient, Vec<u8>, Instant),
    ) -> Result<Value, OAuthError> {
        let access = self.random()?;
        let refresh = self.random()?;
        // Room first: this client's own grants, then anyone's, least recently used first. Only
        // holders of real credentials can create grants, so only they can push others out.
        let per_client = self.config.max_grants_per_client.max(1);
        let of_client = |s: &State| {
            s.grants
                .values()
                .filter(|g| g.client_id == client_id)
                .count()
        };
        while of_client(state) >= per_client && state.evict_grant(|g| g.client_id == client_id) {}
        while state.grants.len() >= self.config.max_grants.max(1) && state.evict_grant(|_| true) {}
        let id = state.next_grant;
        state.next_grant = state.next_grant.wrapping_add(1);
        let access_expires = after(now, self.config.access_ttl).min(expires);
        state.access.insert(
            access.clone(),
            AccessToken {
                grant: id,
                expires: access_expires,
            },
        );
        state.refresh.insert(
            refresh.clone(),
            RefreshToken {
                grant: id,
                spent: false,
            },
        );
        state.grants.insert(
            id,
            Grant {
                client_id,
                halo,
                secret_digest,
                expires,
                last_used: now,
                code: code.to_owned(),
                access: VecDeque::from([access.clone()]),
                refresh: refresh.clone(),
                spent: VecDeque::new(),
            },
        );
        let marker = state.used_codes.entry(code.to_owned()).or_insert(UsedCode {
            at: now,
            grant: None,
            replayed: false,
        });
        marker.grant = Some(id);
        Ok(token_answer(
            &access,
            &refresh,
            access_expires.duration_since(now),
        ))
    }

    /// Proves the credentials with Halo (or reuses a recent proof) and keeps them. Returns the
    /// Halo client, the secret's digest and until when the credentials may be kept.
    async fn prove(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<(HaloClient, Vec<u8>, Instant), OAuthError> {
        let wanted = digest(secret);
        {
            let state = self.state.lock();
            if let Some(h) = state.held.get(client_id)
                && h.expires > self.clock.now()
                && crate::secret::same_bytes(&h.secret_digest, &wanted)
            {
                return Ok((h.halo.clone(), wanted, h.expires));
            }
        }
        let mut cfg = self.template.clone();
        cfg.client_id = client_id.to_owned();
        cfg.client_secret = Secret::new(secret);
        let halo = HaloClient::new(cfg)
            .map_err(|e| OAuthError::new(500, "server_error", format!("cannot reach Halo: {e}")))?;
        match halo.check_credentials().await {
            Ok(()) => {}
            Err(HaloError::Auth { .. }) => {
                return Err(OAuthError::new(
                    401,
                    "invalid_client",
                    "Halo refused this client id and secret: use the Halo API application's \
                     credentials (Client ID and Secret (Services))",
                ));
            }
            Err(HaloError::Scope { scope, .. }) => {
                return Err(OAuthError::new(
                    400,
                    "invalid_scope",
                    format!(
                        "Halo refused the scope `{scope}` for this application: give the Halo \
                         API application that permission (or `all`), or ask the operator to set \
                         HALO_SCOPE"
                    ),
                ));
            }
            Err(e) => {
                return Err(OAuthError::new(
                    503,
                    "temporarily_unavailable",
                    format!("Halo could not check the credentials: {e}"),
                ));
            }
        }
        let now = self.clock.now();
        let expires = after(now, self.config.credential_ttl);
        let mut state = self.state.lock();
        // Only credentials Halo accepted get here, one entry per application; the cap is a
        // backstop.
        // A client already held is replaced in place, so only a new one needs room.
        if !state.held.contains_key(client_id) {
            make_room(&mut state.held, self.config.max_grants, |h| h.expires);
        }
        state.held.insert(
            client_id.to_owned(),
            Held {
                halo: halo.clone(),
                secret_digest: wanted.clone(),
                expires,
            },
        );
        Ok((halo, wanted, expires))
    }

    /// `/token` with `grant_type=authorization_code`.
    pub async fn exchange_code(
        &self,
        form: &HashMap<String, String>,
        client: Option<(String, Option<String>)>,
    ) -> Result<Value, OAuthError> {
        let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let code = get("code")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "code is required"))?;
        let (client_id, secret) = client.ok_or_else(|| {
            OAuthError::new(401, "invalid_client", "client authentication is required")
        })?;
        if let Some(shared) = &self.shared {
            return self
                .shared_exchange(shared, form, code, client_id, secret)
                .await;
        }
        let now = self.clock.now();
        let record = {
            let mut state = self.state.lock();
            state.sweep(now, &self.config);
            match state.codes.remove(code) {
                Some(record) => {
                    state.mark_used(code, now, &self.config);
                    record
                }
                None => {
                    // Used before: someone else may hold it, so revoke everything its first
                    // use got (RFC 6749 §4.1.2), or will get if that exchange is still running.
                    let Some(used) = state.used_codes.get_mut(code) else {
                        return Err(invalid_grant("unknown or expired code"));
                    };
                    used.replayed = true;
                    if let Some(id) = used.grant {
                        state.revoke(id);
                    }
                    return Err(invalid_grant(
                        "this code was already used: the tokens issued for it are revoked",
                    ));
                }
            }
        };
        if now.duration_since(record.created) >= self.config.code_ttl {
            return Err(invalid_grant("the code has expired"));
        }
        let secret = check_exchange(
            form,
            &client_id,
            secret,
            &record.client_id,
            &record.redirect_uri,
            &record.challenge,
            record.injected_verifier.as_deref(),
        )?;
        let (halo, secret_digest, expires) = self.prove(&client_id, &secret).await?;
        let now = self.clock.now();
        let mut state = self.state.lock();
        if state.used_codes.get(code).is_some_and(|u| u.replayed) {
            return Err(invalid_grant(
                "this code was presented twice: no tokens are issued for it",
            ));
        }
        if let Some(key) = &record.registration
            && let Some(r) = state.clients.get_mut(key)
        {
            r.proven = true;
            r.last_used = now;
        }
        self.grant(
            &mut state,
            now,
            code,
            (client_id, halo, secret_digest, expires),
        )
    }

    /// `/token` with `grant_type=refresh_token`: authenticates the client, then rotates the
    /// refresh token.
    ///
    /// Nothing changes unless the caller authenticates as the client the token was issued to,
    /// with the secret its grant was proved with: a stranger's failed attempt cannot spend,
    /// rotate or revoke the holder's token. (Every client here is confidential: a grant only
    /// exists once a Halo secret was proved, so there is no public client to exempt.) An
    /// authenticated client presenting a rotated token again revokes the whole grant: a copy of
    /// it is in other hands.
    pub async fn refresh(
        &self,
        form: &HashMap<String, String>,
        client: Option<(String, Option<String>)>,
    ) -> Result<Value, OAuthError> {
        let token = form
            .get("refresh_token")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "refresh_token is required"))?;
        let (client_id, secret) = client.ok_or_else(|| {
            OAuthError::new(
                401,
                "invalid_client",
                "client authentication is required: the client id and secret the token was \
                 issued to",
            )
        })?;
        if let Some(shared) = &self.shared {
            return self.shared_refresh(shared, token, client_id, secret).await;
        }
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.sweep(now, &self.config);
        let unknown = || invalid_grant("unknown, revoked or expired refresh token");
        let (id, spent) = state
            .refresh
            .get(token)
            .map(|r| (r.grant, r.spent))
            .ok_or_else(unknown)?;
        let grant = state.grants.get(&id).ok_or_else(unknown)?;
        let authentic = grant.client_id == client_id
            && secret
                .as_deref()
                .is_some_and(|s| crate::secret::same_bytes(&grant.secret_digest, &digest(s)));
        if !authentic {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                "client authentication failed: use the client id and secret the token was \
                 issued to",
            ));
        }
        if grant.expires <= now {
            state.revoke(id);
            return Err(invalid_grant("the credentials expired: authorize again"));
        }
        if spent {
            state.revoke(id);
            return Err(invalid_grant(
                "this refresh token was already used: every token of its grant is revoked; \
                 authorize again",
            ));
        }
        let new_access = self.random()?;
        let new_refresh = self.random()?;
        let Some(grant) = state.grants.get_mut(&id) else {
            return Err(unknown());
        };
        let access_expires = after(now, self.config.access_ttl).min(grant.expires);
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
        state.refresh.insert(
            new_refresh.clone(),
            RefreshToken {
                grant: id,
                spent: false,
            },
        );
        state.access.insert(
            new_access.clone(),
            AccessToken {
                grant: id,
                expires: access_expires,
            },
        );
        Ok(token_answer(
            &new_access,
            &new_refresh,
            access_expires.duration_since(now),
        ))
    }

    /// The principal behind a bearer token.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        let now = self.clock.now();
        let state = self.state.lock();
        let a = state.access.get(token)?;
        let g = state.grants.get(&a.grant)?;
        (a.expires > now && g.expires > now).then(|| Principal {
            client_id: g.client_id.clone(),
            halo: g.halo.clone(),
        })
    }

    /// Registered clients (for status and tests).
    pub fn registered(&self) -> usize {
        self.state.lock().clients.len()
    }

    /// Moves the store's clock forward (tests: lifetimes without sleeping).
    #[cfg(test)]
    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// How many of each kind are kept (tests: caps and sweeps).
    #[cfg(test)]
    fn counts(&self) -> Counts {
        let s = self.state.lock();
        Counts {
            clients: s.clients.len(),
            codes: s.codes.len(),
            used_codes: s.used_codes.len(),
            grants: s.grants.len(),
            access: s.access.len(),
            refresh: s.refresh.len(),
            held: s.held.len(),
        }
    }
}

#[cfg(test)]
#[derive(Debug, Default, PartialEq)]
struct Counts {
    clients: usize,
    codes: usize,
    used_codes: usize,
    grants: usize,
    access: usize,
    refresh: usize,
    held: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::sim::{SimConfig, SimTenant, Simulator};

    const VERIFIER: &str = "unit-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    const REDIRECT: &str = "http://127.0.0.1:9/cb";
    const DEMO: (&str, &str) = ("demo-client", "demo-secret");
    const B: (&str, &str) = ("tenant-b", "secret-b-value");

    /// A store in front of a simulator with two applications (demo-client, tenant-b).
    async fn store(config: OAuthConfig) -> (Simulator, Arc<OAuthStore>) {
        let sim = crate::local::simulator(SimConfig {
            extra_tenants: vec![SimTenant {
                client_id: B.0.into(),
                client_secret: B.1.into(),
                tenant: None,
                seed: 2,
                permissions: Default::default(),
            }],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let template = crate::local::halo_config(&sim);
        (sim, OAuthStore::new(config, template))
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn creds((id, secret): (&str, &str)) -> Option<(String, Option<String>)> {
        Some((id.to_owned(), Some(secret.to_owned())))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn code_for(store: &OAuthStore, client_id: &str, redirect: &str) -> String {
        let location = store
            .authorize(&map(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("code_challenge", &s256(VERIFIER)),
                ("code_challenge_method", "S256"),
            ]))
            .unwrap();
        let url = reqwest::Url::parse(&location).unwrap();
        let code = url.query_pairs().find(|(k, _)| k == "code");
        code.unwrap_or_else(|| panic!("no code in {location}"))
            .1
            .into_owned()
    }

    async fn exchange(
        store: &OAuthStore,
        code: &str,
        who: (&str, &str),
    ) -> Result<Value, OAuthError> {
        store
            .exchange_code(
                &map(&[
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ]),
                creds(who),
            )
            .await
    }

    /// Registers `REDIRECT` for `who` and runs the code flow: the token answer.
    async fn flow(store: &OAuthStore, who: (&str, &str)) -> Value {
        store
            .register(
                &json!({"client_id": who.0, "redirect_uris": [REDIRECT]}),
                ip("127.0.0.1"),
            )
            .unwrap();
        let code = code_for(store, who.0, REDIRECT);
        exchange(store, &code, who).await.unwrap()
    }

    async fn refresh(
        store: &OAuthStore,
        token: &Value,
        client: Option<(String, Option<String>)>,
    ) -> Result<Value, OAuthError> {
        let t = token["refresh_token"].as_str().unwrap();
        store.refresh(&map(&[("refresh_token", t)]), client).await
    }

    fn works(store: &OAuthStore, token: &Value) -> bool {
        store
            .principal(token["access_token"].as_str().unwrap())
            .is_some()
    }

    #[tokio::test]
    async fn refresh_authenticates_and_a_failed_attempt_changes_nothing() {
        let (_sim, store) = store(OAuthConfig::default()).await;
        let first = flow(&store, DEMO).await;
        let before = store.counts();
        for client in [
            None,
            Some((DEMO.0.to_owned(), None)),
            creds((DEMO.0, "wrong")),
            creds(B),
        ] {
            let e = refresh(&store, &first, client.clone()).await.unwrap_err();
            assert_eq!((e.status, e.error), (401, "invalid_client"), "{client:?}");
            assert_eq!(store.counts(), before, "nothing changed after {client:?}");
        }
        assert!(works(&store, &first));
        let second = refresh(&store, &first, creds(DEMO)).await.unwrap();
        assert!(works(&store, &second));
        // The first access token still passes (in-flight requests over a refresh).
        assert!(works(&store, &first));

        // The rotated token again, unauthenticated: refused, the grant stays.
        let e = refresh(&store, &first, None).await.unwrap_err();
        assert_eq!(e.error, "invalid_client");
        assert!(works(&store, &second));
        // Authenticated: the grant is revoked, every token of it.
        let e = refresh(&store, &first, creds(DEMO)).await.unwrap_err();
        assert_eq!((e.status, e.error), (400, "invalid_grant"));
        assert!(!works(&store, &first) && !works(&store, &second));
        assert_eq!(
            refresh(&store, &second, creds(DEMO))
                .await
                .unwrap_err()
                .error,
            "invalid_grant"
        );
        let c = store.counts();
        assert_eq!((c.grants, c.access, c.refresh), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_replayed_code_revokes_its_grant_and_only_it() {
        let (_sim, store) = store(OAuthConfig::default()).await;
        let other = flow(&store, DEMO).await;
        let code = code_for(&store, DEMO.0, REDIRECT);
        let first = exchange(&store, &code, DEMO).await.unwrap();
        let rotated = refresh(&store, &first, creds(DEMO)).await.unwrap();
        // Anyone presenting the code again revokes it: the code is the secret that leaked.
        let e = exchange(&store, &code, ("someone", "else"))
            .await
            .unwrap_err();
        assert_eq!(e.error, "invalid_grant");
        assert!(!works(&store, &first) && !works(&store, &rotated));
        assert!(refresh(&store, &rotated, creds(DEMO)).await.is_err());
        assert!(works(&store, &other));
        assert!(refresh(&store, &other, creds(DEMO)).await.is_ok());
    }

    #[tokio::test]
    async fn a_code_replayed_while_its_exchange_is_checking_with_halo_yields_nothing() {
        let (_sim, store) = store(OAuthConfig::default()).await;
        store
            .register(
                &json!({"client_id": DEMO.0, "redirect_uris": [REDIRECT]}),
                ip("127.0.0.1"),
            )
            .unwrap();
        let code = code_for(&store, DEMO.0, REDIRECT);
        let mut first = Box::pin(exchange(&store, &code, DEMO));
        // One poll consumes the code and starts asking Halo; the simulator runs on this same
        // (single-threaded) runtime, so the answer cannot have arrived yet.
        let polled =
            std::future::poll_fn(|cx| std::task::Poll::Ready(first.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
        let e = exchange(&store, &code, DEMO).await.unwrap_err();
        assert_eq!(e.error, "invalid_grant");
        let e = first.await.unwrap_err();
        assert_eq!(e.error, "invalid_grant", "{}", e.description);
        assert_eq!(store.counts().grants, 0);
    }

    #[tokio::test]
    async fn registrations_are_capped_per_source_and_overall_and_expire() {
        let config = OAuthConfig {
            max_clients: 10,
            max_clients_per_source: 4,
            ..OAuthConfig::default()
        };
        let (_sim, store) = store(config.clone()).await;
        // A registration used for real (proven) from the flooding source.
        flow(&store, DEMO).await;
        for i in 0..50 {
            let body = json!({"redirect_uris": [format!("https://junk.example/{i}")]});
            store.register(&body, ip("10.0.0.1")).unwrap();
            store.register(&body, ip("127.0.0.1")).unwrap();
            assert!(store.registered() <= 10);
        }
        // The proven registration survived; the source's newest junk too, within its cap.
        let c = store.counts();
        assert_eq!(c.clients, 8, "two sources at 4 each");
        code_for(&store, DEMO.0, REDIRECT);
        // IPv6: one /64 is one source.
        for i in 0..20u16 {
            let addr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
            store
                .register(
                    &json!({"redirect_uris": [format!("https://v6.example/{i}")]}),
                    addr,
                )
                .unwrap();
        }
        let v6 = source_of(ip("2001:db8:0:1::ffff"));
        assert_eq!(
            store
                .state
                .lock()
                .clients
                .values()
                .filter(|r| r.source == v6)
                .count(),
            4
        );
        assert_eq!(source_of(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        // Overall: ten kept, the proven one among them.
        assert_eq!(store.registered(), 10);
        code_for(&store, DEMO.0, REDIRECT);

        // Unproven registrations lapse after a day unused; the proven one after 30 days.
        store.advance(config.unproven_registration_ttl);
        store
            .authorize(&map(&[("client_id", DEMO.0), ("redirect_uri", REDIRECT)]))
            .unwrap();
        assert_eq!(store.registered(), 1);
        store.advance(config.registration_ttl);
        store
            .authorize(&map(&[("client_id", "x"), ("redirect_uri", REDIRECT)]))
            .unwrap_err();
        assert_eq!(store.registered(), 0);
    }

    #[tokio::test]
    async fn registrations_only_add_and_repeat_registrations_refresh() {
        let (_sim, store) = store(OAuthConfig::default()).await;
        let reg = |uri: &str, from: &str| {
            store.register(
                &json!({"client_id": DEMO.0, "redirect_uris": [uri]}),
                ip(from),
            )
        };
        reg("https://evil.example/a", "10.0.0.9").unwrap();
        reg(REDIRECT, "127.0.0.1").unwrap();
        reg(REDIRECT, "127.0.0.1").unwrap();
        assert_eq!(
            store.registered(),
            2,
            "the same registration again is one record"
        );
        // Both URIs are the id's, and the operator's list still is.
        code_for(&store, DEMO.0, REDIRECT);
        code_for(&store, DEMO.0, "https://evil.example/a");
        code_for(&store, DEMO.0, "https://claude.ai/api/mcp/auth_callback");
        let e = store
            .authorize(&map(&[
                ("client_id", B.0),
                ("redirect_uri", "https://evil.example/a"),
            ]))
            .unwrap_err();
        assert_eq!(
            e.error, "invalid_client",
            "another id's URI is not this one's"
        );
    }

    #[tokio::test]
    async fn codes_and_their_markers_are_bounded() {
        let config = OAuthConfig {
            max_codes: 5,
            max_grants: 3,
            ..OAuthConfig::default()
        };
        let (_sim, store) = store(config.clone()).await;
        flow(&store, DEMO).await;
        let codes: Vec<String> = (0..20)
            .map(|_| code_for(&store, DEMO.0, REDIRECT))
            .collect();
        assert_eq!(store.counts().codes, 5);
        // The oldest went; the newest is exchangeable.
        assert_eq!(
            exchange(&store, &codes[0], DEMO).await.unwrap_err().error,
            "invalid_grant"
        );
        assert!(exchange(&store, &codes[19], DEMO).await.is_ok());
        // Failed exchanges leave markers: bounded too.
        for _ in 0..30 {
            let code = code_for(&store, DEMO.0, REDIRECT);
            exchange(&store, &code, ("demo-client", ""))
                .await
                .unwrap_err();
        }
        assert!(store.counts().used_codes <= 5 + 3);
        // And they lapse.
        store.advance(config.code_ttl * 10);
        code_for(&store, DEMO.0, REDIRECT);
        let c = store.counts();
        assert_eq!((c.codes, c.used_codes), (1, c.grants), "{c:?}");
    }

    #[tokio::test]
    async fn grants_and_tokens_are_bounded_and_expire() {
        let config = OAuthConfig {
            max_grants: 4,
            max_grants_per_client: 3,
            ..OAuthConfig::default()
        };
        let (_sim, store) = store(config.clone()).await;
        let b = flow(&store, B).await;
        let mut demo = Vec::new();
        for _ in 0..6 {
            demo.push(flow(&store, DEMO).await);
        }
        // demo-client keeps its three newest grants; its flood did not push tenant-b out.
        assert_eq!(store.counts().grants, 4);
        assert!(works(&store, &b));
        assert!(demo[..3].iter().all(|t| !works(&store, t)));
        assert!(demo[3..].iter().all(|t| works(&store, t)));
        // Past the overall cap the least recently used grant goes, whoever's it is: tenant-b's
        // was just refreshed, so demo-client's oldest goes.
        let b = refresh(&store, &b, creds(B)).await.unwrap();
        let b2 = flow(&store, B).await;
        assert_eq!(store.counts().grants, 4);
        assert!(!works(&store, &demo[3]));
        assert!(works(&store, &b) && works(&store, &b2) && works(&store, &demo[4]));

        // Refreshing in a loop keeps a bounded number of tokens per grant.
        let mut t = demo[5].clone();
        for _ in 0..40 {
            t = refresh(&store, &t, creds(DEMO)).await.unwrap();
        }
        let c = store.counts();
        assert!(c.access <= 4 * ACCESS_PER_GRANT, "{c:?}");
        assert!(c.refresh <= 4 * (1 + SPENT_REFRESH_PER_GRANT), "{c:?}");

        // Access tokens lapse; refresh tokens (and the kept credentials) with their grant.
        store.advance(config.access_ttl);
        assert!(!works(&store, &t));
        let t = refresh(&store, &t, creds(DEMO)).await.unwrap();
        assert!(works(&store, &t));
        store.advance(config.credential_ttl);
        assert!(!works(&store, &t));
        assert_eq!(
            refresh(&store, &t, creds(DEMO)).await.unwrap_err().error,
            "invalid_grant"
        );
        let c = store.counts();
        assert_eq!(
            (c.grants, c.access, c.refresh, c.held),
            (0, 0, 0, 0),
            "{c:?}"
        );
    }

    #[test]
    fn s256_is_base64url_sha256() {
        // Computed independently with Python's hashlib and base64.urlsafe_b64encode.
        assert_eq!(
            s256("dBjftJeZ4CVP-mJ92K2UNlpqRAAcPSRJ3R2sDzWSRbs"),
            "lOBzZ2xFrMXAew7SVzmdpSLHoB6R7RoVcvEt2cvAzfQ"
        );
        assert!(valid_verifier(&"a".repeat(43)));
        assert!(!valid_verifier(&"a".repeat(42)));
        assert!(!valid_verifier(&format!("{}!", "a".repeat(43))));
    }

    #[test]
    fn redirect_rules() {
        assert!(acceptable_redirect(
            "https://claude.ai/api/mcp/auth_callback"
        ));
        assert!(acceptable_redirect("http://127.0.0.1:33418/callback"));
        assert!(acceptable_redirect("http://localhost/cb"));
        assert!(!acceptable_redirect("http://evil.example/cb"));
        assert!(!acceptable_redirect("https://a.example/cb#frag"));
        assert!(!acceptable_redirect("javascript:alert(1)"));
        assert!(acceptable_redirect("com.example.app:/oauth"));
    }
}
