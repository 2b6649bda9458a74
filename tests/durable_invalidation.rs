//! Durable invalidation (SPEC §9): an invalidation that cannot be delivered, because Redis is
//! stalled or the breaker skips it, is kept and delivered once Redis answers; meanwhile the
//! process that holds it serves nothing from the cache.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redcache::{Cache, cache, invalidate};
use redis::Commands;
use support::RedisServer;

/// The row a cached function reads.
#[derive(Default)]
struct Row(AtomicU64);

impl Row {
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, version: u64) {
        self.0.store(version, Ordering::SeqCst);
    }
}

#[cache(key = "doc:<id>", ttl = 3600, tags = ["shelf:<shelf>"], skip(cache, row, shelf), cache = cache)]
async fn read_doc(cache: &Cache, row: &Row, id: u64, shelf: u64) -> u64 {
    row.get()
}

#[cache(key = "doc:<id>:summary", ttl = 3600, skip(cache, row), cache = cache)]
async fn read_summary(cache: &Cache, row: &Row, id: u64) -> u64 {
    row.get()
}

#[invalidate(key = "doc:<id>", cache = cache)]
async fn forget_doc(cache: &Cache, id: u64) {}

#[invalidate(pattern = "doc:<id>:*", cache = cache)]
async fn forget_doc_pages(cache: &Cache, id: u64) {}

#[invalidate(tags = ["shelf:<shelf>"], cache = cache)]
async fn forget_shelf(cache: &Cache, shelf: u64) {}

/// Opens the breaker: three reads that time out against a paused server.
async fn open_breaker(server: &mut RedisServer, cache: &Cache, row: &Row) {
    server.pause();
    for id in 100..103 {
        read_summary(cache, row, id).await;
    }
    server.resume();
    assert!(cache.stats().errors >= 3, "{:?}", cache.stats());
}

/// Waits until `done` holds, up to `limit`; returns how long it took.
async fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "not within {limit:?}: the invalidation was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Redis is back but the breaker is still open: the invalidation is skipped now and must
/// be delivered, by key, by pattern and by tag, within about one cooldown (500 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_skipped_by_the_open_breaker_are_delivered_when_it_closes() {
    let mut server = RedisServer::start();
    let (a, b) = (server.cache(), server.cache());
    let row = Arc::new(Row::default());
    row.set(1);
    assert_eq!(read_doc(&a, &row, 1, 9).await, 1);
    assert_eq!(read_summary(&a, &row, 1).await, 1);
    assert_eq!(read_doc(&a, &row, 2, 9).await, 1);

    open_breaker(&mut server, &a, &row).await;
    row.set(2);
    forget_doc(&a, 1).await;
    forget_doc_pages(&a, 1).await;
    forget_shelf(&a, 9).await;
    assert!(a.stats().invalidations_pending > 0, "{:?}", a.stats());

    // Meanwhile this process serves nothing cached, however stale the entry in Redis.
    assert_eq!(read_doc(&a, &row, 1, 9).await, 2);
    assert_eq!(read_doc(&a, &row, 2, 9).await, 2);
    assert_eq!(read_summary(&a, &row, 1).await, 2);

    let mut redis = server.client();
    let took = within(Duration::from_secs(3), || {
        let left: Vec<String> = redis.keys("doc:*").unwrap();
        left.is_empty()
    })
    .await;
    eprintln!("delivered {took:?} after the invalidating call returned");
    within(Duration::from_secs(1), || {
        a.stats().invalidations_pending == 0
    })
    .await;

    // Another process now reads the new value too, and this one caches again.
    assert_eq!(read_doc(&b, &row, 1, 9).await, 2);
    assert_eq!(read_summary(&b, &row, 1).await, 2);
    let hits = a.stats().hits;
    assert_eq!(read_doc(&a, &row, 1, 9).await, 2);
    assert_eq!(a.stats().hits, hits + 1, "cached again: {:?}", a.stats());
}

/// Redis stalled past the op timeout while the invalidation runs: the call returns within
/// the bound, the invalidation is kept and then delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_that_times_out_is_delivered_when_redis_answers() {
    let mut server = RedisServer::start();
    let (a, b) = (server.cache(), server.cache());
    let row = Row::default();
    row.set(1);
    assert_eq!(read_doc(&a, &row, 3, 9).await, 1);

    server.pause();
    row.set(2);
    let start = Instant::now();
    forget_doc(&a, 3).await;
    assert!(
        start.elapsed() < Duration::from_millis(400),
        "bounded by the op timeout"
    );
    assert_eq!(a.stats().invalidations_pending, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.resume();

    let mut redis = server.client();
    within(Duration::from_secs(3), || {
        !redis.exists::<_, bool>("doc:3").unwrap()
    })
    .await;
    assert_eq!(read_doc(&b, &row, 3, 9).await, 2);
    assert_eq!(a.stats().invalidations_lost, 0);
}

/// The delivery task dies with the runtime it ran on; a call on the next runtime resumes it.
#[test]
fn delivery_resumes_on_another_runtime() {
    let mut server = RedisServer::start();
    let cache = server.cache();
    let row = Row::default();
    row.set(1);
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    };
    runtime().block_on(async {
        assert_eq!(read_doc(&cache, &row, 4, 9).await, 1);
        open_breaker(&mut server, &cache, &row).await;
        row.set(2);
        forget_doc(&cache, 4).await;
    });
    // That runtime is gone, and its delivery task with it.
    assert_eq!(cache.stats().invalidations_pending, 1);
    runtime().block_on(async {
        assert_eq!(
            read_doc(&cache, &row, 4, 9).await,
            2,
            "bypassed, and resumes delivery"
        );
        let mut redis = server.client();
        within(Duration::from_secs(3), || {
            !redis.exists::<_, bool>("doc:4").unwrap()
        })
        .await;
    });
}
