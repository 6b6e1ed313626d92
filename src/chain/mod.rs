//! The chain of stations: the journal's outbox streamed to headquarters through NATS
//! JetStream (docs/chain.md).
//!
//! Owns the message format on the wire ([`envelope`]), the stream's shape, the station's
//! [`publisher`] and headquarters' reference consumer ([`hq_sink`]); central prices:
//! the signed plan ([`price_plan`]), the station's watcher ([`price_plans`]) and
//! headquarters' key and publishing tools ([`hq_tools`]). The outbox itself,
//! written with every business change, belongs to the journal (`journal::outbox`).

use std::time::Duration;

use async_nats::jetstream::stream;

pub mod envelope;
pub mod hq_sink;
pub mod hq_tools;
pub mod nats;
pub mod price_plan;
pub mod price_plans;
pub mod publisher;
pub mod status;

/// How long JetStream remembers a message id to drop a re-sent duplicate. A station that
/// re-sends later than this (a long-lost ack) is still loaded once: headquarters' table is
/// keyed by the event id.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The subject of one station's events of one kind.
pub fn subject(store: &str, kind: &str) -> String {
    format!("forecourt.{store}.{kind}")
}

/// The configuration a missing stream is created with: every station's subjects, on
/// disk, de-duplicated over [`DUPLICATE_WINDOW`].
pub fn stream_config(name: &str) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec!["forecourt.>".to_owned()],
        storage: stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// True when NATS subject pattern `pattern` (with `*` and `>` wildcards) matches every
/// subject that `subject` matches; used to check that a stream takes a station's events.
pub fn pattern_covers(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(t)) if t != ">" => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_the_station_subjects() {
        let wanted = "forecourt.29.>";
        assert!(pattern_covers("forecourt.>", wanted));
        assert!(pattern_covers(">", wanted));
        assert!(pattern_covers("forecourt.29.>", wanted));
        assert!(pattern_covers("forecourt.*.>", wanted));
        assert!(!pattern_covers("forecourt.30.>", wanted));
        assert!(!pattern_covers("forecourt.29.sale_paid", wanted));
        assert!(!pattern_covers("forecourt.*.*", wanted));
        assert!(!pattern_covers("other.>", wanted));
    }
}
