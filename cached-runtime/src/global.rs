//! The process-wide cache the macros use when no `cache = ..` is given.

use std::sync::OnceLock;

use crate::cache::Cache;
use crate::error::Error;

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Installs the process-wide cache that `#[cache]` and `#[invalidate]` use when no
/// `cache = ..` is given.
///
/// Call it once, before the first cached call. Fails with [`Error::GlobalAlreadySet`] if a
/// global cache is already installed, including the default one a cached call installed.
///
/// # Errors
///
/// [`Error::GlobalAlreadySet`] when a global cache is already installed.
///
/// # Examples
///
/// ```
/// use redcache::{Cache, cache};
///
/// #[cache(key = "double:<n>", ttl = 60)] // no `cache = ..`: the global cache
/// async fn double(n: u64) -> u64 {
///     n * 2
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), redcache::Error> {
///     let cache = Cache::builder().prefix("my-service").build()?; // or `.url(..)`
///     redcache::set_global(cache)?; // once, before the first cached call
///     assert_eq!(double(21).await, 42);
///     assert_eq!(redcache::global().get::<u64>("double:21").await, Some(42));
///     assert!(redcache::set_global(Cache::memory()).is_err()); // only once
///     Ok(())
/// }
/// ```
pub fn set_global(cache: Cache) -> Result<(), Error> {
    GLOBAL.set(cache).map_err(|_| Error::GlobalAlreadySet)
}

/// The process-wide cache: the one given to [`set_global`], or else Redis at `REDIS_URL` when
/// that is set, or else the memory store. Which one is said once, in the log. A `REDIS_URL`
/// that is set but malformed disables caching (every call runs its body) rather than fall
/// back to a memory store, and [`Cache::health`] says why.
///
/// Use it to read the default cache's [`stats`](Cache::stats).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use redcache::cache;
///
/// #[cache(key = "triple:<n>", ttl = 60)]
/// async fn triple(n: u64) -> u64 {
///     n * 3
/// }
///
/// let before = redcache::global().stats().misses;
/// triple(5).await;
/// let health = redcache::global().health();
/// if health.reachable {
///     assert!(redcache::global().stats().misses > before);
/// }
/// # }
/// ```
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
            // Not a memory store of this process alone: it would cache on its own and miss
            // every other process's invalidations.
            let reason = format!("REDIS_URL is set but unusable ({error}); caching is disabled");
            tracing::error!(target: "redcache", "{reason}: every cached function runs its body");
            Cache::disabled(reason)
        }
    }
}
