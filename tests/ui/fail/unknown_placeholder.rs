use redcache::cache;

#[cache(key = "user:<usr_id>", ttl = 60)]
async fn get_user(user_id: u64) -> String {
    format!("user {user_id}")
}

fn main() {}
