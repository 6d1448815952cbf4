//! `halo-mcp doctor`, the real binary, against the simulator: a healthy set-up, an application
//! and agent with missing permissions, a refused scope, wrong credentials, a missing tenant, an
//! unreachable address and a broken configuration. Exit code, report and JSON are checked, and
//! that no secret is printed.

use halo_mcp::sim::{Permissions, SimConfig, Simulator};
use serde_json::Value;

const SECRET: &str = "doctor-secret-value-42";

async fn sim(config: SimConfig) -> Simulator {
    halo_mcp::local::simulator(SimConfig {
        client_secret: SECRET.into(),
        ..config
    })
    .await
    .unwrap()
}

/// Runs `halo-mcp doctor [args]` with only these variables; returns (exit code, stdout).
async fn doctor(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_halo-mcp"));
    cmd.env_clear().arg("doctor").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret was printed:\n{stdout}\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout)
}

async fn doctor_json(env: &[(&str, &str)]) -> (i32, Value) {
    let (code, out) = doctor(env, &["--json"]).await;
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    // Wherever a check is skipped, the report says why.
    for c in report["checks"].as_array().unwrap() {
        if c["status"] == "skip" {
            let why = c["detail"].as_str().unwrap_or("");
            assert!(
                why.starts_with("skipped: ") && why.len() > "skipped: ".len() + 8,
                "{c}"
            );
        }
    }
    (code, report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn creds(sim: &Simulator) -> Vec<(&'static str, String)> {
    vec![
        ("HALO_BASE_URL", sim.base_url()),
        ("HALO_CLIENT_ID", "demo-client".into()),
        ("HALO_CLIENT_SECRET", SECRET.into()),
    ]
}

fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_healthy_set_up_passes_every_check() {
    let sim = sim(SimConfig::default()).await;
    let env = creds(&sim);
    let (code, text) = doctor(&refs(&env), &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Everything checked out."), "{text}");
    assert!(!text.contains('✗'), "{text}");

    let (code, report) = doctor_json(&refs(&env)).await;
    assert_eq!(code, 0);
    assert_eq!(report["ok"], true);
    assert_eq!(report["failures"], 0);
    // The agent the application logs in as, named from the simulator's own data.
    let agent = check(&report, "login-as agent")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    let named = sim
        .records("Agent")
        .iter()
        .filter(|a| {
            agent.contains(&format!(
                "agent {} (id {}",
                a["name"].as_str().unwrap(),
                a["id"]
            ))
        })
        .count();
    assert_eq!(named, 1, "{agent}");
    // Every area the catalogue reaches was probed.
    for (area, _, path) in halo_mcp::doctor::AREA_PROBES {
        let c = check(&report, area);
        assert_eq!(c["status"], "ok", "{area}");
        let detail = c["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("GET {path}")), "{detail}");
        assert!(
            detail
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('+')
                .parse::<u64>()
                .is_ok(),
            "{detail}"
        );
        assert!(
            sim.requests()
                .iter()
                .any(|r| r.path.eq_ignore_ascii_case(&format!("/api{path}"))),
            "{path} was not requested"
        );
    }
    assert!(
        check(&report, "token")["detail"]
            .as_str()
            .unwrap()
            .contains("scopes: all")
    );
    assert_eq!(check(&report, "budget")["status"], "ok");
    // Nothing was written.
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.method == "GET" || r.path.ends_with("/token"))
    );
}

#[tokio::test]
async fn missing_permissions_are_named_with_their_fix() {
    let scopes = "read:tickets edit:tickets read:customers read:invoices";
    let sim = sim(SimConfig {
        permissions: Permissions {
            app_scopes: scopes.split(' ').map(str::to_owned).collect(),
            agent_denied: vec!["invoices".into()],
        },
        ..SimConfig::default()
    })
    .await;
    let mut env = creds(&sim);

    // The application cannot be granted `all`: the token step says so and how to fix it.
    let (code, report) = doctor_json(&refs(&env)).await;
    assert_eq!(code, 1);
    let token = check(&report, "token");
    assert_eq!(token["status"], "fail");
    assert!(
        token["detail"]
            .as_str()
            .unwrap()
            .contains("refused the scope `all`"),
        "{token}"
    );
    assert!(
        token["fix"].as_str().unwrap().contains("HALO_SCOPE"),
        "{token}"
    );
    assert_eq!(check(&report, "areas")["status"], "skip");

    // With the scopes it has: reads per area, and which side lacks what.
    env.push(("HALO_SCOPE", scopes.into()));
    let (code, report) = doctor_json(&refs(&env)).await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(check(&report, "tickets")["status"], "ok");
    assert_eq!(check(&report, "customers")["status"], "ok");
    // In scope, but the agent cannot see invoices.
    let invoices = check(&report, "invoices");
    assert_eq!(invoices["status"], "fail");
    let fix = invoices["fix"].as_str().unwrap();
    assert!(
        fix.contains("lacks access") && fix.contains("agent"),
        "{fix}"
    );
    // Not in scope: the application's permission is named.
    let assets = check(&report, "assets");
    assert_eq!(assets["status"], "fail");
    assert!(
        assets["fix"].as_str().unwrap().contains("`read:assets`"),
        "{assets}"
    );
    // Writes the token cannot make are flagged: customers are read-only; tickets are editable
    // and invoices not readable at all.
    let writes = check(&report, "writes")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(writes.ends_with("change: customers"), "{writes}");
    // The fix for "that is intended": the domains that work, as a line to paste.
    let intended = check(&report, "if intended");
    let fix = intended["fix"].as_str().unwrap();
    let domains = fix
        .split("HALO_MCP_DOMAINS=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let list: Vec<&str> = domains.split(',').collect();
    assert!(
        list.contains(&"tickets") && list.contains(&"clients"),
        "{domains}"
    );
    assert!(
        !list.contains(&"invoices") && !list.contains(&"assets"),
        "{domains}"
    );
    assert!(
        !list.contains(&"duplicates"),
        "dedup reads assets: {domains}"
    );

    // Taking that advice, with reads only, passes.
    env.push(("HALO_MCP_DOMAINS", domains.clone()));
    env.push(("HALO_MCP_READ_ONLY", "true".into()));
    let (code, report) = doctor_json(&refs(&env)).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["warnings"], 0, "{report:#}");
    let probed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["section"] == "Permissions")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        probed.contains(&"tickets") && probed.contains(&"customers"),
        "{probed:?}"
    );
    // What was not checked is named, with why.
    let other = check(&report, "other areas");
    assert_eq!(other["status"], "skip");
    let why = other["detail"].as_str().unwrap();
    assert!(
        why.contains("invoices") && why.contains("--domains"),
        "{why}"
    );
    let writes = check(&report, "writes");
    assert_eq!(writes["status"], "skip");
    assert!(
        writes["detail"].as_str().unwrap().contains("read-only"),
        "{writes}"
    );
    assert!(
        !probed.contains(&"invoices") && !probed.contains(&"assets"),
        "{probed:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_missing_tenant_and_no_halo() {
    // Wrong secret: the fix says where the credentials come from; the wrong one is not shown.
    let sim = sim(SimConfig::default()).await;
    let env = vec![
        ("HALO_BASE_URL", sim.base_url()),
        ("HALO_CLIENT_ID", "demo-client".into()),
        ("HALO_CLIENT_SECRET", format!("{SECRET}-but-wrong")),
    ];
    let (code, text) = doctor(&refs(&env), &[]).await;
    assert_eq!(code, 1);
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        text.contains("copy the Client ID and Secret again"),
        "{text}"
    );
    assert!(text.contains("skipped: Halo gave no token"), "{text}");

    // A hosted tenant that needs ?tenant=: Halo's authinfo names it, and the fix quotes it.
    let hosted = sim_with_tenant("acme-msp").await;
    let (code, report) = doctor_json(&refs(&creds(&hosted))).await;
    assert_eq!(code, 1);
    let token = check(&report, "token");
    assert!(
        token["fix"]
            .as_str()
            .unwrap()
            .contains("HALO_TENANT=acme-msp"),
        "{token}"
    );
    let mut env = creds(&hosted);
    env.push(("HALO_TENANT", "acme-msp".into()));
    let (code, report) = doctor_json(&refs(&env)).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(
        check(&report, "token")["detail"]
            .as_str()
            .unwrap()
            .contains("tenant acme-msp")
    );

    // Nothing listening: reachability fails, the rest is skipped.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let env = [
        ("HALO_BASE_URL", url.as_str()),
        ("HALO_CLIENT_ID", "x"),
        ("HALO_CLIENT_SECRET", SECRET),
    ];
    let (code, report) = doctor_json(&env).await;
    assert_eq!(code, 1);
    let reach = check(&report, "reachable");
    assert_eq!(reach["status"], "fail");
    assert!(
        reach["fix"].as_str().unwrap().contains("HALO_BASE_URL"),
        "{reach}"
    );
    assert_eq!(check(&report, "token")["status"], "skip");

    // No address at all: the configuration check fails with the fix, and exit code 1.
    let (code, text) = doctor(&[("HALO_CLIENT_ID", "x")], &[]).await;
    assert_eq!(code, 1);
    assert!(text.contains("HALO_BASE_URL is not set"), "{text}");
    assert!(text.contains("--demo"), "{text}");
}

async fn sim_with_tenant(tenant: &str) -> Simulator {
    sim(SimConfig {
        tenant: Some(tenant.into()),
        ..SimConfig::default()
    })
    .await
}

#[tokio::test]
async fn the_demo_passes() {
    let (code, text) = doctor(&[], &["--demo"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("built-in simulated Halo"), "{text}");
    assert!(text.contains("Everything checked out."), "{text}");
}

/// A tenant that allows fewer requests than configured and answers 429 without Retry-After:
/// the doctor's own checks make the budget learn that, and the report shows the learned
/// figure beside the configured one.
#[tokio::test]
async fn a_lower_limit_learned_from_429s_is_reported() {
    let sim = sim(SimConfig {
        faults: halo_mcp::sim::Faults {
            rate_limit: Some((6, std::time::Duration::from_secs(1))),
            ..halo_mcp::sim::Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let mut env = creds(&sim);
    env.push(("HALO_RATE_LIMIT", "100/10s".into()));
    let (code, report) = doctor_json(&refs(&env)).await;
    let budget = check(&report, "budget");
    assert_eq!(budget["status"], "warn", "{budget}");
    let detail = budget["detail"].as_str().unwrap();
    assert!(
        detail.contains("learned a limit of") && detail.contains("(configured 100 per 10 s)"),
        "{detail}"
    );
    assert!(
        budget["fix"].as_str().unwrap().contains("HALO_RATE_LIMIT"),
        "{budget}"
    );
    // Every other check passed: the 429s cost time, not results.
    assert_eq!(report["failures"], 0, "{report:#}");
    assert_eq!(code, 0);
    assert!(sim.stats().rate_limited > 0);
}
