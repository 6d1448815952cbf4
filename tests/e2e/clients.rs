//! Each client as its users run it: a scripted rmcp client introduces itself by that client's
//! name, and the session must feel native there — a small start-up list whose every tool says
//! what it is and whether it writes, instructions a tool-search client can act on, any tool
//! reachable in one turn, reads through a runner that never needs approval and writes through
//! one that always does, and resources and prompts that always answer.

use halo_mcp::{
    halo::HaloClient,
    local,
    server::{Mode, Options},
};
use rmcp::model::{Implementation, Tool};
use serde_json::json;

use crate::{
    common::{Harness, halo_config},
    modes::{call, session},
};

const START_BUDGET: usize = 2048;
/// Claude Code cuts `instructions` and each tool description at 2 KB.
const TEXT_BUDGET: usize = 2048;

/// A title and all four hints, stated rather than left to a client's defaults.
fn assert_labelled(t: &Tool, context: &str) {
    let name = &t.name;
    assert!(
        t.title.as_deref().is_some_and(|s| !s.is_empty()),
        "{context}: {name} has no title"
    );
    let d = t.description.as_deref().unwrap_or("");
    assert!(
        !d.is_empty() && d.len() <= TEXT_BUDGET,
        "{context}: {name} description is {} bytes",
        d.len()
    );
    let a = t
        .annotations
        .as_ref()
        .unwrap_or_else(|| panic!("{context}: {name} has no annotations"));
    for (hint, value) in [
        ("readOnlyHint", a.read_only_hint),
        ("destructiveHint", a.destructive_hint),
        ("idempotentHint", a.idempotent_hint),
        ("openWorldHint", a.open_world_hint),
    ] {
        assert!(value.is_some(), "{context}: {name} leaves {hint} unset");
    }
    if a.read_only_hint == Some(true) {
        assert_eq!(a.destructive_hint, Some(false), "{context}: {name}");
    }
}

/// The clients users name, as they introduce themselves, and the mode `auto` gives each.
const CLIENTS: &[(&str, &str, &str, &str)] = &[
    ("Claude Desktop", "claude-ai", "0.1.0", "dispatch"),
    ("claude.ai", "Anthropic/ClaudeAI", "1.0.0", "dispatch"),
    ("Claude Code", "claude-code", "2.1.280", "dispatch"),
    ("Cursor", "cursor-vscode", "1.0.0", "dispatch"),
    ("VS Code", "Visual Studio Code", "1.138.0", "tree"),
    ("Codex", "codex-mcp-client", "0.154.0", "dispatch"),
    ("Windsurf", "windsurf-client", "1.0.0", "dispatch"),
    ("Goose", "goose-cli", "1.9.0", "tree"),
    (
        "n8n",
        "@n8n/n8n-nodes-langchain.mcpClientTool",
        "1.2",
        "dispatch",
    ),
    ("MCP Inspector CLI", "inspector-cli", "0.17.0", "dispatch"),
    ("a client with no name", "", "", "dispatch"),
];

/// Every client: the start-up list is small and labelled, the instructions name every domain
/// and the way in, a ticket is found and read in one turn, resources and prompts answer.
#[tokio::test]
async fn every_client_gets_a_native_session() {
    let h = Harness::start().await;
    let domains: Vec<&str> = halo_mcp::catalog::catalog().names().collect();
    for &(label, name, version, mode) in CLIENTS {
        let c = session(&h.sim, Options::default(), name, version).await;
        let tools = c.list_all_tools().await.unwrap();
        let bytes = serde_json::to_string(&tools).unwrap().len();
        eprintln!("DEBUG {}", serde_json::to_string(&tools).unwrap());
        assert!(
            tools.len() <= 5 && bytes <= START_BUDGET,
            "{label}: {} tools, {bytes} bytes",
            tools.len()
        );
        for t in &tools {
            assert_labelled(t, label);
        }
        let info = c.peer_info().unwrap();
        let instructions = info.instructions.clone().unwrap_or_default();
        assert!(
            instructions.len() <= TEXT_BUDGET,
            "{label}: instructions are {} bytes",
            instructions.len()
        );
        for d in &domains {
            assert!(instructions.contains(d), "{label}: {d} not named");
        }
        let status = call(&c, "halo_status", json!({})).await.unwrap();
        assert_eq!(status["mode"]["mode"], mode, "{label}");

        // One turn: open the domain, then run the list tool the answer named.
        let nav = call(&c, "halo_navigate", json!({"domain": "tickets"}))
            .await
            .unwrap();
        let rows = nav["tools"].as_array().unwrap();
        let list = json!({"page_size": 2});
        let out = if mode == "tree" {
            assert!(instructions.contains("adds that domain's tools"), "{label}");
            assert!(rows.iter().any(|r| r["name"] == "halo_tickets_list"));
            // The tree marks writes too; their annotations say the same.
            assert!(
                rows.iter()
                    .any(|r| r["name"] == "halo_tickets_create" && r["writes"] == true)
            );
            let now = c.list_all_tools().await.unwrap();
            for t in &now {
                assert_labelled(t, label);
            }
            call(&c, "halo_tickets_list", list).await
        } else {
            assert!(
                instructions.contains("halo_read(tool, arguments)"),
                "{label}"
            );
            assert!(rows.iter().any(|r| {
                r["call"]
                    .as_str()
                    .unwrap()
                    .starts_with("halo_tickets_list(")
            }));
            call(
                &c,
                "halo_read",
                json!({"tool": "halo_tickets_list", "arguments": list}),
            )
            .await
        };
        assert_eq!(
            out.unwrap()["records"].as_array().map(Vec::len),
            Some(2),
            "{label}"
        );
        // Windsurf drops every tool if either of these errors.
        c.list_all_resources().await.unwrap();
        c.list_all_prompts().await.unwrap();
    }
}

/// Reads and writes apart: halo_read is read-only and runs only reads, halo_write is destructive
/// and runs only writes, each points to the other for the other kind, and navigate marks writes.
#[tokio::test]
async fn reads_and_writes_run_through_their_own_tools() {
    let h = Harness::start().await;
    let c = session(&h.sim, Options::default(), "claude-ai", "0.1.0").await;
    let tools = c.list_all_tools().await.unwrap();
    let hints = |name: &str| {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        let a = t.annotations.clone().unwrap();
        (
            a.read_only_hint,
            a.destructive_hint,
            a.idempotent_hint,
            a.open_world_hint,
        )
    };
    assert_eq!(
        hints("halo_read"),
        (Some(true), Some(false), Some(true), Some(true))
    );
    assert_eq!(
        hints("halo_write"),
        (Some(false), Some(true), Some(false), Some(true))
    );
    let write = tools.iter().find(|t| t.name == "halo_write").unwrap();
    let said = write.description.as_deref().unwrap();
    assert!(
        said.contains("creates, updates and deletes records"),
        "{said}"
    );

    let nav = call(&c, "halo_navigate", json!({"domain": "tags"}))
        .await
        .unwrap();
    let marked = |prefix: &str| {
        nav["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["call"].as_str().unwrap().starts_with(prefix))
            .map(|r| r["writes"] == true)
            .unwrap()
    };
    assert!(marked("halo_tags_create("));
    assert!(marked("halo_tags_delete("));
    assert!(!marked("halo_tags_list("));
    assert!(!marked("halo_tags_get("));

    // Each refuses the other kind before anything reaches Halo, in one line.
    let before = h.api_requests();
    let e = call(
        &c,
        "halo_read",
        json!({"tool": "halo_tags_create", "arguments": {"text": "urgent"}}),
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("run it with halo_write") && !e.contains('\n'),
        "{e}"
    );
    let e = call(&c, "halo_write", json!({"tool": "halo_tags_list"}))
        .await
        .unwrap_err();
    assert!(
        e.contains("run it with halo_read") && !e.contains('\n'),
        "{e}"
    );
    assert_eq!(h.api_requests(), before, "a refused call reached Halo");

    // And each runs its own kind.
    let made = call(
        &c,
        "halo_write",
        json!({"tool": "halo_tags_create", "arguments": {"text": "split-test"}}),
    )
    .await
    .unwrap();
    let id = made["created"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{made}"));
    let got = call(
        &c,
        "halo_read",
        json!({"tool": "halo_tags_get", "arguments": {"id": id}}),
    )
    .await
    .unwrap();
    assert_eq!(got["text"], "split-test", "{got}");
    call(
        &c,
        "halo_write",
        json!({"tool": "halo_tags_delete", "arguments": {"id": id, "confirm": true}}),
    )
    .await
    .unwrap();

    // Read-only: halo_write is not listed, and calling it anyway runs nothing.
    let ro = Options {
        read_only: true,
        ..Options::default()
    };
    let c = session(&h.sim, ro, "claude-ai", "0.1.0").await;
    let names: Vec<String> = c
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["halo_navigate", "halo_status", "halo_back", "halo_read"]
    );
    let before = h.api_requests();
    let e = call(
        &c,
        "halo_write",
        json!({"tool": "halo_tags_create", "arguments": {"text": "x"}}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("read-only"), "{e}");
    let e = call(
        &c,
        "halo_read",
        json!({"tool": "halo_tags_create", "arguments": {"text": "x"}}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("read-only"), "{e}");
    assert_eq!(h.api_requests(), before);
}

/// `resources/list`, `resources/templates/list` and `prompts/list` answer whatever the domains
/// and whether or not Halo can be reached: they read nothing from Halo.
#[tokio::test]
async fn resources_and_prompts_always_answer() {
    let h = Harness::start().await;
    let unreachable = || {
        let mut cfg = halo_config(&h.sim);
        // Port 9 (discard) on loopback: refused at once, nothing to wait for.
        cfg.base_url = "http://127.0.0.1:9".into();
        cfg.auth_url = format!("{}/auth", cfg.base_url);
        HaloClient::new(cfg).unwrap()
    };
    for (domains, mode) in [
        (None, Mode::Auto),
        (Some(vec!["tags".to_owned()]), Mode::Dispatch),
        (Some(vec!["releases".to_owned()]), Mode::Tree),
        (Some(vec!["audit".to_owned()]), Mode::Flat),
    ] {
        let options = Options {
            mode,
            domains: domains.clone(),
            ..Options::default()
        };
        let (c, _) =
            local::connect_with(unreachable(), options, Implementation::new("Windsurf", "1"))
                .await
                .unwrap();
        let resources = c.list_all_resources().await.unwrap();
        assert!(
            resources.iter().any(|r| r.uri == "halo://domains"),
            "{domains:?}"
        );
        c.list_all_resource_templates().await.unwrap();
        let prompts = c.list_all_prompts().await.unwrap();
        if domains.is_some() {
            // None of the prompts' domains is offered: an empty list, not an error.
            assert!(prompts.is_empty(), "{domains:?}: {prompts:?}");
        }
        assert!(!c.list_all_tools().await.unwrap().is_empty());
    }
}

/// A token request that failed is reported as failed, never as "not requested yet" beside its
/// own error.
#[tokio::test]
async fn status_never_calls_a_failed_token_request_not_requested() {
    let h = Harness::start().await;
    let mut cfg = halo_config(&h.sim);
    cfg.base_url = "http://127.0.0.1:9".into();
    cfg.auth_url = format!("{}/auth", cfg.base_url);
    let options = Options {
        mode: Mode::Dispatch,
        ..Options::default()
    };
    let (c, _) = local::connect_with(
        HaloClient::new(cfg).unwrap(),
        options,
        Implementation::new("claude-ai", "0.1.0"),
    )
    .await
    .unwrap();
    let before = call(&c, "halo_status", json!({})).await.unwrap();
    assert_eq!(before["halo"]["token"]["state"], "not requested yet");
    assert!(before["halo"]["token"].get("last_error").is_none());
    let e = call(&c, "halo_read", json!({"tool": "halo_tags_list"}))
        .await
        .unwrap_err();
    assert!(!e.is_empty());
    let after = call(&c, "halo_status", json!({})).await.unwrap();
    let token = &after["halo"]["token"];
    assert!(token["last_error"].is_string(), "{token}");
    assert_eq!(token["state"], "request failed", "{token}");
}
