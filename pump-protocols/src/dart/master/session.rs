//! One pump as the master sees it: link bookkeeping (misses, TX#s, queue) and the
//! application view built from its DC transactions (docs/protocols/dart.md §5.4–§5.6, §6).
//!
//! Owns the translation of DC1/DC2/DC3/DC5/DC101 into neutral [`PumpEvent`]s, the session
//! reset when a pump comes back, and the end-of-sale rule (§6.7): a pump entering FILLING
//! COMPLETED or MAX REACHED is asked for its filling information, and the DC2 + DC3 that
//! answer give exactly one [`PumpEventKind::TransactionCompleted`]. It also watches
//! acknowledged requests for the answers that prove them applied (§3.4: an ACK may
//! answer what the pump took for a retransmission), asking again or reporting
//! `NotApplied`, and pairs the two DC101 of a totals request. It never touches the line
//! and never decides when to talk: the scheduler in [`super`] does.

use std::collections::VecDeque;
use std::time::Instant;

use super::command::{Origin, QueuedBlock};
use super::confirm::{Confirmations, Policy};
use crate::dart::app::{alarm_description, dart_status_to_model, Nozio, PumpTransaction};
use crate::dart::DartStatus;
use crate::model::{
    CommandFailure, CompletedTransaction, CompletionReason, PumpCommand, PumpEvent, PumpEventKind,
    PumpSetup, PumpStatus, Totals,
};
use crate::units::{Money, NozzleId, UnitPrice, Volume};

/// EOT answers after an acknowledged RETURN FILLING INFORMATION without its DC2, after
/// which the master asks again. A head may need a poll or two to prepare the answer
/// (§4.1 notes seconds of lag after CD5), so one EOT is not yet a refusal.
pub const INFO_PATIENCE_EOTS: u32 = 3;

/// The DC2 and DC3 collected since a RETURN FILLING INFORMATION was acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct InfoAnswer {
    dc2: Option<(u32, u32)>,
    dc3: Option<(u32, Nozio)>,
    eots: u32,
}

/// The nozzle as last reported to the daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct NozzleView {
    selected: u8,
    out: bool,
}

/// Where events go, stamped with the `now` of the call that produced them.
pub(super) struct Sink<'a> {
    pub events: &'a mut VecDeque<PumpEvent>,
    pub now: Instant,
}

/// One pump on the line.
#[derive(Debug, Clone)]
pub(super) struct PumpLink {
    pub setup: PumpSetup,
    /// True from the first answer of a session until the pump is declared offline.
    pub online: bool,
    /// Consecutive exchanges without a valid answer.
    pub misses: u32,
    /// When the pump last gave a valid answer.
    pub last_heard: Option<Instant>,
    /// When an exchange with the pump last started.
    pub last_attempt: Option<Instant>,
    /// The master's TX# for its next block to this pump (§3.4).
    pub tx_out: u8,
    /// The TX# and payload of the last pump block accepted this session (§3.4
    /// duplicates: a retransmission repeats both).
    pub last_rx: Option<(u8, Vec<u8>)>,
    /// Command blocks, the head one in flight once started.
    pub queue: VecDeque<QueuedBlock>,
    /// The last DC1 this session; `None` until the first.
    dart_status: Option<DartStatus>,
    /// The status last reported to the daemon.
    pub reported: PumpStatus,
    nozzle: NozzleView,
    /// The last non-zero nozzle selection seen this session.
    last_selected: u8,
    /// The last DC3 this session.
    last_dc3: Option<(u32, Nozio)>,
    /// The last running figures reported while filling.
    last_filling: Option<(u32, u32)>,
    /// An end of sale waiting for its figures.
    completion: Option<CompletionReason>,
    /// Collecting the answer to an acknowledged RETURN FILLING INFORMATION.
    info: Option<InfoAnswer>,
    /// End-of-sale requests sent for the armed completion.
    info_rounds: u32,
    /// TX# of the last master block the pump acknowledged this session: the pump takes a
    /// new block with that TX# for a retransmission (§3.4), so none is sent with it.
    pub last_acked: Option<u8>,
    /// Acknowledged requests waiting for the answers that show them applied.
    confirm: Confirmations,
}

impl PumpLink {
    pub(super) fn new(setup: PumpSetup) -> Self {
        Self {
            setup,
            online: false,
            misses: 0,
            last_heard: None,
            last_attempt: None,
            tx_out: 0,
            last_rx: None,
            queue: VecDeque::new(),
            dart_status: None,
            reported: PumpStatus::Offline,
            nozzle: NozzleView::default(),
            last_selected: 0,
            last_dc3: None,
            last_filling: None,
            completion: None,
            info: None,
            info_rounds: 0,
            last_acked: None,
            confirm: Confirmations::default(),
        }
    }

    fn emit(&self, sink: &mut Sink<'_>, kind: PumpEventKind) {
        sink.events.push_back(PumpEvent {
            pump: self.setup.address,
            at: sink.now,
            kind,
        });
    }

    /// The last DC1 of this session.
    pub(super) fn dart_status(&self) -> Option<DartStatus> {
        self.dart_status
    }

    /// Commands from the daemon waiting or in flight.
    pub(super) fn user_blocks(&self) -> usize {
        self.queue
            .iter()
            .filter(|b| matches!(b.origin, Origin::User(_)))
            .count()
    }

    /// The block to send on this pump's turn, if any.
    ///
    /// The queue always reads `[started block] [master's own blocks] [daemon commands]`.
    /// A started block goes first whatever it is: it owns the TX# in use. Daemon commands
    /// wait while a finished sale's figures are outstanding, so they cannot change them
    /// before they are read (a RESET zeroes the DC2).
    pub(super) fn sendable(&mut self) -> Option<&mut QueuedBlock> {
        if !self.head_sendable() {
            return None;
        }
        self.queue.front_mut()
    }

    /// Whether the head block may go out now (see [`Self::sendable`]).
    fn head_sendable(&self) -> bool {
        let hold = self.completion.is_some();
        self.queue.front().is_some_and(|head| {
            !(hold && !head.started() && matches!(head.origin, Origin::User(_)))
        })
    }

    /// True while the pump has a block to send or an acknowledged request whose answer
    /// has not come: worth another exchange at once rather than a cycle later.
    pub(super) fn has_work(&self) -> bool {
        self.online && (self.head_sendable() || self.info.is_some() || self.confirm.waiting())
    }

    /// Busy in the master's judgement (a dispatch authorized, running or suspended, or
    /// a finished sale whose figures are not read yet) with nothing on the wire waiting
    /// for its resend: such a pump may take an extra turn.
    pub(super) fn busy(&self) -> bool {
        self.online
            && (self.reported.is_authorized_dispatch() || self.completion.is_some())
            && !self.queue.front().is_some_and(QueuedBlock::started)
    }

    /// The block an exchange of an extra turn may send: only the master's own end-of-sale
    /// request, and only before its first transmission. A started block (a resend, with
    /// its TX#) and the daemon's commands wait for the pump's ordinary turn.
    pub(super) fn extra_sendable(&mut self) -> Option<&mut QueuedBlock> {
        self.queue
            .front_mut()
            .filter(|b| !b.started() && b.origin == Origin::CompletionInfo)
    }

    /// Work worth another exchange of an extra turn: an end-of-sale request to send, or
    /// an acknowledged request whose answer has not come.
    pub(super) fn has_extra_work(&self) -> bool {
        let info_due = self
            .queue
            .front()
            .is_some_and(|b| !b.started() && b.origin == Origin::CompletionInfo);
        self.online && (info_due || self.info.is_some() || self.confirm.waiting())
    }

    /// Puts one of the master's own blocks ahead of the daemon's commands, behind a block
    /// already on the wire (which keeps its TX# and retries).
    fn push_internal(&mut self, block: QueuedBlock) {
        let at = usize::from(self.queue.front().is_some_and(QueuedBlock::started));
        self.queue.insert(at, block);
    }

    /// A valid answer arrived. Returns true when it opens a fresh session (§6.6): the
    /// pump was offline or never heard, so it may have restarted and its TX# with it.
    pub(super) fn heard(&mut self, now: Instant) -> bool {
        self.last_heard = Some(now);
        self.misses = 0;
        if self.online {
            return false;
        }
        self.online = true;
        self.tx_out = 0;
        self.last_acked = None;
        self.confirm = Confirmations::default();
        self.last_rx = None;
        self.dart_status = None;
        self.last_selected = 0;
        self.last_dc3 = None;
        self.last_filling = None;
        self.completion = None;
        self.info = None;
        self.info_rounds = 0;
        self.queue.clear();
        self.queue.push_back(QueuedBlock::session());
        true
    }

    /// Declares the pump offline: reports it once, fails the daemon's commands.
    pub(super) fn go_offline(&mut self, sink: &mut Sink<'_>) {
        self.online = false;
        if self.reported != PumpStatus::Offline {
            self.reported = PumpStatus::Offline;
            self.emit(sink, PumpEventKind::StatusChanged(PumpStatus::Offline));
        }
        // A resent request is reported through its waiting answer below, once.
        let unanswered = self.confirm.drop_all();
        let queued = std::mem::take(&mut self.queue)
            .into_iter()
            .filter_map(|block| match block.origin {
                Origin::User(command) => Some(command),
                _ => None,
            });
        for command in queued.chain(unanswered).collect::<Vec<_>>() {
            self.emit(
                sink,
                PumpEventKind::CommandFailed {
                    command,
                    failure: CommandFailure::PumpOffline,
                },
            );
        }
        self.completion = None;
        self.info = None;
    }

    /// The head block, sent with `tx`, was acknowledged (§3.4: the link-level
    /// confirmation only). Reports a daemon's command as accepted and starts waiting for
    /// the answers that show it applied.
    pub(super) fn block_acked(&mut self, tx: u8, sink: &mut Sink<'_>) {
        self.last_acked = Some(tx);
        let Some(block) = self.queue.pop_front() else {
            return;
        };
        if block.requests_info {
            self.info = Some(InfoAnswer::default());
        }
        if let Origin::User(command) = &block.origin {
            self.emit(
                sink,
                PumpEventKind::CommandAccepted {
                    command: command.clone(),
                },
            );
        }
        self.confirm.acked(block, self.dart_status);
    }

    /// The TX# to use instead of `tx` for a block the pump has not accepted: never the
    /// last one it acknowledged, which it would take for a retransmission (§3.4).
    pub(super) fn fresh_tx(&self, tx: u8, wrap: crate::dart::TxWrap) -> u8 {
        if self.last_acked == Some(tx) {
            wrap.next(tx)
        } else {
            tx
        }
    }

    /// The head block failed for good; `retries` bounds the end-of-sale request rounds.
    pub(super) fn block_failed(
        &mut self,
        failure: CommandFailure,
        retries: u32,
        sink: &mut Sink<'_>,
    ) {
        let Some(block) = self.queue.pop_front() else {
            return;
        };
        let refused = failure == CommandFailure::Rejected;
        if matches!(block.origin, Origin::Again(_) | Origin::Session) {
            self.confirm.resend_failed(&block.origin.command());
        }
        self.emit(
            sink,
            PumpEventKind::CommandFailed {
                command: block.origin.command(),
                failure,
            },
        );
        if block.requests_info && self.completion.is_some() && !self.info_requested() {
            // Unacknowledged is not refused: the pump may well have taken the request and
            // queued its figures while every ACK was lost, so it is asked again, a round at
            // a time as for an answer that never comes (`on_eot`).
            if block.origin == Origin::CompletionInfo && (refused || self.info_rounds > retries) {
                // The pump takes no end-of-sale request: give up on this completion; it is
                // reported again in the next session if the pump still shows it.
                self.completion = None;
            } else {
                self.request_info();
            }
        }
    }

    /// True while a block asking for filling information is in flight or queued ahead of
    /// the held daemon commands.
    fn info_requested(&self) -> bool {
        self.queue
            .iter()
            .any(|b| b.requests_info && (b.started() || !matches!(b.origin, Origin::User(_))))
    }

    fn request_info(&mut self) {
        self.info_rounds += 1;
        self.push_internal(QueuedBlock::completion_info());
    }

    /// The pump answered a POLL with EOT: it has nothing more to say. Only an EOT of an
    /// ordinary turn (`counted`) counts against the patience with an unanswered request:
    /// patience is counted in cycles of the line (`apply_patience`, [`INFO_PATIENCE_EOTS`]),
    /// and a busy pump's extra turns would spend it several times a cycle, giving up on a
    /// slow head's answer (§4.1: seconds of lag) sooner than the setting says.
    pub(super) fn on_eot(&mut self, policy: Policy, counted: bool, sink: &mut Sink<'_>) {
        if counted {
            self.await_applications(policy, sink);
        }
        let retries = policy.retries;
        let Some(mut answer) = self.info else {
            return;
        };
        if answer.dc2.is_some() && answer.dc3.is_none() && self.last_dc3.is_some() {
            // The DC3 did not come with the DC2: the session's last DC3 has the same price
            // and nozzle (a pump sends DC3 on every nozzle and status change).
            answer.dc3 = self.last_dc3;
            self.info = Some(answer);
            self.try_complete(sink);
            return;
        }
        if !counted {
            return;
        }
        answer.eots += 1;
        self.info = Some(answer);
        if answer.eots < INFO_PATIENCE_EOTS {
            return;
        }
        self.info = None;
        if self.completion.is_none() || self.info_requested() {
            return;
        }
        if self.info_rounds > retries {
            self.completion = None;
            self.emit(
                sink,
                PumpEventKind::CommandFailed {
                    command: PumpCommand::ReturnFillingInfo,
                    failure: CommandFailure::NoAnswer,
                },
            );
        } else {
            self.request_info();
        }
    }

    /// An EOT for every acknowledged request still without its answer: ask again with a
    /// new TX#, or give up, once patience runs out.
    fn await_applications(&mut self, policy: Policy, sink: &mut Sink<'_>) {
        let (resends, failed) = self.confirm.on_eot(policy);
        for block in resends {
            self.push_internal(block);
        }
        for command in failed {
            self.emit(
                sink,
                PumpEventKind::CommandFailed {
                    command,
                    failure: CommandFailure::NotApplied,
                },
            );
        }
    }

    /// Applies the transactions of one accepted pump block, in order (§5.1).
    pub(super) fn apply(&mut self, transactions: Vec<PumpTransaction>, sink: &mut Sink<'_>) {
        for transaction in transactions {
            match transaction {
                PumpTransaction::Status(status) => self.on_status(status, sink),
                PumpTransaction::FilledVolumeAmount { volume, amount } => {
                    self.on_dc2(volume, amount, sink)
                }
                PumpTransaction::NozzleStatus { price, nozio } => self.on_dc3(price, nozio, sink),
                PumpTransaction::Alarm(code) => self.emit(
                    sink,
                    PumpEventKind::Alarm {
                        code,
                        description: alarm_description(code),
                    },
                ),
                PumpTransaction::TotalCounters {
                    coun,
                    totval,
                    totm1,
                    ..
                } => self.on_totals(coun, totval, totm1, sink),
                // Identity, suspend/resume replies, prices and unknown TRANS carry nothing
                // the neutral model reports; DC1 confirms suspend and resume.
                _ => {}
            }
        }
    }

    fn on_status(&mut self, status: DartStatus, sink: &mut Sink<'_>) {
        if matches!(status, DartStatus::Unknown(_)) {
            return;
        }
        let previous = self.dart_status.replace(status);
        self.confirm.on_status(status);
        let ended = matches!(
            status,
            DartStatus::FillingCompleted | DartStatus::MaxReached
        );
        // A sale ends when a dispatch status gives way to 5 or 6, or when the session
        // finds the pump there. NOT PROGRAMMED → 5 is prices arriving, and 6 → 5 is the
        // same sale's nozzle going back: neither is a new completion.
        let from_dispatch = matches!(
            previous,
            None | Some(DartStatus::Authorized | DartStatus::Filling | DartStatus::Suspended)
        );
        if ended && from_dispatch {
            self.arm(if status == DartStatus::MaxReached {
                CompletionReason::PresetReached
            } else {
                CompletionReason::Normal
            });
        }
        if !matches!(status, DartStatus::Filling | DartStatus::Suspended) {
            self.last_filling = None;
        }
        self.refresh_status(sink);
    }

    /// Starts waiting for the figures of a finished sale, asking for them unless a
    /// request is already on its way or answered in part.
    fn arm(&mut self, reason: CompletionReason) {
        self.completion = Some(reason);
        self.info_rounds = 0;
        // Figures collected before the pump said it had finished may be running ones:
        // only an answer that has not started yet can be trusted for the final figures.
        let fresh_answer = self
            .info
            .is_some_and(|a| a.dc2.is_none() && a.dc3.is_none());
        if !fresh_answer {
            self.info = None;
            if !self.info_requested() {
                self.request_info();
            }
        }
    }

    fn on_dc2(&mut self, volume: u32, amount: u32, sink: &mut Sink<'_>) {
        let filling = matches!(
            self.dart_status,
            Some(DartStatus::Filling | DartStatus::Suspended)
        );
        if filling && self.last_filling != Some((volume, amount)) {
            self.last_filling = Some((volume, amount));
            let d = self.setup.decimals;
            self.emit(
                sink,
                PumpEventKind::Filling {
                    volume: Some(Volume::from_raw(volume.into(), d.volume)),
                    amount: Money::from_raw(amount.into(), d.amount),
                },
            );
        }
        if let Some(answer) = &mut self.info {
            answer.dc2 = Some((volume, amount));
            self.try_complete(sink);
        }
    }

    fn on_dc3(&mut self, price: u32, nozio: Nozio, sink: &mut Sink<'_>) {
        self.last_dc3 = Some((price, nozio));
        if nozio.nozzle() != 0 {
            self.last_selected = nozio.nozzle();
        }
        let old = self.nozzle;
        let new = NozzleView {
            selected: nozio.nozzle(),
            out: nozio.is_out(),
        };
        self.nozzle = new;
        if new.out && (!old.out || old.selected != new.selected) {
            let nozzle = NozzleId(new.selected);
            self.emit(
                sink,
                PumpEventKind::NozzleUp {
                    nozzle,
                    grade: self.setup.grade_of(nozzle),
                    unit_price: Some(UnitPrice::from_raw(price.into(), self.setup.decimals.price)),
                },
            );
        } else if old.out && !new.out {
            let hung = if new.selected != 0 {
                new.selected
            } else {
                old.selected
            };
            self.emit(
                sink,
                PumpEventKind::NozzleDown {
                    nozzle: NozzleId(hung),
                },
            );
        }
        self.refresh_status(sink);
        if let Some(answer) = &mut self.info {
            answer.dc3 = Some((price, nozio));
            self.try_complete(sink);
        }
    }

    /// Reports the neutral status when DC1 or the nozzle changed it.
    fn refresh_status(&mut self, sink: &mut Sink<'_>) {
        let Some(status) = self.dart_status else {
            return;
        };
        if let Some(model) = dart_status_to_model(status, self.nozzle.out) {
            if model != self.reported {
                self.reported = model;
                self.emit(sink, PumpEventKind::StatusChanged(model));
            }
        }
    }

    /// Once the answer holds a DC2 and a DC3: reports the armed completion, once.
    fn try_complete(&mut self, sink: &mut Sink<'_>) {
        let Some(InfoAnswer {
            dc2: Some((volume, amount)),
            dc3: Some((price, nozio)),
            ..
        }) = self.info
        else {
            return;
        };
        self.info = None;
        let Some(reason) = self.completion.take() else {
            return;
        };
        // The pump may report no selection once the nozzle is back (dart.md C shows
        // NOZIO 00 with DC1 5); the session's last selection is then the nozzle used.
        let nozzle = NozzleId(if nozio.nozzle() != 0 {
            nozio.nozzle()
        } else {
            self.last_selected
        });
        let d = self.setup.decimals;
        self.emit(
            sink,
            PumpEventKind::TransactionCompleted(CompletedTransaction {
                nozzle,
                grade: self.setup.grade_of(nozzle),
                volume: Volume::from_raw(volume.into(), d.volume),
                amount: Money::from_raw(amount.into(), d.amount),
                unit_price: UnitPrice::from_raw(price.into(), d.price),
                reason,
            }),
        );
    }

    /// DC101 (§5.6): one `Totals` once both halves of a request have come.
    fn on_totals(&mut self, coun: u8, totval: u64, totm1: Option<u64>, sink: &mut Sink<'_>) {
        let Some(read) = self.confirm.on_dc101(coun, totval, totm1) else {
            return;
        };
        let d = self.setup.decimals;
        let nozzle = NozzleId(read.nozzle);
        self.emit(
            sink,
            PumpEventKind::Totals(Totals {
                nozzle,
                grade: self.setup.grade_of(nozzle),
                volume: Some(Volume::from_raw(read.volume, d.volume)),
                amount: Some(Money::from_raw(read.amount, d.amount)),
                fillings: read.fillings,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{BusAddress, Decimals, GradeId};

    fn link() -> PumpLink {
        let mut link = PumpLink::new(PumpSetup {
            address: BusAddress(0x50),
            decimals: Decimals::default(),
            nozzles: vec![(NozzleId(1), GradeId(1))],
        });
        assert!(link.heard(Instant::now()), "first answer opens a session");
        assert!(!link.heard(Instant::now()), "later answers do not");
        let mut events = VecDeque::new();
        let mut sink = Sink {
            events: &mut events,
            now: Instant::now(),
        };
        link.block_acked(0, &mut sink);
        link
    }

    fn feed(link: &mut PumpLink, transactions: Vec<PumpTransaction>) -> Vec<PumpEventKind> {
        let mut events = VecDeque::new();
        let mut sink = Sink {
            events: &mut events,
            now: Instant::now(),
        };
        link.apply(transactions, &mut sink);
        events.into_iter().map(|e| e.kind).collect()
    }

    #[test]
    fn which_entries_into_5_and_6_are_sales() {
        use DartStatus::*;
        let cases = [
            (None, FillingCompleted, true),
            (None, MaxReached, true),
            (Some(Authorized), FillingCompleted, true),
            (Some(Filling), FillingCompleted, true),
            (Some(Filling), MaxReached, true),
            (Some(Suspended), FillingCompleted, true),
            (Some(NotProgrammed), FillingCompleted, false),
            (Some(Reset), FillingCompleted, false),
            (Some(MaxReached), FillingCompleted, false),
            (Some(FillingCompleted), FillingCompleted, false),
            (Some(SwitchedOff), FillingCompleted, false),
            (Some(Filling), Reset, false),
        ];
        for (before, after, sale) in cases {
            let mut link = link();
            // The session's own request is answered before the statuses under test.
            link.info = None;
            if let Some(before) = before {
                feed(&mut link, vec![PumpTransaction::Status(before)]);
            }
            // Whatever `before` started is settled: only `after` is judged.
            link.completion = None;
            link.queue.clear();
            feed(&mut link, vec![PumpTransaction::Status(after)]);
            assert_eq!(link.completion.is_some(), sale, "{before:?} → {after:?}");
            let asked = link
                .queue
                .iter()
                .any(|b| b.origin == Origin::CompletionInfo);
            assert_eq!(asked, sale, "{before:?} → {after:?} asks for figures");
        }
    }

    #[test]
    fn only_eots_of_ordinary_turns_spend_the_patience_with_an_unanswered_request() {
        let mut link = link();
        assert!(
            link.info.is_some(),
            "the session's own request is acknowledged"
        );
        let policy = Policy {
            retries: 3,
            patience: 10,
        };
        let mut events = VecDeque::new();
        let mut sink = Sink {
            events: &mut events,
            now: Instant::now(),
        };
        for _ in 0..2 * INFO_PATIENCE_EOTS {
            link.on_eot(policy, false, &mut sink);
        }
        assert!(link.info.is_some(), "extra turns' EOTs spend no patience");
        for _ in 0..INFO_PATIENCE_EOTS {
            link.on_eot(policy, true, &mut sink);
        }
        assert!(link.info.is_none(), "ordinary turns' EOTs do");
    }

    #[test]
    fn unknown_status_codes_change_nothing() {
        let mut link = link();
        feed(&mut link, vec![PumpTransaction::Status(DartStatus::Reset)]);
        assert_eq!(link.reported, PumpStatus::Idle);
        let events = feed(
            &mut link,
            vec![PumpTransaction::Status(DartStatus::Unknown(3))],
        );
        assert!(events.is_empty());
        assert_eq!(link.dart_status(), Some(DartStatus::Reset));
    }

    #[test]
    fn running_figures_are_reported_only_while_filling_and_when_they_move() {
        let mut link = link();
        link.info = None;
        let dc2 = |volume, amount| PumpTransaction::FilledVolumeAmount { volume, amount };
        assert!(feed(
            &mut link,
            vec![PumpTransaction::Status(DartStatus::Authorized), dc2(5, 7)]
        )
        .iter()
        .all(|e| !matches!(e, PumpEventKind::Filling { .. })));
        let events = feed(
            &mut link,
            vec![
                PumpTransaction::Status(DartStatus::Filling),
                dc2(5, 7),
                dc2(5, 7),
                dc2(6, 9),
            ],
        );
        let fillings = events
            .iter()
            .filter(|e| matches!(e, PumpEventKind::Filling { .. }))
            .count();
        assert_eq!(fillings, 2);
    }
}
