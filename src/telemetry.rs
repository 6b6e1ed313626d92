//! Where the logs go: the systemd journal with structured fields when stderr is
//! connected to it, else stderr as text (colours only on a terminal) or JSON lines.
//!
//! systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose stderr goes to the
//! journal; the daemon logs natively to journald only when that pair matches its own
//! stderr (a child started from such a service with another stderr keeps plain text).
//! Native entries keep every tracing field as a journal field (`LINE=`, `POSITION=`,
//! `SALE=` …), so `journalctl -u forecourtd SALE=184` finds one sale's story.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Sets up tracing, filtered by `level` (an `EnvFilter` string; `RUST_LOG` overrides it).
/// Human format goes to the journal when stderr is connected to it; JSON always goes to
/// stderr, for shippers that read it.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        LogFormat::Human if stderr_is_journal() => match tracing_journald::layer() {
            Ok(journald) => tracing_subscriber::registry()
                .with(filter)
                .with(journald.with_syslog_identifier("forecourtd".to_owned()))
                .try_init(),
            Err(e) => {
                eprintln!("cannot log to the journal ({e}); logging to stderr");
                text(filter)
            }
        },
        LogFormat::Human => text(filter),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .json()
            .finish()
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging already set up: {e}");
    }
}

type InitResult = Result<(), tracing_subscriber::util::TryInitError>;

fn text(filter: EnvFilter) -> InitResult {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .finish()
        .try_init()
}

/// True when `JOURNAL_STREAM` names this process's stderr.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some(stream) = stream.to_str() else {
        return false;
    };
    stderr_identity().is_some_and(|(dev, ino)| matches_stream(stream, dev, ino))
}

/// Device and inode of fd 2.
fn stderr_identity() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self/fd/2").ok()?;
    Some((meta.dev(), meta.ino()))
}

/// `JOURNAL_STREAM` is `DEV:INODE` in decimal.
fn matches_stream(stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = stream.split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_name_this_stderr() {
        assert!(matches_stream("8:12345", 8, 12345));
        assert!(!matches_stream("8:12345", 8, 12346));
        assert!(!matches_stream("8-12345", 8, 12345));
        assert!(!matches_stream("", 8, 12345));
    }
}
