//! The meter of a simulated DART pump: how much fuel has flowed, what it costs, and where
//! a filling must stop.
//!
//! Owns the integer arithmetic of volume over time and of amount = volume × price, in the
//! pump's raw units (docs/protocols/dart.md §5.8), so that a preset stop is exact whatever the
//! size of the time steps. It never looks at statuses, nozzles or the link, and never
//! reads a clock: elapsed time is handed in.
//!
//! # Units
//!
//! A raw volume is an integer of `10^-DPVOL` units, a raw amount one of `10^-DPAMO`, a raw
//! price one of `10^-DPUNP` per volume unit. The meter accumulates
//! `rate × elapsed nanoseconds`, with the rate in raw volume units per minute scaled by
//! [`RATE_SCALE`]; a raw volume is that accumulator divided by [`ACC_PER_UNIT`], rounded
//! down as a pulser counts whole pulses. Everything is `u128`: no float, no rounding drift,
//! and splitting a run into smaller steps gives the same figures.

use std::time::Duration;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::units::{Decimals, Volume};

/// Largest value of an 8-digit BCD volume or amount field (§5.8): the pump's own maximum.
pub(crate) const FIELD_MAX: u64 = 99_999_999;
/// Nanoseconds per minute: flow rates are given per minute.
const NANOS_PER_MINUTE: u128 = 60_000_000_000;
/// Sub-unit resolution of a flow rate: six more decimals than the volume field, plenty for
/// any rate a person would type.
const RATE_SCALE: u128 = 1_000_000;
/// Accumulator units per raw volume unit.
const ACC_PER_UNIT: u128 = NANOS_PER_MINUTE * RATE_SCALE;

/// A flow rate, in raw volume units × [`RATE_SCALE`] per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Rate(u128);

/// Why a flow rate cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// A flow rate cannot be negative.
    #[error("flow rate {0} is negative")]
    Negative(Volume),
    /// The flow rate is beyond anything a pump can do.
    #[error("flow rate {0} per minute is too large")]
    TooLarge(Volume),
}

/// The largest flow rate accepted, in volume units per minute: far above any dispenser
/// (truck pumps do a few hundred litres a minute) and small enough that a day of flow
/// cannot overflow the accumulator.
const MAX_RATE_PER_MINUTE: i64 = 100_000;

impl Rate {
    /// The rate for `per_minute` volume units a minute on a pump with `volume_decimals`.
    pub(crate) fn per_minute(per_minute: Volume, volume_decimals: u8) -> Result<Self, RateError> {
        let value = per_minute.value();
        if value.is_sign_negative() && !value.is_zero() {
            return Err(RateError::Negative(per_minute));
        }
        if value > Decimal::from(MAX_RATE_PER_MINUTE) {
            return Err(RateError::TooLarge(per_minute));
        }
        // At most 10^5 × 10^8 × 10^6 = 10^19, inside both Decimal and u128.
        let scale =
            Decimal::from(10u64.pow(u32::from(volume_decimals))) * Decimal::from(RATE_SCALE as u64);
        value
            .checked_mul(scale)
            .and_then(|scaled| scaled.round().to_u128())
            .map(Rate)
            .ok_or(RateError::TooLarge(per_minute))
    }

    /// True when nothing flows.
    pub(crate) fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// The volume counter of one filling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meter {
    acc: u128,
}

impl Meter {
    /// The raw volume dispensed, whole pulses only.
    pub(crate) fn volume(self) -> u64 {
        // `run` never goes past a limit of at most FIELD_MAX units.
        u64::try_from(self.acc / ACC_PER_UNIT).unwrap_or(u64::MAX)
    }

    /// Lets fuel flow at `rate` for `elapsed`, never past `limit` raw units. Returns how
    /// far into `elapsed` the limit was reached, if it was (zero if it already had been).
    pub(crate) fn run(&mut self, rate: Rate, elapsed: Duration, limit: u64) -> Option<Duration> {
        let limit_acc = u128::from(limit) * ACC_PER_UNIT;
        if self.acc >= limit_acc {
            return Some(Duration::ZERO);
        }
        let added = rate.0.saturating_mul(elapsed.as_nanos());
        if self.acc.saturating_add(added) < limit_acc {
            self.acc += added;
            return None;
        }
        let reached_after = Self::nanos_for(limit_acc - self.acc, rate);
        self.acc = limit_acc;
        Some(reached_after)
    }

    /// How long fuel must flow at `rate` until `limit` raw units are reached; `None` when
    /// nothing flows.
    pub(crate) fn time_to(self, rate: Rate, limit: u64) -> Option<Duration> {
        let limit_acc = u128::from(limit) * ACC_PER_UNIT;
        if self.acc >= limit_acc {
            return Some(Duration::ZERO);
        }
        (!rate.is_zero()).then(|| Self::nanos_for(limit_acc - self.acc, rate))
    }

    /// The whole nanoseconds needed to add `needed` at `rate` (rounded up, so the limit is
    /// reached at that instant and not a nanosecond before).
    fn nanos_for(needed: u128, rate: Rate) -> Duration {
        if rate.is_zero() {
            return Duration::MAX;
        }
        let nanos = needed.div_ceil(rate.0);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// `10^-scale` as the exponent difference between the product volume × price and the
/// amount field: positive means the product has more decimals than the amount.
fn excess_decimals(decimals: Decimals) -> i32 {
    i32::from(decimals.volume) + i32::from(decimals.price) - i32::from(decimals.amount)
}

fn pow10(exp: u32) -> u128 {
    10u128.pow(exp)
}

/// The raw amount a pump charges for a raw volume at a raw price: the exact product
/// rounded half-up to the amount decimals (§5.8, the same rule as
/// [`UnitPrice::amount_for`](crate::units::UnitPrice::amount_for)).
pub(crate) fn amount(volume: u64, price: u32, decimals: Decimals) -> u128 {
    let product = u128::from(volume) * u128::from(price);
    let excess = excess_decimals(decimals);
    if excess >= 0 {
        let unit = pow10(excess.unsigned_abs());
        (2 * product + unit) / (2 * unit)
    } else {
        product * pow10(excess.unsigned_abs())
    }
}

/// The smallest raw volume whose amount reaches `target` (so a pump stops there on an
/// amount preset); `None` when no volume does (price zero, target above zero).
pub(crate) fn volume_reaching(target: u64, price: u32, decimals: Decimals) -> Option<u64> {
    if target == 0 {
        return Some(0);
    }
    if price == 0 {
        return None;
    }
    let target = u128::from(target);
    let price = u128::from(price);
    let excess = excess_decimals(decimals);
    let volume = if excess >= 0 {
        // round_half_up(v·p / u) ≥ A  ⇔  2·v·p + u ≥ 2·u·A  ⇔  v·p ≥ ⌈(2·u·A − u) / 2⌉
        let unit = pow10(excess.unsigned_abs());
        let product = (2 * unit * target - unit).div_ceil(2);
        product.div_ceil(price)
    } else {
        target.div_ceil(price * pow10(excess.unsigned_abs()))
    };
    u64::try_from(volume).ok()
}

/// Where a filling stops: the raw volume, and the amount to report there when it is an
/// amount preset's own figure rather than volume × price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    /// Stop when the meter reaches this raw volume.
    pub(crate) volume: u64,
    /// The amount shown on stopping there, for an amount preset.
    pub(crate) amount: Option<u64>,
}

/// A preset as the pump holds it: raw figures (CD3 volume or CD4 amount, §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimPreset {
    /// Stop at this raw volume.
    Volume(u32),
    /// Stop at this raw amount.
    Amount(u32),
}

/// The stop point of a filling at `price` under `preset`.
///
/// Without a preset, or when the preset lies beyond it, the pump's own maximum applies: the
/// last volume whose volume and amount both fit the 8-digit fields. A volume preset stops
/// at that volume. An amount preset stops at the first volume whose amount reaches the
/// preset, and the pump then shows the preset itself as the amount: where one volume step
/// costs more than one amount unit, no volume costs exactly the preset, and a pump shows
/// the preset it stopped at.
pub(crate) fn limit(preset: Option<SimPreset>, price: u32, decimals: Decimals) -> Limit {
    let by_amount =
        volume_reaching(FIELD_MAX + 1, price, decimals).map_or(FIELD_MAX, |v| v.saturating_sub(1));
    let max = FIELD_MAX.min(by_amount);
    match preset {
        Some(SimPreset::Volume(volume)) => Limit {
            volume: max.min(u64::from(volume)),
            amount: None,
        },
        Some(SimPreset::Amount(target)) => {
            match volume_reaching(u64::from(target), price, decimals) {
                Some(volume) if volume <= max => Limit {
                    volume,
                    amount: Some(u64::from(target)),
                },
                _ => Limit {
                    volume: max,
                    amount: None,
                },
            }
        }
        None => Limit {
            volume: max,
            amount: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Money, UnitPrice};
    use proptest::prelude::*;

    fn dec(volume: u8, amount: u8, price: u8) -> Decimals {
        Decimals {
            volume,
            amount,
            price,
        }
    }

    #[test]
    fn forty_litres_a_minute_for_a_second() {
        let rate = Rate::per_minute(Volume::from_raw(40, 0), 2).expect("valid rate");
        let mut meter = Meter::default();
        assert_eq!(meter.run(rate, Duration::from_secs(1), FIELD_MAX), None);
        // 40/60 L = 0.666… L, a pulser counts 0.66.
        assert_eq!(meter.volume(), 66);
        assert_eq!(
            meter.time_to(rate, 67),
            Some(Duration::from_nanos(5_000_000))
        );
    }

    #[test]
    fn stops_exactly_at_the_limit() {
        let rate = Rate::per_minute(Volume::from_raw(40, 0), 2).expect("valid rate");
        let mut meter = Meter::default();
        // 1.00 L at 40 L/min takes exactly 1.5 s.
        assert_eq!(
            meter.run(rate, Duration::from_secs(10), 100),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(meter.volume(), 100);
        assert_eq!(
            meter.run(rate, Duration::from_secs(1), 100),
            Some(Duration::ZERO)
        );
        assert_eq!(meter.volume(), 100);
    }

    #[test]
    fn refuses_bad_rates() {
        assert!(matches!(
            Rate::per_minute(Volume::new(Decimal::new(-1, 0)), 2),
            Err(RateError::Negative(_))
        ));
        assert!(matches!(
            Rate::per_minute(Volume::from_raw(100_001, 0), 8),
            Err(RateError::TooLarge(_))
        ));
        assert_eq!(Rate::per_minute(Volume::ZERO, 2), Ok(Rate(0)));
    }

    #[test]
    fn amount_rounds_half_up_like_the_spec_example() {
        // §5.8: 0.428 L × 8123 = 3476.6 → 3477.
        assert_eq!(amount(428, 8123, dec(3, 0, 0)), 3477);
        // 1 L at 1.645 with 2 amount decimals: 1.645 → 1.65.
        assert_eq!(amount(100, 1645, dec(2, 2, 3)), 165);
        // More amount decimals than the product has.
        assert_eq!(amount(3, 7, dec(0, 3, 0)), 21_000);
    }

    #[test]
    fn amount_preset_stops_at_first_volume_reaching_it() {
        // 8123 COP/L, 3-decimal volume, 0-decimal amount: no volume costs exactly 5000.
        let d = dec(3, 0, 0);
        assert_eq!(amount(615, 8123, d), 4996);
        assert_eq!(amount(616, 8123, d), 5004);
        assert_eq!(volume_reaching(5000, 8123, d), Some(616));
        let stop = limit(Some(SimPreset::Amount(5000)), 8123, d);
        assert_eq!(
            stop,
            Limit {
                volume: 616,
                amount: Some(5000)
            }
        );
        assert_eq!(volume_reaching(7, 0, d), None);
        assert_eq!(volume_reaching(0, 0, d), Some(0));
    }

    #[test]
    fn maximum_keeps_both_fields_within_eight_digits() {
        let d = dec(2, 2, 2);
        let stop = limit(None, 150, d);
        assert!(amount(stop.volume, 150, d) <= u128::from(FIELD_MAX));
        assert!(amount(stop.volume + 1, 150, d) > u128::from(FIELD_MAX));
        assert_eq!(limit(None, 1, d).volume, FIELD_MAX);
        let beyond = limit(Some(SimPreset::Volume(99_999_999)), 150, d);
        assert_eq!(beyond.volume, stop.volume);
    }

    proptest! {
        /// The integer amount agrees with the decimal rule in `units`.
        #[test]
        fn amount_matches_units(
            volume in 0u64..=FIELD_MAX,
            price in 0u32..=999_999,
            dv in 0u8..=8, da in 0u8..=8, dp in 0u8..=4,
        ) {
            let d = dec(dv, da, dp);
            let exact = UnitPrice::from_raw(u64::from(price), dp)
                .amount_for(Volume::from_raw(volume, dv), da);
            let ours = amount(volume, price, d);
            let ours = Money::new(Decimal::from_i128_with_scale(
                i128::try_from(ours).expect("at most 10^22"),
                u32::from(da),
            ));
            prop_assert_eq!(ours, exact);
        }

        /// `volume_reaching` is the first volume whose amount reaches the target.
        #[test]
        fn volume_reaching_is_the_first(
            target in 1u64..=FIELD_MAX,
            price in 1u32..=999_999,
            dv in 0u8..=8, da in 0u8..=8, dp in 0u8..=4,
        ) {
            let d = dec(dv, da, dp);
            let v = volume_reaching(target, price, d).expect("price above zero");
            prop_assert!(amount(v, price, d) >= u128::from(target));
            if v > 0 {
                prop_assert!(amount(v - 1, price, d) < u128::from(target));
            }
        }

        /// However a run is cut into steps, the meter ends on the same figure.
        #[test]
        fn steps_do_not_change_the_volume(
            rate in 0u64..=20_000,
            steps in proptest::collection::vec(0u64..=3_000_000_000, 1..20),
        ) {
            let rate = Rate::per_minute(Volume::from_raw(rate, 2), 2).expect("valid rate");
            let mut stepped = Meter::default();
            for &nanos in &steps {
                stepped.run(rate, Duration::from_nanos(nanos), FIELD_MAX);
            }
            let mut whole = Meter::default();
            whole.run(rate, Duration::from_nanos(steps.iter().sum()), FIELD_MAX);
            prop_assert_eq!(stepped, whole);
        }
    }
}
