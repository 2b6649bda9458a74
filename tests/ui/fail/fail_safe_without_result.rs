use redcache::cache;

#[cache(key = "user:<id>", ttl = 60, stale = "5m", fail_safe = true)]
async fn get_user(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
