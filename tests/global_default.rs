//! Without `set_global`, the macros use Redis at `REDIS_URL` if set, else the memory store,
//! and say which once in the log; `set_global` afterwards is an error.
//!
//! The global cache is chosen once per process from the environment, so each test re-runs
//! itself in a child process with the environment it needs (and never follows a `REDIS_URL`
//! that happens to be exported in the developer's shell).

#[path = "support/logs.rs"]
mod logs;
mod support;

use std::process::Command;

use redcache::{cache, invalidate};
use redis::Commands;
use support::{Calls, RedisServer};

#[cache(key = "global:<id>", ttl = 60, skip(calls))]
async fn lookup(calls: &Calls, id: u64) -> u64 {
    calls.hit();
    id * 2
}

#[invalidate(key = "global:<id>")]
async fn forget(id: u64) {}

const CHILD: &str = "REDCACHE_TEST_CHILD";

/// In the parent: runs `test` alone in a child process with `REDIS_URL` set to `redis_url`
/// (or removed) and asserts it passed. Returns whether this process is that child.
fn in_child(test: &str, redis_url: Option<&str>) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    child.env(CHILD, "1");
    match redis_url {
        Some(url) => child.env("REDIS_URL", url),
        None => child.env_remove("REDIS_URL"),
    };
    let output = child.output().expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child run of {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    false
}

/// Runs the cached and invalidating functions and returns what was logged.
async fn exercise_global_cache() -> String {
    let logs = logs::CapturedLogs::capture();

    let calls = Calls::default();
    assert_eq!(lookup(&calls, 21).await, 42);
    assert_eq!(lookup(&calls, 21).await, 42);
    assert_eq!(calls.count(), 1);
    forget(21).await;
    assert_eq!(lookup(&calls, 21).await, 42);
    assert_eq!(calls.count(), 2);
    assert_eq!(redcache::global().stats().hits, 1);

    let error = redcache::set_global(redcache::Cache::memory()).expect_err("already in use");
    assert!(matches!(error, redcache::Error::GlobalAlreadySet));
    logs.text()
}

#[tokio::test]
async fn memory_store_when_redis_url_is_unset() {
    if !in_child("memory_store_when_redis_url_is_unset", None) {
        return;
    }
    let logs = exercise_global_cache().await;
    let announcement = "REDIS_URL is not set: caching in process memory";
    assert_eq!(logs.matches(announcement).count(), 1, "{logs}");
}

#[tokio::test]
async fn redis_when_redis_url_is_set() {
    if std::env::var_os(CHILD).is_none() {
        let server = RedisServer::start();
        in_child("redis_when_redis_url_is_set", Some(&server.url()));
        let keys: Vec<String> = server.client().keys("*").unwrap();
        assert_eq!(keys, ["global:21"], "the child cached in our server");
        return;
    }
    let logs = exercise_global_cache().await;
    assert_eq!(
        logs.matches("global cache: Redis from REDIS_URL").count(),
        1,
        "{logs}"
    );
}

#[tokio::test]
async fn caching_is_disabled_when_redis_url_is_malformed() {
    // A private memory store would cache on its own and miss every other process's
    // invalidations: stale data. Caching is off instead, and says why.
    const URL: &str = "http://admin:s3cr3t-pa55@nowhere:6379";
    if !in_child("caching_is_disabled_when_redis_url_is_malformed", Some(URL)) {
        return;
    }
    let logs = logs::CapturedLogs::capture();
    let calls = Calls::default();
    assert_eq!(lookup(&calls, 21).await, 42);
    assert_eq!(lookup(&calls, 21).await, 42);
    forget(21).await;
    assert_eq!(calls.count(), 2, "nothing was cached");
    let health = redcache::global().health();
    assert_eq!(health.store, "disabled");
    assert!(!health.reachable);
    let reason = health.disabled.expect("a reason");
    assert!(reason.contains("REDIS_URL"), "{reason}");
    let logs = logs.text();
    assert_eq!(logs.matches("caching is disabled").count(), 1, "{logs}");
    assert!(
        !logs.contains("s3cr3t") && !reason.contains("s3cr3t"),
        "{logs}"
    );
}
