//! Figures for the resilient Halo client, against the simulated Halo on loopback:
//!
//! 1. burst throughput at the rate limit (and proof the limit is never exceeded);
//! 2. cache hit rate in a scripted drill-down, as an assistant would work.
//!
//! The time each layer adds per call is in `examples/perf.rs`.
//!
//! ```text
//! cargo run --release --example resilience
//! ```

use std::time::{Duration, Instant};

use futures::future::join_all;
use halo_mcp::{
    halo::{HaloClient, RateLimit},
    local,
    sim::{Faults, SimConfig},
};
use serde_json::{Value, json};

fn ticket_ids(sim: &halo_mcp::sim::Simulator, n: usize) -> Vec<i64> {
    sim.records("Tickets")
        .iter()
        .filter(|t| t["deleted"] != json!(true))
        .filter_map(|t| t["id"].as_i64())
        .take(n)
        .collect()
}

async fn burst() -> anyhow::Result<()> {
    let (limit, window) = (50u32, Duration::from_secs(2));
    let sim = local::simulator(SimConfig {
        faults: Faults {
            rate_limit: Some((limit, window)),
            retry_after: true,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await?;
    let mut cfg = local::halo_config(&sim);
    cfg.resilience.rate_limit = RateLimit { limit, window };
    let (client, _) = local::connect(HaloClient::new(cfg)?).await?;
    local::call(&client, "halo_navigate", json!({"domain": "tickets"})).await?;
    let ids = ticket_ids(&sim, 150);
    let started = Instant::now();
    let calls = ids
        .iter()
        .map(|id| local::call(&client, "halo_tickets_get", json!({"id": id})));
    let results = join_all(calls).await;
    let elapsed = started.elapsed().as_secs_f64();
    let failed = results
        .iter()
        .filter(|r| !matches!(r, Ok(r) if r.is_error != Some(true)))
        .count();
    let stats = sim.stats();
    let per_s = f64::from(limit) / window.as_secs_f64();
    println!(
        "1. burst: {} calls against a {limit}/{}s limit took {elapsed:.2} s = {:.1} calls/s \
         (the limit allows {per_s:.1}/s; the first {limit} go at once); failed calls: {failed}; \
         most requests Halo saw in any {}s window: {} (limit {limit}); 429s: {}",
        ids.len(),
        window.as_secs(),
        ids.len() as f64 / elapsed,
        window.as_secs(),
        stats.max_in_window,
        stats.rate_limited
    );
    Ok(())
}

async fn drill_down() -> anyhow::Result<()> {
    let sim = local::simulator(SimConfig::default()).await?;
    let (client, _) = local::connect(HaloClient::new(local::halo_config(&sim))?).await?;
    let ids = ticket_ids(&sim, 4);
    let status_id = sim.records("Status")[0]["id"].clone();
    let mut script: Vec<(&str, Value)> = vec![
        ("halo_status", json!({})),
        ("halo_navigate", json!({"domain": "tickets"})),
        (
            "halo_tickets_list",
            json!({"open_only": true, "page_size": 10}),
        ),
    ];
    for id in &ids {
        script.push(("halo_tickets_get", json!({"id": id})));
    }
    // Look up what the ids in those tickets mean, the way an assistant goes back and forth.
    for _ in 0..3 {
        script.extend([
            ("halo_navigate", json!({"domain": "ticket_setup"})),
            ("halo_statuses_list", json!({})),
            ("halo_ticket_types_list", json!({})),
            ("halo_statuses_get", json!({"id": status_id})),
            ("halo_navigate", json!({"domain": "sla"})),
            ("halo_priorities_list", json!({})),
            ("halo_navigate", json!({"domain": "teams"})),
            ("halo_teams_list", json!({})),
            ("halo_navigate", json!({"domain": "agents"})),
            ("halo_agents_list", json!({})),
            ("halo_agents_me", json!({})),
            ("halo_navigate", json!({"domain": "tickets"})),
            ("halo_tickets_list", json!({"mine": true})),
        ]);
    }
    let mut tool_calls = 0;
    for (tool, args) in script {
        let r = local::call(&client, tool, args).await?;
        anyhow::ensure!(r.is_error != Some(true), "{tool}: {}", local::text(&r));
        if !tool.starts_with("halo_navigate") && tool != "halo_status" {
            tool_calls += 1;
        }
    }
    let status = local::call(&client, "halo_status", json!({})).await?;
    let cache = status
        .structured_content
        .as_ref()
        .map(|s| s["halo"]["cache"].clone())
        .unwrap_or(Value::Null);
    let hits = cache["hits"].as_u64().unwrap_or(0);
    let misses = cache["misses"].as_u64().unwrap_or(0);
    let api = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api"))
        .count();
    println!(
        "2. drill-down: {tool_calls} tool calls sent {api} requests to Halo; reference cache \
         {hits} hits / {misses} misses = {:.0}% hit rate",
        100.0 * hits as f64 / (hits + misses).max(1) as f64
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    burst().await?;
    drill_down().await?;
    Ok(())
}
