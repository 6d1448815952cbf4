//! Asset types choose their own key fields, as Halo's do.
//!
//! In Halo an asset type (`/AssetType`, internal table `Xtype`) names three of its fields as
//! key fields: `keyfield_id`, `keyfield2_id`, `keyfield3_id` with `keyfield*_name` (SW24
//! `Xtype`). An asset's `key_field`, `key_field2` and `key_field3` are the values of those
//! fields, whatever they are; every field's value is in the asset's `fields` array
//! (`{id, name, value, display}`, halo-api.md §5). Nothing makes key field 1 the serial: PD's
//! `docs/CreateAsset.json` shows a type keyed Name (101) / User (148) / Model (51), with the
//! Serial Number (117) an ordinary field. A client that reads `key_field` as the serial works
//! only on tenants laid out like its author's, so the simulator serves several layouts:
//! [`AssetLayout::Mixed`] (the default) gives different types different layouts, and the
//! others give every type one layout, for tests that run a check under each.

use serde_json::{Value, json};

/// A field of the simulated tenant's assets: `(field id, name)`. 101, 148, 51 and 117 are the
/// ids PD's example uses; the hostname field's id is the simulator's own.
pub(crate) type Field = (i64, &'static str);
pub(crate) const SERIAL: Field = (117, "Serial Number");
pub(crate) const NAME: Field = (101, "Name");
pub(crate) const USER: Field = (148, "User");
pub(crate) const MODEL: Field = (51, "Model");
pub(crate) const HOSTNAME: Field = (161, "Hostname");

/// Which fields the asset types use as key fields 1, 2 and 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssetLayout {
    /// Per type: laptops and desktops Serial Number / Hostname / Model; servers and printers
    /// Hostname / Serial Number / Model; firewalls, switches and phones Name / User / Model.
    #[default]
    Mixed,
    /// Every type: Serial Number / Hostname / Model.
    SerialHostname,
    /// Every type: Hostname / Serial Number / Model.
    HostnameSerial,
    /// Every type: Name / User / Model (serial and hostname only in `fields`).
    NameUserModel,
}

impl AssetLayout {
    /// Every layout, for tests that run under each.
    pub const ALL: [AssetLayout; 4] = [
        AssetLayout::Mixed,
        AssetLayout::SerialHostname,
        AssetLayout::HostnameSerial,
        AssetLayout::NameUserModel,
    ];

    /// The key fields (1, 2, 3) of asset type `type_id` under this layout.
    pub(crate) fn key_fields(self, type_id: i64) -> [Field; 3] {
        const SH: [Field; 3] = [SERIAL, HOSTNAME, MODEL];
        const HS: [Field; 3] = [HOSTNAME, SERIAL, MODEL];
        const NU: [Field; 3] = [NAME, USER, MODEL];
        match self {
            AssetLayout::SerialHostname => SH,
            AssetLayout::HostnameSerial => HS,
            AssetLayout::NameUserModel => NU,
            AssetLayout::Mixed => match type_id {
                1 | 2 => SH,
                3 | 4 => HS,
                _ => NU,
            },
        }
    }

    /// `mixed`, `serial-hostname`, `hostname-serial` or `name-user-model`.
    pub fn parse(s: &str) -> Option<AssetLayout> {
        AssetLayout::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s.trim()))
    }

    pub fn name(self) -> &'static str {
        match self {
            AssetLayout::Mixed => "mixed",
            AssetLayout::SerialHostname => "serial-hostname",
            AssetLayout::HostnameSerial => "hostname-serial",
            AssetLayout::NameUserModel => "name-user-model",
        }
    }
}

/// An asset's field values, by field.
pub(crate) struct Values<'a> {
    pub serial: &'a str,
    pub host: &'a str,
    pub model: &'a str,
    pub user: &'a str,
    pub name: &'a str,
}

/// The asset's `fields` array and its `key_field`, `key_field2`, `key_field3` under `keys`.
pub(crate) fn fields_and_keys(v: &Values<'_>, keys: [Field; 3]) -> (Value, [String; 3]) {
    let all: [(Field, &str); 5] = [
        (SERIAL, v.serial),
        (NAME, v.name),
        (USER, v.user),
        (MODEL, v.model),
        (HOSTNAME, v.host),
    ];
    let fields: Vec<Value> = all
        .iter()
        .map(
            |((id, name), value)| json!({"id": id, "name": name, "value": value, "display": value}),
        )
        .collect();
    let value_of = |f: Field| {
        all.iter()
            .find(|(g, _)| g.0 == f.0)
            .map(|(_, v)| (*v).to_string())
            .unwrap_or_default()
    };
    let [a, b, c] = keys;
    (
        Value::Array(fields),
        [value_of(a), value_of(b), value_of(c)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_place_the_serial_differently() {
        let v = Values {
            serial: "SN1",
            host: "pc-1",
            model: "M",
            user: "Ann",
            name: "Ann's laptop",
        };
        let keys = |l: AssetLayout, t| fields_and_keys(&v, l.key_fields(t)).1;
        assert_eq!(keys(AssetLayout::Mixed, 1), ["SN1", "pc-1", "M"]);
        assert_eq!(keys(AssetLayout::Mixed, 4), ["pc-1", "SN1", "M"]);
        assert_eq!(keys(AssetLayout::Mixed, 7), ["Ann's laptop", "Ann", "M"]);
        assert_eq!(keys(AssetLayout::NameUserModel, 1)[0], "Ann's laptop");
        let (fields, _) = fields_and_keys(&v, SERIAL_FIRST);
        assert_eq!(fields.as_array().map(Vec::len), Some(5));
        for l in AssetLayout::ALL {
            assert_eq!(AssetLayout::parse(l.name()), Some(l));
        }
    }

    const SERIAL_FIRST: [Field; 3] = [SERIAL, HOSTNAME, MODEL];
}
