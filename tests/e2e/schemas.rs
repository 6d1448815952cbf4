//! Every tool's schema as a committed snapshot (tests/e2e/snapshots): a change to how tools are
//! generated from domains/*.toml shows up as a diff a reviewer can read, not as a silent change
//! to what models see. One file per mode's start-up list and one per domain.
//!
//! After an intended change: `INSTA_UPDATE=always cargo test --test e2e schemas`, then review
//! the diff of tests/e2e/snapshots. CI sets `INSTA_UPDATE=no`, so a mismatch or a missing
//! snapshot fails there instead of being written.

use halo_mcp::{
    halo::HaloClient,
    local,
    server::{Mode, Options},
    sim::{SimConfig, Simulator},
};
use rmcp::model::{Implementation, Tool};

use crate::common::halo_config;

/// The tools a session in `options` lists, as served over MCP (name, title, description,
/// input and output schemas, annotations).
async fn listed(sim: &Simulator, options: Options) -> Vec<Tool> {
    let halo = HaloClient::new(halo_config(sim)).unwrap();
    let (client, _) = local::connect_with(halo, options, Implementation::new("snapshots", "1"))
        .await
        .unwrap();
    client.list_all_tools().await.unwrap()
}

#[tokio::test]
async fn every_tool_schema_matches_its_snapshot() {
    let sim = local::simulator(SimConfig::default()).await.unwrap();
    let mut expected = Vec::new();
    for (name, mode) in [("tree", Mode::Tree), ("dispatch", Mode::Dispatch)] {
        let options = Options {
            mode,
            ..Options::default()
        };
        let tools = listed(&sim, options).await;
        expected.push(format!("startup_{name}"));
        insta::assert_json_snapshot!(format!("startup_{name}"), tools);
    }
    for domain in halo_mcp::catalog::catalog().names() {
        let options = Options {
            mode: Mode::Flat,
            domains: Some(vec![domain.to_owned()]),
            ..Options::default()
        };
        // Flat mode lists `halo_status` too; it is in the start-up snapshots already.
        let tools: Vec<Tool> = listed(&sim, options)
            .await
            .into_iter()
            .filter(|t| t.name != "halo_status")
            .collect();
        assert!(!tools.is_empty(), "{domain} lists no tools");
        expected.push(format!("domain_{domain}"));
        insta::assert_json_snapshot!(format!("domain_{domain}"), tools);
    }
    // A domain that leaves the catalogue would leave its snapshot behind, still looking
    // authoritative: the committed files must be exactly the ones this test checks.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/snapshots");
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| {
            Some(
                f.strip_prefix("e2e__schemas__")?
                    .strip_suffix(".snap")?
                    .to_owned(),
            )
        })
        .collect();
    committed.sort();
    expected.sort();
    assert_eq!(committed, expected, "snapshot files in {}", dir.display());
}
