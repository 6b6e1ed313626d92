//! Property tests of the DART codec: round trips of every transaction and of frames, the
//! push-byte path against the whole-buffer path, and arbitrary bytes in arbitrary splits
//! (no panic, bounded memory, every input byte accounted for).

use proptest::collection::vec;
use proptest::prelude::*;

use pump_protocols::crc::crc16_arc;
use pump_protocols::dart::bcd::{decode_bcd, encode_bcd};
use pump_protocols::dart::frame::{is_dart_address, MAX_BUFFERED, MAX_PAYLOAD_LEN};
use pump_protocols::dart::{
    decode_all, decode_master, decode_pump, encode_master, encode_pump, ControlKind, DartStatus,
    Dcc, Decoded, DiscardReason, Frame, FrameDecoder, MasterTransaction as M, Nozio, PumpIdentity,
    PumpTransaction as P,
};
use pump_protocols::units::BusAddress;

const MASTER_TRANS: [u8; 11] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x0D, 0x0E, 0x0F, 0x65,
];
const PUMP_TRANS: [u8; 10] = [0x01, 0x02, 0x03, 0x05, 0x09, 0x0E, 0x0F, 0x65, 0x66, 0x67];

fn unknown_trans(known: &'static [u8]) -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("unknown TRANS", move |t| !known.contains(t))
}

fn price() -> impl Strategy<Value = u32> {
    0..=999_999u32
}

fn eight_digits() -> impl Strategy<Value = u32> {
    0..=99_999_999u32
}

fn ten_digits() -> impl Strategy<Value = u64> {
    0..=9_999_999_999u64
}

fn master_transaction() -> impl Strategy<Value = M> {
    prop_oneof![
        any::<u8>().prop_map(|c| M::Command(Dcc::from_code(c))),
        vec(1..=15u8, 1..=15).prop_map(M::AllowedNozzles),
        eight_digits().prop_map(M::PresetVolume),
        eight_digits().prop_map(M::PresetAmount),
        vec(price(), 1..=15).prop_map(M::PriceUpdate),
        (any::<u8>(), any::<u8>()).prop_map(|(num, command)| M::SetOutput { num, command }),
        any::<u8>().prop_map(M::FillingType),
        (0..=15u8).prop_map(M::SuspendRequest),
        (0..=15u8).prop_map(M::ResumeRequest),
        any::<u8>().prop_map(M::RequestTotals),
        any::<u8>().prop_map(M::RequestTotalsCd8),
        (unknown_trans(&MASTER_TRANS), vec(any::<u8>(), 0..40))
            .prop_map(|(trans, data)| M::Unknown { trans, data }),
    ]
}

fn pump_transaction() -> impl Strategy<Value = P> {
    prop_oneof![
        any::<u8>().prop_map(|c| P::Status(DartStatus::from_code(c))),
        (eight_digits(), eight_digits())
            .prop_map(|(volume, amount)| P::FilledVolumeAmount { volume, amount }),
        (price(), any::<u8>()).prop_map(|(price, n)| P::NozzleStatus {
            price,
            nozio: Nozio(n)
        }),
        any::<u8>().prop_map(P::Alarm),
        ten_digits().prop_map(|id| P::Identity(PumpIdentity(id))),
        any::<u8>().prop_map(P::SuspendReply),
        any::<u8>().prop_map(P::ResumeReply),
        (
            any::<u8>(),
            ten_digits(),
            proptest::option::of((ten_digits(), ten_digits()))
        )
            .prop_map(|(coun, totval, meters)| P::TotalCounters {
                coun,
                totval,
                totm1: meters.map(|m| m.0),
                totm2: meters.map(|m| m.1),
            }),
        (any::<u8>(), any::<u8>()).prop_map(|(mode, loca)| P::StandAloneMode { mode, loca }),
        vec(price(), 1..=15).prop_map(P::Prices),
        (unknown_trans(&PUMP_TRANS), vec(any::<u8>(), 0..40))
            .prop_map(|(trans, data)| P::Unknown { trans, data }),
    ]
}

/// `TRANS LNG DATA` runs with consistent lengths and random content, mostly under known
/// TRANS numbers, so decoding gets past the framing into the field checks.
fn transaction_shaped_bytes() -> impl Strategy<Value = Vec<u8>> {
    let trans = prop_oneof![
        3 => prop::sample::select(&[0x01u8, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0D,
            0x0E, 0x0F, 0x65, 0x66, 0x67][..]),
        1 => any::<u8>(),
    ];
    let digits =
        prop_oneof![3 => (0..=9u8, 0..=9u8).prop_map(|(h, l)| h << 4 | l), 1 => any::<u8>()];
    let one = (trans, vec(digits, 0..20)).prop_map(|(trans, data)| {
        let mut t = vec![trans, data.len() as u8];
        t.extend(data);
        t
    });
    vec(one, 1..5).prop_map(|ts| ts.concat())
}

/// Payload bytes biased towards the ones that need care on the wire.
fn wire_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        1 => Just(0xFA),
        1 => Just(0x10),
        1 => Just(0x03),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    let address = (0x50..=0x6Fu8).prop_map(BusAddress);
    let kind = prop_oneof![
        Just(ControlKind::Poll),
        Just(ControlKind::Eot),
        Just(ControlKind::Ack),
        Just(ControlKind::Nak),
        Just(ControlKind::AckPoll),
        Just(ControlKind::Iap),
    ];
    prop_oneof![
        (address.clone(), kind, 0..=15u8).prop_map(|(address, kind, tx)| Frame::Control {
            address,
            kind,
            tx: if kind.has_fixed_tx() { 0 } else { tx },
        }),
        (address, 0..=15u8, vec(wire_byte(), 1..=MAX_PAYLOAD_LEN))
            .prop_map(|(address, tx, payload)| Frame::data(address, tx, payload)),
    ]
}

/// Bytes that can never start a frame: stand-ins for RS-485 turnaround bytes and noise.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    vec(
        any::<u8>().prop_filter("not an address", |b| !is_dart_address(*b)),
        1..8,
    )
}

/// Pushes `bytes` cut by `sizes` (cycled), draining after each push and checking the
/// memory bound, then finishes.
fn decode_in_chunks(bytes: &[u8], sizes: &[usize]) -> Vec<Decoded> {
    let mut decoder = FrameDecoder::new();
    let mut items = Vec::new();
    let mut rest = bytes;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        decoder.push(chunk);
        while let Some(item) = decoder.next_item() {
            items.push(item);
        }
        assert!(
            decoder.buffered() <= MAX_BUFFERED,
            "decoder grew past its bound"
        );
    }
    items.extend(decoder.finish());
    items
}

/// The wire bytes the items stand for, in order.
fn reassemble(items: &[Decoded]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Decoded::Frame(frame) => frame
                .encode_into(&mut out)
                .expect("a decoded frame encodes"),
            Decoded::Discarded { bytes, .. } => out.extend_from_slice(bytes),
        }
    }
    out
}

/// A stream of random bytes sprinkled with real frames and their fragments.
fn messy_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        vec(any::<u8>(), 0..64),
        frame().prop_map(|f| f.encode().expect("strategy frames are valid")),
        (frame(), any::<prop::sample::Index>()).prop_map(|(f, cut)| {
            let wire = f.encode().expect("strategy frames are valid");
            wire[..cut.index(wire.len())].to_vec()
        }),
    ];
    vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn master_transactions_round_trip(ts in vec(master_transaction(), 1..6)) {
        let payload = encode_master(&ts).expect("valid transactions encode");
        prop_assert_eq!(decode_master(&payload), Ok(ts));
    }

    #[test]
    fn pump_transactions_round_trip(ts in vec(pump_transaction(), 1..6)) {
        let payload = encode_pump(&ts).expect("valid transactions encode");
        prop_assert_eq!(decode_pump(&payload), Ok(ts));
    }

    #[test]
    fn app_decode_of_any_bytes_never_panics_and_reencodes_exactly(
        bytes in prop_oneof![vec(any::<u8>(), 0..300), transaction_shaped_bytes()]
    ) {
        if let Ok(ts) = decode_pump(&bytes) {
            prop_assert_eq!(encode_pump(&ts), Ok(bytes.clone()));
        }
        if let Ok(ts) = decode_master(&bytes) {
            // CD2/CD14/CD15 accept nozzle numbers on decode that encode refuses.
            if let Ok(again) = encode_master(&ts) {
                prop_assert_eq!(again, bytes);
            }
        }
    }

    #[test]
    fn bcd_round_trips(value in any::<u64>(), width in 1..=9usize) {
        let mut out = Vec::new();
        match encode_bcd(value, width, &mut out) {
            Ok(()) => {
                prop_assert_eq!(out.len(), width);
                prop_assert_eq!(decode_bcd(&out), Ok(value));
            }
            Err(_) => prop_assert!(value >= 10u64.pow(2 * width as u32)),
        }
    }

    #[test]
    fn crc_residue_is_zero(bytes in vec(any::<u8>(), 0..300)) {
        let mut with_crc = bytes.clone();
        with_crc.extend_from_slice(&crc16_arc(&bytes).to_le_bytes());
        prop_assert_eq!(crc16_arc(&with_crc), 0);
    }

    #[test]
    fn frames_round_trip(f in frame()) {
        let wire = f.encode().expect("strategy frames are valid");
        prop_assert_eq!(*wire.last().expect("frames are not empty"), 0xFA);
        // The only unescaped SF is the last byte.
        for i in 0..wire.len() - 1 {
            prop_assert!(wire[i] != 0xFA || (i > 0 && wire[i - 1] == 0x10));
        }
        prop_assert_eq!(decode_all(&wire), vec![Decoded::Frame(f)]);
    }

    #[test]
    fn frames_between_noise_survive_any_split(
        parts in vec((proptest::option::of(noise()), frame()), 1..8),
        trailing in proptest::option::of(noise()),
        sizes in vec(1..40usize, 1..20),
    ) {
        let mut stream = Vec::new();
        let mut expected: Vec<Decoded> = Vec::new();
        for (junk, f) in &parts {
            if let Some(junk) = junk {
                stream.extend_from_slice(junk);
                expected.push(Decoded::Discarded {
                    bytes: junk.clone(),
                    reason: DiscardReason::Garbage,
                });
            }
            stream.extend(f.encode().expect("strategy frames are valid"));
            expected.push(Decoded::Frame(f.clone()));
        }
        if let Some(junk) = &trailing {
            stream.extend_from_slice(junk);
            expected.push(Decoded::Discarded {
                bytes: junk.clone(),
                reason: DiscardReason::Garbage,
            });
        }
        prop_assert_eq!(&decode_all(&stream), &expected);
        prop_assert_eq!(&decode_in_chunks(&stream, &sizes), &expected);
        prop_assert_eq!(&decode_in_chunks(&stream, &[1]), &expected);
    }

    #[test]
    fn push_byte_path_equals_whole_buffer_path(
        stream in messy_stream(),
        sizes in vec(1..64usize, 1..20),
    ) {
        let whole = decode_all(&stream);
        prop_assert_eq!(&decode_in_chunks(&stream, &[1]), &whole);
        prop_assert_eq!(&decode_in_chunks(&stream, &sizes), &whole);
        // The decoder partitions its input: nothing is lost, duplicated or reordered.
        prop_assert_eq!(reassemble(&whole), stream);
    }

    #[test]
    fn random_bytes_never_panic_and_memory_stays_bounded(
        stream in vec(any::<u8>(), 0..4000),
        sizes in vec(1..600usize, 1..10),
    ) {
        let items = decode_in_chunks(&stream, &sizes);
        for item in &items {
            if let Decoded::Discarded { bytes, .. } = item {
                prop_assert!(bytes.len() <= MAX_BUFFERED);
            }
        }
        prop_assert_eq!(reassemble(&items), stream);
    }
}
