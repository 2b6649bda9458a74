//! How in-process entries (the memory store, the near cache, the outage cushion) expire: each
//! carries its own [`Deadline`], checked when it is read (the map that holds them, `store`,
//! removes them).
//!
//! moka's per-entry expiry would do the same job, but it runs on every read: two clock
//! conversions and a callback, about 300 instructions of a ~3,400-instruction memory hit
//! (callgrind, `bench/callgrind.sh`). A deadline check is a coarse clock read and a comparison.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// When an entry stops being served.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    /// A reading of the coarse clock before which `at` has surely not passed (see
    /// [`coarse`]).
    #[cfg(target_os = "linux")]
    surely_before: coarsetime::Instant,
}

impl Deadline {
    /// `ttl` from now (a TTL too long to add is as good as forever).
    pub(crate) fn after(ttl: Duration) -> Self {
        Deadline::at(Instant::now(), ttl)
    }

    /// `ttl` from `start`.
    pub(crate) fn at(start: Instant, ttl: Duration) -> Self {
        const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        let at = start + ttl.min(CENTURY);
        Deadline {
            at,
            #[cfg(target_os = "linux")]
            surely_before: coarse::surely_before(at),
        }
    }

    #[inline]
    pub(crate) fn passed(&self) -> bool {
        #[cfg(target_os = "linux")]
        if coarse::now() < self.surely_before {
            return false;
        }
        Instant::now() >= self.at
    }
}

/// A cheaper clock for [`Deadline::passed`], on Linux: `CLOCK_MONOTONIC_COARSE` is
/// `CLOCK_MONOTONIC` (what [`Instant`] reads) as of the last timer tick, so reading it is a
/// load from the vDSO page, where `Instant::now` also reads the CPU's time-stamp counter (on
/// this project's 2-core VM, ~5 ns against ~30 ns: a tenth of an in-process hit's cost over
/// moka's). It lags the exact clock by at most a tick (1 to 10 ms), and runs at its rate.
///
/// So a deadline keeps, besides its exact `Instant`, the coarse reading before which it
/// surely has not passed: the exact time left, less [`SLACK`], from a coarse reading taken
/// with the exact one. Until then a check is one coarse read; in the last `SLACK` of an
/// entry's life (and for TTLs shorter than that), the exact clock decides. An entry is then
/// never served past its deadline as long as the coarse clock lags by less than `SLACK`
/// (a hundred ticks).
#[cfg(target_os = "linux")]
mod coarse {
    use std::time::{Duration, Instant};

    /// Far more than the coarse clock can lag, less than any TTL worth a fast path.
    const SLACK: Duration = Duration::from_secs(1);

    #[inline]
    pub(super) fn now() -> coarsetime::Instant {
        // Not `Instant::now`, which also stores the reading in a global: a write every core
        // would share on every hit.
        coarsetime::Instant::now_without_cache_update()
    }

    pub(super) fn surely_before(deadline: Instant) -> coarsetime::Instant {
        let (exact, coarse) = (Instant::now(), now());
        let left = deadline
            .saturating_duration_since(exact)
            .saturating_sub(SLACK);
        coarse + coarsetime::Duration::from(left)
    }
}

/// An entry with a deadline.
pub(crate) trait Expiring {
    fn deadline(&self) -> Deadline;
}

impl<T: Expiring> Expiring for Arc<T> {
    fn deadline(&self) -> Deadline {
        (**self).deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly at its instant, whichever clock decides: the coarse one early in a long life,
    /// the exact one in its last second and for short TTLs.
    #[test]
    fn a_deadline_passes_at_its_instant() {
        let short = Deadline::after(Duration::from_millis(40));
        let long = Deadline::after(Duration::from_millis(1_100));
        let forever = Deadline::after(Duration::MAX);
        let past = Deadline::at(
            Instant::now() - Duration::from_secs(10),
            Duration::from_secs(5),
        );
        assert!(past.passed(), "a deadline counts from its start");
        assert!(!short.passed() && !long.passed() && !forever.passed());
        std::thread::sleep(Duration::from_millis(60));
        assert!(short.passed());
        assert!(!long.passed(), "1,040 ms left");
        std::thread::sleep(long.at.saturating_duration_since(Instant::now()));
        assert!(long.passed(), "not a tick late");
        assert!(!forever.passed());
    }
}
