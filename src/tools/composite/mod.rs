//! Composite tools: Rust code registered into a domain, for work that is more than one Halo call
//! (drill-downs, breakdowns, matchers, batch reads, reports). Each entry names its domain; the
//! domain's tool set lists it after the generated CRUD tools.
//!
//! Arguments are declared in the same type-spec language as domain files
//! (`"integer!: description"`), so schemas stay as small as the generated tools' and every value
//! is checked by the same code before a composite runs.

pub mod asset_keys;
pub mod batch;
pub mod dedup;
pub mod drill;
pub mod fetch;
pub mod matching;
pub mod reports;
pub mod revenue;
pub mod search;

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use futures::future::BoxFuture;
use once_cell::sync::Lazy;
use rmcp::model::Tool;
use serde_json::{Map, Value};

use super::{
    ToolError,
    args::{self, check, reject_unknown},
    generate::{annotations, param_schema},
};
use crate::{
    catalog::{self, Param, ParamType, Resource},
    halo::HaloClient,
};

/// Where a composite reports progress (MCP progress notifications when the caller asked for
/// them). Tools do not know their transport; the server supplies this.
pub trait ProgressSink: Send + Sync {
    fn report(&self, done: f64, total: Option<f64>, message: String) -> BoxFuture<'_, ()>;
}

/// What a tool runs with.
#[derive(Clone)]
pub struct Ctx {
    pub halo: HaloClient,
    pub progress: Option<Arc<dyn ProgressSink>>,
}

impl Ctx {
    pub fn new(halo: HaloClient) -> Ctx {
        Ctx {
            halo,
            progress: None,
        }
    }

    /// Reports progress if the caller asked for it.
    pub async fn progress(&self, done: f64, total: Option<f64>, message: impl Into<String>) {
        if let Some(p) = &self.progress {
            p.report(done, total, message.into()).await;
        }
    }
}

pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send + 'a>>;

/// A hand-written tool registered into a domain. All of them only read.
pub struct Composite {
    pub domain: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Arguments as (name, type spec), in schema order.
    pub params: &'static [(&'static str, &'static str)],
    /// The Halo paths it reads (for `doctor`, which checks their permission areas).
    pub reads: &'static [&'static str],
    pub run: for<'a> fn(&'a Ctx, Map<String, Value>) -> ToolFuture<'a>,
}

/// Every composite's argument specs, parsed once, by tool name. A spec that does not parse is
/// kept as its error: the tool is then left out of its domain (see [`Composite::tool`]) and the
/// test `every_argument_spec_parses` fails, rather than one argument quietly vanishing from a
/// schema while the tool still runs without checking it.
static PARAMS: Lazy<HashMap<&'static str, Result<Vec<Param>, String>>> = Lazy::new(|| {
    COMPOSITES
        .iter()
        .map(|c| {
            let parsed = c
                .params
                .iter()
                .map(|(name, spec)| Param::parse(name, spec))
                .collect::<Result<Vec<Param>, String>>();
            (c.name, parsed)
        })
        .collect()
});

impl Composite {
    /// The parsed argument specs.
    pub fn parsed_params(&self) -> Result<&'static [Param], ToolError> {
        match PARAMS.get(self.name) {
            Some(Ok(params)) => Ok(params),
            Some(Err(e)) => Err(ToolError::Internal(format!(
                "`{}` has a bad argument spec: {e}",
                self.name
            ))),
            None => Err(ToolError::Internal(format!(
                "`{}` is not in the composite registry",
                self.name
            ))),
        }
    }

    /// The tool as listed; an error if its argument specs do not parse.
    pub fn tool(&self) -> Result<Tool, ToolError> {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in self.parsed_params()? {
            props.insert(p.name.clone(), param_schema(p));
            if p.required {
                required.push(Value::String(p.name.clone()));
            }
        }
        let mut schema = Map::new();
        schema.insert("type".into(), Value::String("object".into()));
        schema.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            schema.insert("required".into(), Value::Array(required));
        }
        Ok(Tool::new(self.name, self.description, Arc::new(schema))
            .with_title(self.title)
            .with_annotations(annotations(true, false, true)))
    }

    /// Checks and normalises the arguments, then runs the composite.
    pub async fn call(&self, ctx: &Ctx, args: Map<String, Value>) -> Result<Value, ToolError> {
        let params = self.parsed_params()?;
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        let args: Map<String, Value> = args.into_iter().filter(|(_, v)| !v.is_null()).collect();
        reject_unknown(&args, &names, self.name)?;
        let mut checked = Map::new();
        for p in params {
            match args.get(&p.name) {
                Some(v) => {
                    let v = check(p, v)?;
                    if names_a_record(p) {
                        // Like the plain get tools: Halo numbers records from 1, and `0` or
                        // `-1` would ask it for "none" or "new", never the record meant.
                        for id in v.as_array().map_or(std::slice::from_ref(&v), Vec::as_slice) {
                            args::positive_id(&p.name, id)?;
                        }
                    }
                    checked.insert(p.name.clone(), v);
                }
                None if p.required => {
                    return Err(ToolError::invalid(
                        &p.name,
                        format!(
                            "`{}` is required{}",
                            p.name,
                            p.description
                                .as_ref()
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        ),
                    ));
                }
                None => {}
            }
        }
        (self.run)(ctx, checked).await
    }
}

/// Whether an argument holds Halo record ids (`id`, `ids`, `client_id`, ...), which must be
/// positive integers.
fn names_a_record(p: &Param) -> bool {
    matches!(p.ty, ParamType::Integer | ParamType::Ids)
        && (p.name == "id"
            || p.name == "ids"
            || p.name.ends_with("_id")
            || p.name.ends_with("_ids"))
}

/// A required record id, already checked by [`Composite::call`]; refused, never defaulted, if
/// it is somehow missing or not positive, so no request ever asks Halo for record `0`.
pub fn id_arg(args: &Map<String, Value>, name: &str) -> Result<i64, ToolError> {
    match args.get(name) {
        Some(v) => args::positive_id(name, v),
        None => Err(ToolError::invalid(name, format!("`{name}` is required"))),
    }
}

/// A catalogue resource by name (its path, envelope and fields are the one source of truth).
pub fn resource(domain: &str, name: &str) -> Result<&'static Resource, ToolError> {
    let d = catalog::catalog().domain(domain)?;
    d.resources
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ToolError::Internal(format!("the catalogue has no `{name}` in `{domain}`")))
}

/// Typed access to checked arguments.
pub fn int_arg(args: &Map<String, Value>, name: &str) -> Option<i64> {
    args.get(name).and_then(Value::as_i64)
}

pub fn str_arg<'a>(args: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

/// Every composite tool.
pub static COMPOSITES: &[Composite] = &[
    revenue::REVENUE,
    dedup::FIND_ASSET,
    dedup::SCAN_ASSETS,
    dedup::FIND_USER,
    dedup::SCAN_USERS,
    dedup::FIND_SITE,
    search::ASSETS,
    search::USERS,
    search::CLIENTS,
    batch::ASSETS,
    batch::USERS,
    batch::SITES,
    drill::TICKET,
    drill::CLIENT,
    drill::CONTRACT,
    drill::ASSET,
    reports::RUN,
    reports::QUERY,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry's own check: every composite's argument specs parse, every composite has a
    /// unique name (the parsed specs are kept by name), and each becomes a tool.
    #[test]
    fn every_argument_spec_parses() {
        let mut names = std::collections::HashSet::new();
        for c in COMPOSITES {
            assert!(names.insert(c.name), "two composites are named {}", c.name);
            if let Err(e) = c.tool() {
                panic!("{e}");
            }
            let params = c.parsed_params().unwrap_or_default();
            assert_eq!(params.len(), c.params.len(), "{}", c.name);
        }
    }
}
