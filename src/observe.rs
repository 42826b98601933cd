//! Process-wide measurements that the modem drivers record and `/metrics` exposes.
//!
//! Lock-free fixed-bucket histograms: recording is a couple of atomic adds, so the drivers can
//! record on every message without a thought.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (Prometheus `le`).
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A cumulative histogram of durations.
#[derive(Debug)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            counts: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| seconds <= *le) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// `(le, cumulative count)` per bucket, then the total count and the sum in seconds.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut running = 0;
        let buckets = BUCKETS
            .iter()
            .zip(&self.counts)
            .map(|(le, c)| {
                running += c.load(Ordering::Relaxed);
                (*le, running)
            })
            .collect();
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, count, sum)
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// From the moment a driver learns of an inbound SMS (its URC, or a sweep finding it) until
/// storage confirmed the commit.
pub static INBOUND_LATENCY: Histogram = Histogram::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let h = Histogram::new();
        h.record(Duration::from_micros(500));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(60)); // beyond the last bucket: only in +Inf (count)
        let (buckets, count, sum) = h.snapshot();
        assert_eq!(buckets[0], (0.001, 1));
        assert_eq!(buckets[2], (0.005, 2));
        assert_eq!(buckets.last().unwrap().1, 2);
        assert_eq!(count, 3);
        assert!((sum - 60.0035).abs() < 1e-6, "{sum}");
    }
}
