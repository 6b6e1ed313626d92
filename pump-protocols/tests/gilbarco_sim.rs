//! The Gilbarco pump simulator on its own, byte by byte (docs/protocols/gilbarco.md §2–§5, §7):
//! data blocks taken and refused, the settings for the open points, the fault switches.

mod gilbarco_support;

use std::time::{Duration, Instant};

use gilbarco_support::hex;
use pump_protocols::gilbarco::words::lrc_ok;
use pump_protocols::gilbarco::{
    decode_transaction, encode_controller, ControllerBlock, DigitMode, GilbarcoSimulator,
    PresetBlock, PresetKind, PriceLevel, PumpState, SimPumpSetup, SimSettings,
};
use pump_protocols::{BusAddress, Decimals, LineSimulator, NozzleId, SimAction, UnitPrice};

const P1: BusAddress = BusAddress(1);

struct Bench {
    sim: GilbarcoSimulator,
    now: Instant,
}

impl Bench {
    fn new(settings: SimSettings) -> Self {
        let setup = SimPumpSetup::new(
            P1,
            Decimals::default(),
            vec![
                (NozzleId(1), UnitPrice::from_raw(1_000, 2)),
                (NozzleId(2), UnitPrice::from_raw(1_200, 2)),
            ],
        );
        Self {
            sim: GilbarcoSimulator::new(vec![setup], settings).expect("a valid loop"),
            now: Instant::now(),
        }
    }

    /// Writes `bytes` and returns everything the loop sends back within two seconds.
    fn exchange(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.sim.handle_input(bytes, self.now);
        self.now += Duration::from_secs(2);
        self.sim.handle_timeout(self.now);
        std::iter::from_fn(|| self.sim.poll_transmit(self.now))
            .flatten()
            .collect()
    }

    fn act(&mut self, action: SimAction) {
        self.sim.act(P1, action, self.now).expect("a valid action");
    }

    fn state(&self) -> PumpState {
        self.sim.pump(P1).expect("pump 1").state
    }
}

fn money_preset(value: u64) -> Vec<u8> {
    encode_controller(&ControllerBlock::Preset(PresetBlock {
        kind: PresetKind::Money,
        level: Some(PriceLevel::One),
        grade: None,
        value,
        digits: 5,
    }))
    .expect("fits")
}

#[test]
fn a_damaged_block_gives_one_data_error() {
    let mut b = Bench::new(SimSettings::default());
    assert_eq!(b.exchange(&[0x21]), vec![0xD1]);
    let mut block = hex("FF E5 F4 F6 E0 F7 E0 E4 E4 E1 FB E7 F0");
    block[7] = 0xE5;
    assert!(b.exchange(&block).is_empty(), "a block is never answered");
    assert_eq!(b.exchange(&[0x01]), vec![0x01], "data error");
    assert_eq!(b.exchange(&[0x01]), vec![0x61], "once");
    // The same block undamaged is taken: grade 1 at 14.40.
    assert_eq!(b.exchange(&[0x21]), vec![0xD1]);
    b.exchange(&hex("FF E5 F4 F6 E0 F7 E0 E4 E4 E1 FB E7 F0"));
    assert_eq!(b.exchange(&[0x01]), vec![0x61]);
    let prices = b.sim.pump(P1).expect("pump 1").grades[0].1;
    assert_eq!(prices, [1_440, 1_000], "level 1 only");
}

#[test]
fn a_block_without_data_next_or_for_a_busy_pump_is_refused() {
    let mut b = Bench::new(SimSettings::default());
    b.exchange(&money_preset(500));
    assert_eq!(
        b.sim.pump(P1).expect("pump 1").preset,
        None,
        "no 2p before it"
    );
    b.act(SimAction::LiftNozzle(NozzleId(1)));
    b.exchange(&[0x11]);
    assert_eq!(b.state(), PumpState::Busy);
    assert_eq!(b.exchange(&[0x21]), vec![0xD1]);
    b.exchange(&money_preset(500));
    assert_eq!(
        b.exchange(&[0x01]),
        vec![0x01],
        "no preset while delivering"
    );
    assert_eq!(b.exchange(&[0x01]), vec![0x91]);
}

#[test]
fn preset_from_idle_then_lift_delivers_to_the_preset_and_4p_clears() {
    let mut b = Bench::new(SimSettings::default());
    assert_eq!(b.exchange(&[0x21]), vec![0xD1]);
    b.exchange(&money_preset(500));
    assert_eq!(b.exchange(&[0x11]), Vec::<u8>::new());
    assert_eq!(b.state(), PumpState::Authorized);
    b.act(SimAction::LiftNozzle(NozzleId(2)));
    b.now += Duration::from_secs(60);
    b.sim.handle_timeout(b.now);
    assert_eq!(b.exchange(&[0x01]), vec![0xA1]);
    let block = b.exchange(&[0x41]);
    let sale = decode_transaction(&block, DigitMode::Six).expect("a transaction block");
    assert_eq!((sale.grade, sale.ppu, sale.money), (1, 1_200, 500));
    // 5.00 at 12.00 a litre: 0.42 L gives 5.04, 0.41 L only 4.92.
    assert_eq!(sale.volume, 42);
    assert_eq!(b.exchange(&[0x01]), vec![0x71], "read, nozzle still out");
}

#[test]
fn stop_feot_and_next_lift_settings() {
    let mut strict = Bench::new(SimSettings::default());
    strict.exchange(&[0x31]);
    assert_eq!(strict.state(), PumpState::Idle, "stop only in 8 and 9");
    let mut any = Bench::new(SimSettings {
        stop_in_any_state: true,
        ..SimSettings::default()
    });
    any.exchange(&[0x31]);
    assert_eq!(any.state(), PumpState::Stopped);

    let mut b = Bench::new(SimSettings {
        end_state: PumpState::Feot,
        end_clears: pump_protocols::gilbarco::EndClears::OnNextLift,
        ..SimSettings::default()
    });
    b.act(SimAction::LiftNozzle(NozzleId(1)));
    b.exchange(&[0x11]);
    b.act(SimAction::HangNozzle);
    assert_eq!(b.exchange(&[0x01]), vec![0xB1]);
    b.exchange(&[0x41]);
    assert_eq!(b.exchange(&[0x01]), vec![0xB1], "kept until the next lift");
    b.act(SimAction::LiftNozzle(NozzleId(1)));
    assert_eq!(b.exchange(&[0x01]), vec![0x71]);
}

#[test]
fn echo_all_stop_and_fault_shapes() {
    let mut b = Bench::new(SimSettings {
        echo: true,
        ..SimSettings::default()
    });
    assert_eq!(b.exchange(&[0x01]), vec![0x01, 0x61]);
    b.act(SimAction::LiftNozzle(NozzleId(1)));
    b.exchange(&[0x11]);
    b.exchange(&[0xFC]);
    assert_eq!(b.state(), PumpState::Stopped, "all stop");

    let mut b = Bench::new(SimSettings::default());
    b.act(SimAction::CorruptAnswers(3));
    assert_eq!(b.exchange(&[0x01]), vec![0x60], "another pump's nibble");
    let block = b.exchange(&[0x51]);
    assert!(!lrc_ok(&block), "a wrong LRC");
    let money = b.exchange(&[0x61]);
    assert_eq!(money.last(), Some(&0xF3), "a tag among the money words");
    b.act(SimAction::DropAnswers(1));
    assert!(b.exchange(&[0x01]).is_empty());
    b.act(SimAction::AnswerLate(1));
    b.sim.handle_input(&[0x01], b.now);
    b.now += Duration::from_millis(500);
    assert_eq!(b.sim.poll_transmit(b.now), None, "not yet");
    assert_eq!(b.exchange(&[]), vec![0x61]);
    b.act(SimAction::Silent(true));
    assert!(b.exchange(&[0x01]).is_empty());
}
