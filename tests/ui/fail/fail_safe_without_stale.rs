use redcache::cache;

#[cache(key = "user:<id>", ttl = 60, fail_safe = true)]
async fn get_user(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
