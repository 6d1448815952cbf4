//! Exact lookups people ask for by the value they have in hand: an asset by serial number or
//! hostname (wherever its type keeps them: `asset_keys`), a user by email, a client by name (exact first,
//! then the closest names). Halo's `search` finds candidates; the exact comparison happens here,
//! on normalised values, so "5cg 1234" finds "5CG-1234".

use futures::FutureExt;
use serde_json::{Map, Value, json};

use super::{
    Composite, Ctx,
    asset_keys::{self, AssetKeys, Kind},
    fetch::{Pages, Reads},
    int_arg,
    matching::{
        normalise_email, normalise_hostname, normalise_name, normalise_serial, search_candidates,
        text,
    },
    resource, str_arg,
};
use crate::tools::{ToolError, compact};

/// Fuzzy client names listed when there is no exact match.
const CLOSEST: usize = 5;
/// Least Jaro-Winkler similarity for a fuzzy client name.
const CLIENT_SIMILAR: f64 = 0.75;

pub const ASSETS: Composite = Composite {
    domain: "assets",
    name: "halo_assets_search",
    title: "Find assets by serial or hostname",
    description: "Assets whose serial number or hostname (the fields each asset type keeps them \
                  in) equals the value, ignoring case and spacing; client_id makes it exhaustive.",
    params: &[
        ("serial", "string"),
        ("hostname", "string"),
        ("client_id", "integer"),
    ],
    reads: &["/Asset", "/AssetType"],
    run: |ctx, args| assets(ctx, args).boxed(),
};

pub const USERS: Composite = Composite {
    domain: "users",
    name: "halo_users_search",
    title: "Find users by email",
    description: "Users whose email address equals the value, ignoring case.",
    params: &[("email", "string!"), ("client_id", "integer")],
    reads: &["/Users"],
    run: |ctx, args| users(ctx, args).boxed(),
};

pub const CLIENTS: Composite = Composite {
    domain: "clients",
    name: "halo_clients_find",
    title: "Find a client by name",
    description: "The client with this name; if none matches exactly, the closest names with \
                  similarity scores.",
    params: &[("name", "string!")],
    reads: &["/Client"],
    run: |ctx, args| clients(ctx, args).boxed(),
};

fn shaped(r: &crate::catalog::Resource, rows: &[&Value]) -> Vec<Value> {
    rows.iter()
        .map(|rec| compact::shape(rec, &r.list_fields, &r.label, compact::Detail::Compact))
        .collect()
}

async fn assets(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let serial = str_arg(&args, "serial").and_then(normalise_serial);
    let host = str_arg(&args, "hostname").and_then(normalise_hostname);
    if serial.is_none() && host.is_none() {
        return Err(ToolError::bad_request(
            "give `serial` or `hostname` (placeholder serials such as \"To be filled by O.E.M.\" \
             match nothing)",
        ));
    }
    let client = int_arg(&args, "client_id");
    let r = resource("assets", "assets")?;
    let mut reads = Reads::default();
    // Each asset type keeps the serial and hostname in fields of its choosing (asset_keys).
    let keys = AssetKeys::load(ctx, &mut reads).await?;
    let mut wanted = Vec::new();
    for (arg, kind, norm) in [
        ("serial", Kind::Serial, &serial),
        ("hostname", Kind::Hostname, &host),
    ] {
        if norm.is_some() {
            let typed = str_arg(&args, arg).unwrap_or("");
            wanted.push((kind, typed, norm.clone()));
        }
    }
    let (rows, note) = asset_keys::candidates(ctx, &keys, &wanted, client, &mut reads).await?;
    let mut out = Map::new();
    for (arg, kind, want, norm) in [
        (
            "serial",
            Kind::Serial,
            &serial,
            normalise_serial as fn(&str) -> Option<String>,
        ),
        ("hostname", Kind::Hostname, &host, normalise_hostname),
    ] {
        let Some(want) = want else { continue };
        let hits: Vec<Value> = rows
            .iter()
            .filter_map(|a| {
                let read = keys.read(a, kind)?;
                (norm(&read.value).as_ref() == Some(want)).then(|| {
                    let mut m =
                        compact::shape(a, &r.list_fields, &r.label, compact::Detail::Compact);
                    if let Value::Object(o) = &mut m {
                        o.insert("matched_field".into(), json!(read.from));
                    }
                    m
                })
            })
            .collect();
        out.insert(format!("by_{arg}"), Value::Array(hits));
    }
    out.insert("records_read".into(), json!(reads.records));
    if let Some(n) = note {
        out.insert("note".into(), json!(n));
    }
    Ok(Value::Object(out))
}

async fn users(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let raw = str_arg(&args, "email").unwrap_or("");
    let Some(want) = normalise_email(raw) else {
        return Err(ToolError::invalid(
            "email",
            format!(
                "`email` must be an email address (got {})",
                crate::tools::args::quote(&Value::String(raw.to_owned()))
            ),
        ));
    };
    let r = resource("users", "users")?;
    let mut reads = Reads::default();
    let rows = search_candidates(
        ctx,
        r,
        &[raw.trim()],
        int_arg(&args, "client_id"),
        &mut reads,
    )
    .await?;
    let hits: Vec<&Value> = rows
        .iter()
        .filter(|u| {
            ["emailaddress", "email2", "email3"]
                .iter()
                .any(|f| normalise_email(text(u, f)).as_ref() == Some(&want))
        })
        .collect();
    let mut out = json!({"users": shaped(r, &hits), "records_read": reads.records});
    // A list row is a `Users_List`, which has no `email2`/`email3` (SW24): where the rows lack
    // them, only the main address was compared, and the answer says so.
    if rows
        .iter()
        .any(|u| u.get("email2").is_none() && u.get("email3").is_none())
        && let Value::Object(o) = &mut out
    {
        o.insert(
            "note".into(),
            json!("list rows carry only the main email address (emailaddress); secondary addresses were not compared"),
        );
    }
    Ok(out)
}

async fn clients(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let raw = str_arg(&args, "name").unwrap_or("").trim().to_owned();
    let Some(want) = normalise_name(&raw) else {
        return Err(ToolError::invalid(
            "name",
            "`name` must contain letters or digits",
        ));
    };
    let r = resource("clients", "clients")?;
    let mut reads = Reads::default();
    let rows = search_candidates(ctx, r, &[raw.as_str()], None, &mut reads).await?;
    let exact: Vec<&Value> = rows
        .iter()
        .filter(|c| normalise_name(text(c, "name")).as_ref() == Some(&want))
        .collect();
    if !exact.is_empty() {
        return Ok(
            json!({"match": "exact", "clients": shaped(r, &exact), "records_read": reads.records}),
        );
    }
    // No exact name: compare against every client (client lists are short) and rank.
    let all = Pages::new(ctx, 1)
        .all(r, &[("includeinactive".into(), "true".into())], &mut reads)
        .await?;
    let mut scored: Vec<(f64, &Value)> = all
        .iter()
        .filter_map(|c| {
            let have = normalise_name(text(c, "name"))?;
            let contains = have.contains(&want) || want.contains(&have);
            let score = strsim::jaro_winkler(&want, &have).max(if contains { 0.9 } else { 0.0 });
            (score >= CLIENT_SIMILAR).then_some((score, c))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let closest: Vec<Value> = scored
        .iter()
        .take(CLOSEST)
        .map(|(s, c)| {
            json!({
                "similarity": (s * 100.0).round() / 100.0,
                "client": compact::shape(c, &r.list_fields, &r.label, compact::Detail::Compact),
            })
        })
        .collect();
    Ok(json!({
        "match": if closest.is_empty() { "none" } else { "fuzzy" },
        "closest": closest,
        "records_read": reads.records,
    }))
}
