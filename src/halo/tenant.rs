//! State shared by every client of one Halo tenant in the process.
//!
//! Halo's rate limit and health are per tenant, so the rate budget and the circuit breaker are
//! too: two sessions on the same Halo draw on one budget. Cached answers depend on the
//! credentials that asked, so the cache is keyed by tenant and client id.

use std::{
    collections::HashMap,
    sync::{Arc, Weak},
    time::Duration,
};

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use super::{
    Resilience,
    breaker::Breaker,
    budget::RateBudget,
    cache::{Cache, CacheLimits},
    shared_budget::{Budget, SharedBudget},
};
use crate::state::SharedState;

pub(crate) struct TenantShared {
    pub budget: Budget,
    pub breaker: Breaker,
}

type Registry<T> = Lazy<Mutex<HashMap<String, Weak<T>>>>;

static TENANTS: Registry<TenantShared> = Lazy::new(|| Mutex::new(HashMap::new()));
static CACHES: Registry<Cache> = Lazy::new(|| Mutex::new(HashMap::new()));

/// The live value under `key`, or a new one from `make`. Entries die with their last user.
fn shared<T>(registry: &Registry<T>, key: &str, make: impl FnOnce() -> T) -> Arc<T> {
    let mut all = registry.lock();
    all.retain(|_, weak| weak.strong_count() > 0);
    if let Some(existing) = all.get(key).and_then(Weak::upgrade) {
        return existing;
    }
    let value = Arc::new(make());
    all.insert(key.to_owned(), Arc::downgrade(&value));
    value
}

impl TenantShared {
    /// The shared state of a tenant; the settings of its first client win while it lives.
    /// `lease` is the longest one request can be in flight (the request timeout and a margin).
    pub(crate) fn for_tenant(key: &str, r: &Resilience, lease: Duration) -> Arc<TenantShared> {
        shared(&TENANTS, key, || TenantShared {
            budget: match &r.state {
                SharedState::Memory => Budget::Local(RateBudget::new(r.rate_limit, r.rate_wait)),
                // Halo limits the tenant, so every replica on the tenant uses one budget. The
                // breaker stays per replica: it protects this replica's callers from waiting
                // on a Halo it cannot reach, which may be this replica's network alone.
                SharedState::Redis(redis) => Budget::Shared(SharedBudget::new(
                    Arc::clone(redis),
                    key,
                    r.rate_limit,
                    r.rate_wait,
                    r.replicas,
                    lease,
                )),
            },
            breaker: Breaker::new(r.breaker_threshold, r.breaker_cooldown),
        })
    }
}

/// The cache of one tenant and application; the settings of its first client win while it
/// lives.
pub(crate) fn cache_for(key: &str, ttl: Duration, limits: CacheLimits) -> Arc<Cache> {
    shared(&CACHES, key, || Cache::with_limits(ttl, limits))
}
