//! Connecting to NATS the same way on both sides: credentials file, NKey seed or user and
//! password, CA, TLS requirement.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};

use crate::secret::Secret;

/// How to reach a NATS server.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// `nats://host:port` or `tls://host:port`.
    pub url: String,
    /// Credentials file (JWT and NKey seed).
    pub credentials_file: Option<PathBuf>,
    /// Extra CA to trust (PEM).
    pub tls_ca_file: Option<PathBuf>,
    /// Refuse plain connections.
    pub tls_required: bool,
    /// NKey seed of a server-side NKey user.
    pub nkey_seed: Option<Secret>,
    /// User name and password.
    pub user_password: Option<(String, Secret)>,
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The credentials file is unreadable or malformed.
    #[error("NATS credentials file {}: {source}", path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not be reached or refused us.
    #[error("connecting to NATS at {url}: {source}")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
}

/// How long a JetStream request (publish ack, stream info) may take before it counts as
/// failed and is retried.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects once; afterwards the client reconnects by itself for ever.
pub async fn connect(settings: &NatsSettings, name: &str) -> Result<Client, ConnectError> {
    let mut options = ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(REQUEST_TIMEOUT))
        .max_reconnects(None::<usize>)
        .require_tls(settings.tls_required);
    if let Some(path) = &settings.credentials_file {
        options =
            options
                .credentials_file(path)
                .await
                .map_err(|source| ConnectError::Credentials {
                    path: path.clone(),
                    source,
                })?;
    }
    if let Some(seed) = &settings.nkey_seed {
        options = options.nkey(seed.expose().to_owned());
    }
    if let Some((user, password)) = &settings.user_password {
        options = options.user_and_password(user.clone(), password.expose().to_owned());
    }
    if let Some(ca) = &settings.tls_ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    options
        .connect(settings.url.as_str())
        .await
        .map_err(|source| ConnectError::Connect {
            url: settings.url.clone(),
            source,
        })
}
