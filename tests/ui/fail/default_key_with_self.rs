use redcache::cache;

struct Repo;

impl Repo {
    #[cache(ttl = 60)]
    async fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
