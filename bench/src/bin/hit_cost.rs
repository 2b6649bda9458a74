//! What one in-process hit costs, in allocations and wall time, for `#[cache]` on the memory
//! store and for a hand-written moka get + clone, side by side; and a loop of one of them for
//! `valgrind --tool=callgrind`, whose instruction counts are stable on a noisy machine.
//!
//! ```text
//! cargo run --release -p redcache-bench --bin hit_cost            # allocations and times
//! bash bench/callgrind.sh                                          # instructions per hit
//! ```
//!
//! `hit_cost loop <memory|near|moka> <hits>` runs only that loop (what `callgrind.sh`
//! profiles). The near loop starts its own `redis-server`, waits until the near cache is
//! armed and checks that every call of the loop was a near hit.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use redcache::{Cache, cache};
use serde::{Deserialize, Serialize};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const KEYS: u64 = 1_000;
const HITS: u64 = 100_000;
const ROUNDS: usize = 21;

/// About 150 bytes of JSON, with owned strings, as a typical cached row.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
}

fn load(id: u64) -> Profile {
    Profile {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
        tags: vec!["rust".into(), "redis".into()],
    }
}

static MEMORY: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// A near cache in front of a Redis this program starts (`loop near` only).
static NEAR: OnceLock<Cache> = OnceLock::new();
static MOKA: LazyLock<moka::sync::Cache<u64, Profile>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(3600))
        .build()
});

#[cache(key = "mem:profile:<id>", ttl = 3600, cache = &MEMORY)]
async fn memory_hit(id: u64) -> Result<Profile, String> {
    Ok(load(id))
}

#[cache(key = "near:profile:<id>", ttl = 3600, cache = NEAR.get().expect("near loop only"))]
async fn near_hit(id: u64) -> Result<Profile, String> {
    Ok(load(id))
}

/// What a careful engineer writes with moka.
async fn moka_hit(id: u64) -> Result<Profile, String> {
    if let Some(profile) = MOKA.get(&id) {
        return Ok(profile);
    }
    let profile = load(id);
    MOKA.insert(id, profile.clone());
    Ok(profile)
}

async fn run(kind: &str, hits: u64) {
    for i in 0..hits {
        let profile = match kind {
            "memory" => memory_hit(i % KEYS).await,
            "moka" => moka_hit(i % KEYS).await,
            "near" => near_hit(i % KEYS).await,
            other => panic!("unknown loop {other:?}: memory, near or moka"),
        };
        std::hint::black_box(profile.expect("ok"));
    }
}

/// Allocations per hit, from dhat's counts (the value's own clone included).
async fn allocations_per_hit(kind: &str) -> f64 {
    let before = dhat::HeapStats::get().total_blocks;
    run(kind, HITS).await;
    (dhat::HeapStats::get().total_blocks - before) as f64 / HITS as f64
}

async fn time_per_hit(kind: &str) -> Duration {
    let start = Instant::now();
    run(kind, HITS).await;
    start.elapsed() / HITS as u32
}

/// Runs `hits` near hits and checks each was one (the near cache's tracking connection is
/// kept by a task on another worker thread, so the loop never has to yield to it).
async fn near_loop(hits: u64) {
    let server = support::RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .near_cache(100_000)
        .build()
        .expect("near cache");
    NEAR.set(cache).ok();
    let cache = NEAR.get().expect("just set");
    let armed_by = Instant::now() + Duration::from_secs(60);
    while !cache.health().near_armed || cache.stats().near_hits < KEYS {
        assert!(Instant::now() < armed_by, "the near cache never armed");
        run("near", KEYS).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = cache.stats().near_hits;
    run("near", hits).await;
    let near_hits = cache.stats().near_hits - before;
    assert_eq!(near_hits, hits, "every call of the loop is a near hit");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, kind, hits] = args.as_slice() {
        assert_eq!(
            mode, "loop",
            "usage: hit_cost [loop <memory|near|moka> <hits>]"
        );
        let hits = hits.parse().expect("a number of hits");
        if kind == "near" {
            // A second worker keeps the near cache's tracking connection.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            return runtime.block_on(near_loop(hits));
        }
        // One thread, nothing else running: the count is the loop's alone.
        return current_thread().block_on(async {
            run(kind, KEYS).await; // warm: every later call is a hit
            run(kind, hits).await;
        });
    }
    current_thread().block_on(compare());
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Allocations per hit and time per hit, both loops side by side.
async fn compare() {
    run("memory", KEYS).await;
    run("moka", KEYS).await;

    // Counting only while dhat's profiler runs: it slows every allocation down.
    let profiler = dhat::Profiler::builder().testing().build();
    let value = load(1);
    let before = dhat::HeapStats::get().total_blocks;
    std::hint::black_box(value.clone());
    let per_clone = dhat::HeapStats::get().total_blocks - before;

    let (memory_allocs, moka_allocs) = (
        allocations_per_hit("memory").await,
        allocations_per_hit("moka").await,
    );
    drop(profiler);
    // Each round times both loops back to back, in alternating order, and keeps their ratio:
    // the two halves of a round share the machine's load of the moment, so the median ratio
    // is steadier on a shared machine than the ratio of the median times.
    let (mut memory, mut moka, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (m, k) = if round % 2 == 0 {
            let m = time_per_hit("memory").await;
            (m, time_per_hit("moka").await)
        } else {
            let k = time_per_hit("moka").await;
            (time_per_hit("memory").await, k)
        };
        memory.push(m);
        moka.push(k);
        ratios.push(m.as_secs_f64() / k.as_secs_f64());
    }
    memory.sort();
    moka.sort();
    ratios.sort_by(f64::total_cmp);
    let (memory, moka, ratio) = (memory[ROUNDS / 2], moka[ROUNDS / 2], ratios[ROUNDS / 2]);
    println!(
        "in-process hit, {HITS} hits per round: median times and median ratio of {ROUNDS} rounds"
    );
    println!("(cloning the value itself allocates {per_clone} blocks)");
    println!();
    println!("| | allocations per hit | time per hit | ratio |");
    println!("|---|---|---|---|");
    println!("| hand-written moka get + clone | {moka_allocs:.2} | {moka:.0?} | 1 |");
    println!("| `#[cache]`, memory store | {memory_allocs:.2} | {memory:.0?} | {ratio:.3} |");
}
