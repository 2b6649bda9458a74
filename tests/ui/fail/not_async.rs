use redcache::cache;

#[cache(key = "user:<id>", ttl = 60)]
fn get_user(id: u64) -> String {
    format!("user {id}")
}

fn main() {}
