//! How in-process entries (the memory store, the near cache, the outage cushion) expire: each
//! carries its own [`Deadline`], checked when it is read.
//!
//! moka's per-entry expiry would do the same job, but it runs on every read: two clock
//! conversions and a callback, about 300 instructions of a ~3,400-instruction memory hit
//! (callgrind, `bench/callgrind.sh`). A deadline check is one clock read and a comparison.
//!
//! An entry past its deadline is never served, and is removed when a read finds it. Entries
//! nobody reads again are removed by a [`Sweeper`], amortized over the map's inserts, so
//! the memory they hold is given back without a timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use moka::ops::compute::Op;

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

type Map<V> = moka::sync::Cache<String, V, foldhash::fast::RandomState>;

/// Maps smaller than this are not swept: their expired entries hold little memory.
const SWEEP_FROM: u64 = 1024;

/// Removes a map's expired entries once it has had, since the last sweep, half as many
/// inserts as it holds entries (and at least [`SWEEP_FROM`]): a sweep walks the map once, so
/// each insert pays for about two entries' checks. (Half: the count includes the entries
/// inserted since.) The sweep runs on Tokio's blocking pool when there is a runtime (so no
/// call waits for it), else in the inserting thread.
#[derive(Debug, Default)]
pub(crate) struct Sweeper {
    inserts: AtomicU64,
    running: Arc<AtomicBool>,
}

impl Sweeper {
    /// To be called after each insert into `map`.
    pub(crate) fn inserted<V>(&self, map: &Map<V>)
    where
        V: Expiring + Clone + Send + Sync + 'static,
    {
        let inserts = self.inserts.fetch_add(1, Relaxed) + 1;
        if inserts < SWEEP_FROM.max(map.entry_count() / 2) || self.running.swap(true, Relaxed) {
            return;
        }
        self.inserts.store(0, Relaxed);
        let (map, sweeping) = (map.clone(), Sweeping(Arc::clone(&self.running)));
        // The flag is cleared when the closure goes, run or not: a runtime shutting down
        // drops blocking tasks that have not started, and sweeps must not stop for good.
        let sweep = move || {
            let _sweeping = sweeping;
            remove_expired(&map);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(sweep)),
            Err(_) => sweep(),
        }
    }
}

/// Marks a sweep under way while it lives.
struct Sweeping(Arc<AtomicBool>);

impl Drop for Sweeping {
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
}

/// Removes every entry of `map` past its deadline.
pub(crate) fn remove_expired<V>(map: &Map<V>)
where
    V: Expiring + Clone + Send + Sync + 'static,
{
    for (key, entry) in map.iter() {
        if entry.deadline().passed() {
            remove_if_expired(map, &key);
        }
    }
}

/// Removes the entry at `key` if it is past its deadline, through the key's lock: an entry
/// written there meanwhile stays.
pub(crate) fn remove_if_expired<V>(map: &Map<V>, key: &str)
where
    V: Expiring + Clone + Send + Sync + 'static,
{
    map.entry_by_ref(key)
        .and_compute_with(|current| match current {
            Some(current) if current.value().deadline().passed() => Op::Remove,
            _ => Op::Nop,
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Entry(Deadline);

    impl Expiring for Entry {
        fn deadline(&self) -> Deadline {
            self.0
        }
    }

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

    #[test]
    fn inserts_sweep_the_expired_entries_nobody_reads() {
        let map: Map<Entry> = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .build_with_hasher(foldhash::fast::RandomState::default());
        let sweeper = Sweeper::default();
        let gone = Deadline::after(Duration::ZERO);
        for i in 0..SWEEP_FROM {
            map.insert(format!("old:{i}"), Entry(gone));
            sweeper.inserted(&map);
        }
        // The sweep ran in this thread (no runtime): only entries inserted after it are left.
        map.run_pending_tasks();
        assert_eq!(map.entry_count(), 0);

        let live = Deadline::after(Duration::from_secs(60));
        for i in 0..10 {
            map.insert(format!("new:{i}"), Entry(live));
            sweeper.inserted(&map);
        }
        remove_expired(&map);
        map.run_pending_tasks();
        assert_eq!(map.entry_count(), 10, "live entries are kept");
    }

    #[test]
    fn a_sweep_handed_to_an_ending_runtime_does_not_stop_later_sweeps() {
        let map: Map<Entry> =
            moka::sync::Cache::builder().build_with_hasher(foldhash::fast::RandomState::default());
        let sweeper = Sweeper::default();
        let gone = Deadline::after(Duration::ZERO);
        // A runtime whose one blocking thread is busy, so the sweep waits in its queue, and
        // which then shuts down: whether the pool then runs or drops the queued sweep, the
        // flag must be cleared.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)));
            for i in 0..SWEEP_FROM {
                map.insert(format!("a:{i}"), Entry(gone));
                sweeper.inserted(&map);
            }
        });
        runtime.shutdown_timeout(Duration::from_millis(10));
        // The pool's thread gets to the queued sweep once its sleep ends.
        let waited = std::time::Instant::now();
        while sweeper.running.load(Relaxed) {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "the flag stayed set"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // No runtime now: the next sweep runs in this thread.
        for i in 0..2 * SWEEP_FROM {
            map.insert(format!("b:{i}"), Entry(gone));
            sweeper.inserted(&map);
        }
        map.run_pending_tasks();
        assert!(
            map.entry_count() < SWEEP_FROM,
            "swept: {} left",
            map.entry_count()
        );
    }

    #[test]
    fn a_huge_ttl_is_forever_not_a_panic() {
        assert!(!Deadline::after(Duration::MAX).passed());
    }
}
