//! `dart::check_command`: what a DART pump can take, decided without a master, and the
//! master's `submit` agreeing with it (docs/protocols/dart.md §5.2, §5.6, §5.8, §5.9).

use std::time::Instant;

use proptest::prelude::*;
use pump_protocols::dart::{
    check_command, decode_all, decode_master, DartMaster, DartMasterSettings, Decoded, Frame,
};
use pump_protocols::{
    Authorization, BusAddress, Decimals, GradeId, LineMaster, Money, NozzleId, Preset, PumpCommand,
    PumpSetup, SubmitError, UnitPrice, Volume,
};
use rust_decimal::Decimal;

const A: BusAddress = BusAddress(0x50);

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

/// Nozzles 1 and 2, two decimals for volume and amount, three for prices.
fn pump() -> PumpSetup {
    PumpSetup {
        address: A,
        decimals: Decimals {
            volume: 2,
            amount: 2,
            price: 3,
        },
        nozzles: vec![(NozzleId(1), GradeId(95)), (NozzleId(2), GradeId(98))],
    }
}

fn authorize(preset: Option<Preset>, nozzles: &[u8]) -> PumpCommand {
    PumpCommand::Authorize(Authorization {
        preset,
        nozzles: nozzles.iter().map(|&n| NozzleId(n)).collect(),
    })
}

fn amount(text: &str) -> Option<Preset> {
    Some(Preset::Amount(Money::new(dec(text))))
}

fn volume(text: &str) -> Option<Preset> {
    Some(Preset::Volume(Volume::new(dec(text))))
}

fn prices(list: &[(u8, &str)]) -> PumpCommand {
    PumpCommand::SetPrices(
        list.iter()
            .map(|&(n, p)| (NozzleId(n), UnitPrice::new(dec(p))))
            .collect(),
    )
}

/// A master whose session with `setup`'s pump is open: polled, EOT, session block ACKed.
fn online_master(setup: &PumpSetup) -> (DartMaster, Instant) {
    let mut master = DartMaster::new(DartMasterSettings::default(), vec![setup.clone()])
        .expect("a valid pump setup");
    let mut now = Instant::now();
    let address = setup.address;
    let eot = Frame::eot(address).encode().expect("EOT");
    let ack = Frame::ack(address, 0).encode().expect("ACK");
    for answer in [eot, ack] {
        next_frame(&mut master, &mut now);
        master.handle_input(&answer, now);
    }
    (master, now)
}

/// The master's next frame, moving the clock through the gaps between exchanges.
fn next_frame(master: &mut DartMaster, now: &mut Instant) -> Frame {
    for _ in 0..100 {
        if let Some(bytes) = master.poll_transmit(*now) {
            match decode_all(&bytes).as_slice() {
                [Decoded::Frame(frame)] => return frame.clone(),
                other => panic!("not one frame: {other:?}"),
            }
        }
        *now = master.poll_timeout().expect("a next start").max(*now);
        master.handle_timeout(*now);
    }
    panic!("the master sent nothing");
}

#[test]
fn the_refusals_the_issue_lists() {
    let setup = pump();
    let refused = [
        // 8 digits at 2 decimals hold at most 999999.99.
        ("amount too large", authorize(amount("1000000.00"), &[])),
        ("volume too large", authorize(volume("1000000"), &[])),
        // Never rounded to 1.00 or 1.01.
        (
            "more decimals than the pump",
            authorize(amount("1.005"), &[]),
        ),
        (
            "volume too small to express",
            authorize(volume("0.0001"), &[]),
        ),
        ("zero amount", authorize(amount("0"), &[])),
        ("zero volume", authorize(volume("0.00"), &[])),
        ("negative amount", authorize(amount("-5.00"), &[])),
        ("negative volume", authorize(volume("-0.01"), &[])),
        ("nozzle not on the pump", authorize(None, &[3])),
        ("nozzle 0", authorize(None, &[0])),
        ("nozzle twice", authorize(None, &[1, 1])),
        // 6 digits at 3 decimals hold at most 999.999.
        ("price too large", prices(&[(1, "1000.000"), (2, "1.000")])),
        ("price too precise", prices(&[(1, "1.0005"), (2, "1.000")])),
        ("price zero", prices(&[(1, "0"), (2, "1.000")])),
        ("price negative", prices(&[(1, "-1.000"), (2, "1.000")])),
        ("price missing", prices(&[(1, "1.000")])),
        (
            "price for a nozzle the pump lacks",
            prices(&[(1, "1"), (2, "1"), (3, "1")]),
        ),
        (
            "totals of a nozzle the pump lacks",
            PumpCommand::ReadTotals(NozzleId(3)),
        ),
        (
            "totals beyond the counted nozzles",
            PumpCommand::ReadTotals(NozzleId(9)),
        ),
    ];
    for (why, command) in refused {
        let message = check_command(&setup, &command).expect_err(why);
        assert!(!message.is_empty(), "{why}: a reason for the attendant");
    }
    let accepted = [
        authorize(amount("999999.99"), &[]),
        authorize(amount("1.5"), &[1]),
        authorize(volume("0.01"), &[2, 1]),
        authorize(None, &[]),
        prices(&[(2, "999.999"), (1, "0.001")]),
        PumpCommand::ReadTotals(NozzleId(2)),
        PumpCommand::Stop,
        PumpCommand::Reset,
        PumpCommand::ReturnStatus,
    ];
    for command in accepted {
        assert_eq!(check_command(&setup, &command), Ok(()), "{command:?}");
    }
}

#[test]
fn zero_decimal_pumps_take_whole_figures_only() {
    // Colombia-like head (§5.8): amount and price with 0 decimals.
    let setup = PumpSetup {
        decimals: Decimals {
            volume: 3,
            amount: 0,
            price: 0,
        },
        ..pump()
    };
    assert!(check_command(&setup, &authorize(amount("50000"), &[])).is_ok());
    assert!(check_command(&setup, &authorize(amount("50000.5"), &[])).is_err());
    assert!(check_command(&setup, &authorize(amount("100000000"), &[])).is_err());
    assert!(check_command(&setup, &authorize(volume("12.345"), &[])).is_ok());
    assert!(check_command(&setup, &authorize(volume("12.3456"), &[])).is_err());
    assert!(check_command(&setup, &prices(&[(1, "8123"), (2, "9350")])).is_ok());
    assert!(check_command(&setup, &prices(&[(1, "8123.5"), (2, "9350")])).is_err());
}

#[test]
fn a_pump_setup_dart_cannot_carry_is_refused() {
    let wide = PumpSetup {
        decimals: Decimals {
            volume: 9,
            amount: 2,
            price: 3,
        },
        ..pump()
    };
    assert!(check_command(&wide, &PumpCommand::Stop).is_err());
    let off_bus = PumpSetup {
        address: BusAddress(0x20),
        ..pump()
    };
    assert!(check_command(&off_bus, &PumpCommand::Stop).is_err());
}

#[test]
fn submit_refuses_what_check_command_refuses_with_the_same_reason() {
    let setup = pump();
    let (mut master, _) = online_master(&setup);
    let command = authorize(amount("1.005"), &[]);
    let reason = check_command(&setup, &command).expect_err("too precise");
    assert_eq!(master.submit(A, command), Err(SubmitError::Invalid(reason)));
    assert_eq!(master.queued(A), Some(0));
}

fn quantity() -> impl Strategy<Value = Decimal> {
    // Mantissas from below zero to past 8 digits, scales from 0 to beyond the pump's.
    (-1_000i64..20_000_000_000, 0u32..=5).prop_map(|(m, scale)| Decimal::new(m, scale))
}

fn command() -> impl Strategy<Value = PumpCommand> {
    let preset = prop_oneof![
        Just(None),
        quantity().prop_map(|q| Some(Preset::Amount(Money::new(q)))),
        quantity().prop_map(|q| Some(Preset::Volume(Volume::new(q)))),
    ];
    let nozzles = proptest::collection::vec(0u8..=5, 0..=3);
    let price_list = proptest::collection::vec((0u8..=5, quantity()), 0..=4);
    prop_oneof![
        (preset, nozzles).prop_map(|(preset, nozzles)| PumpCommand::Authorize(Authorization {
            preset,
            nozzles: nozzles.into_iter().map(NozzleId).collect(),
        })),
        price_list.prop_map(|list| PumpCommand::SetPrices(
            list.into_iter()
                .map(|(n, p)| (NozzleId(n), UnitPrice::new(p)))
                .collect()
        )),
        (0u8..=10).prop_map(|n| PumpCommand::ReadTotals(NozzleId(n))),
        Just(PumpCommand::Stop),
        Just(PumpCommand::Reset),
        Just(PumpCommand::ReturnStatus),
        Just(PumpCommand::ReturnFillingInfo),
        Just(PumpCommand::Suspend),
        Just(PumpCommand::Resume),
        Just(PumpCommand::SwitchOff),
    ]
}

fn setup() -> impl Strategy<Value = PumpSetup> {
    (
        0u8..=4,
        0u8..=4,
        0u8..=4,
        proptest::collection::btree_set(1u8..=4, 1..=4),
    )
        .prop_map(|(volume, amount, price, nozzles)| PumpSetup {
            address: A,
            decimals: Decimals {
                volume,
                amount,
                price,
            },
            nozzles: nozzles
                .into_iter()
                .map(|n| (NozzleId(n), GradeId(n.into())))
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every command `check_command` accepts, the master takes and puts on the wire as one
    /// block of well-formed CD transactions; every one it refuses, `submit` refuses with
    /// the same reason and queues nothing.
    #[test]
    fn check_command_and_submit_agree(setup in setup(), command in command()) {
        let (mut master, mut now) = online_master(&setup);
        match check_command(&setup, &command) {
            Ok(()) => {
                prop_assert_eq!(master.submit(A, command.clone()), Ok(()));
                match next_frame(&mut master, &mut now) {
                    Frame::Data { address, tx, payload } => {
                        prop_assert_eq!(address, A);
                        prop_assert_eq!(tx, 1);
                        prop_assert!(decode_master(&payload).is_ok(), "{:?}", payload);
                    }
                    other => prop_assert!(false, "{command:?} sent as {other:?}"),
                }
            }
            Err(reason) => {
                prop_assert_eq!(
                    master.submit(A, command),
                    Err(SubmitError::Invalid(reason))
                );
                prop_assert_eq!(master.queued(A), Some(0));
            }
        }
    }
}
