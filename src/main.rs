//! `halo-mcp`: the command line. Parses flags, checks configuration (one clear line and exit
//! code 2 on a problem), sets up logging on stderr (stdout carries the protocol), and runs the
//! chosen command.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::{io::IsTerminal, net::SocketAddr, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use halo_mcp::{
    catalog, config,
    halo::{HaloClient, HaloConfig},
    secret::Secret,
    server::{HaloMcp, Mode, Options, Shared},
    sim::{SimConfig, Simulator},
    tools,
};

const ENV_HELP: &str = "\
Environment (flags win over variables; aliases in brackets):
  HALO_BASE_URL        Halo web address [HALOPSA_BASE_URL, HALO_INSTANCE_URL]
  HALO_CLIENT_ID       API application client id [HALOPSA_CLIENT_ID]
  HALO_CLIENT_SECRET   API application client secret [HALOPSA_CLIENT_SECRET]
  HALO_TENANT          tenant, sent as ?tenant= on the token URL [HALOPSA_TENANT]
  HALO_SCOPE           OAuth scope (default: all)
  HALO_AUTH_URL        authorisation server (default: {base}/auth)
  HALO_TIMEOUT         seconds per Halo request (default: 15)
  HALO_RATE_LIMIT      Halo's rate limit as LIMIT/WINDOW (default: 300/300s)
  HALO_RATE_WAIT       longest wait, in seconds, for the rate budget (default: 60)
  HALO_RETRIES         retries after a failed or rate-limited request (default: 3)
  HALO_BREAKER_THRESHOLD  consecutive failed calls that pause calls (default: 5)
  HALO_BREAKER_COOLDOWN   seconds calls stay paused before a probe (default: 30)
  HALO_CACHE_TTL       seconds reference data stays cached; 0 = off (default: 600)
  HALO_CACHE_MAX_ENTRIES  most entries the cache holds (default: 10000)
  HALO_CACHE_MAX_BYTES    most memory the cache holds, e.g. 512MB (default: 64MB)
  HALO_PREWARM         true: load reference data into the cache at start
  HALO_ASSET_SERIAL_FIELD    asset field holding serials, by name or id (default: by field name)
  HALO_ASSET_HOSTNAME_FIELD  asset field holding hostnames, by name or id (default: by field name)
  HALO_MCP_MODE        auto (default), tree, dispatch or flat
  HALO_MCP_DOMAINS     domains to offer, comma-separated, or all
  HALO_MCP_READ_ONLY   true: offer only tools that read
  HALO_MCP_MAX_TOOLS   most tools in flat mode (default: 128)
  HALO_MCP_STATE       memory (default) or a redis:// or rediss:// URL shared by replicas
  HALO_MCP_STATE_KEY   32-byte key (hex/base64) sealing OAuth secrets in Redis; new,old rotates
  HALO_MCP_REPLICAS    most replicas running at once, for Redis outages (default: 3)
  MCP_TRANSPORT        stdio (default) or http
  MCP_BIND / MCP_PORT  HTTP address (default: 127.0.0.1:3000)
  MCP_AUTH             env (bearer token), oauth (OAuth proxy) or halo (sign in with Halo)
  MCP_AUTH_TOKEN       the bearer token clients must send in env mode (16+ characters)
  MCP_PUBLIC_URL       external URL, for OAuth metadata behind a proxy
  MCP_ALLOWED_HOSTS    extra Host names accepted, comma-separated
  MCP_ALLOWED_ORIGINS  browser origins accepted, comma-separated
  MCP_TRUST_PROXY      true: trust X-Forwarded-Host/Proto from a reverse proxy
  MCP_SESSION_IDLE     seconds before an idle HTTP session closes (default: 1800)
  MCP_MAX_SESSIONS     most live HTTP sessions; more get 503 (default: 1000)
  MCP_HTTP_HEADER_TIMEOUT  seconds a client has to send a request's headers (default: 10)
  MCP_HTTP_IDLE_TIMEOUT    seconds an idle kept-alive connection stays open (default: 60)
  MCP_OAUTH_REDIRECT_URIS    redirect URIs allowed for unregistered OAuth clients
  MCP_OAUTH_CREDENTIAL_TTL   seconds Halo credentials are kept by the OAuth proxy (default: 86400)
  MCP_OAUTH_CODE_TTL   seconds an authorization code lives (default: 60)
  HALO_SIGNIN_CLIENT_ID      MCP_AUTH=halo: the Halo application agents sign in through
  HALO_SIGNIN_CLIENT_SECRET  its secret, if it has one (default: none, PKCE only)
  HALO_SIGNIN_SCOPE    scope asked of Halo at sign-in (default: all offline_access)
  HALO_MCP_AUDIT_LOG   file to append one JSON line per write to, or stderr (default: off)
  HALO_MCP_AUDIT_VALUES  true: the audit log holds the values written, not only field names
  LOG_LEVEL            error, warn, info (default), debug or trace; RUST_LOG overrides
  LOG_FORMAT           text (default) or json, one object per line

In Halo: Configuration > Integrations > Halo API > New application, authentication method
\"Client ID and Secret (Services)\", permissions `all`, and a login-as agent whose permissions
cover what the assistant should do.

Logs go to stderr; stdout carries the MCP protocol.";

#[derive(Parser)]
#[command(
    name = "halo-mcp",
    version,
    about = "MCP server for Halo PSA / Halo ITSM: a menu of domain tools over the whole Halo API",
    after_help = ENV_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over stdio (the default when no command is given)
    Serve(Box<ServeArgs>),
    /// Run the simulated Halo alone, for pointing any client at it
    Simulate(Box<SimulateArgs>),
    /// Print the domain catalogue
    Domains {
        /// Print a Markdown table (as in the README)
        #[arg(long)]
        markdown: bool,
        /// Print every tool's name after its domain, tab-separated, one per line: what a client
        /// that defers tool schemas loads up front for a flat catalogue
        #[arg(long, conflicts_with = "markdown")]
        names: bool,
    },
    /// Print the MCP clients `auto` mode knows, and the mode each gets
    Clients {
        /// Print a Markdown table (as in the README)
        #[arg(long)]
        markdown: bool,
    },
    /// Check the set-up end to end: configuration, Halo address, token, login-as agent, the
    /// permissions of each area, the rate budget; prints a fix for each problem and exits 1 if
    /// there is one. Takes the same flags and variables as `serve`
    Doctor(Box<DoctorArgs>),
    /// Exit 0 if the HTTP server here answers /health with {"status":"ok"} (for container
    /// health checks; exits 0 at once in stdio mode, where there is nothing to ask)
    Healthcheck(HealthcheckArgs),
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Run against the built-in simulated Halo: no tenant or credentials needed
    #[arg(long)]
    demo: bool,
    /// Halo web address, e.g. https://yourcompany.halopsa.com [env: HALO_BASE_URL]
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// API application client id [env: HALO_CLIENT_ID]
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// API application client secret; prefer the variable, flags show in process lists
    /// [env: HALO_CLIENT_SECRET]
    #[arg(long, value_name = "SECRET")]
    client_secret: Option<String>,
    /// Tenant for hosted multi-tenant Halo, sent as ?tenant= [env: HALO_TENANT]
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// OAuth scope (default: all) [env: HALO_SCOPE]
    #[arg(long, value_name = "SCOPE")]
    scope: Option<String>,
    /// Authorisation server (default: {base}/auth) [env: HALO_AUTH_URL]
    #[arg(long, value_name = "URL")]
    auth_url: Option<String>,
    /// Seconds allowed for each Halo request (default: 15) [env: HALO_TIMEOUT]
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<String>,
    /// Halo's rate limit, e.g. 300/300s or 500/3m (default: 300/300s) [env: HALO_RATE_LIMIT]
    #[arg(long, value_name = "LIMIT/WINDOW")]
    rate_limit: Option<String>,
    /// Longest wait in seconds for the rate budget before a call fails (default: 60)
    /// [env: HALO_RATE_WAIT]
    #[arg(long, value_name = "SECONDS")]
    rate_wait: Option<String>,
    /// Retries after a failed or rate-limited request (default: 3) [env: HALO_RETRIES]
    #[arg(long, value_name = "N")]
    retries: Option<String>,
    /// Consecutive failed calls that pause calls to Halo (default: 5)
    /// [env: HALO_BREAKER_THRESHOLD]
    #[arg(long, value_name = "N")]
    breaker_threshold: Option<String>,
    /// Seconds calls stay paused before a probe (default: 30) [env: HALO_BREAKER_COOLDOWN]
    #[arg(long, value_name = "SECONDS")]
    breaker_cooldown: Option<String>,
    /// Seconds reference data (statuses, teams, ...) stays cached; 0 turns caching off
    /// (default: 600) [env: HALO_CACHE_TTL]
    #[arg(long, value_name = "SECONDS")]
    cache_ttl: Option<String>,
    /// Most entries the reference cache holds; the least recently used go first
    /// (default: 10000) [env: HALO_CACHE_MAX_ENTRIES]
    #[arg(long, value_name = "N")]
    cache_max_entries: Option<String>,
    /// Most memory the reference cache holds, approximately, e.g. 512MB (default: 64MB)
    /// [env: HALO_CACHE_MAX_BYTES]
    #[arg(long, value_name = "SIZE")]
    cache_max_bytes: Option<String>,
    /// Asset field holding serial numbers, by field name or id, where field names do not say
    /// it (default: found by field name per asset type) [env: HALO_ASSET_SERIAL_FIELD]
    #[arg(long, value_name = "FIELD")]
    asset_serial_field: Option<String>,
    /// Asset field holding hostnames, by field name or id (default: found by field name per
    /// asset type) [env: HALO_ASSET_HOSTNAME_FIELD]
    #[arg(long, value_name = "FIELD")]
    asset_hostname_field: Option<String>,
    /// Load reference data into the cache in the background at start [env: HALO_PREWARM=true]
    #[arg(long)]
    prewarm: bool,
    /// How tools are offered: auto (by client), tree, dispatch or flat (default: auto)
    /// [env: HALO_MCP_MODE]
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Domains to offer, comma-separated, or `all` (flat mode needs it) [env: HALO_MCP_DOMAINS]
    #[arg(long, value_name = "LIST")]
    domains: Option<String>,
    /// Offer only tools that read; wins over every other setting [env: HALO_MCP_READ_ONLY=true]
    #[arg(long)]
    read_only: bool,
    /// Most tools flat mode may expose (default: 128, VS Code's limit) [env: HALO_MCP_MAX_TOOLS]
    #[arg(long, value_name = "N")]
    max_tools: Option<String>,
    /// stdio (default) or http [env: MCP_TRANSPORT]
    #[arg(long, value_name = "TRANSPORT")]
    transport: Option<String>,
    /// Address for HTTP (default: 127.0.0.1:3000) [env: MCP_BIND, or MCP_PORT for the port]
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// How HTTP clients authenticate: env (a bearer token, MCP_AUTH_TOKEN), oauth (the OAuth
    /// proxy) or halo (each user signs in with Halo) [env: MCP_AUTH]
    #[arg(long, value_name = "MODE")]
    auth: Option<String>,
    /// Serve HTTP without authentication; allowed only on a loopback address
    #[arg(long)]
    no_auth: bool,
    /// External URL of this server, used in OAuth metadata [env: MCP_PUBLIC_URL]
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Most live HTTP sessions; an `initialize` beyond it gets 503 (default: 1000)
    /// [env: MCP_MAX_SESSIONS]
    #[arg(long, value_name = "N")]
    max_sessions: Option<String>,
    /// Seconds a client has to send a request's headers before it is disconnected (default: 10)
    /// [env: MCP_HTTP_HEADER_TIMEOUT]
    #[arg(long, value_name = "SECONDS")]
    http_header_timeout: Option<String>,
    /// Seconds a kept-alive connection with nothing in flight stays open (default: 60); open
    /// SSE streams are not idle [env: MCP_HTTP_IDLE_TIMEOUT]
    #[arg(long, value_name = "SECONDS")]
    http_idle_timeout: Option<String>,
    /// Where state shared by replicas lives: memory (default, one process) or a redis:// or
    /// rediss:// URL: one Halo rate budget and movable sessions for every replica using it;
    /// prefer the variable when the URL holds a password [env: HALO_MCP_STATE]
    #[arg(long, value_name = "memory|URL")]
    state: Option<String>,
    /// Most replicas running at once (count a rolling update's extra one); while Redis is
    /// unreachable each uses this share of the rate limit (default: 3) [env: HALO_MCP_REPLICAS]
    #[arg(long, value_name = "N")]
    replicas: Option<String>,
    /// Log level: error, warn, info, debug, trace [env: LOG_LEVEL]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format on stderr: text (default) or json, one object per line for log shippers
    /// [env: LOG_FORMAT]
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
}

#[derive(Args)]
struct DoctorArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct HealthcheckArgs {
    /// The health URL (default: http://127.0.0.1:<port of MCP_BIND or MCP_PORT, else 3000>/health)
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

#[derive(Args)]
struct SimulateArgs {
    /// Port to listen on
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Require this tenant on the token URL
    #[arg(long)]
    tenant: Option<String>,
    /// Client id to accept
    #[arg(long, default_value = "demo-client")]
    client_id: String,
    /// Client secret to accept
    #[arg(long, default_value = "demo-secret")]
    client_secret: String,
    /// Serve another tenant with its own data, reached with these credentials (repeatable).
    /// SEED defaults to one derived from CLIENT_ID; the secret cannot contain ':'
    #[arg(long, value_name = "CLIENT_ID:SECRET[:SEED]",
          value_parser = halo_mcp::sim::parse_extra_tenant)]
    extra_tenant: Vec<halo_mcp::sim::SimTenant>,
    /// Token lifetime in seconds
    #[arg(long, default_value_t = 3600)]
    token_lifetime: u64,
    /// Permissions of the API application: `all` (default), or scopes such as
    /// `read:tickets,edit:customers`; a token request for anything else gets invalid_scope
    #[arg(
        long,
        value_name = "SCOPES",
        value_delimiter = ',',
        default_value = "all",
        help_heading = "Permissions"
    )]
    app_scopes: Vec<String>,
    /// Areas the login-as agent cannot access, e.g. `invoices,assets` (`admin`: configuration
    /// such as agents and teams); calls there get 403
    #[arg(
        long,
        value_name = "AREAS",
        value_delimiter = ',',
        help_heading = "Permissions"
    )]
    agent_deny: Vec<String>,
    /// Log level: error, warn, info, debug, trace [env: LOG_LEVEL]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Fault: answer 429 beyond LIMIT API requests per rolling WINDOW (s, m or ms suffix),
    /// e.g. 300/300s, Halo's hosted limit; refused requests do not use up the budget
    #[arg(long, value_name = "LIMIT/WINDOW", value_parser = halo_mcp::sim::parse_rate_limit,
          help_heading = "Faults")]
    rate_limit: Option<(u32, Duration)>,
    /// Send Retry-After (whole seconds) with 429s; Halo is not known to send it
    #[arg(long, requires = "rate_limit", help_heading = "Faults")]
    retry_after: bool,
    /// Send Retry-After with 429s as an HTTP date instead of seconds
    #[arg(long, requires = "rate_limit", help_heading = "Faults")]
    retry_after_date: bool,
    /// Fault: fraction (0 to 1) of API requests answered with a gateway 502, 503 or 504
    #[arg(long, value_name = "FRACTION", value_parser = halo_mcp::sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    error_rate: f64,
    /// Answer every injected error with this status instead of a random 502/503/504 (500:
    /// Halo's own failure, with a JSON body)
    #[arg(long, value_name = "STATUS", value_parser = halo_mcp::sim::parse_error_status,
          help_heading = "Faults")]
    error_status: Option<u16>,
    /// Fraction (0 to 1) of injected errors and drops that happen after the request was
    /// applied (a write lands, its answer is lost); the rest happen before
    #[arg(long, value_name = "FRACTION", value_parser = halo_mcp::sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    error_after_apply: f64,
    /// Seed of the fault dice: the same seed and requests give the same faults
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Faults")]
    fault_seed: u64,
    /// Fault: milliseconds added before answering every API request
    #[arg(long, value_name = "MS", default_value_t = 0, help_heading = "Faults",
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    latency_ms: u64,
    /// Fault: fraction (0 to 1) of successful API answers sent with their JSON cut short
    #[arg(long, value_name = "FRACTION", value_parser = halo_mcp::sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    malformed_rate: f64,
    /// Fault: fraction (0 to 1) of API requests whose connection is closed with no answer
    #[arg(long, value_name = "FRACTION", value_parser = halo_mcp::sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    drop_rate: f64,
    /// Fault: the token endpoint answers 503 (`error`), closes the connection (`drop`) or
    /// never answers (`hang`); the API is then never reached
    #[arg(long, value_name = "error|drop|hang", value_parser = halo_mcp::sim::parse_token_fault,
          help_heading = "Faults")]
    token_fault: Option<halo_mcp::sim::TokenFault>,
    /// Inject errors and drops into writes only (POST, DELETE, ...); reads always pass
    #[arg(long, help_heading = "Faults")]
    faults_on_writes_only: bool,
    /// Generate this many extra assets (about 2 % of them duplicates), for scale tests
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=200_000))]
    extra_assets: u32,
    /// Generate this many extra users (one in 40 a duplicate), for scale tests
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=40_000))]
    extra_users: u32,
    /// Which fields the asset types use as key fields: mixed (a layout per type),
    /// serial-hostname, hostname-serial or name-user-model
    #[arg(long, value_name = "LAYOUT", default_value = "mixed", value_parser = parse_layout)]
    asset_layout: halo_mcp::sim::AssetLayout,
}

fn parse_layout(s: &str) -> Result<halo_mcp::sim::AssetLayout, String> {
    halo_mcp::sim::AssetLayout::parse(s).ok_or_else(|| {
        format!("expected mixed, serial-hostname, hostname-serial or name-user-model, got {s:?}")
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Mode, domains, read-only and the flat ceiling, from flags then the environment.
fn server_options(args: &ServeArgs) -> Result<Options, String> {
    let mut options = Options::default();
    if let Some(m) = args.mode.clone().or_else(|| env("HALO_MCP_MODE")) {
        options.mode = m
            .parse::<Mode>()
            .map_err(|e| format!("HALO_MCP_MODE / --mode: {e}"))?;
    }
    if let Some(d) = args.domains.clone().or_else(|| env("HALO_MCP_DOMAINS")) {
        let list: Vec<String> = d
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        options.domains = match list.as_slice() {
            [one] if one == "all" => Some(catalog::catalog().names().map(str::to_owned).collect()),
            [] => return Err("HALO_MCP_DOMAINS / --domains is empty".into()),
            _ => Some(list),
        };
    }
    options.read_only = args.read_only || env("HALO_MCP_READ_ONLY").is_some_and(|v| truthy(&v));
    if let Some(n) = args.max_tools.clone().or_else(|| env("HALO_MCP_MAX_TOOLS")) {
        options.max_tools = match n.trim().parse::<usize>() {
            Ok(n) if n >= 2 => n,
            _ => {
                return Err(format!(
                    "HALO_MCP_MAX_TOOLS / --max-tools must be a whole number of 2 or more, got {n:?}"
                ));
            }
        };
    }
    Ok(options)
}

/// Prints one line and exits with code 2: the contract for configuration problems.
fn config_exit(message: &str) -> ExitCode {
    fatal(message);
    ExitCode::from(2)
}

/// Set once JSON logging is on: then even the last words of the process are JSON lines.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One line on stderr saying why the process stops: plain text, or a JSON log line when the
/// logs are JSON (a log shipper then never meets a line it cannot parse).
fn fatal(message: &str) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::error!("{message}");
    } else {
        eprintln!("halo-mcp: {message}");
    }
}

fn init_logging(flag: Option<&str>, format: Option<&str>) -> Result<(), String> {
    let json = match format
        .map(str::to_owned)
        .or_else(|| env("LOG_FORMAT"))
        .map(|f| f.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("text") | Some("") => false,
        Some("json") => true,
        Some(other) => {
            return Err(format!(
                "LOG_FORMAT / --log-format must be text or json, got {other:?}"
            ));
        }
    };
    let filter = match (
        env("RUST_LOG").filter(|v| !v.is_empty()),
        flag.map(str::to_owned).or_else(|| env("LOG_LEVEL")),
    ) {
        (Some(rust_log), _) => tracing_subscriber::EnvFilter::try_new(rust_log)
            .map_err(|e| format!("RUST_LOG is not a valid filter: {e}"))?,
        (None, level) => {
            let level = level
                .map(|l| l.trim().to_ascii_lowercase())
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "info".into());
            if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
                return Err(format!(
                    "LOG_LEVEL must be error, warn, info, debug or trace, got {level:?}"
                ));
            }
            tracing_subscriber::EnvFilter::new(format!("warn,halo_mcp={level}"))
        }
    };
    // Everything goes to stderr: stdout carries the MCP protocol in stdio mode. The writer
    // escapes control characters and bounds each record, so a caller's value cannot forge a
    // line or flood the log.
    let ansi = !json && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_writer(halo_mcp::text::SafeStderr { ansi, json })
        .with_env_filter(filter);
    if json {
        JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("halo-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Domains { markdown, names }) => {
            use std::io::Write;
            let out = if names {
                tools::name_lines()
            } else {
                tools::domain_table(markdown)
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Some(Command::Clients { markdown }) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(halo_mcp::clients::table(markdown).as_bytes());
            ExitCode::SUCCESS
        }
        Some(Command::Simulate(args)) => {
            if let Err(e) = init_logging(args.log_level.as_deref(), None) {
                return config_exit(&e);
            }
            runtime.block_on(simulate(args))
        }
        Some(Command::Doctor(args)) => runtime.block_on(doctor(*args)),
        Some(Command::Healthcheck(args)) => runtime.block_on(healthcheck(args)),
        Some(Command::Serve(args)) => finish(runtime, |rt| rt.block_on(serve(*args))),
        None => finish(runtime, |rt| rt.block_on(serve(cli.serve))),
    }
}

/// Runs a server and ends the runtime without waiting for blocked reads: tokio reads stdin on a
/// blocking thread that only returns when a line or end of input arrives, and dropping the
/// runtime normally waits for it, so a signal would not end the process while the client keeps
/// stdin open.
fn finish(
    runtime: tokio::runtime::Runtime,
    run: impl FnOnce(&tokio::runtime::Runtime) -> ExitCode,
) -> ExitCode {
    let code = run(&runtime);
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

fn trimmed(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

async fn simulate(args: Box<SimulateArgs>) -> ExitCode {
    use halo_mcp::sim::Faults;
    let config = SimConfig {
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
        permissions: halo_mcp::sim::Permissions {
            app_scopes: trimmed(args.app_scopes),
            agent_denied: trimmed(args.agent_deny),
        },
        ..SimConfig::default()
    };
    match halo_mcp::sim::run_standalone(config, SocketAddr::new(args.host, args.port)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&format!("simulator failed: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Where the Halo settings come from: the flags (variables are read by `config`).
fn sources_of(args: &ServeArgs) -> config::Sources {
    config::Sources {
        base_url: args.base_url.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone().map(Secret::new),
        tenant: args.tenant.clone(),
        scope: args.scope.clone(),
        auth_url: args.auth_url.clone(),
        timeout_secs: args.timeout.clone(),
        rate_limit: args.rate_limit.clone(),
        rate_wait_secs: args.rate_wait.clone(),
        retries: args.retries.clone(),
        breaker_threshold: args.breaker_threshold.clone(),
        breaker_cooldown_secs: args.breaker_cooldown.clone(),
        cache_ttl_secs: args.cache_ttl.clone(),
        cache_max_entries: args.cache_max_entries.clone(),
        cache_max_bytes: args.cache_max_bytes.clone(),
        asset_serial_field: args.asset_serial_field.clone(),
        asset_hostname_field: args.asset_hostname_field.clone(),
        state: args.state.clone(),
        replicas: args.replicas.clone(),
    }
}

/// The demo replaces where Halo is and who we are; timeouts, rate budget, retries, breaker and
/// cache settings still come from the flags and environment.
fn use_demo(sources: &mut config::Sources, base_url: &str, sim: &SimConfig) {
    sources.base_url = Some(base_url.to_owned());
    sources.auth_url = Some(format!("{base_url}/auth"));
    sources.client_id = Some(sim.client_id.clone());
    sources.client_secret = Some(Secret::new(sim.client_secret.clone()));
    sources.tenant = sim.tenant.clone();
    sources.scope = Some("all".into());
}

async fn serve(args: ServeArgs) -> ExitCode {
    if let Err(e) = init_logging(args.log_level.as_deref(), args.log_format.as_deref()) {
        return config_exit(&e);
    }
    let options = match server_options(&args).and_then(|o| {
        halo_mcp::server::check_options(&o)?;
        Ok(o)
    }) {
        Ok(o) => o,
        Err(e) => return config_exit(&e),
    };
    let remote = match remote_plan(&args) {
        Ok(r) => r,
        Err(e) => return config_exit(&e),
    };
    // The OAuth proxy and Halo sign-in need no operator credentials: each session brings its own.
    let oauth = matches!(&remote, Some((_, AuthChoice::OAuth | AuthChoice::Halo)));
    if let Err(e) = configure_audit() {
        return config_exit(&e);
    }
    // The demo simulator is seeded in the background: its address is known as soon as the
    // listener is bound, so `initialize` is answered without waiting for the seed. Early tool
    // calls simply wait on the socket until it serves. The receiver keeps it alive.
    let mut demo: Option<tokio::sync::oneshot::Receiver<Simulator>> = None;
    let mut sources = sources_of(&args);
    if args.demo {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
            Ok(l) => l,
            Err(e) => {
                fatal(&format!("cannot start the demo Halo: {e}"));
                return ExitCode::FAILURE;
            }
        };
        let base_url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => {
                fatal(&format!("cannot start the demo Halo: {e}"));
                return ExitCode::FAILURE;
            }
        };
        let sim_config = SimConfig::default();
        use_demo(&mut sources, &base_url, &sim_config);
        let (tx, rx) = tokio::sync::oneshot::channel();
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
        demo = Some(rx);
    }
    // The OAuth proxy takes Halo credentials from each MCP client instead.
    let halo_config = match config::halo_config_for(sources, &env, !oauth) {
        Ok(cfg) => cfg,
        Err(e) => return config_exit(&e.0),
    };
    // The OAuth modes on Redis seal what they store there: no usable key, no start.
    if matches!(&remote, Some((_, AuthChoice::OAuth | AuthChoice::Halo)))
        && halo_config.resilience.state.redis().is_some()
        && let Err(e) = halo_mcp::remote::OAuthStore::sealer(
            env(halo_mcp::remote::sealed::STATE_KEY_VAR).as_deref(),
        )
    {
        return config_exit(&e);
    }
    let client = match HaloClient::new(halo_config) {
        Ok(c) => c,
        Err(e) => {
            fatal(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        base_url = %client.config().base_url,
        domains = catalog::catalog().entries().len(),
        transport = if remote.is_some() { "http" } else { "stdio" },
        "halo-mcp starting"
    );
    if let Some(redis) = client.config().resilience.state.redis() {
        // Not fatal: a replica that starts while Redis is out serves on its share of the
        // budget and joins the others once Redis answers.
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
    let prewarm = args.prewarm
        || env("HALO_PREWARM").is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
    if prewarm && !oauth {
        let halo = client.clone();
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
    let template = client.config().clone();
    let public_url = args.public_url.clone().or_else(|| env("MCP_PUBLIC_URL"));
    let operator = (!oauth).then_some(client);
    let shared = match Shared::with_options(operator, options) {
        Ok(s) => s,
        Err(e) => return config_exit(&e),
    };
    if let Some((bind, auth)) = remote {
        let result = serve_http(shared, bind, auth, template, public_url, &args).await;
        stop_demo(demo).await;
        return result;
    }
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
    let ended = halo_mcp::stdio::serve(
        handler,
        tokio::io::stdin(),
        tokio::io::stdout(),
        shutdown_signal(),
    )
    .await;
    stop_demo(demo).await;
    match ended {
        Ok(halo_mcp::stdio::Ended::InputClosed) => ExitCode::SUCCESS,
        Ok(halo_mcp::stdio::Ended::Signalled) => {
            tracing::info!("shutting down");
            ExitCode::SUCCESS
        }
        Ok(halo_mcp::stdio::Ended::ClosedBeforeInitialize) => {
            // Not an error: a client that connected and changed its mind, or `< /dev/null`.
            let line = "stdin closed before an MCP client sent initialize; nothing to serve";
            if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::info!("{line}");
            } else {
                eprintln!("halo-mcp: {line}");
            }
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
async fn stop_demo(demo: Option<tokio::sync::oneshot::Receiver<halo_mcp::sim::Simulator>>) {
    if let Some(mut rx) = demo
        && let Ok(sim) = rx.try_recv()
    {
        let _ = tokio::time::timeout(std::time::Duration::from_millis(300), sim.shutdown()).await;
    }
}

/// The audit log of writes, from `HALO_MCP_AUDIT_LOG` and `HALO_MCP_AUDIT_VALUES`.
fn configure_audit() -> Result<(), String> {
    let values = env("HALO_MCP_AUDIT_VALUES").is_some_and(|v| truthy(&v));
    let Some(target) = env("HALO_MCP_AUDIT_LOG") else {
        if values {
            return Err(
                "HALO_MCP_AUDIT_VALUES needs HALO_MCP_AUDIT_LOG (a file, or stderr)".into(),
            );
        }
        return Ok(());
    };
    halo_mcp::audit::configure(target.trim(), values)
}

/// How HTTP clients authenticate, as configured.
enum AuthChoice {
    None,
    Token(Secret),
    OAuth,
    /// Sign in with Halo: each user acts as their own agent.
    Halo,
}

/// For `--transport http`: the address and the authentication, checked before anything starts
/// (HTTP is never open by accident). `None` means stdio.
fn remote_plan(args: &ServeArgs) -> Result<Option<(SocketAddr, AuthChoice)>, String> {
    let transport = args
        .transport
        .clone()
        .or_else(|| env("MCP_TRANSPORT"))
        .unwrap_or_else(|| "stdio".into())
        .to_ascii_lowercase();
    match transport.as_str() {
        "stdio" => return Ok(None),
        "http" | "streamable-http" => {}
        other => {
            return Err(format!(
                "MCP_TRANSPORT / --transport must be stdio or http, got {other:?}"
            ));
        }
    }
    let bind: SocketAddr = match args.bind.clone().or_else(|| env("MCP_BIND")) {
        Some(b) => b.parse().map_err(|_| {
            format!("MCP_BIND / --bind must be an address such as 127.0.0.1:3000, got {b:?}")
        })?,
        None => {
            let port = match env("MCP_PORT") {
                Some(p) => p
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| format!("MCP_PORT must be a port number, got {p:?}"))?,
                None => 3000,
            };
            SocketAddr::from(([127, 0, 0, 1], port))
        }
    };
    let auth = match args
        .auth
        .clone()
        .or_else(|| env("MCP_AUTH"))
        .map(|a| a.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("env") | Some("token") => {
            let token = env("MCP_AUTH_TOKEN")
                .ok_or("MCP_AUTH=env needs MCP_AUTH_TOKEN: the bearer token clients must send")?;
            if token.trim().len() < 16 {
                return Err("MCP_AUTH_TOKEN must be at least 16 characters".into());
            }
            AuthChoice::Token(Secret::new(token.trim()))
        }
        Some("oauth") => AuthChoice::OAuth,
        Some("halo") => {
            let public = args.public_url.clone().or_else(|| env("MCP_PUBLIC_URL"));
            if public.is_none() && !bind.ip().is_loopback() {
                return Err(
                    "MCP_AUTH=halo needs MCP_PUBLIC_URL: Halo sends users back to \
                     {MCP_PUBLIC_URL}/oauth/halo/callback, the redirect URI registered in Halo"
                        .into(),
                );
            }
            if env("HALO_SIGNIN_CLIENT_ID").is_none() && !args.demo {
                return Err(
                    "MCP_AUTH=halo needs HALO_SIGNIN_CLIENT_ID: the client id of the Halo API \
                     application agents sign in through (authorization code, with PKCE)"
                        .into(),
                );
            }
            AuthChoice::Halo
        }
        Some("none") | None => {
            if args.no_auth && bind.ip().is_loopback() {
                AuthChoice::None
            } else if args.no_auth {
                return Err(format!(
                    "--no-auth is allowed only on a loopback address, not {bind}; set MCP_AUTH=env \
                     (with MCP_AUTH_TOKEN) or MCP_AUTH=oauth"
                ));
            } else {
                return Err(
                    "HTTP needs authentication: set MCP_AUTH=env (with MCP_AUTH_TOKEN) or \
                     MCP_AUTH=oauth; on 127.0.0.1 only, --no-auth serves without it"
                        .into(),
                );
            }
        }
        Some(other) => {
            return Err(format!(
                "MCP_AUTH must be env, oauth or halo, got {other:?}"
            ));
        }
    };
    Ok(Some((bind, auth)))
}

fn list_env(name: &str) -> Vec<String> {
    env(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn seconds_env(name: &str, default: u64) -> Result<Duration, String> {
    match env(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{name} must be a whole number of seconds, got {v:?}")),
    }
}

/// A positive whole number from a flag, else the variable, else `default`.
fn count_setting(
    flag: Option<&str>,
    flag_name: &str,
    var: &str,
    default: u64,
) -> Result<u64, String> {
    let (value, name) = match flag {
        Some(v) => (v.to_owned(), format!("--{flag_name}")),
        None => match env(var) {
            Some(v) => (v, var.to_owned()),
            None => return Ok(default),
        },
    };
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{name} must be a whole number above 0, got {value:?}"))
}

async fn serve_http(
    shared: std::sync::Arc<Shared>,
    bind: SocketAddr,
    auth: AuthChoice,
    template: HaloConfig,
    public_url: Option<String>,
    args: &ServeArgs,
) -> ExitCode {
    use halo_mcp::remote::{Auth, HttpConfig, OAuthConfig, OAuthStore};
    let state = template.resilience.state.clone();
    if let Some(u) = &public_url
        && let Err(e) = config::normalise_url(u, "MCP_PUBLIC_URL")
    {
        return config_exit(&e.0);
    }
    let session_idle = match seconds_env("MCP_SESSION_IDLE", 1800) {
        Ok(d) => d,
        Err(e) => return config_exit(&e),
    };
    let limits = (|| {
        let max_sessions = count_setting(
            args.max_sessions.as_deref(),
            "max-sessions",
            "MCP_MAX_SESSIONS",
            halo_mcp::remote::MAX_SESSIONS as u64,
        )?;
        let header = count_setting(
            args.http_header_timeout.as_deref(),
            "http-header-timeout",
            "MCP_HTTP_HEADER_TIMEOUT",
            halo_mcp::remote::HEADER_TIMEOUT.as_secs(),
        )?;
        let idle = count_setting(
            args.http_idle_timeout.as_deref(),
            "http-idle-timeout",
            "MCP_HTTP_IDLE_TIMEOUT",
            halo_mcp::remote::IDLE_TIMEOUT.as_secs(),
        )?;
        Ok::<_, String>((
            usize::try_from(max_sessions).unwrap_or(usize::MAX),
            Duration::from_secs(header),
            Duration::from_secs(idle),
        ))
    })();
    let (max_sessions, header_timeout, idle_timeout) = match limits {
        Ok(l) => l,
        Err(e) => return config_exit(&e),
    };
    let auth_name;
    let auth = match auth {
        AuthChoice::None => {
            auth_name = "none (loopback only)";
            tracing::warn!("serving HTTP without authentication (--no-auth, loopback only)");
            Auth::None
        }
        AuthChoice::Token(t) => {
            auth_name = "bearer token";
            Auth::Token(t)
        }
        AuthChoice::Halo => {
            auth_name = "sign in with Halo";
            let mut signin = halo_mcp::remote::SignInConfig::default();
            if let Some(scope) = env("HALO_SIGNIN_SCOPE") {
                signin.halo_scope = scope.trim().to_owned();
            }
            let mut cfg = template;
            // The demo's simulated Halo signs agents in through its own application.
            // Without the setting (the demo only, see `remote_plan`), the simulated Halo's own
            // application signs agents in.
            if let Some(id) = env("HALO_SIGNIN_CLIENT_ID") {
                cfg.client_id = id.trim().to_owned();
            }
            cfg.client_secret = match env("HALO_SIGNIN_CLIENT_SECRET") {
                Some(secret) => Secret::new(secret.trim()),
                None if args.demo && env("HALO_SIGNIN_CLIENT_ID").is_none() => cfg.client_secret,
                None => Secret::new(""),
            };
            // Shared state (Redis) keeps the sign-ins there, sealed with HALO_MCP_STATE_KEY.
            let made = match state.redis() {
                Some(redis) => {
                    let key = env(halo_mcp::remote::sealed::STATE_KEY_VAR);
                    match OAuthStore::sealer(key.as_deref()) {
                        Ok(sealer) => {
                            halo_mcp::remote::HaloSignIn::shared(signin, cfg, redis.clone(), sealer)
                        }
                        Err(e) => return config_exit(&e),
                    }
                }
                None => halo_mcp::remote::HaloSignIn::new(signin, cfg),
            };
            match made {
                Ok(s) => Auth::HaloSignIn(s),
                Err(e) => {
                    fatal(&format!("cannot set up sign-in with Halo: {e}"));
                    return ExitCode::FAILURE;
                }
            }
        }
        AuthChoice::OAuth => {
            auth_name = "OAuth proxy";
            let mut oauth = OAuthConfig::default();
            let extra = list_env("MCP_OAUTH_REDIRECT_URIS");
            if !extra.is_empty() {
                oauth.redirect_uris = extra;
            }
            oauth.credential_ttl = match seconds_env("MCP_OAUTH_CREDENTIAL_TTL", 86_400) {
                Ok(d) => d,
                Err(e) => return config_exit(&e),
            };
            oauth.code_ttl = match seconds_env("MCP_OAUTH_CODE_TTL", 60) {
                Ok(d) => d,
                Err(e) => return config_exit(&e),
            };
            // Shared state (Redis) keeps the OAuth state there, sealed with HALO_MCP_STATE_KEY.
            let key = env(halo_mcp::remote::sealed::STATE_KEY_VAR);
            match OAuthStore::for_state(oauth, template, &state, key.as_deref()) {
                Ok(store) => Auth::OAuth(store),
                Err(e) => return config_exit(&e),
            }
        }
    };
    let mut http = HttpConfig::new(bind, auth);
    http.public_url = public_url.map(|u| u.trim_end_matches('/').to_owned());
    http.allowed_hosts = list_env("MCP_ALLOWED_HOSTS");
    http.allowed_origins = list_env("MCP_ALLOWED_ORIGINS");
    http.trust_proxy = env("MCP_TRUST_PROXY").is_some_and(|v| truthy(&v));
    http.session_idle = session_idle;
    http.max_sessions = max_sessions;
    http.header_timeout = header_timeout;
    http.idle_timeout = idle_timeout;
    http.state = state;
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            fatal(&format!("cannot listen on {bind}: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(bind);
    tracing::info!(url = %format!("http://{local}/mcp"), auth = auth_name, "serving MCP over HTTP");
    match halo_mcp::remote::serve(shared, http, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&format!("HTTP server failed: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM from a container runtime or service manager.
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// client may send a signal the moment it has its `initialize` answer, and until a handler is
/// installed the signal's default action ends the process (with no exit code) instead of a
/// clean shutdown. Must be called inside the runtime.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
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

/// `halo-mcp doctor`: the configuration checks here (they need the flags), the rest in
/// `halo_mcp::doctor`.
async fn doctor(args: DoctorArgs) -> ExitCode {
    use halo_mcp::doctor::{self, Check, Report, Status};
    const SECTION: &str = "Configuration";
    let serve = args.serve;
    // The report is the output; logs only for problems unless asked for.
    let level = serve
        .log_level
        .clone()
        .or_else(|| env("LOG_LEVEL"))
        .unwrap_or_else(|| "error".into());
    if let Err(e) = init_logging(Some(&level), serve.log_format.as_deref()) {
        return config_exit(&e);
    }
    let mut report = Report::default();
    let checks = &mut report.checks;

    let mut sources = sources_of(&serve);
    let mut _demo = None;
    if serve.demo {
        let sim_config = SimConfig::default();
        match Simulator::start(sim_config.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await {
            Ok(sim) => {
                use_demo(&mut sources, &sim.base_url(), &sim_config);
                checks.push(
                    Check::new(SECTION, "demo", Status::Ok)
                        .detail(format!("built-in simulated Halo at {}", sim.base_url())),
                );
                _demo = Some(sim);
            }
            Err(e) => {
                checks.push(
                    Check::new(SECTION, "demo", Status::Fail)
                        .detail(format!("cannot start the demo Halo: {e}")),
                );
            }
        }
    }
    let remote = remote_plan(&serve);
    let oauth = matches!(remote, Ok(Some((_, AuthChoice::OAuth | AuthChoice::Halo))));
    let options = server_options(&serve).and_then(|o| {
        halo_mcp::server::check_options(&o)?;
        Ok(o)
    });

    // Halo settings. The OAuth proxy needs no credentials of its own; given some, doctor
    // checks that application.
    let halo = match config::halo_config_for(sources, &env, !oauth) {
        Ok(cfg) => {
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
            if cfg.client_id.is_empty() {
                checks.push(Check::new(SECTION, "API application", Status::Ok).detail(
                    "none: with the OAuth proxy each client brings its own (set HALO_CLIENT_ID \
                     and HALO_CLIENT_SECRET to check one application here)",
                ));
            } else {
                checks.push(
                    Check::new(SECTION, "API application", Status::Ok).detail(format!(
                        "client id {}, secret set, scope `{}`",
                        cfg.client_id, cfg.scope
                    )),
                );
            }
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
        Err(e) => {
            checks.push(
                Check::new(SECTION, "Halo settings", Status::Fail)
                    .detail("the Halo settings cannot be used")
                    .fix(e.0),
            );
            None
        }
    };
    let offered = match &options {
        Ok(o) => match halo_mcp::server::offered_domains(o) {
            Ok(domains) => {
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
                checks.push(Check::new(SECTION, "server", Status::Ok).detail(format!(
                    "mode {}, {which}, {}",
                    o.mode,
                    if o.read_only {
                        "read-only"
                    } else {
                        "reads and writes"
                    }
                )));
                Some((domains, o.read_only))
            }
            Err(e) => {
                checks.push(Check::new(SECTION, "server", Status::Fail).fix(e));
                None
            }
        },
        Err(e) => {
            checks.push(Check::new(SECTION, "server", Status::Fail).fix(e.clone()));
            None
        }
    };
    match &remote {
        Ok(None) => checks.push(
            Check::new(SECTION, "transport", Status::Ok)
                .detail("stdio (an MCP client starts halo-mcp and talks over stdin/stdout)"),
        ),
        Ok(Some((bind, auth))) => {
            let how = match auth {
                AuthChoice::None => "no authentication (loopback only)",
                AuthChoice::Token(_) => "bearer token (MCP_AUTH_TOKEN)",
                AuthChoice::OAuth => "OAuth proxy",
                AuthChoice::Halo => "sign in with Halo (each user acts as their own agent)",
            };
            checks.push(
                Check::new(SECTION, "transport", Status::Ok)
                    .detail(format!("HTTP on {bind}, {how}")),
            );
        }
        Err(e) => checks.push(Check::new(SECTION, "transport", Status::Fail).fix(e.clone())),
    }

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

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        println!("halo-mcp doctor {}\n", env!("CARGO_PKG_VERSION"));
        print!("{}", report.render());
    }
    if report.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `halo-mcp healthcheck`: GET /health on this machine's HTTP server.
async fn healthcheck(args: HealthcheckArgs) -> ExitCode {
    let transport = env("MCP_TRANSPORT")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if args.url.is_none() && !matches!(transport.as_str(), "http" | "streamable-http") {
        // stdio: no server to ask; the process being alive is all there is.
        return ExitCode::SUCCESS;
    }
    let url = args.url.unwrap_or_else(|| {
        let port = env("MCP_BIND")
            .and_then(|b| b.parse::<SocketAddr>().ok().map(|a| a.port()))
            .or_else(|| env("MCP_PORT").and_then(|p| p.trim().parse::<u16>().ok()))
            .unwrap_or(3000);
        format!("http://127.0.0.1:{port}/health")
    });
    halo_mcp::halo::install_crypto();
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
