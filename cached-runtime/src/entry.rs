//! [`EntryRef`]: the entry one call of a `#[cache]` function reads, with everything needed to
//! write or delete it elsewhere: the function's own cache (its `cache = ..` evaluated with the
//! call's arguments), the key, the tags and the options. `#[cache]` emits, next to each
//! function, a hidden companion with the same parameters that builds it; `#[cache_put]` and
//! typed invalidation (`#[invalidate(get_user(id))]`) call the companion. So both act on the
//! cache that function uses, never on another one, and never install the global cache unless
//! that function uses it.

use std::marker::PhantomData;

use crate::cache::Cache;
use crate::call::CallOptions;
use crate::write::Destination;

/// The entry one call of a `#[cache]` function reads. `V` is the type it stores, so that a
/// `#[cache_put]` of another type does not compile.
pub struct EntryRef<V> {
    pub(crate) cache: Cache,
    pub(crate) to: Destination,
    value: PhantomData<fn() -> V>,
}

impl<V> EntryRef<V> {
    /// The entry at `key` (prefixed), with its tag keys and the function's options, in `cache`.
    pub fn new(cache: &Cache, key: String, tags: Vec<String>, options: CallOptions) -> Self {
        EntryRef {
            cache: cache.clone(),
            to: Destination { key, tags, options },
            value: PhantomData,
        }
    }

    /// The same entry, its stored type forgotten: for an invalidation, which deletes entries
    /// of any type.
    pub fn erased(self) -> EntryRef<()> {
        EntryRef {
            cache: self.cache,
            to: self.to,
            value: PhantomData,
        }
    }
}

impl<V> std::fmt::Debug for EntryRef<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryRef")
            .field("key", &self.to.key)
            .finish_non_exhaustive()
    }
}

/// What `#[cache_put]` checks: the entry it writes stores the type the function returns.
#[diagnostic::on_unimplemented(
    message = "`#[cache_put]` writes `{V}` here, but the `#[cache]` function it names stores another type (its entry is `{Self}`)",
    label = "this entry does not store `{V}`",
    note = "the value written must have the type the named function caches (for `Result<T, E>` and `Option<T>`, the `T`)"
)]
pub trait Stores<V> {
    /// The entry.
    fn entry(self) -> EntryRef<V>;
}

impl<V> Stores<V> for EntryRef<V> {
    fn entry(self) -> EntryRef<V> {
        self
    }
}

/// The entry `#[cache_put]` writes a `V` to, type-checked (see [`Stores`]).
pub fn entry_for<V>(entry: impl Stores<V>) -> EntryRef<V> {
    entry.entry()
}
