//! The audit trail of writes: one JSON line per create, update and delete, whatever the mode
//! or authentication.
//!
//! Each line names the time, who Halo recorded as acting (the signed-in agent, or the API
//! application whose login-as agent acts), the MCP session, the tool, the resource, the record
//! id, the outcome (`done`, `refused`, `uncertain`: Halo may or may not have applied it) and
//! the names of the fields sent. Values are written only if the operator opts in
//! (`HALO_MCP_AUDIT_VALUES=true`): field values can be personal data, and an audit file tends
//! to be kept longer and read more widely than Halo itself. Secrets and tokens never reach it:
//! nothing here is given one.
//!
//! Durability: the line is appended and flushed to the file (`sync_data`) before the tool's
//! answer is returned, on a blocking thread of its own, so a request cancelled or failing
//! while the line is written does not lose it, and a crash after the answer cannot either.
//! Lines are written under one lock, so concurrent writes never interleave.

use std::{fs::File, io::Write as _, sync::Arc};

use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::halo::HaloClient;

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Halo confirmed it.
    Done,
    /// Halo refused it, or it was never sent.
    Refused,
    /// Sent, and the answer was lost: it may or may not have been applied.
    Uncertain,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Refused => "refused",
            Outcome::Uncertain => "uncertain",
        }
    }
}

enum Target {
    Stderr,
    File(File),
}

struct Sink {
    target: Mutex<Target>,
    values: bool,
}

static SINK: OnceCell<Arc<Sink>> = OnceCell::new();

tokio::task_local! {
    /// The MCP session a tool call runs in (set around each call by the server).
    pub static SESSION: Option<String>;
}

/// Turns the audit log on: `target` is a file path (appended to, created if missing) or
/// `stderr`. The file is opened now, so a path that cannot be written fails at start, not at
/// the first write.
pub fn configure(target: &str, values: bool) -> Result<(), String> {
    let target = if target.eq_ignore_ascii_case("stderr") {
        Target::Stderr
    } else if target.is_empty() {
        return Err("HALO_MCP_AUDIT_LOG is empty: give a file path, or stderr".into());
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(target)
            .map_err(|e| format!("HALO_MCP_AUDIT_LOG: cannot open {target:?} to append: {e}"))?;
        Target::File(file)
    };
    SINK.set(Arc::new(Sink {
        target: Mutex::new(target),
        values,
    }))
    .map_err(|_| "the audit log is already configured".to_owned())
}

/// Whether writes are audited.
pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// One write, as the tool saw it.
pub struct WriteOp<'a> {
    pub halo: &'a HaloClient,
    pub tool: &'a str,
    pub resource: &'a str,
    /// The record's id, when known (an update's or delete's target, a create's new id).
    pub id: Option<String>,
    /// The fields sent (names always; values only if the operator opted in).
    pub fields: &'a Map<String, Value>,
}

/// Records a write's outcome; returns once the line is on disk (or on stderr). A failure to
/// write the line is logged, never turned into the tool's answer: the write itself happened
/// (or not) in Halo either way, and saying otherwise would mislead.
pub async fn record(write: WriteOp<'_>, outcome: Outcome) {
    let Some(sink) = SINK.get().cloned() else {
        return;
    };
    let session = SESSION.try_with(Clone::clone).ok().flatten();
    let mut line = json!({
        "time": timestamp(std::time::SystemTime::now()),
        "principal": write.halo.principal(),
        "session": session,
        "tool": write.tool,
        "resource": write.resource,
        "id": write.id,
        "outcome": outcome.as_str(),
        "fields": write.fields.keys().collect::<Vec<_>>(),
    });
    if sink.values
        && let Value::Object(m) = &mut line
    {
        m.insert("values".into(), Value::Object(write.fields.clone()));
    }
    let mut text = line.to_string();
    text.push('\n');
    // On a blocking thread: `sync_data` waits on the disk. Awaited, so the answer follows the
    // line; spawned, so a cancelled request cannot stop it half-way.
    let written = tokio::task::spawn_blocking(move || {
        let mut target = sink.target.lock();
        match &mut *target {
            Target::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(text.as_bytes()).and_then(|()| err.flush())
            }
            Target::File(f) => f
                .write_all(text.as_bytes())
                .and_then(|()| f.flush())
                .and_then(|()| f.sync_data()),
        }
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "could not write the audit log"),
        Err(e) => tracing::error!(error = %e, "could not write the audit log"),
    }
}

/// Records a write from its result: `done` when Halo confirmed it, `uncertain` when its
/// outcome is unknown, `refused` otherwise. A create's id comes from the saved record.
pub async fn record_result(
    halo: &HaloClient,
    tool: &str,
    resource: &str,
    id: Option<&str>,
    fields: Option<&Map<String, Value>>,
    result: &Result<Value, crate::halo::HaloError>,
) {
    if !enabled() {
        return;
    }
    let outcome = match result {
        Ok(_) => Outcome::Done,
        Err(crate::halo::HaloError::WriteUncertain { .. }) => Outcome::Uncertain,
        Err(_) => Outcome::Refused,
    };
    let id = id.map(str::to_owned).or_else(|| {
        result
            .as_ref()
            .ok()
            .and_then(|v| v.get("id"))
            .filter(|v| !v.is_null())
            .map(crate::tools::args::to_query)
    });
    // The record's id is its own column, not a changed field.
    let fields: Map<String, Value> = fields
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "id")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let write = WriteOp {
        halo,
        tool,
        resource,
        id,
        fields: &fields,
    };
    record(write, outcome).await;
}

/// Wraps a write so its outcome is recorded before its result is handed on: the one call the
/// write path makes per write (`audited(halo.post(..)).await`).
pub fn written<'a, F>(
    halo: &'a HaloClient,
    tool: &'a str,
    resource: &'a str,
    id: Option<&'a str>,
    fields: Option<&'a Map<String, Value>>,
) -> impl FnOnce(F) -> futures::future::BoxFuture<'a, Result<Value, crate::halo::HaloError>>
where
    F: std::future::Future<Output = Result<Value, crate::halo::HaloError>> + Send + 'a,
{
    move |write: F| {
        Box::pin(async move {
            let result = write.await;
            record_result(halo, tool, resource, id, fields, &result).await;
            result
        })
    }
}

/// RFC 3339 in UTC, to the millisecond.
fn timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let date = crate::tools::composite::revenue::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date.to_iso(),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        // Expected values from Python's datetime.fromtimestamp(..., timezone.utc).
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_554_245_123);
        assert_eq!(timestamp(t), "2026-12-06T10:50:45.123Z");
        assert_eq!(timestamp(std::time::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
