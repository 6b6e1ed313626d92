//! Settings of a DART line master and the checks on its pump configuration.
//!
//! Owns the timing and policy knobs (docs/protocols/dart.md §3.4, §4.1) with their documented
//! defaults, and the validation of the pumps given to [`super::DartMaster::new`]. It never
//! touches the line or keeps state.

use std::collections::HashSet;
use std::time::Duration;

use crate::dart::app::MAX_NOZZLE;
use crate::dart::frame::is_dart_address;
use crate::dart::{OnNak, Parity, SerialSettings, TxWrap, SERIAL_DEFAULTS};
use crate::model::PumpSetup;
use crate::units::{BusAddress, Decimals, NozzleId};

/// Most decimals a DART volume or amount field carries (DPVOL, DPAMO: 0..=8, §5.2 CD9).
pub const MAX_QUANTITY_DECIMALS: u8 = 8;
/// Most decimals a DART unit price field carries (DPUNP: 0..=4, §5.2 CD9).
pub const MAX_PRICE_DECIMALS: u8 = 4;

/// How a [`super::DartMaster`] paces and polices one line.
///
/// Every field has a documented default ([`Default`]); the defaults are the recommended
/// settings of docs/protocols/dart.md §4.1 and the working-implementation choices of §3.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DartMasterSettings {
    /// How long to wait for a pump's answer after the master's frame has left the wire
    /// (its [`wire_time`](Self::wire_time) is added). Default 50 ms: twice the 25 ms pump
    /// deadline of the line spec (§4.1). While an answer is arriving the wait is stretched
    /// by the same amount after each chunk, so a long block that started in time is not
    /// cut off.
    pub response_timeout: Duration,
    /// Quiet gap between the end of one exchange and the start of the next. Default 20 ms
    /// (§4.1 "poll period 20–50 ms").
    pub poll_interval: Duration,
    /// Consecutive misses (no valid answer in time) after which a pump is offline.
    /// Default 5 (§4.1, as WayneDartMaster). At least 1.
    pub offline_after_misses: u32,
    /// How often an offline (or never heard) pump is still polled; the online pumps are
    /// served round-robin in between. Default 1 s, so a dead pump costs little line time
    /// while a pump that comes back is noticed within a second.
    pub offline_poll_interval: Duration,
    /// How many times a command block is resent after a NAK or a timeout before it fails
    /// with [`crate::CommandFailure::Rejected`] or [`crate::CommandFailure::NoAnswer`]: a
    /// block is sent at most `1 + retries` times. Default 3 (§4.1).
    pub retries: u32,
    /// What follows TX# 0xF on the master's own blocks (§3.4, UNCERTAIN). Default F→1.
    pub tx_wrap: TxWrap,
    /// Which TX# a NAKed block is resent with (§3.4, UNCERTAIN). Default: reset to 0, as
    /// working masters do.
    pub on_nak: OnNak,
    /// Most commands waiting per pump, the one in flight included; more are refused with
    /// [`crate::SubmitError::QueueFull`]. Default 16. At least 1. The master's own
    /// session and end-of-sale requests do not count.
    pub max_queue: usize,
    /// EOT answers the master waits, after the pump ACKed a block, for the transactions
    /// that show the block was applied: DC1 after RETURN STATUS, both DC101 after a
    /// totals request, DC1 AUTHORIZED (or FILLING, SUSPENDED) after AUTHORIZE, a DC1
    /// leaving the old status after STOP or RESET. §3.4: a pump ACKs a block it takes for
    /// a retransmission without applying it, so an ACK alone proves nothing. Then a
    /// request that changes nothing in the pump is sent again with a new TX# (at most
    /// `retries` times) and a command that does is reported
    /// [`crate::CommandFailure::NotApplied`]. Default 10: a head answers within ~50 ms
    /// (§5.5 field observations) and each EOT is one poll cycle of the line, so ten leave
    /// a slow head room before a false `NotApplied`. At least 1.
    pub apply_patience: u32,
    /// Most exchanges one pump gets in a row before the next pump's turn. A pump that
    /// answered with data or acknowledged a block and still has a block queued or an
    /// acknowledged request unanswered (an end of sale's figures, a totals request) is
    /// served again at once rather than after a whole cycle of the other pumps; an EOT,
    /// a NAK or a miss ends its turn. So a turn is at most this many exchanges and a pump
    /// waits at most `(pumps - 1) × max_turn_exchanges` exchanges for its own. Default 4:
    /// an end of sale takes three (the POLL that hears FILLING COMPLETED, RETURN FILLING
    /// INFORMATION and its ACK, the POLL answered by DC2 + DC3), one more covers a resend.
    /// 1 is a plain round robin. At least 1.
    pub max_turn_exchanges: u32,
    /// Ordinary turns between two extra turns of the busy pumps. A pump the master
    /// judges busy (authorized, filling, suspended, or finished with its final figures
    /// not read yet) and with no block waiting for a resend gets an extra turn after
    /// every `busy_turn_every` ordinary turns, rotating among the busy pumps (the one
    /// served longest ago first); the extra turn polls and may ask for the figures of a
    /// finished sale, never sends a command, and its EOTs spend none of the patience
    /// above (`apply_patience` stays counted in cycles). So a hang-up is heard within about
    /// `busy_turn_every + 1` turns instead of a whole cycle of the line, while an idle
    /// pump's cycle grows by at most `1 / busy_turn_every` while any pump is busy.
    /// Default 4: on a full line of 32 pumps a hang-up is heard within about 5 turns
    /// (about 60 ms at 9600 baud) instead of up to 32, for at most a quarter more on the
    /// idle pumps' cycle, which only lengthens while someone is filling. 0 turns extra
    /// turns off (a plain round robin).
    pub busy_turn_every: u32,
    /// Character format and speed, used only to know how long a frame takes on the wire
    /// (the answer deadline starts when the frame has been sent). Default 9600 8O1 (§1).
    pub serial: SerialSettings,
}

impl Default for DartMasterSettings {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_millis(50),
            poll_interval: Duration::from_millis(20),
            offline_after_misses: 5,
            offline_poll_interval: Duration::from_secs(1),
            retries: 3,
            tx_wrap: TxWrap::FTo1,
            on_nak: OnNak::ResetTo0,
            max_queue: 16,
            apply_patience: 10,
            max_turn_exchanges: 4,
            busy_turn_every: 4,
            serial: SERIAL_DEFAULTS,
        }
    }
}

impl DartMasterSettings {
    /// Bits on the wire per character: start, data, parity, stop (11 for 8O1).
    pub fn bits_per_char(&self) -> u32 {
        let parity = u32::from(self.serial.parity != Parity::None);
        1 + u32::from(self.serial.data_bits) + parity + u32::from(self.serial.stop_bits)
    }

    /// How long `bytes` take to send at the configured speed, rounded up to the
    /// nanosecond (3 bytes at 9600 8O1: 3.4375 ms).
    pub fn wire_time(&self, bytes: usize) -> Duration {
        let baud = u128::from(self.serial.baud_rate.max(1));
        let bits = bytes as u128 * u128::from(self.bits_per_char());
        let nanos = (bits * 1_000_000_000).div_ceil(baud);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn check(&self) -> Result<(), DartMasterError> {
        if self.offline_after_misses == 0 {
            return Err(DartMasterError::BadSetting(
                "offline_after_misses must be at least 1",
            ));
        }
        if self.apply_patience == 0 {
            return Err(DartMasterError::BadSetting(
                "apply_patience must be at least 1",
            ));
        }
        if self.max_turn_exchanges == 0 {
            return Err(DartMasterError::BadSetting(
                "max_turn_exchanges must be at least 1",
            ));
        }
        if self.max_queue == 0 {
            return Err(DartMasterError::BadSetting("max_queue must be at least 1"));
        }
        if self.serial.baud_rate == 0 || self.serial.data_bits == 0 {
            return Err(DartMasterError::BadSetting(
                "serial speed and data bits must not be 0",
            ));
        }
        Ok(())
    }
}

/// Why a [`super::DartMaster`] cannot be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DartMasterError {
    /// A line needs at least one pump.
    #[error("no pump configured on the line")]
    NoPumps,
    /// DART addresses are 0x50..=0x6F (§2).
    #[error("pump address {0} is outside the DART range 0x50..=0x6F")]
    AddressOutOfRange(BusAddress),
    /// Two pumps share an address.
    #[error("pump address {0} is configured twice")]
    DuplicateAddress(BusAddress),
    /// Logical nozzles are 1..=15 (§5.9).
    #[error("pump {pump}: nozzle {nozzle} is outside 1..=15")]
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
    /// Volume and amount carry 0..=8 decimals, prices 0..=4 (§5.2 CD9, §5.8).
    #[error("pump {pump}: decimals {decimals:?} exceed DART's 8 (volume, amount) / 4 (price)")]
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

/// Checks the settings and every pump; pumps keep the order given, which is the polling
/// order.
pub(super) fn validate(
    settings: &DartMasterSettings,
    pumps: &[PumpSetup],
) -> Result<(), DartMasterError> {
    settings.check()?;
    if pumps.is_empty() {
        return Err(DartMasterError::NoPumps);
    }
    let mut addresses = HashSet::new();
    for pump in pumps {
        validate_pump(pump)?;
        if !addresses.insert(pump.address) {
            return Err(DartMasterError::DuplicateAddress(pump.address));
        }
    }
    Ok(())
}

/// Checks one pump on its own: its address, decimals DART can carry and its nozzles.
pub(super) fn validate_pump(pump: &PumpSetup) -> Result<(), DartMasterError> {
    let address = pump.address;
    if !is_dart_address(address.0) {
        return Err(DartMasterError::AddressOutOfRange(address));
    }
    let d = pump.decimals;
    if d.volume > MAX_QUANTITY_DECIMALS
        || d.amount > MAX_QUANTITY_DECIMALS
        || d.price > MAX_PRICE_DECIMALS
    {
        return Err(DartMasterError::BadDecimals {
            pump: address,
            decimals: d,
        });
    }
    let mut nozzles = HashSet::new();
    for &(nozzle, _) in &pump.nozzles {
        if !(1..=MAX_NOZZLE).contains(&nozzle.0) {
            return Err(DartMasterError::BadNozzle {
                pump: address,
                nozzle,
            });
        }
        if !nozzles.insert(nozzle) {
            return Err(DartMasterError::DuplicateNozzle {
                pump: address,
                nozzle,
            });
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
    fn wire_time_of_8o1_at_9600() {
        let s = DartMasterSettings::default();
        assert_eq!(s.bits_per_char(), 11);
        assert_eq!(s.wire_time(3), Duration::from_nanos(3_437_500));
        assert_eq!(s.wire_time(0), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_configuration() {
        let s = DartMasterSettings::default();
        assert_eq!(validate(&s, &[]), Err(DartMasterError::NoPumps));
        assert_eq!(
            validate(&s, &[pump(0x4F)]),
            Err(DartMasterError::AddressOutOfRange(BusAddress(0x4F)))
        );
        assert_eq!(
            validate(&s, &[pump(0x70)]),
            Err(DartMasterError::AddressOutOfRange(BusAddress(0x70)))
        );
        assert_eq!(
            validate(&s, &[pump(0x50), pump(0x51), pump(0x50)]),
            Err(DartMasterError::DuplicateAddress(BusAddress(0x50)))
        );
        let mut p = pump(0x50);
        p.nozzles.push((NozzleId(16), GradeId(2)));
        assert!(matches!(
            validate(&s, &[p]),
            Err(DartMasterError::BadNozzle { .. })
        ));
        let mut p = pump(0x50);
        p.nozzles.push((NozzleId(1), GradeId(2)));
        assert!(matches!(
            validate(&s, &[p]),
            Err(DartMasterError::DuplicateNozzle { .. })
        ));
        let mut p = pump(0x50);
        p.decimals.price = 5;
        assert!(matches!(
            validate(&s, &[p]),
            Err(DartMasterError::BadDecimals { .. })
        ));
        let zero = DartMasterSettings {
            offline_after_misses: 0,
            ..s
        };
        assert!(matches!(
            validate(&zero, &[pump(0x50)]),
            Err(DartMasterError::BadSetting(_))
        ));
        let impatient = DartMasterSettings {
            apply_patience: 0,
            ..s
        };
        assert!(matches!(
            validate(&impatient, &[pump(0x50)]),
            Err(DartMasterError::BadSetting(_))
        ));
        let turnless = DartMasterSettings {
            max_turn_exchanges: 0,
            ..s
        };
        assert!(matches!(
            validate(&turnless, &[pump(0x50)]),
            Err(DartMasterError::BadSetting(_))
        ));
        let all: Vec<_> = (0x50..=0x6F).map(pump).collect();
        assert_eq!(validate(&s, &all), Ok(()));
    }
}
