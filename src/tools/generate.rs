//! Tool definitions generated from domain files: names, titles, descriptions, annotations and
//! JSON Schemas. Every byte here is sent to the model on each `tools/list`, so schemas carry
//! types always, descriptions only where the domain file gives one, and nothing decorative.

use std::sync::Arc;

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::catalog::{ExtraOp, IdType, Param, ParamType, Resource, Verb};

/// Rows returned by a list call when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 25;

/// The arguments every list tool has besides its filters.
pub const LIST_COMMON: &[&str] = &["search", "page_size", "page_no", "order", "orderdesc"];
/// The shaping arguments of list, get and extra read tools.
pub const SHAPING: &[&str] = &["fields", "detail"];

/// "a ticket", "an asset".
pub fn article(noun: &str) -> String {
    let vowel = noun
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    if vowel {
        format!("an {noun}")
    } else {
        format!("a {noun}")
    }
}

/// JSON Schema for one parameter.
pub fn param_schema(p: &Param) -> Value {
    let mut s = match &p.ty {
        ParamType::String | ParamType::Text => json!({"type": "string"}),
        ParamType::Integer => json!({"type": "integer"}),
        ParamType::Number => json!({"type": "number"}),
        ParamType::Boolean => json!({"type": "boolean"}),
        ParamType::Date => json!({"type": "string", "format": "date"}),
        ParamType::Ids => json!({"type": "array", "items": {"type": "integer"}}),
        ParamType::Strings => json!({"type": "array", "items": {"type": "string"}}),
        ParamType::Enum(values) => json!({"type": "string", "enum": values}),
        ParamType::Object => json!({"type": "object"}),
        ParamType::Objects => json!({"type": "array", "items": {"type": "object"}}),
    };
    if let (Some(d), Value::Object(map)) = (&p.description, &mut s) {
        map.insert("description".into(), Value::String(d.clone()));
    }
    s
}

/// `{"type": "object", ...}`. No `additionalProperties: false`: unknown arguments are rejected
/// with suggestions when called, and saying so in every schema would cost bytes on every
/// `tools/list`.
fn object_schema(properties: Map<String, Value>, required: Vec<String>) -> Arc<Map<String, Value>> {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    Arc::new(schema)
}

fn id_schema(r: &Resource) -> Value {
    match r.id_type {
        IdType::Integer => json!({"type": "integer"}),
        IdType::Guid | IdType::String => json!({"type": "string"}),
    }
}

/// The scope parameter (`ticket_id` for actions), typed as an integer id.
pub fn scope_param(r: &Resource) -> Option<Param> {
    r.scope.as_ref().map(|s| Param {
        name: s.clone(),
        ty: ParamType::Integer,
        required: true,
        description: None,
    })
}

fn shaping(props: &mut Map<String, Value>) {
    // Explained once in the server instructions, not in every tool.
    props.insert(
        "fields".into(),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    props.insert(
        "detail".into(),
        json!({"type": "string", "enum": ["compact", "full"]}),
    );
}

fn add_params(props: &mut Map<String, Value>, required: &mut Vec<String>, params: &[Param]) {
    for p in params {
        props.insert(p.name.clone(), param_schema(p));
        if p.required {
            required.push(p.name.clone());
        }
    }
}

pub fn annotations(read_only: bool, destructive: bool, idempotent: bool) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(true)
}

/// The Halo list tool, the get tool, ... for one verb of a resource.
pub fn crud_tool(r: &Resource, verb: Verb) -> Tool {
    let mut props = Map::new();
    let mut required = Vec::new();
    let plural = r.name.replace('_', " ");
    let one = &r.singular;
    let scope_note = r
        .scope
        .as_ref()
        .map(|s| format!(" Needs {s}."))
        .unwrap_or_default();
    let (title, description, ann) = match verb {
        Verb::List => {
            add_params(&mut props, &mut required, &r.filters);
            props.insert("search".into(), json!({"type": "string"}));
            props.insert(
                "page_size".into(),
                json!({"type": "integer", "maximum": r.max_page_size}),
            );
            props.insert("page_no".into(), json!({"type": "integer"}));
            props.insert("order".into(), json!({"type": "string"}));
            props.insert("orderdesc".into(), json!({"type": "boolean"}));
            shaping(&mut props);
            let note = r.note.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
            (
                format!("List {plural}"),
                format!("List {plural}.{note}"),
                annotations(true, false, true),
            )
        }
        Verb::Get => {
            props.insert("id".into(), id_schema(r));
            required.push("id".into());
            if let Some(p) = scope_param(r) {
                add_params(&mut props, &mut required, std::slice::from_ref(&p));
            }
            add_params(&mut props, &mut required, &r.get_params);
            shaping(&mut props);
            (
                format!("Get {}", article(one)),
                format!("Get {} by id.{scope_note}", article(one)),
                annotations(true, false, true),
            )
        }
        Verb::Create => {
            add_params(&mut props, &mut required, &r.fields);
            (
                format!("Create {}", article(one)),
                format!("Create {}; takes no id.", article(one)),
                annotations(false, false, false),
            )
        }
        Verb::Update => {
            props.insert("id".into(), id_schema(r));
            required.push("id".into());
            if let Some(p) = scope_param(r) {
                if !r.fields.iter().any(|f| f.name == p.name) {
                    add_params(&mut props, &mut required, std::slice::from_ref(&p));
                } else {
                    required.push(p.name.clone());
                }
            }
            // Same fields as create, none required; descriptions are given once, in create.
            for f in &r.fields {
                let bare = Param {
                    required: false,
                    description: None,
                    ..f.clone()
                };
                props.insert(f.name.clone(), param_schema(&bare));
            }
            (
                format!("Update {}", article(one)),
                format!(
                    "Update {}; only given fields change.{scope_note}",
                    article(one)
                ),
                annotations(false, true, true),
            )
        }
        Verb::Delete => {
            props.insert("id".into(), id_schema(r));
            required.push("id".into());
            if let Some(p) = scope_param(r) {
                add_params(&mut props, &mut required, std::slice::from_ref(&p));
            }
            add_params(&mut props, &mut required, &r.delete_params);
            props.insert("confirm".into(), json!({"type": "boolean"}));
            required.push("confirm".into());
            (
                format!("Delete {}", article(one)),
                format!("Delete {}; needs confirm: true.{scope_note}", article(one)),
                annotations(false, true, true),
            )
        }
    };
    Tool::new(
        r.tool_name(verb.as_str()),
        description,
        object_schema(props, required),
    )
    .with_title(title)
    .with_annotations(ann)
}

/// A declared extra read operation (e.g. `halo_agents_me`).
pub fn extra_tool(r: &Resource, op: &ExtraOp) -> Tool {
    let mut props = Map::new();
    shaping(&mut props);
    Tool::new(
        r.tool_name(&op.verb),
        format!("{}.", op.description.trim_end_matches('.')),
        object_schema(props, Vec::new()),
    )
    .with_title(op.title.clone())
    .with_annotations(annotations(true, false, true))
}
