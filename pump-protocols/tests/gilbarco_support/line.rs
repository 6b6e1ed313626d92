//! A Gilbarco master and a simulated loop talking in memory with a fake clock.
//!
//! [`Line`] drives a [`GilbarcoMaster`] and a [`GilbarcoSimulator`] only through the
//! [`LineMaster`] and [`LineSimulator`] traits: one base `Instant`, moved by hand to the
//! earliest deadline of either side or of a byte in flight. Bytes take their time on the
//! wire (5787 8E1) and arrive in pieces of at most [`CHUNK`] bytes. The harness can garble
//! the next data block the master writes; the simulator's fault switches spoil answers.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use pump_protocols::gilbarco::{
    GilbarcoMaster, GilbarcoMasterSettings, GilbarcoPumpView, GilbarcoSimulator, SimPumpSetup,
    SimSettings,
};
use pump_protocols::{
    BusAddress, CompletedTransaction, LineMaster, LineSimulator, PumpCommand, PumpEvent,
    PumpEventKind as E, PumpSetup, PumpStatus, SimAction,
};

/// Most bytes a read hands over at once.
pub const CHUNK: usize = 16;
const MAX_ROUNDS_PER_INSTANT: usize = 1_000;

/// One direction of the line.
#[derive(Debug)]
struct Channel {
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    free_at: Instant,
}

impl Channel {
    fn new(now: Instant) -> Self {
        Self {
            in_flight: VecDeque::new(),
            free_at: now,
        }
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.front().map(|(at, _)| *at)
    }

    fn arrived(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_arrival()? > now {
            return None;
        }
        self.in_flight.pop_front().map(|(_, bytes)| bytes)
    }

    fn transmit(&mut self, bytes: &[u8], now: Instant, wire: &GilbarcoMasterSettings) {
        let mut at = now.max(self.free_at);
        for chunk in bytes.chunks(CHUNK) {
            at += wire.wire_time(chunk.len());
            self.in_flight.push_back((at, chunk.to_vec()));
        }
        self.free_at = at;
    }
}

/// A master and a loop of simulated pumps wired together.
pub struct Line {
    pub master: GilbarcoMaster,
    pub sim: GilbarcoSimulator,
    pub start: Instant,
    pub now: Instant,
    wire: GilbarcoMasterSettings,
    to_pumps: Channel,
    to_master: Channel,
    /// Every event of every master this line had, in order.
    pub events: Vec<PumpEvent>,
    /// Garble this many of the next data blocks the master writes (one word's digit).
    pub garble_blocks: u32,
    /// Every write of the master, with its time.
    pub written: Vec<(Instant, Vec<u8>)>,
}

impl Line {
    pub fn new(
        master: GilbarcoMasterSettings,
        pumps: Vec<PumpSetup>,
        sim: SimSettings,
        sim_pumps: Vec<SimPumpSetup>,
    ) -> Self {
        let start = Instant::now();
        Self {
            master: GilbarcoMaster::new(master, pumps).expect("valid master setup"),
            sim: GilbarcoSimulator::new(sim_pumps, sim).expect("valid simulator setup"),
            start,
            now: start,
            wire: master,
            to_pumps: Channel::new(start),
            to_master: Channel::new(start),
            events: Vec::new(),
            garble_blocks: 0,
            written: Vec::new(),
        }
    }

    /// A new master on the same loop, as after a daemon restart: what the old one had in
    /// flight is lost with it.
    pub fn restart_master(&mut self, pumps: Vec<PumpSetup>) {
        self.master = GilbarcoMaster::new(self.wire, pumps).expect("valid master setup");
        self.to_master.in_flight.clear();
    }

    pub fn view(&self, pump: BusAddress) -> GilbarcoPumpView {
        self.sim.pump(pump).expect("a simulated pump")
    }

    pub fn submit(&mut self, pump: BusAddress, command: PumpCommand) {
        if let Err(e) = self.master.submit(pump, command.clone()) {
            panic!("{command:?} for {pump} refused: {e}");
        }
    }

    pub fn act(&mut self, pump: BusAddress, action: SimAction) {
        if let Err(e) = self.sim.act(pump, action.clone(), self.now) {
            panic!("{action:?} on {pump} refused: {e}");
        }
    }

    fn settle(&mut self) {
        let now = self.now;
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            let mut moved = false;
            while let Some(bytes) = self.to_pumps.arrived(now) {
                self.sim.handle_input(&bytes, now);
                moved = true;
            }
            while let Some(bytes) = self.to_master.arrived(now) {
                self.master.handle_input(&bytes, now);
                moved = true;
            }
            if self.master.poll_timeout().is_some_and(|t| t <= now) {
                self.master.handle_timeout(now);
            }
            if self.sim.poll_timeout().is_some_and(|t| t <= now) {
                self.sim.handle_timeout(now);
            }
            while let Some(mut bytes) = self.master.poll_transmit(now) {
                self.written.push((now, bytes.clone()));
                if bytes.len() > 4 && self.garble_blocks > 0 {
                    self.garble_blocks -= 1;
                    let i = bytes.len() - 4;
                    bytes[i] ^= 0x01;
                }
                self.to_pumps.transmit(&bytes, now, &self.wire);
                moved = true;
            }
            while let Some(bytes) = self.sim.poll_transmit(now) {
                self.to_master.transmit(&bytes, now, &self.wire);
                moved = true;
            }
            while let Some(event) = self.master.poll_event() {
                self.events.push(event);
            }
            if !moved {
                return;
            }
        }
        panic!("no rest at {:?}\n{}", self.now - self.start, self.report());
    }

    fn step(&mut self, limit: Instant) {
        let next = [
            self.master.poll_timeout(),
            self.sim.poll_timeout(),
            self.to_pumps.next_arrival(),
            self.to_master.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("a master always has its next poll due");
        let next = next.max(self.now + Duration::from_micros(1));
        self.now = next.min(limit);
        self.settle();
    }

    /// Runs until `cond(events, sim)` holds; fails after `max` of simulated time.
    #[track_caller]
    pub fn run_until(
        &mut self,
        max: Duration,
        mut cond: impl FnMut(&[PumpEvent], &GilbarcoSimulator) -> bool,
    ) -> Duration {
        let began = self.now;
        let limit = began + max;
        self.settle();
        loop {
            if cond(&self.events, &self.sim) {
                return self.now - began;
            }
            if self.now >= limit {
                panic!(
                    "condition not met within {max:?} (at {:?})\n{}",
                    self.now - self.start,
                    self.report()
                );
            }
            self.step(limit);
        }
    }

    pub fn run_for(&mut self, span: Duration) {
        let limit = self.now + span;
        self.settle();
        while self.now < limit {
            self.step(limit);
        }
    }

    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "master stats: {:?}", self.master.stats());
        for v in self.sim.view() {
            let g = self.view(v.address);
            let _ = writeln!(
                out,
                "pump {}: master says {:?} (online {:?}, queued {:?}); sim {:?} nozzle {:?} \
                 sale {:?} preset {:?}",
                v.address,
                self.master.status(v.address),
                self.master.is_online(v.address),
                self.master.queued(v.address),
                g.state,
                g.nozzle_out,
                g.sale,
                g.preset,
            );
        }
        let skip = self.events.len().saturating_sub(40);
        for e in &self.events[skip..] {
            let _ = writeln!(out, "  {:>12?} {} {:?}", e.at - self.start, e.pump, e.kind);
        }
        out
    }
}

pub fn of(events: &[PumpEvent], pump: BusAddress) -> impl Iterator<Item = &E> {
    events
        .iter()
        .filter(move |e| e.pump == pump)
        .map(|e| &e.kind)
}

pub fn last_status(events: &[PumpEvent], pump: BusAddress) -> Option<PumpStatus> {
    of(events, pump)
        .filter_map(|k| match k {
            E::StatusChanged(s) => Some(*s),
            _ => None,
        })
        .last()
}

pub fn completions(events: &[PumpEvent], pump: BusAddress) -> Vec<CompletedTransaction> {
    of(events, pump)
        .filter_map(|k| match k {
            E::TransactionCompleted(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Run condition: the master last reported `status` for `pump`.
pub fn reports(
    pump: BusAddress,
    status: PumpStatus,
) -> impl FnMut(&[PumpEvent], &GilbarcoSimulator) -> bool {
    move |events, _| last_status(events, pump) == Some(status)
}

/// Run condition: at least `n` completions for `pump`.
pub fn completed(
    pump: BusAddress,
    n: usize,
) -> impl FnMut(&[PumpEvent], &GilbarcoSimulator) -> bool {
    move |events, _| completions(events, pump).len() >= n
}
