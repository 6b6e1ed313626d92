//! One simulated Gilbarco pump: its state nibble, nozzle, prices per grade and level,
//! preset, meter and totals (docs/protocols/gilbarco.md §3, §7).
//!
//! Owns the pump's state machine and the integer arithmetic of a sale: volume from flow
//! rate and elapsed time, money = volume × price rounded half up, an exact stop at a
//! preset or at the fields' maximum. It answers commands with the bytes to send; the line
//! in [`super`] decides when they go out, and the faults.

use std::time::{Duration, Instant};

use super::{EndClears, SimSettings};
use crate::gilbarco::command::{CommandCode, PumpId, PumpState, StatusReply};
use crate::gilbarco::controller_blocks::{ControllerBlock, PresetBlock, PresetKind};
use crate::gilbarco::pump_blocks::{
    encode_money, encode_totals, encode_transaction, pump_ident_for, GradeTotals, TransactionData,
    TRANSACTION_KIND,
};
use crate::gilbarco::{DigitMode, PriceLevel};
use crate::units::{Decimals, NozzleId};

const NANOS_PER_MINUTE: u128 = 60_000_000_000;

/// One grade (nozzle) of a simulated pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grade {
    pub nozzle: NozzleId,
    /// Raw prices at level 1 and 2.
    pub prices: [u64; 2],
    pub total_volume: u64,
    pub total_money: u64,
}

/// The current or last sale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Sale {
    pub grade: u8,
    pub level: PriceLevel,
    pub ppu: u64,
    pub volume: u64,
    pub money: u64,
}

/// One simulated pump.
#[derive(Debug, Clone)]
pub(super) struct Pump {
    pub id: PumpId,
    pub decimals: Decimals,
    pub grades: Vec<Grade>,
    pub state: PumpState,
    pub nozzle_out: Option<NozzleId>,
    pub preset: Option<PresetBlock>,
    pub sale: Sale,
    /// True from the first flow of a sale until it ends.
    sale_open: bool,
    /// Raw volume units per minute.
    pub rate: u64,
    /// Raw volume × nanoseconds-per-minute flowed in this sale.
    acc: u128,
    last_advance: Option<Instant>,
    /// The next status answer is a data error (a refused block).
    pub data_error: bool,
}

impl Pump {
    pub(super) fn new(id: PumpId, decimals: Decimals, grades: Vec<Grade>, rate: u64) -> Self {
        Self {
            id,
            decimals,
            grades,
            state: PumpState::Idle,
            nozzle_out: None,
            preset: None,
            sale: Sale::default(),
            sale_open: false,
            rate,
            acc: 0,
            last_advance: None,
            data_error: false,
        }
    }

    fn grade_index(&self, nozzle: NozzleId) -> Option<u8> {
        self.grades
            .iter()
            .any(|g| g.nozzle == nozzle)
            .then(|| nozzle.0.saturating_sub(1))
    }

    fn grade_mut(&mut self, index: u8) -> Option<&mut Grade> {
        self.grades.iter_mut().find(|g| g.nozzle.0 == index + 1)
    }

    fn max(mode: DigitMode) -> u64 {
        10u64.pow(mode.sale_digits() as u32) - 1
    }

    /// Money for `volume` raw at `ppu` raw, half up at the money decimals.
    fn money_for(&self, volume: u64, ppu: u64) -> u64 {
        let d = self.decimals;
        let product = u128::from(volume) * u128::from(ppu);
        let shift = i32::from(d.volume) + i32::from(d.price) - i32::from(d.amount);
        let value = if shift >= 0 {
            let div = 10u128.pow(shift as u32);
            (product + div / 2) / div
        } else {
            product * 10u128.pow((-shift) as u32)
        };
        u64::try_from(value).unwrap_or(u64::MAX)
    }

    /// The least volume whose money reaches `money`.
    fn volume_for(&self, money: u64, ppu: u64, cap: u64) -> u64 {
        if ppu == 0 {
            return cap;
        }
        let (mut lo, mut hi) = (0u64, cap);
        if self.money_for(hi, ppu) < money {
            return cap;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.money_for(mid, ppu) >= money {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// The volume this sale stops at: its preset or the fields' maximum.
    fn limit(&self, mode: DigitMode) -> u64 {
        let max = Self::max(mode);
        let by_money_max = self.volume_for(max, self.sale.ppu, max);
        let cap = max.min(by_money_max);
        match self.preset {
            Some(PresetBlock {
                kind: PresetKind::Volume,
                value,
                ..
            }) => value.min(cap),
            Some(PresetBlock {
                kind: PresetKind::Money,
                value,
                ..
            }) => self.volume_for(value, self.sale.ppu, cap),
            None => cap,
        }
    }

    fn flowing(&self) -> bool {
        self.state == PumpState::Busy && self.nozzle_out.is_some() && self.rate > 0
    }

    /// Lets fuel flow up to `now`; a sale that reaches its limit ends.
    pub(super) fn advance(&mut self, now: Instant, settings: &SimSettings) {
        let last = self.last_advance.replace(now).unwrap_or(now);
        if !self.flowing() {
            return;
        }
        let elapsed = now.saturating_duration_since(last).as_nanos();
        self.acc = self
            .acc
            .saturating_add(u128::from(self.rate).saturating_mul(elapsed));
        let limit = self.limit(settings.digits);
        let volume = u64::try_from(self.acc / NANOS_PER_MINUTE).unwrap_or(u64::MAX);
        if volume >= limit {
            self.sale.volume = limit;
            self.sale.money = match self.preset {
                // A money preset shows the preset itself, as a head stops on it.
                Some(PresetBlock {
                    kind: PresetKind::Money,
                    value,
                    ..
                }) if self.money_for(limit, self.sale.ppu) >= value => value,
                _ => self.money_for(limit, self.sale.ppu),
            };
            self.end_sale(settings);
        } else {
            self.sale.volume = volume;
            self.sale.money = self.money_for(volume, self.sale.ppu);
        }
    }

    /// When the running sale reaches its limit, if fuel flows.
    pub(super) fn deadline(&self, settings: &SimSettings) -> Option<Instant> {
        if !self.flowing() {
            return None;
        }
        let last = self.last_advance?;
        let needed = u128::from(self.limit(settings.digits)) * NANOS_PER_MINUTE;
        let rest = needed.saturating_sub(self.acc);
        let nanos = rest.div_ceil(u128::from(self.rate));
        Some(last + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    /// Authorized with the nozzle out: the sale starts and fuel flows.
    fn start_if_ready(&mut self, now: Instant) {
        if self.state != PumpState::Authorized {
            return;
        }
        let Some(nozzle) = self.nozzle_out else {
            return;
        };
        let Some(grade) = self.grade_index(nozzle) else {
            return;
        };
        if self
            .preset
            .and_then(|p| p.grade)
            .is_some_and(|g| g != grade)
        {
            // Limited to another grade: this nozzle does not deliver.
            return;
        }
        if !self.sale_open {
            let level = self.preset.and_then(|p| p.level).unwrap_or_default();
            let ppu = self
                .grades
                .iter()
                .find(|g| g.nozzle == nozzle)
                .map_or(0, |g| g.prices[usize::from(level == PriceLevel::Two)]);
            self.sale = Sale {
                grade,
                level,
                ppu,
                volume: 0,
                money: 0,
            };
            self.acc = 0;
            self.sale_open = true;
        }
        self.state = PumpState::Busy;
        self.last_advance = Some(now);
    }

    fn end_sale(&mut self, settings: &SimSettings) {
        if self.sale_open {
            let (grade, volume, money) = (self.sale.grade, self.sale.volume, self.sale.money);
            if let Some(g) = self.grade_mut(grade) {
                g.total_volume += volume;
                g.total_money += money;
            }
        } else if let Some(nozzle) = self.nozzle_out {
            // Authorized, nozzle out, nothing flowed: a sale of zero.
            let grade = self.grade_index(nozzle).unwrap_or(0);
            self.sale = Sale {
                grade,
                ..Sale::default()
            };
        }
        self.sale_open = false;
        self.preset = None;
        self.state = settings.end_state;
    }

    pub(super) fn lift(
        &mut self,
        nozzle: NozzleId,
        now: Instant,
        settings: &SimSettings,
    ) -> Result<(), String> {
        if self.nozzle_out.is_some() {
            return Err("a nozzle is already out".into());
        }
        if self.grade_index(nozzle).is_none() {
            return Err(format!("no nozzle {nozzle} on pump {}", self.id.number()));
        }
        self.nozzle_out = Some(nozzle);
        match self.state {
            PumpState::Idle => self.state = PumpState::Call,
            // Stopped before anything flowed: the lift starts over.
            PumpState::Stopped if !self.sale_open => self.state = PumpState::Call,
            PumpState::Authorized => self.start_if_ready(now),
            PumpState::Peot | PumpState::Feot if settings.end_clears == EndClears::OnNextLift => {
                self.state = PumpState::Call
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn hang(&mut self, now: Instant, settings: &SimSettings) -> Result<(), String> {
        if self.nozzle_out.is_none() {
            return Err("no nozzle is out".into());
        }
        self.advance(now, settings);
        match self.state {
            PumpState::Call => self.state = PumpState::Idle,
            PumpState::Busy | PumpState::Stopped => self.end_sale(settings),
            PumpState::Authorized => self.end_sale(settings),
            _ => {}
        }
        self.nozzle_out = None;
        Ok(())
    }

    pub(super) fn set_rate(&mut self, rate: u64, now: Instant, settings: &SimSettings) {
        self.advance(now, settings);
        self.rate = rate;
        self.start_if_ready(now);
    }

    /// Power comes back: a sale in progress ends with what flowed, the line state is lost.
    pub(super) fn power_reset(&mut self, now: Instant, settings: &SimSettings) {
        self.advance(now, settings);
        if matches!(
            self.state,
            PumpState::Busy | PumpState::Stopped | PumpState::Authorized
        ) && (self.sale_open || self.nozzle_out.is_some())
        {
            self.end_sale(settings);
        } else if !self.state.is_end_of_sale() {
            self.state = if self.nozzle_out.is_some() {
                PumpState::Call
            } else {
                PumpState::Idle
            };
        }
        self.preset = None;
        self.data_error = false;
    }

    fn stop(&mut self, settings: &SimSettings) {
        let dispatch = matches!(self.state, PumpState::Authorized | PumpState::Busy);
        let other = !self.state.is_end_of_sale() && self.state != PumpState::Stopped;
        if dispatch || (settings.stop_in_any_state && other) {
            self.state = PumpState::Stopped;
        }
    }

    fn authorize(&mut self, now: Instant, settings: &SimSettings) {
        match self.state {
            PumpState::Call => self.state = PumpState::Authorized,
            PumpState::Idle if self.preset.is_some() => self.state = PumpState::Authorized,
            PumpState::Stopped if settings.resume_after_stop => {
                self.state = if self.sale_open || self.nozzle_out.is_some() {
                    PumpState::Authorized
                } else {
                    PumpState::Idle
                };
            }
            _ => {}
        }
        self.start_if_ready(now);
    }

    /// A data block after `Dp`; a block the pump cannot take sets the data error.
    pub(super) fn take_block(&mut self, block: Option<ControllerBlock>, settings: &SimSettings) {
        let price_digits = settings.digits.price_digits() as u8;
        let ok = match block {
            Some(ControllerBlock::PriceChange {
                level,
                grade,
                ppu,
                digits,
            }) if digits == price_digits => match self.grade_mut(grade) {
                Some(g) => {
                    g.prices[usize::from(level == PriceLevel::Two)] = ppu;
                    true
                }
                None => false,
            },
            Some(ControllerBlock::Preset(p))
                if matches!(self.state, PumpState::Idle | PumpState::Call)
                    && (5..=8).contains(&p.digits)
                    && p.value > 0
                    && p.grade
                        .is_none_or(|g| self.grades.iter().any(|s| s.nozzle.0 == g + 1)) =>
            {
                self.preset = Some(p);
                true
            }
            Some(ControllerBlock::Special(_)) => true,
            _ => false,
        };
        self.data_error |= !ok;
    }

    /// The answer to a command byte, if it has one.
    pub(super) fn command(
        &mut self,
        code: CommandCode,
        now: Instant,
        settings: &SimSettings,
    ) -> Option<Vec<u8>> {
        self.advance(now, settings);
        let status = |state| {
            vec![StatusReply {
                state,
                pump: self.id,
            }
            .byte()]
        };
        match code {
            CommandCode::Status => {
                let state = if std::mem::take(&mut self.data_error) {
                    PumpState::DataError
                } else {
                    self.state
                };
                Some(status(state))
            }
            CommandCode::Authorize => {
                self.authorize(now, settings);
                None
            }
            CommandCode::Stop => {
                self.stop(settings);
                None
            }
            CommandCode::DataNext => Some(status(PumpState::SendData)),
            CommandCode::Transaction => {
                let data = TransactionData {
                    kind_word: TRANSACTION_KIND,
                    pump_ident: pump_ident_for(self.id.number()),
                    grade: self.sale.grade,
                    level: self.sale.level,
                    ppu: self.sale.ppu,
                    volume: self.sale.volume,
                    money: self.sale.money,
                };
                if self.state.is_end_of_sale()
                    && settings.end_clears == EndClears::OnTransactionRead
                {
                    self.state = if self.nozzle_out.is_some() {
                        PumpState::Call
                    } else {
                        PumpState::Idle
                    };
                }
                encode_transaction(&data, settings.digits).ok()
            }
            CommandCode::Totals => encode_totals(&self.totals(), settings.digits).ok(),
            CommandCode::RealTimeMoney => encode_money(self.sale.money, settings.digits).ok(),
        }
    }

    pub(super) fn all_stop(&mut self, now: Instant, settings: &SimSettings) {
        self.advance(now, settings);
        if matches!(self.state, PumpState::Authorized | PumpState::Busy) {
            self.state = PumpState::Stopped;
        }
    }

    /// Totals of every grade position up to the highest configured, the unconfigured ones
    /// zero (§4.2: one group per grade the dispenser has).
    pub(super) fn totals(&self) -> Vec<GradeTotals> {
        let highest = self.grades.iter().map(|g| g.nozzle.0).max().unwrap_or(1);
        (0..highest)
            .map(|index| {
                let g = self.grades.iter().find(|g| g.nozzle.0 == index + 1);
                GradeTotals {
                    grade: index,
                    volume: g.map_or(0, |g| g.total_volume),
                    money: g.map_or(0, |g| g.total_money),
                    ppu_level1: g.map_or(0, |g| g.prices[0]),
                    ppu_level2: g.map_or(0, |g| g.prices[1]),
                }
            })
            .collect()
    }
}
