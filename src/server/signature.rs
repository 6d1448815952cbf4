//! Compact tool signatures for dispatch mode: a tool's arguments in one line instead of its
//! JSON Schema, e.g. `halo_tickets_get(id: int, includelastaction?: bool, fields?: string[],
//! detail?: compact|full)`. Built from the schema itself, so generated and composite tools read
//! the same way, at about half the bytes.

use rmcp::model::Tool;
use serde_json::{Map, Value};

fn type_of(schema: &Value) -> String {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|");
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => "int".into(),
        Some("number") => "number".into(),
        Some("boolean") => "bool".into(),
        Some("string") if schema.get("format").and_then(Value::as_str) == Some("date") => {
            "date".into()
        }
        Some("string") => "string".into(),
        Some("array") => format!(
            "{}[]",
            schema
                .get("items")
                .map(type_of)
                .unwrap_or_else(|| "any".into())
        ),
        Some("object") => "object".into(),
        _ => "any".into(),
    }
}

/// `name(arg: type, opt?: type (what it is), ...)`.
pub fn signature(tool: &Tool) -> String {
    let props = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    let required: Vec<&str> = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let args: Vec<String> = props
        .iter()
        .map(|(name, schema)| {
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            let mut s = format!("{name}{optional}: {}", type_of(schema));
            if let Some(d) = schema.get("description").and_then(Value::as_str) {
                s.push_str(&format!(" ({d})"));
            }
            s
        })
        .collect();
    format!("{}({})", tool.name, args.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn schemas_read_as_signatures() {
        let schema = json!({"type": "object", "properties": {
            "id": {"type": "integer"},
            "status": {"type": "array", "items": {"type": "integer"}},
            "startdate": {"type": "string", "format": "date"},
            "detail": {"type": "string", "enum": ["compact", "full"]},
            "team": {"type": "string", "description": "Team name"}
        }, "required": ["id"]});
        let Value::Object(m) = schema else {
            unreachable!()
        };
        let tool = Tool::new("halo_x_get", "d", Arc::new(m));
        assert_eq!(
            signature(&tool),
            "halo_x_get(id: int, status?: int[], startdate?: date, detail?: compact|full, \
             team?: string (Team name))"
        );
    }
}
