//! Composite tools: Rust code registered into a domain, for work that is more than one Halo call
//! (drill-downs, breakdowns, matchers). Each entry names its domain; the domain's tool set picks
//! it up after the generated CRUD tools.

use std::{future::Future, pin::Pin, sync::Arc};

use rmcp::model::Tool;
use serde_json::{Map, Value};

use super::{ToolError, generate::annotations};
use crate::halo::HaloClient;

/// What a tool runs with.
#[derive(Clone)]
pub struct Ctx {
    pub halo: HaloClient,
}

pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send + 'a>>;

/// A hand-written tool registered into a domain.
pub struct Composite {
    pub domain: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub schema: fn() -> Map<String, Value>,
    pub run: for<'a> fn(&'a Ctx, Map<String, Value>) -> ToolFuture<'a>,
}

impl Composite {
    pub fn tool(&self) -> Tool {
        Tool::new(self.name, self.description, Arc::new((self.schema)()))
            .with_title(self.title)
            .with_annotations(annotations(
                self.read_only,
                self.destructive,
                self.idempotent,
            ))
    }
}

/// The input schema of a composite, from its argument struct's derive.
pub fn schema_of<T: schemars::JsonSchema>() -> Map<String, Value> {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.meta_schema = None;
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    match serde_json::to_value(schema) {
        Ok(Value::Object(mut map)) => {
            map.remove("title");
            map
        }
        _ => Map::new(),
    }
}

/// Parses a composite's arguments into its argument struct, with a readable error.
pub fn parse_args<T: serde::de::DeserializeOwned>(
    tool: &str,
    args: Map<String, Value>,
) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| ToolError::new(format!("bad arguments for `{tool}`: {e}")))
}

/// Every composite tool.
pub static COMPOSITES: &[Composite] = &[];
