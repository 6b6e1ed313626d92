//! The crash-safety driver: simulated DART pumps and the Mercado Pago sandbox live in the
//! test process, the real `forecourtd` binary runs as a child process on a journal in a
//! temporary directory and is SIGKILLed at moments chosen to hit each phase of a sale,
//! then restarted on the same journal and configuration while pumps and customers carry
//! on. At the end the journal is checked against the pumps' and the sandbox's ground
//! truth (`crash_check.rs`).
//!
//! Every random choice comes from one seed ([`Knobs::seed`]), printed first, so a failing
//! run can be replayed (timing still varies; the seed fixes the plan, not the scheduler).
//!
//! Knobs come from the environment (`CRASH_KILLS`, `CRASH_SEED`, `CRASH_PUMPS`,
//! `CRASH_FLOW`, `CRASH_PHASES`, `CRASH_WEDGE_SECS`, `CRASH_DRAIN_SECS`, `CRASH_KEEP`,
//! `CRASH_MODE`, `CRASH_BAD_PRESET_PCT`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forecourtd::lab::sandbox::{Sandbox, SandboxHandle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::crash_cars::{self, Cars, Ledger};
use super::crash_check::{self, Report};
use super::crash_truth::{RecordingSimulator, Truth};
use super::payments::{sandbox_settings, PaySetup, PayStation};
use super::{free_port, ChildDaemon, Rig};

/// The phases a kill aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The attendant's authorization was just accepted (journaled, maybe not yet sent).
    Authorizing,
    /// Fuel is flowing.
    Filling,
    /// The pump just ended a filling (the sale is being recorded).
    Completed,
    /// The order endpoint just served a sale.
    Served,
    /// The customer's payment was just created at Mercado Pago.
    Payment,
    /// A notification was just answered by the station.
    Notification,
    /// A payment the station is not owed is being refunded.
    Refunding,
    /// Any time at all.
    Anytime,
}

impl Phase {
    const ALL: [Phase; 8] = [
        Phase::Authorizing,
        Phase::Filling,
        Phase::Completed,
        Phase::Served,
        Phase::Payment,
        Phase::Notification,
        Phase::Refunding,
        Phase::Anytime,
    ];

    /// Its name in `CRASH_PHASES` and reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Authorizing => "authorizing",
            Phase::Filling => "filling",
            Phase::Completed => "completed",
            Phase::Served => "served",
            Phase::Payment => "payment",
            Phase::Notification => "notification",
            Phase::Refunding => "refunding",
            Phase::Anytime => "anytime",
        }
    }

    /// Whether `moment` is this phase's cue, and the longest random wait after it.
    fn cue(self, moment: &Moment) -> Option<Duration> {
        let ms = Duration::from_millis;
        match (self, moment) {
            (Phase::Authorizing, Moment::Authorized(_)) => Some(ms(0)),
            (Phase::Filling, Moment::FillingStarted(_)) => Some(ms(400)),
            (Phase::Completed, Moment::FillingEnded(_)) => Some(ms(30)),
            (Phase::Served, Moment::Served(_)) => Some(ms(10)),
            (Phase::Payment, Moment::PaymentCreated(_)) => Some(ms(20)),
            (Phase::Notification, Moment::NotificationDelivered(_)) => Some(ms(20)),
            (Phase::Refunding, Moment::UnownedPayment(_)) => Some(ms(150)),
            (Phase::Refunding, Moment::RefundMade(_)) => Some(ms(0)),
            _ => None,
        }
    }
}

/// Something observable happened (published by cars and by the sandbox watcher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moment {
    /// Authorize answered 200 for this position.
    Authorized(u16),
    /// The pump of this position started a filling.
    FillingStarted(u16),
    /// The pump of this position ended a filling.
    FillingEnded(u16),
    /// The order endpoint answered 200 for this position.
    Served(u16),
    /// Mercado Pago created this payment.
    PaymentCreated(i64),
    /// The station answered 2xx to a notification about this resource.
    NotificationDelivered(i64),
    /// A customer paid a second time, or after paying cash: this payment is not owed.
    UnownedPayment(i64),
    /// Mercado Pago refunded (part of) this payment.
    RefundMade(i64),
}

/// The driver's settings.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Seed of every random choice.
    pub seed: u64,
    /// SIGKILLs to deliver.
    pub kills: u32,
    /// Simulated pumps (positions).
    pub pumps: u8,
    /// Flow rate, litres a minute.
    pub flow: u32,
    /// Relative weight of each phase.
    pub phases: Vec<(Phase, u32)>,
    /// A position refusing work this long while the daemon is up is wedged.
    pub wedge: Duration,
    /// Longest wait at the end for payments to settle.
    pub drain: Duration,
    /// Keep the temporary directory (journal, configuration, daemon log) even when clean.
    pub keep: bool,
    /// Mercado Pago model: `order` (model B) or `preference` (model A).
    pub mode: &'static str,
    /// Share of cars whose attendant first types a preset the pump cannot take.
    pub bad_presets: f64,
}

impl Knobs {
    /// Defaults, overridden by the environment; `kills` is the default kill count.
    pub fn from_env(kills: u32) -> Knobs {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number = |name: &str, default: u64| -> u64 {
            var(name).map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
            })
        };
        let seed = var("CRASH_SEED").map_or_else(
            || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            },
            |v| v.parse().unwrap_or_else(|_| panic!("CRASH_SEED={v}")),
        );
        let mut phases: Vec<(Phase, u32)> = Phase::ALL
            .iter()
            .map(|p| (*p, if *p == Phase::Anytime { 1 } else { 2 }))
            .collect();
        if let Some(spec) = var("CRASH_PHASES") {
            for part in spec.split(',') {
                let (name, weight) = part
                    .split_once('=')
                    .unwrap_or_else(|| panic!("CRASH_PHASES: {part} is not name=weight"));
                let slot = phases
                    .iter_mut()
                    .find(|(p, _)| p.name() == name.trim())
                    .unwrap_or_else(|| panic!("CRASH_PHASES: unknown phase {name}"));
                slot.1 = weight
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("CRASH_PHASES: weight {weight}"));
            }
        }
        assert!(
            phases.iter().any(|(_, w)| *w > 0),
            "CRASH_PHASES gives every phase weight 0"
        );
        Knobs {
            seed,
            kills: u32::try_from(number("CRASH_KILLS", u64::from(kills))).expect("kills"),
            pumps: u8::try_from(number("CRASH_PUMPS", 3)).expect("pumps"),
            flow: u32::try_from(number("CRASH_FLOW", 120)).expect("flow"),
            phases,
            wedge: Duration::from_secs(number("CRASH_WEDGE_SECS", 30)),
            drain: Duration::from_secs(number("CRASH_DRAIN_SECS", 40)),
            keep: var("CRASH_KEEP").is_some(),
            mode: match var("CRASH_MODE").as_deref() {
                None | Some("order") => "order",
                Some("preference") => "preference",
                Some(other) => panic!("CRASH_MODE={other}: order or preference"),
            },
            bad_presets: f64::from(u32::try_from(number("CRASH_BAD_PRESET_PCT", 5)).expect("pct"))
                / 100.0,
        }
    }

    fn pick_phase(&self, rng: &mut StdRng) -> Phase {
        let total: u32 = self.phases.iter().map(|(_, w)| w).sum();
        let mut at = rng.random_range(0..total);
        for (phase, weight) in &self.phases {
            if at < *weight {
                return *phase;
            }
            at -= weight;
        }
        Phase::Anytime
    }
}

/// One kill: the phase aimed at and whether its cue came before the kill.
#[derive(Debug, Clone)]
pub struct Kill {
    /// The phase.
    pub phase: Phase,
    /// False when the cue did not come in time and the daemon was killed anyway.
    pub hit: bool,
    /// How long the daemon stayed down.
    pub down: Duration,
}

/// What the cars and the killer share.
#[derive(Clone)]
pub struct Shared {
    /// Admin base URL.
    pub admin: String,
    /// Public base URL.
    pub public: String,
    /// The moments bus.
    pub moments: broadcast::Sender<Moment>,
    /// Since when the daemon runs (`None` while it is down).
    pub up_since: watch::Receiver<Option<Instant>>,
    /// Pumps' ground truth.
    pub truth: Truth,
    /// The sandbox. Shared, never cloned: dropping any clone of a handle shuts the
    /// sandbox down.
    pub sandbox: Arc<SandboxHandle>,
    /// The cars' own record of what customers and attendants did.
    pub ledger: Arc<Mutex<Ledger>>,
    /// Settings.
    pub knobs: Knobs,
}

impl Shared {
    /// Publishes a moment (nobody listening is fine).
    pub fn publish(&self, moment: Moment) {
        let _ = self.moments.send(moment);
    }

    /// True when the daemon has been up for at least `d`.
    pub fn up_for(&self, d: Duration) -> bool {
        self.up_since.borrow().is_some_and(|t| t.elapsed() >= d)
    }
}

/// Runs the whole scenario and returns the checked report (never panics on a violation).
pub async fn run(knobs: Knobs) -> Report {
    eprintln!(
        "crash-safety: seed {} ({} kills, {} pumps, {} mode; replay with CRASH_SEED={})",
        knobs.seed, knobs.kills, knobs.pumps, knobs.mode, knobs.seed
    );
    let mut rng = StdRng::seed_from_u64(knobs.seed);
    let (simulator, truth) = RecordingSimulator::demo(knobs.pumps);
    let mut rig = Rig::with_simulator(knobs.pumps, Box::new(simulator), knobs.flow);
    let sandbox = Sandbox::start(sandbox_settings()).await.expect("sandbox");
    let setup = PaySetup {
        pumps: knobs.pumps,
        mode: knobs.mode,
        reconcile_after_secs: 2,
        refund_duplicates: true,
        ..PaySetup::default()
    };
    let (public, admin) = (free_port(), free_port());
    let text = PayStation::config_text(
        &rig,
        &sandbox,
        &setup,
        &format!("127.0.0.1:{public}"),
        &format!("127.0.0.1:{admin}"),
    );
    let log = rig.dir.path().join("daemon.log");
    let mut daemon = ChildDaemon::start_logged(&rig, &text, public, admin, Some(&log)).await;
    let (up_tx, up_rx) = watch::channel(Some(Instant::now()));
    let (moments, _) = broadcast::channel(4096);
    let shared = Shared {
        admin: daemon.admin.clone(),
        public: daemon.public.clone(),
        moments,
        up_since: up_rx,
        truth: truth.clone(),
        sandbox: Arc::new(sandbox),
        ledger: Arc::new(Mutex::new(Ledger::default())),
        knobs: knobs.clone(),
    };
    let stop_watch = CancellationToken::new();
    let watcher = tokio::spawn(watch_sandbox(shared.clone(), stop_watch.clone()));
    let cars = Cars::start(&shared, &rig, rng.random());

    let mut kills = Vec::new();
    for _ in 0..knobs.kills {
        let pause = Duration::from_millis(rng.random_range(300..1500));
        tokio::time::sleep(pause).await;
        let phase = knobs.pick_phase(&mut rng);
        let hit = wait_for_cue(&shared, phase, &mut rng).await;
        daemon.kill().await;
        up_tx.send_replace(None);
        let down = match rng.random_range(0..100) {
            0..30 => Duration::ZERO,
            30..85 => Duration::from_millis(rng.random_range(100..1500)),
            // Longer than the sandbox's notification retries: notifications are lost.
            _ => Duration::from_millis(rng.random_range(4000..6000)),
        };
        tokio::time::sleep(down).await;
        daemon = ChildDaemon::start_logged(&rig, &text, public, admin, Some(&log)).await;
        up_tx.send_replace(Some(Instant::now()));
        kills.push(Kill { phase, hit, down });
    }

    cars.finish().await;
    let usable = crash_cars::final_round(&shared, &rig).await;
    crash_check::drain(&shared, &rig.database()).await;
    let exit = daemon.terminate().await;
    stop_watch.cancel();
    let _ = watcher.await;

    let mut report = crash_check::check(&shared, &rig.database(), kills, usable, exit).await;
    report.seed = knobs.seed;
    if !report.violations.is_empty() || knobs.keep {
        let kept = std::mem::replace(&mut rig.dir, tempfile::tempdir().expect("temp dir"));
        report.kept = Some(kept.keep());
    }
    drop(rig);
    if let Ok(sandbox) = Arc::try_unwrap(shared.sandbox) {
        sandbox.shutdown().await;
    }
    report
}

/// Waits for `phase`'s cue (at most a few seconds), then its random extra wait. False
/// when the cue never came.
async fn wait_for_cue(shared: &Shared, phase: Phase, rng: &mut StdRng) -> bool {
    let mut moments = shared.moments.subscribe();
    if phase == Phase::Anytime {
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..3000))).await;
        return true;
    }
    let jitter_seed: u64 = rng.random();
    let cue = async {
        loop {
            match moments.recv().await {
                Ok(moment) => {
                    if let Some(max) = phase.cue(&moment) {
                        return max;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Duration::ZERO,
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), cue).await {
        Ok(max) => {
            let ms = u64::try_from(max.as_millis()).unwrap_or(0);
            if ms > 0 {
                let extra = StdRng::seed_from_u64(jitter_seed).random_range(0..=ms);
                tokio::time::sleep(Duration::from_millis(extra)).await;
            }
            true
        }
        Err(_) => false,
    }
}

/// Publishes the sandbox's payments, refunds and answered notifications as moments.
async fn watch_sandbox(shared: Shared, stop: CancellationToken) {
    let mut refunded: BTreeMap<i64, String> = BTreeMap::new();
    let mut answered: BTreeMap<usize, usize> = BTreeMap::new();
    loop {
        for payment in shared.sandbox.payments() {
            let now = payment
                .transaction_amount_refunded
                .map(|a| a.to_string())
                .unwrap_or_default();
            match refunded.insert(payment.id, now.clone()) {
                None => shared.publish(Moment::PaymentCreated(payment.id)),
                Some(before) if before != now => shared.publish(Moment::RefundMade(payment.id)),
                Some(_) => {}
            }
        }
        for delivery in shared.sandbox.deliveries() {
            let ok = delivery
                .attempts
                .iter()
                .filter(|a| a.status.is_some_and(|s| (200..300).contains(&s)))
                .count();
            if answered.insert(delivery.seq, ok).unwrap_or(0) < ok {
                shared.publish(Moment::NotificationDelivered(delivery.resource_id));
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}

/// Where a failing run's files were kept.
pub fn kept_note(kept: &Option<PathBuf>) -> String {
    kept.as_ref().map_or_else(String::new, |p| {
        format!(
            "journal, configuration and daemon log kept in {}",
            p.display()
        )
    })
}
