//! Bad input gets a clear tool error, and no request reaches Halo.

use serde_json::json;

use crate::common::Harness;

#[tokio::test]
async fn bad_arguments_are_refused_before_any_request() {
    let h = Harness::start().await;
    h.navigate("tickets").await;
    let before = h.api_requests();

    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "halo_tickets_list",
            json!({"page_size": "lots"}),
            "`page_size` must be an integer from 1 to 100",
        ),
        (
            "halo_tickets_list",
            json!({"page_size": 500}),
            "`page_size` must be an integer from 1 to 100",
        ),
        (
            "halo_tickets_list",
            json!({"page_no": 0}),
            "`page_no` must be an integer",
        ),
        (
            "halo_tickets_list",
            json!({"client_id": "acme"}),
            "`client_id` must be an integer (got \"acme\")",
        ),
        (
            "halo_tickets_list",
            json!({"open_only": "yes"}),
            "`open_only` must be true or false",
        ),
        (
            "halo_tickets_list",
            json!({"status": ["new"]}),
            "`status` must be a list of integer ids",
        ),
        (
            "halo_tickets_list",
            json!({"startdate": "last week"}),
            "`startdate` must be a date",
        ),
        (
            "halo_tickets_list",
            json!({"domain": "everything"}),
            "`domain` must be one of reqs, opps, prjs",
        ),
        (
            "halo_tickets_list",
            json!({"clientid": 3}),
            "did you mean `client_id`",
        ),
        (
            "halo_tickets_list",
            json!({"order": "id; drop table"}),
            "`order` must be a field name",
        ),
        (
            "halo_tickets_list",
            json!({"search": "x".repeat(300)}),
            "`search` is longer than 200",
        ),
        ("halo_tickets_get", json!({}), "`id` is required"),
        (
            "halo_tickets_get",
            json!({"id": -4}),
            "`id` must be a positive integer",
        ),
        (
            "halo_tickets_get",
            json!({"id": 1, "detail": "everything"}),
            "`detail` must be one of compact, full",
        ),
        (
            "halo_tickets_create",
            json!({"id": 12, "summary": "dup"}),
            "takes no `id`",
        ),
        (
            "halo_tickets_create",
            json!({"details": "no summary"}),
            "`summary` is required",
        ),
        (
            "halo_tickets_create",
            json!({"summary": "   "}),
            "`summary` is required",
        ),
        (
            "halo_tickets_create",
            json!({"summary": "x".repeat(2001)}),
            "`summary` is 2001 characters long; the limit is 2000",
        ),
        (
            "halo_tickets_create",
            json!({"summary": "ok", "details": "x".repeat(70_000)}),
            "the limit is 65536",
        ),
        (
            "halo_tickets_create",
            json!({"summary": "ok", "sumary": "typo"}),
            "did you mean `summary`?",
        ),
        (
            "halo_tickets_create",
            json!({"summary": "ok", "client_id": 1.5}),
            "`client_id` must be an integer (got 1.5)",
        ),
        (
            "halo_tickets_update",
            json!({"summary": "no id"}),
            "`id` is required",
        ),
        ("halo_tickets_update", json!({"id": 5}), "nothing to update"),
        (
            "halo_tickets_delete",
            json!({"id": 5}),
            "needs `confirm: true`",
        ),
        (
            "halo_tickets_delete",
            json!({"id": 5, "confirm": "yes"}),
            "needs `confirm: true`",
        ),
        (
            "halo_navigate",
            json!({"domain": "tickts"}),
            "Unknown domain `tickts`. Did you mean `tickets`",
        ),
        ("halo_navigate", json!({}), "`domain` is required"),
        (
            "halo_navigate",
            json!({"domain": "assets", "extra": 1}),
            "has no argument `extra`",
        ),
        (
            "halo_tickets_lst",
            json!({}),
            "Unknown tool `halo_tickets_lst`. Did you mean `halo_tickets_list`",
        ),
        (
            "halo_assets_list",
            json!({}),
            "belongs to the `assets` domain",
        ),
    ];
    let big: Vec<serde_json::Value> = (0..90)
        .map(|i| json!({"id": i, "value": "x".repeat(6000)}))
        .collect();
    let mut cases = cases;
    cases.push((
        "halo_tickets_create",
        json!({"summary": "ok", "customfields": big}),
        "writes are limited to 512 KB",
    ));
    for (tool, args, expected) in cases {
        let e = h.err(tool, args.clone()).await;
        assert!(
            e.contains(expected),
            "{tool}({args}): expected {expected:?} in {e:?}"
        );
    }
    assert_eq!(h.api_requests(), before, "a refused call reached Halo");

    // The unknown-domain error lists every domain with its purpose.
    let e = h.err("halo_navigate", json!({"domain": "nowhere"})).await;
    for entry in halo_mcp::catalog::catalog().entries() {
        assert!(e.contains(entry.name), "{} missing from {e}", entry.name);
    }
}

#[tokio::test]
async fn update_never_creates_and_missing_records_are_named() {
    let h = Harness::start().await;
    h.navigate("tickets").await;
    let before = h.sim.count("Tickets");
    let e = h
        .err(
            "halo_tickets_update",
            json!({"id": 987654, "summary": "ghost"}),
        )
        .await;
    assert!(e.contains("No ticket with id 987654"), "{e}");
    assert_eq!(h.sim.count("Tickets"), before, "an update created a record");
    let e = h.err("halo_tickets_get", json!({"id": 987654})).await;
    assert!(
        e.contains("No ticket with id 987654") && e.contains("halo_tickets_list"),
        "{e}"
    );
    let e = h
        .err(
            "halo_tickets_delete",
            json!({"id": 987654, "confirm": true}),
        )
        .await;
    assert!(e.contains("No ticket with id 987654"), "{e}");
}

#[tokio::test]
async fn halo_rule_failures_are_readable() {
    let h = Harness::start().await;
    h.navigate("actions").await;
    // The simulator, like Halo, refuses an action on a ticket that does not exist.
    let e = h
        .err(
            "halo_actions_create",
            json!({"ticket_id": 987654, "outcome": "comment", "note": "x"}),
        )
        .await;
    assert!(e.contains("Halo rejected POST /Actions (400)"), "{e}");
}
