//! Identifiers and exact fixed-point quantities shared by every protocol.
//!
//! Pumps report volumes, amounts and prices as unsigned integers whose decimal point is a
//! *pump configuration* (DART: DPVOL/DPAMO/DPUNP, docs/protocols/dart.md §5.8). This module
//! turns those raw integers into exact decimals and back, never through `f64`, and refuses
//! a value that does not fit the pump's digits instead of rounding it silently.

use std::fmt;

use rust_decimal::Decimal;

/// Address of a pump (fuelling point) on its bus, as put on the wire.
///
/// The meaning of the number is the protocol's: DART uses 0x50..=0x6F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusAddress(pub u8);

impl fmt::Display for BusAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)
    }
}

/// A fuelling position as the station numbers it (the number painted on the island).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PositionId(pub u16);

impl fmt::Display for PositionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A logical nozzle of a pump, 1..=15 (docs/protocols/dart.md §5.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NozzleId(pub u8);

impl fmt::Display for NozzleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A grade (product) as configured at the station; the pump itself only knows nozzles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GradeId(pub u16);

impl fmt::Display for GradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a quantity could not be put into a pump's integer field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The value is negative; pumps only carry unsigned quantities.
    #[error("{0} is negative")]
    Negative(Decimal),
    /// The value has more decimals than the pump is configured for.
    #[error("{value} has more than {decimals} decimals")]
    TooPrecise {
        /// The offending value.
        value: Decimal,
        /// The decimals the pump field carries.
        decimals: u8,
    },
    /// The value does not fit the field's digits.
    #[error("{value} does not fit in {digits} digits with {decimals} decimals")]
    TooLarge {
        /// The offending value.
        value: Decimal,
        /// Total digits of the field.
        digits: u8,
        /// Decimals of the field.
        decimals: u8,
    },
    /// More decimals were configured than an exact decimal can hold.
    #[error("{0} decimals is more than supported (max 18)")]
    BadScale(u8),
}

/// The largest scale accepted for a pump field. DART allows 0..=8 (§5.8).
pub const MAX_DECIMALS: u8 = 18;

fn from_raw(raw: u64, decimals: u8) -> Decimal {
    let scale = u32::from(decimals.min(MAX_DECIMALS));
    Decimal::from_i128_with_scale(i128::from(raw), scale)
}

fn to_raw(value: Decimal, decimals: u8, digits: u8) -> Result<u64, QuantityError> {
    if decimals > MAX_DECIMALS {
        return Err(QuantityError::BadScale(decimals));
    }
    if value.is_sign_negative() && !value.is_zero() {
        return Err(QuantityError::Negative(value));
    }
    let mut scaled = value;
    scaled.rescale(u32::from(decimals));
    if scaled != value {
        return Err(QuantityError::TooPrecise { value, decimals });
    }
    let too_large = QuantityError::TooLarge {
        value,
        digits,
        decimals,
    };
    let mantissa = u64::try_from(scaled.mantissa()).map_err(|_| too_large.clone())?;
    let limit = 10u64.checked_pow(u32::from(digits)).unwrap_or(u64::MAX);
    if mantissa >= limit {
        return Err(too_large);
    }
    Ok(mantissa)
}

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(Decimal);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(Decimal::ZERO);

            /// Wraps an exact decimal.
            pub fn new(value: Decimal) -> Self {
                Self(value)
            }

            /// The value of a pump's raw integer field with `decimals` implied decimals.
            pub fn from_raw(raw: u64, decimals: u8) -> Self {
                Self(from_raw(raw, decimals))
            }

            /// The raw integer for a field of `digits` digits with `decimals` decimals.
            ///
            /// Fails rather than round: a preset or price must reach the pump exactly.
            pub fn to_raw(self, decimals: u8, digits: u8) -> Result<u64, QuantityError> {
                to_raw(self.0, decimals, digits)
            }

            /// The exact decimal value.
            pub fn value(self) -> Decimal {
                self.0
            }

            /// True for zero.
            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }
        }

        impl From<Decimal> for $name {
            fn from(value: Decimal) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

quantity!(
    /// A volume of fuel, in the station's unit (litres unless configured otherwise).
    Volume
);
quantity!(
    /// An amount of money in the station's currency.
    Money
);
quantity!(
    /// A price per unit of volume.
    UnitPrice
);

impl UnitPrice {
    /// The amount a pump charges for `volume` at this price, rounded half-up to
    /// `amount_decimals` as pumps do (docs/protocols/dart.md §5.8: 0.428 L × 8123 = 3476.6 → 3477).
    pub fn amount_for(self, volume: Volume, amount_decimals: u8) -> Money {
        let exact = self.0 * volume.0;
        Money(exact.round_dp_with_strategy(
            u32::from(amount_decimals),
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        ))
    }
}

/// Where the decimal point sits in a pump's volume, amount and price fields.
///
/// Pumps differ (docs/protocols/dart.md §5.8 lists 3-decimal prices in Saudi Arabia, 0-decimal
/// amounts in Colombia and Uzbekistan), so this is configured per pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimals {
    /// Decimals of volume fields (DPVOL, 0..=8).
    pub volume: u8,
    /// Decimals of amount fields (DPAMO, 0..=8).
    pub amount: u8,
    /// Decimals of unit price fields (DPUNP, 0..=4).
    pub price: u8,
}

impl Default for Decimals {
    /// Two decimals everywhere, the most common head configuration.
    fn default() -> Self {
        Self {
            volume: 2,
            amount: 2,
            price: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip_keeps_exact_value() {
        let v = Volume::from_raw(281_249, 2);
        assert_eq!(v.to_string(), "2812.49");
        assert_eq!(v.to_raw(2, 8), Ok(281_249));
        assert_eq!(v.to_raw(3, 8), Ok(2_812_490));
    }

    #[test]
    fn refuses_to_round_or_overflow() {
        let v = Volume::new(Decimal::new(12345, 3));
        assert!(matches!(
            v.to_raw(2, 8),
            Err(QuantityError::TooPrecise { .. })
        ));
        let big = Money::from_raw(100_000_000, 0);
        assert!(matches!(
            big.to_raw(0, 8),
            Err(QuantityError::TooLarge { .. })
        ));
        let neg = Money::new(Decimal::new(-1, 0));
        assert!(matches!(neg.to_raw(0, 8), Err(QuantityError::Negative(_))));
    }

    #[test]
    fn amount_rounds_like_a_pump() {
        let price = UnitPrice::from_raw(8123, 0);
        let volume = Volume::from_raw(428, 3);
        assert_eq!(price.amount_for(volume, 0), Money::from_raw(3477, 0));
    }
}
