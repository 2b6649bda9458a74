//! Metrics (SPEC §12, feature `metrics`, on in this suite): cached calls by function and
//! outcome, Redis operation time, absorbed errors by kind, the breaker and pending
//! invalidations, read back from `metrics-util`'s `DebuggingRecorder`.
//!
//! Each test installs its own recorder on its thread (`metrics::with_local_recorder`) and
//! runs a current-thread runtime inside, so every task of the test records there and tests
//! running in parallel do not see each other's metrics.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use redcache::{Cache, cache, cache_batch, invalidate};
use redis::Commands;
use support::RedisServer;

#[cache(key = "user:<id>", ttl = 60, skip(cache), cache = cache)]
async fn get_user(cache: &Cache, id: u64) -> String {
    format!("user {id}")
}

#[cache(key = "team:<id>", ttl = 60, skip(cache), cache = cache)]
async fn get_team(cache: &Cache, id: u64) -> u64 {
    id
}

#[invalidate(key = "user:<id>", cache = cache)]
async fn forget_user(cache: &Cache, id: u64) {}

#[cache_batch(key = "member:<ids>", ttl = 60, skip(cache), cache = cache)]
async fn get_members(cache: &Cache, ids: &[u64]) -> std::collections::HashMap<u64, u64> {
    ids.iter().map(|id| (*id, *id)).collect()
}

/// A metric: its name and its labels, `key=value`, sorted.
type Id = (String, Vec<String>);

/// What was recorded, added up over snapshots (a snapshot of the `DebuggingRecorder`
/// drains counters, gauges and histograms alike).
#[derive(Default, Debug)]
struct Seen {
    counters: BTreeMap<Id, u64>,
    gauges: BTreeMap<Id, f64>,
    histograms: BTreeMap<Id, Vec<f64>>,
}

impl Seen {
    fn read(&mut self, snapshotter: &Snapshotter) {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            labels.sort();
            let id = (key.name().to_owned(), labels);
            match value {
                DebugValue::Counter(n) => *self.counters.entry(id).or_default() += n,
                DebugValue::Gauge(v) => *self.gauges.entry(id).or_default() += v.0,
                DebugValue::Histogram(vs) => self
                    .histograms
                    .entry(id)
                    .or_default()
                    .extend(vs.iter().map(|v| v.0)),
            }
        }
    }

    fn counter(&self, name: &str, labels: &[&str]) -> u64 {
        self.counters.get(&id(name, labels)).copied().unwrap_or(0)
    }

    /// `redcache.calls` of this test file's `function` with `outcome`.
    fn calls(&self, function: &str, outcome: &str) -> u64 {
        self.counter(
            "redcache.calls",
            &[
                &format!("function=metrics::{function}"),
                &format!("outcome={outcome}"),
            ],
        )
    }

    fn gauge(&self, name: &str) -> f64 {
        self.gauges.get(&id(name, &[])).copied().unwrap_or(0.0)
    }

    fn histogram(&self, name: &str, labels: &[&str]) -> &[f64] {
        self.histograms
            .get(&id(name, labels))
            .map_or(&[], Vec::as_slice)
    }
}

fn id(name: &str, labels: &[&str]) -> Id {
    let mut labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// Runs `test` on a current-thread runtime with a recorder of its own; `test` gets a way to
/// read what was recorded so far.
fn with_recorder<F, Fut>(test: F)
where
    F: FnOnce(Box<dyn Fn() -> Seen>) -> Fut,
    Fut: Future<Output = ()>,
{
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Seen::default()));
    let read = {
        let seen = seen.clone();
        Box::new(move || {
            let mut all = seen.borrow_mut();
            all.read(&snapshotter);
            Seen {
                counters: all.counters.clone(),
                gauges: all.gauges.clone(),
                histograms: all.histograms.clone(),
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(&recorder, || runtime.block_on(test(read)));
}

#[test]
fn calls_are_counted_by_function_and_outcome() {
    with_recorder(|read| async move {
        let cache = Cache::memory();
        get_user(&cache, 1).await;
        get_user(&cache, 1).await;
        get_user(&cache, 1).await;
        get_team(&cache, 2).await;

        let seen = read();
        let calls = |function: &str, outcome: &str| seen.calls(function, outcome);
        assert_eq!(calls("get_user", "miss"), 1, "{seen:?}");
        assert_eq!(calls("get_user", "hit"), 2);
        assert_eq!(calls("get_team", "miss"), 1);
        assert_eq!(calls("get_team", "hit"), 0);
        // The memory store sends no Redis operation.
        assert!(seen.histograms.is_empty(), "{seen:?}");
    });
}

#[test]
fn redis_operations_are_timed_by_op() {
    let server = RedisServer::start();
    with_recorder(|read| async move {
        let cache = server.cache();
        get_user(&cache, 1).await; // GET, SET NX (lease), EVALSHA (write)
        get_user(&cache, 1).await; // GET

        let seen = read();
        let gets = seen.histogram("redcache.redis.duration", &["op=GET"]);
        assert_eq!(gets.len(), 2, "{seen:?}");
        assert!(
            gets.iter().all(|&secs| secs > 0.0 && secs < 1.0),
            "seconds: {gets:?}"
        );
        assert_eq!(
            seen.histogram("redcache.redis.duration", &["op=SET NX"])
                .len(),
            1,
            "{seen:?}"
        );
        let calls = seen.counter(
            "redcache.calls",
            &["function=metrics::get_user", "outcome=hit"],
        );
        assert_eq!(calls, 1);
    });
}

#[test]
fn absorbed_errors_are_counted_by_kind() {
    let server = RedisServer::start();
    with_recorder(|read| async move {
        let cache = server.cache();
        let _: () = server.client().set("user:5", "not ours").unwrap();
        assert_eq!(get_user(&cache, 5).await, "user 5");

        let seen = read();
        assert_eq!(
            seen.counter("redcache.errors", &["kind=decode"]),
            1,
            "{seen:?}"
        );
        assert_eq!(seen.counter("redcache.errors", &["kind=unavailable"]), 0);
    });
}

#[test]
fn the_breaker_and_pending_invalidations_are_gauges() {
    let mut server = RedisServer::start();
    with_recorder(|read| async move {
        let cache = Cache::builder()
            .url(server.url())
            .op_timeout(Duration::from_millis(100))
            .breaker_cooldown(Duration::from_millis(200))
            .build()
            .expect("valid url");
        cache.ping().await.expect("connect first");
        server.pause();
        for id in 10..13 {
            get_user(&cache, id).await;
        }
        forget_user(&cache, 10).await; // not delivered: pending

        let seen = read();
        assert!(cache.health().breaker_open);
        assert_eq!(seen.gauge("redcache.breaker.open"), 1.0, "{seen:?}");
        assert!(seen.counter("redcache.errors", &["kind=unavailable"]) >= 3);
        assert_eq!(seen.gauge("redcache.invalidations.pending"), 1.0);
        assert!(
            seen.counter(
                "redcache.calls",
                &["function=metrics::get_user", "outcome=bypassed"]
            ) + seen.counter(
                "redcache.calls",
                &["function=metrics::get_user", "outcome=miss"]
            ) == 3
        );

        server.resume();
        // The delivery task retries; once Redis answers, the breaker closes and the
        // invalidation is delivered.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while cache.health().pending_invalidations > 0 || cache.health().breaker_open {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                cache.health()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen = read();
        assert_eq!(seen.gauge("redcache.breaker.open"), 0.0, "{seen:?}");
        assert_eq!(seen.gauge("redcache.invalidations.pending"), 0.0);
    });
}

#[test]
fn batches_and_the_near_cache_are_reported() {
    let server = RedisServer::start();
    with_recorder(|read| async move {
        let cache = Cache::builder()
            .url(server.url())
            .near_cache(1_000)
            .build()
            .expect("valid url");
        get_members(&cache, &[1, 2, 3]).await;
        get_members(&cache, &[1, 2, 3]).await;

        // Near hits once the near cache is armed: a miss, a Redis hit that fills the copy,
        // then hits from the copy.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !cache.health().near_armed {
            assert!(tokio::time::Instant::now() < deadline, "never armed");
            get_user(&cache, 1).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for _ in 0..3 {
            get_user(&cache, 2).await;
        }
        // The gauge is brought up to date at each heartbeat (every 500 ms).
        tokio::time::sleep(Duration::from_millis(1_200)).await;

        let seen = read();
        let calls = |function: &str, outcome: &str| seen.calls(function, outcome);
        assert_eq!(calls("get_members", "miss"), 1, "{seen:?}");
        assert_eq!(calls("get_members", "hit"), 1);
        assert!(calls("get_user", "near_hit") >= 1, "{seen:?}");
        assert!(seen.gauge("redcache.near.entries") >= 1.0, "{seen:?}");
        drop(cache);
        assert_eq!(
            read().gauge("redcache.near.entries"),
            0.0,
            "the share is taken back"
        );
    });
}
