//! Derived fields: the names, nested objects and double-typed ids Halo computes from ids.
//!
//! Halo denormalises heavily: a ticket carries `client_name`, `status_name`, a `team` *name*
//! next to `team_id`, and whole nested `user{}`, `priority{}` and `tickettype{}` objects; a
//! user carries `site_id` as a double plus `site_id_int`. Both the seed and every POST run the
//! same functions here, so a created record and a seeded one can never disagree on shape.

use serde_json::{Map, Value};

use super::store::{Db, Row, as_i64};

/// `(id field, name field, table, source field)`: when a row has both fields, the name is
/// refreshed from the referenced row. The name field is only written if the row (or its
/// template) already has it, so no resource grows fields Halo doesn't send.
const LINKS: &[(&str, &str, &str, &str)] = &[
    ("client_id", "client_name", "Client", "name"),
    ("site_id", "site_name", "Site", "name"),
    ("user_id", "user_name", "Users", "name"),
    ("agent_id", "agent_name", "Agent", "name"),
    ("tickettype_id", "tickettype_name", "TicketType", "name"),
    ("sla_id", "sla_name", "SLA", "name"),
    ("assettype_id", "assettype_name", "AssetType", "name"),
    ("assetgroup_id", "assetgroup_name", "AssetGroup", "name"),
    ("supplier_id", "supplier_name", "Supplier", "name"),
    ("toplevel_id", "toplevel_name", "TopLevel", "name"),
    ("team_id", "team_name", "Team", "name"),
    (
        "service_category_id",
        "service_category_name",
        "ServiceCategory",
        "name",
    ),
    ("workday_id", "workday_name", "Workday", "name"),
    (
        "organisation_id",
        "organisation_name",
        "Organisation",
        "name",
    ),
    ("contract_id", "contract_ref", "ClientContract", "ref"),
    (
        "action_contract_id",
        "action_contract_ref",
        "ClientContract",
        "ref",
    ),
];

fn id_of(row: &Row, field: &str) -> i64 {
    row.get(field).and_then(as_i64).unwrap_or(0)
}

fn set_name(db: &Db, row: &mut Row, id_field: &str, name_field: &str, table: &str, source: &str) {
    if !row.contains_key(id_field) || !row.contains_key(name_field) {
        return;
    }
    let id = id_of(row, id_field);
    let name = if id > 0 {
        db.text(table, id, source)
    } else {
        String::new()
    };
    row.insert(name_field.to_string(), Value::String(name));
}

/// Refreshes every derived field of `row` (a row of `table`). `incoming` is the posted object
/// on a write (it decides which of two linked fields wins), `None` in the seed.
pub(crate) fn derive(db: &Db, table: &str, row: &mut Row, incoming: Option<&Row>) {
    for (id_field, name_field, t, source) in LINKS {
        set_name(db, row, id_field, name_field, t, source);
    }
    match table {
        "Faults" => fault(db, row, incoming),
        "Users" => user(db, row),
        "Site" => site(db, row),
        "Actions" => {
            set_name(db, row, "new_status", "new_status_name", "Status", "name");
            // `outcome` is the outcome's name; a posted free-text outcome with no matching
            // outcome_id is kept as posted.
            if id_of(row, "outcome_id") > 0 {
                set_name(db, row, "outcome_id", "outcome", "Outcome", "outcome");
            }
        }
        _ => {}
    }
}

/// Halo quirk (halo-api.md §7.5): `Users.site_id` is a double (`18.0`) with an int copy in
/// `site_id_int`; the client follows from the site.
fn user(db: &Db, row: &mut Row) {
    let site_id = id_of(row, "site_id");
    row.insert("site_id".into(), Value::from(site_id as f64));
    row.insert("site_id_int".into(), Value::from(site_id));
    if let Some(site) = db.get("Site", site_id) {
        let client_id = site.get("client_id").and_then(as_i64).unwrap_or(0);
        row.insert("client_id".into(), Value::from(client_id));
        row.insert(
            "client_name".into(),
            Value::String(db.text("Client", client_id, "name")),
        );
    }
}

/// Halo quirk (halo-api.md §7.5): `Site.client_id` is a double; `clientsite_name` is
/// "Client/Site".
fn site(db: &Db, row: &mut Row) {
    let client_id = id_of(row, "client_id");
    row.insert("client_id".into(), Value::from(client_id as f64));
    let client = db.text("Client", client_id, "name");
    let name = row
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    row.insert(
        "clientsite_name".into(),
        Value::String(format!("{client}/{name}")),
    );
}

/// Ticket denormalisation: status and team names, category strings ↔ ids, and the nested
/// `priority{}`, `user{}` and `tickettype{}` objects.
fn fault(db: &Db, row: &mut Row, incoming: Option<&Row>) {
    set_name(db, row, "status_id", "status_name", "Status", "name");
    // Halo quirk (halo-api.md §7.8): `team` is the team's *name*; `team_id` is the id. A
    // posted name without an id sets the team by name.
    if let Some(inc) = incoming
        && !inc.contains_key("team_id")
        && let Some(name) = inc.get("team").and_then(Value::as_str)
        && let Some(id) = super::writes::team_by_name(db, name)
    {
        row.insert("team_id".into(), Value::from(id));
    }
    set_name(db, row, "team_id", "team", "Team", "name");

    // Category: `category_1` is the "Hardware>Laptop" string, `categoryid_1` the id. Whichever
    // the caller posted wins; the other follows.
    for n in 1..=4 {
        let text_f = format!("category_{n}");
        let id_f = format!("categoryid_{n}");
        let posted_id = incoming.is_some_and(|i| i.contains_key(&id_f));
        let posted_text = incoming.is_some_and(|i| i.contains_key(&text_f));
        if posted_id {
            let id = id_of(row, &id_f);
            let value = if id > 0 {
                db.text("Category", id, "value")
            } else {
                String::new()
            };
            row.insert(text_f, Value::String(value));
        } else if posted_text {
            let text = row
                .get(&text_f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let id = db
                .table("Category")
                .and_then(|t| {
                    t.rows.iter().find(|(_, c)| {
                        c.get("value")
                            .and_then(Value::as_str)
                            .is_some_and(|v| v.eq_ignore_ascii_case(&text))
                    })
                })
                .map(|(id, _)| *id)
                .unwrap_or(0);
            row.insert(id_f, Value::from(id));
        }
    }

    let priority = db.get("Priority", id_of(row, "priority_id")).cloned();
    row.insert("priority".into(), priority.unwrap_or(Value::Null));

    match db.get("Users", id_of(row, "user_id")) {
        Some(user) => {
            let email = user.get("emailaddress").cloned().unwrap_or(Value::from(""));
            row.insert("user_email".into(), email);
            row.insert("user".into(), user.clone());
        }
        None => {
            row.remove("user");
        }
    }

    let tickettype = db.get("TicketType", id_of(row, "tickettype_id")).map(|t| {
        let mut o = Map::new();
        for k in [
            "id",
            "name",
            "use",
            "default_sla",
            "default_priority",
            "default_team",
            "workflow_name",
        ] {
            if let Some(v) = t.get(k) {
                o.insert(k.to_string(), v.clone());
            }
        }
        Value::Object(o)
    });
    row.insert("tickettype".into(), tickettype.unwrap_or(Value::Null));
}
