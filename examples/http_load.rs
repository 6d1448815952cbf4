//! Load figure for remote use: N concurrent MCP sessions over Streamable HTTP (loopback), each
//! doing a drill-down the way an assistant works a ticket queue, against the release binary
//! serving the demo Halo.
//!
//! ```text
//! cargo build --release && cargo run --release --example http_load -- [SESSIONS] [ROUNDS]
//! ```
//!
//! Prints sessions held at once, calls per second, p50/p99 latency per tool call, errors (must
//! be 0) and the server's resident memory before and after. Defaults: 100 sessions, 3 rounds.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::sync::Barrier;

mod support;

use support::{binary, percentile, rss_kb};

const TOKEN: &str = "load-test-bearer-token-0123456789";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> anyhow::Result<(Server, String)> {
    let mut child = Command::new(binary()?)
        // Tree mode: every session keeps its own place in the menu.
        .args([
            "--demo",
            "--mode",
            "tree",
            "--transport",
            "http",
            "--bind",
            "127.0.0.1:0",
        ])
        .env("MCP_AUTH", "env")
        .env("MCP_AUTH_TOKEN", TOKEN)
        // The demo Halo has no real rate limit; the budget still runs, just not as the limit.
        .env("HALO_RATE_LIMIT", "1000000/60s")
        .env("LOG_LEVEL", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("no stderr")?;
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("url=http://")
                && line.contains("serving MCP over HTTP")
            {
                let url = line[i + 4..].split_whitespace().next().unwrap_or("");
                let _ = tx.send(url.trim_end_matches("/mcp").to_owned());
            }
            if line.contains("ERROR") {
                eprintln!("server: {line}");
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(20))
        .context("the server did not start")?;
    Ok((server, base))
}

type Client = RunningService<rmcp::RoleClient, ()>;

async fn connect(base: &str) -> anyhow::Result<Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
        .auth_header(TOKEN.to_owned());
    Ok(
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await?,
    )
}

/// One tool call, timed; tool errors count as errors.
async fn call(
    c: &Client,
    tool: &str,
    args: Value,
    times: &mut Vec<Duration>,
) -> anyhow::Result<Value> {
    let mut p = CallToolRequestParams::new(tool.to_owned());
    p.arguments = args.as_object().cloned();
    let started = Instant::now();
    let r = c.call_tool(p).await?;
    times.push(started.elapsed());
    if r.is_error == Some(true) {
        bail!("{tool}: {:?}", r.content);
    }
    Ok(r.structured_content.unwrap_or(Value::Null))
}

/// The drill-down: queue → ticket overviews → the client behind each → back to the menu.
async fn drill_down(c: &Client, rounds: usize, times: &mut Vec<Duration>) -> anyhow::Result<()> {
    call(c, "halo_status", json!({}), times).await?;
    for round in 0..rounds {
        call(c, "halo_navigate", json!({"domain": "tickets"}), times).await?;
        let list = call(
            c,
            "halo_tickets_list",
            json!({"open_only": true, "page_size": 10, "page_no": round + 1}),
            times,
        )
        .await?;
        let tickets: Vec<Value> = list["records"].as_array().cloned().unwrap_or_default();
        let mut clients = Vec::new();
        for t in tickets.iter().take(3) {
            call(c, "halo_tickets_overview", json!({"id": t["id"]}), times).await?;
            if let Some(id) = t["client_id"].as_i64().or(t["client"]["id"].as_i64()) {
                clients.push(id);
            }
        }
        call(c, "halo_navigate", json!({"domain": "clients"}), times).await?;
        for id in clients.iter().take(2) {
            call(c, "halo_clients_overview", json!({"id": id}), times).await?;
        }
        call(c, "halo_back", json!({}), times).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    halo_mcp::halo::install_crypto();
    let mut argv = std::env::args().skip(1);
    let sessions: usize = argv.next().map(|v| v.parse()).transpose()?.unwrap_or(100);
    let rounds: usize = argv.next().map(|v| v.parse()).transpose()?.unwrap_or(3);
    let (server, base) = start()?;
    let pid = server.0.id();

    // Warm up: one session waits for the demo seed, so the figures measure serving, not seeding.
    let warm = connect(&base).await?;
    drill_down(&warm, 1, &mut Vec::new()).await?;
    warm.cancel().await?;
    let (idle_rss, _) = rss_kb(pid);

    // Every session connects first, then all start the drill-down together: N sessions held.
    let barrier = Arc::new(Barrier::new(sessions + 1));
    let held = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let (base, barrier, held) = (base.clone(), barrier.clone(), held.clone());
        tasks.push(tokio::spawn(async move {
            let client = connect(&base).await;
            if client.is_ok() {
                held.fetch_add(1, Ordering::SeqCst);
            }
            barrier.wait().await;
            let mut times = Vec::new();
            let result = match client {
                Ok(c) => {
                    let r = drill_down(&c, rounds, &mut times).await;
                    let _ = c.cancel().await;
                    r
                }
                Err(e) => Err(e),
            };
            (times, result)
        }));
    }
    barrier.wait().await;
    let held_at_start = held.load(Ordering::SeqCst);
    let (loaded_rss, _) = rss_kb(pid);
    let started = Instant::now();
    let mut times = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        let (mut t_times, result) = t.await?;
        times.append(&mut t_times);
        if let Err(e) = result {
            errors.push(e.to_string());
        }
    }
    let elapsed = started.elapsed();
    let (after_rss, peak_rss) = rss_kb(pid);
    times.sort();

    println!("halo-mcp over Streamable HTTP (loopback, bearer auth, demo Halo)");
    println!("  sessions held at once  {held_at_start} of {sessions}");
    println!(
        "  tool calls             {} in {:.2} s → {:.0} calls/s",
        times.len(),
        elapsed.as_secs_f64(),
        times.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency per call       p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!("  errors                 {}", errors.len());
    println!(
        "  server RSS             idle {:.1} MB, {sessions} sessions open {:.1} MB, after {:.1} MB, peak {:.1} MB",
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0,
        after_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    for e in errors.iter().take(5) {
        eprintln!("  error: {e}");
    }
    if !errors.is_empty() || held_at_start != sessions {
        bail!("{} sessions failed", errors.len());
    }
    Ok(())
}
