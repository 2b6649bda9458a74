use redcache::cache;

#[cache(key = "user:<id>", ttl = 60, skip(dbb))]
async fn get_user(db: &str, id: u64) -> u64 {
    let _ = db;
    id
}

fn main() {}
