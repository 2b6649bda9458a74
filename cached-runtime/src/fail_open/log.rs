//! Failure logs that cannot flood: at most one line per interval, and that line says how many
//! were held back.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct LogLimiter {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last line written, plus one (0 = never).
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    pub(crate) fn new() -> Self {
        LogLimiter {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Returns `Some(number held back since the last line)` when a line may be written now.
    pub(crate) fn admit(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last_ms.load(Relaxed);
        if last != 0 && now.saturating_sub(last) < INTERVAL.as_millis() as u64 {
            self.suppressed.fetch_add(1, Relaxed);
            return None;
        }
        if self
            .last_ms
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval() {
        let limiter = LogLimiter::new();
        assert_eq!(limiter.admit(), Some(0));
        assert_eq!(limiter.admit(), None);
        assert_eq!(limiter.admit(), None);
        assert_eq!(limiter.suppressed.load(Relaxed), 2);
    }

    #[test]
    fn a_line_written_by_a_faster_thread_does_not_underflow() {
        // Another thread may read the clock after this one and store its time first.
        let limiter = LogLimiter::new();
        limiter.last_ms.store(u64::MAX / 2, Relaxed);
        assert_eq!(limiter.admit(), None);
    }
}
