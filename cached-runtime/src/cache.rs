//! [`Cache`]: the handle users hold. It owns a cache's parts (its tier, fail-open policy,
//! flights, counters and settings) and hands them to the layers that do the work: the call
//! algorithm (`call`), invalidation (`invalidate`), the lease protocol (`lease`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::builder::CacheBuilder;
use crate::error::Error;
use crate::fail_open::{FailOpen, Failure};
use crate::fallback::Fallback;
use crate::flight::Flights;
use crate::health::Health;
use crate::key::{KeyWriter, escape_glob};
use crate::pending::Pending;
use crate::stats::{self, CallSite, Counters, FunctionTable, Stats, Tally};
use crate::telemetry;
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
///
/// # Examples
///
/// A cache is usually built once, at start-up, and either installed as the global cache the
/// macros use ([`set_global`](crate::set_global)) or named by a function's `cache = ..`:
///
/// ```
/// use std::sync::LazyLock;
/// use redcache::{Cache, cache};
///
/// static CACHE: LazyLock<Cache> = LazyLock::new(|| {
///     Cache::builder().prefix("app").build().expect("valid options")
/// });
///
/// #[cache(key = "square:<n>", ttl = 60, cache = &CACHE)]
/// async fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(square(12).await, 144);
/// assert_eq!(CACHE.get::<u64>("square:12").await, Some(144)); // the Redis key `app:square:12`
/// assert_eq!(CACHE.stats().misses, 1);
/// # }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    fail_open: Arc<FailOpen>,
    flights: Flights,
    pending: Pending,
    /// The outage cushion, if `outage_fallback` was set.
    fallback: Option<Fallback>,
    counters: Counters,
    /// The outcome counters of each cached function that ran on this cache.
    functions: FunctionTable,
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
    /// How long values computed during an outage are kept and served (`outage_fallback`).
    pub(crate) outage_fallback: Option<Duration>,
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
    /// An in-process cache (bounded to 100,000 entries, least useful evicted first; see
    /// [`CacheBuilder::memory_capacity`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// cache.set("greeting", &"hello".to_owned(), Duration::from_secs(60)).await;
    /// assert_eq!(cache.get::<String>("greeting").await.as_deref(), Some("hello"));
    /// assert_eq!(cache.health().store, "memory");
    /// # }
    /// ```
    pub fn memory() -> Cache {
        Cache::builder()
            .build()
            .expect("the default builder options are valid")
    }

    /// A cache on the Redis server at `url` (`redis://[[user]:password@]host:port[/db]`, or
    /// `rediss://..` for TLS, verified against the system's trusted roots; see
    /// [`CacheBuilder::url`]).
    ///
    /// Does not connect: the first cached call does, and fails open if Redis is unreachable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a malformed URL, and only then.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = redcache::Cache::redis("redis://127.0.0.1:6379/0")?; // no connection yet
    /// assert_eq!(cache.health().store, "redis");
    /// assert!(redcache::Cache::redis("http://127.0.0.1").is_err());
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn redis(url: impl AsRef<str>) -> Result<Cache, Error> {
        Cache::builder().url(url).build()
    }

    /// A cache on the Redis Cluster reached through `nodes` (`redis://host:port` strings, or
    /// `rediss://host:port` for TLS; the other nodes are discovered). Does not connect.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a malformed node URL, and only then.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = redcache::Cache::cluster([
    ///     "redis://10.0.0.1:7000",
    ///     "redis://10.0.0.2:7000",
    /// ])?;
    /// assert_eq!(cache.health().store, "cluster");
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn cluster<I>(nodes: I) -> Result<Cache, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Cache::builder().cluster(nodes).build()
    }

    /// Starts configuring a cache. Without [`url`](CacheBuilder::url) or
    /// [`cluster`](CacheBuilder::cluster) it builds a memory cache.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .op_timeout(Duration::from_millis(100))
    ///     .build()?;
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A snapshot of this cache's counters (see [`Stats`] for each one).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// let ttl = Duration::from_secs(60);
    /// cache.get_or_insert_with("n", ttl, || async { 1 }).await; // a miss
    /// cache.get_or_insert_with("n", ttl, || async { 1 }).await; // a hit
    /// let stats = cache.stats();
    /// assert_eq!((stats.hits, stats.misses, stats.errors), (1, 1, 0));
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        stats::snapshot(
            std::iter::once(&inner.counters).chain(inner.functions.each()),
            inner.fail_open.failures(),
            inner.pending.held(),
            inner.pending.lost(),
        )
    }

    /// The counters of each cached function that ran on this cache: one row per function,
    /// named by its path (`my_app::users::get_user`, the module path and the function's name;
    /// a method is named like a free function of its module, without its type), sorted by
    /// name.
    ///
    /// A row holds the call outcomes (`hits`, `misses`, `coalesced`, `stale_served`,
    /// `fail_safe`, `lock_waits`, `writes`, `writes_skipped`, `too_large`); they add up to
    /// [`Cache::stats`]. Failures (`errors`, `decode_errors`, `breaker_skips`) and
    /// invalidations belong to the cache, not to one function, and are zero in the rows.
    /// Functions with the same path (methods of two types in one module) share a row. The
    /// counts are this process's, like [`Cache::stats`]; the names are the same in every
    /// process, so rows can be added up across processes by name.
    ///
    /// ```
    /// use std::sync::LazyLock;
    /// use redcache::{Cache, cache};
    ///
    /// static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
    ///
    /// #[cache(key = "user:<id>", ttl = 60, cache = &CACHE)]
    /// async fn get_user(id: u64) -> String {
    ///     format!("user {id}")
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert!(CACHE.function_stats().is_empty());
    /// get_user(1).await; // a miss
    /// get_user(1).await; // a hit
    /// let rows = CACHE.function_stats();
    /// let (name, stats) = &rows[0];
    /// assert_eq!(*name, format!("{}::get_user", module_path!())); // `my_app::users::get_user`
    /// assert_eq!((stats.hits, stats.misses), (1, 1));
    /// # }
    /// ```
    pub fn function_stats(&self) -> Vec<(String, Stats)> {
        self.inner.functions.rows()
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
    /// # async fn run() -> Result<(), redcache::Error> {
    /// let cache = redcache::Cache::redis("redis://127.0.0.1:6379")?;
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
    /// let cache = redcache::Cache::memory();
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
            near_armed: self
                .store()
                .near()
                .is_some_and(|near| near.is_armed() && !self.is_disabled()),
            pending_invalidations: self.pending().held(),
        }
    }

    /// Puts together the parts the builder made.
    pub(crate) fn assemble(store: Store, fail_open: Arc<FailOpen>, settings: Settings) -> Cache {
        let pattern_prefix = escape_glob(&settings.prefix).into_owned();
        telemetry::describe();
        Cache {
            inner: Arc::new(Inner {
                store,
                fail_open,
                flights: Flights::default(),
                pending: Pending::default(),
                fallback: settings.outage_fallback.map(Fallback::new),
                counters: Counters::default(),
                functions: FunctionTable::default(),
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

    pub(crate) fn fallback(&self) -> Option<&Fallback> {
        self.inner.fallback.as_ref()
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Where a call of the function at `site` counts its outcomes: the function's counters,
    /// or the cache's own (no site, or past the table's room).
    #[inline]
    pub(crate) fn tally(&self, site: Option<&'static CallSite>) -> Tally<'_> {
        let function = site.and_then(|site| self.inner.functions.counters(site));
        Tally::new(&self.inner.counters, function)
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
