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
//! - a completion is recorded when this position had an open dispatch (journaled when the
//!   attendant authorized it) or when the daemon saw the fuel flow; a pump that merely
//!   reports its old completed figures after a reconnect is not a new sale.

use std::time::{Duration, Instant};

use pump_protocols::{
    Authorization, BusAddress, CompletedTransaction, GradeId, Money, NozzleId, PositionId, Preset,
    PumpCommand, PumpEventKind, PumpStatus, UnitPrice, Volume,
};

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
    /// Grade and configured price of each nozzle.
    pub nozzles: Vec<NozzlePrice>,
}

/// A nozzle's grade and the price the station sells it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NozzlePrice {
    /// The logical nozzle.
    pub nozzle: NozzleId,
    /// The grade it dispenses.
    pub grade: GradeId,
    /// The configured unit price, programmed into the pump when it asks for prices.
    pub price: UnitPrice,
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
}

/// Running figures of the dispatch in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    /// Volume so far.
    pub volume: Volume,
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
}

/// What the actor must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write the sale to the journal, then call [`PositionState::sale_recorded`].
    RecordSale(SaleToRecord),
    /// A dispatch ended with nothing dispensed: close its journal row.
    CancelDispatch {
        /// The dispatch.
        id: DispatchId,
        /// Why.
        reason: &'static str,
    },
    /// Send a command to the pump.
    Command(PumpCommand),
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
    /// True once fuel was seen flowing (or the pump was seen authorized) for the current
    /// dispatch, so its completion is a new sale even without a journaled dispatch.
    pub witnessed: bool,
    /// A completion is being written to the journal.
    pub recording: bool,
    /// The last attempt to write that completion failed; the actor retries it.
    pub record_failed: bool,
    /// Sales of this position waiting for payment, oldest first.
    pub payable: Vec<Sale>,
    /// When prices were last sent to a pump that asked for them.
    pub prices_sent_at: Option<Instant>,
}

/// How long a pump may stay NOT PROGRAMMED after its prices were sent before they are
/// sent again. Real heads take seconds to apply a price block (protocols/dart.md §4.1).
pub const PRICES_RETRY: Duration = Duration::from_secs(30);

impl PositionState {
    /// A position whose pump has not answered yet.
    pub fn new(setup: PositionSetup) -> Self {
        Self {
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
                self.pump_status = *status;
                match status {
                    PumpStatus::NotProgrammed => {
                        self.prices_sent_at = Some(at);
                        effects.push(Effect::Command(PumpCommand::SetPrices(self.prices())));
                    }
                    PumpStatus::Authorized | PumpStatus::Filling | PumpStatus::Suspended => {
                        // Seen live (also right after a restart): whatever completes next
                        // is a new sale.
                        self.witnessed = true;
                    }
                    PumpStatus::Offline => {
                        self.running = None;
                    }
                    _ => {}
                }
            }
            PumpEventKind::NozzleUp { nozzle, .. } => self.nozzle_out = Some(*nozzle),
            PumpEventKind::NozzleDown { .. } => self.nozzle_out = None,
            PumpEventKind::Filling { volume, amount } => {
                self.witnessed = true;
                self.running = Some(Running {
                    volume: *volume,
                    amount: *amount,
                });
            }
            PumpEventKind::TransactionCompleted(tx) => {
                self.running = None;
                effects.extend(self.on_completed(tx));
            }
            PumpEventKind::CommandFailed {
                command: PumpCommand::Authorize(_),
                ..
            } if !self.witnessed => {
                // The pump never took the authorization: the dispatch did not start.
                if let Some(id) = self.dispatch.take().and_then(|d| d.id) {
                    effects.push(Effect::CancelDispatch {
                        id,
                        reason: "the pump did not accept the authorization",
                    });
                }
            }
            PumpEventKind::Totals(_)
            | PumpEventKind::Alarm { .. }
            | PumpEventKind::CommandAccepted { .. }
            | PumpEventKind::CommandFailed { .. } => {}
        }
        effects
    }

    fn on_completed(&mut self, tx: &CompletedTransaction) -> Vec<Effect> {
        let new_sale = self.dispatch.is_some() || self.witnessed;
        if !new_sale || self.recording {
            // Old figures re-reported after a reconnect, or a duplicate report of the
            // completion being written: nothing new happened at the pump.
            return Vec::new();
        }
        self.witnessed = false;
        let dispatch = self.dispatch.take();
        if tx.volume.is_zero() && tx.amount.is_zero() {
            return dispatch
                .and_then(|d| d.id)
                .map(|id| Effect::CancelDispatch {
                    id,
                    reason: "completed with nothing dispensed",
                })
                .into_iter()
                .collect();
        }
        self.recording = true;
        let mut transaction = *tx;
        if transaction.grade.is_none() {
            transaction.grade = self.grade_of(transaction.nozzle);
        }
        vec![Effect::RecordSale(SaleToRecord {
            dispatch: dispatch.as_ref().and_then(|d| d.id),
            position: self.setup.position,
            transaction,
            attendant: dispatch.and_then(|d| d.attendant),
        })]
    }

    /// Periodic check at `now`: prices are sent again to a pump that stays NOT PROGRAMMED
    /// [`PRICES_RETRY`] after they were sent, which usually means the configuration does not
    /// price every nozzle of the head.
    pub fn on_tick(&mut self, now: Instant) -> Option<Effect> {
        if self.pump_status != PumpStatus::NotProgrammed {
            self.prices_sent_at = None;
            return None;
        }
        match self.prices_sent_at {
            Some(at) if now.saturating_duration_since(at) >= PRICES_RETRY => {
                self.prices_sent_at = Some(now);
                Some(Effect::Command(PumpCommand::SetPrices(self.prices())))
            }
            // Sent recently, or never (the status event sends them first).
            _ => None,
        }
    }

    /// The journal wrote the sale: it becomes payable.
    pub fn sale_recorded(&mut self, sale: Sale) {
        self.recording = false;
        self.record_failed = false;
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

    /// Records an accepted authorization and returns the command for the pump.
    pub fn authorized(
        &mut self,
        id: Option<DispatchId>,
        attendant: Option<String>,
        preset: Option<Preset>,
    ) -> PumpCommand {
        self.dispatch = Some(ActiveDispatch {
            id,
            attendant,
            preset,
        });
        self.witnessed = false;
        PumpCommand::Authorize(Authorization {
            preset,
            nozzles: Vec::new(),
        })
    }

    /// Checks an attendant's stop request.
    pub fn check_stop(&self) -> Result<PumpCommand, RequestRefused> {
        if self.pump_status.is_dispatch_in_progress() || self.dispatch.is_some() {
            Ok(PumpCommand::Stop)
        } else {
            Err(RequestRefused::NothingToStop(self.setup.position))
        }
    }

    fn prices(&self) -> Vec<(NozzleId, UnitPrice)> {
        self.setup
            .nozzles
            .iter()
            .map(|n| (n.nozzle, n.price))
            .collect()
    }

    /// What the order endpoint must answer for this position at `now`.
    pub fn order_state(&self, now: Instant) -> OrderState<'_> {
        let silent = match self.last_heard {
            Some(at) => now.saturating_duration_since(at) > self.setup.stale_limit,
            None => true,
        };
        if silent || self.pump_status == PumpStatus::Offline || self.record_failed {
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

/// The order endpoint's decision for a position (DESIGN.md, the endpoint's table).
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
mod tests {
    use super::*;
    use pump_protocols::CompletionReason;
    use rust_decimal::Decimal;

    fn setup() -> PositionSetup {
        PositionSetup {
            position: PositionId(3),
            line: "line1".into(),
            address: BusAddress(0x52),
            stale_limit: Duration::from_secs(3),
            nozzles: vec![NozzlePrice {
                nozzle: NozzleId(1),
                grade: GradeId(2),
                price: UnitPrice::new(Decimal::new(80000, 2)),
            }],
        }
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

    fn sale(id: SaleId) -> Sale {
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
        state.authorized(Some(11), Some("7".into()), None);
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
        let [Effect::RecordSale(record)] = effects.as_slice() else {
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
        state.authorized(Some(3), None, None);
        online(&mut state, now, PumpStatus::Completed);
        let effects = state.on_pump_event(&completed(0, 0), now);
        assert!(matches!(
            effects.as_slice(),
            [Effect::CancelDispatch { id: 3, .. }]
        ));
        assert_eq!(state.order_state(now), OrderState::Unavailable);
    }

    #[test]
    fn refused_authorization_frees_the_position() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Idle);
        let command = state.authorized(Some(9), None, None);
        let effects = state.on_pump_event(
            &PumpEventKind::CommandFailed {
                command,
                failure: pump_protocols::CommandFailure::NoAnswer,
            },
            now,
        );
        assert!(matches!(
            effects.as_slice(),
            [Effect::CancelDispatch { id: 9, .. }]
        ));
        assert_eq!(state.order_state(now), OrderState::Unavailable);
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
            vec![Effect::Command(PumpCommand::SetPrices(vec![(
                NozzleId(1),
                UnitPrice::new(Decimal::new(80000, 2))
            )]))]
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
        assert_eq!(state.on_tick(now), None, "offline: nothing to program");
        let first = state.on_pump_event(
            &PumpEventKind::StatusChanged(PumpStatus::NotProgrammed),
            now,
        );
        assert_eq!(first.len(), 1, "prices sent at once");
        assert_eq!(state.on_tick(now + Duration::from_secs(10)), None);
        let later = now + PRICES_RETRY + Duration::from_secs(1);
        assert!(matches!(
            state.on_tick(later),
            Some(Effect::Command(PumpCommand::SetPrices(_)))
        ));
        assert_eq!(state.on_tick(later + Duration::from_secs(1)), None);
        state.on_pump_event(&PumpEventKind::StatusChanged(PumpStatus::Completed), later);
        assert_eq!(state.on_tick(now + PRICES_RETRY * 3), None);
    }

    #[test]
    fn flow_seen_without_journaled_dispatch_is_still_a_sale() {
        let now = Instant::now();
        let mut state = PositionState::new(setup());
        online(&mut state, now, PumpStatus::Filling);
        state.on_pump_event(
            &PumpEventKind::Filling {
                volume: Volume::new(Decimal::new(100, 2)),
                amount: Money::new(Decimal::new(80000, 2)),
            },
            now,
        );
        online(&mut state, now, PumpStatus::Completed);
        let effects = state.on_pump_event(&completed(1000, 800000), now);
        assert!(matches!(effects.as_slice(), [Effect::RecordSale(r)] if r.dispatch.is_none()));
    }
}
