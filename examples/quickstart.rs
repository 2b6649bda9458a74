//! The main example: an expensive lookup cached, a miss and a hit with their timings, an
//! invalidation, and the cache's counters.
//!
//! ```text
//! cargo run --example quickstart                              # in-process memory store
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example quickstart   # Redis
//! ```

use std::time::{Duration, Instant};

use redcache::{cache, invalidate};
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

    let stats = redcache::global().stats();
    println!(
        "stats: {} hits, {} misses, {} errors, {} writes, {} invalidated",
        stats.hits, stats.misses, stats.errors, stats.writes, stats.invalidated
    );
}
