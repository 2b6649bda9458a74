//! Connections that heal: one that goes silent without closing is replaced, and a cache
//! keeps working from any Tokio runtime, after the one it first ran on has ended (SPEC §9).

mod support;

use std::time::{Duration, Instant};

use redcache::{Cache, cache};
use support::proxy::Proxy;
use support::{Calls, RedisCluster, RedisServer};

#[cache(key = "conn:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn read(cache: &Cache, calls: &Calls, id: u64) -> u64 {
    calls.hit();
    id
}

/// Reads until one is a hit; returns how long that took.
async fn until_a_hit(cache: &Cache, calls: &Calls, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let hits = cache.stats().hits;
        assert_eq!(read(cache, calls, 1).await, 1);
        if cache.stats().hits > hits {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "no hit within {limit:?}: {:?}",
            cache.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A vanished host or a dropped NAT flow: the connection stays open and silent for good. The
/// breaker's probes must not keep going down it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_goes_silent_is_replaced() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    let cache = Cache::builder()
        .url(proxy.url())
        .op_timeout(Duration::from_millis(100))
        .breaker_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    let calls = Calls::default();
    read(&cache, &calls, 1).await;
    until_a_hit(&cache, &calls, Duration::from_secs(1)).await;

    proxy.blackhole();
    for _ in 0..5 {
        let start = Instant::now();
        assert_eq!(read(&cache, &calls, 1).await, 1);
        assert!(start.elapsed() < Duration::from_millis(300), "fails open");
    }
    // The network heals; the old connection stays silent, as a real one would.
    proxy.pass();
    let took = until_a_hit(&cache, &calls, Duration::from_secs(3)).await;
    eprintln!("hits again {took:?} after the network healed");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Each `#[tokio::test]` has its own runtime: a cache shared between tests is first used on
/// one that then ends. The next runtime must find the cache working at once: hits, no error.
fn survives_the_first_runtime(cache: &Cache) {
    let calls = Calls::default();
    runtime().block_on(async {
        read(cache, &calls, 1).await;
    });
    let before = cache.stats();
    runtime().block_on(async {
        assert_eq!(read(cache, &calls, 1).await, 1);
    });
    let after = cache.stats();
    assert_eq!(
        after.hits,
        before.hits + 1,
        "a hit on the second runtime: {after:?}"
    );
    assert_eq!(after.errors, before.errors, "and no error: {after:?}");
    assert_eq!(calls.count(), 1);
}

#[test]
fn standalone_works_from_a_second_runtime() {
    let server = RedisServer::start();
    survives_the_first_runtime(&server.cache());
}

#[test]
fn cluster_works_from_a_second_runtime() {
    let cluster = RedisCluster::start();
    survives_the_first_runtime(&cluster.cache());
}
