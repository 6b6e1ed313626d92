//! Golden DART frames: every test vector of docs/protocols/dart.md, sections A–F.
//!
//! Each vector carries its source key from protocols/sources.md (IP intelipump captures,
//! IB ibramn, FC Full-Colombia firmware, MG Mega162 firmware, AS ASFuelControl, W3 Wayne
//! 3490D captures, "computed" for section D) and its meaning. Hex is grouped as
//! `ADR CTRL | TRANS LNG DATA | … | CRC-1 CRC-2 | ETX SF`.
//!
//! Each data frame is checked both ways, byte for byte: the documented transactions encode
//! to exactly the wire bytes, and the wire bytes decode, through every chunk pattern of
//! [`expect_frames`], to exactly that frame and those transactions.

use pump_protocols::dart::frame::{MAX_BUFFERED, SF};
use pump_protocols::dart::{
    decode_all, decode_master, decode_pump, encode_master, encode_pump, BlockId, ControlKind,
    DartStatus, Dcc, Decoded, DiscardReason, Frame, FrameDecoder, MasterTransaction as M, Nozio,
    PumpIdentity, PumpTransaction as P,
};
use pump_protocols::units::BusAddress;

/// Bytes from hex pairs; whitespace and `|` only group them.
fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect();
    assert!(digits.len() % 2 == 0, "odd hex digits in {text:?}");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits in test vector"))
        .collect()
}

/// The RS-485 turnaround bytes seen before pump replies (docs/protocols/dart.md §1).
const TURNAROUND: [u8; 8] = [0xBC, 0xFE, 0xFC, 0xB8, 0xDC, 0xFF, 0xDE, 0xF8];

fn drain(decoder: &mut FrameDecoder, items: &mut Vec<Decoded>) {
    while let Some(item) = decoder.next_item() {
        items.push(item);
    }
    assert!(decoder.buffered() <= MAX_BUFFERED, "decoder holds too much");
}

/// Pushes `chunks` in order, draining after each, then finishes the stream.
fn run_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Decoded> {
    let mut decoder = FrameDecoder::new();
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        drain(&mut decoder, &mut items);
    }
    items.extend(decoder.finish());
    assert_eq!(decoder.buffered(), 0);
    items
}

/// Feeds `wire` whole, byte by byte, split at every offset, and in uneven chunks; every
/// pattern must give exactly `expected`.
fn check_stream(wire: &[u8], expected: &[Decoded], what: &str) {
    assert_eq!(decode_all(wire), expected, "{what}: whole buffer");
    assert_eq!(run_chunks([wire]), expected, "{what}: one push");
    assert_eq!(run_chunks(wire.chunks(1)), expected, "{what}: byte by byte");
    for split in 0..=wire.len() {
        let (a, b) = wire.split_at(split);
        assert_eq!(run_chunks([a, b]), expected, "{what}: split at {split}");
    }
    let mut uneven = Vec::new();
    let mut rest = wire;
    for size in [1, 2, 3, 5, 7, 11].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(size.min(rest.len()));
        uneven.push(a);
        rest = b;
    }
    assert_eq!(run_chunks(uneven), expected, "{what}: uneven chunks");
}

fn garbage(bytes: &[u8]) -> Decoded {
    Decoded::Discarded {
        bytes: bytes.to_vec(),
        reason: DiscardReason::Garbage,
    }
}

/// Checks that `wire` decodes to exactly `frames` through every chunk pattern: alone,
/// three times in one stream, after each turnaround byte and all of them, after the tail
/// of an earlier frame, with noise between copies, and with a cut-off copy at the end.
fn expect_frames(wire: &[u8], frames: &[Frame], what: &str) {
    let good: Vec<Decoded> = frames.iter().cloned().map(Decoded::Frame).collect();
    check_stream(wire, &good, what);

    let thrice = [wire, wire, wire].concat();
    let good3 = [good.clone(), good.clone(), good.clone()].concat();
    check_stream(&thrice, &good3, &format!("{what} ×3"));

    for byte in TURNAROUND {
        let stream = [&[byte], wire].concat();
        let expected = [vec![garbage(&[byte])], good.clone()].concat();
        check_stream(&stream, &expected, &format!("{what} after {byte:02X}"));
    }
    let stream = [&TURNAROUND[..], wire].concat();
    let expected = [vec![garbage(&TURNAROUND)], good.clone()].concat();
    check_stream(
        &stream,
        &expected,
        &format!("{what} after all turnaround bytes"),
    );

    // The end of a lost frame and a lone address byte, as when a reply is cut off.
    let tail = [ETX_SF[0], ETX_SF[1], 0x51];
    let stream = [&tail[..], wire].concat();
    let expected = [vec![garbage(&tail)], good.clone()].concat();
    check_stream(&stream, &expected, &format!("{what} after a lost tail"));

    let noisy = [wire, &[0xFF, 0x00], wire, &[0xFE]].concat();
    let expected = [
        good.clone(),
        vec![garbage(&[0xFF, 0x00])],
        good.clone(),
        vec![garbage(&[0xFE])],
    ]
    .concat();
    check_stream(&noisy, &expected, &format!("{what} with noise between"));

    // Leftovers at end of stream: a copy cut after `k` bytes is reported, not lost.
    for k in 1..wire.len() {
        let stream = [wire, &wire[..k]].concat();
        let tail = &wire[..k];
        let reason = match (k, frames) {
            (2.., [Frame::Data { address, tx, .. }]) => DiscardReason::Truncated(BlockId {
                address: *address,
                tx: *tx,
            }),
            _ => DiscardReason::Garbage,
        };
        let expected = [
            good.clone(),
            vec![Decoded::Discarded {
                bytes: tail.to_vec(),
                reason,
            }],
        ]
        .concat();
        assert_eq!(decode_all(&stream), expected, "{what} cut after {k} bytes");
        assert_eq!(
            run_chunks(stream.chunks(1)),
            expected,
            "{what} cut after {k} bytes, byte by byte"
        );
    }
}

const ETX_SF: [u8; 2] = [0x03, SF];

fn addr(a: u8) -> BusAddress {
    BusAddress(a)
}

/// A master→pump data block: `transactions` encode to exactly `wire`, and `wire` decodes
/// to exactly them.
fn master_block(src: &str, wire: &str, address: u8, tx: u8, transactions: &[M]) {
    let what = format!("[{src}] {wire}");
    let wire = hex(wire);
    let payload = encode_master(transactions).expect("documented transactions encode");
    let frame = Frame::data(addr(address), tx, payload.clone());
    assert_eq!(
        frame.encode().expect("documented frame encodes"),
        wire,
        "{what}: encode"
    );
    expect_frames(&wire, std::slice::from_ref(&frame), &what);
    assert_eq!(
        decode_master(&payload).as_deref(),
        Ok(transactions),
        "{what}: decode"
    );
}

/// A pump→master data block, as [`master_block`].
fn pump_block(src: &str, wire: &str, address: u8, tx: u8, transactions: &[P]) {
    let what = format!("[{src}] {wire}");
    let wire = hex(wire);
    let payload = encode_pump(transactions).expect("documented transactions encode");
    let frame = Frame::data(addr(address), tx, payload.clone());
    assert_eq!(
        frame.encode().expect("documented frame encodes"),
        wire,
        "{what}: encode"
    );
    expect_frames(&wire, std::slice::from_ref(&frame), &what);
    assert_eq!(
        decode_pump(&payload).as_deref(),
        Ok(transactions),
        "{what}: decode"
    );
}

fn control(src: &str, wire: &str, address: u8, kind: ControlKind, tx: u8) {
    let what = format!("[{src}] {wire}");
    let wire = hex(wire);
    let frame = Frame::Control {
        address: addr(address),
        kind,
        tx,
    };
    assert_eq!(frame.encode().expect("valid control frame"), wire, "{what}");
    expect_frames(&wire, &[frame], &what);
}

fn cmd(dcc: Dcc) -> M {
    M::Command(dcc)
}

fn status(code: u8) -> P {
    P::Status(DartStatus::from_code(code))
}

fn dc2(volume: u32, amount: u32) -> P {
    P::FilledVolumeAmount { volume, amount }
}

fn dc3(price: u32, nozio: u8) -> P {
    P::NozzleStatus {
        price,
        nozio: Nozio(nozio),
    }
}

fn totals(coun: u8, totval: u64, totm1: u64, totm2: u64) -> P {
    P::TotalCounters {
        coun,
        totval,
        totm1: Some(totm1),
        totm2: Some(totm2),
    }
}

// ---------------------------------------------------------------------------------------
// A. Control frames (captured, no CRC)

#[test]
fn a_control_frames() {
    use ControlKind::*;
    control("IP IB FC W3", "50 20 FA", 0x50, Poll, 0); // POLL 0x50
    control("IP", "51 20 FA", 0x51, Poll, 0); // POLL 0x51
    control("W3", "52 20 FA", 0x52, Poll, 0); // POLL 0x52
    control("IP W3", "50 70 FA", 0x50, Eot, 0); // EOT from 0x50, nothing to send
    control("IP", "51 70 FA", 0x51, Eot, 0); // EOT from 0x51
    control("IP", "51 CA FA", 0x51, Ack, 0xA); // ACK TX#A, answers a `51 3A …` block
    control("IP AS W3", "50 C0 FA", 0x50, Ack, 0); // ACK TX#0
    control("IP AS W3", "51 C0 FA", 0x51, Ack, 0); // ACK TX#0
    control("W3", "52 C1 FA", 0x52, Ack, 1); // ACK TX#1, pump accepting `52 31 …`
    control("IP", "50 CF FA", 0x50, Ack, 0xF); // ACK TX#F
    control("IP", "50 50 FA", 0x50, Nak, 0); // NAK TX#0 (CTRL 0x50 looks like an address)
    control("IP", "50 55 FA", 0x50, Nak, 5); // NAK TX#5
    control("IP", "50 5C FA", 0x50, Nak, 0xC); // NAK TX#C
    control("IP", "51 5D FA", 0x51, Nak, 0xD); // NAK TX#D
}

#[test]
fn a_never_observed_control_kinds_round_trip() {
    // §3.1: IAP 0x40 and ACKPOLL 0xEt are decoded though never seen on a real line.
    control("computed", "50 40 FA", 0x50, ControlKind::Iap, 0);
    control("computed", "6F E3 FA", 0x6F, ControlKind::AckPoll, 3);
    // POLL and IAP with a TX# are no frames: the bytes are noise.
    for wire in ["50 21 FA", "50 4F FA"] {
        let bytes = hex(wire);
        check_stream(&bytes, &[garbage(&bytes)], wire);
    }
}

// ---------------------------------------------------------------------------------------
// B. Master → pump data frames (captured or hard-coded in working code)

#[test]
fn b_cd1_commands() {
    use Dcc::*;
    let rs = [cmd(ReturnStatus)];
    master_block("FC", "51 35 | 01 01 00 | A2 50 | 03 FA", 0x51, 5, &rs);
    // AS builds exactly this; in the IP merged capture it could also be DC1 0 (see C).
    master_block("IP AS", "50 30 | 01 01 00 | 9F 5C | 03 FA", 0x50, 0, &rs);
    master_block("MG", "51 32 | 01 01 00 | A3 24 | 03 FA", 0x51, 2, &rs);

    let rfi = [cmd(ReturnFillingInfo)];
    master_block("FC", "51 3E | 01 01 04 | A1 B7 | 03 FA", 0x51, 0xE, &rfi);
    master_block("AS", "50 30 | 01 01 04 | 9E 9F | 03 FA", 0x50, 0, &rfi);
    master_block("W3", "52 30 | 01 01 04 | E7 5F | 03 FA", 0x52, 0, &rfi);

    let reset = [cmd(Reset)];
    master_block("FC", "51 33 | 01 01 05 | 62 DB | 03 FA", 0x51, 3, &reset);
    master_block("MG", "51 31 | 01 01 05 | 63 63 | 03 FA", 0x51, 1, &reset);
    master_block("AS", "50 30 | 01 01 05 | 5F 5F | 03 FA", 0x50, 0, &reset);
    master_block("W3", "52 30 | 01 01 05 | 26 9F | 03 FA", 0x52, 0, &reset);

    let auth = [cmd(Authorize)];
    master_block("FC", "51 36 | 01 01 06 | 22 16 | 03 FA", 0x51, 6, &auth);
    // The pump went 1 → 2 right after this one.
    master_block("IB", "50 37 | 01 01 06 | 1E 2A | 03 FA", 0x50, 7, &auth);
    master_block("AS", "50 30 | 01 01 06 | 1F 5E | 03 FA", 0x50, 0, &auth);

    let stop = [cmd(Stop)];
    master_block("FC", "51 3E | 01 01 08 | A1 B2 | 03 FA", 0x51, 0xE, &stop);
    master_block("AS W3", "50 30 | 01 01 08 | 9E 9A | 03 FA", 0x50, 0, &stop);
    master_block("W3", "51 30 | 01 01 08 | A3 5A | 03 FA", 0x51, 0, &stop);
    master_block("W3", "52 30 | 01 01 08 | E7 5A | 03 FA", 0x52, 0, &stop);
    master_block("W3", "53 30 | 01 01 08 | DA 9A | 03 FA", 0x53, 0, &stop);
    master_block("W3", "50 31 | 01 01 08 | 9F 66 | 03 FA", 0x50, 1, &stop);
    master_block("W3", "52 31 | 01 01 08 | E6 A6 | 03 FA", 0x52, 1, &stop);
    master_block("W3", "51 31 | 01 01 08 | A2 A6 | 03 FA", 0x51, 1, &stop);
    master_block("W3", "53 31 | 01 01 08 | DB 66 | 03 FA", 0x53, 1, &stop);
}

#[test]
fn b_several_commands_in_one_block() {
    use Dcc::*;
    // Two CD1 in one block: RETURN FILLING INFO then RESET.
    let rfi_reset = [cmd(ReturnFillingInfo), cmd(Reset)];
    master_block(
        "W3",
        "52 30 | 01 01 04 | 01 01 05 | 19 94 | 03 FA",
        0x52,
        0,
        &rfi_reset,
    );
    master_block(
        "W3",
        "53 30 | 01 01 04 | 01 01 05 | D8 58 | 03 FA",
        0x53,
        0,
        &rfi_reset,
    );
    // RETURN STATUS + RETURN FILLING INFO + RETURN PUMP IDENTITY.
    master_block(
        "MG",
        "51 30 | 01 01 00 | 01 01 04 | 01 01 03 | E4 2E | 03 FA",
        0x51,
        0,
        &[
            cmd(ReturnStatus),
            cmd(ReturnFillingInfo),
            cmd(ReturnPumpIdentity),
        ],
    );
}

#[test]
fn b_allowed_nozzles_and_presets() {
    use Dcc::*;
    let noz1 = [M::AllowedNozzles(vec![1])];
    master_block("FC", "51 32 | 02 01 01 | 92 E4 | 03 FA", 0x51, 2, &noz1);
    master_block("FC", "51 34 | 02 01 01 | 92 6C | 03 FA", 0x51, 4, &noz1);
    master_block(
        "MG",
        "51 34 | 02 01 01 | 01 01 06 | 5C BF | 03 FA",
        0x51,
        4,
        &[M::AllowedNozzles(vec![1]), cmd(Authorize)],
    );
    master_block(
        "MG",
        "51 34 | 02 01 02 | 01 01 06 | 5C FB | 03 FA",
        0x51,
        4,
        &[M::AllowedNozzles(vec![2]), cmd(Authorize)],
    );
    master_block(
        "IP",
        "50 34 | 02 02 01 02 | 01 01 05 | 70 ED | 03 FA",
        0x50,
        4,
        &[M::AllowedNozzles(vec![1, 2]), cmd(Reset)],
    );
    // 99999999 is the "no limit" preset real hosts send.
    master_block(
        "FC",
        "51 35 | 03 04 99 99 99 99 | 04 89 | 03 FA",
        0x51,
        5,
        &[M::PresetVolume(99_999_999)],
    );
    master_block(
        "MG",
        "51 33 | 04 04 99 99 99 99 | 63 3E | 03 FA",
        0x51,
        3,
        &[M::PresetAmount(99_999_999)],
    );
}

#[test]
fn b_price_updates() {
    use Dcc::*;
    master_block(
        "FC",
        "51 3F | 05 03 00 81 23 | A8 07 | 03 FA",
        0x51,
        0xF,
        &[M::PriceUpdate(vec![8123])],
    );
    master_block(
        "FC",
        "52 3C | 05 09 00 12 34 00 56 78 00 26 53 | A9 46 | 03 FA",
        0x52,
        0xC,
        &[M::PriceUpdate(vec![1234, 5678, 2653])],
    );
    master_block(
        "IP",
        "51 34 | 05 03 00 11 75 | 45 42 | 03 FA",
        0x51,
        4,
        &[M::PriceUpdate(vec![1175])],
    );
    master_block(
        "IP",
        "50 35 | 05 03 00 11 75 | 54 53 | 03 FA",
        0x50,
        5,
        &[M::PriceUpdate(vec![1175])],
    );
    // The pump went 0 → 5 after this one.
    master_block(
        "IP",
        "50 30 | 05 06 00 11 75 00 11 75 | DA C7 | 03 FA",
        0x50,
        0,
        &[M::PriceUpdate(vec![1175, 1175])],
    );
    master_block(
        "AS",
        "50 30 | 01 01 05 | 05 03 00 11 11 | 86 01 | 03 FA",
        0x50,
        0,
        &[cmd(Reset), M::PriceUpdate(vec![1111])],
    );
    master_block(
        "AS",
        "51 30 | 01 01 05 | 05 03 00 10 01 | D7 98 | 03 FA",
        0x51,
        0,
        &[cmd(Reset), M::PriceUpdate(vec![1001])],
    );
}

#[test]
fn b_total_counter_requests() {
    let coun1 = [M::RequestTotals(1)];
    master_block("IP", "51 30 | 65 01 01 | 22 83 | 03 FA", 0x51, 0, &coun1);
    master_block("IP", "51 31 | 65 01 01 | 23 7F | 03 FA", 0x51, 1, &coun1);
    master_block("IP FC", "51 32 | 65 01 01 | 23 3B | 03 FA", 0x51, 2, &coun1);
    master_block("IP", "51 33 | 65 01 01 | 22 C7 | 03 FA", 0x51, 3, &coun1);
    master_block("IP AS", "50 30 | 65 01 01 | 1F 43 | 03 FA", 0x50, 0, &coun1);
    master_block("IP", "50 32 | 65 01 01 | 1E FB | 03 FA", 0x50, 2, &coun1);
    master_block("AS", "52 30 | 65 01 01 | 66 83 | 03 FA", 0x52, 0, &coun1);
    // Computed: the master's totals request, CD101 COUN 1 (volume total of LN1) and
    // CD101 COUN 0x11 (its amount total and number of fillings) in one block, TX#2; each
    // transaction alone is a vector above and in D.
    master_block(
        "computed",
        "51 32 | 65 01 01 | 65 01 11 | 33 79 | 03 FA",
        0x51,
        2,
        &[M::RequestTotals(1), M::RequestTotals(0x11)],
    );
    // CD8 = CD101 under the older TRANS.
    master_block(
        "MG",
        "51 30 | 08 01 01 | B3 5E | 03 FA",
        0x51,
        0,
        &[M::RequestTotalsCd8(1)],
    );
    master_block(
        "MG",
        "51 37 | 08 01 02 | F2 2B | 03 FA",
        0x51,
        7,
        &[M::RequestTotalsCd8(2)],
    );
}

#[test]
fn b_exchanges_decode_as_one_stream() {
    // W3: CD1 STOP TX#1 to 0x52, answered by ACK TX#1.
    let stream = hex("52 31 01 01 08 E6 A6 03 FA  52 C1 FA");
    let expected = [
        Decoded::Frame(Frame::data(addr(0x52), 1, hex("01 01 08"))),
        Decoded::Frame(Frame::ack(addr(0x52), 1)),
    ];
    check_stream(&stream, &expected, "W3 STOP + ACK");
    // AS: CD1 RESET + CD5 to 0x51, ACKed by `51 C0 FA`.
    let stream = hex("51 30 01 01 05 05 03 00 10 01 D7 98 03 FA  51 C0 FA");
    let expected = [
        Decoded::Frame(Frame::data(addr(0x51), 0, hex("01 01 05 05 03 00 10 01"))),
        Decoded::Frame(Frame::ack(addr(0x51), 0)),
    ];
    check_stream(&stream, &expected, "AS RESET+CD5 + ACK");
    // §4 (b): POLL, pump data after a turnaround byte, ACK with the pump's TX#.
    let stream = hex("51 20 FA  BC 51 3A 03 04 00 81 23 11 26 14 03 FA  51 CA FA");
    let expected = [
        Decoded::Frame(Frame::poll(addr(0x51))),
        garbage(&[0xBC]),
        Decoded::Frame(Frame::data(addr(0x51), 0xA, hex("03 04 00 81 23 11"))),
        Decoded::Frame(Frame::ack(addr(0x51), 0xA)),
    ];
    check_stream(&stream, &expected, "POLL / DATA / ACK");
}

// ---------------------------------------------------------------------------------------
// C. Pump → master data frames (captured)

#[test]
fn c_status_only_blocks() {
    let not_programmed = [status(0)];
    // Merged capture: the same bytes are also CD1 RETURN STATUS; both readings hold.
    pump_block(
        "IP",
        "51 30 | 01 01 00 | A2 9C | 03 FA",
        0x51,
        0,
        &not_programmed,
    );
    assert_eq!(
        decode_master(&hex("01 01 00")),
        Ok(vec![cmd(Dcc::ReturnStatus)])
    );
    pump_block(
        "IP",
        "50 30 | 01 01 00 | 9F 5C | 03 FA",
        0x50,
        0,
        &not_programmed,
    );
    // Seen at two different sites.
    pump_block(
        "IP IB",
        "50 31 | 01 01 00 | 9E A0 | 03 FA",
        0x50,
        1,
        &not_programmed,
    );
    pump_block(
        "IB",
        "50 34 | 01 01 00 | 9E 6C | 03 FA",
        0x50,
        4,
        &not_programmed,
    );
    pump_block(
        "IB",
        "50 36 | 01 01 00 | 9F D4 | 03 FA",
        0x50,
        6,
        &not_programmed,
    );
}

#[test]
fn c_status_nozzle_and_filling_bundles() {
    // DC1 FILLING COMPLETED + DC3 price 001175, NOZIO 01 (nozzle 1 selected, in).
    pump_block(
        "IP",
        "51 3C | 01 01 05 | 03 04 00 11 75 01 | 1A C7 | 03 FA",
        0x51,
        0xC,
        &[status(5), dc3(1175, 0x01)],
    );
    // DC2 0/0 + DC3 001175 nozzle 1 in + DC1 5.
    pump_block(
        "IP",
        "51 3A | 02 08 00 00 00 00 00 00 00 00 | 03 04 00 11 75 01 | 01 01 05 | 60 27 | 03 FA",
        0x51,
        0xA,
        &[dc2(0, 0), dc3(1175, 0x01), status(5)],
    );
    // DC2 volume 0, amount 0.
    pump_block(
        "IP",
        "51 3B | 02 08 00 00 00 00 00 00 00 00 | 21 2D | 03 FA",
        0x51,
        0xB,
        &[dc2(0, 0)],
    );
    // DC1 5 + DC3 price 009907, NOZIO 07 (nozzle 7 selected, in).
    pump_block(
        "IP",
        "50 31 | 01 01 05 | 03 04 00 99 07 07 | AB 49 | 03 FA",
        0x50,
        1,
        &[status(5), dc3(9907, 0x07)],
    );
    // DC1 RESET + DC3 price 002180 (2.180 SAR), NOZIO 11 (nozzle 1 out).
    pump_block(
        "IB",
        "50 34 | 01 01 01 | 03 04 00 21 80 11 | 9C 82 | 03 FA",
        0x50,
        4,
        &[status(1), dc3(2180, 0x11)],
    );
    // DC1 AUTHORIZED + DC3, the answer to `50 37 01 01 06 …`.
    pump_block(
        "IB",
        "50 36 | 01 01 02 | 03 04 00 21 80 11 | 0E 48 | 03 FA",
        0x50,
        6,
        &[status(2), dc3(2180, 0x11)],
    );
    // DC3 price 008123, nozzle 1 out (unsolicited on lift).
    pump_block(
        "FC",
        "51 3A | 03 04 00 81 23 11 | 26 14 | 03 FA",
        0x51,
        0xA,
        &[dc3(8123, 0x11)],
    );
    // Queued statuses in one block: RESET, AUTHORIZED, AUTHORIZED, DC3 nozzle 1 out.
    pump_block(
        "FC",
        "51 3D | 01 01 01 | 01 01 02 | 01 01 02 | 03 04 00 81 23 11 | B1 CE | 03 FA",
        0x51,
        0xD,
        &[status(1), status(2), status(2), dc3(8123, 0x11)],
    );
    // DC1 RESET + DC1 AUTHORIZED.
    pump_block(
        "FC",
        "51 3E | 01 01 01 | 01 01 02 | F7 4F | 03 FA",
        0x51,
        0xE,
        &[status(1), status(2)],
    );
    pump_block(
        "FC",
        "51 33 | 01 01 01 | 01 01 02 | 2B 8F | 03 FA",
        0x51,
        3,
        &[status(1), status(2)],
    );
    // DC2 volume 188, amount 8460 + DC1 5.
    pump_block(
        "MG",
        "51 34 | 02 08 00 00 01 88 00 00 84 60 | 01 01 05 | 38 4E | 03 FA",
        0x51,
        4,
        &[dc2(188, 8460), status(5)],
    );
    // DC2 0.87 L / 1.00 (AS reads the figures the other way round; the spec order holds).
    pump_block(
        "AS",
        "50 37 | 02 08 00 00 00 87 00 00 01 00 | 56 30 | 03 FA",
        0x50,
        7,
        &[dc2(87, 100)],
    );
    // DC2 0.68 / 0.73.
    pump_block(
        "AS",
        "50 31 | 02 08 00 00 00 68 00 00 00 73 | DD 1A | 03 FA",
        0x50,
        1,
        &[dc2(68, 73)],
    );
    // DC2 321/50 + DC3 001559 nozzle 0 + DC1 5.
    pump_block(
        "AS",
        "53 30 | 02 08 00 00 03 21 00 00 00 50 | 03 04 00 15 59 00 | 01 01 05 | 2B B1 | 03 FA",
        0x53,
        0,
        &[dc2(321, 50), dc3(1559, 0x00), status(5)],
    );
}

#[test]
fn c_total_counters() {
    let bundle = [
        dc2(0, 0),
        dc3(9907, 0x07),
        status(5),
        totals(1, 1_336_384_966, 1_336_384_966, 0),
    ];
    // DC2 0/0 + DC3 + DC1 5 + DC101 COUN 1, TOTVAL = TOTM1 = 1336384966, TOTM2 0.
    pump_block(
        "IP",
        "50 30 | 02 08 00 00 00 00 00 00 00 00 | 03 04 00 99 07 07 | 01 01 05 \
         | 65 10 01 13 36 38 49 66 13 36 38 49 66 00 00 00 00 00 | D8 43 | 03 FA",
        0x50,
        0,
        &bundle,
    );
    // Same payload, TX#E: CRC 0xFA39, so CRC-2 goes on the wire as `10 FA`.
    pump_block(
        "IP",
        "50 3E | 02 08 00 00 00 00 00 00 00 00 | 03 04 00 99 07 07 | 01 01 05 \
         | 65 10 01 13 36 38 49 66 13 36 38 49 66 00 00 00 00 00 | 39 10 FA | 03 FA",
        0x50,
        0xE,
        &bundle,
    );
    let coun1_2 = [totals(1, 2, 2, 0)];
    pump_block(
        "IP",
        "51 3D | 65 10 01 00 00 00 00 02 00 00 00 00 02 00 00 00 00 00 | 58 F8 | 03 FA",
        0x51,
        0xD,
        &coun1_2,
    );
    // dart.md elides the payload of these two ("same payload, TX#E / TX#F").
    pump_block(
        "IP",
        "51 3E | 65 10 01 00 00 00 00 02 00 00 00 00 02 00 00 00 00 00 | 1C BC | 03 FA",
        0x51,
        0xE,
        &coun1_2,
    );
    pump_block(
        "IP",
        "51 3F | 65 10 01 00 00 00 00 02 00 00 00 00 02 00 00 00 00 00 | 21 40 | 03 FA",
        0x51,
        0xF,
        &coun1_2,
    );
    // Non-standard short DC101, LNG 6: COUN 1, total 0000010634, no meter totals.
    pump_block(
        "IB",
        "50 36 | 65 06 01 00 00 01 06 34 | 8E 91 | 03 FA",
        0x50,
        6,
        &[P::TotalCounters {
            coun: 1,
            totval: 10_634,
            totm1: None,
            totm2: None,
        }],
    );
    // COUN 1, TOTVAL 0000426633.
    pump_block(
        "FC",
        "51 39 | 65 10 01 00 00 42 66 33 00 00 42 66 33 00 00 00 00 00 | A4 F0 | 03 FA",
        0x51,
        9,
        &[totals(1, 426_633, 426_633, 0)],
    );
    // COUN 1, TOTVAL 0000281249 (2812.49 L).
    pump_block(
        "AS",
        "50 31 | 65 10 01 00 00 28 12 49 00 00 28 12 49 00 00 00 00 00 | 60 89 | 03 FA",
        0x50,
        1,
        &[totals(1, 281_249, 281_249, 0)],
    );
}

// ---------------------------------------------------------------------------------------
// D. Computed (not captured) golden frames

#[test]
fn d_computed_master_blocks() {
    use Dcc::*;
    // Identical to the captured W3 frame: a cross-check.
    master_block(
        "computed",
        "50 31 | 01 01 08 | 9F 66 | 03 FA",
        0x50,
        1,
        &[cmd(Stop)],
    );
    master_block(
        "computed",
        "50 32 | 01 01 0A | 1E E3 | 03 FA",
        0x50,
        2,
        &[cmd(SwitchOff)],
    );
    master_block(
        "computed",
        "50 33 | 01 01 03 | DF 19 | 03 FA",
        0x50,
        3,
        &[cmd(ReturnPumpIdentity)],
    );
    master_block(
        "computed",
        "50 34 | 01 01 02 | 1F AD | 03 FA",
        0x50,
        4,
        &[cmd(ReturnPumpParameters)],
    );
    master_block(
        "computed",
        "50 35 | 01 01 0D | 5E 55 | 03 FA",
        0x50,
        5,
        &[cmd(Suspend)],
    );
    master_block(
        "computed",
        "50 36 | 01 01 0E | 1E 10 | 03 FA",
        0x50,
        6,
        &[cmd(Resume)],
    );
    // CD3 preset volume 00002000 (20.00 L at 2 dp).
    master_block(
        "computed",
        "50 37 | 03 04 00 00 20 00 | AB CC | 03 FA",
        0x50,
        7,
        &[M::PresetVolume(2000)],
    );
    master_block(
        "computed",
        "50 38 | 04 04 00 00 50 00 | 70 BB | 03 FA",
        0x50,
        8,
        &[M::PresetAmount(5000)],
    );
    // CD2 1,2,3 + CD4 00010000 + CD1 AUTHORIZE.
    master_block(
        "computed",
        "51 39 | 02 03 01 02 03 | 04 04 00 01 00 00 | 01 01 06 | E6 7B | 03 FA",
        0x51,
        9,
        &[
            M::AllowedNozzles(vec![1, 2, 3]),
            M::PresetAmount(10_000),
            cmd(Authorize),
        ],
    );
    master_block(
        "computed",
        "52 3A | 05 09 00 14 59 00 15 59 00 16 59 | 46 56 | 03 FA",
        0x52,
        0xA,
        &[M::PriceUpdate(vec![1459, 1559, 1659])],
    );
    // CD101 COUN 0x11: LN1 amount totals.
    master_block(
        "computed",
        "50 3B | 65 01 11 | 1C AB | 03 FA",
        0x50,
        0xB,
        &[M::RequestTotals(0x11)],
    );
    master_block(
        "computed",
        "50 3C | 0E 01 00 | AC 0F | 03 FA",
        0x50,
        0xC,
        &[M::SuspendRequest(0)],
    );
    master_block(
        "computed",
        "50 3D | 0F 01 00 | FC 33 | 03 FA",
        0x50,
        0xD,
        &[M::ResumeRequest(0)],
    );
}

#[test]
fn d_computed_pump_blocks() {
    // DC1 FILLING from the highest address.
    pump_block(
        "computed",
        "6F 30 | 01 01 04 | 8A 9A | 03 FA",
        0x6F,
        0,
        &[status(4)],
    );
    // DC3 price 001459, nozzle 2 out.
    pump_block(
        "computed",
        "50 31 | 03 04 00 14 59 12 | 2E 55 | 03 FA",
        0x50,
        1,
        &[dc3(1459, 0x12)],
    );
    pump_block(
        "computed",
        "50 32 | 02 08 00 00 12 34 00 00 18 00 | 4A C4 | 03 FA",
        0x50,
        2,
        &[dc2(1234, 1800)],
    );
    // DC5 alarm 0x0B, pressure lost.
    pump_block(
        "computed",
        "50 33 | 05 01 0B | 9F 1E | 03 FA",
        0x50,
        3,
        &[P::Alarm(0x0B)],
    );
    assert_eq!(
        pump_protocols::dart::alarm_description(0x0B),
        "pressure lost"
    );
    // DC9 identity 0123450789.
    pump_block(
        "computed",
        "50 34 | 09 05 01 23 45 07 89 | 83 B6 | 03 FA",
        0x50,
        4,
        &[P::Identity(PumpIdentity(123_450_789))],
    );
    // DC1 6 (preset reached) + DC2 2000/2918.
    pump_block(
        "computed",
        "50 35 | 01 01 06 | 02 08 00 00 20 00 00 00 29 18 | 5A 33 | 03 FA",
        0x50,
        5,
        &[status(6), dc2(2000, 2918)],
    );
    // DC2 6/12: CRC-1 = 0xFA goes on the wire as `10 FA`, CRC-2 0x7F.
    pump_block(
        "computed",
        "50 32 | 02 08 00 00 00 06 00 00 00 12 | 10 FA 7F | 03 FA",
        0x50,
        2,
        &[dc2(6, 12)],
    );
}

// ---------------------------------------------------------------------------------------
// E. Payload-only examples (no CRC published): application layer

#[test]
fn e_payload_only_examples() {
    use Dcc::*;
    // W3: the PCC485 host's full authorize block, sent twice before a fill: CD1 RESET;
    // CD2 nozzles 1–4; CD5 prices 015000/010500/012400/014330; CD3 00099900; CD1 AUTHORIZE.
    let payload = hex(
        "01 01 05 | 02 04 01 02 03 04 | 05 0C 01 50 00 01 05 00 01 24 00 01 43 30 \
         | 03 04 00 09 99 00 | 01 01 06",
    );
    let transactions = vec![
        cmd(Reset),
        M::AllowedNozzles(vec![1, 2, 3, 4]),
        M::PriceUpdate(vec![15_000, 10_500, 12_400, 14_330]),
        M::PresetVolume(99_900),
        cmd(Authorize),
    ];
    assert_eq!(decode_master(&payload), Ok(transactions.clone()));
    assert_eq!(encode_master(&transactions), Ok(payload));

    // W3: DC2 9.97 L / 104 685 sum + DC3 price 010500, NOZIO 0x12 (nozzle 2 out).
    let payload = hex("02 08 00 00 09 97 00 10 46 85 | 03 04 01 05 00 12");
    let transactions = vec![dc2(997, 104_685), dc3(10_500, 0x12)];
    assert_eq!(decode_pump(&payload), Ok(transactions.clone()));
    assert_eq!(encode_pump(&transactions), Ok(payload));
    assert_eq!(Nozio(0x12).selected().map(|n| n.0), Some(2));
    assert!(Nozio(0x12).is_out());

    // W3: DC3 price 014300 (14 300 sum/L), nozzle 1 out.
    let payload = hex("03 04 01 43 00 11");
    let transactions = vec![dc3(14_300, 0x11)];
    assert_eq!(decode_pump(&payload), Ok(transactions.clone()));
    assert_eq!(encode_pump(&transactions), Ok(payload));
}

// ---------------------------------------------------------------------------------------
// F. Known-bad frames found in sources: rejected; with the correct CRC, accepted

/// `bad` is dropped as a bad CRC (and does not swallow the POLL after it); with its last
/// CRC bytes replaced by `good_crc` it is a valid block.
fn known_bad(src: &str, bad: &str, good_crc: &str) -> Frame {
    let what = format!("[{src}] {bad}");
    let bad = hex(bad);
    let block = BlockId {
        address: addr(bad[0]),
        tx: bad[1] & 0x0F,
    };
    let rejected = Decoded::Discarded {
        bytes: bad.clone(),
        reason: DiscardReason::BadCrc(block),
    };
    check_stream(&bad, std::slice::from_ref(&rejected), &what);
    let then_poll = [&bad[..], &hex("50 20 FA")].concat();
    check_stream(
        &then_poll,
        &[rejected, Decoded::Frame(Frame::poll(addr(0x50)))],
        &format!("{what} then POLL"),
    );

    let good_crc = hex(good_crc);
    let mut good = bad.clone();
    let n = good.len();
    good[n - 4..n - 2].copy_from_slice(&good_crc);
    let items = decode_all(&good);
    let [Decoded::Frame(frame)] = items.as_slice() else {
        panic!("{what}: corrected frame not accepted: {items:?}");
    };
    assert_eq!(
        frame.encode().as_ref(),
        Ok(&good),
        "{what}: corrected encode"
    );
    frame.clone()
}

fn payload(frame: &Frame) -> &[u8] {
    match frame {
        Frame::Data { payload, .. } => payload,
        Frame::Control { .. } => panic!("not a data block: {frame:?}"),
    }
}

#[test]
fn f_known_bad_frames() {
    // IB "failed example": AUTHORIZE with a wrong CRC; the pump ignored it.
    let f = known_bad("IB", "50 37 | 01 01 06 | 1D 3D | 03 FA", "1E 2A");
    assert_eq!(decode_master(payload(&f)), Ok(vec![cmd(Dcc::Authorize)]));
    // FC comment typo: CD101 COUN 2.
    let f = known_bad("FC", "50 33 | 65 01 02 | 62 C6 | 03 FA", "5F 06");
    assert_eq!(decode_master(payload(&f)), Ok(vec![M::RequestTotals(2)]));
    // FC comment typo: RESET.
    let f = known_bad("FC", "51 35 | 01 01 05 | DA CB | 03 FA", "62 53");
    assert_eq!(decode_master(payload(&f)), Ok(vec![cmd(Dcc::Reset)]));
    // FC copy-paste: STOP carrying the CRC of AUTHORIZE.
    let f = known_bad("FC", "51 36 | 01 01 08 | 22 16 | 03 FA", "A3 D2");
    assert_eq!(decode_master(payload(&f)), Ok(vec![cmd(Dcc::Stop)]));
    // AS illustrative comment: DC3 price 001150, nozzle 1 out.
    let f = known_bad("AS", "50 37 | 03 04 00 11 50 11 | 5E 04 | 03 FA", "1E 05");
    assert_eq!(decode_pump(payload(&f)), Ok(vec![dc3(1150, 0x11)]));
    // W3 transcription error: DC2 315 / 33075.
    let f = known_bad(
        "W3",
        "53 3C | 02 08 00 00 03 15 00 03 30 75 | 36 92 | 03 FA",
        "EA 89",
    );
    assert_eq!(decode_pump(payload(&f)), Ok(vec![dc2(315, 33_075)]));
}

#[test]
fn f_synthetic_frame_with_invalid_ctrl_is_noise() {
    // IB README: CTRL 0x00 is no frame type (and the CRC is wrong too): nothing in it
    // starts a frame, so all of it is garbage, and the POLL after it still decodes.
    let bad = hex("50 00 01 01 05 50 9A 03 FA");
    check_stream(&bad, &[garbage(&bad)], "IB synthetic");
    let then_poll = [&bad[..], &hex("50 20 FA")].concat();
    check_stream(
        &then_poll,
        &[garbage(&bad), Decoded::Frame(Frame::poll(addr(0x50)))],
        "IB synthetic then POLL",
    );
}
