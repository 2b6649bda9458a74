//! Test support: a `redis-server` of our own on a free loopback port, which a test can kill,
//! pause and restart. Never port 6379, never a process we did not start.

#![allow(dead_code)] // each test binary uses its own subset

pub mod proxy;
mod restart;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redcache::Cache;

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    paused: bool,
    /// A working directory of our own (cluster nodes write `nodes.conf`), removed on drop.
    dir: Option<std::path::PathBuf>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments (`["--maxmemory", "1mb"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                port,
                child: None,
                paused: false,
                dir: None,
            };
            if server.spawn(extra) {
                return server;
            }
        }
        panic!("could not start redis-server (is it installed and on PATH?)");
    }

    /// A port nothing listens on, for "connection refused at start-up".
    pub fn unused_port() -> u16 {
        free_port()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A cache on this server with a short op timeout, as the fault tests want.
    pub fn cache(&self) -> Cache {
        Cache::builder()
            .url(self.url())
            .op_timeout(Duration::from_millis(100))
            .build()
            .expect("valid url")
    }

    /// A plain connection for looking at what Redis holds.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|client| client.get_connection())
            .expect("connect to test redis")
    }

    fn spawn(&mut self, extra: &[&str]) -> bool {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (install it: apt-get install redis-server)");
        self.child = Some(child);
        self.paused = false;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.ping() {
                return true;
            }
            if let Some(child) = &mut self.child {
                if child.try_wait().ok().flatten().is_some() {
                    self.child = None;
                    return false; // exited: most likely the port was taken meanwhile
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGKILL: the server vanishes, connections drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                signal(child.id(), "CONT");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGSTOP: the server keeps its sockets open and stops answering.
    pub fn pause(&mut self) {
        signal(self.pid(), "STOP");
        self.paused = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self) {
        signal(self.pid(), "CONT");
        self.paused = false;
    }

    /// Starts a fresh, empty server on the same port (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(&[]),
            "restart redis-server on port {}",
            self.port
        );
    }

    /// How many times each command ran since the last `reset_stats`, from `INFO commandstats`.
    pub fn command_calls(&self, command: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.client())
            .expect("INFO commandstats");
        let prefix = format!("cmdstat_{}:calls=", command.to_lowercase());
        info.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |calls| calls.parse().expect("calls count"))
    }

    pub fn reset_stats(&self) {
        redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query::<()>(&mut self.client())
            .expect("CONFIG RESETSTAT");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A Redis Cluster of three masters (no replicas), each a `RedisServer` of our own.
pub struct RedisCluster {
    pub masters: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers and joins them with `redis-cli --cluster create`,
    /// then waits for `cluster_state:ok` (about 2 s).
    pub fn start() -> RedisCluster {
        Self::start_with(&[])
    }

    /// Starts the cluster with extra `redis-server` arguments for every node.
    pub fn start_with(extra: &[&str]) -> RedisCluster {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let masters: Vec<RedisServer> = (0..3)
            .map(|_| {
                let dir = std::env::temp_dir().join(format!(
                    "redcache-cluster-{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&dir).expect("cluster node dir");
                let dir_arg = dir.to_str().expect("utf-8 temp dir").to_owned();
                let mut server = RedisServer::start_with(&cluster_node_args(&dir_arg, extra));
                server.dir = Some(dir);
                server
            })
            .collect();
        let addresses: Vec<String> = masters
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.port()))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create failed");
        wait_until_cluster_ok(&masters);
        RedisCluster { masters }
    }

    /// `redis://127.0.0.1:port` of every master.
    pub fn urls(&self) -> Vec<String> {
        self.masters.iter().map(RedisServer::url).collect()
    }

    /// A cache on this cluster with the fault tests' short op timeout.
    pub fn cache(&self) -> Cache {
        Cache::builder()
            .cluster(self.urls())
            .op_timeout(Duration::from_millis(100))
            .build()
            .expect("valid node urls")
    }

    /// How many keys each master holds.
    pub fn keys_per_master(&self) -> Vec<u64> {
        self.masters
            .iter()
            .map(|master| {
                redis::cmd("DBSIZE")
                    .query(&mut master.client())
                    .expect("DBSIZE")
            })
            .collect()
    }

    /// Every key on every master, sorted.
    pub fn all_keys(&self) -> Vec<String> {
        all_keys(&self.masters)
    }
}

/// Every key on every one of `masters`, sorted.
pub fn all_keys(masters: &[RedisServer]) -> Vec<String> {
    let mut keys: Vec<String> = masters
        .iter()
        .flat_map(|master| {
            redis::cmd("KEYS")
                .arg("*")
                .query::<Vec<String>>(&mut master.client())
                .expect("KEYS")
        })
        .collect();
    keys.sort();
    keys
}

/// The arguments of a cluster node keeping its files (`nodes.conf`) in `dir`.
fn cluster_node_args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "1000",
        "--dir",
        dir,
    ];
    args.extend_from_slice(extra);
    args
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Waits (up to 15 s) until every master of a new cluster says `cluster_state:ok`.
pub fn wait_until_cluster_ok(masters: &[RedisServer]) {
    let is_ok = || {
        masters.iter().all(|master| {
            redis::cmd("CLUSTER")
                .arg("INFO")
                .query::<String>(&mut master.client())
                .is_ok_and(|info| info.contains("cluster_state:ok"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !is_ok() {
        assert!(Instant::now() < deadline, "cluster_state never became ok");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counts how many times a function body ran.
#[derive(Debug, Default)]
pub struct Calls(AtomicUsize);

impl Calls {
    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}
