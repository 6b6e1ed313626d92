//! The DART master: the controller side of one RS-485 line with up to 32 pumps,
//! sans-IO (docs/protocols/dart.md §3.4, §4, §5, §6; § numbers below are that document's).
//!
//! [`DartMaster`] owns the link-level conversation — whose turn it is, what to send, the
//! TX# of each side, acknowledgements, retries, misses and sessions — and the translation
//! between DART transactions and the neutral model ([`crate::model`]). It never opens a
//! port, reads a clock or sleeps: the line task feeds bytes and `now` in and takes bytes,
//! events and deadlines out through [`LineMaster`]. Frames and transactions come from the
//! codec ([`super::frame`], [`super::app`]).
//!
//! # Exchanges (§4)
//!
//! Half duplex: at most one frame awaits an answer on the line. Pumps are served
//! round-robin in the order they were configured, with
//! [`DartMasterSettings::poll_interval`] of quiet between exchanges. A turn is one
//! exchange, or more while the pump has work: after an exchange that moved something on
//! (the pump sent data, or ACKed a block) a pump with a block to send or an acknowledged
//! request still unanswered is served again at once, up to
//! [`DartMasterSettings::max_turn_exchanges`] exchanges in its turn. So the end of a sale
//! (FILLING COMPLETED heard, RETURN FILLING INFORMATION sent, DC2 + DC3 polled) takes one
//! turn instead of three cycles of the line, and no pump waits more than
//! `(pumps - 1) × max_turn_exchanges` exchanges for its turn. An EOT ends a turn, so
//! the EOTs the master counts while waiting for an answer stay one per cycle. A busy pump
//! (authorized, filling, suspended, or its final figures unread) also gets an extra turn
//! after every [`DartMasterSettings::busy_turn_every`] ordinary turns, which polls and may
//! ask for the figures but never resends a block or sends a daemon command (§3.4).
//!
//! ```text
//! pump has a command queued:  M: ADR 3u <CD…> CRC 03 FA     P: ADR Cu FA   (ACK: next TX#)
//!                                                           P: ADR 5u FA   (NAK: resend)
//! otherwise:                  M: ADR 20 FA                  P: ADR 70 FA   (EOT)
//!                                                           P: ADR 3t <DC…> CRC 03 FA
//!                             M: ADR Ct FA  (ACK with the pump's t; a repeated t is
//!                                            re-ACKed and not applied again, §3.4)
//! pump block with a bad CRC:  M: ADR 5t FA  (NAK with its t; the pump resends it)
//! ```
//!
//! The read buffer is cleared before every exchange, so a late answer is never taken for
//! the next one; a frame from any other address, or bytes that start no frame
//! (turnaround bytes, §1), are noise ([`LineStats`]). The answer deadline is
//! [`DartMasterSettings::response_timeout`] after the master's frame has left the wire,
//! stretched by the same amount after each chunk of an answer that is arriving.
//!
//! # Sessions, misses and offline
//!
//! A miss is an exchange without a valid answer in time (a garbled block is one too).
//! After [`DartMasterSettings::offline_after_misses`] consecutive misses a pump is
//! `Offline`: [`PumpStatus::Offline`] is reported, its queued commands fail with
//! [`CommandFailure::PumpOffline`], and it is polled only every
//! [`DartMasterSettings::offline_poll_interval`]. Commands for an offline pump fail the
//! same way at once. Pumps start offline (never heard). The first valid answer starts a
//! fresh session (§6.6): both TX#s restart (§3.4) and the master sends one block
//! `CD1 RETURN STATUS + CD1 RETURN FILLING INFORMATION` before any command.
//!
//! A pump keeps the TX# of the last block it accepted across the master's restarts, and
//! takes a block with that TX# for a retransmission: ACKed, not applied (§3.4). Every
//! session starts at TX# 0, so after two restarts (or reconnects) with no other block in
//! between, a strict pump ACKs the session block and never answers it. The master
//! therefore never trusts an ACK alone: see "Acknowledged is not applied" below.
//!
//! # Commands and events
//!
//! Commands are translated at [`LineMaster::submit`] with the pump's [`Decimals`](crate::units::Decimals)
//! (a value that does not fit is [`SubmitError::Invalid`], never rounded) and sent as
//! one block each. An ACK only says the block arrived; the effect shows in later DC1s
//! (§5.5 "two separate confirmations"). Events: DC1 → `StatusChanged` on change (RESET
//! with a nozzle out is `Calling`, see [`super::dart_status_to_model`]); DC3 →
//! `NozzleUp`/`NozzleDown` on change; DC2 while FILLING or SUSPENDED → `Filling` when the
//! figures move; DC5 → `Alarm`; the two DC101 answering a [`PumpCommand::ReadTotals`]
//! → one `Totals`.
//!
//! # Acknowledged is not applied (§3.4, §5.5)
//!
//! Each ACK of a daemon's command is reported as `CommandAccepted` (every command kind).
//! After the ACK the master waits [`DartMasterSettings::apply_patience`] EOT answers for
//! the transactions that show the block applied:
//!
//! - RETURN STATUS (the session block included): any DC1. Without it the request is
//!   sent again with a new TX#, up to [`DartMasterSettings::retries`] times, then
//!   reported `CommandFailed { ReturnStatus, NotApplied }` (polling goes on; the pump still
//!   reports status changes by itself).
//! - READ TOTALS: both DC101 (COUN n and 0x10 + n). Without them, the same: asked again
//!   with a new TX#, then `CommandFailed { ReadTotals(n), NotApplied }`. A resend that is
//!   not acknowledged fails the command as any block does (`NoAnswer`, `Rejected`), and a
//!   pump going offline meanwhile fails it with `PumpOffline`.
//! - AUTHORIZE: DC1 AUTHORIZED, FILLING or SUSPENDED. STOP sent in RESET, AUTHORIZED,
//!   FILLING, SUSPENDED or MAX REACHED, and RESET sent in FILLING COMPLETED, MAX REACHED
//!   or SWITCHED OFF (where §5.3 says they are accepted): a DC1 with another status.
//!   Without it the command is reported `CommandFailed { command, NotApplied }` and not
//!   resent: a second AUTHORIZE is a new authorization, and whether to stop or reset
//!   again is the daemon's decision. These waits end without a report if the pump goes
//!   offline (the next session's DC1 tells what the pump did). A STOP or RESET sent where
//!   the pump rightly ignores it (RESET in RESET) is not watched.
//! - Other commands (SUSPEND, RESUME, SWITCH OFF, prices, RETURN FILLING INFORMATION
//!   from the daemon) are not watched: their effect shows, or does not, in the DC1s the
//!   daemon already receives (prices: the pump stays NOT PROGRAMMED).
//!
//! So every command the daemon submits ends in exactly one `CommandAccepted` or
//! `CommandFailed`, and a `CommandFailed { NotApplied }` (or a failure of a resend) may
//! follow an acceptance. No new block is ever sent with the TX# of the last block the
//! pump acknowledged in this session, which it would take for a retransmission: a resend
//! after a NAK or the block after a given-up one skips that TX#.
//!
//! End of sale (§6.7): when a pump enters FILLING COMPLETED (5) or MAX REACHED (6) from a
//! dispatch (AUTHORIZED, FILLING, SUSPENDED), or is found there by the first DC1 of a
//! session, the master asks RETURN FILLING INFORMATION and reports the DC2 + DC3 that
//! answer it as exactly one `TransactionCompleted` (reason `PresetReached` for 6),
//! zero-volume sales included. The daemon's commands wait meanwhile, so a RESET cannot
//! zero the figures before they are read.
//!
//! # Choices where docs/protocols/dart.md is UNCERTAIN
//!
//! - TX# after 0xF and after a NAK (§3.4): settings [`DartMasterSettings::tx_wrap`]
//!   (default F→1) and [`DartMasterSettings::on_nak`] (default: resend with TX# 0, as
//!   working masters do, except when the pump acknowledged a TX# 0 block last this
//!   session: then TX# 1, since a strict pump would take TX# 0 for a duplicate). Pump
//!   TX#s are accepted whatever their order.
//! - A resend after a timeout keeps the payload and TX#, so a pump whose ACK was lost
//!   re-ACKs without applying twice. A block given up on burns its TX#: the next block
//!   takes the following one, so it is never mistaken for that block's duplicate.
//! - A block is sent at most `1 + retries` times; the failure says how the last attempt
//!   failed: `Rejected` after a NAK (any TX#: the only block it can reject is ours),
//!   `NoAnswer` after a timeout, an EOT or an ACK of another TX#.
//! - A pump that answers a command block with its own DATA (never observed, §4): that
//!   block is ACKed and applied, the command stays outstanding and is resent on the next
//!   turn with the same TX#; this does not count against the retries.
//! - ACKPOLL and IAP (§3.1) are never sent. POLL, IAP and ACKPOLL frames heard from a pump
//!   address (an echo of the master's own frames, on some adapters) are noise, as is an
//!   ACK or NAK in answer to a POLL.
//! - Duplicates (§3.4): a block is a retransmission only when it repeats both the TX#
//!   and the content of the last block accepted, as a pump's resend does (§7). A pump
//!   that restarts without missing `offline_after_misses` polls keeps its session, and its
//!   first block after the restart is applied even when its TX# equals the last one
//!   accepted; the cost is that a pump which resends a *changed* block under the same
//!   TX# (never observed) has it applied, which the daemon's idempotent handling absorbs.
//! - The master's own blocks fail like the daemon's: the session block as
//!   `CommandFailed { ReturnStatus, .. }` (not repeated: the pump still reports status
//!   changes by itself), the end-of-sale request as `CommandFailed { ReturnFillingInfo, .. }`.
//!   Refused (NAKed), that completion is then dropped until the next session finds it;
//!   unacknowledged, it is asked again, up to `retries` more rounds as when its answer
//!   never comes, since the pump may have taken it and only the ACKs were lost.
//! - Session start asks no totals (§6.6 lists CD101 as optional): the daemon asks with
//!   [`PumpCommand::ReadTotals`], which sends one block `CD101 COUN n + CD101 COUN 0x10+n`
//!   for a configured nozzle n in 1..=8 (§5.6): volume total, then amount total with the
//!   number of fillings (TOTM1). A DC101 that answers no waiting request (a late repeat,
//!   the pump sums 0x09/0x19) is dropped. A pump sending the short DC101 (LNG 6, §5.4)
//!   gives no number of fillings: `Totals::fillings` is then `None`.
//! - Authorize (§5.9): one block `[CD1 RESET] CD2 [CD3|CD4] CD1 AUTHORIZE`; RESET unless the
//!   last DC1 was RESET (decided when the block is first sent, kept for resends); CD2 lists
//!   every configured nozzle when none is given; prices are not resent (that is
//!   [`PumpCommand::SetPrices`]); a zero preset is refused.
//! - End of sale: only AUTHORIZED, FILLING or SUSPENDED (or no DC1 yet this session)
//!   followed by 5 or 6 is a sale; NOT PROGRAMMED → 5 (prices arriving), RESET → 5 (a
//!   STOP with nothing dispatched), SWITCHED OFF → 5 and 6 → 5 (the nozzle going back
//!   after a preset) are not. If the answer has a DC2 but no DC3 when the pump
//!   next says EOT, the session's last DC3 supplies price and nozzle; with no DC2 after
//!   [`INFO_PATIENCE_EOTS`] EOTs the request is repeated, up to `retries` times,
//!   then abandoned with `CommandFailed { ReturnFillingInfo, NoAnswer }`. A DC3 with no
//!   nozzle selected is completed with the session's last selected nozzle.

mod command;
mod confirm;
mod session;
mod settings;

use std::collections::VecDeque;
use std::time::Instant;

pub use session::INFO_PATIENCE_EOTS;
pub use settings::{
    DartMasterError, DartMasterSettings, MAX_PRICE_DECIMALS, MAX_QUANTITY_DECIMALS,
};

pub use self::command::check_command;
use self::command::translate;
use self::confirm::Policy;
use self::session::{PumpLink, Sink};
use super::app::decode_pump;
use super::frame::{ControlKind, Decoded, Frame, FrameDecoder, MAX_BUFFERED};
use super::OnNak;
use crate::model::{
    CommandFailure, LineMaster, PumpCommand, PumpEvent, PumpEventKind, PumpSetup, PumpStatus,
    SubmitError,
};
use crate::tally::{LineCounters, Tally};
use crate::turns::Turns;
use crate::units::BusAddress;

/// Counters of what the master heard and did on its line, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Frames written.
    pub frames_sent: u64,
    /// Bytes dropped as noise: turnaround bytes, garbage, garbled blocks from addresses
    /// not being served, partial answers cleared before an exchange.
    pub noise_bytes: u64,
    /// Well-formed frames that answered nothing: another address, an unexpected kind, or
    /// outside an exchange.
    pub stray_frames: u64,
    /// Data blocks from the pump being served dropped by the codec (and NAKed).
    pub bad_blocks: u64,
    /// Pump blocks with a good CRC whose transactions could not be decoded (ACKed,
    /// ignored: resending would not change them).
    pub malformed_blocks: u64,
    /// Pump blocks repeating the last accepted TX# (re-ACKed, not applied).
    pub duplicates: u64,
    /// Exchanges that ended without an answer in time.
    pub timeouts: u64,
}

/// What the frame on the wire waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A POLL: EOT or a data block.
    Answer,
    /// A command block with this TX#: its ACK.
    Ack { tx: u8 },
}

/// Where the line is in its exchange cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Quiet; the next exchange may start at `next_at` (`None`: at once).
    Idle { next_at: Option<Instant> },
    /// A frame went out to `pump`; its answer is due by `deadline`.
    Awaiting {
        pump: usize,
        expect: Expect,
        /// The exchange belongs to a busy pump's extra turn.
        extra: bool,
        deadline: Instant,
        /// The latest the deadline may be stretched to while an answer arrives.
        cap: Instant,
    },
    /// An ACK or NAK that ends the exchange, to send at once.
    Reply { bytes: Vec<u8>, due: Instant },
}

/// The DART master of one line; see the [module documentation](self).
///
/// ```
/// use std::time::Instant;
/// use pump_protocols::dart::{DartMaster, DartMasterSettings};
/// use pump_protocols::{BusAddress, Decimals, GradeId, LineMaster, NozzleId, PumpSetup};
///
/// let pump = PumpSetup {
///     address: BusAddress(0x50),
///     decimals: Decimals::default(),
///     nozzles: vec![(NozzleId(1), GradeId(95))],
/// };
/// let mut master = DartMaster::new(DartMasterSettings::default(), vec![pump])?;
/// // The first turn polls the pump: ADR 20 FA.
/// assert_eq!(master.poll_transmit(Instant::now()), Some(vec![0x50, 0x20, 0xFA]));
/// # Ok::<(), pump_protocols::dart::DartMasterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DartMaster {
    settings: DartMasterSettings,
    pumps: Vec<PumpLink>,
    decoder: FrameDecoder,
    line: Line,
    /// Whose turn it is; progress is data heard or a block ACKed
    /// ([`DartMasterSettings::max_turn_exchanges`]).
    turns: Turns,
    events: VecDeque<PumpEvent>,
    /// Failures decided in `submit`, which has no `now`, before any time was seen.
    deferred: Vec<(BusAddress, PumpCommand)>,
    /// The latest `now` passed in.
    last_now: Option<Instant>,
    stats: LineStats,
    tally: Tally,
}

/// One pump and the event sink, borrowed apart from the rest of the master.
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

/// Frames the master builds are valid by construction.
fn wire(frame: &Frame) -> Vec<u8> {
    frame.encode().expect(
        "addresses are checked by DartMaster::new, TX#s stay in 0..=15 and payloads are \
         sized at submit",
    )
}

impl DartMaster {
    /// A master for `pumps`, polled in the order given. Refuses addresses outside
    /// 0x50..=0x6F, duplicate addresses or nozzles, nozzles outside 1..=15, decimals DART
    /// cannot carry and out-of-range settings.
    pub fn new(
        settings: DartMasterSettings,
        pumps: Vec<PumpSetup>,
    ) -> Result<Self, DartMasterError> {
        settings::validate(&settings, &pumps)?;
        Ok(Self {
            settings,
            pumps: pumps.into_iter().map(PumpLink::new).collect(),
            decoder: FrameDecoder::new(),
            line: Line::Idle { next_at: None },
            turns: Turns::default(),
            events: VecDeque::new(),
            deferred: Vec::new(),
            last_now: None,
            stats: LineStats::default(),
            tally: Tally::default(),
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &DartMasterSettings {
        &self.settings
    }

    /// What the master has heard and done so far.
    pub fn stats(&self) -> LineStats {
        self.stats
    }

    /// The status last reported for `pump` ([`PumpStatus::Offline`] until its first DC1).
    pub fn status(&self, pump: BusAddress) -> Option<PumpStatus> {
        self.index(pump).map(|p| self.pumps[p].reported)
    }

    /// Whether `pump` is in a session (answered, not declared offline since).
    pub fn is_online(&self, pump: BusAddress) -> Option<bool> {
        self.index(pump).map(|p| self.pumps[p].online)
    }

    /// Commands of the daemon queued for `pump`, the one in flight included.
    pub fn queued(&self, pump: BusAddress) -> Option<usize> {
        self.index(pump).map(|p| self.pumps[p].user_blocks())
    }

    fn index(&self, pump: BusAddress) -> Option<usize> {
        self.pumps.iter().position(|p| p.setup.address == pump)
    }

    /// Records the time and reports what `submit` decided before any time was known.
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

    /// When pump `p` may next be served: online pumps at every turn, offline ones every
    /// `offline_poll_interval` (`None`: now).
    fn eligible_at(&self, p: usize) -> Option<Instant> {
        let pump = &self.pumps[p];
        if pump.online {
            return None;
        }
        pump.last_attempt
            .map(|t| t + self.settings.offline_poll_interval)
    }

    /// When the next exchange can start (`None`: now), given the line's own gap.
    fn next_start(&self, next_at: Option<Instant>) -> Option<Instant> {
        // `None` orders first: one pump eligible now makes the line ready at `next_at`.
        let earliest = (0..self.pumps.len())
            .map(|p| self.eligible_at(p))
            .min()
            .flatten();
        next_at.max(earliest)
    }

    fn end_exchange(&mut self, now: Instant) {
        self.line = Line::Idle {
            next_at: Some(now + self.settings.poll_interval),
        };
    }

    /// Starts the next exchange: the same pump again while it keeps its turn, else the
    /// next pump's turn (ordinary or, for a busy pump, extra); its command block if it
    /// has one to send, else a POLL. An extra turn sends only a POLL or the master's own
    /// end-of-sale request before its first transmission, so it never resends a block
    /// and never moves a TX# a strict pump would see out of order (§3.4).
    fn start_exchange(&mut self, now: Instant) -> Option<Vec<u8>> {
        let next = Turns::next_of(self, now)?;
        let p = next.counted(&mut self.tally, now);
        self.stats.noise_bytes += self.decoder.clear() as u64;
        let pump = &mut self.pumps[p];
        pump.last_attempt = Some(now);
        let address = pump.setup.address;
        let status = pump.dart_status();
        let tx = pump.tx_out;
        let block = match (pump.online, next.extra) {
            (false, _) => None,
            (true, false) => pump.sendable(),
            (true, true) => pump.extra_sendable(),
        };
        let (frame, expect) = match block {
            Some(block) => (
                Frame::data(address, tx, block.payload_for(status)),
                Expect::Ack { tx },
            ),
            None => (Frame::poll(address), Expect::Answer),
        };
        let bytes = wire(&frame);
        let deadline = now + self.settings.wire_time(bytes.len()) + self.settings.response_timeout;
        self.line = Line::Awaiting {
            pump: p,
            expect,
            extra: next.extra,
            deadline,
            cap: deadline + self.settings.wire_time(MAX_BUFFERED),
        };
        self.stats.frames_sent += 1;
        Some(bytes)
    }

    fn on_item(&mut self, item: Decoded, now: Instant) {
        let Line::Awaiting {
            pump: p,
            expect,
            extra,
            ..
        } = self.line
        else {
            match item {
                Decoded::Frame(_) => self.stats.stray_frames += 1,
                Decoded::Discarded { bytes, .. } => self.stats.noise_bytes += bytes.len() as u64,
            }
            return;
        };
        let address = self.pumps[p].setup.address;
        match item {
            Decoded::Frame(frame) if frame.address() == address => {
                self.on_answer(p, expect, extra, frame, now)
            }
            Decoded::Frame(_) => self.stats.stray_frames += 1,
            Decoded::Discarded { bytes, reason } => match reason.block() {
                Some(block) if block.address == address => {
                    self.stats.bad_blocks += 1;
                    self.tally.counters.crc_errors += 1;
                    self.miss(p, now);
                    self.line = Line::Reply {
                        bytes: wire(&Frame::nak(address, block.tx)),
                        due: now,
                    };
                }
                _ => self.stats.noise_bytes += bytes.len() as u64,
            },
        }
    }

    fn on_answer(&mut self, p: usize, expect: Expect, extra: bool, frame: Frame, now: Instant) {
        let retries = self.settings.retries;
        match (expect, frame) {
            (
                _,
                Frame::Data {
                    address,
                    tx,
                    payload,
                },
            ) => {
                self.pumps[p].heard(now);
                self.tally.counters.answers += 1;
                let (pump, mut sink) = split!(self, p, now);
                // A retransmission repeats the TX# *and* the block (§7: the pump resends
                // the same block until ACKed). The same TX# with other content is a new
                // block from a pump that restarted its numbering (power reset, F→0 wrap);
                // dropping it as a duplicate would drop its DC1 and with it a sale.
                let duplicate = pump
                    .last_rx
                    .as_ref()
                    .is_some_and(|(last_tx, last)| *last_tx == tx && *last == payload);
                if duplicate {
                    self.stats.duplicates += 1;
                } else {
                    let decoded = decode_pump(&payload);
                    pump.last_rx = Some((tx, payload));
                    match decoded {
                        Ok(transactions) => pump.apply(transactions, &mut sink),
                        Err(_) => self.stats.malformed_blocks += 1,
                    }
                }
                self.line = Line::Reply {
                    bytes: wire(&Frame::ack(address, tx)),
                    due: now,
                };
                self.turns.progressed(p);
            }
            (
                Expect::Answer,
                Frame::Control {
                    kind: ControlKind::Eot,
                    ..
                },
            ) => {
                self.pumps[p].heard(now);
                self.tally.counters.answers += 1;
                let policy = Policy {
                    retries,
                    patience: self.settings.apply_patience,
                };
                let (pump, mut sink) = split!(self, p, now);
                pump.on_eot(policy, !extra, &mut sink);
                self.end_exchange(now);
            }
            (
                Expect::Ack { tx },
                Frame::Control {
                    kind: ControlKind::Ack,
                    tx: acked,
                    ..
                },
            ) if acked == tx => {
                self.pumps[p].heard(now);
                self.tally.counters.answers += 1;
                let (pump, mut sink) = split!(self, p, now);
                pump.tx_out = self.settings.tx_wrap.next(tx);
                pump.block_acked(tx, &mut sink);
                self.turns.progressed(p);
                self.end_exchange(now);
            }
            (
                Expect::Ack { tx },
                Frame::Control {
                    kind: ControlKind::Nak,
                    ..
                },
            ) => {
                let pump = &mut self.pumps[p];
                pump.heard(now);
                self.tally.counters.answers += 1;
                if self.settings.on_nak == OnNak::ResetTo0 {
                    pump.tx_out = pump.fresh_tx(0, self.settings.tx_wrap);
                }
                self.attempt_failed(p, tx, CommandFailure::Rejected, now);
                self.end_exchange(now);
            }
            (
                Expect::Ack { tx },
                Frame::Control {
                    kind: ControlKind::Eot | ControlKind::Ack,
                    ..
                },
            ) => {
                self.pumps[p].heard(now);
                self.tally.counters.answers += 1;
                self.attempt_failed(p, tx, CommandFailure::NoAnswer, now);
                self.end_exchange(now);
            }
            // POLL, IAP, ACKPOLL (the master's own kinds: an echo), ACK or NAK to a POLL.
            _ => self.stats.stray_frames += 1,
        }
    }

    /// The block sent with `tx` was not acknowledged; after `retries` resends it fails.
    fn attempt_failed(&mut self, p: usize, tx: u8, failure: CommandFailure, now: Instant) {
        let retries = self.settings.retries;
        let wrap = self.settings.tx_wrap;
        let (pump, mut sink) = split!(self, p, now);
        let Some(block) = pump.queue.front_mut() else {
            return;
        };
        block.failures += 1;
        if block.failures > retries {
            pump.tx_out = pump.fresh_tx(wrap.next(tx), wrap);
            pump.block_failed(failure, retries, &mut sink);
        } else {
            self.tally.counters.retries += 1;
        }
    }

    /// An exchange with pump `p` brought no valid answer.
    fn miss(&mut self, p: usize, now: Instant) {
        let limit = self.settings.offline_after_misses;
        let (pump, mut sink) = split!(self, p, now);
        pump.misses = pump.misses.saturating_add(1);
        if pump.online && pump.misses >= limit {
            pump.go_offline(&mut sink);
        }
    }
}

crate::turns::roster!(DartMaster);

impl LineMaster for DartMaster {
    fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.touch(now);
        self.decoder.push(bytes);
        if let Line::Awaiting { deadline, cap, .. } = &mut self.line {
            if !bytes.is_empty() {
                *deadline = (*deadline).max((now + self.settings.response_timeout).min(*cap));
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
            expect,
            deadline,
            ..
        } = self.line
        else {
            return;
        };
        if now < deadline {
            return;
        }
        self.stats.timeouts += 1;
        self.tally.counters.timeouts += 1;
        if let Expect::Ack { tx } = expect {
            self.attempt_failed(p, tx, CommandFailure::NoAnswer, now);
        }
        self.miss(p, now);
        self.end_exchange(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.touch(now);
        match &mut self.line {
            Line::Reply { bytes, .. } => {
                let bytes = std::mem::take(bytes);
                self.line = Line::Idle {
                    next_at: Some(
                        now + self.settings.wire_time(bytes.len()) + self.settings.poll_interval,
                    ),
                };
                self.stats.frames_sent += 1;
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
            Line::Reply { due, .. } => Some(*due),
        }
    }

    fn submit(&mut self, pump: BusAddress, command: PumpCommand) -> Result<(), SubmitError> {
        let p = self.index(pump).ok_or(SubmitError::UnknownPump(pump))?;
        let block = translate(&command, &self.pumps[p].setup)?;
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
        if self.pumps[p].user_blocks() >= self.settings.max_queue {
            return Err(SubmitError::QueueFull(pump));
        }
        self.pumps[p].queue.push_back(block);
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
            // Poll every pump as soon as the port is back.
            pump.last_attempt = None;
        }
        self.stats.noise_bytes += self.decoder.clear() as u64;
        self.tally.interrupted();
        self.turns.interrupt();
        self.line = Line::Idle { next_at: None };
    }

    fn last_heard(&self, pump: BusAddress) -> Option<Instant> {
        self.index(pump).and_then(|p| self.pumps[p].last_heard)
    }

    fn counters(&self) -> LineCounters {
        self.tally.counters
    }
}
