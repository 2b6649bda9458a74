//! [`Cache`], its builder, and the process-wide cache the macros use by default.

use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::backend::memory::MemoryStore;
use crate::backend::redis::{RedisStore, ScanNode, is_unavailable};
use crate::backend::{Bytes, Copy, Store};
use crate::codec::{self, Entry};
use crate::error::Error;
use crate::key::{KeyWriter, escape_glob};
use crate::policy::{Breaker, Flights, LogLimiter};
use crate::stats::{Counters, Stats};

/// Where tag sets live, inside the prefix: `<prefix>~tag:<tag>`.
const TAG_MARKER: &str = "~tag:";

const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(200);
const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_millis(500);
const DEFAULT_MEMORY_CAPACITY: u64 = 100_000;
const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(2);

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
    /// Prepended to every key, with its `:` (empty when no prefix is set).
    prefix: String,
    /// The prefix with glob characters escaped, for `SCAN MATCH` patterns.
    pattern_prefix: String,
    op_timeout: Duration,
    /// Whether the connection may be (re)establishing, so calls need our own timer.
    suspect: AtomicBool,
    /// Every call needs our own timer (Redis Cluster).
    always_timed: bool,
    lease_timeout: Duration,
    lock_wait: Duration,
    breaker: Breaker,
    flights: Flights,
    counters: Counters,
    log: LogLimiter,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Cache");
        match &self.inner.store {
            Store::Memory(_) => s.field("store", &"memory"),
            Store::Redis(redis) => s.field("store", &format_args!("redis {}", redis.address())),
        };
        s.field("prefix", &self.inner.prefix)
            .field("op_timeout", &self.inner.op_timeout)
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
        self.inner.counters.snapshot()
    }

    /// Starts a key: the prefix, then room for `capacity` more bytes.
    #[doc(hidden)]
    pub fn key_writer(&self, capacity: usize) -> KeyWriter {
        KeyWriter::with_prefix(&self.inner.prefix, capacity)
    }

    /// Starts a `SCAN MATCH` pattern: the prefix with its glob characters escaped.
    #[doc(hidden)]
    pub fn pattern_writer(&self, capacity: usize) -> KeyWriter {
        KeyWriter::with_prefix(&self.inner.pattern_prefix, capacity)
    }

    /// Starts a tag's key: the prefix, then `~tag:`, then the tag as its template renders it.
    #[doc(hidden)]
    pub fn tag_writer(&self, capacity: usize) -> KeyWriter {
        let mut writer = KeyWriter::with_prefix(&self.inner.prefix, TAG_MARKER.len() + capacity);
        writer.push_literal(TAG_MARKER);
        writer
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(crate) fn flights(&self) -> &Flights {
        &self.inner.flights
    }

    /// Reads the bytes at `key`.
    pub(crate) async fn read(&self, key: &str) -> Read {
        match &self.inner.store {
            Store::Memory(memory) => match memory.get(key) {
                Some(bytes) => Read::Found(bytes),
                None => Read::Absent,
            },
            Store::Redis(redis) => match self.guarded("GET", redis.get(key)).await {
                Ok(Some(bytes)) => Read::Found(Bytes::Owned(bytes)),
                Ok(None) => Read::Absent,
                Err(Failure::WrongType) => Read::WrongType,
                // Unreachable, or refused (cluster in flux, ACL): no write either.
                Err(Failure::Unavailable | Failure::Refused) => Read::Unavailable,
            },
        }
    }

    /// Decides how the caller that is about to run the body may store its value, given what
    /// it saw at `key`. For an absent key this plants a lease: an invalidation of the key
    /// deletes it, and the value is then not written (see `store`).
    pub(crate) async fn claim(&self, key: &str, seen: Seen) -> Permit {
        match seen {
            Seen::Absent => {}
            Seen::Entry(bytes) => return Permit::Replace(bytes),
            Seen::WrongType => return Permit::Overwrite,
            Seen::Lease => return Permit::Taken,
            Seen::Unavailable => return Permit::Nothing,
        }
        let lease: Arc<[u8]> = codec::new_lease().into();
        let lease_ttl = self.inner.lease_timeout;
        let planted = match &self.inner.store {
            Store::Memory(memory) => Ok(memory.set_if_absent(key, lease.clone(), lease_ttl)),
            Store::Redis(redis) => {
                self.guarded("SET NX", redis.set_if_absent(key, &lease, lease_ttl))
                    .await
            }
        };
        match planted {
            Ok(true) => Permit::Lease(lease),
            Ok(false) => Permit::Taken,
            Err(_) => Permit::Nothing,
        }
    }

    /// Stores `bytes` at `key` as far as `permit` allows: over our own lease, over the exact
    /// bytes we saw, or over a key of another type. If an invalidation removed the lease (or
    /// the entry) meanwhile, nothing is written: the value may predate the invalidation.
    pub(crate) async fn store(
        &self,
        key: &str,
        permit: Permit,
        bytes: Arc<[u8]>,
        copy: impl FnOnce() -> Option<Copy>,
        ttl: Duration,
    ) {
        // `None`: nothing was attempted; `Some(false)`: a compare-and-set was refused because
        // the key changed (an invalidation, an expired lease) while the body ran.
        let written = match (&self.inner.store, permit) {
            (_, Permit::Taken | Permit::Nothing) => None,
            (Store::Memory(memory), Permit::Lease(lease)) => {
                Some(memory.replace_if(key, &lease, bytes, copy(), ttl))
            }
            (Store::Memory(memory), Permit::Replace(seen)) => {
                Some(memory.replace_if(key, &seen, bytes, copy(), ttl))
            }
            (Store::Memory(memory), Permit::Overwrite) => {
                memory.set(key, bytes, copy(), ttl);
                Some(true)
            }
            (Store::Redis(redis), Permit::Lease(lease)) => self
                .guarded("EVALSHA", redis.replace_if(key, &lease, &bytes, ttl))
                .await
                .ok(),
            (Store::Redis(redis), Permit::Replace(seen)) => self
                .guarded("EVALSHA", redis.replace_if(key, &seen, &bytes, ttl))
                .await
                .ok(),
            (Store::Redis(redis), Permit::Overwrite) => self
                .guarded("SET", redis.set(key, &bytes, ttl))
                .await
                .ok()
                .map(|()| true),
        };
        match written {
            Some(true) => Counters::bump(&self.inner.counters.writes),
            Some(false) => Counters::bump(&self.inner.counters.writes_skipped),
            None => {}
        }
    }

    /// Adds `key` to each tag's set before the body runs, so that a tag invalidation from
    /// then on finds the key (and its lease). Returns false if any tag could not be recorded:
    /// the value must then not be stored, or it could outlive an invalidation of that tag.
    pub(crate) async fn tag(&self, key: &str, tags: &[String], lifetime: Duration) -> bool {
        // The set must outlive the lease (the body may run up to the lease timeout) and then
        // the entry written after it.
        let lifetime = lifetime.saturating_add(self.inner.lease_timeout);
        for tag in tags {
            let tagged = match &self.inner.store {
                Store::Memory(memory) => {
                    memory.tag(tag, key, lifetime);
                    true
                }
                Store::Redis(redis) => self
                    .guarded("EVALSHA", redis.tag(tag, key, lifetime))
                    .await
                    .is_ok(),
            };
            if !tagged {
                return false;
            }
        }
        true
    }

    /// Gives up a claim without storing anything: our lease, if any, is released at once so
    /// that waiters elsewhere need not sit out its timeout.
    pub(crate) async fn release(&self, key: &str, permit: Permit) {
        let Permit::Lease(lease) = permit else {
            return;
        };
        match &self.inner.store {
            Store::Memory(memory) => memory.delete_if(key, &lease),
            Store::Redis(redis) => {
                let _ = self.guarded("EVALSHA", redis.delete_if(key, &lease)).await;
            }
        }
    }

    /// Releases our lease without waiting: at once in memory, from a spawned task on Redis.
    pub(crate) fn release_in_background(&self, key: &str, lease: Arc<[u8]>) {
        match &self.inner.store {
            Store::Memory(memory) => memory.delete_if(key, &lease),
            Store::Redis(_) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return; // no runtime left: the lease expires by itself
                };
                let (cache, key) = (self.clone(), key.to_owned());
                runtime.spawn(async move { cache.release(&key, Permit::Lease(lease)).await });
            }
        }
    }

    /// With `lock = true`, when another caller (in another process) holds the lease: waits,
    /// bounded by the lock wait, for its value to appear or its lease to go.
    pub(crate) async fn wait_for_lease_holder(&self, key: &str) -> Waited {
        let wait = self.inner.lock_wait.min(Duration::from_secs(24 * 3600));
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(5);
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Waited::GaveUp;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
            match self.read(key).await {
                Read::Found(bytes) if codec::parse(&bytes).is_ok_and(|e| e == Entry::Lease) => {}
                Read::Found(bytes) => return Waited::Found(bytes),
                Read::Absent => match self.claim(key, Seen::Absent).await {
                    Permit::Taken => {}
                    permit => return Waited::Free(permit),
                },
                Read::WrongType => return Waited::Free(Permit::Overwrite),
                Read::Unavailable => return Waited::Free(Permit::Nothing),
            }
        }
    }

    /// Deletes exact keys, every key matching each pattern, and every key carrying each tag;
    /// counts them in `invalidated`.
    pub(crate) async fn delete(&self, keys: &[String], patterns: &[String], tags: &[String]) {
        // Calls that start from now on must not join a flight that started before.
        self.inner.flights.invalidated();
        let deleted = match &self.inner.store {
            Store::Memory(memory) => {
                memory.delete(keys)
                    + patterns
                        .iter()
                        .map(|pattern| memory.delete_matching(pattern))
                        .sum::<u64>()
                    + tags
                        .iter()
                        .map(|tag| memory.delete_tagged(tag))
                        .sum::<u64>()
            }
            Store::Redis(redis) => {
                let mut deleted = 0;
                if !keys.is_empty() {
                    deleted += self
                        .guarded("UNLINK", redis.unlink(keys))
                        .await
                        .unwrap_or(0);
                }
                for pattern in patterns {
                    deleted += self.delete_matching(redis, pattern).await;
                }
                for tag in tags {
                    if let Ok(members) = self.guarded("EVALSHA", redis.take_tag(tag)).await {
                        deleted += self
                            .guarded("UNLINK", redis.unlink(&members))
                            .await
                            .unwrap_or(0);
                    }
                }
                deleted
            }
        };
        self.inner
            .counters
            .invalidated
            .fetch_add(deleted, std::sync::atomic::Ordering::Relaxed);
    }

    /// Incremental `SCAN` + `UNLINK` of one pattern, on every master of a cluster at once.
    async fn delete_matching(&self, redis: &RedisStore, pattern: &str) -> u64 {
        let Ok(nodes) = self.guarded("CLUSTER NODES", redis.scan_nodes()).await else {
            return 0;
        };
        let walks = nodes
            .iter()
            .map(|node| self.delete_matching_on(redis, node, pattern));
        futures_util::future::join_all(walks)
            .await
            .into_iter()
            .sum()
    }

    /// One node's walk. Each step is bounded by the op timeout; a failed step ends the walk
    /// (logged and counted).
    async fn delete_matching_on(&self, redis: &RedisStore, node: &ScanNode, pattern: &str) -> u64 {
        let mut cursor = 0;
        let mut deleted = 0;
        loop {
            let step = self
                .guarded("SCAN", redis.scan(node, cursor, pattern))
                .await;
            let Ok((next, keys)) = step else {
                return deleted;
            };
            match self.guarded("UNLINK", redis.unlink(&keys)).await {
                Ok(n) => deleted += n,
                Err(_) => return deleted,
            }
            if next == 0 {
                return deleted;
            }
            cursor = next;
        }
    }

    /// Runs one Redis operation under the fail-open policy: skipped while the breaker is open,
    /// bounded by the op timeout, failures counted, logged and fed to the breaker.
    async fn guarded<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        let inner = &*self.inner;
        if !inner.breaker.allow() {
            Counters::bump(&inner.counters.breaker_skips);
            return Err(Failure::Unavailable);
        }
        // On a live connection redis-rs's response timeout (set to the op timeout) bounds the
        // call. While the connection may be (re)establishing, redis-rs bounds the wait less
        // tightly, so our own timer is armed: before the first success and after any failure
        // to reach Redis. Keeping it off the healthy path is worth ~10% of hit throughput.
        // A cluster connection may also be following a topology change, so it is always timed.
        let outcome = if inner.suspect.load(Relaxed) || inner.always_timed {
            tokio::time::timeout(inner.op_timeout, call).await
        } else {
            Ok(call.await)
        };
        let error = match outcome {
            Ok(Ok(value)) => {
                inner.breaker.record_success();
                if inner.suspect.load(Relaxed) {
                    inner.suspect.store(false, Relaxed);
                }
                return Ok(value);
            }
            Ok(Err(error)) => error,
            Err(_elapsed) => {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            }
        };
        Counters::bump(&inner.counters.errors);
        if is_unavailable(&error) {
            inner.suspect.store(true, Relaxed);
            let opened = inner.breaker.record_failure();
            self.log_failure(op, &error, opened);
            Err(Failure::Unavailable)
        } else {
            // Redis is up and answered; this key or command is the problem.
            inner.breaker.record_success();
            self.log_failure(op, &error, false);
            if error.code() == Some("WRONGTYPE") {
                Err(Failure::WrongType)
            } else {
                Err(Failure::Refused)
            }
        }
    }

    fn log_failure(&self, op: &str, error: &redis::RedisError, opened_breaker: bool) {
        if opened_breaker {
            tracing::warn!(
                target: "redcache",
                %error,
                "redis unavailable; circuit breaker open, cached functions run their body until it recovers"
            );
        } else {
            self.log_absorbed(
                "cache operation failed; the function body ran instead",
                op,
                error,
            );
        }
    }

    pub(crate) fn log_decode_failure(&self, key: &str, error: &dyn fmt::Display) {
        Counters::bump(&self.inner.counters.errors);
        Counters::bump(&self.inner.counters.decode_errors);
        self.log_absorbed(
            "cached entry does not decode; treated as a miss and overwritten",
            key,
            error,
        );
    }

    pub(crate) fn log_encode_failure(&self, key: &str, error: &serde_json::Error) {
        Counters::bump(&self.inner.counters.errors);
        self.log_absorbed(
            "value does not serialize to JSON; returned but not cached",
            key,
            error,
        );
    }

    pub(crate) fn log_fail_safe(&self, key: &str) {
        self.log_absorbed(
            "the function failed; answered with the stale value (fail_safe)",
            key,
            &"body returned an error",
        );
    }

    /// Logs a failure the caller did not see, at most one line per interval.
    fn log_absorbed(&self, what: &str, context: &str, error: &dyn fmt::Display) {
        if let Some(held_back) = self.inner.log.admit() {
            tracing::warn!(
                target: "redcache",
                context,
                %error,
                similar_failures_not_logged = held_back,
                "{what}"
            );
        }
    }
}

/// The outcome of a read.
pub(crate) enum Read {
    /// Bytes are there: a value, a lease or garbage (the caller parses them).
    Found(Bytes),
    Absent,
    /// Redis answered with an error about this key (a key of another type).
    WrongType,
    /// The store could not be asked.
    Unavailable,
}

/// What a caller that is about to run the body saw at its key.
pub(crate) enum Seen {
    Absent,
    /// A stale or undecodable entry.
    Entry(Bytes),
    WrongType,
    /// Another caller's lease.
    Lease,
    Unavailable,
}

/// How the body's value may be stored.
pub(crate) enum Permit {
    /// Over our own lease, if it is still there.
    Lease(Arc<[u8]>),
    /// Over the exact bytes we saw, if they are still there.
    Replace(Bytes),
    /// Unconditionally: a key of another Redis type, which a compare-and-set cannot read.
    Overwrite,
    /// Someone else holds the lease; do not write.
    Taken,
    /// The store is unavailable; do not write (the caller would wait a second time).
    Nothing,
}

impl Permit {
    /// Whether `store` could write anything under this permit.
    pub(crate) fn may_store(&self) -> bool {
        matches!(
            self,
            Permit::Lease(_) | Permit::Replace(_) | Permit::Overwrite
        )
    }
}

/// The end of a wait for another process's lease.
pub(crate) enum Waited {
    /// Bytes appeared (normally the holder's value).
    Found(Bytes),
    /// The lease went away; here is our own claim.
    Free(Permit),
    /// The lock wait ran out.
    GaveUp,
}

enum Failure {
    /// Redis could not be reached in time (counts toward the breaker).
    Unavailable,
    /// The key holds another Redis type.
    WrongType,
    /// Redis answered with another error about this command (out of memory, a cluster
    /// resharding, an ACL): Redis is up, the operation did not happen.
    Refused,
}

/// Configures a [`Cache`].
///
/// ```
/// use std::time::Duration;
///
/// let cache = cached_runtime::Cache::builder()
///     .url("redis://127.0.0.1:6379/0")
///     .prefix("app")
///     .op_timeout(Duration::from_millis(50))
///     .build()?;
/// # Ok::<(), cached_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct CacheBuilder {
    url: Option<String>,
    cluster: Option<Vec<String>>,
    prefix: String,
    op_timeout: Duration,
    breaker_cooldown: Duration,
    memory_capacity: u64,
    lease_timeout: Duration,
    lock_wait: Duration,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        CacheBuilder {
            url: None,
            cluster: None,
            prefix: String::new(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
            lease_timeout: DEFAULT_LEASE_TIMEOUT,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

impl fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("cluster", &self.cluster.as_ref().map(|_| "<redacted>"))
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("memory_capacity", &self.memory_capacity)
            .field("lease_timeout", &self.lease_timeout)
            .field("lock_wait", &self.lock_wait)
            .finish()
    }
}

impl CacheBuilder {
    /// Use the Redis server at this URL (`redis://[user:password@]host:port[/db]`, or
    /// `rediss://` for TLS when redis-rs is built with TLS support).
    pub fn url(mut self, url: impl AsRef<str>) -> Self {
        self.url = Some(url.as_ref().to_owned());
        self
    }

    /// Use the Redis Cluster reached through these nodes (`redis://host:port` each; any
    /// subset of the cluster's nodes, the rest are discovered).
    pub fn cluster<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.cluster = Some(nodes.into_iter().map(|n| n.as_ref().to_owned()).collect());
        self
    }

    /// Put every key behind this prefix: `.prefix("app")` stores `user:42` as `app:user:42`
    /// (a trailing `:` is added unless present). Pattern invalidation stays inside the prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with(':') {
            prefix.push(':');
        }
        self.prefix = prefix;
        self
    }

    /// The longest any single cache operation may take before the call goes on without it
    /// (default 200 ms). Also bounds connecting to Redis.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long the circuit breaker skips an unreachable Redis before probing it again
    /// (default 500 ms).
    pub fn breaker_cooldown(mut self, cooldown: Duration) -> Self {
        self.breaker_cooldown = cooldown;
        self
    }

    /// The most entries the memory store keeps (default 100,000); ignored for Redis.
    pub fn memory_capacity(mut self, entries: u64) -> Self {
        self.memory_capacity = entries;
        self
    }

    /// How long a miss holds its lease on the key (default 10 s). The lease is what lets an
    /// invalidation stop an older value from being written, and what `lock = true` waits on.
    /// A body that runs longer than this returns its value but does not cache it.
    pub fn lease_timeout(mut self, timeout: Duration) -> Self {
        self.lease_timeout = timeout;
        self
    }

    /// With `lock = true`, the longest a call waits for another process computing the same
    /// key before running the body itself (default 2 s).
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Builds the cache. Never connects and never waits: fails only on a malformed URL or an
    /// out-of-range option.
    pub fn build(self) -> Result<Cache, Error> {
        for (option, value) in [
            ("op_timeout", self.op_timeout),
            ("breaker_cooldown", self.breaker_cooldown),
            ("lease_timeout", self.lease_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::InvalidOption {
                    option,
                    reason: "must be greater than zero".into(),
                });
            }
        }
        let invalid_url = |error: redis::RedisError| Error::InvalidUrl {
            // redis-rs's parse errors describe the problem without echoing the URL.
            reason: error.to_string(),
        };
        let store = match (&self.url, &self.cluster) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidOption {
                    option: "cluster",
                    reason: "give either `url` (standalone) or `cluster` (nodes), not both".into(),
                });
            }
            (None, None) => Store::Memory(MemoryStore::new(self.memory_capacity)),
            (Some(url), None) => {
                let client = redis::Client::open(url.as_str()).map_err(invalid_url)?;
                Store::Redis(RedisStore::new(client, self.op_timeout))
            }
            (None, Some(nodes)) => {
                Store::Redis(RedisStore::cluster(nodes, self.op_timeout).map_err(invalid_url)?)
            }
        };
        let always_timed = matches!(&store, Store::Redis(redis) if redis.is_cluster());
        let pattern_prefix = escape_glob(&self.prefix).into_owned();
        Ok(Cache {
            inner: Arc::new(Inner {
                store,
                prefix: self.prefix,
                pattern_prefix,
                op_timeout: self.op_timeout,
                suspect: AtomicBool::new(true),
                always_timed,
                lease_timeout: self.lease_timeout,
                lock_wait: self.lock_wait,
                breaker: Breaker::new(self.breaker_cooldown),
                flights: Flights::default(),
                counters: Counters::default(),
                log: LogLimiter::new(),
            }),
        })
    }
}

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Installs the process-wide cache that `#[cache]` and `#[invalidate]` use when no
/// `cache = ..` is given.
///
/// Call it once, before the first cached call. Fails with [`Error::GlobalAlreadySet`] if a
/// global cache is already installed, including the default one a cached call installed.
pub fn set_global(cache: Cache) -> Result<(), Error> {
    GLOBAL.set(cache).map_err(|_| Error::GlobalAlreadySet)
}

/// The process-wide cache: the one given to [`set_global`], or else Redis at `REDIS_URL` when
/// that is set, or else the memory store. Which one is said once, in the log.
///
/// Use it to read the default cache's [`stats`](Cache::stats).
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(default_global)
}

fn default_global() -> Cache {
    let Ok(url) = std::env::var("REDIS_URL") else {
        tracing::info!(
            target: "redcache",
            "no global cache installed and REDIS_URL is not set: caching in process memory"
        );
        return Cache::memory();
    };
    match Cache::redis(&url) {
        Ok(cache) => {
            tracing::info!(target: "redcache", cache = ?cache, "global cache: Redis from REDIS_URL");
            cache
        }
        Err(error) => {
            tracing::error!(
                target: "redcache",
                %error,
                "REDIS_URL is set but unusable; caching in process memory instead"
            );
            Cache::memory()
        }
    }
}
