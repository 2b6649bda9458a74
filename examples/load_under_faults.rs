//! Load under faults: many tasks call cached functions for a fixed time while the Redis
//! behind them is killed, restarted, paused and resumed. Prints calls made, errors that
//! reached callers (must be 0), wrong values (must be 0), latency percentiles, and how long
//! caching took to come back after each fault.
//!
//! ```text
//! cargo run --release --example load_under_faults
//! ```
//!
//! It starts its own `redis-server` on a free loopback port (never 6379), sends traffic only
//! there, and stops by itself after about 12 seconds.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redcache::{Cache, cache, invalidate};
use support::RedisServer;

const TASKS: usize = 32;
const KEYS: u64 = 200;

/// Stands in for a database query: deterministic, so a wrong value is detectable.
#[cache(key = "load:item:<id>", ttl = "30s", stale = "1m", skip(cache), cache = cache)]
async fn item(cache: &Cache, id: u64) -> Result<u64, String> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(id * 7 + 1)
}

#[invalidate(key = "load:item:<id>", cache = cache)]
async fn touch_item(cache: &Cache, id: u64) -> Result<(), String> {
    Ok(())
}

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    errors: AtomicU64,
    wrong: AtomicU64,
}

#[tokio::main]
async fn main() {
    let mut server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .op_timeout(Duration::from_millis(100))
        .build()
        .expect("valid url");
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..TASKS as u64 {
        let (cache, tally, stop) = (cache.clone(), tally.clone(), stop.clone());
        workers.spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let id = (n >> 33) % KEYS;
                let start = Instant::now();
                let outcome = if n % 50 == 0 {
                    touch_item(&cache, id).await.map(|()| id * 7 + 1)
                } else {
                    item(&cache, id).await
                };
                latencies.push(start.elapsed());
                tally.calls.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(value) if value == id * 7 + 1 => {}
                    Ok(_) => drop(tally.wrong.fetch_add(1, Ordering::Relaxed)),
                    Err(_) => drop(tally.errors.fetch_add(1, Ordering::Relaxed)),
                }
            }
            latencies
        });
    }

    let at = |secs: u64| started + Duration::from_secs(secs);
    tokio::time::sleep_until(at(3).into()).await;
    println!("{:>5.1}s  SIGKILL redis", started.elapsed().as_secs_f64());
    server.kill();
    tokio::time::sleep_until(at(5).into()).await;
    server.restart();
    println!(
        "{:>5.1}s  redis restarted (empty) on the same port",
        started.elapsed().as_secs_f64()
    );
    let after_restart = recovery(&cache).await;
    println!("         caching resumed {after_restart:.0?} after the restart");
    tokio::time::sleep_until(at(7).into()).await;
    println!("{:>5.1}s  SIGSTOP redis", started.elapsed().as_secs_f64());
    server.pause();
    tokio::time::sleep_until(at(9).into()).await;
    server.resume();
    println!("{:>5.1}s  SIGCONT redis", started.elapsed().as_secs_f64());
    let after_resume = recovery(&cache).await;
    println!("         caching resumed {after_resume:.0?} after SIGCONT");
    tokio::time::sleep_until(at(12).into()).await;
    stop.store(true, Ordering::Relaxed);

    let mut latencies = Vec::new();
    while let Some(worker) = workers.join_next().await {
        latencies.extend(worker.expect("worker"));
    }
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let stats = cache.stats();
    println!();
    println!("tasks                 {TASKS}");
    println!("duration              {:.1?}", started.elapsed());
    println!(
        "calls                 {}",
        tally.calls.load(Ordering::Relaxed)
    );
    println!(
        "errors surfaced       {}",
        tally.errors.load(Ordering::Relaxed)
    );
    println!(
        "wrong values          {}",
        tally.wrong.load(Ordering::Relaxed)
    );
    println!("latency p50           {:.1?}", percentile(0.50));
    println!("latency p99           {:.1?}", percentile(0.99));
    println!(
        "latency max           {:.1?}",
        latencies.last().expect("calls")
    );
    println!("recovery after restart {after_restart:.0?}, after SIGCONT {after_resume:.0?}");
    println!(
        "cache stats           {} hits, {} misses, {} errors absorbed, {} breaker skips, {} coalesced, {} stale served",
        stats.hits,
        stats.misses,
        stats.errors,
        stats.breaker_skips,
        stats.coalesced,
        stats.stale_served
    );
    let failures = tally.errors.load(Ordering::Relaxed) + tally.wrong.load(Ordering::Relaxed);
    if failures > 0 {
        eprintln!("FAILED: {failures} calls got an error or a wrong value");
        std::process::exit(1);
    }
}

/// How long until the cache writes to Redis again, watching the counters.
async fn recovery(cache: &Cache) -> Duration {
    let start = Instant::now();
    let writes = cache.stats().writes;
    while cache.stats().writes == writes && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}
