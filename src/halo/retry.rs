//! Which failures may be retried, and how long to wait.
//!
//! The rule that keeps writes safe: a request is repeated only when repeating it cannot make a
//! second record or undo someone else's work.
//! - Reads (GET) and deletes are repeatable (a repeated delete that finds the record gone is
//!   done: see `execute`).
//! - Any request is repeatable when the failure proves Halo's API never saw it: the connection
//!   was refused, the token could not be had (the API is only called with a token in hand), or
//!   Halo said 429 (rate limited, nothing processed).
//! - A create (POST without `id`) is never repeated after a failure that leaves its fate open (a
//!   timeout, a reset, a 5xx): the caller is told it may or may not have been created, with the
//!   call that checks.
//! - An update (POST of one record with an `id`) whose fate is open is *checked* before
//!   anything else: the record is read back and, when every field sent already holds, the
//!   update is done. Otherwise it is sent again: Halo's POST with an `id` sets the fields given
//!   and leaves the rest (halo-api.md §4, "Upsert", "Updates are partial"), so applying it a
//!   second time leaves the record as applying it once would. Records posted with `_`
//!   directives (`_recover`, `_force`, ...) are actions rather than field values, and are
//!   treated like creates.
//!
//!   What the read-back proves, and what it does not: fields that hold mean the record is in
//!   the state the update asked for, whoever wrote it, so nothing is sent again. Fields that
//!   do not hold mean the update was not applied, or was applied and changed since by someone
//!   else, or is still on its way (a slow request may land after the read-back); sending it
//!   again then sets the caller's values once more, as if the update had come a moment later.
//!   A field Halo stores differently from how it was sent (reformatted text, for example)
//!   never "holds", so such an update may be sent twice: the record ends the same, but any
//!   notification Halo sends on a change may go out twice. The read-back itself failing, or a
//!   404 (the record is gone, and a POST with its id might create one), leaves the update
//!   uncertain, said as before. The caller (the update tool) has checked that the record
//!   exists before the first attempt.
//!
//! 5xx: Halo's own 500 is not known to mark bad input (halo-api.md §6.2 has one report, "500
//! when I gave it a bad tenant", and validation failures are 400s), so 500 is treated like the
//! gateway errors 502/503/504: possibly transient, retried a bounded number of times within the
//! call's time budget, then the last error is shown.
//!
//! Backoff is exponential with jitter, and no retry starts after the call's time budget
//! ([`RetryPolicy::call_budget`]). A bare 429 (no `Retry-After`) is handed back to the rate
//! budget, which has learned a lower limit from it and queues the retry: such retries are
//! bounded by the rate wait (`HALO_RATE_WAIT`) since the call began, not by the retry count.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::Value;

use super::HaloError;

/// Retry policy settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 429s with `Retry-After` and for failures
    /// separately.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// The longest a `Retry-After` may ask us to wait (longer and the call fails with the
    /// hint), and the longest a call keeps retrying bare 429s through the rate budget.
    pub max_retry_after: Duration,
    /// No retry after a failure starts later than this after the call began.
    pub call_budget: Duration,
}

/// What is known about the request and its earlier attempts.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub method: &'a Method,
    /// A POST of one record with an `id` and no `_` directives ([`checkable_update`]).
    pub checkable_update: bool,
    /// Earlier retries after a 429 that carried `Retry-After`.
    pub rate_limited: u32,
    /// Earlier retries after failures.
    pub failed: u32,
    /// Since the call began.
    pub elapsed: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Try again after this long.
    RetryAfter(Duration),
    /// Try again at once: the rate budget decides when it goes out.
    Requeue,
    /// An update failed in a way that does not tell whether Halo applied it: after this long,
    /// read the record back, and send the update again only if its fields do not hold.
    Verify(Duration),
    /// A write failed in a way that does not tell whether Halo applied it.
    Uncertain,
    /// Give up with this error.
    Fail,
}

fn repeatable(method: &Method) -> bool {
    *method == Method::GET || *method == Method::DELETE || *method == Method::HEAD
}

/// 5xx statuses worth another try. 501 (not implemented) and 505 say the same every time.
fn transient_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

impl RetryPolicy {
    /// Exponential backoff with jitter: between half and all of `base * 2^attempt`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.backoff_max);
        full.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// The backoff before retry number `failed + 1`, if the count and the time budget allow.
    fn next_failure_wait(&self, a: &Attempt<'_>) -> Option<Duration> {
        if a.failed >= self.max_retries {
            return None;
        }
        let wait = self.backoff(a.failed);
        (a.elapsed + wait <= self.call_budget).then_some(wait)
    }

    pub fn decide(&self, a: &Attempt<'_>, error: &HaloError) -> Decision {
        match error {
            HaloError::RateLimited {
                retry_after: Some(d),
            } => {
                if a.rate_limited >= self.max_retries || *d > self.max_retry_after {
                    Decision::Fail
                } else {
                    Decision::RetryAfter(*d)
                }
            }
            // Queued by the rate budget, which bounds the wait by the same limit.
            HaloError::RateLimited { retry_after: None } => {
                if a.elapsed < self.max_retry_after {
                    Decision::Requeue
                } else {
                    Decision::Fail
                }
            }
            // Halo's API never saw the request: the connection was not made, or no token.
            HaloError::Connect { .. } | HaloError::TokenUnreachable { .. } => self.again(a),
            HaloError::TokenEndpoint { status, .. } if transient_status(*status) => self.again(a),
            HaloError::Server { status, .. } if transient_status(*status) => {
                self.repeat_or_uncertain(a)
            }
            HaloError::Timeout { .. } | HaloError::Transport { .. } | HaloError::Decode { .. } => {
                self.repeat_or_uncertain(a)
            }
            _ => Decision::Fail,
        }
    }

    fn again(&self, a: &Attempt<'_>) -> Decision {
        match self.next_failure_wait(a) {
            Some(wait) => Decision::RetryAfter(wait),
            None => Decision::Fail,
        }
    }

    /// Halo may have applied the request.
    fn repeat_or_uncertain(&self, a: &Attempt<'_>) -> Decision {
        match (
            repeatable(a.method),
            a.checkable_update,
            self.next_failure_wait(a),
        ) {
            (true, _, Some(wait)) => Decision::RetryAfter(wait),
            (true, _, None) => Decision::Fail,
            (false, true, Some(wait)) => Decision::Verify(wait),
            (false, _, _) => Decision::Uncertain,
        }
    }
}

/// The record of a POST body that is a checkable update: one object with a positive (or
/// non-empty text) `id` and no `_` directive. Halo treats a POST with an `id` as an update
/// (halo-api.md §4); `_recover`, `_force` and the like ask for an action, whose repetition is
/// not provably harmless.
pub fn checkable_update(
    method: &Method,
    body: Option<&Value>,
) -> Option<(String, serde_json::Map<String, Value>)> {
    if *method != Method::POST {
        return None;
    }
    let record = match body? {
        Value::Array(items) if items.len() == 1 => items.first()?,
        _ => return None,
    };
    let map = record.as_object()?;
    let id = match map.get("id")? {
        Value::Number(n) if n.as_f64().is_some_and(|f| f > 0.0 && f.fract() == 0.0) => {
            n.as_f64().map(|f| format!("{f:.0}"))?
        }
        Value::String(s) if !s.trim().is_empty() && !s.contains(['/', '?', '#']) => {
            s.trim().to_owned()
        }
        _ => return None,
    };
    if map.keys().any(|k| k.starts_with('_')) {
        return None;
    }
    Some((id, map.clone()))
}

/// Whether every field sent in an update already holds in the record read back. Numbers
/// compare by value (Halo sends some ids as doubles, halo-api.md §7) and a number matches its
/// text form; anything else must be equal. A field the record does not show does not hold.
pub fn fields_hold(sent: &serde_json::Map<String, Value>, record: &Value) -> bool {
    let Some(got) = record.as_object() else {
        return false;
    };
    sent.iter().all(|(k, want)| {
        let have = got.get(k).or_else(|| {
            got.iter()
                .find(|(g, _)| g.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        });
        have.is_some_and(|have| same_value(want, have))
    })
}

fn same_value(want: &Value, have: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (want, have) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            matches!((number(want), number(have)), (Some(a), Some(b)) if a == b)
        }
        _ => want == have,
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(60),
            call_budget: Duration::from_secs(30),
        }
    }

    fn server(status: u16) -> HaloError {
        HaloError::Server {
            method: "X".into(),
            path: "/x".into(),
            status,
            message: String::new(),
        }
    }

    fn attempt(method: &Method, rate_limited: u32, failed: u32) -> Attempt<'_> {
        Attempt {
            method,
            checkable_update: false,
            rate_limited,
            failed,
            elapsed: Duration::ZERO,
        }
    }

    fn update(method: &Method) -> Attempt<'_> {
        Attempt {
            checkable_update: true,
            ..attempt(method, 0, 0)
        }
    }

    fn uncertain_errors() -> Vec<HaloError> {
        vec![
            server(500),
            server(502),
            server(503),
            server(504),
            HaloError::Timeout {
                method: "POST".into(),
                path: "/x".into(),
                after: Duration::from_secs(1),
            },
            HaloError::Transport {
                method: "POST".into(),
                path: "/x".into(),
                detail: "reset".into(),
            },
        ]
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let p = policy();
        for attempt in 0..6 {
            let full = Duration::from_millis(100 * 2u64.pow(attempt)).min(Duration::from_secs(1));
            let d = p.backoff(attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn creates_are_retried_only_when_halo_never_saw_them() {
        let p = policy();
        let post = Method::POST;
        let limited = HaloError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            p.decide(&attempt(&post, 0, 0), &limited),
            Decision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(p.decide(&attempt(&post, 3, 0), &limited), Decision::Fail);
        let never_sent = [
            HaloError::Connect {
                host: "h".into(),
                detail: "refused".into(),
            },
            HaloError::TokenUnreachable {
                url: "h/auth/token".into(),
                detail: "timeout".into(),
            },
            HaloError::TokenEndpoint {
                url: "h/auth/token".into(),
                status: 503,
                detail: "down".into(),
            },
        ];
        for e in &never_sent {
            assert!(e.never_sent(), "{e}");
            assert!(
                matches!(p.decide(&attempt(&post, 0, 0), e), Decision::RetryAfter(_)),
                "{e}"
            );
            assert_eq!(p.decide(&attempt(&post, 0, 3), e), Decision::Fail, "{e}");
        }
        for e in uncertain_errors() {
            assert!(!e.never_sent(), "{e}");
            assert_eq!(
                p.decide(&attempt(&post, 0, 0), &e),
                Decision::Uncertain,
                "{e}"
            );
        }
        // Refused credentials are not retried.
        let refused = HaloError::Auth {
            code: "invalid_client".into(),
            detail: "bad".into(),
            tenant_hint: String::new(),
        };
        assert_eq!(p.decide(&attempt(&post, 0, 0), &refused), Decision::Fail);
    }

    #[test]
    fn reads_and_deletes_retry_5xx_including_500_within_count_and_budget() {
        let p = policy();
        for e in uncertain_errors() {
            assert!(matches!(
                p.decide(&attempt(&Method::GET, 0, 0), &e),
                Decision::RetryAfter(_)
            ));
            assert!(matches!(
                p.decide(&attempt(&Method::DELETE, 2, 2), &e),
                Decision::RetryAfter(_)
            ));
            assert_eq!(p.decide(&attempt(&Method::GET, 0, 3), &e), Decision::Fail);
            // Past the call's time budget: the last error is shown.
            let late = Attempt {
                elapsed: Duration::from_secs(30),
                ..attempt(&Method::GET, 0, 0)
            };
            assert_eq!(p.decide(&late, &e), Decision::Fail);
        }
        // Statuses that say the same every time.
        for status in [501, 505] {
            assert_eq!(
                p.decide(&attempt(&Method::GET, 0, 0), &server(status)),
                Decision::Fail
            );
        }
        let too_long = HaloError::RateLimited {
            retry_after: Some(Duration::from_secs(600)),
        };
        assert_eq!(
            p.decide(&attempt(&Method::GET, 0, 0), &too_long),
            Decision::Fail
        );
    }

    #[test]
    fn an_uncertain_update_is_verified_and_a_create_is_not() {
        let p = policy();
        for e in uncertain_errors() {
            assert!(matches!(
                p.decide(&update(&Method::POST), &e),
                Decision::Verify(_)
            ));
            let spent = Attempt {
                failed: 3,
                ..update(&Method::POST)
            };
            assert_eq!(p.decide(&spent, &e), Decision::Uncertain);
        }
        let post = Method::POST;
        let body = |v: Value| Some(Value::Array(vec![v]));
        let (id, fields) =
            checkable_update(&post, body(json!({"id": 12, "summary": "x"})).as_ref()).unwrap();
        assert_eq!(id, "12");
        assert_eq!(fields.len(), 2);
        assert_eq!(
            checkable_update(&post, body(json!({"id": "ab-1"})).as_ref()).map(|c| c.0),
            Some("ab-1".into())
        );
        for not_update in [
            json!({"summary": "new"}),
            json!({"id": 0, "summary": "x"}),
            json!({"id": -1}),
            json!({"id": null}),
            json!({"id": "../x"}),
            json!({"id": 3, "_recover": true}),
        ] {
            assert!(
                checkable_update(&post, body(not_update.clone()).as_ref()).is_none(),
                "{not_update}"
            );
        }
        let two = Value::Array(vec![json!({"id": 1}), json!({"id": 2})]);
        assert!(checkable_update(&post, Some(&two)).is_none());
        assert!(checkable_update(&Method::DELETE, body(json!({"id": 1})).as_ref()).is_none());
    }

    #[test]
    fn sent_fields_are_compared_with_the_record() {
        let sent = |v: Value| v.as_object().cloned().unwrap();
        let record = json!({"id": 5.0, "summary": "Printer", "site_id": 18.0, "agent_id": "4",
                            "flag": true, "Details": "d"});
        assert!(fields_hold(
            &sent(json!({"id": 5, "summary": "Printer"})),
            &record
        ));
        assert!(fields_hold(
            &sent(json!({"site_id": 18, "agent_id": 4})),
            &record
        ));
        assert!(fields_hold(
            &sent(json!({"flag": true, "details": "d"})),
            &record
        ));
        assert!(!fields_hold(&sent(json!({"summary": "Scanner"})), &record));
        assert!(!fields_hold(&sent(json!({"status_id": 2})), &record));
        assert!(!fields_hold(&sent(json!({"flag": "true"})), &record));
        assert!(!fields_hold(&sent(json!({"id": 5})), &Value::Null));
    }

    #[test]
    fn bare_429s_are_queued_until_the_rate_wait_is_spent() {
        let p = policy();
        let bare = HaloError::RateLimited { retry_after: None };
        // However many came before: the count does not end them, the rate wait does.
        assert_eq!(
            p.decide(&attempt(&Method::POST, 9, 9), &bare),
            Decision::Requeue
        );
        let late = Attempt {
            elapsed: Duration::from_secs(60),
            ..attempt(&Method::GET, 0, 0)
        };
        assert_eq!(p.decide(&late, &bare), Decision::Fail);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = SystemTime::now() + Duration::from_secs(30);
        let d = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
