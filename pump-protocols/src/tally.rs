//! Protocol-neutral counters of one line, for the daemon's metrics.
//!
//! Owns [`LineCounters`] (what every master reports through
//! [`LineMaster::counters`](crate::model::LineMaster::counters)) and the small bookkeeping
//! that turns the masters' round-robin into poll-cycle times. Each protocol keeps its own,
//! finer `LineStats` beside it; this is the common part an operator compares across lines.

use std::time::{Duration, Instant};

/// What a master did and heard on its line since it was built. Counters only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounters {
    /// Exchanges started: a poll or a command sent to one pump.
    pub polls: u64,
    /// Answers taken from the pump being served.
    pub answers: u64,
    /// Answers from the pump being served dropped as corrupt (bad CRC or LRC, broken
    /// frame); a bad cable or a noisy loop shows here first.
    pub crc_errors: u64,
    /// Exchanges that ended without an answer in time.
    pub timeouts: u64,
    /// Command attempts that failed and are sent again.
    pub retries: u64,
    /// Complete round-robin cycles over the line's pumps.
    pub cycles: u64,
    /// How long the last complete cycle took, from its first exchange to the next
    /// cycle's first exchange.
    pub last_cycle: Option<Duration>,
}

/// The counters and where the current cycle began.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// The counters reported.
    pub(crate) counters: LineCounters,
    cycle_start: Option<Instant>,
    last_served: Option<usize>,
}

impl Tally {
    /// An exchange with pump number `pump` (its index on the line) starts at `now`; a
    /// pump at or before the last one served begins a new cycle.
    pub(crate) fn exchange(&mut self, pump: usize, now: Instant) {
        self.counters.polls += 1;
        if self.last_served.is_none_or(|last| pump <= last) {
            if let Some(start) = self.cycle_start {
                self.counters.cycles += 1;
                self.counters.last_cycle = Some(now.saturating_duration_since(start));
            }
            self.cycle_start = Some(now);
        }
        self.last_served = Some(pump);
    }

    /// The port was lost: the cycle under way is not a cycle.
    pub(crate) fn interrupted(&mut self) {
        self.cycle_start = None;
        self.last_served = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_ends_when_the_first_pump_comes_round_again() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut tally = Tally::default();
        tally.exchange(0, t0);
        tally.exchange(1, t0 + ms(30));
        tally.exchange(2, t0 + ms(60));
        assert_eq!(tally.counters.cycles, 0);
        // Pump 1 went offline and is skipped: the cycle still ends at pump 0.
        tally.exchange(0, t0 + ms(90));
        tally.exchange(2, t0 + ms(120));
        tally.exchange(0, t0 + ms(150));
        assert_eq!(tally.counters.polls, 6);
        assert_eq!(tally.counters.cycles, 2);
        assert_eq!(tally.counters.last_cycle, Some(ms(60)));
        tally.interrupted();
        tally.exchange(1, t0 + ms(900));
        assert_eq!(tally.counters.cycles, 2);
        tally.exchange(1, t0 + ms(950));
        assert_eq!(tally.counters.last_cycle, Some(ms(50)));
    }
}
