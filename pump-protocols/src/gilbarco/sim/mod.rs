//! A simulated Gilbarco loop: pumps answering a master byte for byte, sans-IO, for tests,
//! the demo and `forecourtd simulate` (docs/protocols/gilbarco.md §7).
//!
//! This module owns the line: it splits what the master writes into command bytes and
//! data blocks ([`crate::gilbarco::stream`]), hands each to the pump it names, schedules
//! the answers [`SimSettings::answer_delay`] later and applies the fault switches;
//! `sim/pump.rs` is one pump's state machine and meter. It never opens a port, sleeps or
//! reads a clock: every call takes `now`, and
//! [`poll_timeout`](LineSimulator::poll_timeout) says when to call back.
//!
//! # Behaviour
//!
//! - `0p` → the state byte, or once `0p` (data error) after a block the pump refused;
//!   `2p` → `Dp`, then the next data block is the pump's: a price change for one of its
//!   grades in the loop's digits, or a preset (5 to 8 digits, not zero, idle or calling
//!   only) is taken, anything else (bad DL or LRC included) sets the data error; the
//!   special function is taken and changes nothing. Any other command byte in between
//!   ends the wait for the block.
//! - `1p` in 7 (or in 6 with a preset) → 8; with the nozzle out and fuel flowing 8 → 9 at
//!   once; in C it continues the sale ([`SimSettings::resume_after_stop`]). A preset
//!   limited to one grade delivers only from that nozzle.
//! - `3p` in 8 or 9 → C (in any state but end of sale with
//!   [`SimSettings::stop_in_any_state`]); `FC` stops every pump in 8 or 9. A lift in C
//!   before anything flowed is a new call (7).
//! - hang-up in 9, C or 8 (nozzle out), or a preset or the fields' maximum reached →
//!   [`SimSettings::end_state`] (PEOT by default), the sale added to the grade's totals;
//!   a zero sale when nothing flowed.
//! - `4p` → the transaction block of the current or last sale; it takes the pump back to
//!   6 (7 with the nozzle out) unless [`SimSettings::end_clears`] says the next lift does.
//! - `5p` → totals of every grade position up to the highest configured; `6p` → the
//!   sale's money words.
//! - Figures: volume counts whole raw units of the flow at the pump's rate; money is
//!   volume × price, half up; a money preset stops at the first volume whose money reaches
//!   it and shows the preset.
//! - [`SimSettings::echo`] sends every byte the master writes straight back, as an
//!   echoing converter does.
//!
//! Fault switches ([`SimAction`]): `DropAnswers(n)` swallows the next n answers;
//! `CorruptAnswers(n)` spoils them (a status or `Dp` with another pump's nibble, a block
//! with a wrong LRC, money with a tag in place of its last word); `AnswerLate(n)` sends
//! them after [`SimSettings::late_delay`]; `Silent(true)` cuts the pump off (it goes on
//! dispensing); `PowerReset` ends a sale in progress with what flowed and forgets the
//! preset and any pending data error.

mod pump;

use std::time::{Duration, Instant};

use self::pump::{Grade, Pump};
use super::command::{state_to_model, Command, CommandCode, PumpId, PumpState};
use super::controller_blocks::{decode_controller, PresetBlock};
use super::stream::{Item, StreamDecoder};
use super::DigitMode;
use crate::model::{LineSimulator, PumpStatus, SimAction, SimPumpView, SubmitError};
use crate::units::{BusAddress, Decimals, Money, NozzleId, QuantityError, UnitPrice, Volume};

/// When a pump leaves its end of sale (§3, UNCERTAIN; "disagree" 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EndClears {
    /// When its transaction is read with `4p` (default, the life cycle of §3).
    #[default]
    OnTransactionRead,
    /// Only when a nozzle is lifted again: a transaction read leaves it there.
    OnNextLift,
}

/// Line-wide settings of a simulated loop. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSettings {
    /// Time from the command byte to the answer. Default 10 ms (§6: 68 ms at most).
    pub answer_delay: Duration,
    /// Answer delay under the `AnswerLate` fault, past any master deadline. Default 1.5 s.
    pub late_delay: Duration,
    /// Echo every byte the master writes, as some converters do (§1). Default off.
    pub echo: bool,
    /// Field widths. Default 6-digit mode.
    pub digits: DigitMode,
    /// The end-of-sale state the pumps report, PEOT (A, default) or FEOT (B) (§3,
    /// UNCERTAIN). Anything else is refused by [`GilbarcoSimulator::new`].
    pub end_state: PumpState,
    /// When a finished sale is cleared. Default: when it is read.
    pub end_clears: EndClears,
    /// Take `3p` in any state but an end of sale, as the §2 table says, instead of only
    /// in 8 and 9 as §3 does (default off; "disagree" 2).
    pub stop_in_any_state: bool,
    /// `1p` continues a stopped sale (default on; §3 UNCERTAIN).
    pub resume_after_stop: bool,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            answer_delay: Duration::from_millis(10),
            late_delay: Duration::from_millis(1500),
            echo: false,
            digits: DigitMode::Six,
            end_state: PumpState::Peot,
            end_clears: EndClears::OnTransactionRead,
            stop_in_any_state: false,
            resume_after_stop: true,
        }
    }
}

/// One simulated pump on the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPumpSetup {
    /// Its number, 1..=16.
    pub address: BusAddress,
    /// Decimals of its volume, money and price fields.
    pub decimals: Decimals,
    /// Its grades as nozzles 1..=10, with the price (both levels) they start with.
    pub nozzles: Vec<(NozzleId, UnitPrice)>,
    /// Volume per minute while a nozzle delivers. [`SimPumpSetup::new`] uses 40.
    pub flow_rate: Volume,
}

impl SimPumpSetup {
    /// A pump with these grades and 40 units a minute.
    pub fn new(
        address: BusAddress,
        decimals: Decimals,
        nozzles: Vec<(NozzleId, UnitPrice)>,
    ) -> Self {
        Self {
            address,
            decimals,
            nozzles,
            flow_rate: Volume::from_raw(40, 0),
        }
    }
}

/// Why a simulated loop cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimSetupError {
    /// A loop needs at least one pump.
    #[error("no pump to simulate")]
    NoPumps,
    /// Pumps are 1..=16.
    #[error("address {0} is outside Gilbarco's 1..=16")]
    BadAddress(BusAddress),
    /// Two pumps share an address.
    #[error("address {0} is used twice")]
    DuplicateAddress(BusAddress),
    /// A pump needs a grade, 1..=10, each once.
    #[error("pump {0}: nozzles must be 1..=10, at least one, each once")]
    BadNozzles(BusAddress),
    /// Decimals wider than the fields.
    #[error("pump {0}: decimals wider than the fields")]
    BadDecimals(BusAddress),
    /// A price or flow rate that does not fit.
    #[error("pump {pump}: {source}")]
    BadQuantity {
        /// The pump.
        pump: BusAddress,
        /// Why.
        source: QuantityError,
    },
    /// The end state must be PEOT or FEOT.
    #[error("end_state must be PEOT or FEOT")]
    BadEndState,
}

/// A simulated pump with its Gilbarco details, for tests and displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GilbarcoPumpView {
    /// Its number.
    pub address: BusAddress,
    /// Its state nibble.
    pub state: PumpState,
    /// The nozzle out, if any.
    pub nozzle_out: Option<NozzleId>,
    /// Grade index (0-based), raw price, raw volume and raw money of the current or last
    /// sale.
    pub sale: (u8, u64, u64, u64),
    /// The preset in force.
    pub preset: Option<PresetBlock>,
    /// Per nozzle: raw level-1 and level-2 prices, raw volume and money totals.
    pub grades: Vec<(NozzleId, [u64; 2], u64, u64)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    drop: u32,
    corrupt: u32,
    late: u32,
    silent: bool,
}

#[derive(Debug, Clone)]
struct Slot {
    pump: Pump,
    faults: Faults,
}

#[derive(Debug, Clone)]
struct Pending {
    due: Instant,
    from: Option<BusAddress>,
    bytes: Vec<u8>,
}

/// Simulated Gilbarco pumps on one loop: a [`LineSimulator`] (see the module docs).
#[derive(Debug, Clone)]
pub struct GilbarcoSimulator {
    settings: SimSettings,
    slots: Vec<Slot>,
    decoder: StreamDecoder,
    /// The pump that answered `Dp` and waits for its block.
    listening: Option<usize>,
    pending: Vec<Pending>,
}

fn raw(
    pump: BusAddress,
    value: rust_decimal::Decimal,
    decimals: u8,
    digits: u8,
) -> Result<u64, SimSetupError> {
    UnitPrice::new(value)
        .to_raw(decimals, digits)
        .map_err(|source| SimSetupError::BadQuantity { pump, source })
}

impl GilbarcoSimulator {
    /// A loop with these pumps and settings.
    pub fn new(pumps: Vec<SimPumpSetup>, settings: SimSettings) -> Result<Self, SimSetupError> {
        if pumps.is_empty() {
            return Err(SimSetupError::NoPumps);
        }
        if !settings.end_state.is_end_of_sale() {
            return Err(SimSetupError::BadEndState);
        }
        let mode = settings.digits;
        let mut slots: Vec<Slot> = Vec::new();
        for setup in pumps {
            let a = setup.address;
            let id = PumpId::from_address(a).ok_or(SimSetupError::BadAddress(a))?;
            if slots.iter().any(|s| s.pump.id == id) {
                return Err(SimSetupError::DuplicateAddress(a));
            }
            let d = setup.decimals;
            if d.volume as usize > mode.sale_digits()
                || d.amount as usize > mode.sale_digits()
                || d.price as usize > mode.price_digits()
            {
                return Err(SimSetupError::BadDecimals(a));
            }
            let mut grades: Vec<Grade> = Vec::new();
            for &(nozzle, price) in &setup.nozzles {
                if !(1..=10).contains(&nozzle.0) || grades.iter().any(|g| g.nozzle == nozzle) {
                    return Err(SimSetupError::BadNozzles(a));
                }
                let ppu = raw(a, price.value(), d.price, mode.price_digits() as u8)?;
                grades.push(Grade {
                    nozzle,
                    prices: [ppu, ppu],
                    total_volume: 0,
                    total_money: 0,
                });
            }
            if grades.is_empty() {
                return Err(SimSetupError::BadNozzles(a));
            }
            let rate = raw(a, setup.flow_rate.value(), d.volume, 12)?;
            slots.push(Slot {
                pump: Pump::new(id, d, grades, rate),
                faults: Faults::default(),
            });
        }
        Ok(Self {
            settings,
            slots,
            decoder: StreamDecoder::new(),
            listening: None,
            pending: Vec::new(),
        })
    }

    /// The settings the loop runs with.
    pub fn settings(&self) -> &SimSettings {
        &self.settings
    }

    /// The Gilbarco-level state of pump `address`.
    pub fn pump(&self, address: BusAddress) -> Option<GilbarcoPumpView> {
        let p = &self.slots[self.index(address)?].pump;
        Some(GilbarcoPumpView {
            address,
            state: p.state,
            nozzle_out: p.nozzle_out,
            sale: (p.sale.grade, p.sale.ppu, p.sale.volume, p.sale.money),
            preset: p.preset,
            grades: p
                .grades
                .iter()
                .map(|g| (g.nozzle, g.prices, g.total_volume, g.total_money))
                .collect(),
        })
    }

    fn index(&self, address: BusAddress) -> Option<usize> {
        let id = PumpId::from_address(address)?;
        self.slots.iter().position(|s| s.pump.id == id)
    }

    fn queue(&mut self, due: Instant, from: Option<BusAddress>, bytes: Vec<u8>) {
        let at = self.pending.partition_point(|p| p.due <= due);
        self.pending.insert(at, Pending { due, from, bytes });
    }

    /// Schedules pump `s`'s answer through its fault switches.
    fn answer(&mut self, s: usize, mut bytes: Vec<u8>, now: Instant) {
        let settings = &self.settings;
        let faults = &mut self.slots[s].faults;
        if faults.silent {
            return;
        }
        if faults.drop > 0 {
            faults.drop -= 1;
            return;
        }
        if faults.corrupt > 0 {
            faults.corrupt -= 1;
            match bytes.len() {
                1 => bytes[0] ^= 0x01,
                n if bytes[0] == super::words::STX => bytes[n - 2] ^= 0x01,
                n => bytes[n - 1] = 0xF3,
            }
        }
        let delay = if faults.late > 0 {
            faults.late -= 1;
            settings.late_delay
        } else {
            settings.answer_delay
        };
        let from = Some(self.slots[s].pump.id.address());
        self.queue(now + delay, from, bytes);
    }

    fn on_command(&mut self, command: Command, now: Instant) {
        self.listening = None;
        let settings = self.settings.clone();
        let (code, id) = match command {
            Command::AllStop => {
                for slot in &mut self.slots {
                    slot.pump.all_stop(now, &settings);
                }
                return;
            }
            Command::To { code, pump } => (code, pump),
        };
        let Some(s) = self.slots.iter().position(|s| s.pump.id == id) else {
            return;
        };
        if self.slots[s].faults.silent {
            return;
        }
        if let Some(bytes) = self.slots[s].pump.command(code, now, &settings) {
            if code == CommandCode::DataNext {
                self.listening = Some(s);
            }
            self.answer(s, bytes, now);
        }
    }
}

impl LineSimulator for GilbarcoSimulator {
    fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.settings.echo && !bytes.is_empty() {
            self.queue(now, None, bytes.to_vec());
        }
        self.decoder.push(bytes);
        while let Some(item) = self.decoder.next_item() {
            match item {
                Item::Byte(byte) => match Command::from_byte(byte) {
                    Some(command) => self.on_command(command, now),
                    None => self.listening = None,
                },
                Item::Block(block) => {
                    if let Some(s) = self.listening.take() {
                        let settings = self.settings.clone();
                        let decoded = decode_controller(&block).ok();
                        self.slots[s].pump.take_block(decoded, &settings);
                    }
                }
                Item::Discarded { .. } => {
                    if let Some(s) = self.listening.take() {
                        self.slots[s].pump.data_error = true;
                    }
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for slot in &mut self.slots {
            slot.pump.advance(now, &self.settings);
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
            .filter_map(|s| s.pump.deadline(&self.settings))
            .chain(answers)
            .min()
    }

    fn act(
        &mut self,
        pump: BusAddress,
        action: SimAction,
        now: Instant,
    ) -> Result<(), SubmitError> {
        let s = self.index(pump).ok_or(SubmitError::UnknownPump(pump))?;
        let settings = self.settings.clone();
        let slot = &mut self.slots[s];
        slot.pump.advance(now, &settings);
        match action {
            SimAction::LiftNozzle(nozzle) => slot
                .pump
                .lift(nozzle, now, &settings)
                .map_err(SubmitError::Invalid)?,
            SimAction::HangNozzle => slot
                .pump
                .hang(now, &settings)
                .map_err(SubmitError::Invalid)?,
            SimAction::SetFlowRate(rate) => {
                let raw = rate
                    .to_raw(slot.pump.decimals.volume, 12)
                    .map_err(|e| SubmitError::Invalid(e.to_string()))?;
                slot.pump.set_rate(raw, now, &settings);
            }
            SimAction::DropAnswers(n) => slot.faults.drop = n,
            SimAction::CorruptAnswers(n) => slot.faults.corrupt = n,
            SimAction::AnswerLate(n) => slot.faults.late = n,
            SimAction::Silent(silent) => {
                slot.faults.silent = silent;
                if silent {
                    self.pending.retain(|p| p.from != Some(pump));
                }
            }
            SimAction::PowerReset => {
                slot.pump.power_reset(now, &settings);
                self.pending.retain(|p| p.from != Some(pump));
                if self.listening == Some(s) {
                    self.listening = None;
                }
            }
        }
        Ok(())
    }

    fn view(&self) -> Vec<SimPumpView> {
        self.slots
            .iter()
            .map(|slot| {
                let p = &slot.pump;
                let d = p.decimals;
                SimPumpView {
                    address: p.id.address(),
                    status: state_to_model(p.state).unwrap_or(PumpStatus::Offline),
                    nozzle_out: p.nozzle_out,
                    volume: Volume::from_raw(p.sale.volume, d.volume),
                    amount: Money::from_raw(p.sale.money, d.amount),
                    totals: p
                        .grades
                        .iter()
                        .map(|g| crate::model::Totals {
                            nozzle: g.nozzle,
                            grade: None,
                            volume: Some(Volume::from_raw(g.total_volume, d.volume)),
                            amount: Some(Money::from_raw(g.total_money, d.amount)),
                            fillings: None,
                        })
                        .collect(),
                }
            })
            .collect()
    }
}
