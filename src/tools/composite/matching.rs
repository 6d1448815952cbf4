//! What the matchers share: one normalisation per kind of value, and one way of reading
//! candidates from Halo. `search` (exact lookups), `dedup` (scores and scans) and `asset_keys`
//! (where each asset type keeps its serial and hostname) all go through these, so a value
//! normalised for a lookup is normalised the same way for a duplicate check.

use std::collections::HashSet;

use serde_json::Value;

use super::{
    Ctx,
    fetch::{Pages, Reads},
};
use crate::{
    catalog::Resource,
    tools::{ToolError, args::as_int},
};

/// Serials that are not serials: OEM placeholders would otherwise make one giant group.
const PLACEHOLDER_SERIALS: &[&str] = &[
    "",
    "0",
    "NA",
    "NONE",
    "NULL",
    "UNKNOWN",
    "DEFAULTSTRING",
    "TOBEFILLEDBYOEM",
    "SYSTEMSERIALNUMBER",
    "CHASSISSERIALNUMBER",
    "123456789",
    "0123456789",
    "XXXXXXXX",
];

/// Upper case, letters and digits only: `5cg-1234 xyz` and `5CG1234XYZ` are one serial.
pub fn normalise_serial(s: &str) -> Option<String> {
    let n: String = s
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let one_char_repeated = n.len() > 1 && n.chars().all(|c| n.starts_with(c));
    (!PLACEHOLDER_SERIALS.contains(&n.as_str()) && !one_char_repeated).then_some(n)
}

/// Lower case, without the DNS suffix or a trailing `$` (machine accounts): `KB-WS-01.corp.local`
/// and `kb-ws-01` are one host.
pub fn normalise_hostname(s: &str) -> Option<String> {
    let host = s.trim().trim_end_matches('$');
    let short = host.split('.').next().unwrap_or(host).to_ascii_lowercase();
    (!short.is_empty()).then_some(short)
}

pub fn normalise_email(s: &str) -> Option<String> {
    let e = s.trim().to_lowercase();
    (e.contains('@') && e.len() > 2).then_some(e)
}

/// A UPN is a login of the form user@domain.
pub fn normalise_upn(s: &str) -> Option<String> {
    normalise_email(s)
}

/// Lower case words without punctuation: "O'Brien,  Ann" and "obrien ann" are one name.
pub fn normalise_name(s: &str) -> Option<String> {
    let words: Vec<String> = s
        .split(|c: char| c.is_whitespace() || c == ',' || c == '-' || c == '/')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// A text field of a record; empty when absent or not text.
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The query that scopes a match. Inactive records are read too: a retired duplicate still
/// explains a bill.
pub fn scope_query(client: Option<i64>) -> Vec<(String, String)> {
    let mut q = vec![("includeinactive".to_owned(), "true".to_owned())];
    if let Some(c) = client {
        q.push(("client_id".into(), c.to_string()));
    }
    q
}

/// Every record of `r` each query reads, in order, each record once (by id).
pub async fn read_distinct(
    ctx: &Ctx,
    r: &Resource,
    queries: &[Vec<(String, String)>],
    reads: &mut Reads,
) -> Result<Vec<Value>, ToolError> {
    let mut pages = Pages::new(ctx, queries.len() as u64);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for q in queries {
        for rec in pages.all(r, q, reads).await? {
            if seen.insert(rec.get("id").and_then(as_int)) {
                out.push(rec);
            }
        }
    }
    Ok(out)
}

/// Candidates Halo's search finds for each term (searching key fields is Halo's own matching;
/// the exact comparison is the caller's).
pub async fn search_candidates(
    ctx: &Ctx,
    r: &Resource,
    terms: &[&str],
    client: Option<i64>,
    reads: &mut Reads,
) -> Result<Vec<Value>, ToolError> {
    let queries: Vec<Vec<(String, String)>> = terms
        .iter()
        .map(|term| {
            let mut q = scope_query(client);
            q.push(("search".into(), (*term).to_owned()));
            q
        })
        .collect();
    read_distinct(ctx, r, &queries, reads).await
}
