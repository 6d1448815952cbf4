//! Helpers shared by the examples (not an example itself: a directory without `main.rs`).
#![allow(dead_code)]

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};

/// The `halo-mcp` binary built next to the running example
/// (`target/<profile>/examples/<example>` → `target/<profile>/halo-mcp`).
pub fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .context("cannot locate the target directory")?;
    let bin = dir.join(format!("halo-mcp{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        bail!(
            "{} not found: build it first (cargo build [--release] --bin halo-mcp)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Resident and peak resident memory of a process, in KiB (Linux; zeros elsewhere).
pub fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `12345` → `12,345`.
pub fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The `p` quantile (0..=1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Resident memory of this process, in KiB (Linux; 0 elsewhere).
pub fn own_rss_kb() -> u64 {
    rss_kb(std::process::id()).0
}

/// The reference cache and this process after some number of distinct reads.
#[derive(Debug, Clone)]
pub struct CacheSample {
    pub reads: usize,
    pub entries: usize,
    pub bytes: u64,
    pub evictions: u64,
    pub rss_kb: u64,
}

/// A page of reference records as Halo returns them, made distinct by `i`.
pub fn reference_page(i: usize) -> serde_json::Value {
    let records: Vec<serde_json::Value> = (0..5)
        .map(|n| {
            serde_json::json!({
                "id": i * 10 + n, "name": format!("Status {i}.{n}"), "shortname": "st",
                "colour": "#2bd3c6", "type": 1, "sequence": n, "useforsla": true,
                "slaexcluded": false,
                "description": "A reference record about as large as Halo's statuses and types",
            })
        })
        .collect();
    serde_json::Value::Array(records)
}

/// Sends `reads` distinct reads (a search with a new term each time, as an assistant's lookups
/// produce) through a reference cache with `limits`, taking a sample every `every` reads:
/// memory must level off once the cache is full.
pub fn cache_plateau(
    reads: usize,
    every: usize,
    limits: halo_mcp::halo::CacheLimits,
) -> Vec<CacheSample> {
    use halo_mcp::halo::cache::{Cache, key};
    let cache = Cache::with_limits(Duration::from_secs(600), limits);
    let mut samples = Vec::new();
    for i in 1..=reads {
        let k = key("/Status", &[("search".to_owned(), format!("term {i}"))]);
        if cache.get(&k).is_none() {
            cache.put(&k, "status", 0, &reference_page(i));
        }
        if i % every.max(1) == 0 || i == reads {
            let s = cache.status();
            samples.push(CacheSample {
                reads: i,
                entries: s.entries,
                bytes: s.bytes,
                evictions: s.evictions,
                rss_kb: own_rss_kb(),
            });
        }
    }
    samples
}
