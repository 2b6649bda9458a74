//! The main example: an expensive lookup cached, a miss and a hit with their timings, an
//! invalidation, a write-through, the programmatic API once, and the cache's counters.
//!
//! ```text
//! cargo run --example quickstart                              # in-process memory store
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example quickstart   # Redis
//! ```

use std::time::{Duration, Instant};

use redcache::{cache, cache_put, invalidate, key};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug)]
struct NotFound;

/// Pretends to be a slow database query.
#[cache(key = "quickstart:user:<id>", ttl = "10m")]
async fn get_user(id: u64) -> Result<User, NotFound> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    if id == 0 {
        return Err(NotFound);
    }
    Ok(User {
        id,
        name: format!("user {id}"),
    })
}

/// Changes a user, then drops the cached copy so the next read sees the change.
#[invalidate(key = "quickstart:user:<id>")]
async fn rename_user(id: u64, name: String) -> Result<(), NotFound> {
    let _ = name; // a real application would write to its database here
    let _ = id;
    Ok(())
}

/// Changes a user and writes the new value through, so the next read is a hit.
#[cache_put(get_user(id))]
async fn rename_user_through(id: u64, name: String) -> Result<User, NotFound> {
    Ok(User { id, name }) // a real application would write to its database here
}

async fn timed(label: &str, id: u64) {
    let start = Instant::now();
    let user = get_user(id).await;
    println!("{label:<28} {:>8.2?}  {user:?}", start.elapsed());
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "redcache=info".into()),
        )
        .init();

    // The global cache: Redis at REDIS_URL when set, else the memory store (logged once).
    timed("first call (miss)", 42).await;
    timed("second call (hit)", 42).await;
    rename_user(42, "Ada".into()).await.expect("rename");
    println!("invalidated quickstart:user:42");
    timed("after invalidation (miss)", 42).await;
    timed("again (hit)", 42).await;
    timed("error (never cached)", 0).await;
    rename_user_through(42, "Grace".into())
        .await
        .expect("rename");
    println!("wrote quickstart:user:42 through");
    timed("after write-through (hit)", 42).await;

    // The same entry from plain code: `key!` builds the key as the macro does.
    let cache = redcache::global();
    let id = 42;
    let user: Option<User> = cache.get(&key!("quickstart:user:<id>")).await;
    println!("Cache::get of the entry       {user:?}");

    let stats = cache.stats();
    println!(
        "stats: {} hits, {} misses, {} errors, {} writes, {} invalidated",
        stats.hits, stats.misses, stats.errors, stats.writes, stats.invalidated
    );
}
