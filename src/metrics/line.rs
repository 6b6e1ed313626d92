//! The metrics of one serial line, as its line task feeds them.
//!
//! The protocol master counts in plain integers ([`LineCounters`]); the line task hands
//! them over after each turn and this turns the growth since the last turn into counter
//! increments, so the master stays free of any metrics library and the line task free of
//! any bookkeeping.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use pump_protocols::LineCounters;

use super::{LineFamilies, LineLabel};

/// The handles of one line's metrics. Owned by its line task.
#[derive(Debug, Clone)]
pub struct LineMetrics {
    polls: Counter,
    answers: Counter,
    crc_errors: Counter,
    timeouts: Counter,
    retries: Counter,
    reopens: Counter,
    cycle: Histogram,
    seen: LineCounters,
    opened: bool,
}

impl LineMetrics {
    pub(super) fn new(families: &LineFamilies, name: &str) -> Self {
        let label = LineLabel {
            line: name.to_owned(),
        };
        LineMetrics {
            polls: families.polls.get_or_create_owned(&label),
            answers: families.answers.get_or_create_owned(&label),
            crc_errors: families.crc_errors.get_or_create_owned(&label),
            timeouts: families.timeouts.get_or_create_owned(&label),
            retries: families.retries.get_or_create_owned(&label),
            reopens: families.reopens.get_or_create_owned(&label),
            cycle: families.cycle.get_or_create_owned(&label),
            seen: LineCounters::default(),
            opened: false,
        }
    }

    /// Handles registered nowhere, for a line task outside a daemon (tests, tools).
    pub fn detached(name: &str) -> Self {
        LineMetrics::new(&LineFamilies::new(), name)
    }

    /// The port was opened; every open after the first is a reopen.
    pub fn opened(&mut self) {
        if self.opened {
            self.reopens.inc();
        }
        self.opened = true;
    }

    /// Takes the master's counters after a turn of the line loop.
    pub fn observe(&mut self, now: &LineCounters) {
        if *now == self.seen {
            return;
        }
        let grow = |counter: &Counter, before: u64, after: u64| {
            if after > before {
                counter.inc_by(after - before);
            }
        };
        grow(&self.polls, self.seen.polls, now.polls);
        grow(&self.answers, self.seen.answers, now.answers);
        grow(&self.crc_errors, self.seen.crc_errors, now.crc_errors);
        grow(&self.timeouts, self.seen.timeouts, now.timeouts);
        grow(&self.retries, self.seen.retries, now.retries);
        if now.cycles > self.seen.cycles {
            if let Some(cycle) = now.last_cycle {
                self.cycle.observe(cycle.as_secs_f64());
            }
        }
        self.seen = *now;
    }

    /// Polls counted so far (tests).
    pub fn polls(&self) -> u64 {
        self.polls.get()
    }

    /// Reopens counted so far (tests).
    pub fn reopens(&self) -> u64 {
        self.reopens.get()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn counts_growth_once_and_reopens_after_the_first_open() {
        let metrics = crate::metrics::Metrics::new(
            &crate::access::counters::RefusalCounters::default(),
            Histogram::new(crate::metrics::JOURNAL_WRITE_BUCKETS),
        );
        let mut m = metrics.line("line1");
        m.opened();
        let mut c = LineCounters {
            polls: 5,
            answers: 4,
            timeouts: 1,
            ..LineCounters::default()
        };
        m.observe(&c);
        m.observe(&c);
        c.polls = 7;
        c.cycles = 1;
        c.last_cycle = Some(Duration::from_millis(40));
        m.observe(&c);
        assert_eq!(m.polls(), 7);
        assert_eq!(m.answers.get(), 4);
        let text = metrics.render(&crate::metrics::ScrapeState::default());
        assert!(
            text.contains("forecourtd_line_poll_cycle_seconds_count{line=\"line1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("forecourtd_line_polls_total{line=\"line1\"} 7\n"));
        assert_eq!(m.reopens(), 0);
        m.opened();
        assert_eq!(m.reopens(), 1);
    }
}
