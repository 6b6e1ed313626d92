//! How the DART master shares a full line (docs/protocols/dart.md §4, §6.7): a pump with
//! work keeps the line for a bounded number of exchanges, so the figures of a finished
//! sale come within one cycle of the other pumps, and no pump waits more than
//! `(pumps - 1) × max_turn_exchanges` exchanges for its turn. Busy pumps get an extra
//! turn after every `busy_turn_every` ordinary ones, so a hang-up is heard within that
//! many turns of the others plus one, while no idle pump is starved.
//!
//! 32 simulated pumps on one line, in memory, with a fake clock: the master's frames and
//! the pumps' answers take their wire time at 9600 8O1 and arrive in pieces. Everything is
//! counted in exchanges (frames the master starts an exchange with), never in time.

mod support;

use std::time::{Duration, Instant};

use pump_protocols::dart::{
    ControlKind, DartMaster, DartMasterSettings, DartSimulator, Frame, SimPumpSetup, SimSettings,
};
use pump_protocols::{
    Authorization, BusAddress, Decimals, GradeId, NozzleId, PumpCommand, PumpEvent, PumpEventKind,
    PumpSetup, PumpStatus, SimAction, UnitPrice,
};
use support::bus::{last_events, Bus};
use support::dart::{channels, DartLine};

/// A full line: every DART address.
const PUMPS: u8 = 32;
const N1: NozzleId = NozzleId(1);

fn address(i: u8) -> BusAddress {
    BusAddress(0x50 + i)
}

/// The master and the pumps of a full line, wired together with a fake clock.
type Line = DartLine;

impl Line {
    fn new(settings: DartMasterSettings) -> Self {
        let decimals = Decimals::default();
        let setups = (0..PUMPS).map(|i| PumpSetup {
            address: address(i),
            decimals,
            nozzles: vec![(N1, GradeId(95))],
        });
        let sims = (0..PUMPS).map(|i| {
            SimPumpSetup::new(
                address(i),
                decimals,
                vec![(N1, UnitPrice::from_raw(1_645, decimals.price))],
            )
        });
        let sim_settings = SimSettings {
            start_programmed: true,
            ..SimSettings::default()
        };
        let start = Instant::now();
        Bus::wire(
            DartMaster::new(settings, setups.collect()).expect("valid master setup"),
            DartSimulator::new(sims.collect(), sim_settings).expect("valid sim setup"),
            start,
            channels(start, settings),
            |line| last_events(&line.events, line.start, 40),
        )
    }

    /// The address of every exchange the master started (a POLL or a command block), in
    /// order; its ACKs and NAKs end exchanges and are not listed.
    fn exchanges(&self) -> Vec<BusAddress> {
        self.to_pumps
            .frames
            .iter()
            .filter_map(|(_, frame)| match frame {
                Frame::Data { address, .. }
                | Frame::Control {
                    address,
                    kind: ControlKind::Poll,
                    ..
                } => Some(*address),
                Frame::Control { .. } => None,
            })
            .collect()
    }

    /// The address and TX# of every data block the master sent, in order.
    fn blocks(&self) -> Vec<(BusAddress, u8)> {
        self.to_pumps
            .frames
            .iter()
            .filter_map(|(_, frame)| match frame {
                Frame::Data { address, tx, .. } => Some((*address, *tx)),
                Frame::Control { .. } => None,
            })
            .collect()
    }

    /// Power-up to ready: the session finds every pump in FILLING COMPLETED, the daemon
    /// resets them all.
    fn ready(&mut self) {
        self.run_until(Duration::from_secs(30), |events, _| {
            (0..PUMPS).all(|i| status(events, address(i)) == Some(PumpStatus::Completed))
        });
        for i in 0..PUMPS {
            self.submit(address(i), PumpCommand::Reset);
        }
        self.run_until(Duration::from_secs(30), |events, _| {
            (0..PUMPS).all(|i| status(events, address(i)) == Some(PumpStatus::Idle))
        });
    }

    /// One dispatch on `pump`, up to the moment the nozzle goes back in its holster.
    fn fill_until_hang_up(&mut self, pump: BusAddress) {
        self.start_filling(pump);
        self.act(pump, SimAction::HangNozzle);
    }

    /// Runs until the master's last exchange was the end of `pump`'s turn (the one
    /// before was with `pump`, the last with another): a hang-up now waits for the
    /// pump's next turn, whatever the scheduling.
    fn until_turn_passed(&mut self, pump: BusAddress) {
        let limit = self.now + Duration::from_secs(30);
        while !matches!(self.exchanges().as_slice(), [.., a, b] if *a == pump && *b != pump) {
            assert!(self.now < limit, "{pump} never had a turn");
            self.step(limit);
        }
    }

    /// Lifts `pump`'s nozzle and authorizes it, until the master reports it filling.
    fn start_filling(&mut self, pump: BusAddress) {
        self.act(pump, SimAction::LiftNozzle(N1));
        self.run_until(Duration::from_secs(10), |e, _| {
            status(e, pump) == Some(PumpStatus::Calling)
        });
        self.submit(
            pump,
            PumpCommand::Authorize(Authorization {
                preset: None,
                nozzles: vec![],
            }),
        );
        self.run_until(Duration::from_secs(10), |e, _| {
            status(e, pump) == Some(PumpStatus::Filling)
        });
    }

    /// Runs until `pump` reports a completed filling after `events[mark..]`; returns the
    /// exchanges the master started with other pumps meanwhile, from `exchanges[from..]`.
    fn other_exchanges_until_completion(
        &mut self,
        pump: BusAddress,
        mark: usize,
        from: usize,
    ) -> usize {
        self.run_until(Duration::from_secs(30), |events, _| {
            events[mark..]
                .iter()
                .any(|e| e.pump == pump && matches!(e.kind, PumpEventKind::TransactionCompleted(_)))
        });
        self.exchanges()[from..]
            .iter()
            .filter(|&&a| a != pump)
            .count()
    }
}

fn status(events: &[PumpEvent], pump: BusAddress) -> Option<PumpStatus> {
    events.iter().rev().find_map(|e| match e.kind {
        PumpEventKind::StatusChanged(s) if e.pump == pump => Some(s),
        _ => None,
    })
}

/// The master with `max_turn_exchanges` set and no extra turns for busy pumps (the
/// plain round robin those tests are about); the rest default.
fn settings(max_turn_exchanges: u32) -> DartMasterSettings {
    DartMasterSettings {
        max_turn_exchanges,
        busy_turn_every: 0,
        ..DartMasterSettings::default()
    }
}

/// The default master with extra turns after every `busy_turn_every` ordinary turns.
fn busy_settings(busy_turn_every: u32) -> DartMasterSettings {
    DartMasterSettings {
        busy_turn_every,
        ..DartMasterSettings::default()
    }
}

/// Turns: runs of consecutive exchanges with one pump.
fn turns_of(exchanges: &[BusAddress]) -> Vec<(BusAddress, usize)> {
    let mut turns: Vec<(BusAddress, usize)> = Vec::new();
    for &a in exchanges {
        match turns.last_mut() {
            Some((last, n)) if *last == a => *n += 1,
            _ => turns.push((a, 1)),
        }
    }
    turns
}

/// Turns of other pumps between the hang-up on one pump of a full line, just after that
/// pump's turn, and the master's report of its sale.
fn turns_before_the_sale(settings: DartMasterSettings) -> usize {
    let mut bus = Line::new(settings);
    bus.ready();
    let pump = address(PUMPS / 2);
    bus.start_filling(pump);
    bus.until_turn_passed(pump);
    let (mark, from) = (bus.events.len(), bus.exchanges().len());
    bus.act(pump, SimAction::HangNozzle);
    bus.other_exchanges_until_completion(pump, mark, from);
    turns_of(&bus.exchanges()[from..])
        .iter()
        .filter(|&&(a, _)| a != pump)
        .count()
}

/// The most turns any pump in `pumps` waited between two of its own turns (and before
/// its first) in `exchanges`.
fn longest_wait(exchanges: &[BusAddress], pumps: impl Iterator<Item = BusAddress>) -> usize {
    let turns = turns_of(exchanges);
    pumps
        .map(|a| {
            let mut waited = 0;
            let mut longest = 0;
            for &(t, _) in &turns {
                if t == a {
                    waited = 0;
                } else {
                    waited += 1;
                    longest = longest.max(waited);
                }
            }
            longest
        })
        .max()
        .unwrap_or(0)
}

/// Exchanges with other pumps between the hang-up on one pump of a full line and the
/// master's report of that filling.
fn completion_delay(max_turn_exchanges: u32) -> usize {
    let mut bus = Line::new(settings(max_turn_exchanges));
    bus.ready();
    let pump = address(PUMPS / 2);
    bus.fill_until_hang_up(pump);
    let (mark, from) = (bus.events.len(), bus.exchanges().len());
    bus.other_exchanges_until_completion(pump, mark, from)
}

#[test]
fn figures_of_a_finished_sale_come_within_one_cycle_of_the_other_pumps() {
    let others = usize::from(PUMPS - 1);
    let delay = completion_delay(DartMasterSettings::default().max_turn_exchanges);
    assert!(
        delay <= others,
        "{delay} exchanges with other pumps before the figures (one cycle is {others})"
    );
}

#[test]
fn one_exchange_a_turn_takes_cycles_for_the_figures_of_a_finished_sale() {
    // The plain round robin: FILLING COMPLETED, the request and its answer each wait for
    // the pump's next turn. This is what the turn bound above saves.
    let others = usize::from(PUMPS - 1);
    let delay = completion_delay(1);
    assert!(
        delay > 2 * others,
        "{delay} exchanges with other pumps, expected more than two cycles ({others} each)"
    );
}

#[test]
fn a_pump_with_work_keeps_the_line_for_at_most_its_turn() {
    let max = DartMasterSettings::default().max_turn_exchanges;
    let mut bus = Line::new(settings(max));
    bus.ready();
    // One pump kept busy with a full queue of totals requests (block, ACK, then DC101
    // answers: work for many exchanges) while another finishes a sale.
    let busy = address(3);
    for _ in 0..DartMasterSettings::default().max_queue {
        bus.submit(busy, PumpCommand::ReadTotals(N1));
    }
    let pump = address(PUMPS / 2);
    bus.fill_until_hang_up(pump);
    let (mark, from) = (bus.events.len(), bus.exchanges().len());
    let delay = bus.other_exchanges_until_completion(pump, mark, from);
    let bound = usize::from(PUMPS - 1) * max as usize;
    assert!(
        delay <= bound,
        "{delay} exchanges before the figures, bound {bound}"
    );
    bus.run_until(Duration::from_secs(60), |events, _| {
        events
            .iter()
            .filter(|e| e.pump == busy && matches!(e.kind, PumpEventKind::Totals(_)))
            .count()
            == DartMasterSettings::default().max_queue
    });

    // Turns: runs of consecutive exchanges with one pump.
    let mut turns: Vec<(BusAddress, usize)> = Vec::new();
    for &a in &bus.exchanges() {
        match turns.last_mut() {
            Some((last, n)) if *last == a => *n += 1,
            _ => turns.push((a, 1)),
        }
    }
    let longest = turns.iter().map(|&(_, n)| n).max().unwrap_or(0);
    assert!(longest <= max as usize, "a turn of {longest} exchanges");
    assert!(
        turns.iter().any(|&(a, n)| a == busy && n > 1),
        "the busy pump was never served twice in a turn"
    );
    // Between two turns of a pump, every other pump has at most one turn.
    for i in 0..PUMPS {
        let a = address(i);
        let mut since: Option<usize> = None;
        for &(t, n) in &turns {
            if t == a {
                if let Some(others) = since {
                    assert!(
                        others <= bound,
                        "pump {a} waited {others} exchanges, bound {bound}"
                    );
                }
                since = Some(0);
            } else if let Some(others) = &mut since {
                *others += n;
            }
        }
    }
}

#[test]
fn a_filling_pump_among_idle_ones_hears_its_hang_up_within_k_plus_1_turns() {
    for k in [1, 2, DartMasterSettings::default().busy_turn_every] {
        let others = turns_before_the_sale(busy_settings(k));
        assert!(
            others <= k as usize,
            "K = {k}: {others} turns of other pumps before the sale"
        );
    }
}

#[test]
fn k_zero_hears_a_hang_up_after_the_pumps_turn_a_whole_cycle_later() {
    // The first turn after the pump's is already under way when it hangs up.
    let others = turns_before_the_sale(busy_settings(0));
    assert!(
        others >= usize::from(PUMPS - 2),
        "{others} turns of other pumps before the sale, expected the whole cycle"
    );
}

/// The exchanges of 10 s on a full line with the pumps `filling` authorized and
/// filling (the simulator fills for longer than that), and the blocks the master sent.
fn line_with_filling(k: u32, filling: &[u8]) -> (Vec<BusAddress>, Vec<(BusAddress, u8)>) {
    let mut bus = Line::new(busy_settings(k));
    bus.ready();
    for &i in filling {
        bus.start_filling(address(i));
    }
    let (from, blocks) = (bus.exchanges().len(), bus.blocks().len());
    bus.run_for(Duration::from_secs(10));
    for &i in filling {
        assert_eq!(
            status(&bus.events, address(i)),
            Some(PumpStatus::Filling),
            "pump {i} still filling at the end"
        );
    }
    (
        bus.exchanges()[from..].to_vec(),
        bus.blocks()[blocks..].to_vec(),
    )
}

/// The bound on any pump's wait, in turns, with extra turns after every `k`: its own
/// cycle of `PUMPS` ordinary turns, stretched by one extra turn every `k`.
fn stretched_cycle(k: u32) -> usize {
    (usize::from(PUMPS) * (k as usize + 1)).div_ceil(k as usize)
}

#[test]
fn idle_pumps_are_not_starved_while_others_fill() {
    let k = DartMasterSettings::default().busy_turn_every;
    let filling = [3, 9, 20, 31];
    let (exchanges, _) = line_with_filling(k, &filling);
    let idle = (0..PUMPS).filter(|i| !filling.contains(i)).map(address);
    let waited = longest_wait(&exchanges, idle);
    assert!(
        waited < stretched_cycle(k),
        "an idle pump waited {waited} turns, bound {}",
        stretched_cycle(k)
    );
    // The busy pumps took turns at the extra turns: each waited at most one extra turn
    // of each, and `k` ordinary turns before each, instead of a cycle.
    let busy = longest_wait(&exchanges, filling.iter().copied().map(address));
    let bound = filling.len() * (k as usize + 1);
    assert!(
        busy <= bound,
        "a filling pump waited {busy} turns, bound {bound}"
    );
}

#[test]
fn with_every_pump_filling_none_is_starved_and_no_block_is_sent_twice() {
    let k = DartMasterSettings::default().busy_turn_every;
    let all: Vec<u8> = (0..PUMPS).collect();
    let (exchanges, blocks) = line_with_filling(k, &all);
    let waited = longest_wait(&exchanges, (0..PUMPS).map(address));
    assert!(
        waited < stretched_cycle(k),
        "a pump waited {waited} turns, bound {}",
        stretched_cycle(k)
    );
    // A strict pump takes a block with the TX# of the one before for a resend (§3.4):
    // extra turns must never send one.
    for i in 0..PUMPS {
        let txs: Vec<u8> = blocks
            .iter()
            .filter(|(a, _)| *a == address(i))
            .map(|&(_, tx)| tx)
            .collect();
        assert!(
            txs.windows(2).all(|w| w[0] != w[1]),
            "pump {i}: TX#s {txs:?}"
        );
    }
}
