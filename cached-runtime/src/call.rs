//! The call algorithm: what one cached call does, in phases that only call down.
//!
//! [`get_or_compute`] runs *lookup* → *follow* → *claim* (or *wait*) → *compute* → *store*.
//! Each phase either answers the call or hands the next one what it learned. The phases use
//! single-flight (`flight`), the lease protocol (`lease`) and the cache's tier (`tier`), and
//! count the call's outcome; failures below are absorbed and counted by `fail_open`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::Bytes;
use crate::cache::Cache;
use crate::codec::{self, Entry};
use crate::fail_open::Failure;
use crate::flight::{Landed, Leader, Role};
use crate::invalidate;
use crate::key::KeyWriter;
use crate::lease::{self, Held, Permit, Seen, Stored, Waited};
use crate::near::{Near, Token};
use crate::random;
use crate::stats::{CallSite, Tally};
use crate::telemetry::{self, Outcome};
use crate::tier::{Read, Store, Tier};
use crate::value::{Shape, ValueCodec};
use futures_util::future::Either;
use tracing::Instrument;

/// The options of one `#[cache]` function, checked by the macro and built as a constant.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions {
    ttl: Duration,
    stale: Duration,
    jitter_percent: u8,
    fail_safe: bool,
    lock: bool,
    /// The function, for its own counters; `None` counts in the cache's totals only.
    pub(crate) site: Option<&'static CallSite>,
    pub(crate) near: bool,
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
            site: None,
            near: true,
        }
    }

    /// Entries live `ttl`, without the options only `#[cache]` has: for the programmatic API.
    pub(crate) fn with_ttl(ttl: Duration) -> CallOptions {
        CallOptions::new(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
    }

    /// The cached function, whose outcomes [`Cache::function_stats`] counts apart.
    pub const fn function(mut self, site: &'static CallSite) -> CallOptions {
        self.site = Some(site);
        self
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

    /// How long a value may be served stale after its TTL.
    pub(crate) fn stale_period(&self) -> Duration {
        self.stale
    }

    /// The function's path; empty if the options name none.
    #[inline]
    pub(crate) fn function_name(&self) -> &'static str {
        self.site.map_or("", CallSite::name)
    }

    /// `near = false`: never serve or keep this function's entries in the near cache.
    pub const fn no_near(mut self) -> CallOptions {
        self.near = false;
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
///    bypassed. A fresh copy held in this process (the memory store, or the near cache if
///    armed) is a hit with no I/O, answered before the call's future is even built.
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
///
/// Each call has a span (see `telemetry`) that records how it was answered; the body runs in
/// it. Only the body is instrumented, when it runs: wrapping the whole call would copy its
/// (large) future on every call, hits included.
#[inline(always)]
pub fn get_or_compute<S, R>(
    cache: &Cache,
    key: KeyWriter,
    tags: Vec<String>,
    options: CallOptions,
    codec: ValueCodec<S::Value>,
    body: impl Future<Output = R>,
) -> impl Future<Output = R>
where
    S: Shape<R>,
{
    // Synchronous, and ahead of the rest: an in-process hit neither builds nor moves the
    // call's future. That future is large (every phase's state), so the rest of the call
    // is boxed: one allocation on a call that goes on to Redis or runs its body, and every
    // caller's own future stays small.
    match in_process_hit(cache, key.as_str(), &tags, &options, &codec) {
        Ok(value) => Either::Left(std::future::ready(S::from_cached(value))),
        Err(read) => Either::Right(Box::pin(compute::<S, R>(
            cache, key, tags, options, codec, body, read,
        ))),
    }
}

/// A fresh copy of `key` held in this process, counted as a hit: from the near cache in
/// front of Redis, or from the memory store; for calls without tags only (a tagged entry is
/// served only once its tags' versions are read). Otherwise everything is left to
/// [`compute`], with what the memory store held, if it was read (so a miss reads it once):
/// it also does what a copy that cannot be used calls for (bypass, logging an undecodable
/// entry), so nothing here has side effects but a hit's. Always inlined: it is the whole of
/// an in-process hit, and a call to it (made when several functions share a value type)
/// costs a tenth of one.
#[inline(always)]
fn in_process_hit<T>(
    cache: &Cache,
    key: &str,
    tags: &[String],
    options: &CallOptions,
    codec: &ValueCodec<T>,
) -> Result<T, Option<Read>> {
    if !tags.is_empty() || cache.pending().holds_any() || cache.is_disabled() {
        return Err(None);
    }
    let tally = cache.tally(options.site);
    let (value, outcome) = if let Some(near) = usable_near(cache, options, tags) {
        (
            near_hit(tally, near, key, codec).ok_or(None)?,
            Outcome::NearHit,
        )
    } else if let Store::Memory(memory) = cache.store() {
        let read = memory.read(key, |entry| {
            let kept = entry.kept.as_deref();
            fresh_copy(codec, &entry.bytes, kept, entry.plain).ok_or_else(|| Arc::clone(entry))
        });
        let value = match read {
            Some(Ok(value)) => value,
            Some(Err(entry)) => return Err(Some(Read::Found(Bytes::Local(entry)))),
            None => return Err(Some(Read::Absent)),
        };
        tally.hit();
        (value, Outcome::Hit)
    } else {
        return Err(None);
    };
    let function = options.function_name();
    telemetry::call_ended(&telemetry::call_span(function, key), function, outcome);
    Ok(value)
}

/// The call past its in-process copy: phases 1 to 5 of [`get_or_compute`]. `read` is what
/// the memory store held at the key when `in_process_hit` looked, if it did.
async fn compute<S, R>(
    cache: &Cache,
    key: KeyWriter,
    tags: Vec<String>,
    options: CallOptions,
    codec: ValueCodec<S::Value>,
    body: impl Future<Output = R>,
    read: Option<Read>,
) -> R
where
    S: Shape<R>,
{
    let function = options.function_name();
    let span = telemetry::call_span(function, key.as_str());
    let end = |output, outcome| {
        telemetry::call_ended(&span, function, outcome);
        output
    };
    let tally = cache.tally(options.site);
    if bypassed(cache, tally, 1) {
        return end(body.instrument(span.clone()).await, Outcome::Bypassed);
    }
    // Built on the stack (see `KeyWriter`): a hit allocates nothing for its key.
    let key = key.as_str();
    // The near cache was tried by `in_process_hit`; a miss there reads Redis for it.
    let near = usable_near(cache, &options, &tags);
    // The outage this call may see, taken before it reads (see `fallback`).
    let outage = cache.fail_open().recoveries();
    let call = Call {
        cache,
        key,
        tags: &tags,
        options,
        codec: &codec,
        tally,
        near: near.map(|near| &**near),
    };
    let (seen, stale, versions) = match call.lookup(read).await {
        Lookup::Fresh(value) => return end(S::from_cached(value), Outcome::Hit),
        Lookup::Missed {
            seen,
            stale,
            versions,
        } => (seen, stale, versions),
    };
    let unreachable = matches!(seen, Seen::Unavailable) && !cache.fail_open().reachable();
    if unreachable {
        if let Some(value) = call.served_by_fallback(outage) {
            return end(S::from_cached(value), Outcome::Hit);
        }
    }
    let (leader, stale) = match call.follow(stale).await {
        Follow::Answered(value, outcome) => return end(S::from_cached(value), outcome),
        Follow::RunAlone => {
            tally.bump(|c| &c.misses);
            return end(body.instrument(span.clone()).await, Outcome::Miss);
        }
        Follow::Lead(leader, stale) => (leader, stale),
    };
    let mut held = match call.claim(seen, &leader, &versions).await {
        Claim::Answered(value) => return end(S::from_cached(value), Outcome::Hit),
        Claim::Held(held) => held,
    };
    let tag_versions = call.record_tags(&mut held).await;

    tally.bump(|c| &c.misses);
    let output = body.instrument(span.clone()).await;

    let cacheable = S::cacheable(&output);
    let failed = S::failed(&output);
    if let Some(value) = cacheable.filter(|_| unreachable) {
        call.keep_in_fallback(value, outage);
    }
    // Encoding costs about as much as a hit: skip it when nobody would read the bytes (no
    // followers, and nothing may be stored: Redis down, or another caller holds the lease).
    if let Some(value) = cacheable.filter(|_| leader.has_followers() || held.permit().may_store()) {
        if call.store(value, &tag_versions, &leader, &mut held).await {
            return end(output, Outcome::Miss);
        }
    }
    leader.land(Landed::Nothing);
    lease::release(cache.store(), key, held.take()).await;
    match stale {
        Some(value) if failed && options.fail_safe => {
            tally.bump(|c| &c.fail_safe);
            cache.fail_open().body_failed(key);
            end(S::from_cached(value), Outcome::FailSafe)
        }
        _ => end(output, Outcome::Miss),
    }
}

/// The lookup phase alone: a fresh value at `key` (already prefixed), or `None`, counted as
/// a hit or a miss. What the programmatic `Cache::get` does. An entry written with tags is a
/// miss here: without its tags, their versions cannot be checked.
pub(crate) async fn get_fresh<T>(cache: &Cache, key: &str, codec: &ValueCodec<T>) -> Option<T> {
    let tally = cache.tally(None);
    if bypassed(cache, tally, 1) {
        return None;
    }
    let near = cache.store().near();
    if let Some(value) = near.and_then(|near| near_hit(tally, near, key, codec)) {
        return Some(value);
    }
    let call = Call {
        cache,
        key,
        tags: &[],
        // Read by the later phases only.
        options: CallOptions::new(0),
        codec,
        tally,
        // An entry written with tags is a miss here, so never fills the near cache.
        near: near.map(|near| &**near),
    };
    match call.lookup(None).await {
        Lookup::Fresh(value) => Some(value),
        Lookup::Missed { .. } => {
            call.tally.bump(|c| &c.misses);
            None
        }
    }
}

/// The near cache a call may use: the cache's, unless the function says `near = false` or
/// the entry has tags (their versions come from Redis on every hit: tagged entries are
/// never in L1).
#[inline]
pub(crate) fn usable_near<'c>(
    cache: &'c Cache,
    options: &CallOptions,
    tags: &[String],
) -> Option<&'c Arc<Near>> {
    cache
        .store()
        .near()
        .filter(|_| options.near && tags.is_empty())
}

/// A fresh copy of `key` in the near cache (whose supervising task this makes sure runs),
/// counted as a near hit.
#[inline]
pub(crate) fn near_hit<T>(
    tally: Tally<'_>,
    near: &Arc<Near>,
    key: &str,
    codec: &ValueCodec<T>,
) -> Option<T> {
    near.supervise();
    let value = near.read(key, |copy| {
        fresh_copy(codec, copy.bytes(), copy.kept(), copy.plain())
    })?;
    // Counted in `hits` too, when the snapshot is taken (one contended counter less on a hot
    // key).
    tally.near_hit();
    Some(value)
}

/// Whether the cache is to be bypassed (counted in `tally` as `misses` misses): caching is
/// disabled, or an undelivered invalidation may cover any key, so nothing may be served from
/// the cache.
pub(crate) fn bypassed(cache: &Cache, tally: Tally<'_>, misses: u64) -> bool {
    if !cache.pending().holds_any() && !cache.is_disabled() {
        return false;
    }
    invalidate::deliver_pending(cache);
    tally.add(|c| &c.misses, misses);
    true
}

/// One call's context, shared by its phases (also one element's, in a batch: see `batch`).
pub(crate) struct Call<'a, T> {
    pub(crate) cache: &'a Cache,
    pub(crate) key: &'a str,
    /// Tag keys of the entry.
    pub(crate) tags: &'a [String],
    pub(crate) options: CallOptions,
    pub(crate) codec: &'a ValueCodec<T>,
    /// The cache's counters and the function's.
    pub(crate) tally: Tally<'a>,
    /// The near cache, if this call may use it.
    pub(crate) near: Option<&'a Near>,
}

pub(crate) enum Lookup<T> {
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
    /// Another caller in this process had the value (`Coalesced`), or this caller a stale one
    /// to serve (`Stale`).
    Answered(T, Outcome),
    /// The leader's output could not be shared: run the body without the cache.
    RunAlone,
    /// This caller leads the flight; the stale value, if any, is handed back.
    Lead(Leader<'f>, Option<T>),
}

pub(crate) enum Claim<'a, T> {
    /// The value appeared while claiming (another caller wrote it).
    Answered(T),
    Held(Held<'a>),
}

impl<'a, T> Call<'a, T> {
    /// Reads the key (and, for a tagged entry, its tags' versions, at the same time) unless
    /// it was read already (`read`, from the memory store, for an untagged entry): a fresh
    /// value, or what the leader must know to claim it.
    pub(crate) async fn lookup(&self, read: Option<Read>) -> Lookup<T> {
        let store = self.cache.store();
        let (read, versions, fill) = if let Some(read) = read {
            (read, Ok(Vec::new()), None)
        } else if let Some(near) = self.near {
            let (read, fill) = store.get_for_near(near, self.key).await;
            (read, Ok(Vec::new()), fill)
        } else if self.tags.is_empty() {
            (store.get(self.key).await, Ok(Vec::new()), None)
        } else {
            let (read, versions) =
                futures_util::future::join(store.get(self.key), store.tag_versions(self.tags))
                    .await;
            (read, versions, None)
        };
        if let Some(fallback) = self.cache.fallback() {
            if !matches!(read, Read::Unavailable) {
                fallback.redis_answered();
            }
        }
        self.judge_filling(read, versions, fill)
    }

    /// What the lookup makes of what it read: the key's bytes, and its tags' versions.
    pub(crate) fn judge(
        &self,
        read: Read,
        versions: Result<Vec<Option<u64>>, Failure>,
    ) -> Lookup<T> {
        self.judge_filling(read, versions, None)
    }

    /// [`Call::judge`], and a fresh value read under a near-cache token (`fill`: the token
    /// and the entry's `PTTL`) is offered to the near cache.
    fn judge_filling(
        &self,
        read: Read,
        versions: Result<Vec<Option<u64>>, Failure>,
        fill: Option<(Token, i64)>,
    ) -> Lookup<T> {
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
                        self.tally.hit();
                        if let (Some(near), Some((token, pttl))) = (self.near, fill) {
                            near.fill(self.key, token, pttl, &bytes, || self.codec.keep(&value));
                        }
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
        let tally = self.tally;
        loop {
            let follower = match self.cache.flights().join(self.key, self.tags) {
                Role::Leader(leader) => return Follow::Lead(leader, stale),
                Role::Follower(follower) => follower,
            };
            if let Some(value) = stale {
                tally.hit();
                tally.bump(|c| &c.stale_served);
                return Follow::Answered(value, Outcome::Stale);
            }
            match follower.wait().await {
                Some(Landed::Value(bytes)) => {
                    // The leader's own value: checked against the tags when it was claimed.
                    if let Some(value) = self.decode(&bytes, None) {
                        tally.hit();
                        tally.bump(|c| &c.coalesced);
                        return Follow::Answered(value, Outcome::Coalesced);
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
    pub(crate) async fn claim(
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
            self.tally.bump(|c| &c.lock_waits);
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
    pub(crate) async fn record_tags(&self, held: &mut Held<'_>) -> Vec<u64> {
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
    pub(crate) async fn store(
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
                self.tally.bump(|c| &c.too_large);
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
        let store = self.cache.store();
        let stored = lease::store(store, self.key, held.take(), bytes.clone(), kept, lifetime);
        // Followers get the value only after the write's verdict: a refused write means an
        // invalidation came while the body ran, and a follower may have started after it
        // (here or in another process), so the value is not theirs to take.
        match stored.await {
            Stored::Written => {
                self.tally.bump(|c| &c.writes);
                leader.land(Landed::Value(bytes));
            }
            Stored::Refused => {
                self.tally.bump(|c| &c.writes_skipped);
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
        self.tally.hit();
        Some(value)
    }

    /// A value kept during this outage, if Redis is still unreachable.
    pub(crate) fn served_by_fallback(&self, outage: u64) -> Option<T> {
        let bytes = self.cache.fallback()?.get(self.key, outage)?;
        let value = fresh_copy(self.codec, &bytes, bytes.kept(), bytes.plain())?;
        self.tally.hit();
        self.tally.bump(|c| &c.fallback_hits);
        Some(value)
    }

    /// Keeps a value computed while Redis was unreachable, for later calls during the same
    /// outage.
    pub(crate) fn keep_in_fallback(&self, value: &T, outage: u64) {
        let Some(fallback) = self.cache.fallback() else {
            return;
        };
        let Ok(bytes) = self.codec.encode(value, &codec::Header::default()) else {
            return; // not cacheable at all: the store path logs it
        };
        if bytes.len() <= self.cache.max_value_bytes() {
            let ttl = self.options.ttl;
            fallback.put(self.key, outage, bytes.into(), self.codec.keep(value), ttl);
        }
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

/// The value of an in-process copy (memory store, near cache, outage cushion), if it is fresh
/// and untagged. A `plain` copy (`codec::is_plain`) with its value kept is cloned without
/// reading its bytes: one memory access less on the hottest path.
#[inline(always)]
fn fresh_copy<T>(
    codec: &ValueCodec<T>,
    bytes: &[u8],
    kept: Option<&(dyn std::any::Any + Send + Sync)>,
    plain: bool,
) -> Option<T> {
    if plain && let Some(value) = codec.clone_kept(kept) {
        return Some(value);
    }
    match codec::parse(bytes) {
        Ok(Entry::Value {
            fresh_until_ms,
            tag_versions,
            json,
        }) if tag_versions.match_current(&[])
            && fresh_until_ms.is_none_or(|until| now_ms() < until) =>
        {
            codec.value_from(kept, json).ok()
        }
        _ => None,
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
