use redcache::{cache, invalidate};

#[cache(key = "#user:<id>", ttl = 60)]
async fn get_user(id: u64) -> String {
    format!("user {id}")
}

#[invalidate(pattern = "#user:<id>:*")]
async fn update_user(id: u64) {
    let _ = id;
}

// An empty `tenant` writes nothing, so the key would start with the `#`.
#[cache(key = "<tenant>#<id>", ttl = 60)]
async fn get_member(tenant: &str, id: u64) -> String {
    format!("{tenant} {id}")
}

fn main() {}
