//! Pacing: how often something may happen. One log line per interval for a flood of identical
//! problems, capped and jittered delays between reconnection attempts, and a token bucket that
//! slows a burst down instead of dropping it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Lets one log line through per interval and counts the ones it held back, so a flood of identical
/// problems (50 failing asks a second) costs one line a second, not fifty.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogLimiter {
    /// A limiter letting one event through per `interval`.
    pub const fn new(interval: Duration) -> Self {
        LogLimiter {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event should be logged, `n` being how many were suppressed since the last
    /// one logged; `None` when it should be dropped.
    pub fn check(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock();
        match *last {
            Some(t) if now.duration_since(t) < self.interval => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

/// Capped exponential backoff with "equal jitter": each delay is between half and all of the
/// exponential step, so retries from many relays do not synchronise and never exceed the cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// Delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let jitter_ms = fastrand::u64(0..=half.as_millis().max(1) as u64);
        (half + Duration::from_millis(jitter_ms)).min(self.max)
    }

    /// Back to the initial delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A token bucket: `rate` events a second on average, bursts of up to `burst`. Instead of refusing
/// an event it says how long to wait for it, so callers slow down rather than drop anything.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: f64::from(rate_per_second.max(1)),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token; returns how long the caller should wait first (zero if none).
    pub fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_millis(1000));
        let first = b.next_delay();
        assert!((100..=200).contains(&first.as_millis()), "{first:?}");
        let second = b.next_delay();
        assert!((200..=400).contains(&second.as_millis()), "{second:?}");
        // From the fourth attempt on the step is at the cap.
        b.next_delay();
        for _ in 0..50 {
            let d = b.next_delay();
            assert!(
                d <= Duration::from_millis(1000) && d >= Duration::from_millis(500),
                "{d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(200));
    }

    #[test]
    fn limiter_lets_one_through_per_interval() {
        let l = LogLimiter::new(Duration::from_secs(60));
        assert_eq!(l.check(), Some(0));
        assert_eq!(l.check(), None);
        assert_eq!(l.check(), None);
        let l2 = LogLimiter::new(Duration::ZERO);
        assert_eq!(l2.check(), Some(0));
        assert_eq!(l2.check(), Some(0));
    }

    #[test]
    fn token_bucket_allows_the_burst_then_paces() {
        let start = Instant::now();
        let mut b = TokenBucket::new(100, 10);
        for _ in 0..10 {
            assert_eq!(b.take(start), Duration::ZERO);
        }
        // The 11th waits one interval, the 12th two.
        assert_eq!(b.take(start), Duration::from_millis(10));
        assert_eq!(b.take(start), Duration::from_millis(20));
        // Time refills it.
        let later = start + Duration::from_secs(1);
        assert_eq!(b.take(later), Duration::ZERO);
    }
}
