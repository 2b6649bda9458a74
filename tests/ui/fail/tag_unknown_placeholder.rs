use redcache::{cache, invalidate};

#[cache(key = "user:<id>", ttl = 60, tags = ["user:<usr>"])]
async fn get_user(id: u64) -> u64 {
    id
}

#[invalidate(tags = ["team:<tema>"])]
async fn update_team(team: u64) {
    let _ = team;
}

fn main() {}
