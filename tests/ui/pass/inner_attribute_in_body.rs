//! Inner attributes at the top of a body apply to the whole function, as without the macros,
//! although the macros move the body into an `async move` block.
#![deny(warnings)]

use redcache::{cache, invalidate};

#[cache(key = "user:<id>", ttl = 60)]
async fn get_user(id: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = 1;
    id
}

#[cache(key = "strict:<id>", ttl = 60)]
async fn strict(id: u64) -> Option<u64> {
    #![deny(warnings)]
    //! Inner doc comments are inner attributes too.
    Some(id)
}

#[invalidate(key = "user:<id>")]
async fn update_user(id: u64) -> Result<(), String> {
    #![allow(unused_variables)]
    #![deny(warnings)]
    let unused = 1;
    let _ = id;
    Ok(())
}

fn main() {
    let _ = (get_user(1), strict(1), update_user(1));
}
