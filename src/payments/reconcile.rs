//! The reconciler: a lost notification must not lose a sale.
//!
//! For every completed sale still unpaid some time after its completion, it searches
//! payments by the sale's `external_reference` and applies what it finds, exactly as if it
//! had been notified (docs/mercadopago.md §10). Whether the sale was recorded as served does not
//! matter: the answer to the phone and the record of having served it are not one atomic
//! step, so a crash between the two plus a lost notification must still end in a looked-up
//! payment. Searches back off per sale (1, 2, 4 … 30 minutes) and are never repeated
//! within a minute, which Mercado Pago refuses (error 2001).

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::processor::PaymentApplier;
use super::{doubling, later};
use crate::sale::SaleId;

/// How often the reconciler looks for unpaid sales that are due.
const SCAN_INTERVAL: Duration = Duration::from_secs(5);
/// Mercado Pago refuses the same search twice within a minute.
const MIN_GAP: Duration = Duration::from_secs(60);
/// Longest wait between two searches for one sale.
const MAX_GAP: Duration = Duration::from_secs(30 * 60);

/// When a sale is searched next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    next: Timestamp,
    searches: u32,
}

/// The reconciler task.
pub struct Reconciler {
    /// Applies what the search finds.
    pub applier: PaymentApplier,
    /// How long after its completion a sale is searched for the first time.
    pub after: Duration,
    schedules: HashMap<SaleId, Schedule>,
}

impl Reconciler {
    /// A reconciler that first searches a sale `after` it was completed.
    pub fn new(applier: PaymentApplier, after: Duration) -> Self {
        Self {
            applier,
            after,
            schedules: HashMap::new(),
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.pass(Timestamp::now()).await {
                tracing::warn!(error = %e, "reconciliation pass failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SCAN_INTERVAL) => {}
            }
        }
    }

    /// One pass: searches every sale that is due at `now`.
    pub async fn pass(&mut self, now: Timestamp) -> Result<(), super::processor::ProcessError> {
        let journal = self.applier.journal.clone();
        let unpaid = journal.unpaid_sales().await?;
        self.schedules
            .retain(|id, _| unpaid.iter().any(|sale| sale.id == *id));
        for sale in unpaid {
            let first = later(sale.completed_at, self.after);
            let schedule = *self.schedules.entry(sale.id).or_insert(Schedule {
                next: first,
                searches: 0,
            });
            if now < schedule.next {
                continue;
            }
            let found = self
                .applier
                .client
                .search_payments_by_reference(&sale.external_reference)
                .await;
            let searches = schedule.searches + 1;
            let gap = doubling(MIN_GAP, searches, MAX_GAP);
            self.schedules.insert(
                sale.id,
                Schedule {
                    next: later(now, gap),
                    searches,
                },
            );
            match found {
                Ok(search) => {
                    tracing::info!(sale = sale.id, reference = %sale.external_reference,
                        found = search.results.len(), "reconciliation search");
                    for payment in &search.results {
                        self.applier.apply(payment).await?;
                    }
                }
                // A refused token is logged once by the client's health state.
                Err(e) if e.is_credentials() => {
                    tracing::debug!(sale = sale.id, error = %e, ?gap, "reconciliation search refused")
                }
                Err(e) => {
                    tracing::warn!(sale = sale.id, error = %e, ?gap, "reconciliation search failed; retried later")
                }
            }
        }
        Ok(())
    }
}
