//! Streamable HTTP: the same handler as stdio, behind authentication and hardening.
//!
//! Routes: `/mcp` (rmcp's Streamable HTTP service: POST, GET for the SSE stream, DELETE to end
//! a session; one handler value — one place in the tree — per session), `/health`, and in the
//! OAuth modes the authorization server (`/.well-known/*`, `/register`, `/authorize`, `/token`):
//! the OAuth proxy (`oauth`, `MCP_AUTH=oauth`) or sign-in with Halo (`halo_signin`,
//! `MCP_AUTH=halo`, which adds `/oauth/halo/callback`). What the two share is in `authz`.
//!
//! Every request passes the same layers, outermost first: security headers on the answer; Host
//! and Origin checks (DNS rebinding); a body cap (413); authentication for `/mcp` (a static
//! bearer in `env` mode, the OAuth proxy's tokens in `oauth` mode, the sign-in server's in `halo`
//! mode, where each session acts as the agent who signed in), which also binds each MCP
//! session to the principal that opened it and caps live sessions (503); for POST `/mcp`, a
//! JSON-RPC parse error (-32700) for a body that is not JSON. Logs name method, path (never the
//! query, which can hold codes) and status; never a header value.
//!
//! Connections are served by `conn`: a deadline for request heads (slowloris), one for idle
//! kept-alive connections, and a shutdown that ends SSE streams instead of waiting on them.

mod authz;
mod conn;
pub mod halo_signin;
pub mod oauth;
pub mod sealed;
mod sessions;
mod shared_sessions;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::body::Body;

use axum::{
    Router,
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    secret::Secret,
    server::{HaloMcp, SessionHalo, Shared},
};

pub use halo_signin::{HaloSignIn, SignInConfig};
pub use oauth::{OAuthConfig, OAuthStore};
pub use sessions::Sessions;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// Default deadline for a request head (`MCP_HTTP_HEADER_TIMEOUT`).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default deadline for an idle kept-alive connection (`MCP_HTTP_IDLE_TIMEOUT`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on live MCP sessions (`MCP_MAX_SESSIONS`).
pub const MAX_SESSIONS: usize = 1000;

/// On every answer, including hyper's own error answers (see `conn`).
const SECURITY_HEADERS: [(&str, &str); 7] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
    ("cross-origin-resource-policy", "same-origin"),
];

/// How MCP clients authenticate.
pub enum Auth {
    /// No authentication (loopback with an explicit `--no-auth` only).
    None,
    /// A bearer token the operator configured (`MCP_AUTH_TOKEN`).
    Token(Secret),
    /// The OAuth proxy.
    OAuth(Arc<OAuthStore>),
    /// Sign in with Halo: each user acts as their own Halo agent.
    HaloSignIn(Arc<HaloSignIn>),
}

/// HTTP settings.
pub struct HttpConfig {
    pub bind: SocketAddr,
    pub auth: Auth,
    /// The external URL (`MCP_PUBLIC_URL`), used in OAuth metadata.
    pub public_url: Option<String>,
    /// Extra hosts accepted in `Host` (besides loopback names and the public URL's host).
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted (besides the public URL's origin).
    pub allowed_origins: Vec<String>,
    /// Trust `X-Forwarded-*` from a reverse proxy.
    pub trust_proxy: bool,
    /// Sessions idle this long are closed.
    pub session_idle: Duration,
    /// Most live MCP sessions; `initialize` beyond it gets 503.
    pub max_sessions: usize,
    /// A request head must arrive within this once the server waits for one.
    pub header_timeout: Duration,
    /// A connection with no request in flight and nothing moving is closed after this.
    pub idle_timeout: Duration,
    pub max_body: usize,
    /// Where sessions are recorded so another replica can resume them: nowhere (memory), or
    /// Redis.
    pub state: crate::state::SharedState,
}

impl HttpConfig {
    pub fn new(bind: SocketAddr, auth: Auth) -> HttpConfig {
        HttpConfig {
            bind,
            auth,
            public_url: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            trust_proxy: false,
            session_idle: Duration::from_secs(1800),
            max_sessions: MAX_SESSIONS,
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_body: MAX_BODY,
            state: crate::state::SharedState::Memory,
        }
    }
}

struct App {
    config: HttpConfig,
    /// rmcp's sessions, with who opened each; an expired session leaves both at once.
    sessions: Arc<Sessions>,
    /// Session records in Redis, when replicas share state.
    shared_sessions: Option<Arc<shared_sessions::RedisSessions>>,
}

fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

/// The host part of a `Host` header value (`example.com:443` → `example.com`).
fn host_only(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    value.rsplit_once(':').map_or(value, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            value
        }
    })
}

impl App {
    /// The external base URL, for metadata and `WWW-Authenticate`.
    fn public_base(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.config.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let header_str = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.split(',').next().unwrap_or(s).trim().to_owned())
        };
        if self.config.trust_proxy
            && let Some(host) = header_str("x-forwarded-host")
        {
            let proto = header_str("x-forwarded-proto").unwrap_or_else(|| "https".into());
            return format!("{proto}://{host}");
        }
        let host = header_str("host").unwrap_or_else(|| self.config.bind.to_string());
        format!("http://{host}")
    }

    fn host_allowed(&self, host: &str) -> bool {
        let h = host_only(host).to_ascii_lowercase();
        if ["localhost", "127.0.0.1", "::1"].contains(&h.as_str()) {
            return true;
        }
        if !self.config.bind.ip().is_unspecified() && h == self.config.bind.ip().to_string() {
            return true;
        }
        let public_host = self
            .config
            .public_url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        if public_host.as_deref() == Some(h.as_str()) {
            return true;
        }
        self.config
            .allowed_hosts
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&h) || a.eq_ignore_ascii_case(host))
    }

    fn origin_allowed(&self, origin: &str, headers: &HeaderMap) -> bool {
        let origin = origin.trim_end_matches('/');
        let public = self.public_base(headers);
        origin.eq_ignore_ascii_case(&public)
            || self
                .config
                .allowed_origins
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// Security headers on every answer.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Host and Origin checks (DNS rebinding), body cap, and a log line per request.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let headers = req.headers();
    let host_ok = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| app.host_allowed(h))
        || (app.config.trust_proxy
            && headers
                .get("x-forwarded-host")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|h| app.host_allowed(h.split(',').next().unwrap_or(h).trim())));
    let response = if !host_ok {
        json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this Host is not served here",
        )
    } else if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && !app.origin_allowed(origin, headers)
    {
        json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this Origin is not allowed",
        )
    } else if headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > app.config.max_body)
    {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over 1 MB",
        )
    } else {
        // Bodies without a length are capped while they stream: by rmcp for /mcp and by
        // `DefaultBodyLimit` for the OAuth endpoints, both at `max_body`.
        let response = next.run(req).await;
        if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is over 1 MB",
            )
        } else {
            response
        }
    };
    tracing::info!(
        %method,
        // Quoted as before, and bounded: a request line may carry a path of many KB.
        path = %crate::text::quote(&path),
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "http"
    );
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(app: &App, headers: &HeaderMap, why: &str) -> Response {
    let challenge = match &app.config.auth {
        Auth::OAuth(_) | Auth::HaloSignIn(_) => format!(
            "Bearer error=\"invalid_token\", error_description=\"{why}\", \
             resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            app.public_base(headers)
        ),
        _ => format!(
            "Bearer realm=\"halo-mcp\", error=\"invalid_token\", error_description=\"{why}\""
        ),
    };
    let mut r = json_error(StatusCode::UNAUTHORIZED, "unauthorized", why);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Who the bearer token on a request stands for, as `resolve` (the proxy's or the sign-in's)
/// says; otherwise the response that refuses the request, worded by `invalid` (a token that
/// does not resolve) or `missing` (no token).
async fn resolve_bearer<'h, P, F>(
    app: &App,
    headers: &'h HeaderMap,
    resolve: impl FnOnce(&'h str) -> F,
    invalid: &str,
    missing: &str,
) -> Result<P, Response>
where
    F: std::future::Future<Output = Result<Option<P>, oauth::OAuthError>>,
{
    let token = bearer(headers);
    let resolved = match token {
        Some(t) => resolve(t).await,
        None => Ok(None),
    };
    match resolved {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(unauthorized(
            app,
            headers,
            if token.is_some() { invalid } else { missing },
        )),
        // The shared state cannot be asked: refuse rather than guess (a token revoked on
        // another replica must not pass here).
        Err(e) => Err(oauth_response(Err(e), false)),
    }
}

/// Authentication for `/mcp`, and the binding of each MCP session to who opened it.
async fn mcp_auth(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let principal = match &app.config.auth {
        Auth::None => "anonymous".to_owned(),
        Auth::Token(expected) => match bearer(req.headers()) {
            Some(t) if expected.matches(t) => "operator".to_owned(),
            Some(_) => return unauthorized(&app, req.headers(), "the bearer token is not valid"),
            None => return unauthorized(&app, req.headers(), "a bearer token is required"),
        },
        Auth::OAuth(store) => {
            let p = match resolve_bearer(
                &app,
                req.headers(),
                |t| store.resolve(t),
                "the access token is not valid or has expired",
                "an access token is required",
            )
            .await
            {
                Ok(p) => p,
                Err(refused) => return refused,
            };
            req.extensions_mut().insert(SessionHalo(p.halo));
            // Sessions are bound to the credentials' client id.
            format!("client:{}", p.client_id)
        }
        Auth::HaloSignIn(signin) => {
            let p = match resolve_bearer(
                &app,
                req.headers(),
                |t| signin.resolve(t),
                "the access token is not valid or has expired, or the Halo sign-in ended",
                "an access token is required: sign in with Halo",
            )
            .await
            {
                Ok(p) => p,
                Err(refused) => return refused,
            };
            req.extensions_mut().insert(SessionHalo(p.halo));
            // Sessions are bound to the agent and the client it signed in through.
            p.key
        }
    };
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(sid) = &session
        && app.sessions.owner(sid).is_some_and(|o| o != principal)
    {
        // Another principal's session: it does not exist, as far as this caller knows.
        return json_error(StatusCode::NOT_FOUND, "not_found", "no such session");
    }
    if let Some(store) = &app.shared_sessions {
        // The handler remembers a tree session's domain there; every request restarts the
        // record's idle time (in the background: the request need not wait for it).
        req.extensions_mut().insert(store.memory());
        if let Some(sid) = &session {
            let (store, sid) = (store.clone(), sid.clone());
            tokio::spawn(async move { store.touch(&sid).await });
        }
    }
    // A POST without a session is an `initialize`: it would open one more session.
    let opening = session.is_none() && req.method() == Method::POST;
    if opening && app.sessions.live().await >= app.sessions.max() {
        return sessions_full(&app);
    }
    // rmcp creates the session inside this call; `PRINCIPAL` names its owner there.
    let response = sessions::PRINCIPAL.scope(principal, next.run(req)).await;
    // Two `initialize` requests racing for the last slot: the loser's session creation fails
    // inside rmcp, which answers 500; it is the same refusal.
    if opening
        && response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && app.sessions.live().await >= app.sessions.max()
    {
        return sessions_full(&app);
    }
    response
}

/// 503 for an `initialize` beyond the session cap; existing sessions go on as before.
fn sessions_full(app: &App) -> Response {
    tracing::warn!(
        max = app.sessions.max(),
        "refused a new MCP session: at the limit of live sessions"
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::RETRY_AFTER, "30"),
        ],
        json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {
                "code": -32000,
                "message": format!(
                    "the server is at its limit of {} live MCP sessions; try again later",
                    app.sessions.max()
                ),
            },
        })
        .to_string(),
    )
        .into_response()
}

/// Whether `E` is anywhere in the chain of causes of `error`.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<E>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A JSON-RPC error answer with no id (the request could not be read far enough to have one).
fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}})
            .to_string(),
    )
        .into_response()
}

/// POST `/mcp` bodies that are not JSON-RPC get JSON-RPC errors.
///
/// rmcp answers a body it cannot deserialize with a plain-text 415, whatever the cause. That
/// answer is recognised here and replaced: -32700 (parse error) when the body is not JSON at
/// all (syntax, nesting past serde_json's recursion limit, a lone surrogate escape), -32600
/// (invalid request) when it is JSON but not a JSON-RPC message. The body is parsed a second
/// time only on that failure path; the request body is a cheap `Bytes` handle.
async fn mcp_json(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, app.config.max_body).await {
        Ok(b) => b,
        Err(e) if caused_by::<conn::BodyStalled>(&e) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body stopped arriving",
            );
        }
        // Over the cap while streaming (or the client went away): `guard` words the 413.
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(body.clone())))
        .await;
    if response.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return response;
    }
    let (response_parts, response_body) = response.into_parts();
    let text = axum::body::to_bytes(response_body, 64 * 1024)
        .await
        .unwrap_or_default();
    if !text.starts_with(b"fail to deserialize") {
        return Response::from_parts(response_parts, Body::from(text));
    }
    match serde_json::from_slice::<Value>(&body) {
        Err(e) => jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32700,
            // serde_json's syntax errors name the problem and its position, never the content.
            &format!("Parse error: the body is not valid JSON ({e})"),
        ),
        Ok(_) => jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "Invalid Request: the body is JSON but not a JSON-RPC message",
        ),
    }
}

async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such path")
}

fn oauth_response(result: Result<Value, oauth::OAuthError>, created: bool) -> Response {
    match result {
        Ok(v) => (
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut r = (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                e.body().to_string(),
            )
                .into_response();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            if status == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"halo-mcp\""),
                );
            }
            r
        }
    }
}

async fn as_metadata(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let base = app.public_base(&headers);
    // Sign in with Halo: public clients only (no secret to give them); PKCE does the binding.
    let signin = matches!(app.config.auth, Auth::HaloSignIn(_));
    let auth_methods = if signin {
        json!(["none"])
    } else {
        json!(["client_secret_post", "client_secret_basic"])
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "registration_endpoint": format!("{base}/register"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "client_id_metadata_document_supported": signin,
            "scopes_supported": ["halo"],
        })
        .to_string(),
    )
        .into_response()
}

async fn resource_metadata(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let base = app.public_base(&headers);
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": [base],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["halo"],
            "resource_name": "halo-mcp",
        })
        .to_string(),
    )
        .into_response()
}

async fn register(
    State(app): State<Arc<App>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Registrations are capped per source. Behind a trusted reverse proxy the peer is the proxy,
    // so the source is the address the proxy saw: the last `X-Forwarded-For` entry (earlier ones
    // are whatever the caller sent).
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .filter(|_| app.config.trust_proxy);
    let source = forwarded
        .or(peer.map(|axum::Extension(axum::extract::ConnectInfo(a))| a.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "the body must be a JSON object",
            );
        }
    };
    match &app.config.auth {
        Auth::OAuth(store) => oauth_response(store.register_any(&request, source).await, true),
        Auth::HaloSignIn(signin) => {
            oauth_response(signin.register_any(&request, source).await, true)
        }
        _ => not_found().await,
    }
}

async fn authorize(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let result = match &app.config.auth {
        Auth::OAuth(store) => store.authorize_any(&params).await,
        Auth::HaloSignIn(signin) => signin.authorize(&params, &app.public_base(&headers)).await,
        _ => return not_found().await,
    };
    redirect_to(result)
}

/// A 302 to `location`, or the error shown (never redirected).
fn redirect_to(result: Result<String, oauth::OAuthError>) -> Response {
    match result {
        Ok(location) => match HeaderValue::from_str(&location) {
            Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
            Err(_) => json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "bad redirect_uri",
            ),
        },
        Err(e) => oauth_response(Err(e), false),
    }
}

/// Halo sends the browser back here after the user signed in (`MCP_AUTH=halo`).
async fn halo_callback(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Auth::HaloSignIn(signin) = &app.config.auth else {
        return not_found().await;
    };
    redirect_to(signin.callback(&params).await)
}

/// Client authentication: HTTP Basic (RFC 6749 §2.3.1, form-encoded parts) or the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, Option<String>)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        && let Ok(decoded) = STANDARD.decode(basic.trim())
        && let Ok(text) = String::from_utf8(decoded)
        && let Some((id, secret)) = text.split_once(':')
    {
        let un = |s: &str| url_decode(s).unwrap_or_else(|| s.to_owned());
        return Some((un(id), Some(un(secret)).filter(|s| !s.is_empty())));
    }
    let id = form.get("client_id").filter(|v| !v.is_empty())?.clone();
    Some((
        id,
        form.get("client_secret").filter(|v| !v.is_empty()).cloned(),
    ))
}

fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

async fn token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = match serde_urlencoded_form(&body) {
        Some(f) => f,
        None => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            );
        }
    };
    let client = client_credentials(&headers, &form);
    let grant_type = form.get("grant_type").map(String::as_str);
    let result = match (&app.config.auth, grant_type) {
        (Auth::OAuth(store), Some("authorization_code")) => {
            store.exchange_code(&form, client).await
        }
        (Auth::OAuth(store), Some("refresh_token")) => store.refresh(&form, client).await,
        (Auth::HaloSignIn(signin), Some("authorization_code")) => signin.exchange_any(&form).await,
        (Auth::HaloSignIn(signin), Some("refresh_token")) => signin.refresh_any(&form).await,
        (Auth::None | Auth::Token(_), _) => return not_found().await,
        _ => Err(oauth::OAuthError {
            status: 400,
            error: "unsupported_grant_type",
            description: "grant_type must be authorization_code or refresh_token".into(),
        }),
    };
    oauth_response(result, false)
}

/// Parses a form body; `None` if it is not one.
fn serde_urlencoded_form(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut map = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(url_decode(k)?, url_decode(v)?);
    }
    Some(map)
}

/// Whether an address is loopback (the only place `--no-auth` is allowed).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// A session ended by `DELETE /mcp` answers 204 No Content. rmcp answers 202 Accepted, which the
/// Python SDK logs as a failed termination (it accepts 200 and 204; the TypeScript SDK accepts
/// any 2xx). Nothing is pending after a DELETE, so 204 is also the truer status.
async fn mcp_delete(req: Request, next: Next) -> Response {
    let delete = req.method() == Method::DELETE;
    let mut response = next.run(req).await;
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = Body::empty();
        response.headers_mut().remove(header::CONTENT_LENGTH);
        response.headers_mut().remove(header::CONTENT_TYPE);
    }
    response
}

/// The router: `/mcp`, `/health`, and the OAuth endpoints in OAuth mode; and its sessions.
///
/// Cancelling `stop` ends every MCP session and SSE stream (rmcp's cancellation token), which
/// is what lets a graceful shutdown finish while clients hold streams open.
pub fn router(
    shared: Arc<Shared>,
    config: HttpConfig,
    stop: CancellationToken,
) -> (Router, Arc<Sessions>) {
    let sessions = Arc::new(Sessions::new(config.session_idle, config.max_sessions));
    // Host and Origin are checked by `guard` for every route; rmcp's own checks are off so the
    // two cannot disagree.
    let mut mcp_config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(config.max_body)
        .with_cancellation_token(stop);
    let shared_sessions = config.state.redis().map(|redis| {
        Arc::new(shared_sessions::RedisSessions::new(
            Arc::clone(redis),
            config.session_idle,
        ))
    });
    if let Some(store) = &shared_sessions {
        mcp_config.session_store = Some(store.clone()
            as Arc<dyn rmcp::transport::streamable_http_server::session::SessionStore>);
    }
    let factory_shared = shared.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(HaloMcp::new(factory_shared.clone())),
        sessions.clone(),
        mcp_config,
    );
    let app = Arc::new(App {
        config,
        sessions: sessions.clone(),
        shared_sessions,
    });
    let mcp_routes = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn(mcp_delete))
        .layer(middleware::from_fn_with_state(app.clone(), mcp_json))
        .layer(middleware::from_fn_with_state(app.clone(), mcp_auth));
    let mut routes = Router::new()
        .route("/health", get(health))
        .merge(mcp_routes);
    if matches!(app.config.auth, Auth::HaloSignIn(_)) {
        routes = routes.route(halo_signin::CALLBACK_PATH, get(halo_callback));
    }
    if matches!(app.config.auth, Auth::OAuth(_) | Auth::HaloSignIn(_)) {
        routes = routes
            .route("/.well-known/oauth-authorization-server", get(as_metadata))
            .route(
                "/.well-known/oauth-protected-resource",
                get(resource_metadata),
            )
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(resource_metadata),
            )
            .route("/register", post(register))
            .route("/authorize", get(authorize))
            .route("/token", post(token));
    }
    let router = routes
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(app.config.max_body))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(app);
    (router, sessions)
}

/// Serves until `shutdown` completes; then ends SSE streams and sessions, lets requests in
/// flight finish (bounded), and returns.
pub async fn serve(
    shared: Arc<Shared>,
    config: HttpConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let limits = conn::Limits {
        header: config.header_timeout,
        idle: config.idle_timeout,
    };
    let (app, sessions) = router(shared, config, stop.clone());
    let trimmer = tokio::spawn(sessions.release_freed_memory(stop.clone()));
    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    conn::serve(listener, app, limits, stop).await;
    let _ = trimmer.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_forms() {
        assert_eq!(host_only("example.com:443"), "example.com");
        assert_eq!(host_only("[::1]:3000"), "::1");
        assert_eq!(host_only("localhost"), "localhost");
        assert_eq!(url_decode("a%20b+c"), Some("a b c".into()));
        assert_eq!(url_decode("%zz"), None);
        let f = serde_urlencoded_form(b"grant_type=authorization_code&code=x%2By").unwrap();
        assert_eq!(f["code"], "x+y");
    }
}
