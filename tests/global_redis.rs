//! `set_global` installs the cache the macros use when no `cache = ..` is given.

mod support;

use redcache::cache;
use redis::Commands;
use support::{Calls, RedisServer};

#[cache(key = "profile:<id>", ttl = "1h", skip(calls))]
async fn profile(calls: &Calls, id: u64) -> String {
    calls.hit();
    format!("profile {id}")
}

#[tokio::test]
async fn macros_use_the_installed_global_cache() {
    let server = RedisServer::start();
    redcache::set_global(
        redcache::Cache::builder()
            .url(server.url())
            .prefix("svc")
            .build()
            .unwrap(),
    )
    .expect("first install");
    let calls = Calls::default();
    profile(&calls, 5).await;
    profile(&calls, 5).await;
    assert_eq!(calls.count(), 1);
    let keys: Vec<String> = server.client().keys("*").unwrap();
    assert_eq!(keys, ["svc:profile:5"]);
    assert!(redcache::set_global(redcache::Cache::memory()).is_err());
}
