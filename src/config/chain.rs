//! `[chain]`: the uplink that publishes the journal's outbox to headquarters' NATS
//! JetStream (docs/chain.md). Absent or `enabled = false`: nothing is published, the
//! outbox keeps filling and is sent once the uplink is configured.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// `[chain]`, when enabled.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Server URL, `nats://host:port` or `tls://host:port`.
    pub nats_url: String,
    /// The station's token in subjects (`forecourt.<store>.<kind>`).
    pub store: String,
    /// The JetStream stream the subjects belong to.
    pub stream: String,
    /// NATS credentials file (user JWT and NKey seed), when the server wants one.
    pub credentials_file: Option<PathBuf>,
    /// PEM CA certificate(s) to trust for the server, besides the system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// Refuse to talk to the server without TLS.
    pub tls_required: bool,
    /// Headquarters' public NKey that signs central price plans; `None`: plans are ignored.
    pub hq_public_key: Option<String>,
    /// Groups whose price plans apply to this station too.
    pub groups: Vec<String>,
    // Uplink monitoring and the simpler NATS authentications (docs/chain.md).
    /// The console alerts once the oldest unsent event is older than this.
    pub backlog_alert_after: Duration,
    /// NKey seed of a server-side NKey user (`nkey_seed_file`).
    pub nkey_seed: Option<Secret>,
    /// User name and password (`user`, `password_file`).
    pub user_password: Option<(String, Secret)>,
}

/// Default of `backlog_alert_after_secs`: a quarter of an hour of events not reaching
/// headquarters is worth a look, a few minutes of a flaky uplink is not.
pub const DEFAULT_BACKLOG_ALERT_AFTER: Duration = Duration::from_secs(15 * 60);

/// Default stream name: one stream for the whole chain, subjects `forecourt.>`.
pub const DEFAULT_STREAM: &str = "FORECOURT";

/// True when `token` is a single NATS subject token fit for a store or stream name:
/// 1 to 32 ASCII letters, digits, `-` or `_`.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 32
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
