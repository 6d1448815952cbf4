//! What sharing the rate budget in Redis costs, against the in-process budget, in one run on
//! loopback:
//! 1. the budget alone: one permit taken and released per call, sequential (latency) and from
//!    64 tasks at once (calls per second), with a limit far above what the run sends so
//!    nothing waits;
//! 2. whole Halo calls: `HaloClient::get` against the simulated Halo (cache off), 32 at once,
//!    so the figure includes everything else a call does.
//!
//! ```text
//! cargo run --release --example redis_budget -- [CALLS]
//! ```
//!
//! Uses `HALO_MCP_TEST_REDIS` when set (as `.ci/run` does), else starts `redis-server` on a
//! free loopback port (it must be installed). Default: 20,000 permits and 4,000 Halo calls.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::future::join_all;
use halo_mcp::{
    halo::{
        Caching, HaloClient, RateLimit, Resilience,
        budget::RateBudget,
        shared_budget::{Budget, SharedBudget},
    },
    sim::SimConfig,
    state::SharedState,
};

mod support;

#[path = "../tests/e2e/redis_server.rs"]
mod redis_server;

use support::{group, ms, percentile};

/// A limit no run reaches: the figures are the bookkeeping's cost, never a wait. The window is
/// short so either budget holds a few hundred slots, as a real one does (Halo's 300), instead
/// of every slot of the run.
const HUGE: RateLimit = RateLimit {
    limit: 10_000_000,
    window: Duration::from_millis(20),
};

struct Figures {
    per_s: f64,
    p50: Duration,
    p99: Duration,
}

async fn sequential(budget: &Budget, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let p = budget.acquire_by(None).await?;
        drop(p);
        lat.push(t.elapsed());
    }
    Ok(lat)
}

async fn measure_budget(budget: Budget, n: usize) -> anyhow::Result<Figures> {
    // Warm-up: connections made, scripts loaded.
    sequential(&budget, 100).await?;
    let mut lat = sequential(&budget, n / 4).await?;
    lat.sort();
    let tasks = 64;
    let started = Instant::now();
    let runs = (0..tasks).map(|_| {
        let b = budget.clone();
        let each = n / tasks;
        tokio::spawn(async move { sequential(&b, each).await.map(|l| l.len()) })
    });
    let mut done = 0;
    for r in join_all(runs).await {
        done += r??;
    }
    Ok(Figures {
        per_s: done as f64 / started.elapsed().as_secs_f64(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
    })
}

async fn measure_calls(client: HaloClient, n: usize) -> anyhow::Result<Figures> {
    // Each call's query differs: identical GETs in flight would be shared, one request for
    // many calls, and hide the per-request cost being measured.
    let one = |c: HaloClient, i: usize| async move {
        let t = Instant::now();
        let query = [("n".to_owned(), i.to_string())];
        c.get("/Status", &query, Caching::Live)
            .await
            .map(|_| t.elapsed())
    };
    for i in 0..50 {
        one(client.clone(), i).await?;
    }
    let concurrency = 32;
    let started = Instant::now();
    let runs = (0..concurrency).map(|task| {
        let c = client.clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            for i in 0..n / concurrency {
                lat.push(one(c.clone(), task * n + i).await?);
            }
            Ok::<_, anyhow::Error>(lat)
        })
    });
    let mut lat = Vec::new();
    for r in join_all(runs).await {
        lat.extend(r??);
    }
    let per_s = lat.len() as f64 / started.elapsed().as_secs_f64();
    let sent = client.status().requests;
    if (sent as usize) < lat.len() {
        bail!("only {sent} requests for {} calls", lat.len());
    }
    lat.sort();
    Ok(Figures {
        per_s,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
    })
}

fn print(what: &str, memory: &Figures, redis: &Figures) {
    println!(
        "{what:<28} memory: {:>9} /s  p50 {:>7.3} ms  p99 {:>7.3} ms",
        group(memory.per_s as usize),
        ms(memory.p50),
        ms(memory.p99)
    );
    println!(
        "{:<28} redis:  {:>9} /s  p50 {:>7.3} ms  p99 {:>7.3} ms  (+{:.3} ms at p50)",
        "",
        group(redis.per_s as usize),
        ms(redis.p50),
        ms(redis.p99),
        ms(redis.p50.saturating_sub(memory.p50))
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().context("CALLS must be a number")?,
        None => 20_000,
    };
    // The Redis from `.ci/run`, else one of our own for the run.
    let mut _own = None;
    let url = match std::env::var("HALO_MCP_TEST_REDIS") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => match redis_server::RedisServer::start() {
            Ok(s) => {
                let u = s.url();
                _own = Some(s);
                u
            }
            Err(redis_server::NoRedis::Skip(why) | redis_server::NoRedis::Fail(why)) => {
                bail!("{why}")
            }
        },
    };
    let SharedState::Redis(redis) = SharedState::parse(&url).map_err(anyhow::Error::msg)? else {
        bail!("not a Redis URL: {url}");
    };
    println!("budget bookkeeping per call, loopback Redis, no waits ({n} permits each):");
    let memory = measure_budget(
        Budget::Local(RateBudget::new(HUGE, Duration::from_secs(5))),
        n,
    )
    .await?;
    let tenant = format!("bench-{}", fastrand::u64(..));
    let shared = SharedBudget::new(
        redis.clone(),
        &tenant,
        HUGE,
        Duration::from_secs(5),
        3,
        Duration::from_secs(20),
    );
    let redis_figures = measure_budget(Budget::Shared(shared), n).await?;
    print("permit (take + release)", &memory, &redis_figures);

    let calls = n / 5;
    println!("\nwhole Halo calls (GET, simulated Halo, cache off, 32 at once, {calls} calls):");
    let sim = halo_mcp::local::simulator(SimConfig::default()).await?;
    let mut cfg = halo_mcp::local::halo_config(&sim);
    cfg.resilience = Resilience {
        rate_limit: HUGE,
        cache_ttl: Duration::ZERO,
        ..Resilience::default()
    };
    // One client at a time: clients of one tenant share its budget while any of them lives.
    let memory = measure_calls(HaloClient::new(cfg.clone())?, calls).await?;
    cfg.resilience.state = SharedState::Redis(redis);
    let redis_figures = measure_calls(HaloClient::new(cfg)?, calls).await?;
    print("Halo call", &memory, &redis_figures);
    Ok(())
}
