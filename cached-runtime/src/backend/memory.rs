//! The memory backend: a bounded map of encoded entries (`store`), each with its own
//! deadline (see `expiry`), and the tag sets (a moka cache: weighed, with per-set lifetimes).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::ops::compute::{CompResult, Op};

use super::{Bytes, Kept, Local};
use crate::expiry::Deadline;
use crate::glob;
use crate::store::{self, Computed};

/// An entry: served until its deadline, like a Redis key until its TTL.
type Entry = Arc<Local>;

fn entry(bytes: Arc<[u8]>, kept: Option<Kept>, ttl: Duration) -> Entry {
    Local::new(bytes, kept, Deadline::after(ttl))
}

/// Whether `entry` is there for a reader, as a Redis key is until its TTL.
fn live(entry: Option<&Entry>) -> Option<&Entry> {
    entry.filter(|entry| !entry.deadline.passed())
}

/// One tag: the keys cached with it (so an invalidation can delete them), its version (see
/// `codec`: an entry is valid only while its tags keep the versions it was written with), and
/// how long it must live (its longest-lived member).
#[derive(Clone)]
struct TagSet {
    keys: Arc<Mutex<Members>>,
    version: u64,
    ttl: Duration,
    /// Its size when last put, for the tags' bound.
    weight: u32,
}

/// A tag's keys. Keys whose entries are gone (evicted, expired) are pruned whenever the set
/// has doubled since the last pruning, so a set stays within about twice its live entries.
#[derive(Default)]
struct Members {
    keys: HashSet<String>,
    pruned_at: usize,
}

/// Sets smaller than this are never pruned.
const PRUNE_FROM: usize = 1024;

struct TagSetTtl;

impl moka::Expiry<String, TagSet> for TagSetTtl {
    fn expire_after_create(&self, _: &String, set: &TagSet, _: Instant) -> Option<Duration> {
        Some(set.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        set: &TagSet,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(set.ttl)
    }
}

#[derive(Clone)]
pub(crate) struct MemoryStore {
    /// Tag sets, updated only through moka's per-key compute, like the entries' leases.
    tags: moka::sync::Cache<String, TagSet, foldhash::fast::RandomState>,
    entries: store::Map<Entry>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl MemoryStore {
    pub(crate) fn new(max_entries: u64) -> Self {
        MemoryStore {
            // Bounded by the keys they hold, so tags cannot grow past the entries: pruned sets
            // hold about twice their live entries, at most. A tag evicted past the bound takes
            // its version with it, which only turns its entries into misses.
            tags: moka::sync::Cache::builder()
                .max_capacity(max_entries.saturating_mul(4).max(PRUNE_FROM as u64 * 4))
                .weigher(|_, set: &TagSet| set.weight)
                .expire_after(TagSetTtl)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            entries: store::Map::new(max_entries),
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<Bytes> {
        self.entries.get(key).map(Bytes::Local)
    }

    /// `read` of the live entry at `key`, under its shard's read lock (see `store::Map::read`).
    #[inline]
    pub(crate) fn read<R>(&self, key: &str, read: impl FnOnce(&Entry) -> R) -> Option<R> {
        self.entries.read(key, read)
    }

    /// Stores `bytes` only if nothing is at `key`; returns whether it did.
    pub(crate) fn set_if_absent(&self, key: &str, bytes: Arc<[u8]>, ttl: Duration) -> bool {
        let outcome = self.entries.compute(key, |current| match live(current) {
            Some(_) => store::Op::Keep,
            None => store::Op::Put(entry(bytes, None, ttl)),
        });
        matches!(outcome, Computed::Put(_))
    }

    /// Stores `bytes` at `key`, whatever is there.
    pub(crate) fn set(&self, key: &str, bytes: Arc<[u8]>, kept: Option<Kept>, ttl: Duration) {
        self.entries.insert(key, entry(bytes, kept, ttl));
    }

    /// Replaces the entry at `key` only if it still holds exactly `expected`.
    pub(crate) fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        bytes: Arc<[u8]>,
        kept: Option<Kept>,
        ttl: Duration,
    ) -> bool {
        let outcome = self.entries.compute(key, |current| match live(current) {
            Some(current) if *current.bytes == *expected => store::Op::Put(entry(bytes, kept, ttl)),
            _ => store::Op::Keep,
        });
        matches!(outcome, Computed::Put(_))
    }

    /// Deletes the entry at `key` only if it still holds exactly `expected`.
    pub(crate) fn delete_if(&self, key: &str, expected: &[u8]) {
        self.entries.compute(key, |current| match live(current) {
            Some(current) if *current.bytes == *expected => store::Op::Remove,
            _ => store::Op::Keep,
        });
    }

    pub(crate) fn delete(&self, keys: &[String]) -> u64 {
        keys.iter().filter(|key| self.remove(key)).count() as u64
    }

    pub(crate) fn delete_matching(&self, pattern: &str) -> u64 {
        let doomed = (self.entries).keys(|key| glob::matches(pattern.as_bytes(), key.as_bytes()));
        doomed.iter().filter(|key| self.remove(key)).count() as u64
    }

    /// Adds `key` to `tag`, which then lives at least `lifetime`; returns the tag's version
    /// (`fresh` if it had none).
    pub(crate) fn tag(&self, tag: &str, key: &str, lifetime: Duration, fresh: u64) -> u64 {
        let outcome = self.tags.entry_by_ref(tag).and_compute_with(|current| {
            let (keys, version, ttl) = match current {
                Some(current) => {
                    let set = current.into_value();
                    (set.keys, set.version, set.ttl.max(lifetime))
                }
                None => (Arc::default(), fresh, lifetime),
            };
            let weight = {
                let mut members = keys.lock().unwrap_or_else(PoisonError::into_inner);
                members.keys.insert(key.to_owned());
                if members.keys.len() >= PRUNE_FROM.max(2 * members.pruned_at) {
                    members.keys.retain(|key| self.entries.contains_key(key));
                    members.pruned_at = members.keys.len();
                }
                u32::try_from(members.keys.len()).unwrap_or(u32::MAX)
            };
            // Put again (the same set) so moka applies the possibly longer lifetime and the
            // new weight.
            Op::Put(TagSet {
                keys,
                version,
                ttl,
                weight,
            })
        });
        match outcome {
            CompResult::Inserted(set) | CompResult::ReplacedWith(set) => set.into_value().version,
            _ => fresh,
        }
    }

    /// The current version of each tag (`None`: the tag has none).
    pub(crate) fn tag_versions(&self, tags: &[String]) -> Vec<Option<u64>> {
        tags.iter()
            .map(|tag| self.tags.get(tag).map(|set| set.version))
            .collect()
    }

    /// Takes `tag`'s keys and deletes them; returns how many entries went.
    pub(crate) fn delete_tagged(&self, tag: &str) -> u64 {
        let taken = self
            .tags
            .entry_by_ref(tag)
            .and_compute_with(|current| match current {
                Some(_) => Op::Remove,
                None => Op::Nop,
            });
        let CompResult::Removed(set) = taken else {
            return 0;
        };
        let keys = std::mem::take(
            &mut set
                .into_value()
                .keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .keys,
        );
        keys.iter().filter(|key| self.remove(key)).count() as u64
    }

    /// Returns whether a live entry went (an expired one is removed too, uncounted, as Redis
    /// would not count it).
    fn remove(&self, key: &str) -> bool {
        self.entries
            .remove(key)
            .is_some_and(|entry| !entry.deadline.passed())
    }
}
