use std::collections::HashMap;

use redcache::cache_batch;

#[cache_batch(key = "user:<id>", ttl = 60)]
async fn no_collection(id: u64) -> HashMap<u64, String> {
    HashMap::from([(id, String::new())])
}

#[cache_batch(key = "user:<ids>:<teams>", ttl = 60)]
async fn two_collections(ids: &[u64], teams: Vec<u32>) -> HashMap<u64, String> {
    let _ = teams;
    ids.iter().map(|id| (*id, String::new())).collect()
}

#[cache_batch(key = "user:<ids>", ttl = 60)]
async fn returns_a_vec(ids: &[u64]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[cache_batch(key = "users", ttl = 60, skip(ids))]
async fn key_without_the_collection(ids: &[u64]) -> HashMap<u64, String> {
    ids.iter().map(|id| (*id, String::new())).collect()
}

#[cache_batch(key = "user:<ids>", ttl = 60, stale = 30)]
async fn stale_does_not_apply(ids: &[u64]) -> HashMap<u64, String> {
    ids.iter().map(|id| (*id, String::new())).collect()
}

fn main() {}
