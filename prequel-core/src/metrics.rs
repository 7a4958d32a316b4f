//! Measurements the engine records for `/metrics` and benchmarks, without a metrics crate.
//!
//! The core only counts; formatting (Prometheus text) belongs to the frontend that serves it
//! (`prequel-web`), so the library stays free of exporters. Everything here is a plain atomic:
//! recording never takes a lock and never waits on a reader, so a hot scheduler path pays a few
//! relaxed additions at most.

use std::sync::atomic::{AtomicU64, Ordering};

/// A histogram of non-negative values (seconds) over fixed upper bounds, recorded lock-free.
///
/// Each observation lands in the first bucket whose bound is at least the value (or in the
/// overflow bucket past the last bound); [`Histogram::snapshot`] adds them up into the
/// cumulative form Prometheus expects. The count is the sum of the buckets, so a snapshot's
/// `+Inf` bucket always equals its count even while other threads record; the sum is a separate
/// atomic and may lag by the observations in flight.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then the overflow bucket; not cumulative.
    buckets: Box<[AtomicU64]>,
    /// The sum of all observations in microseconds (an integer, so it can be an atomic).
    sum_micros: AtomicU64,
}

impl Histogram {
    /// A histogram over `bounds`, upper bounds in seconds in ascending order.
    ///
    /// # Panics
    ///
    /// If `bounds` is not strictly ascending or holds a value that is not finite: a programming
    /// error in a constant, caught by the first test that builds it.
    pub fn new(bounds: &'static [f64]) -> Self {
        assert!(
            bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]),
            "histogram bounds must be finite and strictly ascending"
        );
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one value in seconds. Negative values and NaN count as 0 (a clock that stepped
    /// back must not make a bucket disappear).
    pub fn observe(&self, seconds: f64) {
        let seconds = if seconds.is_nan() {
            0.0
        } else {
            seconds.max(0.0)
        };
        let index = self.bounds.partition_point(|bound| *bound < seconds);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        // `as` saturates: an absurd value cannot wrap the sum.
        self.sum_micros
            .fetch_add((seconds * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// Records a duration (negative durations count as 0).
    pub fn observe_duration(&self, duration: chrono::Duration) {
        let micros = duration.num_microseconds().unwrap_or(i64::MAX);
        self.observe(micros as f64 / 1e6);
    }

    /// The values so far, in cumulative form.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            total += bucket.load(Ordering::Relaxed);
            buckets.push((*bound, total));
        }
        total += self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            buckets,
            count: total,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// A histogram's values at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations at or below it)`, ascending; the `+Inf` bucket is
    /// [`HistogramSnapshot::count`].
    pub buckets: Vec<(f64, u64)>,
    /// All observations.
    pub count: u64,
    /// The sum of all observations, in seconds.
    pub sum: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them_and_add_up() {
        static BOUNDS: [f64; 3] = [0.1, 1.0, 10.0];
        let histogram = Histogram::new(&BOUNDS);
        for value in [0.0, 0.1, 0.5, 1.0, 3.0, 60.0, -2.0, f64::NAN] {
            histogram.observe(value);
        }
        histogram.observe_duration(chrono::Duration::milliseconds(2500));
        let snapshot = histogram.snapshot();
        // ≤0.1: 0, 0.1, -2→0, NaN→0; ≤1: +0.5, 1.0; ≤10: +3.0, 2.5; +Inf: +60.
        assert_eq!(snapshot.buckets, vec![(0.1, 4), (1.0, 6), (10.0, 8)]);
        assert_eq!(snapshot.count, 9);
        assert!((snapshot.sum - 67.1).abs() < 1e-9, "{}", snapshot.sum);
    }

    #[test]
    fn concurrent_observations_are_all_counted() {
        static BOUNDS: [f64; 2] = [1.0, 2.0];
        let histogram = std::sync::Arc::new(Histogram::new(&BOUNDS));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let histogram = histogram.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        histogram.observe(f64::from(i % 3));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no panic");
        }
        let snapshot = histogram.snapshot();
        // Per thread: 334 zeros and 333 ones at or below 1, 333 twos above it.
        assert_eq!(snapshot.buckets, vec![(1.0, 4 * 667), (2.0, 4000)]);
        assert_eq!(snapshot.count, 4000);
    }
}
