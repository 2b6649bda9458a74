use redcache::cache;

const FOREVER: u64 = u64::MAX;

#[cache(key = "user:<id>", ttl = FOREVER)]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {}
