//! Counters every cache keeps, read with [`Cache::stats`](crate::Cache::stats). Each is bumped
//! at one level: outcomes by the operations (`call`, `invalidate`), absorbed failures by the
//! fail-open policy. Nothing else counts.
//!
//! Outcomes are counted per cached function ([`Cache::function_stats`]
//! (crate::Cache::function_stats)): each `#[cache]` function has a [`CallSite`] (a `static`
//! in its expansion) that gets a small process-wide index on its first call; each cache keeps
//! a table of counters indexed by it ([`FunctionTable`]). Finding a function's counters is
//! two indexed loads, with no lock, hash or string comparison on the call path, and works the
//! same for any number of caches (each has its own table).
//!
//! A call's outcome is counted once, in its function's row (or in the cache's own counters
//! for calls without one, such as the programmatic API's): the cache's totals add the rows up
//! when read. A hit is then one atomic add, not two; on a hot key shared by every core, each
//! add is a cache line moved between them.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A snapshot of a cache's counters since it was built.
///
/// Serializes (`serde`) as a map from field name to count, for a metrics or admin endpoint.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = redcache::Cache::memory();
/// cache.get::<u32>("absent").await;
/// let stats: redcache::Stats = cache.stats();
/// assert_eq!(stats.misses, 1);
/// let json = serde_json::to_value(stats).unwrap();
/// assert_eq!(json["misses"], 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Calls answered from the cache without running the function body.
    pub hits: u64,
    /// Calls that ran the body: the key was absent, undecodable, or the cache was unavailable.
    pub misses: u64,
    /// Cache operations that failed (timeout, connection, server error, garbage). Each one was
    /// absorbed: the caller got the body's value instead.
    pub errors: u64,
    /// Entries that were present but could not be decoded (schema change, foreign data); each
    /// was treated as a miss and overwritten. Also counted in `errors` (as is a key of another
    /// Redis type, which is also replaced).
    pub decode_errors: u64,
    /// Cache operations skipped because the circuit breaker was open (Redis recently failing).
    pub breaker_skips: u64,
    /// Calls answered from the near cache (the in-process copy in front of Redis), with no
    /// network I/O. Also counted in `hits`.
    pub near_hits: u64,
    /// Calls answered, while Redis was unreachable, with a value computed earlier during the
    /// outage and kept in process memory
    /// ([`CacheBuilder::outage_fallback`](crate::CacheBuilder::outage_fallback)). Also counted
    /// in `hits`.
    pub fallback_hits: u64,
    /// Calls answered with the value another concurrent call computed (single-flight), without
    /// running the body. Also counted in `hits`.
    pub coalesced: u64,
    /// Calls answered with a stale value (`stale = ..`) while one caller refreshed it. Also
    /// counted in `hits`.
    pub stale_served: u64,
    /// Body errors replaced by a stale value (`fail_safe = true`).
    pub fail_safe: u64,
    /// Calls that waited for another process's lease (`lock = true`).
    pub lock_waits: u64,
    /// Values written to the cache.
    pub writes: u64,
    /// Values not written because the key changed while the body ran: an invalidation removed
    /// the lease (or the entry being refreshed), or the lease expired.
    pub writes_skipped: u64,
    /// Keys deleted by invalidations.
    pub invalidated: u64,
    /// Values returned but not cached because their encoded size exceeded
    /// [`CacheBuilder::max_value_bytes`](crate::CacheBuilder::max_value_bytes).
    pub too_large: u64,
    /// Keys, patterns and tags of invalidations not yet delivered to Redis (unreachable, slow,
    /// or skipped by the breaker), at the time of the snapshot. They are retried until
    /// delivered; while any is pending, no cached value is served (calls run their bodies).
    pub invalidations_pending: u64,
    /// Keys, patterns and tags of invalidations dropped because too many were pending (more
    /// than 100,000); each drop is logged at `error`.
    pub invalidations_lost: u64,
}

/// What the operations (`call`, `invalidate`) count: the outcomes of calls.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: Striped,
    pub(crate) misses: AtomicU64,
    pub(crate) near_hits: Striped,
    pub(crate) fallback_hits: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) fail_safe: AtomicU64,
    pub(crate) lock_waits: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) writes_skipped: AtomicU64,
    pub(crate) invalidated: AtomicU64,
    pub(crate) too_large: AtomicU64,
}

/// What the fail-open policy counts: every failure it absorbed.
#[derive(Debug, Default)]
pub(crate) struct FailureCounters {
    pub(crate) errors: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) breaker_skips: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

/// A counter that every core may bump at once (hits): one cache line per stripe, and each
/// thread adds to its own, so a hot key read on every core does not move one line between
/// them on every hit. Read by adding the stripes up.
#[derive(Debug, Default)]
pub(crate) struct Striped([Stripe; STRIPES]);

const STRIPES: usize = 8;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe(AtomicU64);

/// Gives each thread its stripe, in turn.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

impl Striped {
    #[inline]
    pub(crate) fn bump(&self) {
        thread_local! {
            static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
        }
        let stripe = STRIPE.try_with(|stripe| *stripe).unwrap_or(0);
        self.0[stripe].0.fetch_add(1, Relaxed);
    }

    pub(crate) fn load(&self) -> u64 {
        self.0.iter().map(|stripe| stripe.0.load(Relaxed)).sum()
    }
}

/// One `#[cache]` function, as its expansion declares it in a `static`: its path, and the
/// index of its counters in every cache's table of counters (`FunctionTable`), given on its first call.
#[derive(Debug)]
pub struct CallSite {
    name: &'static str,
    /// The index plus one; 0 until the first call.
    index: AtomicUsize,
}

/// The next index to give a [`CallSite`] (plus one).
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(1);

impl CallSite {
    /// The function at path `name` (`my_app::users::get_user`).
    pub const fn new(name: &'static str) -> CallSite {
        CallSite {
            name,
            index: AtomicUsize::new(0),
        }
    }

    /// The function's path.
    pub fn name(&self) -> &'static str {
        self.name
    }

    #[inline]
    fn index(&self) -> usize {
        match self.index.load(Relaxed) {
            0 => self.first_index(),
            index => index - 1,
        }
    }

    #[cold]
    fn first_index(&self) -> usize {
        let new = NEXT_INDEX.fetch_add(1, Relaxed);
        match self.index.compare_exchange(0, new, Relaxed, Relaxed) {
            Ok(_) => new - 1,
            // Another thread gave it one first (the index drawn here is left unused).
            Err(given) => given - 1,
        }
    }
}

/// Functions per chunk of a [`FunctionTable`].
const CHUNK: usize = 64;
/// Chunks per table: room for 8,192 cached functions per process.
const CHUNKS: usize = 128;

/// A cache's outcome counters per cached function, indexed by [`CallSite`] index. Chunks
/// are allocated on first use, so a cache used by few functions holds little.
#[derive(Debug)]
pub(crate) struct FunctionTable {
    chunks: Box<[OnceLock<Chunk>]>,
}

/// `CHUNK` functions' counters, each set up on its function's first call.
type Chunk = Box<[OnceLock<Named>]>;

#[derive(Debug)]
struct Named {
    name: &'static str,
    counters: Counters,
}

impl Default for FunctionTable {
    fn default() -> Self {
        FunctionTable {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl FunctionTable {
    /// The counters of the function at `site`; `None` past the table's room (the calls are
    /// then counted in the cache's totals only, and that is logged once).
    #[inline]
    pub(crate) fn counters(&self, site: &'static CallSite) -> Option<&Counters> {
        let index = site.index();
        let Some(chunk) = self.chunks.get(index / CHUNK) else {
            table_full(site);
            return None;
        };
        let chunk = chunk.get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
        let named = chunk[index % CHUNK].get_or_init(|| Named {
            name: site.name,
            counters: Counters::default(),
        });
        Some(&named.counters)
    }

    /// One row per function that ran on this cache, sorted by name. Functions with the same
    /// path (methods of two types in one module) share a row.
    pub(crate) fn rows(&self) -> Vec<(String, Stats)> {
        let mut rows: BTreeMap<&'static str, Stats> = BTreeMap::new();
        for named in self.named() {
            let row = rows.entry(named.name).or_default();
            let counts = outcomes([&named.counters]);
            row.hits += counts.hits;
            row.misses += counts.misses;
            row.coalesced += counts.coalesced;
            row.stale_served += counts.stale_served;
            row.fail_safe += counts.fail_safe;
            row.lock_waits += counts.lock_waits;
            row.writes += counts.writes;
            row.writes_skipped += counts.writes_skipped;
            row.too_large += counts.too_large;
        }
        rows.into_iter()
            .map(|(name, stats)| (name.to_owned(), stats))
            .collect()
    }

    /// Every function's counters.
    pub(crate) fn each(&self) -> impl Iterator<Item = &Counters> {
        self.named().map(|named| &named.counters)
    }

    fn named(&self) -> impl Iterator<Item = &Named> {
        let chunks = self.chunks.iter().filter_map(OnceLock::get);
        chunks.flat_map(|chunk| chunk.iter().filter_map(OnceLock::get))
    }
}

#[cold]
fn table_full(site: &CallSite) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Relaxed) {
        tracing::warn!(
            target: "redcache",
            function = site.name,
            "more than {} cached functions; calls of the others are counted in stats() but have no row in function_stats()",
            CHUNK * CHUNKS
        );
    }
}

/// Where one call counts its outcomes: its function's counters, or the cache's own for a
/// call without a row (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tally<'a> {
    counters: &'a Counters,
}

impl<'a> Tally<'a> {
    pub(crate) fn new(cache: &'a Counters, function: Option<&'a Counters>) -> Self {
        Tally {
            counters: function.unwrap_or(cache),
        }
    }

    /// Bumps one counter.
    #[inline]
    pub(crate) fn bump(self, counter: impl Fn(&Counters) -> &AtomicU64) {
        self.add(counter, 1);
    }

    /// Counts a hit (not a near hit: see [`Tally::near_hit`]).
    #[inline]
    pub(crate) fn hit(self) {
        self.counters.hits.bump();
    }

    /// Counts a near hit, which `hits` includes when read.
    #[inline]
    pub(crate) fn near_hit(self) {
        self.counters.near_hits.bump();
    }

    /// Adds `n` to one counter.
    #[inline]
    pub(crate) fn add(self, counter: impl Fn(&Counters) -> &AtomicU64, n: u64) {
        counter(self.counters).fetch_add(n, Relaxed);
    }
}

/// The outcome counters of `sets` added up (the rest zero).
fn outcomes<'a>(sets: impl IntoIterator<Item = &'a Counters>) -> Stats {
    snapshot(sets, &FailureCounters::default(), 0, 0)
}

/// The public snapshot: the outcome counters of `sets` added up, the failures and the pending
/// invalidations.
pub(crate) fn snapshot<'a>(
    sets: impl IntoIterator<Item = &'a Counters>,
    failures: &FailureCounters,
    invalidations_pending: u64,
    invalidations_lost: u64,
) -> Stats {
    let mut stats = Stats {
        errors: failures.errors.load(Relaxed),
        decode_errors: failures.decode_errors.load(Relaxed),
        breaker_skips: failures.breaker_skips.load(Relaxed),
        invalidations_pending,
        invalidations_lost,
        ..Stats::default()
    };
    for outcomes in sets {
        let near_hits = outcomes.near_hits.load();
        // A near hit bumps `near_hits` alone (one counter on the hottest path).
        stats.hits += outcomes.hits.load() + near_hits;
        stats.near_hits += near_hits;
        stats.misses += outcomes.misses.load(Relaxed);
        stats.fallback_hits += outcomes.fallback_hits.load(Relaxed);
        stats.coalesced += outcomes.coalesced.load(Relaxed);
        stats.stale_served += outcomes.stale_served.load(Relaxed);
        stats.fail_safe += outcomes.fail_safe.load(Relaxed);
        stats.lock_waits += outcomes.lock_waits.load(Relaxed);
        stats.writes += outcomes.writes.load(Relaxed);
        stats.writes_skipped += outcomes.writes_skipped.load(Relaxed);
        stats.invalidated += outcomes.invalidated.load(Relaxed);
        stats.too_large += outcomes.too_large.load(Relaxed);
    }
    stats
}
