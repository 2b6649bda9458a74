//! The in-process store: a bounded moka cache of encoded entries, each with its own TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Bytes;
use crate::glob;

#[derive(Clone)]
struct Entry {
    bytes: Arc<[u8]>,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub(crate) struct MemoryStore {
    entries: moka::sync::Cache<String, Entry>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl MemoryStore {
    pub(crate) fn new(max_entries: u64) -> Self {
        MemoryStore {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Bytes> {
        self.entries
            .get(key)
            .map(|entry| Bytes::Shared(entry.bytes))
    }

    pub(crate) fn set(&self, key: &str, bytes: Vec<u8>, ttl: Duration) {
        let entry = Entry {
            bytes: bytes.into(),
            ttl,
        };
        self.entries.insert(key.to_owned(), entry);
    }

    pub(crate) fn delete(&self, keys: &[String]) -> u64 {
        keys.iter()
            .filter(|key| self.entries.remove(key.as_str()).is_some())
            .count() as u64
    }

    pub(crate) fn delete_matching(&self, pattern: &str) -> u64 {
        let doomed: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(key, _)| glob::matches(pattern.as_bytes(), key.as_bytes()))
            .map(|(key, _)| key)
            .collect();
        doomed
            .iter()
            .filter(|key| self.entries.remove(key.as_str()).is_some())
            .count() as u64
    }
}
