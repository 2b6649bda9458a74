//! The faults the model test injects, the log of when each happened, and the injector that
//! makes them at random, seeded intervals. Every fault ends (Redis answers again, the proxy
//! passes) before the next begins.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::Commands;

use crate::rng::Rng;
use crate::support::proxy::Proxy;
use crate::support::{RedisCluster, RedisServer};

/// Arguments every server is started and restarted with: `DEBUG SLEEP` needs them.
pub const SERVER_ARGS: &[&str] = &["--enable-debug-command", "yes"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// SIGSTOP for 100–600 ms, then SIGCONT: connections stay open and silent.
    Pause,
    /// SIGKILL, down for 50–500 ms, then a fresh, empty server on the same port.
    Kill,
    /// `CLIENT KILL TYPE normal`: Redis drops every client connection.
    ClientKill,
    /// The proxy in front of cache A black-holes its connections for good, and new ones for
    /// 300–1500 ms.
    Blackhole,
    /// The proxy cuts cache A's connections.
    Reset,
    /// `DEBUG SLEEP 0.3`: Redis stops answering for 300 ms.
    Sleep,
    /// A low `maxmemory` under `allkeys-lru`, and filler written: Redis evicts for 200–800 ms.
    Evict,
}

impl FaultKind {
    pub const ALL: &[FaultKind] = &[
        FaultKind::Pause,
        FaultKind::Kill,
        FaultKind::ClientKill,
        FaultKind::Blackhole,
        FaultKind::Reset,
        FaultKind::Sleep,
        FaultKind::Evict,
    ];

    /// The faults a server can have, without a proxy.
    pub const SERVER: &[FaultKind] = &[
        FaultKind::Pause,
        FaultKind::Kill,
        FaultKind::ClientKill,
        FaultKind::Sleep,
        FaultKind::Evict,
    ];

    /// The name `FAULT_KINDS` uses.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Pause => "pause",
            FaultKind::Kill => "kill",
            FaultKind::ClientKill => "client-kill",
            FaultKind::Blackhole => "blackhole",
            FaultKind::Reset => "reset",
            FaultKind::Sleep => "sleep",
            FaultKind::Evict => "evict",
        }
    }

    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
    }
}

#[derive(Clone)]
pub struct Fault {
    pub kind: FaultKind,
    /// What exactly happened, such as how long Redis was down.
    pub detail: String,
    pub start: Instant,
    /// `None` while the fault is under way.
    pub end: Option<Instant>,
}

/// When each fault happened, shared with the tasks so that they can tell whether a stale read
/// falls in a fault's grace window.
#[derive(Default)]
pub struct FaultLog(Mutex<Vec<Fault>>);

impl FaultLog {
    fn faults(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs a fault as under way from now, before it is injected. The start is taken under
    /// the lock, so a task that later looks for faults begun before an instant after this one
    /// is sure to find it.
    fn begin(&self, kind: FaultKind) -> usize {
        let mut faults = self.faults();
        faults.push(Fault {
            kind,
            detail: String::new(),
            start: Instant::now(),
            end: None,
        });
        faults.len() - 1
    }

    fn end(&self, index: usize, detail: String) {
        let fault = &mut self.faults()[index];
        fault.detail = detail;
        fault.end = Some(Instant::now());
    }

    /// Whether a read that started at `at` falls in a fault's grace window: after the fault
    /// began, and no later than `grace` after it ended.
    pub fn forgives(&self, at: Instant, grace: Duration) -> bool {
        self.faults()
            .iter()
            .any(|fault| fault.start <= at && fault.end.is_none_or(|end| at <= end + grace))
    }

    /// The last fault that began before `at`.
    pub fn latest_before(&self, at: Instant) -> Option<Fault> {
        self.faults()
            .iter()
            .rev()
            .find(|fault| fault.start <= at)
            .cloned()
    }

    pub fn all(&self) -> Vec<Fault> {
        self.faults().clone()
    }
}

/// What the injector breaks. Standalone: the server, and the proxy in front of cache A.
/// Cluster: three masters, one picked at random for each fault, and no proxy (the cluster
/// client learns every node's own address from `CLUSTER SLOTS`, so a proxy in front of one
/// seed node would be bypassed).
pub enum Target {
    Standalone { server: RedisServer, proxy: Proxy },
    Cluster(RedisCluster),
}

impl Target {
    /// The fault kinds this target can have.
    pub fn kinds(&self) -> &'static [FaultKind] {
        match self {
            Target::Standalone { .. } => FaultKind::ALL,
            Target::Cluster(_) => FaultKind::SERVER,
        }
    }

    /// Makes one fault and ends it; returns what happened.
    fn inject(&mut self, kind: FaultKind, rng: &mut Rng) -> String {
        let master = match self {
            Target::Standalone { .. } => 0,
            Target::Cluster(cluster) => rng.below(cluster.masters.len() as u64) as usize,
        };
        let detail = match kind {
            FaultKind::Pause => pause(self.server(master), rng),
            FaultKind::Kill => self.kill_and_restart(master, rng),
            FaultKind::ClientKill => client_kill(self.server(master)),
            FaultKind::Blackhole => blackhole(self.proxy(), rng),
            FaultKind::Reset => {
                self.proxy().reset_all();
                "cache A's connections cut".to_owned()
            }
            FaultKind::Sleep => debug_sleep(self.server(master)),
            FaultKind::Evict => force_eviction(self.server(master), rng),
        };
        match self {
            Target::Standalone { .. } => detail,
            Target::Cluster(_) => format!("master {master}: {detail}"),
        }
    }

    fn server(&mut self, master: usize) -> &mut RedisServer {
        match self {
            Target::Standalone { server, .. } => server,
            Target::Cluster(cluster) => &mut cluster.masters[master],
        }
    }

    fn proxy(&self) -> &Proxy {
        match self {
            Target::Standalone { proxy, .. } => proxy,
            Target::Cluster(_) => unreachable!("`kinds` gives a cluster no proxy faults"),
        }
    }

    fn kill_and_restart(&mut self, master: usize, rng: &mut Rng) -> String {
        let down = rng.between(Duration::from_millis(50), Duration::from_millis(500));
        self.server(master).kill();
        std::thread::sleep(down);
        match self {
            Target::Standalone { server, .. } => server.restart_with(SERVER_ARGS),
            Target::Cluster(cluster) => cluster.restart_master(master, SERVER_ARGS),
        }
        format!("down {down:.0?}, restarted empty")
    }
}

/// Injects faults of `kinds`, one at a time at random intervals of 0.3–1.5 s, logging each,
/// until `until`. Blocks: run it on a thread of its own.
pub fn inject(
    target: &mut Target,
    kinds: &[FaultKind],
    log: &FaultLog,
    rng: &mut Rng,
    until: Instant,
) {
    loop {
        let gap = rng.between(Duration::from_millis(300), Duration::from_millis(1500));
        if kinds.is_empty() || Instant::now() + gap >= until {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            return;
        }
        std::thread::sleep(gap);
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        let fault = log.begin(kind);
        let detail = target.inject(kind, rng);
        log.end(fault, detail);
    }
}

fn pause(server: &mut RedisServer, rng: &mut Rng) -> String {
    let paused = rng.between(Duration::from_millis(100), Duration::from_millis(600));
    server.pause();
    std::thread::sleep(paused);
    server.resume();
    format!("paused {paused:.0?}")
}

fn client_kill(server: &RedisServer) -> String {
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut server.client())
        .expect("CLIENT KILL");
    format!("{killed} client connections killed")
}

fn blackhole(proxy: &Proxy, rng: &mut Rng) -> String {
    let silent = rng.between(Duration::from_millis(300), Duration::from_millis(1500));
    proxy.blackhole();
    std::thread::sleep(silent);
    proxy.pass();
    format!("silent {silent:.0?}")
}

fn debug_sleep(server: &RedisServer) -> String {
    redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.3")
        .query::<()>(&mut server.client())
        .expect("DEBUG SLEEP");
    "300ms".to_owned()
}

/// Sets `maxmemory` 256 KiB above what Redis uses, under `allkeys-lru`, and keeps writing
/// 64 KiB filler values for 200–800 ms, so Redis keeps evicting: filler, entries, leases and
/// tag sets alike (LRU's one-second clock cannot tell recent keys apart). Then lifts the limit
/// and removes the filler.
fn force_eviction(server: &RedisServer, rng: &mut Rng) -> String {
    let mut redis = server.client();
    let filler_keys: Vec<String> = {
        let prefix = filler_prefix(&mut redis);
        (0..32).map(|i| format!("{prefix}{i}")).collect()
    };
    let evicted_before = info_number(&mut redis, "stats", "evicted_keys");
    let used = info_number(&mut redis, "memory", "used_memory");
    config_set(&mut redis, "maxmemory-policy", "allkeys-lru");
    config_set(&mut redis, "maxmemory", &(used + 256 * 1024).to_string());
    let filler = vec![b'x'; 64 * 1024];
    let hold = rng.between(Duration::from_millis(200), Duration::from_millis(800));
    let until = Instant::now() + hold;
    for key in filler_keys.iter().cycle() {
        if Instant::now() >= until {
            break;
        }
        // Refused when nothing more can be evicted: the pressure is the point.
        let _ = redis.set::<_, _, ()>(key, &filler);
        std::thread::sleep(Duration::from_millis(10));
    }
    config_set(&mut redis, "maxmemory", "0");
    config_set(&mut redis, "maxmemory-policy", "noeviction");
    redis.unlink::<_, ()>(&filler_keys).expect("UNLINK filler");
    let evicted = info_number(&mut redis, "stats", "evicted_keys") - evicted_before;
    format!("{evicted} keys evicted over {hold:.0?}")
}

/// A key prefix this node serves: any on a standalone server; on a cluster master, a hash
/// tag of one of its slots, found by trying tags until a `SET` is not redirected.
fn filler_prefix(redis: &mut redis::Connection) -> String {
    (0..)
        .map(|n| format!("{{fm:filler:{n}}}:"))
        .find(|prefix| redis.set::<_, _, ()>(format!("{prefix}0"), 0).is_ok())
        .expect("some hash tag is served here")
}

fn info_number(redis: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(redis).expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no number {field}"))
}

fn config_set(redis: &mut redis::Connection, name: &str, value: &str) {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query::<()>(redis)
        .unwrap_or_else(|error| panic!("CONFIG SET {name} {value}: {error}"));
}
