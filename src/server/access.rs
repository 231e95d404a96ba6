//! The relay's access token, and slowing down whoever guesses it.
//!
//! One token guards the admin API (when the admin port is reachable from the network) and the
//! gama-server endpoint for tools (when it is). It is compared in constant time. A source address
//! that keeps sending wrong tokens is answered more and more slowly (up to [`MAX_DELAY`]), which
//! makes guessing hopeless without ever locking anyone out: the teacher who mistypes the token is
//! answered at once the first times, and at once again as soon as the right one is given. Each
//! burst of failures is logged once and every failure is counted in `/metrics`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::warn;

use crate::server::metrics::Metrics;

/// Wrong tokens answered at once, from one address, before answers slow down.
const FREE_FAILURES: u32 = 3;
/// The first delay; each further failure doubles it.
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// A source quiet for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Sources tracked at once (the oldest are forgotten first).
const MAX_SOURCES: usize = 4096;

/// The operating system could not give random bits for a token.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot make the admin token: the operating system gave no random bits ({0}); set admin.token \
     (GAMA_VR_RELAY_ADMIN__TOKEN) to a long secret of your own, or keep the admin page, the tool \
     endpoint and the monitor socket on this computer (127.0.0.1)"
)]
pub struct TokenError(String);

/// 128 random bits from the operating system, as 32 hex digits. Without the operating system's
/// randomness there is no token: a guessable one would open the classroom to anyone on its network.
pub fn generate_token() -> Result<String, TokenError> {
    token_from(|bytes| getrandom::fill(bytes).map_err(|e| e.to_string()))
}

/// A token from the random bits `fill` writes.
fn token_from(fill: impl FnOnce(&mut [u8]) -> Result<(), String>) -> Result<String, TokenError> {
    let mut bytes = [0u8; 16];
    fill(&mut bytes).map_err(TokenError)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without an early exit, so timing does not tell how much of a guess was right.
pub fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone, Copy)]
struct Tries {
    failures: u32,
    last: Instant,
}

/// Wrong tokens per source address; cheap to clone.
#[derive(Debug, Clone)]
pub struct Guesses {
    by_source: Arc<Mutex<HashMap<IpAddr, Tries>>>,
    /// When the current burst of failures was logged.
    logged: Arc<Mutex<Option<Instant>>>,
    metrics: Arc<Metrics>,
}

impl Guesses {
    /// No failure yet.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Guesses {
            by_source: Arc::default(),
            logged: Arc::default(),
            metrics,
        }
    }

    /// A wrong or missing token from `source` (`what`: which door, for the log): how long to wait
    /// before answering.
    pub fn failed(&self, source: IpAddr, what: &str) -> Duration {
        let now = Instant::now();
        self.metrics.token_failures.inc();
        let failures = {
            let mut by_source = self.by_source.lock();
            if by_source.len() >= MAX_SOURCES && !by_source.contains_key(&source) {
                by_source.retain(|_, t| now.duration_since(t.last) < FORGET_AFTER);
                if by_source.len() >= MAX_SOURCES {
                    if let Some(oldest) = by_source
                        .iter()
                        .min_by_key(|(_, t)| t.last)
                        .map(|(ip, _)| *ip)
                    {
                        by_source.remove(&oldest);
                    }
                }
            }
            let tries = by_source.entry(source).or_insert(Tries {
                failures: 0,
                last: now,
            });
            if now.duration_since(tries.last) >= FORGET_AFTER {
                tries.failures = 0;
            }
            tries.failures = tries.failures.saturating_add(1);
            tries.last = now;
            tries.failures
        };
        {
            let mut logged = self.logged.lock();
            let quiet = logged.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60));
            if quiet {
                *logged = Some(now);
                warn!(%source, "wrong or missing access token for {what}; answers to that address slow down if it goes on");
            }
        }
        delay_after(failures)
    }

    /// The right token from `source`: it starts afresh.
    pub fn succeeded(&self, source: IpAddr) {
        let mut by_source = self.by_source.lock();
        if !by_source.is_empty() {
            by_source.remove(&source);
        }
    }
}

/// The wait before answering the `failures`-th wrong token in a row.
fn delay_after(failures: u32) -> Duration {
    if failures <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES - 1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_slow_down_per_source_and_recover() {
        let guesses = Guesses::new(Metrics::new());
        let a: IpAddr = "10.0.0.9".parse().unwrap();
        let b: IpAddr = "10.0.0.10".parse().unwrap();
        let delays: Vec<u128> = (0..8)
            .map(|_| guesses.failed(a, "the admin API").as_millis())
            .collect();
        assert_eq!(delays, [0, 0, 0, 250, 500, 1000, 2000, 4000]);
        assert_eq!(guesses.failed(a, "the admin API"), MAX_DELAY);
        // Another device is not slowed down by the guesser.
        assert_eq!(guesses.failed(b, "the admin API"), Duration::ZERO);
        // The right token: the teacher is never locked out.
        guesses.succeeded(a);
        assert_eq!(guesses.failed(a, "the admin API"), Duration::ZERO);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("s3cret", "s3cret"));
        assert!(!same_token("s3cre", "s3cret"));
        assert!(!same_token("s3creT", "s3cret"));
        assert_eq!(generate_token().unwrap().len(), 32);
        assert_ne!(generate_token().unwrap(), generate_token().unwrap());
    }

    #[test]
    fn no_token_without_the_operating_systems_randomness() {
        let failing = token_from(|_| Err("getrandom: unavailable".into()));
        let message = failing
            .expect_err("a token was made without randomness")
            .to_string();
        assert!(message.contains("admin.token"), "{message}");
        let token = token_from(|b| {
            b.fill(0xab);
            Ok(())
        })
        .unwrap();
        assert_eq!(token, "ab".repeat(16));
    }
}
