//! A small, read-only SQL engine over a few of Halo's database tables, for the Report API.
//!
//! Why it exists: Halo lets an API client run SQL against its database, ad hoc
//! (`POST /api/Report` with `_loadreportonly`, halo-api.md §7.10) or as a saved report
//! (`GET /api/Report/{id}?loadreport=true`, §3.2). Clients reach for it when the REST lists
//! cannot answer cheaply (counts, sums, groupings over thousands of rows). A test of such a
//! client only means something if the answer is *right*, i.e. agrees with what the REST lists
//! hold, so this engine evaluates queries over live views of the simulator's JSON rows under
//! Halo's own table and column names, instead of replaying canned rows.
//!
//! Read-only by construction: [`run`] takes `&Db`, so no statement can change data whatever a
//! client sends. Anything but a single SELECT (writes, DDL, batches, `;`) is refused with the
//! error SQL Server gives when the text is wrapped as a derived table, which is how Halo is
//! believed to run report SQL (see the quirks below).
//!
//! # Tables and columns (matched case-insensitively)
//!
//! Spellings follow what public Halo report SQL uses where any was found (halo-api.md §7.10
//! names `faultid`, `fdeleted`, `FLastUpdate`, `uname`; public report snippets use `symptom`,
//! `status`, `areaint`, `sitenumber`, `assignedtoint`, `requesttypenew`, `seriousness`,
//! `dateoccured` (sic), `datecleared`, `sectio_`, `fmergedintofaultid`, `aarea`, `aareadesc`,
//! `AIsInactive`, `ssitenum`, `sdesc`, `sarea`, `SIsInactive`, `uid`, `usite`, `uemail`,
//! `uFirstName`, `uLastName`, `unum`, `uname`, `ddevnum`, `dinvno`, `dsite`, `dtype`, `ihid`,
//! `IHaarea`, `IHInvoice_Date`, `IHInvoicenumber`, `IHAmountPaid`, `IHAmountDue`, `IHDue_Date`,
//! `tstatus`, `tstatusdesc`); the rest are marked (guess).
//!
//! | Table | Column | Type | From the REST record |
//! |---|---|---|---|
//! | `FAULTS` (every Faults row: tickets, projects and opportunities, as in Halo) | `Faultid` | int | `id` |
//! | | `Symptom` | nvarchar | `summary` |
//! | | `Status` | int | `status_id` (9 = Closed) |
//! | | `Areaint` | int | `client_id` |
//! | | `Sitenumber` | int | `site_id` |
//! | | `Userid` | int | `user_id` |
//! | | `Username` | nvarchar | `user_name` |
//! | | `Assignedtoint` | int | `agent_id` |
//! | | `Sectio_` | nvarchar | `team` (the team *name*) |
//! | | `Requesttypenew` | int | `tickettype_id` |
//! | | `Seriousness` | int | `priority_id` |
//! | | `Slaid` | int | `sla_id` |
//! | | `FDeleted` | bit (0/1) | `deleted` |
//! | | `FMergedIntoFaultid` | int | always 0 (merging is not simulated) |
//! | | `dateoccured` | datetime | `dateoccurred` |
//! | | `datecleared` | datetime | `dateclosed` (the 1900-01-01 sentinel while open) |
//! | | `FLastUpdate` | datetime | `last_update` |
//! | | `Timetaken` | float | `timetaken` (guess) |
//! | | `Category2`…`Category5` | nvarchar | `category_1`…`category_4` |
//! | `AREA` (clients) | `Aarea` | int | `id` |
//! | | `Aareadesc` | nvarchar | `name` |
//! | | `AIsInactive` | bit | `inactive` |
//! | | `Atreeid` | int | `toplevel_id` (guess) |
//! | `SITE` | `Ssitenum` | int | `id` |
//! | | `Sdesc` | nvarchar | `name` |
//! | | `Sarea` | int | `client_id` |
//! | | `SIsInactive` | bit | `inactive` |
//! | `USERS` (end users) | `Uid` | int | `id` |
//! | | `Uusername` | nvarchar | `name` (guess) |
//! | | `UFirstName`, `ULastName` | nvarchar | `firstname`, `surname` |
//! | | `Uemail` | nvarchar | `emailaddress` |
//! | | `Ulogin` | nvarchar | `login` (guess) |
//! | | `Usite` | int | `site_id` |
//! | | `Uinactive` | bit | `inactive` (guess) |
//! | | `Uextn` | nvarchar | `phonenumber` |
//! | `UNAME` (agents) | `Unum` | int | `id` |
//! | | `Uname` | nvarchar | `name` |
//! | | `Uemail` | nvarchar | `email` (guess) |
//! | | `Usection` | nvarchar | `team` (guess) |
//! | | `UIsDisabled` | bit | `isdisabled` (guess) |
//! | `DEVICE` (assets) | `DDevNum` | int | `id` (in Halo the device number is per site; here it is the asset id) |
//! | | `DInvNo` | nvarchar | `inventory_number` |
//! | | `DSite` | int | `site_id` |
//! | | `DType` | int | `assettype_id` |
//! | | `Dinactive` | bit | `inactive` (guess) |
//! | `INVOICEHEADER` (one-off invoices of `/Invoice`; recurring templates are not included) | `IHid` | int | `id` |
//! | | `IHaarea` | int | `client_id` |
//! | | `IHSitenumber` | int | `site_id` |
//! | | `IHInvoicenumber` | nvarchar | `invoicenumber` |
//! | | `IHInvoice_Date` | datetime | `invoice_date` |
//! | | `IHDue_Date` | datetime | `duedate` |
//! | | `IHTotal` | money | `total` (gross; guess) |
//! | | `IHTax_Total` | money | `tax_total` (guess) |
//! | | `IHAmountPaid`, `IHAmountDue` | money | `amountpaid`, `amountdue` |
//! | `TSTATUS` | `Tstatus` | int | `id` |
//! | | `Tstatusdesc` | nvarchar | `name` |
//!
//! Values come back as JSON numbers (int, float; money to the penny), strings (nvarchar;
//! datetimes exactly as the REST record stores them) and `null`; bits as 0/1 (guess).
//!
//! # Supported SQL
//! `SELECT [TOP n] <* | t.* | item [AS alias], …> [FROM <table> [[AS] alias] [WITH (NOLOCK)]]
//! [WHERE cond] [GROUP BY col, …] [ORDER BY key [ASC|DESC], …]`, where an item is a column, a
//! literal, or `COUNT(*)`, `COUNT(x)`, `SUM(x)`, `AVG(x)`, `MIN(x)`, `MAX(x)`; a condition
//! combines `a op b` (`=`, `<>`, `!=`, `<`, `>`, `<=`, `>=`), `[NOT] LIKE 'pattern'` (`%` and
//! `_`), `IS [NOT] NULL`, `[NOT] IN (…)` and `[NOT] BETWEEN a AND b` with `AND`, `OR`, `NOT` and
//! parentheses; an ORDER BY key is a column, an alias, an aggregate or a 1-based position. SQL
//! Server semantics where they show: case-insensitive text comparison and grouping, NULLs sort
//! first, three-valued logic, `AVG` of an int column is an int, non-aggregated columns must be
//! grouped, unnamed result columns are called `Column1`, `Column2`, … (as ADO.NET names them)
//! and duplicate names get a numeric suffix.
//!
//! Anything else (joins, subqueries, functions, CASE, arithmetic, HAVING, UNION, DISTINCT)
//! gets an SQL-Server-style "Incorrect syntax near …" with a note that the simulator does not
//! support it, so a client author can tell a simulator limit from a real mistake.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::clock;
use super::store::{Db, as_f64, as_i64};

/// Appended to errors for valid SQL the simulator does not implement.
const UNSUPPORTED: &str = " (The simulated Halo's report engine runs single-table SELECTs \
     with WHERE, GROUP BY, ORDER BY, TOP and COUNT/SUM/AVG/MIN/MAX only.)";

/// Words SQL Server reports as "the keyword 'X'" in syntax errors.
const RESERVED: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BACKUP",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASE",
    "CREATE",
    "CROSS",
    "DECLARE",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXEC",
    "EXECUTE",
    "EXISTS",
    "FOR",
    "FROM",
    "FULL",
    "GRANT",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "MERGE",
    "NOT",
    "NULL",
    "ON",
    "OPTION",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PERCENT",
    "RESTORE",
    "REVOKE",
    "RIGHT",
    "SELECT",
    "SET",
    "TABLE",
    "THEN",
    "TOP",
    "TRUNCATE",
    "UNION",
    "UPDATE",
    "USE",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
];

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// How a column's value is read from the stored JSON row.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Float,
    Money,
    Text,
    Bit,
    Date,
    /// A constant 0 (a column Halo has but the simulator does not model).
    Zero,
}

impl Kind {
    fn type_name(self) -> &'static str {
        match self {
            Kind::Int | Kind::Zero => "int",
            Kind::Float => "float",
            Kind::Money => "money",
            Kind::Text => "nvarchar",
            Kind::Bit => "bit",
            Kind::Date => "datetime",
        }
    }
}

struct Column {
    name: &'static str,
    kind: Kind,
    /// The field of the REST record.
    field: &'static str,
}

const fn col(name: &'static str, kind: Kind, field: &'static str) -> Column {
    Column { name, kind, field }
}

struct Table {
    name: &'static str,
    /// The simulator table the rows come from.
    source: &'static str,
    columns: &'static [Column],
}

static TABLES: &[Table] = &[
    Table {
        name: "FAULTS",
        source: "Faults",
        columns: &[
            col("Faultid", Kind::Int, "id"),
            col("Symptom", Kind::Text, "summary"),
            col("Status", Kind::Int, "status_id"),
            col("Areaint", Kind::Int, "client_id"),
            col("Sitenumber", Kind::Int, "site_id"),
            col("Userid", Kind::Int, "user_id"),
            col("Username", Kind::Text, "user_name"),
            col("Assignedtoint", Kind::Int, "agent_id"),
            col("Sectio_", Kind::Text, "team"),
            col("Requesttypenew", Kind::Int, "tickettype_id"),
            col("Seriousness", Kind::Int, "priority_id"),
            col("Slaid", Kind::Int, "sla_id"),
            col("FDeleted", Kind::Bit, "deleted"),
            col("FMergedIntoFaultid", Kind::Zero, ""),
            col("dateoccured", Kind::Date, "dateoccurred"),
            col("datecleared", Kind::Date, "dateclosed"),
            col("FLastUpdate", Kind::Date, "last_update"),
            col("Timetaken", Kind::Float, "timetaken"),
            col("Category2", Kind::Text, "category_1"),
            col("Category3", Kind::Text, "category_2"),
            col("Category4", Kind::Text, "category_3"),
            col("Category5", Kind::Text, "category_4"),
        ],
    },
    Table {
        name: "AREA",
        source: "Client",
        columns: &[
            col("Aarea", Kind::Int, "id"),
            col("Aareadesc", Kind::Text, "name"),
            col("AIsInactive", Kind::Bit, "inactive"),
            col("Atreeid", Kind::Int, "toplevel_id"),
        ],
    },
    Table {
        name: "SITE",
        source: "Site",
        columns: &[
            col("Ssitenum", Kind::Int, "id"),
            col("Sdesc", Kind::Text, "name"),
            col("Sarea", Kind::Int, "client_id"),
            col("SIsInactive", Kind::Bit, "inactive"),
        ],
    },
    Table {
        name: "USERS",
        source: "Users",
        columns: &[
            col("Uid", Kind::Int, "id"),
            col("Uusername", Kind::Text, "name"),
            col("UFirstName", Kind::Text, "firstname"),
            col("ULastName", Kind::Text, "surname"),
            col("Uemail", Kind::Text, "emailaddress"),
            col("Ulogin", Kind::Text, "login"),
            col("Usite", Kind::Int, "site_id"),
            col("Uinactive", Kind::Bit, "inactive"),
            col("Uextn", Kind::Text, "phonenumber"),
        ],
    },
    Table {
        name: "UNAME",
        source: "Agent",
        columns: &[
            col("Unum", Kind::Int, "id"),
            col("Uname", Kind::Text, "name"),
            col("Uemail", Kind::Text, "email"),
            col("Usection", Kind::Text, "team"),
            col("UIsDisabled", Kind::Bit, "isdisabled"),
        ],
    },
    Table {
        name: "DEVICE",
        source: "Asset",
        columns: &[
            col("DDevNum", Kind::Int, "id"),
            col("DInvNo", Kind::Text, "inventory_number"),
            col("DSite", Kind::Int, "site_id"),
            col("DType", Kind::Int, "assettype_id"),
            col("Dinactive", Kind::Bit, "inactive"),
        ],
    },
    Table {
        name: "INVOICEHEADER",
        source: "Invoice",
        columns: &[
            col("IHid", Kind::Int, "id"),
            col("IHaarea", Kind::Int, "client_id"),
            col("IHSitenumber", Kind::Int, "site_id"),
            col("IHInvoicenumber", Kind::Text, "invoicenumber"),
            col("IHInvoice_Date", Kind::Date, "invoice_date"),
            col("IHDue_Date", Kind::Date, "duedate"),
            col("IHTotal", Kind::Money, "total"),
            col("IHTax_Total", Kind::Money, "tax_total"),
            col("IHAmountPaid", Kind::Money, "amountpaid"),
            col("IHAmountDue", Kind::Money, "amountdue"),
        ],
    },
    Table {
        name: "TSTATUS",
        source: "Status",
        columns: &[
            col("Tstatus", Kind::Int, "id"),
            col("Tstatusdesc", Kind::Text, "name"),
        ],
    },
];

fn find_table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Float(f64),
    /// Money in ten-thousandths (SQL Server's `money` scale), so sums stay exact.
    Money(i64),
    Text(String),
    /// Ticks (for comparison) and the text as stored (for output).
    Date(i128, String),
}

impl Val {
    fn read(c: &Column, row: &Value) -> Val {
        let v = row.get(c.field);
        match c.kind {
            Kind::Zero => Val::Int(0),
            Kind::Int => v.and_then(as_i64).map_or(Val::Null, Val::Int),
            Kind::Float => v.and_then(as_f64).map_or(Val::Null, Val::Float),
            Kind::Money => v
                .and_then(as_f64)
                .map_or(Val::Null, |f| Val::Money((f * 10_000.0).round() as i64)),
            Kind::Text => v
                .and_then(Value::as_str)
                .map_or(Val::Null, |s| Val::Text(s.to_string())),
            Kind::Bit => match v {
                Some(Value::Bool(b)) => Val::Int(i64::from(*b)),
                Some(other) => as_i64(other).map_or(Val::Null, Val::Int),
                None => Val::Null,
            },
            Kind::Date => v
                .and_then(Value::as_str)
                .and_then(|s| clock::parse_ts(s).map(|t| Val::Date(t, s.to_string())))
                .unwrap_or(Val::Null),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Val::Money(m) => Value::from(*m as f64 / 10_000.0),
            Val::Text(s) | Val::Date(_, s) => Value::String(s.clone()),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Money(m) => Some(*m as f64 / 10_000.0),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Null | Val::Int(_) => "int",
            Val::Float(_) => "float",
            Val::Money(_) => "money",
            Val::Text(_) => "nvarchar",
            Val::Date(..) => "datetime",
        }
    }

    /// The grouping key: equal keys group together (text case- and trailing-space-insensitive,
    /// as under SQL Server's default collation).
    fn group_key(&self) -> String {
        match self {
            Val::Null => "n".into(),
            Val::Int(i) => format!("i{i}"),
            Val::Float(f) => format!("f{}", f.to_bits()),
            Val::Money(m) => format!("m{m}"),
            Val::Text(s) => format!("t{}", s.trim_end().to_lowercase()),
            Val::Date(t, _) => format!("d{t}"),
        }
    }
}

fn text_cmp(a: &str, b: &str) -> Ordering {
    a.trim_end()
        .to_lowercase()
        .cmp(&b.trim_end().to_lowercase())
}

fn conversion_error(s: &str, to: &str) -> String {
    format!("Conversion failed when converting the varchar value '{s}' to data type {to}.")
}

/// `a` compared with `b`; `None` when either is NULL (unknown). Mixed types convert the way
/// SQL Server converts implicitly (text to the number's or date's type), failing as it does.
fn compare(a: &Val, b: &Val) -> Result<Option<Ordering>, String> {
    let date = |s: &str| {
        clock::parse_ts(s).ok_or_else(|| {
            "Conversion failed when converting date and/or time from character string.".to_string()
        })
    };
    let num = |s: &str, like: &Val| -> Result<f64, String> {
        let t = s.trim();
        match like {
            Val::Int(_) => t
                .parse::<i64>()
                .map(|i| i as f64)
                .map_err(|_| conversion_error(s, "int")),
            _ => t
                .parse::<f64>()
                .map_err(|_| conversion_error(s, like.type_name())),
        }
    };
    let o = match (a, b) {
        (Val::Null, _) | (_, Val::Null) => return Ok(None),
        (Val::Int(x), Val::Int(y)) => x.cmp(y),
        (Val::Money(x), Val::Money(y)) => x.cmp(y),
        (Val::Text(x), Val::Text(y)) => text_cmp(x, y),
        (Val::Date(x, _), Val::Date(y, _)) => x.cmp(y),
        (Val::Date(x, _), Val::Text(s)) => x.cmp(&date(s)?),
        (Val::Text(s), Val::Date(y, _)) => date(s)?.cmp(y),
        (Val::Text(s), n) => num(s, n)?.total_cmp(&n.number().unwrap_or(0.0)),
        (n, Val::Text(s)) => n.number().unwrap_or(0.0).total_cmp(&num(s, n)?),
        (Val::Date(..), n) | (n, Val::Date(..)) => {
            return Err(format!(
                "Operand type clash: datetime is incompatible with {}",
                n.type_name()
            ));
        }
        (x, y) => x
            .number()
            .unwrap_or(0.0)
            .total_cmp(&y.number().unwrap_or(0.0)),
    };
    Ok(Some(o))
}

/// Ordering for ORDER BY and MIN/MAX: NULLs first, incomparable values equal.
fn sort_cmp(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Null, Val::Null) => Ordering::Equal,
        (Val::Null, _) => Ordering::Less,
        (_, Val::Null) => Ordering::Greater,
        _ => compare(a, b).ok().flatten().unwrap_or(Ordering::Equal),
    }
}

/// SQL LIKE with `%` and `_`, case-insensitive. (`[…]` character classes are not supported;
/// a `[` matches itself.)
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '_' || Some(c) == t.get(ti) => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '%'))
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or keyword, as written.
    Word(String),
    /// `[name]` or `"name"`.
    Quoted(String),
    /// `'text'` (also `N'text'`).
    Str(String),
    Num(String),
    Sym(&'static str),
    /// `@name`.
    Var(String),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Word(s) | Tok::Quoted(s) | Tok::Str(s) | Tok::Num(s) => s.clone(),
            Tok::Sym(s) => (*s).to_string(),
            Tok::Var(s) => format!("@{s}"),
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

/// SQL Server's syntax error for an unexpected token.
fn near(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) if is_reserved(w) => format!("Incorrect syntax near the keyword '{w}'."),
        other => format!("Incorrect syntax near '{}'.", other.text()),
    }
}

fn unsupported(tok: &Tok) -> String {
    format!("{}{UNSUPPORTED}", near(tok))
}

const SYMBOLS: &[&str] = &[
    "<>", "!=", "<=", ">=", "=", "<", ">", ",", "(", ")", "*", ".", ";", "+", "-", "/", "%",
];

fn lex(sql: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut toks: Vec<Tok> = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == Some('*') {
            i += 2;
            while i < chars.len() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                i += 1;
            }
            if i >= chars.len() {
                return Err("Missing end comment mark '*/'.".to_string());
            }
            i += 2;
        } else if c == '-' && at(i + 1) == Some('-') {
            // Halo quirk (a public Halo client's notes, single source): report SQL must not
            // contain `--` comments. Halo runs the text inside a wrapper, so a line comment
            // swallows the wrapper's closing part and the statement breaks.
            let last = toks.last().cloned().unwrap_or(Tok::Sym("--"));
            return Err(near(&last));
        } else if c == '\'' || ((c == 'N' || c == 'n') && at(i + 1) == Some('\'')) {
            i += if c == '\'' { 1 } else { 2 };
            let mut s = String::new();
            loop {
                match at(i) {
                    None => {
                        return Err(format!(
                            "Unclosed quotation mark after the character string '{s}'."
                        ));
                    }
                    Some('\'') if at(i + 1) == Some('\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            toks.push(Tok::Str(s));
        } else if c == '[' || c == '"' {
            let close = if c == '[' { ']' } else { '"' };
            let start = i + 1;
            let mut j = start;
            while at(j).is_some_and(|ch| ch != close) {
                j += 1;
            }
            if at(j).is_none() {
                let name: String = chars.get(start..).unwrap_or_default().iter().collect();
                return Err(format!(
                    "Unclosed quotation mark after the character string '{name}'."
                ));
            }
            toks.push(Tok::Quoted(
                chars.get(start..j).unwrap_or_default().iter().collect(),
            ));
            i = j + 1;
        } else if c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while at(i).is_some_and(|d| d.is_ascii_digit() || d == '.') {
                i += 1;
            }
            toks.push(Tok::Num(
                chars.get(start..i).unwrap_or_default().iter().collect(),
            ));
        } else if c.is_alphabetic() || c == '_' || c == '@' || c == '#' {
            let start = i;
            i += 1;
            while at(i).is_some_and(|d| d.is_alphanumeric() || matches!(d, '_' | '@' | '#' | '$')) {
                i += 1;
            }
            let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
            match word.strip_prefix('@') {
                Some(var) => toks.push(Tok::Var(var.to_string())),
                None => toks.push(Tok::Word(word)),
            }
        } else {
            let two: String = chars.get(i..i + 2).unwrap_or_default().iter().collect();
            if let Some(sym) = SYMBOLS.iter().find(|s| s.len() == 2 && **s == two) {
                toks.push(Tok::Sym(sym));
                i += 2;
            } else if let Some(sym) = SYMBOLS.iter().find(|s| s.len() == 1 && s.starts_with(c)) {
                toks.push(Tok::Sym(sym));
                i += 1;
            } else {
                return Err(format!("Incorrect syntax near '{c}'."));
            }
        }
    }
    Ok(toks)
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct ColRef {
    qualifier: Option<String>,
    name: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl Agg {
    fn parse(name: &str) -> Option<Agg> {
        Some(match name.to_ascii_uppercase().as_str() {
            "COUNT" => Agg::Count,
            "SUM" => Agg::Sum,
            "AVG" => Agg::Avg,
            "MIN" => Agg::Min,
            "MAX" => Agg::Max,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::Sum => "sum",
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Col(ColRef),
    Lit(Val),
    /// `None`: `COUNT(*)`.
    Agg(Agg, Option<Box<Expr>>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Cmp(Expr, Op, Expr),
    Like(Expr, String),
    IsNull(Expr),
    In(Expr, Vec<Expr>),
    Between(Expr, Expr, Expr),
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// `*` or `q.*`.
    Star(Option<String>),
    Expr(Expr, Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Query {
    top: Option<usize>,
    items: Vec<Item>,
    /// Table name as written and its alias.
    from: Option<(String, Option<String>)>,
    filter: Option<Cond>,
    group_by: Vec<ColRef>,
    order_by: Vec<(Expr, bool)>,
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.i + n)
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn at_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_kw(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.at_kw(kw);
        if yes {
            self.i += 1;
        }
        yes
    }

    fn at_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        let yes = self.at_sym(s);
        if yes {
            self.i += 1;
        }
        yes
    }

    /// The syntax error at the current token (or after the last one at the end).
    fn error(&self) -> String {
        match self.peek().or_else(|| self.toks.last()) {
            Some(t) => near(t),
            None => "Incorrect syntax near ')'.".to_string(),
        }
    }

    fn unsupported_here(&self) -> String {
        match self.peek() {
            Some(t) => unsupported(t),
            None => self.error(),
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), String> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// A name: an unreserved word or a quoted identifier.
    fn name(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Word(w)) if !is_reserved(w) => {
                let w = w.clone();
                self.i += 1;
                Ok(w)
            }
            Some(Tok::Quoted(q)) => {
                let q = q.clone();
                self.i += 1;
                Ok(q)
            }
            _ => Err(self.error()),
        }
    }

    fn query(&mut self) -> Result<Query, String> {
        match self.peek() {
            Some(t) if t.is_kw("SELECT") => {}
            Some(t) if t.is_kw("WITH") => return Err(unsupported(t)),
            Some(t) => return Err(near(t)),
            None => return Err("The report has no SQL.".to_string()),
        }
        self.i += 1;
        if self.at_kw("DISTINCT") || self.at_kw("ALL") {
            return Err(self.unsupported_here());
        }
        let top = self.top()?;
        let mut items = vec![self.item()?];
        while self.eat_sym(",") {
            items.push(self.item()?);
        }
        if self.at_kw("INTO") {
            return Err(self.error());
        }
        let from = self.from()?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.cond()?)
        } else {
            None
        };
        let group_by = self.group_by()?;
        if self.at_kw("HAVING") {
            return Err(self.unsupported_here());
        }
        let order_by = self.order_by()?;
        self.end()?;
        Ok(Query {
            top,
            items,
            from,
            filter,
            group_by,
            order_by,
        })
    }

    /// `TOP n` or `TOP (n)`, if there.
    fn top(&mut self) -> Result<Option<usize>, String> {
        if !self.eat_kw("TOP") {
            return Ok(None);
        }
        let paren = self.eat_sym("(");
        let n = match self.bump() {
            Some(Tok::Num(n)) => n.parse::<usize>().map_err(|_| near(&Tok::Num(n)))?,
            Some(t) => return Err(near(&t)),
            None => return Err(self.error()),
        };
        if paren {
            self.expect_sym(")")?;
        }
        if self.at_kw("PERCENT") || self.at_kw("WITH") {
            return Err(self.unsupported_here());
        }
        Ok(Some(n))
    }

    /// `FROM table [AS alias] [WITH (NOLOCK)]`, if there: one table, no joins.
    fn from(&mut self) -> Result<Option<(String, Option<String>)>, String> {
        if !self.eat_kw("FROM") {
            return Ok(None);
        }
        if self.at_sym("(") {
            return Err(self.unsupported_here());
        }
        let mut table = self.name()?;
        // `dbo.FAULTS`: a schema-qualified name.
        if self.eat_sym(".") {
            let t = self.name()?;
            table = format!("{table}.{t}");
        }
        let alias = if self.eat_kw("AS") {
            Some(self.name()?)
        } else {
            match self.peek() {
                Some(Tok::Word(w)) if !is_reserved(w) => Some(self.name()?),
                Some(Tok::Quoted(_)) => Some(self.name()?),
                _ => None,
            }
        };
        // `WITH (NOLOCK)`, common in Halo report SQL, changes nothing here.
        if self.at_kw("WITH") && matches!(self.peek_at(1), Some(Tok::Sym("("))) {
            self.i += 2;
            if !self.eat_kw("NOLOCK") {
                return Err(self.unsupported_here());
            }
            self.expect_sym(")")?;
        }
        for kw in ["JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "OUTER"] {
            if self.at_kw(kw) {
                return Err(self.unsupported_here());
            }
        }
        if self.at_sym(",") {
            return Err(self.unsupported_here());
        }
        Ok(Some((table, alias)))
    }

    /// `GROUP BY col, …`, if there: plain columns only.
    fn group_by(&mut self) -> Result<Vec<ColRef>, String> {
        let mut group_by = Vec::new();
        if self.eat_kw("GROUP") {
            self.expect_kw("BY")?;
            loop {
                match self.expr()? {
                    Expr::Col(c) => group_by.push(c),
                    _ => return Err(self.unsupported_at_prev()),
                }
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        Ok(group_by)
    }

    /// `ORDER BY expr [ASC|DESC], …`, if there.
    fn order_by(&mut self) -> Result<Vec<(Expr, bool)>, String> {
        let mut order_by = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let e = self.expr()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                order_by.push((e, desc));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        Ok(order_by)
    }

    /// Nothing may follow the query.
    fn end(&self) -> Result<(), String> {
        match self.peek() {
            None => {}
            // Halo quirk: report SQL is a single statement; a `;` (a second statement, or
            // even a trailing one) breaks the wrapper Halo runs it in.
            Some(Tok::Sym(";")) => return Err(self.error()),
            Some(t)
                if ["UNION", "EXCEPT", "INTERSECT", "OFFSET", "FOR", "OPTION"]
                    .iter()
                    .any(|k| t.is_kw(k)) =>
            {
                return Err(unsupported(t));
            }
            Some(_) => return Err(self.error()),
        }
        Ok(())
    }

    fn unsupported_at_prev(&self) -> String {
        match self.toks.get(self.i.saturating_sub(1)) {
            Some(t) => unsupported(t),
            None => self.error(),
        }
    }

    fn item(&mut self) -> Result<Item, String> {
        if self.eat_sym("*") {
            return Ok(Item::Star(None));
        }
        if let (Some(Tok::Word(q) | Tok::Quoted(q)), Some(Tok::Sym(".")), Some(Tok::Sym("*"))) =
            (self.peek(), self.peek_at(1), self.peek_at(2))
        {
            let q = q.clone();
            self.i += 3;
            return Ok(Item::Star(Some(q)));
        }
        // `alias = expr`, SQL Server's other way to name a column.
        if let (Some(Tok::Word(_) | Tok::Quoted(_)), Some(Tok::Sym("="))) =
            (self.peek(), self.peek_at(1))
        {
            let alias = self.name()?;
            self.i += 1;
            let e = self.expr()?;
            return Ok(Item::Expr(e, Some(alias)));
        }
        let e = self.expr()?;
        let alias = if self.eat_kw("AS") {
            match self.bump() {
                Some(Tok::Word(w)) if !is_reserved(&w) => Some(w),
                Some(Tok::Quoted(s) | Tok::Str(s)) => Some(s),
                Some(t) => return Err(near(&t)),
                None => return Err(self.error()),
            }
        } else {
            match self.peek() {
                Some(Tok::Word(w)) if !is_reserved(w) => Some(self.name()?),
                Some(Tok::Quoted(s) | Tok::Str(s)) => {
                    let s = s.clone();
                    self.i += 1;
                    Some(s)
                }
                _ => None,
            }
        };
        Ok(Item::Expr(e, alias))
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let e = self.operand()?;
        // Arithmetic and string concatenation are beyond this engine.
        if ["+", "-", "*", "/", "%"].iter().any(|s| self.at_sym(s)) {
            return Err(self.unsupported_here());
        }
        Ok(e)
    }

    fn operand(&mut self) -> Result<Expr, String> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.error());
        };
        match &tok {
            Tok::Sym("-") if matches!(self.peek_at(1), Some(Tok::Num(_))) => {
                self.i += 1;
                match self.operand()? {
                    Expr::Lit(Val::Int(i)) => Ok(Expr::Lit(Val::Int(-i))),
                    Expr::Lit(Val::Float(f)) => Ok(Expr::Lit(Val::Float(-f))),
                    _ => Err(self.error()),
                }
            }
            Tok::Num(n) => {
                self.i += 1;
                if let Ok(i) = n.parse::<i64>() {
                    Ok(Expr::Lit(Val::Int(i)))
                } else {
                    n.parse::<f64>()
                        .map(|f| Expr::Lit(Val::Float(f)))
                        .map_err(|_| near(&Tok::Num(n.clone())))
                }
            }
            Tok::Str(s) => {
                self.i += 1;
                Ok(Expr::Lit(Val::Text(s.clone())))
            }
            Tok::Var(v) => Err(format!("Must declare the scalar variable \"@{v}\".")),
            Tok::Word(w) if w.eq_ignore_ascii_case("NULL") => {
                self.i += 1;
                Ok(Expr::Lit(Val::Null))
            }
            Tok::Word(w) if matches!(self.peek_at(1), Some(Tok::Sym("("))) => {
                let Some(agg) = Agg::parse(w) else {
                    return Err(unsupported(&tok));
                };
                self.i += 2;
                if self.at_kw("DISTINCT") {
                    return Err(self.unsupported_here());
                }
                let arg = if agg == Agg::Count && self.eat_sym("*") {
                    None
                } else {
                    let e = self.expr()?;
                    if matches!(e, Expr::Agg(..)) {
                        return Err("Cannot perform an aggregate function on an expression \
                             containing an aggregate or a subquery."
                            .to_string());
                    }
                    Some(Box::new(e))
                };
                self.expect_sym(")")?;
                Ok(Expr::Agg(agg, arg))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("CASE") => Err(unsupported(&tok)),
            Tok::Word(w) if is_reserved(w) => Err(near(&tok)),
            Tok::Word(_) | Tok::Quoted(_) => {
                let first = self.name()?;
                if self.eat_sym(".") {
                    let name = self.name()?;
                    Ok(Expr::Col(ColRef {
                        qualifier: Some(first),
                        name,
                    }))
                } else {
                    Ok(Expr::Col(ColRef {
                        qualifier: None,
                        name: first,
                    }))
                }
            }
            Tok::Sym("(") => Err(unsupported(&tok)),
            other => Err(near(other)),
        }
    }

    fn cond(&mut self) -> Result<Cond, String> {
        let mut left = self.cond_and()?;
        while self.eat_kw("OR") {
            let right = self.cond_and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cond_and(&mut self) -> Result<Cond, String> {
        let mut left = self.cond_not()?;
        while self.eat_kw("AND") {
            let right = self.cond_not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cond_not(&mut self) -> Result<Cond, String> {
        if self.eat_kw("NOT") {
            return Ok(Cond::Not(Box::new(self.cond_not()?)));
        }
        if self.at_kw("EXISTS") {
            return Err(self.unsupported_here());
        }
        if self.at_sym("(") {
            if matches!(self.peek_at(1), Some(t) if t.is_kw("SELECT")) {
                return Err(self.unsupported_here());
            }
            self.i += 1;
            let c = self.cond()?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Cond, String> {
        let left = self.expr()?;
        let op = match self.peek() {
            Some(Tok::Sym("=")) => Some(Op::Eq),
            Some(Tok::Sym("<>" | "!=")) => Some(Op::Ne),
            Some(Tok::Sym("<")) => Some(Op::Lt),
            Some(Tok::Sym(">")) => Some(Op::Gt),
            Some(Tok::Sym("<=")) => Some(Op::Le),
            Some(Tok::Sym(">=")) => Some(Op::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.i += 1;
            if self.at_sym("(") || self.at_kw("ANY") || self.at_kw("ALL") {
                return Err(self.unsupported_here());
            }
            let right = self.expr()?;
            return Ok(Cond::Cmp(left, op, right));
        }
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            if !self.eat_kw("NULL") {
                return Err(self.error());
            }
            let c = Cond::IsNull(left);
            return Ok(if negated { Cond::Not(Box::new(c)) } else { c });
        }
        let negated = self.eat_kw("NOT");
        let c = if self.eat_kw("LIKE") {
            match self.bump() {
                Some(Tok::Str(p)) => Cond::Like(left, p),
                Some(t) => return Err(unsupported(&t)),
                None => return Err(self.error()),
            }
        } else if self.eat_kw("IN") {
            self.expect_sym("(")?;
            if self.at_kw("SELECT") {
                return Err(self.unsupported_here());
            }
            let mut list = vec![self.expr()?];
            while self.eat_sym(",") {
                list.push(self.expr()?);
            }
            self.expect_sym(")")?;
            Cond::In(left, list)
        } else if self.eat_kw("BETWEEN") {
            let lo = self.expr()?;
            self.expect_kw("AND")?;
            let hi = self.expr()?;
            Cond::Between(left, lo, hi)
        } else {
            let at = self
                .peek()
                .or_else(|| self.toks.last())
                .map(Tok::text)
                .unwrap_or_default();
            return Err(format!(
                "An expression of non-boolean type specified in a context where a condition is \
                 expected, near '{at}'."
            ));
        };
        Ok(if negated { Cond::Not(Box::new(c)) } else { c })
    }
}

// ---------------------------------------------------------------------------------------------
// Binding and evaluation
// ---------------------------------------------------------------------------------------------

/// An expression with its columns resolved to indexes of the table's columns.
#[derive(Debug, Clone)]
enum Bound {
    Col(usize),
    Lit(Val),
    Agg(Agg, Option<Box<Bound>>),
}

#[derive(Debug, Clone)]
enum BCond {
    And(Box<BCond>, Box<BCond>),
    Or(Box<BCond>, Box<BCond>),
    Not(Box<BCond>),
    Cmp(Bound, Op, Bound),
    Like(Bound, String),
    IsNull(Bound),
    In(Bound, Vec<Bound>),
    Between(Bound, Bound, Bound),
}

/// What a query reads from: a table (and the name its columns are qualified by), or nothing
/// (`SELECT 1`).
struct Scope {
    table: Option<&'static Table>,
    /// Names that may qualify a column: the table name as written and its alias.
    exposed: Vec<String>,
}

impl Scope {
    fn columns(&self) -> &'static [Column] {
        self.table.map_or(&[], |t| t.columns)
    }

    fn resolve(&self, c: &ColRef) -> Result<usize, String> {
        if let Some(q) = &c.qualifier
            && !self.exposed.iter().any(|e| e.eq_ignore_ascii_case(q))
        {
            return Err(format!(
                "The multi-part identifier \"{q}.{}\" could not be bound.",
                c.name
            ));
        }
        self.columns()
            .iter()
            .position(|col| col.name.eq_ignore_ascii_case(&c.name))
            .ok_or_else(|| format!("Invalid column name '{}'.", c.name))
    }

    fn label(&self) -> String {
        self.exposed.last().cloned().unwrap_or_default()
    }

    fn bind(&self, e: &Expr) -> Result<Bound, String> {
        Ok(match e {
            Expr::Col(c) => Bound::Col(self.resolve(c)?),
            Expr::Lit(v) => Bound::Lit(v.clone()),
            Expr::Agg(a, arg) => Bound::Agg(
                *a,
                match arg {
                    Some(x) => Some(Box::new(self.bind(x)?)),
                    None => None,
                },
            ),
        })
    }

    fn bind_cond(&self, c: &Cond) -> Result<BCond, String> {
        let scalar = |e: &Expr| -> Result<Bound, String> {
            if matches!(e, Expr::Agg(..)) {
                return Err(
                    "An aggregate may not appear in the WHERE clause unless it is in a \
                     subquery contained in a HAVING clause or a select list, and the column \
                     being aggregated is an outer reference."
                        .to_string(),
                );
            }
            self.bind(e)
        };
        Ok(match c {
            Cond::And(a, b) => {
                BCond::And(Box::new(self.bind_cond(a)?), Box::new(self.bind_cond(b)?))
            }
            Cond::Or(a, b) => BCond::Or(Box::new(self.bind_cond(a)?), Box::new(self.bind_cond(b)?)),
            Cond::Not(a) => BCond::Not(Box::new(self.bind_cond(a)?)),
            Cond::Cmp(a, op, b) => BCond::Cmp(scalar(a)?, *op, scalar(b)?),
            Cond::Like(a, p) => BCond::Like(scalar(a)?, p.clone()),
            Cond::IsNull(a) => BCond::IsNull(scalar(a)?),
            Cond::In(a, list) => BCond::In(
                scalar(a)?,
                list.iter().map(scalar).collect::<Result<_, _>>()?,
            ),
            Cond::Between(a, lo, hi) => BCond::Between(scalar(a)?, scalar(lo)?, scalar(hi)?),
        })
    }
}

fn has_agg(e: &Bound) -> bool {
    matches!(e, Bound::Agg(..))
}

/// Evaluates an expression on one row (no aggregates).
fn eval_row(e: &Bound, cols: &[Column], row: &Value) -> Val {
    match e {
        Bound::Col(i) => cols.get(*i).map_or(Val::Null, |c| Val::read(c, row)),
        Bound::Lit(v) => v.clone(),
        Bound::Agg(..) => Val::Null,
    }
}

/// Evaluates an expression over a group of rows: columns from its first row (they are
/// grouped, so equal throughout), aggregates over all of them.
fn eval_group(e: &Bound, cols: &[Column], rows: &[&Value]) -> Result<Val, String> {
    match e {
        Bound::Agg(a, arg) => aggregate(*a, arg.as_deref(), cols, rows),
        other => Ok(rows.first().map_or(Val::Null, |r| eval_row(other, cols, r))),
    }
}

fn aggregate(a: Agg, arg: Option<&Bound>, cols: &[Column], rows: &[&Value]) -> Result<Val, String> {
    let Some(arg) = arg else {
        return Ok(Val::Int(rows.len() as i64));
    };
    let vals: Vec<Val> = rows
        .iter()
        .map(|r| eval_row(arg, cols, r))
        .filter(|v| *v != Val::Null)
        .collect();
    if a == Agg::Count {
        return Ok(Val::Int(vals.len() as i64));
    }
    let Some(first) = vals.first() else {
        return Ok(Val::Null);
    };
    match a {
        Agg::Min | Agg::Max => {
            let pick = vals.iter().skip(1).fold(first, |best, v| {
                let o = sort_cmp(v, best);
                if (a == Agg::Min && o == Ordering::Less)
                    || (a == Agg::Max && o == Ordering::Greater)
                {
                    v
                } else {
                    best
                }
            });
            Ok(pick.clone())
        }
        Agg::Sum | Agg::Avg => {
            let n = vals.len() as i64;
            match first {
                Val::Int(_) => {
                    let sum: i64 = vals
                        .iter()
                        .filter_map(|v| v.number())
                        .map(|f| f as i64)
                        .sum();
                    // SQL Server: AVG of an int column is an int (truncated).
                    Ok(Val::Int(if a == Agg::Sum { sum } else { sum / n }))
                }
                Val::Money(_) => {
                    let sum: i64 = vals
                        .iter()
                        .map(|v| if let Val::Money(m) = v { *m } else { 0 })
                        .sum();
                    Ok(Val::Money(if a == Agg::Sum {
                        sum
                    } else {
                        (sum as f64 / n as f64).round() as i64
                    }))
                }
                Val::Float(_) => {
                    let sum: f64 = vals.iter().filter_map(Val::number).sum();
                    Ok(Val::Float(if a == Agg::Sum { sum } else { sum / n as f64 }))
                }
                other => Err(format!(
                    "Operand data type {} is invalid for {} operator.",
                    other.type_name(),
                    a.word()
                )),
            }
        }
        Agg::Count => Ok(Val::Int(vals.len() as i64)),
    }
}

/// Three-valued logic: `None` is UNKNOWN.
fn test(c: &BCond, cols: &[Column], row: &Value) -> Result<Option<bool>, String> {
    let v = |e: &Bound| eval_row(e, cols, row);
    Ok(match c {
        BCond::And(a, b) => match (test(a, cols, row)?, test(b, cols, row)?) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        BCond::Or(a, b) => match (test(a, cols, row)?, test(b, cols, row)?) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        BCond::Not(a) => test(a, cols, row)?.map(|b| !b),
        BCond::Cmp(a, op, b) => compare(&v(a), &v(b))?.map(|o| match op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Gt => o == Ordering::Greater,
            Op::Le => o != Ordering::Greater,
            Op::Ge => o != Ordering::Less,
        }),
        BCond::Like(a, p) => match v(a) {
            Val::Null => None,
            Val::Text(s) | Val::Date(_, s) => Some(like(&s, p)),
            other => Some(like(&other.to_json().to_string(), p)),
        },
        BCond::IsNull(a) => Some(v(a) == Val::Null),
        BCond::In(a, list) => {
            let x = v(a);
            let mut unknown = false;
            let mut hit = false;
            for e in list {
                match compare(&x, &v(e))? {
                    Some(Ordering::Equal) => hit = true,
                    None => unknown = true,
                    Some(_) => {}
                }
            }
            if hit {
                Some(true)
            } else if unknown {
                None
            } else {
                Some(false)
            }
        }
        BCond::Between(a, lo, hi) => {
            let x = v(a);
            match (compare(&x, &v(lo))?, compare(&x, &v(hi))?) {
                (Some(Ordering::Less), _) | (_, Some(Ordering::Greater)) => Some(false),
                (Some(_), Some(_)) => Some(true),
                _ => None,
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Running a query
// ---------------------------------------------------------------------------------------------

/// A result column: its name in the rows and its SQL type name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResultColumn {
    pub name: String,
    pub data_type: &'static str,
}

/// The answer to a query: the columns in order and one JSON object per row, keyed by column
/// name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResultSet {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Value>,
}

/// A select-list entry once resolved: what to compute and what to call it.
struct Output {
    expr: Bound,
    /// `None`: unnamed (literal or aggregate without an alias).
    name: Option<String>,
    data_type: &'static str,
}

enum Key {
    /// A select-list position (alias or ordinal).
    Out(usize),
    Expr(Bound),
}

fn data_type(e: &Bound, cols: &[Column]) -> &'static str {
    match e {
        Bound::Col(i) => cols.get(*i).map_or("int", |c| c.kind.type_name()),
        Bound::Lit(v) => v.type_name(),
        Bound::Agg(Agg::Count, _) => "int",
        Bound::Agg(_, Some(arg)) => data_type(arg, cols),
        Bound::Agg(_, None) => "int",
    }
}

/// Runs one SELECT against the simulator's data. `Err` is the SQL-Server-style message Halo
/// would put in `report.load_error`.
pub(crate) fn run(db: &Db, sql: &str) -> Result<ResultSet, String> {
    let toks = lex(sql)?;
    let mut parser = Parser { toks, i: 0 };
    let q = parser.query()?;

    let scope = scope_of(q.from.as_ref())?;
    let cols = scope.columns();
    let outputs = select_list(&scope, &q.items)?;
    let filter = match &q.filter {
        Some(c) => Some(scope.bind_cond(c)?),
        None => None,
    };
    let group_cols: Vec<usize> = q
        .group_by
        .iter()
        .map(|c| scope.resolve(c))
        .collect::<Result<_, _>>()?;
    let keys = order_keys(&scope, &outputs, &q.order_by)?;

    let grouped = !group_cols.is_empty()
        || outputs.iter().any(|o| has_agg(&o.expr))
        || keys
            .iter()
            .any(|(k, _)| matches!(k, Key::Expr(e) if has_agg(e)));
    if grouped {
        check_grouping(&scope, &group_cols, &outputs, &keys)?;
    }

    let kept = filtered_rows(db, &scope, filter.as_ref())?;
    let mut results = if grouped {
        grouped_results(kept, &group_cols, cols, &outputs, &keys)?
    } else {
        row_results(kept, cols, &outputs, &keys)
    };
    sort_results(&mut results, &keys);
    if let Some(n) = q.top {
        results.truncate(n);
    }
    Ok(result_set(&outputs, results))
}

/// (output values, sort values) of one result row.
type ResultRow = (Vec<Val>, Vec<Val>);

/// The table a query reads from (`FROM`), and the names that may qualify its columns.
fn scope_of(from: Option<&(String, Option<String>)>) -> Result<Scope, String> {
    Ok(match from {
        Some((written, alias)) => {
            // `dbo.X` names table X in the default schema; any other schema does not exist.
            let bare = match written.split_once('.') {
                Some((schema, t)) if schema.eq_ignore_ascii_case("dbo") => t,
                Some(_) => "",
                None => written.as_str(),
            };
            let table =
                find_table(bare).ok_or_else(|| format!("Invalid object name '{written}'."))?;
            let mut exposed = vec![bare.to_string()];
            if let Some(a) = alias {
                // With an alias, SQL Server only accepts the alias as a qualifier.
                exposed = vec![a.clone()];
            }
            Scope {
                table: Some(table),
                exposed,
            }
        }
        None => Scope {
            table: None,
            exposed: Vec::new(),
        },
    })
}

/// The select list, resolved against the scope.
fn select_list(scope: &Scope, items: &[Item]) -> Result<Vec<Output>, String> {
    let cols = scope.columns();
    let mut outputs: Vec<Output> = Vec::new();
    for item in items {
        match item {
            Item::Star(qualifier) => {
                if let Some(qual) = qualifier
                    && !scope.exposed.iter().any(|e| e.eq_ignore_ascii_case(qual))
                {
                    return Err(format!(
                        "The multi-part identifier \"{qual}.*\" could not be bound."
                    ));
                }
                if scope.table.is_none() {
                    return Err("Must specify table to select from.".to_string());
                }
                for (i, c) in cols.iter().enumerate() {
                    outputs.push(Output {
                        expr: Bound::Col(i),
                        name: Some(c.name.to_string()),
                        data_type: c.kind.type_name(),
                    });
                }
            }
            Item::Expr(e, alias) => {
                let bound = scope.bind(e)?;
                let name = match (alias, e) {
                    (Some(a), _) => Some(a.clone()),
                    // SQL Server names a plain column as it was written.
                    (None, Expr::Col(c)) => Some(c.name.clone()),
                    (None, _) => None,
                };
                outputs.push(Output {
                    data_type: data_type(&bound, cols),
                    expr: bound,
                    name,
                });
            }
        }
    }
    Ok(outputs)
}

/// The ORDER BY keys: a select-list position (ordinal or alias) or an expression.
fn order_keys(
    scope: &Scope,
    outputs: &[Output],
    order_by: &[(Expr, bool)],
) -> Result<Vec<(Key, bool)>, String> {
    let mut keys: Vec<(Key, bool)> = Vec::new();
    for (e, desc) in order_by {
        let key = match e {
            Expr::Lit(Val::Int(n)) => {
                let pos = usize::try_from(*n)
                    .ok()
                    .filter(|p| *p >= 1 && *p <= outputs.len());
                match pos {
                    Some(p) => Key::Out(p - 1),
                    None => {
                        return Err(format!(
                            "The ORDER BY position number {n} is out of range of the number of \
                             items in the select list."
                        ));
                    }
                }
            }
            Expr::Lit(_) => {
                return Err(format!(
                    "A constant expression was encountered in the ORDER BY list, position {}.",
                    keys.len() + 1
                ));
            }
            Expr::Col(c)
                if c.qualifier.is_none()
                    && outputs.iter().any(|o| {
                        o.name
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&c.name))
                    }) =>
            {
                let idx = outputs
                    .iter()
                    .position(|o| {
                        o.name
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&c.name))
                    })
                    .unwrap_or(0);
                Key::Out(idx)
            }
            other => Key::Expr(scope.bind(other)?),
        };
        keys.push((key, *desc));
    }
    Ok(keys)
}

/// In a grouped query, every plain column in the select list and ORDER BY must be grouped by.
fn check_grouping(
    scope: &Scope,
    group_cols: &[usize],
    outputs: &[Output],
    keys: &[(Key, bool)],
) -> Result<(), String> {
    let cols = scope.columns();
    let label = scope.label();
    let check = |e: &Bound, clause: &str| -> Result<(), String> {
        if let Bound::Col(i) = e
            && !group_cols.contains(i)
        {
            let name = cols.get(*i).map_or("", |c| c.name);
            return Err(format!(
                "Column '{label}.{name}' is invalid in the {clause} because it is not \
                 contained in either an aggregate function or the GROUP BY clause."
            ));
        }
        Ok(())
    };
    for o in outputs {
        check(&o.expr, "select list")?;
    }
    for (k, _) in keys {
        if let Key::Expr(e) = k {
            check(e, "ORDER BY clause")?;
        }
    }
    Ok(())
}

/// The rows of the scope's table that pass the WHERE clause (one empty row without a table).
fn filtered_rows<'a>(
    db: &'a Db,
    scope: &Scope,
    filter: Option<&BCond>,
) -> Result<Vec<&'a Value>, String> {
    let cols = scope.columns();
    let source: Vec<&Value> = match scope.table {
        Some(t) => db
            .table(t.source)
            .map(|tb| tb.rows.values().collect())
            .unwrap_or_default(),
        None => vec![&Value::Null],
    };
    let mut kept: Vec<&Value> = Vec::with_capacity(source.len());
    for row in source {
        let keep = match filter {
            Some(f) => test(f, cols, row)? == Some(true),
            None => true,
        };
        if keep {
            kept.push(row);
        }
    }
    Ok(kept)
}

/// One result row per group (the whole input is one group without GROUP BY).
fn grouped_results(
    kept: Vec<&Value>,
    group_cols: &[usize],
    cols: &[Column],
    outputs: &[Output],
    keys: &[(Key, bool)],
) -> Result<Vec<ResultRow>, String> {
    let mut results: Vec<ResultRow> = Vec::new();
    let mut groups: Vec<Vec<&Value>> = Vec::new();
    if group_cols.is_empty() {
        groups.push(kept);
    } else {
        let mut index: HashMap<Vec<String>, usize> = HashMap::new();
        for row in kept {
            let key: Vec<String> = group_cols
                .iter()
                .map(|i| eval_row(&Bound::Col(*i), cols, row).group_key())
                .collect();
            match index.get(&key) {
                Some(g) => {
                    if let Some(group) = groups.get_mut(*g) {
                        group.push(row);
                    }
                }
                None => {
                    index.insert(key, groups.len());
                    groups.push(vec![row]);
                }
            }
        }
        // Deterministic order: by the grouping columns (what a stream aggregate yields).
        groups.sort_by(|a, b| {
            for i in group_cols {
                let (x, y) = (
                    eval_group(&Bound::Col(*i), cols, a).unwrap_or(Val::Null),
                    eval_group(&Bound::Col(*i), cols, b).unwrap_or(Val::Null),
                );
                let o = sort_cmp(&x, &y);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    for g in &groups {
        let out: Vec<Val> = outputs
            .iter()
            .map(|o| eval_group(&o.expr, cols, g))
            .collect::<Result<_, _>>()?;
        let sort: Vec<Val> = keys
            .iter()
            .map(|(k, _)| match k {
                Key::Out(i) => Ok(out.get(*i).cloned().unwrap_or(Val::Null)),
                Key::Expr(e) => eval_group(e, cols, g),
            })
            .collect::<Result<_, _>>()?;
        results.push((out, sort));
    }
    Ok(results)
}

/// One result row per input row.
fn row_results(
    kept: Vec<&Value>,
    cols: &[Column],
    outputs: &[Output],
    keys: &[(Key, bool)],
) -> Vec<ResultRow> {
    let mut results: Vec<ResultRow> = Vec::new();
    for row in kept {
        let out: Vec<Val> = outputs
            .iter()
            .map(|o| eval_row(&o.expr, cols, row))
            .collect();
        let sort: Vec<Val> = keys
            .iter()
            .map(|(k, _)| match k {
                Key::Out(i) => out.get(*i).cloned().unwrap_or(Val::Null),
                Key::Expr(e) => eval_row(e, cols, row),
            })
            .collect();
        results.push((out, sort));
    }
    results
}

/// Sorts by the ORDER BY keys (stable, so ties keep their input order).
fn sort_results(results: &mut [ResultRow], keys: &[(Key, bool)]) {
    if !keys.is_empty() {
        results.sort_by(|(_, a), (_, b)| {
            for (i, (_, desc)) in keys.iter().enumerate() {
                let o = match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => sort_cmp(x, y),
                    _ => Ordering::Equal,
                };
                if o != Ordering::Equal {
                    return if *desc { o.reverse() } else { o };
                }
            }
            Ordering::Equal
        });
    }
}

/// The result set: named columns with their types, and one JSON object per row.
fn result_set(outputs: &[Output], results: Vec<ResultRow>) -> ResultSet {
    // Column names as ADO.NET's DataAdapter makes them: unnamed columns are Column1, Column2,
    // …; a repeated name gets a numeric suffix.
    let mut names: Vec<String> = Vec::with_capacity(outputs.len());
    let mut unnamed = 0;
    for o in outputs {
        let base = match &o.name {
            Some(n) => n.clone(),
            None => {
                unnamed += 1;
                format!("Column{unnamed}")
            }
        };
        let mut name = base.clone();
        let mut k = 1;
        while names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            name = format!("{base}{k}");
            k += 1;
        }
        names.push(name);
    }
    let columns = names
        .iter()
        .zip(outputs)
        .map(|(n, o)| ResultColumn {
            name: n.clone(),
            data_type: o.data_type,
        })
        .collect();
    let rows = results
        .into_iter()
        .map(|(out, _)| {
            let mut m = Map::new();
            for (n, v) in names.iter().zip(out) {
                m.insert(n.clone(), v.to_json());
            }
            Value::Object(m)
        })
        .collect();
    ResultSet { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::super::seed::{self, Extras};
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn seeded() -> Db {
        seed::build(0x4A10_5EED, Extras::default())
    }

    fn rows(db: &Db, sql: &str) -> Vec<Value> {
        match run(db, sql) {
            Ok(r) => r.rows,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    fn faults(db: &Db) -> Vec<&Value> {
        db.table("Faults").unwrap().rows.values().collect()
    }

    #[test]
    fn counts_agree_with_the_rest_data() {
        let db = seeded();
        let live = faults(&db).iter().filter(|t| t["deleted"] == false).count();
        let deleted = faults(&db).len() - live;
        assert!(live > 200 && deleted >= 3);
        assert_eq!(
            rows(&db, "SELECT COUNT(*) AS n FROM FAULTS WHERE FDeleted = 0"),
            vec![json!({"n": live})]
        );
        // Halo's idiom for "not deleted" (fdeleted = fmergedintofaultid), lower case, aliased.
        assert_eq!(
            rows(
                &db,
                "select count(faultid) from faults f where f.fdeleted = f.fmergedintofaultid"
            ),
            vec![json!({"Column1": live})]
        );
        assert_eq!(
            rows(
                &db,
                "SELECT COUNT(*) n FROM dbo.FAULTS WITH (NOLOCK) WHERE NOT FDeleted = 0"
            ),
            vec![json!({"n": deleted})]
        );
        let users = db.table("Users").unwrap().rows.len();
        assert_eq!(
            rows(&db, "SELECT COUNT(*) AS n FROM USERS"),
            vec![json!({"n": users})]
        );
        let assets = db.table("Asset").unwrap().rows.len();
        assert_eq!(
            rows(&db, "SELECT COUNT(*) FROM DEVICE"),
            vec![json!({"Column1": assets})]
        );
    }

    #[test]
    fn group_by_matches_an_independent_count() {
        let db = seeded();
        let mut want: BTreeMap<i64, i64> = BTreeMap::new();
        for t in faults(&db) {
            if t["status_id"] != 9 && t["deleted"] == false {
                *want.entry(t["client_id"].as_i64().unwrap()).or_default() += 1;
            }
        }
        let want: Vec<Value> = want
            .into_iter()
            .map(|(c, n)| json!({"client_id": c, "open": n}))
            .collect();
        let got = rows(
            &db,
            "SELECT Areaint AS client_id, COUNT(*) AS [open] FROM FAULTS \
             WHERE Status <> 9 AND FDeleted = 0 GROUP BY Areaint",
        );
        assert_eq!(got, want);
        // Ordered by the aggregate, descending, TOP 2.
        let top = rows(
            &db,
            "SELECT TOP 2 Areaint, COUNT(*) AS n FROM FAULTS WHERE Status <> 9 AND FDeleted = 0 \
             GROUP BY Areaint ORDER BY COUNT(*) DESC",
        );
        let mut sorted = want.clone();
        sorted.sort_by_key(|r| -r["open"].as_i64().unwrap());
        assert_eq!(top.len(), 2);
        assert_eq!(top[0]["n"], sorted[0]["open"]);
        assert_eq!(top[1]["n"], sorted[1]["open"]);
    }

    #[test]
    fn top_order_by_like_and_null() {
        let db = seeded();
        let mut ids: Vec<i64> = faults(&db)
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let got: Vec<i64> = rows(
            &db,
            "SELECT TOP (3) Faultid FROM FAULTS ORDER BY Faultid DESC",
        )
        .iter()
        .map(|r| r["Faultid"].as_i64().unwrap())
        .collect();
        assert_eq!(got, ids[..3]);
        // ORDER BY an alias, by position, and by a column not selected.
        let by_alias = rows(
            &db,
            "SELECT TOP 3 Faultid AS id FROM FAULTS ORDER BY id DESC",
        );
        let by_pos = rows(
            &db,
            "SELECT TOP 3 Faultid AS id FROM FAULTS ORDER BY 1 DESC",
        );
        assert_eq!(by_alias, by_pos);
        assert_eq!(by_alias[0]["id"], ids[0]);

        let want: Vec<i64> = faults(&db)
            .iter()
            .filter(|t| {
                t["summary"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains("printer")
            })
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        assert!(!want.is_empty());
        let got: Vec<i64> = rows(
            &db,
            "SELECT Faultid FROM FAULTS WHERE Symptom LIKE '%PRINTER%'",
        )
        .iter()
        .map(|r| r["Faultid"].as_i64().unwrap())
        .collect();
        assert_eq!(got, want);
        let not_like = rows(
            &db,
            "SELECT COUNT(*) AS n FROM FAULTS WHERE Symptom NOT LIKE '%printer%'",
        );
        assert_eq!(not_like[0]["n"], faults(&db).len() - want.len());

        // NULL: a comparison with NULL is unknown; open tickets carry the sentinel date, which
        // is a value, not NULL.
        assert!(rows(&db, "SELECT Faultid FROM FAULTS WHERE Symptom = NULL").is_empty());
        assert!(rows(&db, "SELECT Faultid FROM FAULTS WHERE Symptom IS NULL").is_empty());
        assert_eq!(
            rows(
                &db,
                "SELECT COUNT(*) AS n FROM FAULTS WHERE datecleared IS NOT NULL"
            )[0]["n"],
            faults(&db).len()
        );
        let open_sentinel = faults(&db)
            .iter()
            .filter(|t| t["dateclosed"] == clock::SENTINEL)
            .count();
        assert_eq!(
            rows(
                &db,
                "SELECT COUNT(*) AS n FROM FAULTS WHERE datecleared < '1901-01-01'"
            )[0]["n"],
            open_sentinel
        );
    }

    #[test]
    fn where_in_between_or_and_dates() {
        let db = seeded();
        let march = faults(&db)
            .iter()
            .filter(|t| t["dateoccurred"].as_str().unwrap().starts_with("2026-03"))
            .count();
        assert_eq!(
            rows(
                &db,
                "SELECT COUNT(*) AS n FROM FAULTS WHERE dateoccured >= '2026-03-01' AND dateoccured < '2026-04-01'"
            )[0]["n"],
            march
        );
        let in_list = faults(&db)
            .iter()
            .filter(|t| [1, 2, 3].contains(&t["status_id"].as_i64().unwrap()))
            .count();
        assert_eq!(
            rows(
                &db,
                "SELECT COUNT(*) AS n FROM FAULTS WHERE Status IN (1, 2, 3)"
            )[0]["n"],
            in_list
        );
        assert_eq!(
            rows(
                &db,
                "SELECT COUNT(*) AS n FROM FAULTS WHERE Status BETWEEN 1 AND 3"
            )[0]["n"],
            in_list
        );
        assert_eq!(
            rows(
                &db,
                "SELECT COUNT(*) AS n FROM FAULTS WHERE (Status = 1 OR Status = 2 OR Status = 3)"
            )[0]["n"],
            in_list
        );
        // Text compares case-insensitively; a number literal against a text column converts.
        assert_eq!(
            rows(
                &db,
                "SELECT Aarea FROM AREA WHERE Aareadesc = 'saltmarsh brewing co'"
            ),
            vec![json!({"Aarea": 15})]
        );
        assert_eq!(
            rows(&db, "SELECT Aarea FROM AREA WHERE Aarea = '15'"),
            vec![json!({"Aarea": 15})]
        );
    }

    #[test]
    fn money_sums_are_exact_and_types_are_reported() {
        let db = seeded();
        let pence = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as i64;
        let invoices: Vec<&Value> = db.table("Invoice").unwrap().rows.values().collect();
        let total: i64 = invoices.iter().map(|i| pence(&i["total"])).sum();
        let r = run(&db, "SELECT SUM(IHTotal) AS total, COUNT(*) AS n, MAX(IHInvoice_Date) AS latest FROM INVOICEHEADER").unwrap();
        assert_eq!(pence(&r.rows[0]["total"]), total);
        assert_eq!(r.rows[0]["n"], invoices.len());
        let types: Vec<(&str, &str)> = r
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.data_type))
            .collect();
        assert_eq!(
            types,
            vec![("total", "money"), ("n", "int"), ("latest", "datetime")]
        );
        let latest = invoices
            .iter()
            .map(|i| i["invoice_date"].as_str().unwrap())
            .max()
            .unwrap();
        assert_eq!(r.rows[0]["latest"], latest);
        // AVG of an int column is an int, as in SQL Server.
        let avg = rows(&db, "SELECT AVG(Status) AS a FROM FAULTS");
        assert!(avg[0]["a"].is_i64());
        // SELECT * uses the table's own column names, in order.
        let star = run(&db, "SELECT TOP 1 * FROM AREA").unwrap();
        let names: Vec<&str> = star.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Aarea", "Aareadesc", "AIsInactive", "Atreeid"]);
        assert_eq!(star.rows[0]["AIsInactive"], 0);
        // Repeated names get a suffix.
        let dup = rows(&db, "SELECT TOP 1 Aarea, Aarea FROM AREA");
        assert!(dup[0].get("Aarea").is_some() && dup[0].get("Aarea1").is_some());
    }

    #[test]
    fn semantic_errors_read_like_sql_server() {
        let db = seeded();
        let err = |sql: &str| run(&db, sql).err().unwrap_or_default();
        assert_eq!(
            err("SELECT * FROM TICKETS"),
            "Invalid object name 'TICKETS'."
        );
        assert_eq!(
            err("SELECT nope FROM FAULTS"),
            "Invalid column name 'nope'."
        );
        assert_eq!(
            err("SELECT x.Faultid FROM FAULTS f"),
            "The multi-part identifier \"x.Faultid\" could not be bound."
        );
        assert_eq!(
            err("SELECT Symptom, COUNT(*) FROM FAULTS GROUP BY Areaint"),
            "Column 'FAULTS.Symptom' is invalid in the select list because it is not contained \
             in either an aggregate function or the GROUP BY clause."
        );
        assert_eq!(
            err("SELECT Faultid FROM FAULTS WHERE COUNT(*) > 1")
                .split(" unless")
                .next(),
            Some("An aggregate may not appear in the WHERE clause")
        );
        assert_eq!(
            err("SELECT SUM(Symptom) FROM FAULTS"),
            "Operand data type nvarchar is invalid for sum operator."
        );
        assert_eq!(
            err("SELECT Faultid FROM FAULTS WHERE Faultid = 'abc'"),
            "Conversion failed when converting the varchar value 'abc' to data type int."
        );
        assert_eq!(
            err("UPDATE FAULTS SET Status = 9"),
            "Incorrect syntax near the keyword 'UPDATE'."
        );
        assert_eq!(
            err("SELECT Faultid FROM FAULTS WHERE Faultid"),
            "An expression of non-boolean type specified in a context where a condition is \
             expected, near 'Faultid'."
        );
        assert_eq!(
            err("SELECT Faultid FROM FAULTS ORDER BY 3"),
            "The ORDER BY position number 3 is out of range of the number of items in the select list."
        );
    }

    #[test]
    fn like_matches_sql_server_wildcards() {
        assert!(like("Laptop will not power on", "%power%"));
        assert!(like("Laptop", "lap%"));
        assert!(like("Laptop", "L_ptop"));
        assert!(like("Laptop", "%"));
        assert!(!like("Laptop", "%desk%"));
        assert!(!like("Laptop", "Lap"));
        assert!(like("", "%"));
        assert!(like("abcabc", "%bc"));
    }

    #[test]
    fn lexer_and_parser_errors_read_like_sql_server() {
        let db = Db::new(1);
        let err = |sql: &str| run(&db, sql).err().unwrap_or_default();
        assert_eq!(err("SELEC 1"), "Incorrect syntax near 'SELEC'.");
        assert_eq!(
            err("DELETE FROM FAULTS"),
            "Incorrect syntax near the keyword 'DELETE'."
        );
        assert_eq!(
            err("SELECT 1; DROP TABLE FAULTS"),
            "Incorrect syntax near ';'."
        );
        assert_eq!(err("SELECT 1;"), "Incorrect syntax near ';'.");
        assert_eq!(err("SELECT * FROM NOPE"), "Invalid object name 'NOPE'.");
        assert_eq!(
            err("SELECT 'abc"),
            "Unclosed quotation mark after the character string 'abc'."
        );
        assert_eq!(err("SELECT @x"), "Must declare the scalar variable \"@x\".");
        assert!(err("SELECT 1 AS x -- comment").starts_with("Incorrect syntax near"));
        assert_eq!(err("SELECT 1 /* open"), "Missing end comment mark '*/'.");
        assert!(run(&db, "SELECT /* fine */ 1").is_ok());
        assert!(err("SELECT * FROM FAULTS f JOIN AREA a ON 1 = 1").contains("simulated Halo"));
        assert!(err("SELECT GETDATE()").contains("simulated Halo"));
        assert_eq!(err("SELECT"), "Incorrect syntax near the keyword 'SELECT'.");
    }

    #[test]
    fn select_without_from() {
        let db = Db::new(1);
        let r = run(&db, "SELECT 1 WHERE 1 = 0").unwrap();
        assert!(r.rows.is_empty());
        let r = run(&db, "SELECT 1, 'a' AS x, 2.5").unwrap();
        assert_eq!(
            r.rows,
            vec![serde_json::json!({"Column1": 1, "x": "a", "Column2": 2.5})]
        );
    }
}
