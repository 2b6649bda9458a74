//! Per-function counters (SPEC §12): `Cache::function_stats` has one row per cached function
//! that ran on the cache, named by its path and sorted by name, and the rows add up to
//! `Cache::stats`.

use std::sync::atomic::{AtomicU32, Ordering};

mod support;

use redcache::{Cache, Stats, cache};

static USER_BODIES: AtomicU32 = AtomicU32::new(0);

mod users {
    use super::*;

    #[cache(key = "user:<id>", ttl = 60, skip(cache), cache = cache)]
    pub async fn get_user(cache: &Cache, id: u64) -> String {
        USER_BODIES.fetch_add(1, Ordering::SeqCst);
        format!("user {id}")
    }
}

#[cache(key = "account:<id>", ttl = 60, skip(cache), cache = cache)]
async fn account(cache: &Cache, id: u64) -> u64 {
    id + 1
}

struct Repo {
    cache: Cache,
}

impl Repo {
    #[cache(key = "repo:<id>", ttl = 60, skip(self), cache = &self.cache)]
    async fn load(&self, id: u64) -> u64 {
        id * 3
    }
}

fn row<'a>(rows: &'a [(String, Stats)], name: &str) -> &'a Stats {
    &rows
        .iter()
        .find(|(row, _)| row == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
        .1
}

#[tokio::test]
async fn one_row_per_function_sorted_and_adding_up_to_the_totals() {
    let cache = Cache::memory();
    assert!(cache.function_stats().is_empty());

    // get_user: 2 misses, 3 hits. account: 1 miss, 1 hit.
    for id in [1, 2, 1, 2, 1] {
        assert_eq!(users::get_user(&cache, id).await, format!("user {id}"));
    }
    assert_eq!(account(&cache, 7).await, 8);
    assert_eq!(account(&cache, 7).await, 8);
    assert_eq!(USER_BODIES.load(Ordering::SeqCst), 2);

    let rows = cache.function_stats();
    let names: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["function_stats::account", "function_stats::users::get_user"],
        "named by path, sorted by name"
    );
    let user = row(&rows, "function_stats::users::get_user");
    assert_eq!((user.hits, user.misses, user.writes), (3, 2, 2));
    let acct = row(&rows, "function_stats::account");
    assert_eq!((acct.hits, acct.misses, acct.writes), (1, 1, 1));

    let total = cache.stats();
    assert_eq!((total.hits, total.misses), (4, 3), "stats() still totals");
    assert_eq!(
        rows.iter().map(|(_, s)| s.hits).sum::<u64>(),
        total.hits,
        "the rows add up to the totals"
    );
    assert_eq!(
        rows.iter().map(|(_, s)| s.misses).sum::<u64>(),
        total.misses
    );
}

#[tokio::test]
async fn each_cache_counts_its_own_calls() {
    let first = Cache::memory();
    let second = Cache::memory();
    account(&first, 1).await;
    account(&first, 1).await;
    account(&second, 1).await;

    let first_rows = first.function_stats();
    let second_rows = second.function_stats();
    assert_eq!(first_rows.len(), 1);
    let in_first = row(&first_rows, "function_stats::account");
    assert_eq!((in_first.hits, in_first.misses), (1, 1));
    let in_second = row(&second_rows, "function_stats::account");
    assert_eq!((in_second.hits, in_second.misses), (0, 1));
}

#[tokio::test]
async fn methods_are_named_by_their_module_path() {
    let repo = Repo {
        cache: Cache::memory(),
    };
    assert_eq!(repo.load(2).await, 6);
    assert_eq!(repo.load(2).await, 6);
    let rows = repo.cache.function_stats();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "function_stats::load");
    assert_eq!((rows[0].1.hits, rows[0].1.misses), (1, 1));
}

#[tokio::test]
async fn rows_serialize_with_the_function_name() {
    let cache = Cache::memory();
    account(&cache, 3).await;
    let json = serde_json::to_value(cache.function_stats()).expect("serializes");
    assert_eq!(json[0][0], "function_stats::account");
    assert_eq!(json[0][1]["misses"], 1);
}

/// While an invalidation is undelivered every call bypasses the cache: each is a miss in
/// the function's row as in the totals, so the rows still add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypassed_calls_are_the_functions_misses() {
    let mut server = support::RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .op_timeout(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    assert_eq!(account(&cache, 1).await, 2);
    server.kill();
    cache.invalidate("account:1").await;
    assert_eq!(
        cache.stats().invalidations_pending,
        1,
        "{:?}",
        cache.stats()
    );
    let misses = cache.stats().misses;
    for _ in 0..3 {
        assert_eq!(account(&cache, 1).await, 2);
    }
    assert_eq!(cache.stats().misses, misses + 3, "three bypassed calls");
    let rows = cache.function_stats();
    assert_eq!(row(&rows, "function_stats::account").misses, 4);
    assert_eq!(rows.len(), 1);
    assert_eq!(cache.stats().misses, 4);
}
