use redcache::{cache, invalidate};

#[cache(key = "user:<id>", ttl = 60)]
async fn get_user(id: u64) -> u64 {
    id
}

#[invalidate(get_usr(id))]
async fn update_user(id: u64) {}

fn main() {}
