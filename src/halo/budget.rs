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
//!
//! Learning a lower limit. The configured figure is only a belief: the one figure Halo has
//! printed is 300 per rolling 5 minutes, other tenants (or other integrations sharing the
//! tenant) leave less, and Halo is not known to send `Retry-After` (halo-api.md §6.3). A 429
//! without `Retry-After` therefore says "less than you think" and nothing about the window. The
//! budget reacts like TCP's congestion control (RFC 5681: halve what was in use, grow by one
//! per clean round):
//! - **shrink**: the learned limit becomes half the current one, and never more than Halo just
//!   accepted in the window, floored at [`LEARN_FLOOR`]. The learned window shrinks with it so
//!   the *rate* stays the configured one (Halo's window is unknown: a smaller burst at the same
//!   rate is the cheapest change that can satisfy a shorter window). Once the limit is at the
//!   floor, a further 429 halves the rate instead (the window doubles, up to the configured
//!   one). One reaction per generation of requests: 429s for requests sent before the last
//!   change say nothing new (they were sent under the old figure) and are ignored.
//! - **recover**: after every learned window with no 429, the limit grows by one (the window
//!   grows too when needed so the rate never exceeds the configured one), until the configured
//!   figure is back.
//!
//! Requests answered 429 keep their slot: Halo saw them, and whether Halo counts them is not
//! known.

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

/// The smallest limit the budget learns: below this, a 429 halves the rate instead.
pub const LEARN_FLOOR: u32 = 5;

/// What `halo_status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetStatus {
    /// Requests counted in the current (effective) window, in flight included.
    pub used: u32,
    /// Of those, requests whose answer has not been read yet (each holds its slot open).
    pub in_flight: u32,
    /// The effective limit: the learned one after Halo's 429s, else the configured one.
    pub limit: u32,
    pub window_s: f64,
    /// Milliseconds until a slot frees, when the budget is spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_free_in_ms: Option<u64>,
    /// Requests that had to wait for a slot since start.
    pub waited: u64,
    /// The configured figure, shown only while a lower one has been learned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured: Option<RateFigure>,
    /// 429s Halo answered since start.
    pub rate_limited: u64,
    /// Times the learned limit was lowered since start.
    pub shrinks: u64,
    /// Where the budget is kept when replicas share it: `redis`, or the local share this
    /// replica falls back to while Redis is unreachable. Absent for a budget of one process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<String>,
}

/// A limit per window, for status output.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RateFigure {
    pub limit: u32,
    pub window_s: f64,
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

impl BudgetExhausted {
    /// `limit` per `window` spent, after waiting up to `max_wait`; a slot frees in `retry_in`.
    pub(crate) fn new(
        limit: u32,
        window: Duration,
        max_wait: Duration,
        retry_in: Duration,
    ) -> BudgetExhausted {
        BudgetExhausted {
            limit,
            window_s: window.as_secs().max(1),
            max_wait_s: max_wait.as_secs(),
            retry_in_s: retry_in.as_secs().max(1),
        }
    }
}

/// One counted request.
struct Slot {
    id: u64,
    /// `None` while in flight, then the receipt time.
    at: Option<Instant>,
    /// Halo answered 429.
    refused: bool,
}

/// The figure learned from Halo's 429s.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Learned {
    limit: u32,
    window: Duration,
    /// Bumped at every change; permits carry the epoch they were taken in.
    epoch: u64,
    /// When the figure last changed (recovery counts clean windows from here).
    changed_at: Instant,
}

struct State {
    /// Counted requests, oldest first. Kept for the configured window (the longest there is).
    slots: VecDeque<Slot>,
    next_id: u64,
    waited: u64,
    learned: Learned,
    rate_limited: u64,
    shrinks: u64,
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
    epoch: u64,
}

impl Permit {
    /// Halo answered this request 429. Without `Retry-After`, the budget learns from it.
    pub fn rate_limited(&self, retry_after: bool) {
        self.budget
            .on_rate_limited(self.id, self.epoch, retry_after);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut st = self.budget.state.lock();
        if let Some(slot) = st.slots.iter_mut().find(|s| s.id == self.id) {
            slot.at = Some(now);
        }
    }
}

/// When the budget `(limit, window)` frees a slot among `slots` at `now`: `None` when one is
/// free, `Some(None)` when every counted request is still in flight.
fn free_at(
    slots: &VecDeque<Slot>,
    limit: u32,
    window: Duration,
    now: Instant,
) -> Option<Option<Instant>> {
    let counted = slots
        .iter()
        .filter(|s| s.at.is_none_or(|at| now.duration_since(at) < window));
    let n = counted.clone().count();
    if n < limit as usize {
        return None;
    }
    // `n - limit + 1` of the counted requests must leave the window.
    let mut receipts: Vec<Instant> = counted.filter_map(|s| s.at).collect();
    receipts.sort_unstable();
    Some(receipts.get(n - limit as usize).map(|at| *at + window))
}

impl RateBudget {
    pub fn new(limit: RateLimit, max_wait: Duration) -> Arc<RateBudget> {
        Arc::new(RateBudget {
            limit,
            max_wait,
            state: Mutex::new(State {
                slots: VecDeque::with_capacity(limit.limit.min(1000) as usize),
                next_id: 0,
                waited: 0,
                learned: Learned {
                    limit: limit.limit,
                    window: limit.window,
                    epoch: 0,
                    changed_at: Instant::now(),
                },
                rate_limited: 0,
                shrinks: 0,
            }),
            warned: AtomicBool::new(false),
        })
    }

    /// The configured limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// The limit in force now: the learned one, else the configured one.
    pub fn effective(&self) -> RateLimit {
        let mut st = self.state.lock();
        self.recover(&mut st, Instant::now());
        RateLimit {
            limit: st.learned.limit,
            window: st.learned.window,
        }
    }

    fn floor(&self) -> u32 {
        LEARN_FLOOR.min(self.limit.limit)
    }

    /// The shortest window that keeps `limit` within the configured rate.
    fn rate_window(&self, limit: u32) -> Duration {
        self.limit
            .window
            .mul_f64(f64::from(limit) / f64::from(self.limit.limit))
    }

    /// Drops slots whose receipt is a full configured window ago.
    fn prune(&self, st: &mut State, now: Instant) {
        while let Some(Slot { at: Some(at), .. }) = st.slots.front() {
            if now.duration_since(*at) >= self.limit.window {
                st.slots.pop_front();
            } else {
                break;
            }
        }
    }

    /// Additive recovery: one more request per clean learned window, up to the configured
    /// figure.
    fn recover(&self, st: &mut State, now: Instant) {
        let configured = (self.limit.limit, self.limit.window);
        let before = st.learned;
        while (st.learned.limit, st.learned.window) != configured
            && now.duration_since(st.learned.changed_at) >= st.learned.window
        {
            let l = &mut st.learned;
            l.changed_at += l.window;
            l.limit = (l.limit + 1).min(self.limit.limit);
            l.window = l
                .window
                .max(self.rate_window(l.limit))
                .min(self.limit.window);
            if l.limit == self.limit.limit {
                l.window = self.limit.window;
            }
        }
        if st.learned != before {
            st.learned.epoch += 1;
            let l = st.learned;
            if (l.limit, l.window) == configured {
                tracing::info!(
                    limit = l.limit,
                    window_s = l.window.as_secs_f64(),
                    "Halo rate budget back to the configured figure"
                );
            } else {
                tracing::info!(
                    limit = l.limit,
                    window_s = l.window.as_secs_f64(),
                    configured_limit = self.limit.limit,
                    configured_window_s = self.limit.window.as_secs_f64(),
                    "Halo rate budget recovering after a clean window"
                );
            }
        }
    }

    /// Halo answered 429 to the request of slot `id`, taken in `epoch`.
    fn on_rate_limited(&self, id: u64, epoch: u64, retry_after: bool) {
        self.learn_at(id, epoch, retry_after, Instant::now());
    }

    fn learn_at(&self, id: u64, epoch: u64, retry_after: bool, now: Instant) {
        let mut st = self.state.lock();
        st.rate_limited += 1;
        if let Some(slot) = st.slots.iter_mut().find(|s| s.id == id) {
            slot.refused = true;
        }
        // With Retry-After Halo says when to come back, and that is obeyed as such; only a bare
        // 429 leaves the budget to work out a safe pace.
        if retry_after {
            return;
        }
        self.recover(&mut st, now);
        if epoch != st.learned.epoch {
            return;
        }
        let l = st.learned;
        let floor = self.floor();
        let (limit, window) = if l.limit > floor {
            // What Halo just accepted within the window (answers received, not refused).
            let accepted = st
                .slots
                .iter()
                .filter(|s| !s.refused)
                .filter_map(|s| s.at)
                .filter(|at| now.duration_since(*at) < l.window)
                .count() as u32;
            let limit = (l.limit / 2).min(accepted).max(floor);
            // Keep the current rate (never above the configured one) with a smaller burst.
            let rate_window = l
                .window
                .mul_f64(f64::from(limit) / f64::from(l.limit))
                .max(self.rate_window(limit));
            (limit, rate_window)
        } else {
            (l.limit, (l.window * 2).min(self.limit.window))
        };
        if (limit, window) == (l.limit, l.window) {
            // Already as low as it goes: at least the clean window starts again.
            st.learned.changed_at = now;
            return;
        }
        st.learned = Learned {
            limit,
            window,
            epoch: l.epoch + 1,
            changed_at: now,
        };
        st.shrinks += 1;
        tracing::warn!(
            limit,
            window_s = window.as_secs_f64(),
            previous_limit = l.limit,
            previous_window_s = l.window.as_secs_f64(),
            configured_limit = self.limit.limit,
            configured_window_s = self.limit.window.as_secs_f64(),
            "Halo answered 429 without Retry-After: its limit is lower than the budget's; \
             lowering the rate budget"
        );
    }

    /// When a slot frees under both the configured and the learned figure.
    fn next_free(&self, st: &State, now: Instant) -> Option<Option<Instant>> {
        let configured = free_at(&st.slots, self.limit.limit, self.limit.window, now);
        let learned = free_at(&st.slots, st.learned.limit, st.learned.window, now);
        match (configured, learned) {
            (None, None) => None,
            (Some(a), None) | (None, Some(a)) => Some(a),
            (Some(a), Some(b)) => Some(match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            }),
        }
    }

    /// Waits for a slot (at most the configured maximum wait) and takes it.
    pub async fn acquire(self: &Arc<Self>) -> Result<Permit, BudgetExhausted> {
        self.acquire_by(None).await
    }

    /// Like [`Self::acquire`], giving up at `deadline` too when one is given.
    pub async fn acquire_by(
        self: &Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<Permit, BudgetExhausted> {
        let start = Instant::now();
        let own = start + self.max_wait;
        let deadline = deadline.map_or(own, |d| d.min(own));
        let mut counted_wait = false;
        loop {
            let wait_until = {
                let now = Instant::now();
                let mut st = self.state.lock();
                self.prune(&mut st, now);
                self.recover(&mut st, now);
                match self.next_free(&st, now) {
                    None => {
                        let id = st.next_id;
                        st.next_id += 1;
                        st.slots.push_back(Slot {
                            id,
                            at: None,
                            refused: false,
                        });
                        let epoch = st.learned.epoch;
                        let used = st.slots.len() as u32;
                        drop(st);
                        self.warn_if_high(used);
                        return Ok(Permit {
                            budget: Arc::clone(self),
                            id,
                            epoch,
                        });
                    }
                    // Every counted request is still in flight: check again shortly.
                    Some(None) => now + Duration::from_millis(20),
                    // The learned figure may grow meanwhile: look again at least once a second.
                    Some(Some(at)) => at.min(now + Duration::from_secs(1)),
                }
            };
            if wait_until > deadline {
                let effective = self.effective();
                let retry_in = {
                    let now = Instant::now();
                    let st = self.state.lock();
                    match self.next_free(&st, now) {
                        Some(Some(at)) => at.saturating_duration_since(now),
                        _ => Duration::from_secs(1),
                    }
                };
                return Err(BudgetExhausted::new(
                    effective.limit,
                    effective.window,
                    deadline.saturating_duration_since(start),
                    retry_in,
                ));
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
        self.status_at(Instant::now())
    }

    fn status_at(&self, now: Instant) -> BudgetStatus {
        let mut st = self.state.lock();
        self.prune(&mut st, now);
        self.recover(&mut st, now);
        let next_free_in_ms = self.next_free(&st, now).map(|at| {
            at.map(|at| at.saturating_duration_since(now).as_millis() as u64)
                .unwrap_or(0)
        });
        let l = st.learned;
        let used = st
            .slots
            .iter()
            .filter(|s| s.at.is_none_or(|at| now.duration_since(at) < l.window))
            .count() as u32;
        let learned = (l.limit, l.window) != (self.limit.limit, self.limit.window);
        BudgetStatus {
            used,
            in_flight: st.slots.iter().filter(|s| s.at.is_none()).count() as u32,
            limit: l.limit,
            window_s: l.window.as_secs_f64(),
            next_free_in_ms,
            waited: st.waited,
            configured: learned.then_some(RateFigure {
                limit: self.limit.limit,
                window_s: self.limit.window.as_secs_f64(),
            }),
            rate_limited: st.rate_limited,
            shrinks: st.shrinks,
            shared: None,
        }
    }

    /// Counts `n` requests as answered now. A replica that loses its shared budget starts its
    /// local share with its part of what the replicas had already used, so the window's total
    /// stays within the limit (see `shared_budget`).
    pub(crate) fn seed(&self, n: u32) {
        let now = Instant::now();
        let mut st = self.state.lock();
        for _ in 0..n {
            let id = st.next_id;
            st.next_id += 1;
            st.slots.push_back(Slot {
                id,
                at: Some(now),
                refused: false,
            });
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

    /// `n` requests answered at `at` (accepted), as permits would leave them.
    fn answered(b: &Arc<RateBudget>, n: usize, at: Instant) -> Vec<(u64, u64)> {
        let mut st = b.state.lock();
        (0..n)
            .map(|_| {
                let id = st.next_id;
                st.next_id += 1;
                st.slots.push_back(Slot {
                    id,
                    at: Some(at),
                    refused: false,
                });
                (id, st.learned.epoch)
            })
            .collect()
    }

    fn figure(s: &BudgetStatus) -> (u32, f64) {
        (s.limit, s.window_s)
    }

    #[test]
    fn a_bare_429_halves_the_limit_at_the_same_rate_once_per_generation() {
        let b = RateBudget::new(limit(300, 300_000), Duration::from_secs(60));
        let t0 = Instant::now();
        let sent = answered(&b, 40, t0);
        let (id, epoch) = sent[39];
        // A 429 with Retry-After is obeyed, not learned from.
        b.learn_at(id, epoch, true, t0);
        assert_eq!(figure(&b.status_at(t0)), (300, 300.0));
        assert_eq!(b.status_at(t0).configured, None);
        // Without: half the limit, but no more than Halo just accepted (39 of the 40), at the
        // configured rate.
        b.learn_at(id, epoch, false, t0);
        let s = b.status_at(t0);
        assert_eq!(figure(&s), (39, 39.0));
        assert_eq!(
            s.configured,
            Some(RateFigure {
                limit: 300,
                window_s: 300.0
            })
        );
        assert_eq!((s.rate_limited, s.shrinks), (2, 1));
        // More 429s for requests sent under the old figure say nothing new.
        for (id, epoch) in &sent[..10] {
            b.learn_at(*id, *epoch, false, t0);
        }
        assert_eq!(figure(&b.status_at(t0)), (39, 39.0));
        assert_eq!(b.status_at(t0).shrinks, 1);
        // All 40 still count within the learned 39 s: the next slot is one window away.
        assert_eq!(b.status_at(t0).next_free_in_ms, Some(39_000));
        // A 429 for a request sent under the new figure halves it again.
        let (id, epoch) = answered(&b, 1, t0)[0];
        b.learn_at(id, epoch, false, t0);
        assert_eq!(figure(&b.status_at(t0)), (19, 19.0));
    }

    #[test]
    fn at_the_floor_a_429_halves_the_rate_up_to_the_configured_window() {
        let b = RateBudget::new(limit(300, 300_000), Duration::from_secs(60));
        let t0 = Instant::now();
        // Nothing accepted in the window: straight to the floor.
        let (id, epoch) = answered(&b, 1, t0)[0];
        b.learn_at(id, epoch, false, t0);
        assert_eq!(figure(&b.status_at(t0)), (LEARN_FLOOR, 5.0));
        let mut windows = Vec::new();
        for _ in 0..8 {
            let (id, epoch) = answered(&b, 1, t0)[0];
            b.learn_at(id, epoch, false, t0);
            windows.push(b.status_at(t0).window_s);
        }
        assert_eq!(
            windows,
            [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
        );
        assert_eq!(b.status_at(t0).limit, LEARN_FLOOR);
        // A configured limit below the floor is its own floor.
        let small = RateBudget::new(limit(3, 1000), Duration::from_secs(1));
        let (id, epoch) = answered(&small, 1, t0)[0];
        small.learn_at(id, epoch, false, t0);
        assert_eq!(figure(&small.status_at(t0)), (3, 1.0));
    }

    #[test]
    fn the_limit_recovers_by_one_per_clean_window_up_to_the_configured_one() {
        let b = RateBudget::new(limit(20, 20_000), Duration::from_secs(60));
        let t0 = Instant::now();
        let sent = answered(&b, 12, t0);
        let (id, epoch) = sent[11];
        b.learn_at(id, epoch, false, t0);
        assert_eq!(figure(&b.status_at(t0)), (10, 10.0));
        let s = |secs: u64| figure(&b.status_at(t0 + Duration::from_secs(secs)));
        assert_eq!(s(9), (10, 10.0));
        assert_eq!(s(10), (11, 11.0));
        // The next step comes one (new, longer) window later.
        assert_eq!(s(20), (11, 11.0));
        assert_eq!(s(21), (12, 12.0));
        // A 429 under the recovered figure shrinks it again and restarts the clock.
        let t21 = t0 + Duration::from_secs(21);
        let (id, epoch) = answered(&b, 13, t21)[12];
        b.learn_at(id, epoch, false, t21);
        assert_eq!(s(21), (6, 6.0));
        assert_eq!(s(26), (6, 6.0));
        assert_eq!(s(27), (7, 7.0));
        // Long enough without a 429 and the configured figure is back.
        let back = b.status_at(t0 + Duration::from_secs(1000));
        assert_eq!((figure(&back), back.configured), ((20, 20.0), None));
    }

    #[tokio::test]
    async fn a_learned_limit_makes_callers_wait_instead_of_failing() {
        let b = RateBudget::new(limit(100, 10_000), Duration::from_secs(5));
        let t0 = Instant::now();
        // Halo accepted 4 and refused the fifth: the budget learns 5 (the floor) per 0.5 s.
        let sent = answered(&b, 5, t0);
        let (id, epoch) = sent[4];
        b.learn_at(id, epoch, false, t0);
        assert_eq!(figure(&b.status()), (5, 0.5));
        let waited = Instant::now();
        let p = b.acquire().await.unwrap();
        assert!(
            waited.elapsed() >= Duration::from_millis(400),
            "it waited for a slot"
        );
        assert_eq!(b.status().waited, 1);
        drop(p);
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
