//! Fault injection: the ways a real Halo (and the network in front of it) misbehaves.
//!
//! Why: a client's retry, back-off, rate-budget and circuit-breaker code is only tested if
//! something fails on cue. Hosted Halo answers `429` with "Rate Limit Reached - 300 Requests per
//! rolling 5 minute window" and, as far as anyone has seen, no `Retry-After` (halo-api.md §6.3),
//! so the header is optional here and comes in both of its RFC 9110 forms. Gateways in front of
//! Halo answer 502/503/504 with HTML; connections die without an answer; bodies arrive cut
//! short. A failure after the request was applied (the POST landed, its answer was lost) is the
//! case that makes blind retries create duplicates, so it is injectable separately.
//!
//! Determinism: every accepted request draws the same four numbers from a seeded SplitMix64
//! ([`Prng`]) whatever the rates are, so a seed gives the same fault sequence for the same
//! request sequence. The rate limit is exact over arrival times: no run of `limit + 1` accepted
//! requests ever spans less than the window, even when concurrent requests reach the gate out of
//! arrival order.
//!
//! This file holds the policy and the bookkeeping; [`super::http`]'s `api_gate` applies it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;

use super::LoggedRequest;
use super::prng::Prng;

/// Faults the simulator injects into `/api` requests, and (only through [`Faults::token`]) into
/// `/auth/token`. The default injects nothing. Rates are fractions in `0..=1`; values outside
/// are clamped, NaN is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// At most `limit` accepted API requests per rolling `window`, counted by arrival time;
    /// the rest get `429` with Halo's text adapted to the numbers. A `429` does not use up the
    /// budget.
    pub rate_limit: Option<(u32, Duration)>,
    /// Send `Retry-After` with 429s: whole seconds until the oldest counted request leaves the
    /// window (at least 1).
    pub retry_after: bool,
    /// Send `Retry-After` as an HTTP date (IMF-fixdate) instead of seconds. Implies
    /// `retry_after`.
    pub retry_after_http_date: bool,
    /// Fraction of API requests answered with a gateway-style 502, 503 or 504 (chosen at
    /// random), with a short HTML body; or with [`Faults::error_status`] when that is set.
    pub error_rate: f64,
    /// The status of every injected error instead of a random gateway one. `500` answers as
    /// Halo's own application would (a JSON `{ClassName, Message}` body, a shape Halo clients
    /// handle: halo-api.md §6.2); other 5xx keep the gateway's HTML page.
    pub error_status: Option<u16>,
    /// Of the injected errors and dropped connections, the fraction that happen after the
    /// request was processed (a write that landed but whose answer was lost); the rest happen
    /// before anything is applied.
    pub error_after_apply: f64,
    /// Seeds the fault dice.
    pub seed: u64,
    /// Added before answering every API request (429s and injected errors included).
    pub latency: Duration,
    /// Fraction of otherwise successful (2xx) API answers whose JSON body is cut short: the
    /// status stays 200/201, the body does not parse.
    pub malformed_rate: f64,
    /// Fraction of API requests whose connection is closed with no HTTP answer at all.
    /// Together with `error_rate` it shares one die: if both add up to more than 1, drops win.
    pub drop_rate: f64,
    /// How the token endpoint misbehaves, on every token request while set.
    pub token: Option<TokenFault>,
    /// Inject errors and drops into writes only (anything but GET and HEAD): reads always
    /// pass, so what a client does with a write whose answer was lost can be watched alone.
    pub writes_only: bool,
}

/// A fault of the token endpoint. The API itself is never reached without a token, so these
/// tell a client's "nothing was sent" failures apart from uncertain ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    /// Answer `503` with a gateway's HTML page.
    Error,
    /// Close the connection with no answer.
    Drop,
    /// Answer nothing for ten minutes (the client's timeout ends it first).
    Hang,
}

impl TokenFault {
    fn as_str(self) -> &'static str {
        match self {
            TokenFault::Error => "error",
            TokenFault::Drop => "drop",
            TokenFault::Hang => "hang",
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rate_limit: None,
            retry_after: false,
            retry_after_http_date: false,
            error_rate: 0.0,
            error_after_apply: 0.0,
            seed: 0,
            latency: Duration::ZERO,
            malformed_rate: 0.0,
            drop_rate: 0.0,
            error_status: None,
            token: None,
            writes_only: false,
        }
    }
}

impl Faults {
    /// True when anything at all is injected.
    pub fn is_active(&self) -> bool {
        self.rate_limit.is_some()
            || fraction(self.error_rate) > 0.0
            || fraction(self.malformed_rate) > 0.0
            || fraction(self.drop_rate) > 0.0
            || !self.latency.is_zero()
            || self.token.is_some()
    }
}

/// A one-line summary for the start-up log, e.g. `rate limit 300/300s (Retry-After in
/// seconds), 20% 5xx (50% after applying), seed 7`.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_active() {
            return f.write_str("none");
        }
        let mut parts = Vec::new();
        if let Some((limit, window)) = self.rate_limit {
            let header = if self.retry_after_http_date {
                "Retry-After as an HTTP date"
            } else if self.retry_after {
                "Retry-After in seconds"
            } else {
                "no Retry-After"
            };
            parts.push(format!(
                "rate limit {limit}/{} ({header})",
                window_short(window)
            ));
        }
        let after = fraction(self.error_after_apply) * 100.0;
        if fraction(self.error_rate) > 0.0 {
            let kind = self
                .error_status
                .map_or_else(|| "5xx".to_owned(), |s| s.to_string());
            parts.push(format!(
                "{}% {kind} ({after}% after applying)",
                fraction(self.error_rate) * 100.0
            ));
        }
        if fraction(self.drop_rate) > 0.0 {
            parts.push(format!(
                "{}% dropped connections ({after}% after applying)",
                fraction(self.drop_rate) * 100.0
            ));
        }
        if fraction(self.malformed_rate) > 0.0 {
            parts.push(format!(
                "{}% truncated JSON",
                fraction(self.malformed_rate) * 100.0
            ));
        }
        if !self.latency.is_zero() {
            parts.push(format!("latency {} ms", self.latency.as_millis()));
        }
        if let Some(t) = self.token {
            parts.push(format!("token endpoint: {}", t.as_str()));
        }
        if self.writes_only {
            parts.push("errors and drops on writes only".into());
        }
        parts.push(format!("seed {}", self.seed));
        f.write_str(&parts.join(", "))
    }
}

/// Request counts for tests and diagnostics ([`super::Simulator::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// API requests per path, lowercased, numeric segments replaced by `{id}`
    /// (`"/api/tickets/{id}"`). Every API request counts, faulted or not.
    pub per_path: BTreeMap<String, usize>,
    /// Requests answered `429` by the rate limit.
    pub rate_limited: usize,
    /// Injected 502/503/504s, before or after processing.
    pub injected_errors: usize,
    /// Successful answers sent with a truncated body.
    pub malformed: usize,
    /// Connections dropped with no answer, before or after processing.
    pub dropped: usize,
    /// Token requests answered with an injected fault.
    pub token_faults: usize,
    /// Most accepted (non-429) API requests arriving within one rolling window of the
    /// configured rate limit; 0 without a rate limit.
    pub max_in_window: usize,
}

/// An injected fault, as recorded in [`LoggedRequest::fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    RateLimited,
    ErrorBefore,
    ErrorAfter,
    Malformed,
    DroppedBefore,
    DroppedAfter,
    /// A token request answered by [`Faults::token`].
    Token,
}

impl Fault {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Fault::RateLimited => "rate_limited",
            Fault::ErrorBefore => "error_before",
            Fault::ErrorAfter => "error_after",
            Fault::Malformed => "malformed",
            Fault::DroppedBefore => "dropped_before",
            Fault::DroppedAfter => "dropped_after",
            Fault::Token => "token",
        }
    }

    pub(crate) fn is_drop(self) -> bool {
        matches!(self, Fault::DroppedBefore | Fault::DroppedAfter)
    }
}

/// What the gate does with one API request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fate {
    /// `429`; `retry_at` is when the oldest counting request leaves the window.
    RateLimited {
        message: String,
        retry_at: Instant,
        header: RetryAfter,
    },
    /// Process normally; cut the body short if the answer is a 2xx and `malformed`.
    Pass { malformed: bool },
    /// Answer a gateway error, before or after processing.
    Error { after: bool, status: StatusCode },
    /// Close the connection without an answer, before or after processing.
    Drop { after: bool },
}

/// How (and whether) a 429 carries `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    None,
    Seconds,
    HttpDate,
}

impl RetryAfter {
    /// The header value for a retry at `retry_at`, or `None` when it is not sent.
    pub(crate) fn value(self, retry_at: Instant) -> Option<String> {
        let wait = retry_at.saturating_duration_since(Instant::now());
        // Whole seconds, rounded up so a client that waits exactly this long is let in.
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        match self {
            RetryAfter::None => None,
            RetryAfter::Seconds => Some(secs.to_string()),
            RetryAfter::HttpDate => {
                // An HTTP date has one-second resolution; round up so that it is not early.
                let at = SystemTime::now() + wait;
                let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
                let whole = since.as_secs() + u64::from(since.subsec_nanos() > 0);
                Some(http_date(whole))
            }
        }
    }
}

/// Live fault configuration plus the dice and the rate-limit memory.
pub(crate) struct FaultState {
    faults: Faults,
    dice: Prng,
    /// Arrival times of accepted API requests that can still matter to the limit, sorted.
    accepted: Vec<Instant>,
}

/// How much later than its arrival a request may reach the gate and still be judged exactly:
/// pruning keeps this much history beyond the window.
const GATE_SLACK: Duration = Duration::from_secs(2);

impl FaultState {
    pub(crate) fn new(faults: Faults) -> Self {
        FaultState {
            dice: Prng::new(faults.seed),
            faults,
            accepted: Vec::new(),
        }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the configuration and reseeds the dice. The memory of recently accepted
    /// requests is kept, so a newly set limit counts traffic already in its window.
    pub(crate) fn set(&mut self, faults: Faults) {
        self.dice = Prng::new(faults.seed);
        if faults.rate_limit.is_none() {
            self.accepted.clear();
        }
        self.faults = faults;
    }

    /// Decides the fate of an API request that arrived at `at` (a `write` unless GET or HEAD),
    /// and the latency to add.
    pub(crate) fn decide(&mut self, at: Instant, write: bool) -> (Fate, Duration) {
        let latency = self.faults.latency;
        if let Some((limit, window)) = self.faults.rate_limit
            && let Err(retry_at) = self.admit(at, limit, window)
        {
            let header = if self.faults.retry_after_http_date {
                RetryAfter::HttpDate
            } else if self.faults.retry_after {
                RetryAfter::Seconds
            } else {
                RetryAfter::None
            };
            let fate = Fate::RateLimited {
                message: rate_limit_message(limit, window),
                retry_at,
                header,
            };
            return (fate, latency);
        }
        // Always four draws, so the sequence does not depend on which faults are enabled.
        let kind = self.dice.unit();
        let after = self.dice.unit() < fraction(self.faults.error_after_apply);
        let gateway = match self.dice.below(3) {
            0 => StatusCode::BAD_GATEWAY,
            1 => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::GATEWAY_TIMEOUT,
        };
        let status = self
            .faults
            .error_status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(gateway);
        let malformed = self.dice.unit() < fraction(self.faults.malformed_rate);
        let drop = fraction(self.faults.drop_rate);
        let error = fraction(self.faults.error_rate);
        let fate = if self.faults.writes_only && !write {
            Fate::Pass { malformed }
        } else if kind < drop {
            Fate::Drop { after }
        } else if kind < drop + error {
            Fate::Error { after, status }
        } else {
            Fate::Pass { malformed }
        };
        (fate, latency)
    }

    /// Accepts (and remembers) `at` unless some run of `limit + 1` accepted arrivals including
    /// it would fall within `window`; on refusal, returns when a retry could succeed.
    fn admit(&mut self, at: Instant, limit: u32, window: Duration) -> Result<(), Instant> {
        if let Some(horizon) = Instant::now().checked_sub(window + GATE_SLACK) {
            let old = self.accepted.partition_point(|t| *t <= horizon);
            self.accepted.drain(..old);
        }
        let pos = self.accepted.partition_point(|t| *t <= at);
        let n = limit as usize;
        // The sorted arrivals with `at` inserted at `pos`.
        let merged = |i: usize| -> Instant {
            match i.cmp(&pos) {
                std::cmp::Ordering::Less => self.accepted.get(i).copied().unwrap_or(at),
                std::cmp::Ordering::Equal => at,
                std::cmp::Ordering::Greater => self.accepted.get(i - 1).copied().unwrap_or(at),
            }
        };
        let len = self.accepted.len() + 1;
        for start in pos.saturating_sub(n)..=pos {
            let end = start + n;
            if end >= len {
                break;
            }
            let first = merged(start);
            if merged(end).saturating_duration_since(first) < window {
                return Err(first + window);
            }
        }
        self.accepted.insert(pos, at);
        Ok(())
    }
}

/// Halo's 429 text with the numbers filled in: "Rate Limit Reached - 300 Requests per rolling
/// 5 minute window".
pub(crate) fn rate_limit_message(limit: u32, window: Duration) -> String {
    format!(
        "Rate Limit Reached - {limit} Requests per rolling {} window",
        window_words(window)
    )
}

fn window_words(window: Duration) -> String {
    let ms = window.as_millis();
    if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{} minute", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{} second", ms / 1000)
    } else {
        format!("{ms} millisecond")
    }
}

fn window_short(window: Duration) -> String {
    let ms = window.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Halo's own failure for an injected 500: ASP.NET's exception shape, `{ClassName, Message}`.
pub(crate) fn server_error_body() -> String {
    serde_json::json!({
        "ClassName": "System.Exception",
        "Message": "Simulated failure: an unexpected error occurred.",
    })
    .to_string()
}

/// A gateway's error page for an injected 5xx.
pub(crate) fn gateway_body(status: StatusCode) -> String {
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
}

/// The first half of a JSON body, checked to be invalid (a prefix of an object or array always
/// is; anything else falls back to a lone `{"`).
pub(crate) fn truncate_json(body: &[u8]) -> Vec<u8> {
    let cut = body.get(..body.len() / 2).unwrap_or_default();
    if cut.is_empty() || serde_json::from_slice::<serde_json::Value>(cut).is_ok() {
        b"{\"".to_vec()
    } else {
        cut.to_vec()
    }
}

/// Clamps a rate to `0..=1` (NaN is 0).
fn fraction(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// RFC 9110 IMF-fixdate for whole seconds since the Unix epoch:
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let weekday = DAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, unsigned form).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let month = MONTHS.get((month - 1) as usize).copied().unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `/API/Tickets/123/` → `/api/tickets/{id}`.
pub(crate) fn normalise_path(path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.parse::<i64>().is_ok() {
                "{id}".to_string()
            } else {
                s.to_ascii_lowercase()
            }
        })
        .collect();
    format!("/{}", segments.join("/"))
}

/// True for `/api` and everything under it, in any casing.
pub(crate) fn is_api(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p == "/api" || p.starts_with("/api/")
}

/// Accepted (not rate-limited) API requests of the log, by arrival time.
fn accepted_arrivals(log: &[LoggedRequest]) -> Vec<Instant> {
    let mut at: Vec<Instant> = log
        .iter()
        .filter(|r| is_api(&r.path) && r.fault.as_deref() != Some(Fault::RateLimited.as_str()))
        .map(|r| r.at)
        .collect();
    at.sort_unstable();
    at
}

/// The most accepted API requests whose arrivals fall within one rolling `window` (any run
/// spanning less than `window`).
pub(crate) fn max_in(log: &[LoggedRequest], window: Duration) -> usize {
    if window.is_zero() {
        return 0;
    }
    let at = accepted_arrivals(log);
    let mut best = 0;
    let mut start = 0;
    for (end, t) in at.iter().enumerate() {
        // `start <= end` always holds: a run of one spans zero, less than any window.
        while let Some(first) = at.get(start)
            && t.saturating_duration_since(*first) >= window
        {
            start += 1;
        }
        best = best.max((end + 1).saturating_sub(start));
    }
    best
}

pub(crate) fn stats(log: &[LoggedRequest], window: Option<Duration>) -> RequestStats {
    let mut s = RequestStats {
        token_faults: log
            .iter()
            .filter(|r| r.fault.as_deref() == Some(Fault::Token.as_str()))
            .count(),
        ..RequestStats::default()
    };
    for r in log.iter().filter(|r| is_api(&r.path)) {
        *s.per_path.entry(normalise_path(&r.path)).or_default() += 1;
        match r.fault.as_deref() {
            Some("rate_limited") => s.rate_limited += 1,
            Some("error_before" | "error_after") => s.injected_errors += 1,
            Some("malformed") => s.malformed += 1,
            Some("dropped_before" | "dropped_after") => s.dropped += 1,
            _ => {}
        }
    }
    s.max_in_window = window.map_or(0, |w| max_in(log, w));
    s
}

/// Parses a rate limit `LIMIT/WINDOW`: `300/300s`, `500/3m`, `20/1500ms`, `300/300` (seconds).
/// For the `simulate` command line.
pub fn parse_rate_limit(s: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("expected LIMIT/WINDOW such as 300/300s, 500/3m or 20/1500ms, got {s:?}");
    let (n, w) = s.trim().split_once('/').ok_or_else(bad)?;
    let limit: u32 = n.trim().parse().map_err(|_| bad())?;
    let w = w.trim();
    let split = w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len());
    let (num, unit) = w.split_at(split);
    let num: u64 = num.parse().map_err(|_| bad())?;
    let window = match unit.trim() {
        "" | "s" => Duration::from_secs(num),
        "m" => Duration::from_secs(num.saturating_mul(60)),
        "ms" => Duration::from_millis(num),
        _ => return Err(bad()),
    };
    if limit == 0 {
        return Err(format!("the limit must be at least 1, got {s:?}"));
    }
    if window.is_zero() || window > Duration::from_secs(86_400) {
        return Err(format!(
            "the window must be between 1 ms and 24 hours, got {s:?}"
        ));
    }
    Ok((limit, window))
}

/// Parses an injected error status (`500` to `599`). For the `simulate` command line.
pub fn parse_error_status(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(x) if (500..=599).contains(&x) => Ok(x),
        _ => Err(format!("expected a 5xx status such as 500, got {s:?}")),
    }
}

/// Parses a token-endpoint fault: `error`, `drop` or `hang`. For the `simulate` command line.
pub fn parse_token_fault(s: &str) -> Result<TokenFault, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(TokenFault::Error),
        "drop" => Ok(TokenFault::Drop),
        "hang" => Ok(TokenFault::Hang),
        _ => Err(format!("expected error, drop or hang, got {s:?}")),
    }
}

/// Parses a fraction in `0..=1` (`0.2`). For the `simulate` command line.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "expected a fraction from 0 to 1 such as 0.2, got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 GMT");
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalise_path("/API/Tickets/123/"), "/api/tickets/{id}");
        assert_eq!(normalise_path("/api/Agent/me"), "/api/agent/me");
        assert_eq!(normalise_path("/api"), "/api");
    }

    #[test]
    fn messages_adapt_halos_text() {
        assert_eq!(
            rate_limit_message(300, Duration::from_secs(300)),
            "Rate Limit Reached - 300 Requests per rolling 5 minute window"
        );
        assert_eq!(
            rate_limit_message(20, Duration::from_secs(2)),
            "Rate Limit Reached - 20 Requests per rolling 2 second window"
        );
        assert!(rate_limit_message(5, Duration::from_millis(1500)).contains("1500 millisecond"));
    }

    #[test]
    fn truncated_json_never_parses() {
        for body in [
            &b"{\"a\":1}"[..],
            b"[]",
            b"[1,2,3]",
            b"1234",
            b"",
            b"\"text\"",
        ] {
            let cut = truncate_json(body);
            assert!(serde_json::from_slice::<serde_json::Value>(&cut).is_err());
        }
    }

    #[test]
    fn limits_and_fractions_parse() {
        assert_eq!(
            parse_rate_limit("300/300s"),
            Ok((300, Duration::from_secs(300)))
        );
        assert_eq!(
            parse_rate_limit("500/3m"),
            Ok((500, Duration::from_secs(180)))
        );
        assert_eq!(parse_rate_limit("7/20"), Ok((7, Duration::from_secs(20))));
        assert_eq!(
            parse_rate_limit("20/1500ms"),
            Ok((20, Duration::from_millis(1500)))
        );
        for bad in ["", "300", "0/5s", "5/0s", "x/5s", "5/5h", "-1/5s", "5/s"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_fraction("0.2"), Ok(0.2));
        for bad in ["-0.1", "1.5", "NaN", "x"] {
            assert!(parse_fraction(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_limit_is_exact_even_out_of_order() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut st = FaultState::new(Faults {
            rate_limit: Some((2, Duration::from_millis(100))),
            ..Faults::default()
        });
        assert!(st.admit(ms(0), 2, Duration::from_millis(100)).is_ok());
        assert!(st.admit(ms(60), 2, Duration::from_millis(100)).is_ok());
        // A third within 100 ms of the first is refused until the first leaves the window.
        assert_eq!(
            st.admit(ms(90), 2, Duration::from_millis(100)),
            Err(ms(100))
        );
        assert!(st.admit(ms(100), 2, Duration::from_millis(100)).is_ok());
        // Arriving earlier than the last accepted one but judged later: still exact.
        assert!(st.admit(ms(70), 2, Duration::from_millis(100)).is_err());
        assert!(st.admit(ms(200), 2, Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn a_fixed_error_status_and_writes_only_keep_the_seeded_sequence() {
        let base = Faults {
            error_rate: 0.3,
            error_after_apply: 0.5,
            seed: 4,
            ..Faults::default()
        };
        let now = Instant::now();
        let run = |faults: Faults, write: bool| {
            let mut st = FaultState::new(faults);
            (0..200)
                .map(|_| st.decide(now, write).0)
                .collect::<Vec<_>>()
        };
        let gateway = run(base.clone(), true);
        let five_hundred = run(
            Faults {
                error_status: Some(500),
                ..base.clone()
            },
            true,
        );
        // The same requests fail, before or after applying as before; only the status differs.
        assert_eq!(gateway.len(), five_hundred.len());
        let mut errors = 0;
        for (g, f) in gateway.iter().zip(&five_hundred) {
            match (g, f) {
                (
                    Fate::Error { after: a, status },
                    Fate::Error {
                        after: b,
                        status: s,
                    },
                ) => {
                    errors += 1;
                    assert_eq!(a, b);
                    assert!(matches!(status.as_u16(), 502..=504));
                    assert_eq!(*s, StatusCode::INTERNAL_SERVER_ERROR);
                }
                (g, f) => assert_eq!(g, f),
            }
        }
        assert!(errors > 30, "{errors}");
        // Writes only: reads pass, writes fail as before.
        let writes_only = Faults {
            writes_only: true,
            ..base.clone()
        };
        assert!(
            run(writes_only.clone(), false)
                .iter()
                .all(|f| matches!(f, Fate::Pass { .. }))
        );
        assert_eq!(run(writes_only, true), gateway);
        assert!(serde_json::from_str::<serde_json::Value>(&server_error_body()).is_ok());
        assert_eq!(parse_error_status("500"), Ok(500));
        assert!(parse_error_status("404").is_err());
        assert_eq!(parse_token_fault("Hang"), Ok(TokenFault::Hang));
        assert!(parse_token_fault("slow").is_err());
    }

    #[test]
    fn the_dice_are_seeded() {
        let faults = Faults {
            error_rate: 0.3,
            drop_rate: 0.1,
            malformed_rate: 0.2,
            error_after_apply: 0.5,
            seed: 9,
            ..Faults::default()
        };
        let now = Instant::now();
        let run = || {
            let mut st = FaultState::new(faults.clone());
            (0..100).map(|_| st.decide(now, true).0).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
