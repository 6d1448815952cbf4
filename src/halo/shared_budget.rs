//! The rate budget of one Halo tenant shared by every replica, kept in Redis.
//!
//! Halo's limit is per tenant, not per process: three replicas each keeping the in-memory
//! budget of [`super::budget`] would send Halo three times its limit. This is the same rolling
//! window, done atomically in Redis by Lua scripts (one round trip per request):
//! - a request takes a slot *before* it is sent; the slot counts as in flight (scored with a
//!   lease deadline, so a replica that dies mid-request leaves a slot that ages out instead of
//!   one held forever) and is stamped with the receipt time when the answer has been read;
//! - the next request goes out only when fewer than `limit` slots are counted within the
//!   window, under both the configured and the learned figure, exactly as in memory;
//! - the learned limit (shrunk by bare 429s, recovering by one per clean window) is one
//!   figure in Redis, so a 429 seen by one replica slows them all.
//!
//! Every time is Redis's own clock (`TIME` inside the scripts), so replicas whose clocks
//! disagree still agree on the window. Keys share a hash tag so one Redis Cluster slot holds
//! a tenant's budget, and every key has a TTL.
//!
//! When Redis does not answer, a replica must neither stop nor spend the whole limit on its
//! own (the others might do the same): it falls back to a local budget of `limit ÷ replicas`
//! (`HALO_MCP_REPLICAS`), started with its part (`used ÷ replicas`) of what Redis last said the
//! window held, so the replicas together stay within the limit. It asks Redis again every
//! [`PROBE_EVERY`]; once Redis answers, the requests this replica sent meanwhile are added to
//! the shared window (as answered at that moment, which overcounts slightly and never under)
//! and the shared budget is used again.
//!
//! What it cannot see: requests another replica sent between its last answer from Redis and
//! the outage. Each replica's view is as fresh as its last request, so on a busy tenant the
//! error is a few requests at most, and on an idle one there is nothing to miss.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use super::budget::{
    self, BudgetExhausted, BudgetStatus, LEARN_FLOOR, RateBudget, RateFigure, RateLimit,
};
use crate::state::{COMMAND_TIMEOUT, RedisState, ttl_ms};

/// How often a replica that fell back asks Redis again.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long a replica back on Redis holds the other replicas' shares: long enough for each to
/// probe, come back and carry over what it sent on its own.
const RETURN_HOLD: Duration = Duration::from_secs(3);

/// How long the learned figure is kept without any request: long enough to span quiet hours,
/// and the figure is a belief about Halo that goes stale anyway.
const LEARNED_TTL: Duration = Duration::from_secs(24 * 3600);

/// Shared Lua helpers: Redis's clock, and the learned figure with its additive recovery (the
/// same steps as `RateBudget::recover`).
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function learned(key, cl, cw, now)
  local v = redis.call('HMGET', key, 'l', 'w', 'e', 'c')
  local l = tonumber(v[1]) or cl
  local w = tonumber(v[2]) or cw
  local e = tonumber(v[3]) or 0
  local c = tonumber(v[4]) or now
  local changed = false
  while (l ~= cl or w ~= cw) and now - c >= w do
    c = c + w
    l = math.min(l + 1, cl)
    w = math.min(math.max(w, math.floor(cw * l / cl)), cw)
    if l == cl then w = cw end
    changed = true
  end
  if changed then e = e + 1 end
  return l, w, e, c, changed
end
local function save(key, l, w, e, c, ttl)
  redis.call('HSET', key, 'l', l, 'w', w, 'e', e, 'c', c)
  redis.call('PEXPIRE', key, ttl)
end
"#;

/// KEYS: slots, learned, refused. ARGV: configured limit, configured window (ms), slot member,
/// lease (ms), carried-over count, carried-over member prefix, learned TTL (ms), reserved
/// count, how long the reservation holds (ms).
/// Returns {1, epoch, used, limit, window} when the slot is taken, else {0, wait ms (-1: every
/// counted request is in flight), used, limit, window}.
const ACQUIRE: &str = r#"
local now = now_ms()
local cl, cw = tonumber(ARGV[1]), tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - cw)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - cw)
for i = 1, tonumber(ARGV[5]) do
  redis.call('ZADD', KEYS[1], now, ARGV[6] .. i)
end
-- Slots stamped so that they leave every window `hold` ms from now.
local hold = math.min(tonumber(ARGV[9]), cw)
for i = 1, tonumber(ARGV[8]) do
  redis.call('ZADD', KEYS[1], now - cw + hold, ARGV[6] .. 'r' .. i)
end
local l, w, e, c, changed = learned(KEYS[2], cl, cw, now)
if changed then save(KEYS[2], l, w, e, c, ARGV[7]) end
local n_cfg = redis.call('ZCARD', KEYS[1])
local n_l = redis.call('ZCOUNT', KEYS[1], '(' .. (now - w), '+inf')
if n_cfg < cl and n_l < l then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], cw + 2 * lease)
  return {1, e, n_cfg + 1, l, w}
end
local function free_at(n, lim, win)
  if n < lim then return 0 end
  local s = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - win), '+inf', 'WITHSCORES', 'LIMIT', n - lim, 1)
  local at = tonumber(s[2])
  if at > now then return -1 end
  return at + win
end
local a = free_at(n_cfg, cl, cw)
local b = free_at(n_l, l, w)
local wait = -1
if a >= 0 and b >= 0 then wait = math.max(a, b, now) - now end
return {0, wait, n_cfg, l, w}
"#;

/// KEYS: slots. ARGV: member, configured window (ms). Stamps the receipt; returns the count.
const RECEIPT: &str = r#"
local now = now_ms()
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[2])), '+inf')
"#;

/// KEYS: slots, learned, refused. ARGV: configured limit, configured window (ms), the
/// permit's epoch, its member, the floor, learned TTL (ms). Returns {changed, limit, window}.
const LEARN: &str = r#"
local now = now_ms()
local cl, cw = tonumber(ARGV[1]), tonumber(ARGV[2])
local floor = tonumber(ARGV[5])
redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('PEXPIRE', KEYS[3], cw)
local l, w, e, c, changed = learned(KEYS[2], cl, cw, now)
if changed then save(KEYS[2], l, w, e, c, ARGV[6]) end
if tonumber(ARGV[3]) ~= e then return {0, l, w} end
local nl, nw
if l > floor then
  local received = redis.call('ZCOUNT', KEYS[1], '(' .. (now - w), now)
  local refused = redis.call('ZCOUNT', KEYS[3], '(' .. (now - w), now)
  local accepted = math.max(received - refused, 0)
  nl = math.max(math.min(math.floor(l / 2), accepted), floor)
  nw = math.max(math.floor(w * nl / l), math.floor(cw * nl / cl))
else
  nl = l
  nw = math.min(w * 2, cw)
end
if nl == l and nw == w then
  save(KEYS[2], l, w, e, now, ARGV[6])
  return {0, l, w}
end
save(KEYS[2], nl, nw, e + 1, now, ARGV[6])
return {1, nl, nw}
"#;

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}{body}"))
}

struct Scripts {
    acquire: redis::Script,
    receipt: redis::Script,
    learn: redis::Script,
}

static SCRIPTS: once_cell::sync::Lazy<Scripts> = once_cell::sync::Lazy::new(|| Scripts {
    acquire: script(ACQUIRE),
    receipt: script(RECEIPT),
    learn: script(LEARN),
});

/// What this replica last heard from Redis, for status and for sizing a fallback.
struct Seen {
    used: u32,
    limit: u32,
    window: Duration,
}

/// The local budget used while Redis is unreachable.
struct Fallback {
    budget: Arc<RateBudget>,
    /// When Redis is asked again.
    probe_at: Instant,
}

/// A tenant's budget in Redis, as one replica uses it.
pub struct SharedBudget {
    redis: Arc<RedisState>,
    slots: String,
    learned: String,
    refused: String,
    limit: RateLimit,
    max_wait: Duration,
    replicas: u32,
    /// Longest a slot may stay in flight: past it, the slot counts as answered at that time.
    lease: Duration,
    /// Names this replica's slots (random per process).
    replica: String,
    next_id: AtomicU64,
    seen: Mutex<Seen>,
    fallback: Mutex<Option<Fallback>>,
    waited: AtomicU64,
    rate_limited: AtomicU64,
    shrinks: AtomicU64,
    in_flight: Arc<AtomicU64>,
}

impl SharedBudget {
    /// `tenant` names the tenant (hashed into the keys); `lease` bounds a request's flight.
    pub fn new(
        redis: Arc<RedisState>,
        tenant: &str,
        limit: RateLimit,
        max_wait: Duration,
        replicas: u32,
        lease: Duration,
    ) -> Arc<SharedBudget> {
        // `{…}` is a Redis Cluster hash tag: the three keys of a tenant live in one slot, as
        // scripts require.
        let tag = format!("budget:{{{}}}", crate::state::digest(tenant));
        Arc::new(SharedBudget {
            slots: redis.key(&format!("{tag}:slots")),
            learned: redis.key(&format!("{tag}:learned")),
            refused: redis.key(&format!("{tag}:refused")),
            redis,
            limit,
            max_wait,
            replicas: replicas.max(1),
            lease,
            replica: format!("{:016x}", fastrand::u64(..)),
            next_id: AtomicU64::new(0),
            seen: Mutex::new(Seen {
                used: 0,
                limit: limit.limit,
                window: limit.window,
            }),
            fallback: Mutex::new(None),
            waited: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            shrinks: AtomicU64::new(0),
            in_flight: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The share of `limit` one replica may use on its own.
    fn share(&self, limit: u32) -> u32 {
        (limit / self.replicas).max(1)
    }

    /// Waits for a slot (at most the configured wait, or `deadline`) and takes it.
    pub async fn acquire_by(
        self: &Arc<Self>,
        deadline: Option<Instant>,
    ) -> Result<Permit, BudgetExhausted> {
        let start = Instant::now();
        let own = start + self.max_wait;
        let deadline = deadline.map_or(own, |d| d.min(own));
        let mut counted_wait = false;
        loop {
            let now = Instant::now();
            let local = {
                let fb = self.fallback.lock();
                fb.as_ref()
                    .filter(|f| now < f.probe_at)
                    .map(|f| (Arc::clone(&f.budget), f.probe_at))
            };
            if let Some((budget, probe_at)) = local {
                // Until the next probe, the local share decides.
                match budget.acquire_by(Some(deadline.min(probe_at))).await {
                    Ok(p) => return Ok(Permit::Local(p)),
                    Err(e) if Instant::now() >= deadline || probe_at >= deadline => return Err(e),
                    Err(_) => {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(probe_at)).await;
                        continue;
                    }
                }
            }
            match self.try_redis().await {
                Ok(Granted::Slot(permit)) => return Ok(Permit::Shared(permit)),
                Ok(Granted::Wait(wait)) => {
                    let wait_until = now + wait;
                    if wait_until > deadline {
                        let seen = self.seen.lock();
                        return Err(BudgetExhausted::new(
                            seen.limit,
                            seen.window,
                            deadline.saturating_duration_since(start),
                            wait,
                        ));
                    }
                    if !counted_wait {
                        counted_wait = true;
                        self.waited.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            wait_ms = wait.as_millis() as u64,
                            "shared Halo rate budget spent; waiting for a slot"
                        );
                    }
                    tokio::time::sleep_until(tokio::time::Instant::from_std(wait_until)).await;
                }
                Err(e) => self.fall_back(&e),
            }
        }
    }

    /// One attempt at a slot in Redis.
    async fn try_redis(self: &Arc<Self>) -> Result<Granted, String> {
        let (carry, carry_prefix, reserve) = {
            let fb = self.fallback.lock();
            match fb.as_ref() {
                // The requests sent on the local share still count in this window. The other
                // replicas may still be on their shares until their next probe, and Redis
                // knows nothing of what they send meanwhile: their shares are held for a
                // moment, until each has come back and carried its own requests over.
                Some(f) => {
                    let share = f.budget.status().limit;
                    let others = self.replicas.saturating_sub(1);
                    (
                        f.budget.status().used,
                        format!("carry:{}:", self.next_id()),
                        share.saturating_mul(others),
                    )
                }
                None => (0, String::new(), 0),
            }
        };
        let id = format!("{}:{}", self.replica, self.next_id());
        let mut conn = self.redis.conn();
        let mut call = SCRIPTS.acquire.prepare_invoke();
        call.key(&self.slots)
            .key(&self.learned)
            .key(&self.refused)
            .arg(self.limit.limit)
            .arg(ttl_ms(self.limit.window))
            .arg(&id)
            .arg(ttl_ms(self.lease))
            .arg(carry)
            .arg(&carry_prefix)
            .arg(ttl_ms(LEARNED_TTL))
            .arg(reserve)
            .arg(ttl_ms(RETURN_HOLD));
        let result: redis::RedisResult<Vec<i64>> =
            match tokio::time::timeout(COMMAND_TIMEOUT, call.invoke_async(&mut conn)).await {
                Ok(r) => r,
                Err(_) => Err(timed_out()),
            };
        self.redis.observe("rate budget", &result);
        let answer = result.map_err(|e| e.to_string())?;
        let [taken, x, used, limit, window_ms] = answer[..] else {
            return Err(format!(
                "unexpected answer from the budget script: {answer:?}"
            ));
        };
        if self.fallback.lock().take().is_some() {
            tracing::info!(
                carried = carry,
                "Redis answers again: back on the shared Halo rate budget"
            );
        }
        {
            let mut seen = self.seen.lock();
            seen.used = used.max(0) as u32;
            seen.limit = limit.max(1) as u32;
            seen.window = Duration::from_millis(window_ms.max(1) as u64);
        }
        if taken == 1 {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            return Ok(Granted::Slot(SharedPermit {
                budget: Arc::clone(self),
                member: id,
                epoch: x,
            }));
        }
        // Every counted request is in flight: look again shortly. Otherwise look again at
        // least once a second, since the learned figure may grow meanwhile.
        let wait = if x < 0 {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(x as u64).clamp(Duration::from_millis(1), Duration::from_secs(1))
        };
        Ok(Granted::Wait(wait))
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Redis failed: use (or keep using) the local share until the next probe.
    fn fall_back(&self, error: &str) {
        let mut fb = self.fallback.lock();
        let probe_at = Instant::now() + PROBE_EVERY;
        if let Some(f) = fb.as_mut() {
            f.probe_at = probe_at;
            return;
        }
        let seen = self.seen.lock();
        let share = self.share(seen.limit);
        let budget = RateBudget::new(
            RateLimit {
                limit: share,
                window: seen.window,
            },
            self.max_wait,
        );
        // What the window already held counts against this replica's share as if all of it
        // were its own. Dividing it between the replicas would assume the others sent nothing
        // since this replica last heard from Redis; counting it whole keeps the replicas
        // within the limit unless the others sent more than twice as much in that gap, at
        // the cost of a fuller first window during an outage.
        let part = seen.used.min(share);
        budget.seed(part);
        tracing::warn!(
            error,
            share,
            limit = seen.limit,
            replicas = self.replicas,
            already_used = part,
            "Redis is unreachable: using this replica's share of the Halo rate budget until it \
             answers"
        );
        *fb = Some(Fallback { budget, probe_at });
    }

    /// Stamps a slot's receipt in Redis (in the background: a permit is dropped in sync code).
    fn receipt(self: &Arc<Self>, member: String) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // No runtime (process ending): the slot's lease ends it.
            return;
        };
        let this = Arc::clone(self);
        handle.spawn(async move {
            let mut conn = this.redis.conn();
            let mut call = SCRIPTS.receipt.prepare_invoke();
            call.key(&this.slots)
                .arg(&member)
                .arg(ttl_ms(this.limit.window));
            let result: redis::RedisResult<i64> =
                match tokio::time::timeout(COMMAND_TIMEOUT, call.invoke_async(&mut conn)).await {
                    Ok(r) => r,
                    Err(_) => Err(timed_out()),
                };
            this.redis.observe("rate budget receipt", &result);
            // A lost receipt leaves the slot in flight until its lease ends: later, never
            // earlier, than the truth.
            if let Ok(used) = result {
                this.seen.lock().used = used.max(0) as u32;
            }
        });
    }

    /// Halo answered a shared slot 429.
    fn learn(self: &Arc<Self>, member: &str, epoch: i64, retry_after: bool) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        // With Retry-After Halo says when to come back; only a bare 429 teaches a pace.
        if retry_after {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = Arc::clone(self);
        let member = member.to_owned();
        handle.spawn(async move {
            let mut conn = this.redis.conn();
            let mut call = SCRIPTS.learn.prepare_invoke();
            call.key(&this.slots)
                .key(&this.learned)
                .key(&this.refused)
                .arg(this.limit.limit)
                .arg(ttl_ms(this.limit.window))
                .arg(epoch)
                .arg(&member)
                .arg(LEARN_FLOOR.min(this.limit.limit))
                .arg(ttl_ms(LEARNED_TTL));
            let result: redis::RedisResult<Vec<i64>> =
                match tokio::time::timeout(COMMAND_TIMEOUT, call.invoke_async(&mut conn)).await {
                    Ok(r) => r,
                    Err(_) => Err(timed_out()),
                };
            this.redis.observe("rate budget 429", &result);
            if let Ok([1, limit, window_ms]) = result.as_deref() {
                this.shrinks.fetch_add(1, Ordering::Relaxed);
                let mut seen = this.seen.lock();
                seen.limit = (*limit).max(1) as u32;
                seen.window = Duration::from_millis((*window_ms).max(1) as u64);
                tracing::warn!(
                    limit,
                    window_s = seen.window.as_secs_f64(),
                    configured_limit = this.limit.limit,
                    "Halo answered 429 without Retry-After: lowering the shared rate budget"
                );
            }
        });
    }

    /// What `halo_status` shows: the figures Redis last gave, and this replica's counters.
    pub fn status(&self) -> BudgetStatus {
        let fallback = self.fallback.lock().as_ref().map(|f| Arc::clone(&f.budget));
        let seen = self.seen.lock();
        let learned = (seen.limit, seen.window) != (self.limit.limit, self.limit.window);
        let mut status = BudgetStatus {
            used: seen.used,
            in_flight: self.in_flight.load(Ordering::Relaxed) as u32,
            limit: seen.limit,
            window_s: seen.window.as_secs_f64(),
            next_free_in_ms: None,
            waited: self.waited.load(Ordering::Relaxed),
            configured: learned.then_some(RateFigure {
                limit: self.limit.limit,
                window_s: self.limit.window.as_secs_f64(),
            }),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            shrinks: self.shrinks.load(Ordering::Relaxed),
            shared: Some(format!("redis ({})", self.redis.address())),
        };
        if let Some(local) = fallback {
            let s = local.status();
            status.used = s.used;
            status.in_flight += s.in_flight;
            status.next_free_in_ms = s.next_free_in_ms;
            status.limit = s.limit;
            status.window_s = s.window_s;
            status.shared = Some(format!(
                "local share ({} of {} for {} replicas): Redis at {} is unreachable",
                s.limit,
                seen.limit,
                self.replicas,
                self.redis.address()
            ));
        }
        status
    }

    /// True while this replica is on its local share.
    pub fn on_fallback(&self) -> bool {
        self.fallback.lock().is_some()
    }
}

fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "Redis did not answer in time",
    ))
}

enum Granted {
    Slot(SharedPermit),
    Wait(Duration),
}

/// A slot in the shared budget; dropping it stamps the receipt.
pub struct SharedPermit {
    budget: Arc<SharedBudget>,
    member: String,
    epoch: i64,
}

impl Drop for SharedPermit {
    fn drop(&mut self) {
        self.budget.receipt(std::mem::take(&mut self.member));
    }
}

/// A tenant's budget: this process's own, or the replicas' shared one.
#[derive(Clone)]
pub enum Budget {
    Local(Arc<RateBudget>),
    Shared(Arc<SharedBudget>),
}

/// A counted request of either budget.
pub enum Permit {
    Local(budget::Permit),
    Shared(SharedPermit),
}

impl Permit {
    /// Halo answered this request 429. Without `Retry-After`, the budget learns from it.
    pub fn rate_limited(&self, retry_after: bool) {
        match self {
            Permit::Local(p) => p.rate_limited(retry_after),
            Permit::Shared(p) => p.budget.learn(&p.member, p.epoch, retry_after),
        }
    }
}

impl Budget {
    pub async fn acquire_by(&self, deadline: Option<Instant>) -> Result<Permit, BudgetExhausted> {
        match self {
            Budget::Local(b) => b.acquire_by(deadline).await.map(Permit::Local),
            Budget::Shared(b) => b.acquire_by(deadline).await,
        }
    }

    pub fn status(&self) -> BudgetStatus {
        match self {
            Budget::Local(b) => b.status(),
            Budget::Shared(b) => b.status(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{SharedState, test_redis::start_or_skip};

    fn redis(url: &str) -> Arc<RedisState> {
        match SharedState::parse(url).unwrap() {
            SharedState::Redis(r) => r,
            SharedState::Memory => unreachable!(),
        }
    }

    /// One replica's budget: its own connection, as a separate process would have.
    fn replica(url: &str, limit: u32, window: Duration, replicas: u32) -> Arc<SharedBudget> {
        SharedBudget::new(
            redis(url),
            "https://acme.halopsa.com|",
            RateLimit { limit, window },
            Duration::from_secs(10),
            replicas,
            Duration::from_secs(5),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_never_send_more_than_the_limit_in_any_window() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let window = Duration::from_millis(600);
        let replicas: Vec<_> = (0..3)
            .map(|_| replica(&server.url(), 5, window, 3))
            .collect();
        let started = Instant::now();
        let sends = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..18 {
            let b = Arc::clone(&replicas[i % 3]);
            let sends = Arc::clone(&sends);
            tasks.push(tokio::spawn(async move {
                let p = b.acquire_by(None).await.unwrap();
                sends.lock().push(Instant::now());
                drop(p);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut sends = sends.lock().clone();
        sends.sort();
        // The instants are taken after each grant, so a task scheduled late records its send
        // later than Redis granted it: allow that much jitter (the receipt stamp, which is
        // what spaces the next grant, comes later still).
        let jitter = Duration::from_millis(100);
        for (i, a) in sends.iter().enumerate() {
            let within = sends[i..]
                .iter()
                .filter(|b| b.duration_since(*a) < window - jitter)
                .count();
            assert!(within <= 5, "{within} requests within one window");
        }
        // 18 requests at 5 per window need at least three full windows.
        assert!(started.elapsed() >= window * 3);
        assert!(replicas.iter().map(|r| r.status().waited).sum::<u64>() > 0);
        assert!(replicas[0].status().shared.unwrap().starts_with("redis"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_429_seen_by_one_replica_lowers_the_limit_for_all() {
        let Some(server) = start_or_skip() else {
            return;
        };
        let window = Duration::from_secs(60);
        let (a, b) = (
            replica(&server.url(), 40, window, 2),
            replica(&server.url(), 40, window, 2),
        );
        for _ in 0..10 {
            drop(a.acquire_by(None).await.unwrap());
        }
        let refused = a.acquire_by(None).await.unwrap();
        refused.rate_limited(false);
        drop(refused);
        // The learning runs in the background: wait until Redis has it (A hears the answer),
        // so B's reads below cannot spend the configured limit first.
        let deadline = Instant::now() + Duration::from_secs(5);
        while a.status().limit == 40 {
            assert!(Instant::now() < deadline, "the 429 was never learned");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The other replica meets the learned figure.
        let learned = loop {
            match b
                .acquire_by(Some(Instant::now() + Duration::from_millis(20)))
                .await
            {
                Err(e) => break e.limit,
                Ok(p) => drop(p),
            }
            assert!(
                Instant::now() < deadline,
                "the other replica never saw the 429"
            );
        };
        assert!((LEARN_FLOOR..=20).contains(&learned), "{learned}");
        assert_eq!(b.status().limit, learned);
        assert_eq!(a.status().rate_limited, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_redis_a_replica_uses_its_share_and_returns_when_redis_does() {
        let Some(mut server) = start_or_skip() else {
            return;
        };
        let port = server.port;
        let b = replica(&server.url(), 6, Duration::from_secs(60), 3);
        drop(b.acquire_by(None).await.unwrap());
        server.stop();
        // The share is 6 / 3 = 2, and the 1 already used counts against it: one more.
        let soon = || Some(Instant::now() + Duration::from_millis(50));
        let p = b.acquire_by(soon()).await.unwrap();
        assert!(matches!(p, Permit::Local(_)));
        let s = b.status();
        assert!(
            s.shared
                .as_deref()
                .unwrap()
                .starts_with("local share (2 of 6"),
            "{s:?}"
        );
        drop(p);
        let e = b.acquire_by(soon()).await.err().unwrap();
        assert_eq!(e.limit, 2, "never the full limit");
        // Redis is back (empty: it kept nothing): the replica returns to it, carrying the two
        // requests it sent meanwhile.
        let _server = match crate::state::test_redis::RedisServer::start_on(port) {
            Ok(s) => s,
            Err(_) => panic!("redis-server did not restart on its port"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let p = loop {
            if let Ok(p @ Permit::Shared(_)) = b.acquire_by(soon()).await {
                break p;
            }
            assert!(Instant::now() < deadline, "never returned to Redis");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let s = b.status();
        assert!(s.shared.as_deref().unwrap().starts_with("redis"), "{s:?}");
        assert!(
            s.used >= 3,
            "the fallback's requests count in the window: {s:?}"
        );
        assert!(!b.on_fallback());
        drop(p);
    }
}
