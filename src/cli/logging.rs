//! Logging on stderr, and the last words of a process that stops.

use std::{
    io::IsTerminal,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
};

/// Set once JSON logging is on: then even the last words of the process are JSON lines.
static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// Prints one line and exits with code 2: the contract for configuration problems.
pub fn config_exit(message: &str) -> ExitCode {
    fatal(message);
    ExitCode::from(2)
}

/// One line on stderr saying why the process stops: plain text, or a JSON log line when the
/// logs are JSON (a log shipper then never meets a line it cannot parse).
pub fn fatal(message: &str) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::error!("{message}");
    } else {
        eprintln!("halo-mcp: {message}");
    }
}

/// A line worth saying that is not a failure: a log line when logs are JSON, else plain.
pub(crate) fn notice(message: &str) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::info!("{message}");
    } else {
        eprintln!("halo-mcp: {message}");
    }
}

/// Sets up logging from `LOG_LEVEL` / `--log-level` and `LOG_FORMAT` / `--log-format`;
/// `RUST_LOG`, tracing's own full filter, wins over the level when set.
pub fn init_logging(level: Option<&str>, format: Option<&str>) -> Result<(), String> {
    let json = match format.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
        None | Some("text") | Some("") => false,
        Some("json") => true,
        Some(other) => {
            return Err(format!(
                "LOG_FORMAT / --log-format must be text or json, got {}",
                crate::text::quote(other)
            ));
        }
    };
    let filter = log_filter(level)?;
    // Everything goes to stderr: stdout carries the MCP protocol in stdio mode. The writer
    // escapes control characters and bounds each record, so a caller's value cannot forge a
    // line or flood the log.
    let ansi = !json && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_writer(crate::text::SafeStderr { ansi, json })
        .with_env_filter(filter);
    if json {
        JSON_LOGS.store(true, Ordering::Relaxed);
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.with_ansi(ansi).init();
    }
    Ok(())
}

/// `RUST_LOG` as given, else our crate at `level` (default info) and others at warn.
fn log_filter(level: Option<&str>) -> Result<tracing_subscriber::EnvFilter, String> {
    // RUST_LOG is tracing's convention rather than one of our settings, so it is read here and
    // not declared as a flag.
    if let Some(rust_log) = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return tracing_subscriber::EnvFilter::try_new(rust_log)
            .map_err(|e| format!("RUST_LOG is not a valid filter: {e}"));
    }
    let level = level
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "info".into());
    if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
        return Err(format!(
            "LOG_LEVEL must be error, warn, info, debug or trace, got {}",
            crate::text::quote(&level)
        ));
    }
    Ok(tracing_subscriber::EnvFilter::new(format!(
        "warn,halo_mcp={level}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_level_is_echoed_bounded_and_escaped() {
        let big = format!("loud\n WARN forged{}", "x".repeat(1_000_000));
        let e = log_filter(Some(&big)).err().unwrap_or_default();
        assert!(e.starts_with("LOG_LEVEL must be"), "{e}");
        assert!(e.len() < 600 && !e.contains('\n'), "{}", e.len());
    }
}
