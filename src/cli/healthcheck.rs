//! `halo-mcp healthcheck`: GET /health on this machine's HTTP server.

use std::{process::ExitCode, time::Duration};

use super::{HealthcheckArgs, given, settings};

pub async fn healthcheck(args: HealthcheckArgs) -> ExitCode {
    let url = match args.url {
        Some(url) => url,
        // stdio (or a transport `serve` would refuse): no server to ask; the process being
        // alive is all there is.
        None if !settings::is_http(&args.transport).unwrap_or(false) => return ExitCode::SUCCESS,
        None => format!("http://127.0.0.1:{}/health", port(&args.transport)),
    };
    crate::halo::install_crypto();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(4))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            if body["status"] == "ok" {
                ExitCode::SUCCESS
            } else {
                eprintln!("healthcheck: {url} answered {body}");
                ExitCode::FAILURE
            }
        }
        Ok(r) => {
            eprintln!("healthcheck: {url} answered HTTP {}", r.status().as_u16());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The port `serve` listens on. Lenient, unlike `serve`: a setting it cannot read falls back
/// to the default rather than failing the probe with a different message.
fn port(transport: &super::TransportArgs) -> u16 {
    given(&transport.bind)
        .and_then(|b| b.parse::<std::net::SocketAddr>().ok().map(|a| a.port()))
        .or_else(|| given(&transport.port).and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(3000)
}
