//! Heartbeats: how the long-lived loops prove they are still making progress.
//!
//! Each loop that must never wedge (the forecourt actor, every line task) holds a
//! [`Heartbeat`] and calls [`Heartbeat::beat_until`] on every turn, promising its next
//! turn by a given instant. A loop is *stale* when that promise is broken by more than
//! [`GRACE`]. The service watchdog ([`crate::systemd`]) pings systemd only while nothing is
//! stale, so a stuck actor or line gets the process restarted, and a free-running timer
//! can never keep a wedged daemon alive.
//!
//! A beat is two relaxed atomic stores: cheap enough for every turn of a serial loop.
//!
//! Fault injection ([`Fault`]) makes a loop really stall or really panic at its next beat.
//! It exists for tests of supervision and of the watchdog; the binary arms it only behind
//! a hidden flag that also needs an explicit environment variable.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long past its promised turn a loop may be before it counts as stuck. Covers a
/// slow journal commit (synchronous=FULL on an SD card) without hiding a real hang.
pub const GRACE: Duration = Duration::from_secs(2);

/// A fault to inject into a loop at its next beat (tests only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The loop stops making progress for good (it awaits forever at its beat).
    Stall,
    /// The loop panics.
    Panic,
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stall" => Ok(Fault::Stall),
            "panic" => Ok(Fault::Panic),
            other => Err(format!("unknown fault {other:?} (stall or panic)")),
        }
    }
}

const NO_FAULT: u8 = 0;
const STALL: u8 = 1;
const PANIC: u8 = 2;

/// One loop's pulse.
#[derive(Debug)]
struct Pulse {
    name: String,
    origin: Instant,
    /// Milliseconds after `origin` by which the next turn was promised.
    due_ms: AtomicU64,
    turns: AtomicU64,
    fault: AtomicU8,
    faulted: AtomicBool,
    reached_fault: Notify,
}

/// A loop's handle for proving progress. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pulse: Arc<Pulse>,
}

impl Heartbeat {
    /// A heartbeat nobody watches (for loops run outside a daemon, e.g. in tests).
    pub fn detached(name: &str) -> Heartbeat {
        Heartbeat::new(name, Instant::now())
    }

    fn new(name: &str, origin: Instant) -> Heartbeat {
        Heartbeat {
            pulse: Arc::new(Pulse {
                name: name.to_owned(),
                origin,
                due_ms: AtomicU64::new(0),
                turns: AtomicU64::new(0),
                fault: AtomicU8::new(NO_FAULT),
                faulted: AtomicBool::new(false),
                reached_fault: Notify::new(),
            }),
        }
    }

    /// The loop's name.
    pub fn name(&self) -> &str {
        &self.pulse.name
    }

    /// Records a turn of the loop and promises the next one by `next_turn`.
    ///
    /// Async only so that an injected [`Fault::Stall`] can hold the loop here for good.
    pub async fn beat_until(&self, next_turn: Instant) {
        match self.pulse.fault.load(Ordering::Relaxed) {
            STALL => {
                self.reached_fault();
                tracing::error!(task = %self.pulse.name, "injected fault: stalling");
                std::future::pending::<()>().await;
            }
            PANIC => {
                self.reached_fault();
                panic!("injected fault: {} panics", self.pulse.name);
            }
            _ => {}
        }
        let due = next_turn.saturating_duration_since(self.pulse.origin);
        let due_ms = u64::try_from(due.as_millis()).unwrap_or(u64::MAX);
        self.pulse.due_ms.store(due_ms, Ordering::Relaxed);
        self.pulse.turns.fetch_add(1, Ordering::Relaxed);
    }

    fn reached_fault(&self) {
        self.pulse.faulted.store(true, Ordering::Relaxed);
        self.pulse.reached_fault.notify_waiters();
    }

    /// Arms a fault for the loop's next beat.
    pub fn inject(&self, fault: Fault) {
        let code = match fault {
            Fault::Stall => STALL,
            Fault::Panic => PANIC,
        };
        self.pulse.fault.store(code, Ordering::Relaxed);
    }

    /// Resolves once the loop has reached an injected fault.
    pub async fn fault_reached(&self) {
        loop {
            let notified = self.pulse.reached_fault.notified();
            if self.pulse.faulted.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }

    /// True once the loop has turned at least once.
    pub fn started(&self) -> bool {
        self.pulse.turns.load(Ordering::Relaxed) > 0
    }

    /// True when the loop has started and broken its promise by more than [`GRACE`].
    fn stale(&self, now: Instant) -> bool {
        if !self.started() {
            return false;
        }
        let due_ms = self.pulse.due_ms.load(Ordering::Relaxed);
        let due = self.pulse.origin + Duration::from_millis(due_ms);
        now > due + GRACE
    }
}

/// What the watched loops look like right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Loops that have not turned yet.
    pub starting: Vec<String>,
    /// Loops past their promised turn by more than [`GRACE`].
    pub stale: Vec<String>,
}

impl Health {
    /// Every loop has started and none is stale.
    pub fn alive(&self) -> bool {
        self.starting.is_empty() && self.stale.is_empty()
    }
}

/// The registry of every watched loop of a daemon.
#[derive(Debug)]
pub struct Liveness {
    origin: Instant,
    beats: Mutex<Vec<Heartbeat>>,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            origin: Instant::now(),
            beats: Mutex::new(Vec::new()),
        }
    }
}

impl Liveness {
    /// A heartbeat for the loop `name`, watched from now on.
    pub fn register(&self, name: &str) -> Heartbeat {
        let heartbeat = Heartbeat::new(name, self.origin);
        self.lock().push(heartbeat.clone());
        heartbeat
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Heartbeat>> {
        // A poisoned list is still a valid list of handles.
        self.beats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state of every watched loop at `now`.
    pub fn check(&self, now: Instant) -> Health {
        let beats = self.lock();
        Health {
            starting: beats
                .iter()
                .filter(|b| !b.started())
                .map(|b| b.name().to_owned())
                .collect(),
            stale: beats
                .iter()
                .filter(|b| b.stale(now))
                .map(|b| b.name().to_owned())
                .collect(),
        }
    }

    /// Waits until every watched loop has turned once (the actor runs, every line is
    /// open or retrying), checking every `every`.
    pub async fn started(&self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        while !self.check(Instant::now()).starting.is_empty() {
            tick.tick().await;
        }
    }

    /// The heartbeat of the loop `name`, if watched.
    pub fn find(&self, name: &str) -> Option<Heartbeat> {
        self.lock().iter().find(|b| b.name() == name).cloned()
    }

    /// Names of every watched loop.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|b| b.name().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_loop_is_stale_only_past_its_promise_plus_grace() {
        let liveness = Liveness::default();
        let beat = liveness.register("actor");
        assert_eq!(liveness.check(Instant::now()).starting, vec!["actor"]);
        beat.beat_until(Instant::now() + Duration::from_secs(1))
            .await;
        assert!(liveness.check(Instant::now()).alive());
        tokio::time::advance(Duration::from_secs(1) + GRACE).await;
        assert!(liveness.check(Instant::now()).alive());
        tokio::time::advance(Duration::from_millis(10)).await;
        assert_eq!(liveness.check(Instant::now()).stale, vec!["actor"]);
        beat.beat_until(Instant::now() + Duration::from_secs(1))
            .await;
        assert!(liveness.check(Instant::now()).alive());
    }

    #[tokio::test(start_paused = true)]
    async fn an_injected_stall_holds_the_loop_and_goes_stale() {
        let liveness = Arc::new(Liveness::default());
        let beat = liveness.register("line1");
        let looping = beat.clone();
        let task = tokio::spawn(async move {
            loop {
                looping
                    .beat_until(Instant::now() + Duration::from_millis(250))
                    .await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        liveness.started(Duration::from_millis(10)).await;
        beat.inject(Fault::Stall);
        beat.fault_reached().await;
        tokio::time::advance(GRACE + Duration::from_secs(1)).await;
        assert_eq!(liveness.check(Instant::now()).stale, vec!["line1"]);
        assert!(!task.is_finished());
        task.abort();
    }
}
