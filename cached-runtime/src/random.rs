//! Random numbers for lease tokens, entry nonces and TTL jitter, from std's per-process random
//! keys (no dependency, no shared state to contend on).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

pub(crate) fn u64() -> u64 {
    // Each `RandomState::new()` on a thread gets new keys, so hashing nothing yields a fresh
    // pseudo-random value every call.
    RandomState::new().build_hasher().finish()
}

/// Uniform in `0..=max`.
pub(crate) fn up_to(max: u64) -> u64 {
    if max == u64::MAX {
        return u64();
    }
    u64() % (max + 1)
}
