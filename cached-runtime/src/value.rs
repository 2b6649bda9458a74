//! How a function's output becomes a stored value and back: which part of the output is
//! cached ([`Shape`]), the JSON codec ([`ValueCodec`]), and values kept as themselves in process
//! ([`Copies`]). Made where the macro names the types, so type errors land on the user's code.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Bytes, Kept};
use crate::codec;

/// A value that can be cached: `Serialize + DeserializeOwned`.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` must implement `Serialize` and `DeserializeOwned`",
    label = "cached values are stored as JSON",
    note = "derive them with `#[derive(serde::Serialize, serde::Deserialize)]`; for `Result<T, E>` only `T` is cached, for `Option<T>` only `T`"
)]
pub trait CacheValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// How a cached value becomes bytes and back. Made where the macro names the cached type, so
/// a type that is not `Serialize + DeserializeOwned` is reported on the user's return type
/// and nowhere else.
pub struct ValueCodec<T> {
    encode: fn(&T, &codec::Header<'_>) -> serde_json::Result<Vec<u8>>,
    decode: fn(&[u8]) -> Result<T, codec::DecodeError>,
    copies: Option<Copies<T>>,
}

/// The JSON codec for `T`.
#[inline]
pub fn json_codec<T: CacheValue>() -> ValueCodec<T> {
    ValueCodec {
        encode: codec::encode::<T>,
        decode: codec::decode_json::<T>,
        copies: None,
    }
}

impl<T> ValueCodec<T> {
    /// Lets the memory store keep values as themselves (see [`Copies`]).
    #[inline]
    pub fn with_copies(mut self, copies: Option<Copies<T>>) -> Self {
        self.copies = copies;
        self
    }

    /// Encodes a value behind its header.
    pub(crate) fn encode(
        &self,
        value: &T,
        header: &codec::Header<'_>,
    ) -> serde_json::Result<Vec<u8>> {
        (self.encode)(value, header)
    }

    /// Decodes an entry's JSON.
    pub(crate) fn decode(&self, json: &[u8]) -> Result<T, codec::DecodeError> {
        (self.decode)(json)
    }

    /// The value of an entry: the one the memory store kept as itself, cloned, or else
    /// decoded from its JSON.
    #[inline]
    pub(crate) fn value_of(&self, bytes: &Bytes, json: &[u8]) -> Result<T, codec::DecodeError> {
        match bytes
            .kept()
            .and_then(|kept| (self.copies.as_ref()?.take)(kept))
        {
            Some(value) => Ok(value),
            None => self.decode(json),
        }
    }

    /// The value of an in-process copy: `kept` (the value itself) cloned, or else decoded
    /// from its JSON.
    #[inline]
    pub(crate) fn value_from(
        &self,
        kept: Option<&(dyn Any + Send + Sync)>,
        json: &[u8],
    ) -> Result<T, codec::DecodeError> {
        match self.clone_kept(kept) {
            Some(value) => Ok(value),
            None => self.decode(json),
        }
    }

    /// A clone of `kept`, if it is a `T`.
    #[inline]
    pub(crate) fn clone_kept(&self, kept: Option<&(dyn Any + Send + Sync)>) -> Option<T> {
        (self.copies.as_ref()?.take)(kept?)
    }

    /// The value to keep as itself next to its bytes, for a tier that can.
    pub(crate) fn keep(&self, value: &T) -> Option<Kept> {
        Some((self.copies.as_ref()?.keep)(value))
    }
}

/// For `Clone` value types: the memory store keeps the value itself next to its JSON and a
/// hit returns a clone, which is several times cheaper than decoding. The macro picks this
/// with [`Probe`] when the type is `Clone`; any other type is decoded from JSON as on Redis.
pub struct Copies<T> {
    keep: fn(&T) -> Kept,
    take: fn(&(dyn Any + Send + Sync)) -> Option<T>,
}

impl<T> std::fmt::Debug for Copies<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Copies")
    }
}

/// Chooses [`Copies`] for `Clone` types at compile time: in `(&Probe::<T>::new()).copies()`,
/// method lookup first tries receivers of type `&Probe<T>`, which [`ViaClone`] (implemented for
/// `Probe<T>` when `T: Clone + Send + Sync + 'static`) provides; only if that does not apply
/// does it auto-ref to `&&Probe<T>` and find [`NotClone`] (implemented for `&Probe<T>`).
#[derive(Debug)]
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    #[inline]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The [`Probe`] method for `Clone` types.
pub trait ViaClone<T> {
    /// In-process copies of `T`.
    fn copies(&self) -> Option<Copies<T>>;
}

impl<T: Clone + Send + Sync + 'static> ViaClone<T> for Probe<T> {
    #[inline]
    fn copies(&self) -> Option<Copies<T>> {
        Some(Copies {
            keep: |value| Arc::new(value.clone()),
            take: |copy| copy.downcast_ref::<T>().cloned(),
        })
    }
}

/// The [`Probe`] method for every other type.
pub trait NotClone<T> {
    /// No in-process copies: decode JSON.
    fn copies(&self) -> Option<Copies<T>>;
}

impl<T> NotClone<T> for &Probe<T> {
    #[inline]
    fn copies(&self) -> Option<Copies<T>> {
        None
    }
}

impl<T> std::fmt::Debug for ValueCodec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueCodec")
    }
}

/// Which part of a function's output is cached, chosen by the macro from the return type.
pub trait Shape<R> {
    /// The part that is stored.
    type Value;
    /// The part of `output` to store, if this output is to be stored.
    fn cacheable(output: &R) -> Option<&Self::Value>;
    /// Rebuilds an output from a stored value.
    fn from_cached(value: Self::Value) -> R;
    /// Whether `output` is a failure, which `fail_safe` may answer with the stale value.
    fn failed(output: &R) -> bool {
        Self::cacheable(output).is_none()
    }
    /// Whether `output` is an `Err`: the call changed nothing, so `#[cache_put]` writes
    /// nothing (where a `None` deletes the entry).
    fn is_err(output: &R) -> bool {
        let _ = output;
        false
    }
}

/// Any type, cached as is (also `Option<T>` with `cache_none = true`).
#[derive(Debug)]
pub enum Whole {}

impl<T> Shape<T> for Whole {
    type Value = T;
    fn cacheable(output: &T) -> Option<&T> {
        Some(output)
    }
    fn from_cached(value: T) -> T {
        value
    }
}

/// `Result<T, E>`: only `Ok(T)` is cached.
#[derive(Debug)]
pub enum OkOnly {}

impl<T, E> Shape<Result<T, E>> for OkOnly {
    type Value = T;
    fn cacheable(output: &Result<T, E>) -> Option<&T> {
        output.as_ref().ok()
    }
    fn from_cached(value: T) -> Result<T, E> {
        Ok(value)
    }
    fn is_err(output: &Result<T, E>) -> bool {
        output.is_err()
    }
}

/// `Result<Option<T>, E>`: only `Ok(Some(T))` is cached, so a "not found" is not remembered
/// for the whole TTL (unless `cache_none = true`, which caches the `Ok` value whole).
#[derive(Debug)]
pub enum OkSomeOnly {}

impl<T, E> Shape<Result<Option<T>, E>> for OkSomeOnly {
    type Value = T;
    fn cacheable(output: &Result<Option<T>, E>) -> Option<&T> {
        output.as_ref().ok()?.as_ref()
    }
    fn from_cached(value: T) -> Result<Option<T>, E> {
        Ok(Some(value))
    }
    /// `Ok(None)` is an answer ("not found"), not a failure.
    fn failed(output: &Result<Option<T>, E>) -> bool {
        output.is_err()
    }
    fn is_err(output: &Result<Option<T>, E>) -> bool {
        output.is_err()
    }
}

/// `Option<T>`: only `Some(T)` is cached.
#[derive(Debug)]
pub enum SomeOnly {}

impl<T> Shape<Option<T>> for SomeOnly {
    type Value = T;
    fn cacheable(output: &Option<T>) -> Option<&T> {
        output.as_ref()
    }
    fn from_cached(value: T) -> Option<T> {
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoClone;

    #[test]
    #[allow(
        clippy::needless_borrow,
        reason = "the borrow selects the impl: see `Probe`"
    )]
    fn probe_picks_copies_for_clone_types_only() {
        assert!((&Probe::<u64>::new()).copies().is_some());
        assert!((&Probe::<String>::new()).copies().is_some());
        assert!((&Probe::<NoClone>::new()).copies().is_none());
    }
}
