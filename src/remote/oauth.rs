//! The OAuth proxy: OAuth 2.1 for MCP clients in front of Halo's client-credentials grant.
//!
//! An MCP client (a claude.ai connector, say) is given the Halo API application's client id and
//! secret as its OAuth client credentials. It runs the standard Authorization Code + PKCE flow
//! against this server: `/authorize` approves at once (there is no user to ask: the credentials
//! are the authority) and redirects with a code; `/token` checks the code, the redirect URI and
//! the PKCE verifier, then exchanges the client id and secret with Halo's client-credentials
//! grant. Only if Halo accepts them does the client get an access token of ours, which maps to a
//! Halo client built with those credentials. The credentials are kept in memory only, for a
//! limited time (24 h by default), so refresh tokens can keep working; nothing is written to
//! disk or logged.
//!
//! Rules kept exactly:
//! - codes are single-use and live 60 s; a code used twice also revokes what the first use got;
//! - redirect URIs must match a registered one exactly: clients registered through RFC 7591
//!   registration have theirs; clients configured by hand (with the Halo credentials) may use
//!   the operator's allowed list (`MCP_OAUTH_REDIRECT_URIS`);
//! - PKCE is S256 only. A client that sends no challenge gets one made for it (documented): the
//!   server keeps the verifier, so such a client's code is still bound to the flow that asked.
//! - refresh tokens rotate: each works once.
//!
//! Registration extension: a registration request may carry `client_id`, naming the Halo
//! application it will authenticate as; its redirect URIs are then registered for that id.
//! Without it a random id is issued, and such a client must still present Halo credentials at
//! `/token` — this server has no other accounts.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use parking_lot::Mutex;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

use crate::{
    halo::{HaloClient, HaloConfig, HaloError},
    secret::Secret,
};

/// Settings of the proxy.
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
    /// Registrations kept at most (a guard against memory exhaustion).
    pub max_clients: usize,
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
        }
    }
}

/// An OAuth error, as RFC 6749 §5.2 words it.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

#[derive(Debug, Clone)]
struct Registered {
    redirect_uris: Vec<String>,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    /// The verifier, when the server made the challenge (the client sent none).
    injected_verifier: Option<String>,
    created: Instant,
}

/// Credentials a client proved with Halo, kept for refreshes.
struct Held {
    halo: HaloClient,
    secret_digest: Vec<u8>,
    expires: Instant,
}

#[derive(Clone)]
struct Access {
    client_id: String,
    halo: HaloClient,
    expires: Instant,
}

struct Refresh {
    client_id: String,
    expires: Instant,
}

/// A bearer token resolved to the Halo client it speaks for.
#[derive(Clone)]
pub struct Principal {
    /// Which OAuth client (the Halo application) it is.
    pub client_id: String,
    pub halo: HaloClient,
}

/// The proxy's state: all in memory.
pub struct OAuthStore {
    config: OAuthConfig,
    /// Halo connection settings without credentials; each client's credentials fill them in.
    template: HaloConfig,
    rng: SystemRandom,
    clients: Mutex<HashMap<String, Registered>>,
    codes: Mutex<HashMap<String, Code>>,
    /// Codes already used, with the access token they produced (revoked on reuse).
    used_codes: Mutex<HashMap<String, (Instant, Option<String>)>>,
    access: Mutex<HashMap<String, Access>>,
    refresh: Mutex<HashMap<String, Refresh>>,
    held: Mutex<HashMap<String, Held>>,
}

fn digest(s: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .to_vec()
}

/// S256: base64url(SHA-256(verifier)) without padding.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(verifier))
}

/// RFC 7636 §4.1: 43–128 characters of [A-Z a-z 0-9 - . _ ~].
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Redirect URIs a client may register: https anywhere, http only on loopback.
fn acceptable_redirect(uri: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(uri) else {
        return false;
    };
    if u.fragment().is_some() {
        return false;
    }
    match u.scheme() {
        "https" => u.host_str().is_some(),
        "http" => matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        // Native apps' private-use schemes (com.example.app:/callback).
        s => s.contains('.'),
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl OAuthStore {
    pub fn new(config: OAuthConfig, template: HaloConfig) -> Arc<OAuthStore> {
        Arc::new(OAuthStore {
            config,
            template,
            rng: SystemRandom::new(),
            clients: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            used_codes: Mutex::new(HashMap::new()),
            access: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// 32 random bytes, base64url: for codes, tokens and generated ids.
    fn random(&self) -> Result<String, OAuthError> {
        let mut bytes = [0u8; 32];
        self.rng
            .fill(&mut bytes)
            .map_err(|_| OAuthError::new(500, "server_error", "no randomness available"))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Drops what has expired.
    fn sweep(&self) {
        let now = Instant::now();
        let code_ttl = self.config.code_ttl;
        self.codes
            .lock()
            .retain(|_, c| now.duration_since(c.created) < code_ttl);
        self.used_codes
            .lock()
            .retain(|_, (at, _)| now.duration_since(*at) < code_ttl * 10);
        self.access.lock().retain(|_, a| a.expires > now);
        self.refresh.lock().retain(|_, r| r.expires > now);
        self.held.lock().retain(|_, h| h.expires > now);
    }

    /// RFC 7591 registration.
    pub fn register(&self, request: &Value) -> Result<Value, OAuthError> {
        let bad = |why: &str| OAuthError::new(400, "invalid_client_metadata", why);
        let uris: Vec<String> = request
            .get("redirect_uris")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                OAuthError::new(400, "invalid_redirect_uri", "redirect_uris is required")
            })?
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                OAuthError::new(400, "invalid_redirect_uri", "redirect_uris must be strings")
            })?;
        if uris.is_empty() || uris.len() > 10 {
            return Err(OAuthError::new(
                400,
                "invalid_redirect_uri",
                "give 1 to 10 redirect_uris",
            ));
        }
        if let Some(u) = uris
            .iter()
            .find(|u| u.len() > 2000 || !acceptable_redirect(u))
        {
            return Err(OAuthError::new(
                400,
                "invalid_redirect_uri",
                format!("{u:?} is not allowed: use https, or http on 127.0.0.1/localhost"),
            ));
        }
        if let Some(g) = request.get("grant_types").and_then(Value::as_array)
            && !g.iter().any(|g| g == "authorization_code")
        {
            return Err(bad("grant_types must include authorization_code"));
        }
        if let Some(r) = request.get("response_types").and_then(Value::as_array)
            && r.iter().any(|r| r != "code")
        {
            return Err(bad("response_types may only be [\"code\"]"));
        }
        let method = request
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .unwrap_or("client_secret_post")
            .to_owned();
        if !["client_secret_post", "client_secret_basic", "none"].contains(&method.as_str()) {
            return Err(bad(
                "token_endpoint_auth_method must be client_secret_post, \
                            client_secret_basic or none",
            ));
        }
        let client_name = request
            .get("client_name")
            .and_then(Value::as_str)
            .map(|s| s.chars().take(200).collect::<String>());
        let client_id = match request.get("client_id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control) => {
                id.to_owned()
            }
            Some(_) => return Err(bad("client_id must be the Halo application's client id")),
            None => format!("hmcp-{}", self.random()?),
        };
        self.sweep();
        let mut clients = self.clients.lock();
        if let Some(existing) = clients.get(&client_id)
            && existing.redirect_uris != uris
        {
            return Err(bad("this client_id is registered with other redirect_uris"));
        }
        if clients.len() >= self.config.max_clients && !clients.contains_key(&client_id) {
            return Err(OAuthError::new(
                503,
                "temporarily_unavailable",
                "too many registrations",
            ));
        }
        let issued_at = now_secs();
        clients.insert(
            client_id.clone(),
            Registered {
                redirect_uris: uris.clone(),
            },
        );
        Ok(json!({
            "client_id": client_id,
            "client_id_issued_at": issued_at,
            "redirect_uris": uris,
            "client_name": client_name,
            "token_endpoint_auth_method": method,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
    }

    /// `/authorize`: checks the client and redirect URI (errors here are shown, never
    /// redirected), then the request (errors here go back to the client's redirect URI), and
    /// approves. Returns the URL to redirect to.
    pub fn authorize(&self, params: &HashMap<String, String>) -> Result<String, OAuthError> {
        self.sweep();
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let client_id = get("client_id")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "client_id is required"))?;
        let redirect_uri = get("redirect_uri")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "redirect_uri is required"))?;
        let registered = self.clients.lock().get(client_id).cloned();
        match &registered {
            Some(r) if !r.redirect_uris.iter().any(|u| u == redirect_uri) => {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    "redirect_uri does not match the client's registered redirect URIs",
                ));
            }
            Some(_) => {}
            None if self.config.redirect_uris.iter().any(|u| u == redirect_uri) => {}
            None => {
                return Err(OAuthError::new(
                    400,
                    "invalid_client",
                    "unknown client: register it first (POST /register), or use a redirect URI \
                     this server allows",
                ));
            }
        }
        // From here on, errors go back to the (now trusted) redirect URI.
        let state = get("state");
        let base = reqwest::Url::parse(redirect_uri)
            .map_err(|_| OAuthError::new(400, "invalid_request", "redirect_uri is not a URL"))?;
        let back = |error: &str, description: &str| -> String {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("error", error);
                q.append_pair("error_description", description);
                if let Some(s) = state {
                    q.append_pair("state", s);
                }
            }
            url.to_string()
        };
        if get("response_type") != Some("code") {
            return Ok(back("unsupported_response_type", "only response_type=code"));
        }
        let (challenge, injected_verifier) =
            match (get("code_challenge"), get("code_challenge_method")) {
                (Some(c), Some("S256")) if c.len() == 43 => (c.to_owned(), None),
                (Some(_), Some("S256")) => {
                    return Ok(back(
                        "invalid_request",
                        "code_challenge must be a base64url SHA-256",
                    ));
                }
                (Some(_), _) => {
                    return Ok(back(
                        "invalid_request",
                        "code_challenge_method must be S256",
                    ));
                }
                (None, _) => {
                    // The client sent no PKCE: make it here, keep the verifier (documented).
                    let verifier = self.random()?;
                    (s256(&verifier), Some(verifier))
                }
            };
        let code = self.random()?;
        self.codes.lock().insert(
            code.clone(),
            Code {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                challenge,
                injected_verifier,
                created: Instant::now(),
            },
        );
        let mut url = base;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("code", &code);
            if let Some(s) = state {
                q.append_pair("state", s);
            }
        }
        Ok(url.to_string())
    }

    fn issue(&self, client_id: &str, halo: HaloClient) -> Result<Value, OAuthError> {
        let access = self.random()?;
        let refresh = self.random()?;
        let now = Instant::now();
        let held_until = self
            .held
            .lock()
            .get(client_id)
            .map(|h| h.expires)
            .unwrap_or(now);
        self.access.lock().insert(
            access.clone(),
            Access {
                client_id: client_id.to_owned(),
                halo,
                expires: now + self.config.access_ttl,
            },
        );
        self.refresh.lock().insert(
            refresh.clone(),
            Refresh {
                client_id: client_id.to_owned(),
                expires: held_until,
            },
        );
        Ok(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.config.access_ttl.as_secs(),
            "refresh_token": refresh,
        }))
    }

    /// Proves the credentials with Halo (or reuses a recent proof) and keeps them.
    async fn prove(&self, client_id: &str, secret: &str) -> Result<HaloClient, OAuthError> {
        let wanted = digest(secret);
        if let Some(h) = self.held.lock().get(client_id)
            && h.expires > Instant::now()
            && crate::secret::same_bytes(&h.secret_digest, &wanted)
        {
            return Ok(h.halo.clone());
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
        self.held.lock().insert(
            client_id.to_owned(),
            Held {
                halo: halo.clone(),
                secret_digest: wanted,
                expires: Instant::now() + self.config.credential_ttl,
            },
        );
        Ok(halo)
    }

    /// `/token` with `grant_type=authorization_code`.
    pub async fn exchange_code(
        &self,
        form: &HashMap<String, String>,
        client: Option<(String, Option<String>)>,
    ) -> Result<Value, OAuthError> {
        self.sweep();
        let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let code = get("code")
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "code is required"))?;
        let (client_id, secret) = client.ok_or_else(|| {
            OAuthError::new(401, "invalid_client", "client authentication is required")
        })?;
        let record = self.codes.lock().remove(code);
        let Some(record) = record else {
            // Used before: revoke what the first use got (RFC 6749 §4.1.2).
            if let Some((_, Some(token))) = self.used_codes.lock().get(code).cloned() {
                self.access.lock().remove(&token);
                return Err(OAuthError::new(
                    400,
                    "invalid_grant",
                    "this code was already used",
                ));
            }
            return Err(OAuthError::new(
                400,
                "invalid_grant",
                "unknown or expired code",
            ));
        };
        self.used_codes
            .lock()
            .insert(code.to_owned(), (Instant::now(), None));
        if record.created.elapsed() >= self.config.code_ttl {
            return Err(OAuthError::new(
                400,
                "invalid_grant",
                "the code has expired",
            ));
        }
        if record.client_id != client_id {
            return Err(OAuthError::new(
                400,
                "invalid_grant",
                "the code was issued to another client",
            ));
        }
        if get("redirect_uri") != Some(record.redirect_uri.as_str()) {
            return Err(OAuthError::new(
                400,
                "invalid_grant",
                "redirect_uri does not match the one used to authorize",
            ));
        }
        let verifier = match (get("code_verifier"), &record.injected_verifier) {
            (Some(v), _) => v.to_owned(),
            (None, Some(injected)) => injected.clone(),
            (None, None) => {
                return Err(OAuthError::new(
                    400,
                    "invalid_grant",
                    "code_verifier is required",
                ));
            }
        };
        if !valid_verifier(&verifier) || s256(&verifier) != record.challenge {
            return Err(OAuthError::new(
                400,
                "invalid_grant",
                "PKCE verification failed",
            ));
        }
        let secret = secret.ok_or_else(|| {
            OAuthError::new(
                401,
                "invalid_client",
                "a client secret is required: the Halo API application's secret",
            )
        })?;
        let halo = self.prove(&client_id, &secret).await?;
        let tokens = self.issue(&client_id, halo)?;
        if let Some(t) = tokens.get("access_token").and_then(Value::as_str) {
            self.used_codes
                .lock()
                .insert(code.to_owned(), (Instant::now(), Some(t.to_owned())));
        }
        Ok(tokens)
    }

    /// `/token` with `grant_type=refresh_token`: rotates the refresh token.
    pub async fn refresh(
        &self,
        form: &HashMap<String, String>,
        client: Option<(String, Option<String>)>,
    ) -> Result<Value, OAuthError> {
        self.sweep();
        let token = form
            .get("refresh_token")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "refresh_token is required"))?;
        let record = self.refresh.lock().remove(token).ok_or_else(|| {
            OAuthError::new(
                400,
                "invalid_grant",
                "unknown, used or expired refresh token",
            )
        })?;
        if let Some((client_id, _)) = &client
            && *client_id != record.client_id
        {
            return Err(OAuthError::new(
                400,
                "invalid_grant",
                "the token was issued to another client",
            ));
        }
        let halo = self
            .held
            .lock()
            .get(&record.client_id)
            .filter(|h| h.expires > Instant::now())
            .map(|h| h.halo.clone())
            .ok_or_else(|| {
                OAuthError::new(
                    400,
                    "invalid_grant",
                    "the credentials expired: authorize again",
                )
            })?;
        self.issue(&record.client_id, halo)
    }

    /// The principal behind a bearer token.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        let access = self.access.lock();
        let a = access.get(token)?;
        (a.expires > Instant::now()).then(|| Principal {
            client_id: a.client_id.clone(),
            halo: a.halo.clone(),
        })
    }

    /// Registered clients (for status and tests).
    pub fn registered(&self) -> usize {
        self.clients.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
