//! `#[cache_batch]`: one call over many elements, each with its own entry, keyed exactly as a
//! single `#[cache]` call keys one element, so single and batch functions share entries.
//!
//! A batch runs the phases of the call algorithm (`call`) for all its elements at once:
//! *lookup* reads every entry in one `MGET`; each missed element's *claim* (its lease) and
//! *store* (compare-and-set over it) are sent together, so a batch costs the same number of
//! round trips whatever its size: one `MGET`, one round of lease claims, one of tag records
//! for tagged entries, one of writes. The body runs once, with the missed elements only, and
//! the invalidation-race guarantee holds per element, as it does for single calls.
//!
//! Single-flight: a single call (or another batch) of an element that this batch is
//! computing waits for the batch's value. The batch itself does not wait for an element that
//! another call in this process is already computing: it computes it again in its one body run
//! (one more element in the same query), because two batches that overlap would otherwise wait
//! for each other. It then leaves the storing to that call.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::{BuildHasher, Hash};

use futures_util::future::join_all;
use tracing::Instrument;

use crate::cache::Cache;
use crate::call::{Call, CallOptions, Claim, Lookup, bypassed, near_hit, usable_near};
use crate::flight::{Landed, Leader, Role};
use crate::lease::{self, Held, Seen};
use crate::telemetry::{self, Outcome};
use crate::tier::{Read, Tier};
use crate::value::ValueCodec;

/// The map a batch function returns: `HashMap<K, V>` or `BTreeMap<K, V>`.
pub trait Map<K, V>: Default {
    /// The value for `key`, if the body returned one.
    fn value(&self, key: &K) -> Option<&V>;
    /// Adds a value read from the cache.
    fn add(&mut self, key: K, value: V);
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> Map<K, V> for HashMap<K, V, S> {
    fn value(&self, key: &K) -> Option<&V> {
        self.get(key)
    }
    fn add(&mut self, key: K, value: V) {
        self.insert(key, value);
    }
}

impl<K: Ord, V> Map<K, V> for BTreeMap<K, V> {
    fn value(&self, key: &K) -> Option<&V> {
        self.get(key)
    }
    fn add(&mut self, key: K, value: V) {
        self.insert(key, value);
    }
}

/// Where the map is in a batch function's output, chosen by the macro from the return type.
pub trait BatchShape<R> {
    /// The map type inside the output.
    type Map;
    /// The map, if the output is a success.
    fn map(output: &R) -> Option<&Self::Map>;
    /// The map, mutably, if the output is a success.
    fn map_mut(output: &mut R) -> Option<&mut Self::Map>;
    /// The output for a map read entirely from the cache.
    fn from_map(map: Self::Map) -> R;
}

/// The output is the map.
#[derive(Debug)]
pub enum WholeMap {}

impl<M> BatchShape<M> for WholeMap {
    type Map = M;
    fn map(output: &M) -> Option<&M> {
        Some(output)
    }
    fn map_mut(output: &mut M) -> Option<&mut M> {
        Some(output)
    }
    fn from_map(map: M) -> M {
        map
    }
}

/// `Result<map, E>`: an `Err` caches nothing.
#[derive(Debug)]
pub enum OkMap {}

impl<M, E> BatchShape<Result<M, E>> for OkMap {
    type Map = M;
    fn map(output: &Result<M, E>) -> Option<&M> {
        output.as_ref().ok()
    }
    fn map_mut(output: &mut Result<M, E>) -> Option<&mut M> {
        output.as_mut().ok()
    }
    fn from_map(map: M) -> Result<M, E> {
        Ok(map)
    }
}

/// One element of a batch: the collection's item, its entry's key and its tag keys.
#[derive(Debug)]
pub struct Element<K> {
    item: K,
    key: String,
    tags: Vec<String>,
}

/// The batch's elements: one per distinct key, in first-seen order, from the collection's
/// `items` and `entry_of`, which renders an item's key and tag keys.
pub fn elements<'c, K: Clone + 'c>(
    items: impl IntoIterator<Item = &'c K>,
    mut entry_of: impl FnMut(&K) -> (String, Vec<String>),
) -> Vec<Element<K>> {
    let items = items.into_iter();
    let mut seen = std::collections::HashSet::with_capacity(items.size_hint().0);
    let mut elements = Vec::with_capacity(items.size_hint().0);
    for item in items {
        let (key, tags) = entry_of(item);
        if seen.insert(key.clone()) {
            elements.push(Element {
                item: item.clone(),
                key,
                tags,
            });
        }
    }
    elements
}

/// An element the batch computes.
struct Computed<'a> {
    index: usize,
    /// Set when this batch leads the element's flight and holds its claim.
    led: Option<(Leader<'a>, Held<'a>, Vec<u64>)>,
    /// Redis could not be reached for it: its value goes to the outage cushion.
    unreachable: bool,
}

/// Reads the elements' entries, runs `body` once with the items that missed, stores what it
/// returned for them, and returns its output with the hits added.
pub async fn get_batch<S, K, V, R, F, Fut>(
    cache: &Cache,
    elements: Vec<Element<K>>,
    options: CallOptions,
    codec: ValueCodec<V>,
    body: F,
) -> R
where
    S: BatchShape<R>,
    S::Map: Map<K, V>,
    K: Clone,
    F: FnOnce(Vec<K>) -> Fut,
    Fut: Future<Output = R>,
{
    let function = options.function_name();
    let span = telemetry::batch_span(function, elements.len());
    let end = |output, outcome| {
        telemetry::call_ended(&span, function, outcome);
        output
    };
    let tally = cache.tally(options.site);
    if bypassed(cache, tally, elements.len() as u64) {
        let items = elements.into_iter().map(|element| element.item).collect();
        return end(
            body(items).instrument(span.clone()).await,
            Outcome::Bypassed,
        );
    }
    let calls: Vec<Call<'_, V>> = elements
        .iter()
        .map(|element| Call {
            cache,
            key: &element.key,
            tags: &element.tags,
            options,
            codec: &codec,
            tally,
            // Batches read Redis with `MGET`, which tells no TTL to bound a copy by: they
            // serve copies single calls made, and fill none.
            near: None,
        })
        .collect();

    // Lookup: fresh copies in the near cache first (untagged entries only, as for single
    // calls), then every other entry in one round trip, with the tags' versions of tagged
    // ones.
    let mut hits = Vec::new();
    let mut read = Vec::with_capacity(elements.len());
    for (index, element) in elements.iter().enumerate() {
        let copy = usable_near(cache, &options, &element.tags)
            .and_then(|near| near_hit(tally, near, &element.key, &codec));
        match copy {
            Some(value) => hits.push((index, value)),
            None => read.push(index),
        }
    }
    // The outage these reads may see, taken before them (see `fallback`).
    let outage = cache.fail_open().recoveries();
    let store = cache.store();
    let keys: Vec<&str> = read
        .iter()
        .map(|&index| elements[index].key.as_str())
        .collect();
    let elements_read = &elements;
    let versions = join_all(read.iter().map(|&index| async move {
        let tags = &elements_read[index].tags;
        if tags.is_empty() {
            Ok(Vec::new())
        } else {
            store.tag_versions(tags).await
        }
    }));
    let (reads, versions) = futures_util::future::join(store.get_many(&keys), versions).await;
    if let Some(fallback) = cache.fallback() {
        if reads.iter().any(|read| !matches!(read, Read::Unavailable)) {
            fallback.redis_answered();
        }
    }
    let mut claims = Vec::new();
    let mut computed = Vec::new();
    for (index, (read, versions)) in read.into_iter().zip(reads.into_iter().zip(versions)) {
        let call = &calls[index];
        match call.judge(read, versions) {
            Lookup::Fresh(value) => hits.push((index, value)),
            // Stale values are not served by batches: the element is computed (or, Redis
            // unreachable, served from the outage cushion, as single calls are).
            Lookup::Missed { seen, versions, .. } => {
                let unreachable =
                    matches!(seen, Seen::Unavailable) && !cache.fail_open().reachable();
                if let Some(value) = call.served_by_fallback(outage).filter(|_| unreachable) {
                    hits.push((index, value));
                    continue;
                }
                match cache.flights().join(call.key, call.tags) {
                    Role::Leader(leader) => {
                        claims.push((index, leader, seen, versions, unreachable));
                    }
                    Role::Follower(_) => computed.push(Computed {
                        index,
                        led: None,
                        unreachable,
                    }),
                }
            }
        }
    }

    // Claim: every lease at once; a value that appeared meanwhile is a hit.
    let calls = &calls;
    let claimed = join_all(claims.into_iter().map(
        |(index, leader, seen, versions, unreachable)| async move {
            let claim = calls[index].claim(seen, &leader, &versions).await;
            (index, leader, claim, unreachable)
        },
    ));
    let mut held = Vec::new();
    for (index, leader, claim, unreachable) in claimed.await {
        match claim {
            Claim::Answered(value) => hits.push((index, value)),
            Claim::Held(claim) => held.push((index, leader, claim, unreachable)),
        }
    }
    let recorded = join_all(held.into_iter().map(
        |(index, leader, mut claim, unreachable)| async move {
            let tag_versions = calls[index].record_tags(&mut claim).await;
            Computed {
                index,
                led: Some((leader, claim, tag_versions)),
                unreachable,
            }
        },
    ));
    computed.extend(recorded.await);

    // Compute: once, with the missed items, in the collection's order.
    computed.sort_by_key(|element| element.index);
    // (Hits were counted as they were found.)
    tally.add(|c| &c.misses, computed.len() as u64);
    let (mut output, outcome) = if computed.is_empty() {
        (S::from_map(S::Map::default()), Outcome::Hit)
    } else {
        let missed = computed
            .iter()
            .map(|element| elements[element.index].item.clone())
            .collect();
        (body(missed).instrument(span.clone()).await, Outcome::Miss)
    };

    // Store: every write at once, each over its own claim; what Redis could not be reached
    // for, in the outage cushion too.
    let map = S::map(&output);
    for element in computed.iter().filter(|element| element.unreachable) {
        let value = map.and_then(|map| map.value(&elements[element.index].item));
        if let Some(value) = value {
            calls[element.index].keep_in_fallback(value, outage);
        }
    }
    let stores = computed.iter_mut().filter_map(|element| {
        let (leader, held, tag_versions) = element.led.as_mut()?;
        let call = &calls[element.index];
        let item = &elements[element.index].item;
        Some(async move {
            let value = map.and_then(|map| map.value(item));
            let stored = match value {
                Some(value) if leader.has_followers() || held.permit().may_store() => {
                    call.store(value, tag_versions, leader, held).await
                }
                _ => false,
            };
            if !stored {
                leader.land(Landed::Nothing);
                lease::release(cache.store(), call.key, held.take()).await;
            }
        })
    });
    join_all(stores).await;
    drop(computed);

    if let Some(map) = S::map_mut(&mut output) {
        for (index, value) in hits {
            map.add(elements[index].item.clone(), value);
        }
    }
    end(output, outcome)
}
