//! One interface over where entries live: the [`Tier`] trait, one method per operation,
//! implemented by the memory backend and by Redis behind the fail-open policy. A cache picks
//! its [`Store`] once, when it is built; the layers above (the lease protocol, invalidation,
//! the call algorithm) never ask which one it is. A tier stacked in front of another (an
//! in-process copy of Redis) implements the same trait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::memory::MemoryStore;
use crate::backend::redis::{RedisStore, ScanNode};
use crate::backend::{Bytes, Kept};
use crate::fail_open::{FailOpen, Failure};
use crate::near::{Near, Token};
use crate::random;

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

impl From<Option<Bytes>> for Read {
    /// What an in-process store, which cannot fail, found at a key.
    fn from(bytes: Option<Bytes>) -> Read {
        bytes.map_or(Read::Absent, Read::Found)
    }
}

/// What an invalidation deletes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Exact keys.
    Keys(Vec<String>),
    /// Every key matching a glob.
    Pattern(String),
    /// Every key carrying a tag (by tag key).
    Tag(String),
}

impl Target {
    /// How many keys, patterns or tags it names.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Target::Keys(keys) => keys.len() as u64,
            Target::Pattern(_) | Target::Tag(_) => 1,
        }
    }
}

/// The operations the layers above need. None returns an error to a caller: a failure is a
/// `Failure` (already counted and logged by the fail-open policy) or is left out of a count.
pub(crate) trait Tier {
    /// The bytes at `key`.
    async fn get(&self, key: &str) -> Read;

    /// The bytes at each of `keys`, in order, in one round trip.
    async fn get_many(&self, keys: &[&str]) -> Vec<Read>;

    /// Stores `bytes` only if nothing is at `key`; `Ok(true)` when it did.
    async fn set_if_absent(
        &self,
        key: &str,
        bytes: &Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, Failure>;

    /// Stores `bytes` at `key`, whatever is there (a write-through: it wins over the reads in
    /// flight, whose compare-and-set then fails). `kept` as for `replace_if`.
    async fn set(
        &self,
        key: &str,
        bytes: Arc<[u8]>,
        kept: Option<Kept>,
        ttl: Duration,
    ) -> Result<(), Failure>;

    /// Replaces the entry at `key` only if it still holds exactly `expected`; `Ok(true)` when
    /// it did. `kept` is the value itself, for a tier that can keep it.
    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        bytes: Arc<[u8]>,
        kept: impl FnOnce() -> Option<Kept>,
        ttl: Duration,
    ) -> Result<bool, Failure>;

    /// Plants `lease` at a key that holds another Redis type, or nothing; `Ok(true)` when it
    /// did. (Only Redis has other types; a compare-and-set cannot read them.)
    async fn take_over(&self, key: &str, lease: &Arc<[u8]>, ttl: Duration)
    -> Result<bool, Failure>;

    /// Deletes `key` only if it still holds exactly `expected`.
    async fn delete_if(&self, key: &str, expected: &[u8]);

    /// Deletes what `target` names; returns how many keys went, or what is still to delete
    /// when the tier failed part way.
    async fn delete(&self, target: Target) -> Result<u64, Target>;

    /// Adds `key` to tag key `tag`, which then lives at least `lifetime`; returns the tag's
    /// version, made now if it had none.
    async fn tag(&self, tag: &str, key: &str, lifetime: Duration) -> Result<u64, Failure>;

    /// The current version of each tag key; `None` for a tag with none (never made, deleted
    /// by an invalidation, expired, evicted).
    async fn tag_versions(&self, tags: &[String]) -> Result<Vec<Option<u64>>, Failure>;
}

/// What the cache's own keys start with, after the prefix: no entry key can (values escape
/// it, and the macros refuse templates that start with it).
pub(crate) const RESERVED: &str = "#";

/// A tag version: random, never 0 (which an unreadable stored version parses as).
fn new_version() -> u64 {
    random::u64().max(1)
}

/// The tier a cache was built with. The memory backend never fails and is synchronous;
/// Redis goes through [`RedisTier`].
///
/// Cheap to clone (handles only), so a task can hold one: the memory store's maps are shared
/// handles, Redis is behind an `Arc`. Inline in the cache, so a memory hit chases no extra
/// pointer.
#[derive(Clone)]
pub(crate) enum Store {
    Memory(MemoryStore),
    Redis(Arc<RedisTier>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Memory(_) => f.write_str("memory"),
            Store::Redis(redis) => write!(f, "redis {}", redis.redis.address()),
        }
    }
}

impl Store {
    /// Deletes `key` if it still holds `expected`, without making the caller wait: at once in
    /// memory, from a spawned task on Redis (for a caller that is being dropped).
    pub(crate) fn delete_if_soon(&self, key: &str, expected: Arc<[u8]>) {
        if let Store::Memory(memory) = self {
            memory.delete_if(key, &expected);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime left: a lease expires by itself
        };
        let (store, key) = (self.clone(), key.to_owned());
        runtime.spawn(async move { store.delete_if(&key, &expected).await });
    }

    /// Which store this is: `"memory"`, `"redis"` or `"cluster"`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(redis) if redis.redis.is_cluster() => "cluster",
            Store::Redis(_) => "redis",
        }
    }

    /// The near cache in front of Redis, if the cache has one.
    #[inline]
    pub(crate) fn near(&self) -> Option<&Arc<Near>> {
        match self {
            Store::Redis(redis) => redis.near.as_ref(),
            Store::Memory(_) => None,
        }
    }

    /// Reads `key` from Redis for a near-cache fill: with the entry's remaining TTL (ms, as
    /// `PTTL` says), and a token taken before the read, when the near cache is armed.
    pub(crate) async fn get_for_near(
        &self,
        near: &Near,
        key: &str,
    ) -> (Read, Option<(Token, i64)>) {
        let Store::Redis(redis) = self else {
            return (self.get(key).await, None);
        };
        let Some(token) = near.token(key) else {
            return (redis.get(key).await, None);
        };
        match redis.run("GET", redis.redis.get_with_ttl(key)).await {
            Ok((Some(bytes), pttl)) => (Read::Found(Bytes::Owned(bytes)), Some((token, pttl))),
            Ok((None, _)) => (Read::Absent, None),
            Err(Failure::WrongType) => (Read::WrongType, None),
            Err(Failure::Unavailable | Failure::Refused) => (Read::Unavailable, None),
        }
    }

    /// Asks the store whether it answers: always on memory, `PING` through the fail-open
    /// policy on Redis.
    pub(crate) async fn ping(&self) -> Result<(), Failure> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(redis) => redis.run("PING", redis.redis.ping()).await,
        }
    }
}

impl Tier for Store {
    async fn get(&self, key: &str) -> Read {
        match self {
            Store::Memory(memory) => memory.get(key).into(),
            Store::Redis(redis) => redis.get(key).await,
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Vec<Read> {
        match self {
            Store::Memory(memory) => keys.iter().map(|key| memory.get(key).into()).collect(),
            Store::Redis(redis) => redis.get_many(keys).await,
        }
    }

    async fn set_if_absent(
        &self,
        key: &str,
        bytes: &Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, Failure> {
        match self {
            Store::Memory(memory) => Ok(memory.set_if_absent(key, bytes.clone(), ttl)),
            Store::Redis(redis) => redis.set_if_absent(key, bytes, ttl).await,
        }
    }

    async fn set(
        &self,
        key: &str,
        bytes: Arc<[u8]>,
        kept: Option<Kept>,
        ttl: Duration,
    ) -> Result<(), Failure> {
        match self {
            Store::Memory(memory) => {
                memory.set(key, bytes, kept, ttl);
                Ok(())
            }
            Store::Redis(redis) => redis.set(key, bytes, kept, ttl).await,
        }
    }

    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        bytes: Arc<[u8]>,
        kept: impl FnOnce() -> Option<Kept>,
        ttl: Duration,
    ) -> Result<bool, Failure> {
        match self {
            Store::Memory(memory) => Ok(memory.replace_if(key, expected, bytes, kept(), ttl)),
            Store::Redis(redis) => redis.replace_if(key, expected, bytes, kept, ttl).await,
        }
    }

    async fn take_over(
        &self,
        key: &str,
        lease: &Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, Failure> {
        match self {
            Store::Memory(memory) => Ok(memory.set_if_absent(key, lease.clone(), ttl)),
            Store::Redis(redis) => redis.take_over(key, lease, ttl).await,
        }
    }

    async fn delete_if(&self, key: &str, expected: &[u8]) {
        match self {
            Store::Memory(memory) => memory.delete_if(key, expected),
            Store::Redis(redis) => redis.delete_if(key, expected).await,
        }
    }

    async fn delete(&self, target: Target) -> Result<u64, Target> {
        match self {
            Store::Memory(memory) => Ok(match &target {
                Target::Keys(keys) => memory.delete(keys),
                Target::Pattern(pattern) => memory.delete_matching(pattern),
                Target::Tag(tag) => memory.delete_tagged(tag),
            }),
            Store::Redis(redis) => redis.delete(target).await,
        }
    }

    async fn tag(&self, tag: &str, key: &str, lifetime: Duration) -> Result<u64, Failure> {
        match self {
            Store::Memory(memory) => Ok(memory.tag(tag, key, lifetime, new_version())),
            Store::Redis(redis) => redis.tag(tag, key, lifetime).await,
        }
    }

    async fn tag_versions(&self, tags: &[String]) -> Result<Vec<Option<u64>>, Failure> {
        match self {
            Store::Memory(memory) => Ok(memory.tag_versions(tags)),
            Store::Redis(redis) => redis.tag_versions(tags).await,
        }
    }
}

/// Redis behind the fail-open policy: every command runs through [`FailOpen::run`].
pub(crate) struct RedisTier {
    redis: RedisStore,
    fail_open: Arc<FailOpen>,
    /// The start of the cache's own bookkeeping keys (`<prefix>#`), which a pattern
    /// invalidation leaves alone.
    reserved: String,
    /// The near cache (L1), if any: every write and deletion made here drops its copies
    /// once Redis answered, before the caller goes on (see `near`).
    near: Option<Arc<Near>>,
}

impl RedisTier {
    pub(crate) fn new(
        redis: RedisStore,
        fail_open: Arc<FailOpen>,
        prefix: &str,
        near: Option<Near>,
    ) -> Self {
        RedisTier {
            redis,
            fail_open,
            reserved: format!("{prefix}{RESERVED}"),
            near: near.map(Arc::new),
        }
    }

    /// Drops this process's L1 copy of `key` (after a write to it).
    fn drop_near(&self, key: &str) {
        if let Some(near) = &self.near {
            near.drop_keys(&[key]);
        }
    }

    /// Incremental `SCAN` + `UNLINK`, on every master of a cluster at once. Each step is
    /// bounded by the op timeout; a failed step fails the walk (to be walked again).
    async fn delete_matching(&self, pattern: &str) -> Result<u64, Failure> {
        let nodes = self.run("CLUSTER NODES", self.redis.scan_nodes()).await?;
        let walks = nodes
            .iter()
            .map(|node| self.delete_matching_on(node, pattern));
        let mut deleted = 0;
        for walk in futures_util::future::join_all(walks).await {
            deleted += walk?;
        }
        Ok(deleted)
    }

    /// One node's walk.
    async fn delete_matching_on(&self, node: &ScanNode, pattern: &str) -> Result<u64, Failure> {
        let mut cursor = 0;
        let mut deleted = 0;
        loop {
            let step = self.run("SCAN", self.redis.scan(node, cursor, pattern));
            let (next, mut keys) = step.await?;
            // A user's pattern such as `*:user:7` also matches the tag `#tag:user:7`.
            keys.retain(|key| !key.starts_with(self.reserved.as_bytes()));
            deleted += self.run("UNLINK", self.redis.unlink(&keys)).await?;
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    async fn run<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        let outcome = self.fail_open.run(op, call).await;
        if outcome.is_err() && self.fail_open.take_connection_replacement() {
            self.redis.discard_connection();
        }
        outcome
    }
}

impl Tier for RedisTier {
    async fn get(&self, key: &str) -> Read {
        match self.run("GET", self.redis.get(key)).await {
            Ok(Some(bytes)) => Read::Found(Bytes::Owned(bytes)),
            Ok(None) => Read::Absent,
            Err(Failure::WrongType) => Read::WrongType,
            // Unreachable, or refused (cluster in flux, ACL): no write either.
            Err(Failure::Unavailable | Failure::Refused) => Read::Unavailable,
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Vec<Read> {
        if keys.is_empty() {
            return Vec::new();
        }
        match self.run("MGET", self.redis.get_many(keys)).await {
            Ok(values) => values
                .into_iter()
                .map(|value| match value {
                    Some(bytes) => Read::Found(Bytes::Owned(bytes)),
                    None => Read::Absent,
                })
                .collect(),
            // `MGET` answers nil for a key of another type, so a wrong type cannot fail it.
            Err(_) => keys.iter().map(|_| Read::Unavailable).collect(),
        }
    }

    async fn set_if_absent(
        &self,
        key: &str,
        bytes: &Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, Failure> {
        let outcome = self
            .run("SET NX", self.redis.set_if_absent(key, bytes, ttl))
            .await;
        self.drop_near(key);
        outcome
    }

    async fn set(
        &self,
        key: &str,
        bytes: Arc<[u8]>,
        _kept: Option<Kept>,
        ttl: Duration,
    ) -> Result<(), Failure> {
        let outcome = self.run("SET", self.redis.set(key, &bytes, ttl)).await;
        self.drop_near(key);
        outcome
    }

    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        bytes: Arc<[u8]>,
        _kept: impl FnOnce() -> Option<Kept>,
        ttl: Duration,
    ) -> Result<bool, Failure> {
        let outcome = self
            .run("EVALSHA", self.redis.replace_if(key, expected, &bytes, ttl))
            .await;
        self.drop_near(key);
        outcome
    }

    async fn take_over(
        &self,
        key: &str,
        lease: &Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, Failure> {
        let outcome = self
            .run("EVALSHA", self.redis.take_over(key, lease, ttl))
            .await;
        self.drop_near(key);
        outcome
    }

    async fn delete_if(&self, key: &str, expected: &[u8]) {
        let _ = self
            .run("EVALSHA", self.redis.delete_if(key, expected))
            .await;
        self.drop_near(key);
    }

    async fn delete(&self, target: Target) -> Result<u64, Target> {
        let Some(near) = &self.near else {
            return self.delete_in_redis(target).await;
        };
        // Dropped after Redis answered (or failed: then the invalidation is kept, and nothing
        // is served while it is): a fill that read the old value took its token before this,
        // so it is discarded too.
        let dropped = match &target {
            Target::Keys(keys) => Some(Target::Keys(keys.clone())),
            Target::Pattern(pattern) => Some(Target::Pattern(pattern.clone())),
            // Tagged entries are never copied into L1.
            Target::Tag(_) => None,
        };
        let outcome = self.delete_in_redis(target).await;
        match dropped {
            Some(Target::Keys(keys)) => near.drop_keys(&keys),
            Some(Target::Pattern(pattern)) => near.drop_matching(&pattern),
            _ => {}
        }
        outcome
    }

    async fn tag(&self, tag: &str, key: &str, lifetime: Duration) -> Result<u64, Failure> {
        let tagging = self.redis.tag(tag, key, lifetime, new_version());
        self.run("EVALSHA", tagging).await
    }

    async fn tag_versions(&self, tags: &[String]) -> Result<Vec<Option<u64>>, Failure> {
        self.run("HGET", self.redis.tag_versions(tags)).await
    }
}

impl RedisTier {
    /// Deletes what `target` names in Redis.
    async fn delete_in_redis(&self, target: Target) -> Result<u64, Target> {
        match target {
            Target::Keys(keys) if keys.is_empty() => Ok(0),
            Target::Keys(keys) => match self.run("UNLINK", self.redis.unlink(&keys)).await {
                Ok(deleted) => Ok(deleted),
                Err(_) => Err(Target::Keys(keys)),
            },
            Target::Pattern(pattern) => match self.delete_matching(&pattern).await {
                Ok(deleted) => Ok(deleted),
                Err(_) => Err(Target::Pattern(pattern)),
            },
            Target::Tag(tag) => {
                let Ok(members) = self.run("EVALSHA", self.redis.take_tag(&tag)).await else {
                    return Err(Target::Tag(tag));
                };
                // The set is gone now: if its members cannot be deleted, they are what is
                // left to delete.
                match self.run("UNLINK", self.redis.unlink(&members)).await {
                    Ok(deleted) => Ok(deleted),
                    Err(_) => Err(Target::Keys(
                        members
                            .into_iter()
                            .filter_map(|key| String::from_utf8(key).ok())
                            .collect(),
                    )),
                }
            }
        }
    }
}
