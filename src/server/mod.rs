//! The MCP handler: the catalogue as a decision tree, or in forms every client can use.
//!
//! Modes (`--mode`):
//! - `tree`: three tools; `halo_navigate(domain)` swaps that domain's tools in and sends
//!   `notifications/tools/list_changed` before it answers. Needs sessions, so it is pinned to
//!   protocol versions ≤ 2025-11-25.
//! - `dispatch`: a list that never changes — navigate (returns the domain's tools as compact
//!   signatures, marking those that write), status, back, `halo_read(tool, arguments)` for
//!   read-only tools and `halo_write(tool, arguments)` for the rest. Two runners, not one, so
//!   each can carry honest annotations: clients that follow them run reads without a prompt and
//!   ask before writes. Works in every client and under 2026-07-28; navigation keeps no state.
//! - `flat`: the chosen domains' tools up front, plus `halo_status`.
//! - `auto` (default): `tree` for clients known to honour list_changed, `dispatch` for the rest,
//!   decided from `clientInfo` at `initialize` (see [`crate::clients`]).
//!
//! `--read-only` hides every tool that is not read-only, in every mode, whatever else is set;
//! `--domains` limits which domains exist at all. Each connection gets its own handler value
//! (its own place in the tree); the Halo client and the catalogue are shared.

mod extras;
mod memory;
pub mod signature;

pub use memory::SessionMemory;

use std::{borrow::Cow, str::FromStr, sync::Arc};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
        CompleteResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation,
        InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
        ProgressToken, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
        ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
    },
    service::{Peer, RequestContext},
};
use serde_json::{Map, Value, json};

use crate::{
    catalog, clients,
    halo::HaloClient,
    tools::{
        self, ToolDef, ToolError, args,
        composite::{Ctx, ProgressSink},
    },
};

pub const NAVIGATE: &str = "halo_navigate";
pub const STATUS: &str = "halo_status";
pub const BACK: &str = "halo_back";
/// Dispatch mode's runner for read-only tools.
pub const READ: &str = "halo_read";
/// Dispatch mode's runner for tools that change data; not listed when nothing visible writes.
pub const WRITE: &str = "halo_write";

/// VS Code's hard limit on tools, the default ceiling for flat mode.
pub const DEFAULT_MAX_TOOLS: usize = 128;

/// How the catalogue is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Tree,
    Dispatch,
    Flat,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Mode::Auto),
            "tree" => Ok(Mode::Tree),
            "dispatch" => Ok(Mode::Dispatch),
            "flat" => Ok(Mode::Flat),
            _ => Err(format!(
                "unknown mode {}: expected auto, tree, dispatch or flat",
                crate::text::quote(s)
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::Tree => "tree",
            Mode::Dispatch => "dispatch",
            Mode::Flat => "flat",
        })
    }
}

/// The mode a session actually runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Active {
    Tree,
    Dispatch,
    Flat,
}

impl Active {
    pub fn as_str(self) -> &'static str {
        match self {
            Active::Tree => "tree",
            Active::Dispatch => "dispatch",
            Active::Flat => "flat",
        }
    }
}

/// Server options (flags and environment).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub mode: Mode,
    /// Hide every tool that is not read-only, in every mode.
    pub read_only: bool,
    /// The domains that exist; `None` is all of them.
    pub domains: Option<Vec<String>>,
    /// Most tools flat mode may expose.
    pub max_tools: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: Mode::Auto,
            read_only: false,
            domains: None,
            max_tools: DEFAULT_MAX_TOOLS,
        }
    }
}

/// The MCP session a request belongs to (HTTP; stdio has one session and no id), for the audit
/// log.
fn session_id(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The Halo client of one HTTP session, put in the request's extensions by the HTTP layer
/// (OAuth proxy: each session brings its own Halo credentials).
#[derive(Clone)]
pub struct SessionHalo(pub HaloClient);

/// What every session shares.
pub struct Shared {
    /// The operator's Halo client; `None` when each session brings its own (OAuth proxy).
    pub halo: Option<HaloClient>,
    pub options: Options,
    /// Allowed domains, in catalogue order.
    allowed: Vec<&'static str>,
    /// navigate, status, back, read, write: built once for the allowed domains.
    navigate: Tool,
    status: Tool,
    back: Tool,
    read: Tool,
    /// `None` when no visible tool writes (`--read-only`, or only read-only domains).
    write: Option<Tool>,
    /// Flat mode's tools (empty in other modes).
    flat: Vec<&'static ToolDef>,
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

impl Shared {
    /// Default options: `auto` mode, every domain, writes allowed.
    pub fn new(halo: HaloClient) -> Arc<Shared> {
        // Default options always validate: every domain, no flat selection.
        match Shared::with_options(Some(halo.clone()), Options::default()) {
            Ok(s) => s,
            Err(_) => Arc::new(Shared::build(
                Some(halo),
                Options::default(),
                Vec::new(),
                Vec::new(),
            )),
        }
    }

    /// Checks the options (unknown domains, flat mode's tool ceiling) and builds the shared
    /// state. The error is one line for the user.
    pub fn with_options(halo: Option<HaloClient>, options: Options) -> Result<Arc<Shared>, String> {
        let (allowed, flat) = plan(&options)?;
        Ok(Arc::new(Shared::build(halo, options, allowed, flat)))
    }

    fn build(
        halo: Option<HaloClient>,
        options: Options,
        allowed: Vec<&'static str>,
        flat: Vec<&'static ToolDef>,
    ) -> Shared {
        let empty = json!({"type": "object", "properties": {}});
        Shared {
            navigate: Tool::new(
                NAVIGATE,
                "Open a Halo domain to see its tools.",
                object(json!({
                    "type": "object",
                    "properties": {"domain": domain_schema(&allowed)},
                    "required": ["domain"]
                })),
            )
            .with_title("Open a domain")
            .with_annotations(nav_annotations()),
            status: Tool::new(
                STATUS,
                "Domains, mode and Halo connection.",
                object(empty.clone()),
            )
            .with_title("Status and menu")
            .with_annotations(nav_annotations()),
            back: Tool::new(BACK, "Close the open domain.", object(empty))
                .with_title("Back to the menu")
                .with_annotations(nav_annotations()),
            read: Tool::new(
                READ,
                "Run a read-only Halo tool by name, as halo_navigate lists it.",
                runner_schema(),
            )
            .with_title("Read from Halo")
            // Refuses every tool that writes, so it can say what it is.
            .with_annotations(
                ToolAnnotations::new()
                    .read_only(true)
                    .destructive(false)
                    .idempotent(true)
                    .open_world(true),
            ),
            write: write_tool(&options, &allowed),
            halo,
            options,
            allowed,
            flat,
        }
    }

    /// The tools dispatch mode lists: the same in every session of this server.
    fn dispatch_tools(&self) -> Vec<Tool> {
        let mut list = vec![
            self.navigate.clone(),
            self.status.clone(),
            self.back.clone(),
            self.read.clone(),
        ];
        list.extend(self.write.clone());
        list
    }

    pub fn allowed_domains(&self) -> &[&'static str] {
        &self.allowed
    }

    /// Whether a tool exists under the options: its domain allowed, and read-only if asked.
    pub fn visible(&self, def: &ToolDef) -> bool {
        self.allowed.contains(&def.domain) && (!self.options.read_only || def.read_only())
    }

    /// An allowed domain's visible tools.
    pub fn domain_tools(&self, domain: &str) -> Vec<&'static ToolDef> {
        if !self.allowed.contains(&domain) {
            return Vec::new();
        }
        tools::toolset(domain)
            .map(|set| set.iter().filter(|t| self.visible(t)).collect())
            .unwrap_or_default()
    }

    /// Every visible tool of every allowed domain.
    pub fn all_tools(&self) -> Vec<&'static ToolDef> {
        self.allowed
            .iter()
            .flat_map(|d| self.domain_tools(d))
            .collect()
    }
}

/// Most domains navigate's schema lists as an enum. All 39 would cost about 430 bytes in every
/// `tools/list`, a fifth of the start-up budget and as much again in each tree-mode domain; the
/// instructions and halo_status name them anyway, and a wrong name is answered with the nearest
/// ones.
const DOMAIN_ENUM_MAX: usize = 12;

fn domain_schema(allowed: &[&'static str]) -> Value {
    if allowed.len() <= DOMAIN_ENUM_MAX {
        json!({"type": "string", "enum": allowed})
    } else {
        json!({"type": "string", "description": "e.g. tickets; halo_status lists all"})
    }
}

fn runner_schema() -> Arc<Map<String, Value>> {
    object(json!({
        "type": "object",
        "properties": {
            "tool": {"type": "string"},
            "arguments": {"type": "object"}
        },
        "required": ["tool"]
    }))
}

/// Whether a catalogue tool changes data.
fn writes(def: &ToolDef) -> bool {
    !def.read_only()
}

/// `halo_write`, described by what it can change here; `None` when nothing visible writes.
fn write_tool(options: &Options, allowed: &[&'static str]) -> Option<Tool> {
    if options.read_only {
        return None;
    }
    let mut domains = Vec::new();
    let mut destructive = false;
    for d in allowed {
        let Ok(set) = tools::toolset(d) else { continue };
        let mut any = false;
        for t in set.iter().filter(|t| writes(t)) {
            any = true;
            destructive |= t
                .tool
                .annotations
                .as_ref()
                .and_then(|a| a.destructive_hint)
                .unwrap_or(true);
        }
        if any {
            domains.push(*d);
        }
    }
    if domains.is_empty() {
        return None;
    }
    // The domains by name when they are few, else the exceptions, so the start-up list stays
    // within its budget whatever --domains says.
    let without: Vec<&str> = allowed
        .iter()
        .copied()
        .filter(|d| !domains.contains(d))
        .collect();
    let what = if domains.len() <= 6 {
        domains.join(", ")
    } else if without.is_empty() {
        "every domain".to_owned()
    } else if without.len() <= 4 {
        format!("every domain but {}", without.join(", "))
    } else {
        format!("{} domains", domains.len())
    };
    let can = if destructive {
        "creates, updates and deletes records"
    } else {
        "creates records, and deletes or overwrites nothing"
    };
    let description = format!(
        "Run a Halo tool that {can} ({what}), by name; halo_navigate marks these `writes`."
    );
    Some(
        Tool::new(WRITE, description, runner_schema())
            .with_title("Change data in Halo")
            .with_annotations(
                ToolAnnotations::new()
                    .read_only(false)
                    .destructive(destructive)
                    .idempotent(false)
                    .open_world(true),
            ),
    )
}

/// The domains the options allow and flat mode's tools, or why the options cannot work.
fn plan(options: &Options) -> Result<(Vec<&'static str>, Vec<&'static ToolDef>), String> {
    let cat = catalog::catalog();
    let allowed: Vec<&'static str> = match &options.domains {
        None => cat.names().collect(),
        Some(list) => {
            let mut out = Vec::new();
            for d in list {
                let entry = cat.entry(d.trim()).map_err(|_| {
                    let near = args::suggest(d, cat.names());
                    format!(
                        "unknown domain {} in --domains{}; valid: {}",
                        crate::text::quote(d),
                        if near.is_empty() {
                            String::new()
                        } else {
                            format!(" (did you mean {}?)", args::quote_list(&near))
                        },
                        cat.names().collect::<Vec<_>>().join(", ")
                    )
                })?;
                if !out.contains(&entry.name) {
                    out.push(entry.name);
                }
            }
            // Catalogue order, whatever order they were given in.
            cat.names().filter(|n| out.contains(n)).collect()
        }
    };
    let mut flat = Vec::new();
    if options.mode == Mode::Flat {
        if options.domains.is_none() {
            return Err(format!(
                "--mode flat needs --domains (e.g. tickets,actions,clients) or --domains all; \
                 all {} domains are {} tools",
                allowed.len(),
                tools::all().len()
            ));
        }
        for d in &allowed {
            let set = tools::toolset(d).map_err(|e| e.to_string())?;
            flat.extend(set.iter().filter(|t| !options.read_only || t.read_only()));
        }
        let count = flat.len() + 1;
        if count > options.max_tools {
            let sizes: Vec<String> = allowed
                .iter()
                .map(|d| {
                    let n = tools::toolset(d)
                        .map(|s| {
                            s.iter()
                                .filter(|t| !options.read_only || t.read_only())
                                .count()
                        })
                        .unwrap_or(0);
                    format!("{d} {n}")
                })
                .collect();
            return Err(format!(
                "--mode flat with these domains exposes {count} tools, over --max-tools {} \
                 (VS Code refuses more than 128); choose fewer domains or use dispatch \
                 mode. Tools per domain: {}",
                options.max_tools,
                sizes.join(", ")
            ));
        }
    }
    Ok((allowed, flat))
}

/// Bytes of tree mode's `tools/list` with `domain` open, the menu included, under default
/// options: what a tree-mode client pays for one domain. `None` for an unknown domain.
pub fn tree_list_bytes(domain: &str) -> Option<usize> {
    let shared = Shared::with_options(None, Options::default()).ok()?;
    let tools = tools::toolset(domain).ok()?;
    let menu = [&shared.navigate, &shared.status, &shared.back];
    Some(tools::list_bytes(
        menu.into_iter().chain(tools.iter().map(|t| &t.tool)),
    ))
}

/// The domains these options offer, in catalogue order.
pub fn offered_domains(options: &Options) -> Result<Vec<&'static str>, String> {
    plan(options).map(|(allowed, _)| allowed)
}

/// Checks server options before anything starts (one line for the user when they cannot work).
pub fn check_options(options: &Options) -> Result<(), String> {
    plan(options).map(|_| ())
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

/// Per-connection state.
#[derive(Default)]
struct Session {
    domain: Option<&'static str>,
    /// Decided at `initialize` in auto mode.
    auto: Option<clients::Verdict>,
    client: Option<String>,
}

/// One MCP session's handler.
#[derive(Clone)]
pub struct HaloMcp {
    shared: Arc<Shared>,
    session: Arc<Mutex<Session>>,
}

fn ok(value: Value) -> CallToolResponse {
    CallToolResult::structured(value).into()
}

fn fail(message: impl Into<String>) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message.into())]).into()
}

/// The one place a tool's typed error becomes what the client sees: an MCP tool error
/// (`isError: true`) whose text is the error's sentence, whatever its kind. Protocol errors
/// (JSON-RPC errors) are kept for calls the protocol itself rejects; a tool that ran and failed
/// answers in-band, so the assistant reads why and can correct its call.
fn tool_failure(e: &ToolError) -> CallToolResponse {
    fail(e.to_string())
}

impl HaloMcp {
    pub fn new(shared: Arc<Shared>) -> HaloMcp {
        HaloMcp {
            shared,
            session: Arc::new(Mutex::new(Session::default())),
        }
    }

    /// The mode this session runs in.
    pub fn active(&self) -> Active {
        match self.shared.options.mode {
            Mode::Tree => Active::Tree,
            Mode::Dispatch => Active::Dispatch,
            Mode::Flat => Active::Flat,
            Mode::Auto => match &self.session.lock().auto {
                Some(v) if v.tree => Active::Tree,
                _ => Active::Dispatch,
            },
        }
    }

    /// The domain this session is in (tree mode only).
    pub fn current_domain(&self) -> Option<&'static str> {
        self.session.lock().domain
    }

    /// The tools this session sees now, in a fixed order.
    pub fn visible_tools(&self) -> Vec<Tool> {
        let s = &self.shared;
        match self.active() {
            Active::Tree => {
                let mut list = vec![s.navigate.clone(), s.status.clone(), s.back.clone()];
                if let Some(d) = self.current_domain() {
                    list.extend(s.domain_tools(d).iter().map(|t| t.tool.clone()));
                }
                list
            }
            Active::Dispatch => s.dispatch_tools(),
            Active::Flat => {
                let mut list = vec![s.status.clone()];
                list.extend(s.flat.iter().map(|t| t.tool.clone()));
                list
            }
        }
    }

    fn mode_report(&self) -> Value {
        let session = self.session.lock();
        let (chosen_by, why) = match (self.shared.options.mode, &session.auto) {
            (Mode::Auto, Some(v)) => ("auto", v.reason.clone()),
            (Mode::Auto, None) => (
                "auto",
                "no initialize (2026-07-28 or a stateless request): dispatch works everywhere"
                    .to_owned(),
            ),
            _ => ("--mode", "set by the operator".to_owned()),
        };
        drop(session);
        json!({
            "mode": self.active().as_str(),
            "chosen_by": chosen_by,
            "why": why,
            "client": self.session.lock().client,
            "read_only": self.shared.options.read_only,
            "domains_allowed": if self.shared.options.domains.is_some() {
                json!(self.shared.allowed)
            } else {
                json!("all")
            },
            "clients_table": "resource halo://mcp-clients",
        })
    }

    fn status(&self, context: &RequestContext<RoleServer>) -> Value {
        let cat = catalog::catalog();
        // area → {domain: what it holds}: the menu in as few bytes as it can take.
        let mut areas = Map::new();
        for (area, entries) in cat.by_area() {
            let rows: Map<String, Value> = entries
                .iter()
                .filter(|e| self.shared.allowed.contains(&e.name))
                .map(|e| (e.name.to_owned(), json!(e.header.summary)))
                .collect();
            if !rows.is_empty() {
                areas.insert(area.to_owned(), Value::Object(rows));
            }
        }
        let next = match (self.active(), self.current_domain()) {
            (Active::Tree, Some(_)) => {
                "Call this domain's tools, halo_navigate to switch, or halo_back."
            }
            (Active::Tree, None) => "Call halo_navigate with one of the domains above.",
            (Active::Dispatch, _) if self.shared.write.is_some() => {
                "halo_navigate(domain) lists a domain's tools; run them with halo_read(tool, arguments), or halo_write for those marked writes."
            }
            (Active::Dispatch, _) => {
                "halo_navigate(domain) lists a domain's tools; run them with halo_read(tool, arguments)."
            }
            (Active::Flat, _) => "Call the tools directly.",
        };
        json!({
            "current_domain": self.current_domain(),
            "domains": areas,
            "mode": self.mode_report(),
            "halo": self.halo_for(context).ok().map(|h| h.status()),
            "next": next,
        })
    }

    fn unknown_domain(&self, name: &str) -> String {
        let cat = catalog::catalog();
        let allowed = self.shared.allowed.iter().copied();
        let near = args::suggest(name, allowed.clone());
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!("Did you mean {}? ", args::quote_list(&near))
        };
        let menu: Vec<String> = cat
            .entries()
            .iter()
            .filter(|e| self.shared.allowed.contains(&e.name))
            .map(|e| format!("{} ({})", e.name, e.header.summary))
            .collect();
        format!(
            "Unknown domain `{}`. {hint}Valid domains: {}",
            args::bounded(name),
            menu.join("; ")
        )
    }

    async fn navigate(
        &self,
        args: &Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        if let Err(e) = args::reject_unknown(args, &["domain"], NAVIGATE) {
            return tool_failure(&e);
        }
        let Some(name) = args.get("domain").and_then(Value::as_str) else {
            return fail(format!(
                "`domain` is required; one of: {}",
                self.shared.allowed.join(", ")
            ));
        };
        let Some(&domain) = self.shared.allowed.iter().find(|d| **d == name.trim()) else {
            return fail(self.unknown_domain(name));
        };
        let summary = catalog::catalog()
            .entry(domain)
            .map(|e| e.header.summary.clone())
            .unwrap_or_default();
        if let Err(e) = tools::toolset(domain) {
            return fail(e.to_string());
        }
        let tools = self.shared.domain_tools(domain);
        if self.active() == Active::Dispatch {
            // Stateless: the answer carries everything needed to call the tools.
            return ok(json!({
                "domain": domain,
                "summary": summary,
                "tools": tools.iter().map(|t| {
                    let mut row = json!({
                        "call": signature::signature(&t.tool),
                        "does": t.tool.description,
                    });
                    if writes(t) {
                        row["writes"] = json!(true);
                    }
                    row
                }).collect::<Vec<_>>(),
                "next": if self.shared.write.is_some() {
                    "Run one with halo_read {\"tool\": name, \"arguments\": {...}}, or with halo_write if it is marked writes; `?` marks optional arguments."
                } else {
                    "Run one with halo_read {\"tool\": name, \"arguments\": {...}}; `?` marks optional arguments."
                },
            }));
        }
        let changed = self.session.lock().domain.replace(domain) != Some(domain);
        if changed {
            memory::remember(context, Some(domain)).await;
            // The notification goes out before the answer, so a client that re-lists on it has
            // the new tools by the time it reads the result.
            if let Err(e) = context.peer.notify_tool_list_changed().await {
                tracing::warn!(error = %e, "could not send tools/list_changed");
            }
        }
        let listed: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut row = json!({"name": t.name(), "title": t.tool.title});
                if writes(t) {
                    row["writes"] = json!(true);
                }
                row
            })
            .collect();
        ok(json!({
            "domain": domain,
            "summary": summary,
            "tools": listed,
            "next": "These tools are now in your tool list; call them directly. halo_back returns to the menu.",
        }))
    }

    async fn back(&self, context: &RequestContext<RoleServer>) -> CallToolResponse {
        if self.active() == Active::Dispatch {
            return ok(
                json!({"left": null, "next": "At the menu: halo_navigate lists a domain's tools, halo_status describes every domain."}),
            );
        }
        let previous = self.session.lock().domain.take();
        match previous {
            Some(d) => {
                memory::remember(context, None).await;
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

    /// The Halo client for a request: the session's own (HTTP with OAuth or Halo sign-in), else
    /// the operator's.
    pub fn halo_for(&self, context: &RequestContext<RoleServer>) -> Result<HaloClient, ToolError> {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<SessionHalo>())
            .map(|s| s.0.clone())
            .or_else(|| self.shared.halo.clone())
            .ok_or_else(|| ToolError::Unavailable("this session has no Halo credentials".into()))
    }

    fn context_for(&self, context: &RequestContext<RoleServer>) -> Result<Ctx, ToolError> {
        let mut ctx = tools::context(self.halo_for(context)?);
        if let Some(token) = context.meta.get_progress_token() {
            ctx.progress = Some(Arc::new(PeerProgress {
                peer: context.peer.clone(),
                token,
            }));
        }
        Ok(ctx)
    }

    async fn run_tool(
        &self,
        def: &ToolDef,
        args: Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        let started = std::time::Instant::now();
        let ctx = match self.context_for(context) {
            Ok(c) => c,
            Err(e) => return tool_failure(&e),
        };
        // rmcp cancels `ct` when the client sends notifications/cancelled for this call (and
        // when the session ends). Dropping the tool's future then drops everything it was
        // doing: the page it was waiting for, its rate-budget slot or its place in the
        // budget's queue, and any later pages. Reads it shared with other calls go on for
        // them. Biased, so a future woken at the same time as the cancellation is never polled
        // once more (which could send another request).
        let result = tokio::select! {
            biased;
            () = context.ct.cancelled() => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                tracing::info!(tool = def.name(), elapsed_ms, "tool call cancelled by the client");
                // rmcp sends no answer to a cancelled request; this is for the log's sake.
                return fail("cancelled by the client");
            }
            result = crate::audit::SESSION.scope(session_id(context), def.call(&ctx, args)) => result,
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(value) => {
                tracing::info!(tool = def.name(), elapsed_ms, "tool call");
                ok(value)
            }
            Err(e) => {
                tracing::info!(tool = def.name(), elapsed_ms, error = %e, "tool call failed");
                tool_failure(&e)
            }
        }
    }

    /// Why a tool that exists cannot be called here, or that it does not exist.
    fn unavailable(&self, name: &str) -> ToolError {
        let s = &self.shared;
        if name == WRITE && s.write.is_none() {
            return ToolError::Unavailable(if s.options.read_only {
                format!("{WRITE} is not offered: this server is read-only (--read-only)")
            } else {
                format!("{WRITE} is not offered: no offered domain has a tool that writes")
            });
        }
        if let Some(def) = tools::find(name) {
            if !s.allowed.contains(&def.domain) {
                return ToolError::Unavailable(format!(
                    "`{name}` is in the `{}` domain, which this server does not offer \
                     (--domains {})",
                    def.domain,
                    s.allowed.join(",")
                ));
            }
            if s.options.read_only && !def.read_only() {
                return ToolError::Unavailable(format!(
                    "`{name}` changes data, and this server is read-only (--read-only)"
                ));
            }
            if self.active() == Active::Tree {
                let current = self.current_domain();
                return ToolError::Unavailable(format!(
                    "`{name}` belongs to the `{domain}` domain{now}; call {NAVIGATE} with domain \
                     \"{domain}\" first.",
                    domain = def.domain,
                    now = current
                        .map(|c| format!(" (you are in `{c}`)"))
                        .unwrap_or_default(),
                ));
            }
        }
        let mut known: Vec<String> = self
            .visible_tools()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        if self.active() == Active::Dispatch {
            known.extend(s.all_tools().iter().map(|t| t.name().to_owned()));
        }
        let near = args::suggest(name, known.iter().map(String::as_str));
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" Did you mean {}?", args::quote_list(&near))
        };
        let how = match self.active() {
            Active::Tree => format!("{STATUS} lists the domains; {NAVIGATE} loads their tools."),
            Active::Dispatch => format!("{NAVIGATE} lists a domain's tools."),
            Active::Flat => format!("{STATUS} lists what this server offers."),
        };
        ToolError::Unavailable(format!(
            "Unknown tool `{}`.{hint} {how}",
            args::bounded(name)
        ))
    }

    /// `halo_read` / `halo_write`: runs a catalogue tool of the runner's kind, and points a tool
    /// of the other kind to the other runner without running it.
    async fn run_by_name(
        &self,
        runner: &'static str,
        args: Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResponse {
        if let Err(e) = args::reject_unknown(&args, &["tool", "arguments"], runner) {
            return tool_failure(&e);
        }
        let Some(name) = args.get("tool").and_then(Value::as_str) else {
            return fail("`tool` is required: the name of a tool, as halo_navigate lists it");
        };
        let inner = match args.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return fail(format!(
                    "`arguments` must be an object (got {})",
                    args::quote(other)
                ));
            }
        };
        if [NAVIGATE, STATUS, BACK, READ, WRITE].contains(&name) {
            return fail(format!("call `{name}` directly, not through {runner}"));
        }
        let Some(def) = tools::find(name).filter(|d| self.shared.visible(d)) else {
            return tool_failure(&self.unavailable(name));
        };
        match (runner, writes(def)) {
            (READ, true) => fail(format!(
                "`{name}` changes data; run it with {WRITE}, which asks before it writes."
            )),
            (WRITE, false) => fail(format!(
                "`{name}` only reads; run it with {READ}, which needs no approval."
            )),
            _ => self.run_tool(def, inner, context).await,
        }
    }
}

impl HaloMcp {
    /// The server's `instructions`: the only text some clients load before they search for
    /// tools (Claude Code and Codex among them), cut at 2 KB by Claude Code. So they name every
    /// offered domain, area by area, and say how this mode reaches a domain's tools.
    pub fn instructions(&self) -> String {
        let cat = catalog::catalog();
        let areas: Vec<String> = cat
            .by_area()
            .into_iter()
            .filter_map(|(area, entries)| {
                let names: Vec<&str> = entries
                    .iter()
                    .map(|e| e.name)
                    .filter(|n| self.shared.allowed.contains(n))
                    .collect();
                (!names.is_empty()).then(|| format!("{area}: {}", names.join(", ")))
            })
            .collect();
        let reach = match self.active() {
            Active::Tree => "halo_navigate(domain) adds that domain's tools to your tool list; \
                             halo_back removes them; halo_status says what each domain holds."
                .to_owned(),
            Active::Dispatch if self.shared.write.is_some() => {
                "halo_navigate(domain) answers with that domain's tools and their arguments; run \
                 a read-only one with halo_read(tool, arguments) and one marked writes with \
                 halo_write(tool, arguments). halo_status says what each domain holds."
                    .to_owned()
            }
            Active::Dispatch => "halo_navigate(domain) answers with that domain's tools and \
                                 their arguments; run one with halo_read(tool, arguments). \
                                 halo_status says what each domain holds."
                .to_owned(),
            Active::Flat => {
                // An example that exists under these --domains.
                let example = self
                    .shared
                    .flat
                    .first()
                    .map(|t| format!(", e.g. {}", t.name()))
                    .unwrap_or_default();
                format!(
                    "Every offered domain's tools are listed, named \
                     halo_<resource>_<verb>{example}; halo_status says what each domain holds."
                )
            }
        };
        let read_only = if self.shared.options.read_only {
            " This server is read-only: nothing it offers changes data."
        } else {
            ""
        };
        format!(
            "Halo PSA/ITSM (tickets, clients, assets, billing). Domains — {}. {reach}{read_only} \
             Lists and gets return compact records: `fields` (a list of names) chooses the fields \
             on any of them, detail \"full\" gives Halo's raw records.",
            areas.join("; ")
        )
    }
}

impl ServerHandler for HaloMcp {
    fn get_info(&self) -> ServerConfig {
        let active = self.active();
        let mut caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .enable_completions()
            .build();
        // Advertised only where the server sends it.
        if active == Active::Tree
            && let Some(t) = caps.tools.as_mut()
        {
            t.list_changed = Some(true);
        }
        let instructions = self.instructions();
        ServerConfig::new(caps)
            .with_server_info(
                Implementation::new("halo-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Halo PSA / ITSM"),
            )
            .with_instructions(instructions)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        match self.active() {
            // The tree keeps per-session state; 2026-07-28 has no sessions.
            Active::Tree => {
                Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
            }
            Active::Dispatch | Active::Flat => Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS),
        }
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        let info = &request.client_info;
        {
            let mut session = self.session.lock();
            // Shown in halo_status and logged: the client's own words, so bounded and escaped.
            session.client = Some(crate::text::clip(&format!(
                "{} {}",
                info.name, info.version
            )));
            if self.shared.options.mode == Mode::Auto {
                let verdict = clients::verdict(&info.name, &info.version);
                tracing::info!(
                    client = %crate::text::quote(&info.name),
                    version = %crate::text::quote(&info.version),
                    mode = if verdict.tree { "tree" } else { "dispatch" },
                    why = %verdict.reason,
                    "auto mode chose"
                );
                session.auto = Some(verdict);
            }
        }
        // A session re-created on this replica (it began on another, or before a restart)
        // continues in the domain it was in.
        if let Some(domain) = memory::recall(&context).await
            && let Some(&d) = self.shared.allowed.iter().find(|a| **a == domain)
        {
            self.session.lock().domain = Some(d);
        }
        // The mode is known now, so the versions and capabilities below are the mode's.
        self.negotiate_initialize(&request)
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
        let active = self.active();
        Ok(match (name, active) {
            (STATUS, _) => {
                if let Err(e) = args::reject_unknown(&args, &[], STATUS) {
                    tool_failure(&e)
                } else {
                    ok(self.status(&context))
                }
            }
            (NAVIGATE, Active::Tree | Active::Dispatch) => self.navigate(&args, &context).await,
            (BACK, Active::Tree | Active::Dispatch) => self.back(&context).await,
            (READ, Active::Dispatch) => self.run_by_name(READ, args, &context).await,
            // Only where it is listed: a read-only server has no halo_write.
            (WRITE, Active::Dispatch) if self.shared.write.is_some() => {
                self.run_by_name(WRITE, args, &context).await
            }
            _ => {
                let def = match active {
                    Active::Tree => self.current_domain().and_then(|d| {
                        self.shared
                            .domain_tools(d)
                            .into_iter()
                            .find(|t| t.name() == name)
                    }),
                    Active::Flat => self.shared.flat.iter().copied().find(|t| t.name() == name),
                    // halo_navigate showed the tool by name, and many models then call it by
                    // name; where the client lets that through, run it as halo_read or
                    // halo_write would.
                    Active::Dispatch => tools::find(name).filter(|d| self.shared.visible(d)),
                };
                match def {
                    Some(def) => self.run_tool(def, args, &context).await,
                    None => tool_failure(&self.unavailable(name)),
                }
            }
        })
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(extras::list_resources(self))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(extras::list_templates(self))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let ctx = self
            .context_for(&context)
            .map_err(|e| McpError::internal_error(e.message().to_owned(), None))?;
        extras::read_resource(self, &request.uri, &ctx)
            .await
            .map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(extras::list_prompts(self))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        extras::get_prompt(self, &request.name, request.arguments.unwrap_or_default())
            .map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        match self.context_for(&context) {
            Ok(ctx) => Ok(extras::complete(self, &request, &ctx).await),
            Err(e) => Err(McpError::internal_error(e.message().to_owned(), None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_mode_is_echoed_bounded_and_escaped() {
        let big = format!("sideways\n WARN forged{}", "x".repeat(1_000_000));
        let e = big.parse::<Mode>().err().unwrap_or_default();
        assert!(
            e.starts_with("unknown mode \"sideways\\n WARN forged"),
            "{e}"
        );
        assert!(e.len() < 600 && !e.contains('\n'), "{}", e.len());
        assert_eq!(
            "sideways".parse::<Mode>().err().unwrap_or_default(),
            "unknown mode \"sideways\": expected auto, tree, dispatch or flat"
        );
    }
}
