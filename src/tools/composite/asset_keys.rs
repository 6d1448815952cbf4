//! Where a tenant keeps an asset's serial number and hostname: the one reader both asset
//! families (`halo_assets_search`, and the matchers and scans of `dedup`) use.
//!
//! Why: each Halo asset type chooses its own three key fields (`keyfield_id`, `keyfield2_id`,
//! `keyfield3_id` and `keyfield*_name` in the swagger's `Xtype` model, the `/AssetType`
//! record), and an asset's `key_field`, `key_field2`, `key_field3` are those fields' values.
//! Nothing makes key field 1 the serial: PD's `docs/CreateAsset.json` (halo-api.md §5) shows a
//! type keyed Name (101) / User (148) / Model (51) with the Serial Number (117) an ordinary
//! field. So the serial and the hostname are found *by field*:
//!
//! 1. a setting names the field (`HALO_ASSET_SERIAL_FIELD` / `HALO_ASSET_HOSTNAME_FIELD`, a
//!    field name or id), for tenants that keep them in fields whose names say nothing, or in
//!    custom fields;
//! 2. otherwise (or for an asset that has no such field) the field whose name says so ("Serial Number", "Service Tag", "IMEI";
//!    "Hostname", "Computer Name", ...), first among the type's key fields, then among the
//!    asset's other fields (`fields`, which list rows carry only with `includeassetfields=true`,
//!    SW24 /Asset), then its custom fields.
//!
//! Every value read says where it came from, so an answer shows which field matched. Types are
//! reference data: read once through the shared client's cache ([`crate::halo::Caching::Reference`]).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{
    Ctx,
    fetch::{Pages, Reads},
    matching::{read_distinct, scope_query, text},
    resource,
};
use crate::tools::{ToolError, args::as_int, crud};

/// Asset types fetched one by one when the list did not say their key fields.
const MAX_TYPE_GETS: usize = 50;

/// What is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Serial,
    Hostname,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Serial => "serial",
            Kind::Hostname => "hostname",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Kind::Serial => "HALO_ASSET_SERIAL_FIELD",
            Kind::Hostname => "HALO_ASSET_HOSTNAME_FIELD",
        }
    }

    /// Whether a field's name says it holds this. Names are compared as lower-case words, so
    /// "Serial No.", "serial_number" and "CFSerialNumber" all say serial.
    fn named_by(self, field_name: &str) -> bool {
        let n: String = field_name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .flat_map(|c| c.to_lowercase())
            .collect();
        match self {
            Kind::Serial => n.contains("serial") || n.contains("servicetag") || n == "imei",
            Kind::Hostname => [
                "hostname",
                "computername",
                "devicename",
                "machinename",
                "dnsname",
                "netbiosname",
            ]
            .iter()
            .any(|w| n.contains(w)),
        }
    }
}

/// A field named by a setting: a field id, or a field name (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    Id(i64),
    Name(String),
}

impl FieldRef {
    pub fn parse(s: &str) -> Option<FieldRef> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Some(match s.parse::<i64>() {
            Ok(id) => FieldRef::Id(id),
            Err(_) => FieldRef::Name(s.to_owned()),
        })
    }

    fn matches(&self, id: Option<i64>, names: &[&str]) -> bool {
        match self {
            FieldRef::Id(want) => id == Some(*want),
            FieldRef::Name(want) => names
                .iter()
                .any(|n| !n.is_empty() && n.trim().eq_ignore_ascii_case(want)),
        }
    }
}

/// One key field of a type: its field id and name, as the type says them.
#[derive(Debug, Clone, Default)]
struct Key {
    id: Option<i64>,
    name: String,
}

#[derive(Debug, Clone, Default)]
struct TypeKeys {
    name: String,
    keys: [Key; 3],
}

/// A value read from an asset, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub value: String,
    /// E.g. `key_field2 (Serial Number, field 117)` or `fields: Hostname (field 161)`.
    pub from: String,
}

/// The asset types' key fields and the settings: how to read any asset's serial and hostname.
#[derive(Debug, Clone, Default)]
pub struct AssetKeys {
    types: HashMap<i64, TypeKeys>,
    serial: Option<FieldRef>,
    hostname: Option<FieldRef>,
}

const KEY_COLUMNS: [&str; 3] = ["key_field", "key_field2", "key_field3"];
const KEY_ID: [&str; 3] = ["keyfield_id", "keyfield2_id", "keyfield3_id"];
const KEY_NAME: [&str; 3] = ["keyfield_name", "keyfield2_name", "keyfield3_name"];

/// A field entry's value as text: `value` when it is text (or a number), else `display`.
fn field_value(f: &Value) -> String {
    match f.get("value") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => text(f, "display").to_owned(),
    }
}

fn has_keys(t: &Value) -> bool {
    KEY_ID
        .iter()
        .chain(KEY_NAME.iter())
        .any(|k| t.get(*k).is_some())
}

impl AssetKeys {
    /// From asset type records (`/AssetType` rows or records) and the two settings.
    pub fn from_types(
        types: &[Value],
        serial: Option<FieldRef>,
        hostname: Option<FieldRef>,
    ) -> Self {
        let mut map = HashMap::new();
        for t in types {
            let Some(id) = t.get("id").and_then(as_int) else {
                continue;
            };
            let mut keys: [Key; 3] = Default::default();
            for (i, k) in keys.iter_mut().enumerate() {
                k.id = t.get(KEY_ID[i]).and_then(as_int).filter(|n| *n > 0);
                k.name = text(t, KEY_NAME[i]).trim().to_owned();
            }
            map.insert(
                id,
                TypeKeys {
                    name: text(t, "name").to_owned(),
                    keys,
                },
            );
        }
        AssetKeys {
            types: map,
            serial,
            hostname,
        }
    }

    /// Reads the asset types (cached reference data) and the settings.
    pub async fn load(ctx: &Ctx, reads: &mut Reads) -> Result<AssetKeys, ToolError> {
        let r = resource("asset_setup", "asset_types")?;
        let mut types = Pages::new(ctx, 1).all(r, &[], reads).await?;
        // Which fields a list row carries is not documented for /AssetType (there is no
        // `Xtype_List` model); if the rows do not say the key fields, the records do.
        let bare: Vec<usize> = types
            .iter()
            .enumerate()
            .filter(|(_, t)| !has_keys(t))
            .map(|(i, _)| i)
            .take(MAX_TYPE_GETS)
            .collect();
        for i in bare {
            let Some(id) = types.get(i).and_then(|t| t.get("id")).and_then(as_int) else {
                continue;
            };
            let full = ctx
                .halo
                .get(
                    &format!("{}/{id}", r.path),
                    &crud::get_query(r),
                    crud::caching(r),
                )
                .await?;
            reads.requests += 1;
            if let Some(slot) = types.get_mut(i) {
                *slot = full;
            }
        }
        let settings = &ctx.halo.config().asset_fields;
        Ok(AssetKeys::from_types(
            &types,
            settings.serial.as_deref().and_then(FieldRef::parse),
            settings.hostname.as_deref().and_then(FieldRef::parse),
        ))
    }

    fn setting(&self, kind: Kind) -> Option<&FieldRef> {
        match kind {
            Kind::Serial => self.serial.as_ref(),
            Kind::Hostname => self.hostname.as_ref(),
        }
    }

    /// A key field's name: as the type says it, else as the asset's own field entry says it.
    fn key_name(key: &Key, asset: &Value) -> String {
        if !key.name.is_empty() {
            return key.name.clone();
        }
        key.id
            .and_then(|id| {
                fields(asset, "fields")
                    .iter()
                    .find(|f| f.get("id").and_then(as_int) == Some(id))
                    .map(|f| text(f, "name").to_owned())
            })
            .unwrap_or_default()
    }

    /// The asset's value for `kind`, wherever this tenant keeps it: the field the setting
    /// names, or (no setting, or an asset without that field) the field whose name says so.
    pub fn read(&self, asset: &Value, kind: Kind) -> Option<Read> {
        if let Some(f) = self.setting(kind)
            && let Some(read) = self.read_with(asset, kind, Some(f))
        {
            return Some(read);
        }
        self.read_with(asset, kind, None)
    }

    fn read_with(&self, asset: &Value, kind: Kind, setting: Option<&FieldRef>) -> Option<Read> {
        let ty = asset
            .get("assettype_id")
            .and_then(as_int)
            .and_then(|id| self.types.get(&id));
        let wanted = |id: Option<i64>, names: &[&str]| match setting {
            Some(f) => f.matches(id, names),
            None => names.iter().any(|n| kind.named_by(n)),
        };
        let via = match setting {
            Some(_) => format!("; {}", kind.setting()),
            None => String::new(),
        };
        let id_text = |id: Option<i64>| id.map(|i| format!(", field {i}")).unwrap_or_default();
        // 1. The type's key fields, as the list row carries them.
        if let Some(t) = ty {
            for (i, key) in t.keys.iter().enumerate() {
                let name = AssetKeys::key_name(key, asset);
                if wanted(key.id, &[&name]) {
                    let value = text(asset, KEY_COLUMNS[i]).to_owned();
                    return Some(Read {
                        value,
                        from: format!("{} ({name}{}{via})", KEY_COLUMNS[i], id_text(key.id)),
                    });
                }
            }
        }
        // 2. The asset's fields, then its custom fields.
        for list in ["fields", "customfields"] {
            for f in fields(asset, list) {
                let id = f.get("id").and_then(as_int);
                let (name, label) = (text(f, "name"), text(f, "label"));
                if wanted(id, &[name, label]) {
                    let shown = if name.is_empty() { label } else { name };
                    return Some(Read {
                        value: field_value(f),
                        from: format!("{list}: {shown}{}{via}", id_text(id)),
                    });
                }
            }
        }
        None
    }

    /// Per asset type: where its serial and hostname come from (for answers and `doctor`-like
    /// explanations), judged from the type alone.
    pub fn layout(&self) -> Value {
        let mut ids: Vec<&i64> = self.types.keys().collect();
        ids.sort();
        let rows: Vec<Value> = ids
            .into_iter()
            .filter_map(|id| {
                let t = self.types.get(id)?;
                let keys: Vec<String> = t.keys.iter().map(|k| k.name.clone()).collect();
                let place = |kind: Kind| -> String {
                    let setting = self.setting(kind);
                    t.keys
                        .iter()
                        .enumerate()
                        .find(|(_, k)| match setting {
                            Some(f) => f.matches(k.id, &[&k.name]),
                            None => kind.named_by(&k.name),
                        })
                        .map(|(i, k)| format!("{} ({})", KEY_COLUMNS[i], k.name))
                        .unwrap_or_else(|| "not a key field: read from the asset's fields".into())
                };
                Some(json!({
                    "assettype_id": id, "name": t.name, "key_fields": keys,
                    "serial": place(Kind::Serial), "hostname": place(Kind::Hostname),
                }))
            })
            .collect();
        Value::Array(rows)
    }

    /// Asset types that do not keep `kind` in a key field: Halo's `search` may not look at
    /// their other fields (it is documented only as "Filters response based on the search
    /// string", SW24 /Asset), so their assets are read whole when looking for a value.
    pub fn types_without_key(&self, kind: Kind) -> Vec<i64> {
        let setting = self.setting(kind);
        let mut ids: Vec<i64> = self
            .types
            .iter()
            .filter(|(_, t)| {
                !t.keys.iter().any(|k| match setting {
                    Some(f) => f.matches(k.id, &[&k.name]),
                    None => kind.named_by(&k.name),
                })
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Why nothing was read, for an answer: the setting that would tell.
    pub fn missing(kind: Kind) -> String {
        format!(
            "no {} field found (by key-field or field name); set {} to its field name or id",
            kind.label(),
            kind.setting()
        )
    }
}

fn fields<'a>(asset: &'a Value, list: &str) -> &'a [Value] {
    asset
        .get(list)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The list query that makes asset rows carry their `fields` (SW24 /Asset:
/// `includeassetfields`, "Include asset fields in the response").
pub fn with_fields(mut q: Vec<(String, String)>) -> Vec<(String, String)> {
    q.push(("includeassetfields".into(), "true".into()));
    q
}

/// Assets that may hold `serial` or `host` (raw, as given), with a note on how complete the
/// set is. With a client: all its assets (Halo's search matches substrings, so a serial stored
/// as "5CG98 75FEL" is invisible to a search for "5CG9875FEL"). Without one: Halo's search for
/// each value as typed and normalised, plus every asset of the types that keep the sought
/// field outside their key fields.
pub async fn candidates(
    ctx: &Ctx,
    keys: &AssetKeys,
    wanted: &[(Kind, &str, Option<String>)],
    client: Option<i64>,
    reads: &mut Reads,
) -> Result<(Vec<Value>, Option<String>), ToolError> {
    let r = resource("assets", "assets")?;
    let scope = |extra: Option<(&str, String)>| {
        let mut q = scope_query(client);
        if let Some((k, v)) = extra {
            q.push((k.to_owned(), v));
        }
        with_fields(q)
    };
    if client.is_some() {
        let all = Pages::new(ctx, 1).all(r, &scope(None), reads).await?;
        return Ok((all, None));
    }
    let mut terms: Vec<String> = Vec::new();
    let mut whole_types: Vec<i64> = Vec::new();
    for (kind, raw, norm) in wanted {
        terms.push(raw.trim().to_owned());
        terms.extend(norm.clone());
        whole_types.extend(keys.types_without_key(*kind));
    }
    terms.sort();
    terms.dedup();
    terms.retain(|t| !t.is_empty());
    whole_types.sort_unstable();
    whole_types.dedup();
    let queries: Vec<Vec<(String, String)>> = terms
        .iter()
        .map(|t| scope(Some(("search", t.clone()))))
        .chain(
            whole_types
                .iter()
                .map(|t| scope(Some(("assettype_id", t.to_string())))),
        )
        .collect();
    let out = read_distinct(ctx, r, &queries, reads).await?;
    let mut note = "found through Halo's search".to_owned();
    if !whole_types.is_empty() {
        note.push_str(&format!(
            ", and by reading every asset of types {whole_types:?}, which keep the value outside \
             their key fields"
        ));
    }
    note.push_str("; give client_id for a complete check");
    Ok((out, Some(note)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> Vec<Value> {
        vec![
            json!({"id": 1, "name": "Laptop", "keyfield_id": 117, "keyfield_name": "Serial Number",
                   "keyfield2_id": 161, "keyfield2_name": "Hostname", "keyfield3_id": 51, "keyfield3_name": "Model"}),
            json!({"id": 4, "name": "Printer", "keyfield_id": 161, "keyfield_name": "Hostname",
                   "keyfield2_id": 117, "keyfield2_name": "Serial Number", "keyfield3_id": 51, "keyfield3_name": "Model"}),
            json!({"id": 7, "name": "Phone", "keyfield_id": 101, "keyfield_name": "Name",
                   "keyfield2_id": 148, "keyfield2_name": "User", "keyfield3_id": 51, "keyfield3_name": "Model"}),
        ]
    }

    fn asset(ty: i64, k: [&str; 3], serial: &str, host: &str) -> Value {
        json!({"id": 1, "assettype_id": ty, "key_field": k[0], "key_field2": k[1], "key_field3": k[2],
               "fields": [{"id": 117, "name": "Serial Number", "value": serial},
                          {"id": 161, "name": "Hostname", "value": host},
                          {"id": 101, "name": "Name", "value": "Ann's phone"}],
               "customfields": [{"id": 213, "name": "CFAssetSerial", "label": "Asset serial", "value": "CF-1"}]})
    }

    #[test]
    fn finds_the_serial_wherever_the_type_keeps_it() {
        let k = AssetKeys::from_types(&types(), None, None);
        let laptop = asset(1, ["SN1", "pc-1", "M"], "SN1", "pc-1");
        let r = k.read(&laptop, Kind::Serial).unwrap();
        assert_eq!(
            (r.value.as_str(), r.from.as_str()),
            ("SN1", "key_field (Serial Number, field 117)")
        );
        let printer = asset(4, ["prn-1", "SN2", "M"], "SN2", "prn-1");
        assert_eq!(
            k.read(&printer, Kind::Serial).unwrap().from,
            "key_field2 (Serial Number, field 117)"
        );
        assert_eq!(k.read(&printer, Kind::Hostname).unwrap().value, "prn-1");
        let phone = asset(7, ["Ann's phone", "Ann", "M"], "IMEI9", "");
        let r = k.read(&phone, Kind::Serial).unwrap();
        assert_eq!(
            (r.value.as_str(), r.from.as_str()),
            ("IMEI9", "fields: Serial Number, field 117")
        );
        // An unknown type still has named fields.
        let odd = asset(99, ["x", "y", "z"], "SN3", "h3");
        assert_eq!(
            k.read(&odd, Kind::Hostname).unwrap().from,
            "fields: Hostname, field 161"
        );
        // Without fields and with an unknown type: nothing, not a guess.
        assert!(
            k.read(
                &json!({"assettype_id": 99, "key_field": "SN"}),
                Kind::Serial
            )
            .is_none()
        );
    }

    #[test]
    fn settings_name_the_field_by_name_or_id() {
        let by_name = AssetKeys::from_types(
            &types(),
            FieldRef::parse("Asset serial"),
            FieldRef::parse("name"),
        );
        let phone = asset(7, ["Ann's phone", "Ann", "M"], "IMEI9", "");
        let r = by_name.read(&phone, Kind::Serial).unwrap();
        assert_eq!(r.value, "CF-1");
        assert_eq!(
            r.from,
            "customfields: CFAssetSerial, field 213; HALO_ASSET_SERIAL_FIELD"
        );
        let r = by_name.read(&phone, Kind::Hostname).unwrap();
        assert_eq!(
            r.from,
            "key_field (Name, field 101; HALO_ASSET_HOSTNAME_FIELD)"
        );
        let by_id = AssetKeys::from_types(&types(), FieldRef::parse("117"), None);
        assert_eq!(by_id.read(&phone, Kind::Serial).unwrap().value, "IMEI9");
        // An asset without the named field falls back to the field names.
        let other = AssetKeys::from_types(&types(), FieldRef::parse("CFNowhere"), None);
        assert_eq!(
            other.read(&phone, Kind::Serial).unwrap().from,
            "fields: Serial Number, field 117"
        );
        assert_eq!(FieldRef::parse(" "), None);
    }

    #[test]
    fn field_names_that_say_serial_or_hostname() {
        for n in [
            "Serial Number",
            "serial_no",
            "CFSerialNumber",
            "Service Tag",
            "IMEI",
        ] {
            assert!(Kind::Serial.named_by(n), "{n}");
        }
        for n in ["Hostname", "Computer Name", "Device name", "DNS Name"] {
            assert!(Kind::Hostname.named_by(n), "{n}");
        }
        for n in ["Name", "User", "Model", "Asset Tag"] {
            assert!(
                !Kind::Serial.named_by(n) && !Kind::Hostname.named_by(n),
                "{n}"
            );
        }
    }
}
