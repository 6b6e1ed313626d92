//! The protocol-neutral pump model: what a pump is doing, what can be asked of it, and
//! what it reports. Every protocol core translates its wire dialect into these types, so
//! the daemon never sees a DART (or any other protocol's) type.
//!
//! The line-level traits at the bottom are the sans-IO contract: bytes and `now` go in,
//! bytes, events and deadlines come out. Nothing here reads a clock or touches a port.

use std::time::Instant;

use crate::units::{BusAddress, Decimals, GradeId, Money, NozzleId, UnitPrice, Volume};

/// What a pump is doing, as far as the controller knows.
///
/// docs/architecture.md "Pump model". The protocol maps its own codes onto these; DART's mapping is
/// in [`crate::dart`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PumpStatus {
    /// The pump does not answer (or has not answered yet).
    Offline,
    /// The pump answers but has no valid prices yet and cannot dispense.
    NotProgrammed,
    /// Ready for a new dispatch, nozzle hung up.
    Idle,
    /// A nozzle is out but the pump is not authorized.
    Calling,
    /// Authorized, waiting for fuel to flow.
    Authorized,
    /// Fuel is flowing.
    Filling,
    /// A dispatch was paused by the controller (valve closed).
    Suspended,
    /// The last dispatch is finished; its figures are final until the pump is reset.
    Completed,
    /// Switched off or stopped by the controller; needs a reset.
    Stopped,
}

impl PumpStatus {
    /// True from the authorization to the end of the dispatch: authorized, filling or
    /// suspended (a nozzle merely lifted is not yet).
    pub fn is_authorized_dispatch(self) -> bool {
        matches!(
            self,
            PumpStatus::Authorized | PumpStatus::Filling | PumpStatus::Suspended
        )
    }

    /// True while a dispatch is authorized or running: its amount is not known yet.
    pub fn is_dispatch_in_progress(self) -> bool {
        matches!(
            self,
            PumpStatus::Calling
                | PumpStatus::Authorized
                | PumpStatus::Filling
                | PumpStatus::Suspended
        )
    }

    /// A short lowercase name, stable for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PumpStatus::Offline => "offline",
            PumpStatus::NotProgrammed => "not_programmed",
            PumpStatus::Idle => "idle",
            PumpStatus::Calling => "calling",
            PumpStatus::Authorized => "authorized",
            PumpStatus::Filling => "filling",
            PumpStatus::Suspended => "suspended",
            PumpStatus::Completed => "completed",
            PumpStatus::Stopped => "stopped",
        }
    }
}

/// A limit for one dispatch. Volume and amount presets are never combined: the last one
/// sent wins (docs/protocols/dart.md §5.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Stop when this amount of money has been dispensed.
    Amount(Money),
    /// Stop when this volume has been dispensed.
    Volume(Volume),
}

/// An authorization of the next dispatch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authorization {
    /// Optional limit; `None` lets the pump dispense up to its own maximum.
    pub preset: Option<Preset>,
    /// Nozzles allowed for this dispatch; empty means every configured nozzle.
    pub nozzles: Vec<NozzleId>,
}

/// Something the controller asks a pump to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PumpCommand {
    /// Ask for the current status (sent on connect and after a communication fault).
    ReturnStatus,
    /// Ask for the figures of the current or last filling.
    ReturnFillingInfo,
    /// Clear the last filling and make the pump ready for the next one.
    Reset,
    /// Authorize the next dispatch.
    Authorize(Authorization),
    /// Stop the running dispatch (motor off); it completes with what was dispensed.
    Stop,
    /// Pause the running dispatch, keeping it open.
    Suspend,
    /// Continue a paused dispatch.
    Resume,
    /// Switch the pump off until it is reset.
    SwitchOff,
    /// Program unit prices, one per logical nozzle.
    SetPrices(Vec<(NozzleId, UnitPrice)>),
    /// Read the electronic totals of one nozzle: answered by one
    /// [`PumpEventKind::Totals`] with both its volume and its amount total, or by a
    /// `CommandFailed`.
    ReadTotals(NozzleId),
}

/// Electronic totals of one nozzle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// The nozzle the totals belong to.
    pub nozzle: NozzleId,
    /// The grade configured on that nozzle, if any.
    pub grade: Option<GradeId>,
    /// Volume total, if reported.
    pub volume: Option<Volume>,
    /// Amount total, if reported.
    pub amount: Option<Money>,
    /// Number of fillings, if reported.
    pub fillings: Option<u64>,
}

/// Why a dispatch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionReason {
    /// Nozzle hung up or stopped by the controller.
    Normal,
    /// The preset (or the pump's maximum) was reached.
    PresetReached,
}

/// The final figures of one dispatch, as the pump computed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTransaction {
    /// The nozzle used (0 when the pump did not say).
    pub nozzle: NozzleId,
    /// The grade configured on that nozzle, if known.
    pub grade: Option<GradeId>,
    /// Volume dispensed.
    pub volume: Volume,
    /// Amount the pump computed (the pump's figure is the one charged).
    pub amount: Money,
    /// Unit price the pump used.
    pub unit_price: UnitPrice,
    /// Why it ended.
    pub reason: CompletionReason,
}

/// Why a command did not reach or was not applied by a pump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandFailure {
    /// No acknowledgement after every retry.
    NoAnswer,
    /// The pump kept rejecting the block.
    Rejected,
    /// The command cannot be expressed for this pump (e.g. a preset with too many digits).
    Invalid(String),
    /// The pump went offline with the command still queued.
    PumpOffline,
    /// The pump acknowledged the block but evidently did not apply it: the transactions
    /// that show the effect never came (DART: an AUTHORIZE ACKed as a retransmission of
    /// the last block the pump accepted, docs/protocols/dart.md §3.4, leaves the pump idle;
    /// DART reports it for AUTHORIZE, STOP, RESET, RETURN STATUS and READ TOTALS). For a
    /// daemon's command it always follows the [`PumpEventKind::CommandAccepted`] of that
    /// command; a protocol's own status request may fail so too (as `ReturnStatus`).
    NotApplied,
}

/// What a pump reported, translated into the neutral model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PumpEventKind {
    /// The pump's status changed.
    StatusChanged(PumpStatus),
    /// A nozzle was lifted.
    NozzleUp {
        /// The lifted nozzle.
        nozzle: NozzleId,
        /// Its configured grade, if known.
        grade: Option<GradeId>,
        /// The price the pump will use.
        unit_price: Option<UnitPrice>,
    },
    /// The nozzle was hung up.
    NozzleDown {
        /// The nozzle hung up (0 when the pump did not say).
        nozzle: NozzleId,
    },
    /// Running figures of the current dispatch.
    Filling {
        /// Volume so far; `None` when the protocol cannot tell it while fuel flows
        /// (Gilbarco's real-time reading is money only, and the grade in use, hence the
        /// price, is not known until the sale is read: docs/protocols/gilbarco.md §4.3).
        /// Never a made-up zero.
        volume: Option<Volume>,
        /// Amount so far.
        amount: Money,
    },
    /// A dispatch finished; these are its final figures.
    TransactionCompleted(CompletedTransaction),
    /// Electronic totals, in answer to [`PumpCommand::ReadTotals`]: one event per
    /// command, carrying both the volume and the amount total.
    Totals(Totals),
    /// The pump raised an alarm.
    Alarm {
        /// Protocol alarm code.
        code: u8,
        /// Human description of the code.
        description: &'static str,
    },
    /// The pump acknowledged the block that carried this command, submitted by the
    /// daemon. An acknowledgement only says the block arrived; the effect shows in later
    /// events, or a later `CommandFailed` with [`CommandFailure::NotApplied`] says it
    /// never came.
    ///
    /// Every command the daemon submits ends in exactly one of `CommandAccepted` or
    /// `CommandFailed`; after `CommandAccepted`, a `CommandFailed` may still follow with
    /// `NotApplied` (or, while an unanswered request is asked again, `NoAnswer`,
    /// `Rejected` or `PumpOffline`). DART reports it for every command, Gilbarco for
    /// price changes.
    CommandAccepted {
        /// The command.
        command: PumpCommand,
    },
    /// A command could not be delivered or was refused, or was acknowledged but not
    /// applied ([`CommandFailure::NotApplied`]).
    CommandFailed {
        /// The command.
        command: PumpCommand,
        /// Why.
        failure: CommandFailure,
    },
}

/// An event from one pump on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpEvent {
    /// The pump it came from.
    pub pump: BusAddress,
    /// When the core learned it (the `now` passed in).
    pub at: Instant,
    /// What happened.
    pub kind: PumpEventKind,
}

/// The configuration of one pump that a protocol core needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpSetup {
    /// Its bus address.
    pub address: BusAddress,
    /// Decimal positions of its fields.
    pub decimals: Decimals,
    /// Which grade each logical nozzle dispenses.
    pub nozzles: Vec<(NozzleId, GradeId)>,
}

impl PumpSetup {
    /// The grade configured for `nozzle`.
    pub fn grade_of(&self, nozzle: NozzleId) -> Option<GradeId> {
        self.nozzles
            .iter()
            .find(|(n, _)| *n == nozzle)
            .map(|(_, g)| *g)
    }
}

/// Why a command was not accepted into the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No pump with that address is configured on the line.
    #[error("no pump {0} on this line")]
    UnknownPump(BusAddress),
    /// The pump's command queue is full.
    #[error("command queue of pump {0} is full")]
    QueueFull(BusAddress),
    /// The command cannot be expressed for this pump.
    #[error("invalid command: {0}")]
    Invalid(String),
}

/// The controller side of one serial line, sans-IO.
///
/// The line task calls these in a loop: write what [`poll_transmit`](Self::poll_transmit)
/// returns, feed what it reads to [`handle_input`](Self::handle_input), wake at
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout),
/// and drain [`poll_event`](Self::poll_event). The core never reads a clock.
pub trait LineMaster: Send {
    /// Feeds bytes read from the line.
    fn handle_input(&mut self, bytes: &[u8], now: Instant);
    /// Advances timers: answer timeouts, retries, the poll cycle.
    fn handle_timeout(&mut self, now: Instant);
    /// The next bytes to write, if it is this side's turn to talk.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Queues a command for a pump.
    fn submit(&mut self, pump: BusAddress, command: PumpCommand) -> Result<(), SubmitError>;
    /// The next event, if any.
    fn poll_event(&mut self) -> Option<PumpEvent>;
    /// The pumps on this line.
    fn pumps(&self) -> Vec<BusAddress>;
    /// The port was lost (unplugged adapter, closed device): every pump is offline now.
    ///
    /// Emits [`PumpStatus::Offline`] for each pump that was not already offline, drops
    /// what was in flight (queued commands fail with [`CommandFailure::PumpOffline`]), and
    /// makes the next answer from each pump start a fresh session, as after power-up.
    fn link_lost(&mut self, now: Instant);
    /// When `pump` last gave a valid answer (any well-formed frame), if ever.
    ///
    /// The daemon uses it to tell a live pump from a silent line without waiting for the
    /// offline threshold.
    fn last_heard(&self, pump: BusAddress) -> Option<Instant>;
    /// What the master did and heard on the line so far, for metrics.
    fn counters(&self) -> crate::tally::LineCounters;
}

/// A physical action on a simulated pump, as a customer or a test would do it.
#[derive(Debug, Clone, PartialEq)]
pub enum SimAction {
    /// Lift a nozzle.
    LiftNozzle(NozzleId),
    /// Hang up the nozzle in hand.
    HangNozzle,
    /// Set the flow rate in units per minute (0 stops the flow at the nozzle).
    SetFlowRate(Volume),
    /// Fault switch: drop the next `n` answers.
    DropAnswers(u32),
    /// Fault switch: corrupt the CRC of the next `n` answers.
    CorruptAnswers(u32),
    /// Fault switch: answer late (after the master's timeout) the next `n` times.
    AnswerLate(u32),
    /// Fault switch: stop answering entirely (`true`) or answer again (`false`).
    Silent(bool),
    /// Fault switch: power-cycle the pump (mid-dispatch if one is running).
    PowerReset,
}

/// A read-only view of a simulated pump, for display and assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPumpView {
    /// Its bus address.
    pub address: BusAddress,
    /// Its status in the neutral model.
    pub status: PumpStatus,
    /// The nozzle out of its holster, if any.
    pub nozzle_out: Option<NozzleId>,
    /// Volume of the current or last filling.
    pub volume: Volume,
    /// Amount of the current or last filling.
    pub amount: Money,
    /// Electronic totals per configured nozzle, in nozzle order: the ground truth a test
    /// checks [`PumpEventKind::Totals`] and booked sales against. They grow by exactly
    /// each filling's figures (the one under way included) and survive a power reset.
    pub totals: Vec<Totals>,
}

/// The pump side of one serial line, sans-IO: one or more simulated pumps.
pub trait LineSimulator: Send {
    /// Feeds bytes the master wrote.
    fn handle_input(&mut self, bytes: &[u8], now: Instant);
    /// Advances the physics (flow) and answer timers.
    fn handle_timeout(&mut self, now: Instant);
    /// The next answer to write, once its answer delay has passed.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Applies a physical action or fault switch to one pump.
    fn act(&mut self, pump: BusAddress, action: SimAction, now: Instant)
        -> Result<(), SubmitError>;
    /// The state of every simulated pump.
    fn view(&self) -> Vec<SimPumpView>;
}
