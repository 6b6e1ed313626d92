//! Headquarters' reference consumer (`forecourtd hq-sink`): loads every station's events
//! from the JetStream stream into PostgreSQL.
//!
//! Owns the PostgreSQL schema of the loaded events ([`SCHEMA`], documented with its
//! queries in docs/chain.md) and the load loop. A durable pull consumer hands out
//! batches; each batch is inserted in one PostgreSQL transaction with
//! `ON CONFLICT (event_id) DO NOTHING`, and only after the commit are the messages
//! acknowledged. A crash between the two redelivers the batch, which then inserts nothing:
//! every event is loaded exactly once whatever is re-sent or redelivered.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

use super::envelope::Envelope;
use super::nats::{connect, NatsArgs, NatsSettings};
use super::stream_config;

/// The tables, created when missing.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS chain_events (
    event_id   text PRIMARY KEY,
    store      text NOT NULL,
    seq        bigint NOT NULL,
    kind       text NOT NULL,
    subject    text NOT NULL,
    created_at timestamptz NOT NULL,
    payload    jsonb NOT NULL,
    stream_seq bigint NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chain_events_store_seq ON chain_events (store, seq);
CREATE INDEX IF NOT EXISTS chain_events_kind ON chain_events (kind, created_at);
CREATE INDEX IF NOT EXISTS chain_events_sale ON chain_events (store, (payload->>'sale'))
    WHERE payload ? 'sale';
"#;

/// Messages fetched per batch (and per PostgreSQL transaction).
pub const BATCH: usize = 256;

/// How long one fetch waits for messages before the loop looks at shutdown again.
const FETCH_WAIT: Duration = Duration::from_secs(1);

/// Where to read from and load into.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// The NATS server.
    pub nats: NatsSettings,
    /// PostgreSQL connection string (`postgres://user@host:port/db` or key=value).
    pub postgres: String,
    /// The stream (created like a station would when missing).
    pub stream: String,
    /// Durable consumer name: a restarted sink resumes where it stopped.
    pub durable: String,
}

/// Why the sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// NATS connection.
    #[error(transparent)]
    Connect(#[from] super::nats::ConnectError),
    /// A JetStream call failed.
    #[error("JetStream: {0}")]
    JetStream(String),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

fn js_err(e: impl std::fmt::Display) -> SinkError {
    SinkError::JetStream(e.to_string())
}

/// Runs until `shutdown` fires or a connection fails (the service manager restarts it).
/// Returns how many events it inserted.
pub async fn run(settings: SinkSettings, shutdown: CancellationToken) -> Result<u64, SinkError> {
    let (mut db, connection) = tokio_postgres::connect(&settings.postgres, NoTls).await?;
    let connection = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "PostgreSQL connection ended");
        }
    });
    db.batch_execute(SCHEMA).await?;

    let client = connect(&settings.nats, "forecourtd hq-sink").await?;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(stream_config(&settings.stream))
        .await
        .map_err(js_err)?;
    let consumer = stream
        .get_or_create_consumer(
            &settings.durable,
            pull::Config {
                durable_name: Some(settings.durable.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                filter_subject: "forecourt.>".to_owned(),
                ..Default::default()
            },
        )
        .await
        .map_err(js_err)?;
    tracing::info!(stream = %settings.stream, durable = %settings.durable, "hq-sink consuming");

    let insert = db
        .prepare(
            "INSERT INTO chain_events
                 (event_id, store, seq, kind, subject, created_at, payload, stream_seq)
             VALUES ($1, $2, $3, $4, $5, CAST($6::text AS timestamptz),
                     CAST($7::text AS jsonb), $8)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .await?;
    let mut loaded = 0u64;
    while !shutdown.is_cancelled() {
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .expires(FETCH_WAIT)
            .messages()
            .await
            .map_err(js_err)?;
        let mut messages = Vec::new();
        while let Some(message) = batch.next().await {
            messages.push(message.map_err(js_err)?);
        }
        if messages.is_empty() {
            continue;
        }
        let tx = db.transaction().await?;
        let mut to_ack = Vec::with_capacity(messages.len());
        for message in &messages {
            let stream_seq = message.info().map_err(js_err)?.stream_sequence;
            let envelope: Envelope = match serde_json::from_slice(&message.payload) {
                Ok(e) => e,
                Err(e) => {
                    // Redelivering it would fail the same way for ever.
                    tracing::error!(stream_seq, error = %e, "not an event envelope; dropped");
                    message.ack_with(AckKind::Term).await.map_err(js_err)?;
                    continue;
                }
            };
            let payload = envelope.payload.to_string();
            let n = tx
                .execute(
                    &insert,
                    &[
                        &envelope.event_id,
                        &envelope.store,
                        &envelope.seq,
                        &envelope.kind,
                        &envelope.subject,
                        &envelope.created_at,
                        &payload,
                        &i64::try_from(stream_seq).unwrap_or(i64::MAX),
                    ],
                )
                .await?;
            loaded += n;
            to_ack.push(message);
        }
        tx.commit().await?;
        for message in to_ack {
            message.ack().await.map_err(js_err)?;
        }
    }
    drop(db);
    connection.abort();
    Ok(loaded)
}

/// `forecourtd hq-sink` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct HqSinkArgs {
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// PostgreSQL connection string.
    #[arg(long)]
    pub postgres: String,
    /// JetStream stream name.
    #[arg(long, default_value = crate::config::chain_default_stream())]
    pub stream: String,
    /// Durable consumer name.
    #[arg(long, default_value = "hq-sink")]
    pub durable: String,
}

impl HqSinkArgs {
    /// The settings these arguments describe, with the secret files read.
    pub fn settings(self) -> Result<SinkSettings, String> {
        Ok(SinkSettings {
            nats: self.nats.settings()?,
            postgres: self.postgres,
            stream: self.stream,
            durable: self.durable,
        })
    }
}
