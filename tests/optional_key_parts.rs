//! The `uuid` and `chrono` features: types users cannot make key parts themselves (the orphan
//! rule), as readable, injective key parts.

mod support;

use redcache::{Cache, cache};
use redis::Commands;
use support::{Calls, RedisServer};

#[cache(key = "account:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn account(cache: &Cache, calls: &Calls, id: uuid::Uuid) -> String {
    calls.hit();
    id.to_string()
}

#[cache(key = "day:<date>", ttl = 60, skip(cache, calls), cache = cache)]
async fn day(cache: &Cache, calls: &Calls, date: chrono::NaiveDate) -> String {
    calls.hit();
    date.to_string()
}

#[cache(key = "at:<when>", ttl = 60, skip(cache, calls), cache = cache)]
async fn at(cache: &Cache, calls: &Calls, when: chrono::DateTime<chrono::FixedOffset>) -> i64 {
    calls.hit();
    when.timestamp()
}

#[tokio::test]
async fn uuids_and_dates_are_key_parts() {
    let server = RedisServer::start();
    let cache = server.cache();
    let calls = Calls::default();
    let id = uuid::Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
    account(&cache, &calls, id).await;
    account(&cache, &calls, id).await;
    account(&cache, &calls, uuid::Uuid::nil()).await;
    let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    day(&cache, &calls, date).await;
    day(&cache, &calls, date.succ_opt().unwrap()).await;
    assert_eq!(calls.count(), 4, "one entry per distinct value");

    // The same instant in two time zones is one entry; another instant is another.
    let utc = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    let paris = utc.with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap());
    let utc = utc.fixed_offset();
    at(&cache, &calls, utc).await;
    at(&cache, &calls, paris).await;
    at(&cache, &calls, utc + chrono::TimeDelta::milliseconds(1)).await;
    assert_eq!(calls.count(), 6);

    let mut keys: Vec<String> = server.client().keys("*").unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "account:00000000-0000-0000-0000-000000000000",
            "account:67e55044-10b1-426f-9247-bb680e5fe0c8",
            "at:2026-11-18%2011%3A06%3A40",
            "at:2026-11-18%2011%3A06%3A40.001",
            "day:2026-11-22",
            "day:2026-11-23",
        ]
    );
}
