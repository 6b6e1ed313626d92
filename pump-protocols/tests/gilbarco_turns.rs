//! How the Gilbarco master shares a full loop (docs/protocols/gilbarco.md §2, §4): a
//! pump whose poll finds the end of a sale is read in the same turn, so the figures come
//! within one cycle of the other pumps instead of two; busy pumps get an extra turn after
//! every `busy_turn_every` ordinary ones, so an end of sale is seen within that many turns
//! of the others plus one, while no pump is starved.
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

/// The daemon authorizes `pump` with no preset.
fn authorize(line: &mut Line, pump: BusAddress) {
    line.submit(
        pump,
        PumpCommand::Authorize(Authorization {
            preset: None,
            nozzles: vec![],
        }),
    );
}

fn full_loop(master: GilbarcoMasterSettings) -> Line {
    let decimals = Decimals::default();
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

/// The master with `max_turn_exchanges` set and no extra turns for busy pumps; the rest
/// default.
fn settings(max_turn_exchanges: u32) -> GilbarcoMasterSettings {
    GilbarcoMasterSettings {
        max_turn_exchanges,
        busy_turn_every: 0,
        ..GilbarcoMasterSettings::default()
    }
}

/// The default master with extra turns after every `busy_turn_every` ordinary turns.
fn busy_settings(busy_turn_every: u32) -> GilbarcoMasterSettings {
    GilbarcoMasterSettings {
        busy_turn_every,
        ..GilbarcoMasterSettings::default()
    }
}

/// Exchanges with other pumps between the hang-up on one pump of a full loop, just after
/// that pump's turn, and the master's report of its sale.
fn completion_delay(max_turn_exchanges: u32) -> usize {
    let pump = BusAddress(PUMPS / 2);
    let commands = commands_before_the_sale(pump, settings(max_turn_exchanges));
    commands.iter().filter(|&&a| a != pump).count()
}

/// Turns of other pumps (runs of their commands) between the hang-up on one pump of a
/// full loop, just after that pump's turn, and the master's report of its sale.
fn turns_before_the_sale(master: GilbarcoMasterSettings) -> usize {
    let pump = BusAddress(PUMPS / 2);
    let mut turns = commands_before_the_sale(pump, master);
    turns.dedup();
    turns.iter().filter(|&&a| a != pump).count()
}

/// The pump of every command byte the master wrote between the hang-up on `pump` of a
/// full loop, just after that pump's turn, and the master's report of its sale.
fn commands_before_the_sale(pump: BusAddress, master: GilbarcoMasterSettings) -> Vec<BusAddress> {
    let mut line = full_loop(master);
    line.act(pump, SimAction::LiftNozzle(N1));
    authorize(&mut line, pump);
    line.run_until(secs(10), reports(pump, PumpStatus::Filling));
    // Hang up once the pump's turn has just passed: the whole cycle of the others comes
    // before its next turn, whatever the scheduling.
    let commands = |line: &Line| -> Vec<BusAddress> {
        line.to_pumps
            .written
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
    commands(&line)[from..].to_vec()
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

#[test]
fn a_busy_pump_among_idle_ones_sees_its_end_of_sale_within_k_plus_1_turns() {
    for k in [1, 2, GilbarcoMasterSettings::default().busy_turn_every] {
        let others = turns_before_the_sale(busy_settings(k));
        assert!(
            others <= k as usize,
            "K = {k}: {others} turns of other pumps before the sale"
        );
    }
}

#[test]
fn k_zero_sees_an_end_of_sale_after_the_pumps_turn_a_whole_cycle_later() {
    // The first turn after the pump's is already under way when it hangs up.
    let others = turns_before_the_sale(busy_settings(0));
    assert!(
        others >= usize::from(PUMPS - 2),
        "{others} turns of other pumps before the sale, expected the whole cycle"
    );
}

#[test]
fn with_every_pump_busy_none_is_starved() {
    let k = GilbarcoMasterSettings::default().busy_turn_every;
    let mut line = full_loop(busy_settings(k));
    for n in 1..=PUMPS {
        let pump = BusAddress(n);
        line.act(pump, SimAction::LiftNozzle(N1));
        authorize(&mut line, pump);
    }
    line.run_until(secs(20), |events, _| {
        (1..=PUMPS).all(|n| last_status(events, BusAddress(n)) == Some(PumpStatus::Filling))
    });
    let from = line.to_pumps.written.len();
    line.run_for(secs(10));
    let mut turns: Vec<BusAddress> = line.to_pumps.written[from..]
        .iter()
        .filter(|(_, bytes)| bytes.len() == 1)
        .map(|(_, bytes)| pump_of(bytes[0]))
        .collect();
    turns.dedup();
    let bound = (usize::from(PUMPS) * (k as usize + 1)).div_ceil(k as usize);
    for n in 1..=PUMPS {
        let at: Vec<usize> = (0..turns.len())
            .filter(|&i| turns[i] == BusAddress(n))
            .collect();
        assert!(at.len() > 2, "pump {n} served {} times", at.len());
        for w in at.windows(2) {
            assert!(
                w[1] - w[0] <= bound,
                "pump {n} waited {} turns",
                w[1] - w[0]
            );
        }
    }
}
