//! How the DART master shares a full line (docs/protocols/dart.md §4, §6.7): a pump with
//! work keeps the line for a bounded number of exchanges, so the figures of a finished
//! sale come within one cycle of the other pumps, and no pump waits more than
//! `(pumps - 1) × max_turn_exchanges` exchanges for its turn.
//!
//! 32 simulated pumps on one line, in memory, with a fake clock: the master's frames and
//! the pumps' answers take their wire time at 9600 8O1 and arrive in pieces. Everything is
//! counted in exchanges (frames the master starts an exchange with), never in time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use pump_protocols::dart::{
    decode_all, ControlKind, DartMaster, DartMasterSettings, DartSimulator, Decoded, Frame,
    SimPumpSetup, SimSettings,
};
use pump_protocols::{
    Authorization, BusAddress, Decimals, GradeId, LineMaster, LineSimulator, NozzleId, PumpCommand,
    PumpEvent, PumpEventKind, PumpSetup, PumpStatus, SimAction, UnitPrice,
};

/// A full line: every DART address.
const PUMPS: u8 = 32;
const N1: NozzleId = NozzleId(1);
/// Bound on the rounds of work at one instant before the harness calls it a livelock.
const MAX_ROUNDS_PER_INSTANT: usize = 1_000;

/// Most bytes a read hands over at once (a USB serial adapter's FIFO).
const CHUNK: usize = 16;

/// Puts `bytes` on the wire after whatever is still going out, in pieces of at most
/// [`CHUNK`] bytes, each arriving when its last byte has crossed.
trait Wire {
    fn transmit(&self, queue: &mut VecDeque<(Instant, Vec<u8>)>, bytes: Vec<u8>, now: Instant);
}

impl Wire for DartMasterSettings {
    fn transmit(&self, queue: &mut VecDeque<(Instant, Vec<u8>)>, bytes: Vec<u8>, now: Instant) {
        let mut at = queue.back().map_or(now, |(t, _)| now.max(*t));
        for piece in bytes.chunks(CHUNK) {
            at += self.wire_time(piece.len());
            queue.push_back((at, piece.to_vec()));
        }
    }
}

fn address(i: u8) -> BusAddress {
    BusAddress(0x50 + i)
}

/// The master and the pumps, wired together with a fake clock.
struct Bus {
    master: DartMaster,
    sim: DartSimulator,
    settings: DartMasterSettings,
    now: Instant,
    to_pumps: VecDeque<(Instant, Vec<u8>)>,
    to_master: VecDeque<(Instant, Vec<u8>)>,
    /// The address of every exchange the master started (a POLL or a command block), in
    /// order; its ACKs and NAKs end exchanges and are not listed.
    exchanges: Vec<BusAddress>,
    events: Vec<PumpEvent>,
}

impl Bus {
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
        Self {
            master: DartMaster::new(settings, setups.collect()).expect("valid master setup"),
            sim: DartSimulator::new(sims.collect(), sim_settings).expect("valid sim setup"),
            settings,
            now: Instant::now(),
            to_pumps: VecDeque::new(),
            to_master: VecDeque::new(),
            exchanges: Vec::new(),
            events: Vec::new(),
        }
    }

    fn arrived(queue: &mut VecDeque<(Instant, Vec<u8>)>, now: Instant) -> Option<Vec<u8>> {
        if queue.front()?.0 > now {
            return None;
        }
        queue.pop_front().map(|(_, bytes)| bytes)
    }

    /// Everything due at `now`: arrivals, deadlines, frames, events.
    fn settle(&mut self) {
        let now = self.now;
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            let mut moved = false;
            while let Some(bytes) = Self::arrived(&mut self.to_pumps, now) {
                self.sim.handle_input(&bytes, now);
                moved = true;
            }
            while let Some(bytes) = Self::arrived(&mut self.to_master, now) {
                self.master.handle_input(&bytes, now);
                moved = true;
            }
            if self.master.poll_timeout().is_some_and(|t| t <= now) {
                self.master.handle_timeout(now);
            }
            if self.sim.poll_timeout().is_some_and(|t| t <= now) {
                self.sim.handle_timeout(now);
            }
            while let Some(bytes) = self.master.poll_transmit(now) {
                if let [Decoded::Frame(frame)] = decode_all(&bytes).as_slice() {
                    match frame {
                        Frame::Data { address, .. }
                        | Frame::Control {
                            address,
                            kind: ControlKind::Poll,
                            ..
                        } => self.exchanges.push(*address),
                        Frame::Control { .. } => {}
                    }
                }
                self.settings.transmit(&mut self.to_pumps, bytes, now);
                moved = true;
            }
            while let Some(bytes) = self.sim.poll_transmit(now) {
                self.settings.transmit(&mut self.to_master, bytes, now);
                moved = true;
            }
            while let Some(event) = self.master.poll_event() {
                self.events.push(event);
            }
            if !moved {
                return;
            }
        }
        panic!("no rest after {MAX_ROUNDS_PER_INSTANT} rounds");
    }

    /// Moves the clock to the earliest thing due (never past `limit`) and handles it.
    fn step(&mut self, limit: Instant) {
        let next = [
            self.master.poll_timeout(),
            self.sim.poll_timeout(),
            self.to_pumps.front().map(|(at, _)| *at),
            self.to_master.front().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("a master always has its next poll due");
        self.now = next.max(self.now).min(limit);
        self.settle();
    }

    /// Runs until `cond(events)` holds; fails after `max` of simulated time.
    #[track_caller]
    fn run_until(&mut self, max: Duration, mut cond: impl FnMut(&[PumpEvent]) -> bool) {
        let limit = self.now + max;
        self.settle();
        while !cond(&self.events) {
            assert!(self.now < limit, "condition not met within {max:?}");
            self.step(limit);
        }
    }

    fn submit(&mut self, pump: BusAddress, command: PumpCommand) {
        self.master
            .submit(pump, command)
            .expect("a command the pump takes");
    }

    fn act(&mut self, pump: BusAddress, action: SimAction) {
        self.sim
            .act(pump, action, self.now)
            .expect("an action the pump takes");
    }

    /// Power-up to ready: the session finds every pump in FILLING COMPLETED, the daemon
    /// resets them all.
    fn ready(&mut self) {
        self.run_until(Duration::from_secs(30), |events| {
            (0..PUMPS).all(|i| status(events, address(i)) == Some(PumpStatus::Completed))
        });
        for i in 0..PUMPS {
            self.submit(address(i), PumpCommand::Reset);
        }
        self.run_until(Duration::from_secs(30), |events| {
            (0..PUMPS).all(|i| status(events, address(i)) == Some(PumpStatus::Idle))
        });
    }

    /// One dispatch on `pump`, up to the moment the nozzle goes back in its holster.
    fn fill_until_hang_up(&mut self, pump: BusAddress) {
        self.act(pump, SimAction::LiftNozzle(N1));
        self.run_until(Duration::from_secs(10), |e| {
            status(e, pump) == Some(PumpStatus::Calling)
        });
        self.submit(
            pump,
            PumpCommand::Authorize(Authorization {
                preset: None,
                nozzles: vec![],
            }),
        );
        self.run_until(Duration::from_secs(10), |e| {
            status(e, pump) == Some(PumpStatus::Filling)
        });
        self.act(pump, SimAction::HangNozzle);
    }

    /// Runs until `pump` reports a completed filling after `events[mark..]`; returns the
    /// exchanges the master started with other pumps meanwhile, from `exchanges[from..]`.
    fn other_exchanges_until_completion(
        &mut self,
        pump: BusAddress,
        mark: usize,
        from: usize,
    ) -> usize {
        self.run_until(Duration::from_secs(30), |events| {
            events[mark..]
                .iter()
                .any(|e| e.pump == pump && matches!(e.kind, PumpEventKind::TransactionCompleted(_)))
        });
        self.exchanges[from..]
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

/// The master with `max_turn_exchanges` set; the rest default.
fn settings(max_turn_exchanges: u32) -> DartMasterSettings {
    DartMasterSettings {
        max_turn_exchanges,
        ..DartMasterSettings::default()
    }
}

/// Exchanges with other pumps between the hang-up on one pump of a full line and the
/// master's report of that filling.
fn completion_delay(max_turn_exchanges: u32) -> usize {
    let mut bus = Bus::new(settings(max_turn_exchanges));
    bus.ready();
    let pump = address(PUMPS / 2);
    bus.fill_until_hang_up(pump);
    let (mark, from) = (bus.events.len(), bus.exchanges.len());
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
    let mut bus = Bus::new(settings(max));
    bus.ready();
    // One pump kept busy with a full queue of totals requests (block, ACK, then DC101
    // answers: work for many exchanges) while another finishes a sale.
    let busy = address(3);
    for _ in 0..DartMasterSettings::default().max_queue {
        bus.submit(busy, PumpCommand::ReadTotals(N1));
    }
    let pump = address(PUMPS / 2);
    bus.fill_until_hang_up(pump);
    let (mark, from) = (bus.events.len(), bus.exchanges.len());
    let delay = bus.other_exchanges_until_completion(pump, mark, from);
    let bound = usize::from(PUMPS - 1) * max as usize;
    assert!(
        delay <= bound,
        "{delay} exchanges before the figures, bound {bound}"
    );
    bus.run_until(Duration::from_secs(60), |events| {
        events
            .iter()
            .filter(|e| e.pump == busy && matches!(e.kind, PumpEventKind::Totals(_)))
            .count()
            == DartMasterSettings::default().max_queue
    });

    // Turns: runs of consecutive exchanges with one pump.
    let mut turns: Vec<(BusAddress, usize)> = Vec::new();
    for &a in &bus.exchanges {
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
