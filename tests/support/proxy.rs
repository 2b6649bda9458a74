//! A loopback TCP proxy in front of a test Redis, with network faults a test can switch at any
//! time: forward normally, black-hole every connection, or cut every connection.
//!
//! Plain threads, two per connection (one per direction), so it needs no runtime and works the
//! same under any test. Connections are few (a cache keeps one or two), so threads are cheap.
//!
//! # Behavior
//!
//! * [`Proxy::pass`]: bytes flow both ways; a closed side closes the other.
//! * [`Proxy::blackhole`]: every open connection stays open but goes silent for good, both
//!   ways: what is sent is swallowed, nothing comes back, no FIN, no RST. This is a vanished
//!   host or a dropped NAT flow, which is why a black-holed connection stays silent after
//!   `pass()`: only a new connection reaches Redis again. While black-holing, new connections
//!   are accepted and silenced as well.
//! * [`Proxy::reset_all`]: every open connection is shut down at once, both ways, whatever
//!   requests are in flight. (std cannot send an RST; the client sees its connection end
//!   mid-request, which it must treat the same way.)
//! * Dropping the proxy closes its port and every connection, and joins every thread.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    blackholed: AtomicBool,
    stopping: AtomicBool,
    links: Mutex<Vec<Arc<Link>>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

/// One client connection and, unless it was accepted while black-holing, its connection to
/// Redis.
struct Link {
    client: TcpStream,
    upstream: Option<TcpStream>,
    silenced: AtomicBool,
    closed: AtomicBool,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let address = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            blackholed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            links: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(&listener, &shared))
        };
        Proxy {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `redis://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }

    /// New connections are forwarded again (black-holed ones stay silent: see the module docs).
    pub fn pass(&self) {
        self.shared.blackholed.store(false, Ordering::SeqCst);
    }

    /// Silences every open connection for good, and every new one until `pass()`.
    pub fn blackhole(&self) {
        // Set first: a connection registered after this sees the flag and silences itself.
        self.shared.blackholed.store(true, Ordering::SeqCst);
        for link in self.shared.links().iter() {
            link.silence();
        }
    }

    /// Shuts down every open connection at once.
    pub fn reset_all(&self) {
        for link in self.shared.links().drain(..) {
            link.close();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which sees `stopping` and returns.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.reset_all();
        let pumps = std::mem::take(&mut *self.shared.pumps());
        for pump in pumps {
            let _ = pump.join();
        }
    }
}

impl Shared {
    fn links(&self) -> MutexGuard<'_, Vec<Arc<Link>>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pumps(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.pumps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `link` for `blackhole`/`reset_all` and starts its pumps.
    fn register(&self, link: Arc<Link>) {
        {
            let mut links = self.links();
            links.retain(|link| !link.closed.load(Ordering::SeqCst));
            links.push(link.clone());
        }
        // Checked after registering, so that a `blackhole()` racing with this accept either
        // finds the link in the list or is seen here.
        if self.blackholed.load(Ordering::SeqCst) {
            link.silence();
        }
        let mut pumps = self.pumps();
        pumps.retain(|pump| !pump.is_finished());
        pumps.push(spawn_pump(&link, Direction::ToRedis));
        if link.upstream.is_some() {
            pumps.push(spawn_pump(&link, Direction::ToClient));
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Shared) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let _ = client.set_nodelay(true);
        // A vanished host never answers, so a black-holed connection does not reach Redis.
        let upstream = if shared.blackholed.load(Ordering::SeqCst) {
            None
        } else {
            match TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(1)) {
                Ok(upstream) => Some(upstream),
                // Redis is down: the client sees its connection end, as with Redis itself.
                Err(_) => continue,
            }
        };
        if let Some(upstream) = &upstream {
            let _ = upstream.set_nodelay(true);
        }
        shared.register(Arc::new(Link {
            client,
            upstream,
            silenced: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }));
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    ToRedis,
    ToClient,
}

fn spawn_pump(link: &Arc<Link>, direction: Direction) -> JoinHandle<()> {
    let link = link.clone();
    std::thread::spawn(move || link.pump(direction))
}

impl Link {
    /// Copies bytes one way until either side closes. Bytes read while silenced are
    /// swallowed, so the sender sees no backpressure and no answer, as with a lost host.
    fn pump(&self, direction: Direction) {
        let (mut from, mut to) = match (direction, &self.upstream) {
            (Direction::ToRedis, upstream) => (&self.client, upstream.as_ref()),
            (Direction::ToClient, Some(upstream)) => (upstream, Some(&self.client)),
            (Direction::ToClient, None) => return,
        };
        let mut buffer = [0; 16 * 1024];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if self.silenced.load(Ordering::SeqCst) {
                continue;
            }
            let Some(to) = to.as_mut() else { continue };
            // Silenced meanwhile: Redis's side is shut, and the write fails; keep swallowing.
            if to.write_all(&buffer[..n]).is_err() && !self.silenced.load(Ordering::SeqCst) {
                break;
            }
        }
        // A silenced client must not learn that Redis went away; anything else ends the link.
        if direction == Direction::ToRedis || !self.silenced.load(Ordering::SeqCst) {
            self.close();
        }
    }

    fn silence(&self) {
        self.silenced.store(true, Ordering::SeqCst);
        // Nothing will be forwarded any more: let Redis drop its side.
        if let Some(upstream) = &self.upstream {
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        if let Some(upstream) = &self.upstream {
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}
