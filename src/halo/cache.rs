//! Reference-data cache and in-flight request sharing.
//!
//! Statuses, priorities, ticket types, teams and the like change rarely, but an assistant looks
//! them up constantly while it works. They are cached for a TTL; a hit costs no request and no
//! rate budget. A write to a resource drops that resource's entries, and a per-resource
//! generation stops a read that was already in flight from putting stale data back.
//!
//! The cache is bounded by entries and by (approximate) bytes: keys carry the caller's search
//! terms, so a long-running server would otherwise keep every distinct query it ever answered.
//! Inserting past a bound first drops expired entries, then the least recently used ones.
//!
//! Identical GETs in flight at the same time share one request (for every resource, cached or
//! not): ten concurrent asks for ticket 42 cost one call. Sharing must never outlive the
//! request it shares: the map of flights holds only weak handles, the flight removes its own
//! entry the moment it finishes (so a later caller never receives an answer older than its
//! call), and when every waiter has gone the fetch itself is dropped, which drops its HTTP
//! request and rate-budget slot with it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared, WeakShared},
};
use parking_lot::Mutex;
use serde_json::Value;

use super::HaloError;

type Fetch = BoxFuture<'static, Result<Value, HaloError>>;

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

/// How large the cache may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    pub max_entries: usize,
    /// Approximate bytes of the cached values and their keys (see [`approx_bytes`]).
    pub max_bytes: u64,
}

impl CacheLimits {
    pub const DEFAULT: CacheLimits = CacheLimits {
        max_entries: 10_000,
        max_bytes: 64 * 1024 * 1024,
    };
}

impl Default for CacheLimits {
    fn default() -> CacheLimits {
        CacheLimits::DEFAULT
    }
}

/// Bookkeeping an entry costs beyond its key and value: the map slot, two index nodes and the
/// shared key handle. A rough figure; it keeps many tiny entries from looking free.
const ENTRY_OVERHEAD: u64 = 160;

/// The approximate heap footprint of a JSON value as serde_json holds it in memory (not its
/// text length, which is several times smaller for records full of short fields): every
/// `Value` node, every heap block with the allocator's rounding and header, and an object's
/// hash index. `examples/cache_memory.rs` compares it with the resident memory it stands for.
pub fn approx_bytes(value: &Value) -> u64 {
    /// A heap block of `len` bytes as the allocator hands it out.
    fn block(len: usize) -> u64 {
        if len == 0 {
            0
        } else {
            (len as u64).div_ceil(16) * 16 + 16
        }
    }
    let node = std::mem::size_of::<Value>();
    match value {
        Value::String(s) => node as u64 + block(s.len()),
        Value::Array(items) => {
            // The nodes live in the array's buffer; each child adds what it owns beyond that.
            let children: u64 = items.iter().map(|v| approx_bytes(v) - node as u64).sum();
            node as u64 + block(node * items.len()) + children
        }
        Value::Object(map) => {
            // An insertion-ordered map: a buffer of (hash, key, value) members plus a hash
            // index of one word and one control byte per bucket (7/8 load).
            let member = 8 + std::mem::size_of::<String>() + node;
            let buckets = (map.len() * 8).div_ceil(7).next_power_of_two();
            let own = block(member * map.len()) + block(buckets * 9);
            let children: u64 = map
                .iter()
                .map(|(k, v)| block(k.len()) + approx_bytes(v) - node as u64)
                .sum();
            node as u64 + own + children
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => node as u64,
    }
}

struct Entry {
    stored: Instant,
    value: Value,
    bytes: u64,
    /// Position in `Store::by_age` (insertion order, which is expiry order: one TTL for all).
    age: u64,
    /// Position in `Store::by_use` (least recently used first).
    used: u64,
}

/// The entries and the two orders eviction needs.
#[derive(Default)]
struct Store {
    map: HashMap<Arc<str>, Entry>,
    by_age: BTreeMap<u64, Arc<str>>,
    by_use: BTreeMap<u64, Arc<str>>,
    bytes: u64,
    tick: u64,
}

impl Store {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        self.by_age.remove(&entry.age);
        self.by_use.remove(&entry.used);
        self.bytes -= entry.bytes;
        Some(entry)
    }

    /// Marks an entry as just used.
    fn touch(&mut self, key: &str) {
        let tick = self.next_tick();
        let Some(entry) = self.map.get_mut(key) else {
            return;
        };
        let before = std::mem::replace(&mut entry.used, tick);
        if let Some(k) = self.by_use.remove(&before) {
            self.by_use.insert(tick, k);
        }
    }
}

/// What `halo_status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CacheStatus {
    pub ttl_s: u64,
    pub entries: usize,
    /// Approximate memory held by the entries.
    pub bytes: u64,
    pub max_entries: usize,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped to stay within the bounds (least recently used first).
    pub evictions: u64,
    /// Entries dropped because their TTL had passed.
    pub expired: u64,
    /// Requests that joined an identical one already in flight.
    pub shared_in_flight: u64,
}

/// Requests in flight, by cache key and resource generation. Weak handles only: the waiters
/// own a flight, the map just lets newcomers find it.
type Flights = Mutex<HashMap<String, (u64, WeakShared<Fetch>)>>;

/// Removes its flight's map entry when the flight ends, whether it finished or every waiter
/// gave up (the fetch future, and this guard inside it, are dropped then).
struct FlightEntry {
    flights: Arc<Flights>,
    slot: String,
    id: u64,
}

impl Drop for FlightEntry {
    fn drop(&mut self) {
        let mut flights = self.flights.lock();
        // A newer flight may have taken the slot after this one became unreachable.
        if flights
            .get(&self.slot)
            .is_some_and(|(id, _)| *id == self.id)
        {
            flights.remove(&self.slot);
        }
    }
}

pub struct Cache {
    ttl: Duration,
    limits: CacheLimits,
    store: Mutex<Store>,
    generations: Mutex<HashMap<String, u64>>,
    in_flight: Arc<Flights>,
    flight_ids: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    expired: AtomicU64,
    shared: AtomicU64,
}

impl Cache {
    pub fn new(ttl: Duration) -> Cache {
        Cache::with_limits(ttl, CacheLimits::DEFAULT)
    }

    pub fn with_limits(ttl: Duration, limits: CacheLimits) -> Cache {
        Cache {
            ttl,
            limits,
            store: Mutex::new(Store::default()),
            generations: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            flight_ids: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.limits.max_entries > 0 && self.limits.max_bytes > 0
    }

    /// A fresh cached value.
    pub fn get(&self, key: &str) -> Option<Value> {
        if !self.enabled() {
            return None;
        }
        let mut store = self.store.lock();
        let fresh = match store.map.get(key) {
            Some(e) if e.stored.elapsed() < self.ttl => Some(e.value.clone()),
            Some(_) => {
                store.remove(key);
                self.expired.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => None,
        };
        match fresh {
            Some(v) => {
                store.touch(key);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(v)
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
        self.insert(key, value, Instant::now());
    }

    /// Stores `value` as if read at `now`, then restores the bounds.
    fn insert(&self, key: &str, value: &Value, now: Instant) {
        let bytes = ENTRY_OVERHEAD + key.len() as u64 + approx_bytes(value);
        let mut store = self.store.lock();
        // The old answer is superseded either way.
        store.remove(key);
        if bytes > self.limits.max_bytes {
            // One answer larger than the whole cache: serving it would evict everything else.
            return;
        }
        let key: Arc<str> = Arc::from(key);
        let age = store.next_tick();
        let used = store.next_tick();
        store.by_age.insert(age, Arc::clone(&key));
        store.by_use.insert(used, Arc::clone(&key));
        store.bytes += bytes;
        store.map.insert(
            key,
            Entry {
                stored: now,
                value: value.clone(),
                bytes,
                age,
                used,
            },
        );
        self.restore_bounds(&mut store, now);
    }

    /// Drops expired entries, then least recently used ones, until both bounds hold.
    fn restore_bounds(&self, store: &mut Store, now: Instant) {
        let over =
            |s: &Store| s.map.len() > self.limits.max_entries || s.bytes > self.limits.max_bytes;
        if !over(store) {
            return;
        }
        while let Some(key) = store.by_age.first_key_value().map(|(_, k)| Arc::clone(k)) {
            let expired = store
                .map
                .get(&*key)
                .is_some_and(|e| now.saturating_duration_since(e.stored) >= self.ttl);
            if !expired {
                break;
            }
            store.remove(&key);
            self.expired.fetch_add(1, Ordering::Relaxed);
        }
        while over(store) {
            let Some(key) = store.by_use.first_key_value().map(|(_, k)| Arc::clone(k)) else {
                break;
            };
            store.remove(&key);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops every entry of a resource (after a write to it).
    pub fn invalidate(&self, resource: &str) {
        let mut generations = self.generations.lock();
        *generations.entry(resource.to_owned()).or_insert(0) += 1;
        let prefix = format!("/{resource}");
        let nested = format!("{prefix}/");
        let mut store = self.store.lock();
        let doomed: Vec<Arc<str>> = store
            .map
            .keys()
            .filter(|k| {
                let path = k.split('?').next().unwrap_or(k);
                path == prefix || path.starts_with(&nested)
            })
            .cloned()
            .collect();
        for key in doomed {
            store.remove(&key);
        }
    }

    /// Joins an identical request in flight, or starts `fetch` and lets others join it.
    ///
    /// Dropping the returned future leaves the others waiting on the same fetch undisturbed;
    /// when the last one goes, the fetch is dropped with it.
    pub async fn shared_fetch(
        &self,
        key: &str,
        fetch: impl FnOnce() -> Fetch,
    ) -> Result<Value, HaloError> {
        // A read that starts after a write must not join one that started before it.
        let slot = format!("{key}#{}", self.generation(&resource_of(key)));
        let future: Shared<Fetch> = {
            let mut flights = self.in_flight.lock();
            match flights.get(&slot).and_then(|(_, weak)| weak.upgrade()) {
                Some(f) => {
                    self.shared.fetch_add(1, Ordering::Relaxed);
                    f
                }
                None => {
                    let id = self.flight_ids.fetch_add(1, Ordering::Relaxed);
                    let entry = FlightEntry {
                        flights: Arc::clone(&self.in_flight),
                        slot: slot.clone(),
                        id,
                    };
                    let inner = fetch();
                    let f = async move {
                        let result = inner.await;
                        // Leave the map before anyone can see the result: a caller that
                        // arrives from now on starts a fresh request.
                        drop(entry);
                        result
                    }
                    .boxed()
                    .shared();
                    if let Some(weak) = f.downgrade() {
                        flights.insert(slot, (id, weak));
                    }
                    f
                }
            }
        };
        future.await
    }

    pub fn status(&self) -> CacheStatus {
        let (entries, bytes) = {
            let store = self.store.lock();
            (store.map.len(), store.bytes)
        };
        CacheStatus {
            ttl_s: self.ttl.as_secs(),
            entries,
            bytes,
            max_entries: self.limits.max_entries,
            max_bytes: self.limits.max_bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            shared_in_flight: self.shared.load(Ordering::Relaxed),
        }
    }

    /// Requests in flight now (for tests and diagnostics).
    pub fn flights(&self) -> usize {
        self.in_flight.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::{sync::atomic::AtomicUsize, task::Poll};
    use tokio::sync::oneshot;

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
        // Stored 50 ms ago with a 40 ms TTL: expired, without waiting for it.
        let now = Instant::now();
        c.insert(
            "/status/4?",
            &json!({"id": 4}),
            now.checked_sub(Duration::from_millis(50)).unwrap_or(now),
        );
        assert_eq!(c.get("/status/4?"), None, "expired");
        let s = c.status();
        assert_eq!((s.hits, s.misses, s.expired), (2, 3, 1));
        assert!(!Cache::new(Duration::ZERO).enabled());
    }

    #[tokio::test(start_paused = true)]
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
        assert_eq!(c.flights(), 0);
    }

    /// Counts a fetch's starts and drops; it answers what the test sends it.
    #[derive(Default, Clone)]
    struct Probe {
        starts: Arc<AtomicUsize>,
        dropped: Arc<AtomicUsize>,
    }

    struct CountDrop(Arc<AtomicUsize>);

    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Probe {
        fn fetch(&self, answer: oneshot::Receiver<Value>) -> impl FnOnce() -> Fetch + use<> {
            let (starts, dropped) = (self.starts.clone(), self.dropped.clone());
            move || {
                starts.fetch_add(1, Ordering::SeqCst);
                let alive = CountDrop(dropped);
                async move {
                    let _alive = alive;
                    answer.await.map_err(|_| HaloError::NotFound {
                        method: "GET".into(),
                        path: "/gone".into(),
                    })
                }
                .boxed()
            }
        }

        fn starts(&self) -> usize {
            self.starts.load(Ordering::SeqCst)
        }

        fn dropped(&self) -> usize {
            self.dropped.load(Ordering::SeqCst)
        }
    }

    const K: &str = "/tickets/42?";

    #[tokio::test]
    async fn a_dropped_first_caller_leaves_the_others_their_answer() {
        for ttl in [Duration::ZERO, Duration::from_secs(60)] {
            let c = Cache::new(ttl);
            let probe = Probe::default();
            let (tx, rx) = oneshot::channel();
            let mut first = c.shared_fetch(K, probe.fetch(rx)).boxed();
            assert!(futures::poll!(&mut first).is_pending());
            let (_unused, rx2) = oneshot::channel();
            let mut second = c.shared_fetch(K, probe.fetch(rx2)).boxed();
            assert!(futures::poll!(&mut second).is_pending());
            assert_eq!((probe.starts(), c.status().shared_in_flight), (1, 1));
            drop(first);
            assert_eq!(
                probe.dropped(),
                0,
                "the fetch goes on for the second caller"
            );
            assert_eq!(c.flights(), 1);
            tx.send(json!(1)).unwrap();
            assert_eq!(second.await, Ok(json!(1)));
            assert_eq!((c.flights(), probe.dropped()), (0, 1));
            // A later identical read is a request of its own.
            let (tx, rx) = oneshot::channel();
            tx.send(json!(2)).unwrap();
            assert_eq!(c.shared_fetch(K, probe.fetch(rx)).await, Ok(json!(2)));
            assert_eq!(probe.starts(), 2);
        }
    }

    #[tokio::test]
    async fn the_last_waiter_gone_drops_the_fetch_and_its_entry() {
        let c = Cache::new(Duration::ZERO);
        let probe = Probe::default();
        let (tx, rx) = oneshot::channel();
        let mut only = c.shared_fetch(K, probe.fetch(rx)).boxed();
        assert!(futures::poll!(&mut only).is_pending());
        assert_eq!(c.flights(), 1);
        drop(only);
        // The fetch (its HTTP request and budget slot, in real use) went with its last waiter.
        assert_eq!((probe.dropped(), c.flights()), (1, 0));
        assert!(tx.is_closed());
        let (tx, rx) = oneshot::channel();
        tx.send(json!("fresh")).unwrap();
        assert_eq!(c.shared_fetch(K, probe.fetch(rx)).await, Ok(json!("fresh")));
        assert_eq!(probe.starts(), 2);
    }

    #[tokio::test]
    async fn a_finished_answer_is_never_handed_to_a_later_caller() {
        let c = Cache::new(Duration::ZERO);
        let probe = Probe::default();
        let (tx, rx) = oneshot::channel();
        let mut first = c.shared_fetch(K, probe.fetch(rx)).boxed();
        let (_unused, rx2) = oneshot::channel();
        let mut second = c.shared_fetch(K, probe.fetch(rx2)).boxed();
        assert!(futures::poll!(&mut first).is_pending());
        assert!(futures::poll!(&mut second).is_pending());
        tx.send(json!("old")).unwrap();
        assert_eq!(futures::poll!(&mut first), Poll::Ready(Ok(json!("old"))));
        // The second waiter has not collected "old" yet, but the flight has already left the
        // map: a caller from now on gets a request of its own.
        assert_eq!(c.flights(), 0);
        let (tx, rx) = oneshot::channel();
        tx.send(json!("new")).unwrap();
        assert_eq!(c.shared_fetch(K, probe.fetch(rx)).await, Ok(json!("new")));
        assert_eq!(second.await, Ok(json!("old")));
        assert_eq!(probe.starts(), 2);
    }

    #[tokio::test]
    async fn a_read_after_a_write_does_not_join_an_older_flight() {
        let c = Cache::new(Duration::from_secs(60));
        let probe = Probe::default();
        let (_tx, rx) = oneshot::channel();
        let mut before = c.shared_fetch(K, probe.fetch(rx)).boxed();
        assert!(futures::poll!(&mut before).is_pending());
        c.invalidate("tickets");
        let (tx, rx) = oneshot::channel();
        tx.send(json!("after")).unwrap();
        assert_eq!(c.shared_fetch(K, probe.fetch(rx)).await, Ok(json!("after")));
        assert_eq!(probe.starts(), 2);
        drop(before);
        assert_eq!(c.flights(), 0);
    }

    /// The bookkeeping agrees with the entries.
    fn consistent(c: &Cache) {
        let s = c.store.lock();
        assert_eq!(s.by_age.len(), s.map.len());
        assert_eq!(s.by_use.len(), s.map.len());
        assert_eq!(s.bytes, s.map.values().map(|e| e.bytes).sum::<u64>());
    }

    fn limits(max_entries: usize, max_bytes: u64) -> CacheLimits {
        CacheLimits {
            max_entries,
            max_bytes,
        }
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let c = Cache::with_limits(Duration::from_secs(60), limits(3, u64::MAX));
        for k in ["/a?", "/b?", "/c?"] {
            c.put(k, &resource_of(k), 0, &json!(k));
        }
        assert!(c.get("/a?").is_some());
        c.put("/d?", "d", 0, &json!("d"));
        assert_eq!(c.get("/b?"), None, "b was the least recently used");
        for k in ["/a?", "/c?", "/d?"] {
            assert!(c.get(k).is_some(), "{k}");
        }
        let s = c.status();
        assert_eq!((s.entries, s.evictions, s.expired), (3, 1, 0));
        consistent(&c);
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let ttl = Duration::from_secs(60);
        let c = Cache::with_limits(ttl, limits(2, u64::MAX));
        let now = Instant::now();
        let long_ago = now.checked_sub(ttl * 2).unwrap_or(now);
        if long_ago == now {
            return; // a clock too young to go back a TTL: nothing to test
        }
        c.insert("/old?", &json!(1), long_ago);
        c.insert("/b?", &json!(2), now);
        // Recently used but expired: still the first to go.
        c.store.lock().touch("/old?");
        c.insert("/c?", &json!(3), now);
        let s = c.status();
        assert_eq!((s.entries, s.evictions, s.expired), (2, 0, 1));
        assert!(c.get("/b?").is_some() && c.get("/c?").is_some());
        consistent(&c);
    }

    #[test]
    fn bytes_are_bounded_and_an_oversized_answer_is_not_kept() {
        let c = Cache::with_limits(Duration::from_secs(60), limits(1000, 4_000));
        let big = json!("x".repeat(5_000));
        c.put("/big?", "big", 0, &big);
        assert_eq!(c.get("/big?"), None);
        let record = json!({"id": 1, "name": "a name of some length"});
        let each = ENTRY_OVERHEAD + "/r/00?".len() as u64 + approx_bytes(&record);
        for i in 0..50 {
            c.put(&format!("/r/{i:02}?"), "r", 0, &record);
            assert!(c.status().bytes <= 4_000);
        }
        let s = c.status();
        assert_eq!(s.entries as u64, 4_000 / each);
        assert_eq!(s.evictions, 50 - s.entries as u64);
        consistent(&c);
        c.invalidate("r");
        assert_eq!((c.status().entries, c.status().bytes), (0, 0));
        consistent(&c);
    }

    /// A status-like record, as Halo returns them, made distinct by `i`.
    fn record(i: usize) -> Value {
        json!({
            "id": i, "name": format!("Status {i}"), "shortname": "st", "colour": "#2bd3c6",
            "type": 1, "sequence": i % 17, "useforsla": true, "slaexcluded": false,
            "description": "A reference record about as large as Halo's statuses and types",
        })
    }

    #[test]
    fn a_hundred_thousand_distinct_reads_stay_within_the_bounds() {
        for bounds in [CacheLimits::DEFAULT, limits(10_000, 1_000_000)] {
            let c = Cache::with_limits(Duration::from_secs(600), bounds);
            let (mut max_entries, mut max_bytes) = (0, 0);
            for i in 0..100_000 {
                let k = key("/Status", &[("search".to_owned(), format!("term {i}"))]);
                if c.get(&k).is_none() {
                    c.put(&k, "status", 0, &record(i));
                }
                let s = c.status();
                max_entries = max_entries.max(s.entries);
                max_bytes = max_bytes.max(s.bytes);
            }
            let s = c.status();
            assert!(max_entries <= bounds.max_entries, "{max_entries} entries");
            assert!(max_bytes <= bounds.max_bytes, "{max_bytes} bytes");
            assert_eq!(s.misses, 100_000);
            assert_eq!(s.evictions, 100_000 - s.entries as u64);
            consistent(&c);
        }
    }
}
