//! Every client can climb the tree: auto picks tree or dispatch from clientInfo, dispatch works
//! without ever re-reading the tool list (and under 2026-07-28), flat exposes chosen domains,
//! read-only hides every write in every mode, and resources, prompts and completions answer.

use halo_mcp::{
    halo::HaloClient,
    local::{self, Client},
    server::{Mode, Options},
    sim::Simulator,
};
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, Implementation,
    ReadResourceRequestParams, Reference,
};
use serde_json::{Value, json};

use crate::common::{Harness, RawSession, halo_config, text};

/// A session of a client that introduces itself as `name` `version`.
pub(crate) async fn session(
    sim: &Simulator,
    options: Options,
    name: &str,
    version: &str,
) -> Client {
    let halo = HaloClient::new(halo_config(sim)).unwrap();
    local::connect_with(halo, options, Implementation::new(name, version))
        .await
        .unwrap()
        .0
}

async fn names(c: &Client) -> Vec<String> {
    c.list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// A tool call's structured result, or its error text.
pub(crate) async fn call(c: &Client, tool: &str, args: Value) -> Result<Value, String> {
    let r = local::call(c, tool, args).await.unwrap();
    if r.is_error == Some(true) {
        Err(text(&r))
    } else {
        Ok(r.structured_content.unwrap_or(Value::Null))
    }
}

fn list_changed_advertised(c: &Client) -> bool {
    c.peer_info()
        .and_then(|i| i.capabilities.tools.as_ref().and_then(|t| t.list_changed))
        == Some(true)
}

#[tokio::test]
async fn auto_picks_the_mode_from_client_info() {
    let h = Harness::start().await;
    for (client, version, tree) in [
        ("Visual Studio Code", "1.138.0", true),
        ("Zed", "0.1.0", true),
        ("Cline", "4.1.4", true),
        ("Cline", "4.0.0", false),
        ("claude-ai", "0.1.0", false),
        ("claude-ai (via mcp-remote 0.1.38)", "0.1.0", false),
        ("Anthropic/ClaudeAI", "1.0.0", false),
        ("claude-code", "2.1.258", false),
        ("@n8n/n8n-nodes-langchain.mcpClientTool", "1.2", false),
        ("codex-mcp-client", "0.154.0", false),
        ("someone-new", "0.0.1", false),
    ] {
        let c = session(&h.sim, Options::default(), client, version).await;
        let tools = names(&c).await;
        let status = call(&c, "halo_status", json!({})).await.unwrap();
        if tree {
            assert_eq!(
                tools,
                ["halo_navigate", "halo_status", "halo_back"],
                "{client}"
            );
            assert!(list_changed_advertised(&c), "{client}");
            assert_eq!(status["mode"]["mode"], "tree");
        } else {
            assert_eq!(
                tools,
                [
                    "halo_navigate",
                    "halo_status",
                    "halo_back",
                    "halo_read",
                    "halo_write"
                ],
                "{client}"
            );
            assert!(
                !list_changed_advertised(&c),
                "{client}: no listChanged in dispatch"
            );
            let bytes = serde_json::to_string(&c.list_all_tools().await.unwrap())
                .unwrap()
                .len();
            assert!(bytes <= 2048, "dispatch start-up list is {bytes} bytes");
            assert_eq!(status["mode"]["mode"], "dispatch");
        }
        assert_eq!(status["mode"]["chosen_by"], "auto");
        assert!(
            status["mode"]["why"].as_str().unwrap().len() > 10,
            "{status}"
        );
        // The client table is a resource, not part of every status answer.
        assert!(status["mode"].get("known_clients").is_none());
        assert!(status.to_string().len() < 5_000, "{status}");
    }
    // An explicit mode wins over the client table.
    let forced = Options {
        mode: Mode::Dispatch,
        ..Options::default()
    };
    let c = session(&h.sim, forced, "Visual Studio Code", "1.138.0").await;
    assert!(names(&c).await.contains(&"halo_read".to_owned()));
    let status = call(&c, "halo_status", json!({})).await.unwrap();
    assert_eq!(status["mode"]["chosen_by"], "--mode");
}

/// Claude Desktop never re-reads its tool list; under auto it gets dispatch and still finishes a
/// drill-down with the four tools it saw first.
#[tokio::test]
async fn a_client_that_never_relists_finishes_a_drill_down() {
    let h = Harness::start().await;
    let c = session(&h.sim, Options::default(), "claude-ai", "0.1.0").await;
    let first = c.list_all_tools().await.unwrap();
    let first_names: Vec<String> = first.iter().map(|t| t.name.to_string()).collect();

    let nav = call(&c, "halo_navigate", json!({"domain": "tickets"}))
        .await
        .unwrap();
    let sigs: Vec<&str> = nav["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["call"].as_str().unwrap())
        .collect();
    assert!(
        sigs.iter()
            .any(|s| s.starts_with("halo_tickets_list(") && s.contains("open_only?: bool")),
        "{sigs:?}"
    );
    assert!(
        sigs.iter()
            .any(|s| s.starts_with("halo_tickets_overview(id: int")),
        "{sigs:?}"
    );
    let open = call(
        &c,
        "halo_read",
        json!({"tool": "halo_tickets_list", "arguments": {"open_only": true, "page_size": 3}}),
    )
    .await
    .unwrap();
    let id = open["records"][0]["id"].as_i64().unwrap();
    let overview = call(
        &c,
        "halo_read",
        json!({"tool": "halo_tickets_overview", "arguments": {"id": id}}),
    )
    .await
    .unwrap();
    assert_eq!(overview["ticket"]["id"], id);
    // Other domains need no navigation either: the call names the tool.
    let client = call(
        &c,
        "halo_read",
        json!({"tool": "halo_clients_overview", "arguments": {"id": open["records"][0]["client_id"]}}),
    )
    .await
    .unwrap();
    assert!(client["sites"].is_array());
    // Argument checking is the same as for direct calls.
    let e = call(
        &c,
        "halo_read",
        json!({"tool": "halo_tickets_list", "arguments": {"page_size": "lots"}}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("`page_size` must be an integer"), "{e}");
    let e = call(&c, "halo_read", json!({"tool": "halo_tickets_lst"}))
        .await
        .unwrap_err();
    assert!(e.contains("Did you mean `halo_tickets_list`"), "{e}");
    // A model that calls a shown tool by name, where the client lets it through, is served.
    let direct = call(&c, "halo_tickets_overview", json!({"id": id}))
        .await
        .unwrap();
    assert_eq!(direct["ticket"]["id"], id);
    // The list never changed and no notification was needed.
    assert_eq!(names(&c).await, first_names);
}

/// A 2026-07-28 client: no initialize, per-request metadata, and dispatch serves it.
#[tokio::test]
async fn a_2026_07_28_client_is_served_in_dispatch() {
    let h = Harness::start().await;
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-client", "version": "1.0.0"}
    });
    let mut raw = RawSession::connect(&h.sim, Options::default()).await;
    raw.send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}}),
    )
    .await;
    let (discover, _) = raw.until_response(1).await;
    let versions = discover["result"]["supportedVersions"]
        .as_array()
        .or_else(|| discover["result"]["protocolVersions"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(versions.contains(&json!("2026-07-28")), "{discover}");
    raw.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}))
        .await;
    let (list, _) = raw.until_response(2).await;
    let tools: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "halo_navigate",
            "halo_status",
            "halo_back",
            "halo_read",
            "halo_write"
        ]
    );
    raw.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"_meta": meta,
        "name": "halo_read", "arguments": {"tool": "halo_clients_find", "arguments": {"name": "Harbourline Logistics Ltd"}}}}))
        .await;
    let (answer, before) = raw.until_response(3).await;
    assert_eq!(
        answer["result"]["structuredContent"]["match"], "exact",
        "{answer}"
    );
    assert!(
        before
            .iter()
            .all(|m| m["method"] != "notifications/tools/list_changed")
    );

    // Tree mode refuses 2026-07-28: it needs sessions.
    let tree = Options {
        mode: Mode::Tree,
        ..Options::default()
    };
    let mut raw = RawSession::connect(&h.sim, tree).await;
    raw.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}))
        .await;
    let (refused, _) = raw.until_response(2).await;
    assert!(refused["error"].is_object(), "{refused}");
}

#[tokio::test]
async fn flat_mode_exposes_chosen_domains_within_the_ceiling() {
    let h = Harness::start().await;
    let flat = |domains: &[&str]| Options {
        mode: Mode::Flat,
        domains: Some(domains.iter().map(|d| (*d).to_owned()).collect()),
        ..Options::default()
    };
    let c = session(
        &h.sim,
        flat(&["tickets", "actions"]),
        "Visual Studio Code",
        "1.138.0",
    )
    .await;
    let tools = names(&c).await;
    assert_eq!(tools[0], "halo_status");
    assert_eq!(tools.len(), 1 + 6 + 5);
    assert!(tools.contains(&"halo_actions_create".to_owned()));
    assert!(!tools.contains(&"halo_navigate".to_owned()));
    let out = call(&c, "halo_tickets_list", json!({"page_size": 2}))
        .await
        .unwrap();
    assert_eq!(out["records"].as_array().unwrap().len(), 2);
    let e = call(&c, "halo_clients_list", json!({})).await.unwrap_err();
    assert!(e.contains("does not offer"), "{e}");

    // Over the ceiling, or unknown domains: refused at start with the reason.
    let halo = HaloClient::new(halo_config(&h.sim)).unwrap();
    let all: Vec<&str> = halo_mcp::catalog::catalog().names().collect();
    let e = halo_mcp::server::Shared::with_options(Some(halo.clone()), flat(&all))
        .err()
        .unwrap();
    assert!(
        e.contains("over --max-tools 128") && e.contains("tickets 6"),
        "{e}"
    );
    let e = halo_mcp::server::Shared::with_options(Some(halo.clone()), flat(&["tickts"]))
        .err()
        .unwrap();
    assert!(
        e.contains("unknown domain \"tickts\"") && e.contains("did you mean `tickets`"),
        "{e}"
    );
    let no_domains = Options {
        mode: Mode::Flat,
        ..Options::default()
    };
    let e = halo_mcp::server::Shared::with_options(Some(halo), no_domains)
        .err()
        .unwrap();
    assert!(e.contains("--mode flat needs --domains"), "{e}");
}

#[tokio::test]
async fn read_only_hides_every_write_in_every_mode() {
    let h = Harness::start().await;
    for mode in [Mode::Tree, Mode::Dispatch, Mode::Flat, Mode::Auto] {
        let options = Options {
            mode,
            read_only: true,
            domains: (mode == Mode::Flat)
                .then(|| vec!["tickets".into(), "assets".into(), "users".into()]),
            ..Options::default()
        };
        let c = session(&h.sim, options, "Visual Studio Code", "1.138.0").await;
        let mut seen = Vec::new();
        match mode {
            Mode::Flat => seen.extend(c.list_all_tools().await.unwrap()),
            _ => {
                for d in ["tickets", "assets", "users"] {
                    let nav = call(&c, "halo_navigate", json!({"domain": d}))
                        .await
                        .unwrap();
                    let listed: Vec<String> = nav["tools"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| {
                            t["name"]
                                .as_str()
                                .or_else(|| t["call"].as_str().and_then(|s| s.split('(').next()))
                                .unwrap()
                                .to_owned()
                        })
                        .collect();
                    assert!(
                        listed.iter().all(|n| !n.ends_with("_create")
                            && !n.ends_with("_update")
                            && !n.ends_with("_delete")),
                        "{mode:?} {d}: {listed:?}"
                    );
                    assert!(listed.iter().any(|n| n.ends_with("_list")));
                    seen.extend(c.list_all_tools().await.unwrap());
                }
            }
        }
        for t in &seen {
            // halo_read included: it runs only read-only tools, and halo_write is not listed.
            let a = t.annotations.as_ref().unwrap();
            assert_eq!(
                a.read_only_hint,
                Some(true),
                "{mode:?}: {} is listed",
                t.name
            );
        }
        // Calling a write anyway is refused, however it is reached.
        let before = h.api_requests();
        let e = match mode {
            Mode::Dispatch | Mode::Auto if !seen.iter().any(|t| t.name == "halo_tickets_list") => {
                call(
                    &c,
                    "halo_read",
                    json!({"tool": "halo_tickets_create", "arguments": {"summary": "x"}}),
                )
                .await
                .unwrap_err()
            }
            _ => call(&c, "halo_tickets_create", json!({"summary": "x"}))
                .await
                .unwrap_err(),
        };
        assert!(
            e.contains("read-only") || e.contains("Unknown tool") || e.contains("belongs to"),
            "{mode:?}: {e}"
        );
        assert_eq!(h.api_requests(), before, "{mode:?}: a write reached Halo");
        let status = call(&c, "halo_status", json!({})).await.unwrap();
        assert_eq!(status["mode"]["read_only"], true);
    }
}

#[tokio::test]
async fn domain_allow_list_limits_every_mode() {
    let h = Harness::start().await;
    let options = Options {
        mode: Mode::Dispatch,
        domains: Some(vec!["tickets".into(), "clients".into()]),
        ..Options::default()
    };
    let c = session(&h.sim, options, "claude-ai", "0.1.0").await;
    let tools = c.list_all_tools().await.unwrap();
    let nav = tools.iter().find(|t| t.name == "halo_navigate").unwrap();
    assert_eq!(
        nav.input_schema["properties"]["domain"]["enum"],
        json!(["clients", "tickets"])
    );
    let e = call(&c, "halo_navigate", json!({"domain": "assets"}))
        .await
        .unwrap_err();
    assert!(e.contains("Unknown domain `assets`"), "{e}");
    let e = call(&c, "halo_read", json!({"tool": "halo_assets_list"}))
        .await
        .unwrap_err();
    assert!(e.contains("does not offer"), "{e}");
    let status = call(&c, "halo_status", json!({})).await.unwrap();
    assert_eq!(
        status["mode"]["domains_allowed"],
        json!(["clients", "tickets"])
    );
    let listed: usize = status["domains"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_object().unwrap().len())
        .sum();
    assert_eq!(listed, 2);
}

#[tokio::test]
async fn resources_prompts_and_completions() {
    let h = Harness::start().await;
    let c = session(&h.sim, Options::default(), "claude-ai", "0.1.0").await;
    let resources = c.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    for want in [
        "halo://statuses",
        "halo://priorities",
        "halo://ticket-types",
        "halo://teams",
        "halo://agents",
        "halo://domains",
        "halo://rate-limit",
        "halo://mcp-clients",
    ] {
        assert!(uris.contains(&want), "{want} missing from {uris:?}");
    }
    let read = |uri: &str| {
        let c = &c;
        let uri = uri.to_owned();
        async move {
            let r = c
                .read_resource(ReadResourceRequestParams::new(uri.clone()))
                .await
                .unwrap();
            let text = match &r.contents[0] {
                rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
                other => panic!("{uri}: {other:?}"),
            };
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let statuses = read("halo://statuses").await;
    assert_eq!(statuses["record_count"], h.sim.records("Status").len());
    let before = h.api_requests();
    read("halo://statuses").await;
    assert_eq!(h.api_requests(), before, "served from the reference cache");
    let teams = read("halo://teams").await;
    assert_eq!(teams["record_count"], h.sim.records("Team").len());
    let domains = read("halo://domains").await;
    assert_eq!(
        domains["domains"].as_array().unwrap().len(),
        halo_mcp::catalog::catalog().entries().len()
    );
    let budget = read("halo://rate-limit").await;
    assert_eq!(budget["rate_budget"]["limit"], 300);
    let known = read("halo://mcp-clients").await;
    let rows = known["clients"].as_array().unwrap();
    assert_eq!(rows.len(), halo_mcp::clients::KNOWN.len());
    assert!(
        rows.iter()
            .any(|r| r["client"] == "Claude Desktop (chat, Cowork)" && r["auto_mode"] == "dispatch"),
        "{known}"
    );
    let tickets = read("halo://domains/tickets").await;
    assert!(
        tickets["tools"][0]["call"]
            .as_str()
            .unwrap()
            .starts_with("halo_tickets_list(")
    );
    let tool = read("halo://tools/halo_revenue_breakdown").await;
    assert_eq!(tool["name"], "halo_revenue_breakdown");
    let client = read("halo://clients/11 (Harbourline Logistics Ltd)").await;
    assert_eq!(client["client"]["id"], 11);
    let templates = c.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 3);

    // Prompts: listed, rendered with their arguments, in the words of the session's mode.
    let prompts = c.list_all_prompts().await.unwrap();
    let pnames: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        pnames,
        [
            "triage_client_tickets",
            "revenue_review",
            "billing_cleanup",
            "new_starter"
        ]
    );
    let mut get = GetPromptRequestParams::new("triage_client_tickets");
    get.arguments = Some(
        json!({"client": "Harbourline"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let p = c.get_prompt(get).await.unwrap();
    let body = serde_json::to_string(&p.messages).unwrap();
    assert!(
        body.contains("Harbourline")
            && body.contains("halo_tickets_list")
            && body.contains("halo_read"),
        "{body}"
    );
    let mut get = GetPromptRequestParams::new("new_starter");
    get.arguments = Some(
        json!({"client": "11", "name": "Ada Lee", "email": "ada@example.com", "device": "SN-1"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let body = serde_json::to_string(&c.get_prompt(get).await.unwrap().messages).unwrap();
    assert!(
        body.contains("Ada Lee") && body.contains("halo_assets_find_match"),
        "{body}"
    );
    assert!(
        c.get_prompt(GetPromptRequestParams::new("new_starter"))
            .await
            .is_err(),
        "required arguments"
    );

    // Completions: domain names, tool names, client names to ids, months.
    let complete = |r: Reference, arg: &str, value: &str| {
        let c = &c;
        let req = CompleteRequestParams::new(r, ArgumentInfo::new(arg, value));
        async move { c.complete(req).await.unwrap().completion.values }
    };
    let d = complete(
        Reference::for_resource("halo://domains/{domain}"),
        "domain",
        "ti",
    )
    .await;
    // Names starting with what was typed first, then names containing it.
    assert_eq!(
        d,
        [
            "ticket_setup",
            "tickets",
            "timesheets",
            "actions",
            "automation",
            "organisations"
        ]
    );
    let t = complete(
        Reference::for_resource("halo://tools/{tool}"),
        "tool",
        "halo_revenue",
    )
    .await;
    assert_eq!(t, ["halo_revenue_breakdown"]);
    let clients = complete(
        Reference::for_prompt("triage_client_tickets"),
        "client",
        "Harbour",
    )
    .await;
    assert_eq!(clients, ["11 (Harbourline Logistics Ltd)"]);
    let months = complete(Reference::for_prompt("revenue_review"), "month", "").await;
    assert_eq!(months.len(), 12);
}

/// `--domains` limits everything that reads a domain's records, not only tools: resources,
/// templates, prompts and completions of a domain left out are neither listed nor served.
#[tokio::test]
async fn domain_allow_list_limits_resources_prompts_and_completions() {
    let h = Harness::start().await;
    let options = Options {
        mode: Mode::Dispatch,
        domains: Some(vec!["sla".into(), "schedules".into()]),
        ..Options::default()
    };
    let c = session(&h.sim, options, "claude-ai", "0.1.0").await;
    let uris: Vec<String> = c
        .list_all_resources()
        .await
        .unwrap()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert!(uris.contains(&"halo://priorities".to_owned()), "{uris:?}");
    for hidden in [
        "halo://agents",
        "halo://teams",
        "halo://statuses",
        "halo://ticket-types",
    ] {
        assert!(
            !uris.contains(&hidden.to_owned()),
            "{hidden} listed: {uris:?}"
        );
    }
    let templates: Vec<String> = c
        .list_all_resource_templates()
        .await
        .unwrap()
        .iter()
        .map(|t| t.uri_template.clone())
        .collect();
    assert!(
        !templates.iter().any(|t| t.starts_with("halo://clients/")),
        "{templates:?}"
    );
    let before = h.api_requests();
    for uri in [
        "halo://agents",
        "halo://teams",
        "halo://statuses",
        "halo://clients/1",
    ] {
        let e = c
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("unknown resource"), "{uri}: {e}");
    }
    assert_eq!(
        h.api_requests(),
        before,
        "nothing reached Halo for a hidden resource"
    );
    let prompts = c.list_all_prompts().await.unwrap();
    assert!(prompts.is_empty(), "{prompts:?}");
    let e = c
        .get_prompt(GetPromptRequestParams::new("triage_client_tickets"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown prompt"), "{e}");
    let done = c
        .complete(CompleteRequestParams::new(
            Reference::for_resource("halo://clients/{client_id}"),
            ArgumentInfo::new("client_id", "a"),
        ))
        .await
        .unwrap();
    assert!(
        done.completion.values.is_empty(),
        "{:?}",
        done.completion.values
    );
    assert_eq!(h.api_requests(), before);
}
