use redcache::cache;

const USER_TTL: i32 = 3600;
const STALE: &str = "5m";

#[cache(key = "user:<id>", ttl = USER_TTL)]
async fn get_user(id: u64) -> u64 {
    id
}

#[cache(key = "team:<id>", ttl = 60, stale = STALE)]
async fn get_team(id: u64) -> u64 {
    id
}

fn main() {}
