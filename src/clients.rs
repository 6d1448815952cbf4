//! Which MCP clients can climb the tree, decided from `clientInfo` at `initialize`.
//!
//! The tree works only where the client re-reads its tool list on
//! `notifications/tools/list_changed`. This table is the one place that knows which do; `auto`
//! mode reads it, `halo-mcp clients` prints it, `halo_status` shows it, and the README repeats it
//! with the evidence. Matching follows the rules learned the hard way by other servers: exact
//! names (then case-folded), an explicit prefix list only for known families, the
//! `" (via mcp-remote X)"` suffix stripped, versions used only where a threshold is confirmed.
//! Anything unknown or ambiguous gets `dispatch`, which works everywhere: nobody is left with a
//! tree their client cannot climb.

use std::fmt;

/// What a client does with `tools/list_changed`, as far as the evidence goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChanged {
    /// Re-lists and exposes the new tools (usually from the next user turn).
    Honoured,
    /// Drops the notification, or re-lists and discards the result.
    Ignored,
    /// Depends on a version, or the evidence disagrees.
    Unreliable,
}

/// How a name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Exact(&'static str),
    Prefix(&'static str),
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownClient {
    pub product: &'static str,
    pub names: &'static [Pattern],
    pub list_changed: ListChanged,
    /// For clients that honour list_changed only from some version: the first good one.
    pub tree_from_version: Option<(u32, u32, u32)>,
    /// Versions that are constants rather than real versions (they say nothing).
    pub constant_versions: &'static [&'static str],
    pub evidence: &'static str,
}

use ListChanged::*;
use Pattern::*;

/// The table. Order matters only for readability; names do not overlap.
pub static KNOWN: &[KnownClient] = &[
    KnownClient {
        product: "Claude Desktop (chat, Cowork)",
        names: &[Exact("claude-ai"), Prefix("local-agent-mode-")],
        list_changed: Ignored,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "re-lists but only tools from the first tools/list are callable \
                   (anthropics/claude-ai-mcp#960)",
    },
    KnownClient {
        product: "claude.ai connectors",
        names: &[Exact("Anthropic/ClaudeAI")],
        list_changed: Ignored,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "keeps a stale cached tool list per connector (anthropics/claude-ai-mcp#45)",
    },
    KnownClient {
        product: "Claude Code (CLI, desktop app, SDK)",
        names: &[Exact("claude-code")],
        list_changed: Unreliable,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "the CLI re-lists from 2.1.0, but desktop-app sessions send the same name and \
                   never rebuild their tool pool (anthropics/claude-code#88483)",
    },
    KnownClient {
        product: "VS Code / GitHub Copilot Chat",
        names: &[
            Prefix("Visual Studio Code"),
            Exact("Code - OSS"),
            Exact("VSCodium"),
        ],
        list_changed: Honoured,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "handles tools/list_changed in mcpServerRequestHandler.ts; new tools from the \
                   next turn (microsoft/vscode#303012)",
    },
    KnownClient {
        product: "GitHub Copilot CLI",
        names: &[Exact("github-copilot-developer")],
        list_changed: Honoured,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "re-lists since 0.0.354 (github/copilot-cli#132); next user turn",
    },
    KnownClient {
        product: "Gemini CLI",
        names: &[Exact("gemini-cli-mcp-client")],
        list_changed: Honoured,
        tree_from_version: Some((0, 21, 0)),
        constant_versions: &["0.0.1"],
        evidence: "re-lists and updates its registry since 0.21.0 (gemini-cli #14375)",
    },
    KnownClient {
        product: "Zed",
        names: &[Exact("Zed")],
        list_changed: Honoured,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "re-lists since zed-industries/zed#42453",
    },
    KnownClient {
        product: "Cline",
        names: &[Exact("Cline")],
        list_changed: Honoured,
        tree_from_version: Some((4, 1, 4)),
        constant_versions: &[],
        evidence: "refreshes lists on list_changed from 4.1.4 (cline/cline#12619)",
    },
    KnownClient {
        product: "MCP Inspector",
        names: &[
            Exact("mcp-inspector"),
            Exact("inspector-client"),
            Exact("inspector"),
            Exact("inspector-tui"),
        ],
        list_changed: Honoured,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "a debugging tool: it shows the tree as it is",
    },
    KnownClient {
        product: "MCP Inspector CLI",
        names: &[Exact("inspector-cli")],
        list_changed: Unreliable,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "opens a new connection for every command, so a domain navigated in one \
                   command is gone in the next",
    },
    KnownClient {
        product: "Cursor",
        names: &[Exact("cursor-vscode")],
        list_changed: Unreliable,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "registries say supported; users report it is not acted on mid-session",
    },
    KnownClient {
        product: "Windsurf",
        names: &[Exact("windsurf-client"), Exact("Windsurf")],
        list_changed: Unreliable,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "no primary evidence either way",
    },
    KnownClient {
        product: "Continue",
        names: &[Exact("continue-client"), Exact("continue-cli-client")],
        list_changed: Ignored,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "no notification handler (MCPConnection.ts)",
    },
    KnownClient {
        product: "Roo Code",
        names: &[Exact("Roo Code"), Exact("Roo-Code")],
        list_changed: Ignored,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "no list_changed handler (McpHub.ts)",
    },
    KnownClient {
        product: "n8n MCP Client Tool",
        names: &[Prefix("@n8n/")],
        list_changed: Ignored,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "no handler; lists once per run",
    },
    KnownClient {
        product: "OpenAI Codex (CLI, desktop, IDE)",
        names: &[Exact("codex-mcp-client")],
        list_changed: Ignored,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "logs list_changed but never re-fetches (openai/codex#10105)",
    },
    KnownClient {
        product: "ChatGPT connectors",
        names: &[Exact("openai-mcp"), Exact("ChatGPT")],
        list_changed: Ignored,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "uses a frozen tool snapshot until a manual refresh",
    },
    KnownClient {
        product: "Goose",
        names: &[Exact("goose-cli"), Exact("goose-desktop"), Exact("goose")],
        list_changed: Honoured,
        tree_from_version: None,
        constant_versions: &[],
        evidence: "re-lists from the next reply (aaif-goose/goose#10925, merged 2026-08-04)",
    },
    KnownClient {
        product: "LibreChat",
        names: &[Exact("@librechat/api-client")],
        list_changed: Unreliable,
        tree_from_version: None,
        constant_versions: &["1.2.3"],
        evidence: "re-lists only after Aug 2026, and its version is a constant",
    },
    KnownClient {
        product: "Python SDK default",
        names: &[Exact("mcp")],
        list_changed: Unreliable,
        tree_from_version: None,
        constant_versions: &["0.1.0"],
        evidence: "up to the application",
    },
];

/// The mode `auto` picks, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub tree: bool,
    pub product: Option<&'static str>,
    pub reason: String,
}

/// Strips what proxies add, e.g. `" (via mcp-remote 0.1.38)"`.
fn normalise(name: &str) -> &str {
    let n = name.trim();
    match n.find(" (via mcp-remote") {
        Some(i) => n.get(..i).unwrap_or(n).trim(),
        None => n,
    }
}

fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let core = v.trim().trim_start_matches('v');
    let core = core.split(['-', '+', ' ']).next().unwrap_or(core);
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    ))
}

fn matches(p: &Pattern, name: &str, folded: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if folded {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match p {
        Exact(e) => eq(e, name),
        Prefix(pre) => name.get(..pre.len()).is_some_and(|head| eq(pre, head)),
    }
}

/// Finds a client: exact names first, then case-folded.
pub fn lookup(name: &str) -> Option<&'static KnownClient> {
    let n = normalise(name);
    [false, true].into_iter().find_map(|folded| {
        KNOWN
            .iter()
            .find(|k| k.names.iter().any(|p| matches(p, n, folded)))
    })
}

/// What `auto` mode does for this client.
pub fn verdict(name: &str, version: &str) -> Verdict {
    if name.trim().is_empty() {
        // 2026-07-28 clients (and the Python SDK 2.x `Client`) may send no name at all.
        return Verdict {
            tree: false,
            product: None,
            reason: "the client sent no name: the dispatch tools work in every client".into(),
        };
    }
    let Some(k) = lookup(name) else {
        return Verdict {
            tree: false,
            product: None,
            reason: format!(
                "unknown client {}: the dispatch tools work in every client",
                crate::text::quote(name)
            ),
        };
    };
    let (tree, why) = match (k.list_changed, k.tree_from_version) {
        (Honoured, None) => (true, "honours tools/list_changed".to_owned()),
        (Honoured, Some(min)) => {
            let v = version.trim();
            if k.constant_versions.contains(&v) {
                (
                    false,
                    format!(
                        "version {v:?} is a constant that does not tell whether it honours tools/list_changed"
                    ),
                )
            } else {
                match parse_version(v) {
                    Some(have) if have >= min => (
                        true,
                        format!(
                            "honours tools/list_changed from {}.{}.{}",
                            min.0, min.1, min.2
                        ),
                    ),
                    Some(_) => (
                        false,
                        format!(
                            "honours tools/list_changed only from {}.{}.{}",
                            min.0, min.1, min.2
                        ),
                    ),
                    None => (false, format!("version {v:?} is unreadable")),
                }
            }
        }
        (Ignored, _) => (false, "does not act on tools/list_changed".to_owned()),
        (Unreliable, _) => (false, "is not reliable with tools/list_changed".to_owned()),
    };
    Verdict {
        tree,
        product: Some(k.product),
        reason: format!("{} {why}: {}", k.product, k.evidence),
    }
}

impl fmt::Display for ListChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Honoured => "yes",
            Ignored => "no",
            Unreliable => "unreliable",
        })
    }
}

/// The mode a row gets (for the table: versioned rows give the mode of current versions).
pub fn mode_of(k: &KnownClient) -> &'static str {
    match k.list_changed {
        Honoured if k.tree_from_version.is_some() => "tree (from the version noted), else dispatch",
        Honoured => "tree",
        _ => "dispatch",
    }
}

fn names(k: &KnownClient) -> String {
    k.names
        .iter()
        .map(|p| match p {
            Exact(e) => format!("`{e}`"),
            Prefix(pre) => format!("`{pre}…`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table as text (`halo-mcp clients`) or Markdown (README).
pub fn table(markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str("| Client | `clientInfo.name` | list_changed | Mode under `auto` | Evidence |\n|---|---|---|---|---|\n");
    } else {
        out.push_str(&format!(
            "{:<38} {:<12} {}\n",
            "CLIENT", "LIST_CHANGED", "MODE UNDER AUTO"
        ));
    }
    for k in KNOWN {
        if markdown {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                k.product,
                names(k),
                k.list_changed,
                mode_of(k),
                k.evidence
            ));
        } else {
            out.push_str(&format!(
                "{:<38} {:<12} {}\n    names: {}\n    {}\n",
                k.product,
                k.list_changed.to_string(),
                mode_of(k),
                names(k).replace('`', ""),
                k.evidence
            ));
        }
    }
    if markdown {
        out.push_str("| anything else | | | dispatch | unknown clients get the tools that work everywhere |\n");
    } else {
        out.push_str("anything else                          dispatch (works in every client)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_exactly_then_folded_and_by_known_prefixes() {
        assert!(verdict("Visual Studio Code - Insiders", "1.138.0").tree);
        assert!(verdict("Zed", "0.1.0").tree);
        assert!(verdict("zed", "0.1.0").tree, "case-folded fallback");
        assert!(!verdict("claude-ai", "0.1.0").tree);
        assert!(!verdict("claude-ai (via mcp-remote 0.1.38)", "0.1.0").tree);
        assert_eq!(
            verdict("claude-ai (via mcp-remote 0.1.38)", "").product,
            Some("Claude Desktop (chat, Cowork)")
        );
        assert!(!verdict("local-agent-mode-halo", "1.0.0").tree);
        assert!(!verdict("@n8n/n8n-nodes-langchain.mcpClientTool", "1.2").tree);
        assert!(
            !verdict("claude-code", "2.1.258").tree,
            "ambiguous by design"
        );
        assert!(!verdict("my-own-client", "9.9").tree);
        assert!(
            verdict("my-own-client", "9.9")
                .reason
                .contains("unknown client")
        );
        // No substring guessing: "claude" alone is not Claude Desktop.
        assert!(lookup("claude").is_none());
        // December 2026: Goose re-lists; the Inspector CLI reconnects per command; no name is
        // unknown.
        assert!(verdict("goose", "1.9.0").tree);
        assert!(!verdict("inspector-cli", "0.17.0").tree);
        assert!(verdict("inspector", "0.17.0").tree);
        let nameless = verdict("", "");
        assert!(!nameless.tree && nameless.product.is_none());
        assert!(nameless.reason.contains("no name"));
    }

    #[test]
    fn versions_only_where_a_threshold_is_confirmed() {
        assert!(verdict("Cline", "4.1.4").tree);
        assert!(verdict("Cline", "4.2.0").tree);
        assert!(!verdict("Cline", "4.1.3").tree);
        assert!(verdict("gemini-cli-mcp-client", "0.26.0").tree);
        assert!(
            !verdict("gemini-cli-mcp-client", "0.0.1").tree,
            "a constant says nothing"
        );
        assert!(!verdict("Cline", "nightly").tree);
        assert_eq!(parse_version("v2.1.0-beta"), Some((2, 1, 0)));
    }

    #[test]
    fn no_name_belongs_to_two_rows() {
        for a in KNOWN {
            for pa in a.names {
                let name = match pa {
                    Exact(e) | Prefix(e) => *e,
                };
                let rows = KNOWN
                    .iter()
                    .filter(|b| b.names.iter().any(|pb| matches(pb, name, true)))
                    .count();
                assert_eq!(rows, 1, "{name}");
            }
        }
        assert!(table(true).lines().count() > KNOWN.len());
    }
}
