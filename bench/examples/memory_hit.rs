//! A loop of memory-store hits, for profiling (`perf record`): not a benchmark.
use std::sync::LazyLock;

use redcache::{Cache, cache};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
}

static MEMORY: LazyLock<Cache> = LazyLock::new(Cache::memory);

#[cache(key = "mem:profile:<id>", ttl = 3600, cache = &MEMORY)]
async fn profile(id: u64) -> Result<Profile, String> {
    Ok(Profile {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
        tags: vec!["rust".into(), "redis".into()],
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for i in 0..5_000_000u64 {
        std::hint::black_box(profile(i % 1000).await.expect("ok"));
    }
}
