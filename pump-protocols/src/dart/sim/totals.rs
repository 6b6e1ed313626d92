//! Electronic totals of a simulated DART pump and their DC101 answers (docs/protocols/dart.md
//! §5.6).
//!
//! Owns the per-nozzle counters (volume, amount, number of fillings) and the COUN table.
//! It never decides when a filling ends (the pump tells it) and never sees the link.

use crate::dart::app::PumpTransaction;
use crate::units::NozzleId;

/// Electronic totals are 10-digit counters (§5.6) and roll over like the real ones.
const TOTAL_MODULO: u64 = 10_000_000_000;
/// DC101 covers logical nozzles 1..=8 only (§5.6).
const COUNTED_NOZZLES: u8 = 8;

/// Electronic totals of one logical nozzle, raw (volume at DPVOL, amount at DPAMO).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NozzleTotals {
    /// Volume total.
    pub volume: u64,
    /// Amount total.
    pub amount: u64,
    /// Number of fillings.
    pub fillings: u64,
}

impl NozzleTotals {
    fn plus(self, other: NozzleTotals) -> NozzleTotals {
        NozzleTotals {
            volume: (self.volume + other.volume) % TOTAL_MODULO,
            amount: (self.amount + other.amount) % TOTAL_MODULO,
            fillings: (self.fillings + other.fillings) % TOTAL_MODULO,
        }
    }
}

/// The figures of the filling under way, which real meters count as they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Running {
    pub(crate) nozzle: NozzleId,
    pub(crate) volume: u32,
    pub(crate) amount: u32,
}

/// The counters of one pump, indexed by logical nozzle − 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Totals(Vec<NozzleTotals>);

impl Totals {
    /// Zeroed counters for logical nozzles 1..=`nozzles`.
    pub(crate) fn new(nozzles: usize) -> Self {
        Self(vec![NozzleTotals::default(); nozzles])
    }

    /// Books a completed filling.
    pub(crate) fn add_filling(&mut self, filling: Running) {
        let index = usize::from(filling.nozzle.0).saturating_sub(1);
        if let Some(slot) = self.0.get_mut(index) {
            *slot = slot.plus(NozzleTotals {
                volume: filling.volume.into(),
                amount: filling.amount.into(),
                fillings: 1,
            });
        }
    }

    /// The counters of `nozzle` with the running filling's figures; zeros for a nozzle
    /// the pump does not have.
    pub(crate) fn of(&self, nozzle: u8, running: Option<Running>) -> NozzleTotals {
        let booked = nozzle
            .checked_sub(1)
            .and_then(|i| self.0.get(usize::from(i)))
            .copied()
            .unwrap_or_default();
        match running {
            Some(r) if r.nozzle.0 == nozzle => booked.plus(NozzleTotals {
                volume: r.volume.into(),
                amount: r.amount.into(),
                fillings: 0,
            }),
            _ => booked,
        }
    }

    /// The DC101 answer to CD101 COUN (§5.6), `None` for a COUN the table does not define:
    /// 0x01–0x08 volume of one nozzle (TOTM1 the same, from the one meter), 0x09 the sum,
    /// 0x11–0x18 amount and fillings of one nozzle, 0x19 the sums. TOTM2 is always 0: a
    /// simulated pump has no secondary meter.
    pub(crate) fn dc101(&self, coun: u8, running: Option<Running>) -> Option<PumpTransaction> {
        let sum = || {
            (1..=COUNTED_NOZZLES).fold(NozzleTotals::default(), |acc, n| {
                acc.plus(self.of(n, running))
            })
        };
        let (totval, totm1) = match coun {
            0x01..=0x08 => {
                let t = self.of(coun, running);
                (t.volume, t.volume)
            }
            0x09 => (sum().volume, 0),
            0x11..=0x18 => {
                let t = self.of(coun - 0x10, running);
                (t.amount, t.fillings)
            }
            0x19 => {
                let t = sum();
                (t.amount, t.fillings)
            }
            _ => return None,
        };
        Some(PumpTransaction::TotalCounters {
            coun,
            totval,
            totm1: Some(totm1),
            totm2: Some(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_roll_over_at_ten_digits() {
        let mut totals = Totals::new(1);
        totals.0[0].volume = TOTAL_MODULO - 5;
        totals.add_filling(Running {
            nozzle: NozzleId(1),
            volume: 7,
            amount: 9,
        });
        assert_eq!(
            totals.of(1, None),
            NozzleTotals {
                volume: 2,
                amount: 9,
                fillings: 1
            }
        );
    }

    #[test]
    fn the_running_filling_counts_on_its_nozzle_only() {
        let totals = Totals::new(2);
        let running = Some(Running {
            nozzle: NozzleId(2),
            volume: 150,
            amount: 250,
        });
        assert_eq!(totals.of(1, running), NozzleTotals::default());
        assert_eq!(totals.of(2, running).volume, 150);
        assert_eq!(totals.of(2, running).fillings, 0);
        assert_eq!(
            totals.dc101(0x19, running),
            Some(PumpTransaction::TotalCounters {
                coun: 0x19,
                totval: 250,
                totm1: Some(0),
                totm2: Some(0)
            })
        );
        assert_eq!(totals.dc101(0x0A, running), None);
        assert_eq!(totals.dc101(0x00, running), None);
    }
}
