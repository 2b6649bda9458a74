use redcache::cache;

#[cache(key = "user:<usr>:<pge>", ttl = 0, colour = "red")]
async fn get_user(user: u64, page: u32) -> u64 {
    user + u64::from(page)
}

fn main() {}
