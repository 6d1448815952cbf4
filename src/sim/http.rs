//! The HTTP face of the simulator: routing, the `/api` gate, the token endpoint.
//!
//! Every path is matched case-insensitively by hand (Halo's routing ignores case, axum's does
//! not), so there is a single fallback handler rather than an axum route table. Two layers
//! wrap it: [`log_requests`] (every request, for `Simulator::requests`, stamped with its
//! arrival time) and [`api_gate`], which every `/api` request passes through: it applies the
//! injected faults ([`super::faults`]) and then the bearer check, which also decides the tenant:
//! the gate hands the tenant of the token to the handler ([`TenantIdx`] in the request's
//! extensions), so a handler can only reach the database of the tenant the token belongs to,
//! and hands it to the logger (in the response's extensions).
//!
//! A dropped connection is a response whose body fails on its first poll: hyper buffers the
//! response head, polls the body before flushing, gets the error and closes the connection
//! with the head unsent, so the client sees a transport error and no status. No panic, no
//! socket juggling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use serde_json::{Value, json};

use super::clock;
use super::error::ApiError;
use super::faults::{self, Fate, Fault, is_api};
use super::query::{self, Params};
use super::reports;
use super::resources;
use super::store::Db;
use super::writes;
use super::{LoggedRequest, Shared, Tenant};

/// Largest request body accepted (attachments arrive base64-encoded in JSON).
const BODY_LIMIT: usize = 32 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(middleware::from_fn_with_state(shared.clone(), api_gate))
        .layer(middleware::from_fn_with_state(shared.clone(), log_requests))
        .with_state(shared)
}

/// When a request arrived, stamped by [`log_requests`] for the rate limit in [`api_gate`], so
/// the log and the limit count the same instants.
#[derive(Clone, Copy)]
struct Arrival(Instant);

/// Which fault [`api_gate`] injected, handed back to [`log_requests`].
#[derive(Clone, Copy)]
struct Injected(Fault);

/// The tenant of the request's live bearer token, set by [`api_gate`] on the request (for
/// [`dispatch`]) and on the response (for [`log_requests`]).
#[derive(Clone, Copy)]
struct TenantIdx(usize);

/// The agent a signed-in agent's token acts as, set by [`api_gate`]; without it the request
/// acts as the application's login-as agent.
#[derive(Clone, Copy)]
pub(crate) struct AgentIdx(pub i64);

async fn log_requests(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let at = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    req.extensions_mut().insert(Arrival(at));
    let resp = next.run(req).await;
    let fault = resp.extensions().get::<Injected>().map(|f| f.0);
    let tenant = resp.extensions().get::<TenantIdx>().map(|t| t.0);
    let status = match fault {
        Some(f) if f.is_drop() => 0,
        _ => resp.status().as_u16(),
    };
    let fault = fault.map(|f| f.as_str().to_string());
    tracing::debug!(%method, %path, %query, status, ?fault, ?tenant, "sim request");
    s.log.lock().push(LoggedRequest {
        method,
        path,
        query,
        status,
        at,
        fault,
        tenant,
    });
    s.logged.notify_waiters();
    resp
}

fn is_authinfo(path: &str) -> bool {
    path.trim_end_matches('/')
        .eq_ignore_ascii_case("/api/authinfo")
}

/// The single gate for `/api`. First the injected faults, decided on arrival: the rate limit
/// (a 429 uses no budget), then the dice for drops, gateway errors and truncated bodies, then
/// the latency. Faults come before the token check so they hit authenticated and
/// unauthenticated calls alike. Then `GET /api/authinfo` is public (clients call it before they
/// have a token); everything else needs a live bearer token, whose tenant the handler then
/// serves. Every answer, faulted ones included, is tagged with that tenant for the log.
async fn api_gate(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !is_api(path) {
        return next.run(req).await;
    }
    let public = is_authinfo(path);
    let at = req
        .extensions()
        .get::<Arrival>()
        .map_or_else(Instant::now, |a| a.0);
    let write = !matches!(*req.method(), Method::GET | Method::HEAD);
    let (fate, latency) = s.faults.lock().decide(at, write);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let grant = s.token_grant(req.headers());
    let tenant = grant.as_ref().map(|g| g.tenant);
    // The application's scopes and the agent's areas (403 with no body, as Halo answers).
    let forbidden = grant
        .as_ref()
        .is_some_and(|g| !public && !s.permits(g, req.method().as_str(), path));
    let mut req = req;
    if let Some(agent) = grant.as_ref().and_then(|g| g.agent) {
        req.extensions_mut().insert(AgentIdx(agent));
    }
    let resp = gate(&fate, public, tenant, forbidden, req, next).await;
    match tenant {
        Some(t) => with_tenant(resp, t),
        None => resp,
    }
}

fn with_tenant(mut resp: Response, tenant: usize) -> Response {
    resp.extensions_mut().insert(TenantIdx(tenant));
    resp
}

/// [`api_gate`] once the fate is decided and the token looked up.
async fn gate(
    fate: &Fate,
    public: bool,
    tenant: Option<usize>,
    forbidden: bool,
    mut req: Request,
    next: Next,
) -> Response {
    match fate {
        Fate::RateLimited {
            message,
            retry_at,
            header: retry_after,
        } => {
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                message.clone(),
            )
                .into_response();
            if let Some(value) = retry_after
                .value(*retry_at)
                .and_then(|v| HeaderValue::from_str(&v).ok())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return tagged(resp, Fault::RateLimited);
        }
        Fate::Error {
            after: false,
            status,
        } => return tagged(gateway_error(*status), Fault::ErrorBefore),
        Fate::Drop { after: false } => return tagged(dropped(), Fault::DroppedBefore),
        _ => {}
    }
    if let Some(t) = tenant {
        req.extensions_mut().insert(TenantIdx(t));
    }
    let resp = if forbidden {
        StatusCode::FORBIDDEN.into_response()
    } else if public || tenant.is_some() {
        next.run(req).await
    } else {
        // Halo's 401 body is unverified (halo-api.md §6.2): empty body plus the standard
        // bearer challenge.
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response()
    };
    match fate {
        Fate::Error { status, .. } => tagged(gateway_error(*status), Fault::ErrorAfter),
        Fate::Drop { .. } => tagged(dropped(), Fault::DroppedAfter),
        Fate::Pass { malformed: true } if resp.status().is_success() => {
            tagged(malform(resp).await, Fault::Malformed)
        }
        _ => resp,
    }
}

/// The token endpoint failing on purpose ([`faults::TokenFault`]).
async fn token_fault(fault: faults::TokenFault) -> Response {
    let resp = match fault {
        faults::TokenFault::Error => gateway_error(StatusCode::SERVICE_UNAVAILABLE),
        faults::TokenFault::Drop => dropped(),
        faults::TokenFault::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            gateway_error(StatusCode::GATEWAY_TIMEOUT)
        }
    };
    tagged(resp, Fault::Token)
}

fn tagged(mut resp: Response, fault: Fault) -> Response {
    resp.extensions_mut().insert(Injected(fault));
    resp
}

/// A gateway's HTML error page (Halo's own code never ran or its answer was lost), or for 500
/// Halo's own error body.
fn gateway_error(status: StatusCode) -> Response {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            faults::server_error_body(),
        )
            .into_response();
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/html")],
        faults::gateway_body(status),
    )
        .into_response()
}

/// A response hyper cannot send: its body fails on the first poll, before the head is
/// flushed, so hyper closes the connection and the client gets no status at all.
fn dropped() -> Response {
    let failing = futures::stream::once(std::future::ready(Err::<Bytes, std::io::Error>(
        std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        ),
    )));
    Response::new(Body::from_stream(failing))
}

/// The same answer with its body cut short (status and content type kept).
async fn malform(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(faults::truncate_json(&bytes)))
}

fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, axum::Json(body)).into_response()
}

fn error_response(e: ApiError) -> Response {
    match e.parts() {
        (status, Some(body)) => json_response(status, body),
        (status, None) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::BAD_REQUEST)
            .into_response(),
    }
}

async fn dispatch(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let params = Params::new(
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| q.0)
            .unwrap_or_default(),
    );
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let segments: Vec<&str> = parts
        .uri
        .path()
        .split('/')
        .filter(|x| !x.is_empty())
        .collect();
    let lower: Vec<String> = segments.iter().map(|x| x.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let method = &parts.method;
    // Set by the gate from the bearer token: the only way a handler reaches a database.
    let tenant = parts.extensions.get::<TenantIdx>().map(|t| t.0);
    let db = tenant.and_then(|t| s.db(t));
    let agent = parts.extensions.get::<AgentIdx>().map(|a| a.0);
    let acting = Acting {
        shared: &s,
        tenant: tenant.unwrap_or(0),
        agent,
    };
    match lower.as_slice() {
        ["auth", "authorize"] => super::signin::authorize(&s, method, &params, &bytes),
        ["auth", "token"] => {
            let fault = s.faults.lock().faults().token;
            match fault {
                Some(f) => token_fault(f).await,
                None => token(&s, method, &parts.headers, &params, &bytes),
            }
        }
        ["api", "authinfo"] => authinfo(&s, &parts.headers),
        ["api", name] => match (resources::find(name), db) {
            (None, _) => not_found_route(),
            (Some(res), Some(db)) => {
                collection(db, &acting, res, method, &parts.headers, &params, &bytes)
            }
            (Some(_), None) => StatusCode::UNAUTHORIZED.into_response(),
        },
        ["api", name, id] => match (resources::find(name), db) {
            (None, _) => not_found_route(),
            (Some(res), Some(db)) => member(db, &acting, res, id, method, &params),
            (Some(_), None) => StatusCode::UNAUTHORIZED.into_response(),
        },
        _ => not_found_route(),
    }
}

fn not_found_route() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// Who a request acts as: the tenant and, for a signed-in agent, the agent.
pub(crate) struct Acting<'a> {
    shared: &'a Shared,
    tenant: usize,
    agent: Option<i64>,
}

impl Acting<'_> {
    /// Runs a write as the acting agent: Halo records the agent a token acts as (an action's
    /// `who`, a deletion's audit row), so the write sees that agent as the API agent. The
    /// write is then logged with it ([`Simulator::written`](super::Simulator::written)).
    fn write(
        &self,
        db: &RwLock<Db>,
        resource: &str,
        method: &Method,
        id: Option<i64>,
        run: impl FnOnce(&mut Db) -> Result<(u16, Value), ApiError>,
    ) -> Result<(u16, Value), ApiError> {
        let result = {
            let mut db = db.write();
            let login_as = db.api_agent_id;
            let agent = self.agent.unwrap_or(login_as);
            db.api_agent_id = agent;
            let result = run(&mut db);
            db.api_agent_id = login_as;
            result.map(|r| (r, agent))
        };
        let ((status, body), agent) = result?;
        let id = id.or_else(|| body.get("id").and_then(Value::as_f64).map(|f| f as i64));
        self.shared.signin.lock().written.push(super::Written {
            tenant: self.tenant,
            agent,
            signed_in: self.agent.is_some(),
            resource: resource.to_owned(),
            method: method.to_string(),
            id,
        });
        Ok((status, body))
    }
}

fn collection(
    db: &RwLock<Db>,
    acting: &Acting<'_>,
    res: &'static resources::Resource,
    method: &Method,
    headers: &HeaderMap,
    p: &Params,
    body: &Bytes,
) -> Response {
    match *method {
        Method::GET => json_response(200, query::list(&db.read(), res, p)),
        Method::POST if !is_json(headers) => {
            // ASP.NET Core refuses a body it has no formatter for before any Halo code runs.
            json_response(
                415,
                json!({
                    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.16",
                    "title": "Unsupported Media Type",
                    "status": 415,
                }),
            )
        }
        // Running report SQL (`_loadreportonly` / `_testonly`) saves nothing: it takes the
        // read lock and the read-only engine, so no statement a client sends can write.
        Method::POST if res.name == "Report" && reports::is_run_request(body) => {
            match reports::run_post(&db.read(), body) {
                Ok((status, body)) => json_response(status, body),
                Err(e) => error_response(e),
            }
        }
        Method::POST => match acting.write(db, res.name, method, None, |db| {
            writes::post(db, res, body, clock::now_ticks())
        }) {
            Ok((status, body)) => json_response(status, body),
            Err(e) => error_response(e),
        },
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// `application/json`, `text/json`, `application/*+json` (the types SW24 lists), with or
/// without a charset.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|ct| ct == "application/json" || ct == "text/json" || ct.ends_with("+json"))
}

fn member(
    db: &RwLock<Db>,
    acting: &Acting<'_>,
    res: &'static resources::Resource,
    id: &str,
    method: &Method,
    p: &Params,
) -> Response {
    if res.name == "Agent" && id.eq_ignore_ascii_case("me") && *method == Method::GET {
        let db = db.read();
        let me = acting.agent.unwrap_or(db.api_agent_id);
        return match db.get("Agent", me) {
            Some(agent) => json_response(200, agent.clone()),
            None => not_found_route(),
        };
    }
    // ToDo has no /{id} routes at all; a non-integer id does not match Halo's `{id}` route,
    // except where the id is a guid (Priority, Holiday), which names the record instead.
    let id = if res.guid {
        db.read().key_of_guid(res, id)
    } else {
        query::parse_id(id)
    };
    let Some(id) = id.filter(|_| res.by_id) else {
        return not_found_route();
    };
    let result = match *method {
        Method::GET if res.name == "Report" => reports::get(&db.read(), res, id, p),
        Method::GET => query::get_one(&db.read(), res, id, p),
        Method::DELETE => acting
            .write(db, res.name, method, Some(id), |db| {
                writes::delete(db, res, id, p, clock::now_ticks()).map(|v| (200, v))
            })
            .map(|(_, v)| v),
        _ => Err(ApiError::MethodNotAllowed),
    };
    match result {
        Ok(body) => json_response(200, body),
        Err(e) => error_response(e),
    }
}

fn authinfo(s: &Shared, headers: &HeaderMap) -> Response {
    let base = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| s.base_url.clone());
    let tenant = s
        .config
        .tenant
        .clone()
        .unwrap_or_else(|| "halo-sim".to_string());
    json_response(
        200,
        json!({ "auth_url": format!("{base}/auth"), "tenant_id": tenant }),
    )
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub(crate) fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'+' {
                out.push(b' ');
                i += 1;
                continue;
            }
            if b == b'%'
                && let Some(v) = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(b);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// OAuth error body in OpenIddict's shape (halo-api.md §1.3, §6.2).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// `POST /auth/token`. Client credentials: the token goes to the first tenant whose credentials
/// match and whose `?tenant=` requirement (if any) the request meets. The authorization-code
/// and refresh-token grants of an agent's sign-in are [`super::signin`]'s.
fn token(
    s: &Shared,
    method: &Method,
    headers: &HeaderMap,
    query: &Params,
    body: &Bytes,
) -> Response {
    if *method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    // `tenant` rides on the token URL's query string for hosted multi-tenant Halo, which routes
    // on it before reading the body: a request no tenant can be reached with fails first.
    let asked = query.get("tenant");
    if !s.tenants.iter().any(|t| reachable(t, asked)) {
        return bad_tenant();
    }
    let form_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form_ct {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The specified 'Content-Type' header is invalid.",
        );
    }
    let form = Params::new(form_pairs(body));
    match form.get("grant_type") {
        None | Some("") => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The mandatory 'grant_type' parameter is missing.",
        ),
        Some("client_credentials") => client_credentials(s, &form, asked),
        Some("authorization_code") => super::signin::redeem_code(s, &form),
        Some("refresh_token") => super::signin::refresh(s, &form),
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The specified 'grant_type' is not supported.",
        ),
    }
}

/// Whether a tenant can be reached with the `?tenant=` the token request carried.
fn reachable(t: &Tenant, asked: Option<&str>) -> bool {
    t.tenant.as_deref().is_none_or(|want| asked == Some(want))
}

fn bad_tenant() -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "The specified 'tenant' parameter is missing or invalid.",
    )
}

/// The client-credentials grant: the credentials pick the tenant, the scopes must be granted
/// to its application (as OpenIddict refuses), and the token answer is never cached.
fn client_credentials(s: &Shared, form: &Params, asked: Option<&str>) -> Response {
    let (id, secret) = (form.get("client_id"), form.get("client_secret"));
    let mut matching = s.tenants.iter().enumerate().filter(|(_, t)| {
        id == Some(t.client_id.as_str()) && secret == Some(t.client_secret.as_str())
    });
    let tenant = match matching.clone().find(|(_, t)| reachable(t, asked)) {
        Some((i, _)) => i,
        // Right credentials, wrong (or missing) tenant for them.
        None if matching.next().is_some() => return bad_tenant(),
        None => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The specified client credentials are invalid.",
            );
        }
    };
    let scope = form
        .get("scope")
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .unwrap_or("all")
        .to_string();
    // OpenIddict refuses a scope the application has no permission for.
    let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
    let refused = s
        .tenants
        .get(tenant)
        .and_then(|t| scopes.iter().find(|x| !t.permissions.grants(x)));
    if let Some(refused) = refused {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("This client application is not allowed to use the scope '{refused}'."),
        );
    }
    let (access_token, lifetime) = s.issue_token(tenant, scopes);
    let mut resp = (
        StatusCode::OK,
        axum::Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "scope": scope,
        })),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
