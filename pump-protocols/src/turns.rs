//! Whose turn it is on a half-duplex line, shared by the masters: pumps are served
//! round-robin in their configured order, and a pump whose last exchange moved something
//! on while it still has work keeps the line for up to `max_turn_exchanges` exchanges in
//! its turn. So work that takes several exchanges (an end of sale: hear it, ask, read)
//! takes one turn instead of one cycle of the line per exchange, and a pump waits at most
//! `(pumps - 1) × max_turn_exchanges` exchanges for its own turn.
//!
//! Busy pumps (a dispatch authorized or running, or a finished sale not read yet) also
//! get an extra turn after every `busy_turn_every` ordinary turns, rotating among them:
//! a hang-up on a filling pump is heard within about `busy_turn_every + 1` turns instead
//! of a whole cycle, and an idle pump's cycle grows by at most `1 / busy_turn_every`
//! while any pump is busy. Extra turns never count as a cycle of the line.
//!
//! It owns only the cursors and the current turn; what counts as work, busy and progress,
//! and what an extra turn may send, is the master's ([`Roster`]).

use std::time::Instant;

use crate::tally::Tally;

/// What the round robin needs to know of a master's pumps.
pub(crate) trait Roster {
    /// The round robin of the master's line.
    fn turns(&mut self) -> &mut Turns;
    /// How many pumps the line has.
    fn pump_count(&self) -> usize;
    /// The turn settings in force.
    fn policy(&self) -> TurnPolicy;
    /// Pump `p` has work worth another exchange in the turn under way; in an extra turn
    /// (`extra`) only work an extra turn may do counts.
    fn has_work(&self, p: usize, extra: bool) -> bool;
    /// Pump `p` is busy in the master's judgement and may take an extra turn now.
    fn busy(&self, p: usize) -> bool;
    /// Pump `p` may be served at `now` (offline pumps only now and then).
    fn eligible(&self, p: usize, now: Instant) -> bool;
}

/// Implements [`Roster`] for a master with the fields `turns`, `pumps` (whose items have
/// `has_work`, `has_extra_work` and `busy`) and `settings` (with `max_turn_exchanges` and
/// `busy_turn_every`), and the method `eligible_at(p) -> Option<Instant>`.
macro_rules! roster {
    ($master:ty) => {
        impl $crate::turns::Roster for $master {
            fn turns(&mut self) -> &mut $crate::turns::Turns {
                &mut self.turns
            }

            fn pump_count(&self) -> usize {
                self.pumps.len()
            }

            fn policy(&self) -> $crate::turns::TurnPolicy {
                $crate::turns::TurnPolicy {
                    max_turn_exchanges: self.settings.max_turn_exchanges,
                    busy_turn_every: self.settings.busy_turn_every,
                }
            }

            fn has_work(&self, p: usize, extra: bool) -> bool {
                let pump = &self.pumps[p];
                if extra {
                    pump.has_extra_work()
                } else {
                    pump.has_work()
                }
            }

            fn busy(&self, p: usize) -> bool {
                self.pumps[p].busy()
            }

            fn eligible(&self, p: usize, now: Instant) -> bool {
                self.eligible_at(p).is_none_or(|at| at <= now)
            }
        }
    };
}
pub(crate) use roster;

/// The turn settings of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TurnPolicy {
    /// Most exchanges in one turn (at least 1).
    pub(crate) max_turn_exchanges: u32,
    /// Ordinary turns between two extra turns of the busy pumps (0: none).
    pub(crate) busy_turn_every: u32,
}

/// The round robin of one line and the turn under way.
#[derive(Debug, Clone, Default)]
pub(crate) struct Turns {
    /// The pump whose ordinary turn is next.
    cursor: usize,
    /// Turns started so far, the clock of [`Self::served`].
    clock: u64,
    /// When each pump's last turn started, by `clock` (grown on first use).
    served: Vec<u64>,
    /// Ordinary turns since the last extra turn.
    since_extra: u32,
    /// The pump whose last exchange moved something on: it may keep the line.
    again: Option<usize>,
    /// The turn under way is an extra one.
    extra: bool,
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

    /// The next pump to serve on `master`'s line at `now` (see [`Turns::next`]).
    pub(crate) fn next_of(master: &mut impl Roster, now: Instant) -> Option<Next> {
        // Taken out for the call: the roster reads the whole master.
        let mut turns = std::mem::take(master.turns());
        let next = turns.next(&*master, now);
        *master.turns() = turns;
        next
    }

    /// The pump to serve next: the one whose turn is under way while it progressed, has
    /// work and its turn is not full; else, when `busy_turn_every` ordinary turns have
    /// passed, the busy eligible pump served longest ago (an extra turn); else
    /// the next eligible pump in order (`None`: none is).
    pub(crate) fn next(&mut self, roster: &impl Roster, now: Instant) -> Option<Next> {
        let policy = roster.policy();
        let n = roster.pump_count();
        if let Some(p) = self.again.take() {
            if self.streak < policy.max_turn_exchanges && roster.has_work(p, self.extra) {
                self.streak += 1;
                return Some(Next {
                    pump: p,
                    new_turn: false,
                    extra: self.extra,
                });
            }
        }
        self.streak = 1;
        self.served.resize(n, 0);
        self.clock += 1;
        let ordinary = (0..n)
            .map(|k| (self.cursor + k) % n)
            .find(|&p| roster.eligible(p, now));
        if policy.busy_turn_every > 0 && self.since_extra >= policy.busy_turn_every {
            // The busy pump served longest ago; ties go in round-robin order.
            let busy = (0..n)
                .map(|k| (self.cursor + k) % n)
                .filter(|&p| roster.busy(p) && roster.eligible(p, now))
                .min_by_key(|&p| self.served[p]);
            if let Some(p) = busy {
                self.since_extra = 0;
                // The busy pump whose ordinary turn is next takes that one instead.
                if ordinary != Some(p) {
                    self.served[p] = self.clock;
                    self.extra = true;
                    return Some(Next {
                        pump: p,
                        new_turn: true,
                        extra: true,
                    });
                }
            }
        }
        let p = ordinary?;
        self.cursor = (p + 1) % n;
        self.served[p] = self.clock;
        // Capped: after a quiet spell the first busy pump gets its extra turn at once.
        self.since_extra = (self.since_extra + 1).min(policy.busy_turn_every);
        self.extra = false;
        Some(Next {
            pump: p,
            new_turn: true,
            extra: false,
        })
    }
}

/// The pump to serve next, as [`Turns::next`] chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Next {
    pump: usize,
    /// True when this starts the pump's turn; false for another exchange of its turn.
    new_turn: bool,
    /// True for an exchange of a busy pump's extra turn: the master sends only what an
    /// extra turn may (a poll, a read), never a command again.
    pub(crate) extra: bool,
}

impl Next {
    /// The pump's index, its exchange counted at `now`: an ordinary new turn in the
    /// tally's cycles, any other exchange only as a poll.
    pub(crate) fn counted(self, tally: &mut Tally, now: Instant) -> usize {
        if self.new_turn && !self.extra {
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

    /// A line of `n` pumps whose work, busy and eligible flags a test sets by hand.
    struct Fake {
        turns: Turns,
        policy: TurnPolicy,
        work: Vec<bool>,
        busy: Vec<bool>,
        eligible: Vec<bool>,
    }

    impl Fake {
        fn new(n: usize, max_turn_exchanges: u32, busy_turn_every: u32) -> Self {
            Self {
                turns: Turns::default(),
                policy: TurnPolicy {
                    max_turn_exchanges,
                    busy_turn_every,
                },
                work: vec![false; n],
                busy: vec![false; n],
                eligible: vec![true; n],
            }
        }

        /// The next `k` pumps served, with no progress between them.
        fn serve(&mut self, k: usize, now: Instant) -> Vec<usize> {
            (0..k)
                .filter_map(|_| Turns::next_of(self, now).map(|n| n.pump))
                .collect()
        }
    }

    impl Roster for Fake {
        fn turns(&mut self) -> &mut Turns {
            &mut self.turns
        }
        fn pump_count(&self) -> usize {
            self.work.len()
        }
        fn policy(&self) -> TurnPolicy {
            self.policy
        }
        fn has_work(&self, p: usize, _extra: bool) -> bool {
            self.work[p]
        }
        fn busy(&self, p: usize) -> bool {
            self.busy[p]
        }
        fn eligible(&self, p: usize, _now: Instant) -> bool {
            self.eligible[p]
        }
    }

    #[test]
    fn a_pump_with_work_keeps_the_line_until_its_turn_is_full() {
        let mut line = Fake::new(3, 2, 0);
        let mut tally = Tally::default();
        let now = Instant::now();
        let mut next = |line: &mut Fake, work: bool| {
            line.work = vec![work; 3];
            Turns::next_of(line, now).map(|n| n.counted(&mut tally, now))
        };
        assert_eq!(next(&mut line, true), Some(0));
        line.turns.progressed(0);
        assert_eq!(next(&mut line, true), Some(0), "work and progress: again");
        line.turns.progressed(0);
        assert_eq!(next(&mut line, true), Some(1), "the turn is full");
        assert_eq!(next(&mut line, true), Some(2), "no progress: next pump");
        line.turns.progressed(2);
        assert_eq!(next(&mut line, false), Some(0), "no work: next pump");
        line.turns.progressed(0);
        line.turns.interrupt();
        assert_eq!(next(&mut line, true), Some(1), "interrupted: next pump");
        assert_eq!(tally.counters.polls, 6);
        assert_eq!(
            tally.counters.cycles, 1,
            "the second exchange of a turn is no new cycle"
        );
    }

    #[test]
    fn ineligible_pumps_are_skipped_and_none_eligible_is_none() {
        let mut line = Fake::new(3, 4, 0);
        line.eligible = vec![false, false, true];
        let now = Instant::now();
        assert_eq!(Turns::next_of(&mut line, now).map(|n| n.pump), Some(2));
        line.eligible = vec![false; 3];
        assert_eq!(Turns::next_of(&mut line, now), None);
    }

    #[test]
    fn busy_pumps_take_turns_at_an_extra_turn_after_every_k_ordinary_ones() {
        let mut line = Fake::new(8, 4, 2);
        line.busy[5] = true;
        line.busy[6] = true;
        let now = Instant::now();
        // 0 1 | 5 extra | 2 3 | 6 extra | 4 5 | 6, served longest ago, has its ordinary
        // turn next: that one counts | 7 | 5 extra | 0 1 | 6 extra | 2 3
        let served = line.serve(16, now);
        assert_eq!(served, vec![0, 1, 5, 2, 3, 6, 4, 5, 6, 7, 5, 0, 1, 6, 2, 3]);
    }

    #[test]
    fn an_extra_turn_is_no_cycle_and_keeps_its_kind_while_it_lasts() {
        let mut line = Fake::new(4, 4, 1);
        line.busy[3] = true;
        line.work[3] = true;
        let mut tally = Tally::default();
        let now = Instant::now();
        let first = Turns::next_of(&mut line, now).map(|n| n.counted(&mut tally, now));
        assert_eq!(first, Some(0));
        let extra = Turns::next_of(&mut line, now).expect("an extra turn");
        assert!(extra.extra);
        assert_eq!(extra.counted(&mut tally, now), 3);
        line.turns.progressed(3);
        let again = Turns::next_of(&mut line, now).expect("the extra turn goes on");
        assert!(again.extra, "the rest of an extra turn is extra too");
        assert_eq!(again.counted(&mut tally, now), 3);
        assert_eq!(tally.counters.polls, 3);
        assert_eq!(tally.counters.cycles, 0);
        let next = Turns::next_of(&mut line, now).expect("an ordinary turn");
        assert!(!next.extra);
        assert_eq!(next.counted(&mut tally, now), 1);
    }

    #[test]
    fn k_zero_is_the_plain_round_robin() {
        let mut line = Fake::new(5, 4, 0);
        line.busy = vec![false, false, false, true, true];
        let now = Instant::now();
        assert_eq!(line.serve(10, now), vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn with_every_pump_busy_each_is_served_within_n_times_k_plus_1_over_k_turns() {
        let (n, k) = (7usize, 3u32);
        let mut line = Fake::new(n, 4, k);
        line.busy = vec![true; n];
        let served = line.serve(200, Instant::now());
        let bound = (n * (k as usize + 1)).div_ceil(k as usize);
        for p in 0..n {
            let at: Vec<usize> = (0..served.len()).filter(|&i| served[i] == p).collect();
            assert!(at[0] < bound, "pump {p} first served at turn {}", at[0]);
            for w in at.windows(2) {
                assert!(
                    w[1] - w[0] <= bound,
                    "pump {p} waited {} turns",
                    w[1] - w[0]
                );
            }
        }
    }
}
