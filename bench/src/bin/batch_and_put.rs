//! Batches and write-through, side by side in one run with interleaved rounds, on a
//! redis-server this program starts on loopback:
//!
//! - 100 ids, all cached: one `#[cache_batch]` call vs 100 sequential `#[cache]` calls vs 100
//!   concurrent ones;
//! - 100 ids, none cached: the batch (one body run) vs 100 sequential single misses;
//! - an update followed by a read: `#[cache_put]` (the read is a hit) vs `#[invalidate]` (the
//!   read is a miss that reloads).
//!
//! ```text
//! cargo run --release -p redcache-bench --bin batch_and_put
//! ```

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redcache::{Cache, cache, cache_batch, cache_put, invalidate};
use serde::{Deserialize, Serialize};
use support::RedisServer;

const ROUNDS: usize = 7;
const BATCH: u64 = 100;
const REPEATS: u32 = 50;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    bio: String,
}

/// The "database": instant, so the figures are the cache's own cost.
fn load(id: u64) -> Profile {
    Profile {
        id,
        name: format!("User Number {id}"),
        bio: "Writes Rust services, runs Redis in production, likes fast caches.".into(),
    }
}

#[cache(key = "p:<id>", ttl = 3600, skip(cache), cache = cache)]
async fn profile(cache: &Cache, id: u64) -> Profile {
    load(id)
}

#[cache_batch(key = "p:<ids>", ttl = 3600, skip(cache), cache = cache)]
async fn profiles(cache: &Cache, ids: &[u64]) -> HashMap<u64, Profile> {
    ids.iter().map(|id| (*id, load(*id))).collect()
}

#[cache_put(profile(cache, id))]
async fn rename_put(cache: &Cache, id: u64) -> Profile {
    load(id)
}

#[invalidate(profile(cache, id))]
async fn rename_invalidate(cache: &Cache, id: u64) {}

/// Median over `REPEATS` runs of `run`, each timed whole.
async fn median_of<F: AsyncFnMut(u32)>(mut run: F) -> Duration {
    let mut times = Vec::with_capacity(REPEATS as usize);
    for repeat in 0..REPEATS {
        let start = Instant::now();
        run(repeat).await;
        times.push(start.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

static FRESH: AtomicU64 = AtomicU64::new(1_000_000);

/// `BATCH` ids never used before.
fn fresh_ids() -> Vec<u64> {
    let first = FRESH.fetch_add(BATCH, Ordering::Relaxed);
    (first..first + BATCH).collect()
}

#[tokio::main]
async fn main() {
    let server = RedisServer::start();
    let cache = &Cache::redis(server.url()).expect("url");
    let ids: Vec<u64> = (0..BATCH).collect();
    profiles(cache, &ids).await;

    let mut rows: [Vec<Duration>; 6] = Default::default();
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        rows[0].push(
            median_of(async |_| {
                assert_eq!(profiles(cache, &ids).await.len(), BATCH as usize);
            })
            .await,
        );
        rows[1].push(
            median_of(async |_| {
                for id in &ids {
                    profile(cache, *id).await;
                }
            })
            .await,
        );
        rows[2].push(
            median_of(async |_| {
                join_all(ids.iter().map(|id| profile(cache, *id))).await;
            })
            .await,
        );
        rows[3].push(
            median_of(async |_| {
                profiles(cache, &fresh_ids()).await;
            })
            .await,
        );
        rows[4].push(
            median_of(async |_| {
                for id in fresh_ids() {
                    profile(cache, id).await;
                }
            })
            .await,
        );
        rows[5].push(
            median_of(async |repeat| {
                let id = u64::from(repeat) % BATCH;
                rename_put(cache, id).await;
                profile(cache, id).await;
            })
            .await,
        );
    }
    let mut invalidate_then_read = Vec::new();
    for _ in 1..=ROUNDS {
        invalidate_then_read.push(
            median_of(async |repeat| {
                let id = u64::from(repeat) % BATCH;
                rename_invalidate(cache, id).await;
                profile(cache, id).await;
            })
            .await,
        );
    }

    let p50 = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let [
        hits_batch,
        hits_seq,
        hits_conc,
        miss_batch,
        miss_seq,
        put_read,
    ] = &mut rows;
    let (hits_batch, hits_seq, hits_conc) = (p50(hits_batch), p50(hits_seq), p50(hits_conc));
    let (miss_batch, miss_seq) = (p50(miss_batch), p50(miss_seq));
    let (put_read, invalidate_read) = (p50(put_read), p50(&mut invalidate_then_read));
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "batches and write-through: medians of {ROUNDS} rounds x {REPEATS} repeats, redis-server on loopback"
    );
    println!();
    println!("| measurement | time | vs the batch |");
    println!("|---|---|---|");
    println!("| {BATCH} cached ids: one `#[cache_batch]` call | {hits_batch:.1?} | 1 |");
    println!(
        "| {BATCH} cached ids: {BATCH} sequential `#[cache]` calls | {hits_seq:.1?} | {:.1} x slower |",
        ratio(hits_seq, hits_batch)
    );
    println!(
        "| {BATCH} cached ids: {BATCH} concurrent `#[cache]` calls | {hits_conc:.1?} | {:.1} x slower |",
        ratio(hits_conc, hits_batch)
    );
    println!("| {BATCH} new ids: one `#[cache_batch]` call | {miss_batch:.1?} | 1 |");
    println!(
        "| {BATCH} new ids: {BATCH} sequential `#[cache]` misses | {miss_seq:.1?} | {:.1} x slower |",
        ratio(miss_seq, miss_batch)
    );
    println!();
    println!("| update, then read | time | |");
    println!("|---|---|---|");
    println!("| `#[cache_put]`, then the read (a hit) | {put_read:.1?} | 1 |");
    println!(
        "| `#[invalidate]`, then the read (a miss) | {invalidate_read:.1?} | {:.2} x |",
        ratio(invalidate_read, put_read)
    );
    println!();
    println!(
        "goal: a batch of {BATCH} hits >= 10 x faster than {BATCH} sequential single hits: {:.1} x ({})",
        ratio(hits_seq, hits_batch),
        if ratio(hits_seq, hits_batch) >= 10.0 {
            "met"
        } else {
            "MISSED"
        }
    );
}
