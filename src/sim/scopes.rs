//! The simulator's own table of Halo's permission areas and how scopes grant them.
//!
//! Written from `halo-api.md` §1.2 (the scope names HAPI's `Classes/HaloAuth.psm1` lists:
//! `all`, `all:standard`, `admin`, and `read:`/`edit:` pairs per area) and §2 (which path is
//! which internal table), not taken from the client's `halo::error`: the doctor checks
//! the client's table against answers from this simulator, and if both came from one table a
//! misreading of Halo's scopes would pass every test.

/// The permission area a path's first segment falls in (`None`: configuration resources no
/// area names, such as statuses, agents and teams).
pub(crate) fn area(path: &str) -> Option<&'static str> {
    let first = path
        .trim_start_matches('/')
        .trim_start_matches("api/")
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let area = match first.as_str() {
        // Faults and the ticket set-up tables the ticket screens read.
        "tickets" | "actions" | "attachment" | "feedback" | "tickettype" | "status"
        | "category" | "outcome" | "priority" | "sla" | "ticketrules" | "workflow" => "tickets",
        // Area, Site, Users, Tree and Organisation: the customer records.
        "client" | "site" | "users" | "toplevel" | "organisation" => "customers",
        "asset" | "assettype" | "assetgroup" => "assets",
        "invoice" | "recurringinvoice" => "invoices",
        "clientcontract" => "contracts",
        "quotation" => "quotes",
        "salesorder" => "sos",
        "purchaseorder" => "pos",
        "supplier" => "suppliers",
        "item" => "items",
        "projects" => "projects",
        "opportunities" | "crmnote" => "crm",
        "timesheet" | "timesheetevent" => "timesheets",
        "appointment" | "todo" | "holiday" => "calendar",
        "kbarticle" | "cannedtext" => "kb",
        "report" => "reporting",
        "softwarelicence" => "softwarelicensing",
        _ => return None,
    };
    Some(area)
}

/// Whether a token's scopes allow `method` on `area`. `all`, `all:standard` and `admin` allow
/// everything; a read needs `read:<area>` or `edit:<area>`, a write `edit:<area>`. Resources
/// outside the named areas are not limited by scope (what they need is unverified); the
/// agent's permissions decide them.
pub(crate) fn allow(granted: &[String], method: &str, area: Option<&str>) -> bool {
    let has = |want: &str| granted.iter().any(|g| g.eq_ignore_ascii_case(want));
    if has("all") || has("all:standard") || has("admin") {
        return true;
    }
    let Some(area) = area else {
        return true;
    };
    let edit = has(&format!("edit:{area}"));
    if method.eq_ignore_ascii_case("GET") {
        edit || has(&format!("read:{area}"))
    } else {
        edit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_and_grants() {
        assert_eq!(area("/api/Tickets/12"), Some("tickets"));
        assert_eq!(area("/Site?client_id=1"), Some("customers"));
        assert_eq!(area("/api/Agent"), None);
        let read = vec!["read:assets".to_string()];
        assert!(allow(&read, "GET", Some("assets")));
        assert!(!allow(&read, "POST", Some("assets")));
        assert!(!allow(&read, "GET", Some("tickets")));
        assert!(allow(&read, "GET", None));
        assert!(allow(&["all".to_string()], "DELETE", Some("invoices")));
    }
}
