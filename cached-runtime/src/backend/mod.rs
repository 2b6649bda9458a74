//! Where entries live: an in-process store or Redis. `Cache` owns one and puts the fail-open
//! policy (timeouts, breaker, logs, counters) in front of it; stores only move bytes.

pub(crate) mod memory;
pub(crate) mod redis;

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;

/// A value kept as itself next to its bytes, in the memory store only (see `flow::Copies`).
pub(crate) type Copy = Arc<dyn Any + Send + Sync>;

/// A stored entry's bytes: shared for the memory store (no copy per hit), owned for Redis.
pub(crate) enum Bytes {
    Shared(Arc<[u8]>, Option<Copy>),
    Owned(Vec<u8>),
}

impl Bytes {
    /// The value itself, if the memory store kept it.
    pub(crate) fn copy(&self) -> Option<&(dyn Any + Send + Sync)> {
        match self {
            Bytes::Shared(_, copy) => copy.as_deref(),
            Bytes::Owned(_) => None,
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bytes")
            .field("len", &self.len())
            .field("copy", &self.copy().is_some())
            .finish()
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Shared(bytes, _) => bytes,
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
