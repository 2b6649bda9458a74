//! Invalidating ~10 related entries by tag vs by pattern, in a keyspace of 1,000,000 keys, on a
//! standalone Redis and on a three-master cluster, both started by this program.
//!
//! ```text
//! cargo run --release -p redcache-bench --bin invalidation
//! ```

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use redcache::{Cache, cache, invalidate};
use support::{RedisCluster, RedisServer};

const FILLER_KEYS: u64 = 1_000_000;
const ENTRIES: u64 = 10;
const ROUNDS: usize = 7;

#[cache(key = "group:<group>:item:<item>", ttl = 3600, tags = ["group:<group>"], skip(cache), cache = cache)]
async fn item(cache: &Cache, group: u64, item: u64) -> u64 {
    group * 100 + item
}

#[invalidate(tags = ["group:<group>"], cache = cache)]
async fn drop_by_tag(cache: &Cache, group: u64) {}

#[invalidate(pattern = "group:<group>:*", cache = cache)]
async fn drop_by_pattern(cache: &Cache, group: u64) {}

fn populate(server: &RedisServer, keys: u64) {
    redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(keys)
        .arg("filler")
        .arg(16)
        .query::<()>(&mut server.client())
        .expect("DEBUG POPULATE");
}

/// Median time of each way to drop `ENTRIES` related entries, re-cached before every round.
async fn measure(cache: &Cache) -> (Duration, Duration) {
    let (mut by_tag, mut by_pattern) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS as u64 {
        for (group, times) in [(2 * round, &mut by_tag), (2 * round + 1, &mut by_pattern)] {
            for i in 0..ENTRIES {
                item(cache, group, i).await;
            }
            let before = cache.stats().invalidated;
            let start = Instant::now();
            if group % 2 == 0 {
                drop_by_tag(cache, group).await;
            } else {
                drop_by_pattern(cache, group).await;
            }
            times.push(start.elapsed());
            assert_eq!(
                cache.stats().invalidated - before,
                ENTRIES,
                "all {ENTRIES} dropped"
            );
        }
    }
    by_tag.sort();
    by_pattern.sort();
    (by_tag[ROUNDS / 2], by_pattern[ROUNDS / 2])
}

#[tokio::main]
async fn main() {
    let server = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    populate(&server, FILLER_KEYS);
    let standalone = measure(&server.cache()).await;

    let cluster = RedisCluster::start_with(&["--enable-debug-command", "yes"]);
    for master in &cluster.masters {
        populate(master, FILLER_KEYS / 3);
    }
    let spread = cluster.keys_per_master();
    let on_cluster = measure(&cluster.cache()).await;

    println!(
        "dropping {ENTRIES} related entries among {FILLER_KEYS} keys (median of {ROUNDS} rounds)"
    );
    println!();
    println!("| deployment | by tag | by pattern (SCAN + UNLINK) | pattern / tag |");
    println!("|---|---|---|---|");
    for (name, (tag, pattern)) in [
        ("standalone".to_owned(), standalone),
        (format!("cluster, 3 masters {spread:?} keys"), on_cluster),
    ] {
        println!(
            "| {name} | {tag:.2?} | {pattern:.1?} | {:.0}x |",
            pattern.as_secs_f64() / tag.as_secs_f64()
        );
    }
}
