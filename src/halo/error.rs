//! Halo failures turned into sentences a person (or a model) can act on.
//!
//! Halo's error bodies come in several shapes (a JSON string with a `CODE:` prefix, ASP.NET
//! validation problems, `{"[0].id": ...}` model-state maps, `{Message}`, OAuth `{error,
//! error_description}`); [`readable_body`] folds them all into one line. No variant carries a
//! secret: credentials and tokens are never part of a URL, a body we echo, or a message.

use std::time::Duration;

use serde_json::Value;

/// Longest excerpt of a Halo error body that is quoted back.
const MAX_QUOTE: usize = 500;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum HaloError {
    /// The token endpoint refused the credentials or the request.
    #[error(
        "Halo refused the API credentials ({code}: {detail}). Check HALO_CLIENT_ID, \
         HALO_CLIENT_SECRET{tenant_hint}; the API application must use \"Client ID and Secret \
         (Services)\" authentication"
    )]
    Auth {
        code: String,
        detail: String,
        tenant_hint: String,
    },
    /// The token endpoint refused the requested scope: the application lacks that permission.
    #[error(
        "Halo refused the scope `{scope}` ({detail}): the API application does not have that \
         permission. Tick it under Configuration > Integrations > Halo API > your application \
         > Permissions, or set HALO_SCOPE to permissions the application has (for example \
         `read:tickets edit:tickets read:customers`)"
    )]
    Scope { scope: String, detail: String },
    /// An agent's Halo sign-in (`MCP_AUTH=halo`) can no longer be renewed: Halo refused its
    /// refresh token (spent, revoked or expired). Nothing was sent to the API.
    #[error(
        "your Halo sign-in has ended ({detail}); nothing was sent to Halo. Sign in again: the \
         MCP client will open Halo's sign-in page"
    )]
    SignInEnded { detail: String },
    /// The token endpoint answered something that is not a token.
    #[error("Halo's token endpoint {url} answered HTTP {status}: {detail}")]
    TokenEndpoint {
        url: String,
        status: u16,
        detail: String,
    },
    /// The token request got no answer (timed out, or the connection broke). Nothing was sent
    /// to the API: the token comes first.
    #[error("Halo's token endpoint {url} did not answer: {detail}")]
    TokenUnreachable { url: String, detail: String },
    /// 401 from the API even with a freshly issued token.
    #[error(
        "Halo answered 401 Unauthorized for {method} {path} even with a fresh token: the API \
         application may be disabled or its login-as agent inactive"
    )]
    Unauthorized { method: String, path: String },
    #[error(
        "Halo refused {method} {path} (403 Forbidden). The API application needs the \
         `{scope}` permission (or `all`), and its login-as agent needs access to this area: \
         Configuration > Integrations > Halo API > your application{detail}"
    )]
    Forbidden {
        method: String,
        path: String,
        scope: String,
        detail: String,
    },
    #[error("Halo has no record at {path} (404 Not Found)")]
    NotFound { method: String, path: String },
    #[error("Halo rejected {method} {path} (400): {message}")]
    BadRequest {
        method: String,
        path: String,
        message: String,
    },
    /// Our own budget would have to wait longer than allowed.
    #[error("{0}")]
    BudgetExhausted(#[from] super::budget::BudgetExhausted),
    #[error("Halo's rate limit was reached (429){}", retry_hint(*retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error(
        "Halo's rate limit was reached (429) and {retries} retries did not get through{}",
        retry_hint(*retry_after)
    )]
    StillRateLimited {
        retries: u32,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    CircuitOpen(#[from] super::breaker::CircuitOpen),
    /// A write failed in a way that does not tell whether Halo applied it.
    #[error(
        "the write may or may not have been applied: {method} {path} failed after it was sent \
         ({cause})"
    )]
    WriteUncertain {
        method: String,
        path: String,
        cause: String,
    },
    /// A write that never reached Halo's API (no token, or no connection): nothing was applied,
    /// so repeating it is safe.
    #[error(
        "the write was not applied (not {not_done}): {method} {path} never reached Halo's API \
         ({cause}); nothing changed in Halo, so it is safe to try again"
    )]
    WriteNotSent {
        method: String,
        path: String,
        /// "created or updated", "deleted".
        not_done: String,
        cause: String,
    },
    /// The connection broke after the request was sent (reset, closed mid-answer).
    #[error("the connection to Halo broke during {method} {path}: {detail}")]
    Transport {
        method: String,
        path: String,
        detail: String,
    },
    #[error("Halo failed on {method} {path} (HTTP {status}): {message}")]
    Server {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("Halo answered HTTP {status} for {method} {path}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("Halo did not answer {method} {path} within {} s (timeout)", after.as_secs_f32())]
    Timeout {
        method: String,
        path: String,
        after: Duration,
    },
    #[error("cannot reach Halo at {host}: {detail}")]
    Connect { host: String, detail: String },
    #[error("Halo's answer to {method} {path} could not be read: {detail}")]
    Decode {
        method: String,
        path: String,
        detail: String,
    },
    /// A request whose path is not exactly one API resource path; refused before sending.
    #[error("refused to send a request for the API path {path}: {why}")]
    UnsafePath { path: String, why: String },
}

fn retry_hint(after: Option<Duration>) -> String {
    match after {
        Some(d) => format!("; Halo asks to retry after {} s", d.as_secs()),
        None => String::new(),
    }
}

impl HaloError {
    /// True when the error proves the request never reached Halo's API: the token could not be
    /// had, or the connection was never made.
    pub fn never_sent(&self) -> bool {
        matches!(
            self,
            HaloError::Auth { .. }
                | HaloError::SignInEnded { .. }
                | HaloError::Scope { .. }
                | HaloError::TokenEndpoint { .. }
                | HaloError::TokenUnreachable { .. }
                | HaloError::Connect { .. }
                | HaloError::BudgetExhausted(_)
                | HaloError::CircuitOpen(_)
                | HaloError::WriteNotSent { .. }
        )
    }

    /// What this error says about Halo's health, for the circuit breaker.
    pub fn health(&self) -> super::breaker::Outcome {
        use super::breaker::Outcome;
        match self {
            HaloError::Server { .. }
            | HaloError::Timeout { .. }
            | HaloError::Connect { .. }
            | HaloError::Transport { .. }
            | HaloError::Decode { .. }
            | HaloError::TokenUnreachable { .. }
            | HaloError::WriteUncertain { .. } => Outcome::Failed,
            HaloError::TokenEndpoint { status, .. } if *status >= 500 => Outcome::Failed,
            // Judged by its cause where it is made (`execute`).
            HaloError::BudgetExhausted(_)
            | HaloError::CircuitOpen(_)
            | HaloError::UnsafePath { .. }
            | HaloError::WriteNotSent { .. } => Outcome::Neutral,
            _ => Outcome::Healthy,
        }
    }

    /// The HTTP status Halo answered, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            HaloError::Unauthorized { .. } => Some(401),
            HaloError::Forbidden { .. } => Some(403),
            HaloError::NotFound { .. } => Some(404),
            HaloError::BadRequest { .. } => Some(400),
            HaloError::RateLimited { .. } | HaloError::StillRateLimited { .. } => Some(429),
            HaloError::Server { status, .. }
            | HaloError::Http { status, .. }
            | HaloError::TokenEndpoint { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The area of Halo's permission scopes (`read:<area>` / `edit:<area>`) that covers an API
/// path such as `/Invoice/12`, or `None` for configuration and other resources no area names
/// (those need `admin` or `all`). Halo's scope names: halo-api.md §1.2.
pub fn scope_area(path: &str) -> Option<&'static str> {
    let first = path
        .trim_start_matches('/')
        .trim_start_matches("api/")
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some(match first.as_str() {
        "tickets" | "actions" | "attachment" | "feedback" | "tickettype" | "status"
        | "category" | "outcome" | "priority" | "sla" | "ticketrules" | "workflow" => "tickets",
        "client" | "site" | "users" | "toplevel" | "organisation" => "customers",
        "asset" | "assettype" | "assetgroup" => "assets",
        "invoice" | "recurringinvoice" => "invoices",
        "clientcontract" => "contracts",
        "quotation" => "quotes",
        "salesorder" => "sos",
        "purchaseorder" => "pos",
        "supplier" => "suppliers",
        "item" => "items",
        "projects" => "projects",
        "opportunities" | "crmnote" => "crm",
        "timesheet" | "timesheetevent" => "timesheets",
        "appointment" | "todo" | "holiday" => "calendar",
        "kbarticle" | "cannedtext" => "kb",
        "report" => "reporting",
        "softwarelicence" => "softwarelicensing",
        _ => return None,
    })
}

/// Whether granted scopes (as a token carries them) allow a method on an area (`None`: a
/// resource no area names). `all`, `all:standard` and `admin` allow everything; otherwise a
/// read needs `read:<area>` or `edit:<area>`, a write needs `edit:<area>`. Resources outside
/// the areas are not limited by scope here: what they need is unverified, so the agent's
/// permissions decide.
pub fn scopes_allow<S: AsRef<str>>(granted: &[S], method: &str, area: Option<&str>) -> bool {
    let has = |want: &str| {
        granted
            .iter()
            .any(|g| g.as_ref().eq_ignore_ascii_case(want))
    };
    if has("all") || has("all:standard") || has("admin") {
        return true;
    }
    let Some(area) = area else {
        return true;
    };
    let edit = has(&format!("edit:{area}"));
    if method.eq_ignore_ascii_case("GET") {
        edit || has(&format!("read:{area}"))
    } else {
        edit
    }
}

/// The Halo permission that most likely covers a path, for 403 messages.
pub fn likely_scope(method: &str, path: &str) -> String {
    let Some(area) = scope_area(path) else {
        return "admin".into();
    };
    let mode = if method.eq_ignore_ascii_case("GET") {
        "read"
    } else {
        "edit"
    };
    format!("{mode}:{area}")
}

/// One readable line from a Halo error body, whatever its shape.
pub fn readable_body(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "no details given".into();
    }
    let text = match serde_json::from_str::<Value>(trimmed) {
        Ok(json) => from_json(&json).unwrap_or_else(|| json.to_string()),
        Err(_) => trimmed.to_owned(),
    };
    quote(&text)
}

fn quote(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_QUOTE {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX_QUOTE).collect();
        format!("{cut}…")
    }
}

fn from_json(json: &Value) -> Option<String> {
    match json {
        // `"CODE:APP03/2 Please select the CAB members to approve"`
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(from_json).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Value::Object(map) => {
            // ASP.NET ValidationProblemDetails: {"title": ..., "errors": {"[0].id": ["..."]}}
            if let Some(Value::Object(errors)) = map.get("errors") {
                let title = map.get("title").and_then(Value::as_str);
                let details = field_errors(errors);
                return Some(match (title, details.is_empty()) {
                    (Some(t), false) => format!("{t} {details}"),
                    (Some(t), true) => t.to_owned(),
                    (None, _) => details,
                });
            }
            // OAuth: {"error": "invalid_client", "error_description": "..."}
            if let Some(code) = map.get("error").and_then(Value::as_str) {
                return Some(match map.get("error_description").and_then(Value::as_str) {
                    Some(d) => format!("{code}: {d}"),
                    None => code.to_owned(),
                });
            }
            for key in [
                "errorMessage",
                "Message",
                "message",
                "error_description",
                "detail",
            ] {
                if let Some(s) = map.get(key).and_then(Value::as_str) {
                    return Some(s.to_owned());
                }
            }
            // Model-state maps: {"[0].id": "..."} or {"[0].summary": ["..."]}
            let details = field_errors(map);
            (!details.is_empty()).then_some(details)
        }
        _ => None,
    }
}

fn field_errors(map: &serde_json::Map<String, Value>) -> String {
    map.iter()
        .filter_map(|(field, v)| {
            let msg = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => return None,
            };
            (!msg.is_empty()).then(|| format!("{field}: {msg}"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_400_shape_reads() {
        assert_eq!(
            readable_body(r#""CODE:APP03/2 Please select the CAB members to approve""#),
            "CODE:APP03/2 Please select the CAB members to approve"
        );
        assert_eq!(
            readable_body(
                r#"{"type":"x","title":"One or more validation errors occurred.","status":400,"errors":{"[0].id":["The id is invalid."]}}"#
            ),
            "One or more validation errors occurred. [0].id: The id is invalid."
        );
        assert_eq!(readable_body(r#"{"[0].id": "Bad id"}"#), "[0].id: Bad id");
        assert_eq!(
            readable_body(r#"{"resultCode": 1, "errorMessage": "Nope"}"#),
            "Nope"
        );
        assert_eq!(
            readable_body(r#"{"ClassName": "X", "Message": "Boom"}"#),
            "Boom"
        );
        assert_eq!(
            readable_body(r#"{"error":"invalid_client","error_description":"bad secret"}"#),
            "invalid_client: bad secret"
        );
        assert_eq!(readable_body("plain   text\nbody"), "plain text body");
        assert_eq!(readable_body(""), "no details given");
        assert!(readable_body(&"x".repeat(2000)).ends_with('…'));
    }

    #[test]
    fn scopes_are_guessed_from_paths() {
        assert_eq!(likely_scope("GET", "/Tickets/5"), "read:tickets");
        assert_eq!(likely_scope("POST", "/Asset"), "edit:assets");
        assert_eq!(likely_scope("DELETE", "/Invoice/2"), "edit:invoices");
        assert_eq!(likely_scope("GET", "/Lookup"), "admin");
    }
}
