//! The real binary over stdio, driven line by line: what a careless or hostile client sends gets
//! a JSON-RPC answer, signals end a session while stdin stays open, end of input before
//! `initialize` is not an error, and a caller's value cannot forge or flood a log line.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

struct Stdio_ {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// stderr, read as it comes so the process never blocks on a full pipe.
    stderr: tokio::task::JoinHandle<Vec<u8>>,
}

fn demo(log_level: &str) -> Stdio_ {
    let mut child = Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
        .env_clear()
        .args(["--demo", "--mode", "dispatch"])
        .env("LOG_LEVEL", log_level)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut err = child.stderr.take().expect("stderr");
    let stderr = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut err, &mut all).await;
        all
    });
    Stdio_ {
        child,
        stdin,
        stdout,
        stderr,
    }
}

impl Stdio_ {
    async fn send(&mut self, line: &[u8]) {
        self.stdin.write_all(line).await.expect("write");
        self.stdin.write_all(b"\n").await.expect("write");
        self.stdin.flush().await.expect("flush");
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.stdout.next_line())
            .await
            .expect("an answer within 20 s")
            .expect("read")
            .expect("a line, not end of output");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    async fn initialize(&mut self) {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "stdio-test", "version": "1"}}});
        self.send(init.to_string().as_bytes()).await;
        let answer = self.answer().await;
        assert_eq!(answer["id"], 1, "{answer}");
        assert!(answer["result"]["serverInfo"].is_object(), "{answer}");
        self.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
    }

    /// Sends a signal and measures how long the process takes to exit.
    async fn signal(&mut self, name: &str) -> (Duration, Option<i32>) {
        let pid = self.child.id().expect("running").to_string();
        let started = Instant::now();
        let sent = std::process::Command::new("kill")
            .args([format!("-{name}"), pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits within 10 s")
            .expect("wait");
        (started.elapsed(), status.code())
    }
}

fn assert_parse_error(answer: &Value) {
    assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
    assert_eq!(answer["id"], Value::Null, "{answer}");
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
}

#[tokio::test]
async fn malformed_lines_get_parse_errors_and_the_session_goes_on() {
    let mut s = demo("warn");
    // Before initialize, as a client that gets its framing wrong would.
    s.send(b"{this is not json").await;
    assert_parse_error(&s.answer().await);
    s.initialize().await;
    let deep = "[".repeat(10_000);
    for bad in [
        deep.as_bytes(),
        br#"{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":"\ud800"}}"#,
        b"\xff\xfe\xfd",
        br#"{"jsonrpc":"2.0","id":3,"method":"ping"} trailing"#,
    ] {
        s.send(bad).await;
        assert_parse_error(&s.answer().await);
    }
    // A line beyond the relay's limit is refused without being held whole.
    let huge = vec![b'x'; halo_mcp::stdio::MAX_LINE + 10];
    s.send(&huge).await;
    let answer = s.answer().await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(answer["id"], Value::Null);
    // The session still works.
    s.send(br#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#)
        .await;
    let answer = s.answer().await;
    assert_eq!(answer["id"], 9, "{answer}");
    assert!(
        answer["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn sigterm_and_sigint_end_a_session_while_stdin_stays_open() {
    for signal in ["TERM", "INT"] {
        let mut s = demo("warn");
        s.initialize().await;
        // stdin stays open: the signal alone must end the process.
        let (took, code) = s.signal(signal).await;
        assert_eq!(code, Some(0), "SIG{signal}");
        assert!(
            took < Duration::from_secs(1),
            "SIG{signal}: exit took {took:?}"
        );
        eprintln!(
            "SIG{signal} with stdin open: exit in {} ms",
            took.as_millis()
        );
        drop(s.stdin);
    }
}

#[tokio::test]
async fn end_of_input_before_initialize_is_one_line_and_exit_0() {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
            .env_clear()
            .args(["--demo"])
            .env("LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("exits")
    .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("before an MCP client sent initialize"),
        "{stderr}"
    );
}

/// A value with a newline and a fake level, a megabyte long: the answer is short, and no log
/// line is forged or flooded.
#[tokio::test]
async fn caller_values_cannot_forge_or_flood_logs() {
    let mut s = demo("debug");
    s.initialize().await;
    let forged = format!(
        "1\n2026-01-01T00:00:00Z  WARN forged line\u{1b}[2J{}",
        "x".repeat(1_000_000)
    );
    let calls = [
        json!({"tool": "halo_tickets_get", "arguments": {"id": forged}}),
        json!({"tool": forged, "arguments": {}}),
        json!({"tool": "halo_tickets_list", "arguments": {"order": forged}}),
    ];
    for (i, call) in calls.iter().enumerate() {
        let id = 100 + i;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "halo_read", "arguments": call}});
        s.send(request.to_string().as_bytes()).await;
        let answer = s.answer().await;
        assert_eq!(answer["id"], id, "{}", &answer.to_string()[..300]);
        let text = answer.to_string();
        assert!(text.len() < 2_000, "answer of {} bytes", text.len());
        assert!(!text.contains("forged line\\u001b"), "{text}");
    }
    drop(s.stdin);
    let status = tokio::time::timeout(Duration::from_secs(20), s.child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    let stderr = s.stderr.await.expect("stderr");
    let stderr = String::from_utf8_lossy(&stderr);
    for line in stderr.lines() {
        assert!(
            line.len() <= halo_mcp::text::MAX_LOG_RECORD + 100,
            "a log line of {} bytes",
            line.len()
        );
        assert!(!line.contains('\u{1b}'), "raw ESC in {line:.200}");
        assert!(
            !line.starts_with("2026-01-01T00:00:00Z"),
            "forged: {line:.200}"
        );
    }
}
