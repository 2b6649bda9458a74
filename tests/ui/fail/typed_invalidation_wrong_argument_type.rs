use redcache::{cache, invalidate};

#[cache(key = "user:<id>", ttl = 60)]
async fn get_user(id: u64) -> u64 {
    id
}

#[invalidate(get_user(name))]
async fn rename_user(name: &str) {}

fn main() {}
