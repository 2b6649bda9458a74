//! The programmatic API: [`Cache::get`], [`Cache::set`], the invalidations and
//! [`Cache::get_or_insert_with`], for code that is not one annotated function (message
//! consumers, admin endpoints, jobs, tests).
//!
//! An entry point beside `private`, over the same operations: a read is the call algorithm's
//! lookup (`call`), `get_or_insert_with` is the whole call algorithm, `set` is write-through
//! (`write`), the invalidations are `invalidate`'s. So everything here is fail-open, bounded
//! by the op timeout, counted in [`Cache::stats`], and shares entries with the macros: the
//! same keys under the cache's prefix, the same envelope.

use std::future::Future;
use std::time::Duration;

use crate::cache::Cache;
use crate::call::{self, CallOptions};
use crate::invalidate::{self, Targets};
use crate::key::KeyWriter;
use crate::stats::Counters;
use crate::tier::RESERVED;
use crate::value::{CacheValue, OkOnly, Whole, json_codec};
use crate::write::{self, Destination};

impl Cache {
    /// The fresh value at `key`, if there is one that decodes as `T`.
    ///
    /// `key` is under the cache's prefix, as the macros' keys are: build it with
    /// `redcache::key!` to read what a `#[cache]` function wrote. `None` on a miss, on a stale
    /// value (past its TTL, in a `stale` period), when the cache is unavailable, and for an
    /// entry a function with `tags` wrote (its tags' versions cannot be checked without its
    /// tags). Counted as a hit or a miss.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// cache.set("user:7", &"Ada".to_owned(), Duration::from_secs(60)).await;
    /// assert_eq!(cache.get::<String>("user:7").await.as_deref(), Some("Ada"));
    /// assert_eq!(cache.get::<String>("user:8").await, None);
    /// # }
    /// ```
    pub async fn get<T: CacheValue>(&self, key: &str) -> Option<T> {
        let key = self.entry_key_writer(key)?;
        call::get_fresh(self, key.as_str(), &json_codec::<T>()).await
    }

    /// Stores `value` at `key` for `ttl`; `true` when it was stored.
    ///
    /// The write wins over reads in flight: a `#[cache]` call or `get_or_insert_with` that
    /// started before it cannot store an older value after it. When the value cannot be
    /// stored (Redis unavailable, larger than `max_value_bytes`, not serializable, a zero
    /// `ttl`), the key is invalidated instead, now or as soon as Redis answers, and `false`
    /// is returned: the old value is not served after a failed write either.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// assert!(cache.set("config:flags", &vec![1, 2, 3], Duration::from_secs(30)).await);
    /// assert_eq!(cache.get::<Vec<u8>>("config:flags").await, Some(vec![1, 2, 3]));
    /// # }
    /// ```
    pub async fn set<T: CacheValue>(&self, key: &str, value: &T, ttl: Duration) -> bool {
        let Some(key) = self.entry_key(key) else {
            return false;
        };
        if ttl.is_zero() {
            invalidate::invalidate_now(self, Targets::key(key)).await;
            return false;
        }
        let to = Destination {
            key,
            tags: Vec::new(),
            options: CallOptions::with_ttl(ttl),
        };
        write::write(self, to, &json_codec::<T>(), value).await
    }

    /// Deletes the entry at `key`. Returns after the deletion; if Redis cannot be reached, the
    /// invalidation is kept and delivered as soon as it answers, and until then this process
    /// serves nothing from the cache.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// cache.set("user:7", &1, Duration::from_secs(60)).await;
    /// cache.invalidate("user:7").await;
    /// assert_eq!(cache.get::<i32>("user:7").await, None);
    /// # }
    /// ```
    pub async fn invalidate(&self, key: &str) {
        if let Some(key) = self.entry_key(key) {
            invalidate::invalidate_now(self, Targets::key(key)).await;
        }
    }

    /// Deletes every entry whose key matches the glob `pattern` (`*`, `?`, `[..]`, under the
    /// cache's prefix), as `#[invalidate(pattern = ..)]` does. Build it with
    /// `redcache::pattern!` so that the values in it are encoded as in keys and cannot act as
    /// globs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// cache.set("user:7:posts", &1, Duration::from_secs(60)).await;
    /// cache.set("user:7:likes", &2, Duration::from_secs(60)).await;
    /// cache.invalidate_pattern("user:7:*").await;
    /// assert_eq!(cache.get::<i32>("user:7:posts").await, None);
    /// assert_eq!(cache.get::<i32>("user:7:likes").await, None);
    /// # }
    /// ```
    pub async fn invalidate_pattern(&self, pattern: &str) {
        if pattern.starts_with(RESERVED) {
            self.fail_open().bad_key(pattern, RESERVED_MESSAGE);
            return;
        }
        let mut writer = KeyWriter::with_prefix(self.pattern_prefix(), pattern.len());
        writer.push_literal(pattern);
        invalidate::invalidate_now(
            self,
            Targets {
                patterns: vec![writer.finish()],
                ..Targets::default()
            },
        )
        .await;
    }

    /// Deletes every entry cached with any of `tags` (as written in `tags = [..]` of
    /// `#[cache]`, with the values filled in: `"org:42"`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use redcache::{Cache, cache};
    ///
    /// static RUNS: AtomicUsize = AtomicUsize::new(0);
    ///
    /// #[cache(key = "plan:<org>", ttl = 60, tags = ["org:<org>"], skip(cache), cache = cache)]
    /// async fn plan(cache: &Cache, org: u64) -> String {
    ///     RUNS.fetch_add(1, SeqCst);
    ///     "pro".into()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = Cache::memory();
    /// plan(&cache, 42).await;
    /// cache.invalidate_tags(&["org:42", "org:43"]).await;
    /// plan(&cache, 42).await; // its entry was dropped: the body runs again
    /// assert_eq!(RUNS.load(SeqCst), 2);
    /// # }
    /// ```
    pub async fn invalidate_tags(&self, tags: &[&str]) {
        let tags = tags
            .iter()
            .map(|tag| {
                let mut writer = self.tag_writer(tag.len());
                writer.push_literal(tag);
                writer.finish()
            })
            .collect();
        invalidate::invalidate_now(
            self,
            Targets {
                tags,
                ..Targets::default()
            },
        )
        .await;
    }

    /// The value at `key`, or else `f`'s, stored for `ttl`: the algorithm of `#[cache]`, with
    /// its single-flight (concurrent callers of one key in this process run `f` once) and its
    /// invalidation-race guarantee (a value computed while the key was invalidated is
    /// returned but not stored). A zero `ttl` caches nothing: `f` runs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// let ttl = Duration::from_secs(60);
    /// let first = cache.get_or_insert_with("answer", ttl, || async { 42 }).await;
    /// let second = cache.get_or_insert_with("answer", ttl, || async { 0 }).await;
    /// assert_eq!((first, second), (42, 42));
    /// # }
    /// ```
    pub async fn get_or_insert_with<T, F, Fut>(&self, key: &str, ttl: Duration, f: F) -> T
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let Some(key) = self.entry_key_writer(key).filter(|_| !ttl.is_zero()) else {
            Counters::bump(&self.counters().misses);
            return f().await;
        };
        let options = CallOptions::with_ttl(ttl);
        call::get_or_compute::<Whole, _>(self, key, Vec::new(), options, json_codec(), f()).await
    }

    /// As [`get_or_insert_with`](Cache::get_or_insert_with), for a fallible `f`: only `Ok`
    /// is stored; an `Err` is returned and nothing is cached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = redcache::Cache::memory();
    /// let ttl = Duration::from_secs(60);
    /// let failed: Result<u32, String> =
    ///     cache.try_get_or_insert_with("n", ttl, || async { Err("db down".to_owned()) }).await;
    /// assert!(failed.is_err());
    /// let loaded: Result<u32, String> =
    ///     cache.try_get_or_insert_with("n", ttl, || async { Ok(7) }).await;
    /// assert_eq!(loaded, Ok(7));
    /// # }
    /// ```
    pub async fn try_get_or_insert_with<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(key) = self.entry_key_writer(key).filter(|_| !ttl.is_zero()) else {
            Counters::bump(&self.counters().misses);
            return f().await;
        };
        let options = CallOptions::with_ttl(ttl);
        call::get_or_compute::<OkOnly, _>(self, key, Vec::new(), options, json_codec(), f()).await
    }

    /// `key` under the prefix; `None` (logged and counted) for a key in the namespace the
    /// cache keeps for itself, which the macros refuse at compile time.
    fn entry_key(&self, key: &str) -> Option<String> {
        self.entry_key_writer(key).map(KeyWriter::finish)
    }

    /// The same, not yet owned.
    fn entry_key_writer(&self, key: &str) -> Option<KeyWriter> {
        if key.starts_with(RESERVED) {
            self.fail_open().bad_key(key, RESERVED_MESSAGE);
            return None;
        }
        let mut writer = KeyWriter::with_prefix(self.prefix(), key.len());
        writer.push_literal(key);
        Some(writer)
    }
}

const RESERVED_MESSAGE: &str = "keys starting with `#` are the cache's own (tags, bookkeeping); start the key with something else";
