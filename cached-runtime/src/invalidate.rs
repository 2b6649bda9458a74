//! Invalidation: what an `#[invalidate]` call deletes, and how.
//!
//! After the body succeeds, the exact keys, every key matching each pattern (an incremental
//! `SCAN` + `UNLINK` walk on every master, inside the cache's prefix) and every key carrying
//! each tag are deleted through the cache's tier. Deleting also removes the leases of calls
//! in flight, which then do not store their possibly older values (see `lease`), and ends
//! this process's flights for joining, so a call that starts after the invalidation computes
//! afresh. An invalidation that cannot be delivered is kept and delivered later (`pending`).

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;

use crate::cache::Cache;
use crate::entry::EntryRef;
use crate::pending;
use crate::tier::{Target, Tier};

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

impl Targets {
    /// One exact key.
    pub(crate) fn key(key: String) -> Targets {
        Targets {
            keys: vec![key],
            ..Targets::default()
        }
    }
}

/// Runs `body`; if `succeeded` says its output is a success, deletes the `targets` from
/// `cache` (`None` when there are none) and each of `entries` from its own cache.
pub async fn invalidate_after<R>(
    own: Option<(&Cache, Targets)>,
    entries: Vec<EntryRef<()>>,
    succeeded: fn(&R) -> bool,
    body: impl Future<Output = R>,
) -> R {
    let output = body.await;
    if !succeeded(&output) {
        return output;
    }
    if let Some((cache, targets)) = own {
        invalidate_now(cache, targets).await;
    }
    for entry in entries {
        invalidate_now(&entry.cache, Targets::key(entry.to.key)).await;
    }
    output
}

/// Deletes the targets now; what cannot be deleted now is delivered later.
///
/// In a task of its own: the change the invalidation records has been made, so it must
/// finish even if the caller is dropped meanwhile. The caller still waits for it, to read
/// its own writes.
pub(crate) async fn invalidate_now(cache: &Cache, targets: Targets) {
    // A disabled cache holds nothing to delete.
    if cache.is_disabled() {
        return;
    }
    let cache = cache.clone();
    let deletion = tokio::spawn(async move { delete(&cache, targets).await });
    let _ = deletion.await;
}

/// Success for a function returning `Result`: invalidate only after `Ok`.
pub fn is_ok<T, E>(output: &Result<T, E>) -> bool {
    output.is_ok()
}

/// Success for any other return type: always invalidate.
pub fn always<R>(_: &R) -> bool {
    true
}

/// Deletes the targets. What cannot be deleted now is kept and delivered later (see
/// `pending`).
async fn delete(cache: &Cache, targets: Targets) {
    // Values kept during an outage predate this change.
    if let Some(fallback) = cache.fallback() {
        fallback.clear();
    }
    // Calls that start from now on must not join a flight that started before.
    cache
        .flights()
        .invalidated(&targets.keys, &targets.patterns, &targets.tags);
    let Targets {
        keys,
        patterns,
        tags,
    } = targets;
    let all = std::iter::once(Target::Keys(keys))
        .chain(patterns.into_iter().map(Target::Pattern))
        .chain(tags.into_iter().map(Target::Tag));
    let mut kept = 0;
    for target in all {
        if let Err(left) = delete_now(cache, target).await {
            kept += keep(cache, left);
        }
    }
    if kept > 0 {
        cache.fail_open().invalidation_kept(kept);
        deliver_pending(cache);
    }
}

/// Deletes one target and counts the keys that went in `invalidated`; returns what is left
/// when the store failed part way.
async fn delete_now(cache: &Cache, target: Target) -> Result<(), Target> {
    let deleted = cache.store().delete(target).await?;
    cache.counters().invalidated.fetch_add(deleted, Relaxed);
    Ok(())
}

/// Keeps an undelivered target; returns how many keys, patterns or tags it held.
fn keep(cache: &Cache, target: Target) -> u64 {
    let size = target.size();
    if cache.pending().keep(target) {
        return size;
    }
    cache.fail_open().invalidation_lost(size, pending::BOUND);
    0
}

/// Makes sure a task delivers what is pending, on the current Tokio runtime. Called by every
/// call that finds something pending, so delivery resumes if its runtime ended.
pub(crate) fn deliver_pending(cache: &Cache) {
    let pending = cache.pending();
    if !pending.holds_any() || !pending.start_delivery() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        pending.stop_delivery();
        return;
    };
    let mut delivery = Delivery {
        cache: cache.clone(),
        running: true,
    };
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(pending::RETRY).await;
            delivery.attempt().await;
            if delivery.done() {
                return;
            }
        }
    });
}

/// The delivery task. Dropped while running (its runtime ended), it lets another start.
struct Delivery {
    cache: Cache,
    running: bool,
}

impl Delivery {
    async fn attempt(&self) {
        let cache = &self.cache;
        let pending = cache.pending();
        for target in pending.take() {
            let size = target.size();
            match delete_now(cache, target).await {
                Ok(()) => pending.delivered(size),
                Err(left) => pending.failed(size, left),
            }
        }
        if !pending.holds_any() {
            tracing::info!(target: "redcache", "pending invalidations delivered; serving from the cache again");
        }
    }

    /// Whether the task may end: nothing pending (checked again after stopping, so that
    /// something kept meanwhile is never left without a task).
    fn done(&mut self) -> bool {
        let pending = self.cache.pending();
        if pending.holds_any() {
            return false;
        }
        pending.stop_delivery();
        self.running = pending.holds_any() && pending.start_delivery();
        !self.running
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.running {
            self.cache.pending().stop_delivery();
        }
    }
}
