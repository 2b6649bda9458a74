//! Attribute macros that make async functions cached, on Redis or in process memory, with key
//! templates checked by the compiler and a runtime that never lets the cache break or stall
//! the application.
//!
//! ```no_run
//! use redcache::{cache, invalidate};
//! # #[derive(serde::Serialize, serde::Deserialize)] struct User;
//! # struct Db;
//! # #[derive(Debug)] struct DbError;
//! # impl Db { async fn load(&self, _: u64) -> Result<User, DbError> { Ok(User) }
//! #          async fn save(&self, _: u64, _: String) -> Result<(), DbError> { Ok(()) } }
//!
//! #[cache(key = "user:<user_id>", ttl = "1h", skip(db))]
//! async fn get_user(db: &Db, user_id: u64) -> Result<User, DbError> {
//!     db.load(user_id).await
//! }
//!
//! #[invalidate(key = "user:<user_id>", pattern = "user:<user_id>:*")]
//! async fn rename_user(db: &Db, user_id: u64, name: String) -> Result<(), DbError> {
//!     db.save(user_id, name).await
//! }
//! ```
//!
//! See the README for the key template reference, fail-open behaviour and configuration.

pub use cached_macros::{cache, invalidate};
pub use cached_runtime::{
    Cache, CacheBuilder, Error, Health, KeyPart, KeyWriter, Stats, global, set_global,
};

/// What the macros expand to. Not a public API; may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use cached_runtime::private::*;
}
