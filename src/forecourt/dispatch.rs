//! The dispatch state of one fuelling position, as a pure function of events.
//!
//! `(state, event, now) → (state, effects)`: no I/O, no clock, no channels. The actor in
//! [`super`] feeds pump events and attendant requests in and carries out the effects
//! (journal writes, pump commands). Keeping the rules here lets the seed scenario tables be
//! tested line by line without a port or a database.
//!
//! Rules that protect the money:
//! - a completed dispatch becomes a sale only through [`Effect::RecordSale`]; until the
//!   journal confirms it ([`PositionState::sale_recorded`]) the position answers
//!   `in_process`, never `unavailable`, so a customer is never told there is nothing to pay
//!   while a sale is being written;
//! - a completion is a sale by sight when the daemon saw the pump authorized or filling in
//!   this session; otherwise, with a dispatch open, it is judged on evidence
//!   ([`super::evidence`]): the journaled stage of the authorization, the pump's totals
//!   before and after, the last booked sale. A pump that merely re-offers its last figures
//!   after a restart or a reconnect is not a new sale;
//! - an authorization is journaled step by step: requested (before anything reaches the
//!   pump), sent (with the totals read just before, written before the command leaves),
//!   acknowledged (the pump took the block) or refused;
//! - a dispatch never outlives its pump's authorization: a refused or undeliverable
//!   command closes it with a reason the attendant sees, and one whose pump stays idle and
//!   unauthorized is closed after [`PositionSetup::idle_dispatch_limit`].

use std::time::{Duration, Instant};

use pump_protocols::{
    Authorization, BusAddress, CommandFailure, CompletedTransaction, GradeId, Money, NozzleId,
    PositionId, Preset, PumpCommand, PumpEventKind, PumpSetup, PumpStatus, Totals, UnitPrice,
    Volume,
};

use super::evidence::{self, BookedFigures, Evidence, Verdict};
use super::prices::PumpPrices;
use crate::journal::{DispatchStage, PriceSetId, PumpStep, TotalsReading};
use crate::sale::{Sale, SaleId};

pub use crate::journal::DispatchId;

/// Static facts about a position, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionSetup {
    /// The position number.
    pub position: PositionId,
    /// The name of the serial line the pump is on.
    pub line: String,
    /// The pump's bus address on that line.
    pub address: BusAddress,
    /// How long the pump may stay silent before the position answers `timeout`.
    pub stale_limit: Duration,
    /// How long a pump that never answered since the start takes to count as offline
    /// ([`crate::protocols::never_heard_offline_after`]).
    pub never_heard_offline_after: Duration,
    /// Grade and configured price of each nozzle.
    pub nozzles: Vec<NozzlePrice>,
    /// What the pump's protocol needs to know of it (decimals, nozzle map), so commands
    /// can be checked against what the pump can take before they are accepted.
    pub pump: PumpSetup,
    /// How long a dispatch may stay open while its pump is idle and not authorized.
    pub idle_dispatch_limit: Duration,
    /// What the pump's line can take (its protocol and settings), for checking commands
    /// before they are accepted.
    pub commands: crate::protocols::CommandRules,
}

/// A nozzle's grade and the price the station sells it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NozzlePrice {
    /// The logical nozzle.
    pub nozzle: NozzleId,
    /// The grade it dispenses.
    pub grade: GradeId,
    /// The configured unit price: the grade's price until a price set names it
    /// ([`super::prices`]).
    pub price: UnitPrice,
}

/// How long the totals read before an authorization may take before it is sent without
/// them (the sale is then judged on weaker evidence if the daemon restarts).
pub const BASELINE_WAIT: Duration = Duration::from_secs(5);

/// How long the totals read after an unwitnessed completion may take before the
/// completion is judged without them.
pub const VERIFY_WAIT: Duration = Duration::from_secs(10);

/// Default bound on a dispatch whose pump stays idle and unauthorized.
pub const IDLE_DISPATCH_LIMIT: Duration = Duration::from_secs(90);

/// An authorization waiting for the pump's totals before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingBaseline {
    /// What will be sent.
    pub authorization: Authorization,
    /// Totals read so far.
    pub readings: Vec<TotalsReading>,
    /// Nozzles still to read.
    pub missing: Vec<NozzleId>,
    /// When to send without the missing ones.
    pub until: Instant,
}

/// A completion the daemon did not see flow, waiting for the totals that judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifying {
    /// The reported figures.
    pub completion: CompletedTransaction,
    /// When to judge without the totals.
    pub until: Instant,
}

/// A dispatch an attendant started and that has not become a sale yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveDispatch {
    /// Journal id, once journaled (always, for dispatches started through the admin API).
    pub id: Option<DispatchId>,
    /// The attendant who authorized it.
    pub attendant: Option<String>,
    /// The preset, if any.
    pub preset: Option<Preset>,
    /// The grades it is limited to; empty for any grade of the position.
    pub grades: Vec<GradeId>,
    /// How far the authorization got.
    pub stage: DispatchStage,
    /// The pump's totals read before the authorization was sent.
    pub baseline: Option<Vec<TotalsReading>>,
    /// Set while the totals are read before sending.
    pub awaiting: Option<AwaitingBaseline>,
    /// Set while a completion is being verified.
    pub verifying: Option<Verifying>,
    /// When the dispatch was started here, restored after a restart, or last moved.
    pub since: Instant,
}

impl ActiveDispatch {
    /// A dispatch restored from the journal at `now`.
    pub fn restored(
        id: DispatchId,
        attendant: Option<String>,
        preset: Option<Preset>,
        grades: Vec<GradeId>,
        stage: DispatchStage,
        baseline: Option<Vec<TotalsReading>>,
        now: Instant,
    ) -> Self {
        Self {
            id: Some(id),
            attendant,
            preset,
            grades,
            stage,
            baseline,
            awaiting: None,
            verifying: None,
            since: now,
        }
    }

    fn baseline_of(&self, nozzle: NozzleId) -> Option<&TotalsReading> {
        self.baseline.as_ref()?.iter().find(|r| r.nozzle == nozzle)
    }
}

/// Running figures of the dispatch in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    /// Volume so far, when the pump's protocol tells it while fuel flows.
    pub volume: Option<Volume>,
    /// Amount so far.
    pub amount: Money,
}

/// A completed dispatch the journal must record as a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleToRecord {
    /// The dispatch it completes, if journaled.
    pub dispatch: Option<DispatchId>,
    /// The position.
    pub position: PositionId,
    /// The pump's final figures.
    pub transaction: CompletedTransaction,
    /// The attendant who authorized it.
    pub attendant: Option<String>,
    /// The price set the pump sold it under.
    pub price_set: Option<PriceSetId>,
}

/// A completion the daemon could not vouch for, for the attendant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unproven {
    /// The dispatch that was open.
    pub dispatch: Option<DispatchId>,
    /// The position.
    pub position: PositionId,
    /// What the pump reported (grade filled in from the configuration).
    pub completion: CompletedTransaction,
    /// The dispatch's attendant.
    pub attendant: Option<String>,
    /// Why it could not be decided.
    pub reason: String,
    /// Totals before and after, when read.
    pub before: Option<TotalsReading>,
    /// Totals after the completion, when read.
    pub after: Option<TotalsReading>,
}

/// Why a dispatch ended without a sale, as the attendant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchEnded {
    /// The dispatch.
    pub id: Option<DispatchId>,
    /// Why.
    pub reason: String,
    /// True when the pump refused the authorization or it could not be delivered.
    pub refused: bool,
}

/// What the actor must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write the sale to the journal, then call [`PositionState::sale_recorded`].
    RecordSale(SaleToRecord),
    /// A dispatch ended without a sale: close its journal row.
    CloseDispatch {
        /// The dispatch.
        id: DispatchId,
        /// Why, for the attendant.
        reason: String,
        /// The pump refused it or it could not be delivered.
        refused: bool,
    },
    /// Journal the authorization as sent (with its baseline), then send it to the pump.
    /// If the journal write fails, nothing is sent and the dispatch is closed.
    SendAuthorization {
        /// The dispatch (`None` only for dispatches started outside the journal).
        id: Option<DispatchId>,
        /// The totals read just before.
        baseline: Option<Vec<TotalsReading>>,
        /// The command.
        command: PumpCommand,
    },
    /// Journal a later stage of the authorization.
    AdvanceDispatch {
        /// The dispatch.
        id: DispatchId,
        /// The stage reached.
        stage: DispatchStage,
    },
    /// Record a completion nobody could vouch for, for the attendant.
    RaiseAttention(Unproven),
    /// Send a command to the pump.
    Command(PumpCommand),
    /// Journal a step of programming a price set into the pump.
    PriceStep {
        /// The price set.
        set: PriceSetId,
        /// What happened.
        step: PumpStep,
    },
}

/// Why an attendant's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefused {
    /// The pump does not answer.
    #[error("pump of position {0} is offline")]
    Offline(PositionId),
    /// The pump has no prices yet.
    #[error("pump of position {0} is not programmed yet")]
    NotProgrammed(PositionId),
    /// A dispatch is already authorized or running.
    #[error("position {0} already has a dispatch in progress")]
    Busy(PositionId),
    /// Nothing to stop.
    #[error("position {0} has no dispatch to stop")]
    NothingToStop(PositionId),
    /// Nothing to cancel.
    #[error("position {0} has no open dispatch to cancel")]
    NothingToCancel(PositionId),
    /// Fuel is flowing: a dispatch in progress is stopped, not cancelled.
    #[error("fuel is flowing at position {0}: stop the dispatch instead")]
    Flowing(PositionId),
    /// The pump cannot take the command as given (too many digits or decimals, a
    /// preset out of range, a nozzle it does not have).
    #[error("the pump of position {position} cannot take this: {reason}")]
    NotForThisPump {
        /// The position.
        position: PositionId,
        /// What is wrong, from the protocol's check.
        reason: String,
    },
    /// A grade limit names a grade no nozzle of the position dispenses.
    #[error("grade {grade} is not sold at position {position}")]
    GradeNotHere {
        /// The position.
        position: PositionId,
        /// The grade asked for.
        grade: GradeId,
    },
    /// The pump's protocol cannot limit this dispatch to the grades asked for; the same
    /// dispatch without the limit would be accepted.
    #[error(
        "the pump of position {position} cannot limit this dispatch to those grades: {reason}"
    )]
    GradeLimitUnsupported {
        /// The position.
        position: PositionId,
        /// What the protocol's check said.
        reason: String,
    },
}

/// The live state of one position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionState {
    /// Static facts.
    pub setup: PositionSetup,
    /// Last status the pump reported ([`PumpStatus::Offline`] until it answers).
    pub pump_status: PumpStatus,
    /// The nozzle out of its holster, if any.
    pub nozzle_out: Option<NozzleId>,
    /// Running figures while filling.
    pub running: Option<Running>,
    /// When the pump last answered.
    pub last_heard: Option<Instant>,
    /// The dispatch in progress, if any.
    pub dispatch: Option<ActiveDispatch>,
    /// True once fuel was seen flowing (or the pump was seen authorized) in this session
    /// for the current dispatch, so its completion is a new sale by sight.
    pub witnessed: bool,
    /// A completion is being written to the journal.
    pub recording: bool,
    /// The last attempt to write that completion failed; the actor retries it.
    pub record_failed: bool,
    /// Sales of this position waiting for payment, oldest first.
    pub payable: Vec<Sale>,
    /// When prices were last sent to a pump that asked for them.
    pub prices_sent_at: Option<Instant>,
    /// The figures of the last sale booked for this position (evidence for the next).
    pub last_sale: Option<BookedFigures>,
    /// The latest totals read from the pump in this session, per nozzle.
    pub totals: Vec<TotalsReading>,
    /// Why the last dispatch ended without a sale, until the next one starts.
    pub last_ended: Option<DispatchEnded>,
    /// The prices the pump should have and the set it confirmed.
    pub pricing: PumpPrices,
}

/// How long a pump may stay NOT PROGRAMMED after its prices were sent before they are
/// sent again. Real heads take seconds to apply a price block (docs/protocols/dart.md §4.1).
pub const PRICES_RETRY: Duration = Duration::from_secs(30);

fn reading(totals: &Totals) -> TotalsReading {
    TotalsReading {
        nozzle: totals.nozzle,
        volume: totals.volume,
        amount: totals.amount,
    }
}

fn failure_text(failure: &CommandFailure) -> String {
    match failure {
        CommandFailure::NoAnswer => "the pump did not answer the authorization".to_owned(),
        CommandFailure::Rejected => "the pump rejected the authorization".to_owned(),
        CommandFailure::Invalid(why) => format!("the pump cannot take the authorization: {why}"),
        CommandFailure::PumpOffline => {
            "the pump went offline before it took the authorization".to_owned()
        }
        CommandFailure::NotApplied => {
            "the pump acknowledged the authorization but did not apply it".to_owned()
        }
    }
}

impl PositionState {
    /// A position whose pump has not answered yet.
    pub fn new(setup: PositionSetup) -> Self {
        let configured = setup.nozzles.iter().map(|n| (n.nozzle, n.price)).collect();
        Self {
            pricing: PumpPrices::new(None, configured, true),
            setup,
            pump_status: PumpStatus::Offline,
            nozzle_out: None,
            running: None,
            last_heard: None,
            dispatch: None,
            witnessed: false,
            recording: false,
            record_failed: false,
            payable: Vec::new(),
            prices_sent_at: None,
            last_sale: None,
            totals: Vec::new(),
            last_ended: None,
        }
    }

    /// The grade of a nozzle, per configuration.
    pub fn grade_of(&self, nozzle: NozzleId) -> Option<GradeId> {
        self.setup
            .nozzles
            .iter()
            .find(|n| n.nozzle == nozzle)
            .map(|n| n.grade)
    }

    /// Applies an event the pump reported at `at`.
    pub fn on_pump_event(&mut self, event: &PumpEventKind, at: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        match event {
            PumpEventKind::StatusChanged(status) => {
                let was = self.pump_status;
                self.pump_status = *status;
                match status {
                    PumpStatus::NotProgrammed => {
                        self.prices_sent_at = Some(at);
                        self.pricing.sent(at);
                        effects.push(Effect::Command(PumpCommand::SetPrices(self.prices())));
                    }
                    PumpStatus::Authorized | PumpStatus::Filling | PumpStatus::Suspended => {
                        // Seen live (also right after a restart): whatever completes next
                        // is a new sale. An authorization still waiting for its baseline
                        // cannot have caused this, so only a sent one counts as taken.
                        if self.dispatch.as_ref().is_none_or(|d| d.awaiting.is_none()) {
                            self.witnessed = true;
                        }
                        if let Some(d) = &mut self.dispatch {
                            d.since = at;
                        }
                    }
                    PumpStatus::Offline => {
                        self.running = None;
                        // A new session will start: readings of the old one are stale.
                        self.totals.clear();
                    }
                    _ => {}
                }
                if was == PumpStatus::Offline && *status != PumpStatus::Offline {
                    // Session start: the totals on record, read before anything else can
                    // move them (kept in `totals`, shown in `/api/positions`).
                    effects.extend(
                        self.setup
                            .nozzles
                            .iter()
                            .map(|n| Effect::Command(PumpCommand::ReadTotals(n.nozzle))),
                    );
                }
            }
            PumpEventKind::NozzleUp { nozzle, .. } => self.nozzle_out = Some(*nozzle),
            PumpEventKind::NozzleDown { .. } => self.nozzle_out = None,
            PumpEventKind::Filling { volume, amount } => {
                if self.dispatch.as_ref().is_none_or(|d| d.awaiting.is_none()) {
                    self.witnessed = true;
                }
                self.running = Some(Running {
                    volume: *volume,
                    amount: *amount,
                });
            }
            PumpEventKind::TransactionCompleted(tx) => {
                self.running = None;
                effects.extend(self.on_completed(tx, at));
            }
            PumpEventKind::Totals(totals) => effects.extend(self.on_totals(totals, at)),
            PumpEventKind::CommandAccepted {
                command: PumpCommand::Authorize(_),
            } => {
                if let Some(d) = &mut self.dispatch {
                    if d.stage == DispatchStage::Sent {
                        d.stage = DispatchStage::Acknowledged;
                        d.since = at;
                        if let Some(id) = d.id {
                            effects.push(Effect::AdvanceDispatch {
                                id,
                                stage: DispatchStage::Acknowledged,
                            });
                        }
                    }
                }
            }
            PumpEventKind::CommandFailed {
                command: PumpCommand::Authorize(_),
                failure: CommandFailure::NoAnswer | CommandFailure::PumpOffline,
            } => {
                // The block may have reached the pump before the line failed: the dispatch
                // stays open, and its completion (judged on the totals) or the idle limit
                // closes it.
                if let Some(d) = &mut self.dispatch {
                    d.since = at;
                }
            }
            PumpEventKind::CommandFailed {
                command: PumpCommand::Authorize(_),
                failure,
            } => {
                if !self.witnessed {
                    // The pump never took the authorization: the dispatch did not start.
                    effects.extend(self.end_dispatch(failure_text(failure), true));
                }
            }
            PumpEventKind::CommandFailed {
                command: PumpCommand::ReadTotals(nozzle),
                ..
            } => effects.extend(self.totals_unavailable(*nozzle, at)),
            PumpEventKind::CommandAccepted {
                command: PumpCommand::SetPrices(prices),
            } => {
                if let Some(Some(set)) = self.pricing.accepted(prices) {
                    effects.push(Effect::PriceStep {
                        set,
                        step: PumpStep::Confirmed,
                    });
                }
            }
            PumpEventKind::CommandFailed {
                command: PumpCommand::SetPrices(prices),
                failure,
            } => {
                if let Some(Some(set)) = self.pricing.failed(prices, format!("{failure:?}")) {
                    effects.push(Effect::PriceStep {
                        set,
                        step: PumpStep::Failed(format!("{failure:?}")),
                    });
                }
            }
            PumpEventKind::Alarm { .. }
            | PumpEventKind::CommandAccepted { .. }
            | PumpEventKind::CommandFailed { .. } => {}
        }
        effects
    }

    /// Closes the open dispatch without a sale.
    fn end_dispatch(&mut self, reason: String, refused: bool) -> Vec<Effect> {
        let Some(dispatch) = self.dispatch.take() else {
            return Vec::new();
        };
        self.witnessed = false;
        self.last_ended = Some(DispatchEnded {
            id: dispatch.id,
            reason: reason.clone(),
            refused,
        });
        dispatch
            .id
            .map(|id| Effect::CloseDispatch {
                id,
                reason,
                refused,
            })
            .into_iter()
            .collect()
    }

    fn on_totals(&mut self, totals: &Totals, at: Instant) -> Vec<Effect> {
        let read = reading(totals);
        self.totals.retain(|r| r.nozzle != read.nozzle);
        self.totals.push(read);
        let Some(dispatch) = &mut self.dispatch else {
            return Vec::new();
        };
        if let Some(awaiting) = &mut dispatch.awaiting {
            if awaiting.missing.contains(&read.nozzle) {
                awaiting.missing.retain(|n| *n != read.nozzle);
                awaiting.readings.push(read);
            }
            return self.send_if_ready(at, false);
        }
        match &dispatch.verifying {
            Some(v) if v.completion.nozzle == read.nozzle => {
                let completion = v.completion;
                self.judge(completion, Some(read))
            }
            _ => Vec::new(),
        }
    }

    fn totals_unavailable(&mut self, nozzle: NozzleId, at: Instant) -> Vec<Effect> {
        let Some(dispatch) = &mut self.dispatch else {
            return Vec::new();
        };
        if let Some(awaiting) = &mut dispatch.awaiting {
            awaiting.missing.retain(|n| *n != nozzle);
            return self.send_if_ready(at, false);
        }
        match &dispatch.verifying {
            Some(v) if v.completion.nozzle == nozzle => {
                let completion = v.completion;
                self.judge(completion, None)
            }
            _ => Vec::new(),
        }
    }

    /// Sends the authorization once every baseline reading is in (or `force`d).
    fn send_if_ready(&mut self, at: Instant, force: bool) -> Vec<Effect> {
        let Some(dispatch) = &mut self.dispatch else {
            return Vec::new();
        };
        let ready = dispatch
            .awaiting
            .as_ref()
            .is_some_and(|a| force || a.missing.is_empty());
        if !ready {
            return Vec::new();
        }
        let Some(awaiting) = dispatch.awaiting.take() else {
            return Vec::new();
        };
        let baseline = (!awaiting.readings.is_empty()).then_some(awaiting.readings);
        dispatch.baseline = baseline.clone();
        dispatch.stage = DispatchStage::Sent;
        dispatch.since = at;
        vec![Effect::SendAuthorization {
            id: dispatch.id,
            baseline,
            command: PumpCommand::Authorize(awaiting.authorization),
        }]
    }

    fn on_completed(&mut self, tx: &CompletedTransaction, at: Instant) -> Vec<Effect> {
        if self.recording {
            // A duplicate report of the completion being written.
            return Vec::new();
        }
        let mut tx = *tx;
        if tx.grade.is_none() {
            tx.grade = self.grade_of(tx.nozzle);
        }
        if self.witnessed {
            return self.book(tx);
        }
        let Some(dispatch) = &mut self.dispatch else {
            // Old figures re-reported after a reconnect: nothing new happened at the pump.
            return Vec::new();
        };
        if dispatch.awaiting.is_some() || dispatch.verifying.is_some() {
            // The pump reports its previous sale while this authorization is still being
            // prepared, or again while it is being verified: nothing new.
            return Vec::new();
        }
        if dispatch.stage == DispatchStage::Requested {
            return self.judge(tx, None);
        }
        if tx.volume.is_zero() && tx.amount.is_zero() {
            // An empty report the daemon did not see happen says nothing about this
            // dispatch (a pump re-offers its empty last transaction at a new session);
            // the idle limit closes the dispatch if the pump never takes it.
            return Vec::new();
        }
        // Not seen flowing: read the nozzle's totals and judge on them.
        dispatch.verifying = Some(Verifying {
            completion: tx,
            until: at + VERIFY_WAIT,
        });
        vec![Effect::Command(PumpCommand::ReadTotals(tx.nozzle))]
    }

    fn book(&mut self, tx: CompletedTransaction) -> Vec<Effect> {
        self.witnessed = false;
        let dispatch = self.dispatch.take();
        if tx.volume.is_zero() && tx.amount.is_zero() {
            self.dispatch = dispatch;
            return self.end_dispatch("completed with nothing dispensed".to_owned(), false);
        }
        self.recording = true;
        vec![
            Effect::RecordSale(SaleToRecord {
                dispatch: dispatch.as_ref().and_then(|d| d.id),
                position: self.setup.position,
                transaction: tx,
                attendant: dispatch.and_then(|d| d.attendant),
                price_set: self.pricing.set_for_sale(tx.nozzle, tx.unit_price),
            }),
            // The totals after the sale, on record for the next dispatch's evidence.
            Effect::Command(PumpCommand::ReadTotals(tx.nozzle)),
        ]
    }

    fn judge(
        &mut self,
        completion: CompletedTransaction,
        after: Option<TotalsReading>,
    ) -> Vec<Effect> {
        let Some(dispatch) = &mut self.dispatch else {
            return Vec::new();
        };
        dispatch.verifying = None;
        let before = dispatch.baseline_of(completion.nozzle).copied();
        let verdict = evidence::judge(&Evidence {
            completion: &completion,
            stage: dispatch.stage,
            before: before.as_ref(),
            after: after.as_ref(),
            last_sale: self.last_sale.as_ref(),
        });
        match verdict {
            Verdict::Book => self.book(completion),
            Verdict::NotDispensed(reason) => self.end_dispatch(reason, false),
            Verdict::Ambiguous(reason) => {
                let unproven = Unproven {
                    dispatch: dispatch.id,
                    position: self.setup.position,
                    completion,
                    attendant: dispatch.attendant.clone(),
                    reason: reason.clone(),
                    before,
                    after,
                };
                let mut effects = vec![Effect::RaiseAttention(unproven)];
                effects.extend(self.end_dispatch(
                    format!("{reason}; the completion awaits an attendant's decision"),
                    false,
                ));
                effects
            }
        }
    }

    /// Periodic check at `now`: overdue baseline and verification reads, dispatches whose
    /// pump stays idle, and prices for a pump that stays NOT PROGRAMMED [`PRICES_RETRY`]
    /// after they were sent (which usually means the configuration does not price every
    /// nozzle of the head).
    pub fn on_tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(d) = &self.dispatch {
            if d.awaiting.as_ref().is_some_and(|a| now >= a.until) {
                effects.extend(self.send_if_ready(now, true));
            } else if let Some(v) = d.verifying.as_ref().filter(|v| now >= v.until) {
                let completion = v.completion;
                effects.extend(self.judge(completion, None));
            } else if self.dispatch_is_idle(now) {
                effects.extend(self.end_dispatch(
                    format!(
                        "the pump stayed idle and unauthorized for {} s",
                        self.setup.idle_dispatch_limit.as_secs()
                    ),
                    false,
                ));
            }
        }
        if self.pump_status != PumpStatus::NotProgrammed {
            self.prices_sent_at = None;
            effects.extend(self.program_if_idle(now));
            return effects;
        }
        match self.prices_sent_at {
            Some(at) if now.saturating_duration_since(at) >= PRICES_RETRY => {
                self.prices_sent_at = Some(now);
                effects.push(Effect::Command(PumpCommand::SetPrices(self.prices())));
            }
            // Sent recently, or never (the status event sends them first).
            _ => {}
        }
        effects
    }

    /// Sends the target prices to a pump that is idle and has no dispatch, no nozzle out
    /// and no sale being written: a price never changes under a customer.
    fn program_if_idle(&mut self, now: Instant) -> Vec<Effect> {
        let idle = matches!(self.pump_status, PumpStatus::Idle | PumpStatus::Completed)
            && self.dispatch.is_none()
            && self.nozzle_out.is_none()
            && self.running.is_none()
            && !self.recording;
        if !idle || !self.pricing.due(now) {
            return Vec::new();
        }
        self.pricing.sent(now);
        let mut effects = vec![Effect::Command(PumpCommand::SetPrices(self.prices()))];
        if let Some(set) = self.pricing.target {
            effects.push(Effect::PriceStep {
                set,
                step: PumpStep::Sent,
            });
        }
        effects
    }

    fn dispatch_is_idle(&self, now: Instant) -> bool {
        let Some(d) = &self.dispatch else {
            return false;
        };
        let idle_status = matches!(
            self.pump_status,
            PumpStatus::Idle | PumpStatus::Calling | PumpStatus::Completed | PumpStatus::Stopped
        );
        idle_status
            && !self.witnessed
            && !self.recording
            && d.awaiting.is_none()
            && d.verifying.is_none()
            && now.saturating_duration_since(d.since) >= self.setup.idle_dispatch_limit
    }

    /// The journal wrote the sale: it becomes payable.
    pub fn sale_recorded(&mut self, sale: Sale) {
        self.recording = false;
        self.record_failed = false;
        self.last_sale = Some(BookedFigures {
            nozzle: sale.nozzle,
            volume: sale.volume,
            amount: sale.amount,
            unit_price: sale.unit_price,
        });
        if sale.status.is_payable() {
            self.payable.push(sale);
            self.payable.sort_by_key(|s| s.id);
        }
    }

    /// The journal failed to write the sale; the actor retries the same record.
    pub fn sale_record_failed(&mut self) {
        self.recording = true;
        self.record_failed = true;
    }

    /// A sale left the payable state (paid, settled, voided).
    pub fn sale_closed(&mut self, id: SaleId) {
        self.payable.retain(|s| s.id != id);
    }

    /// Checks an attendant's authorization against the pump's state.
    pub fn check_authorize(&self) -> Result<(), RequestRefused> {
        let position = self.setup.position;
        match self.pump_status {
            PumpStatus::Offline => Err(RequestRefused::Offline(position)),
            PumpStatus::NotProgrammed => Err(RequestRefused::NotProgrammed(position)),
            PumpStatus::Authorized | PumpStatus::Filling | PumpStatus::Suspended => {
                Err(RequestRefused::Busy(position))
            }
            _ if self.dispatch.is_some() || self.recording => Err(RequestRefused::Busy(position)),
            _ => Ok(()),
        }
    }

    /// Records an accepted authorization at `now` and returns what to do: read the
    /// totals of every configured nozzle, then send it (or send it at once when the
    /// position has no nozzle to read).
    pub fn authorized(
        &mut self,
        id: Option<DispatchId>,
        attendant: Option<String>,
        authorization: Authorization,
        now: Instant,
    ) -> Vec<Effect> {
        let missing: Vec<NozzleId> = self.setup.nozzles.iter().map(|n| n.nozzle).collect();
        self.dispatch = Some(ActiveDispatch {
            id,
            attendant,
            preset: authorization.preset,
            grades: super::grades::grades_of(&self.setup, &authorization.nozzles),
            stage: DispatchStage::Requested,
            baseline: None,
            awaiting: Some(AwaitingBaseline {
                authorization,
                readings: Vec::new(),
                missing: missing.clone(),
                until: now + BASELINE_WAIT,
            }),
            verifying: None,
            since: now,
        });
        self.witnessed = false;
        self.last_ended = None;
        let mut effects: Vec<Effect> = missing
            .into_iter()
            .map(|n| Effect::Command(PumpCommand::ReadTotals(n)))
            .collect();
        effects.extend(self.send_if_ready(now, false));
        effects
    }

    /// The journal could not record the authorization as sent: nothing was sent.
    pub fn send_failed(&mut self, reason: String) -> Vec<Effect> {
        self.end_dispatch(reason, true)
    }

    /// Checks an attendant's stop request. A dispatch whose pump is not dispensing is
    /// closed at once (the stop still goes to the pump, in case the authorization is on
    /// its way), so a stop always frees the position.
    pub fn stop(&mut self) -> Result<Vec<Effect>, RequestRefused> {
        if self.pump_status.is_dispatch_in_progress() {
            return Ok(vec![Effect::Command(PumpCommand::Stop)]);
        }
        if self.dispatch.is_none() {
            return Err(RequestRefused::NothingToStop(self.setup.position));
        }
        let mut effects = vec![Effect::Command(PumpCommand::Stop)];
        effects.extend(self.end_dispatch("stopped before fuel flowed".to_owned(), false));
        Ok(effects)
    }

    /// An attendant cancels a dispatch stuck without a pump. Refused while fuel flows.
    pub fn cancel(&mut self, by: Option<&str>) -> Result<Vec<Effect>, RequestRefused> {
        let position = self.setup.position;
        if matches!(
            self.pump_status,
            PumpStatus::Filling | PumpStatus::Suspended
        ) || self.running.is_some()
        {
            return Err(RequestRefused::Flowing(position));
        }
        if self.dispatch.is_none() {
            return Err(RequestRefused::NothingToCancel(position));
        }
        let reason = match by {
            Some(who) => format!("cancelled by {who}"),
            None => "cancelled".to_owned(),
        };
        let mut effects = vec![Effect::Command(PumpCommand::Stop)];
        effects.extend(self.end_dispatch(reason, false));
        Ok(effects)
    }

    /// The prices the pump should have: the station's current set, never the
    /// configuration once a set was activated.
    fn prices(&self) -> Vec<(NozzleId, UnitPrice)> {
        self.pricing.target_prices.clone()
    }

    /// What the order endpoint must answer for this position at `now`.
    pub fn order_state(&self, now: Instant) -> OrderState<'_> {
        let silent = match self.last_heard {
            Some(at) => now.saturating_duration_since(at) > self.setup.stale_limit,
            None => true,
        };
        if silent {
            return OrderState::Timeout;
        }
        self.order_state_when_heard()
    }

    /// What the order endpoint must answer for this position while its pump is heard
    /// (the part of [`PositionState::order_state`] that does not move with the clock).
    pub fn order_state_when_heard(&self) -> OrderState<'_> {
        if self.pump_status == PumpStatus::Offline || self.record_failed {
            return OrderState::Timeout;
        }
        if self.pump_status.is_dispatch_in_progress() || self.dispatch.is_some() || self.recording {
            return OrderState::InProcess;
        }
        match self.payable.last() {
            Some(sale) => OrderState::Payable(sale),
            None => OrderState::Unavailable,
        }
    }
}

/// The order endpoint's decision for a position (docs/order-endpoint.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState<'a> {
    /// The pump line is silent past its stale limit, or the journal cannot record its sale.
    Timeout,
    /// A dispatch is authorized, running, or being written: the amount is not known yet.
    InProcess,
    /// The latest completed, unpaid sale.
    Payable(&'a Sale),
    /// Nothing in process or pending.
    Unavailable,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pump_protocols::CompletionReason;
    use rust_decimal::Decimal;

    pub(crate) fn setup() -> PositionSetup {
        PositionSetup {
            position: PositionId(3),
            line: "line1".into(),
            address: BusAddress(0x52),
            stale_limit: Duration::from_secs(3),
            never_heard_offline_after: Duration::from_secs(5),
            nozzles: vec![NozzlePrice {
                nozzle: NozzleId(1),
                grade: GradeId(2),
                price: UnitPrice::new(Decimal::new(80000, 2)),
            }],
            pump: PumpSetup {
                address: BusAddress(0x52),
                decimals: pump_protocols::Decimals::default(),
                nozzles: vec![(NozzleId(1), GradeId(2))],
            },
            idle_dispatch_limit: Duration::from_secs(60),
            commands: crate::protocols::CommandRules::Dart,
        }
    }

    fn totals(volume: i64, amount: i64) -> PumpEventKind {
        PumpEventKind::Totals(Totals {
            nozzle: NozzleId(1),
            grade: Some(GradeId(2)),
            volume: Some(Volume::new(Decimal::new(volume, 2))),
            amount: Some(Money::new(Decimal::new(amount, 2))),
            fillings: None,
        })
    }

    /// Authorizes and feeds the baseline totals; returns the command sent to the pump.
    fn authorize(state: &mut PositionState, id: DispatchId, now: Instant) -> PumpCommand {
        let effects = state.authorized(Some(id), Some("7".into()), Authorization::default(), now);
        assert_eq!(
            effects,
            vec![Effect::Command(PumpCommand::ReadTotals(NozzleId(1)))],
            "the totals are read before anything is sent"
        );
        let effects = state.on_pump_event(&totals(5000, 4000000), now);
        let [Effect::SendAuthorization {
            id: Some(sent),
            baseline: Some(baseline),
            command,
        }] = effects.as_slice()
        else {
            panic!("expected the authorization to be sent, got {effects:?}");
        };
        assert_eq!(*sent, id);
        assert_eq!(baseline.len(), 1);
        command.clone()
    }

    fn completed(volume: i64, amount: i64) -> PumpEventKind {
        PumpEventKind::TransactionCompleted(CompletedTransaction {
            nozzle: NozzleId(1),
            grade: None,
            volume: Volume::new(Decimal::new(volume, 2)),
            amount: Money::new(Decimal::new(amount, 2)),
            unit_price: UnitPrice::new(Decimal::new(80000, 2)),
            reason: CompletionReason::Normal,
        })
    }

    pub(in crate::forecourt) fn sale(id: SaleId) -> Sale {
        Sale {
            id,
            external_reference: format!("ST29P03T{id:06}"),
            transaction_id: format!("00029-P03-{id:06}"),
            invoice_number: id as u64,
            position: PositionId(3),
            nozzle: NozzleId(1),
            grade: Some(GradeId(2)),
            volume: Volume::new(Decimal::new(1000, 2)),
            amount: Money::new(Decimal::new(800000, 2)),
            unit_price: UnitPrice::new(Decimal::new(80000, 2)),
            attendant: Some("7".into()),
            completed_at: jiff::Timestamp::UNIX_EPOCH,
            status: crate::sale::SaleStatus::Ready,
            preference_id: None,
            shift: None,
            price_set: None,
        }
    }

    fn online(state: &mut PositionState, now: Instant, status: PumpStatus) {
        state.last_heard = Some(now);
        state.on_pump_event(&PumpEventKind::StatusChanged(status), now);
    }

    #[test]
    fn idle_pump_is_unavailable_and_silent_pump_is_timeout() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        assert_eq!(state.order_state(now), OrderState::Timeout);
        online(&mut state, now, PumpStatus::Idle);
        assert_eq!(state.order_state(now), OrderState::Unavailable);
        let later = now + Duration::from_millis(3001);
        assert_eq!(state.order_state(later), OrderState::Timeout);
    }

    #[test]
    fn whole_dispatch_becomes_one_payable_sale() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Completed);
        assert!(state.check_authorize().is_ok());
        authorize(&mut state, 11, now);
        assert_eq!(state.order_state(now), OrderState::InProcess);
        online(&mut state, now, PumpStatus::Authorized);
        online(&mut state, now, PumpStatus::Filling);
        assert_eq!(
            state.check_authorize(),
            Err(RequestRefused::Busy(PositionId(3)))
        );
        online(&mut state, now, PumpStatus::Completed);
        // Completed, figures not written yet: still in process.
        assert_eq!(state.order_state(now), OrderState::InProcess);
        let effects = state.on_pump_event(&completed(1000, 800000), now);
        let [Effect::RecordSale(record), Effect::Command(PumpCommand::ReadTotals(_))] =
            effects.as_slice()
        else {
            panic!("expected one sale to record, got {effects:?}");
        };
        assert_eq!(record.dispatch, Some(11));
        assert_eq!(record.attendant.as_deref(), Some("7"));
        assert_eq!(record.transaction.grade, Some(GradeId(2)));
        assert_eq!(state.order_state(now), OrderState::InProcess);
        // The same completion reported again (after a reconnect) is not a second sale.
        assert!(state
            .on_pump_event(&completed(1000, 800000), now)
            .is_empty());
        state.sale_recorded(sale(5));
        assert_eq!(state.order_state(now), OrderState::Payable(&sale(5)));
        assert!(state
            .on_pump_event(&completed(1000, 800000), now)
            .is_empty());
        state.sale_closed(5);
        assert_eq!(state.order_state(now), OrderState::Unavailable);
    }

    #[test]
    fn latest_of_two_unpaid_sales_is_offered_first() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Completed);
        state.sale_recorded(sale(8));
        state.sale_recorded(sale(4));
        assert_eq!(state.order_state(now), OrderState::Payable(&sale(8)));
        state.sale_closed(8);
        assert_eq!(state.order_state(now), OrderState::Payable(&sale(4)));
    }

    #[test]
    fn empty_dispatch_is_cancelled_not_sold() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Idle);
        authorize(&mut state, 3, now);
        online(&mut state, now, PumpStatus::Authorized);
        online(&mut state, now, PumpStatus::Completed);
        let effects = state.on_pump_event(&completed(0, 0), now);
        assert!(matches!(
            effects.as_slice(),
            [Effect::CloseDispatch { id: 3, .. }]
        ));
        assert_eq!(state.order_state(now), OrderState::Unavailable);
    }

    #[test]
    fn refused_authorization_frees_the_position() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Idle);
        let command = authorize(&mut state, 9, now);
        // No answer: the block may have arrived, so the dispatch waits for evidence.
        let effects = state.on_pump_event(
            &PumpEventKind::CommandFailed {
                command: command.clone(),
                failure: pump_protocols::CommandFailure::NoAnswer,
            },
            now,
        );
        assert!(effects.is_empty(), "{effects:?}");
        assert!(state.dispatch.is_some());
        let effects = state.on_pump_event(
            &PumpEventKind::CommandFailed {
                command,
                failure: pump_protocols::CommandFailure::Rejected,
            },
            now,
        );
        assert!(matches!(
            effects.as_slice(),
            [Effect::CloseDispatch {
                id: 9,
                refused: true,
                ..
            }]
        ));
        assert_eq!(state.order_state(now), OrderState::Unavailable);
        assert!(
            state.check_authorize().is_ok(),
            "the position is usable again"
        );
        assert!(state.last_ended.as_ref().is_some_and(|e| e.refused));
    }

    #[test]
    fn unprogrammed_pump_gets_configured_prices() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        let effects = state.on_pump_event(
            &PumpEventKind::StatusChanged(PumpStatus::NotProgrammed),
            now,
        );
        assert_eq!(
            effects,
            vec![
                Effect::Command(PumpCommand::SetPrices(vec![(
                    NozzleId(1),
                    UnitPrice::new(Decimal::new(80000, 2))
                )])),
                // The session's first answer: its totals are read for the record.
                Effect::Command(PumpCommand::ReadTotals(NozzleId(1))),
            ]
        );
        assert_eq!(
            state.check_authorize(),
            Err(RequestRefused::NotProgrammed(PositionId(3)))
        );
    }

    #[test]
    fn prices_are_sent_again_while_the_pump_stays_unprogrammed() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        assert_eq!(state.on_tick(now), vec![], "offline: nothing to program");
        let first = state.on_pump_event(
            &PumpEventKind::StatusChanged(PumpStatus::NotProgrammed),
            now,
        );
        assert_eq!(first.len(), 2, "prices sent at once, totals read");
        assert_eq!(state.on_tick(now + Duration::from_secs(10)), vec![]);
        let later = now + PRICES_RETRY + Duration::from_secs(1);
        assert!(matches!(
            state.on_tick(later).as_slice(),
            [Effect::Command(PumpCommand::SetPrices(_))]
        ));
        assert_eq!(state.on_tick(later + Duration::from_secs(1)), vec![]);
        state.on_pump_event(&PumpEventKind::StatusChanged(PumpStatus::Completed), later);
        assert_eq!(state.on_tick(now + PRICES_RETRY * 3), vec![]);
    }

    #[test]
    fn new_prices_wait_for_an_idle_pump_and_its_acknowledgement() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Idle);
        authorize(&mut state, 4, now);
        online(&mut state, now, PumpStatus::Filling);
        let new = vec![(NozzleId(1), UnitPrice::new(Decimal::new(90000, 2)))];
        state.pricing.retarget(Some(6), new.clone());
        assert_eq!(state.on_tick(now), vec![], "never mid-dispatch");
        online(&mut state, now, PumpStatus::Completed);
        let effects = state.on_pump_event(&completed(1000, 800000), now);
        let [Effect::RecordSale(record), _] = effects.as_slice() else {
            panic!("expected a sale, got {effects:?}");
        };
        assert_eq!(record.price_set, None, "sold at the configured price");
        assert_eq!(state.on_tick(now), vec![], "not while the sale is written");
        state.sale_recorded(sale(1));
        assert_eq!(
            state.on_tick(now),
            vec![
                Effect::Command(PumpCommand::SetPrices(new.clone())),
                Effect::PriceStep {
                    set: 6,
                    step: PumpStep::Sent
                },
            ]
        );
        let effects = state.on_pump_event(
            &PumpEventKind::CommandAccepted {
                command: PumpCommand::SetPrices(new),
            },
            now,
        );
        assert_eq!(
            effects,
            vec![Effect::PriceStep {
                set: 6,
                step: PumpStep::Confirmed
            }]
        );
        assert!(state.pricing.confirmed);
    }

    #[test]
    fn flow_seen_without_journaled_dispatch_is_still_a_sale() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Filling);
        state.on_pump_event(
            &PumpEventKind::Filling {
                volume: Some(Volume::new(Decimal::new(100, 2))),
                amount: Money::new(Decimal::new(80000, 2)),
            },
            now,
        );
        online(&mut state, now, PumpStatus::Completed);
        let effects = state.on_pump_event(&completed(1000, 800000), now);
        assert!(matches!(effects.as_slice(), [Effect::RecordSale(r), _] if r.dispatch.is_none()));
    }
}
