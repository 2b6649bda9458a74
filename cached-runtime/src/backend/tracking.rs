//! The near cache's invalidation channel: a dedicated RESP3 connection to one Redis server (or
//! one master of a cluster) with `CLIENT TRACKING ON BCAST PREFIX <prefix>`, so that Redis
//! pushes an `invalidate` message for every key under the prefix that changes or disappears,
//! whoever changed it (this process, another one, `redis-cli`, expiry, eviction; a flush is a
//! null message). Only moves messages: what they mean for the near tier is `near`'s business.
//!
//! The push handler runs synchronously on the connection's driver task, as each message is
//! read, so a message takes effect before anything read after it on that connection.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ProtocolVersion, PushInfo, PushKind,
    Value,
};

use super::redis::{ScanNode, masters};

/// What one push message says.
pub(crate) enum Message<'a> {
    /// These keys changed or disappeared.
    Keys(&'a [Value]),
    /// Everything may have changed (`FLUSHALL`, `FLUSHDB`, or a message we cannot read).
    All,
    /// The connection is gone.
    Lost,
}

/// One server to track, with RESP3 set on its connection info.
#[derive(Clone)]
pub(crate) struct Server {
    info: ConnectionInfo,
}

impl Server {
    pub(crate) fn new(info: &ConnectionInfo) -> Self {
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        Server {
            info: info.clone().set_redis_settings(settings),
        }
    }

    /// The same settings (credentials, TLS) at another node.
    fn at(&self, host: &str, port: u16) -> Server {
        let addr = match self.info.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.to_owned(), port),
        };
        Server {
            info: self.info.clone().set_addr(addr),
        }
    }

    /// `host:port`, with no credentials.
    pub(crate) fn address(&self) -> String {
        self.info.addr().to_string()
    }
}

/// Why a tracking connection could not be set up or ended.
pub(crate) enum TrackingError {
    /// Not reached in time, or the connection broke: try again later.
    Unreachable,
    /// The server answered with an error (no RESP3, no client tracking, an ACL): it will not
    /// track, so the near tier stays off.
    Refused(String),
}

fn classify(error: redis::RedisError) -> TrackingError {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
    {
        TrackingError::Unreachable
    } else {
        TrackingError::Refused(error.to_string())
    }
}

/// Connects to `server`, turns tracking on for keys starting with `prefix` (all keys if it is
/// empty) and hands every push message to `on_message`. Returns once Redis confirmed tracking:
/// from then on every change under the prefix reaches `on_message`.
pub(crate) async fn open(
    server: &Server,
    prefix: &str,
    deadline: Duration,
    on_message: impl Fn(Message<'_>) + Send + Sync + 'static,
) -> Result<MultiplexedConnection, TrackingError> {
    let push = move |info: PushInfo| -> Result<(), std::convert::Infallible> {
        match info.kind {
            PushKind::Invalidate => match info.data.first() {
                Some(Value::Array(keys)) => on_message(Message::Keys(keys)),
                _ => on_message(Message::All),
            },
            PushKind::Disconnection => on_message(Message::Lost),
            _ => {}
        }
        Ok(())
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(deadline))
        .set_response_timeout(Some(deadline))
        .set_push_sender(push);
    let client = redis::Client::open(server.info.clone()).map_err(classify)?;
    let connect = client.get_multiplexed_async_connection_with_config(&config);
    let mut connection = tokio::time::timeout(deadline, connect)
        .await
        .map_err(|_| TrackingError::Unreachable)?
        .map_err(classify)?;
    let mut tracking = redis::cmd("CLIENT");
    tracking.arg("TRACKING").arg("ON").arg("BCAST");
    if !prefix.is_empty() {
        tracking.arg("PREFIX").arg(prefix);
    }
    let enable = tracking.query_async::<Value>(&mut connection);
    tokio::time::timeout(deadline, enable)
        .await
        .map_err(|_| TrackingError::Unreachable)?
        .map_err(classify)?;
    Ok(connection)
}

/// `PING` on the tracking connection, within `deadline`: a connection that went silent
/// without closing (a paused server, a dropped flow) fails it.
pub(crate) async fn heartbeat(
    connection: &mut MultiplexedConnection,
    deadline: Duration,
) -> Result<(), TrackingError> {
    let ping = redis::cmd("PING");
    let ping = ping.query_async::<Value>(connection);
    tokio::time::timeout(deadline, ping)
        .await
        .map_err(|_| TrackingError::Unreachable)?
        .map(drop)
        .map_err(classify)
}

/// The masters of the cluster, asked of the first seed that answers (`CLUSTER NODES`).
pub(crate) async fn cluster_masters(
    seeds: &[Server],
    deadline: Duration,
) -> Result<Vec<Server>, TrackingError> {
    let mut outcome = Err(TrackingError::Unreachable);
    for seed in seeds {
        let client = redis::Client::open(seed.info.clone()).map_err(classify)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(deadline))
            .set_response_timeout(Some(deadline));
        let connect = client.get_multiplexed_async_connection_with_config(&config);
        let Ok(Ok(mut connection)) = tokio::time::timeout(deadline, connect).await else {
            continue;
        };
        outcome = masters_of_seed(&mut connection, seed, deadline).await;
        if outcome.is_ok() {
            break;
        }
    }
    outcome
}

/// The masters of the cluster `connection` belongs to.
pub(crate) async fn masters_of(
    connection: &mut MultiplexedConnection,
    seed: &Server,
    deadline: Duration,
) -> Result<Vec<Server>, TrackingError> {
    masters_of_seed(connection, seed, deadline).await
}

async fn masters_of_seed(
    connection: &mut MultiplexedConnection,
    seed: &Server,
    deadline: Duration,
) -> Result<Vec<Server>, TrackingError> {
    let mut nodes = redis::cmd("CLUSTER");
    let nodes = nodes.arg("NODES").query_async::<Value>(connection);
    let reply = tokio::time::timeout(deadline, nodes)
        .await
        .map_err(|_| TrackingError::Unreachable)?
        .map_err(classify)?;
    let text = match reply {
        Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Value::VerbatimString { text, .. } | Value::SimpleString(text) => text,
        _ => return Err(TrackingError::Unreachable),
    };
    let found: Vec<Server> = masters(&text)
        .into_iter()
        .filter_map(|node| match node {
            ScanNode::Master { host, port } => Some(seed.at(&host, port)),
            ScanNode::Server => None,
        })
        .collect();
    if found.is_empty() {
        return Err(TrackingError::Unreachable); // a cluster still forming
    }
    Ok(found)
}
