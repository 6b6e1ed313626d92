//! DART application level 3: the transactions inside a data block's payload
//! (protocols/dart.md §5).
//!
//! Owns the `TRANS LNG DATA` layout, the master→pump (CD) and pump→master (DC)
//! transactions, packed BCD fields and the DART status codes. Values stay raw integers:
//! the master applies each pump's [`Decimals`](crate::units::Decimals). It never frames,
//! never decides what a command does to a pump (the simulator does) and never keeps state.
//!
//! TRANS numbers are shared by both directions (CD1 and DC1 are both 0x01, §5.1), so the
//! caller picks [`decode_master`] or [`decode_pump`] by who sent the block, never by its
//! content.
//!
//! Parsing is strict about structure and lenient about meaning: a known TRANS with a
//! length its layout does not allow, a transaction cut short, or a non-decimal BCD nibble
//! fails the whole block; an unknown TRANS is kept as `Unknown` (skipped by LNG, §5.1), and
//! codes with no defined meaning (a DCC, a status, an alarm) are kept as they came.
//! Encoding refuses a value that does not fit its digits rather than truncate it.

use std::fmt;

use super::bcd::{
    decode_bcd, encode_bcd, BcdError, AMOUNT_BYTES, IDENTITY_BYTES, PRICE_BYTES, TOTAL_BYTES,
    VOLUME_BYTES,
};
use crate::model::PumpStatus;
use crate::units::NozzleId;

/// TRANS codes; the name is the master→pump one, the pump→master twin shares the number.
mod trans {
    pub const CD1_COMMAND: u8 = 0x01;
    pub const CD2_ALLOWED_NOZZLES: u8 = 0x02;
    pub const CD3_PRESET_VOLUME: u8 = 0x03;
    pub const CD4_PRESET_AMOUNT: u8 = 0x04;
    pub const CD5_PRICE_UPDATE: u8 = 0x05;
    pub const CD7_OUTPUT: u8 = 0x07;
    pub const CD8_TOTALS: u8 = 0x08;
    pub const CD13_FILLING_TYPE: u8 = 0x0D;
    pub const CD14_SUSPEND: u8 = 0x0E;
    pub const CD15_RESUME: u8 = 0x0F;
    pub const CD101_TOTALS: u8 = 0x65;
    pub const DC1_STATUS: u8 = 0x01;
    pub const DC2_VOLUME_AMOUNT: u8 = 0x02;
    pub const DC3_NOZZLE: u8 = 0x03;
    pub const DC5_ALARM: u8 = 0x05;
    pub const DC9_IDENTITY: u8 = 0x09;
    pub const DC14_SUSPEND_REPLY: u8 = 0x0E;
    pub const DC15_RESUME_REPLY: u8 = 0x0F;
    pub const DC101_TOTALS: u8 = 0x65;
    pub const DC102_STAND_ALONE: u8 = 0x66;
    pub const DC103_PRICES: u8 = 0x67;
}

/// Highest logical nozzle number (§5.9).
pub const MAX_NOZZLE: u8 = 0x0F;
/// DC101 data length of the standard layout: COUN TOTVAL TOTM1 TOTM2 (§5.4).
pub const TOTALS_LNG_FULL: u8 = 16;
/// DC101 data length of the short variant seen in the field: COUN TOTVAL only (§5.4).
pub const TOTALS_LNG_SHORT: u8 = 6;

/// A CD1 command code, DCC (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dcc {
    /// 0x00: the pump answers DC1 + DC3 (+ DC5).
    ReturnStatus,
    /// 0x02: the pump answers DC7 (+ DC102).
    ReturnPumpParameters,
    /// 0x03: the pump answers DC9.
    ReturnPumpIdentity,
    /// 0x04: the pump answers DC2 + DC3.
    ReturnFillingInfo,
    /// 0x05: clear the last filling; → RESET.
    Reset,
    /// 0x06: authorize the allowed nozzles; → AUTHORIZED.
    Authorize,
    /// 0x08: motor off, filling ended; → FILLING COMPLETED.
    Stop,
    /// 0x0A: light and motor off; → SWITCHED OFF.
    SwitchOff,
    /// 0x0D: close the valve, keep the filling open.
    Suspend,
    /// 0x0E: open the valve again.
    Resume,
    /// 0x0F: the pump answers DC103.
    ReturnPrices,
    /// A code with no defined meaning (0x01, 0x07, 0x09, 0x0B, 0x0C, 0x10..), kept as sent.
    /// A defined code given here encodes as that code and decodes as its own variant.
    Other(u8),
}

impl Dcc {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Dcc::ReturnStatus => 0x00,
            Dcc::ReturnPumpParameters => 0x02,
            Dcc::ReturnPumpIdentity => 0x03,
            Dcc::ReturnFillingInfo => 0x04,
            Dcc::Reset => 0x05,
            Dcc::Authorize => 0x06,
            Dcc::Stop => 0x08,
            Dcc::SwitchOff => 0x0A,
            Dcc::Suspend => 0x0D,
            Dcc::Resume => 0x0E,
            Dcc::ReturnPrices => 0x0F,
            Dcc::Other(code) => code,
        }
    }

    /// The command for a wire code.
    pub fn from_code(code: u8) -> Self {
        match code {
            0x00 => Dcc::ReturnStatus,
            0x02 => Dcc::ReturnPumpParameters,
            0x03 => Dcc::ReturnPumpIdentity,
            0x04 => Dcc::ReturnFillingInfo,
            0x05 => Dcc::Reset,
            0x06 => Dcc::Authorize,
            0x08 => Dcc::Stop,
            0x0A => Dcc::SwitchOff,
            0x0D => Dcc::Suspend,
            0x0E => Dcc::Resume,
            0x0F => Dcc::ReturnPrices,
            other => Dcc::Other(other),
        }
    }
}

/// A transaction from the master to a pump (CD, §5.2). Numbers are raw BCD values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MasterTransaction {
    /// CD1 (0x01): a command.
    Command(Dcc),
    /// CD2 (0x02): logical nozzles (1..=15) allowed for the next authorization.
    AllowedNozzles(Vec<u8>),
    /// CD3 (0x03): stop at this filled volume (8 digits).
    PresetVolume(u32),
    /// CD4 (0x04): stop at this filled amount (8 digits).
    PresetAmount(u32),
    /// CD5 (0x05): unit prices (6 digits each), the first for logical nozzle 1. A pump
    /// ignores the block unless every one of its nozzles has a price.
    PriceUpdate(Vec<u32>),
    /// CD7 (0x07): switch an output. `num`: 0x0A master red/green, 0x0B master SB/BT,
    /// 0x0C back-light, 0x0D speak-to-pump, 0x0E hose-leak test; `command`: 0 off, 1 on.
    SetOutput {
        /// Output number.
        num: u8,
        /// 0 off, 1 on.
        command: u8,
    },
    /// CD13 (0x0D): filling type, 0 cash, 1 credit.
    FillingType(u8),
    /// CD14 (0x0E): suspend; nozzle 0 except on satellite pumps. Answered by DC14.
    SuspendRequest(u8),
    /// CD15 (0x0F): resume; nozzle as for CD14. Answered by DC15.
    ResumeRequest(u8),
    /// CD101 (0x65): request the total counters selected by COUN (§5.6). Answered by DC101.
    RequestTotals(u8),
    /// CD8 (0x08): the same request under the older TRANS ("same as CD101", §5.2). A pump
    /// treats it as [`RequestTotals`](Self::RequestTotals); it is kept apart only so that a
    /// decoded block encodes back to the same bytes.
    RequestTotalsCd8(u8),
    /// Any other TRANS (CD9 pump parameters included), skipped by its LNG and kept raw.
    Unknown {
        /// The TRANS byte.
        trans: u8,
        /// Its data, at most 255 bytes.
        data: Vec<u8>,
    },
}

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

/// Why a payload is not a well-formed list of transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AppDecodeError {
    /// A data block carries at least one transaction.
    #[error("empty block")]
    Empty,
    /// Fewer than two bytes (TRANS LNG) left at `offset`.
    #[error("transaction header cut short at offset {offset}")]
    Truncated {
        /// Offset of the cut header in the payload.
        offset: usize,
    },
    /// LNG runs past the end of the payload.
    #[error("TRANS {trans:#04x} at offset {offset} claims {lng} bytes, {available} left")]
    Overrun {
        /// Offset of the transaction in the payload.
        offset: usize,
        /// Its TRANS byte.
        trans: u8,
        /// Its LNG byte.
        lng: u8,
        /// Bytes left after the header.
        available: usize,
    },
    /// A known TRANS with a length its layout does not allow.
    #[error("TRANS {trans:#04x} cannot have LNG {lng}")]
    BadLength {
        /// The TRANS byte.
        trans: u8,
        /// Its LNG byte.
        lng: u8,
    },
    /// A numeric field holds a nibble above 9.
    #[error("TRANS {trans:#04x}: {source}")]
    Bcd {
        /// The TRANS byte.
        trans: u8,
        /// The BCD fault.
        source: BcdError,
    },
}

/// Why transactions cannot be put into a payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AppEncodeError {
    /// A data block carries at least one transaction.
    #[error("no transaction to send")]
    Empty,
    /// A value does not fit its BCD digits.
    #[error("TRANS {trans:#04x}: {source}")]
    Bcd {
        /// The TRANS byte.
        trans: u8,
        /// The BCD fault.
        source: BcdError,
    },
    /// The data would not fit in LNG (255 bytes).
    #[error("TRANS {trans:#04x}: {len} data bytes do not fit one transaction")]
    TooLong {
        /// The TRANS byte.
        trans: u8,
        /// The data length asked for.
        len: usize,
    },
    /// A list that must hold at least one entry is empty (CD2, CD5, DC103).
    #[error("TRANS {trans:#04x}: empty list")]
    EmptyList {
        /// The TRANS byte.
        trans: u8,
    },
    /// A nozzle number outside the range of its field.
    #[error("TRANS {trans:#04x}: nozzle {nozzle} out of range")]
    BadNozzle {
        /// The TRANS byte.
        trans: u8,
        /// The nozzle asked for.
        nozzle: u8,
    },
    /// DC101 meter totals are sent both or neither (LNG 16 or 6).
    #[error("DC101 carries TOTM1 and TOTM2 together or neither")]
    InconsistentTotals,
}

/// Encodes master→pump transactions into a data block payload, in order.
pub fn encode_master(transactions: &[MasterTransaction]) -> Result<Vec<u8>, AppEncodeError> {
    let mut out = Vec::new();
    if transactions.is_empty() {
        return Err(AppEncodeError::Empty);
    }
    for t in transactions {
        encode_master_one(t, &mut out)?;
    }
    Ok(out)
}

/// Encodes pump→master transactions into a data block payload, in order.
pub fn encode_pump(transactions: &[PumpTransaction]) -> Result<Vec<u8>, AppEncodeError> {
    let mut out = Vec::new();
    if transactions.is_empty() {
        return Err(AppEncodeError::Empty);
    }
    for t in transactions {
        encode_pump_one(t, &mut out)?;
    }
    Ok(out)
}

/// Decodes the payload of a block the master sent.
pub fn decode_master(payload: &[u8]) -> Result<Vec<MasterTransaction>, AppDecodeError> {
    parse(payload, decode_master_one)
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

/// Walks `TRANS LNG DATA` until the lengths add up to the payload (§5.1).
fn parse<T>(
    payload: &[u8],
    mut one: impl FnMut(u8, &[u8]) -> Result<T, AppDecodeError>,
) -> Result<Vec<T>, AppDecodeError> {
    if payload.is_empty() {
        return Err(AppDecodeError::Empty);
    }
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < payload.len() {
        let (Some(&trans), Some(&lng)) = (payload.get(offset), payload.get(offset + 1)) else {
            return Err(AppDecodeError::Truncated { offset });
        };
        let start = offset + 2;
        let end = start + usize::from(lng);
        let Some(data) = payload.get(start..end) else {
            return Err(AppDecodeError::Overrun {
                offset,
                trans,
                lng,
                available: payload.len() - start,
            });
        };
        out.push(one(trans, data)?);
        offset = end;
    }
    Ok(out)
}

fn bcd_field(trans: u8, bytes: &[u8]) -> Result<u64, AppDecodeError> {
    decode_bcd(bytes).map_err(|source| AppDecodeError::Bcd { trans, source })
}

/// A BCD field of at most 8 digits, which always fits a `u32`.
fn bcd_u32(trans: u8, bytes: &[u8]) -> Result<u32, AppDecodeError> {
    let value = bcd_field(trans, bytes)?;
    u32::try_from(value).map_err(|_| AppDecodeError::BadLength {
        trans,
        lng: bytes.len() as u8,
    })
}

/// The single data byte of a LNG-1 transaction.
fn single(trans: u8, data: &[u8]) -> Result<u8, AppDecodeError> {
    match data {
        [byte] => Ok(*byte),
        _ => Err(bad_length(trans, data)),
    }
}

fn bad_length(trans: u8, data: &[u8]) -> AppDecodeError {
    AppDecodeError::BadLength {
        trans,
        // `parse` only hands out slices of at most 255 bytes.
        lng: data.len() as u8,
    }
}

/// A list of 3-byte prices (CD5, DC103).
fn prices(trans: u8, data: &[u8]) -> Result<Vec<u32>, AppDecodeError> {
    if data.is_empty() || data.len() % PRICE_BYTES != 0 {
        return Err(bad_length(trans, data));
    }
    data.chunks_exact(PRICE_BYTES)
        .map(|price| bcd_u32(trans, price))
        .collect()
}

fn decode_master_one(trans: u8, data: &[u8]) -> Result<MasterTransaction, AppDecodeError> {
    use trans::*;
    Ok(match trans {
        CD1_COMMAND => MasterTransaction::Command(Dcc::from_code(single(trans, data)?)),
        CD2_ALLOWED_NOZZLES if !data.is_empty() => MasterTransaction::AllowedNozzles(data.to_vec()),
        CD3_PRESET_VOLUME | CD4_PRESET_AMOUNT if data.len() == VOLUME_BYTES => {
            let value = bcd_u32(trans, data)?;
            if trans == CD3_PRESET_VOLUME {
                MasterTransaction::PresetVolume(value)
            } else {
                MasterTransaction::PresetAmount(value)
            }
        }
        CD5_PRICE_UPDATE => MasterTransaction::PriceUpdate(prices(trans, data)?),
        CD7_OUTPUT => match data {
            [num, command] => MasterTransaction::SetOutput {
                num: *num,
                command: *command,
            },
            _ => return Err(bad_length(trans, data)),
        },
        CD8_TOTALS => MasterTransaction::RequestTotalsCd8(single(trans, data)?),
        CD13_FILLING_TYPE => MasterTransaction::FillingType(single(trans, data)?),
        CD14_SUSPEND => MasterTransaction::SuspendRequest(single(trans, data)?),
        CD15_RESUME => MasterTransaction::ResumeRequest(single(trans, data)?),
        CD101_TOTALS => MasterTransaction::RequestTotals(single(trans, data)?),
        CD2_ALLOWED_NOZZLES | CD3_PRESET_VOLUME | CD4_PRESET_AMOUNT => {
            return Err(bad_length(trans, data))
        }
        _ => MasterTransaction::Unknown {
            trans,
            data: data.to_vec(),
        },
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

/// Appends `TRANS LNG DATA`, with DATA written by `data` and LNG filled in after.
fn put(
    out: &mut Vec<u8>,
    trans: u8,
    data: impl FnOnce(&mut Vec<u8>) -> Result<(), AppEncodeError>,
) -> Result<(), AppEncodeError> {
    let at = out.len();
    out.extend_from_slice(&[trans, 0]);
    data(out)?;
    let len = out.len() - at - 2;
    out[at + 1] = u8::try_from(len).map_err(|_| AppEncodeError::TooLong { trans, len })?;
    Ok(())
}

fn put_bcd(out: &mut Vec<u8>, trans: u8, value: u64, width: usize) -> Result<(), AppEncodeError> {
    encode_bcd(value, width, out).map_err(|source| AppEncodeError::Bcd { trans, source })
}

fn put_prices(out: &mut Vec<u8>, trans: u8, list: &[u32]) -> Result<(), AppEncodeError> {
    if list.is_empty() {
        return Err(AppEncodeError::EmptyList { trans });
    }
    put(out, trans, |out| {
        list.iter()
            .try_for_each(|&p| put_bcd(out, trans, p.into(), PRICE_BYTES))
    })
}

fn check_nozzle(trans: u8, nozzle: u8, min: u8) -> Result<u8, AppEncodeError> {
    if (min..=MAX_NOZZLE).contains(&nozzle) {
        Ok(nozzle)
    } else {
        Err(AppEncodeError::BadNozzle { trans, nozzle })
    }
}

fn encode_master_one(t: &MasterTransaction, out: &mut Vec<u8>) -> Result<(), AppEncodeError> {
    use trans::*;
    let byte = |out: &mut Vec<u8>, trans: u8, value: u8| out.extend_from_slice(&[trans, 1, value]);
    match t {
        MasterTransaction::Command(dcc) => byte(out, CD1_COMMAND, dcc.code()),
        MasterTransaction::AllowedNozzles(nozzles) => {
            let trans = CD2_ALLOWED_NOZZLES;
            if nozzles.is_empty() {
                return Err(AppEncodeError::EmptyList { trans });
            }
            for &nozzle in nozzles {
                check_nozzle(trans, nozzle, 1)?;
            }
            put(out, trans, |out| {
                out.extend_from_slice(nozzles);
                Ok(())
            })?;
        }
        MasterTransaction::PresetVolume(value) => put(out, CD3_PRESET_VOLUME, |out| {
            put_bcd(out, CD3_PRESET_VOLUME, (*value).into(), VOLUME_BYTES)
        })?,
        MasterTransaction::PresetAmount(value) => put(out, CD4_PRESET_AMOUNT, |out| {
            put_bcd(out, CD4_PRESET_AMOUNT, (*value).into(), AMOUNT_BYTES)
        })?,
        MasterTransaction::PriceUpdate(list) => put_prices(out, CD5_PRICE_UPDATE, list)?,
        MasterTransaction::SetOutput { num, command } => {
            out.extend_from_slice(&[CD7_OUTPUT, 2, *num, *command])
        }
        MasterTransaction::FillingType(kind) => byte(out, CD13_FILLING_TYPE, *kind),
        MasterTransaction::SuspendRequest(nozzle) => {
            byte(out, CD14_SUSPEND, check_nozzle(CD14_SUSPEND, *nozzle, 0)?)
        }
        MasterTransaction::ResumeRequest(nozzle) => {
            byte(out, CD15_RESUME, check_nozzle(CD15_RESUME, *nozzle, 0)?)
        }
        MasterTransaction::RequestTotals(coun) => byte(out, CD101_TOTALS, *coun),
        MasterTransaction::RequestTotalsCd8(coun) => byte(out, CD8_TOTALS, *coun),
        MasterTransaction::Unknown { trans, data } => put(out, *trans, |out| {
            out.extend_from_slice(data);
            Ok(())
        })?,
    }
    Ok(())
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
    fn skips_unknown_trans_by_length() {
        let payload = [0x42, 0x02, 0xAA, 0xBB, 0x01, 0x01, 0x05];
        assert_eq!(
            decode_pump(&payload),
            Ok(vec![
                PumpTransaction::Unknown {
                    trans: 0x42,
                    data: vec![0xAA, 0xBB]
                },
                PumpTransaction::Status(DartStatus::FillingCompleted),
            ])
        );
    }

    #[test]
    fn structural_faults_are_errors() {
        assert_eq!(decode_pump(&[]), Err(AppDecodeError::Empty));
        assert_eq!(
            decode_pump(&[0x01, 0x01, 0x05, 0x02]),
            Err(AppDecodeError::Truncated { offset: 3 })
        );
        assert_eq!(
            decode_pump(&[0x01, 0x02, 0x05]),
            Err(AppDecodeError::Overrun {
                offset: 0,
                trans: 0x01,
                lng: 2,
                available: 1
            })
        );
        assert_eq!(
            decode_pump(&[0x01, 0x02, 0x05, 0x00]),
            Err(AppDecodeError::BadLength {
                trans: 0x01,
                lng: 2
            })
        );
        assert_eq!(
            decode_pump(&[0x65, 0x07, 1, 0, 0, 0, 0, 0, 0]),
            Err(AppDecodeError::BadLength {
                trans: 0x65,
                lng: 7
            })
        );
        assert_eq!(
            decode_master(&[0x05, 0x04, 0, 0, 0, 0]),
            Err(AppDecodeError::BadLength {
                trans: 0x05,
                lng: 4
            })
        );
        assert_eq!(
            decode_pump(&[0x03, 0x04, 0x00, 0x1A, 0x00, 0x01]),
            Err(AppDecodeError::Bcd {
                trans: 0x03,
                source: BcdError::InvalidDigit { byte: 0x1A }
            })
        );
    }

    #[test]
    fn encode_refuses_values_that_do_not_fit() {
        assert!(matches!(
            encode_master(&[MasterTransaction::PresetAmount(100_000_000)]),
            Err(AppEncodeError::Bcd { trans: 0x04, .. })
        ));
        assert!(matches!(
            encode_master(&[MasterTransaction::PriceUpdate(vec![1, 1_000_000])]),
            Err(AppEncodeError::Bcd { trans: 0x05, .. })
        ));
        assert_eq!(
            encode_master(&[MasterTransaction::PriceUpdate(vec![1; 86])]),
            Err(AppEncodeError::TooLong {
                trans: 0x05,
                len: 258
            })
        );
        assert_eq!(
            encode_master(&[MasterTransaction::AllowedNozzles(vec![1, 16])]),
            Err(AppEncodeError::BadNozzle {
                trans: 0x02,
                nozzle: 16
            })
        );
        assert_eq!(
            encode_master(&[MasterTransaction::AllowedNozzles(vec![0])]),
            Err(AppEncodeError::BadNozzle {
                trans: 0x02,
                nozzle: 0
            })
        );
        assert_eq!(encode_master(&[]), Err(AppEncodeError::Empty));
        assert_eq!(
            encode_pump(&[PumpTransaction::TotalCounters {
                coun: 1,
                totval: 0,
                totm1: Some(0),
                totm2: None
            }]),
            Err(AppEncodeError::InconsistentTotals)
        );
        assert!(matches!(
            encode_pump(&[PumpTransaction::Identity(PumpIdentity(10_000_000_000))]),
            Err(AppEncodeError::Bcd { trans: 0x09, .. })
        ));
    }

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
            assert_eq!(Dcc::from_code(code).code(), code);
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
