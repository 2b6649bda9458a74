//! The near cache: a bounded in-process copy (L1) of entries read from Redis, kept coherent by
//! Redis's own client-side caching (`backend::tracking`), and flushed the moment coherence
//! cannot be proven.
//!
//! # Behavior
//!
//! * **Filled only by reads, and only if nothing raced them.** Before a Redis read, the caller
//!   takes a [`Token`]: the flush generation, the sweep generation and the sequence of the key's
//!   slot (one of [`SLOTS`] counters, by hash of the key). Every invalidation message, local
//!   drop, pattern sweep and flush bumps one of them *before* removing copies. The fill checks
//!   the token under the key's lock and keeps nothing if any moved, so a value read before an
//!   invalidation never lands in L1 after it.
//! * **Dropped locally before the call returns.** A write or an invalidation made by this
//!   process drops its L1 copies itself after Redis answered (it does not wait for its own
//!   invalidation message), so the process never serves the old value once the call returned.
//! * **Never outlives the Redis entry.** A copy lives at most the entry's remaining TTL
//!   (`PTTL`, read in the same round trip as the value, counted from before the read was
//!   sent) and at most `near_max_ttl`.
//! * **Armed only while coherent.** L1 serves only while every tracked server has confirmed
//!   `CLIENT TRACKING` on a live connection that answers its heartbeat ([`HEARTBEAT_EVERY`],
//!   within [`HEARTBEAT_DEADLINE`]). A lost connection, a missed heartbeat, a restart, or a
//!   flush message flush L1 at once; reads go to Redis until the connection is made again and
//!   tracking re-confirmed. A server that refuses tracking leaves the near tier off (logged
//!   once, `Health::near_armed == false`).
//! * **Supervised from any runtime.** The task that keeps the tracking connections runs on
//!   the runtime of the first call that uses L1; if that runtime ends, L1 is flushed and the
//!   next call starts the task again on its own runtime.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::backend::Kept;
use crate::backend::tracking::{self, Message, Server, TrackingError};
use crate::codec;
use crate::expiry::{Deadline, Expiring};
use crate::glob;
use crate::store;
use crate::telemetry;

/// How many per-key sequences there are (keys share them by hash: a collision only discards
/// a fill).
const SLOTS: usize = 4096;

/// How often the tracking connection is pinged.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// How long a heartbeat (and connecting, and turning tracking on) may take before the
/// connection is deemed lost.
pub(crate) const HEARTBEAT_DEADLINE: Duration = Duration::from_millis(1500);

/// How long to wait before connecting again after a loss.
const RECONNECT_AFTER: Duration = Duration::from_millis(100);

/// The default `near_max_ttl`.
pub(crate) const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60);

/// One copy, behind one `Arc` (a hit takes one reference count, not one per part).
pub(crate) struct Copy {
    bytes: Arc<[u8]>,
    kept: Option<Kept>,
    /// `codec::is_plain(bytes)`.
    plain: bool,
    /// The flush generation it was filled in: served only while it is the current one.
    flush: u64,
    /// When it stops being served: the entry's TTL in Redis, at most `near_max_ttl`.
    deadline: Deadline,
}

impl Expiring for Copy {
    fn deadline(&self) -> Deadline {
        self.deadline
    }
}

impl Copy {
    /// The entry's bytes, as read from Redis.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The value itself, for a `Clone` type.
    #[inline]
    pub(crate) fn kept(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        self.kept.as_deref()
    }

    /// Whether the entry is plain (`codec::is_plain`).
    #[inline]
    pub(crate) fn plain(&self) -> bool {
        self.plain
    }
}

/// Which servers send the invalidations L1 needs.
pub(crate) enum Servers {
    /// A standalone server.
    One(Box<Server>),
    /// Every master of a cluster, found through these seeds each time the channel is made,
    /// and watched (`CLUSTER NODES` at every heartbeat): a master added, lost or replaced
    /// re-arms on the new set.
    Cluster(Vec<Server>),
}

/// What a fill must find unchanged, taken before the Redis read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    flush: u64,
    sweep: u64,
    slot: u64,
    started: Instant,
}

pub(crate) struct Near {
    copies: store::Map<Arc<Copy>>,
    /// Bumped by every flush (message, loss, disarm): copies of older generations are dead.
    flush: AtomicU64,
    /// Bumped by every local pattern sweep: fills in flight are discarded.
    sweep: AtomicU64,
    slots: Box<[AtomicU64]>,
    slot_hasher: foldhash::fast::FixedState,
    max_ttl: Duration,
    /// The servers whose invalidations are needed.
    servers: Servers,
    /// Every server's tracking is confirmed on a live connection.
    armed: AtomicBool,
    /// A supervising task runs.
    supervised: AtomicBool,
    /// A server refused tracking: the near tier stays off.
    refused: AtomicBool,
    prefix: String,
    /// The entry count last added to the `redcache.near.entries` gauge (`metrics`).
    reported_entries: AtomicU64,
}

impl std::fmt::Debug for Near {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Near")
            .field("entries", &self.copies.len())
            .field("armed", &self.is_armed())
            .finish_non_exhaustive()
    }
}

impl Near {
    pub(crate) fn new(max_entries: u64, max_ttl: Duration, servers: Servers, prefix: &str) -> Self {
        Near {
            copies: store::Map::new(max_entries),
            flush: AtomicU64::new(0),
            sweep: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            slot_hasher: foldhash::fast::FixedState::with_seed(0x6e65_6172),
            max_ttl,
            servers,
            armed: AtomicBool::new(false),
            supervised: AtomicBool::new(false),
            refused: AtomicBool::new(false),
            prefix: prefix.to_owned(),
            reported_entries: AtomicU64::new(0),
        }
    }

    /// Brings this cache's share of the `redcache.near.entries` gauge up to date (at each
    /// heartbeat).
    fn report_entries(&self) {
        let now = self.copies.len();
        let before = self.reported_entries.swap(now, SeqCst);
        telemetry::near_entries(now.saturating_sub(before), before.saturating_sub(now));
    }

    /// Whether L1 is serving: every server's tracking is confirmed and alive.
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.load(SeqCst)
    }

    /// `read` of the copy at `key`, if L1 is armed and holds a live one (under its shard's
    /// read lock, see `store::Map::read`).
    #[inline]
    pub(crate) fn read<R>(&self, key: &str, read: impl FnOnce(&Copy) -> Option<R>) -> Option<R> {
        if !self.is_armed() {
            return None;
        }
        self.copies
            .read(key, |copy| {
                (copy.flush == self.flush.load(SeqCst))
                    .then(|| read(copy))
                    .flatten()
            })
            .flatten()
    }

    /// A token for a read of `key`, or `None` while L1 is not armed (nothing read then may
    /// be kept).
    pub(crate) fn token(&self, key: &str) -> Option<Token> {
        let started = Instant::now();
        let token = Token {
            flush: self.flush.load(SeqCst),
            sweep: self.sweep.load(SeqCst),
            slot: self.slot(key).load(SeqCst),
            started,
        };
        self.is_armed().then_some(token)
    }

    /// Keeps a copy of `bytes`, read from Redis under `token`, whose Redis entry had `pttl_ms`
    /// left (`-1`: no TTL), unless anything invalidated it since the token was taken.
    pub(crate) fn fill(
        &self,
        key: &str,
        token: Token,
        pttl_ms: i64,
        bytes: &[u8],
        kept: impl FnOnce() -> Option<Kept>,
    ) {
        let remaining = match u64::try_from(pttl_ms) {
            Ok(ms) => Duration::from_millis(ms).min(self.max_ttl),
            Err(_) if pttl_ms == -1 => self.max_ttl,
            Err(_) => return, // -2: gone already
        };
        // Counted from before the read was sent: the copy cannot outlive the entry.
        let deadline = Deadline::at(token.started, remaining);
        if deadline.passed() {
            return;
        }
        let copy = Arc::new(Copy {
            plain: codec::is_plain(bytes),
            bytes: Arc::from(bytes),
            kept: kept(),
            flush: token.flush,
            deadline,
        });
        self.copies.compute(key, |_| {
            let unchanged = self.is_armed()
                && self.flush.load(SeqCst) == token.flush
                && self.sweep.load(SeqCst) == token.sweep
                && self.slot(key).load(SeqCst) == token.slot;
            if unchanged {
                store::Op::Put(copy)
            } else {
                store::Op::Keep
            }
        });
    }

    /// Drops the copies of `keys` (and discards fills of them in flight).
    pub(crate) fn drop_keys<K: AsRef<[u8]>>(&self, keys: &[K]) {
        for key in keys {
            let key = key.as_ref();
            self.slot_bytes(key).fetch_add(1, SeqCst);
            if let Ok(key) = std::str::from_utf8(key) {
                // Through the key's lock, so a fill that checked its token just before cannot
                // put its copy back after this.
                self.copies.remove(key);
            }
        }
    }

    /// Drops the copies whose keys match `pattern` (and discards every fill in flight).
    pub(crate) fn drop_matching(&self, pattern: &str) {
        self.sweep.fetch_add(1, SeqCst);
        let doomed = (self.copies).keys(|key| glob::matches(pattern.as_bytes(), key.as_bytes()));
        for key in doomed {
            self.copies.remove(&key);
        }
    }

    /// Drops every copy (and every fill in flight).
    pub(crate) fn flush(&self) {
        self.flush.fetch_add(1, SeqCst);
        self.copies.clear();
    }

    fn slot(&self, key: &str) -> &AtomicU64 {
        self.slot_bytes(key.as_bytes())
    }

    fn slot_bytes(&self, key: &[u8]) -> &AtomicU64 {
        use std::hash::BuildHasher;
        let hash = self.slot_hasher.hash_one(key);
        &self.slots[(hash as usize) % SLOTS]
    }

    /// What an invalidation message means.
    fn on_message(&self, message: Message<'_>) {
        match message {
            Message::Keys(keys) => {
                for key in keys {
                    match key {
                        redis::Value::BulkString(key) => self.drop_keys(&[key]),
                        redis::Value::SimpleString(key) => self.drop_keys(&[key]),
                        _ => self.flush(),
                    }
                }
            }
            Message::All => self.flush(),
            Message::Lost => self.flush(),
        }
    }

    /// Makes sure a task keeps the tracking connections, on the current Tokio runtime.
    #[inline]
    pub(crate) fn supervise(self: &Arc<Self>) {
        if self.supervised.load(SeqCst) || self.refused.load(SeqCst) {
            return;
        }
        self.start_supervising();
    }

    #[cold]
    fn start_supervising(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.supervised.swap(true, SeqCst) {
            return;
        }
        let session = Session {
            near: Arc::downgrade(self),
        };
        runtime.spawn(session.run());
    }

    /// Not coherent any more: bypass L1, then flush it.
    fn disarm(&self) {
        self.armed.store(false, SeqCst);
        self.flush();
    }
}

/// The task that keeps the tracking connections (one per server). Dropped (its runtime
/// ended, or the cache is gone), it disarms L1 and lets another task start.
struct Session {
    near: Weak<Near>,
}

/// One set of tracking connections, as made by one round of [`Session::run`].
struct Channel {
    connections: Vec<redis::aio::MultiplexedConnection>,
    /// The first server's settings, which the others are made from.
    seed: Server,
    addresses: Vec<String>,
    /// Set by a message handler when its connection dropped.
    lost: Arc<tokio::sync::Notify>,
    /// Whether one did.
    broken: Arc<AtomicBool>,
    /// While false, a dropped connection of this set is no news (the set was replaced).
    current: Arc<AtomicBool>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.current.store(false, SeqCst);
    }
}

impl Session {
    async fn run(self) {
        loop {
            match self.open().await {
                Ok(mut channel) => {
                    if let Some(near) = self.near.upgrade() {
                        near.armed.store(true, SeqCst);
                        if channel.broken.load(SeqCst) {
                            near.disarm(); // a connection dropped while the others opened
                        }
                    }
                    let why = self.keep(&mut channel).await;
                    if let Some(near) = self.near.upgrade() {
                        near.disarm();
                        tracing::warn!(
                            target: "redcache",
                            servers = %channel.addresses.join(","),
                            why,
                            "near cache flushed and bypassed until its invalidation channel is back"
                        );
                    }
                }
                Err(TrackingError::Refused(reason)) => {
                    if let Some(near) = self.near.upgrade() {
                        near.refused.store(true, SeqCst);
                        near.disarm();
                        tracing::warn!(
                            target: "redcache",
                            %reason,
                            "redis refused client tracking; the near cache stays off and every read goes to redis"
                        );
                    }
                    return;
                }
                Err(TrackingError::Unreachable) => match self.near.upgrade() {
                    Some(near) => near.disarm(),
                    None => return,
                },
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    }

    /// Finds the servers and opens a tracking connection to each.
    async fn open(&self) -> Result<Channel, TrackingError> {
        let (servers, prefix) = {
            let near = self.near.upgrade().ok_or(TrackingError::Unreachable)?;
            let servers = match &near.servers {
                Servers::One(server) => vec![Server::clone(server)],
                Servers::Cluster(seeds) => {
                    tracking::cluster_masters(seeds, HEARTBEAT_DEADLINE).await?
                }
            };
            (servers, near.prefix.clone())
        };
        let lost = Arc::new(tokio::sync::Notify::new());
        let broken = Arc::new(AtomicBool::new(false));
        let current = Arc::new(AtomicBool::new(true));
        let opening = servers.iter().map(|server| {
            let (near, lost, current) = (self.near.clone(), lost.clone(), current.clone());
            let broken = broken.clone();
            let handler = move |message: Message<'_>| {
                let Some(near) = near.upgrade() else {
                    return;
                };
                match message {
                    // At once, on the driver task, before the session wakes up.
                    Message::Lost if current.load(SeqCst) => {
                        broken.store(true, SeqCst);
                        near.disarm();
                        lost.notify_one();
                    }
                    message => near.on_message(message),
                }
            };
            tracking::open(server, &prefix, HEARTBEAT_DEADLINE, handler)
        });
        let mut connections = Vec::with_capacity(servers.len());
        for opened in futures_util::future::join_all(opening).await {
            connections.push(opened?);
        }
        Ok(Channel {
            seed: servers[0].clone(),
            connections,
            addresses: servers.iter().map(Server::address).collect(),
            lost,
            broken,
            current,
        })
    }

    /// Heartbeats until a connection is lost or misses one, or the cluster's masters change
    /// (or the cache is gone); says why it stopped.
    async fn keep(&self, channel: &mut Channel) -> &'static str {
        let cluster = self
            .near
            .upgrade()
            .is_some_and(|near| matches!(near.servers, Servers::Cluster(_)));
        loop {
            if tokio::time::timeout(HEARTBEAT_EVERY, channel.lost.notified())
                .await
                .is_ok()
            {
                return "connection lost";
            }
            match self.near.upgrade() {
                Some(near) => near.report_entries(),
                None => return "cache dropped",
            }
            let beats = channel
                .connections
                .iter_mut()
                .map(|connection| tracking::heartbeat(connection, HEARTBEAT_DEADLINE));
            let beats = futures_util::future::join_all(beats).await;
            if beats.iter().any(Result::is_err) {
                return "heartbeat missed";
            }
            if cluster {
                let masters = tracking::masters_of(
                    &mut channel.connections[0],
                    &channel.seed,
                    HEARTBEAT_DEADLINE,
                )
                .await;
                let mut now: Vec<String> = match masters {
                    Ok(masters) => masters.iter().map(Server::address).collect(),
                    Err(_) => return "cluster topology unreadable",
                };
                let mut before = channel.addresses.clone();
                now.sort();
                before.sort();
                if now != before {
                    return "cluster masters changed";
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(near) = self.near.upgrade() {
            near.disarm();
            near.supervised.store(false, SeqCst);
        }
    }
}

impl Drop for Near {
    /// Takes this cache's share back from the `redcache.near.entries` gauge.
    fn drop(&mut self) {
        telemetry::near_entries(0, self.reported_entries.load(SeqCst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed_near() -> Near {
        let info = redis::IntoConnectionInfo::into_connection_info("redis://127.0.0.1:1").unwrap();
        let near = Near::new(
            100,
            DEFAULT_MAX_TTL,
            Servers::One(Box::new(Server::new(&info))),
            "p:",
        );
        near.armed.store(true, SeqCst);
        near
    }

    fn kept(near: &Near, key: &str) -> bool {
        near.read(key, |_| Some(())).is_some()
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_never_kept() {
        let near = armed_near();
        // Unraced: kept.
        let token = near.token("p:a").unwrap();
        near.fill("p:a", token, 10_000, b"rc1\n1", || None);
        assert!(kept(&near, "p:a"));

        // A message (or a local drop) for the key between the read and the fill.
        let token = near.token("p:b").unwrap();
        near.drop_keys(&["p:b"]);
        near.fill("p:b", token, 10_000, b"rc1\n1", || None);
        assert!(!kept(&near, "p:b"));

        // A local pattern sweep, a flush (FLUSHDB, a lost connection).
        let token = near.token("p:c").unwrap();
        near.drop_matching("p:x*");
        near.fill("p:c", token, 10_000, b"rc1\n1", || None);
        assert!(!kept(&near, "p:c"));
        let token = near.token("p:c").unwrap();
        near.on_message(Message::All);
        near.fill("p:c", token, 10_000, b"rc1\n1", || None);
        assert!(!kept(&near, "p:c"));
        assert!(!kept(&near, "p:a"), "a flush drops every copy");

        // Disarmed: no token, nothing served.
        near.fill("p:a", near.token("p:a").unwrap(), 10_000, b"rc1\n1", || {
            None
        });
        assert!(kept(&near, "p:a"));
        near.armed.store(false, SeqCst);
        assert!(near.token("p:a").is_none());
        assert!(!kept(&near, "p:a"));
    }

    #[test]
    fn a_copy_ends_with_the_entry_or_is_not_made() {
        let near = armed_near();
        let token = near.token("p:a").unwrap();
        near.fill("p:a", token, -2, b"rc1\n1", || None);
        assert!(!kept(&near, "p:a"), "gone in Redis already");
        let token = near.token("p:a").unwrap();
        near.fill("p:a", token, 30, b"rc1\n1", || None);
        assert!(kept(&near, "p:a"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!kept(&near, "p:a"), "outlived the entry's PTTL");
        let keys = [redis::Value::BulkString(b"p:b".to_vec())];
        let token = near.token("p:b").unwrap();
        near.fill("p:b", token, -1, b"rc1\n1", || None);
        assert!(kept(&near, "p:b"), "no TTL: near_max_ttl");
        near.on_message(Message::Keys(&keys));
        assert!(!kept(&near, "p:b"));
    }
}
