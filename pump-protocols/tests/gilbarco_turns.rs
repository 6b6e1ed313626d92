//! How the Gilbarco master shares a full loop (docs/protocols/gilbarco.md §2, §4): a
//! pump whose poll finds the end of a sale is read in the same turn, so the figures come
//! within one cycle of the other pumps instead of two.
//!
//! 16 simulated pumps on one loop, in memory, with a fake clock (the shared [`Line`]
//! harness). Everything is counted in exchanges (command bytes the master writes), never
//! in time.

mod gilbarco_support;

use std::time::Duration;

use gilbarco_support::line::{completed, last_status, reports, Line};
use pump_protocols::gilbarco::{GilbarcoMasterSettings, SimPumpSetup, SimSettings};
use pump_protocols::{
    Authorization, BusAddress, Decimals, GradeId, NozzleId, PumpCommand, PumpSetup, PumpStatus,
    SimAction, UnitPrice,
};

/// A full loop: pumps 1..=16.
const PUMPS: u8 = 16;
const N1: NozzleId = NozzleId(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The pump a command byte goes to: its low nibble, 0 for pump 16.
fn pump_of(byte: u8) -> BusAddress {
    match byte & 0x0F {
        0 => BusAddress(16),
        n => BusAddress(n),
    }
}

fn full_loop(max_turn_exchanges: u32) -> Line {
    let decimals = Decimals::default();
    let master = GilbarcoMasterSettings {
        max_turn_exchanges,
        ..GilbarcoMasterSettings::default()
    };
    let setups = (1..=PUMPS)
        .map(|n| PumpSetup {
            address: BusAddress(n),
            decimals,
            nozzles: vec![(N1, GradeId(95))],
        })
        .collect();
    let sims = (1..=PUMPS)
        .map(|n| {
            let price = UnitPrice::from_raw(1_645, decimals.price);
            SimPumpSetup::new(BusAddress(n), decimals, vec![(N1, price)])
        })
        .collect();
    let mut line = Line::new(master, setups, SimSettings::default(), sims);
    line.run_until(secs(10), |events, _| {
        (1..=PUMPS).all(|n| last_status(events, BusAddress(n)) == Some(PumpStatus::Idle))
    });
    line
}

/// Exchanges with other pumps between the hang-up on one pump of a full loop, just after
/// that pump's turn, and the master's report of its sale.
fn completion_delay(max_turn_exchanges: u32) -> usize {
    let mut line = full_loop(max_turn_exchanges);
    let pump = BusAddress(PUMPS / 2);
    line.act(pump, SimAction::LiftNozzle(N1));
    line.submit(
        pump,
        PumpCommand::Authorize(Authorization {
            preset: None,
            nozzles: vec![],
        }),
    );
    line.run_until(secs(10), reports(pump, PumpStatus::Filling));
    // Hang up once the pump's turn has just passed: the whole cycle of the others comes
    // before its next turn, whatever the scheduling.
    let commands = |line: &Line| -> Vec<BusAddress> {
        line.written
            .iter()
            .filter(|(_, bytes)| bytes.len() == 1)
            .map(|(_, bytes)| pump_of(bytes[0]))
            .collect()
    };
    while !matches!(commands(&line).as_slice(), [.., a, b] if *a == pump && *b != pump) {
        line.run_for(Duration::from_millis(1));
    }
    let from = commands(&line).len();
    line.act(pump, SimAction::HangNozzle);
    line.run_until(secs(10), completed(pump, 1));
    commands(&line)[from..]
        .iter()
        .filter(|&&a| a != pump)
        .count()
}

#[test]
fn the_sale_found_by_a_poll_is_read_in_the_same_turn() {
    let others = usize::from(PUMPS - 1);
    let delay = completion_delay(GilbarcoMasterSettings::default().max_turn_exchanges);
    assert!(
        delay <= others,
        "{delay} exchanges with other pumps before the sale (one cycle is {others})"
    );
}

#[test]
fn one_exchange_a_turn_reads_the_sale_a_cycle_later() {
    // The plain round robin: the poll that finds the end of the sale and its read each
    // wait for the pump's turn. This is what the turn above saves.
    let others = usize::from(PUMPS - 1);
    let delay = completion_delay(1);
    assert!(
        delay > others,
        "{delay} exchanges with other pumps, expected more than one cycle ({others})"
    );
}

/// Regression, "a busy pump on a full loop is only ever read for money": with 16 pumps a
/// cycle (~540 ms) is longer than the money interval (500 ms), so every turn of a busy
/// pump was a real-time money read, its status was never polled again and the end of the
/// sale was never seen. Now a money read is followed by a status poll, in the same turn
/// or, with one exchange a turn, in the next.
#[test]
fn regression_a_busy_pump_on_a_full_loop_is_only_ever_read_for_money() {
    for max_turn_exchanges in [1, GilbarcoMasterSettings::default().max_turn_exchanges] {
        // Panics when the sale is not reported within 10 s of the hang-up.
        completion_delay(max_turn_exchanges);
    }
}
