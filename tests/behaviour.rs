//! What `#[cache]` and `#[invalidate]` do, checked on both stores: each scenario runs once on
//! a `redis-server` of its own and once on the memory store.

mod support;

use std::time::Duration;

use redcache::{Cache, KeyPart, KeyWriter, cache, invalidate};
use serde::{Deserialize, Serialize};
use support::{Calls, RedisServer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[cache(key = "user:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn get_user(cache: &Cache, calls: &Calls, id: u64) -> Result<User, String> {
    calls.hit();
    if id == 0 {
        return Err("there is no user 0".into());
    }
    Ok(User {
        id,
        name: format!("user {id}"),
    })
}

#[invalidate(key = "user:<id>", cache = cache)]
async fn update_user(cache: &Cache, id: u64, fail: bool) -> Result<(), String> {
    if fail {
        Err("update failed".into())
    } else {
        Ok(())
    }
}

#[cache(key = "user:<id>:posts", ttl = 60, skip(cache, calls), cache = cache)]
async fn user_posts(cache: &Cache, calls: &Calls, id: u64) -> Vec<String> {
    calls.hit();
    vec![format!("post of {id}")]
}

#[invalidate(pattern = "user:<id>:*", cache = cache)]
async fn drop_user_children(cache: &Cache, id: u64) {}

#[cache(key = "team:<name>:members", ttl = 60, skip(cache, calls), cache = cache)]
async fn team_members(cache: &Cache, calls: &Calls, name: &str) -> Vec<String> {
    calls.hit();
    vec![format!("member of {name}")]
}

#[invalidate(patterns = ["team:<name>:*"], cache = cache)]
async fn drop_team(cache: &Cache, name: &str) {}

#[cache(key = "opt:<value>", ttl = 60, skip(cache, calls), cache = cache)]
async fn echo_option(cache: &Cache, calls: &Calls, value: Option<&str>) -> String {
    calls.hit();
    format!("{value:?}")
}

#[cache(key = "pair:<a>:<b>", ttl = 60, skip(cache, calls), cache = cache)]
async fn echo_pair(cache: &Cache, calls: &Calls, a: &str, b: &str) -> String {
    calls.hit();
    format!("{a}|{b}")
}

#[cache(key = "find:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn find(cache: &Cache, calls: &Calls, id: u64) -> Option<u64> {
    calls.hit();
    (id % 2 == 0).then_some(id * 10)
}

#[cache(key = "find_none:<id>", ttl = 60, cache_none = true, skip(cache, calls), cache = cache)]
async fn find_caching_none(cache: &Cache, calls: &Calls, id: u64) -> Option<u64> {
    calls.hit();
    (id % 2 == 0).then_some(id * 10)
}

/// A lookup that can fail, find nothing, or find something: `Result<Option<T>, E>`.
#[cache(key = "lookup:<id>", ttl = 60, fail_safe = true, stale = "1m", skip(cache, calls), cache = cache)]
async fn lookup(cache: &Cache, calls: &Calls, id: u64) -> Result<Option<u64>, String> {
    calls.hit();
    match id {
        0 => Err("database down".into()),
        id if id % 2 == 0 => Ok(Some(id * 10)),
        _ => Ok(None),
    }
}

#[cache(key = "lookup_none:<id>", ttl = 60, cache_none = true, skip(cache, calls), cache = cache)]
async fn lookup_caching_none(cache: &Cache, calls: &Calls, id: u64) -> Result<Option<u64>, String> {
    calls.hit();
    Ok((id % 2 == 0).then_some(id * 10))
}

// Two functions reading one key with different types: the second finds JSON that does not
// fit its type (as after a schema change).
#[cache(key = "shared:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn shared_as_text(cache: &Cache, calls: &Calls, id: u64) -> String {
    calls.hit();
    format!("text {id}")
}

#[cache(key = "shared:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn shared_as_number(cache: &Cache, calls: &Calls, id: u64) -> u64 {
    calls.hit();
    id
}

#[cache(key = "short:<id>", ttl = "300ms", skip(cache, calls), cache = cache)]
async fn short_lived(cache: &Cache, calls: &Calls, id: u64) -> u64 {
    calls.hit();
    id
}

struct Repo {
    cache: Cache,
    name: String,
    calls: Calls,
}

impl Repo {
    #[cache(key = "repo:<self.name>:<id>", ttl = 60, cache = &self.cache)]
    async fn get(&self, id: u32) -> String {
        self.calls.hit();
        format!("{}#{id}", self.name)
    }

    #[invalidate(key = "repo:<self.name>:<id>", cache = &self.cache)]
    async fn forget(&self, id: u32) {}
}

/// A user type that opts in to being a key part.
struct Email(String);

impl KeyPart for Email {
    fn write_key_part(&self, key: &mut KeyWriter) {
        key.write_str(&self.0.to_lowercase());
    }
}

#[cache(key = "by_email:<email>", ttl = 60, skip(cache, calls), cache = cache)]
async fn by_email(cache: &Cache, calls: &Calls, email: Email) -> String {
    calls.hit();
    email.0
}

/// Generates one test on a fresh Redis and one on a fresh memory cache.
macro_rules! on_both_stores {
    ($(async fn $name:ident($cache:ident: &Cache) $body:block)*) => {
        mod on_redis {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let server = RedisServer::start();
                    let $cache = &server.cache();
                    $body
                }
            )*
        }
        mod on_memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $cache = &Cache::memory();
                    $body
                }
            )*
        }
    };
}

on_both_stores! {
    async fn miss_then_hit_runs_the_body_once(cache: &Cache) {
        let calls = Calls::default();
        let first = get_user(cache, &calls, 42).await;
        let second = get_user(cache, &calls, 42).await;
        assert_eq!(first, Ok(User { id: 42, name: "user 42".into() }));
        assert_eq!(second, first);
        assert_eq!(calls.count(), 1);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.writes, stats.errors), (1, 1, 1, 0));
    }

    async fn err_is_never_cached(cache: &Cache) {
        let calls = Calls::default();
        assert!(get_user(cache, &calls, 0).await.is_err());
        assert!(get_user(cache, &calls, 0).await.is_err());
        assert_eq!(calls.count(), 2);
        assert_eq!(cache.stats().writes, 0);
    }

    async fn none_is_cached_only_with_cache_none(cache: &Cache) {
        let calls = Calls::default();
        assert_eq!(find(cache, &calls, 1).await, None);
        assert_eq!(find(cache, &calls, 1).await, None);
        assert_eq!(calls.count(), 2, "None is not cached by default");
        assert_eq!(find(cache, &calls, 2).await, Some(20));
        assert_eq!(find(cache, &calls, 2).await, Some(20));
        assert_eq!(calls.count(), 3, "Some is cached");

        let calls = Calls::default();
        assert_eq!(find_caching_none(cache, &calls, 1).await, None);
        assert_eq!(find_caching_none(cache, &calls, 1).await, None);
        assert_eq!(calls.count(), 1, "cache_none = true caches None");
    }

    async fn result_of_option_caches_ok_some_only(cache: &Cache) {
        // A "not found" is not remembered for the whole TTL: the row may be created next.
        let calls = Calls::default();
        assert_eq!(lookup(cache, &calls, 3).await, Ok(None));
        assert_eq!(lookup(cache, &calls, 3).await, Ok(None));
        assert_eq!(calls.count(), 2, "Ok(None) is not cached");
        assert_eq!(lookup(cache, &calls, 4).await, Ok(Some(40)));
        assert_eq!(lookup(cache, &calls, 4).await, Ok(Some(40)));
        assert_eq!(calls.count(), 3, "Ok(Some) is");
        assert!(lookup(cache, &calls, 0).await.is_err());
        assert_eq!(calls.count(), 4);

        let calls = Calls::default();
        assert_eq!(lookup_caching_none(cache, &calls, 3).await, Ok(None));
        assert_eq!(lookup_caching_none(cache, &calls, 3).await, Ok(None));
        assert_eq!(calls.count(), 1, "cache_none = true caches Ok(None)");
    }

    async fn none_and_some_empty_are_distinct_keys(cache: &Cache) {
        let calls = Calls::default();
        assert_eq!(echo_option(cache, &calls, None).await, "None");
        assert_eq!(echo_option(cache, &calls, Some("")).await, "Some(\"\")");
        assert_eq!(echo_option(cache, &calls, Some("~")).await, "Some(\"~\")");
        assert_eq!(echo_option(cache, &calls, None).await, "None");
        assert_eq!(echo_option(cache, &calls, Some("")).await, "Some(\"\")");
        assert_eq!(calls.count(), 3);
    }

    async fn separators_inside_values_do_not_merge_keys(cache: &Cache) {
        let calls = Calls::default();
        assert_eq!(echo_pair(cache, &calls, "a:b", "c").await, "a:b|c");
        assert_eq!(echo_pair(cache, &calls, "a", "b:c").await, "a|b:c");
        assert_eq!(echo_pair(cache, &calls, "a:b", "c").await, "a:b|c");
        assert_eq!(echo_pair(cache, &calls, "a", "b:c").await, "a|b:c");
        assert_eq!(calls.count(), 2);
    }

    async fn exact_invalidation_after_success_only(cache: &Cache) {
        let calls = Calls::default();
        get_user(cache, &calls, 7).await.unwrap();
        assert!(update_user(cache, 7, true).await.is_err());
        get_user(cache, &calls, 7).await.unwrap();
        assert_eq!(calls.count(), 1, "a failed update leaves the entry");
        update_user(cache, 7, false).await.unwrap();
        get_user(cache, &calls, 7).await.unwrap();
        assert_eq!(calls.count(), 2, "a successful update drops the entry");
        assert_eq!(cache.stats().invalidated, 1);
    }

    async fn pattern_invalidation_stays_inside_its_id(cache: &Cache) {
        let calls = Calls::default();
        user_posts(cache, &calls, 1).await;
        user_posts(cache, &calls, 10).await;
        get_user(cache, &calls, 1).await.unwrap();
        assert_eq!(calls.count(), 3);
        drop_user_children(cache, 1).await;
        user_posts(cache, &calls, 10).await;
        get_user(cache, &calls, 1).await.unwrap();
        assert_eq!(calls.count(), 3, "user 10 and user:1 itself are untouched");
        user_posts(cache, &calls, 1).await;
        assert_eq!(calls.count(), 4, "user:1:posts was deleted");
    }

    async fn a_star_in_a_value_does_not_widen_a_pattern(cache: &Cache) {
        let calls = Calls::default();
        team_members(cache, &calls, "*").await;
        team_members(cache, &calls, "x").await;
        assert_eq!(calls.count(), 2);
        drop_team(cache, "*").await;
        team_members(cache, &calls, "x").await;
        assert_eq!(calls.count(), 2, "team x survives an invalidation of team `*`");
        team_members(cache, &calls, "*").await;
        assert_eq!(calls.count(), 3, "team `*` itself was deleted");
    }

    async fn undecodable_entry_is_a_miss_and_is_overwritten(cache: &Cache) {
        let calls = Calls::default();
        assert_eq!(shared_as_text(cache, &calls, 1).await, "text 1");
        assert_eq!(shared_as_number(cache, &calls, 1).await, 1);
        assert_eq!(shared_as_number(cache, &calls, 1).await, 1);
        assert_eq!(calls.count(), 2, "decode failure ran the body once, then the rewrite hit");
        let stats = cache.stats();
        assert_eq!((stats.decode_errors, stats.errors), (1, 1));
    }

    async fn entries_expire_after_their_ttl(cache: &Cache) {
        let calls = Calls::default();
        short_lived(cache, &calls, 5).await;
        short_lived(cache, &calls, 5).await;
        assert_eq!(calls.count(), 1);
        tokio::time::sleep(Duration::from_millis(700)).await;
        short_lived(cache, &calls, 5).await;
        assert_eq!(calls.count(), 2);
    }

    async fn methods_read_fields_through_self(cache: &Cache) {
        let repo = Repo { cache: cache.clone(), name: "books".into(), calls: Calls::default() };
        assert_eq!(repo.get(3).await, "books#3");
        assert_eq!(repo.get(3).await, "books#3");
        assert_eq!(repo.calls.count(), 1);
        repo.forget(3).await;
        repo.get(3).await;
        assert_eq!(repo.calls.count(), 2);
    }

    async fn user_types_opt_in_as_key_parts(cache: &Cache) {
        let calls = Calls::default();
        by_email(cache, &calls, Email("Ada@Example.com".into())).await;
        by_email(cache, &calls, Email("ada@example.com".into())).await;
        assert_eq!(calls.count(), 1, "the KeyPart impl lower-cases, so both share a key");
    }
}

#[test]
fn cached_futures_are_send_when_inputs_are() {
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let cache = Cache::memory();
    let calls = Calls::default();
    assert_send(get_user(&cache, &calls, 1));
    assert_send(update_user(&cache, 1, false));
    assert_send(drop_team(&cache, "x"));
}

/// Counts how often it is decoded from JSON.
static DECODED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Counted(u64);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DECODED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        u64::deserialize(deserializer).map(Counted)
    }
}

#[cache(key = "counted:<id>", ttl = 60, skip(cache), cache = cache)]
async fn counted(cache: &Cache, id: u64) -> Counted {
    Counted(id)
}

#[tokio::test]
async fn memory_hits_on_clone_types_skip_json_decoding() {
    let memory = Cache::memory();
    counted(&memory, 1).await;
    let before = DECODED.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(counted(&memory, 1).await, Counted(1));
    }
    assert_eq!(memory.stats().hits, 10);
    assert_eq!(
        DECODED.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "memory hits cloned the kept value"
    );

    let server = RedisServer::start();
    let redis = server.cache();
    counted(&redis, 1).await;
    let before = DECODED.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(counted(&redis, 1).await, Counted(1));
    assert_eq!(
        DECODED.load(std::sync::atomic::Ordering::SeqCst),
        before + 1,
        "Redis hits decode JSON"
    );
}
