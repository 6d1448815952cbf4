#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Domain files are parsed on first use, once per process. This file is its own test binary, so
//! nothing else in the process has touched the catalogue before it runs.

use halo_mcp::{catalog, tools};

#[test]
fn domains_are_parsed_lazily_and_once() {
    let cat = catalog::catalog();
    // The index (names, areas, summaries) exists without parsing any domain.
    assert!(cat.entries().len() >= 30);
    assert!(cat.entries().iter().all(|e| !e.header.summary.is_empty()));
    for e in cat.entries() {
        assert_eq!(e.parse_count(), 0, "{} parsed before use", e.name);
    }

    // Eight threads race to use the same domain; it is parsed once.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                assert!(!tools::toolset("tickets").unwrap().is_empty());
                assert!(cat.domain("tickets").is_ok());
            });
        }
    });
    let tickets = cat.entry("tickets").unwrap();
    assert_eq!(tickets.parse_count(), 1);
    assert!(tickets.is_loaded());
    for e in cat.entries().iter().filter(|e| e.name != "tickets") {
        assert_eq!(e.parse_count(), 0, "{} parsed without being used", e.name);
    }

    // Using it again does not parse again; using every domain parses each exactly once.
    let _ = tools::toolset("tickets");
    let _ = tools::all();
    let _ = tools::all();
    for e in cat.entries() {
        assert_eq!(
            e.parse_count(),
            1,
            "{} parsed {} times",
            e.name,
            e.parse_count()
        );
    }
}
