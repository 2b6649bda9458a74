//! The backends: where entries live, the in-process store and Redis. They only move bytes;
//! `tier` puts the fail-open policy in front of Redis and gives both one interface.

pub(crate) mod memory;
pub(crate) mod redis;
mod slot;
pub(crate) mod tls;
pub(crate) mod tracking;

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;

/// A value kept as itself next to its bytes, in the memory store only (see `value::Copies`).
pub(crate) type Kept = Arc<dyn Any + Send + Sync>;

/// A stored entry's bytes: shared for the memory store (no copy per hit), owned for Redis.
pub(crate) enum Bytes {
    Shared(Arc<[u8]>, Option<Kept>),
    Owned(Vec<u8>),
}

impl Bytes {
    /// The value itself, if the memory store kept it.
    pub(crate) fn kept(&self) -> Option<&(dyn Any + Send + Sync)> {
        match self {
            Bytes::Shared(_, kept) => kept.as_deref(),
            Bytes::Owned(_) => None,
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bytes")
            .field("len", &self.len())
            .field("kept", &self.kept().is_some())
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
