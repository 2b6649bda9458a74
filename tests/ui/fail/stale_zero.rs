use redcache::cache;

#[cache(key = "user:<id>", ttl = 60, stale = "0m")]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {}
