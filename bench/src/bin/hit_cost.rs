//! What one in-process hit costs, in allocations and wall time, for `#[cache]` on the memory
//! store and for a hand-written moka get + clone, side by side; and a loop of one of them for
//! `valgrind --tool=callgrind`, whose instruction counts are stable on a noisy machine.
//!
//! ```text
//! cargo run --release -p redcache-bench --bin hit_cost            # allocations and times
//! bash bench/callgrind.sh                                          # instructions per hit
//! ```
//!
//! `hit_cost loop <memory|moka> <hits>` runs only that loop (what `callgrind.sh` profiles).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use redcache::{Cache, cache};
use serde::{Deserialize, Serialize};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const KEYS: u64 = 1_000;
const HITS: u64 = 200_000;
const ROUNDS: usize = 9;

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
            other => panic!("unknown loop {other:?}: memory or moka"),
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Warm both stores: every later call is a hit.
    run("memory", KEYS).await;
    run("moka", KEYS).await;
    if let [_, mode, kind, hits] = args.as_slice() {
        assert_eq!(mode, "loop", "usage: hit_cost [loop <memory|moka> <hits>]");
        run(kind, hits.parse().expect("a number of hits")).await;
        return;
    }

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
    let (mut memory, mut moka) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        memory.push(time_per_hit("memory").await);
        moka.push(time_per_hit("moka").await);
    }
    memory.sort();
    moka.sort();
    let (memory, moka) = (memory[ROUNDS / 2], moka[ROUNDS / 2]);
    println!("in-process hit, {HITS} hits per round, medians of {ROUNDS} interleaved rounds");
    println!("(cloning the value itself allocates {per_clone} blocks)");
    println!();
    println!("| | allocations per hit | time per hit | ratio |");
    println!("|---|---|---|---|");
    println!("| hand-written moka get + clone | {moka_allocs:.2} | {moka:.0?} | 1 |");
    println!(
        "| `#[cache]`, memory store | {memory_allocs:.2} | {memory:.0?} | {:.3} |",
        memory.as_secs_f64() / moka.as_secs_f64()
    );
}
