//! Revenue and overview figures checked against answers computed here, independently, from the
//! simulator's records (its `/Invoice`, `/ClientContract`, `/Tickets` and `/Actions` rows), not
//! through the tools' code. The simulator's data is placed relative to today, so these are the
//! figures a demo shows now.
//!
//! The independent route: invoices are classed by their header (the simulator's contract
//! billing always carries the contract on the header, one-off invoices carry `contract_id`
//! -1), while the tool classes lines; contracts' run rate comes from `billing_period_string`
//! on the full contract record, which the tool does not read; the forecast steps each active
//! contract's `next_invoice_date` by that period.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::common::Harness;

type Ymd = (i64, u32, u32);

fn civil(days: i64) -> Ymd {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn today() -> Ymd {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    civil((secs / 86_400) as i64)
}

fn iso((y, m, d): Ymd) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

fn ymd(s: &str) -> Option<Ymd> {
    let y = s.get(0..4)?.parse().ok()?;
    let m = s.get(5..7)?.parse().ok()?;
    let d = s.get(8..10)?.parse().ok()?;
    (y > 1900).then_some((y, m, d))
}

fn add_months((y, m, d): Ymd, k: i64) -> Ymd {
    let t = y * 12 + i64::from(m) - 1 + k;
    (t.div_euclid(12), t.rem_euclid(12) as u32 + 1, d)
}

fn days_in((y, m, _): Ymd) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn pence(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 100.0).round() as i64
}

fn money(v: &Value) -> i64 {
    pence(v)
}

fn months_named(name: &str) -> i64 {
    match name {
        "Monthly" => 1,
        "Quarterly" => 3,
        "Six Monthly" => 6,
        "Annually" => 12,
        other => panic!("unexpected period {other}"),
    }
}

/// Billed money of a period, by the simulator's records.
#[derive(Debug, Default, Clone, PartialEq)]
struct Billed {
    recurring: i64,
    recurring_invoices: usize,
    one_off: i64,
    one_off_invoices: usize,
    credits: i64,
    credit_notes: usize,
}

impl Billed {
    fn total(&self) -> i64 {
        self.recurring + self.one_off + self.credits
    }
}

fn billed(invoices: &[Value], from: Ymd, to: Ymd, client: Option<i64>) -> Billed {
    let mut b = Billed::default();
    let to = to.min(today());
    for inv in invoices {
        let date = ymd(inv["invoice_date"].as_str().unwrap()).unwrap();
        if date < from || date > to || inv["voided"] == true {
            continue;
        }
        if client.is_some_and(|c| inv["client_id"].as_i64() != Some(c)) {
            continue;
        }
        let net = pence(&inv["total"]) - pence(&inv["tax_total"]);
        if net < 0 {
            b.credits += net;
            b.credit_notes += 1;
        } else if inv["contract_id"].as_i64().unwrap() > 0 {
            b.recurring += net;
            b.recurring_invoices += 1;
        } else {
            b.one_off += net;
            b.one_off_invoices += 1;
        }
    }
    b
}

/// Today's monthly run rate (in pence, fractional) and the forecast after today up to `until`,
/// from the contracts' own terms.
fn run_rate(contracts: &[Value], until: Option<Ymd>, client: Option<i64>) -> (f64, i64) {
    let t = today();
    let (mut mrr, mut forecast) = (0.0, 0);
    for c in contracts {
        let start = ymd(c["start_date"].as_str().unwrap()).unwrap();
        let end = ymd(c["end_date"].as_str().unwrap()).unwrap();
        if c["active"] != true || start > t || end < t {
            continue;
        }
        if client.is_some_and(|id| c["client_id"].as_i64() != Some(id)) {
            continue;
        }
        let months = months_named(c["billing_period_string"].as_str().unwrap());
        let charge = pence(&c["periodchargeamount"]);
        mrr += charge as f64 / months as f64;
        if let Some(u) = until {
            let mut next = ymd(c["next_invoice_date"].as_str().unwrap()).unwrap();
            while next <= u.min(add_months(t, 12)) && next <= end {
                if next > t {
                    forecast += charge;
                }
                next = add_months(next, months);
            }
        }
    }
    (mrr, forecast)
}

fn check(r: &Value, want: &Billed, what: &str) {
    assert_eq!(r["currency"], "GBP", "{what}");
    assert_eq!(money(&r["recurring"]["billed"]), want.recurring, "{what}");
    assert_eq!(
        r["recurring"]["invoices"], want.recurring_invoices,
        "{what}"
    );
    assert_eq!(
        money(&r["recurring"]["from_recurring_invoices"])
            + money(&r["recurring"]["from_contracts"]),
        want.recurring,
        "{what}"
    );
    assert_eq!(money(&r["non_recurring"]["total"]), want.one_off, "{what}");
    assert_eq!(
        r["non_recurring"]["invoices"], want.one_off_invoices,
        "{what}"
    );
    assert_eq!(money(&r["credits"]["total"]), want.credits, "{what}");
    assert_eq!(r["credits"]["notes"], want.credit_notes, "{what}");
    assert_eq!(money(&r["total"]), want.total(), "{what}");
}

/// All time, the last full year and this month: billed figures, run rate and forecast.
#[tokio::test]
async fn revenue_is_money_billed() {
    let h = Harness::start().await;
    let t = today();
    let invoices = h.sim.records("Invoice");
    // Full contract records (the list rows need not carry billing_period_string).
    let contracts: Vec<Value> = h
        .sim
        .records("ClientContract")
        .iter()
        .map(|c| {
            h.sim
                .record("ClientContract", c["id"].as_i64().unwrap())
                .unwrap()
        })
        .collect();
    h.navigate("invoices").await;
    let this_month = ((t.0, t.1, 1), (t.0, t.1, days_in(t)));
    let last_year = ((t.0 - 1, 1, 1), (t.0 - 1, 12, 31));
    let all_time = ((2000, 1, 1), (2099, 12, 31));
    let this_year = ((t.0, 1, 1), (t.0, 12, 31));
    let mut figures = Vec::new();
    for (label, (from, to)) in [
        ("all time", all_time),
        ("last full year", last_year),
        ("this year", this_year),
        ("this month", this_month),
    ] {
        let r = h
            .ok(
                "halo_revenue_breakdown",
                json!({"start": iso(from), "end": iso(to)}),
            )
            .await;
        assert_eq!(today(), t, "the day changed during the test; run it again");
        let what = format!("{label}: {r}");
        let want = billed(&invoices, from, to, None);
        check(&r, &want, &what);
        let (mrr, forecast) = run_rate(&contracts, (to > t).then_some(to), None);
        assert_eq!(
            money(&r["recurring"]["monthly"]),
            mrr.round() as i64,
            "{what}"
        );
        assert_eq!(
            money(&r["recurring"]["annualised"]),
            (mrr * 12.0).round() as i64,
            "{what}"
        );
        if to > t {
            assert_eq!(
                money(&r["forecast_recurring_after_today"]),
                forecast,
                "{what}"
            );
            assert_eq!(r["period"]["billed_through"], iso(t), "{what}");
        } else {
            assert!(r.get("forecast_recurring_after_today").is_none(), "{what}");
        }
        // The recurring invoice awaiting its first run has a period nobody can tell.
        let unknown = r["not_in_run_rate"]["items"].as_array().unwrap();
        assert_eq!(unknown.len(), 1, "{what}");
        assert_eq!(unknown[0]["recurring_invoice_id"], 710, "{what}");
        // Per-client rows: the same split, adding up to the headline.
        let rows = r["by_client"].as_array().unwrap();
        let sum: i64 = rows.iter().map(|c| money(&c["total"])).sum();
        assert_eq!(sum, want.total(), "{what}");
        let monthly: i64 = rows.iter().map(|c| money(&c["recurring_monthly"])).sum();
        assert!(
            (monthly - mrr.round() as i64).abs() <= rows.len() as i64,
            "{what}"
        );
        for row in rows {
            let id = row["client_id"].as_i64().unwrap();
            let mine = billed(&invoices, from, to, Some(id));
            assert_eq!(
                money(&row["recurring"]),
                mine.recurring,
                "{what} client {id}"
            );
            assert_eq!(
                money(&row["non_recurring"]),
                mine.one_off,
                "{what} client {id}"
            );
            assert_eq!(money(&row["credits"]), mine.credits, "{what} client {id}");
            assert_eq!(money(&row["total"]), mine.total(), "{what} client {id}");
            let (client_mrr, _) = run_rate(&contracts, None, Some(id));
            assert_eq!(money(&row["recurring_monthly"]), client_mrr.round() as i64);
        }
        figures.push(format!(
            "{label} {}..{}: recurring billed {} + one-off {} + credits {} = total {}; MRR {}; forecast after today {}",
            iso(from),
            iso(to),
            r["recurring"]["billed"],
            r["non_recurring"]["total"],
            r["credits"]["total"],
            r["total"],
            r["recurring"]["monthly"],
            r.get("forecast_recurring_after_today").unwrap_or(&json!("none")),
        ));
    }
    eprintln!("{}", figures.join("\n"));

    // All time is what the tenant ever invoiced up to today, net, nothing projected.
    let r = h
        .ok(
            "halo_revenue_breakdown",
            json!({"start": "2000-01-01", "end": "2099-12-31"}),
        )
        .await;
    let invoiced: i64 = invoices
        .iter()
        .filter(|i| ymd(i["invoice_date"].as_str().unwrap()).unwrap() <= t)
        .map(|i| pence(&i["total"]) - pence(&i["tax_total"]))
        .sum();
    assert_eq!(money(&r["total"]), invoiced);
    // Recurring billed all time agrees with the contracts' own terms: one charge per period
    // begun by today.
    let mut by_terms = 0;
    for c in &contracts {
        let start = ymd(c["start_date"].as_str().unwrap()).unwrap();
        let end = ymd(c["end_date"].as_str().unwrap()).unwrap();
        let months = months_named(c["billing_period_string"].as_str().unwrap());
        let mut d = start;
        while d <= t && d <= end {
            by_terms += pence(&c["periodchargeamount"]);
            d = add_months(d, months);
        }
    }
    assert_eq!(money(&r["recurring"]["billed"]), by_terms);

    // One client, last full year, and no range at all (first to last invoice).
    let (from, to) = last_year;
    let r = h
        .ok(
            "halo_revenue_breakdown",
            json!({"client_id": 11, "start": iso(from), "end": iso(to)}),
        )
        .await;
    check(
        &r,
        &billed(&invoices, from, to, Some(11)),
        &format!("client 11: {r}"),
    );
    assert!(r.get("by_client").is_none());
    let r = h.ok("halo_revenue_breakdown", json!({})).await;
    check(
        &r,
        &billed(&invoices, (1900, 1, 1), (9999, 1, 1), None),
        &format!("no range: {r}"),
    );
    assert_eq!(r["period"]["basis"], "first to last invoice");

    // Halo is asked for credits, both invoice types and lines, not left to list defaults.
    let asked: Vec<String> = h
        .sim
        .requests()
        .iter()
        .filter(|q| q.path.eq_ignore_ascii_case("/api/Invoice"))
        .map(|q| q.query.to_ascii_lowercase())
        .collect();
    assert!(!asked.is_empty());
    for q in asked {
        for p in [
            "includecredits=true",
            "includeinvoices=true",
            "includelines=true",
        ] {
            assert!(q.contains(p), "{q} lacks {p}");
        }
    }
}

/// Billing periods come from the records: the schedule without a period name is read from its
/// dates, the contract billed by itself from the codes its peers use, the unknowable one is
/// named and left out.
#[tokio::test]
async fn billing_periods_are_read_from_halos_data() {
    let h = Harness::start().await;
    h.navigate("invoices").await;
    let r = h.ok("halo_revenue_breakdown", json!({})).await;
    let top = r["top_recurring"].as_array().unwrap();
    let find = |kind: &str, id: i64| {
        top.iter()
            .find(|s| s["source"] == kind && s["id"] == id)
            .unwrap_or_else(|| panic!("{kind} {id} missing: {r}"))
    };
    // MVG-MSA (recurring invoice 704): quarterly, no period name.
    let mvg = find("recurring_invoice", 704);
    assert_eq!(mvg["period_months"], 3.0);
    assert!(
        !mvg["period_from"].as_str().unwrap().contains("periodname"),
        "{mvg}"
    );
    assert_eq!(money(&mvg["monthly"]), 130_000);
    // CPA-VOIP (contract 311), billed by itself monthly: £180.
    let voip = find("contract", 311);
    assert_eq!(voip["period_months"], 1.0);
    assert_eq!(money(&voip["monthly"]), 18_000);
    assert!(
        r["not_in_run_rate"]["items"][0]["why"]
            .as_str()
            .unwrap()
            .contains("period 8"),
        "{r}"
    );
    // The contract overview reads the period the same way.
    h.navigate("contracts").await;
    let c = h.ok("halo_contracts_overview", json!({"id": 304})).await;
    assert_eq!(money(&c["monthly_value"]), 130_000, "{c}");
    assert_eq!(c["billing"][0]["period_months"], 3.0, "{c}");
}

fn hours_of(v: &Value) -> f64 {
    let h = v.as_f64().unwrap();
    assert!(!(h == 0.0 && h.is_sign_negative()), "-0.0 in {v}");
    h
}

/// Overviews: every figure agrees with the records it summarises.
#[tokio::test]
async fn overview_figures_agree_with_their_records() {
    let h = Harness::start().await;
    let tickets = h.sim.records("Tickets");
    let actions = h.sim.records("Actions");
    let open_of = |client: i64| -> BTreeMap<i64, Value> {
        tickets
            .iter()
            .filter(|t| {
                t["client_id"].as_i64() == Some(client)
                    && t["status_id"].as_i64() != Some(9)
                    && t["deleted"] != true
                    && t["is_project"] != true
                    && t["is_opportunity"] != true
            })
            .map(|t| (t["id"].as_i64().unwrap(), t.clone()))
            .collect()
    };
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for client in [11, 12, 13] {
        h.navigate("clients").await;
        let r = h.ok("halo_clients_overview", json!({"id": client})).await;
        let listed: Vec<i64> = r["open_tickets"]["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        let open = open_of(client);
        assert_eq!(r["open_tickets"]["count"], listed.len(), "{r}");
        assert_eq!(listed.len(), open.len(), "{r}");
        assert!(listed.iter().all(|id| open.contains_key(id)), "{r}");
        assert!(r["client"].get("open_ticket_count").is_none(), "{r}");
        assert!(!r.to_string().contains("-0.0"), "{r}");

        h.navigate("tickets").await;
        for id in listed {
            let r = h
                .ok("halo_tickets_overview", json!({"id": id, "actions": 1}))
                .await;
            let mine: Vec<&Value> = actions.iter().filter(|a| a["ticket_id"] == id).collect();
            let hours: f64 = mine
                .iter()
                .map(|a| a["timetaken"].as_f64().unwrap_or(0.0))
                .sum();
            let billable: f64 = mine
                .iter()
                .filter(|a| a["actisbillable"] == true)
                .map(|a| a["timetaken"].as_f64().unwrap_or(0.0))
                .sum();
            assert!((hours_of(&r["time"]["hours"]) - hours).abs() < 0.006, "{r}");
            assert!(
                (hours_of(&r["time"]["billable_hours"]) - billable).abs() < 0.006,
                "{r}"
            );
            assert_eq!(r["actions"]["total"], mine.len());
            assert!(!r.to_string().contains("-0.0"), "{r}");
            assert!(r["ticket"].get("slapercused").is_none(), "{r}");
            let state = r["sla"]["state"].as_str().unwrap().to_owned();
            if let Some(p) = r["sla"]["percent_used"].as_f64() {
                assert!(!(p == 0.0 && p.is_sign_negative()), "{r}");
                let breached = state == "fix target breached";
                let paused = state.starts_with("on hold") || state.starts_with("excluded");
                assert_eq!(breached, p > 100.0 && !paused, "{r}");
            }
            *states.entry(state).or_default() += 1;
        }
    }
    eprintln!("SLA states of the open tickets of clients 11-13: {states:?}");
    // The demo lives in the present: open tickets are not all past their targets.
    let breached = states.get("fix target breached").copied().unwrap_or(0);
    let total: usize = states.values().sum();
    assert!(breached < total, "every open ticket breached: {states:?}");

    // Contracts: the monthly value is the charge over the period the contract states.
    h.navigate("contracts").await;
    for c in h.sim.records("ClientContract") {
        let id = c["id"].as_i64().unwrap();
        let full = h.sim.record("ClientContract", id).unwrap();
        let r = h.ok("halo_contracts_overview", json!({"id": id})).await;
        let months = months_named(full["billing_period_string"].as_str().unwrap());
        let want = (pence(&full["periodchargeamount"]) as f64 / months as f64).round() as i64;
        assert_eq!(money(&r["monthly_value"]), want, "{r}");
        assert!(!r.to_string().contains("-0.0"), "{r}");
    }
    h.navigate("assets").await;
    for id in [1001, 1002, 1072] {
        let r = h.ok("halo_assets_overview", json!({"id": id})).await;
        assert!(!r.to_string().contains("-0.0"), "{r}");
    }
}
