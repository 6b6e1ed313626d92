//! The drive loop of every master-against-simulator test: a [`LineMaster`] and a
//! [`LineSimulator`] wired together in memory with a fake clock.
//!
//! One base `Instant`, moved by hand to the earliest deadline of either side or of a byte
//! in flight; at each instant everything due is handled until nothing moves. How bytes
//! cross the wire (their time, their pieces, any harm done to them, what is recorded of
//! them) is the [`Channel`]'s, one per direction, so each protocol's tests bring theirs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use pump_protocols::{BusAddress, LineMaster, LineSimulator, PumpCommand, PumpEvent, SimAction};

/// Bound on the rounds of work at one instant before the harness calls it a livelock.
pub const MAX_ROUNDS_PER_INSTANT: usize = 1_000;

/// One direction of the line.
pub trait Channel {
    /// The bytes in flight this way.
    fn in_flight(&self) -> &InFlight;
    /// The bytes in flight this way, to take from.
    fn in_flight_mut(&mut self) -> &mut InFlight;
    /// `bytes` written by the sender at `now`.
    fn send(&mut self, bytes: Vec<u8>, now: Instant);

    /// When the next piece in flight arrives.
    fn next_arrival(&self) -> Option<Instant> {
        self.in_flight().next_arrival()
    }

    /// The next piece that has arrived by `now`.
    fn arrived(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.in_flight_mut().arrived(now)
    }
}

/// Bytes in flight one way, in order, each piece due when its last byte has crossed.
#[derive(Debug)]
pub struct InFlight {
    pieces: VecDeque<(Instant, Vec<u8>)>,
    /// When the sender's previous bytes have left: bytes go out one after another.
    free_at: Instant,
}

impl InFlight {
    pub fn new(now: Instant) -> Self {
        Self {
            pieces: VecDeque::new(),
            free_at: now,
        }
    }

    pub fn next_arrival(&self) -> Option<Instant> {
        self.pieces.front().map(|(at, _)| *at)
    }

    pub fn arrived(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_arrival()? > now {
            return None;
        }
        self.pieces.pop_front().map(|(_, bytes)| bytes)
    }

    /// When bytes written at `now` start to cross: after whatever is still going out.
    pub fn start(&self, now: Instant) -> Instant {
        now.max(self.free_at)
    }

    /// `piece` arrives at `at`; the wire is busy until then.
    pub fn push(&mut self, at: Instant, piece: Vec<u8>) {
        self.pieces.push_back((at, piece));
        self.free_at = at;
    }

    /// Everything in flight is lost.
    pub fn clear(&mut self) {
        self.pieces.clear();
    }
}

/// A master and simulated pumps wired together with a fake clock.
pub struct Bus<M, S, C> {
    pub master: M,
    pub sim: S,
    /// The one base instant; every other time is this plus simulated time.
    pub start: Instant,
    pub now: Instant,
    pub to_pumps: C,
    pub to_master: C,
    /// Every event of every master this bus had, in order.
    pub events: Vec<PumpEvent>,
    /// What the line looks like, for failure messages.
    pub describe: fn(&Self) -> String,
}

impl<M: LineMaster, S: LineSimulator, C: Channel> Bus<M, S, C> {
    /// `master` and `sim` at `start`, with a channel each way.
    pub fn wire(
        master: M,
        sim: S,
        start: Instant,
        channels: (C, C),
        describe: fn(&Self) -> String,
    ) -> Self {
        Self {
            master,
            sim,
            start,
            now: start,
            to_pumps: channels.0,
            to_master: channels.1,
            events: Vec::new(),
            describe,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
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

    /// Everything due at `now`: arrivals, deadlines, answers, events.
    pub fn settle(&mut self) {
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
            while let Some(bytes) = self.master.poll_transmit(now) {
                self.to_pumps.send(bytes, now);
                moved = true;
            }
            while let Some(bytes) = self.sim.poll_transmit(now) {
                self.to_master.send(bytes, now);
                moved = true;
            }
            while let Some(event) = self.master.poll_event() {
                self.events.push(event);
            }
            if !moved {
                return;
            }
        }
        panic!(
            "no rest after {MAX_ROUNDS_PER_INSTANT} rounds at {:?}\n{}",
            self.elapsed(),
            (self.describe)(self)
        );
    }

    /// Moves the clock to the earliest thing due (never past `limit`, and on by at least
    /// a microsecond) and handles it.
    pub fn step(&mut self, limit: Instant) {
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

    /// Runs until `cond(events, sim)` holds; fails when `max` of simulated time runs out.
    /// Returns the simulated time it took.
    #[track_caller]
    pub fn run_until(
        &mut self,
        max: Duration,
        mut cond: impl FnMut(&[PumpEvent], &S) -> bool,
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
                    "condition not met within {max:?} of simulated time (at {:?})\n{}",
                    self.elapsed(),
                    (self.describe)(self)
                );
            }
            self.step(limit);
        }
    }

    /// Runs for `span` of simulated time.
    pub fn run_for(&mut self, span: Duration) {
        let limit = self.now + span;
        self.settle();
        while self.now < limit {
            self.step(limit);
        }
    }
}

/// The last `n` events, one a line, timed from `start`.
pub fn last_events(events: &[PumpEvent], start: Instant, n: usize) -> String {
    let skip = events.len().saturating_sub(n);
    events[skip..]
        .iter()
        .map(|e| format!("  {:>12?} {} {:?}\n", e.at - start, e.pump, e.kind))
        .collect()
}
