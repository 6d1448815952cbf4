//! The simulator's own table of Halo resources: path name, list envelope, storage, verbs.
//!
//! This is deliberately written from `halo-api.md` §3.1 and not shared with (or read from) the
//! client's catalog (`domains/*.toml`): if the client and the simulator both derived their
//! envelope keys from one file, a misreading of Halo would be invisible to every test. Here
//! each row says how *Halo* answers, with the doc's evidence in a comment where it is shaky.

/// Where a resource's rows live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    /// Its own table, keyed by [`Resource::key`].
    Plain,
    /// Halo's `Faults` table, shared by Tickets, Projects and Opportunities.
    Faults(Domain),
    /// Actions: keyed by (ticket_id, per-ticket sequence number) (halo-api.md §7.3).
    Actions,
}

/// Which slice of `Faults` a path shows. Halo's `/Tickets` takes `domain=reqs|opps|prjs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Domain {
    Tickets,
    Projects,
    Opportunities,
}

#[derive(Debug)]
pub(crate) struct Resource {
    /// Halo's path name, in Halo's casing (`/api/<name>`); matched case-insensitively.
    pub name: &'static str,
    /// `Some(key)`: the list is `{page_no, page_size, record_count, <key>: [...]}`; `None`: a
    /// bare JSON array.
    pub envelope: Option<&'static str>,
    pub storage: Storage,
    /// The integer identity field the simulator keys rows by (`id`, except where Halo's `id` is
    /// a guid: Priority's integer is `priorityid`, Holiday's `holid`).
    pub key: &'static str,
    /// Halo's `id` is a guid string (SW24: `Policy.id` and `Holidays.id` are `uuid`; the
    /// `/Priority/{id}` and `/Holiday/{id}` routes take a string): GET and DELETE by id, and
    /// POST updates, name the record by its guid.
    pub guid: bool,
    /// `GET /X/{id}` exists (ToDo has none).
    pub by_id: bool,
    /// `DELETE /X/{id}` exists (Timesheet and ToDo have none, SW24).
    pub delete: bool,
    /// The envelope also carries a `columns` array (Halo's list-column metadata), which a client
    /// must not mistake for the records.
    pub columns: bool,
}

const fn env(name: &'static str, key: &'static str) -> Resource {
    Resource {
        envelope: Some(key),
        ..bare(name)
    }
}

const fn bare(name: &'static str) -> Resource {
    Resource {
        name,
        envelope: None,
        storage: Storage::Plain,
        key: "id",
        guid: false,
        by_id: true,
        delete: true,
        columns: false,
    }
}

const fn with_columns(mut r: Resource) -> Resource {
    r.columns = true;
    r
}

const fn faults(name: &'static str, domain: Domain) -> Resource {
    Resource {
        storage: Storage::Faults(domain),
        ..with_columns(env(name, "tickets"))
    }
}

/// Every resource the simulator serves.
pub(crate) static RESOURCES: &[Resource] = &[
    // --- Enveloped lists (halo-api.md §3.1) -------------------------------------------------
    faults("Tickets", Domain::Tickets),
    // Projects and Opportunities are Faults rows too (is_project / is_opportunity); PAN tested
    // that /Projects answers with a `tickets` array.
    faults("Projects", Domain::Projects),
    faults("Opportunities", Domain::Opportunities),
    Resource {
        name: "Actions",
        envelope: Some("actions"),
        storage: Storage::Actions,
        key: "id",
        guid: false,
        by_id: true,
        delete: true,
        columns: false,
    },
    with_columns(env("Client", "clients")),
    env("Site", "sites"),
    env("Users", "users"),
    with_columns(env("Asset", "assets")),
    // Invoice and RecurringInvoice are both InvoiceHeader views, both under `invoices`.
    with_columns(env("Invoice", "invoices")),
    env("RecurringInvoice", "invoices"),
    with_columns(env("ClientContract", "contracts")),
    env("KBArticle", "articles"),
    env("Attachment", "attachments"),
    env("TopLevel", "tree"),
    env("Appointment", "appointments"),
    env("Quotation", "quotes"),
    env("PurchaseOrder", "purchaseorders"),
    env("SalesOrder", "salesorders"),
    env("Supplier", "suppliers"),
    env("Report", "reports"),
    env("Service", "services"),
    env("SoftwareLicence", "licences"),
    env("Release", "releases"),
    // --- Bare arrays --------------------------------------------------------------------------
    // Verified or corroborated bare: Agent, Status, TicketType, Timesheet, TimesheetEvent,
    // FieldInfo. The rest are the doc's guess (no `*_View` schema, no `pageinate` in SW24).
    bare("Agent"),
    bare("Status"),
    bare("TicketType"),
    Resource {
        delete: false,
        ..bare("Timesheet")
    },
    bare("TimesheetEvent"),
    bare("FieldInfo"),
    bare("Team"),
    Resource {
        key: "priorityid",
        guid: true,
        ..bare("Priority")
    },
    bare("Category"),
    bare("SLA"),
    bare("Feedback"),
    bare("AssetType"),
    bare("AssetGroup"),
    bare("Lookup"),
    bare("Outcome"),
    bare("Workday"),
    bare("Workflow"),
    Resource {
        key: "holid",
        guid: true,
        ..bare("Holiday")
    },
    bare("Audit"),
    bare("CannedText"),
    bare("Tags"),
    bare("TicketRules"),
    bare("Organisation"),
    bare("Field"),
    bare("CustomTable"),
    bare("CustomButton"),
    bare("Tabs"),
    Resource {
        by_id: false,
        delete: false,
        ..bare("ToDo")
    },
    bare("CRMNote"),
    bare("ServiceCategory"),
    bare("ServiceStatus"),
    // Item: a bare array unpaged, `{…, items: [...]}` with `pageinate=true` (see
    // `query::list`). The evidence conflicts: HAPI pages it and reads `items`; PD reads an
    // unpaged answer as a `List<Item>`; the newer swagger has no `Item_View`.
    bare("Item"),
];

/// Finds a resource by path segment, case-insensitively (Halo's routing is case-insensitive).
pub(crate) fn find(segment: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive_and_unique() {
        assert_eq!(find("tickets").map(|r| r.name), Some("Tickets"));
        assert_eq!(find("KBARTICLE").map(|r| r.name), Some("KBArticle"));
        assert!(find("Contacts").is_none());
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(!a.name.eq_ignore_ascii_case(b.name), "{} twice", a.name);
            }
        }
    }
}
