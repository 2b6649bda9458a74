use redcache::cache;

#[cache(key = "user:<id>", ttl = 1.5)]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {}
