//! Drill-down views: one call that answers "tell me about this ticket / client / contract /
//! asset" with what an assistant would otherwise gather in four to six calls.

use futures::FutureExt;
use serde_json::{Map, Value, json};

use super::{
    Composite, Ctx,
    fetch::{Pages, Reads},
    id_arg, int_arg, resource,
    revenue::{Date, own_evidence, settle},
};
use crate::{
    catalog::Resource,
    halo::{Caching, PageRequest},
    tools::{ToolError, args::as_int, compact, crud, error::get_record},
};

/// Actions shown by default in a ticket overview, and at most.
const DEFAULT_ACTIONS: i64 = 5;
const MAX_ACTIONS: i64 = 20;

pub const TICKET: Composite = Composite {
    domain: "tickets",
    name: "halo_tickets_overview",
    title: "Ticket overview",
    description: "A ticket with its latest actions (notes, time entries), time totals and SLA \
                  state.",
    params: &[
        ("id", "integer!"),
        ("actions", "integer: Latest actions, 1-20; default 5"),
    ],
    reads: &["/Tickets", "/Actions"],
    run: |ctx, args| ticket(ctx, args).boxed(),
};

pub const CLIENT: Composite = Composite {
    domain: "clients",
    name: "halo_clients_overview",
    title: "Client overview",
    description: "A client with its sites, number of contacts and number of open tickets.",
    params: &[("id", "integer!")],
    reads: &["/Client", "/Site", "/Users", "/Tickets"],
    run: |ctx, args| client(ctx, args).boxed(),
};

pub const CONTRACT: Composite = Composite {
    domain: "contracts",
    name: "halo_contracts_overview",
    title: "Contract overview",
    description: "A contract with its billing lines (recurring invoice lines) and monthly value.",
    params: &[("id", "integer!")],
    reads: &["/ClientContract", "/RecurringInvoice"],
    run: |ctx, args| contract(ctx, args).boxed(),
};

pub const ASSET: Composite = Composite {
    domain: "assets",
    name: "halo_assets_overview",
    title: "Asset overview",
    description: "An asset with its field values and a readable schema of its type's fields.",
    params: &[("id", "integer!")],
    reads: &["/Asset", "/AssetType"],
    run: |ctx, args| asset(ctx, args).boxed(),
};

/// An asset's field values by name. Halo sends them as a FieldHelper list
/// (`{id, name, value, display}`; `id` is the field's id); the display text wins over the raw
/// value when there is one.
fn field_values(a: &Value) -> Map<String, Value> {
    let mut values = Map::new();
    for f in a
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = f.get("name").and_then(Value::as_str).unwrap_or("");
        let shown = f
            .get("display")
            .filter(|d| d.as_str().is_some_and(|s| !s.is_empty()))
            .or_else(|| f.get("value"))
            .and_then(|v| compact::clean(v, 1));
        if let (false, Some(v)) = (name.is_empty(), shown) {
            values.insert(name.to_owned(), v);
        }
    }
    values
}

/// An asset type's fields: its three key fields (the serial number and hostname slots first),
/// then its own field list, then the fields of its TypeInfo not already named.
fn type_schema(t: &Value) -> Vec<Value> {
    let mut schema: Vec<Value> = Vec::new();
    for (slot, id_key, name_key) in [
        (
            "key field 1 (serial number slot)",
            "keyfield_id",
            "keyfield_name",
        ),
        (
            "key field 2 (hostname slot)",
            "keyfield2_id",
            "keyfield2_name",
        ),
        ("key field 3", "keyfield3_id", "keyfield3_name"),
    ] {
        if let Some(name) = t
            .get(name_key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            schema.push(json!({"field": name, "id": t.get(id_key), "role": slot}));
        }
    }
    // The type's own field list, where Halo sends one (`field_list` of Field, `fields` of
    // TypeInfo).
    for f in t
        .get("field_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        schema.push(field_row(f));
    }
    for f in t
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = f.get("field_name").cloned().unwrap_or(Value::Null);
        if schema.iter().any(|s| s["field"] == name) {
            continue;
        }
        schema.push(json!({"field": name, "id": f.get("field_id"), "tab": f.get("tab_name")}));
    }
    schema
}

/// One Field of a type's `field_list`: name, id, and where set, whether it is required, its
/// options and its tab.
fn field_row(f: &Value) -> Value {
    let mut row = Map::new();
    row.insert(
        "field".into(),
        f.get("name").cloned().unwrap_or(Value::Null),
    );
    row.insert("id".into(), f.get("id").cloned().unwrap_or(Value::Null));
    if let Some(m) = f.get("mandatory") {
        row.insert("required".into(), m.clone());
    }
    if let Some(options) = f
        .get("values")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
    {
        let names: Vec<Value> = options
            .iter()
            .filter_map(|o| o.get("name").or_else(|| o.get("value")).cloned())
            .collect();
        row.insert("options".into(), Value::Array(names));
    }
    if let Some(tab) = f
        .get("tab_name")
        .filter(|t| t.as_str().is_some_and(|s| !s.is_empty()))
    {
        row.insert("tab".into(), tab.clone());
    }
    Value::Object(row)
}

/// A contract's recurring invoice as a billing line, with its net per period and its period's
/// length in months (or why that is unknown).
fn billing_line(s: &Value) -> (Value, f64, Result<(f64, String), String>) {
    let lines: Vec<Value> = s
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|l| {
            compact::shape(
                l,
                &[
                    "item_code".into(),
                    "item_shortdescription".into(),
                    "qty_order".into(),
                    "unit_price".into(),
                    "net_amount".into(),
                    "tax_amount".into(),
                ],
                "item_shortdescription",
                compact::Detail::Compact,
            )
        })
        .collect();
    let net: f64 = s
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.get("net_amount").and_then(Value::as_f64))
        .sum();
    // Halo's period number is an undocumented code: the length comes from the record.
    let months = settle(&own_evidence(s));
    let disabled = s.get("disabled") == Some(&Value::Bool(true));
    let line = json!({
        "recurring_invoice_id": s.get("id"),
        "period": s.get("periodname").filter(|p| p.as_str().is_some_and(|p| !p.trim().is_empty())).or_else(|| s.get("period")),
        "period_months": months.as_ref().ok().map(|m| m.0),
        "period_from": match &months { Ok((_, b)) => json!(b), Err(why) => json!(why) },
        "disabled": disabled,
        "next_invoice": s.get("nextcreationdate"),
        "net_per_period": (net * 100.0).round() / 100.0 + 0.0,
        "lines": lines,
    });
    (line, net, months)
}

/// GET one record of a catalogue resource, with its fixed query; a missing one is an error.
async fn one(ctx: &Ctx, r: &Resource, id: i64) -> Result<Value, ToolError> {
    let path = format!("{}/{id}", r.path);
    get_record(&ctx.halo, &path, &crud::get_query(r), crud::caching(r))
        .await?
        .ok_or_else(|| ToolError::record_not_found(r, &id.to_string(), None))
}

/// `record_count` of a list, asking Halo for one row.
async fn count(ctx: &Ctx, r: &Resource, query: Vec<(String, String)>) -> Result<u64, ToolError> {
    let page = ctx
        .halo
        .list_page(
            &r.path,
            r.envelope.as_deref(),
            &query,
            PageRequest::first(1),
            Caching::Live,
        )
        .await?;
    Ok(page.record_count.unwrap_or(page.records.len() as u64))
}

fn shape(r: &Resource, v: &Value, list: bool) -> Value {
    let keep = if list { &r.list_fields } else { &r.get_fields };
    compact::shape(v, keep, &r.label, compact::Detail::Compact)
}

fn hours(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0)
}

/// Seconds since the Unix epoch of a Halo timestamp (UTC; a bare date is midnight); `None` for
/// sentinels and junk.
fn epoch_secs(s: &str) -> Option<i64> {
    let day = Date::parse(s)?.days_since_epoch();
    let time = s.trim().get(11..19).unwrap_or("00:00:00");
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    Some(day * 86_400 + h * 3600 + m * 60 + sec)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Where the ticket stands against its SLA, in words, with the share of the fix time used.
/// States and percentage are computed from the same timestamps at the same instant, so they
/// agree: a fix target is breached exactly when more than 100 % of the time is used.
fn sla_state(t: &Value) -> Value {
    let at = |k: &str| t.get(k).and_then(Value::as_str).and_then(epoch_secs);
    let text = |k: &str| {
        t.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && !compact::is_sentinel_date(s))
            .map(str::to_owned)
    };
    let now = now_secs();
    let closed_at = at("dateclosed");
    let closed = closed_at.is_some() || t.get("status_id").and_then(as_int) == Some(9);
    let on_hold = t.get("onhold") == Some(&Value::Bool(true));
    let excluded = t.get("excludefromsla") == Some(&Value::Bool(true));
    // Time used of the fix window: logged to fix-by, measured to closure (or now).
    let used = match (at("dateoccurred"), at("fixbydate")) {
        (Some(from), Some(fix)) if fix > from && !on_hold && !excluded => {
            let until = if closed { closed_at } else { Some(now) };
            until.map(|u| ((u - from) as f64 / (fix - from) as f64 * 1000.0).round() / 10.0)
        }
        _ => None,
    };
    let fix_breached = used.is_some_and(|p| p > 100.0);
    let state = if excluded {
        "excluded from SLA"
    } else if closed {
        if fix_breached {
            "closed after its fix target"
        } else {
            "closed"
        }
    } else if on_hold {
        "on hold (SLA clock paused)"
    } else if fix_breached {
        "fix target breached"
    } else if at("respondbydate").is_some_and(|d| d < now) && at("responsedate").is_none() {
        "response target breached"
    } else {
        "within target"
    };
    let mut out = Map::new();
    out.insert("state".into(), json!(state));
    for (k, label) in [
        ("sla_name", "sla"),
        ("respondbydate", "respond_by"),
        ("responsedate", "responded"),
        ("fixbydate", "fix_by"),
        ("slaactiondate", "next_sla_action"),
    ] {
        if let Some(v) = text(k) {
            out.insert(label.into(), json!(v));
        }
    }
    if let Some(p) = used {
        out.insert("percent_used".into(), json!(p + 0.0));
        out.insert(
            "percent_used_basis".into(),
            json!("elapsed time from dateoccurred to now (or dateclosed) ÷ dateoccurred to fixbydate, clock time; Halo's own slapercused may count working hours only"),
        );
    }
    Value::Object(out)
}

/// Replaces every negative zero in an answer by zero: Halo writes `-0.0` for empty amounts
/// (`estimate: -0.0`, halo-api.md §7.6), which reads as a figure below zero.
fn no_negative_zero(v: &mut Value) {
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) => {
            *v = json!(0.0);
        }
        Value::Array(a) => a.iter_mut().for_each(no_negative_zero),
        Value::Object(m) => m.values_mut().for_each(no_negative_zero),
        _ => {}
    }
}

/// Hours rounded to the hundredth, never negative zero.
fn round_hours(h: f64) -> f64 {
    (h * 100.0).round() / 100.0 + 0.0
}

async fn ticket(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let id = id_arg(&args, "id")?;
    let n = int_arg(&args, "actions").unwrap_or(DEFAULT_ACTIONS);
    if !(1..=MAX_ACTIONS).contains(&n) {
        return Err(ToolError::invalid(
            "actions",
            format!("`actions` must be from 1 to {MAX_ACTIONS} (got {n})"),
        ));
    }
    let tickets = resource("tickets", "tickets")?;
    let actions_r = resource("actions", "actions")?;
    let t = one(ctx, tickets, id).await?;
    let mut reads = Reads::default();
    let mut actions = Pages::new(ctx, 1)
        .all(
            actions_r,
            &[("ticket_id".into(), id.to_string())],
            &mut reads,
        )
        .await?;
    let total_hours: f64 = actions.iter().map(|a| hours(a.get("timetaken"))).sum();
    let billable: f64 = actions
        .iter()
        .filter(|a| a.get("actisbillable") == Some(&Value::Bool(true)))
        .map(|a| hours(a.get("timetaken")))
        .sum();
    let all = actions.len();
    // Newest first: by date, then by the per-ticket action number.
    actions.sort_by(|a, b| {
        let d = |v: &Value| {
            v.get("datetime")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        d(b).cmp(&d(a)).then(
            b.get("id")
                .and_then(as_int)
                .cmp(&a.get("id").and_then(as_int)),
        )
    });
    let latest: Vec<Value> = actions
        .iter()
        .take(usize::try_from(n).unwrap_or(5))
        .map(|a| shape(actions_r, a, true))
        .collect();
    let mut ticket = shape(tickets, &t, false);
    if let Some(m) = ticket.as_object_mut() {
        // Shown once, computed from the records: the SLA share under `sla`, the hours (sum of
        // the actions listed) under `time`; Halo's stored copies may lag or count otherwise.
        m.remove("slapercused");
        m.remove("timetaken");
    }
    let mut out = json!({
        "ticket": ticket,
        "sla": sla_state(&t),
        "time": {
            "hours": round_hours(total_hours),
            "billable_hours": round_hours(billable),
        },
        "actions": {"total": all, "latest": latest},
    });
    no_negative_zero(&mut out);
    Ok(out)
}

async fn client(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let id = id_arg(&args, "id")?;
    let clients = resource("clients", "clients")?;
    let sites_r = resource("sites", "sites")?;
    let users_r = resource("users", "users")?;
    let tickets_r = resource("tickets", "tickets")?;
    let by_client = vec![("client_id".to_owned(), id.to_string())];
    let c = one(ctx, clients, id).await?;
    let mut reads = Reads::default();
    let mut ticket_reads = Reads::default();
    let (sites, contacts, open) = tokio::join!(
        async {
            let mut p = Pages::new(ctx, 1);
            p.all(sites_r, &by_client, &mut reads).await
        },
        count(ctx, users_r, by_client.clone()),
        async {
            let mut q = by_client.clone();
            q.push(("open_only".into(), "true".into()));
            let mut p = Pages::new(ctx, 1);
            p.all(tickets_r, &q, &mut ticket_reads).await
        },
    );
    let sites: Vec<Value> = sites?.iter().map(|s| shape(sites_r, s, true)).collect();
    // The open tickets are listed, and counted from the list, so the two always agree.
    let open: Vec<Value> = open?
        .iter()
        .filter(|t| t.get("client_id").and_then(as_int).is_none_or(|c| c == id))
        .map(|t| shape(tickets_r, t, true))
        .collect();
    let mut client = shape(clients, &c, false);
    if let Some(m) = client.as_object_mut() {
        // Halo's own counter is not the list above (what it counts is undocumented: on the
        // simulator it includes projects and opportunities), so it is not shown beside it.
        m.remove("open_ticket_count");
    }
    let mut out = json!({
        "client": client,
        "sites": sites,
        "contacts": contacts?,
        "open_tickets": {"count": open.len(), "tickets": open},
        "basis": "open_tickets: GET /Tickets?client_id=…&open_only=true, every page; count is the number listed.",
    });
    no_negative_zero(&mut out);
    Ok(out)
}

async fn contract(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let id = id_arg(&args, "id")?;
    let contracts = resource("contracts", "contracts")?;
    let recurring = resource("recurring_invoices", "recurring_invoices")?;
    let c = one(ctx, contracts, id).await?;
    let mut reads = Reads::default();
    let schedules = Pages::new(ctx, 1)
        .all(
            recurring,
            &[("contract_id".into(), id.to_string())],
            &mut reads,
        )
        .await?;
    let mut monthly = 0.0;
    let mut billing = Vec::new();
    let mut unknown: Vec<Value> = Vec::new();
    for s in schedules
        .iter()
        .filter(|s| s.get("contract_id").and_then(as_int) == Some(id))
    {
        let (line, net, months) = billing_line(s);
        match (&months, line["disabled"] == Value::Bool(true)) {
            (Ok((m, _)), false) => monthly += net / m,
            (Err(why), false) => {
                unknown.push(json!({"recurring_invoice_id": s.get("id"), "why": why}))
            }
            _ => {}
        }
        billing.push(line);
    }
    if billing.is_empty()
        && let Some(charge) = c.get("periodchargeamount").and_then(Value::as_f64)
    {
        // Billed by the contract itself.
        match settle(&own_evidence(&c)) {
            Ok((m, _)) => monthly = charge / m,
            Err(why) => unknown.push(json!({"contract_id": id, "why": why})),
        }
    }
    let mut out = json!({
        "contract": shape(contracts, &c, false),
        "billing": billing,
        "monthly_value": (monthly * 100.0).round() / 100.0 + 0.0,
        "note": "Amounts exclude tax; monthly_value sums each enabled billing line's net per period ÷ its period's length in months, the length read from the record (period name, lastcreated → nextcreationdate, the period its line covers), never from Halo's undocumented period code.",
    });
    if !unknown.is_empty() {
        out["not_in_monthly_value"] =
            json!({"reason": "billing period could not be determined", "items": unknown});
    }
    no_negative_zero(&mut out);
    Ok(out)
}

async fn asset(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let id = id_arg(&args, "id")?;
    let assets = resource("assets", "assets")?;
    let types = resource("asset_setup", "asset_types")?;
    let a = one(ctx, assets, id).await?;
    let values = field_values(&a);
    let mut schema: Vec<Value> = Vec::new();
    let mut type_name = a.get("assettype_name").cloned();
    if let Some(type_id) = a.get("assettype_id").and_then(as_int).filter(|t| *t > 0) {
        let t = one(ctx, types, type_id).await?;
        type_name = t.get("name").cloned().or(type_name);
        schema = type_schema(&t);
    }
    let mut out = json!({
        "asset": shape(assets, &a, false),
        "type": type_name,
        "field_values": values,
        "field_schema": schema,
        "custom_fields": compact::shape(&a, &["customfields".into()], "", compact::Detail::Compact)
            .get("customfields")
            .cloned(),
    });
    no_negative_zero(&mut out);
    Ok(out)
}
