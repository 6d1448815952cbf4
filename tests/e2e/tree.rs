//! The whole tree walk: three tools, navigate (with the notification), CRUD with effects checked
//! in the simulator, back to three tools.

use serde_json::{Value, json};

use crate::common::Harness;

const START: [&str; 3] = ["halo_navigate", "halo_status", "halo_back"];

#[tokio::test]
async fn full_tree_walk_with_effects_in_halo() {
    let h = Harness::start().await;

    // Start: exactly three tools, and the server says its list can change.
    assert_eq!(h.tool_names().await, START);
    let info = h.client.peer_info().expect("server info");
    let tools_cap = info.capabilities.tools.as_ref().expect("tools capability");
    assert_eq!(tools_cap.list_changed, Some(true));
    assert_eq!(info.protocol_version.as_str(), "2025-11-25");

    // Navigate: the notification arrives, the domain's tools appear after the three.
    let nav = h.navigate("tickets").await;
    assert_eq!(nav["domain"], "tickets");
    let listed: Vec<&str> = nav["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    h.wait_list_changed(1).await;
    let names = h.tool_names().await;
    assert_eq!(&names[..3], START);
    assert_eq!(names[3..].to_vec(), listed);
    for t in [
        "halo_tickets_list",
        "halo_tickets_get",
        "halo_tickets_create",
        "halo_tickets_update",
        "halo_tickets_delete",
    ] {
        assert!(names.iter().any(|n| n == t), "{t} missing from {names:?}");
    }

    // List: compact rows with paging facts.
    let open_in_sim = h
        .sim
        .records("Tickets")
        .into_iter()
        .filter(|t| t["deleted"] != json!(true) && t["status_id"].as_i64() != Some(9))
        .count();
    let page = h
        .ok(
            "halo_tickets_list",
            json!({"open_only": true, "page_size": 5}),
        )
        .await;
    assert_eq!(page["record_count"].as_u64(), Some(open_in_sim as u64));
    assert_eq!(page["page_size"], 5);
    assert_eq!(page["has_more"], open_in_sim > 5);
    let rows = page["records"].as_array().unwrap();
    assert_eq!(rows.len(), 5.min(open_in_sim));
    for row in rows {
        assert_ne!(row["status_id"], 9, "open_only returned a closed ticket");
        let s = row.to_string();
        assert!(
            !s.contains("1900-01-01"),
            "sentinel date in compact row: {s}"
        );
    }

    // Get: matches the simulator's record.
    let id = rows[0]["id"].as_i64().unwrap();
    let got = h.ok("halo_tickets_get", json!({"id": id})).await;
    let in_sim = h.sim.record("Tickets", id).unwrap();
    assert_eq!(got["summary"], in_sim["summary"]);
    assert_eq!(got["client_id"].as_i64(), in_sim["client_id"].as_i64());

    // Create: exactly one new ticket in Halo, with what we sent.
    let before = h.sim.count("Tickets");
    let client_id = in_sim["client_id"].as_i64().unwrap();
    let created = h
        .ok(
            "halo_tickets_create",
            json!({"summary": "E2E: printer on fire", "details": "Smoke from tray 2", "client_id": client_id}),
        )
        .await;
    let new_id = created["created"]["id"].as_i64().expect("new id");
    assert_eq!(h.sim.count("Tickets"), before + 1);
    let stored = h.sim.record("Tickets", new_id).unwrap();
    assert_eq!(stored["summary"], "E2E: printer on fire");
    assert_eq!(stored["client_id"].as_i64(), Some(client_id));

    // Update: only the given field changes, nothing new is created.
    let updated = h
        .ok(
            "halo_tickets_update",
            json!({"id": new_id, "summary": "E2E: printer fixed"}),
        )
        .await;
    assert_eq!(updated["updated"]["id"].as_i64(), Some(new_id));
    let stored = h.sim.record("Tickets", new_id).unwrap();
    assert_eq!(stored["summary"], "E2E: printer fixed");
    assert_eq!(stored["details"], "Smoke from tray 2");
    assert_eq!(h.sim.count("Tickets"), before + 1);

    // Delete: needs confirm, then Halo's soft delete.
    h.err("halo_tickets_delete", json!({"id": new_id})).await;
    assert_ne!(
        h.sim.record("Tickets", new_id).unwrap()["deleted"],
        json!(true)
    );
    let deleted = h
        .ok(
            "halo_tickets_delete",
            json!({"id": new_id, "confirm": true, "reason": "test"}),
        )
        .await;
    assert_eq!(deleted["deleted"]["id"], json!(new_id.to_string()));
    assert_eq!(
        h.sim.record("Tickets", new_id).unwrap()["deleted"],
        json!(true)
    );

    // Back: notification, three tools again.
    let seen = h.list_changed();
    let back = h.ok("halo_back", json!({})).await;
    assert_eq!(back["left"], "tickets");
    h.wait_list_changed(seen + 1).await;
    assert_eq!(h.tool_names().await, START);

    // A domain tool is now out of reach, with directions.
    let e = h.err("halo_tickets_list", json!({})).await;
    assert!(e.contains("`tickets` domain"), "{e}");
    assert!(e.contains("halo_navigate"), "{e}");
}

#[tokio::test]
async fn actions_are_numbered_per_ticket() {
    let h = Harness::start().await;
    h.navigate("actions").await;
    let ticket = h.sim.records("Tickets")[0]["id"].as_i64().unwrap();
    let list = h
        .ok("halo_actions_list", json!({"ticket_id": ticket}))
        .await;
    let n = list["record_count"].as_u64().unwrap();
    assert!(n > 0, "seeded tickets have actions");
    let first = list["records"][0]["id"].as_i64().unwrap();
    let got = h
        .ok(
            "halo_actions_get",
            json!({"id": first, "ticket_id": ticket}),
        )
        .await;
    assert_eq!(got["ticket_id"].as_i64(), Some(ticket));

    let e = h.err("halo_actions_get", json!({"id": first})).await;
    assert!(e.contains("`ticket_id` is required"), "{e}");

    let made = h
        .ok(
            "halo_actions_create",
            json!({"ticket_id": ticket, "outcome": "comment", "note": "Called the user", "timetaken": 0.25}),
        )
        .await;
    let action_id = made["created"]["id"].as_i64().unwrap();
    assert_eq!(action_id, first.max(n as i64) + 1, "next per-ticket number");
    let stored = h.sim.action(ticket, action_id).unwrap();
    assert_eq!(stored["note"], "Called the user");

    h.ok(
        "halo_actions_update",
        json!({"id": action_id, "ticket_id": ticket, "note": "Called the user twice"}),
    )
    .await;
    assert_eq!(
        h.sim.action(ticket, action_id).unwrap()["note"],
        "Called the user twice"
    );
    h.ok(
        "halo_actions_delete",
        json!({"id": action_id, "ticket_id": ticket, "confirm": true}),
    )
    .await;
    assert!(h.sim.action(ticket, action_id).is_none());
}

#[tokio::test]
async fn compact_full_and_field_choice() {
    let h = Harness::start().await;
    h.navigate("tickets").await;
    let id = h.sim.records("Tickets")[3]["id"].as_i64().unwrap();
    let compact = h.ok("halo_tickets_get", json!({"id": id})).await;
    let full = h
        .ok("halo_tickets_get", json!({"id": id, "detail": "full"}))
        .await;
    let c = compact.to_string();
    let f = full.to_string();
    assert!(
        c.len() * 3 < f.len(),
        "compact {} vs full {}",
        c.len(),
        f.len()
    );
    assert!(
        f.contains("1900-01-01T00:00:00"),
        "raw keeps Halo's sentinels"
    );
    assert!(!c.contains("1900-01-01") && !c.contains(":-1"));
    let picked = h
        .ok(
            "halo_tickets_get",
            json!({"id": id, "fields": ["summary", "status_id"]}),
        )
        .await;
    let keys: Vec<&String> = picked.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "summary", "status_id"]);

    // Users' site_id arrives as a double from Halo and leaves as an integer.
    h.navigate("users").await;
    let rows = h
        .ok(
            "halo_users_list",
            json!({"page_size": 3, "fields": ["site_id"]}),
        )
        .await;
    let raw_site = &h
        .sim
        .record("Users", rows["records"][0]["id"].as_i64().unwrap())
        .unwrap()["site_id"];
    assert!(
        raw_site.is_f64(),
        "simulator keeps Halo's double: {raw_site}"
    );
    assert!(rows["records"][0]["site_id"].is_i64());
}

#[tokio::test]
async fn status_reports_menu_connection_and_no_secret() {
    let h = Harness::start().await;
    let s = h.ok("halo_status", json!({})).await;
    assert_eq!(s["current_domain"], Value::Null);
    let areas = s["domains"].as_object().unwrap();
    let listed: usize = areas.values().map(|v| v.as_object().unwrap().len()).sum();
    assert_eq!(listed, halo_mcp::catalog::catalog().entries().len());
    assert_eq!(s["halo"]["base_url"], h.sim.base_url());
    let text = s.to_string();
    assert!(
        !text.contains(&h.sim.config().client_secret),
        "secret leaked"
    );
    h.navigate("assets").await;
    let s = h.ok("halo_status", json!({})).await;
    assert_eq!(s["current_domain"], "assets");
    assert_eq!(s["halo"]["token"]["state"], "not requested yet");
    h.ok("halo_assets_list", json!({})).await;
    let s = h.ok("halo_status", json!({})).await;
    assert_eq!(s["halo"]["token"]["state"], "valid");
    assert!(s["halo"]["token"]["expires_in_s"].as_u64().unwrap() > 3000);
    let budget = &s["halo"]["rate_budget"];
    assert_eq!(budget["limit"], 300);
    assert_eq!(budget["window_s"], 300.0);
    assert_eq!(budget["used"], 1);
}

/// The tree keeps per-session state, so a client asking for 2026-07-28 (which has no sessions)
/// is answered with 2025-11-25; older versions are kept as asked.
#[tokio::test]
async fn protocol_is_pinned_to_versions_with_sessions() {
    use crate::common::RawSession;
    use halo_mcp::server::{Mode, Options};

    let h = Harness::start().await;
    let tree = Options {
        mode: Mode::Tree,
        ..Options::default()
    };
    for (asked, answered) in [
        ("2026-07-28", "2025-11-25"),
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2024-11-05", "2024-11-05"),
    ] {
        let mut raw = RawSession::connect(&h.sim, tree.clone()).await;
        let answer = raw.initialize(asked, "raw").await;
        assert_eq!(
            answer["result"]["protocolVersion"], answered,
            "asked {asked}: {answer}"
        );
        assert_eq!(
            answer["result"]["capabilities"]["tools"]["listChanged"],
            true
        );
    }
}
