//! What the uplink is doing, shared by the publisher with the admin API and `/metrics`.
//!
//! Owns the publisher's view of itself (connected, last error, acknowledgements in this
//! run), its metric handles ([`ChainMetrics`]) and the threshold past which a waiting
//! backlog is an alert. What waits in the outbox is the journal's (`Journal::outbox_state`);
//! [`ChainStatus::to_json`] joins the two for `/api/status`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};

use crate::journal::outbox::Backlog;
use crate::metrics::{ChainMetrics, FailureStage};

#[derive(Debug, Default)]
struct StatusInner {
    connected: bool,
    last_error: Option<String>,
    last_sent_at: Option<Timestamp>,
}

/// The uplink's shared status. Cheap to clone; every clone is the same status.
#[derive(Debug, Clone)]
pub struct ChainStatus {
    inner: Arc<Mutex<StatusInner>>,
    metrics: ChainMetrics,
    backlog_alert_after: Duration,
}

impl Default for ChainStatus {
    fn default() -> Self {
        ChainStatus::new(crate::config::DEFAULT_BACKLOG_ALERT_AFTER)
    }
}

impl ChainStatus {
    /// A disconnected uplink whose backlog is an alert once its oldest event is older
    /// than `backlog_alert_after`.
    pub fn new(backlog_alert_after: Duration) -> Self {
        ChainStatus {
            inner: Arc::default(),
            metrics: ChainMetrics::default(),
            backlog_alert_after,
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut StatusInner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The metric handles, for the daemon's registry.
    pub fn metrics(&self) -> &ChainMetrics {
        &self.metrics
    }

    /// The age past which a waiting backlog is an alert.
    pub fn backlog_alert_after(&self) -> Duration {
        self.backlog_alert_after
    }

    /// Connected (or found disconnected) without error.
    pub fn set_connected(&self, up: bool) {
        self.metrics.set_connected(up);
        self.update(|s| {
            s.connected = up;
            if up {
                s.last_error = None;
            }
        });
    }

    /// An attempt failed at `stage` with `error`: disconnected until the next success.
    pub fn failed(&self, stage: FailureStage, error: String) {
        self.metrics.failed(stage);
        self.metrics.set_connected(false);
        self.update(|s| {
            s.connected = false;
            s.last_error = Some(error);
        });
    }

    /// `count` events were acknowledged at `at`.
    pub fn acknowledged(&self, count: u64, at: Timestamp) {
        self.metrics.published(count);
        self.update(|s| s.last_sent_at = Some(at));
    }

    /// Events acknowledged since the start.
    pub fn sent(&self) -> u64 {
        self.metrics.published_total()
    }

    /// Whether the publisher is connected now.
    pub fn connected(&self) -> bool {
        self.update(|s| s.connected)
    }

    /// `/api/status`'s `chain` object for a configured uplink, with the journal's
    /// `backlog` as of `now` (docs/chain.md "Watching the uplink").
    pub fn to_json(&self, backlog: &Backlog, now: Timestamp) -> Value {
        let s = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest_age = backlog.oldest.map(|t| age(now, t).as_secs());
        json!({
            "configured": true,
            "connected": s.connected,
            "last_error": s.last_error,
            "sent": self.metrics.published_total(),
            "last_sent_at": s.last_sent_at.map(|t| t.to_string()),
            "backlog": backlog.events,
            "oldest_unsent_at": backlog.oldest.map(|t| t.to_string()),
            "oldest_unsent_age_s": oldest_age,
            "last_acked_at": backlog.last_sent_at.map(|t| t.to_string()),
            "backlog_alert_after_s": self.backlog_alert_after.as_secs(),
        })
    }

    /// Why the last attempt failed, until one succeeds.
    pub fn last_error(&self) -> Option<String> {
        self.update(|s| s.last_error.clone())
    }
}

/// `/api/status`'s `chain` object when no uplink is configured: the outbox fills anyway.
pub fn unconfigured_json(backlog: &Backlog, now: Timestamp) -> Value {
    json!({
        "configured": false,
        "connected": false,
        "backlog": backlog.events,
        "oldest_unsent_at": backlog.oldest.map(|t| t.to_string()),
        "oldest_unsent_age_s": backlog.oldest.map(|t| age(now, t).as_secs()),
        "last_acked_at": backlog.last_sent_at.map(|t| t.to_string()),
    })
}

/// How long before `now` the instant `then` was (zero when it is in the future: a clock
/// set back must not make an age negative).
pub fn age(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("in range")
    }

    #[test]
    fn the_status_tells_the_age_of_the_oldest_waiting_event() {
        let status = ChainStatus::new(Duration::from_secs(900));
        let waiting = Backlog {
            events: 3,
            oldest: Some(at(0)),
            last_sent_at: Some(at(-60)),
        };
        let body = status.to_json(&waiting, at(1000));
        assert_eq!(body["backlog"], json!(3));
        assert_eq!(body["oldest_unsent_age_s"], json!(1000));
        assert_eq!(body["backlog_alert_after_s"], json!(900));
        assert_eq!(body["last_acked_at"], json!(at(-60).to_string()));
        let idle = unconfigured_json(&Backlog::default(), at(0));
        assert_eq!(idle["oldest_unsent_age_s"], Value::Null);
        assert_eq!(age(at(0), at(5)), Duration::ZERO, "a clock set back");
    }

    #[test]
    fn failures_disconnect_and_count_by_stage() {
        let status = ChainStatus::default();
        status.set_connected(true);
        assert!(status.connected());
        status.failed(FailureStage::Connect, "authorization violation".to_owned());
        assert!(!status.connected());
        assert_eq!(status.metrics().failures(FailureStage::Connect), 1);
        let body = status.to_json(&Backlog::default(), at(0));
        assert_eq!(body["last_error"], json!("authorization violation"));
        status.acknowledged(4, at(1));
        assert_eq!(status.sent(), 4);
    }
}
