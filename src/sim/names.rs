//! Company names per seed, so that a tenant seeded differently is visibly a different business.
//!
//! Why: the seed draws its users, assets and tickets from its random stream, but its seven
//! companies (six customers and the MSP itself, client 17) come from a fixed table, and their
//! names run through many denormalised fields: `client_name` on every row, user and agent
//! emails, websites, hostnames and contract refs (`HLX-LT-001`, `HLX-MSA`), site names,
//! opportunity summaries, agent signatures. Two tenants with different seeds would otherwise
//! share every company name, and a test that two sessions never see each other's data could
//! not tell the data sets apart by the most obvious thing a person reads.
//!
//! How: the default seed keeps the documented names (the `seed` module's docs and the tests rely
//! on them). Any other seed renames the seven companies in one pass over the finished tables:
//! every string value is rewritten, so each denormalised copy changes with its source and
//! nothing else moves (ids, amounts, dates, duplicate groups stay those of the seed). A new name
//! is a compound word such as "Ashcombe" or "Wrenford", drawn from the seed's own stream (not
//! the main one, so the draw shifts no other record): a first syllable not used by another
//! company of the same tenant (so the three-letter codes that replace `HLX`, `BOS`, … are
//! distinct) and any second syllable. No new name or code contains an original one, so the
//! sequential rewrite cannot chain. Two different seeds give the same client id the same name
//! only by chance (about 1 in 450 per client); seeds 1 and 2 are checked to differ everywhere.

use serde_json::Value;

use super::prng::Prng;
use super::store::Db;

/// How each original company is spelled in the seeded strings.
struct Original {
    /// Display spellings that are not just the slug capitalised (rewritten first, exact case).
    display: &'static [&'static str],
    /// The lower-case word in domains and emails (`harbourline`), rewritten case-insensitively,
    /// so it also covers the capitalised display form ("Harbourline") and re-typed emails
    /// (`J.Fairweather@Harbourline.co.uk`).
    slug: &'static str,
    /// Leftover display words, rewritten last, exact case (`Kestrel Client Portal`).
    bare: &'static [&'static str],
    /// The three-letter code of hostnames, refs and contract refs (`HLX`).
    code: &'static str,
}

/// In the order of the seed's client table (ids 11 to 17).
const ORIGINALS: [Original; 7] = [
    Original {
        display: &[],
        slug: "harbourline",
        bare: &[],
        code: "HLX",
    },
    Original {
        display: &["Brindle & Oak"],
        slug: "brindleoak",
        bare: &[],
        code: "BOS",
    },
    Original {
        display: &[],
        slug: "meadowgate",
        bare: &[],
        code: "MVG",
    },
    Original {
        display: &[],
        slug: "copperfield",
        bare: &[],
        code: "CPA",
    },
    Original {
        display: &[],
        slug: "saltmarsh",
        bare: &[],
        code: "SMB",
    },
    Original {
        display: &[],
        slug: "larkspur",
        bare: &[],
        code: "LDC",
    },
    Original {
        display: &["Kestrel Bay"],
        slug: "kestrelbay",
        bare: &["Kestrel"],
        code: "KBT",
    },
];

/// First syllables: their first three letters, upper-cased, are the new codes (all distinct,
/// none an original code or an asset-type tag prefix).
const FIRST: &[&str] = &[
    "Ash", "Bram", "Cold", "Dun", "Elder", "Fern", "Glen", "Hazel", "Ivy", "Kings", "Lang", "Marl",
    "North", "Oak", "Pen", "Red", "Stan", "Thorn", "Wren", "Yar", "West", "Black", "Rook", "Moss",
    "Fox", "Holly", "Sedge", "Gold",
];

const SECOND: &[&str] = &[
    "combe", "field", "wick", "bury", "ford", "gate", "mere", "stone", "wood", "holt", "ley",
    "worth", "dale", "brook", "hurst", "moor",
];

/// A company's new name: the display word and its three-letter code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewName {
    pub word: String,
    pub code: String,
}

/// The seven new names (clients 11 to 17 in order) a non-default seed gives its companies.
pub(crate) fn draw(seed: u64) -> Vec<NewName> {
    let mut p = Prng::new(seed ^ 0x4E41_4D45_5F50_4F4F);
    let mut firsts: Vec<&str> = FIRST.to_vec();
    let mut out = Vec::with_capacity(ORIGINALS.len());
    for _ in 0..ORIGINALS.len() {
        let first = firsts.swap_remove(p.below(firsts.len() as u64) as usize);
        let second = p.pick(SECOND).copied().unwrap_or("field");
        out.push(NewName {
            word: format!("{first}{second}"),
            code: first
                .chars()
                .take(3)
                .collect::<String>()
                .to_ascii_uppercase(),
        });
    }
    out
}

/// One rewrite.
struct Rule {
    /// Lower-cased for the case-insensitive rules and the quick check.
    pattern: String,
    with: String,
    case_insensitive: bool,
}

/// Renames every company in every string of the database (see the module docs).
pub(crate) fn rename(db: &mut Db, names: &[NewName]) {
    let mut rules = Vec::new();
    let mut codes = Vec::new();
    let pairs = ORIGINALS.iter().zip(names);
    for (o, n) in pairs.clone() {
        for d in o.display {
            rules.push(Rule {
                pattern: (*d).to_string(),
                with: n.word.clone(),
                case_insensitive: false,
            });
        }
    }
    for (o, n) in pairs.clone() {
        rules.push(Rule {
            pattern: o.slug.to_string(),
            with: n.word.to_ascii_lowercase(),
            case_insensitive: true,
        });
    }
    for (o, n) in pairs {
        for b in o.bare {
            rules.push(Rule {
                pattern: (*b).to_string(),
                with: n.word.clone(),
                case_insensitive: false,
            });
        }
        rules.push(Rule {
            pattern: format!("{}-", o.code),
            with: format!("{}-", n.code),
            case_insensitive: false,
        });
        codes.push((o.code, n.code.as_str()));
    }
    let lowered: Vec<String> = rules
        .iter()
        .map(|r| r.pattern.to_ascii_lowercase())
        .collect();
    let fix = |v: &mut Value| walk(v, &rules, &lowered, &codes);
    for table in db.tables.values_mut() {
        table.rows.values_mut().for_each(fix);
    }
    db.actions.values_mut().for_each(fix);
    for row in db.templates.values_mut() {
        row.values_mut().for_each(fix);
    }
}

fn walk(v: &mut Value, rules: &[Rule], lowered: &[String], codes: &[(&str, &str)]) {
    match v {
        Value::String(s) => {
            if let Some(&(_, code)) = codes.iter().find(|(from, _)| s == from) {
                *s = code.to_string();
                return;
            }
            let lower = s.to_ascii_lowercase();
            if !lowered.iter().any(|p| lower.contains(p.as_str())) {
                return;
            }
            for r in rules {
                if r.case_insensitive {
                    *s = replace_ci(s, &r.pattern, &r.with);
                } else if s.contains(r.pattern.as_str()) {
                    *s = s.replace(r.pattern.as_str(), &r.with);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|x| walk(x, rules, lowered, codes)),
        Value::Object(m) => m.values_mut().for_each(|x| walk(x, rules, lowered, codes)),
        _ => {}
    }
}

/// Replaces `pattern` (lower case ASCII) in any case, capitalising the replacement where the
/// match started with a capital.
fn replace_ci(s: &str, pattern: &str, with: &str) -> String {
    // ASCII lower-casing keeps every byte offset, so match offsets in `lower` are char
    // boundaries in `s`.
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(pattern) {
        out.push_str(s.get(last..i).unwrap_or_default());
        let capital = s
            .get(i..)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()));
        if capital {
            let mut cs = with.chars();
            if let Some(f) = cs.next() {
                out.push(f.to_ascii_uppercase());
                out.push_str(cs.as_str());
            }
        } else {
            out.push_str(with);
        }
        last = i + pattern.len();
    }
    out.push_str(s.get(last..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_distinct_within_a_tenant_and_differ_between_seeds() {
        for seed in [1u64, 2, 3, 99, u64::MAX] {
            let names = draw(seed);
            assert_eq!(names, draw(seed), "deterministic");
            let codes: std::collections::HashSet<&str> =
                names.iter().map(|n| n.code.as_str()).collect();
            assert_eq!(codes.len(), 7, "{names:?}");
            for n in &names {
                assert_eq!(n.code.len(), 3);
                for o in &ORIGINALS {
                    assert_ne!(n.code, o.code);
                    assert!(!n.word.to_ascii_lowercase().contains(o.slug), "{n:?}");
                }
            }
        }
        let (a, b) = (draw(1), draw(2));
        for (x, y) in a.iter().zip(&b) {
            assert_ne!(x.word, y.word);
        }
    }

    /// Every string of a database, in any table.
    fn strings(db: &Db) -> Vec<String> {
        fn collect(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
                Value::Object(m) => m.values().for_each(|x| collect(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for t in db.tables.values() {
            t.rows.values().for_each(|r| collect(r, &mut out));
        }
        db.actions.values().for_each(|r| collect(r, &mut out));
        out
    }

    #[test]
    fn another_seed_leaves_no_trace_of_the_default_names() {
        use super::super::seed::{DEFAULT_SEED, Extras, build};
        let original = strings(&build(DEFAULT_SEED, Extras::default()));
        assert!(original.iter().any(|s| s.contains("Harbourline")));
        let db = build(
            1,
            Extras {
                assets: 100,
                users: 100,
            },
        );
        let names = draw(1);
        let all = strings(&db);
        for s in &all {
            let lower = s.to_ascii_lowercase();
            for o in &ORIGINALS {
                assert!(!lower.contains(o.slug), "{s}");
                assert!(!s.contains(&format!("{}-", o.code)) && s != o.code, "{s}");
                for d in o.display.iter().chain(o.bare) {
                    assert!(!s.contains(d), "{s}");
                }
            }
        }
        // The renamed forms are where the originals were.
        let client = |id: i64| db.text("Client", id, "name");
        assert_eq!(client(11), format!("{} Logistics Ltd", names[0].word));
        assert_eq!(client(12), format!("{} Solicitors", names[1].word));
        assert_eq!(client(17), format!("{} Technology", names[6].word));
        assert_eq!(db.text("Client", 11, "ref"), names[0].code);
        assert!(all.contains(&format!("{}-MSA", names[0].code)));
        let host = format!("{}-LT-", names[0].code);
        assert!(all.iter().any(|s| s.starts_with(&host)));
        let w = names[0].word.to_ascii_lowercase();
        assert!(all.contains(&format!("j.fairweather@{w}.co.uk")));
        assert!(all.contains(&format!("J.Fairweather@{}.co.uk", names[0].word)));
        assert!(all.contains(&format!("{} Client Portal", names[6].word)));
    }

    #[test]
    fn case_insensitive_replacement_keeps_the_capital() {
        assert_eq!(
            replace_ci(
                "J.Fairweather@Harbourline.co.uk, j@harbourline.co.uk",
                "harbourline",
                "ashcombe"
            ),
            "J.Fairweather@Ashcombe.co.uk, j@ashcombe.co.uk"
        );
        assert_eq!(replace_ci("é harbourline é", "harbourline", "x"), "é x é");
    }
}
