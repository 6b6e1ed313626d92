//! Gilbarco two-wire (current loop), the controller interface of Gilbarco dispensers and
//! the many that copy it, as described in `docs/protocols/gilbarco.md`; section numbers (§)
//! below are that document's.
//!
//! The codec is sans-IO and keeps no state: [`words`] the digit words and check
//! characters, [`command`] the one-byte commands and status replies, [`stream`] the
//! push-byte split of a stream into blocks and single bytes, [`pump_blocks`] and
//! [`controller_blocks`] the data blocks of each direction. [`master`] is the controller
//! side of a loop and [`sim`] the pump side, both behind the neutral traits of
//! [`crate::model`]; the daemon never sees a type of this module.
//!
//! # Wire format (§1–§5)
//!
//! ```text
//! line     5787 baud, 8 data bits, even parity, 1 stop; half duplex; pumps 1..16
//! command  (CODE << 4) | pump nibble (pump 16 = nibble 0), one byte:
//!          0 status → one status byte     1 authorize → nothing    2 data next → Dp
//!          3 stop → nothing               4 transaction → block    5 totals → block
//!          6 real-time money → 6 (8) bare money words              FC all stop
//! status   (STATE << 4) | pump nibble: 0 data error, 6 idle, 7 call, 8 authorized,
//!          9 busy, A/B end of sale, C stopped, D ready for data
//! words    digits as E0|d, least significant first; tags F0..FF
//! block    pump:       FF <tags and words…> FB <LRC> F0
//!          controller: FF <DL> <body…> FB <LRC> F0
//!          LRC = E0 | (−Σ low nibbles from FF through FB) mod 16
//!          DL  = E0 | (−(n + 2)) mod 16, n = bytes from the body through FB
//! ```
//!
//! Examples: `01` → `61` (pump 1 idle); `00` → `60` (pump 16); `21` → `D1` then
//! `FF E5 F4 F6 E0 F7 E0 E4 E4 E1 FB E7 F0` (grade 1, level 1, price 1440).
//!
//! # Choices where docs/protocols/gilbarco.md is UNCERTAIN
//!
//! Each is a setting of [`GilbarcoMasterSettings`] or [`SimSettings`] with the default
//! named here:
//!
//! - Echo (§1): [`GilbarcoMasterSettings::echo`], default off; an echoed command byte is
//!   skipped whatever the setting (see [`master`]), so the setting only decides the one
//!   ambiguous case, a `0p` answer to a `0p` poll.
//! - Extra status nibbles E, 1, 3, F of one variant (§3):
//!   [`GilbarcoMasterSettings::tolerant_status`], default off, because 1 and 3 are also
//!   the echoes of authorize and stop and E/F the first nibble of words and tags.
//! - A status reply of 0 (§3, §5 step 3; "disagree" 6): after a data block it means the
//!   block was refused and it is resent ([`GilbarcoMasterSettings::retries`]); to a plain
//!   poll it is a sign of life that changes no status.
//! - 5- or 6-digit money presets (§5; "disagree" 3):
//!   [`GilbarcoMasterSettings::money_preset_digits`], default 5 as both working
//!   implementations; volume presets 5 digits; both 8 in 8-digit mode.
//! - Preset form (§5): [`GilbarcoMasterSettings::preset_with_level`], default on (IG's
//!   form `F2 F4 [F6 g] F8 …`); off gives AS's `F2 F8 …`, which cannot name a grade.
//! - Transaction word 1 and the pump identifier (§4.1): any DCW and any words are accepted
//!   and kept; the simulator sends `F1` and `EB <units> <tens> E0 E2`.
//! - Decimals of totals ("disagree" 4): [`GilbarcoMasterSettings::totals_decimals`],
//!   default the pump's own decimals.
//! - PEOT or FEOT at the end of a sale and when the pump leaves it (§3; "disagree" 7):
//!   the master treats both alike and reads the sale whenever it finds one it has not
//!   read; the simulator's [`SimSettings::end_state`] and [`SimSettings::end_clears`].
//! - STOP outside a dispatch ("disagree" 2): [`SimSettings::stop_in_any_state`], default
//!   off (§3); the master sends stop whatever the state.
//! - Continuing after a stop (§3): [`SimSettings::resume_after_stop`], default on. The
//!   master offers no suspend or resume: the neutral `Suspend`/`Resume` are refused by
//!   [`check_command`].
//! - ALL STOP `FC` (§2): decoded and simulated (every pump in 8 or 9 stops); the master
//!   never sends it (the neutral model has no line-wide stop).
//! - Special function "get nozzle" (§5): encoded and decoded; the simulator takes the
//!   block and answers nothing; the master never sends it, so nozzles are unknown until
//!   the transaction is read (events carry nozzle 0 before that).
//! - Reply lengths of one source ("disagree" 5) are not used: lengths come from §4.

pub mod command;
pub mod controller_blocks;
pub mod master;
pub mod pump_blocks;
pub mod sim;
pub mod stream;
pub mod words;

mod check;

pub use check::{check_command, check_command_with, MAX_GRADES};
pub use command::{state_to_model, Command, CommandCode, PumpId, PumpState, StatusReply};
pub use controller_blocks::{
    decode_controller, encode_controller, ControllerBlock, PresetBlock, PresetKind,
};
pub use master::{GilbarcoMaster, GilbarcoMasterError, GilbarcoMasterSettings, LineStats};
pub use pump_blocks::{
    decode_money, decode_totals, decode_transaction, encode_money, encode_totals,
    encode_transaction, GradeTotals, TransactionData,
};
pub use sim::{
    EndClears, GilbarcoPumpView, GilbarcoSimulator, SimPumpSetup, SimSettings, SimSetupError,
};
pub use stream::{decode_all, DiscardReason, Item, StreamDecoder};

use crate::dart::{Parity, SerialSettings};

/// 5787 baud, 8 data bits, even parity, 1 stop bit (§1): an 11-bit character, about
/// 1.9 ms each. The rate needs a UART with a custom divisor; 9600 cannot work.
pub const SERIAL_DEFAULTS: SerialSettings = SerialSettings {
    baud_rate: 5787,
    data_bits: 8,
    parity: Parity::Even,
    stop_bits: 1,
};

/// Field widths of a loop (§4.1, §4.2, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DigitMode {
    /// Prices 4 digits, sale volume and money 6, totals 8 (default).
    #[default]
    Six,
    /// "Extended": prices 6 digits, sale volume and money 8, totals 12.
    Eight,
}

impl DigitMode {
    /// Digit words of a unit price.
    pub fn price_digits(self) -> usize {
        match self {
            DigitMode::Six => 4,
            DigitMode::Eight => 6,
        }
    }

    /// Digit words of a sale's volume or money (and of real-time money).
    pub fn sale_digits(self) -> usize {
        match self {
            DigitMode::Six => 6,
            DigitMode::Eight => 8,
        }
    }

    /// Digit words of a volume or money total.
    pub fn total_digits(self) -> usize {
        match self {
            DigitMode::Six => 8,
            DigitMode::Eight => 12,
        }
    }

    /// Digit words of a volume preset (§5: 5, or 8).
    pub fn volume_preset_digits(self) -> usize {
        match self {
            DigitMode::Six => 5,
            DigitMode::Eight => 8,
        }
    }
}

/// A price level (§4: `F4` level 1 "cash", `F5` level 2 "credit").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PriceLevel {
    /// Level 1, cash (default).
    #[default]
    One,
    /// Level 2, credit.
    Two,
}

impl PriceLevel {
    /// Its tag.
    pub fn word(self) -> u8 {
        match self {
            PriceLevel::One => words::LEVEL_1,
            PriceLevel::Two => words::LEVEL_2,
        }
    }

    /// The level a tag names.
    pub fn from_word(byte: u8) -> Option<Self> {
        match byte {
            words::LEVEL_1 => Some(PriceLevel::One),
            words::LEVEL_2 => Some(PriceLevel::Two),
            _ => None,
        }
    }
}

/// Why a data block cannot be encoded or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Not `FF … FB <word> F0`.
    #[error("not a data block (STX, FB, LRC word and ETX expected)")]
    Framing,
    /// The LRC does not check.
    #[error("LRC {found:02X}, expected {expected:02X}")]
    BadLrc {
        /// What the block carries.
        found: u8,
        /// What its bytes give.
        expected: u8,
    },
    /// The DL word of a controller block does not match its length.
    #[error("DL {found:02X}, expected {expected:02X}")]
    BadDl {
        /// What the block carries.
        found: u8,
        /// What its length gives.
        expected: u8,
    },
    /// The block has the wrong length for what it should be.
    #[error("unexpected block length {found}")]
    Length {
        /// The length found.
        found: usize,
    },
    /// A tag other than the layout's.
    #[error("unexpected byte {found:02X} at body offset {offset}")]
    Unexpected {
        /// Offset in the body.
        offset: usize,
        /// The byte.
        found: u8,
    },
    /// A word that is not a decimal digit.
    #[error("a non-decimal word at body offset {offset}")]
    BadDigit {
        /// Offset in the body.
        offset: usize,
    },
    /// The block ends inside a field.
    #[error("block ends inside a field")]
    Truncated,
    /// A value does not fit its field.
    #[error("{field} {value} does not fit its field")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
}
