//! `halo-mcp doctor`: checks a set-up end to end and says what to fix.
//!
//! In order: the configuration (done by the caller, which owns the flags), the Halo address
//! (reachable at all, and what `/api/authinfo` says about the auth server and tenant), the token
//! request (with the tenant), `GET /Agent/me` (who the application logs in as), one read in each
//! permission area the server offers, and the rate budget those requests used. Every failed
//! check carries a fix. Nothing is written to Halo; the secret and tokens never appear.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    catalog::{self, Verb},
    halo::{Caching, HaloClient, HaloConfig, HaloError, PageRequest, error},
};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something deserves attention.
    Warn,
    Fail,
    /// Not run; its detail always says why ("skipped: ...").
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub section: &'static str,
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn new(section: &'static str, name: impl Into<String>, status: Status) -> Check {
        Check {
            section,
            name: name.into(),
            status,
            detail: String::new(),
            fix: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Check {
        self.detail = detail.into();
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    fn status_to(mut self, status: Status) -> Check {
        self.status = status;
        self
    }
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.count(Status::Fail)
    }

    pub fn warnings(&self) -> usize {
        self.count(Status::Warn)
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The report for a terminal: sections, one line per check, fixes indented under failures.
    pub fn render(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(28);
        let mut out = String::new();
        let mut section = "";
        for c in &self.checks {
            if c.section != section {
                if !section.is_empty() {
                    out.push('\n');
                }
                section = c.section;
                out.push_str(section);
                out.push('\n');
            }
            let mark = match c.status {
                Status::Ok => "✓",
                Status::Warn => "!",
                Status::Fail => "✗",
                Status::Skip => "-",
            };
            out.push_str(&format!("  {mark} {:<width$}  {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
        out.push('\n');
        out.push_str(&match (self.failures(), self.warnings()) {
            (0, 0) => "Everything checked out.".to_owned(),
            (0, w) => format!("No failures; {w} {} to look at.", plural(w, "warning")),
            (f, w) => format!(
                "{f} {} (and {w} {}): see the fixes above.",
                plural(f, "problem"),
                plural(w, "warning")
            ),
        });
        out.push('\n');
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "ok": self.failures() == 0,
            "failures": self.failures(),
            "warnings": self.warnings(),
            "checks": self.checks,
        })
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// One read per permission area: the area (as Halo's scopes name it), what it covers, and the
/// list that probes it. Areas are probed only when a domain the server offers reaches them.
pub const AREA_PROBES: &[(&str, &str, &str)] = &[
    ("tickets", "tickets, actions, ticket setup", "/Tickets"),
    ("customers", "clients, sites, users", "/Client"),
    ("assets", "assets and asset types", "/Asset"),
    ("contracts", "client contracts", "/ClientContract"),
    ("invoices", "invoices, recurring invoices", "/Invoice"),
    ("items", "products and services", "/Item"),
    ("quotes", "quotations", "/Quotation"),
    ("sos", "sales orders", "/SalesOrder"),
    ("pos", "purchase orders", "/PurchaseOrder"),
    ("suppliers", "suppliers", "/Supplier"),
    ("projects", "projects", "/Projects"),
    ("crm", "opportunities, CRM notes", "/Opportunities"),
    ("timesheets", "timesheets", "/Timesheet"),
    ("calendar", "appointments, to-dos, holidays", "/Appointment"),
    ("kb", "knowledge base, canned text", "/KBArticle"),
    ("reporting", "reports", "/Report"),
    ("softwarelicensing", "software licences", "/SoftwareLicence"),
    ("admin", "configuration: agents, teams, ...", "/Agent"),
];

/// Runs every check after the configuration: `domains` are the domains the server offers,
/// `read_only` whether it offers writes. Each step needs the one before it to have worked;
/// when one cannot, the rest are marked skipped with the reason.
pub async fn diagnose(cfg: HaloConfig, domains: &[&str], read_only: bool) -> Report {
    let mut report = Report::default();
    let checks = &mut report.checks;
    if let Some(warning) = encryption(&cfg.base_url) {
        checks.push(warning);
    }
    // One plain HTTP client for the checks that go around the Halo client.
    let http = match probe_client(&cfg) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::new("Halo", "HTTP client", Status::Fail).detail(e));
            skip_rest(checks, "no HTTP client could be built (see above)");
            return report;
        }
    };
    let reachable = reach(&http, &cfg).await;
    let reached = reachable.status == Status::Ok;
    checks.push(reachable);
    if !reached {
        skip_rest(checks, "Halo is not reachable");
        return report;
    }
    let info = authinfo(&http, &cfg).await;
    let halo = match HaloClient::new(cfg.clone()) {
        Ok(h) => h,
        Err(e) => {
            checks.push(Check::new("Halo", "HTTP client", Status::Fail).detail(e.to_string()));
            skip_rest(checks, "no HTTP client could be built (see above)");
            return report;
        }
    };
    match token(&halo, &cfg, info.as_ref()).await {
        Ok(check) => checks.push(check),
        Err(check) => {
            checks.push(check);
            skip_rest(checks, "Halo gave no token (see the token check)");
            return report;
        }
    }
    let granted: Option<Vec<String>> = halo
        .status()
        .token
        .scope
        .map(|s| s.split_whitespace().map(str::to_owned).collect());
    let (agent_check, agent_name) = login_as(&halo).await;
    checks.push(agent_check);
    let access = Access {
        domains,
        granted: granted.as_deref(),
        read_only,
    };
    permissions(checks, &halo, &access, agent_name.as_deref()).await;
    checks.push(budget(&halo));
    report
}

/// What the server offers and what the token grants, for the permission checks.
struct Access<'a> {
    domains: &'a [&'a str],
    /// The token's scopes, when Halo states them.
    granted: Option<&'a [String]>,
    read_only: bool,
}

/// A warning when the secret and tokens would travel unencrypted to a remote Halo.
fn encryption(base: &str) -> Option<Check> {
    (base.starts_with("http://") && !is_loopback_url(base)).then(|| {
        Check::new("Halo", "encryption", Status::Warn)
            .detail(format!(
                "{base} is plain http: the secret and tokens travel unencrypted"
            ))
            .fix("use the https:// address of your Halo")
    })
}

/// The token, with the tenant: `Err` with the failure and its fix when Halo gives none.
async fn token(
    halo: &HaloClient,
    cfg: &HaloConfig,
    info: Option<&AuthInfo>,
) -> Result<Check, Check> {
    let started = Instant::now();
    if let Err(e) = halo.check_credentials().await {
        return Err(token_failure(cfg, &e, info));
    }
    let status = halo.status().token;
    let mut detail = format!(
        "issued in {} ms{}; expires in {} s; scopes: {}",
        started.elapsed().as_millis(),
        cfg.tenant
            .as_deref()
            .map(|t| format!(" for tenant {t}"))
            .unwrap_or_default(),
        status.expires_in_s.unwrap_or(0),
        status.scope.as_deref().unwrap_or("(not stated)")
    );
    if status.scope.is_none() {
        detail.push_str(&format!(" (asked for `{}`)", cfg.scope));
    }
    Ok(Check::new("Halo", "token", Status::Ok).detail(detail))
}

/// Who the application acts as, and the agent's name for the permission checks.
async fn login_as(halo: &HaloClient) -> (Check, Option<String>) {
    let me = match halo.get("/Agent/me", &[], Caching::Live).await {
        Ok(me) => me,
        Err(e) => {
            let check = Check::new("Halo", "login-as agent", Status::Fail)
                .detail(format!("GET /Agent/me failed: {e}"))
                .fix(
                    "set the application's Login Type to Agent and choose the agent the \
                     assistant acts as (Configuration > Integrations > Halo API > your \
                     application)",
                );
            return (check, None);
        }
    };
    let name = me
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(no name)")
        .to_owned();
    let mut detail = format!("agent {name}");
    if let Some(id) = me.get("id").and_then(Value::as_i64) {
        detail.push_str(&format!(" (id {id}"));
        if let Some(email) = me.get("email").and_then(Value::as_str)
            && !email.is_empty()
        {
            detail.push_str(&format!(", {email}"));
        }
        detail.push(')');
    }
    let disabled = me
        .get("isdisabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let check = if disabled {
        Check::new("Halo", "login-as agent", Status::Fail)
            .detail(format!("{detail} is disabled"))
            .fix(
                "enable the agent, or pick an active one as the application's login-as \
                 agent (Configuration > Integrations > Halo API > your application)",
            )
    } else {
        Check::new("Halo", "login-as agent", Status::Ok).detail(detail)
    };
    (check, Some(name))
}

/// One read per area the offered domains reach, then what the refusals and the token's
/// scopes mean for reads and writes.
async fn permissions(
    checks: &mut Vec<Check>,
    halo: &HaloClient,
    access: &Access<'_>,
    agent: Option<&str>,
) {
    let areas = offered_areas(access.domains);
    let probes: Vec<_> = AREA_PROBES
        .iter()
        .filter(|(area, _, _)| areas.contains(area))
        .collect();
    // Areas no offered domain reaches are not probed; say which, so a short report does not
    // read as a clean bill for them.
    let unprobed: Vec<&str> = AREA_PROBES
        .iter()
        .map(|(area, _, _)| *area)
        .filter(|area| !areas.contains(area))
        .collect();
    let results: Vec<Check> = futures::stream::iter(probes.into_iter().map(|probe| {
        let halo = halo.clone();
        async move { probe_area(&halo, probe, access.granted, agent).await }
    }))
    .buffered(4)
    .collect()
    .await;
    let denied: Vec<String> = results
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name.clone())
        .collect();
    checks.extend(results);
    if !denied.is_empty() {
        checks.push(denied_advice(access.domains, &denied));
    }
    if !unprobed.is_empty() {
        checks.push(
            Check::new("Permissions", "other areas", Status::Skip).detail(format!(
                "skipped: no offered domain reads {} (--domains / HALO_MCP_DOMAINS)",
                unprobed.join(", ")
            )),
        );
    }
    if let Some(check) = writes(access, &areas, &denied) {
        checks.push(check);
    }
}

/// For areas Halo refused: if that is intended, the domains that stay whole without them,
/// as a line to paste.
fn denied_advice(domains: &[&str], denied: &[String]) -> Check {
    let usable: Vec<&str> = domains
        .iter()
        .copied()
        .filter(|d| {
            domain_areas(d)
                .iter()
                .all(|a| !denied.iter().any(|x| x == a))
        })
        .collect();
    let fix = if usable.is_empty() {
        "no domain is fully usable: grant the permissions above".to_owned()
    } else {
        format!(
            "if the application is meant to stay out of these areas, offer only the domains \
             it can use: HALO_MCP_DOMAINS={} (doctor then checks only those)",
            usable.join(",")
        )
    };
    Check::new("Permissions", "if intended", Status::Warn)
        .detail(format!("the assistant cannot read: {}", denied.join(", ")))
        .fix(fix)
}

/// Whether writes were checked, and the areas the token may read but not change.
fn writes(access: &Access<'_>, areas: &[&str], denied: &[String]) -> Option<Check> {
    if access.read_only {
        return Some(
            Check::new("Permissions", "writes", Status::Skip)
                .detail("skipped: read-only (--read-only), so no tool writes"),
        );
    }
    let Some(granted) = access.granted else {
        return Some(Check::new("Permissions", "writes", Status::Skip).detail(
            "skipped: the token states no scopes, so a missing edit permission shows only \
                 when Halo refuses a write",
        ));
    };
    let read_only_areas: Vec<&str> = AREA_PROBES
        .iter()
        .map(|(area, _, _)| *area)
        .filter(|area| areas.contains(area) && *area != "admin")
        .filter(|area| !denied.iter().any(|d| d == area))
        .filter(|area| {
            error::scopes_allow(granted, "GET", Some(area))
                && !error::scopes_allow(granted, "POST", Some(area))
        })
        .collect();
    (!read_only_areas.is_empty()).then(|| {
        Check::new("Permissions", "writes", Status::Warn)
            .detail(format!(
                "the token may read but not change: {}",
                read_only_areas.join(", ")
            ))
            .fix(
                "add the edit: permissions the assistant needs (or `all`), or run with \
                 --read-only so it is not offered writes that Halo will refuse",
            )
    })
}

/// What the checks used of the rate budget, and whether Halo's limit is lower than configured
/// or shared with other integrations.
fn budget(halo: &HaloClient) -> Check {
    let budget = halo.status().rate_budget;
    let window = budget.window_s;
    let sent = halo.status().requests;
    let check = Check::new("Rate budget", "budget", Status::Ok).detail(format!(
        "{} of {} requests used in the rolling {window} s window (these checks sent {sent})",
        budget.used, budget.limit
    ));
    if let Some(configured) = &budget.configured {
        check
            .status_to(Status::Warn)
            .detail(format!(
                "Halo answered 429 without Retry-After {} times: the budget learned a limit of \
                 {} requests per {} s (configured {} per {} s); {} of them used",
                budget.rate_limited,
                budget.limit,
                budget.window_s,
                configured.limit,
                configured.window_s,
                budget.used
            ))
            .fix(
                "this tenant allows fewer requests than HALO_RATE_LIMIT says: set it to what \
                 Halo allows (or leave room for other integrations); the learned figure grows \
                 back by one after each window without a 429",
            )
    } else if budget.waited > 0 {
        check
            .status_to(Status::Warn)
            .detail(format!(
                "{} of {} requests in {window} s; {} requests waited for a slot: the budget is \
                 being used by something else too",
                budget.used, budget.limit, budget.waited
            ))
            .fix("other integrations share Halo's limit; lower HALO_RATE_LIMIT to leave them room")
    } else {
        check
    }
}

/// Marks the checks that did not run because of `why`.
pub fn skip_rest(checks: &mut Vec<Check>, why: &str) {
    for (section, name) in [
        ("Halo", "token"),
        ("Halo", "login-as agent"),
        ("Permissions", "areas"),
        ("Rate budget", "budget"),
    ] {
        if !checks.iter().any(|c| c.name == name) {
            checks.push(Check::new(section, name, Status::Skip).detail(format!("skipped: {why}")));
        }
    }
}

fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

fn probe_client(cfg: &HaloConfig) -> Result<reqwest::Client, String> {
    crate::halo::install_crypto();
    reqwest::Client::builder()
        .user_agent(concat!("halo-mcp-doctor/", env!("CARGO_PKG_VERSION")))
        .timeout(cfg.timeout.min(Duration::from_secs(15)))
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| e.to_string())
}

/// Can the Halo address be reached at all (DNS, TCP, TLS, an HTTP answer)?
async fn reach(http: &reqwest::Client, cfg: &HaloConfig) -> Check {
    let name = "reachable";
    let started = Instant::now();
    match http.get(&cfg.base_url).send().await {
        Ok(r) => Check::new("Halo", name, Status::Ok).detail(format!(
            "{} answered (HTTP {}) in {} ms",
            cfg.base_url,
            r.status().as_u16(),
            started.elapsed().as_millis()
        )),
        Err(e) => {
            let cause = crate::halo::root_cause(&e);
            let lower = cause.to_ascii_lowercase();
            let fix = if e.is_timeout() {
                format!(
                    "no answer within {} s: check firewalls and proxies between this machine \
                     and Halo (HTTPS_PROXY is honoured)",
                    cfg.timeout.as_secs()
                )
            } else if lower.contains("dns") || lower.contains("resolve") || lower.contains("lookup")
            {
                "the host name does not resolve: check HALO_BASE_URL (e.g. \
                 https://yourcompany.halopsa.com) and this machine's DNS"
                    .to_owned()
            } else if lower.contains("certificate") || lower.contains("tls") {
                "the TLS certificate was not accepted: if a proxy inspects TLS, add its CA to \
                 the system trust store; self-hosted Halo needs a certificate for this name"
                    .to_owned()
            } else if lower.contains("refused") {
                "nothing listens there: check the address and port in HALO_BASE_URL".to_owned()
            } else {
                "check HALO_BASE_URL and the network path to Halo".to_owned()
            };
            Check::new("Halo", name, Status::Fail)
                .detail(format!("cannot reach {}: {cause}", cfg.base_url))
                .fix(fix)
        }
    }
}

/// What Halo says about its auth server and tenant (`GET /api/authinfo`, public), if it says.
struct AuthInfo {
    auth_url: Option<String>,
    tenant: Option<String>,
}

async fn authinfo(http: &reqwest::Client, cfg: &HaloConfig) -> Option<AuthInfo> {
    let r = http
        .get(format!("{}/api/authinfo", cfg.base_url))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let v: Value = r.json().await.ok()?;
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
    };
    Some(AuthInfo {
        auth_url: text("auth_url"),
        tenant: text("tenant_id"),
    })
}

fn token_failure(cfg: &HaloConfig, e: &HaloError, info: Option<&AuthInfo>) -> Check {
    let detail = match e {
        HaloError::Scope { scope, detail } => format!("Halo refused the scope `{scope}`: {detail}"),
        other => other.to_string(),
    };
    let check = Check::new("Halo", "token", Status::Fail).detail(detail);
    let told_tenant = info.and_then(|i| i.tenant.as_deref());
    let told_auth = info.and_then(|i| i.auth_url.as_deref());
    match e {
        HaloError::Scope { .. } => check.fix(format!(
            "the API application lacks a permission HALO_SCOPE (`{}`) asks for: tick it (or \
             `all`) under Configuration > Integrations > Halo API > your application > \
             Permissions, or set HALO_SCOPE to the permissions it has, space-separated",
            cfg.scope
        )),
        HaloError::Auth { code, detail, .. } => {
            let tenant_problem = code == "invalid_request" && detail.contains("tenant");
            if tenant_problem
                || (cfg.tenant.is_none() && told_tenant.is_some() && code != "invalid_client")
            {
                match told_tenant {
                    Some(t) => {
                        check.fix(format!("Halo names its tenant `{t}`: set HALO_TENANT={t}"))
                    }
                    None => check.fix(
                        "set HALO_TENANT to your tenant (shown on Halo's API page; often the \
                         first part of the host name)",
                    ),
                }
            } else {
                check.fix(
                    "copy the Client ID and Secret again from Configuration > Integrations > \
                     Halo API > your application (authentication method \"Client ID and Secret \
                     (Services)\"); a regenerated secret replaces the old one",
                )
            }
        }
        HaloError::TokenEndpoint { status, .. } => {
            let fix = match told_auth {
                Some(a) if a != cfg.auth_url => format!(
                    "Halo says its auth server is {a}, but {} is used: set HALO_AUTH_URL={a}",
                    cfg.auth_url
                ),
                _ if *status == 404 => format!(
                    "{}/token does not exist: check HALO_BASE_URL, or set HALO_AUTH_URL",
                    cfg.auth_url
                ),
                _ => "Halo's auth server failed; try again, and check Halo's status".to_owned(),
            };
            check.fix(fix)
        }
        HaloError::Timeout { .. }
        | HaloError::Connect { .. }
        | HaloError::Transport { .. }
        | HaloError::TokenUnreachable { .. } => {
            check.fix("the auth server did not answer: check HALO_AUTH_URL and the network path")
        }
        _ => check,
    }
}

/// The permission areas a domain's resources and composite tools read (`admin` for paths no
/// area names).
fn domain_areas(name: &str) -> Vec<&'static str> {
    let mut paths: Vec<&str> = Vec::new();
    if let Ok(domain) = catalog::catalog().domain(name) {
        paths.extend(domain.resources.iter().map(|r| r.path.as_str()));
    }
    for c in crate::tools::composite::COMPOSITES
        .iter()
        .filter(|c| c.domain == name)
    {
        paths.extend(c.reads.iter().copied());
    }
    let mut areas: Vec<&'static str> = Vec::new();
    for path in paths {
        let area = error::scope_area(path).unwrap_or("admin");
        if !areas.contains(&area) {
            areas.push(area);
        }
    }
    areas
}

/// The probed areas the offered domains reach.
fn offered_areas(domains: &[&str]) -> Vec<&'static str> {
    let mut areas: Vec<&'static str> = Vec::new();
    for area in domains.iter().flat_map(|d| domain_areas(d)) {
        if AREA_PROBES.iter().any(|(a, _, _)| *a == area) && !areas.contains(&area) {
            areas.push(area);
        }
    }
    areas
}

/// The catalogue resource behind a probe path (for its envelope key and paging).
fn resource_for(path: &str) -> Option<&'static catalog::Resource> {
    let cat = catalog::catalog();
    cat.entries()
        .iter()
        .filter_map(|e| e.domain().ok())
        .flat_map(|d| d.resources.iter())
        .find(|r| r.path.eq_ignore_ascii_case(path) && r.has(Verb::List))
}

async fn probe_area(
    halo: &HaloClient,
    (area, covers, path): &(&str, &str, &str),
    granted: Option<&[String]>,
    agent: Option<&str>,
) -> Check {
    let name = area.to_string();
    let (envelope, paginate) = match resource_for(path) {
        Some(r) => (r.envelope.as_deref(), r.paginate),
        None => (None, false),
    };
    let check = Check::new("Permissions", name, Status::Ok);
    // One row is enough to prove the read; a list Halo does not page is read as it comes (no
    // `count`, so the probe is the plain GET an agent's first list would be).
    let read = if paginate {
        halo.list_page(path, envelope, &[], PageRequest::first(1), Caching::Live)
            .await
    } else {
        halo.list(path, envelope, &[], Caching::Live).await
    };
    match read {
        Ok(page) => {
            let count = match page.record_count {
                Some(n) => format!("{n} records"),
                None if paginate => format!("{}+ records", page.records.len()),
                None => format!("{} records", page.records.len()),
            };
            check.detail(format!("{count} readable ({covers}; GET {path})"))
        }
        Err(HaloError::Forbidden { .. }) | Err(HaloError::Unauthorized { .. }) => {
            let area_opt = (*area != "admin").then_some(*area);
            let scope_ok = granted.map(|g| error::scopes_allow(g, "GET", area_opt));
            let agent = agent.unwrap_or("the login-as agent");
            let fix = match scope_ok {
                Some(true) => format!(
                    "the token's scopes allow it, so {agent} lacks access: give the agent (or \
                     its role) access to {covers} in Halo"
                ),
                Some(false) => format!(
                    "the API application lacks `read:{area}`: tick it (or `all`) under \
                     Configuration > Integrations > Halo API > your application > Permissions"
                ),
                None => format!(
                    "the API application needs `read:{area}` (or `all`) and {agent} needs \
                     access to {covers}"
                ),
            };
            check
                .status_to(Status::Fail)
                .detail(format!(
                    "GET {path} refused (403): {covers} are out of reach"
                ))
                .fix(fix)
        }
        Err(HaloError::NotFound { .. }) => check.status_to(Status::Warn).detail(format!(
            "GET {path} does not exist on this Halo (a module not enabled, or an older version)"
        )),
        Err(e) => check.status_to(Status::Fail).detail(e.to_string()),
    }
}
