use redcache::cache;

struct User {
    id: u64,
}

#[cache(key = "user:<id>", ttl = 60)]
async fn get_user(id: u64) -> Result<User, String> {
    Ok(User { id })
}

fn main() {}
