//! The domain catalogue: every `domains/*.toml` file, embedded at build time.
//!
//! Start-up reads only each file's two header keys (area and summary, for `halo_status` and the
//! navigate error). A domain's resources are parsed the first time the domain is used, once per
//! process, so a session that touches two domains never pays for thirty.

pub mod fields;
pub mod spec;

use std::sync::atomic::{AtomicUsize, Ordering};

use once_cell::sync::{Lazy, OnceCell};

pub use spec::{Domain, ExtraOp, Header, IdType, Param, ParamType, Resource, Verb};

/// Embeds `domains/<name>.toml` for each name, sorted by name.
macro_rules! domain_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../domains/", $name, ".toml")))),*]
    };
}

/// Every domain file: (domain name, file contents). Adding a domain is adding its file here; a
/// test checks this list against the `domains/` folder.
static DOMAIN_FILES: &[(&str, &str)] = domain_files![
    "actions",
    "agents",
    "asset_setup",
    "assets",
    "attachments",
    "audit",
    "automation",
    "calendar",
    "categories",
    "clients",
    "contracts",
    "crm",
    "crm_notes",
    "custom_fields",
    "custom_tables",
    "custom_ui",
    "duplicates",
    "invoices",
    "items",
    "knowledge",
    "organisations",
    "projects",
    "purchasing",
    "recurring_invoices",
    "releases",
    "reports",
    "sales",
    "schedules",
    "service_health",
    "services",
    "sites",
    "sla",
    "software",
    "tags",
    "teams",
    "ticket_setup",
    "tickets",
    "timesheets",
    "users",
];

/// One domain file and its lazily parsed contents.
pub struct DomainEntry {
    pub name: &'static str,
    pub header: Header,
    source: &'static str,
    parsed: OnceCell<Result<Domain, String>>,
    parses: AtomicUsize,
}

impl DomainEntry {
    /// The parsed domain; parsed on first call, then shared.
    pub fn domain(&self) -> Result<&Domain, CatalogError> {
        self.parsed
            .get_or_init(|| {
                self.parses.fetch_add(1, Ordering::Relaxed);
                spec::parse_domain(self.name, self.source)
            })
            .as_ref()
            .map_err(|e| CatalogError::Invalid {
                domain: self.name.to_owned(),
                detail: e.clone(),
            })
    }

    /// Whether the domain has been parsed in this process.
    pub fn is_loaded(&self) -> bool {
        self.parsed.get().is_some()
    }

    /// How many times this domain's file has been parsed (at most once per process).
    pub fn parse_count(&self) -> usize {
        self.parses.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CatalogError {
    #[error("unknown domain `{name}`; valid domains: {valid}")]
    UnknownDomain { name: String, valid: String },
    #[error("the `{domain}` domain file is invalid: {detail}")]
    Invalid { domain: String, detail: String },
}

/// All domains, sorted by name.
pub struct Catalog {
    entries: Vec<DomainEntry>,
    header_errors: Vec<(String, String)>,
}

static CATALOG: Lazy<Catalog> = Lazy::new(|| Catalog::from_files(DOMAIN_FILES));

/// The process-wide catalogue.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

impl Catalog {
    fn from_files(files: &'static [(&'static str, &'static str)]) -> Catalog {
        let mut entries = Vec::with_capacity(files.len());
        let mut header_errors = Vec::new();
        for (name, source) in files {
            match spec::parse_header(source) {
                Ok(header) => entries.push(DomainEntry {
                    name,
                    header,
                    source,
                    parsed: OnceCell::new(),
                    parses: AtomicUsize::new(0),
                }),
                Err(e) => header_errors.push(((*name).to_owned(), e)),
            }
        }
        Catalog {
            entries,
            header_errors,
        }
    }

    pub fn entries(&self) -> &[DomainEntry] {
        &self.entries
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.name)
    }

    /// Domain files whose header could not be read (always empty in a correct build; a test
    /// checks it).
    pub fn header_errors(&self) -> &[(String, String)] {
        &self.header_errors
    }

    pub fn entry(&self, name: &str) -> Result<&DomainEntry, CatalogError> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| CatalogError::UnknownDomain {
                name: name.to_owned(),
                valid: self.names().collect::<Vec<_>>().join(", "),
            })
    }

    pub fn domain(&self, name: &str) -> Result<&Domain, CatalogError> {
        self.entry(name)?.domain()
    }

    /// Areas in first-seen order of a fixed list, then any others alphabetically; each with its
    /// domains sorted by name.
    pub fn by_area(&self) -> Vec<(&str, Vec<&DomainEntry>)> {
        const ORDER: &[&str] = &[
            "Service desk",
            "Customers",
            "Assets",
            "Billing",
            "Sales and CRM",
            "Projects and time",
            "Team",
            "Configuration",
        ];
        let mut areas: Vec<&str> = self
            .entries
            .iter()
            .map(|e| e.header.area.as_str())
            .collect();
        areas.sort_by_key(|a| (ORDER.iter().position(|o| o == a).unwrap_or(ORDER.len()), *a));
        areas.dedup();
        areas
            .into_iter()
            .map(|area| {
                let members = self
                    .entries
                    .iter()
                    .filter(|e| e.header.area == area)
                    .collect();
                (area, members)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_file_parses() {
        let cat = catalog();
        assert!(cat.header_errors().is_empty(), "{:?}", cat.header_errors());
        assert!(!cat.entries().is_empty());
        for e in cat.entries() {
            let d = e.domain().unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(d.area, e.header.area);
            assert!(e.header.summary.len() <= 90, "{} summary too long", e.name);
        }
    }

    #[test]
    fn embedded_list_matches_the_domains_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/domains");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_owned))?
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = DOMAIN_FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            embedded, on_disk,
            "update DOMAIN_FILES in src/catalog/mod.rs"
        );
    }

    #[test]
    fn unknown_domain_lists_valid_ones() {
        let err = catalog().domain("nope").unwrap_err().to_string();
        assert!(err.contains("unknown domain `nope`"));
        assert!(err.contains("tickets"));
    }
}
