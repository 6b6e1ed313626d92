//! Connecting to NATS the same way on both sides: credentials file, NKey seed or user and
//! password, CA, TLS requirement. The station takes them from `[chain]`, headquarters'
//! tools from the command line ([`NatsArgs`]); both connect through [`connect`].

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

impl From<&crate::config::Chain> for NatsSettings {
    /// The station's own connection: the same settings for the publisher and the price
    /// plan watcher.
    fn from(chain: &crate::config::Chain) -> Self {
        Self {
            url: chain.nats_url.clone(),
            credentials_file: chain.credentials_file.clone(),
            tls_ca_file: chain.tls_ca_file.clone(),
            tls_required: chain.tls_required,
            nkey_seed: chain.nkey_seed.clone(),
            user_password: chain.user_password.clone(),
        }
    }
}

/// How headquarters' tools reach NATS, from their command line: the ways of `[chain]`
/// (at most one of a credentials file, an NKey seed file, a user and password file).
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL (nats://host:port or tls://host:port).
    #[arg(long)]
    pub nats: String,
    /// NATS credentials file.
    #[arg(long, conflicts_with_all = ["nkey_seed_file", "user"])]
    pub credentials: Option<PathBuf>,
    /// PEM CA certificate of the NATS server.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Refuse a NATS connection without TLS.
    #[arg(long)]
    pub tls_required: bool,
    /// File holding the NKey seed of a server-side NKey user.
    #[arg(long, conflicts_with = "user")]
    pub nkey_seed_file: Option<PathBuf>,
    /// NATS user name (with `--password-file`).
    #[arg(long, requires = "password_file")]
    pub user: Option<String>,
    /// File holding the NATS user's password.
    #[arg(long, requires = "user")]
    pub password_file: Option<PathBuf>,
}

impl NatsArgs {
    /// The settings these arguments describe, with the secret files read as the station
    /// reads its own (trimmed; the error names the file, never its content).
    pub fn settings(&self) -> Result<NatsSettings, String> {
        let read = |path: &PathBuf| crate::config::secret::read_file(path).map(|file| file.secret);
        let nkey_seed = self.nkey_seed_file.as_ref().map(read).transpose()?;
        let password = self.password_file.as_ref().map(read).transpose()?;
        Ok(NatsSettings {
            url: self.nats.clone(),
            credentials_file: self.credentials.clone(),
            tls_ca_file: self.tls_ca.clone(),
            tls_required: self.tls_required || self.nats.starts_with("tls://"),
            nkey_seed,
            user_password: self.user.clone().zip(password),
        })
    }
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
    /// The TLS handshake failed: a server without TLS, or a certificate not signed by a
    /// trusted CA.
    #[error(
        "TLS with NATS at {url} failed (does the server speak TLS, and is its certificate \
         signed by tls_ca_file or a system root?): {source}"
    )]
    Tls {
        /// The server.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
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
    let url = settings.url.clone();
    options
        .connect(settings.url.as_str())
        .await
        .map_err(|source| {
            use async_nats::ConnectErrorKind as Kind;
            // rustls reports a plain server's answer as invalid data on the handshake's
            // I/O; a refused or reset connection stays a connection error.
            let tls = match source.kind() {
                Kind::Tls => true,
                Kind::Io => settings.tls_required && invalid_data(&source),
                _ => false,
            };
            if tls {
                ConnectError::Tls { url, source }
            } else {
                ConnectError::Connect { url, source }
            }
        })
}

/// Connects as [`connect`] does, making up to `tries` attempts (at least one), the first
/// two `pause` apart and each next pause twice the one before. For a tool run once: a
/// server restarting or a network hiccup should not fail the run, a wrong setting fails
/// it after a few seconds. An unreadable credentials file fails at once (trying again
/// reads the same file). The error is the last attempt's; each failed attempt before it
/// is logged.
pub async fn connect_with_retries(
    settings: &NatsSettings,
    name: &str,
    tries: u32,
    pause: Duration,
) -> Result<Client, ConnectError> {
    let (mut attempt, mut pause) = (1, pause);
    loop {
        match connect(settings, name).await {
            Ok(client) => return Ok(client),
            Err(e @ ConnectError::Credentials { .. }) => return Err(e),
            Err(e) if attempt >= tries => return Err(e),
            Err(e) => {
                tracing::warn!(attempt, tries, error = %e, ?pause,
                    "NATS connection failed; trying again");
                tokio::time::sleep(pause).await;
                attempt += 1;
                pause = pause.saturating_mul(2);
            }
        }
    }
}

/// True when an I/O error in `error`'s chain is `InvalidData` (what rustls's failures
/// become on the socket).
fn invalid_data(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_not_called_a_tls_failure() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let settings = NatsSettings {
            url: format!("tls://127.0.0.1:{port}"),
            credentials_file: None,
            tls_ca_file: None,
            tls_required: true,
            nkey_seed: None,
            user_password: None,
        };
        match connect(&settings, "test").await {
            Err(ConnectError::Connect { .. }) => {}
            other => panic!("expected a connection error, got {other:?}"),
        }
    }
}
