use redcache::cache_put;

#[cache_put(key = "user:<id>")]
async fn save_user(id: u64) -> u64 {
    id
}

#[cache_put]
async fn save_other(id: u64) -> u64 {
    id
}

fn main() {}
