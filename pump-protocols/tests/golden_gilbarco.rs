//! Golden Gilbarco two-wire bytes: every test vector of docs/protocols/gilbarco.md sections A
//! and B, and the known-bad one of section C.
//!
//! Each vector carries its source key from protocols/sources.md (SK the SK700-II Python
//! API and its real dump, AS ASFuelControl, IG IgasDispensariosX, "computed" for section
//! B) and its meaning. Every block is checked both ways, byte for byte: the documented
//! fields encode to exactly the wire bytes, and the wire bytes decode to exactly those
//! fields, through every chunk pattern of [`check_stream`] (whole, byte by byte, split at
//! every offset, uneven chunks, after garbage). Pump answers are also fed to a
//! [`GilbarcoMaster`] in every split, and controller blocks are what the master writes.

mod gilbarco_support;

use std::time::{Duration, Instant};

use gilbarco_support::drive::Drive;
use gilbarco_support::{hex, splits};

use pump_protocols::gilbarco::{
    decode_all, decode_controller, decode_money, decode_totals, decode_transaction,
    encode_controller, encode_money, encode_totals, encode_transaction, BlockError, Command,
    CommandCode, ControllerBlock, DigitMode, DiscardReason, GilbarcoMasterSettings,
    GilbarcoSimulator, GradeTotals, Item, PresetBlock, PresetKind, PriceLevel, PumpId, PumpState,
    SimPumpSetup, SimSettings, StatusReply, StreamDecoder, TransactionData,
};
use pump_protocols::{
    Authorization, BusAddress, CompletedTransaction, CompletionReason, Decimals, GradeId,
    LineMaster, LineSimulator, Money, NozzleId, Preset, PumpCommand, PumpEventKind, PumpStatus,
    Totals, UnitPrice, Volume,
};

/// `n` copies of `E0`, for the zero fields of the long totals vectors.
fn zeros(n: usize) -> String {
    vec!["E0"; n].join(" ")
}

// ---------------------------------------------------------------------------------------
// Chunk patterns

fn run_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Item> {
    let mut decoder = StreamDecoder::new();
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        items.extend(std::iter::from_fn(|| decoder.next_item()));
    }
    assert_eq!(decoder.pending(), 0, "a block left unfinished");
    items
}

/// `wire` gives `expected` in every chunk pattern, and the same after line noise: stray
/// bytes (an ETX outside a block among them), then, before a block, a block cut off by
/// its STX.
fn check_stream(wire: &[u8], expected: &[Item], what: &str) {
    assert_eq!(decode_all(wire), expected, "{what}: whole buffer");
    for (i, chunks) in splits(wire).iter().enumerate() {
        let items = run_chunks(chunks.iter().map(Vec::as_slice));
        assert_eq!(items, expected, "{what}: chunk pattern {i}");
    }
    let mut dirty = vec![0x7E, 0x13, 0xF0];
    let mut want = vec![Item::Byte(0x7E), Item::Byte(0x13), Item::Byte(0xF0)];
    if wire.first() == Some(&0xFF) {
        dirty.extend_from_slice(&[0xFF, 0xE1, 0xF4]);
        want.push(Item::Discarded {
            bytes: vec![0xFF, 0xE1, 0xF4],
            reason: DiscardReason::Restarted,
        });
    }
    dirty.extend_from_slice(wire);
    want.extend_from_slice(expected);
    assert_eq!(decode_all(&dirty), want, "{what}: after garbage, whole");
    let bytewise = run_chunks(dirty.chunks(1));
    assert_eq!(bytewise, want, "{what}: after garbage, byte by byte");
}

// ---------------------------------------------------------------------------------------
// Section A: captured or hard-coded in working code

/// SK: real SK700-II dump. Transaction reply, pump 1, grade 3, level 1, PPU 1070,
/// volume 023360, money 025000 (23.360 L × 10.70 ≈ 250.00).
fn a1_transaction() -> Vec<u8> {
    hex("FF | F1 | F8 EB E1 E0 E0 E2 | F6 E2 | F4 | F7 E0 E7 E0 E1 \
         | F9 E0 E6 E3 E3 E2 E0 | FA E0 E0 E0 E5 E2 E0 | FB EC | F0")
}

fn a1_fields() -> TransactionData {
    TransactionData {
        kind_word: 0xF1,
        pump_ident: [0xEB, 0xE1, 0xE0, 0xE0, 0xE2],
        grade: 2,
        level: PriceLevel::One,
        ppu: 1070,
        volume: 23_360,
        money: 25_000,
    }
}

/// AS (GilbarcoMulti comment): totals reply with the echo `51`, 3 grades; grade 1 volume
/// 02151257, money 02434083, PPU1 1440, PPU2 0; grades 2 and 3 all zero. 95 bytes.
fn a2_totals_with_echo() -> Vec<u8> {
    let z8 = zeros(8);
    let z4 = zeros(4);
    hex(&format!(
        "51 | FF \
         | F6 E0 F9 E7 E5 E2 E1 E5 E1 E2 E0 FA E3 E8 E0 E4 E3 E4 E2 E0 F4 E0 E4 E4 E1 F5 {z4} \
         | F6 E1 F9 {z8} FA {z8} F4 {z4} F5 {z4} \
         | F6 E2 F9 {z8} FA {z8} F4 {z4} F5 {z4} | FB E5 | F0"
    ))
}

fn a2_fields() -> Vec<GradeTotals> {
    let mut grades = vec![GradeTotals {
        grade: 0,
        volume: 2_151_257,
        money: 2_434_083,
        ppu_level1: 1440,
        ppu_level2: 0,
    }];
    grades.extend((1..3).map(zero_grade));
    grades
}

fn zero_grade(grade: u8) -> GradeTotals {
    GradeTotals {
        grade,
        volume: 0,
        money: 0,
        ppu_level1: 0,
        ppu_level2: 0,
    }
}

/// AS: totals reply with the echo `51`, 6 grades; grade 1 PPU1 1111, grade 2 PPU1 1400,
/// everything else zero. 185 bytes.
fn a3_totals_with_echo() -> Vec<u8> {
    let z8 = zeros(8);
    let z4 = zeros(4);
    let mut text = format!(
        "51 FF F6 E0 F9 {z8} FA {z8} F4 E1 E1 E1 E1 F5 {z4} \
         F6 E1 F9 {z8} FA {z8} F4 E0 E0 E4 E1 F5 {z4} "
    );
    for g in 2..6 {
        text += &format!("F6 E{g} F9 {z8} FA {z8} F4 {z4} F5 {z4} ");
    }
    text += "FB E2 F0";
    hex(&text)
}

fn a3_fields() -> Vec<GradeTotals> {
    let mut grades: Vec<GradeTotals> = (0..6).map(zero_grade).collect();
    grades[0].ppu_level1 = 1111;
    grades[1].ppu_level1 = 1400;
    grades
}

#[test]
fn a1_sk_transaction_both_ways_and_every_split() {
    let wire = a1_transaction();
    assert_eq!(wire.len(), 33);
    assert_eq!(decode_transaction(&wire, DigitMode::Six), Ok(a1_fields()));
    assert_eq!(
        encode_transaction(&a1_fields(), DigitMode::Six),
        Ok(wire.clone())
    );
    check_stream(&wire, &[Item::Block(wire.clone())], "A1");
}

#[test]
fn a2_a3_as_totals_both_ways_and_every_split() {
    for (wire, fields, len) in [
        (a2_totals_with_echo(), a2_fields(), 95),
        (a3_totals_with_echo(), a3_fields(), 185),
    ] {
        assert_eq!(wire.len(), len);
        assert_eq!(wire[0], 0x51, "the echo of totals request 51");
        let block = &wire[1..];
        assert_eq!(decode_totals(block, DigitMode::Six), Ok(fields.clone()));
        assert_eq!(encode_totals(&fields, DigitMode::Six), Ok(block.to_vec()));
        let items = [Item::Byte(0x51), Item::Block(block.to_vec())];
        check_stream(&wire, &items, "totals");
    }
}

#[test]
fn a4_as_real_time_money_with_echo() {
    // AS log: `61 E0 E0 E0 E0 E0 E0`, pump 1, money 000000 after the echo 61.
    let wire = hex("61 | E0 E0 E0 E0 E0 E0");
    assert_eq!(decode_money(&wire[1..], DigitMode::Six), Ok(0));
    assert_eq!(encode_money(0, DigitMode::Six), Ok(wire[1..].to_vec()));
    let items: Vec<Item> = wire.iter().map(|&b| Item::Byte(b)).collect();
    check_stream(&wire, &items, "A4");
    assert_eq!(
        Command::from_byte(0x61),
        Some(Command::to(CommandCode::RealTimeMoney, pump(1)))
    );
}

#[test]
fn a5_as_special_function_block() {
    // AS: "get nozzle" special function, DL and LRC hard-coded.
    let wire = hex("FF | E9 | FE E0 E1 E0 | FB EE | F0");
    let block = ControllerBlock::Special(vec![0xE0, 0xE1, 0xE0]);
    assert_eq!(decode_controller(&wire), Ok(block.clone()));
    assert_eq!(encode_controller(&block), Ok(wire.clone()));
    check_stream(&wire, &[Item::Block(wire.clone())], "A5");
}

#[test]
fn a6_ig_short_money_preset_template() {
    // IG `EnviaPresetBomba6x`: FF E5 F2 F4 F8 d d d d d FB l F0, DL E5 hard-coded; the
    // LRC depends on the digits. Every 5-digit amount gives DL E5 and a block that decodes.
    for value in (0..100_000u64).step_by(7_919).chain([1, 99_999]) {
        let block = ControllerBlock::Preset(PresetBlock {
            kind: PresetKind::Money,
            level: Some(PriceLevel::One),
            grade: None,
            value,
            digits: 5,
        });
        let wire = encode_controller(&block).expect("five digits fit");
        assert_eq!(wire[..5], hex("FF E5 F2 F4 F8")[..], "value {value}");
        assert_eq!(wire.len(), 13);
        assert_eq!(decode_controller(&wire), Ok(block));
    }
}

#[test]
fn a7_status_ranges_for_pumps_1_to_15_and_16() {
    // AS/IG range checks: 6x idle, 7x call, 8x auth, 9x busy, Ax/Bx end, Cx stop, Dx ready.
    let states = [
        (0x6, PumpState::Idle, Some(PumpStatus::Idle)),
        (0x7, PumpState::Call, Some(PumpStatus::Calling)),
        (0x8, PumpState::Authorized, Some(PumpStatus::Authorized)),
        (0x9, PumpState::Busy, Some(PumpStatus::Filling)),
        (0xA, PumpState::Peot, Some(PumpStatus::Completed)),
        (0xB, PumpState::Feot, Some(PumpStatus::Completed)),
        (0xC, PumpState::Stopped, Some(PumpStatus::Stopped)),
        (0xD, PumpState::SendData, None),
        (0x0, PumpState::DataError, None),
    ];
    for (nibble, state, model) in states {
        for n in 0..=15u8 {
            let byte = (nibble << 4) | n;
            let reply = StatusReply::from_byte(byte, false).expect("a status byte");
            assert_eq!(reply.state, state, "{byte:02X}");
            assert_eq!(reply.pump.nibble(), n);
            assert_eq!(reply.pump.number(), if n == 0 { 16 } else { n });
            assert_eq!(reply.byte(), byte);
            assert_eq!(pump_protocols::gilbarco::state_to_model(state), model);
        }
    }
    for nibble in [0x1, 0x2, 0x3, 0x4, 0x5, 0xE, 0xF] {
        assert_eq!(StatusReply::from_byte(nibble << 4 | 1, false), None);
    }
}

// ---------------------------------------------------------------------------------------
// Section B: computed with the verified DL/LRC rules

fn price_block() -> ControllerBlock {
    ControllerBlock::PriceChange {
        level: PriceLevel::One,
        grade: 0,
        ppu: 1440,
        digits: 4,
    }
}

fn money_preset(level: Option<PriceLevel>, digits: u8) -> ControllerBlock {
    ControllerBlock::Preset(PresetBlock {
        kind: PresetKind::Money,
        level,
        grade: None,
        value: 10_000,
        digits,
    })
}

fn volume_preset() -> ControllerBlock {
    ControllerBlock::Preset(PresetBlock {
        kind: PresetKind::Volume,
        level: Some(PriceLevel::One),
        grade: Some(1),
        value: 20_000,
        digits: 5,
    })
}

/// Section B blocks: wire, fields, meaning.
fn section_b() -> Vec<(Vec<u8>, ControllerBlock, &'static str)> {
    vec![
        (
            hex("FF E5 | F4 F6 E0 F7 E0 E4 E4 E1 | FB E7 F0"),
            price_block(),
            "price change: level 1, grade 1, PPU 1440 (as AS/IG build it)",
        ),
        (
            hex("FF E6 | F2 F8 E0 E0 E0 E0 E1 | FB E5 F0"),
            money_preset(None, 5),
            "money preset 10000, AS short form",
        ),
        (
            hex("FF E5 | F2 F4 F8 E0 E0 E0 E0 E1 | FB E2 F0"),
            money_preset(Some(PriceLevel::One), 5),
            "money preset 10000, level 1, IG short form",
        ),
        (
            hex("FF E4 | F2 F4 F8 E0 E0 E0 E0 E1 E0 | FB E3 F0"),
            money_preset(Some(PriceLevel::One), 6),
            "money preset 010000 (6 digits), level 1, any grade",
        ),
        (
            hex("FF E3 | F1 F4 F6 E1 F8 E0 E0 E0 E0 E2 | FB ED F0"),
            volume_preset(),
            "volume preset 20000 (5 digits), level 1, grade 2",
        ),
    ]
}

#[test]
fn b_controller_blocks_both_ways_and_every_split() {
    for (wire, block, what) in section_b() {
        assert_eq!(decode_controller(&wire), Ok(block.clone()), "{what}");
        assert_eq!(encode_controller(&block), Ok(wire.clone()), "{what}");
        check_stream(&wire, &[Item::Block(wire.clone())], what);
    }
}

#[test]
fn b_controller_blocks_with_a_wrong_dl_or_lrc_are_refused() {
    for (wire, _, what) in section_b() {
        let mut bad_dl = wire.clone();
        bad_dl[1] ^= 0x01;
        assert!(
            matches!(decode_controller(&bad_dl), Err(BlockError::BadLrc { .. })),
            "{what}: a changed DL breaks the LRC"
        );
        let n = wire.len();
        let mut bad_lrc = wire.clone();
        bad_lrc[n - 2] ^= 0x01;
        assert!(matches!(
            decode_controller(&bad_lrc),
            Err(BlockError::BadLrc { .. })
        ));
        assert!(matches!(
            decode_all(&bad_lrc).as_slice(),
            [Item::Discarded {
                reason: DiscardReason::BadCheck,
                ..
            }]
        ));
    }
}

fn pump(n: u8) -> PumpId {
    PumpId::new(n).expect("pumps 1..=16")
}

#[test]
fn b_commands_and_their_replies_from_the_simulator() {
    // Computed: 01 → 61, 11 (no reply), 21 → D1, 00 → 60 (pump 16).
    assert_eq!(Command::to(CommandCode::Status, pump(1)).byte(), 0x01);
    assert_eq!(Command::to(CommandCode::Authorize, pump(1)).byte(), 0x11);
    assert_eq!(Command::to(CommandCode::DataNext, pump(1)).byte(), 0x21);
    assert_eq!(Command::to(CommandCode::Status, pump(16)).byte(), 0x00);
    assert_eq!(Command::to(CommandCode::Totals, pump(16)).byte(), 0x50);
    let setup = |n| {
        SimPumpSetup::new(
            BusAddress(n),
            Decimals::default(),
            vec![(NozzleId(1), UnitPrice::from_raw(1440, 2))],
        )
    };
    let mut sim = GilbarcoSimulator::new(vec![setup(1), setup(16)], SimSettings::default())
        .expect("a valid loop");
    let t0 = Instant::now();
    let later = t0 + Duration::from_millis(50);
    for (command, reply) in [
        (0x01, Some(0x61)),
        (0x11, None),
        (0x21, Some(0xD1)),
        (0x00, Some(0x60)),
    ] {
        sim.handle_input(&[command], t0);
        assert_eq!(
            sim.poll_transmit(later),
            reply.map(|r| vec![r]),
            "{command:02X}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Section C: known bad

#[test]
fn c_damaged_sk_transcription_is_refused() {
    // From an SK analysis script: 5 volume and 5 money words, LRC EE where the bytes give
    // E0. Only a negative test.
    let wire = hex(
        "ff f1 f8 eb e3 e0 e0 e2 f6 e0 f4 f7 e0 e5 e1 e8 f9 e0 e7 e2 e1 e0 fa e0 e0 e0 e0 e1 \
         fb ee f0",
    );
    assert!(decode_transaction(&wire, DigitMode::Six).is_err());
    assert!(decode_transaction(&wire, DigitMode::Eight).is_err());
    let mut fixed_length = wire.clone();
    fixed_length.pop();
    assert!(matches!(
        pump_protocols::gilbarco::words::lrc(&fixed_length[..fixed_length.len() - 1]),
        0xE0
    ));
    for chunks in splits(&wire) {
        let items = run_chunks(chunks.iter().map(Vec::as_slice));
        assert!(
            matches!(
                items.as_slice(),
                [Item::Discarded {
                    reason: DiscardReason::BadCheck,
                    ..
                }]
            ),
            "{items:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The same vectors through the master

#[test]
fn master_reads_the_sk_transaction_in_every_split() {
    let decimals = Decimals {
        volume: 3,
        amount: 2,
        price: 2,
    };
    for chunks in splits(&a1_transaction()) {
        let mut drive = Drive::new(GilbarcoMasterSettings::default(), decimals, &[1, 2, 3]);
        drive.online(0xA1);
        assert_eq!(drive.sent(), vec![0x41], "a finished sale is read first");
        drive.answer(&chunks);
        let completions: Vec<_> = drive
            .kinds()
            .into_iter()
            .filter(|k| matches!(k, PumpEventKind::TransactionCompleted(_)))
            .collect();
        assert_eq!(
            completions,
            vec![PumpEventKind::TransactionCompleted(CompletedTransaction {
                nozzle: NozzleId(3),
                grade: Some(GradeId(3)),
                volume: Volume::from_raw(23_360, 3),
                amount: Money::from_raw(25_000, 2),
                unit_price: UnitPrice::from_raw(1070, 2),
                reason: CompletionReason::Normal,
            })]
        );
    }
}

#[test]
fn master_refuses_the_damaged_transaction_and_asks_again() {
    let mut drive = Drive::new(GilbarcoMasterSettings::default(), Decimals::default(), &[1]);
    drive.online(0xA1);
    assert_eq!(drive.sent(), vec![0x41]);
    drive.answer(&[hex(
        "ff f1 f8 eb e3 e0 e0 e2 f6 e0 f4 f7 e0 e5 e1 e8 f9 e0 e7 e2 e1 e0 fa e0 e0 e0 e0 e1 \
         fb ee f0",
    )]);
    assert!(drive
        .kinds()
        .iter()
        .all(|k| !matches!(k, PumpEventKind::TransactionCompleted(_))));
    assert_eq!(drive.master.stats().bad_answers, 1);
    assert_eq!(drive.sent(), vec![0x41], "the sale is asked for again");
}

#[test]
fn master_reads_the_as_totals_with_echo_in_every_split() {
    let settings = GilbarcoMasterSettings {
        echo: true,
        ..GilbarcoMasterSettings::default()
    };
    for (wire, want) in [
        (a2_totals_with_echo(), (2_151_257, 2_434_083)),
        (a3_totals_with_echo(), (0, 0)),
    ] {
        for chunks in splits(&wire) {
            let mut drive = Drive::new(settings, Decimals::default(), &[1, 2, 3]);
            assert_eq!(drive.sent(), vec![0x01]);
            drive.answer(&[vec![0x01, 0x61]]);
            drive
                .master
                .submit(BusAddress(1), PumpCommand::ReadTotals(NozzleId(1)))
                .expect("totals of nozzle 1");
            assert_eq!(drive.sent(), vec![0x51]);
            drive.answer(&chunks);
            let totals: Vec<_> = drive
                .kinds()
                .into_iter()
                .filter_map(|k| match k {
                    PumpEventKind::Totals(t) => Some(t),
                    _ => None,
                })
                .collect();
            assert_eq!(
                totals,
                vec![Totals {
                    nozzle: NozzleId(1),
                    grade: Some(GradeId(1)),
                    volume: Some(Volume::from_raw(want.0, 2)),
                    amount: Some(Money::from_raw(want.1, 2)),
                    fillings: None,
                }]
            );
        }
    }
}

#[test]
fn master_status_answers_with_and_without_echo() {
    // Without an echoing converter `01` → `61`; with one `01` → `01 61`, in any split.
    for (echo, wire) in [(false, vec![0x61]), (true, vec![0x01, 0x61])] {
        for chunks in splits(&wire) {
            let settings = GilbarcoMasterSettings {
                echo,
                ..GilbarcoMasterSettings::default()
            };
            let mut drive = Drive::new(settings, Decimals::default(), &[1]);
            assert_eq!(drive.sent(), vec![0x01]);
            drive.answer(&chunks);
            assert_eq!(
                drive.kinds(),
                vec![PumpEventKind::StatusChanged(PumpStatus::Idle)]
            );
        }
    }
}

/// What the master writes for `command` to an idle pump 1 that takes every block.
fn blocks_written(
    settings: GilbarcoMasterSettings,
    decimals: Decimals,
    nozzles: &[u8],
    command: PumpCommand,
) -> Vec<Vec<u8>> {
    let mut drive = Drive::new(settings, decimals, nozzles);
    drive.online(0x61);
    drive
        .master
        .submit(BusAddress(1), command)
        .expect("a valid command");
    let mut blocks = Vec::new();
    loop {
        let sent = drive.sent();
        match sent.as_slice() {
            [0x21] => {
                drive.answer(&[vec![0xD1]]);
                let block = drive.sent();
                blocks.push(block);
                assert_eq!(drive.sent(), vec![0x01], "the block's check");
                drive.answer(&[vec![0x61]]);
            }
            [0x11] => blocks.push(sent),
            [0x01] => return blocks,
            other => panic!("unexpected {other:02X?}"),
        }
    }
}

#[test]
fn master_writes_the_section_b_blocks() {
    let two = Decimals::default();
    let s = GilbarcoMasterSettings::default();
    let prices = PumpCommand::SetPrices(vec![(NozzleId(1), UnitPrice::from_raw(1440, 2))]);
    let written = blocks_written(s, two, &[1], prices);
    assert_eq!(written[0], hex("FF E5 F4 F6 E0 F7 E0 E4 E4 E1 FB E7 F0"));
    assert_eq!(written.len(), 2, "both price levels");
    let level_2 = encode_controller(&ControllerBlock::PriceChange {
        level: PriceLevel::Two,
        grade: 0,
        ppu: 1440,
        digits: 4,
    });
    assert_eq!(Ok(written[1].clone()), level_2);

    let money = |amount| {
        PumpCommand::Authorize(Authorization {
            preset: Some(Preset::Amount(Money::from_raw(amount, 2))),
            nozzles: vec![],
        })
    };
    let authorize = vec![0x11];
    let cases = [
        (s, "FF E5 F2 F4 F8 E0 E0 E0 E0 E1 FB E2 F0"),
        (
            GilbarcoMasterSettings {
                preset_with_level: false,
                ..s
            },
            "FF E6 F2 F8 E0 E0 E0 E0 E1 FB E5 F0",
        ),
        (
            GilbarcoMasterSettings {
                money_preset_digits: 6,
                ..s
            },
            "FF E4 F2 F4 F8 E0 E0 E0 E0 E1 E0 FB E3 F0",
        ),
    ];
    for (settings, want) in cases {
        let written = blocks_written(settings, two, &[1], money(10_000));
        assert_eq!(written, vec![hex(want), authorize.clone()]);
    }

    let litres = Decimals {
        volume: 3,
        amount: 2,
        price: 2,
    };
    let volume = PumpCommand::Authorize(Authorization {
        preset: Some(Preset::Volume(Volume::from_raw(20_000, 3))),
        nozzles: vec![NozzleId(2)],
    });
    let written = blocks_written(s, litres, &[1, 2], volume);
    assert_eq!(
        written,
        vec![
            hex("FF E3 F1 F4 F6 E1 F8 E0 E0 E0 E0 E2 FB ED F0"),
            authorize
        ]
    );
}
