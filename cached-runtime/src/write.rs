//! Write-through: storing a value as an entry, so that the next read is a hit, in a way that
//! wins over the reads in flight. What `#[cache_put]` and [`Cache::set`] do.
//!
//! A write is a plain `SET` of the new entry. A read in flight stores its value only by
//! compare-and-set, over its own lease or over the exact bytes it saw (see `lease`); the write
//! replaced both, so that read's store is refused and no older value can land after the write.
//! In this process, calls that start after the write do not join a flight that started before
//! it. A write that cannot be made (Redis unreachable or skipped by the breaker, a tag that
//! cannot be recorded, a value too large or that does not encode) becomes an invalidation of
//! the key, delivered now or later (`pending`): the old value, which the write was to replace,
//! is not served either way.

use std::future::Future;
use std::sync::Arc;

use crate::backend::Kept;
use crate::cache::Cache;
use crate::call::{CallOptions, now_ms};
use crate::codec::{self, Header};
use crate::entry::EntryRef;
use crate::invalidate::{self, Targets};
use crate::lease;
use crate::stats::Counters;
use crate::tier::Tier;
use crate::value::{Shape, ValueCodec};

/// Where a write goes: the entry's key (prefixed), its tag keys, and the options of the
/// function that reads it (its TTL, stale period and jitter).
#[derive(Debug)]
pub(crate) struct Destination {
    pub(crate) key: String,
    pub(crate) tags: Vec<String>,
    pub(crate) options: CallOptions,
}

/// Runs `body`; then stores the value its output holds as `entry` (`#[cache_put]`). An output
/// with no value to store that is not a failure (`None`, `Ok(None)`) invalidates the entry
/// instead: there is nothing to serve for it any more. A failure (`Err`) changes nothing.
pub async fn put_after<S, R>(
    entry: EntryRef<S::Value>,
    codec: ValueCodec<S::Value>,
    body: impl Future<Output = R>,
) -> R
where
    S: Shape<R>,
{
    let output = body.await;
    match S::cacheable(&output) {
        Some(value) => {
            write(&entry.cache, entry.to, &codec, value).await;
        }
        None if !S::is_err(&output) => forget(&entry.cache, entry.to.key).await,
        None => {}
    }
    output
}

/// Stores `value` at the destination; returns whether it was stored. Finishes even if the
/// caller is dropped meanwhile (the change it records has been made), and returns after the
/// write, so the caller reads its own write.
pub(crate) async fn write<T>(
    cache: &Cache,
    to: Destination,
    codec: &ValueCodec<T>,
    value: &T,
) -> bool {
    if cache.is_disabled() {
        return false;
    }
    // Encoded here, while `value` is borrowed; the header, which needs the tags' versions,
    // is put on in the task.
    let plain = match codec.encode(value, &Header::default()) {
        Ok(bytes) if bytes.len() <= cache.max_value_bytes() => bytes,
        Ok(bytes) => {
            Counters::bump(&cache.counters().too_large);
            let limit = cache.max_value_bytes();
            cache.fail_open().too_large(&to.key, bytes.len(), limit);
            forget(cache, to.key).await;
            return false;
        }
        Err(error) => {
            cache.fail_open().encode_failed(&to.key, &error);
            forget(cache, to.key).await;
            return false;
        }
    };
    let kept = codec.keep(value);
    let cache = cache.clone();
    let writing = tokio::spawn(async move { store(&cache, to, &plain, kept).await });
    writing.await.unwrap_or(false)
}

/// Records the tags, then `SET`s the entry; on failure, invalidates the key instead.
async fn store(cache: &Cache, to: Destination, plain: &[u8], kept: Option<Kept>) -> bool {
    // Calls that start from now on must not join a flight that started before this write.
    cache
        .flights()
        .invalidated(std::slice::from_ref(&to.key), &[], &[]);
    let options = &to.options;
    let fresh_for = options.fresh_for();
    let lifetime = fresh_for.saturating_add(options.stale_period());
    let (store, lease_timeout) = (cache.store(), cache.lease_timeout());
    let tag_versions = if to.tags.is_empty() {
        Vec::new()
    } else {
        match lease::record_tags(store, &to.key, &to.tags, lifetime, lease_timeout).await {
            Some(versions) => versions,
            None => {
                forget(cache, to.key).await;
                return false;
            }
        }
    };
    let header = Header {
        fresh_until_ms: (!options.stale_period().is_zero())
            .then(|| now_ms().saturating_add(fresh_for.as_millis() as u64)),
        tag_versions: &tag_versions,
    };
    let bytes: Arc<[u8]> = if header.fresh_until_ms.is_none() && tag_versions.is_empty() {
        plain.into()
    } else {
        codec::with_header(plain, &header).into()
    };
    match store.set(&to.key, bytes, kept, lifetime).await {
        Ok(()) => {
            Counters::bump(&cache.counters().writes);
            true
        }
        Err(_) => {
            forget(cache, to.key).await;
            false
        }
    }
}

/// The write could not be made: the key's old value must go all the same.
async fn forget(cache: &Cache, key: String) {
    invalidate::invalidate_now(cache, Targets::key(key)).await;
}
