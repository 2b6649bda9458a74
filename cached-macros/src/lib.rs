//! The attribute macros of redcache (`#[cache]`, `#[invalidate]`, `#[cache_put]`,
//! `#[cache_batch]`) and `key!`/`pattern!`. Use them through the `redcache` crate, which
//! re-exports them; each item's documentation is its reference.
//!
//! # How a macro runs
//!
//! Both macros run the same four stages, driven by `expand_common::expand`:
//!
//! 1. **Parse** the function (syn) and the attribute's arguments (`args.rs`, with
//!    `duration.rs` for durations and percentages). Key templates are parsed by `template.rs`
//!    and the function's parameters and return type read by `signature.rs`. Each piece is
//!    checked on its own here: a malformed duration, an unclosed `<`.
//! 2. **Validate** what ties the pieces together (`validate.rs`): every placeholder names a
//!    parameter, every parameter is in the key or skipped, the options fit the return type,
//!    the function is `async`. Suggestions come from `suggest.rs`.
//! 3. **Plan** (`plan` in `expand_cache.rs` and `expand_invalidate.rs`): runs the validation
//!    and gathers what the generated code needs; keys, patterns and tags are described by
//!    `key_spec.rs`.
//! 4. **Generate** (`generate` in the same files), only if nothing was reported, renders the
//!    plan: the function with its body moved into the runtime's call (pieces both macros
//!    share are in `expand_common.rs`), and for `#[cache]` the companion that typed
//!    invalidation calls (`key_fn.rs`).
//!
//! Every stage reports into one channel, `errors.rs`, so a user sees all their mistakes at
//! once. A mistake never panics: it becomes a `compile_error!` spanned at the user's token,
//! emitted next to the unchanged function, so there are no follow-on errors. Generated code
//! reaches the runtime only through `::redcache::__private`.

#![warn(missing_docs)]
// Examples are held to the crate's standard; parameters an example does not read are fine.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

use proc_macro::TokenStream;

mod args;
mod duration;
mod errors;
mod expand_batch;
mod expand_cache;
mod expand_common;
mod expand_invalidate;
mod expand_key;
mod expand_put;
mod key_fn;
mod key_spec;
mod signature;
mod suggest;
mod template;
mod validate;

/// Caches an async function's result: a call reads its key first and, on a hit, returns the
/// stored value without running the body; on a miss it runs the body and stores the value for
/// `ttl`.
///
/// ```
/// use std::sync::LazyLock;
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use redcache::{Cache, cache};
///
/// static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User {
///     id: u64,
///     name: String,
/// }
///
/// #[cache(key = "user:<user_id>", ttl = "1h", cache = &CACHE)]
/// async fn get_user(user_id: u64) -> Result<User, String> {
///     RUNS.fetch_add(1, SeqCst);
///     Ok(User { id: user_id, name: "Ada".into() })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let first = get_user(42).await; // a miss: the body runs, the `Ok` value is stored at `user:42`
/// let second = get_user(42).await; // a hit: the body does not run
/// assert_eq!(first, second);
/// assert_eq!(RUNS.load(SeqCst), 1);
/// assert!(CACHE.get::<User>("user:42").await.is_some());
/// # }
/// ```
///
/// The examples below run on a memory cache (`redcache::Cache::memory()`) held in a static, as
/// above; without `cache = ..` a function uses the global cache (`redcache::global()`: Redis at
/// `REDIS_URL`, else process memory, unless `redcache::set_global` installed another).
/// Every mistake in the arguments is a compile error pointing at the argument, with the fix.
///
/// | argument | |
/// |---|---|
/// | `key = "user:<user_id>"` | the key template ([below](#key)); without it, a [default key](#default-key) |
/// | `ttl = 3600`, `ttl = "1h"`, `ttl = USER_TTL` | how long a value is kept (required) |
/// | `skip(db, ..)` | parameters that are not part of the key |
/// | `cache = EXPR` | the cache to use, instead of the global one |
/// | `cache_none = true` | also cache `None` (and `Ok(None)`) |
/// | `tags = ["org:<org_id>", ..]` | attach the entry to tags, for `#[invalidate(tags = [..])]` |
/// | `stale = "5m"` | serve an expired value this much longer while one caller refreshes it |
/// | `fail_safe = true` | with `stale`: return the stale value when the body returns `Err` |
/// | `jitter = "10%"` | shorten each entry's TTL by a random amount up to this fraction |
/// | `lock = true` | concurrent misses on one key across processes sharing a Redis run the body once |
/// | `near = false` | keep this function's entries out of the cache's near cache |
///
/// The flags `cache_none`, `fail_safe` and `lock` may be written alone: `lock` is `lock = true`.
///
/// # `key`
///
/// A template: literal text plus placeholders, each replaced by the value of a parameter. All of
/// it is checked at compile time: every placeholder names a parameter (a misspelling gets the
/// closest name), every parameter is in the key or in `skip(..)` (else two calls that differ
/// only in it would share one value), each placeholder's type implements `redcache::KeyPart`
/// (integers, `bool`, `char`, `str`, `String`, `Option` and references of these, your own
/// types; floats are refused), two placeholders have a separator between them (`<a>:<b>`,
/// not `<a><b>`), and a key does not start with `#` (keys starting with `#` are redcache's own).
///
/// | you write | meaning |
/// |---|---|
/// | `<user_id>` | the value of parameter `user_id` |
/// | `<req.org.id>` | a field path below a parameter (tuple fields too: `<pair.0>`) |
/// | `<email:hash>` | a stable hash of the value (SHA-256, 32 hex digits) instead of the value: long text, personal data |
/// | `<<`, `>>` | a literal `<` or `>` |
///
/// Values are encoded so that keys cannot collide and cannot act as globs: integers in decimal,
/// text keeps ASCII letters, digits and `. _ - @` and writes any other byte as `%XX`, `None` is
/// `~`. So `user:<user_id>` with `42` is the Redis key `user:42` (behind the cache's prefix, if
/// it has one).
///
/// ```
/// # use std::sync::LazyLock;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// struct Org { id: u64 }
/// struct Request { org: Org, page: u32 }
///
/// #[cache(key = "org:<req.org.id>:page<<<req.page>>>:<name>", ttl = 60, cache = &CACHE)]
/// async fn page(req: &Request, name: &str) -> String {
///     format!("page {} of {name}", req.page)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let req = Request { org: Org { id: 7 }, page: 2 };
/// page(&req, "a:b").await;
/// // The field values, literal `<` and `>`, and the `:` of a value encoded as `%3A`:
/// assert!(CACHE.get::<String>("org:7:page<2>:a%3Ab").await.is_some());
/// # }
/// ```
///
/// `<name:hash>` keeps the value itself out of the key (and out of `redis-cli`):
///
/// ```
/// # use std::sync::LazyLock;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// #[cache(key = "session:<email:hash>", ttl = "10m", cache = &CACHE)]
/// async fn session(email: &str) -> u64 {
///     7
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let email = "ada@example.com";
/// session(email).await;
/// let key = redcache::key!("session:<email:hash>"); // the same key, built from `email`
/// assert_eq!(key.len(), "session:".len() + 32);
/// assert!(!key.contains("ada"));
/// assert_eq!(CACHE.get::<u64>(&key).await, Some(7));
/// # }
/// ```
///
/// ## Default key
///
/// Without `key = ..`, the key is the function's module path and name, then every argument not
/// skipped, each after a `:` (a method's starts with its `Self` type's name instead). A generic
/// function's type parameters follow any key, so `fetch::<A>(1)` and `fetch::<B>(1)` never share
/// an entry.
///
/// ```
/// # use std::sync::LazyLock;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// #[cache(ttl = 60, cache = &CACHE)]
/// async fn area(width: u32, height: u32) -> u32 {
///     width * height
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// area(3, 4).await;
/// let key = format!("{}::area:3:4", module_path!()); // as in `my_app::shapes::area:3:4`
/// assert_eq!(CACHE.get::<u32>(&key).await, Some(12));
/// # }
/// ```
///
/// # `ttl`
///
/// Whole seconds (`ttl = 3600`), a duration string (`"500ms"`, `"90s"`, `"10m"`, `"1h"`,
/// `"7d"`), or a path to a `const` of type `u64` (seconds) or `std::time::Duration`
/// (`ttl = USER_TTL`, `ttl = config::SHORT`, `ttl = Limits::LONG`). Required; zero, negative
/// and malformed values are compile errors, a zero `const` included. `stale` takes the same
/// forms.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
/// use std::time::Duration;
///
/// const RATE_TTL: Duration = Duration::from_millis(200);
///
/// #[cache(key = "rate:<currency>", ttl = RATE_TTL, cache = &CACHE)]
/// async fn rate(currency: &str) -> u32 {
///     RUNS.fetch_add(1, SeqCst);
///     108
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// rate("EUR").await;
/// rate("EUR").await; // within the TTL: a hit
/// assert_eq!(RUNS.load(SeqCst), 1);
/// tokio::time::sleep(Duration::from_millis(300)).await;
/// rate("EUR").await; // expired: the body runs again
/// assert_eq!(RUNS.load(SeqCst), 2);
/// # }
/// ```
///
/// # `skip`
///
/// Parameters that do not change the result (a database handle, a client, a logger) are listed
/// in `skip(..)`; a parameter that is neither in the key nor skipped is a compile error. In a
/// method, `self` is skipped or read through fields (`<self.tenant>`).
///
/// ```
/// # use std::sync::LazyLock;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// struct Db;
///
/// impl Db {
///     async fn name_of(&self, id: u64) -> String {
///         format!("user {id}")
///     }
/// }
///
/// #[cache(key = "name:<id>", ttl = 60, skip(db), cache = &CACHE)]
/// async fn name(db: &Db, id: u64) -> String {
///     db.name_of(id).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(name(&Db, 5).await, "user 5");
/// assert!(CACHE.get::<String>("name:5").await.is_some());
/// # }
/// ```
///
/// # `cache`
///
/// `cache = EXPR` picks the cache: any expression that coerces to `&redcache::Cache`, evaluated
/// in the function with its arguments in scope: `&CACHE` for a
/// `static CACHE: LazyLock<Cache>`, `&self.cache` in a method, a parameter (skipped) of type
/// `&Cache`. Without it, the global cache.
///
/// ```
/// use redcache::{Cache, cache};
///
/// struct Users {
///     cache: Cache,
///     tenant: String,
/// }
///
/// impl Users {
///     #[cache(key = "<self.tenant>:user:<id>", ttl = 60, cache = &self.cache)]
///     async fn name(&self, id: u64) -> String {
///         format!("user {id}")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let users = Users { cache: Cache::memory(), tenant: "acme".into() };
/// users.name(1).await;
/// assert_eq!(users.cache.get::<String>("acme:user:1").await.as_deref(), Some("user 1"));
/// # }
/// ```
///
/// # What is cached
///
/// `Result<T, E>` caches `Ok(T)` only: an error is returned and the next call tries again.
/// `Option<T>` caches `Some(T)` only, and `Result<Option<T>, E>` `Ok(Some(T))` only, unless
/// `cache_none = true`. Any other type is cached as it is. The cached type must implement
/// `serde::Serialize` and `serde::de::DeserializeOwned` (a compile error on the return type if
/// not); it needs no `Clone`. Values are stored as JSON behind a small version header; an entry
/// that does not decode (the type changed) is a miss, and is overwritten.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
/// #[cache(key = "parse:<text>", ttl = 60, cache = &CACHE)]
/// async fn parse(text: &str) -> Result<u32, String> {
///     RUNS.fetch_add(1, SeqCst);
///     text.parse().map_err(|_| format!("not a number: {text}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(parse("x").await.is_err());
/// assert!(parse("x").await.is_err()); // an `Err` is not cached: the body ran again
/// assert_eq!(RUNS.load(SeqCst), 2);
/// # }
/// ```
///
/// ## `cache_none`
///
/// `cache_none = true` also caches `None` (on a function returning `Option` or
/// `Result<Option<_>, _>`; anywhere else it is a compile error), so a lookup that finds nothing
/// is not repeated for the whole TTL.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// #[cache(key = "find:<id>", ttl = 60, cache_none = true, cache = &CACHE)]
/// async fn find(id: u64) -> Option<String> {
///     RUNS.fetch_add(1, SeqCst);
///     None
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(find(1).await, None);
/// assert_eq!(find(1).await, None); // the `None` was cached
/// assert_eq!(RUNS.load(SeqCst), 1);
/// # }
/// ```
///
/// # `tags`
///
/// `tags = [..]` attaches the entry to tags, written as key templates. A tag groups entries,
/// it does not tell them apart: a parameter named in a tag is still in the key or skipped.
/// `#[invalidate(tags = [..])]` (or `Cache::invalidate_tags`) then deletes every entry of a
/// tag, at a cost that grows with the entries tagged, not with the keyspace.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use redcache::{Cache, cache, invalidate};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
/// #[cache(key = "org:<org_id>:profile:<id>", ttl = "1h", tags = ["user:<id>", "org:<org_id>"], cache = &CACHE)]
/// async fn profile(id: u64, org_id: u64) -> String {
///     RUNS.fetch_add(1, SeqCst);
///     format!("user {id} of org {org_id}")
/// }
///
/// #[invalidate(tags = ["org:<org_id>"], cache = &CACHE)]
/// async fn rename_org(org_id: u64, name: &str) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// profile(1, 7).await;
/// profile(2, 7).await;
/// rename_org(7, "Acme").await; // deletes both entries of org 7
/// profile(1, 7).await;
/// assert_eq!(RUNS.load(SeqCst), 3);
/// # }
/// ```
///
/// # `stale` and `fail_safe`
///
/// `stale = DURATION` (forms as `ttl`): after `ttl`, the value may still be served for up to
/// `stale` longer. The first caller after the TTL runs the body and refreshes the entry; every
/// other caller meanwhile gets the old value at once.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
/// # use std::time::Duration;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// static VERSION: AtomicU32 = AtomicU32::new(1);
///
/// #[cache(key = "price:<id>", ttl = "200ms", stale = "1m", cache = &CACHE)]
/// async fn price(id: u64) -> u32 {
///     tokio::time::sleep(Duration::from_millis(100)).await; // a slow query
///     VERSION.load(SeqCst)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(price(1).await, 1);
/// VERSION.store(2, SeqCst);
/// tokio::time::sleep(Duration::from_millis(300)).await; // past the TTL, within `stale`
/// let (refreshed, served_stale) = tokio::join!(price(1), async {
///     tokio::time::sleep(Duration::from_millis(20)).await;
///     price(1).await // while the first call refreshes: the old value, at once
/// });
/// assert_eq!((refreshed, served_stale), (2, 1));
/// assert_eq!(CACHE.stats().stale_served, 1);
/// # }
/// ```
///
/// `fail_safe = true` (needs `stale`, on a function returning `Result`): when the body returns
/// `Err` and a stale value exists, the stale value is returned instead of the error (logged and
/// counted in `stats().fail_safe`). Without a stale value the error is returned.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
/// # use std::time::Duration;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// static DOWN: AtomicBool = AtomicBool::new(false);
///
/// #[cache(key = "quote:<id>", ttl = "200ms", stale = "1h", fail_safe = true, cache = &CACHE)]
/// async fn quote(id: u64) -> Result<u32, String> {
///     if DOWN.load(SeqCst) {
///         return Err("database down".into());
///     }
///     Ok(100)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(quote(1).await, Ok(100));
/// DOWN.store(true, SeqCst);
/// tokio::time::sleep(Duration::from_millis(300)).await; // past the TTL
/// assert_eq!(quote(1).await, Ok(100)); // the stale value, not the error
/// assert!(quote(2).await.is_err()); // nothing to fall back on
/// # }
/// ```
///
/// # `jitter` and `lock`
///
/// `jitter = "10%"` (a whole percentage from 1 to 99) shortens each entry's TTL by a random
/// amount up to that fraction, so entries written together do not expire together.
///
/// `lock = true`: concurrent misses on one key across processes whose caches share one Redis
/// run the body once: a caller that finds another process computing the key waits for its value,
/// at most the cache's `lock_wait` (2 s by default), then runs the body anyway; with Redis down
/// nobody waits. (Within one process, concurrent misses on a key always run the body once.)
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use std::time::Duration;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
/// #[cache(key = "report:<day>", ttl = "1h", jitter = "10%", lock, cache = &CACHE)]
/// async fn report(day: u32) -> String {
///     RUNS.fetch_add(1, SeqCst);
///     tokio::time::sleep(Duration::from_millis(50)).await; // an expensive report
///     format!("report of day {day}")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (a, b) = tokio::join!(report(1), report(1));
/// assert_eq!(a, b);
/// assert_eq!(RUNS.load(SeqCst), 1);
/// # }
/// ```
///
/// # `near`
///
/// A cache built with a near cache (`CacheBuilder::near_cache`) keeps copies of entries in
/// process memory, in front of Redis, kept coherent by Redis. `near = false` keeps this
/// function's entries out of it: for huge values, or values that must always come from Redis.
/// Without a near cache (or on the memory store) it changes nothing. Functions with `tags`
/// always read Redis.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
/// #[cache(key = "export:<id>", ttl = "10m", near = false, cache = &CACHE)]
/// async fn export(id: u64) -> Vec<u8> {
///     RUNS.fetch_add(1, SeqCst);
///     vec![0; 1024] // a large value: read from Redis each time, not copied into every process
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// export(1).await;
/// export(1).await;
/// assert_eq!(RUNS.load(SeqCst), 1);
/// # }
/// ```
///
/// # Guarantees
///
/// - Concurrent misses on one key in one process run the body once; the others get its value.
///   Different keys never wait for each other.
/// - A read that started before an invalidation of its key never leaves its older value in the
///   cache afterwards.
/// - Fail-open: a cache that is down, slow, full or holds garbage never fails the call and never
///   makes it wait longer than the op timeout; the body runs instead, and the failure is logged
///   and counted in `stats()`.
/// - Each call runs in a `tracing` span, `redcache.call` (target `redcache`, level `debug`),
///   recording the function's path and the outcome (`hit`, `near_hit`, `miss`, `stale`,
///   `coalesced`, `fail_safe`, `bypassed`); the key only at `trace` level. `Cache::function_stats` counts
///   the outcomes per function.
/// - The function stays `Send` when its arguments are.
///
/// # Where it applies
///
/// On `async fn`s: free functions, methods (`self` skipped or read through `<self.field>`), trait
/// impls, generics (a generic used in the key needs a `KeyPart` bound), `where` clauses,
/// lifetimes and `impl Trait` arguments. Anything else (a non-`async` function, a float
/// placeholder, `fail_safe` without `stale`) is a compile error at the offending token.
///
/// A generic function's key ends with its type parameters' names, so two instantiations never
/// read each other's entries:
///
/// ```
/// # use std::sync::LazyLock;
/// # use redcache::{Cache, cache};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// use serde::{Serialize, de::DeserializeOwned};
///
/// #[cache(key = "record:<id>", ttl = "1h", cache = &CACHE)]
/// async fn record<T: Default + Serialize + DeserializeOwned>(id: u64) -> T {
///     T::default() // a query that decodes its row as `T`
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let count: u32 = record(1).await;
/// let name: String = record(1).await; // not the `u32` entry: a miss of its own
/// assert_eq!((count, name.as_str()), (0, ""));
/// assert_eq!(CACHE.stats().misses, 2);
/// # }
/// ```
#[proc_macro_attribute]
pub fn cache(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_cache::expand(args.into(), item.into()).into()
}

/// Deletes cache entries after an async function returns: after `Ok` for a function returning
/// `Result` (an `Err` means the change did not happen, so nothing is deleted), after any value
/// otherwise (`None` included).
///
/// | argument | deletes |
/// |---|---|
/// | `key = ".."`, `keys = [..]` | exact keys |
/// | `pattern = ".."`, `patterns = [..]` | every key matching a glob (`*`, `?`, `[..]`): incremental `SCAN` + `UNLINK` (never `KEYS`), inside the cache's prefix, on every master of a cluster; costs a walk of the keyspace |
/// | `tags = [..]` | every entry cached with one of these tags (`#[cache(tags = [..])]`); costs what it deletes |
/// | `get_user(user_id)` | exactly the entry that call of the `#[cache]` function `get_user` reads, in the cache it uses |
/// | `cache = EXPR` | the cache for `key`, `pattern` and `tags` targets, instead of the global one |
///
/// Arguments can be combined. Templates are those of `#[cache]` (same placeholders, same
/// encoding, so `key = "user:<id>"` names exactly the entry `#[cache(key = "user:<id>")]`
/// wrote); here a parameter may stay out of every template. A glob directly beside a placeholder
/// (`user:<id>*`, which would also match users 10–19 when `id` is 1) is a compile error that
/// suggests `user:<id>:*`.
///
/// If Redis cannot be reached, the invalidation is kept and delivered as soon as it answers; until
/// then the process serves nothing from the cache.
///
/// # `key`, `keys`, `pattern`, `patterns`
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use redcache::{Cache, cache, invalidate};
///
/// static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// #[cache(key = "user:<id>", ttl = "1h", cache = &CACHE)]
/// async fn get_user(id: u64) -> String {
///     RUNS.fetch_add(1, SeqCst);
///     format!("user {id}")
/// }
///
/// #[cache(key = "user:<id>:posts:<page>", ttl = "1h", cache = &CACHE)]
/// async fn posts(id: u64, page: u32) -> Vec<String> {
///     RUNS.fetch_add(1, SeqCst);
///     Vec::new()
/// }
///
/// #[invalidate(key = "user:<id>", pattern = "user:<id>:*", cache = &CACHE)]
/// async fn delete_user(id: u64) -> Result<(), String> {
///     if id == 0 {
///         return Err("no such user".into()); // nothing is invalidated
///     }
///     Ok(())
/// }
///
/// #[invalidate(keys = ["user:<a>", "user:<b>"], patterns = ["user:<a>:*", "user:<b>:*"], cache = &CACHE)]
/// async fn merge_users(a: u64, b: u64) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// get_user(1).await;
/// posts(1, 1).await;
/// posts(1, 2).await;
/// delete_user(1).await.unwrap(); // deletes `user:1`, `user:1:posts:1` and `user:1:posts:2`
/// assert_eq!(CACHE.get::<String>("user:1").await, None);
/// assert_eq!(CACHE.get::<Vec<String>>("user:1:posts:2").await, None);
///
/// get_user(2).await;
/// get_user(3).await;
/// merge_users(2, 3).await;
/// assert_eq!(CACHE.get::<String>("user:2").await, None);
/// assert_eq!(CACHE.get::<String>("user:3").await, None);
/// # }
/// ```
///
/// # `tags`
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use redcache::{Cache, cache, invalidate};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
/// #[cache(key = "customer:<customer>:invoice:<id>", ttl = "1h", tags = ["customer:<customer>"], cache = &CACHE)]
/// async fn invoice(id: u64, customer: u64) -> u64 {
///     RUNS.fetch_add(1, SeqCst);
///     id * 100
/// }
///
/// #[invalidate(tags = ["customer:<customer>"], cache = &CACHE)]
/// async fn change_customer(customer: u64) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// invoice(1, 9).await;
/// invoice(2, 9).await;
/// change_customer(9).await; // both invoices of customer 9 are gone
/// invoice(1, 9).await;
/// invoice(2, 9).await;
/// assert_eq!(RUNS.load(SeqCst), 4);
/// # }
/// ```
///
/// # Typed invalidation: a call of the cached function
///
/// A bare call names a `#[cache]` function with the arguments it would get, and deletes exactly
/// the entry that call reads, from the cache that function uses (its own `cache = ..`): the key
/// template is written once, in `#[cache]`. Several calls may be listed. A name that is not a
/// `#[cache]` function, or arguments of the wrong type, fail to compile. Paths
/// (`users::get_user(id)`), methods (`self.get(id)`, for a method declared with a visibility
/// such as `pub`) and generic arguments (`fetch::<Summary>(id)`) work. Arguments are evaluated as
/// in a call: pass references or clones of what the body still needs.
///
/// ```
/// # use std::sync::LazyLock;
/// # use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// # use redcache::{Cache, cache, invalidate};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// # static RUNS: AtomicUsize = AtomicUsize::new(0);
/// struct Db;
///
/// #[cache(key = "user:<user_id>:<lang>", ttl = "1h", skip(db), cache = &CACHE)]
/// async fn get_user(db: &Db, user_id: u64, lang: &str) -> String {
///     RUNS.fetch_add(1, SeqCst);
///     format!("user {user_id} ({lang})")
/// }
///
/// #[invalidate(get_user(db, user_id, "en"), get_user(db, user_id, "fr"))]
/// async fn rename_user(db: &Db, user_id: u64, name: &str) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// get_user(&Db, 1, "en").await;
/// get_user(&Db, 1, "fr").await;
/// rename_user(&Db, 1, "Ada").await;
/// assert_eq!(CACHE.get::<String>("user:1:en").await, None);
/// assert_eq!(CACHE.get::<String>("user:1:fr").await, None);
/// # }
/// ```
///
/// # `cache`
///
/// `cache = EXPR`, as on `#[cache]`: any expression that coerces to `&redcache::Cache`,
/// evaluated with the arguments in scope (`&CACHE`, `&self.cache`, a `&Cache` parameter). It
/// applies to `key`, `pattern` and `tags` targets; typed invalidation always uses the named
/// function's cache. Without it, the global cache.
///
/// ```
/// use redcache::{Cache, cache, invalidate};
///
/// #[cache(key = "count:<name>", ttl = 60, skip(cache), cache = cache)]
/// async fn count(cache: &Cache, name: &str) -> usize {
///     name.len()
/// }
///
/// #[invalidate(key = "count:<name>", cache = cache)]
/// async fn forget(cache: &Cache, name: &str) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = Cache::memory();
/// count(&cache, "abc").await;
/// assert_eq!(cache.get::<usize>("count:abc").await, Some(3));
/// forget(&cache, "abc").await;
/// assert_eq!(cache.get::<usize>("count:abc").await, None);
/// # }
/// ```
#[proc_macro_attribute]
pub fn invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_invalidate::expand(args.into(), item.into()).into()
}

/// Writes an async function's return value through to the entry a `#[cache]` function reads, so
/// the next read is a hit instead of a query.
///
/// The argument is a call of a `#[cache]` function, with the arguments it would get (as in typed
/// invalidation, `#[invalidate(get_user(user_id))]`). After the body returns, its value (the `Ok`
/// value of a `Result`) becomes the entry that call reads, with that function's TTL, tags,
/// `stale` period and cache.
///
/// - `Err` writes nothing. A function returning `Option<T>` (or `Result<Option<T>, E>`) writes
///   `Some` and invalidates the entry on `None`.
/// - The value type must be the one the `#[cache]` function stores (`T` of its `Result<T, E>` or
///   `Option<T>`); anything else is a compile error at the call, naming both types.
/// - The write wins over reads in flight: a read that started before it cannot leave an older
///   value behind it.
/// - A write that cannot be made (Redis unreachable, a value too large) becomes an invalidation
///   of the key, delivered now or as soon as Redis answers.
///
/// ```
/// use std::sync::LazyLock;
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use redcache::{Cache, cache, cache_put};
///
/// static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// static READS: AtomicUsize = AtomicUsize::new(0);
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User {
///     id: u64,
///     name: String,
/// }
///
/// #[cache(key = "user:<user_id>", ttl = "1h", cache = &CACHE)]
/// async fn get_user(user_id: u64) -> Result<User, String> {
///     READS.fetch_add(1, SeqCst);
///     Ok(User { id: user_id, name: "Ada".into() })
/// }
///
/// #[cache_put(get_user(user_id))]
/// async fn rename_user(user_id: u64, name: String) -> Result<User, String> {
///     if name.is_empty() {
///         return Err("a name is required".into()); // nothing is written
///     }
///     Ok(User { id: user_id, name }) // the updated row, as the database returns it
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// get_user(7).await.unwrap();
/// rename_user(7, "Grace".into()).await.unwrap();
/// assert!(rename_user(7, String::new()).await.is_err());
/// // A hit on the value written through: the read does not run again.
/// assert_eq!(get_user(7).await.unwrap().name, "Grace");
/// assert_eq!(READS.load(SeqCst), 1);
/// # }
/// ```
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_put::expand(args.into(), item.into()).into()
}

/// Caches a batch function's results per element, sharing entries with single `#[cache]` calls.
///
/// The function takes one collection parameter, named in the key template, and returns a map
/// from element to value. Each element gets its own entry, keyed exactly as `#[cache(key =
/// "user:<id>")]` keys a single `id`, so a batch function and a single one with the same
/// template share entries. A call:
///
/// 1. reads every entry in one round trip (`MGET`; on a cluster, one per node, at once);
/// 2. runs the body **once**, with only the missed elements (deduplicated, in first-seen order),
///    bound to the parameter's own name and type;
/// 3. stores what the body returned for them, with pipelined writes (round trips do not grow
///    with the batch); elements the body leaves out are not cached, an `Err` caches nothing;
/// 4. returns the hits and the computed values together.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{LazyLock, Mutex};
/// use redcache::{Cache, cache, cache_batch};
///
/// static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
/// static QUERIED: Mutex<Vec<u64>> = Mutex::new(Vec::new());
///
/// #[cache(key = "user:<id>", ttl = "1h", cache = &CACHE)]
/// async fn get_user(id: u64) -> String {
///     format!("user {id}")
/// }
///
/// #[cache_batch(key = "user:<ids>", ttl = "1h", cache = &CACHE)]
/// async fn get_users(ids: &[u64]) -> HashMap<u64, String> {
///     QUERIED.lock().unwrap().extend_from_slice(ids); // one query for all the misses
///     ids.iter().map(|&id| (id, format!("user {id}"))).collect()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// get_user(1).await; // cached by the single function
/// let users = get_users(&[1, 2, 3, 2]).await;
/// assert_eq!(users.len(), 3);
/// assert_eq!(users[&1], "user 1");
/// assert_eq!(*QUERIED.lock().unwrap(), [2, 3]); // only the misses, deduplicated
/// assert_eq!(CACHE.get::<String>("user:3").await.as_deref(), Some("user 3"));
/// # }
/// ```
///
/// # Arguments
///
/// `key` (required) and `ttl` as for `#[cache]`; `skip(..)` for the other parameters, which are
/// in the key or skipped as for `#[cache]`; `cache = EXPR`; `tags = [..]`, whose templates may
/// name the collection to tag each element (`"user:<ids>"`); `jitter = "10%"`; `near = false`
/// (with a near cache, a batch serves the fresh copies single calls made, and reads the rest
/// from Redis; `near = false` always reads Redis). `stale`, `fail_safe`, `lock` and
/// `cache_none` do not apply. Functions that share entries must declare
/// the same `tags` (an entry records its tags' versions; a reader with other tags treats it as a
/// miss).
///
/// # Collection and return forms
///
/// The collection is one of `&[K]`, `Vec<K>`, `&Vec<K>`, `HashSet<K>` or `BTreeSet<K>`, with `K`
/// a key part; the return type is `HashMap<K, V>` or `BTreeMap<K, V>`, or a `Result` of one (an
/// `Err` is returned as is and caches nothing).
///
/// ```
/// use std::collections::{BTreeMap, HashSet};
/// # use std::sync::LazyLock;
/// use redcache::{Cache, cache_batch, invalidate};
/// # static CACHE: LazyLock<Cache> = LazyLock::new(Cache::memory);
///
/// struct Db;
///
/// impl Db {
///     async fn load(&self, ids: &[u32]) -> Result<Vec<(u32, String)>, String> {
///         Ok(ids.iter().map(|&id| (id, format!("team {id}"))).collect())
///     }
/// }
///
/// #[cache_batch(
///     key = "team:<ids>",
///     ttl = "10m",
///     skip(db),
///     tags = ["team:<ids>"],
///     jitter = "10%",
///     cache = &CACHE,
/// )]
/// async fn get_teams(db: &Db, ids: HashSet<u32>) -> Result<BTreeMap<u32, String>, String> {
///     let ids: Vec<u32> = ids.into_iter().collect();
///     Ok(db.load(&ids).await?.into_iter().collect())
/// }
///
/// #[invalidate(tags = ["team:<id>"], cache = &CACHE)]
/// async fn rename_team(id: u32) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let teams = get_teams(&Db, HashSet::from([1, 2])).await.unwrap();
/// assert_eq!(teams.keys().copied().collect::<Vec<_>>(), [1, 2]);
/// rename_team(2).await; // drops team 2's entry only
/// # }
/// ```
#[proc_macro_attribute]
pub fn cache_batch(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_batch::expand(args.into(), item.into()).into()
}

/// Builds a key from the variables in scope, checked and encoded as `#[cache]` keys are.
///
/// The template is a `#[cache]` key template (placeholders `<name>`, field paths `<req.id>`,
/// `<name:hash>`, `<<` and `>>`), and each placeholder names a variable in scope; the same
/// compile-time checks apply. The result is a `String` without the cache's prefix: the methods
/// of `Cache` (`get`, `set`, `invalidate`, ...) add it. So `key!` names the entries the macros
/// write.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use redcache::{Cache, key};
///
/// let user_id = 42;
/// assert_eq!(key!("user:<user_id>"), "user:42");
///
/// let name = "a:b*"; // a `:` or a glob character in a value is encoded
/// let lang: Option<&str> = None;
/// assert_eq!(key!("team:<name>:<lang>"), "team:a%3Ab%2A:~");
///
/// let cache = Cache::builder().prefix("app").build().unwrap();
/// cache.set(&key!("user:<user_id>"), &"Ada".to_owned(), Duration::from_secs(60)).await;
/// assert_eq!(cache.get::<String>("user:42").await.as_deref(), Some("Ada")); // `app:user:42`
/// # }
/// ```
#[proc_macro]
pub fn key(input: TokenStream) -> TokenStream {
    expand_key::expand(input.into(), key_spec::Kind::Key).into()
}

/// Builds a glob from the variables in scope, checked and encoded as `#[invalidate(pattern =
/// ..)]` patterns are.
///
/// The template's literal text may hold globs (`*`, `?`, `[..]`); values are encoded as in keys,
/// so a value can never act as a glob. A glob directly beside a placeholder (`user:<id>*`) is a
/// compile error. Like `key!`, the result is without the cache's prefix; pass it to
/// `Cache::invalidate_pattern`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use redcache::{Cache, pattern};
///
/// let user_id = 7;
/// assert_eq!(pattern!("user:<user_id>:*"), "user:7:*");
/// let team = "*"; // a value cannot widen the pattern to every team
/// assert_eq!(pattern!("team:<team>:*"), "team:%2A:*");
///
/// let cache = Cache::memory();
/// cache.set("user:7:posts", &1, Duration::from_secs(60)).await;
/// cache.set("user:70:posts", &2, Duration::from_secs(60)).await;
/// cache.invalidate_pattern(&pattern!("user:<user_id>:*")).await;
/// assert_eq!(cache.get::<i32>("user:7:posts").await, None);
/// assert_eq!(cache.get::<i32>("user:70:posts").await, Some(2));
/// # }
/// ```
#[proc_macro]
pub fn pattern(input: TokenStream) -> TokenStream {
    expand_key::expand(input.into(), key_spec::Kind::Pattern).into()
}
