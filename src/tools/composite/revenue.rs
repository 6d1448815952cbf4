//! Revenue breakdown: what was billed, recurring against one-off, the split an MSP steers by.
//!
//! Every figure of a period is money billed: the invoices in `/Invoice` dated in the period and
//! not after today, net of tax. *Recurring* is what recurring invoices and contracts billed:
//! invoice lines carrying a recurring invoice id (header or line), or a contract id with the
//! period they bill (line `startdate`/`enddate`, InvoiceDetail in the swagger). Everything
//! else is *one-off*. Credit notes (invoices with a negative net) are shown apart and taken
//! off the total. Nothing projected is ever inside a total: the run rate (MRR, annualised) is
//! today's, and what the schedules will bill after today is given only as a forecast.
//!
//! Billing periods. The swagger types `period`/`period_type` (RecurringInvoice) and
//! `billingperiod` (ClientContract) as bare int32s and no source gives their values
//! (halo-api.md has none), so the number is never read as a count of months. A period's
//! length is taken from what the records show: a spelled-out name (`periodname`,
//! `billing_period_string`), the gap from `lastcreated` to `nextcreationdate`, the span of a
//! billed line (`startdate` to `enddate`), the gaps between the invoices a schedule produced;
//! and, for a record showing none of these, what the same code means on the tenant's other
//! records (when they all agree). A record whose period stays unknown is left out of the run
//! rate and named in the answer.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
    description: "Money billed in a period (to today): recurring (recurring invoices, \
                  contracts) vs one-off, credits, total; current MRR; forecast apart. Ex tax.",
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

    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.y) - i64::from(self.m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.m);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn to_iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
}

pub(crate) fn civil_from_days(z: i64) -> Date {
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

impl Date {
    /// `self` plus `k` calendar months, the day clamped to the month's length.
    pub fn add_months(self, k: i32) -> Date {
        let total = self.y * 12 + self.m as i32 - 1 + k;
        let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
        Date {
            y,
            m,
            d: self.d.min(days_in_month(y, m)),
        }
    }

    fn plus_days(self, n: i64) -> Date {
        civil_from_days(self.days_since_epoch() + n)
    }

    fn is_month_end(self) -> bool {
        self.d == days_in_month(self.y, self.m)
    }

    /// The whole number of calendar months from `self` to `later` (1 to 60), if `later` is
    /// exactly that many months on (same day of month, or month end to month end).
    pub fn whole_months_to(self, later: Date) -> Option<u32> {
        let k = (later.y - self.y) * 12 + later.m as i32 - self.m as i32;
        let exact = self.add_months(k) == later || (self.is_month_end() && later.is_month_end());
        (exact && (1..=60).contains(&k)).then_some(k as u32)
    }
}

/// Months in a billing period named in words (`periodname`, `billing_period_string`).
pub fn named_period_months(name: &str) -> Option<f64> {
    let n = name.trim().to_ascii_lowercase().replace(['-', '_'], " ");
    match n.as_str() {
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
            .and_then(|k| k.trim().parse::<f64>().ok())
            .filter(|k| *k > 0.0 && *k <= 120.0),
    }
}

/// One observation of a period's length, with what it rests on.
type Evidence = (f64, String);

fn date_of(r: &Value, key: &str) -> Option<Date> {
    Date::from_value(r.get(key))
}

/// Evidence about a period's length that one record (a recurring invoice, a contract, or an
/// invoice line) carries by itself.
pub fn own_evidence(r: &Value) -> Vec<Evidence> {
    let mut out = Vec::new();
    for key in ["periodname", "billing_period_string"] {
        if let Some(name) = r.get(key).and_then(Value::as_str)
            && let Some(m) = named_period_months(name)
        {
            out.push((m, format!("{key} \"{}\"", name.trim())));
        }
    }
    if let (Some(last), Some(next)) = (date_of(r, "lastcreated"), date_of(r, "nextcreationdate"))
        && let Some(m) = last.whole_months_to(next)
    {
        out.push((f64::from(m), "lastcreated to nextcreationdate".into()));
    }
    for l in r
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = line_span(l) {
            out.push((f64::from(m), "the period its line covers".into()));
        }
    }
    out
}

/// Months a billed line covers (`startdate` to `enddate` inclusive), if whole months.
fn line_span(l: &Value) -> Option<u32> {
    let (a, b) = (date_of(l, "startdate")?, date_of(l, "enddate")?);
    a.whole_months_to(b.plus_days(1))
}

/// One length from the evidence, or why there is none.
pub fn settle(evidence: &[Evidence]) -> Result<(f64, String), String> {
    let Some((first, _)) = evidence.first() else {
        return Err("nothing in its record says how long its billing period is".into());
    };
    if evidence.iter().all(|(m, _)| (m - first).abs() < 1e-9) {
        let bases: BTreeSet<&str> = evidence.iter().map(|(_, b)| b.as_str()).collect();
        let bases: Vec<&str> = bases.into_iter().collect();
        Ok((*first, bases.join("; ")))
    } else {
        let seen: Vec<String> = evidence
            .iter()
            .map(|(m, b)| format!("{b}: {m} months"))
            .collect();
        Err(format!("its period fields disagree ({})", seen.join(", ")))
    }
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
    // `+ 0.0` turns a negative zero into zero.
    json!((c.round() / 100.0) + 0.0)
}

fn currency_of(record: &Value) -> Option<String> {
    record
        .get("currency")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn id_of(r: &Value, key: &str) -> i64 {
    r.get(key).and_then(as_int).unwrap_or(0)
}

fn is_true(r: &Value, key: &str) -> bool {
    r.get(key) == Some(&Value::Bool(true))
}

/// What billed an invoice line: a recurring invoice, a contract (a line billing one of its
/// periods), or nothing (one-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Schedule(i64),
    Contract(i64),
    OneOff,
}

fn source_of(header: &Value, line: Option<&Value>) -> Source {
    let schedule = line
        .map(|l| id_of(l, "recurring_invoice_id"))
        .filter(|r| *r > 0)
        .unwrap_or_else(|| id_of(header, "recurring_invoice_id"));
    if schedule > 0 {
        return Source::Schedule(schedule);
    }
    if let Some(l) = line {
        let contract = id_of(l, "contract_id");
        if contract > 0 && date_of(l, "startdate").is_some() && date_of(l, "enddate").is_some() {
            return Source::Contract(contract);
        }
    }
    Source::OneOff
}

/// Money of one currency (and of one client, for the per-client rows).
#[derive(Default, Clone)]
struct Buckets {
    from_schedules: i64,
    from_contracts: i64,
    recurring_invoices: usize,
    one_off: i64,
    one_off_invoices: usize,
    credits: i64,
    credit_notes: usize,
    mrr: f64,
    forecast: i64,
}

impl Buckets {
    fn recurring(&self) -> i64 {
        self.from_schedules + self.from_contracts
    }

    fn total(&self) -> i64 {
        self.recurring() + self.one_off + self.credits
    }

    fn summary(&self, forecast: bool) -> Value {
        let (rec, one) = (self.recurring() as f64, self.one_off as f64);
        let share = if rec + one > 0.0 {
            ((rec / (rec + one)) * 1000.0).round() / 1000.0
        } else {
            0.0
        };
        let mut out = json!({
            "recurring": {
                "billed": money(rec),
                "invoices": self.recurring_invoices,
                "from_recurring_invoices": money(self.from_schedules as f64),
                "from_contracts": money(self.from_contracts as f64),
                "monthly": money(self.mrr),
                "annualised": money(self.mrr * 12.0),
            },
            "non_recurring": {"total": money(one), "invoices": self.one_off_invoices},
            "credits": {"total": money(self.credits as f64), "notes": self.credit_notes},
            "total": money(self.total() as f64),
            "recurring_share": share,
        });
        if forecast {
            out["forecast_recurring_after_today"] = money(self.forecast as f64);
        }
        out
    }
}

/// A recurring source of today's run rate or of the forecast.
struct RunSource {
    client_id: i64,
    client_name: String,
    label: String,
    kind: &'static str,
    id: i64,
    net_per_period: i64,
    months: f64,
    basis: String,
    start: Option<Date>,
    end: Option<Date>,
    next: Option<Date>,
    currency: Option<String>,
}

impl RunSource {
    fn active_on(&self, day: Date) -> bool {
        self.start.is_none_or(|d| d <= day) && self.end.is_none_or(|d| d >= day)
    }

    /// Net billed by the run dates after `today` up to `until`.
    fn forecast(&self, today: Date, until: Date) -> i64 {
        let (Some(mut next), true) = (self.next, self.months.fract() == 0.0) else {
            return 0;
        };
        let step = self.months as i32;
        let mut sum = 0;
        let mut k = 0;
        while next <= until && self.end.is_none_or(|e| next <= e) && k < 1000 {
            if next > today {
                sum += self.net_per_period;
            }
            k += 1;
            next = next.add_months(step);
        }
        sum
    }
}

async fn run(ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
    let client = int_arg(&args, "client_id");
    let start = str_arg(&args, "start").and_then(Date::parse);
    let end = str_arg(&args, "end").and_then(Date::parse);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ToolError::invalid("start", "`start` is after `end`"));
    }
    let today = Date::today();
    let read = read_all(ctx, client).await?;
    let for_client = |r: &Value| client.is_none_or(|c| id_of(r, "client_id") == c);
    let invoices: Vec<&Value> = read
        .invoices
        .iter()
        .filter(|i| for_client(i) && !is_true(i, "voided"))
        .collect();

    // The period: as asked; else first to last invoice. Billing counts up to today.
    let dates: Vec<Date> = invoices
        .iter()
        .filter_map(|i| date_of(i, "invoice_date"))
        .collect();
    let from = start.or_else(|| dates.iter().min().copied());
    let to = end
        .or_else(|| start.map(|_| today))
        .or_else(|| dates.iter().max().copied());
    let period = from.zip(to);

    let mut billed = Billed::default();
    for inv in &invoices {
        billed.add_invoice(inv, period, today);
    }
    let mut recurring = Recurring::default();
    let schedules: Vec<&Value> = read.schedules.iter().filter(|s| for_client(s)).collect();
    recurring.add_schedules(&schedules, &billed);
    recurring.add_contracts(&read.contracts, client, &billed);

    // Today's run rate, and the forecast after today (never in a total).
    let forecast_until = to
        .filter(|t| *t > today)
        .map(|t| t.min(today.add_months(12)));
    billed.add_run_rates(&recurring.sources, today, forecast_until);

    let mut out = Map::new();
    out.insert("client_id".into(), json!(client));
    let asked = start.is_some() || end.is_some();
    out.insert(
        "period".into(),
        period_json(period, to.map(|t| t.min(today)), asked),
    );
    billed.totals_into(&mut out, forecast_until.is_some());
    if client.is_none() {
        out.insert("by_client".into(), billed.by_client_rows());
    }
    out.insert(
        "top_recurring".into(),
        top_recurring(&recurring.sources, today),
    );
    if !recurring.unknown.is_empty() {
        out.insert(
            "not_in_run_rate".into(),
            json!({"reason": "billing period could not be determined from Halo's data; left out of monthly, annualised and forecast rather than guessed", "items": recurring.unknown}),
        );
    }
    out.insert("records_read".into(), read.counts(&billed));
    out.insert("basis".into(), basis_json(today, forecast_until));
    Ok(Value::Object(out))
}

/// The three lists the breakdown reads, whole, and what reading them cost.
struct ReadAll {
    invoices: Vec<Value>,
    schedules: Vec<Value>,
    contracts: Vec<Value>,
    reads: [Reads; 3],
}

async fn read_all(ctx: &Ctx, client: Option<i64>) -> Result<ReadAll, ToolError> {
    let invoices_r = resource("invoices", "invoices")?;
    let recurring_r = resource("recurring_invoices", "recurring_invoices")?;
    let contracts_r = resource("contracts", "contracts")?;
    let mut by_client_q: Vec<(String, String)> = Vec::new();
    if let Some(c) = client {
        by_client_q.push(("client_id".into(), c.to_string()));
    }
    // Asked for explicitly rather than left to list defaults (GET /Invoice parameters in the
    // swagger): credit notes and invoices both, invoices of both kinds (from contracts and
    // plain), and the lines, which say what billed each amount.
    let mut invoice_q = by_client_q.clone();
    for (k, v) in [
        ("includecredits", "true"),
        ("includeinvoices", "true"),
        ("rinvoice_type", "both"),
        ("includelines", "true"),
    ] {
        invoice_q.push((k.into(), v.into()));
    }
    let mut pages = Pages::new(ctx, 3);
    let mut reads: [Reads; 3] = Default::default();
    let [inv_reads, rec_reads, con_reads] = &mut reads;
    let invoices = pages.all(invoices_r, &invoice_q, inv_reads).await?;
    let schedules = pages.all(recurring_r, &invoice_q, rec_reads).await?;
    let contracts = pages.all(contracts_r, &by_client_q, con_reads).await?;
    Ok(ReadAll {
        invoices,
        schedules,
        contracts,
        reads,
    })
}

impl ReadAll {
    fn counts(&self, billed: &Billed) -> Value {
        let [inv, rec, con] = &self.reads;
        json!({
            "invoices": inv.records, "invoices_in_period": billed.in_period,
            "invoices_dated_after_today": billed.after_today, "invoices_without_date": billed.undated,
            "recurring_invoices": rec.records, "contracts": con.records,
            "requests": inv.requests + rec.requests + con.requests,
        })
    }
}

/// What the invoices showed: money per currency and per client, and what each schedule and
/// contract billed (dates and line spans, for their period lengths).
#[derive(Default)]
struct Billed {
    runs: HashMap<Source, BTreeSet<Date>>,
    spans: HashMap<Source, Vec<Evidence>>,
    by_currency: BTreeMap<String, Buckets>,
    by_client: BTreeMap<i64, (String, Buckets)>,
    contract_currency: HashMap<i64, String>,
    in_period: usize,
    after_today: usize,
    undated: usize,
}

impl Billed {
    fn add_invoice(&mut self, inv: &Value, period: Option<(Date, Date)>, today: Date) {
        let date = date_of(inv, "invoice_date");
        let lines: Vec<&Value> = inv
            .get("lines")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let currency = currency_of(inv);
        self.learn_from_lines(inv, &lines, date, &currency);
        let Some(d) = date else {
            self.undated += 1;
            return;
        };
        if d > today {
            self.after_today += 1;
            return;
        }
        if period.is_some_and(|(a, b)| d < a || d > b) {
            return;
        }
        let Some(net) = net_cents(inv) else { return };
        self.in_period += 1;
        let client_id = id_of(inv, "client_id");
        let client_name = inv["client_name"].as_str().unwrap_or("").to_owned();
        // Split the invoice by what billed each line (a header without lines: by the header).
        let mut parts: Vec<(Source, i64)> = Vec::new();
        if lines.is_empty() || net < 0 {
            parts.push((source_of(inv, None), net));
        } else {
            for l in &lines {
                parts.push((
                    source_of(inv, Some(l)),
                    cents(l.get("net_amount")).unwrap_or(0),
                ));
            }
        }
        for b in [
            self.by_currency
                .entry(currency.unwrap_or_else(|| "unknown".into()))
                .or_default(),
            &mut self
                .by_client
                .entry(client_id)
                .or_insert_with(|| (client_name, Buckets::default()))
                .1,
        ] {
            b.add_invoice(net, &parts);
        }
    }

    /// The run dates and line spans of each schedule and contract an invoice's lines name,
    /// whatever the invoice's date: they tell the length of its billing period.
    fn learn_from_lines(
        &mut self,
        inv: &Value,
        lines: &[&Value],
        date: Option<Date>,
        currency: &Option<String>,
    ) {
        for l in lines {
            let src = source_of(inv, Some(l));
            if src == Source::OneOff {
                continue;
            }
            if let Some(d) = date {
                self.runs.entry(src).or_default().insert(d);
            }
            if let Some(m) = line_span(l) {
                self.spans
                    .entry(src)
                    .or_default()
                    .push((f64::from(m), "the periods its invoices bill".into()));
            }
            if let (Source::Contract(c), Some(cur)) = (src, currency) {
                self.contract_currency.insert(c, cur.clone());
            }
        }
    }

    /// What a schedule's or contract's invoices say of its period: the spans its lines bill,
    /// and the months between its invoices when they are evenly spaced.
    fn history(&self, src: Source) -> Vec<Evidence> {
        let mut ev = self.spans.get(&src).cloned().unwrap_or_default();
        if let Some(dates) = self.runs.get(&src) {
            let dates: Vec<Date> = dates.iter().copied().collect();
            let gaps: BTreeSet<Option<u32>> = dates
                .windows(2)
                .map(|w| w[0].whole_months_to(w[1]))
                .collect();
            if let (1, Some(Some(m))) = (gaps.len(), gaps.first()) {
                ev.push((f64::from(*m), "the dates of its invoices".into()));
            }
        }
        ev
    }

    fn add_run_rates(&mut self, sources: &[RunSource], today: Date, forecast_until: Option<Date>) {
        for s in sources {
            let currency = s.currency.clone().unwrap_or_else(|| "unknown".into());
            let monthly = if s.active_on(today) {
                s.net_per_period as f64 / s.months
            } else {
                0.0
            };
            let forecast = forecast_until.map_or(0, |u| s.forecast(today, u));
            for b in [
                self.by_currency.entry(currency).or_default(),
                &mut self
                    .by_client
                    .entry(s.client_id)
                    .or_insert_with(|| (s.client_name.clone(), Buckets::default()))
                    .1,
            ] {
                b.mrr += monthly;
                b.forecast += forecast;
            }
        }
    }

    /// The totals at the top level when there is one currency, else under `by_currency`.
    fn totals_into(&self, out: &mut Map<String, Value>, forecasting: bool) {
        if self.by_currency.len() <= 1 {
            let (currency, b) = self
                .by_currency
                .iter()
                .next()
                .map(|(c, b)| (c.clone(), b.summary(forecasting)))
                .unwrap_or_else(|| ("unknown".into(), Buckets::default().summary(forecasting)));
            out.insert("currency".into(), json!(currency));
            if let Value::Object(m) = b {
                out.extend(m);
            }
        } else {
            let per: Map<String, Value> = self
                .by_currency
                .iter()
                .map(|(c, b)| (c.clone(), b.summary(forecasting)))
                .collect();
            out.insert("by_currency".into(), Value::Object(per));
        }
    }

    /// One row per client, largest total first.
    fn by_client_rows(&self) -> Value {
        let mut rows: Vec<(i64, Value)> = self
            .by_client
            .iter()
            .map(|(id, (name, b))| {
                (
                    b.total(),
                    json!({
                        "client_id": id, "client_name": name,
                        "recurring": money(b.recurring() as f64),
                        "non_recurring": money(b.one_off as f64),
                        "credits": money(b.credits as f64),
                        "total": money(b.total() as f64),
                        "recurring_monthly": money(b.mrr),
                    }),
                )
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        Value::Array(rows.into_iter().map(|(_, v)| v).collect())
    }
}

impl Buckets {
    /// One invoice in the period, split into its parts by what billed them.
    fn add_invoice(&mut self, net: i64, parts: &[(Source, i64)]) {
        if net < 0 {
            self.credits += net;
            self.credit_notes += 1;
            return;
        }
        let (mut recurring, mut one_off) = (false, false);
        for (src, amount) in parts {
            match src {
                Source::Schedule(_) => {
                    self.from_schedules += amount;
                    recurring = true;
                }
                Source::Contract(_) => {
                    self.from_contracts += amount;
                    recurring = true;
                }
                Source::OneOff => {
                    self.one_off += amount;
                    one_off = true;
                }
            }
        }
        self.recurring_invoices += usize::from(recurring);
        self.one_off_invoices += usize::from(one_off || !recurring);
    }
}

/// What bills regularly: recurring invoices, and contracts billed without one, each with its
/// period length; those whose length cannot be told go to `unknown`, never guessed.
#[derive(Default)]
struct Recurring {
    sources: Vec<RunSource>,
    unknown: Vec<Value>,
    /// Each recurring invoice's contract and period length, for learning contracts' codes.
    schedule_months: Vec<(i64, Option<f64>)>,
    /// Contracts billed by a recurring invoice (counted there, not again as contracts).
    billed_contracts: HashSet<i64>,
}

impl Recurring {
    fn add_schedules(&mut self, schedules: &[&Value], billed: &Billed) {
        let mut pending: Vec<(RunSource, String, (i64, i64))> = Vec::new();
        let mut learned: HashMap<(i64, i64), BTreeSet<u64>> = HashMap::new();
        for s in schedules {
            let contract = id_of(s, "contract_id");
            if contract > 0 {
                self.billed_contracts.insert(contract);
            }
            let src = schedule_source(s);
            let mut ev = own_evidence(s);
            ev.extend(billed.history(Source::Schedule(src.id)));
            let code = (id_of(s, "period"), id_of(s, "period_type"));
            let disabled = is_true(s, "disabled");
            match settle(&ev) {
                Ok((m, basis)) => {
                    learned.entry(code).or_default().insert(m.to_bits());
                    self.schedule_months.push((contract, Some(m)));
                    if !disabled {
                        self.sources.push(RunSource {
                            months: m,
                            basis,
                            ..src
                        });
                    }
                }
                Err(why) => {
                    self.schedule_months.push((contract, None));
                    if !disabled {
                        pending.push((src, why, code));
                    }
                }
            }
        }
        // Codes learned: a schedule without its own evidence takes the length other
        // schedules with the same period code have, when they all agree.
        for (src, why, code) in pending {
            match learned.get(&code).filter(|m| m.len() == 1).and_then(|m| m.first()) {
                Some(bits) => self.sources.push(RunSource {
                    months: f64::from_bits(*bits),
                    basis: format!(
                        "period {} / period_type {} has this length on the tenant's other recurring invoices",
                        code.0, code.1
                    ),
                    ..src
                }),
                None => self.unknown.push(json!({
                    "recurring_invoice_id": src.id, "client": src.client_name, "name": src.label,
                    "net_per_period": money(src.net_per_period as f64),
                    "why": format!("{why}, and period {} / period_type {} is not used by a recurring invoice whose length is known", code.0, code.1),
                })),
            }
        }
    }

    /// Contracts billed without a recurring invoice. `contracts` is every contract read (the
    /// codes are learned from all of them); only the asked client's are added.
    fn add_contracts(&mut self, contracts: &[Value], client: Option<i64>, billed: &Billed) {
        // Contract codes: learned from contracts whose recurring invoice's length is known.
        let contract_code: HashMap<i64, i64> = contracts
            .iter()
            .map(|c| (id_of(c, "id"), id_of(c, "billingperiod")))
            .collect();
        let mut contract_learned: HashMap<i64, BTreeSet<u64>> = HashMap::new();
        for (contract, months) in &self.schedule_months {
            if let (Some(code), Some(m)) = (contract_code.get(contract), months) {
                contract_learned
                    .entry(*code)
                    .or_default()
                    .insert(m.to_bits());
            }
        }
        let for_client = |r: &Value| client.is_none_or(|c| id_of(r, "client_id") == c);
        for c in contracts.iter().filter(|c| for_client(c)) {
            let id = id_of(c, "id");
            if self.billed_contracts.contains(&id) || c.get("active") == Some(&Value::Bool(false)) {
                continue;
            }
            let Some(charge) = cents(c.get("periodchargeamount")).filter(|a| *a != 0) else {
                continue;
            };
            let mut ev = own_evidence(c);
            ev.extend(billed.history(Source::Contract(id)));
            let code = id_of(c, "billingperiod");
            let settled = settle(&ev).or_else(|why| {
                match contract_learned
                    .get(&code)
                    .filter(|m| m.len() == 1)
                    .and_then(|m| m.first())
                {
                    Some(bits) => Ok((
                        f64::from_bits(*bits),
                        format!("billingperiod {code} has this length on contracts billed by recurring invoices"),
                    )),
                    None => Err(format!(
                        "{why}, and billingperiod {code} is not used by a contract whose length is known"
                    )),
                }
            });
            match settled {
                Ok((months, basis)) => self.sources.push(RunSource {
                    months,
                    basis,
                    currency: currency_of(c).or_else(|| billed.contract_currency.get(&id).cloned()),
                    ..contract_source(c, charge)
                }),
                Err(why) => self.unknown.push(json!({
                    "contract_id": id, "client": c["client_name"].as_str().unwrap_or(""),
                    "name": c["ref"].as_str().unwrap_or("contract"),
                    "net_per_period": money(charge as f64), "why": why,
                })),
            }
        }
    }
}

/// A recurring invoice as a billing source, its period length not yet known.
fn schedule_source(s: &Value) -> RunSource {
    RunSource {
        client_id: id_of(s, "client_id"),
        client_name: s["client_name"].as_str().unwrap_or("").to_owned(),
        label: s
            .get("notes_1")
            .or_else(|| s.get("contract_ref"))
            .and_then(Value::as_str)
            .unwrap_or("recurring invoice")
            .to_owned(),
        kind: "recurring_invoice",
        id: id_of(s, "id"),
        net_per_period: net_cents(s).unwrap_or(0),
        months: 0.0,
        basis: String::new(),
        start: date_of(s, "startdate"),
        end: date_of(s, "enddate"),
        next: date_of(s, "nextcreationdate"),
        currency: currency_of(s),
    }
}

/// A contract billed without a recurring invoice, its period length not yet known.
fn contract_source(c: &Value, charge: i64) -> RunSource {
    RunSource {
        client_id: id_of(c, "client_id"),
        client_name: c["client_name"].as_str().unwrap_or("").to_owned(),
        label: c["ref"].as_str().unwrap_or("contract").to_owned(),
        kind: "contract",
        id: id_of(c, "id"),
        net_per_period: charge,
        months: 0.0,
        basis: String::new(),
        start: date_of(c, "start_date"),
        end: date_of(c, "end_date"),
        next: date_of(c, "next_invoice_date").or_else(|| date_of(c, "periodicinvoicenextdate")),
        currency: currency_of(c),
    }
}

fn period_json(period: Option<(Date, Date)>, billed_to: Option<Date>, asked: bool) -> Value {
    match (period, billed_to) {
        (Some((a, b)), Some(t)) => json!({
            "start": a.to_iso(),
            "end": b.to_iso(),
            "billed_through": if t < a { Value::Null } else { json!(t.to_iso()) },
            "basis": if asked { "as asked" } else { "first to last invoice" },
        }),
        _ => Value::Null,
    }
}

/// The ten largest recurring sources active today, by monthly amount.
fn top_recurring(sources: &[RunSource], today: Date) -> Value {
    let mut s: Vec<&RunSource> = sources.iter().filter(|s| s.active_on(today)).collect();
    s.sort_by(|a, b| {
        (b.net_per_period as f64 / b.months).total_cmp(&(a.net_per_period as f64 / a.months))
    });
    Value::Array(
        s.iter()
            .take(10)
            .map(|r| {
                json!({
                    "client": r.client_name, "name": r.label, "source": r.kind, "id": r.id,
                    "monthly": money(r.net_per_period as f64 / r.months),
                    "period_months": r.months, "period_from": r.basis,
                })
            })
            .collect(),
    )
}

/// How each figure was reached, for the reader to check.
fn basis_json(today: Date, forecast_until: Option<Date>) -> Value {
    let mut basis = json!({
        "billed": "Sums of invoices (GET /Invoice, credits and invoices of both types asked for explicitly) dated in the period and not after today; voided invoices left out; amounts net of tax (line net amounts, else total minus tax_total). The dates are applied here to invoice_date, not sent to Halo: the swagger types invoicedatestart/invoicedateend as booleans, so they are not relied on as filters.",
        "recurring": "Invoice lines billed by a recurring invoice (recurring_invoice_id on the header or line) or by a contract (a line with a contract_id and the period it bills); the rest is non_recurring.",
        "credits": "Invoices with a negative net (credit notes), shown apart and subtracted in total. Halo's credit-note type code is undocumented, so the sign decides.",
        "total": "recurring.billed + non_recurring.total + credits.total: money billed, nothing projected.",
        "monthly": format!("Run rate on {}: each recurring invoice and each contract billed without one, active that day, net per billing period ÷ months per period. annualised = monthly × 12.", today.to_iso()),
        "period_lengths": "Halo's period codes are undocumented, so a period's length comes from the records (period name, lastcreated → nextcreationdate, billed line spans, invoice dates) or from the same code on other records; see top_recurring[].period_from.",
        "currency": "From the invoices' and recurring invoices' `currency` field.",
    });
    if let Some(u) = forecast_until {
        basis["forecast_recurring_after_today"] = json!(format!(
            "Forecast, not billed and in no total: what active recurring invoices and contracts would bill on their next run dates after {} up to {} (the period's end, at most 12 months ahead).",
            today.to_iso(),
            u.to_iso()
        ));
    }
    basis
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn dates_and_months() {
        assert_eq!(Date::parse("1900-01-01T00:00:00"), None);
        assert_eq!(Date::parse("2025-02-30"), None);
        assert_eq!(
            civil_from_days(d("2026-11-21").days_since_epoch()),
            d("2026-11-21")
        );
        assert_eq!(d("2026-01-31").add_months(1), d("2026-02-28"));
        assert_eq!(d("2025-11-01").add_months(-12), d("2024-11-01"));
        assert_eq!(d("2026-01-01").whole_months_to(d("2026-04-01")), Some(3));
        assert_eq!(d("2026-01-31").whole_months_to(d("2026-02-28")), Some(1));
        assert_eq!(d("2026-01-01").whole_months_to(d("2026-04-02")), None);
        assert_eq!(d("2026-01-01").whole_months_to(d("2026-01-01")), None);
    }

    #[test]
    fn billing_periods_come_from_the_records() {
        assert_eq!(named_period_months("Quarterly"), Some(3.0));
        assert_eq!(named_period_months("Six-Monthly"), Some(6.0));
        assert_eq!(named_period_months("every 4 months"), Some(4.0));
        assert_eq!(named_period_months("whenever"), None);
        // The number alone says nothing.
        let coded = json!({"period": 12, "period_type": 0, "periodname": ""});
        assert!(settle(&own_evidence(&coded)).is_err());
        let dated = json!({"period": 3, "lastcreated": "2026-01-01T00:00:00",
            "nextcreationdate": "2026-04-01T00:00:00",
            "lines": [{"startdate": "2026-01-01T00:00:00", "enddate": "2026-03-31T00:00:00"}]});
        assert_eq!(settle(&own_evidence(&dated)).map(|m| m.0), Ok(3.0));
        let clash = json!({"periodname": "Monthly", "lastcreated": "2026-01-01T00:00:00",
            "nextcreationdate": "2027-01-01T00:00:00"});
        assert!(
            settle(&own_evidence(&clash))
                .unwrap_err()
                .contains("disagree")
        );
    }

    #[test]
    fn what_billed_a_line() {
        let inv = json!({"recurring_invoice_id": 0});
        let contract_line = json!({"contract_id": 311, "recurring_invoice_id": 0,
            "startdate": "2026-01-01T00:00:00", "enddate": "2026-01-31T00:00:00"});
        assert_eq!(source_of(&inv, Some(&contract_line)), Source::Contract(311));
        let labour = json!({"contract_id": 301, "startdate": "1900-01-01T00:00:00"});
        assert_eq!(source_of(&inv, Some(&labour)), Source::OneOff);
        let from_schedule = json!({"recurring_invoice_id": 704});
        assert_eq!(source_of(&from_schedule, None), Source::Schedule(704));
        assert_eq!(money(-0.0), json!(0.0));
    }

    #[test]
    fn nets_in_cents() {
        let inv = json!({"total": 270.0, "tax_total": 45.0, "lines": [{"net_amount": 225.0}]});
        assert_eq!(net_cents(&inv), Some(22_500));
        let inv = json!({"total": -120.0, "tax_total": -20.0});
        assert_eq!(net_cents(&inv), Some(-10_000));
    }
}
