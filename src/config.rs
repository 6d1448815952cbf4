//! Configuration from flags and the environment, checked before anything starts.
//!
//! Other Halo MCP servers name their variables differently; their names are accepted as aliases
//! so a user can switch servers without rewriting client configs. A missing or malformed value
//! stops the server with one line naming the variable (exit code 2).

use std::time::Duration;

use crate::{
    halo::{AssetFieldSettings, CacheLimits, HaloConfig, RateLimit, Resilience},
    secret::Secret,
    state::SharedState,
    text::quote,
};

/// Environment variable names, primary first, then accepted aliases.
pub const BASE_URL_VARS: &[&str] = &["HALO_BASE_URL", "HALOPSA_BASE_URL", "HALO_INSTANCE_URL"];
pub const CLIENT_ID_VARS: &[&str] = &["HALO_CLIENT_ID", "HALOPSA_CLIENT_ID"];
pub const CLIENT_SECRET_VARS: &[&str] = &["HALO_CLIENT_SECRET", "HALOPSA_CLIENT_SECRET"];
pub const TENANT_VARS: &[&str] = &["HALO_TENANT", "HALOPSA_TENANT"];
pub const SCOPE_VARS: &[&str] = &["HALO_SCOPE"];
pub const AUTH_URL_VARS: &[&str] = &["HALO_AUTH_URL"];
pub const TIMEOUT_VARS: &[&str] = &["HALO_TIMEOUT"];
pub const RATE_LIMIT_VARS: &[&str] = &["HALO_RATE_LIMIT"];
pub const RATE_WAIT_VARS: &[&str] = &["HALO_RATE_WAIT"];
pub const RETRIES_VARS: &[&str] = &["HALO_RETRIES"];
pub const BREAKER_THRESHOLD_VARS: &[&str] = &["HALO_BREAKER_THRESHOLD"];
pub const BREAKER_COOLDOWN_VARS: &[&str] = &["HALO_BREAKER_COOLDOWN"];
pub const CACHE_TTL_VARS: &[&str] = &["HALO_CACHE_TTL"];
pub const CACHE_MAX_ENTRIES_VARS: &[&str] = &["HALO_CACHE_MAX_ENTRIES"];
pub const CACHE_MAX_BYTES_VARS: &[&str] = &["HALO_CACHE_MAX_BYTES"];
pub const ASSET_SERIAL_FIELD_VARS: &[&str] = &["HALO_ASSET_SERIAL_FIELD"];
pub const ASSET_HOSTNAME_FIELD_VARS: &[&str] = &["HALO_ASSET_HOSTNAME_FIELD"];
pub const STATE_VARS: &[&str] = &["HALO_MCP_STATE"];
pub const REPLICAS_VARS: &[&str] = &["HALO_MCP_REPLICAS"];

/// Default limit for one HTTP exchange with Halo.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// A configuration problem, shown to the user as one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Raw values as given on the command line (flags win over the environment).
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub base_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub tenant: Option<String>,
    pub scope: Option<String>,
    pub auth_url: Option<String>,
    pub timeout_secs: Option<String>,
    pub rate_limit: Option<String>,
    pub rate_wait_secs: Option<String>,
    pub retries: Option<String>,
    pub breaker_threshold: Option<String>,
    pub breaker_cooldown_secs: Option<String>,
    pub cache_ttl_secs: Option<String>,
    pub cache_max_entries: Option<String>,
    pub cache_max_bytes: Option<String>,
    pub asset_serial_field: Option<String>,
    pub asset_hostname_field: Option<String>,
    pub state: Option<String>,
    pub replicas: Option<String>,
}

/// The first non-empty value: the flag, then each variable name in order.
fn pick(
    flag: Option<String>,
    names: &[&'static str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, &'static str)> {
    if let Some(v) = flag.filter(|v| !v.trim().is_empty()) {
        return Some((
            v.trim().to_owned(),
            names.first().copied().unwrap_or("flag"),
        ));
    }
    names.iter().find_map(|name| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v.trim().to_owned(), *name))
    })
}

/// Checks an http(s) URL and normalises it: no trailing slash.
pub fn normalise_url(value: &str, var: &str) -> Result<String, ConfigError> {
    let v = value.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(v).map_err(|_| {
        ConfigError(format!(
            "{var} is not a valid URL: {} (expected e.g. https://yourcompany.halopsa.com)",
            quote(v)
        ))
    })?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(ConfigError(format!(
            "{var} must start with https:// (or http://), got {}",
            quote(v)
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError(format!("{var} has no host name: {}", quote(v))));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError(format!(
            "{var} must be a plain address without ?query or #fragment, got {}",
            quote(v)
        )));
    }
    Ok(v.to_owned())
}

/// Builds the Halo connection settings; `env` looks up environment variables (injected for
/// tests).
pub fn halo_config(
    sources: Sources,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HaloConfig, ConfigError> {
    halo_config_for(sources, env, true)
}

/// Like [`halo_config`]; without `credentials` the client id and secret may be absent (the
/// OAuth proxy takes them from each MCP client instead) and are left empty.
pub fn halo_config_for(
    sources: Sources,
    env: &dyn Fn(&str) -> Option<String>,
    credentials: bool,
) -> Result<HaloConfig, ConfigError> {
    let base_url = base_url(sources.base_url.clone(), env)?;
    let (client_id, client_secret) = application(
        sources.client_id.clone(),
        sources.client_secret.clone(),
        env,
        credentials,
    )?;
    let tenant = tenant(sources.tenant.clone(), env)?;
    let scope = pick(sources.scope.clone(), SCOPE_VARS, env)
        .map(|(v, _)| v)
        .unwrap_or_else(|| "all".into());
    let auth_url = match pick(sources.auth_url.clone(), AUTH_URL_VARS, env) {
        Some((v, var)) => {
            let url = normalise_url(&v, var)?;
            // Accept the token endpoint itself as well as the auth server's address.
            url.strip_suffix("/token").map(str::to_owned).unwrap_or(url)
        }
        None => format!("{base_url}/auth"),
    };
    let timeout = seconds(pick(sources.timeout_secs.clone(), TIMEOUT_VARS, env), 600.0)?
        .unwrap_or(DEFAULT_TIMEOUT);
    let resilience = resilience(&sources, env)?;
    let asset_fields = AssetFieldSettings {
        serial: field_setting(pick(
            sources.asset_serial_field.clone(),
            ASSET_SERIAL_FIELD_VARS,
            env,
        ))?,
        hostname: field_setting(pick(
            sources.asset_hostname_field.clone(),
            ASSET_HOSTNAME_FIELD_VARS,
            env,
        ))?,
    };
    Ok(HaloConfig {
        base_url,
        auth_url,
        client_id,
        client_secret: Secret::new(client_secret),
        tenant,
        scope,
        timeout,
        resilience,
        asset_fields,
    })
}

/// The Halo web address, required.
fn base_url(
    flag: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let (raw, var) = pick(flag, BASE_URL_VARS, env).ok_or_else(|| {
        ConfigError(
            "HALO_BASE_URL is not set: give your Halo web address (e.g. \
             https://yourcompany.halopsa.com), or run with --demo to try the built-in demo Halo"
                .into(),
        )
    })?;
    let base_url = normalise_url(&raw, var)?;
    // People paste the resource server URL from Halo's API page; the API path is added later.
    Ok(match base_url.strip_suffix("/api") {
        Some(stripped) => stripped.to_owned(),
        None => base_url,
    })
}

/// The API application's client id and secret; empty when not `required`.
fn application(
    id_flag: Option<String>,
    secret_flag: Option<Secret>,
    env: &dyn Fn(&str) -> Option<String>,
    required: bool,
) -> Result<(String, String), ConfigError> {
    let client_id = match pick(id_flag, CLIENT_ID_VARS, env) {
        Some((v, _)) => v,
        None if !required => String::new(),
        None => {
            return Err(ConfigError(
                "HALO_CLIENT_ID is not set: create an API application in Halo (Configuration > \
                 Integrations > Halo API) and copy its Client ID"
                    .into(),
            ));
        }
    };
    let secret_flag = secret_flag.map(|s| s.expose().to_owned());
    let client_secret = match pick(secret_flag, CLIENT_SECRET_VARS, env) {
        Some((v, _)) => v,
        None if !required => String::new(),
        None => {
            return Err(ConfigError(
                "HALO_CLIENT_SECRET is not set: copy the Client Secret of your Halo API \
                 application"
                    .into(),
            ));
        }
    };
    Ok((client_id, client_secret))
}

/// The tenant of hosted multi-tenant Halo: one word, as it goes into the token URL.
fn tenant(
    flag: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let tenant = pick(flag, TENANT_VARS, env).map(|(v, _)| v);
    if let Some(t) = &tenant
        && (t.len() > 200 || t.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(ConfigError(format!(
            "HALO_TENANT must be a single word such as your Halo sub-domain, got {}",
            quote(t)
        )));
    }
    Ok(tenant)
}

/// Rate budget, retries, breaker, cache and shared state; each unset one keeps its default.
fn resilience(
    sources: &Sources,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resilience, ConfigError> {
    let defaults = Resilience::default();
    let given = |flag: &Option<String>, names| pick(flag.clone(), names, env);
    let rate_limit = match given(&sources.rate_limit, RATE_LIMIT_VARS) {
        Some((v, var)) => RateLimit::parse(&v).map_err(|e| ConfigError(format!("{var}: {e}")))?,
        None => defaults.rate_limit,
    };
    Ok(Resilience {
        rate_limit,
        rate_wait: seconds(given(&sources.rate_wait_secs, RATE_WAIT_VARS), 3600.0)?
            .unwrap_or(defaults.rate_wait),
        max_retries: count(given(&sources.retries, RETRIES_VARS), 0, 10)?
            .unwrap_or(defaults.max_retries),
        breaker_threshold: count(
            given(&sources.breaker_threshold, BREAKER_THRESHOLD_VARS),
            1,
            1000,
        )?
        .unwrap_or(defaults.breaker_threshold),
        breaker_cooldown: seconds(
            given(&sources.breaker_cooldown_secs, BREAKER_COOLDOWN_VARS),
            3600.0,
        )?
        .unwrap_or(defaults.breaker_cooldown),
        cache_ttl: match given(&sources.cache_ttl_secs, CACHE_TTL_VARS) {
            // 0 turns the cache off.
            Some((v, _)) if v.trim() == "0" => Duration::ZERO,
            picked => seconds(picked, 86_400.0)?.unwrap_or(defaults.cache_ttl),
        },
        cache_limits: CacheLimits {
            max_entries: count(
                given(&sources.cache_max_entries, CACHE_MAX_ENTRIES_VARS),
                1,
                10_000_000,
            )?
            .map_or(defaults.cache_limits.max_entries, |n| n as usize),
            max_bytes: byte_size(given(&sources.cache_max_bytes, CACHE_MAX_BYTES_VARS))?
                .unwrap_or(defaults.cache_limits.max_bytes),
        },
        state: match given(&sources.state, STATE_VARS) {
            Some((v, var)) => {
                SharedState::parse(&v).map_err(|e| ConfigError(format!("{var}: {e}")))?
            }
            None => SharedState::Memory,
        },
        replicas: count(given(&sources.replicas, REPLICAS_VARS), 1, 1000)?
            .unwrap_or(defaults.replicas),
        ..defaults
    })
}

/// The one truthiness rule for switches (`HALO_PREWARM`, `HALO_MCP_READ_ONLY`, ...): true/false,
/// 1/0, yes/no, on/off in any case. Empty counts as unset, so as false. Anything else is an
/// error rather than a silent `false`: `HALO_MCP_READ_ONLY=ture` must not open writes.
pub fn truthy(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err("expected true or false (or 1/0, yes/no, on/off)".into()),
    }
}

/// A Halo field named by a setting: its name (as Halo shows it) or its numeric id.
fn field_setting(picked: Option<(String, &'static str)>) -> Result<Option<String>, ConfigError> {
    let Some((v, var)) = picked else {
        return Ok(None);
    };
    if v.chars().count() > 100 || v.chars().any(char::is_control) {
        return Err(ConfigError(format!(
            "{var} must be a field name or id of at most 100 characters, got {}",
            quote(&v)
        )));
    }
    Ok(Some(v))
}

/// A whole number from `min` to `max`, from a picked value.
fn count(
    picked: Option<(String, &'static str)>,
    min: u32,
    max: u32,
) -> Result<Option<u32>, ConfigError> {
    match picked {
        None => Ok(None),
        Some((v, var)) => match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError(format!(
                "{var} must be a whole number from {min} to {max}, got {}",
                quote(&v)
            ))),
        },
    }
}

/// A size in bytes from 64 KB to 64 GB, from a picked value: a whole number with an optional
/// unit, `KB`, `MB` or `GB` (powers of 1024; `K`, `M`, `G`, `KiB`, ... too).
fn byte_size(picked: Option<(String, &'static str)>) -> Result<Option<u64>, ConfigError> {
    const MIN: u64 = 64 << 10;
    const MAX: u64 = 64 << 30;
    let Some((v, var)) = picked else {
        return Ok(None);
    };
    let bad = || {
        ConfigError(format!(
            "{var} must be a size from 64KB to 64GB such as 67108864, 512MB or 1GB, got {}",
            quote(&v)
        ))
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(1 << shift).ok_or_else(bad)?;
    if (MIN..=MAX).contains(&bytes) {
        Ok(Some(bytes))
    } else {
        Err(bad())
    }
}

/// A positive number of seconds up to `max`, from a picked value.
fn seconds(
    picked: Option<(String, &'static str)>,
    max: f64,
) -> Result<Option<Duration>, ConfigError> {
    match picked {
        None => Ok(None),
        Some((v, var)) => match v.parse::<f64>() {
            Ok(secs) if secs > 0.0 && secs <= max => Ok(Some(Duration::from_secs_f64(secs))),
            _ => Err(ConfigError(format!(
                "{var} must be a number of seconds between 0 and {max}, got {}",
                quote(&v)
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn aliases_and_normalisation() {
        let env = env_of(&[
            ("HALOPSA_BASE_URL", "https://acme.halopsa.com/api/"),
            ("HALOPSA_CLIENT_ID", "id"),
            ("HALOPSA_CLIENT_SECRET", "s3cret"),
            ("HALOPSA_TENANT", "acme"),
        ]);
        let cfg = halo_config(Sources::default(), &env).unwrap();
        assert_eq!(cfg.base_url, "https://acme.halopsa.com");
        assert_eq!(cfg.auth_url, "https://acme.halopsa.com/auth");
        assert_eq!(cfg.tenant.as_deref(), Some("acme"));
        assert_eq!(cfg.scope, "all");
        assert_eq!(cfg.timeout, DEFAULT_TIMEOUT);
        assert_eq!(cfg.resilience, Resilience::default());
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn instance_url_alias_and_flags_win() {
        let env = env_of(&[
            ("HALO_INSTANCE_URL", "https://x.haloitsm.com"),
            ("HALO_CLIENT_ID", "env-id"),
            ("HALO_CLIENT_SECRET", "s"),
            ("HALO_AUTH_URL", "https://auth.example.com/auth/token"),
            ("HALO_TIMEOUT", "2.5"),
            ("HALO_RATE_LIMIT", "700/5m"),
            ("HALO_RATE_WAIT", "10"),
            ("HALO_RETRIES", "1"),
            ("HALO_BREAKER_THRESHOLD", "9"),
            ("HALO_BREAKER_COOLDOWN", "5"),
            ("HALO_CACHE_TTL", "0"),
            ("HALO_CACHE_MAX_ENTRIES", "500"),
            ("HALO_CACHE_MAX_BYTES", "16MB"),
        ]);
        let sources = Sources {
            client_id: Some("flag-id".into()),
            ..Sources::default()
        };
        let cfg = halo_config(sources, &env).unwrap();
        assert_eq!(cfg.base_url, "https://x.haloitsm.com");
        assert_eq!(cfg.client_id, "flag-id");
        assert_eq!(cfg.auth_url, "https://auth.example.com/auth");
        assert_eq!(cfg.timeout, Duration::from_secs_f64(2.5));
        let r = &cfg.resilience;
        assert_eq!(r.rate_limit.limit, 700);
        assert_eq!(r.rate_limit.window, Duration::from_secs(300));
        assert_eq!(r.rate_wait, Duration::from_secs(10));
        assert_eq!((r.max_retries, r.breaker_threshold), (1, 9));
        assert_eq!(r.breaker_cooldown, Duration::from_secs(5));
        assert_eq!(r.cache_ttl, Duration::ZERO);
        assert_eq!(
            r.cache_limits,
            CacheLimits {
                max_entries: 500,
                max_bytes: 16 << 20
            }
        );
    }

    #[test]
    fn cache_sizes() {
        let size = |v: &str| byte_size(Some((v.to_owned(), "HALO_CACHE_MAX_BYTES")));
        assert_eq!(size("67108864"), Ok(Some(64 << 20)));
        assert_eq!(size("512mb"), Ok(Some(512 << 20)));
        assert_eq!(size("1 GiB"), Ok(Some(1 << 30)));
        assert_eq!(size("64K"), Ok(Some(64 << 10)));
        for bad in [
            "",
            "lots",
            "1KB",
            "65GB",
            "-1MB",
            "3TB",
            "99999999999999999999",
        ] {
            let e = size(bad).unwrap_err();
            assert!(
                e.0.starts_with("HALO_CACHE_MAX_BYTES must be a size"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            Resilience::default().cache_limits,
            CacheLimits {
                max_entries: 10_000,
                max_bytes: 64 << 20
            }
        );
    }

    #[test]
    fn errors_name_the_variable() {
        const BASE: (&str, &str) = ("HALO_BASE_URL", "https://a.halopsa.com");
        const ID: (&str, &str) = ("HALO_CLIENT_ID", "x");
        const SECRET: (&str, &str) = ("HALO_CLIENT_SECRET", "y");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "HALO_BASE_URL is not set"),
            (
                &[("HALO_BASE_URL", "acme.halopsa.com")],
                "HALO_BASE_URL is not a valid URL",
            ),
            (
                &[("HALOPSA_BASE_URL", "ftp://acme.halopsa.com")],
                "HALOPSA_BASE_URL must start with https://",
            ),
            (&[BASE], "HALO_CLIENT_ID is not set"),
            (&[BASE, ID], "HALO_CLIENT_SECRET is not set"),
            (
                &[BASE, ID, SECRET, ("HALO_TIMEOUT", "soon")],
                "HALO_TIMEOUT must be a number",
            ),
            (
                &[BASE, ID, SECRET, ("HALO_RATE_LIMIT", "lots")],
                "HALO_RATE_LIMIT: expected LIMIT/WINDOW",
            ),
            (
                &[BASE, ID, SECRET, ("HALO_RATE_WAIT", "-3")],
                "HALO_RATE_WAIT must be a number",
            ),
            (
                &[BASE, ID, SECRET, ("HALO_TENANT", "two words")],
                "HALO_TENANT must be",
            ),
            (
                &[BASE, ID, SECRET, ("HALO_CACHE_MAX_ENTRIES", "0")],
                "HALO_CACHE_MAX_ENTRIES must be a whole number from 1",
            ),
            (
                &[BASE, ID, SECRET, ("HALO_CACHE_MAX_BYTES", "huge")],
                "HALO_CACHE_MAX_BYTES must be a size",
            ),
            (
                &[BASE, ID, SECRET, ("HALO_MCP_STATE", "postgres://db")],
                "HALO_MCP_STATE: expected memory or a redis:// or rediss:// URL",
            ),
            (
                &[BASE, ID, SECRET, ("HALO_MCP_REPLICAS", "0")],
                "HALO_MCP_REPLICAS must be a whole number from 1",
            ),
        ];
        for (env, expected) in cases {
            let e = halo_config(Sources::default(), &env_of(env)).unwrap_err();
            assert!(e.0.starts_with(expected), "{env:?}: {e}");
        }
    }

    /// Memory and 3 replicas unless told; a Redis URL is taken without connecting (a Redis
    /// that is down at start is a fallback, not a configuration error).
    #[tokio::test]
    async fn shared_state_settings() {
        let base = [
            ("HALO_BASE_URL", "https://acme.halopsa.com"),
            ("HALO_CLIENT_ID", "id"),
            ("HALO_CLIENT_SECRET", "secret"),
        ];
        let c = halo_config(Sources::default(), &env_of(&base)).unwrap();
        assert_eq!(c.resilience.state, SharedState::Memory);
        assert_eq!(c.resilience.replicas, 3);
        let mut with = base.to_vec();
        with.push(("HALO_MCP_STATE", "redis://:pw-not-shown@127.0.0.1:1/0"));
        with.push(("HALO_MCP_REPLICAS", "4"));
        let c = halo_config(Sources::default(), &env_of(&with)).unwrap();
        assert_eq!(format!("{:?}", c.resilience.state), "redis(127.0.0.1:1)");
        assert_eq!(c.resilience.replicas, 4);
        assert!(!format!("{c:?}").contains("pw-not-shown"));
        // The flag wins over the variable.
        let sources = Sources {
            state: Some("memory".into()),
            ..Sources::default()
        };
        let c = halo_config(sources, &env_of(&with)).unwrap();
        assert_eq!(c.resilience.state, SharedState::Memory);
    }

    #[test]
    fn asset_field_settings() {
        let base = [
            ("HALO_BASE_URL", "https://acme.halopsa.com"),
            ("HALO_CLIENT_ID", "id"),
            ("HALO_CLIENT_SECRET", "secret"),
        ];
        let c = halo_config(Sources::default(), &env_of(&base)).unwrap();
        assert_eq!(c.asset_fields, AssetFieldSettings::default());
        let mut with = base.to_vec();
        with.push(("HALO_ASSET_SERIAL_FIELD", " CFSerialNumber "));
        with.push(("HALO_ASSET_HOSTNAME_FIELD", "101"));
        let c = halo_config(Sources::default(), &env_of(&with)).unwrap();
        assert_eq!(c.asset_fields.serial.as_deref(), Some("CFSerialNumber"));
        assert_eq!(c.asset_fields.hostname.as_deref(), Some("101"));
        let long = "x".repeat(101);
        let mut bad = base.to_vec();
        bad.push(("HALO_ASSET_SERIAL_FIELD", &long));
        let e = halo_config(Sources::default(), &env_of(&bad)).unwrap_err();
        assert!(e.0.starts_with("HALO_ASSET_SERIAL_FIELD "), "{e}");
    }

    #[test]
    fn bad_values_are_echoed_bounded_and_escaped() {
        let big = format!("not a url\n WARN forged{}", "x".repeat(1_000_000));
        let e = normalise_url(&big, "HALO_URL")
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(e.starts_with("HALO_URL is not a valid URL"), "{e}");
        assert!(e.len() < 600 && !e.contains('\n'), "{}", e.len());
        let e = count(Some((big.clone(), "HALO_MCP_X")), 1, 2)
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(e.len() < 600 && !e.contains('\n'), "{}", e.len());
    }
}
