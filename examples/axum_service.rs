//! The reference service: an HTTP API (axum) over PostgreSQL with redcache in front of it.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --release --example axum_service
//! curl localhost:3000/users/7
//! curl -X PUT localhost:3000/users/7 -H 'content-type: application/json' \
//!      -d '{"name":"Ada","team":"team-1"}'
//! ```
//!
//! | route | what it does |
//! |---|---|
//! | `GET /users/{id}` | one user, cached (`#[cache]`, key `user:<id>`) |
//! | `GET /users?ids=1,2,3` | several users: one `MGET`, one query for the misses (`#[cache_batch]`, sharing `get_user`'s entries) |
//! | `PUT /users/{id}` | updates PostgreSQL, writes the new user through (`#[cache_put]`) and invalidates both teams' lists by tag (`#[invalidate]`) |
//! | `GET /teams/{team}/users` | a team's members, cached with the tag `team:<team>` |
//! | `GET /users/{id}/uncached` | the same read as `GET /users/{id}`, without the cache, to compare |
//! | `GET /health` | `cache.health()` as JSON: 200 when Redis answers, 503 when not |
//! | `GET /stats` | `cache.stats()` and the number of database queries, as JSON |
//! | `GET /metrics` | Prometheus text (`metrics-exporter-prometheus`) |
//!
//! Configuration, all from the environment:
//!
//! - `DATABASE_URL`: default `postgres://postgres@127.0.0.1:5432/test`.
//! - `REDIS_URL`: Redis; unset, the cache is the in-process memory store (as redcache's global
//!   cache would be). Set but malformed, the service refuses to start.
//! - `USERS_TABLE`: the table (default `redcache_users`), created if missing and filled with
//!   `SEED_USERS` users (default 1,000) in 10 teams when empty. Also the cache's key prefix.
//! - `PORT` listens on `0.0.0.0:PORT`, `--addr HOST:PORT` on that address; default
//!   `127.0.0.1:3000`.
//!
//! The integration test (`tests/axum_service.rs`) includes this file as a module and drives
//! [`setup`], [`app`] and [`serve`] over HTTP.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use deadpool_postgres::{Pool, Runtime};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use redcache::{Cache, cache, cache_batch, cache_put, invalidate};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

/// Everything a handler needs. The cache is passed explicitly (`cache = &state.cache` below)
/// rather than installed as the global one, so a test can run two services on two caches in
/// one process, as two processes would.
#[derive(Debug)]
pub struct AppState {
    pub cache: Cache,
    pub db: Pool,
    /// Checked to be a plain identifier in [`setup`]: it is written into SQL.
    table: String,
    /// Queries sent to PostgreSQL, shown by `/stats`: what the cache saves.
    db_queries: AtomicU64,
    metrics: PrometheusHandle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub team: String,
}

/// The body of `PUT /users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserUpdate {
    pub name: String,
    pub team: String,
}

/// How the service is configured; [`Config::from_env`] reads it from the environment.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub table: String,
    pub seed_users: i64,
}

// By hand, so that a password in a URL never reaches a log line.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("redis", &self.redis_url.is_some())
            .field("seed_users", &self.seed_users)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn from_env() -> Config {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Config {
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into()),
            redis_url: var("REDIS_URL"),
            table: var("USERS_TABLE").unwrap_or_else(|| "redcache_users".into()),
            seed_users: var("SEED_USERS")
                .map_or(1_000, |n| n.parse().expect("SEED_USERS: a number")),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects to PostgreSQL, creates and seeds the table if needed, and builds the cache.
pub async fn setup(config: &Config) -> Result<AppState, BoxError> {
    let table = &config.table;
    if table.is_empty()
        || !table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(
            format!("USERS_TABLE {table:?}: use lower-case letters, digits and `_`").into(),
        );
    }

    let mut pg = deadpool_postgres::Config::new();
    pg.url = Some(config.database_url.clone());
    let db = pg.create_pool(Some(Runtime::Tokio1), NoTls)?;
    let client = db.get().await?;
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                 id   BIGINT PRIMARY KEY,
                 name TEXT NOT NULL,
                 team TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS {table}_team ON {table} (team);"
        ))
        .await?;
    // Demo data, so the service answers out of the box; ON CONFLICT keeps existing rows.
    client
        .execute(
            &format!(
                "INSERT INTO {table} (id, name, team)
                 SELECT g, 'user ' || g, 'team-' || (g % 10) FROM generate_series(1, $1::BIGINT) g
                 ON CONFLICT (id) DO NOTHING"
            ),
            &[&config.seed_users],
        )
        .await?;
    drop(client);

    // The same choice redcache's global cache makes: Redis when REDIS_URL is set, else the
    // memory store. Building never connects, so Redis may come up after the service does; a
    // malformed URL is an error here, at start-up, rather than a service that silently does
    // not cache. The table name is the key prefix: entries are views of that table.
    let builder = Cache::builder().prefix(table.as_str());
    let cache = match &config.redis_url {
        Some(url) => builder.url(url).build()?,
        None => builder.build()?,
    };
    tracing::info!(?cache, "cache ready"); // Debug shows host:port/db, never a password

    Ok(AppState {
        cache,
        db,
        table: table.clone(),
        db_queries: AtomicU64::new(0),
        metrics: prometheus(),
    })
}

/// The Prometheus recorder, installed once per process (the `metrics` facade has one global
/// recorder); every `metrics::counter!` in the process, redcache's included, lands in it.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed");
            // Histograms need periodic upkeep to drain their buckets (the crate's docs).
            let upkeep = handle.clone();
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

// ---- The cached functions: the part of this file that is about redcache ----

/// One user. `Ok(None)` (no such user) is not cached: a user created a second later is seen.
/// `skip(state)`: the state is not part of the key (one entry per id, whoever asks).
#[cache(key = "user:<id>", ttl = "10m", skip(state), cache = &state.cache)]
async fn get_user(state: &AppState, id: i64) -> Result<Option<User>, AppError> {
    load_user(state, id).await
}

/// Many users. `#[cache_batch]` keys each id exactly as `get_user` does (`user:<id>`), so the
/// two share entries: one `MGET` for all ids, then this body once, with only the ids that
/// missed (deduplicated), and one round of writes for what it returns. Ids it leaves out (no
/// such user) are not cached, like `get_user`'s `Ok(None)`.
#[cache_batch(key = "user:<ids>", ttl = "10m", skip(state), cache = &state.cache)]
async fn get_users(state: &AppState, ids: &[i64]) -> Result<HashMap<i64, User>, AppError> {
    let sql = format!(
        "SELECT id, name, team FROM {} WHERE id = ANY($1)",
        state.table
    );
    let rows = query(state, &sql, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(user_from_row)
        .map(|user| (user.id, user))
        .collect())
}

/// A team's members. Tagged `team:<team>`: an update invalidates every cached view of the
/// teams it touches (this list, and any other view tagged so later) in one step, at a cost
/// that grows with the entries tagged, not with the keyspace.
#[cache(key = "team:<team>:users", ttl = "10m", tags = ["team:<team>"], skip(state), cache = &state.cache)]
async fn team_users(state: &AppState, team: &str) -> Result<Vec<User>, AppError> {
    let rows = query(
        state,
        &format!(
            "SELECT id, name, team FROM {} WHERE team = $1 ORDER BY id",
            state.table
        ),
        &[&team],
    )
    .await?;
    Ok(rows.iter().map(user_from_row).collect())
}

/// Updates a user. `#[cache_put]` stores the returned user as the entry `get_user(state, id)`
/// reads (its key, TTL and cache): the next read is a hit with the new value, and no read that
/// was in flight can put the old one back. `Ok(None)` (no such user) deletes that entry; `Err`
/// leaves the cache alone.
#[cache_put(get_user(state, id))]
async fn update_user(
    state: &AppState,
    id: i64,
    update: &UserUpdate,
) -> Result<Option<User>, AppError> {
    // One statement reads the old team (locking the row) and writes the new values.
    let sql = format!(
        "UPDATE {t} SET name = $2, team = $3
         FROM (SELECT id, team AS old_team FROM {t} WHERE id = $1 FOR UPDATE) old
         WHERE {t}.id = old.id
         RETURNING {t}.id, {t}.name, {t}.team, old.old_team",
        t = state.table
    );
    let rows = query(state, &sql, &[&id, &update.name, &update.team]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let user = user_from_row(row);
    // The user left one team's list and joined another's (or was renamed in one).
    let old_team: String = row.get(3);
    teams_changed(state, &old_team, &user.team).await;
    Ok(Some(user))
}

/// Invalidates every entry tagged with either team. The body is empty: the work is the
/// macro's, after the body returns.
#[invalidate(tags = ["team:<old_team>", "team:<new_team>"], cache = &state.cache)]
async fn teams_changed(state: &AppState, old_team: &str, new_team: &str) {}

// ---- PostgreSQL ----

/// The database read behind `get_user`, also called directly by the uncached route.
async fn load_user(state: &AppState, id: i64) -> Result<Option<User>, AppError> {
    let sql = format!("SELECT id, name, team FROM {} WHERE id = $1", state.table);
    let rows = query(state, &sql, &[&id]).await?;
    Ok(rows.first().map(user_from_row))
}

/// Every query goes through here, so `/stats` and `/metrics` count them.
async fn query(
    state: &AppState,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, AppError> {
    state.db_queries.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("app_db_queries_total").increment(1);
    let client = state.db.get().await?;
    // Prepared once per connection and reused (deadpool's statement cache).
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

fn user_from_row(row: &tokio_postgres::Row) -> User {
    User {
        id: row.get(0),
        name: row.get(1),
        team: row.get(2),
    }
}

/// A database failure: a 500 for the client, the details in the log. (A cache failure never
/// gets here: redcache absorbs it and runs the function body.)
#[derive(Debug)]
pub enum AppError {
    Pool(deadpool_postgres::PoolError),
    Db(tokio_postgres::Error),
}

impl From<deadpool_postgres::PoolError> for AppError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        AppError::Pool(error)
    }
}

impl From<tokio_postgres::Error> for AppError {
    fn from(error: tokio_postgres::Error) -> Self {
        AppError::Db(error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = ?self, "database error");
        (StatusCode::INTERNAL_SERVER_ERROR, "database error\n").into_response()
    }
}

// ---- HTTP ----

/// The routes, with request metrics on every one.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/users", get(get_users_handler))
        .route("/users/{id}", get(get_user_handler).put(put_user))
        .route("/users/{id}/uncached", get(get_user_uncached))
        .route("/teams/{team}/users", get(get_team_users))
        .route("/health", get(health))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics_text))
        // route_layer: runs after routing, so the route template is known for the labels.
        .route_layer(middleware::from_fn(track))
        .with_state(state)
}

/// Serves until `shutdown` completes, then finishes the requests in flight (graceful).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn get_user_handler(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    Ok(found(get_user(&state, id).await?))
}

/// For comparing (the benchmark in the README): the same query, never cached.
async fn get_user_uncached(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    Ok(found(load_user(&state, id).await?))
}

fn found(user: Option<User>) -> Response {
    match user {
        Some(user) => Json(user).into_response(),
        None => (StatusCode::NOT_FOUND, "no such user\n").into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct Ids {
    /// Comma-separated: `?ids=1,2,3`.
    ids: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    /// The users found, in the order asked (each id once).
    pub users: Vec<User>,
    /// The ids with no user.
    pub missing: Vec<i64>,
}

/// The most ids one request may ask for.
const MAX_BATCH: usize = 100;

/// Several users in one request. Each id is its own `user:<id>` entry, shared with
/// `get_user`; `get_users` reads them all in one `MGET` and queries PostgreSQL once, for the
/// ids that missed.
async fn get_users_handler(
    State(state): State<Arc<AppState>>,
    Query(Ids { ids }): Query<Ids>,
) -> Result<Response, AppError> {
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    for part in ids.split(',').filter(|part| !part.is_empty()) {
        let Ok(id) = part.trim().parse::<i64>() else {
            return Ok((StatusCode::BAD_REQUEST, "ids: comma-separated integers\n").into_response());
        };
        if seen.insert(id) {
            wanted.push(id);
        }
    }
    if wanted.len() > MAX_BATCH {
        return Ok((StatusCode::BAD_REQUEST, "ids: at most 100\n").into_response());
    }

    let mut found = get_users(&state, &wanted).await?;
    let mut batch = Batch {
        users: Vec::new(),
        missing: Vec::new(),
    };
    for id in wanted {
        match found.remove(&id) {
            Some(user) => batch.users.push(user),
            None => batch.missing.push(id),
        }
    }
    Ok(Json(batch).into_response())
}

async fn put_user(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    Json(update): Json<UserUpdate>,
) -> Result<Response, AppError> {
    Ok(found(update_user(&state, id, &update).await?))
}

async fn get_team_users(
    State(state): State<Arc<AppState>>,
    Path(team): Path<String>,
) -> Result<Json<Vec<User>>, AppError> {
    Ok(Json(team_users(&state, &team).await?))
}

/// For a readiness probe or a dashboard. A `PING` (bounded by the op timeout) refreshes what
/// `health()` reports, then the snapshot is returned. Note that the service still answers
/// with Redis down (redcache fails open: reads go to PostgreSQL), so a 503 here means
/// "degraded", not "dead": do not use it as a liveness probe.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let ping = state.cache.ping().await;
    let health = state.cache.health();
    let status = if health.reachable && ping.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "cache": health,
        "ping_ms": ping.ok().map(|round_trip| round_trip.as_secs_f64() * 1e3),
    });
    (status, Json(body)).into_response()
}

async fn stats(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "cache": state.cache.stats(),
        "db_queries": state.db_queries.load(Ordering::Relaxed),
    }))
}

/// Prometheus text. The request and query counters are recorded as they happen; the cache's
/// own counters (`cache.stats()`) are copied in at each scrape.
async fn metrics_text(State(state): State<Arc<AppState>>) -> String {
    let stats = state.cache.stats();
    for (name, value) in [
        ("app_cache_hits_total", stats.hits),
        ("app_cache_misses_total", stats.misses),
        ("app_cache_errors_total", stats.errors),
        ("app_cache_writes_total", stats.writes),
        ("app_cache_invalidated_total", stats.invalidated),
        ("app_cache_breaker_skips_total", stats.breaker_skips),
    ] {
        metrics::counter!(name).absolute(value);
    }
    let health = state.cache.health();
    metrics::gauge!("app_cache_invalidations_pending").set(health.pending_invalidations as f64);
    metrics::gauge!("app_cache_reachable").set(f64::from(u8::from(health.reachable)));
    metrics::gauge!("app_cache_breaker_open").set(f64::from(u8::from(health.breaker_open)));
    state.metrics.render()
}

/// Counts requests and times them, labelled by route template (`/users/{id}`, not the id:
/// one series per route, not per user).
async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("app_http_requests_total", &labels).increment(1);
    metrics::histogram!("app_http_request_duration_seconds", &labels).record(start.elapsed());
    response
}

// ---- main ----

/// `--addr HOST:PORT`, else `0.0.0.0:$PORT` (a container's convention), else `127.0.0.1:3000`.
fn listen_addr() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            let addr = args.next().expect("--addr HOST:PORT");
            return addr.parse().expect("--addr HOST:PORT");
        }
    }
    match std::env::var("PORT") {
        Ok(port) => SocketAddr::from(([0, 0, 0, 0], port.parse().expect("PORT: a port number"))),
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 3000)),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let config = Config::from_env();
    let state = Arc::new(setup(&config).await?);
    let listener = tokio::net::TcpListener::bind(listen_addr()).await?;
    tracing::info!(addr = %listener.local_addr()?, ?config, "listening");
    serve(listener, state, async {
        // Ctrl-C (or SIGINT): stop accepting, finish the requests in flight, exit.
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    tracing::info!("every request answered; exiting");
    Ok(())
}
