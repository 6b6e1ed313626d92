//! The Gilbarco master: the controller side of one two-wire loop with up to 16 pumps,
//! sans-IO (docs/protocols/gilbarco.md §2–§6; § numbers below are that document's).
//!
//! [`GilbarcoMaster`] owns the conversation — whose turn it is, what to send, answer
//! deadlines, resends, misses and sessions — and the translation between the loop and the
//! neutral model ([`crate::model`]). It never opens a port, reads a clock or sleeps: the
//! line task feeds bytes and `now` in and takes bytes, events and deadlines out through
//! [`LineMaster`].
//!
//! # Exchanges
//!
//! Half duplex: one command byte at a time, pumps served round-robin in the configured
//! order, [`GilbarcoMasterSettings::poll_interval`] of quiet between exchanges and the
//! read buffer cleared before each. After a valid answer, a pump with a finished sale to
//! read or a command step to carry out keeps the line for another exchange, up to
//! [`GilbarcoMasterSettings::max_turn_exchanges`] in its turn, so the poll that finds
//! the end of a sale and its read take one turn, not two cycles of the loop; a refusal or
//! a miss ends the turn. Per exchange a pump gets, in this order of precedence:
//!
//! ```text
//! the check of a data block it was sent:  M: 0p     P: xp  (taken) | 0p (data error: resend)
//! the read of a finished sale:            M: 4p     P: FF F1 F8 … FB l F0
//! the daemon's next command step:         M: 2p     P: Dp     M: FF DL … FB l F0  (price,
//!                                                                preset; then the check)
//!                                         M: 1p | 3p          (authorize, stop: no reply)
//!                                         M: 5p     P: FF (F6 g F9… FA… F4… F5…)× FB l F0
//! real-time money while busy:             M: 6p     P: Ed Ed Ed Ed Ed Ed
//! otherwise the poll:                     M: 0p     P: Sp
//! ```
//!
//! A scheduled money read is always followed by a status poll (in the same turn, or in
//! the next with one exchange a turn), so a busy pump on a loop whose cycle is longer
//! than [`GilbarcoMasterSettings::money_interval`] still has its end of sale heard.
//!
//! A busy pump (authorized, delivering, or its finished sale unread) with no data block
//! on its way also gets an extra turn after every
//! [`GilbarcoMasterSettings::busy_turn_every`] ordinary turns: a status poll, or the read
//! of a finished sale, never a command step, so nothing is sent twice because of it.
//!
//! A status answer must carry the pump's nibble. An echo of the command byte is skipped
//! (§1); with [`GilbarcoMasterSettings::echo`] off, a lone `0p` answering a `0p` is the
//! pump's data error unless another byte follows it in time (then it was the echo:
//! bytes are counted, not matched, §3). Bytes before a block's STX are skipped. The
//! answer deadline ([`GilbarcoMasterSettings::status_timeout`], `block_timeout`,
//! `totals_timeout`) runs from the end of the command on the wire and is stretched by
//! `block_timeout` after each chunk of an answer that is arriving.
//!
//! # Sessions, misses and offline
//!
//! A miss is an exchange without a valid answer in time (a block with a bad LRC, a status
//! of another pump and a bare echo are misses too). After
//! [`GilbarcoMasterSettings::offline_after_misses`] consecutive misses a pump is
//! `Offline`, its queued commands fail with [`CommandFailure::PumpOffline`], and it is
//! polled every [`GilbarcoMasterSettings::offline_poll_interval`]. The first valid answer
//! starts a fresh session, in which nothing about the pump's state is assumed.
//!
//! # Commands and events
//!
//! [`LineMaster::submit`] translates a command with the pump's decimals (see
//! [`super::check_command`]: what does not fit exactly is refused, never rounded) into
//! steps carried out one per turn. A step without an answer or refused is tried
//! `1 + retries` times, then the command fails as a whole ([`CommandFailure::NoAnswer`] or
//! [`CommandFailure::Rejected`]); an authorize whose preset block failed is never sent.
//! Authorize and stop have no reply: their effect shows in later statuses, as with
//! DART's ACK. A price change whose last data block the pump took is reported
//! `CommandAccepted` (the daemon confirms a pump's new prices by it). Events: status nibbles → `StatusChanged` on change (see
//! [`super::state_to_model`]); call or busy → `NozzleUp`, idle or end of sale →
//! `NozzleDown` (nozzle 0 unless the dispatch was limited to one grade or the pump has
//! one: the loop does not say which nozzle is out); real-time money → `Filling`; a
//! totals block → one `Totals` with volume and amount of the grade asked for.
//!
//! End of sale: a pump found in PEOT or FEOT that was not in either at its previous answer
//! this session (or at the first answer of a session) is read with `4p` before anything
//! else, and the block gives exactly one `TransactionCompleted` with the pump's figures
//! (reason `PresetReached` when they equal the preset sent for this dispatch). A new
//! master, or one whose pump was offline, reports the sale a pump still shows: as for
//! DART, whether it is new is for the daemon to decide, with the totals and its journal.
//! After `1 + retries` failed reads the sale is given up with
//! `CommandFailed { ReturnFillingInfo, .. }` until a later session finds it again.

mod answer;
mod pump;
mod settings;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use settings::{GilbarcoMasterError, GilbarcoMasterSettings};

use self::answer::Answer;
use self::pump::{Job, Op, PumpLink, Sink};
use super::check::plan;
use super::command::{Command, CommandCode, PumpId, PumpState, StatusReply};
use super::controller_blocks::encode_controller;
use super::pump_blocks::{decode_totals, decode_transaction};
use super::stream::{StreamDecoder, MAX_BLOCK_LEN};
use crate::model::{
    CommandFailure, LineMaster, PumpCommand, PumpEvent, PumpEventKind, PumpSetup, SubmitError,
};
use crate::tally::{LineCounters, Tally};
use crate::turns::Turns;
use crate::units::BusAddress;

/// Counters of what the master heard and did on its loop, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Command bytes and data blocks written.
    pub frames_sent: u64,
    /// Bytes dropped as noise: stray bytes, blocks nobody asked for, leftovers cleared
    /// before an exchange.
    pub noise_bytes: u64,
    /// Echoed command bytes skipped.
    pub echoes: u64,
    /// Answers that were wrong: a bad LRC, a broken block, another pump's status.
    pub bad_answers: u64,
    /// Data blocks a pump refused with a data-error status.
    pub data_errors: u64,
    /// Exchanges that ended without an answer in time.
    pub timeouts: u64,
}

/// Where the line is in its exchange cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Quiet; the next exchange may start at `next_at` (`None`: at once).
    Idle { next_at: Option<Instant> },
    /// A command went out to `pump`; its answer is due by `deadline`.
    Awaiting {
        pump: usize,
        op: Op,
        command: u8,
        deadline: Instant,
        /// The latest the deadline may be stretched to while an answer arrives.
        cap: Instant,
        /// The echo of the command was seen (or taken as the pump's `0p`: `held`).
        echo_seen: bool,
        held: Option<u8>,
        /// Real-time money words so far.
        words: Vec<u8>,
    },
    /// A data block to write at once, after `Dp`.
    Sending { pump: usize, bytes: Vec<u8> },
}

/// The Gilbarco master of one loop; see the [module documentation](self).
///
/// ```
/// use std::time::Instant;
/// use pump_protocols::gilbarco::{GilbarcoMaster, GilbarcoMasterSettings};
/// use pump_protocols::{BusAddress, Decimals, GradeId, LineMaster, NozzleId, PumpSetup};
///
/// let pump = PumpSetup {
///     address: BusAddress(16),
///     decimals: Decimals::default(),
///     nozzles: vec![(NozzleId(1), GradeId(95))],
/// };
/// let mut master = GilbarcoMaster::new(GilbarcoMasterSettings::default(), vec![pump])?;
/// // The first turn polls pump 16: status command, nibble 0.
/// assert_eq!(master.poll_transmit(Instant::now()), Some(vec![0x00]));
/// # Ok::<(), pump_protocols::gilbarco::GilbarcoMasterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GilbarcoMaster {
    settings: GilbarcoMasterSettings,
    pumps: Vec<PumpLink>,
    decoder: StreamDecoder,
    line: Line,
    /// A pump that keeps the line: its data block is out and its check comes next.
    sticky: Option<usize>,
    /// Whose turn it is; progress is a valid answer that was no refusal
    /// ([`GilbarcoMasterSettings::max_turn_exchanges`]).
    turns: Turns,
    events: VecDeque<PumpEvent>,
    /// Failures decided in `submit`, which has no `now`, before any time was seen.
    deferred: Vec<(BusAddress, PumpCommand)>,
    last_now: Option<Instant>,
    stats: LineStats,
    tally: Tally,
}

macro_rules! split {
    ($master:ident, $p:expr, $now:expr) => {
        (
            &mut $master.pumps[$p],
            Sink {
                events: &mut $master.events,
                now: $now,
            },
        )
    };
}

impl GilbarcoMaster {
    /// A master for `pumps` (addresses 1..=16), polled in the order given. Refuses
    /// duplicate addresses or nozzles, nozzles outside 1..=10, decimals wider than the
    /// fields and out-of-range settings.
    pub fn new(
        settings: GilbarcoMasterSettings,
        pumps: Vec<PumpSetup>,
    ) -> Result<Self, GilbarcoMasterError> {
        settings::validate(&settings, &pumps)?;
        let mut links = Vec::with_capacity(pumps.len());
        for setup in pumps {
            let id = PumpId::from_address(setup.address)
                .ok_or(GilbarcoMasterError::AddressOutOfRange(setup.address))?;
            links.push(PumpLink::new(setup, id));
        }
        Ok(Self {
            settings,
            pumps: links,
            decoder: StreamDecoder::new(),
            line: Line::Idle { next_at: None },
            sticky: None,
            turns: Turns::default(),
            events: VecDeque::new(),
            deferred: Vec::new(),
            last_now: None,
            stats: LineStats::default(),
            tally: Tally::default(),
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &GilbarcoMasterSettings {
        &self.settings
    }

    /// What the master has heard and done so far.
    pub fn stats(&self) -> LineStats {
        self.stats
    }

    /// The status last reported for `pump`.
    pub fn status(&self, pump: BusAddress) -> Option<crate::model::PumpStatus> {
        self.index(pump).map(|p| self.pumps[p].reported)
    }

    /// Whether `pump` is in a session (answered, not declared offline since).
    pub fn is_online(&self, pump: BusAddress) -> Option<bool> {
        self.index(pump).map(|p| self.pumps[p].online)
    }

    /// Commands of the daemon queued for `pump`, the one in progress included.
    pub fn queued(&self, pump: BusAddress) -> Option<usize> {
        self.index(pump).map(|p| self.pumps[p].jobs.len())
    }

    fn index(&self, pump: BusAddress) -> Option<usize> {
        self.pumps.iter().position(|p| p.setup.address == pump)
    }

    fn touch(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
        for (pump, command) in std::mem::take(&mut self.deferred) {
            self.events.push_back(PumpEvent {
                pump,
                at: now,
                kind: PumpEventKind::CommandFailed {
                    command,
                    failure: CommandFailure::PumpOffline,
                },
            });
        }
    }

    fn eligible_at(&self, p: usize) -> Option<Instant> {
        let pump = &self.pumps[p];
        if pump.online {
            return None;
        }
        pump.last_attempt
            .map(|t| t + self.settings.offline_poll_interval)
    }

    fn next_start(&self, next_at: Option<Instant>) -> Option<Instant> {
        let earliest = match self.sticky {
            Some(_) => None,
            None => (0..self.pumps.len())
                .map(|p| self.eligible_at(p))
                .min()
                .flatten(),
        };
        next_at.max(earliest)
    }

    fn end_exchange(&mut self, now: Instant, gap: Duration) {
        self.line = Line::Idle {
            next_at: Some(now + gap),
        };
    }

    fn timeout_of(&self, op: Op) -> Duration {
        match op {
            Op::ReadTransaction | Op::ReadMoney { .. } => self.settings.block_timeout,
            Op::ReadTotals(_) => self.settings.totals_timeout,
            _ => self.settings.status_timeout,
        }
    }

    fn start_exchange(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (p, extra) = if let Some(p) = self.sticky.take() {
            // The data block after `Dp` is the same exchange's second half.
            self.turns.interrupt();
            self.tally.counters.polls += 1;
            (p, false)
        } else {
            let next = Turns::next_of(self, now)?;
            (next.counted(&mut self.tally, now), next.extra)
        };
        self.stats.noise_bytes += self.decoder.clear() as u64;
        let interval = self.settings.money_interval;
        let pump = &mut self.pumps[p];
        pump.last_attempt = Some(now);
        let op = if extra {
            pump.extra_op()
        } else {
            pump.next_op(now, interval)
        };
        let code = match op {
            Op::Poll { .. } | Op::Confirm => CommandCode::Status,
            Op::DataNext => CommandCode::DataNext,
            Op::Authorize => CommandCode::Authorize,
            Op::Stop => CommandCode::Stop,
            Op::ReadTransaction => CommandCode::Transaction,
            Op::ReadTotals(_) => CommandCode::Totals,
            Op::ReadMoney { .. } => CommandCode::RealTimeMoney,
        };
        let byte = Command::to(code, pump.id).byte();
        self.stats.frames_sent += 1;
        let sent = now + self.settings.wire_time(1);
        if code.has_no_reply() {
            pump.action_done();
            self.end_exchange(sent, self.settings.no_reply_gap);
            return Some(vec![byte]);
        }
        let deadline = sent + self.timeout_of(op);
        self.line = Line::Awaiting {
            pump: p,
            op,
            command: byte,
            deadline,
            cap: deadline + self.settings.wire_time(MAX_BLOCK_LEN),
            echo_seen: false,
            held: None,
            words: Vec::new(),
        };
        Some(vec![byte])
    }

    /// A valid answer from pump `p`.
    fn heard(&mut self, p: usize, now: Instant) {
        self.pumps[p].heard(now);
        self.tally.counters.answers += 1;
    }

    fn bad_answer(&mut self, p: usize, op: Op, now: Instant) {
        self.stats.bad_answers += 1;
        self.tally.counters.crc_errors += 1;
        self.failed(p, op, CommandFailure::NoAnswer, now);
        self.miss(p, now);
        self.end_exchange(now, self.settings.poll_interval);
    }

    fn failed(&mut self, p: usize, op: Op, failure: CommandFailure, now: Instant) {
        let retries = self.settings.retries;
        let (pump, mut sink) = split!(self, p, now);
        if pump.attempt_failed(op, failure, retries, &mut sink) {
            self.tally.counters.retries += 1;
        }
    }

    fn on_answer(&mut self, p: usize, op: Op, answer: Answer, now: Instant) {
        let mode = self.settings.digits;
        let gap = self.settings.poll_interval;
        let id = self.pumps[p].id;
        if let Answer::Status(reply) = &answer {
            if reply.pump != id {
                return self.bad_answer(p, op, now);
            }
        }
        // A refusal ends the pump's turn: asking again at once would only be refused again.
        let mut progress = true;
        match (op, answer) {
            (Op::DataNext, Answer::Status(r)) if r.state == PumpState::SendData => {
                let Some(block) = self.pumps[p].block_to_send() else {
                    return self.bad_answer(p, op, now);
                };
                let Ok(bytes) = encode_controller(block) else {
                    // Blocks are built from checked values at submit.
                    return self.bad_answer(p, op, now);
                };
                self.heard(p, now);
                if let Some(job) = self.pumps[p].jobs.front_mut() {
                    job.block_sent = true;
                }
                self.line = Line::Sending { pump: p, bytes };
                return;
            }
            (Op::DataNext, Answer::Status(r)) => {
                // Not ready for data (§5 step 1): try again on a later turn.
                progress = false;
                self.heard(p, now);
                let (pump, mut sink) = split!(self, p, now);
                pump.on_state(r.state, false, &mut sink);
                self.failed(p, op, CommandFailure::Rejected, now);
            }
            // Still waiting for data: the block never arrived whole.
            (Op::Confirm, Answer::Status(r)) if r.state == PumpState::SendData => {
                progress = false;
                self.heard(p, now);
                self.failed(p, op, CommandFailure::Rejected, now);
            }
            (Op::Confirm, Answer::Status(r)) if r.state == PumpState::DataError => {
                progress = false;
                self.heard(p, now);
                self.stats.data_errors += 1;
                self.failed(p, op, CommandFailure::Rejected, now);
            }
            (Op::Confirm | Op::Poll { .. }, Answer::Status(r)) => {
                self.heard(p, now);
                let user = op == Op::Poll { user: true };
                let (pump, mut sink) = split!(self, p, now);
                pump.on_state(r.state, user, &mut sink);
                if op == Op::Confirm {
                    pump.block_taken(&mut sink);
                } else if user {
                    pump.action_done();
                }
            }
            (Op::ReadTransaction, Answer::Block(bytes)) => match decode_transaction(&bytes, mode) {
                Ok(data) => {
                    self.heard(p, now);
                    let (pump, mut sink) = split!(self, p, now);
                    pump.on_transaction(&data, &mut sink);
                }
                Err(_) => return self.bad_answer(p, op, now),
            },
            (Op::ReadTotals(grade), Answer::Block(bytes)) => match decode_totals(&bytes, mode) {
                Ok(grades) => {
                    self.heard(p, now);
                    let decimals = self.settings.totals_decimals;
                    let (pump, mut sink) = split!(self, p, now);
                    if pump.on_totals(&grades, grade, decimals, &mut sink) {
                        pump.action_done();
                    } else {
                        // The pump has no such grade: asking again will not change that.
                        pump.fail_job(CommandFailure::Rejected, &mut sink);
                    }
                }
                Err(_) => return self.bad_answer(p, op, now),
            },
            (Op::ReadMoney { user }, Answer::Money(raw)) => {
                self.heard(p, now);
                let (pump, mut sink) = split!(self, p, now);
                pump.on_money(raw, now, &mut sink);
                if user {
                    pump.action_done();
                }
            }
            _ => return self.bad_answer(p, op, now),
        }
        if progress {
            self.turns.progressed(p);
        }
        self.end_exchange(now, gap);
    }

    fn miss(&mut self, p: usize, now: Instant) {
        let limit = self.settings.offline_after_misses;
        let (pump, mut sink) = split!(self, p, now);
        pump.misses = pump.misses.saturating_add(1);
        if pump.online && pump.misses >= limit {
            pump.go_offline(&mut sink);
        }
    }
}

crate::turns::roster!(GilbarcoMaster);

impl LineMaster for GilbarcoMaster {
    fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.touch(now);
        self.decoder.push(bytes);
        let stretch = match &self.line {
            Line::Awaiting { op, .. } => self.timeout_of(*op).min(self.settings.block_timeout),
            _ => Duration::ZERO,
        };
        if let Line::Awaiting {
            deadline,
            cap,
            held,
            ..
        } = &mut self.line
        {
            // A held `0p` followed by anything was the echo: the pump's answer is still
            // to come.
            if held.is_some() && !bytes.is_empty() {
                *held = None;
            }
            if !bytes.is_empty() {
                *deadline = (*deadline).max((now + stretch).min(*cap));
            }
        }
        while let Some(item) = self.decoder.next_item() {
            self.on_item(item, now);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        let Line::Awaiting {
            pump: p,
            op,
            deadline,
            held,
            ..
        } = self.line
        else {
            return;
        };
        if now < deadline {
            return;
        }
        if let Some(byte) = held {
            if let Some(reply) = StatusReply::from_byte(byte, self.settings.tolerant_status) {
                return self.on_answer(p, op, Answer::Status(reply), now);
            }
        }
        self.stats.timeouts += 1;
        self.tally.counters.timeouts += 1;
        self.failed(p, op, CommandFailure::NoAnswer, now);
        self.miss(p, now);
        self.end_exchange(now, self.settings.poll_interval);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.touch(now);
        match &mut self.line {
            Line::Sending { pump, bytes } => {
                let bytes = std::mem::take(bytes);
                self.sticky = Some(*pump);
                self.stats.frames_sent += 1;
                let gap = self.settings.wire_time(bytes.len()) + self.settings.no_reply_gap;
                self.end_exchange(now, gap);
                Some(bytes)
            }
            Line::Awaiting { .. } => None,
            Line::Idle { next_at } => {
                let next_at = *next_at;
                if self.next_start(next_at).is_some_and(|at| at > now) {
                    return None;
                }
                self.start_exchange(now)
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.line {
            Line::Idle { next_at } => self.next_start(*next_at),
            Line::Awaiting { deadline, .. } => Some(*deadline),
            Line::Sending { .. } => self.last_now,
        }
    }

    fn submit(&mut self, pump: BusAddress, command: PumpCommand) -> Result<(), SubmitError> {
        let p = self.index(pump).ok_or(SubmitError::UnknownPump(pump))?;
        let actions =
            plan(&self.settings, &self.pumps[p].setup, &command).map_err(SubmitError::Invalid)?;
        if !self.pumps[p].online {
            match self.last_now {
                Some(now) => self.events.push_back(PumpEvent {
                    pump,
                    at: now,
                    kind: PumpEventKind::CommandFailed {
                        command,
                        failure: CommandFailure::PumpOffline,
                    },
                }),
                None => self.deferred.push((pump, command)),
            }
            return Ok(());
        }
        if self.pumps[p].jobs.len() >= self.settings.max_queue {
            return Err(SubmitError::QueueFull(pump));
        }
        self.pumps[p].jobs.push_back(Job {
            command,
            actions: actions.into(),
            failures: 0,
            block_sent: false,
        });
        Ok(())
    }

    fn poll_event(&mut self) -> Option<PumpEvent> {
        self.events.pop_front()
    }

    fn pumps(&self) -> Vec<BusAddress> {
        self.pumps.iter().map(|p| p.setup.address).collect()
    }

    fn link_lost(&mut self, now: Instant) {
        self.touch(now);
        for p in 0..self.pumps.len() {
            let (pump, mut sink) = split!(self, p, now);
            pump.go_offline(&mut sink);
            pump.misses = 0;
            pump.last_attempt = None;
        }
        self.stats.noise_bytes += self.decoder.clear() as u64;
        self.sticky = None;
        self.turns.interrupt();
        self.tally.interrupted();
        self.line = Line::Idle { next_at: None };
    }

    fn last_heard(&self, pump: BusAddress) -> Option<Instant> {
        self.index(pump).and_then(|p| self.pumps[p].last_heard)
    }

    fn counters(&self) -> LineCounters {
        self.tally.counters
    }
}
