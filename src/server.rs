//! The MCP handler: a decision tree over the catalogue.
//!
//! A session starts with three tools (`halo_navigate`, `halo_status`, `halo_back`).
//! `halo_navigate(domain)` swaps that domain's tools in, tells the client with
//! `notifications/tools/list_changed` before answering, and answers with the tools now available.
//! Each connection gets its own handler value (its own place in the tree); the Halo client and
//! the catalogue are shared by all of them.
//!
//! The tree needs sessions, so the protocol is pinned to versions that have them (≤ 2025-11-25).

use std::{borrow::Cow, sync::Arc};

use futures::future::BoxFuture;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
        ProtocolVersion, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
    },
    service::{Peer, RequestContext},
};
use serde_json::{Map, Value, json};

use crate::{
    catalog,
    halo::HaloClient,
    tools::{self, ToolDef, ToolError, args, composite::ProgressSink},
};

pub const NAVIGATE: &str = "halo_navigate";
pub const STATUS: &str = "halo_status";
pub const BACK: &str = "halo_back";

const INSTRUCTIONS: &str = "Halo PSA/ITSM tools, arranged as a menu. halo_status lists the \
domains (tickets, clients, assets, invoices, ...) with what each holds; halo_navigate(domain) \
loads a domain's tools; halo_back returns to the menu. Lists return compact rows: pass `fields` \
to choose fields or detail \"full\" for raw records.";

/// What every session shares.
pub struct Shared {
    pub halo: HaloClient,
}

impl Shared {
    pub fn new(halo: HaloClient) -> Arc<Shared> {
        Arc::new(Shared { halo })
    }
}

/// MCP progress notifications for one call whose caller sent a progress token.
struct PeerProgress {
    peer: Peer<RoleServer>,
    token: ProgressToken,
}

impl ProgressSink for PeerProgress {
    fn report(&self, done: f64, total: Option<f64>, message: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut param = ProgressNotificationParam::new(self.token.clone(), done);
            param.total = total;
            param.message = Some(message);
            if let Err(e) = self.peer.notify_progress(param).await {
                tracing::debug!(error = %e, "could not send a progress notification");
            }
        })
    }
}

/// One MCP session's handler.
#[derive(Clone)]
pub struct HaloMcp {
    shared: Arc<Shared>,
    domain: Arc<Mutex<Option<&'static str>>>,
}

fn nav_annotations() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

fn object(value: Value) -> Arc<Map<String, Value>> {
    match value {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(Map::new()),
    }
}

/// The three navigation tools, built once.
static NAV_TOOLS: Lazy<Vec<Tool>> = Lazy::new(|| {
    let names: Vec<&str> = catalog::catalog().names().collect();
    vec![
        Tool::new(
            NAVIGATE,
            "Open a Halo domain: its tools replace the current ones. halo_status describes each \
             domain.",
            object(json!({
                "type": "object",
                "properties": {"domain": {"type": "string", "enum": names}},
                "required": ["domain"],
                "additionalProperties": false
            })),
        )
        .with_title("Open a domain")
        .with_annotations(nav_annotations()),
        Tool::new(
            STATUS,
            "The menu of domains, the current one, and the Halo connection.",
            object(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        )
        .with_title("Status and menu")
        .with_annotations(nav_annotations()),
        Tool::new(
            BACK,
            "Close the current domain and return to the menu.",
            object(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        )
        .with_title("Back to the menu")
        .with_annotations(nav_annotations()),
    ]
});

fn ok(value: Value) -> CallToolResponse {
    CallToolResult::structured(value).into()
}

fn fail(message: impl Into<String>) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message.into())]).into()
}

impl HaloMcp {
    pub fn new(shared: Arc<Shared>) -> HaloMcp {
        HaloMcp {
            shared,
            domain: Arc::new(Mutex::new(None)),
        }
    }

    /// The domain this session is in, if any.
    pub fn current_domain(&self) -> Option<&'static str> {
        *self.domain.lock()
    }

    /// The tools this session sees now, in a fixed order: navigation first, then the domain's.
    pub fn visible_tools(&self) -> Vec<Tool> {
        let mut list = NAV_TOOLS.clone();
        if let Some(d) = self.current_domain()
            && let Ok(tools) = tools::toolset(d)
        {
            list.extend(tools.iter().map(|t| t.tool.clone()));
        }
        list
    }

    fn status(&self) -> Value {
        let cat = catalog::catalog();
        let mut areas = Map::new();
        for (area, entries) in cat.by_area() {
            let rows: Vec<Value> = entries
                .iter()
                .map(|e| json!({"domain": e.name, "summary": e.header.summary}))
                .collect();
            areas.insert(area.to_owned(), Value::Array(rows));
        }
        json!({
            "current_domain": self.current_domain(),
            "domains": areas,
            "halo": self.shared.halo.status(),
            "next": match self.current_domain() {
                Some(_) => "Call this domain's tools, halo_navigate to switch, or halo_back.",
                None => "Call halo_navigate with one of the domains above.",
            },
        })
    }

    async fn navigate(
        &self,
        args: &Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        if let Err(e) = args::reject_unknown(args, &["domain"], NAVIGATE) {
            return fail(e.message());
        }
        let Some(name) = args.get("domain").and_then(Value::as_str) else {
            return fail(format!(
                "`domain` is required; one of: {}",
                catalog::catalog().names().collect::<Vec<_>>().join(", ")
            ));
        };
        let cat = catalog::catalog();
        let entry = match cat.entry(name.trim()) {
            Ok(e) => e,
            Err(_) => {
                let near = args::suggest(name, cat.names());
                let hint = if near.is_empty() {
                    String::new()
                } else {
                    format!("Did you mean {}? ", args::quote_list(&near))
                };
                let menu: Vec<String> = cat
                    .entries()
                    .iter()
                    .map(|e| format!("{} ({})", e.name, e.header.summary))
                    .collect();
                return fail(format!(
                    "Unknown domain `{name}`. {hint}Valid domains: {}",
                    menu.join("; ")
                ));
            }
        };
        let tools = match tools::toolset(entry.name) {
            Ok(t) => t,
            Err(e) => return fail(e.to_string()),
        };
        let changed = self.domain.lock().replace(entry.name) != Some(entry.name);
        if changed {
            // The notification goes out before the answer, so a client that re-lists on it has
            // the new tools by the time it reads the result.
            if let Err(e) = context.peer.notify_tool_list_changed().await {
                tracing::warn!(error = %e, "could not send tools/list_changed");
            }
        }
        let listed: Vec<Value> = tools
            .iter()
            .map(|t| json!({"name": t.name(), "title": t.tool.title}))
            .collect();
        ok(json!({
            "domain": entry.name,
            "summary": entry.header.summary,
            "tools": listed,
            "next": "These tools are now in your tool list; call them directly. halo_back returns to the menu.",
        }))
    }

    async fn back(&self, context: &RequestContext<RoleServer>) -> CallToolResponse {
        let previous = self.domain.lock().take();
        match previous {
            Some(d) => {
                if let Err(e) = context.peer.notify_tool_list_changed().await {
                    tracing::warn!(error = %e, "could not send tools/list_changed");
                }
                ok(json!({"left": d, "next": "Back at the menu: halo_navigate opens a domain."}))
            }
            None => ok(
                json!({"left": null, "next": "Already at the menu: halo_navigate opens a domain."}),
            ),
        }
    }

    async fn run_tool(
        &self,
        def: &ToolDef,
        args: Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let started = std::time::Instant::now();
        let mut ctx = tools::context(self.shared.halo.clone());
        if let Some(token) = context.meta.get_progress_token() {
            ctx.progress = Some(Arc::new(PeerProgress {
                peer: context.peer.clone(),
                token,
            }));
        }
        let result = def.call(&ctx, args).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(value) => {
                tracing::info!(tool = def.name(), elapsed_ms, "tool call");
                ok(value)
            }
            Err(e) => {
                tracing::info!(tool = def.name(), elapsed_ms, error = %e, "tool call failed");
                fail(e.message())
            }
        }
    }

    fn outside_domain(&self, name: &str) -> ToolError {
        let current = self.current_domain();
        match tools::find(name) {
            Some(def) => ToolError::new(format!(
                "`{name}` belongs to the `{domain}` domain{now}; call {NAVIGATE} with domain \
                 \"{domain}\" first.",
                domain = def.domain,
                now = current
                    .map(|c| format!(" (you are in `{c}`)"))
                    .unwrap_or_default(),
            )),
            None => {
                let mut known: Vec<&str> = vec![NAVIGATE, STATUS, BACK];
                let visible: Vec<String> = self
                    .visible_tools()
                    .iter()
                    .map(|t| t.name.to_string())
                    .collect();
                known.extend(visible.iter().map(String::as_str));
                let near = args::suggest(name, known);
                let hint = if near.is_empty() {
                    String::new()
                } else {
                    format!(" Did you mean {}?", args::quote_list(&near))
                };
                ToolError::new(format!(
                    "Unknown tool `{name}`.{hint} {STATUS} lists the domains; {NAVIGATE} loads \
                     their tools."
                ))
            }
        }
    }
}

impl ServerHandler for HaloMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(
            Implementation::new("halo-mcp", env!("CARGO_PKG_VERSION"))
                .with_title("Halo PSA / ITSM"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        // The tree keeps per-session state; 2026-07-28 has no sessions.
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.visible_tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let name = request.name.as_ref();
        Ok(match name {
            NAVIGATE => self.navigate(&args, &context).await,
            STATUS => {
                if let Err(e) = args::reject_unknown(&args, &[], STATUS) {
                    fail(e.message())
                } else {
                    ok(self.status())
                }
            }
            BACK => self.back(&context).await,
            _ => {
                let def = self
                    .current_domain()
                    .and_then(|d| tools::toolset(d).ok())
                    .and_then(|ts| ts.iter().find(|t| t.name() == name));
                match def {
                    Some(def) => self.run_tool(def, args, &context).await,
                    None => fail(self.outside_domain(name).message()),
                }
            }
        })
    }
}
