//! Duplicate scan figures: time to scan 10,000 / 50,000 / 100,000 assets and users, with the
//! pairs compared (blocking) against the pairs an all-against-all scan would need.
//!
//! ```text
//! cargo run --release --example dedup_bench
//! ```
//! Records are synthetic, shaped like Halo's (one asset type keyed Serial Number / Hostname, so
//! `key_field` is the serial and `key_field2` the hostname; `emailaddress`, `login`, `name`),
//! with about 2 % duplicates of each kind.

use std::time::Instant;

use halo_mcp::tools::composite::{
    asset_keys::AssetKeys,
    dedup::{scan_assets, scan_users},
};
use serde_json::{Value, json};

/// A small deterministic generator (no dependency needed for test data).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn assets(n: usize, rng: &mut Rng) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let dup = rng.next() % 100;
            let serial = if dup < 2 && i > 0 {
                // Same serial as an earlier device, written differently.
                format!("sn-{:08x}", (rng.next() % i as u64) as u32).to_lowercase()
            } else {
                format!("SN{:08X}", i as u32)
            };
            let host = if (2..4).contains(&dup) && i > 0 {
                format!("ws-{:06}", rng.next() % i as u64)
            } else {
                format!("ws-{i:06}")
            };
            json!({"id": i + 1, "assettype_id": 1, "key_field": serial, "key_field2": host,
                   "inactive": dup == 9, "status_name": if dup == 9 { "Retired" } else { "Active" }})
        })
        .collect()
}

fn users(n: usize, rng: &mut Rng) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let dup = rng.next() % 100;
            let j = if i > 0 {
                (rng.next() % i as u64) as usize
            } else {
                0
            };
            let (email, login, name) = match dup {
                0 | 1 if i > 0 => (
                    format!("USER{j}@EXAMPLE.COM"),
                    String::new(),
                    format!("User {j}"),
                ),
                2 if i > 0 => (
                    format!("user{i}@other.com"),
                    format!("u{j}@corp.example"),
                    format!("Someone {i}"),
                ),
                3 if i > 0 => (
                    format!("user{i}@other.com"),
                    String::new(),
                    format!("User {j}"),
                ),
                _ => (
                    format!("user{i}@example.com"),
                    format!("u{i}@corp.example"),
                    format!("User {i}"),
                ),
            };
            json!({"id": i + 1, "emailaddress": email, "login": login, "name": name,
                   "inactive": dup == 9})
        })
        .collect()
}

fn main() {
    let mut rng = Rng(2026);
    for n in [10_000, 50_000, 100_000] {
        let a = assets(n, &mut rng);
        let started = Instant::now();
        // One asset type, keyed Serial Number / Hostname as the records are.
        let keys = AssetKeys::from_types(
            &[json!({"id": 1, "keyfield_name": "Serial Number", "keyfield2_name": "Hostname"})],
            None,
            None,
        );
        let (groups, stats) = scan_assets(&a, &keys);
        let asset_ms = started.elapsed().as_secs_f64() * 1000.0;
        let u = users(n, &mut rng);
        let started = Instant::now();
        let (user_groups, user_stats) = scan_users(&u);
        let user_ms = started.elapsed().as_secs_f64() * 1000.0;
        println!(
            "{n:>7} assets: {asset_ms:7.1} ms, {} duplicate groups, {} pairs compared (all pairs \
             would be {}); {n:>7} users: {user_ms:7.1} ms, {} groups, {} pairs compared",
            groups.len(),
            stats.comparisons,
            stats.naive_comparisons(),
            user_groups.len(),
            user_stats.comparisons,
        );
    }
}
