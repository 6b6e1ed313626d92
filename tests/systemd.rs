//! The service unit and the daemon's side of the service manager: the unit passes
//! `systemd-analyze verify` and rates OK or better in `systemd-analyze security`; the real
//! binary sends READY=1, then watchdog pings, and stops pinging when its actor stalls.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::net::UnixDatagram;

use crate::support::{self, Rig, PATIENCE};

/// `systemd-analyze`, or `None` with a message saying why the test is skipped. CI
/// installs it (`.ci/run`), so only a developer machine without systemd skips.
fn systemd_analyze() -> Option<PathBuf> {
    let found = support::find_tool("systemd-analyze");
    if found.is_none() {
        eprintln!("SKIPPED: systemd-analyze is not installed (apt-get install systemd)");
    }
    found
}

/// The unit as shipped, with `ExecStart=` pointing at the binary just built (verify
/// checks that the executable exists).
fn unit_for_this_build(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/forecourtd.service"),
    )
    .expect("read the unit");
    assert!(unit.contains("ExecStart=/usr/bin/forecourtd run"));
    let unit = unit.replace("/usr/bin/forecourtd", env!("CARGO_BIN_EXE_forecourtd"));
    let path = dir.join("forecourtd.service");
    std::fs::write(&path, unit).expect("write the unit");
    path
}

/// Runs `systemd-analyze ARGS UNIT` on the unit as built; `None` when it is missing.
fn analyze_unit(args: &[&str]) -> Option<std::process::Output> {
    let analyze = systemd_analyze()?;
    let dir = tempfile::tempdir().expect("temporary directory");
    let unit = unit_for_this_build(dir.path());
    let out = std::process::Command::new(analyze)
        .args(args)
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    Some(out)
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let Some(out) = analyze_unit(&["verify", "--man=no"]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "verify complained:\n{stderr}");
}

#[test]
fn the_unit_rates_ok_or_better_in_systemd_analyze_security() {
    let Some(out) = analyze_unit(&["security", "--offline=yes", "--no-pager"]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall rating in:\n{stdout}"));
    // "→ Overall exposure level for forecourtd.service: 1.6 OK 🙂"
    let score: f64 = verdict
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in {verdict:?}"));
    assert!(
        verdict.contains(" OK") || verdict.contains("SAFE"),
        "{verdict}"
    );
    // The README records the score; OK ends at 4.9.
    assert!(score <= 4.9, "{verdict}");
}

/// Every datagram the daemon sends to its notify socket, one `KEY=VALUE` per line.
struct NotifySocket {
    socket: UnixDatagram,
    buffer: Vec<u8>,
    seen: Vec<String>,
}

impl NotifySocket {
    async fn next(&mut self, patience: Duration) -> Option<String> {
        let n = tokio::time::timeout(patience, self.socket.recv(&mut self.buffer))
            .await
            .ok()?
            .expect("receive a notification");
        let message = String::from_utf8_lossy(&self.buffer[..n]).into_owned();
        self.seen.push(message.clone());
        Some(message)
    }

    /// Waits for a datagram with a line for which `wanted` holds.
    async fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(message) if message.lines().any(&wanted) => return message,
                Some(_) => continue,
                None => panic!("never received {what}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_then_watchdog_pings_that_stop_when_the_actor_stalls() {
    let rig = Rig::new(1);
    let (config, admin) = support::write_config(&rig);
    let socket_path = rig.dir.path().join("notify.sock");
    let mut notify = NotifySocket {
        socket: UnixDatagram::bind(&socket_path).expect("bind the notify socket"),
        buffer: vec![0; 4096],
        seen: Vec::new(),
    };
    // A one-second watchdog: pings every half second while the daemon makes progress.
    let watchdog = Duration::from_secs(1);
    let watchdog_usec = watchdog.as_micros().to_string();
    let mut child = support::run_forecourtd(
        &config,
        &["--test-fault-on-sigusr1", "forecourt=stall"],
        &[
            ("NOTIFY_SOCKET", socket_path.as_ref()),
            ("WATCHDOG_USEC", watchdog_usec.as_ref()),
            ("FORECOURTD_TEST_HOOKS", "1".as_ref()),
        ],
        Stdio::null(),
    );

    notify.wait_for("READY=1", |l| l == "READY=1").await;
    // Serving by then: READY comes after the listeners are bound.
    support::get(&admin, "/api/positions").await;
    for _ in 0..3 {
        notify
            .wait_for("a watchdog ping", |l| l == "WATCHDOG=1")
            .await;
    }
    assert!(
        notify
            .seen
            .iter()
            .any(|m| m.starts_with("STATUS=") && m.contains("positions online")),
        "no status line in {:?}",
        notify.seen
    );

    support::signal(&child, "USR1").await;
    // The stalled actor is seen as stuck; from then on no ping is sent.
    notify
        .wait_for("the stall in the status", |l| {
            l.starts_with("STATUS=") && l.contains("no progress: forecourt")
        })
        .await;
    let quiet = watchdog * 3;
    while let Some(message) = notify.next(quiet).await {
        assert!(
            !message.lines().any(|l| l == "WATCHDOG=1"),
            "a watchdog ping after the actor stalled: {message:?}"
        );
    }
    child.start_kill().expect("kill forecourtd");
    let _ = child.wait().await;
}
