//! Call latencies in a log-linear histogram: 64 buckets per power of two of microseconds
//! (under 2% error), so that a ten-minute soak keeps a fixed, small size.

use std::time::Duration;

const SUB_BUCKETS: usize = 64;
/// Enough powers of two for any `u64` number of microseconds.
const BUCKETS: usize = SUB_BUCKETS * 59;

pub struct Latencies {
    counts: Vec<u64>,
    total: u64,
    max: Duration,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            counts: vec![0; BUCKETS],
            total: 0,
            max: Duration::ZERO,
        }
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.counts[bucket(latency.as_micros() as u64)] += 1;
        self.total += 1;
        self.max = self.max.max(latency);
    }

    pub fn merge(&mut self, other: &Latencies) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// The latency below which `percent` of the calls fell (a bucket's lower bound).
    pub fn percentile(&self, percent: f64) -> Duration {
        let rank = (self.total as f64 * percent / 100.0).ceil() as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank.max(1) {
                return Duration::from_micros(lower_bound(index));
            }
        }
        self.max
    }

    /// How many calls took `limit` or longer (to a bucket's precision).
    pub fn at_least(&self, limit: Duration) -> u64 {
        self.counts[bucket(limit.as_micros() as u64)..].iter().sum()
    }
}

/// Values under 64 get a bucket each; above, each power of two is split in 64.
fn bucket(micros: u64) -> usize {
    if micros < SUB_BUCKETS as u64 {
        return micros as usize;
    }
    let shift = 63 - micros.leading_zeros() as usize - 6;
    SUB_BUCKETS * (shift + 1) + (micros >> shift) as usize - SUB_BUCKETS
}

fn lower_bound(bucket: usize) -> u64 {
    if bucket < SUB_BUCKETS {
        return bucket as u64;
    }
    let shift = bucket / SUB_BUCKETS - 1;
    ((bucket % SUB_BUCKETS + SUB_BUCKETS) as u64) << shift
}

#[test]
fn buckets_hold_their_values_within_two_percent() {
    for micros in (0..100_000).chain([u64::MAX / 3, u64::MAX]) {
        let low = lower_bound(bucket(micros));
        assert!(low <= micros, "{micros} is below its bucket's bound {low}");
        assert!(
            (micros - low) as f64 <= micros as f64 / 50.0,
            "{micros}: {low}"
        );
    }
}
