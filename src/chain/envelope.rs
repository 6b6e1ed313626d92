//! The message body of one event on the wire, as the station publishes it and
//! headquarters loads it (docs/chain.md "Message").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::journal::outbox::{OutboxEvent, PAYLOAD_SCHEMA};

/// One event on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Layout version ([`PAYLOAD_SCHEMA`]).
    pub schema: u32,
    /// Unique event id; also the `Nats-Msg-Id` header.
    pub event_id: String,
    /// The station.
    pub store: String,
    /// The station's order of events.
    pub seq: i64,
    /// What happened.
    pub kind: String,
    /// What it is about (`sale:42`, `position:3`, `action:sale.void`, `station`).
    pub subject: String,
    /// When the change was made (RFC 3339 UTC).
    pub created_at: String,
    /// The event's data; carries `"schema"` too.
    pub payload: Value,
}

impl Envelope {
    /// The envelope of an outbox row of station `store`; the same row always gives the
    /// same bytes, so a re-send is a byte-for-byte duplicate.
    pub fn of(store: &str, event: &OutboxEvent) -> Envelope {
        Envelope {
            schema: PAYLOAD_SCHEMA,
            event_id: event.event_id.clone(),
            store: store.to_owned(),
            seq: event.seq,
            kind: event.kind.clone(),
            subject: event.subject.clone(),
            created_at: event.created_at.to_string(),
            payload: event.payload.clone(),
        }
    }
}
