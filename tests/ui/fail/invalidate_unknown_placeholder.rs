use redcache::invalidate;

#[invalidate(keys = ["user:<id>", "team:<tema>"])]
async fn update_user(id: u64, team: u64) {
    let _ = (id, team);
}

fn main() {}
