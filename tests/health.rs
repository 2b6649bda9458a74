//! Health and stats (SPEC §12): `Cache::ping` is bounded and never shows the URL,
//! `Cache::health` reports what the fail-open policy saw (reachability, the breaker, pending
//! invalidations) without a round trip, and `Stats` and `Health` serialize.

mod support;

use std::time::{Duration, Instant};

use redcache::{Cache, Error, cache, invalidate};
use support::RedisServer;

/// The op timeout of every Redis cache here.
const OP_TIMEOUT: Duration = Duration::from_millis(100);
/// The breaker cooldown of every Redis cache here.
const COOLDOWN: Duration = Duration::from_millis(200);
/// Slack for a loaded machine on top of a bound.
const MARGIN: Duration = Duration::from_millis(400);

#[cache(key = "health:<id>", ttl = 60, skip(cache), cache = cache)]
async fn lookup(cache: &Cache, id: u64) -> u64 {
    id * 2
}

#[invalidate(key = "health:<id>", cache = cache)]
async fn forget(cache: &Cache, id: u64) {}

fn redis_cache(server: &RedisServer) -> Cache {
    Cache::builder()
        .url(server.url())
        .op_timeout(OP_TIMEOUT)
        .breaker_cooldown(COOLDOWN)
        .build()
        .expect("valid url")
}

/// Opens the breaker: three cached calls that time out against the paused server. Leaves
/// the server paused.
async fn open_breaker(server: &mut RedisServer, cache: &Cache) {
    assert!(cache.ping().await.is_ok(), "connect first");
    server.pause();
    for id in 100..103 {
        assert_eq!(
            lookup(cache, id).await,
            id * 2,
            "fail-open: the body answers"
        );
    }
    assert!(cache.stats().errors >= 3, "{:?}", cache.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_answers_with_the_round_trip_within_the_op_timeout() {
    let server = RedisServer::start();
    let cache = redis_cache(&server);
    let pings_before = server.command_calls("ping"); // start-up waits with PING too
    // The first ping also connects.
    cache.ping().await.expect("first ping");
    let start = Instant::now();
    let round_trip = cache.ping().await.expect("redis answers");
    assert!(round_trip <= start.elapsed(), "{round_trip:?}");
    assert!(round_trip < OP_TIMEOUT, "{round_trip:?}");
    let health = cache.health();
    assert_eq!(health.store, "redis");
    assert!(health.reachable && !health.breaker_open, "{health:?}");
    assert_eq!(server.command_calls("ping") - pings_before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_to_a_paused_server_fails_within_the_op_timeout_and_names_no_url() {
    let mut server = RedisServer::start();
    let cache = Cache::builder()
        .url(format!(
            "redis://user:hunter2secret@127.0.0.1:{}",
            server.port()
        ))
        .op_timeout(OP_TIMEOUT)
        .build()
        .expect("valid url");
    // AUTH with a user the server does not know fails; ping a plain cache for the timing and
    // check the message of both.
    let plain = redis_cache(&server);
    plain.ping().await.expect("connect first");
    server.pause();
    let start = Instant::now();
    let error = plain
        .ping()
        .await
        .expect_err("a paused server does not answer");
    let took = start.elapsed();
    assert!(took < OP_TIMEOUT + MARGIN, "ping took {took:?}");
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    assert!(!plain.health().reachable);
    assert_eq!(plain.stats().errors, 1, "a failed ping is counted");
    let secret = cache.ping().await.expect_err("no answer");
    server.resume();
    let port = server.port().to_string();
    for error in [error, secret] {
        for shown in [error.to_string(), format!("{error:?}")] {
            for leak in ["redis://", "127.0.0.1", port.as_str(), "hunter2", "user:"] {
                assert!(!shown.contains(leak), "{shown:?} shows {leak:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_failures_open_the_breaker_and_a_call_after_the_cooldown_brings_reachable_back() {
    let mut server = RedisServer::start();
    let cache = redis_cache(&server);
    assert!(cache.health().reachable, "nothing has failed yet");
    open_breaker(&mut server, &cache).await;
    let health = cache.health();
    assert!(health.breaker_open, "{health:?}");
    assert!(!health.reachable, "{health:?}");
    // Skipped by the open breaker: at once.
    let start = Instant::now();
    let error = cache.ping().await.expect_err("breaker open");
    assert!(start.elapsed() < MARGIN, "{:?}", start.elapsed());
    assert!(error.to_string().contains("breaker"), "{error}");

    server.resume();
    tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
    // One call probes Redis and closes the breaker; allow a second cooldown on a slow box.
    let deadline = Instant::now() + COOLDOWN * 10;
    let mut id = 200;
    while !cache.health().reachable {
        assert!(Instant::now() < deadline, "{:?}", cache.health());
        assert_eq!(lookup(&cache, id).await, id * 2);
        id += 1;
        if !cache.health().reachable {
            tokio::time::sleep(COOLDOWN).await;
        }
    }
    let health = cache.health();
    assert!(health.reachable && !health.breaker_open, "{health:?}");
    cache.ping().await.expect("answers again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_invalidations_shows_an_invalidation_kept_while_the_breaker_is_open() {
    let mut server = RedisServer::start();
    let cache = redis_cache(&server);
    assert_eq!(cache.health().pending_invalidations, 0);
    open_breaker(&mut server, &cache).await;
    forget(&cache, 7).await;
    let health = cache.health();
    assert_eq!(health.pending_invalidations, 1, "{health:?}");
    assert_eq!(
        health.pending_invalidations,
        cache.stats().invalidations_pending
    );

    server.resume();
    let deadline = Instant::now() + COOLDOWN * 20;
    while cache.health().pending_invalidations != 0 {
        assert!(
            Instant::now() < deadline,
            "not delivered: {:?}",
            cache.health()
        );
        // Calls keep going while it is kept; one of them finds Redis back.
        lookup(&cache, 7).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_memory_cache_is_reachable_with_the_breaker_closed() {
    let cache = Cache::memory();
    let health = cache.health();
    assert_eq!(health.store, "memory");
    assert!(health.reachable, "{health:?}");
    assert!(!health.breaker_open && !health.near_armed, "{health:?}");
    assert_eq!(health.pending_invalidations, 0);
    let round_trip = cache.ping().await.expect("memory always answers");
    assert!(round_trip < Duration::from_millis(50), "{round_trip:?}");
}

#[tokio::test]
async fn stats_and_health_serialize_with_serde() {
    let cache = Cache::memory();
    assert_eq!(lookup(&cache, 1).await, 2);
    assert_eq!(lookup(&cache, 1).await, 2);
    let stats = serde_json::to_value(cache.stats()).expect("stats serialize");
    assert_eq!(stats["hits"], 1, "{stats}");
    assert_eq!(stats["misses"], 1, "{stats}");
    assert_eq!(stats["errors"], 0, "{stats}");
    assert_eq!(stats["writes"], 1, "{stats}");
    let text = serde_json::to_string(&cache.stats()).expect("stats serialize");
    assert!(
        text.starts_with('{') && text.contains("\"invalidations_pending\":0"),
        "{text}"
    );

    let health = serde_json::to_value(cache.health()).expect("health serializes");
    assert_eq!(health["store"], "memory", "{health}");
    assert_eq!(health["reachable"], true, "{health}");
    assert_eq!(health["breaker_open"], false, "{health}");
    assert_eq!(health["near_armed"], false, "{health}");
    assert_eq!(health["pending_invalidations"], 0, "{health}");
}
