//! Wayne DART, the pump interface of Wayne (Dresser Wayne) dispensers, as described in
//! `docs/protocols/dart.md`; section numbers (§) below are that document's.
//!
//! This module owns the byte-exact codec, sans-IO: [`frame`] is line level 2 (frames,
//! CRC, DLE transparency, resynchronisation), [`app`] is application level 3 (the
//! transactions inside a data block), [`bcd`] the packed BCD numbers. It never opens a
//! port, reads a clock, retries or keeps per-pump state; the DART master and the pump
//! simulator do that on top of this API.
//!
//! [`sim`] is the pump side built on this codec: a line of simulated pumps for tests, the
//! demo and `forecourtd simulate`.
//!
//! # Wire format (§3)
//!
//! ```text
//! control frame:  ADR CTRL SF                            e.g. 50 20 FA  (POLL 0x50)
//! data frame:     ADR 3t DATA… CRC-1 CRC-2 ETX SF        e.g. 50 30 01 01 05 5F 5F 03 FA
//!                                                              (CD1 RESET, TX# 0)
//! ADR   0x50..=0x6F, one per fuelling point            SF  0xFA   ETX 0x03   DLE 0x10
//! CTRL  high nibble = type, low nibble = TX# (0..15):
//!       POLL 0x20, DATA 0x3t, IAP 0x40, NAK 0x5t, EOT 0x7t, ACK 0xCt, ACKPOLL 0xEt
//! CRC   CRC-16/ARC over ADR..DATA unstuffed, low byte first (crate::crc)
//! DLE   every 0xFA in DATA or CRC is sent as 10 FA; nothing else is escaped
//! DATA  transactions TRANS LNG DATA(LNG), several per block (§5.1)
//! ```
//!
//! # Exchanges (§4)
//!
//! The master polls each address in turn; pumps only answer.
//!
//! ```text
//! idle pump:        M: ADR 20 FA                      P: ADR 70 FA           (EOT)
//! pump has data:    M: ADR 20 FA                      P: ADR 3t … 03 FA
//!                   M: ADR Ct FA                                              (ACK t)
//! bad pump block:   M: ADR 5t FA (NAK t)  → the pump resends block t on the next POLL
//! master command:   M: ADR 3u … 03 FA                 P: ADR Cu FA (ACK) or ADR 5u FA (NAK)
//! ```
//!
//! Replies to a command (DC1, DC2, DC3, DC101…) come on later polls; an ACK only says the
//! block arrived, DC1 says it was applied. Direction is never in the bytes: the same TRANS
//! number means CD in a master block and DC in a pump block (§5.1), so use
//! [`app::decode_master`] or [`app::decode_pump`] by who sent it.
//!
//! # Choices where docs/protocols/dart.md is UNCERTAIN
//!
//! - Frame size (§3): "256 bytes including control characters" is enforced on the
//!   unstuffed frame, ADR to SF ([`frame::MAX_FRAME_LEN`], payload at most
//!   [`frame::MAX_PAYLOAD_LEN`] = 250); a decoder drops a block that reaches 256 unstuffed
//!   bytes without SF, so it never holds more than [`frame::MAX_BUFFERED`] bytes.
//! - CTRL (§3.1): POLL and IAP are recognised only with low nibble 0; EOT with any TX#
//!   (real pumps send 0x70). IAP and ACKPOLL, never observed, are decoded so they are not
//!   taken for noise; a master need not send either.
//! - Turnaround bytes (§1): anything before an address byte followed by a valid CTRL
//!   (and, for control frames, SF) is reported as [`frame::DiscardReason::Garbage`].
//! - TX# wrap after 0xF (§3.4) and the TX# to resend with after a NAK are the master's and
//!   simulator's settings; [`TxWrap`] and [`OnNak`] name them, with the documented
//!   defaults. Receivers accept any TX#.
//! - DC101 (§5.4) is accepted with LNG 16 (standard) or 6 (seen in the field).
//! - CD8 (§5.2) is decoded as its own variant, [`app::MasterTransaction::RequestTotalsCd8`],
//!   which a pump treats as CD101.
//! - Alarm codes (§5.7) are read as hexadecimal throughout ([`app::alarm_description`]).
//! - CD9 and DC7 (pump parameters) are not modelled; they decode as `Unknown` with their
//!   raw data.
//! - DC1 → neutral status: see [`app::dart_status_to_model`].

pub mod app;
pub mod bcd;
pub mod frame;
pub mod master;
pub mod sim;

pub use app::{
    alarm_description, dart_status_to_model, decode_master, decode_pump, encode_master,
    encode_pump, AppDecodeError, AppEncodeError, DartStatus, Dcc, MasterTransaction, Nozio,
    PumpIdentity, PumpTransaction,
};
pub use bcd::BcdError;
pub use frame::{
    decode_all, BlockId, ControlKind, Decoded, DiscardReason, Frame, FrameDecoder,
    FrameEncodeError, HexBytes,
};
pub use master::{check_command, DartMaster, DartMasterError, DartMasterSettings, LineStats};
pub use sim::{
    DartPumpView, DartSimulator, DuplicateRule, SimPumpSetup, SimSettings, SimSetupError,
};

/// Parity of a serial character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    /// No parity bit.
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// Character format and speed of a DART line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SerialSettings {
    /// Bits per second.
    pub baud_rate: u32,
    /// Data bits per character.
    pub data_bits: u8,
    /// Parity bit.
    pub parity: Parity,
    /// Stop bits.
    pub stop_bits: u8,
}

/// 9600 baud, 8 data bits, odd parity, 1 stop bit (§1). Odd parity is load-bearing: 8N1
/// gives garbled frames on real heads. Some sites run 19200 with the same format.
pub const SERIAL_DEFAULTS: SerialSettings = SerialSettings {
    baud_rate: 9600,
    data_bits: 8,
    parity: Parity::Odd,
    stop_bits: 1,
};

/// What follows TX# 0xF for a sender (§3.4, UNCERTAIN): the line spec says 1, some
/// merged-bus captures show 0. Only a sender needs this; receivers accept either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TxWrap {
    /// 0xF → 0x1, as the line spec and Wayne 3490D traffic show (default).
    #[default]
    FTo1,
    /// 0xF → 0x0.
    FTo0,
}

impl TxWrap {
    /// The TX# after `tx` (which is taken modulo 16).
    pub fn next(self, tx: u8) -> u8 {
        match (tx & 0x0F, self) {
            (0x0F, TxWrap::FTo1) => 1,
            (0x0F, TxWrap::FTo0) => 0,
            (tx, _) => tx + 1,
        }
    }
}

/// What a sender does with its TX# when its block is NAKed (§3.4, UNCERTAIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnNak {
    /// Resend the same payload with TX# 0, as working masters do (default).
    #[default]
    ResetTo0,
    /// Resend with the same TX#.
    SameTx,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_wraps_per_setting() {
        assert_eq!(TxWrap::FTo1.next(0), 1);
        assert_eq!(TxWrap::FTo1.next(0x0E), 0x0F);
        assert_eq!(TxWrap::FTo1.next(0x0F), 1);
        assert_eq!(TxWrap::FTo0.next(0x0F), 0);
        assert_eq!(TxWrap::default(), TxWrap::FTo1);
        assert_eq!(OnNak::default(), OnNak::ResetTo0);
    }
}
