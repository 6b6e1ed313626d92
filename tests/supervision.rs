//! Supervision: a long-lived task that dies ends the daemon with an error; shutdown has
//! a deadline and names what did not finish; `forecourtd run` exits non-zero when a task
//! dies, and its test hook is refused without the explicit environment variable.

use std::process::Stdio;

use forecourtd::app::SHUTDOWN_DEADLINE;
use forecourtd::liveness::Fault;

use crate::support::{self, Rig, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_actor_ends_the_daemon_with_an_error() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    assert_eq!(station.daemon.failure(), None);
    assert!(station.daemon.inject_fault("forecourt", Fault::Panic));
    let first = tokio::time::timeout(PATIENCE, station.daemon.failed())
        .await
        .expect("a death is reported");
    // The lines stop too once the actor is gone; the actor's panic is among the reports.
    let failure = tokio::time::timeout(PATIENCE, station.daemon.failure_of("forecourt"))
        .await
        .expect("the actor's death is reported");
    assert!(
        ["forecourt", "line line1"].contains(&first.task.as_str()),
        "{first}"
    );
    assert!(
        failure.how.starts_with("panicked: injected fault"),
        "{failure}"
    );
    station.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_line_task_ends_the_daemon_with_an_error() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    assert!(station.daemon.inject_fault("line line1", Fault::Panic));
    let failure = tokio::time::timeout(PATIENCE, station.daemon.failed())
        .await
        .expect("the line's death is reported");
    assert_eq!(failure.task, "line line1");
    station.daemon.shutdown().await;
}

#[tokio::test]
async fn shutdown_gives_up_at_its_deadline_and_names_the_stuck_actor() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    assert!(station.daemon.inject_fault("forecourt", Fault::Stall));
    let actor = station
        .daemon
        .liveness()
        .find("forecourt")
        .expect("actor heartbeat");
    actor.fault_reached().await;
    // From here on nothing runs but timers: the paused clock jumps to the deadline.
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let result = station.daemon.shutdown_within(SHUTDOWN_DEADLINE).await;
    let incomplete = result.expect_err("the stalled actor never finishes");
    assert_eq!(incomplete.unfinished, vec!["forecourt".to_owned()]);
    assert!(tokio::time::Instant::now() - started >= SHUTDOWN_DEADLINE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecourtd_run_exits_non_zero_when_a_task_dies() {
    let rig = Rig::new(1);
    let (config, admin) = support::write_config(&rig);
    let mut child = support::run_forecourtd(
        &config,
        &["--test-fault-on-sigusr1", "forecourt=panic"],
        &[("FORECOURTD_TEST_HOOKS", "1".as_ref())],
        Stdio::piped(),
    );
    support::wait_until_serving(&admin).await;
    support::signal(&child, "USR1").await;
    let output = tokio::time::timeout(PATIENCE, async {
        let status = child.wait().await.expect("exit status");
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = pipe.read_to_string(&mut stderr).await;
        }
        (status, stderr)
    })
    .await
    .expect("forecourtd exits after its actor died");
    assert_eq!(output.0.code(), Some(70), "{}", output.1);
    assert!(
        output
            .1
            .contains("exiting so the service manager restarts forecourtd"),
        "{}",
        output.1
    );
}

#[tokio::test]
async fn the_test_fault_hook_is_refused_without_its_environment_variable() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"))
        .args([
            "run",
            "--test-fault-on-sigusr1",
            "forecourt=stall",
            "--config",
            "/nonexistent.toml",
        ])
        .env_remove("FORECOURTD_TEST_HOOKS")
        .output()
        .await
        .expect("run forecourtd");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FORECOURTD_TEST_HOOKS=1"), "{stderr}");
}
