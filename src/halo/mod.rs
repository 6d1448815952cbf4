//! The one Halo API client every session and tool shares.
//!
//! It knows Halo, not MCP: paths, tokens, list envelopes, array POST bodies and error shapes.
//! Quirks handled here, each in one place:
//! - POST bodies are always JSON arrays, even for one record ([`HaloClient::post`]);
//! - a single posted record comes back as a single object (201), several as an array;
//! - list bodies are a bare array or an envelope object ([`envelope::parse_list`]);
//! - a 401 from the API means the token died early: refresh once and retry once;
//! - lists page with Halo's own spelling, `pageinate=true`.

pub mod auth;
pub mod budget;
pub mod envelope;
pub mod error;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use reqwest::Method;
use serde_json::Value;

pub use auth::TokenStatus;
pub use budget::{BudgetStatus, RateLimit};
pub use envelope::ListPage;
pub use error::HaloError;

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
    /// Halo's rate limit, as this server should respect it.
    pub rate_limit: RateLimit,
    /// Longest a request waits for the rate budget before failing.
    pub rate_wait: Duration,
}

/// A cheap, clonable handle; clones share tokens and counters.
#[derive(Clone)]
pub struct HaloClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    cfg: HaloConfig,
    tokens: auth::TokenCache,
    budget: Arc<budget::RateBudget>,
    requests: AtomicU64,
}

/// What `halo_status` shows about the connection. Never the secret or the token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionStatus {
    pub base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub client_id: String,
    pub token: TokenStatus,
    /// The rolling-window budget shared by every session on this tenant.
    pub rate_budget: BudgetStatus,
    /// API requests sent since start (token requests not counted).
    pub requests: u64,
}

/// Installs the TLS crypto provider once per process (reqwest is built without a default one,
/// so the smaller `ring` backend is used).
fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl HaloClient {
    pub fn new(cfg: HaloConfig) -> Result<HaloClient, HaloError> {
        install_crypto();
        let http = reqwest::Client::builder()
            .user_agent(concat!("halo-mcp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| HaloError::Connect {
                host: cfg.base_url.clone(),
                detail: format!("cannot build the HTTP client: {}", root_cause(&e)),
            })?;
        let tenant_key = format!("{}|{}", cfg.base_url, cfg.tenant.as_deref().unwrap_or(""));
        let budget = budget::RateBudget::for_tenant(&tenant_key, cfg.rate_limit, cfg.rate_wait);
        Ok(HaloClient {
            inner: Arc::new(Inner {
                http,
                cfg,
                tokens: auth::TokenCache::default(),
                budget,
                requests: AtomicU64::new(0),
            }),
        })
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
            token: self.inner.tokens.status(),
            rate_budget: self.inner.budget.status(),
            requests: self.inner.requests.load(Ordering::Relaxed),
        }
    }

    /// `GET /api{path}`.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, HaloError> {
        self.send(Method::GET, path, query, None).await
    }

    /// `GET /api{path}` read as a list (bare array or envelope under `key`).
    pub async fn list(
        &self,
        path: &str,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> Result<ListPage, HaloError> {
        let body = self.send(Method::GET, path, query, None).await?;
        envelope::parse_list(body, key).map_err(|detail| HaloError::Decode {
            method: "GET".into(),
            path: path.to_owned(),
            detail,
        })
    }

    /// `POST /api{path}` with `[record]`: Halo creates when the record has no `id` and updates
    /// when it has one. Returns the saved record.
    pub async fn post(&self, path: &str, record: &Value) -> Result<Value, HaloError> {
        let body = Value::Array(vec![record.clone()]);
        let saved = self.send(Method::POST, path, &[], Some(&body)).await?;
        Ok(match saved {
            // Several records posted come back as an array; one comes back as an object, but
            // accept a one-element array too.
            Value::Array(mut items) if items.len() == 1 => items.remove(0),
            other => other,
        })
    }

    /// `POST /api{path}` with an arbitrary body (already an array where Halo wants one).
    pub async fn post_raw(&self, path: &str, body: &Value) -> Result<Value, HaloError> {
        self.send(Method::POST, path, &[], Some(body)).await
    }

    /// `DELETE /api{path}`.
    pub async fn delete(&self, path: &str, query: &[(String, String)]) -> Result<Value, HaloError> {
        self.send(Method::DELETE, path, query, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, HaloError> {
        let inner = &self.inner;
        let url = format!("{}/api{}", inner.cfg.base_url, path);
        let mut refreshed = false;
        loop {
            let (token, generation) = inner.tokens.bearer(&inner.http, &inner.cfg).await?;
            let mut request = inner
                .http
                .request(method.clone(), &url)
                .query(query)
                .bearer_auth(token.expose())
                .timeout(inner.cfg.timeout);
            if let Some(b) = body {
                request = request.json(b);
            }
            // The permit lives until the whole answer is read: see budget.rs on why.
            let _permit = inner
                .budget
                .acquire()
                .await
                .map_err(HaloError::BudgetExhausted)?;
            inner.requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%method, path, "halo request");
            let response = request
                .send()
                .await
                .map_err(|e| transport_error(e, method.as_str(), path, &inner.cfg))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
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
    HaloError::Connect {
        host: cfg.base_url.clone(),
        detail: root_cause(&e),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
