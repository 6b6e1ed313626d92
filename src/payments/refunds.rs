//! Refunds whose answer was never recorded are asked for again, with their own key.
//!
//! A refund is journaled as `requested` with its idempotency key before Mercado Pago is
//! asked (`PaymentApplier::refund`). If the process dies before the answer is recorded, or
//! the call fails (API down, token refused), the row stays `requested`. This task finds
//! such rows after a restart and periodically, and repeats the call with the stored key:
//! Mercado Pago answers a repeated key with the first refund, so the money is returned
//! once whatever happened to the first call. Retries back off per refund.
//!
//! A refund asked for by this process within [`IN_FLIGHT`] is left alone: its caller may
//! still be waiting for the answer (asking again would be harmless, only noisy).

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::processor::{PaymentApplier, ProcessError};
use super::{doubling, later};
use crate::journal::{JournalError, Refund};

/// How often the journal is looked at for refunds to retry.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);
/// How long a refund asked for by this process may wait for its own answer.
pub const IN_FLIGHT: Duration = Duration::from_secs(60);
/// First wait after a failed retry; doubles up to [`MAX_GAP`].
const FIRST_GAP: Duration = Duration::from_secs(30);
/// Longest wait between two retries of one refund.
const MAX_GAP: Duration = Duration::from_secs(30 * 60);

/// When a refund is retried next.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    next: Timestamp,
    failures: u32,
}

/// The refund retry task.
pub struct RefundRetrier {
    applier: PaymentApplier,
    started: Timestamp,
    schedules: HashMap<i64, Schedule>,
}

/// True when `refund` is to be retried at `now` by a process started at `started`:
/// left by an earlier run, or asked for long enough ago that its caller gave up.
fn is_abandoned(refund: &Refund, started: Timestamp, now: Timestamp) -> bool {
    refund.created_at < started || later(refund.updated_at, IN_FLIGHT) <= now
}

impl RefundRetrier {
    /// A retrier for a process started at `started`.
    pub fn new(applier: PaymentApplier, started: Timestamp) -> Self {
        Self {
            applier,
            started,
            schedules: HashMap::new(),
        }
    }

    /// Retries at once (what a crash left), then every [`RETRY_INTERVAL`], until
    /// `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.pass(Timestamp::now()).await {
                tracing::warn!(error = %e, "refund retry pass failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RETRY_INTERVAL) => {}
            }
        }
    }

    /// One pass: retries every abandoned refund that is due at `now`.
    pub async fn pass(&mut self, now: Timestamp) -> Result<(), JournalError> {
        let requested = self.applier.journal.requested_refunds().await?;
        self.schedules
            .retain(|id, _| requested.iter().any(|r| r.id == *id));
        for refund in requested {
            if !is_abandoned(&refund, self.started, now)
                || self.schedules.get(&refund.id).is_some_and(|s| now < s.next)
            {
                continue;
            }
            let Ok(payment_id) = refund.payment_id.parse::<i64>() else {
                tracing::warn!(refund = refund.id, payment = %refund.payment_id,
                    "a requested refund names a payment id that is not a number; left for a person");
                continue;
            };
            let result = self
                .applier
                .refund(payment_id, refund.amount, refund.idempotency_key.clone())
                .await;
            match result {
                Ok(done) => {
                    self.schedules.remove(&refund.id);
                    tracing::info!(refund = done.id, payment = payment_id, status = %done.status,
                        "refund left unanswered completed with its own key");
                    if let Err(e) = self.applier.refresh(payment_id).await {
                        tracing::info!(payment = payment_id, error = %e,
                            "could not re-read the refunded payment");
                    }
                }
                Err(e) => {
                    let failures = self.schedules.get(&refund.id).map_or(0, |s| s.failures) + 1;
                    let gap = doubling(FIRST_GAP, failures, MAX_GAP);
                    self.schedules.insert(
                        refund.id,
                        Schedule {
                            next: later(now, gap),
                            failures,
                        },
                    );
                    match e {
                        // Logged once by the client's health state.
                        ProcessError::Credentials(e) => {
                            tracing::debug!(refund = refund.id, error = %e, ?gap, "refund retry refused")
                        }
                        e => tracing::warn!(refund = refund.id, error = %e, ?gap,
                            "refund retry failed; tried again later"),
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refund(created: &str, updated: &str) -> Refund {
        Refund {
            id: 1,
            payment_id: "1319000001".to_owned(),
            amount: None,
            idempotency_key: "S1P1319000001R1".to_owned(),
            mp_refund_id: None,
            status: crate::journal::payments::REFUND_REQUESTED.to_owned(),
            created_at: created.parse().expect("time"),
            updated_at: updated.parse().expect("time"),
        }
    }

    #[test]
    fn refunds_left_by_an_earlier_run_or_long_unanswered_are_retried() {
        let started: Timestamp = "2026-12-03T10:00:00Z".parse().expect("time");
        let at = |s: &str| s.parse::<Timestamp>().expect("time");
        // Left by the run before the restart: retried at once.
        let old = refund("2026-12-03T09:59:59Z", "2026-12-03T09:59:59Z");
        assert!(is_abandoned(&old, started, at("2026-12-03T10:00:00Z")));
        // Asked for by this run: its caller may still be waiting.
        let fresh = refund("2026-12-03T10:05:00Z", "2026-12-03T10:05:00Z");
        assert!(!is_abandoned(&fresh, started, at("2026-12-03T10:05:30Z")));
        assert!(is_abandoned(&fresh, started, at("2026-12-03T10:06:00Z")));
    }

    #[test]
    fn retries_back_off_to_half_an_hour() {
        let gaps: Vec<u64> = (1..=8)
            .map(|n| doubling(FIRST_GAP, n, MAX_GAP).as_secs())
            .collect();
        assert_eq!(gaps, vec![30, 60, 120, 240, 480, 960, 1800, 1800]);
    }
}
