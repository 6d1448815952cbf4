//! MCP over HTTP: the authentication chosen, the limits, and the listener.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use super::{
    HttpArgs, ServeArgs, given,
    logging::{config_exit, fatal},
    serve::shutdown_signal,
    settings::{self, AuthChoice},
};
use crate::{
    config,
    halo::HaloConfig,
    remote::{self, Auth, HttpConfig, OAuthConfig, OAuthStore},
    secret::Secret,
    server::Shared,
};

/// Connection limits of the HTTP server.
struct Limits {
    session_idle: Duration,
    max_sessions: usize,
    header_timeout: Duration,
    idle_timeout: Duration,
}

pub(crate) async fn serve_http(
    shared: Arc<Shared>,
    bind: SocketAddr,
    auth: AuthChoice,
    template: HaloConfig,
    args: &ServeArgs,
) -> ExitCode {
    let state = template.resilience.state.clone();
    let public_url = given(&args.http.public_url);
    if let Some(u) = &public_url
        && let Err(e) = config::normalise_url(u, "MCP_PUBLIC_URL")
    {
        return config_exit(&e.0);
    }
    let limits = match limits(&args.http) {
        Ok(l) => l,
        Err(e) => return config_exit(&e),
    };
    let (auth, auth_name) = match http_auth(auth, template, args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut http = HttpConfig::new(bind, auth);
    http.public_url = public_url.map(|u| u.trim_end_matches('/').to_owned());
    http.allowed_hosts = settings::list(&args.http.allowed_hosts);
    http.allowed_origins = settings::list(&args.http.allowed_origins);
    http.trust_proxy = args.http.trust_proxy;
    http.session_idle = limits.session_idle;
    http.max_sessions = limits.max_sessions;
    http.header_timeout = limits.header_timeout;
    http.idle_timeout = limits.idle_timeout;
    http.state = state;
    listen(shared, http, bind, auth_name).await
}

/// Binds and serves until a signal.
async fn listen(shared: Arc<Shared>, http: HttpConfig, bind: SocketAddr, auth: &str) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            fatal(&format!("cannot listen on {bind}: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(bind);
    tracing::info!(url = %format!("http://{local}/mcp"), auth, "serving MCP over HTTP");
    match remote::serve(shared, http, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&format!("HTTP server failed: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn limits(http: &HttpArgs) -> Result<Limits, String> {
    let session_idle = settings::seconds(
        &http.session_idle,
        "MCP_SESSION_IDLE / --session-idle",
        1800,
    )?;
    let max_sessions = settings::positive(
        &http.max_sessions,
        "MCP_MAX_SESSIONS / --max-sessions",
        remote::MAX_SESSIONS as u64,
    )?;
    Ok(Limits {
        session_idle,
        max_sessions: usize::try_from(max_sessions).unwrap_or(usize::MAX),
        header_timeout: Duration::from_secs(settings::positive(
            &http.http_header_timeout,
            "MCP_HTTP_HEADER_TIMEOUT / --http-header-timeout",
            remote::HEADER_TIMEOUT.as_secs(),
        )?),
        idle_timeout: Duration::from_secs(settings::positive(
            &http.http_idle_timeout,
            "MCP_HTTP_IDLE_TIMEOUT / --http-idle-timeout",
            remote::IDLE_TIMEOUT.as_secs(),
        )?),
    })
}

/// The authentication as the HTTP server takes it, and its name for the log.
fn http_auth(
    auth: AuthChoice,
    template: HaloConfig,
    args: &ServeArgs,
) -> Result<(Auth, &'static str), ExitCode> {
    Ok(match auth {
        AuthChoice::None => {
            tracing::warn!("serving HTTP without authentication (--no-auth, loopback only)");
            (Auth::None, "none (loopback only)")
        }
        AuthChoice::Token(t) => (Auth::Token(t), "bearer token"),
        AuthChoice::Halo => (halo_signin(template, args)?, "sign in with Halo"),
        AuthChoice::OAuth => {
            let oauth = oauth_config(&args.http).map_err(|e| config_exit(&e))?;
            // Shared state (Redis) keeps the OAuth state there, sealed with HALO_MCP_STATE_KEY.
            let state = template.resilience.state.clone();
            let store = OAuthStore::for_state(oauth, template, &state, args.state_key.as_deref())
                .map_err(|e| config_exit(&e))?;
            (Auth::OAuth(store), "OAuth proxy")
        }
    })
}

/// Sign-in with Halo: the Halo application agents sign in through.
fn halo_signin(template: HaloConfig, args: &ServeArgs) -> Result<Auth, ExitCode> {
    let http = &args.http;
    let mut signin = remote::SignInConfig::default();
    if let Some(scope) = given(&http.signin_scope) {
        signin.halo_scope = scope;
    }
    let mut cfg = template;
    let client_id = given(&http.signin_client_id);
    cfg.client_secret = match given(&http.signin_client_secret) {
        Some(secret) => Secret::new(secret),
        // Without the setting (the demo only, see `remote_plan`), the simulated Halo's own
        // application signs agents in, with its own secret.
        None if args.demo && client_id.is_none() => cfg.client_secret,
        None => Secret::new(""),
    };
    if let Some(id) = client_id {
        cfg.client_id = id;
    }
    // Shared state (Redis) keeps the sign-ins there, sealed with HALO_MCP_STATE_KEY.
    let made = match cfg.resilience.state.redis() {
        Some(redis) => {
            let redis = redis.clone();
            let sealer =
                OAuthStore::sealer(args.state_key.as_deref()).map_err(|e| config_exit(&e))?;
            remote::HaloSignIn::shared(signin, cfg, redis, sealer)
        }
        None => remote::HaloSignIn::new(signin, cfg),
    };
    made.map(Auth::HaloSignIn).map_err(|e| {
        fatal(&format!("cannot set up sign-in with Halo: {e}"));
        ExitCode::FAILURE
    })
}

/// The OAuth proxy's redirect URIs and lifetimes.
fn oauth_config(http: &HttpArgs) -> Result<OAuthConfig, String> {
    let mut oauth = OAuthConfig::default();
    let extra = settings::list(&http.oauth_redirect_uris);
    if !extra.is_empty() {
        oauth.redirect_uris = extra;
    }
    oauth.credential_ttl = settings::seconds(
        &http.oauth_credential_ttl,
        "MCP_OAUTH_CREDENTIAL_TTL / --oauth-credential-ttl",
        86_400,
    )?;
    oauth.code_ttl = settings::seconds(
        &http.oauth_code_ttl,
        "MCP_OAUTH_CODE_TTL / --oauth-code-ttl",
        60,
    )?;
    Ok(oauth)
}
