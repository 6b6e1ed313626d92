//! Supervision of the daemon's long-lived tasks.
//!
//! Every task that must run as long as the daemon (the forecourt actor, each line, the
//! notification processor, the reconciler, the preference prefetch, each listener, the
//! journal thread's watch) is spawned through a [`Supervisor`]. A task that ends before
//! shutdown began, by panicking or by returning, is a [`TaskFailure`]: the first one is
//! kept and [`Supervisor::failed`] resolves with it, so `forecourtd run` can exit non-zero
//! and let the service manager restart a whole process instead of leaving one with a
//! frozen snapshot or an inbox nobody reads.
//!
//! In a release build a panic aborts the process anyway (`panic = "abort"`); supervision
//! also covers the debug build, where a panic unwinds into the task's `JoinHandle`, and a
//! task that returns by mistake.
//!
//! The supervisor also knows which tasks are still running, so a shutdown that passes its
//! deadline can say what did not finish.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A long-lived task ended while the daemon was meant to be running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {task} {how}")]
pub struct TaskFailure {
    /// The task's name (e.g. `forecourt`, `line dart1`, `listener public`).
    pub task: String,
    /// What happened: `panicked: …`, `returned`, `was cancelled`.
    pub how: String,
}

/// Spawns and watches the long-lived tasks of one daemon.
#[derive(Debug, Clone)]
pub struct Supervisor {
    stopping: CancellationToken,
    failures: Arc<watch::Sender<Vec<TaskFailure>>>,
    running: Arc<Mutex<BTreeMap<u64, String>>>,
    next_id: Arc<AtomicU64>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor {
            stopping: CancellationToken::new(),
            failures: Arc::new(watch::Sender::new(Vec::new())),
            running: Arc::new(Mutex::new(BTreeMap::new())),
            next_id: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Supervisor {
    /// Spawns `future` as the task `name` on `group` (whose `wait` then also waits for it).
    pub fn spawn<F>(&self, group: &TaskTracker, name: impl Into<String>, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, name.clone());
        let inner = tokio::spawn(future);
        let supervisor = self.clone();
        group.spawn(async move {
            let how = match inner.await {
                Ok(()) => "returned".to_owned(),
                Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
                Err(_) => "was cancelled".to_owned(),
            };
            supervisor.lock().remove(&id);
            if supervisor.stopping.is_cancelled() {
                return;
            }
            tracing::error!(task = %name, how = %how, "a long-lived task ended unexpectedly");
            supervisor
                .failures
                .send_modify(|failures| failures.push(TaskFailure { task: name, how }));
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, String>> {
        // The map stays consistent even if a holder panicked (single insert/remove).
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, a task that ends is expected to (shutdown has begun).
    pub fn begin_stopping(&self) {
        self.stopping.cancel();
    }

    /// Names of the tasks still running, in spawn order.
    pub fn running(&self) -> Vec<String> {
        self.lock().values().cloned().collect()
    }

    /// The first task that ended unexpectedly, if any did.
    pub fn failure(&self) -> Option<TaskFailure> {
        self.failures.borrow().first().cloned()
    }

    /// Resolves with the first task that ended unexpectedly; never resolves while every
    /// task runs. One death often brings others (lines stop when the actor is gone); the
    /// first is usually the cause, and every one is logged as it happens.
    pub async fn failed(&self) -> TaskFailure {
        self.failure_matching(|_| true).await
    }

    /// Resolves once the task `name` has ended unexpectedly.
    pub async fn failure_of(&self, name: &str) -> TaskFailure {
        self.failure_matching(|f| f.task == name).await
    }

    async fn failure_matching(&self, wanted: impl Fn(&TaskFailure) -> bool) -> TaskFailure {
        let mut rx = self.failures.subscribe();
        loop {
            if let Some(failure) = rx.borrow_and_update().iter().find(|f| wanted(f)).cloned() {
                return failure;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`, so this cannot happen; never report a
                // failure that did not occur.
                std::future::pending::<()>().await;
            }
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_reported_with_its_message() {
        let supervisor = Supervisor::default();
        let group = TaskTracker::new();
        supervisor.spawn(&group, "steady", std::future::pending());
        supervisor.spawn(&group, "fragile", async { panic!("boom") });
        let failure = supervisor.failed().await;
        assert_eq!(failure.task, "fragile");
        assert_eq!(failure.how, "panicked: boom");
        assert_eq!(supervisor.running(), vec!["steady"]);
    }

    #[tokio::test]
    async fn a_returning_task_is_a_failure_unless_stopping() {
        let supervisor = Supervisor::default();
        let group = TaskTracker::new();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        supervisor.spawn(&group, "quits", async {
            let _ = wait.await;
        });
        supervisor.begin_stopping();
        let _ = go.send(());
        group.close();
        group.wait().await;
        assert!(supervisor.running().is_empty());
        assert_eq!(
            supervisor.failure(),
            None,
            "an end during shutdown is no failure"
        );

        let supervisor = Supervisor::default();
        supervisor.spawn(&TaskTracker::new(), "quits", async {});
        assert_eq!(supervisor.failed().await.how, "returned");
    }
}
