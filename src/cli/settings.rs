//! The settings `config` does not own: the server's options, the transport and its
//! authentication, each checked into one line naming the variable.

use std::{net::SocketAddr, time::Duration};

use super::{ServeArgs, TransportArgs, given};
use crate::{
    catalog, config,
    secret::Secret,
    server::{Mode, Options},
    sim::SimConfig,
};

/// Mode, domains, read-only and the flat ceiling.
pub(crate) fn server_options(args: &ServeArgs) -> Result<Options, String> {
    let mut options = Options::default();
    if let Some(m) = given(&args.mode) {
        options.mode = m
            .parse::<Mode>()
            .map_err(|e| format!("HALO_MCP_MODE / --mode: {e}"))?;
    }
    if let Some(d) = given(&args.domains) {
        let list = split_list(&d);
        options.domains = match list.as_slice() {
            [one] if one == "all" => Some(catalog::catalog().names().map(str::to_owned).collect()),
            [] => return Err("HALO_MCP_DOMAINS / --domains is empty".into()),
            _ => Some(list),
        };
    }
    options.read_only = args.read_only;
    if let Some(n) = given(&args.max_tools) {
        options.max_tools = match n.parse::<usize>() {
            Ok(n) if n >= 2 => n,
            _ => {
                return Err(format!(
                    "HALO_MCP_MAX_TOOLS / --max-tools must be a whole number of 2 or more, got {}",
                    crate::text::quote(&n)
                ));
            }
        };
    }
    Ok(options)
}

/// [`server_options`], checked against the catalogue as the server will use them.
pub(crate) fn checked_options(args: &ServeArgs) -> Result<Options, String> {
    let options = server_options(args)?;
    crate::server::check_options(&options)?;
    Ok(options)
}

/// How HTTP clients authenticate, as configured.
pub(crate) enum AuthChoice {
    None,
    Token(Secret),
    OAuth,
    /// Sign in with Halo: each user acts as their own agent.
    Halo,
}

impl AuthChoice {
    /// Whether each session brings its own Halo credentials, so the operator needs none.
    pub(crate) fn per_user(&self) -> bool {
        matches!(self, AuthChoice::OAuth | AuthChoice::Halo)
    }
}

/// For `--transport http`: the address and the authentication, checked before anything starts
/// (HTTP is never open by accident). `None` means stdio.
pub(crate) fn remote_plan(args: &ServeArgs) -> Result<Option<(SocketAddr, AuthChoice)>, String> {
    if !is_http(&args.transport)? {
        return Ok(None);
    }
    let bind = bind_address(&args.transport)?;
    let auth = auth_choice(args, bind)?;
    Ok(Some((bind, auth)))
}

/// Whether the transport is HTTP; stdio unless told.
pub(crate) fn is_http(transport: &TransportArgs) -> Result<bool, String> {
    let name = given(&transport.transport)
        .unwrap_or_else(|| "stdio".into())
        .to_ascii_lowercase();
    match name.as_str() {
        "stdio" => Ok(false),
        "http" | "streamable-http" => Ok(true),
        other => Err(format!(
            "MCP_TRANSPORT / --transport must be stdio or http, got {}",
            crate::text::quote(other)
        )),
    }
}

/// `MCP_BIND`, else 127.0.0.1 with `MCP_PORT`, else 127.0.0.1:3000.
pub(crate) fn bind_address(transport: &TransportArgs) -> Result<SocketAddr, String> {
    if let Some(b) = given(&transport.bind) {
        return b.parse().map_err(|_| {
            format!(
                "MCP_BIND / --bind must be an address such as 127.0.0.1:3000, got {}",
                crate::text::quote(&b)
            )
        });
    }
    let port = match given(&transport.port) {
        Some(p) => p.parse::<u16>().map_err(|_| {
            format!(
                "MCP_PORT must be a port number, got {}",
                crate::text::quote(&p)
            )
        })?,
        None => 3000,
    };
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn auth_choice(args: &ServeArgs, bind: SocketAddr) -> Result<AuthChoice, String> {
    let http = &args.http;
    match given(&http.auth).map(|a| a.to_ascii_lowercase()).as_deref() {
        Some("env") | Some("token") => {
            let token = given(&http.auth_token)
                .ok_or("MCP_AUTH=env needs MCP_AUTH_TOKEN: the bearer token clients must send")?;
            if token.len() < 16 {
                return Err("MCP_AUTH_TOKEN must be at least 16 characters".into());
            }
            Ok(AuthChoice::Token(Secret::new(token)))
        }
        Some("oauth") => Ok(AuthChoice::OAuth),
        Some("halo") => {
            if given(&http.public_url).is_none() && !bind.ip().is_loopback() {
                return Err(
                    "MCP_AUTH=halo needs MCP_PUBLIC_URL: Halo sends users back to \
                     {MCP_PUBLIC_URL}/oauth/halo/callback, the redirect URI registered in Halo"
                        .into(),
                );
            }
            if given(&http.signin_client_id).is_none() && !args.demo {
                return Err(
                    "MCP_AUTH=halo needs HALO_SIGNIN_CLIENT_ID: the client id of the Halo API \
                     application agents sign in through (authorization code, with PKCE)"
                        .into(),
                );
            }
            Ok(AuthChoice::Halo)
        }
        Some("none") | None => {
            if http.no_auth && bind.ip().is_loopback() {
                Ok(AuthChoice::None)
            } else if http.no_auth {
                Err(format!(
                    "--no-auth is allowed only on a loopback address, not {bind}; set MCP_AUTH=env \
                     (with MCP_AUTH_TOKEN) or MCP_AUTH=oauth"
                ))
            } else {
                Err(
                    "HTTP needs authentication: set MCP_AUTH=env (with MCP_AUTH_TOKEN) or \
                     MCP_AUTH=oauth; on 127.0.0.1 only, --no-auth serves without it"
                        .into(),
                )
            }
        }
        Some(other) => Err(format!(
            "MCP_AUTH must be env, oauth or halo, got {}",
            crate::text::quote(other)
        )),
    }
}

/// A comma-separated list, items trimmed, empty ones dropped.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A comma-separated setting; unset is an empty list.
pub(crate) fn list(value: &Option<String>) -> Vec<String> {
    given(value).map(|v| split_list(&v)).unwrap_or_default()
}

/// A whole number of seconds above 0, or `default` when unset.
pub(crate) fn seconds(value: &Option<String>, var: &str, default: u64) -> Result<Duration, String> {
    match given(value) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                format!(
                    "{var} must be a whole number of seconds, got {}",
                    crate::text::quote(&v)
                )
            }),
    }
}

/// A whole number above 0, or `default` when unset.
pub(crate) fn positive(value: &Option<String>, var: &str, default: u64) -> Result<u64, String> {
    match given(value) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            format!(
                "{var} must be a whole number above 0, got {}",
                crate::text::quote(&v)
            )
        }),
    }
}

/// Where the Halo settings come from: the command line, its variables included; `config`
/// adds the aliases.
pub(crate) fn sources_of(args: &ServeArgs) -> config::Sources {
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
pub(crate) fn use_demo(sources: &mut config::Sources, base_url: &str, sim: &SimConfig) {
    sources.base_url = Some(base_url.to_owned());
    sources.auth_url = Some(format!("{base_url}/auth"));
    sources.client_id = Some(sim.client_id.clone());
    sources.client_secret = Some(Secret::new(sim.client_secret.clone()));
    sources.tenant = sim.tenant.clone();
    sources.scope = Some("all".into());
}

/// Environment lookups for the aliases `config` accepts; clap has read the primary names.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
