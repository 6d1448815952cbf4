//! The audit log of writes (`HALO_MCP_AUDIT_LOG`), with the real binary: one JSON line per
//! create, update and delete, whatever the authentication, with the outcome Halo gave (done,
//! refused, uncertain), on disk before the answer, and never a secret or token.

use std::process::{Command, Stdio};

use halo_mcp::sim::Faults;
use serde_json::{Value, json};

use crate::remote::{Server, as_refs, call, env_for, mcp, sim_two_tenants};

const TOKEN: &str = "audit-test-bearer-token-0123456789";

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn every_write_is_on_the_record_with_its_outcome() {
    let sim = sim_two_tenants().await;
    let path = std::env::temp_dir().join(format!("halo-audit-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut env = env_for(&sim);
    env.extend([
        ("HALO_CLIENT_ID", "demo-client".to_owned()),
        ("HALO_CLIENT_SECRET", "demo-secret".to_owned()),
        ("MCP_AUTH", "env".to_owned()),
        ("MCP_AUTH_TOKEN", TOKEN.to_owned()),
        ("HALO_MCP_AUDIT_LOG", path.display().to_string()),
        ("HALO_MCP_AUDIT_VALUES", "true".to_owned()),
        ("HALO_RETRIES", "0".to_owned()),
    ]);
    let server = Server::start(&as_refs(&env), &["--mode", "flat", "--domains", "tickets"]);
    let c = mcp(&server.base, Some(TOKEN)).await.unwrap();

    // Done: the line is on disk by the time the answer is.
    let created = call(
        &c,
        "halo_tickets_create",
        json!({"summary": "Audit me", "details": "with values"}),
    )
    .await;
    let id = created["created"]["id"].as_i64().unwrap();
    let after_create = lines(&path);
    assert_eq!(after_create.len(), 1, "written before the answer returned");

    // Refused: Halo says the record does not exist.
    let mut p = rmcp::model::CallToolRequestParams::new("halo_tickets_delete");
    p.arguments = json!({"id": 99_999_999, "confirm": true})
        .as_object()
        .cloned();
    let r = c.call_tool(p).await.unwrap();
    assert_eq!(r.is_error, Some(true));

    // Uncertain: the create reached Halo and the answer was lost.
    sim.set_faults(Faults {
        error_rate: 1.0,
        error_after_apply: 1.0,
        error_status: Some(502),
        writes_only: true,
        ..Faults::default()
    });
    let mut p = rmcp::model::CallToolRequestParams::new("halo_tickets_create");
    p.arguments = json!({"summary": "Lost answer"}).as_object().cloned();
    let r = c.call_tool(p).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    sim.set_faults(Faults::default());

    let all = lines(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    eprintln!("audit lines:\n{text}");
    assert_eq!(all.len(), 3, "{all:?}");
    let outcomes: Vec<&str> = all.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["done", "refused", "uncertain"]);
    assert!(
        all.iter()
            .all(|l| l["principal"] == "application:demo-client")
    );
    assert_eq!(all[0]["id"], id.to_string());
    assert_eq!(all[0]["resource"], "tickets");
    assert_eq!(all[0]["tool"], "halo_tickets_create");
    assert_eq!(all[0]["values"]["details"], "with values");
    assert_eq!(all[1]["tool"], "halo_tickets_delete");
    assert_eq!(all[1]["id"], "99999999");
    assert_eq!(all[2]["id"], Value::Null, "an uncertain create has no id");
    for secret in ["demo-secret", TOKEN] {
        assert!(!text.contains(secret), "a secret reached the audit log");
    }
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn values_stay_out_unless_asked_and_stderr_works() {
    let sim = sim_two_tenants().await;
    let mut env = env_for(&sim);
    env.extend([
        ("HALO_CLIENT_ID", "demo-client".to_owned()),
        ("HALO_CLIENT_SECRET", "demo-secret".to_owned()),
        ("MCP_AUTH", "env".to_owned()),
        ("MCP_AUTH_TOKEN", TOKEN.to_owned()),
        ("HALO_MCP_AUDIT_LOG", "stderr".to_owned()),
    ]);
    let server = Server::start(&as_refs(&env), &["--mode", "flat", "--domains", "tickets"]);
    let c = mcp(&server.base, Some(TOKEN)).await.unwrap();
    call(
        &c,
        "halo_tickets_create",
        json!({"summary": "Private words"}),
    )
    .await;
    // The line is written before the answer; the test reads the server's stderr on its own
    // thread, so wait until that thread has it.
    let is_audit = |l: &str| l.starts_with('{') && l.contains("\"outcome\"");
    server.until_logs(|logs| logs.lines().any(is_audit)).await;
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| is_audit(l))
        .unwrap_or_else(|| panic!("no audit line in {logs}"));
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["fields"], json!(["summary"]));
    assert!(v.get("values").is_none());
    assert!(!line.contains("Private words"));
}

#[test]
fn audit_settings_are_checked_at_start() {
    let run = |env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
            .env_clear()
            .envs(env.iter().copied())
            .args(["--demo"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&[("HALO_MCP_AUDIT_LOG", "/nonexistent-dir/audit.log")]);
    assert!(!ok);
    assert!(err.contains("HALO_MCP_AUDIT_LOG"), "{err}");
    let (ok, err) = run(&[("HALO_MCP_AUDIT_VALUES", "true")]);
    assert!(!ok);
    assert!(
        err.contains("HALO_MCP_AUDIT_VALUES needs HALO_MCP_AUDIT_LOG"),
        "{err}"
    );
}
