//! A loop of memory-store hits, for profiling (`perf record`, `valgrind --tool=callgrind`):
//! not a benchmark. The number of hits is the first argument (5,000,000 if none).
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
    let hits: u64 = std::env::args()
        .nth(1)
        .map_or(5_000_000, |n| n.parse().expect("a number of hits"));
    for i in 0..hits {
        std::hint::black_box(profile(i % 1000).await.expect("ok"));
    }
}
