//! `halo-mcp simulate`: the simulated Halo alone, with the faults asked for.

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use super::{SimulateArgs, logging::fatal};
use crate::sim::{self, Faults, Permissions, SimConfig};

pub async fn simulate(args: Box<SimulateArgs>) -> ExitCode {
    let bind = SocketAddr::new(args.host, args.port);
    match sim::run_standalone(sim_config(*args), bind).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&format!("simulator failed: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn sim_config(args: SimulateArgs) -> SimConfig {
    SimConfig {
        client_id: args.client_id,
        client_secret: args.client_secret,
        tenant: args.tenant,
        token_lifetime: Duration::from_secs(args.token_lifetime.max(1)),
        faults: Faults {
            rate_limit: args.rate_limit,
            retry_after: args.retry_after,
            retry_after_http_date: args.retry_after_date,
            error_rate: args.error_rate,
            error_after_apply: args.error_after_apply,
            seed: args.fault_seed,
            latency: Duration::from_millis(args.latency_ms),
            malformed_rate: args.malformed_rate,
            drop_rate: args.drop_rate,
            error_status: args.error_status,
            token: args.token_fault,
            writes_only: args.faults_on_writes_only,
        },
        extra_assets: args.extra_assets as usize,
        extra_users: args.extra_users as usize,
        asset_layout: args.asset_layout,
        extra_tenants: args.extra_tenant,
        permissions: Permissions {
            app_scopes: trimmed(args.app_scopes),
            agent_denied: trimmed(args.agent_deny),
        },
        ..SimConfig::default()
    }
}

fn trimmed(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}
