//! Retrying a round trip that failed on the way (a dead or reset connection, a connect
//! error, a timeout, a 502/503/504, a 429 with a short `Retry-After`) on a fresh connection,
//! with jittered exponential back-off. Sync requests are idempotent (see `docs/protocol.md`),
//! so a request the server applied but whose answer was lost can be sent again.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::Error;

/// How a round trip is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per round trip, the first included (1 means no retry).
    pub attempts: u32,
    /// The wait before the first retry; it doubles for each further one, and each wait is
    /// jittered to between half and one and a half times its value.
    pub first_delay: Duration,
    /// A 429's `Retry-After` up to this long is waited for; a longer one fails at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

/// A failed attempt: fail now, or try again (after the server's `Retry-After` if it gave one).
#[derive(Debug)]
pub(crate) enum Failure {
    /// Not worth retrying (the server refused the request, trust failed, ...).
    Fatal(Error),
    /// The network or an overloaded server; another attempt may succeed.
    Transient {
        /// What went wrong, returned if no attempt is left.
        error: Error,
        /// The server's `Retry-After`, if any.
        after: Option<Duration>,
    },
}

impl Failure {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failure::Fatal(error) | Failure::Transient { error, .. } => error,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Fatal(error)
    }
}

/// The back-off of one sync: the policy and the randomness its jitter draws on.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    rng: StdRng,
    /// Attempts that failed and were retried, over the whole sync.
    pub(crate) retries: u32,
}

impl Backoff {
    /// Back-off under `policy`, jittered from `seed` (passed in, so a test is repeatable).
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        Self {
            policy,
            rng: StdRng::seed_from_u64(seed),
            retries: 0,
        }
    }

    /// The wait before attempt `attempt + 1` (counting from 1) after `failure`, or `None`
    /// when it must not be retried.
    pub(crate) fn delay(&mut self, attempt: u32, failure: &Failure) -> Option<Duration> {
        let Failure::Transient { after, .. } = failure else {
            return None;
        };
        if attempt >= self.policy.attempts {
            return None;
        }
        if let Some(after) = after {
            return (*after <= self.policy.max_retry_after).then_some(*after);
        }
        let doubled = self
            .policy
            .first_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        Some(doubled.mul_f64(self.rng.gen_range(0.5..1.5)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> Failure {
        Failure::Transient {
            error: Error::Network("reset".into()),
            after: None,
        }
    }

    #[test]
    fn waits_double_with_jitter_and_stop_after_the_last_attempt() {
        let mut backoff = Backoff::new(RetryPolicy::default(), 7);
        let waits: Vec<Duration> = (1..=4)
            .map(|n| backoff.delay(n, &transient()).expect("retried"))
            .collect();
        for (n, wait) in waits.iter().enumerate() {
            let base = Duration::from_millis(500) * (1 << n);
            assert!(*wait >= base / 2 && *wait <= base * 3 / 2, "{n}: {wait:?}");
        }
        assert_eq!(backoff.delay(5, &transient()), None, "five attempts in all");
        let again: Vec<Duration> = {
            let mut same = Backoff::new(RetryPolicy::default(), 7);
            (1..=4)
                .filter_map(|n| same.delay(n, &transient()))
                .collect()
        };
        assert_eq!(waits, again, "the jitter comes from the seed passed in");
    }

    #[test]
    fn fatal_failures_and_long_retry_after_are_not_retried() {
        let mut backoff = Backoff::new(RetryPolicy::default(), 1);
        assert_eq!(
            backoff.delay(1, &Failure::Fatal(Error::Unauthenticated)),
            None
        );
        let short = Failure::Transient {
            error: Error::Network("busy".into()),
            after: Some(Duration::from_secs(2)),
        };
        assert_eq!(backoff.delay(1, &short), Some(Duration::from_secs(2)));
        let long = Failure::Transient {
            error: Error::Network("busy".into()),
            after: Some(Duration::from_secs(600)),
        };
        assert_eq!(backoff.delay(1, &long), None);
    }
}
