//! `forecourtd replay FILE`: a field capture (docs/captures.md) fed offline to the
//! protocol master that heard it, printing the bytes, events and state changes it
//! produces.
//!
//! The master is rebuilt from the capture's header ([`crate::capture::header`]) by the
//! same [`crate::protocols::build_master`] the daemon uses; the replay itself is
//! `pump_protocols::capture::replay`. Nothing here opens a port or reads a clock.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use pump_protocols::capture::{self, Capture, ReplayItem};
use pump_protocols::PumpEventKind;

use crate::capture::header::{line_from, HeaderError};
use crate::config::{Line, Protocol};
use crate::protocols::build_master;

/// Arguments of `forecourtd replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The capture file.
    pub file: PathBuf,
    /// The protocol to replay with, instead of the one the capture's header names.
    #[arg(long, value_parser = ["dart", "gilbarco"])]
    pub protocol: Option<String>,
}

/// Why a capture cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a capture.
    #[error(transparent)]
    Format(#[from] capture::CaptureError),
    /// The header does not describe a line.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The header's line cannot make a master.
    #[error("the capture's line cannot be replayed: {0}")]
    Master(String),
}

/// A replayed capture.
#[derive(Debug)]
pub struct Replayed {
    /// The parsed file.
    pub capture: Capture,
    /// The line rebuilt from its header.
    pub line: Line,
    /// What the master did.
    pub items: Vec<ReplayItem>,
}

impl Replayed {
    /// Sent records the master did not reproduce.
    pub fn divergences(&self) -> usize {
        self.items.iter().filter(|i| i.is_divergence()).count()
    }

    /// The completed transactions the master reported.
    pub fn sales(&self) -> Vec<&pump_protocols::CompletedTransaction> {
        self.items
            .iter()
            .filter_map(|i| match i {
                ReplayItem::Event { event, .. } => match &event.kind {
                    PumpEventKind::TransactionCompleted(t) => Some(t),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
}

/// Replays the capture text; `protocol` overrides the header's.
pub fn replay_text(text: &str, protocol: Option<Protocol>) -> Result<Replayed, ReplayError> {
    let capture = capture::parse(text)?;
    let line = line_from(&capture, protocol)?;
    let mut master = build_master(&line).map_err(|e| ReplayError::Master(format!("{e:#}")))?;
    let items = capture::replay(master.as_mut(), &capture.records, Instant::now());
    Ok(Replayed {
        capture,
        line,
        items,
    })
}

/// Replays the capture in `path`.
pub fn replay_file(path: &Path, protocol: Option<Protocol>) -> Result<Replayed, ReplayError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Read {
        path: path.to_owned(),
        source,
    })?;
    replay_text(&text, protocol)
}

/// `forecourtd replay`.
pub fn run(args: ReplayArgs) -> ExitCode {
    let protocol = match args.protocol.as_deref() {
        Some("gilbarco") => Some(Protocol::Gilbarco),
        Some(_) => Some(Protocol::Dart),
        None => None,
    };
    let replayed = match replay_file(&args.file, protocol) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::FAILURE;
        }
    };
    let line = &replayed.line;
    println!(
        "capture of line {} ({}, {} baud), {} pump(s), {} record(s)",
        line.name,
        line.protocol.as_str(),
        line.baud,
        line.pumps.len(),
        replayed.capture.records.len()
    );
    for note in &replayed.capture.notes {
        println!("# {note}");
    }
    for item in &replayed.items {
        println!("{item}");
    }
    let sent = replayed
        .items
        .iter()
        .filter(|i| matches!(i, ReplayItem::Sent { .. }))
        .count();
    println!(
        "{sent} write(s) in the capture, {} reproduced by the master, {} different; {} sale(s)",
        sent - replayed.divergences(),
        replayed.divergences(),
        replayed.sales().len()
    );
    if replayed.capture.dropped() > 0 {
        println!(
            "the recorder lost {} record(s): the replay has gaps there",
            replayed.capture.dropped()
        );
    }
    ExitCode::SUCCESS
}
