//! Reports: run a saved report, or an ad-hoc read-only SQL query, through Halo's report
//! endpoint.
//!
//! Halo runs ad-hoc SQL with `POST /Report` and a body of `[{"id": 0, "sql": …,
//! "_loadreportonly": true}]` (nothing is saved); a saved report runs with
//! `GET /Report/{id}?loadreport=true`. Rows come back under `report.rows` (errors under
//! `report.load_error`); some versions put `rows` at the top level, so both are read.
//!
//! SQL reaches Halo's database with the API agent's rights, so the server lets through only a
//! single SELECT: comments are stripped, string literals and quoted identifiers masked, and the
//! rest must start with SELECT (or WITH … SELECT), hold one statement, and contain no keyword
//! that writes, executes or reaches outside (INSERT, UPDATE, DELETE, MERGE, DROP, ALTER, CREATE,
//! TRUNCATE, EXEC, INTO, OPENROWSET, ...). Rows are capped and paged.

use futures::FutureExt;
use serde_json::{Map, Value, json};

use super::{Composite, Ctx, id_arg, int_arg, str_arg};
use crate::{
    halo::{Caching, HaloError},
    tools::{ToolError, args::bounded, compact},
};

/// Rows kept from one report run.
pub const MAX_ROWS: usize = 5_000;
/// Rows per page, default and most.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 100;
/// Longest SQL accepted.
const MAX_SQL: usize = 20_000;

pub const RUN: Composite = Composite {
    domain: "reports",
    name: "halo_reports_run",
    title: "Run a saved report",
    description: "Run a saved Halo report and page through its rows.",
    params: &[
        ("id", "integer!: Report id"),
        ("page_size", "integer: 1-100, default 50"),
        ("page_no", "integer"),
    ],
    reads: &["/Report"],
    run: |ctx, args| run_saved(ctx, args).boxed(),
};

pub const QUERY: Composite = Composite {
    domain: "reports",
    name: "halo_reports_query",
    title: "Read-only SQL query",
    description: "Run one read-only SELECT on Halo's database (e.g. FAULTS = tickets); anything \
                  else is refused. Rows paged.",
    params: &[
        ("sql", "text!: A single SELECT"),
        ("page_size", "integer: 1-100, default 50"),
        ("page_no", "integer"),
    ],
    reads: &["/Report"],
    run: |ctx, args| run_sql(ctx, args).boxed(),
};

/// Keywords that write, execute, or reach outside the database.
const FORBIDDEN: &[&str] = &[
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "DROP",
    "ALTER",
    "CREATE",
    "TRUNCATE",
    "EXEC",
    "EXECUTE",
    "GRANT",
    "REVOKE",
    "DENY",
    "BACKUP",
    "RESTORE",
    "SHUTDOWN",
    "DBCC",
    "INTO",
    "OPENROWSET",
    "OPENQUERY",
    "OPENDATASOURCE",
    "OPENXML",
    "BULK",
    "WAITFOR",
    "DECLARE",
    "SET",
    "USE",
    "KILL",
    "RECONFIGURE",
    "CHECKPOINT",
    "READTEXT",
    "WRITETEXT",
    "UPDATETEXT",
];

/// Why a query is refused.
fn refuse(why: &str) -> String {
    format!("only a single read-only SELECT is allowed: {why}")
}

/// Checks that `sql` is one read-only SELECT; returns it without comments and a trailing `;`.
pub fn read_only_select(sql: &str) -> Result<String, String> {
    if sql.len() > MAX_SQL {
        return Err(refuse(&format!(
            "the query is longer than {MAX_SQL} characters"
        )));
    }
    let (kept, masked) = strip_comments(sql)?;
    // One trailing `;` is tolerated (and dropped: Halo refuses it); any other is a second
    // statement.
    let one_semicolon = |s: &str| {
        let s = s.trim();
        s.strip_suffix(';').unwrap_or(s).trim_end().to_owned()
    };
    let kept = one_semicolon(&kept);
    let masked = one_semicolon(&masked);
    if masked.is_empty() {
        return Err(refuse("the query is empty"));
    }
    if masked.contains(';') {
        return Err(refuse("it holds more than one statement (`;`)"));
    }
    check_words(&masked)?;
    Ok(kept)
}

/// One pass over the query: comments dropped, literals kept as written (for Halo) and masked
/// (for checking), so a keyword inside a string or a bracketed name is never read as one.
fn strip_comments(sql: &str) -> Result<(String, String), String> {
    let mut kept = String::with_capacity(sql.len());
    let mut masked = String::with_capacity(sql.len());
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('-', Some('-')) => {
                while chars.get(i).is_some_and(|c| *c != '\n') {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                i += 2;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (Some('*'), Some('/')) => {
                            i += 2;
                            break;
                        }
                        (Some(_), _) => i += 1,
                        (None, _) => return Err(refuse("a /* comment is not closed")),
                    }
                }
                kept.push(' ');
                masked.push(' ');
            }
            ('\'', _) | ('"', _) | ('[', _) => {
                let close = if c == '[' { ']' } else { c };
                kept.push(c);
                masked.push(c);
                i += 1;
                loop {
                    match chars.get(i) {
                        // A doubled quote is an escaped quote inside the literal.
                        Some(&q) if q == close && chars.get(i + 1) == Some(&close) && c != '[' => {
                            kept.push(q);
                            kept.push(q);
                            masked.push_str("__");
                            i += 2;
                        }
                        Some(&q) if q == close => {
                            kept.push(q);
                            masked.push(q);
                            i += 1;
                            break;
                        }
                        Some(&q) => {
                            kept.push(q);
                            masked.push('_');
                            i += 1;
                        }
                        None => return Err(refuse("a quote or bracket is not closed")),
                    }
                }
            }
            _ => {
                kept.push(c);
                masked.push(c);
                i += 1;
            }
        }
    }
    Ok((kept, masked))
}

/// The words of the masked query: a SELECT, and nothing that writes, runs procedures or
/// reaches temporary tables and server variables.
fn check_words(masked: &str) -> Result<(), String> {
    let words: Vec<String> = masked
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '#'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    match words.first().map(String::as_str) {
        Some("SELECT") | Some("WITH") => {}
        _ => return Err(refuse("it must start with SELECT (or WITH ... SELECT)")),
    }
    if !words.iter().any(|w| w == "SELECT") {
        return Err(refuse("it has no SELECT"));
    }
    if let Some(bad) = words.iter().find(|w| FORBIDDEN.contains(&w.as_str())) {
        return Err(refuse(&format!("`{}` is not allowed", bounded(bad))));
    }
    if let Some(proc) = words
        .iter()
        .find(|w| w.starts_with("XP_") || w.starts_with("SP_"))
    {
        return Err(refuse(&format!(
            "stored procedures such as `{}` are not allowed",
            bounded(proc)
        )));
    }
    if words
        .iter()
        .any(|w| w.starts_with('#') || w.starts_with("@@"))
    {
        return Err(refuse(
            "temporary tables and server variables are not allowed",
        ));
    }
    Ok(())
}

fn paging(args: &Map<String, Value>) -> Result<(usize, usize), ToolError> {
    let size = int_arg(args, "page_size").unwrap_or(DEFAULT_PAGE);
    let no = int_arg(args, "page_no").unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&size) {
        return Err(ToolError::invalid(
            "page_size",
            format!("`page_size` must be from 1 to {MAX_PAGE} (got {size})"),
        ));
    }
    if no < 1 {
        return Err(ToolError::invalid(
            "page_no",
            format!("`page_no` must be 1 or more (got {no})"),
        ));
    }
    Ok((
        usize::try_from(size).unwrap_or(50),
        usize::try_from(no).unwrap_or(1),
    ))
}

/// The rows, columns and error of a report answer, wherever this Halo version put them.
fn rows_of(answer: &Value) -> Result<(Vec<Value>, Option<Value>), String> {
    let report = answer
        .get("report")
        .filter(|r| r.is_object())
        .unwrap_or(answer);
    if let Some(err) = report
        .get("load_error")
        .or_else(|| answer.get("load_error"))
        .and_then(Value::as_str)
        .filter(|e| !e.trim().is_empty())
    {
        return Err(err.to_owned());
    }
    let rows = report
        .get("rows")
        .or_else(|| answer.get("rows"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Halo lists columns as objects ({name, sys_name, data_type, ...}); names are what matter.
    let columns = report
        .get("available_columns")
        .or_else(|| answer.get("available_columns"))
        .and_then(Value::as_array)
        .map(|cols| {
            Value::Array(
                cols.iter()
                    .filter_map(|c| match c {
                        Value::String(_) => Some(c.clone()),
                        Value::Object(o) => o.get("name").or_else(|| o.get("sys_name")).cloned(),
                        _ => None,
                    })
                    .collect(),
            )
        });
    Ok((rows, columns))
}

fn page_answer(
    head: Map<String, Value>,
    mut rows: Vec<Value>,
    columns: Option<Value>,
    (size, no): (usize, usize),
) -> Value {
    let total = rows.len();
    let capped = total > MAX_ROWS;
    rows.truncate(MAX_ROWS);
    let start = (no - 1).saturating_mul(size);
    let page: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(size)
        .map(|r| compact::clean(&r, 0).unwrap_or(Value::Null))
        .collect();
    let mut out = head;
    out.insert("columns".into(), columns.unwrap_or(Value::Null));
    out.insert("rows_total".into(), json!(total));
    out.insert("page_no".into(), json!(no));
    out.insert("page_size".into(), json!(size));
    out.insert(
        "has_more".into(),
        json!(start + page.len() < total.min(MAX_ROWS)),
    );
    if capped {
        out.insert(
            "capped".into(),
            json!(format!(
                "only the first {MAX_ROWS} rows are kept; add TOP or WHERE"
            )),
        );
    }
    out.insert("rows".into(), Value::Array(page));
    Value::Object(out)
}

async fn run_saved(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let id = id_arg(&args, "id")?;
    let paging = paging(&args)?;
    let answer = ctx
        .halo
        .get(
            &format!("/Report/{id}"),
            &[("loadreport".into(), "true".into())],
            Caching::Live,
        )
        .await
        .map_err(|e| match e {
            HaloError::NotFound { .. } => ToolError::NotFound(format!(
                "No report with id {id} in Halo (404). Use halo_reports_list to find it."
            )),
            other => other.into(),
        })?;
    let (rows, columns) = rows_of(&answer)
        .map_err(|e| ToolError::HaloAnswer(format!("Halo could not run report {id}: {e}")))?;
    let mut head = Map::new();
    head.insert(
        "report".into(),
        json!({"id": id, "name": answer.get("name")}),
    );
    Ok(page_answer(head, rows, columns, paging))
}

async fn run_sql(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let sql = read_only_select(str_arg(&args, "sql").unwrap_or(""))
        .map_err(|e| ToolError::invalid("sql", e))?;
    let paging = paging(&args)?;
    let body = json!([{
        "id": 0, "name": "", "sql": sql, "apiquery_id": 0,
        "_testonly": false, "_loadreportonly": true,
    }]);
    let answer = ctx
        .halo
        .post_raw("/Report", &body)
        .await
        .map_err(|e| match e {
            HaloError::WriteUncertain { cause, .. } => ToolError::WriteUncertain(format!(
                "the query did not complete ({cause}); it changes nothing, so running it again \
                 is safe"
            )),
            other => other.into(),
        })?;
    // A one-element array answer is the report itself.
    let answer = match answer {
        Value::Array(mut a) if a.len() == 1 => a.remove(0),
        other => other,
    };
    let (rows, columns) = rows_of(&answer)
        .map_err(|e| ToolError::HaloAnswer(format!("Halo refused the query: {e}")))?;
    let mut head = Map::new();
    head.insert("sql".into(), json!(sql));
    Ok(page_answer(head, rows, columns, paging))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_selects_pass() {
        for ok in [
            "SELECT * FROM FAULTS",
            "select faultid, symptom from faults where status = 1;",
            "SELECT TOP 10 Aareadesc AS [Client Name] FROM AREA -- the clients\n",
            "WITH open AS (SELECT * FROM FAULTS WHERE FDeleted = 0) SELECT COUNT(*) FROM open",
            "SELECT 'drop table; delete' AS joke, \"update\" FROM FAULTS /* insert */",
            "SELECT symptom FROM FAULTS WHERE symptom LIKE '%can''t print%'",
        ] {
            assert!(
                read_only_select(ok).is_ok(),
                "{ok}: {:?}",
                read_only_select(ok)
            );
        }
        assert_eq!(
            read_only_select("SELECT 1 -- note\n;").unwrap(),
            "SELECT 1",
            "comments and the trailing ; go"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for (bad, why) in [
            ("DELETE FROM FAULTS", "must start with SELECT"),
            ("SELECT 1; DROP TABLE FAULTS", "more than one statement"),
            ("SELECT 1;;", "more than one statement"),
            ("SELECT * INTO copy FROM FAULTS", "`INTO`"),
            ("WITH x AS (SELECT 1) DELETE FROM FAULTS", "`DELETE`"),
            ("EXEC sp_who", "must start with SELECT"),
            ("SELECT * FROM OPENROWSET('x','y','z')", "`OPENROWSET`"),
            ("SELECT xp_cmdshell('dir')", "stored procedures"),
            ("SELECT * FROM #temp", "temporary tables"),
            ("SELECT 1 /* unclosed", "not closed"),
            ("SELECT 'unclosed", "not closed"),
            ("   ", "empty"),
            ("UPDATE FAULTS SET status = 9", "must start with SELECT"),
            ("SELECT 1 WAITFOR DELAY '00:00:10'", "`WAITFOR`"),
        ] {
            let e = read_only_select(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(read_only_select(&"x".repeat(MAX_SQL + 1)).is_err());
    }

    #[test]
    fn rows_are_found_wherever_halo_puts_them() {
        let a =
            json!({"report": {"rows": [{"a": 1}]}, "available_columns": [{"id": 1, "name": "a"}]});
        let (rows, cols) = rows_of(&a).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(cols, Some(json!(["a"])));
        let b = json!({"rows": [{"a": 1}, {"a": 2}]});
        assert_eq!(rows_of(&b).unwrap().0.len(), 2);
        let c = json!({"report": {"load_error": "Invalid object name 'X'."}});
        assert_eq!(rows_of(&c).unwrap_err(), "Invalid object name 'X'.");
    }
}
