//! Stampede protection, stale-while-revalidate, fail-safe, jitter, cross-process locks and the
//! invalidation race. Run with `--nocapture` to see the measured figures.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redcache::{Cache, cache, invalidate};
use redis::Commands;
use serde::{Deserialize, Serialize};
use support::{Calls, RedisServer};

/// Deliberately not `Clone`: single-flight must share values without it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    id: u64,
    version: u64,
}

#[cache(key = "report:<id>", ttl = 60, skip(cache, calls, work), cache = cache)]
async fn report(cache: &Cache, calls: &Calls, id: u64, work: Duration) -> Result<Report, String> {
    calls.hit();
    tokio::time::sleep(work).await;
    Ok(Report { id, version: 1 })
}

/// `version` stands for the database row; `fail` makes the "database" fail.
#[derive(Default)]
struct Source {
    version: AtomicU64,
    fail: std::sync::atomic::AtomicBool,
}

#[cache(key = "fresh:<id>", ttl = "300ms", stale = "1m", fail_safe = true, skip(cache, calls, source, work), cache = cache)]
async fn refreshing(
    cache: &Cache,
    calls: &Calls,
    source: &Source,
    id: u64,
    work: Duration,
) -> Result<Report, String> {
    calls.hit();
    tokio::time::sleep(work).await;
    if source.fail.load(Ordering::SeqCst) {
        return Err("database down".into());
    }
    Ok(Report {
        id,
        version: source.version.load(Ordering::SeqCst),
    })
}

#[cache(key = "versioned:<id>", ttl = 60, skip(cache, calls, source, work), cache = cache)]
async fn versioned(cache: &Cache, calls: &Calls, source: &Source, id: u64, work: Duration) -> u64 {
    calls.hit();
    let version = source.version.load(Ordering::SeqCst);
    tokio::time::sleep(work).await;
    version
}

#[invalidate(key = "versioned:<id>", cache = cache)]
async fn forget_versioned(cache: &Cache, id: u64) {}

#[cache(key = "jittered:<id>", ttl = 100, jitter = "50%", skip(cache), cache = cache)]
async fn jittered(cache: &Cache, id: u64) -> u64 {
    id
}

#[cache(key = "locked:<id>", ttl = 60, lock = true, skip(cache, calls), cache = cache)]
async fn locked(cache: &Cache, calls: &Calls, id: u64) -> u64 {
    calls.hit();
    tokio::time::sleep(Duration::from_millis(200)).await;
    id
}

macro_rules! on_both_stores {
    ($(async fn $name:ident($cache:ident: &Cache) $body:block)*) => {
        mod on_redis {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = RedisServer::start();
                    let $cache = &server.cache();
                    $body
                }
            )*
        }
        mod on_memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $cache = &Cache::memory();
                    $body
                }
            )*
        }
    };
}

/// Runs `n` concurrent calls of `report(id)`; returns each call's wait.
async fn concurrent_reports(
    cache: &Cache,
    calls: &Arc<Calls>,
    n: usize,
    work: Duration,
) -> Vec<Duration> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (cache, calls) = (cache.clone(), calls.clone());
        tasks.spawn(async move {
            let start = Instant::now();
            let got = report(&cache, &calls, 7, work).await;
            assert_eq!(got, Ok(Report { id: 7, version: 1 }));
            start.elapsed()
        });
    }
    let mut waits = Vec::new();
    while let Some(wait) = tasks.join_next().await {
        waits.push(wait.expect("task"));
    }
    waits
}

on_both_stores! {
    async fn two_hundred_concurrent_misses_run_the_body_once(cache: &Cache) {
        let calls = Arc::new(Calls::default());
        let waits = concurrent_reports(cache, &calls, 200, Duration::from_millis(100)).await;
        assert_eq!(waits.len(), 200);
        assert_eq!(calls.count(), 1, "one body for 200 concurrent misses");
        let stats = cache.stats();
        assert_eq!(stats.misses, 1, "{stats:?}");
        assert_eq!(stats.hits, 199, "{stats:?}");
    }

    async fn concurrent_misses_with_an_instant_body_run_it_once(cache: &Cache) {
        // The leader finishes before some followers' reads return: those must still get its
        // value (the flight stays open until the value is stored, and a caller that finds the
        // key taken reads it again) instead of running the body again.
        let calls = Arc::new(Calls::default());
        concurrent_reports(cache, &calls, 100, Duration::ZERO).await;
        assert_eq!(calls.count(), 1);
    }

    async fn different_keys_never_wait_for_each_other(cache: &Cache) {
        let calls = Arc::new(Calls::default());
        let slow = {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move { report(&cache, &calls, 1, Duration::from_secs(2)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        report(cache, &calls, 2, Duration::ZERO).await.unwrap();
        let waited = start.elapsed();
        assert!(waited < Duration::from_millis(500), "key 2 waited {waited:?} behind key 1");
        slow.abort();
    }

    async fn a_cancelled_leader_does_not_strand_its_followers(cache: &Cache) {
        let calls = Arc::new(Calls::default());
        let leader = {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move { report(&cache, &calls, 3, Duration::from_secs(30)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let followers: Vec<_> = (0..10)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move { report(&cache, &calls, 3, Duration::from_millis(50)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        for follower in followers {
            let got = tokio::time::timeout(Duration::from_secs(5), follower)
                .await
                .expect("a follower was stranded")
                .expect("task");
            assert_eq!(got, Ok(Report { id: 3, version: 1 }));
        }
        assert_eq!(calls.count(), 2, "the cancelled leader, then one new leader");
        // The cancelled leader's lease was given back: the key caches again at once, rather
        // than being blocked until the lease times out.
        tokio::time::sleep(Duration::from_millis(50)).await;
        report(cache, &calls, 3, Duration::ZERO).await.unwrap();
        report(cache, &calls, 3, Duration::ZERO).await.unwrap();
        assert!(calls.count() <= 3, "cached again: {} bodies", calls.count());
    }

    async fn callers_after_an_invalidation_never_get_an_older_value(cache: &Cache) {
        // A leader reads version 1 and is slow; the row changes and is invalidated; a caller
        // that starts after that must not be handed the leader's version 1.
        let source = Arc::new(Source::default());
        source.version.store(1, Ordering::SeqCst);
        let calls = Arc::new(Calls::default());
        let slow = {
            let (cache, calls, source) = (cache.clone(), calls.clone(), source.clone());
            tokio::spawn(async move {
                versioned(&cache, &calls, &source, 4, Duration::from_millis(300)).await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        source.version.store(2, Ordering::SeqCst);
        forget_versioned(cache, 4).await;
        let after = versioned(cache, &calls, &source, 4, Duration::ZERO).await;
        assert_eq!(after, 2, "a read that started after the invalidation");
        assert_eq!(slow.await.unwrap(), 1, "the read in flight keeps its own value");
        assert_eq!(versioned(cache, &calls, &source, 4, Duration::ZERO).await, 2);
    }

    async fn an_unrelated_invalidation_does_not_split_a_flight(cache: &Cache) {
        // Single-flight is per key: invalidating another key between two concurrent misses
        // must not make the second one run the body again.
        let (source, calls) = (Arc::new(Source::default()), Arc::new(Calls::default()));
        let first = {
            let (cache, calls, source) = (cache.clone(), calls.clone(), source.clone());
            tokio::spawn(async move {
                versioned(&cache, &calls, &source, 1, Duration::from_millis(300)).await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        forget_versioned(cache, 999).await;
        versioned(cache, &calls, &source, 1, Duration::from_millis(300)).await;
        first.await.unwrap();
        assert_eq!(calls.count(), 1, "the second miss joined the first");
    }

    async fn stale_value_is_served_at_once_while_one_caller_refreshes(cache: &Cache) {
        let (calls, source) = (Arc::new(Calls::default()), Arc::new(Source::default()));
        source.version.store(1, Ordering::SeqCst);
        refreshing(cache, &calls, &source, 1, Duration::ZERO).await.unwrap();
        source.version.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await; // past ttl, within stale

        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cache, calls, source) = (cache.clone(), calls.clone(), source.clone());
            tasks.spawn(async move {
                let start = Instant::now();
                let got = refreshing(&cache, &calls, &source, 1, Duration::from_millis(300)).await;
                (got.unwrap().version, start.elapsed())
            });
        }
        let mut old_at_once = 0;
        let mut refreshed = 0;
        while let Some(joined) = tasks.join_next().await {
            let (version, waited) = joined.unwrap();
            if version == 1 && waited < Duration::from_millis(150) {
                old_at_once += 1;
            } else if version == 2 {
                refreshed += 1;
            }
        }
        eprintln!("stale: {old_at_once} callers got the old value at once, {refreshed} refreshed");
        assert_eq!((old_at_once, refreshed), (19, 1));
        assert_eq!(calls.count(), 2, "one refresh");
        let again = refreshing(cache, &calls, &source, 1, Duration::ZERO).await.unwrap();
        assert_eq!(again.version, 2, "the refreshed value was stored");
        assert_eq!(calls.count(), 2);
        assert_eq!(cache.stats().stale_served, 19);
    }

    async fn fail_safe_turns_an_error_into_the_stale_value(cache: &Cache) {
        let (calls, source) = (Calls::default(), Source::default());
        source.version.store(1, Ordering::SeqCst);
        refreshing(cache, &calls, &source, 2, Duration::ZERO).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        source.fail.store(true, Ordering::SeqCst);
        let got = refreshing(cache, &calls, &source, 2, Duration::ZERO).await;
        assert_eq!(got, Ok(Report { id: 2, version: 1 }), "the stale value, not the error");
        assert_eq!(cache.stats().fail_safe, 1);
        // Without a stale value the error is returned as is.
        assert!(refreshing(cache, &calls, &source, 99, Duration::ZERO).await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_after_another_process_invalidated_never_joins_an_older_flight() {
    // Process A computes version 1 slowly; process B changes the row and invalidates; a
    // caller on A that starts after B's invalidation returned must not be handed version 1.
    let server = RedisServer::start();
    let (a, b) = (server.cache(), server.cache());
    let (source, calls) = (Arc::new(Source::default()), Arc::new(Calls::default()));
    source.version.store(1, Ordering::SeqCst);
    let slow = {
        let (a, calls, source) = (a.clone(), calls.clone(), source.clone());
        tokio::spawn(
            async move { versioned(&a, &calls, &source, 5, Duration::from_millis(300)).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    source.version.store(2, Ordering::SeqCst);
    forget_versioned(&b, 5).await;
    let after = versioned(&a, &calls, &source, 5, Duration::ZERO).await;
    assert_eq!(after, 2, "a read on A that started after B's invalidation");
    assert_eq!(
        slow.await.unwrap(),
        1,
        "the read in flight keeps its own value"
    );
    assert_eq!(versioned(&a, &calls, &source, 5, Duration::ZERO).await, 2);
}

#[tokio::test]
async fn jitter_spreads_ttls_within_the_fraction() {
    let server = RedisServer::start();
    let cache = server.cache();
    for id in 0..40 {
        jittered(&cache, id).await;
    }
    let mut redis = server.client();
    let ttls: Vec<i64> = (0..40)
        .map(|id| redis.pttl(format!("jittered:{id}")).unwrap())
        .collect();
    let (min, max) = (*ttls.iter().min().unwrap(), *ttls.iter().max().unwrap());
    eprintln!("jitter 50% of 100 s: PTTLs from {min} to {max} ms");
    assert!(min >= 49_000 && max <= 100_000, "{ttls:?}");
    assert!(max - min > 10_000, "TTLs are spread: {ttls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_caches_sharing_one_redis_with_lock_run_the_body_once() {
    let server = RedisServer::start();
    // Two caches = two processes: no shared single-flight, only Redis between them.
    let (first, second) = (server.cache(), server.cache());
    let calls = Arc::new(Calls::default());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let cache = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let calls = calls.clone();
        tasks.spawn(async move { locked(&cache, &calls, 5).await });
    }
    while let Some(got) = tasks.join_next().await {
        assert_eq!(got.unwrap(), 5);
    }
    assert_eq!(calls.count(), 1, "one body across both caches");
    let waits = first.stats().lock_waits + second.stats().lock_waits;
    assert_eq!(
        waits, 1,
        "the second cache's leader waited on the first one's lease"
    );
}

#[tokio::test]
async fn lock_never_waits_on_a_dead_redis() {
    let mut server = RedisServer::start();
    let cache = server.cache();
    server.kill();
    let calls = Calls::default();
    let start = Instant::now();
    for id in 0..5 {
        assert_eq!(locked(&cache, &calls, id).await, id);
    }
    let per_call = start.elapsed() / 5;
    assert!(
        per_call < Duration::from_millis(200 + 150),
        "{per_call:?} per call"
    );
    assert_eq!(cache.stats().lock_waits, 0);
}

// --- The invalidation race -------------------------------------------------------------

#[derive(Default)]
struct Row {
    version: AtomicU64,
}

#[cache(key = "race:<id>", ttl = 60, skip(cache, row, delay), cache = cache)]
async fn read_row(cache: &Cache, row: &Row, id: u64, delay: Duration) -> u64 {
    let version = row.version.load(Ordering::SeqCst);
    tokio::time::sleep(delay).await; // the read is in flight
    version
}

#[invalidate(key = "race:<id>", cache = cache)]
async fn update_row(cache: &Cache, row: &Row, id: u64) {
    row.version.fetch_add(1, Ordering::SeqCst);
}

#[cache(key = "race:<id>:detail", ttl = 60, skip(cache, row, delay), cache = cache)]
async fn read_detail(cache: &Cache, row: &Row, id: u64, delay: Duration) -> u64 {
    let version = row.version.load(Ordering::SeqCst);
    tokio::time::sleep(delay).await;
    version
}

#[invalidate(pattern = "race:<id>:*", cache = cache)]
async fn update_details(cache: &Cache, row: &Row, id: u64) {
    row.version.fetch_add(1, Ordering::SeqCst);
}

/// Races a read against an update + invalidation over many interleavings; returns how many
/// entries were left holding a value older than the row.
async fn stale_entries_after_races(cache: &Cache, by_pattern: bool) -> usize {
    let mut stale = 0;
    for id in 0..300u64 {
        let row = Arc::new(Row::default());
        let read_delay = Duration::from_micros(id * 37 % 4000);
        let update_delay = Duration::from_micros(id * 53 % 3000);
        let reader = {
            let (cache, row) = (cache.clone(), row.clone());
            tokio::spawn(async move {
                if by_pattern {
                    read_detail(&cache, &row, id, read_delay).await
                } else {
                    read_row(&cache, &row, id, read_delay).await
                }
            })
        };
        tokio::time::sleep(update_delay).await;
        if by_pattern {
            update_details(cache, &row, id).await;
        } else {
            update_row(cache, &row, id).await;
        }
        reader.await.unwrap();
        // What is cached now (or the row itself if nothing is) must be the current row.
        let current = row.version.load(Ordering::SeqCst);
        let cached = if by_pattern {
            read_detail(cache, &row, id, Duration::ZERO).await
        } else {
            read_row(cache, &row, id, Duration::ZERO).await
        };
        if cached != current {
            stale += 1;
        }
    }
    stale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_race_leaves_no_stale_entry_on_redis() {
    let server = RedisServer::start();
    let cache = server.cache();
    let by_key = stale_entries_after_races(&cache, false).await;
    let by_pattern = stale_entries_after_races(&cache, true).await;
    let stats = cache.stats();
    eprintln!(
        "redis: 600 races, stale entries {by_key} (key) + {by_pattern} (pattern), writes refused {}",
        stats.writes_skipped
    );
    assert_eq!((by_key, by_pattern), (0, 0));
    assert!(
        stats.writes_skipped > 20,
        "the races really overlapped: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_race_leaves_no_stale_entry_in_memory() {
    let cache = Cache::memory();
    let by_key = stale_entries_after_races(&cache, false).await;
    let by_pattern = stale_entries_after_races(&cache, true).await;
    let stats = cache.stats();
    eprintln!(
        "memory: 600 races, stale entries {by_key} (key) + {by_pattern} (pattern), writes refused {}",
        stats.writes_skipped
    );
    assert_eq!((by_key, by_pattern), (0, 0));
    assert!(
        stats.writes_skipped > 20,
        "the races really overlapped: {stats:?}"
    );
}
