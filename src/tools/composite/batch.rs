//! Batch gets: up to 50 records in one call, fetched a few at a time inside the rate budget.
//! A missing id is reported, not fatal.

use futures::{FutureExt, StreamExt, stream};
use serde_json::{Map, Value, json};

use super::{Composite, Ctx, resource};
use crate::{
    halo::HaloError,
    tools::{ToolError, compact, crud, error::get_record},
};

/// Ids per call.
pub const MAX_IDS: usize = 50;
/// Requests in flight at once: enough to hide latency, few enough to share the budget.
const CONCURRENCY: usize = 4;

const PARAMS: &[(&str, &str)] = &[
    ("ids", "ids!: Up to 50"),
    ("fields", "strings"),
    ("detail", "enum(compact|full)"),
];

pub const ASSETS: Composite = Composite {
    domain: "assets",
    name: "halo_assets_get_many",
    title: "Get several assets",
    description: "Up to 50 assets by id in one call; missing ids are listed, not fatal.",
    params: PARAMS,
    reads: &["/Asset"],
    run: |ctx, args| get_many(ctx, "assets", "assets", args).boxed(),
};

pub const USERS: Composite = Composite {
    domain: "users",
    name: "halo_users_get_many",
    title: "Get several users",
    description: "Up to 50 users by id in one call; missing ids are listed, not fatal.",
    params: PARAMS,
    reads: &["/Users"],
    run: |ctx, args| get_many(ctx, "users", "users", args).boxed(),
};

pub const SITES: Composite = Composite {
    domain: "sites",
    name: "halo_sites_get_many",
    title: "Get several sites",
    description: "Up to 50 sites by id in one call; missing ids are listed, not fatal.",
    params: PARAMS,
    reads: &["/Site"],
    run: |ctx, args| get_many(ctx, "sites", "sites", args).boxed(),
};

async fn get_many(
    ctx: &Ctx,
    domain: &str,
    name: &str,
    args: Map<String, Value>,
) -> Result<Value, ToolError> {
    let r = resource(domain, name)?;
    let mut ids: Vec<i64> = args
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    ids.retain(|i| seen.insert(*i));
    if ids.is_empty() {
        return Err(ToolError::invalid("ids", "`ids` needs at least one id"));
    }
    if ids.len() > MAX_IDS {
        return Err(ToolError::invalid(
            "ids",
            format!("`ids` has {} ids; at most {MAX_IDS} per call", ids.len()),
        ));
    }
    if let Some(bad) = ids.iter().find(|i| **i <= 0) {
        return Err(ToolError::invalid(
            "ids",
            format!("`ids` must be positive (got {bad})"),
        ));
    }
    let detail = match args.get("detail").and_then(Value::as_str) {
        Some("full") => compact::Detail::Full,
        _ => compact::Detail::Compact,
    };
    let keep: Vec<String> = args
        .get("fields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| r.get_fields.clone());
    if args.contains_key("fields") {
        crud::check_field_names(r, "fields", keep.iter().map(String::as_str))?;
    }
    let query = crud::get_query(r);
    let caching = crud::caching(r);
    let results: Vec<(i64, Result<Option<Value>, HaloError>)> = stream::iter(ids.iter().copied())
        .map(|id| {
            let path = format!("{}/{id}", r.path);
            let query = &query;
            async move { (id, get_record(&ctx.halo, &path, query, caching).await) }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let (mut records, mut missing, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (id, result) in results {
        match result {
            Ok(Some(v)) => records.push(compact::shape(&v, &keep, &r.label, detail)),
            Ok(None) => missing.push(id),
            Err(e) => failed.push(json!({"id": id, "error": e.to_string()})),
        }
    }
    Ok(json!({
        "resource": r.name,
        "asked": ids.len(),
        "records": records,
        "missing": missing,
        "failed": failed,
    }))
}
