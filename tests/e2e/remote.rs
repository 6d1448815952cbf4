//! Remote use: the real binary serving Streamable HTTP, driven by a real HTTP client and by
//! rmcp's Streamable HTTP client, against the simulator (two tenants with different
//! credentials). The server's stderr is captured for the whole test and checked for secrets.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use halo_mcp::{
    remote::oauth::s256,
    sim::{SimConfig, SimTenant, Simulator},
};
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

/// The server binary, its base URL, and everything it wrote to stderr.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    logs: Arc<Mutex<String>>,
    /// Woken for each line the server writes, so a test waits for a line, not a guessed time.
    line: Arc<tokio::sync::Notify>,
}

impl Server {
    pub(crate) fn start(env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_halo-mcp"));
        cmd.env_clear()
            .args(["--transport", "http", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("server starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        let line = Arc::new(tokio::sync::Notify::new());
        let wake = line.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("serving MCP over HTTP")
                    && let Some(i) = line.find("url=http://")
                {
                    let url = line[i + 4..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    let _ = tx.send(url.trim_end_matches("/mcp").to_owned());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
                drop(l);
                wake.notify_waiters();
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("server did not start: {}", logs.lock().unwrap()));
        Server {
            child,
            base,
            logs,
            line,
        }
    }

    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the logs satisfy `done`, panicking after 20 s with the logs.
    pub(crate) async fn until_logs(&self, done: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let line = self.line.notified();
            tokio::pin!(line);
            line.as_mut().enable();
            if done(&self.logs()) {
                return;
            }
            if tokio::time::timeout_at(deadline, line).await.is_err() {
                panic!("the logs never got there: {}", self.logs());
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn http() -> reqwest::Client {
    halo_mcp::halo::install_crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn sim_two_tenants() -> Simulator {
    halo_mcp::local::simulator(SimConfig {
        extra_tenants: vec![SimTenant {
            client_id: "tenant-b".into(),
            client_secret: "secret-b-value".into(),
            tenant: None,
            seed: 2,
            permissions: Default::default(),
        }],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub(crate) type McpClient = RunningService<rmcp::RoleClient, ()>;

pub(crate) async fn mcp(base: &str, token: Option<&str>) -> Result<McpClient, String> {
    halo_mcp::halo::install_crypto();
    let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
    if let Some(t) = token {
        config = config.auth_header(t.to_owned());
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport).await.map_err(|e| e.to_string())
}

pub(crate) async fn call(c: &McpClient, tool: &str, args: Value) -> Value {
    let mut p = CallToolRequestParams::new(tool.to_owned());
    p.arguments = args.as_object().cloned();
    let r = c.call_tool(p).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
    r.structured_content.unwrap()
}

pub(crate) const VERIFIER: &str = "the-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Registers, authorizes and exchanges; returns the token answer.
pub(crate) async fn oauth_flow(base: &str, client_id: &str, secret: &str) -> Value {
    let h = http();
    let reg = h
        .post(format!("{base}/register"))
        .json(&json!({"client_id": client_id, "redirect_uris": [REDIRECT], "client_name": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201, "{}", reg.text().await.unwrap());
    let code = authorize(base, client_id, REDIRECT, Some(&s256(VERIFIER))).await;
    let r = exchange(base, &code, REDIRECT, Some(VERIFIER), (client_id, secret)).await;
    assert_eq!(r.0, 200, "{}", r.1);
    r.1
}

/// `/authorize`; returns the code from the redirect.
pub(crate) async fn authorize(
    base: &str,
    client_id: &str,
    redirect: &str,
    challenge: Option<&str>,
) -> String {
    let mut url = reqwest::Url::parse(&format!("{base}/authorize")).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("state", "st-42");
        if let Some(c) = challenge {
            q.append_pair("code_challenge", c)
                .append_pair("code_challenge_method", "S256");
        }
    }
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let location = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params.get("state").map(String::as_str), Some("st-42"));
    assert!(location.as_str().starts_with(redirect));
    params["code"].clone()
}

pub(crate) const DEMO: (&str, &str) = ("demo-client", "demo-secret");

/// `/token` with grant `authorization_code`; without a verifier the field is left out.
pub(crate) async fn exchange(
    base: &str,
    code: &str,
    redirect: &str,
    verifier: Option<&str>,
    (client_id, secret): (&str, &str),
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    token(base, &form).await
}

pub(crate) async fn get_json(url: String) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

pub(crate) async fn token(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .post(format!("{base}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn env_for(sim: &Simulator) -> Vec<(&'static str, String)> {
    vec![("HALO_BASE_URL", sim.base_url())]
}

pub(crate) fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn oauth_proxy_end_to_end_with_isolated_sessions() {
    let sim = sim_two_tenants().await;
    let mut env = env_for(&sim);
    env.push(("MCP_AUTH", "oauth".into()));
    env.push(("MCP_OAUTH_CODE_TTL", "1".into()));
    let server = Server::start(&as_refs(&env), &[]);
    let base = server.base.clone();
    let h = http();

    // Discovery: RFC 9728 resource metadata, RFC 8414 server metadata.
    let prm: Value = get_json(format!("{base}/.well-known/oauth-protected-resource")).await;
    assert_eq!(prm["resource"], format!("{base}/mcp"));
    assert_eq!(prm["authorization_servers"][0], base);
    let asm: Value = get_json(format!("{base}/.well-known/oauth-authorization-server")).await;
    assert_eq!(asm["token_endpoint"], format!("{base}/token"));
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));

    // No token, or a bad one: 401 pointing at the metadata.
    for auth in [None, Some("Bearer not-a-token")] {
        let mut req = h.post(format!("{base}/mcp")).json(&json!({}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains(&format!(
                "resource_metadata=\"{base}/.well-known/oauth-protected-resource\""
            )),
            "{challenge}"
        );
    }

    // The full flow for tenant A, then MCP with the token.
    let a = oauth_flow(&base, "demo-client", "demo-secret").await;
    let a_access = a["access_token"].as_str().unwrap().to_owned();
    let a_refresh = a["refresh_token"].as_str().unwrap().to_owned();
    let client_a = mcp(&base, Some(&a_access)).await.unwrap();
    // Tenant B's credentials, a second session at the same time.
    let b = oauth_flow(&base, "tenant-b", "secret-b-value").await;
    let client_b = mcp(&base, Some(b["access_token"].as_str().unwrap()))
        .await
        .unwrap();
    let names = |tenant: usize| -> Vec<String> {
        let mut v: Vec<String> = sim
            .records_in(tenant, "Client")
            .iter()
            .filter(|c| c["inactive"] != json!(true))
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let listed = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let args = json!({"tool": "halo_clients_list", "arguments": {"page_size": 100}});
    let (ra, rb) = tokio::join!(
        call(&client_a, "halo_read", args.clone()),
        call(&client_b, "halo_read", args.clone())
    );
    assert_eq!(listed(&ra), names(0));
    assert_eq!(listed(&rb), names(1));
    assert_ne!(listed(&ra), listed(&rb), "two tenants, two data sets");
    // Reference data is cached per credentials: B's statuses are B's, even after A cached its own.
    let status_args = json!({"tool": "halo_statuses_list", "arguments": {}});
    let sa = call(&client_a, "halo_read", status_args.clone()).await;
    let sb = call(&client_b, "halo_read", status_args).await;
    assert_eq!(sa["record_count"], sim.records_in(0, "Status").len());
    assert_eq!(sb["record_count"], sim.records_in(1, "Status").len());
    let tenants: Vec<Option<usize>> = sim
        .requests()
        .iter()
        .filter(|r| r.path.eq_ignore_ascii_case("/api/status"))
        .map(|r| r.tenant)
        .collect();
    assert_eq!(
        tenants,
        [Some(0), Some(1)],
        "each tenant read its own statuses"
    );

    // A session belongs to whoever opened it: B's token cannot use A's session.
    let init = h
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {a_access}"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let hijack = h
        .post(format!("{base}/mcp"))
        .header(
            "authorization",
            format!("Bearer {}", b["access_token"].as_str().unwrap()),
        )
        .header("mcp-session-id", &session)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(hijack.status(), 404);

    // Refresh rotates (the client authenticates); the old refresh token is spent, and a caller
    // who cannot authenticate gets nothing from it (oauth_attacks.rs covers the rest).
    let refreshed = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &a_refresh),
            ("client_id", "demo-client"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    assert_eq!(refreshed.0, 200, "{}", refreshed.1);
    let again = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &a_refresh),
        ],
    )
    .await;
    assert_eq!(
        (again.0, again.1["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let c = mcp(&base, refreshed.1["access_token"].as_str())
        .await
        .unwrap();
    call(&c, "halo_status", json!({})).await;

    // PKCE mismatch, reused code, expired code, wrong redirect, unknown client.
    let code = authorize(&base, "demo-client", REDIRECT, Some(&s256(VERIFIER))).await;
    let wrong_verifier = "another-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    let r = exchange(&base, &code, REDIRECT, Some(wrong_verifier), DEMO).await;
    assert_eq!(
        (r.0, r.1["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        r.1
    );
    let r = exchange(&base, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(
        (r.0, r.1["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is single-use: {}",
        r.1
    );

    let code = authorize(&base, "demo-client", REDIRECT, Some(&s256(VERIFIER))).await;
    assert_eq!(
        exchange(&base, &code, REDIRECT, Some(VERIFIER), DEMO)
            .await
            .0,
        200
    );
    let reused = exchange(&base, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(reused.1["error"], "invalid_grant");
    assert!(
        reused.1["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );

    let code = authorize(&base, "demo-client", REDIRECT, Some(&s256(VERIFIER))).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = exchange(&base, &code, REDIRECT, Some(VERIFIER), DEMO).await;
    assert_eq!(r.1["error"], "invalid_grant", "expired: {}", r.1);

    let r = h
        .get(format!(
            "{base}/authorize?response_type=code&client_id=demo-client&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&code_challenge={}&code_challenge_method=S256",
            s256(VERIFIER)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "never redirected to an unregistered URI");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let code = authorize(&base, "demo-client", REDIRECT, Some(&s256(VERIFIER))).await;
    let other = "http://127.0.0.1:9/other";
    let r = exchange(&base, &code, other, Some(VERIFIER), DEMO).await;
    assert_eq!(r.1["error"], "invalid_grant");

    let r = h
        .get(format!(
            "{base}/authorize?response_type=code&client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap()["error"].clone()
        ),
        (400, json!("invalid_client"))
    );
    let code = authorize(&base, "demo-client", REDIRECT, Some(&s256(VERIFIER))).await;
    let r = exchange(
        &base,
        &code,
        REDIRECT,
        Some(VERIFIER),
        ("demo-client", "wrong-secret-value"),
    )
    .await;
    assert_eq!(
        (r.0, r.1["error"].as_str()),
        (401, Some("invalid_client")),
        "{}",
        r.1
    );

    // A client that sends no PKCE gets it made for it (documented), and the flow completes.
    let code = authorize(&base, "demo-client", REDIRECT, None).await;
    let r = exchange(&base, &code, REDIRECT, None, DEMO).await;
    assert_eq!(r.0, 200, "{}", r.1);

    // Basic client authentication works too.
    let code = authorize(&base, "demo-client", REDIRECT, Some(&s256(VERIFIER))).await;
    let r = http()
        .post(format!("{base}/token"))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    drop((client_a, client_b, c));
    // A last request as a marker: once its line is in, so is everything logged before it.
    let health = |logs: &str| logs.matches("path=\"/health\"").count();
    let before = health(&server.logs());
    http().get(format!("{base}/health")).send().await.unwrap();
    server.until_logs(|l| health(l) > before).await;
    // Nothing secret in the logs: not the Halo secrets, not a token, code or verifier.
    let logs = server.logs();
    assert!(logs.contains("serving MCP over HTTP"), "logs were captured");
    for secret in [
        "demo-secret",
        "secret-b-value",
        "wrong-secret-value",
        &a_access,
        &a_refresh,
        refreshed.1["access_token"].as_str().unwrap(),
        VERIFIER,
        &code,
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret}"
        );
    }
}

#[tokio::test]
async fn bearer_mode_headers_origin_body_and_health() {
    let sim = halo_mcp::local::simulator(SimConfig::default())
        .await
        .unwrap();
    let token = "operator-token-0123456789";
    let mut env = env_for(&sim);
    env.extend([
        ("HALO_CLIENT_ID", "demo-client".to_owned()),
        ("HALO_CLIENT_SECRET", "demo-secret".to_owned()),
        ("MCP_AUTH", "env".to_owned()),
        ("MCP_AUTH_TOKEN", token.to_owned()),
        ("MCP_ALLOWED_ORIGINS", "https://allowed.example".to_owned()),
    ]);
    let server = Server::start(&as_refs(&env), &["--mode", "tree"]);
    let base = server.base.clone();
    let h = http();

    let health = h.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(health.headers()[name], value);
    }
    assert!(
        health.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(health.headers().contains_key("strict-transport-security"));
    assert!(health.headers().contains_key("permissions-policy"));
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);

    // Missing or wrong bearer: 401 with a challenge.
    for auth in [None, Some("Bearer wrong-token-0123456789")] {
        let mut req = h.post(format!("{base}/mcp")).json(&json!({}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert!(
            r.headers().contains_key("x-content-type-options"),
            "headers on errors too"
        );
    }
    // The right bearer: a full session in tree mode over HTTP.
    let c = mcp(&base, Some(token)).await.unwrap();
    let tools: Vec<String> = c
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools, ["halo_navigate", "halo_status", "halo_back"]);
    call(&c, "halo_navigate", json!({"domain": "tickets"})).await;
    let rows = call(&c, "halo_tickets_list", json!({"page_size": 2})).await;
    assert_eq!(rows["records"].as_array().unwrap().len(), 2);

    // Origin: an unknown browser origin is refused, the allowed one passes.
    let bad = h
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {token}"))
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    let good = h
        .get(format!("{base}/health"))
        .header("origin", "https://allowed.example")
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    // Host: DNS rebinding protection.
    let rebinding = h
        .get(format!("{base}/health"))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);

    // Oversized bodies: 413, with or without a length.
    // With a length the server answers 413 at once, without reading the body; a client still
    // writing it may see the connection close before it reads the answer. The server's log
    // below proves the refusal either way.
    let big = "x".repeat(1024 * 1024 + 10);
    let sent = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await;
    match sent {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    let chunks = futures::stream::iter(
        (0..12).map(|_| Ok::<_, std::io::Error>(bytes_of(&"y".repeat(100 * 1024)))),
    );
    // Without a length the cap applies while the body streams: the server answers 413 and
    // stops reading, so the client sees either the 413 or the connection closing under it.
    // A fresh connection: the server closed the last one after refusing a body it did not read.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let sent = fresh
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    match sent {
        Ok(r) => {
            assert_eq!(r.status(), 413);
            let body = r.text().await.unwrap();
            assert!(
                !body.contains("panicked") && !body.contains("src/"),
                "sanitised: {body}"
            );
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    let refused = |logs: &str| logs.matches("path=\"/mcp\" status=413").count();
    server.until_logs(|l| refused(l) >= 2).await;
    assert_eq!(
        refused(&server.logs()),
        2,
        "both oversized bodies were refused with 413"
    );
    assert_eq!(
        h.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Unknown paths: a plain JSON 404.
    let r = h.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");

    drop(c);
    let logs = server.logs();
    assert!(
        !logs.contains(token) && !logs.contains("demo-secret"),
        "secrets in logs"
    );
}

fn bytes_of(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[test]
fn http_is_never_open_by_accident() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_halo-mcp"));
        cmd.env_clear().arg("--demo").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--transport", "http"], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("HTTP needs authentication"), "{err}");
    let (code, err) = run(
        &["--transport", "http", "--bind", "0.0.0.0:0", "--no-auth"],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--no-auth is allowed only on a loopback address"),
        "{err}"
    );
    let (code, err) = run(&["--transport", "http"], &[("MCP_AUTH", "env")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("MCP_AUTH_TOKEN"), "{err}");
    let (code, err) = run(
        &["--transport", "http"],
        &[("MCP_AUTH", "env"), ("MCP_AUTH_TOKEN", "short")],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("at least 16 characters"), "{err}");
}

/// `--public-url` names the server in OAuth metadata and is an accepted `Host`; the demo Halo
/// still honours the resilience settings (here the rate budget) from the environment.
#[tokio::test]
async fn public_url_flag_and_demo_settings() {
    let server = Server::start(
        &[("MCP_AUTH", "oauth"), ("HALO_RATE_LIMIT", "7/60s")],
        &["--demo", "--public-url", "https://halo-mcp.example.com/"],
    );
    let base = server.base.clone();
    let h = http();
    let asm: Value = get_json(format!("{base}/.well-known/oauth-authorization-server")).await;
    assert_eq!(asm["issuer"], "https://halo-mcp.example.com");
    assert_eq!(asm["token_endpoint"], "https://halo-mcp.example.com/token");
    for (host, status) in [("halo-mcp.example.com", 200), ("evil.example", 403)] {
        let r = h
            .get(format!("{base}/health"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "Host: {host}");
    }

    // The demo's own credentials through the proxy; the budget is the configured one.
    let tok = oauth_flow(&base, "demo-client", "demo-secret").await;
    let c = mcp(&base, tok["access_token"].as_str()).await.unwrap();
    let s = call(&c, "halo_status", json!({})).await;
    assert_eq!(s["halo"]["rate_budget"]["limit"], 7, "{s}");
    assert_eq!(
        s["halo"]["rate_budget"]["window_s"].as_f64(),
        Some(60.0),
        "{s}"
    );
}

/// `halo-mcp healthcheck` (the container health check) against the running server.
#[tokio::test]
async fn healthcheck_command() {
    let server = Server::start(&[], &["--demo", "--no-auth"]);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_halo-mcp"));
        cmd.env_clear().arg("healthcheck").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap().status.code()
    };
    let bind = format!("0.0.0.0:{port}");
    assert_eq!(
        run(&[("MCP_TRANSPORT", "http"), ("MCP_BIND", &bind)], &[]),
        Some(0)
    );
    assert_eq!(
        run(&[("MCP_TRANSPORT", "http"), ("MCP_PORT", &port)], &[]),
        Some(0)
    );
    let url = format!("{}/health", server.base);
    assert_eq!(run(&[], &["--url", &url]), Some(0));
    // Not a health endpoint, and nothing listening: unhealthy.
    let wrong = format!("{}/mcp", server.base);
    assert_eq!(run(&[], &["--url", &wrong]), Some(1));
    drop(server);
    assert_eq!(run(&[], &["--url", &url]), Some(1));
    // stdio has no server to ask.
    assert_eq!(run(&[("MCP_TRANSPORT", "stdio")], &[]), Some(0));
}
