//! The thread that writes one line's capture to disk: buffered, rotated at the size
//! limit, flushed whenever the line is quiet for a moment and when the capture stops.
//!
//! It owns the capture files of one line while a capture runs and nothing else; the line
//! task only ever hands it chunks through a bounded channel without waiting (see
//! [`super::CaptureTap`]), so a slow disk costs records, never a poll.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use pump_protocols::capture::{format_record, Record};

use crate::config::CaptureSettings;

/// How long the line may be quiet before what is buffered reaches the file, so a capture
/// can be read (or copied off the box) while it runs.
const FLUSH_AFTER: Duration = Duration::from_millis(500);

/// Counters shared between the writer and whoever shows the capture's state.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Bytes written to the current file, header included.
    pub file_bytes: AtomicU64,
    /// Records written since the capture started.
    pub records: AtomicU64,
    /// Records the line task could not hand over (the writer was behind).
    pub dropped: AtomicU64,
    /// Files rotated since the capture started.
    pub rotations: AtomicU64,
}

/// One line's capture files.
pub struct Writer {
    settings: CaptureSettings,
    header: String,
    file: BufWriter<File>,
    stats: Arc<WriterStats>,
    /// Dropped records already noted in the file.
    noted_dropped: u64,
}

/// `PATH.n`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl Writer {
    /// Opens a fresh capture file (an existing one is rotated away first) and writes the
    /// header; `note` is added to it as a free comment (why the capture started).
    pub fn open(
        settings: CaptureSettings,
        header: String,
        note: &str,
        stats: Arc<WriterStats>,
    ) -> io::Result<Writer> {
        if let Some(dir) = settings.path.parent() {
            if !dir.as_os_str().is_empty() {
                fs::create_dir_all(dir)?;
            }
        }
        if settings.path.exists() {
            shift(&settings.path, settings.keep)?;
        }
        let header = format!("{header}# {note}\n");
        let file = create(&settings.path)?;
        let mut writer = Writer {
            settings,
            header,
            file: BufWriter::new(file),
            stats,
            noted_dropped: 0,
        };
        writer.write_header()?;
        Ok(writer)
    }

    /// Writes chunks until every sender is gone, then flushes and returns.
    pub fn run(mut self, chunks: Receiver<Record>) {
        loop {
            let result = match chunks.recv_timeout(FLUSH_AFTER) {
                Ok(record) => self.write(&record),
                Err(RecvTimeoutError::Timeout) => self.file.flush(),
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if let Err(e) = result {
                tracing::error!(path = %self.settings.path.display(), error = %e,
                    "capture file cannot be written; the capture stops");
                return;
            }
        }
        if let Err(e) = self.note_dropped().and_then(|()| self.file.flush()) {
            tracing::error!(path = %self.settings.path.display(), error = %e,
                "capture file cannot be flushed");
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        self.file.write_all(self.header.as_bytes())?;
        self.stats
            .file_bytes
            .store(self.header.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn note_dropped(&mut self) -> io::Result<()> {
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        if dropped > self.noted_dropped {
            let line = format!("# dropped chunks={}\n", dropped - self.noted_dropped);
            self.noted_dropped = dropped;
            self.append(&line)?;
        }
        Ok(())
    }

    fn write(&mut self, record: &Record) -> io::Result<()> {
        self.note_dropped()?;
        let mut line = format_record(record);
        line.push('\n');
        let size = self.stats.file_bytes.load(Ordering::Relaxed);
        if size + line.len() as u64 > self.settings.max_bytes {
            self.rotate()?;
        }
        self.append(&line)?;
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn append(&mut self, line: &str) -> io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.stats
            .file_bytes
            .fetch_add(line.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the current file as `PATH.1` (older ones move up, the oldest beyond `keep`
    /// goes) and starts a new one with the same header, so every file replays on its own.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        shift(&self.settings.path, self.settings.keep)?;
        self.file = BufWriter::new(create(&self.settings.path)?);
        self.stats.rotations.fetch_add(1, Ordering::Relaxed);
        self.write_header()
    }
}

fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// Moves `PATH` to `PATH.1`, `PATH.1` to `PATH.2`, …, dropping `PATH.keep`; with `keep`
/// 0, `PATH` is removed.
fn shift(path: &Path, keep: u32) -> io::Result<()> {
    if keep == 0 {
        return remove_if_present(path);
    }
    remove_if_present(&rotated(path, keep))?;
    for n in (1..keep).rev() {
        let from = rotated(path, n);
        if from.exists() {
            fs::rename(&from, rotated(path, n + 1))?;
        }
    }
    fs::rename(path, rotated(path, 1))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use pump_protocols::capture::{parse, Direction};

    use super::*;

    fn record(n: i64) -> Record {
        Record::bytes(
            1_796_304_000_000_000 + n,
            if n % 2 == 0 {
                Direction::Sent
            } else {
                Direction::Received
            },
            vec![0x50, 0x20, 0xFA],
        )
    }

    #[test]
    fn files_rotate_at_the_limit_and_only_keep_are_kept_each_with_its_header() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("sub/line1.cap");
        let settings = CaptureSettings {
            path: path.clone(),
            max_bytes: 4096,
            keep: 2,
        };
        let stats = Arc::new(WriterStats::default());
        let header = "# forecourtd capture 1\n# line name=line1 protocol=dart\n".to_owned();
        let writer =
            Writer::open(settings, header, "started by test", stats.clone()).expect("opens");
        let (tx, rx) = sync_channel(10_000);
        // About 40 bytes a record: 400 records are about four files of 4 KiB.
        for n in 0..400 {
            tx.send(record(n)).expect("writer running");
        }
        drop(tx);
        writer.run(rx);

        assert_eq!(stats.records.load(Ordering::Relaxed), 400);
        assert!(stats.rotations.load(Ordering::Relaxed) >= 3);
        assert!(rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists(), "only keep = 2 rotated files");
        let mut last = i64::MIN;
        for file in [rotated(&path, 2), rotated(&path, 1), path.clone()] {
            let text = fs::read_to_string(&file).expect("readable");
            assert!(
                text.len() <= 4096,
                "{} is {} bytes",
                file.display(),
                text.len()
            );
            let capture = parse(&text).expect("each file parses on its own");
            assert_eq!(
                capture.meta("line").and_then(|m| m.get("name")),
                Some("line1")
            );
            assert_eq!(capture.notes, vec!["started by test"]);
            let first = capture.records.first().expect("records").at_micros;
            assert!(first > last, "files in order");
            last = capture.records.last().expect("records").at_micros;
        }
        assert_eq!(last, record(399).at_micros);
    }

    #[test]
    fn a_capture_started_again_moves_the_previous_file_aside() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("line1.cap");
        let settings = CaptureSettings {
            path: path.clone(),
            max_bytes: 1_000_000,
            keep: 1,
        };
        for run in 0..2 {
            let stats = Arc::new(WriterStats::default());
            let writer = Writer::open(
                settings.clone(),
                "# forecourtd capture 1\n".into(),
                &format!("run {run}"),
                stats.clone(),
            )
            .expect("opens");
            stats.dropped.store(3, Ordering::Relaxed);
            let (tx, rx) = sync_channel(4);
            tx.send(record(run)).expect("writer running");
            drop(tx);
            writer.run(rx);
        }
        let previous = parse(&fs::read_to_string(rotated(&path, 1)).expect("kept")).expect("ok");
        assert_eq!(previous.notes, vec!["run 0"]);
        let current = parse(&fs::read_to_string(&path).expect("written")).expect("ok");
        assert_eq!(current.notes, vec!["run 1"]);
        assert_eq!(current.dropped(), 3, "lost records are noted in the file");
    }
}
