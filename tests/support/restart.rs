//! Restarts that keep a server's `redis-server` arguments. `RedisServer::restart` starts a
//! plain server, which would lose options such as `--enable-debug-command` and, for a cluster
//! node, its membership of the cluster.

use super::{RedisCluster, RedisServer};

impl RedisServer {
    /// Kills the server (if running) and starts a fresh, empty one on the same port with
    /// `extra` arguments.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.kill();
        assert!(
            self.spawn(extra),
            "restart redis-server on port {}",
            self.port
        );
    }
}

impl RedisCluster {
    /// Kills master `index` (if running) and starts it again, empty, as the same node: its
    /// `nodes.conf` keeps its id and slots. `extra` are the arguments the cluster was started
    /// with. Returns once every master reports `cluster_state:ok` again.
    pub fn restart_master(&mut self, index: usize, extra: &[&str]) {
        let master = &mut self.masters[index];
        let dir = master.dir.clone().expect("a cluster node has a directory");
        let dir = dir.to_str().expect("utf-8 temp dir");
        master.restart_with(&super::cluster_node_args(dir, extra));
        super::wait_until_cluster_ok(&self.masters);
    }
}
