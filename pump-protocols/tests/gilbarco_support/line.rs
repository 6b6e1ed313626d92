//! A Gilbarco master and a simulated loop talking in memory with a fake clock.
//!
//! [`Line`] is the shared drive loop ([`Bus`]) with this loop's [`Channel`]: bytes take
//! their time on the wire (5787 8E1) and arrive in pieces of at most [`CHUNK`] bytes, and
//! the harness can garble the next data block the master writes; the simulator's fault
//! switches spoil answers.

use std::fmt::Write as _;
use std::time::Instant;

use pump_protocols::gilbarco::{
    GilbarcoMaster, GilbarcoMasterSettings, GilbarcoPumpView, GilbarcoSimulator, SimPumpSetup,
    SimSettings,
};
use pump_protocols::{
    BusAddress, CompletedTransaction, LineSimulator, PumpEvent, PumpEventKind as E, PumpSetup,
    PumpStatus,
};

use super::bus::{last_events, Bus, Channel as BusChannel, InFlight};

/// Most bytes a read hands over at once.
pub const CHUNK: usize = 16;

/// One direction of the line.
#[derive(Debug)]
pub struct Channel {
    in_flight: InFlight,
    /// Wire times.
    wire: GilbarcoMasterSettings,
    /// Every write of the sender, with its time (before any garbling).
    pub written: Vec<(Instant, Vec<u8>)>,
    /// Garble this many of the next data blocks the sender writes (one word's digit).
    pub garble_blocks: u32,
}

impl Channel {
    fn new(now: Instant, wire: GilbarcoMasterSettings) -> Self {
        Self {
            in_flight: InFlight::new(now),
            wire,
            written: Vec::new(),
            garble_blocks: 0,
        }
    }
}

impl BusChannel for Channel {
    fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    fn in_flight_mut(&mut self) -> &mut InFlight {
        &mut self.in_flight
    }

    fn send(&mut self, mut bytes: Vec<u8>, now: Instant) {
        self.written.push((now, bytes.clone()));
        if bytes.len() > 4 && self.garble_blocks > 0 {
            self.garble_blocks -= 1;
            let i = bytes.len() - 4;
            bytes[i] ^= 0x01;
        }
        let mut at = self.in_flight.start(now);
        for chunk in bytes.chunks(CHUNK) {
            at += self.wire.wire_time(chunk.len());
            self.in_flight.push(at, chunk.to_vec());
        }
    }
}

/// A master and a loop of simulated pumps wired together.
pub type Line = Bus<GilbarcoMaster, GilbarcoSimulator, Channel>;

impl Line {
    pub fn new(
        master: GilbarcoMasterSettings,
        pumps: Vec<PumpSetup>,
        sim: SimSettings,
        sim_pumps: Vec<SimPumpSetup>,
    ) -> Self {
        let start = Instant::now();
        Bus::wire(
            GilbarcoMaster::new(master, pumps).expect("valid master setup"),
            GilbarcoSimulator::new(sim_pumps, sim).expect("valid simulator setup"),
            start,
            (Channel::new(start, master), Channel::new(start, master)),
            Line::report,
        )
    }

    /// A new master on the same loop, as after a daemon restart: what the old one had in
    /// flight is lost with it.
    pub fn restart_master(&mut self, pumps: Vec<PumpSetup>) {
        let settings = *self.master.settings();
        self.master = GilbarcoMaster::new(settings, pumps).expect("valid master setup");
        self.to_master.in_flight.clear();
    }

    pub fn view(&self, pump: BusAddress) -> GilbarcoPumpView {
        self.sim.pump(pump).expect("a simulated pump")
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
        out.push_str(&last_events(&self.events, self.start, 40));
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
