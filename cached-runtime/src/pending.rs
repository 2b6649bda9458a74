//! Durable invalidation: the invalidations a cache could not deliver, kept until it can.
//!
//! # Behavior
//!
//! * An invalidation (exact keys, a pattern, a tag) whose deletion fails, because Redis is
//!   unreachable, too slow, or skipped by the open breaker, is kept here, not dropped.
//! * While any is kept, the cache serves no value: cached calls run their bodies and store
//!   nothing, as with Redis down. An entry that a kept invalidation would delete is therefore
//!   never served by this process, however long delivery takes.
//! * A delivery task retries every [`RETRY`] until all are delivered; its attempts go through
//!   the fail-open policy like any other operation, so while the breaker is open they wait for
//!   its probe. Delivery follows Redis's recovery within one breaker cooldown plus [`RETRY`].
//! * At most [`BOUND`] keys, patterns and tags are kept per cache. Past that an invalidation is
//!   dropped: counted in `invalidations_lost` and logged at `error` (entries it would have
//!   deleted may be served by other processes until their TTL; this process keeps serving none
//!   until the rest are delivered).
//! * The task runs on the Tokio runtime of the call that found something to keep. If that
//!   runtime ends first, the next cached or invalidating call, on any runtime, starts another.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::telemetry;
use crate::tier::Target;

/// How often the delivery task tries again.
pub(crate) const RETRY: Duration = Duration::from_millis(50);

/// How many keys, patterns and tags are kept at most.
pub(crate) const BOUND: u64 = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// What waits for delivery (a delivery task takes them out while it tries them).
    targets: Mutex<Vec<Target>>,
    /// Keys, patterns and tags not yet delivered: waiting, or being tried.
    held: AtomicU64,
    /// A delivery task is running.
    delivering: AtomicBool,
    lost: AtomicU64,
}

impl Pending {
    /// Whether any invalidation is undelivered: while so, no cached value may be served.
    #[inline]
    pub(crate) fn holds_any(&self) -> bool {
        self.held.load(SeqCst) != 0
    }

    /// How many keys, patterns and tags are undelivered.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(SeqCst)
    }

    /// How many were dropped past the bound.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(SeqCst)
    }

    /// Keeps `target` for delivery; returns false if it was dropped past the bound.
    pub(crate) fn keep(&self, target: Target) -> bool {
        let size = target.size();
        let mut targets = self.lock();
        if self.held.load(SeqCst) + size > BOUND {
            self.lost.fetch_add(size, SeqCst);
            return false;
        }
        self.held.fetch_add(size, SeqCst);
        telemetry::pending(size, 0);
        targets.push(target);
        true
    }

    /// Takes everything waiting, for a delivery attempt. It stays counted as held until the
    /// attempt reports back with [`Pending::delivered`] or [`Pending::failed`].
    pub(crate) fn take(&self) -> Vec<Target> {
        std::mem::take(&mut *self.lock())
    }

    /// A taken target of `size` keys, patterns or tags was delivered.
    pub(crate) fn delivered(&self, size: u64) {
        self.held.fetch_sub(size, SeqCst);
        telemetry::pending(0, size);
    }

    /// Puts back what is left of a taken target of `size` (kept first, so `held` never drops to zero while
    /// something is undelivered).
    pub(crate) fn failed(&self, size: u64, left: Target) {
        let left_size = left.size();
        self.lock().push(left);
        self.held.fetch_add(left_size, SeqCst);
        self.held.fetch_sub(size, SeqCst);
        telemetry::pending(left_size, size);
    }

    /// Claims the right to run the delivery task; false if one runs already.
    pub(crate) fn start_delivery(&self) -> bool {
        self.delivering
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_ok()
    }

    pub(crate) fn stop_delivery(&self) {
        self.delivering.store(false, SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Target>> {
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Pending {
    /// What a dropped cache held is no longer pending anywhere (the process-wide gauge).
    fn drop(&mut self) {
        telemetry::pending(0, *self.held.get_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Target {
        Target::Keys((0..n).map(|i| i.to_string()).collect())
    }

    #[test]
    fn held_until_delivered_and_bounded() {
        let pending = Pending::default();
        assert!(!pending.holds_any());
        assert!(pending.keep(keys(3)));
        assert!(pending.keep(Target::Tag("t".into())));
        assert_eq!(pending.held(), 4);
        let taken = pending.take();
        assert_eq!(pending.held(), 4, "still held while being tried");
        pending.delivered(taken[1].size());
        pending.failed(taken[0].size(), keys(2));
        assert_eq!(pending.held(), 2);
        assert_eq!(pending.take(), [keys(2)]);
        assert!(!pending.keep(keys(BOUND as usize)), "past the bound");
        assert_eq!(pending.lost(), BOUND);
        assert_eq!(pending.held(), 2);
    }
}
