//! Tolerant reading of Halo list responses.
//!
//! Halo answers lists in two shapes: a bare JSON array (Agent, Status, TicketType, ...) or an
//! object carrying the rows under a resource-specific key (`tickets`, `clients`, `tree`, ...)
//! next to `record_count`, paging echoes and extras such as `columns`. Which shape a resource
//! uses is not documented for many endpoints, so the rule is: bare array → the rows; otherwise
//! the expected key; otherwise the first array field that is not `columns`.

use serde_json::Value;

/// One page of a list as Halo returned it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListPage {
    pub records: Vec<Value>,
    /// Total matching records, when Halo said (`record_count`).
    pub record_count: Option<u64>,
}

/// Reads a list body. `key` is the envelope key the resource is expected to use.
pub fn parse_list(body: Value, key: Option<&str>) -> Result<ListPage, String> {
    match body {
        Value::Array(records) => Ok(ListPage {
            records,
            record_count: None,
        }),
        Value::Object(mut map) => {
            let record_count = map.get("record_count").and_then(as_count);
            let chosen = key
                .filter(|k| map.get(*k).is_some_and(Value::is_array))
                .map(str::to_owned)
                .or_else(|| {
                    map.iter()
                        .find(|(k, v)| v.is_array() && !k.starts_with("columns"))
                        .map(|(k, _)| k.clone())
                });
            match chosen.and_then(|k| map.remove(&k)) {
                Some(Value::Array(records)) => Ok(ListPage {
                    records,
                    record_count,
                }),
                _ if record_count == Some(0) || map.is_empty() => Ok(ListPage {
                    records: Vec::new(),
                    record_count: Some(0),
                }),
                _ => {
                    let keys: Vec<&str> = map.keys().map(String::as_str).take(12).collect();
                    Err(format!(
                        "expected a list but got an object with keys [{}]",
                        keys.join(", ")
                    ))
                }
            }
        }
        Value::Null => Ok(ListPage::default()),
        other => Err(format!(
            "expected a list but got {}",
            match other {
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            }
        )),
    }
}

/// `record_count` as a number; Halo sends an integer, but a numeric string or a double is read
/// too.
fn as_count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_arrays() {
        let p = parse_list(json!([{"id": 1}, {"id": 2}]), None).unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.record_count, None);
    }

    #[test]
    fn known_key_wins_over_earlier_arrays() {
        let body = json!({"columns": [1], "agents": [{"id": 9}], "record_count": 3, "tickets": [{"id": 1}]});
        let p = parse_list(body, Some("tickets")).unwrap();
        assert_eq!(p.records, vec![json!({"id": 1})]);
        assert_eq!(p.record_count, Some(3));
    }

    #[test]
    fn falls_back_to_first_array_but_not_columns() {
        let body = json!({"page_no": 1, "columns": [{"id": 1}], "clients": [{"id": 4}], "record_count": "1"});
        let p = parse_list(body, Some("customers")).unwrap();
        assert_eq!(p.records, vec![json!({"id": 4})]);
        assert_eq!(p.record_count, Some(1));
    }

    #[test]
    fn empty_and_odd_shapes() {
        assert!(
            parse_list(json!({"record_count": 0}), Some("x"))
                .unwrap()
                .records
                .is_empty()
        );
        assert!(parse_list(json!({}), None).unwrap().records.is_empty());
        assert!(parse_list(Value::Null, None).unwrap().records.is_empty());
        assert!(parse_list(json!({"id": 1, "name": "x"}), None).is_err());
        assert!(parse_list(json!("nope"), None).is_err());
    }
}
