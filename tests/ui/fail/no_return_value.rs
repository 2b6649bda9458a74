use redcache::cache;

#[cache(key = "user:<id>", ttl = 60)]
async fn touch_user(id: u64) {
    let _ = id;
}

fn main() {}
