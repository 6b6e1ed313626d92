//! The pump→master (DC) side of DART level 3 (docs/protocols/dart.md §5.4–§5.7): the DC
//! transactions and their encoding and decoding, the DC1 status codes ([`DartStatus`]),
//! the DC3 nozzle byte ([`Nozio`]), the DC9 identity ([`PumpIdentity`]), what an alarm code
//! means ([`alarm_description`]) and the neutral [`PumpStatus`] for a DART status
//! ([`dart_status_to_model`]).
//!
//! It never walks a block, defines an error or holds a shared field helper (the parent
//! module owns those) and never keeps state.

use std::fmt;

use super::{
    bad_length, bcd_field, bcd_u32, build, parse, prices, put, put_bcd, put_prices, single, trans,
    AppDecodeError, AppEncodeError, TOTALS_LNG_FULL, TOTALS_LNG_SHORT,
};
use crate::dart::bcd::{AMOUNT_BYTES, IDENTITY_BYTES, PRICE_BYTES, TOTAL_BYTES, VOLUME_BYTES};
use crate::model::PumpStatus;
use crate::units::NozzleId;

/// A DC1 status code (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DartStatus {
    /// 0: no valid prices yet.
    NotProgrammed,
    /// 1: reset, ready to be authorized.
    Reset,
    /// 2: authorized.
    Authorized,
    /// 4: filling.
    Filling,
    /// 5: filling completed.
    FillingCompleted,
    /// 6: preset (or maximum amount) reached.
    MaxReached,
    /// 7: switched off.
    SwitchedOff,
    /// 8: fuelling point suspended.
    Suspended,
    /// Any other code (3 is unused), kept as received.
    Unknown(u8),
}

impl DartStatus {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            DartStatus::NotProgrammed => 0,
            DartStatus::Reset => 1,
            DartStatus::Authorized => 2,
            DartStatus::Filling => 4,
            DartStatus::FillingCompleted => 5,
            DartStatus::MaxReached => 6,
            DartStatus::SwitchedOff => 7,
            DartStatus::Suspended => 8,
            DartStatus::Unknown(code) => code,
        }
    }

    /// The status for a wire code.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => DartStatus::NotProgrammed,
            1 => DartStatus::Reset,
            2 => DartStatus::Authorized,
            4 => DartStatus::Filling,
            5 => DartStatus::FillingCompleted,
            6 => DartStatus::MaxReached,
            7 => DartStatus::SwitchedOff,
            8 => DartStatus::Suspended,
            other => DartStatus::Unknown(other),
        }
    }
}

/// The NOZIO byte of DC3 (§5.4): bits 0–3 the selected logical nozzle (0 = none), bit 4
/// set when the nozzle is out of its holster, bits 5–7 reserved and kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nozio(pub u8);

impl Nozio {
    const OUT: u8 = 0x10;

    /// NOZIO for `nozzle` (low nibble kept) and its position, reserved bits clear.
    pub fn new(nozzle: u8, out: bool) -> Self {
        Nozio(nozzle & 0x0F | if out { Self::OUT } else { 0 })
    }

    /// The selected logical nozzle, 0 when none.
    pub fn nozzle(self) -> u8 {
        self.0 & 0x0F
    }

    /// The selected logical nozzle, if any.
    pub fn selected(self) -> Option<NozzleId> {
        (self.nozzle() != 0).then(|| NozzleId(self.nozzle()))
    }

    /// True when the nozzle is out of its holster.
    pub fn is_out(self) -> bool {
        self.0 & Self::OUT != 0
    }

    /// Bits 5–7 as received.
    pub fn reserved(self) -> u8 {
        self.0 & 0xE0
    }
}

/// The DC9 pump identity: 10 decimal digits (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PumpIdentity(pub u64);

impl PumpIdentity {
    /// Digits 1–4: manufacturer id, assigned by Wayne.
    pub fn manufacturer(self) -> u64 {
        self.0 / 1_000_000 % 10_000
    }

    /// Digits 5–6: pump type, assigned by Wayne.
    pub fn pump_type(self) -> u64 {
        self.0 / 10_000 % 100
    }

    /// Digits 7–10: program version.
    pub fn program_version(self) -> u64 {
        self.0 % 10_000
    }
}

impl fmt::Display for PumpIdentity {
    /// All ten digits, leading zeros included, as the pump sent them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

/// A transaction from a pump to the master (DC, §5.4). Numbers are raw BCD values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PumpTransaction {
    /// DC1 (0x01): pump status.
    Status(DartStatus),
    /// DC2 (0x02): filled volume and amount of the current or last filling (8 digits each).
    FilledVolumeAmount {
        /// Raw volume.
        volume: u32,
        /// Raw amount.
        amount: u32,
    },
    /// DC3 (0x03): the unit price in use (6 digits) and the nozzle state.
    NozzleStatus {
        /// Raw unit price.
        price: u32,
        /// Nozzle selection and position.
        nozio: Nozio,
    },
    /// DC5 (0x05): alarm code, see [`alarm_description`].
    Alarm(u8),
    /// DC9 (0x09): pump identity.
    Identity(PumpIdentity),
    /// DC14 (0x0E): answer to a suspend request, with its nozzle.
    SuspendReply(u8),
    /// DC15 (0x0F): answer to a resume request, with its nozzle.
    ResumeReply(u8),
    /// DC101 (0x65): total counters (10 digits each) for COUN (§5.6). The short variant
    /// (LNG 6, §5.4) carries no meter totals: both are `None`; the standard one (LNG 16)
    /// carries both.
    TotalCounters {
        /// Which counters (§5.6).
        coun: u8,
        /// Volume or amount total.
        totval: u64,
        /// Primary meter total or number of fillings.
        totm1: Option<u64>,
        /// Secondary meter total.
        totm2: Option<u64>,
    },
    /// DC102 (0x66): IFSF stand-alone mode.
    StandAloneMode {
        /// 0 disabled, 1 enabled.
        mode: u8,
        /// 1 when the local authorise button was pressed.
        loca: u8,
    },
    /// DC103 (0x67): unit prices (6 digits each), the first for logical nozzle 1.
    Prices(Vec<u32>),
    /// Any other TRANS (DC7 pump parameters included), skipped by its LNG and kept raw.
    Unknown {
        /// The TRANS byte.
        trans: u8,
        /// Its data, at most 255 bytes.
        data: Vec<u8>,
    },
}

/// Encodes pump→master transactions into a data block payload, in order.
pub fn encode_pump(transactions: &[PumpTransaction]) -> Result<Vec<u8>, AppEncodeError> {
    build(transactions, encode_pump_one)
}

/// Decodes the payload of a block a pump sent.
pub fn decode_pump(payload: &[u8]) -> Result<Vec<PumpTransaction>, AppDecodeError> {
    parse(payload, decode_pump_one)
}

/// What §5.7 says an alarm code means.
///
/// The table's codes are read as hexadecimal throughout (it writes 0A–0F between 09 and
/// 10), so "14–18 reserved, 19, 20" are 0x14..=0x18, 0x19 and 0x20.
pub fn alarm_description(code: u8) -> &'static str {
    match code {
        0x01 => "CPU reset",
        0x03 => "RAM error",
        0x04 => "PROM checksum error",
        0x06 => "pulser error",
        0x07 => "pulser current error",
        0x09 => "emergency stop",
        0x0A => "power failure",
        0x0B => "pressure lost",
        0x0C => "blend ratio error",
        0x0D => "low leak error",
        0x0E => "high leak error",
        0x0F => "hose leak error",
        0x10 => "VR monitor error reset",
        0x11 => "VR monitor 10 consecutive errors",
        0x12 => "VR monitor shut down pump",
        0x13 => "VR monitor internal error",
        0x14..=0x18 => "reserved alarm",
        0x19 => "VR control error",
        0x20 => "VR control error consecutive",
        _ => "unknown alarm",
    }
}

/// The neutral [`PumpStatus`] for a DC1 status, given whether DC3 last reported the nozzle
/// out; `None` for a code §5.5 does not define, which leaves the known status unchanged.
///
/// Choices: RESET (1) is `Idle`, or `Calling` while a nozzle is out since that is a
/// customer waiting for authorization; FILLING COMPLETED (5) and MAX REACHED (6) are both
/// `Completed` (the reason is the master's to report); SWITCHED OFF (7) is `Stopped`; a
/// nozzle out in any other status changes nothing.
pub fn dart_status_to_model(status: DartStatus, nozzle_out: bool) -> Option<PumpStatus> {
    Some(match status {
        DartStatus::NotProgrammed => PumpStatus::NotProgrammed,
        DartStatus::Reset if nozzle_out => PumpStatus::Calling,
        DartStatus::Reset => PumpStatus::Idle,
        DartStatus::Authorized => PumpStatus::Authorized,
        DartStatus::Filling => PumpStatus::Filling,
        DartStatus::FillingCompleted | DartStatus::MaxReached => PumpStatus::Completed,
        DartStatus::SwitchedOff => PumpStatus::Stopped,
        DartStatus::Suspended => PumpStatus::Suspended,
        DartStatus::Unknown(_) => return None,
    })
}

fn decode_pump_one(trans: u8, data: &[u8]) -> Result<PumpTransaction, AppDecodeError> {
    use trans::*;
    Ok(match trans {
        DC1_STATUS => PumpTransaction::Status(DartStatus::from_code(single(trans, data)?)),
        DC2_VOLUME_AMOUNT if data.len() == VOLUME_BYTES + AMOUNT_BYTES => {
            let (volume, amount) = data.split_at(VOLUME_BYTES);
            PumpTransaction::FilledVolumeAmount {
                volume: bcd_u32(trans, volume)?,
                amount: bcd_u32(trans, amount)?,
            }
        }
        DC3_NOZZLE if data.len() == PRICE_BYTES + 1 => PumpTransaction::NozzleStatus {
            price: bcd_u32(trans, &data[..PRICE_BYTES])?,
            nozio: Nozio(data[PRICE_BYTES]),
        },
        DC5_ALARM => PumpTransaction::Alarm(single(trans, data)?),
        DC9_IDENTITY if data.len() == IDENTITY_BYTES => {
            PumpTransaction::Identity(PumpIdentity(bcd_field(trans, data)?))
        }
        DC14_SUSPEND_REPLY => PumpTransaction::SuspendReply(single(trans, data)?),
        DC15_RESUME_REPLY => PumpTransaction::ResumeReply(single(trans, data)?),
        DC101_TOTALS => decode_totals(data)?,
        DC102_STAND_ALONE => match data {
            [mode, loca] => PumpTransaction::StandAloneMode {
                mode: *mode,
                loca: *loca,
            },
            _ => return Err(bad_length(trans, data)),
        },
        DC103_PRICES => PumpTransaction::Prices(prices(trans, data)?),
        DC2_VOLUME_AMOUNT | DC3_NOZZLE | DC9_IDENTITY => return Err(bad_length(trans, data)),
        _ => PumpTransaction::Unknown {
            trans,
            data: data.to_vec(),
        },
    })
}

fn decode_totals(data: &[u8]) -> Result<PumpTransaction, AppDecodeError> {
    let trans = trans::DC101_TOTALS;
    let field = |i: usize| bcd_field(trans, &data[1 + i * TOTAL_BYTES..][..TOTAL_BYTES]);
    let (totm1, totm2) = match data.len() {
        len if len == usize::from(TOTALS_LNG_FULL) => (Some(field(1)?), Some(field(2)?)),
        len if len == usize::from(TOTALS_LNG_SHORT) => (None, None),
        _ => return Err(bad_length(trans, data)),
    };
    Ok(PumpTransaction::TotalCounters {
        coun: data[0],
        totval: field(0)?,
        totm1,
        totm2,
    })
}

fn encode_pump_one(t: &PumpTransaction, out: &mut Vec<u8>) -> Result<(), AppEncodeError> {
    use trans::*;
    let byte = |out: &mut Vec<u8>, trans: u8, value: u8| out.extend_from_slice(&[trans, 1, value]);
    match t {
        PumpTransaction::Status(status) => byte(out, DC1_STATUS, status.code()),
        PumpTransaction::FilledVolumeAmount { volume, amount } => {
            put(out, DC2_VOLUME_AMOUNT, |out| {
                put_bcd(out, DC2_VOLUME_AMOUNT, (*volume).into(), VOLUME_BYTES)?;
                put_bcd(out, DC2_VOLUME_AMOUNT, (*amount).into(), AMOUNT_BYTES)
            })?
        }
        PumpTransaction::NozzleStatus { price, nozio } => put(out, DC3_NOZZLE, |out| {
            put_bcd(out, DC3_NOZZLE, (*price).into(), PRICE_BYTES)?;
            out.push(nozio.0);
            Ok(())
        })?,
        PumpTransaction::Alarm(code) => byte(out, DC5_ALARM, *code),
        PumpTransaction::Identity(id) => put(out, DC9_IDENTITY, |out| {
            put_bcd(out, DC9_IDENTITY, id.0, IDENTITY_BYTES)
        })?,
        PumpTransaction::SuspendReply(nozzle) => byte(out, DC14_SUSPEND_REPLY, *nozzle),
        PumpTransaction::ResumeReply(nozzle) => byte(out, DC15_RESUME_REPLY, *nozzle),
        PumpTransaction::TotalCounters {
            coun,
            totval,
            totm1,
            totm2,
        } => {
            let meters = match (totm1, totm2) {
                (Some(m1), Some(m2)) => Some((*m1, *m2)),
                (None, None) => None,
                _ => return Err(AppEncodeError::InconsistentTotals),
            };
            put(out, DC101_TOTALS, |out| {
                out.push(*coun);
                put_bcd(out, DC101_TOTALS, *totval, TOTAL_BYTES)?;
                if let Some((m1, m2)) = meters {
                    put_bcd(out, DC101_TOTALS, m1, TOTAL_BYTES)?;
                    put_bcd(out, DC101_TOTALS, m2, TOTAL_BYTES)?;
                }
                Ok(())
            })?
        }
        PumpTransaction::StandAloneMode { mode, loca } => {
            out.extend_from_slice(&[DC102_STAND_ALONE, 2, *mode, *loca])
        }
        PumpTransaction::Prices(list) => put_prices(out, DC103_PRICES, list)?,
        PumpTransaction::Unknown { trans, data } => put(out, *trans, |out| {
            out.extend_from_slice(data);
            Ok(())
        })?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nozio_bits() {
        let n = Nozio(0xF2);
        assert_eq!(n.nozzle(), 2);
        assert!(n.is_out());
        assert_eq!(n.reserved(), 0xE0);
        assert_eq!(Nozio(0x10).selected(), None);
        assert_eq!(Nozio::new(7, false), Nozio(0x07));
        assert_eq!(Nozio::new(2, true), Nozio(0x12));
    }

    #[test]
    fn identity_digits() {
        let id = PumpIdentity(123_450_789);
        assert_eq!(id.to_string(), "0123450789");
        assert_eq!(id.manufacturer(), 123);
        assert_eq!(id.pump_type(), 45);
        assert_eq!(id.program_version(), 789);
    }

    #[test]
    fn status_mapping() {
        use DartStatus::*;
        let cases = [
            (NotProgrammed, false, Some(PumpStatus::NotProgrammed)),
            (NotProgrammed, true, Some(PumpStatus::NotProgrammed)),
            (Reset, false, Some(PumpStatus::Idle)),
            (Reset, true, Some(PumpStatus::Calling)),
            (Authorized, true, Some(PumpStatus::Authorized)),
            (Filling, true, Some(PumpStatus::Filling)),
            (FillingCompleted, false, Some(PumpStatus::Completed)),
            (MaxReached, true, Some(PumpStatus::Completed)),
            (SwitchedOff, false, Some(PumpStatus::Stopped)),
            (Suspended, true, Some(PumpStatus::Suspended)),
            (Unknown(3), false, None),
        ];
        for (status, out, expected) in cases {
            assert_eq!(dart_status_to_model(status, out), expected, "{status:?}");
        }
        for code in 0..=255 {
            assert_eq!(DartStatus::from_code(code).code(), code);
        }
    }

    #[test]
    fn alarm_table() {
        assert_eq!(alarm_description(0x0B), "pressure lost");
        assert_eq!(alarm_description(0x20), "VR control error consecutive");
        assert_eq!(alarm_description(0x16), "reserved alarm");
        assert_eq!(alarm_description(0x02), "unknown alarm");
    }
}
