//! The one-byte commands and status replies of the Gilbarco two-wire loop
//! (docs/protocols/gilbarco.md §2, §3), and the pump numbering 1..=16 (nibble 0 is pump 16).
//!
//! Owns the byte layout `(CODE << 4) | pump nibble` in both directions and the mapping of
//! the status nibbles onto the neutral [`PumpStatus`]. It keeps no state.

use crate::model::PumpStatus;
use crate::units::BusAddress;

/// A pump on the loop, 1..=16 as the station numbers it; its nibble on the wire is the
/// number modulo 16, so pump 16 is nibble 0 (§1, §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PumpId(u8);

impl PumpId {
    /// Pump `n`, 1..=16.
    pub fn new(n: u8) -> Option<Self> {
        (1..=16).contains(&n).then_some(Self(n))
    }

    /// The pump a wire nibble names (0 → 16).
    pub fn from_nibble(nibble: u8) -> Self {
        match nibble & 0x0F {
            0 => Self(16),
            n => Self(n),
        }
    }

    /// The pump a neutral [`BusAddress`] names: Gilbarco addresses are 1..=16.
    pub fn from_address(address: BusAddress) -> Option<Self> {
        Self::new(address.0)
    }

    /// The number, 1..=16.
    pub fn number(self) -> u8 {
        self.0
    }

    /// The nibble on the wire.
    pub fn nibble(self) -> u8 {
        self.0 & 0x0F
    }

    /// As a neutral bus address (the pump number).
    pub fn address(self) -> BusAddress {
        BusAddress(self.0)
    }
}

/// What the controller asks, the high nibble of a command byte (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandCode {
    /// 0: return one status byte (the poll).
    Status,
    /// 1: authorize; no reply.
    Authorize,
    /// 2: data next; the pump answers `Dp` and takes one data block.
    DataNext,
    /// 3: stop; no reply.
    Stop,
    /// 4: transaction data request; a data block answers.
    Transaction,
    /// 5: pump totals request; a data block answers.
    Totals,
    /// 6: real-time money request; bare money words answer.
    RealTimeMoney,
}

impl CommandCode {
    fn nibble(self) -> u8 {
        match self {
            CommandCode::Status => 0x0,
            CommandCode::Authorize => 0x1,
            CommandCode::DataNext => 0x2,
            CommandCode::Stop => 0x3,
            CommandCode::Transaction => 0x4,
            CommandCode::Totals => 0x5,
            CommandCode::RealTimeMoney => 0x6,
        }
    }

    fn from_nibble(n: u8) -> Option<Self> {
        Some(match n {
            0x0 => CommandCode::Status,
            0x1 => CommandCode::Authorize,
            0x2 => CommandCode::DataNext,
            0x3 => CommandCode::Stop,
            0x4 => CommandCode::Transaction,
            0x5 => CommandCode::Totals,
            0x6 => CommandCode::RealTimeMoney,
            _ => return None,
        })
    }

    /// True when the pump sends nothing back (§2: authorize and stop).
    pub fn has_no_reply(self) -> bool {
        matches!(self, CommandCode::Authorize | CommandCode::Stop)
    }
}

/// ALL STOP, the broadcast `0xFC` (§2, SK only; UNCERTAIN). Outside a data block only:
/// inside one, `FC` would be a DCW.
pub const ALL_STOP: u8 = 0xFC;

/// One command byte from the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// A command to one pump.
    To {
        /// What is asked.
        code: CommandCode,
        /// Of which pump.
        pump: PumpId,
    },
    /// ALL STOP to every pump (`0xFC`).
    AllStop,
}

impl Command {
    /// `code` for `pump`.
    pub fn to(code: CommandCode, pump: PumpId) -> Self {
        Command::To { code, pump }
    }

    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Command::To { code, pump } => (code.nibble() << 4) | pump.nibble(),
            Command::AllStop => ALL_STOP,
        }
    }

    /// The command a byte carries, if any (codes 7..=E and F other than `FC` are unknown).
    pub fn from_byte(byte: u8) -> Option<Self> {
        if byte == ALL_STOP {
            return Some(Command::AllStop);
        }
        let code = CommandCode::from_nibble(byte >> 4)?;
        Some(Command::to(code, PumpId::from_nibble(byte)))
    }
}

/// A pump's status nibble (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PumpState {
    /// 0: data error (a rejected data block, §5 step 3).
    DataError,
    /// 6: off / idle, nozzle hung, no sale.
    Idle,
    /// 7: call, nozzle lifted, asking for authorization.
    Call,
    /// 8: authorized, not delivering yet.
    Authorized,
    /// 9: busy, delivering.
    Busy,
    /// A: pump end of transaction; transaction data available.
    Peot,
    /// B: final end of transaction; transaction data available.
    Feot,
    /// C: stopped by the controller.
    Stopped,
    /// D: ready to receive a data block (the answer to data next).
    SendData,
}

impl PumpState {
    /// The nibble on the wire.
    pub fn nibble(self) -> u8 {
        match self {
            PumpState::DataError => 0x0,
            PumpState::Idle => 0x6,
            PumpState::Call => 0x7,
            PumpState::Authorized => 0x8,
            PumpState::Busy => 0x9,
            PumpState::Peot => 0xA,
            PumpState::Feot => 0xB,
            PumpState::Stopped => 0xC,
            PumpState::SendData => 0xD,
        }
    }

    /// The state a nibble names in the common dialect of §3; `None` for the others.
    pub fn from_nibble(nibble: u8) -> Option<Self> {
        Some(match nibble {
            0x0 => PumpState::DataError,
            0x6 => PumpState::Idle,
            0x7 => PumpState::Call,
            0x8 => PumpState::Authorized,
            0x9 => PumpState::Busy,
            0xA => PumpState::Peot,
            0xB => PumpState::Feot,
            0xC => PumpState::Stopped,
            0xD => PumpState::SendData,
            _ => return None,
        })
    }

    /// The state a nibble names with the IG variant's extra codes as well (§3, UNCERTAIN):
    /// E idle, 1 busy, 3 end of sale, F stopped.
    pub fn from_nibble_tolerant(nibble: u8) -> Option<Self> {
        Self::from_nibble(nibble).or(match nibble {
            0xE => Some(PumpState::Idle),
            0x1 => Some(PumpState::Busy),
            0x3 => Some(PumpState::Peot),
            0xF => Some(PumpState::Stopped),
            _ => None,
        })
    }

    /// True for PEOT and FEOT: a sale ended and its data can be read (§3: every source
    /// treats both alike).
    pub fn is_end_of_sale(self) -> bool {
        matches!(self, PumpState::Peot | PumpState::Feot)
    }
}

/// The neutral status of a Gilbarco state; `None` for the states that say nothing of the
/// dispatch (data error, ready for data).
pub fn state_to_model(state: PumpState) -> Option<PumpStatus> {
    Some(match state {
        PumpState::Idle => PumpStatus::Idle,
        PumpState::Call => PumpStatus::Calling,
        PumpState::Authorized => PumpStatus::Authorized,
        PumpState::Busy => PumpStatus::Filling,
        PumpState::Peot | PumpState::Feot => PumpStatus::Completed,
        PumpState::Stopped => PumpStatus::Stopped,
        PumpState::DataError | PumpState::SendData => return None,
    })
}

/// One status byte from a pump: `(STATE << 4) | pump nibble` (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusReply {
    /// The state.
    pub state: PumpState,
    /// The pump that answers (its nibble is checked against the one polled).
    pub pump: PumpId,
}

impl StatusReply {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        (self.state.nibble() << 4) | self.pump.nibble()
    }

    /// The reply a byte carries; `tolerant` applies the IG variant's extra codes.
    pub fn from_byte(byte: u8, tolerant: bool) -> Option<Self> {
        let nibble = byte >> 4;
        let state = if tolerant {
            PumpState::from_nibble_tolerant(nibble)
        } else {
            PumpState::from_nibble(nibble)
        }?;
        Some(Self {
            state,
            pump: PumpId::from_nibble(byte),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pump_16_is_nibble_0() {
        let p16 = PumpId::new(16).map(|p| p.nibble());
        assert_eq!(p16, Some(0));
        assert_eq!(PumpId::from_nibble(0).number(), 16);
        assert_eq!(PumpId::new(0), None);
        assert_eq!(PumpId::new(17), None);
    }

    #[test]
    fn every_command_byte_round_trips() {
        for byte in 0..=u8::MAX {
            if let Some(command) = Command::from_byte(byte) {
                assert_eq!(command.byte(), byte);
            }
        }
        assert_eq!(Command::from_byte(0x71), None);
        assert_eq!(Command::from_byte(0xF1), None);
    }

    #[test]
    fn tolerant_nibbles_only_when_asked() {
        assert_eq!(StatusReply::from_byte(0xE1, false), None);
        let tolerant = StatusReply::from_byte(0xE1, true).map(|r| r.state);
        assert_eq!(tolerant, Some(PumpState::Idle));
    }
}
