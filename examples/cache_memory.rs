//! Memory of a long-running server's reference cache: 100,000 distinct reads (as an assistant's
//! searches produce) against the default bounds. Entries, bytes and the process's resident
//! memory must level off once the cache is full.
//!
//! ```text
//! cargo run --release --example cache_memory
//! ```

mod support;

use halo_mcp::halo::CacheLimits;
use support::{cache_plateau, group, own_rss_kb};

fn main() {
    let start = own_rss_kb();
    let limits = CacheLimits::default();
    println!(
        "bounds: {} entries, {} MB; resident memory at start {} KiB",
        group(limits.max_entries),
        limits.max_bytes >> 20,
        group(start as usize)
    );
    println!("     reads    entries   bytes (approx.)   evictions   RSS KiB");
    for s in cache_plateau(100_000, 10_000, limits) {
        println!(
            "{:>10} {:>10} {:>17} {:>11} {:>9}",
            group(s.reads),
            group(s.entries),
            group(s.bytes as usize),
            group(s.evictions as usize),
            group(s.rss_kb as usize)
        );
    }
}
