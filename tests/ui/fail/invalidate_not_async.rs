use redcache::invalidate;

#[invalidate(key = "user:<id>")]
fn update_user(id: u64) {
    let _ = id;
}

fn main() {}
