use redcache::cache;

#[cache(key = "user:<id>", ttl = 60, ttl = "1h")]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {}
