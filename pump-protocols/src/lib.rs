//! Sans-IO fuel pump protocol cores and pump simulators.
//!
//! Every protocol here is plain code: bytes and `now` go in; bytes, events and deadlines
//! come out. Nothing reads a clock, opens a port or spawns a task, so the whole protocol
//! logic is tested with ordinary `#[test]`s and a fake clock, and the daemon brings the
//! I/O (see docs/architecture.md, "Data flow").
//!
//! - [`capture`]: the text format of field captures and their offline replay.
//! - [`crc`]: CRC-16/ARC with its published check value.
//! - [`units`]: addresses, nozzles, grades and exact fixed-point quantities.
//! - [`model`]: the protocol-neutral pump model (status, commands, events) and the
//!   [`LineMaster`]/[`LineSimulator`] traits every protocol implements.
//! - [`dart`]: Wayne DART, master and pump simulator.
//! - [`gilbarco`]: Gilbarco two-wire current loop, master and pump simulator.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod capture;
pub mod crc;
pub mod dart;
pub mod gilbarco;
pub mod model;
pub mod tally;
mod turns;
pub mod units;

pub use model::{
    Authorization, CommandFailure, CompletedTransaction, CompletionReason, LineMaster,
    LineSimulator, Preset, PumpCommand, PumpEvent, PumpEventKind, PumpSetup, PumpStatus, SimAction,
    SimPumpView, SubmitError, Totals,
};
pub use tally::LineCounters;
pub use units::{
    BusAddress, Decimals, GradeId, Money, NozzleId, PositionId, QuantityError, UnitPrice, Volume,
};
