//! What a cache reports outward, beside its counters: a `tracing` span per cached call
//! (always), and, with the `metrics` feature, metrics through the `metrics` crate facade.
//!
//! Callers call these functions unconditionally; without the feature, the metric ones are
//! empty and inline, so the call sites carry no `cfg`.
//!
//! # Metrics (feature `metrics`)
//!
//! Named in OpenTelemetry's style (dotted, lowercase, the unit in the metadata, not in the
//! name; a Prometheus exporter turns the dots into underscores):
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `redcache.calls` | counter | `function`, `outcome` | cached calls, by how they were answered ([`Outcome`]) |
//! | `redcache.redis.duration` | histogram (seconds) | `op` | each Redis operation that was sent (not those the breaker skipped), failed ones included |
//! | `redcache.errors` | counter | `kind` | failures absorbed: `unavailable`, `wrong_type`, `refused`, `decode`, `encode`, `too_large`, `bad_key`, `breaker_skip`, `invalidation_lost` |
//! | `redcache.breaker.open` | gauge | | caches whose breaker is open (1 or 0 with one cache) |
//! | `redcache.invalidations.pending` | gauge | | keys, patterns and tags of invalidations not yet delivered, all caches |
//!
//! # The call span
//!
//! `redcache.call` (target `redcache`, level `debug`), with fields `function` (the path,
//! `my_app::users::get_user`), `outcome` (recorded when the call ends: [`Outcome::as_str`])
//! and `key`, recorded only when `trace` is enabled for `redcache` (keys may hold personal
//! data). When no subscriber wants `debug` spans of `redcache`, the span is never built: the
//! cost is one level check.

use tracing::Span;
use tracing::field::Empty;

/// How a cached call was answered: the `outcome` of its span and metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A fresh value from the cache; the body did not run.
    Hit,
    /// A fresh copy in this process's near cache, with no I/O.
    NearHit,
    /// The body ran (the key was absent, undecodable, or the cache unavailable).
    Miss,
    /// A stale value (`stale = ..`) while another caller refreshes it.
    Stale,
    /// The value another concurrent call in this process computed (single-flight).
    Coalesced,
    /// The body failed and a stale value was returned instead (`fail_safe`).
    FailSafe,
    /// The cache was not used: an invalidation is pending, or caching is disabled.
    Bypassed,
}

impl Outcome {
    /// Its name in spans and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::NearHit => "near_hit",
            Outcome::Miss => "miss",
            Outcome::Stale => "stale",
            Outcome::Coalesced => "coalesced",
            Outcome::FailSafe => "fail_safe",
            Outcome::Bypassed => "bypassed",
        }
    }
}

/// The span of one call of `function` on `key`; disabled (no cost but a level check) unless
/// a subscriber wants it.
#[inline]
pub(crate) fn call_span(function: &'static str, key: &str) -> Span {
    let span = tracing::debug_span!(
        target: "redcache",
        "redcache.call",
        function,
        outcome = Empty,
        key = Empty
    );
    if !span.is_disabled() && tracing::enabled!(target: "redcache", tracing::Level::TRACE) {
        span.record("key", key);
    }
    span
}

/// The span of one `#[cache_batch]` call of `function` over `elements` elements (its keys
/// are not recorded: there may be many).
#[inline]
pub(crate) fn batch_span(function: &'static str, elements: usize) -> Span {
    tracing::debug_span!(
        target: "redcache",
        "redcache.call",
        function,
        elements,
        outcome = Empty
    )
}

/// Records how the call ended, in its span and (with the feature) its metric.
#[inline]
pub(crate) fn call_ended(span: &Span, function: &'static str, outcome: Outcome) {
    if !span.is_disabled() {
        span.record("outcome", outcome.as_str());
    }
    call(function, outcome);
}

#[cfg(feature = "metrics")]
pub(crate) use on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

/// The metrics, through the `metrics` facade.
#[cfg(feature = "metrics")]
mod on {
    use std::time::{Duration, Instant};

    use super::Outcome;

    const CALLS: &str = "redcache.calls";
    const REDIS_DURATION: &str = "redcache.redis.duration";
    const ERRORS: &str = "redcache.errors";
    const BREAKER_OPEN: &str = "redcache.breaker.open";
    const PENDING: &str = "redcache.invalidations.pending";
    const NEAR_ENTRIES: &str = "redcache.near.entries";

    /// Describes the metrics to the recorder (once per process; the first cache built).
    pub(crate) fn describe() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            metrics::describe_counter!(CALLS, "cached calls, by function and outcome");
            metrics::describe_histogram!(
                REDIS_DURATION,
                metrics::Unit::Seconds,
                "time of each Redis operation sent, by op"
            );
            metrics::describe_counter!(ERRORS, "cache failures absorbed (fail-open), by kind");
            metrics::describe_gauge!(BREAKER_OPEN, "caches whose circuit breaker is open");
            metrics::describe_gauge!(
                PENDING,
                "invalidations (keys, patterns, tags) not yet delivered"
            );
            metrics::describe_gauge!(
                NEAR_ENTRIES,
                "copies held by near caches (as of their last heartbeat)"
            );
        });
    }

    /// One cached call.
    #[inline]
    pub(crate) fn call(function: &'static str, outcome: Outcome) {
        metrics::counter!(CALLS, "function" => function, "outcome" => outcome.as_str())
            .increment(1);
    }

    /// Times one Redis operation.
    #[derive(Debug)]
    pub(crate) struct OpTimer(Instant);

    impl OpTimer {
        #[inline]
        pub(crate) fn start() -> OpTimer {
            OpTimer(Instant::now())
        }

        #[inline]
        pub(crate) fn finish(self, op: &'static str) {
            let elapsed: Duration = self.0.elapsed();
            metrics::histogram!(REDIS_DURATION, "op" => op).record(elapsed.as_secs_f64());
        }
    }

    /// A failure absorbed, of `kind`.
    #[inline]
    pub(crate) fn error(kind: &'static str) {
        metrics::counter!(ERRORS, "kind" => kind).increment(1);
    }

    /// A cache's breaker opened (`true`) or closed.
    pub(crate) fn breaker(open: bool) {
        let gauge = metrics::gauge!(BREAKER_OPEN);
        if open {
            gauge.increment(1.0);
        } else {
            gauge.decrement(1.0);
        }
    }

    /// `added` more invalidation targets pending, `removed` fewer.
    pub(crate) fn pending(added: u64, removed: u64) {
        move_gauge(metrics::gauge!(PENDING), added, removed);
    }

    /// `added` more copies in near caches, `removed` fewer.
    pub(crate) fn near_entries(added: u64, removed: u64) {
        move_gauge(metrics::gauge!(NEAR_ENTRIES), added, removed);
    }

    fn move_gauge(gauge: metrics::Gauge, added: u64, removed: u64) {
        if added > 0 {
            gauge.increment(added as f64);
        }
        if removed > 0 {
            gauge.decrement(removed as f64);
        }
    }
}

/// No metrics: every function is empty.
#[cfg(not(feature = "metrics"))]
mod off {
    use super::Outcome;

    #[inline(always)]
    pub(crate) fn describe() {}

    #[inline(always)]
    pub(crate) fn call(_function: &'static str, _outcome: Outcome) {}

    #[derive(Debug)]
    pub(crate) struct OpTimer;

    impl OpTimer {
        #[inline(always)]
        pub(crate) fn start() -> OpTimer {
            OpTimer
        }

        #[inline(always)]
        pub(crate) fn finish(self, _op: &'static str) {}
    }

    #[inline(always)]
    pub(crate) fn error(_kind: &'static str) {}

    #[inline(always)]
    pub(crate) fn breaker(_open: bool) {}

    #[inline(always)]
    pub(crate) fn pending(_added: u64, _removed: u64) {}

    #[inline(always)]
    pub(crate) fn near_entries(_added: u64, _removed: u64) {}
}
