//! Compact records: what a model needs from a Halo record, not the 150 KB Halo sends.
//!
//! A raw ticket carries hundreds of fields, most of them empty or sentinels. Compacting keeps the
//! chosen fields, collapses nested objects to `{id, name}`, folds custom fields into
//! `{label: value}`, and drops what carries no information. The Halo quirks handled here:
//! - sentinel dates `1900-01-01T00:00:00`, `1899-12-30T00:00:00` and `0001-01-01T00:00:00` mean
//!   "no date";
//! - `-1` means "none" for ids and charge rates (only there: a credit of -1.00 is real money);
//! - ids arrive as doubles (`Users.site_id`, `Site.client_id`: `18.0`) and are shown as integers;
//! - `-0.0` (an unset estimate) is shown as `0`.

use serde_json::{Map, Value};

/// Longest string kept in compact output; longer ones are cut with a marker.
pub const MAX_COMPACT_STRING: usize = 2_000;
/// Deepest nesting kept in compact output.
const MAX_DEPTH: usize = 4;

/// How a record is shaped for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Chosen fields, cleaned (the default).
    Compact,
    /// Halo's record untouched.
    Full,
}

/// Shapes one record. `keep` is the domain's field choice (or the caller's `fields`); an empty
/// `keep` keeps every field. `label` is the field that names the record.
pub fn shape(record: &Value, keep: &[String], label: &str, detail: Detail) -> Value {
    if detail == Detail::Full {
        return record.clone();
    }
    let Value::Object(map) = record else {
        return clean(record, 0).unwrap_or(Value::Null);
    };
    let mut out = Map::new();
    if keep.is_empty() {
        for (k, v) in map {
            if let Some(c) = clean_field(k, v) {
                out.insert(k.clone(), c);
            }
        }
    } else {
        // `id` and the label come first whatever the choice: a row without them is useless.
        let mut names: Vec<&str> = vec!["id", label];
        names.extend(keep.iter().map(String::as_str));
        for name in names {
            if out.contains_key(name) {
                continue;
            }
            if let Some(c) = map.get(name).and_then(|v| clean_field(name, v)) {
                out.insert(name.to_owned(), c);
            }
        }
    }
    Value::Object(out)
}

fn clean_field(key: &str, v: &Value) -> Option<Value> {
    if key == "customfields" {
        return custom_fields(v);
    }
    clean_keyed(key, v, 0)
}

fn is_id_key(key: &str) -> bool {
    key == "id" || key.ends_with("_id") || key.ends_with("id_int")
}

/// Fields where Halo writes `-1` for "none".
fn minus_one_is_none(key: &str) -> bool {
    is_id_key(key) || key.ends_with("chargerate")
}

/// [`clean`] for a named field: ids become integers, `-1` is dropped where it means "none".
fn clean_keyed(key: &str, v: &Value, depth: usize) -> Option<Value> {
    if let Some(i) = integral(v) {
        if minus_one_is_none(key) && i == -1 {
            return None;
        }
        if is_id_key(key) {
            return Some(Value::from(i));
        }
    }
    clean(v, depth)
}

fn integral(v: &Value) -> Option<i64> {
    let f = v.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// A value without empties and sentinels; `None` when nothing informative is left.
pub fn clean(v: &Value, depth: usize) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || is_sentinel_date(t) {
                None
            } else {
                Some(Value::String(truncate(s)))
            }
        }
        Value::Number(n) => {
            if n.as_f64() == Some(0.0) && n.as_i64().is_none() && n.as_u64().is_none() {
                // -0.0 and 0.0 floats print as 0
                Some(Value::from(0))
            } else {
                Some(v.clone())
            }
        }
        Value::Bool(_) => Some(v.clone()),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return None;
            }
            let kept: Vec<Value> = items.iter().filter_map(|i| clean(i, depth + 1)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return None;
            }
            if let Some(small) = collapse(map) {
                return Some(small);
            }
            let mut out = Map::new();
            for (k, val) in map {
                if let Some(c) = clean_keyed(k, val, depth + 1) {
                    out.insert(k.clone(), c);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
    }
}

/// Nested records collapse to `{id, name}` (Halo embeds whole users, priorities, ticket types).
fn collapse(map: &Map<String, Value>) -> Option<Value> {
    let id = map.get("id")?;
    let name = ["name", "text", "value", "summary", "display"]
        .iter()
        .find_map(|k| {
            map.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })?;
    let mut out = Map::new();
    out.insert(
        "id".into(),
        integral(id).map(Value::from).unwrap_or_else(|| id.clone()),
    );
    out.insert("name".into(), Value::String(truncate(name)));
    Some(Value::Object(out))
}

/// Halo custom fields (`[{id, name, label, value, display, ...}]`) become `{label: shown value}`,
/// skipping unset ones.
fn custom_fields(v: &Value) -> Option<Value> {
    let Value::Array(items) = v else {
        return clean(v, 0);
    };
    let mut out = Map::new();
    for item in items {
        let Some(obj) = item.as_object() else {
            continue;
        };
        let key = ["label", "name"].iter().find_map(|k| {
            obj.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        });
        let value = ["display", "value"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(|v| clean(v, 1)));
        if let (Some(key), Some(value)) = (key, value) {
            out.insert(key.to_owned(), value);
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Halo's "no date" values. They carry no zone marker, unlike real timestamps.
pub fn is_sentinel_date(s: &str) -> bool {
    ["1900-01-01", "1899-12-30", "0001-01-01"]
        .iter()
        .any(|p| s.starts_with(p))
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_COMPACT_STRING {
        return s.to_owned();
    }
    let cut: String = s.chars().take(MAX_COMPACT_STRING).collect();
    format!("{cut}… [cut; use detail \"full\" for all of it]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_drops_noise_and_collapses() {
        let raw = json!({
            "id": 9499.0, "summary": "Printer jammed", "details": "",
            "deadlinedate": "1900-01-01T00:00:00", "targetdate": "0001-01-01T00:00:00",
            "dateoccurred": "2024-06-20T14:45:15.9746271Z",
            "contract_id": -1, "chargerate": -1, "total": -1.0, "site_id": 18.0,
            "estimate": -0.0, "onhold": false,
            "priority": {"id": "8c1e-guid", "priorityid": 4, "name": "Low", "colour": "#fff"},
            "tags": [], "user": null,
            "customfields": [
                {"id": 213, "name": "CFEmail", "label": "Email to", "value": "a@b.c", "display": "a@b.c"},
                {"id": 214, "name": "CFEmpty", "label": "Empty", "value": "", "display": ""}
            ]
        });
        let all = shape(&raw, &[], "summary", Detail::Compact);
        assert_eq!(
            all,
            json!({
                "id": 9499, "summary": "Printer jammed",
                "dateoccurred": "2024-06-20T14:45:15.9746271Z",
                "total": -1.0, "site_id": 18, "estimate": 0, "onhold": false,
                "priority": {"id": "8c1e-guid", "name": "Low"},
                "customfields": {"Email to": "a@b.c"}
            })
        );
        let picked = shape(
            &raw,
            &["site_id".into(), "nope".into()],
            "summary",
            Detail::Compact,
        );
        assert_eq!(
            picked,
            json!({"id": 9499, "summary": "Printer jammed", "site_id": 18})
        );
        assert_eq!(shape(&raw, &[], "summary", Detail::Full), raw);
    }

    #[test]
    fn long_strings_are_cut() {
        let raw = json!({"id": 1, "details": "x".repeat(5000)});
        let out = shape(&raw, &[], "name", Detail::Compact);
        let d = out["details"].as_str().unwrap();
        assert!(d.len() < 2100 && d.ends_with("for all of it]"));
    }
}
