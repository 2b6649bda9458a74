//! [`Cache`], its builder, and the process-wide cache the macros use by default.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::backend::memory::MemoryStore;
use crate::backend::redis::{RedisStore, is_unavailable};
use crate::backend::{Bytes, Store};
use crate::error::Error;
use crate::key::{KeyWriter, escape_glob};
use crate::policy::{Breaker, LogLimiter};
use crate::stats::{Counters, Stats};

const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(200);
const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_millis(500);
const DEFAULT_MEMORY_CAPACITY: u64 = 100_000;

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
    breaker: Breaker,
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

    /// Starts configuring a cache. Without [`url`](CacheBuilder::url) it builds a memory cache.
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

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
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
                // Redis answered, but not with a string (a key of another type): the entry is
                // unusable, and a write will replace it.
                Err(Failure::BadEntry) => Read::Absent,
                Err(Failure::Unavailable) => Read::Unavailable,
            },
        }
    }

    pub(crate) async fn write(&self, key: &str, bytes: Vec<u8>, ttl: Duration) {
        let written = match &self.inner.store {
            Store::Memory(memory) => {
                memory.set(key, bytes, ttl);
                true
            }
            Store::Redis(redis) => self
                .guarded("SET", redis.set(key, &bytes, ttl))
                .await
                .is_ok(),
        };
        if written {
            Counters::bump(&self.inner.counters.writes);
        }
    }

    /// Deletes exact keys, then every key matching each pattern; counts them in `invalidated`.
    pub(crate) async fn delete(&self, keys: &[String], patterns: &[String]) {
        let deleted = match &self.inner.store {
            Store::Memory(memory) => {
                memory.delete(keys)
                    + patterns
                        .iter()
                        .map(|pattern| memory.delete_matching(pattern))
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
                deleted
            }
        };
        self.inner
            .counters
            .invalidated
            .fetch_add(deleted, std::sync::atomic::Ordering::Relaxed);
    }

    /// Incremental `SCAN` + `UNLINK` of one pattern. Each step is bounded by the op timeout;
    /// a failed step stops the walk (logged and counted), since Redis is then unavailable.
    async fn delete_matching(&self, redis: &RedisStore, pattern: &str) -> u64 {
        let mut cursor = 0;
        let mut deleted = 0;
        loop {
            let Ok((next, keys)) = self.guarded("SCAN", redis.scan(cursor, pattern)).await else {
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
        let outcome = tokio::time::timeout(inner.op_timeout, call).await;
        let error = match outcome {
            Ok(Ok(value)) => {
                inner.breaker.record_success();
                return Ok(value);
            }
            Ok(Err(error)) => error,
            Err(_elapsed) => {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            }
        };
        Counters::bump(&inner.counters.errors);
        if is_unavailable(&error) {
            let opened = inner.breaker.record_failure();
            self.log_failure(op, &error, opened);
            Err(Failure::Unavailable)
        } else {
            // Redis is up and answered; this key or command is the problem.
            inner.breaker.record_success();
            self.log_failure(op, &error, false);
            Err(Failure::BadEntry)
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

/// The outcome of a read, as the caching flow needs it.
pub(crate) enum Read {
    Found(Bytes),
    /// Nothing usable there: run the body and write.
    Absent,
    /// The store could not be asked: run the body, and do not try to write either.
    Unavailable,
}

enum Failure {
    Unavailable,
    BadEntry,
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
    prefix: String,
    op_timeout: Duration,
    breaker_cooldown: Duration,
    memory_capacity: u64,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        CacheBuilder {
            url: None,
            prefix: String::new(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
        }
    }
}

impl fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("memory_capacity", &self.memory_capacity)
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

    /// Builds the cache. Never connects and never waits: fails only on a malformed URL or an
    /// out-of-range option.
    pub fn build(self) -> Result<Cache, Error> {
        if self.op_timeout.is_zero() {
            return Err(Error::InvalidOption {
                option: "op_timeout",
                reason: "must be greater than zero".into(),
            });
        }
        if self.breaker_cooldown.is_zero() {
            return Err(Error::InvalidOption {
                option: "breaker_cooldown",
                reason: "must be greater than zero".into(),
            });
        }
        let store = match &self.url {
            None => Store::Memory(MemoryStore::new(self.memory_capacity)),
            Some(url) => {
                let client =
                    redis::Client::open(url.as_str()).map_err(|error| Error::InvalidUrl {
                        // redis-rs's parse errors describe the problem without echoing the URL.
                        reason: error.to_string(),
                    })?;
                Store::Redis(RedisStore::new(client, self.op_timeout))
            }
        };
        let pattern_prefix = escape_glob(&self.prefix).into_owned();
        Ok(Cache {
            inner: Arc::new(Inner {
                store,
                prefix: self.prefix,
                pattern_prefix,
                op_timeout: self.op_timeout,
                breaker: Breaker::new(self.breaker_cooldown),
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
