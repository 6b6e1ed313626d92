//! The DART line of the master-against-simulator tests: a [`Channel`] that gives bytes
//! their time on the wire (9600 8O1, or whatever the master's settings say), hands them
//! over in pieces of at most [`CHUNK`] bytes as a USB adapter does, records every
//! well-formed frame its sender wrote, and can drop, garble or split the next frame that
//! matches, or be cut as an unplugged adapter is.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use pump_protocols::dart::{
    decode_all, ControlKind, DartMaster, DartMasterSettings, DartSimulator, Decoded, Frame,
};

use super::bus::{Bus, Channel as BusChannel, InFlight};

/// Most bytes a read hands over at once (a USB serial adapter's FIFO).
pub const CHUNK: usize = 16;

/// A DART master and simulated pumps on one line.
pub type DartLine = Bus<DartMaster, DartSimulator, Channel>;

/// The two directions of a line whose wire times are the master's `wire` settings.
pub fn channels(start: Instant, wire: DartMasterSettings) -> (Channel, Channel) {
    (Channel::new(start, wire), Channel::new(start, wire))
}

/// Which frames a tampering applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Any,
    Data,
    Control(ControlKind),
}

/// What the harness does to the next frame that matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// The frame never arrives.
    Drop,
    /// One byte XORed with `mask` (index modulo the frame length).
    Garble { index: usize, mask: u8 },
    /// One byte of a data block's body (after CTRL, before ETX) XORed with `mask`: what
    /// its CRC must catch.
    GarbleBody { pick: usize, mask: u8 },
    /// Delivered in pieces cut at these offsets, with `pause` of silence before each.
    Split { cuts: Vec<usize>, pause: Duration },
}

/// One direction of the line: bytes in flight, in order, each piece arriving when its
/// last byte has crossed the wire.
#[derive(Debug)]
pub struct Channel {
    pub in_flight: InFlight,
    /// Wire times.
    wire: DartMasterSettings,
    pub tampers: VecDeque<(Which, Tamper)>,
    /// Every well-formed frame the sender wrote, as written (before any tampering).
    pub frames: Vec<(Instant, Frame)>,
    /// The port is gone: nothing gets through.
    cut: bool,
}

impl BusChannel for Channel {
    fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    fn in_flight_mut(&mut self) -> &mut InFlight {
        &mut self.in_flight
    }

    /// A frame written by its sender at `now`, through the next matching tampering.
    fn send(&mut self, mut bytes: Vec<u8>, now: Instant) {
        let frame = match decode_all(&bytes).as_slice() {
            [Decoded::Frame(frame)] => Some(frame.clone()),
            _ => None,
        };
        if let Some(frame) = &frame {
            self.frames.push((now, frame.clone()));
        }
        if self.cut {
            return;
        }
        let matches = |which: Which| match (which, &frame) {
            (Which::Any, _) => true,
            (Which::Data, Some(Frame::Data { .. })) => true,
            (Which::Control(kind), Some(Frame::Control { kind: k, .. })) => kind == *k,
            _ => false,
        };
        let tamper = match self.tampers.front() {
            Some((which, _)) if matches(*which) => self.tampers.pop_front().map(|(_, t)| t),
            _ => None,
        };
        let mut cuts = Vec::new();
        let mut pause = Duration::ZERO;
        match tamper {
            None => {}
            Some(Tamper::Drop) => return,
            Some(Tamper::Garble { index, mask }) => {
                let i = index % bytes.len();
                bytes[i] ^= mask;
            }
            Some(Tamper::GarbleBody { pick, mask }) => {
                let body = bytes.len().saturating_sub(4).max(1);
                let i = (2 + pick % body).min(bytes.len() - 1);
                bytes[i] ^= mask;
            }
            Some(Tamper::Split { cuts: c, pause: p }) => {
                cuts = c;
                pause = p;
            }
        }
        self.transmit(&bytes, now, &cuts, pause);
    }
}

impl Channel {
    fn new(now: Instant, wire: DartMasterSettings) -> Self {
        Self {
            in_flight: InFlight::new(now),
            wire,
            tampers: VecDeque::new(),
            frames: Vec::new(),
            cut: false,
        }
    }

    /// Puts `bytes` on the wire after whatever is still going out, cut at `cuts` with
    /// `pause` of silence before each cut piece.
    pub fn transmit(&mut self, bytes: &[u8], now: Instant, cuts: &[usize], pause: Duration) {
        if self.cut || bytes.is_empty() {
            return;
        }
        let mut bounds: Vec<usize> = (CHUNK..bytes.len()).step_by(CHUNK).collect();
        bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < bytes.len()));
        bounds.push(bytes.len());
        bounds.sort_unstable();
        bounds.dedup();
        let mut at = self.in_flight.start(now);
        let mut from = 0;
        for end in bounds {
            if from > 0 && cuts.contains(&from) {
                at += pause;
            }
            at += self.wire.wire_time(end - from);
            self.in_flight.push(at, bytes[from..end].to_vec());
            from = end;
        }
    }

    /// Unplugs (`true`) or plugs back the line: what is in flight is lost.
    pub fn set_cut(&mut self, cut: bool) {
        self.cut = cut;
        if cut {
            self.in_flight.clear();
        }
    }
}
