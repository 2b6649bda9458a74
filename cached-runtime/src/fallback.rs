//! The outage cushion (`CacheBuilder::outage_fallback`): while Redis is unreachable, values
//! that calls compute are kept in process memory and served to later calls, so an outage does
//! not send every call to the source.
//!
//! # Behavior
//!
//! * Used only while the fail-open policy says Redis is unreachable (the call's read failed to
//!   reach it, or the open breaker skipped it), and never while an invalidation is pending
//!   (calls then bypass the cache altogether).
//! * A value lives at most the configured duration (and at most its function's `ttl`).
//! * Each value belongs to the outage it was computed in (`FailOpen::recoveries`): as soon as
//!   any operation reaches Redis again, the outage is over and every value kept during it is
//!   dead (and the store cleared by the next call that sees Redis).
//! * At most [`BOUND`] values are kept (least useful evicted first).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use crate::backend::{Bytes, Kept, Local};
use crate::expiry::{Deadline, Expiring};
use crate::store;

/// How many values are kept at most.
pub(crate) const BOUND: u64 = 10_000;

#[derive(Clone)]
struct Cushioned {
    value: Arc<Local>,
    outage: u64,
}

impl Expiring for Cushioned {
    fn deadline(&self) -> Deadline {
        self.value.deadline
    }
}

pub(crate) struct Fallback {
    values: store::Map<Cushioned>,
    max_age: Duration,
    /// Something may be kept: the next call that reaches Redis clears the store.
    holds: AtomicBool,
}

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fallback")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl Fallback {
    pub(crate) fn new(max_age: Duration) -> Self {
        Fallback {
            values: store::Map::new(BOUND),
            max_age,
            holds: AtomicBool::new(false),
        }
    }

    /// The value kept for `key` during outage `outage`, if it is not past its lifetime.
    pub(crate) fn get(&self, key: &str, outage: u64) -> Option<Bytes> {
        let cushioned = self.values.get(key)?;
        (cushioned.outage == outage).then(|| Bytes::Local(cushioned.value))
    }

    /// Keeps a value computed during outage `outage`, for at most `ttl`.
    pub(crate) fn put(
        &self,
        key: &str,
        outage: u64,
        bytes: Arc<[u8]>,
        kept: Option<Kept>,
        ttl: Duration,
    ) {
        self.holds.store(true, Relaxed);
        let value = Local::new(bytes, kept, Deadline::after(self.max_age.min(ttl)));
        self.values.insert(key, Cushioned { value, outage });
    }

    /// Drops everything kept (an invalidation by this process).
    pub(crate) fn clear(&self) {
        self.holds.store(false, Relaxed);
        self.values.clear();
    }

    /// Redis answered: the outage is over, nothing kept during it is served any more.
    #[inline]
    pub(crate) fn redis_answered(&self) {
        if self.holds.load(Relaxed) && self.holds.swap(false, Relaxed) {
            self.values.clear();
        }
    }
}
