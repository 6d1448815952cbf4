//! Duplicate matchers: the records that inflate per-device and per-seat bills.
//!
//! Scores and recommended actions:
//! - assets: same normalised serial → 100 (auto-update the existing asset); same hostname with a
//!   different or missing serial → 85 (manual review); nothing → 0 (create new);
//! - users: same email, ignoring case → 100; same UPN (a `login` of the form user@domain) → 95
//!   (both: update the existing user); same name only → 70 (manual review);
//! - sites: same normalised name → 100; a similar name ([`SITE_NAME_SIMILAR`], Jaro-Winkler on
//!   normalised names, or one name containing the other) with the same address (postcode, or
//!   first address line at least [`SITE_ADDRESS_SIMILAR`] alike) → 95; a similar name alone →
//!   85.
//!
//! Scans scale by *blocking*: records are grouped by their normalised keys, and only records that
//! share a key are compared, so 50,000 assets cost one pass and a few comparisons instead of
//! 1.25 billion. Billing only counts *active* records — assets with status Active and not
//! inactive, users not inactive — so every group says how many of its members are billable.

use std::collections::{HashMap, HashSet};

use futures::FutureExt;
use serde_json::{Map, Value, json};

use super::{
    Composite, Ctx,
    asset_keys::{self, AssetKeys, Kind},
    fetch::{Pages, Reads},
    int_arg,
    matching::{
        normalise_email, normalise_hostname, normalise_name, normalise_serial, normalise_upn,
        scope_query, search_candidates, text,
    },
    resource, str_arg,
};
use crate::tools::{ToolError, args::as_int, compact};

/// Similar site names: Jaro-Winkler on normalised names at or above this.
pub const SITE_NAME_SIMILAR: f64 = 0.88;
/// Similar first address lines: Jaro-Winkler at or above this.
pub const SITE_ADDRESS_SIMILAR: f64 = 0.90;
/// Sites fetched one by one when their list rows came without an address.
const MAX_SITE_GETS: usize = 10;
/// Groups listed in a scan's answer (the summary counts them all).
const MAX_GROUPS: usize = 50;

fn id_of(v: &Value) -> i64 {
    v.get("id").and_then(as_int).unwrap_or(0)
}

/// Billable asset: not inactive, and its status (when Halo says one) is an active one.
pub fn asset_billable(a: &Value) -> bool {
    let status = text(a, "status_name").to_ascii_lowercase();
    a.get("inactive") != Some(&Value::Bool(true))
        && (status.is_empty() || (status.contains("active") && !status.contains("inactive")))
}

/// Billable user: not inactive.
pub fn user_billable(u: &Value) -> bool {
    u.get("inactive") != Some(&Value::Bool(true))
}

/// A group of records that look like one.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// What they share: "serial", "hostname", "email", "upn" or "name".
    pub matched_on: &'static str,
    pub key: String,
    pub score: u8,
    pub action: &'static str,
    /// Indexes into the scanned records.
    pub members: Vec<usize>,
}

/// What a scan did: records read, blocks formed, pairs compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanStats {
    pub records: usize,
    pub blocks: usize,
    pub comparisons: u64,
}

impl ScanStats {
    /// Pairs an all-against-all comparison would need.
    pub fn naive_comparisons(&self) -> u64 {
        let n = self.records as u64;
        n * n.saturating_sub(1) / 2
    }
}

fn blocks<'a>(
    records: &'a [Value],
    key: impl Fn(&'a Value) -> Option<String>,
) -> HashMap<String, Vec<usize>> {
    let mut map: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(k) = key(r) {
            map.entry(k).or_default().push(i);
        }
    }
    map
}

/// Pairs compared inside a block, for the stats (every member against every other).
fn pairs(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

/// An asset's serial or hostname, read where its type keeps it (see `asset_keys`).
fn asset_value(keys: &AssetKeys, a: &Value, kind: Kind) -> Option<String> {
    let read = keys.read(a, kind)?;
    match kind {
        Kind::Serial => normalise_serial(&read.value),
        Kind::Hostname => normalise_hostname(&read.value),
    }
}

/// Duplicate assets by serial (100) and by hostname with differing serials (85), each read
/// from the field the asset's type keeps it in.
pub fn scan_assets(records: &[Value], keys: &AssetKeys) -> (Vec<Group>, ScanStats) {
    let serials: Vec<Option<String>> = records
        .iter()
        .map(|r| asset_value(keys, r, Kind::Serial))
        .collect();
    let mut stats = ScanStats {
        records: records.len(),
        ..ScanStats::default()
    };
    let mut groups = Vec::new();
    let by_serial = blocks(records, |r| asset_value(keys, r, Kind::Serial));
    for (key, members) in by_serial.into_iter().filter(|(_, m)| m.len() > 1) {
        stats.blocks += 1;
        stats.comparisons += pairs(members.len());
        groups.push(Group {
            matched_on: "serial",
            key,
            score: 100,
            action: "auto-update: one device; keep one record and update it",
            members,
        });
    }
    let by_host = blocks(records, |r| asset_value(keys, r, Kind::Hostname));
    for (key, members) in by_host.into_iter().filter(|(_, m)| m.len() > 1) {
        stats.blocks += 1;
        stats.comparisons += pairs(members.len());
        let distinct: HashSet<Option<&String>> = members
            .iter()
            .map(|i| serials.get(*i).and_then(Option::as_ref))
            .collect();
        // All members share one serial: the serial group already says it.
        if distinct.len() == 1 && !distinct.contains(&None) {
            continue;
        }
        groups.push(Group {
            matched_on: "hostname",
            key,
            score: 85,
            action: "manual review: same hostname, different serials (a rebuild or a reused name?)",
            members,
        });
    }
    sort_groups(&mut groups);
    (groups, stats)
}

/// Duplicate users by email (100), UPN (95) and name alone (70).
pub fn scan_users(records: &[Value]) -> (Vec<Group>, ScanStats) {
    let emails: Vec<Option<String>> = records
        .iter()
        .map(|r| normalise_email(text(r, "emailaddress")))
        .collect();
    let mut stats = ScanStats {
        records: records.len(),
        ..ScanStats::default()
    };
    let mut groups = Vec::new();
    let mut covered: HashSet<Vec<usize>> = HashSet::new();
    let by_email = blocks(records, |r| normalise_email(text(r, "emailaddress")));
    for (key, members) in by_email.into_iter().filter(|(_, m)| m.len() > 1) {
        stats.blocks += 1;
        stats.comparisons += pairs(members.len());
        covered.insert(members.clone());
        groups.push(Group {
            matched_on: "email",
            key,
            score: 100,
            action: "update existing: same person; merge into one user",
            members,
        });
    }
    let distinct_emails = |members: &[usize]| {
        members
            .iter()
            .map(|i| emails.get(*i).and_then(Option::as_ref))
            .collect::<HashSet<_>>()
            .len()
    };
    let by_upn = blocks(records, |r| normalise_upn(text(r, "login")));
    for (key, members) in by_upn.into_iter().filter(|(_, m)| m.len() > 1) {
        stats.blocks += 1;
        stats.comparisons += pairs(members.len());
        if distinct_emails(&members) < 2 || !covered.insert(members.clone()) {
            continue;
        }
        groups.push(Group {
            matched_on: "upn",
            key,
            score: 95,
            action: "update existing: same sign-in (UPN); merge into one user",
            members,
        });
    }
    let by_name = blocks(records, |r| normalise_name(text(r, "name")));
    for (key, members) in by_name.into_iter().filter(|(_, m)| m.len() > 1) {
        stats.blocks += 1;
        stats.comparisons += pairs(members.len());
        if distinct_emails(&members) < 2 || !covered.insert(members.clone()) {
            continue;
        }
        groups.push(Group {
            matched_on: "name",
            key,
            score: 70,
            action: "manual review: same name, different emails (two people, or one with two addresses?)",
            members,
        });
    }
    sort_groups(&mut groups);
    (groups, stats)
}

fn sort_groups(groups: &mut [Group]) {
    groups.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(b.members.len().cmp(&a.members.len()))
            .then(a.key.cmp(&b.key))
    });
}

/// The score of one existing asset against a candidate serial and hostname, and the field the
/// match came from.
pub fn asset_score(
    keys: &AssetKeys,
    candidate_serial: Option<&str>,
    candidate_host: Option<&str>,
    a: &Value,
) -> (u8, &'static str, Option<String>) {
    let want_serial = candidate_serial.and_then(normalise_serial);
    let want_host = candidate_host.and_then(normalise_hostname);
    if let Some(read) = keys.read(a, Kind::Serial)
        && want_serial.is_some()
        && want_serial == normalise_serial(&read.value)
    {
        return (100, "serial", Some(read.from));
    }
    if let Some(read) = keys.read(a, Kind::Hostname)
        && want_host.is_some()
        && want_host == normalise_hostname(&read.value)
    {
        return (85, "hostname", Some(read.from));
    }
    (0, "none", None)
}

pub fn user_score(
    email: Option<&str>,
    upn: Option<&str>,
    name: Option<&str>,
    u: &Value,
) -> (u8, &'static str) {
    let eq = |want: Option<String>, have: Option<String>| want.is_some() && want == have;
    if eq(
        email.and_then(normalise_email),
        normalise_email(text(u, "emailaddress")),
    ) {
        (100, "email")
    } else if eq(upn.and_then(normalise_upn), normalise_upn(text(u, "login"))) {
        (95, "upn")
    } else if eq(
        name.and_then(normalise_name),
        normalise_name(text(u, "name")),
    ) {
        (70, "name")
    } else {
        (0, "none")
    }
}

/// A postcode compared without spaces and case: `bs1 4dj` is `BS1 4DJ`.
fn normalise_postcode(p: &str) -> Option<String> {
    let n: String = p
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    (!n.is_empty()).then_some(n)
}

/// A site's address as Halo returns it: a list row (`Site_List`, with `includeaddress=true`)
/// spells it as `delivery_address_line1..5`, GET by id as a `delivery_address` object
/// (AddressStore: `line1..line4`, `postcode`). Which list line holds the postcode is not
/// documented, so every line is a postcode candidate. `None`: the record carries no address.
fn site_address(s: &Value) -> Option<(Option<String>, Vec<String>)> {
    if let Some(addr) = s.get("delivery_address").filter(|a| a.is_object()) {
        let line1 = Some(text(addr, "line1")).filter(|l| !l.is_empty());
        let mut posts: Vec<String> = normalise_postcode(text(addr, "postcode"))
            .into_iter()
            .collect();
        // A postcode typed into a street line is still the postcode.
        posts.extend(
            ["line2", "line3", "line4"]
                .iter()
                .filter_map(|k| normalise_postcode(text(addr, k))),
        );
        return Some((line1.and_then(normalise_name), posts));
    }
    let lines: Vec<&str> = (1..=5)
        .filter_map(|i| {
            s.get(format!("delivery_address_line{i}"))
                .and_then(Value::as_str)
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    let line1 = lines.first().copied().filter(|l| !l.is_empty());
    let posts = lines.iter().filter_map(|l| normalise_postcode(l)).collect();
    Some((line1.and_then(normalise_name), posts))
}

/// Whether a site record carries its address (a list row read without `includeaddress`, or
/// from a tenant that ignores it, does not).
pub fn site_has_address(s: &Value) -> bool {
    site_address(s).is_some()
}

/// The score of one existing site against a candidate name and address.
pub fn site_score(
    name: &str,
    line1: Option<&str>,
    postcode: Option<&str>,
    s: &Value,
) -> (u8, &'static str) {
    let (Some(want), Some(have)) = (normalise_name(name), normalise_name(text(s, "name"))) else {
        return (0, "none");
    };
    if want == have {
        return (100, "name");
    }
    let similar = strsim::jaro_winkler(&want, &have) >= SITE_NAME_SIMILAR
        || have.contains(&want)
        || want.contains(&have);
    if !similar {
        return (0, "none");
    }
    let Some((have_line, have_posts)) = site_address(s) else {
        return (85, "similar name (address not returned)");
    };
    let want_post = postcode.and_then(normalise_postcode);
    let post_match = want_post.is_some_and(|p| have_posts.contains(&p));
    let line_match = match (line1.and_then(normalise_name), have_line) {
        (Some(a), Some(b)) => strsim::jaro_winkler(&a, &b) >= SITE_ADDRESS_SIMILAR,
        _ => false,
    };
    if post_match || line_match {
        (95, "similar name and address")
    } else {
        (85, "similar name")
    }
}

fn action(kind: &str, score: u8) -> &'static str {
    match (kind, score) {
        (_, 0) => "create new",
        ("asset", 100) | ("site", 100) => "auto-update the existing record",
        ("user", s) if s >= 95 => "update the existing user",
        _ => "manual review before creating",
    }
}

// ---- the tools -------------------------------------------------------------------------------

pub const FIND_ASSET: Composite = Composite {
    domain: "duplicates",
    name: "halo_assets_find_match",
    title: "Match an asset",
    description: "Does this device exist? Serial match 100 (update), hostname only 85 (review), \
                  none 0 (create).",
    params: &[
        ("serial", "string"),
        ("hostname", "string"),
        ("client_id", "integer"),
    ],
    reads: &["/Asset", "/AssetType"],
    run: |ctx, args| find_asset(ctx, args).boxed(),
};

pub const SCAN_ASSETS: Composite = Composite {
    domain: "duplicates",
    name: "halo_assets_scan_duplicates",
    title: "Scan assets for duplicates",
    description: "Duplicate assets by serial (100) and hostname (85), with billable counts; one \
                  client or all.",
    params: &[("client_id", "integer: Omit for the whole tenant")],
    reads: &["/Asset", "/AssetType"],
    run: |ctx, args| scan_asset_tool(ctx, args).boxed(),
};

pub const FIND_USER: Composite = Composite {
    domain: "duplicates",
    name: "halo_users_find_match",
    title: "Match a user",
    description: "Does this person exist? Email 100, UPN 95 (update), name only 70 (review), \
                  none 0 (create).",
    params: &[
        ("email", "string"),
        ("upn", "string: Sign-in, user@domain"),
        ("name", "string"),
        ("client_id", "integer"),
    ],
    reads: &["/Users"],
    run: |ctx, args| find_user(ctx, args).boxed(),
};

pub const SCAN_USERS: Composite = Composite {
    domain: "duplicates",
    name: "halo_users_scan_duplicates",
    title: "Scan users for duplicates",
    description: "Duplicate users by email (100), UPN (95) and name (70), with billable counts; \
                  one client or all.",
    params: &[("client_id", "integer: Omit for the whole tenant")],
    reads: &["/Users"],
    run: |ctx, args| scan_user_tool(ctx, args).boxed(),
};

pub const FIND_SITE: Composite = Composite {
    domain: "duplicates",
    name: "halo_sites_find_match",
    title: "Match a site",
    description: "Does this site exist? Same name 100, similar name and address 95, similar name \
                  85, none 0.",
    params: &[
        ("name", "string!"),
        ("address", "string: First address line"),
        ("postcode", "string"),
        ("client_id", "integer"),
    ],
    reads: &["/Site"],
    run: |ctx, args| find_site(ctx, args).boxed(),
};

/// A score, what matched, and (assets) the field the matched value came from.
type Scored = (u8, &'static str, Option<String>);

fn ranked(
    kind: &'static str,
    r: &crate::catalog::Resource,
    records: Vec<Value>,
    score: impl Fn(&Value) -> Scored,
    reads: &Reads,
) -> Value {
    let mut scored: Vec<(Scored, Value)> = records
        .into_iter()
        .map(|rec| (score(&rec), rec))
        .filter(|((s, _, _), _)| *s > 0)
        .collect();
    scored.sort_by(|a, b| (b.0).0.cmp(&(a.0).0).then(id_of(&a.1).cmp(&id_of(&b.1))));
    let best = scored.first().map(|((s, _, _), _)| *s).unwrap_or(0);
    let candidates: Vec<Value> = scored
        .iter()
        .take(10)
        .map(|((s, why, field), rec)| {
            let mut c = json!({
                "score": s, "matched_on": why, "action": action(kind, *s),
                "record": compact::shape(rec, &r.list_fields, &r.label, compact::Detail::Compact),
            });
            if let (Some(f), Value::Object(o)) = (field, &mut c) {
                o.insert("matched_field".into(), json!(f));
            }
            c
        })
        .collect();
    json!({
        "score": best,
        "action": action(kind, best),
        "best": candidates.first().cloned(),
        "candidates": candidates,
        "records_read": reads.records,
    })
}

async fn find_asset(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let serial = str_arg(&args, "serial").filter(|s| !s.trim().is_empty());
    let host = str_arg(&args, "hostname").filter(|s| !s.trim().is_empty());
    if serial.is_none() && host.is_none() {
        return Err(ToolError::bad_request("give `serial`, `hostname` or both"));
    }
    let client = int_arg(&args, "client_id");
    let mut reads = Reads::default();
    let r = resource("assets", "assets")?;
    // Each asset type keeps the serial and hostname in fields of its choosing.
    let keys = AssetKeys::load(ctx, &mut reads).await?;
    let mut wanted = Vec::new();
    if let Some(s) = serial {
        wanted.push((Kind::Serial, s, normalise_serial(s)));
    }
    if let Some(h) = host {
        wanted.push((Kind::Hostname, h, normalise_hostname(h)));
    }
    let (found, note) = asset_keys::candidates(ctx, &keys, &wanted, client, &mut reads).await?;
    let mut answer = ranked(
        "asset",
        r,
        found,
        |a| asset_score(&keys, serial, host, a),
        &reads,
    );
    if let (Some(n), Value::Object(o)) = (note, &mut answer) {
        o.insert("note".into(), json!(n));
    }
    Ok(answer)
}

async fn find_user(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let email = str_arg(&args, "email").filter(|s| !s.trim().is_empty());
    let upn = str_arg(&args, "upn").filter(|s| !s.trim().is_empty());
    let name = str_arg(&args, "name").filter(|s| !s.trim().is_empty());
    if email.is_none() && upn.is_none() && name.is_none() {
        return Err(ToolError::bad_request("give `email`, `upn` or `name`"));
    }
    let client = int_arg(&args, "client_id");
    let mut reads = Reads::default();
    // Each value as typed and normalised: Halo's search is a substring match.
    let mut terms: Vec<String> = Vec::new();
    for (raw, norm) in [
        (email, email.and_then(normalise_email)),
        (upn, upn.and_then(normalise_upn)),
        (name, name.and_then(normalise_name)),
    ] {
        terms.extend(raw.map(|s| s.trim().to_owned()));
        terms.extend(norm);
    }
    terms.dedup();
    let terms: Vec<&str> = terms.iter().map(String::as_str).collect();
    let found =
        search_candidates(ctx, resource("users", "users")?, &terms, client, &mut reads).await?;
    let r = resource("users", "users")?;
    Ok(ranked(
        "user",
        r,
        found,
        |u| {
            let (s, why) = user_score(email, upn, name, u);
            (s, why, None)
        },
        &reads,
    ))
}

async fn find_site(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let name = str_arg(&args, "name").unwrap_or("").trim().to_owned();
    if normalise_name(&name).is_none() {
        return Err(ToolError::invalid(
            "name",
            "`name` must contain letters or digits",
        ));
    }
    let line1 = str_arg(&args, "address");
    let postcode = str_arg(&args, "postcode");
    let client = int_arg(&args, "client_id");
    let r = resource("sites", "sites")?;
    let mut reads = Reads::default();
    // Sites are few per client: read them all and compare every one (fuzzy names need it).
    // A list row (`Site_List`) has no `delivery_address`; `includeaddress=true` (SW24 /Site,
    // "Include site address in the response") adds `delivery_address_line1..5`.
    let mut q = scope_query(client);
    q.push(("includeaddress".into(), "true".into()));
    let mut sites = Pages::new(ctx, 1).all(r, &q, &mut reads).await?;
    let mut note = None;
    if line1.is_some() || postcode.is_some() {
        // Rows without an address (a tenant that ignores `includeaddress`): fetch the
        // similar-named ones by id, which carries `delivery_address`, up to a bound.
        let wanted: Vec<usize> = sites
            .iter()
            .enumerate()
            .filter(|(_, s)| !site_has_address(s) && site_score(&name, None, None, s).0 > 0)
            .map(|(i, _)| i)
            .collect();
        if wanted.len() > MAX_SITE_GETS {
            note = Some(format!(
                "{} similar sites came without an address; {MAX_SITE_GETS} were fetched one by one",
                wanted.len()
            ));
        }
        for i in wanted.into_iter().take(MAX_SITE_GETS) {
            let Some(id) = sites.get(i).map(id_of) else {
                continue;
            };
            let full = ctx
                .halo
                .get(
                    &format!("{}/{id}", r.path),
                    &crate::tools::crud::get_query(r),
                    crate::tools::crud::caching(r),
                )
                .await?;
            reads.requests += 1;
            if let Some(slot) = sites.get_mut(i) {
                *slot = full;
            }
        }
    }
    let mut answer = ranked(
        "site",
        r,
        sites,
        |s| {
            let (score, why) = site_score(&name, line1, postcode, s);
            (score, why, None)
        },
        &reads,
    );
    if let (Some(n), Value::Object(o)) = (note, &mut answer) {
        o.insert("note".into(), json!(n));
    }
    Ok(answer)
}

fn group_json(
    g: &Group,
    records: &[Value],
    r: &crate::catalog::Resource,
    keys: Option<&AssetKeys>,
    billable: impl Fn(&Value) -> bool,
) -> (Value, usize) {
    let kind = match g.matched_on {
        "serial" => Some(Kind::Serial),
        "hostname" => Some(Kind::Hostname),
        _ => None,
    };
    let members: Vec<Value> = g
        .members
        .iter()
        .filter_map(|i| records.get(*i))
        .map(|rec| {
            let mut m = compact::shape(rec, &r.list_fields, &r.label, compact::Detail::Compact);
            if let Value::Object(o) = &mut m {
                o.insert("billable".into(), json!(billable(rec)));
                // Which field of this asset the shared value came from.
                if let Some(read) = keys.zip(kind).and_then(|(k, kind)| k.read(rec, kind)) {
                    o.insert("matched_field".into(), json!(read.from));
                }
            }
            m
        })
        .collect();
    let billable_n = g
        .members
        .iter()
        .filter_map(|i| records.get(*i))
        .filter(|rec| billable(rec))
        .count();
    (
        json!({
            "matched_on": g.matched_on, "key": g.key, "score": g.score, "action": g.action,
            "members": members, "billable": billable_n,
            "extra_billable": billable_n.saturating_sub(1),
        }),
        billable_n.saturating_sub(1),
    )
}

/// A finished scan, ready to be told.
struct ScanReport<'a> {
    what: &'a str,
    client: Option<i64>,
    records: &'a [Value],
    groups: &'a [Group],
    stats: ScanStats,
    resource: &'a crate::catalog::Resource,
    reads: &'a Reads,
    /// Assets: where each type keeps its serial and hostname.
    keys: Option<&'a AssetKeys>,
}

fn scan_answer(s: ScanReport<'_>, billable: impl Fn(&Value) -> bool + Copy) -> Value {
    let ScanReport {
        what,
        client,
        records,
        groups,
        stats,
        resource: r,
        reads,
        keys,
    } = s;
    let mut listed = Vec::new();
    let mut extra_billable = 0;
    let mut duplicate_records = 0;
    for (i, g) in groups.iter().enumerate() {
        let (j, extra) = group_json(g, records, r, keys, billable);
        extra_billable += extra;
        duplicate_records += g.members.len().saturating_sub(1);
        if i < MAX_GROUPS {
            listed.push(j);
        }
    }
    let mut by_score: std::collections::BTreeMap<u8, usize> = std::collections::BTreeMap::new();
    for g in groups {
        *by_score.entry(g.score).or_default() += 1;
    }
    let mut answer = json!({
        "client_id": client,
        "records_read": reads.records,
        "requests": reads.requests,
        "summary": {
            "groups": groups.len(),
            "groups_by_score": by_score.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<Map<String, Value>>(),
            "duplicate_records": duplicate_records,
            "extra_billable": extra_billable,
            "note": format!("extra_billable = active {what} beyond one per group: what duplicates add to a per-unit bill"),
        },
        "groups": listed,
        "groups_listed": listed.len(),
        "method": {
            "blocking": "records grouped by normalised keys; only records sharing a key are compared",
            "comparisons": stats.comparisons,
            "all_pairs_would_be": stats.naive_comparisons(),
        },
    });
    if let (Some(k), Value::Object(o)) = (keys, &mut answer) {
        o.insert("key_fields".into(), k.layout());
        let mut unread = Map::new();
        for kind in [Kind::Serial, Kind::Hostname] {
            let n = records.iter().filter(|a| k.read(a, kind).is_none()).count();
            if n > 0 {
                let label = if kind == Kind::Serial {
                    "serial"
                } else {
                    "hostname"
                };
                unread.insert(
                    label.into(),
                    json!({"assets": n, "why": AssetKeys::missing(kind)}),
                );
            }
        }
        if !unread.is_empty() {
            o.insert("not_read".into(), Value::Object(unread));
        }
    }
    answer
}

/// How one kind of record is scanned: what it is (its domain and resource share the name), how
/// it groups, what is billable.
struct ScanKind {
    what: &'static str,
    /// Groups the records; assets read their serial and hostname through the type keys.
    scan: fn(&[Value], &AssetKeys) -> (Vec<Group>, ScanStats),
    billable: fn(&Value) -> bool,
}

async fn scan_tool(
    ctx: &Ctx,
    args: Map<String, Value>,
    kind: ScanKind,
) -> Result<Value, ToolError> {
    let client = int_arg(&args, "client_id");
    let r = resource(kind.what, kind.what)?;
    let mut reads = Reads::default();
    let assets = kind.what == "assets";
    let keys = if assets {
        Some(AssetKeys::load(ctx, &mut reads).await?)
    } else {
        None
    };
    let query = if assets {
        // The serial or hostname may be outside the key fields, in the asset's `fields`.
        asset_keys::with_fields(scope_query(client))
    } else {
        scope_query(client)
    };
    let records = Pages::new(ctx, 1).all(r, &query, &mut reads).await?;
    let default_keys = AssetKeys::default();
    let (groups, stats) = (kind.scan)(&records, keys.as_ref().unwrap_or(&default_keys));
    let report = ScanReport {
        what: kind.what,
        client,
        records: &records,
        groups: &groups,
        stats,
        resource: r,
        reads: &reads,
        keys: keys.as_ref(),
    };
    Ok(scan_answer(report, kind.billable))
}

async fn scan_asset_tool(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let kind = ScanKind {
        what: "assets",
        scan: scan_assets,
        billable: asset_billable,
    };
    scan_tool(ctx, args, kind).await
}

async fn scan_user_tool(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let kind = ScanKind {
        what: "users",
        scan: |records, _| scan_users(records),
        billable: user_billable,
    };
    scan_tool(ctx, args, kind).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisers() {
        assert_eq!(
            normalise_serial(" 5cg-1234 xyz "),
            Some("5CG1234XYZ".into())
        );
        assert_eq!(normalise_serial("To be filled by O.E.M."), None);
        assert_eq!(normalise_serial("0000000"), None);
        assert_eq!(
            normalise_hostname("KB-WS-01.corp.local"),
            Some("kb-ws-01".into())
        );
        assert_eq!(normalise_hostname("SRV01$"), Some("srv01".into()));
        assert_eq!(
            normalise_email(" Ann.Lee@Example.COM "),
            Some("ann.lee@example.com".into())
        );
        assert_eq!(normalise_email("not-an-email"), None);
        assert_eq!(normalise_name("O'Brien,  Ann"), Some("obrien ann".into()));
    }

    fn asset(id: i64, serial: &str, host: &str, active: bool) -> Value {
        json!({"id": id, "assettype_id": 1, "key_field": serial, "key_field2": host,
               "inactive": !active, "status_name": if active { "Active" } else { "Retired" }})
    }

    /// Type 1 keyed Serial Number / Hostname.
    fn keys() -> AssetKeys {
        let t = json!({"id": 1, "keyfield_id": 117, "keyfield_name": "Serial Number",
                       "keyfield2_id": 161, "keyfield2_name": "Hostname"});
        AssetKeys::from_types(&[t], None, None)
    }

    #[test]
    fn asset_scan_groups_and_scores() {
        let rows = vec![
            asset(1, "ABC-123", "pc-1", true),
            asset(2, "abc 123", "pc-9", true),
            asset(3, "XYZ", "PC-1.corp", false),
            asset(4, "QQQ", "pc-4", true),
            asset(5, "", "pc-4", true),
            asset(6, "N/A", "pc-6", true),
            asset(7, "n/a", "pc-7", true),
        ];
        let (groups, stats) = scan_assets(&rows, &keys());
        let summary: Vec<(&str, u8, Vec<usize>)> = groups
            .iter()
            .map(|g| (g.matched_on, g.score, g.members.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("serial", 100, vec![0, 1]),
                ("hostname", 85, vec![0, 2]),
                ("hostname", 85, vec![3, 4]),
            ]
        );
        assert_eq!(stats.comparisons, 3);
        assert_eq!(stats.naive_comparisons(), 21);
        assert!(!asset_billable(&rows[2]));
        assert!(!asset_billable(&json!({"status_name": "In Stock"})));
        assert!(asset_billable(
            &json!({"status_name": "Active", "inactive": false})
        ));
    }

    #[test]
    fn user_scan_orders_email_upn_name() {
        let rows = vec![
            json!({"id": 1, "name": "Ann Lee", "emailaddress": "ann@x.com", "login": "ann@x.com"}),
            json!({"id": 2, "name": "Ann Lee", "emailaddress": "ANN@x.com", "login": ""}),
            json!({"id": 3, "name": "Bo Sun", "emailaddress": "bo@x.com", "login": "bsun@corp.x"}),
            json!({"id": 4, "name": "Bo Sun Jr", "emailaddress": "bo.sun@y.com", "login": "BSun@corp.x"}),
            json!({"id": 5, "name": "Cy Fox", "emailaddress": "cy@x.com", "login": ""}),
            json!({"id": 6, "name": "cy  fox", "emailaddress": "cy@y.com", "login": "", "inactive": true}),
        ];
        let (groups, _) = scan_users(&rows);
        let got: Vec<(&str, u8, Vec<usize>)> = groups
            .iter()
            .map(|g| (g.matched_on, g.score, g.members.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("email", 100, vec![0, 1]),
                ("upn", 95, vec![2, 3]),
                ("name", 70, vec![4, 5]),
            ]
        );
        assert!(!user_billable(&rows[5]));
    }

    #[test]
    fn single_candidate_scores() {
        let a = asset(1, "ABC-123", "pc-1", true);
        let k = keys();
        let score = |s, h| {
            let (n, why, _) = asset_score(&k, s, h, &a);
            (n, why)
        };
        assert_eq!(score(Some("abc123"), None), (100, "serial"));
        assert_eq!(score(Some("zzz"), Some("PC-1")), (85, "hostname"));
        assert_eq!(score(Some("zzz"), Some("pc-2")), (0, "none"));
        assert_eq!(
            asset_score(&k, Some("abc123"), None, &a).2.as_deref(),
            Some("key_field (Serial Number, field 117)")
        );
        // The same asset under a type keyed Hostname / Serial Number.
        let swapped =
            json!({"id": 2, "assettype_id": 4, "key_field": "pc-1", "key_field2": "ABC-123"});
        let t4 = json!({"id": 4, "keyfield_name": "Hostname", "keyfield2_name": "Serial Number"});
        let k4 = AssetKeys::from_types(&[t4], None, None);
        assert_eq!(asset_score(&k4, Some("abc 123"), None, &swapped).0, 100);
        assert_eq!(asset_score(&k4, Some("pc-1"), None, &swapped).0, 0);
        let u = json!({"name": "Ann Lee", "emailaddress": "ann@x.com", "login": "alee@corp.x"});
        assert_eq!(user_score(Some("ANN@X.com"), None, None, &u).0, 100);
        assert_eq!(
            user_score(Some("other@x.com"), Some("ALee@corp.x"), None, &u).0,
            95
        );
        assert_eq!(user_score(None, None, Some("ann  lee"), &u).0, 70);
        let s = json!({"name": "Head Office - Bristol",
                       "delivery_address": {"line1": "10 Wharf Street", "postcode": "BS1 4DJ"}});
        assert_eq!(site_score("head office - bristol", None, None, &s).0, 100);
        assert_eq!(site_score("Head Office", None, Some("bs14dj"), &s).0, 95);
        assert_eq!(
            site_score("Head Office Bristl", Some("10 Wharf St"), None, &s).0,
            95
        );
        assert_eq!(site_score("Head Office", None, None, &s).0, 85);
        assert_eq!(site_score("Leeds Studio", None, Some("BS1 4DJ"), &s).0, 0);
        // A list row (Site_List with includeaddress=true) spells the address as lines; the
        // postcode may be on any of them.
        let row = json!({"name": "Head Office - Bristol", "delivery_address_line1": "10 Wharf Street",
                         "delivery_address_line2": "", "delivery_address_line5": "BS1 4DJ"});
        assert_eq!(site_score("Head Office", None, Some("bs1 4dj"), &row).0, 95);
        assert_eq!(
            site_score("Head Offce", Some("10 Wharf St"), None, &row).0,
            95
        );
        let bare = json!({"name": "Head Office - Bristol"});
        assert!(!site_has_address(&bare));
        assert_eq!(
            site_score("Head Office", None, Some("BS1 4DJ"), &bare),
            (85, "similar name (address not returned)")
        );
    }

    #[test]
    fn blocking_compares_only_within_blocks() {
        let rows: Vec<Value> = (0..2000)
            .map(|i| asset(i, &format!("SN{i:06}"), &format!("host-{i}"), true))
            .chain([asset(9001, "SN000007", "other", true)])
            .collect();
        let (groups, stats) = scan_assets(&rows, &keys());
        assert_eq!(groups.len(), 1);
        assert_eq!(stats.comparisons, 1);
        assert_eq!(stats.naive_comparisons(), 2_001_000);
    }
}
