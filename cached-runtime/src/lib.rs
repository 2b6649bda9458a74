//! The runtime behind [redcache](https://docs.rs/redcache). Use it through the `redcache`
//! crate, which re-exports everything public here.
//!
//! # Layout
//!
//! A cached call goes down these layers, and no layer calls one above it:
//!
//! | layer | module | owns |
//! |---|---|---|
//! | entry points | `private` | what the macros' expansions call |
//! | operations | `call`, `invalidate` | the call algorithm (lookup → follow → claim → compute → store); invalidation |
//! | handle | `cache`, `builder`, `global` | [`Cache`] and its parts; building one; the process-wide one |
//! | protocols | `flight`, `lease`, `pending` | single-flight in a process; leases against the invalidation race; undelivered invalidations |
//! | tier | `tier` | one interface over where entries live |
//! | fail-open | `fail_open` | op timeouts, the breaker, error classification, rate-limited logs |
//! | backends | `backend::memory`, `backend::redis` | moving bytes: moka; redis-rs standalone and cluster |
//!
//! Beside them: `key` (key encoding), `value` (output → stored value), `codec` (the entry
//! envelope), `stats` (counters), `health` (the health snapshot), `glob`, `random`, `error`.

mod backend;
mod builder;
mod cache;
mod call;
mod codec;
mod error;
mod fail_open;
mod flight;
mod glob;
mod global;
mod health;
mod invalidate;
mod key;
mod lease;
mod pending;
mod random;
mod stats;
mod tier;
mod value;

#[doc(hidden)]
pub mod private;

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use error::Error;
pub use global::{global, set_global};
pub use health::Health;
pub use key::{KeyPart, KeyWriter};
pub use stats::Stats;
