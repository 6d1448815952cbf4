//! Nothing a caller sends reaches past its tool: whatever the arguments, every request Halo
//! receives lies on the called tool's own paths (its resource's path, or that path and one
//! segment, its extra operations' paths, a composite's declared reads), never on `/auth` or
//! another resource; and a server limited by `--domains` and `--read-only` sends no write and
//! nothing outside its domains.
//!
//! One simulator serves every case (starting one costs more than a hundred calls); each case
//! looks at the requests the simulator logged during its own call. The property test runs on
//! its own runtime so that proptest's synchronous runner can drive async calls and shrink a
//! failing case to a small one.

use std::{
    cell::Cell,
    sync::Arc,
    time::{Duration, Instant},
};

use halo_mcp::{
    halo::{HaloClient, RateLimit},
    local::{self, Client},
    server::{Mode, Options},
    sim::{LoggedRequest, SimConfig, Simulator},
    tools::{self, ToolDef, ToolKind},
};
use once_cell::sync::Lazy;
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use rmcp::model::Implementation;
use serde_json::{Map, Value, json};

use crate::common::{halo_config, text};

/// Property cases per run: enough to give every tool of the catalogue several hostile calls,
/// few enough to finish in seconds on two cores.
const CASES: u32 = 8_000;
/// Cases against the server limited by `--domains` and `--read-only`.
const LIMITED_CASES: u32 = 2_000;

/// Domains of the limited server: two with guid ids and the one with the most composite reads.
const LIMITED_DOMAINS: &[&str] = &["sla", "schedules", "tickets"];

/// Values a hostile or confused caller sends, path tricks first.
static HOSTILE: Lazy<Vec<Value>> = Lazy::new(|| {
    let mut v: Vec<Value> = [
        "../Tickets/1001",
        "../Client/2",
        "%2e%2e/%2e%2e/auth/token",
        "%2E%2E",
        "%252e%252e",
        "..",
        ".",
        "../../auth/token",
        "..\\..\\auth\\token",
        "..%2f..%2fauth%2ftoken",
        "1/../../auth/token",
        "/auth/token",
        "1?deleted=true",
        "1&deleted=true",
        "1#x",
        "1%23x",
        "1%3Fx",
        "\0",
        "1\0",
        "%00",
        "1\n WARN forged",
        "\u{1b}[31m",
        "\u{202e}1",
        " ",
        "",
        "1 ",
        "0x10",
        "1e3",
        "-1",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301/../../Tickets/1",
        "2025-01-01",
        "true",
        "null",
    ]
    .iter()
    .map(|s| json!(s))
    .collect();
    v.extend([
        json!("A".repeat(120_000)),
        json!("../".repeat(40_000)),
        json!(0),
        json!(-1),
        json!(-4),
        json!(1),
        json!(2),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(2.0),
        json!(-0.0),
        json!(1e300),
        json!(8_999_999_999_999_999.0),
        json!(9_007_199_254_740_993.0),
        json!(true),
        json!(false),
        json!(null),
        json!([]),
        json!([1, 2]),
        json!(["../Tickets/1"]),
        json!([0, -1]),
        json!({"id": "../Tickets/1001"}),
        json!({"a": {"b": {"c": "%2e%2e/auth"}}}),
        json!([[["..", {"x": "\0"}]]]),
    ]);
    v
});

/// Pieces hostile strings are built from.
const PIECES: &[&str] = &[
    "..", ".", "/", "\\", "%", "%2e", "%2E", "%2f", "%2F", "%5c", "%00", "%25", "?", "#", "&", "=",
    "\0", "\n", "\r", "\t", "\u{1b}", " ", "auth", "token", "Tickets", "Client", "1", "1001", "a",
    "é", "\u{202e}", "api", ";", ":", "@", "+", "~", "-", "_",
];

/// Plausible values, so that many calls pass every check and build real requests, where a
/// hostile value in another argument then has to stay in its place.
static BENIGN: Lazy<Vec<Value>> = Lazy::new(|| {
    vec![
        json!(1),
        json!(2),
        json!(3),
        json!("1"),
        json!(2.0),
        json!(true),
        json!(false),
        json!("2025-06-01"),
        json!("compact"),
        json!("full"),
        json!("Kestrel"),
        json!("id"),
        json!(["id", "name"]),
        json!([1, 2]),
        json!(5),
        json!("SELECT 1"),
        json!({"name": "x"}),
        json!([{"id": 1}]),
    ]
});

fn hostile_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        8 => proptest::sample::select(BENIGN.clone()),
        3 => proptest::sample::select(HOSTILE.clone()),
        2 => proptest::collection::vec(proptest::sample::select(PIECES), 0..8)
            .prop_map(|p| Value::String(p.concat())),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
    ];
    let nested = leaf.clone().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec(
                (proptest::sample::select(vec!["id", "x", "../a"]), inner),
                0..3
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    });
    // Mostly plain values: nested ones are refused early and reach no request.
    prop_oneof![8 => leaf, 1 => nested]
}

/// Ids a record tool is called with: real-looking ones most of the time, so its other arguments
/// get checked too and requests get built, and hostile ones the rest.
fn id_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            json!(1),
            json!(2),
            json!("3"),
            json!(4.0),
            json!("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
        ]),
        2 => hostile_value(),
    ]
}

/// A tool's own argument names.
fn own_args(def: &ToolDef) -> Vec<String> {
    def.tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Names a tool does not have, but a confused caller sends.
const STRANGERS: &[&str] = &[
    "id",
    "ids",
    "confirm",
    "fields",
    "order",
    "ticket_id",
    "../x",
    "\0",
];

/// A tool and hostile arguments for it: mostly its own argument names (so calls get past the
/// unknown-argument check), often with `confirm: true` and a parent id where it takes them, so
/// deletes and scoped tools get as far as building a request.
fn case(tools: Arc<Vec<&'static ToolDef>>) -> impl Strategy<Value = (usize, Map<String, Value>)> {
    (0..tools.len()).prop_flat_map(move |i| {
        let own = own_args(tools[i]);
        let strangers: Vec<String> = STRANGERS.iter().map(|s| (*s).to_owned()).collect();
        let names = if own.is_empty() {
            proptest::sample::select(strangers).boxed()
        } else {
            prop_oneof![
                6 => proptest::sample::select(own.clone()),
                1 => proptest::sample::select(strangers),
            ]
            .boxed()
        };
        (
            Just(i),
            proptest::collection::vec((names, hostile_value()), 0..4),
            any::<bool>(),
            proptest::sample::select(vec![None, Some(json!(1)), Some(json!(2))]),
            proptest::option::weighted(0.8, id_value()),
        )
            .prop_map(move |(i, pairs, confirm, parent, id)| {
                let mut args: Map<String, Value> = pairs.into_iter().collect();
                if let Some(id) = id.filter(|_| own.iter().any(|n| n == "id")) {
                    args.entry("id").or_insert(id);
                }
                if confirm && own.iter().any(|n| n == "confirm") {
                    args.entry("confirm").or_insert(json!(true));
                }
                if let Some(p) = parent.filter(|_| own.iter().any(|n| n == "ticket_id")) {
                    args.entry("ticket_id").or_insert(p);
                }
                (i, args)
            })
    })
}

/// The API paths a tool may read or write: (exact paths, paths that may take one more segment).
fn own_paths(def: &ToolDef) -> Vec<String> {
    match &def.kind {
        ToolKind::Crud { resource, .. } => vec![resource.path.clone()],
        ToolKind::Extra { op, .. } => vec![op.path.clone()],
        ToolKind::Composite(c) => c.reads.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// Whether `segment` is one plain, encoded path segment that names no directory trick.
fn one_segment(segment: &str) -> bool {
    let plain = !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b));
    let lower = segment.to_ascii_lowercase();
    plain
        && !matches!(
            lower.as_str(),
            "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
        )
        && !lower.contains("%2f")
        && !lower.contains("%5c")
        && !lower.contains("%00")
        && !lower.contains("%25")
        && !lower.contains("%3f")
        && !lower.contains("%23")
}

/// Whether a logged request lies on one of `paths` (exactly, or with one segment after it).
fn on_paths(r: &LoggedRequest, paths: &[String]) -> bool {
    let Some(rest) = r.path.strip_prefix("/api") else {
        return false;
    };
    paths.iter().any(|p| {
        rest == p
            || rest
                .strip_prefix(p.as_str())
                .and_then(|tail| tail.strip_prefix('/'))
                .is_some_and(one_segment)
    })
}

/// What is wrong with the requests one call of `def` made, if anything.
fn violations(
    def: &ToolDef,
    requests: &[LoggedRequest],
    limited: Option<&[String]>,
) -> Vec<String> {
    let own = own_paths(def);
    let mut bad = Vec::new();
    for r in requests {
        let what = format!("{} {}?{}", r.method, r.path, r.query);
        if !r.path.starts_with("/api/") {
            bad.push(format!("{}: left the API: {what}", def.name()));
            continue;
        }
        if !on_paths(r, &own) {
            bad.push(format!("{}: outside its paths {own:?}: {what}", def.name()));
        }
        // Read-only tools only read; the ad-hoc SQL runs through POST /Report, its one read.
        let sql_read = def.name() == "halo_reports_query" && r.method == "POST";
        if def.read_only() && r.method != "GET" && !sql_read {
            bad.push(format!("{}: a read-only tool wrote: {what}", def.name()));
        }
        if let Some(allowed) = limited {
            if r.method != "GET" {
                bad.push(format!(
                    "{}: a write on a read-only server: {what}",
                    def.name()
                ));
            }
            if !on_paths(r, allowed) {
                bad.push(format!(
                    "{}: outside the allowed domains: {what}",
                    def.name()
                ));
            }
        }
    }
    bad
}

/// A dispatch-mode session (every visible tool callable by name) on `sim`, with a budget and
/// breaker that never get in the way of a few thousand quick calls.
async fn session(sim: &Simulator, options: Options) -> Client {
    let mut cfg = halo_config(sim);
    cfg.resilience.rate_limit = RateLimit {
        limit: 1_000_000,
        window: Duration::from_secs(1),
    };
    cfg.resilience.breaker_threshold = 1_000_000;
    cfg.resilience.max_retries = 0;
    // No reference cache: every call that passes its checks really reaches the simulator.
    cfg.resilience.cache_ttl = Duration::ZERO;
    let halo = HaloClient::new(cfg).unwrap();
    local::connect_with(halo, options, Implementation::new("paths-test", "1"))
        .await
        .unwrap()
        .0
}

fn dispatch() -> Options {
    Options {
        mode: Mode::Dispatch,
        ..Options::default()
    }
}

fn limited() -> Options {
    Options {
        mode: Mode::Dispatch,
        read_only: true,
        domains: Some(LIMITED_DOMAINS.iter().map(|d| (*d).to_owned()).collect()),
        ..Options::default()
    }
}

/// Calls `name` and returns the requests Halo received meanwhile and the result's text.
async fn traced(
    sim: &Simulator,
    client: &Client,
    name: &str,
    args: Map<String, Value>,
) -> (Vec<LoggedRequest>, String) {
    let before = sim.requests().len();
    let r = local::call(client, name, Value::Object(args))
        .await
        .unwrap();
    let requests = sim.requests().split_off(before);
    (requests, text(&r))
}

/// Paths of every tool a limited server shows.
fn limited_paths() -> Vec<String> {
    tools::all()
        .into_iter()
        .filter(|d| LIMITED_DOMAINS.contains(&d.domain) && d.read_only())
        .flat_map(own_paths)
        .collect()
}

struct Tally {
    cases: Cell<u32>,
    requests: Cell<usize>,
    outside: Cell<usize>,
}

/// Runs `cases` generated calls through `client`; fails (and shrinks) on the first case whose
/// requests leave the tool's paths, or the allowed domains when `limited` is given.
fn run_property(
    rt: &tokio::runtime::Runtime,
    sim: &Simulator,
    client: &Client,
    cases: u32,
    limited: Option<&[String]>,
    tally: &Tally,
) {
    let mut all = tools::all();
    if limited.is_some() {
        // Every tool is tried (hidden ones must stay unreachable), but the few the limited
        // server shows are drawn far more often, so that many calls do reach Halo.
        let shown: Vec<&'static ToolDef> = all
            .iter()
            .copied()
            .filter(|d| LIMITED_DOMAINS.contains(&d.domain) && d.read_only())
            .collect();
        for _ in 0..10 {
            all.extend(shown.iter().copied());
        }
    }
    let all = Arc::new(all);
    let config = Config {
        cases,
        failure_persistence: None,
        // Each case costs a round trip; shrinking a failure needs only a few hundred.
        max_shrink_iters: 300,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(all.clone()), |(i, args)| {
        let def = all[i];
        let (requests, t) = rt.block_on(traced(sim, client, def.name(), args.clone()));
        // PATHS_DEBUG=1 shows each case and its outcome: how far generated calls get.
        if std::env::var_os("PATHS_DEBUG").is_some() {
            let a: String = format!("{args:?}").chars().take(150).collect();
            let t: String = t.chars().take(150).collect();
            eprintln!("{} {a} -> {} requests: {t}", def.name(), requests.len());
        }
        tally.cases.set(tally.cases.get() + 1);
        tally.requests.set(tally.requests.get() + requests.len());
        let bad = violations(def, &requests, limited);
        tally.outside.set(tally.outside.get() + bad.len());
        if bad.is_empty() {
            Ok(())
        } else {
            Err(TestCaseError::fail(bad.join("\n")))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn no_argument_leads_a_request_off_its_tool() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let sim = rt.block_on(local::simulator(SimConfig::default())).unwrap();
    let open = rt.block_on(session(&sim, dispatch()));
    let ro = rt.block_on(session(&sim, limited()));
    // Tokens first, so that any later request outside /api is a leak, not a login.
    for c in [&open, &ro] {
        let (_, t) = rt.block_on(traced(
            &sim,
            c,
            "halo_tickets_list",
            json!({"page_size": 1}).as_object().unwrap().clone(),
        ));
        assert!(t.contains("records"), "{t}");
    }
    let tally = Tally {
        cases: Cell::new(0),
        requests: Cell::new(0),
        outside: Cell::new(0),
    };

    // Every tool, with every path trick in each id-like argument it has (the others valid).
    let all = tools::all();
    let mut tricks: Vec<&Value> = HOSTILE.iter().take(20).collect();
    let more = [
        json!(0),
        json!(-1),
        json!(1.5),
        json!(8_999_999_999_999_999.0),
        json!(9_007_199_254_740_993.0),
        json!(i64::MIN),
        json!({"id": "../Tickets/1001"}),
        json!(["../Tickets/1"]),
    ];
    tricks.extend(more.iter());
    for def in &all {
        let own = own_args(def);
        let id_like: Vec<&String> = own.iter().filter(|n| *n == "id" || *n == "ids").collect();
        for target in &id_like {
            for trick in &tricks {
                let mut args = Map::new();
                for name in &id_like {
                    args.insert((*name).clone(), json!(1));
                }
                args.insert((*target).clone(), (*trick).clone());
                if own.iter().any(|n| n == "confirm") {
                    args.insert("confirm".into(), json!(true));
                }
                let (requests, _) = rt.block_on(traced(&sim, &open, def.name(), args.clone()));
                tally.cases.set(tally.cases.get() + 1);
                tally.requests.set(tally.requests.get() + requests.len());
                let bad = violations(def, &requests, None);
                let shown: String = format!("{args:?}").chars().take(300).collect();
                assert!(
                    bad.is_empty(),
                    "{}({shown}):\n{}",
                    def.name(),
                    bad.join("\n")
                );
            }
        }
    }
    let sweep = tally.cases.get();
    let sweep_time = started.elapsed();

    run_property(&rt, &sim, &open, CASES, None, &tally);
    let property_time = started.elapsed() - sweep_time;
    let allowed = limited_paths();
    let before_limited = tally.requests.get();
    run_property(&rt, &sim, &ro, LIMITED_CASES, Some(&allowed), &tally);
    let limited_requests = tally.requests.get() - before_limited;

    eprintln!(
        "paths: {} cases ({sweep} sweep, {CASES} property, {LIMITED_CASES} limited-server \
         property) over {} tools; {} requests checked ({limited_requests} from the limited \
         server), {} outside a tool's paths; {:.1} s (sweep {:.1} s, property {:.1} s)",
        tally.cases.get(),
        all.len(),
        tally.requests.get(),
        tally.outside.get(),
        started.elapsed().as_secs_f32(),
        sweep_time.as_secs_f32(),
        property_time.as_secs_f32(),
    );
    assert_eq!(tally.outside.get(), 0);
    assert!(tally.cases.get() >= sweep + CASES + LIMITED_CASES);
    // Enough of the calls got as far as Halo for the check to mean something.
    assert!(
        tally.requests.get() > 500,
        "{} requests",
        tally.requests.get()
    );
}

/// A simulator with the sessions the regression tests need: open, `--domains sla`, and
/// `--read-only`.
struct Fixture {
    sim: Simulator,
    open: Client,
    sla_only: Client,
    read_only: Client,
}

impl Fixture {
    async fn start() -> Fixture {
        let sim = local::simulator(SimConfig::default()).await.unwrap();
        let open = session(&sim, dispatch()).await;
        let sla_only = session(
            &sim,
            Options {
                mode: Mode::Dispatch,
                domains: Some(vec!["sla".into()]),
                ..Options::default()
            },
        )
        .await;
        let read_only = session(
            &sim,
            Options {
                mode: Mode::Dispatch,
                read_only: true,
                ..Options::default()
            },
        )
        .await;
        Fixture {
            sim,
            open,
            sla_only,
            read_only,
        }
    }

    /// Calls a tool that must fail before sending anything; returns the error.
    async fn refused(&self, client: &Client, tool: &str, args: Value) -> String {
        let tokens = self.sim.token_requests();
        let before = self.sim.requests().len();
        let r = local::call(client, tool, args.clone()).await.unwrap();
        let sent = self.sim.requests().split_off(before);
        let shown: String = args.to_string().chars().take(200).collect();
        assert_eq!(r.is_error, Some(true), "{tool}({shown}) ran: {}", text(&r));
        assert!(sent.is_empty(), "{tool}({shown}) sent {sent:?}");
        assert_eq!(
            self.sim.token_requests(),
            tokens,
            "{tool}({shown}) logged in"
        );
        text(&r)
    }

    /// Calls a tool and returns the requests it sent and its result text.
    /// Calls a tool and returns the API requests it sent (a first call also logs in) and its
    /// result text.
    async fn sent(&self, client: &Client, tool: &str, args: Value) -> (Vec<LoggedRequest>, String) {
        let (mut sent, t) =
            traced(&self.sim, client, tool, args.as_object().unwrap().clone()).await;
        sent.retain(|r| {
            let login = r.method == "POST" && r.path == "/auth/token";
            assert!(login || r.path.starts_with("/api/"), "{r:?}");
            !login
        });
        (sent, t)
    }
}

#[tokio::test]
async fn string_ids_cannot_leave_their_resource() {
    let f = Fixture::start().await;
    let ticket = f.sim.records("Tickets")[0]["id"].as_i64().unwrap();
    let tickets = f.sim.count("Tickets");
    let priorities = f.sim.count("Priority");

    // Under --domains sla, a priority "id" deleted a ticket.
    let e = f
        .refused(
            &f.sla_only,
            "halo_priorities_delete",
            json!({"id": format!("../Tickets/{ticket}"), "confirm": true}),
        )
        .await;
    assert!(e.contains("must be a priority guid"), "{e}");
    assert!(
        f.sim.record("Tickets", ticket).is_some(),
        "the ticket was deleted"
    );
    assert_eq!(f.sim.count("Tickets"), tickets);

    // Under --read-only, a priority "id" read a client.
    f.refused(
        &f.read_only,
        "halo_priorities_get",
        json!({"id": "../Client/2"}),
    )
    .await;
    // Encoded dots reached /auth/token with the bearer token.
    for id in ["%2e%2e/%2e%2e/auth/token", "%2E%2E", "..", "."] {
        f.refused(&f.open, "halo_priorities_get", json!({"id": id}))
            .await;
        f.refused(&f.open, "halo_holidays_get", json!({"id": id}))
            .await;
    }
    // A query was injected, a fragment cut the id, NUL ids hit the collection path.
    for id in ["1?deleted=true", "1#x", "\0", "1\0", " ", ""] {
        for tool in ["halo_holidays_get", "halo_priorities_get"] {
            f.refused(&f.open, tool, json!({"id": id})).await;
        }
        f.refused(
            &f.open,
            "halo_holidays_delete",
            json!({"id": id, "confirm": true}),
        )
        .await;
    }
    // An update passed its existence check on a ticket, then created a priority.
    f.refused(
        &f.open,
        "halo_priorities_update",
        json!({"id": "../Tickets/1003", "name": "hijack"}),
    )
    .await;
    assert_eq!(
        f.sim.count("Priority"),
        priorities,
        "a priority was created"
    );

    // A real guid still goes out, as exactly one segment of its own resource.
    let guid = f.sim.records("Priority")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (sent, _) = f
        .sent(&f.open, "halo_priorities_get", json!({"id": guid}))
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].path, format!("/api/Priority/{guid}"));
    assert_eq!(sent[0].query, "includedetails=true");
}

#[tokio::test]
async fn integer_ids_are_exact_and_positive_everywhere() {
    let f = Fixture::start().await;
    // A float id is the integer it spells, or refused: never a neighbouring record.
    let (sent, _) = f
        .sent(
            &f.open,
            "halo_tickets_get",
            serde_json::from_str(r#"{"id": 8999999999999999.0}"#).unwrap(),
        )
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].path, "/api/Tickets/8999999999999999");
    let big: Value = serde_json::from_str(r#"{"id": 9007199254740993.0}"#).unwrap();
    f.refused(&f.open, "halo_tickets_get", big).await;

    let bad_ids = [
        json!(0),
        json!(-1),
        json!(-4),
        json!(1.5),
        json!("../1"),
        json!("1e3"),
    ];
    for id in &bad_ids {
        for tool in [
            "halo_tickets_get",
            "halo_tickets_overview",
            "halo_clients_overview",
            "halo_contracts_overview",
            "halo_assets_overview",
            "halo_reports_run",
        ] {
            let e = f.refused(&f.open, tool, json!({"id": id})).await;
            assert!(e.contains("`id` must be"), "{tool}({id}): {e}");
        }
        for tool in [
            "halo_assets_get_many",
            "halo_users_get_many",
            "halo_sites_get_many",
        ] {
            f.refused(&f.open, tool, json!({"ids": [1, id]})).await;
        }
        f.refused(
            &f.open,
            "halo_assets_find_match",
            json!({"hostname": "PC-0001", "client_id": id}),
        )
        .await;
        f.refused(
            &f.open,
            "halo_actions_get",
            json!({"ticket_id": id, "id": 1}),
        )
        .await;
    }
    // A required id is never defaulted: missing is an error, not a request for record 0.
    for tool in ["halo_tickets_overview", "halo_reports_run"] {
        let e = f.refused(&f.open, tool, json!({})).await;
        assert!(e.contains("`id` is required"), "{e}");
    }
}

#[tokio::test]
async fn errors_quote_callers_briefly_and_escaped() {
    let f = Fixture::start().await;
    let huge = "9".repeat(1 << 20);
    let forged = "1\n WARN forged\u{1b}[2J\0";
    let check = |tool: &str, e: &str| {
        assert!(e.len() < 500, "{tool}: a {}-byte error", e.len());
        assert!(
            !e.contains('\n') && !e.contains('\u{1b}') && !e.contains('\0'),
            "{tool}: {e:?}"
        );
    };
    for value in [json!(huge), json!(format!("../{huge}")), json!(forged)] {
        for (tool, args) in [
            ("halo_tickets_get", json!({"id": value})),
            ("halo_priorities_get", json!({"id": value})),
            ("halo_tickets_overview", json!({"id": value})),
            ("halo_assets_get_many", json!({"ids": [value]})),
            ("halo_tickets_list", json!({"client_id": value})),
            ("halo_tickets_list", json!({"order": value})),
            ("halo_tickets_list", json!({"page_size": value})),
            ("halo_tickets_create", json!({"id": value, "summary": "x"})),
            ("halo_users_search", json!({"email": value})),
        ] {
            let e = f.refused(&f.open, tool, args).await;
            check(tool, &e);
        }
    }
    // Argument names and tool names are the caller's too.
    let mut args = Map::new();
    args.insert(format!("{huge}\n WARN forged"), json!(1));
    // (A tool with few arguments: the error lists them all, and that list is ours.)
    let e = f
        .refused(&f.open, "halo_tickets_overview", Value::Object(args))
        .await;
    check("unknown argument", &e);
    let e = f
        .refused(&f.open, &format!("halo_{huge}\n WARN forged"), json!({}))
        .await;
    check("unknown tool", &e);
}

#[tokio::test]
async fn sort_and_field_names_are_checked() {
    let f = Fixture::start().await;
    let e = f
        .refused(&f.open, "halo_tickets_list", json!({"order": "dateocured"}))
        .await;
    assert!(e.contains("did you mean `dateoccurred`"), "{e}");
    let e = f
        .refused(&f.open, "halo_tickets_list", json!({"fields": ["sumary"]}))
        .await;
    assert!(e.contains("did you mean `summary`"), "{e}");
    let e = f
        .refused(
            &f.open,
            "halo_tickets_get",
            json!({"id": 1, "fields": ["sumary"]}),
        )
        .await;
    assert!(e.contains("`summary`"), "{e}");
    let e = f
        .refused(&f.open, "halo_priorities_list", json!({"order": "fixtme"}))
        .await;
    assert!(e.contains("did you mean `fixtime`"), "{e}");
    let e = f
        .refused(
            &f.open,
            "halo_assets_get_many",
            json!({"ids": [1], "fields": ["inventory_numbr"]}),
        )
        .await;
    assert!(e.contains("`inventory_number`"), "{e}");

    // Real Halo sort keys pass, including ones only the swagger knows.
    for field in [
        "dateoccurred",
        "id",
        "targetdate",
        "lastactiondate",
        "child_count",
        "DateOccurred",
    ] {
        let (sent, t) = f
            .sent(
                &f.open,
                "halo_tickets_list",
                json!({"order": field, "orderdesc": true, "page_size": 2}),
            )
            .await;
        assert!(t.contains("\"records\""), "{field}: {t}");
        assert!(
            sent.iter()
                .any(|r| r.query.contains(&format!("order={field}"))),
            "{field}: {sent:?}"
        );
    }
    let (_, t) = f
        .sent(
            &f.open,
            "halo_tickets_list",
            json!({"fields": ["summary", "targetdate", "slapercused"], "page_size": 1}),
        )
        .await;
    assert!(t.contains("\"records\""), "{t}");
    let (_, t) = f
        .sent(&f.open, "halo_priorities_list", json!({"order": "fixtime"}))
        .await;
    assert!(t.contains("\"records\""), "{t}");
}
