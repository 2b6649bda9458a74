#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// Examples are held to the crate's standard; parameters an example does not read are fine.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

pub use cached_macros::{cache, cache_batch, cache_put, invalidate, key, pattern};
pub use cached_runtime::{
    Cache, CacheBuilder, Error, Health, KeyPart, KeyWriter, Stats, global, set_global,
};

/// What the macros expand to. Not a public API; may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use cached_runtime::private::*;
}
