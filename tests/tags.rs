//! Tags: `#[cache(tags = [..])]` attaches entries to tags, `#[invalidate(tags = [..])]` drops
//! every entry of a tag at a cost that grows with the entries tagged. On Redis, on memory and
//! on a cluster.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redcache::{Cache, cache, invalidate};
use redis::Commands;
use support::{Calls, RedisCluster, RedisServer};

#[cache(key = "profile:<id>:<org>", ttl = 60, tags = ["user:<id>", "org:<org>"], skip(cache, calls), cache = cache)]
async fn profile(cache: &Cache, calls: &Calls, id: u64, org: u64) -> String {
    calls.hit();
    format!("profile {id} of org {org}")
}

#[cache(key = "posts:<id>", ttl = "10m", tags = ["user:<id>"], skip(cache, calls), cache = cache)]
async fn posts(cache: &Cache, calls: &Calls, id: u64) -> Vec<u64> {
    calls.hit();
    vec![id]
}

#[invalidate(tags = ["user:<id>"], cache = cache)]
async fn forget_user(cache: &Cache, id: u64) {}

#[invalidate(tags = ["org:<org>"], cache = cache)]
async fn forget_org(cache: &Cache, org: u64) {}

/// Drops exactly the tagged entries, whatever their keys look like.
async fn tag_invalidation_drops_exactly_its_entries(cache: &Cache) {
    let calls = Calls::default();
    for id in 1..=3 {
        profile(cache, &calls, id, 10 + id % 2).await;
        posts(cache, &calls, id).await;
    }
    assert_eq!(calls.count(), 6);
    forget_user(cache, 2).await;
    for id in 1..=3 {
        profile(cache, &calls, id, 10 + id % 2).await;
        posts(cache, &calls, id).await;
    }
    assert_eq!(
        calls.count(),
        8,
        "only user 2's profile and posts ran again"
    );
    assert_eq!(cache.stats().invalidated, 2);

    forget_org(cache, 11).await; // users 1 and 3
    for id in 1..=3 {
        profile(cache, &calls, id, 10 + id % 2).await;
    }
    assert_eq!(calls.count(), 10, "org 11's two profiles ran again");
}

#[tokio::test]
async fn on_redis() {
    let server = RedisServer::start();
    tag_invalidation_drops_exactly_its_entries(&server.cache()).await;
}

#[tokio::test]
async fn on_memory() {
    tag_invalidation_drops_exactly_its_entries(&Cache::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster() {
    let cluster = RedisCluster::start();
    tag_invalidation_drops_exactly_its_entries(&cluster.cache()).await;
}

#[tokio::test]
async fn tag_sets_live_as_long_as_their_longest_entry() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .prefix("app")
        .build()
        .unwrap();
    let calls = Calls::default();
    // A set lives as long as its longest entry plus the lease timeout (10 s), which covers a
    // body still running when the key was tagged.
    profile(&cache, &calls, 7, 1).await; // 60 s
    let mut redis = server.client();
    let ttl: i64 = redis.pttl("app:#tag:user:7").unwrap();
    assert!((69_000..=70_000).contains(&ttl), "{ttl}");
    posts(&cache, &calls, 7).await; // 10 min
    let ttl: i64 = redis.pttl("app:#tag:user:7").unwrap();
    assert!((609_000..=610_000).contains(&ttl), "{ttl}");
    let mut members: Vec<String> = redis.hkeys("app:#tag:user:7").unwrap();
    members.sort();
    assert_eq!(
        members,
        ["#v", "app:posts:7", "app:profile:7:1"],
        "its keys and its version"
    );
    forget_user(&cache, 7).await;
    assert!(
        !redis.exists::<_, bool>("app:#tag:user:7").unwrap(),
        "the set went too"
    );
}

#[derive(Default)]
struct Row {
    version: AtomicU64,
}

#[cache(key = "row:<id>", ttl = 60, tags = ["rows"], skip(cache, row, delay), cache = cache)]
async fn read_row(cache: &Cache, row: &Row, id: u64, delay: Duration) -> u64 {
    let version = row.version.load(Ordering::SeqCst);
    tokio::time::sleep(delay).await;
    version
}

#[invalidate(tags = ["rows"], cache = cache)]
async fn update_rows(cache: &Cache, row: &Row) {
    row.version.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_in_flight_across_a_tag_invalidation_leaves_nothing_stale() {
    let server = RedisServer::start();
    let cache = server.cache();
    let mut stale = 0;
    for id in 0..200u64 {
        let row = Arc::new(Row::default());
        let reader = {
            let (cache, row) = (cache.clone(), row.clone());
            let delay = Duration::from_micros(id * 37 % 3000);
            tokio::spawn(async move { read_row(&cache, &row, id, delay).await })
        };
        tokio::time::sleep(Duration::from_micros(id * 53 % 2000)).await;
        update_rows(&cache, &row).await;
        reader.await.unwrap();
        let current = row.version.load(Ordering::SeqCst);
        if read_row(&cache, &row, id, Duration::ZERO).await != current {
            stale += 1;
        }
    }
    let stats = cache.stats();
    eprintln!(
        "tags: 200 races, {stale} stale entries, {} writes refused",
        stats.writes_skipped
    );
    assert_eq!(stale, 0);
    assert!(stats.writes_skipped > 10, "{stats:?}");
}

/// An entry written without tags (by `Cache::set`, or a function without them) at a tagged
/// function's key is not that function's hit: its tags' versions cannot be checked against
/// it. On memory, where a hit is answered in process, and on Redis.
async fn an_untagged_entry_is_not_a_tagged_hit(cache: &Cache) {
    let calls = Calls::default();
    let id = 77u64;
    let key = redcache::key!("posts:<id>");
    cache.set(&key, &vec![0u64], Duration::from_secs(60)).await;
    assert_eq!(posts(cache, &calls, 77).await, vec![77]);
    assert_eq!(
        calls.count(),
        1,
        "the body ran: the untagged entry was not served"
    );
    assert_eq!(posts(cache, &calls, 77).await, vec![77]);
    assert_eq!(calls.count(), 1, "its own entry, tagged, is a hit");
}

#[tokio::test]
async fn an_untagged_entry_is_not_a_tagged_hit_on_memory() {
    an_untagged_entry_is_not_a_tagged_hit(&Cache::memory()).await;
}

#[tokio::test]
async fn an_untagged_entry_is_not_a_tagged_hit_on_redis() {
    let server = RedisServer::start();
    an_untagged_entry_is_not_a_tagged_hit(&server.cache()).await;
}
