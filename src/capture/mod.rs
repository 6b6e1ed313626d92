//! Field captures: every byte a line sends and receives, with its time and direction, in
//! the text format of docs/captures.md (parsed by `pump_protocols::capture`).
//!
//! This module owns the on/off switch of each line's capture ([`CaptureTap`]), the
//! registry the admin API reaches them through ([`Captures`]) and the header that makes a
//! capture replayable ([`header`]). The line task only calls [`CaptureTap::record`]: an
//! atomic check when the capture is off, and when it is on a timestamp and a `try_send`
//! to the line's writer thread ([`writer`]). Nothing on the poll loop waits for a disk: a
//! writer that falls behind loses records, counted and noted in the file.

pub mod header;
pub mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use pump_protocols::capture::{Direction, Record, RecordKind};
use pump_protocols::{BusAddress, PumpCommand};
use serde_json::{json, Value};

use self::writer::{Writer, WriterStats};
use crate::config::{CaptureSettings, Line};

/// Records waiting for the writer before new ones are dropped: several seconds of a busy
/// line (a DART poll cycle is a few records every 30 ms).
const QUEUE: usize = 4096;

/// Why a capture cannot start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// One is running already.
    #[error("a capture of line {0} is already running")]
    Running(String),
    /// The file cannot be opened or the writer started.
    #[error("cannot start the capture {path}: {source}")]
    Io {
        /// The capture file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The running capture (if any) and the figures of the latest one, kept after it stops.
#[derive(Default)]
struct Recorder {
    running: Option<(SyncSender<Record>, JoinHandle<()>)>,
    latest: Option<(CaptureSettings, Arc<WriterStats>)>,
}

/// One line's capture switch, shared by its line task and the admin API.
pub struct CaptureTap {
    line: String,
    header: String,
    on: AtomicBool,
    recorder: Mutex<Recorder>,
}

impl CaptureTap {
    /// The switch of `line`, off.
    pub fn new(line: &Line) -> Arc<CaptureTap> {
        Arc::new(CaptureTap {
            line: line.name.clone(),
            header: header::header(line),
            on: AtomicBool::new(false),
            recorder: Mutex::new(Recorder::default()),
        })
    }

    /// A switch that is never turned on (tests of the line task, tools).
    pub fn disabled(line: &str) -> Arc<CaptureTap> {
        Arc::new(CaptureTap {
            line: line.to_owned(),
            header: String::new(),
            on: AtomicBool::new(false),
            recorder: Mutex::new(Recorder::default()),
        })
    }

    /// Records a chunk the line wrote or read, if a capture is on. Never waits.
    pub fn record(&self, direction: Direction, bytes: &[u8]) {
        if !self.on.load(Ordering::Relaxed) || bytes.is_empty() {
            return;
        }
        self.push(RecordKind::Bytes {
            direction,
            bytes: bytes.to_vec(),
        });
    }

    /// Records a command handed to the line's master, if a capture is on. Never waits.
    pub fn command(&self, pump: BusAddress, command: &PumpCommand) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        self.push(RecordKind::Command {
            pump,
            command: command.clone(),
        });
    }

    fn push(&self, kind: RecordKind) {
        let record = Record {
            at_micros: jiff::Timestamp::now().as_microsecond(),
            kind,
        };
        let guard = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some((chunks, _)), Some((_, stats))) = (&guard.running, &guard.latest) {
            match chunks.try_send(record) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
                // The writer gave up (a disk error, logged there): the capture is over.
                Err(TrySendError::Disconnected(_)) => self.on.store(false, Ordering::Relaxed),
            }
        }
    }

    /// Starts a capture into `settings.path`; `why` goes into the header.
    pub fn start(&self, settings: CaptureSettings, why: &str) -> Result<(), CaptureError> {
        let mut guard = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
        if guard
            .running
            .as_ref()
            .is_some_and(|(_, thread)| !thread.is_finished())
        {
            return Err(CaptureError::Running(self.line.clone()));
        }
        let io = |source| CaptureError::Io {
            path: settings.path.clone(),
            source,
        };
        let stats = Arc::new(WriterStats::default());
        let note = format!(
            "started at={} by={}",
            jiff::Timestamp::now(),
            why.replace(char::is_whitespace, "_")
        );
        let writer = Writer::open(settings.clone(), self.header.clone(), &note, stats.clone())
            .map_err(io)?;
        let (chunks, received) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("capture {}", self.line))
            .spawn(move || writer.run(received))
            .map_err(io)?;
        tracing::info!(line = %self.line, path = %settings.path.display(), "capture started");
        guard.running = Some((chunks, thread));
        guard.latest = Some((settings, stats));
        self.on.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stops the capture, if one runs; the returned thread ends once it has flushed the
    /// file (join it off the async workers).
    pub fn stop(&self) -> Option<JoinHandle<()>> {
        self.on.store(false, Ordering::Relaxed);
        let (chunks, thread) = self
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .running
            .take()?;
        tracing::info!(line = %self.line, "capture stopped");
        // Dropping the sender ends the writer's loop.
        drop(chunks);
        Some(thread)
    }

    /// The state of the running (or latest) capture, for the admin API.
    pub fn status(&self) -> Value {
        let guard = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
        let capturing = self.on.load(Ordering::Relaxed)
            && guard
                .running
                .as_ref()
                .is_some_and(|(_, thread)| !thread.is_finished());
        match guard.latest.as_ref() {
            None => json!({ "line": self.line, "capturing": false }),
            Some((settings, stats)) => json!({
                "line": self.line,
                "capturing": capturing,
                "path": settings.path.display().to_string(),
                "max_bytes": settings.max_bytes,
                "keep": settings.keep,
                "file_bytes": stats.file_bytes.load(Ordering::Relaxed),
                "records": stats.records.load(Ordering::Relaxed),
                "dropped": stats.dropped.load(Ordering::Relaxed),
                "rotations": stats.rotations.load(Ordering::Relaxed),
            }),
        }
    }
}

/// Every line's capture switch, and where a capture started from the API goes.
pub struct Captures {
    taps: BTreeMap<String, (Arc<CaptureTap>, Option<CaptureSettings>)>,
    default_dir: PathBuf,
}

impl Captures {
    /// The switches of `lines`; captures started through the API of a line without a
    /// configured `capture` go to `default_dir/LINE.cap`. Configured captures are started
    /// here; one that cannot start is logged and the line runs without it (a capture is a
    /// diagnosis aid, never a reason to keep a station from selling).
    pub fn start(lines: &[Line], default_dir: &Path) -> Captures {
        let mut taps = BTreeMap::new();
        for line in lines {
            let tap = CaptureTap::new(line);
            if let Some(settings) = &line.capture {
                if let Err(e) = tap.start(settings.clone(), "config") {
                    tracing::error!(line = %line.name, error = %e, "capture not started");
                }
            }
            taps.insert(line.name.clone(), (tap, line.capture.clone()));
        }
        Captures {
            taps,
            default_dir: default_dir.to_owned(),
        }
    }

    /// The switch of `line`.
    pub fn tap(&self, line: &str) -> Option<Arc<CaptureTap>> {
        self.taps.get(line).map(|(tap, _)| tap.clone())
    }

    /// The settings of a capture of `line` started through the API: the configured file
    /// (or `LINE.cap` in the default directory; never a path from a request, so the API
    /// cannot write anywhere else), with optional size and count overrides.
    pub fn settings_for(
        &self,
        line: &str,
        max_bytes: Option<u64>,
        keep: Option<u32>,
    ) -> Option<CaptureSettings> {
        let (_, configured) = self.taps.get(line)?;
        let base = configured.clone().unwrap_or_else(|| CaptureSettings {
            path: self.default_dir.join(format!("{line}.cap")),
            max_bytes: CaptureSettings::DEFAULT_MAX_BYTES,
            keep: CaptureSettings::DEFAULT_KEEP,
        });
        Some(CaptureSettings {
            max_bytes: max_bytes.unwrap_or(base.max_bytes),
            keep: keep.unwrap_or(base.keep),
            path: base.path,
        })
    }

    /// Stops every capture and waits until their files are flushed.
    pub async fn stop_all(&self) {
        let threads: Vec<_> = self.taps.values().filter_map(|(t, _)| t.stop()).collect();
        if threads.is_empty() {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}
