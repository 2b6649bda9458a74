//! A huge value is returned but not cached: it must not slow down, time out or trip the
//! breaker for everyone else (`CacheBuilder::max_value_bytes`, default 8 MiB).

mod support;

use std::sync::Arc;

use redcache::{Cache, cache};
use redis::Commands;
use support::{Calls, RedisServer};

#[cache(key = "blob:<id>", ttl = 60, skip(cache, calls, size), cache = cache)]
async fn blob(cache: &Cache, calls: &Calls, id: u64, size: usize) -> String {
    calls.hit();
    "x".repeat(size)
}

/// Three concurrent readers, twice, of a 16 MB value.
async fn read_huge_value(cache: &Cache, calls: &Arc<Calls>) {
    for _ in 0..2 {
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let (cache, calls) = (cache.clone(), calls.clone());
            reads.spawn(async move { blob(&cache, &calls, 1, 16 << 20).await.len() });
        }
        while let Some(length) = reads.join_next().await {
            assert_eq!(length.unwrap(), 16 << 20);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_value_takes_neither_the_breaker_nor_small_keys_down() {
    let server = RedisServer::start();
    let cache = server.cache();
    let calls = Arc::new(Calls::default());
    read_huge_value(&cache, &calls).await;

    let stats = cache.stats();
    assert!(stats.too_large >= 1, "{stats:?}");
    assert_eq!(
        stats.breaker_skips, 0,
        "the breaker stayed closed: {stats:?}"
    );
    assert_eq!(stats.errors, 0, "no operation timed out: {stats:?}");
    assert!(
        !server.client().exists::<_, bool>("blob:1").unwrap(),
        "not stored"
    );

    let small = Calls::default();
    blob(&cache, &small, 2, 10).await;
    blob(&cache, &small, 2, 10).await;
    assert_eq!(small.count(), 1, "small values are cached as usual");
}

#[tokio::test]
async fn the_limit_is_the_encoded_size_and_configurable() {
    let cache = Cache::builder().max_value_bytes(1024).build().unwrap();
    let calls = Calls::default();
    blob(&cache, &calls, 3, 1000).await;
    blob(&cache, &calls, 3, 1000).await;
    assert_eq!(calls.count(), 1, "1,000 bytes (plus header and quotes) fit");
    blob(&cache, &calls, 4, 2000).await;
    blob(&cache, &calls, 4, 2000).await;
    assert_eq!(calls.count(), 3, "2,000 bytes do not");
    assert_eq!(cache.stats().too_large, 2);
}
