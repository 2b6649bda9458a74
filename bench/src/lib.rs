//! What the benchmark programs share: the ~200-byte cached value and the "database" that
//! builds it, medians, and the process's resident set size.

use serde::{Deserialize, Serialize};

/// The cached value: about 200 bytes of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub bio: String,
    pub tags: Vec<String>,
    pub score: u32,
    pub active: bool,
}

/// The "database": builds the value, instantly.
pub fn load(id: u64) -> Profile {
    Profile {
        id,
        name: format!("User Number {id}"),
        email: format!("user{id}@example.com"),
        bio: "Writes Rust services, runs Redis in production, likes fast caches.".into(),
        tags: vec!["rust".into(), "redis".into(), "cache".into()],
        score: (id % 1000) as u32,
        active: id % 2 == 0,
    }
}

/// The middle value (sorts `values`).
pub fn median<T: Ord + Copy>(values: &mut [T]) -> T {
    values.sort();
    values[values.len() / 2]
}

/// This process's resident set size in kB (`VmRSS` in `/proc/self/status`; 0 if unreadable).
pub fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
