//! A simulated DART line: several Wayne-style pumps answering a master, byte-exact and
//! sans-IO, for tests, the demo and `forecourtd simulate` (docs/protocols/dart.md §7).
//!
//! This module owns the line: it decodes what the master writes, hands each frame to the
//! pump it addresses and schedules the answers `answer_delay` later for
//! [`poll_transmit`](LineSimulator::poll_transmit). Below it, `sim/link.rs` keeps each
//! pump's TX#, un-ACKed block and fault switches, `sim/pump.rs` the application level
//! (statuses, nozzles, prices, presets), `sim/totals.rs` the electronic totals and
//! `sim/physics.rs` the meter. It never opens a port, never sleeps and never reads a
//! clock: every call takes `now`, and [`poll_timeout`](LineSimulator::poll_timeout) says
//! when to call back.
//!
//! # Building one
//!
//! ```
//! use std::time::{Duration, Instant};
//! use pump_protocols::dart::sim::DartSimulator;
//! use pump_protocols::{BusAddress, Decimals, LineSimulator, NozzleId, SimAction, UnitPrice};
//!
//! // Two pumps, 0x50 and 0x51, each with nozzle 1 at 1.645 and nozzle 2 at 1.759.
//! let decimals = Decimals { volume: 2, amount: 2, price: 3 };
//! let prices = [
//!     (NozzleId(1), UnitPrice::from_raw(1645, 3)),
//!     (NozzleId(2), UnitPrice::from_raw(1759, 3)),
//! ];
//! let mut sim = DartSimulator::with_pumps(2, BusAddress(0x50), decimals, &prices)?;
//!
//! let t0 = Instant::now();
//! sim.handle_input(&[0x50, 0x20, 0xFA], t0); // POLL 0x50
//! assert_eq!(sim.poll_transmit(t0), None); // not before the answer delay
//! assert_eq!(sim.poll_timeout(), Some(t0 + Duration::from_millis(5)));
//! let t1 = t0 + Duration::from_millis(5);
//! assert_eq!(sim.poll_transmit(t1), Some(vec![0x50, 0x70, 0xFA])); // EOT
//!
//! sim.act(BusAddress(0x50), SimAction::LiftNozzle(NozzleId(1)), t1)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`DartSimulator::new`] takes one [`SimPumpSetup`] per pump (address, decimals, nozzles
//! with prices, flow rate) and the line's [`SimSettings`] (delays, DC2 cadence, TX# wrap,
//! the uncertain behaviours of §3.4 and §5.5).
//!
//! # Behaviour
//!
//! Link (§3.4, §4, §7): only frames to a simulated address are answered. POLL gets the
//! un-ACKed block again with its TX#, else every queued DC transaction packed in event
//! order into one block (at most 250 bytes; the rest waits for the next POLL), else EOT
//! `ADR 70 FA`. ACK(t) of the outstanding block drops it and moves TX# on by
//! [`SimSettings::tx_wrap`]; an ACK of anything else is ignored; NAK leaves the block to be
//! sent again, same TX#, on the next POLL; ACKPOLL is ACK then POLL. A master DATA block is
//! applied transaction by transaction and ACKed with its TX#; the same TX# as the last one
//! applied is a retransmission, ACKed and not applied, TX# 0 included under the default
//! [`DuplicateRule::Strict`] (TX# 0 restarts the numbering only with
//! [`DuplicateRule::Tx0Restarts`], see [`SimSettings::duplicate_rule`]). A block with a
//! bad CRC is not answered, or NAKed with [`SimSettings::nak_bad_crc`]; a well-framed
//! block whose transactions do not parse is NAKed.
//!
//! Pump (§5), statuses as §5.5 has them: NOT PROGRAMMED (0) until a CD5 with a price for every logical nozzle up to the
//! highest configured one, then FILLING COMPLETED (5); RESET (1) from 5, 6 and 7;
//! AUTHORIZE only in RESET; FILLING (4) as soon as an authorized nozzle is out and fuel
//! flows (start limit zero); a filling stops exactly at its preset or at the pump's
//! maximum (8-digit fields) with MAX REACHED (6), on hang-up or STOP with 5, on SWITCH OFF
//! with 7; SUSPEND (8) and RESUME back to where it was. Fuel flows at the pump's flow rate
//! for the time that passes between calls; the volume counts whole units of the volume
//! decimals, the amount is volume × price rounded half-up to the amount decimals, except
//! on an amount preset, which stops at the first volume whose amount reaches the preset
//! and shows the preset itself (where one volume step costs more than one amount unit no
//! volume costs exactly the preset, and a head shows what it stopped at).
//!
//! What a pump queues for the master, in event order (§5.4, §7):
//!
//! - a status change: DC1 then DC3 (captures show the pair in that order);
//! - a nozzle lifted or hung up without a status change: DC3 alone, as the unsolicited
//!   `51 3A 03 04 00 81 23 11 …` of §C;
//! - a filling that ends: its final DC2 first, if the master has not had those figures,
//!   then DC1 5/6/7 and DC3;
//! - while fuel flows, DC2 every [`SimSettings::dc2_interval`] if the figures moved; a
//!   DC2 still last in the queue is replaced rather than followed by another, so a master
//!   that polls slowly gets the latest figures, not a backlog;
//! - RESET: DC1 1, DC3, then DC2 0/0 (after the status, so that a master never takes the
//!   zeros for the figures of the completed filling);
//! - RETURN STATUS: DC1, DC3 and DC5 while an alarm is set (RESET clears it); RETURN
//!   FILLING INFORMATION: DC2 and DC3; RETURN PUMP IDENTITY: DC9; RETURN PRICES: DC103;
//!   CD101 (or CD8): DC101 for the COUN values of §5.6; CD14/CD15: DC14/DC15.
//!
//! RETURN PUMP PARAMETERS (DC7) is not simulated; CD7 outputs and CD13 filling type are
//! accepted and change nothing. At most 128 transactions wait in a pump's queue, the
//! oldest dropped first, as a real head's buffer is finite.
//!
//! Fault switches ([`SimAction`]): `DropAnswers(n)` swallows the next n answers,
//! `CorruptAnswers(n)` spoils them (a wrong CRC on a data block, an invalid CTRL on a
//! control frame, which carries no CRC), `AnswerLate(n)` sends them after
//! [`SimSettings::late_delay`], `Silent(true)` cuts the pump off the line both ways
//! (it goes on dispensing), `PowerReset` reboots its CPU: the filling so far is kept as a
//! completed filling (5), DC1, DC3 and DC5 "CPU reset" (0x01) are queued, and the link
//! restarts at TX# 0.

mod link;
mod physics;
mod pump;
mod totals;

use std::time::{Duration, Instant};

use rust_decimal::Decimal;

use self::link::Link;
use self::physics::Rate;
pub use self::physics::{RateError, SimPreset};
use self::pump::{Pump, PumpConfig};
pub use self::totals::NozzleTotals;
use super::app::{dart_status_to_model, DartStatus, PumpIdentity, MAX_NOZZLE};
use super::frame::{is_dart_address, Decoded, DiscardReason, Frame, FrameDecoder};
use super::TxWrap;
use crate::model::{LineSimulator, PumpStatus, SimAction, SimPumpView, SubmitError, Totals};
use crate::units::{BusAddress, Decimals, Money, NozzleId, QuantityError, UnitPrice, Volume};

/// Digits of a DART unit price field (§5.8).
const PRICE_DIGITS: u8 = 6;
/// Largest DPVOL and DPAMO (§5.2 CD9).
const MAX_FIGURE_DECIMALS: u8 = 8;
/// Largest DPUNP (§5.2 CD9).
const MAX_PRICE_DECIMALS: u8 = 4;

/// Line-wide settings of a simulated DART line. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSettings {
    /// Time from the end of a master frame to the answer (§4.1: 5–6 ms measured, 25 ms at
    /// most). Default 5 ms.
    pub answer_delay: Duration,
    /// Answer delay under the `AnswerLate` fault: longer than any master timeout (§4.1:
    /// 100–120 ms in practice). Default 200 ms.
    pub late_delay: Duration,
    /// DC2 cadence while fuel flows (§7: 100–500 ms). Must be above zero. Default 250 ms.
    pub dc2_interval: Duration,
    /// What follows TX# 0xF for the pumps' own blocks (§3.4). Default 0xF → 0x1.
    pub tx_wrap: TxWrap,
    /// Answer a master block with a bad CRC by NAK (`true`) or not at all (`false`,
    /// default) (§7).
    pub nak_bad_crc: bool,
    /// Power up programmed, in FILLING COMPLETED with the setup's prices, instead of NOT
    /// PROGRAMMED until a CD5 (default `false`, as §5.5 describes a head after zeroize).
    pub start_programmed: bool,
    /// How a pump tells a retransmission from a new master block (§3.4). Default
    /// [`DuplicateRule::Strict`]: TX# 0 is never a restart, as the lab note on a real
    /// Wayne head describes, so the master must cope with a pump that took its last
    /// session's TX# 0 block.
    pub duplicate_rule: DuplicateRule,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            answer_delay: Duration::from_millis(5),
            late_delay: Duration::from_millis(200),
            dc2_interval: Duration::from_millis(250),
            tx_wrap: TxWrap::FTo1,
            nak_bad_crc: false,
            start_programmed: false,
            duplicate_rule: DuplicateRule::Strict,
        }
    }
}

/// Which master blocks a simulated pump takes for retransmissions, not to be applied
/// again (§3.4).
///
/// §3.4 says a block with the TX# of the last one accepted is a duplicate, which a real
/// Wayne head ACKs without applying; it also reports masters that send every block with
/// TX# 0 and pumps that evidently take TX# 0 as a restart. The strict rule is the one a
/// master cannot get wrong by luck: a master that starts every session at TX# 0 meets a
/// pump whose last accepted block was TX# 0 after two restarts with nothing in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DuplicateRule {
    /// Any block whose TX# equals the last one applied is a retransmission: ACKed, not
    /// applied, TX# 0 included (default; the daemon's tests, demo and `simulate` use it).
    #[default]
    Strict,
    /// As `Strict`, except that a block with TX# 0 is always applied, as a protocol
    /// restart: the lenient pumps of the working masters that send everything at TX# 0.
    Tx0Restarts,
}

/// One simulated pump (fuelling point) on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPumpSetup {
    /// Its address, 0x50..=0x6F (§2).
    pub address: BusAddress,
    /// Decimals of its volume, amount and price fields (§5.8).
    pub decimals: Decimals,
    /// Its logical nozzles (1..=15) with the price each has when the pump starts
    /// programmed ([`SimSettings::start_programmed`]); otherwise the master's CD5 sets them.
    /// Build a price from a raw field with [`UnitPrice::from_raw`].
    pub nozzles: Vec<(NozzleId, UnitPrice)>,
    /// Volume per minute while a nozzle is open (changed at run time by
    /// [`SimAction::SetFlowRate`]). [`SimPumpSetup::new`] uses 40 units a minute.
    pub flow_rate: Volume,
    /// What DC9 answers to RETURN PUMP IDENTITY.
    pub identity: PumpIdentity,
}

impl SimPumpSetup {
    /// The default flow rate: 40 units (litres) a minute, a car dispenser's pace.
    pub fn default_flow_rate() -> Volume {
        Volume::new(Decimal::from(40))
    }

    /// A pump at `address` with these nozzles, 40 units a minute and identity 0.
    pub fn new(
        address: BusAddress,
        decimals: Decimals,
        nozzles: Vec<(NozzleId, UnitPrice)>,
    ) -> Self {
        Self {
            address,
            decimals,
            nozzles,
            flow_rate: Self::default_flow_rate(),
            identity: PumpIdentity(0),
        }
    }
}

/// Why a simulated line cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimSetupError {
    /// A line needs at least one pump.
    #[error("no pump to simulate")]
    NoPumps,
    /// DART addresses are 0x50..=0x6F (§2).
    #[error("address {0} is outside the DART range 0x50..=0x6F")]
    BadAddress(BusAddress),
    /// Two pumps cannot share an address.
    #[error("address {0} is used twice")]
    DuplicateAddress(BusAddress),
    /// A pump needs at least one nozzle.
    #[error("pump {0} has no nozzle")]
    NoNozzles(BusAddress),
    /// Logical nozzles are 1..=15 (§5.9).
    #[error("pump {pump}: nozzle {nozzle} is outside 1..=15")]
    BadNozzle {
        /// The pump.
        pump: BusAddress,
        /// The nozzle.
        nozzle: NozzleId,
    },
    /// A nozzle listed twice.
    #[error("pump {pump}: nozzle {nozzle} is listed twice")]
    DuplicateNozzle {
        /// The pump.
        pump: BusAddress,
        /// The nozzle.
        nozzle: NozzleId,
    },
    /// DPVOL and DPAMO are 0..=8, DPUNP 0..=4 (§5.2 CD9).
    #[error("pump {pump}: decimals {decimals:?} exceed volume 8, amount 8, price 4")]
    BadDecimals {
        /// The pump.
        pump: BusAddress,
        /// The decimals asked for.
        decimals: Decimals,
    },
    /// A price that does not fit the 6-digit field at the price decimals.
    #[error("pump {pump}, nozzle {nozzle}: {source}")]
    BadPrice {
        /// The pump.
        pump: BusAddress,
        /// The nozzle.
        nozzle: NozzleId,
        /// Why it does not fit.
        source: QuantityError,
    },
    /// A flow rate that is negative or absurd.
    #[error("pump {pump}: {source}")]
    BadFlowRate {
        /// The pump.
        pump: BusAddress,
        /// Why.
        source: RateError,
    },
    /// DC2 cadence of zero.
    #[error("the DC2 interval must be above zero")]
    ZeroDc2Interval,
    /// A run of addresses that leaves the DART range.
    #[error("{count} pumps from {first} go past 0x6F")]
    TooManyPumps {
        /// The first address.
        first: BusAddress,
        /// How many pumps were asked for.
        count: u8,
    },
}

/// The state of one simulated pump with its DART details, for tests and displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DartPumpView {
    /// Its address.
    pub address: BusAddress,
    /// Its DC1 status.
    pub status: DartStatus,
    /// Decimals of its fields, to read the raw figures below.
    pub decimals: Decimals,
    /// The nozzle out of its holster, if any.
    pub nozzle_out: Option<NozzleId>,
    /// Raw volume of the current or last filling (at the volume decimals).
    pub volume_raw: u32,
    /// Raw amount of the current or last filling (at the amount decimals).
    pub amount_raw: u32,
    /// Volume of the current or last filling.
    pub volume: Volume,
    /// Amount of the current or last filling.
    pub amount: Money,
    /// Raw prices per logical nozzle from 1, once programmed.
    pub prices: Option<Vec<u32>>,
    /// The preset in force (cleared by RESET).
    pub preset: Option<SimPreset>,
    /// The alarm not yet cleared by RESET.
    pub alarm: Option<u8>,
    /// Current flow rate, volume per minute.
    pub flow_rate: Volume,
    /// Electronic totals per configured nozzle, the open filling included.
    pub totals: Vec<(NozzleId, NozzleTotals)>,
    /// TX# of the pump's next new block.
    pub tx_out: u8,
    /// TX# of its block waiting for an ACK.
    pub awaiting_ack: Option<u8>,
    /// DC transactions queued and not yet in a block.
    pub queued: usize,
}

/// An answer waiting for its time on the line.
#[derive(Debug, Clone)]
struct Pending {
    due: Instant,
    from: BusAddress,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Slot {
    pump: Pump,
    link: Link,
}

/// Several simulated DART pumps on one line: a [`LineSimulator`] (see the module docs).
#[derive(Debug, Clone)]
pub struct DartSimulator {
    settings: SimSettings,
    slots: Vec<Slot>,
    decoder: FrameDecoder,
    /// Answers in the order they go on the line (by due time, then arrival).
    pending: Vec<Pending>,
}

impl DartSimulator {
    /// A line with these pumps and settings.
    pub fn new(pumps: Vec<SimPumpSetup>, settings: SimSettings) -> Result<Self, SimSetupError> {
        if pumps.is_empty() {
            return Err(SimSetupError::NoPumps);
        }
        if settings.dc2_interval.is_zero() {
            return Err(SimSetupError::ZeroDc2Interval);
        }
        let mut slots: Vec<Slot> = Vec::with_capacity(pumps.len());
        for setup in pumps {
            if slots.iter().any(|s| s.pump.address() == setup.address) {
                return Err(SimSetupError::DuplicateAddress(setup.address));
            }
            let config = pump_config(setup, &settings)?;
            slots.push(Slot {
                pump: Pump::new(config),
                link: Link::default(),
            });
        }
        Ok(Self {
            settings,
            slots,
            decoder: FrameDecoder::new(),
            pending: Vec::new(),
        })
    }

    /// `count` identical pumps at consecutive addresses from `first_address`, each with
    /// `nozzles` and their prices, default settings: the quick way for a demo.
    pub fn with_pumps(
        count: u8,
        first_address: BusAddress,
        decimals: Decimals,
        nozzles: &[(NozzleId, UnitPrice)],
    ) -> Result<Self, SimSetupError> {
        let too_many = SimSetupError::TooManyPumps {
            first: first_address,
            count,
        };
        let pumps = (0..count)
            .map(|i| {
                let address = first_address.0.checked_add(i).ok_or(too_many.clone())?;
                if !is_dart_address(address) && is_dart_address(first_address.0) {
                    return Err(too_many.clone());
                }
                Ok(SimPumpSetup::new(
                    BusAddress(address),
                    decimals,
                    nozzles.to_vec(),
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(pumps, SimSettings::default())
    }

    /// The settings the line runs with.
    pub fn settings(&self) -> &SimSettings {
        &self.settings
    }

    /// The DART-level state of the pump at `address`.
    pub fn pump(&self, address: BusAddress) -> Option<DartPumpView> {
        let slot = self.slots.iter().find(|s| s.pump.address() == address)?;
        let pump = &slot.pump;
        let (volume_raw, amount_raw) = pump.figures();
        Some(DartPumpView {
            address,
            status: pump.status(),
            decimals: pump.decimals(),
            nozzle_out: pump.nozzle_out(),
            volume_raw,
            amount_raw,
            volume: pump.volume(),
            amount: pump.amount(),
            prices: pump.prices().map(<[u32]>::to_vec),
            preset: pump.preset(),
            alarm: pump.alarm(),
            flow_rate: pump.flow_rate(),
            totals: pump.totals(),
            tx_out: slot.link.tx_out(),
            awaiting_ack: slot.link.awaiting_ack(),
            queued: pump.queued(),
        })
    }

    fn slot_mut(&mut self, address: BusAddress) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.pump.address() == address)
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) {
        let address = frame.address();
        let settings = &self.settings;
        let Some(slot) = self.slots.iter_mut().find(|s| s.pump.address() == address) else {
            return;
        };
        if slot.link.faults.silent {
            return;
        }
        slot.pump.advance(now);
        if let Some(answer) = slot.link.receive(frame, &mut slot.pump, settings, now) {
            self.answer(address, &answer, now);
        }
    }

    /// §7 with the NAK setting: a block with a bad CRC for a simulated pump gets NAK(t).
    fn on_bad_block(&mut self, address: BusAddress, tx: u8, now: Instant) {
        if !self.settings.nak_bad_crc {
            return;
        }
        match self.slot_mut(address) {
            Some(slot) if !slot.link.faults.silent => {
                self.answer(address, &Frame::nak(address, tx), now);
            }
            _ => {}
        }
    }

    /// Puts `frame` on the line after the answer delay, through the fault switches.
    fn answer(&mut self, from: BusAddress, frame: &Frame, now: Instant) {
        let settings = &self.settings;
        let Some(slot) = self.slots.iter_mut().find(|s| s.pump.address() == from) else {
            return;
        };
        let Some((bytes, delay)) = slot.link.wire(frame, settings) else {
            return;
        };
        let due = now.checked_add(delay).unwrap_or(now);
        let at = self.pending.partition_point(|p| p.due <= due);
        self.pending.insert(at, Pending { due, from, bytes });
    }
}

/// Checks a setup and turns it into a pump's configuration.
fn pump_config(setup: SimPumpSetup, settings: &SimSettings) -> Result<PumpConfig, SimSetupError> {
    let pump = setup.address;
    if !is_dart_address(pump.0) {
        return Err(SimSetupError::BadAddress(pump));
    }
    let decimals = setup.decimals;
    if decimals.volume > MAX_FIGURE_DECIMALS
        || decimals.amount > MAX_FIGURE_DECIMALS
        || decimals.price > MAX_PRICE_DECIMALS
    {
        return Err(SimSetupError::BadDecimals { pump, decimals });
    }
    if setup.nozzles.is_empty() {
        return Err(SimSetupError::NoNozzles(pump));
    }
    let mut nozzles = Vec::with_capacity(setup.nozzles.len());
    for &(nozzle, _) in &setup.nozzles {
        if nozzle.0 == 0 || nozzle.0 > MAX_NOZZLE {
            return Err(SimSetupError::BadNozzle { pump, nozzle });
        }
        if nozzles.contains(&nozzle) {
            return Err(SimSetupError::DuplicateNozzle { pump, nozzle });
        }
        nozzles.push(nozzle);
    }
    nozzles.sort_unstable();
    let highest = nozzles.last().map_or(0, |n| usize::from(n.0));
    let mut prices = vec![0; highest];
    for &(nozzle, price) in &setup.nozzles {
        let raw = price
            .to_raw(decimals.price, PRICE_DIGITS)
            .map_err(|source| SimSetupError::BadPrice {
                pump,
                nozzle,
                source,
            })?;
        // Six digits always fit a u32.
        prices[usize::from(nozzle.0) - 1] = u32::try_from(raw).unwrap_or(u32::MAX);
    }
    let rate = Rate::per_minute(setup.flow_rate, decimals.volume)
        .map_err(|source| SimSetupError::BadFlowRate { pump, source })?;
    Ok(PumpConfig {
        address: pump,
        decimals,
        nozzles,
        prices,
        programmed: settings.start_programmed,
        identity: setup.identity,
        flow_rate: setup.flow_rate,
        rate,
        dc2_interval: settings.dc2_interval,
    })
}

/// Raw per-nozzle counters in the neutral model. A simulated pump knows no grades.
fn neutral_totals(raw: Vec<(NozzleId, NozzleTotals)>, decimals: Decimals) -> Vec<Totals> {
    raw.into_iter()
        .map(|(nozzle, t)| Totals {
            nozzle,
            grade: None,
            volume: Some(Volume::from_raw(t.volume, decimals.volume)),
            amount: Some(Money::from_raw(t.amount, decimals.amount)),
            fillings: Some(t.fillings),
        })
        .collect()
}

impl LineSimulator for DartSimulator {
    fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.decoder.push(bytes);
        while let Some(item) = self.decoder.next_item() {
            match item {
                Decoded::Frame(frame) => self.on_frame(frame, now),
                Decoded::Discarded {
                    reason: DiscardReason::BadCrc(block),
                    ..
                } => self.on_bad_block(block.address, block.tx, now),
                // Noise and broken frames get no answer; the decoder has resynchronised.
                Decoded::Discarded { .. } => {}
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for slot in &mut self.slots {
            slot.pump.advance(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.pending.first()?.due > now {
            return None;
        }
        Some(self.pending.remove(0).bytes)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let answers = self.pending.first().map(|p| p.due);
        self.slots
            .iter()
            .filter_map(|s| s.pump.deadline())
            .chain(answers)
            .min()
    }

    fn act(
        &mut self,
        pump: BusAddress,
        action: SimAction,
        now: Instant,
    ) -> Result<(), SubmitError> {
        let slot = self.slot_mut(pump).ok_or(SubmitError::UnknownPump(pump))?;
        match action {
            SimAction::LiftNozzle(nozzle) => {
                slot.pump.lift(nozzle, now).map_err(SubmitError::Invalid)?
            }
            SimAction::HangNozzle => slot.pump.hang(now).map_err(SubmitError::Invalid)?,
            SimAction::SetFlowRate(rate) => slot
                .pump
                .set_flow_rate(rate, now)
                .map_err(|e| SubmitError::Invalid(e.to_string()))?,
            SimAction::DropAnswers(n) => slot.link.faults.drop = n,
            SimAction::CorruptAnswers(n) => slot.link.faults.corrupt = n,
            SimAction::AnswerLate(n) => slot.link.faults.late = n,
            SimAction::Silent(silent) => {
                slot.link.faults.silent = silent;
                if silent {
                    self.pending.retain(|p| p.from != pump);
                }
            }
            SimAction::PowerReset => {
                slot.pump.power_reset(now);
                slot.link.restart();
                // Whatever the old CPU was about to say is lost with it.
                self.pending.retain(|p| p.from != pump);
            }
        }
        Ok(())
    }

    fn view(&self) -> Vec<SimPumpView> {
        self.slots
            .iter()
            .map(|slot| {
                let pump = &slot.pump;
                let out = pump.nozzle_out();
                SimPumpView {
                    address: pump.address(),
                    // The simulator only ever takes the statuses §5.5 defines.
                    status: dart_status_to_model(pump.status(), out.is_some())
                        .unwrap_or(PumpStatus::Offline),
                    nozzle_out: out,
                    volume: pump.volume(),
                    amount: pump.amount(),
                    totals: neutral_totals(pump.totals(), pump.decimals()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(address: u8, nozzles: &[u8]) -> SimPumpSetup {
        SimPumpSetup::new(
            BusAddress(address),
            Decimals::default(),
            nozzles
                .iter()
                .map(|&n| (NozzleId(n), UnitPrice::from_raw(150, 2)))
                .collect(),
        )
    }

    fn build(pumps: Vec<SimPumpSetup>) -> Result<DartSimulator, SimSetupError> {
        DartSimulator::new(pumps, SimSettings::default())
    }

    #[test]
    fn setup_is_checked() {
        let p = |a| BusAddress(a);
        assert_eq!(build(vec![]).err(), Some(SimSetupError::NoPumps));
        assert_eq!(
            build(vec![setup(0x4F, &[1])]).err(),
            Some(SimSetupError::BadAddress(p(0x4F)))
        );
        assert_eq!(
            build(vec![setup(0x50, &[1]), setup(0x50, &[1])]).err(),
            Some(SimSetupError::DuplicateAddress(p(0x50)))
        );
        assert_eq!(
            build(vec![setup(0x50, &[])]).err(),
            Some(SimSetupError::NoNozzles(p(0x50)))
        );
        for bad in [0, 16] {
            assert_eq!(
                build(vec![setup(0x50, &[1, bad])]).err(),
                Some(SimSetupError::BadNozzle {
                    pump: p(0x50),
                    nozzle: NozzleId(bad)
                })
            );
        }
        assert_eq!(
            build(vec![setup(0x50, &[2, 2])]).err(),
            Some(SimSetupError::DuplicateNozzle {
                pump: p(0x50),
                nozzle: NozzleId(2)
            })
        );
        let mut wide = setup(0x50, &[1]);
        wide.decimals.price = 5;
        assert!(matches!(
            build(vec![wide]),
            Err(SimSetupError::BadDecimals { .. })
        ));
        let mut precise = setup(0x50, &[1]);
        precise.nozzles[0].1 = UnitPrice::from_raw(1645, 3);
        assert!(matches!(
            build(vec![precise]),
            Err(SimSetupError::BadPrice { .. })
        ));
        let mut dear = setup(0x50, &[1]);
        dear.nozzles[0].1 = UnitPrice::from_raw(100_000_000, 2);
        assert!(matches!(
            build(vec![dear]),
            Err(SimSetupError::BadPrice { .. })
        ));
        let mut backwards = setup(0x50, &[1]);
        backwards.flow_rate = Volume::new(Decimal::new(-1, 0));
        assert!(matches!(
            build(vec![backwards]),
            Err(SimSetupError::BadFlowRate { .. })
        ));
        let still = SimSettings {
            dc2_interval: Duration::ZERO,
            ..SimSettings::default()
        };
        assert_eq!(
            DartSimulator::new(vec![setup(0x50, &[1])], still).err(),
            Some(SimSetupError::ZeroDc2Interval)
        );
    }

    #[test]
    fn with_pumps_numbers_addresses_from_the_first() {
        let nozzles = [(NozzleId(1), UnitPrice::from_raw(150, 2))];
        let sim = DartSimulator::with_pumps(3, BusAddress(0x52), Decimals::default(), &nozzles)
            .expect("valid");
        let addresses: Vec<u8> = sim.view().iter().map(|v| v.address.0).collect();
        assert_eq!(addresses, [0x52, 0x53, 0x54]);
        assert!(sim
            .view()
            .iter()
            .all(|v| v.status == PumpStatus::NotProgrammed));
        assert_eq!(sim.poll_timeout(), None);
        assert!(
            DartSimulator::with_pumps(32, BusAddress(0x50), Decimals::default(), &nozzles).is_ok()
        );
        assert_eq!(
            DartSimulator::with_pumps(2, BusAddress(0x6F), Decimals::default(), &nozzles).err(),
            Some(SimSetupError::TooManyPumps {
                first: BusAddress(0x6F),
                count: 2
            })
        );
        assert_eq!(
            DartSimulator::with_pumps(0, BusAddress(0x50), Decimals::default(), &nozzles).err(),
            Some(SimSetupError::NoPumps)
        );
        assert_eq!(
            DartSimulator::with_pumps(1, BusAddress(0x20), Decimals::default(), &nozzles).err(),
            Some(SimSetupError::BadAddress(BusAddress(0x20)))
        );
    }

    #[test]
    fn view_maps_to_the_neutral_model() {
        let mut sim = DartSimulator::new(
            vec![setup(0x50, &[1])],
            SimSettings {
                start_programmed: true,
                ..SimSettings::default()
            },
        )
        .expect("valid");
        let t0 = Instant::now();
        assert_eq!(sim.view()[0].status, PumpStatus::Completed);
        sim.act(BusAddress(0x50), SimAction::LiftNozzle(NozzleId(1)), t0)
            .expect("lift");
        let view = &sim.view()[0];
        assert_eq!(view.nozzle_out, Some(NozzleId(1)));
        assert_eq!((view.volume, view.amount), (Volume::ZERO, Money::ZERO));
    }
}
