//! Tools: generated CRUD tools per domain, composite tools, and their execution.
//!
//! A domain's tool set is built the first time the domain is used and kept for the process.
//! Tools do not know their transport or session; the server decides which tools a session sees.

pub mod args;
pub mod compact;
pub mod composite;
pub mod crud;
pub mod error;
pub mod generate;

use once_cell::sync::{Lazy, OnceCell};
use rmcp::model::Tool;
use serde_json::{Map, Value};

use crate::{
    catalog::{self, CatalogError, ExtraOp, Resource, Verb},
    halo::HaloClient,
};

pub use error::ToolError;

/// What a tool does when called.
pub enum ToolKind {
    Crud {
        resource: &'static Resource,
        verb: Verb,
    },
    Extra {
        resource: &'static Resource,
        op: &'static ExtraOp,
    },
    Composite(&'static composite::Composite),
}

/// A tool as listed to clients, and what runs it.
pub struct ToolDef {
    pub tool: Tool,
    pub kind: ToolKind,
    pub domain: &'static str,
}

impl ToolDef {
    pub fn name(&self) -> &str {
        &self.tool.name
    }

    pub fn read_only(&self) -> bool {
        self.tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false)
    }

    /// Runs the tool with already-parsed arguments.
    pub async fn call(
        &self,
        ctx: &composite::Ctx,
        args: Map<String, Value>,
    ) -> Result<Value, ToolError> {
        match &self.kind {
            ToolKind::Crud { resource, verb } => {
                crud::run(&ctx.halo, resource, *verb, self.name(), args).await
            }
            ToolKind::Extra { resource, op } => {
                crud::run_extra(&ctx.halo, resource, op, self.name(), args).await
            }
            ToolKind::Composite(c) => c.call(ctx, args).await,
        }
    }
}

type Slot = OnceCell<Result<Vec<ToolDef>, CatalogError>>;

/// One slot per catalogue entry, in catalogue order.
static TOOLSETS: Lazy<Vec<Slot>> = Lazy::new(|| {
    catalog::catalog()
        .entries()
        .iter()
        .map(|_| OnceCell::new())
        .collect()
});

/// The tools of a domain, built on first use: CRUD tools in resource order (list, get, create,
/// update, delete, then extra operations), then the domain's composite tools.
pub fn toolset(domain: &str) -> Result<&'static [ToolDef], CatalogError> {
    let cat = catalog::catalog();
    let index = cat
        .entries()
        .iter()
        .position(|e| e.name == domain)
        .ok_or_else(|| match cat.entry(domain) {
            Err(e) => e,
            Ok(_) => CatalogError::UnknownDomain {
                name: domain.to_owned(),
                valid: String::new(),
            },
        })?;
    let entry = &cat.entries()[index];
    let slot = TOOLSETS
        .get(index)
        .ok_or_else(|| CatalogError::UnknownDomain {
            name: domain.to_owned(),
            valid: String::new(),
        })?;
    slot.get_or_init(|| {
        let d = entry.domain()?;
        let mut tools = Vec::new();
        for r in &d.resources {
            for verb in Verb::ALL {
                if r.has(verb) {
                    tools.push(ToolDef {
                        tool: generate::crud_tool(r, verb),
                        kind: ToolKind::Crud { resource: r, verb },
                        domain: entry.name,
                    });
                }
            }
            for op in &r.ops {
                tools.push(ToolDef {
                    tool: generate::extra_tool(r, op),
                    kind: ToolKind::Extra { resource: r, op },
                    domain: entry.name,
                });
            }
        }
        for c in composite::COMPOSITES
            .iter()
            .filter(|c| c.domain == entry.name)
        {
            // A composite whose argument specs do not parse is left out, never listed with a
            // partial schema; `composite::tests::every_argument_spec_parses` keeps this unseen.
            match c.tool() {
                Ok(tool) => tools.push(ToolDef {
                    tool,
                    kind: ToolKind::Composite(c),
                    domain: entry.name,
                }),
                Err(e) => tracing::error!(tool = c.name, error = %e, "composite left out"),
            }
        }
        Ok(tools)
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(Clone::clone)
}

/// Finds a tool in any domain (loading domains as needed). Used for helpful errors and by modes
/// that call tools without navigating.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    let cat = catalog::catalog();
    // Domains already loaded first: the common case costs no parsing. The order is fixed before
    // looking, so a domain another task loads meanwhile is still visited exactly once.
    let mut order: Vec<&catalog::DomainEntry> = cat.entries().iter().collect();
    order.sort_by_key(|e| !e.is_loaded());
    for entry in order {
        if let Ok(tools) = toolset(entry.name)
            && let Some(t) = tools.iter().find(|t| t.name() == name)
        {
            return Some(t);
        }
    }
    None
}

/// Every tool of the catalogue, domain by domain.
pub fn all() -> Vec<&'static ToolDef> {
    catalog::catalog()
        .names()
        .filter_map(|n| toolset(n).ok())
        .flatten()
        .collect()
}

/// The context tools run with (no progress reporting).
pub fn context(halo: HaloClient) -> composite::Ctx {
    composite::Ctx::new(halo)
}

/// What [`prewarm`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrewarmReport {
    pub loaded: usize,
    pub failed: usize,
    pub elapsed: std::time::Duration,
}

/// Loads every reference resource's list into the cache, as the list tools would ask for it.
/// Opt-in (`--prewarm`): it reads every domain file, which normal use avoids.
pub async fn prewarm(halo: &HaloClient) -> PrewarmReport {
    let started = std::time::Instant::now();
    let (mut loaded, mut failed) = (0, 0);
    for def in all() {
        let ToolKind::Crud {
            resource,
            verb: Verb::List,
        } = &def.kind
        else {
            continue;
        };
        if !resource.reference || resource.paginate || resource.filters.iter().any(|f| f.required) {
            continue;
        }
        match crud::run(halo, resource, Verb::List, def.name(), Map::new()).await {
            Ok(_) => loaded += 1,
            Err(e) => {
                failed += 1;
                tracing::warn!(tool = def.name(), error = %e, "prewarm failed");
            }
        }
    }
    PrewarmReport {
        loaded,
        failed,
        elapsed: started.elapsed(),
    }
}

/// Bytes of a tool list as sent in `tools/list`: the context cost of a domain.
pub fn list_bytes<'a>(tools: impl IntoIterator<Item = &'a Tool>) -> usize {
    let tools: Vec<&Tool> = tools.into_iter().collect();
    serde_json::to_string(&tools).map(|s| s.len()).unwrap_or(0)
}

/// `domain<TAB>tool name`, one line per tool of the catalogue, in catalogue order.
pub fn name_lines() -> String {
    let mut out = String::new();
    for e in catalog::catalog().entries() {
        for t in toolset(e.name).unwrap_or(&[]) {
            out.push_str(&format!("{}\t{}\n", e.name, t.name()));
        }
    }
    out
}

/// The catalogue as a table, area by area, with each domain's tool count and size;
/// `markdown` gives the README's domain table.
pub fn domain_table(markdown: bool) -> String {
    let cat = catalog::catalog();
    let mut out = String::new();
    if markdown {
        out.push_str(
            "| Area | Domain | What it holds | Tools | Bytes |\n|---|---|---|---:|---:|\n",
        );
    } else {
        out.push_str(&format!(
            "{:<18} {:<18} {:>5} {:>6}  {}\n",
            "AREA", "DOMAIN", "TOOLS", "BYTES", "WHAT IT HOLDS"
        ));
    }
    let (mut total_tools, mut largest) = (0usize, (0usize, ""));
    for (area, entries) in cat.by_area() {
        for e in entries {
            let tools = toolset(e.name).unwrap_or(&[]);
            let count = tools.len();
            // What a tree-mode client is sent with the domain open: its tools and the menu.
            let bytes = crate::server::tree_list_bytes(e.name).unwrap_or(0);
            total_tools += count;
            if bytes > largest.0 {
                largest = (bytes, e.name);
            }
            if markdown {
                out.push_str(&format!(
                    "| {area} | `{}` | {} | {count} | {bytes} |\n",
                    e.name, e.header.summary
                ));
            } else {
                out.push_str(&format!(
                    "{:<18} {:<18} {:>5} {:>6}  {}\n",
                    area, e.name, count, bytes, e.header.summary
                ));
            }
        }
    }
    if markdown {
        out.push('\n');
    }
    out.push_str(&format!(
        "{} domains, {total_tools} tools. Bytes: tree mode's `tools/list` with the domain open, \
         the menu included; the largest (`{}`) is {} bytes.\n",
        cat.entries().len(),
        largest.1,
        largest.0
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test --lib domain_sizes -- --nocapture`: where a domain's bytes go.
    #[test]
    fn domain_sizes() {
        for e in catalog::catalog().entries() {
            let tree = crate::server::tree_list_bytes(e.name).unwrap_or(0);
            eprintln!("{tree:6} {}", e.name);
        }
        for name in std::env::var("DUMP_DOMAINS")
            .unwrap_or_default()
            .split(",")
            .filter(|s| !s.is_empty())
        {
            for t in toolset(name).unwrap() {
                eprintln!("{:6} {}", list_bytes([&t.tool]), t.name());
                if std::env::var_os("DUMP_TOOLS").is_some() {
                    eprintln!("{}", serde_json::to_string(&t.tool).unwrap_or_default());
                }
            }
        }
    }
}
