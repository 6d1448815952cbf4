//! Everything in one process: the simulated Halo, the server, and rmcp's MCP client joined by
//! an in-memory pipe. Examples, benchmarks and the end-to-end tests drive the real server this
//! way, exactly as a client would over stdio, without spawning anything.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientConfig, Implementation, NumberOrString,
        ProgressNotificationParam, ProgressToken, RequestParamsMeta,
    },
    service::{NotificationContext, RunningService},
};
use serde_json::Value;

use crate::{
    halo::{HaloClient, HaloConfig, Resilience},
    secret::Secret,
    server::{HaloMcp, Mode, Options, Shared},
    sim::{SimConfig, Simulator},
};

/// An MCP client that counts `notifications/tools/list_changed` and keeps progress
/// notifications.
#[derive(Clone, Default)]
pub struct LocalClient {
    pub list_changed: Arc<AtomicUsize>,
    /// Woken on every list_changed and progress notification.
    pub notified: Arc<tokio::sync::Notify>,
    pub progress: Arc<parking_lot::Mutex<Vec<ProgressNotificationParam>>>,
    /// How the client introduces itself (default: rmcp's own name).
    pub info: Option<Implementation>,
}

impl ClientHandler for LocalClient {
    fn get_info(&self) -> ClientConfig {
        let mut config = ClientConfig::default();
        if let Some(info) = &self.info {
            config.client_info = info.clone();
        }
        config
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed.fetch_add(1, Ordering::SeqCst);
        self.notified.notify_waiters();
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().push(params);
        // Tests wait on this to act at a known point of a long call (e.g. cancel it).
        self.notified.notify_waiters();
    }
}

pub type Client = RunningService<RoleClient, LocalClient>;

/// Client settings for a simulator: its address and credentials, default resilience.
pub fn halo_config(sim: &Simulator) -> HaloConfig {
    HaloConfig {
        base_url: sim.base_url(),
        auth_url: format!("{}/auth", sim.base_url()),
        client_id: sim.config().client_id.clone(),
        client_secret: Secret::new(sim.config().client_secret.clone()),
        tenant: sim.config().tenant.clone(),
        scope: "all".into(),
        timeout: Duration::from_secs(10),
        resilience: Resilience::default(),
        asset_fields: Default::default(),
    }
}

/// Starts a simulator on a free loopback port.
pub async fn simulator(config: SimConfig) -> anyhow::Result<Simulator> {
    Simulator::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// The server for `halo` in tree mode on one end of a pipe, rmcp's client on the other.
pub async fn connect(halo: HaloClient) -> anyhow::Result<(Client, LocalClient)> {
    let options = Options {
        mode: Mode::Tree,
        ..Options::default()
    };
    connect_with(halo, options, Implementation::new("halo-mcp-local", "1")).await
}

/// The server with `options`, and a client that introduces itself as `client_info` (which is
/// what `auto` mode decides by).
pub async fn connect_with(
    halo: HaloClient,
    options: Options,
    client_info: Implementation,
) -> anyhow::Result<(Client, LocalClient)> {
    let shared = Shared::with_options(Some(halo), options).map_err(anyhow::Error::msg)?;
    let server = HaloMcp::new(shared);
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        match server.serve(server_io).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::warn!(error = %e, "in-process server failed to start"),
        }
    });
    let handler = LocalClient {
        info: Some(client_info),
        ..LocalClient::default()
    };
    let client = handler.clone().serve(client_io).await?;
    Ok((client, handler))
}

/// Calls a tool; `args` must be a JSON object (anything else sends no arguments).
pub async fn call(client: &Client, name: &str, args: Value) -> anyhow::Result<CallToolResult> {
    let mut params = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(m) = args {
        params.arguments = Some(m);
    }
    Ok(client.call_tool(params).await?)
}

/// Calls a tool with a progress token, so the server reports progress for it.
pub async fn call_with_progress(
    client: &Client,
    name: &str,
    args: Value,
    token: i64,
) -> anyhow::Result<CallToolResult> {
    let mut params = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(m) = args {
        params.arguments = Some(m);
    }
    params.set_progress_token(ProgressToken(NumberOrString::Number(token)));
    Ok(client.call_tool(params).await?)
}

/// The text content of a result.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
