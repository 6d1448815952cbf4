//! `halo-mcp doctor`: the configuration checks here (they need the command line), the rest in
//! [`crate::doctor`].

use std::{net::SocketAddr, process::ExitCode};

use super::{
    DoctorArgs, ServeArgs,
    logging::{config_exit, init_logging},
    settings::{self, AuthChoice},
};
use crate::{
    catalog, config,
    doctor::{self, Check, Report, Status},
    halo::HaloConfig,
    server::Options,
    sim::{SimConfig, Simulator},
};

const SECTION: &str = "Configuration";

pub async fn doctor(args: DoctorArgs) -> ExitCode {
    let serve = args.serve;
    // The report is the output; logs only for problems unless asked for.
    let level = serve
        .log
        .log_level
        .clone()
        .unwrap_or_else(|| "error".into());
    if let Err(e) = init_logging(Some(&level), serve.log.log_format.as_deref()) {
        return config_exit(&e);
    }
    let mut report = Report::default();
    let checks = &mut report.checks;
    let mut sources = settings::sources_of(&serve);
    // Held until the report is done: the checks below talk to it.
    let _demo = if serve.demo {
        demo(checks, &mut sources).await
    } else {
        None
    };
    let remote = settings::remote_plan(&serve);
    let per_user = matches!(&remote, Ok(Some((_, auth))) if auth.per_user());
    // Halo settings. The OAuth proxy needs no credentials of its own; given some, doctor
    // checks that application.
    let halo = halo_settings(
        checks,
        config::halo_config_for(sources, &settings::env, !per_user),
    );
    let offered = server_settings(checks, &serve);
    transport(checks, &remote);
    match (halo, offered) {
        (Some(cfg), Some((domains, read_only))) if !cfg.client_id.is_empty() => {
            let rest = doctor::diagnose(cfg, &domains, read_only).await;
            report.checks.extend(rest.checks);
        }
        (Some(_), Some(_)) => doctor::skip_rest(
            checks,
            "no Halo credentials here: with the OAuth proxy each client brings its own \
             (set HALO_CLIENT_ID and HALO_CLIENT_SECRET to check one)",
        ),
        (None, _) => doctor::skip_rest(checks, "the Halo settings above cannot be used"),
        (Some(_), None) => doctor::skip_rest(checks, "the server options above cannot work"),
    }
    print_report(&report, args.json);
    if report.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the demo Halo and points `sources` at it.
async fn demo(checks: &mut Vec<Check>, sources: &mut config::Sources) -> Option<Simulator> {
    let sim_config = SimConfig::default();
    match Simulator::start(sim_config.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await {
        Ok(sim) => {
            settings::use_demo(sources, &sim.base_url(), &sim_config);
            checks.push(
                Check::new(SECTION, "demo", Status::Ok)
                    .detail(format!("built-in simulated Halo at {}", sim.base_url())),
            );
            Some(sim)
        }
        Err(e) => {
            checks.push(
                Check::new(SECTION, "demo", Status::Fail)
                    .detail(format!("cannot start the demo Halo: {e}")),
            );
            None
        }
    }
}

/// The Halo address, application and limits, or why they cannot be used.
fn halo_settings(
    checks: &mut Vec<Check>,
    config: Result<HaloConfig, config::ConfigError>,
) -> Option<HaloConfig> {
    let cfg = match config {
        Ok(cfg) => cfg,
        Err(e) => {
            checks.push(
                Check::new(SECTION, "Halo settings", Status::Fail)
                    .detail("the Halo settings cannot be used")
                    .fix(e.0),
            );
            return None;
        }
    };
    let tenant = cfg
        .tenant
        .as_deref()
        .map(|t| format!(", tenant {t}"))
        .unwrap_or_else(|| ", no tenant".into());
    checks.push(
        Check::new(SECTION, "Halo address", Status::Ok).detail(format!(
            "{} (auth server {}{tenant})",
            cfg.base_url, cfg.auth_url
        )),
    );
    let application = if cfg.client_id.is_empty() {
        "none: with the OAuth proxy each client brings its own (set HALO_CLIENT_ID and \
         HALO_CLIENT_SECRET to check one application here)"
            .to_owned()
    } else {
        format!(
            "client id {}, secret set, scope `{}`",
            cfg.client_id, cfg.scope
        )
    };
    checks.push(Check::new(SECTION, "API application", Status::Ok).detail(application));
    let r = &cfg.resilience;
    checks.push(Check::new(SECTION, "limits", Status::Ok).detail(format!(
        "timeout {} s, rate limit {}/{} s, {} retries, cache {} s (at most {} entries, {} MB)",
        cfg.timeout.as_secs(),
        r.rate_limit.limit,
        r.rate_limit.window.as_secs(),
        r.max_retries,
        r.cache_ttl.as_secs(),
        r.cache_limits.max_entries,
        r.cache_limits.max_bytes >> 20
    )));
    Some(cfg)
}

/// The mode and domains offered: the domains and whether only reads, or why they cannot work.
fn server_settings(
    checks: &mut Vec<Check>,
    serve: &ServeArgs,
) -> Option<(Vec<&'static str>, bool)> {
    let offered = settings::checked_options(serve).and_then(|o| {
        let domains = crate::server::offered_domains(&o)?;
        Ok((o, domains))
    });
    match offered {
        Ok((options, domains)) => {
            checks.push(
                Check::new(SECTION, "server", Status::Ok).detail(describe(&options, &domains)),
            );
            Some((domains, options.read_only))
        }
        Err(e) => {
            checks.push(Check::new(SECTION, "server", Status::Fail).fix(e));
            None
        }
    }
}

/// "mode tree, all 40 domains, reads and writes".
fn describe(options: &Options, domains: &[&str]) -> String {
    let total = catalog::catalog().entries().len();
    let which = if domains.len() == total {
        format!("all {total} domains")
    } else {
        format!(
            "{} of {total} domains ({})",
            domains.len(),
            domains.join(", ")
        )
    };
    let access = if options.read_only {
        "read-only"
    } else {
        "reads and writes"
    };
    format!("mode {}, {which}, {access}", options.mode)
}

/// stdio, or HTTP with its address and authentication.
fn transport(checks: &mut Vec<Check>, remote: &Result<Option<(SocketAddr, AuthChoice)>, String>) {
    let check = match remote {
        Ok(None) => Check::new(SECTION, "transport", Status::Ok)
            .detail("stdio (an MCP client starts halo-mcp and talks over stdin/stdout)"),
        Ok(Some((bind, auth))) => {
            let how = match auth {
                AuthChoice::None => "no authentication (loopback only)",
                AuthChoice::Token(_) => "bearer token (MCP_AUTH_TOKEN)",
                AuthChoice::OAuth => "OAuth proxy",
                AuthChoice::Halo => "sign in with Halo (each user acts as their own agent)",
            };
            Check::new(SECTION, "transport", Status::Ok).detail(format!("HTTP on {bind}, {how}"))
        }
        Err(e) => Check::new(SECTION, "transport", Status::Fail).fix(e.clone()),
    };
    checks.push(check);
}

fn print_report(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        println!("halo-mcp doctor {}\n", env!("CARGO_PKG_VERSION"));
        print!("{}", report.render());
    }
}
