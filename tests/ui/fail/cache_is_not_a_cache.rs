use redcache::cache;

#[cache(key = "user:<id>", ttl = 60, cache = &42)]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {}
