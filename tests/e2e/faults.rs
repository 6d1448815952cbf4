//! Faults a careful client survives, each reproducible with the simulator's fault flags:
//! Halo's own 500s on a mixed workload (`--error-rate 0.2 --error-status 500
//! --error-after-apply 0.5`), a tenant whose limit is lower than configured and that sends 429
//! without `Retry-After` (`--rate-limit 10/1s`), and a token endpoint that fails or hangs
//! (`--token-fault error|drop|hang`).

use std::time::Duration;

use futures::future::join_all;
use halo_mcp::{
    halo::RateLimit,
    sim::{Faults, SimConfig, Simulator, TokenFault},
};
use serde_json::{Value, json};

use crate::common::{Harness, faulty, text};

/// Requests the simulator logged with this method and a path starting with `prefix`
/// (lowercase).
fn logged(sim: &Simulator, method: &str, prefix: &str) -> Vec<(String, u16)> {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path.to_ascii_lowercase().starts_with(prefix))
        .map(|r| (r.path.clone(), r.status))
        .collect()
}

/// 250 calls (150 gets, 40 lists, 40 updates, 20 creates) with Halo answering 500 to 20 % of
/// requests, half of those after applying them. Reads never fail; updates are confirmed (read
/// back when their answer is lost); creates are never repeated blindly, so none is duplicated
/// or lost.
#[tokio::test]
async fn halo_500s_on_a_mixed_workload_lose_no_read_and_duplicate_no_write() {
    let h = Harness::start_tuned(
        faulty(Faults {
            error_rate: 0.2,
            error_status: Some(500),
            error_after_apply: 0.5,
            seed: 20,
            ..Faults::default()
        }),
        // About 400 requests in well under 5 minutes: more than Halo's 300 per 5 minutes, and
        // the rate limit is not what this test is about.
        |c| {
            c.resilience.rate_limit = RateLimit {
                limit: 3000,
                window: Duration::from_secs(300),
            }
        },
    )
    .await;
    h.navigate("tickets").await;
    let ids = h.ticket_ids(60);
    let (mut failed_reads, mut failed_updates, mut uncertain_updates) = (0, 0, 0);
    let mut uncertain_creates = 0;
    let mut last_summary = std::collections::BTreeMap::new();
    let mut created = Vec::new();
    for i in 0..250usize {
        let id = ids[i % ids.len()];
        match i % 25 {
            0..=14 => {
                let r = h.call("halo_tickets_get", json!({"id": id})).await;
                if r.is_error == Some(true) {
                    failed_reads += 1;
                    eprintln!("read failed: {}", text(&r));
                }
            }
            15..=18 => {
                let r = h
                    .call(
                        "halo_tickets_list",
                        json!({"page_no": i % 7 + 1, "page_size": 10}),
                    )
                    .await;
                if r.is_error == Some(true) {
                    failed_reads += 1;
                    eprintln!("list failed: {}", text(&r));
                }
            }
            19..=22 => {
                let summary = format!("Updated under 500s, call {i}");
                let r = h
                    .call("halo_tickets_update", json!({"id": id, "summary": summary}))
                    .await;
                if r.is_error == Some(true) {
                    let e = text(&r);
                    if e.contains("may or may not have been applied") {
                        uncertain_updates += 1;
                    } else {
                        failed_updates += 1;
                        eprintln!("update failed: {e}");
                    }
                } else {
                    last_summary.insert(id, summary);
                }
            }
            _ => {
                let summary = format!("Created under 500s, call {i}");
                uncertain_creates += h.create_once(&summary).await;
                created.push(summary);
            }
        }
    }
    let stats = h.sim.stats();
    let tickets = h.sim.records("Tickets");
    let duplicated = created
        .iter()
        .filter(|s| tickets.iter().filter(|t| t["summary"] == **s).count() > 1)
        .count();
    let lost_creates = created
        .iter()
        .filter(|s| !tickets.iter().any(|t| t["summary"] == **s))
        .count();
    let lost_updates = last_summary
        .iter()
        .filter(|(id, s)| {
            h.sim.record("Tickets", **id).map(|t| t["summary"].clone()) != Some(json!(s))
        })
        .count();
    eprintln!(
        "500s: {} injected; failed reads {failed_reads}, failed updates {failed_updates}, \
         unconfirmed updates {uncertain_updates}, uncertain create answers \
         {uncertain_creates}, duplicated {duplicated}, lost creates {lost_creates}, lost \
         updates {lost_updates}",
        stats.injected_errors
    );
    assert!(stats.injected_errors >= 40, "{stats:?}");
    assert_eq!(failed_reads, 0);
    assert_eq!(failed_updates, 0);
    assert_eq!(uncertain_updates, 0, "every update was confirmed");
    assert_eq!((duplicated, lost_creates, lost_updates), (0, 0, 0));
}

/// Waits until the simulator has logged a request with `method` on a path starting with
/// `prefix`.
async fn until_logged(sim: &Simulator, method: &str, prefix: &str) {
    let seen = sim
        .until_logged(
            |r| r.method == method && r.path.to_ascii_lowercase().starts_with(prefix),
            Duration::from_secs(10),
        )
        .await;
    assert!(seen, "no {method} {prefix}");
}

/// An update answered 500 after Halo applied it is read back and reported done, not sent
/// again; one answered 500 before Halo applied it is sent again once the read-back shows the
/// fields do not hold.
#[tokio::test]
async fn an_update_whose_answer_was_lost_is_checked_before_it_is_repeated() {
    for (after_apply, posts) in [(1.0, 1), (0.0, 2)] {
        let h = Harness::start_tuned(SimConfig::default(), |c| {
            // The read-back waits this long: time enough to end the fault once the POST is seen.
            c.resilience.backoff_base = Duration::from_secs(1);
            c.resilience.backoff_max = Duration::from_secs(2);
        })
        .await;
        h.navigate("tickets").await;
        let id = h.ticket_ids(1)[0];
        let summary = format!("Checked update, applied first: {after_apply}");
        h.sim.set_faults(Faults {
            error_rate: 1.0,
            error_status: Some(500),
            error_after_apply: after_apply,
            writes_only: true,
            ..Faults::default()
        });
        // The faults end once the first POST has been answered 500 (the read-back waits a
        // backoff of at least half a second after it).
        let end_faults = async {
            until_logged(&h.sim, "POST", "/api/tickets").await;
            h.sim.set_faults(Faults::default());
        };
        let (r, ()) = tokio::join!(
            h.call("halo_tickets_update", json!({"id": id, "summary": summary})),
            end_faults
        );
        assert_ne!(r.is_error, Some(true), "{}", text(&r));
        let posts_seen = logged(&h.sim, "POST", "/api/tickets");
        assert_eq!(posts_seen.len(), posts, "{posts_seen:?}");
        assert_eq!(posts_seen[0].1, 500);
        assert_eq!(
            h.sim.record("Tickets", id).unwrap()["summary"],
            json!(summary)
        );
        let structured = r.structured_content.unwrap();
        assert_eq!(structured["updated"]["summary"], json!(summary));
    }
}

/// A create answered 500 is never repeated: whether Halo applied it is unknown, and the tool
/// says so as before.
#[tokio::test]
async fn a_create_answered_500_is_reported_uncertain_not_repeated() {
    let h = Harness::start_with(faulty(Faults {
        error_rate: 1.0,
        error_status: Some(500),
        error_after_apply: 1.0,
        ..Faults::default()
    }))
    .await;
    h.navigate("tickets").await;
    let e = h
        .err(
            "halo_tickets_create",
            json!({"summary": "Answered 500 after landing"}),
        )
        .await;
    assert!(e.contains("may or may not have been created"), "{e}");
    assert!(e.contains("HTTP 500"), "{e}");
    assert_eq!(logged(&h.sim, "POST", "/api/tickets").len(), 1);
    let landed = h
        .sim
        .records("Tickets")
        .iter()
        .filter(|t| t["summary"] == "Answered 500 after landing")
        .count();
    assert_eq!(landed, 1);
}

/// A burst of 60 distinct reads against a tenant that allows 10 per second and answers 429
/// without `Retry-After`, with the budget configured at the default's pace scaled ten times
/// faster (300 per 30 s; the default 300 per 300 s against 10 per 10 s is the same shape, ten
/// times slower). The budget learns the lower limit, queues calls instead of failing them, and
/// sends Halo fewer 429-bound requests than a client that only backs off.
#[tokio::test]
async fn a_burst_against_a_lower_limit_without_retry_after_loses_no_call() {
    let halo_limit = (10, Duration::from_secs(1));
    let configured = RateLimit {
        limit: 300,
        window: Duration::from_secs(30),
    };
    let h = Harness::start_tuned(
        faulty(Faults {
            rate_limit: Some(halo_limit),
            ..Faults::default()
        }),
        |c| c.resilience.rate_limit = configured,
    )
    .await;
    h.navigate("tickets").await;
    let ids = h.ticket_ids(60);
    assert_eq!(ids.len(), 60);
    let started = std::time::Instant::now();
    let calls = ids
        .iter()
        .map(|id| h.call("halo_tickets_get", json!({"id": id, "fields": ["summary"]})));
    let results = join_all(calls).await;
    let took = started.elapsed();
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.is_error == Some(true))
        .map(text)
        .collect();
    let stats = h.sim.stats();
    let status = h.ok("halo_status", json!({})).await;
    let budget = &status["halo"]["rate_budget"];
    eprintln!(
        "60-call burst vs 10/1s, no Retry-After: {} failed, {} 429s, {:.1} s, budget {budget}",
        failed.len(),
        stats.rate_limited,
        took.as_secs_f64()
    );
    assert!(failed.is_empty(), "failed calls: {failed:?}");
    assert!(stats.max_in_window <= 10);
    // A client that only backs off: measured below, on the same simulator settings.
    let naive = naive_burst(halo_limit).await;
    eprintln!(
        "naive client, same burst: {} failed, {} 429s",
        naive.0, naive.1
    );
    assert!(
        stats.rate_limited < naive.1,
        "{} 429s, a backing-off client {}",
        stats.rate_limited,
        naive.1
    );
    // The learned figure is shown, with the configured one beside it.
    assert!(budget["limit"].as_u64().unwrap() < 300, "{budget}");
    assert_eq!(budget["configured"]["limit"], 300, "{budget}");
    assert_eq!(budget["rate_limited"], stats.rate_limited, "{budget}");
    assert!(budget["shrinks"].as_u64().unwrap() >= 1, "{budget}");
}

/// The same 60-call burst from a client that only retries 429s after backoff (3 retries,
/// exponential from 500 ms with jitter, as this server did before it learned limits): failed
/// calls and 429s.
async fn naive_burst(halo_limit: (u32, Duration)) -> (usize, usize) {
    let sim = halo_mcp::local::simulator(faulty(Faults {
        rate_limit: Some(halo_limit),
        ..Faults::default()
    }))
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/auth/token", sim.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
            ("scope", "all"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let ids: Vec<i64> = sim
        .records("Tickets")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .take(60)
        .collect();
    let calls = ids.iter().map(|id| {
        let (http, token, url) = (
            http.clone(),
            token.clone(),
            format!("{}/api/Tickets/{id}", sim.base_url()),
        );
        async move {
            for attempt in 0..4u32 {
                let status = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .status();
                if status.as_u16() != 429 {
                    return true;
                }
                let full = Duration::from_millis(500) * 2u32.pow(attempt);
                tokio::time::sleep(full.mul_f64(0.5 + fastrand::f64() * 0.5)).await;
            }
            false
        }
    });
    let ok = join_all(calls).await;
    (
        ok.iter().filter(|ok| !**ok).count(),
        sim.stats().rate_limited,
    )
}

/// The token endpoint fails (503, a dropped connection, or no answer at all): nothing reaches
/// the API, so a create says it was not created and is safe to try again, rather than "may or
/// may not have been created".
#[tokio::test]
async fn a_failed_token_request_means_not_created() {
    for fault in [TokenFault::Error, TokenFault::Drop, TokenFault::Hang] {
        let h = Harness::start_tuned(
            faulty(Faults {
                token: Some(fault),
                ..Faults::default()
            }),
            |c| {
                c.timeout = Duration::from_millis(300);
                c.resilience.max_retries = 1;
            },
        )
        .await;
        h.navigate("tickets").await;
        let e = h
            .err("halo_tickets_create", json!({"summary": "Never sent"}))
            .await;
        assert!(
            e.contains("not created") && e.contains("safe to try again"),
            "{fault:?}: {e}"
        );
        assert!(!e.contains("may or may not"), "{fault:?}: {e}");
        assert!(e.contains("token endpoint"), "{fault:?}: {e}");
        assert_eq!(h.api_requests(), 0, "{fault:?}: the API was never called");
        // A hung request is never answered, so never logged.
        assert!(fault == TokenFault::Hang || h.sim.stats().token_faults >= 1);
        // Reads say what failed, too.
        let e = h.err("halo_tickets_list", json!({})).await;
        assert!(e.contains("token endpoint"), "{fault:?}: {e}");
        // Once the token endpoint answers again, the same create goes through, once.
        h.sim.set_faults(Faults::default());
        h.ok("halo_tickets_create", json!({"summary": "Never sent"}))
            .await;
        let landed = h
            .sim
            .records("Tickets")
            .iter()
            .filter(|t| t["summary"] == "Never sent")
            .count();
        assert_eq!(landed, 1, "{fault:?}");
    }
}

/// A token request that fails once is retried even for a create: the API never saw it.
#[tokio::test]
async fn a_create_is_retried_when_only_the_token_request_failed() {
    let h = Harness::start_tuned(
        faulty(Faults {
            token: Some(TokenFault::Error),
            ..Faults::default()
        }),
        |c| {
            c.resilience.backoff_base = Duration::from_millis(500);
            c.resilience.backoff_max = Duration::from_secs(1);
        },
    )
    .await;
    h.navigate("tickets").await;
    let heal = async {
        let failed = h
            .sim
            .until_logged(
                |r| r.fault.as_deref() == Some("token"),
                Duration::from_secs(10),
            )
            .await;
        assert!(failed, "no failed token request");
        h.sim.set_faults(Faults::default());
    };
    let (r, ()) = tokio::join!(
        h.call(
            "halo_tickets_create",
            json!({"summary": "Created after a token failure"})
        ),
        heal
    );
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(logged(&h.sim, "POST", "/api/tickets").len(), 1);
}

/// The learned limit is shown by `halo://rate-limit` as by `halo_status`.
#[tokio::test]
async fn the_learned_limit_shows_in_the_rate_limit_resource() {
    let h = Harness::start_tuned(
        faulty(Faults {
            rate_limit: Some((3, Duration::from_secs(1))),
            ..Faults::default()
        }),
        |c| {
            c.resilience.rate_limit = RateLimit {
                limit: 100,
                window: Duration::from_secs(10),
            }
        },
    )
    .await;
    h.navigate("tickets").await;
    let ids = h.ticket_ids(8);
    let calls = ids
        .iter()
        .map(|id| h.call("halo_tickets_get", json!({"id": id})));
    for r in join_all(calls).await {
        assert_ne!(r.is_error, Some(true), "{}", text(&r));
    }
    let r = h
        .client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "halo://rate-limit".to_owned(),
        ))
        .await
        .unwrap();
    let body = match &r.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let v: Value = serde_json::from_str(&body).unwrap();
    let budget = &v["rate_budget"];
    assert!(budget["limit"].as_u64().unwrap() < 100, "{budget}");
    assert_eq!(budget["configured"]["limit"], 100, "{budget}");
    assert!(budget["rate_limited"].as_u64().unwrap() >= 1, "{budget}");
}

/// The unscaled case, at default settings (300 per 300 s) but `HALO_RATE_WAIT` 120 s, against
/// a tenant allowing 10 per 10 s without `Retry-After`. The burst needs about 70 s, so the
/// default wait of 60 s is not enough for its last calls (measured: 10 of 60 failed). Over a
/// minute, so run on demand (`cargo test --test e2e -- --ignored default_settings`). Prints
/// failed calls, 429s and the longest call.
#[tokio::test]
#[ignore = "takes over a minute; run on demand to measure"]
async fn a_burst_at_default_settings_against_10_per_10_s() {
    let h = Harness::start_tuned(
        faulty(Faults {
            rate_limit: Some((10, Duration::from_secs(10))),
            ..Faults::default()
        }),
        |c| c.resilience.rate_wait = Duration::from_secs(120),
    )
    .await;
    h.navigate("tickets").await;
    let ids = h.ticket_ids(60);
    let started = std::time::Instant::now();
    let h = &h;
    let calls = ids.iter().map(|id| async move {
        let t = std::time::Instant::now();
        let r = h
            .call("halo_tickets_get", json!({"id": id, "fields": ["summary"]}))
            .await;
        (r, t.elapsed())
    });
    let results = join_all(calls).await;
    let failed: Vec<String> = results
        .iter()
        .filter(|(r, _)| r.is_error == Some(true))
        .map(|(r, _)| text(r))
        .collect();
    let longest = results.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let stats = h.sim.stats();
    let status = h.ok("halo_status", json!({})).await;
    eprintln!(
        "default settings, 60-call burst vs 10/10s, no Retry-After: {} failed, {} 429s, \
         {:.1} s in all, longest call {:.1} s, max in a window {}, budget {}",
        failed.len(),
        stats.rate_limited,
        started.elapsed().as_secs_f64(),
        longest.as_secs_f64(),
        stats.max_in_window,
        status["halo"]["rate_budget"]
    );
    assert!(failed.is_empty(), "failed calls: {failed:?}");
    let naive = naive_burst((10, Duration::from_secs(10))).await;
    eprintln!(
        "naive client, same burst: {} failed, {} 429s",
        naive.0, naive.1
    );
    assert!(stats.rate_limited < naive.1);
}
