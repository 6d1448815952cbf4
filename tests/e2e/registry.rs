//! Invariants over every tool of the catalogue: names, annotations, descriptions, sizes, and the
//! README's domain table.

use std::collections::HashSet;

use halo_mcp::{
    catalog::{self, Verb},
    tools::{self, ToolKind},
};

use crate::common::Harness;

/// Start-up `tools/list` budget.
const START_BUDGET: usize = 2048;
/// Per-domain `tools/list` budget.
const DOMAIN_BUDGET: usize = 6144;
const MAX_DESCRIPTION: usize = 160;

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
        assert!(
            !d.is_empty() && d.len() <= MAX_DESCRIPTION,
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
        let bytes = tools::list_bytes(ts.iter().map(|t| &t.tool));
        assert!(bytes <= DOMAIN_BUDGET, "{} is {bytes} bytes", e.name);
    }
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
