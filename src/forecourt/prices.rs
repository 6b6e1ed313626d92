//! Grade prices: the station's price book and each pump's progress towards it.
//!
//! Pure state, no I/O. The station's prices are the configured ones overlaid with every
//! activated price set in order ([`PriceBook`]); a set effective later waits in
//! `scheduled` (a cancelled one is dropped from it and never applied). Each pump has a target (the current set's prices for its nozzles) and
//! the set it last confirmed ([`PumpPrices`]). Prices are programmed only into an idle
//! pump (never mid-dispatch: [`super::dispatch`] decides when), and a set counts as
//! applied at a pump only once the pump acknowledged the price block that carried it. A
//! sale carries the set whose price the pump actually used.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pump_protocols::{GradeId, NozzleId, UnitPrice};

use crate::journal::{PriceSetId, PriceSetRecord};

/// How long after sending prices a pump that neither confirmed nor refused them is sent
/// them again.
pub const PRICES_RESEND: Duration = Duration::from_secs(30);

/// Every grade's unit price.
pub type GradePrices = BTreeMap<GradeId, UnitPrice>;

/// A price set waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledSet {
    /// Journal id.
    pub id: PriceSetId,
    /// The grades it changes.
    pub prices: BTreeMap<GradeId, UnitPrice>,
    /// When it takes effect.
    pub effective_at: Timestamp,
}

impl From<&PriceSetRecord> for ScheduledSet {
    fn from(r: &PriceSetRecord) -> Self {
        Self {
            id: r.id,
            prices: r.prices.clone(),
            effective_at: r.effective_at,
        }
    }
}

/// The station's prices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceBook {
    /// The set in force (`None`: the configured prices, no set activated yet).
    pub current: Option<PriceSetId>,
    /// The unit price of every grade.
    pub grades: BTreeMap<GradeId, UnitPrice>,
    /// Sets waiting for their time, earliest first.
    pub scheduled: Vec<ScheduledSet>,
}

impl PriceBook {
    /// The configured prices, then every activated set of `sets` in activation order;
    /// the rest are scheduled. Also returns the book as it stood after each activated set,
    /// to tell what a pump that confirmed an older set has.
    pub fn load(
        configured: BTreeMap<GradeId, UnitPrice>,
        sets: &[PriceSetRecord],
    ) -> (Self, Vec<(PriceSetId, GradePrices)>) {
        let mut book = PriceBook {
            current: None,
            grades: configured,
            scheduled: Vec::new(),
        };
        let mut activated: Vec<&PriceSetRecord> =
            sets.iter().filter(|s| s.activated_at.is_some()).collect();
        activated.sort_by_key(|s| (s.activated_at, s.id));
        let mut history = Vec::new();
        for set in activated {
            book.apply(set.id, &set.prices);
            history.push((set.id, book.grades.clone()));
        }
        let waiting = sets
            .iter()
            .filter(|s| s.activated_at.is_none() && s.cancelled_at.is_none());
        for set in waiting {
            book.schedule(ScheduledSet::from(set));
        }
        (book, history)
    }

    /// Makes `prices` the station's prices under set `id`.
    pub fn apply(&mut self, id: PriceSetId, prices: &BTreeMap<GradeId, UnitPrice>) {
        self.current = Some(id);
        self.grades
            .extend(prices.iter().map(|(grade, price)| (*grade, *price)));
        self.scheduled.retain(|s| s.id != id);
    }

    /// Queues a set for its time.
    pub fn schedule(&mut self, set: ScheduledSet) {
        self.scheduled.retain(|s| s.id != set.id);
        self.scheduled.push(set);
        self.scheduled.sort_by_key(|s| (s.effective_at, s.id));
    }

    /// Drops a scheduled set (cancelled); true when it was scheduled.
    pub fn unschedule(&mut self, id: PriceSetId) -> bool {
        let before = self.scheduled.len();
        self.scheduled.retain(|s| s.id != id);
        self.scheduled.len() != before
    }

    /// The scheduled sets due at `now`, earliest first (they stay scheduled until
    /// [`apply`](Self::apply)d).
    pub fn due(&self, now: Timestamp) -> Vec<ScheduledSet> {
        self.scheduled
            .iter()
            .filter(|s| s.effective_at <= now)
            .cloned()
            .collect()
    }

    /// The prices of `nozzles` (nozzle, grade) under this book; a grade without a price
    /// keeps `fallback`'s.
    pub fn nozzle_prices(
        grades: &BTreeMap<GradeId, UnitPrice>,
        nozzles: &[(NozzleId, GradeId, UnitPrice)],
    ) -> Vec<(NozzleId, UnitPrice)> {
        nozzles
            .iter()
            .map(|(nozzle, grade, fallback)| {
                (*nozzle, grades.get(grade).copied().unwrap_or(*fallback))
            })
            .collect()
    }
}

/// One pump's prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpPrices {
    /// The set the pump should have.
    pub target: Option<PriceSetId>,
    /// Its prices per nozzle.
    pub target_prices: Vec<(NozzleId, UnitPrice)>,
    /// True once the pump acknowledged the target prices.
    pub confirmed: bool,
    /// The set the pump had confirmed before the target (or the target, once confirmed).
    pub applied: Option<PriceSetId>,
    /// Its prices per nozzle.
    pub applied_prices: Vec<(NozzleId, UnitPrice)>,
    /// When the target prices were last sent.
    pub sent_at: Option<Instant>,
    /// Why programming last failed.
    pub last_error: Option<String>,
}

impl PumpPrices {
    /// A pump whose prices are `prices` of set `set`, confirmed or still to program.
    pub fn new(
        set: Option<PriceSetId>,
        prices: Vec<(NozzleId, UnitPrice)>,
        confirmed: bool,
    ) -> Self {
        Self {
            target: set,
            target_prices: prices.clone(),
            confirmed,
            applied: set,
            applied_prices: prices,
            sent_at: None,
            last_error: None,
        }
    }

    /// What the pump had confirmed before (after a restart with the target unconfirmed).
    pub fn with_applied(
        mut self,
        set: Option<PriceSetId>,
        prices: Vec<(NozzleId, UnitPrice)>,
    ) -> Self {
        self.applied = set;
        self.applied_prices = prices;
        self
    }

    /// A new target: to be programmed when the pump is idle.
    pub fn retarget(&mut self, set: Option<PriceSetId>, prices: Vec<(NozzleId, UnitPrice)>) {
        if self.confirmed {
            self.applied = self.target;
            self.applied_prices = std::mem::take(&mut self.target_prices);
        }
        self.target = set;
        self.target_prices = prices;
        self.confirmed = false;
        self.sent_at = None;
        self.last_error = None;
    }

    /// True when the target must be sent at `now` (not confirmed, not sent recently).
    pub fn due(&self, now: Instant) -> bool {
        !self.confirmed
            && self
                .sent_at
                .is_none_or(|at| now.saturating_duration_since(at) >= PRICES_RESEND)
    }

    /// The target was sent at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.sent_at = Some(now);
    }

    /// The pump acknowledged a price block; the set it confirms, if it is the target's
    /// and was not confirmed yet.
    pub fn accepted(&mut self, prices: &[(NozzleId, UnitPrice)]) -> Option<Option<PriceSetId>> {
        if self.confirmed || prices != self.target_prices.as_slice() {
            return None;
        }
        self.confirmed = true;
        self.last_error = None;
        self.applied = self.target;
        self.applied_prices = self.target_prices.clone();
        Some(self.target)
    }

    /// A price block failed; the target's set, if the block was the target's.
    pub fn failed(
        &mut self,
        prices: &[(NozzleId, UnitPrice)],
        reason: String,
    ) -> Option<Option<PriceSetId>> {
        if self.confirmed || prices != self.target_prices.as_slice() {
            return None;
        }
        self.last_error = Some(reason);
        Some(self.target)
    }

    /// The set a sale on `nozzle` at `unit_price` was dispensed under: the target once
    /// sent and matching, else the applied set.
    pub fn set_for_sale(&self, nozzle: NozzleId, unit_price: UnitPrice) -> Option<PriceSetId> {
        let price_of = |list: &[(NozzleId, UnitPrice)]| {
            list.iter().find(|(n, _)| *n == nozzle).map(|(_, p)| *p)
        };
        let target_matches = price_of(&self.target_prices) == Some(unit_price);
        if (self.confirmed || self.sent_at.is_some()) && target_matches {
            return self.target;
        }
        if price_of(&self.applied_prices) != Some(unit_price) {
            tracing::warn!(%nozzle, %unit_price,
                "the pump sold at a price of no known price set; the sale carries the last confirmed set");
        }
        self.applied
    }
}

/// Checks that every pump selling a grade of `changes` can take its new price exactly
/// (its decimals and digits: a price is never rounded); the reason names the position.
pub fn check_pumps_take(
    snapshot: &super::Snapshot,
    changes: &BTreeMap<GradeId, UnitPrice>,
) -> Result<(), String> {
    let mut grades = snapshot.prices.grades.clone();
    grades.extend(changes.iter().map(|(g, p)| (*g, *p)));
    for state in snapshot.positions.values() {
        let nozzles: Vec<_> = state
            .setup
            .nozzles
            .iter()
            .map(|n| (n.nozzle, n.grade, n.price))
            .collect();
        if !nozzles.iter().any(|(_, g, _)| changes.contains_key(g)) {
            continue;
        }
        let command =
            pump_protocols::PumpCommand::SetPrices(PriceBook::nozzle_prices(&grades, &nozzles));
        state
            .setup
            .commands
            .check(&state.setup.pump, &command)
            .map_err(|reason| {
                format!(
                    "the pump of position {} cannot take these prices: {reason}",
                    state.setup.position
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn price(cents: i64) -> UnitPrice {
        UnitPrice::new(Decimal::new(cents, 2))
    }

    #[test]
    fn a_new_target_is_confirmed_only_by_its_own_block() {
        let now = Instant::now();
        let mut pump = PumpPrices::new(None, vec![(NozzleId(1), price(100))], true);
        assert!(!pump.due(now));
        pump.retarget(Some(4), vec![(NozzleId(1), price(120))]);
        assert!(pump.due(now));
        pump.sent(now);
        assert!(!pump.due(now + Duration::from_secs(1)));
        assert!(pump.due(now + PRICES_RESEND));
        // The old block's acknowledgement says nothing of the new prices.
        assert_eq!(pump.accepted(&[(NozzleId(1), price(100))]), None);
        assert_eq!(pump.set_for_sale(NozzleId(1), price(100)), None);
        assert_eq!(pump.accepted(&[(NozzleId(1), price(120))]), Some(Some(4)));
        assert!(pump.confirmed);
        assert_eq!(pump.set_for_sale(NozzleId(1), price(120)), Some(4));
    }

    #[test]
    fn scheduled_sets_are_due_in_order_and_overlay_the_book() {
        let mut book = PriceBook::default();
        book.grades.insert(GradeId(1), price(100));
        book.grades.insert(GradeId(2), price(200));
        let at = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
        book.schedule(ScheduledSet {
            id: 2,
            prices: BTreeMap::from([(GradeId(2), price(250))]),
            effective_at: at(200),
        });
        assert!(book.due(at(199)).is_empty());
        let due = book.due(at(200));
        assert_eq!(due.len(), 1);
        book.apply(due[0].id, &due[0].prices);
        assert_eq!(book.current, Some(2));
        assert_eq!(book.grades.get(&GradeId(1)), Some(&price(100)));
        assert_eq!(book.grades.get(&GradeId(2)), Some(&price(250)));
        assert!(book.scheduled.is_empty());
    }
}
