//! What the macros' expansions call, and nothing else. Not a public API: reached only through
//! `::redcache::__private`, with fully qualified paths, so user code that shadows `Result`,
//! `redis` or `serde` cannot interfere. Public types carry no hidden methods for generated
//! code: everything an expansion needs is a free function or a type here.

pub use crate::cache::Cache;
pub use crate::call::{CallOptions, get_or_compute};
pub use crate::global::global;
pub use crate::invalidate::{Targets, always, invalidate_after, is_ok};
pub use crate::key::KeyWriter;
pub use crate::value::{
    CacheValue, Copies, NotClone, OkOnly, OkSomeOnly, Probe, Shape, SomeOnly, ValueCodec, ViaClone,
    Whole, json_codec,
};
pub use std::time::Duration;

use crate::key::KeyPart;

/// Names the value type in the type checker at the template's span, so a type that is not a
/// key part is reported on the template, not inside generated code.
#[inline(always)]
pub fn key_part<T: KeyPart + ?Sized>(value: &T) -> &T {
    value
}

/// Starts an entry's key: the cache's prefix, then room for `capacity` more bytes.
#[inline]
pub fn key_writer(cache: &Cache, capacity: usize) -> KeyWriter {
    KeyWriter::with_prefix(cache.prefix(), capacity)
}

/// Starts a `SCAN MATCH` pattern: the prefix with its glob characters escaped.
#[inline]
pub fn pattern_writer(cache: &Cache, capacity: usize) -> KeyWriter {
    KeyWriter::with_prefix(cache.pattern_prefix(), capacity)
}

/// Starts a tag's key (in the cache's tag namespace, apart from entries).
#[inline]
pub fn tag_writer(cache: &Cache, capacity: usize) -> KeyWriter {
    cache.tag_writer(capacity)
}

/// Writes template text verbatim (it comes from the macro, already validated).
#[inline]
pub fn push_literal(key: &mut KeyWriter, text: &str) {
    key.push_literal(text);
}

/// Writes one placeholder's value, encoded.
#[inline]
pub fn push_part<T: KeyPart + ?Sized>(key: &mut KeyWriter, value: &T) {
    value.write_key_part(key);
}

/// Writes a stable hash of the value instead of the value (`<name:hash>`).
#[inline]
pub fn push_hashed<T: KeyPart + ?Sized>(key: &mut KeyWriter, value: &T) {
    key.push_hashed(value);
}

/// The finished key.
#[inline]
pub fn finish_key(key: KeyWriter) -> String {
    key.finish()
}
