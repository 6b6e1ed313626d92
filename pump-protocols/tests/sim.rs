//! The DART pump simulator, driven from the master's side by hand: master frames built with
//! the codec, fed with a fake clock, answers decoded and checked byte for byte, by TX#, by
//! time and by what was dispensed. Captured frames come from docs/protocols/dart.md ("Test
//! vectors", source keys as there); the others are built with the codec.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use pump_protocols::dart::sim::{DartPumpView, NozzleTotals, SimPreset};
use pump_protocols::dart::{
    encode_master, encode_pump, DartSimulator, DartStatus, Dcc, Decoded, DiscardReason,
    DuplicateRule, Frame, FrameDecoder, MasterTransaction, Nozio, PumpTransaction, SimPumpSetup,
    SimSettings, TxWrap,
};
use pump_protocols::{
    BusAddress, Decimals, LineSimulator, Money, NozzleId, PumpStatus, SimAction, SubmitError,
    Totals, UnitPrice, Volume,
};
use rust_decimal::Decimal;

const P50: BusAddress = BusAddress(0x50);
const P51: BusAddress = BusAddress(0x51);
const N1: NozzleId = NozzleId(1);
const N2: NozzleId = NozzleId(2);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn dec(volume: u8, amount: u8, price: u8) -> Decimals {
    Decimals {
        volume,
        amount,
        price,
    }
}

fn price(raw: u64, decimals: u8) -> UnitPrice {
    UnitPrice::from_raw(raw, decimals)
}

fn per_minute(litres: u64) -> Volume {
    Volume::from_raw(litres, 0)
}

fn sim_with(pumps: Vec<SimPumpSetup>, settings: SimSettings) -> DartSimulator {
    DartSimulator::new(pumps, settings).expect("valid setup")
}

/// One pump at 0x50, nozzles 1 (1.645) and 2 (1.759), 2/2/3 decimals.
fn one_pump(settings: SimSettings) -> DartSimulator {
    sim_with(
        vec![SimPumpSetup::new(
            P50,
            dec(2, 2, 3),
            vec![(N1, price(1645, 3)), (N2, price(1759, 3))],
        )],
        settings,
    )
}

fn programmed() -> SimSettings {
    SimSettings {
        start_programmed: true,
        ..SimSettings::default()
    }
}

fn cmd(dcc: Dcc) -> MasterTransaction {
    MasterTransaction::Command(dcc)
}

fn status(code: DartStatus) -> PumpTransaction {
    PumpTransaction::Status(code)
}

fn dc2(volume: u32, amount: u32) -> PumpTransaction {
    PumpTransaction::FilledVolumeAmount { volume, amount }
}

fn dc3(price: u32, nozzle: u8, out: bool) -> PumpTransaction {
    PumpTransaction::NozzleStatus {
        price,
        nozio: Nozio::new(nozzle, out),
    }
}

/// Decodes what a pump put on the line: nothing, or exactly one well-formed frame.
fn decode_answer(bytes: &[u8]) -> Option<Frame> {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes);
    let mut items: Vec<Decoded> = std::iter::from_fn(|| decoder.next_item()).collect();
    items.extend(decoder.finish());
    match items.as_slice() {
        [] => None,
        [Decoded::Frame(frame)] => Some(frame.clone()),
        other => panic!("expected one frame, got {other:?}"),
    }
}

fn data_payload(frame: &Frame) -> (u8, Vec<PumpTransaction>) {
    match frame {
        Frame::Data { tx, payload, .. } => (
            *tx,
            pump_protocols::dart::decode_pump(payload).expect("well-formed pump block"),
        ),
        other => panic!("expected a data block, got {other:?}"),
    }
}

/// The master's side of the line, by hand, with a fake clock.
struct Bench {
    sim: DartSimulator,
    now: Instant,
    /// Bytes the pumps put on the line and nobody read yet.
    heard: Vec<u8>,
    /// TX# of the master's next block (starts at 1 so TX# 0 restart rules stay out of it).
    master_tx: u8,
}

impl Bench {
    fn new(sim: DartSimulator) -> Self {
        Self {
            sim,
            now: Instant::now(),
            heard: Vec::new(),
            master_tx: 1,
        }
    }

    fn answer_delay(&self) -> Duration {
        self.sim.settings().answer_delay
    }

    /// Lets `d` pass as the line task does: wakes at every deadline on the way, writes out
    /// every answer that falls due.
    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..10_000_000 {
            while let Some(bytes) = self.sim.poll_transmit(self.now) {
                self.heard.extend(bytes);
            }
            match self.sim.poll_timeout() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.sim.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    self.sim.handle_timeout(end);
                    while let Some(bytes) = self.sim.poll_transmit(end) {
                        self.heard.extend(bytes);
                    }
                    return;
                }
            }
        }
        panic!("the simulator keeps asking to be woken up");
    }

    fn wait_until(&mut self, at: Instant) {
        let now = self.now;
        assert!(at >= now, "the bench is already past that instant");
        self.wait(at - now);
    }

    /// Writes `bytes`, waits one answer delay and returns what came back.
    fn raw(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.heard.clear();
        self.sim.handle_input(bytes, self.now);
        self.wait(self.answer_delay());
        std::mem::take(&mut self.heard)
    }

    fn send(&mut self, frame: &Frame) -> Option<Frame> {
        let bytes = frame.encode().expect("encodable");
        decode_answer(&self.raw(&bytes))
    }

    fn poll(&mut self, address: BusAddress) -> Option<Frame> {
        self.send(&Frame::poll(address))
    }

    fn ack(&mut self, address: BusAddress, tx: u8) {
        assert_eq!(
            self.send(&Frame::ack(address, tx)),
            None,
            "an ACK gets no answer"
        );
    }

    /// Sends a master block with a fresh TX# and checks the pump ACKs it.
    fn command(&mut self, address: BusAddress, transactions: Vec<MasterTransaction>) {
        let tx = self.master_tx;
        self.master_tx = TxWrap::FTo1.next(tx);
        let payload = encode_master(&transactions).expect("encodable");
        assert_eq!(
            self.send(&Frame::data(address, tx, payload)),
            Some(Frame::ack(address, tx)),
            "{transactions:?}"
        );
    }

    /// Polls and ACKs until EOT; every transaction the pump had, in order.
    fn collect(&mut self, address: BusAddress) -> Vec<PumpTransaction> {
        let mut all = Vec::new();
        for _ in 0..50 {
            match self.poll(address) {
                Some(frame @ Frame::Data { .. }) => {
                    let (tx, transactions) = data_payload(&frame);
                    all.extend(transactions);
                    self.ack(address, tx);
                }
                Some(frame) => {
                    assert_eq!(frame, Frame::eot(address));
                    return all;
                }
                None => panic!("pump {address} did not answer a POLL"),
            }
        }
        panic!("pump {address} never ran out of data");
    }

    fn act(&mut self, address: BusAddress, action: SimAction) {
        let now = self.now;
        self.sim.act(address, action, now).expect("action accepted");
    }

    fn view(&self, address: BusAddress) -> DartPumpView {
        self.sim.pump(address).expect("simulated pump")
    }

    /// Burns pump blocks (RETURN STATUS answers) until its next TX# is `tx`.
    fn pump_tx_to(&mut self, address: BusAddress, tx: u8) {
        self.collect(address);
        while self.view(address).tx_out != tx {
            self.command(address, vec![cmd(Dcc::ReturnStatus)]);
            self.collect(address);
        }
    }

    /// RESET then AUTHORIZE, the queue drained: the pump is authorized.
    fn authorize(&mut self, address: BusAddress, presets: Vec<MasterTransaction>) {
        let mut block = vec![cmd(Dcc::Reset)];
        block.extend(presets);
        block.push(cmd(Dcc::Authorize));
        self.command(address, block);
        self.collect(address);
        assert_eq!(self.view(address).status, DartStatus::Authorized);
    }
}

// ---------------------------------------------------------------------------------------
// Link level

#[test]
fn answers_after_the_answer_delay_not_before() {
    let mut sim = one_pump(SimSettings::default());
    let t0 = Instant::now();
    // The master's POLL arrives in two reads; the delay runs from the end of the frame.
    sim.handle_input(&[0x50, 0x20], t0);
    assert_eq!(sim.poll_timeout(), None);
    let t1 = t0 + ms(3);
    sim.handle_input(&[0xFA], t1);
    assert_eq!(sim.poll_timeout(), Some(t1 + ms(5)));
    assert_eq!(
        sim.poll_transmit(t1 + ms(5) - Duration::from_nanos(1)),
        None
    );
    assert_eq!(sim.poll_transmit(t1 + ms(5)), Some(vec![0x50, 0x70, 0xFA]));
    assert_eq!(sim.poll_transmit(t1 + ms(5)), None);
    assert_eq!(sim.poll_timeout(), None);

    let mut slow = one_pump(SimSettings {
        answer_delay: ms(12),
        ..SimSettings::default()
    });
    slow.handle_input(&[0x50, 0x20, 0xFA], t0);
    assert_eq!(slow.poll_transmit(t0 + ms(11)), None);
    assert_eq!(
        slow.poll_transmit(t0 + ms(12)),
        Some(vec![0x50, 0x70, 0xFA])
    );
}

#[test]
fn answers_only_its_own_addresses() {
    let prices = [(N1, price(1645, 3))];
    let sim = DartSimulator::with_pumps(2, P50, dec(2, 2, 3), &prices).expect("valid");
    let mut bench = Bench::new(sim);
    // §A: `50 20 FA` → `50 70 FA`, `51 20 FA` → `51 70 FA`.
    assert_eq!(bench.raw(&[0x50, 0x20, 0xFA]), [0x50, 0x70, 0xFA]);
    assert_eq!(bench.raw(&[0x51, 0x20, 0xFA]), [0x51, 0x70, 0xFA]);
    // 0x52 is not on this simulated line: silence.
    assert_eq!(bench.raw(&[0x52, 0x20, 0xFA]), [0u8; 0]);
    // EOT and IAP are never answered; turnaround noise before a POLL is skipped.
    assert_eq!(bench.raw(&[0x50, 0x70, 0xFA]), [0u8; 0]);
    assert_eq!(bench.raw(&[0x50, 0x40, 0xFA]), [0u8; 0]);
    assert_eq!(
        bench.raw(&[0xFE, 0xBC, 0x51, 0x20, 0xFA]),
        [0x51, 0x70, 0xFA]
    );
    assert_eq!(bench.sim.poll_timeout(), None);
}

#[test]
fn packs_queued_transactions_in_event_order() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.act(P50, SimAction::SetFlowRate(Volume::ZERO));
    bench.act(P50, SimAction::LiftNozzle(N2));
    bench.command(
        P50,
        vec![
            cmd(Dcc::ReturnStatus),
            cmd(Dcc::ReturnFillingInfo),
            MasterTransaction::RequestTotals(0x01),
        ],
    );
    let expected = encode_pump(&[
        dc3(1759, 2, true), // the lift
        status(DartStatus::FillingCompleted),
        dc3(1759, 2, true),
        dc2(0, 0),
        dc3(1759, 2, true),
        PumpTransaction::TotalCounters {
            coun: 0x01,
            totval: 0,
            totm1: Some(0),
            totm2: Some(0),
        },
    ])
    .expect("encodable");
    assert_eq!(bench.poll(P50), Some(Frame::data(P50, 0, expected)));
}

#[test]
fn a_long_queue_goes_in_blocks_of_at_most_250_bytes() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.command(P50, vec![MasterTransaction::RequestTotals(0x01); 20]);
    let first = bench.poll(P50).expect("answer");
    let (tx, transactions) = data_payload(&first);
    // DC101 is 18 bytes: 13 fit in 250.
    assert_eq!((tx, transactions.len()), (0, 13));
    bench.ack(P50, 0);
    let (tx, transactions) = data_payload(&bench.poll(P50).expect("answer"));
    assert_eq!((tx, transactions.len()), (1, 7));
}

#[test]
fn resends_the_same_block_until_it_is_acked() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.act(P50, SimAction::SetFlowRate(Volume::ZERO));
    bench.act(P50, SimAction::LiftNozzle(N1));
    let block = Frame::data(
        P50,
        0,
        encode_pump(&[dc3(1645, 1, true)]).expect("encodable"),
    );
    assert_eq!(bench.poll(P50), Some(block.clone()));
    // Not ACKed: the same block, same TX#, even with newer events queued behind it.
    bench.act(P50, SimAction::HangNozzle);
    assert_eq!(bench.poll(P50), Some(block.clone()));
    // NAK: sent again on the next POLL.
    assert_eq!(bench.send(&Frame::nak(P50, 0)), None);
    assert_eq!(bench.poll(P50), Some(block.clone()));
    // An ACK of another block is ignored.
    bench.ack(P50, 5);
    assert_eq!(bench.poll(P50), Some(block));
    assert_eq!(bench.view(P50).awaiting_ack, Some(0));
    bench.ack(P50, 0);
    assert_eq!(bench.view(P50).tx_out, 1);
    let (tx, next) = data_payload(&bench.poll(P50).expect("answer"));
    assert_eq!((tx, next), (1, vec![dc3(1645, 1, false)]));
    bench.ack(P50, 1);
    assert_eq!(bench.poll(P50), Some(Frame::eot(P50)));
}

#[test]
fn ack_moves_tx_on_with_either_wrap() {
    for (wrap, after_f) in [(TxWrap::FTo1, 1), (TxWrap::FTo0, 0)] {
        let mut bench = Bench::new(one_pump(SimSettings {
            tx_wrap: wrap,
            ..SimSettings::default()
        }));
        let mut seen = Vec::new();
        for i in 0..18 {
            // Not programmed: lifting and hanging up queue one DC3 each.
            let action = if i % 2 == 0 {
                SimAction::LiftNozzle(N1)
            } else {
                SimAction::HangNozzle
            };
            bench.act(P50, action);
            let (tx, _) = data_payload(&bench.poll(P50).expect("answer"));
            seen.push(tx);
            bench.ack(P50, tx);
        }
        let mut expected: Vec<u8> = (0..=15).collect();
        expected.extend([after_f, after_f + 1]);
        assert_eq!(seen, expected, "{wrap:?}");
    }
}

#[test]
fn ackpoll_is_ack_then_poll() {
    let mut bench = Bench::new(one_pump(SimSettings::default()));
    bench.act(P50, SimAction::LiftNozzle(N1));
    let (tx, _) = data_payload(&bench.poll(P50).expect("answer"));
    assert_eq!(tx, 0);
    bench.act(P50, SimAction::HangNozzle);
    let ackpoll = |tx| Frame::Control {
        address: P50,
        kind: pump_protocols::dart::ControlKind::AckPoll,
        tx,
    };
    // ACKPOLL of another TX#: no ACK, so the outstanding block comes again.
    let (tx, _) = data_payload(&bench.send(&ackpoll(7)).expect("answer"));
    assert_eq!(tx, 0);
    // `50 E0 FA`: block 0 accepted, and the next one comes at once.
    assert_eq!(bench.raw(&[0x50, 0xE0, 0xFA])[..2], [0x50, 0x31]);
    assert_eq!(bench.send(&ackpoll(1)), Some(Frame::eot(P50)));
}

#[test]
fn a_retransmitted_master_block_is_acked_not_applied() {
    let mut bench = Bench::new(one_pump(programmed()));
    let block = Frame::data(
        P50,
        3,
        encode_master(&[cmd(Dcc::ReturnStatus)]).expect("encodable"),
    );
    assert_eq!(bench.send(&block), Some(Frame::ack(P50, 3)));
    assert_eq!(bench.send(&block), Some(Frame::ack(P50, 3)));
    let one_answer = vec![status(DartStatus::FillingCompleted), dc3(0, 0, false)];
    assert_eq!(bench.collect(P50), one_answer);

    // The pump applied an AUTHORIZE but its ACK was lost: the master's resend is ACKed
    // and does not authorize twice.
    bench.command(P50, vec![cmd(Dcc::Reset)]);
    bench.collect(P50);
    bench.act(P50, SimAction::DropAnswers(1));
    let authorize = Frame::data(
        P50,
        9,
        encode_master(&[cmd(Dcc::Authorize)]).expect("encodable"),
    );
    assert_eq!(bench.send(&authorize), None);
    assert_eq!(bench.view(P50).status, DartStatus::Authorized);
    assert_eq!(bench.send(&authorize), Some(Frame::ack(P50, 9)));
    assert_eq!(
        bench.collect(P50),
        vec![status(DartStatus::Authorized), dc3(0, 0, false)]
    );
}

#[test]
fn tx0_restart_is_a_setting_and_strict_by_default() {
    assert_eq!(SimSettings::default().duplicate_rule, DuplicateRule::Strict);
    for (rule, answers) in [(DuplicateRule::Tx0Restarts, 2), (DuplicateRule::Strict, 1)] {
        let mut bench = Bench::new(one_pump(SimSettings {
            start_programmed: true,
            duplicate_rule: rule,
            ..SimSettings::default()
        }));
        // §B, AS: `50 30 01 01 00 9F 5C 03 FA`, CD1 RETURN STATUS with TX# 0, twice.
        let frame = [0x50, 0x30, 0x01, 0x01, 0x00, 0x9F, 0x5C, 0x03, 0xFA];
        assert_eq!(bench.raw(&frame), [0x50, 0xC0, 0xFA]);
        assert_eq!(bench.raw(&frame), [0x50, 0xC0, 0xFA]);
        assert_eq!(bench.collect(P50).len(), 2 * answers, "{rule:?}");
    }
}

#[test]
fn a_bad_crc_gets_no_answer_or_a_nak() {
    // §F, IB: AUTHORIZE with a wrong CRC (correct `1E 2A`); the real pump ignored it.
    let bad = [0x50, 0x37, 0x01, 0x01, 0x06, 0x1D, 0x3D, 0x03, 0xFA];
    let good = [0x50, 0x37, 0x01, 0x01, 0x06, 0x1E, 0x2A, 0x03, 0xFA];
    let mut bench = Bench::new(one_pump(programmed()));
    bench.command(P50, vec![cmd(Dcc::Reset)]);
    bench.collect(P50);
    assert_eq!(bench.raw(&bad), [0u8; 0]);
    assert_eq!(bench.view(P50).status, DartStatus::Reset);
    assert_eq!(bench.raw(&good), [0x50, 0xC7, 0xFA]);
    assert_eq!(bench.view(P50).status, DartStatus::Authorized);

    let mut naks = Bench::new(one_pump(SimSettings {
        nak_bad_crc: true,
        ..programmed()
    }));
    assert_eq!(naks.raw(&bad), [0x50, 0x57, 0xFA]);
    // Not for an address this line does not simulate.
    let mut other = bad;
    other[0] = 0x53;
    assert_eq!(naks.raw(&other), [0u8; 0]);
    // A good CRC around a payload that is not a list of transactions: NAK.
    let broken = Frame::data(P50, 4, vec![0x01, 0x02, 0x05]);
    assert_eq!(naks.send(&broken), Some(Frame::nak(P50, 4)));
}

// ---------------------------------------------------------------------------------------
// Application level

#[test]
fn not_programmed_until_a_price_for_every_nozzle() {
    let mut bench = Bench::new(one_pump(SimSettings::default()));
    bench.command(P50, vec![cmd(Dcc::ReturnStatus), cmd(Dcc::Authorize)]);
    assert_eq!(
        bench.collect(P50),
        vec![status(DartStatus::NotProgrammed), dc3(0, 0, false)]
    );
    // §B, IP: `50 35 05 03 00 11 75 …`, one price for a two-nozzle pump: ignored whole.
    let one_price = [
        0x50, 0x35, 0x05, 0x03, 0x00, 0x11, 0x75, 0x54, 0x53, 0x03, 0xFA,
    ];
    assert_eq!(bench.raw(&one_price), [0x50, 0xC5, 0xFA]);
    assert_eq!(bench.collect(P50), vec![]);
    assert_eq!(bench.view(P50).prices, None);
    // §B, IP: `50 30 05 06 00 11 75 00 11 75 DA C7 03 FA`, "pump then went 0→5".
    let two_prices = [
        0x50, 0x30, 0x05, 0x06, 0x00, 0x11, 0x75, 0x00, 0x11, 0x75, 0xDA, 0xC7, 0x03, 0xFA,
    ];
    assert_eq!(bench.raw(&two_prices), [0x50, 0xC0, 0xFA]);
    assert_eq!(
        bench.collect(P50),
        vec![status(DartStatus::FillingCompleted), dc3(0, 0, false)]
    );
    assert_eq!(bench.view(P50).prices, Some(vec![1175, 1175]));
}

#[test]
fn sparse_nozzles_need_prices_up_to_the_highest() {
    let setup = SimPumpSetup::new(
        P50,
        dec(2, 2, 2),
        vec![(NozzleId(3), price(150, 2)), (N1, price(120, 2))],
    );
    let mut bench = Bench::new(sim_with(vec![setup], SimSettings::default()));
    bench.command(P50, vec![MasterTransaction::PriceUpdate(vec![120, 0])]);
    assert_eq!(bench.view(P50).status, DartStatus::NotProgrammed);
    // Extra prices are ignored.
    bench.command(
        P50,
        vec![MasterTransaction::PriceUpdate(vec![121, 0, 151, 999])],
    );
    assert_eq!(bench.view(P50).status, DartStatus::FillingCompleted);
    assert_eq!(bench.view(P50).prices, Some(vec![121, 0, 151]));
}

#[test]
fn start_programmed_uses_the_setup_prices() {
    let bench = Bench::new(one_pump(programmed()));
    let view = bench.view(P50);
    assert_eq!(view.status, DartStatus::FillingCompleted);
    assert_eq!(view.prices, Some(vec![1645, 1759]));
}

#[test]
fn lifting_in_reset_sends_dc3_alone_as_captured() {
    // §C, FC: `51 3A 03 04 00 81 23 11 26 14 03 FA`, DC3 price 008123, nozzle 1 out,
    // "unsolicited on lift". Colombia: 3-decimal volume, 0-decimal amount and price.
    let setup = SimPumpSetup::new(P51, dec(3, 0, 0), vec![(N1, price(8123, 0))]);
    let mut bench = Bench::new(sim_with(vec![setup], programmed()));
    bench.command(P51, vec![cmd(Dcc::Reset)]);
    bench.pump_tx_to(P51, 0xA);
    bench.act(P51, SimAction::LiftNozzle(N1));
    assert_eq!(
        bench.raw(&[0x51, 0x20, 0xFA]),
        [0x51, 0x3A, 0x03, 0x04, 0x00, 0x81, 0x23, 0x11, 0x26, 0x14, 0x03, 0xFA]
    );
    bench.ack(P51, 0xA);
    bench.act(P51, SimAction::HangNozzle);
    assert_eq!(bench.collect(P51), vec![dc3(8123, 1, false)]);
    assert_eq!(bench.sim.view()[0].status, PumpStatus::Idle);
}

#[test]
fn authorize_with_the_nozzle_out_as_captured() {
    // §C, IB: `50 36 01 01 02 03 04 00 21 80 11 0E 48 03 FA`, DC1 AUTHORIZED + DC3 price
    // 2.180, nozzle 1 out, the answer to `50 37 01 01 06 …`. The customer has not
    // squeezed the trigger yet (flow rate 0), so the pump stays AUTHORIZED.
    let setup = SimPumpSetup::new(P50, dec(2, 2, 3), vec![(N1, price(2180, 3))]);
    let mut bench = Bench::new(sim_with(vec![setup], programmed()));
    bench.act(P50, SimAction::SetFlowRate(Volume::ZERO));
    bench.command(P50, vec![cmd(Dcc::Reset)]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    assert_eq!(bench.sim.view()[0].status, PumpStatus::Calling);
    bench.pump_tx_to(P50, 6);
    let authorize = [0x50, 0x37, 0x01, 0x01, 0x06, 0x1E, 0x2A, 0x03, 0xFA];
    assert_eq!(bench.raw(&authorize), [0x50, 0xC7, 0xFA]);
    assert_eq!(
        bench.raw(&[0x50, 0x20, 0xFA]),
        [
            0x50, 0x36, 0x01, 0x01, 0x02, 0x03, 0x04, 0x00, 0x21, 0x80, 0x11, 0x0E, 0x48, 0x03,
            0xFA
        ]
    );
}

#[test]
fn authorize_only_in_reset() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.command(P50, vec![cmd(Dcc::Authorize)]);
    assert_eq!(bench.collect(P50), vec![]);
    assert_eq!(bench.view(P50).status, DartStatus::FillingCompleted);
    bench.command(P50, vec![cmd(Dcc::Reset)]);
    assert_eq!(
        bench.collect(P50),
        vec![status(DartStatus::Reset), dc3(0, 0, false), dc2(0, 0)]
    );
    bench.command(P50, vec![cmd(Dcc::Authorize)]);
    bench.command(P50, vec![cmd(Dcc::Authorize)]);
    assert_eq!(
        bench.collect(P50),
        vec![status(DartStatus::Authorized), dc3(0, 0, false)]
    );
    // RESET is refused while authorized.
    bench.command(P50, vec![cmd(Dcc::Reset)]);
    assert_eq!(bench.collect(P50), vec![]);
    assert_eq!(bench.sim.view()[0].status, PumpStatus::Authorized);
}

#[test]
fn a_filling_from_lift_to_hang_up() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![]);
    let start = bench.now;
    bench.act(P50, SimAction::LiftNozzle(N1));
    assert_eq!(
        bench.collect(P50),
        vec![status(DartStatus::Filling), dc3(1645, 1, true)]
    );
    assert_eq!(bench.sim.view()[0].status, PumpStatus::Filling);
    bench.wait_until(start + ms(1500));
    // 40 L/min for 1.5 s = 1.00 L exactly, 1.645 → 1.65.
    assert_eq!(
        (bench.view(P50).volume_raw, bench.view(P50).amount_raw),
        (100, 165)
    );
    bench.act(P50, SimAction::HangNozzle);
    let answer = bench.collect(P50);
    assert_eq!(
        answer[answer.len() - 3..],
        [
            dc2(100, 165),
            status(DartStatus::FillingCompleted),
            dc3(1645, 1, false)
        ]
    );
    assert_eq!(bench.sim.view()[0].status, PumpStatus::Completed);
    // Nothing more flows.
    bench.wait(ms(1000));
    assert_eq!(bench.view(P50).volume_raw, 100);
    assert_eq!(bench.sim.poll_timeout(), None);
}

#[test]
fn only_nozzles_allowed_by_cd2_start_a_filling() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![MasterTransaction::AllowedNozzles(vec![2])]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    assert_eq!(bench.collect(P50), vec![dc3(1645, 1, true)]);
    assert_eq!(bench.view(P50).status, DartStatus::Authorized);
    bench.act(P50, SimAction::HangNozzle);
    bench.act(P50, SimAction::LiftNozzle(N2));
    assert_eq!(
        bench.collect(P50)[1..],
        [status(DartStatus::Filling), dc3(1759, 2, true)]
    );
}

/// Runs a preset filling to its end with time steps of `tick` and returns the pump.
fn fill_to_preset(
    decimals: Decimals,
    unit_price: u32,
    preset: MasterTransaction,
    rate: Volume,
    tick: Duration,
) -> (DartPumpView, Vec<PumpTransaction>) {
    let setup = SimPumpSetup::new(
        P50,
        decimals,
        vec![(N1, price(unit_price.into(), decimals.price))],
    );
    let mut bench = Bench::new(sim_with(vec![setup], programmed()));
    bench.act(P50, SimAction::SetFlowRate(rate));
    bench.authorize(P50, vec![preset]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    for _ in 0..1_000_000 {
        if bench.view(P50).status != DartStatus::Filling {
            break;
        }
        bench.now += tick;
        let now = bench.now;
        bench.sim.handle_timeout(now);
    }
    let view = bench.view(P50);
    (view, bench.collect(P50))
}

#[test]
fn presets_stop_exactly() {
    struct Case {
        decimals: Decimals,
        price: u32,
        preset: MasterTransaction,
        volume: u32,
        amount: u32,
    }
    let cases = [
        // 20.00 L at 1.645 €: 32.90 €.
        Case {
            decimals: dec(2, 2, 3),
            price: 1645,
            preset: MasterTransaction::PresetVolume(2000),
            volume: 2000,
            amount: 3290,
        },
        // 10.00 € at 1.645 €/L: 6.08 L costs 10.0016 → 10.00 (6.07 L costs 9.99).
        Case {
            decimals: dec(2, 2, 3),
            price: 1645,
            preset: MasterTransaction::PresetAmount(1000),
            volume: 608,
            amount: 1000,
        },
        // §5.8: 0.428 L × 8123 = 3476.6 → 3477 COP.
        Case {
            decimals: dec(3, 0, 0),
            price: 8123,
            preset: MasterTransaction::PresetVolume(428),
            volume: 428,
            amount: 3477,
        },
        // 5000 COP: 0.615 L costs 4996, 0.616 L costs 5004; the pump stops at 0.616 L
        // and shows the preset.
        Case {
            decimals: dec(3, 0, 0),
            price: 8123,
            preset: MasterTransaction::PresetAmount(5000),
            volume: 616,
            amount: 5000,
        },
        // §E, W3: 9.97 L at 10 500 sum/L = 104 685 sum.
        Case {
            decimals: dec(2, 0, 0),
            price: 10500,
            preset: MasterTransaction::PresetVolume(997),
            volume: 997,
            amount: 104_685,
        },
        // 50.00 SAR at 2.180: 22.93 L costs 49.99, 22.94 L costs 50.01; shows 50.00.
        Case {
            decimals: dec(2, 2, 3),
            price: 2180,
            preset: MasterTransaction::PresetAmount(5000),
            volume: 2294,
            amount: 5000,
        },
    ];
    for case in cases {
        for tick in [ms(1), ms(7), ms(333), ms(5000)] {
            let (view, reported) = fill_to_preset(
                case.decimals,
                case.price,
                case.preset.clone(),
                per_minute(40),
                tick,
            );
            let what = format!("{:?} at {tick:?}", case.preset);
            assert_eq!(view.status, DartStatus::MaxReached, "{what}");
            assert_eq!(
                (view.volume_raw, view.amount_raw),
                (case.volume, case.amount),
                "{what}"
            );
            assert_eq!(
                reported[reported.len() - 3..],
                [
                    dc2(case.volume, case.amount),
                    status(DartStatus::MaxReached),
                    dc3(case.price, 1, true)
                ],
                "{what}"
            );
        }
    }
}

#[test]
fn the_last_preset_wins_and_reset_clears_it() {
    let mut bench = Bench::new(one_pump(programmed()));
    // A preset before RESET is gone after it (§5.9).
    bench.command(P50, vec![MasterTransaction::PresetVolume(10)]);
    bench.authorize(P50, vec![]);
    assert_eq!(bench.view(P50).preset, None);
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.wait(ms(3000));
    assert_eq!(bench.view(P50).status, DartStatus::Filling);
    bench.act(P50, SimAction::HangNozzle);
    // Volume then amount: the amount counts.
    bench.authorize(
        P50,
        vec![
            MasterTransaction::PresetVolume(10),
            MasterTransaction::PresetAmount(100),
        ],
    );
    assert_eq!(bench.view(P50).preset, Some(SimPreset::Amount(100)));
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.wait(ms(10_000));
    let view = bench.view(P50);
    assert_eq!(
        (view.status, view.amount_raw),
        (DartStatus::MaxReached, 100)
    );
}

#[test]
fn a_preset_during_filling_replaces_the_old_or_stops_at_once() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![MasterTransaction::PresetVolume(5000)]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.wait(ms(1500)); // 1.00 L
    bench.command(P50, vec![MasterTransaction::PresetVolume(200)]);
    bench.wait(ms(10_000));
    assert_eq!(
        (bench.view(P50).status, bench.view(P50).volume_raw),
        (DartStatus::MaxReached, 200)
    );
    bench.act(P50, SimAction::HangNozzle);

    bench.authorize(P50, vec![]);
    bench.act(P50, SimAction::LiftNozzle(N2));
    bench.wait(ms(3000)); // a bit over 2 L
    let before = bench.view(P50).volume_raw;
    assert!(before > 150, "{before}");
    // Already exceeded: stop at once, figures as they are.
    bench.command(P50, vec![MasterTransaction::PresetVolume(150)]);
    let view = bench.view(P50);
    assert_eq!(view.status, DartStatus::MaxReached);
    assert!(view.volume_raw >= before);
    // MAX REACHED → FILLING COMPLETED when the nozzle goes back (§5.5).
    bench.collect(P50);
    bench.act(P50, SimAction::HangNozzle);
    assert_eq!(
        bench.collect(P50),
        vec![status(DartStatus::FillingCompleted), dc3(1759, 2, false)]
    );
}

#[test]
fn dc2_every_interval_while_flowing() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    let start = bench.now;
    bench.collect(P50);
    // 40 L/min at 2 decimals: 16, 33, 50, 66 hundredths at 250, 500, 750, 1000 ms.
    for (k, volume) in [(1u32, 16u32), (2, 33), (3, 50), (4, 66)] {
        bench.wait_until(start + ms(250) * k);
        let amount = (volume * 1645 + 500) / 1000;
        assert_eq!(bench.collect(P50), vec![dc2(volume, amount)], "tick {k}");
    }
    // Not polled for a second: one DC2 with the latest figures, not a backlog. The
    // customer lets go of the trigger at that instant.
    bench.wait_until(start + ms(2000));
    bench.act(P50, SimAction::SetFlowRate(Volume::ZERO));
    assert_eq!(bench.collect(P50), vec![dc2(133, 219)]);
    // Flow rate 0: nothing moves, no DC2.
    bench.wait(ms(1000));
    assert_eq!(bench.collect(P50), vec![]);
}

#[test]
fn stop_ends_the_filling() {
    let mut bench = Bench::new(one_pump(programmed()));
    // STOP in NOT PROGRAMMED is refused; in RESET it gives FILLING COMPLETED.
    let mut fresh = Bench::new(one_pump(SimSettings::default()));
    fresh.command(P50, vec![cmd(Dcc::Stop)]);
    assert_eq!(fresh.view(P50).status, DartStatus::NotProgrammed);
    bench.command(P50, vec![cmd(Dcc::Reset), cmd(Dcc::Stop)]);
    assert_eq!(bench.view(P50).status, DartStatus::FillingCompleted);

    bench.authorize(P50, vec![]);
    let start = bench.now;
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.collect(P50);
    bench.wait_until(start + ms(1500));
    // §B, W3: `50 31 01 01 08 9F 66 03 FA`, CD1 STOP TX# 1.
    assert_eq!(
        bench.raw(&[0x50, 0x31, 0x01, 0x01, 0x08, 0x9F, 0x66, 0x03, 0xFA]),
        [0x50, 0xC1, 0xFA]
    );
    assert_eq!(
        bench.collect(P50),
        vec![
            dc2(100, 165),
            status(DartStatus::FillingCompleted),
            dc3(1645, 1, true)
        ]
    );
    bench.wait(ms(1000));
    assert_eq!(bench.view(P50).volume_raw, 100);
    bench.act(P50, SimAction::HangNozzle);
    assert_eq!(bench.collect(P50), vec![dc3(1645, 1, false)]);
}

#[test]
fn suspend_and_resume() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![]);
    let start = bench.now;
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.collect(P50);
    bench.wait_until(start + ms(1000));
    bench.command(P50, vec![cmd(Dcc::Suspend)]);
    assert_eq!(
        bench.collect(P50),
        vec![
            dc2(66, 109),
            status(DartStatus::Suspended),
            dc3(1645, 1, true)
        ]
    );
    assert_eq!(bench.sim.view()[0].status, PumpStatus::Suspended);
    bench.wait(ms(5000));
    assert_eq!(bench.view(P50).volume_raw, 66);
    // CD15 resume request, answered with DC15.
    let resumed_at = bench.now;
    bench.command(P50, vec![MasterTransaction::ResumeRequest(0)]);
    assert_eq!(
        bench.collect(P50),
        vec![
            status(DartStatus::Filling),
            dc3(1645, 1, true),
            PumpTransaction::ResumeReply(0)
        ]
    );
    // One more second after the resume: 2.000 s of flow in all.
    bench.wait_until(resumed_at + ms(1000));
    assert_eq!(bench.view(P50).volume_raw, 133);
    // CD14 suspend request while filling, then hang-up: FILLING COMPLETED.
    bench.command(P50, vec![MasterTransaction::SuspendRequest(0)]);
    assert_eq!(
        bench.collect(P50).last(),
        Some(&PumpTransaction::SuspendReply(0))
    );
    bench.act(P50, SimAction::HangNozzle);
    assert_eq!(bench.view(P50).status, DartStatus::FillingCompleted);

    // Suspended before any flow: RESUME goes back to AUTHORIZED.
    bench.authorize(P50, vec![]);
    bench.command(P50, vec![cmd(Dcc::Suspend)]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    assert_eq!(bench.view(P50).status, DartStatus::Suspended);
    bench.command(P50, vec![cmd(Dcc::Resume)]);
    // … and the nozzle is out, so the filling starts.
    assert_eq!(bench.view(P50).status, DartStatus::Filling);
}

#[test]
fn switch_off_and_back() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![]);
    let start = bench.now;
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.collect(P50);
    bench.wait_until(start + ms(1500));
    // §D: `50 32 01 01 0A 1E E3 03 FA`, CD1 SWITCH OFF TX# 2.
    assert_eq!(
        bench.raw(&[0x50, 0x32, 0x01, 0x01, 0x0A, 0x1E, 0xE3, 0x03, 0xFA]),
        [0x50, 0xC2, 0xFA]
    );
    assert_eq!(
        bench.collect(P50),
        vec![
            dc2(100, 165),
            status(DartStatus::SwitchedOff),
            dc3(1645, 1, true)
        ]
    );
    assert_eq!(bench.sim.view()[0].status, PumpStatus::Stopped);
    bench.wait(ms(1000));
    assert_eq!(bench.view(P50).volume_raw, 100);
    // The hand-made block used TX# 2; the bench's next one must differ.
    bench.master_tx = 3;
    bench.command(P50, vec![cmd(Dcc::Reset)]);
    assert_eq!(bench.view(P50).status, DartStatus::Reset);

    // Switched off before it was ever programmed, RESET brings it back unprogrammed.
    let mut fresh = Bench::new(one_pump(SimSettings::default()));
    fresh.command(P50, vec![cmd(Dcc::SwitchOff)]);
    assert_eq!(fresh.view(P50).status, DartStatus::SwitchedOff);
    fresh.command(P50, vec![cmd(Dcc::Reset)]);
    assert_eq!(fresh.view(P50).status, DartStatus::NotProgrammed);
}

#[test]
fn totals_per_nozzle_and_pump() {
    let mut bench = Bench::new(one_pump(programmed()));
    for (nozzle, litres_preset) in [(N1, 1000), (N2, 250), (N1, 500)] {
        bench.authorize(P50, vec![MasterTransaction::PresetVolume(litres_preset)]);
        bench.act(P50, SimAction::LiftNozzle(nozzle));
        bench.wait(ms(60_000));
        bench.act(P50, SimAction::HangNozzle);
    }
    let totals = bench.view(P50).totals;
    assert_eq!(
        totals,
        vec![
            (
                N1,
                NozzleTotals {
                    volume: 1500,
                    amount: 1645 + 823, // 10.00 L → 16.45, 5.00 L → 8.225 → 8.23
                    fillings: 2
                }
            ),
            (
                N2,
                NozzleTotals {
                    volume: 250,
                    amount: 440, // 2.50 L × 1.759 = 4.3975 → 4.40
                    fillings: 1
                }
            ),
        ]
    );
    bench.collect(P50);
    let counters: Vec<u8> = vec![0x01, 0x02, 0x03, 0x09, 0x11, 0x12, 0x19, 0x30];
    bench.command(
        P50,
        counters
            .iter()
            .map(|&c| MasterTransaction::RequestTotals(c))
            .collect(),
    );
    let dc101 = |coun, totval, totm1| PumpTransaction::TotalCounters {
        coun,
        totval,
        totm1: Some(totm1),
        totm2: Some(0),
    };
    assert_eq!(
        bench.collect(P50),
        vec![
            dc101(0x01, 1500, 1500),
            dc101(0x02, 250, 250),
            dc101(0x03, 0, 0), // no nozzle 3: zeros
            dc101(0x09, 1750, 0),
            dc101(0x11, 2468, 2),
            dc101(0x12, 440, 1),
            dc101(0x19, 2908, 3),
            // COUN 0x30 means nothing: no answer.
        ]
    );
    // CD8 is answered as CD101.
    bench.command(P50, vec![MasterTransaction::RequestTotalsCd8(0x01)]);
    assert_eq!(bench.collect(P50), vec![dc101(0x01, 1500, 1500)]);
}

/// The neutral view's totals are the ground truth tests check sales against: they grow by
/// exactly each filling's figures (the open one too, as a meter counts) and a CPU reset
/// mid-filling loses nothing.
#[test]
fn neutral_totals_grow_by_each_filling_and_survive_a_power_reset() {
    let mut bench = Bench::new(one_pump(programmed()));
    let neutral = |bench: &Bench| {
        LineSimulator::view(&bench.sim)
            .into_iter()
            .find(|v| v.address == P50)
            .expect("the pump")
            .totals
    };
    let of = |totals: &[Totals], nozzle: NozzleId| {
        let t = totals
            .iter()
            .find(|t| t.nozzle == nozzle)
            .expect("a configured nozzle");
        (
            t.volume.expect("volume"),
            t.amount.expect("amount"),
            t.fillings,
        )
    };
    assert_eq!(
        neutral(&bench).iter().map(|t| t.nozzle).collect::<Vec<_>>(),
        [N1, N2]
    );
    let mut expected = (Volume::ZERO, Money::ZERO, 0u64);
    for (nozzle, preset, power_reset) in [(N1, 700, false), (N2, 300, false), (N1, 900, true)] {
        bench.authorize(P50, vec![MasterTransaction::PresetVolume(preset)]);
        bench.act(P50, SimAction::LiftNozzle(nozzle));
        bench.wait(ms(5_000));
        if power_reset {
            bench.act(P50, SimAction::PowerReset);
        } else {
            bench.wait(ms(60_000));
        }
        let view = bench.view(P50);
        if nozzle == N1 {
            expected = (
                Volume::new(expected.0.value() + view.volume.value()),
                Money::new(expected.1.value() + view.amount.value()),
                expected.2 + 1,
            );
        }
        bench.act(P50, SimAction::HangNozzle);
        bench.collect(P50);
        let (volume, amount, fillings) = of(&neutral(&bench), N1);
        assert_eq!(
            (volume, amount, fillings),
            (expected.0, expected.1, Some(expected.2))
        );
    }
    assert!(
        bench.view(P50).volume_raw < 900,
        "the reset cut the last filling short"
    );
    let (n2_volume, n2_amount, n2_fillings) = of(&neutral(&bench), N2);
    assert_eq!(n2_volume, Volume::from_raw(300, 2));
    assert_eq!(n2_amount, Money::from_raw(528, 2)); // 3.00 L × 1.759 = 5.277 → 5.28
    assert_eq!(n2_fillings, Some(1));
}

#[test]
fn totals_answer_as_captured() {
    // §C, FC: `51 39 65 10 01 00 00 42 66 33 00 00 42 66 33 00 00 00 00 00 A4 F0 03 FA`,
    // DC101 COUN 1, TOTVAL 0000426633 (4266.33 L), TX# 9.
    let setup = SimPumpSetup::new(P51, dec(2, 2, 2), vec![(N1, price(100, 2))]);
    let mut bench = Bench::new(sim_with(vec![setup], programmed()));
    bench.act(P51, SimAction::SetFlowRate(per_minute(100_000)));
    bench.authorize(P51, vec![MasterTransaction::PresetVolume(426_633)]);
    bench.act(P51, SimAction::LiftNozzle(N1));
    bench.wait(ms(10_000));
    bench.act(P51, SimAction::HangNozzle);
    assert_eq!(bench.view(P51).volume_raw, 426_633);
    bench.pump_tx_to(P51, 9);
    bench.command(P51, vec![MasterTransaction::RequestTotals(0x01)]);
    assert_eq!(
        bench.raw(&[0x51, 0x20, 0xFA]),
        [
            0x51, 0x39, 0x65, 0x10, 0x01, 0x00, 0x00, 0x42, 0x66, 0x33, 0x00, 0x00, 0x42, 0x66,
            0x33, 0x00, 0x00, 0x00, 0x00, 0x00, 0xA4, 0xF0, 0x03, 0xFA
        ]
    );
}

#[test]
fn identity_and_prices_on_request() {
    let mut setup = SimPumpSetup::new(P50, dec(2, 2, 3), vec![(N1, price(1459, 3))]);
    setup.identity = pump_protocols::dart::PumpIdentity(123_450_789);
    let mut bench = Bench::new(sim_with(vec![setup], programmed()));
    bench.command(
        P50,
        vec![cmd(Dcc::ReturnPumpIdentity), cmd(Dcc::ReturnPrices)],
    );
    // §D: DC9 identity `09 05 01 23 45 07 89`.
    let (_, transactions) = data_payload(&bench.poll(P50).expect("answer"));
    assert_eq!(
        encode_pump(&transactions).expect("encodable")[..7],
        [0x09, 0x05, 0x01, 0x23, 0x45, 0x07, 0x89]
    );
    assert_eq!(transactions[1], PumpTransaction::Prices(vec![1459]));
}

#[test]
fn prices_change_between_fillings_only() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.command(P50, vec![MasterTransaction::PriceUpdate(vec![1000, 1000])]);
    assert_eq!(bench.view(P50).prices, Some(vec![1645, 1759]));
    bench.act(P50, SimAction::HangNozzle);
    bench.command(P50, vec![MasterTransaction::PriceUpdate(vec![1000, 1100])]);
    assert_eq!(bench.view(P50).prices, Some(vec![1000, 1100]));
}

// ---------------------------------------------------------------------------------------
// Fault switches

#[test]
fn dropped_answers_leave_the_block_outstanding() {
    let mut bench = Bench::new(one_pump(SimSettings::default()));
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.act(P50, SimAction::DropAnswers(2));
    assert_eq!(bench.poll(P50), None);
    assert_eq!(bench.poll(P50), None);
    let (tx, transactions) = data_payload(&bench.poll(P50).expect("third answer"));
    assert_eq!((tx, transactions), (0, vec![dc3(0, 1, true)]));
}

#[test]
fn corrupted_answers_fail_the_crc_then_come_right() {
    let mut bench = Bench::new(one_pump(SimSettings::default()));
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.act(P50, SimAction::CorruptAnswers(1));
    let mut decoder = FrameDecoder::new();
    decoder.push(&bench.raw(&[0x50, 0x20, 0xFA]));
    match decoder.next_item() {
        Some(Decoded::Discarded {
            reason: DiscardReason::BadCrc(block),
            ..
        }) => assert_eq!((block.address, block.tx), (P50, 0)),
        other => panic!("expected a bad CRC, got {other:?}"),
    }
    let (tx, _) = data_payload(&bench.poll(P50).expect("clean answer"));
    assert_eq!(tx, 0);
    bench.ack(P50, 0);
    // A control frame has no CRC: it arrives with an invalid CTRL, taken for noise.
    bench.act(P50, SimAction::CorruptAnswers(1));
    let bytes = bench.raw(&[0x50, 0x20, 0xFA]);
    assert_eq!(bytes, [0x50, 0x00, 0xFA]);
    let mut decoder = FrameDecoder::new();
    decoder.push(&bytes);
    assert!(decoder
        .finish()
        .iter()
        .all(|item| !matches!(item, Decoded::Frame(_))));
    assert_eq!(bench.poll(P50), Some(Frame::eot(P50)));
}

#[test]
fn late_answers_come_after_the_late_delay() {
    let mut bench = Bench::new(one_pump(SimSettings::default()));
    bench.act(P50, SimAction::AnswerLate(1));
    let sent = bench.now;
    assert_eq!(bench.raw(&[0x50, 0x20, 0xFA]), [0u8; 0]);
    assert_eq!(bench.sim.poll_timeout(), Some(sent + ms(200)));
    bench.wait(ms(194));
    assert!(bench.heard.is_empty());
    bench.wait(ms(1));
    assert_eq!(std::mem::take(&mut bench.heard), [0x50, 0x70, 0xFA]);
    assert_eq!(bench.raw(&[0x50, 0x20, 0xFA]), [0x50, 0x70, 0xFA]);
}

#[test]
fn a_silent_pump_hears_nothing_and_says_nothing() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.collect(P50);
    bench.act(P50, SimAction::Silent(true));
    assert_eq!(bench.poll(P50), None);
    let stop = Frame::data(P50, 7, encode_master(&[cmd(Dcc::Stop)]).expect("ok"));
    assert_eq!(bench.send(&stop), None);
    // It goes on dispensing.
    bench.wait(ms(1490));
    assert_eq!(bench.view(P50).status, DartStatus::Filling);
    assert!(bench.view(P50).volume_raw >= 100);
    bench.act(P50, SimAction::Silent(false));
    assert_eq!(bench.send(&stop), Some(Frame::ack(P50, 7)));
    assert_eq!(bench.view(P50).status, DartStatus::FillingCompleted);
}

#[test]
fn power_reset_mid_dispatch_keeps_the_filling() {
    let mut bench = Bench::new(one_pump(programmed()));
    bench.authorize(P50, vec![MasterTransaction::PresetVolume(5000)]);
    bench.act(P50, SimAction::LiftNozzle(N1));
    bench.collect(P50);
    // A block in flight (a DC2), not ACKed yet, with a TX# past 0.
    bench.wait(ms(1750));
    let (tx, _) = data_payload(&bench.poll(P50).expect("DC2"));
    assert!(tx > 0);
    let figures = (bench.view(P50).volume_raw, bench.view(P50).amount_raw);

    bench.act(P50, SimAction::PowerReset);
    let view = bench.view(P50);
    assert_eq!(view.status, DartStatus::FillingCompleted);
    assert_eq!((view.volume_raw, view.amount_raw), figures);
    assert_eq!(view.totals[0].1.volume, u64::from(figures.0));
    assert_eq!(view.preset, None);
    assert_eq!(view.alarm, Some(0x01));
    bench.wait(ms(2000));
    assert_eq!(bench.view(P50).volume_raw, figures.0, "the motor stopped");
    // The link restarted: the old block is gone, the next one is TX# 0.
    let (tx, transactions) = data_payload(&bench.poll(P50).expect("answer"));
    assert_eq!(tx, 0);
    assert_eq!(
        transactions,
        vec![
            status(DartStatus::FillingCompleted),
            dc3(1645, 1, true),
            PumpTransaction::Alarm(0x01)
        ]
    );
    bench.ack(P50, 0);
    // The final figures are still there to be read, the alarm too until RESET.
    bench.command(
        P50,
        vec![cmd(Dcc::ReturnFillingInfo), cmd(Dcc::ReturnStatus)],
    );
    assert_eq!(
        bench.collect(P50),
        vec![
            dc2(figures.0, figures.1),
            dc3(1645, 1, true),
            status(DartStatus::FillingCompleted),
            dc3(1645, 1, true),
            PumpTransaction::Alarm(0x01)
        ]
    );
    bench.command(P50, vec![cmd(Dcc::Reset), cmd(Dcc::ReturnStatus)]);
    assert!(!bench
        .collect(P50)
        .iter()
        .any(|t| matches!(t, PumpTransaction::Alarm(_))));
    assert_eq!(bench.view(P50).alarm, None);
}

#[test]
fn actions_are_checked() {
    let mut sim = one_pump(SimSettings::default());
    let now = Instant::now();
    assert_eq!(
        sim.act(P51, SimAction::HangNozzle, now),
        Err(SubmitError::UnknownPump(P51))
    );
    assert!(matches!(
        sim.act(P50, SimAction::LiftNozzle(NozzleId(3)), now),
        Err(SubmitError::Invalid(_))
    ));
    assert!(matches!(
        sim.act(P50, SimAction::HangNozzle, now),
        Err(SubmitError::Invalid(_))
    ));
    sim.act(P50, SimAction::LiftNozzle(N1), now).expect("lift");
    assert!(matches!(
        sim.act(P50, SimAction::LiftNozzle(N2), now),
        Err(SubmitError::Invalid(_))
    ));
    let negative = Volume::new(Decimal::new(-5, 0));
    assert!(matches!(
        sim.act(P50, SimAction::SetFlowRate(negative), now),
        Err(SubmitError::Invalid(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Property: presets stop exactly whatever the rate, the prices and the time steps

fn amount_for(volume: u64, unit_price: u64, d: Decimals) -> u64 {
    price(unit_price, d.price)
        .amount_for(Volume::from_raw(volume, d.volume), d.amount)
        .to_raw(d.amount, 12)
        .expect("fits")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn presets_always_stop_exactly(
        dv in 0u8..=3, da in 0u8..=3, dp in 0u8..=3,
        unit_price in 1u64..=99_999,
        rate_hundredths in 1_000u64..=20_000,
        target_units in 1u64..=20,
        target_fraction in 0u64..1000,
        by_amount in any::<bool>(),
        amount_nudge in 0u64..=3,
        ticks in proptest::collection::vec(3u64..=2_000, 1..6),
    ) {
        let d = dec(dv, da, dp);
        let scale = 10u64.pow(u32::from(dv));
        let volume_target = target_units * scale + target_fraction % scale;
        // Keep clear of the pump's own 8-digit maximum: a few more units must still fit.
        let headroom = amount_for(volume_target + 10 * scale, unit_price, d);
        prop_assume!(headroom < 100_000_000);
        let preset = if by_amount {
            let amount = amount_for(volume_target, unit_price, d) + amount_nudge;
            // Reachable within the headroom, so the run stays short.
            prop_assume!(amount <= headroom);
            MasterTransaction::PresetAmount(u32::try_from(amount).expect("below 10^8"))
        } else {
            MasterTransaction::PresetVolume(u32::try_from(volume_target).expect("below 10^8"))
        };

        let setup = SimPumpSetup::new(P50, d, vec![(N1, price(unit_price, dp))]);
        let mut bench = Bench::new(sim_with(vec![setup], programmed()));
        bench.act(P50, SimAction::SetFlowRate(Volume::from_raw(rate_hundredths, 2)));
        bench.authorize(P50, vec![preset.clone()]);
        bench.act(P50, SimAction::LiftNozzle(N1));
        let mut steps = ticks.iter().cycle();
        for _ in 0..200_000 {
            if bench.view(P50).status != DartStatus::Filling {
                break;
            }
            bench.now += ms(*steps.next().expect("cycle"));
            let now = bench.now;
            bench.sim.handle_timeout(now);
        }
        let view = bench.view(P50);
        prop_assert_eq!(view.status, DartStatus::MaxReached);
        let (volume, amount) = (u64::from(view.volume_raw), u64::from(view.amount_raw));
        match preset {
            MasterTransaction::PresetVolume(target) => {
                prop_assert_eq!(volume, u64::from(target));
                prop_assert_eq!(amount, amount_for(volume, unit_price, d));
            }
            MasterTransaction::PresetAmount(target) => {
                let target = u64::from(target);
                prop_assert_eq!(amount, target);
                // The first volume whose amount reaches the preset.
                prop_assert!(amount_for(volume, unit_price, d) >= target);
                if volume > 0 {
                    prop_assert!(amount_for(volume - 1, unit_price, d) < target);
                }
                // Where a volume step costs at most one amount unit, some volume costs
                // exactly the preset, and that is where the pump stopped.
                let step = price(unit_price, dp).value() * Decimal::new(1, dv.into());
                if step <= Decimal::new(1, da.into()) {
                    prop_assert_eq!(amount_for(volume, unit_price, d), target);
                }
            }
            _ => unreachable!(),
        }
        let reported = bench.collect(P50);
        let last_dc2 = reported.iter().rev().find_map(|t| match t {
            PumpTransaction::FilledVolumeAmount { volume, amount } => Some((*volume, *amount)),
            _ => None,
        });
        // No DC2 at all means the figures never left the 0/0 of the RESET.
        prop_assert_eq!(last_dc2.unwrap_or((0, 0)), (view.volume_raw, view.amount_raw));
        prop_assert!(reported.contains(&status(DartStatus::MaxReached)));
    }
}
