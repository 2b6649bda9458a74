//! `#[cache_batch]`: one `MGET` for all elements, the body once with the missed ones
//! (deduplicated, in first-seen order), entries shared with single `#[cache]` calls, and the
//! race and single-flight guarantees per element.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redcache::{Cache, cache, cache_batch};
use support::{Calls, RedisCluster, RedisServer};
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("user {id}"),
    }
}

/// The database's users are every id but 13.
const ABSENT: u64 = 13;

#[derive(Default)]
struct Db {
    cache: Option<Cache>,
    /// The ids each batch body saw.
    batches: Mutex<Vec<Vec<u64>>>,
    singles: Calls,
    /// When set, a batch body waits here after saying it started.
    gate: Option<(Notify, Notify)>,
}

impl Db {
    fn cache(&self) -> &Cache {
        self.cache.as_ref().expect("a cache")
    }

    fn batches(&self) -> Vec<Vec<u64>> {
        std::mem::take(&mut self.batches.lock().unwrap())
    }

    async fn load(&self, ids: &[u64]) -> HashMap<u64, User> {
        self.batches.lock().unwrap().push(ids.to_vec());
        if let Some((started, release)) = &self.gate {
            started.notify_one();
            release.notified().await;
        }
        ids.iter()
            .filter(|id| **id != ABSENT)
            .map(|id| (*id, user(*id)))
            .collect()
    }
}

#[cache(key = "user:<id>", ttl = 60, skip(db), tags = ["u:<id>"], cache = db.cache())]
async fn get_user(db: &Db, id: u64) -> Result<User, String> {
    db.singles.hit();
    Ok(user(id))
}

#[cache_batch(key = "user:<ids>", ttl = 60, skip(db), tags = ["u:<ids>"], cache = db.cache())]
async fn get_users(db: &Db, ids: &[u64]) -> Result<HashMap<u64, User>, String> {
    if ids.contains(&666) {
        return Err("the database refused".into());
    }
    Ok(db.load(ids).await)
}

#[cache_batch(key = "user:<ids>", ttl = 60, skip(db), tags = ["u:<ids>"], cache = db.cache())]
async fn users_vec(db: &Db, ids: Vec<u64>) -> BTreeMap<u64, User> {
    db.load(&ids).await.into_iter().collect()
}

#[cache_batch(key = "user:<ids>", ttl = 60, skip(db), tags = ["u:<ids>"], cache = db.cache())]
async fn users_vec_ref(db: &Db, ids: &Vec<u64>) -> HashMap<u64, User> {
    db.load(ids).await
}

#[cache_batch(key = "user:<ids>", ttl = 60, skip(db), tags = ["u:<ids>"], cache = db.cache())]
async fn users_hash_set(db: &Db, ids: HashSet<u64>) -> HashMap<u64, User> {
    let mut ids: Vec<u64> = ids.into_iter().collect();
    ids.sort_unstable();
    db.load(&ids).await
}

#[cache_batch(key = "user:<ids>", ttl = 60, skip(db), tags = ["u:<ids>"], cache = db.cache())]
async fn users_btree_set(db: &Db, ids: BTreeSet<u64>) -> Result<BTreeMap<u64, User>, String> {
    let ids: Vec<u64> = ids.into_iter().collect();
    Ok(db.load(&ids).await.into_iter().collect())
}

fn db(cache: Cache) -> Db {
    Db {
        cache: Some(cache),
        ..Db::default()
    }
}

async fn shares_entries_and_computes_only_the_missed(cache: Cache) {
    let db = db(cache);
    for id in [2, 4] {
        get_user(&db, id).await.unwrap();
    }
    let found = get_users(&db, &[1, 2, 3, 1, 4, ABSENT, 3]).await.unwrap();
    assert_eq!(
        db.batches(),
        [vec![1, 3, ABSENT]],
        "missed, deduplicated, in order"
    );
    let expected: HashMap<u64, User> = [1, 2, 3, 4].into_iter().map(|id| (id, user(id))).collect();
    assert_eq!(found, expected);

    // The single function reads what the batch wrote; the element the body left out was not
    // cached, so the next batch asks for it again.
    get_user(&db, 3).await.unwrap();
    assert_eq!(db.singles.count(), 2, "the single call was a hit");
    assert_eq!(get_users(&db, &[1, 2, 3, ABSENT]).await.unwrap().len(), 3);
    assert_eq!(db.batches(), [vec![ABSENT]]);

    // All hits: the body does not run.
    assert_eq!(get_users(&db, &[4, 3, 2, 1]).await.unwrap(), expected);
    assert!(db.batches().is_empty());

    // An `Err` caches nothing.
    assert!(get_users(&db, &[20, 666]).await.is_err());
    get_users(&db, &[20]).await.unwrap();
    assert_eq!(db.batches(), [vec![20]]);

    // Tags per element.
    db.cache().invalidate_tags(&["u:1"]).await;
    get_users(&db, &[1, 2]).await.unwrap();
    assert_eq!(db.batches(), [vec![1]]);

    // Every collection type, sharing the same entries.
    let vec = users_vec(&db, vec![1, 30]).await;
    assert_eq!(vec.keys().copied().collect::<Vec<_>>(), [1, 30]);
    assert_eq!(users_vec_ref(&db, &vec![30, 31]).await.len(), 2);
    assert_eq!(users_hash_set(&db, HashSet::from([31, 32])).await.len(), 2);
    let set = users_btree_set(&db, BTreeSet::from([32, 33]))
        .await
        .unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(db.batches(), [vec![30], vec![31], vec![32], vec![33]]);
}

/// An invalidation of one element while the body runs: that element is returned but not
/// stored; the others are.
async fn the_race_guarantee_holds_per_element(cache: Cache) {
    let db = Arc::new(Db {
        gate: Some((Notify::new(), Notify::new())),
        ..db(cache)
    });
    let batch = {
        let db = db.clone();
        tokio::spawn(async move { get_users(&db, &[101, 102]).await })
    };
    let (started, release) = db.gate.as_ref().unwrap();
    started.notified().await;
    db.cache().invalidate("user:101").await;
    release.notify_one();
    assert_eq!(batch.await.unwrap().unwrap().len(), 2);
    get_user(&db, 102).await.unwrap();
    assert_eq!(db.singles.count(), 0, "102 was stored");
    get_user(&db, 101).await.unwrap();
    assert_eq!(db.singles.count(), 1, "101 was not");
}

/// A single call of an element the batch is computing waits for the batch's value.
async fn single_calls_follow_the_batch(cache: Cache) {
    let db = Arc::new(Db {
        gate: Some((Notify::new(), Notify::new())),
        ..db(cache)
    });
    let batch = {
        let db = db.clone();
        tokio::spawn(async move { get_users(&db, &[201, 202]).await })
    };
    let (started, release) = db.gate.as_ref().unwrap();
    started.notified().await;
    let single = {
        let db = db.clone();
        tokio::spawn(async move { get_user(&db, 202).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.notify_one();
    assert_eq!(single.await.unwrap().unwrap(), user(202));
    assert_eq!(db.singles.count(), 0, "the single call's body did not run");
    batch.await.unwrap().unwrap();
}

async fn all(make: impl Fn() -> Cache) {
    shares_entries_and_computes_only_the_missed(make()).await;
    the_race_guarantee_holds_per_element(make()).await;
    single_calls_follow_the_batch(make()).await;
}

#[tokio::test]
async fn memory() {
    all(Cache::memory).await;
}

#[tokio::test]
async fn redis() {
    let server = RedisServer::start();
    all(|| {
        redis::cmd("FLUSHALL")
            .query::<()>(&mut server.client())
            .unwrap();
        server.cache()
    })
    .await;
}

#[tokio::test]
async fn cluster() {
    let cluster = RedisCluster::start();
    let db = db(cluster.cache());
    let ids: Vec<u64> = (0..100).collect();
    for id in &ids[..60] {
        get_user(&db, *id).await.unwrap();
    }
    let found = get_users(&db, &ids).await.unwrap();
    assert_eq!(found.len(), 100);
    assert_eq!(db.batches(), [ids[60..].to_vec()]);
    assert_eq!(get_users(&db, &ids).await.unwrap(), found);
    assert!(db.batches().is_empty(), "all hits, on every master");
}

#[cache(key = "plain:<id>", ttl = 60, skip(db), cache = db.cache())]
async fn get_plain(db: &Db, id: u64) -> User {
    db.singles.hit();
    user(id)
}

#[cache_batch(key = "plain:<ids>", ttl = 60, skip(db), cache = db.cache())]
async fn get_plains(db: &Db, ids: &[u64]) -> HashMap<u64, User> {
    db.load(ids).await
}

/// The figure: 100 ids with 60 cached send exactly one `MGET` and no `GET` of their
/// own, and the body sees the 40 missed ids in order. (The 40 values are then stored by 40
/// compare-and-set scripts, each of which runs a `GET` inside Redis, which `INFO
/// commandstats` counts too; the all-hit batch after it shows no `GET` at all.)
#[tokio::test]
async fn one_mget_for_a_hundred_ids() {
    let server = RedisServer::start();
    let db = db(server.cache());
    let ids: Vec<u64> = (1000..1100).filter(|id| *id != ABSENT).collect();
    for id in ids.iter().filter(|id| *id % 5 < 3) {
        get_plain(&db, *id).await;
    }
    server.reset_stats();
    let found = get_plains(&db, &ids).await;
    assert_eq!(found.len(), 100);
    assert_eq!(server.command_calls("mget"), 1);
    assert_eq!(
        server.command_calls("evalsha"),
        40,
        "one write per missed id"
    );
    assert_eq!(server.command_calls("get"), 40, "only the writes' own");
    let missed: Vec<u64> = ids.iter().copied().filter(|id| *id % 5 >= 3).collect();
    assert_eq!(db.batches(), [missed]);

    server.reset_stats();
    assert_eq!(get_plains(&db, &ids).await, found);
    assert_eq!(server.command_calls("mget"), 1);
    assert_eq!(server.command_calls("get"), 0);
    assert_eq!(server.command_calls("evalsha"), 0);
    assert!(db.batches().is_empty());
    assert_eq!(db.singles.count(), 60);

    // Counted per element, once: 60 single misses; then 60 hits and 40 misses; then 100 hits.
    let stats = db.cache().stats();
    assert_eq!((stats.hits, stats.misses), (160, 100));
    let rows = db.cache().function_stats();
    let (_, batch) = rows
        .iter()
        .find(|(name, _)| name.ends_with("::get_plains"))
        .expect("a row for the batch function");
    assert_eq!((batch.hits, batch.misses), (160, 40));
}

/// Redis silent (paused): a batch waits at most about one op timeout, runs its body for every
/// element, returns all of them and stores nothing; once Redis answers, batches cache again.
#[tokio::test]
async fn a_silent_redis_fails_open() {
    let mut server = RedisServer::start();
    let db = db(server.cache());
    server.pause();
    let start = std::time::Instant::now();
    let found = get_plains(&db, &[1, 2, 3]).await;
    let waited = start.elapsed();
    server.resume();
    assert_eq!(found.len(), 3);
    assert!(waited < Duration::from_secs(1), "waited {waited:?}");
    assert_eq!(db.batches(), [vec![1, 2, 3]]);
    assert!(db.cache().stats().errors > 0);

    // Once Redis answers again (the breaker may need a cooldown to probe it), a batch stores
    // its values and the next one is served from them without running its body.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        get_plains(&db, &[1, 2, 3]).await;
        db.batches();
        assert_eq!(get_plains(&db, &[1, 2, 3]).await.len(), 3);
        if db.batches().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never cached again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
