//! Standalone Redis through redis-rs's `ConnectionManager` (one multiplexed connection that
//! reconnects by itself).

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult, Script};

/// How many keys one `SCAN` step asks for, and how many keys one `UNLINK` removes.
const SCAN_COUNT: usize = 1000;

/// Compare-and-set: replace the value only if it is still exactly what the caller saw.
static REPLACE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
            return 1
          end
          return 0",
    )
});

/// Compare-and-delete: release a lease only if it is still ours.
static DELETE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
          end
          return 0",
    )
});

pub(crate) struct RedisStore {
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Made on first use rather than in `Cache::redis`, because it spawns onto the Tokio
    /// runtime and building a cache must work anywhere, even outside a runtime.
    manager: OnceLock<ConnectionManager>,
    /// `host:port/db`, with no credentials: safe to print.
    address: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub(crate) fn new(client: redis::Client, op_timeout: Duration) -> Self {
        // redis-rs's defaults retry a reconnect six times with growing delays (about 9 s in
        // all). Our breaker does the retrying, so a reconnect is one quick retry, each attempt
        // bounded by the op timeout (the retry lets a breaker probe find a restarted Redis in
        // one go), and so is every reply (this response timeout is what bounds calls on a
        // healthy connection: see `Cache::guarded`).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(op_timeout))
            .set_response_timeout(Some(op_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(op_timeout);
        let info = client.get_connection_info();
        let address = format!("{}/{}", info.addr(), info.redis_settings().db());
        RedisStore {
            client,
            config,
            manager: OnceLock::new(),
            address,
        }
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    fn connection(&self) -> RedisResult<ConnectionManager> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        let manager =
            ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())?;
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    pub(crate) async fn get(&self, key: &str) -> RedisResult<Option<Vec<u8>>> {
        let mut conn = self.connection()?;
        redis::cmd("GET").arg(key).query_async(&mut conn).await
    }

    pub(crate) async fn set(&self, key: &str, bytes: &[u8], ttl: Duration) -> RedisResult<()> {
        let mut conn = self.connection()?;
        redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
    }

    /// `SET NX`: stores `bytes` only if nothing is at `key`; returns whether it did.
    pub(crate) async fn set_if_absent(
        &self,
        key: &str,
        bytes: &[u8],
        ttl: Duration,
    ) -> RedisResult<bool> {
        let mut conn = self.connection()?;
        let reply: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(reply.is_some())
    }

    /// Replaces the value at `key` only if it still holds exactly `expected` (one script call).
    pub(crate) async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        bytes: &[u8],
        ttl: Duration,
    ) -> RedisResult<bool> {
        let mut conn = self.connection()?;
        REPLACE_IF
            .key(key)
            .arg(expected)
            .arg(bytes)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
    }

    /// Deletes `key` only if it still holds exactly `expected`.
    pub(crate) async fn delete_if(&self, key: &str, expected: &[u8]) -> RedisResult<()> {
        let mut conn = self.connection()?;
        DELETE_IF
            .key(key)
            .arg(expected)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
    }

    pub(crate) async fn unlink(&self, keys: &[impl AsRef<[u8]>]) -> RedisResult<u64> {
        if keys.is_empty() {
            return Ok(0); // UNLINK needs at least one key; a SCAN page may have none
        }
        let mut conn = self.connection()?;
        let mut cmd = redis::cmd("UNLINK");
        for key in keys {
            cmd.arg(key.as_ref());
        }
        cmd.query_async(&mut conn).await
    }

    /// One `SCAN` step: the next cursor (0 when done) and the keys found.
    pub(crate) async fn scan(
        &self,
        cursor: u64,
        pattern: &str,
    ) -> RedisResult<(u64, Vec<Vec<u8>>)> {
        let mut conn = self.connection()?;
        redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Whether an error says Redis is unreachable or unresponsive (counts toward the breaker), as
/// opposed to a bad answer about one key (a wrong type, out of memory), which does not.
pub(crate) fn is_unavailable(error: &RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown)
        )
}
