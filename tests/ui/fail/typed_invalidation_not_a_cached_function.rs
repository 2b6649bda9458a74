use redcache::invalidate;

async fn get_user(id: u64) -> u64 {
    id
}

#[invalidate(get_user(id))]
async fn update_user(id: u64) {}

fn main() {
    let _ = get_user(1);
}
