//! Property checks of the Gilbarco codec (docs/protocols/gilbarco.md §4, §5): every block
//! decodes to what was encoded, every encoded block carries a valid check character, the
//! push-byte decoder gives the same items however the stream is cut, and no input makes
//! a decoder, the master or the simulator panic.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use pump_protocols::gilbarco::words::{lrc, STX};
use pump_protocols::gilbarco::{
    decode_all, decode_controller, decode_money, decode_totals, decode_transaction,
    encode_controller, encode_money, encode_totals, encode_transaction, ControllerBlock, DigitMode,
    GilbarcoMaster, GilbarcoMasterSettings, GilbarcoSimulator, GradeTotals, Item, PresetBlock,
    PresetKind, PriceLevel, SimPumpSetup, SimSettings, StreamDecoder, TransactionData,
};
use pump_protocols::{
    BusAddress, Decimals, GradeId, LineMaster, LineSimulator, NozzleId, PumpSetup, UnitPrice,
};

fn mode() -> impl Strategy<Value = DigitMode> {
    prop_oneof![Just(DigitMode::Six), Just(DigitMode::Eight)]
}

fn level() -> impl Strategy<Value = PriceLevel> {
    prop_oneof![Just(PriceLevel::One), Just(PriceLevel::Two)]
}

fn below(digits: usize) -> impl Strategy<Value = u64> {
    0..10u64.pow(digits as u32)
}

fn transaction(mode: DigitMode) -> impl Strategy<Value = TransactionData> {
    (
        0xF1..=0xFEu8,
        prop::array::uniform5(0xE0..=0xEFu8),
        0..=9u8,
        level(),
        below(mode.price_digits()),
        below(mode.sale_digits()),
        below(mode.sale_digits()),
    )
        .prop_map(
            |(kind_word, pump_ident, grade, level, ppu, volume, money)| TransactionData {
                kind_word,
                pump_ident,
                grade,
                level,
                ppu,
                volume,
                money,
            },
        )
}

fn totals(mode: DigitMode) -> impl Strategy<Value = Vec<GradeTotals>> {
    let group = (
        0..=9u8,
        below(mode.total_digits()),
        below(mode.total_digits()),
        below(mode.price_digits()),
        below(mode.price_digits()),
    )
        .prop_map(
            |(grade, volume, money, ppu_level1, ppu_level2)| GradeTotals {
                grade,
                volume,
                money,
                ppu_level1,
                ppu_level2,
            },
        );
    prop::collection::vec(group, 1..=10)
}

fn controller_block() -> impl Strategy<Value = ControllerBlock> {
    let price = (level(), 0..=9u8, 1..=8u8)
        .prop_flat_map(|(level, grade, digits)| {
            (Just(level), Just(grade), below(digits.into()), Just(digits))
        })
        .prop_map(|(level, grade, ppu, digits)| ControllerBlock::PriceChange {
            level,
            grade,
            ppu,
            digits,
        });
    let preset = (
        prop_oneof![Just(PresetKind::Volume), Just(PresetKind::Money)],
        prop::option::of(level()),
        prop::option::of(0..=9u8),
        1..=12u8,
    )
        .prop_flat_map(|(kind, level, grade, digits)| {
            (below(digits.into())).prop_map(move |value| {
                ControllerBlock::Preset(PresetBlock {
                    kind,
                    level,
                    grade,
                    value,
                    digits,
                })
            })
        });
    let special = prop::collection::vec(0xE0..=0xEFu8, 0..8).prop_map(ControllerBlock::Special);
    prop_oneof![price, preset, special]
}

/// The check of §5: low nibbles from STX through the LRC sum to 0 mod 16.
fn check_holds(block: &[u8]) -> bool {
    let n = block.len();
    block[0] == STX
        && block[..n - 1]
            .iter()
            .map(|b| u32::from(b & 0x0F))
            .sum::<u32>()
            % 16
            == 0
        && lrc(&block[..n - 2]) == block[n - 2]
}

/// Splits `bytes` at the given cut points (taken modulo the length).
fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
        .collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

fn pump_setup() -> PumpSetup {
    PumpSetup {
        address: BusAddress(1),
        decimals: Decimals::default(),
        nozzles: vec![(NozzleId(1), GradeId(1)), (NozzleId(2), GradeId(2))],
    }
}

proptest! {
    #[test]
    fn transaction_round_trips((mode, data) in mode().prop_flat_map(|m| (Just(m), transaction(m)))) {
        let wire = encode_transaction(&data, mode).expect("fields fit");
        prop_assert!(check_holds(&wire));
        prop_assert_eq!(decode_transaction(&wire, mode), Ok(data));
        prop_assert_eq!(decode_all(&wire), vec![Item::Block(wire)]);
    }

    #[test]
    fn totals_round_trip((mode, grades) in mode().prop_flat_map(|m| (Just(m), totals(m)))) {
        let wire = encode_totals(&grades, mode).expect("fields fit");
        prop_assert!(check_holds(&wire));
        prop_assert_eq!(decode_totals(&wire, mode), Ok(grades));
    }

    #[test]
    fn money_round_trips((mode, money) in mode().prop_flat_map(|m| (Just(m), below(m.sale_digits())))) {
        let words = encode_money(money, mode).expect("fits");
        prop_assert_eq!(decode_money(&words, mode), Ok(money));
    }

    #[test]
    fn controller_blocks_round_trip(block in controller_block()) {
        let wire = encode_controller(&block).expect("fields fit");
        prop_assert!(check_holds(&wire));
        prop_assert_eq!(decode_controller(&wire), Ok(block));
    }

    #[test]
    fn push_byte_path_equals_whole_buffer(
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), 0xE0..=0xFFu8], 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = decode_all(&bytes);
        let mut decoder = StreamDecoder::new();
        let mut items = Vec::new();
        for chunk in cut(&bytes, &cuts) {
            decoder.push(&chunk);
            items.extend(std::iter::from_fn(|| decoder.next_item()));
        }
        prop_assert_eq!(&items, &whole);
        let mut bytewise = StreamDecoder::new();
        for &b in &bytes {
            bytewise.push_byte(b);
        }
        let by_byte: Vec<Item> = std::iter::from_fn(|| bytewise.next_item()).collect();
        prop_assert_eq!(by_byte, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), 0xE0..=0xFFu8], 0..400),
        mode in mode(),
    ) {
        let _ = decode_transaction(&bytes, mode);
        let _ = decode_totals(&bytes, mode);
        let _ = decode_money(&bytes, mode);
        let _ = decode_controller(&bytes);
        let mut framed = vec![STX];
        framed.extend_from_slice(&bytes);
        let _ = decode_controller(&framed);
        let _ = decode_all(&bytes);
    }

    #[test]
    fn master_and_simulator_take_any_bytes(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..20),
        echo in any::<bool>(),
    ) {
        let settings = GilbarcoMasterSettings { echo, ..GilbarcoMasterSettings::default() };
        let mut master = GilbarcoMaster::new(settings, vec![pump_setup()]).expect("valid");
        let sim_setup = SimPumpSetup::new(
            BusAddress(1),
            Decimals::default(),
            vec![(NozzleId(1), UnitPrice::from_raw(150, 2))],
        );
        let mut sim = GilbarcoSimulator::new(vec![sim_setup], SimSettings::default())
            .expect("valid");
        let mut now = Instant::now();
        for chunk in &chunks {
            now += Duration::from_millis(7);
            let _ = master.poll_transmit(now);
            master.handle_input(chunk, now);
            master.handle_timeout(now);
            while master.poll_event().is_some() {}
            sim.handle_input(chunk, now);
            sim.handle_timeout(now);
            while sim.poll_transmit(now + Duration::from_secs(2)).is_some() {}
        }
    }
}
