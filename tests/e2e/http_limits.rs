//! Limits of the HTTP transport, against the real binary on loopback: slow and idle
//! connections are closed, live sessions are capped, memory comes back when sessions expire,
//! every answer carries the security headers, malformed JSON gets a JSON-RPC parse error, and
//! SIGTERM ends the process promptly even with an SSE stream open.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use futures::StreamExt;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

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
        &[("MCP_SESSION_IDLE", "10"), ("MCP_MAX_SESSIONS", "5000")],
        &["--demo", "--no-auth"],
    );
    let base = server.base.clone();
    let pid = server.child.id();
    let h = http();
    // Warm up lazily built state (catalogue, schemas) with one session, so the baseline counts
    // it; then wait for that session to go.
    let trims = || server.logs().matches("returned freed memory").count();
    let (status, _, _) = initialize(&h, &base).await;
    assert_eq!(status, 200);
    assert!(
        eventually(Duration::from_secs(30), || trims() == 1).await,
        "the warm-up session expired and its memory was released"
    );
    let baseline = rss_kib(pid);

    let started = Instant::now();
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
    let opening = started.elapsed();
    let most_live = server
        .logs()
        .split("live=")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);

    // Every session expires (the last close reports none left) and memory is released.
    let closes_to_zero = || server.logs().matches("closed live=0").count();
    assert!(
        eventually(Duration::from_secs(60), || closes_to_zero() >= 2
            && trims() >= 2)
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
        "RSS: baseline {} MB, after 2,000 sessions {} MB ({most_live} live at most, opened in \
         {opening:?}), after expiry {} MB",
        baseline / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(
        most_live >= 1000,
        "most sessions were live at once: {most_live}"
    );
    assert!(
        settled,
        "RSS after expiry {after} KiB, baseline {baseline} KiB"
    );
}

const TOKEN: &str = "operator-token-0123456789";

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Sends raw bytes and reads until the server closes the connection (at most 10 s).
async fn raw(server: &Server, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr(server)).await.unwrap();
    // The server may answer (and close) before reading all of an oversized request.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code and the lower-cased head of a raw answer.
fn head_of(answer: &str) -> (u16, String) {
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

fn assert_security_headers(what: &str, head: &str) {
    for line in [
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "content-security-policy: default-src 'none'",
        "strict-transport-security: max-age=",
        "referrer-policy: no-referrer",
        "permissions-policy: ",
        "cache-control: no-store",
    ] {
        assert!(head.contains(line), "{what}: no `{line}` in\n{head}");
    }
}

/// Waits for the server to close `s` (EOF or reset); returns how long that took, or `None` if
/// it stayed open for `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Every answer carries the security headers: hyper's own 400 (malformed request line) and
/// 431 (oversized header), and the router's 404, 401, 413 and 403.
#[tokio::test]
async fn security_headers_on_every_error() {
    let server = Server::start(
        &[("MCP_AUTH", "env"), ("MCP_AUTH_TOKEN", TOKEN)],
        &["--demo"],
    );
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("malformed request line", b"GARBAGE\x01 / NOPE\r\n\r\n".to_vec(), 400),
        ("oversized header", big.into_bytes(), 431),
        (
            "unknown path",
            b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_vec(),
            404,
        ),
        (
            "no bearer",
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                .to_vec(),
            401,
        ),
        (
            "body over the cap",
            format!(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
            413,
        ),
        (
            "foreign Host",
            b"GET /health HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n".to_vec(),
            403,
        ),
    ];
    for (what, request, want) in cases {
        let answer = raw(&server, &request).await;
        let (status, head) = head_of(&answer);
        assert_eq!(status, want, "{what}: {answer:.300}");
        assert_security_headers(what, &head);
    }
    // The server is unharmed.
    let ok = raw(
        &server,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(head_of(&ok).0, 200);
}

/// A client that sends its headers a byte at a time, or nothing at all, is disconnected after
/// the header timeout; a kept-alive connection with nothing in flight is closed after the idle
/// timeout; an open SSE stream outlives both.
#[tokio::test]
async fn slow_and_idle_connections_are_closed_but_sse_streams_live() {
    let server = Server::start(
        &[
            ("MCP_HTTP_HEADER_TIMEOUT", "1"),
            ("MCP_HTTP_IDLE_TIMEOUT", "2"),
        ],
        &["--demo", "--no-auth"],
    );
    let limit = Duration::from_secs(6);

    // Connects and sends nothing.
    let mut silent = TcpStream::connect(addr(&server)).await.unwrap();
    let took = closed_within(&mut silent, limit)
        .await
        .expect("silent closed");
    assert!(took >= Duration::from_millis(900), "{took:?}");

    // Sends a head one byte every 100 ms: it would take ~4 s, the deadline is 1 s.
    let slow = TcpStream::connect(addr(&server)).await.unwrap();
    let (mut read_half, mut write_half) = slow.into_split();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for b in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaa\r\n\r\n" {
            if write_half.write_all(&[*b]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(limit, read_half.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the slow client was disconnected");
    assert!(buf.is_empty(), "no answer to a head that never finished");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    trickle.abort();

    // One request, then nothing: closed after the idle timeout (2 s), not the header one.
    let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = idle.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let took = closed_within(&mut idle, limit).await.expect("idle closed");
    assert!(took >= Duration::from_millis(1500), "{took:?}");

    // A body that stops arriving fails the request once it has stalled for the idle timeout.
    let mut stalled = TcpStream::connect(addr(&server)).await.unwrap();
    let started = Instant::now();
    stalled
        .write_all(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stalled.read_to_end(&mut answer))
        .await
        .expect("the stalled request was ended")
        .unwrap();
    let took = started.elapsed();
    let (status, head) = head_of(&String::from_utf8_lossy(&answer));
    assert_eq!(status, 408, "{head}");
    assert_security_headers("stalled body", &head);
    assert!(took >= Duration::from_millis(1500), "{took:?}");

    // An SSE stream with no traffic stays open well past both deadlines.
    let h = http();
    let (status, sid, _) = initialize(&h, &server.base).await;
    assert_eq!(status, 200);
    let sid = sid.unwrap();
    let mut sse = TcpStream::connect(addr(&server)).await.unwrap();
    sse.write_all(
        format!(
            "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\nMcp-Protocol-Version: 2025-06-18\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let n = sse.read(&mut first).await.unwrap();
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    assert_eq!(
        closed_within(&mut sse, Duration::from_secs(5)).await,
        None,
        "the SSE stream was cut"
    );
}

async fn post_mcp(
    h: &reqwest::Client,
    base: &str,
    sid: Option<&str>,
    body: String,
) -> (u16, Value) {
    let mut r = h
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(s) = sid {
        r = r.header("mcp-session-id", s);
    }
    let r = r.body(body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    // An SSE answer carries the message on its `data:` line.
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(&text)
        .to_owned();
    (
        status,
        serde_json::from_str(&json).unwrap_or(Value::String(text)),
    )
}

/// Bodies that are not JSON get JSON-RPC parse errors; JSON that is not JSON-RPC gets an
/// invalid-request error.
#[tokio::test]
async fn malformed_json_gets_jsonrpc_errors() {
    let server = Server::start(&[], &["--demo", "--no-auth"]);
    let h = http();
    let deep = "[".repeat(10_000);
    let cases = [
        (
            "not JSON",
            r#"{"jsonrpc": "2.0", "id": 1, "method""#.to_owned(),
            -32700,
        ),
        ("too deep", deep, -32700),
        (
            "lone surrogate",
            r#"{"jsonrpc":"2.0","id":1,"method":"\ud800"}"#.to_owned(),
            -32700,
        ),
        ("not JSON-RPC", r#"{"hello": "world"}"#.to_owned(), -32600),
    ];
    for (what, body, code) in cases {
        let (status, answer) = post_mcp(&h, &server.base, None, body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["jsonrpc"], "2.0", "{what}: {answer}");
        assert_eq!(answer["id"], Value::Null, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{what}: {answer}");
    }
    // The server is unharmed.
    let (status, _, _) = initialize(&h, &server.base).await;
    assert_eq!(status, 200);
}

/// Beyond the cap a new session gets 503 with a JSON-RPC error; existing sessions go on; a
/// closed or expired session frees its slot.
#[tokio::test]
async fn live_sessions_are_capped() {
    let server = Server::start(
        &[("MCP_MAX_SESSIONS", "2"), ("MCP_SESSION_IDLE", "4")],
        &["--demo", "--no-auth"],
    );
    let base = server.base.clone();
    let h = http();
    let (s1, a, _) = initialize(&h, &base).await;
    let (s2, b, _) = initialize(&h, &base).await;
    assert_eq!((s1, s2), (200, 200));
    let (a, b) = (a.unwrap(), b.unwrap());

    let refused = h
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("x-content-type-options"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32000);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("limit of 2 live MCP sessions") && !message.contains('\n'),
        "{message}"
    );

    // The existing sessions are unaffected.
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let (status, answer) = post_mcp(&h, &base, Some(&a), list.to_owned()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["result"]["tools"].is_array(), "{answer}");

    // DELETE frees a slot at once.
    let deleted = h
        .delete(format!("{base}/mcp"))
        .header("mcp-session-id", &b)
        .send()
        .await
        .unwrap();
    // 204, not rmcp's 202: the Python SDK warns on anything but 200 or 204.
    assert_eq!(deleted.status(), 204);
    let (status, c, _) = initialize(&h, &base).await;
    assert_eq!(status, 200);
    assert_eq!(initialize(&h, &base).await.0, 503);

    // Expiry frees slots too: once both sessions have idled out, two more can open.
    assert!(
        eventually(Duration::from_secs(20), || server.logs().contains("live=0")).await,
        "the sessions expired"
    );
    let (s3, _, _) = initialize(&h, &base).await;
    let (s4, _, _) = initialize(&h, &base).await;
    assert_eq!((s3, s4), (200, 200));
    drop(c);
}

/// SIGTERM ends the process promptly, with exit code 0, even with an SSE stream open.
#[tokio::test]
async fn sigterm_with_an_open_sse_stream_exits_promptly() {
    let mut server = Server::start(&[], &["--demo", "--no-auth"]);
    let h = http();
    let (status, sid, _) = initialize(&h, &server.base).await;
    assert_eq!(status, 200);
    let sse = h
        .get(format!("{}/mcp", server.base))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", sid.unwrap())
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let mut events = sse.bytes_stream();
    // The priming event: the stream is live on the server's side.
    assert!(events.next().await.unwrap().is_ok());

    let pid = server.child.id().to_string();
    let started = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut code = None;
    while started.elapsed() < Duration::from_secs(3) {
        if let Some(status) = server.child.try_wait().unwrap() {
            code = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    let code = code.unwrap_or_else(|| panic!("still running 3 s after SIGTERM"));
    eprintln!(
        "shutdown with an open SSE stream took {} ms",
        took.as_millis()
    );
    assert_eq!(code.code(), Some(0), "{}", server.logs());
    // The client sees its stream end.
    let rest = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(_)) = events.next().await {}
    })
    .await;
    assert!(rest.is_ok(), "the SSE stream ended");
}

/// The new settings are checked like the others: a bad value stops the server with exit code 2
/// and one line naming the setting.
#[test]
fn bad_limits_exit_2() {
    for (env, args, needle) in [
        (("MCP_MAX_SESSIONS", "0"), vec![], "MCP_MAX_SESSIONS"),
        (
            ("MCP_HTTP_HEADER_TIMEOUT", "soon"),
            vec![],
            "MCP_HTTP_HEADER_TIMEOUT",
        ),
        (
            ("LOG_LEVEL", "info"),
            vec!["--http-idle-timeout=0"],
            "--http-idle-timeout",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
            .env_clear()
            .env(env.0, env.1)
            .args([
                "--demo",
                "--no-auth",
                "--transport",
                "http",
                "--bind",
                "127.0.0.1:0",
            ])
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
