//! [`CacheBuilder`]: a cache's options, checked and assembled into a [`Cache`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::memory::MemoryStore;
use crate::backend::redis::RedisStore;
use crate::backend::tls::{self, Certificates};
use crate::cache::{Cache, Settings};
use crate::error::Error;
use crate::fail_open::FailOpen;
use crate::near::{self, Near};
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
/// let cache = redcache::Cache::builder()
///     .url("redis://127.0.0.1:6379/0")
///     .prefix("app")
///     .op_timeout(Duration::from_millis(50))
///     .build()?;
/// # Ok::<(), redcache::Error>(())
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
    tls: Certificates,
    near_entries: Option<u64>,
    near_max_ttl: Duration,
    outage_fallback: Option<Duration>,
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
            tls: Certificates::default(),
            near_entries: None,
            near_max_ttl: near::DEFAULT_MAX_TTL,
            outage_fallback: None,
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
            .field(
                "tls_root_cert",
                &self.tls.root_cert.as_ref().map(|_| "<set>"),
            )
            .field(
                "tls_client_cert",
                &self.tls.client.as_ref().map(|_| "<redacted>"),
            )
            .field("near_cache", &self.near_entries)
            .field("near_max_ttl", &self.near_max_ttl)
            .field("outage_fallback", &self.outage_fallback)
            .finish()
    }
}

impl CacheBuilder {
    /// Use the Redis server at this URL: `redis://[[user]:password@]host:port[/db]`, or
    /// `rediss://..` for TLS (feature `tls`, on by default), which verifies the server's
    /// certificate against the system's trusted roots, or against [`tls_root_cert`]'s CA.
    /// A password, or an ACL user and password, in the URL authenticate every connection.
    ///
    /// [`tls_root_cert`]: CacheBuilder::tls_root_cert
    ///
    /// ```
    /// let cache = redcache::CacheBuilder::default()
    ///     .url("redis://app:secret@127.0.0.1:6379/2") // ACL user `app`, database 2
    ///     .build()?;
    /// assert_eq!(cache.health().store, "redis");
    /// assert!(!format!("{cache:?}").contains("secret")); // never printed
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn url(mut self, url: impl AsRef<str>) -> Self {
        self.url = Some(url.as_ref().to_owned());
        self
    }

    /// Use the Redis Cluster reached through these nodes (`redis://host:port` each, or
    /// `rediss://host:port` for TLS, all alike; any subset of the cluster's nodes, the rest are
    /// discovered). Credentials are taken from the first node's URL.
    ///
    /// ```
    /// let nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"];
    /// let cache = redcache::Cache::builder().cluster(nodes).prefix("app").build()?;
    /// assert_eq!(cache.health().store, "cluster");
    /// # Ok::<(), redcache::Error>(())
    /// ```
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), redcache::Error> {
    /// use std::time::Duration;
    ///
    /// let app = redcache::Cache::builder().prefix("app").build()?;
    /// let other = redcache::Cache::builder().prefix("other").build()?;
    /// app.set("user:42", &1, Duration::from_secs(60)).await; // stored as `app:user:42`
    /// other.invalidate_pattern("user:*").await; // `other:user:*`: never touches `app:`
    /// assert_eq!(app.get::<i32>("user:42").await, Some(1));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .op_timeout(Duration::from_millis(50)) // a slow Redis costs a call at most 50 ms
    ///     .build()?;
    /// assert!(redcache::Cache::builder().op_timeout(Duration::ZERO).build().is_err());
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long the circuit breaker skips an unreachable Redis before probing it again
    /// (default 500 ms; 1 ms to 1 hour).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .breaker_cooldown(Duration::from_secs(2)) // probe a failing Redis every 2 s
    ///     .build()?;
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn breaker_cooldown(mut self, cooldown: Duration) -> Self {
        self.breaker_cooldown = cooldown;
        self
    }

    /// The most entries the memory store keeps (default 100,000; at least 1); ignored for
    /// Redis.
    ///
    /// ```
    /// let cache = redcache::Cache::builder().memory_capacity(10_000).build()?;
    /// assert_eq!(cache.health().store, "memory");
    /// assert!(redcache::Cache::builder().memory_capacity(0).build().is_err());
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn memory_capacity(mut self, entries: u64) -> Self {
        self.memory_capacity = entries;
        self
    }

    /// How long a miss holds its lease on the key (default 10 s; 1 ms to 24 hours). The lease is what lets an
    /// invalidation stop an older value from being written, and what `lock = true` waits on.
    /// A body that runs longer than this returns its value but does not cache it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // Reports take up to a minute to compute; cache them all the same.
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .lease_timeout(Duration::from_secs(90))
    ///     .build()?;
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn lease_timeout(mut self, timeout: Duration) -> Self {
        self.lease_timeout = timeout;
        self
    }

    /// With `lock = true`, the longest a call waits for another process computing the same
    /// key before running the body itself (default 2 s; at most 1 hour).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .lock_wait(Duration::from_millis(500))
    ///     .build()?;
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The largest value (encoded, in bytes) that is cached (default 8 MiB). A larger one is
    /// returned to the caller but not stored, and counted in `too_large` and logged: one huge
    /// entry would make every read of it slow, hold up the small reads queued behind it on the
    /// shared connection, and can time out and trip the breaker for every key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), redcache::Error> {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder().max_value_bytes(1024).build()?;
    /// let big = "x".repeat(4096);
    /// assert!(!cache.set("big", &big, Duration::from_secs(60)).await); // returned, not stored
    /// assert_eq!(cache.stats().too_large, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Trust this CA (PEM, one or more `CERTIFICATE` blocks) for the server's TLS certificate,
    /// instead of the system's trusted roots: for a Redis whose certificate a private CA
    /// signed. Needs a `rediss://` URL. A malformed PEM makes [`build`](CacheBuilder::build)
    /// fail with [`Error::InvalidTls`].
    ///
    /// ```no_run
    /// let ca = std::fs::read("/etc/redis/tls/ca.crt")?;
    /// let cache = redcache::Cache::builder()
    ///     .url("rediss://cache.internal:6380")
    ///     .tls_root_cert(ca)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_root_cert(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls.root_cert = Some(pem.as_ref().to_vec());
        self
    }

    /// Authenticate to the server with this certificate (PEM; the client's certificate first,
    /// then any intermediates) and private key (PEM: PKCS#8 `PRIVATE KEY`, SEC1
    /// `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`), for a Redis that requires mutual TLS
    /// (`tls-auth-clients yes`). Needs a `rediss://` URL. A malformed PEM, or a key that does
    /// not belong to the certificate, makes [`build`](CacheBuilder::build) fail with
    /// [`Error::InvalidTls`] (whose message never includes the key).
    ///
    /// ```no_run
    /// let cache = redcache::Cache::builder()
    ///     .url("rediss://cache.internal:6380")
    ///     .tls_root_cert(std::fs::read("/etc/redis/tls/ca.crt")?)
    ///     .tls_client_cert(
    ///         std::fs::read("/etc/app/tls/client.crt")?,
    ///         std::fs::read("/etc/app/tls/client.key")?,
    ///     )
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Self {
        self.tls.client = Some((cert_pem.as_ref().to_vec(), key_pem.as_ref().to_vec()));
        self
    }

    /// Puts a near cache (L1) of at most `max_entries` entries in front of Redis: a hit there
    /// returns without any network I/O.
    ///
    /// Kept coherent by Redis itself (client-side caching: a dedicated RESP3 connection with
    /// `CLIENT TRACKING ON BCAST PREFIX <prefix>`): when an entry changes or disappears in
    /// Redis, whoever caused it (this or another process invalidating or writing, another
    /// program's `SET`/`DEL`, expiry, eviction, `FLUSHDB`), the copy is dropped. The process
    /// that invalidates drops its own copies before the call returns. A read that raced an
    /// invalidation is never kept. A copy lives at most as long as the Redis entry has left,
    /// and at most [`near_max_ttl`](Self::near_max_ttl). When coherence cannot be proven (the
    /// channel is lost, misses its 1.5 s heartbeat, the server restarts or refuses tracking),
    /// L1 is flushed and bypassed until it can; [`Cache::health`]`().near_armed` says which.
    ///
    /// Functions with `tags` and those marked `#[cache(near = false)]` always read Redis.
    /// Needs Redis: on a memory cache, `build()` fails.
    ///
    /// ```
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .near_cache(10_000)
    ///     .build()?;
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn near_cache(mut self, max_entries: u64) -> Self {
        self.near_entries = Some(max_entries);
        self
    }

    /// The longest a near-cache copy lives, whatever the Redis entry's TTL (default 60 s;
    /// 1 ms to 24 hours): a backstop, since coherence does not depend on it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .near_cache(10_000)
    ///     .near_max_ttl(Duration::from_secs(5))
    ///     .build()?;
    /// assert!(!cache.health().near_armed); // armed by the first call that uses it
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn near_max_ttl(mut self, max_ttl: Duration) -> Self {
        self.near_max_ttl = max_ttl;
        self
    }

    /// While Redis is unreachable, keep the values calls compute in process memory for at most
    /// `max_age` (and at most their `ttl`) and serve them to later calls, so an outage does not
    /// send every call to the source (off by default; 1 ms to 24 hours; at most 10,000
    /// values). Counted in [`Stats::fallback_hits`](crate::Stats::fallback_hits). Everything
    /// kept is dropped as soon as Redis answers again, and by any invalidation made by this
    /// process. Other processes' invalidations during the outage cannot reach it: a value may
    /// be served up to `max_age` after another process changed it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .outage_fallback(Duration::from_secs(30))
    ///     .build()?;
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn outage_fallback(mut self, max_age: Duration) -> Self {
        self.outage_fallback = Some(max_age);
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
            (
                "near_max_ttl",
                self.near_max_ttl,
                Duration::from_millis(1),
                24 * HOUR,
                "1 ms to 24 hours",
            ),
            (
                "outage_fallback",
                self.outage_fallback.unwrap_or(MINUTE),
                Duration::from_millis(1),
                24 * HOUR,
                "1 ms to 24 hours",
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
        if self.near_entries == Some(0) {
            return Err(Error::InvalidOption {
                option: "near_cache",
                reason: "must be at least 1 entry".into(),
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

    /// Builds the cache. Never connects and never waits: fails only on a malformed URL, an
    /// out-of-range option or a malformed TLS certificate or key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for a malformed URL, [`Error::InvalidOption`] for an option out of
    /// its range (or both `url` and `cluster`), [`Error::InvalidTls`] for a malformed TLS
    /// certificate or key; never because Redis is unreachable.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::builder().url("redis://127.0.0.1:6379").build()?; // no connection
    /// let error = redcache::Cache::builder().url("redis://:secret@").build().unwrap_err();
    /// assert!(!error.to_string().contains("secret"));
    /// let error = redcache::Cache::builder().lock_wait(Duration::from_secs(7200)).build();
    /// assert!(matches!(error, Err(redcache::Error::InvalidOption { option: "lock_wait", .. })));
    /// # Ok::<(), redcache::Error>(())
    /// ```
    pub fn build(self) -> Result<Cache, Error> {
        self.check_ranges()?;
        let invalid_url = |error: redis::RedisError| Error::InvalidUrl {
            // redis-rs's parse errors describe the problem without echoing the URL.
            reason: error.to_string(),
        };
        let parse = |url: &str| {
            tls::check_scheme(url)?;
            redis::IntoConnectionInfo::into_connection_info(url).map_err(invalid_url)
        };
        let redis = match (&self.url, &self.cluster) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidOption {
                    option: "cluster",
                    reason: "give either `url` (standalone) or `cluster` (nodes), not both".into(),
                });
            }
            (None, None) if self.near_entries.is_some() => {
                return Err(Error::InvalidOption {
                    option: "near_cache",
                    reason: "a near cache sits in front of Redis: give `url` or `cluster` too (the memory store is in process already)".into(),
                });
            }
            (None, None) => None,
            (Some(url), None) => {
                let node = parse(url)?;
                let client = match tls::prepare(std::slice::from_ref(&node), &self.tls)? {
                    None => redis::Client::open(node),
                    #[cfg(feature = "tls")]
                    Some(certs) => redis::Client::build_with_tls(node, certs),
                    #[cfg(not(feature = "tls"))]
                    Some(never) => match never {},
                }
                .map_err(invalid_url)?;
                Some(RedisStore::new(client, self.op_timeout))
            }
            (None, Some(nodes)) => {
                let nodes = nodes
                    .iter()
                    .map(|node| parse(node))
                    .collect::<Result<Vec<_>, _>>()?;
                let certs = tls::prepare(&nodes, &self.tls)?;
                Some(RedisStore::cluster(nodes, certs, self.op_timeout).map_err(invalid_url)?)
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
            Some(redis) => {
                let near = self.near_entries.map(|entries| {
                    Near::new(
                        entries,
                        self.near_max_ttl,
                        redis.tracked_servers(),
                        &self.prefix,
                    )
                });
                Store::Redis(Arc::new(RedisTier::new(
                    redis,
                    fail_open.clone(),
                    &self.prefix,
                    near,
                )))
            }
        };
        Ok(Cache::assemble(
            store,
            fail_open,
            Settings {
                prefix: self.prefix,
                lease_timeout: self.lease_timeout,
                lock_wait: self.lock_wait,
                max_value_bytes: self.max_value_bytes,
                outage_fallback: self.outage_fallback,
            },
        ))
    }
}
