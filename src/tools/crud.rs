//! Running the generated CRUD tools: check arguments, call Halo, shape the answer.
//!
//! The write rules live here because Halo's POST is an upsert: a record without `id` is created,
//! one with `id` is updated. So `create` refuses an `id`, `update` demands one and first checks
//! that the record exists (an upsert to a missing id must not quietly make a new record), and
//! `delete` demands `confirm: true`.

use serde_json::{Map, Value, json};

use super::{
    ToolError,
    args::{self, as_int, check, reject_unknown, to_query},
    compact::{Detail, shape},
    error::get_record,
    generate::{DEFAULT_PAGE_SIZE, LIST_COMMON, SHAPING, scope_param},
};
use crate::{
    catalog::{ExtraOp, IdType, Param, ParamType, Resource, Verb},
    halo::{Caching, HaloClient, HaloError, PageRequest},
};

/// Reference resources are served from the cache; everything else is read live.
pub fn caching(r: &Resource) -> Caching {
    if r.reference {
        Caching::Reference
    } else {
        Caching::Live
    }
}

/// The fixed query a resource's GET by id always sends (from its domain file).
pub fn get_query(r: &Resource) -> Vec<(String, String)> {
    r.get_query
        .iter()
        .map(|(k, v)| (k.clone(), to_query(v)))
        .collect()
}

/// Largest create or update body sent to Halo.
pub const MAX_WRITE_BYTES: usize = 512 * 1024;

/// Longest `search` term.
const MAX_SEARCH: usize = 200;
/// Highest page number accepted (a guard against nonsense, far beyond any real list).
const MAX_PAGE_NO: i64 = 100_000;

pub async fn run(
    halo: &HaloClient,
    r: &Resource,
    verb: Verb,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Value, ToolError> {
    let args = without_nulls(args);
    match verb {
        Verb::List => list(halo, r, tool, &args).await,
        Verb::Get => get(halo, r, tool, &args).await,
        Verb::Create => create(halo, r, tool, &args).await,
        Verb::Update => update(halo, r, tool, &args).await,
        Verb::Delete => delete(halo, r, tool, &args).await,
    }
}

pub async fn run_extra(
    halo: &HaloClient,
    r: &Resource,
    op: &ExtraOp,
    tool: &str,
    args: Map<String, Value>,
) -> Result<Value, ToolError> {
    let args = without_nulls(args);
    reject_unknown(&args, SHAPING, tool)?;
    let (keep, detail) = shaping(r, &args, &r.get_fields)?;
    let record = halo.get(&op.path, &[], caching(r)).await?;
    Ok(shape(&record, &keep, &r.label, detail))
}

/// Models often send `null` for arguments they mean to leave out.
fn without_nulls(args: Map<String, Value>) -> Map<String, Value> {
    args.into_iter().filter(|(_, v)| !v.is_null()).collect()
}

fn param(name: &str, spec: &str) -> Result<Param, ToolError> {
    Param::parse(name, spec).map_err(ToolError::Internal)
}

/// Refuses field names the resource is not known to have, with the nearest known ones: a
/// misspelt `order` would otherwise be ignored by Halo and the list come back in its default
/// order, the oldest records shown as if they were the latest.
pub fn check_field_names<'a>(
    r: &Resource,
    arg: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), ToolError> {
    for name in names {
        if r.knows_field(name) {
            continue;
        }
        let mut known: Vec<&str> = r.known_fields().collect();
        known.sort_unstable();
        known.dedup();
        let near = args::suggest(name, known.iter().copied());
        let hint = if near.is_empty() {
            format!(
                "fields {} shows include {}",
                r.tool_name("get"),
                r.get_fields.join(", ")
            )
        } else {
            format!("did you mean {}?", args::quote_list(&near))
        };
        return Err(ToolError::invalid(
            arg,
            format!(
                "`{arg}`: {} records have no field {}; {hint}",
                r.singular,
                args::quote(&Value::String(name.to_owned()))
            ),
        ));
    }
    Ok(())
}

fn shaping(
    r: &Resource,
    args: &Map<String, Value>,
    default: &[String],
) -> Result<(Vec<String>, Detail), ToolError> {
    let detail = match args.get("detail") {
        None => Detail::Compact,
        Some(v) => match check(&param("detail", "enum(compact|full)")?, v)?.as_str() {
            Some("full") => Detail::Full,
            _ => Detail::Compact,
        },
    };
    let keep = match args.get("fields") {
        None => default.to_vec(),
        Some(v) => check(&param("fields", "strings")?, v)?
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    };
    if args.contains_key("fields") {
        check_field_names(r, "fields", keep.iter().map(String::as_str))?;
    }
    Ok((keep, detail))
}

fn required<'a>(
    args: &'a Map<String, Value>,
    name: &str,
    what: &str,
) -> Result<&'a Value, ToolError> {
    args.get(name)
        .ok_or_else(|| ToolError::invalid(name, format!("`{name}` is required: {what}")))
}

/// A record id checked against the resource's id type.
struct RecordId {
    /// As written in messages and in an update's body (`1001`, a guid).
    shown: String,
    /// The id in Halo's JSON: a number for integer ids, a string otherwise.
    value: Value,
}

impl RecordId {
    /// `{path}/{id}`, the id encoded as exactly one path segment. Integers and guids need no
    /// encoding; other string ids are percent-encoded all the same, so that even a checker
    /// mistake could not let a `/`, `?` or `#` out of the segment.
    fn path(&self, r: &Resource) -> String {
        format!("{}/{}", r.path, args::path_segment(&self.shown))
    }
}

/// The record id, typed as the resource's ids are. Nothing else reaches a request path: an id
/// that is not exactly one well-formed key is refused here, before any request.
fn record_id(r: &Resource, args: &Map<String, Value>) -> Result<RecordId, ToolError> {
    let v = required(args, "id", &format!("the id of the {}", r.singular))?;
    match r.id_type {
        IdType::Integer => {
            let i = args::positive_id("id", v)?;
            Ok(RecordId {
                shown: i.to_string(),
                value: Value::from(i),
            })
        }
        IdType::Guid => match v {
            Value::String(s) if args::is_guid(s.trim()) => Ok(RecordId {
                shown: s.trim().to_owned(),
                value: Value::String(s.trim().to_owned()),
            }),
            _ => Err(ToolError::invalid(
                "id",
                format!(
                    "`id` must be a {} guid such as 3f2504e0-4f89-11d3-9a0c-0305e82c3301 (got {})",
                    r.singular,
                    args::quote(v)
                ),
            )),
        },
        IdType::String => match v {
            Value::String(s) if args::is_plain_string_id(s.trim()) => Ok(RecordId {
                shown: s.trim().to_owned(),
                value: Value::String(s.trim().to_owned()),
            }),
            _ => Err(ToolError::invalid(
                "id",
                format!(
                    "`id` must be a {} id of letters, digits and -_.~:@+, at most {} characters, \
                 not `.` or `..` (got {})",
                    r.singular,
                    args::MAX_STRING_ID,
                    args::quote(v)
                ),
            )),
        },
    }
}

/// The parent id of scoped resources (`ticket_id` for actions), as a query pair.
fn scope_value(
    r: &Resource,
    args: &Map<String, Value>,
) -> Result<Option<(String, i64)>, ToolError> {
    let Some(p) = scope_param(r) else {
        return Ok(None);
    };
    let v = required(
        args,
        &p.name,
        &format!("{} ids are numbered per parent record", r.singular),
    )?;
    Ok(Some((p.name.clone(), args::positive_id(&p.name, v)?)))
}

fn not_found(r: &Resource, id: &str, scope: &Option<(String, i64)>) -> ToolError {
    ToolError::record_not_found(r, id, scope.as_ref().map(|(name, v)| (name.as_str(), *v)))
}

fn map_not_found(e: HaloError, r: &Resource, id: &str, scope: &Option<(String, i64)>) -> ToolError {
    match e {
        HaloError::NotFound { .. } => not_found(r, id, scope),
        other => other.into(),
    }
}

/// A list call's arguments, checked.
struct ListArgs {
    /// The resource's filters, as Halo's query.
    query: Vec<(String, String)>,
    search: Option<String>,
    page_size: i64,
    page_no: i64,
    order: Option<String>,
    orderdesc: Option<bool>,
    keep: Vec<String>,
    detail: Detail,
}

impl ListArgs {
    /// Rows before this page.
    fn skipped(&self) -> u64 {
        u64::try_from((self.page_no - 1) * self.page_size).unwrap_or(0)
    }

    fn page_len(&self) -> usize {
        usize::try_from(self.page_size).unwrap_or(usize::MAX)
    }
}

async fn list(
    halo: &HaloClient,
    r: &Resource,
    tool: &str,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let a = list_args(r, tool, args)?;
    let (rows, total) = if r.paginate {
        halo_page(halo, r, &a).await?
    } else {
        server_page(halo, r, &a).await?
    };
    let shown = rows.len() as u64;
    let has_more = match total {
        Some(t) => a.skipped() + shown < t,
        None => shown == u64::try_from(a.page_size).unwrap_or(0),
    };
    let records: Vec<Value> = rows
        .iter()
        .map(|row| shape(row, &a.keep, &r.label, a.detail))
        .collect();
    Ok(json!({
        "resource": r.name,
        "record_count": total,
        "page_no": a.page_no,
        "page_size": a.page_size,
        "has_more": has_more,
        "records": records,
    }))
}

fn list_args(r: &Resource, tool: &str, args: &Map<String, Value>) -> Result<ListArgs, ToolError> {
    let mut valid: Vec<&str> = r.filters.iter().map(|f| f.name.as_str()).collect();
    valid.extend(LIST_COMMON);
    valid.extend(SHAPING);
    reject_unknown(args, &valid, tool)?;
    let query = filter_query(r, args)?;
    let search = search_arg(args)?;
    let max = i64::from(r.max_page_size);
    let page_size = bounded_int(args, "page_size", max, &format!("from 1 to {max}"))?
        .unwrap_or(i64::from(DEFAULT_PAGE_SIZE).min(max));
    let page_no = bounded_int(args, "page_no", MAX_PAGE_NO, "from 1")?.unwrap_or(1);
    let order = order_arg(r, args)?;
    let orderdesc = match args.get("orderdesc") {
        Some(v) => check(&param("orderdesc", "boolean")?, v)?.as_bool(),
        None => None,
    };
    let (keep, detail) = shaping(r, args, &r.list_fields)?;
    Ok(ListArgs {
        query,
        search,
        page_size,
        page_no,
        order,
        orderdesc,
        keep,
        detail,
    })
}

/// The resource's filters as Halo's query; an empty id list is left out.
fn filter_query(
    r: &Resource,
    args: &Map<String, Value>,
) -> Result<Vec<(String, String)>, ToolError> {
    let mut query: Vec<(String, String)> = Vec::new();
    for f in &r.filters {
        match args.get(&f.name) {
            Some(v) => {
                let v = check(f, v)?;
                if !(v.is_array() && v.as_array().is_some_and(Vec::is_empty)) {
                    query.push((f.name.clone(), to_query(&v)));
                }
            }
            None if f.required => {
                return Err(ToolError::invalid(
                    &f.name,
                    format!(
                        "`{}` is required to list {}",
                        f.name,
                        r.name.replace('_', " ")
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(query)
}

/// `search`, trimmed; `None` when absent or blank.
fn search_arg(args: &Map<String, Value>) -> Result<Option<String>, ToolError> {
    let Some(v) = args.get("search") else {
        return Ok(None);
    };
    let s = check(&param("search", "string")?, v)?;
    let s = s.as_str().unwrap_or_default().trim().to_owned();
    if s.chars().count() > MAX_SEARCH {
        return Err(ToolError::invalid(
            "search",
            format!("`search` is longer than {MAX_SEARCH} characters"),
        ));
    }
    Ok(Some(s).filter(|s| !s.is_empty()))
}

/// An integer argument from 1 to `max`; `range` says so in the message.
fn bounded_int(
    args: &Map<String, Value>,
    name: &str,
    max: i64,
    range: &str,
) -> Result<Option<i64>, ToolError> {
    let Some(v) = args.get(name) else {
        return Ok(None);
    };
    match as_int(v) {
        Some(n) if (1..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ToolError::invalid(
            name,
            format!(
                "`{name}` must be an integer {range} (got {})",
                args::quote(v)
            ),
        )),
    }
}

/// `order`: one field name the resource is known to have.
fn order_arg(r: &Resource, args: &Map<String, Value>) -> Result<Option<String>, ToolError> {
    let Some(v) = args.get("order") else {
        return Ok(None);
    };
    let s = check(&param("order", "string")?, v)?;
    let s = s.as_str().unwrap_or_default().to_owned();
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ToolError::invalid(
            "order",
            format!(
                "`order` must be a field name such as `id` or `{}` (got {})",
                r.list_fields
                    .iter()
                    .find(|f| f.as_str() != "id")
                    .map_or("name", String::as_str),
                args::quote(v)
            ),
        ));
    }
    check_field_names(r, "order", [s.as_str()])?;
    Ok(Some(s))
}

/// Search and order as Halo's query parameters, after the filters.
fn halo_query(a: &ListArgs) -> Vec<(String, String)> {
    let mut query = a.query.clone();
    if let Some(s) = &a.search {
        query.push(("search".into(), s.clone()));
    }
    if let Some(o) = &a.order {
        query.push(("order".into(), o.clone()));
    }
    if let Some(d) = a.orderdesc {
        query.push(("orderdesc".into(), d.to_string()));
    }
    query
}

/// One page of a list Halo pages, and the total when Halo gives it (or when a short page shows
/// this is the last one).
async fn halo_page(
    halo: &HaloClient,
    r: &Resource,
    a: &ListArgs,
) -> Result<(Vec<Value>, Option<u64>), ToolError> {
    let page = PageRequest::Page {
        no: u64::try_from(a.page_no).unwrap_or(1),
        size: u64::try_from(a.page_size).unwrap_or(1),
    };
    let answer = halo
        .list_page(
            &r.path,
            r.envelope.as_deref(),
            &halo_query(a),
            page,
            caching(r),
        )
        .await?;
    let mut rows = answer.records;
    rows.truncate(a.page_len());
    let total = answer.record_count.or_else(|| {
        // Without a count, a short page is the last one.
        (i64::try_from(rows.len()).unwrap_or(i64::MAX) < a.page_size)
            .then(|| a.skipped() + rows.len() as u64)
    });
    Ok((rows, total))
}

/// One page of a list Halo does not page: the server reads the whole list and pages it, so
/// answers stay small; search and order are applied here, as Halo would for a paged list.
async fn server_page(
    halo: &HaloClient,
    r: &Resource,
    a: &ListArgs,
) -> Result<(Vec<Value>, Option<u64>), ToolError> {
    let answer = halo
        .list_page(
            &r.path,
            r.envelope.as_deref(),
            &halo_query(a),
            PageRequest::Whole,
            caching(r),
        )
        .await?;
    let mut rows = answer.records;
    if let Some(s) = &a.search {
        let needle = s.to_lowercase();
        rows.retain(|row| matches_search(row, &needle));
    }
    if let Some(o) = &a.order {
        sort_rows(&mut rows, o, a.orderdesc.unwrap_or(false));
    }
    let total = rows.len() as u64;
    let start = usize::try_from(a.skipped()).unwrap_or(usize::MAX);
    let rows: Vec<Value> = rows.into_iter().skip(start).take(a.page_len()).collect();
    Ok((rows, Some(total)))
}

/// Case-insensitive substring match over a row's top-level text fields.
fn matches_search(row: &Value, needle: &str) -> bool {
    row.as_object().is_some_and(|m| {
        m.values().any(|v| match v {
            Value::String(s) => s.to_lowercase().contains(needle),
            Value::Number(n) => n.to_string() == needle,
            _ => false,
        })
    })
}

fn sort_rows(rows: &mut [Value], field: &str, desc: bool) {
    rows.sort_by(|a, b| {
        let (x, y) = (a.get(field), b.get(field));
        let ord = match (x.and_then(Value::as_f64), y.and_then(Value::as_f64)) {
            (Some(p), Some(q)) => p.total_cmp(&q),
            _ => {
                let s = |v: Option<&Value>| {
                    v.map(|v| match v {
                        Value::String(s) => s.to_lowercase(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default()
                };
                s(x).cmp(&s(y))
            }
        };
        if desc { ord.reverse() } else { ord }
    });
}

async fn get(
    halo: &HaloClient,
    r: &Resource,
    tool: &str,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let mut valid: Vec<&str> = vec!["id"];
    valid.extend(r.scope.as_deref());
    valid.extend(r.get_params.iter().map(|p| p.name.as_str()));
    valid.extend(SHAPING);
    reject_unknown(args, &valid, tool)?;
    let id = record_id(r, args)?;
    let scope = scope_value(r, args)?;
    let mut query = get_query(r);
    if let Some((name, v)) = &scope {
        query.push((name.clone(), v.to_string()));
    }
    for p in &r.get_params {
        if let Some(v) = args.get(&p.name) {
            query.push((p.name.clone(), to_query(&check(p, v)?)));
        }
    }
    let (keep, detail) = shaping(r, args, &r.get_fields)?;
    let record = get_record(halo, &id.path(r), &query, caching(r))
        .await?
        .ok_or_else(|| not_found(r, &id.shown, &scope))?;
    Ok(shape(&record, &keep, &r.label, detail))
}

/// Checks the body fields of a create or update; `id` and the scope are handled by the caller.
fn body_fields(
    r: &Resource,
    tool: &str,
    args: &Map<String, Value>,
    skip: &[&str],
) -> Result<Map<String, Value>, ToolError> {
    let mut body = Map::new();
    for (key, value) in args {
        if skip.contains(&key.as_str()) {
            continue;
        }
        if let Some(p) = r.fields.iter().find(|f| &f.name == key) {
            body.insert(key.clone(), check(p, value)?);
        } else if r.more_fields.iter().any(|f| f == key) {
            // Known Halo field without a declared type: only size-checked.
            let any = Param {
                name: key.clone(),
                ty: match value {
                    Value::Object(_) => ParamType::Object,
                    Value::Array(a) if a.iter().all(Value::is_object) => ParamType::Objects,
                    Value::String(_) => ParamType::Text,
                    _ => {
                        body.insert(key.clone(), value.clone());
                        continue;
                    }
                },
                required: false,
                description: None,
            };
            body.insert(key.clone(), check(&any, value)?);
        } else {
            let mut names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
            names.extend(r.more_fields.iter().map(String::as_str));
            let near = args::suggest(key, names.iter().copied());
            let hint = if near.is_empty() {
                format!("fields it accepts: {}", names.join(", "))
            } else {
                format!("did you mean {}?", args::quote_list(&near))
            };
            return Err(ToolError::invalid(
                key.as_str(),
                format!(
                    "`{tool}` does not know the field `{}`; {hint}",
                    args::bounded(key)
                ),
            ));
        }
    }
    let size = serde_json::to_vec(&body).map(|b| b.len()).unwrap_or(0);
    if size > MAX_WRITE_BYTES {
        return Err(ToolError::BadRequest(format!(
            "the {} would be {} KB; writes are limited to {} KB",
            r.singular,
            size / 1024,
            MAX_WRITE_BYTES / 1024
        )));
    }
    Ok(body)
}

async fn create(
    halo: &HaloClient,
    r: &Resource,
    tool: &str,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    if let Some(id) = args.get("id") {
        return Err(ToolError::invalid(
            "id",
            format!(
                "`{tool}` makes a new {one} and takes no `id` (got {id}); Halo would treat a POST \
             with an id as an update. To change an existing {one}, call {update}.",
                id = args::quote(id),
                one = r.singular,
                update = r.tool_name("update"),
            ),
        ));
    }
    let body = body_fields(r, tool, args, &[])?;
    for f in r.fields.iter().filter(|f| f.required) {
        let missing = match body.get(&f.name) {
            None => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        };
        if missing {
            return Err(ToolError::invalid(
                &f.name,
                format!("`{}` is required to create a {}", f.name, r.singular),
            ));
        }
    }
    let label = body
        .get(&r.label)
        .and_then(Value::as_str)
        .map(str::to_owned);
    let record = Value::Object(body);
    let write = halo.post(&r.path, &record);
    let audited = crate::audit::written(halo, tool, r.name.as_str(), None, record.as_object());
    let saved = audited(write).await.map_err(|e| match e {
        HaloError::WriteUncertain { cause, .. } => ToolError::WriteUncertain(format!(
            "Halo did not confirm the new {one} ({cause}): it may or may not have been created. \
             Check with {list}{search} before creating it again.",
            one = r.singular,
            list = r.tool_name("list"),
            search = label
                .map(|l| format!(" (search: {})", args::quote(&Value::String(l))))
                .unwrap_or_default(),
        )),
        other => other.into(),
    })?;
    let new_id = saved.get("id").filter(|v| !v.is_null()).cloned();
    if new_id.is_none() {
        return Err(ToolError::HaloAnswer(format!(
            "Halo accepted the new {} but did not return it, so its id is unknown; check with \
             {} before trying again",
            r.singular,
            r.tool_name("list")
        )));
    }
    Ok(json!({
        "created": shape(&saved, &r.get_fields, &r.label, Detail::Compact),
    }))
}

async fn update(
    halo: &HaloClient,
    r: &Resource,
    tool: &str,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let id = record_id(r, args)?;
    let scope = scope_value(r, args)?;
    let mut skip = vec!["id"];
    skip.extend(r.scope.as_deref());
    let mut body = body_fields(r, tool, args, &skip)?;
    if body.is_empty() {
        return Err(ToolError::BadRequest(format!(
            "nothing to update: give at least one field of the {} besides `id`",
            r.singular
        )));
    }
    // Halo's POST is an upsert: posting an id that does not exist could create a record. Check
    // first, so an update never makes anything new.
    let mut query = Vec::new();
    if let Some((name, v)) = &scope {
        query.push((name.clone(), v.to_string()));
    }
    if get_record(halo, &id.path(r), &query, Caching::Live)
        .await?
        .is_none()
    {
        return Err(not_found(r, &id.shown, &scope));
    }
    body.insert("id".into(), id.value.clone());
    let id = id.shown;
    if let Some((name, v)) = &scope {
        body.insert(name.clone(), Value::from(*v));
    }
    let body = Value::Object(body);
    let audited = crate::audit::written(halo, tool, r.name.as_str(), Some(&id), body.as_object());
    let saved = audited(halo.post(&r.path, &body))
        .await
        .map_err(|e| match e {
            HaloError::WriteUncertain { cause, .. } => ToolError::WriteUncertain(format!(
                "Halo did not confirm the update of {one} {id} ({cause}): it may or may not \
                 have been applied. Check with {get} before repeating it.",
                one = r.singular,
                get = r.tool_name("get"),
            )),
            other => other.into(),
        })?;
    let saved_id = saved.get("id").map(args::to_query);
    // Guids may come back in another case; the same key all the same.
    if let Some(saved_id) = &saved_id
        && !saved_id.trim_end_matches(".0").eq_ignore_ascii_case(&id)
    {
        return Err(ToolError::HaloAnswer(format!(
            "Halo saved the {one} as id {saved_id} instead of updating {id}; check both with {get}",
            one = r.singular,
            get = r.tool_name("get")
        )));
    }
    Ok(json!({
        "updated": shape(&saved, &r.get_fields, &r.label, Detail::Compact),
    }))
}

async fn delete(
    halo: &HaloClient,
    r: &Resource,
    tool: &str,
    args: &Map<String, Value>,
) -> Result<Value, ToolError> {
    let mut valid: Vec<&str> = vec!["id", "confirm"];
    valid.extend(r.scope.as_deref());
    valid.extend(r.delete_params.iter().map(|p| p.name.as_str()));
    reject_unknown(args, &valid, tool)?;
    let record = record_id(r, args)?;
    let id = record.shown.clone();
    let scope = scope_value(r, args)?;
    if args.get("confirm") != Some(&Value::Bool(true)) {
        return Err(ToolError::invalid(
            "confirm",
            format!(
                "deleting {} {id} needs `confirm: true`; ask the user first",
                r.singular
            ),
        ));
    }
    let mut query = Vec::new();
    if let Some((name, v)) = &scope {
        query.push((name.clone(), v.to_string()));
    }
    for p in &r.delete_params {
        if let Some(v) = args.get(&p.name) {
            query.push((p.name.clone(), to_query(&check(p, v)?)));
        }
    }
    let audited = crate::audit::written(halo, tool, r.name.as_str(), Some(&id), None);
    audited(halo.delete(&record.path(r), &query))
        .await
        .map_err(|e| map_not_found(e, r, &id, &scope))?;
    let mut deleted = json!({"resource": r.name, "id": id});
    if let (Some((name, v)), Value::Object(m)) = (&scope, &mut deleted) {
        m.insert(name.clone(), Value::from(*v));
    }
    Ok(json!({ "deleted": deleted }))
}
