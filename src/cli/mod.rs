//! The command line: one clap definition of every setting, each with its flag and its
//! environment variable, and the commands that run with them. `main.rs` only chooses.
//!
//! Every setting is read here and nowhere else, so a variable behaves the same in `serve`,
//! `doctor` and `healthcheck`, `--help` lists it, and the tests below hold `.env.example` and
//! the README's tables to this definition. The aliases other Halo MCP servers use (clap takes
//! one variable per flag) are the `*_VARS` lists in [`crate::config`], read there.

use std::{error::Error as _, net::IpAddr, process::ExitCode, time::Duration};

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};

use crate::{config, sim};

mod doctor;
mod healthcheck;
mod http;
mod logging;
mod serve;
mod settings;
mod simulate;

pub use doctor::doctor;
pub use healthcheck::healthcheck;
pub use logging::{config_exit, fatal, init_logging};
pub use serve::{finish, serve};
pub use simulate::simulate;

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
  HALO_RETRIES         retries after a failed or rate-limited request (default: 5)
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

Switches (HALO_PREWARM, HALO_MCP_READ_ONLY, MCP_TRUST_PROXY, HALO_MCP_AUDIT_VALUES) take
true/false, 1/0, yes/no or on/off, in any case; empty counts as unset.

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
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand)]
pub enum Command {
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

/// Every setting of `serve` (and `doctor`). Values stay text here: `config` and `settings`
/// check them, so a bad one is reported as one line naming the variable, not as clap's usage
/// error. `--demo` and `--no-auth` have no variable on purpose: both change what the server
/// trusts and should be visible on the command line.
#[derive(Args, Clone, Default)]
pub struct ServeArgs {
    /// Run against the built-in simulated Halo: no tenant or credentials needed
    #[arg(long)]
    pub demo: bool,
    /// Halo web address, e.g. https://yourcompany.halopsa.com
    #[arg(long, env = "HALO_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// API application client id
    #[arg(long, env = "HALO_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// API application client secret; prefer the variable, flags show in process lists
    #[arg(
        long,
        env = "HALO_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// Tenant for hosted multi-tenant Halo, sent as ?tenant=
    #[arg(long, env = "HALO_TENANT", value_name = "TENANT")]
    pub tenant: Option<String>,
    /// OAuth scope (default: all)
    #[arg(long, env = "HALO_SCOPE", value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Authorisation server (default: {base}/auth)
    #[arg(long, env = "HALO_AUTH_URL", value_name = "URL")]
    pub auth_url: Option<String>,
    /// Seconds allowed for each Halo request (default: 15)
    #[arg(long, env = "HALO_TIMEOUT", value_name = "SECONDS")]
    pub timeout: Option<String>,
    /// Halo's rate limit, e.g. 300/300s or 500/3m (default: 300/300s)
    #[arg(long, env = "HALO_RATE_LIMIT", value_name = "LIMIT/WINDOW")]
    pub rate_limit: Option<String>,
    /// Longest wait in seconds for the rate budget before a call fails (default: 60)
    #[arg(long, env = "HALO_RATE_WAIT", value_name = "SECONDS")]
    pub rate_wait: Option<String>,
    /// Retries after a failed or rate-limited request (default: 5)
    #[arg(long, env = "HALO_RETRIES", value_name = "N")]
    pub retries: Option<String>,
    /// Consecutive failed calls that pause calls to Halo (default: 5)
    #[arg(long, env = "HALO_BREAKER_THRESHOLD", value_name = "N")]
    pub breaker_threshold: Option<String>,
    /// Seconds calls stay paused before a probe (default: 30)
    #[arg(long, env = "HALO_BREAKER_COOLDOWN", value_name = "SECONDS")]
    pub breaker_cooldown: Option<String>,
    /// Seconds reference data (statuses, teams, ...) stays cached; 0 turns caching off
    /// (default: 600)
    #[arg(long, env = "HALO_CACHE_TTL", value_name = "SECONDS")]
    pub cache_ttl: Option<String>,
    /// Most entries the reference cache holds; the least recently used go first
    /// (default: 10000)
    #[arg(long, env = "HALO_CACHE_MAX_ENTRIES", value_name = "N")]
    pub cache_max_entries: Option<String>,
    /// Most memory the reference cache holds, approximately, e.g. 512MB (default: 64MB)
    #[arg(long, env = "HALO_CACHE_MAX_BYTES", value_name = "SIZE")]
    pub cache_max_bytes: Option<String>,
    /// Asset field holding serial numbers, by field name or id, where field names do not say
    /// it (default: found by field name per asset type)
    #[arg(long, env = "HALO_ASSET_SERIAL_FIELD", value_name = "FIELD")]
    pub asset_serial_field: Option<String>,
    /// Asset field holding hostnames, by field name or id (default: found by field name per
    /// asset type)
    #[arg(long, env = "HALO_ASSET_HOSTNAME_FIELD", value_name = "FIELD")]
    pub asset_hostname_field: Option<String>,
    /// Load reference data into the cache in the background at start
    #[arg(long, env = "HALO_PREWARM", action = ArgAction::SetTrue,
          value_parser = config::truthy)]
    pub prewarm: bool,
    /// How tools are offered: auto (by client), tree, dispatch or flat (default: auto)
    #[arg(long, env = "HALO_MCP_MODE", value_name = "MODE")]
    pub mode: Option<String>,
    /// Domains to offer, comma-separated, or `all` (flat mode needs it)
    #[arg(long, env = "HALO_MCP_DOMAINS", value_name = "LIST")]
    pub domains: Option<String>,
    /// Offer only tools that read; wins over every other setting
    #[arg(long, env = "HALO_MCP_READ_ONLY", action = ArgAction::SetTrue,
          value_parser = config::truthy)]
    pub read_only: bool,
    /// Most tools flat mode may expose (default: 128, VS Code's limit)
    #[arg(long, env = "HALO_MCP_MAX_TOOLS", value_name = "N")]
    pub max_tools: Option<String>,
    #[command(flatten)]
    pub transport: TransportArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    /// Where state shared by replicas lives: memory (default, one process) or a redis:// or
    /// rediss:// URL: one Halo rate budget and movable sessions for every replica using it;
    /// prefer the variable when the URL holds a password
    #[arg(
        long,
        env = "HALO_MCP_STATE",
        hide_env_values = true,
        value_name = "memory|URL"
    )]
    pub state: Option<String>,
    /// 32 random bytes (hex or base64) that seal the OAuth modes' secrets and Halo tokens kept
    /// in Redis; `new,old` rotates (the first encrypts, all decrypt)
    #[arg(
        long,
        env = "HALO_MCP_STATE_KEY",
        hide_env_values = true,
        value_name = "KEY[,OLD]"
    )]
    pub state_key: Option<String>,
    /// Most replicas running at once (count a rolling update's extra one); while Redis is
    /// unreachable each uses this share of the rate limit (default: 3)
    #[arg(long, env = "HALO_MCP_REPLICAS", value_name = "N")]
    pub replicas: Option<String>,
    /// File to append one JSON line per write to, or `stderr` (default: off)
    #[arg(long, env = "HALO_MCP_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<String>,
    /// The audit log holds the values written, not only the field names
    #[arg(long, env = "HALO_MCP_AUDIT_VALUES", action = ArgAction::SetTrue,
          value_parser = config::truthy)]
    pub audit_values: bool,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Where the server listens; shared with `healthcheck`, which asks that address.
#[derive(Args, Clone, Default)]
pub struct TransportArgs {
    /// stdio (default) or http
    #[arg(long, env = "MCP_TRANSPORT", value_name = "TRANSPORT")]
    pub transport: Option<String>,
    /// Address for HTTP (default: 127.0.0.1:3000)
    #[arg(long, env = "MCP_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// Port for HTTP on 127.0.0.1, when --bind is not given
    #[arg(long, env = "MCP_PORT", value_name = "PORT")]
    pub port: Option<String>,
}

/// The HTTP transport's authentication and limits.
#[derive(Args, Clone, Default)]
pub struct HttpArgs {
    /// How HTTP clients authenticate: env (a bearer token, MCP_AUTH_TOKEN), oauth (the OAuth
    /// proxy) or halo (each user signs in with Halo)
    #[arg(long, env = "MCP_AUTH", value_name = "MODE")]
    pub auth: Option<String>,
    /// The bearer token clients must send with --auth env, 16+ characters; prefer the variable
    #[arg(
        long,
        env = "MCP_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<String>,
    /// Serve HTTP without authentication; allowed only on a loopback address
    #[arg(long)]
    pub no_auth: bool,
    /// External URL of this server, used in OAuth metadata
    #[arg(long, env = "MCP_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Extra Host names accepted, comma-separated
    #[arg(long, env = "MCP_ALLOWED_HOSTS", value_name = "LIST")]
    pub allowed_hosts: Option<String>,
    /// Browser origins accepted, comma-separated
    #[arg(long, env = "MCP_ALLOWED_ORIGINS", value_name = "LIST")]
    pub allowed_origins: Option<String>,
    /// Trust X-Forwarded-Host and -Proto from a reverse proxy
    #[arg(long, env = "MCP_TRUST_PROXY", action = ArgAction::SetTrue,
          value_parser = config::truthy)]
    pub trust_proxy: bool,
    /// Seconds before an idle HTTP session closes (default: 1800)
    #[arg(long, env = "MCP_SESSION_IDLE", value_name = "SECONDS")]
    pub session_idle: Option<String>,
    /// Most live HTTP sessions; an `initialize` beyond it gets 503 (default: 1000)
    #[arg(long, env = "MCP_MAX_SESSIONS", value_name = "N")]
    pub max_sessions: Option<String>,
    /// Seconds a client has to send a request's headers before it is disconnected (default: 10)
    #[arg(long, env = "MCP_HTTP_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub http_header_timeout: Option<String>,
    /// Seconds a kept-alive connection with nothing in flight stays open (default: 60); open
    /// SSE streams are not idle
    #[arg(long, env = "MCP_HTTP_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub http_idle_timeout: Option<String>,
    /// Redirect URIs allowed for unregistered OAuth clients, comma-separated
    #[arg(long, env = "MCP_OAUTH_REDIRECT_URIS", value_name = "LIST")]
    pub oauth_redirect_uris: Option<String>,
    /// Seconds Halo credentials are kept by the OAuth proxy (default: 86400)
    #[arg(long, env = "MCP_OAUTH_CREDENTIAL_TTL", value_name = "SECONDS")]
    pub oauth_credential_ttl: Option<String>,
    /// Seconds an authorization code lives (default: 60)
    #[arg(long, env = "MCP_OAUTH_CODE_TTL", value_name = "SECONDS")]
    pub oauth_code_ttl: Option<String>,
    /// --auth halo: the client id of the Halo application agents sign in through
    #[arg(long, env = "HALO_SIGNIN_CLIENT_ID", value_name = "ID")]
    pub signin_client_id: Option<String>,
    /// Its secret, if it has one (default: none, PKCE only); prefer the variable
    #[arg(
        long,
        env = "HALO_SIGNIN_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub signin_client_secret: Option<String>,
    /// Scope asked of Halo at sign-in (default: all offline_access)
    #[arg(long, env = "HALO_SIGNIN_SCOPE", value_name = "SCOPE")]
    pub signin_scope: Option<String>,
}

/// Logging, for every command that runs a server.
#[derive(Args, Clone, Default)]
pub struct LogArgs {
    /// Log level: error, warn, info, debug, trace (RUST_LOG, a full filter, wins)
    #[arg(long, env = "LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format on stderr: text (default) or json, one object per line for log shippers
    #[arg(long, env = "LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct HealthcheckArgs {
    /// The health URL (default: http://127.0.0.1:<port of MCP_BIND or MCP_PORT, else 3000>/health)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Port to listen on
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Require this tenant on the token URL
    #[arg(long)]
    pub tenant: Option<String>,
    /// Client id to accept
    #[arg(long, default_value = "demo-client")]
    pub client_id: String,
    /// Client secret to accept
    #[arg(long, default_value = "demo-secret")]
    pub client_secret: String,
    /// Serve another tenant with its own data, reached with these credentials (repeatable).
    /// SEED defaults to one derived from CLIENT_ID; the secret cannot contain ':'
    #[arg(long, value_name = "CLIENT_ID:SECRET[:SEED]",
          value_parser = sim::parse_extra_tenant)]
    pub extra_tenant: Vec<sim::SimTenant>,
    /// Token lifetime in seconds
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Permissions of the API application: `all` (default), or scopes such as
    /// `read:tickets,edit:customers`; a token request for anything else gets invalid_scope
    #[arg(
        long,
        value_name = "SCOPES",
        value_delimiter = ',',
        default_value = "all",
        help_heading = "Permissions"
    )]
    pub app_scopes: Vec<String>,
    /// Areas the login-as agent cannot access, e.g. `invoices,assets` (`admin`: configuration
    /// such as agents and teams); calls there get 403
    #[arg(
        long,
        value_name = "AREAS",
        value_delimiter = ',',
        help_heading = "Permissions"
    )]
    pub agent_deny: Vec<String>,
    #[command(flatten)]
    pub log: LogArgs,
    /// Fault: answer 429 beyond LIMIT API requests per rolling WINDOW (s, m or ms suffix),
    /// e.g. 300/300s, Halo's hosted limit; refused requests do not use up the budget
    #[arg(long, value_name = "LIMIT/WINDOW", value_parser = sim::parse_rate_limit,
          help_heading = "Faults")]
    pub rate_limit: Option<(u32, Duration)>,
    /// Send Retry-After (whole seconds) with 429s; Halo is not known to send it
    #[arg(long, requires = "rate_limit", help_heading = "Faults")]
    pub retry_after: bool,
    /// Send Retry-After with 429s as an HTTP date instead of seconds
    #[arg(long, requires = "rate_limit", help_heading = "Faults")]
    pub retry_after_date: bool,
    /// Fault: fraction (0 to 1) of API requests answered with a gateway 502, 503 or 504
    #[arg(long, value_name = "FRACTION", value_parser = sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    pub error_rate: f64,
    /// Answer every injected error with this status instead of a random 502/503/504 (500:
    /// Halo's own failure, with a JSON body)
    #[arg(long, value_name = "STATUS", value_parser = sim::parse_error_status,
          help_heading = "Faults")]
    pub error_status: Option<u16>,
    /// Fraction (0 to 1) of injected errors and drops that happen after the request was
    /// applied (a write lands, its answer is lost); the rest happen before
    #[arg(long, value_name = "FRACTION", value_parser = sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    pub error_after_apply: f64,
    /// Seed of the fault dice: the same seed and requests give the same faults
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Faults")]
    pub fault_seed: u64,
    /// Fault: milliseconds added before answering every API request
    #[arg(long, value_name = "MS", default_value_t = 0, help_heading = "Faults",
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub latency_ms: u64,
    /// Fault: fraction (0 to 1) of successful API answers sent with their JSON cut short
    #[arg(long, value_name = "FRACTION", value_parser = sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    pub malformed_rate: f64,
    /// Fault: fraction (0 to 1) of API requests whose connection is closed with no answer
    #[arg(long, value_name = "FRACTION", value_parser = sim::parse_fraction,
          default_value_t = 0.0, help_heading = "Faults")]
    pub drop_rate: f64,
    /// Fault: the token endpoint answers 503 (`error`), closes the connection (`drop`) or
    /// never answers (`hang`); the API is then never reached
    #[arg(long, value_name = "error|drop|hang", value_parser = sim::parse_token_fault,
          help_heading = "Faults")]
    pub token_fault: Option<sim::TokenFault>,
    /// Inject errors and drops into writes only (POST, DELETE, ...); reads always pass
    #[arg(long, help_heading = "Faults")]
    pub faults_on_writes_only: bool,
    /// Generate this many extra assets (about 2 % of them duplicates), for scale tests
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=200_000))]
    pub extra_assets: u32,
    /// Generate this many extra users (one in 40 a duplicate), for scale tests
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=40_000))]
    pub extra_users: u32,
    /// Which fields the asset types use as key fields: mixed (a layout per type),
    /// serial-hostname, hostname-serial or name-user-model
    #[arg(long, value_name = "LAYOUT", default_value = "mixed", value_parser = parse_layout)]
    pub asset_layout: sim::AssetLayout,
}

fn parse_layout(s: &str) -> Result<sim::AssetLayout, String> {
    sim::AssetLayout::parse(s).ok_or_else(|| {
        format!(
            "expected mixed, serial-hostname, hostname-serial or name-user-model, got {}",
            crate::text::quote(s)
        )
    })
}

/// Parses the command line and the environment. A value clap itself refuses (a switch that is
/// not true or false, a simulator number out of range) is a configuration problem like any
/// other: one line naming the variable or flag, exit code 2. Help, version and usage mistakes
/// keep clap's own output.
pub fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue
            ) =>
        {
            Err(config_exit(&value_error_line(&e)))
        }
        Err(e) => e.exit(),
    }
}

/// One line for a refused value: the variable and flag it came through, and the value.
fn value_error_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (Some(arg), Some(value)) = (
        context(ContextKind::InvalidArg),
        context(ContextKind::InvalidValue),
    ) else {
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        return first.trim_start_matches("error: ").to_owned();
    };
    // clap names the flag as `--prewarm` or `--port <PORT>`; find its variable, if it has one.
    let long = arg
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_start_matches('-');
    let var = env_of_flag(&Cli::command(), long);
    let name = match var {
        Some(var) => format!("{var} / --{long}"),
        None => format!("--{long}"),
    };
    let why = e
        .source()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "not accepted".into());
    format!("{name}: {why}, got {}", crate::text::quote(&value))
}

/// The variable of the flag `--long`, in any subcommand.
fn env_of_flag(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|sub| env_of_flag(sub, long))
        })
}

/// Every environment variable the command line reads, in every subcommand.
pub fn env_vars() -> std::collections::BTreeSet<String> {
    fn walk(command: &clap::Command, into: &mut std::collections::BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(var) = arg.get_env() {
                into.insert(var.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, into);
        }
    }
    let mut vars = std::collections::BTreeSet::new();
    walk(&Cli::command(), &mut vars);
    vars
}

/// A setting's value, trimmed; blank counts as unset (an empty line in `.env` must not
/// override a default).
pub(crate) fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
