//! The test harness: a simulator, the server on one end of an in-process pipe, rmcp's client on
//! the other (see `halo_mcp::local`).

use std::{sync::atomic::Ordering, time::Duration};

use halo_mcp::{
    halo::{HaloClient, HaloConfig},
    local::{self, Client, LocalClient},
    sim::{SimConfig, Simulator},
};
use rmcp::model::{CallToolResult, Tool};
use serde_json::Value;

pub use halo_mcp::local::text;

pub struct Harness {
    pub sim: Simulator,
    pub client: Client,
    pub handler: LocalClient,
}

/// Client settings for a simulator, with fast backoff to keep retry tests quick (the rules are
/// the same).
pub fn halo_config(sim: &Simulator) -> HaloConfig {
    let mut cfg = local::halo_config(sim);
    cfg.resilience.backoff_base = Duration::from_millis(20);
    cfg.resilience.backoff_max = Duration::from_millis(200);
    cfg
}

/// Moves tokio's clock `by` forward at once, where a test would otherwise sleep until a
/// cooldown or an expiry has passed (the breaker, the client's token and the simulator's tokens
/// read tokio's clock). The clock is paused only for the jump and resumed before any request:
/// left paused, it would auto-advance whenever the runtime waits on a socket and fire
/// unrelated timeouts. Needs the default current-thread test runtime.
pub async fn skip_time(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

/// The `id`s of an array of records, sorted.
pub fn sorted_ids(records: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = records
        .as_array()
        .expect("an array of records")
        .iter()
        .map(|m| m["id"].as_i64().expect("a record id"))
        .collect();
    ids.sort();
    ids
}

/// Simulator settings with these faults.
pub fn faulty(faults: halo_mcp::sim::Faults) -> SimConfig {
    SimConfig {
        faults,
        ..SimConfig::default()
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(SimConfig::default()).await
    }

    pub async fn start_with(config: SimConfig) -> Harness {
        Harness::start_tuned(config, |_| {}).await
    }

    /// A harness whose client settings `tune` adjusts (rate limit, retries, breaker, ...).
    pub async fn start_tuned(config: SimConfig, tune: impl FnOnce(&mut HaloConfig)) -> Harness {
        let sim = local::simulator(config).await.expect("simulator starts");
        let mut cfg = halo_config(&sim);
        tune(&mut cfg);
        let halo = HaloClient::new(cfg).expect("client builds");
        Harness::connect(sim, halo).await
    }

    pub async fn connect(sim: Simulator, halo: HaloClient) -> Harness {
        let (client, handler) = local::connect(halo).await.expect("client connects");
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
        assert!(args.is_object(), "arguments must be an object, got {args}");
        local::call(&self.client, name, args)
            .await
            .expect("tools/call")
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

/// The server and a bare client for `halo`, when the test manages the simulator itself.
pub async fn mcp_client(halo: HaloClient) -> (Client, LocalClient) {
    local::connect(halo).await.expect("client connects")
}

impl Harness {
    /// The first `n` tickets that are not deleted.
    pub fn ticket_ids(&self, n: usize) -> Vec<i64> {
        self.sim
            .records("Tickets")
            .iter()
            .filter(|t| t["deleted"] != serde_json::json!(true))
            .filter_map(|t| t["id"].as_i64())
            .take(n)
            .collect()
    }

    /// What a model does when a create's outcome is unknown: check, and create again only if
    /// it is not there. Returns how many times the create was reported uncertain.
    pub async fn create_once(&self, summary: &str) -> usize {
        let mut uncertain = 0;
        for _ in 0..10 {
            let r = self
                .call(
                    "halo_tickets_create",
                    serde_json::json!({"summary": summary, "client_id": 12}),
                )
                .await;
            if r.is_error != Some(true) {
                return uncertain;
            }
            let e = text(&r);
            assert!(
                e.contains("may or may not have been created") && e.contains("halo_tickets_list"),
                "unexpected create failure: {e}"
            );
            uncertain += 1;
            let found = self
                .ok(
                    "halo_tickets_list",
                    serde_json::json!({"search_summary": summary}),
                )
                .await;
            if found["record_count"].as_u64() == Some(1) {
                return uncertain;
            }
        }
        panic!("{summary} could not be created");
    }

    /// Calls a tool with a progress token; returns the structured result.
    pub async fn ok_with_progress(&self, name: &str, args: Value, token: i64) -> Value {
        let r = local::call_with_progress(&self.client, name, args.clone(), token)
            .await
            .expect("tools/call");
        assert_ne!(
            r.is_error,
            Some(true),
            "{name}({args}) failed: {}",
            text(&r)
        );
        r.structured_content.expect("structured content")
    }
}

/// Calls a tool on a bare client.
pub async fn call_on(client: &Client, name: &str, args: Value) -> CallToolResult {
    local::call(client, name, args).await.expect("tools/call")
}

/// A session spoken in raw JSON-RPC lines, for what rmcp's client would not send.
pub struct RawSession {
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
}

impl RawSession {
    /// Connects a fresh tree-mode server for `sim` and completes the handshake.
    pub async fn open(sim: &Simulator) -> RawSession {
        let tree = halo_mcp::server::Options {
            mode: halo_mcp::server::Mode::Tree,
            ..halo_mcp::server::Options::default()
        };
        let mut s = RawSession::connect(sim, tree).await;
        s.initialize("2025-11-25", "raw").await;
        s.send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        s
    }

    /// Connects a fresh server with `options`, without a handshake.
    pub async fn connect(sim: &Simulator, options: halo_mcp::server::Options) -> RawSession {
        use rmcp::ServiceExt;
        use tokio::io::AsyncBufReadExt;
        let halo = HaloClient::new(halo_config(sim)).expect("client builds");
        let shared = halo_mcp::server::Shared::with_options(Some(halo), options).expect("options");
        let server = halo_mcp::server::HaloMcp::new(shared);
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let (read, write) = tokio::io::split(client_io);
        RawSession {
            write,
            lines: tokio::io::BufReader::new(read).lines(),
        }
    }

    /// Sends `initialize` (id 1) as the named client; returns the answer.
    pub async fn initialize(&mut self, version: &str, client: &str) -> Value {
        self.send(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": client, "version": "1.0.0"}}}),
        )
        .await;
        self.until_response(1).await.0
    }

    pub async fn send(&mut self, message: Value) {
        use tokio::io::AsyncWriteExt;
        self.write
            .write_all(format!("{message}\n").as_bytes())
            .await
            .expect("write");
    }

    /// Reads until the response with `id`; returns it and the messages before it.
    pub async fn until_response(&mut self, id: i64) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .expect("an answer in time")
                .expect("read")
                .expect("a line");
            let message: Value = serde_json::from_str(&line).expect("JSON-RPC line");
            if message["id"] == id {
                return (message, before);
            }
            before.push(message);
        }
    }
}
