//! One pump as a Gilbarco master sees it: link bookkeeping (misses, the command queue)
//! and the application view built from its status nibbles, sale data and totals
//! (docs/protocols/gilbarco.md §3, §4).
//!
//! Owns the translation into neutral [`PumpEvent`]s, the choice of what to ask the pump
//! next, and the end-of-sale rule: a pump found in PEOT or FEOT that was not there at the
//! previous answer of this session (or at the first answer of a session) has its
//! transaction read, which gives exactly one [`PumpEventKind::TransactionCompleted`] with
//! the pump's own figures. It never touches the line: the scheduler in [`super`] does.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rust_decimal::RoundingStrategy;

use crate::gilbarco::check::{Action, MAX_GRADES};
use crate::gilbarco::command::{state_to_model, PumpId, PumpState};
use crate::gilbarco::controller_blocks::{ControllerBlock, PresetBlock, PresetKind};
use crate::gilbarco::pump_blocks::{GradeTotals, TransactionData};
use crate::gilbarco::PriceLevel;
use crate::model::{
    CommandFailure, CompletedTransaction, CompletionReason, PumpCommand, PumpEvent, PumpEventKind,
    PumpSetup, PumpStatus, Totals,
};
use crate::units::{Decimals, Money, NozzleId, UnitPrice, Volume};

/// Where events go, stamped with the `now` of the call that produced them.
pub(super) struct Sink<'a> {
    pub events: &'a mut VecDeque<PumpEvent>,
    pub now: Instant,
}

/// What one exchange with a pump does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `0p`; `user` when it answers the daemon's `ReturnStatus`.
    Poll { user: bool },
    /// `2p`, waiting for `Dp`.
    DataNext,
    /// `0p` after a data block: accepted or data error.
    Confirm,
    /// `1p`, no reply.
    Authorize,
    /// `3p`, no reply.
    Stop,
    /// `4p`: the transaction of a finished sale.
    ReadTransaction,
    /// `5p`, keeping this grade index.
    ReadTotals(u8),
    /// `6p`; `user` when it answers the daemon's `ReturnFillingInfo`.
    ReadMoney { user: bool },
}

/// A command of the daemon in progress.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub command: PumpCommand,
    pub actions: VecDeque<Action>,
    /// Failed attempts of the current action.
    pub failures: u32,
    /// The data block of the head action is on its way: `0p` tells whether it was taken.
    pub block_sent: bool,
}

/// What the current dispatch was authorized with, for the completion's reason and the
/// live volume.
#[derive(Debug, Clone, Copy, Default)]
struct Dispatch {
    preset: Option<PresetBlock>,
}

/// One pump on the loop.
#[derive(Debug, Clone)]
pub(super) struct PumpLink {
    pub setup: PumpSetup,
    pub id: PumpId,
    /// True from the first answer of a session until the pump is declared offline.
    pub online: bool,
    /// Consecutive exchanges without a valid answer.
    pub misses: u32,
    /// When the pump last gave a valid answer.
    pub last_heard: Option<Instant>,
    /// When an exchange with the pump last started.
    pub last_attempt: Option<Instant>,
    /// The daemon's commands, the head one in progress.
    pub jobs: VecDeque<Job>,
    /// The last state of this session; `None` until the first.
    state: Option<PumpState>,
    /// The status last reported to the daemon.
    pub reported: PumpStatus,
    nozzle_up: bool,
    /// The pump went from its end of sale straight to call: the customer still holds the
    /// nozzle of the sale just read, which is over, not a new call (see `on_state`).
    sale_in_hand: bool,
    /// A finished sale waiting to be read, with the failed reads so far.
    completion: Option<u32>,
    /// A sale ended this session and its read was given up: evidence that the pump's last
    /// transaction is one not reported yet.
    unread: bool,
    last_money_read: Option<Instant>,
    /// The last exchange the pump's own schedule chose was a real-time money read: the
    /// next one polls the status, so a loop whose cycle is longer than the money interval
    /// still hears the end of a sale.
    money_read_last: bool,
    last_money: Option<u64>,
    dispatch: Dispatch,
    /// Level-1 prices, raw, per grade index: programmed by this master or read with the
    /// totals.
    prices: [Option<u64>; MAX_GRADES as usize],
}

impl PumpLink {
    pub(super) fn new(setup: PumpSetup, id: PumpId) -> Self {
        Self {
            setup,
            id,
            online: false,
            misses: 0,
            last_heard: None,
            last_attempt: None,
            jobs: VecDeque::new(),
            state: None,
            reported: PumpStatus::Offline,
            nozzle_up: false,
            sale_in_hand: false,
            completion: None,
            unread: false,
            last_money_read: None,
            money_read_last: false,
            last_money: None,
            dispatch: Dispatch::default(),
            prices: [None; MAX_GRADES as usize],
        }
    }

    fn emit(&self, sink: &mut Sink<'_>, kind: PumpEventKind) {
        sink.events.push_back(PumpEvent {
            pump: self.setup.address,
            at: sink.now,
            kind,
        });
    }

    /// A valid answer arrived. Opens a fresh session when the pump was offline or never
    /// heard: its state is learnt again, so a sale it shows is read.
    pub(super) fn heard(&mut self, now: Instant) {
        self.last_heard = Some(now);
        self.misses = 0;
        if self.online {
            return;
        }
        self.online = true;
        self.unread = false;
        self.state = None;
        self.nozzle_up = false;
        self.completion = None;
        self.last_money = None;
        self.last_money_read = None;
        self.dispatch = Dispatch::default();
    }

    /// Declares the pump offline: reports it once, fails the daemon's commands.
    pub(super) fn go_offline(&mut self, sink: &mut Sink<'_>) {
        self.online = false;
        if self.reported != PumpStatus::Offline {
            self.reported = PumpStatus::Offline;
            self.emit(sink, PumpEventKind::StatusChanged(PumpStatus::Offline));
        }
        for job in std::mem::take(&mut self.jobs) {
            self.emit(
                sink,
                PumpEventKind::CommandFailed {
                    command: job.command,
                    failure: CommandFailure::PumpOffline,
                },
            );
        }
        self.completion = None;
    }

    /// True while the pump has a finished sale to read, a command step to carry out or,
    /// after a money read, its status to poll: worth another exchange at once rather than
    /// a cycle later.
    pub(super) fn has_work(&self) -> bool {
        self.online && (self.completion.is_some() || !self.jobs.is_empty() || self.money_read_last)
    }

    /// Busy in the master's judgement (a dispatch authorized, running or suspended, or
    /// a finished sale not read yet) with no data block of a command on its way: such a
    /// pump may take an extra turn.
    pub(super) fn busy(&self) -> bool {
        self.online
            && (self.reported.is_authorized_dispatch() || self.completion.is_some())
            && !self.jobs.front().is_some_and(|j| j.block_sent)
    }

    /// Work worth another exchange of an extra turn: a finished sale to read.
    pub(super) fn has_extra_work(&self) -> bool {
        self.online && self.completion.is_some()
    }

    /// What to do in an extra turn: read a finished sale, else poll the status. Never a
    /// command step: those wait for the pump's ordinary turn, so an extra turn resends
    /// nothing.
    pub(super) fn extra_op(&mut self) -> Op {
        if self.online && self.completion.is_some() {
            return Op::ReadTransaction;
        }
        // The status poll a money read asks for next is this one.
        self.money_read_last = false;
        Op::Poll { user: false }
    }

    /// What to do on this pump's turn.
    pub(super) fn next_op(&mut self, now: Instant, money_interval: Duration) -> Op {
        if !self.online {
            return Op::Poll { user: false };
        }
        if self.jobs.front().is_some_and(|j| j.block_sent) {
            return Op::Confirm;
        }
        // A finished sale is read before any command of the daemon, so none can start a
        // new dispatch on top of unread figures.
        if self.completion.is_some() {
            return Op::ReadTransaction;
        }
        let busy = self.state == Some(PumpState::Busy);
        while let Some(job) = self.jobs.front_mut() {
            match job.actions.front() {
                None => {
                    self.jobs.pop_front();
                }
                Some(Action::SendBlock(_)) => return Op::DataNext,
                Some(Action::Authorize) => return Op::Authorize,
                Some(Action::Stop) => return Op::Stop,
                Some(Action::ReadTotals(g)) => return Op::ReadTotals(*g),
                Some(Action::Status) => return Op::Poll { user: true },
                Some(Action::FillingInfo) if busy => return Op::ReadMoney { user: true },
                Some(Action::FillingInfo) => {
                    job.actions.pop_front();
                    // A sale the pump still shows, or whose read was given up this
                    // session, is read on request: the pump answers `4p` with its last
                    // sale until the next one starts.
                    if self.state.is_some_and(PumpState::is_end_of_sale) || self.unread {
                        self.completion = Some(0);
                        return Op::ReadTransaction;
                    }
                }
            }
        }
        let money_due = self
            .last_money_read
            .is_none_or(|t| now >= t + money_interval);
        if busy && money_due && !self.money_read_last {
            self.money_read_last = true;
            return Op::ReadMoney { user: false };
        }
        self.money_read_last = false;
        Op::Poll { user: false }
    }

    /// The data block the head job sends next.
    pub(super) fn block_to_send(&self) -> Option<&ControllerBlock> {
        match self.jobs.front()?.actions.front()? {
            Action::SendBlock(block) => Some(block),
            _ => None,
        }
    }

    /// The head job's current action is done.
    pub(super) fn action_done(&mut self) {
        let Some(job) = self.jobs.front_mut() else {
            return;
        };
        job.failures = 0;
        job.block_sent = false;
        match job.actions.pop_front() {
            Some(Action::SendBlock(ControllerBlock::PriceChange {
                level: PriceLevel::One,
                grade,
                ppu,
                ..
            })) => {
                if let Some(slot) = self.prices.get_mut(usize::from(grade)) {
                    *slot = Some(ppu);
                }
            }
            Some(Action::SendBlock(ControllerBlock::Preset(preset))) => {
                self.dispatch.preset = Some(preset);
            }
            // An authorization without a preset block of its own clears the last one.
            Some(Action::Authorize) if !matches!(job.command, PumpCommand::Authorize(ref a) if a.preset.is_some()) =>
            {
                self.dispatch.preset = None;
            }
            _ => {}
        }
        if job.actions.is_empty() {
            self.jobs.pop_front();
        }
    }

    /// The pump took the data block the head job sent. A price change whose last block
    /// was taken is reported accepted: the loop has no other acknowledgement of it, and
    /// the daemon confirms a pump's new prices by it.
    pub(super) fn block_taken(&mut self, sink: &mut Sink<'_>) {
        let finishing = self
            .jobs
            .front()
            .filter(|job| job.actions.len() == 1)
            .map(|job| job.command.clone());
        self.action_done();
        if let Some(command @ PumpCommand::SetPrices(_)) = finishing {
            self.emit(sink, PumpEventKind::CommandAccepted { command });
        }
    }

    /// An attempt of `op` failed; after `retries` more the command (or the sale read)
    /// fails for good. True when it is tried again.
    pub(super) fn attempt_failed(
        &mut self,
        op: Op,
        failure: CommandFailure,
        retries: u32,
        sink: &mut Sink<'_>,
    ) -> bool {
        match op {
            Op::ReadTransaction => {
                let Some(failures) = self.completion.as_mut() else {
                    return false;
                };
                *failures += 1;
                if *failures > retries {
                    // Given up until the daemon asks for it or the next session finds the
                    // pump still showing it.
                    self.completion = None;
                    self.unread = true;
                    self.emit(
                        sink,
                        PumpEventKind::CommandFailed {
                            command: PumpCommand::ReturnFillingInfo,
                            failure,
                        },
                    );
                    return false;
                }
                true
            }
            Op::Poll { user: false } | Op::ReadMoney { user: false } => false,
            Op::Poll { user: true }
            | Op::DataNext
            | Op::Confirm
            | Op::ReadTotals(_)
            | Op::ReadMoney { user: true }
            | Op::Authorize
            | Op::Stop => {
                let Some(job) = self.jobs.front_mut() else {
                    return false;
                };
                job.block_sent = false;
                job.failures += 1;
                if job.failures > retries {
                    self.fail_job(failure, sink);
                    return false;
                }
                true
            }
        }
    }

    /// The head command fails as a whole: the rest of it goes too, so no authorize is
    /// sent without its preset.
    pub(super) fn fail_job(&mut self, failure: CommandFailure, sink: &mut Sink<'_>) {
        if let Some(job) = self.jobs.pop_front() {
            self.emit(
                sink,
                PumpEventKind::CommandFailed {
                    command: job.command,
                    failure,
                },
            );
        }
    }

    /// A status byte from the pump; `force` reports the status even when unchanged.
    pub(super) fn on_state(&mut self, state: PumpState, force: bool, sink: &mut Sink<'_>) {
        let Some(model) = state_to_model(state) else {
            // Data error and ready-for-data say nothing of the dispatch.
            if force && self.reported != PumpStatus::Offline {
                self.emit(sink, PumpEventKind::StatusChanged(self.reported));
            }
            return;
        };
        let previous = self.state.replace(state);
        // Reading a sale takes the pump from its end of sale to call while the nozzle is
        // still in hand (§3): that is the finished sale, not a new call, until the nozzle
        // is hung up or the pump is authorized again. Reported as `Calling` it would make
        // the sale unpayable (in process) until the customer hangs up.
        self.sale_in_hand = state == PumpState::Call
            && (previous.is_some_and(PumpState::is_end_of_sale)
                || (self.sale_in_hand && previous == Some(PumpState::Call)));
        let model = if self.sale_in_hand {
            PumpStatus::Completed
        } else {
            model
        };
        let lifted = matches!(state, PumpState::Call | PumpState::Busy);
        let hung = state == PumpState::Idle || state.is_end_of_sale();
        if lifted && !self.nozzle_up {
            self.nozzle_up = true;
            let nozzle = self.dispatch_nozzle();
            let unit_price = self.dispatch_price().map(|p| self.price(p));
            self.emit(
                sink,
                PumpEventKind::NozzleUp {
                    nozzle,
                    grade: self.setup.grade_of(nozzle),
                    unit_price,
                },
            );
        } else if hung && self.nozzle_up {
            self.nozzle_up = false;
            let nozzle = self.dispatch_nozzle();
            self.emit(sink, PumpEventKind::NozzleDown { nozzle });
        }
        if state.is_end_of_sale() && !previous.is_some_and(PumpState::is_end_of_sale) {
            self.completion = Some(0);
        }
        if state == PumpState::Busy {
            // A new sale replaces the pump's last transaction.
            self.unread = false;
        }
        if state != PumpState::Busy && state != PumpState::Stopped {
            self.last_money = None;
        }
        if state == PumpState::Idle {
            self.dispatch = Dispatch::default();
        }
        if model != self.reported || force {
            self.reported = model;
            self.emit(sink, PumpEventKind::StatusChanged(model));
        }
    }

    fn price(&self, raw: u64) -> UnitPrice {
        UnitPrice::from_raw(raw, self.setup.decimals.price)
    }

    /// The grade this dispatch was limited to, as a nozzle (0 when not known).
    fn dispatch_nozzle(&self) -> NozzleId {
        match self.dispatch.preset.and_then(|p| p.grade) {
            Some(g) => NozzleId(g + 1),
            None if self.setup.nozzles.len() == 1 => self.setup.nozzles[0].0,
            None => NozzleId(0),
        }
    }

    /// The level-1 price this dispatch runs at, when it is known: the grade's when there
    /// is one, else the one price every configured grade has.
    fn dispatch_price(&self) -> Option<u64> {
        let nozzle = self.dispatch_nozzle();
        if nozzle.0 != 0 {
            return self
                .prices
                .get(usize::from(nozzle.0 - 1))
                .copied()
                .flatten();
        }
        let mut prices = self.setup.nozzles.iter().map(|(n, _)| {
            self.prices
                .get(usize::from(n.0.saturating_sub(1)))
                .copied()
                .flatten()
        });
        let first = prices.next().flatten()?;
        prices.all(|p| p == Some(first)).then_some(first)
    }

    /// Real-time money while busy (§4.3): a `Filling` when it moved. The loop carries no
    /// live volume; it is money ÷ price (rounded down) when the price is known (programmed
    /// by this master or read with the totals, and one grade or one price for all), else
    /// unknown (`None`).
    pub(super) fn on_money(&mut self, raw: u64, now: Instant, sink: &mut Sink<'_>) {
        self.last_money_read = Some(now);
        if self.last_money == Some(raw) {
            return;
        }
        self.last_money = Some(raw);
        let d = self.setup.decimals;
        let amount = Money::from_raw(raw, d.amount);
        let volume = self
            .dispatch_price()
            .filter(|&p| p > 0)
            .and_then(|p| amount.value().checked_div(self.price(p).value()))
            .map(|v| {
                Volume::new(v.round_dp_with_strategy(u32::from(d.volume), RoundingStrategy::ToZero))
            });
        self.emit(sink, PumpEventKind::Filling { volume, amount });
    }

    /// The transaction of the finished sale: reported once, with the pump's figures.
    pub(super) fn on_transaction(&mut self, data: &TransactionData, sink: &mut Sink<'_>) {
        if self.completion.take().is_none() {
            return;
        }
        self.unread = false;
        let d = self.setup.decimals;
        let nozzle = NozzleId(data.grade.saturating_add(1));
        let reached = self.dispatch.preset.is_some_and(|p| match p.kind {
            PresetKind::Money => p.value == data.money,
            PresetKind::Volume => p.value == data.volume,
        });
        self.dispatch = Dispatch::default();
        self.last_money = None;
        self.emit(
            sink,
            PumpEventKind::TransactionCompleted(CompletedTransaction {
                nozzle,
                grade: self.setup.grade_of(nozzle),
                volume: Volume::from_raw(data.volume, d.volume),
                amount: Money::from_raw(data.money, d.amount),
                unit_price: UnitPrice::from_raw(data.ppu, d.price),
                reason: if reached {
                    CompletionReason::PresetReached
                } else {
                    CompletionReason::Normal
                },
            }),
        );
    }

    /// A totals block answering `ReadTotals` of grade index `grade`: one `Totals` event
    /// with volume and amount; false when the pump reports no such grade.
    pub(super) fn on_totals(
        &mut self,
        grades: &[GradeTotals],
        grade: u8,
        decimals: Option<Decimals>,
        sink: &mut Sink<'_>,
    ) -> bool {
        let Some(t) = grades.iter().find(|t| t.grade == grade) else {
            return false;
        };
        // The pump's own prices serve the live volume until this master programs others.
        for t in grades {
            if let Some(slot) = self.prices.get_mut(usize::from(t.grade)) {
                if t.ppu_level1 > 0 {
                    *slot = Some(t.ppu_level1);
                }
            }
        }
        let d = decimals.unwrap_or(self.setup.decimals);
        let nozzle = NozzleId(grade + 1);
        self.emit(
            sink,
            PumpEventKind::Totals(Totals {
                nozzle,
                grade: self.setup.grade_of(nozzle),
                volume: Some(Volume::from_raw(t.volume, d.volume)),
                amount: Some(Money::from_raw(t.money, d.amount)),
                fillings: None,
            }),
        );
        true
    }
}
