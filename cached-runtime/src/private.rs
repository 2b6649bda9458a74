//! What the macros' expansions call, and nothing else. Not a public API: reached only through
//! `::redcache::__private`, with fully qualified paths, so user code that shadows `Result`,
//! `redis` or `serde` cannot interfere. Public types carry no hidden methods for generated
//! code: everything an expansion needs is a free function or a type here.

pub use crate::batch::{BatchShape, Element, Map, OkMap, WholeMap, elements, get_batch};
pub use crate::cache::Cache;
pub use crate::call::{CallOptions, get_or_compute};
pub use crate::entry::{EntryRef, Stores, entry_for};
pub use crate::global::global;
pub use crate::invalidate::{Targets, always, invalidate_after, is_ok};
pub use crate::key::KeyWriter;
pub use crate::stats::CallSite;
pub use crate::value::{
    CacheValue, Copies, NotClone, OkOnly, OkSomeOnly, Probe, Shape, SomeOnly, ValueCodec, ViaClone,
    Whole, json_codec,
};
pub use crate::write::put_after;
pub use std::time::Duration;

use crate::key::KeyPart;

/// Names the value type in the type checker at the template's span, so a type that is not a
/// key part is reported on the template, not inside generated code.
#[inline(always)]
pub fn key_part<T: KeyPart + ?Sized>(value: &T) -> &T {
    value
}

/// Starts an entry's key: the cache's prefix, then room for `capacity` more bytes.
#[inline(always)]
pub fn key_writer(cache: &Cache, capacity: usize) -> KeyWriter {
    KeyWriter::with_prefix(cache.prefix(), capacity)
}

/// Starts a key or pattern without a prefix (`key!`, `pattern!`: the programmatic API adds it).
#[inline]
pub fn bare_writer(capacity: usize) -> KeyWriter {
    KeyWriter::with_prefix("", capacity)
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

/// The finished key, owned.
#[inline]
pub fn finish_key(key: KeyWriter) -> String {
    key.finish()
}

/// The finished key, as built: what a cached call takes, so that a hit allocates nothing
/// for it.
#[inline]
pub fn built_key(key: KeyWriter) -> KeyWriter {
    key
}

/// A duration argument given as a path to a `const` (`ttl = USER_TTL`), converted to
/// milliseconds at compile time: [`AsMillis::millis`] is defined for `u64` (seconds) and
/// `Duration` only. For any other type, method lookup falls back to [`DurationFallback`],
/// whose bound reports the type at the path.
#[derive(Debug, Clone, Copy)]
pub struct AsMillis<T>(pub T);

impl AsMillis<u64> {
    /// Seconds to milliseconds (saturating: a huge value is then reported as too large).
    pub const fn millis(self) -> u64 {
        self.0.saturating_mul(1000)
    }
}

impl AsMillis<Duration> {
    /// Whole milliseconds (saturating).
    pub const fn millis(self) -> u64 {
        let millis = self.0.as_millis();
        if millis > u64::MAX as u128 {
            u64::MAX
        } else {
            millis as u64
        }
    }
}

/// The types a duration `const` may have.
#[diagnostic::on_unimplemented(
    message = "a duration `const` must be a `u64` (seconds) or a `std::time::Duration`, not `{Self}`",
    label = "of type `{Self}`",
    note = "write e.g. `const USER_TTL: u64 = 3600;` or `const USER_TTL: Duration = Duration::from_secs(3600);`"
)]
pub trait DurationConst {}

impl DurationConst for u64 {}
impl DurationConst for Duration {}

/// Found only when [`AsMillis`] has no `millis` for the type: its bound is the error.
pub trait DurationFallback<T> {
    /// Never called: the bound cannot hold for a type without an inherent `millis`.
    fn millis(self) -> u64
    where
        T: DurationConst;
}

impl<T> DurationFallback<T> for AsMillis<T> {
    fn millis(self) -> u64
    where
        T: DurationConst,
    {
        unreachable!("u64 and Duration have an inherent `millis`")
    }
}
