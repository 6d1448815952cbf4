//! Configuration mistakes stop the binary with one clear line and exit code 2.

use std::process::Command;

fn run(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_halo-mcp"));
    cmd.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line(stderr: &str, expected: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got {stderr:?}");
    assert!(
        lines[0].contains(expected),
        "{:?} lacks {expected:?}",
        lines[0]
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn missing_and_bad_values_exit_2() {
    let (code, err) = run(&[]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "HALO_BASE_URL is not set");

    let (code, err) = run(&[
        ("HALO_BASE_URL", "https://acme.halopsa.com"),
        ("HALO_CLIENT_ID", "id"),
        ("HALO_CLIENT_SECRET", "secret"),
        ("HALO_MCP_STATE", "redis-cluster.internal"),
    ]);
    assert_eq!(code, Some(2));
    assert_one_line(
        &err,
        "HALO_MCP_STATE: expected memory or a redis:// or rediss:// URL, got \"redis-cluster.internal\"",
    );

    let (code, err) = run(&[("HALO_BASE_URL", "acme.halopsa.com")]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "HALO_BASE_URL is not a valid URL");

    let (code, err) = run(&[("HALO_INSTANCE_URL", "ftp://acme.halopsa.com")]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "HALO_INSTANCE_URL must start with https://");

    let (code, err) = run(&[("HALOPSA_BASE_URL", "https://acme.halopsa.com/")]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "HALO_CLIENT_ID is not set");

    let (code, err) = run(&[
        ("HALO_BASE_URL", "https://acme.halopsa.com"),
        ("HALO_CLIENT_ID", "id"),
    ]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "HALO_CLIENT_SECRET is not set");

    let (code, err) = run(&[
        ("HALO_BASE_URL", "https://acme.halopsa.com"),
        ("HALO_CLIENT_ID", "id"),
        ("HALO_CLIENT_SECRET", "very-secret-value"),
        ("HALO_TIMEOUT", "forever"),
    ]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "HALO_TIMEOUT must be a number");
    assert!(!err.contains("very-secret-value"));

    let (code, err) = run(&[
        ("LOG_LEVEL", "loud"),
        ("HALO_BASE_URL", "https://a.halopsa.com"),
    ]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "LOG_LEVEL must be");

    // Server options are checked at start too (with the demo Halo, so nothing else is missing).
    let demo_with = |pairs: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_halo-mcp"));
        cmd.env_clear().arg("--demo");
        for (k, v) in pairs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("binary runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (pairs, expected) in [
        (
            vec![("HALO_MCP_MODE", "sideways")],
            "unknown mode \"sideways\"",
        ),
        (
            vec![("HALO_MCP_MODE", "flat")],
            "--mode flat needs --domains",
        ),
        (
            vec![("HALO_MCP_MODE", "flat"), ("HALO_MCP_DOMAINS", "all")],
            "over --max-tools 128",
        ),
        (
            vec![("HALO_MCP_DOMAINS", "tickets,assests")],
            "unknown domain \"assests\"",
        ),
        (
            vec![("HALO_MCP_MAX_TOOLS", "many")],
            "--max-tools must be a whole number",
        ),
    ] {
        let (code, err) = demo_with(&pairs);
        assert_eq!(code, Some(2), "{pairs:?}");
        assert_one_line(&err, expected);
    }
}

#[test]
fn help_documents_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
        .arg("--help")
        .output()
        .expect("binary runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "HALO_BASE_URL",
        "HALOPSA_BASE_URL",
        "HALO_INSTANCE_URL",
        "HALO_CLIENT_ID",
        "HALOPSA_CLIENT_ID",
        "HALO_CLIENT_SECRET",
        "HALOPSA_CLIENT_SECRET",
        "HALO_TENANT",
        "HALOPSA_TENANT",
        "HALO_SCOPE",
        "HALO_AUTH_URL",
        "HALO_TIMEOUT",
        "HALO_RATE_LIMIT",
        "HALO_RATE_WAIT",
        "LOG_LEVEL",
        "RUST_LOG",
        "HALO_MCP_MODE",
        "HALO_MCP_DOMAINS",
        "HALO_MCP_READ_ONLY",
        "HALO_MCP_MAX_TOOLS",
        "HALO_MCP_STATE",
        "HALO_MCP_REPLICAS",
        "--state",
        "--read-only",
        "--demo",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
}

/// `LOG_FORMAT=json`: every log line on stderr is one JSON object; stdout carries only the
/// protocol (here nothing, as stdin is closed at once). A bad format is a configuration error.
#[test]
fn json_logs_go_to_stderr() {
    let out = Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
        .env_clear()
        .args(["--demo"])
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "debug")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("binary runs");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["message"].is_string(), "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"halo-mcp starting\"")),
        "{stderr}"
    );

    let (code, err) = run(&[
        ("LOG_FORMAT", "xml"),
        ("HALO_BASE_URL", "https://x.example"),
    ]);
    assert_eq!(code, Some(2));
    assert_one_line(&err, "LOG_FORMAT / --log-format must be text or json");
}

/// Every switch takes the one truthiness rule; anything else is one line naming the variable,
/// not a silent `false` (`HALO_MCP_READ_ONLY=ture` must not leave writes on).
#[test]
fn switches_refuse_what_is_not_true_or_false() {
    for (var, value) in [
        ("HALO_PREWARM", "maybe"),
        ("HALO_MCP_READ_ONLY", "ture"),
        ("MCP_TRUST_PROXY", "2"),
        ("HALO_MCP_AUDIT_VALUES", "enabled"),
    ] {
        let (code, err) = run(&[(var, value), ("HALO_BASE_URL", "https://a.halopsa.com")]);
        assert_eq!(code, Some(2), "{var}");
        assert_one_line(&err, &format!("{var} / --"));
        assert!(err.contains("expected true or false"), "{err}");
        assert!(err.contains(&format!("{value:?}")), "{err}");
    }
}

/// `HALO_PREWARM=on` (or `TRUE`) prewarms like every other switch. It used to be ignored: the
/// prewarm switch alone accepted only 1, true and yes, in lower case.
#[test]
fn prewarm_accepts_on() {
    use std::io::{BufRead, BufReader};
    for value in ["on", "TRUE"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
            .env_clear()
            .arg("--demo")
            .env("HALO_PREWARM", value)
            .env("LOG_LEVEL", "info")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("binary runs");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("reference data prewarmed") {
                    let _ = tx.send(());
                    return;
                }
            }
        });
        let prewarmed = rx.recv_timeout(std::time::Duration::from_secs(30)).is_ok();
        let _ = child.kill();
        let _ = child.wait();
        assert!(prewarmed, "HALO_PREWARM={value} did not prewarm");
    }
}
