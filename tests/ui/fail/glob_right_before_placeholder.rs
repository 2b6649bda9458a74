use redcache::invalidate;

#[invalidate(pattern = "user:*<id>")]
async fn update_user(id: u64) {
    let _ = id;
}

fn main() {}
