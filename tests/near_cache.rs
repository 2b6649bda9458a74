//! The near cache (SPEC §8) and the outage cushion (SPEC §9), against a real `redis-server`:
//! hits with no I/O, coherence with every way an entry changes or disappears in Redis, and
//! flushing itself when coherence cannot be proven.

#[path = "support/logs.rs"]
mod logs;
mod support;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redcache::{Cache, cache, cache_batch, cache_put, invalidate};
use redis::Commands;
use support::RedisServer;
use support::proxy::Proxy;

/// The row a cached function reads, and how many times it was read.
#[derive(Default)]
struct Row {
    version: AtomicU64,
    reads: AtomicUsize,
}

impl Row {
    fn new(version: u64) -> Row {
        let row = Row::default();
        row.set(version);
        row
    }

    fn get(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.version.load(Ordering::SeqCst)
    }

    fn set(&self, version: u64) {
        self.version.store(version, Ordering::SeqCst);
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[cache(key = "n:<id>", ttl = 3600, skip(cache, row), cache = cache)]
async fn read(cache: &Cache, row: &Row, id: u64) -> u64 {
    row.get()
}

#[cache(key = "short:<id>", ttl = "1s", skip(cache, row), cache = cache)]
async fn read_short(cache: &Cache, row: &Row, id: u64) -> u64 {
    row.get()
}

#[cache(key = "far:<id>", ttl = 3600, near = false, skip(cache, row), cache = cache)]
async fn read_far(cache: &Cache, row: &Row, id: u64) -> u64 {
    row.get()
}

#[invalidate(key = "n:<id>", cache = cache)]
async fn forget(cache: &Cache, id: u64) {}

#[invalidate(pattern = "n:*", cache = cache)]
async fn forget_all(cache: &Cache) {}

#[cache_put(read(cache, row, id))]
async fn put(cache: &Cache, row: &Row, id: u64, value: u64) -> u64 {
    value
}

/// Shares `read`'s entries.
#[cache_batch(key = "n:<ids>", ttl = 3600, skip(cache, row), cache = cache)]
async fn read_many(cache: &Cache, row: &Row, ids: &[u64]) -> std::collections::HashMap<u64, u64> {
    ids.iter().map(|id| (*id, row.get())).collect()
}

#[cache_batch(key = "n:<ids>", ttl = 3600, near = false, skip(cache, row), cache = cache)]
async fn read_many_far(
    cache: &Cache,
    row: &Row,
    ids: &[u64],
) -> std::collections::HashMap<u64, u64> {
    ids.iter().map(|id| (*id, row.get())).collect()
}

fn near_cache(url: &str) -> Cache {
    Cache::builder()
        .url(url)
        .op_timeout(Duration::from_millis(100))
        .breaker_cooldown(Duration::from_millis(200))
        .near_cache(10_000)
        .build()
        .expect("valid options")
}

/// Waits until `done` holds, up to `limit`; panics with `what` otherwise.
async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

/// Reads `id` until the read is a near hit (the first fills may be discarded by the
/// invalidation messages of this process's own writes), and returns the value.
async fn until_near_hit(cache: &Cache, row: &Row, id: u64) -> u64 {
    let start = Instant::now();
    loop {
        let before = cache.stats().near_hits;
        let value = read(cache, row, id).await;
        if cache.stats().near_hits > before {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never a near hit: {:?} {:?}",
            cache.stats(),
            cache.health()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn armed(cache: &Cache) {
    until(Duration::from_secs(5), "near cache armed", || {
        cache.health().near_armed
    })
    .await;
}

#[test]
fn near_cache_needs_redis_and_at_least_one_entry() {
    let error = Cache::builder().near_cache(100).build().unwrap_err();
    assert!(error.to_string().contains("near_cache"), "{error}");
    let error = Cache::builder()
        .url("redis://127.0.0.1:1")
        .near_cache(0)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("near_cache"), "{error}");
    let error = Cache::builder()
        .url("redis://127.0.0.1:1")
        .near_cache(10)
        .near_max_ttl(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("near_max_ttl"), "{error}");
    assert!(!Cache::memory().health().near_armed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_hit_makes_no_round_trip() {
    let server = RedisServer::start();
    let cache = near_cache(&server.url());
    let row = Row::new(7);
    assert!(
        !cache.health().near_armed,
        "not armed before the first call"
    );
    assert_eq!(read(&cache, &row, 1).await, 7);
    armed(&cache).await;
    assert_eq!(until_near_hit(&cache, &row, 1).await, 7);
    server.reset_stats();
    let before = cache.stats();
    for _ in 0..1000 {
        assert_eq!(read(&cache, &row, 1).await, 7);
    }
    let after = cache.stats();
    assert_eq!(after.near_hits - before.near_hits, 1000, "{after:?}");
    assert_eq!(after.hits - before.hits, 1000, "near hits are hits");
    assert_eq!(server.command_calls("get"), 0, "no GET reached Redis");
    assert_eq!(row.reads(), 1);

    // `near = false` keeps a function out of L1.
    for _ in 0..20 {
        assert_eq!(read_far(&cache, &row, 1).await, 7);
    }
    assert_eq!(cache.stats().near_hits, after.near_hits);
    assert!(server.command_calls("get") >= 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invalidating_process_never_serves_the_old_value_after_the_call_returns() {
    let server = RedisServer::start();
    let cache = near_cache(&server.url());
    let row = Row::new(0);
    read(&cache, &row, 1).await;
    armed(&cache).await;
    for version in 1..=200 {
        until_near_hit(&cache, &row, 1).await;
        row.set(version);
        if version % 2 == 0 {
            forget(&cache, 1).await;
        } else {
            forget_all(&cache).await;
        }
        // At once: no waiting for the invalidation message.
        assert_eq!(read(&cache, &row, 1).await, version);
    }
    assert!(cache.stats().near_hits >= 200);
}

/// Every way an entry changes or disappears in Redis outside this process drops the copy:
/// `SET` and `DEL` by another client, `PEXPIRE`/expiry, `FLUSHDB`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_outside_drop_the_copy() {
    let server = RedisServer::start();
    let cache = near_cache(&server.url());
    let mut redis = server.client();
    let row = Row::new(1);
    read(&cache, &row, 1).await;
    armed(&cache).await;

    // Another program's SET (a valid entry).
    assert_eq!(until_near_hit(&cache, &row, 1).await, 1);
    let () = redis.set("n:1", "rc1\n42").unwrap();
    let start = Instant::now();
    while read(&cache, &row, 1).await != 42 {
        assert!(start.elapsed() < Duration::from_millis(100), "SET not seen");
    }

    // DEL.
    row.set(2);
    assert_eq!(until_near_hit(&cache, &row, 1).await, 42);
    let () = redis.del("n:1").unwrap();
    let start = Instant::now();
    while read(&cache, &row, 1).await != 2 {
        assert!(start.elapsed() < Duration::from_millis(100), "DEL not seen");
    }

    // Expiry (PEXPIRE, then the key expires in Redis).
    row.set(3);
    assert_eq!(until_near_hit(&cache, &row, 1).await, 2);
    let () = redis.pexpire("n:1", 50).unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let start = Instant::now();
    while read(&cache, &row, 1).await != 3 {
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "expiry not seen"
        );
    }

    // FLUSHDB.
    row.set(4);
    assert_eq!(until_near_hit(&cache, &row, 1).await, 3);
    let () = redis::cmd("FLUSHDB").query(&mut redis).unwrap();
    let start = Instant::now();
    while read(&cache, &row, 1).await != 4 {
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "FLUSHDB not seen"
        );
    }
    assert!(cache.health().near_armed);
}

/// A copy ends with the Redis entry's remaining TTL, even with no message at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_never_outlives_the_redis_entry_nor_near_max_ttl() {
    let server = RedisServer::start();
    let cache = near_cache(&server.url());
    let row = Row::new(1);
    let start = Instant::now();
    read_short(&cache, &row, 1).await;
    armed(&cache).await;
    // Near hits until the entry's 1 s TTL, then the body runs again.
    let mut near_hits_seen = false;
    while row.reads() == 1 {
        let before = cache.stats().near_hits;
        read_short(&cache, &row, 1).await;
        near_hits_seen |= cache.stats().near_hits > before;
        assert!(
            start.elapsed() < Duration::from_millis(1300),
            "copy outlived its entry"
        );
    }
    assert!(near_hits_seen);
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );

    // near_max_ttl caps a copy of a long-lived entry.
    let cache = Cache::builder()
        .url(server.url())
        .near_cache(100)
        .near_max_ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    read(&cache, &row, 5).await;
    armed(&cache).await;
    until_near_hit(&cache, &row, 5).await;
    server.reset_stats();
    let filled = Instant::now();
    while filled.elapsed() < Duration::from_millis(150) {
        read(&cache, &row, 5).await;
    }
    assert_eq!(
        server.command_calls("get"),
        0,
        "served from L1 within the cap"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    read(&cache, &row, 5).await;
    assert_eq!(
        server.command_calls("get"),
        1,
        "read from Redis past the cap"
    );
}

/// `allkeys-lru` eviction of an entry drops its copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_drops_the_copy() {
    let server =
        RedisServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let cache = near_cache(&server.url());
    let mut redis = server.client();
    let row = Row::new(1);
    read(&cache, &row, 1).await;
    armed(&cache).await;
    until_near_hit(&cache, &row, 1).await;
    row.set(2);
    let filler = "x".repeat(10_000);
    let mut i = 0;
    while redis.exists::<_, bool>("n:1").unwrap() {
        let () = redis.set(format!("filler:{i}"), &filler).unwrap();
        i += 1;
        assert!(i < 10_000, "n:1 never evicted");
    }
    let start = Instant::now();
    while read(&cache, &row, 1).await != 2 {
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "eviction not seen"
        );
    }
}

/// A silent connection (black-holed) is caught by the heartbeat: L1 is flushed and bypassed,
/// so a change made meanwhile is never hidden by an old copy; it re-arms when the network
/// heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_heartbeat_flushes_and_bypasses_until_rearmed() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    let cache = near_cache(&proxy.url());
    let mut redis = server.client();
    let row = Row::new(1);
    read(&cache, &row, 1).await;
    armed(&cache).await;
    until_near_hit(&cache, &row, 1).await;

    proxy.blackhole();
    let () = redis.set("n:1", "rc1\n2").unwrap(); // the message cannot get through
    let lost = until(Duration::from_secs(3), "heartbeat missed", || {
        !cache.health().near_armed
    })
    .await;
    eprintln!("disarmed {lost:?} after the connection went silent");
    // Not armed: every read goes to Redis (black-holed: the body runs), never to L1.
    let near_hits = cache.stats().near_hits;
    row.set(3);
    assert_eq!(read(&cache, &row, 1).await, 3);
    assert_eq!(cache.stats().near_hits, near_hits);

    proxy.pass();
    let rearmed = until(Duration::from_secs(5), "re-armed", || {
        cache.health().near_armed
    })
    .await;
    eprintln!("re-armed {rearmed:?} after the network healed");
    let start = Instant::now();
    loop {
        let value = read(&cache, &row, 1).await;
        assert_ne!(value, 1, "the old copy was served");
        if value == 2 && cache.stats().near_hits > near_hits {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never cached again"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A restart (an empty server) flushes L1; a paused server is detected within the heartbeat
/// deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_pause_flush_the_near_cache() {
    let mut server = RedisServer::start();
    let cache = near_cache(&server.url());
    let row = Row::new(1);
    read(&cache, &row, 1).await;
    armed(&cache).await;
    until_near_hit(&cache, &row, 1).await;

    server.restart();
    row.set(6); // what the body returns while Redis is not answering yet
    let () = server.client().set("n:1", "rc1\n5").unwrap();
    until(Duration::from_secs(3), "disarmed by the restart", || {
        !cache.health().near_armed
    })
    .await;
    let start = Instant::now();
    loop {
        let value = read(&cache, &row, 1).await;
        assert_ne!(value, 1, "served the copy of the entry the restart lost");
        if value == 5 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(3), "{value}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    armed(&cache).await;
    assert_eq!(until_near_hit(&cache, &row, 1).await, 5);

    server.pause();
    let took = until(Duration::from_secs(3), "pause detected", || {
        !cache.health().near_armed
    })
    .await;
    eprintln!("pause detected after {took:?}");
    server.resume();
    armed(&cache).await;
}

/// A server that refuses `CLIENT TRACKING` leaves the near tier off; caching still works.
#[tokio::test]
async fn a_server_refusing_tracking_leaves_the_near_cache_off() {
    let server = RedisServer::start();
    let mut redis = server.client();
    let () = redis::cmd("ACL")
        .arg(&[
            "SETUSER", "plain", "on", ">secret", "~*", "+@all", "-client",
        ])
        .query(&mut redis)
        .unwrap();
    let url = format!("redis://plain:secret@127.0.0.1:{}", server.port());
    let logs = logs::CapturedLogs::capture();
    let cache = near_cache(&url);
    let row = Row::new(1);
    for _ in 0..50 {
        assert_eq!(read(&cache, &row, 1).await, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!cache.health().near_armed);
    let stats = cache.stats();
    assert_eq!(stats.near_hits, 0);
    assert!(stats.hits >= 49, "{stats:?}");
    assert_eq!(row.reads(), 1);
    let text = logs.text();
    assert_eq!(text.matches("refused client tracking").count(), 1, "{text}");
    assert!(!text.contains("secret"));
}

/// While an invalidation is undelivered, nothing is served from L1 either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_invalidation_bypasses_the_near_cache() {
    let mut server = RedisServer::start();
    let cache = near_cache(&server.url());
    let row = Row::new(1);
    read(&cache, &row, 1).await;
    armed(&cache).await;
    until_near_hit(&cache, &row, 2).await;
    until_near_hit(&cache, &row, 1).await;
    server.pause();
    row.set(2);
    forget(&cache, 1).await; // times out: kept
    assert!(cache.stats().invalidations_pending > 0);
    let near_hits = cache.stats().near_hits;
    // Key 2 was not invalidated, but nothing is served while something is pending.
    assert_eq!(read(&cache, &row, 2).await, 2);
    assert_eq!(read(&cache, &row, 1).await, 2);
    assert_eq!(cache.stats().near_hits, near_hits);
    server.resume();
    until(Duration::from_secs(3), "delivered", || {
        cache.stats().invalidations_pending == 0
    })
    .await;
    armed(&cache).await;
    assert_eq!(until_near_hit(&cache, &row, 1).await, 2);
}

/// Another process's invalidation reaches this one's L1: a reader never serves a value older
/// than an invalidation that returned more than the propagation bound before its read began.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_process_invalidation_reaches_the_near_cache() {
    let server = RedisServer::start();
    let (a, b) = (near_cache(&server.url()), near_cache(&server.url()));
    let row = std::sync::Arc::new(Row::new(0));
    read(&a, &row, 1).await;
    read(&b, &row, 1).await;
    armed(&a).await;
    armed(&b).await;
    let mut stale_beyond_bound = 0;
    let mut waits = Vec::new();
    for version in 1..=100u64 {
        until_near_hit(&a, &row, 1).await;
        row.set(version);
        forget(&b, 1).await;
        let returned = Instant::now();
        // A stops serving the old value within the bound.
        loop {
            let value = read(&a, &row, 1).await;
            if value == version {
                waits.push(returned.elapsed());
                break;
            }
            // Generous for a loaded test machine: figures are measured by `bench --bin near`.
            if returned.elapsed() > Duration::from_millis(200) {
                stale_beyond_bound += 1;
                break;
            }
        }
    }
    waits.sort();
    eprintln!(
        "propagation: p50 {:?}, max {:?}",
        waits[waits.len() / 2],
        waits.last().unwrap()
    );
    assert_eq!(stale_beyond_bound, 0);
}

/// A cache with `outage_fallback(30s)` whose Redis was killed after one read; the row's
/// source now says 2.
async fn cushioned_outage() -> (RedisServer, Cache, Row) {
    let mut server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .op_timeout(Duration::from_millis(100))
        .outage_fallback(Duration::from_secs(30))
        .build()
        .unwrap();
    let row = Row::new(1);
    assert_eq!(read(&cache, &row, 1).await, 1);
    server.kill();
    row.set(2);
    (server, cache, row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fallback_serves_computed_values_while_redis_is_down() {
    let (mut server, cache, row) = cushioned_outage().await;
    let reads = row.reads();
    for _ in 0..1000 {
        assert_eq!(read(&cache, &row, 9).await, 2);
    }
    assert_eq!(
        row.reads() - reads,
        1,
        "the body ran once during the outage"
    );
    assert!(cache.stats().fallback_hits >= 999, "{:?}", cache.stats());

    // An invalidation by this process drops what the cushion holds.
    row.set(3);
    forget(&cache, 9).await;
    assert_eq!(read(&cache, &row, 9).await, 3);

    // Redis answers again: the cushion is dropped at once.
    server.restart();
    row.set(4);
    let start = Instant::now();
    while read(&cache, &row, 9).await != 4 {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "cushion outlived the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Batches use the outage cushion as single calls do: an element computed while Redis is
/// unreachable is served from it to later batches and single calls, until Redis answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fallback_serves_batches_too() {
    let (mut server, cache, row) = cushioned_outage().await;
    let reads = row.reads();
    let ids: Vec<u64> = (10..20).collect();
    for _ in 0..100 {
        let values = read_many_far(&cache, &row, &ids).await;
        assert_eq!(values.len(), ids.len());
        assert!(values.values().all(|&value| value == 2), "{values:?}");
    }
    assert_eq!(
        row.reads() - reads,
        ids.len(),
        "each element computed once during the outage"
    );
    assert!(
        cache.stats().fallback_hits >= 99 * ids.len() as u64,
        "{:?}",
        cache.stats()
    );
    // A single call of an element the batch computed is served from the cushion too.
    assert_eq!(read(&cache, &row, 10).await, 2);
    assert_eq!(row.reads() - reads, ids.len());

    // Redis answers again: the cushion is dropped, the batch reads the source.
    server.restart();
    row.set(3);
    let start = Instant::now();
    while read_many_far(&cache, &row, &ids).await[&10] != 3 {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "cushion outlived the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// On a cluster every master is tracked: a change on any master drops the copy; a master
/// lost flushes and bypasses L1 at once, and it re-arms on the cluster's masters once the
/// master is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_every_master_is_tracked() {
    let mut cluster = support::RedisCluster::start();
    let cache = Cache::builder()
        .cluster(cluster.urls())
        .op_timeout(Duration::from_millis(100))
        .breaker_cooldown(Duration::from_millis(200))
        .near_cache(1000)
        .build()
        .unwrap();
    let row = Row::new(1);
    read(&cache, &row, 0).await;
    armed(&cache).await;
    // Keys on every master: each is changed by another client, on its master.
    for id in 0..12u64 {
        assert_eq!(until_near_hit(&cache, &row, id).await, 1);
        let key = format!("n:{id}");
        let written = cluster.masters.iter().any(|master| {
            redis::cmd("SET")
                .arg(&key)
                .arg(format!("rc1\n{}", 100 + id))
                .query::<()>(&mut master.client())
                .is_ok() // the others answer MOVED
        });
        assert!(written);
        let start = Instant::now();
        while read(&cache, &row, id).await != 100 + id {
            assert!(
                start.elapsed() < Duration::from_millis(200),
                "{key} change not seen"
            );
        }
    }
    assert!(cluster.keys_per_master().iter().all(|&keys| keys > 0));

    cluster.masters[1].kill();
    let lost = until(Duration::from_secs(3), "disarmed", || {
        !cache.health().near_armed
    })
    .await;
    eprintln!("cluster master killed: disarmed after {lost:?}");
    cluster.restart_master(1, &[]);
    let rearmed = until(Duration::from_secs(10), "re-armed", || {
        cache.health().near_armed
    })
    .await;
    eprintln!("re-armed {rearmed:?} after the master was back");
    row.set(2);
    for id in 0..12u64 {
        let value = until_near_hit(&cache, &row, id).await;
        assert!(value == 100 + id || value == 2, "{id}: {value}");
    }
}

/// A write-through (`#[cache_put]`) replaces the copy: in the writing process at once, in
/// another one when its message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_replaces_the_copy_everywhere() {
    let server = RedisServer::start();
    let (a, b) = (near_cache(&server.url()), near_cache(&server.url()));
    let row = Row::new(1);
    read(&a, &row, 1).await;
    read(&b, &row, 1).await;
    armed(&a).await;
    armed(&b).await;
    for value in 2..50 {
        assert_eq!(until_near_hit(&a, &row, 1).await, value - 1);
        until_near_hit(&b, &row, 1).await;
        assert_eq!(put(&a, &row, 1, value).await, value);
        assert_eq!(read(&a, &row, 1).await, value, "the writer, at once");
        let start = Instant::now();
        while read(&b, &row, 1).await != value {
            assert!(
                start.elapsed() < Duration::from_millis(100),
                "the other process"
            );
        }
    }
    assert_eq!(row.reads(), 1);
}

/// `Cache::get` reads through the near cache too; `Cache::set` and `Cache::invalidate` drop
/// the copies (their own process's at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_programmatic_api_uses_the_near_cache() {
    let server = RedisServer::start();
    let (a, b) = (near_cache(&server.url()), near_cache(&server.url()));
    let row = Row::new(1);
    read(&a, &row, 1).await;
    armed(&a).await;
    until_near_hit(&a, &row, 1).await;
    let near_hits = a.stats().near_hits;
    assert_eq!(a.get::<u64>("n:1").await, Some(1));
    assert_eq!(a.stats().near_hits, near_hits + 1);

    assert!(a.set("n:1", &2u64, Duration::from_secs(60)).await);
    assert_eq!(a.get::<u64>("n:1").await, Some(2), "the writer, at once");
    assert!(b.set("n:1", &3u64, Duration::from_secs(60)).await);
    let start = Instant::now();
    while a.get::<u64>("n:1").await != Some(3) {
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "another process's set"
        );
    }
    a.invalidate("n:1").await;
    assert_eq!(a.get::<u64>("n:1").await, None);
}

/// A batch serves the copies single calls made without any I/O (no `MGET` at all when every
/// element is in L1); `near = false` reads Redis.
#[tokio::test]
async fn batches_serve_near_copies() {
    let server = RedisServer::start();
    let cache = near_cache(&server.url());
    let row = Row::new(7);
    read(&cache, &row, 1).await; // the first call starts the near cache
    armed(&cache).await;
    for id in 1..=5 {
        until_near_hit(&cache, &row, id).await;
    }
    server.reset_stats();
    let near_hits = cache.stats().near_hits;
    let reads = row.reads();
    let found = read_many(&cache, &row, &[1, 2, 3, 4, 5]).await;
    assert_eq!(found.len(), 5);
    assert!(found.values().all(|value| *value == 7));
    assert_eq!(server.command_calls("mget"), 0, "no I/O");
    assert_eq!(cache.stats().near_hits, near_hits + 5);
    assert_eq!(row.reads(), reads);

    read_many_far(&cache, &row, &[1, 2, 3, 4, 5]).await;
    assert_eq!(server.command_calls("mget"), 1);
    assert_eq!(cache.stats().near_hits, near_hits + 5);
    assert_eq!(row.reads(), reads, "Redis hits");
}
