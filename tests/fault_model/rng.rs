//! splitmix64: a tiny seedable generator, plenty for picking operations and faults. Written
//! here because the project has no `rand`, and a test needs nothing more.

use std::time::Duration;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed that differs from run to run, for when none is given.
    pub fn seed_from_clock() -> u64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970");
        Rng::new(since_epoch.as_nanos() as u64).next()
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is negligible for the small `n` used here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `low..=high`, to the microsecond.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let spread = (high - low).as_micros() as u64;
        low + Duration::from_micros(self.below(spread + 1))
    }

    /// A generator for another task, drawn from this one: one seed fixes them all.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
}
