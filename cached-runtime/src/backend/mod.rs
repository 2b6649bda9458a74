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

use crate::expiry::{Deadline, Expiring};

/// A value kept as itself next to its bytes, in the memory store only (see `value::Copies`).
pub(crate) type Kept = Arc<dyn Any + Send + Sync>;

/// An entry held in process (the memory store, the outage cushion): its bytes, the value
/// kept as itself for a `Clone` type, and its deadline. Behind one `Arc`: a hit takes one
/// reference count.
pub(crate) struct Local {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) kept: Option<Kept>,
    /// `codec::is_plain(bytes)`.
    pub(crate) plain: bool,
    pub(crate) deadline: Deadline,
}

impl Local {
    pub(crate) fn new(bytes: Arc<[u8]>, kept: Option<Kept>, deadline: Deadline) -> Arc<Local> {
        Arc::new(Local {
            plain: crate::codec::is_plain(&bytes),
            bytes,
            kept,
            deadline,
        })
    }
}

impl Expiring for Local {
    fn deadline(&self) -> Deadline {
        self.deadline
    }
}

/// A stored entry's bytes: shared for in-process entries (no copy per hit), owned for Redis.
pub(crate) enum Bytes {
    Local(Arc<Local>),
    Owned(Vec<u8>),
}

impl Bytes {
    /// The value itself, if the memory store kept it.
    pub(crate) fn kept(&self) -> Option<&(dyn Any + Send + Sync)> {
        match self {
            Bytes::Local(local) => local.kept.as_deref(),
            Bytes::Owned(_) => None,
        }
    }

    /// Whether the entry is plain (`codec::is_plain`), as far as known without parsing it.
    pub(crate) fn plain(&self) -> bool {
        match self {
            Bytes::Local(local) => local.plain,
            Bytes::Owned(_) => false,
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
            Bytes::Local(local) => &local.bytes,
            Bytes::Owned(bytes) => bytes,
        }
    }
}
