//! Reference-data cache and in-flight request sharing.
//!
//! Statuses, priorities, ticket types, teams and the like change rarely, but an assistant looks
//! them up constantly while it works. They are cached for a TTL; a hit costs no request and no
//! rate budget. A write to a resource drops that resource's entries, and a per-resource
//! generation stops a read that was already in flight from putting stale data back.
//!
//! Identical GETs in flight at the same time share one request (for every resource, cached or
//! not): ten concurrent asks for ticket 42 cost one call.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use serde_json::Value;

use super::HaloError;

pub type SharedFetch = Shared<BoxFuture<'static, Result<Value, HaloError>>>;

/// The cache key of a GET: lower-cased path and sorted query.
pub fn key(path: &str, query: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    format!("{}?{}", path.to_ascii_lowercase(), pairs.join("&"))
}

/// The resource a path belongs to: its first segment, lower-cased (`/Status/4` → `status`).
pub fn resource_of(path: &str) -> String {
    path.trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

struct Entry {
    stored: Instant,
    value: Value,
}

/// What `halo_status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CacheStatus {
    pub ttl_s: u64,
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
    /// Requests that joined an identical one already in flight.
    pub shared_in_flight: u64,
}

pub struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    generations: Mutex<HashMap<String, u64>>,
    in_flight: Mutex<HashMap<String, SharedFetch>>,
    hits: AtomicU64,
    misses: AtomicU64,
    shared: AtomicU64,
}

impl Cache {
    pub fn new(ttl: Duration) -> Cache {
        Cache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// A fresh cached value.
    pub fn get(&self, key: &str) -> Option<Value> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.entries.lock();
        match entries.get(key) {
            Some(e) if e.stored.elapsed() < self.ttl => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(e.value.clone())
            }
            Some(_) => {
                entries.remove(key);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The generation of a resource; read before fetching, pass to [`Cache::put`].
    pub fn generation(&self, resource: &str) -> u64 {
        self.generations.lock().get(resource).copied().unwrap_or(0)
    }

    /// Stores a value unless the resource was written since `generation` was read.
    pub fn put(&self, key: &str, resource: &str, generation: u64, value: &Value) {
        if !self.enabled() {
            return;
        }
        let generations = self.generations.lock();
        if generations.get(resource).copied().unwrap_or(0) != generation {
            return;
        }
        self.entries.lock().insert(
            key.to_owned(),
            Entry {
                stored: Instant::now(),
                value: value.clone(),
            },
        );
    }

    /// Drops every entry of a resource (after a write to it).
    pub fn invalidate(&self, resource: &str) {
        let mut generations = self.generations.lock();
        *generations.entry(resource.to_owned()).or_insert(0) += 1;
        let prefix = format!("/{resource}");
        self.entries.lock().retain(|k, _| {
            let path = k.split('?').next().unwrap_or(k);
            !(path == prefix || path.starts_with(&format!("{prefix}/")))
        });
    }

    /// Joins an identical request in flight, or starts `fetch` and lets others join it.
    pub async fn shared_fetch(
        &self,
        key: &str,
        fetch: impl FnOnce() -> BoxFuture<'static, Result<Value, HaloError>>,
    ) -> Result<Value, HaloError> {
        use futures::FutureExt;
        let (future, mine) = {
            let mut in_flight = self.in_flight.lock();
            match in_flight.get(key) {
                Some(f) => {
                    self.shared.fetch_add(1, Ordering::Relaxed);
                    (f.clone(), false)
                }
                None => {
                    let f = fetch().shared();
                    in_flight.insert(key.to_owned(), f.clone());
                    (f, true)
                }
            }
        };
        let result = future.clone().await;
        if mine {
            let mut in_flight = self.in_flight.lock();
            if in_flight.get(key).is_some_and(|f| f.ptr_eq(&future)) {
                in_flight.remove(key);
            }
        }
        result
    }

    pub fn status(&self) -> CacheStatus {
        CacheStatus {
            ttl_s: self.ttl.as_secs(),
            entries: self.entries.lock().len(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            shared_in_flight: self.shared.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use serde_json::json;
    use std::sync::{Arc, atomic::AtomicUsize};

    #[test]
    fn keys_and_resources() {
        let q = vec![
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ];
        assert_eq!(key("/Status", &q), "/status?a=1&b=2");
        assert_eq!(resource_of("/Status/4"), "status");
        assert_eq!(resource_of("/Agent/me"), "agent");
    }

    #[test]
    fn ttl_generation_and_invalidation() {
        let c = Cache::new(Duration::from_millis(40));
        let g = c.generation("status");
        c.put("/status?", "status", g, &json!([1]));
        c.put("/statusgroup?", "statusgroup", 0, &json!([2]));
        assert_eq!(c.get("/status?"), Some(json!([1])));
        // A write in between: a late put of old data is refused.
        let g = c.generation("status");
        c.invalidate("status");
        assert_eq!(c.get("/status?"), None);
        c.put("/status?", "status", g, &json!(["stale"]));
        assert_eq!(c.get("/status?"), None);
        assert_eq!(
            c.get("/statusgroup?"),
            Some(json!([2])),
            "prefix is per resource"
        );
        let g = c.generation("status");
        c.put("/status/4?", "status", g, &json!({"id": 4}));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(c.get("/status/4?"), None, "expired");
        let s = c.status();
        assert_eq!((s.hits, s.misses), (2, 3));
        assert!(!Cache::new(Duration::ZERO).enabled());
    }

    #[tokio::test]
    async fn identical_requests_in_flight_share_one_fetch() {
        let c = Arc::new(Cache::new(Duration::ZERO));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks = (0..10).map(|_| {
            let c = c.clone();
            let calls = calls.clone();
            async move {
                c.shared_fetch("/tickets/42?", move || {
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok(json!({"id": 42}))
                    }
                    .boxed()
                })
                .await
            }
        });
        let results = futures::future::join_all(tasks).await;
        assert!(results.iter().all(|r| r == &Ok(json!({"id": 42}))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(c.status().shared_in_flight, 9);
        assert!(c.in_flight.lock().is_empty());
    }
}
