//! The client under Halo's limits and faults: rate budget, 429s, flaky gateways, a breaker,
//! the cache, shared in-flight reads, broken answers, refused connections.

use std::{net::SocketAddr, time::Duration};

use futures::future::join_all;
use halo_mcp::{
    halo::{HaloClient, RateLimit},
    sim::{Faults, SimConfig, Simulator},
};
use serde_json::{Value, json};

use crate::common::{Harness, call_on, faulty, halo_config, mcp_client, skip_time, text};

#[tokio::test]
async fn a_burst_at_the_limit_never_fails_and_never_exceeds_it() {
    let limit = 15;
    let window = Duration::from_secs(1);
    let h = Harness::start_tuned(
        faulty(Faults {
            rate_limit: Some((limit, window)),
            retry_after: true,
            ..Faults::default()
        }),
        |c| c.resilience.rate_limit = RateLimit { limit, window },
    )
    .await;
    h.navigate("tickets").await;
    let ids = h.ticket_ids(45);
    let calls = ids
        .iter()
        .map(|id| h.call("halo_tickets_get", json!({"id": id, "fields": ["summary"]})));
    let started = std::time::Instant::now();
    let results = join_all(calls).await;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.is_error == Some(true))
        .map(text)
        .collect();
    assert!(failed.is_empty(), "failed calls: {failed:?}");
    let stats = h.sim.stats();
    assert_eq!(stats.rate_limited, 0, "Halo never had to say 429");
    assert!(
        stats.max_in_window <= limit as usize,
        "Halo saw {} requests in one window (limit {limit})",
        stats.max_in_window
    );
    assert!(
        stats.max_in_window >= limit as usize - 1,
        "the budget was used"
    );
    // 45 requests at 15 per second take at least two windows.
    assert!(started.elapsed() >= Duration::from_secs(2));
    let status = h.ok("halo_status", json!({})).await;
    assert!(status["halo"]["rate_budget"]["waited"].as_u64().unwrap() > 0);
}

/// When Halo's limit is tighter than ours, its 429s are retried: with a `Retry-After` (seconds
/// or a date) or, without one, with backoff.
#[tokio::test]
async fn halo_429s_are_retried_with_and_without_retry_after() {
    for (retry_after, date) in [(true, false), (true, true), (false, false)] {
        let h = Harness::start_tuned(
            faulty(Faults {
                rate_limit: Some((8, Duration::from_secs(1))),
                retry_after,
                retry_after_http_date: date,
                ..Faults::default()
            }),
            |c| {
                c.resilience.backoff_base = Duration::from_millis(400);
                c.resilience.backoff_max = Duration::from_secs(4);
            },
        )
        .await;
        h.navigate("tickets").await;
        let ids = h.ticket_ids(14);
        let calls = ids
            .iter()
            .map(|id| h.call("halo_tickets_get", json!({"id": id})));
        for r in join_all(calls).await {
            assert_ne!(
                r.is_error,
                Some(true),
                "retry_after={retry_after} date={date}: {}",
                text(&r)
            );
        }
        assert!(h.sim.stats().rate_limited > 0, "the test made Halo say 429");
    }
}

#[tokio::test]
async fn with_20_percent_5xx_reads_succeed_and_creates_land_exactly_once() {
    let h = Harness::start_with(faulty(Faults {
        error_rate: 0.2,
        error_after_apply: 0.5,
        seed: 7,
        ..Faults::default()
    }))
    .await;
    h.navigate("tickets").await;
    for id in h.ticket_ids(30) {
        h.ok("halo_tickets_get", json!({"id": id})).await;
    }
    for page in 1..=5 {
        h.ok(
            "halo_tickets_list",
            json!({"page_no": page, "page_size": 10}),
        )
        .await;
    }
    let mut uncertain = 0;
    for i in 0..15 {
        if h.create_once(&format!("Flaky gateway ticket {i}")).await > 0 {
            uncertain += 1;
        }
    }
    assert!(uncertain > 0, "the seed should make some creates uncertain");
    let tickets = h.sim.records("Tickets");
    for i in 0..15 {
        let summary = format!("Flaky gateway ticket {i}");
        let n = tickets.iter().filter(|t| t["summary"] == summary).count();
        assert_eq!(n, 1, "{summary} landed {n} times");
    }
    assert!(h.sim.stats().injected_errors > 10);
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_recovers_through_a_probe() {
    let h = Harness::start_tuned(SimConfig::default(), |c| {
        c.resilience.breaker_threshold = 3;
        c.resilience.breaker_cooldown = Duration::from_secs(1);
        c.resilience.max_retries = 1;
    })
    .await;
    h.navigate("clients").await;
    h.ok("halo_clients_list", json!({})).await;
    h.sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..3 {
        let e = h.err("halo_clients_list", json!({})).await;
        assert!(e.contains("(HTTP 50"), "{e}");
    }
    let status = h.ok("halo_status", json!({})).await;
    assert_eq!(status["halo"]["circuit_breaker"]["state"], "open");
    let before = h.api_requests();
    let e = h.err("halo_clients_list", json!({})).await;
    assert!(
        e.contains("paused") && e.contains("next try goes out in"),
        "{e}"
    );
    assert_eq!(h.api_requests(), before, "an open breaker sends nothing");

    h.sim.set_faults(Faults::default());
    // Past the cooldown: the next call is the probe.
    skip_time(Duration::from_millis(1100)).await;
    h.ok("halo_clients_list", json!({})).await;
    let status = h.ok("halo_status", json!({})).await;
    let b = &status["halo"]["circuit_breaker"];
    assert_eq!(b["state"], "closed");
    assert_eq!(b["opened"], 1);
    assert_eq!(b["consecutive_failures"], 0);
}

fn requests_to(h: &Harness, path: &str) -> usize {
    h.sim.stats().per_path.get(path).copied().unwrap_or(0)
}

#[tokio::test]
async fn reference_data_is_cached_and_a_write_refreshes_it() {
    let h = Harness::start().await;
    h.navigate("ticket_setup").await;
    let first = h.ok("halo_statuses_list", json!({})).await;
    let used = h.ok("halo_status", json!({})).await["halo"]["rate_budget"]["used"].clone();
    let again = h.ok("halo_statuses_list", json!({"page_size": 5})).await;
    let status = h.ok("halo_status", json!({})).await;
    assert_eq!(
        status["halo"]["rate_budget"]["used"], used,
        "a hit spends no budget"
    );
    assert_eq!(
        requests_to(&h, "/api/status"),
        1,
        "the second list came from the cache"
    );
    assert_eq!(first["records"][0], again["records"][0]);
    let id = first["records"][0]["id"].as_i64().unwrap();
    h.ok("halo_statuses_get", json!({"id": id})).await;
    h.ok("halo_statuses_get", json!({"id": id})).await;
    assert_eq!(requests_to(&h, "/api/status/{id}"), 1);

    // Tickets are live data: never cached.
    h.navigate("tickets").await;
    h.ok("halo_tickets_list", json!({})).await;
    h.ok("halo_tickets_list", json!({})).await;
    assert_eq!(requests_to(&h, "/api/tickets"), 2);

    // A write to statuses drops their cached copies.
    h.navigate("ticket_setup").await;
    let made = h
        .ok(
            "halo_statuses_create",
            json!({"name": "Parts On Backorder"}),
        )
        .await;
    assert!(made["created"]["id"].as_i64().is_some());
    let fresh = h
        .ok("halo_statuses_list", json!({"search": "Backorder"}))
        .await;
    // The list, the POST, and the list again after the write.
    assert_eq!(requests_to(&h, "/api/status"), 3);
    assert_eq!(fresh["record_count"], 1);
    let cache = &h.ok("halo_status", json!({})).await["halo"]["cache"];
    assert!(cache["hits"].as_u64().unwrap() >= 2, "{cache}");
}

#[tokio::test]
async fn identical_reads_in_flight_share_one_request() {
    let h = Harness::start_with(faulty(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    }))
    .await;
    h.navigate("tickets").await;
    let id = h.ticket_ids(1)[0];
    let calls = (0..8).map(|_| h.call("halo_tickets_get", json!({"id": id})));
    let results = join_all(calls).await;
    let first = results[0].structured_content.clone();
    for r in &results {
        assert_ne!(r.is_error, Some(true));
        assert_eq!(r.structured_content, first);
    }
    assert_eq!(requests_to(&h, "/api/tickets/{id}"), 1);
}

#[tokio::test]
async fn broken_answers_are_retried_for_reads_and_reported_for_writes() {
    let h = Harness::start_with(faulty(Faults {
        malformed_rate: 0.3,
        drop_rate: 0.2,
        seed: 11,
        ..Faults::default()
    }))
    .await;
    h.navigate("tickets").await;
    for id in h.ticket_ids(20) {
        h.ok("halo_tickets_get", json!({"id": id})).await;
    }
    let stats = h.sim.stats();
    assert!(stats.malformed > 0 && stats.dropped > 0, "{stats:?}");

    // A write whose connection drops after Halo applied it: reported, not repeated.
    h.sim.set_faults(Faults {
        drop_rate: 1.0,
        error_after_apply: 1.0,
        ..Faults::default()
    });
    let before = h.sim.count("Tickets");
    let e = h
        .err(
            "halo_tickets_create",
            json!({"summary": "Dropped but landed"}),
        )
        .await;
    assert!(e.contains("may or may not have been created"), "{e}");
    assert!(
        e.contains("halo_tickets_list (search: \"Dropped but landed\")"),
        "{e}"
    );
    assert_eq!(
        h.sim.count("Tickets"),
        before + 1,
        "landed once, not repeated"
    );
    // The same when the drop came before Halo applied it: nothing landed, nothing repeated.
    h.sim.set_faults(Faults {
        drop_rate: 1.0,
        error_after_apply: 0.0,
        ..Faults::default()
    });
    let e = h
        .err("halo_tickets_create", json!({"summary": "Dropped early"}))
        .await;
    assert!(e.contains("may or may not have been created"), "{e}");
    assert_eq!(h.sim.count("Tickets"), before + 1);
}

/// A DELETE whose answer was lost is repeated; when the repeat finds the record gone, the
/// delete is reported done rather than "not found".
#[tokio::test]
async fn a_repeated_delete_that_finds_the_record_gone_succeeds() {
    let h = Harness::start_tuned(SimConfig::default(), |c| {
        c.resilience.backoff_base = Duration::from_millis(600);
        c.resilience.backoff_max = Duration::from_secs(2);
    })
    .await;
    h.navigate("tags").await;
    let tag = h.sim.records("Tags")[0]["id"].as_i64().unwrap();
    h.sim.set_faults(Faults {
        drop_rate: 1.0,
        error_after_apply: 1.0,
        ..Faults::default()
    });
    // Faults end once the first DELETE's answer is lost; the repeat waits a backoff of at
    // least 300 ms after it.
    let sim_faults_off = async {
        let dropped = h
            .sim
            .until_logged(|r| r.method == "DELETE", Duration::from_secs(10))
            .await;
        assert!(dropped, "no DELETE reached the simulator");
        h.sim.set_faults(Faults::default());
    };
    let (r, ()) = tokio::join!(
        h.call("halo_tags_delete", json!({"id": tag, "confirm": true})),
        sim_faults_off
    );
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert!(h.sim.record("Tags", tag).is_none());
    let deletes: Vec<u16> = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.status)
        .collect();
    assert_eq!(deletes.len(), 2, "one lost answer, one repeat: {deletes:?}");
    assert_eq!(deletes[1], 404);
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_create() {
    // A port with nothing behind it yet.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let placeholder = Simulator::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut cfg = halo_config(&placeholder);
    cfg.base_url = format!("http://{addr}");
    cfg.auth_url = format!("http://{addr}/auth");
    cfg.resilience.backoff_base = Duration::from_millis(300);
    cfg.resilience.backoff_max = Duration::from_secs(2);
    let (client, _) = mcp_client(HaloClient::new(cfg).unwrap()).await;
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Simulator::start(SimConfig::default(), addr).await.unwrap()
    });
    call_on(&client, "halo_navigate", json!({"domain": "tickets"})).await;
    let r = call_on(
        &client,
        "halo_tickets_create",
        json!({"summary": "Created once Halo came up"}),
    )
    .await;
    let sim = late.await.unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let landed = sim
        .records("Tickets")
        .iter()
        .filter(|t| t["summary"] == "Created once Halo came up")
        .count();
    assert_eq!(landed, 1);
    let _: Value = r.structured_content.unwrap();
}

#[tokio::test]
async fn prewarm_fills_the_cache_before_the_first_question() {
    let sim = halo_mcp::local::simulator(SimConfig::default())
        .await
        .unwrap();
    let halo = HaloClient::new(halo_config(&sim)).unwrap();
    let report = halo_mcp::tools::prewarm(&halo).await;
    assert_eq!(report.failed, 0);
    assert!(report.loaded >= 15, "{report:?}");
    let h = Harness::connect(sim, halo).await;
    let before = h.api_requests();
    h.navigate("ticket_setup").await;
    h.ok("halo_statuses_list", json!({})).await;
    h.ok("halo_ticket_types_list", json!({})).await;
    h.navigate("sla").await;
    h.ok("halo_priorities_list", json!({})).await;
    assert_eq!(
        h.api_requests(),
        before,
        "answered from the prewarmed cache"
    );
}
