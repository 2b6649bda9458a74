//! Two rows the main suite lacks (issue "Performance II"), side by side with hand-written code:
//!
//! - a ~1 MB value: `Page` (5,000 of the suite's ~200-byte `Profile`s, ~1,000,000 bytes of
//!   JSON) read through `#[cache]` on Redis vs hand-written cache-aside with redis-rs (`GET` on a
//!   `ConnectionManager` + `serde_json::from_slice`), and through `#[cache]` on the memory store
//!   vs a hand-written `moka::sync::Cache` get + clone: p50 of `CALLS` sequential hits per
//!   round, each timed on its own (until the value is in hand; dropping it, the same for both,
//!   is not timed), medians of interleaved rounds. Every call is checked to be a hit:
//!   `Cache::stats()` counts one hit per `#[cache]` call and no miss, and each body (the
//!   hand-written ones' loads included) ran once per key, in the warm-up.
//! - RSS per 100,000 entries of the ~200-byte `Profile` in the memory tier (`Cache::memory()`,
//!   whose capacity is 100,000 entries) vs a hand-written `moka::sync::Cache<u64, Profile>` of
//!   the same capacity: each fill runs in a fresh child process of its own (so that memory one
//!   variant freed cannot be reused by the other), VmRSS before and after, interleaved rounds.
//!
//! Starts its own `redis-server` on a free loopback port.
//!
//! ```text
//! cargo run --release -p redcache-bench --bin big_and_rss
//! ```
//!
//! `big_and_rss rss <memory|moka>` runs one fill and prints `<entries> <kB before> <kB after>`
//! (what the main process runs as its children).

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use redcache::{Cache, cache};
use redcache_bench::{Profile, load, median, rss_kb};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use support::RedisServer;

/// Override with `REDCACHE_BENCH_ROUNDS` for a quick look.
const ROUNDS: usize = 5;
/// Distinct 1 MB values, read in turn.
const BIG_KEYS: u64 = 4;
const PROFILES_PER_PAGE: u64 = 5_000;
/// Sequential calls per variant and round.
const CALLS: u64 = 300;
const RSS_ENTRIES: u64 = 100_000;
const RSS_ROUNDS: usize = 3;
const TTL_SECS: u64 = 3600;

/// The ~1 MB value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Page {
    key: u64,
    profiles: Vec<Profile>,
}

/// How many times each variant's body (its "database" read) ran.
#[derive(Debug, Default)]
struct Loads {
    hand_written: AtomicU64,
    redcache_redis: AtomicU64,
    moka: AtomicU64,
    redcache_memory: AtomicU64,
}

static LOADS: Loads = Loads {
    hand_written: AtomicU64::new(0),
    redcache_redis: AtomicU64::new(0),
    moka: AtomicU64::new(0),
    redcache_memory: AtomicU64::new(0),
};

fn load_page(key: u64, counter: &AtomicU64) -> Page {
    counter.fetch_add(1, Ordering::Relaxed);
    let first = key * PROFILES_PER_PAGE;
    Page {
        key,
        profiles: (first..first + PROFILES_PER_PAGE).map(load).collect(),
    }
}

static REDIS_CACHE: OnceLock<Cache> = OnceLock::new();
/// The default 8 MiB `max_value_bytes` is above the ~1 MB value: not raised.
static MEMORY_CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
static HAND_WRITTEN: OnceLock<ConnectionManager> = OnceLock::new();
static MOKA: LazyLock<moka::sync::Cache<u64, Page>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .max_capacity(100)
        .time_to_live(Duration::from_secs(TTL_SECS))
        .build()
});

fn redis_cache() -> &'static Cache {
    REDIS_CACHE.get().expect("set in main")
}

// What a careful engineer writes by hand with redis-rs.
async fn hand_written(key: u64) -> Page {
    let mut redis = HAND_WRITTEN.get().expect("set in main").clone();
    let redis_key = format!("hw:page:{key}");
    if let Ok(Some(bytes)) = redis.get::<_, Option<Vec<u8>>>(&redis_key).await {
        if let Ok(page) = serde_json::from_slice(&bytes) {
            return page;
        }
    }
    let page = load_page(key, &LOADS.hand_written);
    if let Ok(bytes) = serde_json::to_vec(&page) {
        let _: Result<(), _> = redis.set_ex(&redis_key, bytes, TTL_SECS).await;
    }
    page
}

#[cache(key = "rc:page:<key>", ttl = 3600, cache = redis_cache())]
async fn redcache_redis(key: u64) -> Page {
    load_page(key, &LOADS.redcache_redis)
}

// What a careful engineer writes by hand with moka.
async fn hand_written_moka(key: u64) -> Page {
    if let Some(page) = MOKA.get(&key) {
        return page;
    }
    let page = load_page(key, &LOADS.moka);
    MOKA.insert(key, page.clone());
    page
}

#[cache(key = "mem:page:<key>", ttl = 3600, cache = &MEMORY_CACHE)]
async fn redcache_memory(key: u64) -> Page {
    load_page(key, &LOADS.redcache_memory)
}

/// Median per-call latency of `CALLS` sequential calls, each timed on its own.
async fn sequential_p50<Fut>(call: fn(u64) -> Fut) -> Duration
where
    Fut: Future<Output = Page>,
{
    let mut waits = Vec::with_capacity(CALLS as usize);
    for i in 0..CALLS {
        let key = i % BIG_KEYS;
        let start = Instant::now();
        let page = call(key).await;
        waits.push(start.elapsed());
        assert!(
            page.key == key && page.profiles.len() == PROFILES_PER_PAGE as usize,
            "the right value"
        );
        drop(page);
    }
    median(&mut waits)
}

// RSS: 100,000 ~200-byte entries, one fill per child process.
static RSS_MEMORY: LazyLock<Cache> = LazyLock::new(Cache::memory);
static RSS_MOKA: LazyLock<moka::sync::Cache<u64, Profile>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(TTL_SECS))
        .build()
});
static RSS_LOADS: AtomicU64 = AtomicU64::new(0);

#[cache(key = "mem:profile:<id>", ttl = 3600, cache = &RSS_MEMORY)]
async fn rss_redcache(id: u64) -> Profile {
    RSS_LOADS.fetch_add(1, Ordering::Relaxed);
    load(id)
}

async fn rss_moka(id: u64) -> Profile {
    if let Some(profile) = RSS_MOKA.get(&id) {
        return profile;
    }
    RSS_LOADS.fetch_add(1, Ordering::Relaxed);
    let profile = load(id);
    RSS_MOKA.insert(id, profile.clone());
    profile
}

/// One fill, in this (child) process: prints the entries held and VmRSS before and after.
async fn rss_fill(kind: &str) {
    // The empty caches are built before the first reading: only the entries are counted.
    LazyLock::force(&RSS_MEMORY);
    LazyLock::force(&RSS_MOKA);
    let before = rss_kb();
    for id in 0..RSS_ENTRIES {
        match kind {
            "memory" => drop(rss_redcache(id).await),
            "moka" => drop(rss_moka(id).await),
            other => panic!("unknown fill {other:?}: memory or moka"),
        }
    }
    let after = rss_kb();
    // Then check that every entry is held: a second pass, all hits, no body run.
    let loads = RSS_LOADS.load(Ordering::Relaxed);
    assert_eq!(loads, RSS_ENTRIES, "one load per entry in the fill");
    for id in 0..RSS_ENTRIES {
        let profile = match kind {
            "memory" => rss_redcache(id).await,
            _ => rss_moka(id).await,
        };
        assert_eq!(profile.id, id);
    }
    assert_eq!(
        RSS_LOADS.load(Ordering::Relaxed),
        loads,
        "every entry still held: the second pass ran no body"
    );
    if kind == "memory" {
        let stats = RSS_MEMORY.stats();
        assert_eq!(
            (stats.misses, stats.hits, stats.too_large),
            (RSS_ENTRIES, RSS_ENTRIES, 0)
        );
    } else {
        RSS_MOKA.run_pending_tasks();
        assert_eq!(RSS_MOKA.entry_count(), RSS_ENTRIES);
    }
    println!("{RSS_ENTRIES} {before} {after}");
}

/// Runs one fill in a child process: (entries, kB before, kB after).
fn rss_child(kind: &str) -> (u64, u64, u64) {
    let output = Command::new(std::env::current_exe().expect("exe"))
        .args(["rss", kind])
        .output()
        .expect("run child");
    assert!(
        output.status.success(),
        "rss child {kind} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8(output.stdout).expect("utf-8");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    let [entries, before, after] = numbers[..] else {
        panic!("unexpected child output {line:?}");
    };
    (entries, before, after)
}

fn bytes_per_entry((entries, before, after): (u64, u64, u64)) -> u64 {
    after.saturating_sub(before) * 1024 / entries
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, kind] = args.as_slice() {
        assert_eq!(mode, "rss", "usage: big_and_rss [rss <memory|moka>]");
        rss_fill(kind).await;
        return;
    }

    let server = RedisServer::start();
    REDIS_CACHE
        .set(Cache::redis(server.url()).expect("url"))
        .expect("once");
    let client = redis::Client::open(server.url()).expect("url");
    HAND_WRITTEN
        .set(ConnectionManager::new(client).await.expect("connect"))
        .expect("once");
    let json_bytes = serde_json::to_vec(&load_page(0, &AtomicU64::new(0)))
        .expect("encode")
        .len();

    // Warm every store: one miss per key and variant, every later call a hit.
    for key in 0..BIG_KEYS {
        hand_written(key).await;
        redcache_redis(key).await;
        hand_written_moka(key).await;
        redcache_memory(key).await;
    }
    let (redis_before, memory_before) = (redis_cache().stats(), MEMORY_CACHE.stats());

    let rounds = std::env::var("REDCACHE_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS);
    let mut redis_hit = [(); 2].map(|()| Vec::new());
    let mut memory_hit = [(); 2].map(|()| Vec::new());
    let mut rss = [(); 2].map(|()| Vec::new());
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}");
        redis_hit[0].push(sequential_p50(hand_written).await);
        redis_hit[1].push(sequential_p50(redcache_redis).await);
        memory_hit[0].push(sequential_p50(hand_written_moka).await);
        memory_hit[1].push(sequential_p50(redcache_memory).await);
    }
    for round in 1..=RSS_ROUNDS {
        eprintln!("rss round {round}/{RSS_ROUNDS}");
        rss[0].push(rss_child("moka"));
        rss[1].push(rss_child("memory"));
    }

    // Every timed `#[cache]` call was a hit, and no body ran after the warm-up.
    let calls = rounds as u64 * CALLS;
    let (redis_after, memory_after) = (redis_cache().stats(), MEMORY_CACHE.stats());
    for (name, before, after) in [
        ("redis", &redis_before, &redis_after),
        ("memory", &memory_before, &memory_after),
    ] {
        assert_eq!(after.hits - before.hits, calls, "{name}: every call a hit");
        assert_eq!(after.misses, before.misses, "{name}: no miss");
        assert_eq!(
            (after.errors, after.decode_errors, after.too_large),
            (0, 0, 0),
            "{name}: no error, nothing too large"
        );
    }
    for (name, loads) in [
        ("hand-written", &LOADS.hand_written),
        ("#[cache] redis", &LOADS.redcache_redis),
        ("moka", &LOADS.moka),
        ("#[cache] memory", &LOADS.redcache_memory),
    ] {
        assert_eq!(
            loads.load(Ordering::Relaxed),
            BIG_KEYS,
            "{name}: the body ran once per key"
        );
    }

    let ratio = |ours: Duration, theirs: Duration| ours.as_secs_f64() / theirs.as_secs_f64();
    println!(
        "redcache benchmarks: medians of {rounds} interleaved rounds ({RSS_ROUNDS} for RSS), redis-server on loopback"
    );
    println!(
        "1 MB value: {PROFILES_PER_PAGE} Profiles, {json_bytes} bytes of JSON, {BIG_KEYS} keys, p50 of {CALLS} sequential hits per round"
    );
    println!();
    println!("| measurement | hand-written | #[cache] | ratio |");
    println!("|---|---|---|---|");
    let (hw, rc) = (median(&mut redis_hit[0]), median(&mut redis_hit[1]));
    println!(
        "| 1 MB value, Redis hit p50 (hand-written: GET + from_slice) | {hw:.2?} | {rc:.2?} | {:.3} |",
        ratio(rc, hw)
    );
    let (moka, mem) = (median(&mut memory_hit[0]), median(&mut memory_hit[1]));
    println!(
        "| 1 MB value, in-process hit p50 (hand-written: moka get + clone) | {moka:.2?} | {mem:.2?} | {:.3} |",
        ratio(mem, moka)
    );
    let mut per_entry = rss.each_ref().map(|fills| {
        fills
            .iter()
            .map(|&fill| bytes_per_entry(fill))
            .collect::<Vec<_>>()
    });
    let (moka_rss, mem_rss) = (median(&mut per_entry[0]), median(&mut per_entry[1]));
    println!(
        "| RSS per entry, {RSS_ENTRIES} ~200-byte Profiles (hand-written: moka) | {moka_rss} B | {mem_rss} B | {:.3} |",
        mem_rss as f64 / moka_rss as f64
    );
    println!();
    for (name, fills) in [("moka", &rss[0]), ("#[cache] memory", &rss[1])] {
        let each: Vec<String> = fills
            .iter()
            .map(|&(entries, before, after)| {
                format!(
                    "{before} -> {after} kB (+{} kB, {} entries)",
                    after.saturating_sub(before),
                    entries
                )
            })
            .collect();
        println!("RSS fills, {name}: {}", each.join("; "));
    }
    println!(
        "#[cache] checks: Redis {} hits, {} misses (warm-up), {} errors; memory {} hits, {} misses (warm-up); each body ran once per key",
        redis_after.hits,
        redis_after.misses,
        redis_after.errors,
        memory_after.hits,
        memory_after.misses
    );
    drop(server);
}
