//! A master with one pump (pump 1) on a fake clock, fed by hand: what it writes is taken
//! one write at a time, and answers are handed to it in the chunks a test chooses.

use std::time::{Duration, Instant};

use pump_protocols::gilbarco::{GilbarcoMaster, GilbarcoMasterSettings};
use pump_protocols::{
    BusAddress, Decimals, GradeId, LineMaster, NozzleId, PumpEvent, PumpEventKind, PumpSetup,
};

/// A master with one pump on a fake clock, fed by hand.
pub struct Drive {
    pub master: GilbarcoMaster,
    pub now: Instant,
    pub events: Vec<PumpEvent>,
}

impl Drive {
    pub fn new(settings: GilbarcoMasterSettings, decimals: Decimals, nozzles: &[u8]) -> Self {
        let setup = PumpSetup {
            address: BusAddress(1),
            decimals,
            nozzles: nozzles
                .iter()
                .map(|&n| (NozzleId(n), GradeId(u16::from(n))))
                .collect(),
        };
        let master = GilbarcoMaster::new(settings, vec![setup]).expect("a valid master");
        Self {
            master,
            now: Instant::now(),
            events: Vec::new(),
        }
    }

    /// The next bytes the master writes, waiting for them as long as it asks.
    pub fn sent(&mut self) -> Vec<u8> {
        for _ in 0..100 {
            if let Some(bytes) = self.master.poll_transmit(self.now) {
                self.events
                    .extend(std::iter::from_fn(|| self.master.poll_event()));
                return bytes;
            }
            let next = self
                .master
                .poll_timeout()
                .expect("a master always has a deadline");
            self.now = self.now.max(next);
            self.master.handle_timeout(self.now);
        }
        panic!("the master says nothing");
    }

    pub fn answer(&mut self, chunks: &[Vec<u8>]) {
        for chunk in chunks {
            self.now += Duration::from_millis(2);
            self.master.handle_input(chunk, self.now);
        }
        self.events
            .extend(std::iter::from_fn(|| self.master.poll_event()));
    }

    /// Polls once and answers with `state`.
    pub fn online(&mut self, state: u8) {
        assert_eq!(self.sent(), vec![0x01]);
        self.answer(&[vec![state]]);
        assert!(self.master.is_online(BusAddress(1)) == Some(true));
    }

    pub fn kinds(&self) -> Vec<PumpEventKind> {
        self.events.iter().map(|e| e.kind.clone()).collect()
    }
}
