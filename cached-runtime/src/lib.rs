//! The runtime behind [redcache](https://docs.rs/redcache): backends, key encoding,
//! serialization, fail-open policy and stats. Use it through the `redcache` crate, which
//! re-exports everything public here.

mod backend;
mod cache;
mod codec;
mod error;
mod flow;
mod glob;
mod key;
mod policy;
mod random;
mod stats;

#[doc(hidden)]
pub mod private;

pub use cache::{Cache, CacheBuilder, global, set_global};
pub use error::Error;
pub use key::{KeyPart, KeyWriter};
pub use stats::Stats;
