//! A tag invalidation holds even when the tag's own key is gone before it: evicted by
//! `allkeys-lru`, deleted by a user's pattern, or expired under a long refresh. Entries carry
//! the version their tags had, and a tag without that version invalidates them. And the
//! memory store's tags stay bounded.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redcache::{Cache, cache, invalidate};
use redis::Commands;
use support::{RedisCluster, RedisServer};

#[derive(Default)]
struct Source(AtomicU64);

impl Source {
    fn version(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn change(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[cache(key = "item:<id>", ttl = 3600, tags = ["user:<user>"], skip(cache, source, user), cache = cache)]
async fn item(cache: &Cache, source: &Source, id: u64, user: u64) -> u64 {
    source.version()
}

#[invalidate(tags = ["user:<user>"], cache = cache)]
async fn forget_user(cache: &Cache, user: u64) {}

/// A user's pattern that also matches the tag's key (`#tag:user:7` ends in `:user:7`).
#[invalidate(pattern = "*:user:<user>", cache = cache)]
async fn forget_user_keys(cache: &Cache, user: u64) {}

/// Caches items 0..n of user 7, changes the source, loses the tag's key with `lose`, then
/// invalidates the tag: every item must be read afresh.
async fn tag_invalidation_survives(cache: &Cache, n: u64, lose: impl AsyncFnOnce()) {
    let source = Source::default();
    for id in 0..n {
        assert_eq!(item(cache, &source, id, 7).await, 0);
    }
    source.change();
    lose().await;
    forget_user(cache, 7).await;
    for id in 0..n {
        assert_eq!(item(cache, &source, id, 7).await, 1, "item {id} is stale");
    }
}

#[tokio::test]
async fn a_tag_whose_key_vanished_still_invalidates_on_redis() {
    let server = RedisServer::start();
    let cache = server.cache();
    // What eviction or expiry does: the tag's key is simply gone.
    tag_invalidation_survives(&cache, 20, async || {
        let _: () = server.client().del("#tag:user:7").unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_whose_key_vanished_still_invalidates_on_a_cluster() {
    let cluster = RedisCluster::start();
    let cache = cluster.cache();
    tag_invalidation_survives(&cache, 20, async || {
        // Only the master that owns the key's slot accepts the DEL; the others answer MOVED.
        let deleted: u64 = cluster
            .masters
            .iter()
            .filter_map(|master| master.client().del::<_, u64>("#tag:user:7").ok())
            .sum();
        assert_eq!(deleted, 1);
    })
    .await;
}

#[tokio::test]
async fn a_pattern_that_matches_the_tag_leaves_tag_invalidation_working() {
    let server = RedisServer::start();
    let cache = server.cache();
    tag_invalidation_survives(&cache, 20, async || {
        forget_user_keys(&cache, 7).await;
        let tag: bool = server.client().exists("#tag:user:7").unwrap();
        assert!(
            tag,
            "pattern invalidation leaves the cache's own keys alone"
        );
    })
    .await;
    let memory = Cache::memory();
    tag_invalidation_survives(&memory, 20, async || forget_user_keys(&memory, 7).await).await;
}

/// Real eviction: with `allkeys-lru`, entries read all the time survive while the tag's key,
/// touched only when an entry is written, is evicted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_invalidation_holds_after_allkeys_lru_evicted_the_tag() {
    let server =
        RedisServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let cache = server.cache();
    let source = Source::default();
    let mut redis = server.client();
    for id in 0..50 {
        item(&cache, &source, id, 7).await;
    }
    let filler = "f".repeat(4096);
    let mut evicted = false;
    for round in 0..400 {
        for id in 0..50 {
            item(&cache, &source, id, 7).await; // keeps the entries recently used
        }
        for i in 0..20 {
            let _: () = redis.set(format!("filler:{round}:{i}"), &filler).unwrap();
        }
        if !redis.exists::<_, bool>("#tag:user:7").unwrap() {
            evicted = true;
            break;
        }
    }
    assert!(evicted, "the tag's key was never evicted");
    let survivors: Vec<u64> = (0..50)
        .filter(|id| redis.exists::<_, bool>(format!("item:{id}")).unwrap())
        .collect();
    assert!(!survivors.is_empty(), "some entries survived the tag");
    source.change();
    forget_user(&cache, 7).await;
    for id in survivors.iter().copied() {
        assert_eq!(item(&cache, &source, id, 7).await, 1, "item {id} is stale");
    }
    eprintln!(
        "{} entries outlived their evicted tag; none was served stale",
        survivors.len()
    );
}

#[cache(key = "slow:<id>", ttl = "100ms", stale = "1s", tags = ["slow"], skip(cache, source, work), cache = cache)]
async fn slow(cache: &Cache, source: &Source, id: u64, work: Duration) -> u64 {
    let version = source.version();
    tokio::time::sleep(work).await;
    version
}

#[invalidate(tags = ["slow"], cache = cache)]
async fn forget_slow(cache: &Cache) {}

/// A stale refresh that runs longer than the lease timeout writes an entry that outlives the
/// tag it recorded. After that tag expired and was invalidated, the entry must not be served,
/// not even as the stale value handed to callers while someone refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_longer_than_the_lease_does_not_outlive_its_tag() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .lease_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let source = Arc::new(Source::default());
    let ms = Duration::from_millis;
    slow(&cache, &source, 1, Duration::ZERO).await; // fresh 100 ms, then stale for 1 s
    tokio::time::sleep(ms(150)).await;
    // Stale: this refresh takes 300 ms, longer than the 50 ms lease; the tag it records
    // lives 1,150 ms from now, its entry 1,100 ms from when it is written: 250 ms longer.
    slow(&cache, &source, 1, ms(300)).await;
    tokio::time::sleep(ms(900)).await;
    assert!(
        !server.client().exists::<_, bool>("#tag:slow").unwrap(),
        "the tag expired before the refreshed entry"
    );
    source.change();
    forget_slow(&cache).await;
    // One caller refreshes slowly; one that comes meanwhile would be handed the stale value.
    let refresh = {
        let (cache, source) = (cache.clone(), source.clone());
        tokio::spawn(async move { slow(&cache, &source, 1, ms(300)).await })
    };
    tokio::time::sleep(ms(50)).await;
    assert_eq!(
        slow(&cache, &source, 1, Duration::ZERO).await,
        1,
        "served stale"
    );
    assert_eq!(refresh.await.unwrap(), 1);
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[cache(key = "many:<id>", ttl = 3600, tags = ["one:<id>", "all"], skip(cache), cache = cache)]
async fn many(cache: &Cache, id: u64) -> u64 {
    id
}

/// With a capacity of 1,000 entries, 100,000 distinct keys each with its own tag and one
/// shared tag: the tags stay bounded by the entries, not by every key ever cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_tags_are_bounded_by_the_entries() {
    let cache = Cache::builder().memory_capacity(1000).build().unwrap();
    let before = rss_kib();
    for id in 0..100_000 {
        many(&cache, id).await;
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    eprintln!("100,000 tagged keys, capacity 1,000: RSS grew {grown_mib} MiB");
    assert!(grown_mib < 40, "RSS grew {grown_mib} MiB");
}
