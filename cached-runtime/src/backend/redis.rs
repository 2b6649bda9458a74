//! The Redis backend: connections and commands, standalone through redis-rs's
//! `ConnectionManager` (one multiplexed connection that reconnects by itself) or Redis Cluster
//! through its async cluster client. The commands are the same for both; only multi-key
//! deletion and pattern scans differ. Only moves bytes: the fail-open policy is applied above
//! it, in `tier`.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ConnectionInfo, RedisFuture, RedisResult, Script, Value};

use super::slot::Slot;
use super::tls;

/// How many keys one `SCAN` step asks for (and so at most how many one `UNLINK` removes).
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

/// Plants a lease over a key that holds another Redis type (which a compare-and-set cannot
/// read) or over nothing; never over a string, which may be a value written meanwhile.
static TAKE_OVER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local kind = redis.call('TYPE', KEYS[1])['ok']
          if kind ~= 'string' and kind ~= 'none' then
            redis.call('DEL', KEYS[1])
          end
          if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
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

/// A tag is one hash: a field per key cached with it (so an invalidation can delete them), and
/// the field `#v`, the tag's version (see `codec`). Adds `ARGV[1]` to the tag, keeps the hash
/// alive at least `ARGV[2]` ms, and returns the version, made `ARGV[3]` if there was none.
static TAG: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"redis.call('HSET', KEYS[1], ARGV[1], 1)
          local version = redis.call('HGET', KEYS[1], '#v')
          if not version then
            version = ARGV[3]
            redis.call('HSET', KEYS[1], '#v', version)
          end
          if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
          end
          return version",
    )
});

/// Takes a tag's keys and deletes the tag, its version with it, in one step, so a key added
/// concurrently lands either in the keys taken or in a new tag, never in between.
static TAKE_TAG: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local keys = redis.call('HKEYS', KEYS[1])
          redis.call('DEL', KEYS[1])
          for i = #keys, 1, -1 do
            if keys[i] == '#v' then
              table.remove(keys, i)
            end
          end
          return keys",
    )
});

pub(crate) struct RedisStore {
    target: Target,
    /// `host:port/db`, or the cluster's seed nodes, with no credentials: safe to print.
    address: String,
}

/// Where commands go. Connections are made on first use rather than when the cache is built,
/// because they spawn onto the Tokio runtime and building a cache must work anywhere; and
/// made again when that runtime ends or the fail-open policy finds one dead (`slot`).
enum Target {
    Standalone {
        client: redis::Client,
        config: ConnectionManagerConfig,
        manager: Slot<ConnectionManager>,
    },
    Cluster {
        client: ClusterClient,
        connection: Slot<ClusterConnection>,
        /// The nodes it was given, for the near cache's own connections.
        seeds: Vec<redis::ConnectionInfo>,
    },
}

/// A connection of either kind; every command below is written once against it.
#[derive(Clone)]
enum Connection {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Standalone(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Standalone(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Standalone(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Where one `SCAN` walk runs: the server, or one master of a cluster.
pub(crate) enum ScanNode {
    Server,
    Master { host: String, port: u16 },
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
        // healthy connection: see `fail_open`).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(op_timeout))
            .set_response_timeout(Some(op_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(op_timeout);
        let info = client.get_connection_info();
        let address = format!(
            "{}/{}{}",
            info.addr(),
            info.redis_settings().db(),
            tls_marker(info)
        );
        RedisStore {
            target: Target::Standalone {
                client,
                config,
                manager: Slot::new(),
            },
            address,
        }
    }

    /// A Redis Cluster reached through `nodes` (any of its nodes; the rest are discovered).
    /// With `certs`, every node's TLS connection uses them (see `tls`).
    pub(crate) fn cluster(
        nodes: Vec<ConnectionInfo>,
        certs: tls::Checked,
        op_timeout: Duration,
    ) -> RedisResult<Self> {
        let seeds: Vec<String> = nodes.iter().map(|info| info.addr().to_string()).collect();
        let marker = nodes.first().map_or("", tls_marker);
        // The near cache's tracking connections are made from these, with the certificates.
        let infos = match &certs {
            None => nodes.clone(),
            #[cfg(feature = "tls")]
            Some(certs) => nodes
                .iter()
                .map(|info| {
                    redis::Client::build_with_tls(info.clone(), certs.clone())
                        .map(|client| client.get_connection_info().clone())
                })
                .collect::<RedisResult<_>>()?,
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
        };
        // The cluster client's defaults retry a request up to 16 times with backoff; as for
        // standalone, our breaker does the retrying.
        let builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(op_timeout)
            .response_timeout(op_timeout)
            .retries(1);
        let builder = match certs {
            None => builder,
            #[cfg(feature = "tls")]
            Some(certs) => builder.certs(certs),
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        };
        Ok(RedisStore {
            target: Target::Cluster {
                client: builder.build()?,
                connection: Slot::new(),
                seeds: infos,
            },
            address: format!("cluster {}{marker}", seeds.join(",")),
        })
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster { .. })
    }

    async fn connection(&self) -> RedisResult<Connection> {
        match &self.target {
            Target::Standalone {
                client,
                config,
                manager,
            } => {
                let connect = || async {
                    ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                };
                manager.get(connect).await.map(Connection::Standalone)
            }
            Target::Cluster {
                client, connection, ..
            } => connection
                .get(|| client.get_async_connection())
                .await
                .map(Connection::Cluster),
        }
    }

    /// Drops the connection (it stopped answering): the next command makes a new one.
    pub(crate) fn discard_connection(&self) {
        match &self.target {
            Target::Standalone { manager, .. } => manager.discard(),
            Target::Cluster { connection, .. } => connection.discard(),
        }
    }

    /// `PING` (on a cluster, one node).
    pub(crate) async fn ping(&self) -> RedisResult<()> {
        let mut conn = self.connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    pub(crate) async fn get(&self, key: &str) -> RedisResult<Option<Vec<u8>>> {
        let mut conn = self.connection().await?;
        redis::cmd("GET").arg(key).query_async(&mut conn).await
    }

    /// `MGET`: the bytes at each key, in order. On a cluster, redis-rs sends one `MGET` per
    /// hash slot (Redis refuses one across slots), all in flight at once, and puts the
    /// replies back in order.
    pub(crate) async fn get_many(&self, keys: &[&str]) -> RedisResult<Vec<Option<Vec<u8>>>> {
        let mut conn = self.connection().await?;
        redis::cmd("MGET").arg(keys).query_async(&mut conn).await
    }

    /// `GET` and `PTTL` of `key` in one round trip (for a near-cache fill).
    pub(crate) async fn get_with_ttl(&self, key: &str) -> RedisResult<(Option<Vec<u8>>, i64)> {
        let mut conn = self.connection().await?;
        redis::pipe()
            .cmd("GET")
            .arg(key)
            .cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
    }

    /// The servers a near cache tracks: the server itself, or the masters of the cluster
    /// these seeds belong to.
    pub(crate) fn tracked_servers(&self) -> crate::near::Servers {
        use super::tracking::Server;
        match &self.target {
            Target::Standalone { client, .. } => {
                crate::near::Servers::One(Box::new(Server::new(client.get_connection_info())))
            }
            Target::Cluster { seeds, .. } => {
                crate::near::Servers::Cluster(seeds.iter().map(Server::new).collect())
            }
        }
    }

    /// Replaces a key of another Redis type (or nothing) with `lease`; returns whether it did.
    pub(crate) async fn take_over(
        &self,
        key: &str,
        lease: &[u8],
        ttl: Duration,
    ) -> RedisResult<bool> {
        let mut conn = self.connection().await?;
        TAKE_OVER
            .key(key)
            .arg(lease)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
    }

    /// `SET NX`: stores `bytes` only if nothing is at `key`; returns whether it did.
    pub(crate) async fn set_if_absent(
        &self,
        key: &str,
        bytes: &[u8],
        ttl: Duration,
    ) -> RedisResult<bool> {
        let mut conn = self.connection().await?;
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

    /// `SET PX`: stores `bytes` at `key`, whatever is there.
    pub(crate) async fn set(&self, key: &str, bytes: &[u8], ttl: Duration) -> RedisResult<()> {
        let mut conn = self.connection().await?;
        redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
    }

    /// Replaces the value at `key` only if it still holds exactly `expected` (one script call).
    pub(crate) async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        bytes: &[u8],
        ttl: Duration,
    ) -> RedisResult<bool> {
        let mut conn = self.connection().await?;
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
        let mut conn = self.connection().await?;
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
        let mut conn = self.connection().await?;
        if self.is_cluster() {
            // A cluster refuses one command (or one pipeline) over keys of different slots: one
            // UNLINK per key, all in flight at once on the multiplexed cluster connection.
            let deletions = keys.iter().map(|key| {
                let mut conn = conn.clone();
                async move {
                    redis::cmd("UNLINK")
                        .arg(key.as_ref())
                        .query_async::<u64>(&mut conn)
                        .await
                }
            });
            let mut deleted = 0;
            for outcome in futures_util::future::join_all(deletions).await {
                deleted += outcome?;
            }
            return Ok(deleted);
        }
        let mut cmd = redis::cmd("UNLINK");
        for key in keys {
            cmd.arg(key.as_ref());
        }
        cmd.query_async(&mut conn).await
    }

    /// Adds `key` to tag key `tag`, which then lives at least `lifetime`; returns the tag's
    /// version (`fresh` if it had none).
    pub(crate) async fn tag(
        &self,
        tag: &str,
        key: &str,
        lifetime: Duration,
        fresh: u64,
    ) -> RedisResult<u64> {
        let mut conn = self.connection().await?;
        let version: String = TAG
            .key(tag)
            .arg(key)
            .arg(millis(lifetime))
            .arg(format!("{fresh:x}"))
            .invoke_async(&mut conn)
            .await?;
        Ok(parse_version(&version))
    }

    /// The current version of each tag key (`None`: the tag has none, so no entry written
    /// with it is valid).
    pub(crate) async fn tag_versions(&self, tags: &[String]) -> RedisResult<Vec<Option<u64>>> {
        let conn = self.connection().await?;
        // All in flight at once on the multiplexed connection (on a cluster, each to its node).
        let reads = tags.iter().map(|tag| {
            let mut conn = conn.clone();
            async move {
                redis::cmd("HGET")
                    .arg(tag)
                    .arg("#v")
                    .query_async::<Option<String>>(&mut conn)
                    .await
            }
        });
        let mut versions = Vec::with_capacity(tags.len());
        for version in futures_util::future::join_all(reads).await {
            versions.push(version?.as_deref().map(parse_version));
        }
        Ok(versions)
    }

    /// The keys tagged with tag key `tag`; the tag is deleted, its version with it.
    pub(crate) async fn take_tag(&self, tag: &str) -> RedisResult<Vec<Vec<u8>>> {
        let mut conn = self.connection().await?;
        TAKE_TAG.key(tag).invoke_async(&mut conn).await
    }

    /// The nodes a pattern walk must visit: the server, or every master of a cluster (redis-rs
    /// has no cluster-wide SCAN, so each master's cursor is followed on that master).
    pub(crate) async fn scan_nodes(&self) -> RedisResult<Vec<ScanNode>> {
        let Connection::Cluster(mut conn) = self.connection().await? else {
            return Ok(vec![ScanNode::Server]);
        };
        let nodes: String = redis::from_redis_value(
            conn.route_command(
                redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?,
        )?;
        Ok(masters(&nodes))
    }

    /// One `SCAN` step on `node`: the next cursor (0 when done) and the keys found.
    pub(crate) async fn scan(
        &self,
        node: &ScanNode,
        cursor: u64,
        pattern: &str,
    ) -> RedisResult<(u64, Vec<Vec<u8>>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        match (self.connection().await?, node) {
            (Connection::Cluster(mut conn), ScanNode::Master { host, port }) => {
                let routing = SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                };
                let reply = conn
                    .route_command(cmd, RoutingInfo::SingleNode(routing))
                    .await?;
                Ok(redis::from_redis_value(reply)?)
            }
            (mut conn, _) => cmd.query_async(&mut conn).await,
        }
    }
}

/// ` (tls)` after the address of a TLS connection, for `Debug`.
fn tls_marker(info: &ConnectionInfo) -> &'static str {
    match info.addr() {
        redis::ConnectionAddr::TcpTls { .. } => " (tls)",
        _ => "",
    }
}

/// The masters in a `CLUSTER NODES` reply that serve slots and are not marked failed.
pub(crate) fn masters(nodes: &str) -> Vec<ScanNode> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let serves_slots = fields.len() > 8;
            // `fail` is a master the cluster agreed is down; `fail?` (only suspected) is still
            // scanned, so that a flaky node does not make an invalidation skip its keys.
            let failed = flags.split(',').any(|flag| flag == "fail");
            if !flags.contains("master") || failed || !serves_slots {
                return None;
            }
            // `ip:port@cport[,hostname]`
            let address = fields.get(1)?.split('@').next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some(ScanNode::Master {
                host: host.to_owned(),
                port: port.parse().ok()?,
            })
        })
        .collect()
}

/// A version as stored (hex); one that does not parse matches nothing (0 is never made).
fn parse_version(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or(0)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
