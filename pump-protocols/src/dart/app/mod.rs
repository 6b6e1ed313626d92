//! DART application level 3: the transactions inside a data block's payload
//! (docs/protocols/dart.md §5).
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
//!
//! Layout: `master_tx` holds the CD side, `pump_tx` the DC side (with the status codes,
//! NOZIO, identity, alarms and the status mapping); this file keeps what both share (the
//! TRANS codes, the walk over a block, the field helpers and the errors) and re-exports
//! everything, so callers name it all `dart::app::X`.

mod master_tx;
mod pump_tx;

pub use master_tx::{decode_master, encode_master, Dcc, MasterTransaction};
pub use pump_tx::{
    alarm_description, dart_status_to_model, decode_pump, encode_pump, DartStatus, Nozio,
    PumpIdentity, PumpTransaction,
};

use super::bcd::{decode_bcd, encode_bcd, BcdError, PRICE_BYTES};

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

/// Walks `TRANS LNG DATA` until the lengths add up to the payload (§5.1).
/// Encodes a block: each transaction in order, appended by `one`. An empty block is an
/// error (a DATA frame carries at least one transaction).
fn build<T>(
    transactions: &[T],
    mut one: impl FnMut(&T, &mut Vec<u8>) -> Result<(), AppEncodeError>,
) -> Result<Vec<u8>, AppEncodeError> {
    if transactions.is_empty() {
        return Err(AppEncodeError::Empty);
    }
    let mut out = Vec::new();
    for t in transactions {
        one(t, &mut out)?;
    }
    Ok(out)
}

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
}
