//! Tokens: refreshed before expiry, refreshed exactly once on a 401, fetched once for a burst,
//! and refusals explained without the secret.

use std::{net::SocketAddr, time::Duration};

use futures::future::join_all;
use halo_mcp::{
    halo::HaloClient,
    secret::Secret,
    sim::{SimConfig, Simulator},
};
use serde_json::json;

use crate::common::{Harness, halo_config, skip_time};

fn api_401s(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| r.status == 401 && r.path.to_ascii_lowercase().starts_with("/api"))
        .count()
}

#[tokio::test]
async fn expiring_token_is_renewed_without_the_caller_noticing() {
    let h = Harness::start_with(SimConfig {
        token_lifetime: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    h.navigate("clients").await;
    h.ok("halo_clients_list", json!({})).await;
    assert_eq!(h.sim.token_requests(), 1);
    // Past the refresh point (half of a 2 s lifetime), before expiry, then past expiry: either
    // way the caller sees no failure and Halo sees no 401. The client and the simulator both
    // read tokio's clock, so skipping it moves both past those points.
    skip_time(Duration::from_millis(1200)).await;
    h.ok("halo_clients_list", json!({})).await;
    assert_eq!(h.sim.token_requests(), 2);
    skip_time(Duration::from_millis(2200)).await;
    h.ok("halo_clients_list", json!({})).await;
    assert_eq!(h.sim.token_requests(), 3);
    assert_eq!(api_401s(&h), 0);
}

#[tokio::test]
async fn a_401_triggers_exactly_one_refresh() {
    let h = Harness::start().await;
    h.navigate("sites").await;
    h.ok("halo_sites_list", json!({})).await;
    assert_eq!(h.sim.token_requests(), 1);
    h.sim.revoke_tokens();
    h.ok("halo_sites_list", json!({})).await;
    assert_eq!(h.sim.token_requests(), 2, "one refresh after the 401");
    assert_eq!(api_401s(&h), 1, "one 401, then success");
    h.ok("halo_sites_list", json!({})).await;
    assert_eq!(h.sim.token_requests(), 2, "the fresh token is reused");
}

#[tokio::test]
async fn a_burst_fetches_one_token() {
    let h = Harness::start().await;
    h.navigate("users").await;
    let calls = (0..16).map(|i| h.call("halo_users_list", json!({"page_no": 1 + i % 2})));
    for r in join_all(calls).await {
        assert_ne!(r.is_error, Some(true));
    }
    assert_eq!(h.sim.token_requests(), 1);
    // After a revocation, a burst still refreshes once.
    h.sim.revoke_tokens();
    let calls = (0..16).map(|_| h.call("halo_users_list", json!({})));
    for r in join_all(calls).await {
        assert_ne!(r.is_error, Some(true));
    }
    assert_eq!(h.sim.token_requests(), 2);
}

#[tokio::test]
async fn refused_credentials_are_explained_without_the_secret() {
    let sim = Simulator::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut cfg = halo_config(&sim);
    cfg.client_secret = Secret::new("wrong-but-secret-value");
    let h = Harness::connect(sim, HaloClient::new(cfg).unwrap()).await;
    h.navigate("tickets").await;
    let e = h.err("halo_tickets_list", json!({})).await;
    assert!(e.contains("Halo refused the API credentials"), "{e}");
    assert!(e.contains("HALO_CLIENT_SECRET"), "{e}");
    assert!(!e.contains("wrong-but-secret-value"));
    let status = h.ok("halo_status", json!({})).await.to_string();
    assert!(status.contains("invalid_client"), "{status}");
    assert!(!status.contains("wrong-but-secret-value"));
}

#[tokio::test]
async fn tenant_goes_on_the_token_url() {
    let config = SimConfig {
        tenant: Some("acme".into()),
        ..SimConfig::default()
    };
    let h = Harness::start_with(config.clone()).await;
    h.navigate("agents").await;
    let me = h.ok("halo_agents_me", json!({})).await;
    assert!(me["id"].as_i64().is_some(), "{me}");

    // Without the tenant the simulator (like hosted Halo) refuses the token request.
    let sim = Simulator::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut cfg = halo_config(&sim);
    cfg.tenant = None;
    let h = Harness::connect(sim, HaloClient::new(cfg).unwrap()).await;
    h.navigate("agents").await;
    let e = h.err("halo_agents_me", json!({})).await;
    assert!(e.contains("HALO_TENANT"), "{e}");
}

#[tokio::test]
async fn a_hung_halo_is_cut_off_by_the_timeout() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let sim = Simulator::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut cfg = halo_config(&sim);
    cfg.base_url = format!("http://{addr}");
    cfg.auth_url = format!("http://{addr}/auth");
    cfg.timeout = Duration::from_millis(500);
    let h = Harness::connect(sim, HaloClient::new(cfg).unwrap()).await;
    h.navigate("tickets").await;
    let started = std::time::Instant::now();
    let e = h.err("halo_tickets_list", json!({})).await;
    assert!(e.contains("timeout"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
