use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use redcache::cache_batch;

#[derive(Debug)]
struct DbError;

#[cache_batch(key = "a:<ids>", ttl = 60)]
async fn slice(ids: &[u64]) -> HashMap<u64, String> {
    ids.iter().map(|id| (*id, id.to_string())).collect()
}

#[cache_batch(key = "a:<ids>", ttl = "1h", jitter = "10%")]
async fn owned(mut ids: Vec<String>) -> Result<BTreeMap<String, usize>, DbError> {
    ids.sort();
    Ok(ids.into_iter().map(|id| (id.clone(), id.len())).collect())
}

#[cache_batch(key = "t:<tenant>:a:<ids>", ttl = 60, tags = ["t:<tenant>"])]
async fn with_tenant(tenant: &str, ids: &Vec<u32>) -> HashMap<u32, String> {
    ids.iter().map(|id| (*id, format!("{tenant}{id}"))).collect()
}

#[cache_batch(key = "a:<ids>", ttl = 60)]
async fn hash_set(ids: HashSet<i64>) -> HashMap<i64, i64> {
    ids.into_iter().map(|id| (id, id)).collect()
}

#[cache_batch(key = "a:<ids>", ttl = 60)]
async fn btree_set(ids: BTreeSet<u8>) -> BTreeMap<u8, u8> {
    ids.into_iter().map(|id| (id, id)).collect()
}

fn main() {
    let _ = (
        slice(&[]),
        owned(Vec::new()),
        with_tenant("t", &Vec::new()),
        hash_set(HashSet::new()),
        btree_set(BTreeSet::new()),
    );
}
