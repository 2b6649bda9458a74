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
pub fn set_global(cache: Cache) -> Result<(), Error> {
    GLOBAL.set(cache).map_err(|_| Error::GlobalAlreadySet)
}

/// The process-wide cache: the one given to [`set_global`], or else Redis at `REDIS_URL` when
/// that is set, or else the memory store. Which one is said once, in the log. A `REDIS_URL`
/// that is set but malformed disables caching (every call runs its body) rather than fall
/// back to a memory store, and [`Cache::health`] says why.
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
            // Not a memory store of this process alone: it would cache on its own and miss
            // every other process's invalidations.
            let reason = format!("REDIS_URL is set but unusable ({error}); caching is disabled");
            tracing::error!(target: "redcache", "{reason}: every cached function runs its body");
            Cache::disabled(reason)
        }
    }
}
