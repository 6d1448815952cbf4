//! The error bodies Halo answers with, in one place.
//!
//! Halo runs on ASP.NET Core, so malformed bodies get the framework's `ValidationProblemDetails`
//! JSON, while Halo's own business rules answer with a JSON *string* carrying a code such as
//! `"CODE:APP03/2 Please select the CAB members to approve"` (halo-api.md §6.2). The rule codes
//! the simulator uses (TK01, DB01, …) are invented in that style; only the shape is Halo's.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 400, ASP.NET `ValidationProblemDetails`: `(json path, message)` pairs.
    Validation(Vec<(String, String)>),
    /// 400, a JSON string such as `"CODE:TK01 Please supply a summary"`.
    Rule(String),
    /// 404 with a short JSON message.
    NotFound(String),
    /// 405: the verb does not exist on this path (e.g. DELETE /Timesheet/{id}).
    MethodNotAllowed,
}

impl ApiError {
    pub(crate) fn validation(path: impl Into<String>, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![(path.into(), msg.into())])
    }

    pub(crate) fn rule(code: &str, msg: impl std::fmt::Display) -> Self {
        ApiError::Rule(format!("CODE:{code} {msg}"))
    }

    /// HTTP status and JSON body (`None`: empty body).
    pub(crate) fn parts(&self) -> (u16, Option<Value>) {
        match self {
            ApiError::Validation(errors) => {
                let mut map = Map::new();
                for (path, msg) in errors {
                    let entry = map.entry(path.clone()).or_insert_with(|| json!([]));
                    if let Value::Array(a) = entry {
                        a.push(Value::String(msg.clone()));
                    }
                }
                (
                    400,
                    Some(json!({
                        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                        "title": "One or more validation errors occurred.",
                        "status": 400,
                        "errors": map,
                        "traceId": "00-5c1d3b0e8a4f4e2f9d6b7a1c2e3f4a5b-9e8d7c6b5a4f3e2d-00"
                    })),
                )
            }
            ApiError::Rule(s) => (400, Some(Value::String(s.clone()))),
            // Guess: Halo's 404 body is unverified (halo-api.md §6.2); a short JSON message.
            ApiError::NotFound(msg) => (404, Some(json!({ "message": msg }))),
            ApiError::MethodNotAllowed => (405, None),
        }
    }
}
