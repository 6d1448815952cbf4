//! The seeded tenant: "Kestrel Bay Technology", a fictional UK MSP, and its customers.
//!
//! Why it looks like this: tests must mean something, so the data has the mess a real Halo
//! tenant has (near-duplicate users and assets, inactive rows, soft-deleted tickets, sentinel
//! dates, double-typed ids) and enough volume to exercise paging (230 tickets > 2 pages of 100).
//!
//! Determinism: everything is drawn from [`Prng`] seeded with `SimConfig::seed`, and every
//! date is relative to the "seed day" ([`seed_now`]: 17:00 UTC the day before
//! `SimConfig::today`, which defaults to the current UTC date), never the wall clock's time of
//! day, so the same seed on the same day gives byte-identical data, and a demo always looks
//! current. The random stream does not depend on the day, so ids are the same on any day.
//! Dates fixed in the layout (contract terms, the twelve months of one-off invoices) are
//! moved by whole months with the seed day, keeping their place relative to it; the dates
//! quoted below are those of the layout day, `today` = 2026-04-01 ([`LAYOUT_TODAY`], what
//! the data's unit tests pin). Only records created at runtime carry real timestamps.
//!
//! Company names: the names below are those of the default seed ([`DEFAULT_SEED`]); any other
//! seed gives the seven companies other names and codes (`names` module), everything else
//! staying as described.
//!
//! Ids use a separate range per table (clients 11–17, sites 18–33, users 101–, agents 2–11,
//! assets 1001–, tickets 4001–, contracts 301–, recurring invoices 701–, invoices 5001–), so a
//! client that passes a client id where a site id belongs finds nothing instead of something.
//!
//! # Money (all GBP, exact to the penny)
//! Amounts are computed in whole pence and written as pounds (`2450.0`, `162.5`).
//! * Every invoice line: `net_amount = qty_order × unit_price`; unit prices are whole pounds and
//!   quantities whole or half units, so nets are multiples of 50p; `tax_amount = net × 20%`
//!   (UK VAT, `tax_rate: 20.0`), exact because nets are multiples of 50p.
//! * Invoice header: `tax_total = Σ tax_amount`, `total = Σ net_amount + tax_total` (gross),
//!   `amountdue = total − amountpaid`. `paymentstatus`: 0 unpaid, 1 partially paid (exactly
//!   half the total, rounded down to the penny, was paid), 2 paid (guess at Halo's codes).
//! * `/Invoice` holds 36 one-off invoices, three a month from April 2025 to March 2026 (on the
//!   layout day; the twelve months ending in the seed day's month, none after the seed day):
//!   break-fix labour on tickets, ad-hoc hardware/services, project work; three of the slots
//!   are credit notes, i.e. the same shape with negative quantities, so negative `total`s,
//!   with `creditlinkedtoinvoiceid` naming the invoice credited. One-off invoices carry
//!   `contract_id` -1 and `recurring_invoice_id` 0.
//! * `/Invoice` also holds what contract billing produced up to the seed day (ids from 5101,
//!   in date order): one invoice per billing period begun, dated the period's first day, one
//!   line of the contract's `periodchargeamount` (+ 20 % VAT) whose `startdate`/`enddate` are
//!   the period billed; header and line carry `contract_id` and `recurring_invoice_id` (0 for
//!   the expired LDC-MSA, whose recurring invoice is gone, and for CPA-VOIP, billed by the
//!   contract itself). Paid 14 days after the date once 30 days old, unpaid before.
//! * `/RecurringInvoice` holds one template per *active* contract not billed by itself (9,
//!   ids 701–709), with one line whose net equals the contract's `periodchargeamount`,
//!   `total` = net × 1.2, `lastcreated`/`nextcreationdate` the last and next run dates
//!   (`nextcreationdate` a sentinel when the term ends first). `period` is a code of the
//!   simulated tenant ([`PERIOD_CODES`]: 2 monthly, 3 quarterly, 4 six-monthly, 5 annually;
//!   Halo's own values are undocumented, and these are deliberately not month counts);
//!   `periodname` spells it out except on MVG-MSA (704), whose length shows only in its
//!   dates. 710 (client 12, no contract) awaits approval and has never run: period code 8,
//!   `period_type` 1, no name, no run dates, no invoices, so its period cannot be told.
//! * `/ClientContract` holds 11 contracts (LDC-MSA expired, `active: false`) with
//!   `billingperiod` in the same codes (also spelled out in `billing_period_string`, a field
//!   of the full record that the swagger's ContractHeader_List rows do not carry).
//!
//! # Seeded duplicates (the expected answers of duplicate scanners)
//! User and site ids are fixed by construction; asset ids are those of the default seed
//! (`0x4A10_5EED`; another seed draws a different number of laptops before them, shifting
//! the asset ids, but not the shape of the groups). "Serial" is the asset's Serial Number field
//! (117) and "hostname" its Hostname field (161), both in its `fields`; which of them is
//! `key_field` depends on the type's layout (`asset_layouts`: by default laptops and desktops
//! are keyed Serial Number / Hostname, servers and printers Hostname / Serial Number, firewalls,
//! switches and phones Name / User / Model). A normalised serial drops whitespace and ignores
//! case.
//!
//! Assets, same serial (differing only in case/spacing), same client, site and hostname: the
//! same device entered twice. Every member is active (`status_name` "Active").
//! * 1001 `HHPSNBG` / 1072 `hhpsnbg` (HLX-LT-001)
//! * 1005 `5CG9875FEL` / 1073 `5CG98 75FEL` (HLX-LT-005)
//! * 1009 `BUS5H28` / 1074 `BUS5H28 ` (HLX-LT-009)
//! * 1022 `PFYA4VAF` / 1075 ` pfya4vaf ` (BOS-LT-004)
//!
//! Assets, same hostname with a different serial (a replacement given the old name), client 11,
//! site 18:
//! * HLX-LT-002: 1002 and 1076, both active (a genuine conflict)
//! * HLX-LT-007: 1007 active, 1077 retired (`inactive: true`, status "Retired")
//! * HLX-LT-010: 1010 active, 1078 retired
//!
//! (The serial pairs above also share a hostname, but with the same normalised serial; the
//! retired `…-OLD` laptops have hostnames of their own.)
//!
//! Assets added last (`layout_duplicates`, after any extras, so ids 1089-1091 only without
//! extras), each a duplicate that reading `key_field` as the serial and `key_field2` as the
//! hostname gets wrong under the default layout:
//! * 1085 / 1089: the first phone entered again, the IMEI spaced out, another Name, same user
//!   (Name / User / Model: the serial is in no key field; the same User looks like a hostname).
//! * 1013 / 1090: client 11's first printer again, the serial in lower case, hostname + `-B`
//!   (Hostname / Serial Number / Model: the serial is key field 2).
//! * 1029 / 1091: client 12's server rebuilt on new hardware under its old hostname, both
//!   active (key field 1 is the hostname, so the naive reading calls it a serial match).
//!
//! Users (`inactive` in brackets):
//! * Email differing only in case: 141 `j.fairweather@harbourline.co.uk` (active) / 142
//!   `J.Fairweather@Harbourline.co.uk` (active); same name, client 11, sites 18 and 19.
//! * Identical email: 147 / 148 `tom.ashdown@copperfield-arch.co.uk`, 147 active, 148
//!   inactive; same name, client 14, site 27.
//! * Same name, different people: 143 "Sam Okafor" (client 12) / 144 "Sam Okafor" (client 15),
//!   both active, different emails.
//! * Same name, old address: 149 "Marta Kovac" `marta.kovac@…` (active) / 150 `m.kovac@…`
//!   (inactive), client 11, site 20.
//! * Same login, different emails and names: 145 "Priya Nair" / 146 "P. Nair", both active,
//!   login `priya.nair@meadowgatevets.co.uk`, client 13. (Compared case-insensitively, the
//!   141/142 and 147/148 logins also match: login = email for them.)
//! * So: same-name groups {141,142}, {143,144}, {147,148}, {149,150}; case-insensitive email
//!   groups {141,142}, {147,148}; exact-login groups {145,146}, {147,148}.
//!
//! Sites (added last by `near_duplicate_sites`, so no other record moved):
//! * 18 "Head Office - Bristol" / 34 "Head Office": client 11, both active, identical address
//!   (28 Chapel Street, EC4A 1NE).
//! * 25 "Northfield Branch" (active) / 35 "Northfield" (inactive): client 13, same address
//!   spelled "35 Wharf Street" / "35 Wharf St", EC4A 8AB.
//!
//! # Bulk extras (`SimConfig::extra_assets`, `SimConfig::extra_users`)
//! Generated after everything above from their own random streams, so they move no seeded
//! record and neither depends on the other's size; ids continue after the seeded ones (assets
//! from 1089 with the default seed, users from 151). Extra *i* (0-based) is:
//!
//! Assets:
//! * `i % 50 == 49`: a serial duplicate of extra *i − 1*: same client, site, type and hostname,
//!   the serial in one of the seed's four mangled forms (lower case; a space in the middle; a
//!   trailing space; lower case padded with spaces, in turn). Active.
//! * `i % 50 == 24`: a hostname duplicate of extra *i − 1*: same client, site, type and
//!   hostname, a new serial. Retired (`inactive`, status "Retired") when `i % 100 == 74`,
//!   otherwise active (so half the pairs are genuine conflicts).
//! * otherwise a fresh asset of client `CLIENTS[i % 7]` (ids 11, 12, …, 17 in turn) at one of its
//!   active seeded sites, a laptop (type 1) or desktop (type 2), serial `SN-` + 8 characters
//!   (unique), hostname `<client prefix>-WS-<i, 5 digits>` (e.g. `HLX-WS-00014`, unique).
//!   Active.
//!
//! So `n` extra assets add exactly `n / 50` serial-duplicate groups and `(n + 25) / 50`
//! hostname-with-different-serial groups (`(n + 25) / 100` of them with a retired member),
//! each of two assets, none touching a seeded asset: 2,000 extras add 40 + 40 groups (20 with
//! a retired member), giving 44 serial groups and 43 hostname groups in all.
//!
//! Users:
//! * `i % 40 == 39`: a duplicate of extra *i − 1*: same name, client and site, the email (and
//!   login) differing only in case (`Oliver.Carver@Harbourline.co.uk` beside
//!   `oliver.carver@harbourline.co.uk`). Inactive when `i % 80 == 79`, otherwise active.
//! * otherwise a new person of client `CLIENTS[i % 7]` at one of its active sites, with a
//!   first/surname pair no other user has (after the 1,600 plain pairs, a middle initial is
//!   added: "Oliver B. Carver"), email and login `first.surname@<client domain>` (lower case,
//!   unique). Inactive when `i % 10 == 4`.
//!
//! So `n` extra users add exactly `n / 40` groups of emails equal ignoring case (also same
//! name, and same login ignoring case), `(n + 1) / 80` of them with an inactive member, and no
//! other duplicate: 2,000 extras add 50 groups (25 with an inactive member).

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::asset_layouts::{self, AssetLayout};
use super::clock::{
    self, SENTINEL, TICKS_PER_DAY, TICKS_PER_SEC, date_ticks, format_date, format_ts,
};
use super::derive::derive;
use super::names;
use super::prng::Prng;
use super::shapes::{action_template, reference, set_sla_dates, ticket_template};
use super::store::{Db, Row, as_i64, int_field, pounds};

/// The seed of `SimConfig::default()`: the tenant these docs describe. Any other seed also
/// renames the seven companies (see the `names` module).
pub(crate) const DEFAULT_SEED: u64 = 0x4A10_5EED;

/// The agent the API logs in as (`/Agent/me`): Morgan Hale, Service Desk Lead.
pub(crate) const API_AGENT_ID: i64 = 7;
/// Halo's default Closed status id (halo-api.md §7.13).
pub(crate) const CLOSED_STATUS: i64 = 9;
/// UK VAT on every seeded invoice line.
const VAT_PERCENT: i64 = 20;

/// The "today" the seed's data was first laid out for (its clock then stood at 2026-03-31
/// 17:00 UTC). Tests that pin the clock to it see exactly the dates the module docs quote.
#[cfg(test)]
pub(crate) const LAYOUT_TODAY: (i64, u32, u32) = (2026, 4, 1);

/// The seed's "now": 17:00 UTC on the day before `today` (the current UTC date unless pinned).
/// Seeded dates are all before it, and it is before the real "now" whenever `today` is the
/// current date, so nothing seeded lies in the future of a live session.
pub(crate) fn seed_now(today: Option<(i64, u32, u32)>) -> i128 {
    let day = match today {
        Some((y, m, d)) => i128::from(clock::days_from_civil(y, m, d)),
        None => clock::now_ticks().div_euclid(TICKS_PER_DAY),
    };
    (day - 1) * TICKS_PER_DAY + 17 * 3600 * TICKS_PER_SEC
}

/// Bulk records added after the seeded tenant, for scale tests (`SimConfig::extra_assets` /
/// `extra_users`; the rules are in the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extras {
    pub assets: usize,
    pub users: usize,
}

/// Assets [`Seeder::layout_duplicates`] adds (after everything else).
#[cfg(test)]
const LAYOUT_DUPLICATES: usize = 3;

/// Builds the whole tenant as of [`LAYOUT_TODAY`] (what the unit tests of the data use), asset
/// types in the default (mixed) key-field layout.
#[cfg(test)]
pub(crate) fn build(seed: u64, extras: Extras) -> Db {
    build_on(seed, extras, Some(LAYOUT_TODAY), AssetLayout::default())
}

/// Builds the whole tenant around `today` (`SimConfig::today`; `None` is the current UTC
/// date), its asset types keyed as `layout` says.
pub(crate) fn build_on(
    seed: u64,
    extras: Extras,
    today: Option<(i64, u32, u32)>,
    layout: AssetLayout,
) -> Db {
    let now = seed_now(today);
    let (y, m, _) = clock::civil_from_days(now.div_euclid(TICKS_PER_DAY) as i64);
    let mut s = Seeder {
        p: Prng::new(seed),
        db: Db::new(seed),
        now,
        // Months from the layout's month (March 2026) to the seed day's month.
        shift: y * 12 + i64::from(m) - (2026 * 12 + 3),
        line_id: 90_001,
        users: Vec::new(),
        layout,
    };
    s.db.api_agent_id = API_AGENT_ID;
    s.reference_data();
    s.clients_sites_users();
    s.contracts();
    s.assets();
    s.faults();
    s.ticket_extras();
    s.timesheets();
    s.invoices();
    s.recurring_invoices();
    s.sales();
    s.agent_counts();
    // Everything below comes after the seeded tenant, so it moves no seeded id or value.
    s.extra_assets(seed, extras.assets);
    s.extra_users(seed, extras.users);
    s.near_duplicate_sites();
    s.layout_duplicates();
    s.templates();
    if seed != DEFAULT_SEED {
        names::rename(&mut s.db, &names::draw(seed));
    }
    s.db
}

fn row(v: Value) -> Row {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Joins two `json!` objects (kept small so `json!` stays within the macro recursion limit).
fn merge(a: Value, b: Value) -> Value {
    let mut a = row(a);
    a.extend(row(b));
    Value::Object(a)
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
fn weekday(ticks: i128) -> i128 {
    (ticks.div_euclid(TICKS_PER_DAY) + 3).rem_euclid(7)
}

/// A seeded site's street address: `(line1, postcode)`, derived from its id.
fn site_address(site_id: i64) -> (String, String) {
    let pick = |items: &[&'static str], n: i64| -> &'static str {
        items
            .get(n.rem_euclid(items.len() as i64) as usize)
            .copied()
            .unwrap_or_default()
    };
    let postcode = format!(
        "{} {}{}",
        pick(&["BS1", "LS2", "M1", "GU1", "EC4A", "G2", "IP11"], site_id),
        site_id % 9 + 1,
        pick(&["AB", "QT", "XR", "NE", "HW"], site_id)
    );
    let line1 = format!(
        "{} {} Street",
        10 + site_id,
        pick(&["Wharf", "Mill", "Station", "Chapel", "Market"], site_id)
    );
    (line1, postcode)
}

/// The `k`-th way a serial gets mangled on re-entry (as in the seed): lower case, a space in
/// the middle, a trailing space, or lower case padded with spaces.
fn serial_variant(serial: &str, k: usize) -> String {
    let mid = serial.chars().count() / 2;
    match k % 4 {
        0 => serial.to_ascii_lowercase(),
        1 => {
            let (a, b): (String, String) = (
                serial.chars().take(mid).collect(),
                serial.chars().skip(mid).collect(),
            );
            format!("{a} {b}")
        }
        2 => format!("{serial} "),
        _ => format!(" {} ", serial.to_ascii_lowercase()),
    }
}

/// `oliver.carver@harbourline.co.uk` → `Oliver.Carver@Harbourline.co.uk`.
fn capitalise_email(email: &str) -> String {
    let cap = |w: &str| {
        let mut c = w.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect::<String>(),
            None => String::new(),
        }
    };
    match email.split_once('@') {
        Some((local, domain)) => format!(
            "{}@{}",
            local.split('.').map(cap).collect::<Vec<_>>().join("."),
            cap(domain)
        ),
        None => cap(email),
    }
}

/// A first name for an email local part: `Oliver` → `oliver`, `Oliver B.` → `oliver.b`.
fn dotted(first: &str) -> String {
    first
        .split_whitespace()
        .map(slug)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

struct ClientDef {
    id: i64,
    name: &'static str,
    prefix: &'static str,
    domain: &'static str,
    toplevel: i64,
    inactive: bool,
    sla: i64,
    sites: &'static [(&'static str, bool)],
    users: usize,
}

const CLIENTS: &[ClientDef] = &[
    ClientDef {
        id: 11,
        name: "Harbourline Logistics Ltd",
        prefix: "HLX",
        domain: "harbourline.co.uk",
        toplevel: 1,
        inactive: false,
        sla: 1,
        sites: &[
            ("Head Office - Bristol", false),
            ("Avonmouth Depot", false),
            ("Felixstowe Depot", false),
            ("Glasgow Office", true),
        ],
        users: 10,
    },
    ClientDef {
        id: 12,
        name: "Brindle & Oak Solicitors",
        prefix: "BOS",
        domain: "brindleoak.co.uk",
        toplevel: 1,
        inactive: false,
        sla: 2,
        sites: &[("Chancery Lane", false), ("Guildford", false)],
        users: 7,
    },
    ClientDef {
        id: 13,
        name: "Meadowgate Veterinary Group",
        prefix: "MVG",
        domain: "meadowgatevets.co.uk",
        toplevel: 1,
        inactive: false,
        sla: 2,
        sites: &[
            ("Meadowgate Main Surgery", false),
            ("Northfield Branch", false),
            ("Westbrook Branch", false),
        ],
        users: 8,
    },
    ClientDef {
        id: 14,
        name: "Copperfield Architects",
        prefix: "CPA",
        domain: "copperfield-arch.co.uk",
        toplevel: 2,
        inactive: false,
        sla: 1,
        sites: &[("Leeds Studio", false), ("Manchester Studio", false)],
        users: 5,
    },
    ClientDef {
        id: 15,
        name: "Saltmarsh Brewing Co",
        prefix: "SMB",
        domain: "saltmarshbrewing.com",
        toplevel: 2,
        inactive: false,
        sla: 1,
        sites: &[("Brewery", false), ("Taproom", false)],
        users: 5,
    },
    ClientDef {
        id: 16,
        name: "Larkspur Dental Care",
        prefix: "LDC",
        domain: "larkspurdental.co.uk",
        toplevel: 1,
        inactive: true,
        sla: 1,
        sites: &[("Larkspur Practice", false)],
        users: 3,
    },
    ClientDef {
        id: 17,
        name: "Kestrel Bay Technology",
        prefix: "KBT",
        domain: "kestrelbay.co.uk",
        toplevel: 3,
        inactive: false,
        sla: 3,
        sites: &[("Kestrel Bay HQ", false), ("Remote Workers", false)],
        users: 2,
    },
];

const FIRST_NAMES: &[&str] = &[
    "Aaron", "Abigail", "Aisha", "Ben", "Bronwen", "Callum", "Chloe", "Daniel", "Delyth", "Ella",
    "Ethan", "Fiona", "George", "Grace", "Harry", "Imogen", "Isaac", "Jack", "Jasmine", "Kieran",
    "Laura", "Leo", "Lucy", "Mohammed", "Megan", "Nathan", "Niamh", "Oliver", "Olivia", "Owen",
    "Poppy", "Rhys", "Ruby", "Ryan", "Sophie", "Thomas", "Tia", "Will", "Yusuf", "Zara",
];

const SURNAMES: &[&str] = &[
    "Ashworth",
    "Bannister",
    "Beaumont",
    "Blackwood",
    "Carver",
    "Chaudhry",
    "Dalton",
    "Ellison",
    "Fairbairn",
    "Garside",
    "Hargreaves",
    "Holloway",
    "Iqbal",
    "Jennings",
    "Kaur",
    "Kowalski",
    "Lockwood",
    "Mahmood",
    "McAllister",
    "Nakamura",
    "Newbold",
    "O'Brien",
    "Pemberton",
    "Quinlan",
    "Radcliffe",
    "Sandhu",
    "Thornton",
    "Underwood",
    "Varga",
    "Whitfield",
    "Yates",
    "Adeyemi",
    "Brennan",
    "Cartwright",
    "Donnelly",
    "Entwistle",
    "Fenwick",
    "Greaves",
    "Hussain",
    "Lister",
];

const JOB_TITLES: &[&str] = &[
    "Office Manager",
    "Finance Assistant",
    "Operations Coordinator",
    "Partner",
    "Associate",
    "Receptionist",
    "Practice Manager",
    "Veterinary Nurse",
    "Architect",
    "Designer",
    "Head Brewer",
    "Warehouse Supervisor",
    "Transport Planner",
    "Paralegal",
    "Accounts Manager",
];

/// A seeded end user, remembered for ticket generation.
#[derive(Clone)]
struct SeedUser {
    id: i64,
    client: i64,
    site: i64,
    name: String,
    email: String,
    inactive: bool,
}

/// (category id, ticket type id, summary, details) for generated tickets.
const TICKET_TEXTS: &[(i64, i64, &str, &str)] = &[
    (
        1,
        31,
        "Laptop will not power on",
        "My laptop won't turn on this morning, the charging light is off.",
    ),
    (
        1,
        31,
        "Laptop screen flickering",
        "The screen flickers constantly, worse when I move the lid.",
    ),
    (
        1,
        31,
        "Docking station not detecting monitors",
        "Neither external monitor comes on when I dock.",
    ),
    (
        2,
        31,
        "PC running very slowly",
        "Everything takes minutes to open since yesterday's updates.",
    ),
    (
        3,
        31,
        "Printer showing paper jam but no paper stuck",
        "Upstairs printer says jam in tray 2, nothing there.",
    ),
    (
        3,
        32,
        "Please add the new printer to my PC",
        "Could you add the new reception printer to my machine?",
    ),
    (
        4,
        35,
        "Disk space low on file server",
        "RMM alert: volume D: below 10% free space.",
    ),
    (
        4,
        35,
        "Backup job failed overnight",
        "RMM alert: nightly backup job finished with errors.",
    ),
    (
        5,
        31,
        "Outlook keeps asking for password",
        "Outlook prompts for my password every few minutes.",
    ),
    (
        5,
        32,
        "Need access to the Finance shared mailbox",
        "Please give me access to finance@ so I can cover leave.",
    ),
    (
        5,
        31,
        "Teams calls dropping",
        "Teams calls drop after about ten minutes, others are fine.",
    ),
    (
        6,
        31,
        "Practice management system won't open",
        "Error 'database unavailable' when opening the system.",
    ),
    (
        6,
        32,
        "Install Adobe Acrobat Pro",
        "I need Acrobat Pro to edit contracts, licence approved by manager.",
    ),
    (
        7,
        35,
        "Antivirus threat quarantined",
        "RMM alert: a threat was detected and quarantined on a workstation.",
    ),
    (
        8,
        31,
        "Wi-Fi keeps disconnecting in meeting room",
        "Laptops lose Wi-Fi in the main meeting room.",
    ),
    (
        9,
        31,
        "Can't connect to VPN from home",
        "VPN client says 'gateway not responding' since this morning.",
    ),
    (
        10,
        33,
        "Open firewall port for new CCTV system",
        "Installer needs remote access to the new NVR.",
    ),
    (
        10,
        35,
        "Firewall WAN link down",
        "RMM alert: primary WAN interface down for 5 minutes.",
    ),
    (
        11,
        32,
        "Increase mailbox size",
        "My mailbox is full and I can't send email.",
    ),
    (
        12,
        31,
        "Suspicious email received - phishing?",
        "Got an invoice email from a supplier that looks odd.",
    ),
    (
        13,
        36,
        "New starter: set up account and laptop",
        "New starter on Monday, needs account, email and laptop.",
    ),
    (
        14,
        32,
        "Leaver: disable account and forward email",
        "Please disable the account and forward mail to the manager.",
    ),
    (
        15,
        32,
        "Password reset required",
        "I've forgotten my password after the holidays.",
    ),
    (
        15,
        31,
        "Account locked out",
        "Account locked after too many attempts.",
    ),
    (
        5,
        33,
        "Enable MFA for remaining users",
        "Roll out MFA to the users who are still not enrolled.",
    ),
    (
        6,
        34,
        "Recurring crashes in accounts software",
        "The accounts package crashes for several users every week.",
    ),
];

/// (code, description, unit price in pence) for invoice and quote lines.
const PRODUCTS: &[(&str, &str, i64)] = &[
    ("LAB-REMOTE", "Remote support (per hour)", 9_000),
    ("LAB-ONSITE", "Onsite engineer (per hour)", 12_000),
    ("LAB-PROJECT", "Project engineering (per day)", 65_000),
    ("HW-LAPTOP", "Dell Latitude 5440 laptop", 89_900),
    ("HW-DOCK", "Dell WD19S docking station", 18_900),
    ("HW-CHARGER", "Replacement laptop charger", 4_500),
    ("HW-TONER", "HP 59A toner cartridge", 8_900),
    ("SW-ADOBE", "Adobe Acrobat Pro (annual)", 23_900),
    ("SVC-DOMAIN", "Domain renewal (2 years)", 3_000),
    ("SVC-SSL", "SSL certificate (1 year)", 7_500),
];

/// (id, client, ref, name, type name, months per period, units, unit price pence, start, end,
/// prepaid hours per period).
type ContractDef = (
    i64,
    i64,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
    (i64, u32, u32),
    (i64, u32, u32),
    f64,
);

const CONTRACTS: &[ContractDef] = &[
    (
        301,
        11,
        "HLX-MSA",
        "Managed Service Agreement",
        "Managed Service",
        1,
        35,
        7_000,
        (2024, 4, 1),
        (2027, 3, 31),
        0.0,
    ),
    (
        302,
        11,
        "HLX-FW",
        "Firewall Support",
        "Support",
        12,
        1,
        120_000,
        (2025, 5, 1),
        (2026, 4, 30),
        0.0,
    ),
    (
        303,
        12,
        "BOS-MSA",
        "Managed Service Agreement",
        "Managed Service",
        1,
        23,
        6_000,
        (2023, 9, 1),
        (2026, 8, 31),
        0.0,
    ),
    (
        304,
        13,
        "MVG-MSA",
        "Managed Service Agreement",
        "Managed Service",
        3,
        1,
        390_000,
        (2024, 1, 1),
        (2026, 12, 31),
        0.0,
    ),
    (
        305,
        13,
        "MVG-PREPAY",
        "Support Hours Block",
        "Prepay",
        12,
        1,
        480_000,
        (2025, 7, 1),
        (2026, 6, 30),
        60.0,
    ),
    (
        306,
        14,
        "CPA-BDR",
        "Backup & DR Service",
        "Support",
        1,
        1,
        42_000,
        (2025, 2, 1),
        (2027, 1, 31),
        0.0,
    ),
    (
        307,
        14,
        "CPA-RET",
        "Project Retainer",
        "Retainer",
        3,
        1,
        150_000,
        (2025, 4, 1),
        (2026, 9, 30),
        0.0,
    ),
    (
        308,
        15,
        "SMB-MSA",
        "Managed Service Agreement",
        "Managed Service",
        1,
        16,
        6_000,
        (2024, 10, 1),
        (2026, 9, 30),
        0.0,
    ),
    (
        309,
        15,
        "SMB-M365",
        "Microsoft 365 Licensing",
        "Licensing",
        1,
        18,
        3_400,
        (2025, 1, 1),
        (2026, 12, 31),
        0.0,
    ),
    (
        310,
        16,
        "LDC-MSA",
        "Managed Service Agreement",
        "Managed Service",
        1,
        9,
        6_000,
        (2023, 7, 1),
        (2025, 6, 30),
        0.0,
    ),
    (
        311,
        14,
        "CPA-VOIP",
        "Hosted Telephony",
        "Support",
        1,
        12,
        1_500,
        (2025, 11, 1),
        (2027, 10, 31),
        0.0,
    ),
];

/// Contracts billed by the contract itself (no recurring invoice): their invoices carry the
/// contract's id and no recurring invoice id.
const BILLED_BY_CONTRACT: &[i64] = &[311];

/// The simulated tenant's billing-period codes, for contracts (`billingperiod`) and recurring
/// invoices (`period`): (code, months, display name). The swagger types both fields as plain
/// int32 and no source in halo-api.md gives their values, so these codes are the simulator's
/// own, deliberately not month counts, so that a client reading the number as months is
/// caught. Code 8 is in none of them: a period the tenant defined ("custom") whose length the
/// API does not say.
const PERIOD_CODES: &[(i64, i64, &str)] = &[
    (2, 1, "Monthly"),
    (3, 3, "Quarterly"),
    (4, 6, "Six Monthly"),
    (5, 12, "Annually"),
];

fn period_code(months: i64) -> i64 {
    PERIOD_CODES
        .iter()
        .find(|p| p.1 == months)
        .map_or(0, |p| p.0)
}

/// (id, first name, surname, team, other teams, job title, cost pence/hour, disabled).
type AgentDef = (
    i64,
    &'static str,
    &'static str,
    i64,
    &'static [i64],
    &'static str,
    i64,
    bool,
);
/// (id, name, release date, (major, minor, patch)).
type ReleaseDef = (i64, &'static str, (i64, u32, u32), (i64, i64, i64));
/// (id, [(product code, half units)], status).
type QuoteDef = (i64, &'static [(&'static str, i64)], i64);

fn period_name(months: i64) -> &'static str {
    PERIOD_CODES
        .iter()
        .find(|p| p.1 == months)
        .map_or("", |p| p.2)
}

/// Adds `months` calendar months to a date (day clamped to 28 is unnecessary: seed dates use
/// the 1st).
fn add_months((y, m, d): (i64, u32, u32), months: i64) -> (i64, u32, u32) {
    let total = y * 12 + i64::from(m) - 1 + months;
    (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32, d)
}

fn ymd_ticks((y, m, d): (i64, u32, u32)) -> i128 {
    date_ticks(y, m, d)
}

fn ticks_ymd(t: i128) -> (i64, u32, u32) {
    clock::civil_from_days(t.div_euclid(TICKS_PER_DAY) as i64)
}

/// A seeded laptop: (id, serial, hostname, client, site, model).
type Laptop = (i64, String, String, i64, i64, String);

struct Seeder {
    p: Prng,
    db: Db,
    now: i128,
    /// Calendar months the fixed dates of the layout (contracts, one-off invoices) move by, so
    /// they keep their place relative to the seed day.
    shift: i64,
    line_id: i64,
    users: Vec<SeedUser>,
    /// Which fields the asset types use as key fields.
    layout: AssetLayout,
}

impl Seeder {
    /// Derives names/nested objects and stores a row.
    fn put(&mut self, table: &'static str, v: Value) {
        let mut r = row(v);
        derive(&self.db, table, &mut r, None);
        // Where Halo's `id` is a guid, rows are keyed by the integer beside it.
        let key = match table {
            "Priority" => "priorityid",
            "Holiday" => "holid",
            _ => "id",
        };
        self.db.put(table, key, Value::Object(r));
    }

    fn put_all(&mut self, table: &'static str, rows: Vec<Value>) {
        for r in rows {
            self.put(table, r);
        }
    }

    fn ts(&self, t: i128) -> String {
        format_ts(t)
    }

    /// A working-hours moment (weekday, 08:00–17:59 UTC) `days` days before the seed day.
    fn working_time(&mut self, days: i64) -> i128 {
        let mut day = (self.now.div_euclid(TICKS_PER_DAY) - i128::from(days)) * TICKS_PER_DAY;
        while weekday(day) >= 5 {
            day -= TICKS_PER_DAY;
        }
        let minutes = 8 * 60 + self.p.range(0, 599);
        let t = day
            + i128::from(minutes) * 60 * TICKS_PER_SEC
            + i128::from(self.p.range(0, 59)) * TICKS_PER_SEC
            + i128::from(self.p.range(0, 9_999_999));
        // The seed day after the seed's 17:00: move it back into the working day. Decided by
        // the draw alone, not by the date (on a weekend seed day `day` is the Friday before),
        // so the random stream, and every id drawn from it, is the same on every day.
        if days == 0 && minutes >= 17 * 60 {
            t - i128::from(self.p.range(1, 8)) * 3600 * TICKS_PER_SEC
        } else {
            t
        }
    }

    /// A working-hours moment between `lo` and `hi` days before the seed day.
    fn recent(&mut self, lo: i64, hi: i64) -> i128 {
        let days = self.p.range(lo, hi);
        self.working_time(days)
    }

    fn guid(&mut self) -> String {
        self.p.guid()
    }

    // ------------------------------------------------------------------------------------------
    // Reference data
    // ------------------------------------------------------------------------------------------

    /// The tenant's reference data, one table or concern per function. The order of the calls
    /// is the order of the PRNG draws (each `guid`), so it must not change: the seed is pinned.
    fn reference_data(&mut self) {
        self.organisation_calendar_slas();
        self.ticket_priorities_statuses_teams();
        self.agents();
        self.ticket_types_categories_outcomes();
        self.custom_fields_and_lookups();
        self.custom_tables_tabs_buttons();
        self.canned_text_rules_workflows();
        self.asset_types_suppliers_items();
        self.services_and_releases();
        self.saved_reports();
    }

    /// Organisations, the top-level tree, workdays, holidays and SLAs.
    fn organisation_calendar_slas(&mut self) {
        let orgs = vec![
            json!({"id": 1, "name": "Kestrel Bay Technology Ltd", "reply_address": "support@kestrelbay.co.uk", "phone": "01632 960100", "email": "hello@kestrelbay.co.uk", "website": "https://www.kestrelbay.co.uk", "portalurl": "https://support.kestrelbay.co.uk", "tax_number": "GB123456789", "linked_client_id": 17, "allowall_tickettypes": true}),
            json!({"id": 2, "name": "Kestrel Bay Cloud Services", "reply_address": "cloud@kestrelbay.co.uk", "phone": "01632 960101", "email": "cloud@kestrelbay.co.uk", "website": "https://cloud.kestrelbay.co.uk", "portalurl": "", "tax_number": "GB123456789", "linked_client_id": 17, "allowall_tickettypes": true}),
            json!({"id": 3, "name": "Kestrel Bay Consulting", "reply_address": "projects@kestrelbay.co.uk", "phone": "01632 960102", "email": "projects@kestrelbay.co.uk", "website": "", "portalurl": "", "tax_number": "GB123456789", "linked_client_id": 17, "allowall_tickettypes": false}),
        ];
        self.put_all("Organisation", orgs);

        let tree = vec![
            json!({"id": 1, "guid": self.guid(), "name": "Managed Services", "parentid": 0, "notes": "", "organisation_id": 1, "organisation_name": "", "long_name": "Managed Services", "type": 0, "user_count": 0}),
            json!({"id": 2, "guid": self.guid(), "name": "Project Clients", "parentid": 0, "notes": "Clients billed per project", "organisation_id": 3, "organisation_name": "", "long_name": "Project Clients", "type": 0, "user_count": 0}),
            json!({"id": 3, "guid": self.guid(), "name": "Internal", "parentid": 0, "notes": "", "organisation_id": 1, "organisation_name": "", "long_name": "Internal", "type": 0, "user_count": 0}),
        ];
        self.put_all("TopLevel", tree);

        let workdays = vec![
            json!({"id": 1, "guid": self.guid(), "name": "Office Hours", "summary": "Mon-Fri 08:30-17:30", "timezone": "GMT Standard Time", "start": "08:30:00", "end": "17:30:00", "incmonday": true, "inctuesday": true, "incwednesday": true, "incthursday": true, "incfriday": true, "incsaturday": false, "incsunday": false, "alldayssame": true}),
            json!({"id": 2, "guid": self.guid(), "name": "24x7", "summary": "All day, every day", "timezone": "GMT Standard Time", "start": "00:00:00", "end": "23:59:59", "incmonday": true, "inctuesday": true, "incwednesday": true, "incthursday": true, "incfriday": true, "incsaturday": true, "incsunday": true, "alldayssame": true}),
            json!({"id": 3, "guid": self.guid(), "name": "Extended Hours", "summary": "Mon-Sat 07:00-20:00", "timezone": "GMT Standard Time", "start": "07:00:00", "end": "20:00:00", "incmonday": true, "inctuesday": true, "incwednesday": true, "incthursday": true, "incfriday": true, "incsaturday": true, "incsunday": false, "alldayssame": true}),
        ];
        self.put_all("Workday", workdays);

        let holidays: &[(i64, &str, (i64, u32, u32))] = &[
            (1, "Good Friday", (2025, 4, 18)),
            (2, "Easter Monday", (2025, 4, 21)),
            (3, "Early May Bank Holiday", (2025, 5, 5)),
            (4, "Spring Bank Holiday", (2025, 5, 26)),
            (5, "Summer Bank Holiday", (2025, 8, 25)),
            (6, "Christmas Day", (2025, 12, 25)),
            (7, "Boxing Day", (2025, 12, 26)),
            (8, "New Year's Day", (2026, 1, 1)),
        ];
        // Halo quirk (SW24 `Holidays`): `id` is a uuid; the integer is `holid`.
        for &(id, name, d) in holidays {
            let start = ymd_ticks(d);
            // From its own generator, not the seed's stream, so no later draw moves.
            let g = Prng::new(0x401D_A700 ^ id as u64).guid();
            self.put(
                "Holiday",
                json!({"id": g, "holid": id, "name": name, "date": format_date(start), "end_date": format_date(start + TICKS_PER_DAY), "allday": true, "duration": 1.0, "workday_id": 1, "workday_name": "", "agent_id": 0, "agent_name": "", "holiday_type": 0, "isrecurring": false}),
            );
        }

        let slas = vec![
            json!({"id": 1, "guid": self.guid(), "name": "Standard SLA", "workday_id": 1, "workday_name": "", "hoursaretechslocaltime": false, "responsereset": false, "trackslaresponsetime": true, "trackslafixbytime": true, "autoreleaseoption": 0}),
            json!({"id": 2, "guid": self.guid(), "name": "Premium SLA", "workday_id": 3, "workday_name": "", "hoursaretechslocaltime": false, "responsereset": true, "trackslaresponsetime": true, "trackslafixbytime": true, "autoreleaseoption": 0}),
            json!({"id": 3, "guid": self.guid(), "name": "No SLA", "workday_id": 2, "workday_name": "", "hoursaretechslocaltime": false, "responsereset": false, "trackslaresponsetime": false, "trackslafixbytime": false, "autoreleaseoption": 0}),
        ];
        self.put_all("SLA", slas);
    }

    /// Priorities, ticket statuses and teams.
    fn ticket_priorities_statuses_teams(&mut self) {
        // Halo quirk (halo-api.md §7.5): Priority.id is a guid; the integer is `priorityid`.
        let priorities: &[(i64, &str, f64, &str, f64, &str, &str)] = &[
            (1, "Critical", 4.0, "H", 0.5, "H", "#d0021b"),
            (2, "High", 8.0, "H", 1.0, "H", "#f5a623"),
            (3, "Medium", 3.0, "D", 4.0, "H", "#4a90e2"),
            (4, "Low", 5.0, "D", 8.0, "H", "#68bc00"),
        ];
        for &(pid, name, fix, fixu, resp, respu, colour) in priorities {
            let g = self.guid();
            self.put(
                "Priority",
                json!({"id": g, "slaid": 1, "priorityid": pid, "name": name, "fixtime": fix, "fixunits": fixu, "enterslaexcuse": false, "responsetime": resp, "responseunits": respu, "ishidden": false, "fixendofday": false, "responseendofday": false, "colour": colour, "catprompt": -1, "workdaysoverride": -1, "responsestartofday": false, "responsestartofdaytime": "00:00:00", "startofday": false, "startofdaytime": "00:00:00"}),
            );
        }

        let statuses: &[(i64, &str, &str, i64, &str, &str)] = &[
            (1, "New", "NEW", 1, "#2b9af3", "C"),
            (2, "In Progress", "PROG", 2, "#f5a623", "C"),
            (3, "Action Required", "ACTN", 3, "#d0021b", "C"),
            (4, "Waiting on User", "WAIT", 4, "#9b9b9b", "H"),
            (5, "With Supplier", "SUPP", 5, "#8b572a", "H"),
            (9, "Closed", "CLSD", 99, "#417505", "C"),
            (18, "Awaiting Approval", "APPR", 6, "#bd10e0", "H"),
            (28, "On Hold", "HOLD", 7, "#4a4a4a", "H"),
        ];
        for &(id, name, short, seq, colour, sla) in statuses {
            let g = self.guid();
            self.put(
                "Status",
                json!({"id": id, "guid": g, "name": name, "shortname": short, "type": if id == CLOSED_STATUS { 2 } else { 1 }, "sequence": seq, "colour": colour, "slaaction": sla, "showonquickchange": true, "includeinloadbalance": id != CLOSED_STATUS}),
            );
        }

        let teams: &[(i64, &str, bool, bool)] = &[
            (1, "1st Line Support", true, false),
            (2, "2nd Line Support", true, false),
            (3, "Projects", false, true),
            (4, "Field Engineering", true, true),
            (5, "Service Delivery", false, false),
        ];
        for &(id, name, req, prj) in teams {
            let g = self.guid();
            self.put(
                "Team",
                json!({"id": id, "guid": g, "name": name, "sequence": id, "department_id": 1, "department_name": "Support", "inactive": false, "forrequests": req, "foropps": id == 5, "forprojects": prj, "agent_count": 0}),
            );
        }
    }

    /// The agents, each with their teams.
    fn agents(&mut self) {
        // (id, first, surname, team, other teams, job title, cost pence/h, disabled)
        let agents: &[AgentDef] = &[
            (
                2,
                "Alex",
                "Rowe",
                1,
                &[],
                "Service Desk Analyst",
                2_200,
                false,
            ),
            (
                3,
                "Bethany",
                "Clarke",
                1,
                &[],
                "Service Desk Analyst",
                2_200,
                false,
            ),
            (
                4,
                "Chris",
                "Danvers",
                2,
                &[],
                "Senior Engineer",
                3_400,
                false,
            ),
            (
                5,
                "Dana",
                "Whitlock",
                2,
                &[4],
                "Infrastructure Engineer",
                3_100,
                false,
            ),
            (6, "Eamon", "Price", 4, &[], "Field Engineer", 2_600, false),
            (
                7,
                "Morgan",
                "Hale",
                2,
                &[1],
                "Service Desk Lead",
                3_000,
                false,
            ),
            (
                8,
                "Farah",
                "Qureshi",
                3,
                &[],
                "Project Engineer",
                3_300,
                false,
            ),
            (
                9,
                "Gareth",
                "Lloyd",
                3,
                &[5],
                "Project Manager",
                3_600,
                false,
            ),
            (
                10,
                "Hannah",
                "Birch",
                5,
                &[],
                "Service Delivery Manager",
                3_800,
                false,
            ),
            (11, "Ian", "Stroud", 4, &[], "Field Engineer", 2_600, true),
        ];
        for &(id, first, sur, team, others, title, cost, disabled) in agents {
            let team_name = self.db.text("Team", team, "name");
            let mut teams = vec![json!({"id": team, "name": team_name})];
            for &o in others {
                teams.push(json!({"id": o, "name": self.db.text("Team", o, "name")}));
            }
            let login = self.recent(0, 3);
            let a = merge(
                json!({"id": id, "name": format!("{first} {sur}"), "firstname": first, "surname": sur, "initials": format!("{}{}", &first[..1], &sur[..1]), "email": format!("{}.{}@kestrelbay.co.uk", slug(first), slug(sur)), "isdisabled": disabled, "is_agent": true, "team": team_name, "team_id": team, "teams": teams, "departments": [{"id": 1, "name": "Support"}], "jobtitle": title}),
                json!({"colour": "#4a90e2", "isapiagent": false, "ticket_count": 0, "workday_id": 1, "workday_name": "", "costprice": pounds(cost), "chargerate": 90.0, "licence_type": "named", "roles": [{"id": if id == 10 { 1 } else { 2 }, "name": if id == 10 { "Administrator" } else { "Technician" }}], "signature": format!("<p>{first} {sur}<br>{title}, Kestrel Bay Technology</p>"), "lastlogindate": if disabled { "2025-05-30T16:02:11.4400000Z".to_string() } else { format_ts(login) }, "phonenumber": format!("01632 960{:03}", 110 + id), "use": "agent", "sites": []}),
            );
            self.put("Agent", a);
        }
    }

    /// Ticket types, categories, outcomes and tags.
    fn ticket_types_categories_outcomes(&mut self) {
        // (id, name, use, team, priority, sla, workflow)
        let types: &[(i64, &str, &str, i64, i64, &str)] = &[
            (31, "Incident", "ticket", 1, 3, "Standard Incident"),
            (32, "Service Request", "ticket", 1, 4, "Standard Incident"),
            (33, "Change Request", "ticket", 2, 3, "Change Approval"),
            (34, "Problem", "ticket", 2, 3, ""),
            (35, "Alert", "ticket", 2, 2, ""),
            (36, "Onboarding", "ticket", 1, 3, "New Starter"),
            (37, "Project", "project", 3, 3, ""),
            (38, "Opportunity", "opportunity", 5, 4, ""),
        ];
        for (seq, &(id, name, use_, team, prio, wf)) in types.iter().enumerate() {
            let g = self.guid();
            let team_name = self.db.text("Team", team, "name");
            self.put(
                "TicketType",
                json!({"id": id, "guid": g, "name": name, "use": use_, "sequence": seq + 1, "group_id": 0, "group_name": "", "default_sla": 1, "default_team": team_name, "default_team_id": team, "default_agent": 0, "default_agent_name": "", "default_priority": prio, "workflow_name": wf, "enduserscanselect": use_ == "ticket" && id != 35, "agentscanselect": true, "cancreate": true, "allowattachments": true, "inactive": false}),
            );
        }

        let categories = [
            "Hardware>Laptop",
            "Hardware>Desktop",
            "Hardware>Printer",
            "Hardware>Server",
            "Software>Microsoft 365",
            "Software>Line of Business",
            "Software>Antivirus",
            "Network>Wi-Fi",
            "Network>VPN",
            "Network>Firewall",
            "Email>Mailbox",
            "Email>Spam",
            "Accounts>New Starter",
            "Accounts>Leaver",
            "Accounts>Password Reset",
        ];
        for (i, value) in categories.iter().enumerate() {
            let top = value.split('>').next().unwrap_or(value);
            self.put(
                "Category",
                json!({"id": i + 1, "value": value, "type_id": 1, "category_name": top, "sequence": i + 1, "inactive": false, "tickettype_id": 0, "team_id": 0}),
            );
        }

        // (id, name, new status, hidden, default hours)
        let outcomes: &[(i64, &str, i64, bool, f64)] = &[
            (1, "Private Note", 0, false, 0.25),
            (2, "Email User", 0, false, 0.25),
            (3, "Phone Call", 0, false, 0.25),
            (4, "Remote Session", 2, false, 0.5),
            (5, "Site Visit", 2, false, 1.0),
            (6, "Change Status", 0, false, 0.0),
            (7, "Close Ticket", CLOSED_STATUS, false, 0.25),
            (8, "Rule Applied", 0, true, 0.0),
            (9, "comment", 0, false, 0.0),
            (10, "Email Received", 0, false, 0.0),
        ];
        for &(id, name, status, hidden, hours) in outcomes {
            let g = self.guid();
            self.put(
                "Outcome",
                json!({"id": id, "guid": g, "outcome": name, "buttonname": name, "labellong": name, "sequence": id, "hidden": hidden, "systemid": if hidden { 1 } else { 0 }, "newstatus": status, "colour": "#4a90e2", "defaultmanhrs": hours, "defaultnonbill": false, "sendemail": id == 2, "hidefromuser": id == 1 || hidden, "chargerate": 0}),
            );
        }

        for (id, text) in [
            (1, "vip"),
            (2, "recurring-issue"),
            (3, "hardware-refresh"),
            (4, "security"),
            (5, "billing-query"),
        ] {
            self.put("Tags", json!({"id": id, "text": text}));
        }
    }

    /// Custom field definitions and lookups.
    fn custom_fields_and_lookups(&mut self) {
        let fieldinfo: &[(i64, &str, &str, i64, i64)] = &[
            (165, "CFimpact", "Impact", 2, 1),
            (166, "CFurgency", "Urgency", 2, 1),
            (
                174,
                "CFChangeActualStartDateTime",
                "Actual Start Date/Time",
                4,
                1,
            ),
            (
                175,
                "CFChangeActualEndDateTime",
                "Actual End Date/Time",
                4,
                1,
            ),
            (213, "CFEmailToAddress", "Email To Address", 0, 1),
            (
                220,
                "CFContractRenewalNotes",
                "Contract Renewal Notes",
                0,
                2,
            ),
        ];
        for &(id, name, label, typ, usage) in fieldinfo {
            let values = if typ == 2 {
                json!([{"id": 1, "name": "Whole Company"}, {"id": 2, "name": "Multiple Users"}, {"id": 3, "name": "Single User Affected"}])
            } else {
                json!([])
            };
            let g = self.guid();
            self.put(
                "FieldInfo",
                json!({"id": id, "guid": g, "name": name, "label": label, "summary": "", "hint": "", "type": typ, "custom": 1, "usage": usage, "inputtype": if typ == 4 { 1 } else { 0 }, "readonly": false, "searchable": false, "copytochild": false, "characterlimit": 0, "values": values, "table_id": 0, "table_name": ""}),
            );
        }

        let fields: &[(i64, &str, i64)] = &[
            (1, "Summary", 1),
            (2, "Details", 1),
            (3, "Category 1", 1),
            (4, "Site", 2),
            (5, "Serial Number", 4),
        ];
        for &(id, name, kind) in fields {
            let g = self.guid();
            self.put(
                "Field",
                json!({"id": id, "guid": g, "kind": kind, "name": name, "typeinfo_id": 0, "systemuse": 1, "mandatory": id <= 2, "sequence": id, "inactiveupdatetype": 0, "techdetail": true, "userdetail": id <= 2}),
            );
        }

        let lookups: &[(i64, i64, &str, &str)] = &[
            (1, 32, "Active", "Asset Status"),
            (2, 32, "Retired", "Asset Status"),
            (3, 32, "In Stock", "Asset Status"),
            (11, 17, "Whole Company", "Impact"),
            (12, 17, "Multiple Users", "Impact"),
            (13, 17, "Single User Affected", "Impact"),
        ];
        for &(id, lookupid, name, group) in lookups {
            self.put(
                "Lookup",
                json!({"lookupid": lookupid, "id": id, "name": name, "value2": group, "value2_bool": false, "value3": "", "value3_bool": false, "sequence": id, "valueint1": 0}),
            );
        }
    }

    /// Custom tables, their tabs, and custom buttons.
    fn custom_tables_tabs_buttons(&mut self) {
        let tables: &[(i64, &str, &str, &str)] = &[
            (1, "Vehicle Fleet", "CTVehicleFleet", "Client"),
            (2, "Software Inventory", "CTSoftwareInventory", "Asset"),
            (3, "Network Circuits", "CTNetworkCircuits", "Site"),
        ];
        for &(id, name, db_name, link) in tables {
            let g = self.guid();
            self.put(
                "CustomTable",
                json!({"id": id, "guid": g, "name": name, "db_name": db_name, "linkto_table_id": id, "linkto_table_name": link, "note": "", "data_entry_type": 0, "fields": [{"id": 1, "name": "Reference"}, {"id": 2, "name": "Notes"}], "can_load_data": true}),
            );
        }

        for (id, name, table) in [(1, "Billing", 1), (2, "Network", 2), (3, "Onboarding", 1)] {
            let g = self.guid();
            self.put(
                "Tabs",
                json!({"id": id, "guid": g, "name": name, "tableid": table, "columns": 2, "sequence": id, "fields": [], "url": "", "linked_dashboard_id": 0, "icon": "fa-folder"}),
            );
        }

        for (id, name, url) in [
            (
                1,
                "Open in RMM",
                "https://rmm.kestrelbay.co.uk/device/$inventory_number",
            ),
            (
                2,
                "Run Password Reset",
                "https://automation.kestrelbay.co.uk/reset/$user_id",
            ),
            (
                3,
                "Open Documentation",
                "https://docs.kestrelbay.co.uk/clients/$client_id",
            ),
        ] {
            let g = self.guid();
            self.put(
                "CustomButton",
                json!({"id": id, "guid": g, "usage": if id == 1 { 5 } else { 1 }, "name": name, "label": name, "seq": id, "icon": "fa-external-link", "url": url, "newtab": true}),
            );
        }
    }

    /// Canned text, assignment rules and workflows.
    fn canned_text_rules_workflows(&mut self) {
        let canned: &[(i64, &str, &str, i64)] = &[
            (
                1,
                "Acknowledge",
                "Thanks for getting in touch, we're looking into this now.",
                1,
            ),
            (
                2,
                "Chase user",
                "Just checking in: is this still an issue for you?",
                1,
            ),
            (
                3,
                "Closing - no response",
                "We haven't heard back so we'll close this ticket; reply to reopen it.",
                1,
            ),
            (
                4,
                "Escalated",
                "I've passed this to our 2nd line team who will be in touch shortly.",
                2,
            ),
        ];
        for &(id, name, text, team) in canned {
            let g = self.guid();
            self.put(
                "CannedText",
                json!({"id": id, "guid": g, "name": name, "group_id": 0, "group_name": "", "text": text, "html": format!("<p>{text}</p>"), "restriction_type": 0, "team_id": team, "team_name": "", "agent_id": 0, "agent_name": ""}),
            );
        }

        let rules: &[(i64, &str, i64, i64, i64)] = &[
            (1, "RMM alerts to 2nd Line", 1, 2, 2),
            (2, "Meadowgate to Premium", 2, 1, 2),
            (3, "Password resets to 1st Line", 3, 1, 4),
            (4, "Firewall alerts critical", 4, 2, 1),
        ];
        for &(id, name, precedence, team, prio) in rules {
            let g = self.guid();
            let team_name = self.db.text("Team", team, "name");
            self.put(
                "TicketRules",
                json!({"id": id, "guid": g, "name": name, "precedence": precedence, "use": "ticket", "stopmatching": false, "new_agent_id": 0, "new_agent_name": "", "new_team": team_name, "new_priority_id": prio, "new_status_id": 0, "new_sla_id": 0, "new_workflow_id": 0, "criteria": [{"id": id, "fieldname": "summary", "value_type": 0, "value_string": name.split(' ').next().unwrap_or_default()}], "matched_rule_count": 0}),
            );
        }

        let workflows: &[(i64, &str, &[&str])] = &[
            (
                1,
                "Standard Incident",
                &["Triage", "Investigate", "Resolve", "Confirm with user"],
            ),
            (
                2,
                "New Starter",
                &[
                    "Collect details",
                    "Create account",
                    "Prepare laptop",
                    "Handover",
                ],
            ),
            (
                3,
                "Change Approval",
                &["Request", "CAB approval", "Implement", "Review"],
            ),
        ];
        for &(id, name, steps) in workflows {
            let steps: Vec<Value> = steps
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"id": id * 10 + i as i64 + 1, "flow_id": id, "seq": i + 1, "name": s, "stage_id": i + 1, "type": 0, "targetsla": 0, "agent_id": 0, "team_id": 0}))
                .collect();
            let g = self.guid();
            self.put(
                "Workflow",
                json!({"id": id, "guid": g, "name": name, "note": "", "active": true, "notinuse": false, "steps": steps, "always_allow_actions": true, "stages": []}),
            );
        }
    }

    /// Asset groups and types, suppliers and stock items.
    fn asset_types_suppliers_items(&mut self) {
        for (id, name, memo) in [
            (1, "Hardware", "Physical devices"),
            (2, "Software", "Installed software"),
            (3, "Network", "Network equipment"),
        ] {
            let g = self.guid();
            self.put("AssetGroup", json!({"id": id, "guid": g, "name": name, "memo": memo, "islan": id == 3, "showasitem": false, "sequence": id, "isfixedasset": id != 2}));
        }

        let types: &[(i64, &str, i64, &str)] = &[
            (1, "Laptop", 1, "LT"),
            (2, "Desktop", 1, "DT"),
            (3, "Server", 1, "SRV"),
            (4, "Printer", 1, "PRN"),
            (5, "Firewall", 3, "FW"),
            (6, "Switch", 3, "SW"),
            (7, "Mobile Phone", 1, "MOB"),
        ];
        for &(id, name, group, prefix) in types {
            let g = self.guid();
            let [k1, k2, k3] = self.layout.key_fields(id);
            self.put(
                "AssetType",
                merge(
                    json!({"id": id, "guid": g, "name": name, "assetgroup_id": group, "assetgroup_name": "", "keyfield_id": k1.0, "keyfield_name": k1.1, "keyfield2_id": k2.0, "keyfield2_name": k2.1, "keyfield3_id": k3.0, "keyfield3_name": k3.1}),
                    json!({"tagprefix": prefix, "memo": "", "show_to_users": true, "weeklycost": 0.0, "monthlycost": 0.0}),
                ),
            );
        }

        let suppliers: &[(i64, &str, &str, &str)] = &[
            (
                1,
                "Caldera Distribution Ltd",
                "Nadia Petrova",
                "orders@calderadist.co.uk",
            ),
            (
                2,
                "Fibrelink Networks",
                "Owen Marsh",
                "support@fibrelink.net",
            ),
            (
                3,
                "Pinecrest Hardware",
                "Lena Fischer",
                "sales@pinecresthw.co.uk",
            ),
            (
                4,
                "Summit Software Licensing",
                "Raj Patel",
                "licensing@summitsoft.com",
            ),
        ];
        for &(id, name, contact, email) in suppliers {
            self.put(
                "Supplier",
                json!({"id": id, "name": name, "toplevel_id": 0, "toplevel_name": "", "contact_name": contact, "email_address": email, "support_email_address": email, "phone_number": format!("01632 961{:03}", id * 11), "inactive": false, "website": "", "notes": "", "datecreated": "2022-03-14T09:12:44.1200000Z", "contract_count": 0, "accounts_id": format!("SUP{id:03}")}),
            );
        }

        let items: &[(i64, &str, i64, i64, i64, i64, bool)] = &[
            (1, "Remote support (per hour)", 9_000, 0, 0, 0, false),
            (2, "Onsite engineer (per hour)", 12_000, 0, 0, 0, false),
            (3, "Dell Latitude 5440 laptop", 89_900, 71_500, 1, 3, false),
            (4, "Dell WD19S docking station", 18_900, 13_200, 1, 3, false),
            (5, "HP 59A toner cartridge", 8_900, 6_100, 1, 1, false),
            (
                6,
                "Microsoft 365 Business Premium (monthly)",
                3_400,
                2_640,
                2,
                4,
                false,
            ),
            (7, "Fortinet FortiGate 60F", 74_900, 58_000, 3, 2, false),
            (8, "Windows 10 upgrade licence", 9_900, 7_000, 2, 4, true),
        ];
        for &(id, name, price, cost, group, supplier, inactive) in items {
            self.put(
                "Item",
                json!({"id": id, "name": name, "description": name, "baseprice": pounds(price), "costprice": pounds(cost), "assetgroup_id": group, "assetgroup_name": "", "supplier_id": supplier, "supplier_name": "", "inactive": inactive, "quantity_in_stock": if group == 1 { 4 } else { 0 }, "taxcode": 1, "taxcode_name": "Standard 20%", "nominalcode": if group == 0 { "4000" } else { "4100" }, "recurring": id == 6, "internalreference": format!("ITM-{id:03}")}),
            );
        }
    }

    /// Service categories, services with their statuses, and releases.
    fn services_and_releases(&mut self) {
        for (id, name, summary) in [
            (1, "Business Applications", "Line-of-business software"),
            (2, "Infrastructure", "Servers, backup and connectivity"),
            (3, "Communication", "Email, phones and collaboration"),
        ] {
            let g = self.guid();
            self.put("ServiceCategory", json!({"id": id, "guid": g, "name": name, "summary": summary, "seq": id, "parent_id": 0, "parent_name": "", "service_count": 0, "important": false, "icon": "fa-cubes"}));
        }

        let services: &[(i64, &str, i64, i64)] = &[
            (1, "Microsoft 365 Email", 3, 0),
            (2, "Practice Management System", 1, 0),
            (3, "Internet Connectivity", 2, 1),
            (4, "Backup & Disaster Recovery", 2, 0),
        ];
        for &(id, name, cat, status) in services {
            let g = self.guid();
            self.put(
                "Service",
                json!({"id": id, "guid": g, "name": name, "summary": format!("{name} for all managed clients"), "sequence": id, "showinusercatalog": true, "showintechcatalog": true, "trackstatus": true, "service_category_id": cat, "service_category_name": "", "business_owner_id": 10, "business_owner_name": "Hannah Birch", "technical_owner_id": 4, "technical_owner_name": "Chris Danvers", "cost": 0.0, "subscribable": true, "subscriber_count": 0, "current_status": status, "status_message_update_public": if status == 1 { "Some sites are seeing intermittent packet loss." } else { "" }}),
            );
        }
        let statuses: &[(i64, i64, i64, &str)] = &[
            (1, 1, 0, "All systems operational"),
            (2, 2, 0, "All systems operational"),
            (3, 3, 1, "Degraded: packet loss on Fibrelink circuit"),
            (4, 4, 0, "Backups completed overnight"),
        ];
        for &(id, service, status, msg) in statuses {
            let t = self.working_time(0);
            self.put(
                "ServiceStatus",
                json!({"id": id, "service_id": service, "timestamp": format_ts(t), "status": status, "message_internal": msg, "message_public": msg, "ticket_id": 0, "who": "System", "lastcheck": format_ts(t), "lastok": format_ts(t), "lastfailed": SENTINEL, "okcount": 1440, "failedcount": if status == 1 { 12 } else { 0 }, "totaldownmins": 0}),
            );
        }

        let releases: &[ReleaseDef] = &[
            (1, "Kestrel Client Portal 1.4.0", (2025, 9, 15), (1, 4, 0)),
            (2, "Kestrel Client Portal 1.4.1", (2025, 11, 3), (1, 4, 1)),
            (3, "Kestrel Client Portal 1.5.0", (2026, 2, 23), (1, 5, 0)),
        ];
        for &(id, name, date, (ma, mi, pa)) in releases {
            let t = ymd_ticks(date);
            self.put(
                "Release",
                json!({"id": id, "name": name, "name_expanded": name, "releasetype_id": 1, "releasetype_name": "Production", "branch_id": 0, "branch_name": "", "builddate": format_date(t - 7 * TICKS_PER_DAY), "releasedate": format_date(t), "note": "", "public_note": "Bug fixes and improvements.", "product_id": 1, "product_name": "Kestrel Client Portal", "sequence": id, "major_version_number": ma, "minor_version_number": mi, "patch_version_number": pa, "issues_logged": 0, "open_issues": 0}),
            );
        }
    }

    /// Saved reports whose SQL the simulator's engine runs.
    fn saved_reports(&mut self) {
        // Saved reports whose SQL the simulator's engine runs (see `sql.rs` for the tables).
        // Halo would filter dates through `reportingperioddatefield`; these put them in the
        // SQL, since the seed's "this month" is fixed (March 2026, the seed day's month).
        let reports: &[(i64, &str, &str, i64, &str, &str)] = &[
            (
                1,
                "Open tickets by client",
                "Open (not closed, not deleted) faults per client: tickets, projects and opportunities, which Halo keeps in one table.",
                1,
                "Faults",
                "SELECT Areaint AS client_id, COUNT(*) AS open_tickets FROM FAULTS WHERE Status <> 9 AND FDeleted = 0 GROUP BY Areaint",
            ),
            (
                2,
                "Tickets logged in March 2026",
                "Faults logged in the seed's current month, newest first.",
                1,
                "Faults",
                "SELECT TOP 500 Faultid, Symptom, Areaint AS client_id, Status, dateoccured FROM FAULTS WHERE dateoccured >= '2026-03-01' AND dateoccured < '2026-04-01' AND FDeleted = 0 ORDER BY dateoccured DESC",
            ),
            (
                3,
                "Active users per site",
                "End users who are not inactive, counted per site.",
                2,
                "Users",
                "SELECT Usite AS site_id, COUNT(*) AS active_users FROM USERS WHERE Uinactive = 0 GROUP BY Usite",
            ),
            (
                4,
                "Invoice totals by client",
                "One-off invoices per client: count, gross total and VAT (credit notes included).",
                3,
                "InvoiceHeader",
                "SELECT IHaarea AS client_id, COUNT(*) AS invoices, SUM(IHTotal) AS total, SUM(IHTax_Total) AS tax FROM INVOICEHEADER GROUP BY IHaarea",
            ),
            (
                5,
                "Top 5 agents by open tickets",
                "Agents with the most open faults.",
                1,
                "Faults",
                "SELECT TOP 5 Assignedtoint AS agent_id, COUNT(*) AS open_tickets FROM FAULTS WHERE Status <> 9 AND FDeleted = 0 AND Assignedtoint > 0 GROUP BY Assignedtoint ORDER BY open_tickets DESC",
            ),
        ];
        let groups = ["", "Service Desk", "Customers", "Finance"];
        for &(id, name, description, group, entity, sql) in reports {
            let group_name = groups.get(group as usize).copied().unwrap_or_default();
            self.put(
                "Report",
                merge(
                    json!({"id": id, "name": name, "description": description, "group_id": group, "group_name": group_name, "type": 0, "datasource_id": 0, "mainentity": entity, "sql": sql, "reportingperiod": 0, "reportingperioddatefield": "", "charttitle": name, "charttype": 0, "xaxis": "", "yaxis": ""}),
                    json!({"count": true, "is_published": id != 3, "restrictaccess": false, "canbeaccessedbyallusers": true, "systemreportid": 0, "apiquery_id": 0}),
                ),
            );
        }
    }

    // ------------------------------------------------------------------------------------------
    // Clients, sites, users
    // ------------------------------------------------------------------------------------------

    /// Clients with their sites, then each client's users, then the near-duplicate users a
    /// dedupe must find. User ids run on from the pool to the duplicates.
    fn clients_sites_users(&mut self) {
        let client_sites = self.clients_and_sites();
        let user_id = self.pool_users(&client_sites);
        self.near_duplicate_users(&client_sites, user_id);
    }

    /// Each client and its sites; returns each client's sites as (site id, inactive).
    fn clients_and_sites(&mut self) -> Vec<(i64, Vec<(i64, bool)>)> {
        let mut site_id = 18;
        let mut client_sites: Vec<(i64, Vec<(i64, bool)>)> = Vec::new();
        for c in CLIENTS {
            let main_site = site_id;
            let created = self.recent(800, 2200);
            let client = merge(
                json!({"id": c.id, "name": c.name, "toplevel_id": c.toplevel, "toplevel_name": "", "inactive": c.inactive, "colour": "#2bd3c6", "website": format!("https://www.{}", c.domain), "main_site_id": main_site, "main_site_name": c.sites.first().map(|s| s.0).unwrap_or_default(), "accountmanagertech": 10, "accountmanagertech_name": "Hannah Birch", "pritech": if c.id % 2 == 0 { 4 } else { 5 }, "sectech": 2, "pritech_name": "", "sectech_name": "", "customfields": [{"id": 220, "name": "CFContractRenewalNotes", "label": "Contract Renewal Notes", "type": 0, "value": "", "display": ""}]}),
                json!({"datecreated": format_ts(created), "notes": if c.inactive { "Moved to another provider June 2025." } else { "" }, "ref": c.prefix, "is_vip": c.id == 12, "tax_number": "", "client_to_invoice": 0, "taxable": true, "customertype": 0, "open_ticket_count": 0, "stopped": 0, "override_org_name": "", "messagegroup_id": -1, "mailbox_override": -1, "default_currency_code": -1, "xeroid": "", "use": "client"}),
            );
            // pritech/sectech names resolve from the agent table.
            let mut client = row(client);
            let pri = client.get("pritech").and_then(as_i64).unwrap_or(0);
            client.insert(
                "pritech_name".into(),
                Value::String(self.db.text("Agent", pri, "name")),
            );
            client.insert(
                "sectech_name".into(),
                Value::String(self.db.text("Agent", 2, "name")),
            );
            self.put("Client", Value::Object(client));

            let mut sites = Vec::new();
            for (i, &(name, inactive)) in c.sites.iter().enumerate() {
                let addr = site_address(site_id);
                let notes = if inactive {
                    "Office closed Nov 2025"
                } else {
                    ""
                };
                self.site(site_id, c, name, inactive, i == 0, addr, notes, created);
                sites.push((site_id, inactive));
                site_id += 1;
            }
            client_sites.push((c.id, sites));
        }
        client_sites
    }

    /// Users of each client: unique names, firstname.surname@domain. Returns the next free id.
    fn pool_users(&mut self, client_sites: &[(i64, Vec<(i64, bool)>)]) -> i64 {
        let reserved = [
            "Jonah Fairweather",
            "Sam Okafor",
            "Priya Nair",
            "Tom Ashdown",
            "Marta Kovac",
        ];
        let mut used: HashSet<String> = reserved.iter().map(|s| s.to_string()).collect();
        let mut user_id = 101;
        for (c, (cid, sites)) in CLIENTS.iter().zip(client_sites.iter()) {
            let active_sites: Vec<i64> = sites.iter().filter(|s| !s.1).map(|s| s.0).collect();
            for n in 0..c.users {
                let (first, sur) = loop {
                    let f = self.p.pick(FIRST_NAMES).copied().unwrap_or("Alex");
                    let s = self.p.pick(SURNAMES).copied().unwrap_or("Smith");
                    if used.insert(format!("{f} {s}")) {
                        break (f, s);
                    }
                };
                let site = if n == 0 {
                    active_sites[0]
                } else {
                    *self.p.pick(&active_sites).unwrap_or(&active_sites[0])
                };
                let email = format!("{}.{}@{}", slug(first), slug(sur), c.domain);
                // A few leavers; every user of the inactive client is kept active (they just
                // stopped being a customer), except one.
                let inactive = (n == c.users - 1 && c.users >= 7) || (c.inactive && n == 2);
                self.user(
                    user_id,
                    *cid,
                    site,
                    first,
                    sur,
                    &email,
                    &email.clone(),
                    inactive,
                    n == 0,
                );
                user_id += 1;
            }
        }
        user_id
    }

    fn near_duplicate_users(&mut self, client_sites: &[(i64, Vec<(i64, bool)>)], mut user_id: i64) {
        // Near-duplicates, the cases a dedupe tool must handle (see module docs of the tests).
        let s = |cid: i64, idx: usize| -> i64 {
            client_sites
                .iter()
                .find(|(c, _)| *c == cid)
                .and_then(|(_, s)| s.get(idx))
                .map(|s| s.0)
                .unwrap_or(18)
        };
        let dups: Vec<(i64, i64, &str, &str, &str, &str, bool)> = vec![
            // Same person, same email differing only in case, at two sites.
            (
                11,
                s(11, 0),
                "Jonah",
                "Fairweather",
                "j.fairweather@harbourline.co.uk",
                "j.fairweather@harbourline.co.uk",
                false,
            ),
            (
                11,
                s(11, 1),
                "Jonah",
                "Fairweather",
                "J.Fairweather@Harbourline.co.uk",
                "J.Fairweather@Harbourline.co.uk",
                false,
            ),
            // Same name, different people at different clients.
            (
                12,
                s(12, 0),
                "Sam",
                "Okafor",
                "s.okafor@brindleoak.co.uk",
                "s.okafor@brindleoak.co.uk",
                false,
            ),
            (
                15,
                s(15, 0),
                "Sam",
                "Okafor",
                "sam.okafor@saltmarshbrewing.com",
                "sam.okafor@saltmarshbrewing.com",
                false,
            ),
            // Same login (UPN) on two records with different emails and names.
            (
                13,
                s(13, 0),
                "Priya",
                "Nair",
                "priya.nair@meadowgatevets.co.uk",
                "priya.nair@meadowgatevets.co.uk",
                false,
            ),
            (
                13,
                s(13, 1),
                "P.",
                "Nair",
                "p.nair@meadowgatevets.co.uk",
                "priya.nair@meadowgatevets.co.uk",
                false,
            ),
            // Inactive duplicate with the same email.
            (
                14,
                s(14, 0),
                "Tom",
                "Ashdown",
                "tom.ashdown@copperfield-arch.co.uk",
                "tom.ashdown@copperfield-arch.co.uk",
                false,
            ),
            (
                14,
                s(14, 0),
                "Tom",
                "Ashdown",
                "tom.ashdown@copperfield-arch.co.uk",
                "tom.ashdown@copperfield-arch.co.uk",
                true,
            ),
            // Inactive duplicate with an old email address.
            (
                11,
                s(11, 2),
                "Marta",
                "Kovac",
                "marta.kovac@harbourline.co.uk",
                "marta.kovac@harbourline.co.uk",
                false,
            ),
            (
                11,
                s(11, 2),
                "Marta",
                "Kovac",
                "m.kovac@harbourline.co.uk",
                "m.kovac@harbourline.co.uk",
                true,
            ),
        ];
        for (cid, site, first, sur, email, login, inactive) in dups {
            self.user(
                user_id, cid, site, first, sur, email, login, inactive, false,
            );
            user_id += 1;
        }
    }

    /// Stores a site. `address` is `(line1, postcode)`.
    #[allow(clippy::too_many_arguments)]
    fn site(
        &mut self,
        id: i64,
        c: &ClientDef,
        name: &str,
        inactive: bool,
        invoice_site: bool,
        (line1, postcode): (String, String),
        notes: &str,
        created: i128,
    ) {
        let g = self.guid();
        let address = json!({"id": id * 2, "type": -2, "line1": line1, "line2": name, "line3": "", "line4": "", "postcode": postcode, "primary": true, "inactive": false, "site_id": id});
        self.put(
            "Site",
            merge(
                json!({"id": id, "name": name, "client_id": c.id, "client_name": "", "clientsite_name": "", "inactive": inactive, "sla_id": c.sla, "sla_name": "", "phonenumber": format!("01632 96{:04}", 2000 + id), "colour": "#2bd3c6", "timezone": "GMT Standard Time", "delivery_address": address.clone(), "invoice_address": address, "isinvoicesite": invoice_site, "invoice_address_isdelivery": true, "maincontact_id": 0, "maincontact_name": ""}),
                json!({"notes": notes, "emaildomain": c.domain, "refnumber": 0, "isstocklocation": false, "datecreated": format_ts(created), "guid": g, "customfields": [], "use": "site"}),
            ),
        );
    }

    /// Two near-duplicate sites, added after everything else so no seeded record moves: a
    /// second "Head Office" for Harbourline at the Bristol head office's address, and an
    /// inactive "Northfield" beside Meadowgate's "Northfield Branch", its street abbreviated.
    fn near_duplicate_sites(&mut self) {
        let first = self.db.table("Site").map(|t| t.next_id).unwrap_or(34);
        let created = self.recent(30, 200);
        let pairs: [(i64, i64, &str, bool, &str); 2] = [
            (
                11,
                18,
                "Head Office",
                false,
                "Created by the client portal; same building as Head Office - Bristol",
            ),
            (
                13,
                25,
                "Northfield",
                true,
                "Duplicate of Northfield Branch, kept for old tickets",
            ),
        ];
        for (n, (client, original, name, inactive, notes)) in pairs.into_iter().enumerate() {
            let Some(c) = CLIENTS.iter().find(|c| c.id == client) else {
                continue;
            };
            let (line1, postcode) = site_address(original);
            let line1 = if inactive {
                line1.replace(" Street", " St")
            } else {
                line1
            };
            self.site(
                first + n as i64,
                c,
                name,
                inactive,
                false,
                (line1, postcode),
                notes,
                created,
            );
        }
    }

    /// Duplicates in asset types whose key field 1 is not the serial (rule in the module docs),
    /// added last so they move no other record.
    fn layout_duplicates(&mut self) {
        let assets: Vec<Value> = self
            .db
            .table("Asset")
            .map(|t| t.rows.values().cloned().collect())
            .unwrap_or_default();
        let first_of = |type_id: i64, client: Option<i64>| {
            assets
                .iter()
                .find(|a| {
                    int_field(a, "assettype_id") == type_id
                        && client.is_none_or(|c| int_field(a, "client_id") == c)
                })
                .cloned()
        };
        let mut id = self.db.table("Asset").map(|t| t.next_id).unwrap_or(1001);
        if let Some(phone) = first_of(7, None) {
            self.phone_again(&phone, id);
            id += 1;
        }
        if let Some(printer) = first_of(4, Some(11)) {
            self.printer_again(&printer, id);
            id += 1;
        }
        if let Some(server) = first_of(3, Some(12)) {
            self.server_rebuilt(&server, &assets, id);
        }
    }

    /// The first phone entered again by hand: the IMEI spaced out, a Name of its own.
    fn phone_again(&mut self, phone: &Value, id: i64) {
        let imei = asset_field(phone, asset_layouts::SERIAL.0);
        let spaced = format!("{} {}", &imei[..imei.len() / 2], &imei[imei.len() / 2..]);
        let user = phone
            .get("users")
            .and_then(Value::as_array)
            .and_then(|u| u.first())
            .map(|u| {
                (
                    int_field(u, "id"),
                    u["name"].as_str().unwrap_or("").to_string(),
                )
            });
        let first = user
            .as_ref()
            .and_then(|(_, n)| n.split_whitespace().next())
            .unwrap_or("Work")
            .to_string();
        self.asset(
            id,
            int_field(phone, "client_id"),
            int_field(phone, "site_id"),
            7,
            &spaced,
            "",
            &asset_field(phone, asset_layouts::MODEL.0),
            user,
            false,
            60,
            Some(&format!("{first}'s iPhone")),
        );
    }

    /// Client 11's first printer entered again: the serial in lower case, a new hostname.
    fn printer_again(&mut self, printer: &Value, id: i64) {
        let serial = asset_field(printer, asset_layouts::SERIAL.0).to_ascii_lowercase();
        let host = format!("{}-B", asset_field(printer, asset_layouts::HOSTNAME.0));
        self.asset(
            id,
            11,
            int_field(printer, "site_id"),
            4,
            &serial,
            &host,
            &asset_field(printer, asset_layouts::MODEL.0),
            None,
            false,
            90,
            None,
        );
    }

    /// Client 12's server rebuilt on new hardware under the old hostname, both active.
    fn server_rebuilt(&mut self, server: &Value, assets: &[Value], id: i64) {
        let mut used: HashSet<String> = assets
            .iter()
            .map(|a| asset_field(a, asset_layouts::SERIAL.0))
            .collect();
        let serial = self.serial("dell", &mut used);
        self.asset(
            id,
            12,
            int_field(server, "site_id"),
            3,
            &serial,
            &asset_field(server, asset_layouts::HOSTNAME.0),
            "Dell PowerEdge R660",
            None,
            false,
            45,
            None,
        );
    }

    /// Runs `f` with its own random stream (from `seed` and `salt`), restoring the seeded
    /// stream afterwards, so bulk extras never depend on each other's size.
    fn with_stream(&mut self, seed: u64, salt: u64, f: impl FnOnce(&mut Self)) {
        let saved = std::mem::replace(&mut self.p, Prng::new(seed ^ salt));
        f(self);
        self.p = saved;
    }

    /// Active sites of a client, from the sites seeded so far.
    fn active_sites(&self, client: i64) -> Vec<i64> {
        self.db
            .table("Site")
            .map(|t| {
                t.rows
                    .values()
                    .filter(|s| {
                        int_field(s, "client_id") == client
                            && s.get("inactive") == Some(&Value::Bool(false))
                    })
                    .map(|s| int_field(s, "id"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `SimConfig::extra_assets` (rule in the module docs).
    fn extra_assets(&mut self, seed: u64, n: usize) {
        if n == 0 {
            return;
        }
        self.with_stream(seed, 0xA55E_7000_0000_0001, |s| {
            const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
            let first = s.db.table("Asset").map(|t| t.next_id).unwrap_or(1001);
            let sites: Vec<Vec<i64>> = CLIENTS.iter().map(|c| s.active_sites(c.id)).collect();
            let mut used: HashSet<String> = HashSet::new();
            // (client, site, type, serial, host, model) of each extra asset, by index.
            let mut made: Vec<(i64, i64, i64, String, String, &'static str)> =
                Vec::with_capacity(n);
            for i in 0..n {
                let id = first + i as i64;
                let prev = i.checked_sub(1).and_then(|p| made.get(p)).cloned();
                let fresh_serial = |s: &mut Self, used: &mut HashSet<String>| loop {
                    let tail: String = (0..8)
                        .map(|_| {
                            ALNUM
                                .get(s.p.below(ALNUM.len() as u64) as usize)
                                .map_or('0', |b| *b as char)
                        })
                        .collect();
                    let serial = format!("SN-{tail}");
                    if used.insert(serial.clone()) {
                        break serial;
                    }
                };
                let entry = match (i % 50, prev) {
                    // The same device entered twice: the serial differs only in case/spacing.
                    (49, Some((client, site, ty, serial, host, model))) => {
                        let variant = serial_variant(&serial, i / 50);
                        let age = s.p.range(30, 900);
                        s.asset(
                            id, client, site, ty, &variant, &host, model, None, false, age, None,
                        );
                        (client, site, ty, variant, host, model)
                    }
                    // A replacement given the old machine's hostname, with its own serial.
                    (24, Some((client, site, ty, _, host, model))) => {
                        let serial = fresh_serial(s, &mut used);
                        let retired = i % 100 == 74;
                        s.asset(
                            id, client, site, ty, &serial, &host, model, None, retired, 1200, None,
                        );
                        (client, site, ty, serial, host, model)
                    }
                    _ => {
                        let k = i % CLIENTS.len();
                        let (Some(c), Some(client_sites)) = (CLIENTS.get(k), sites.get(k)) else {
                            continue;
                        };
                        let site = s.p.pick(client_sites).copied().unwrap_or(c.id);
                        let laptop = s.p.chance(65);
                        let (ty, model) = if laptop {
                            (1, "Dell Latitude 5440")
                        } else {
                            (2, "Dell OptiPlex 7020")
                        };
                        let serial = fresh_serial(s, &mut used);
                        let host = format!("{}-WS-{i:05}", c.prefix);
                        let age = s.p.range(30, 1100);
                        s.asset(
                            id, c.id, site, ty, &serial, &host, model, None, false, age, None,
                        );
                        (c.id, site, ty, serial, host, model)
                    }
                };
                made.push(entry);
            }
        });
    }

    /// `SimConfig::extra_users` (rule in the module docs).
    fn extra_users(&mut self, seed: u64, n: usize) {
        if n == 0 {
            return;
        }
        self.with_stream(seed, 0x05E7_0000_0000_0002, |s| {
            let first_id = s.db.table("Users").map(|t| t.next_id).unwrap_or(101);
            let sites: Vec<Vec<i64>> = CLIENTS.iter().map(|c| s.active_sites(c.id)).collect();
            let taken: HashSet<String> = s.users.iter().map(|u| u.name.to_lowercase()).collect();
            let mut emails: HashSet<String> =
                s.users.iter().map(|u| u.email.to_lowercase()).collect();
            let mut combo = 0usize;
            // (client, site, first, surname, email) by index.
            let mut made: Vec<(i64, i64, String, String, String)> = Vec::with_capacity(n);
            for i in 0..n {
                let id = first_id + i as i64;
                let prev = i.checked_sub(1).and_then(|p| made.get(p)).cloned();
                let entry = match (i % 40, prev) {
                    // The same person entered twice, the email differing only in case.
                    (39, Some((client, site, first, sur, email))) => {
                        let shouty = capitalise_email(&email);
                        let inactive = i % 80 == 79;
                        s.user(
                            id, client, site, &first, &sur, &shouty, &shouty, inactive, false,
                        );
                        (client, site, first, sur, shouty)
                    }
                    _ => {
                        // The next first/surname pair no seeded user has: a walk through all
                        // 40×40 pairs, then the same with a middle initial.
                        let (first, sur) = loop {
                            let a = combo % FIRST_NAMES.len();
                            let b = (combo / FIRST_NAMES.len() + a) % SURNAMES.len();
                            let round = combo / (FIRST_NAMES.len() * SURNAMES.len());
                            combo += 1;
                            let (Some(f), Some(l)) = (FIRST_NAMES.get(a), SURNAMES.get(b)) else {
                                continue;
                            };
                            let first = match round {
                                0 => (*f).to_string(),
                                r => format!("{f} {}.", char::from(b'A' + ((r - 1) % 26) as u8)),
                            };
                            if !taken.contains(&format!("{first} {l}").to_lowercase()) {
                                break (first, (*l).to_string());
                            }
                        };
                        let k = i % CLIENTS.len();
                        let (Some(c), Some(client_sites)) = (CLIENTS.get(k), sites.get(k)) else {
                            continue;
                        };
                        let site = s.p.pick(client_sites).copied().unwrap_or(c.id);
                        let local = format!("{}.{}", dotted(&first), slug(&sur));
                        let mut email = format!("{local}@{}", c.domain);
                        let mut n2 = 2;
                        while !emails.insert(email.to_lowercase()) {
                            email = format!("{local}{n2}@{}", c.domain);
                            n2 += 1;
                        }
                        let inactive = i % 10 == 4;
                        s.user(
                            id, c.id, site, &first, &sur, &email, &email, inactive, false,
                        );
                        (c.id, site, first, sur, email)
                    }
                };
                made.push(entry);
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn user(
        &mut self,
        id: i64,
        client: i64,
        site: i64,
        first: &str,
        sur: &str,
        email: &str,
        login: &str,
        inactive: bool,
        important: bool,
    ) {
        let name = format!("{first} {sur}");
        let created = self.recent(100, 1500);
        let title = self.p.pick(JOB_TITLES).copied().unwrap_or_default();
        let g = self.guid();
        let phone = format!("01632 96{:04}", 3000 + id);
        let mobile = format!("07700 900{:03}", id % 1000);
        let u = merge(
            json!({"id": id, "name": name, "firstname": first, "surname": sur, "initials": format!("{}{}", first.chars().next().unwrap_or('X'), sur.chars().next().unwrap_or('X')), "title": title, "emailaddress": email, "email2": "", "email3": "", "phonenumber": phone, "phonenumber_preferred": phone, "mobilenumber": mobile, "mobilenumber2": "", "homenumber": "", "sitephonenumber": "", "site_id": site, "site_id_int": site, "site_name": "", "client_id": client, "client_name": ""}),
            json!({"inactive": inactive, "isimportantcontact": important, "isserviceaccount": false, "login": login, "notes": if inactive { "Left the company" } else { "" }, "customfields": [], "datecreated": format_ts(created), "neversendemails": false, "priority_id": 0, "linked_agent_id": 0, "other1": "", "other2": "", "other3": "", "other4": "", "other5": "", "telpref": 1, "colour": "#2bd3c6", "site_guid": g, "messagegroup_id": -1, "use": "user"}),
        );
        self.put("Users", u);
        self.users.push(SeedUser {
            id,
            client,
            site,
            name,
            email: email.to_string(),
            inactive,
        });
    }

    // ------------------------------------------------------------------------------------------
    // Contracts
    // ------------------------------------------------------------------------------------------

    fn contracts(&mut self) {
        for c @ &(id, client, reference, name, ctype, months, units, unit, _, _, hours) in CONTRACTS
        {
            let (start, end) = self.term(c);
            let (st, en) = (ymd_ticks(start), ymd_ticks(end));
            let expired = en < self.now;
            // Next invoice: first period start after the seed day.
            let mut next = start;
            while ymd_ticks(next) <= self.now {
                next = add_months(next, months);
            }
            let next_date = if expired {
                SENTINEL.to_string()
            } else {
                format_date(ymd_ticks(next))
            };
            let main_site = self
                .db
                .get("Client", client)
                .map(|c| int_field(c, "main_site_id"))
                .unwrap_or(0);
            self.put(
                "ClientContract",
                merge(
                    json!({"id": id, "client_id": client, "client_name": "", "site_id": main_site, "site_name": "", "ref": reference, "refextra": "", "note": name, "contracttype": match ctype { "Managed Service" => 1, "Prepay" => 2, "Licensing" => 3, "Retainer" => 4, _ => 5 }, "contracttype_name": ctype, "start_date": format_date(st), "end_date": format_date(en), "started": true, "expired": expired, "active": !expired, "status": if expired { 2 } else { 1 }, "contract_status": if expired { "Expired" } else { "Active" }}),
                    json!({"billingperiod": period_code(months), "billing_period_string": period_name(months), "billingdescription": 0, "periodchargeamount": pounds(units * unit), "chargehoursperperiod": hours, "numberofunitsfree": if units > 1 { units } else { 0 }, "sla_id": if client == 12 || client == 13 { 2 } else { 1 }, "sla_name": "", "periodicinvoicenextdate": next_date, "next_invoice_date": next_date, "termmonths": (end.0 - start.0) * 12 + i64::from(end.1) - i64::from(start.1) + 1, "rollingcontract": false, "allowprepay": ctype == "Prepay", "allowpyg": true, "allowfixedprice": false, "user_id": -1, "user_name": "", "customfields": [], "currency_code": 0, "subtype": 0, "refextra2": "", "next_call_date": SENTINEL, "asset_end_date": SENTINEL, "last_modified": format_ts(st + 9 * 3600 * TICKS_PER_SEC)}),
                ),
            );
        }
    }

    /// A contract's (start, end), moved with the seed day: starts are firsts of months and
    /// ends last days of months, and stay so.
    fn term(&self, c: &ContractDef) -> ((i64, u32, u32), (i64, u32, u32)) {
        let start = add_months(c.8, self.shift);
        let after = add_months((c.9.0, c.9.1, 1), self.shift + 1);
        (start, ticks_ymd(ymd_ticks(after) - TICKS_PER_DAY))
    }

    fn active_contract(&self, client: i64) -> i64 {
        CONTRACTS
            .iter()
            .find(|c| c.1 == client && ymd_ticks(self.term(c).1) >= self.now)
            .or_else(|| CONTRACTS.iter().find(|c| c.1 == client))
            .map(|c| c.0)
            .unwrap_or(-1)
    }

    // ------------------------------------------------------------------------------------------
    // Assets
    // ------------------------------------------------------------------------------------------

    fn serial(&mut self, kind: &str, used: &mut HashSet<String>) -> String {
        const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
        const ALPHA: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        loop {
            let pick = |set: &[u8], n: usize, p: &mut Prng| -> String {
                (0..n)
                    .map(|_| set[p.below(set.len() as u64) as usize] as char)
                    .collect()
            };
            let s = match kind {
                "hp" => format!(
                    "5CG{}{}",
                    self.p.range(1000, 9999),
                    pick(ALPHA, 3, &mut self.p)
                ),
                "dell" => pick(ALNUM, 7, &mut self.p),
                "lenovo" => format!("PF{}", pick(ALNUM, 6, &mut self.p)),
                "fortinet" => format!("FGT60F{}", self.p.range(1_000_000_000, 9_999_999_999)),
                "printer" => format!("VNB3{}", pick(ALNUM, 6, &mut self.p)),
                _ => format!("US24P{}", self.p.range(100_000, 999_999)),
            };
            if used.insert(s.clone()) {
                return s;
            }
        }
    }

    /// An asset; `name` gives its Name field (default: the hostname, or for a device without
    /// one, "model (user)").
    #[allow(clippy::too_many_arguments)]
    fn asset(
        &mut self,
        id: i64,
        client: i64,
        site: i64,
        type_id: i64,
        serial: &str,
        host: &str,
        model: &str,
        user: Option<(i64, String)>,
        retired: bool,
        age_days: i64,
        name: Option<&str>,
    ) {
        let prefix = self.db.text("AssetType", type_id, "tagprefix");
        let start = self.working_time(age_days);
        let supplier = if type_id == 5 || type_id == 6 { 2 } else { 3 };
        let (users, username) = match &user {
            Some((uid, name)) => (json!([{"id": uid, "name": name}]), name.clone()),
            None => (json!([]), String::new()),
        };
        let contract = self.active_contract(client);
        let default_name = if host.is_empty() {
            format!("{model} ({username})")
        } else {
            host.to_string()
        };
        let values = asset_layouts::Values {
            serial,
            host,
            model,
            user: &username,
            name: name.unwrap_or(&default_name),
        };
        // The key fields are whichever fields the asset's type names (see `asset_layouts`).
        let (fields, [k1, k2, k3]) =
            asset_layouts::fields_and_keys(&values, self.layout.key_fields(type_id));
        self.put(
            "Asset",
            merge(
                json!({"id": id, "inventory_number": format!("{prefix}-{id:05}"), "key_field": k1, "key_field2": k2, "key_field3": k3, "client_id": client, "client_name": "", "site_id": site, "site_name": "", "assettype_id": type_id, "assettype_name": "", "status_id": if retired { 2 } else { 1 }, "status_name": if retired { "Retired" } else { "Active" }, "inactive": retired, "username": username, "users": users, "business_owner_id": 0, "technical_owner_id": 0, "contract_id": contract, "contract_ref": ""}),
                json!({"supplier_id": supplier, "supplier_name": "", "warranty_start": format_date(start), "warranty_end": format_date(start + 3 * 365 * TICKS_PER_DAY), "sla_id": 0, "priority_id": 0, "third_party_id": 0, "device_number": id - 1000, "parent_id": 0, "notes": if retired { "Retired - replaced" } else { "" }, "colour": "", "icon": "", "fields": fields, "customfields": [], "is_primary_asset": false, "use": "asset"}),
            ),
        );
    }

    /// The tenant's assets: each client's devices, then the duplicates a dedupe must find,
    /// retired laptops and phones. Ids run on from one part to the next, in PRNG draw order.
    fn assets(&mut self) {
        let users = self.users.clone();
        let mut used = HashSet::new();
        let mut laptops: Vec<Laptop> = Vec::new();
        let id = self.client_devices(&users, &mut used, &mut laptops, 1001);
        let id = self.duplicate_serials(&laptops, id);
        let id = self.duplicate_hostnames(&laptops, &mut used, id);
        let id = self.retired_laptops(&laptops, &mut used, id);
        self.mobile_phones(&users, id);
    }

    /// Laptops or desktops for active users, printers, firewalls, servers and switches per
    /// client. Returns the next free id.
    fn client_devices(
        &mut self,
        users: &[SeedUser],
        used: &mut HashSet<String>,
        laptops: &mut Vec<Laptop>,
        mut id: i64,
    ) -> i64 {
        for c in CLIENTS {
            id = self.user_machines(c, users, used, laptops, id);
            id = self.site_devices(c, used, id);
        }
        id
    }

    /// A laptop (three in four) or desktop for each active user of client `c`. Returns the next
    /// free id.
    fn user_machines(
        &mut self,
        c: &ClientDef,
        users: &[SeedUser],
        used: &mut HashSet<String>,
        laptops: &mut Vec<Laptop>,
        mut id: i64,
    ) -> i64 {
        for (n, u) in (1..).zip(users.iter().filter(|u| u.client == c.id && !u.inactive)) {
            let laptop = self.p.chance(75);
            let (kind, model) = match self.p.below(3) {
                0 => (
                    "hp",
                    if laptop {
                        "HP EliteBook 840 G8"
                    } else {
                        "HP EliteDesk 800 G6"
                    },
                ),
                1 => (
                    "dell",
                    if laptop {
                        "Dell Latitude 5430"
                    } else {
                        "Dell OptiPlex 7010"
                    },
                ),
                _ => (
                    "lenovo",
                    if laptop {
                        "Lenovo ThinkPad T14 Gen 3"
                    } else {
                        "Lenovo ThinkCentre M70q"
                    },
                ),
            };
            let serial = self.serial(kind, used);
            let host = format!("{}-{}-{:03}", c.prefix, if laptop { "LT" } else { "DT" }, n);
            let age = self.p.range(30, 900);
            self.asset(
                id,
                c.id,
                u.site,
                if laptop { 1 } else { 2 },
                &serial,
                &host,
                model,
                Some((u.id, u.name.clone())),
                false,
                age,
                None,
            );
            if laptop {
                laptops.push((id, serial, host, c.id, u.site, model.to_string()));
            }
            id += 1;
        }
        id
    }

    /// A printer per active site of client `c`, a firewall, and for some clients a server and a
    /// switch. Returns the next free id.
    fn site_devices(&mut self, c: &ClientDef, used: &mut HashSet<String>, mut id: i64) -> i64 {
        let sites: Vec<i64> = self
            .db
            .table("Site")
            .map(|t| {
                t.rows
                    .values()
                    .filter(|s| {
                        int_field(s, "client_id") == c.id
                            && s.get("inactive") == Some(&Value::Bool(false))
                    })
                    .map(|s| int_field(s, "id"))
                    .collect()
            })
            .unwrap_or_default();
        for (i, site) in sites.iter().enumerate() {
            let serial = self.serial("printer", used);
            self.asset(
                id,
                c.id,
                *site,
                4,
                &serial,
                &format!("{}-PRN-{:02}", c.prefix, i + 1),
                "HP LaserJet Pro M404dn",
                None,
                false,
                400,
                None,
            );
            id += 1;
        }
        let main = sites.first().copied().unwrap_or(18);
        let serial = self.serial("fortinet", used);
        self.asset(
            id,
            c.id,
            main,
            5,
            &serial,
            &format!("{}-FW-01", c.prefix),
            "Fortinet FortiGate 60F",
            None,
            c.inactive,
            700,
            None,
        );
        id += 1;
        if [11, 12, 13].contains(&c.id) {
            let serial = self.serial("dell", used);
            self.asset(
                id,
                c.id,
                main,
                3,
                &serial,
                &format!("{}-SRV-01", c.prefix),
                "Dell PowerEdge R650",
                None,
                false,
                1000,
                None,
            );
            id += 1;
        }
        if [11, 13].contains(&c.id) {
            let serial = self.serial("switch", used);
            self.asset(
                id,
                c.id,
                main,
                6,
                &serial,
                &format!("{}-SW-01", c.prefix),
                "UniFi Switch 24 PoE",
                None,
                false,
                800,
                None,
            );
            id += 1;
        }
        id
    }

    fn duplicate_serials(&mut self, laptops: &[Laptop], mut id: i64) -> i64 {
        // Duplicate serials: the same device entered twice (RMM import + manual), the serial
        // differing only in case or spacing.
        let variants: [fn(&str) -> String; 4] = [
            |s| s.to_ascii_lowercase(),
            |s| format!("{} {}", &s[..s.len() / 2], &s[s.len() / 2..]),
            |s| format!("{s} "),
            |s| format!(" {} ", s.to_ascii_lowercase()),
        ];
        for (i, f) in variants.iter().enumerate() {
            let Some((_, serial, host, client, site, model)) = laptops.get(i * 3).cloned() else {
                continue;
            };
            self.asset(
                id,
                client,
                site,
                1,
                &f(&serial),
                &host,
                &model,
                None,
                false,
                200,
                None,
            );
            id += 1;
        }
        id
    }

    fn duplicate_hostnames(
        &mut self,
        laptops: &[Laptop],
        used: &mut HashSet<String>,
        mut id: i64,
    ) -> i64 {
        // Duplicate hostnames with different serials: a replaced machine given the old name.
        // The first pair is both active (a genuine conflict); the others keep the old one retired.
        for (i, pick) in [1usize, 4, 7].iter().enumerate() {
            let Some((_, _, host, client, site, model)) = laptops.get(*pick).cloned() else {
                continue;
            };
            let serial = self.serial("dell", used);
            self.asset(
                id,
                client,
                site,
                1,
                &serial,
                &host,
                &model,
                None,
                i != 0,
                1200,
                None,
            );
            id += 1;
        }
        id
    }

    fn retired_laptops(
        &mut self,
        laptops: &[Laptop],
        used: &mut HashSet<String>,
        mut id: i64,
    ) -> i64 {
        // Retired laptops from the previous refresh.
        for pick in [2usize, 5, 8, 10, 13, 16] {
            let Some((_, _, host, client, site, _)) = laptops.get(pick).cloned() else {
                continue;
            };
            let serial = self.serial("hp", used);
            self.asset(
                id,
                client,
                site,
                1,
                &serial,
                &format!("{host}-OLD"),
                "HP EliteBook 840 G3",
                None,
                true,
                1400,
                None,
            );
            id += 1;
        }
        id
    }

    fn mobile_phones(&mut self, users: &[SeedUser], mut id: i64) {
        // Mobile phones for a few key contacts.
        for u in users.iter().filter(|u| !u.inactive).take(4) {
            let imei = format!("35{}", self.p.range(1_000_000_000_000, 9_999_999_999_999));
            let name = Some((u.id, u.name.clone()));
            self.asset(
                id,
                u.client,
                u.site,
                7,
                &imei,
                "",
                "Apple iPhone 15",
                name,
                false,
                150,
                None,
            );
            id += 1;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Tickets, projects, opportunities and their actions
    // ------------------------------------------------------------------------------------------

    fn faults(&mut self) {
        const TOTAL: usize = 250;
        let mut times: Vec<i128> = (0..TOTAL)
            .map(|_| {
                // A third of the year's tickets in the last month, so there is open work.
                let days = if self.p.chance(33) {
                    self.p.range(0, 30)
                } else {
                    self.p.range(0, 364)
                };
                self.working_time(days)
            })
            .collect();
        times.sort_unstable();
        let users: Vec<SeedUser> = self.users.iter().filter(|u| !u.inactive).cloned().collect();
        let deleted_slots = [15usize, 80, 145, 212];
        for (i, occurred) in times.into_iter().enumerate() {
            let id = 4001 + i as i64;
            let kind = match i % 25 {
                7 => "project",
                19 => "opportunity",
                _ => "ticket",
            };
            // The inactive client only raised tickets before it left (June 2025).
            let left = ymd_ticks((2025, 6, 30));
            let candidates: Vec<&SeedUser> = users
                .iter()
                .filter(|u| {
                    let inactive_client = CLIENTS.iter().any(|c| c.id == u.client && c.inactive);
                    if occurred < left {
                        true
                    } else {
                        !inactive_client
                    }
                })
                .collect();
            let weights: Vec<u64> = candidates
                .iter()
                .map(|u| match u.client {
                    11 => 5,
                    12 | 13 => 4,
                    17 => 1,
                    _ => 3,
                })
                .collect();
            let Some(user) = candidates
                .get(self.p.weighted(&weights))
                .map(|u| (*u).clone())
            else {
                continue;
            };
            let mut t = ticket_template();
            match kind {
                "project" => self.project(&mut t, id, occurred, &user),
                "opportunity" => self.opportunity(&mut t, id, occurred, &user),
                _ => self.request(&mut t, id, occurred, &user, deleted_slots.contains(&i)),
            }
        }
    }

    fn common_fault(&mut self, t: &mut Row, id: i64, occurred: i128, user: &SeedUser) {
        let g = self.guid();
        let key = self.guid();
        t.insert("id".into(), json!(id));
        t.insert("hdid".into(), json!(id));
        t.insert("guid".into(), json!(g));
        t.insert("key".into(), json!(key));
        t.insert("dateoccurred".into(), json!(self.ts(occurred)));
        t.insert("datecreated".into(), json!(self.ts(occurred + 23_000)));
        t.insert("client_id".into(), json!(user.client));
        t.insert("site_id".into(), json!(user.site));
        t.insert("user_id".into(), json!(user.id));
        t.insert("reportedby".into(), json!(user.email));
        t.insert("emailtolist".into(), json!(user.email));
        let tl = CLIENTS
            .iter()
            .find(|c| c.id == user.client)
            .map(|c| c.toplevel)
            .unwrap_or(1);
        t.insert("top_level_id".into(), json!(tl));
        let contract = self.active_contract(user.client);
        t.insert("contract_id".into(), json!(contract));
        t.insert(
            "contract_ref".into(),
            json!(self.db.text("ClientContract", contract, "ref")),
        );
        t.insert(
            "sla_id".into(),
            json!(if user.client == 12 || user.client == 13 {
                2
            } else {
                1
            }),
        );
        t.insert("site_sla_id".into(), json!(1));
        t.insert("changeseq".into(), json!(250_000 + id));
    }

    fn request(&mut self, t: &mut Row, id: i64, occurred: i128, user: &SeedUser, deleted: bool) {
        self.common_fault(t, id, occurred, user);
        let (cat, ttype, summary, details) = *self.p.pick(TICKET_TEXTS).unwrap_or(&TICKET_TEXTS[0]);
        let age = ((self.now - occurred) / TICKS_PER_DAY) as i64;
        let (closed, team, status, agent, priority) = self.triage(cat, ttype, age);
        let summary = if deleted {
            [
                "Automatic reply: Out of Office",
                "Duplicate - please ignore",
                "Test ticket please ignore",
                "Spam: Your invoice is attached",
            ][(id % 4) as usize]
                .to_string()
        } else {
            summary.to_string()
        };
        t.insert("summary".into(), json!(summary));
        t.insert("details".into(), json!(details));
        t.insert("details_html".into(), json!(format!("<p>{details}</p>")));
        t.insert("tickettype_id".into(), json!(ttype));
        t.insert("categoryid_1".into(), json!(cat));
        t.insert(
            "category_1".into(),
            json!(self.db.text("Category", cat, "value")),
        );
        t.insert("team_id".into(), json!(team));
        t.insert("agent_id".into(), json!(agent));
        t.insert("priority_id".into(), json!(priority));
        t.insert("status_id".into(), json!(status));
        t.insert(
            "source".into(),
            json!(if ttype == 35 {
                6
            } else if self.p.chance(70) {
                1
            } else {
                2
            }),
        );
        t.insert("deleted".into(), json!(deleted));
        let workflow = match ttype {
            31 | 32 => 1,
            36 => 2,
            33 => 3,
            _ => 0,
        };
        t.insert("workflow_id".into(), json!(workflow));
        t.insert(
            "workflow_step".into(),
            json!(if workflow > 0 {
                if closed { 4 } else { 2 }
            } else {
                0
            }),
        );
        self.impact_and_urgency(t);
        if self.p.chance(10) {
            let tag = self.p.range(1, 5);
            t.insert(
                "tags".into(),
                json!([{"id": tag, "text": self.db.text("Tags", tag, "text")}]),
            );
        }
        if user.client == 12 {
            t.insert("is_vip".into(), json!(true));
        }
        self.finish_fault(t, occurred, closed, agent, team);
    }

    /// Draws a seeded request's state from its category, type and age: closed (older tickets
    /// more often), team, status, agent and priority.
    fn triage(&mut self, cat: i64, ttype: i64, age: i64) -> (bool, i64, i64, i64, i64) {
        let closed = match age {
            a if a > 21 => self.p.chance(93),
            a if a > 7 => self.p.chance(60),
            _ => self.p.chance(25),
        };
        let mut team = match ttype {
            33..=35 => 2,
            _ if self.p.chance(18) => 2,
            _ => 1,
        };
        if (1..=3).contains(&cat) && self.p.chance(25) {
            team = 4;
        }
        let status = if closed {
            CLOSED_STATUS
        } else if age < 2 && self.p.chance(50) {
            1
        } else if ttype == 33 && self.p.chance(50) {
            18
        } else {
            [2, 2, 2, 3, 3, 4, 4, 5, 28][self.p.below(9) as usize]
        };
        let agent = if status == 1 && self.p.chance(60) {
            0
        } else {
            self.agent_for(team, age)
        };
        let priority = if ttype == 35 {
            if self.p.chance(35) { 1 } else { 2 }
        } else {
            [1, 2, 3, 4][self.p.weighted(&[3, 12, 55, 30])]
        };
        (closed, team, status, agent, priority)
    }

    /// The impact and urgency custom fields (and the address an emailed ticket came to).
    fn impact_and_urgency(&mut self, t: &mut Row) {
        let impact = self.p.range(1, 3);
        let urgency = self.p.range(1, 3);
        let impact_names = [
            "",
            "Whole Company",
            "Multiple Users",
            "Single User Affected",
        ];
        let urgency_names = ["", "High", "Medium", "Low"];
        let mut cfs = vec![
            json!({"id": 165, "name": "CFimpact", "label": "Impact", "summary": "", "type": 2, "value": impact, "display": impact_names[impact as usize], "characterlimit": 0, "inputtype": 0, "copytochild": false, "searchable": false, "usage": 1, "showintable": true}),
            json!({"id": 166, "name": "CFurgency", "label": "Urgency", "summary": "", "type": 2, "value": urgency, "display": urgency_names[urgency as usize], "characterlimit": 0, "inputtype": 0, "copytochild": false, "searchable": false, "usage": 1, "showintable": true}),
        ];
        if t.get("source") == Some(&json!(1)) {
            cfs.push(json!({"id": 213, "name": "CFEmailToAddress", "label": "Email To Address", "summary": "", "type": 0, "value": "support@kestrelbay.co.uk", "display": "support@kestrelbay.co.uk", "characterlimit": 0, "inputtype": 0, "copytochild": false, "searchable": false, "usage": 1, "showintable": true}));
        }
        t.insert("customfields".into(), Value::Array(cfs));
    }

    fn agent_for(&mut self, team: i64, age_days: i64) -> i64 {
        let pool: &[i64] = match team {
            1 => &[2, 3, 7],
            2 => &[4, 5, 7],
            3 => &[8, 9],
            4 => {
                if age_days > 300 {
                    &[6, 11]
                } else {
                    &[6]
                }
            }
            _ => &[10],
        };
        *self.p.pick(pool).unwrap_or(&API_AGENT_ID)
    }

    fn project(&mut self, t: &mut Row, id: i64, occurred: i128, user: &SeedUser) {
        self.common_fault(t, id, occurred, user);
        let client = self.db.text("Client", user.client, "name");
        let site = self.db.text("Site", user.site, "name");
        let titles = [
            format!("Microsoft 365 tenant migration - {client}"),
            format!("Firewall replacement - {site}"),
            "Windows 11 rollout".to_string(),
            format!("New site fit-out: {site}"),
            "Server replacement and data migration".to_string(),
        ];
        let summary = titles[(id % 5) as usize].clone();
        let age = ((self.now - occurred) / TICKS_PER_DAY) as i64;
        let closed = age > 90 && self.p.chance(70);
        let agent = if self.p.chance(50) { 8 } else { 9 };
        let days = self.p.range(3, 15);
        t.insert("summary".into(), json!(summary));
        t.insert(
            "details".into(),
            json!(format!("Project scope agreed with {}.", user.name)),
        );
        t.insert(
            "details_html".into(),
            json!(format!("<p>Project scope agreed with {}.</p>", user.name)),
        );
        t.insert("tickettype_id".into(), json!(37));
        t.insert("team_id".into(), json!(3));
        t.insert("agent_id".into(), json!(agent));
        t.insert("priority_id".into(), json!(3));
        t.insert(
            "status_id".into(),
            json!(if closed { CLOSED_STATUS } else { 2 }),
        );
        t.insert("is_project".into(), json!(true));
        t.insert("use".into(), json!("project"));
        t.insert("projecttimebudget".into(), json!((days * 8) as f64));
        t.insert("projectmoneybudget".into(), pounds(days * 65_000));
        t.insert("estimate".into(), json!((days * 8) as f64));
        t.insert("estimatedays".into(), json!(days as f64));
        t.insert(
            "startdate".into(),
            json!(format_date(occurred + 7 * TICKS_PER_DAY)),
        );
        t.insert(
            "targetdate".into(),
            json!(format_date(occurred + (30 + days) as i128 * TICKS_PER_DAY)),
        );
        self.finish_fault(t, occurred, closed, agent, 3);
    }

    fn opportunity(&mut self, t: &mut Row, id: i64, occurred: i128, user: &SeedUser) {
        self.common_fault(t, id, occurred, user);
        let client = self.db.text("Client", user.client, "name");
        let titles = [
            "Hardware refresh proposal",
            "Managed service upgrade",
            "Cyber Essentials Plus",
            "Additional site connectivity",
            "Backup & DR proposal",
        ];
        let summary = format!("{} - {client}", titles[(id % 5) as usize]);
        let age = ((self.now - occurred) / TICKS_PER_DAY) as i64;
        let closed = age > 60 && self.p.chance(60);
        let value = self.p.range(12, 240) * 25_000;
        let probability = self.p.range(1, 9) * 10;
        t.insert("summary".into(), json!(summary));
        t.insert("details".into(), json!("Discussed at quarterly review."));
        t.insert(
            "details_html".into(),
            json!("<p>Discussed at quarterly review.</p>"),
        );
        t.insert("tickettype_id".into(), json!(38));
        t.insert("team_id".into(), json!(5));
        t.insert("agent_id".into(), json!(10));
        t.insert("priority_id".into(), json!(4));
        t.insert(
            "status_id".into(),
            json!(if closed { CLOSED_STATUS } else { 2 }),
        );
        t.insert("is_opportunity".into(), json!(true));
        t.insert("use".into(), json!("opportunity"));
        t.insert("oppcontactname".into(), json!(user.name));
        t.insert("oppcompanyname".into(), json!(client));
        t.insert("oppemailaddress".into(), json!(user.email));
        t.insert("oppvalue".into(), pounds(value));
        t.insert("oppconversionprobability".into(), json!(probability as f64));
        t.insert("oppvalueadjusted".into(), pounds(value * probability / 100));
        if closed {
            t.insert(
                "oppconverteddate".into(),
                json!(format_ts(occurred + 30 * TICKS_PER_DAY)),
            );
        }
        self.finish_fault(t, occurred, closed, 10, 5);
    }

    /// Generates the actions of a fault and the fields that follow from them, then stores both.
    fn finish_fault(&mut self, t: &mut Row, occurred: i128, closed: bool, agent: i64, team: i64) {
        let id = t.get("id").and_then(as_i64).unwrap_or(0);
        let user_id = t.get("user_id").and_then(as_i64).unwrap_or(0);
        let status = t.get("status_id").and_then(as_i64).unwrap_or(1);
        let contract = t.get("contract_id").and_then(as_i64).unwrap_or(-1);
        let worker = if agent > 0 { agent } else { API_AGENT_ID };
        let who = Authors {
            user_name: self.db.text("Users", user_id, "name"),
            user_email: self.db.text("Users", user_id, "emailaddress"),
            summary: t
                .get("summary")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            details: t
                .get("details")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            worker,
            worker_name: self.db.text("Agent", worker, "name"),
            worker_initials: self.db.text("Agent", worker, "initials"),
        };
        let from_rmm = t.get("source") == Some(&json!(6));

        let n = if status == 1 {
            1
        } else {
            self.p.range(2, 6) as usize
        };
        let mut at = occurred + i128::from(self.p.range(5, 90)) * TICKS_PER_SEC;
        let mut actions: Vec<Row> = Vec::new();
        for k in 1..=n {
            let last = k == n;
            let mut a = action_template();
            let (outcome, hours, by_user) = self.action_kind(k, last && closed, from_rmm, team);
            a.insert("ticket_id".into(), json!(id));
            a.insert("id".into(), json!(k));
            a.insert("outcome_id".into(), json!(outcome));
            a.insert(
                "outcome".into(),
                json!(self.db.text("Outcome", outcome, "outcome")),
            );
            let stamp = self.ts(at);
            for f in [
                "datetime",
                "actiondatecreated",
                "last_updated",
                "actionarrivaldate",
                "actioncompletiondate",
            ] {
                a.insert(f.into(), json!(stamp.clone()));
            }
            write_note(&mut a, outcome, by_user, &who);
            let billable = contract < 0 || outcome == 5;
            a.insert("timetaken".into(), json!(hours));
            a.insert("actisbillable".into(), json!(billable && hours > 0.0));
            a.insert(
                "actionchargehours".into(),
                json!(if billable { hours } else { 0.0 }),
            );
            a.insert(
                "nonbilltime".into(),
                json!(if billable { 0.0 } else { hours }),
            );
            a.insert("action_contract_id".into(), json!(contract));
            a.insert(
                "ticket_guid".into(),
                t.get("guid").cloned().unwrap_or(json!("")),
            );
            actions.push(a);
            if !last {
                let gap = if self.p.chance(50) {
                    self.p.range(10, 240) * 60
                } else {
                    self.p.range(4, 48) * 3600
                };
                at = (at + i128::from(gap) * TICKS_PER_SEC)
                    .min(self.now - i128::from(k as i64) * TICKS_PER_SEC);
            }
        }

        self.ticket_times(t, &actions, occurred, at, closed, agent);

        set_sla_dates(&self.db, t, occurred);
        t.insert("attachment_count".into(), json!(0));

        let mut t = std::mem::take(t);
        derive(&self.db, "Faults", &mut t, None);
        t.insert("reference".into(), json!(reference(&t)));
        self.db.put("Faults", "id", Value::Object(t));
        for mut a in actions {
            derive(&self.db, "Actions", &mut a, None);
            self.db.put_action(Value::Object(a));
        }
    }

    /// An action's outcome, hours and whether the user wrote it: the first is the user's email
    /// (or the RMM rule for an alert), the closing one closes, the rest are drawn.
    fn action_kind(
        &mut self,
        k: usize,
        closing: bool,
        from_rmm: bool,
        team: i64,
    ) -> (i64, f64, bool) {
        if k == 1 {
            if from_rmm {
                (8, 0.0, false)
            } else {
                (10, 0.0, true)
            }
        } else if closing {
            (7, 0.25, false)
        } else {
            let o = [1, 2, 3, 4, 4, 5, 9][self.p.below(7) as usize];
            let o = if o == 5 && team != 4 { 4 } else { o };
            let hours = match o {
                4 => [0.5, 0.75, 1.0, 1.5, 2.0][self.p.below(5) as usize],
                5 => [1.0, 1.5, 2.0, 3.0][self.p.below(4) as usize],
                9 => 0.0,
                _ => 0.25,
            };
            (o, hours, false)
        }
    }

    /// The ticket's time totals, last-action, assignment, response and closure fields, from its
    /// actions (`at` is the last action's time).
    fn ticket_times(
        &self,
        t: &mut Row,
        actions: &[Row],
        occurred: i128,
        at: i128,
        closed: bool,
        agent: i64,
    ) {
        let total: f64 = actions
            .iter()
            .map(|a| a.get("timetaken").and_then(Value::as_f64).unwrap_or(0.0))
            .sum();
        let charge: f64 = actions
            .iter()
            .map(|a| {
                a.get("actionchargehours")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
            })
            .sum();
        let last_at = self.ts(at);
        t.insert("timetaken".into(), json!(total));
        t.insert("chargehours".into(), json!(charge));
        t.insert("nonchargehours".into(), json!(total - charge));
        t.insert("lastactiondate".into(), json!(last_at.clone()));
        t.insert("last_update".into(), json!(last_at.clone()));
        if let Some(note) = actions.last().and_then(|a| a.get("note")).cloned() {
            t.insert("lastnote".into(), note);
        }
        if t.get("is_project") == Some(&json!(true)) {
            t.insert("projecttimeactual".into(), json!(total));
        }
        if agent > 0 {
            t.insert(
                "dateassigned".into(),
                json!(self.ts(occurred + 600 * TICKS_PER_SEC)),
            );
            if let Some(first) = actions.get(1).and_then(|a| a.get("datetime")).cloned() {
                t.insert("responsedate".into(), first);
            }
        }
        if closed {
            t.insert("dateclosed".into(), json!(last_at));
            t.insert("hasbeenclosed".into(), json!(true));
            t.insert("closure_note".into(), json!("Resolved."));
            t.insert(
                "closure_time".into(),
                json!(
                    ((at - occurred) as f64 / (3600.0 * TICKS_PER_SEC as f64) * 100.0).round()
                        / 100.0
                ),
            );
        }
        t.insert(
            "takenby".into(),
            json!(
                if actions.first().and_then(|a| a.get("who_type")) == Some(&json!(2)) {
                    "Email"
                } else {
                    "Admin"
                }
            ),
        );
    }

    // ------------------------------------------------------------------------------------------
    // Things hanging off tickets
    // ------------------------------------------------------------------------------------------

    fn faults_where(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.db
            .table("Faults")
            .map(|t| t.rows.values().filter(|r| pred(r)).cloned().collect())
            .unwrap_or_default()
    }

    /// What tickets carry besides their actions, each kind in its own function below, called in
    /// the order of their PRNG draws.
    fn ticket_extras(&mut self) {
        let is_request = |r: &Value| {
            r.get("use") == Some(&json!("ticket")) && r.get("deleted") == Some(&json!(false))
        };
        let requests = self.faults_where(is_request);
        let closed: Vec<Value> = requests
            .iter()
            .filter(|r| int_field(r, "status_id") == CLOSED_STATUS)
            .cloned()
            .collect();
        let open: Vec<Value> = requests
            .iter()
            .filter(|r| int_field(r, "status_id") != CLOSED_STATUS)
            .cloned()
            .collect();
        self.ticket_attachments(&requests);
        self.appointments(&open);
        self.audit_and_feedback(&closed);
        self.todo_lists(&requests);
        self.crm_notes();
        self.knowledge_base();
    }

    /// Attachments on a few tickets, tied to their first action.
    fn ticket_attachments(&mut self, requests: &[Value]) {
        let files: &[(&str, &str, i64, bool)] = &[
            ("screenshot.png", "image/png", 184_233, true),
            ("error-log.txt", "text/plain", 12_044, false),
            ("invoice-query.pdf", "application/pdf", 96_512, false),
            ("printer-config.jpg", "image/jpeg", 402_118, true),
            ("vpn-error.png", "image/png", 75_310, true),
            (
                "quote-request.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                33_870,
                false,
            ),
        ];
        for (i, &(name, ctype, size, image)) in files.iter().enumerate() {
            let Some(ticket) = requests.get(i * 29 + 3) else {
                continue;
            };
            let tid = int_field(ticket, "id");
            let created = ticket
                .get("dateoccurred")
                .cloned()
                .unwrap_or(json!(SENTINEL));
            let g = self.guid();
            self.put(
                "Attachment",
                json!({"id": 801 + i as i64, "filename": name, "datecreated": created, "note": "", "filesize": size, "content_type": ctype, "type": 0, "unique_id": 0, "desc": name, "isimage": image, "ticket_id": tid, "action_id": 1, "user_id": -1, "agent_id": 0, "guid": g, "showforusers": true, "link": ""}),
            );
            if let Some(Value::Object(t)) = self
                .db
                .tables
                .get_mut("Faults")
                .and_then(|t| t.rows.get_mut(&tid))
            {
                let n = t.get("attachment_count").and_then(as_i64).unwrap_or(0);
                t.insert("attachment_count".into(), json!(n + 1));
            }
        }
    }

    /// Appointments: site visits for open field tickets, and project meetings.
    fn appointments(&mut self, open: &[Value]) {
        let mut appt = 1;
        for ticket in open
            .iter()
            .filter(|r| int_field(r, "team_id") == 4 || int_field(r, "team_id") == 2)
            .take(4)
        {
            let start = self.now + i128::from(self.p.range(1, 10)) * TICKS_PER_DAY
                - 7 * 3600 * TICKS_PER_SEC;
            let agent = int_field(ticket, "agent_id").max(6);
            self.appointment(appt, ticket, agent, start, "Site visit");
            appt += 1;
        }
        for ticket in self
            .faults_where(|r| r.get("is_project") == Some(&json!(true)))
            .iter()
            .take(3)
        {
            let start = self.now
                - i128::from(self.p.range(1, 20)) * TICKS_PER_DAY
                - 3 * 3600 * TICKS_PER_SEC;
            self.appointment(
                appt,
                ticket,
                int_field(ticket, "agent_id"),
                start,
                "Project meeting",
            );
            appt += 1;
        }
    }

    /// Audit lines and feedback on closed tickets.
    fn audit_and_feedback(&mut self, closed: &[Value]) {
        // Audit: status changes on closed tickets.
        for (i, ticket) in closed.iter().step_by(23).take(8).enumerate() {
            let date = ticket.get("dateclosed").cloned().unwrap_or(json!(SENTINEL));
            self.put(
                "Audit",
                json!({"id": 1 + i as i64, "ticket_id": int_field(ticket, "id"), "agent_id": int_field(ticket, "agent_id"), "date": date, "value": "Status", "from": "In Progress", "to": "Closed", "table_name": "Faults", "username": ticket.get("agent_name").cloned().unwrap_or(json!("")), "clientid": int_field(ticket, "client_id")}),
            );
        }

        // Feedback on closed tickets.
        let comments = [
            "Quick and friendly, thanks!",
            "Sorted first time.",
            "Took a while but got there.",
            "",
            "Great service as always.",
            "Had to chase twice.",
        ];
        for (i, ticket) in closed.iter().step_by(13).take(10).enumerate() {
            let score = [1, 1, 2, 1, 1, 3, 1, 2, 4, 1][i];
            let date = ticket.get("dateclosed").cloned().unwrap_or(json!(SENTINEL));
            self.put(
                "Feedback",
                json!({"id": 1 + i as i64, "ticket_id": int_field(ticket, "id"), "score": score, "score_band": score, "date": date, "comment": comments[i % comments.len()], "user_id": int_field(ticket, "user_id")}),
            );
        }
    }

    /// To-do checklists on projects, onboarding tickets and the first tickets.
    fn todo_lists(&mut self, requests: &[Value]) {
        // To-do checklists: on projects, on onboarding tickets, and on the first few tickets
        // (so the oldest ticket, the one a test reaches for first, has some too).
        let projects = self.faults_where(|r| r.get("is_project") == Some(&json!(true)));
        let onboarding: Vec<Value> = requests
            .iter()
            .filter(|r| int_field(r, "tickettype_id") == 36)
            .take(3)
            .cloned()
            .collect();
        let mut lists: Vec<(Value, &[&str])> = Vec::new();
        for t in requests.iter().take(2) {
            lists.push((
                t.clone(),
                &["Reproduce the issue", "Apply fix", "Confirm with user"],
            ));
        }
        for t in onboarding {
            lists.push((
                t,
                &[
                    "Create account",
                    "Assign licence",
                    "Prepare laptop",
                    "Enrol MFA",
                    "Welcome pack",
                ],
            ));
        }
        for t in projects.into_iter().take(4) {
            lists.push((
                t,
                &["Agree scope", "Order hardware", "Schedule work", "Sign-off"],
            ));
        }
        let mut todo = 1;
        for (ticket, items) in lists {
            let closed = int_field(&ticket, "status_id") == CLOSED_STATUS;
            for (seq, text) in items.iter().enumerate() {
                let done = closed || seq == 0;
                self.put(
                    "ToDo",
                    json!({"ticket_id": int_field(&ticket, "id"), "id": todo, "done": done, "done_by_id": if done { int_field(&ticket, "agent_id") } else { 0 }, "done_by_name": if done { ticket.get("agent_name").cloned().unwrap_or(json!("")) } else { json!("") }, "text": text, "start_date": SENTINEL, "end_date": SENTINEL, "sequence": seq + 1, "group_id": 0, "group_name": ""}),
                );
                todo += 1;
            }
        }
    }

    /// CRM notes on clients.
    fn crm_notes(&mut self) {
        for (i, client) in [11, 12, 13, 14, 15, 16].iter().enumerate() {
            let t = self.recent(5, 200);
            let note = [
                "Quarterly review: happy with service, asked about Windows 11.",
                "Discussed renewal, wants a per-user price.",
                "Chased overdue invoice.",
                "Intro call with new office manager.",
                "Site survey booked for new taproom.",
                "Client confirmed move to another provider.",
            ][i];
            self.put(
                "CRMNote",
                json!({"id": 1 + i as i64, "client_id": client, "site_id": 0, "user_id": 0, "datetime": format_ts(t), "who_agentid": 10, "note": note, "detail": note, "timetaken": 0.5, "nextcalldate": SENTINEL, "satisfaction": 0, "ticketid": 0}),
            );
        }
    }

    /// The knowledge base.
    fn knowledge_base(&mut self) {
        let kb: &[(&str, &str, &str)] = &[
            (
                "How to connect to the VPN",
                "Install the FortiClient VPN client and sign in with your Microsoft 365 account.",
                "vpn,remote",
            ),
            (
                "Resetting your password",
                "Use the self-service portal at https://passwordreset.microsoftonline.com.",
                "password,account",
            ),
            (
                "Adding a shared mailbox in Outlook",
                "File > Account Settings > Change > More Settings > Advanced > Add.",
                "outlook,mailbox",
            ),
            (
                "Clearing a printer jam on HP M404",
                "Open the rear door and tray 2, remove paper gently.",
                "printer",
            ),
            (
                "Reporting a phishing email",
                "Use the Report Message button in Outlook, don't click links.",
                "security,email",
            ),
            (
                "New starter checklist",
                "Account, licence, laptop, MFA enrolment, welcome pack.",
                "onboarding",
            ),
        ];
        for (i, &(name, body, tags)) in kb.iter().enumerate() {
            let created = self.recent(100, 700);
            let edited = self.recent(1, 90);
            let (views, useful, notuseful) = (
                self.p.range(3, 300),
                self.p.range(0, 20),
                self.p.range(0, 3),
            );
            self.put(
                "KBArticle",
                json!({"id": 1 + i as i64, "name": name, "description": body, "description_html": format!("<p>{body}</p>"), "resolution": "", "type": 0, "date_created": format_ts(created), "date_edited": format_ts(edited), "view_count": views, "useful_count": useful, "notuseful_count": notuseful, "tag_string": tags, "inactive": i == 5, "next_review_date": SENTINEL, "creator_id": 7, "creator_name": "Morgan Hale", "faqlists": []}),
            );
        }
    }

    fn appointment(&mut self, id: i64, ticket: &Value, agent: i64, start: i128, subject: &str) {
        let agent_name = self.db.text("Agent", agent, "name");
        self.put(
            "Appointment",
            json!({"id": id, "subject": format!("{subject}: {}", ticket.get("summary").and_then(Value::as_str).unwrap_or_default()), "start_date": format_ts(start), "end_date": format_ts(start + 2 * 3600 * TICKS_PER_SEC), "agent_id": agent, "agent_name": agent_name, "agents": [{"id": agent, "name": agent_name}], "ticket_id": int_field(ticket, "id"), "client_id": int_field(ticket, "client_id"), "client_name": "", "site_id": int_field(ticket, "site_id"), "site_name": "", "user_id": int_field(ticket, "user_id"), "user_name": "", "appointment_type_id": 1, "note": "", "location": ticket.get("site_name").cloned().unwrap_or(json!("")), "is_private": false, "allday": false, "complete_status": if start < self.now { 1 } else { 0 }, "showas": 2}),
        );
    }

    /// Timesheets and timesheet events for the last five working days, built from the actions
    /// (so hours agree with the tickets).
    fn timesheets(&mut self) {
        let today = self.now.div_euclid(TICKS_PER_DAY) * TICKS_PER_DAY;
        let mut days = Vec::new();
        let mut d = today;
        while days.len() < 5 {
            if weekday(d) < 5 {
                days.push(d);
            }
            d -= TICKS_PER_DAY;
        }
        days.reverse();
        let window_start = today - 30 * TICKS_PER_DAY;
        let mut events: Vec<Value> = Vec::new();
        for a in self.db.actions.values() {
            let hours = a.get("timetaken").and_then(Value::as_f64).unwrap_or(0.0);
            let agent = int_field(a, "who_agentid");
            let at = a
                .get("datetime")
                .and_then(Value::as_str)
                .and_then(clock::parse_ts)
                .unwrap_or(0);
            if hours <= 0.0 || agent == 0 || at < window_start {
                continue;
            }
            events.push(json!({"agent_id": agent, "ticket_id": int_field(a, "ticket_id"), "action_number": int_field(a, "id"), "hours": hours, "end": at}));
        }
        events.sort_by_key(|e| e.get("end").and_then(Value::as_i64).unwrap_or(0));
        let mut day_events: Vec<(i64, i128, i64, f64)> = Vec::new(); // (agent, day, event id, hours)
        for (eid, e) in (1..).zip(events.iter()) {
            let end = i128::from(e.get("end").and_then(Value::as_i64).unwrap_or(0));
            let hours = e.get("hours").and_then(Value::as_f64).unwrap_or(0.0);
            let ticket = self
                .db
                .get("Faults", int_field(e, "ticket_id"))
                .cloned()
                .unwrap_or(Value::Null);
            let start = end - (hours * 3600.0) as i128 * TICKS_PER_SEC;
            let agent = int_field(e, "agent_id");
            self.put(
                "TimesheetEvent",
                json!({"id": eid, "event_type": 0, "subject": ticket.get("summary").cloned().unwrap_or(json!("")), "start_date": format_ts(start), "end_date": format_ts(end), "timetaken": hours, "agent_id": agent, "agent_name": "", "ticket_id": int_field(e, "ticket_id"), "action_number": int_field(e, "action_number"), "client_id": int_field(&ticket, "client_id"), "client_name": "", "site_id": int_field(&ticket, "site_id"), "user_name": ticket.get("user_name").cloned().unwrap_or(json!("")), "charge_rate": 0, "note": "", "mileage": 0.0, "traveltime": 0.0}),
            );
            day_events.push((
                agent,
                end.div_euclid(TICKS_PER_DAY) * TICKS_PER_DAY,
                eid,
                hours,
            ));
        }
        let mut tid = 1;
        for agent in [2, 3, 4, 5, 7] {
            for &day in &days {
                let mine: Vec<&(i64, i128, i64, f64)> = day_events
                    .iter()
                    .filter(|e| e.0 == agent && e.1 == day)
                    .collect();
                let actual: f64 = mine.iter().map(|e| e.3).sum();
                let ids: Vec<Value> = mine.iter().map(|e| json!({"id": e.2})).collect();
                self.put(
                    "Timesheet",
                    json!({"id": tid, "agent_id": agent, "agent_name": "", "date": format_date(day), "start_time": format_ts(day + 8 * 3600 * TICKS_PER_SEC + 30 * 60 * TICKS_PER_SEC), "end_time": format_ts(day + 17 * 3600 * TICKS_PER_SEC + 30 * 60 * TICKS_PER_SEC), "target_hours": 7.5, "actual_hours": actual, "chargeable_hours": actual, "break_hours": 1.0, "allowed_break_hours": 1.0, "unlogged_hours": (7.5 - actual).max(0.0), "work_hours": 8.0, "percentage": (actual / 7.5 * 100.0).round(), "workdayid": 1, "events": ids, "approval": 0}),
                );
                tid += 1;
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Money
    // ------------------------------------------------------------------------------------------

    /// A line: `qty_halves` half-units of product `code` (negative for credits). Returns
    /// (line json, net pence, tax pence).
    fn line(&mut self, header: i64, code: &str, qty_halves: i64, ticket: i64) -> (Value, i64, i64) {
        let (code, desc, unit) = PRODUCTS
            .iter()
            .find(|p| p.0 == code)
            .copied()
            .unwrap_or(PRODUCTS[0]);
        let net = unit * qty_halves / 2;
        let tax = net * VAT_PERCENT / 100;
        let id = self.line_id;
        self.line_id += 1;
        let line = json!({"id": id, "ihid": header, "item_code": code, "item_shortdescription": desc, "item_longdescription": desc, "nominal_code": if code.starts_with("LAB") { "4000" } else { "4100" }, "tax_code": 1, "qty_order": qty_halves as f64 / 2.0, "unit_price": pounds(unit), "unit_cost": 0.0, "net_amount": pounds(net), "tax_amount": pounds(tax), "tax_rate": 20.0, "ticket_id": ticket, "contract_id": -1, "recurring_invoice_id": 0, "asset_id": 0, "group_id": 0, "isgroupdesc": false});
        (line, net, tax)
    }

    fn invoices(&mut self) {
        let closed_requests = self.faults_where(|r| {
            r.get("use") == Some(&json!("ticket"))
                && int_field(r, "status_id") == CLOSED_STATUS
                && r.get("deleted") == Some(&json!(false))
        });
        let projects = self.faults_where(|r| r.get("is_project") == Some(&json!(true)));
        let credit_slots = [(3, 2), (7, 2), (10, 2)];
        let mut id = 5001;
        let seed_day = ticks_ymd(self.now);
        for month in 0..12i64 {
            let (y, m, _) = add_months((2025, 4, 1), month + self.shift);
            for slot in 0..3 {
                let mut day = self.p.range(3, 25) as u32;
                if (y, m) == (seed_day.0, seed_day.1) {
                    // The seed day's month: nothing after the seed day.
                    day = day.min(seed_day.2);
                }
                let date = date_ticks(y, m, day);
                let clients: &[i64] = if month < 3 {
                    &[11, 12, 13, 14, 15, 16]
                } else {
                    &[11, 12, 13, 14, 15]
                };
                let mut client = *self.p.pick(clients).unwrap_or(&11);
                let credit = credit_slots.contains(&(month, slot));
                let bill = self.invoice_lines(
                    id,
                    (month, slot, credit),
                    date,
                    &mut client,
                    &closed_requests,
                    &projects,
                );
                self.store_invoice(id, client, date, credit, bill);
                id += 1;
            }
        }
    }

    /// An invoice's lines by the slot it fills: a credit note, break-fix labour on a closed
    /// ticket of the client, ad-hoc items, or project work (whose project sets the client).
    /// Returns the kind, the ticket billed (0 for none) and the lines.
    fn invoice_lines(
        &mut self,
        id: i64,
        (month, slot, credit): (i64, i32, bool),
        date: i128,
        client: &mut i64,
        closed_requests: &[Value],
        projects: &[Value],
    ) -> (&'static str, i64, Vec<(Value, i64, i64)>) {
        let mut ticket = 0;
        let mut lines = Vec::new();
        let kind;
        if credit {
            kind = "credit";
            let (code, halves) = match month {
                3 => ("LAB-REMOTE", -3),
                7 => ("HW-DOCK", -2),
                _ => ("LAB-REMOTE", -4),
            };
            lines.push(self.line(id, code, halves, 0));
        } else if slot == 0 {
            kind = "break-fix";
            // Labour on a ticket of this client closed before the invoice date.
            let candidates: Vec<&Value> = closed_requests
                .iter()
                .filter(|t| {
                    int_field(t, "client_id") == *client
                        && t.get("dateclosed")
                            .and_then(Value::as_str)
                            .and_then(clock::parse_ts)
                            .is_some_and(|c| c < date)
                })
                .collect();
            ticket = self
                .p
                .pick(&candidates)
                .map(|t| int_field(t, "id"))
                .unwrap_or(0);
            let halves = self.p.range(1, 8);
            lines.push(self.line(id, "LAB-REMOTE", halves, ticket));
            if self.p.chance(35) {
                let onsite = self.p.range(2, 6);
                lines.push(self.line(id, "LAB-ONSITE", onsite, ticket));
            }
        } else if slot == 1 {
            kind = "ad-hoc";
            let n = self.p.range(1, 3);
            for _ in 0..n {
                let code = [
                    "HW-DOCK",
                    "HW-CHARGER",
                    "HW-TONER",
                    "SW-ADOBE",
                    "SVC-DOMAIN",
                    "SVC-SSL",
                    "HW-LAPTOP",
                ][self.p.below(7) as usize];
                let qty = self.p.range(1, 3) * 2;
                lines.push(self.line(id, code, qty, 0));
            }
        } else {
            kind = "project";
            let done: Vec<&Value> = projects
                .iter()
                .filter(|t| {
                    t.get("dateoccurred")
                        .and_then(Value::as_str)
                        .and_then(clock::parse_ts)
                        .is_some_and(|c| c < date)
                })
                .collect();
            if let Some(p) = self.p.pick(&done) {
                ticket = int_field(p, "id");
                *client = int_field(p, "client_id");
            }
            let days = self.p.range(1, 5) * 2;
            lines.push(self.line(id, "LAB-PROJECT", days, ticket));
            if self.p.chance(50) {
                let laptops = self.p.range(1, 4) * 2;
                lines.push(self.line(id, "HW-LAPTOP", laptops, ticket));
            }
        }
        (kind, ticket, lines)
    }

    /// Stores an invoice: totals, a payment status by age (credits are settled), the client's
    /// main site and a note by kind. `bill` is what [`Seeder::invoice_lines`] returns.
    fn store_invoice(
        &mut self,
        id: i64,
        client: i64,
        date: i128,
        credit: bool,
        (kind, ticket, lines): (&str, i64, Vec<(Value, i64, i64)>),
    ) {
        let net: i64 = lines.iter().map(|l| l.1).sum();
        let tax: i64 = lines.iter().map(|l| l.2).sum();
        let total = net + tax;
        let age = ((self.now - date) / TICKS_PER_DAY) as i64;
        let status = if credit {
            2
        } else if age > 60 {
            if id == 5010 || id == 5021 { 0 } else { 2 }
        } else if age > 30 {
            if id % 2 == 0 { 1 } else { 2 }
        } else {
            0
        };
        let paid = match status {
            2 => total,
            1 => total.div_euclid(2),
            _ => 0,
        };
        let paid_on = date + i128::from(self.p.range(5, 28)) * TICKS_PER_DAY;
        let payments = if paid != 0 {
            json!([{"id": id * 10, "amount": pounds(paid), "date": format_date(paid_on), "payment_method": "BACS", "invoice_id": id}])
        } else {
            json!([])
        };
        let site = self
            .db
            .get("Client", client)
            .map(|c| int_field(c, "main_site_id"))
            .unwrap_or(0);
        let note = match kind {
            "credit" => format!("Credit note against INV-{}", id - 4),
            "break-fix" => "Break-fix support".to_string(),
            "project" => "Project work".to_string(),
            _ => "Ad-hoc charges".to_string(),
        };
        let posted = age > 14;
        let line_values: Vec<Value> = lines.into_iter().map(|l| l.0).collect();
        self.put(
            "Invoice",
            merge(
                json!({"id": id, "use": "invoice", "client_id": client, "client_name": "", "site_id": site, "site_name": "", "invoicenumber": format!("INV-{id}"), "thirdpartyinvoicenumber": "", "invoice_date": format_date(date), "duedate": format_date(date + 30 * TICKS_PER_DAY), "due_date_int": 30, "dateposted": if posted { format_date(date + TICKS_PER_DAY) } else { SENTINEL.to_string() }, "datesent": format_date(date + TICKS_PER_DAY), "datepaid": if status == 2 { format_date(paid_on) } else { SENTINEL.to_string() }, "posted": posted}),
                json!({"paymentstatus": status, "amountpaid": pounds(paid), "amountdue": pounds(total - paid), "total": pounds(total), "tax_total": pounds(tax), "currency": "GBP", "currency_code": 0, "ticket_id": ticket, "contract_id": -1, "contract_ref": "", "notes_1": note, "notes_2": "", "notes_3": "", "lines": line_values, "payments": payments, "approval_status": 0, "emailstatus": 1, "voided": false, "paymentterms": "30 days", "order_number": "", "cust_order_number": "", "is_recurring_invoice": false, "recurring_invoice_id": 0, "creditlinkedtoinvoiceid": if credit { id - 4 } else { 0 }}),
            ),
        );
    }

    /// Recurring invoices (one per active contract not billed by itself, plus one awaiting its
    /// first run) and the invoices the contracts' billing has produced up to the seed day.
    fn recurring_invoices(&mut self) {
        let mut id = 701;
        // (invoice date, contract index, recurring invoice id) of every period billed so far.
        let mut billed: Vec<((i64, u32, u32), usize, i64)> = Vec::new();
        for (k, c) in CONTRACTS.iter().enumerate() {
            let &(contract, client, reference, name, _, months, units, unit, _, _, _) = c;
            let (start, end) = self.term(c);
            let net = units * unit;
            let tax = net * VAT_PERCENT / 100;
            let mut next = start;
            let mut periods = Vec::new();
            while ymd_ticks(next) <= self.now && next <= end {
                periods.push(next);
                next = add_months(next, months);
            }
            // An expired contract's recurring invoice is gone; its invoices stay.
            let schedule = if ymd_ticks(end) < self.now || BILLED_BY_CONTRACT.contains(&contract) {
                0
            } else {
                id
            };
            billed.extend(periods.iter().map(|&d| (d, k, schedule)));
            if schedule == 0 {
                continue;
            }
            let last = add_months(next, -months);
            let next_run = if next <= end {
                format_date(ymd_ticks(next))
            } else {
                SENTINEL.to_string()
            };
            let line_id = self.line_id;
            self.line_id += 1;
            let line = json!({"id": line_id, "ihid": id, "item_code": "SVC-CONTRACT", "item_shortdescription": format!("{name} ({reference})"), "item_longdescription": format!("{name}: {units} x {:.2}", unit as f64 / 100.0), "nominal_code": "4200", "tax_code": 1, "qty_order": units as f64, "unit_price": pounds(unit), "unit_cost": 0.0, "net_amount": pounds(net), "tax_amount": pounds(tax), "tax_rate": 20.0, "ticket_id": 0, "contract_id": contract, "recurring_invoice_id": id, "billingperiod": period_code(months), "startdate": format_date(ymd_ticks(last)), "enddate": format_date(ymd_ticks(next) - TICKS_PER_DAY), "autorenew": true});
            let site = self.main_site(client);
            // MVG-MSA's schedule has no period name: its length shows only in its dates.
            let shown_name = if reference == "MVG-MSA" {
                ""
            } else {
                period_name(months)
            };
            self.put(
                "RecurringInvoice",
                merge(
                    json!({"id": id, "use": "invoice", "client_id": client, "client_name": "", "site_id": site, "site_name": "", "invoicenumber": "", "invoice_date": next_run, "schedule_date": next_run, "nextcreationdate": next_run, "lastcreated": format_date(ymd_ticks(last)), "startdate": format_date(ymd_ticks(start)), "enddate": format_date(ymd_ticks(end)), "period": period_code(months), "period_type": 0, "periodname": shown_name, "period_start_date": format_date(ymd_ticks(last)), "period_end_date": format_date(ymd_ticks(next) - TICKS_PER_DAY), "date_created": format_ts(ymd_ticks(start) - 7 * TICKS_PER_DAY + 10 * 3600 * TICKS_PER_SEC)}),
                    json!({"is_recurring_invoice": true, "recurring_invoice_id": 0, "total": pounds(net + tax), "tax_total": pounds(tax), "amountpaid": 0.0, "amountdue": pounds(net + tax), "currency": "GBP", "currency_code": 0, "contract_id": contract, "contract_ref": reference, "notes_1": name, "lines": [line], "disabled": false, "requires_approval": false, "take_auto_payment": false, "paymentterms": "30 days", "due_date_int": 30, "posted": false, "paymentstatus": 0}),
                ),
            );
            id += 1;
        }
        self.unrun_schedule(id);
        billed.sort();
        for (n, (date, k, schedule)) in billed.into_iter().enumerate() {
            self.billed_invoice(
                5101 + n as i64,
                96_001 + n as i64,
                date,
                &CONTRACTS[k],
                schedule,
            );
        }
    }

    fn main_site(&self, client: i64) -> i64 {
        self.db
            .get("Client", client)
            .map(|c| int_field(c, "main_site_id"))
            .unwrap_or(0)
    }

    /// A recurring invoice (not tied to a contract) that has never run, awaiting approval, with
    /// period code 8, no period name and no dates to tell its length: the period of this one
    /// cannot be determined from the API.
    fn unrun_schedule(&mut self, id: i64) {
        let (client, net) = (12, 9_500);
        let tax = net * VAT_PERCENT / 100;
        let seed_day = ticks_ymd(self.now);
        let start = (seed_day.0, seed_day.1, 1);
        let next = add_months(start, 1);
        let line = json!({"id": 96_000, "ihid": id, "item_code": "SVC-STORAGE", "item_shortdescription": "Offsite backup storage (2 TB)", "item_longdescription": "Offsite backup storage (2 TB)", "nominal_code": "4200", "tax_code": 1, "qty_order": 1.0, "unit_price": pounds(net), "unit_cost": 0.0, "net_amount": pounds(net), "tax_amount": pounds(tax), "tax_rate": 20.0, "ticket_id": 0, "contract_id": -1, "recurring_invoice_id": id, "billingperiod": 8, "startdate": SENTINEL, "enddate": SENTINEL, "autorenew": true});
        let site = self.main_site(client);
        self.put(
            "RecurringInvoice",
            merge(
                json!({"id": id, "use": "invoice", "client_id": client, "client_name": "", "site_id": site, "site_name": "", "invoicenumber": "", "invoice_date": format_date(ymd_ticks(next)), "schedule_date": format_date(ymd_ticks(next)), "nextcreationdate": SENTINEL, "lastcreated": SENTINEL, "startdate": format_date(ymd_ticks(start)), "enddate": SENTINEL, "period": 8, "period_type": 1, "periodname": "", "period_start_date": SENTINEL, "period_end_date": SENTINEL, "date_created": format_ts(ymd_ticks(start) - 3 * TICKS_PER_DAY + 10 * 3600 * TICKS_PER_SEC)}),
                json!({"is_recurring_invoice": true, "recurring_invoice_id": 0, "total": pounds(net + tax), "tax_total": pounds(tax), "amountpaid": 0.0, "amountdue": pounds(net + tax), "currency": "GBP", "currency_code": 0, "contract_id": -1, "contract_ref": "", "notes_1": "Offsite backup storage", "lines": [line], "disabled": false, "requires_approval": true, "take_auto_payment": false, "paymentterms": "30 days", "due_date_int": 30, "posted": false, "paymentstatus": 0}),
            ),
        );
    }

    /// The invoice a contract's billing produced for the period starting `from`: one line
    /// covering the period, carrying the contract and (when one bills it) the recurring
    /// invoice. Paid 14 days after the date once 30 days old, unpaid before.
    fn billed_invoice(
        &mut self,
        id: i64,
        line_id: i64,
        from: (i64, u32, u32),
        c: &ContractDef,
        schedule: i64,
    ) {
        let &(contract, client, reference, name, _, months, units, unit, _, _, _) = c;
        let net = units * unit;
        let tax = net * VAT_PERCENT / 100;
        let total = net + tax;
        let date = ymd_ticks(from);
        let until = ymd_ticks(add_months(from, months)) - TICKS_PER_DAY;
        let age = (self.now - date) / TICKS_PER_DAY;
        let paid_on = date + 14 * TICKS_PER_DAY;
        let (status, paid) = if age > 30 { (2, total) } else { (0, 0) };
        let payments = if paid != 0 {
            json!([{"id": id * 10, "amount": pounds(paid), "date": format_date(paid_on), "payment_method": "Direct Debit", "invoice_id": id}])
        } else {
            json!([])
        };
        let line = json!({"id": line_id, "ihid": id, "item_code": "SVC-CONTRACT", "item_shortdescription": format!("{name} ({reference})"), "item_longdescription": format!("{name}: {units} x {:.2}", unit as f64 / 100.0), "nominal_code": "4200", "tax_code": 1, "qty_order": units as f64, "unit_price": pounds(unit), "unit_cost": 0.0, "net_amount": pounds(net), "tax_amount": pounds(tax), "tax_rate": 20.0, "ticket_id": 0, "contract_id": contract, "recurring_invoice_id": schedule, "billingperiod": period_code(months), "startdate": format_date(date), "enddate": format_date(until), "autorenew": true, "asset_id": 0, "group_id": 0, "isgroupdesc": false});
        let site = self.main_site(client);
        let posted = age > 14;
        self.put(
            "Invoice",
            merge(
                json!({"id": id, "use": "invoice", "client_id": client, "client_name": "", "site_id": site, "site_name": "", "invoicenumber": format!("INV-{id}"), "thirdpartyinvoicenumber": "", "invoice_date": format_date(date), "duedate": format_date(date + 30 * TICKS_PER_DAY), "due_date_int": 30, "dateposted": if posted { format_date(date + TICKS_PER_DAY) } else { SENTINEL.to_string() }, "datesent": format_date(date + TICKS_PER_DAY), "datepaid": if status == 2 { format_date(paid_on) } else { SENTINEL.to_string() }, "posted": posted, "period_start_date": format_date(date), "period_end_date": format_date(until)}),
                json!({"paymentstatus": status, "amountpaid": pounds(paid), "amountdue": pounds(total - paid), "total": pounds(total), "tax_total": pounds(tax), "currency": "GBP", "currency_code": 0, "ticket_id": 0, "contract_id": contract, "contract_ref": reference, "notes_1": name, "notes_2": "", "notes_3": "", "lines": [line], "payments": payments, "approval_status": 0, "emailstatus": 1, "voided": false, "paymentterms": "30 days", "order_number": "", "cust_order_number": "", "is_recurring_invoice": false, "recurring_invoice_id": schedule, "creditlinkedtoinvoiceid": 0}),
            ),
        );
    }

    /// Quotations, sales orders, purchase orders and software licences.
    fn sales(&mut self) {
        let opps = self.faults_where(|r| r.get("is_opportunity") == Some(&json!(true)));
        let quotes: &[QuoteDef] = &[
            (1, &[("HW-LAPTOP", 20), ("HW-DOCK", 20)], 2),
            (2, &[("LAB-PROJECT", 8)], 1),
            (3, &[("SW-ADOBE", 10), ("LAB-REMOTE", 4)], 0),
            (4, &[("HW-LAPTOP", 6), ("LAB-ONSITE", 6)], 3),
        ];
        for (i, &(qid, items, status)) in quotes.iter().enumerate() {
            let opp = opps.get(i).cloned().unwrap_or(Value::Null);
            let mut lines = Vec::new();
            for &(code, halves) in items {
                lines.push(self.line(qid, code, halves, int_field(&opp, "id")));
            }
            let net: i64 = lines.iter().map(|l| l.1).sum();
            let tax: i64 = lines.iter().map(|l| l.2).sum();
            let date = self.recent(10, 120);
            self.put(
                "Quotation",
                json!({"id": qid, "title": opp.get("summary").cloned().unwrap_or(json!("Quotation")), "ticket_id": int_field(&opp, "id"), "status": status, "date": format_date(date), "expiry_date": format_date(date + 30 * TICKS_PER_DAY), "revenue": pounds(net), "tax_total": pounds(tax), "total": pounds(net + tax), "client_id": int_field(&opp, "client_id"), "client_name": "", "site_id": int_field(&opp, "site_id"), "site_name": "", "user_id": int_field(&opp, "user_id"), "user_name": "", "agent_id": 10, "assigned_agent_name": "Hannah Birch", "currency": "GBP", "approvalstate": if status == 2 { 1 } else { 0 }, "note": "", "lines": lines.into_iter().map(|l| l.0).collect::<Vec<_>>()}),
            );
        }
        for (i, qid) in [1i64, 2, 4].iter().enumerate() {
            let q = self
                .db
                .get("Quotation", *qid)
                .cloned()
                .unwrap_or(Value::Null);
            let date = self.recent(5, 60);
            self.put(
                "SalesOrder",
                json!({"id": 201 + i as i64, "title": q.get("title").cloned().unwrap_or(json!("")), "summary": q.get("title").cloned().unwrap_or(json!("")), "ticket_id": int_field(&q, "ticket_id"), "client_id": int_field(&q, "client_id"), "client_name": "", "site_id": int_field(&q, "site_id"), "site_name": "", "user_id": int_field(&q, "user_id"), "user_name": "", "date": format_date(date), "revenue": q.get("revenue").cloned().unwrap_or(json!(0.0)), "tax_total": q.get("tax_total").cloned().unwrap_or(json!(0.0)), "total": q.get("total").cloned().unwrap_or(json!(0.0)), "status": 1, "open_status": i != 0, "quotation_id": qid, "currency": "GBP", "lines": q.get("lines").cloned().unwrap_or(json!([]))}),
            );
        }
        let pos: &[(i64, i64, &str, i64)] = &[
            (1, 3, "HW-LAPTOP", 20),
            (2, 3, "HW-DOCK", 10),
            (3, 2, "HW-TONER", 8),
        ];
        for &(po, supplier, code, halves) in pos {
            let (line, net, tax) = self.line(po, code, halves, 0);
            let date = self.recent(5, 90);
            let client = [11, 13, 14][(po - 1) as usize];
            self.put(
                "PurchaseOrder",
                json!({"id": po, "title": format!("Stock order {po}"), "po_ref": format!("PO-{:05}", 300 + po), "supplier_id": supplier, "supplier_name": "", "client_id": client, "client_name": "", "site_id": 0, "ticket_id": 0, "date": format_date(date), "datesent": format_date(date), "price": pounds(net), "tax_total": pounds(tax), "total": pounds(net + tax), "status": if po == 3 { 0 } else { 2 }, "goodsin_status": if po == 1 { 2 } else { 0 }, "currency": "GBP", "approval_status": 1, "lines": [line]}),
            );
        }
        let licences: &[(i64, &str, &str, i64, i64, i64)] = &[
            (
                1,
                "Microsoft 365 Business Premium",
                "Microsoft",
                11,
                35,
                1_760,
            ),
            (
                2,
                "Microsoft 365 Business Standard",
                "Microsoft",
                15,
                18,
                1_030,
            ),
            (3, "Sophos Intercept X Advanced", "Sophos", 12, 25, 450),
            (4, "Adobe Acrobat Pro", "Adobe", 14, 6, 1_995),
            (5, "Veeam Backup for Microsoft 365", "Veeam", 13, 30, 210),
        ];
        for &(id, name, vendor, client, count, price) in licences {
            let used = count - self.p.range(0, 4);
            let main = self
                .db
                .get("Client", client)
                .map(|c| int_field(c, "main_site_id"))
                .unwrap_or(0);
            self.put(
                "SoftwareLicence",
                json!({"id": id, "type": 1, "name": name, "count": count, "client_id": client, "client_name": "", "site_id": main, "site_name": "", "purchase_price": pounds(price), "price": pounds(price), "start_date": "2025-01-01T00:00:00", "end_date": "2026-12-31T00:00:00", "manufacturer": vendor, "vendor": vendor, "notes": "", "licences_in_use": used, "licences_available": count - used, "supplier_id": 4, "supplier_name": "", "billing_cycle": "Monthly", "term_duration": "P1Y", "status": "Active", "autorenew": true, "is_active": true, "deleted": false}),
            );
        }
    }

    /// `Agent.ticket_count` and `Client.open_ticket_count`: open, undeleted faults.
    fn agent_counts(&mut self) {
        let mut counts: std::collections::HashMap<(&str, i64), i64> =
            std::collections::HashMap::new();
        if let Some(t) = self.db.table("Faults") {
            for r in t.rows.values() {
                if int_field(r, "status_id") != CLOSED_STATUS
                    && r.get("deleted") != Some(&json!(true))
                {
                    *counts
                        .entry(("Agent", int_field(r, "agent_id")))
                        .or_default() += 1;
                    *counts
                        .entry(("Client", int_field(r, "client_id")))
                        .or_default() += 1;
                }
            }
        }
        for (table, field) in [("Agent", "ticket_count"), ("Client", "open_ticket_count")] {
            if let Some(t) = self.db.tables.get_mut(table) {
                for (id, r) in t.rows.iter_mut() {
                    if let Value::Object(m) = r {
                        m.insert(
                            field.into(),
                            json!(counts.get(&(table, *id)).copied().unwrap_or(0)),
                        );
                    }
                }
            }
        }
    }

    /// An empty row per plain table in the shape of its first seeded row (see [`Db::templates`]).
    fn templates(&mut self) {
        let mut templates = std::collections::HashMap::new();
        for (name, t) in &self.db.tables {
            if let Some(Value::Object(first)) = t.rows.values().next() {
                templates.insert(*name, blank_like(first));
            }
        }
        self.db.templates = templates;
    }
}

/// Who took part in a seeded ticket, for its actions' authors and texts.
struct Authors {
    user_name: String,
    user_email: String,
    summary: String,
    details: String,
    worker: i64,
    worker_name: String,
    worker_initials: String,
}

/// An action's author, note and email fields: the user's email, a ticket rule, or an agent's
/// note whose text follows from the outcome.
fn write_note(a: &mut Row, outcome: i64, by_user: bool, who: &Authors) {
    if by_user {
        a.insert("who".into(), json!(who.user_name));
        a.insert("who_type".into(), json!(2));
        a.insert("who_agentid".into(), json!(0));
        a.insert("emailfrom".into(), json!(who.user_email));
        a.insert("emailto".into(), json!("support@kestrelbay.co.uk"));
        a.insert("emailsubject".into(), json!(who.summary));
        let body = &who.details;
        a.insert("emailbody".into(), json!(body));
        a.insert("note".into(), json!(body));
        a.insert("note_html".into(), json!(format!("<p>{body}</p>")));
    } else if outcome == 8 {
        a.insert("who".into(), json!("System"));
        a.insert("who_type".into(), json!(0));
        a.insert("hiddenfromuser".into(), json!(true));
        a.insert(
            "note".into(),
            json!("Ticket rule 'RMM alerts to 2nd Line' applied"),
        );
        a.insert(
            "note_html".into(),
            json!("<p>Ticket rule 'RMM alerts to 2nd Line' applied</p>"),
        );
    } else {
        let note = match outcome {
            1 => "Checked the logs, investigating further.".to_string(),
            2 => format!(
                "Hi {}, could you confirm whether this is still happening?",
                who.user_name.split(' ').next().unwrap_or_default()
            ),
            3 => "Called the user to talk through the issue.".to_string(),
            4 => "Remote session: applied fix and tested with the user.".to_string(),
            5 => "On site: replaced faulty part and tested.".to_string(),
            7 => "Resolved. Closing ticket.".to_string(),
            _ => "Update added.".to_string(),
        };
        a.insert("who".into(), json!(who.worker_name));
        a.insert("who_agentid".into(), json!(who.worker));
        a.insert("who_initials".into(), json!(who.worker_initials));
        a.insert("note_html".into(), json!(format!("<p>{note}</p>")));
        a.insert("note".into(), json!(note));
        a.insert("hiddenfromuser".into(), json!(outcome == 1));
        if outcome == 2 {
            a.insert("emailto".into(), json!(who.user_email));
            a.insert("emailfrom".into(), json!("support@kestrelbay.co.uk"));
            a.insert("emailsubject".into(), json!(format!("RE: {}", who.summary)));
            a.insert("sendemail".into(), json!(true));
        }
        if outcome == 7 {
            a.insert("new_status".into(), json!(CLOSED_STATUS));
        }
        if outcome == 4 || outcome == 5 {
            a.insert("new_status".into(), json!(2));
        }
    }
}

/// The value of custom field `id` on an asset ("" when it has none).
fn asset_field(a: &Value, id: i64) -> String {
    a.get("fields")
        .and_then(Value::as_array)
        .and_then(|f| f.iter().find(|f| int_field(f, "id") == id))
        .and_then(|f| f.get("value"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A row with every value emptied the way Halo empties them: "" for text, the sentinel for
/// dates, 0 for numbers but -1 kept where -1 means "none", false, [] and {}.
pub(crate) fn blank_like(r: &Row) -> Row {
    r.iter()
        .map(|(k, v)| {
            let blank = match v {
                _ if ["use", "currency"].contains(&k.as_str()) => v.clone(),
                Value::String(s) if s.len() >= 19 && clock::parse_ts(s).is_some() => {
                    json!(SENTINEL)
                }
                Value::String(_) => json!(""),
                Value::Number(n) if n.as_i64() == Some(-1) => json!(-1),
                Value::Number(n) if n.is_f64() => json!(0.0),
                Value::Number(_) => json!(0),
                Value::Bool(_) => json!(false),
                Value::Array(_) => json!([]),
                Value::Object(o) => Value::Object(blank_like(o)),
                Value::Null => Value::Null,
            };
            (k.clone(), blank)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Instant;

    use super::*;

    fn rows<'a>(db: &'a Db, table: &str) -> Vec<&'a Value> {
        db.table(table).unwrap().rows.values().collect()
    }

    /// Groups of ids (each sorted, two or more members) sharing `key`; empty keys skipped.
    fn groups(items: &[&Value], key: impl Fn(&Value) -> String) -> BTreeSet<Vec<i64>> {
        let mut by: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for v in items {
            let k = key(v);
            if !k.is_empty() {
                by.entry(k).or_default().push(v["id"].as_i64().unwrap());
            }
        }
        by.into_values()
            .filter(|g| g.len() > 1)
            .map(|mut g| {
                g.sort_unstable();
                g
            })
            .collect()
    }

    fn norm(s: &str) -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase()
    }

    /// An asset field's value by field name (every asset carries all its fields, whichever
    /// its type uses as key fields).
    fn field(a: &Value, name: &str) -> String {
        a["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["value"].as_str())
            .unwrap()
            .to_string()
    }

    fn serial_groups(db: &Db) -> BTreeSet<Vec<i64>> {
        groups(&rows(db, "Asset"), |a| norm(&field(a, "Serial Number")))
    }

    /// Same hostname, more than one distinct normalised serial.
    fn host_groups(db: &Db) -> BTreeSet<Vec<i64>> {
        let assets = rows(db, "Asset");
        groups(&assets, |a| field(a, "Hostname"))
            .into_iter()
            .filter(|g| {
                let serials: BTreeSet<String> = g
                    .iter()
                    .map(|id| norm(&field(db.get("Asset", *id).unwrap(), "Serial Number")))
                    .collect();
                serials.len() > 1
            })
            .collect()
    }

    fn email_groups(db: &Db) -> BTreeSet<Vec<i64>> {
        groups(&rows(db, "Users"), |u| {
            u["emailaddress"].as_str().unwrap().to_lowercase()
        })
    }

    fn set(groups: &[&[i64]]) -> BTreeSet<Vec<i64>> {
        groups.iter().map(|g| g.to_vec()).collect()
    }

    fn inactive(db: &Db, table: &str, id: i64) -> bool {
        db.get(table, id).unwrap()["inactive"] == true
    }

    /// Another seed day moves the dates, not the ids: the duplicate groups stay the
    /// documented ones, and nothing seeded is dated after the seed's now.
    #[test]
    fn the_seed_day_moves_dates_not_ids() {
        let base = build(DEFAULT_SEED, Extras::default());
        // A Sunday, a Monday, a month end, a Saturday, New Year's Day.
        for today in [
            (2026, 12, 6),
            (2026, 12, 7),
            (2027, 2, 28),
            (2026, 5, 16),
            (2027, 1, 1),
        ] {
            let db = build_on(
                DEFAULT_SEED,
                Extras::default(),
                Some(today),
                AssetLayout::default(),
            );
            assert_eq!(serial_groups(&db), serial_groups(&base), "{today:?}");
            assert_eq!(host_groups(&db), host_groups(&base), "{today:?}");
            assert_eq!(email_groups(&db), email_groups(&base), "{today:?}");
            let now = seed_now(Some(today));
            let when = |r: &Value, k: &str| r[k].as_str().and_then(clock::parse_ts);
            for inv in rows(&db, "Invoice") {
                assert!(when(inv, "invoice_date").unwrap() <= now, "{inv}");
            }
            for t in rows(&db, "Faults") {
                assert!(when(t, "dateoccurred").unwrap() <= now, "{t}");
            }
            // Twelve months of one-off invoices end in the seed day's month.
            let (y, m, _) = ticks_ymd(now);
            let last = rows(&db, "Invoice")
                .iter()
                .filter(|i| i["contract_id"] == -1)
                .filter_map(|i| i["invoice_date"].as_str().map(str::to_owned))
                .max()
                .unwrap();
            assert!(last.starts_with(&format!("{y:04}-{m:02}")), "{last}");
        }
    }

    #[test]
    fn seeded_duplicate_groups_are_the_documented_ones() {
        let db = build(DEFAULT_SEED, Extras::default());
        assert_eq!(
            serial_groups(&db),
            set(&[
                &[1001, 1072],
                &[1005, 1073],
                &[1009, 1074],
                &[1022, 1075],
                // Added by `layout_duplicates`: the phone and the printer entered twice.
                &[1085, 1089],
                &[1013, 1090],
            ])
        );
        assert_eq!(
            host_groups(&db),
            set(&[&[1002, 1076], &[1007, 1077], &[1010, 1078], &[1029, 1091]])
        );
        let retired: Vec<i64> = [1002, 1076, 1007, 1077, 1010, 1078]
            .into_iter()
            .filter(|id| inactive(&db, "Asset", *id))
            .collect();
        assert_eq!(retired, [1077, 1078]);
        assert!(
            serial_groups(&db)
                .iter()
                .flatten()
                .all(|id| !inactive(&db, "Asset", *id))
        );

        let users = rows(&db, "Users");
        assert_eq!(email_groups(&db), set(&[&[141, 142], &[147, 148]]));
        assert_eq!(
            groups(&users, |u| u["name"].as_str().unwrap().to_lowercase()),
            set(&[&[141, 142], &[143, 144], &[147, 148], &[149, 150]])
        );
        assert_eq!(
            groups(&users, |u| u["login"].as_str().unwrap().to_string()),
            set(&[&[145, 146], &[147, 148]])
        );
        let inactive_users: Vec<i64> = (141..=150)
            .filter(|id| inactive(&db, "Users", *id))
            .collect();
        assert_eq!(inactive_users, [148, 150]);

        let site = |id: i64| db.get("Site", id).unwrap().clone();
        for (a, b, b_inactive) in [(18, 34, false), (25, 35, true)] {
            let (a, b) = (site(a), site(b));
            assert_eq!(a["client_id"], b["client_id"]);
            assert_eq!(a["inactive"], false);
            assert_eq!(b["inactive"], b_inactive);
            assert_eq!(
                a["delivery_address"]["postcode"],
                b["delivery_address"]["postcode"]
            );
            let (an, bn) = (a["name"].as_str().unwrap(), b["name"].as_str().unwrap());
            assert!(an.starts_with(bn), "{an} / {bn}");
        }
    }

    #[test]
    fn extras_add_exactly_the_documented_duplicates() {
        let base = build(DEFAULT_SEED, Extras::default());
        for (assets, users) in [(0, 0), (1, 1), (49, 39), (50, 40), (2000, 2000), (777, 123)] {
            let db = build(DEFAULT_SEED, Extras { assets, users });
            assert_eq!(
                rows(&db, "Asset").len(),
                rows(&base, "Asset").len() + assets
            );
            assert_eq!(rows(&db, "Users").len(), rows(&base, "Users").len() + users);
            let serials = serial_groups(&db);
            let hosts = host_groups(&db);
            let emails = email_groups(&db);
            assert_eq!(serials.len(), 6 + assets / 50, "{assets} assets");
            assert_eq!(hosts.len(), 4 + (assets + 25) / 50, "{assets} assets");
            assert_eq!(emails.len(), 2 + users / 40, "{users} users");
            // Extras never join a seeded group, and every extra group is a pair.
            // (Compared by their first, seeded member: the layout duplicates' ids move.)
            let firsts = |g: &BTreeSet<Vec<i64>>| g.iter().map(|m| m[0]).collect::<BTreeSet<_>>();
            assert!(firsts(&serials).is_superset(&firsts(&serial_groups(&base))));
            assert!(firsts(&hosts).is_superset(&firsts(&host_groups(&base))));
            assert!(emails.is_superset(&email_groups(&base)));
            let extra_hosts: Vec<&Vec<i64>> = hosts.iter().filter(|g| g[0] > 1088).collect();
            assert!(extra_hosts.iter().all(|g| g.len() == 2));
            let retired = extra_hosts
                .iter()
                .filter(|g| g.iter().any(|id| inactive(&db, "Asset", *id)))
                .count();
            assert_eq!(retired, (assets + 25) / 100);
            let extra_emails: Vec<&Vec<i64>> = emails.iter().filter(|g| g[0] > 150).collect();
            assert!(extra_emails.iter().all(|g| g.len() == 2));
            let with_inactive = extra_emails
                .iter()
                .filter(|g| g.iter().any(|id| inactive(&db, "Users", *id)))
                .count();
            assert_eq!(with_inactive, (users + 1) / 80);
            // Same name only where the email repeats.
            let names = groups(&rows(&db, "Users"), |u| {
                u["name"].as_str().unwrap().to_lowercase()
            });
            assert_eq!(names.len(), 4 + users / 40);
            // The seeded records are untouched.
            for t in ["Asset", "Users", "Faults", "Invoice"] {
                let mut seeded: Vec<&Value> = rows(&base, t);
                if t == "Asset" {
                    // The layout duplicates come after the extras, so their ids move.
                    seeded.truncate(seeded.len() - LAYOUT_DUPLICATES);
                }
                let now: Vec<&Value> = rows(&db, t).into_iter().take(seeded.len()).collect();
                assert_eq!(seeded, now, "{t} changed with extras");
            }
        }
        // Shapes: realistic serials and hostnames, spread over clients, sites and two types.
        let db = build(
            DEFAULT_SEED,
            Extras {
                assets: 100,
                users: 100,
            },
        );
        let a = db.get("Asset", 1089).unwrap();
        let serial = a["key_field"].as_str().unwrap();
        assert!(serial.starts_with("SN-") && serial.len() == 11, "{serial}");
        assert_eq!(a["key_field2"], "HLX-WS-00000");
        assert_eq!(a["client_name"], "Harbourline Logistics Ltd");
        let extra: Vec<&Value> = rows(&db, "Asset")
            .into_iter()
            .filter(|a| (1089..1189).contains(&int_field(a, "id")))
            .collect();
        let clients: BTreeSet<i64> = extra.iter().map(|a| int_field(a, "client_id")).collect();
        let types: BTreeSet<i64> = extra.iter().map(|a| int_field(a, "assettype_id")).collect();
        assert_eq!(clients.len(), 7);
        assert_eq!(types, BTreeSet::from([1, 2]));
        let u = db.get("Users", 151).unwrap();
        assert_eq!(u["emailaddress"], u["login"]);
        assert_eq!(
            db.get("Users", 190).unwrap()["emailaddress"]
                .as_str()
                .unwrap()
                .to_lowercase(),
            db.get("Users", 189).unwrap()["emailaddress"]
                .as_str()
                .unwrap()
        );
    }

    #[test]
    fn two_thousand_extra_assets_seed_quickly() {
        // The budget is 100 ms in a release build; a debug build is far slower, so this only
        // guards against something quadratic. Best of three, against the plain seed.
        let best = |extras: Extras| {
            (0..3)
                .map(|_| {
                    let start = Instant::now();
                    let db = build(DEFAULT_SEED, extras);
                    (start.elapsed(), rows(&db, "Asset").len())
                })
                .min()
                .unwrap()
        };
        let (plain, n0) = best(Extras::default());
        let (bulk, n) = best(Extras {
            assets: 2000,
            users: 0,
        });
        assert_eq!(n, n0 + 2000);
        eprintln!("seed: {plain:?}; with 2,000 extra assets: {bulk:?}");
        assert!(bulk.saturating_sub(plain).as_secs_f64() < 5.0, "{bulk:?}");
    }
}
