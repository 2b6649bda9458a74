//! The `#[cache]` and `#[invalidate]` attribute macros of redcache. Use them through the
//! `redcache` crate, which documents them and re-exports them.
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

use proc_macro::TokenStream;

mod args;
mod duration;
mod errors;
mod expand_cache;
mod expand_common;
mod expand_invalidate;
mod key_fn;
mod key_spec;
mod signature;
mod suggest;
mod template;
mod validate;

/// Caches an async function's result: see the `redcache` crate's documentation.
///
/// ```text
/// #[cache(key = "user:<user_id>", ttl = "1h", skip(db))]
/// async fn get_user(db: &Db, user_id: u64) -> Result<User, DbError> { .. }
/// ```
#[proc_macro_attribute]
pub fn cache(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_cache::expand(args.into(), item.into()).into()
}

/// Deletes cache entries after an async function succeeds: see the `redcache` crate's
/// documentation.
///
/// ```text
/// #[invalidate(key = "user:<user_id>", pattern = "user:<user_id>:*")]
/// async fn update_user(db: &Db, user_id: u64, patch: Patch) -> Result<(), DbError> { .. }
/// ```
#[proc_macro_attribute]
pub fn invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_invalidate::expand(args.into(), item.into()).into()
}
