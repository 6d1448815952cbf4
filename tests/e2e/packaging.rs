//! The files around the binary stay true to it: `.env.example` names every variable the binary
//! documents, `server.json` has the crate's version and the image's registry name, the compose
//! file and the registry entry use only variables the binary knows.

use std::{collections::BTreeSet, process::Command};

use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The variables `halo-mcp --help` documents (its "Environment" section).
fn documented() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_halo-mcp"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let section = help.split("Environment").nth(1).unwrap();
    let mut names = BTreeSet::new();
    for line in section.lines().take_while(|l| !l.starts_with("In Halo")) {
        let line = line.trim_start();
        // "MCP_BIND / MCP_PORT  HTTP address ..." and "HALO_BASE_URL  Halo web address [ALIAS]"
        for word in line.split("  ").next().unwrap_or("").split(" / ") {
            let word = word.trim();
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                names.insert(word.to_owned());
            }
        }
    }
    names
}

#[test]
fn env_example_names_every_documented_variable() {
    let documented = documented();
    assert!(documented.len() >= 30, "{documented:?}");
    let example = read(".env.example");
    let set: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&set).collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    let unknown: Vec<_> = set.difference(&documented).collect();
    assert!(unknown.is_empty(), ".env.example has unknown {unknown:?}");
}

#[test]
fn registry_entry_matches_the_crate_and_the_image() {
    let server: Value = serde_json::from_str(&read("server.json")).unwrap();
    assert_eq!(server["version"], env!("CARGO_PKG_VERSION"));
    let name = server["name"].as_str().unwrap();
    assert!(
        read("Dockerfile").contains(&format!("io.modelcontextprotocol.server.name=\"{name}\"")),
        "the image label must name {name}"
    );
    assert!(server["description"].as_str().unwrap().len() <= 100);
    let documented = documented();
    for package in server["packages"].as_array().unwrap() {
        let identifier = package["identifier"].as_str().unwrap();
        assert!(
            identifier.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
            "{identifier}"
        );
        for var in package["environmentVariables"].as_array().unwrap() {
            let v = var["name"].as_str().unwrap();
            assert!(documented.contains(v), "server.json names unknown {v}");
        }
    }
}

#[test]
fn compose_uses_known_variables() {
    for file in ["docker-compose.yml", "docker-compose.replicas.yml"] {
        compose_file_uses_known_variables(file);
    }
}

fn compose_file_uses_known_variables(file: &str) {
    let documented = documented();
    let compose = read(file);
    let mut seen = 0;
    for line in compose.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        // `      HALO_TENANT: ${HALO_TENANT:-}` under `environment:`
        if let Some((key, value)) = line.split_once(": ")
            && value.starts_with("${")
        {
            assert!(documented.contains(key), "{file} sets unknown {key}");
            seen += 1;
        }
    }
    assert!(seen >= 8, "{file}: {seen}");
}
