//! Caller text on its way into answers and logs: bounded and escaped.
//!
//! Anything a client sends (an id, a URI, a prompt name, a tool name) may be a megabyte long or
//! hold newlines and terminal escapes. Echoing it whole makes an error as large as the input and
//! lets "\n WARN ..." forge a log line. So every echo goes through [`quote`], and the log writer
//! ([`SafeStderr`]) escapes control characters and bounds each record whatever a call site
//! formatted.

use std::io::{self, Write};

/// Most characters of a caller's value quoted back.
pub const MAX_QUOTED: usize = 200;

/// Largest log record written; longer ones are cut (text) or summarised (JSON).
pub const MAX_LOG_RECORD: usize = 8 * 1024;

/// `value` in double quotes, control characters escaped, at most [`MAX_QUOTED`] characters
/// (the rest counted, not shown).
pub fn quote(value: &str) -> String {
    let (shown, rest) = escaped_head(value);
    if rest == 0 {
        format!("\"{shown}\"")
    } else {
        format!("\"{shown}\"… ({rest} more characters)")
    }
}

/// `value` escaped and cut to [`MAX_QUOTED`] characters (an ellipsis marks a cut), without
/// quotes: for a caller's text shown as a value (a client's name in `halo_status`).
pub fn clip(value: &str) -> String {
    let (mut shown, rest) = escaped_head(value);
    if rest > 0 {
        shown.push('…');
    }
    shown
}

/// The first [`MAX_QUOTED`] characters escaped, and how many characters were left out.
fn escaped_head(value: &str) -> (String, usize) {
    let mut out = String::with_capacity(value.len().min(MAX_QUOTED) + 16);
    let mut chars = value.chars();
    for c in chars.by_ref().take(MAX_QUOTED) {
        push_escaped(&mut out, c);
    }
    (out, chars.count())
}

/// A JSON value as a caller sent it, quoted the same way: strings through [`quote`], anything
/// else as compact JSON, bounded.
pub fn quote_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => quote(s),
        other => {
            let text = other.to_string();
            if text.chars().count() <= MAX_QUOTED {
                text
            } else {
                let head: String = text.chars().take(MAX_QUOTED).collect();
                format!("{head}… ({} bytes in all)", text.len())
            }
        }
    }
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() || is_invisible_format(c) => {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
        c => out.push(c),
    }
}

/// Characters that change how a line reads without showing: bidirectional overrides and line
/// or paragraph separators.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Writes log records to stderr with every control character escaped except the record's own
/// final newline (and the colour codes the formatter itself adds when `ansi` is on: the
/// formatter escapes escape sequences inside field values, tracing-subscriber ≥ 0.3.20), and
/// each record bounded by [`MAX_LOG_RECORD`].
///
/// tracing-subscriber's fmt layer formats a whole event and hands it to the writer in one
/// `write_all`, so one `write` here is one record.
#[derive(Clone, Copy)]
pub struct SafeStderr {
    pub ansi: bool,
    pub json: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SafeStderr {
    type Writer = SafeRecord;

    fn make_writer(&'a self) -> SafeRecord {
        SafeRecord { how: *self }
    }
}

/// One record on its way to stderr.
pub struct SafeRecord {
    how: SafeStderr,
}

impl Write for SafeRecord {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let line = sanitize_record(buf, self.how);
        io::stderr().lock().write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// The record as it may reach stderr.
pub fn sanitize_record(buf: &[u8], how: SafeStderr) -> Vec<u8> {
    let text = String::from_utf8_lossy(buf);
    let body = text.strip_suffix('\n').unwrap_or(&text);
    let mut out = String::with_capacity(body.len().min(MAX_LOG_RECORD) + 64);
    for c in body.chars() {
        match c {
            '\u{1b}' if how.ansi => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    if out.len() > MAX_LOG_RECORD {
        let mut cut = MAX_LOG_RECORD;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = out.len();
        if how.json {
            // A cut JSON line would no longer parse: say what happened in a line that does.
            let head: String = out.chars().take(512).collect();
            out = serde_json::json!({
                "level": "WARN",
                "fields": {"message": "log record cut", "bytes": total, "head": head},
            })
            .to_string();
        } else {
            out.truncate(cut);
            out.push_str(&format!(" … [log record cut: {total} bytes]"));
        }
    }
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_bounds_and_escapes() {
        assert_eq!(quote("abc"), "\"abc\"");
        assert_eq!(quote("a\nb\u{1b}[31m\0"), "\"a\\nb\\u{1b}[31m\\u{0}\"");
        let big = "x".repeat(1_000_000);
        let q = quote(&big);
        assert!(q.len() < 300, "{}", q.len());
        assert!(q.ends_with("(999800 more characters)"));
        assert_eq!(quote_json(&serde_json::json!(12)), "12");
        assert!(quote_json(&serde_json::json!([big])).len() < 300);
    }

    #[test]
    fn records_cannot_forge_lines() {
        let how = SafeStderr {
            ansi: false,
            json: false,
        };
        let out = sanitize_record(
            b"INFO tool call failed id=\"1\n WARN forged\x1b[2J\"\n",
            how,
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("\\n WARN forged"));
    }

    #[test]
    fn records_are_bounded() {
        let big = format!("INFO {}\n", "y".repeat(1_000_000));
        let text = sanitize_record(
            big.as_bytes(),
            SafeStderr {
                ansi: false,
                json: false,
            },
        );
        assert!(text.len() < MAX_LOG_RECORD + 100);
        let json = format!("{{\"message\":\"{}\"}}\n", "z".repeat(1_000_000));
        let out = sanitize_record(
            json.as_bytes(),
            SafeStderr {
                ansi: false,
                json: true,
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["fields"]["message"], "log record cut");
    }
}
