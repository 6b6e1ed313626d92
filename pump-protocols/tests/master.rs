//! The DART master against a pump played by hand.
//!
//! Each test is the pump side of a conversation: the pump's frames are built with the
//! codec (`Frame`, `encode_pump`) or copied from docs/protocols/dart.md, fed to the master at a
//! fake time, and every byte the master sends is compared with the exact frame expected.
//! Expected master frames cite their source: a dart.md vector (section and source key)
//! where one exists, otherwise "computed" (CRC-16/ARC worked out independently of the
//! crate). No test reads the clock beyond taking one base instant.

use std::time::{Duration, Instant};

use pump_protocols::dart::{
    decode_all, encode_master, encode_pump, DartMaster, DartMasterSettings, DartStatus, Dcc,
    Decoded, Frame, MasterTransaction as M, Nozio, OnNak, PumpTransaction as P, TxWrap,
};
use pump_protocols::{
    Authorization, BusAddress, CommandFailure, CompletedTransaction, CompletionReason, Decimals,
    GradeId, LineMaster, Money, NozzleId, Preset, PumpCommand, PumpEventKind as E, PumpSetup,
    PumpStatus, SubmitError, Totals, UnitPrice, Volume,
};
use rust_decimal::Decimal;

/// Bytes from hex pairs; whitespace and `|` only group them.
fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect();
    assert!(digits.len() % 2 == 0, "odd hex digits in {text:?}");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits in test"))
        .collect()
}

fn show(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

const A: BusAddress = BusAddress(0x50);
/// How long the played pump takes to answer (dart.md §4.1: 5–6 ms measured).
const ANSWER_DELAY: Duration = Duration::from_millis(5);
const GAP: Duration = Duration::from_millis(20);

/// Two nozzles, volume and amount with 2 decimals, prices with 3 (dart.md §5.8: 1.175).
fn pump(address: u8) -> PumpSetup {
    PumpSetup {
        address: BusAddress(address),
        decimals: Decimals {
            volume: 2,
            amount: 2,
            price: 3,
        },
        nozzles: vec![(NozzleId(1), GradeId(95)), (NozzleId(2), GradeId(98))],
    }
}

fn poll(address: BusAddress) -> Vec<u8> {
    Frame::poll(address).encode().expect("valid POLL")
}

fn eot(address: BusAddress) -> Vec<u8> {
    Frame::eot(address).encode().expect("valid EOT")
}

fn ack(address: BusAddress, tx: u8) -> Vec<u8> {
    Frame::ack(address, tx).encode().expect("valid ACK")
}

fn block(address: BusAddress, tx: u8, transactions: &[P]) -> Vec<u8> {
    let payload = encode_pump(transactions).expect("valid pump transactions");
    Frame::data(address, tx, payload)
        .encode()
        .expect("valid pump block")
}

/// The session opening block the master sends: RETURN STATUS + RETURN FILLING INFO, TX# 0.
/// Computed: `50 30 | 01 01 00 | 01 01 04 | 58 BD | 03 FA` for 0x50.
fn session_block(address: BusAddress) -> Vec<u8> {
    let payload = encode_master(&[
        M::Command(Dcc::ReturnStatus),
        M::Command(Dcc::ReturnFillingInfo),
    ])
    .expect("valid master transactions");
    Frame::data(address, 0, payload)
        .encode()
        .expect("valid block")
}

fn dc3(price: u32, nozio: u8) -> P {
    P::NozzleStatus {
        price,
        nozio: Nozio(nozio),
    }
}

fn dc2(volume: u32, amount: u32) -> P {
    P::FilledVolumeAmount { volume, amount }
}

fn status(code: u8) -> P {
    P::Status(DartStatus::from_code(code))
}

/// What a pump in RESET with nozzle 1 in answers the session block.
fn idle_answer() -> Vec<P> {
    vec![status(1), dc3(1459, 0x01), dc2(0, 0), dc3(1459, 0x01)]
}

/// The master, a fake clock and the played pumps' TX# counters.
struct Bench {
    master: DartMaster,
    now: Instant,
    /// The next TX# of the played pump 0x50.
    ptx: u8,
}

impl Bench {
    fn new(settings: DartMasterSettings, pumps: Vec<PumpSetup>) -> Self {
        let master = DartMaster::new(settings, pumps).expect("valid configuration");
        Self {
            master,
            now: Instant::now(),
            ptx: 0,
        }
    }

    fn one() -> Self {
        Self::new(DartMasterSettings::default(), vec![pump(0x50)])
    }

    /// The master's next frame, moving the clock through quiet gaps only: an answer
    /// deadline passing here would be a test bug, so it is checked.
    fn tx(&mut self) -> Vec<u8> {
        let timeouts = self.master.stats().timeouts;
        for _ in 0..100 {
            if let Some(bytes) = self.master.poll_transmit(self.now) {
                assert_eq!(self.master.stats().timeouts, timeouts, "a deadline passed");
                return bytes;
            }
            let at = self
                .master
                .poll_timeout()
                .expect("an idle master always has a next start");
            self.now = self.now.max(at);
            self.master.handle_timeout(self.now);
        }
        panic!("the master sent nothing");
    }

    fn expect(&mut self, wire: &[u8]) {
        assert_eq!(show(&self.tx()), show(wire));
    }

    fn expect_hex(&mut self, text: &str) {
        self.expect(&hex(text));
    }

    fn reply(&mut self, bytes: &[u8]) {
        self.now += ANSWER_DELAY;
        self.master.handle_input(bytes, self.now);
    }

    /// No answer: the deadline passes.
    fn silence(&mut self) {
        let timeouts = self.master.stats().timeouts;
        let deadline = self.master.poll_timeout().expect("awaiting an answer");
        self.now = self.now.max(deadline);
        self.master.handle_timeout(self.now);
        assert_eq!(
            self.master.stats().timeouts,
            timeouts + 1,
            "no timeout fired"
        );
    }

    /// Pump 0x50 answers a POLL with `transactions` under its next TX#; the master ACKs.
    fn pump_says(&mut self, transactions: &[P]) {
        self.expect(&Frame::poll(A).encode().expect("poll"));
        let tx = self.ptx;
        self.reply(&block(A, tx, transactions));
        self.expect(&ack(A, tx));
        self.ptx = TxWrap::FTo1.next(tx);
    }

    /// Pump `address` answers a POLL with `transactions` under TX# `tx`; the master ACKs.
    fn pump_says_from(&mut self, address: BusAddress, tx: u8, transactions: &[P]) {
        self.expect(&Frame::poll(address).encode().expect("poll"));
        self.reply(&block(address, tx, transactions));
        self.expect(&ack(address, tx));
    }

    /// Pump `address` answers `n` POLLs with EOT.
    fn idle_polls(&mut self, address: BusAddress, n: u32) {
        for _ in 0..n {
            self.expect(&Frame::poll(address).encode().expect("poll"));
            self.reply(&eot(address));
        }
    }

    /// Pump 0x50 answers a POLL with EOT.
    fn pump_idle(&mut self) {
        self.expect_hex("50 20 FA");
        self.reply(&eot(A));
    }

    /// The master sends `wire` (a command block) and pump 0x50 ACKs it.
    fn command(&mut self, wire: &[u8]) {
        self.expect(wire);
        self.reply(&ack(A, wire[1] & 0x0F));
    }

    /// Opens a session with pump 0x50, which answers the session block with `answer`.
    fn open(&mut self, answer: &[P]) -> Vec<E> {
        self.pump_idle();
        self.command(&session_block(A));
        self.pump_says(answer);
        self.events()
    }

    fn submit(&mut self, command: PumpCommand) {
        self.master.submit(A, command).expect("command accepted");
    }

    /// Brings the master's TX# for 0x50 from `from` to `to` with acknowledged RETURN
    /// STATUS blocks.
    fn burn_tx(&mut self, from: u8, to: u8) {
        for tx in from..to {
            self.submit(PumpCommand::ReturnStatus);
            let wire = Frame::data(A, tx, vec![0x01, 0x01, 0x00])
                .encode()
                .expect("valid block");
            self.command(&wire);
        }
    }

    fn events(&mut self) -> Vec<E> {
        let mut kinds = Vec::new();
        while let Some(event) = self.master.poll_event() {
            kinds.push(event.kind);
        }
        kinds
    }

    fn events_with_pump(&mut self) -> Vec<(BusAddress, E)> {
        let mut all = Vec::new();
        while let Some(event) = self.master.poll_event() {
            all.push((event.pump, event.kind));
        }
        all
    }
}

/// `command` acknowledged, then failed with `failure`.
fn accepted_then(command: PumpCommand, failure: CommandFailure) -> [E; 2] {
    [
        E::CommandAccepted {
            command: command.clone(),
        },
        E::CommandFailed { command, failure },
    ]
}

fn completed(
    nozzle: u8,
    grade: u16,
    volume: &str,
    amount: &str,
    price: &str,
    reason: CompletionReason,
) -> E {
    E::TransactionCompleted(CompletedTransaction {
        nozzle: NozzleId(nozzle),
        grade: Some(GradeId(grade)),
        volume: Volume::new(dec(volume)),
        amount: Money::new(dec(amount)),
        unit_price: UnitPrice::new(dec(price)),
        reason,
    })
}

// ---------------------------------------------------------------------------------------
// Polling order, pacing, sessions

#[test]
fn polls_round_robin_in_configured_order_with_a_gap_between_exchanges() {
    let mut b = Bench::new(
        DartMasterSettings::default(),
        vec![pump(0x52), pump(0x50), pump(0x51)],
    );
    assert_eq!(
        b.master.pumps(),
        [BusAddress(0x52), BusAddress(0x50), BusAddress(0x51)]
    );
    // dart.md A: POLL frames.
    b.expect_hex("52 20 FA");
    b.reply(&eot(BusAddress(0x52)));
    let answered = b.now;
    assert_eq!(b.master.poll_timeout(), Some(answered + GAP));
    assert_eq!(
        b.master
            .poll_transmit(answered + GAP - Duration::from_nanos(1)),
        None
    );
    b.expect_hex("50 20 FA");
    assert_eq!(b.now, answered + GAP);
    b.reply(&eot(A));
    b.expect_hex("51 20 FA");
    b.reply(&eot(BusAddress(0x51)));
    // Each pump answered: each opens its session on its next turn, in the same order.
    // The acknowledged RETURN STATUS is unanswered, so the pump keeps its turn for a
    // POLL; its EOT ends the turn.
    for address in [0x52, 0x50, 0x51] {
        let address = BusAddress(address);
        b.expect(&session_block(address));
        b.reply(&ack(address, 0));
        b.expect(&poll(address));
        b.reply(&eot(address));
    }
    b.expect_hex("52 20 FA");
    assert!(b.events().is_empty(), "no DC1 yet, nothing to report");
}

#[test]
fn session_block_bytes_and_first_status() {
    let mut b = Bench::one();
    b.pump_idle();
    // Computed: CD1 RETURN STATUS + CD1 RETURN FILLING INFORMATION, TX# 0.
    b.expect_hex("50 30 | 01 01 00 | 01 01 04 | 58 BD | 03 FA");
    b.reply(&hex("50 C0 FA"));
    b.pump_says(&idle_answer());
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Idle)]);
    assert_eq!(b.master.status(A), Some(PumpStatus::Idle));
    assert_eq!(b.master.is_online(A), Some(true));
    // Nothing queued: the pump is polled.
    b.pump_idle();
}

#[test]
fn ack_after_pump_data_is_followed_by_the_gap() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.expect_hex("50 20 FA");
    b.reply(&block(A, 1, &[status(1)]));
    b.expect_hex("50 C1 FA");
    let acked = b.now;
    let settings = *b.master.settings();
    let next = acked + settings.wire_time(3) + GAP;
    assert_eq!(b.master.poll_timeout(), Some(next));
    assert_eq!(b.master.poll_transmit(next - Duration::from_nanos(1)), None);
    assert_eq!(b.master.poll_transmit(next), Some(hex("50 20 FA")));
}

#[test]
fn events_carry_the_time_of_the_input_that_caused_them() {
    let mut b = Bench::one();
    b.pump_idle();
    b.command(&session_block(A));
    b.expect_hex("50 20 FA");
    b.reply(&block(A, 0, &[status(1)]));
    let at = b.now;
    let event = b.master.poll_event().expect("status reported");
    assert_eq!(event.pump, A);
    assert_eq!(event.at, at);
    assert_eq!(event.kind, E::StatusChanged(PumpStatus::Idle));
}

// ---------------------------------------------------------------------------------------
// Pump blocks: ACK, duplicates, NAK

#[test]
fn pump_block_is_acked_with_its_tx_and_a_repeat_is_not_applied_again() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.expect_hex("50 20 FA");
    // dart.md D: DC5 alarm 0x0B, TX# 3.
    b.reply(&hex("50 33 | 05 01 0B | 9F 1E | 03 FA"));
    b.expect_hex("50 C3 FA");
    assert_eq!(
        b.events(),
        [E::Alarm {
            code: 0x0B,
            description: "pressure lost"
        }]
    );
    // The ACK was lost: the pump offers the same block again. Re-ACKed, not re-applied.
    b.expect_hex("50 20 FA");
    b.reply(&hex("50 33 | 05 01 0B | 9F 1E | 03 FA"));
    b.expect_hex("50 C3 FA");
    assert!(b.events().is_empty());
    assert_eq!(b.master.stats().duplicates, 1);
    // A new TX# is new data.
    b.expect_hex("50 20 FA");
    b.reply(&block(A, 4, &[P::Alarm(0x09)]));
    b.expect_hex("50 C4 FA");
    assert_eq!(
        b.events(),
        [E::Alarm {
            code: 0x09,
            description: "emergency stop"
        }]
    );
}

#[test]
fn pump_block_with_bad_crc_is_nakked_with_its_tx_then_taken_when_resent() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.expect_hex("50 20 FA");
    // dart.md F: AUTHORIZE with a wrong CRC (IB); as a pump block it is NAKed, TX# 7.
    b.reply(&hex("50 37 01 01 06 1D 3D 03 FA"));
    b.expect_hex("50 57 FA");
    assert_eq!(b.master.stats().bad_blocks, 1);
    assert!(b.events().is_empty());
    // A good block whose CRC was hit by noise, then the same block resent intact.
    let good = block(A, 5, &[status(2)]);
    let mut bad = good.clone();
    bad[5] ^= 0x01;
    b.expect_hex("50 20 FA");
    b.reply(&bad);
    b.expect_hex("50 55 FA");
    b.expect_hex("50 20 FA");
    b.reply(&good);
    b.expect_hex("50 C5 FA");
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Authorized)]);
}

#[test]
fn malformed_transactions_with_a_good_crc_are_acked_and_ignored() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.expect_hex("50 20 FA");
    // DC1 with LNG 2: structurally wrong, resending would not fix it.
    let wire = Frame::data(A, 6, vec![0x01, 0x02, 0x05, 0x00])
        .encode()
        .expect("frame");
    b.reply(&wire);
    b.expect_hex("50 C6 FA");
    assert_eq!(b.master.stats().malformed_blocks, 1);
    assert!(b.events().is_empty());
}

// ---------------------------------------------------------------------------------------
// Command blocks: TX#, ACK, NAK, retries

#[test]
fn command_blocks_use_a_new_tx_each_and_match_the_vectors() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(PumpCommand::Stop);
    b.submit(PumpCommand::SwitchOff);
    // dart.md B/D: CD1 STOP TX#1 (W3, computed), CD1 SWITCH OFF TX#2 (computed).
    b.command(&hex("50 31 | 01 01 08 | 9F 66 | 03 FA"));
    b.command(&hex("50 32 | 01 01 0A | 1E E3 | 03 FA"));
    b.burn_tx(3, 5);
    b.submit(PumpCommand::Suspend);
    b.submit(PumpCommand::Resume);
    // dart.md D: CD1 SUSPEND TX#5, CD1 RESUME TX#6.
    b.command(&hex("50 35 | 01 01 0D | 5E 55 | 03 FA"));
    b.command(&hex("50 36 | 01 01 0E | 1E 10 | 03 FA"));
    assert_eq!(b.master.queued(A), Some(0));
    b.pump_idle();
    // An ACK alone changes no status: it only says the pump took each block.
    let accepted = [
        PumpCommand::Stop,
        PumpCommand::SwitchOff,
        PumpCommand::ReturnStatus,
        PumpCommand::ReturnStatus,
        PumpCommand::Suspend,
        PumpCommand::Resume,
    ]
    .map(|command| E::CommandAccepted { command });
    assert_eq!(b.events(), accepted);
}

#[test]
fn nak_resends_the_same_payload_with_tx_0_by_default() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.burn_tx(1, 2);
    b.submit(PumpCommand::Stop);
    // Computed: CD1 STOP TX#2.
    b.expect_hex("50 32 01 01 08 9F 22 03 FA");
    b.reply(&hex("50 52 FA"));
    // dart.md B: CD1 STOP TX#0 (AS, W3).
    b.expect_hex("50 30 | 01 01 08 | 9E 9A | 03 FA");
    b.reply(&hex("50 C0 FA"));
    // Counting goes on from the resent block.
    b.submit(PumpCommand::Stop);
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
}

/// §3.4: a NAKed block was not taken, so the pump's last accepted block is still the
/// session block with TX# 0; resending at TX# 0 would make a strict pump ACK the STOP as
/// a retransmission and never stop. The resend skips to TX# 1.
#[test]
fn nak_never_resends_with_the_tx_the_pump_accepted_last() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(PumpCommand::Stop);
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&hex("50 51 FA"));
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&hex("50 C1 FA"));
    b.submit(PumpCommand::SwitchOff);
    b.expect_hex("50 32 01 01 0A 1E E3 03 FA");
}

#[test]
fn nak_resends_with_the_same_tx_when_configured() {
    let settings = DartMasterSettings {
        on_nak: OnNak::SameTx,
        ..DartMasterSettings::default()
    };
    let mut b = Bench::new(settings, vec![pump(0x50)]);
    b.open(&idle_answer());
    b.submit(PumpCommand::Stop);
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&hex("50 51 FA"));
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&hex("50 C1 FA"));
    b.submit(PumpCommand::SwitchOff);
    b.expect_hex("50 32 01 01 0A 1E E3 03 FA");
}

#[test]
fn unanswered_block_is_resent_identically_then_fails_with_no_answer() {
    let settings = DartMasterSettings {
        offline_after_misses: 10,
        ..DartMasterSettings::default()
    };
    let mut b = Bench::new(settings, vec![pump(0x50)]);
    b.open(&idle_answer());
    b.submit(PumpCommand::Stop);
    // 1 + retries (3) sends, all the same bytes: a pump that got it re-ACKs a duplicate.
    for _ in 0..4 {
        b.expect_hex("50 31 01 01 08 9F 66 03 FA");
        b.silence();
    }
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::Stop,
            failure: CommandFailure::NoAnswer
        }]
    );
    // The given-up TX# is burnt: the next block takes TX# 2.
    b.submit(PumpCommand::SwitchOff);
    b.expect_hex("50 32 01 01 0A 1E E3 03 FA");
}

#[test]
fn repeated_naks_fail_the_command_as_rejected() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.burn_tx(1, 2);
    b.events();
    b.submit(PumpCommand::Stop);
    b.expect_hex("50 32 01 01 08 9F 22 03 FA");
    b.reply(&hex("50 52 FA"));
    for _ in 0..3 {
        b.expect_hex("50 30 01 01 08 9E 9A 03 FA");
        b.reply(&hex("50 50 FA"));
    }
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::Stop,
            failure: CommandFailure::Rejected
        }]
    );
    assert_eq!(b.master.queued(A), Some(0));
    // The pump answered every time: it is still online and polled.
    assert_eq!(b.master.is_online(A), Some(true));
    b.pump_idle();
}

#[test]
fn ack_of_another_tx_or_eot_is_no_confirmation() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(PumpCommand::Stop);
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&hex("50 C0 FA"));
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&hex("50 70 FA"));
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&hex("50 C1 FA"));
    assert_eq!(
        b.events(),
        [E::CommandAccepted {
            command: PumpCommand::Stop
        }]
    );
    assert_eq!(b.master.queued(A), Some(0));
}

#[test]
fn pump_data_in_answer_to_a_command_is_acked_and_the_command_resent() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(PumpCommand::Stop);
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    b.reply(&block(A, 1, &[dc3(1459, 0x11)]));
    b.expect_hex("50 C1 FA");
    assert_eq!(
        b.events(),
        [
            E::NozzleUp {
                nozzle: NozzleId(1),
                grade: Some(GradeId(95)),
                unit_price: Some(UnitPrice::new(dec("1.459")))
            },
            E::StatusChanged(PumpStatus::Calling)
        ]
    );
    // Not a failure: the same block goes again on the next turn.
    b.command(&hex("50 31 01 01 08 9F 66 03 FA"));
    assert_eq!(
        b.events(),
        [E::CommandAccepted {
            command: PumpCommand::Stop
        }]
    );
    assert_eq!(b.master.queued(A), Some(0));
}

// ---------------------------------------------------------------------------------------
// Offline, sessions, link lost

#[test]
fn offline_after_n_misses_then_a_fresh_session_on_return() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(PumpCommand::Stop);
    b.submit(PumpCommand::ReturnStatus);
    for _ in 0..4 {
        b.expect_hex("50 31 01 01 08 9F 66 03 FA");
        b.silence();
    }
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::Stop,
            failure: CommandFailure::NoAnswer
        }]
    );
    // The fifth miss in a row: offline, and what was queued fails.
    b.expect_hex("50 32 | 01 01 00 | 9E E4 | 03 FA");
    let last_attempt = b.now;
    b.silence();
    assert_eq!(
        b.events(),
        [
            E::StatusChanged(PumpStatus::Offline),
            E::CommandFailed {
                command: PumpCommand::ReturnStatus,
                failure: CommandFailure::PumpOffline
            }
        ]
    );
    assert_eq!(b.master.is_online(A), Some(false));
    // Commands for an offline pump fail at once.
    b.submit(PumpCommand::Reset);
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::Reset,
            failure: CommandFailure::PumpOffline
        }]
    );
    // Still polled, once per offline_poll_interval.
    b.expect_hex("50 20 FA");
    assert_eq!(b.now, last_attempt + Duration::from_secs(1));
    b.silence();
    let last_attempt = b.now - b.master.settings().wire_time(3) - Duration::from_millis(50);
    b.expect_hex("50 20 FA");
    assert_eq!(b.now, last_attempt + Duration::from_secs(1));
    // It answers: fresh session, master TX# back to 0 and the pump's too.
    b.reply(&eot(A));
    b.expect_hex("50 30 01 01 00 01 01 04 58 BD 03 FA");
    b.reply(&ack(A, 0));
    b.expect_hex("50 20 FA");
    b.reply(&block(A, 0, &idle_answer()));
    b.expect_hex("50 C0 FA");
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Idle)]);
    b.submit(PumpCommand::Stop);
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
}

#[test]
fn never_heard_pumps_are_polled_at_the_offline_pace() {
    let mut b = Bench::one();
    let start = b.now;
    b.expect_hex("50 20 FA");
    b.silence();
    b.expect_hex("50 20 FA");
    assert_eq!(b.now, start + Duration::from_secs(1));
    assert!(b.events().is_empty(), "never online, nothing to report");
    assert_eq!(b.master.last_heard(A), None);
}

#[test]
fn offline_pumps_do_not_slow_down_the_others() {
    let mut b = Bench::new(DartMasterSettings::default(), vec![pump(0x50), pump(0x51)]);
    let p51 = BusAddress(0x51);
    b.expect_hex("50 20 FA");
    b.silence();
    b.expect_hex("51 20 FA");
    b.reply(&eot(p51));
    b.expect(&session_block(p51));
    b.reply(&ack(p51, 0));
    // 0x50 is not due again before a second has passed: 0x51 alone is served.
    for _ in 0..3 {
        b.expect_hex("51 20 FA");
        b.reply(&eot(p51));
    }
}

#[test]
fn link_lost_takes_every_pump_offline_at_once() {
    let mut b = Bench::new(DartMasterSettings::default(), vec![pump(0x50), pump(0x51)]);
    let p51 = BusAddress(0x51);
    b.expect_hex("50 20 FA");
    b.reply(&eot(A));
    b.expect_hex("51 20 FA");
    b.reply(&eot(p51));
    // A pump whose session block was acknowledged keeps its turn for the answer.
    b.command(&session_block(A));
    b.expect_hex("50 20 FA");
    b.reply(&block(A, 0, &idle_answer()));
    b.expect_hex("50 C0 FA");
    b.expect(&session_block(p51));
    b.reply(&ack(p51, 0));
    b.expect_hex("51 20 FA");
    b.reply(&block(p51, 0, &idle_answer()));
    b.expect_hex("51 C0 FA");
    b.events();
    b.submit(PumpCommand::Authorize(Authorization::default()));
    // Half-way through the command's exchange the port goes away. Computed: CD2 1,2 +
    // CD1 AUTHORIZE, TX# 1.
    b.expect_hex("50 31 | 02 02 01 02 | 01 01 06 | F0 D3 | 03 FA");
    b.now += Duration::from_millis(2);
    b.master.link_lost(b.now);
    assert_eq!(
        b.events_with_pump(),
        [
            (A, E::StatusChanged(PumpStatus::Offline)),
            (
                A,
                E::CommandFailed {
                    command: PumpCommand::Authorize(Authorization::default()),
                    failure: CommandFailure::PumpOffline
                }
            ),
            (p51, E::StatusChanged(PumpStatus::Offline)),
        ]
    );
    // A second loss reports nothing new.
    b.master.link_lost(b.now);
    assert!(b.events().is_empty());
    // The port is back: every pump is polled at once, the round going on where it was,
    // and answering opens a session.
    assert_eq!(b.master.poll_transmit(b.now), Some(hex("51 20 FA")));
    b.reply(&eot(p51));
    b.expect_hex("50 20 FA");
    b.reply(&eot(A));
    b.expect(&session_block(p51));
}

#[test]
fn last_heard_moves_only_on_valid_answers_of_that_pump() {
    let mut b = Bench::new(DartMasterSettings::default(), vec![pump(0x50), pump(0x51)]);
    let p51 = BusAddress(0x51);
    assert_eq!(b.master.last_heard(A), None);
    b.expect_hex("50 20 FA");
    // Another pump's EOT, an echo of the POLL, turnaround noise: none is 0x50 answering.
    b.reply(&eot(p51));
    b.reply(&hex("50 20 FA"));
    b.reply(&hex("FE DC"));
    assert_eq!(b.master.last_heard(A), None);
    assert_eq!(b.master.last_heard(p51), None);
    b.reply(&eot(A));
    assert_eq!(b.master.last_heard(A), Some(b.now));
    assert_eq!(b.master.last_heard(BusAddress(0x60)), None);
    let stats = b.master.stats();
    assert_eq!(stats.stray_frames, 2);
    assert_eq!(stats.noise_bytes, 2);
}

// ---------------------------------------------------------------------------------------
// Noise on the line

#[test]
fn turnaround_bytes_and_garbage_before_an_answer_are_skipped() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.expect_hex("50 20 FA");
    // dart.md §1: a spurious byte as the driver turns around.
    b.reply(&hex("FE 50 70 FA"));
    b.expect_hex("50 20 FA");
    // Noise, then a block arriving one byte at a time.
    let mut wire = hex("BC FF 13");
    wire.extend(block(A, 1, &[status(2)]));
    for byte in &wire {
        b.now += Duration::from_millis(1);
        b.master.handle_input(std::slice::from_ref(byte), b.now);
    }
    b.expect_hex("50 C1 FA");
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Authorized)]);
    assert_eq!(b.master.stats().noise_bytes, 4);
    assert_eq!(b.master.stats().timeouts, 0);
}

#[test]
fn answers_from_another_address_are_noise() {
    let mut b = Bench::new(DartMasterSettings::default(), vec![pump(0x50), pump(0x51)]);
    b.expect_hex("50 20 FA");
    // Pump 0x51 is configured, but it was not asked: neither its EOT nor its data count,
    // and its garbled block is not NAKed.
    b.reply(&eot(BusAddress(0x51)));
    b.reply(&block(BusAddress(0x51), 3, &[status(1)]));
    let mut garbled = block(BusAddress(0x51), 4, &[status(1)]);
    garbled[4] ^= 0x40;
    b.reply(&garbled);
    assert_eq!(b.master.poll_transmit(b.now), None, "nothing to answer");
    b.silence();
    assert!(b.events().is_empty());
    assert_eq!(b.master.last_heard(BusAddress(0x51)), None);
    assert_eq!(b.master.stats().stray_frames, 2);
    assert_eq!(b.master.stats().bad_blocks, 0);
    b.expect_hex("51 20 FA");
}

#[test]
fn a_long_answer_that_starts_in_time_is_not_cut_off() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.expect_hex("50 20 FA");
    let deadline = b.master.poll_timeout().expect("deadline");
    let wire = block(
        A,
        1,
        &[status(4), dc2(1234, 1800), dc3(1459, 0x11), P::Alarm(0x0B)],
    );
    b.now = deadline - Duration::from_millis(1);
    b.master.handle_input(&wire[..4], b.now);
    b.now = deadline + Duration::from_millis(40);
    b.master.handle_timeout(b.now);
    b.master.handle_input(&wire[4..], b.now);
    b.expect_hex("50 C1 FA");
    assert_eq!(b.master.stats().timeouts, 0);
    assert_eq!(b.events().len(), 4);
}

#[test]
fn a_late_answer_is_not_taken_for_the_next_exchange() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.expect_hex("50 20 FA");
    b.silence();
    let heard = b.master.last_heard(A);
    // The answer arrives after the deadline, half of it before the next POLL.
    let wire = block(A, 1, &[status(2)]);
    b.reply(&wire[..5]);
    b.expect_hex("50 20 FA");
    b.reply(&wire[5..]);
    b.silence();
    assert_eq!(b.master.last_heard(A), heard);
    assert!(b.events().is_empty());
    // The pump offers it again in time: taken.
    b.expect_hex("50 20 FA");
    b.reply(&wire);
    b.expect_hex("50 C1 FA");
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Authorized)]);
}

// ---------------------------------------------------------------------------------------
// TX# wrap

#[test]
fn master_tx_wraps_f_to_1_by_default_and_f_to_0_when_configured() {
    for (wrap, after_f) in [(TxWrap::FTo1, 1), (TxWrap::FTo0, 0)] {
        let settings = DartMasterSettings {
            tx_wrap: wrap,
            ..DartMasterSettings::default()
        };
        let mut b = Bench::new(settings, vec![pump(0x50)]);
        b.open(&idle_answer());
        b.burn_tx(1, 16);
        b.submit(PumpCommand::ReturnStatus);
        let wire = b.tx();
        assert_eq!(wire[1], 0x30 | after_f, "{wrap:?}");
        b.reply(&ack(A, after_f));
        b.submit(PumpCommand::ReturnStatus);
        assert_eq!(b.tx()[1], 0x30 | (after_f + 1), "{wrap:?}");
    }
}

#[test]
fn pump_tx_is_accepted_whichever_way_it_wraps() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    for (tx, code) in [
        (0x0E, 1),
        (0x0F, 3),
        (0x01, 4),
        (0x01, 5),
        (0x0F, 6),
        (0x00, 7),
    ] {
        b.expect_hex("50 20 FA");
        b.reply(&block(A, tx, &[P::Alarm(code)]));
        b.expect(&ack(A, tx));
    }
    let codes: Vec<u8> = b
        .events()
        .into_iter()
        .filter_map(|e| match e {
            E::Alarm { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    // F→1 and F→0 are both new blocks; the repeated TX# 1 carries another block (a
    // pump that restarted its numbering), so it is applied too.
    assert_eq!(codes, [1, 3, 4, 5, 6, 7]);
}

// ---------------------------------------------------------------------------------------
// Submitting: queue limits and translation

#[test]
fn queue_limits_and_unknown_pumps() {
    let settings = DartMasterSettings {
        max_queue: 2,
        ..DartMasterSettings::default()
    };
    let mut b = Bench::new(settings, vec![pump(0x50)]);
    b.pump_idle();
    // The session block is the master's own: it does not use up the queue.
    b.submit(PumpCommand::Stop);
    b.submit(PumpCommand::Reset);
    assert_eq!(
        b.master.submit(A, PumpCommand::Resume),
        Err(SubmitError::QueueFull(A))
    );
    assert_eq!(b.master.queued(A), Some(2));
    assert_eq!(
        b.master.submit(BusAddress(0x51), PumpCommand::Stop),
        Err(SubmitError::UnknownPump(BusAddress(0x51)))
    );
    assert!(matches!(
        b.master.submit(A, PumpCommand::ReadTotals(NozzleId(9))),
        Err(SubmitError::Invalid(_))
    ));
    b.command(&session_block(A));
    // The first command is in flight and still counts until its ACK.
    b.expect_hex("50 31 01 01 08 9F 66 03 FA");
    assert_eq!(
        b.master.submit(A, PumpCommand::Resume),
        Err(SubmitError::QueueFull(A))
    );
    b.reply(&ack(A, 1));
    b.submit(PumpCommand::Resume);
    assert_eq!(b.master.queued(A), Some(2));
}

#[test]
fn commands_before_any_time_is_known_fail_at_the_first_call() {
    let mut b = Bench::one();
    b.submit(PumpCommand::Stop);
    assert!(b.events().is_empty());
    b.expect_hex("50 20 FA");
    let events: Vec<_> = std::iter::from_fn(|| b.master.poll_event()).collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].at, b.now);
    assert_eq!(
        events[0].kind,
        E::CommandFailed {
            command: PumpCommand::Stop,
            failure: CommandFailure::PumpOffline
        }
    );
}

#[test]
fn decimals_convert_both_ways_and_overflow_is_invalid() {
    // dart.md §5.8, Colombia: volume 3 decimals, amount 0, price 0 (8 123 COP/L).
    let colombia = PumpSetup {
        address: BusAddress(0x51),
        decimals: Decimals {
            volume: 3,
            amount: 0,
            price: 0,
        },
        nozzles: vec![(NozzleId(1), GradeId(1))],
    };
    let p = BusAddress(0x51);
    let mut b = Bench::new(DartMasterSettings::default(), vec![colombia]);
    b.expect_hex("51 20 FA");
    b.reply(&eot(p));
    b.expect(&session_block(p));
    b.reply(&ack(p, 0));
    b.expect_hex("51 20 FA");
    b.reply(&block(
        p,
        0,
        &[status(1), dc3(8123, 0x01), dc2(0, 0), dc3(8123, 0x01)],
    ));
    b.expect_hex("51 C0 FA");
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Idle)]);
    // dart.md C: DC3 price 008123, nozzle 1 out (FC), TX# A.
    b.expect_hex("51 20 FA");
    b.reply(&hex("51 3A | 03 04 00 81 23 11 | 26 14 | 03 FA"));
    b.expect_hex("51 CA FA");
    assert_eq!(
        b.events(),
        [
            E::NozzleUp {
                nozzle: NozzleId(1),
                grade: Some(GradeId(1)),
                unit_price: Some(UnitPrice::new(dec("8123")))
            },
            E::StatusChanged(PumpStatus::Calling)
        ]
    );
    b.expect_hex("51 20 FA");
    b.reply(&block(p, 0x0B, &[status(2), status(4), dc2(428, 3477)]));
    b.expect_hex("51 CB FA");
    assert_eq!(
        b.events(),
        [
            E::StatusChanged(PumpStatus::Authorized),
            E::StatusChanged(PumpStatus::Filling),
            E::Filling {
                volume: Some(Volume::new(dec("0.428"))),
                amount: Money::new(dec("3477"))
            }
        ]
    );
    // Out: exact or refused.
    let mut invalid = |command| matches!(b.master.submit(p, command), Err(SubmitError::Invalid(_)));
    let authorize = |preset| {
        PumpCommand::Authorize(Authorization {
            preset: Some(preset),
            nozzles: vec![],
        })
    };
    assert!(invalid(authorize(Preset::Amount(Money::new(dec(
        "100000000"
    ))))));
    assert!(invalid(authorize(Preset::Amount(Money::new(dec(
        "3477.5"
    ))))));
    assert!(invalid(authorize(Preset::Volume(Volume::new(dec(
        "0.0005"
    ))))));
    assert!(invalid(authorize(Preset::Volume(Volume::new(dec(
        "100000"
    ))))));
    let price = |text| PumpCommand::SetPrices(vec![(NozzleId(1), UnitPrice::new(dec(text)))]);
    assert!(invalid(price("1000000")));
    assert!(invalid(price("8123.5")));
    assert!(invalid(price("-1")));
    assert_eq!(b.master.queued(p), Some(0));
    // dart.md B: CD5 one price 008123 (FC), at TX# F.
    for tx in 1..0x0F {
        b.master
            .submit(p, PumpCommand::ReturnStatus)
            .expect("queued");
        b.expect(&Frame::data(p, tx, vec![1, 1, 0]).encode().expect("frame"));
        b.reply(&ack(p, tx));
    }
    b.master.submit(p, price("8123")).expect("queued");
    b.expect_hex("51 3F | 05 03 00 81 23 | A8 07 | 03 FA");
}

#[test]
fn set_prices_sends_one_price_per_nozzle_in_order() {
    let mut b = Bench::one();
    assert_eq!(
        b.open(&[status(0), dc3(0, 0x00)]),
        [E::StatusChanged(PumpStatus::NotProgrammed)]
    );
    b.submit(PumpCommand::SetPrices(vec![
        (NozzleId(2), UnitPrice::new(dec("1.559"))),
        (NozzleId(1), UnitPrice::new(dec("1.459"))),
    ]));
    // Computed: CD5 001459 001559, TX# 1 (CRC-1 0x10 is a literal DLE, not an escape).
    b.command(&hex("50 31 | 05 06 00 14 59 00 15 59 | 10 DA | 03 FA"));
    // Prices make the pump go 0 → 5: not a sale, so no RETURN FILLING INFORMATION.
    b.pump_says(&[status(5)]);
    assert!(matches!(
        b.events().as_slice(),
        [
            E::CommandAccepted {
                command: PumpCommand::SetPrices(_)
            },
            E::StatusChanged(PumpStatus::Completed)
        ]
    ));
    b.pump_idle();
    b.pump_idle();
}

/// Pump 0x51 with nozzle 1 (grade 7), default decimals, its session opened and ACKed.
fn pump_51_session() -> (Bench, BusAddress) {
    let p = BusAddress(0x51);
    let setup = PumpSetup {
        address: p,
        decimals: Decimals::default(),
        nozzles: vec![(NozzleId(1), GradeId(7))],
    };
    let mut b = Bench::new(DartMasterSettings::default(), vec![setup]);
    b.expect_hex("51 20 FA");
    b.reply(&eot(p));
    b.expect(&session_block(p));
    b.reply(&ack(p, 0));
    b.expect_hex("51 20 FA");
    b.reply(&block(p, 0, &[status(1), dc3(1459, 0x01)]));
    b.expect_hex("51 C0 FA");
    b.events();
    (b, p)
}

#[test]
fn read_totals_asks_volume_and_amount_and_reports_them_together() {
    let (mut b, p) = pump_51_session();
    b.master
        .submit(p, PumpCommand::ReturnStatus)
        .expect("queued");
    b.master
        .submit(p, PumpCommand::ReadTotals(NozzleId(1)))
        .expect("queued");
    // dart.md B: CD1 RETURN STATUS TX#1 is computed.
    b.expect_hex("51 31 01 01 00 A3 60 03 FA");
    b.reply(&ack(p, 1));
    // Computed: CD101 COUN 1 + CD101 COUN 0x11, TX#2 (each alone: dart.md B `51 32 65 01
    // 01 23 3B` (IP, FC) and D `65 01 11`).
    b.expect_hex("51 32 | 65 01 01 | 65 01 11 | 33 79 | 03 FA");
    b.reply(&ack(p, 2));
    // dart.md C: DC101 COUN 1, TOTVAL 2, TOTM1 2, TOTM2 0 (IP), TX# D.
    b.expect_hex("51 20 FA");
    b.reply(&hex(
        "51 3D | 65 10 01 00 00 00 00 02 00 00 00 00 02 00 00 00 00 00 | 58 F8 | 03 FA",
    ));
    b.expect_hex("51 CD FA");
    assert_eq!(
        b.events(),
        [
            E::CommandAccepted {
                command: PumpCommand::ReturnStatus
            },
            E::CommandAccepted {
                command: PumpCommand::ReadTotals(NozzleId(1))
            },
        ],
        "half the answer is no Totals yet"
    );
    // Amount total with the number of fillings, and the pump's sum, which nobody asked.
    b.expect_hex("51 20 FA");
    b.reply(&block(
        p,
        0x0E,
        &[
            P::TotalCounters {
                coun: 0x11,
                totval: 1_336_384_966,
                totm1: Some(42),
                totm2: Some(0),
            },
            P::TotalCounters {
                coun: 0x09,
                totval: 281_249,
                totm1: None,
                totm2: None,
            },
        ],
    ));
    b.expect_hex("51 CE FA");
    assert_eq!(
        b.events(),
        [E::Totals(Totals {
            nozzle: NozzleId(1),
            grade: Some(GradeId(7)),
            volume: Some(Volume::new(dec("0.02"))),
            amount: Some(Money::new(dec("13363849.66"))),
            fillings: Some(42)
        })]
    );
    // A late repeat of the answer is no second Totals.
    b.expect_hex("51 20 FA");
    b.reply(&hex(
        "51 3F | 65 10 01 00 00 00 00 02 00 00 00 00 02 00 00 00 00 00 | 21 40 | 03 FA",
    ));
    b.expect_hex("51 CF FA");
    assert!(b.events().is_empty());
}

/// §3.4: the pump ACKs a totals request it takes for a retransmission and never answers
/// it; the master asks again with a new TX# after `apply_patience` EOTs, `retries`
/// times, then reports the totals unreadable.
#[test]
fn unanswered_totals_are_asked_again_with_a_new_tx_then_fail() {
    let (mut b, p) = pump_51_session();
    b.master
        .submit(p, PumpCommand::ReadTotals(NozzleId(1)))
        .expect("queued");
    let patience = DartMasterSettings::default().apply_patience;
    let retries = DartMasterSettings::default().retries;
    for round in 0..=retries {
        let tx = 1 + u8::try_from(round).expect("few rounds");
        let wire = Frame::data(p, tx, vec![0x65, 0x01, 0x01, 0x65, 0x01, 0x11])
            .encode()
            .expect("frame");
        b.expect(&wire);
        b.reply(&ack(p, tx));
        b.idle_polls(p, patience);
    }
    assert_eq!(
        b.events(),
        accepted_then(
            PumpCommand::ReadTotals(NozzleId(1)),
            CommandFailure::NotApplied
        )
    );
    b.expect_hex("51 20 FA");
}

/// A pump that answers only the volume half (the LNG-6 DC101 of §5.4 has no amount) gets
/// the request again; the totals are reported once both halves have come.
#[test]
fn totals_with_one_half_missing_are_asked_again() {
    let (mut b, p) = pump_51_session();
    b.master
        .submit(p, PumpCommand::ReadTotals(NozzleId(1)))
        .expect("queued");
    // Computed: CD101 COUN 1 + CD101 COUN 0x11, TX#1.
    b.expect_hex("51 31 | 65 01 01 | 65 01 11 | 00 79 | 03 FA");
    b.reply(&ack(p, 1));
    // The payload of dart.md C's non-standard short DC101 (IB): COUN 1, total 0000010634.
    b.expect_hex("51 20 FA");
    let short = Frame::data(p, 6, hex("65 06 01 00 00 01 06 34"));
    b.reply(&short.encode().expect("frame"));
    b.expect_hex("51 C6 FA");
    b.idle_polls(p, DartMasterSettings::default().apply_patience);
    b.expect(
        &Frame::data(p, 2, vec![0x65, 0x01, 0x01, 0x65, 0x01, 0x11])
            .encode()
            .expect("frame"),
    );
    b.reply(&ack(p, 2));
    b.pump_says_from(
        p,
        7,
        &[P::TotalCounters {
            coun: 0x11,
            totval: 5_000,
            totm1: Some(3),
            totm2: Some(0),
        }],
    );
    let totals: Vec<E> = b
        .events()
        .into_iter()
        .filter(|e| matches!(e, E::Totals(_)))
        .collect();
    assert_eq!(
        totals,
        [E::Totals(Totals {
            nozzle: NozzleId(1),
            grade: Some(GradeId(7)),
            volume: Some(Volume::new(dec("106.34"))),
            amount: Some(Money::new(dec("50.00"))),
            fillings: Some(3)
        })]
    );
}

// ---------------------------------------------------------------------------------------
// Authorize

/// A session with pump 0x51 (nozzles 1, 2, 3; RESET) and its TX# brought to `tx`.
fn pump_51_at_tx(tx: u8) -> Bench {
    let p = BusAddress(0x51);
    let setup = PumpSetup {
        address: p,
        decimals: Decimals::default(),
        nozzles: vec![
            (NozzleId(1), GradeId(1)),
            (NozzleId(2), GradeId(2)),
            (NozzleId(3), GradeId(3)),
        ],
    };
    let mut b = Bench::new(DartMasterSettings::default(), vec![setup]);
    b.expect_hex("51 20 FA");
    b.reply(&eot(p));
    b.expect(&session_block(p));
    b.reply(&ack(p, 0));
    b.expect_hex("51 20 FA");
    b.reply(&block(p, 0, &[status(1), dc3(1459, 0x01)]));
    b.expect_hex("51 C0 FA");
    for t in 1..tx {
        b.master
            .submit(p, PumpCommand::ReturnStatus)
            .expect("queued");
        b.expect(&Frame::data(p, t, vec![1, 1, 0]).encode().expect("frame"));
        b.reply(&ack(p, t));
    }
    b.events();
    b
}

#[test]
fn authorize_in_reset_matches_the_dart_vectors() {
    let p = BusAddress(0x51);
    // dart.md D: CD2 1,2,3 + CD4 00010000 + CD1 AUTHORIZE, TX# 9 (computed).
    let mut b = pump_51_at_tx(9);
    let command = PumpCommand::Authorize(Authorization {
        preset: Some(Preset::Amount(Money::new(dec("100.00")))),
        nozzles: vec![],
    });
    b.master.submit(p, command).expect("queued");
    b.expect_hex("51 39 | 02 03 01 02 03 | 04 04 00 01 00 00 | 01 01 06 | E6 7B | 03 FA");
    // dart.md B: CD2 nozzle 1 + CD1 AUTHORIZE, TX# 4 (MG).
    let mut b = pump_51_at_tx(4);
    let command = PumpCommand::Authorize(Authorization {
        preset: None,
        nozzles: vec![NozzleId(1)],
    });
    b.master.submit(p, command).expect("queued");
    b.expect_hex("51 34 | 02 01 01 | 01 01 06 | 5C BF | 03 FA");
}

#[test]
fn authorize_out_of_reset_opens_with_reset_before_the_preset() {
    let mut b = Bench::one();
    // Found at FILLING COMPLETED: the session reports the last sale first.
    b.open(&[status(5), dc3(1459, 0x01), dc2(0, 0), dc3(1459, 0x01)]);
    b.submit(PumpCommand::Authorize(Authorization {
        preset: Some(Preset::Volume(Volume::new(dec("20.00")))),
        nozzles: vec![],
    }));
    // Computed: CD1 RESET + CD2 1,2 + CD3 00002000 + CD1 AUTHORIZE, TX# 1.
    b.command(&hex(
        "50 31 | 01 01 05 | 02 02 01 02 | 03 04 00 00 20 00 | 01 01 06 | 4E 3E | 03 FA",
    ));
    b.pump_says(&[status(1), status(2)]);
    assert!(matches!(
        b.events().as_slice(),
        [
            E::CommandAccepted {
                command: PumpCommand::Authorize(_)
            },
            E::StatusChanged(PumpStatus::Idle),
            E::StatusChanged(PumpStatus::Authorized)
        ]
    ));
}

// ---------------------------------------------------------------------------------------
// End of sale

#[test]
fn a_dispatch_ends_in_exactly_one_transaction_completed() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(PumpCommand::Authorize(Authorization {
        preset: Some(Preset::Amount(Money::new(dec("20.00")))),
        nozzles: vec![],
    }));
    // Computed: CD2 1,2 + CD4 00002000 + CD1 AUTHORIZE (no RESET: the pump is in RESET).
    b.command(&hex(
        "50 31 | 02 02 01 02 | 04 04 00 00 20 00 | 01 01 06 | 59 D8 | 03 FA",
    ));
    b.pump_says(&[status(2)]);
    b.pump_says(&[dc3(1459, 0x11)]);
    b.pump_says(&[dc2(100, 146), status(4)]);
    b.pump_says(&[dc2(1000, 1459)]);
    b.pump_says(&[dc2(1000, 1459)]);
    b.pump_says(&[dc2(1371, 2000)]);
    assert_eq!(
        b.events(),
        [
            E::CommandAccepted {
                command: PumpCommand::Authorize(Authorization {
                    preset: Some(Preset::Amount(Money::new(dec("20.00")))),
                    nozzles: vec![],
                })
            },
            E::StatusChanged(PumpStatus::Authorized),
            E::NozzleUp {
                nozzle: NozzleId(1),
                grade: Some(GradeId(95)),
                unit_price: Some(UnitPrice::new(dec("1.459")))
            },
            E::StatusChanged(PumpStatus::Filling),
            E::Filling {
                volume: Some(Volume::new(dec("10.00"))),
                amount: Money::new(dec("14.59"))
            },
            E::Filling {
                volume: Some(Volume::new(dec("13.71"))),
                amount: Money::new(dec("20.00"))
            },
        ]
    );
    // Preset reached: status 6.
    b.pump_says(&[status(6)]);
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Completed)]);
    // The daemon is quick to reset; the reset waits for the figures.
    b.submit(PumpCommand::Reset);
    // Computed: CD1 RETURN FILLING INFORMATION, TX# 2.
    b.command(&hex("50 32 | 01 01 04 | 9F 27 | 03 FA"));
    b.pump_idle();
    b.pump_says(&[dc2(1371, 2000), dc3(1459, 0x01)]);
    assert_eq!(
        b.events(),
        [
            E::NozzleDown {
                nozzle: NozzleId(1)
            },
            completed(
                1,
                95,
                "13.71",
                "20.00",
                "1.459",
                CompletionReason::PresetReached
            ),
        ]
    );
    // The held RESET goes out now (computed: CD1 RESET, TX# 3). 6 → 5 as the nozzle goes
    // back is the same sale: nothing more is reported for it.
    b.command(&hex("50 33 | 01 01 05 | 5F 1B | 03 FA"));
    b.pump_says(&[status(5), status(1), dc2(0, 0)]);
    b.pump_says(&[status(5)]);
    assert_eq!(
        b.events(),
        [
            E::CommandAccepted {
                command: PumpCommand::Reset
            },
            E::StatusChanged(PumpStatus::Idle),
            E::StatusChanged(PumpStatus::Completed),
        ]
    );
    // RESET → 5 (a STOP in RESET) is no dispatch: polled, not asked for figures.
    b.pump_idle();
}

#[test]
fn a_zero_volume_dispatch_is_reported_too() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.pump_says(&[status(2), dc3(1459, 0x12)]);
    b.pump_says(&[dc3(1459, 0x02), status(5)]);
    b.command(&hex("50 31 01 01 04 9F 63 03 FA"));
    b.pump_says(&[dc2(0, 0), dc3(1459, 0x02)]);
    assert_eq!(
        b.events(),
        [
            E::StatusChanged(PumpStatus::Authorized),
            E::NozzleUp {
                nozzle: NozzleId(2),
                grade: Some(GradeId(98)),
                unit_price: Some(UnitPrice::new(dec("1.459")))
            },
            E::NozzleDown {
                nozzle: NozzleId(2)
            },
            E::StatusChanged(PumpStatus::Completed),
            completed(2, 98, "0", "0", "1.459", CompletionReason::Normal),
        ]
    );
}

#[test]
fn a_sale_found_at_session_start_is_reported_once_per_session() {
    let answer = [status(5), dc3(1645, 0x02), dc2(1234, 1800), dc3(1645, 0x02)];
    let mut b = Bench::one();
    // The session block already asks RETURN FILLING INFORMATION: no second request.
    assert_eq!(
        b.open(&answer),
        [
            E::StatusChanged(PumpStatus::Completed),
            completed(2, 98, "12.34", "18.00", "1.645", CompletionReason::Normal),
        ]
    );
    b.pump_idle();
    // Asked again, the pump repeats status 5: not a new sale.
    b.submit(PumpCommand::ReturnStatus);
    // Same bytes as dart.md C `50 31 01 01 00 9E A0` (IP, IB): CD1 and DC1 share TRANS 1.
    b.command(&hex("50 31 01 01 00 9E A0 03 FA"));
    b.pump_says(&[status(5), dc3(1645, 0x02)]);
    b.pump_idle();
    assert_eq!(
        b.events(),
        [E::CommandAccepted {
            command: PumpCommand::ReturnStatus
        }]
    );
    // Offline and back: a new session reports the pump's last figures again, once.
    for _ in 0..5 {
        b.expect_hex("50 20 FA");
        b.silence();
    }
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Offline)]);
    b.ptx = 0;
    assert_eq!(
        b.open(&answer),
        [
            E::StatusChanged(PumpStatus::Completed),
            completed(2, 98, "12.34", "18.00", "1.645", CompletionReason::Normal),
        ]
    );
}

#[test]
fn a_sale_announced_before_the_session_block_is_reported_from_its_answer() {
    let mut b = Bench::one();
    // The pump's first answer is the block it was holding: DC1 5.
    b.expect_hex("50 20 FA");
    b.reply(&block(A, 7, &[status(5), dc3(1645, 0x01)]));
    b.expect_hex("50 C7 FA");
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Completed)]);
    b.command(&session_block(A));
    b.ptx = 8;
    b.pump_says(&[status(5), dc3(1645, 0x01), dc2(500, 823), dc3(1645, 0x01)]);
    assert_eq!(
        b.events(),
        [completed(
            1,
            95,
            "5.00",
            "8.23",
            "1.645",
            CompletionReason::Normal
        )]
    );
    b.pump_idle();
}

#[test]
fn figures_read_before_the_end_are_not_taken_for_the_final_ones() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.pump_says(&[status(2), dc3(1459, 0x11), status(4)]);
    // The daemon asks for the running figures; the pump answers with DC2 only, then ends.
    b.submit(PumpCommand::ReturnFillingInfo);
    b.command(&hex("50 31 01 01 04 9F 63 03 FA"));
    b.pump_says(&[dc2(700, 1021)]);
    b.pump_says(&[dc3(1459, 0x01), status(5)]);
    b.events();
    // A fresh request for the final figures (computed: TX# 2).
    b.command(&hex("50 32 01 01 04 9F 27 03 FA"));
    b.pump_says(&[dc2(812, 1185), dc3(1459, 0x01)]);
    assert_eq!(
        b.events(),
        [completed(
            1,
            95,
            "8.12",
            "11.85",
            "1.459",
            CompletionReason::Normal
        )]
    );
}

#[test]
fn a_dc2_without_dc3_is_completed_with_the_last_dc3_at_the_next_eot() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.pump_says(&[status(2), dc3(1459, 0x11), status(4)]);
    b.pump_says(&[dc3(1459, 0x01), status(5)]);
    b.events();
    b.command(&hex("50 31 01 01 04 9F 63 03 FA"));
    b.pump_says(&[dc2(250, 365)]);
    assert!(b.events().is_empty());
    b.pump_idle();
    assert_eq!(
        b.events(),
        [completed(
            1,
            95,
            "2.50",
            "3.65",
            "1.459",
            CompletionReason::Normal
        )]
    );
}

#[test]
fn an_unanswered_filling_request_is_repeated_then_abandoned() {
    let settings = DartMasterSettings {
        retries: 1,
        ..DartMasterSettings::default()
    };
    let mut b = Bench::new(settings, vec![pump(0x50)]);
    b.open(&idle_answer());
    b.pump_says(&[status(2), status(4), dc3(1459, 0x01), status(5)]);
    b.events();
    b.submit(PumpCommand::Reset);
    b.command(&hex("50 31 01 01 04 9F 63 03 FA"));
    for _ in 0..3 {
        b.pump_idle();
    }
    // Asked again with a new TX#.
    b.command(&hex("50 32 01 01 04 9F 27 03 FA"));
    for _ in 0..3 {
        b.pump_idle();
    }
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::ReturnFillingInfo,
            failure: CommandFailure::NoAnswer
        }]
    );
    // The held RESET is released (computed: CD1 RESET, TX# 3).
    b.command(&hex("50 33 01 01 05 5F 1B 03 FA"));
}

#[test]
fn nozzle_and_status_vectors_from_a_real_head() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    // dart.md C: DC1 RESET + DC3 price 002180, nozzle 1 out (IB), TX# 4.
    b.expect_hex("50 20 FA");
    b.reply(&hex("50 34 | 01 01 01 | 03 04 00 21 80 11 | 9C 82 | 03 FA"));
    b.expect_hex("50 C4 FA");
    // dart.md C: DC1 AUTHORIZED + DC3 same (IB), TX# 6.
    b.expect_hex("50 20 FA");
    b.reply(&hex("50 36 | 01 01 02 | 03 04 00 21 80 11 | 0E 48 | 03 FA"));
    b.expect_hex("50 C6 FA");
    assert_eq!(
        b.events(),
        [
            E::NozzleUp {
                nozzle: NozzleId(1),
                grade: Some(GradeId(95)),
                unit_price: Some(UnitPrice::new(dec("2.180")))
            },
            E::StatusChanged(PumpStatus::Calling),
            E::StatusChanged(PumpStatus::Authorized),
        ]
    );
}

#[test]
fn the_masters_own_blocks_fail_like_commands() {
    let mut b = Bench::one();
    b.pump_idle();
    // The session block is refused every time: reported as RETURN STATUS.
    b.expect(&session_block(A));
    b.reply(&hex("50 50 FA"));
    for _ in 0..3 {
        b.expect(&session_block(A));
        b.reply(&hex("50 50 FA"));
    }
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::ReturnStatus,
            failure: CommandFailure::Rejected
        }]
    );
    // The pump reports a finished sale by itself; its end-of-sale request is refused too.
    b.ptx = 1;
    b.pump_says(&[status(4), dc3(1459, 0x01), status(5)]);
    b.events();
    b.submit(PumpCommand::Reset);
    // Computed: CD1 RETURN FILLING INFORMATION, TX# 1, then TX# 0 after each NAK.
    b.expect_hex("50 31 01 01 04 9F 63 03 FA");
    b.reply(&hex("50 51 FA"));
    for _ in 0..3 {
        b.expect_hex("50 30 01 01 04 9E 9F 03 FA");
        b.reply(&hex("50 50 FA"));
    }
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::ReturnFillingInfo,
            failure: CommandFailure::Rejected
        }]
    );
    // The sale is dropped for this session and the held RESET goes (TX# 1 after the
    // burnt 0). Computed: CD1 RESET, TX# 1.
    b.expect_hex("50 31 01 01 05 5E A3 03 FA");
}

// ---------------------------------------------------------------------------------------
// Acknowledged is not applied (§3.4, §5.5)

fn authorize_all() -> PumpCommand {
    PumpCommand::Authorize(Authorization::default())
}

/// Computed: CD2 1,2 + CD1 AUTHORIZE, TX# 1 (the pump is in RESET).
const AUTHORIZE_TX1: &str = "50 31 | 02 02 01 02 | 01 01 06 | F0 D3 | 03 FA";

/// Regression: a strict pump ACKs an AUTHORIZE it takes for a retransmission (§3.4) and
/// stays idle; the master reported nothing more than the ACK, so the dispatch stayed
/// open on an idle pump. Now `apply_patience` EOTs without DC1 AUTHORIZED report it.
#[test]
fn regression_authorize_acked_as_a_retransmission_is_reported_not_applied() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(authorize_all());
    b.command(&hex(AUTHORIZE_TX1));
    assert_eq!(
        b.events(),
        [E::CommandAccepted {
            command: authorize_all()
        }]
    );
    for _ in 1..DartMasterSettings::default().apply_patience {
        b.pump_idle();
    }
    assert!(b.events().is_empty(), "not before patience runs out");
    b.pump_idle();
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: authorize_all(),
            failure: CommandFailure::NotApplied
        }]
    );
    // Reported once, and not resent: a second AUTHORIZE is the daemon's decision.
    for _ in 0..10 {
        b.pump_idle();
    }
    assert!(b.events().is_empty());
}

#[test]
fn an_authorize_shown_applied_is_never_reported_not_applied() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.submit(authorize_all());
    b.command(&hex(AUTHORIZE_TX1));
    b.pump_idle();
    b.pump_says(&[status(2)]);
    for _ in 0..10 {
        b.pump_idle();
    }
    assert_eq!(
        b.events(),
        [
            E::CommandAccepted {
                command: authorize_all()
            },
            E::StatusChanged(PumpStatus::Authorized)
        ]
    );
}

/// Regression: every session starts at TX# 0; a pump whose last accepted block was the
/// previous session's TX# 0 ACKs the new session block as a retransmission and never
/// answers it, and the position stayed offline while the pump answered every poll. The
/// master asks again with TX# 1 once `apply_patience` EOTs brought no DC1.
#[test]
fn regression_session_block_acked_as_a_retransmission_is_asked_again() {
    let mut b = Bench::one();
    b.pump_idle();
    b.command(&session_block(A));
    for _ in 0..DartMasterSettings::default().apply_patience {
        b.pump_idle();
    }
    assert_eq!(b.master.status(A), Some(PumpStatus::Offline), "no DC1 yet");
    // Computed: CD1 RETURN STATUS + CD1 RETURN FILLING INFORMATION, TX# 1.
    b.command(&hex("50 31 | 01 01 00 | 01 01 04 | 48 7D | 03 FA"));
    b.pump_says(&idle_answer());
    assert_eq!(b.events(), [E::StatusChanged(PumpStatus::Idle)]);
    assert_eq!(b.master.status(A), Some(PumpStatus::Idle));
}

/// A pump that never answers RETURN STATUS is asked `retries` more times, then the
/// request is reported; polling goes on.
#[test]
fn a_status_request_never_answered_is_reported_after_every_round() {
    let mut b = Bench::one();
    b.pump_idle();
    let settings = DartMasterSettings::default();
    for round in 0..=settings.retries {
        let tx = u8::try_from(round).expect("few rounds");
        let wire = Frame::data(A, tx, hex("01 01 00 01 01 04"))
            .encode()
            .expect("frame");
        b.command(&wire);
        for _ in 0..settings.apply_patience {
            b.pump_idle();
        }
    }
    assert_eq!(
        b.events(),
        [E::CommandFailed {
            command: PumpCommand::ReturnStatus,
            failure: CommandFailure::NotApplied
        }]
    );
    b.pump_idle();
    assert_eq!(b.master.is_online(A), Some(true));
}

/// §5.5 field observation: a lone CD1 RESET from FILLING COMPLETED was ACKed and DC1
/// stayed 5 on one head. The master reports it instead of leaving the daemon waiting.
#[test]
fn a_reset_acked_while_the_pump_stays_completed_is_reported_not_applied() {
    let mut b = Bench::one();
    b.open(&[status(5), dc3(1459, 0x01), dc2(0, 0), dc3(1459, 0x01)]);
    b.events();
    b.submit(PumpCommand::Reset);
    // Computed: CD1 RESET, TX# 1.
    b.command(&hex("50 31 01 01 05 5E A3 03 FA"));
    b.pump_says(&[status(5)]);
    for _ in 0..DartMasterSettings::default().apply_patience {
        b.pump_idle();
    }
    assert_eq!(
        b.events(),
        accepted_then(PumpCommand::Reset, CommandFailure::NotApplied)
    );
    // A RESET the pump takes is shown by DC1 RESET and never reported.
    b.submit(PumpCommand::Reset);
    b.command(&hex("50 32 01 01 05 5E E7 03 FA"));
    b.pump_says(&[status(1)]);
    // A RESET in RESET changes nothing and is not watched.
    b.submit(PumpCommand::Reset);
    b.command(&hex("50 33 01 01 05 5F 1B 03 FA"));
    for _ in 0..2 * DartMasterSettings::default().apply_patience {
        b.pump_idle();
    }
    assert_eq!(
        b.events(),
        [
            E::CommandAccepted {
                command: PumpCommand::Reset
            },
            E::StatusChanged(PumpStatus::Idle),
            E::CommandAccepted {
                command: PumpCommand::Reset
            },
        ]
    );
}

#[test]
fn a_stop_acked_while_the_pump_goes_on_filling_is_reported_not_applied() {
    let mut b = Bench::one();
    b.open(&idle_answer());
    b.pump_says(&[status(2), dc3(1459, 0x11), status(4)]);
    b.events();
    b.submit(PumpCommand::Stop);
    b.command(&hex("50 31 01 01 08 9F 66 03 FA"));
    b.pump_says(&[dc2(500, 730)]);
    for _ in 0..DartMasterSettings::default().apply_patience {
        b.pump_idle();
    }
    let failed: Vec<E> = b
        .events()
        .into_iter()
        .filter(|e| matches!(e, E::CommandFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        [E::CommandFailed {
            command: PumpCommand::Stop,
            failure: CommandFailure::NotApplied
        }]
    );
}

/// A totals request asked again after an ACK without answer, whose resend the pump then
/// refuses: the command fails once, `Rejected`, and a late answer brings no `Totals`.
#[test]
fn a_refused_resend_of_totals_fails_the_command_once() {
    let (mut b, p) = pump_51_session();
    b.master
        .submit(p, PumpCommand::ReadTotals(NozzleId(1)))
        .expect("queued");
    b.expect_hex("51 31 | 65 01 01 | 65 01 11 | 00 79 | 03 FA");
    b.reply(&ack(p, 1));
    b.idle_polls(p, DartMasterSettings::default().apply_patience);
    for _ in 0..=DartMasterSettings::default().retries {
        match decode_all(&b.tx()).as_slice() {
            [Decoded::Frame(Frame::Data { tx, payload, .. })] => {
                let tx = *tx;
                assert_eq!(*payload, hex("65 01 01 65 01 11"));
                assert_ne!(tx, 1, "never the TX# the pump accepted last");
                b.reply(&Frame::nak(p, tx).encode().expect("NAK"));
            }
            other => panic!("expected the resend, got {other:?}"),
        }
    }
    b.pump_says_from(
        p,
        1,
        &[
            P::TotalCounters {
                coun: 0x01,
                totval: 7,
                totm1: Some(7),
                totm2: Some(0),
            },
            P::TotalCounters {
                coun: 0x11,
                totval: 9,
                totm1: Some(1),
                totm2: Some(0),
            },
        ],
    );
    assert_eq!(
        b.events(),
        accepted_then(
            PumpCommand::ReadTotals(NozzleId(1)),
            CommandFailure::Rejected
        )
    );
}
