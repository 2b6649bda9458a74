//! Typed invalidation and `#[cache_put]` act on the cache the named function uses (its
//! `cache = ..`, evaluated with the given arguments), never on another one, and do not
//! install the global cache as a side effect. Its own test binary: it checks the process-wide
//! global cache.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use redcache::{Cache, cache, cache_put, invalidate};
use support::RedisServer;

struct State {
    cache: Cache,
    /// Stands in for the database row.
    data: AtomicU32,
}

#[cache(key = "item:<id>", ttl = 60, skip(state), cache = &state.cache)]
async fn get_item(state: &State, id: u32) -> u32 {
    state.data.load(Ordering::SeqCst) + id
}

/// No `cache = ..`: the entry is deleted from `get_item`'s cache, `state.cache`.
#[invalidate(get_item(state, id))]
async fn update_item(state: &State, id: u32, value: u32) {
    state.data.store(value, Ordering::SeqCst);
}

#[cache_put(get_item(state, id))]
async fn put_item(state: &State, id: u32, value: u32) -> u32 {
    state.data.store(value, Ordering::SeqCst);
    value + id
}

#[tokio::test]
async fn typed_invalidation_and_put_use_the_functions_own_cache() {
    let server = RedisServer::start();
    let state = State {
        cache: server.cache(),
        data: AtomicU32::new(1),
    };
    assert_eq!(get_item(&state, 0).await, 1);
    update_item(&state, 0, 2).await;
    assert_eq!(get_item(&state, 0).await, 2, "the read sees the new data");

    put_item(&state, 0, 3).await;
    assert_eq!(state.cache.get::<u32>("item:0").await, Some(3));
    assert_eq!(get_item(&state, 0).await, 3);

    // Neither touched the global cache: it can still be installed.
    assert!(redcache::set_global(Cache::memory()).is_ok());
}
