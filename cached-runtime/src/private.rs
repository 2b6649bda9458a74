//! What the macros' expansions call. Not a public API: reached only through
//! `::redcache::__private`, so user code that shadows `Result`, `redis` or `serde` cannot
//! interfere.

pub use crate::cache::{Cache, global};
pub use crate::flow::{
    CacheValue, Codec, Copies, NotClone, OkOnly, Policy, Probe, Shape, SomeOnly, Targets, ViaClone,
    Whole, always, get_or_compute, invalidate_after, is_ok, json_codec,
};
pub use crate::key::{KeyPart, KeyWriter};
pub use std::time::Duration;

/// Names the value type in the type checker at the template's span, so a type that is not a
/// key part is reported on the template, not inside generated code.
#[inline(always)]
pub fn key_part<T: KeyPart + ?Sized>(value: &T) -> &T {
    value
}
