//! The rolling-window rate budget shared by every session that talks to one Halo tenant.
//!
//! Halo answers 429 past "300 Requests per rolling 5 minute window". Our own limiter must never
//! fail a call Halo would have accepted, so a request that finds the budget spent *waits* for a
//! slot (up to a bound) instead of failing.
//!
//! Correctness at the window's edge: a slot is stamped when the *response* arrives, and counts as
//! "now" while the request is in flight. Halo sees each request somewhere between our send and
//! our receipt, so spacing the next send one window after the receipt of the oldest counted
//! request guarantees Halo never sees more than `limit` requests in any window, whatever the
//! network delays. (Stamping at send time could let Halo see `limit + 1` when an old request was
//! delayed in transit.)

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use parking_lot::Mutex;

/// `limit` requests per rolling `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub window: Duration,
}

impl RateLimit {
    /// The only figure Halo itself has printed: 300 requests per rolling 5 minutes.
    pub const HALO_DEFAULT: RateLimit = RateLimit {
        limit: 300,
        window: Duration::from_secs(300),
    };

    /// Parses `300/300s`, `500/3m`, `700/5min`, `10/1s`, `300/300` (seconds).
    pub fn parse(s: &str) -> Result<RateLimit, String> {
        let bad = || format!("expected LIMIT/WINDOW such as 300/300s or 500/3m, got {s:?}");
        let (n, w) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = n.trim().parse().map_err(|_| bad())?;
        let w = w.trim();
        let split = w
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(w.len());
        let (num, unit) = w.split_at(split);
        let num: f64 = num.parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "" | "s" | "sec" | "secs" => num,
            "m" | "min" | "mins" => num * 60.0,
            "h" => num * 3600.0,
            _ => return Err(bad()),
        };
        if limit == 0 || !(secs > 0.0 && secs <= 86_400.0) {
            return Err(bad());
        }
        Ok(RateLimit {
            limit,
            window: Duration::from_secs_f64(secs),
        })
    }
}

/// What `halo_status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetStatus {
    /// Requests counted in the current window (in flight included).
    pub used: u32,
    /// Of those, requests whose answer has not been read yet (each holds its slot open).
    pub in_flight: u32,
    pub limit: u32,
    pub window_s: f64,
    /// Milliseconds until a slot frees, when the budget is spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_free_in_ms: Option<u64>,
    /// Requests that had to wait for a slot since start.
    pub waited: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the Halo rate budget ({limit} requests per {window_s} s) is spent and no slot frees within \
     {max_wait_s} s; try again in {retry_in_s} s"
)]
pub struct BudgetExhausted {
    pub limit: u32,
    pub window_s: u64,
    pub max_wait_s: u64,
    pub retry_in_s: u64,
}

struct State {
    /// One entry per counted request, oldest first: `None` while in flight, then its receipt
    /// time.
    slots: VecDeque<(u64, Option<Instant>)>,
    next_id: u64,
    waited: u64,
}

/// Shared budget; clone the `Arc`.
pub struct RateBudget {
    limit: RateLimit,
    max_wait: Duration,
    state: Mutex<State>,
    warned: AtomicBool,
}

/// A counted request; dropping it stamps the slot with the receipt time.
pub struct Permit {
    budget: Arc<RateBudget>,
    id: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut st = self.budget.state.lock();
        if let Some(slot) = st.slots.iter_mut().find(|(id, _)| *id == self.id) {
            slot.1 = Some(now);
        }
    }
}

impl RateBudget {
    pub fn new(limit: RateLimit, max_wait: Duration) -> Arc<RateBudget> {
        Arc::new(RateBudget {
            limit,
            max_wait,
            state: Mutex::new(State {
                slots: VecDeque::with_capacity(limit.limit as usize),
                next_id: 0,
                waited: 0,
            }),
            warned: AtomicBool::new(false),
        })
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Drops slots whose receipt is a full window ago.
    fn prune(&self, st: &mut State, now: Instant) {
        while let Some((_, Some(at))) = st.slots.front() {
            if now.duration_since(*at) >= self.limit.window {
                st.slots.pop_front();
            } else {
                break;
            }
        }
    }

    /// When the oldest slot frees, if the budget is spent. `None` in flight means "unknown, soon".
    fn free_at(&self, st: &State) -> Option<Option<Instant>> {
        if (st.slots.len() as u32) < self.limit.limit {
            return None;
        }
        Some(
            st.slots
                .iter()
                .filter_map(|(_, at)| *at)
                .min()
                .map(|at| at + self.limit.window),
        )
    }

    /// Waits for a slot (at most the configured maximum wait) and takes it.
    pub async fn acquire(self: &Arc<Self>) -> Result<Permit, BudgetExhausted> {
        let deadline = Instant::now() + self.max_wait;
        let mut counted_wait = false;
        loop {
            let wait_until = {
                let now = Instant::now();
                let mut st = self.state.lock();
                self.prune(&mut st, now);
                match self.free_at(&st) {
                    None => {
                        let id = st.next_id;
                        st.next_id += 1;
                        st.slots.push_back((id, None));
                        let used = st.slots.len() as u32;
                        drop(st);
                        self.warn_if_high(used);
                        return Ok(Permit {
                            budget: Arc::clone(self),
                            id,
                        });
                    }
                    // Every counted request is still in flight: check again shortly.
                    Some(None) => now + Duration::from_millis(20),
                    Some(Some(at)) => at,
                }
            };
            if wait_until > deadline {
                let retry_in = wait_until.saturating_duration_since(Instant::now());
                return Err(BudgetExhausted {
                    limit: self.limit.limit,
                    window_s: self.limit.window.as_secs(),
                    max_wait_s: self.max_wait.as_secs(),
                    retry_in_s: retry_in.as_secs().max(1),
                });
            }
            if !counted_wait {
                counted_wait = true;
                self.state.lock().waited += 1;
                tracing::info!(
                    wait_ms = wait_until
                        .saturating_duration_since(Instant::now())
                        .as_millis() as u64,
                    "Halo rate budget spent; waiting for a slot"
                );
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(wait_until)).await;
        }
    }

    fn warn_if_high(&self, used: u32) {
        let high = used * 5 >= self.limit.limit * 4;
        if high && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                used,
                limit = self.limit.limit,
                window_s = self.limit.window.as_secs(),
                "Halo rate budget is 80% used"
            );
        } else if !high && used * 2 < self.limit.limit {
            // Re-arm the warning once use has fallen well below the mark.
            self.warned.store(false, Ordering::Relaxed);
        }
    }

    pub fn status(&self) -> BudgetStatus {
        let now = Instant::now();
        let mut st = self.state.lock();
        self.prune(&mut st, now);
        let next_free_in_ms = self.free_at(&st).map(|at| {
            at.map(|at| at.saturating_duration_since(now).as_millis() as u64)
                .unwrap_or(0)
        });
        BudgetStatus {
            used: st.slots.len() as u32,
            in_flight: st.slots.iter().filter(|(_, at)| at.is_none()).count() as u32,
            limit: self.limit.limit,
            window_s: self.limit.window.as_secs_f64(),
            next_free_in_ms,
            waited: st.waited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32, ms: u64) -> RateLimit {
        RateLimit {
            limit: n,
            window: Duration::from_millis(ms),
        }
    }

    #[test]
    fn parses_limits() {
        assert_eq!(
            RateLimit::parse("300/300s").unwrap(),
            RateLimit::HALO_DEFAULT
        );
        assert_eq!(RateLimit::parse("300/5m").unwrap(), RateLimit::HALO_DEFAULT);
        assert_eq!(
            RateLimit::parse(" 500 / 3min ").unwrap().window,
            Duration::from_secs(180)
        );
        assert_eq!(
            RateLimit::parse("10/1.5").unwrap().window,
            Duration::from_millis(1500)
        );
        for bad in ["", "300", "0/5m", "x/5m", "300/5y", "300/0s", "300/-1s"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn never_more_than_limit_in_any_window() {
        let b = RateBudget::new(limit(5, 200), Duration::from_secs(5));
        let started = Instant::now();
        let mut stamps = Vec::new();
        for _ in 0..12 {
            let p = b.acquire().await.unwrap();
            stamps.push(Instant::now());
            drop(p);
        }
        // 12 requests at 5 per 200 ms need at least two full windows.
        assert!(started.elapsed() >= Duration::from_millis(400));
        for (i, a) in stamps.iter().enumerate() {
            let within = stamps[i..]
                .iter()
                .filter(|b| b.duration_since(*a) < Duration::from_millis(200))
                .count();
            assert!(within <= 5, "{within} requests within one window");
        }
        assert!(b.status().waited >= 2);
    }

    #[tokio::test]
    async fn in_flight_requests_hold_their_slot() {
        let b = RateBudget::new(limit(2, 50), Duration::from_millis(300));
        let p1 = b.acquire().await.unwrap();
        let p2 = b.acquire().await.unwrap();
        // Both still in flight after a whole window: no slot frees.
        tokio::time::sleep(Duration::from_millis(80)).await;
        let third = tokio::time::timeout(Duration::from_millis(60), b.acquire()).await;
        assert!(
            third.is_err(),
            "a third request got in while two were in flight"
        );
        drop(p1);
        // p1's slot frees one window after its receipt.
        let t = Instant::now();
        let p3 = b.acquire().await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(40));
        drop((p2, p3));
    }

    /// A cancelled call drops its request wherever it is: waiting for a slot takes none, and a
    /// dropped permit is stamped like an answered one (Halo may have seen the request).
    #[tokio::test]
    async fn dropped_requests_leave_no_slot_in_flight() {
        use futures::FutureExt;
        let b = RateBudget::new(limit(1, 60_000), Duration::from_secs(120));
        let p = b.acquire().await.unwrap();
        assert_eq!(b.status().in_flight, 1);
        // The budget is spent: the next request queues; the caller gives up.
        assert!(b.acquire().now_or_never().is_none());
        drop(p);
        let s = b.status();
        assert_eq!((s.used, s.in_flight), (1, 0));
    }

    #[tokio::test]
    async fn waits_are_bounded_with_a_clear_error() {
        let b = RateBudget::new(limit(1, 10_000), Duration::from_millis(50));
        drop(b.acquire().await.unwrap());
        let e = b.acquire().await.err().unwrap();
        assert_eq!(e.limit, 1);
        assert!(e.to_string().contains("no slot frees within"), "{e}");
        let s = b.status();
        assert_eq!(s.used, 1);
        assert!(s.next_free_in_ms.unwrap() > 9_000);
    }
}
