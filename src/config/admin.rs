//! `[admin]`: who may reach the admin listener and how (host names, TLS, sessions,
//! metrics, the CLI's token file); `[console]`: what the web console warns about;
//! `[shifts]`: who opens and closes a shift.

use std::path::PathBuf;
use std::time::Duration;

/// TLS for the admin listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsSetting {
    /// Open to loopback peers, an identity from anywhere else.
    Loopback,
    /// Always an identity.
    Identity,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admin {
    /// Host names (lowercase, no port) the listener may be reached by, besides its own
    /// address and, on loopback, `localhost`.
    pub allowed_hosts: Vec<String>,
    /// TLS, when both files are configured.
    pub tls: Option<AdminTls>,
    /// A browser session unused this long ends.
    pub session_idle: Duration,
    /// A browser session ends this long after sign-in.
    pub session_absolute: Duration,
    /// Who may read `/metrics`.
    pub metrics: MetricsSetting,
    /// Where the CLI's token is written; `None`: `cli.token` next to the journal.
    pub cli_token_file: Option<PathBuf>,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            tls: None,
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 3600),
            metrics: MetricsSetting::Loopback,
            cli_token_file: None,
        }
    }
}

/// `[console]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Console {
    /// A completed sale unpaid for longer than this is an alert.
    pub unpaid_alert_after: Duration,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            unpaid_alert_after: Duration::from_secs(DEFAULT_UNPAID_ALERT_AFTER_SECS),
        }
    }
}

/// Default of `console.unpaid_alert_after_secs`: long enough for a customer to walk to
/// the counter, short enough that a driver leaving unpaid is noticed.
pub const DEFAULT_UNPAID_ALERT_AFTER_SECS: u64 = 300;
/// `[shifts]`: who may open and close a shift.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shifts {
    /// The least role that opens and closes a shift (a manager always may).
    pub open_close: crate::access::Role,
}

impl Default for Shifts {
    fn default() -> Self {
        Self {
            open_close: crate::access::Role::Attendant,
        }
    }
}
