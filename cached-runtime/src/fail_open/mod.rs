//! Fail-open: the one place that decides what happens when Redis is down, slow or refusing.
//!
//! # Behavior
//!
//! This is the contract behind "the cache never breaks or stalls the application":
//!
//! * Every Redis operation runs through [`FailOpen::run`]. None is sent any other way.
//! * **Bounded.** An operation takes at most the op timeout. On a live connection redis-rs's
//!   response timeout (set to the op timeout) bounds it; while the connection may be
//!   (re)establishing (before the first success, after any failure to reach Redis) and always
//!   on a cluster (which may be following a topology change), our own timer does too.
//! * **Classified.** A failure is either *unavailable* (timeout, I/O error, refused or dropped
//!   connection, a server still loading or without its master): Redis cannot be reached, and
//!   the breaker hears of it; or an *answer about this key or command* (`WRONGTYPE`, out of
//!   memory, an ACL refusal, a cluster slot in migration): Redis is up, this operation did not
//!   happen, and the breaker counts it as a success.
//! * **Dead connections replaced.** A connection can stop answering without closing (a
//!   vanished host, a hung proxy, a dropped NAT flow); redis-rs keeps it after a timeout. Once
//!   the breaker has tripped, every further failure to reach Redis also drops the connection,
//!   so each probe runs on a fresh one and tells the truth.
//! * **Skipped while the breaker is open.** After three consecutive unavailable failures the
//!   breaker (`breaker.rs`) opens: operations are skipped at once, with no waiting, and one
//!   caller per cooldown probes Redis again, so a restarted Redis is used again with no action.
//! * **Never surfaced.** The caller gets `Err(Failure)` and goes on without the cache: a read
//!   is a miss, a write is not made. Cached functions run their body.
//! * **Counted and logged.** Each failure is counted in `errors` (a skip in `breaker_skips`)
//!   and logged through `tracing` (target `redcache`) at most once per interval (`log.rs`),
//!   with the number of similar failures held back. Failures that are not Redis's (an entry
//!   that does not decode, a value that does not serialize) are absorbed, counted and logged
//!   here too, so every absorbed failure has one path.
//! * **Watched.** Each operation that reaches Redis (an answer, even an error about a key)
//!   marks it reachable, each failure to reach it marks it unreachable; [`FailOpen::reachable`]
//!   and [`FailOpen::breaker_open`] are what `Cache::health` reports, with no round trip.
//! * **No secrets.** Nothing logged here contains a connection string or password: redis-rs's
//!   errors do not echo the URL, and keys are logged only as context.

mod breaker;
mod log;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use redis::RedisError;

use crate::stats::{Counters, FailureCounters};
use crate::telemetry::{self, OpTimer};
use breaker::Breaker;
use log::LogLimiter;

/// Why an operation did not happen. The caller goes on without the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Redis could not be reached in time, or the breaker skipped it.
    Unavailable,
    /// The key holds another Redis type.
    WrongType,
    /// Redis answered with another error about this command (out of memory, a cluster
    /// resharding, an ACL): Redis is up, the operation did not happen.
    Refused,
}

/// The fail-open policy of one cache: its op timeout, breaker and failure log.
#[derive(Debug)]
pub(crate) struct FailOpen {
    op_timeout: Duration,
    /// Whether the connection may be (re)establishing, so operations need our own timer.
    suspect: AtomicBool,
    /// Every operation needs our own timer (Redis Cluster).
    always_timed: bool,
    /// The connection failed too often in a row: the next operation should use a new one.
    replace_connection: AtomicBool,
    /// Whether the last operation reached Redis (true until one fails).
    reachable: AtomicBool,
    /// How many times Redis became reachable again after being unreachable: each outage has
    /// its own number (the outage cushion keeps values per outage).
    recoveries: AtomicU64,
    breaker: Breaker,
    log: LogLimiter,
    failures: FailureCounters,
}

impl FailOpen {
    pub(crate) fn new(
        op_timeout: Duration,
        breaker_cooldown: Duration,
        always_timed: bool,
    ) -> Self {
        FailOpen {
            op_timeout,
            suspect: AtomicBool::new(true),
            always_timed,
            replace_connection: AtomicBool::new(false),
            reachable: AtomicBool::new(true),
            recoveries: AtomicU64::new(0),
            breaker: Breaker::new(breaker_cooldown),
            log: LogLimiter::new(),
            failures: FailureCounters::default(),
        }
    }

    /// What it absorbed.
    pub(crate) fn failures(&self) -> &FailureCounters {
        &self.failures
    }

    pub(crate) fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    /// Whether the last operation reached Redis (it answered, even with an error about a key).
    /// True before the first operation: nothing has failed yet. A skip by the open breaker
    /// leaves it as it was (false: the failures that opened it).
    pub(crate) fn reachable(&self) -> bool {
        self.reachable.load(Relaxed)
    }

    /// Whether the breaker is open: operations are skipped, one probe per cooldown.
    pub(crate) fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }

    fn mark_reachable(&self) {
        // Read first: on the healthy path the flag is already set, and a load keeps the cache
        // line shared between cores.
        if !self.reachable.load(Relaxed) && !self.reachable.swap(true, Relaxed) {
            self.recoveries.fetch_add(1, Relaxed);
        }
    }

    /// The number of the current (or last) outage: it changes as soon as Redis answers after
    /// being unreachable.
    pub(crate) fn recoveries(&self) -> u64 {
        self.recoveries.load(Relaxed)
    }

    /// Runs one Redis operation under the policy above.
    pub(crate) async fn run<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        if !self.breaker.allow() {
            Counters::bump(&self.failures.breaker_skips);
            telemetry::error("breaker_skip");
            return Err(Failure::Unavailable);
        }
        let timer = OpTimer::start();
        // Keeping our own timer off the healthy path is worth ~10% of hit throughput.
        let outcome = if self.suspect.load(Relaxed) || self.always_timed {
            tokio::time::timeout(self.op_timeout, call).await
        } else {
            Ok(call.await)
        };
        timer.finish(op);
        let error = match outcome {
            Ok(Ok(value)) => {
                self.breaker.record_success();
                self.mark_reachable();
                if self.suspect.load(Relaxed) {
                    self.suspect.store(false, Relaxed);
                }
                return Ok(value);
            }
            Ok(Err(error)) => error,
            Err(_elapsed) => RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        };
        Counters::bump(&self.failures.errors);
        if is_unavailable(&error) {
            telemetry::error("unavailable");
            self.suspect.store(true, Relaxed);
            self.reachable.store(false, Relaxed);
            let opened = self.breaker.record_failure();
            if self.breaker.tripped() {
                self.replace_connection.store(true, Relaxed);
            }
            if opened {
                tracing::warn!(
                    target: "redcache",
                    %error,
                    "redis unavailable; circuit breaker open, cached functions run their body until it recovers"
                );
            } else {
                self.redis_failed(op, &error);
            }
            Err(Failure::Unavailable)
        } else {
            // Redis is up and answered; this key or command is the problem.
            self.breaker.record_success();
            self.mark_reachable();
            self.redis_failed(op, &error);
            if error.code() == Some("WRONGTYPE") {
                telemetry::error("wrong_type");
                Err(Failure::WrongType)
            } else {
                telemetry::error("refused");
                Err(Failure::Refused)
            }
        }
    }

    /// Whether the connection should be replaced (see "Dead connections replaced"); asking
    /// clears the request.
    pub(crate) fn take_connection_replacement(&self) -> bool {
        self.replace_connection.load(Relaxed) && self.replace_connection.swap(false, Relaxed)
    }

    fn redis_failed(&self, op: &str, error: &RedisError) {
        self.absorbed(
            "cache operation failed; the function body ran instead",
            op,
            error,
        );
    }

    /// An entry that does not decode: treated as a miss and overwritten.
    pub(crate) fn decode_failed(&self, key: &str, error: &dyn fmt::Display) {
        Counters::bump(&self.failures.errors);
        Counters::bump(&self.failures.decode_errors);
        telemetry::error("decode");
        self.absorbed(
            "cached entry does not decode; treated as a miss and overwritten",
            key,
            error,
        );
    }

    /// A value that does not serialize: returned to the caller, not cached.
    pub(crate) fn encode_failed(&self, key: &str, error: &serde_json::Error) {
        Counters::bump(&self.failures.errors);
        telemetry::error("encode");
        self.absorbed(
            "value does not serialize to JSON; returned but not cached",
            key,
            error,
        );
    }

    /// A value larger than `max_value_bytes`: returned to the caller, not cached.
    pub(crate) fn too_large(&self, key: &str, bytes: usize, limit: usize) {
        telemetry::error("too_large");
        self.absorbed(
            "value larger than max_value_bytes; returned but not cached",
            key,
            &format_args!("{bytes} bytes, limit {limit}"),
        );
    }

    /// A key given to the programmatic API that it refuses (see `api`): nothing is read,
    /// written or deleted.
    pub(crate) fn bad_key(&self, key: &str, why: &str) {
        Counters::bump(&self.failures.errors);
        telemetry::error("bad_key");
        self.absorbed("key refused; the cache was not used", key, &why);
    }

    /// A body error answered with the stale value (`fail_safe`).
    pub(crate) fn body_failed(&self, key: &str) {
        self.absorbed(
            "the function failed; answered with the stale value (fail_safe)",
            key,
            &"body returned an error",
        );
    }

    /// An invalidation that could not be delivered now: kept and retried (`pending`).
    pub(crate) fn invalidation_kept(&self, kept: u64) {
        self.absorbed(
            "invalidation not delivered; kept and retried, and no cached value is served until it is",
            "keys, patterns and tags kept",
            &kept,
        );
    }

    /// An invalidation dropped because too many are pending: logged at `error`, as entries it
    /// would have deleted may be served by other processes until they expire.
    pub(crate) fn invalidation_lost(&self, lost: u64, bound: u64) {
        telemetry::error("invalidation_lost");
        if let Some(held_back) = self.log.admit() {
            tracing::error!(
                target: "redcache",
                lost,
                bound,
                similar_failures_not_logged = held_back,
                "too many undelivered invalidations; this one is dropped, and other processes may serve what it would have deleted until it expires"
            );
        }
    }

    /// Logs a failure the caller did not see, at most one line per interval.
    fn absorbed(&self, what: &str, context: &str, error: &dyn fmt::Display) {
        if let Some(held_back) = self.log.admit() {
            tracing::warn!(
                target: "redcache",
                context,
                %error,
                similar_failures_not_logged = held_back,
                "{what}"
            );
        }
    }
}

/// Whether an error says Redis is unreachable or unresponsive (counts toward the breaker), as
/// opposed to a bad answer about one key (a wrong type, out of memory), which does not.
fn is_unavailable(error: &RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown)
        )
}
