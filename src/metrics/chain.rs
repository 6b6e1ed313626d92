//! The chain uplink's metrics, as the publisher feeds them.
//!
//! The publisher counts what it did (events acknowledged, failed attempts by stage) and
//! says whether it is connected; the handles live in [`ChainMetrics`], owned by the
//! uplink's status and registered by a daemon that runs the uplink. What waits in the
//! outbox is not counted here: it is read from the journal at scrape time
//! ([`super::ScrapeState::outbox`]), so it is right even when the uplink is off.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

/// Where an attempt of the uplink failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureStage {
    /// Reaching or authenticating to the server (TLS, credentials, network).
    Connect,
    /// Finding or creating the stream, or a stream that does not take our subjects.
    Stream,
    /// A publish or its acknowledgement.
    Publish,
    /// Reading the outbox or marking it sent.
    Journal,
}

impl FailureStage {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureStage::Connect => "connect",
            FailureStage::Stream => "stream",
            FailureStage::Publish => "publish",
            FailureStage::Journal => "journal",
        }
    }

    /// Every stage, so each series exists from the start (an alert on an increase needs
    /// the zero before it).
    pub const ALL: [FailureStage; 4] = [
        FailureStage::Connect,
        FailureStage::Stream,
        FailureStage::Publish,
        FailureStage::Journal,
    ];
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StageLabel {
    stage: &'static str,
}

/// The uplink's counters and its connection gauge.
#[derive(Debug, Clone)]
pub struct ChainMetrics {
    pub(super) published: Counter,
    pub(super) failures: Family<StageLabel, Counter>,
    pub(super) connected: Gauge,
}

impl Default for ChainMetrics {
    fn default() -> Self {
        let failures = Family::<StageLabel, Counter>::default();
        for stage in FailureStage::ALL {
            failures.get_or_create_owned(&StageLabel {
                stage: stage.as_str(),
            });
        }
        ChainMetrics {
            published: Counter::default(),
            failures,
            connected: Gauge::default(),
        }
    }
}

impl ChainMetrics {
    /// `n` events were acknowledged by JetStream.
    pub fn published(&self, n: u64) {
        self.published.inc_by(n);
    }

    /// Events acknowledged since the start.
    pub fn published_total(&self) -> u64 {
        self.published.get()
    }

    /// An attempt failed at `stage`.
    pub fn failed(&self, stage: FailureStage) {
        self.failures
            .get_or_create(&StageLabel {
                stage: stage.as_str(),
            })
            .inc();
    }

    /// Failed attempts at `stage` since the start.
    pub fn failures(&self, stage: FailureStage) -> u64 {
        self.failures
            .get(&StageLabel {
                stage: stage.as_str(),
            })
            .map_or(0, |c| c.get())
    }

    /// Whether the publisher is connected now.
    pub fn set_connected(&self, up: bool) {
        self.connected.set(i64::from(up));
    }
}
