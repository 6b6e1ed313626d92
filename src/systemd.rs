//! The service manager's side of the daemon: `sd_notify` readiness, status, stopping and
//! the watchdog.
//!
//! Protocol (sd_notify(3)): datagrams of `KEY=VALUE` lines to the Unix socket named by
//! `NOTIFY_SOCKET`; without that variable every call here does nothing, so the daemon runs
//! the same outside systemd. `READY=1` is sent once the daemon is serving (configuration
//! valid, journal migrated, listeners bound, the actor running and every line open or
//! retrying); `STOPPING=1` when shutdown begins; `STATUS=` lines whenever the summary
//! changes.
//!
//! The watchdog (`WatchdogSec=` → `WATCHDOG_USEC`) is pinged at half its interval, and
//! only while every watched loop ([`crate::liveness`]) keeps its promise: a wedged actor
//! or line stops the pings and systemd restarts the service. A timer alone never pings.

use std::sync::Arc;
use std::time::Duration;

use pump_protocols::PumpStatus;
use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::forecourt::{ForecourtHandle, Snapshot};
use crate::liveness::{Health, Liveness};

/// How often the status line is refreshed when no watchdog is configured.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// Tells the service manager the daemon is serving.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// Tells the service manager the daemon is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`, for this process), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// The one-line summary shown by `systemctl status`.
pub fn status_line(snapshot: &Snapshot, health: &Health) -> String {
    let positions = snapshot.positions.len();
    let online = snapshot
        .positions_now()
        .filter(|p| p.pump_status != PumpStatus::Offline && p.last_heard.is_some())
        .count();
    let unpaid: usize = snapshot.positions.values().map(|p| p.payable.len()).sum();
    let mut line = format!("{online}/{positions} positions online, {unpaid} unpaid sales");
    if !health.stale.is_empty() {
        line.push_str(&format!("; no progress: {}", health.stale.join(", ")));
    }
    line
}

/// Sends watchdog pings and status lines until shutdown.
pub struct Notifier {
    /// The loops whose progress earns a ping.
    pub liveness: Arc<Liveness>,
    /// Where the status comes from.
    pub forecourt: ForecourtHandle,
    /// The watchdog interval, if systemd set one.
    pub watchdog: Option<Duration>,
}

impl Notifier {
    /// Runs until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let period = self.watchdog.map(|w| w / 2).unwrap_or(STATUS_INTERVAL);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_status = String::new();
        let mut was_alive = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let health = self.liveness.check(tokio::time::Instant::now());
            let alive = health.alive();
            if alive && self.watchdog.is_some() {
                send(&[NotifyState::Watchdog]);
            }
            if was_alive && !health.stale.is_empty() {
                tracing::error!(stale = ?health.stale,
                    "no progress: watchdog pings withheld so the service manager restarts forecourtd");
            } else if !was_alive && alive {
                tracing::warn!("every task makes progress again; watchdog pings resumed");
            }
            was_alive = health.stale.is_empty();
            let status = status_line(&self.forecourt.snapshot(), &health);
            if status != last_status {
                send(&[NotifyState::Status(&status)]);
                last_status = status;
            }
        }
    }
}
