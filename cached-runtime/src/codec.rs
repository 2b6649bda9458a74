//! The stored form of an entry: a one-line header, then the value as JSON.
//!
//! ```text
//! rc1\n{"id":42,"name":"Ada"}                      a value (plain TTL)
//! rc1 1795000000000 9f3a2c1d\n{"id":42,...}        a value fresh until that Unix time (ms),
//!                                                  servable while stale after it; the nonce
//!                                                  makes every write distinct
//! rc1 t9c1f0e2a77b3d410.03a9..\n{"id":42,...}       a value cached with tags, and the
//!                                                  version each tag had when it was read
//! rc1 lease 5be0c4a19d2e7f31\n                     a reader is computing this entry
//! ```
//!
//! The tag versions make a tag invalidation hold even when the tag's bookkeeping key is
//! evicted, expired or deleted by a pattern: a reader compares them with the tags' current
//! versions, and a missing or different version means the entry is invalid.
//!
//! The version lets a later release change the layout and still recognise, and overwrite,
//! entries written by this one. Anything without the header, or whose JSON does not fit the
//! type, is a miss.

use serde::Serialize;
use serde::de::DeserializeOwned;

const VERSION: &[u8] = b"rc1";
const LEASE: &[u8] = b"rc1 lease ";
/// The header of a value with no stale phase and no tags.
const PLAIN: &[u8] = b"rc1\n";
/// How far a header may run before its newline (room for a few dozen tag versions).
const MAX_HEADER: usize = 1024;

/// What goes in a value's header.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Header<'a> {
    /// Unix time in ms after which the value is stale; `None` when it has no stale phase.
    pub(crate) fresh_until_ms: Option<u64>,
    /// The version of each of the entry's tags, in the order of its tags.
    pub(crate) tag_versions: &'a [u64],
}

/// The tag versions of a stored value, as written (`9c1f0e2a77b3d410.03a9..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TagVersions<'a>(&'a [u8]);

impl TagVersions<'_> {
    /// Whether these are exactly the tags' `current` versions (none missing).
    #[inline]
    pub(crate) fn match_current(&self, current: &[Option<u64>]) -> bool {
        if self.0.is_empty() || current.is_empty() {
            return self.0.is_empty() && current.is_empty();
        }
        self.match_versions(current)
    }

    fn match_versions(&self, current: &[Option<u64>]) -> bool {
        let mut written = self.0.split(|&b| b == b'.');
        let all_equal = current.iter().all(|current| {
            let written = written
                .next()
                .and_then(|hex| u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
            written.is_some() && written == *current
        });
        all_equal && written.next().is_none()
    }
}

/// What the bytes at a key are.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    Value {
        /// Unix time in ms after which the value is stale; `None` when it has no stale phase.
        fresh_until_ms: Option<u64>,
        tag_versions: TagVersions<'a>,
        json: &'a [u8],
    },
    /// Another reader's lease: the entry is being computed.
    Lease,
}

#[inline]
pub(crate) fn parse(bytes: &[u8]) -> Result<Entry<'_>, DecodeError> {
    // The common case first, in one comparison: no stale phase, no tags. Inlined, so an
    // in-process hit pays no call for it.
    if let Some(json) = bytes.strip_prefix(PLAIN) {
        return Ok(Entry::Value {
            fresh_until_ms: None,
            tag_versions: TagVersions::default(),
            json,
        });
    }
    parse_header(bytes)
}

/// Whether `bytes` is a value with nothing in its header to check on a read: no stale phase,
/// no tags. An in-process copy of such an entry that keeps its value as itself is served
/// without reading its bytes.
pub(crate) fn is_plain(bytes: &[u8]) -> bool {
    matches!(
        parse(bytes),
        Ok(Entry::Value { fresh_until_ms: None, tag_versions, .. }) if tag_versions.match_current(&[])
    )
}

/// [`parse`] past its common case.
fn parse_header(bytes: &[u8]) -> Result<Entry<'_>, DecodeError> {
    if bytes.starts_with(LEASE) {
        return Ok(Entry::Lease);
    }
    let newline = bytes
        .iter()
        .take(MAX_HEADER)
        .position(|&b| b == b'\n')
        .ok_or(DecodeError::UnknownHeader)?;
    let (header, json) = (&bytes[..newline], &bytes[newline + 1..]);
    if header == VERSION {
        // The common case: no stale phase, no tags.
        return Ok(Entry::Value {
            fresh_until_ms: None,
            tag_versions: TagVersions::default(),
            json,
        });
    }
    let mut fields = header.split(|&b| b == b' ');
    if fields.next() != Some(VERSION) {
        return Err(DecodeError::UnknownHeader);
    }
    let mut fresh_until_ms = None;
    let mut tag_versions = TagVersions::default();
    let mut after_freshness = false;
    for field in fields {
        if let Some(versions) = field.strip_prefix(b"t") {
            tag_versions = TagVersions(versions);
        } else if after_freshness {
            // The nonce: only there to make every write distinct.
        } else {
            let digits = std::str::from_utf8(field).map_err(|_| DecodeError::UnknownHeader)?;
            fresh_until_ms = Some(digits.parse().map_err(|_| DecodeError::UnknownHeader)?);
            after_freshness = true;
        }
    }
    Ok(Entry::Value {
        fresh_until_ms,
        tag_versions,
        json,
    })
}

pub(crate) fn encode<T: Serialize>(value: &T, header: &Header<'_>) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(128);
    write_header(&mut bytes, header);
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

/// An entry encoded with the plain header (`rc1\n`), given `header` instead. For a write
/// that encodes the value before it knows its tags' versions.
pub(crate) fn with_header(plain: &[u8], header: &Header<'_>) -> Vec<u8> {
    let json = plain
        .strip_prefix(VERSION)
        .and_then(|rest| rest.strip_prefix(b"\n"))
        .expect("an entry encoded with the plain header");
    let mut bytes = Vec::with_capacity(json.len() + 64);
    write_header(&mut bytes, header);
    bytes.extend_from_slice(json);
    bytes
}

/// The header line, with its newline.
fn write_header(bytes: &mut Vec<u8>, header: &Header<'_>) {
    bytes.extend_from_slice(VERSION);
    if let Some(fresh_until_ms) = header.fresh_until_ms {
        bytes.push(b' ');
        bytes.extend_from_slice(itoa::Buffer::new().format(fresh_until_ms).as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(format!("{:016x}", crate::random::u64()).as_bytes());
    }
    for (i, version) in header.tag_versions.iter().enumerate() {
        bytes.extend_from_slice(if i == 0 { b" t" } else { b"." });
        bytes.extend_from_slice(format!("{version:x}").as_bytes());
    }
    bytes.push(b'\n');
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
        let bytes = encode(&vec![1u32, 2, 3], &Header::default()).unwrap();
        assert_eq!(bytes, b"rc1\n[1,2,3]");
        let Entry::Value {
            fresh_until_ms,
            json,
            ..
        } = parse(&bytes).unwrap()
        else {
            panic!("a value")
        };
        assert_eq!(fresh_until_ms, None);
        assert_eq!(decode_json::<Vec<u32>>(json).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn stale_entries_carry_their_freshness_and_differ_per_write() {
        let header = Header {
            fresh_until_ms: Some(1_795_000_000_123),
            tag_versions: &[],
        };
        let first = encode(&"x", &header).unwrap();
        let second = encode(&"x", &header).unwrap();
        assert!(first.starts_with(b"rc1 1795000000123 "), "{first:?}");
        assert_ne!(first, second, "the nonce makes every write distinct");
        assert_eq!(
            parse(&first).unwrap(),
            Entry::Value {
                fresh_until_ms: Some(1_795_000_000_123),
                tag_versions: TagVersions::default(),
                json: b"\"x\""
            }
        );
    }

    #[test]
    fn tag_versions_must_all_be_current() {
        let header = Header {
            fresh_until_ms: Some(1_795_000_000_123),
            tag_versions: &[0x9c1f, 7],
        };
        let bytes = encode(&1u8, &header).unwrap();
        let Entry::Value {
            fresh_until_ms,
            tag_versions,
            json,
        } = parse(&bytes).unwrap()
        else {
            panic!("a value")
        };
        assert_eq!((fresh_until_ms, json), (Some(1_795_000_000_123), &b"1"[..]));
        assert!(tag_versions.match_current(&[Some(0x9c1f), Some(7)]));
        assert!(
            !tag_versions.match_current(&[Some(0x9c1f), Some(8)]),
            "one changed"
        );
        assert!(
            !tag_versions.match_current(&[Some(0x9c1f), None]),
            "one is gone"
        );
        assert!(!tag_versions.match_current(&[Some(0x9c1f)]), "fewer tags");
        assert!(!tag_versions.match_current(&[]), "no tags");
        let untagged = encode(&1u8, &Header::default()).unwrap();
        let Ok(Entry::Value { tag_versions, .. }) = parse(&untagged) else {
            panic!("a value")
        };
        assert!(tag_versions.match_current(&[]));
        assert!(
            !tag_versions.match_current(&[Some(1)]),
            "written before it had tags"
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
