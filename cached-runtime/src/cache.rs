//! [`Cache`]: the handle users hold. It owns a cache's parts (its tier, fail-open policy,
//! flights, counters and settings) and hands them to the layers that do the work: the call
//! algorithm (`call`), invalidation (`invalidate`), the lease protocol (`lease`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::builder::CacheBuilder;
use crate::error::Error;
use crate::fail_open::{FailOpen, Failure};
use crate::flight::Flights;
use crate::health::Health;
use crate::key::{KeyWriter, escape_glob};
use crate::pending::Pending;
use crate::stats::{self, Counters, Stats};
use crate::tier::Store;

/// Where tags live, inside the prefix: `<prefix>#tag:<tag>`, in the reserved namespace, so
/// tags never share a key with an entry (see `tier::RESERVED`).
const TAG_MARKER: &str = "#tag:";

/// A cache: the in-process memory store or a Redis server, with a key prefix, an operation
/// timeout, a circuit breaker and counters.
///
/// Cheap to clone (an `Arc`); clones share everything.
///
/// # Fail-open
///
/// A cache operation never makes a cached function fail and never makes it wait longer than
/// the op timeout (200 ms unless set with [`CacheBuilder::op_timeout`]): when Redis is down,
/// slow, full, or holds something that does not decode, the function body runs instead. Each
/// failure is counted in [`Cache::stats`] and logged through `tracing` (target `redcache`, at
/// most one line every few seconds). After three consecutive failures to reach Redis, a
/// circuit breaker skips Redis entirely (no waiting at all) and lets one call probe it again
/// every half second, so a restarted Redis is used again without any action.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    fail_open: Arc<FailOpen>,
    flights: Flights,
    pending: Pending,
    counters: Counters,
    settings: Settings,
    /// Why caching is off, if it is (a malformed `REDIS_URL` for the global cache): every
    /// call runs its body, nothing is read, written or deleted.
    disabled: Option<String>,
    /// The prefix with glob characters escaped, for `SCAN MATCH` patterns.
    pattern_prefix: String,
}

/// The options of a cache that the layers above the tier read.
pub(crate) struct Settings {
    /// Prepended to every key, with its `:` (empty when no prefix is set).
    pub(crate) prefix: String,
    pub(crate) lease_timeout: Duration,
    pub(crate) lock_wait: Duration,
    pub(crate) max_value_bytes: usize,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("store", &format_args!("{:?}", self.inner.store))
            .field("prefix", &self.inner.settings.prefix)
            .field("op_timeout", &self.inner.fail_open.op_timeout())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Cache {
    /// An in-process cache (bounded to 100,000 entries, least useful evicted first).
    pub fn memory() -> Cache {
        Cache::builder()
            .build()
            .expect("the default builder options are valid")
    }

    /// A cache on the Redis server at `url` (`redis://[user:password@]host:port[/db]`).
    ///
    /// Does not connect: the first cached call does, and fails open if Redis is unreachable.
    /// Errors only on a malformed URL.
    pub fn redis(url: impl AsRef<str>) -> Result<Cache, Error> {
        Cache::builder().url(url).build()
    }

    /// A cache on the Redis Cluster reached through `nodes` (`redis://host:port` strings; the
    /// other nodes are discovered). Does not connect; errors only on a malformed node URL.
    pub fn cluster<I>(nodes: I) -> Result<Cache, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Cache::builder().cluster(nodes).build()
    }

    /// Starts configuring a cache. Without [`url`](CacheBuilder::url) or
    /// [`cluster`](CacheBuilder::cluster) it builds a memory cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A snapshot of this cache's counters.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        stats::snapshot(
            &inner.counters,
            inner.fail_open.failures(),
            inner.pending.held(),
            inner.pending.lost(),
        )
    }

    /// Asks Redis whether it answers (`PING`) and returns the round trip time. On the memory
    /// store it answers at once with the (tiny) time it took.
    ///
    /// The `PING` goes through the fail-open policy like any cache operation: it takes at most
    /// the op timeout, a failure is counted in [`Stats::errors`] and counts toward the circuit
    /// breaker, a success closes it, and while the breaker is open it is skipped (one call per
    /// cooldown probes Redis). Its outcome is what [`Cache::health`] then reports as
    /// `reachable`.
    ///
    /// # Errors
    ///
    /// [`Error::Unreachable`] when Redis did not answer within the op timeout, the connection
    /// failed, the breaker is open and skipped it, or Redis refused the command (an ACL). The
    /// message never contains the URL or a password.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), cached_runtime::Error> {
    /// let cache = cached_runtime::Cache::redis("redis://127.0.0.1:6379")?;
    /// match cache.ping().await {
    ///     Ok(round_trip) => println!("redis answered in {round_trip:?}"),
    ///     Err(error) => eprintln!("{error}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ping(&self) -> Result<Duration, Error> {
        let fail_open = self.fail_open();
        let skipped = fail_open.breaker_open();
        let start = Instant::now();
        match self.store().ping().await {
            Ok(()) => Ok(start.elapsed()),
            Err(failure) => {
                let reason = match failure {
                    Failure::Unavailable if skipped && fail_open.breaker_open() => {
                        "the circuit breaker is open after repeated failures; Redis is probed again once per cooldown".to_owned()
                    }
                    Failure::Unavailable => format!(
                        "no answer to PING within the op timeout ({:?}), or the connection failed",
                        fail_open.op_timeout()
                    ),
                    Failure::WrongType | Failure::Refused => {
                        "Redis refused PING (an ACL may not allow it)".to_owned()
                    }
                };
                Err(Error::Unreachable { reason })
            }
        }
    }

    /// A snapshot of this cache's health: whether Redis was reachable at the last operation,
    /// whether the breaker is open, how many invalidations are pending. Not async, and makes
    /// no round trip: the facts are those the fail-open policy keeps (use [`Cache::ping`] for
    /// a fresh answer).
    ///
    /// ```
    /// let cache = cached_runtime::Cache::memory();
    /// let health = cache.health();
    /// assert!(health.reachable && !health.breaker_open);
    /// assert_eq!(health.store, "memory");
    /// ```
    pub fn health(&self) -> Health {
        let fail_open = self.fail_open();
        Health {
            store: if self.is_disabled() {
                "disabled"
            } else {
                self.store().kind()
            },
            disabled: self.inner.disabled.clone(),
            reachable: fail_open.reachable() && !self.is_disabled(),
            breaker_open: fail_open.breaker_open(),
            near_armed: false,
            pending_invalidations: self.pending().held(),
        }
    }

    /// Puts together the parts the builder made.
    pub(crate) fn assemble(store: Store, fail_open: Arc<FailOpen>, settings: Settings) -> Cache {
        let pattern_prefix = escape_glob(&settings.prefix).into_owned();
        Cache {
            inner: Arc::new(Inner {
                store,
                fail_open,
                flights: Flights::default(),
                pending: Pending::default(),
                counters: Counters::default(),
                settings,
                disabled: None,
                pattern_prefix,
            }),
        }
    }

    /// A cache that caches nothing, for `reason`: every call runs its body. What the global
    /// cache is when `REDIS_URL` is set but malformed, rather than a memory store of this
    /// process alone, which would miss the other processes' invalidations.
    pub(crate) fn disabled(reason: String) -> Cache {
        let mut cache = Cache::memory();
        Arc::get_mut(&mut cache.inner)
            .expect("a cache just built has no other handle")
            .disabled = Some(reason);
        cache
    }

    /// Whether caching is off (see [`Cache::disabled`]).
    #[inline]
    pub(crate) fn is_disabled(&self) -> bool {
        self.inner.disabled.is_some()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn fail_open(&self) -> &FailOpen {
        &self.inner.fail_open
    }

    pub(crate) fn flights(&self) -> &Flights {
        &self.inner.flights
    }

    pub(crate) fn pending(&self) -> &Pending {
        &self.inner.pending
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(crate) fn lease_timeout(&self) -> Duration {
        self.inner.settings.lease_timeout
    }

    pub(crate) fn lock_wait(&self) -> Duration {
        self.inner.settings.lock_wait
    }

    pub(crate) fn max_value_bytes(&self) -> usize {
        self.inner.settings.max_value_bytes
    }

    /// Prepended to every key.
    pub(crate) fn prefix(&self) -> &str {
        &self.inner.settings.prefix
    }

    /// Starts a `SCAN MATCH` pattern with.
    pub(crate) fn pattern_prefix(&self) -> &str {
        &self.inner.pattern_prefix
    }

    /// Starts a tag's key: the prefix, then `#tag:`, then room for the tag.
    pub(crate) fn tag_writer(&self, capacity: usize) -> KeyWriter {
        let mut writer =
            KeyWriter::with_prefix(&self.inner.settings.prefix, TAG_MARKER.len() + capacity);
        writer.push_literal(TAG_MARKER);
        writer
    }
}
