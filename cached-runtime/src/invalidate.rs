//! Invalidation: what an `#[invalidate]` call deletes, and how.
//!
//! After the body succeeds, the exact keys, every key matching each pattern (an incremental
//! `SCAN` + `UNLINK` walk on every master, inside the cache's prefix) and every key carrying
//! each tag are deleted through the cache's tier. Deleting also removes the leases of calls
//! in flight, which then do not store their possibly older values (see `lease`), and ends
//! this process's flights for joining, so a call that starts after the invalidation computes
//! afresh.

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;

use crate::cache::Cache;
use crate::tier::Tier;

/// What an invalidation deletes, rendered by the macro (prefixed and encoded) before the
/// body consumes the arguments.
#[derive(Debug, Default)]
pub struct Targets {
    /// Exact keys.
    pub keys: Vec<String>,
    /// Glob patterns.
    pub patterns: Vec<String>,
    /// Tag keys.
    pub tags: Vec<String>,
}

/// Runs `body`; if `succeeded` says its output is a success, deletes the `targets`.
pub async fn invalidate_after<R>(
    cache: &Cache,
    targets: Targets,
    succeeded: fn(&R) -> bool,
    body: impl Future<Output = R>,
) -> R {
    let output = body.await;
    if succeeded(&output) {
        // In a task of its own: the change is made, so the invalidation must finish even if
        // this caller is cancelled now (it still waits for it, to read its own writes).
        let cache = cache.clone();
        let deletion = tokio::spawn(async move { delete(&cache, &targets).await });
        let _ = deletion.await;
    }
    output
}

/// Success for a function returning `Result`: invalidate only after `Ok`.
pub fn is_ok<T, E>(output: &Result<T, E>) -> bool {
    output.is_ok()
}

/// Success for any other return type: always invalidate.
pub fn always<R>(_: &R) -> bool {
    true
}

/// Deletes the targets; counts the keys deleted in `invalidated`.
async fn delete(cache: &Cache, targets: &Targets) {
    // Calls that start from now on must not join a flight that started before.
    cache
        .flights()
        .invalidated(&targets.keys, &targets.patterns, &targets.tags);
    let store = cache.store();
    let mut deleted = store.delete(&targets.keys).await;
    for pattern in &targets.patterns {
        deleted += store.delete_matching(pattern).await;
    }
    for tag in &targets.tags {
        deleted += store.delete_tagged(tag).await;
    }
    cache.counters().invalidated.fetch_add(deleted, Relaxed);
}
