//! One simulated DART pump at application level 3: what the head does with each CD
//! transaction and each physical action, and which DC transactions it queues for the
//! master (docs/protocols/dart.md §5, §7).
//!
//! Owns the status machine of §5.5, nozzles, prices, presets, the open filling and its
//! meter, the electronic totals (kept by `totals.rs`) and the queue of DC transactions in
//! event order. It never
//! frames, never sees a TX# or a fault switch (that is `link.rs`) and never reads a
//! clock: every entry point takes `now` and first lets the fuel flow up to it.
//!
//! Which DC transactions each event queues is listed in the docs of [`super`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::physics::{self, Limit, Meter, Rate, RateError, SimPreset};
use super::totals::{NozzleTotals, Running, Totals};
use crate::dart::app::{DartStatus, Dcc, MasterTransaction, Nozio, PumpIdentity, PumpTransaction};
use crate::units::{BusAddress, Decimals, Money, NozzleId, Volume};

/// DC5 alarm code of a CPU reset (§5.7).
pub(crate) const ALARM_CPU_RESET: u8 = 0x01;
/// Most DC transactions a pump keeps for a master that does not poll; the oldest go first.
/// A real head's buffer is finite too, and with DC2s coalesced only a master that sends
/// commands without ever polling can fill it.
pub(crate) const OUTBOX_LIMIT: usize = 128;
/// The filling under way: fuel has flowed, or the valve opened, since the authorization.
#[derive(Debug, Clone, Copy)]
struct OpenFilling {
    nozzle: NozzleId,
    /// Price fixed when the filling started (CD5 is refused until it ends, §5.2).
    price: u32,
    limit: Limit,
}

/// Everything a pump is built from.
#[derive(Debug, Clone)]
pub(crate) struct PumpConfig {
    pub(crate) address: BusAddress,
    pub(crate) decimals: Decimals,
    /// Configured logical nozzles, ascending.
    pub(crate) nozzles: Vec<NozzleId>,
    /// Raw prices of logical nozzles 1..=highest configured, 0 for a gap.
    pub(crate) prices: Vec<u32>,
    pub(crate) programmed: bool,
    pub(crate) identity: PumpIdentity,
    pub(crate) flow_rate: Volume,
    pub(crate) rate: Rate,
    pub(crate) dc2_interval: Duration,
}

/// One simulated pump (application level).
#[derive(Debug, Clone)]
pub(crate) struct Pump {
    config: PumpConfig,
    /// Raw price per logical nozzle (index = nozzle − 1); zeros until programmed.
    prices: Vec<u32>,
    programmed: bool,
    status: DartStatus,
    /// Where RESUME goes back to while suspended (AUTHORIZED or FILLING).
    suspended_from: DartStatus,
    nozzle_out: Option<NozzleId>,
    /// The nozzle DC3 reports as selected: the last one lifted (§5.4 NOZIO).
    selected: u8,
    /// CD2: nozzles allowed for the next authorization; all until a CD2 says otherwise.
    allowed: Vec<NozzleId>,
    /// The CD2 list in force when AUTHORIZE arrived.
    authorized: Vec<NozzleId>,
    preset: Option<SimPreset>,
    filling: Option<OpenFilling>,
    meter: Meter,
    volume: u32,
    amount: u32,
    flow_rate: Volume,
    rate: Rate,
    /// Set while the valve is open (FILLING): the instant the meter was last run to.
    flow_clock: Option<Instant>,
    next_dc2: Option<Instant>,
    /// Figures of the last DC2 queued.
    last_dc2: (u32, u32),
    alarm: Option<u8>,
    /// Electronic totals, completed fillings only.
    totals: Totals,
    outbox: VecDeque<PumpTransaction>,
}

fn index(nozzle: NozzleId) -> usize {
    usize::from(nozzle.0).saturating_sub(1)
}

fn raw32(value: u128) -> u32 {
    // Limits keep every figure within 8 digits; saturate rather than wrap if not.
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl Pump {
    pub(crate) fn new(config: PumpConfig) -> Self {
        let slots = config.prices.len();
        let programmed = config.programmed;
        Self {
            prices: if programmed {
                config.prices.clone()
            } else {
                vec![0; slots]
            },
            programmed,
            status: if programmed {
                DartStatus::FillingCompleted
            } else {
                DartStatus::NotProgrammed
            },
            suspended_from: DartStatus::Authorized,
            nozzle_out: None,
            selected: 0,
            allowed: config.nozzles.clone(),
            authorized: config.nozzles.clone(),
            preset: None,
            filling: None,
            meter: Meter::default(),
            volume: 0,
            amount: 0,
            flow_rate: config.flow_rate,
            rate: config.rate,
            flow_clock: None,
            next_dc2: None,
            last_dc2: (0, 0),
            alarm: None,
            totals: Totals::new(slots),
            outbox: VecDeque::new(),
            config,
        }
    }

    pub(crate) fn address(&self) -> BusAddress {
        self.config.address
    }

    pub(crate) fn decimals(&self) -> Decimals {
        self.config.decimals
    }

    pub(crate) fn status(&self) -> DartStatus {
        self.status
    }

    pub(crate) fn nozzle_out(&self) -> Option<NozzleId> {
        self.nozzle_out
    }

    pub(crate) fn figures(&self) -> (u32, u32) {
        (self.volume, self.amount)
    }

    pub(crate) fn volume(&self) -> Volume {
        Volume::from_raw(self.volume.into(), self.config.decimals.volume)
    }

    pub(crate) fn amount(&self) -> Money {
        Money::from_raw(self.amount.into(), self.config.decimals.amount)
    }

    pub(crate) fn prices(&self) -> Option<&[u32]> {
        self.programmed.then_some(self.prices.as_slice())
    }

    pub(crate) fn preset(&self) -> Option<SimPreset> {
        self.preset
    }

    pub(crate) fn alarm(&self) -> Option<u8> {
        self.alarm
    }

    pub(crate) fn flow_rate(&self) -> Volume {
        self.flow_rate
    }

    pub(crate) fn outbox(&mut self) -> &mut VecDeque<PumpTransaction> {
        &mut self.outbox
    }

    pub(crate) fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// Totals of every configured nozzle, the open filling included.
    pub(crate) fn totals(&self) -> Vec<(NozzleId, NozzleTotals)> {
        self.config
            .nozzles
            .iter()
            .map(|&n| (n, self.totals.of(n.0, self.running())))
            .collect()
    }

    /// Lets fuel flow up to `now`: stops at the limit, queues DC2 on its cadence.
    pub(crate) fn advance(&mut self, now: Instant) {
        let (Some(since), Some(filling)) = (self.flow_clock, self.filling) else {
            return;
        };
        let elapsed = now.saturating_duration_since(since);
        let reached = self.meter.run(self.rate, elapsed, filling.limit.volume);
        self.flow_clock = Some(now.max(since));
        self.refresh_figures(filling);
        if reached.is_some() {
            if let Some(amount) = filling.limit.amount {
                self.amount = raw32(amount.into());
            }
            self.finish(DartStatus::MaxReached);
            return;
        }
        let Some(due) = self.next_dc2 else { return };
        if now < due {
            return;
        }
        if self.figures() != self.last_dc2 {
            self.queue_dc2();
        }
        let interval = self.config.dc2_interval.as_nanos().max(1);
        let periods = now.duration_since(due).as_nanos() / interval + 1;
        let step = Duration::from_nanos(u64::try_from(periods * interval).unwrap_or(u64::MAX));
        self.next_dc2 = due.checked_add(step);
    }

    /// When [`advance`](Self::advance) has something to do: the limit or the next DC2.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let (since, filling) = (self.flow_clock?, self.filling?);
        let stop = self
            .meter
            .time_to(self.rate, filling.limit.volume)
            .and_then(|d| since.checked_add(d));
        match (stop, self.next_dc2) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Applies one transaction of a master block (§5.2).
    pub(crate) fn apply(&mut self, transaction: MasterTransaction, now: Instant) {
        self.advance(now);
        match transaction {
            MasterTransaction::Command(dcc) => self.command(dcc, now),
            MasterTransaction::AllowedNozzles(list) => {
                let mut allowed: Vec<NozzleId> = list
                    .into_iter()
                    .map(NozzleId)
                    .filter(|n| self.config.nozzles.contains(n))
                    .collect();
                allowed.sort_unstable();
                allowed.dedup();
                self.allowed = allowed;
            }
            MasterTransaction::PresetVolume(volume) => self.set_preset(SimPreset::Volume(volume)),
            MasterTransaction::PresetAmount(amount) => self.set_preset(SimPreset::Amount(amount)),
            MasterTransaction::PriceUpdate(list) => self.update_prices(&list),
            MasterTransaction::SuspendRequest(nozzle) => {
                self.suspend();
                self.push(PumpTransaction::SuspendReply(nozzle));
            }
            MasterTransaction::ResumeRequest(nozzle) => {
                self.resume(now);
                self.push(PumpTransaction::ResumeReply(nozzle));
            }
            MasterTransaction::RequestTotals(coun) | MasterTransaction::RequestTotalsCd8(coun) => {
                if let Some(dc101) = self.totals.dc101(coun, self.running()) {
                    self.push(dc101);
                }
            }
            // Outputs, filling type and unknown transactions change nothing simulated.
            MasterTransaction::SetOutput { .. }
            | MasterTransaction::FillingType(_)
            | MasterTransaction::Unknown { .. } => {}
        }
    }

    /// A CD1 command, accepted only in the statuses §5.3 lists.
    fn command(&mut self, dcc: Dcc, now: Instant) {
        use DartStatus::*;
        let status = self.status;
        match dcc {
            Dcc::ReturnStatus => {
                self.push(PumpTransaction::Status(status));
                self.push(self.dc3());
                if let Some(code) = self.alarm {
                    self.push(PumpTransaction::Alarm(code));
                }
            }
            Dcc::ReturnPumpIdentity => self.push(PumpTransaction::Identity(self.config.identity)),
            Dcc::ReturnFillingInfo => {
                if matches!(
                    status,
                    Reset | Authorized | Filling | FillingCompleted | MaxReached | Suspended
                ) {
                    self.queue_dc2();
                    self.push(self.dc3());
                }
            }
            Dcc::Reset if matches!(status, FillingCompleted | MaxReached | SwitchedOff) => {
                self.meter = Meter::default();
                self.volume = 0;
                self.amount = 0;
                self.alarm = None;
                self.preset = None;
                self.enter(if self.programmed {
                    Reset
                } else {
                    NotProgrammed
                });
                self.queue_dc2();
            }
            Dcc::Authorize if status == Reset => {
                self.authorized = self.allowed.clone();
                self.enter(Authorized);
                self.try_start(now);
            }
            Dcc::Stop
                if matches!(
                    status,
                    Reset | Authorized | Filling | MaxReached | SwitchedOff | Suspended
                ) =>
            {
                self.finish(FillingCompleted)
            }
            Dcc::SwitchOff => self.finish(SwitchedOff),
            Dcc::Suspend => self.suspend(),
            Dcc::Resume => self.resume(now),
            Dcc::ReturnPrices => self.push(PumpTransaction::Prices(self.prices.clone())),
            // DC7 (pump parameters) is not simulated; other codes mean nothing.
            _ => {}
        }
    }

    fn set_preset(&mut self, preset: SimPreset) {
        self.preset = Some(preset);
        let Some(mut filling) = self.filling else {
            // Applies when the next filling starts.
            return;
        };
        let exceeded = match preset {
            SimPreset::Volume(volume) => self.volume >= volume,
            SimPreset::Amount(amount) => self.amount >= amount,
        };
        if exceeded {
            // §5.9: a preset already exceeded stops the filling at once, figures as they are.
            self.finish(DartStatus::MaxReached);
            return;
        }
        filling.limit = physics::limit(Some(preset), filling.price, self.config.decimals);
        self.filling = Some(filling);
    }

    /// CD5: a price for every logical nozzle or nothing; refused once a filling started.
    fn update_prices(&mut self, list: &[u32]) {
        if list.len() < self.prices.len() || self.filling.is_some() {
            return;
        }
        let slots = self.prices.len();
        self.prices.copy_from_slice(&list[..slots]);
        if !self.programmed {
            self.programmed = true;
            if self.status == DartStatus::NotProgrammed {
                self.enter(DartStatus::FillingCompleted);
            }
        }
    }

    fn suspend(&mut self) {
        if !matches!(self.status, DartStatus::Authorized | DartStatus::Filling) {
            return;
        }
        self.flow_clock = None;
        self.next_dc2 = None;
        if self.figures() != self.last_dc2 {
            self.queue_dc2();
        }
        self.suspended_from = self.status;
        self.enter(DartStatus::Suspended);
    }

    fn resume(&mut self, now: Instant) {
        if self.status != DartStatus::Suspended {
            return;
        }
        let back = self.suspended_from;
        self.enter(back);
        if back == DartStatus::Filling {
            self.open_valve(now);
        } else {
            self.try_start(now);
        }
    }

    /// Starts a filling when everything allows it (§5.5 AUTHORIZED → FILLING): authorized,
    /// an authorized nozzle out, fuel flowing. The start limit is zero: FILLING as soon as
    /// the valve opens.
    fn try_start(&mut self, now: Instant) {
        if self.status != DartStatus::Authorized || self.rate.is_zero() || !self.programmed {
            return;
        }
        let Some(nozzle) = self.nozzle_out else {
            return;
        };
        if !self.authorized.contains(&nozzle) {
            return;
        }
        let price = self.prices.get(index(nozzle)).copied().unwrap_or(0);
        self.filling = Some(OpenFilling {
            nozzle,
            price,
            limit: physics::limit(self.preset, price, self.config.decimals),
        });
        self.meter = Meter::default();
        self.volume = 0;
        self.amount = 0;
        self.enter(DartStatus::Filling);
        self.open_valve(now);
        // A limit of nothing (a zero preset) stops here.
        self.advance(now);
    }

    fn open_valve(&mut self, now: Instant) {
        self.flow_clock = Some(now);
        self.next_dc2 = now.checked_add(self.config.dc2_interval);
    }

    fn refresh_figures(&mut self, filling: OpenFilling) {
        let volume = self.meter.volume();
        self.volume = raw32(volume.into());
        self.amount = raw32(physics::amount(volume, filling.price, self.config.decimals));
    }

    /// Closes the open filling, if any, into the totals; the valve shuts.
    fn close_filling(&mut self) {
        self.flow_clock = None;
        self.next_dc2 = None;
        let Some(filling) = self.filling.take() else {
            return;
        };
        self.totals.add_filling(Running {
            nozzle: filling.nozzle,
            volume: self.volume,
            amount: self.amount,
        });
    }

    /// Ends whatever runs and moves to `to`, final DC2 first.
    fn finish(&mut self, to: DartStatus) {
        self.close_filling();
        if self.figures() != self.last_dc2 {
            self.queue_dc2();
        }
        self.enter(to);
    }

    /// Moves to `status`; a change queues DC1 and DC3.
    fn enter(&mut self, status: DartStatus) {
        if status != self.status {
            self.status = status;
            self.push(PumpTransaction::Status(status));
            self.push(self.dc3());
        }
    }

    fn dc3(&self) -> PumpTransaction {
        let price = match self.filling {
            Some(filling) => filling.price,
            None if self.selected == 0 => 0,
            None => self
                .prices
                .get(usize::from(self.selected) - 1)
                .copied()
                .unwrap_or(0),
        };
        PumpTransaction::NozzleStatus {
            price,
            nozio: Nozio::new(self.selected, self.nozzle_out.is_some()),
        }
    }

    fn queue_dc2(&mut self) {
        self.last_dc2 = self.figures();
        let dc2 = PumpTransaction::FilledVolumeAmount {
            volume: self.volume,
            amount: self.amount,
        };
        if let Some(last @ PumpTransaction::FilledVolumeAmount { .. }) = self.outbox.back_mut() {
            *last = dc2;
        } else {
            self.push(dc2);
        }
    }

    fn push(&mut self, transaction: PumpTransaction) {
        if self.outbox.len() >= OUTBOX_LIMIT {
            self.outbox.pop_front();
        }
        self.outbox.push_back(transaction);
    }

    /// The open filling's figures, which the totals count as they run.
    fn running(&self) -> Option<Running> {
        self.filling.map(|f| Running {
            nozzle: f.nozzle,
            volume: self.volume,
            amount: self.amount,
        })
    }

    /// A customer lifts `nozzle`.
    pub(crate) fn lift(&mut self, nozzle: NozzleId, now: Instant) -> Result<(), String> {
        if !self.config.nozzles.contains(&nozzle) {
            return Err(format!("pump {} has no nozzle {nozzle}", self.address()));
        }
        if let Some(out) = self.nozzle_out {
            return Err(format!("nozzle {out} of pump {} is out", self.address()));
        }
        self.advance(now);
        self.nozzle_out = Some(nozzle);
        self.selected = nozzle.0;
        let before = self.status;
        self.try_start(now);
        if self.status == before {
            self.push(self.dc3());
        }
        Ok(())
    }

    /// The customer hangs the nozzle up (§5.5: FILLING, SUSPENDED, MAX REACHED → 5).
    pub(crate) fn hang(&mut self, now: Instant) -> Result<(), String> {
        if self.nozzle_out.is_none() {
            return Err(format!("no nozzle of pump {} is out", self.address()));
        }
        self.advance(now);
        self.nozzle_out = None;
        let before = self.status;
        match self.status {
            DartStatus::Filling => self.finish(DartStatus::FillingCompleted),
            DartStatus::Suspended if self.filling.is_some() => {
                self.finish(DartStatus::FillingCompleted)
            }
            DartStatus::MaxReached => self.enter(DartStatus::FillingCompleted),
            _ => {}
        }
        if self.status == before {
            self.push(self.dc3());
        }
        Ok(())
    }

    /// The customer squeezes the trigger harder or lets go (0 stops the flow).
    pub(crate) fn set_flow_rate(
        &mut self,
        per_minute: Volume,
        now: Instant,
    ) -> Result<(), RateError> {
        let rate = Rate::per_minute(per_minute, self.config.decimals.volume)?;
        self.advance(now);
        self.rate = rate;
        self.flow_rate = per_minute;
        self.try_start(now);
        Ok(())
    }

    /// CPU reset: the motor stops, the figures so far stay as a completed filling (a real
    /// head keeps them in non-volatile memory, with prices and totals), everything in RAM
    /// is lost (queued transactions, presets, the CD2 list), and the head comes back
    /// announcing DC1, DC3 and DC5 "CPU reset".
    pub(crate) fn power_reset(&mut self, now: Instant) {
        self.advance(now);
        self.close_filling();
        self.outbox.clear();
        self.preset = None;
        self.allowed = self.config.nozzles.clone();
        self.authorized = self.config.nozzles.clone();
        self.alarm = Some(ALARM_CPU_RESET);
        self.status = if self.programmed {
            DartStatus::FillingCompleted
        } else {
            DartStatus::NotProgrammed
        };
        self.push(PumpTransaction::Status(self.status));
        self.push(self.dc3());
        self.push(PumpTransaction::Alarm(ALARM_CPU_RESET));
    }
}
