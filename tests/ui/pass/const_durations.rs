//! `ttl` and `stale` given as paths to `const`s: `u64` seconds or `Duration`, from this
//! module, another module, or a type.
#![deny(warnings)]

use std::time::Duration;

use redcache::cache;

const USER_TTL: u64 = 3600;
const STALE: Duration = Duration::from_millis(1500);

mod config {
    pub const SHORT: std::time::Duration = std::time::Duration::from_secs(30);
}

struct Limits;

impl Limits {
    const LONG: u64 = 86_400;
}

#[cache(key = "user:<id>", ttl = USER_TTL, stale = STALE, fail_safe)]
async fn get_user(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[cache(key = "short:<id>", ttl = config::SHORT)]
async fn short(id: u64) -> u64 {
    id
}

#[cache(key = "long:<id>", ttl = Limits::LONG, stale = "1m")]
async fn long(id: u64) -> u64 {
    id
}

fn main() {
    let _ = (get_user(1), short(1), long(1));
}
