use redcache::cache;

#[cache(key = "user:<id>", ttl = 60, jitter = "150%")]
async fn get_user(id: u64) -> u64 {
    id
}

#[cache(key = "user:<id>", ttl = 60, jitter = 10)]
async fn get_other(id: u64) -> u64 {
    id
}

fn main() {}
