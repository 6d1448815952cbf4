//! Cancellation: a client's `notifications/cancelled` stops the work the call started, and a
//! caller that goes away never leaves its shared read behind for others to trip over.

use std::time::{Duration, Instant};

use futures::FutureExt;
use halo_mcp::{
    halo::{Caching, HaloClient},
    local,
    sim::{Faults, LoggedRequest, SimConfig, Simulator},
};
use rmcp::{
    model::{CallToolRequest, CallToolRequestParams, ClientRequest},
    service::PeerRequestOptions,
};
use serde_json::{Map, json};

use crate::common::{Harness, halo_config};

/// Every simulated answer takes this long, so a scan spends its time waiting on pages.
const LATENCY: Duration = Duration::from_millis(100);

fn is_asset_page(r: &LoggedRequest) -> bool {
    r.method == "GET" && r.path.eq_ignore_ascii_case("/api/Asset")
}

/// When each asset page request reached the simulator.
fn asset_pages(sim: &Simulator) -> Vec<Instant> {
    sim.requests()
        .iter()
        .filter(|r| is_asset_page(r))
        .map(|r| r.at)
        .collect()
}

/// Waits until the call in flight has reported progress after reading its first asset page
/// (the scan reads the asset types first).
async fn first_progress(client: &local::LocalClient, sim: &Simulator) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let notified = client.notified.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !client.progress.lock().is_empty() && !asset_pages(sim).is_empty() {
            return;
        }
        tokio::time::timeout_at(deadline, notified)
            .await
            .expect("a progress notification within 10 s");
    }
}

/// A simulator with 2,088 assets answering in 100 ms, and a session in the duplicates domain.
async fn slow_scan_harness() -> (Harness, HaloClient) {
    let sim = local::simulator(SimConfig {
        extra_assets: 2000,
        faults: Faults {
            latency: LATENCY,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let halo = HaloClient::new(halo_config(&sim)).unwrap();
    let h = Harness::connect(sim, halo.clone()).await;
    h.navigate("duplicates").await;
    (h, halo)
}

/// Starts a whole-tenant duplicate scan as a request that can be cancelled. rmcp's client
/// gives the request a progress token, so the server reports each page.
async fn start_scan(client: &local::Client) -> rmcp::service::RequestHandle<rmcp::RoleClient> {
    let mut params = CallToolRequestParams::new("halo_assets_scan_duplicates");
    params.arguments = Some(Map::new());
    client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap()
}

/// 2,088 assets read 100 a page, 100 ms a page: the scan needs 21 pages and about two
/// seconds. It is cancelled once its first page is in; from then on it must fetch nothing.
#[tokio::test]
async fn a_cancelled_scan_fetches_no_more_pages() {
    let (h, halo) = slow_scan_harness().await;

    let call = start_scan(&h.client).await;
    first_progress(&h.handler, &h.sim).await;
    let before = asset_pages(&h.sim).len();
    assert!(before >= 1, "the scan had started");
    call.cancel(Some("the user changed their mind".into()))
        .await
        .unwrap();
    // The server reads a session's messages in order, so once a later call is answered the
    // cancellation has been processed.
    h.ok("halo_status", json!({})).await;
    let processed = Instant::now();

    // Sentinels: reads sent after the cancellation, one after another. Each is a simulator
    // round trip, time in which a scan still running would have fetched a page.
    for i in 0..4 {
        halo.get(
            "/Status",
            &[("sentinel".into(), i.to_string())],
            Caching::Live,
        )
        .await
        .unwrap();
    }
    let first_sentinel = h
        .sim
        .requests()
        .iter()
        .find(|r| r.query.contains("sentinel=0"))
        .map(|r| r.at)
        .unwrap();
    let pages = asset_pages(&h.sim);
    let after_cancel = pages.iter().filter(|at| **at > processed).count();
    let after_sentinel = pages.iter().filter(|at| **at > first_sentinel).count();
    eprintln!(
        "asset pages: {before} when cancelled, {} in all, {after_cancel} arrived after the \
         cancellation was processed, {after_sentinel} after the first sentinel",
        pages.len()
    );
    assert_eq!(after_sentinel, 0, "pages fetched after the cancellation");
    assert!(
        after_cancel <= 1,
        "only the page already in flight may arrive late"
    );
    assert!(pages.len() < 21, "the scan ran to its end: {}", pages.len());
    // The dropped page request gave its rate-budget slot back, as halo_status shows.
    let status = h.ok("halo_status", json!({})).await;
    let halo_status = &status["halo"];
    assert_eq!(halo_status["rate_budget"]["in_flight"], 0, "{halo_status}");
    let cache = &halo_status["cache"];
    assert_eq!(cache["max_entries"], 10_000, "{cache}");
    assert_eq!(cache["max_bytes"], 64 << 20, "{cache}");
    for field in ["entries", "bytes", "evictions", "expired"] {
        assert!(cache[field].is_u64(), "{field}: {cache}");
    }
}

/// Two identical scans share their page reads; cancelling one leaves the other its every page.
#[tokio::test]
async fn cancelling_one_of_two_identical_scans_leaves_the_other_whole() {
    let (h, halo) = slow_scan_harness().await;
    let cancelled = start_scan(&h.client).await;
    let kept = h.ok("halo_assets_scan_duplicates", json!({}));
    tokio::pin!(kept);
    // Both scans are under way once the first page has been read.
    tokio::select! {
        () = first_progress(&h.handler, &h.sim) => {}
        r = &mut kept => panic!("the scan ended before any progress: {r}"),
    }
    cancelled.cancel(None).await.unwrap();
    let r = kept.await;
    // Every asset and every asset type (the scan reads the types to find the key fields).
    let all = h.sim.records("Asset").len() + h.sim.records("AssetType").len();
    assert_eq!(r["records_read"], all, "the remaining scan read every page");
    assert_eq!(halo.status().rate_budget.in_flight, 0);
    // Started together, 100 ms a page: the second scan's first page joined the first's.
    assert!(
        halo.status().cache.shared_in_flight >= 1,
        "the scans shared no read, so this test proved nothing"
    );
}

/// The first caller of a shared read goes away mid-request; the second receives the shared
/// (failed) answer; a third identical read, later, must get its own answer, not the old one.
#[tokio::test]
async fn a_dropped_first_caller_does_not_poison_later_identical_reads() {
    for caching in [Caching::Live, Caching::Reference] {
        let sim = local::simulator(SimConfig::default()).await.unwrap();
        let mut cfg = halo_config(&sim);
        cfg.resilience.max_retries = 0;
        let halo = HaloClient::new(cfg).unwrap();
        sim.set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        let mut first = halo.get("/Status", &[], caching).boxed();
        assert!(futures::poll!(&mut first).is_pending());
        let mut second = halo.get("/Status", &[], caching).boxed();
        assert!(futures::poll!(&mut second).is_pending());
        assert_eq!(halo.status().cache.shared_in_flight, 1);
        drop(first);
        assert!(second.await.is_err(), "{caching:?}: the injected failure");

        sim.set_faults(Faults::default());
        let asked = Instant::now();
        let statuses = halo.get("/Status", &[], caching).await;
        assert!(statuses.is_ok(), "{caching:?}: {statuses:?}");
        let fresh = sim
            .requests()
            .iter()
            .filter(|r| r.path.eq_ignore_ascii_case("/api/Status") && r.at >= asked)
            .count();
        assert_eq!(fresh, 1, "{caching:?}: the later read made its own request");
        let cache = halo.status().cache;
        assert_eq!(cache.shared_in_flight, 1, "{caching:?}");
        assert_eq!(cache.entries, usize::from(caching == Caching::Reference));
        assert_eq!(halo.status().rate_budget.in_flight, 0);
    }
}

async fn halo_status(client: &local::Client) -> serde_json::Value {
    let r = local::call(client, "halo_status", json!({})).await.unwrap();
    r.structured_content.unwrap()
}

/// Over Streamable HTTP (the binary, a session per client), `notifications/cancelled` reaches
/// the call the same way. A dropped HTTP connection is not a cancellation here: rmcp 3.9 only
/// treats a disconnect as one in stateless mode, and the protocol versions this server speaks
/// say a disconnect SHOULD NOT be read as one (the client may resume the stream).
#[tokio::test]
async fn a_cancel_over_streamable_http_stops_the_scan() {
    use rmcp::{
        ServiceExt,
        transport::{
            StreamableHttpClientTransport,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    let sim = local::simulator(SimConfig {
        extra_assets: 2000,
        faults: Faults {
            latency: LATENCY,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let token = "operator-token-0123456789";
    let mut env = crate::remote::env_for(&sim);
    env.extend([
        ("HALO_CLIENT_ID", "demo-client".to_owned()),
        ("HALO_CLIENT_SECRET", "demo-secret".to_owned()),
        ("MCP_AUTH", "env".to_owned()),
        ("MCP_AUTH_TOKEN", token.to_owned()),
    ]);
    let server = crate::remote::Server::start(&crate::remote::as_refs(&env), &["--mode", "tree"]);
    halo_mcp::halo::install_crypto();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", server.base))
            .auth_header(token.to_owned()),
    );
    let handler = local::LocalClient::default();
    let client = handler.clone().serve(transport).await.unwrap();
    local::call(&client, "halo_navigate", json!({"domain": "duplicates"}))
        .await
        .unwrap();

    let call = start_scan(&client).await;
    first_progress(&handler, &sim).await;
    call.cancel(Some("closed the chat".into())).await.unwrap();
    // A session's messages reach the server in the order they were posted.
    halo_status(&client).await;

    let sentinel = HaloClient::new(halo_config(&sim)).unwrap();
    for i in 0..4 {
        sentinel
            .get(
                "/Status",
                &[("sentinel".into(), i.to_string())],
                Caching::Live,
            )
            .await
            .unwrap();
    }
    let first_sentinel = sim
        .requests()
        .iter()
        .find(|r| r.query.contains("sentinel=0"))
        .map(|r| r.at)
        .unwrap();
    let pages = asset_pages(&sim);
    assert_eq!(
        pages.iter().filter(|at| **at > first_sentinel).count(),
        0,
        "pages fetched after the cancellation"
    );
    assert!(pages.len() < 21, "the scan ran to its end");
    let s = halo_status(&client).await;
    assert_eq!(s["halo"]["rate_budget"]["in_flight"], 0, "{s}");
    assert!(
        server.logs().contains("tool call cancelled by the client"),
        "{}",
        server.logs()
    );
}
