//! The map behind every in-process tier: the memory store's entries, the near cache's copies
//! and the outage cushion. Bounded, sharded, and each entry carries its own [`Deadline`].
//!
//! # Why not moka
//!
//! These maps were moka caches. A moka read records itself for the eviction policy (a channel
//! send, an access time written into the entry), takes and gives back a reference count on
//! the entry, pins an epoch and reads the clock: on an in-process hit that cost about as much
//! as everything else the call does, and each of those writes is a cache line that every core
//! reading a hot key takes in turn. Here a read takes its shard's read lock, finds the key,
//! checks the deadline (one coarse clock read, see `expiry`) and clones the value out. The
//! lock is crossbeam's `ShardedLock`: a reader locks only its own thread's part of it, so
//! readers on different cores write no line in common, even on one hot key; a writer locks
//! every part (8), which costs a little on inserts, each of which follows a miss.
//!
//! # Eviction
//!
//! Sampled LRU, as Redis's `allkeys-lru`: each entry remembers the map's insert count at its
//! last read (stored only when it changed, so a hot key is not written between inserts), and
//! an insert past the bound evicts, of [`SAMPLES`] entries of its shard drawn at random, an
//! expired one or else the one read longest ago (in inserts). A map holds at most its bound
//! plus one entry per shard (an insert into a shard holding nothing else evicts nothing).
//! Maps bounded below [`SHARDED_FROM`] have one shard, so their bound is exact.
//!
//! # Expiry
//!
//! An entry past its deadline is never returned, and the read that finds it removes it.
//! Entries nobody reads again are swept: once the map has had, since its last sweep, half as
//! many inserts as it holds entries (and at least [`SWEEP_FROM`]), one pass removes every
//! expired entry, on Tokio's blocking pool when there is a runtime (so no call waits for it),
//! else in the inserting thread. Each insert pays for about two entries' checks.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, PoisonError};

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use indexmap::{Equivalent, IndexMap};

use crate::expiry::Expiring;

/// Entries sampled to pick one to evict.
const SAMPLES: usize = 5;
/// Maps bounded below this have one shard (their bound is then exact).
const SHARDED_FROM: u64 = 1024;
/// Maps holding fewer entries than this are not swept: their expired entries hold little.
const SWEEP_FROM: u64 = 1024;

/// A bounded map from string keys to expiring values. Cheap to clone (shared).
pub(crate) struct Map<V> {
    inner: Arc<Inner<V>>,
}

impl<V> Clone for Map<V> {
    fn clone(&self) -> Self {
        Map {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<V> {
    shards: Box<[ShardedLock<Shard<V>>]>,
    /// `shards.len() - 1` (a power of two, less one).
    shard_mask: u64,
    hasher: foldhash::fast::RandomState,
    bound: usize,
    len: AtomicUsize,
    /// Inserts so far (wrapping): the clock of the eviction policy.
    inserts: AtomicU32,
    /// Inserts since the last sweep.
    unswept: AtomicU64,
    /// A sweep is under way.
    sweeping: AtomicBool,
}

struct Shard<V> {
    slots: IndexMap<Key, Slot<V>, HashedAlready>,
    /// State of the shard's random draws (xorshift), for eviction samples.
    draws: u64,
}

struct Slot<V> {
    value: V,
    /// `Inner::inserts` when it was last read or written.
    used: AtomicU32,
}

/// A key with its hash, which `IndexMap` takes as it is ([`HashedAlready`]): the hash that
/// picked the shard also places the key in it.
struct Key {
    hash: u64,
    key: Box<str>,
}

/// A key looked up, with its hash.
struct Probe<'a> {
    hash: u64,
    key: &'a str,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for Key {}

impl Equivalent<Key> for Probe<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.hash == key.hash && *self.key == *key.key
    }
}

/// Hashes a [`Key`] or [`Probe`] to the hash it carries.
#[derive(Clone, Copy, Default)]
struct HashedAlready;

struct Carried(u64);

impl BuildHasher for HashedAlready {
    type Hasher = Carried;

    fn build_hasher(&self) -> Carried {
        Carried(0)
    }
}

impl Hasher for Carried {
    fn write(&mut self, bytes: &[u8]) {
        // Not called: keys and probes write their hash with `write_u64`.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What [`Map::compute`] is to do at a key.
pub(crate) enum Op<V> {
    Keep,
    Put(V),
    Remove,
}

/// What [`Map::compute`] did.
pub(crate) enum Computed<V> {
    /// The value was put (it replaced `Some` value, expired or not).
    Put(Option<V>),
    /// This value, expired or not, was removed.
    Removed(V),
    Kept,
}

impl<V: Expiring + Clone + Send + Sync + 'static> Map<V> {
    /// A map of at most `bound` entries (see the module's documentation for the slack).
    pub(crate) fn new(bound: u64) -> Self {
        let shards = if bound < SHARDED_FROM {
            1
        } else {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            (4 * cores).next_power_of_two().min(64)
        };
        let seed = foldhash::fast::RandomState::default();
        Map {
            inner: Arc::new(Inner {
                shards: (0..shards)
                    .map(|shard| {
                        ShardedLock::new(Shard {
                            slots: IndexMap::with_hasher(HashedAlready),
                            draws: seed.hash_one(shard) | 1,
                        })
                    })
                    .collect(),
                shard_mask: shards as u64 - 1,
                hasher: seed,
                bound: usize::try_from(bound).unwrap_or(usize::MAX),
                len: AtomicUsize::new(0),
                inserts: AtomicU32::new(0),
                unswept: AtomicU64::new(0),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// The value at `key`, unless it is past its deadline (then it is removed).
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.read(key, V::clone)
    }

    /// `read` of the value at `key`, unless it is past its deadline (then it is removed).
    /// `read` runs under the shard's read lock, so a hit can clone what it needs out of the
    /// value without taking a reference count on it (on a hot key, a line every core writes);
    /// it must not write to this map.
    #[inline]
    pub(crate) fn read<R>(&self, key: &str, read: impl FnOnce(&V) -> R) -> Option<R> {
        let probe = self.probe(key);
        let shard = self.read_lock(&probe);
        let slot = shard.slots.get(&probe)?;
        if slot.value.deadline().passed() {
            drop(shard);
            self.remove_if_expired(key);
            return None;
        }
        let now = self.inner.inserts.load(Relaxed);
        if slot.used.load(Relaxed) != now {
            slot.used.store(now, Relaxed);
        }
        Some(read(&slot.value))
    }

    /// Whether a live value is at `key` (without counting as a read).
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        let probe = self.probe(key);
        let shard = self.read_lock(&probe);
        shard
            .slots
            .get(&probe)
            .is_some_and(|slot| !slot.value.deadline().passed())
    }

    /// Puts `value` at `key`, whatever is there.
    pub(crate) fn insert(&self, key: &str, value: V) {
        self.compute(key, |_| Op::Put(value));
    }

    /// Runs `op` on what is at `key` (expired or not) and does what it says, with the key's
    /// shard locked throughout: no other write to the key comes between.
    pub(crate) fn compute(&self, key: &str, op: impl FnOnce(Option<&V>) -> Op<V>) -> Computed<V> {
        let probe = self.probe(key);
        let mut shard = self.write_lock(&probe);
        let index = shard.slots.get_index_of(&probe);
        let current = index.and_then(|index| shard.slots.get_index(index));
        match (op(current.map(|(_, slot)| &slot.value)), index) {
            (Op::Keep, _) | (Op::Remove, None) => Computed::Kept,
            (Op::Remove, Some(index)) => {
                let (_, slot) = shard.slots.swap_remove_index(index).expect("found");
                self.inner.len.fetch_sub(1, Relaxed);
                Computed::Removed(slot.value)
            }
            (Op::Put(value), Some(index)) => {
                let slot = &mut shard.slots[index];
                *slot.used.get_mut() = self.inner.inserts.fetch_add(1, Relaxed);
                Computed::Put(Some(std::mem::replace(&mut slot.value, value)))
            }
            (Op::Put(value), None) => {
                let used = AtomicU32::new(self.inner.inserts.fetch_add(1, Relaxed));
                let key = Key {
                    hash: probe.hash,
                    key: key.into(),
                };
                shard.slots.insert(key, Slot { value, used });
                if self.inner.len.fetch_add(1, Relaxed) >= self.inner.bound {
                    self.evict_one(&mut shard);
                }
                drop(shard);
                self.inserted();
                Computed::Put(None)
            }
        }
    }

    /// Removes the value at `key` (expired or not) and returns it.
    pub(crate) fn remove(&self, key: &str) -> Option<V> {
        match self.compute(key, |current| match current {
            Some(_) => Op::Remove,
            None => Op::Keep,
        }) {
            Computed::Removed(value) => Some(value),
            _ => None,
        }
    }

    /// Removes every value.
    pub(crate) fn clear(&self) {
        for shard in self.inner.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            self.inner.len.fetch_sub(shard.slots.len(), Relaxed);
            shard.slots = IndexMap::with_hasher(HashedAlready);
        }
    }

    /// How many values the map holds, expired ones not yet removed included.
    pub(crate) fn len(&self) -> u64 {
        self.inner.len.load(Relaxed) as u64
    }

    /// The keys `wanted`, as they are when each shard is read.
    pub(crate) fn keys(&self, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut keys = Vec::new();
        for shard in self.inner.shards.iter() {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            let matching = shard.slots.keys().filter(|key| wanted(&key.key));
            keys.extend(matching.map(|key| String::from(&*key.key)));
        }
        keys
    }

    /// Removes every value past its deadline.
    pub(crate) fn remove_expired(&self) {
        for shard in self.inner.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            let before = shard.slots.len();
            shard
                .slots
                .retain(|_, slot| !slot.value.deadline().passed());
            self.inner
                .len
                .fetch_sub(before - shard.slots.len(), Relaxed);
        }
    }

    fn remove_if_expired(&self, key: &str) {
        self.compute(key, |current| match current {
            Some(value) if value.deadline().passed() => Op::Remove,
            _ => Op::Keep,
        });
    }

    /// Evicts one value of `shard` other than its last (the one just inserted), if it holds
    /// another: of [`SAMPLES`] consecutive ones from a random place (all, in a small shard),
    /// an expired one, or else the one read longest ago.
    fn evict_one(&self, shard: &mut Shard<V>) {
        let others = shard.slots.len() - 1;
        if others == 0 {
            return;
        }
        let now = self.inner.inserts.load(Relaxed);
        let start = if others <= SAMPLES {
            0
        } else {
            shard.draw() as usize % others
        };
        let sampled = (0..SAMPLES.min(others)).map(|k| (start + k) % others);
        let mut victim = (0, 0);
        for index in sampled {
            let slot = &shard.slots[index];
            if slot.value.deadline().passed() {
                victim = (index, u32::MAX);
                break;
            }
            let age = now.wrapping_sub(slot.used.load(Relaxed));
            if age >= victim.1 {
                victim = (index, age);
            }
        }
        shard.slots.swap_remove_index(victim.0);
        self.inner.len.fetch_sub(1, Relaxed);
    }

    /// Counts an insert of a new key, and sweeps when they add up (see the module's
    /// documentation).
    fn inserted(&self) {
        let inner = &*self.inner;
        let unswept = inner.unswept.fetch_add(1, Relaxed) + 1;
        if unswept < SWEEP_FROM.max(self.len() / 2) || inner.sweeping.swap(true, Relaxed) {
            return;
        }
        inner.unswept.store(0, Relaxed);
        let (map, sweeping) = (self.clone(), Sweeping(Arc::clone(&self.inner)));
        // The flag is cleared when the closure goes, run or not: a runtime shutting down
        // drops blocking tasks that have not started, and sweeps must not stop for good.
        let sweep = move || {
            let _sweeping = sweeping;
            map.remove_expired();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(sweep)),
            Err(_) => sweep(),
        }
    }

    #[inline]
    fn probe<'a>(&self, key: &'a str) -> Probe<'a> {
        Probe {
            hash: self.inner.hasher.hash_one(key),
            key,
        }
    }

    #[inline]
    fn read_lock(&self, probe: &Probe<'_>) -> ShardedLockReadGuard<'_, Shard<V>> {
        self.shard(probe)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_lock(&self, probe: &Probe<'_>) -> ShardedLockWriteGuard<'_, Shard<V>> {
        self.shard(probe)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard of a key, from bits of its hash that the shard's table does not use: it
    /// places keys by the low bits and tags them with the top seven, and keys that shared
    /// those bits would crowd a fraction of its buckets.
    #[inline]
    fn shard(&self, probe: &Probe<'_>) -> &ShardedLock<Shard<V>> {
        &self.inner.shards[((probe.hash >> 40) & self.inner.shard_mask) as usize]
    }
}

impl<V> Shard<V> {
    fn draw(&mut self) -> u64 {
        let mut x = self.draws;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.draws = x;
        x
    }
}

/// Marks a sweep under way while it lives.
struct Sweeping<V>(Arc<Inner<V>>);

impl<V> Drop for Sweeping<V> {
    fn drop(&mut self) {
        self.0.sweeping.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::expiry::Deadline;

    #[derive(Clone, Debug)]
    struct Entry(Deadline, u64);

    impl Expiring for Entry {
        fn deadline(&self) -> Deadline {
            self.0
        }
    }

    fn live(n: u64) -> Entry {
        Entry(Deadline::after(Duration::from_secs(60)), n)
    }

    fn gone() -> Entry {
        Entry(Deadline::after(Duration::ZERO), 0)
    }

    #[test]
    fn gets_puts_computes_and_removes() {
        let map = Map::new(100);
        assert!(map.get("a").is_none());
        map.insert("a", live(1));
        assert_eq!(map.get("a").map(|e| e.1), Some(1));
        let put = map.compute("a", |current| Op::Put(live(current.unwrap().1 + 1)));
        assert!(matches!(put, Computed::Put(Some(Entry(_, 1)))));
        assert_eq!(map.get("a").map(|e| e.1), Some(2));
        assert!(matches!(map.compute("a", |_| Op::Keep), Computed::Kept));
        assert_eq!(map.remove("a").map(|e| e.1), Some(2));
        assert!(map.get("a").is_none() && map.remove("a").is_none());
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn an_expired_value_is_never_returned_and_its_read_removes_it() {
        let map = Map::new(100);
        map.insert("old", gone());
        assert_eq!(map.len(), 1);
        assert!(!map.contains_key("old"));
        assert!(map.get("old").is_none());
        assert_eq!(map.len(), 0, "the read removed it");
    }

    /// Keys drawn from a seeded generator; the map never holds more than its bound (one shard
    /// below `SHARDED_FROM`) and a key read at every round survives the churn.
    #[test]
    fn eviction_keeps_the_bound_and_spares_what_is_read() {
        for bound in [10, 5_000] {
            let map = Map::new(bound);
            let shards = map.inner.shards.len() as u64;
            map.insert("hot", live(0));
            for i in 0..20 * bound {
                map.insert(&format!("cold:{i}"), live(i));
                assert!(map.get("hot").is_some(), "bound {bound}: evicted at {i}");
                assert!(map.len() <= bound + shards, "bound {bound}: {}", map.len());
            }
            let held = map.keys(|_| true).len() as u64;
            assert_eq!(held, map.len());
            assert!(held >= bound - 1, "bound {bound}: only {held} held");
        }
    }

    #[test]
    fn eviction_takes_expired_values_first() {
        let map = Map::new(3);
        map.insert("live:old", live(0));
        map.insert("gone", gone());
        map.insert("live:new", live(1));
        map.insert("newest", live(2));
        assert_eq!(map.len(), 3);
        assert_eq!(map.keys(|_| true).len(), 3);
        assert!(map.contains_key("live:old"), "older, but live");
        assert!(map.keys(|key| key == "gone").is_empty());
        map.insert("next", live(3));
        assert!(!map.contains_key("live:old"), "now the least recently used");
    }

    /// Random operations against a `HashMap` model, from a seed printed on failure. Below
    /// its bound the map holds exactly what the model holds; past it, a subset, within its
    /// bound (plus one per shard), and what it holds is the model's latest value.
    #[test]
    fn random_operations_match_a_model() {
        let seed = crate::random::u64();
        let mut draws = seed | 1;
        let mut draw = |n: u64| {
            draws ^= draws << 13;
            draws ^= draws >> 7;
            draws ^= draws << 17;
            draws % n
        };
        for (bound, keys) in [(100_000, 500), (2_000, 5_000), (16, 100)] {
            let map = Map::new(bound);
            let slack = map.inner.shards.len() as u64;
            let mut model = std::collections::HashMap::new();
            for step in 0..20_000u64 {
                let key = format!("k:{}", draw(keys));
                let context = format!("seed {seed}, bound {bound}, step {step}, {key}");
                match draw(6) {
                    0 | 1 => {
                        map.insert(&key, live(step));
                        model.insert(key.clone(), step);
                    }
                    2 => {
                        let put = map.compute(&key, |current| match current {
                            Some(_) => Op::Keep,
                            None => Op::Put(live(step)),
                        });
                        if matches!(put, Computed::Put(_)) {
                            assert!(!model.contains_key(&key) || bound < 100_000, "{context}");
                            model.insert(key.clone(), step);
                        }
                    }
                    3 => {
                        let removed = map.remove(&key).map(|entry| entry.1);
                        let modelled = model.remove(&key);
                        assert!(removed.is_none() || removed == modelled, "{context}");
                        if bound == 100_000 {
                            assert_eq!(removed, modelled, "{context}");
                        }
                    }
                    4 if draw(1_000) == 0 => {
                        map.clear();
                        model.clear();
                    }
                    _ => {
                        let got = map.get(&key).map(|entry| entry.1);
                        let modelled = model.get(&key).copied();
                        assert!(got.is_none() || got == modelled, "{context}");
                        if bound == 100_000 {
                            assert_eq!(got, modelled, "{context}");
                        }
                    }
                }
                assert!(map.len() <= bound + slack, "{context}: {} held", map.len());
            }
            let held = map.keys(|_| true);
            assert_eq!(held.len() as u64, map.len(), "seed {seed}");
            for key in held {
                assert_eq!(
                    map.get(&key).map(|entry| entry.1),
                    model.get(&key).copied(),
                    "seed {seed}, {key}"
                );
            }
        }
    }

    #[test]
    fn inserts_sweep_the_expired_values_nobody_reads() {
        let map = Map::new(100_000);
        for i in 0..SWEEP_FROM {
            map.insert(&format!("old:{i}"), gone());
        }
        // The sweep ran in this thread (no runtime).
        assert_eq!(map.len(), 0);
        for i in 0..10 {
            map.insert(&format!("new:{i}"), live(i));
        }
        map.remove_expired();
        assert_eq!(map.len(), 10, "live values are kept");
    }

    #[test]
    fn a_sweep_handed_to_an_ending_runtime_does_not_stop_later_sweeps() {
        let map = Map::new(100_000);
        // A runtime whose one blocking thread is busy, so the sweep waits in its queue, and
        // which then shuts down: whether the pool then runs or drops the queued sweep, the
        // flag must be cleared.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)));
            for i in 0..SWEEP_FROM {
                map.insert(&format!("a:{i}"), gone());
            }
        });
        runtime.shutdown_timeout(Duration::from_millis(10));
        let waited = Instant::now();
        while map.inner.sweeping.load(Relaxed) {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "the flag stayed set"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // No runtime now: the next sweep runs in this thread.
        for i in 0..2 * SWEEP_FROM {
            map.insert(&format!("b:{i}"), gone());
        }
        assert!(map.len() < SWEEP_FROM, "swept: {} left", map.len());
    }
}
