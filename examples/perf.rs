//! The performance figures in the README, in one run:
//!
//! 1. cold start: spawning the binary to the `initialize` result (configured, and demo mode);
//! 2. `tools/list` bytes: at start (tree, dispatch), after each domain is opened, and the whole
//!    catalogue offered flat;
//! 3. compact vs full: the largest records of the main resources as the model gets them by
//!    default and with `detail: "full"` (what Halo sent), and a 50-row page;
//! 4. per-call overhead in one run: a direct HTTP GET to the simulated Halo, the same through the
//!    Halo client, and as an MCP tool call;
//! 5. the server's memory after 1,000 tool calls over stdio.
//!
//! ```text
//! cargo build --release && cargo run --release --example perf
//! cargo run --example perf -- lists    # section 2 alone: byte counts, the same in any build
//! ```

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use halo_mcp::{
    halo::{Caching, HaloClient, RateLimit},
    local::{self, LocalClient},
    server::{Mode, Options},
    sim::{SimConfig, Simulator},
};
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, Implementation},
    transport::TokioChildProcess,
};
use serde_json::{Value, json};

mod support;

use support::{binary, group, ms, percentile, rss_kb};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"perf","version":"1"}}}"#;

/// One spawn → `initialize` result.
fn cold_start_once(binary: &std::path::Path, demo: bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut cmd = Command::new(binary);
    if demo {
        cmd.arg("--demo");
    } else {
        // Never contacted: `initialize` needs no Halo.
        cmd.env("HALO_BASE_URL", "https://example.invalid")
            .env("HALO_CLIENT_ID", "id")
            .env("HALO_CLIENT_SECRET", "secret");
    }
    let mut child = cmd
        .env("LOG_LEVEL", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    writeln!(stdin, "{INITIALIZE}")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let elapsed = started.elapsed();
    ensure!(
        line.contains("\"result\"") && line.contains("protocolVersion"),
        "unexpected answer: {line}"
    );
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    Ok(elapsed)
}

fn cold_start(binary: &std::path::Path) -> anyhow::Result<()> {
    println!("1. Cold start (spawn to initialize result, 25 runs each)");
    for (label, demo) in [("configured Halo", false), ("demo mode", true)] {
        let mut times = (0..25)
            .map(|_| cold_start_once(binary, demo))
            .collect::<anyhow::Result<Vec<_>>>()?;
        times.sort();
        println!(
            "   {label:<16} median {:.1} ms, p90 {:.1} ms, min {:.1} ms",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.9)),
            ms(times[0])
        );
    }
    Ok(())
}

async fn session(sim: &Simulator, options: Options) -> anyhow::Result<local::Client> {
    let halo = HaloClient::new(local::halo_config(sim))?;
    let (client, _) = local::connect_with(halo, options, Implementation::new("perf", "1")).await?;
    Ok(client)
}

fn mode(mode: Mode) -> Options {
    Options {
        mode,
        ..Options::default()
    }
}

async fn list_bytes(client: &local::Client) -> anyhow::Result<(usize, usize)> {
    let tools = client.list_all_tools().await?;
    Ok((tools.len(), serde_json::to_string(&tools)?.len()))
}

async fn tool_lists(sim: &Simulator) -> anyhow::Result<()> {
    println!("\n2. tools/list sizes (bytes of the tool list the client receives)");
    let tree = session(sim, mode(Mode::Tree)).await?;
    let (n, start) = list_bytes(&tree).await?;
    println!(
        "   at start, tree mode      {n} tools, {} bytes",
        group(start)
    );
    let dispatch = session(sim, mode(Mode::Dispatch)).await?;
    let (n, b) = list_bytes(&dispatch).await?;
    println!("   at start, dispatch mode  {n} tools, {} bytes", group(b));
    // The only text tool-search clients load up front besides tool names.
    for (label, client) in [("tree", &tree), ("dispatch", &dispatch)] {
        let instructions = client
            .peer_info()
            .and_then(|i| i.instructions.clone())
            .unwrap_or_default();
        println!(
            "   instructions, {label:<9} {} bytes",
            group(instructions.len())
        );
    }

    let names: Vec<&str> = halo_mcp::catalog::catalog().names().collect();
    let mut sizes = Vec::new();
    for d in &names {
        local::call(&tree, "halo_navigate", json!({"domain": d})).await?;
        let (n, b) = list_bytes(&tree).await?;
        sizes.push((b, n, *d));
    }
    sizes.sort();
    let (small, median, large) = (sizes[0], sizes[sizes.len() / 2], sizes[sizes.len() - 1]);
    println!(
        "   one domain open          smallest {} bytes ({}, {} tools), median {} bytes, largest \
         {} bytes ({}, {} tools)",
        group(small.0),
        small.2,
        small.1,
        group(median.0),
        group(large.0),
        large.2,
        large.1
    );
    let flat = session(
        sim,
        Options {
            mode: Mode::Flat,
            domains: Some(names.iter().map(|d| d.to_string()).collect()),
            max_tools: 10_000,
            ..Options::default()
        },
    )
    .await?;
    let (n, whole) = list_bytes(&flat).await?;
    println!(
        "   whole catalogue, flat    {n} tools, {} bytes ({:.0}× the tree's start-up list)",
        group(whole),
        whole as f64 / start as f64
    );
    Ok(())
}

async fn text_len(client: &local::Client, tool: &str, args: Value) -> anyhow::Result<usize> {
    let r = local::call(client, tool, args).await?;
    ensure!(r.is_error != Some(true), "{tool}: {}", local::text(&r));
    Ok(local::text(&r).len())
}

async fn compact_vs_full(sim: &Simulator) -> anyhow::Result<()> {
    println!("\n3. Compact vs full (bytes the model reads; full = what Halo sent)");
    let client = session(sim, mode(Mode::Tree)).await?;
    let cases = [
        ("tickets", "Tickets", "halo_tickets_get"),
        ("assets", "Asset", "halo_assets_get"),
        ("clients", "Client", "halo_clients_get"),
        ("users", "Users", "halo_users_get"),
        ("sites", "Site", "halo_sites_get"),
        ("invoices", "Invoice", "halo_invoices_get"),
        ("agents", "Agent", "halo_agents_get"),
        ("projects", "Projects", "halo_projects_get"),
    ];
    let (mut all_compact, mut all_full) = (0, 0);
    for (domain, resource, tool) in cases {
        // The largest record of the resource, as Halo holds it.
        let largest = sim
            .records(resource)
            .into_iter()
            .filter(|r| r["deleted"] != json!(true))
            .max_by_key(|r| r.to_string().len())
            .context("no records")?;
        let id = largest["id"].clone();
        let id_text = id.to_string();
        local::call(&client, "halo_navigate", json!({"domain": domain})).await?;
        let compact = text_len(&client, tool, json!({"id": id})).await?;
        let full = text_len(&client, tool, json!({"id": id, "detail": "full"})).await?;
        all_compact += compact;
        all_full += full;
        println!(
            "   {tool:<20} id {id_text:<5} compact {:>6} bytes, full {:>7} bytes ({:.0}% smaller)",
            group(compact),
            group(full),
            100.0 * (1.0 - compact as f64 / full as f64)
        );
    }
    println!(
        "   all eight                     compact {:>6} bytes, full {:>7} bytes ({:.0}% smaller)",
        group(all_compact),
        group(all_full),
        100.0 * (1.0 - all_compact as f64 / all_full as f64)
    );
    local::call(&client, "halo_navigate", json!({"domain": "tickets"})).await?;
    let page = json!({"page_size": 50});
    let compact = text_len(&client, "halo_tickets_list", page.clone()).await?;
    let mut full_args = page;
    full_args["detail"] = json!("full");
    let full = text_len(&client, "halo_tickets_list", full_args).await?;
    println!(
        "   50 tickets (list)             compact {:>6} bytes, full {:>7} bytes ({:.0}% smaller)",
        group(compact),
        group(full),
        100.0 * (1.0 - compact as f64 / full as f64)
    );
    Ok(())
}

fn mean_us(total: Duration, n: u32) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(n)
}

async fn overhead(sim: &Simulator) -> anyhow::Result<()> {
    let mut cfg = local::halo_config(sim);
    // Measuring the layers, not waiting on Halo's limit.
    cfg.resilience.rate_limit = RateLimit {
        limit: 1_000_000,
        window: Duration::from_secs(1),
    };
    let id = sim
        .records("Tickets")
        .iter()
        .find(|t| t["deleted"] != json!(true))
        .and_then(|t| t["id"].as_i64())
        .context("no ticket")?;
    let path = format!("/Tickets/{id}");
    let n = 500u32;

    // A direct request with a token fetched once.
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/token", cfg.auth_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.expose()),
            ("scope", "all"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let bearer = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let url = format!("{}/api{path}", cfg.base_url);
    let mut direct = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        let v: Value = http
            .get(&url)
            .bearer_auth(&bearer)
            .send()
            .await?
            .json()
            .await?;
        direct += t.elapsed();
        ensure!(v["id"] == json!(id));
    }

    let halo = HaloClient::new(cfg)?;
    halo.get(&path, &[], Caching::Live).await?;
    let mut through_client = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        let v = halo.get(&path, &[], Caching::Live).await?;
        through_client += t.elapsed();
        ensure!(v["id"] == json!(id));
    }

    let (client, _) = local::connect(halo).await?;
    local::call(&client, "halo_navigate", json!({"domain": "tickets"})).await?;
    let mut as_tool = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        let r = local::call(&client, "halo_tickets_get", json!({"id": id})).await?;
        as_tool += t.elapsed();
        ensure!(r.is_error != Some(true));
    }
    let (d, c, m) = (
        mean_us(direct, n),
        mean_us(through_client, n),
        mean_us(as_tool, n),
    );
    println!("\n4. Per-call overhead ({n} sequential GETs of one ticket, loopback, same run)");
    println!("   direct HTTP to the simulated Halo     {d:.0} µs");
    println!(
        "   through the Halo client               {c:.0} µs (+{:.0} µs: token cache, breaker, \
         retry loop, rate budget, in-flight sharing)",
        c - d
    );
    println!(
        "   as an MCP tool call (in-process pipe)  {m:.0} µs (+{:.0} µs over the client: \
         argument checks, JSON-RPC, compact shaping)",
        m - c
    );
    Ok(())
}

async fn memory(binary: &std::path::Path, sim: &Simulator) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args(["--mode", "tree"])
        .env("HALO_BASE_URL", sim.base_url())
        .env("HALO_CLIENT_ID", &sim.config().client_id)
        .env("HALO_CLIENT_SECRET", &sim.config().client_secret)
        .env("HALO_RATE_LIMIT", "1000000/60s")
        .env("LOG_LEVEL", "warn");
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()?;
    let pid = transport.id().context("no child pid")?;
    let client = LocalClient::default().serve(transport).await?;
    let (at_start, _) = rss_kb(pid);
    let ids: Vec<i64> = sim
        .records("Tickets")
        .iter()
        .filter(|t| t["deleted"] != json!(true))
        .filter_map(|t| t["id"].as_i64())
        .take(50)
        .collect();
    let call = |name: &str, args: Value| {
        let mut p = CallToolRequestParams::new(name.to_owned());
        p.arguments = args.as_object().cloned();
        p
    };
    let started = Instant::now();
    let mut calls = 0;
    while calls < 1000 {
        for (domain, tool, args) in [
            (
                "tickets",
                "halo_tickets_list",
                json!({"page_size": 20, "open_only": true}),
            ),
            (
                "tickets",
                "halo_tickets_get",
                json!({"id": ids[calls % ids.len()]}),
            ),
            (
                "tickets",
                "halo_tickets_overview",
                json!({"id": ids[calls % ids.len()]}),
            ),
            ("clients", "halo_clients_list", json!({})),
            ("assets", "halo_assets_list", json!({"page_size": 50})),
        ] {
            let r = client
                .call_tool(call("halo_navigate", json!({"domain": domain})))
                .await?;
            ensure!(r.is_error != Some(true));
            let r = client.call_tool(call(tool, args)).await?;
            ensure!(r.is_error != Some(true), "{tool}");
            calls += 2;
        }
    }
    let elapsed = started.elapsed();
    let (after, peak) = rss_kb(pid);
    println!("\n5. Memory (release binary over stdio, configured against the simulated Halo)");
    println!(
        "   RSS after initialize {:.1} MB; after {calls} tool calls {:.1} MB (peak {:.1} MB); \
         {:.0} calls/s over stdio",
        at_start as f64 / 1024.0,
        after as f64 / 1024.0,
        peak as f64 / 1024.0,
        f64::from(calls as u32) / elapsed.as_secs_f64()
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    halo_mcp::halo::install_crypto();
    // `-- lists`: only the tool-list sizes, which are the same in any build.
    if std::env::args().any(|a| a == "lists") {
        let sim = local::simulator(SimConfig::default()).await?;
        return tool_lists(&sim).await;
    }
    let binary = binary()?;
    cold_start(&binary)?;
    let sim = local::simulator(SimConfig::default()).await?;
    tool_lists(&sim).await?;
    compact_vs_full(&sim).await?;
    overhead(&sim).await?;
    memory(&binary, &sim).await?;
    Ok(())
}
