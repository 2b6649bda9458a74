//! [`CacheBuilder`]: a cache's options, checked and assembled into a [`Cache`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::memory::MemoryStore;
use crate::backend::redis::RedisStore;
use crate::cache::{Cache, Settings};
use crate::error::Error;
use crate::fail_open::FailOpen;
use crate::tier::{RedisTier, Store};

const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(200);
const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_millis(500);
const DEFAULT_MEMORY_CAPACITY: u64 = 100_000;
const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_VALUE_BYTES: usize = 8 << 20;

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
    max_value_bytes: usize,
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
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
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
            .field("max_value_bytes", &self.max_value_bytes)
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
    /// (default 200 ms; 1 ms to 1 minute). Also bounds connecting to Redis.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long the circuit breaker skips an unreachable Redis before probing it again
    /// (default 500 ms; 1 ms to 1 hour).
    pub fn breaker_cooldown(mut self, cooldown: Duration) -> Self {
        self.breaker_cooldown = cooldown;
        self
    }

    /// The most entries the memory store keeps (default 100,000; at least 1); ignored for
    /// Redis.
    pub fn memory_capacity(mut self, entries: u64) -> Self {
        self.memory_capacity = entries;
        self
    }

    /// How long a miss holds its lease on the key (default 10 s; 1 ms to 24 hours). The lease is what lets an
    /// invalidation stop an older value from being written, and what `lock = true` waits on.
    /// A body that runs longer than this returns its value but does not cache it.
    pub fn lease_timeout(mut self, timeout: Duration) -> Self {
        self.lease_timeout = timeout;
        self
    }

    /// With `lock = true`, the longest a call waits for another process computing the same
    /// key before running the body itself (default 2 s; at most 1 hour).
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The largest value (encoded, in bytes) that is cached (default 8 MiB). A larger one is
    /// returned to the caller but not stored, and counted in `too_large` and logged: one huge
    /// entry would make every read of it slow, hold up the small reads queued behind it on the
    /// shared connection, and can time out and trip the breaker for every key.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Every option within its range: a value out of it would panic or silently cache nothing
    /// later, inside a call, so it is refused here.
    fn check_ranges(&self) -> Result<(), Error> {
        const MINUTE: Duration = Duration::from_secs(60);
        const HOUR: Duration = Duration::from_secs(3600);
        let durations = [
            (
                "op_timeout",
                self.op_timeout,
                Duration::from_millis(1),
                MINUTE,
                "1 ms to 1 minute",
            ),
            (
                "breaker_cooldown",
                self.breaker_cooldown,
                Duration::from_millis(1),
                HOUR,
                "1 ms to 1 hour",
            ),
            (
                "lease_timeout",
                self.lease_timeout,
                Duration::from_millis(1),
                24 * HOUR,
                "1 ms to 24 hours",
            ),
            (
                "lock_wait",
                self.lock_wait,
                Duration::ZERO,
                HOUR,
                "0 to 1 hour",
            ),
        ];
        for (option, value, min, max, range) in durations {
            if !(min..=max).contains(&value) {
                return Err(Error::InvalidOption {
                    option,
                    reason: format!("{value:?} is out of range ({range})"),
                });
            }
        }
        if self.max_value_bytes == 0 {
            return Err(Error::InvalidOption {
                option: "max_value_bytes",
                reason: "must be at least 1 byte".into(),
            });
        }
        if self.memory_capacity == 0 {
            return Err(Error::InvalidOption {
                option: "memory_capacity",
                reason: "must be at least 1 entry".into(),
            });
        }
        Ok(())
    }

    /// Builds the cache. Never connects and never waits: fails only on a malformed URL or an
    /// out-of-range option.
    pub fn build(self) -> Result<Cache, Error> {
        self.check_ranges()?;
        let invalid_url = |error: redis::RedisError| Error::InvalidUrl {
            // redis-rs's parse errors describe the problem without echoing the URL.
            reason: error.to_string(),
        };
        let redis = match (&self.url, &self.cluster) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidOption {
                    option: "cluster",
                    reason: "give either `url` (standalone) or `cluster` (nodes), not both".into(),
                });
            }
            (None, None) => None,
            (Some(url), None) => {
                let client = redis::Client::open(url.as_str()).map_err(invalid_url)?;
                Some(RedisStore::new(client, self.op_timeout))
            }
            (None, Some(nodes)) => {
                Some(RedisStore::cluster(nodes, self.op_timeout).map_err(invalid_url)?)
            }
        };
        // A cluster connection may be following a topology change: every operation is timed.
        let always_timed = redis.as_ref().is_some_and(RedisStore::is_cluster);
        let fail_open = Arc::new(FailOpen::new(
            self.op_timeout,
            self.breaker_cooldown,
            always_timed,
        ));
        let store = match redis {
            None => Store::Memory(MemoryStore::new(self.memory_capacity)),
            Some(redis) => Store::Redis(Arc::new(RedisTier::new(
                redis,
                fail_open.clone(),
                &self.prefix,
            ))),
        };
        Ok(Cache::assemble(
            store,
            fail_open,
            Settings {
                prefix: self.prefix,
                lease_timeout: self.lease_timeout,
                lock_wait: self.lock_wait,
                max_value_bytes: self.max_value_bytes,
            },
        ))
    }
}
