//! TLS (feature `tls`, on by default): `rediss://` against a real `redis-server` serving TLS
//! with certificates the test makes. A private CA trusted with `tls_root_cert`; mutual TLS
//! with `tls_client_cert` (PKCS#8, SEC1 EC and PKCS#1 RSA keys); a server the cache must not
//! trust (another CA, or only the system's roots) fails open; ACL users from the URL, over
//! TLS and plain; malformed PEM refused by `build()`; no secret in any output.

#![cfg(feature = "tls")]

#[path = "support/logs.rs"]
mod logs;
mod support;
#[path = "support/tls.rs"]
mod tls_support;

use std::time::Duration;

use redcache::{Cache, Error, cache};
use support::{Calls, RedisServer};
use tls_support::{Ca, TlsCluster, TlsRedis};

/// Long enough for a TLS handshake in an unoptimized test build on a loaded machine.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
const PASSWORD: &str = "s3cret-Pa55word";

#[cache(key = "user:<id>", ttl = 60, skip(cache, calls), cache = cache)]
async fn get_user(cache: &Cache, calls: &Calls, id: u64) -> String {
    calls.hit();
    format!("user {id}")
}

fn builder(url: &str) -> redcache::CacheBuilder {
    Cache::builder()
        .url(url)
        .prefix("tls")
        .op_timeout(OP_TIMEOUT)
}

/// Two calls run the body once, and the entry is in Redis (read over the admin port).
async fn assert_cached(cache: &Cache, server: &RedisServer, id: u64) {
    let calls = Calls::default();
    assert_eq!(get_user(cache, &calls, id).await, format!("user {id}"));
    assert_eq!(get_user(cache, &calls, id).await, format!("user {id}"));
    assert_eq!(calls.count(), 1, "the second call hit");
    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.errors),
        (1, 1, 0),
        "{stats:?}"
    );
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("tls:user:{id}"))
        .query(&mut server.client())
        .expect("GET");
    assert!(stored.is_some(), "the entry is in Redis");
}

/// Three calls all run the body; the failures are counted, `health()` says unreachable, and
/// the log says why without any secret.
async fn assert_fails_open(cache: &Cache, logs: &logs::CapturedLogs, secrets: &[&str]) {
    let calls = Calls::default();
    for _ in 0..3 {
        assert_eq!(get_user(cache, &calls, 7).await, "user 7");
    }
    assert_eq!(calls.count(), 3, "every call ran its body");
    assert!(cache.stats().errors > 0, "{:?}", cache.stats());
    assert!(!cache.health().reachable);
    assert!(cache.ping().await.is_err());
    let text = logs.text();
    assert!(!text.is_empty(), "the failure is logged");
    for secret in secrets {
        assert!(!text.contains(secret), "a secret in the log: {text}");
        assert!(!format!("{cache:?}").contains(secret));
    }
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    eprintln!("logged: {}", text.trim());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_call_over_tls_with_a_private_ca() {
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, false);
    let cache = builder(&redis.url())
        .tls_root_cert(ca.pem())
        .build()
        .expect("valid");
    assert_cached(&cache, &redis.server, 1).await;
    let rtt = cache.ping().await.expect("PING over TLS");
    eprintln!("ping over TLS: {rtt:?}");
    assert!(cache.health().reachable);
    assert!(format!("{cache:?}").contains("(tls)"), "{cache:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_works_with_each_kind_of_client_key() {
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, true);
    let keys = [
        ("PKCS#8 EC", ca.client_cert(), "-----BEGIN PRIVATE KEY-----"),
        (
            "SEC1 EC",
            ca.client_cert_openssl("ec"),
            "-----BEGIN EC PRIVATE KEY-----",
        ),
        (
            "PKCS#1 RSA",
            ca.client_cert_openssl("rsa"),
            "-----BEGIN RSA PRIVATE KEY-----",
        ),
    ];
    for (id, (kind, (cert, key), header)) in (0..).zip(keys) {
        assert!(key.starts_with(header), "{kind} key is {header}");
        let cache = builder(&redis.url())
            .tls_root_cert(ca.pem())
            .tls_client_cert(&cert, &key)
            .build()
            .unwrap_or_else(|error| panic!("{kind}: {error}"));
        assert_cached(&cache, &redis.server, id).await;
        assert!(!format!("{cache:?}").contains("PRIVATE KEY"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn mutual_tls_without_a_client_certificate_fails_open() {
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, true);
    let logs = logs::CapturedLogs::capture();
    let cache = builder(&redis.url())
        .tls_root_cert(ca.pem())
        .build()
        .expect("valid");
    assert_fails_open(&cache, &logs, &[]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_certificate_of_another_ca_fails_open() {
    let ca = Ca::new("redcache test CA");
    let stranger = Ca::new("another CA");
    let redis = TlsRedis::start(&ca, true);
    let (cert, key) = stranger.client_cert();
    let logs = logs::CapturedLogs::capture();
    let cache = builder(&redis.url())
        .tls_root_cert(ca.pem())
        .tls_client_cert(&cert, &key)
        .build()
        .expect("valid");
    let key_body = key.lines().nth(1).expect("a base64 line");
    assert_fails_open(&cache, &logs, &[key_body]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_signed_by_another_ca_is_not_trusted() {
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, false);
    let logs = logs::CapturedLogs::capture();
    let cache = builder(&redis.url_with(&format!("default:{PASSWORD}")))
        .tls_root_cert(Ca::new("another CA").pem())
        .build()
        .expect("valid");
    assert_fails_open(&cache, &logs, &[PASSWORD]).await;
    // Nothing reached Redis: no handshake completed, so no command ran.
    assert_eq!(redis.server.command_calls("get"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_root_cert_the_server_is_verified_against_the_system_roots() {
    // The private CA is not among the system's trusted roots: no insecure default.
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, false);
    let logs = logs::CapturedLogs::capture();
    let cache = builder(&redis.url()).build().expect("valid");
    assert_fails_open(&cache, &logs, &[]).await;
}

/// ACL user `app` with `PASSWORD`, through the admin port.
fn add_acl_user(redis: &TlsRedis) {
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(format!(">{PASSWORD}"))
        .arg("~*")
        .arg("+@all")
        .query::<()>(&mut redis.server.client())
        .expect("ACL SETUSER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_and_password_from_the_url_over_tls_and_plain() {
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, false);
    add_acl_user(&redis);
    let userinfo = format!("app:{PASSWORD}");

    let over_tls = builder(&redis.url_with(&userinfo))
        .tls_root_cert(ca.pem())
        .build()
        .expect("valid");
    assert_cached(&over_tls, &redis.server, 1).await;
    over_tls.ping().await.expect("PING as app over TLS");

    let plain_url = format!("redis://{userinfo}@127.0.0.1:{}", redis.server.port());
    let plain = builder(&plain_url).build().expect("valid");
    assert_cached(&plain, &redis.server, 2).await;

    for cache in [&over_tls, &plain] {
        let debug = format!("{cache:?}");
        assert!(
            !debug.contains(PASSWORD) && !debug.contains("app"),
            "{debug}"
        );
    }
    let builder_debug = format!("{:?}", builder(&redis.url_with(&userinfo)));
    assert!(!builder_debug.contains(PASSWORD), "{builder_debug}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_password_over_tls_fails_open_without_printing_it() {
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, false);
    add_acl_user(&redis);
    let wrong = "not-the-Pa55word";
    let logs = logs::CapturedLogs::capture();
    let cache = builder(&redis.url_with(&format!("app:{wrong}")))
        .tls_root_cert(ca.pem())
        .build()
        .expect("valid");
    assert_fails_open(&cache, &logs, &[wrong]).await;
}

#[test]
fn malformed_pem_is_a_build_error_that_quotes_nothing() {
    let ca = Ca::new("redcache test CA");
    let (cert, key) = ca.client_cert();
    let (other_cert, _) = ca.client_cert();
    let url = "rediss://127.0.0.1:1";
    let key_body = key.lines().nth(1).expect("a base64 line").to_owned();
    let truncated_key = key.replace("-----END PRIVATE KEY-----", "");
    let cases: Vec<(&str, redcache::CacheBuilder)> = vec![
        (
            "no certificate",
            Cache::builder().url(url).tls_root_cert("not a pem"),
        ),
        (
            "broken base64",
            Cache::builder()
                .url(url)
                .tls_root_cert("-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n"),
        ),
        ("key as root", Cache::builder().url(url).tls_root_cert(&key)),
        (
            "truncated key",
            Cache::builder()
                .url(url)
                .tls_client_cert(&cert, &truncated_key),
        ),
        (
            "certificate as key",
            Cache::builder().url(url).tls_client_cert(&cert, &cert),
        ),
        (
            "key of another certificate",
            Cache::builder().url(url).tls_client_cert(&other_cert, &key),
        ),
        (
            "key as certificate",
            Cache::builder().url(url).tls_client_cert(&key, &key),
        ),
    ];
    for (case, builder) in cases {
        let error = builder.build().expect_err(case);
        let message = error.to_string();
        eprintln!("{case}: {message}");
        assert!(
            matches!(error, Error::InvalidTls { .. }),
            "{case}: {error:?}"
        );
        assert!(
            !message.contains(&key_body) && !message.contains("%%%%"),
            "{message}"
        );
        assert!(!format!("{error:?}").contains(&key_body));
    }
    let debug = format!(
        "{:?}",
        Cache::builder().url(url).tls_client_cert(&cert, &key)
    );
    assert!(
        !debug.contains(&key_body) && debug.contains("<redacted>"),
        "{debug}"
    );
}

#[test]
fn refused_combinations() {
    let ca = Ca::new("redcache test CA");
    // Certificates are not silently ignored on a plain URL.
    let error = Cache::builder()
        .url("redis://127.0.0.1:1")
        .tls_root_cert(ca.pem())
        .build()
        .expect_err("certificates need rediss://");
    assert!(
        matches!(
            error,
            Error::InvalidTls {
                option: "tls_root_cert",
                ..
            }
        ),
        "{error}"
    );
    // No way to switch verification off.
    let error = Cache::builder()
        .url(format!("rediss://:{PASSWORD}@127.0.0.1:1/#insecure"))
        .build()
        .expect_err("#insecure is refused");
    assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
    assert!(!error.to_string().contains(PASSWORD), "{error}");
    // Cluster nodes must agree, and take the certificates as standalone does.
    let error = Cache::builder()
        .cluster(["rediss://127.0.0.1:1", "redis://127.0.0.1:2"])
        .build()
        .expect_err("mixed TLS modes");
    assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
    let error = Cache::builder()
        .cluster(["redis://127.0.0.1:1"])
        .tls_client_cert("x", "y")
        .build()
        .expect_err("certificates need rediss://");
    assert!(matches!(error, Error::InvalidTls { .. }), "{error}");
    // The plain constructors take rediss:// with no more ado.
    Cache::redis("rediss://127.0.0.1:1").expect("rediss:// is on by default");
    Cache::cluster(["rediss://127.0.0.1:1"]).expect("and for a cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_with_a_private_ca() {
    let ca = Ca::new("redcache test CA");
    let cluster = TlsCluster::start(&ca);
    let cache = Cache::builder()
        .cluster(cluster.urls())
        .tls_root_cert(ca.pem())
        .op_timeout(OP_TIMEOUT)
        .build()
        .expect("valid");
    let calls = Calls::default();
    for round in 0..2 {
        for id in 0..30 {
            assert_eq!(
                get_user(&cache, &calls, id).await,
                format!("user {id}"),
                "{round}"
            );
        }
    }
    assert_eq!(calls.count(), 30, "the second round only hit");
    assert_eq!(cache.stats().errors, 0, "{:?}", cache.stats());
    assert_eq!(cluster.all_keys().len(), 30);
    cache.ping().await.expect("PING a TLS cluster");

    // Without the CA, the cluster's nodes are not trusted.
    let untrusting = Cache::builder()
        .cluster(cluster.urls())
        .op_timeout(OP_TIMEOUT)
        .build()
        .expect("valid");
    let calls = Calls::default();
    assert_eq!(get_user(&untrusting, &calls, 1).await, "user 1");
    assert_eq!(calls.count(), 1);
    assert!(untrusting.stats().errors > 0);
}

/// Calls `get_user` until one is a near hit (the tracking connection made over TLS with the
/// builder's certificates, and armed).
async fn until_near_hit(cache: &Cache) {
    let calls = Calls::default();
    let start = std::time::Instant::now();
    while cache.stats().near_hits == 0 {
        assert_eq!(get_user(cache, &calls, 1).await, "user 1");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never a near hit over TLS: {:?} {:?}",
            cache.stats(),
            cache.health()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(cache.health().near_armed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_cache_over_mutual_tls_and_on_a_tls_cluster() {
    let ca = Ca::new("redcache test CA");
    let redis = TlsRedis::start(&ca, true);
    let (cert, key) = ca.client_cert();
    let cache = builder(&redis.url())
        .tls_root_cert(ca.pem())
        .tls_client_cert(&cert, &key)
        .near_cache(100)
        .build()
        .expect("valid");
    until_near_hit(&cache).await;

    let cluster = TlsCluster::start(&ca);
    let cache = Cache::builder()
        .cluster(cluster.urls())
        .tls_root_cert(ca.pem())
        .op_timeout(OP_TIMEOUT)
        .near_cache(100)
        .build()
        .expect("valid");
    until_near_hit(&cache).await;
}
