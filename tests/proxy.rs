//! The fault proxy of `support::proxy` does what it says: forwards in `pass`, goes silent for
//! good in `blackhole` (open and new connections, no FIN, no RST), cuts every connection in
//! `reset_all`, passes Redis going away on to the client, and closes everything when dropped.
//! Checked with raw connections sending inline `PING`s, so no client library hides anything.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use redis::Commands;
use support::RedisServer;
use support::proxy::Proxy;

/// Long enough for a loopback PONG on a loaded machine, short enough to keep the tests quick.
const SILENCE: Duration = Duration::from_millis(300);

#[derive(Debug, PartialEq)]
enum Reply {
    Pong,
    /// Nothing came back within `SILENCE`, and the connection is still open.
    Silent,
    /// The connection was closed or reset.
    Closed,
}

fn connect(proxy: &Proxy) -> TcpStream {
    let address = proxy.url().replace("redis://", "");
    let stream = TcpStream::connect(address).expect("the proxy accepts");
    stream.set_read_timeout(Some(SILENCE)).unwrap();
    stream
}

fn ping(stream: &mut TcpStream) -> Reply {
    if stream.write_all(b"PING\r\n").is_err() {
        return Reply::Closed;
    }
    let mut reply = [0; 7];
    match stream.read(&mut reply) {
        Ok(0) => Reply::Closed,
        Ok(n) => {
            assert_eq!(&reply[..n], b"+PONG\r\n");
            Reply::Pong
        }
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Reply::Silent
        }
        Err(_) => Reply::Closed,
    }
}

#[test]
fn pass_forwards_both_ways() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    assert_eq!(ping(&mut connect(&proxy)), Reply::Pong);

    let mut through_proxy = redis::Client::open(proxy.url())
        .and_then(|client| client.get_connection())
        .unwrap();
    through_proxy.set::<_, _, ()>("proxied", "yes").unwrap();
    let direct: String = server.client().get("proxied").unwrap();
    assert_eq!(direct, "yes");
}

#[test]
fn blackhole_silences_open_and_new_connections_for_good() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    let mut open = connect(&proxy);
    assert_eq!(ping(&mut open), Reply::Pong);

    proxy.blackhole();
    assert_eq!(ping(&mut open), Reply::Silent);
    let mut opened_during = connect(&proxy);
    assert_eq!(ping(&mut opened_during), Reply::Silent);

    proxy.pass();
    assert_eq!(
        ping(&mut open),
        Reply::Silent,
        "a dropped flow stays dropped"
    );
    assert_eq!(ping(&mut opened_during), Reply::Silent);
    assert_eq!(ping(&mut connect(&proxy)), Reply::Pong, "a new one passes");
}

#[test]
fn reset_all_closes_every_connection_black_holed_or_not() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    let mut silent = connect(&proxy);
    assert_eq!(ping(&mut silent), Reply::Pong);
    proxy.blackhole();
    proxy.pass();
    let mut passing = connect(&proxy);
    assert_eq!(ping(&mut passing), Reply::Pong);

    proxy.reset_all();
    assert_eq!(ping(&mut passing), Reply::Closed);
    assert_eq!(ping(&mut silent), Reply::Closed);
    assert_eq!(ping(&mut connect(&proxy)), Reply::Pong);
}

#[test]
fn redis_going_away_closes_the_client_side() {
    let mut server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    let mut open = connect(&proxy);
    assert_eq!(ping(&mut open), Reply::Pong);

    server.kill();
    assert_eq!(ping(&mut open), Reply::Closed);
    assert_eq!(
        ping(&mut connect(&proxy)),
        Reply::Closed,
        "accepted, then closed: nothing to forward to"
    );
}

#[test]
fn dropping_the_proxy_closes_its_port_and_connections() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port());
    let address = proxy.url().replace("redis://", "");
    let mut open = connect(&proxy);
    assert_eq!(ping(&mut open), Reply::Pong);

    drop(proxy); // joins every thread: returning at all shows they stopped
    assert_eq!(ping(&mut open), Reply::Closed);
    assert!(TcpStream::connect(address).is_err(), "the port is closed");
}
