//! Settings of a Gilbarco loop master and the checks on its pump configuration
//! (docs/protocols/gilbarco.md §1, §5, §6).
//!
//! Owns the timing and policy knobs with their documented defaults, the settings that
//! stand for UNCERTAIN points of the notes, and the validation of the pumps given to
//! [`super::GilbarcoMaster::new`]. It never touches the line or keeps state.

use std::collections::HashSet;
use std::time::Duration;

use crate::dart::{Parity, SerialSettings};
use crate::gilbarco::check::MAX_GRADES;
use crate::gilbarco::{DigitMode, PriceLevel, SERIAL_DEFAULTS};
use crate::model::PumpSetup;
use crate::units::{BusAddress, Decimals, NozzleId};

/// How a [`super::GilbarcoMaster`] paces and polices one loop. `Default` gives the
/// documented defaults: §6's recommended timing and the choices listed in
/// [`crate::gilbarco`] for the UNCERTAIN points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GilbarcoMasterSettings {
    /// Wait for a one-byte status answer (`0p`, `2p`) after the command has left the
    /// wire. Default 70 ms (§6: 68 ms maximum pump response).
    pub status_timeout: Duration,
    /// Wait for a transaction block or real-time money, and the silence after a byte of
    /// any answer after which it is given up. Default 300 ms (§6: AS and IG).
    pub block_timeout: Duration,
    /// Wait for a totals block to start. Default 1 s (§6: up to ~350 ms of words for six
    /// grades at 5787 baud, plus the pump's own time).
    pub totals_timeout: Duration,
    /// Quiet gap between the end of one exchange and the start of the next. Default 20 ms.
    pub poll_interval: Duration,
    /// Gap after a command that has no reply (authorize, stop, a data block) before the
    /// next byte. Default 50 ms (§6: AS waits 25–50 ms).
    pub no_reply_gap: Duration,
    /// Consecutive misses after which a pump is offline. Default 5 (§6). At least 1.
    pub offline_after_misses: u32,
    /// How often an offline (or never heard) pump is still polled. Default 1 s.
    pub offline_poll_interval: Duration,
    /// Resends of a command step (a refused or unanswered data block, an unanswered read)
    /// before the command fails: at most `1 + retries` attempts. Default 3 (§6).
    pub retries: u32,
    /// How often real-time money is read while a pump is busy. Default 500 ms.
    pub money_interval: Duration,
    /// Most commands waiting per pump, the one in progress included. Default 16.
    pub max_queue: usize,
    /// Most exchanges one pump gets in a row before the next pump's turn. A pump that
    /// gave a valid answer and still has a finished sale to read or a command step to
    /// carry out is served again at once rather than after a whole cycle of the other
    /// pumps; a refusal or a miss ends its turn, and the check of a data block belongs to
    /// the exchange that sent it. So a pump waits at most `(pumps - 1) ×
    /// max_turn_exchanges` exchanges for its turn. Default 4: the poll that finds the end
    /// of a sale and its read take two. 1 is a plain round robin. At least 1.
    pub max_turn_exchanges: u32,
    /// Ordinary turns between two extra turns of the busy pumps. A pump the master
    /// judges busy (authorized, filling, or with a finished sale not read yet) and with
    /// no command step under way gets an extra turn after every `busy_turn_every`
    /// ordinary turns, rotating among the busy pumps (the one served longest ago
    /// first); the extra turn polls the status and may read a finished sale, never
    /// sends a command. So the end of a sale is seen within about `busy_turn_every + 1`
    /// turns instead of a whole cycle of the loop, while an idle pump's cycle grows by at
    /// most `1 / busy_turn_every` while any pump is busy. Default 4 (the reasons of the
    /// DART master's setting of the same name). 0 turns extra turns off.
    pub busy_turn_every: u32,
    /// The converter echoes every byte the master sends (§1, UNCERTAIN per site).
    /// Default off. An echoed command byte is skipped either way; the setting only
    /// decides whether a lone `0p` answering a `0p` poll is its echo (on: the pump said
    /// nothing) or a data-error reply (off).
    pub echo: bool,
    /// Read status nibbles E, 1, 3 and F as idle, busy, end of sale and stopped, as one
    /// variant does (§3, UNCERTAIN). Default off: 1 and 3 are also the echoes of
    /// authorize and stop.
    pub tolerant_status: bool,
    /// Field widths of the loop. Default 6-digit mode.
    pub digits: DigitMode,
    /// Digit words of a money preset in 6-digit mode: 5 (default, as both working
    /// implementations) or 6 (§5, "disagree" 3). 8-digit mode always uses 8.
    pub money_preset_digits: u8,
    /// Send presets with a price level (IG: `F2 F4 [F6 g] F8 …`, default) or in AS's short
    /// form `F2 F8 …`, which cannot name a grade (§5).
    pub preset_with_level: bool,
    /// The price level of presets. Default level 1 (cash).
    pub price_level: PriceLevel,
    /// `SetPrices` programs both price levels with the one neutral price (default) or
    /// level 1 only.
    pub set_both_levels: bool,
    /// Decimals of the totals block when they differ from the pump's sale decimals
    /// ("disagree" 4: nothing states them). Default `None`: the pump's own.
    pub totals_decimals: Option<Decimals>,
    /// Character format and speed, to know how long bytes take on the wire. Default
    /// 5787 8E1 (§1).
    pub serial: SerialSettings,
}

impl Default for GilbarcoMasterSettings {
    fn default() -> Self {
        Self {
            status_timeout: Duration::from_millis(70),
            block_timeout: Duration::from_millis(300),
            totals_timeout: Duration::from_secs(1),
            poll_interval: Duration::from_millis(20),
            no_reply_gap: Duration::from_millis(50),
            offline_after_misses: 5,
            offline_poll_interval: Duration::from_secs(1),
            retries: 3,
            money_interval: Duration::from_millis(500),
            max_queue: 16,
            max_turn_exchanges: 4,
            busy_turn_every: 4,
            echo: false,
            tolerant_status: false,
            digits: DigitMode::Six,
            money_preset_digits: 5,
            preset_with_level: true,
            price_level: PriceLevel::One,
            set_both_levels: true,
            totals_decimals: None,
            serial: SERIAL_DEFAULTS,
        }
    }
}

impl GilbarcoMasterSettings {
    /// Bits on the wire per character: start, data, parity, stop (11 for 8E1).
    pub fn bits_per_char(&self) -> u32 {
        let parity = u32::from(self.serial.parity != Parity::None);
        1 + u32::from(self.serial.data_bits) + parity + u32::from(self.serial.stop_bits)
    }

    /// How long `bytes` take to send, rounded up to the nanosecond (one byte at 5787
    /// 8E1: 1.900813 ms).
    pub fn wire_time(&self, bytes: usize) -> Duration {
        let baud = u128::from(self.serial.baud_rate.max(1));
        let bits = bytes as u128 * u128::from(self.bits_per_char());
        let nanos = (bits * 1_000_000_000).div_ceil(baud);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn check(&self) -> Result<(), GilbarcoMasterError> {
        let bad = |why| Err(GilbarcoMasterError::BadSetting(why));
        if self.offline_after_misses == 0 {
            return bad("offline_after_misses must be at least 1");
        }
        if self.max_queue == 0 {
            return bad("max_queue must be at least 1");
        }
        if self.max_turn_exchanges == 0 {
            return bad("max_turn_exchanges must be at least 1");
        }
        if !(5..=6).contains(&self.money_preset_digits) {
            return bad("money_preset_digits must be 5 or 6");
        }
        if self.serial.baud_rate == 0 || self.serial.data_bits == 0 {
            return bad("serial speed and data bits must not be 0");
        }
        if self.money_interval.is_zero() {
            return bad("money_interval must be above zero");
        }
        Ok(())
    }
}

/// Why a [`super::GilbarcoMaster`] cannot be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GilbarcoMasterError {
    /// A line needs at least one pump.
    #[error("no pump configured on the line")]
    NoPumps,
    /// Gilbarco pumps are 1..=16 (§1).
    #[error("pump address {0} is outside Gilbarco's 1..=16")]
    AddressOutOfRange(BusAddress),
    /// Two pumps share an address.
    #[error("pump address {0} is configured twice")]
    DuplicateAddress(BusAddress),
    /// Nozzles are the pump's grades, 1..=10 (§4: one digit word).
    #[error("pump {pump}: nozzle {nozzle} is outside 1..=10")]
    BadNozzle {
        /// The pump.
        pump: BusAddress,
        /// The nozzle.
        nozzle: NozzleId,
    },
    /// A nozzle is configured twice on one pump.
    #[error("pump {pump}: nozzle {nozzle} is configured twice")]
    DuplicateNozzle {
        /// The pump.
        pump: BusAddress,
        /// The nozzle.
        nozzle: NozzleId,
    },
    /// More decimals than the field has digits.
    #[error("pump {pump}: decimals {decimals:?} exceed the fields' digits")]
    BadDecimals {
        /// The pump.
        pump: BusAddress,
        /// What was configured.
        decimals: Decimals,
    },
    /// A setting is out of range.
    #[error("bad setting: {0}")]
    BadSetting(&'static str),
}

/// Checks the settings and every pump; pumps keep the order given, the polling order.
pub(super) fn validate(
    settings: &GilbarcoMasterSettings,
    pumps: &[PumpSetup],
) -> Result<(), GilbarcoMasterError> {
    settings.check()?;
    if pumps.is_empty() {
        return Err(GilbarcoMasterError::NoPumps);
    }
    let mut addresses = HashSet::new();
    let sale = settings.digits.sale_digits() as u8;
    let price = settings.digits.price_digits() as u8;
    for pump in pumps {
        let address = pump.address;
        if !(1..=16).contains(&address.0) {
            return Err(GilbarcoMasterError::AddressOutOfRange(address));
        }
        if !addresses.insert(address) {
            return Err(GilbarcoMasterError::DuplicateAddress(address));
        }
        let d = pump.decimals;
        if d.volume > sale || d.amount > sale || d.price > price {
            return Err(GilbarcoMasterError::BadDecimals {
                pump: address,
                decimals: d,
            });
        }
        let mut nozzles = HashSet::new();
        for &(nozzle, _) in &pump.nozzles {
            if !(1..=MAX_GRADES).contains(&nozzle.0) {
                return Err(GilbarcoMasterError::BadNozzle {
                    pump: address,
                    nozzle,
                });
            }
            if !nozzles.insert(nozzle) {
                return Err(GilbarcoMasterError::DuplicateNozzle {
                    pump: address,
                    nozzle,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::GradeId;

    fn pump(address: u8) -> PumpSetup {
        PumpSetup {
            address: BusAddress(address),
            decimals: Decimals::default(),
            nozzles: vec![(NozzleId(1), GradeId(1))],
        }
    }

    #[test]
    fn wire_time_of_8e1_at_5787() {
        let s = GilbarcoMasterSettings::default();
        assert_eq!(s.bits_per_char(), 11);
        assert_eq!(s.wire_time(1), Duration::from_nanos(1_900_813));
    }

    #[test]
    fn rejects_bad_configuration() {
        let s = GilbarcoMasterSettings::default();
        assert_eq!(validate(&s, &[]), Err(GilbarcoMasterError::NoPumps));
        for bad in [0, 17] {
            assert_eq!(
                validate(&s, &[pump(bad)]),
                Err(GilbarcoMasterError::AddressOutOfRange(BusAddress(bad)))
            );
        }
        assert_eq!(
            validate(&s, &[pump(1), pump(1)]),
            Err(GilbarcoMasterError::DuplicateAddress(BusAddress(1)))
        );
        let mut p = pump(2);
        p.nozzles.push((NozzleId(11), GradeId(2)));
        assert!(matches!(
            validate(&s, &[p]),
            Err(GilbarcoMasterError::BadNozzle { .. })
        ));
        let mut p = pump(2);
        p.decimals.price = 5;
        assert!(matches!(
            validate(&s, &[p]),
            Err(GilbarcoMasterError::BadDecimals { .. })
        ));
        let six = GilbarcoMasterSettings {
            money_preset_digits: 7,
            ..s
        };
        assert!(validate(&six, &[pump(1)]).is_err());
        let all: Vec<_> = (1..=16).map(pump).collect();
        assert_eq!(validate(&s, &all), Ok(()));
    }
}
