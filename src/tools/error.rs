//! What can go wrong in a tool call, by kind.
//!
//! Every variant carries the sentence the assistant reads; the server turns any of them into an
//! MCP tool error (`isError: true` with that text) in one place, `server::tool_failure`. The
//! kind is for the code: a caller can tell a missing record from a Halo outage, or a write that
//! may have happened from one that did not, without matching on words.

use serde_json::Value;

use crate::{
    catalog::{CatalogError, Resource},
    halo::{Caching, HaloClient, HaloError},
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// An argument that cannot be used as given (wrong type, out of range, unknown, missing).
    #[error("{message}")]
    InvalidArgument {
        /// The argument, as the tool's schema names it.
        name: String,
        message: String,
    },
    /// The arguments together ask for something that cannot be done as asked (none of several
    /// alternatives given, a list too long to read whole).
    #[error("{0}")]
    BadRequest(String),
    /// The record named does not exist in Halo.
    #[error("{0}")]
    NotFound(String),
    /// Halo failed the request; its error says how (status, path, Halo's own message).
    #[error(transparent)]
    Halo(#[from] HaloError),
    /// Halo answered, but not with what the tool needed (a report it could not run, a save
    /// that came back under another id).
    #[error("{0}")]
    HaloAnswer(String),
    /// A write Halo did not confirm: it may or may not have been applied.
    #[error("{0}")]
    WriteUncertain(String),
    /// The tool exists but this server or session does not offer it (read-only, domains,
    /// another mode's tool), or it does not exist at all.
    #[error("{0}")]
    Unavailable(String),
    /// A mistake in this server rather than in the call (a built-in argument spec that does
    /// not parse, a resource missing from the catalogue); tests are there to keep it unseen.
    #[error("{0}")]
    Internal(String),
    /// The catalogue could not provide a domain or resource.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl ToolError {
    /// An argument that cannot be used; `message` names it for the reader.
    pub fn invalid(name: impl Into<String>, message: impl Into<String>) -> ToolError {
        ToolError::InvalidArgument {
            name: name.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ToolError {
        ToolError::BadRequest(message.into())
    }

    /// The sentence the assistant reads.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// "No ticket with id 7 in Halo (404). Use halo_tickets_list to find it.", with the parent
    /// record of a scoped resource when there is one.
    pub fn record_not_found(r: &Resource, id: &str, scope: Option<(&str, i64)>) -> ToolError {
        let scope_text = scope
            .map(|(name, v)| format!(" with {name} {v}"))
            .unwrap_or_default();
        ToolError::NotFound(format!(
            "No {} with id {id}{scope_text} in Halo (404). Use {} to find it.",
            r.singular,
            r.tool_name("list")
        ))
    }
}

/// Halo sometimes answers a missing record with an empty 200 instead of a 404.
pub fn is_empty_record(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// GET one record; `Ok(None)` when Halo says it does not exist, by a 404 or by an empty 200.
/// The one place a tool reads "missing" out of Halo's answers: the caller decides whether a
/// missing record is an error (get, update, overviews) or a line in the answer (batch gets).
pub async fn get_record(
    halo: &HaloClient,
    path: &str,
    query: &[(String, String)],
    caching: Caching,
) -> Result<Option<Value>, HaloError> {
    match halo.get(path, query, caching).await {
        Ok(v) if is_empty_record(&v) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(HaloError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind is for the code; the reader sees the same sentence whatever the kind.
    #[test]
    fn every_kind_reads_as_its_message() {
        let invalid = ToolError::invalid("id", "`id` must be a positive integer (got 0)");
        assert_eq!(invalid.message(), "`id` must be a positive integer (got 0)");
        assert!(matches!(&invalid, ToolError::InvalidArgument { name, .. } if name == "id"));
        let halo = HaloError::Decode {
            method: "GET".into(),
            path: "/Tickets".into(),
            detail: "expected a list".into(),
        };
        assert_eq!(ToolError::from(halo.clone()).message(), halo.to_string());
        assert_eq!(
            ToolError::bad_request("give `serial`").message(),
            "give `serial`"
        );
    }
}
