//! Asset matching under each key-field layout the simulator serves (`AssetLayout`): every
//! expected answer is computed here from the simulator's stored records (each asset's `fields`,
//! by field name), not through the tools' code, and the tools must give it whichever fields the
//! asset types use as key fields.

use std::collections::{BTreeMap, BTreeSet};

use halo_mcp::sim::{AssetLayout, SimConfig};
use serde_json::{Value, json};

use crate::common::Harness;

async fn harness(layout: AssetLayout) -> Harness {
    Harness::start_with(SimConfig {
        asset_layout: layout,
        ..SimConfig::default()
    })
    .await
}

/// Duplicate groups as `(matched_on, sorted member ids)`.
type Groups = BTreeSet<(String, Vec<i64>)>;

/// A field's value from a stored asset's `fields`, by field name.
fn field(a: &Value, name: &str) -> String {
    a["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// A serial compared by its letters and digits, ignoring case.
fn serial_key(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_uppercase()
}

/// `(matched_on, member ids)` of every duplicate group in the stored records: the same serial,
/// or the same hostname with more than one serial.
fn expected_groups(records: &[Value]) -> Groups {
    let mut by_serial: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut by_host: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut serial_of: BTreeMap<i64, String> = BTreeMap::new();
    for a in records {
        let id = a["id"].as_i64().unwrap();
        let serial = serial_key(&field(a, "Serial Number"));
        let host = field(a, "Hostname").trim().to_lowercase();
        if !serial.is_empty() {
            by_serial.entry(serial.clone()).or_default().push(id);
        }
        if !host.is_empty() {
            by_host.entry(host).or_default().push(id);
        }
        serial_of.insert(id, serial);
    }
    let mut out = BTreeSet::new();
    for ids in by_serial.into_values().filter(|m| m.len() > 1) {
        out.insert(("serial".to_owned(), ids));
    }
    for ids in by_host.into_values().filter(|m| m.len() > 1) {
        let serials: BTreeSet<&String> = ids.iter().filter_map(|i| serial_of.get(i)).collect();
        if serials.len() > 1 {
            out.insert(("hostname".to_owned(), ids));
        }
    }
    out
}

/// What reading `key_field` as the serial and `key_field2` as the hostname would find.
fn naive_groups(records: &[Value]) -> Groups {
    let shifted: Vec<Value> = records
        .iter()
        .map(|a| {
            json!({"id": a["id"], "fields": [
                {"name": "Serial Number", "value": a["key_field"]},
                {"name": "Hostname", "value": a["key_field2"]},
            ]})
        })
        .collect();
    expected_groups(&shifted)
}

fn groups_of(answer: &Value) -> Groups {
    answer["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["matched_on"].as_str().unwrap().to_owned(),
                crate::composites::member_ids(g),
            )
        })
        .collect()
}

/// Where the stored asset type of `a` keeps `name` ("Serial Number" or "Hostname"): the key
/// column it is in, else `fields`.
fn place(h: &Harness, a: &Value, name: &str) -> String {
    let t = h
        .sim
        .record("AssetType", a["assettype_id"].as_i64().unwrap())
        .unwrap();
    for (i, col) in ["key_field", "key_field2", "key_field3"].iter().enumerate() {
        let k = ["keyfield_name", "keyfield2_name", "keyfield3_name"][i];
        if t[k] == name {
            return format!("{col} ({name}");
        }
    }
    format!("fields: {name}")
}

#[tokio::test]
async fn duplicate_scans_find_the_same_groups_under_every_layout() {
    let mut found: Vec<(AssetLayout, Groups)> = Vec::new();
    for layout in AssetLayout::ALL {
        let h = harness(layout).await;
        h.navigate("duplicates").await;
        let records = h.sim.records("Asset");
        let want = expected_groups(&records);
        let r = h.ok("halo_assets_scan_duplicates", json!({})).await;
        let got = groups_of(&r);
        assert_eq!(got, want, "{}: {r}", layout.name());
        // Every member says which of its fields matched, and it is where its type keeps it.
        for g in r["groups"].as_array().unwrap() {
            let name = if g["matched_on"] == "serial" {
                "Serial Number"
            } else {
                "Hostname"
            };
            for m in g["members"].as_array().unwrap() {
                let stored = h.sim.record("Asset", m["id"].as_i64().unwrap()).unwrap();
                let from = m["matched_field"].as_str().unwrap();
                assert!(
                    from.starts_with(&place(&h, &stored, name)),
                    "{}: {from} for {m}",
                    layout.name()
                );
            }
        }
        // Where key field 1 is not the serial, reading it as one gets the answer wrong.
        if layout != AssetLayout::SerialHostname {
            assert_ne!(naive_groups(&records), want, "{}", layout.name());
        }
        found.push((layout, got));
    }
    // The data is the same under every layout; only where the values live changes.
    let first = &found[0].1;
    assert!(found.iter().all(|(_, g)| g == first));
    assert_eq!(first.len(), 10, "{first:?}");
}

#[tokio::test]
async fn lookups_find_values_outside_the_key_fields() {
    for layout in AssetLayout::ALL {
        let h = harness(layout).await;
        let records = h.sim.records("Asset");
        // The phone entered twice: the second IMEI spaced out (seed docs).
        let phones: Vec<&Value> = records.iter().filter(|a| a["assettype_id"] == 7).collect();
        let imei = field(phones[0], "Serial Number");
        let twins: Vec<i64> = records
            .iter()
            .filter(|a| serial_key(&field(a, "Serial Number")) == serial_key(&imei))
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        assert_eq!(twins.len(), 2, "{}", layout.name());

        h.navigate("assets").await;
        let ids = |r: &Value| crate::common::sorted_ids(&r["by_serial"]);
        // With the client: every one of its assets compared.
        let client = phones[0]["client_id"].clone();
        let r = h
            .ok(
                "halo_assets_search",
                json!({"serial": imei, "client_id": client}),
            )
            .await;
        assert_eq!(ids(&r), twins, "{}: {r}", layout.name());
        let from = r["by_serial"][0]["matched_field"].as_str().unwrap();
        let kept = place(&h, phones[0], "Serial Number");
        assert!(from.starts_with(&kept), "{from}");
        // Without one: Halo's search (a substring match, which misses the spaced-out copy),
        // plus every asset of the types that keep the serial outside their key fields.
        let r = h.ok("halo_assets_search", json!({"serial": imei})).await;
        if kept.starts_with("fields") {
            assert_eq!(ids(&r), twins, "{}: {r}", layout.name());
        } else {
            assert_eq!(ids(&r), twins[..1], "{}: {r}", layout.name());
        }
        assert!(r["note"].as_str().unwrap().contains("client_id"), "{r}");

        // A hostname, with a client: the server rebuilt under its old name (client 12).
        let server = records
            .iter()
            .find(|a| a["assettype_id"] == 3 && a["client_id"] == 12)
            .unwrap();
        let host = field(server, "Hostname");
        let same_host: BTreeSet<i64> = records
            .iter()
            .filter(|a| field(a, "Hostname").eq_ignore_ascii_case(&host))
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        let r = h
            .ok(
                "halo_assets_search",
                json!({"hostname": host.to_lowercase(), "client_id": 12}),
            )
            .await;
        let got: BTreeSet<i64> = r["by_hostname"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        assert_eq!(got, same_host, "{}: {r}", layout.name());
        assert_eq!(got.len(), 2);

        // The matcher: the printer's serial as the re-entered copy spells it.
        h.navigate("duplicates").await;
        let printer = records
            .iter()
            .find(|a| a["assettype_id"] == 4 && a["client_id"] == 11)
            .unwrap();
        let serial = field(printer, "Serial Number").to_lowercase();
        let r = h
            .ok("halo_assets_find_match", json!({"serial": serial}))
            .await;
        assert_eq!(r["score"], 100, "{}: {r}", layout.name());
        let matched: BTreeSet<i64> = r["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["score"] == 100)
            .map(|c| c["record"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(matched.len(), 2, "{r}");
        assert!(matched.contains(&printer["id"].as_i64().unwrap()));
        let from = r["best"]["matched_field"].as_str().unwrap();
        assert!(
            from.starts_with(&place(&h, printer, "Serial Number")),
            "{from}"
        );
    }
}

/// A tenant whose hostnames are in a field whose name does not say so: the setting names it.
#[tokio::test]
async fn a_setting_names_the_hostname_field() {
    let h = Harness::start_tuned(
        SimConfig {
            asset_layout: AssetLayout::NameUserModel,
            ..SimConfig::default()
        },
        |cfg| cfg.asset_fields.hostname = Some("Name".into()),
    )
    .await;
    h.navigate("assets").await;
    let laptop = h.sim.record("Asset", 1002).unwrap();
    // Under this layout a device's Name is its hostname (seed), and Name is key field 1.
    let name = field(&laptop, "Name");
    let r = h
        .ok(
            "halo_assets_search",
            json!({"hostname": name, "client_id": 11}),
        )
        .await;
    let hit = &r["by_hostname"][0];
    assert_eq!(
        hit["matched_field"], "key_field (Name, field 101; HALO_ASSET_HOSTNAME_FIELD)",
        "{r}"
    );
    let want: BTreeSet<i64> = h
        .sim
        .records("Asset")
        .iter()
        .filter(|a| a["client_id"] == 11 && field(a, "Name").eq_ignore_ascii_case(&name))
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let got: BTreeSet<i64> = r["by_hostname"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, want);
}
