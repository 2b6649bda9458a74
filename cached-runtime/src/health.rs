//! [`Health`]: a snapshot of whether a cache can use its store, read with
//! [`Cache::health`](crate::Cache::health). The facts are the fail-open policy's (reachability,
//! the breaker) and the pending invalidations'; nothing here makes a round trip.

/// A snapshot of a cache's health, for a readiness probe or an admin endpoint. Serializes
/// (`serde`) as a map from field name to value.
///
/// Taking it costs a few atomic reads: no round trip to Redis (use
/// [`Cache::ping`](crate::Cache::ping) for a fresh answer).
///
/// ```
/// let cache = redcache::Cache::redis("redis://127.0.0.1:6379")?;
/// let health: redcache::Health = cache.health(); // no round trip
/// assert!(health.reachable); // nothing has failed yet
/// assert!(!health.breaker_open);
/// assert_eq!(health.pending_invalidations, 0);
/// let json = serde_json::to_string(&health).unwrap(); // for a readiness endpoint
/// assert!(json.contains(r#""store":"redis""#));
/// # Ok::<(), redcache::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Health {
    /// Which store the cache is on: `"memory"`, `"redis"`, `"cluster"`, or `"disabled"`.
    pub store: &'static str,
    /// Why caching is off, when it is: the global cache with `REDIS_URL` set but malformed
    /// caches nothing (a memory store of its own would miss other processes'
    /// invalidations), and says why here and once in the log.
    pub disabled: Option<String>,
    /// Whether the last Redis operation (a cached call's, an invalidation's or a
    /// [`ping`](crate::Cache::ping)) reached Redis. True before the first operation (nothing has
    /// failed yet), and always true for the memory store.
    pub reachable: bool,
    /// Whether the circuit breaker is open: Redis failed three times in a row, so operations
    /// skip it and one call per cooldown probes it again.
    pub breaker_open: bool,
    /// Whether the near cache ([`CacheBuilder::near_cache`](crate::CacheBuilder::near_cache))
    /// is armed and serving: Redis confirmed client tracking on a live invalidation channel
    /// (on every master of a cluster). False without a near cache, before the first call that
    /// uses it, while the channel is lost or misses its heartbeat (L1 is then flushed and
    /// bypassed), and for good if Redis refused tracking.
    pub near_armed: bool,
    /// Keys, patterns and tags of invalidations not yet delivered (as
    /// [`Stats::invalidations_pending`](crate::Stats::invalidations_pending)). While any is
    /// pending, no cached value is served.
    pub pending_invalidations: u64,
}
