//! When a queued delivery is tried again, and when it is given up on.
//!
//! - 2xx ends it: delivered.
//! - A connection error, a timeout, 5xx, or a status listed in
//!   `retry_statuses` (default 408 and 429) is tried again after an
//!   exponential backoff with full jitter — a delay drawn uniformly from
//!   zero to `min(cap, base × 2^(n-1))` after the n-th attempt, so that
//!   deliveries failing together do not come back together — or after the
//!   upstream's `Retry-After` when that is longer.
//! - Any other answer (3xx, 4xx) is a dead letter at once: the upstream
//!   understood the delivery and refused it, and asking again will not help.
//! - After `max_attempts` attempts, or once `max_age` has passed since the
//!   delivery arrived, it is a dead letter too. The last attempt is made at
//!   the `max_age` deadline rather than skipped, unless the upstream asked
//!   to wait beyond it.

use std::time::Duration;

pub const DEFAULT_BASE: Duration = Duration::from_secs(1);
pub const DEFAULT_CAP: Duration = Duration::from_secs(10 * 60);
pub const DEFAULT_MAX_ATTEMPTS: u32 = 50;
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_RETRY_STATUSES: [u16; 2] = [408, 429];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
    pub max_age: Duration,
    /// Statuses below 500 (other than 2xx) that are tried again.
    pub retry_statuses: Vec<u16>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: DEFAULT_BASE,
            cap: DEFAULT_CAP,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_age: DEFAULT_MAX_AGE,
            retry_statuses: DEFAULT_RETRY_STATUSES.to_vec(),
        }
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The upstream answered `status`; `retry_after` if it said so.
    Answered { status: u16, retry_after: Option<Duration> },
    /// No usable answer: refused, reset, timed out.
    Failed,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again at this time (ms since the epoch).
    Retry {
        due_ms: u64,
    },
    Dead {
        reason: String,
    },
}

impl RetryPolicy {
    /// Whether an answer with `status` is worth another attempt.
    pub fn retries_status(&self, status: u16) -> bool {
        status >= 500 || self.retry_statuses.contains(&status)
    }

    /// The next step after attempt number `attempts` (1 for the first) of a
    /// delivery received at `received_ms` (or replayed then: the budget
    /// starts afresh), which ended with `result` at `now_ms`. `random` draws
    /// the jitter: a fraction in `[0, 1)`.
    pub fn decide(
        &self,
        result: &AttemptResult,
        attempts: u32,
        received_ms: u64,
        now_ms: u64,
        random: f64,
    ) -> Decision {
        let retry_after = match result {
            AttemptResult::Answered { status, .. } if (200..300).contains(status) => return Decision::Delivered,
            AttemptResult::Answered { status, .. } if !self.retries_status(*status) => {
                return Decision::Dead {
                    reason: format!("the upstream answered {status}, which is not retried"),
                }
            }
            AttemptResult::Answered { retry_after, .. } => *retry_after,
            AttemptResult::Failed => None,
        };
        if attempts >= self.max_attempts {
            return Decision::Dead {
                reason: format!("gave up after {attempts} attempts (max_attempts)"),
            };
        }
        let deadline = received_ms.saturating_add(millis(self.max_age));
        if now_ms >= deadline {
            return Decision::Dead {
                reason: format!("gave up after {} (max_age)", humantime::format_duration(self.max_age)),
            };
        }
        let ceiling = self.backoff_ceiling(attempts);
        let jittered = (millis(ceiling) as f64 * random.clamp(0.0, 1.0)) as u64;
        match retry_after.map(millis) {
            Some(asked) if now_ms.saturating_add(asked) > deadline => Decision::Dead {
                reason: format!("the upstream asked to wait {asked} ms, past max_age"),
            },
            Some(asked) => Decision::Retry {
                due_ms: now_ms.saturating_add(asked.max(jittered)),
            },
            None => Decision::Retry {
                due_ms: now_ms.saturating_add(jittered).min(deadline),
            },
        }
    }

    /// `min(cap, base × 2^(attempts-1))`.
    pub fn backoff_ceiling(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(40);
        self.base.saturating_mul(1u32 << doublings.min(31)).min(self.cap)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> AttemptResult {
        AttemptResult::Answered {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn success_ends_and_refusals_are_dead_letters_at_once() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(&answered(204), 1, 0, 10, 0.5), Decision::Delivered);
        for status in [301, 400, 401, 404, 409, 422] {
            assert!(
                matches!(policy.decide(&answered(status), 1, 0, 10, 0.5), Decision::Dead { .. }),
                "{status}"
            );
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(policy.decide(&answered(status), 1, 0, 10, 0.5), Decision::Retry { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            policy.decide(&AttemptResult::Failed, 1, 0, 10, 0.5),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn the_delay_is_drawn_below_a_doubling_capped_ceiling() {
        let policy = RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(600),
            max_age: Duration::from_secs(1_000_000),
            ..RetryPolicy::default()
        };
        let ceilings: Vec<u64> = (1..=12).map(|n| policy.backoff_ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(policy.backoff_ceiling(1000).as_secs(), 600, "no overflow");
        let due = |random| match policy.decide(&AttemptResult::Failed, 4, 0, 1_000, random) {
            Decision::Retry { due_ms } => due_ms,
            other => panic!("{other:?}"),
        };
        assert_eq!(due(0.0), 1_000, "full jitter reaches down to no delay");
        assert_eq!(due(0.5), 1_000 + 4_000);
        assert!(due(0.999_999) < 1_000 + 8_000);
    }

    #[test]
    fn retry_after_is_honoured_unless_it_passes_max_age() {
        let policy = RetryPolicy {
            max_age: Duration::from_secs(3600),
            ..RetryPolicy::default()
        };
        let asked = |seconds| AttemptResult::Answered {
            status: 503,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert_eq!(
            policy.decide(&asked(120), 1, 0, 1_000, 0.0),
            Decision::Retry { due_ms: 121_000 }
        );
        assert!(matches!(
            policy.decide(&asked(7200), 1, 0, 1_000, 0.0),
            Decision::Dead { .. }
        ));
    }

    #[test]
    fn attempts_and_age_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_age: Duration::from_secs(60),
            base: Duration::from_secs(100),
            cap: Duration::from_secs(100),
            ..RetryPolicy::default()
        };
        assert!(matches!(
            policy.decide(&AttemptResult::Failed, 3, 0, 10, 0.1),
            Decision::Dead { .. }
        ));
        assert!(matches!(
            policy.decide(&AttemptResult::Failed, 1, 0, 60_000, 0.1),
            Decision::Dead { .. }
        ));
        assert_eq!(
            policy.decide(&AttemptResult::Failed, 1, 0, 30_000, 0.9),
            Decision::Retry { due_ms: 60_000 },
            "the last attempt comes at the deadline, not after it"
        );
    }
}
