//! Side-by-side benchmarks, in one run with interleaved rounds:
//!
//! - (a) hand-written cache-aside with redis-rs on a `ConnectionManager`
//! - (b) `#[cache]` on Redis
//! - (c) the `cached` crate's `#[concurrent_cached]` with its async Redis store
//! - (d) `#[cache]` on the memory store
//! - (e) hand-written cache-aside with `moka`
//!
//! plus `#[cache]` with Redis down and the breaker open vs the bare function, and exact-key
//! invalidation. Starts its own `redis-server` on a free loopback port.
//!
//! ```text
//! cargo run --release -p redcache-bench
//! ```

#[path = "../../tests/support/mod.rs"]
mod support;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use cached::macros::concurrent_cached;
use redcache::{Cache, cache, invalidate};
use redcache_bench::{Profile, load, median};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use support::RedisServer;

/// Override with `REDCACHE_BENCH_ROUNDS` for a quick look.
const ROUNDS: usize = 5;
const KEYS: u64 = 1_000;
const SEQUENTIAL_CALLS: u64 = 3_000;
const TASKS: usize = 64;
const THROUGHPUT_WINDOW: Duration = Duration::from_millis(1_500);

#[derive(Debug, Clone)]
struct BenchError(String);

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

static URL: OnceLock<String> = OnceLock::new();
static REDIS_CACHE: OnceLock<Cache> = OnceLock::new();
static MEMORY_CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
static DOWN_CACHE: OnceLock<Cache> = OnceLock::new();
static HAND_WRITTEN: OnceLock<ConnectionManager> = OnceLock::new();
static MOKA: LazyLock<moka::sync::Cache<u64, Profile>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(3600))
        .build()
});
static NEXT_MISS: AtomicU64 = AtomicU64::new(1_000_000);

fn redis_cache() -> &'static Cache {
    REDIS_CACHE.get().expect("set in main")
}

fn down_cache() -> &'static Cache {
    DOWN_CACHE.get().expect("set in main")
}

// (a) What a careful engineer writes by hand.
async fn hand_written(id: u64) -> Result<Profile, BenchError> {
    let mut redis = HAND_WRITTEN.get().expect("set in main").clone();
    let key = format!("hw:profile:{id}");
    if let Ok(Some(bytes)) = redis.get::<_, Option<Vec<u8>>>(&key).await {
        if let Ok(profile) = serde_json::from_slice(&bytes) {
            return Ok(profile);
        }
    }
    let profile = load(id);
    if let Ok(bytes) = serde_json::to_vec(&profile) {
        let _: Result<(), _> = redis.set_ex(&key, bytes, 3600).await;
    }
    Ok(profile)
}

async fn hand_written_invalidate(id: u64) -> Result<(), BenchError> {
    let mut redis = HAND_WRITTEN.get().expect("set in main").clone();
    let _: Result<(), _> = redis.unlink(format!("hw:profile:{id}")).await;
    Ok(())
}

// (b)
#[cache(key = "rc:profile:<id>", ttl = 3600, cache = redis_cache())]
async fn redcache_redis(id: u64) -> Result<Profile, BenchError> {
    Ok(load(id))
}

#[invalidate(key = "rc:profile:<id>", cache = redis_cache())]
async fn redcache_invalidate(id: u64) -> Result<(), BenchError> {
    Ok(())
}

// (c)
#[concurrent_cached(
    map_error = r##"|e| BenchError(format!("{e:?}"))"##,
    ty = "cached::AsyncRedisCache<u64, Profile>",
    create = r##"{
        cached::AsyncRedisCache::builder("cc:profile")
            .ttl(Duration::from_secs(3600))
            .connection_string(URL.get().expect("set in main"))
            .connection_manager(true)
            .build()
            .await
            .expect("cached crate redis store")
    }"##
)]
async fn cached_crate(id: u64) -> Result<Profile, BenchError> {
    Ok(load(id))
}

// (d)
#[cache(key = "mem:profile:<id>", ttl = 3600, cache = &MEMORY_CACHE)]
async fn redcache_memory(id: u64) -> Result<Profile, BenchError> {
    Ok(load(id))
}

// (e)
async fn hand_written_moka(id: u64) -> Result<Profile, BenchError> {
    if let Some(profile) = MOKA.get(&id) {
        return Ok(profile);
    }
    let profile = load(id);
    MOKA.insert(id, profile.clone());
    Ok(profile)
}

// Redis down, breaker open, vs no cache at all.
#[cache(key = "down:profile:<id>", ttl = 3600, cache = down_cache())]
async fn redcache_down(id: u64) -> Result<Profile, BenchError> {
    Ok(load(id))
}

async fn bare(id: u64) -> Result<Profile, BenchError> {
    Ok(load(id))
}

async fn miss_hand_written(_: u64) -> Result<Profile, BenchError> {
    hand_written(NEXT_MISS.fetch_add(1, Ordering::Relaxed)).await
}

async fn miss_redcache(_: u64) -> Result<Profile, BenchError> {
    redcache_redis(NEXT_MISS.fetch_add(1, Ordering::Relaxed)).await
}

/// Median per-call latency of sequential calls, each timed on its own.
async fn sequential_p50<T, Fut>(call: fn(u64) -> Fut) -> Duration
where
    Fut: Future<Output = Result<T, BenchError>>,
{
    let mut waits = Vec::with_capacity(SEQUENTIAL_CALLS as usize);
    for i in 0..SEQUENTIAL_CALLS {
        let start = Instant::now();
        call(i % KEYS).await.expect("call");
        waits.push(start.elapsed());
    }
    median(&mut waits)
}

/// Median per-call time over batches of calls, for calls too fast to time one by one.
async fn batched_p50<T, Fut>(call: fn(u64) -> Fut) -> Duration
where
    Fut: Future<Output = Result<T, BenchError>>,
{
    const BATCH: u32 = 2_000;
    let mut per_call = Vec::with_capacity(25);
    for _ in 0..25 {
        let start = Instant::now();
        for i in 0..BATCH {
            std::hint::black_box(call(u64::from(i) % KEYS).await.expect("call"));
        }
        per_call.push(start.elapsed() / BATCH);
    }
    median(&mut per_call)
}

/// Calls per second from `TASKS` concurrent tasks over a fixed window.
async fn throughput<T, Fut>(call: fn(u64) -> Fut) -> f64
where
    Fut: Future<Output = Result<T, BenchError>> + Send + 'static,
    T: Send + 'static,
{
    let deadline = Instant::now() + THROUGHPUT_WINDOW;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS as u64 {
        tasks.spawn(async move {
            let mut calls = 0u64;
            while Instant::now() < deadline {
                call((task * 7919 + calls) % KEYS).await.expect("call");
                calls += 1;
            }
            calls
        });
    }
    let start = Instant::now();
    let mut total = 0;
    while let Some(calls) = tasks.join_next().await {
        total += calls.expect("task");
    }
    total as f64
        / start
            .elapsed()
            .as_secs_f64()
            .max(THROUGHPUT_WINDOW.as_secs_f64())
}

fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[derive(Default)]
struct Series {
    durations: Vec<Duration>,
    rates: Vec<f64>,
}

impl Series {
    fn p50(&mut self) -> Duration {
        median(&mut self.durations)
    }

    fn rate(&mut self) -> f64 {
        median_f64(&mut self.rates)
    }
}

#[tokio::main]
async fn main() {
    let server = RedisServer::start();
    URL.set(server.url()).expect("once");
    REDIS_CACHE
        .set(Cache::redis(server.url()).expect("url"))
        .expect("once");
    let dead_port = RedisServer::unused_port();
    DOWN_CACHE
        .set(
            Cache::builder()
                .url(format!("redis://127.0.0.1:{dead_port}"))
                .breaker_cooldown(Duration::from_secs(3600))
                .build()
                .expect("url"),
        )
        .expect("once");
    let client = redis::Client::open(server.url()).expect("url");
    HAND_WRITTEN
        .set(ConnectionManager::new(client).await.expect("connect"))
        .expect("once");

    // Warm every store, and open the breaker of the dead cache.
    for id in 0..KEYS {
        hand_written(id).await.expect("warm");
        redcache_redis(id).await.expect("warm");
        cached_crate(id).await.expect("warm");
        redcache_memory(id).await.expect("warm");
        hand_written_moka(id).await.expect("warm");
    }
    for id in 0..5 {
        redcache_down(id).await.expect("fails open");
    }
    assert!(down_cache().stats().breaker_skips > 0, "breaker open");

    let mut hit = [(); 3].map(|()| Series::default());
    let mut rate = [(); 3].map(|()| Series::default());
    let mut miss = [(); 2].map(|()| Series::default());
    let mut memory = [(); 2].map(|()| Series::default());
    let mut down = [(); 2].map(|()| Series::default());
    let mut invalidation = [(); 2].map(|()| Series::default());
    let rounds = std::env::var("REDCACHE_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS);
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}");
        let misses_before = redis_cache().stats().misses;
        hit[0].durations.push(sequential_p50(hand_written).await);
        hit[1].durations.push(sequential_p50(redcache_redis).await);
        hit[2].durations.push(sequential_p50(cached_crate).await);
        rate[0].rates.push(throughput(hand_written).await);
        rate[1].rates.push(throughput(redcache_redis).await);
        rate[2].rates.push(throughput(cached_crate).await);
        assert_eq!(
            redis_cache().stats().misses,
            misses_before,
            "the Redis hit rows measured hits only"
        );
        miss[0]
            .durations
            .push(sequential_p50(miss_hand_written).await);
        miss[1].durations.push(sequential_p50(miss_redcache).await);
        memory[0]
            .durations
            .push(batched_p50(hand_written_moka).await);
        memory[1].durations.push(batched_p50(redcache_memory).await);
        down[0].durations.push(batched_p50(bare).await);
        down[1].durations.push(batched_p50(redcache_down).await);
        invalidation[0]
            .durations
            .push(sequential_p50(hand_written_invalidate).await);
        invalidation[1]
            .durations
            .push(sequential_p50(redcache_invalidate).await);
        // The invalidation rows dropped the hand-written and `#[cache]` entries (not the
        // cached crate's): cache them again, untimed, so that the next round's hit rows
        // measure hits, not a third of misses.
        for id in 0..KEYS {
            hand_written(id).await.expect("warm");
            redcache_redis(id).await.expect("warm");
        }
    }

    let ratio = |ours: Duration, theirs: Duration| ours.as_secs_f64() / theirs.as_secs_f64();
    println!(
        "redcache benchmarks: medians of {rounds} interleaved rounds, ~200-byte JSON value, redis-server on loopback"
    );
    println!();
    println!("| measurement | hand-written | #[cache] | ratio | cached crate | ratio |");
    println!("|---|---|---|---|---|---|");
    let (hw, rc, cc) = (hit[0].p50(), hit[1].p50(), hit[2].p50());
    println!(
        "| Redis hit p50, sequential | {hw:.1?} | {rc:.1?} | {:.3} | {cc:.1?} | {:.3} |",
        ratio(rc, hw),
        ratio(cc, hw)
    );
    let (hw_rate, rc_rate, cc_rate) = (rate[0].rate(), rate[1].rate(), rate[2].rate());
    println!(
        "| Redis hit throughput, {TASKS} tasks | {:.0}/s | {:.0}/s | {:.3} | {:.0}/s | {:.3} |",
        hw_rate,
        rc_rate,
        rc_rate / hw_rate,
        cc_rate,
        cc_rate / hw_rate
    );
    let (hw_miss, rc_miss) = (miss[0].p50(), miss[1].p50());
    println!(
        "| Redis miss p50 (GET + write) | {hw_miss:.1?} | {rc_miss:.1?} | {:.3} | | |",
        ratio(rc_miss, hw_miss)
    );
    let (moka, mem) = (memory[0].p50(), memory[1].p50());
    println!(
        "| in-process hit p50 (hand-written: moka) | {moka:.2?} | {mem:.2?} | {:.3} | | |",
        ratio(mem, moka)
    );
    let (bare_call, down_call) = (down[0].p50(), down[1].p50());
    println!(
        "| Redis down, breaker open (hand-written: no cache) | {bare_call:.2?} | {down_call:.2?} | +{:.2?} per call | | |",
        down_call.saturating_sub(bare_call)
    );
    let (hw_inv, rc_inv) = (invalidation[0].p50(), invalidation[1].p50());
    println!(
        "| exact-key invalidation p50 (hand-written: UNLINK) | {hw_inv:.1?} | {rc_inv:.1?} | {:.3} | | |",
        ratio(rc_inv, hw_inv)
    );
    println!();
    println!("goals:");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "  hit p50 <= 1.05 x hand-written: {:.3} ({})",
        ratio(rc, hw),
        verdict(ratio(rc, hw) <= 1.05)
    );
    println!(
        "  64-task throughput >= 0.95 x hand-written: {:.3} ({})",
        rc_rate / hw_rate,
        verdict(rc_rate / hw_rate >= 0.95)
    );
    println!(
        "  hit throughput >= cached crate: {:.3} x ({})",
        rc_rate / cc_rate,
        verdict(rc_rate >= cc_rate)
    );
    println!(
        "  miss <= 1.5 x hand-written: {:.3} ({})",
        ratio(rc_miss, hw_miss),
        verdict(ratio(rc_miss, hw_miss) <= 1.5)
    );
    println!(
        "  memory hit <= 1.2 x moka: {:.3} ({})",
        ratio(mem, moka),
        verdict(ratio(mem, moka) <= 1.2)
    );
    println!(
        "  breaker open adds <= 2 us: {:.2?} ({})",
        down_call.saturating_sub(bare_call),
        verdict(down_call.saturating_sub(bare_call) <= Duration::from_micros(2))
    );
    let stats = redis_cache().stats();
    println!();
    println!(
        "#[cache] Redis stats: {} hits, {} misses, {} errors",
        stats.hits, stats.misses, stats.errors
    );
}
