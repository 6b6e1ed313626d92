//! Payments: turning Mercado Pago's notifications and searches into paid sales.
//!
//! [`decide`] holds the rules as a pure function; the processing around it reads the
//! payment from the API (never from a notification body), asks the journal, and applies
//! the decision.

pub mod decide;
pub mod pos_sync;
pub mod preference;
pub mod processor;
pub mod reconcile;
pub mod refunds;
pub mod served;

use std::time::Duration;

use jiff::Timestamp;

/// `first`, doubled after each of `failures - 1` earlier tries, capped at `max`.
pub(crate) fn doubling(first: Duration, failures: u32, max: Duration) -> Duration {
    first
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
        .min(max)
}

/// `at` plus `duration` (`at` itself if that does not fit).
pub(crate) fn later(at: Timestamp, duration: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(at)
}
