//! `#[cache_put(get_user(id))]`: the returned value becomes the entry that call reads, with
//! that function's TTL, tags and cache, and wins over reads in flight.

mod support;

use std::sync::Arc;
use std::time::Duration;

use redcache::{Cache, cache, cache_put, invalidate};
use support::{Calls, RedisCluster, RedisServer};
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
    name: String,
}

/// Stands in for the database.
#[derive(Default)]
struct Db {
    names: std::sync::Mutex<std::collections::HashMap<u64, String>>,
    reads: Calls,
}

impl Db {
    fn load(&self, id: u64) -> User {
        self.reads.hit();
        let name = self.names.lock().unwrap().get(&id).cloned();
        User {
            id,
            name: name.unwrap_or_else(|| "nobody".into()),
        }
    }
}

struct App {
    cache: Cache,
    db: Db,
}

#[cache(key = "user:<id>", ttl = 90, tags = ["team:<team>"], skip(app, team), cache = &app.cache)]
async fn get_user(app: &App, team: u32, id: u64) -> Result<User, String> {
    Ok(app.db.load(id))
}

#[cache_put(get_user(app, team, id))]
async fn rename(app: &App, team: u32, id: u64, name: &str) -> Result<User, String> {
    if name.is_empty() {
        return Err("a name is required".into());
    }
    app.db.names.lock().unwrap().insert(id, name.to_owned());
    Ok(User {
        id,
        name: name.to_owned(),
    })
}

/// `None`: the user is gone, so the entry goes too.
#[cache_put(get_user(app, team, id))]
async fn delete_user(app: &App, team: u32, id: u64) -> Option<User> {
    app.db.names.lock().unwrap().remove(&id);
    None
}

#[invalidate(tags = ["team:<team>"], cache = &app.cache)]
async fn disband(app: &App, team: u32) {}

#[cache(key = "score:<id>", ttl = 60, stale = 60, skip(app, calls), cache = &app.cache)]
async fn get_score(app: &App, calls: &Calls, id: u64) -> u64 {
    calls.hit();
    id
}

#[cache_put(get_score(app, &Calls::default(), id))]
async fn set_score(app: &App, id: u64, score: u64) -> u64 {
    score
}

async fn the_read_after_a_put_is_a_hit(app: &App) {
    assert_eq!(get_user(app, 1, 7).await.unwrap().name, "nobody");
    assert_eq!(app.db.reads.count(), 1);
    let renamed = rename(app, 1, 7, "Ada").await.unwrap();
    assert_eq!(get_user(app, 1, 7).await.unwrap(), renamed);
    assert_eq!(
        app.db.reads.count(),
        1,
        "served from the entry the put wrote"
    );

    // An `Err` changes nothing.
    assert!(rename(app, 1, 7, "").await.is_err());
    assert_eq!(get_user(app, 1, 7).await.unwrap().name, "Ada");

    // The tags of `get_user` were recorded by the put: a tag invalidation drops the entry.
    disband(app, 1).await;
    assert_eq!(get_user(app, 1, 7).await.unwrap().name, "Ada");
    assert_eq!(
        app.db.reads.count(),
        2,
        "re-read after the tag invalidation"
    );

    // `None` invalidates.
    delete_user(app, 1, 7).await;
    assert_eq!(get_user(app, 1, 7).await.unwrap().name, "nobody");
    assert_eq!(app.db.reads.count(), 3);

    // A function with `stale`: the written value is fresh.
    let calls = Calls::default();
    set_score(app, 5, 500).await;
    assert_eq!(get_score(app, &calls, 5).await, 500);
    assert_eq!(calls.count(), 0);
}

/// A put made while a read's body runs wins: that read returns its own (older) value but
/// does not store it, so the next read sees the put's.
async fn a_put_wins_over_a_read_in_flight(app: &Arc<App>) {
    #[cache(key = "slow:<id>", ttl = 60, skip(app, started, release), cache = &app.cache)]
    async fn slow_get(app: &App, started: &Notify, release: &Notify, id: u64) -> String {
        started.notify_one();
        release.notified().await;
        format!("old {id}")
    }

    #[cache_put(slow_get(app, &Notify::new(), &Notify::new(), id))]
    async fn slow_put(app: &App, id: u64) -> String {
        format!("new {id}")
    }

    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let read = {
        let (app, started, release) = (app.clone(), started.clone(), release.clone());
        tokio::spawn(async move { slow_get(&app, &started, &release, 1).await })
    };
    started.notified().await;
    slow_put(app, 1).await;
    release.notify_one();
    assert_eq!(read.await.unwrap(), "old 1");
    let never = Notify::new();
    let after = slow_get(app, &never, &never, 1);
    let after = tokio::time::timeout(Duration::from_secs(5), after).await;
    assert_eq!(after.expect("a hit, not a body run").as_str(), "new 1");
}

async fn all(cache: Cache) {
    let app = Arc::new(App {
        cache,
        db: Db::default(),
    });
    the_read_after_a_put_is_a_hit(&app).await;
    a_put_wins_over_a_read_in_flight(&app).await;
}

#[tokio::test]
async fn memory() {
    all(Cache::memory()).await;
}

#[tokio::test]
async fn redis() {
    let server = RedisServer::start();
    all(server.cache()).await;
}

#[tokio::test]
async fn cluster() {
    let cluster = RedisCluster::start();
    all(cluster.cache()).await;
}

/// What Redis holds after a put: the key, with the TTL of `get_user`.
#[tokio::test]
async fn the_entry_has_the_read_functions_ttl() {
    let server = RedisServer::start();
    let app = App {
        cache: server.cache(),
        db: Db::default(),
    };
    rename(&app, 3, 9, "Grace").await.unwrap();
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg("user:9")
        .query(&mut server.client())
        .unwrap();
    assert!((89_000..=90_000).contains(&ttl_ms), "PTTL {ttl_ms}");
}
