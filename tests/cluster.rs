//! Every macro, unchanged, on a three-master Redis Cluster the test starts: entries spread
//! over all masters, pattern invalidation on every master, cross-slot exact invalidation,
//! the lease against the invalidation race, and a dead master failing open.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redcache::{Cache, cache, invalidate};
use support::{Calls, RedisCluster};

#[cache(key = "user:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn get_user(cache: &Cache, calls: &Calls, id: u64) -> Result<String, String> {
    calls.hit();
    Ok(format!("user {id}"))
}

#[cache(key = "team:<team>:member:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn member(cache: &Cache, calls: &Calls, team: u64, id: u64) -> u64 {
    calls.hit();
    team * 1000 + id
}

#[invalidate(pattern = "team:<team>:*", cache = cache)]
async fn drop_team(cache: &Cache, team: u64) {}

#[invalidate(keys = ["user:<a>", "user:<b>"], cache = cache)]
async fn drop_two_users(cache: &Cache, a: u64, b: u64) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_spread_over_every_master_are_cached_and_hit() {
    let cluster = RedisCluster::start();
    let cache = cluster.cache();
    let calls = Calls::default();
    for id in 0..60 {
        assert_eq!(get_user(&cache, &calls, id).await, Ok(format!("user {id}")));
    }
    for id in 0..60 {
        assert_eq!(get_user(&cache, &calls, id).await, Ok(format!("user {id}")));
    }
    assert_eq!(calls.count(), 60, "the second round only hit");
    let per_master = cluster.keys_per_master();
    eprintln!("cluster: 60 entries per master: {per_master:?}");
    assert!(per_master.iter().all(|&n| n > 0), "{per_master:?}");
    assert_eq!(per_master.iter().sum::<u64>(), 60);
    assert_eq!(cache.stats().errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_invalidation_finds_its_keys_on_every_master() {
    let cluster = RedisCluster::start();
    let cache = cluster.cache();
    let calls = Calls::default();
    for id in 0..40 {
        member(&cache, &calls, 1, id).await;
        member(&cache, &calls, 2, id).await;
    }
    drop_team(&cache, 1).await;
    let left = cluster.all_keys();
    assert_eq!(left.len(), 40, "{left:?}");
    assert!(
        left.iter().all(|key| key.starts_with("team:2:")),
        "{left:?}"
    );
    assert_eq!(cache.stats().invalidated, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_invalidation_spans_slots() {
    let cluster = RedisCluster::start();
    let cache = cluster.cache();
    let calls = Calls::default();
    for id in [1, 2, 3] {
        get_user(&cache, &calls, id).await.unwrap();
    }
    drop_two_users(&cache, 1, 2).await;
    assert_eq!(cluster.all_keys(), ["user:3"]);
    assert_eq!(cache.stats().errors, 0, "no CROSSSLOT error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_and_leases_work_on_a_cluster() {
    let cluster = RedisCluster::start();
    let cache = cluster.cache();
    let calls = Arc::new(Calls::default());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (cache, calls) = (cache.clone(), calls.clone());
        tasks.spawn(async move { get_user(&cache, &calls, 9).await });
    }
    while let Some(got) = tasks.join_next().await {
        assert_eq!(got.unwrap(), Ok("user 9".to_owned()));
    }
    assert_eq!(calls.count(), 1);
    let stats = cache.stats();
    assert_eq!((stats.writes, stats.errors), (1, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_master_fails_open() {
    let mut cluster = RedisCluster::start();
    let cache = cluster.cache();
    let calls = Calls::default();
    for id in 0..30 {
        get_user(&cache, &calls, id).await.unwrap();
    }
    cluster.masters[0].kill();
    let mut waits = Vec::new();
    for round in 0..3 {
        for id in 0..30 {
            let start = Instant::now();
            assert_eq!(
                get_user(&cache, &calls, id).await,
                Ok(format!("user {id}")),
                "round {round}"
            );
            waits.push(start.elapsed());
        }
    }
    waits.sort();
    let (median, max) = (waits[waits.len() / 2], *waits.last().unwrap());
    eprintln!("cluster, one master dead: 90 calls, median wait {median:.1?}, max {max:.1?}");
    assert!(
        max <= Duration::from_millis(100 + 150),
        "a call waited {max:?}"
    );
    let stats = cache.stats();
    assert!(stats.errors >= 1, "{stats:?}");
}

#[test]
fn cluster_caches_are_built_without_connecting() {
    assert!(Cache::cluster(["redis://127.0.0.1:1", "redis://127.0.0.1:2"]).is_ok());
    assert!(Cache::cluster(Vec::<String>::new()).is_err(), "no nodes");
    assert!(
        Cache::builder()
            .url("redis://127.0.0.1:1")
            .cluster(["redis://127.0.0.1:2"])
            .build()
            .is_err(),
        "both url and cluster"
    );
    let secret = Cache::cluster(["redis://:s3cret@127.0.0.1:7000"]).unwrap();
    assert!(!format!("{secret:?}").contains("s3cret"));
}
