//! List and get-by-id: filters, search, ordering, pagination and the response envelope.
//!
//! Halo ignores query parameters it does not know, and so does the simulator. Filtering is
//! generic where Halo's is: a parameter named like a field of the record (`client_id`,
//! `site_id`, `assettype_id`, `ticket_id`, …) filters by equality, comparing numbers as numbers
//! (`18` matches `18.0`, because Halo sends some ids as doubles). On top of that come the
//! ticket-specific filters from SW24 (`open_only`, `status=1,2`, `mine`, `deleted`, …).

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::clock;
use super::error::ApiError;
use super::list_models::{self, Includes};
use super::resources::{Domain, Resource, Storage};
use super::seed::CLOSED_STATUS;
use super::store::{Db, as_f64, as_i64, int_field};

/// Page size used with `pageinate=true` when `page_size` is missing (PYH's default; Halo's
/// own default is unknown, halo-api.md §6.1).
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
/// Halo quirk (SW24 "Maximum size: 100" on /Tickets, /Projects, /Opportunities): larger
/// `page_size`s are silently clamped, not refused.
pub(crate) const FAULTS_MAX_PAGE_SIZE: usize = 100;
/// Rows a ticket list returns when neither `pageinate` nor `count` is given. Halo's default is
/// unknown (halo-api.md §6.1); 50 keeps an unqualified `GET /Tickets` from dumping the table.
/// Other lists stop at [`UNPAGED_DEFAULT_COUNT`]; an `idonly`/`ticketidonly` list at nothing
/// (guess: halo-api.md gives no cap for them).
pub(crate) const FAULTS_DEFAULT_COUNT: usize = 50;

/// Rows any other list returns when neither `pageinate` nor `count` is given. Halo's default is
/// unknown, but it is a cap: HCLI needed `count=500` to see its 103 tags ("103 tags > one
/// page", halo-api.md §6.1), and ALX says lists stop at 100 rows. So a list Halo does not page
/// (Tags, TimesheetEvent, ...) returns 100 rows unless the client asks for more with `count`
/// (guess: 100, the one figure the sources agree on).
pub(crate) const UNPAGED_DEFAULT_COUNT: usize = 100;

/// Fields `search` matches, case-insensitively, as a substring.
const SEARCH_FIELDS: &[&str] = &[
    "name",
    "summary",
    "reference",
    "inventory_number",
    "key_field",
    "key_field2",
    "key_field3",
    "emailaddress",
    "email",
    "login",
    "text",
    "title",
    "value",
    "ref",
    "invoicenumber",
    "filename",
    "subject",
    "outcome",
    "username",
];

/// Query parameters; names are lower-cased because ASP.NET binds them case-insensitively.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Self {
        Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `true`/`false` (also `1`/`0`); anything else counts as absent.
    pub(crate) fn flag(&self, key: &str) -> Option<bool> {
        match self.get(key)?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    /// An "array of int" parameter: comma-separated (`status=1,2`) and/or repeated.
    pub(crate) fn ids(&self, key: &str) -> Option<Vec<i64>> {
        let ids: Vec<i64> = self
            .0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| {
                v.split(',')
                    .filter_map(|s| s.trim().parse().ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        if ids.is_empty() { None } else { Some(ids) }
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Parameters that steer the list rather than naming a field; never used as equality filters.
fn is_control(key: &str) -> bool {
    key.starts_with("order")
        || key.starts_with("include")
        || key.starts_with("search")
        || matches!(
            key,
            "pageinate"
                | "page_size"
                | "page_no"
                | "count"
                | "activeinactive"
                | "idonly"
                | "ticketidonly"
                | "utcoffset"
                | "tenant"
                | "showcounts"
                | "columns_id"
                | "view_id"
                | "startdate"
                | "enddate"
                | "start_date"
                | "end_date"
                | "datesearch"
        )
}

/// Ticket-list parameters with their own meaning (SW24 /Tickets).
fn is_fault_control(key: &str) -> bool {
    matches!(
        key,
        "status"
            | "agent"
            | "team"
            | "priority"
            | "requesttype"
            | "category_1"
            | "category_2"
            | "category_3"
            | "category_4"
            | "sla"
            | "open_only"
            | "closed_only"
            | "mine"
            | "deleted"
            | "ticketids"
            | "client_ids"
            | "domain"
            | "excludethese"
            | "requesttype_id"
    )
}

/// Equality as Halo's filters behave: numbers numerically, booleans, strings ignoring case,
/// and a date-only parameter matches any time on that day.
fn matches_value(field: &Value, param: &str) -> bool {
    match field {
        Value::Number(_) => match (as_f64(field), param.trim().parse::<f64>()) {
            (Some(a), Ok(b)) => a == b,
            _ => false,
        },
        Value::Bool(b) => param
            .trim()
            .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::String(s) => {
            if s.eq_ignore_ascii_case(param.trim()) {
                return true;
            }
            match (clock::parse_ts(s), clock::parse_ts(param)) {
                (Some(a), Some(b)) if clock::is_date_only(param) => {
                    a.div_euclid(clock::TICKS_PER_DAY) == b.div_euclid(clock::TICKS_PER_DAY)
                }
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
        }
        _ => false,
    }
}

fn text_contains(row: &Value, field: &str, needle: &str) -> bool {
    row.get(field)
        .and_then(Value::as_str)
        .is_some_and(|s| s.to_lowercase().contains(needle))
}

fn ts_field(row: &Value, field: &str) -> Option<i128> {
    row.get(field)
        .and_then(Value::as_str)
        .and_then(clock::parse_ts)
}

/// `startdate`/`enddate` bounds; a date-only end bound includes that whole day.
fn date_bounds(p: &Params, start_key: &str, end_key: &str) -> (Option<i128>, Option<i128>) {
    let start = p.get(start_key).and_then(clock::parse_ts);
    let end = p.get(end_key).and_then(|s| {
        clock::parse_ts(s).map(|t| {
            if clock::is_date_only(s) {
                t + clock::TICKS_PER_DAY - 1
            } else {
                t
            }
        })
    });
    (start, end)
}

fn in_bounds(t: Option<i128>, (start, end): (Option<i128>, Option<i128>)) -> bool {
    match t {
        Some(t) => start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e),
        None => start.is_none() && end.is_none(),
    }
}

/// The filters every resource shares.
fn generic_keep(res: &Resource, row: &Value, p: &Params) -> bool {
    fields_match(res, row, p)
        && search_matches(res, row, p)
        && activity_matches(row, p)
        && (matches!(res.storage, Storage::Faults(_)) || dates_match(row, p))
}

/// Equality on any parameter that names a field of the row.
fn fields_match(res: &Resource, row: &Value, p: &Params) -> bool {
    for (k, v) in p.pairs() {
        if is_control(k) || (matches!(res.storage, Storage::Faults(_)) && is_fault_control(k)) {
            continue;
        }
        // Halo quirk: an asset's users are a list (`users[{id,name}]`), so `user_id` on
        // /Asset matches any of them.
        if res.name == "Asset" && k == "user_id" {
            let want = v.trim().parse::<i64>().unwrap_or(i64::MIN);
            let has = row
                .get("users")
                .and_then(Value::as_array)
                .is_some_and(|u| u.iter().any(|u| int_field(u, "id") == want));
            if !has {
                return false;
            }
            continue;
        }
        // Halo quirk: /Report filters by `reportgroup_id` (SW24), but a report carries its
        // group as `group_id` (AnalyzerProfile).
        let k = if res.name == "Report" && k == "reportgroup_id" {
            "group_id"
        } else {
            k.as_str()
        };
        if let Some(field) = row.get(k)
            && !field.is_array()
            && !field.is_object()
            && !field.is_null()
            && !matches_value(field, v)
        {
            return false;
        }
    }
    true
}

/// `search`: a record id, or text in one of the searched fields.
fn search_matches(res: &Resource, row: &Value, p: &Params) -> bool {
    if let Some(needle) = p
        .get("search")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
    {
        let by_id = needle
            .parse::<i64>()
            .ok()
            .is_some_and(|n| int_field(row, res.key) == n);
        if !by_id && !SEARCH_FIELDS.iter().any(|f| text_contains(row, f, &needle)) {
            return false;
        }
    }
    true
}

/// includeinactive / includeactive (defaults false / true), or activeinactive="a,i"; agents'
/// `isdisabled` with includeenabled / includedisabled.
fn activity_matches(row: &Value, p: &Params) -> bool {
    if let Some(Value::Bool(inactive)) = row.get("inactive") {
        let (mut active_ok, mut inactive_ok) = (
            p.flag("includeactive").unwrap_or(true),
            p.flag("includeinactive").unwrap_or(false),
        );
        if let Some(ai) = p.get("activeinactive") {
            let mut parts = ai.split(',').map(|s| s.trim().eq_ignore_ascii_case("true"));
            active_ok = parts.next().unwrap_or(active_ok);
            inactive_ok = parts.next().unwrap_or(inactive_ok);
        }
        if (*inactive && !inactive_ok) || (!*inactive && !active_ok) {
            return false;
        }
    }
    // Agents use `isdisabled` with includeenabled / includedisabled (SW24 /Agent).
    if let Some(Value::Bool(disabled)) = row.get("isdisabled") {
        let enabled_ok = p.flag("includeenabled").unwrap_or(true);
        let disabled_ok = p
            .flag("includedisabled")
            .or(p.flag("includeinactive"))
            .unwrap_or(false);
        if (*disabled && !disabled_ok) || (!*disabled && !enabled_ok) {
            return false;
        }
    }
    true
}

/// A date range on the record's main date, for non-ticket lists (appointments, invoices, …).
fn dates_match(row: &Value, p: &Params) -> bool {
    let bounds = match (
        date_bounds(p, "start_date", "end_date"),
        date_bounds(p, "startdate", "enddate"),
    ) {
        ((None, None), b) => b,
        (a, _) => a,
    };
    if bounds != (None, None) {
        let field = [
            "start_date",
            "dateoccurred",
            "datetime",
            "invoice_date",
            "date",
            "date_created",
            "datecreated",
        ]
        .into_iter()
        .find(|f| row.get(*f).is_some());
        if let Some(f) = field
            && !in_bounds(ts_field(row, f), bounds)
        {
            return false;
        }
    }
    true
}

/// The ticket-only filters (SW24 /Tickets).
fn fault_keep(db: &Db, row: &Value, p: &Params) -> bool {
    let deleted = row.get("deleted").and_then(Value::as_bool).unwrap_or(false);
    // Soft-deleted tickets are hidden unless `deleted=true`, which lists only them.
    if p.flag("deleted").unwrap_or(false) != deleted {
        return false;
    }
    let status = int_field(row, "status_id");
    if p.flag("open_only") == Some(true) && status == CLOSED_STATUS {
        return false;
    }
    if p.flag("closed_only") == Some(true) && status != CLOSED_STATUS {
        return false;
    }
    if p.flag("mine") == Some(true) && int_field(row, "agent_id") != db.api_agent_id {
        return false;
    }
    let arrays: &[(&str, &str)] = &[
        ("status", "status_id"),
        ("agent", "agent_id"),
        ("team", "team_id"),
        ("priority", "priority_id"),
        ("requesttype", "tickettype_id"),
        ("category_1", "categoryid_1"),
        ("category_2", "categoryid_2"),
        ("category_3", "categoryid_3"),
        ("category_4", "categoryid_4"),
        ("sla", "sla_id"),
        ("client_ids", "client_id"),
        ("ticketids", "id"),
    ];
    for (param, field) in arrays {
        if let Some(ids) = p.ids(param)
            && !ids.contains(&int_field(row, field))
        {
            return false;
        }
    }
    // The ticket-type filter is `requesttype_id` (Halo's old name); there is no `tickettype_id`.
    if let Some(t) = p.int("requesttype_id")
        && int_field(row, "tickettype_id") != t
    {
        return false;
    }
    if let Some(ids) = p.ids("excludethese")
        && ids.contains(&int_field(row, "id"))
    {
        return false;
    }
    for (param, field) in [
        ("search_summary", "summary"),
        ("search_details", "details"),
        ("search_user_name", "user_name"),
    ] {
        if let Some(needle) = p
            .get(param)
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            && !text_contains(row, field, &needle)
        {
            return false;
        }
    }
    let bounds = date_bounds(p, "startdate", "enddate");
    if bounds != (None, None) {
        // SW24 spells the field `dateoccured`; accept both spellings.
        let field = match p.get("datesearch").map(str::to_ascii_lowercase).as_deref() {
            None | Some("dateoccured") | Some("dateoccurred") | Some("") => {
                "dateoccurred".to_string()
            }
            Some("datecleared") => "dateclosed".to_string(),
            Some(other) => other.to_string(),
        };
        if !in_bounds(ts_field(row, &field), bounds) {
            return false;
        }
    }
    true
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(_)), Some(Value::Number(_))) => {
            let (x, y) = (
                a.and_then(as_f64).unwrap_or(0.0),
                b.and_then(as_f64).unwrap_or(0.0),
            );
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Null) | None, Some(Value::Null) | None) => Ordering::Equal,
        (Some(Value::Null) | None, _) => Ordering::Greater,
        (_, Some(Value::Null) | None) => Ordering::Less,
        _ => Ordering::Equal,
    }
}

fn sort(rows: &mut [&Value], p: &Params) {
    let mut keys = Vec::new();
    for (n, suffix) in ["", "2", "3", "4", "5"].iter().enumerate() {
        if let Some(field) = p.get(&format!("order{suffix}")).filter(|f| !f.is_empty()) {
            let desc = p.flag(&format!("orderdesc{suffix}")).unwrap_or(false);
            keys.push((field.to_ascii_lowercase(), desc));
        } else if n == 0 {
            break;
        }
    }
    if keys.is_empty() {
        return;
    }
    rows.sort_by(|a, b| {
        for (field, desc) in &keys {
            let o = compare(a.get(field.as_str()), b.get(field.as_str()));
            if o != Ordering::Equal {
                return if *desc { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    });
}

/// The domain a `/Tickets?domain=` asks for.
fn domain_param(p: &Params) -> Option<Domain> {
    match p.get("domain")?.trim().to_ascii_lowercase().as_str() {
        "reqs" => Some(Domain::Tickets),
        "prjs" => Some(Domain::Projects),
        "opps" => Some(Domain::Opportunities),
        _ => None,
    }
}

/// Answers `GET /X`.
pub(crate) fn list(db: &Db, res: &Resource, p: &Params) -> Value {
    let is_faults = matches!(res.storage, Storage::Faults(_));
    let mut rows: Vec<&Value> = match res.storage {
        // Halo returns nothing for /Actions without a ticket (PYH: "If neither are provided,
        // nothing will be returned").
        Storage::Actions if p.int("ticket_id").is_none() => Vec::new(),
        Storage::Faults(Domain::Tickets) => db.rows(res, domain_param(p)),
        _ => db.rows(res, None),
    };
    rows.retain(|r| generic_keep(res, r, p) && (!is_faults || fault_keep(db, r, p)));
    sort(&mut rows, p);
    let total = rows.len();

    let id_only =
        p.flag("idonly") == Some(true) || (is_faults && p.flag("ticketidonly") == Some(true));
    let paginate = p.flag("pageinate") == Some(true) && !id_only;
    let (page_no, page_size, page) = page_of(rows, p, paginate, id_only, is_faults);
    // Rows are filtered on the whole stored record, then answered in the list model's shape.
    let model = list_models::for_resource(res.name);
    let includes = Includes {
        asset_fields: p.flag("includeassetfields") == Some(true),
        address: p.flag("includeaddress") == Some(true),
    };
    let items: Vec<Value> = page
        .into_iter()
        .map(|r| {
            if id_only {
                json!({ "id": r.get("id").cloned().unwrap_or(Value::Null) })
            } else if let Some(m) = model {
                list_models::project(r, m, includes)
            } else {
                r.clone()
            }
        })
        .collect();

    // `/Item` pages (SW24 gives it `pageinate`), and a paged answer has the `items` key HAPI
    // reads (`Get-HaloItem`: `ResourceType = 'items'`); PD's generated client reads an unpaged
    // `GET Item?count=200` as a bare list, and the newer swagger has no `Item_View`. Both hold
    // if Halo envelopes only the paged answer, which is what the simulator does (guess).
    let envelope = match res.envelope {
        None if res.name == "Item" && paginate => Some("items"),
        e => e,
    };
    let Some(key) = envelope else {
        return Value::Array(items);
    };
    let mut env = Map::new();
    env.insert("page_no".into(), page_no);
    env.insert("page_size".into(), page_size);
    env.insert("record_count".into(), json!(total));
    env.insert(key.into(), Value::Array(items));
    if res.columns {
        // Halo's list-column metadata: a second array in the envelope that is *not* the data.
        env.insert("columns_id".into(), json!(1));
        env.insert(
            "columns".into(),
            json!([
                {"id": 1, "name": "id", "display": "ID", "width": 80, "sequence": 1, "visible": true},
                {"id": 2, "name": "name", "display": "Name", "width": 240, "sequence": 2, "visible": true},
                {"id": 3, "name": "client_name", "display": "Client", "width": 200, "sequence": 3, "visible": true}
            ]),
        );
    }
    if is_faults {
        env.insert("include_children".into(), json!(false));
        env.insert("collapse_by_default".into(), json!(false));
    }
    Value::Object(env)
}

/// The rows one answer holds, with the `page_no` and `page_size` it reports (null unpaged): a
/// page when `pageinate=true`, else the first `count` (a default that depends on the resource).
fn page_of<'a>(
    rows: Vec<&'a Value>,
    p: &Params,
    paginate: bool,
    id_only: bool,
    is_faults: bool,
) -> (Value, Value, Vec<&'a Value>) {
    if paginate {
        let max = if is_faults {
            FAULTS_MAX_PAGE_SIZE
        } else {
            usize::MAX
        };
        let size = p
            .int("page_size")
            .filter(|n| *n > 0)
            .map(|n| n as usize)
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(max);
        let no = p.int("page_no").filter(|n| *n > 0).unwrap_or(1) as usize;
        let page = rows
            .iter()
            .skip((no - 1).saturating_mul(size))
            .take(size)
            .copied()
            .collect();
        (json!(no), json!(size), page)
    } else {
        let cap = match p.int("count").filter(|n| *n >= 0) {
            Some(n) => n as usize,
            None if id_only => usize::MAX,
            None if is_faults => FAULTS_DEFAULT_COUNT,
            None => UNPAGED_DEFAULT_COUNT,
        };
        (
            Value::Null,
            Value::Null,
            rows.into_iter().take(cap).collect(),
        )
    }
}

/// Answers `GET /X/{id}` (`includedetails=true` adds a few detail-screen extras).
pub(crate) fn get_one(db: &Db, res: &Resource, id: i64, p: &Params) -> Result<Value, ApiError> {
    let found = match res.storage {
        Storage::Actions => {
            let ticket = p
                .int("ticket_id")
                .ok_or_else(|| ApiError::rule("AC02", "Please supply a ticket_id"))?;
            db.actions.get(&(ticket, id))
        }
        _ => db.by_id(res, id),
    };
    let mut row = found
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("{} {id} not found", res.name)))?;
    if p.flag("includedetails") == Some(true)
        && let Value::Object(m) = &mut row
    {
        m.insert("_canupdate".into(), json!(true));
        m.insert("custombuttons".into(), json!([]));
        m.insert("external_links".into(), json!([]));
        if matches!(res.storage, Storage::Faults(_)) {
            let count = db.actions.range((id, i64::MIN)..=(id, i64::MAX)).count();
            m.insert("action_count".into(), json!(count));
            let domain = if m.get("is_project") == Some(&json!(true)) {
                "prjs"
            } else if m.get("is_opportunity") == Some(&json!(true)) {
                "opps"
            } else {
                "reqs"
            };
            m.insert("domain".into(), json!(domain));
        }
    }
    Ok(row)
}

/// For `GET /X/{id}` with a non-numeric id (`/Agent/me` aside): Halo's route wants an int.
pub(crate) fn parse_id(segment: &str) -> Option<i64> {
    as_i64(&Value::String(segment.to_string()))
}
