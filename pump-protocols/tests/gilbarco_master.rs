//! The Gilbarco master on its own, byte by byte, against answers written by hand
//! (docs/protocols/gilbarco.md §1, §3, §5, §6): echoes, data errors, misses and offline, stray
//! and late answers.

mod gilbarco_support;

use std::time::Duration;

use gilbarco_support::drive::Drive;
use pump_protocols::gilbarco::GilbarcoMasterSettings;
use pump_protocols::{
    Authorization, BusAddress, CommandFailure, Decimals, LineMaster, Money, NozzleId, Preset,
    PumpCommand, PumpEventKind as E, PumpStatus, UnitPrice,
};

const P1: BusAddress = BusAddress(1);

fn drive(settings: GilbarcoMasterSettings) -> Drive {
    Drive::new(settings, Decimals::default(), &[1, 2])
}

fn echo_on() -> GilbarcoMasterSettings {
    GilbarcoMasterSettings {
        echo: true,
        ..GilbarcoMasterSettings::default()
    }
}

fn statuses(drive: &Drive) -> Vec<PumpStatus> {
    drive
        .kinds()
        .into_iter()
        .filter_map(|k| match k {
            E::StatusChanged(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn failures(drive: &Drive) -> Vec<(PumpCommand, CommandFailure)> {
    drive
        .kinds()
        .into_iter()
        .filter_map(|k| match k {
            E::CommandFailed { command, failure } => Some((command, failure)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lone_0p_without_an_echoing_converter_is_a_data_error() {
    let mut d = drive(GilbarcoMasterSettings::default());
    d.online(0x61);
    assert_eq!(d.sent(), vec![0x01]);
    d.answer(&[vec![0x01]]);
    // Taken at the deadline: a sign of life, no status change, no miss.
    assert_eq!(d.sent(), vec![0x01]);
    assert_eq!(d.master.stats().timeouts, 0);
    // `01` followed by more was the echo after all.
    d.answer(&[vec![0x01], vec![0x71]]);
    assert_eq!(statuses(&d), vec![PumpStatus::Idle, PumpStatus::Calling]);
}

#[test]
fn with_an_echoing_converter_a_bare_echo_is_a_miss() {
    let mut d = drive(echo_on());
    assert_eq!(d.sent(), vec![0x01]);
    d.answer(&[vec![0x01, 0x61]]);
    assert_eq!(d.sent(), vec![0x01]);
    d.answer(&[vec![0x01]]);
    assert_eq!(d.sent(), vec![0x01]);
    assert_eq!(d.master.stats().timeouts, 1);
    assert_eq!(statuses(&d), vec![PumpStatus::Idle]);
}

#[test]
fn five_misses_take_a_pump_offline_and_fail_its_commands() {
    let mut d = drive(GilbarcoMasterSettings::default());
    d.online(0x61);
    d.master
        .submit(P1, PumpCommand::ReadTotals(NozzleId(1)))
        .expect("a valid command");
    let prices = PumpCommand::SetPrices(vec![(NozzleId(2), UnitPrice::from_raw(1_500, 2))]);
    d.master
        .submit(P1, prices.clone())
        .expect("a valid command");
    // Four unanswered totals requests (1 + 3 retries), then the price's data next.
    let writes: Vec<Vec<u8>> = (0..5).map(|_| d.sent()).collect();
    assert_eq!(writes[..4], vec![vec![0x51]; 4][..]);
    assert_eq!(writes[4], vec![0x21]);
    let offline_poll = d.sent();
    assert_eq!(statuses(&d), vec![PumpStatus::Idle, PumpStatus::Offline]);
    assert_eq!(
        failures(&d),
        vec![
            (
                PumpCommand::ReadTotals(NozzleId(1)),
                CommandFailure::NoAnswer
            ),
            (prices, CommandFailure::PumpOffline),
        ]
    );
    assert_eq!(offline_poll, vec![0x01], "an offline pump is only polled");
    // ... and only every offline_poll_interval.
    let polled_at = d.now;
    let next = d.sent();
    assert_eq!(next, vec![0x01]);
    assert!(d.now - polled_at >= Duration::from_secs(1));
    // A command for an offline pump fails at once; an answer opens a new session.
    d.master.submit(P1, PumpCommand::Stop).expect("valid");
    d.answer(&[vec![0x61]]);
    assert!(failures(&d).contains(&(PumpCommand::Stop, CommandFailure::PumpOffline)));
    assert_eq!(statuses(&d).last(), Some(&PumpStatus::Idle));
    assert_eq!(d.master.is_online(P1), Some(true));
}

#[test]
fn a_refused_preset_is_resent_then_fails_and_no_authorize_goes_out() {
    let mut d = drive(GilbarcoMasterSettings::default());
    d.online(0x71);
    let command = PumpCommand::Authorize(Authorization {
        preset: Some(Preset::Amount(Money::from_raw(2_000, 2))),
        nozzles: vec![],
    });
    d.master.submit(P1, command.clone()).expect("valid");
    for _ in 0..4 {
        assert_eq!(d.sent(), vec![0x21]);
        d.answer(&[vec![0xD1]]);
        let block = d.sent();
        assert_eq!(block[0], 0xFF);
        assert_eq!(d.sent(), vec![0x01], "the block's check");
        d.answer(&[vec![0x01]]);
    }
    // The fourth data error is taken at the check's deadline; the next write is a poll.
    assert_eq!(d.sent(), vec![0x01]);
    assert_eq!(d.master.stats().data_errors, 4);
    assert_eq!(failures(&d), vec![(command, CommandFailure::Rejected)]);
    d.answer(&[vec![0x71]]);
    for _ in 0..5 {
        assert_ne!(d.sent(), vec![0x11], "no authorize without its preset");
        d.answer(&[vec![0x71]]);
    }
}

#[test]
fn a_pump_not_ready_for_data_is_asked_again() {
    let mut d = drive(GilbarcoMasterSettings::default());
    d.online(0x61);
    let prices = PumpCommand::SetPrices(vec![(NozzleId(1), UnitPrice::from_raw(1_440, 2))]);
    d.master.submit(P1, prices).expect("valid");
    assert_eq!(d.sent(), vec![0x21]);
    d.answer(&[vec![0x71]]);
    assert_eq!(statuses(&d), vec![PumpStatus::Idle, PumpStatus::Calling]);
    assert_eq!(d.sent(), vec![0x21], "asked again on the next turn");
    d.answer(&[vec![0xD1]]);
    assert_eq!(d.sent()[..2], [0xFF, 0xE5]);
}

#[test]
fn variant_status_nibbles_only_when_tolerant() {
    let mut strict = drive(GilbarcoMasterSettings::default());
    assert_eq!(strict.sent(), vec![0x01]);
    strict.answer(&[vec![0xE1]]);
    assert_eq!(strict.master.stats().bad_answers, 1);
    assert!(statuses(&strict).is_empty());

    let mut tolerant = drive(GilbarcoMasterSettings {
        tolerant_status: true,
        ..GilbarcoMasterSettings::default()
    });
    for (byte, status) in [(0xE1, PumpStatus::Idle), (0xF1, PumpStatus::Stopped)] {
        assert_eq!(tolerant.sent(), vec![0x01]);
        tolerant.answer(&[vec![byte]]);
        assert_eq!(statuses(&tolerant).last(), Some(&status));
    }
}

#[test]
fn another_pumps_status_is_a_miss_and_a_late_answer_is_noise() {
    let mut d = drive(GilbarcoMasterSettings::default());
    d.online(0x71);
    assert_eq!(d.sent(), vec![0x01]);
    d.answer(&[vec![0x62]]);
    assert_eq!(d.master.stats().bad_answers, 1);
    // No answer in time; it comes while the line is quiet and is dropped as noise.
    assert_eq!(d.sent(), vec![0x01]);
    let deadline = d.master.poll_timeout().expect("an answer deadline");
    d.now = deadline;
    d.master.handle_timeout(d.now);
    d.answer(&[vec![0x61]]);
    assert_eq!(d.master.stats().noise_bytes, 1);
    assert_eq!(d.sent(), vec![0x01]);
    d.answer(&[vec![0x71]]);
    assert_eq!(
        statuses(&d),
        vec![PumpStatus::Calling],
        "the late idle never counted"
    );
}

#[test]
fn a_pump_still_waiting_for_data_at_the_check_gets_the_block_again() {
    let mut d = drive(GilbarcoMasterSettings::default());
    d.online(0x61);
    let prices = PumpCommand::SetPrices(vec![(NozzleId(1), UnitPrice::from_raw(1_440, 2))]);
    d.master.submit(P1, prices).expect("valid");
    assert_eq!(d.sent(), vec![0x21]);
    d.answer(&[vec![0xD1]]);
    let block = d.sent();
    assert_eq!(d.sent(), vec![0x01]);
    d.answer(&[vec![0xD1]]);
    assert_eq!(d.sent(), vec![0x21], "not taken: sent again");
    d.answer(&[vec![0xD1]]);
    assert_eq!(d.sent(), block);
    assert!(failures(&d).is_empty());
}
