//! Composite tools against known answers from the simulator's seed.
//!
//! The revenue figures below were computed by hand from the seed's layout (the simulator
//! pinned to its layout day, 2026-04-01, see `LAYOUT` below; the periods asked about are all
//! before the real today, so everything in them is billed): one-off net = Σ line nets of
//! non-negative one-off invoices dated in the range, credits = Σ nets of negative ones,
//! recurring = one charge per billing period begun in the range for each contract (terms in
//! src/sim/seed.rs `CONTRACTS`; e.g. April 2025 to March 2026: HLX-MSA 12 × £2,450, HLX-FW
//! 1 × £1,200, BOS-MSA 12 × £1,380, MVG-MSA 4 × £3,900, MVG-PREPAY 1 × £4,800, CPA-BDR
//! 12 × £420, CPA-RET 4 × £1,500, SMB-MSA 12 × £960, SMB-M365 12 × £612, LDC-MSA 3 × £540,
//! CPA-VOIP 5 × £180 = £99,984). They are facts about the seed; a change to the seed's money
//! must update them. Figures of the current run rate depend on the real today and are checked
//! in revenue.rs.

use serde_json::{Value, json};

use crate::common::Harness;

/// The day the seed's layout is pinned to for the hand-computed figures.
const LAYOUT: (i64, u32, u32) = (2026, 4, 1);

async fn on_layout_day() -> Harness {
    Harness::start_with(halo_mcp::sim::SimConfig {
        today: Some(LAYOUT),
        ..halo_mcp::sim::SimConfig::default()
    })
    .await
}

/// The ids of a duplicate group's members, sorted.
pub(crate) fn member_ids(group: &Value) -> Vec<i64> {
    crate::common::sorted_ids(&group["members"])
}

fn money(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn revenue_breakdown_matches_the_seed() {
    let h = on_layout_day().await;
    h.navigate("invoices").await;
    let cases = [
        // (client, start, end, recurring billed, one_off, invoices, credits, notes, total, share)
        (
            None,
            "2025-04-01",
            "2026-03-31",
            99984.0,
            43487.0,
            33,
            -504.0,
            3,
            142967.0,
            0.697,
        ),
        (
            None,
            "2025-10-01",
            "2025-12-31",
            23226.0,
            14129.0,
            8,
            -189.0,
            1,
            37166.0,
            0.622,
        ),
        (
            Some(11),
            "2025-04-01",
            "2026-03-31",
            30600.0,
            22753.0,
            8,
            -180.0,
            1,
            53173.0,
            0.574,
        ),
        (
            Some(11),
            "2025-10-01",
            "2025-12-31",
            7350.0,
            5408.0,
            2,
            0.0,
            0,
            12758.0,
            0.576,
        ),
        (
            Some(12),
            "2025-10-01",
            "2025-12-31",
            4140.0,
            1060.0,
            3,
            0.0,
            0,
            5200.0,
            0.796,
        ),
    ];
    for (client, start, end, recurring, one_off, n, credits, notes, total, share) in cases {
        let mut args = json!({"start": start, "end": end});
        if let Some(c) = client {
            args["client_id"] = json!(c);
        }
        let r = h.ok("halo_revenue_breakdown", args).await;
        let what = format!("{client:?} {start}..{end}: {r}");
        assert_eq!(r["currency"], "GBP", "{what}");
        assert_eq!(money(&r["recurring"]["billed"]), recurring, "{what}");
        assert_eq!(
            money(&r["recurring"]["annualised"]),
            money(&r["recurring"]["monthly"]) * 12.0,
            "{what}"
        );
        assert!(r["recurring"].get("in_period").is_none(), "{what}");
        assert!(r.get("forecast_recurring_after_today").is_none(), "{what}");
        assert_eq!(money(&r["non_recurring"]["total"]), one_off, "{what}");
        assert_eq!(r["non_recurring"]["invoices"], n, "{what}");
        assert_eq!(money(&r["credits"]["total"]), credits, "{what}");
        assert_eq!(r["credits"]["notes"], notes, "{what}");
        assert_eq!(money(&r["total"]), total, "{what}");
        assert_eq!(r["recurring_share"], share, "{what}");
        assert_eq!(r["period"]["start"], start);
        assert_eq!(r["period"]["end"], end);
        let read = &r["records_read"];
        assert!(read["invoices"].as_u64().unwrap() > 0 && read["requests"].as_u64().unwrap() >= 3);
        if client.is_none() {
            assert_eq!(read["invoices"], h.sim.records("Invoice").len());
            assert_eq!(read["recurring_invoices"], 10);
            let by_client = r["by_client"].as_array().unwrap();
            let sum: f64 = by_client.iter().map(|c| money(&c["total"])).sum();
            assert!(
                (sum - total).abs() < 0.01,
                "clients add up to the total: {sum}"
            );
        }
    }
    let e = h
        .err(
            "halo_revenue_breakdown",
            json!({"start": "2026-01-01", "end": "2025-01-01"}),
        )
        .await;
    assert!(e.contains("`start` is after `end`"), "{e}");
}

#[tokio::test]
async fn revenue_breakdown_reports_progress_when_asked() {
    let h = on_layout_day().await;
    h.navigate("invoices").await;
    let r = h
        .ok_with_progress(
            "halo_revenue_breakdown",
            json!({"start": "2025-04-01", "end": "2026-03-31"}),
            42,
        )
        .await;
    assert_eq!(money(&r["total"]), 142967.0);
    let progress = h.handler.progress.lock().clone();
    assert!(
        progress.len() >= 3,
        "one notification per page read: {progress:?}"
    );
    let last = progress.last().unwrap();
    assert_eq!(
        Some(last.progress),
        last.total,
        "progress ends at its total"
    );
    assert!(progress.windows(2).all(|w| w[1].progress > w[0].progress));
    assert!(
        progress
            .iter()
            .all(|p| p.progress_token == progress[0].progress_token),
        "one call, one token: {progress:?}"
    );
    // Without a token (rmcp's client always sends one, so speak raw JSON-RPC), no
    // notifications: the answer is the only message.
    let mut raw = crate::common::RawSession::open(&h.sim).await;
    raw.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "halo_navigate", "arguments": {"domain": "invoices"}}}))
        .await;
    raw.until_response(2).await;
    raw.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "halo_revenue_breakdown", "arguments": {"client_id": 12}}}))
        .await;
    let (answer, before) = raw.until_response(3).await;
    assert!(
        answer["result"]["structuredContent"]["total"].is_number(),
        "{answer}"
    );
    assert!(
        before
            .iter()
            .all(|m| m["method"] != "notifications/progress"),
        "{before:?}"
    );
}

#[tokio::test]
async fn search_helpers_find_by_normalised_values() {
    let h = Harness::start().await;
    let asset = h
        .sim
        .records("Asset")
        .into_iter()
        .find(|a| a["key_field"].as_str().is_some_and(|s| s.len() > 4))
        .unwrap();
    let serial = asset["key_field"].as_str().unwrap();
    let host = asset["key_field2"].as_str().unwrap();
    h.navigate("assets").await;
    // Lower case with stray spaces still finds the serial.
    let r = h
        .ok(
            "halo_assets_search",
            json!({"serial": format!(" {} ", serial.to_lowercase()), "hostname": host.to_uppercase()}),
        )
        .await;
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect()
    };
    assert!(
        ids(&r["by_serial"]).contains(&asset["id"].as_i64().unwrap()),
        "{r}"
    );
    assert!(
        ids(&r["by_hostname"]).contains(&asset["id"].as_i64().unwrap()),
        "{r}"
    );
    for a in r["by_serial"].as_array().unwrap() {
        let stored = h.sim.record("Asset", a["id"].as_i64().unwrap()).unwrap();
        let norm = |s: &str| {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_uppercase()
        };
        assert_eq!(norm(stored["key_field"].as_str().unwrap()), norm(serial));
    }
    // With the client, a serial stored with odd spacing is found too (seed: 1005 "5CG9875FEL"
    // and 1073 "5CG98 75FEL").
    let r = h
        .ok(
            "halo_assets_search",
            json!({"serial": "5cg9875fel", "client_id": 11}),
        )
        .await;
    let mut found = ids(&r["by_serial"]);
    found.sort();
    assert_eq!(found, [1005, 1073], "{r}");
    let e = h
        .err(
            "halo_assets_search",
            json!({"serial": "To be filled by O.E.M."}),
        )
        .await;
    assert!(e.contains("placeholder"), "{e}");

    h.navigate("users").await;
    let user = h.sim.records("Users")[0].clone();
    let email = user["emailaddress"].as_str().unwrap().to_uppercase();
    let r = h.ok("halo_users_search", json!({"email": email})).await;
    assert!(
        ids(&r["users"]).contains(&user["id"].as_i64().unwrap()),
        "{r}"
    );
    let e = h.err("halo_users_search", json!({"email": "nobody"})).await;
    assert!(e.contains("must be an email address"), "{e}");

    h.navigate("clients").await;
    let client = h.sim.records("Client")[0].clone();
    let name = client["name"].as_str().unwrap();
    let r = h
        .ok("halo_clients_find", json!({"name": name.to_lowercase()}))
        .await;
    assert_eq!(r["match"], "exact");
    assert_eq!(r["clients"][0]["id"], client["id"]);
    // A misspelt name: no exact match, the real client ranks first.
    let typo: String = name.chars().take(name.len() - 2).collect::<String>() + "xx";
    let r = h.ok("halo_clients_find", json!({"name": typo})).await;
    assert_eq!(r["match"], "fuzzy", "{r}");
    assert_eq!(r["closest"][0]["client"]["id"], client["id"], "{r}");
}

#[tokio::test]
async fn batch_gets_report_missing_ids() {
    let h = Harness::start().await;
    h.navigate("sites").await;
    let ids: Vec<i64> = h
        .sim
        .records("Site")
        .iter()
        .take(6)
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    let mut asked = ids.clone();
    asked.push(999_999);
    asked.push(ids[0]);
    let r = h.ok("halo_sites_get_many", json!({"ids": asked})).await;
    assert_eq!(r["asked"], 7, "duplicates asked once");
    let got: Vec<i64> = r["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids, "in the order asked");
    assert_eq!(r["missing"], json!([999_999]));
    assert_eq!(r["failed"], json!([]));
    let too_many: Vec<i64> = (1..=51).collect();
    let e = h.err("halo_sites_get_many", json!({"ids": too_many})).await;
    assert!(e.contains("at most 50") || e.contains("limit is"), "{e}");
    h.navigate("users").await;
    let r = h
        .ok(
            "halo_users_get_many",
            json!({"ids": [h.sim.records("Users")[1]["id"]], "fields": ["emailaddress"]}),
        )
        .await;
    assert!(r["records"][0]["emailaddress"].is_string());
}

#[tokio::test]
async fn drill_downs_gather_what_belongs_together() {
    let h = Harness::start().await;
    // A ticket with several actions.
    let actions = h.sim.records("Actions");
    let ticket = actions[0]["ticket_id"].as_i64().unwrap();
    let mine: Vec<&Value> = actions
        .iter()
        .filter(|a| a["ticket_id"] == ticket)
        .collect();
    let hours: f64 = mine
        .iter()
        .map(|a| a["timetaken"].as_f64().unwrap_or(0.0))
        .sum();
    h.navigate("tickets").await;
    let r = h
        .ok("halo_tickets_overview", json!({"id": ticket, "actions": 2}))
        .await;
    assert_eq!(r["ticket"]["id"], ticket);
    assert_eq!(r["actions"]["total"], mine.len());
    assert_eq!(
        r["actions"]["latest"].as_array().unwrap().len(),
        2.min(mine.len())
    );
    assert!((money(&r["time"]["hours"]) - (hours * 100.0).round() / 100.0).abs() < 1e-9);
    assert!(r["sla"]["state"].is_string(), "{r}");
    let e = h.err("halo_tickets_overview", json!({"id": 987_654})).await;
    assert!(e.contains("No ticket with id 987654"), "{e}");

    // A client: its sites, contacts and open tickets, as the simulator holds them.
    let client = 11;
    let sites = h
        .sim
        .records("Site")
        .iter()
        // Halo lists active sites unless asked otherwise.
        .filter(|s| s["client_id"].as_f64() == Some(11.0) && s["inactive"] != json!(true))
        .count();
    let users = h
        .sim
        .records("Users")
        .iter()
        // Contacts are the active users, as Halo lists them.
        .filter(|u| u["client_id"].as_i64() == Some(client) && u["inactive"] != json!(true))
        .count();
    h.navigate("clients").await;
    let r = h.ok("halo_clients_overview", json!({"id": client})).await;
    assert_eq!(r["client"]["id"], client);
    assert_eq!(r["sites"].as_array().unwrap().len(), sites);
    assert_eq!(r["contacts"], users);
    h.navigate("tickets").await;
    let open = h
        .ok(
            "halo_tickets_list",
            json!({"client_id": client, "open_only": true}),
        )
        .await;
    assert_eq!(r["open_tickets"]["count"], open["record_count"]);

    // A contract billed monthly through a recurring invoice: £2,450.00 a month (seed: HLX-MSA).
    h.navigate("contracts").await;
    let r = h.ok("halo_contracts_overview", json!({"id": 301})).await;
    assert_eq!(money(&r["monthly_value"]), 2450.0);
    assert_eq!(r["billing"][0]["lines"][0]["net_amount"], 2450.0);

    // An asset: its field values and its type's field schema.
    h.navigate("assets").await;
    let r = h.ok("halo_assets_overview", json!({"id": 1001})).await;
    assert_eq!(r["type"], "Laptop");
    assert_eq!(
        r["field_values"]["Serial Number"],
        h.sim.record("Asset", 1001).unwrap()["key_field"]
    );
    let schema = r["field_schema"].as_array().unwrap();
    assert!(schema.iter().any(|f| f["field"] == "Serial Number"), "{r}");
}

/// The seed's duplicate groups (documented in src/sim/seed.rs), found with their scores and
/// what they add to a bill.
#[tokio::test]
async fn duplicate_scans_find_the_seeded_groups() {
    let h = Harness::start().await;
    h.navigate("duplicates").await;
    let r = h.ok("halo_assets_scan_duplicates", json!({})).await;
    let groups: Vec<(u64, Vec<i64>, u64)> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let ids = member_ids(g);
            (
                g["score"].as_u64().unwrap(),
                ids,
                g["extra_billable"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut got = groups.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            (85, vec![1002, 1076], 1),
            (85, vec![1007, 1077], 0),
            (85, vec![1010, 1078], 0),
            // A server keyed Hostname / Serial Number, rebuilt under its old hostname.
            (85, vec![1029, 1091], 1),
            (100, vec![1001, 1072], 1),
            (100, vec![1005, 1073], 1),
            (100, vec![1009, 1074], 1),
            // A printer keyed Hostname / Serial Number: the serial is key field 2.
            (100, vec![1013, 1090], 1),
            (100, vec![1022, 1075], 1),
            // A phone keyed Name / User / Model: the serial is in no key field.
            (100, vec![1085, 1089], 1),
        ],
        "{r}"
    );
    assert_eq!(r["summary"]["extra_billable"], 8);
    assert_eq!(r["summary"]["duplicate_records"], 10);
    assert_eq!(r["groups"][0]["score"], 100, "strongest first");
    let retired = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["members"].as_array().unwrap())
        .find(|m| m["id"] == 1077)
        .unwrap();
    assert_eq!(retired["billable"], false);

    let r = h.ok("halo_users_scan_duplicates", json!({})).await;
    let mut got: Vec<(u64, String, Vec<i64>)> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let ids = member_ids(g);
            (
                g["score"].as_u64().unwrap(),
                g["matched_on"].as_str().unwrap().to_owned(),
                ids,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (70, "name".into(), vec![143, 144]),
            (70, "name".into(), vec![149, 150]),
            (95, "upn".into(), vec![145, 146]),
            (100, "email".into(), vec![141, 142]),
            (100, "email".into(), vec![147, 148]),
        ],
        "{r}"
    );
    // 141/142, 145/146, 143/144 are all active; 148 and 150 are inactive.
    assert_eq!(r["summary"]["extra_billable"], 3);

    // One client only.
    let r = h
        .ok("halo_assets_scan_duplicates", json!({"client_id": 12}))
        .await;
    let in_sim = h
        .sim
        .records("Asset")
        .iter()
        .filter(|a| a["client_id"] == 12)
        .count();
    // Its assets, and the asset types their key fields come from.
    let types = h.sim.count("AssetType");
    assert_eq!(r["records_read"], in_sim + types);
}

#[tokio::test]
async fn matchers_score_single_candidates() {
    let h = Harness::start().await;
    h.navigate("duplicates").await;
    // Serial written differently: 100, update; both records of the pair are candidates.
    let r = h
        .ok(
            "halo_assets_find_match",
            json!({"serial": "bus5h28", "client_id": 11}),
        )
        .await;
    assert_eq!(r["score"], 100, "{r}");
    assert_eq!(r["action"], "auto-update the existing record");
    let ids: Vec<i64> = r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["record"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1009, 1074]);
    // Known hostname, new serial: 85, review.
    let r = h
        .ok(
            "halo_assets_find_match",
            json!({"serial": "NEW-SERIAL-1", "hostname": "HLX-LT-002"}),
        )
        .await;
    assert_eq!(r["score"], 85, "{r}");
    assert_eq!(r["best"]["matched_on"], "hostname");
    // Nothing known: 0, create.
    let r = h
        .ok(
            "halo_assets_find_match",
            json!({"serial": "ZZ-NOT-THERE", "hostname": "nowhere-01"}),
        )
        .await;
    assert_eq!(
        (r["score"].as_u64(), r["action"].as_str()),
        (Some(0), Some("create new"))
    );
    let e = h
        .err("halo_assets_find_match", json!({"client_id": 11}))
        .await;
    assert!(e.contains("give `serial`, `hostname` or both"), "{e}");

    let jonah = h.sim.record("Users", 141).unwrap();
    let email = jonah["emailaddress"].as_str().unwrap().to_uppercase();
    let r = h.ok("halo_users_find_match", json!({"email": email})).await;
    assert_eq!(r["score"], 100, "{r}");
    let priya = h.sim.record("Users", 145).unwrap();
    let r = h
        .ok(
            "halo_users_find_match",
            json!({"email": "new@nowhere.test", "upn": priya["login"]}),
        )
        .await;
    assert_eq!(r["score"], 95, "{r}");
    assert_eq!(r["action"], "update the existing user");
    let r = h
        .ok(
            "halo_users_find_match",
            json!({"email": "new@nowhere.test", "name": "sam  okafor"}),
        )
        .await;
    assert_eq!(r["score"], 70, "{r}");
    assert_eq!(r["action"], "manual review before creating");

    // Sites (seed: 18 "Head Office - Bristol" and 34 "Head Office" at client 11; 25
    // "Northfield Branch" and 35 "Northfield" at client 13, same postcode).
    let r = h
        .ok(
            "halo_sites_find_match",
            json!({"name": "head office", "client_id": 11}),
        )
        .await;
    assert_eq!(r["best"]["record"]["id"], 34, "{r}");
    assert_eq!(r["score"], 100);
    let second = &r["candidates"][1];
    assert_eq!(
        (second["record"]["id"].as_i64(), second["score"].as_u64()),
        (Some(18), Some(85))
    );
    let northfield = h.sim.record("Site", 25).unwrap();
    let postcode = northfield["delivery_address"]["postcode"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let r = h
        .ok(
            "halo_sites_find_match",
            json!({"name": "Northfield Brnch", "postcode": postcode, "client_id": 13}),
        )
        .await;
    assert_eq!(r["score"], 95, "{r}");
    // Site list rows carry no address unless asked for (SW24 /Site `includeaddress`).
    assert!(h.sim.requests().iter().any(
        |q| q.path.eq_ignore_ascii_case("/api/Site") && q.query.contains("includeaddress=true")
    ));
    let r = h
        .ok(
            "halo_sites_find_match",
            json!({"name": "Glasgow Depot", "client_id": 13}),
        )
        .await;
    assert_eq!(r["score"], 0, "{r}");
}

/// 2,091 assets (the seed's 91 plus 2,000 generated, of which the simulator documents 40
/// serial and 40 hostname duplicates): the scan compares only records that share a key.
#[tokio::test]
async fn a_large_scan_uses_blocking() {
    let h = Harness::start_with(halo_mcp::sim::SimConfig {
        extra_assets: 2000,
        ..halo_mcp::sim::SimConfig::default()
    })
    .await;
    h.navigate("duplicates").await;
    let r = h.ok("halo_assets_scan_duplicates", json!({})).await;
    // The assets and the 7 asset types their key fields come from.
    assert_eq!(r["records_read"], 2091 + 7);
    assert_eq!(
        r["summary"]["groups_by_score"]["100"], 46,
        "{}",
        r["summary"]
    );
    assert_eq!(
        r["summary"]["groups_by_score"]["85"], 44,
        "{}",
        r["summary"]
    );
    let compared = r["method"]["comparisons"].as_u64().unwrap();
    assert_eq!(r["method"]["all_pairs_would_be"], 2091 * 2090 / 2);
    assert!(compared < 200, "blocking compared {compared} pairs");
    assert!(r["requests"].as_u64().unwrap() >= 21, "read page by page");
    assert_eq!(r["groups_listed"], 50, "answers stay small");
}

#[tokio::test]
async fn reports_run_saved_and_read_only_sql() {
    let h = Harness::start().await;
    h.navigate("reports").await;
    // Saved report 1 "Open tickets by client" (seed).
    let r = h.ok("halo_reports_run", json!({"id": 1})).await;
    let rows = r["rows"].as_array().unwrap();
    let for_client = |c: i64| {
        rows.iter()
            .find(|row| row["client_id"] == c)
            .map(|row| row["open_tickets"].clone())
    };
    assert_eq!(for_client(11), Some(json!(15)), "{r}");
    assert_eq!(r["rows_total"], rows.len());
    assert!(
        r["columns"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string),
        "{r}"
    );
    // FAULTS holds tickets, projects and opportunities alike.
    let open_in_sim = ["Tickets", "Projects", "Opportunities"]
        .iter()
        .flat_map(|t| h.sim.records(t))
        .filter(|t| t["client_id"] == 11 && t["status_id"] != 9 && t["deleted"] != json!(true))
        .count();
    assert_eq!(for_client(11), Some(json!(open_in_sim)));
    let live = ["Tickets", "Projects", "Opportunities"]
        .iter()
        .flat_map(|t| h.sim.records(t))
        .filter(|t| t["deleted"] != json!(true))
        .count();
    let r = h
        .ok(
            "halo_reports_query",
            json!({"sql": "SELECT COUNT(*) AS n FROM FAULTS WHERE FDeleted = 0 -- live tickets\n;"}),
        )
        .await;
    assert_eq!(r["rows"][0]["n"], live, "{r}");
    assert_eq!(
        r["sql"],
        "SELECT COUNT(*) AS n FROM FAULTS WHERE FDeleted = 0"
    );

    let r = h
        .ok(
            "halo_reports_query",
            json!({"sql": "SELECT TOP 30 Faultid FROM FAULTS ORDER BY Faultid", "page_size": 10, "page_no": 2}),
        )
        .await;
    assert_eq!(r["rows_total"], 30);
    assert_eq!(r["rows"].as_array().unwrap().len(), 10);
    assert_eq!(r["has_more"], true);

    let before = h.api_requests();
    for bad in [
        "DELETE FROM FAULTS",
        "SELECT 1; DROP TABLE FAULTS",
        "SELECT * INTO FAULTS_COPY FROM FAULTS",
        "EXEC xp_cmdshell 'dir'",
    ] {
        let e = h.err("halo_reports_query", json!({"sql": bad})).await;
        assert!(e.contains("only a single read-only SELECT"), "{bad}: {e}");
    }
    assert_eq!(h.api_requests(), before, "refused SQL never reaches Halo");
    let e = h
        .err("halo_reports_query", json!({"sql": "SELECT * FROM NOPE"}))
        .await;
    assert!(
        e.contains("Halo refused the query") && e.contains("Invalid object name"),
        "{e}"
    );
    let e = h.err("halo_reports_run", json!({"id": 424242})).await;
    assert!(e.contains("No report with id 424242"), "{e}");
}

/// Each composite reads only the Halo paths it declares (`doctor` checks the permission areas
/// of those paths), and every composite is covered here.
#[tokio::test]
async fn composites_read_only_the_paths_they_declare() {
    let h = Harness::start().await;
    let first = |resource: &str| h.sim.records(resource)[0].clone();
    let ticket = first("Tickets")["id"].clone();
    let client = first("Client")["id"].clone();
    let contract = first("ClientContract")["id"].clone();
    let asset = first("Asset");
    let user = first("Users");
    let site = first("Site");
    let calls: Vec<(&str, Value)> = vec![
        ("halo_tickets_overview", json!({"id": ticket})),
        ("halo_clients_overview", json!({"id": client})),
        ("halo_contracts_overview", json!({"id": contract})),
        ("halo_assets_overview", json!({"id": asset["id"]})),
        ("halo_assets_get_many", json!({"ids": [asset["id"]]})),
        ("halo_users_get_many", json!({"ids": [user["id"]]})),
        ("halo_sites_get_many", json!({"ids": [site["id"]]})),
        ("halo_assets_find_match", json!({"hostname": "PC-0001"})),
        ("halo_assets_scan_duplicates", json!({})),
        (
            "halo_users_find_match",
            json!({"email": "someone@example.com"}),
        ),
        ("halo_users_scan_duplicates", json!({})),
        ("halo_sites_find_match", json!({"name": "Head Office"})),
        ("halo_assets_search", json!({"hostname": "PC-0001"})),
        ("halo_users_search", json!({"email": "someone@example.com"})),
        ("halo_clients_find", json!({"name": "Kestrel"})),
        (
            "halo_revenue_breakdown",
            json!({"start": "2025-04-01", "end": "2026-03-31"}),
        ),
        ("halo_reports_run", json!({"id": 1})),
        (
            "halo_reports_query",
            json!({"sql": "SELECT faultid FROM faults"}),
        ),
    ];
    let covered: Vec<&str> = calls.iter().map(|(n, _)| *n).collect();
    for c in halo_mcp::tools::composite::COMPOSITES {
        assert!(covered.contains(&c.name), "{} is not covered", c.name);
    }
    for (name, args) in calls {
        let def = halo_mcp::tools::composite::COMPOSITES
            .iter()
            .find(|c| c.name == name)
            .unwrap();
        h.navigate(def.domain).await;
        let before = h.sim.requests().len();
        h.ok(name, args).await;
        let read: Vec<String> = h.sim.requests()[before..]
            .iter()
            .filter(|r| r.path.to_ascii_lowercase().starts_with("/api/"))
            .map(|r| format!("/{}", r.path[5..].split('/').next().unwrap_or("")))
            .collect();
        assert!(!read.is_empty(), "{name} sent no request");
        for path in &read {
            assert!(
                def.reads.iter().any(|d| d.eq_ignore_ascii_case(path)),
                "{name} read {path}, which it does not declare ({:?})",
                def.reads
            );
        }
    }
}
