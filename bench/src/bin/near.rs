//! The near cache, measured (issue 10). Starts its own `redis-server`; one run prints:
//!
//! - hit latency (p50 of batches): near hit vs hand-written moka get+clone vs Redis hit;
//! - hot-key throughput, 64 tasks on one key: near vs Redis only;
//! - propagation between two real processes: from the invalidating call's return in this
//!   process to the other process (a child of this one) no longer serving the old value;
//! - RSS per 100,000 near-cache entries.
//!
//! ```text
//! cargo run --release -p redcache-bench --bin near
//! ```

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redcache::{Cache, cache, invalidate};
use redcache_bench::{Profile, load, rss_kb};
use support::RedisServer;

const KEYS: u64 = 1_000;
const TASKS: usize = 64;
const WINDOW: Duration = Duration::from_millis(1_500);
const PROPAGATIONS: usize = 500;
/// The invalidation load of the second propagation run: the issue asks for 50,000 a second.
const LOAD_RATE: u64 = 50_000;
const LOAD_TASKS: usize = 32;

static NEAR: OnceLock<Cache> = OnceLock::new();
static REDIS: OnceLock<Cache> = OnceLock::new();
static MOKA: LazyLock<moka::sync::Cache<u64, Profile>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(3600))
        .build()
});

fn near() -> &'static Cache {
    NEAR.get().expect("set in main")
}

fn redis_only() -> &'static Cache {
    REDIS.get().expect("set in main")
}

#[cache(key = "profile:<id>", ttl = 3600, cache = near())]
async fn near_profile(id: u64) -> Profile {
    load(id)
}

#[cache(key = "profile:<id>", ttl = 3600, cache = redis_only())]
async fn redis_profile(id: u64) -> Profile {
    load(id)
}

async fn moka_profile(id: u64) -> Profile {
    if let Some(profile) = MOKA.get(&id) {
        return profile;
    }
    let profile = load(id);
    MOKA.insert(id, profile.clone());
    profile
}

/// Median per-call time over batches of sequential calls.
async fn batched_p50<F, Fut>(call: F, batch: u64) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Profile>,
{
    let mut per_call = Vec::new();
    for round in 0..25 {
        let start = Instant::now();
        for i in 0..batch {
            std::hint::black_box(call((round * batch + i) % KEYS).await);
        }
        per_call.push(start.elapsed() / batch as u32);
    }
    per_call.sort();
    per_call[per_call.len() / 2]
}

/// Calls per second of `TASKS` tasks calling one key.
async fn hot_key<F, Fut>(call: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Profile> + Send,
{
    let calls = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + WINDOW;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let calls = calls.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    for _ in 0..64 {
                        std::hint::black_box(call(7).await);
                    }
                    calls.fetch_add(64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    calls.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64()
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
}

fn near_cache(url: &str, entries: u64) -> Cache {
    Cache::builder()
        .url(url)
        .near_cache(entries)
        .build()
        .expect("valid options")
}

// Propagation: the value is a version that the "database" (a plain Redis key outside the
// cache's entries) holds.
static DB: OnceLock<redis::Client> = OnceLock::new();
static DB_CONNECTION: tokio::sync::OnceCell<redis::aio::MultiplexedConnection> =
    tokio::sync::OnceCell::const_new();

async fn db() -> redis::aio::MultiplexedConnection {
    DB_CONNECTION
        .get_or_init(|| async {
            let client = DB.get().expect("set");
            client.get_multiplexed_async_connection().await.expect("db")
        })
        .await
        .clone()
}

#[cache(key = "prop:version", ttl = 3600, cache = near())]
async fn version() -> u64 {
    let mut db = db().await;
    redis::cmd("GET")
        .arg("db:version")
        .query_async::<Option<u64>>(&mut db)
        .await
        .expect("db read")
        .unwrap_or(0)
}

#[invalidate(key = "prop:version", cache = near())]
async fn bump_version(to: u64) {
    let mut db = db().await;
    redis::cmd("SET")
        .arg("db:version")
        .arg(to)
        .query_async::<()>(&mut db)
        .await
        .expect("db write");
}

/// The other process: reads the version in a loop and prints, for each new version, when the
/// first read that returned it started (the old copy was gone from L1 by then: a read that
/// finds it returns it).
async fn reader(url: String) {
    DB.set(redis::Client::open(url.as_str()).expect("url")).ok();
    NEAR.set(near_cache(&url, 1000)).ok();
    let mut out = std::io::stdout();
    let mut last = u64::MAX;
    let mut ready = false;
    loop {
        let started = unix_ns();
        let seen = version().await;
        if !ready && near().health().near_armed && near().stats().near_hits > 100 {
            ready = true;
            writeln!(out, "ready").ok();
            out.flush().ok();
        }
        if seen != last {
            writeln!(out, "{seen} {started}").ok();
            out.flush().ok();
            last = seen;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("reader") {
        reader(args.next().expect("url")).await;
        return;
    }
    let server = RedisServer::start();
    let url = server.url();
    DB.set(redis::Client::open(url.as_str()).expect("url")).ok();
    NEAR.set(near_cache(&url, 100_000)).ok();
    REDIS.set(Cache::redis(&url).expect("url")).ok();

    // Warm: every key in Redis, then in L1 (the first fills may be discarded by the
    // invalidation messages of our own writes).
    for id in 0..KEYS {
        redis_profile(id).await;
        moka_profile(id).await;
    }
    while !near().health().near_armed {
        near_profile(0).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        for id in 0..KEYS {
            near_profile(id).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    println!("hit latency, p50 of 25 batches, {KEYS} keys, ~200-byte value (Clone)");
    let (mut near_p50, mut moka_p50, mut redis_p50) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        near_p50.push(batched_p50(near_profile, 2_000).await);
        moka_p50.push(batched_p50(moka_profile, 2_000).await);
        redis_p50.push(batched_p50(redis_profile, 100).await);
    }
    let best = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (n, m, r) = (
        best(&mut near_p50),
        best(&mut moka_p50),
        best(&mut redis_p50),
    );
    let stats = near().stats();
    println!("  near hit            {n:>10.1?}");
    println!("  moka get+clone      {m:>10.1?}");
    println!("  redis hit           {r:>10.1?}");
    println!(
        "  near / moka {:.2}x   redis / near {:.0}x   (near_hits {}, hits {})",
        n.as_secs_f64() / m.as_secs_f64(),
        r.as_secs_f64() / n.as_secs_f64(),
        stats.near_hits,
        stats.hits
    );

    println!("hot key, {TASKS} tasks, one key, {WINDOW:?}");
    near_profile(7).await;
    redis_profile(7).await;
    let near_rate = hot_key(near_profile).await;
    let redis_rate = hot_key(redis_profile).await;
    let moka_rate = hot_key(moka_profile).await;
    println!("  near                {:>10.0} calls/s", near_rate);
    println!("  moka get+clone      {:>10.0} calls/s", moka_rate);
    println!("  redis only          {:>10.0} calls/s", redis_rate);
    println!("  near / redis {:.0}x", near_rate / redis_rate);

    println!("propagation between two processes, {PROPAGATIONS} invalidations at rest");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["reader", &url])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn reader");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    while lines_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("reader ready")
        != "ready"
    {}
    let at_rest = propagation(&lines_rx, 1).await;
    print_delays(&at_rest);

    // The same with another stream of invalidations going on, as fast as LOAD_TASKS tasks
    // can send them, up to LOAD_RATE a second: writes of other keys (`Cache::set`), each of
    // which Redis broadcasts to every tracking connection, the reader's included (deleting a
    // key that is not there would send nothing).
    let stop = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..LOAD_TASKS)
        .map(|task| {
            let (stop, sent) = (stop.clone(), sent.clone());
            tokio::spawn(async move {
                let per_task = Duration::from_secs_f64(LOAD_TASKS as f64 / LOAD_RATE as f64);
                let mut next = Instant::now();
                let mut i = task as u64;
                while stop.load(Ordering::Relaxed) == 0 {
                    near()
                        .set(&format!("load:{i}"), &i, Duration::from_secs(60))
                        .await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    i = (i + LOAD_TASKS as u64) % 100_000;
                    next += per_task;
                    tokio::time::sleep_until(next.into()).await;
                }
            })
        })
        .collect();
    let load_started = Instant::now();
    let (writes_before, errors_before) = (near().stats().writes, near().stats().errors);
    let under_load = propagation(&lines_rx, PROPAGATIONS as u64 + 1).await;
    let rate = sent.load(Ordering::Relaxed) as f64 / load_started.elapsed().as_secs_f64();
    stop.store(1, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    let stats = near().stats();
    println!(
        "propagation between two processes, {PROPAGATIONS} invalidations with {rate:.0} other invalidations/s going on (target {LOAD_RATE}/s; {} stored, {} errors)",
        stats.writes - writes_before,
        stats.errors - errors_before
    );
    print_delays(&under_load);
    child.kill().ok();
    child.wait().ok();

    println!("RSS per 100,000 near-cache entries");
    let before_rss = rss_kb();
    let base = 10_000_000;
    for _ in 0..3 {
        let tasks: Vec<_> = (0..TASKS as u64)
            .map(|task| {
                tokio::spawn(async move {
                    let mut id = base + task;
                    while id < base + 100_000 {
                        near_profile(id).await;
                        id += TASKS as u64;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before_hits = near().stats().near_hits;
    for id in base..base + 100_000 {
        near_profile(id).await;
    }
    let in_l1 = near().stats().near_hits - before_hits;
    let after_rss = rss_kb();
    println!(
        "  {in_l1} of 100000 entries served from L1; RSS {before_rss} kB -> {after_rss} kB: +{} kB ({:.0} bytes per entry)",
        after_rss.saturating_sub(before_rss),
        (after_rss.saturating_sub(before_rss) * 1024) as f64 / in_l1.max(1) as f64
    );
    drop(server);
}

/// Invalidates the version `PROPAGATIONS` times, starting at `first`, and returns for each the
/// time from the invalidating call's return to the reader process first reading the new
/// version (ns; negative: before the call returned).
async fn propagation(lines: &std::sync::mpsc::Receiver<String>, first: u64) -> Vec<i128> {
    let mut delays = Vec::new();
    for to in first..first + PROPAGATIONS as u64 {
        // Make sure we serve it from L1 too before changing it.
        version().await;
        bump_version(to).await;
        let returned = unix_ns();
        assert_eq!(
            version().await,
            to,
            "this process never serves the old value"
        );
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(5))
                .expect("reader saw the change");
            let mut parts = line.split(' ');
            let (seen, at) = (parts.next().unwrap_or(""), parts.next().unwrap_or("0"));
            if seen == to.to_string() {
                let at: i128 = at.parse().expect("ns");
                delays.push(at - returned as i128);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    delays.sort();
    delays
}

fn print_delays(delays: &[i128]) {
    let at = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    println!(
        "  from the invalidating call's return (negative: before it), µs: min {:.0}  p50 {:.0}  p99 {:.0}  max {:.0}",
        at(0.0),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
