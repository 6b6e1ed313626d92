//! Packed BCD as DART writes numbers (docs/protocols/dart.md §5.8): two decimal digits per
//! byte, most significant byte first, no sign, no decimal point.
//!
//! Owns the digit arithmetic and the field widths. Where the decimal point goes is pump
//! configuration ([`crate::units::Decimals`]), applied by the master, never here.

/// Bytes of a volume field (8 digits, max 99 999 999).
pub const VOLUME_BYTES: usize = 4;
/// Bytes of an amount field (8 digits).
pub const AMOUNT_BYTES: usize = 4;
/// Bytes of a unit price field (6 digits, max 999 999).
pub const PRICE_BYTES: usize = 3;
/// Bytes of a total counter field (10 digits).
pub const TOTAL_BYTES: usize = 5;
/// Bytes of the pump identity (10 digits).
pub const IDENTITY_BYTES: usize = 5;
/// The widest field this module handles: 18 digits still fit a `u64`.
pub const MAX_BCD_BYTES: usize = 9;

/// A number that is not, or cannot become, packed BCD of the given width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum BcdError {
    /// A nibble is 0xA..=0xF (§5.8: a malformed transaction).
    #[error("byte {byte:#04x} is not two decimal digits")]
    InvalidDigit {
        /// The offending byte.
        byte: u8,
    },
    /// The value has more digits than the field; it is refused, never truncated.
    #[error("{value} does not fit in {digits} digits")]
    TooLarge {
        /// The value.
        value: u64,
        /// The digits of the field.
        digits: u8,
    },
    /// The field is wider than [`MAX_BCD_BYTES`].
    #[error("a {width}-byte BCD field does not fit a 64-bit integer")]
    TooWide {
        /// Width in bytes.
        width: usize,
    },
}

/// Appends `value` as `width` bytes of packed BCD, MSB first, zero-padded.
pub fn encode_bcd(value: u64, width: usize, out: &mut Vec<u8>) -> Result<(), BcdError> {
    if width > MAX_BCD_BYTES {
        return Err(BcdError::TooWide { width });
    }
    // `width <= 9`, so the digits and the power of ten fit.
    let digits = (2 * width) as u32;
    if value >= 10u64.pow(digits) {
        return Err(BcdError::TooLarge {
            value,
            digits: digits as u8,
        });
    }
    let at = out.len();
    out.resize(at + width, 0);
    let mut rest = value;
    for slot in out[at..].iter_mut().rev() {
        let low = (rest % 10) as u8;
        let high = (rest / 10 % 10) as u8;
        *slot = high << 4 | low;
        rest /= 100;
    }
    Ok(())
}

/// Reads packed BCD, MSB first.
pub fn decode_bcd(bytes: &[u8]) -> Result<u64, BcdError> {
    if bytes.len() > MAX_BCD_BYTES {
        return Err(BcdError::TooWide { width: bytes.len() });
    }
    bytes.iter().try_fold(0u64, |acc, &byte| {
        let (high, low) = (byte >> 4, byte & 0x0F);
        if high > 9 || low > 9 {
            return Err(BcdError::InvalidDigit { byte });
        }
        Ok(acc * 100 + u64::from(high) * 10 + u64::from(low))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(value: u64, width: usize) -> Result<Vec<u8>, BcdError> {
        let mut out = Vec::new();
        encode_bcd(value, width, &mut out).map(|()| out)
    }

    #[test]
    fn msb_first_zero_padded() {
        assert_eq!(enc(8123, PRICE_BYTES), Ok(vec![0x00, 0x81, 0x23]));
        assert_eq!(
            enc(1_336_384_966, TOTAL_BYTES),
            Ok(vec![0x13, 0x36, 0x38, 0x49, 0x66])
        );
        assert_eq!(decode_bcd(&[0x99, 0x99, 0x99, 0x99]), Ok(99_999_999));
        assert_eq!(decode_bcd(&[]), Ok(0));
    }

    #[test]
    fn refuses_values_wider_than_the_field() {
        assert_eq!(enc(999_999, PRICE_BYTES), Ok(vec![0x99, 0x99, 0x99]));
        assert_eq!(
            enc(1_000_000, PRICE_BYTES),
            Err(BcdError::TooLarge {
                value: 1_000_000,
                digits: 6
            })
        );
        assert_eq!(enc(0, 10), Err(BcdError::TooWide { width: 10 }));
        assert_eq!(
            enc(u64::MAX, MAX_BCD_BYTES),
            Err(BcdError::TooLarge {
                value: u64::MAX,
                digits: 18
            })
        );
    }

    #[test]
    fn rejects_hex_nibbles() {
        assert_eq!(
            decode_bcd(&[0x00, 0x1A]),
            Err(BcdError::InvalidDigit { byte: 0x1A })
        );
        assert_eq!(
            decode_bcd(&[0xF0]),
            Err(BcdError::InvalidDigit { byte: 0xF0 })
        );
        assert_eq!(decode_bcd(&[0; 10]), Err(BcdError::TooWide { width: 10 }));
    }
}
