//! The OAuth proxy against callers who hold something they should not (a leaked code or refresh
//! token) or nothing at all (anonymous registration floods): the real binary, the simulator.
//! Each test is the attack that used to work, then the legitimate holder carrying on.

use halo_mcp::remote::oauth::s256;
use serde_json::{Value, json};

use crate::remote::{
    DEMO, REDIRECT, Server, VERIFIER, as_refs, authorize, env_for, exchange, http, oauth_flow,
    sim_two_tenants, token,
};

/// The server in OAuth mode against a simulator with two tenants (demo-client, tenant-b).
async fn oauth_server() -> (halo_mcp::sim::Simulator, Server) {
    let sim = sim_two_tenants().await;
    let mut env = env_for(&sim);
    env.push(("MCP_AUTH", "oauth".into()));
    let server = Server::start(&as_refs(&env), &[]);
    (sim, server)
}

/// The status `/mcp` answers an `initialize` with this bearer token: 200 if it is honoured.
async fn mcp_status(base: &str, access: &str) -> u16 {
    http()
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {access}"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "attack-test", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A refresh grant, authenticated with `creds` in the form when given.
async fn refresh(base: &str, refresh_token: &str, creds: Option<(&str, &str)>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some((id, secret)) = creds {
        form.push(("client_id", id));
        form.push(("client_secret", secret));
    }
    token(base, &form).await
}

async fn register(base: &str, body: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{base}/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn error(r: &(u16, Value)) -> (u16, Option<&str>) {
    (r.0, r.1["error"].as_str())
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// Item 1 and 3: a refresh token alone is not enough, and failed attempts by others leave the
/// holder's token working.
#[tokio::test]
async fn refresh_needs_the_clients_secret_and_failures_change_nothing() {
    let (_sim, server) = oauth_server().await;
    let base = server.base.clone();
    let tokens = oauth_flow(&base, "demo-client", "demo-secret").await;
    let stolen = field(&tokens, "refresh_token").to_owned();

    // Someone holding only the refresh token, or it plus a guess, gets nothing.
    let attempts: [Option<(&str, &str)>; 4] = [
        None,
        Some(("demo-client", "wrong-secret")),
        // Another application's real credentials do not make the token theirs.
        Some(("tenant-b", "secret-b-value")),
        Some(("", "")),
    ];
    for creds in attempts {
        let r = refresh(&base, &stolen, creds).await;
        assert_eq!(
            error(&r),
            (401, Some("invalid_client")),
            "{creds:?}: {}",
            r.1
        );
    }
    let r = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &stolen),
            ("client_id", "demo-client"),
        ],
    )
    .await;
    assert_eq!(
        error(&r),
        (401, Some("invalid_client")),
        "a client id alone: {}",
        r.1
    );
    let r = refresh(&base, "not-a-refresh-token", Some(DEMO)).await;
    assert_eq!(error(&r), (400, Some("invalid_grant")), "{}", r.1);

    // The holder's tokens survived all of it.
    assert_eq!(mcp_status(&base, field(&tokens, "access_token")).await, 200);
    let rotated = refresh(&base, &stolen, Some(DEMO)).await;
    assert_eq!(rotated.0, 200, "{}", rotated.1);
    assert_eq!(
        mcp_status(&base, field(&rotated.1, "access_token")).await,
        200
    );

    // The spent token presented again without the secret: refused, and it revokes nothing (an
    // unauthenticated caller must not be able to end the holder's grant).
    for creds in [None, Some(("demo-client", "wrong-secret"))] {
        let r = refresh(&base, &stolen, creds).await;
        assert_eq!(error(&r), (401, Some("invalid_client")), "{}", r.1);
    }
    assert_eq!(
        mcp_status(&base, field(&rotated.1, "access_token")).await,
        200
    );
    let next = refresh(&base, field(&rotated.1, "refresh_token"), Some(DEMO)).await;
    assert_eq!(next.0, 200, "{}", next.1);

    // Basic authentication is client authentication too.
    let r = http()
        .post(format!("{base}/token"))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", field(&next.1, "refresh_token")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let basic: Value = r.json().await.unwrap();

    // The authenticated client presenting a rotated token again: a copy is loose, so the whole
    // grant goes — the current access and refresh tokens included.
    let r = refresh(&base, &stolen, Some(DEMO)).await;
    assert_eq!(error(&r), (400, Some("invalid_grant")), "{}", r.1);
    assert_eq!(mcp_status(&base, field(&basic, "access_token")).await, 401);
    let r = refresh(&base, field(&basic, "refresh_token"), Some(DEMO)).await;
    assert_eq!(error(&r), (400, Some("invalid_grant")), "{}", r.1);

    // Nothing secret reached the logs.
    let logs = server.logs();
    for secret in ["demo-secret", "secret-b-value", "wrong-secret", &stolen] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret}"
        );
    }
}

/// Item 2: a code presented twice revokes everything issued from it — the first access token,
/// the refresh token, and what refreshing it produced — and nothing issued from another code.
#[tokio::test]
async fn replayed_code_revokes_its_whole_grant() {
    let (_sim, server) = oauth_server().await;
    let base = server.base.clone();
    let other = oauth_flow(&base, "demo-client", "demo-secret").await;

    let code = authorize(&base, "demo-client", REDIRECT, Some(&s256(VERIFIER))).await;
    let first = exchange(&base, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let refreshed = refresh(&base, field(&first.1, "refresh_token"), Some(DEMO)).await;
    assert_eq!(refreshed.0, 200, "{}", refreshed.1);
    assert_eq!(
        mcp_status(&base, field(&first.1, "access_token")).await,
        200
    );
    assert_eq!(
        mcp_status(&base, field(&refreshed.1, "access_token")).await,
        200
    );

    // The replay, by someone who even has the secret and verifier: refused, and it revokes.
    let replay = exchange(&base, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(error(&replay), (400, Some("invalid_grant")), "{}", replay.1);
    for access in [&first.1, &refreshed.1].map(|t| field(t, "access_token")) {
        assert_eq!(mcp_status(&base, access).await, 401, "access token revoked");
    }
    for refresh_token in [&first.1, &refreshed.1].map(|t| field(t, "refresh_token")) {
        let r = refresh(&base, refresh_token, Some(DEMO)).await;
        assert_eq!(error(&r), (400, Some("invalid_grant")), "{}", r.1);
    }
    // A third presentation is still refused.
    let again = exchange(&base, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(error(&again), (400, Some("invalid_grant")), "{}", again.1);

    // The grant from another code of the same client is untouched.
    assert_eq!(mcp_status(&base, field(&other, "access_token")).await, 200);
    let r = refresh(&base, field(&other, "refresh_token"), Some(DEMO)).await;
    assert_eq!(r.0, 200, "{}", r.1);
}

/// Item 4: a flood of anonymous registrations from one source (this test's loopback address,
/// the same one the legitimate client uses) neither evicts a registration that has been used
/// for real nor stops a new one from registering and completing the flow.
#[tokio::test]
async fn a_thousand_junk_registrations_lock_nobody_out() {
    let (_sim, server) = oauth_server().await;
    let base = server.base.clone();
    let legit = "http://127.0.0.1:9/legit-callback";
    let flow = |redirect: &'static str| {
        let base = base.clone();
        async move {
            let code = authorize(&base, "demo-client", redirect, Some(&s256(VERIFIER))).await;
            let r = exchange(&base, &code, redirect, Some(VERIFIER), DEMO).await;
            assert_eq!(r.0, 200, "{}", r.1);
            assert_eq!(mcp_status(&base, field(&r.1, "access_token")).await, 200);
        }
    };
    let (status, _) = register(
        &base,
        json!({"client_id": "demo-client", "redirect_uris": [legit]}),
    )
    .await;
    assert_eq!(status, 201);
    flow(legit).await;

    for i in 0..1000 {
        // Generated ids, and claims on the real applications' ids with other redirect URIs.
        let body = match i % 3 {
            0 => json!({"redirect_uris": [format!("https://junk.example/{i}")]}),
            1 => json!({"client_id": "demo-client",
                        "redirect_uris": [format!("https://evil.example/{i}")]}),
            _ => json!({"client_id": "tenant-b",
                        "redirect_uris": [format!("http://127.0.0.1:9/evil/{i}")]}),
        };
        let (status, v) = register(&base, body).await;
        assert_eq!(status, 201, "junk {i}: {v}");
    }

    // The registration used for real is still there.
    flow(legit).await;
    // A new registration (a new redirect URI) works at once, end to end.
    let fresh = "http://127.0.0.1:9/fresh-callback";
    let (status, v) = register(
        &base,
        json!({"client_id": "demo-client", "redirect_uris": [fresh]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    flow(fresh).await;
    // So does a client with a generated id, up to Halo's refusal of an id it does not know.
    let (status, v) = register(&base, json!({"redirect_uris": [fresh]})).await;
    assert_eq!(status, 201, "{v}");
    let generated = field(&v, "client_id").to_owned();
    let code = authorize(&base, &generated, fresh, Some(&s256(VERIFIER))).await;
    assert!(!code.is_empty());
    // And the other application registers and completes its flow.
    let b = oauth_flow(&base, "tenant-b", "secret-b-value").await;
    assert_eq!(mcp_status(&base, field(&b, "access_token")).await, 200);
}

/// Item 4: registering someone else's client id first, with other redirect URIs, neither blocks
/// their registration nor takes away their redirect URIs (registered or the operator's), and
/// what it adds is useless without the application's secret.
#[tokio::test]
async fn a_registration_cannot_hijack_another_clients_redirects() {
    let (_sim, server) = oauth_server().await;
    let base = server.base.clone();
    let evil = "https://evil.example/steal";

    // The attacker registers first, claiming the application's id.
    let (status, v) = register(
        &base,
        json!({"client_id": "demo-client", "redirect_uris": [evil]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    // Another with a generated id lists the legitimate redirect: that gives it nothing for
    // demo-client's id.
    let (status, _) = register(&base, json!({"redirect_uris": [evil, REDIRECT]})).await;
    assert_eq!(status, 201);

    // The application registers its own redirect URI and completes the flow.
    let tokens = oauth_flow(&base, "demo-client", "demo-secret").await;
    assert_eq!(mcp_status(&base, field(&tokens, "access_token")).await, 200);
    // The operator's allowed redirect URI still works for it too (a hand-configured client).
    let url = format!(
        "{base}/authorize?response_type=code&client_id=demo-client&redirect_uri={}\
         &code_challenge={}&code_challenge_method=S256",
        "https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback",
        s256(VERIFIER)
    );
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://claude.ai/api/mcp/auth_callback?code=")
    );

    // A URI registered for one client id is not one of another's.
    let (status, _) = register(
        &base,
        json!({"client_id": "tenant-b", "redirect_uris": [REDIRECT]}),
    )
    .await;
    assert_eq!(status, 201);
    let r = http()
        .get(format!(
            "{base}/authorize?response_type=code&client_id=tenant-b&redirect_uri={}",
            "https%3A%2F%2Fevil.example%2Fsteal"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "never redirected to another client's URI");

    // A code the attacker collects at its own URI cannot be exchanged without the secret, and
    // the attempt costs the application nothing.
    let code = authorize(&base, "demo-client", evil, Some(&s256(VERIFIER))).await;
    let r = exchange(
        &base,
        &code,
        evil,
        Some(VERIFIER),
        ("demo-client", "guessed-secret"),
    )
    .await;
    assert_eq!(error(&r), (401, Some("invalid_client")), "{}", r.1);
    assert_eq!(mcp_status(&base, field(&tokens, "access_token")).await, 200);
    let r = refresh(&base, field(&tokens, "refresh_token"), Some(DEMO)).await;
    assert_eq!(r.0, 200, "{}", r.1);
}

/// Item 4: the per-source cap counts the real source. Without `MCP_TRUST_PROXY` a forged
/// `X-Forwarded-For` changes nothing (the flood still only evicts its own source's entries,
/// which include an unproven registration from the same address); behind a trusted proxy the
/// source is the address the proxy appended, whatever the caller put before it.
#[tokio::test]
async fn registrations_are_counted_against_the_real_source() {
    let sim = sim_two_tenants().await;
    for trust_proxy in [false, true] {
        let mut env = env_for(&sim);
        env.push(("MCP_AUTH", "oauth".into()));
        if trust_proxy {
            env.push(("MCP_TRUST_PROXY", "true".into()));
        }
        let server = Server::start(&as_refs(&env), &[]);
        let base = server.base.clone();
        let register_from = |forwarded: String, uri: String| {
            let base = base.clone();
            async move {
                let r = http()
                    .post(format!("{base}/register"))
                    .header("x-forwarded-for", forwarded)
                    .json(&json!({"client_id": "demo-client", "redirect_uris": [uri]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        };
        let kept = "http://127.0.0.1:9/kept";
        register_from("198.51.100.1".into(), kept.into()).await;
        // A flood, each request claiming another address before the proxy's entry.
        for i in 0..30 {
            register_from(
                format!("203.0.113.{i}, 192.0.2.7"),
                format!("https://junk.example/{i}"),
            )
            .await;
        }
        let r = http()
            .get(format!(
                "{base}/authorize?response_type=code&client_id=demo-client&redirect_uri={}",
                "http%3A%2F%2F127.0.0.1%3A9%2Fkept"
            ))
            .send()
            .await
            .unwrap();
        let expected = if trust_proxy {
            // Another source (198.51.100.1 vs 192.0.2.7): untouched by the flood.
            302
        } else {
            // One source (the loopback peer): the unproven registration was the oldest.
            400
        };
        assert_eq!(r.status(), expected, "trust_proxy={trust_proxy}");
    }
}
