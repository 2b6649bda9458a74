//! The stored form of an entry: a one-line header, then the value as JSON.
//!
//! ```text
//! rc1\n{"id":42,"name":"Ada"}                      a value (plain TTL)
//! rc1 1795000000000 9f3a2c1d\n{"id":42,...}        a value fresh until that Unix time (ms),
//!                                                  servable while stale after it; the nonce
//!                                                  makes every write distinct
//! rc1 lease 5be0c4a19d2e7f31\n                     a reader is computing this entry
//! ```
//!
//! The version lets a later release change the layout and still recognise, and overwrite,
//! entries written by this one. Anything without the header, or whose JSON does not fit the
//! type, is a miss.

use serde::Serialize;
use serde::de::DeserializeOwned;

const VERSION: &[u8] = b"rc1";
const LEASE: &[u8] = b"rc1 lease ";

/// What the bytes at a key are.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    Value {
        /// Unix time in ms after which the value is stale; `None` when it has no stale phase.
        fresh_until_ms: Option<u64>,
        json: &'a [u8],
    },
    /// Another reader's lease: the entry is being computed.
    Lease,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Entry<'_>, DecodeError> {
    if bytes.starts_with(LEASE) {
        return Ok(Entry::Lease);
    }
    let newline = bytes
        .iter()
        .take(64)
        .position(|&b| b == b'\n')
        .ok_or(DecodeError::UnknownHeader)?;
    let (header, json) = (&bytes[..newline], &bytes[newline + 1..]);
    let mut fields = header.split(|&b| b == b' ');
    if fields.next() != Some(VERSION) {
        return Err(DecodeError::UnknownHeader);
    }
    let fresh_until_ms = match fields.next() {
        None => None,
        Some(digits) => Some(
            std::str::from_utf8(digits)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or(DecodeError::UnknownHeader)?,
        ),
    };
    Ok(Entry::Value {
        fresh_until_ms,
        json,
    })
}

pub(crate) fn encode<T: Serialize>(
    value: &T,
    fresh_until_ms: Option<u64>,
) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(128);
    bytes.extend_from_slice(VERSION);
    if let Some(fresh_until_ms) = fresh_until_ms {
        bytes.push(b' ');
        bytes.extend_from_slice(itoa::Buffer::new().format(fresh_until_ms).as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(format!("{:016x}", crate::random::u64()).as_bytes());
    }
    bytes.push(b'\n');
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

pub(crate) fn decode_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(json).map_err(DecodeError::Json)
}

/// A fresh lease value, unique to its holder.
pub(crate) fn new_lease() -> Vec<u8> {
    let mut bytes = LEASE.to_vec();
    bytes.extend_from_slice(format!("{:016x}\n", crate::random::u64()).as_bytes());
    bytes
}

#[derive(Debug)]
pub enum DecodeError {
    /// Not written by this version of redcache (or not by redcache at all).
    UnknownHeader,
    /// The header is ours, the JSON does not fit the type (the type changed since it was stored).
    Json(serde_json::Error),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownHeader => f.write_str("not a redcache entry (unknown header)"),
            DecodeError::Json(e) => write!(f, "stored JSON does not fit the type: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trip() {
        let bytes = encode(&vec![1u32, 2, 3], None).unwrap();
        assert_eq!(bytes, b"rc1\n[1,2,3]");
        let Entry::Value {
            fresh_until_ms,
            json,
        } = parse(&bytes).unwrap()
        else {
            panic!("a value")
        };
        assert_eq!(fresh_until_ms, None);
        assert_eq!(decode_json::<Vec<u32>>(json).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn stale_entries_carry_their_freshness_and_differ_per_write() {
        let first = encode(&"x", Some(1_795_000_000_123)).unwrap();
        let second = encode(&"x", Some(1_795_000_000_123)).unwrap();
        assert!(first.starts_with(b"rc1 1795000000123 "), "{first:?}");
        assert_ne!(first, second, "the nonce makes every write distinct");
        assert_eq!(
            parse(&first).unwrap(),
            Entry::Value {
                fresh_until_ms: Some(1_795_000_000_123),
                json: b"\"x\""
            }
        );
    }

    #[test]
    fn leases_are_recognised() {
        let lease = new_lease();
        assert_eq!(parse(&lease).unwrap(), Entry::Lease);
        assert_ne!(lease, new_lease());
    }

    #[test]
    fn foreign_and_mismatched_data_are_errors() {
        assert!(matches!(parse(b"[1,2]"), Err(DecodeError::UnknownHeader)));
        assert!(matches!(parse(b"rc9\n1"), Err(DecodeError::UnknownHeader)));
        assert!(matches!(
            parse(b"rc1 soon\n1"),
            Err(DecodeError::UnknownHeader)
        ));
        assert!(matches!(
            decode_json::<u32>(b"\"text\""),
            Err(DecodeError::Json(_))
        ));
    }
}
