use redcache::cache;

#[cache(key = "user:<id>", ttl = 18446744073709551)]
async fn get_user(id: u64) -> u64 {
    id
}

#[cache(key = "team:<id>", ttl = 60, stale = "40000d")]
async fn get_team(id: u64) -> u64 {
    id
}

fn main() {}
