//! The circuit breaker: when Halo keeps failing, stop hammering it.
//!
//! After `threshold` consecutive failed calls (5xx, timeouts, lost connections — not 4xx, which
//! prove Halo is up) the breaker opens: calls fail at once, saying when the next try goes out.
//! After the cooldown one call is let through as a probe (half-open); its success closes the
//! breaker, its failure opens it for another cooldown. Failures are counted per call, after its
//! retries, so a flaky Halo that recovers within a call's retries does not trip it.

use std::time::Duration;

// tokio's clock, which is the system's monotonic clock except in a test that pauses it: the
// cooldown can then be crossed with `tokio::time::advance` instead of a real wait.
use tokio::time::Instant;

use parking_lot::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

/// How a call ended, as far as Halo's health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Halo answered.
    Healthy,
    /// Halo failed (5xx, timeout, lost connection).
    Failed,
    /// Nothing learned (e.g. our own rate budget refused before sending).
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Halo failed {failures} calls in a row, so calls are paused for {cooldown_s} s to let it \
     recover; {when}"
)]
pub struct CircuitOpen {
    pub failures: u32,
    pub cooldown_s: u64,
    pub when: String,
}

/// What `halo_status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BreakerStatus {
    /// "closed" (normal), "open" (failing fast) or "half-open" (a probe is under way).
    pub state: &'static str,
    pub consecutive_failures: u32,
    pub threshold: u32,
    pub cooldown_s: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_s: Option<u64>,
    /// Times it has opened since start.
    pub opened: u64,
}

struct Inner {
    state: State,
    failures: u32,
    opened: u64,
}

pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

/// A call let through; report how it ended with [`Pass::finish`]. Dropped unfinished (the call
/// was cancelled), a probe leaves the breaker ready for another probe.
pub struct Pass<'a> {
    breaker: &'a Breaker,
    probe: bool,
    finished: bool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner {
                state: State::Closed,
                failures: 0,
                opened: 0,
            }),
        }
    }

    /// Lets a call through, or refuses it while the breaker is open.
    pub fn enter(&self) -> Result<Pass<'_>, CircuitOpen> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        match inner.state {
            State::Closed => Ok(Pass {
                breaker: self,
                probe: false,
                finished: false,
            }),
            State::Open { until } if now >= until => {
                inner.state = State::HalfOpen;
                tracing::info!("circuit breaker half-open: sending one probe to Halo");
                Ok(Pass {
                    breaker: self,
                    probe: true,
                    finished: false,
                })
            }
            State::Open { until } => Err(CircuitOpen {
                failures: inner.failures,
                cooldown_s: self.cooldown.as_secs(),
                when: format!(
                    "the next try goes out in {} s",
                    until.saturating_duration_since(now).as_secs().max(1)
                ),
            }),
            State::HalfOpen => Err(CircuitOpen {
                failures: inner.failures,
                cooldown_s: self.cooldown.as_secs(),
                when: "a probe call is checking Halo now; try again in a moment".into(),
            }),
        }
    }

    fn record(&self, probe: bool, outcome: Outcome) {
        let mut inner = self.inner.lock();
        match outcome {
            Outcome::Healthy => {
                if inner.state != State::Closed {
                    tracing::info!("circuit breaker closed: Halo answers again");
                }
                inner.state = State::Closed;
                inner.failures = 0;
            }
            Outcome::Failed => {
                inner.failures = inner.failures.saturating_add(1);
                let trips =
                    probe || (inner.state == State::Closed && inner.failures >= self.threshold);
                if trips {
                    inner.state = State::Open {
                        until: Instant::now() + self.cooldown,
                    };
                    inner.opened += 1;
                    tracing::warn!(
                        failures = inner.failures,
                        cooldown_s = self.cooldown.as_secs(),
                        "circuit breaker open: Halo keeps failing; pausing calls"
                    );
                }
            }
            Outcome::Neutral => {
                if probe {
                    // Nothing learned: let the next call probe.
                    inner.state = State::Open {
                        until: Instant::now(),
                    };
                }
            }
        }
    }

    pub fn status(&self) -> BreakerStatus {
        let now = Instant::now();
        let inner = self.inner.lock();
        let (state, retry_in_s) = match inner.state {
            State::Closed => ("closed", None),
            State::Open { until } => ("open", Some(until.saturating_duration_since(now).as_secs())),
            State::HalfOpen => ("half-open", Some(0)),
        };
        BreakerStatus {
            state,
            consecutive_failures: inner.failures,
            threshold: self.threshold,
            cooldown_s: self.cooldown.as_secs(),
            retry_in_s,
            opened: inner.opened,
        }
    }
}

impl Pass<'_> {
    pub fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.breaker.record(self.probe, outcome);
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if !self.finished && self.probe {
            self.breaker.record(true, Outcome::Neutral);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_through_a_probe() {
        let b = Breaker::new(3, Duration::from_millis(50));
        for _ in 0..2 {
            b.enter().unwrap().finish(Outcome::Failed);
        }
        assert_eq!(b.status().state, "closed");
        // A success resets the count.
        b.enter().unwrap().finish(Outcome::Healthy);
        for _ in 0..3 {
            b.enter().unwrap().finish(Outcome::Failed);
        }
        let s = b.status();
        assert_eq!((s.state, s.opened), ("open", 1));
        let e = b.enter().err().unwrap().to_string();
        assert!(
            e.contains("failed 3 calls in a row") && e.contains("next try"),
            "{e}"
        );

        std::thread::sleep(Duration::from_millis(60));
        let probe = b.enter().unwrap();
        assert_eq!(b.status().state, "half-open");
        assert!(b.enter().is_err(), "only one probe at a time");
        probe.finish(Outcome::Failed);
        assert_eq!(b.status().state, "open");
        assert_eq!(b.status().opened, 2);

        std::thread::sleep(Duration::from_millis(60));
        b.enter().unwrap().finish(Outcome::Healthy);
        let s = b.status();
        assert_eq!((s.state, s.consecutive_failures), ("closed", 0));
    }

    #[test]
    fn neutral_outcomes_and_cancelled_probes() {
        let b = Breaker::new(1, Duration::from_millis(10));
        b.enter().unwrap().finish(Outcome::Neutral);
        assert_eq!(b.status().state, "closed");
        b.enter().unwrap().finish(Outcome::Failed);
        std::thread::sleep(Duration::from_millis(15));
        drop(b.enter().unwrap()); // a cancelled probe
        assert!(b.enter().is_ok(), "another probe may go");
    }
}
