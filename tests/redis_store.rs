//! What Redis holds and how many commands reach it: exact keys, TTLs, prefixes, command counts
//! per hit and miss, and foreign data at a key.

mod support;

use redcache::{Cache, cache, invalidate};
use redis::Commands;
use support::{Calls, RedisServer};

#[cache(key = "user:<user_id>", ttl = 3600, skip(cache, calls), cache = cache)]
async fn get_user(cache: &Cache, calls: &Calls, user_id: u64) -> Result<String, String> {
    calls.hit();
    Ok(format!("user {user_id}"))
}

#[invalidate(pattern = "user:*", cache = cache)]
async fn drop_all_users(cache: &Cache) {}

#[cache(key = "session:<email:hash>", ttl = "10m", skip(cache), cache = cache)]
async fn session(cache: &Cache, email: &str) -> usize {
    email.len()
}

#[cache(ttl = "90s", skip(cache), cache = cache)]
async fn default_keyed(cache: &Cache, id: u32, name: &str, tag: Option<char>) -> String {
    format!("{id}{name}{tag:?}")
}

#[cache(key = "slow:<id>", ttl = 60, skip(cache, version), cache = cache)]
async fn slow_read(cache: &Cache, version: &std::sync::atomic::AtomicU64, id: u64) -> u64 {
    let seen = version.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    seen
}

#[invalidate(key = "slow:<id>", cache = cache)]
async fn forget_slow(cache: &Cache, id: u64) {}

#[cache(key = "literal:<<<id>>>", ttl = 60, skip(cache), cache = cache)]
async fn angle_brackets(cache: &Cache, id: u8) -> u8 {
    id
}

/// Durations from `const`s (SPEC §12): `u64` seconds and `Duration`.
const PROFILE_TTL: u64 = 1800;
const PROFILE_STALE: std::time::Duration = std::time::Duration::from_secs(600);

#[cache(key = "profile:<id>", ttl = PROFILE_TTL, skip(cache), cache = cache)]
async fn profile(cache: &Cache, id: u64) -> u64 {
    id
}

#[cache(key = "stale_profile:<id>", ttl = PROFILE_TTL, stale = PROFILE_STALE, skip(cache), cache = cache)]
async fn stale_profile(cache: &Cache, id: u64) -> u64 {
    id
}

fn keys(server: &RedisServer) -> Vec<String> {
    let mut keys: Vec<String> = server.client().keys("*").unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn key_value_and_ttl_are_what_an_operator_expects() {
    let server = RedisServer::start();
    let cache = server.cache();
    get_user(&cache, &Calls::default(), 42).await.unwrap();

    assert_eq!(keys(&server), ["user:42"]);
    let mut redis = server.client();
    let stored: Vec<u8> = redis.get("user:42").unwrap();
    assert_eq!(stored, b"rc1\n\"user 42\"");
    let ttl: i64 = redis.pttl("user:42").unwrap();
    assert!((3_590_000..=3_600_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn a_ttl_from_a_const_is_the_keys_ttl() {
    let server = RedisServer::start();
    let cache = server.cache();
    profile(&cache, 1).await;
    stale_profile(&cache, 1).await;

    let mut redis = server.client();
    let ttl: i64 = redis.pttl("profile:1").unwrap();
    assert!((1_790_000..=1_800_000).contains(&ttl), "PTTL {ttl}");
    // With `stale`, the key lives `ttl + stale`.
    let ttl: i64 = redis.pttl("stale_profile:1").unwrap();
    assert!((2_390_000..=2_400_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn prefix_is_prepended_and_bounds_pattern_invalidation() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .prefix("app")
        .build()
        .unwrap();
    let mut redis = server.client();
    let _: () = redis.set("user:1", "someone else's key").unwrap();
    get_user(&cache, &Calls::default(), 42).await.unwrap();
    assert_eq!(keys(&server), ["app:user:42", "user:1"]);

    drop_all_users(&cache).await;
    assert_eq!(keys(&server), ["user:1"], "only keys inside the prefix go");
}

#[tokio::test]
async fn glob_characters_in_the_prefix_are_matched_literally() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .prefix("t[1]")
        .build()
        .unwrap();
    let mut redis = server.client();
    let _: () = redis.set("t1:user:5", "outside").unwrap();
    get_user(&cache, &Calls::default(), 5).await.unwrap();
    drop_all_users(&cache).await;
    assert_eq!(keys(&server), ["t1:user:5"]);
}

#[tokio::test]
async fn hashed_placeholder_hides_the_value() {
    let server = RedisServer::start();
    let cache = server.cache();
    assert_eq!(session(&cache, "ada@example.com").await, 15);
    let keys = keys(&server);
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert!(
        key.starts_with("session:") && key.len() == "session:".len() + 32,
        "{key}"
    );
    assert!(!key.contains("ada"), "{key}");
    let ttl: i64 = server.client().ttl(key).unwrap();
    assert!((590..=600).contains(&ttl), "TTL {ttl}");
}

#[tokio::test]
async fn default_key_is_the_function_path_and_its_arguments() {
    let server = RedisServer::start();
    let cache = server.cache();
    default_keyed(&cache, 7, "a b", None).await;
    default_keyed(&cache, 7, "x", Some('*')).await;
    assert_eq!(
        keys(&server),
        [
            "redis_store::default_keyed:7:a%20b:~",
            "redis_store::default_keyed:7:x:%2A"
        ]
    );
}

#[tokio::test]
async fn doubled_angle_brackets_are_literal() {
    let server = RedisServer::start();
    angle_brackets(&server.cache(), 3).await;
    assert_eq!(keys(&server), ["literal:<3>"]);
}

/// What each path sends: `(GET, SET, EVALSHA)` counts from `INFO commandstats`.
fn commands(server: &RedisServer) -> (u64, u64, u64) {
    let counts = (
        server.command_calls("GET"),
        server.command_calls("SET"),
        server.command_calls("EVALSHA"),
    );
    server.reset_stats();
    counts
}

#[tokio::test]
async fn a_hit_is_one_get_and_a_miss_adds_a_lease_and_one_write() {
    let server = RedisServer::start();
    let cache = server.cache();
    let calls = Calls::default();
    // Connect and load the write script first, so set-up commands are not counted.
    get_user(&cache, &calls, 1).await.unwrap();
    server.reset_stats();

    get_user(&cache, &calls, 2).await.unwrap();
    // Sent: GET, SET NX (the lease), EVALSHA (the write). commandstats also counts the GET
    // and SET that the script runs inside Redis.
    assert_eq!(commands(&server), (1 + 1, 1 + 1, 1), "miss");
    get_user(&cache, &calls, 2).await.unwrap();
    assert_eq!(commands(&server), (1, 0, 0), "hit: one GET");
    assert_eq!(calls.count(), 2);
}

#[tokio::test]
async fn corrupt_json_heals_itself() {
    let server = RedisServer::start();
    let cache = server.cache();
    let mut redis = server.client();
    let _: () = redis.set("user:9", b"rc1\n{not json").unwrap();
    let calls = Calls::default();
    assert_eq!(get_user(&cache, &calls, 9).await.unwrap(), "user 9");
    assert_eq!(calls.count(), 1);
    let stored: Vec<u8> = redis.get("user:9").unwrap();
    assert_eq!(
        stored, b"rc1\n\"user 9\"",
        "the corrupt entry was overwritten"
    );
    get_user(&cache, &calls, 9).await.unwrap();
    assert_eq!(calls.count(), 1, "and is a hit afterwards");
    assert_eq!(cache.stats().decode_errors, 1);
}

#[tokio::test]
async fn foreign_data_without_our_header_heals_itself() {
    let server = RedisServer::start();
    let cache = server.cache();
    let mut redis = server.client();
    let _: () = redis.set("user:8", "\"user 8\"").unwrap();
    let calls = Calls::default();
    get_user(&cache, &calls, 8).await.unwrap();
    get_user(&cache, &calls, 8).await.unwrap();
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn a_key_of_the_wrong_redis_type_heals_itself() {
    let server = RedisServer::start();
    let cache = server.cache();
    let mut redis = server.client();
    let _: () = redis.rpush("user:3", "a list, not a string").unwrap();
    let calls = Calls::default();
    assert_eq!(get_user(&cache, &calls, 3).await.unwrap(), "user 3");
    let kind: String = redis::cmd("TYPE").arg("user:3").query(&mut redis).unwrap();
    assert_eq!(kind, "string", "SET replaced the list");
    get_user(&cache, &calls, 3).await.unwrap();
    assert_eq!(calls.count(), 1);
    let stats = cache.stats();
    assert_eq!(stats.errors, 1, "the WRONGTYPE answer was counted");
    assert_eq!(stats.breaker_skips, 0, "and did not trip the breaker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_found_another_type_never_writes_over_an_invalidation() {
    // The key holds a list; a read sees WRONGTYPE and runs its body slowly; meanwhile the
    // data changes and the key is invalidated. The old read must not store its value.
    let server = RedisServer::start();
    let cache = server.cache();
    let _: () = server.client().rpush("slow:1", "a list").unwrap();
    let version = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
    let old_read = {
        let (cache, version) = (cache.clone(), version.clone());
        tokio::spawn(async move { slow_read(&cache, &version, 1).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    version.store(2, std::sync::atomic::Ordering::SeqCst);
    forget_slow(&cache, 1).await;
    assert_eq!(
        old_read.await.unwrap(),
        1,
        "the read in flight keeps its own value"
    );
    assert_eq!(
        slow_read(&cache, &version, 1).await,
        2,
        "but did not store it"
    );
    assert_eq!(cache.stats().writes_skipped, 1);
}

#[tokio::test]
async fn pattern_invalidation_walks_a_large_keyspace() {
    let server = RedisServer::start();
    let cache = server.cache();
    let mut redis = server.client();
    let mut pipe = redis::pipe();
    for i in 0..5_000 {
        pipe.set(format!("user:{i}"), "x").ignore();
        pipe.set(format!("other:{i}"), "x").ignore();
    }
    let _: () = pipe.query(&mut redis).unwrap();
    server.reset_stats();
    drop_all_users(&cache).await;
    assert_eq!(server.command_calls("KEYS"), 0, "never KEYS");
    assert!(server.command_calls("SCAN") >= 5, "incremental SCAN");
    assert!(server.command_calls("UNLINK") >= 1);
    let left: Vec<String> = redis.keys("user:*").unwrap();
    assert!(left.is_empty(), "{} user keys left", left.len());
    let others: Vec<String> = redis.keys("other:*").unwrap();
    assert_eq!(others.len(), 5_000);
    assert_eq!(cache.stats().invalidated, 5_000);
}
