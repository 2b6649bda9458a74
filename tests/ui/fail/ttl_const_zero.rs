use std::time::Duration;

use redcache::cache;

const NO_TIME: u64 = 0;
const NO_STALE: Duration = Duration::from_millis(0);

#[cache(key = "user:<id>", ttl = NO_TIME)]
async fn get_user(id: u64) -> u64 {
    id
}

#[cache(key = "team:<id>", ttl = 60, stale = NO_STALE)]
async fn get_team(id: u64) -> u64 {
    id
}

fn main() {}
