//! The runtime behind [redcache](https://docs.rs/redcache). Use it through the `redcache`
//! crate, which re-exports everything public here.
//!
//! # Layout
//!
//! A cached call goes down these layers, and no layer calls one above it:
//!
//! | layer | module | owns |
//! |---|---|---|
//! | entry points | `private`, `api` | what the macros' expansions call; the programmatic API on [`Cache`] |
//! | operations | `call`, `batch`, `invalidate`, `write` (and `entry`, what they act on) | the call algorithm (lookup → follow → claim → compute → store); the same for many elements at once; invalidation; write-through (which falls back to invalidating) |
//! | handle | `cache`, `builder`, `global` | [`Cache`] and its parts; building one; the process-wide one |
//! | protocols | `flight`, `lease`, `pending`, `fallback` | single-flight in a process; leases against the invalidation race; undelivered invalidations; the outage cushion |
//! | tier | `tier`, `near` | one interface over where entries live; the near cache (L1) stacked in front of Redis |
//! | fail-open | `fail_open` | op timeouts, the breaker, error classification, rate-limited logs |
//! | backends | `backend::memory`, `backend::redis`, `backend::tracking` | moving bytes: in process; redis-rs standalone and cluster; the client-tracking invalidation channel |
//!
//! Beside them: `key` (key encoding), `value` (output → stored value), `codec` (the entry
//! envelope), `store` and `expiry` (the bounded map behind every in-process tier, and its
//! entries' deadlines), `stats` (counters), `telemetry` (the call span and, with the `metrics`
//! feature, metrics), `health` (the health snapshot), `glob`, `random`, `error`.

#![warn(missing_docs)]
// Examples are held to the crate's standard; parameters an example does not read are fine.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

mod api;
mod backend;
mod batch;
mod builder;
mod cache;
mod call;
mod codec;
mod entry;
mod error;
mod expiry;
mod fail_open;
mod fallback;
mod flight;
mod glob;
mod global;
mod health;
mod invalidate;
mod key;
mod lease;
mod near;
mod pending;
mod random;
mod stats;
mod store;
mod telemetry;
mod tier;
mod value;
mod write;

#[doc(hidden)]
pub mod private;

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use error::Error;
pub use global::{global, set_global};
pub use health::Health;
pub use key::{KeyPart, KeyWriter};
pub use stats::Stats;
