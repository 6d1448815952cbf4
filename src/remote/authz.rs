//! What both authorisation servers here share: the OAuth proxy (`oauth`, `MCP_AUTH=oauth`) and
//! the Halo sign-in server (`halo_signin`, `MCP_AUTH=halo`). One implementation each of the
//! rules that must not drift apart between them: PKCE S256 checks, which redirect URIs a client
//! may register, how registrations are counted per source, the error shape, random tokens, and
//! a clock tests can move instead of sleeping.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv6Addr},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use parking_lot::Mutex;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

/// An OAuth error, as RFC 6749 §5.2 words it.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub(crate) fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
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

pub(crate) fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(400, "invalid_grant", description)
}

/// A clock: the system's, plus an offset that tests move forward instead of sleeping.
#[derive(Default)]
pub(crate) struct Clock {
    pub(crate) offset: Mutex<Duration>,
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        let now = Instant::now();
        now.checked_add(*self.offset.lock()).unwrap_or(now)
    }

    /// Moves the clock forward (tests: lifetimes without sleeping).
    #[cfg(test)]
    pub(crate) fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock();
        *offset += by;
    }
}

/// `now + d`, saturating (a lifetime configured absurdly long must not overflow).
pub(crate) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

pub(crate) fn digest(s: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .to_vec()
}

/// S256: base64url(SHA-256(verifier)) without padding.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(verifier))
}

/// RFC 7636 §4.1: 43–128 characters of [A-Z a-z 0-9 - . _ ~].
pub(crate) fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` proves `challenge` (S256).
pub(crate) fn pkce_holds(verifier: &str, challenge: &str) -> bool {
    valid_verifier(verifier)
        && crate::secret::same_bytes(s256(verifier).as_bytes(), challenge.as_bytes())
}

/// Redirect URIs a client may register: https anywhere, http only on loopback.
pub(crate) fn acceptable_redirect(uri: &str) -> bool {
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

/// The `redirect_uris` of an RFC 7591 registration request, checked: 1 to 10, each one a
/// redirect a client may register.
pub(crate) fn registered_redirects(request: &Value) -> Result<Vec<String>, OAuthError> {
    let uris: Vec<String> = request
        .get("redirect_uris")
        .and_then(Value::as_array)
        .ok_or_else(|| OAuthError::new(400, "invalid_redirect_uri", "redirect_uris is required"))?
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
            // Quoted: a URI refused for its length is not echoed whole.
            format!(
                "{} is not allowed: use https, or http on 127.0.0.1/localhost",
                crate::text::quote(u)
            ),
        ));
    }
    let bad = |why: &str| OAuthError::new(400, "invalid_client_metadata", why);
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
    Ok(uris)
}

/// The source a registration is counted against: an IPv4 address, or the /64 of an IPv6 one
/// (a single host is commonly given a whole /64, so counting addresses would not bound it).
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 32 random bytes, base64url: for codes, tokens and generated ids.
pub(crate) fn random(rng: &SystemRandom) -> Result<String, OAuthError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|_| OAuthError::new(500, "server_error", "no randomness available"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A registration's `client_name`, cut to 200 characters: it is only shown back, and a client
/// must not make the server keep an unbounded string.
pub(crate) fn client_name(request: &Value) -> Option<String> {
    request
        .get("client_name")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(200).collect())
}

/// The registration response (RFC 7591 §3.2.1). Both servers answer with the same fields, so
/// that a client sees one shape whichever mode (and store) the operator chose.
pub(crate) fn registration_response(
    client_id: &str,
    uris: &[String],
    client_name: Option<&str>,
    method: &str,
) -> Value {
    json!({
        "client_id": client_id,
        "client_id_issued_at": now_secs(),
        "redirect_uris": uris,
        "client_name": client_name,
        "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    })
}

/// The token response (RFC 6749 §5.1) to an exchange or a refresh, the same from both servers
/// and both stores.
pub(crate) fn token_answer(access: &str, refresh: &str, lifetime: Duration) -> Value {
    json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "refresh_token": refresh,
    })
}

/// Makes room for one more entry in `map`: while it holds `cap` or more, drops the entry
/// `rank` ranks lowest (the least valuable: oldest, unused longest). Every map the
/// authorisation servers keep goes through this or a stricter rule, so no flood grows memory.
pub(crate) fn make_room<K: Clone + Eq + std::hash::Hash, V, R: Ord>(
    map: &mut std::collections::HashMap<K, V>,
    cap: usize,
    rank: impl Fn(&V) -> R,
) {
    while map.len() >= cap.max(1) {
        let victim = map
            .iter()
            .min_by_key(|(_, v)| rank(v))
            .map(|(k, _)| k.clone());
        match victim {
            Some(k) => {
                map.remove(&k);
            }
            None => break,
        }
    }
}

/// Drops the tokens a revoked grant issued (its access tokens, its current refresh token and the
/// refresh tokens it spent), and turns its code's marker grantless (`code_grant`, when it still
/// names grant `id`) so a later replay of the code is still answered "already used".
pub(crate) fn revoke_tokens<A, R>(
    access: &mut HashMap<String, A>,
    refresh: &mut HashMap<String, R>,
    issued: &VecDeque<String>,
    current: &str,
    spent: &VecDeque<String>,
    code_grant: Option<&mut Option<u64>>,
    id: u64,
) {
    for token in issued {
        access.remove(token);
    }
    refresh.remove(current);
    for token in spent {
        refresh.remove(token);
    }
    if let Some(grant) = code_grant
        && *grant == Some(id)
    {
        *grant = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_is_base64url_sha256() {
        // Computed independently with Python's hashlib and base64.urlsafe_b64encode.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjpmjm0"),
            "VGt39TRYq23Rifq01mBZYeHBYopovOQdnzDLRMEipa8"
        );
        assert!(pkce_holds(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjpmjm0",
            "VGt39TRYq23Rifq01mBZYeHBYopovOQdnzDLRMEipa8"
        ));
        assert!(!pkce_holds(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjpmjm1",
            "VGt39TRYq23Rifq01mBZYeHBYopovOQdnzDLRMEipa8"
        ));
        assert!(!pkce_holds("short", &s256("short")));
    }

    #[test]
    fn make_room_drops_the_lowest_ranked() {
        let mut m: std::collections::HashMap<u32, u32> = (0..5).map(|i| (i, 10 - i)).collect();
        make_room(&mut m, 3, |v| *v);
        assert_eq!(m.len(), 2);
        assert!(m.contains_key(&0) && m.contains_key(&1));
    }
}
