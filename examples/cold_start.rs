//! Cold start: time from spawning the binary to the `initialize` result on stdout.
//!
//! ```text
//! cargo build --release && cargo run --release --example cold_start -- target/release/halo-mcp
//! ```
//! Runs the binary 30 times against a configured (unreachable, never contacted) Halo and 30 times
//! in demo mode (which also starts and seeds the simulated Halo), and prints min / median / p90 /
//! max for each.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"cold-start","version":"1"}}}"#;

fn once(binary: &str, demo: bool) -> Result<Duration, String> {
    let started = Instant::now();
    let mut cmd = Command::new(binary);
    if demo {
        cmd.arg("--demo");
    } else {
        cmd.env("HALO_BASE_URL", "https://example.invalid")
            .env("HALO_CLIENT_ID", "id")
            .env("HALO_CLIENT_SECRET", "secret");
    }
    let mut child = cmd
        .env("LOG_LEVEL", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {binary}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    writeln!(stdin, "{INITIALIZE}").map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if !line.contains("\"result\"") || !line.contains("protocolVersion") {
        return Err(format!("unexpected answer: {line}"));
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    Ok(elapsed)
}

fn main() {
    let binary = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/halo-mcp".into());
    for (label, demo) in [("configured Halo", false), ("demo mode", true)] {
        let mut times = Vec::new();
        for _ in 0..30 {
            match once(&binary, demo) {
                Ok(t) => times.push(t),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "cold start to initialize result, {label} ({} runs): min {:.1} ms, median {:.1} ms, \
             p90 {:.1} ms, max {:.1} ms",
            times.len(),
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() * 9 / 10]),
            ms(times[times.len() - 1]),
        );
    }
}
