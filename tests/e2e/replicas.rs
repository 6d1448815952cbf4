//! Several replicas of the real binary on one Redis, against one simulated Halo with a tight
//! rate limit: together they keep within Halo's limit, a tree session outlives its replica,
//! and a Redis outage costs neither failed calls nor an over-limit burst.
//!
//! Each test starts its own `redis-server` on a free loopback port (skipped with a message
//! when the binary is missing, except in CI).

use std::time::{Duration, Instant};

use futures::future::join_all;
use halo_mcp::sim::{Faults, SimConfig, Simulator};
use serde_json::{Value, json};

use crate::{
    redis_server::start_or_skip,
    remote::{
        DEMO, McpClient, REDIRECT, Server, VERIFIER, as_refs, authorize, env_for, exchange, http,
        mcp, token,
    },
};

const TOKEN: &str = "replica-token-0123456789";
const LIMIT: u32 = 10;
const WINDOW: Duration = Duration::from_secs(2);

async fn limited_sim() -> Simulator {
    halo_mcp::local::simulator(SimConfig {
        faults: Faults {
            rate_limit: Some((LIMIT, WINDOW)),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A replica: the real binary on the shared Redis, every call reaching Halo (no cache).
fn replica(sim: &Simulator, redis_url: &str) -> Server {
    let mut env = env_for(sim);
    env.extend([
        ("HALO_CLIENT_ID", "demo-client".to_owned()),
        ("HALO_CLIENT_SECRET", "demo-secret".to_owned()),
        ("MCP_AUTH", "env".to_owned()),
        ("MCP_AUTH_TOKEN", TOKEN.to_owned()),
        ("HALO_RATE_LIMIT", format!("{LIMIT}/{}s", WINDOW.as_secs())),
        ("HALO_CACHE_TTL", "0".to_owned()),
        ("HALO_MCP_STATE", redis_url.to_owned()),
        ("HALO_MCP_REPLICAS", "3".to_owned()),
    ]);
    Server::start(&as_refs(&env), &["--mode", "tree"])
}

fn ticket_ids(sim: &Simulator, n: usize) -> Vec<i64> {
    sim.records("Tickets")
        .iter()
        .filter(|t| t["deleted"] != json!(true))
        .filter_map(|t| t["id"].as_i64())
        .take(n)
        .collect()
}

/// A client on each replica, in the tickets domain.
async fn clients(servers: &[Server]) -> Vec<McpClient> {
    let mut out = Vec::new();
    for s in servers {
        let c = mcp(&s.base, Some(TOKEN)).await.unwrap();
        tool(&c, "halo_navigate", json!({"domain": "tickets"}))
            .await
            .unwrap();
        out.push(c);
    }
    out
}

async fn tool(c: &McpClient, name: &str, args: Value) -> Result<Value, String> {
    let mut p = rmcp::model::CallToolRequestParams::new(name.to_owned());
    p.arguments = args.as_object().cloned();
    let r = c.call_tool(p).await.map_err(|e| e.to_string())?;
    if r.is_error == Some(true) {
        return Err(format!("{:?}", r.content));
    }
    Ok(r.structured_content.unwrap_or(Value::Null))
}

/// `ids` read spread over the clients, all at once; the failures.
async fn burst(clients: &[McpClient], ids: &[i64]) -> Vec<String> {
    let calls = ids.iter().enumerate().map(|(i, id)| {
        tool(
            &clients[i % clients.len()],
            "halo_tickets_get",
            json!({"id": id, "fields": ["summary"]}),
        )
    });
    join_all(calls)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

fn assert_within_limit(sim: &Simulator) -> usize {
    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 0, "Halo never had to say 429");
    let max = sim.max_requests_in(WINDOW);
    assert!(
        max <= LIMIT as usize,
        "Halo saw {max} requests in one window (limit {LIMIT})"
    );
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_keep_within_one_budget() {
    let Some(redis) = start_or_skip() else {
        return;
    };
    let sim = limited_sim().await;
    let servers: Vec<Server> = (0..3).map(|_| replica(&sim, &redis.url())).collect();
    let clients = clients(&servers).await;
    let ids = ticket_ids(&sim, 30);
    let started = Instant::now();
    let failed = burst(&clients, &ids).await;
    assert!(failed.is_empty(), "failed calls: {failed:?}");
    let max = assert_within_limit(&sim);
    eprintln!(
        "replicas: 30 calls over 3 replicas in {:.1} s; Halo's busiest {} s window held {max} \
         requests (limit {LIMIT}); 0 failed",
        started.elapsed().as_secs_f64(),
        WINDOW.as_secs()
    );
    // Three replicas each on their own budget would have sent 30 at once.
    assert!(
        started.elapsed() >= WINDOW * 2,
        "the replicas waited for each other"
    );
    for s in &servers {
        assert!(s.logs().contains("shared state in Redis"), "{}", s.logs());
    }
}

/// One JSON-RPC message over raw HTTP (the session id is the point here, so no MCP client that
/// hides it); the answer read from JSON or SSE.
async fn rpc(base: &str, session: Option<&str>, body: Value) -> (Option<String>, Value) {
    let mut req = http()
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    let value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .or_else(|| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    (sid, value)
}

fn call_body(id: u64, name: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": args}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_session_outlives_its_replica() {
    let Some(redis) = start_or_skip() else {
        return;
    };
    let sim = limited_sim().await;
    let a = replica(&sim, &redis.url());
    let b = replica(&sim, &redis.url());
    let (sid, init) = rpc(
        &a.base,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "replica-test", "version": "1"}}}),
    )
    .await;
    let sid = sid.expect("a session id");
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let r = http()
        .post(format!("{}/mcp", a.base))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (_, nav) = rpc(
        &a.base,
        Some(&sid),
        call_body(2, "halo_navigate", json!({"domain": "tickets"})),
    )
    .await;
    assert_ne!(nav["result"]["isError"], json!(true), "{nav}");

    // The replica dies (no goodbye); the load balancer sends the session's next request to B.
    drop(a);
    let id = ticket_ids(&sim, 1)[0];
    let (_, got) = rpc(
        &b.base,
        Some(&sid),
        call_body(
            3,
            "halo_tickets_get",
            json!({"id": id, "fields": ["summary"]}),
        ),
    )
    .await;
    assert_ne!(got["result"]["isError"], json!(true), "{got}");
    assert_eq!(got["result"]["structuredContent"]["id"], json!(id), "{got}");
    let (_, list) = rpc(
        &b.base,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"halo_tickets_get"),
        "still in tickets: {names:?}"
    );
    assert!(b.logs().contains("MCP session resumed on this replica"));

    // An id no replica opened is still unknown everywhere.
    let r = http()
        .post(format!("{}/mcp", b.base))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", "no-such-session")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_falls_back_to_shares_without_failures_or_overload() {
    let Some(mut redis) = start_or_skip() else {
        return;
    };
    let port = redis.port;
    let sim = limited_sim().await;
    let servers: Vec<Server> = (0..3).map(|_| replica(&sim, &redis.url())).collect();
    let clients = clients(&servers).await;
    let ids = ticket_ids(&sim, 36);

    let failed = burst(&clients, &ids[..12]).await;
    assert!(failed.is_empty(), "failed calls: {failed:?}");
    // Redis goes away in the middle of the run.
    redis.stop();
    let failed = burst(&clients, &ids[12..24]).await;
    assert!(failed.is_empty(), "failed calls without Redis: {failed:?}");
    let max_out = assert_within_limit(&sim);
    for s in &servers {
        assert!(
            s.logs().contains("using this replica's share"),
            "{}",
            s.logs()
        );
    }
    // Redis is back (empty): the replicas return to it, with what they sent meanwhile.
    let _redis = crate::redis_server::RedisServer::start_on(port)
        .unwrap_or_else(|_| panic!("redis-server did not restart"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rest = ids[24..].to_vec();
    loop {
        let failed = burst(&clients, &rest).await;
        assert!(
            failed.is_empty(),
            "failed calls after Redis returned: {failed:?}"
        );
        if servers
            .iter()
            .all(|s| s.logs().contains("back on the shared"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas never returned to Redis"
        );
        rest.truncate(3);
    }
    let max = assert_within_limit(&sim);
    eprintln!(
        "replicas: Redis stopped mid-run: 0 failed calls; Halo's busiest {} s window held \
         {max_out} requests during the outage, {max} over the whole run (limit {LIMIT})",
        WINDOW.as_secs()
    );
}

/// The key every OAuth replica shares (tests only).
const STATE_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A replica in OAuth-proxy mode on the shared Redis.
fn oauth_replica(sim: &Simulator, redis_url: &str) -> Server {
    let mut env = env_for(sim);
    env.extend([
        ("MCP_AUTH", "oauth".to_owned()),
        ("HALO_MCP_STATE", redis_url.to_owned()),
        ("HALO_MCP_STATE_KEY", STATE_KEY.to_owned()),
    ]);
    Server::start(&as_refs(&env), &[])
}

async fn refresh_on(base: &str, refresh_token: &str) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", DEMO.0),
            ("client_secret", DEMO.1),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_flow_begun_on_one_replica_ends_on_another_and_works_on_a_third() {
    let Some(mut redis) = start_or_skip() else {
        return;
    };
    let sim = halo_mcp::local::simulator(SimConfig::default())
        .await
        .unwrap();
    let servers: Vec<Server> = (0..3).map(|_| oauth_replica(&sim, &redis.url())).collect();
    let (a, b, c) = (&servers[0].base, &servers[1].base, &servers[2].base);

    let started = Instant::now();
    let reg = http()
        .post(format!("{a}/register"))
        .json(&json!({"client_id": DEMO.0, "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201);
    let code = authorize(
        a,
        DEMO.0,
        REDIRECT,
        Some(&halo_mcp::remote::oauth::s256(VERIFIER)),
    )
    .await;
    let (status, tokens) = exchange(b, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let client = mcp(c, Some(&access)).await.unwrap();
    let id = ticket_ids(&sim, 1)[0];
    tool(
        &client,
        "halo_tickets_get",
        json!({"id": id, "fields": ["summary"]}),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();

    // The code is spent everywhere: replayed on C it is refused and revokes the grant.
    let (status, body) = exchange(c, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh_on(a, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the grant went with the replayed code");
    drop(client);

    // A new grant: rotated on C, the rotated token replayed on A revokes it on all three.
    let code = authorize(
        b,
        DEMO.0,
        REDIRECT,
        Some(&halo_mcp::remote::oauth::s256(VERIFIER)),
    )
    .await;
    let (_, first) = exchange(a, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    let (status, second) = refresh_on(c, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{second}");
    let fresh = second["access_token"].as_str().unwrap();
    assert!(mcp(b, Some(fresh)).await.is_ok());
    let (status, _) = refresh_on(a, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    for s in &servers {
        assert!(
            mcp(&s.base, Some(fresh)).await.is_err(),
            "revoked on every replica"
        );
        assert!(!s.logs().contains(DEMO.1) && !s.logs().contains(fresh));
    }
    // Redis goes away: no replica judges a token on its own (it might have been revoked).
    let code = authorize(
        c,
        DEMO.0,
        REDIRECT,
        Some(&halo_mcp::remote::oauth::s256(VERIFIER)),
    )
    .await;
    let (_, live) = exchange(a, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    let live = live["access_token"].as_str().unwrap().to_owned();
    assert!(mcp(b, Some(&live)).await.is_ok());
    redis.stop();
    let refused = http()
        .post(format!("{b}/mcp"))
        .header("authorization", format!("Bearer {live}"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "replicas", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    eprintln!(
        "replicas: OAuth flow over three replicas (register + authorize on A, token on B, \
         initialize + tool call on C): 3 OAuth round trips + the MCP session, {} ms",
        elapsed.as_millis()
    );
}

#[test]
fn oauth_on_redis_refuses_to_start_without_a_proper_key() {
    let cases = ["oauth", "halo"]
        .into_iter()
        .flat_map(|mode| [None, Some("too-short"), Some("c2hvcnQ=")].map(|key| (mode, key)));
    for (mode, key) in cases {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_halo-mcp"));
        cmd.env_clear()
            .args(["--transport", "http", "--bind", "127.0.0.1:0"])
            .env("HALO_BASE_URL", "https://acme.halopsa.com")
            .env("MCP_AUTH", mode)
            .env("MCP_PUBLIC_URL", "https://mcp.example.com")
            .env("HALO_SIGNIN_CLIENT_ID", "signin-app")
            .env("HALO_MCP_STATE", "redis://127.0.0.1:1/");
        if let Some(k) = key {
            cmd.env("HALO_MCP_STATE_KEY", k);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(out.status.code(), Some(2), "{mode}: {stderr}");
        assert_eq!(lines.len(), 1, "{mode}: {stderr}");
        assert!(lines[0].contains("HALO_MCP_STATE_KEY"), "{stderr}");
        if let Some(k) = key {
            assert!(!stderr.contains(k), "the key is not shown: {stderr}");
        }
    }
}

/// `MCP_AUTH=halo` on three replicas: the sign-in begins on A, Halo sends the browser back to
/// B, the code is exchanged on C, and Halo's single-use refresh token is renewed once for all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halo_sign_in_begun_on_one_replica_ends_on_another_and_renews_once_for_all() {
    let Some(redis) = start_or_skip() else {
        return;
    };
    let sim = crate::halo_signin::sim().await;
    let extra = [
        ("HALO_MCP_STATE", redis.url()),
        ("HALO_MCP_STATE_KEY", STATE_KEY.to_owned()),
    ];
    let servers: Vec<Server> = (0..3)
        .map(|_| crate::halo_signin::start(&sim, &extra))
        .collect();
    let (a, b, c) = (&servers[0].base, &servers[1].base, &servers[2].base);
    let h = http();
    let started = Instant::now();

    let reg: Value = h
        .post(format!("{a}/register"))
        .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap();
    let mut authorize = reqwest::Url::parse(&format!("{a}/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "st-9")
        .append_pair("code_challenge", &halo_mcp::remote::oauth::s256(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    // The browser: A sends it to Halo; Halo's answer is taken to B instead of A.
    let location = |r: &reqwest::Response| r.headers()["location"].to_str().unwrap().to_owned();
    let to_halo = location(&h.get(authorize.as_str()).send().await.unwrap());
    let url = reqwest::Url::parse(&to_halo).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("agent".into(), "3".into()));
    let post_to = format!("{}/auth/authorize", url.origin().ascii_serialization());
    let to_a = location(&h.post(post_to).form(&form).send().await.unwrap());
    let to_b = to_a.replacen(a.as_str(), b, 1);
    assert_ne!(to_a, to_b);
    let back = location(&h.get(&to_b).send().await.unwrap());
    let code = reqwest::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {back}"));
    let exchange_form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = token(c, &exchange_form).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let on_a = mcp(a, Some(access)).await.unwrap();
    let list = json!({"tool": "halo_tickets_list", "arguments": {"page_size": 1}});
    tool(&on_a, "halo_read", list.clone()).await.unwrap();
    let elapsed = started.elapsed();

    // Halo's access tokens die: B renews with Halo's refresh token; A then finds the renewed
    // pair in Redis instead of presenting the spent refresh token (which would end the sign-in).
    let on_b = mcp(b, Some(access)).await.unwrap();
    sim.revoke_tokens();
    tool(&on_b, "halo_read", list.clone()).await.unwrap();
    tool(&on_a, "halo_read", list.clone()).await.unwrap();
    assert_eq!(
        sim.signin_counts().1,
        1,
        "one refresh at Halo for all replicas"
    );

    // The code again, on A: refused, and the grant is gone everywhere.
    let (status, _) = token(a, &exchange_form).await;
    assert_eq!(status, 400);
    for s in &servers {
        assert!(mcp(&s.base, Some(access)).await.is_err());
        assert!(!s.logs().contains(access));
    }
    eprintln!(
        "replicas: sign-in with Halo over three replicas (register + authorize on A, Halo's \
         callback on B, token on C, tool call on A): {} ms",
        elapsed.as_millis()
    );
}
