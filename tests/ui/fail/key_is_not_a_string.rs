use redcache::cache;

#[cache(key = user_id, ttl = 60)]
async fn get_user(user_id: u64) -> u64 {
    user_id
}

fn main() {}
