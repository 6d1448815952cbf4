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

/// `fields` and `detail`, explained once in the server instructions, not in every tool. A
/// single-record read accepts `fields` too but leaves it out of its schema: a record is one
/// row, trimming it matters less than trimming a page, and the 52 bytes it took in every get
/// tool were a tenth of a domain's `tools/list`.
fn shaping(props: &mut Map<String, Value>, with_fields: bool) {
    if with_fields {
        props.insert(
            "fields".into(),
            json!({"type": "array", "items": {"type": "string"}}),
        );
    }
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

/// A short type name for a filter named in a description.
fn short_type(ty: &ParamType) -> String {
    match ty {
        ParamType::String | ParamType::Text => "string".into(),
        ParamType::Integer => "int".into(),
        ParamType::Number => "number".into(),
        ParamType::Boolean => "bool".into(),
        ParamType::Date => "date".into(),
        ParamType::Ids => "ids".into(),
        ParamType::Strings => "strings".into(),
        ParamType::Enum(values) => values.join("|"),
        ParamType::Object => "object".into(),
        ParamType::Objects => "objects".into(),
    }
}

/// " More filters: a, b (bool); c (ids)." — the filters left out of the schema, grouped by
/// type in the order first seen, so each type is written once.
fn more_filters(more: &[Param]) -> String {
    if more.is_empty() {
        return String::new();
    }
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for p in more {
        let ty = short_type(&p.ty);
        match groups.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, names)) => names.push(&p.name),
            None => groups.push((ty, vec![&p.name])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(ty, names)| format!("{} ({ty})", names.join(", ")))
        .collect();
    format!(" More filters: {}.", parts.join("; "))
}

/// The Halo list tool, the get tool, ... for one verb of a resource.
pub fn crud_tool(r: &Resource, verb: Verb) -> Tool {
    let mut schema = Schema::default();
    let scope_note = r
        .scope
        .as_ref()
        .map(|s| format!(" Needs {s}."))
        .unwrap_or_default();
    let (title, description, ann) = match verb {
        Verb::List => list_tool(r, &mut schema),
        Verb::Get => get_tool(r, &mut schema, &scope_note),
        Verb::Create => create_tool(r, &mut schema),
        Verb::Update => update_tool(r, &mut schema, &scope_note),
        Verb::Delete => delete_tool(r, &mut schema, &scope_note),
    };
    Tool::new(
        r.tool_name(verb.as_str()),
        description,
        object_schema(schema.props, schema.required),
    )
    .with_title(title)
    .with_annotations(ann)
}

/// A tool's input schema as it is built: its properties and the required ones.
#[derive(Default)]
struct Schema {
    props: Map<String, Value>,
    required: Vec<String>,
}

impl Schema {
    fn add(&mut self, params: &[Param]) {
        add_params(&mut self.props, &mut self.required, params);
    }

    /// The record id, required, and the parent id of scoped resources.
    fn id_and_scope(&mut self, r: &Resource) {
        self.props.insert("id".into(), id_schema(r));
        self.required.push("id".into());
        if let Some(p) = scope_param(r) {
            self.add(std::slice::from_ref(&p));
        }
    }
}

/// Title, description and annotations of one CRUD tool.
type Described = (String, String, ToolAnnotations);

fn list_tool(r: &Resource, schema: &mut Schema) -> Described {
    let plural = r.name.replace('_', " ");
    let (more, listed): (Vec<Param>, Vec<Param>) = r
        .filters
        .iter()
        .cloned()
        .partition(|f| r.more_filters.contains(&f.name));
    schema.add(&listed);
    let props = &mut schema.props;
    props.insert("search".into(), json!({"type": "string"}));
    // No `maximum`: it cost bytes in every list tool, and a page size over the limit is
    // refused with the limit in the message.
    props.insert("page_size".into(), json!({"type": "integer"}));
    props.insert("page_no".into(), json!({"type": "integer"}));
    props.insert("order".into(), json!({"type": "string"}));
    props.insert("orderdesc".into(), json!({"type": "boolean"}));
    shaping(props, true);
    let note = r.note.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
    (
        format!("List {plural}"),
        format!("List {plural}.{note}{}", more_filters(&more)),
        annotations(true, false, true),
    )
}

fn get_tool(r: &Resource, schema: &mut Schema, scope_note: &str) -> Described {
    schema.id_and_scope(r);
    schema.add(&r.get_params);
    shaping(&mut schema.props, false);
    let one = article(&r.singular);
    (
        format!("Get {one}"),
        format!("Get {one} by id.{scope_note}"),
        annotations(true, false, true),
    )
}

fn create_tool(r: &Resource, schema: &mut Schema) -> Described {
    schema.add(&r.fields);
    let one = article(&r.singular);
    (
        format!("Create {one}"),
        // No "takes no id": the schema has none, and an id given anyway is refused with why.
        format!("Create {one}."),
        annotations(false, false, false),
    )
}

fn update_tool(r: &Resource, schema: &mut Schema, scope_note: &str) -> Described {
    schema.props.insert("id".into(), id_schema(r));
    schema.required.push("id".into());
    if let Some(p) = scope_param(r) {
        if !r.fields.iter().any(|f| f.name == p.name) {
            schema.add(std::slice::from_ref(&p));
        } else {
            schema.required.push(p.name.clone());
        }
    }
    // Same fields as create, none required; descriptions are given once, in create.
    for f in &r.fields {
        let bare = Param {
            required: false,
            description: None,
            ..f.clone()
        };
        schema.props.insert(f.name.clone(), param_schema(&bare));
    }
    let one = article(&r.singular);
    (
        format!("Update {one}"),
        format!("Update {one}; only given fields change.{scope_note}"),
        annotations(false, true, true),
    )
}

fn delete_tool(r: &Resource, schema: &mut Schema, scope_note: &str) -> Described {
    schema.id_and_scope(r);
    schema.add(&r.delete_params);
    schema
        .props
        .insert("confirm".into(), json!({"type": "boolean"}));
    schema.required.push("confirm".into());
    let one = article(&r.singular);
    (
        format!("Delete {one}"),
        format!("Delete {one}; needs confirm: true.{scope_note}"),
        annotations(false, true, true),
    )
}

/// A declared extra read operation (e.g. `halo_agents_me`).
pub fn extra_tool(r: &Resource, op: &ExtraOp) -> Tool {
    let mut props = Map::new();
    shaping(&mut props, true);
    Tool::new(
        r.tool_name(&op.verb),
        format!("{}.", op.description.trim_end_matches('.')),
        object_schema(props, Vec::new()),
    )
    .with_title(op.title.clone())
    .with_annotations(annotations(true, false, true))
}
