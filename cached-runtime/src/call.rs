//! The call algorithm: what one cached call does, in phases that only call down.
//!
//! [`get_or_compute`] runs *lookup* → *follow* → *claim* (or *wait*) → *compute* → *store*.
//! Each phase either answers the call or hands the next one what it learned. The phases use
//! single-flight (`flight`), the lease protocol (`lease`) and the cache's tier (`tier`), and
//! count the call's outcome; failures below are absorbed and counted by `fail_open`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::Cache;
use crate::codec::{self, Entry};
use crate::flight::{Landed, Leader, Role};
use crate::invalidate;
use crate::lease::{self, Held, Permit, Seen, Stored, Waited};
use crate::random;
use crate::stats::Counters;
use crate::tier::{Read, Tier};
use crate::value::{Shape, ValueCodec};

/// The options of one `#[cache]` function, checked by the macro and built as a constant.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions {
    ttl: Duration,
    stale: Duration,
    jitter_percent: u8,
    fail_safe: bool,
    lock: bool,
}

impl CallOptions {
    /// Entries live `ttl_ms` milliseconds.
    pub const fn new(ttl_ms: u64) -> CallOptions {
        CallOptions {
            ttl: Duration::from_millis(ttl_ms),
            stale: Duration::ZERO,
            jitter_percent: 0,
            fail_safe: false,
            lock: false,
        }
    }

    /// `stale = ..`: after `ttl`, serve the old value for this long while one caller
    /// refreshes it.
    pub const fn stale(mut self, stale_ms: u64) -> CallOptions {
        self.stale = Duration::from_millis(stale_ms);
        self
    }

    /// `jitter = "N%"`: shorten each entry's TTL by a random amount up to N% of it.
    pub const fn jitter(mut self, percent: u8) -> CallOptions {
        self.jitter_percent = percent;
        self
    }

    /// `fail_safe = true`: a body error is answered with the stale value, if there is one.
    pub const fn fail_safe(mut self) -> CallOptions {
        self.fail_safe = true;
        self
    }

    /// `lock = true`: wait (bounded) for another process computing the same key.
    pub const fn lock(mut self) -> CallOptions {
        self.lock = true;
        self
    }

    /// This write's freshness period, jitter applied.
    pub(crate) fn fresh_for(&self) -> Duration {
        if self.jitter_percent == 0 {
            return self.ttl;
        }
        let ttl_ms = self.ttl.as_millis() as u64;
        let spread = ttl_ms / 100 * u64::from(self.jitter_percent)
            + ttl_ms % 100 * u64::from(self.jitter_percent) / 100;
        Duration::from_millis(ttl_ms - random::up_to(spread))
    }
}

/// Cache-aside, with the protections of `options`.
///
/// 0. While an invalidation is undelivered (`pending`), or caching is disabled, the cache is
///    bypassed.
/// 1. *Lookup*: read the key (and its tags' versions). A fresh value whose tags still have
///    the versions it was written with is returned (a hit).
/// 2. *Follow*: join the key's flight in this process. Followers get the leader's value (or,
///    holding a stale value, return it at once); the leader goes on.
/// 3. *Claim*: the leader claims the key (a lease for an absent key) and, with `lock = true`,
///    waits for another process's lease; it adds the key to its `tags` and reads their
///    versions, which the stored value carries.
/// 4. *Compute*: run the body.
/// 5. *Store*: store the value unless an invalidation came in between (the lease protocol),
///    then hand it to the followers (or, if the write was refused, let them run their own).
pub async fn get_or_compute<S, R>(
    cache: &Cache,
    key: String,
    tags: Vec<String>,
    options: CallOptions,
    codec: ValueCodec<S::Value>,
    body: impl Future<Output = R>,
) -> R
where
    S: Shape<R>,
{
    if cache.pending().holds_any() || cache.is_disabled() {
        // An undelivered invalidation may cover this key: serve nothing from the cache.
        invalidate::deliver_pending(cache);
        Counters::bump(&cache.counters().misses);
        return body.await;
    }
    let call = Call {
        cache,
        key: &key,
        tags: &tags,
        options,
        codec: &codec,
    };
    let (seen, stale, versions) = match call.lookup().await {
        Lookup::Fresh(value) => return S::from_cached(value),
        Lookup::Missed {
            seen,
            stale,
            versions,
        } => (seen, stale, versions),
    };
    let (leader, stale) = match call.follow(stale).await {
        Follow::Answered(value) => return S::from_cached(value),
        Follow::RunAlone => {
            Counters::bump(&cache.counters().misses);
            return body.await;
        }
        Follow::Lead(leader, stale) => (leader, stale),
    };
    let mut held = match call.claim(seen, &leader, &versions).await {
        Claim::Answered(value) => return S::from_cached(value),
        Claim::Held(held) => held,
    };
    let tag_versions = call.record_tags(&mut held).await;

    Counters::bump(&cache.counters().misses);
    let output = body.await;

    let cacheable = S::cacheable(&output);
    let failed = S::failed(&output);
    // Encoding costs about as much as a hit: skip it when nobody would read the bytes (no
    // followers, and nothing may be stored: Redis down, or another caller holds the lease).
    if let Some(value) = cacheable.filter(|_| leader.has_followers() || held.permit().may_store()) {
        if call.store(value, &tag_versions, &leader, &mut held).await {
            return output;
        }
    }
    leader.land(Landed::Nothing);
    lease::release(cache.store(), &key, held.take()).await;
    match stale {
        Some(value) if failed && options.fail_safe => {
            Counters::bump(&cache.counters().fail_safe);
            cache.fail_open().body_failed(&key);
            S::from_cached(value)
        }
        _ => output,
    }
}

/// One call's context, shared by its phases.
struct Call<'a, T> {
    cache: &'a Cache,
    key: &'a str,
    /// Tag keys of the entry.
    tags: &'a [String],
    options: CallOptions,
    codec: &'a ValueCodec<T>,
}

enum Lookup<T> {
    Fresh(T),
    /// What was seen at the key, the value if it was stale, and the tags' current versions
    /// (against which an entry found later in the call is checked).
    Missed {
        seen: Seen,
        stale: Option<T>,
        versions: Vec<Option<u64>>,
    },
}

enum Follow<'f, T> {
    /// Another caller in this process had the value (or a stale one to serve).
    Answered(T),
    /// The leader's output could not be shared: run the body without the cache.
    RunAlone,
    /// This caller leads the flight; the stale value, if any, is handed back.
    Lead(Leader<'f>, Option<T>),
}

enum Claim<'a, T> {
    /// The value appeared while claiming (another caller wrote it).
    Answered(T),
    Held(Held<'a>),
}

impl<'a, T> Call<'a, T> {
    /// Reads the key (and, for a tagged entry, its tags' versions, at the same time): a fresh
    /// value, or what the leader must know to claim it.
    async fn lookup(&self) -> Lookup<T> {
        let store = self.cache.store();
        let (read, versions) = if self.tags.is_empty() {
            (store.get(self.key).await, Ok(Vec::new()))
        } else {
            futures_util::future::join(store.get(self.key), store.tag_versions(self.tags)).await
        };
        let Ok(versions) = versions else {
            // An entry that cannot be checked is neither served nor replaced.
            return Lookup::Missed {
                seen: Seen::Unavailable,
                stale: None,
                versions: Vec::new(),
            };
        };
        let mut stale = None;
        let seen = match read {
            Read::Found(bytes) => match codec::parse(&bytes) {
                // A tag of this entry was invalidated since it was written: neither fresh
                // nor stale, just gone.
                Ok(Entry::Value { tag_versions, .. }) if !tag_versions.match_current(&versions) => {
                    Seen::Entry(bytes)
                }
                Ok(Entry::Value {
                    fresh_until_ms,
                    json,
                    ..
                }) => match self.codec.value_of(&bytes, json) {
                    Ok(value) if fresh_until_ms.is_none_or(|until| now_ms() < until) => {
                        Counters::bump(&self.cache.counters().hits);
                        return Lookup::Fresh(value);
                    }
                    Ok(value) => {
                        stale = Some(value);
                        Seen::Entry(bytes)
                    }
                    Err(error) => {
                        self.cache.fail_open().decode_failed(self.key, &error);
                        Seen::Entry(bytes)
                    }
                },
                Ok(Entry::Lease) => Seen::Lease,
                Err(error) => {
                    self.cache.fail_open().decode_failed(self.key, &error);
                    Seen::Entry(bytes)
                }
            },
            Read::Absent => Seen::Absent,
            Read::WrongType => Seen::WrongType,
            Read::Unavailable => Seen::Unavailable,
        };
        Lookup::Missed {
            seen,
            stale,
            versions,
        }
    }

    /// Joins the key's flight in this process.
    async fn follow(&self, stale: Option<T>) -> Follow<'a, T> {
        let counters = self.cache.counters();
        loop {
            let follower = match self.cache.flights().join(self.key, self.tags) {
                Role::Leader(leader) => return Follow::Lead(leader, stale),
                Role::Follower(follower) => follower,
            };
            if let Some(value) = stale {
                Counters::bump(&counters.hits);
                Counters::bump(&counters.stale_served);
                return Follow::Answered(value);
            }
            match follower.wait().await {
                Some(Landed::Value(bytes)) => {
                    // The leader's own value: checked against the tags when it was claimed.
                    if let Some(value) = self.decode(&bytes, None) {
                        Counters::bump(&counters.hits);
                        Counters::bump(&counters.coalesced);
                        return Follow::Answered(value);
                    }
                    return Follow::RunAlone;
                }
                // The leader's output was not cacheable: it cannot be shared (no `Clone`), so
                // this caller runs its own body, as it would have without the cache.
                Some(Landed::Nothing) => return Follow::RunAlone,
                // The leader was cancelled: elect a new one.
                None => {}
            }
        }
    }

    /// Claims the key for the leader; with `lock = true`, waits for another process's lease.
    async fn claim(
        &self,
        seen: Seen,
        leader: &Leader<'_>,
        versions: &[Option<u64>],
    ) -> Claim<'a, T> {
        let (store, key) = (self.cache.store(), self.key);
        let permit = lease::claim(store, key, seen, self.cache.lease_timeout()).await;
        let mut held = Held::new(store, key, permit);
        if matches!(held.permit(), Permit::Taken) {
            // Someone else wrote the key or holds its lease since our read: look once more.
            if let Read::Found(bytes) = store.get(key).await {
                if let Some(value) = self.answer_with(&bytes, versions, leader) {
                    return Claim::Answered(value);
                }
            }
        }
        if self.options.lock && matches!(held.permit(), Permit::Taken) {
            Counters::bump(&self.cache.counters().lock_waits);
            let waited = lease::wait_for_holder(
                store,
                key,
                self.cache.lock_wait(),
                self.cache.lease_timeout(),
            );
            match waited.await {
                Waited::Found(bytes) => match self.answer_with(&bytes, versions, leader) {
                    Some(value) => return Claim::Answered(value),
                    None => held.replace(Permit::Replace(bytes)),
                },
                Waited::Free(permit) => held.replace(permit),
                Waited::GaveUp => {}
            }
        }
        Claim::Held(held)
    }

    /// Adds the key to its tags before the body runs, and returns their versions for the
    /// entry. If that fails, the value must not be stored: the lease goes back at once,
    /// without waiting on a Redis that just failed.
    async fn record_tags(&self, held: &mut Held<'_>) -> Vec<u64> {
        if self.tags.is_empty() || !held.permit().may_store() {
            return Vec::new();
        }
        let lifetime = self.options.ttl.saturating_add(self.options.stale);
        let (store, lease_timeout) = (self.cache.store(), self.cache.lease_timeout());
        match lease::record_tags(store, self.key, self.tags, lifetime, lease_timeout).await {
            Some(versions) => versions,
            None => {
                held.release_in_background();
                Vec::new()
            }
        }
    }

    /// Encodes the value, stores it as the permit allows and hands it to the followers.
    /// Returns false if it could not be encoded, or is too large to cache.
    async fn store(
        &self,
        value: &T,
        tag_versions: &[u64],
        leader: &Leader<'_>,
        held: &mut Held<'_>,
    ) -> bool {
        let fresh_for = self.options.fresh_for();
        let header = codec::Header {
            fresh_until_ms: (!self.options.stale.is_zero())
                .then(|| now_ms().saturating_add(fresh_for.as_millis() as u64)),
            tag_versions,
        };
        let bytes: Arc<[u8]> = match self.codec.encode(value, &header) {
            Ok(bytes) if bytes.len() <= self.cache.max_value_bytes() => bytes.into(),
            Ok(bytes) => {
                Counters::bump(&self.cache.counters().too_large);
                let limit = self.cache.max_value_bytes();
                self.cache
                    .fail_open()
                    .too_large(self.key, bytes.len(), limit);
                return false;
            }
            Err(error) => {
                self.cache.fail_open().encode_failed(self.key, &error);
                return false;
            }
        };
        let kept = || self.codec.keep(value);
        let lifetime = fresh_for.saturating_add(self.options.stale);
        let counters = self.cache.counters();
        let store = self.cache.store();
        let stored = lease::store(store, self.key, held.take(), bytes.clone(), kept, lifetime);
        // Followers get the value only after the write's verdict: a refused write means an
        // invalidation came while the body ran, and a follower may have started after it
        // (here or in another process), so the value is not theirs to take.
        match stored.await {
            Stored::Written => {
                Counters::bump(&counters.writes);
                leader.land(Landed::Value(bytes));
            }
            Stored::Refused => {
                Counters::bump(&counters.writes_skipped);
                leader.land(Landed::Nothing);
            }
            // Nothing could be checked (Redis unavailable, another process's lease).
            Stored::NotAttempted => leader.land(Landed::Value(bytes)),
        }
        true
    }

    /// A value found while claiming: checked against the tags' `versions`, decoded, handed to
    /// the followers and returned.
    fn answer_with(
        &self,
        bytes: &[u8],
        versions: &[Option<u64>],
        leader: &Leader<'_>,
    ) -> Option<T> {
        let value = self.decode(bytes, Some(versions))?;
        leader.land(Landed::Value(Arc::from(bytes)));
        Counters::bump(&self.cache.counters().hits);
        Some(value)
    }

    /// Decodes a value, if its tags still have `versions` (when given).
    fn decode(&self, bytes: &[u8], versions: Option<&[Option<u64>]>) -> Option<T> {
        match codec::parse(bytes) {
            Ok(Entry::Value {
                json, tag_versions, ..
            }) if versions.is_none_or(|versions| tag_versions.match_current(versions)) => {
                self.codec.decode(json).ok()
            }
            _ => None,
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
