//! The field names Halo's own API description gives each resource, for checking `order` and
//! `fields` arguments.
//!
//! A domain file declares only the fields its tools show or write; Halo's records carry many
//! more, and any of them is a fair sort key or column. Refusing a real field is worse than
//! letting a typo through, so the known set is generous: the domain file's names plus every
//! property (but the `_`-prefixed write switches) of the models Halo's swagger attaches to the resource's path (the POST body model,
//! the path's tag model and their `_List` forms).
//!
//! The swagger itself is 2 MB and not shipped; `swagger_fields.txt` holds just those names, one
//! line per catalogue path (`/Tickets id dateoccurred …`). A test regenerates it from
//! `../shared/halo-swagger.json` when that file is present and fails if it differs, so the list
//! stays true to the swagger (`HALO_WRITE_FIELDS=1 cargo test --lib swagger_fields` rewrites it).

use std::collections::HashMap;

use once_cell::sync::Lazy;

static SOURCE: &str = include_str!("swagger_fields.txt");

static BY_PATH: Lazy<HashMap<&'static str, Vec<&'static str>>> = Lazy::new(|| {
    SOURCE
        .lines()
        .filter(|l| l.starts_with('/'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let path = words.next()?;
            Some((path, words.collect()))
        })
        .collect()
});

/// The swagger's field names for a catalogue path (`/Tickets`); empty when it has none.
pub fn swagger_fields(path: &str) -> &'static [&'static str] {
    BY_PATH.get(path).map(Vec::as_slice).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::catalog::catalog;

    /// Model names for a path: its POST body's item model, its tags, and their `_List` forms.
    fn models(swagger: &Value, path: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let paths = &swagger["paths"];
        for p in [path.to_owned(), format!("{path}/{{id}}")] {
            let Some(ops) = paths.get(&p).and_then(Value::as_object) else {
                continue;
            };
            for op in ops.values() {
                for tag in op["tags"].as_array().into_iter().flatten() {
                    if let Some(t) = tag.as_str() {
                        names.insert(t.to_owned());
                    }
                }
                let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                let reference = schema["items"]["$ref"]
                    .as_str()
                    .or_else(|| schema["$ref"].as_str());
                if let Some(r) = reference.and_then(|r| r.rsplit('/').next()) {
                    names.insert(r.to_owned());
                }
            }
        }
        let with_lists: Vec<String> = names.iter().map(|n| format!("{n}_List")).collect();
        names.extend(with_lists);
        names
    }

    fn generate(swagger: &Value) -> String {
        let schemas = &swagger["components"]["schemas"];
        let mut paths = BTreeSet::new();
        for e in catalog().entries() {
            for r in &e.domain().unwrap().resources {
                paths.insert(r.path.clone());
            }
        }
        let mut out = String::from(
            "# Generated from Halo's swagger by src/catalog/fields.rs (see there); do not edit.\n",
        );
        for path in paths {
            let mut fields = BTreeSet::new();
            for m in models(swagger, &path) {
                if let Some(props) = schemas[&m]["properties"].as_object() {
                    // `_force`, `_warning` and the like are write-time switches, not fields.
                    fields.extend(props.keys().filter(|k| !k.starts_with('_')).cloned());
                }
            }
            if fields.is_empty() {
                continue;
            }
            out.push_str(&path);
            for f in fields {
                out.push(' ');
                out.push_str(&f);
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn swagger_fields_match_the_swagger() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/halo-swagger.json");
        let Ok(text) = std::fs::read_to_string(file) else {
            eprintln!("{file} not present; the field list is not re-checked");
            return;
        };
        let swagger: Value = serde_json::from_str(&text).unwrap();
        let expected = generate(&swagger);
        if std::env::var_os("HALO_WRITE_FIELDS").is_some() {
            let out = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/catalog/swagger_fields.txt"
            );
            std::fs::write(out, &expected).unwrap();
        }
        assert!(
            SOURCE == expected,
            "src/catalog/swagger_fields.txt is stale: HALO_WRITE_FIELDS=1 cargo test --lib \
             swagger_fields"
        );
    }

    #[test]
    fn real_sort_fields_are_known() {
        for f in [
            "dateoccurred",
            "id",
            "targetdate",
            "lastactiondate",
            "summary",
        ] {
            assert!(swagger_fields("/Tickets").contains(&f), "{f}");
        }
        assert!(swagger_fields("/Client").contains(&"name"));
        assert!(swagger_fields("/NoSuchPath").is_empty());
    }
}
