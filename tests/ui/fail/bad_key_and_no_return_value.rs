use redcache::cache;

#[cache(key = "user:<id", ttl = 60, cache_none = true, tags = ["team:<tem>"])]
async fn touch_user(id: u64) {
    let _ = id;
}

fn main() {}
