use redcache::invalidate;

#[invalidate()]
async fn update_user(id: u64) {
    let _ = id;
}

fn main() {}
