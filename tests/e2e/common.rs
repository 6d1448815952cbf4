//! The test harness: a simulator, the server on one end of a duplex pipe, rmcp's client on the
//! other.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use halo_mcp::{
    halo::{HaloClient, HaloConfig},
    secret::Secret,
    server::{HaloMcp, Shared},
    sim::{SimConfig, Simulator},
};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, Tool},
    service::{NotificationContext, RunningService},
};
use serde_json::Value;

/// A client that counts `notifications/tools/list_changed`.
#[derive(Clone, Default)]
pub struct TestClient {
    pub list_changed: Arc<AtomicUsize>,
    pub notified: Arc<tokio::sync::Notify>,
}

impl ClientHandler for TestClient {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed.fetch_add(1, Ordering::SeqCst);
        self.notified.notify_waiters();
    }
}

pub struct Harness {
    pub sim: Simulator,
    pub client: RunningService<RoleClient, TestClient>,
    pub handler: TestClient,
}

pub fn halo_config(sim: &Simulator) -> HaloConfig {
    HaloConfig {
        base_url: sim.base_url(),
        auth_url: format!("{}/auth", sim.base_url()),
        client_id: sim.config().client_id.clone(),
        client_secret: Secret::new(sim.config().client_secret.clone()),
        tenant: sim.config().tenant.clone(),
        scope: "all".into(),
        timeout: Duration::from_secs(10),
        resilience: halo_mcp::halo::Resilience {
            // Fast backoff keeps retry tests quick; the rules are the same.
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            ..halo_mcp::halo::Resilience::default()
        },
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(SimConfig::default()).await
    }

    pub async fn start_with(config: SimConfig) -> Harness {
        let sim = Simulator::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("simulator starts");
        let halo = HaloClient::new(halo_config(&sim)).expect("client builds");
        Harness::connect(sim, halo).await
    }

    pub async fn connect(sim: Simulator, halo: HaloClient) -> Harness {
        let server = HaloMcp::new(Shared::new(halo));
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let handler = TestClient::default();
        let client = handler
            .clone()
            .serve(client_io)
            .await
            .expect("client connects");
        Harness {
            sim,
            client,
            handler,
        }
    }

    pub async fn tools(&self) -> Vec<Tool> {
        self.client.list_all_tools().await.expect("tools/list")
    }

    pub async fn tool_names(&self) -> Vec<String> {
        self.tools()
            .await
            .into_iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = match args {
            Value::Object(m) => Some(m),
            Value::Null => None,
            other => panic!("arguments must be an object, got {other}"),
        };
        self.client.call_tool(params).await.expect("tools/call")
    }

    /// Calls a tool that must succeed; returns its structured result.
    pub async fn ok(&self, name: &str, args: Value) -> Value {
        let r = self.call(name, args.clone()).await;
        assert_ne!(
            r.is_error,
            Some(true),
            "{name}({args}) failed: {}",
            text(&r)
        );
        let structured = r.structured_content.clone().expect("structured content");
        let from_text: Value = serde_json::from_str(&text(&r)).expect("text content is JSON");
        assert_eq!(structured, from_text, "text and structured content agree");
        structured
    }

    /// Calls a tool that must fail; returns the error text.
    pub async fn err(&self, name: &str, args: Value) -> String {
        let r = self.call(name, args.clone()).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{name}({args}) should fail but returned {}",
            text(&r)
        );
        text(&r)
    }

    pub async fn navigate(&self, domain: &str) -> Value {
        self.ok("halo_navigate", serde_json::json!({ "domain": domain }))
            .await
    }

    pub fn list_changed(&self) -> usize {
        self.handler.list_changed.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` list_changed notifications have arrived.
    pub async fn wait_list_changed(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.list_changed() < n {
            let notified = self.handler.notified.notified();
            if self.list_changed() >= n {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} tools/list_changed notifications, got {}",
                    self.list_changed()
                );
            }
        }
    }

    /// API requests the simulator has seen (token requests excluded).
    pub fn api_requests(&self) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.path.to_ascii_lowercase().starts_with("/api"))
            .count()
    }
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
