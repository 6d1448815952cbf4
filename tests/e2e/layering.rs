//! The architecture stays acyclic (README, "Architecture"): each rule below names a module and
//! what it must never import. The sources are read as text, with comments and string literals
//! removed, so a doc comment that explains a rule does not break it.

use std::path::{Path, PathBuf};

/// (module directory under src/, forbidden paths, why)
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "sim",
        &[
            "crate::halo",
            "crate::tools",
            "crate::server",
            "crate::catalog",
            "crate::remote",
        ],
        "the simulator must not share code with the client it tests, or one misunderstanding \
         of Halo could hide in both",
    ),
    (
        "halo",
        &["rmcp", "crate::server", "crate::tools", "crate::remote"],
        "the Halo client knows HTTP and Halo, not MCP or the tools built on it",
    ),
    (
        "catalog",
        &["crate::halo", "crate::server", "crate::tools"],
        "the catalogue is data read from domains/*.toml; tools and server depend on it, not \
         the other way round",
    ),
];

#[test]
fn modules_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (module, forbidden, why) in RULES {
        let files = rust_files(&src.join(module));
        assert!(!files.is_empty(), "no sources under src/{module}");
        for file in files {
            let code = strip_comments_and_strings(&std::fs::read_to_string(&file).unwrap());
            for path in imported_paths(&code) {
                if let Some(bad) = forbidden.iter().find(|f| starts_with_path(&path, f)) {
                    broken.push(format!("{} uses {bad} ({why})", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The checker itself: grouped imports are seen, comments and strings are not.
#[test]
fn the_checker_sees_grouped_imports_and_ignores_comments() {
    let code = strip_comments_and_strings(
        "// crate::halo in a comment\n/* rmcp:: */ let s = \"crate::tools\"; let c = '\"';\n\
         use crate::{state as st, halo::{HaloClient, *},\n audit};\nfn f() { crate::server::x(); }",
    );
    let paths = imported_paths(&code);
    assert!(
        paths.contains(&"crate::halo::HaloClient".to_owned()),
        "{paths:?}"
    );
    assert!(paths.contains(&"crate::server::x".to_owned()), "{paths:?}");
    assert!(paths.contains(&"crate::halo::*".to_owned()), "{paths:?}");
    assert!(paths.contains(&"crate::audit".to_owned()), "{paths:?}");
    assert!(paths.contains(&"crate::state".to_owned()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains("tools")), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("rmcp")), "{paths:?}");
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// `path` is `prefix` or lies under it (`crate::halo::x` under `crate::halo`, but not
/// `crate::halo_extra`).
fn starts_with_path(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The source with comments, string literals and char literals blanked out, so only code is
/// left. Lifetimes (`'a`) stay; a char literal is `'x'` or `'\…'`.
fn strip_comments_and_strings(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Every path in the code that starts at a root this test cares about (`crate`, `rmcp`), with
/// `use` groups expanded: `use crate::{a, b::{C}}` gives `crate::a` and `crate::b::C`.
fn imported_paths(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        if !ident_before(&chars, i) && (rest.starts_with("crate::") || rest.starts_with("rmcp::")) {
            let (paths, used) = expand(&chars[i..]);
            out.extend(paths);
            i += used.max(1);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads one path (with `{…}` groups and `as` renames) from the start of `chars`: the full
/// paths it names and how many chars it took.
fn expand(chars: &[char]) -> (Vec<String>, usize) {
    let mut prefix = String::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_alphanumeric() || matches!(c, '_' | ':' | '*') {
            prefix.push(c);
            i += 1;
        } else if c.is_whitespace() && (prefix.is_empty() || prefix.ends_with("::")) {
            i += 1;
        } else if c == '{' {
            let mut out = Vec::new();
            i += 1;
            loop {
                let (inner, used) = expand(&chars[i..]);
                out.extend(inner.into_iter().map(|p| format!("{prefix}{p}")));
                i += used;
                while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                    i += 1;
                }
                match chars.get(i) {
                    Some(',') => i += 1,
                    Some('}') => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
            }
            return (out, i);
        } else {
            break;
        }
    }
    // `… as name`: the alias is not part of the path.
    let mut j = i;
    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    if chars.get(j) == Some(&'a')
        && chars.get(j + 1) == Some(&'s')
        && chars.get(j + 2).is_some_and(|c| c.is_whitespace())
    {
        j += 2;
        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        while chars
            .get(j)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        {
            j += 1;
        }
        i = j;
    }
    (vec![prefix], i)
}
