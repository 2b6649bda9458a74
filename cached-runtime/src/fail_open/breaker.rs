//! A circuit breaker in front of a remote store.
//!
//! After `THRESHOLD` consecutive availability failures (timeouts, refused or dropped
//! connections) the breaker opens: calls skip the store and run the body straight away, paying
//! nothing for a Redis that is known to be down. After `cooldown` one call is let through as a
//! probe; if it succeeds the breaker closes, otherwise it stays open for another cooldown. The
//! application never has to do anything for a restarted Redis to be used again.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::telemetry;

const THRESHOLD: u32 = 3;

#[derive(Debug)]
pub(crate) struct Breaker {
    cooldown: Duration,
    epoch: Instant,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `epoch` until which calls skip the store; 0 when closed.
    open_until_ms: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Breaker {
            cooldown,
            epoch: Instant::now(),
            consecutive_failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
        }
    }

    /// Whether a call may use the store now. While open, exactly one caller per cooldown
    /// wins the right to probe.
    pub(crate) fn allow(&self) -> bool {
        let open_until = self.open_until_ms.load(Relaxed);
        if open_until == 0 {
            return true;
        }
        let now = self.now_ms();
        if now < open_until {
            return false;
        }
        // Push the deadline out first so that concurrent callers keep skipping while this
        // caller probes.
        self.open_until_ms
            .compare_exchange(open_until, now + self.cooldown_ms(), Relaxed, Relaxed)
            .is_ok()
    }

    pub(crate) fn record_success(&self) {
        if self.consecutive_failures.load(Relaxed) != 0 {
            self.consecutive_failures.store(0, Relaxed);
        }
        // A swap, so that exactly one caller reports the close.
        if self.open_until_ms.load(Relaxed) != 0 && self.open_until_ms.swap(0, Relaxed) != 0 {
            telemetry::breaker(false);
            tracing::info!(target: "redcache", "cache reachable again; circuit breaker closed");
        }
    }

    /// Records an availability failure; returns true when this failure opened the breaker.
    pub(crate) fn record_failure(&self) -> bool {
        let failures = self.consecutive_failures.fetch_add(1, Relaxed) + 1;
        if failures < THRESHOLD {
            return false;
        }
        let until = self.now_ms() + self.cooldown_ms();
        let opened = self.open_until_ms.swap(until, Relaxed) == 0;
        if opened {
            telemetry::breaker(true);
        }
        opened
    }

    /// Whether the breaker is open (skipping, or letting one probe through).
    pub(crate) fn is_open(&self) -> bool {
        self.open_until_ms.load(Relaxed) != 0
    }

    /// Whether the last `THRESHOLD` or more operations all failed to reach the store.
    pub(crate) fn tripped(&self) -> bool {
        self.consecutive_failures.load(Relaxed) >= THRESHOLD
    }

    fn now_ms(&self) -> u64 {
        // +1 keeps 0 free to mean "closed".
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn cooldown_ms(&self) -> u64 {
        self.cooldown.as_millis().max(1) as u64
    }
}

impl Drop for Breaker {
    /// A dropped cache's open breaker no longer counts (the process-wide gauge).
    fn drop(&mut self) {
        if *self.open_until_ms.get_mut() != 0 {
            telemetry::breaker(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_lets_one_probe_through() {
        let breaker = Breaker::new(Duration::from_millis(30));
        assert!(!breaker.record_failure());
        assert!(!breaker.record_failure());
        assert!(breaker.allow());
        assert!(breaker.record_failure());
        assert!(!breaker.allow());
        assert!(breaker.is_open());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "first caller after the cooldown probes");
        assert!(!breaker.allow(), "others keep skipping while it probes");
        breaker.record_success();
        assert!(!breaker.is_open());
        assert!(breaker.allow());
    }
}
