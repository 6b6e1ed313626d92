//! The master→pump (CD) side of DART level 3 (docs/protocols/dart.md §5.2, §5.3): the CD1
//! command codes ([`Dcc`]), the CD transactions, and their encoding and decoding.
//!
//! It never walks a block, defines an error or holds a shared field helper (the parent
//! module owns those), never decides what a command does to a pump and never keeps state.

use super::{
    bad_length, bcd_u32, build, check_nozzle, parse, prices, put, put_bcd, put_prices, single,
    trans, AppDecodeError, AppEncodeError,
};
use crate::dart::bcd::{AMOUNT_BYTES, VOLUME_BYTES};

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

/// Encodes master→pump transactions into a data block payload, in order.
pub fn encode_master(transactions: &[MasterTransaction]) -> Result<Vec<u8>, AppEncodeError> {
    build(transactions, encode_master_one)
}

/// Decodes the payload of a block the master sent.
pub fn decode_master(payload: &[u8]) -> Result<Vec<MasterTransaction>, AppDecodeError> {
    parse(payload, decode_master_one)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcc_codes_round_trip() {
        for code in 0..=255 {
            assert_eq!(Dcc::from_code(code).code(), code);
        }
    }
}
