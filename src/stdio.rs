//! MCP over stdin/stdout, with the edges a transport leaves to the application.
//!
//! rmcp reads newline-delimited JSON-RPC and, by design, ignores a line that is not JSON (it
//! cannot know which request to answer). JSON-RPC 2.0 says such input gets a `-32700 Parse
//! error` with `id: null`, and a client that sent one waits for an answer until its own timeout.
//! So a relay sits between the pipes and rmcp: each line is checked (UTF-8, JSON within the
//! parser's nesting limit, no lone surrogate escapes, bounded length) and either passed on or
//! answered here. One writer task owns stdout, so the relay's answers and rmcp's never
//! interleave inside a line.
//!
//! The relay also knows whether input ended before `initialize` (a client that changed its mind:
//! nothing to do, exit 0) and stops serving on a signal even while stdin stays open.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rmcp::ServiceExt;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    sync::mpsc,
};

use crate::server::HaloMcp;

/// Longest message line accepted (a tool call's arguments are capped far below this).
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// How long the last answers get to reach stdout once the session is over.
const FLUSH_GRACE: Duration = Duration::from_millis(500);

/// How a stdio session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The client closed stdin after the session started.
    InputClosed,
    /// stdin ended before the client sent `initialize`: there was never a session.
    ClosedBeforeInitialize,
    /// SIGTERM / SIGINT (or whatever `shutdown` waits for).
    Signalled,
}

/// Serves one MCP session over `input`/`output` until the client closes input or `shutdown`
/// completes. Errors are a session that failed to start for another reason.
pub async fn serve<R, W, F>(
    handler: HaloMcp,
    input: R,
    output: W,
    shutdown: F,
) -> Result<Ended, String>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    F: Future<Output = ()> + Send,
{
    let (to_rmcp, rmcp_in) = tokio::io::duplex(64 * 1024);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(64 * 1024);
    let (lines, queue) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(write_lines(output, queue));
    let forward = tokio::spawn(forward_lines(from_rmcp, lines.clone()));
    let input_ended = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(relay_input(input, to_rmcp, lines, input_ended.clone()));

    tokio::pin!(shutdown);
    let ended = tokio::select! {
        started = handler.serve((rmcp_in, rmcp_out)) => match started {
            Ok(running) => {
                let cancel = running.cancellation_token();
                tokio::select! {
                    _ = running.waiting() => Ok(Ended::InputClosed),
                    _ = &mut shutdown => {
                        cancel.cancel();
                        Ok(Ended::Signalled)
                    }
                }
            }
            Err(_) if input_ended.load(Ordering::SeqCst) => Ok(Ended::ClosedBeforeInitialize),
            Err(e) => Err(format!("MCP session failed to start: {e}")),
        },
        _ = &mut shutdown => Ok(Ended::Signalled),
    };
    // stdin may stay open for ever (a signal, or a client that keeps the pipe): stop reading it.
    // rmcp's side is done, so the forwarder ends once it has passed on the last answers.
    reader.abort();
    let _ = tokio::time::timeout(FLUSH_GRACE, forward).await;
    let _ = tokio::time::timeout(FLUSH_GRACE, writer).await;
    ended
}

/// Writes whole lines to `output`, flushing after each (the client waits for them).
async fn write_lines<W: AsyncWrite + Unpin>(mut output: W, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = queue.recv().await {
        if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
            // The client is gone; nothing more can reach it.
            return;
        }
    }
}

/// rmcp's answers, line by line, onto the writer's queue.
async fn forward_lines<R: AsyncRead + Unpin>(from_rmcp: R, lines: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(from_rmcp);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                if lines.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// What one input line is.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// Blank: skipped.
    Blank,
    /// JSON: passed to rmcp (which answers a well-formed non-message with -32600 itself).
    Message,
    /// Answered here with this error.
    Refused(Value),
}

/// Classifies one line (without its newline).
pub fn classify(line: &[u8]) -> Line {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(_) => Line::Message,
        Err(e) => Line::Refused(error_answer(
            -32700,
            &format!(
                "Parse error: the line is not valid JSON ({}); nothing was done",
                parse_reason(&e)
            ),
        )),
    }
}

/// The parser's reason without echoing the input (serde_json's messages name line and column).
fn parse_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    crate::text::clip(&text)
}

fn error_answer(code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}})
}

fn encode(answer: &Value) -> Vec<u8> {
    let mut bytes = answer.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// Reads `input` line by line (never holding more than [`MAX_LINE`]), passes messages to rmcp
/// and answers the rest. Ends at end of input, dropping rmcp's input so the session ends too.
async fn relay_input<R, W>(
    input: R,
    mut to_rmcp: W,
    answers: mpsc::Sender<Vec<u8>>,
    ended: Arc<AtomicBool>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(input);
    let mut line: Vec<u8> = Vec::new();
    let mut oversized = false;
    loop {
        let (consumed, complete) = {
            let available = match reader.fill_buf().await {
                Ok(a) => a,
                Err(_) => break,
            };
            if available.is_empty() {
                break;
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            if !oversized {
                if line.len() + take > MAX_LINE + 1 {
                    // Too long to be a message we would run: drop it as it streams past.
                    oversized = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(available.get(..take).unwrap_or_default());
                }
            }
            (take, newline.is_some())
        };
        reader.consume(consumed);
        if !complete {
            continue;
        }
        if std::mem::take(&mut oversized) {
            let answer = error_answer(
                -32600,
                &format!(
                    "Invalid Request: a message line is limited to {} MB; nothing was done",
                    MAX_LINE / (1024 * 1024)
                ),
            );
            if answers.send(encode(&answer)).await.is_err() {
                break;
            }
            continue;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        match classify(body) {
            Line::Blank => {}
            Line::Message => {
                if to_rmcp.write_all(&line).await.is_err() || to_rmcp.flush().await.is_err() {
                    break;
                }
            }
            Line::Refused(answer) => {
                if answers.send(encode(&answer)).await.is_err() {
                    break;
                }
            }
        }
        line.clear();
    }
    ended.store(true, Ordering::SeqCst);
    // Dropping `to_rmcp` here is rmcp's end of input.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_code(line: &[u8]) -> i64 {
        match classify(line) {
            Line::Refused(v) => {
                assert_eq!(v["id"], Value::Null);
                v["error"]["code"].as_i64().unwrap()
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn lines_are_classified() {
        assert_eq!(classify(b"  \r"), Line::Blank);
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Line::Message
        );
        assert_eq!(refused_code(b"{not json"), -32700);
        assert_eq!(refused_code(br#""\ud800""#), -32700);
        assert_eq!(refused_code("[".repeat(10_000).as_bytes()), -32700);
        assert_eq!(refused_code(b"\xff\xfe"), -32700);
        assert_eq!(refused_code(br#"{"a":1} trailing"#), -32700);
    }

    #[test]
    fn parse_errors_do_not_echo_the_input() {
        let big = format!("{{\"x\": \"{}\n", "a".repeat(100_000));
        match classify(big.as_bytes()) {
            Line::Refused(v) => assert!(v.to_string().len() < 600),
            other => panic!("{other:?}"),
        }
    }
}
