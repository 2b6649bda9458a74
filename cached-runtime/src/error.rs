//! The error type of building a cache and of [`Cache::ping`](crate::Cache::ping). (Cache
//! operations never return errors to callers: they fail open.)

use std::fmt;

/// Why a cache could not be built or installed, or why [`Cache::ping`](crate::Cache::ping)
/// got no answer.
///
/// Messages never contain a connection string, password or ACL user secret.
///
/// ```
/// use std::time::Duration;
/// use redcache::{Cache, Error};
///
/// match Cache::builder().op_timeout(Duration::from_secs(600)).build() {
///     Err(Error::InvalidOption { option, reason }) => {
///         assert_eq!(option, "op_timeout");
///         println!("{reason}");
///     }
///     other => panic!("expected an invalid option, got {other:?}"),
/// }
/// let error = Cache::redis("redis://user:hunter2@[bad").unwrap_err();
/// assert!(matches!(error, Error::InvalidUrl { .. }));
/// assert!(!error.to_string().contains("hunter2"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL is malformed or names an unsupported scheme.
    InvalidUrl {
        /// What is wrong with it (never the URL itself, which may hold a password).
        reason: String,
    },
    /// An option given to the builder is out of range.
    InvalidOption {
        /// Which option.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A TLS certificate or key given to the builder is malformed, or cannot be used (a key
    /// that does not belong to its certificate, certificates without a `rediss://` URL, or a
    /// build without the `tls` feature).
    InvalidTls {
        /// Which option: `tls_root_cert` or `tls_client_cert`.
        option: &'static str,
        /// What is wrong (never the PEM itself, which may hold a private key).
        reason: String,
    },
    /// [`set_global`](crate::set_global) was called after a global cache was installed (or
    /// after the macros already started using the default one).
    GlobalAlreadySet,
    /// [`Cache::ping`](crate::Cache::ping) got no answer from Redis: it did not answer within
    /// the op timeout, the connection failed, the circuit breaker is skipping it, or it
    /// refused the command.
    Unreachable {
        /// What happened (never the URL or a password).
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl { reason } => write!(f, "invalid Redis URL: {reason}"),
            Error::InvalidOption { option, reason } => write!(f, "invalid `{option}`: {reason}"),
            Error::InvalidTls { option, reason } => write!(f, "invalid TLS `{option}`: {reason}"),
            Error::GlobalAlreadySet => f.write_str(
                "a global cache is already installed; call `redcache::set_global` once, before the first cached call",
            ),
            Error::Unreachable { reason } => write!(f, "Redis unreachable: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
