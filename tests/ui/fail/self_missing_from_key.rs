use redcache::cache;

struct Repo;

impl Repo {
    #[cache(key = "user:<id>", ttl = 60)]
    async fn get(&self, id: u64) -> String {
        format!("user {id}")
    }
}

fn main() {}
