use redcache::cache;

#[cache(key = "user:<id>", tll = 60)]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {}
