//! What a cached call and an invalidating call do, step by step. The macros expand into calls
//! to these two functions.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Cache, Read};
use crate::codec;
use crate::stats::Counters;

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
pub struct Codec<T> {
    encode: fn(&T) -> serde_json::Result<Vec<u8>>,
    decode: fn(&[u8]) -> Result<T, codec::DecodeError>,
}

/// The JSON codec for `T`.
#[inline]
pub fn json_codec<T: CacheValue>() -> Codec<T> {
    Codec {
        encode: codec::encode::<T>,
        decode: codec::decode::<T>,
    }
}

impl<T> std::fmt::Debug for Codec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codec")
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

/// Cache-aside: answer from `key` if it holds a decodable value, else run `body` and store
/// what [`Shape::cacheable`] picks out of its output for `ttl`.
pub async fn get_or_compute<S, R>(
    cache: &Cache,
    key: String,
    ttl: Duration,
    codec: Codec<S::Value>,
    body: impl Future<Output = R>,
) -> R
where
    S: Shape<R>,
{
    let counters = cache.counters();
    let writable = match cache.read(&key).await {
        Read::Found(bytes) => match (codec.decode)(&bytes) {
            Ok(value) => {
                Counters::bump(&counters.hits);
                return S::from_cached(value);
            }
            Err(error) => {
                cache.log_decode_failure(&key, &error);
                true
            }
        },
        Read::Absent => true,
        // Do not queue a write behind a read that just failed: the caller would wait twice.
        Read::Unavailable => false,
    };
    Counters::bump(&counters.misses);
    let output = body.await;
    if writable {
        if let Some(value) = S::cacheable(&output) {
            match (codec.encode)(value) {
                Ok(bytes) => cache.write(&key, bytes, ttl).await,
                Err(error) => cache.log_encode_failure(&key, &error),
            }
        }
    }
    output
}

/// Runs `body`; if `succeeded` says its output is a success, deletes `keys` and every key
/// matching `patterns` (already prefixed and encoded by the macro, before the body consumed the
/// arguments).
pub async fn invalidate_after<R>(
    cache: &Cache,
    keys: Vec<String>,
    patterns: Vec<String>,
    succeeded: fn(&R) -> bool,
    body: impl Future<Output = R>,
) -> R {
    let output = body.await;
    if succeeded(&output) {
        cache.delete(&keys, &patterns).await;
    }
    output
}

/// Success for a function returning `Result`: invalidate only after `Ok`.
pub fn is_ok<T, E>(output: &Result<T, E>) -> bool {
    output.is_ok()
}

/// Success for any other return type: always invalidate.
pub fn always<R>(_: &R) -> bool {
    true
}
