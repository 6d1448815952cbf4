//! The shape of a domain file (see `domains/README.md`) and its validation.
//!
//! Files are parsed into `raw` serde types first, then turned into the checked types the rest of
//! the server uses, so that a mistake in a domain file is reported with the file, resource and key
//! at fault instead of surfacing later as an odd tool schema.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// Longest value accepted for a `string` argument.
pub const MAX_STRING: usize = 2_000;
/// Longest value accepted for a `text` argument (notes, HTML bodies).
pub const MAX_TEXT: usize = 65_536;

/// The CRUD verbs a resource may have. Only verbs Halo's API has for the path are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    List,
    Get,
    Create,
    Update,
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 5] = [
        Verb::List,
        Verb::Get,
        Verb::Create,
        Verb::Update,
        Verb::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::List => "list",
            Verb::Get => "get",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value type of an argument, from the type-spec mini-language of domain files.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    String,
    Text,
    Integer,
    Number,
    Boolean,
    Date,
    Ids,
    Strings,
    Enum(Vec<String>),
    Object,
    Objects,
}

impl ParamType {
    /// A short human name used in error messages ("an integer", "a list of ids").
    pub fn expected(&self) -> String {
        match self {
            ParamType::String | ParamType::Text => "a string".into(),
            ParamType::Integer => "an integer".into(),
            ParamType::Number => "a number".into(),
            ParamType::Boolean => "true or false".into(),
            ParamType::Date => "a date (YYYY-MM-DD or an ISO date-time)".into(),
            ParamType::Ids => "a list of integer ids".into(),
            ParamType::Strings => "a list of strings".into(),
            ParamType::Enum(values) => format!("one of {}", values.join(", ")),
            ParamType::Object => "an object".into(),
            ParamType::Objects => "a list of objects".into(),
        }
    }

    /// Longest accepted string, for string-like types.
    pub fn max_len(&self) -> usize {
        match self {
            ParamType::Text => MAX_TEXT,
            _ => MAX_STRING,
        }
    }
}

/// One argument: a list filter, a GET/DELETE option or a writable body field.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub required: bool,
    pub description: Option<String>,
}

impl Param {
    /// Parses `"type"`, `"type!"`, `"type: description"` or `"type!: description"`.
    pub fn parse(name: &str, spec: &str) -> Result<Param, String> {
        let (ty_part, description) = match spec.split_once(':') {
            Some((t, d)) => (
                t.trim(),
                Some(d.trim().to_owned()).filter(|d| !d.is_empty()),
            ),
            None => (spec.trim(), None),
        };
        let (ty_part, required) = match ty_part.strip_suffix('!') {
            Some(t) => (t, true),
            None => (ty_part, false),
        };
        let ty = match ty_part {
            "string" => ParamType::String,
            "text" => ParamType::Text,
            "integer" => ParamType::Integer,
            "number" => ParamType::Number,
            "boolean" => ParamType::Boolean,
            "date" => ParamType::Date,
            "ids" => ParamType::Ids,
            "strings" => ParamType::Strings,
            "object" => ParamType::Object,
            "objects" => ParamType::Objects,
            other => {
                let inner = other
                    .strip_prefix("enum(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .ok_or_else(|| format!("`{name}`: unknown type `{other}`"))?;
                let values: Vec<String> = inner.split('|').map(|v| v.trim().to_owned()).collect();
                if values.iter().any(String::is_empty) {
                    return Err(format!("`{name}`: empty value in `{other}`"));
                }
                ParamType::Enum(values)
            }
        };
        if !valid_ident(name) {
            return Err(format!("`{name}` is not a valid argument name"));
        }
        Ok(Param {
            name: name.to_owned(),
            ty,
            required,
            description,
        })
    }
}

fn valid_ident(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// How Halo identifies records of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    Integer,
    /// Halo's guid keys (`3f2504e0-4f89-11d3-9a0c-0305e82c3301`), e.g. Priority and Holiday.
    Guid,
    /// A string key of unknown format: checked against a conservative character set.
    String,
}

/// An extra read-only GET operation beside the CRUD verbs (e.g. `/Agent/me`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraOp {
    pub verb: String,
    pub path: String,
    pub title: String,
    pub description: String,
}

/// One Halo resource as the server exposes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub name: String,
    pub singular: String,
    pub path: String,
    pub envelope: Option<String>,
    pub verbs: Vec<Verb>,
    pub paginate: bool,
    pub max_page_size: u32,
    pub label: String,
    pub id_type: IdType,
    pub scope: Option<String>,
    pub reference: bool,
    pub list_fields: Vec<String>,
    pub get_fields: Vec<String>,
    pub more_fields: Vec<String>,
    pub note: Option<String>,
    pub filters: Vec<Param>,
    /// Filters accepted and checked like the others, but named in the list tool's description
    /// instead of its schema: a name there costs a fifth of a schema entry, and these are the
    /// filters few calls use.
    pub more_filters: Vec<String>,
    pub get_params: Vec<Param>,
    pub get_query: Vec<(String, Value)>,
    pub delete_params: Vec<Param>,
    pub fields: Vec<Param>,
    pub ops: Vec<ExtraOp>,
}

impl Resource {
    pub fn has(&self, verb: Verb) -> bool {
        self.verbs.contains(&verb)
    }

    /// The tool name for a verb of this resource: `halo_<resource>_<verb>`.
    pub fn tool_name(&self, verb: &str) -> String {
        format!("halo_{}_{}", self.name, verb)
    }

    /// Whether `name` is a field records of this resource are known to have (case-insensitive,
    /// as Halo's field names are): see [`Resource::known_fields`].
    pub fn knows_field(&self, name: &str) -> bool {
        self.known_fields().any(|f| f.eq_ignore_ascii_case(name))
    }

    /// Every field name this resource is known to have: what its domain file declares (shown,
    /// written and filter fields, the label) and what Halo's swagger gives its path.
    pub fn known_fields(&self) -> impl Iterator<Item = &str> + '_ {
        ["id", self.label.as_str()]
            .into_iter()
            .chain(self.list_fields.iter().map(String::as_str))
            .chain(self.get_fields.iter().map(String::as_str))
            .chain(self.more_fields.iter().map(String::as_str))
            .chain(self.fields.iter().map(|f| f.name.as_str()))
            .chain(self.filters.iter().map(|f| f.name.as_str()))
            .chain(super::fields::swagger_fields(&self.path).iter().copied())
    }

    /// Every field name create/update accept: the schema's fields and `more_fields`.
    pub fn writable(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name) || self.more_fields.iter().any(|f| f == name)
    }
}

/// A parsed domain file.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub name: String,
    pub area: String,
    pub summary: String,
    pub resources: Vec<Resource>,
}

/// The few keys at the top of a domain file, read without parsing the rest of it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub area: String,
    pub summary: String,
}

pub(crate) mod raw {
    use serde::Deserialize;

    /// A TOML table kept in file order.
    pub type OrderedMap<V> = indexmap::IndexMap<String, V>;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DomainFile {
        pub area: String,
        pub summary: String,
        #[serde(default)]
        pub resources: Vec<Resource>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Resource {
        pub name: String,
        pub singular: Option<String>,
        pub path: String,
        pub envelope: Option<String>,
        pub verbs: Vec<String>,
        #[serde(default)]
        pub paginate: bool,
        pub max_page_size: Option<u32>,
        pub label: Option<String>,
        pub id_type: Option<String>,
        pub scope: Option<String>,
        #[serde(default)]
        pub reference: bool,
        #[serde(default)]
        pub list_fields: Vec<String>,
        pub get_fields: Option<Vec<String>>,
        #[serde(default)]
        pub more_fields: String,
        pub note: Option<String>,
        #[serde(default)]
        pub filters: OrderedMap<String>,
        #[serde(default)]
        pub more_filters: String,
        #[serde(default)]
        pub get_params: OrderedMap<String>,
        #[serde(default)]
        pub get_query: OrderedMap<toml::Value>,
        #[serde(default)]
        pub delete_params: OrderedMap<String>,
        #[serde(default)]
        pub fields: OrderedMap<String>,
        #[serde(default)]
        pub ops: Vec<Op>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Op {
        pub verb: String,
        pub path: String,
        pub title: String,
        pub description: String,
    }
}

/// Reads the header keys (everything before the first `[table]`) of a domain file.
pub fn parse_header(source: &str) -> Result<Header, String> {
    let end = source
        .lines()
        .scan(0usize, |offset, line| {
            let start = *offset;
            *offset += line.len() + 1;
            Some((start, line))
        })
        .find(|(_, line)| line.trim_start().starts_with('['))
        .map_or(source.len(), |(start, _)| start);
    let head = source.get(..end).unwrap_or(source);
    toml::from_str(head).map_err(|e| e.to_string())
}

/// Parses and checks a whole domain file.
pub fn parse_domain(name: &str, source: &str) -> Result<Domain, String> {
    let file: raw::DomainFile = toml::from_str(source).map_err(|e| e.to_string())?;
    let mut resources = Vec::with_capacity(file.resources.len());
    for r in file.resources {
        let rname = r.name.clone();
        resources.push(convert_resource(r).map_err(|e| format!("resource `{rname}`: {e}"))?);
    }
    Ok(Domain {
        name: name.to_owned(),
        area: file.area,
        summary: file.summary,
        resources,
    })
}

fn params(map: raw::OrderedMap<String>) -> Result<Vec<Param>, String> {
    map.iter().map(|(k, v)| Param::parse(k, v)).collect()
}

fn convert_resource(r: raw::Resource) -> Result<Resource, String> {
    if !r.name.chars().all(|c| c.is_ascii_lowercase() || c == '_') || r.name.is_empty() {
        return Err("name must be lower_snake_case".into());
    }
    if !r.path.starts_with('/') {
        return Err("path must start with /".into());
    }
    let verbs = r
        .verbs
        .iter()
        .map(|v| Verb::parse(v).ok_or_else(|| format!("unknown verb `{v}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let id_type = match r.id_type.as_deref() {
        None | Some("integer") => IdType::Integer,
        Some("guid") => IdType::Guid,
        Some("string") => IdType::String,
        Some(other) => return Err(format!("unknown id_type `{other}`")),
    };
    let get_query = r
        .get_query
        .into_iter()
        .map(|(k, v)| {
            let json = serde_json::to_value(&v).map_err(|e| format!("get_query `{k}`: {e}"))?;
            Ok((k, json))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let ops = r
        .ops
        .into_iter()
        .map(|o| ExtraOp {
            verb: o.verb,
            path: o.path,
            title: o.title,
            description: o.description,
        })
        .collect();
    let filters = params(r.filters)?;
    let more_filters: Vec<String> = r
        .more_filters
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    for m in &more_filters {
        match filters.iter().find(|f| &f.name == m) {
            None => return Err(format!("more_filters names `{m}`, which is not a filter")),
            Some(f) if f.required => {
                return Err(format!(
                    "more_filters names `{m}`, which is required: it must be in the schema"
                ));
            }
            Some(_) => {}
        }
    }
    let list_fields = r.list_fields;
    let singular = r
        .singular
        .unwrap_or_else(|| r.name.trim_end_matches('s').replace('_', " "));
    Ok(Resource {
        get_fields: r.get_fields.unwrap_or_else(|| list_fields.clone()),
        list_fields,
        singular,
        name: r.name,
        path: r.path,
        envelope: r.envelope,
        verbs,
        paginate: r.paginate,
        max_page_size: r.max_page_size.unwrap_or(100).max(1),
        label: r.label.unwrap_or_else(|| "name".into()),
        id_type,
        scope: r.scope,
        reference: r.reference,
        more_fields: r
            .more_fields
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        note: r.note,
        more_filters,
        filters,
        get_params: params(r.get_params)?,
        get_query,
        delete_params: params(r.delete_params)?,
        fields: params(r.fields)?,
        ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_specs_parse() {
        let p = Param::parse("summary", "string!: One-line title").unwrap();
        assert_eq!(p.ty, ParamType::String);
        assert!(p.required);
        assert_eq!(p.description.as_deref(), Some("One-line title"));
        let p = Param::parse("domain", "enum(reqs|opps|prjs)").unwrap();
        assert_eq!(
            p.ty,
            ParamType::Enum(vec!["reqs".into(), "opps".into(), "prjs".into()])
        );
        assert!(!p.required);
        assert!(Param::parse("x", "float").is_err());
        assert!(Param::parse("x", "enum(a||b)").is_err());
        assert!(Param::parse("bad name", "string").is_err());
    }

    #[test]
    fn header_is_read_without_the_body() {
        let src = "area = \"A\"\nsummary = \"S\"\n\n[[resources]]\nthis is not toml at all\n";
        let h = parse_header(src).unwrap();
        assert_eq!(h.area, "A");
        assert_eq!(h.summary, "S");
        assert!(parse_domain("x", src).is_err());
    }

    #[test]
    fn more_filters_must_name_optional_filters() {
        let domain = |more: &str| {
            format!(
                "area = \"A\"\nsummary = \"S\"\n\n[[resources]]\nname = \"things\"\n\
                 path = \"/Thing\"\nverbs = [\"list\"]\nmore_filters = \"{more}\"\n\n\
                 [resources.filters]\nkind = \"integer\"\nowner = \"integer!\"\n"
            )
        };
        let d = parse_domain("x", &domain("kind")).unwrap();
        assert_eq!(d.resources[0].more_filters, ["kind"]);
        let e = parse_domain("x", &domain("colour")).unwrap_err();
        assert!(e.contains("`colour`, which is not a filter"), "{e}");
        let e = parse_domain("x", &domain("owner")).unwrap_err();
        assert!(e.contains("which is required"), "{e}");
    }
}
