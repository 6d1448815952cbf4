//! Invariants over every tool of the catalogue: names, annotations, descriptions, sizes, and the
//! README's domain table.

use std::collections::HashSet;

use halo_mcp::{
    catalog::{self, Verb},
    tools::{self, ToolKind},
};

use halo_mcp::{
    halo::HaloClient,
    local,
    server::{Mode, Options},
};
use rmcp::model::{Implementation, Tool};
use serde_json::json;

use crate::common::{Harness, halo_config};

/// Start-up `tools/list` budget.
const START_BUDGET: usize = 2048;
/// Tree mode's `tools/list` with one domain open, the menu included.
const DOMAIN_BUDGET: usize = 6144;
/// The same for tickets, the domain opened most.
const TICKETS_BUDGET: usize = 5120;
/// What a tool does, before any list of further filters.
const MAX_DESCRIPTION: usize = 160;
/// Claude Code cuts a tool description (and the instructions) at 2 KB.
const TEXT_LIMIT: usize = 2048;

#[test]
fn names_annotations_and_descriptions() {
    let all = tools::all();
    assert!(all.len() >= 250, "only {} tools", all.len());
    let mut seen = HashSet::new();
    for def in &all {
        let name = def.name();
        assert!(seen.insert(name.to_owned()), "duplicate tool {name}");
        assert!(
            name.starts_with("halo_")
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "bad name {name}"
        );
        assert!(
            name.len() <= 48,
            "{name} is long for clients that prefix server names"
        );
        match &def.kind {
            ToolKind::Crud { resource, verb } => {
                assert_eq!(name, format!("halo_{}_{}", resource.name, verb));
            }
            ToolKind::Extra { resource, op } => {
                assert_eq!(name, format!("halo_{}_{}", resource.name, op.verb));
            }
            ToolKind::Composite(c) => assert_eq!(name, c.name),
        }
        let t = &def.tool;
        assert!(
            t.title.as_deref().is_some_and(|s| !s.is_empty()),
            "{name} has no title"
        );
        let d = t.description.as_deref().unwrap_or("");
        let what = d.split(" More filters: ").next().unwrap_or(d);
        assert!(
            !what.is_empty() && what.len() <= MAX_DESCRIPTION && d.len() <= TEXT_LIMIT,
            "{name}: description {d:?}"
        );
        let a = t.annotations.as_ref().expect("annotations");
        let (ro, de, id, ow) = (
            a.read_only_hint.expect("readOnlyHint set"),
            a.destructive_hint.expect("destructiveHint set"),
            a.idempotent_hint.expect("idempotentHint set"),
            a.open_world_hint.expect("openWorldHint set"),
        );
        assert!(ow, "{name}: Halo is an open world");
        if let ToolKind::Crud { verb, .. } = &def.kind {
            let expected = match verb {
                Verb::List | Verb::Get => (true, false, true),
                Verb::Create => (false, false, false),
                Verb::Update => (false, true, true),
                Verb::Delete => (false, true, true),
            };
            assert_eq!((ro, de, id), expected, "{name} annotations");
        }
        if ro {
            assert!(!de, "{name}: read-only yet destructive");
        }
        // Schemas are real: every property has a type.
        let props = t.input_schema.get("properties").and_then(|p| p.as_object());
        for (k, v) in props.into_iter().flatten() {
            assert!(v.get("type").is_some(), "{name}.{k} has no type");
        }
    }
}

#[test]
fn every_domain_fits_its_budgets() {
    let cat = catalog::catalog();
    assert!(cat.entries().len() >= 30);
    for e in cat.entries() {
        let ts = tools::toolset(e.name).unwrap();
        assert!(
            !ts.is_empty() && ts.len() <= 12,
            "{} has {} tools",
            e.name,
            ts.len()
        );
        let bytes = halo_mcp::server::tree_list_bytes(e.name).unwrap();
        let budget = if e.name == "tickets" {
            TICKETS_BUDGET
        } else {
            DOMAIN_BUDGET
        };
        assert!(
            bytes <= budget,
            "{}: tree mode's tools/list is {bytes} bytes with it open, over {budget}; \
             `cargo test --lib domain_sizes -- --nocapture` shows where they go",
            e.name
        );
    }
}

/// The budget above is what a tree-mode client is sent: measured through a session too.
#[tokio::test]
async fn tree_mode_lists_match_the_measured_budgets() {
    let h = Harness::start().await;
    let options = Options {
        mode: Mode::Tree,
        ..Options::default()
    };
    let halo = HaloClient::new(halo_config(&h.sim)).unwrap();
    let (c, _) = local::connect_with(halo, options, Implementation::new("registry", "1"))
        .await
        .unwrap();
    for e in catalog::catalog().entries() {
        local::call(&c, "halo_navigate", json!({"domain": e.name}))
            .await
            .unwrap();
        let listed = c.list_all_tools().await.unwrap();
        let bytes = serde_json::to_string(&listed).unwrap().len();
        assert_eq!(
            Some(bytes),
            halo_mcp::server::tree_list_bytes(e.name),
            "{}",
            e.name
        );
        for t in &listed {
            assert_labelled(t, e.name);
        }
    }
}

/// A title and all four hints on every tool, in every mode: clients that follow annotations
/// (and Anthropic's connector directory) read a missing hint as its worst case.
fn assert_labelled(t: &Tool, context: &str) {
    let name = &t.name;
    assert!(
        t.title.as_deref().is_some_and(|s| !s.is_empty()),
        "{context}: {name} has no title"
    );
    let d = t.description.as_deref().unwrap_or("");
    assert!(!d.is_empty() && d.len() <= TEXT_LIMIT, "{context}: {name}");
    let a = t.annotations.as_ref().expect("annotations");
    assert!(
        a.read_only_hint.is_some()
            && a.destructive_hint.is_some()
            && a.idempotent_hint.is_some()
            && a.open_world_hint.is_some(),
        "{context}: {name} leaves a hint unset: {a:?}"
    );
}

#[tokio::test]
async fn every_tool_in_every_mode_is_labelled() {
    let h = Harness::start().await;
    for (mode, read_only, domains) in [
        (Mode::Dispatch, false, None),
        (Mode::Dispatch, true, None),
        (Mode::Dispatch, false, Some(vec!["duplicates".to_owned()])),
        (Mode::Tree, false, None),
        (Mode::Tree, true, None),
        (
            Mode::Flat,
            false,
            Some(vec!["tickets".into(), "actions".into()]),
        ),
        (
            Mode::Flat,
            true,
            Some(vec!["assets".into(), "users".into()]),
        ),
    ] {
        let options = Options {
            mode,
            read_only,
            domains,
            ..Options::default()
        };
        let context = format!("{options:?}");
        let halo = HaloClient::new(halo_config(&h.sim)).unwrap();
        let (c, _) = local::connect_with(halo, options, Implementation::new("registry", "1"))
            .await
            .unwrap();
        for t in c.list_all_tools().await.unwrap() {
            assert_labelled(&t, &context);
        }
        let instructions = c.peer_info().unwrap().instructions.clone().unwrap();
        assert!(
            instructions.len() <= TEXT_LIMIT,
            "{context}: instructions are {} bytes",
            instructions.len()
        );
    }
}

/// Filters left out of a list tool's schema are named in its description and still work.
#[tokio::test]
async fn filters_named_in_descriptions_still_filter() {
    let h = Harness::start().await;
    let tools = tools::all();
    for def in &tools {
        if let ToolKind::Crud {
            resource,
            verb: Verb::List,
        } = &def.kind
        {
            let d = def.tool.description.as_deref().unwrap_or("");
            let props = def.tool.input_schema.get("properties").unwrap();
            for f in &resource.filters {
                let in_schema = props.get(&f.name).is_some();
                let named = resource.more_filters.contains(&f.name) && d.contains(&f.name);
                assert!(in_schema ^ named, "{}: filter {}", def.name(), f.name);
            }
        }
    }
    h.ok("halo_navigate", json!({"domain": "tickets"})).await;
    let all = h.ok("halo_tickets_list", json!({"page_size": 100})).await;
    let client = all["records"][0]["client_id"].clone();
    let some = h
        .ok(
            "halo_tickets_list",
            json!({"client_ids": [client.clone()], "page_size": 100}),
        )
        .await;
    let rows = some["records"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["client_id"] == client), "{some}");
    let e = h
        .call("halo_tickets_list", json!({"withattachments": "yes"}))
        .await;
    assert!(
        crate::common::text(&e).contains("`withattachments` must be"),
        "{}",
        crate::common::text(&e)
    );
}

#[tokio::test]
async fn start_up_list_is_small() {
    let h = Harness::start().await;
    let tools = h.tools().await;
    let bytes = serde_json::to_string(&tools).unwrap().len();
    assert!(
        bytes <= START_BUDGET,
        "start-up tools/list is {bytes} bytes"
    );
    // Deterministic order across sessions.
    let again = Harness::start().await;
    assert_eq!(
        serde_json::to_string(&again.tools().await).unwrap(),
        serde_json::to_string(&tools).unwrap()
    );
}

/// The README section between `<!-- name:start -->` and `<!-- name:end -->`.
fn readme_section(name: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = format!("<!-- {name}:start -->\n");
    let end = format!("<!-- {name}:end -->");
    let a = readme.find(&start).expect("start marker") + start.len();
    let b = readme.find(&end).expect("end marker");
    readme[a..b].to_owned()
}

#[test]
fn readme_tables_are_current() {
    assert_eq!(
        readme_section("domains"),
        tools::domain_table(true),
        "README domain table is stale: regenerate it with `cargo run -- domains --markdown`"
    );
    assert_eq!(
        readme_section("clients"),
        halo_mcp::clients::table(true),
        "README client table is stale: regenerate it with `cargo run -- clients --markdown`"
    );
}
