//! Table-driven over the whole catalogue: every domain opens, and every list tool answers with
//! the simulator's seeded rows.

use serde_json::{Map, Value, json};

use crate::common::Harness;
use halo_mcp::{
    catalog::{self, Verb},
    tools::{self, ToolKind},
};

#[tokio::test]
async fn every_domain_navigates_and_every_list_answers() {
    let h = Harness::start().await;
    let ticket_with_actions = h
        .sim
        .records("Actions")
        .first()
        .and_then(|a| a["ticket_id"].as_i64())
        .expect("seeded actions");
    let mut checked = 0;
    for entry in catalog::catalog().entries() {
        let nav = h.navigate(entry.name).await;
        assert_eq!(nav["domain"], entry.name);
        let visible = h.tool_names().await;
        for def in tools::toolset(entry.name).unwrap() {
            assert!(
                visible.iter().any(|n| n == def.name()),
                "{} not listed after navigating to {}",
                def.name(),
                entry.name
            );
            let ToolKind::Crud {
                resource,
                verb: Verb::List,
            } = &def.kind
            else {
                continue;
            };
            // Required filters get a real value from the seed.
            let mut args = Map::new();
            for f in resource.filters.iter().filter(|f| f.required) {
                assert_eq!(f.name, "ticket_id", "no seed value for required {}", f.name);
                args.insert(f.name.clone(), json!(ticket_with_actions));
            }
            let out = h.ok(def.name(), Value::Object(args)).await;
            let rows = out["records"].as_array().expect("records array");
            assert!(
                !rows.is_empty(),
                "{} returned no rows; the simulator seeds every resource",
                def.name()
            );
            assert!(out["record_count"].as_u64().unwrap() >= rows.len() as u64);
            for row in rows {
                assert!(
                    row.get("id").is_some(),
                    "{} row without id: {row}",
                    def.name()
                );
            }
            checked += 1;
        }
    }
    let resources: usize = catalog::catalog()
        .entries()
        .iter()
        .map(|e| {
            e.domain()
                .unwrap()
                .resources
                .iter()
                .filter(|r| r.has(Verb::List))
                .count()
        })
        .sum();
    assert_eq!(checked, resources);
    assert!(checked >= 55, "only {checked} list tools");
}
