//! Sign in with Halo (`MCP_AUTH=halo`), end to end: the real binary in front of the simulator,
//! driven by rmcp's own OAuth client (discovery, registration, authorize, Halo's sign-in page,
//! callback, token, tool calls, refresh). The only thing the client is given is the server's
//! URL; the "browser" steps are plain HTTP requests following the redirects, posting Halo's
//! sign-in form as a user would.

use std::{collections::HashMap, time::Instant};

use halo_mcp::{
    remote::oauth::s256,
    sim::{SimAgent, SimConfig, Simulator},
};
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        AuthClient, AuthorizationManager, StreamableHttpClientTransport,
        auth::{AuthorizationRequest, OAuthState},
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::remote::{McpClient, Server, as_refs, call, env_for, http, mcp, token};

/// Where rmcp's client says it listens for the callback (nothing listens: the test reads the
/// redirect instead of following it).
const CALLBACK: &str = "http://127.0.0.1:9/oauth-callback";
/// Alex Rowe: no access to invoices.
const ALEX: i64 = 2;
/// Bethany Clarke: everything the application may do.
const BETHANY: i64 = 3;

pub(crate) async fn sim() -> Simulator {
    halo_mcp::local::simulator(SimConfig {
        signin_agents: vec![SimAgent {
            id: ALEX,
            denied: vec!["invoices".into()],
        }],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub(crate) fn start(sim: &Simulator, extra: &[(&'static str, String)]) -> Server {
    let mut env = env_for(sim);
    env.push(("MCP_AUTH", "halo".into()));
    env.push(("HALO_SIGNIN_CLIENT_ID", "demo-client".into()));
    env.extend(extra.iter().cloned());
    Server::start(&as_refs(&env), &[])
}

fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 302, "expected a redirect");
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The browser's part: our `/authorize` → Halo's sign-in page → the agent's button (posting the
/// page's form) → our callback → the MCP client's redirect URI. Returns that last URL.
pub(crate) async fn browser(authorize_url: &str, agent: i64) -> String {
    let h = http();
    let to_halo = location(&h.get(authorize_url).send().await.unwrap());
    // Halo's page: a form per agent, posting the request back with the agent chosen.
    let page = h.get(&to_halo).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign in to Halo"));
    let url = reqwest::Url::parse(&to_halo).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("agent".into(), agent.to_string()));
    let post_to = format!("{}/auth/authorize", url.origin().ascii_serialization());
    let back = h.post(post_to).form(&form).send().await.unwrap();
    let to_us = location(&back);
    assert!(to_us.contains("/oauth/halo/callback?"), "{to_us}");
    location(&h.get(&to_us).send().await.unwrap())
}

/// rmcp's OAuth client, from the server URL alone, signed in as `agent`.
async fn rmcp_sign_in(base: &str, agent: i64) -> AuthorizationManager {
    let mut state = OAuthState::new(base, None).await.unwrap();
    state
        .start_authorization(AuthorizationRequest::new(CALLBACK).with_client_name("e2e"))
        .await
        .unwrap();
    let url = state.get_authorization_url().await.unwrap();
    let back = browser(&url, agent).await;
    assert!(back.starts_with(CALLBACK), "{back}");
    let q = query(&back);
    state
        .handle_callback(&q["code"], &q["state"])
        .await
        .unwrap();
    state.into_authorization_manager().unwrap()
}

async fn connect(base: &str, manager: AuthorizationManager) -> McpClient {
    let client = AuthClient::new(reqwest::Client::default(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")),
    );
    ().serve(transport).await.unwrap()
}

async fn call_err(c: &McpClient, tool: &str, args: Value) -> String {
    let mut p = CallToolRequestParams::new(tool.to_owned());
    p.arguments = args.as_object().cloned();
    let r = c.call_tool(p).await.unwrap();
    assert_eq!(
        r.is_error,
        Some(true),
        "{tool} should fail: {:?}",
        r.content
    );
    format!("{:?}", r.content)
}

fn via(tool: &str, arguments: Value) -> Value {
    json!({"tool": tool, "arguments": arguments})
}

#[tokio::test]
async fn rmcp_oauth_client_signs_two_agents_in_and_each_acts_as_itself() {
    let sim = sim().await;
    let audit = std::env::temp_dir().join(format!("halo-signin-audit-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&audit);
    let server = start(&sim, &[("HALO_MCP_AUDIT_LOG", audit.display().to_string())]);
    let base = server.base.clone();

    // Discovery says public clients and PKCE.
    let asm: Value = http()
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        asm["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));

    let started = Instant::now();
    let alex = rmcp_sign_in(&base, ALEX).await;
    let signed_in = started.elapsed();
    // Refresh through rmcp's own client before using the tokens: rotation, then a tool call.
    alex.refresh_token().await.unwrap();
    let a = connect(&base, alex).await;
    let bethany = rmcp_sign_in(&base, BETHANY).await;
    let b = connect(&base, bethany).await;
    eprintln!("sign-in with rmcp's OAuth client, loopback: {signed_in:?}");

    // Each acts as itself.
    let sa = call(&a, "halo_status", json!({})).await;
    let sb = call(&b, "halo_status", json!({})).await;
    assert_eq!(sa["halo"]["acting_as"]["id"], ALEX, "{sa}");
    assert_eq!(sb["halo"]["acting_as"]["id"], BETHANY, "{sb}");
    let me_a = call(&a, "halo_read", via("halo_agents_me", json!({}))).await;
    let me_b = call(&b, "halo_read", via("halo_agents_me", json!({}))).await;
    assert_ne!(me_a.to_string(), me_b.to_string());
    assert!(me_a.to_string().contains("Alex"), "{me_a}");
    assert!(me_b.to_string().contains("Bethany"), "{me_b}");

    // Halo's permissions are each agent's own: Alex may not see invoices, Bethany may.
    let denied = call_err(&a, "halo_read", via("halo_invoices_list", json!({}))).await;
    assert!(
        denied.contains("403") || denied.to_lowercase().contains("permission"),
        "{denied}"
    );
    call(&b, "halo_read", via("halo_invoices_list", json!({}))).await;

    // Cached reference data and shared requests in flight are per agent: each agent's list of
    // statuses is asked of Halo with that agent's own token, and asked again is cached.
    let statuses = via("halo_statuses_list", json!({}));
    for _ in 0..2 {
        call(&a, "halo_read", statuses.clone()).await;
        call(&b, "halo_read", statuses.clone()).await;
    }
    let asked = sim
        .requests()
        .iter()
        .filter(|r| r.path.eq_ignore_ascii_case("/api/status"))
        .count();
    assert_eq!(asked, 2, "once per agent, then from each agent's cache");

    // Writes carry their own agent, in Halo and in the audit log.
    let ta = call(
        &a,
        "halo_write",
        via(
            "halo_tickets_create",
            json!({"summary": "Printer on fire (Alex)"}),
        ),
    )
    .await;
    let tb = call(
        &b,
        "halo_write",
        via(
            "halo_tickets_create",
            json!({"summary": "Printer on fire (Bethany)"}),
        ),
    )
    .await;
    let id_a = ta["created"]["id"].as_i64().unwrap();
    let id_b = tb["created"]["id"].as_i64().unwrap();
    call(
        &a,
        "halo_write",
        via(
            "halo_tickets_update",
            json!({"id": id_a, "summary": "Printer out"}),
        ),
    )
    .await;
    let written = sim.written();
    let by = |id: i64| -> Vec<i64> {
        written
            .iter()
            .filter(|w| w.resource == "Tickets" && w.id == Some(id))
            .map(|w| w.agent)
            .collect()
    };
    assert_eq!(by(id_a), [ALEX, ALEX]);
    assert_eq!(by(id_b), [BETHANY]);
    assert!(written.iter().all(|w| w.signed_in));

    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    eprintln!("audit lines:\n{}", std::fs::read_to_string(&audit).unwrap());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0]["principal"]
            .as_str()
            .unwrap()
            .starts_with("agent:2 ")
    );
    assert!(
        lines[1]["principal"]
            .as_str()
            .unwrap()
            .starts_with("agent:3 ")
    );
    assert_eq!(lines[2]["tool"], "halo_tickets_update");
    assert_eq!(lines[2]["id"], id_a.to_string());
    assert_eq!(lines[2]["fields"], json!(["summary"]));
    assert!(
        lines
            .iter()
            .all(|l| l["outcome"] == "done" && l.get("values").is_none())
    );
    assert!(lines.iter().all(|l| l["session"].is_string()));

    // Halo's tokens never left the server, and no token reached the log.
    let logs = server.logs();
    assert!(!logs.contains("refresh_token="), "{logs}");
    let (codes, _) = sim.signin_counts();
    assert_eq!(codes, 2);
    let _ = std::fs::remove_file(&audit);
    drop(a);
    drop(b);
}

/// The sign-in done by hand (no rmcp): for the negative cases.
struct Manual {
    base: String,
    client_id: String,
    verifier: String,
}

impl Manual {
    async fn register(base: &str) -> Manual {
        let r = http()
            .post(format!("{base}/register"))
            .json(&json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let reg: Value = r.json().await.unwrap();
        assert!(reg.get("client_secret").is_none());
        Manual {
            base: base.to_owned(),
            client_id: reg["client_id"].as_str().unwrap().to_owned(),
            verifier: "manual-verifier-0123456789-abcdefghijklmnopqrstuvwxyz".into(),
        }
    }

    fn authorize_url(&self, redirect: &str) -> String {
        let mut url = reqwest::Url::parse(&format!("{}/authorize", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("state", "st-7")
            .append_pair("code_challenge", &s256(&self.verifier))
            .append_pair("code_challenge_method", "S256");
        url.to_string()
    }

    async fn code(&self, agent: i64) -> String {
        let back = browser(&self.authorize_url(CALLBACK), agent).await;
        let q = query(&back);
        assert_eq!(q["state"], "st-7");
        q["code"].clone()
    }

    async fn exchange(&self, code: &str, verifier: &str) -> (u16, Value) {
        token(
            &self.base,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("client_id", &self.client_id),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    async fn tokens(&self, agent: i64) -> Value {
        let code = self.code(agent).await;
        let (status, body) = self.exchange(&code, &self.verifier.clone()).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn refresh(&self, refresh: &str, client_id: &str) -> (u16, Value) {
        token(
            &self.base,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", client_id),
            ],
        )
        .await
    }
}

fn access(t: &Value) -> &str {
    t["access_token"].as_str().unwrap()
}

fn refresh_of(t: &Value) -> &str {
    t["refresh_token"].as_str().unwrap()
}

async fn works(base: &str, t: &Value) -> bool {
    mcp(base, Some(access(t))).await.is_ok()
}

#[tokio::test]
async fn pkce_codes_redirects_and_refresh_tokens_are_enforced() {
    let sim = sim().await;
    let server = start(&sim, &[]);
    let base = server.base.clone();
    let m = Manual::register(&base).await;

    // Redirect mismatch: shown, never redirected.
    let r = http()
        .get(m.authorize_url("http://127.0.0.1:9/elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // PKCE required: no challenge, no sign-in (the error goes back to the client).
    let mut no_pkce = reqwest::Url::parse(&format!("{base}/authorize")).unwrap();
    no_pkce
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &m.client_id)
        .append_pair("redirect_uri", CALLBACK);
    let r = http().get(no_pkce).send().await.unwrap();
    assert!(location(&r).contains("error=invalid_request"));

    // PKCE mismatch.
    let code = m.code(BETHANY).await;
    let (status, body) = m
        .exchange(
            &code,
            "wrong-verifier-0123456789-abcdefghijklmnopqrstuvwxyz",
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A reused code: refused, and what its first use got is revoked.
    let code = m.code(BETHANY).await;
    let (status, first) = m.exchange(&code, &m.verifier.clone()).await;
    assert_eq!(status, 200);
    assert!(works(&base, &first).await);
    let (status, again) = m.exchange(&code, &m.verifier.clone()).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        !works(&base, &first).await,
        "the first exchange's tokens are revoked"
    );

    // Refresh tokens rotate; another client cannot use one (and changes nothing); a replayed
    // one revokes the grant.
    let t = m.tokens(BETHANY).await;
    let other = Manual::register(&base).await;
    let (status, _) = m.refresh(refresh_of(&t), &other.client_id).await;
    assert_eq!(status, 400, "a stolen refresh token used by another client");
    let (status, t2) = m.refresh(refresh_of(&t), &m.client_id).await;
    assert_eq!(status, 200, "{t2}");
    assert_ne!(refresh_of(&t2), refresh_of(&t));
    assert!(works(&base, &t2).await);
    let (status, replay) = m.refresh(refresh_of(&t), &m.client_id).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        !works(&base, &t2).await,
        "a replayed refresh token revokes the grant"
    );
    let (status, _) = m.refresh(refresh_of(&t2), &m.client_id).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn halo_refusing_the_refresh_ends_the_grant_cleanly() {
    let sim = sim().await;
    let server = start(&sim, &[]);
    let base = server.base.clone();
    let m = Manual::register(&base).await;
    let t = m.tokens(BETHANY).await;
    let c = mcp(&base, Some(access(&t))).await.unwrap();
    call(&c, "halo_status", json!({})).await;

    // Halo's access token dies: the server renews it with Halo's refresh token (rotated), and
    // the call goes through.
    // Five calls find it dead at once: one refresh at Halo (a second one would spend the
    // rotated token twice and end the sign-in), and all five go through.
    sim.revoke_tokens();
    let list = via("halo_tickets_list", json!({"page_size": 1}));
    futures::future::join_all((0..5).map(|_| call(&c, "halo_read", list.clone()))).await;
    assert_eq!(sim.signin_counts().1, 1, "one refresh at Halo");

    // Now Halo refuses to renew: the call fails saying so, nothing is sent, and the grant is
    // over: its tokens stop working and its refresh token too (the client signs in again).
    sim.refuse_refreshes();
    sim.revoke_tokens();
    let e = call_err(
        &c,
        "halo_read",
        via("halo_tickets_list", json!({"page_size": 1})),
    )
    .await;
    assert!(e.contains("sign-in has ended"), "{e}");
    assert!(!works(&base, &t).await);
    let (status, body) = m.refresh(refresh_of(&t), &m.client_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let logs = server.logs();
    for secret in [access(&t), refresh_of(&t)] {
        assert!(!logs.contains(secret), "a token reached the log");
    }
}

#[test]
fn halo_mode_settings_are_checked_at_start() {
    let run = |env: &[(&str, &str)], bind: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
            .env_clear()
            .envs(env.iter().copied())
            .args(["--transport", "http", "--bind", bind])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let base = [
        ("HALO_BASE_URL", "https://acme.halopsa.com"),
        ("MCP_AUTH", "halo"),
    ];
    let (code, err) = run(&base, "127.0.0.1:0");
    assert_eq!(code, Some(2));
    assert!(err.contains("HALO_SIGNIN_CLIENT_ID"), "{err}");
    let mut with_id = base.to_vec();
    with_id.push(("HALO_SIGNIN_CLIENT_ID", "signin-app"));
    let (code, err) = run(&with_id, "0.0.0.0:0");
    assert_eq!(code, Some(2));
    assert!(err.contains("MCP_PUBLIC_URL"), "{err}");
}

#[tokio::test]
async fn the_demo_signs_in_with_nothing_but_the_url() {
    let server = Server::start(&[("MCP_AUTH", "halo")], &["--demo"]);
    let base = server.base.clone();
    let manager = rmcp_sign_in(&base, BETHANY).await;
    let c = connect(&base, manager).await;
    let s = call(&c, "halo_status", json!({})).await;
    assert_eq!(s["halo"]["acting_as"]["name"], "Bethany Clarke", "{s}");
}
