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
        ToolError::invalid(
            name,
            format!(
                "`{name}` must be {} (got {})",
                param.ty.expected(),
                quote(got)
            ),
        )
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
        return Err(ToolError::invalid(
            name,
            format!("`{name}` is {len} characters long; the limit is {max}"),
        ));
    }
    Ok(())
}

fn check_count(name: &str, n: usize) -> Result<(), ToolError> {
    if n > MAX_ITEMS {
        return Err(ToolError::invalid(
            name,
            format!("`{name}` has {n} items; the limit is {MAX_ITEMS}"),
        ));
    }
    Ok(())
}

/// Largest integer a JSON float is trusted to carry: above 2^53 neighbouring integers share one
/// f64, so `9007199254740993.0` would silently address record …992.
const MAX_EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// An integer from an integer, an integral float (`18.0`) or a numeric string (`"18"`).
///
/// A float counts only when it is exactly an integer below 2^53 in magnitude: beyond that the
/// value the caller wrote and the value parsed may differ, and a near-miss id is another record.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < MAX_EXACT_FLOAT)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A record id Halo can be asked for: a positive integer (Halo numbers records from 1; `0` and
/// `-1` are its "none" and "new" markers, never a record).
pub fn positive_id(name: &str, v: &Value) -> Result<i64, ToolError> {
    match as_int(v) {
        Some(i) if i > 0 => Ok(i),
        _ => Err(ToolError::invalid(
            name,
            format!("`{name}` must be a positive integer (got {})", quote(v)),
        )),
    }
}

/// Longest Halo guid, `8-4-4-4-12` hex digits.
const GUID_LEN: usize = 36;
/// Longest string id of a resource whose id format is not known.
pub const MAX_STRING_ID: usize = 100;

/// Whether `s` is a guid as Halo writes them (`3f2504e0-4f89-11d3-9a0c-0305e82c3301`, any case).
pub fn is_guid(s: &str) -> bool {
    s.len() == GUID_LEN
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A string id of unknown format, checked to stay one harmless path segment: a conservative
/// character set (letters, digits and `-_.~:@+`), at most [`MAX_STRING_ID`] long, and never
/// `.` or `..`, which a URL resolver treats as "here" and "up".
pub fn is_plain_string_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_STRING_ID
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~:@+".contains(&b))
}

/// `s` as exactly one URL path segment: every byte outside RFC 3986's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`) percent-encoded, so `/`, `?`, `#` and `%` cannot end the segment,
/// start a query or fragment, or be decoded into a separator later.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

// Quoting a caller's value lives with the log writer, so errors and logs escape alike.
pub use crate::text::{MAX_QUOTED as MAX_QUOTE, clip as bounded, quote_value as quote};

/// Valid names closest to `name`, for "did you mean" hints.
pub fn suggest<'a>(name: &str, valid: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    // Every name suggested is under 64 bytes; a caller's value far longer is no typo of one,
    // and comparing it costs time in its length (a megabyte took seconds per candidate).
    if name.len() > 128 {
        return Vec::new();
    }
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
        return Err(ToolError::invalid(
            key.as_str(),
            format!("`{tool}` has no argument `{}`; {hint}", bounded(key)),
        ));
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

    #[test]
    fn floats_count_as_integers_only_when_exact() {
        // Parsed as written (serde_json's float_roundtrip): not the neighbour …998.
        let v: Value = serde_json::from_str("8999999999999999.0").unwrap();
        assert_eq!(as_int(&v), Some(8_999_999_999_999_999));
        // Above 2^53 a float cannot say which integer was meant.
        let v: Value = serde_json::from_str("9007199254740993.0").unwrap();
        assert_eq!(as_int(&v), None);
        assert_eq!(as_int(&json!(1e300)), None);
        assert_eq!(as_int(&json!(2.5)), None);
        assert_eq!(as_int(&json!(-3.0)), Some(-3));
        assert!(positive_id("id", &json!(0)).is_err());
        assert!(positive_id("id", &json!(-1)).is_err());
        assert!(positive_id("id", &json!(1.5)).is_err());
        assert_eq!(positive_id("id", &json!("42")).unwrap(), 42);
    }

    #[test]
    fn string_ids_and_segments() {
        assert!(is_guid("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
        assert!(is_guid("3F2504E0-4F89-11D3-9A0C-0305E82C3301"));
        for bad in [
            "",
            "1",
            "../Tickets/1001",
            "3f2504e0-4f89-11d3-9a0c-0305e82c330/",
            "3f2504e0-4f89-11d3-9a0c-0305e82c33011",
            "3f2504e0x4f89-11d3-9a0c-0305e82c3301",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
        assert!(is_plain_string_id("abc-12_x.y"));
        for bad in [
            ".",
            "..",
            "../X/1",
            "a/b",
            "a\\b",
            "1?deleted=true",
            "1#x",
            "%2e%2e",
            "a\0",
            "a b",
        ] {
            assert!(!is_plain_string_id(bad), "{bad}");
        }
        assert!(!is_plain_string_id(&"a".repeat(MAX_STRING_ID + 1)));
        assert_eq!(path_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(path_segment("../T/1?x#y%"), "..%2FT%2F1%3Fx%23y%25");
        assert_eq!(path_segment("\0é"), "%00%C3%A9");
    }

    #[test]
    fn quotes_are_short_and_escaped() {
        let huge = json!("x".repeat(1 << 20));
        let q = quote(&huge);
        assert!(q.len() < 300, "{}", q.len());
        assert!(q.ends_with("(1048576 characters)"), "{q}");
        let q = quote(&json!("a\n WARN forged\u{1b}[31m\0\u{202e}"));
        assert_eq!(q, "\"a\\n WARN forged\\u{001b}[31m\\u{0000}\\u{202e}\"");
        let arr = Value::Array(vec![json!("y".repeat(1000)); 1000]);
        let q = quote(&arr);
        assert!(
            q.chars().count() <= MAX_QUOTE + 1 && q.ends_with('…'),
            "{q}"
        );
        assert_eq!(quote(&json!({"a": "\n"})), "{\"a\":\"\\n\"}");
        assert_eq!(bounded("k\ney"), "k\\ney");
        let e = check(&p("integer"), &json!(format!("1{}", "9".repeat(1 << 20))))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 500, "{}", e.len());
    }
}
