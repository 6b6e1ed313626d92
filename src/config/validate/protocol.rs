//! What each pump protocol allows in a `[[lines]]` entry: bus addresses, nozzles, field
//! widths and the serial defaults (docs/protocols/dart.md §1, §2, §5.8, §5.9;
//! docs/protocols/gilbarco.md §1, §4, §5).
//!
//! The one place of the configuration that knows the protocols apart; it only answers
//! questions and never reports errors itself.

use std::ops::RangeInclusive;

use super::Report;
use crate::config::{DigitMode, Parity, Protocol};

/// Baud rates a serial adapter is expected to offer.
pub(super) const STANDARD_BAUDS: [i64; 10] = [
    300, 600, 1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200,
];

/// Gilbarco's own rate (gilbarco.md §1), which needs an adapter with a custom divisor.
const GILBARCO_BAUD: i64 = 5787;

/// The limits of one protocol.
pub(super) struct Limits {
    /// The configuration spelling.
    pub name: &'static str,
    /// Bus addresses of its pumps.
    pub addresses: RangeInclusive<i64>,
    /// Whether addresses read best in hex (DART's 0x50..).
    pub hex_addresses: bool,
    /// Highest logical nozzle.
    pub max_nozzle: i64,
    /// Digits of a unit price field.
    pub price_digits: u8,
    /// Most decimals of a volume or amount field.
    pub max_figure_decimals: i64,
    /// Most decimals of a unit price field.
    pub max_price_decimals: i64,
    /// Baud rate when none is configured.
    pub default_baud: i64,
    /// Parity when none is configured.
    pub default_parity: Parity,
    /// Wait for one answer when none is configured, in ms.
    pub default_response_ms: i64,
}

impl Limits {
    /// The limits of `protocol` (Gilbarco in `digits` mode); DART's when the protocol
    /// itself is wrong (it is reported on its own).
    pub(super) fn of(protocol: Option<Protocol>, digits: DigitMode) -> Self {
        match protocol {
            Some(Protocol::Dart) | None => Self {
                name: "dart",
                addresses: 0x50..=0x6F,
                hex_addresses: true,
                max_nozzle: 15,
                price_digits: 6,
                max_figure_decimals: 8,
                max_price_decimals: 4,
                default_baud: 9600,
                default_parity: Parity::Odd,
                default_response_ms: 50,
            },
            // Prices in 4 digit words and sales in 6, or 6 and 8 in 8-digit mode
            // (gilbarco.md §4.1, §5); grades 1..=10 (one digit word); pumps 1..=16.
            Some(Protocol::Gilbarco) => Self {
                name: "gilbarco",
                addresses: 1..=16,
                hex_addresses: false,
                max_nozzle: 10,
                price_digits: digits.price_digits() as u8,
                max_figure_decimals: digits.sale_digits() as i64,
                max_price_decimals: 4,
                default_baud: GILBARCO_BAUD,
                default_parity: Parity::Even,
                default_response_ms: 70,
            },
        }
    }

    /// Whether `baud` suits this protocol: a standard rate, or Gilbarco's own.
    pub(super) fn baud_ok(&self, baud: i64) -> bool {
        STANDARD_BAUDS.contains(&baud) || (self.name == "gilbarco" && baud == GILBARCO_BAUD)
    }

    /// The address range as an error message shows it.
    pub(super) fn address_range(&self) -> String {
        let (lo, hi) = (self.addresses.start(), self.addresses.end());
        if self.hex_addresses {
            format!("0x{lo:02X}..=0x{hi:02X}")
        } else {
            format!("{lo}..={hi}")
        }
    }
}

/// The protocol of a line, `dart` when not given.
pub(super) fn parse_protocol(r: &mut Report, raw: Option<&str>, path: &str) -> Option<Protocol> {
    match raw.unwrap_or("dart") {
        "dart" => Some(Protocol::Dart),
        "gilbarco" => Some(Protocol::Gilbarco),
        other => {
            r.error(
                path,
                format!("unknown protocol {other:?} (supported: dart, gilbarco)"),
            );
            None
        }
    }
}

/// Gilbarco's field widths, 6 when not given; DART lines take no `digits`.
pub(super) fn parse_digits(
    r: &mut Report,
    protocol: Option<Protocol>,
    raw: Option<i64>,
    path: &str,
) -> Option<DigitMode> {
    match (protocol, raw) {
        (_, None) => Some(DigitMode::Six),
        (Some(Protocol::Dart), Some(_)) => {
            r.error(path, "digits applies to gilbarco lines only");
            None
        }
        (_, Some(6)) => Some(DigitMode::Six),
        (_, Some(8)) => Some(DigitMode::Eight),
        (_, Some(other)) => {
            r.error(path, format!("{other} is not 6 or 8"));
            None
        }
    }
}
