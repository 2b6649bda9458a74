//! Fail-open: with Redis killed, paused, refusing connections or restarted, every call returns
//! the right value, none waits past the op timeout plus a small margin, failures are counted,
//! and caching resumes by itself. Run with `--nocapture` to see the measured waits.

#[path = "support/logs.rs"]
mod logs;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redcache::{Cache, cache, invalidate};
use redis::Commands;
use support::{Calls, RedisServer};

/// `RedisServer::cache()` uses this op timeout.
const OP_TIMEOUT: Duration = Duration::from_millis(100);
/// Scheduling slack on a loaded two-core machine; far below redis-rs's ~9 s default retries.
const MARGIN: Duration = Duration::from_millis(150);

#[cache(key = "user:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn get_user(cache: &Cache, calls: &Calls, id: u64) -> Result<String, String> {
    calls.hit();
    Ok(format!("user {id}"))
}

#[invalidate(key = "user:<id>", pattern = "user:<id>:*", cache = cache)]
async fn update_user(cache: &Cache, id: u64) -> Result<(), String> {
    Ok(())
}

/// Calls `get_user` sequentially, then concurrently; checks every value; returns the waits.
async fn burst(cache: &Cache, sequential: u64, concurrent: u64) -> Vec<Duration> {
    let calls = Arc::new(Calls::default());
    let mut waits = Vec::new();
    for id in 0..sequential {
        let start = Instant::now();
        let user = get_user(cache, &calls, id).await;
        waits.push(start.elapsed());
        assert_eq!(user, Ok(format!("user {id}")));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..concurrent {
        let (cache, calls) = (cache.clone(), calls.clone());
        tasks.spawn(async move {
            let start = Instant::now();
            let user = get_user(&cache, &calls, id).await;
            (start.elapsed(), user, id)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (wait, user, id) = joined.expect("task");
        assert_eq!(user, Ok(format!("user {id}")));
        waits.push(wait);
    }
    waits
}

fn summarize(label: &str, waits: &mut [Duration]) -> Duration {
    waits.sort();
    let median = waits[waits.len() / 2];
    let max = *waits.last().expect("some calls");
    eprintln!(
        "{label}: {} calls, median wait {median:.1?}, max {max:.1?} (bound {:?})",
        waits.len(),
        OP_TIMEOUT + MARGIN
    );
    max
}

/// With Redis unusable: a burst of reads and an invalidation all return right and within the
/// bound, failures are counted, and the breaker ends up skipping Redis.
async fn assert_fails_open(fault: &str, cache: &Cache) {
    let max = summarize(fault, &mut burst(cache, 20, 50).await);
    assert!(max <= OP_TIMEOUT + MARGIN, "a call waited {max:?}");
    let stats = cache.stats();
    assert!(stats.errors >= 1, "failures are counted: {stats:?}");
    assert!(
        stats.breaker_skips >= 1,
        "the breaker skipped Redis: {stats:?}"
    );

    let start = Instant::now();
    update_user(cache, 1).await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited <= OP_TIMEOUT + MARGIN,
        "invalidation waited {waited:?}"
    );
}

async fn warm(cache: &Cache) {
    let calls = Calls::default();
    for id in 0..5 {
        get_user(cache, &calls, id).await.unwrap();
    }
    assert_eq!(cache.stats().errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_calls_stay_correct_and_bounded() {
    let mut server = RedisServer::start();
    let cache = server.cache();
    warm(&cache).await;
    server.kill();

    assert_fails_open("killed", &cache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_calls_stay_correct_and_bounded() {
    let mut server = RedisServer::start();
    let cache = server.cache();
    warm(&cache).await;
    server.pause();

    assert_fails_open("paused", &cache).await;

    server.resume();
    let resumed = wait_until_cached(&server, &cache, 77).await;
    eprintln!("paused: caching resumed {resumed:.0?} after SIGCONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_caching_resumes_by_itself() {
    let mut server = RedisServer::start();
    let cache = server.cache();
    warm(&cache).await;
    server.kill();
    burst(&cache, 10, 0).await;
    server.restart();

    let resumed = wait_until_cached(&server, &cache, 99).await;
    eprintln!("restarted: caching resumed {resumed:.0?} after the new server answered PING");
    let calls = Calls::default();
    get_user(&cache, &calls, 99).await.unwrap();
    assert_eq!(calls.count(), 0, "and reads hit again");
}

/// Calls `get_user(id)` every 10 ms until Redis holds its entry; returns how long that took.
async fn wait_until_cached(server: &RedisServer, cache: &Cache, id: u64) -> Duration {
    let start = Instant::now();
    let calls = Calls::default();
    let key = format!("user:{id}");
    let mut redis = server.client();
    loop {
        assert_eq!(get_user(cache, &calls, id).await, Ok(format!("user {id}")));
        if redis.exists::<_, bool>(&key).unwrap() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "caching did not resume within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn connection_refused_at_start_up() {
    let url = format!("redis://127.0.0.1:{}", RedisServer::unused_port());
    let cache = Cache::builder()
        .url(url)
        .op_timeout(OP_TIMEOUT)
        .build()
        .unwrap();
    let max = summarize("refused", &mut burst(&cache, 20, 20).await);
    assert!(max <= OP_TIMEOUT + MARGIN, "a call waited {max:?}");
    let stats = cache.stats();
    assert_eq!(stats.hits, 0);
    assert_eq!(stats.misses, 40);
    assert!(stats.errors >= 3 && stats.breaker_skips >= 1, "{stats:?}");
}

#[test]
fn building_a_cache_never_connects() {
    // No runtime, nothing listening: building must still succeed at once.
    let url = format!("redis://127.0.0.1:{}", RedisServer::unused_port());
    let start = Instant::now();
    Cache::redis(&url).expect("a well-formed URL builds");
    assert!(start.elapsed() < Duration::from_millis(50));
    assert!(Cache::redis("http://nope").is_err());
    assert!(Cache::builder().op_timeout(Duration::ZERO).build().is_err());
}

#[test]
fn out_of_range_options_are_refused_when_building() {
    // Each of these used to build, then panic inside a call (an overflowing cooldown) or
    // silently cache nothing (an expiry Redis refuses).
    let refused = |builder: redcache::CacheBuilder, option: &str| {
        let error = builder.build().expect_err(option).to_string();
        assert!(error.contains(option), "{error}");
        assert!(
            error.contains("out of range") || error.contains("at least"),
            "{error}"
        );
    };
    refused(
        Cache::builder().breaker_cooldown(Duration::MAX),
        "breaker_cooldown",
    );
    refused(
        Cache::builder().lease_timeout(Duration::MAX),
        "lease_timeout",
    );
    refused(
        Cache::builder().op_timeout(Duration::from_secs(3600)),
        "op_timeout",
    );
    refused(Cache::builder().lock_wait(Duration::MAX), "lock_wait");
    refused(Cache::builder().memory_capacity(0), "memory_capacity");
    assert!(
        Cache::builder()
            .breaker_cooldown(Duration::from_secs(3600))
            .lease_timeout(Duration::from_secs(24 * 3600))
            .build()
            .is_ok(),
        "the limits themselves are accepted"
    );
}

#[tokio::test]
async fn secrets_are_never_printed() {
    const SECRET: &str = "s3cr3t-pa55";
    let logs = logs::CapturedLogs::capture();

    let url = format!(
        "redis://admin:{SECRET}@127.0.0.1:{}/2",
        RedisServer::unused_port()
    );
    let builder = Cache::builder().url(&url).op_timeout(OP_TIMEOUT);
    assert!(!format!("{builder:?}").contains(SECRET));
    let cache = builder.build().unwrap();
    burst(&cache, 5, 0).await; // fails: logs errors
    let debug = format!("{cache:?}");
    assert!(
        debug.contains("127.0.0.1") && !debug.contains(SECRET),
        "{debug}"
    );

    let malformed = format!("redis://admin:{SECRET}@127.0.0.1:notaport");
    let error = Cache::redis(&malformed).expect_err("malformed");
    assert!(!format!("{error} {error:?}").contains(SECRET), "{error:?}");

    let logs = logs.text();
    assert!(
        logs.contains("cache operation failed"),
        "failures are logged: {logs}"
    );
    assert!(!logs.contains(SECRET), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_out_of_memory_fails_open() {
    let server =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let mut redis = server.client();
    let filler = vec![b'x'; 64 * 1024];
    let mut filled = 0;
    while redis
        .set::<_, _, ()>(format!("filler:{filled}"), &filler)
        .is_ok()
    {
        filled += 1;
        assert!(filled < 1_000, "maxmemory was not enforced");
    }
    let cache = server.cache();
    let max = summarize("out of memory", &mut burst(&cache, 20, 30).await);
    assert!(max <= OP_TIMEOUT + MARGIN, "a call waited {max:?}");
    let stats = cache.stats();
    assert_eq!(stats.writes, 0, "nothing could be written: {stats:?}");
    assert!(stats.errors >= 1, "OOM answers are counted: {stats:?}");
    assert_eq!(
        stats.breaker_skips, 0,
        "Redis is up, so the breaker stays closed: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_is_cut_off_at_the_op_timeout() {
    let server = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let cache = server.cache();
    warm(&cache).await;
    let url = server.url();
    let sleeper = std::thread::spawn(move || {
        let mut redis = redis::Client::open(url).unwrap().get_connection().unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("1")
            .query::<()>(&mut redis)
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(50)).await; // let DEBUG SLEEP start
    let max = summarize("slow (DEBUG SLEEP 1)", &mut burst(&cache, 10, 30).await);
    assert!(max <= OP_TIMEOUT + MARGIN, "a call waited {max:?}");
    assert!(cache.stats().errors >= 1);
    sleeper.join().unwrap();
}
