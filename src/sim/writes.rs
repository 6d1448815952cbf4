//! POST (create-or-update) and DELETE, with the rules Halo enforces.
//!
//! Halo's write model (halo-api.md §4): every POST body is a JSON *array*, even for one record;
//! an element with an existing positive `id` is a partial update (only the posted fields
//! change), one without `id` (or `id: 0`) is a create; the answer is `201` with the saved
//! record as a single object when one element was posted. A POST is all-or-nothing here: every
//! element is validated (a dry run) before any is applied, so a rule failure in element 3
//! leaves elements 1–2 unsaved. (Whether real Halo is atomic is unknown.)

use serde_json::{Value, json};

use super::clock;
use super::derive::derive;
use super::error::ApiError;
use super::query::Params;
use super::resources::{Domain, Resource, Storage};
use super::seed::CLOSED_STATUS;
use super::shapes::{action_template, reference, set_sla_dates, ticket_template};
use super::store::{Db, Row, as_f64, as_i64, int_field};

/// Halo's internal model name for a path, used in ASP.NET's deserialisation messages.
fn model_name(res: &Resource) -> &'static str {
    match res.name {
        "Tickets" | "Projects" | "Opportunities" => "Faults",
        "Agent" => "Uname",
        "Client" => "Area",
        "Asset" => "Device",
        "Invoice" | "RecurringInvoice" => "InvoiceHeader",
        "ClientContract" => "ContractHeader",
        "KBArticle" => "KBEntry",
        "TopLevel" => "Tree",
        other => other,
    }
}

/// `(field, table, label)` references checked on write when the value is a positive id.
const REFERENCES: &[(&str, &str, &str)] = &[
    ("client_id", "Client", "Client"),
    ("site_id", "Site", "Site"),
    ("user_id", "Users", "User"),
    ("agent_id", "Agent", "Agent"),
    ("tickettype_id", "TicketType", "Ticket type"),
    ("team_id", "Team", "Team"),
    ("priority_id", "Priority", "Priority"),
    ("sla_id", "SLA", "SLA"),
    ("assettype_id", "AssetType", "Asset type"),
    ("supplier_id", "Supplier", "Supplier"),
    ("toplevel_id", "TopLevel", "Top level"),
    ("contract_id", "ClientContract", "Contract"),
];

/// The fields of a new record of `table`: Halo drops properties its model doesn't have, so
/// anything not in the template is ignored on write. This is also why posting a nested
/// `tickettype: {id: 61}` does not set the type (halo-api.md §7.4): nested objects are
/// output-only here, exactly as in Halo; clients must post `tickettype_id`.
fn template(db: &Db, res: &Resource) -> Row {
    match res.storage {
        Storage::Faults(_) => ticket_template(),
        Storage::Actions => action_template(),
        Storage::Plain => db.templates.get(res.name).cloned().unwrap_or_default(),
    }
}

fn int_like(template: &Row, key: &str) -> bool {
    match template.get(key) {
        Some(Value::Number(_)) => true,
        Some(_) => false,
        None => key == "id" || key.ends_with("_id"),
    }
}

/// Type coercion at the door, as Halo's JSON binder does it: numeric strings are accepted for
/// number fields (`"site_id": "18"`, issue #21), but an id must be a whole number (`18.0` is
/// fine, `18.5` is a 400), as must a non-numeric string for a number field.
fn coerce(i: usize, obj: Row, template: &Row) -> Result<(Row, Row), ApiError> {
    let mut fields = Row::new();
    let mut control = Row::new();
    for (k, v) in obj {
        if k.starts_with('_') {
            control.insert(k, v);
            continue;
        }
        let path = format!("$[{i}].{k}");
        let is_id = k == "id" || k.ends_with("_id") || k == "priorityid";
        let v = match (&v, int_like(template, &k)) {
            (Value::String(s), true) => {
                let parsed = s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| !is_id || f.fract() == 0.0);
                let float_field = template.get(&k).is_some_and(|t| t.is_f64());
                match parsed {
                    Some(f) if float_field && !is_id => json!(f),
                    Some(f) if is_id || f.fract() == 0.0 => json!(f as i64),
                    Some(f) => json!(f),
                    None => {
                        return Err(ApiError::validation(
                            path.clone(),
                            format!(
                                "The JSON value could not be converted to System.Int32. Path: {path} | LineNumber: 0 | BytePositionInLine: 0."
                            ),
                        ));
                    }
                }
            }
            (Value::Number(n), _) if is_id => match as_i64(&v) {
                Some(id) => json!(id),
                None => {
                    return Err(ApiError::validation(
                        path.clone(),
                        format!(
                            "The JSON value could not be converted to System.Int32. Path: {path} | LineNumber: 0 | BytePositionInLine: 0. ({n} is not an integer)"
                        ),
                    ));
                }
            },
            _ => v,
        };
        fields.insert(k, v);
    }
    Ok((fields, control))
}

/// The id of the team called `name` (case-insensitive).
pub(crate) fn team_by_name(db: &Db, name: &str) -> Option<i64> {
    db.table("Team")?.rows.values().find_map(|t| {
        t.get("name")
            .and_then(Value::as_str)
            .filter(|n| n.trim().eq_ignore_ascii_case(name.trim()))
            .map(|_| int_field(t, "id"))
    })
}

fn check_references(db: &Db, table: &str, fields: &Row) -> Result<(), ApiError> {
    let mut refs: Vec<(&str, &str, &str)> = REFERENCES.to_vec();
    if table == "Faults" {
        refs.push(("status_id", "Status", "Status"));
        refs.push(("categoryid_1", "Category", "Category"));
    } else {
        refs.push(("ticket_id", "Faults", "Ticket"));
    }
    if table == "Actions" {
        refs.push(("new_status", "Status", "Status"));
        refs.push(("outcome_id", "Outcome", "Outcome"));
    }
    // A ticket's team may be set by name (`team` is the team's name, halo-api.md §7.8). An
    // unknown name is refused like an unknown id (guess: Halo's answer is unverified).
    if table == "Faults"
        && !fields.contains_key("team_id")
        && let Some(name) = fields.get("team").and_then(Value::as_str)
        && !name.trim().is_empty()
        && team_by_name(db, name).is_none()
    {
        let shown: String = name.chars().take(60).collect();
        return Err(ApiError::rule(
            "DB02",
            format!("Team {shown:?} does not exist"),
        ));
    }
    for (field, t, label) in refs {
        let Some(id) = fields.get(field).and_then(as_i64) else {
            continue;
        };
        if id > 0 && db.table(t).is_some() && !db.exists(t, id) {
            return Err(ApiError::rule(
                "DB02",
                format!("{label} {id} does not exist"),
            ));
        }
    }
    Ok(())
}

/// Custom fields are posted as `[{"id": <fieldinfo id>, "value": …}]` and merged by id into the
/// record's list, with `display` derived (selection fields show the option text).
fn merge_customfields(db: &Db, existing: Option<&Value>, posted: &Value) -> Value {
    let mut list: Vec<Value> = existing
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for cf in posted.as_array().into_iter().flatten() {
        let id = int_field(cf, "id");
        let value = cf.get("value").cloned().unwrap_or(Value::Null);
        let info = db.get("FieldInfo", id);
        let display = match (
            info.and_then(|i| i.get("values")).and_then(Value::as_array),
            as_i64(&value),
        ) {
            (Some(options), Some(v)) if !options.is_empty() => options
                .iter()
                .find(|o| int_field(o, "id") == v)
                .and_then(|o| o.get("name"))
                .cloned()
                .unwrap_or(json!("")),
            _ => match &value {
                Value::String(s) => json!(s),
                Value::Null => json!(""),
                other => json!(other.to_string()),
            },
        };
        if let Some(Value::Object(slot)) = list.iter_mut().find(|c| int_field(c, "id") == id) {
            slot.insert("value".into(), value);
            slot.insert("display".into(), display);
        } else {
            let text = |k: &str| info.and_then(|i| i.get(k)).cloned().unwrap_or(json!(""));
            list.push(json!({"id": id, "name": text("name"), "label": text("label"), "summary": "", "type": info.map(|i| int_field(i, "type")).unwrap_or(0), "value": value, "display": display, "usage": 1}));
        }
    }
    Value::Array(list)
}

/// Copies posted fields onto a row, keeping only fields Halo's model has (see [`template`]).
fn overlay(db: &Db, row: &mut Row, fields: &Row, template: &Row) {
    for (k, v) in fields {
        if k == "customfields" {
            let merged = merge_customfields(db, row.get("customfields"), v);
            row.insert(k.clone(), merged);
        } else if template.contains_key(k) || row.contains_key(k) {
            row.insert(k.clone(), v.clone());
        }
    }
}

fn text<'a>(row: &'a Row, k: &str) -> &'a str {
    row.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Answers `POST /X`.
pub(crate) fn post(
    db: &mut Db,
    res: &Resource,
    body: &[u8],
    now: i128,
) -> Result<(u16, Value), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation(
            "",
            "A non-empty request body is required.",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(
            "$",
            format!(
                "The JSON is invalid: {e}. Path: $ | LineNumber: {} | BytePositionInLine: {}.",
                e.line().saturating_sub(1),
                e.column()
            ),
        )
    })?;
    let model = model_name(res);
    let Value::Array(items) = value else {
        // Halo quirk (halo-api.md §4, §7.1): the body must be an array even for one record.
        return Err(ApiError::validation(
            "$",
            format!(
                "The JSON value could not be converted to System.Collections.Generic.List`1[HaloApi.Models.{model}]. Path: $ | LineNumber: 0 | BytePositionInLine: 1."
            ),
        ));
    };
    if items.is_empty() {
        return Err(ApiError::validation(
            "$",
            "At least one record is required.",
        ));
    }
    let template = template(db, res);
    let mut elements = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(obj) = item else {
            let path = format!("$[{i}]");
            return Err(ApiError::validation(
                path.clone(),
                format!(
                    "The JSON value could not be converted to HaloApi.Models.{model}. Path: {path} | LineNumber: 0 | BytePositionInLine: 0."
                ),
            ));
        };
        elements.push(coerce(i, obj, &template)?);
    }
    // Dry run first: nothing is written unless every element passes.
    for (fields, control) in &elements {
        write_one(db, res, fields, control, now, true)?;
    }
    let mut saved = Vec::with_capacity(elements.len());
    for (fields, control) in &elements {
        saved.push(write_one(db, res, fields, control, now, false)?);
    }
    // Halo answers 201 with a single object for one element (halo-api.md §4). For several the
    // doc has no evidence; we answer with the array of saved records (guess).
    let body = if saved.len() == 1 {
        saved.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(saved)
    };
    Ok((201, body))
}

fn write_one(
    db: &mut Db,
    res: &Resource,
    fields: &Row,
    control: &Row,
    now: i128,
    dry: bool,
) -> Result<Value, ApiError> {
    match res.storage {
        Storage::Faults(domain) => write_fault(db, domain, fields, control, now, dry),
        Storage::Actions => write_action(db, fields, control, now, dry),
        Storage::Plain => write_plain(db, res, fields, now, dry),
    }
}

fn not_found_guid(id: &str) -> ApiError {
    let shown: String = id.chars().take(40).collect();
    ApiError::rule("DB01", format!("Record {shown} not found"))
}

fn not_found(id: i64) -> ApiError {
    // Guess: Halo's answer to an update of a missing id is unverified; a coded 400 string.
    ApiError::rule("DB01", format!("Record {id} not found"))
}

/// A ticket, project or opportunity written through `POST /Tickets`: checks shared by both,
/// then an update of `id` or a create.
fn write_fault(
    db: &mut Db,
    domain: Domain,
    fields: &Row,
    control: &Row,
    now: i128,
    dry: bool,
) -> Result<Value, ApiError> {
    let stamp = clock::format_ts(now);
    let id = fields.get("id").and_then(as_i64).unwrap_or(0);
    check_references(db, "Faults", fields)?;
    if fields.contains_key("summary") && text(fields, "summary").trim().is_empty() {
        return Err(ApiError::rule("TK01", "Please supply a summary"));
    }
    let recover = control.get("_recover").and_then(Value::as_bool) == Some(true);

    if id > 0 {
        update_fault(db, id, fields, recover, dry, &stamp)
    } else {
        create_fault(db, domain, fields, now, dry, &stamp)
    }
}

/// An update of ticket `id`: closing and reopening set or clear `dateclosed`, a new agent sets
/// `dateassigned`.
fn update_fault(
    db: &mut Db,
    id: i64,
    fields: &Row,
    recover: bool,
    dry: bool,
    stamp: &str,
) -> Result<Value, ApiError> {
    let template = ticket_template();
    let Some(Value::Object(existing)) = db.get("Faults", id) else {
        return Err(not_found(id));
    };
    let deleted = existing.get("deleted").and_then(Value::as_bool) == Some(true);
    // Guess: a soft-deleted ticket must be recovered (`_recover: true`) before other edits.
    if deleted && !recover {
        return Err(ApiError::rule(
            "TK04",
            format!("Ticket {id} has been deleted"),
        ));
    }
    if dry {
        return Ok(Value::Null);
    }
    let mut row = existing.clone();
    let old_status = existing.get("status_id").and_then(as_i64).unwrap_or(0);
    let old_agent = existing.get("agent_id").and_then(as_i64).unwrap_or(0);
    overlay(db, &mut row, fields, &template);
    if recover {
        row.insert("deleted".into(), json!(false));
    }
    let new_status = row.get("status_id").and_then(as_i64).unwrap_or(0);
    if new_status == CLOSED_STATUS && old_status != CLOSED_STATUS {
        row.insert("dateclosed".into(), json!(stamp));
        row.insert("hasbeenclosed".into(), json!(true));
    } else if new_status != CLOSED_STATUS && old_status == CLOSED_STATUS {
        row.insert("dateclosed".into(), json!(clock::SENTINEL));
    }
    if row.get("agent_id").and_then(as_i64).unwrap_or(0) != old_agent {
        row.insert("dateassigned".into(), json!(stamp));
    }
    row.insert("last_update".into(), json!(stamp));
    derive(db, "Faults", &mut row, Some(fields));
    let out = Value::Object(row);
    db.put("Faults", "id", out.clone());
    Ok(out)
}

/// A new ticket: the template, the fields sent, then what Halo infers and derives.
fn create_fault(
    db: &mut Db,
    domain: Domain,
    fields: &Row,
    now: i128,
    dry: bool,
    stamp: &str,
) -> Result<Value, ApiError> {
    let template = ticket_template();
    if text(fields, "summary").trim().is_empty() {
        return Err(ApiError::rule("TK01", "Please supply a summary"));
    }
    if dry {
        return Ok(Value::Null);
    }
    let mut row = template.clone();
    let new_id = db.table("Faults").map(|t| t.next_id).unwrap_or(1).max(1);
    let (use_, type_id) = match domain {
        Domain::Tickets => ("ticket", 31),
        Domain::Projects => ("project", 37),
        Domain::Opportunities => ("opportunity", 38),
    };
    row.insert("id".into(), json!(new_id));
    row.insert("hdid".into(), json!(new_id));
    row.insert("use".into(), json!(use_));
    row.insert("is_project".into(), json!(domain == Domain::Projects));
    row.insert(
        "is_opportunity".into(),
        json!(domain == Domain::Opportunities),
    );
    row.insert("tickettype_id".into(), json!(type_id));
    for f in [
        "dateoccurred",
        "datecreated",
        "last_update",
        "lastactiondate",
    ] {
        row.insert(f.into(), json!(stamp));
    }
    row.insert("guid".into(), json!(db.prng.guid()));
    row.insert("key".into(), json!(db.prng.guid()));
    row.insert("takenby".into(), json!("API"));
    row.insert("source".into(), json!(0));
    overlay(db, &mut row, fields, &template);

    infer_fault_fields(db, &mut row, fields);
    let given = |k: &str| fields.get(k).and_then(as_i64).filter(|v| *v > 0);
    if given("status_id").is_none() {
        row.insert("status_id".into(), json!(1));
    }
    if row.get("agent_id").and_then(as_i64).unwrap_or(0) > 0 {
        row.insert("dateassigned".into(), json!(stamp));
    }
    let occurred = row
        .get("dateoccurred")
        .and_then(Value::as_str)
        .and_then(clock::parse_ts)
        .unwrap_or(now);
    set_sla_dates(db, &mut row, occurred);
    if text(&row, "details_html").is_empty() && !text(&row, "details").is_empty() {
        let html = format!("<p>{}</p>", text(&row, "details"));
        row.insert("details_html".into(), json!(html));
    }
    if row.get("status_id").and_then(as_i64) == Some(CLOSED_STATUS) {
        row.insert("dateclosed".into(), json!(stamp));
        row.insert("hasbeenclosed".into(), json!(true));
    }
    derive(db, "Faults", &mut row, Some(fields));
    if let Some(user) = db.get("Users", row.get("user_id").and_then(as_i64).unwrap_or(0)) {
        let email = user.get("emailaddress").cloned().unwrap_or(json!(""));
        row.insert("reportedby".into(), email);
    }
    let r = reference(&row);
    row.insert("reference".into(), json!(r));
    let out = Value::Object(row);
    db.put("Faults", "id", out.clone());
    Ok(out)
}

/// Fills what Halo infers for a new ticket: the user's site and client, the client's main site,
/// the ticket type's defaults (team, priority, SLA).
fn infer_fault_fields(db: &Db, row: &mut Row, fields: &Row) {
    let given = |k: &str| fields.get(k).and_then(as_i64).filter(|v| *v > 0);
    if let Some(user) = given("user_id").and_then(|u| db.get("Users", u)) {
        if given("site_id").is_none() {
            row.insert("site_id".into(), json!(int_field(user, "site_id")));
        }
        if given("client_id").is_none() {
            row.insert("client_id".into(), json!(int_field(user, "client_id")));
        }
    }
    let site = row.get("site_id").and_then(as_i64).unwrap_or(0);
    let client = row.get("client_id").and_then(as_i64).unwrap_or(0);
    if site <= 0
        && let Some(c) = db.get("Client", client)
    {
        row.insert("site_id".into(), json!(int_field(c, "main_site_id")));
    }
    if client <= 0
        && let Some(s) = db.get("Site", site)
    {
        row.insert("client_id".into(), json!(int_field(s, "client_id")));
    }
    let ttype = db
        .get(
            "TicketType",
            row.get("tickettype_id").and_then(as_i64).unwrap_or(0),
        )
        .cloned();
    if let Some(tt) = &ttype {
        if given("team_id").is_none() && !fields.contains_key("team") {
            row.insert("team_id".into(), json!(int_field(tt, "default_team_id")));
        }
        if given("priority_id").is_none() {
            row.insert(
                "priority_id".into(),
                json!(int_field(tt, "default_priority")),
            );
        }
        if given("sla_id").is_none() {
            row.insert("sla_id".into(), json!(int_field(tt, "default_sla")));
        }
    }
}

/// Re-totals a ticket's time from its actions and applies an action's side effects.
fn touch_ticket(db: &mut Db, ticket_id: i64, action: Option<&Row>, stamp: &str) {
    let (mut total, mut charge) = (0.0, 0.0);
    for a in db
        .actions
        .range((ticket_id, i64::MIN)..=(ticket_id, i64::MAX))
        .map(|(_, a)| a)
    {
        total += a.get("timetaken").and_then(as_f64).unwrap_or(0.0);
        charge += a.get("actionchargehours").and_then(as_f64).unwrap_or(0.0);
    }
    let Some(Value::Object(t)) = db.get("Faults", ticket_id).cloned() else {
        return;
    };
    let mut t = t;
    t.insert("timetaken".into(), json!(total));
    t.insert("chargehours".into(), json!(charge));
    t.insert("nonchargehours".into(), json!(total - charge));
    t.insert("last_update".into(), json!(stamp));
    if let Some(a) = action {
        t.insert(
            "lastactiondate".into(),
            a.get("datetime").cloned().unwrap_or(json!(stamp)),
        );
        if let Some(note) = a
            .get("note")
            .filter(|n| n.as_str().is_some_and(|s| !s.is_empty()))
        {
            t.insert("lastnote".into(), note.clone());
        }
        let new_status = a.get("new_status").and_then(as_i64).unwrap_or(0);
        if new_status > 0 {
            let old = t.get("status_id").and_then(as_i64).unwrap_or(0);
            t.insert("status_id".into(), json!(new_status));
            if new_status == CLOSED_STATUS && old != CLOSED_STATUS {
                t.insert("dateclosed".into(), json!(stamp));
                t.insert("hasbeenclosed".into(), json!(true));
            }
        }
    }
    derive(db, "Faults", &mut t, None);
    db.put("Faults", "id", Value::Object(t));
}

/// `POST /Actions`: an update of action `id` on the ticket, or a new one; either way the
/// ticket's totals follow.
fn write_action(
    db: &mut Db,
    fields: &Row,
    control: &Row,
    now: i128,
    dry: bool,
) -> Result<Value, ApiError> {
    let stamp = clock::format_ts(now);
    let ticket_id = fields.get("ticket_id").and_then(as_i64).unwrap_or(0);
    let id = fields.get("id").and_then(as_i64).unwrap_or(0);
    if ticket_id <= 0 {
        return Err(ApiError::rule("AC02", "Please supply a ticket_id"));
    }
    let ticket = db.get("Faults", ticket_id);
    if ticket.is_none_or(|t| t.get("deleted").and_then(Value::as_bool) == Some(true)) {
        return Err(ApiError::rule(
            "AC01",
            format!("Ticket {ticket_id} not found"),
        ));
    }
    let mut checked = fields.clone();
    checked.remove("ticket_id");
    check_references(db, "Actions", &checked)?;
    let template = action_template();

    let mut row = if id > 0 {
        let Some(Value::Object(existing)) = db.actions.get(&(ticket_id, id)) else {
            return Err(not_found(id));
        };
        if dry {
            return Ok(Value::Null);
        }
        let mut row = existing.clone();
        overlay(db, &mut row, fields, &template);
        row.insert("last_updated".into(), json!(stamp));
        row
    } else {
        if dry {
            return Ok(Value::Null);
        }
        new_action(db, ticket_id, fields, &template, &stamp)
    };
    derive(db, "Actions", &mut row, Some(fields));
    db.put_action(Value::Object(row.clone()));
    touch_ticket(db, ticket_id, Some(&row), &stamp);
    let mut out = row;
    if control
        .get("_includeticketinresponse")
        .and_then(Value::as_bool)
        == Some(true)
        && let Some(t) = db.get("Faults", ticket_id)
    {
        out.insert("ticket".into(), t.clone());
    }
    Ok(Value::Object(out))
}

/// A new action on ticket `ticket_id`: by the API's agent, stamped now, its outcome looked up
/// by name when only the name was sent, its charge hours from its time when billable.
fn new_action(db: &mut Db, ticket_id: i64, fields: &Row, template: &Row, stamp: &str) -> Row {
    let mut row = template.clone();
    let agent = db.api_agent_id;
    row.insert("who".into(), json!(db.text("Agent", agent, "name")));
    row.insert("who_agentid".into(), json!(agent));
    row.insert(
        "who_initials".into(),
        json!(db.text("Agent", agent, "initials")),
    );
    for f in [
        "datetime",
        "actiondatecreated",
        "last_updated",
        "actionarrivaldate",
        "actioncompletiondate",
    ] {
        row.insert(f.into(), json!(stamp));
    }
    overlay(db, &mut row, fields, template);
    row.insert("ticket_id".into(), json!(ticket_id));
    row.insert("id".into(), json!(db.next_action_id(ticket_id)));
    // `outcome` may be posted as a name ("comment") instead of `outcome_id`.
    if !fields.contains_key("outcome_id") {
        let name = text(&row, "outcome").to_string();
        let found = db
            .table("Outcome")
            .and_then(|t| {
                t.rows.values().find(|o| {
                    o.get("outcome")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                })
            })
            .map(|o| int_field(o, "id"));
        if let Some(oid) = found {
            row.insert("outcome_id".into(), json!(oid));
        }
    }
    if text(&row, "note_html").is_empty() && !text(&row, "note").is_empty() {
        let html = format!("<p>{}</p>", text(&row, "note"));
        row.insert("note_html".into(), json!(html));
    }
    let hours = row.get("timetaken").and_then(as_f64).unwrap_or(0.0);
    let billable = row
        .get("actisbillable")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if !fields.contains_key("actionchargehours") {
        row.insert(
            "actionchargehours".into(),
            json!(if billable { hours } else { 0.0 }),
        );
    }
    row
}

/// Any other resource: the record `id` (or its guid) names is updated, or a new one made.
fn write_plain(
    db: &mut Db,
    res: &Resource,
    fields: &Row,
    now: i128,
    dry: bool,
) -> Result<Value, ApiError> {
    let stamp = clock::format_ts(now);
    let template = template(db, res);
    check_references(db, res.name, fields)?;
    // Where Halo's `id` is a guid, a posted `id` names the record to update (and is not
    // writable); the integer beside it (`priorityid`, `holid`) does too.
    let by_guid = match fields.get("id") {
        Some(Value::String(g)) if res.guid && !g.trim().is_empty() => {
            Some(db.key_of_guid(res, g).ok_or_else(|| not_found_guid(g))?)
        }
        _ => None,
    };
    let id = by_guid
        .or_else(|| fields.get(res.key).and_then(as_i64))
        .unwrap_or(0);

    if id > 0 {
        update_plain(db, res, id, fields, &template, dry)
    } else {
        create_plain(db, res, fields, &template, &stamp, dry)
    }
}

/// An update of record `id`: the posted fields over the stored ones (a guid key stays).
fn update_plain(
    db: &mut Db,
    res: &Resource,
    id: i64,
    fields: &Row,
    template: &Row,
    dry: bool,
) -> Result<Value, ApiError> {
    let (table, key) = (res.name, res.key);
    let Some(Value::Object(existing)) = db.get(table, id) else {
        return Err(not_found(id));
    };
    if fields.contains_key("name") && text(fields, "name").trim().is_empty() {
        return Err(ApiError::rule("GN01", "Please supply a name"));
    }
    if dry {
        return Ok(Value::Null);
    }
    let mut row = existing.clone();
    let mut posted = fields.clone();
    if res.guid {
        posted.remove("id");
        posted.remove(key);
    }
    overlay(db, &mut row, &posted, template);
    derive(db, table, &mut row, Some(fields));
    let out = Value::Object(row);
    db.put(table, key, out.clone());
    Ok(out)
}

/// A new record: the checks Halo makes for some tables, then the template, a fresh id (and
/// guid), timestamps and the posted fields.
fn create_plain(
    db: &mut Db,
    res: &Resource,
    fields: &Row,
    template: &Row,
    stamp: &str,
    dry: bool,
) -> Result<Value, ApiError> {
    let (table, key) = (res.name, res.key);
    let mut fields = fields.clone();
    if table == "Users" && text(&fields, "name").is_empty() {
        let name = format!(
            "{} {}",
            text(&fields, "firstname"),
            text(&fields, "surname")
        )
        .trim()
        .to_string();
        fields.insert("name".into(), json!(name));
    }
    if template.contains_key("name") && text(&fields, "name").trim().is_empty() {
        return Err(ApiError::rule("GN01", "Please supply a name"));
    }
    let need = |f: &str| fields.get(f).and_then(as_i64).unwrap_or(0) <= 0;
    match table {
        "Site" if need("client_id") => {
            return Err(ApiError::rule("ST01", "Please supply a client"));
        }
        "Users" if need("site_id") => return Err(ApiError::rule("US01", "Please supply a site")),
        "Attachment" | "ToDo" if need("ticket_id") => {
            return Err(ApiError::rule("AT01", "Please supply a ticket_id"));
        }
        _ => {}
    }
    if dry {
        return Ok(Value::Null);
    }
    let new_id = db.table(table).map(|t| t.next_id).unwrap_or(1).max(1);
    let mut row = template.clone();
    row.insert(key.into(), json!(new_id));
    if res.guid || row.contains_key("guid") {
        let g = db.prng.guid();
        row.insert(if res.guid { "id".into() } else { "guid".into() }, json!(g));
    }
    for f in ["datecreated", "date_created", "datetime"] {
        if row.contains_key(f) {
            row.insert(f.into(), json!(stamp));
        }
    }
    if table == "Attachment"
        && let Some(data) = fields.get("data_base64").and_then(Value::as_str)
    {
        let payload = data.rsplit(',').next().unwrap_or_default();
        row.insert("filesize".into(), json!(payload.len() * 3 / 4));
    }
    fields.remove(key);
    if res.guid {
        fields.remove("id");
    }
    overlay(db, &mut row, &fields, template);
    derive(db, table, &mut row, Some(&fields));
    let out = Value::Object(row);
    db.put(table, key, out.clone());
    Ok(out)
}

/// Answers `DELETE /X/{id}`. Guess (halo-api.md §4: 200, body unverified): `{"id": N}`.
pub(crate) fn delete(
    db: &mut Db,
    res: &Resource,
    id: i64,
    p: &Params,
    now: i128,
) -> Result<Value, ApiError> {
    if !res.delete {
        return Err(ApiError::MethodNotAllowed);
    }
    let stamp = clock::format_ts(now);
    let missing = || ApiError::NotFound(format!("{} {id} not found", res.name));
    match res.storage {
        Storage::Actions => {
            let ticket = p
                .int("ticket_id")
                .ok_or_else(|| ApiError::rule("AC02", "Please supply a ticket_id"))?;
            db.actions.remove(&(ticket, id)).ok_or_else(missing)?;
            touch_ticket(db, ticket, None, &stamp);
        }
        Storage::Faults(_) => {
            // Tickets are soft-deleted: kept with `deleted: true`, hidden from lists unless
            // `deleted=true`, restorable with `_recover` (halo-api.md §4).
            let Some(Value::Object(mut row)) = db.by_id(res, id).cloned() else {
                return Err(missing());
            };
            row.insert("deleted".into(), json!(true));
            row.insert("last_update".into(), json!(stamp));
            db.put("Faults", "id", Value::Object(row));
            let reason = p.get("reason").unwrap_or_default().to_string();
            let audit_id = db.table("Audit").map(|t| t.next_id).unwrap_or(1).max(1);
            let agent = db.api_agent_id;
            let audit = json!({"id": audit_id, "ticket_id": id, "agent_id": agent, "date": stamp, "value": "Deleted", "from": "", "to": reason, "table_name": "Faults", "username": db.text("Agent", agent, "name"), "clientid": 0});
            db.put("Audit", "id", audit);
        }
        Storage::Plain => {
            let removed = db
                .tables
                .get_mut(res.name)
                .and_then(|t| t.rows.remove(&id))
                .ok_or_else(missing)?;
            if res.guid {
                // The caller named it by its guid.
                return Ok(json!({ "id": removed.get("id").cloned().unwrap_or(Value::Null) }));
            }
        }
    }
    Ok(json!({ "id": id }))
}
