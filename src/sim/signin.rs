//! Halo's sign-in for agents, as its authorisation server offers it (halo-api.md §1.3): the
//! authorization-code grant with PKCE and rotating single-use refresh tokens.
//!
//! `GET /auth/authorize` checks the application (a tenant's client id), the redirect URI
//! (registered on the application, matched exactly) and the PKCE challenge (S256), then signs
//! an agent in: the configured test agent at once ([`super::SimConfig::signin_auto_agent`]), or
//! the agent named by `login_hint` (id or email), else a minimal page with one button per
//! agent that posts back to `/auth/authorize`. The code lives five minutes and works once; a
//! second use revokes every token issued from it. `POST /auth/token` redeems it
//! (`grant_type=authorization_code` with the verifier) for an access token acting as that
//! agent, and with `offline_access` a refresh token. Each refresh token works once: the answer
//! carries the next; presenting a spent one revokes the whole sign-in (a copy is in other
//! hands), as OpenIddict does with rolling refresh tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::http::{form_pairs, oauth_error};
use super::query::Params;
use super::store::Db;
use super::{Shared, random_token};

/// How long an authorization code may wait to be redeemed.
const CODE_TTL: Duration = Duration::from_secs(300);
/// Codes waiting at most (older ones go first); the simulator is for demos and tests, but a
/// loop in a test must not grow it without bound.
const MAX_CODES: usize = 10_000;
/// Refresh tokens kept at most, spent ones included (to recognise a replay).
const MAX_REFRESH: usize = 100_000;

/// An agent of tenant 0 whose access is narrower than the application's when signed in.
#[derive(Debug, Clone, PartialEq)]
pub struct SimAgent {
    /// The agent's id in the seeded data (1–11; 7 is the login-as agent).
    pub id: i64,
    /// Areas this agent has no access to (as [`super::Permissions::agent_denied`]).
    pub denied: Vec<String>,
}

/// One write the API accepted, with the agent Halo recorded for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub tenant: usize,
    /// The agent Halo recorded: the signed-in agent, or the application's login-as agent.
    pub agent: i64,
    /// Whether the token was a signed-in agent's.
    pub signed_in: bool,
    pub resource: String,
    pub method: String,
    pub id: Option<i64>,
}

struct Code {
    tenant: usize,
    agent: i64,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    created: Instant,
}

struct Refresh {
    family: u64,
    tenant: usize,
    agent: i64,
    client_id: String,
    scopes: Vec<String>,
    spent: bool,
}

#[derive(Default)]
pub(crate) struct SignInState {
    codes: HashMap<String, Code>,
    /// Codes redeemed already, with the sign-in their redemption started.
    used: HashMap<String, u64>,
    refresh: HashMap<String, Refresh>,
    next_family: u64,
    /// Refuse every refresh (a test's "administrator revoked the sign-ins").
    pub refusing: bool,
    pub codes_redeemed: usize,
    pub refreshed: usize,
    pub written: Vec<Written>,
}

fn page(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><title>Halo sign-in</title><p>{}</p>",
            escape(text)
        ),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => page(StatusCode::BAD_REQUEST, "bad redirect_uri"),
    }
}

/// `redirect_uri` with `pairs` added to its query.
fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = base.to_owned();
    for (k, v) in pairs {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// `GET` or `POST /auth/authorize` (the page's buttons post back here with `agent`).
pub(crate) fn authorize(s: &Shared, method: &Method, query: &Params, body: &Bytes) -> Response {
    let mut pairs: Vec<(String, String)> = query.pairs().to_vec();
    if *method == Method::POST {
        pairs.extend(form_pairs(body));
    } else if *method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let p = Params::new(pairs.clone());
    let get = |k: &str| p.get(k).filter(|v| !v.is_empty());
    let Some(client_id) = get("client_id") else {
        return page(StatusCode::BAD_REQUEST, "client_id is missing");
    };
    let asked = get("tenant");
    let Some(tenant) = s.tenants.iter().position(|t| {
        t.client_id == client_id && t.tenant.as_deref().is_none_or(|want| asked == Some(want))
    }) else {
        return page(StatusCode::BAD_REQUEST, "unknown application (client_id)");
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return page(StatusCode::BAD_REQUEST, "redirect_uri is missing");
    };
    if !redirect_allowed(s, redirect_uri) {
        return page(
            StatusCode::BAD_REQUEST,
            "the redirect_uri is not registered on this application",
        );
    }
    // From here on, errors go back to the application.
    let state = get("state");
    let back = |error: &str| {
        let mut q = vec![("error", error)];
        if let Some(st) = state {
            q.push(("state", st));
        }
        redirect(&with_query(redirect_uri, &q))
    };
    if get("response_type") != Some("code") {
        return back("unsupported_response_type");
    }
    let (Some(challenge), Some("S256")) = (get("code_challenge"), get("code_challenge_method"))
    else {
        return back("invalid_request");
    };
    let scopes: Vec<String> = get("scope")
        .unwrap_or("all")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(t) = s.tenants.get(tenant)
        && scopes
            .iter()
            .any(|x| x != "offline_access" && !t.permissions.grants(x))
    {
        return back("invalid_scope");
    }
    let Some(db) = s.db(tenant) else {
        return back("server_error");
    };
    let agents = active_agents(&db.read());
    let chosen = get("agent")
        .or_else(|| get("login_hint"))
        .map(str::to_owned)
        .or_else(|| s.config.signin_auto_agent.map(|a| a.to_string()));
    let Some(chosen) = chosen else {
        return signin_page(&pairs, &agents);
    };
    let Some(agent) = agents
        .iter()
        .find(|(id, _, email)| id.to_string() == chosen || email.eq_ignore_ascii_case(&chosen))
        .map(|(id, _, _)| *id)
    else {
        return back("access_denied");
    };
    let code = issue_code(
        s,
        Code {
            tenant,
            agent,
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scopes,
            created: Instant::now(),
        },
    );
    let mut q = vec![("code", code.as_str())];
    if let Some(st) = state {
        q.push(("state", st));
    }
    redirect(&with_query(redirect_uri, &q))
}

/// Without registered redirect URIs, only loopback ones (a local client's listener) are allowed.
fn redirect_allowed(s: &Shared, redirect_uri: &str) -> bool {
    let registered = &s.config.signin_redirect_uris;
    if registered.is_empty() {
        redirect_uri.starts_with("http://127.0.0.1:")
            || redirect_uri.starts_with("http://localhost:")
    } else {
        registered.iter().any(|u| u == redirect_uri)
    }
}

/// The agents who may sign in: (id, name, email) of each one not disabled.
fn active_agents(db: &Db) -> Vec<(i64, String, String)> {
    db.table("Agent")
        .map(|t| {
            t.rows
                .values()
                .filter(|a| a.get("isdisabled") != Some(&Value::Bool(true)))
                .filter_map(|a| {
                    Some((
                        a.get("id")?.as_i64()?,
                        a.get("name")?.as_str()?.to_owned(),
                        a.get("email")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The sign-in page: one button per agent, posting the request back with `agent`.
fn signin_page(pairs: &[(String, String)], agents: &[(i64, String, String)]) -> Response {
    let hidden: String = pairs
        .iter()
        .filter(|(k, _)| k != "agent")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let buttons: String = agents
        .iter()
        .map(|(id, name, _)| {
            format!(
                "<button name=\"agent\" value=\"{id}\">Sign in as {}</button>",
                escape(name)
            )
        })
        .collect();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><title>Halo sign-in</title><h1>Sign in to Halo</h1>\
             <form method=\"post\" action=\"/auth/authorize\">{hidden}{buttons}</form>"
        ),
    )
        .into_response()
}

/// Stores a sign-in code (dropping expired ones, and the oldest past the cap) and returns it.
fn issue_code(s: &Shared, code: Code) -> String {
    let token = random_token(&mut s.auth.lock().rng);
    let now = code.created;
    let mut st = s.signin.lock();
    st.codes
        .retain(|_, c| now.duration_since(c.created) < CODE_TTL);
    while st.codes.len() >= MAX_CODES {
        let oldest = st
            .codes
            .iter()
            .min_by_key(|(_, c)| c.created)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => st.codes.remove(&k),
            None => break,
        };
    }
    st.codes.insert(token.clone(), code);
    token
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// Revokes a sign-in: every access and refresh token issued in it.
fn revoke(s: &Shared, st: &mut SignInState, family: u64) {
    st.refresh.retain(|_, r| r.family != family);
    s.auth.lock().tokens.retain(|_, t| t.family != Some(family));
}

/// The application's secret, when one is sent, must be its own; a public client sends none
/// (PKCE stands in for it).
fn client_ok(s: &Shared, tenant: usize, client_id: &str, form: &Params) -> bool {
    s.tenants.get(tenant).is_some_and(|t| {
        t.client_id == client_id
            && form
                .get("client_secret")
                .is_none_or(|sec| sec == t.client_secret)
    })
}

fn issue(
    s: &Shared,
    st: &mut SignInState,
    family: u64,
    (tenant, agent, client_id, scopes): (usize, i64, String, Vec<String>),
) -> Response {
    let api_scopes: Vec<String> = scopes
        .iter()
        .filter(|x| *x != "offline_access")
        .cloned()
        .collect();
    let (access, lifetime) = s.issue_token_for(tenant, api_scopes, Some(agent), Some(family));
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "scope": scopes.join(" "),
    });
    if scopes.iter().any(|x| x == "offline_access") {
        let refresh = random_token(&mut s.auth.lock().rng);
        if st.refresh.len() >= MAX_REFRESH {
            // Spent tokens go first: they are only kept to recognise a replay.
            st.refresh.retain(|_, r| !r.spent);
        }
        st.refresh.insert(
            refresh.clone(),
            Refresh {
                family,
                tenant,
                agent,
                client_id,
                scopes,
                spent: false,
            },
        );
        if let Value::Object(m) = &mut body {
            m.insert("refresh_token".into(), Value::String(refresh));
        }
    }
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `grant_type=authorization_code`.
pub(crate) fn redeem_code(s: &Shared, form: &Params) -> Response {
    let get = |k: &str| form.get(k).filter(|v| !v.is_empty());
    let Some(code) = get("code") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The mandatory 'code' parameter is missing.",
        );
    };
    let mut st = s.signin.lock();
    let Some(record) = st.codes.remove(code) else {
        if let Some(family) = st.used.get(code).copied() {
            // Redeemed before: whoever holds the tokens it gave may not be its owner.
            revoke(s, &mut st, family);
            return invalid_grant("The specified authorization code has already been redeemed.");
        }
        return invalid_grant("The specified authorization code is invalid.");
    };
    let family = st.next_family;
    st.next_family += 1;
    if st.used.len() >= MAX_CODES {
        st.used.clear();
    }
    st.used.insert(code.to_owned(), family);
    if record.created.elapsed() >= CODE_TTL {
        return invalid_grant("The specified authorization code is no longer valid.");
    }
    let client_id = get("client_id").unwrap_or_default();
    if !client_ok(s, record.tenant, client_id, form) || client_id != record.client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "The specified client credentials are invalid.",
        );
    }
    if get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return invalid_grant("The specified 'redirect_uri' parameter doesn't match.");
    }
    if get("code_verifier").map(s256).as_deref() != Some(record.challenge.as_str()) {
        return invalid_grant("The specified 'code_verifier' is invalid.");
    }
    st.codes_redeemed += 1;
    issue(
        s,
        &mut st,
        family,
        (record.tenant, record.agent, record.client_id, record.scopes),
    )
}

/// `grant_type=refresh_token`: single use, rotated.
pub(crate) fn refresh(s: &Shared, form: &Params) -> Response {
    let Some(token) = form.get("refresh_token").filter(|v| !v.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The mandatory 'refresh_token' parameter is missing.",
        );
    };
    let mut st = s.signin.lock();
    if st.refusing {
        return invalid_grant("The specified refresh token is no longer valid.");
    }
    let Some(r) = st.refresh.get(token) else {
        return invalid_grant("The specified refresh token is invalid.");
    };
    let (family, spent) = (r.family, r.spent);
    let grant = (r.tenant, r.agent, r.client_id.clone(), r.scopes.clone());
    if !client_ok(s, grant.0, form.get("client_id").unwrap_or_default(), form)
        || form.get("client_id") != Some(grant.2.as_str())
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "The specified client credentials are invalid.",
        );
    }
    if spent {
        revoke(s, &mut st, family);
        return invalid_grant("The specified refresh token has already been redeemed.");
    }
    if let Some(r) = st.refresh.get_mut(token) {
        r.spent = true;
    }
    st.refreshed += 1;
    issue(s, &mut st, family, grant)
}
