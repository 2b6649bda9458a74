//! The `#[cache]` and `#[invalidate]` attribute macros of redcache. Use them through the
//! `redcache` crate, which documents them and re-exports them.
//!
//! Each macro parses its arguments (`args`), checks the function (`signature`) and its key
//! templates (`template`), then expands (`expand_cache`, `expand_invalidate`). A mistake never
//! panics: it becomes a spanned `compile_error!` emitted next to the unchanged function.

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
