//! The station's publisher: sends the journal's outbox to headquarters' JetStream stream.
//!
//! Owns the uplink task. It reads the oldest unsent events, publishes them in order on
//! `forecourt.<store>.<kind>` with the event id as `Nats-Msg-Id` (JetStream drops a
//! re-sent duplicate), and marks an event sent only after JetStream's acknowledgement, so
//! a crash or a lost ack re-sends rather than loses. Failures are retried with a capped
//! exponential backoff for as long as it takes (days, if the uplink is down that long).
//!
//! It never stands in the way of selling: it only reads the outbox and marks rows sent
//! through the journal's queue like any caller; the outbox rows are written by the
//! journal itself whether this task runs or not. [`ChainStatus`] shows how it goes on
//! `/api/status` and `/metrics`; the backlog is `Journal::outbox_state`.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

pub use super::status::ChainStatus;

use super::envelope::Envelope;
use super::nats::{connect, NatsSettings};
use super::{pattern_covers, stream_config, subject};
use crate::config::Chain;
use crate::journal::Journal;
use crate::metrics::FailureStage;

/// Events read and published per round; their acks are awaited together.
pub const BATCH: u32 = 256;

/// How long an idle publisher waits before looking at the outbox again.
pub const IDLE_POLL: Duration = Duration::from_millis(250);

/// First wait after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);

/// Longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] super::nats::ConnectError),
    /// The stream is missing and could not be created, or does not take our subjects.
    #[error("JetStream stream {stream}: {reason}")]
    Stream {
        /// The stream.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// A publish or its acknowledgement failed.
    #[error("publishing event {event_id}: {reason}")]
    Publish {
        /// The first event that failed.
        event_id: String,
        /// Why.
        reason: String,
    },
    /// The journal failed.
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
}

impl PublishError {
    /// Where the attempt failed, for the failure counter.
    pub fn stage(&self) -> FailureStage {
        match self {
            PublishError::Connect(_) => FailureStage::Connect,
            PublishError::Stream { .. } => FailureStage::Stream,
            PublishError::Publish { .. } => FailureStage::Publish,
            PublishError::Journal(_) => FailureStage::Journal,
        }
    }
}

/// Capped exponential backoff.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: BACKOFF_MIN }
    }

    fn take(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }
}

/// The publisher task.
pub struct Publisher {
    /// The journal whose outbox is sent.
    pub journal: Journal,
    /// `[chain]`.
    pub settings: Chain,
    /// Shared status.
    pub status: ChainStatus,
}

impl Publisher {
    /// Runs until `shutdown` fires; never returns early, whatever the server does.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return,
                outcome = self.session(&shutdown, &mut backoff) => outcome,
            };
            match outcome {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, stage = e.stage().as_str(),
                        "chain uplink failed; retrying");
                    self.status.failed(e.stage(), e.to_string());
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff.take()) => {}
            }
        }
    }

    /// One connection: connect, check the stream, then publish until an error or shutdown.
    async fn session(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), PublishError> {
        let nats = NatsSettings::from(&self.settings);
        let client = connect(&nats, &format!("forecourtd {}", self.settings.store)).await?;
        let js = jetstream::new(client.clone());
        self.ensure_stream(&js).await?;
        self.status.set_connected(true);
        tracing::info!(url = %self.settings.nats_url, stream = %self.settings.stream,
            "chain uplink connected");
        *backoff = Backoff::new();
        loop {
            let sent = self.round(&js).await?;
            *backoff = Backoff::new();
            // An idle uplink publishes nothing that could fail; the client's own state
            // tells whether the link is up meanwhile.
            let up = client.connection_state() == async_nats::connection::State::Connected;
            self.status.set_connected(up);
            if sent == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        }
    }

    /// Finds the stream (creating it when missing) and checks that it takes our subjects.
    async fn ensure_stream(&self, js: &jetstream::Context) -> Result<(), PublishError> {
        let name = &self.settings.stream;
        let fail = |reason: String| PublishError::Stream {
            stream: name.clone(),
            reason,
        };
        let mut stream = js
            .get_or_create_stream(stream_config(name))
            .await
            .map_err(|e| fail(e.to_string()))?;
        let info = stream.info().await.map_err(|e| fail(e.to_string()))?;
        let ours = format!("forecourt.{}.>", self.settings.store);
        if !info
            .config
            .subjects
            .iter()
            .any(|p| pattern_covers(p, &ours))
        {
            return Err(fail(format!(
                "its subjects {:?} do not take {ours}",
                info.config.subjects
            )));
        }
        Ok(())
    }

    /// Publishes up to [`BATCH`] events and marks the acknowledged ones sent; returns how
    /// many were acknowledged.
    async fn round(&self, js: &jetstream::Context) -> Result<usize, PublishError> {
        let events = self.journal.outbox_unsent(BATCH).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let store = &self.settings.store;
        let mut pending = Vec::with_capacity(events.len());
        let mut failure = None;
        for event in &events {
            let body = match serde_json::to_vec(&Envelope::of(store, event)) {
                Ok(body) => body,
                Err(e) => {
                    failure = Some((event.event_id.clone(), e.to_string()));
                    break;
                }
            };
            let message = PublishMessage::build()
                .payload(body.into())
                .message_id(event.event_id.as_str());
            match js.send_publish(subject(store, &event.kind), message).await {
                Ok(ack) => pending.push((event, ack)),
                Err(e) => {
                    failure = Some((event.event_id.clone(), e.to_string()));
                    break;
                }
            }
        }
        // Acks of one connection arrive in publishing order; an event acknowledged after
        // an earlier one failed is still stored, so it is marked too (its re-send would
        // only be dropped as a duplicate).
        let mut acked = Vec::with_capacity(pending.len());
        for (event, ack) in pending {
            match ack.await {
                Ok(_) => acked.push(event.seq),
                Err(e) => {
                    failure.get_or_insert_with(|| (event.event_id.clone(), e.to_string()));
                }
            }
        }
        let count = acked.len();
        if count > 0 {
            self.journal.outbox_mark_sent(acked).await?;
            self.status
                .acknowledged(u64::try_from(count).unwrap_or(u64::MAX), Timestamp::now());
        }
        match failure {
            Some((event_id, reason)) => Err(PublishError::Publish { event_id, reason }),
            None => Ok(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff::new();
        let waits: Vec<Duration> = (0..10).map(|_| b.take()).collect();
        assert_eq!(waits[0], BACKOFF_MIN);
        assert_eq!(waits[1], BACKOFF_MIN * 2);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().expect("ten waits"), BACKOFF_MAX);
    }
}
