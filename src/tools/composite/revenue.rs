//! Revenue breakdown: recurring against one-off, the split an MSP steers by.
//!
//! *Recurring* revenue comes from recurring invoice schedules and from contracts billed without
//! one, each normalised to a monthly figure from its billing period (monthly, quarterly,
//! annually, ...). A contract that a recurring invoice bills is counted once, through the
//! invoice. *Non-recurring* revenue is one-off invoices (project work, ad-hoc charges,
//! break-fix); invoices generated from a recurring schedule are recurring, not one-off. Credit
//! notes (negative invoices) are shown separately. All amounts exclude tax and are summed in
//! whole cents.
//!
//! Halo's period fields are read defensively: a spelled-out period name (`periodname`,
//! `billing_period_string`) wins; otherwise the number is taken as months per period (what
//! Halo's numeric period means is not documented; months is the reading that fits its screens).

use std::collections::{BTreeMap, HashSet};

use futures::FutureExt;
use serde_json::{Map, Value, json};

use super::{
    Composite, Ctx,
    fetch::{Pages, Reads},
    int_arg, resource, str_arg,
};
use crate::tools::{ToolError, args::as_int, compact::is_sentinel_date};

pub const REVENUE: Composite = Composite {
    domain: "invoices",
    name: "halo_revenue_breakdown",
    title: "Revenue breakdown",
    description: "Recurring (monthly-normalised) vs one-off revenue, credits, totals and \
                  recurring share, for one client or all; ex tax.",
    params: &[
        ("client_id", "integer: Omit for all clients"),
        ("start", "date: Invoice date from"),
        ("end", "date: Invoice date to"),
    ],
    reads: &["/Invoice", "/RecurringInvoice", "/ClientContract"],
    run: |ctx, args| run(ctx, args).boxed(),
};

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub y: i32,
    pub m: u32,
    pub d: u32,
}

impl Date {
    /// The date part of a Halo timestamp; `None` for sentinels and junk.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        if is_sentinel_date(s) {
            return None;
        }
        let y = s.get(0..4)?.parse().ok()?;
        let m = s.get(5..7)?.parse().ok()?;
        let d = s.get(8..10)?.parse().ok()?;
        ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some(Date { y, m, d })
    }

    fn from_value(v: Option<&Value>) -> Option<Date> {
        v.and_then(Value::as_str).and_then(Date::parse)
    }

    pub fn today() -> Date {
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0) as i64;
        civil_from_days(days)
    }

    fn first_of_month(self) -> Date {
        Date { d: 1, ..self }
    }

    fn last_of_month(self) -> Date {
        Date {
            d: days_in_month(self.y, self.m),
            ..self
        }
    }

    fn next_month(self) -> Date {
        if self.m == 12 {
            Date {
                y: self.y + 1,
                m: 1,
                d: 1,
            }
        } else {
            Date {
                m: self.m + 1,
                d: 1,
                ..self
            }
        }
    }

    fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.y) - i64::from(self.m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.m);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn to_iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
}

fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    Date { y, m, d }
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Months (fractional for partial months) that `[from, to]` and `[start, end]` share, counted
/// calendar month by calendar month, so whole months count exactly 1.
pub fn overlap_months(from: Date, to: Date, start: Option<Date>, end: Option<Date>) -> f64 {
    let lo = start.map_or(from, |s| s.max(from));
    let hi = end.map_or(to, |e| e.min(to));
    if lo > hi {
        return 0.0;
    }
    let mut months = 0.0;
    let mut month = lo.first_of_month();
    while month <= hi {
        let a = month.max(lo);
        let b = month.last_of_month().min(hi);
        let covered = (b.days_since_epoch() - a.days_since_epoch() + 1) as f64;
        months += covered / f64::from(days_in_month(month.y, month.m));
        month = month.next_month();
    }
    months
}

/// Months per billing period, from a period name or a number of months.
pub fn months_per_period(name: Option<&str>, number: Option<f64>) -> Option<f64> {
    if let Some(n) = name
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
    {
        let n = n.replace(['-', '_'], " ");
        let named = match n.as_str() {
            "weekly" => Some(12.0 / 52.0),
            "fortnightly" | "bi weekly" | "biweekly" => Some(12.0 / 26.0),
            "monthly" => Some(1.0),
            "bi monthly" | "bimonthly" | "every 2 months" => Some(2.0),
            "quarterly" | "every 3 months" => Some(3.0),
            "six monthly" | "half yearly" | "biannually" | "bi annually" | "every 6 months" => {
                Some(6.0)
            }
            "annually" | "annual" | "yearly" | "every 12 months" => Some(12.0),
            "two yearly" | "biennially" | "every 2 years" => Some(24.0),
            "three yearly" | "triennially" | "every 3 years" => Some(36.0),
            _ => n
                .strip_prefix("every ")
                .and_then(|r| r.strip_suffix(" months"))
                .and_then(|k| k.trim().parse::<f64>().ok()),
        };
        if named.is_some() {
            return named;
        }
    }
    number.filter(|n| *n > 0.0 && *n <= 120.0)
}

/// Whole cents of an amount.
fn cents(v: Option<&Value>) -> Option<i64> {
    let f = v?.as_f64()?;
    f.is_finite().then(|| (f * 100.0).round() as i64)
}

/// Net (ex-tax) value of an invoice-shaped record: its lines' nets, else total minus tax.
fn net_cents(record: &Value) -> Option<i64> {
    if let Some(lines) = record.get("lines").and_then(Value::as_array)
        && !lines.is_empty()
    {
        let sum: Option<i64> = lines.iter().map(|l| cents(l.get("net_amount"))).sum();
        if sum.is_some() {
            return sum;
        }
    }
    let total = cents(record.get("total"))?;
    Some(total - cents(record.get("tax_total")).unwrap_or(0))
}

fn money(c: f64) -> Value {
    json!(((c).round()) / 100.0)
}

fn currency_of(record: &Value) -> String {
    record
        .get("currency")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

/// One recurring source, normalised.
struct Recurring {
    client_id: i64,
    client_name: String,
    label: String,
    source: &'static str,
    monthly_cents: f64,
    period_months: f64,
    start: Option<Date>,
    end: Option<Date>,
    currency: String,
}

#[derive(Default)]
struct Buckets {
    recurring_monthly: f64,
    recurring_in_period: f64,
    recurring_invoiced: i64,
    one_off: i64,
    one_off_count: usize,
    credits: i64,
    credit_count: usize,
}

async fn run(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let client = int_arg(&args, "client_id");
    let start = str_arg(&args, "start").and_then(Date::parse);
    let end = str_arg(&args, "end").and_then(Date::parse);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ToolError::new("`start` is after `end`"));
    }
    let invoices_r = resource("invoices", "invoices")?;
    let recurring_r = resource("recurring_invoices", "recurring_invoices")?;
    let contracts_r = resource("contracts", "contracts")?;
    let mut query: Vec<(String, String)> = Vec::new();
    if let Some(c) = client {
        query.push(("client_id".into(), c.to_string()));
    }
    let mut pages = Pages::new(ctx, 3);
    let (mut inv_reads, mut rec_reads, mut con_reads) =
        (Reads::default(), Reads::default(), Reads::default());
    let invoices = pages.all(invoices_r, &query, &mut inv_reads).await?;
    let schedules = pages.all(recurring_r, &query, &mut rec_reads).await?;
    let contracts = pages.all(contracts_r, &query, &mut con_reads).await?;
    let for_client =
        |r: &Value| client.is_none_or(|c| r.get("client_id").and_then(as_int) == Some(c));

    // One-off invoices, and the period they span when no range was given.
    let one_offs: Vec<&Value> = invoices
        .iter()
        .filter(|i| for_client(i))
        .filter(|i| i.get("voided") != Some(&Value::Bool(true)))
        .collect();
    let dates: Vec<Date> = one_offs
        .iter()
        .filter_map(|i| Date::from_value(i.get("invoice_date")))
        .collect();
    let from = start.or_else(|| dates.iter().min().copied());
    let to = end
        .or_else(|| start.map(|_| Date::today()))
        .or_else(|| dates.iter().max().copied());
    let period = from.zip(to);

    // Recurring sources: schedules, then contracts no schedule bills.
    let mut sources: Vec<Recurring> = Vec::new();
    let mut unknown_period: Vec<String> = Vec::new();
    let mut billed_contracts: HashSet<i64> = HashSet::new();
    for s in schedules.iter().filter(|s| for_client(s)) {
        if let Some(c) = s.get("contract_id").and_then(as_int).filter(|c| *c > 0) {
            billed_contracts.insert(c);
        }
        if s.get("disabled") == Some(&Value::Bool(true)) {
            continue;
        }
        let label = s
            .get("notes_1")
            .or_else(|| s.get("contract_ref"))
            .and_then(Value::as_str)
            .unwrap_or("recurring invoice")
            .to_owned();
        let months = months_per_period(
            s.get("periodname").and_then(Value::as_str),
            s.get("period").and_then(Value::as_f64),
        );
        let (Some(months), Some(net)) = (months, net_cents(s)) else {
            unknown_period.push(format!("recurring invoice {}", s["id"]));
            continue;
        };
        sources.push(Recurring {
            client_id: s.get("client_id").and_then(as_int).unwrap_or(0),
            client_name: s["client_name"].as_str().unwrap_or("").to_owned(),
            label,
            source: "recurring_invoice",
            monthly_cents: net as f64 / months,
            period_months: months,
            start: Date::from_value(s.get("startdate")),
            end: Date::from_value(s.get("enddate")),
            currency: currency_of(s),
        });
    }
    for c in contracts.iter().filter(|c| for_client(c)) {
        let id = c.get("id").and_then(as_int).unwrap_or(0);
        if billed_contracts.contains(&id) || c.get("active") == Some(&Value::Bool(false)) {
            continue;
        }
        let Some(charge) = cents(c.get("periodchargeamount")).filter(|a| *a != 0) else {
            continue;
        };
        let months = months_per_period(
            c.get("billing_period_string").and_then(Value::as_str),
            c.get("billingperiod").and_then(Value::as_f64),
        );
        let Some(months) = months else {
            unknown_period.push(format!("contract {id}"));
            continue;
        };
        sources.push(Recurring {
            client_id: c.get("client_id").and_then(as_int).unwrap_or(0),
            client_name: c["client_name"].as_str().unwrap_or("").to_owned(),
            label: c["ref"].as_str().unwrap_or("contract").to_owned(),
            source: "contract",
            monthly_cents: charge as f64 / months,
            period_months: months,
            start: Date::from_value(c.get("start_date")),
            end: Date::from_value(c.get("end_date")),
            currency: currency_of(c),
        });
    }

    // Sum per currency (and per client when all clients are asked for).
    let mut by_currency: BTreeMap<String, Buckets> = BTreeMap::new();
    let mut by_client: BTreeMap<i64, (String, Buckets)> = BTreeMap::new();
    let run_rate_day = to.unwrap_or_else(Date::today);
    for s in &sources {
        let active_now =
            s.start.is_none_or(|d| d <= run_rate_day) && s.end.is_none_or(|d| d >= run_rate_day);
        let in_period = period.map_or(0.0, |(a, b)| overlap_months(a, b, s.start, s.end));
        for b in [
            by_currency.entry(s.currency.clone()).or_default(),
            &mut by_client
                .entry(s.client_id)
                .or_insert_with(|| (s.client_name.clone(), Buckets::default()))
                .1,
        ] {
            if active_now {
                b.recurring_monthly += s.monthly_cents;
            }
            b.recurring_in_period += s.monthly_cents * in_period;
        }
    }
    let mut invoices_in_period = 0;
    for inv in &one_offs {
        let date = Date::from_value(inv.get("invoice_date"));
        let inside = match (period, date) {
            (Some((a, b)), Some(d)) => d >= a && d <= b,
            (None, _) => true,
            (Some(_), None) => false,
        };
        if !inside {
            continue;
        }
        invoices_in_period += 1;
        let Some(net) = net_cents(inv) else { continue };
        let from_schedule = inv
            .get("recurring_invoice_id")
            .and_then(as_int)
            .is_some_and(|r| r > 0)
            || inv.get("is_recurring_invoice") == Some(&Value::Bool(true));
        let client_id = inv.get("client_id").and_then(as_int).unwrap_or(0);
        let client_name = inv["client_name"].as_str().unwrap_or("").to_owned();
        for b in [
            by_currency.entry(currency_of(inv)).or_default(),
            &mut by_client
                .entry(client_id)
                .or_insert_with(|| (client_name.clone(), Buckets::default()))
                .1,
        ] {
            if from_schedule {
                b.recurring_invoiced += net;
            } else if net < 0 {
                b.credits += net;
                b.credit_count += 1;
            } else {
                b.one_off += net;
                b.one_off_count += 1;
            }
        }
    }

    let summary = |b: &Buckets| {
        let recurring = b.recurring_in_period.round();
        let one_off = b.one_off as f64;
        let share = if recurring + one_off > 0.0 {
            ((recurring / (recurring + one_off)) * 1000.0).round() / 1000.0
        } else {
            0.0
        };
        json!({
            "recurring": {
                "monthly": money(b.recurring_monthly),
                "annualised": money(b.recurring_monthly * 12.0),
                "in_period": money(b.recurring_in_period),
                "invoiced_from_schedules": money(b.recurring_invoiced as f64),
            },
            "non_recurring": {"total": money(one_off), "invoices": b.one_off_count},
            "credits": {"total": money(b.credits as f64), "notes": b.credit_count},
            "total": money(recurring + one_off + b.credits as f64),
            "recurring_share": share,
        })
    };

    let mut out = Map::new();
    out.insert("client_id".into(), json!(client));
    out.insert(
        "period".into(),
        match period {
            Some((a, b)) => json!({
                "start": a.to_iso(),
                "end": b.to_iso(),
                "months": (overlap_months(a, b, None, None) * 100.0).round() / 100.0,
                "basis": if start.is_some() || end.is_some() { "as asked" } else { "first to last invoice" },
            }),
            None => Value::Null,
        },
    );
    if by_currency.len() <= 1 {
        let (currency, b) = by_currency
            .iter()
            .next()
            .map(|(c, b)| (c.clone(), summary(b)))
            .unwrap_or_else(|| ("unknown".into(), summary(&Buckets::default())));
        out.insert("currency".into(), json!(currency));
        if let Value::Object(m) = b {
            out.extend(m);
        }
    } else {
        let per: Map<String, Value> = by_currency
            .iter()
            .map(|(c, b)| (c.clone(), summary(b)))
            .collect();
        out.insert("by_currency".into(), Value::Object(per));
    }
    if client.is_none() {
        let mut rows: Vec<(f64, Value)> = by_client
            .iter()
            .map(|(id, (name, b))| {
                let total = b.recurring_in_period + (b.one_off + b.credits) as f64;
                (
                    total,
                    json!({
                        "client_id": id, "client_name": name,
                        "recurring_monthly": money(b.recurring_monthly),
                        "non_recurring": money(b.one_off as f64),
                        "credits": money(b.credits as f64),
                        "total": money(total),
                    }),
                )
            })
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        out.insert(
            "by_client".into(),
            Value::Array(rows.into_iter().map(|(_, v)| v).collect()),
        );
    }
    let top: Vec<Value> = {
        let mut s: Vec<&Recurring> = sources.iter().collect();
        s.sort_by(|a, b| b.monthly_cents.total_cmp(&a.monthly_cents));
        s.iter()
            .take(10)
            .map(|r| {
                json!({
                    "client": r.client_name, "name": r.label, "source": r.source,
                    "monthly": money(r.monthly_cents), "period_months": r.period_months,
                })
            })
            .collect()
    };
    out.insert("top_recurring".into(), Value::Array(top));
    if !unknown_period.is_empty() {
        out.insert(
            "not_counted".into(),
            json!({"reason": "billing period not recognised", "items": unknown_period}),
        );
    }
    out.insert(
        "records_read".into(),
        json!({
            "invoices": inv_reads.records, "invoices_in_period": invoices_in_period,
            "recurring_invoices": rec_reads.records, "contracts": con_reads.records,
            "requests": inv_reads.requests + rec_reads.requests + con_reads.requests,
        }),
    );
    out.insert(
        "basis".into(),
        json!("Amounts exclude tax. Recurring = schedules and contracts billed without one, normalised to a month; in_period = monthly × months active in the period."),
    );
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn dates_and_overlaps() {
        assert_eq!(Date::parse("1900-01-01T00:00:00"), None);
        assert_eq!(Date::parse("2025-02-30"), None);
        assert_eq!(
            civil_from_days(d("2026-11-21").days_since_epoch()),
            d("2026-11-21")
        );
        let (a, b) = (d("2025-04-01"), d("2026-03-31"));
        assert_eq!(overlap_months(a, b, None, None), 12.0);
        assert_eq!(overlap_months(a, b, Some(d("2025-10-01")), None), 6.0);
        assert_eq!(overlap_months(a, b, None, Some(d("2025-04-30"))), 1.0);
        assert_eq!(overlap_months(a, b, Some(d("2027-01-01")), None), 0.0);
        let half = overlap_months(d("2025-04-16"), d("2025-04-30"), None, None);
        assert!((half - 0.5).abs() < 1e-9, "{half}");
    }

    #[test]
    fn billing_periods() {
        assert_eq!(months_per_period(Some("Quarterly"), Some(99.0)), Some(3.0));
        assert_eq!(months_per_period(Some("Six-Monthly"), None), Some(6.0));
        assert_eq!(months_per_period(Some("every 4 months"), None), Some(4.0));
        assert_eq!(months_per_period(None, Some(12.0)), Some(12.0));
        assert_eq!(months_per_period(Some("whenever"), None), None);
        assert_eq!(months_per_period(None, Some(0.0)), None);
    }

    #[test]
    fn nets_in_cents() {
        let inv = json!({"total": 270.0, "tax_total": 45.0, "lines": [{"net_amount": 225.0}]});
        assert_eq!(net_cents(&inv), Some(22_500));
        let inv = json!({"total": -120.0, "tax_total": -20.0});
        assert_eq!(net_cents(&inv), Some(-10_000));
    }
}
