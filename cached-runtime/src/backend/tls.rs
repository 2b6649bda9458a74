//! TLS for the Redis backend: which URLs are TLS, and the certificates a builder was given,
//! checked when the cache is built (a malformed PEM is a build error, not a connection that
//! fails forever after) and handed to redis-rs in its form.
//!
//! redis-rs (feature `tokio-rustls-comp`) does the handshake with rustls and verifies the
//! server against the system's trusted roots (rustls-native-certs), or only against the CA
//! given with `tls_root_cert`. Messages here never quote the PEM: a key must not leak into an
//! error.

use redis::{ConnectionAddr, ConnectionInfo};

use crate::error::Error;

/// The certificates given to the builder (PEM bytes).
#[derive(Clone, Default)]
pub(crate) struct Certificates {
    /// CA certificate(s) to trust instead of the system's roots.
    pub(crate) root_cert: Option<Vec<u8>>,
    /// The client's certificate chain and private key, for mutual TLS.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither is printed: a root certificate is public but says which CA is trusted, and
        // the client key is a secret.
        f.debug_struct("Certificates")
            .field("root_cert", &self.root_cert.as_ref().map(|_| "<set>"))
            .field("client", &self.client.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a builder hands redis-rs for the nodes of one cache: nothing (plain TCP, or TLS with
/// the system's roots and no client certificate), or the checked certificates.
#[cfg(feature = "tls")]
pub(crate) type Checked = Option<redis::TlsCertificates>;
/// Without the `tls` feature there are never certificates to hand over.
#[cfg(not(feature = "tls"))]
pub(crate) type Checked = Option<std::convert::Infallible>;

/// Checks the nodes' URLs against the certificates and returns what redis-rs needs for them:
/// every node must agree on TLS (redis-rs refuses a mix for a cluster); `#insecure` (no
/// verification at all) is refused; certificates without a `rediss://` URL are refused rather
/// than silently unused (or, for a cluster, silently turning TLS on).
pub(crate) fn prepare(nodes: &[ConnectionInfo], certs: &Certificates) -> Result<Checked, Error> {
    let tls = nodes
        .iter()
        .any(|node| matches!(node.addr(), ConnectionAddr::TcpTls { .. }));
    if nodes
        .iter()
        .any(|node| matches!(node.addr(), ConnectionAddr::TcpTls { insecure: true, .. }))
    {
        return Err(Error::InvalidUrl {
            reason: "`#insecure` (TLS without verifying the server) is not supported; to trust \
                     a private CA, give its certificate to `tls_root_cert`"
                .into(),
        });
    }
    let given = match (&certs.root_cert, &certs.client) {
        (Some(_), _) => Some("tls_root_cert"),
        (None, Some(_)) => Some("tls_client_cert"),
        (None, None) => None,
    };
    match (tls, given) {
        (_, Some(option)) if cfg!(not(feature = "tls")) => Err(Error::InvalidTls {
            option,
            reason: "TLS needs redcache's `tls` feature, which this build turned off".into(),
        }),
        (false, None) => Ok(None),
        (false, Some(option)) => Err(Error::InvalidTls {
            option,
            reason: "TLS certificates need a `rediss://` URL".into(),
        }),
        (true, _) => enabled::prepare(certs),
    }
}

/// Refuses a `rediss://` URL clearly when this build has no TLS (redis-rs would say only that
/// "the feature is not enabled", naming none of ours).
pub(crate) fn check_scheme(url: &str) -> Result<(), Error> {
    let is_tls = url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss:/"));
    if is_tls && cfg!(not(feature = "tls")) {
        return Err(Error::InvalidUrl {
            reason: "`rediss://` (TLS) needs redcache's `tls` feature, which this build turned \
                     off"
            .into(),
        });
    }
    Ok(())
}

#[cfg(not(feature = "tls"))]
mod enabled {
    use super::{Certificates, Checked};
    use crate::error::Error;

    pub(super) fn prepare(_: &Certificates) -> Result<Checked, Error> {
        // redis-rs cannot parse a `rediss://` URL without TLS support, so none gets here.
        Err(Error::InvalidUrl {
            reason: "`rediss://` (TLS) needs redcache's `tls` feature, which this build turned \
                     off"
            .into(),
        })
    }
}

#[cfg(feature = "tls")]
mod enabled {
    use std::sync::Arc;

    use redis::{ClientTlsConfig, TlsCertificates};
    use rustls::RootCertStore;
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use super::{Certificates, Checked};
    use crate::error::Error;

    pub(super) fn prepare(certs: &Certificates) -> Result<Checked, Error> {
        ensure_crypto_provider();
        let roots = certs.root_cert.as_deref().map(root_store).transpose()?;
        if let Some((cert, key)) = &certs.client {
            check_client(
                cert,
                key,
                roots.clone().unwrap_or_else(RootCertStore::empty),
            )?;
        }
        if certs.root_cert.is_none() && certs.client.is_none() {
            return Ok(None);
        }
        Ok(Some(TlsCertificates {
            client_tls: certs.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: certs.root_cert.clone(),
        }))
    }

    /// rustls panics on a handshake when the process has no crypto provider and its crate
    /// features name two (an application that also enables rustls's `aws_lc_rs`): install
    /// `ring`, the one this crate brings, unless one is installed already.
    fn ensure_crypto_provider() {
        if CryptoProvider::get_default().is_none() {
            // Losing a race to another thread installing one is fine: there is one now.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    }

    fn invalid(option: &'static str, reason: &str) -> Error {
        Error::InvalidTls {
            option,
            reason: reason.to_owned(),
        }
    }

    /// The CA certificates in `pem`, as redis-rs will read them: every `CERTIFICATE` block.
    fn certificates(
        option: &'static str,
        pem: &[u8],
    ) -> Result<Vec<CertificateDer<'static>>, Error> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid(option, "the certificate PEM is malformed"))?;
        if certs.is_empty() {
            return Err(invalid(
                option,
                "no `-----BEGIN CERTIFICATE-----` block found in the PEM",
            ));
        }
        Ok(certs)
    }

    fn root_store(pem: &[u8]) -> Result<RootCertStore, Error> {
        let mut store = RootCertStore::empty();
        for cert in certificates("tls_root_cert", pem)? {
            store.add(cert).map_err(|_| {
                invalid(
                    "tls_root_cert",
                    "a certificate in the PEM is not a valid X.509 CA certificate",
                )
            })?;
        }
        Ok(store)
    }

    /// The client's chain and key parse, the key is of a kind rustls signs with (PKCS#8,
    /// PKCS#1 RSA or SEC1 EC) and belongs to the certificate: what rustls checks again on each
    /// connection, checked once here so that a mistake is a build error.
    fn check_client(cert: &[u8], key: &[u8], roots: RootCertStore) -> Result<(), Error> {
        let chain = certificates("tls_client_cert", cert)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| {
            invalid(
                "tls_client_cert",
                "no private key (PKCS#8, PKCS#1 RSA or SEC1 EC PEM block) found in the key PEM",
            )
        })?;
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|_| invalid("tls_client_cert", "no TLS protocol version available"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|_| {
            invalid(
                "tls_client_cert",
                "the private key is not usable or does not belong to the certificate",
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rediss_is_refused_by_name_only_without_the_feature() {
        for url in ["rediss://127.0.0.1:6380", "REDISS://h:1/0"] {
            let checked = check_scheme(url);
            if cfg!(feature = "tls") {
                assert!(checked.is_ok(), "{url}");
            } else {
                let error = checked.expect_err(url).to_string();
                assert!(error.contains("`tls` feature"), "{error}");
            }
        }
        assert!(check_scheme("redis://127.0.0.1:6379").is_ok());
        assert!(check_scheme("rediss").is_ok(), "too short to be a TLS URL");
    }

    #[test]
    fn certificates_debug_prints_no_pem() {
        let certs = Certificates {
            root_cert: Some(b"ROOT PEM".to_vec()),
            client: Some((b"CERT PEM".to_vec(), b"KEY PEM".to_vec())),
        };
        let debug = format!("{certs:?}");
        assert!(!debug.contains("PEM"), "{debug}");
    }
}
