use redcache::cache;

#[cache(key = "user:<email:sha1>", ttl = 60)]
async fn get_user(email: &str) -> usize {
    email.len()
}

fn main() {}
