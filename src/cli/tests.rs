//! The command line is the one definition of the settings: these hold `--help`, `.env.example`
//! and the README's tables to it, and pin the truthiness rule.

use std::collections::BTreeSet;

use clap::{CommandFactory, Parser};

use super::*;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The aliases `config` reads after clap has read the primary names; each list's first name
/// must be a variable of the command line.
const ALIAS_LISTS: &[&[&str]] = &[
    config::BASE_URL_VARS,
    config::CLIENT_ID_VARS,
    config::CLIENT_SECRET_VARS,
    config::TENANT_VARS,
    config::SCOPE_VARS,
    config::AUTH_URL_VARS,
    config::TIMEOUT_VARS,
    config::RATE_LIMIT_VARS,
    config::RATE_WAIT_VARS,
    config::RETRIES_VARS,
    config::BREAKER_THRESHOLD_VARS,
    config::BREAKER_COOLDOWN_VARS,
    config::CACHE_TTL_VARS,
    config::CACHE_MAX_ENTRIES_VARS,
    config::CACHE_MAX_BYTES_VARS,
    config::ASSET_SERIAL_FIELD_VARS,
    config::ASSET_HOSTNAME_FIELD_VARS,
    config::STATE_VARS,
    config::REPLICAS_VARS,
];

fn aliases() -> BTreeSet<String> {
    ALIAS_LISTS
        .iter()
        .flat_map(|list| list.iter().skip(1))
        .map(|s| (*s).to_owned())
        .collect()
}

/// Names in the first column of the "Environment" part of `--help`.
fn help_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in ENV_HELP
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
    {
        for word in line
            .trim_start()
            .split("  ")
            .next()
            .unwrap_or("")
            .split(" / ")
        {
            names.insert(word.trim().to_owned());
        }
    }
    names
}

/// Every `VARIABLE` in the first cell of the README's settings tables (rows such as
/// "| `HALO_BASE_URL` (`HALOPSA_BASE_URL`) | `--base-url` | ..." or "| `HALO_PREWARM=true` |").
fn readme_names() -> BTreeSet<String> {
    let readme = read("README.md");
    let mut names = BTreeSet::new();
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for quoted in first.split('`').skip(1).step_by(2) {
            let name = quoted.split('=').next().unwrap_or("");
            let looks_like_var = name.contains('_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if looks_like_var {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// In each README settings row, the flag column names the flag of each variable in the row.
#[test]
fn readme_tables_name_the_flag_of_each_variable() {
    let command = Cli::command();
    let readme = read("README.md");
    let mut checked = 0;
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let mut cells = line.split('|').skip(1);
        let (first, flags) = (cells.next().unwrap_or(""), cells.next().unwrap_or(""));
        for quoted in first.split('`').skip(1).step_by(2) {
            let var = quoted.split('=').next().unwrap_or("");
            let Some(long) = command
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == var))
                .and_then(|a| a.get_long())
            else {
                continue;
            };
            assert!(
                flags.contains(&format!("`--{long}`")),
                "README row for {var} should name --{long}: {line}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} rows checked");
}

#[test]
fn the_definition_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn every_alias_list_starts_with_a_variable_of_the_command_line() {
    let vars = env_vars();
    for list in ALIAS_LISTS {
        assert!(
            vars.contains(list[0]),
            "{} is not on the command line",
            list[0]
        );
    }
}

#[test]
fn help_lists_exactly_the_variables_of_the_definition() {
    assert_eq!(help_names(), env_vars());
    // The aliases are named in brackets after their variable.
    for alias in aliases() {
        assert!(ENV_HELP.contains(&alias), "--help does not name {alias}");
    }
}

#[test]
fn env_example_lists_exactly_the_variables_of_the_definition() {
    let example: BTreeSet<String> = read(".env.example")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect();
    assert_eq!(example, env_vars());
}

#[test]
fn readme_tables_list_exactly_the_variables_and_aliases() {
    let mut expected = env_vars();
    expected.extend(aliases());
    // tracing's own filter, read by the logging set-up rather than declared as a flag.
    expected.insert("RUST_LOG".into());
    assert_eq!(readme_names(), expected);
}

#[test]
fn one_truthiness_rule() {
    for yes in ["true", "TRUE", "1", "yes", "Yes", "on", " ON "] {
        assert_eq!(config::truthy(yes), Ok(true), "{yes}");
    }
    for no in ["false", "False", "0", "no", "NO", "off", "Off", ""] {
        assert_eq!(config::truthy(no), Ok(false), "{no}");
    }
    for bad in ["maybe", "ture", "2", "y", "enabled"] {
        assert!(config::truthy(bad).is_err(), "{bad}");
    }
}

#[test]
fn switches_use_the_rule_from_flags_and_variables_alike() {
    let cli = Cli::try_parse_from(["halo-mcp", "--prewarm", "--read-only"]).unwrap();
    assert!(cli.serve.prewarm && cli.serve.read_only);
    let cli = Cli::try_parse_from(["halo-mcp"]).unwrap();
    assert!(!cli.serve.http.trust_proxy && !cli.serve.audit_values);
}

#[test]
fn flag_names_map_to_their_variables() {
    let command = Cli::command();
    assert_eq!(
        env_of_flag(&command, "prewarm").as_deref(),
        Some("HALO_PREWARM")
    );
    assert_eq!(
        env_of_flag(&command, "trust-proxy").as_deref(),
        Some("MCP_TRUST_PROXY")
    );
    assert_eq!(env_of_flag(&command, "demo"), None);
}
