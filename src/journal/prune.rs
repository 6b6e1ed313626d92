//! Pruning: the journal keeps what the station owes and was paid, and forgets what was
//! only transient.
//!
//! Kept for ever: sales, dispatches, payments, refunds, the POS and the events (the
//! audit trail; its triggers forbid deletion anyway). Pruned: Mercado Pago
//! notifications whose processing ended (`done` or `failed`) and that have not been
//! delivered again since the cutoff. They are only an inbox: their bodies are never
//! trusted, what was decided from them is in `payments` and `events`, and a very late
//! redelivery of a pruned one is simply stored and processed again (processing reads the
//! payment from the API and applies it once). Pending notifications are never pruned.
//! Outbox events acknowledged by headquarters' broker before the cutoff go too; unsent
//! ones stay whatever their age.
//!
//! Freed pages are reused by later writes, so the file stops growing; `forecourtd
//! vacuum` gives them back to the file system.

use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;
use tokio_util::sync::CancellationToken;

use super::error::Result;
use super::row::time_text;
use super::Journal;

/// How often the daemon prunes: a few times a day, so the inbox never holds much more
/// than its configured age, and the first pass comes soon after a start.
pub const PRUNE_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Finished notifications deleted.
    pub notifications: u64,
    /// Sent outbox events deleted.
    pub outbox: u64,
}

/// Deletes finished notifications last delivered before `cutoff`, and outbox events sent
/// before it.
pub fn prune(conn: &Connection, cutoff: Timestamp) -> Result<PruneReport> {
    let deleted = conn.execute(
        "DELETE FROM notifications WHERE state IN ('done', 'failed') AND last_received_at < ?1",
        [time_text(cutoff)],
    )?;
    Ok(PruneReport {
        notifications: u64::try_from(deleted).unwrap_or(u64::MAX),
        outbox: super::outbox::prune_sent(conn, cutoff)?,
    })
}

impl Journal {
    /// Removes transient rows older than `cutoff` (see the module docs for what is kept).
    pub async fn prune(&self, cutoff: Timestamp) -> Result<PruneReport> {
        self.call(move |db| prune(&db.conn, cutoff)).await
    }
}

/// The daemon's pruning schedule: a pass at start, then every [`PRUNE_EVERY`].
pub struct Pruner {
    /// The journal.
    pub journal: Journal,
    /// Transient rows older than this go.
    pub keep: Duration,
}

impl Pruner {
    /// Runs until `shutdown` fires. A failed pass is logged and tried again next time.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let keep =
                jiff::SignedDuration::try_from(self.keep).unwrap_or(jiff::SignedDuration::MAX);
            let cutoff = Timestamp::now().checked_sub(keep).unwrap_or(Timestamp::MIN);
            match self.journal.prune(cutoff).await {
                Ok(report) if report.notifications > 0 || report.outbox > 0 => tracing::info!(
                    notifications = report.notifications,
                    outbox = report.outbox,
                    %cutoff,
                    "pruned finished notifications and sent events"
                ),
                Ok(_) => tracing::debug!(%cutoff, "nothing to prune"),
                Err(e) => tracing::warn!(error = %e, "pruning the journal failed"),
            }
        }
    }
}
