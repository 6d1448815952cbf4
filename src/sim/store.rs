//! The simulator's in-memory database: one table of JSON rows per Halo table.
//!
//! Rows are kept as `serde_json::Value` objects in Halo's own wire shape (field names, doubles,
//! sentinels), so what a list or GET returns is exactly what is stored; there is no second
//! model that could drift from the JSON. Tickets, Projects and Opportunities share the single
//! `Faults` table, as they do in Halo (halo-api.md §2). Actions are keyed by
//! `(ticket_id, id)` because their ids are per-ticket sequence numbers (halo-api.md §7.3).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::prng::Prng;
use super::resources::{Domain, Resource, Storage};

pub(crate) type Row = Map<String, Value>;

/// One table: rows by integer key, plus the next id to hand out on create.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub rows: BTreeMap<i64, Value>,
    pub next_id: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Db {
    /// Plain tables by resource name (`"Client"`, `"Priority"`, …) and `"Faults"`.
    pub tables: HashMap<&'static str, Table>,
    /// Actions by `(ticket_id, id)`.
    pub actions: BTreeMap<(i64, i64), Value>,
    /// Last action number handed out per ticket, so a deleted action's number is never reused.
    pub action_seq: HashMap<i64, i64>,
    /// An empty row per plain table, in the shape of the seeded rows, used as the base of a
    /// created record so created and seeded rows look alike.
    pub templates: HashMap<&'static str, Row>,
    /// The agent the API logs in as (`GET /Agent/me`, `mine=true`).
    pub api_agent_id: i64,
    /// Runtime randomness (guids of created records); seeded so runs are reproducible.
    pub prng: Prng,
}

impl Db {
    pub(crate) fn new(seed: u64) -> Self {
        Db {
            tables: HashMap::new(),
            actions: BTreeMap::new(),
            action_seq: HashMap::new(),
            templates: HashMap::new(),
            api_agent_id: 0,
            prng: Prng::new(seed ^ 0x5EED_0F4A),
        }
    }

    pub(crate) fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// A row of a plain table (or `Faults`) by key.
    pub(crate) fn get(&self, table: &str, id: i64) -> Option<&Value> {
        self.tables.get(table).and_then(|t| t.rows.get(&id))
    }

    pub(crate) fn exists(&self, table: &str, id: i64) -> bool {
        self.get(table, id).is_some()
    }

    /// A string field of a row, `""` when the row or field is missing.
    pub(crate) fn text(&self, table: &str, id: i64, field: &str) -> String {
        self.get(table, id)
            .and_then(|r| r.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// Inserts (or replaces) a row under its key field, keeping `next_id` past it.
    pub(crate) fn put(&mut self, table: &'static str, key: &str, row: Value) {
        let Some(id) = row.get(key).and_then(as_i64) else {
            return;
        };
        let t = self.tables.entry(table).or_default();
        t.next_id = t.next_id.max(id + 1);
        t.rows.insert(id, row);
    }

    /// Inserts an action, keeping the per-ticket sequence past its id.
    pub(crate) fn put_action(&mut self, row: Value) {
        let (Some(t), Some(id)) = (
            row.get("ticket_id").and_then(as_i64),
            row.get("id").and_then(as_i64),
        ) else {
            return;
        };
        let seq = self.action_seq.entry(t).or_insert(0);
        *seq = (*seq).max(id);
        self.actions.insert((t, id), row);
    }

    /// The next action number for a ticket (1, 2, 3, … per ticket).
    pub(crate) fn next_action_id(&mut self, ticket_id: i64) -> i64 {
        let seq = self.action_seq.entry(ticket_id).or_insert(0);
        *seq += 1;
        *seq
    }

    /// The rows a resource's list starts from (before any filter), in key order. Faults rows
    /// are restricted to the resource's domain unless `domain` overrides it; soft-deleted rows
    /// are included (the list filter hides them).
    pub(crate) fn rows(&self, res: &Resource, domain: Option<Domain>) -> Vec<&Value> {
        match res.storage {
            Storage::Plain => self
                .tables
                .get(res.name)
                .map(|t| t.rows.values().collect())
                .unwrap_or_default(),
            Storage::Faults(d) => {
                let d = domain.unwrap_or(d);
                self.tables
                    .get("Faults")
                    .map(|t| t.rows.values().filter(|r| fault_domain(r) == d).collect())
                    .unwrap_or_default()
            }
            Storage::Actions => self.actions.values().collect(),
        }
    }

    /// The integer key of the row whose guid `id` is `guid` (case-insensitive), for resources
    /// Halo identifies by guid.
    pub(crate) fn key_of_guid(&self, res: &Resource, guid: &str) -> Option<i64> {
        let guid = guid.trim();
        self.tables.get(res.name)?.rows.iter().find_map(|(k, r)| {
            r.get("id")
                .and_then(Value::as_str)
                .filter(|g| g.eq_ignore_ascii_case(guid))
                .map(|_| *k)
        })
    }

    /// One record as `GET /X/{id}` sees it. `/Tickets/{id}` serves any Faults row (a project
    /// is a ticket); `/Projects/{id}` and `/Opportunities/{id}` only their own kind.
    pub(crate) fn by_id(&self, res: &Resource, id: i64) -> Option<&Value> {
        match res.storage {
            Storage::Plain => self.get(res.name, id),
            Storage::Faults(Domain::Tickets) => self.get("Faults", id),
            Storage::Faults(d) => self.get("Faults", id).filter(|r| fault_domain(r) == d),
            Storage::Actions => None,
        }
    }
}

/// Which domain a Faults row belongs to.
pub(crate) fn fault_domain(row: &Value) -> Domain {
    if row.get("is_project").and_then(Value::as_bool) == Some(true) {
        Domain::Projects
    } else if row.get("is_opportunity").and_then(Value::as_bool) == Some(true) {
        Domain::Opportunities
    } else {
        Domain::Tickets
    }
}

/// An integer from a JSON number (`18`, `18.0`) or numeric string (`"18"`): Halo's ids arrive in
/// all three shapes (halo-api.md §7.4–7.5). Fractions are not integers.
pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A float from a number or numeric string.
pub(crate) fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Integer field of a row (0 when absent).
pub(crate) fn int_field(row: &Value, field: &str) -> i64 {
    row.get(field).and_then(as_i64).unwrap_or(0)
}

/// Money: the seed keeps amounts as whole pence and writes them as pounds (`2450.0`, `162.5`).
pub(crate) fn pounds(pence: i64) -> Value {
    Value::from(pence as f64 / 100.0)
}
