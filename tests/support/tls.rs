//! TLS test support: certificates made in the test (rcgen: a CA, a server certificate for
//! 127.0.0.1 and localhost, client certificates) and `redis-server`s serving TLS with them.
//!
//! A TLS server keeps its plain port too, bound to 127.0.0.1, as the tests' admin channel
//! (readiness `PING`, `ACL SETUSER`, reading what Redis holds); the caches under test only
//! ever get the `rediss://` URL of the TLS port.
//!
//! Included with `#[path]` by the tests that need it (as `logs.rs` is), so that the
//! benchmarks sharing `support` need no rcgen.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::support::{self, RedisServer, wait_until_cluster_ok};

/// A certificate authority of the test's own.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate this CA signs for `names` (IP addresses or DNS names) with `key`:
    /// (certificate PEM, PKCS#8 key PEM).
    fn issue(&self, names: &[&str], key: &KeyPair, purposes: &[ExtendedKeyUsagePurpose]) -> String {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "redcache test");
        params.extended_key_usages = purposes.to_vec();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params
            .signed_by(key, &self.cert, &self.key)
            .expect("sign a leaf certificate")
            .pem()
    }

    /// A server certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM). Good for
    /// client authentication too: cluster nodes present it to each other, and the cluster bus
    /// always requires a client certificate.
    pub fn server_cert(&self) -> (String, String) {
        let key = KeyPair::generate().expect("server key");
        let cert = self.issue(
            &["127.0.0.1", "localhost"],
            &key,
            &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        );
        (cert, key.serialize_pem())
    }

    /// A client certificate with an ECDSA P-256 key: (certificate PEM, PKCS#8 key PEM).
    pub fn client_cert(&self) -> (String, String) {
        let key = KeyPair::generate().expect("client key");
        let cert = self.issue(&["client"], &key, &[ExtendedKeyUsagePurpose::ClientAuth]);
        (cert, key.serialize_pem())
    }

    /// A client certificate whose key is given as `openssl` makes it from the PKCS#8 key
    /// (rcgen writes PKCS#8 only): `ec` gives SEC1 (`EC PRIVATE KEY`); `rsa` a new 2048-bit
    /// RSA key in PKCS#1 (`RSA PRIVATE KEY`). (certificate PEM, key PEM in that form)
    pub fn client_cert_openssl(&self, kind: &str) -> (String, String) {
        let (key, pem) = match kind {
            "ec" => {
                let key = KeyPair::generate().expect("client key");
                let sec1 = openssl(&["ec"], key.serialize_pem().as_bytes());
                (key, sec1)
            }
            "rsa" => {
                let pkcs1 = openssl(&["genrsa", "-traditional", "2048"], b"");
                let pkcs8 = openssl(&["pkcs8", "-topk8", "-nocrypt"], pkcs1.as_bytes());
                let key = KeyPair::from_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
                    .expect("load the RSA key");
                (key, pkcs1)
            }
            other => panic!("unknown key kind {other}"),
        };
        let cert = self.issue(&["client"], &key, &[ExtendedKeyUsagePurpose::ClientAuth]);
        (cert, pem)
    }
}

/// Runs `openssl` with `input` on stdin and returns its stdout.
fn openssl(args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to openssl");
    let output = child.wait_with_output().expect("openssl output");
    assert!(output.status.success(), "openssl {args:?} failed");
    String::from_utf8(output.stdout).expect("PEM is text")
}

/// A temporary directory of our own, removed on drop.
struct OwnDir(PathBuf);

impl OwnDir {
    fn new(kind: &str) -> OwnDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "redcache-{kind}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary dir");
        OwnDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp dir")
    }
}

impl Drop for OwnDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory of our own holding a server's certificate files.
struct CertDir(OwnDir);

impl CertDir {
    fn new(ca: &Ca) -> CertDir {
        let dir = OwnDir::new("tls");
        let (cert, key) = ca.server_cert();
        std::fs::write(dir.0.join("server.crt"), cert).expect("write server.crt");
        std::fs::write(dir.0.join("server.key"), key).expect("write server.key");
        std::fs::write(dir.0.join("ca.crt"), ca.pem()).expect("write ca.crt");
        CertDir(dir)
    }

    fn path(&self, file: &str) -> String {
        format!("{}/{file}", self.0.path())
    }

    /// The `redis-server` arguments serving TLS on `tls_port` with these files.
    fn args(&self, tls_port: u16, auth_clients: bool) -> Vec<String> {
        let auth = if auth_clients { "yes" } else { "no" };
        vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            self.path("server.crt"),
            "--tls-key-file".into(),
            self.path("server.key"),
            "--tls-ca-cert-file".into(),
            self.path("ca.crt"),
            "--tls-auth-clients".into(),
            auth.into(),
        ]
    }
}

/// A `redis-server` serving TLS (certificate signed by `ca`) on its own TLS port.
pub struct TlsRedis {
    /// The server, reached in plain text on its admin port (`server.client()`).
    pub server: RedisServer,
    tls_port: u16,
    _certs: CertDir,
}

impl TlsRedis {
    /// Starts a server whose certificate `ca` signed; with `auth_clients`, it requires a
    /// client certificate that `ca` signed (mutual TLS).
    pub fn start(ca: &Ca, auth_clients: bool) -> TlsRedis {
        let certs = CertDir::new(ca);
        let tls_port = RedisServer::unused_port();
        let args = certs.args(tls_port, auth_clients);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = RedisServer::start_with(&args);
        TlsRedis {
            server,
            tls_port,
            _certs: certs,
        }
    }

    /// `rediss://127.0.0.1:<tls port>`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }

    /// `rediss://<userinfo>@127.0.0.1:<tls port>`.
    pub fn url_with(&self, userinfo: &str) -> String {
        format!("rediss://{userinfo}@127.0.0.1:{}", self.tls_port)
    }
}

/// A Redis Cluster of three masters speaking TLS to clients and to each other
/// (`--tls-cluster yes`: the nodes announce their TLS ports).
pub struct TlsCluster {
    /// Dropped (killed) before their directories are removed.
    pub masters: Vec<RedisServer>,
    tls_ports: Vec<u16>,
    _dirs: Vec<OwnDir>,
    _certs: CertDir,
}

impl TlsCluster {
    pub fn start(ca: &Ca) -> TlsCluster {
        let certs = CertDir::new(ca);
        let mut tls_ports = Vec::new();
        let mut dirs = Vec::new();
        let masters: Vec<RedisServer> = (0..3)
            .map(|_| {
                let dir = OwnDir::new("tls-cluster");
                let tls_port = RedisServer::unused_port();
                tls_ports.push(tls_port);
                let mut args: Vec<String> = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "1000",
                    "--dir",
                    dir.path(),
                    "--tls-cluster",
                    "yes",
                ]
                .map(String::from)
                .into();
                args.extend(certs.args(tls_port, false));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let server = RedisServer::start_with(&args);
                dirs.push(dir);
                server
            })
            .collect();
        // Created over the TLS ports, so that the cluster's own records name them.
        let addresses: Vec<String> = tls_ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let status = Command::new("redis-cli")
            .args([
                "--tls",
                "--cacert",
                &certs.path("ca.crt"),
                "--cluster",
                "create",
            ])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --tls --cluster create failed");
        wait_until_cluster_ok(&masters);
        TlsCluster {
            masters,
            tls_ports,
            _dirs: dirs,
            _certs: certs,
        }
    }

    /// `rediss://127.0.0.1:<tls port>` of every master.
    pub fn urls(&self) -> Vec<String> {
        self.tls_ports
            .iter()
            .map(|port| format!("rediss://127.0.0.1:{port}"))
            .collect()
    }

    /// Every key on every master, sorted.
    pub fn all_keys(&self) -> Vec<String> {
        support::all_keys(&self.masters)
    }
}
