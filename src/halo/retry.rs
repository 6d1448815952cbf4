//! Which failures may be retried, and how long to wait.
//!
//! The rule that keeps writes safe: a request is repeated only when repeating it cannot make a
//! second record. Reads (GET) and deletes are repeatable. Creates and updates (POST) are
//! repeated only when the failure proves Halo never took the request: the connection was
//! refused, or Halo said 429 (rate limited, nothing processed). After a timeout, a reset or a
//! gateway error mid-write, nobody knows whether Halo applied it, so the caller is told exactly
//! that, with the call that checks.

use std::time::{Duration, SystemTime};

use reqwest::Method;

use super::HaloError;

/// Retry policy settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 429s and for failures separately.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// The longest a `Retry-After` may ask us to wait; longer and the call fails with the hint.
    pub max_retry_after: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Try again after this long.
    RetryAfter(Duration),
    /// A write failed in a way that does not tell whether Halo applied it.
    Uncertain,
    /// Give up with this error.
    Fail,
}

fn repeatable(method: &Method) -> bool {
    *method == Method::GET || *method == Method::DELETE || *method == Method::HEAD
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

    /// `rate_limited` and `failed` count earlier retries of each kind.
    pub fn decide(
        &self,
        method: &Method,
        error: &HaloError,
        rate_limited: u32,
        failed: u32,
    ) -> Decision {
        match error {
            HaloError::RateLimited { retry_after } => {
                if rate_limited >= self.max_retries {
                    return Decision::Fail;
                }
                match retry_after {
                    Some(d) if *d > self.max_retry_after => Decision::Fail,
                    Some(d) => Decision::RetryAfter(*d),
                    None => Decision::RetryAfter(self.backoff(rate_limited)),
                }
            }
            // The connection was never made: Halo did not see the request.
            HaloError::Connect { .. } => {
                if failed >= self.max_retries {
                    Decision::Fail
                } else {
                    Decision::RetryAfter(self.backoff(failed))
                }
            }
            HaloError::Server {
                status: 502..=504, ..
            } => self.repeat_or_uncertain(method, failed),
            HaloError::Timeout { .. } | HaloError::Transport { .. } | HaloError::Decode { .. } => {
                self.repeat_or_uncertain(method, failed)
            }
            _ => Decision::Fail,
        }
    }

    fn repeat_or_uncertain(&self, method: &Method, failed: u32) -> Decision {
        if !repeatable(method) {
            Decision::Uncertain
        } else if failed >= self.max_retries {
            Decision::Fail
        } else {
            Decision::RetryAfter(self.backoff(failed))
        }
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
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(60),
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
    fn writes_are_retried_only_when_halo_never_saw_them() {
        let p = policy();
        let post = Method::POST;
        let limited = HaloError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            p.decide(&post, &limited, 0, 0),
            Decision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(p.decide(&post, &limited, 3, 0), Decision::Fail);
        let refused = HaloError::Connect {
            host: "h".into(),
            detail: "refused".into(),
        };
        assert!(matches!(
            p.decide(&post, &refused, 0, 0),
            Decision::RetryAfter(_)
        ));
        for e in [
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
        ] {
            assert_eq!(p.decide(&post, &e, 0, 0), Decision::Uncertain, "{e}");
            assert!(matches!(
                p.decide(&Method::GET, &e, 0, 0),
                Decision::RetryAfter(_)
            ));
            assert!(matches!(
                p.decide(&Method::DELETE, &e, 2, 2),
                Decision::RetryAfter(_)
            ));
            assert_eq!(p.decide(&Method::GET, &e, 0, 3), Decision::Fail);
        }
        assert_eq!(p.decide(&Method::GET, &server(500), 0, 0), Decision::Fail);
        let too_long = HaloError::RateLimited {
            retry_after: Some(Duration::from_secs(600)),
        };
        assert_eq!(p.decide(&Method::GET, &too_long, 0, 0), Decision::Fail);
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
