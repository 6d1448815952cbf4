//! `halo-mcp serve`: checks every setting, starts the demo Halo if asked, and serves MCP over
//! stdio or HTTP.

use std::{io::IsTerminal, process::ExitCode, sync::Arc, time::Duration};

use tokio::sync::oneshot;

use super::{
    ServeArgs, given,
    http::serve_http,
    logging::{config_exit, fatal, init_logging, notice},
    settings,
};
use crate::{
    catalog, config,
    halo::HaloClient,
    server::{HaloMcp, Shared},
    sim::{SimConfig, Simulator},
    tools,
};

/// Keeps the demo simulator alive once it has started; see [`start_demo`].
type Demo = Option<oneshot::Receiver<Simulator>>;

pub async fn serve(args: ServeArgs) -> ExitCode {
    if let Err(e) = init_logging(
        args.log.log_level.as_deref(),
        args.log.log_format.as_deref(),
    ) {
        return config_exit(&e);
    }
    let options = match settings::checked_options(&args) {
        Ok(o) => o,
        Err(e) => return config_exit(&e),
    };
    let remote = match settings::remote_plan(&args) {
        Ok(r) => r,
        Err(e) => return config_exit(&e),
    };
    // The OAuth proxy and Halo sign-in need no operator credentials: each session brings its own.
    let per_user = remote.as_ref().is_some_and(|(_, auth)| auth.per_user());
    // The OAuth modes on Redis seal what they store there: no usable key, no start (checked
    // before anything else is logged, and the key is never echoed).
    let on_redis = args
        .state
        .as_deref()
        .is_some_and(|s| s.trim().starts_with("redis://") || s.trim().starts_with("rediss://"));
    if per_user
        && on_redis
        && let Err(e) = crate::remote::OAuthStore::sealer(args.state_key.as_deref())
    {
        return config_exit(&e);
    }
    if let Err(e) = configure_audit(&args) {
        return config_exit(&e);
    }
    let mut sources = settings::sources_of(&args);
    let demo = if args.demo {
        match start_demo(&mut sources).await {
            Ok(demo) => Some(demo),
            Err(code) => return code,
        }
    } else {
        None
    };
    let client = match halo_client(sources, per_user, remote.is_some()).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.prewarm && !per_user {
        spawn_prewarm(client.clone());
    }
    let template = client.config().clone();
    let operator = (!per_user).then_some(client);
    let shared = match Shared::with_options(operator, options) {
        Ok(s) => s,
        Err(e) => return config_exit(&e),
    };
    let code = match remote {
        Some((bind, auth)) => serve_http(shared, bind, auth, template, &args).await,
        None => serve_stdio(shared).await,
    };
    stop_demo(demo).await;
    code
}

/// Binds the demo simulator and points `sources` at it. It is seeded in the background: its
/// address is known as soon as the listener is bound, so `initialize` is answered without
/// waiting for the seed, and early tool calls simply wait on the socket until it serves.
async fn start_demo(
    sources: &mut config::Sources,
) -> Result<oneshot::Receiver<Simulator>, ExitCode> {
    let failed = |e: std::io::Error| {
        fatal(&format!("cannot start the demo Halo: {e}"));
        ExitCode::FAILURE
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(failed)?;
    let base_url = format!("http://{}", listener.local_addr().map_err(failed)?);
    let sim_config = SimConfig::default();
    settings::use_demo(sources, &base_url, &sim_config);
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        match Simulator::start_on(sim_config, listener).await {
            Ok(sim) => {
                tracing::info!(url = %sim.base_url(), "demo mode: the simulated Halo is ready");
                let _ = tx.send(sim);
            }
            Err(e) => tracing::error!(error = %e, "the demo Halo failed to start"),
        }
    });
    tracing::info!(url = %base_url, "demo mode: using the built-in simulated Halo");
    Ok(rx)
}

/// The Halo client; without operator credentials when each session brings its own.
async fn halo_client(
    sources: config::Sources,
    per_user: bool,
    http: bool,
) -> Result<HaloClient, ExitCode> {
    let halo_config = config::halo_config_for(sources, &settings::env, !per_user)
        .map_err(|e| config_exit(&e.0))?;
    let client = HaloClient::new(halo_config).map_err(|e| {
        fatal(&e.to_string());
        ExitCode::FAILURE
    })?;
    tracing::info!(
        base_url = %client.config().base_url,
        domains = catalog::catalog().entries().len(),
        transport = if http { "http" } else { "stdio" },
        "halo-mcp starting"
    );
    log_shared_state(&client).await;
    Ok(client)
}

/// Says whether the shared state in Redis answers. Not fatal: a replica that starts while
/// Redis is out serves on its share of the budget and joins the others once Redis answers.
async fn log_shared_state(client: &HaloClient) {
    let Some(redis) = client.config().resilience.state.redis() else {
        return;
    };
    match redis.ping().await {
        Ok(()) => tracing::info!(
            address = redis.address(),
            replicas = client.config().resilience.replicas,
            "shared state in Redis: one rate budget and movable sessions across replicas"
        ),
        Err(e) => tracing::warn!(
            address = redis.address(),
            error = %e,
            "shared state in Redis, which does not answer yet; using this replica's share of \
             the rate budget until it does"
        ),
    }
}

/// Loads reference data into the cache in the background.
fn spawn_prewarm(halo: HaloClient) {
    tokio::spawn(async move {
        let report = tools::prewarm(&halo).await;
        tracing::info!(
            loaded = report.loaded,
            failed = report.failed,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "reference data prewarmed"
        );
    });
}

/// Serves one MCP session over stdin and stdout.
async fn serve_stdio(shared: Arc<Shared>) -> ExitCode {
    if std::io::stdin().is_terminal() {
        // Someone ran it by hand: say what it is doing rather than sit silently.
        eprintln!(
            "halo-mcp: an MCP server is waiting for a client on stdin (stdio). Add this command \
             to an MCP client's configuration (see README, \"Connect a client\"), or run \
             `npx @modelcontextprotocol/inspector halo-mcp --demo` to try it; Ctrl-C to quit."
        );
    }
    let handler = HaloMcp::new(shared);
    // The client closing stdin ends the session; so does SIGTERM (a container stopping, or a
    // client closing its server) or Ctrl-C, even while stdin stays open.
    let ended = crate::stdio::serve(
        handler,
        tokio::io::stdin(),
        tokio::io::stdout(),
        shutdown_signal(),
    )
    .await;
    match ended {
        Ok(crate::stdio::Ended::InputClosed) => ExitCode::SUCCESS,
        Ok(crate::stdio::Ended::Signalled) => {
            tracing::info!("shutting down");
            ExitCode::SUCCESS
        }
        Ok(crate::stdio::Ended::ClosedBeforeInitialize) => {
            // Not an error: a client that connected and changed its mind, or `< /dev/null`.
            notice("stdin closed before an MCP client sent initialize; nothing to serve");
            ExitCode::SUCCESS
        }
        Err(e) => {
            fatal(&e);
            ExitCode::FAILURE
        }
    }
}

/// Stops the demo simulator if it is up. One still seeding is simply dropped with the process:
/// waiting for it would hold up a shutdown that should take well under a second.
async fn stop_demo(demo: Demo) {
    if let Some(mut rx) = demo
        && let Ok(sim) = rx.try_recv()
    {
        let _ = tokio::time::timeout(Duration::from_millis(300), sim.shutdown()).await;
    }
}

/// The audit log of writes, from `HALO_MCP_AUDIT_LOG` and `HALO_MCP_AUDIT_VALUES`.
fn configure_audit(args: &ServeArgs) -> Result<(), String> {
    let Some(target) = given(&args.audit_log) else {
        if args.audit_values {
            return Err(
                "HALO_MCP_AUDIT_VALUES needs HALO_MCP_AUDIT_LOG (a file, or stderr)".into(),
            );
        }
        return Ok(());
    };
    crate::audit::configure(&target, args.audit_values)
}

/// Ctrl-C, or SIGTERM from a container runtime or service manager.
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// client may send a signal the moment it has its `initialize` answer, and until a handler is
/// installed the signal's default action ends the process (with no exit code) instead of a
/// clean shutdown. Must be called inside the runtime.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs a server and ends the runtime without waiting for blocked reads: tokio reads stdin on a
/// blocking thread that only returns when a line or end of input arrives, and dropping the
/// runtime normally waits for it, so a signal would not end the process while the client keeps
/// stdin open.
pub fn finish(
    runtime: tokio::runtime::Runtime,
    run: impl FnOnce(&tokio::runtime::Runtime) -> ExitCode,
) -> ExitCode {
    let code = run(&runtime);
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}
