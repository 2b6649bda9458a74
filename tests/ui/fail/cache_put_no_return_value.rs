use redcache::{cache, cache_put};

#[cache(key = "user:<id>", ttl = 60)]
async fn get_user(id: u64) -> u64 {
    id
}

#[cache_put(get_user(id))]
async fn save_user(id: u64) {
    let _ = id;
}

fn main() {}
