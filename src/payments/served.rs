//! Which sales the order endpoint has served, recorded once per sale and never per scan.
//!
//! The order endpoint answers from memory and must not wait on (or write to) the journal
//! for each scan: a phone polls, and a busy station is scanned many times a minute. So the
//! endpoint only tells a [`ServedTracker`], which keeps in memory the set of sales already
//! marked served (loaded from the journal at start) and a count of scans per sale:
//!
//! - the first serving of a sale wakes the writer task, which journals it at once
//!   (`first_served_at` and one `sale_served` event);
//! - later servings only bump the in-memory count, written every [`COUNT_FLUSH`] and at
//!   shutdown, in one transaction for all sales.
//!
//! A crash may lose a count, or even a first serving not yet written; neither decides
//! anything: the reconciler searches every unpaid sale, served or not.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::journal::{Journal, JournalError, ServedTally};
use crate::sale::SaleId;

/// How often counts of repeated servings are written.
pub const COUNT_FLUSH: Duration = Duration::from_secs(60);

/// What is not yet in the journal.
#[derive(Debug, Default)]
struct Tallies {
    /// Sales whose first serving is journaled or about to be.
    known: HashSet<SaleId>,
    /// First servings not yet written.
    firsts: HashMap<SaleId, Timestamp>,
    /// Servings not yet written, first ones included.
    counts: HashMap<SaleId, u32>,
}

impl Tallies {
    /// Counts one serving; true when it is the sale's first.
    fn record(&mut self, sale: SaleId, at: Timestamp) -> bool {
        *self.counts.entry(sale).or_insert(0) += 1;
        let first = self.known.insert(sale);
        if first {
            self.firsts.insert(sale, at);
        }
        first
    }

    /// Takes what is to be written: the first servings (with their counts) and, when
    /// `all`, every other count too.
    fn take(&mut self, all: bool) -> Vec<ServedTally> {
        let mut out: Vec<ServedTally> = self
            .firsts
            .drain()
            .map(|(sale, at)| ServedTally {
                sale,
                count: self.counts.remove(&sale).unwrap_or(0),
                first_at: Some(at),
            })
            .collect();
        if all {
            out.extend(self.counts.drain().map(|(sale, count)| ServedTally {
                sale,
                count,
                first_at: None,
            }));
        }
        out.sort_by_key(|t| t.sale);
        out
    }

    /// Puts back tallies whose write failed, merged with what came in meanwhile.
    fn restore(&mut self, tallies: Vec<ServedTally>) {
        for tally in tallies {
            *self.counts.entry(tally.sale).or_insert(0) += tally.count;
            if let Some(at) = tally.first_at {
                let first = self.firsts.entry(tally.sale).or_insert(at);
                *first = (*first).min(at);
            }
        }
    }
}

/// Counts servings of sales by the order endpoint; see the module docs. Cheap to clone.
#[derive(Clone)]
pub struct ServedTracker {
    inner: Arc<Inner>,
}

struct Inner {
    tallies: Mutex<Tallies>,
    first_served: Notify,
    journal: Journal,
}

impl ServedTracker {
    /// A tracker that knows every payable sale the journal records as served.
    pub async fn load(journal: Journal) -> Result<ServedTracker, JournalError> {
        let known = journal.served_unpaid_sales().await?.into_iter().collect();
        Ok(ServedTracker {
            inner: Arc::new(Inner {
                tallies: Mutex::new(Tallies {
                    known,
                    ..Tallies::default()
                }),
                first_served: Notify::new(),
                journal,
            }),
        })
    }

    /// The order endpoint served `sale` at `at`. Never waits: a short lock, no I/O.
    pub fn record(&self, sale: SaleId, at: Timestamp) {
        let first = self.lock().record(sale, at);
        if first {
            self.inner.first_served.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tallies> {
        // The sections hold no await and cannot leave the maps half-changed.
        self.inner
            .tallies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what is pending: first servings always, the other counts when `all`.
    pub async fn flush(&self, all: bool) -> Result<(), JournalError> {
        let tallies = self.lock().take(all);
        if tallies.is_empty() {
            return Ok(());
        }
        match self.inner.journal.record_served(tallies.clone()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.lock().restore(tallies);
                Err(e)
            }
        }
    }

    /// Forgets sales that are no longer payable (they cannot be served again), so the
    /// set stays as small as the list of unpaid sales.
    async fn prune(&self) -> Result<(), JournalError> {
        let payable: HashSet<SaleId> = self
            .inner
            .journal
            .unpaid_sales()
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let mut tallies = self.lock();
        let Tallies {
            known,
            firsts,
            counts,
        } = &mut *tallies;
        known.retain(|id| {
            payable.contains(id) || firsts.contains_key(id) || counts.contains_key(id)
        });
        Ok(())
    }

    /// Writes first servings as they come and counts every [`COUNT_FLUSH`], until
    /// `shutdown`; then writes everything left. Run it after the listeners have drained,
    /// so the last count is complete.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(COUNT_FLUSH);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let all = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.first_served.notified() => false,
                _ = ticker.tick() => true,
            };
            if let Err(e) = self.flush(all).await {
                tracing::warn!(error = %e, "could not record served sales; retried later");
            } else if all {
                if let Err(e) = self.prune().await {
                    tracing::debug!(error = %e, "could not prune the served set");
                }
            }
        }
        if let Err(e) = self.flush(true).await {
            tracing::warn!(error = %e, "could not record the last served counts");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn only_the_first_serving_of_a_sale_is_a_first() {
        let mut t = Tallies::default();
        assert!(t.record(1, ts("2026-11-22T13:00:00Z")));
        assert!(!t.record(1, ts("2026-11-22T13:00:05Z")));
        assert!(t.record(2, ts("2026-11-22T13:00:06Z")));
        let firsts = t.take(false);
        assert_eq!(
            firsts,
            vec![
                ServedTally {
                    sale: 1,
                    count: 2,
                    first_at: Some(ts("2026-11-22T13:00:00Z"))
                },
                ServedTally {
                    sale: 2,
                    count: 1,
                    first_at: Some(ts("2026-11-22T13:00:06Z"))
                },
            ]
        );
        // Later scans are counts only, written with the periodic flush.
        assert!(!t.record(1, ts("2026-11-22T13:01:00Z")));
        assert!(t.take(false).is_empty());
        assert_eq!(
            t.take(true),
            vec![ServedTally {
                sale: 1,
                count: 1,
                first_at: None
            }]
        );
        assert!(t.take(true).is_empty());
    }

    #[test]
    fn a_failed_write_is_kept_for_the_next_one() {
        let mut t = Tallies::default();
        t.record(7, ts("2026-11-22T13:00:00Z"));
        let lost = t.take(true);
        t.record(7, ts("2026-11-22T13:00:09Z"));
        t.restore(lost);
        assert_eq!(
            t.take(true),
            vec![ServedTally {
                sale: 7,
                count: 2,
                first_at: Some(ts("2026-11-22T13:00:00Z"))
            }]
        );
    }

    #[test]
    fn sales_served_before_a_restart_are_not_firsts_again() {
        let mut t = Tallies {
            known: [3].into_iter().collect(),
            ..Tallies::default()
        };
        assert!(!t.record(3, ts("2026-11-22T13:00:00Z")));
        assert_eq!(
            t.take(true),
            vec![ServedTally {
                sale: 3,
                count: 1,
                first_at: None
            }]
        );
    }
}
