//! Argument checking before any request leaves the server.
//!
//! Every value is checked against its declared type and normalised into what Halo expects
//! (integers as integers even when a model sends `"18"` or `18.0` — Halo rejects `"95.0"` ids —
//! id lists joined with commas for query strings). A wrong value gets a message that names the
//! argument, what was given and what is expected; an unknown argument gets the closest valid
//! names.

use serde_json::{Map, Value};

use super::ToolError;
use crate::catalog::{Param, ParamType};

/// Most items accepted in an array argument.
pub const MAX_ITEMS: usize = 100;

/// Checks one value against a parameter; returns it normalised.
pub fn check(param: &Param, value: &Value) -> Result<Value, ToolError> {
    let name = &param.name;
    let bad = |got: &Value| {
        ToolError::new(format!(
            "`{name}` must be {} (got {})",
            param.ty.expected(),
            show(got)
        ))
    };
    match &param.ty {
        ParamType::String | ParamType::Text => {
            let s = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(bad(value)),
            };
            check_len(name, &s, param.ty.max_len())?;
            Ok(Value::String(s))
        }
        ParamType::Integer => as_int(value).map(Value::from).ok_or_else(|| bad(value)),
        ParamType::Number => as_number(value).ok_or_else(|| bad(value)),
        ParamType::Boolean => as_bool(value).map(Value::Bool).ok_or_else(|| bad(value)),
        ParamType::Date => match value {
            Value::String(s) if is_date(s.trim()) => Ok(Value::String(s.trim().to_owned())),
            _ => Err(bad(value)),
        },
        ParamType::Ids => {
            let items: Vec<Value> = match value {
                Value::Array(items) => items.clone(),
                Value::String(s) => s
                    .split(',')
                    .map(|p| Value::String(p.trim().to_owned()))
                    .collect(),
                other => vec![other.clone()],
            };
            check_count(name, items.len())?;
            let ids = items
                .iter()
                .map(|v| as_int(v).map(Value::from).ok_or_else(|| bad(value)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Array(ids))
        }
        ParamType::Strings => {
            let items: Vec<Value> = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            check_count(name, items.len())?;
            for item in &items {
                match item {
                    Value::String(s) => check_len(name, s, ParamType::String.max_len())?,
                    other => return Err(bad(other)),
                }
            }
            Ok(Value::Array(items))
        }
        ParamType::Enum(values) => match value {
            Value::String(s) if values.iter().any(|v| v == s) => Ok(value.clone()),
            _ => Err(bad(value)),
        },
        ParamType::Object => match value {
            Value::Object(_) => {
                check_nested(name, value)?;
                Ok(value.clone())
            }
            _ => Err(bad(value)),
        },
        ParamType::Objects => match value {
            Value::Array(items) if items.iter().all(Value::is_object) => {
                check_count(name, items.len())?;
                check_nested(name, value)?;
                Ok(value.clone())
            }
            _ => Err(bad(value)),
        },
    }
}

/// The normalised value as a query-string value (`true`, `12`, `1,2,3`).
pub fn to_query(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(to_query).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Strings nested inside objects are capped too, so a 10 MB note cannot hide in `customfields`.
fn check_nested(name: &str, value: &Value) -> Result<(), ToolError> {
    match value {
        Value::String(s) => check_len(name, s, ParamType::Text.max_len()),
        Value::Array(items) => items.iter().try_for_each(|v| check_nested(name, v)),
        Value::Object(map) => map.values().try_for_each(|v| check_nested(name, v)),
        _ => Ok(()),
    }
}

fn check_len(name: &str, s: &str, max: usize) -> Result<(), ToolError> {
    let len = s.chars().count();
    if len > max {
        return Err(ToolError::new(format!(
            "`{name}` is {len} characters long; the limit is {max}"
        )));
    }
    Ok(())
}

fn check_count(name: &str, n: usize) -> Result<(), ToolError> {
    if n > MAX_ITEMS {
        return Err(ToolError::new(format!(
            "`{name}` has {n} items; the limit is {MAX_ITEMS}"
        )));
    }
    Ok(())
}

/// An integer from an integer, an integral float (`18.0`) or a numeric string (`"18"`).
pub fn as_int(v: &Value) -> Option<i64> {
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

fn as_number(v: &Value) -> Option<Value> {
    match v {
        Value::Number(_) => Some(v.clone()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and a time (with optional fraction and
/// zone).
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let date_ok = b.len() >= 10
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    if !date_ok {
        return false;
    }
    let month = s.get(5..7).and_then(|m| m.parse::<u8>().ok()).unwrap_or(0);
    let day = s.get(8..10).and_then(|d| d.parse::<u8>().ok()).unwrap_or(0);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    match b.get(10) {
        None => true,
        Some(b'T') | Some(b' ') => {
            digits(11..13)
                && b.get(13) == Some(&b':')
                && digits(14..16)
                && s.get(16..).is_some_and(|rest| {
                    rest.chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, ':' | '.' | 'Z' | '+' | '-'))
                })
        }
        _ => false,
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(60).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Valid names closest to `name`, for "did you mean" hints.
pub fn suggest<'a>(name: &str, valid: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = valid
        .into_iter()
        .map(|v| (strsim::jaro_winkler(name, v), v))
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, v)| v).collect()
}

/// Rejects arguments not in `valid`, naming the nearest valid ones.
pub fn reject_unknown(
    args: &Map<String, Value>,
    valid: &[&str],
    tool: &str,
) -> Result<(), ToolError> {
    for key in args.keys() {
        if valid.contains(&key.as_str()) {
            continue;
        }
        let near = suggest(key, valid.iter().copied());
        let hint = if valid.is_empty() {
            "it takes no arguments".to_owned()
        } else if near.is_empty() {
            format!("valid arguments: {}", valid.join(", "))
        } else {
            format!("did you mean {}?", quote_list(&near))
        };
        return Err(ToolError::new(format!(
            "`{tool}` has no argument `{key}`; {hint}"
        )));
    }
    Ok(())
}

pub fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(spec: &str) -> Param {
        Param::parse("x", spec).unwrap()
    }

    #[test]
    fn integers_are_normalised() {
        assert_eq!(check(&p("integer"), &json!(18.0)).unwrap(), json!(18));
        assert_eq!(check(&p("integer"), &json!("18")).unwrap(), json!(18));
        let e = check(&p("integer"), &json!(1.5)).unwrap_err().to_string();
        assert_eq!(e, "`x` must be an integer (got 1.5)");
        assert!(check(&p("integer"), &json!("abc")).is_err());
        assert!(check(&p("integer"), &json!(true)).is_err());
    }

    #[test]
    fn ids_accept_lists_single_values_and_comma_strings() {
        assert_eq!(
            check(&p("ids"), &json!([1, "2", 3.0])).unwrap(),
            json!([1, 2, 3])
        );
        assert_eq!(check(&p("ids"), &json!(7)).unwrap(), json!([7]));
        assert_eq!(check(&p("ids"), &json!("4, 5")).unwrap(), json!([4, 5]));
        assert_eq!(to_query(&json!([4, 5])), "4,5");
        assert!(check(&p("ids"), &json!(["a"])).is_err());
        assert!(check(&p("ids"), &Value::Array(vec![json!(1); 101])).is_err());
    }

    #[test]
    fn strings_are_capped() {
        assert!(check(&p("string"), &json!("a".repeat(2000))).is_ok());
        let e = check(&p("string"), &json!("a".repeat(2001)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2001 characters"), "{e}");
        assert!(check(&p("text"), &json!("a".repeat(60_000))).is_ok());
        assert!(check(&p("objects"), &json!([{"v": "a".repeat(70_000)}])).is_err());
    }

    #[test]
    fn dates() {
        for ok in [
            "2024-06-20",
            "2024-06-20T14:45:15.9746271Z",
            "2024-06-20 10:00",
            "2024-06-20T10:00:00+01:00",
        ] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2024-6-20",
            "20-06-2024",
            "2024-13-01",
            "2024-06-20Tnoon",
            "yesterday",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn enums_and_booleans() {
        assert!(check(&p("enum(a|b)"), &json!("a")).is_ok());
        let e = check(&p("enum(a|b)"), &json!("c")).unwrap_err().to_string();
        assert_eq!(e, "`x` must be one of a, b (got \"c\")");
        assert_eq!(check(&p("boolean"), &json!("TRUE")).unwrap(), json!(true));
        assert!(check(&p("boolean"), &json!(1)).is_err());
    }

    #[test]
    fn unknown_arguments_get_suggestions() {
        let args = json!({"clientid": 3}).as_object().unwrap().clone();
        let e = reject_unknown(&args, &["client_id", "site_id"], "halo_x_list")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "`halo_x_list` has no argument `clientid`; did you mean `client_id`?"
        );
        let args = json!({"zzz": 3}).as_object().unwrap().clone();
        let e = reject_unknown(&args, &["client_id"], "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("valid arguments: client_id"));
    }
}
