//! Ground truth from the pumps' side: a DART line simulator that logs every filling it
//! completes, with the figures the head itself booked.
//!
//! The daemon under test never sees this log; the crash-safety checker compares the
//! journal with it. A filling is detected from the head's electronic totals (the per-nozzle
//! filling counter and volume/amount totals, which only a closed filling moves), so a
//! filling that starts and ends while the daemon is dead is logged like any other.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use pump_protocols::dart::{DartPumpView, DartSimulator, DartStatus};
use pump_protocols::{BusAddress, LineSimulator, NozzleId, SimAction, SimPumpView, SubmitError};
use rust_decimal::Decimal;
use tokio::sync::watch;

/// One filling a simulated pump completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filling {
    /// Order of completion across the line (0 first).
    pub seq: usize,
    /// Position (pump `n` at address 0x4F + n).
    pub position: u16,
    /// Logical nozzle.
    pub nozzle: u8,
    /// Volume dispensed.
    pub volume: Decimal,
    /// Amount shown by the head.
    pub amount: Decimal,
    /// Unit price the head used.
    pub unit_price: Decimal,
    /// More than one filling closed between two observations (never expected).
    pub merged: bool,
}

/// What a pump shows right now, as a customer standing at it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpNow {
    /// DART status.
    pub status: DartStatus,
    /// Nozzle out of its holster.
    pub nozzle_out: Option<NozzleId>,
    /// Volume on the display.
    pub volume: Decimal,
    /// Amount on the display.
    pub amount: Decimal,
    /// Fillings this pump completed so far.
    pub fillings: u64,
}

/// Booked totals of one nozzle: fillings, raw volume, raw amount.
type Booked = (u64, u64, u64);

/// The shared log and live view.
#[derive(Clone)]
pub struct Truth {
    fillings: Arc<Mutex<Vec<Filling>>>,
    pumps: watch::Receiver<Vec<PumpNow>>,
}

impl Truth {
    /// Every filling completed so far, in completion order.
    pub fn fillings(&self) -> Vec<Filling> {
        self.fillings.lock().expect("truth log").clone()
    }

    /// Pump `position`'s display now.
    pub fn pump(&self, position: u16) -> PumpNow {
        self.pumps.borrow()[usize::from(position) - 1].clone()
    }

    /// A receiver woken on every change of any pump.
    pub fn subscribe(&self) -> watch::Receiver<Vec<PumpNow>> {
        self.pumps.clone()
    }
}

/// The demo's DART pumps (same nozzles and prices as `protocols::demo_simulator`, default
/// simulator settings), wrapped so that each completed filling is logged.
pub struct RecordingSimulator {
    inner: DartSimulator,
    addresses: Vec<BusAddress>,
    booked: Vec<Vec<(NozzleId, Booked)>>,
    fillings: Arc<Mutex<Vec<Filling>>>,
    pumps: watch::Sender<Vec<PumpNow>>,
}

impl RecordingSimulator {
    /// `pumps` pumps from address 0x50 and the handle to their truth.
    pub fn demo(pumps: u8) -> (RecordingSimulator, Truth) {
        let inner = forecourtd::protocols::demo_dart(pumps).expect("simulated pumps");
        let addresses: Vec<BusAddress> = (0..pumps).map(|i| BusAddress(0x50 + i)).collect();
        let views: Vec<DartPumpView> = addresses
            .iter()
            .map(|a| inner.pump(*a).expect("simulated pump"))
            .collect();
        let booked = views.iter().map(booked_totals).collect();
        let (pumps_tx, pumps_rx) = watch::channel(views.iter().map(now_of).collect());
        let fillings = Arc::new(Mutex::new(Vec::new()));
        let truth = Truth {
            fillings: fillings.clone(),
            pumps: pumps_rx,
        };
        (
            RecordingSimulator {
                inner,
                addresses,
                booked,
                fillings,
                pumps: pumps_tx,
            },
            truth,
        )
    }

    /// Compares every nozzle's booked totals with the last observation and logs what
    /// closed in between; publishes the displays.
    fn observe(&mut self) {
        let mut displays = Vec::with_capacity(self.addresses.len());
        for (index, address) in self.addresses.iter().enumerate() {
            let Some(view) = self.inner.pump(*address) else {
                continue;
            };
            let now = booked_totals(&view);
            for (nozzle, (count, volume, amount)) in &now {
                let Some((_, (was_count, was_volume, was_amount))) =
                    self.booked[index].iter().find(|(n, _)| n == nozzle)
                else {
                    continue;
                };
                if count == was_count {
                    continue;
                }
                let price = view
                    .prices
                    .as_ref()
                    .and_then(|p| p.get(usize::from(nozzle.0) - 1))
                    .copied()
                    .unwrap_or(0);
                let decimals = view.decimals;
                let mut log = self.fillings.lock().expect("truth log");
                let seq = log.len();
                log.push(Filling {
                    seq,
                    position: u16::try_from(index + 1).expect("few pumps"),
                    nozzle: nozzle.0,
                    volume: raw(volume.saturating_sub(*was_volume), decimals.volume),
                    amount: raw(amount.saturating_sub(*was_amount), decimals.amount),
                    unit_price: raw(u64::from(price), decimals.price),
                    merged: count.saturating_sub(*was_count) > 1,
                });
            }
            self.booked[index] = now;
            displays.push(now_of(&view));
        }
        self.pumps.send_if_modified(|old| {
            if *old == displays {
                false
            } else {
                *old = displays;
                true
            }
        });
    }
}

fn raw(value: u64, decimals: u8) -> Decimal {
    Decimal::new(
        i64::try_from(value).expect("figures fit"),
        u32::from(decimals),
    )
}

/// Totals of closed fillings only: the open filling's running figures taken out.
fn booked_totals(view: &DartPumpView) -> Vec<(NozzleId, Booked)> {
    let open = matches!(view.status, DartStatus::Filling | DartStatus::Suspended);
    view.totals
        .iter()
        .map(|(nozzle, t)| {
            let running = open && view.nozzle_out == Some(*nozzle);
            let (v, a) = if running {
                (u64::from(view.volume_raw), u64::from(view.amount_raw))
            } else {
                (0, 0)
            };
            (
                *nozzle,
                (
                    t.fillings,
                    t.volume.saturating_sub(v),
                    t.amount.saturating_sub(a),
                ),
            )
        })
        .collect()
}

fn now_of(view: &DartPumpView) -> PumpNow {
    PumpNow {
        status: view.status,
        nozzle_out: view.nozzle_out,
        volume: view.volume.value(),
        amount: view.amount.value(),
        fillings: view.totals.iter().map(|(_, t)| t.fillings).sum(),
    }
}

impl LineSimulator for RecordingSimulator {
    fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.inner.handle_input(bytes, now);
        self.observe();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.observe();
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.inner.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn act(
        &mut self,
        pump: BusAddress,
        action: SimAction,
        now: Instant,
    ) -> Result<(), SubmitError> {
        let result = self.inner.act(pump, action, now);
        self.observe();
        result
    }

    fn view(&self) -> Vec<SimPumpView> {
        self.inner.view()
    }
}
