//! The Report endpoints: saved reports and ad-hoc SQL (halo-api.md §3.2, §7.10).
//!
//! Why a module of its own: `/Report` is a plain resource for list, save and delete, but two
//! requests *run* SQL instead of storing anything, and they must go through the read-only
//! engine ([`super::sql`]) under a read lock, never through the write path:
//! * `POST /api/Report` with `[{"sql": "SELECT …", "_loadreportonly": true}]` (or
//!   `_testonly`) runs the SQL without saving (HAPI `Invoke-HaloSQL`, RDM, HCLI). With an `id`
//!   and no `sql` it runs that saved report.
//! * `GET /api/Report/{id}?loadreport=true` runs a saved report. Without `loadreport` the
//!   answer is the definition only.
//!
//! The answer has SW24's `AnalyzerProfile` shape: the report's own fields, `available_columns`
//! (`AnalyzerProfileColumn` objects, `name` being the row key) and `report` (`ReportContent`:
//! `loaded`, `load_error`, `rows`). Clients read `report.rows` and `report.load_error`
//! (halo-api.md §7.10); HCLI also reads `available_columns[].name`.
//!
//! Guesses, each marked where made: a SQL error is still HTTP 200 with the message in
//! `report.load_error` and no rows; a run-only POST answers 200 (nothing is created); the
//! `reportingperiodstartdate` / `reportingperiodenddate` / `reportingperiod` parameters and
//! posted `filters` are ignored (Halo applies them to `reportingperioddatefield` by wrapping
//! the SQL; the simulator's saved reports put their dates in the SQL instead).

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::query::{self, Params};
use super::resources::Resource;
use super::sql;
use super::store::{Db, as_i64};

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true") || s == "1",
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// True for a POST body that asks Halo to run SQL rather than save a report: an array with an
/// element carrying `_loadreportonly` or `_testonly`. Anything else (including a body that is
/// not an array, which the write path refuses in Halo's way) is an ordinary save.
pub(crate) fn is_run_request(body: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items
            .iter()
            .any(|i| flag(i.get("_loadreportonly")) || flag(i.get("_testonly"))),
        _ => false,
    }
}

/// Adds the run's `available_columns` and `report` to a report object.
fn attach_run(db: &Db, report: &mut Map<String, Value>) {
    let id = report.get("id").and_then(as_i64).unwrap_or(0);
    let sql_text = report
        .get("sql")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (columns, content) = match sql::run(db, &sql_text) {
        Ok(set) => {
            let columns: Vec<Value> = set
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    json!({
                        "id": i + 1,
                        "report_id": id,
                        "name": c.name,
                        "sys_name": c.name,
                        "data_type": c.data_type,
                        "sequence": i + 1,
                        "hidden": false,
                    })
                })
                .collect();
            (
                columns,
                json!({ "loaded": true, "load_error": null, "rows": set.rows }),
            )
        }
        // Guess: a failing query is not an HTTP error; Halo reports it in
        // `report.load_error` (HAPI and issue #53 read it there) and returns no rows.
        Err(message) => (
            Vec::new(),
            json!({ "loaded": false, "load_error": message, "rows": [] }),
        ),
    };
    report.insert("available_columns".into(), Value::Array(columns));
    report.insert("report".into(), content);
}

/// Answers a run-only `POST /Report`. Runs under the caller's *read* lock: nothing is saved,
/// and no SQL can change data. Guess: 200 (not 201, nothing was created), with a single
/// object for a single element like every other POST.
pub(crate) fn run_post(db: &Db, body: &[u8]) -> Result<(u16, Value), ApiError> {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::validation(
            "$",
            "The JSON value could not be converted.",
        ));
    };
    let template = db.templates.get("Report").cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(posted) = item else {
            let path = format!("$[{i}]");
            return Err(ApiError::validation(
                path.clone(),
                format!(
                    "The JSON value could not be converted to HaloApi.Models.AnalyzerProfile. Path: {path} | LineNumber: 0 | BytePositionInLine: 0."
                ),
            ));
        };
        let id = posted.get("id").and_then(as_i64).unwrap_or(0);
        let mut report = if id > 0 {
            match db.get("Report", id) {
                Some(Value::Object(saved)) => saved.clone(),
                _ => return Err(ApiError::NotFound(format!("Report {id} not found"))),
            }
        } else {
            template.clone()
        };
        for (k, v) in posted {
            // Control flags are request-only; an empty `sql` with an id keeps the saved SQL.
            let keep_saved = k == "sql" && id > 0 && v.as_str().is_some_and(str::is_empty);
            if !k.starts_with('_') && !keep_saved {
                report.insert(k, v);
            }
        }
        attach_run(db, &mut report);
        out.push(Value::Object(report));
    }
    let body = if out.len() == 1 {
        out.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(out)
    };
    Ok((200, body))
}

/// Answers `GET /Report/{id}`: the definition, plus the run when `loadreport=true`.
/// `reportingperiodstartdate` / `reportingperiodenddate` are accepted and ignored.
pub(crate) fn get(db: &Db, res: &Resource, id: i64, p: &Params) -> Result<Value, ApiError> {
    let mut report = query::get_one(db, res, id, p)?;
    if p.flag("loadreport") == Some(true)
        && let Value::Object(m) = &mut report
    {
        attach_run(db, m);
    }
    Ok(report)
}
