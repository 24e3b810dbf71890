//! The timing method of `WORKLOADS.md`: warm up, then time single steps for a few seconds and
//! take the median.
//!
//! The median rather than the mean, because a step that the operating system interrupts is
//! slow for reasons that are not the framework's; the minimum would flatter instead. The
//! spread between the fastest and slowest quartile is kept to show how steady a run was.

use std::time::{Duration, Instant};

/// Warm-up takes this share of the measuring time (and at least [`WARM_UP_STEPS`] steps):
/// long enough for thread pools to start, caches and buffers to settle and the CPU clock to
/// ramp up.
const WARM_UP_SHARE: f64 = 0.2;
/// The fewest warm-up steps, however slow a step.
const WARM_UP_STEPS: usize = 2;
/// The fewest timed steps, however slow a step, so that the median means something.
const MIN_STEPS: usize = 5;

/// Step times of one measured case.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The median step time.
    pub median: Duration,
    /// The 25th and 75th percentile step times.
    pub quartiles: (Duration, Duration),
    /// How many steps were timed (warm-up excluded).
    pub steps: usize,
}

impl Timing {
    /// Half the interquartile range relative to the median, in percent: `±x%` in reports.
    pub fn spread_percent(&self) -> f64 {
        let (q1, q3) = self.quartiles;
        50.0 * (q3.as_secs_f64() - q1.as_secs_f64()) / self.median.as_secs_f64()
    }
}

/// Times `step`: warm-up, then timed steps until `seconds` have passed (and at least
/// [`MIN_STEPS`] were taken). `step` must do one whole unit of work per call and keep its
/// result observable (e.g. through [`std::hint::black_box`]).
pub fn measure(seconds: f64, mut step: impl FnMut()) -> Timing {
    let warm_up = Duration::from_secs_f64(seconds * WARM_UP_SHARE);
    let start = Instant::now();
    let mut warm_steps = 0;
    while warm_steps < WARM_UP_STEPS || start.elapsed() < warm_up {
        step();
        warm_steps += 1;
    }

    let budget = Duration::from_secs_f64(seconds);
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_STEPS || start.elapsed() < budget {
        let t = Instant::now();
        step();
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let at = |q: f64| quantile(&times, q);
    Timing { median: at(0.5), quartiles: (at(0.25), at(0.75)), steps: times.len() }
}

/// The median of `times` (which it sorts); zero when there are none.
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    if times.is_empty() {
        Duration::ZERO
    } else {
        quantile(times, 0.5)
    }
}

/// The `q`-quantile of sorted, non-empty `times` (nearest rank).
fn quantile(times: &[Duration], q: f64) -> Duration {
    times[((times.len() - 1) as f64 * q).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_at_least_the_minimum_steps_and_orders_quartiles() {
        let mut calls = 0;
        let timing = measure(0.0, || calls += 1);
        assert_eq!(timing.steps, MIN_STEPS);
        assert_eq!(calls, MIN_STEPS + WARM_UP_STEPS);
        assert!(timing.quartiles.0 <= timing.median && timing.median <= timing.quartiles.1);
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(&mut []), Duration::ZERO);
    }

    #[test]
    fn runs_for_about_the_requested_time() {
        let start = Instant::now();
        let timing = measure(0.05, || std::thread::sleep(Duration::from_millis(1)));
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(timing.median >= Duration::from_millis(1));
    }
}
