//! Where entries live: an in-process store or Redis. `Cache` owns one and puts the fail-open
//! policy (timeouts, breaker, logs, counters) in front of it; stores only move bytes.

pub(crate) mod memory;
pub(crate) mod redis;

use std::ops::Deref;
use std::sync::Arc;

/// A stored entry's bytes: shared for the memory store (no copy per hit), owned for Redis.
#[derive(Debug)]
pub(crate) enum Bytes {
    Shared(Arc<[u8]>),
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Shared(bytes) => bytes,
            Bytes::Owned(bytes) => bytes,
        }
    }
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per cache, inside its Arc; boxing would add a pointer chase to every call"
)]
pub(crate) enum Store {
    Memory(memory::MemoryStore),
    Redis(redis::RedisStore),
}
