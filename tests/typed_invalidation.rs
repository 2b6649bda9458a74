//! `#[invalidate(get_user(id))]` deletes exactly the entry `get_user(id)` reads: the key
//! template is written once, in `#[cache]`.

mod support;

use redcache::{Cache, cache, invalidate};
use support::{Calls, RedisServer};

#[cache(key = "user:<id>:<lang>", ttl = 60, skip(cache, calls), cache = cache)]
async fn get_user(cache: &Cache, calls: &Calls, id: u64, lang: &str) -> String {
    calls.hit();
    format!("user {id} in {lang}")
}

#[invalidate(get_user(cache, &Calls::default(), id, "en"), cache = cache)]
async fn rename_user(cache: &Cache, id: u64, name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

mod reports {
    use super::*;

    #[cache(ttl = 60, skip(cache), cache = cache)]
    pub async fn monthly(cache: &Cache, year: u16, month: u8) -> Vec<u32> {
        vec![u32::from(year), u32::from(month)]
    }
}

#[invalidate(reports::monthly(cache, year, 1), reports::monthly(cache, year, 2), cache = cache)]
async fn close_quarter(cache: &Cache, year: u16) {}

struct Repo {
    cache: Cache,
    calls: Calls,
}

impl Repo {
    #[cache(key = "repo:<id>", ttl = 60, skip(self), cache = &self.cache)]
    pub(crate) async fn get(&self, id: u32) -> u32 {
        self.calls.hit();
        id * 2
    }

    #[invalidate(self.get(id), cache = &self.cache)]
    pub(crate) async fn set(&self, id: u32) {}

    #[invalidate(Self::get(self, id), cache = &self.cache)]
    pub(crate) async fn reset(&self, id: u32) {}
}

async fn drops_exactly_the_entry_the_call_reads(cache: &Cache) {
    let calls = Calls::default();
    get_user(cache, &calls, 1, "en").await;
    get_user(cache, &calls, 1, "fr").await;
    get_user(cache, &calls, 2, "en").await;
    rename_user(cache, 1, "Ada".into()).await.unwrap();
    get_user(cache, &calls, 1, "en").await;
    get_user(cache, &calls, 1, "fr").await;
    get_user(cache, &calls, 2, "en").await;
    assert_eq!(calls.count(), 4, "only user 1 in en ran again");
    assert_eq!(cache.stats().invalidated, 1);
}

#[tokio::test]
async fn free_function_on_redis() {
    let server = RedisServer::start();
    drops_exactly_the_entry_the_call_reads(&server.cache()).await;
}

#[tokio::test]
async fn free_function_on_memory() {
    drops_exactly_the_entry_the_call_reads(&Cache::memory()).await;
}

#[tokio::test]
async fn functions_in_other_modules_and_default_keys() {
    let server = RedisServer::start();
    let cache = server.cache();
    for month in 1..=3 {
        reports::monthly(&cache, 2026, month).await;
    }
    close_quarter(&cache, 2026).await;
    let mut keys: Vec<String> = redis::Commands::keys(&mut server.client(), "*").unwrap();
    keys.sort();
    assert_eq!(keys, ["typed_invalidation::reports::monthly:2026:3"]);
}

#[tokio::test]
async fn methods_by_method_call_and_by_path() {
    let repo = Repo {
        cache: Cache::memory(),
        calls: Calls::default(),
    };
    repo.get(1).await;
    repo.get(2).await;
    repo.set(1).await;
    repo.get(1).await;
    repo.get(2).await;
    assert_eq!(repo.calls.count(), 3);
    repo.reset(2).await;
    repo.get(2).await;
    assert_eq!(repo.calls.count(), 4);
}
