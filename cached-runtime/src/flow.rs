//! What a cached call and an invalidating call do, step by step. The macros expand into calls
//! to these two functions.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::backend::Copy;
use crate::cache::{Cache, Permit, Read, Seen, Waited};
use crate::codec::{self, Entry};
use crate::policy::flight::{Landed, Role};
use crate::random;
use crate::stats::Counters;

/// A value that can be cached: `Serialize + DeserializeOwned`.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` must implement `Serialize` and `DeserializeOwned`",
    label = "cached values are stored as JSON",
    note = "derive them with `#[derive(serde::Serialize, serde::Deserialize)]`; for `Result<T, E>` only `T` is cached, for `Option<T>` only `T`"
)]
pub trait CacheValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// How a cached value becomes bytes and back. Made where the macro names the cached type, so
/// a type that is not `Serialize + DeserializeOwned` is reported on the user's return type
/// and nowhere else.
pub struct Codec<T> {
    encode: fn(&T, Option<u64>) -> serde_json::Result<Vec<u8>>,
    decode: fn(&[u8]) -> Result<T, codec::DecodeError>,
    copies: Option<Copies<T>>,
}

/// The JSON codec for `T`.
#[inline]
pub fn json_codec<T: CacheValue>() -> Codec<T> {
    Codec {
        encode: codec::encode::<T>,
        decode: codec::decode_json::<T>,
        copies: None,
    }
}

impl<T> Codec<T> {
    /// Lets the memory store keep values as themselves (see [`Copies`]).
    #[inline]
    pub fn with_copies(mut self, copies: Option<Copies<T>>) -> Self {
        self.copies = copies;
        self
    }

    /// The value a memory-store entry kept as itself, cloned.
    fn take_copy(&self, copy: &(dyn Any + Send + Sync)) -> Option<T> {
        (self.copies.as_ref()?.take)(copy)
    }

    fn keep_copy(&self, value: &T) -> Option<Copy> {
        Some((self.copies.as_ref()?.keep)(value))
    }
}

/// For `Clone` value types: the memory store keeps the value itself next to its JSON and a
/// hit returns a clone, which is several times cheaper than decoding. The macro picks this
/// with [`Probe`] when the type is `Clone`; any other type is decoded from JSON as on Redis.
pub struct Copies<T> {
    keep: fn(&T) -> Copy,
    take: fn(&(dyn Any + Send + Sync)) -> Option<T>,
}

impl<T> std::fmt::Debug for Copies<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Copies")
    }
}

/// Chooses [`Copies`] for `Clone` types at compile time: in `(&Probe::<T>::new()).copies()`,
/// method lookup first tries receivers of type `&Probe<T>`, which [`ViaClone`] (implemented for
/// `Probe<T>` when `T: Clone + Send + Sync + 'static`) provides; only if that does not apply
/// does it auto-ref to `&&Probe<T>` and find [`NotClone`] (implemented for `&Probe<T>`).
#[derive(Debug)]
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    #[inline]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The [`Probe`] method for `Clone` types.
pub trait ViaClone<T> {
    /// In-process copies of `T`.
    fn copies(&self) -> Option<Copies<T>>;
}

impl<T: Clone + Send + Sync + 'static> ViaClone<T> for Probe<T> {
    #[inline]
    fn copies(&self) -> Option<Copies<T>> {
        Some(Copies {
            keep: |value| Arc::new(value.clone()),
            take: |copy| copy.downcast_ref::<T>().cloned(),
        })
    }
}

/// The [`Probe`] method for every other type.
pub trait NotClone<T> {
    /// No in-process copies: decode JSON.
    fn copies(&self) -> Option<Copies<T>>;
}

impl<T> NotClone<T> for &Probe<T> {
    #[inline]
    fn copies(&self) -> Option<Copies<T>> {
        None
    }
}

impl<T> std::fmt::Debug for Codec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codec")
    }
}

/// Which part of a function's output is cached, chosen by the macro from the return type.
pub trait Shape<R> {
    /// The part that is stored.
    type Value;
    /// The part of `output` to store, if this output is to be stored.
    fn cacheable(output: &R) -> Option<&Self::Value>;
    /// Rebuilds an output from a stored value.
    fn from_cached(value: Self::Value) -> R;
}

/// Any type, cached as is (also `Option<T>` with `cache_none = true`).
#[derive(Debug)]
pub enum Whole {}

impl<T> Shape<T> for Whole {
    type Value = T;
    fn cacheable(output: &T) -> Option<&T> {
        Some(output)
    }
    fn from_cached(value: T) -> T {
        value
    }
}

/// `Result<T, E>`: only `Ok(T)` is cached.
#[derive(Debug)]
pub enum OkOnly {}

impl<T, E> Shape<Result<T, E>> for OkOnly {
    type Value = T;
    fn cacheable(output: &Result<T, E>) -> Option<&T> {
        output.as_ref().ok()
    }
    fn from_cached(value: T) -> Result<T, E> {
        Ok(value)
    }
}

/// `Option<T>`: only `Some(T)` is cached.
#[derive(Debug)]
pub enum SomeOnly {}

impl<T> Shape<Option<T>> for SomeOnly {
    type Value = T;
    fn cacheable(output: &Option<T>) -> Option<&T> {
        output.as_ref()
    }
    fn from_cached(value: T) -> Option<T> {
        Some(value)
    }
}

/// The options of one `#[cache]` function, checked by the macro and built as a constant.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    ttl: Duration,
    stale: Duration,
    jitter_percent: u8,
    fail_safe: bool,
    lock: bool,
}

impl Policy {
    /// Entries live `ttl_ms` milliseconds.
    pub const fn new(ttl_ms: u64) -> Policy {
        Policy {
            ttl: Duration::from_millis(ttl_ms),
            stale: Duration::ZERO,
            jitter_percent: 0,
            fail_safe: false,
            lock: false,
        }
    }

    /// `stale = ..`: after `ttl`, serve the old value for this long while one caller
    /// refreshes it.
    pub const fn stale(mut self, stale_ms: u64) -> Policy {
        self.stale = Duration::from_millis(stale_ms);
        self
    }

    /// `jitter = "N%"`: shorten each entry's TTL by a random amount up to N% of it.
    pub const fn jitter(mut self, percent: u8) -> Policy {
        self.jitter_percent = percent;
        self
    }

    /// `fail_safe = true`: a body error is answered with the stale value, if there is one.
    pub const fn fail_safe(mut self) -> Policy {
        self.fail_safe = true;
        self
    }

    /// `lock = true`: wait (bounded) for another process computing the same key.
    pub const fn lock(mut self) -> Policy {
        self.lock = true;
        self
    }

    /// This write's freshness period, jitter applied.
    fn fresh_for(&self) -> Duration {
        if self.jitter_percent == 0 {
            return self.ttl;
        }
        let ttl_ms = self.ttl.as_millis() as u64;
        let spread = ttl_ms / 100 * u64::from(self.jitter_percent)
            + ttl_ms % 100 * u64::from(self.jitter_percent) / 100;
        Duration::from_millis(ttl_ms - random::up_to(spread))
    }
}

/// Cache-aside, with the protections of the options in `policy`.
///
/// 1. Read the key. A fresh value is returned (a hit).
/// 2. Otherwise join the key's flight in this process: followers get the leader's value
///    (or, if they hold a stale value, return it at once); the leader goes on.
/// 3. The leader claims the key (a lease for an absent key), waits for another process's
///    lease with `lock = true`, adds the key to its `tags`, runs the body, hands the value to
///    its followers, and stores it unless an invalidation came in between.
pub async fn get_or_compute<S, R>(
    cache: &Cache,
    key: String,
    tags: Vec<String>,
    policy: Policy,
    codec: Codec<S::Value>,
    body: impl Future<Output = R>,
) -> R
where
    S: Shape<R>,
{
    let counters = cache.counters();
    let mut stale = None;
    let seen = match cache.read(&key).await {
        Read::Found(bytes) => match codec::parse(&bytes) {
            Ok(Entry::Value {
                fresh_until_ms,
                json,
            }) => match bytes
                .copy()
                .and_then(|copy| codec.take_copy(copy))
                .map_or_else(|| (codec.decode)(json), Ok)
            {
                Ok(value) if fresh_until_ms.is_none_or(|until| now_ms() < until) => {
                    Counters::bump(&counters.hits);
                    return S::from_cached(value);
                }
                Ok(value) => {
                    stale = Some(value);
                    Seen::Entry(bytes)
                }
                Err(error) => {
                    cache.log_decode_failure(&key, &error);
                    Seen::Entry(bytes)
                }
            },
            Ok(Entry::Lease) => Seen::Lease,
            Err(error) => {
                cache.log_decode_failure(&key, &error);
                Seen::Entry(bytes)
            }
        },
        Read::Absent => Seen::Absent,
        Read::WrongType => Seen::WrongType,
        Read::Unavailable => Seen::Unavailable,
    };

    let leader = loop {
        let follower = match cache.flights().join(&key) {
            Role::Leader(leader) => break leader,
            Role::Follower(follower) => follower,
        };
        if let Some(value) = stale {
            Counters::bump(&counters.hits);
            Counters::bump(&counters.stale_served);
            return S::from_cached(value);
        }
        match follower.wait().await {
            Some(Landed::Value(bytes)) => {
                if let Some(value) = decode_value(&codec, &bytes) {
                    Counters::bump(&counters.hits);
                    Counters::bump(&counters.coalesced);
                    return S::from_cached(value);
                }
            }
            // The leader's output was not cacheable: it cannot be shared (no `Clone`), so
            // this caller runs its own body, as it would have without the cache.
            Some(Landed::Nothing) => {}
            // The leader was cancelled: elect a new one.
            None => continue,
        }
        Counters::bump(&counters.misses);
        return body.await;
    };

    let mut held = Held {
        cache,
        key: &key,
        permit: Some(cache.claim(&key, seen).await),
    };
    if matches!(held.permit(), Permit::Taken) {
        // Someone else wrote the key or holds its lease since our read: look once more.
        if let Read::Found(bytes) = cache.read(&key).await {
            if let Some(value) = decode_value(&codec, &bytes) {
                leader.land(Landed::Value(Arc::from(&*bytes)));
                Counters::bump(&counters.hits);
                return S::from_cached(value);
            }
        }
    }
    if policy.lock && matches!(held.permit(), Permit::Taken) {
        Counters::bump(&counters.lock_waits);
        match cache.wait_for_lease_holder(&key).await {
            Waited::Found(bytes) => match decode_value(&codec, &bytes) {
                Some(value) => {
                    leader.land(Landed::Value(Arc::from(&*bytes)));
                    Counters::bump(&counters.hits);
                    return S::from_cached(value);
                }
                None => held.permit = Some(Permit::Replace(bytes)),
            },
            Waited::Free(claimed) => held.permit = Some(claimed),
            Waited::GaveUp => {}
        }
    }

    if !tags.is_empty()
        && held.permit().may_store()
        && !cache.tag(&key, &tags, policy.ttl + policy.stale).await
    {
        // Not storing after all; give the lease back without making this caller wait on a
        // Redis that just failed.
        held.release_in_background();
    }

    Counters::bump(&counters.misses);
    let output = body.await;
    let cacheable = S::cacheable(&output);
    let failed = cacheable.is_none();
    // Encoding costs about as much as a hit: skip it when nobody would read the bytes (no
    // followers, and nothing may be stored: Redis down, or another caller holds the lease).
    if let Some(value) = cacheable.filter(|_| leader.has_followers() || held.permit().may_store()) {
        let fresh_for = policy.fresh_for();
        let fresh_until = (!policy.stale.is_zero())
            .then(|| now_ms().saturating_add(fresh_for.as_millis() as u64));
        match (codec.encode)(value, fresh_until) {
            Ok(bytes) => {
                let bytes: Arc<[u8]> = bytes.into();
                // Followers need not wait for the write.
                leader.land(Landed::Value(bytes.clone()));
                let copy = || codec.keep_copy(value);
                let lifetime = fresh_for.saturating_add(policy.stale);
                cache.store(&key, held.take(), bytes, copy, lifetime).await;
                return output;
            }
            Err(error) => cache.log_encode_failure(&key, &error),
        }
    }
    leader.land(Landed::Nothing);
    cache.release(&key, held.take()).await;
    match stale {
        Some(value) if failed && policy.fail_safe => {
            Counters::bump(&counters.fail_safe);
            cache.log_fail_safe(&key);
            S::from_cached(value)
        }
        _ => output,
    }
}

/// The leader's permit. If the call is dropped (cancelled) or panics while it still holds a
/// lease, the lease is released in the background; otherwise no caller could cache the key
/// until the lease timed out.
struct Held<'a> {
    cache: &'a Cache,
    key: &'a str,
    permit: Option<Permit>,
}

impl Held<'_> {
    fn permit(&self) -> &Permit {
        self.permit.as_ref().unwrap_or(&Permit::Nothing)
    }

    fn take(&mut self) -> Permit {
        self.permit.take().unwrap_or(Permit::Nothing)
    }

    fn release_in_background(&mut self) {
        if let Permit::Lease(lease) = self.take() {
            self.cache.release_in_background(self.key, lease);
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.release_in_background();
    }
}

/// Decodes bytes a leader landed or a lock holder stored.
fn decode_value<T>(codec: &Codec<T>, bytes: &[u8]) -> Option<T> {
    match codec::parse(bytes) {
        Ok(Entry::Value { json, .. }) => (codec.decode)(json).ok(),
        _ => None,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// What an invalidation deletes, rendered by the macro (prefixed and encoded) before the
/// body consumes the arguments.
#[derive(Debug, Default)]
pub struct Targets {
    /// Exact keys.
    pub keys: Vec<String>,
    /// Glob patterns.
    pub patterns: Vec<String>,
    /// Tag keys (from `Cache::tag_writer`).
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
        let deletion = tokio::spawn(async move {
            cache
                .delete(&targets.keys, &targets.patterns, &targets.tags)
                .await;
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    struct NoClone;

    #[test]
    #[allow(
        clippy::needless_borrow,
        reason = "the borrow selects the impl: see `Probe`"
    )]
    fn probe_picks_copies_for_clone_types_only() {
        assert!((&Probe::<u64>::new()).copies().is_some());
        assert!((&Probe::<String>::new()).copies().is_some());
        assert!((&Probe::<NoClone>::new()).copies().is_none());
    }
}
