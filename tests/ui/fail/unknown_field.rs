use redcache::cache;

struct User {
    id: u64,
}

#[cache(key = "user:<user.uid>", ttl = 60)]
async fn profile(user: &User) -> u64 {
    user.id
}

fn main() {}
