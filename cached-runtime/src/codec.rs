//! The stored form of a cached value: a small version header, then the value as JSON.
//!
//! ```text
//! rc1\n{"id":42,"name":"Ada"}
//! ```
//!
//! The header lets a later version change the layout (for example to carry the time an entry
//! goes stale) and still recognise, and overwrite, entries written by this one. Anything that
//! does not start with the header, or does not decode as the expected type, is a miss.

use serde::Serialize;
use serde::de::DeserializeOwned;

const HEADER: &[u8] = b"rc1\n";

pub(crate) fn encode<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(128);
    bytes.extend_from_slice(HEADER);
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

#[derive(Debug)]
pub enum DecodeError {
    /// Not written by this version of redcache (or not by redcache at all).
    UnknownHeader,
    /// The header is ours, the JSON does not fit the type (the type changed since it was stored).
    Json(serde_json::Error),
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let json = bytes
        .strip_prefix(HEADER)
        .ok_or(DecodeError::UnknownHeader)?;
    serde_json::from_slice(json).map_err(DecodeError::Json)
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
    fn round_trip() {
        let bytes = encode(&vec![1u32, 2, 3]).unwrap();
        assert_eq!(bytes, b"rc1\n[1,2,3]");
        assert_eq!(decode::<Vec<u32>>(&bytes).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn foreign_and_mismatched_data_are_errors() {
        assert!(matches!(
            decode::<u32>(b"[1,2]"),
            Err(DecodeError::UnknownHeader)
        ));
        assert!(matches!(
            decode::<u32>(b"rc1\n\"text\""),
            Err(DecodeError::Json(_))
        ));
    }
}
