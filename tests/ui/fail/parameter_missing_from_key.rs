use redcache::cache;

#[cache(key = "users:<org>", ttl = 60)]
async fn list_users(org: u64, page: u32) -> Vec<String> {
    vec![format!("{org}:{page}")]
}

fn main() {}
