//! Counters every cache keeps, read with [`Cache::stats`](crate::Cache::stats). Each is bumped
//! at one level: outcomes by the operations (`call`, `invalidate`), absorbed failures by the
//! fail-open policy. Nothing else counts.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a cache's counters since it was built.
///
/// Serializes (`serde`) as a map from field name to count, for a metrics or admin endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Calls answered from the cache without running the function body.
    pub hits: u64,
    /// Calls that ran the body: the key was absent, undecodable, or the cache was unavailable.
    pub misses: u64,
    /// Cache operations that failed (timeout, connection, server error, garbage). Each one was
    /// absorbed: the caller got the body's value instead.
    pub errors: u64,
    /// Entries that were present but could not be decoded (schema change, foreign data); each
    /// was treated as a miss and overwritten. Also counted in `errors` (as is a key of another
    /// Redis type, which is also replaced).
    pub decode_errors: u64,
    /// Cache operations skipped because the circuit breaker was open (Redis recently failing).
    pub breaker_skips: u64,
    /// Calls answered with the value another concurrent call computed (single-flight), without
    /// running the body. Also counted in `hits`.
    pub coalesced: u64,
    /// Calls answered with a stale value (`stale = ..`) while one caller refreshed it. Also
    /// counted in `hits`.
    pub stale_served: u64,
    /// Body errors replaced by a stale value (`fail_safe = true`).
    pub fail_safe: u64,
    /// Calls that waited for another process's lease (`lock = true`).
    pub lock_waits: u64,
    /// Values written to the cache.
    pub writes: u64,
    /// Values not written because the key changed while the body ran: an invalidation removed
    /// the lease (or the entry being refreshed), or the lease expired.
    pub writes_skipped: u64,
    /// Keys deleted by invalidations.
    pub invalidated: u64,
    /// Values returned but not cached because their encoded size exceeded
    /// [`CacheBuilder::max_value_bytes`](crate::CacheBuilder::max_value_bytes).
    pub too_large: u64,
    /// Keys, patterns and tags of invalidations not yet delivered to Redis (unreachable, slow,
    /// or skipped by the breaker), at the time of the snapshot. They are retried until
    /// delivered; while any is pending, no cached value is served (calls run their bodies).
    pub invalidations_pending: u64,
    /// Keys, patterns and tags of invalidations dropped because too many were pending (more
    /// than 100,000); each drop is logged at `error`.
    pub invalidations_lost: u64,
}

/// What the operations (`call`, `invalidate`) count: the outcomes of calls.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) fail_safe: AtomicU64,
    pub(crate) lock_waits: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) writes_skipped: AtomicU64,
    pub(crate) invalidated: AtomicU64,
    pub(crate) too_large: AtomicU64,
}

/// What the fail-open policy counts: every failure it absorbed.
#[derive(Debug, Default)]
pub(crate) struct FailureCounters {
    pub(crate) errors: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) breaker_skips: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

/// The public snapshot of both sets of counters and the pending invalidations.
pub(crate) fn snapshot(
    outcomes: &Counters,
    failures: &FailureCounters,
    invalidations_pending: u64,
    invalidations_lost: u64,
) -> Stats {
    Stats {
        hits: outcomes.hits.load(Relaxed),
        misses: outcomes.misses.load(Relaxed),
        errors: failures.errors.load(Relaxed),
        decode_errors: failures.decode_errors.load(Relaxed),
        breaker_skips: failures.breaker_skips.load(Relaxed),
        coalesced: outcomes.coalesced.load(Relaxed),
        stale_served: outcomes.stale_served.load(Relaxed),
        fail_safe: outcomes.fail_safe.load(Relaxed),
        lock_waits: outcomes.lock_waits.load(Relaxed),
        writes: outcomes.writes.load(Relaxed),
        writes_skipped: outcomes.writes_skipped.load(Relaxed),
        invalidated: outcomes.invalidated.load(Relaxed),
        too_large: outcomes.too_large.load(Relaxed),
        invalidations_pending,
        invalidations_lost,
    }
}
