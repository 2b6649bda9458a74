//! The reference service (`examples/axum_service.rs`) driven over HTTP: two instances on one
//! Redis of our own (as two processes would be) and one PostgreSQL table of our own.
//!
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! `SERVICE_ROUNDS=1000 cargo test --test axum_service -- --nocapture` runs the
//! update-then-read consistency check of the README with 1,000 rounds (default 100).

mod support;

#[path = "../examples/axum_service.rs"]
#[allow(dead_code)] // the example's `main` and the items only it uses
mod service;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use service::{Batch, Config, User, UserUpdate};
use support::RedisServer;
use tokio::sync::oneshot;

/// `DATABASE_URL`, else the PostgreSQL of the test machines (trust auth, database `test`).
fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Drops the test's table when the test ends, passed or failed.
struct TableGuard {
    table: String,
}

impl Drop for TableGuard {
    fn drop(&mut self) {
        let sql = format!("DROP TABLE IF EXISTS {}", self.table);
        // Drop runs inside the test's runtime, which cannot block on a future: a thread of its
        // own with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    let client = connect().await?;
                    client.batch_execute(&sql).await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop table {}: {dropped:?}", self.table);
        }
    }
}

async fn connect() -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// One running instance of the service.
struct Instance {
    base: String,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    async fn start(config: &Config) -> Instance {
        let state =
            Arc::new(service::setup(config).await.expect(
                "service setup (is PostgreSQL up at DATABASE_URL, default 127.0.0.1:5432?)",
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(service::serve(listener, state, async {
            let _ = stop.await;
        }));
        Instance {
            base,
            // Its own connection pool: reads through another instance use other connections.
            http: reqwest::Client::new(),
            shutdown: Some(shutdown),
            server,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    async fn put(&self, id: i64, name: &str, team: &str) -> reqwest::Response {
        self.http
            .put(format!("{}/users/{id}", self.base))
            .json(&UserUpdate {
                name: name.into(),
                team: team.into(),
            })
            .send()
            .await
            .expect("PUT")
    }

    /// `(db_queries, cache hits, cache misses)` from `/stats`.
    async fn counts(&self) -> (u64, u64, u64) {
        let stats: Value = self.json("/stats").await;
        let number = |value: &Value| value.as_u64().expect("a count");
        (
            number(&stats["db_queries"]),
            number(&stats["cache"]["hits"]),
            number(&stats["cache"]["misses"]),
        )
    }

    /// Stops accepting and waits for the server to finish (graceful shutdown).
    async fn stop(mut self) {
        self.shutdown.take().expect("running").send(()).ok();
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("the server stops within 5 s of the shutdown signal")
            .expect("server task")
            .expect("server result");
    }
}

fn user(id: i64, name: &str, team: &str) -> User {
    User {
        id,
        name: name.into(),
        team: team.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_service_over_http() {
    let mut redis = RedisServer::start();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let table = format!("redcache_svc_{}_{nanos}", std::process::id());
    let guard = TableGuard {
        table: table.clone(),
    };
    let config = Config {
        database_url: database_url(),
        redis_url: Some(redis.url()),
        table: table.clone(),
        seed_users: 50,
    };
    // Two instances sharing the Redis and the table, as two processes behind a load balancer.
    let a = Instance::start(&config).await;
    let b = Instance::start(&config).await;

    // The first read goes to PostgreSQL and stores `user:7` (under the table's prefix).
    assert_eq!(a.counts().await, (0, 0, 0));
    let first: User = a.json("/users/7").await;
    assert_eq!(first, user(7, "user 7", "team-7"));
    assert_eq!(a.counts().await, (1, 0, 1), "a miss: one query");
    let key = format!("{table}:user:7");
    let stored: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query(&mut redis.client())
        .expect("GET");
    assert!(
        stored.is_some_and(|value| value.contains("\"user 7\"")),
        "Redis holds {key}"
    );

    // The second is a hit: same value, no query. The other instance hits too (shared Redis).
    let second: User = a.json("/users/7").await;
    assert_eq!(second, first);
    assert_eq!(a.counts().await, (1, 1, 1), "a hit: no query");
    let from_b: User = b.json("/users/7").await;
    assert_eq!(from_b, first);
    assert_eq!(b.counts().await, (0, 1, 0), "the other instance hits Redis");

    // An unknown user: 404, and not cached (a user created later must be seen).
    assert_eq!(a.get("/users/9999").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(a.get("/users/9999").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(a.counts().await.0, 3, "Ok(None) is not cached");

    // A team's list, cached.
    let team7: Vec<User> = a.json("/teams/team-7/users").await;
    let ids: Vec<i64> = team7.iter().map(|u| u.id).collect();
    assert_eq!(ids, [7, 17, 27, 37, 47]);
    let team3: Vec<User> = b.json("/teams/team-3/users").await;
    assert_eq!(team3.len(), 5);
    let queries = a.counts().await.0;
    let _: Vec<User> = a.json("/teams/team-7/users").await;
    assert_eq!(a.counts().await.0, queries, "the list is a hit");

    // Update through A: the new value is written through, the two teams' lists are invalidated.
    let response = a.put(7, "Ada", "team-3").await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: User = response.json().await.expect("JSON");
    assert_eq!(updated, user(7, "Ada", "team-3"));
    let (b_queries, b_hits, _) = b.counts().await;
    let read_back: User = b.json("/users/7").await;
    assert_eq!(read_back, updated, "the read after the update sees it");
    assert_eq!(
        b.counts().await,
        (b_queries, b_hits + 1, 1),
        "written through: a hit in the other instance, no query"
    );
    let team7: Vec<User> = b.json("/teams/team-7/users").await;
    assert_eq!(
        team7.iter().map(|u| u.id).collect::<Vec<_>>(),
        [17, 27, 37, 47],
        "the old team's list was invalidated by tag"
    );
    let team3: Vec<User> = b.json("/teams/team-3/users").await;
    assert!(team3.contains(&updated), "the new team's list too");
    assert_eq!(
        a.put(9999, "Nobody", "team-0").await.status(),
        StatusCode::NOT_FOUND
    );

    // The batch endpoint: every id once, in the order asked; one query for all the misses.
    let queries = a.counts().await.0;
    let batch: Batch = a.json("/users?ids=1,2,3,7,9999,2").await;
    assert_eq!(
        batch.users,
        [
            user(1, "user 1", "team-1"),
            user(2, "user 2", "team-2"),
            user(3, "user 3", "team-3"),
            user(7, "Ada", "team-3"),
        ]
    );
    assert_eq!(batch.missing, [9999]);
    assert_eq!(
        a.counts().await.0,
        queries + 1,
        "one query, for 1, 2, 3 and 9999 (7 was a hit)"
    );
    let again: Batch = a.json("/users?ids=1,2,3,7,9999,2").await;
    assert_eq!(again.users, batch.users);
    assert_eq!(
        a.counts().await.0,
        queries + 2,
        "one query again, for 9999 (not cached)"
    );
    // The batch's entries are the single reads' entries: the other instance hits them.
    let (b_queries, b_hits, _) = b.counts().await;
    let single: User = b.json("/users/2").await;
    assert_eq!(single, user(2, "user 2", "team-2"));
    assert_eq!(b.counts().await.0, b_queries, "a hit on the batch's entry");
    assert_eq!(b.counts().await.1, b_hits + 1);
    assert_eq!(
        a.get("/users?ids=1,x").await.status(),
        StatusCode::BAD_REQUEST
    );

    // Consistency: each update through A, then a read through B on other connections.
    let rounds: usize = std::env::var("SERVICE_ROUNDS")
        .ok()
        .map_or(100, |n| n.parse().expect("SERVICE_ROUNDS: a number"));
    let start = Instant::now();
    let mut stale = 0;
    for round in 0..rounds {
        let id = 1 + (round % 50) as i64;
        let name = format!("round {round}");
        let team = format!("team-{}", round % 4);
        assert_eq!(a.put(id, &name, &team).await.status(), StatusCode::OK);
        let read: User = b.json(&format!("/users/{id}")).await;
        if read != user(id, &name, &team) {
            stale += 1;
        }
    }
    println!(
        "consistency: {rounds} updates through one instance, each read back through the other: \
         {stale} stale, {:.0} rounds/s",
        rounds as f64 / start.elapsed().as_secs_f64()
    );
    assert_eq!(stale, 0, "no read after an update returned the old value");

    // /health: 200 with the cache's health while Redis answers.
    let response = a.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    let health: Value = response.json().await.expect("JSON");
    assert_eq!(health["cache"]["reachable"], true);
    assert_eq!(health["cache"]["store"], "redis");
    assert!(health["ping_ms"].as_f64().is_some());

    // /metrics: Prometheus text with the request, query and cache series.
    let response = a.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    for expected in [
        "# TYPE app_http_requests_total counter",
        "app_http_requests_total{method=\"GET\",route=\"/users/{id}\",status=\"200\"}",
        "app_http_requests_total{method=\"PUT\",route=\"/users/{id}\",status=\"404\"} 1",
        "app_http_request_duration_seconds",
        "app_db_queries_total",
        "app_cache_hits_total",
        "app_cache_misses_total",
        "app_cache_reachable 1",
        "app_cache_breaker_open 0",
    ] {
        assert!(
            text.contains(expected),
            "/metrics has {expected:?}:\n{text}"
        );
    }

    // Redis down: reads still answer from PostgreSQL (fail-open), /health says 503.
    redis.kill();
    let queries = a.counts().await.0;
    let read: User = a.json("/users/20").await;
    assert_eq!(read.id, 20);
    assert!(a.counts().await.0 > queries, "served from PostgreSQL");
    let response = a.get("/health").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = response.json().await.expect("JSON");
    assert_eq!(health["cache"]["reachable"], false);

    // Graceful shutdown, then the table goes.
    a.stop().await;
    b.stop().await;
    drop(guard);
    let client = connect().await.expect("connect");
    let row = client
        .query_one("SELECT to_regclass($1)::text", &[&table])
        .await
        .expect("to_regclass");
    assert_eq!(
        row.get::<_, Option<String>>(0),
        None,
        "table {table} dropped"
    );
}
