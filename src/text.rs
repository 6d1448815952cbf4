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

/// A caller's text in double quotes: at most [`MAX_QUOTED`] characters with an ellipsis and
/// its length when cut, and escaped, so no raw newline, ESC or NUL reaches a log line, a
/// terminal or a model's context (a 1 MB id gives a short error, `"\n WARN …"` cannot forge a
/// log line).
pub fn quote(s: &str) -> String {
    match escape_cut(s, true) {
        (text, Some(n)) => format!("\"{text}…\" ({n} characters)"),
        (text, None) => format!("\"{text}\""),
    }
}

/// A caller's JSON value quoted the same way: strings as [`quote`], other values as JSON,
/// serialised only as far as can be shown (a 1 MB array is not written out to be cut).
pub fn quote_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => quote(s),
        other => {
            let mut w = Capped(Vec::new());
            let complete = serde_json::to_writer(&mut w, other).is_ok();
            let text = String::from_utf8_lossy(&w.0).into_owned();
            // Already JSON: its quotes and backslashes stay as they are.
            let (mut out, total) = escape_cut(&text, false);
            if total.is_some() || !complete {
                out.push('…');
            }
            out
        }
    }
}

/// A caller's text escaped and cut like [`quote`] but without the quotes (for names shown in
/// backticks, or a client's name shown as a value).
pub fn clip(s: &str) -> String {
    match escape_cut(s, true) {
        (text, Some(n)) => format!("{text}… ({n} characters)"),
        (text, None) => text,
    }
}

/// The first [`MAX_QUOTED`] characters of `s`, escaped (quotes and backslashes too when
/// `quotes`); with the full length when cut.
fn escape_cut(s: &str, quotes: bool) -> (String, Option<usize>) {
    let mut out = String::new();
    let mut chars = s.chars();
    for (shown, c) in chars.by_ref().enumerate() {
        if shown == MAX_QUOTED {
            return (out, Some(shown + 1 + chars.count()));
        }
        match c {
            '\\' if quotes => out.push_str("\\\\"),
            '"' if quotes => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => {
                out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    (out, None)
}

/// Characters that change how a line reads without showing: line and paragraph separators,
/// and the bidirectional marks and overrides that make text display in another order than it
/// reads.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}'
    )
}

/// A writer that takes the first few KB and then refuses, so serialising a huge value for an
/// error message stops early.
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        const CAP: usize = 4 * MAX_QUOTED;
        let room = CAP.saturating_sub(self.0.len());
        if room == 0 {
            return Err(io::Error::other("enough to quote"));
        }
        let n = room.min(buf.len());
        self.0.extend_from_slice(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
        assert_eq!(quote("a\nb\u{1b}[31m\0"), "\"a\\nb\\u{001b}[31m\\u{0000}\"");
        let big = "x".repeat(1_000_000);
        let q = quote(&big);
        assert!(q.len() < 300, "{}", q.len());
        assert!(q.ends_with("(1000000 characters)"), "{q}");
        assert_eq!(quote_value(&serde_json::json!(12)), "12");
        assert!(quote_value(&serde_json::json!([big])).len() < 1000);
        assert_eq!(clip("Claude 1.0"), "Claude 1.0");
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
