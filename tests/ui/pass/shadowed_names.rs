//! Expansions must not depend on names the user can shadow: prelude types, our dependencies'
//! crate names, even `core` and `std` as local modules.
#![deny(unused_qualifications, warnings)]

use redcache::{cache, invalidate};

#[allow(dead_code)]
mod redis {}
#[allow(dead_code)]
mod serde {}
#[allow(dead_code)]
mod serde_json {}
#[allow(dead_code)]
mod tokio {}
#[allow(dead_code)]
mod cached_runtime {}
#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod std {}

#[allow(dead_code)]
struct String;
#[allow(dead_code)]
struct Vec;
#[allow(dead_code)]
struct Duration;
#[allow(dead_code)]
struct Some;
#[allow(dead_code)]
struct Ok;

type Result<T> = ::std::result::Result<T, ::std::io::Error>;
#[allow(dead_code)]
enum Option {}

#[cache(key = "user:<id>", ttl = 60)]
async fn get_user(id: u64) -> Result<u64> {
    ::std::result::Result::Ok(id)
}

#[cache(key = "maybe:<id>", ttl = "1m")]
async fn maybe(id: u64) -> ::std::option::Option<u64> {
    ::std::option::Option::Some(id)
}

#[invalidate(key = "user:<id>", pattern = "user:<id>:*")]
async fn update_user(id: u64) -> Result<()> {
    let _ = id;
    ::std::result::Result::Ok(())
}

fn main() {
    let _ = (get_user(1), maybe(1), update_user(1));
}
