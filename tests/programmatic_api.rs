//! The programmatic API (`Cache::get`, `set`, the invalidations, `get_or_insert_with`): it
//! shares entries with the macros both ways, wins over reads in flight, and fails open.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redcache::{Cache, cache, key, pattern};
use support::{Calls, RedisCluster, RedisServer};
use tokio::sync::Notify;

const MINUTE: Duration = Duration::from_secs(60);

#[cache(key = "user:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn get_user(cache: &Cache, calls: &Calls, id: u64) -> String {
    calls.hit();
    format!("user {id} from the database")
}

#[cache(key = "profile:<org>:<id>", ttl = 60, tags = ["org:<org>"], skip(cache, calls), cache = cache)]
async fn get_profile(cache: &Cache, calls: &Calls, id: u64, org: u32) -> String {
    calls.hit();
    format!("profile {id} of org {org}")
}

/// Entries go both ways: what `#[cache]` stored, `get` reads; what `set` stored, `#[cache]`
/// serves without running its body.
async fn shares_entries_with_the_macros(cache: &Cache) {
    let calls = Calls::default();
    let stored = get_user(cache, &calls, 1).await;
    assert_eq!(cache.get::<String>("user:1").await, Some(stored));
    assert_eq!(calls.count(), 1);

    assert!(cache.set("user:2", &"written".to_owned(), MINUTE).await);
    assert_eq!(get_user(cache, &calls, 2).await, "written");
    assert_eq!(calls.count(), 1, "the macro read the programmatic entry");

    // A value of another type is a miss (counted as a decode error), not a panic.
    let decode_errors = cache.stats().decode_errors;
    assert_eq!(cache.get::<Vec<u32>>("user:2").await, None);
    assert_eq!(cache.stats().decode_errors, decode_errors + 1);
}

/// Each invalidation deletes what the macros stored.
async fn invalidations_delete_macro_entries(cache: &Cache) {
    let calls = Calls::default();
    get_user(cache, &calls, 10).await;
    get_user(cache, &calls, 11).await;
    get_profile(cache, &calls, 12, 7).await;
    get_profile(cache, &calls, 13, 8).await;
    assert_eq!(calls.count(), 4);

    cache.invalidate("user:10").await;
    assert_eq!(cache.get::<String>("user:10").await, None);
    assert!(cache.get::<String>("user:11").await.is_some());

    cache.invalidate_pattern("user:1*").await;
    assert_eq!(cache.get::<String>("user:11").await, None);

    cache.invalidate_tags(&["org:7"]).await;
    get_profile(cache, &calls, 12, 7).await;
    get_profile(cache, &calls, 13, 8).await;
    assert_eq!(calls.count(), 5, "only org 7's profile was recomputed");
}

/// Concurrent callers of one key run the closure once; `try_` caches `Ok` only.
async fn get_or_insert_with_is_single_flight(cache: &Cache) {
    let calls = Arc::new(Calls::default());
    let tasks = (0..10).map(|_| {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move {
            cache
                .get_or_insert_with("answer", MINUTE, || async move {
                    calls.hit();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    42u32
                })
                .await
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        assert_eq!(task.await.unwrap(), 42);
    }
    assert_eq!(calls.count(), 1);

    let failed: Result<u32, String> = cache
        .try_get_or_insert_with("fallible", MINUTE, || async { Err("db down".to_owned()) })
        .await;
    assert_eq!(failed, Err("db down".to_owned()));
    assert_eq!(
        cache.get::<u32>("fallible").await,
        None,
        "an Err is not cached"
    );
    let loaded: Result<u32, String> = cache
        .try_get_or_insert_with("fallible", MINUTE, || async { Ok(7) })
        .await;
    assert_eq!(loaded, Ok(7));
    assert_eq!(cache.get::<u32>("fallible").await, Some(7));
}

/// A `set` made while a `#[cache]` body runs wins: the read in flight returns its own value
/// but does not store it over the newer one.
async fn set_wins_over_a_read_in_flight(cache: &Cache) {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let read = {
        let (cache, started, release) = (cache.clone(), started.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .get_or_insert_with("race", MINUTE, || async move {
                    started.notify_one();
                    release.notified().await;
                    "old".to_owned()
                })
                .await
        })
    };
    started.notified().await;
    assert!(cache.set("race", &"new".to_owned(), MINUTE).await);
    release.notify_one();
    assert_eq!(
        read.await.unwrap(),
        "old",
        "the read returns what it computed"
    );
    assert_eq!(cache.get::<String>("race").await.as_deref(), Some("new"));
}

/// Keys in the cache's own namespace are refused, logged and counted; nothing is touched.
async fn refuses_reserved_keys(cache: &Cache) {
    let errors = cache.stats().errors;
    assert!(!cache.set("#tag:org:7", &1, MINUTE).await);
    assert_eq!(cache.get::<u32>("#tag:org:7").await, None);
    cache.invalidate_pattern("#*").await;
    assert_eq!(cache.stats().errors, errors + 3);
}

#[cache(key = "name:<name>:len", ttl = 60, skip(cache), cache = cache)]
async fn by_name(cache: &Cache, name: &str) -> usize {
    name.len()
}

/// `key!` and `pattern!` encode values as the macros do, so they name the macros' entries.
async fn key_and_pattern_macros_name_macro_entries(cache: &Cache) {
    let name = "a:b*";
    by_name(cache, name).await;
    assert_eq!(key!("name:<name>:len"), "name:a%3Ab%2A:len");
    assert_eq!(cache.get::<usize>(&key!("name:<name>:len")).await, Some(4));

    // The value's `*` is escaped, so the pattern deletes the entries of `a:b*` only, not
    // those of `a:bc`.
    let other = "a:bc";
    by_name(cache, other).await;
    assert_eq!(pattern!("name:<name>:*"), "name:a%3Ab%2A:*");
    cache.invalidate_pattern(&pattern!("name:<name>:*")).await;
    assert_eq!(cache.get::<usize>(&key!("name:<name>:len")).await, None);
    let name = other;
    assert_eq!(cache.get::<usize>(&key!("name:<name>:len")).await, Some(4));
}

async fn all(cache: &Cache) {
    key_and_pattern_macros_name_macro_entries(cache).await;
    shares_entries_with_the_macros(cache).await;
    invalidations_delete_macro_entries(cache).await;
    get_or_insert_with_is_single_flight(cache).await;
    set_wins_over_a_read_in_flight(cache).await;
    refuses_reserved_keys(cache).await;
}

#[tokio::test]
async fn memory() {
    all(&Cache::memory()).await;
}

#[tokio::test]
async fn redis() {
    let server = RedisServer::start();
    all(&server.cache()).await;
}

#[tokio::test]
async fn cluster() {
    let cluster = RedisCluster::start();
    all(&cluster.cache()).await;
}

/// What Redis holds: the key under the prefix, with the TTL given.
#[tokio::test]
async fn set_stores_under_the_prefix_with_the_ttl() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .prefix("app")
        .build()
        .unwrap();
    assert!(cache.set("k", &5u8, Duration::from_secs(30)).await);
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg("app:k")
        .query(&mut server.client())
        .unwrap();
    assert!((29_000..=30_000).contains(&ttl_ms), "PTTL {ttl_ms}");
    assert_eq!(cache.get::<u8>("k").await, Some(5));
    // A zero TTL stores nothing and drops the old value.
    assert!(!cache.set("k", &6u8, Duration::ZERO).await);
    assert_eq!(cache.get::<u8>("k").await, None);
}

/// Redis unresponsive (paused, so it keeps its data): every operation returns at once (bounded by the op timeout), nothing fails,
/// and a write or invalidation that could not be delivered is delivered after the restart,
/// so the old value is not served again.
#[tokio::test]
async fn fails_open_and_delivers_later() {
    let mut server = RedisServer::start();
    let cache = server.cache();
    assert!(cache.set("a", &1u32, MINUTE).await);
    assert!(cache.set("b", &1u32, MINUTE).await);
    server.pause();

    let start = Instant::now();
    assert_eq!(cache.get::<u32>("a").await, None);
    assert!(
        !cache.set("a", &2u32, MINUTE).await,
        "not stored: Redis does not answer"
    );
    cache.invalidate("b").await;
    let computed = cache
        .get_or_insert_with("c", MINUTE, || async { 3u32 })
        .await;
    assert_eq!(computed, 3);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(cache.stats().invalidations_pending, 2, "a and b are kept");

    server.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.stats().invalidations_pending > 0 {
        assert!(
            Instant::now() < deadline,
            "pending invalidations not delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = cache.get::<u32>("a").await; // calls restart delivery on this runtime
    }
    let mut redis = server.client();
    let exists: u32 = redis::cmd("EXISTS")
        .arg("a")
        .arg("b")
        .query(&mut redis)
        .unwrap();
    assert_eq!(exists, 0, "the old values are gone");
}
