//! Criterion benchmarks for the DART codec: a pump's typical status block (DC2 + DC3 +
//! DC1), a master's authorize bundle, and a stream of 100 mixed frames through the
//! incremental decoder.
//!
//! Run: `cargo bench -p pump-protocols --bench dart_codec` (add `-- --quick` for a short
//! measurement).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pump_protocols::dart::{
    decode_all, decode_master, decode_pump, encode_master, encode_pump, DartStatus, Dcc, Decoded,
    Frame, FrameDecoder, MasterTransaction as M, Nozio, PumpTransaction as P,
};
use pump_protocols::units::BusAddress;

const PUMP: BusAddress = BusAddress(0x51);

fn status_block() -> Vec<P> {
    vec![
        P::FilledVolumeAmount {
            volume: 1_234,
            amount: 18_000,
        },
        P::NozzleStatus {
            price: 1_459,
            nozio: Nozio::new(2, true),
        },
        P::Status(DartStatus::Filling),
    ]
}

fn authorize_bundle() -> Vec<M> {
    vec![
        M::Command(Dcc::Reset),
        M::AllowedNozzles(vec![1, 2, 3, 4]),
        M::PriceUpdate(vec![15_000, 10_500, 12_400, 14_330]),
        M::PresetAmount(10_000),
        M::Command(Dcc::Authorize),
    ]
}

fn wire(frame: &Frame) -> Vec<u8> {
    frame.encode().expect("benchmark frames are valid")
}

/// 100 frames as a master and its pumps exchange them, with a turnaround byte before each
/// pump data block.
fn mixed_stream() -> (Vec<u8>, usize) {
    let status = encode_pump(&status_block()).expect("valid block");
    let authorize = encode_master(&authorize_bundle()).expect("valid block");
    let totals = encode_pump(&[P::TotalCounters {
        coun: 1,
        totval: 1_336_384_966,
        totm1: Some(1_336_384_966),
        totm2: Some(0),
    }])
    .expect("valid block");
    let mut stream = Vec::new();
    let mut frames = 0;
    for i in 0..20u8 {
        let address = BusAddress(0x50 + i % 4);
        let tx = i % 16;
        let data_payload = match i % 3 {
            0 => &status,
            1 => &authorize,
            _ => &totals,
        };
        stream.extend(wire(&Frame::poll(address)));
        stream.push(0xBC);
        stream.extend(wire(&Frame::data(address, tx, data_payload.clone())));
        stream.extend(wire(&Frame::ack(address, tx)));
        stream.extend(wire(&Frame::poll(address)));
        stream.extend(wire(&Frame::eot(address)));
        frames += 5;
    }
    (stream, frames)
}

fn bench_status_block(c: &mut Criterion) {
    let block = status_block();
    let frame = Frame::data(PUMP, 3, encode_pump(&block).expect("valid block"));
    let bytes = wire(&frame);
    let mut group = c.benchmark_group("dc2_dc3_dc1_block");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let payload = encode_pump(black_box(&block)).expect("valid block");
            Frame::data(PUMP, 3, payload).encode()
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| match decode_all(black_box(&bytes)).as_slice() {
            [Decoded::Frame(Frame::Data { payload, .. })] => decode_pump(payload),
            other => panic!("benchmark block did not decode: {other:?}"),
        })
    });
    group.finish();
}

fn bench_authorize_bundle(c: &mut Criterion) {
    let bundle = authorize_bundle();
    let frame = Frame::data(PUMP, 5, encode_master(&bundle).expect("valid block"));
    let bytes = wire(&frame);
    let mut group = c.benchmark_group("authorize_bundle");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let payload = encode_master(black_box(&bundle)).expect("valid block");
            Frame::data(PUMP, 5, payload).encode()
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| match decode_all(black_box(&bytes)).as_slice() {
            [Decoded::Frame(Frame::Data { payload, .. })] => decode_master(payload),
            other => panic!("benchmark block did not decode: {other:?}"),
        })
    });
    group.finish();
}

fn bench_stream(c: &mut Criterion) {
    let (stream, frames) = mixed_stream();
    let mut group = c.benchmark_group("stream_100_frames");
    group.throughput(Throughput::Elements(frames as u64));
    for chunk in [1usize, 16, stream.len()] {
        group.bench_function(format!("chunks_of_{chunk}"), |b| {
            b.iter(|| {
                let mut decoder = FrameDecoder::new();
                let mut decoded = 0;
                for piece in black_box(&stream).chunks(chunk) {
                    decoder.push(piece);
                    while let Some(item) = decoder.next_item() {
                        decoded += usize::from(matches!(item, Decoded::Frame(_)));
                    }
                }
                assert_eq!(decoded, frames);
                decoded
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_status_block,
    bench_authorize_bundle,
    bench_stream
);
criterion_main!(benches);
