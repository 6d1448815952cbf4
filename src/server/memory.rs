//! A tree session's place, kept where another replica can find it.
//!
//! Dispatch and flat sessions hold nothing between calls; a tree session holds its current
//! domain. With shared state in Redis, the HTTP layer puts a [`SessionMemory`] in each
//! request's extensions; the handler writes the domain there when it changes, and reads it
//! back when rmcp re-creates the session on a replica that had never seen it (or after a
//! restart), so the session continues where it was. Without it (stdio, memory state) nothing
//! is written anywhere.

use std::{sync::Arc, time::Duration};

use rmcp::{
    RoleServer, service::RequestContext,
    transport::streamable_http_server::session::SessionRestoreMarker,
};

use crate::state::RedisState;

/// Where sessions are remembered, and for how long after their last request.
#[derive(Clone)]
pub struct SessionMemory {
    pub redis: Arc<RedisState>,
    pub idle: Duration,
}

/// The hash field holding a tree session's domain.
const DOMAIN_FIELD: &str = "domain";

impl SessionMemory {
    /// The key of a session's record; the session layer stores the rest of it under the same
    /// key.
    pub fn key(&self, session_id: &str) -> String {
        self.redis.key(&format!("session:{session_id}"))
    }

    async fn save_domain(&self, session_id: &str, domain: Option<&str>) {
        let key = self.key(session_id);
        // An empty value is "at the menu"; the record keeps its other fields.
        if let Err(e) = self
            .redis
            .set_field(&key, DOMAIN_FIELD, domain.unwrap_or(""), self.idle)
            .await
        {
            tracing::warn!(
                error = %e,
                "could not remember the session's domain in Redis; another replica would \
                 resume it at the menu"
            );
        }
    }

    async fn load_domain(&self, session_id: &str) -> Option<String> {
        match self
            .redis
            .get_field(&self.key(session_id), DOMAIN_FIELD)
            .await
        {
            Ok(d) => d.filter(|d| !d.is_empty()),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the session's domain from Redis");
                None
            }
        }
    }
}

fn parts(context: &RequestContext<RoleServer>) -> Option<&http::request::Parts> {
    context.extensions.get::<http::request::Parts>()
}

/// The memory and session id of a request, when sessions are remembered.
fn of(context: &RequestContext<RoleServer>) -> Option<(SessionMemory, String)> {
    let parts = parts(context)?;
    let memory = parts.extensions.get::<SessionMemory>()?.clone();
    let id = parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())?
        .to_owned();
    Some((memory, id))
}

/// Remembers the session's new domain (`None`: back at the menu).
pub async fn remember(context: &RequestContext<RoleServer>, domain: Option<&str>) {
    if let Some((memory, id)) = of(context) {
        memory.save_domain(&id, domain).await;
    }
}

/// When rmcp is re-creating a known session on this replica: the domain it was in.
pub async fn recall(context: &RequestContext<RoleServer>) -> Option<String> {
    let marker = context.extensions.get::<SessionRestoreMarker>()?;
    let memory = parts(context)?.extensions.get::<SessionMemory>()?.clone();
    memory.load_domain(marker.id.as_ref()).await
}
