//! Whose turn it is on a half-duplex line, shared by the masters: pumps are served
//! round-robin in their configured order, and a pump whose last exchange moved something
//! on while it still has work keeps the line for up to `max_turn_exchanges` exchanges in
//! its turn. So work that takes several exchanges (an end of sale: hear it, ask, read)
//! takes one turn instead of one cycle of the line per exchange, and a pump waits at most
//! `(pumps - 1) × max_turn_exchanges` exchanges for its own turn. It owns only the
//! cursor and the current turn; what counts as work and as progress is the master's.

use std::time::Instant;

use crate::tally::Tally;

/// The round robin of one line and the turn under way.
#[derive(Debug, Clone, Default)]
pub(crate) struct Turns {
    /// The pump whose turn is next.
    cursor: usize,
    /// The pump whose last exchange moved something on: it may keep the line.
    again: Option<usize>,
    /// Exchanges in the current turn so far.
    streak: u32,
}

impl Turns {
    /// Pump `p`'s exchange moved something on (a valid answer that was no refusal).
    pub(crate) fn progressed(&mut self, p: usize) {
        self.again = Some(p);
    }

    /// Whatever the last exchange did, the next one starts a turn (the port was lost).
    pub(crate) fn interrupt(&mut self) {
        self.again = None;
    }

    /// The pump to serve next among `n`: the one whose turn is under way while it
    /// progressed, `has_work` and its turn is not full, else the next `eligible` one in
    /// order (`None`: none is).
    pub(crate) fn next(
        &mut self,
        n: usize,
        max_turn_exchanges: u32,
        has_work: impl Fn(usize) -> bool,
        eligible: impl Fn(usize) -> bool,
    ) -> Option<Next> {
        if let Some(p) = self.again.take() {
            if self.streak < max_turn_exchanges && has_work(p) {
                self.streak += 1;
                return Some(Next {
                    pump: p,
                    new_turn: false,
                });
            }
        }
        let p = (0..n)
            .map(|k| (self.cursor + k) % n)
            .find(|&p| eligible(p))?;
        self.cursor = (p + 1) % n;
        self.streak = 1;
        Some(Next {
            pump: p,
            new_turn: true,
        })
    }
}

/// The pump to serve next, as [`Turns::next`] chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Next {
    pump: usize,
    /// True when this starts the pump's turn; false for another exchange of its turn.
    new_turn: bool,
}

impl Next {
    /// The pump's index, its exchange counted at `now`: a new turn in the tally's
    /// cycles, another exchange of the same turn only as a poll.
    pub(crate) fn counted(self, tally: &mut Tally, now: Instant) -> usize {
        if self.new_turn {
            tally.exchange(self.pump, now);
        } else {
            tally.counters.polls += 1;
        }
        self.pump
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pump_with_work_keeps_the_line_until_its_turn_is_full() {
        let mut turns = Turns::default();
        let mut tally = Tally::default();
        let now = Instant::now();
        let mut next = |t: &mut Turns, work: bool| {
            t.next(3, 2, |_| work, |_| true)
                .map(|n| n.counted(&mut tally, now))
        };
        assert_eq!(next(&mut turns, true), Some(0));
        turns.progressed(0);
        assert_eq!(next(&mut turns, true), Some(0), "work and progress: again");
        turns.progressed(0);
        assert_eq!(next(&mut turns, true), Some(1), "the turn is full");
        assert_eq!(next(&mut turns, true), Some(2), "no progress: next pump");
        turns.progressed(2);
        assert_eq!(next(&mut turns, false), Some(0), "no work: next pump");
        turns.progressed(0);
        turns.interrupt();
        assert_eq!(next(&mut turns, true), Some(1), "interrupted: next pump");
        assert_eq!(tally.counters.polls, 6);
        assert_eq!(
            tally.counters.cycles, 1,
            "the second exchange of a turn is no new cycle"
        );
    }

    #[test]
    fn ineligible_pumps_are_skipped_and_none_eligible_is_none() {
        let mut turns = Turns::default();
        let pick = turns.next(3, 4, |_| false, |p| p == 2);
        assert_eq!(pick.map(|n| n.pump), Some(2));
        assert_eq!(turns.next(3, 4, |_| false, |_| false), None);
    }
}
