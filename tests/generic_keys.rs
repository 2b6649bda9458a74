//! A generic function's type and const parameters are part of its key, after the template:
//! `fetch::<Summary>(1)` and `fetch::<Detail>(1)` never share an entry, and
//! `#[invalidate(fetch::<Summary>(..))]` deletes the `Summary` entry only.

mod support;

use redcache::{Cache, cache, invalidate};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use support::{Calls, RedisServer};

/// What `fetch` loads: two views of one record, under one id.
trait View: Serialize + DeserializeOwned + Send {
    fn load(id: u64) -> Self;
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Summary {
    id: u64,
}

/// Decodes from a `Summary`'s JSON too (serde ignores unknown fields, but not missing ones).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Detail {
    id: u64,
    body: String,
}

impl View for Summary {
    fn load(id: u64) -> Self {
        Summary { id }
    }
}

impl View for Detail {
    fn load(id: u64) -> Self {
        Detail {
            id,
            body: format!("body of {id}"),
        }
    }
}

// A lifetime parameter adds nothing to the key; the type parameter does.
#[cache(key = "fetch:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn fetch<'a, T: View>(cache: &'a Cache, calls: &'a Calls, id: u64) -> T {
    calls.hit();
    T::load(id)
}

#[invalidate(fetch::<Summary>(cache, &Calls::default(), id), cache = cache)]
async fn refresh_summary(cache: &Cache, id: u64) {}

#[invalidate(pattern = "fetch:<id>:*", cache = cache)]
async fn refresh_every_view(cache: &Cache, id: u64) {}

// The default key: module path and name, then the arguments, then the type parameter.
#[cache(ttl = 60, skip(cache, calls), cache = cache)]
async fn fetch_default<T: View>(cache: &Cache, calls: &Calls, id: u64) -> T {
    calls.hit();
    T::load(id)
}

// Const parameters are written by value, among the type parameters' names in declaration
// order.
#[cache(key = "page:<from>", ttl = 60, skip(cache, calls), cache = cache)]
async fn page<const SIZE: usize, T: View, const REVERSED: bool>(
    cache: &Cache,
    calls: &Calls,
    from: u64,
) -> Vec<T> {
    calls.hit();
    let mut ids: Vec<u64> = (from..from + SIZE as u64).collect();
    if REVERSED {
        ids.reverse();
    }
    ids.into_iter().map(T::load).collect()
}

#[invalidate(page::<2, Detail, false>(cache, &Calls::default(), from), cache = cache)]
async fn refresh_detail_pages(cache: &Cache, from: u64) {}

async fn each_type_has_its_own_entry(cache: &Cache) {
    let calls = Calls::default();
    let summary: Summary = fetch(cache, &calls, 1).await;
    let detail: Detail = fetch(cache, &calls, 1).await;
    assert_eq!(summary, Summary::load(1));
    assert_eq!(detail, Detail::load(1));
    assert_eq!(calls.count(), 2, "one body run per type");

    assert_eq!(fetch::<Summary>(cache, &calls, 1).await, Summary::load(1));
    assert_eq!(fetch::<Detail>(cache, &calls, 1).await, Detail::load(1));
    assert_eq!(calls.count(), 2, "both are hits");

    // Detail first: a shared entry would decode as a `Summary` without a miss.
    assert_eq!(fetch::<Detail>(cache, &calls, 2).await, Detail::load(2));
    assert_eq!(fetch::<Summary>(cache, &calls, 2).await, Summary::load(2));
    assert_eq!(calls.count(), 4, "no Summary from the Detail entry");
    let stats = cache.stats();
    assert_eq!((stats.decode_errors, stats.hits), (0, 2));
}

async fn typed_invalidation_deletes_one_type_only(cache: &Cache) {
    let calls = Calls::default();
    fetch::<Summary>(cache, &calls, 1).await;
    fetch::<Detail>(cache, &calls, 1).await;
    refresh_summary(cache, 1).await;
    assert_eq!(cache.stats().invalidated, 1);
    fetch::<Detail>(cache, &calls, 1).await;
    assert_eq!(calls.count(), 2, "the Detail entry is still there");
    fetch::<Summary>(cache, &calls, 1).await;
    assert_eq!(calls.count(), 3, "the Summary entry was deleted");

    refresh_every_view(cache, 1).await;
    fetch::<Summary>(cache, &calls, 1).await;
    fetch::<Detail>(cache, &calls, 1).await;
    assert_eq!(calls.count(), 5, "the pattern deletes both types");
}

async fn const_parameters_are_part_of_the_key(cache: &Cache) {
    let calls = Calls::default();
    assert_eq!(page::<2, Summary, false>(cache, &calls, 1).await.len(), 2);
    assert_eq!(page::<3, Summary, false>(cache, &calls, 1).await.len(), 3);
    let reversed = page::<3, Summary, true>(cache, &calls, 1).await;
    assert_eq!(reversed[0], Summary::load(3));
    assert_eq!(page::<2, Detail, false>(cache, &calls, 1).await.len(), 2);
    assert_eq!(calls.count(), 4, "every instantiation has its own entry");

    page::<2, Summary, false>(cache, &calls, 1).await;
    page::<3, Summary, true>(cache, &calls, 1).await;
    assert_eq!(calls.count(), 4, "hits");

    refresh_detail_pages(cache, 1).await;
    page::<2, Summary, false>(cache, &calls, 1).await;
    assert_eq!(calls.count(), 4, "another instantiation's entry stays");
    page::<2, Detail, false>(cache, &calls, 1).await;
    assert_eq!(calls.count(), 5, "the named one was deleted");
}

async fn default_keys_hold_the_type_too(cache: &Cache) {
    let calls = Calls::default();
    assert_eq!(
        fetch_default::<Detail>(cache, &calls, 1).await,
        Detail::load(1)
    );
    assert_eq!(
        fetch_default::<Summary>(cache, &calls, 1).await,
        Summary::load(1)
    );
    fetch_default::<Detail>(cache, &calls, 1).await;
    assert_eq!(calls.count(), 2, "one entry per type");
}

/// Runs `scenario` on a fresh memory cache, then on a `redis-server` of its own.
async fn on_both_stores(scenario: impl AsyncFn(&Cache)) {
    eprintln!("on the memory store");
    scenario(&Cache::memory()).await;
    eprintln!("on redis");
    let server = RedisServer::start();
    scenario(&server.cache()).await;
}

#[tokio::test]
async fn each_type_has_its_own_entry_on_both_stores() {
    on_both_stores(each_type_has_its_own_entry).await;
}

#[tokio::test]
async fn typed_invalidation_deletes_one_type_only_on_both_stores() {
    on_both_stores(typed_invalidation_deletes_one_type_only).await;
}

#[tokio::test]
async fn const_parameters_are_part_of_the_key_on_both_stores() {
    on_both_stores(const_parameters_are_part_of_the_key).await;
}

#[tokio::test]
async fn default_keys_hold_the_type_too_on_both_stores() {
    on_both_stores(default_keys_hold_the_type_too).await;
}

/// What an operator sees in `redis-cli`: the template, then each type parameter's name and
/// each const parameter's value, in declaration order, encoded as values are (`::` is `%3A%3A`).
#[tokio::test]
async fn redis_keys_end_with_the_type_names_and_const_values() {
    let server = RedisServer::start();
    let cache = server.cache();
    let calls = Calls::default();
    fetch::<Summary>(&cache, &calls, 1).await;
    fetch::<Detail>(&cache, &calls, 1).await;
    fetch_default::<Summary>(&cache, &calls, 7).await;
    page::<2, Detail, true>(&cache, &calls, 5).await;
    let mut keys: Vec<String> = redis::Commands::keys(&mut server.client(), "*").unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "fetch:1:generic_keys%3A%3ADetail",
            "fetch:1:generic_keys%3A%3ASummary",
            "generic_keys::fetch_default:7:generic_keys%3A%3ASummary",
            "page:5:2:generic_keys%3A%3ADetail:true",
        ]
    );

    refresh_summary(&cache, 1).await;
    let mut keys: Vec<String> = redis::Commands::keys(&mut server.client(), "fetch:*").unwrap();
    keys.sort();
    assert_eq!(keys, ["fetch:1:generic_keys%3A%3ADetail"]);
}
