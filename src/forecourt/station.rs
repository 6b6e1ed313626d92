//! Station-wide work of the forecourt actor: reading every pump's totalizers at once (for
//! a shift's open and close) and moving the station to a new price set.
//!
//! A totals sweep asks every online pump for the totals of each configured nozzle and
//! answers once all are in, or when [`SWEEP_WAIT`] has passed with the missing ones
//! marked; an offline pump is marked at once. A price set is activated when its time
//! comes (by the injected wall clock), journaled first, and every position is given the
//! new target (unless it was cancelled: the journal refuses it and it leaves the book); [`super::dispatch`] programs it into each pump when that pump is idle. At
//! start, the price book and each pump's confirmed set are loaded from the journal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pump_protocols::{NozzleId, PositionId, PumpCommand, PumpEventKind, PumpStatus, Totals};
use tokio::sync::oneshot;

use super::dispatch::Effect;
use super::dispatch::PositionState;
use super::prices::{PriceBook, PumpPrices, ScheduledSet};
use super::{Forecourt, ForecourtError};
use crate::journal::{Journal, JournalError, NozzleTotals, PriceSetRecord};

/// How long a totals sweep waits for the pumps.
pub const SWEEP_WAIT: Duration = Duration::from_secs(10);

/// One request for every nozzle's totals.
#[derive(Debug)]
pub(super) struct Sweep {
    readings: BTreeMap<(PositionId, NozzleId), NozzleTotals>,
    until: Instant,
    reply: oneshot::Sender<Vec<NozzleTotals>>,
}

impl Sweep {
    fn done(&self) -> bool {
        self.readings
            .values()
            .all(|r| r.volume.is_some() || r.error.is_some())
    }

    fn finish(self) {
        let _ = self.reply.send(self.readings.into_values().collect());
    }
}

impl Forecourt {
    /// Starts a sweep of every nozzle's totals; the answer goes to `reply`.
    pub(super) async fn start_sweep(
        &mut self,
        reply: oneshot::Sender<Vec<NozzleTotals>>,
        now: Instant,
    ) {
        let mut readings = BTreeMap::new();
        let mut asks = Vec::new();
        for (position, state) in &self.positions {
            let offline = state.pump_status == PumpStatus::Offline;
            for n in &state.setup.nozzles {
                readings.insert(
                    (*position, n.nozzle),
                    NozzleTotals {
                        position: *position,
                        nozzle: n.nozzle,
                        grade: Some(n.grade),
                        volume: None,
                        amount: None,
                        error: offline.then(|| "pump offline".to_owned()),
                    },
                );
                if !offline {
                    asks.push((*position, n.nozzle));
                }
            }
        }
        self.sweeps.push(Sweep {
            readings,
            until: now + SWEEP_WAIT,
            reply,
        });
        for (position, nozzle) in asks {
            self.apply(
                position,
                vec![Effect::Command(PumpCommand::ReadTotals(nozzle))],
            )
            .await;
        }
        self.finish_sweeps(now);
    }

    /// Feeds a pump event to the open sweeps.
    pub(super) fn sweep_event(&mut self, position: PositionId, event: &PumpEventKind) {
        for sweep in &mut self.sweeps {
            match event {
                PumpEventKind::Totals(Totals {
                    nozzle,
                    volume,
                    amount,
                    ..
                }) => {
                    if let Some(r) = sweep.readings.get_mut(&(position, *nozzle)) {
                        r.volume = *volume;
                        r.amount = *amount;
                        if volume.is_none() {
                            r.error = Some("the pump gave no volume total".to_owned());
                        }
                    }
                }
                PumpEventKind::CommandFailed {
                    command: PumpCommand::ReadTotals(nozzle),
                    failure,
                } => {
                    if let Some(r) = sweep.readings.get_mut(&(position, *nozzle)) {
                        if r.volume.is_none() {
                            r.error = Some(format!("not read: {failure:?}"));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Answers the sweeps that are complete or out of time at `now`.
    pub(super) fn finish_sweeps(&mut self, now: Instant) {
        for mut sweep in std::mem::take(&mut self.sweeps) {
            if now >= sweep.until {
                for r in sweep.readings.values_mut() {
                    if r.volume.is_none() && r.error.is_none() {
                        r.error = Some("the pump did not answer in time".to_owned());
                    }
                }
            }
            if sweep.done() {
                sweep.finish();
            } else {
                self.sweeps.push(sweep);
            }
        }
    }

    /// A price set was journaled: activated at once when due, else scheduled. Answers
    /// whether it is in force now.
    pub(super) async fn price_set(&mut self, set: PriceSetRecord) -> Result<bool, ForecourtError> {
        let scheduled = ScheduledSet::from(&set);
        if set.effective_at > self.clock.now() {
            self.price_book.schedule(scheduled);
            return Ok(false);
        }
        self.activate(scheduled).await
    }

    /// A scheduled set was cancelled in the journal: it leaves the book.
    pub(super) fn price_set_cancelled(&mut self, id: crate::journal::PriceSetId) -> bool {
        self.price_book.unschedule(id)
    }

    /// Activates every scheduled set whose time has come.
    pub(super) async fn activate_due(&mut self) {
        for set in self.price_book.due(self.clock.now()) {
            let id = set.id;
            if let Err(e) = self.activate(set).await {
                tracing::error!(price_set = id, error = %e,
                    "could not activate a scheduled price set; will retry");
                return;
            }
        }
    }

    /// Makes `set` the station's prices; false when it was cancelled meanwhile (the
    /// journal refuses to activate it, so it leaves the book unapplied).
    async fn activate(&mut self, set: ScheduledSet) -> Result<bool, ForecourtError> {
        match self
            .journal
            .activate_price_set(set.id, self.clock.now())
            .await
        {
            Ok(()) => {}
            Err(JournalError::PriceSetCancelled(id)) => {
                tracing::info!(price_set = id, "price set was cancelled; not applied");
                self.price_book.unschedule(id);
                return Ok(false);
            }
            Err(e) => return Err(ForecourtError::Journal(e.to_string())),
        }
        self.price_book.apply(set.id, &set.prices);
        tracing::info!(price_set = set.id, prices = ?self.price_book.grades, "price set in force");
        for state in self.positions.values_mut() {
            let prices = PriceBook::nozzle_prices(&self.price_book.grades, &nozzle_grades(state));
            state.pricing.retarget(Some(set.id), prices);
        }
        Ok(true)
    }
}

/// (nozzle, grade, configured price) of a position.
pub(super) fn nozzle_grades(
    state: &PositionState,
) -> Vec<(NozzleId, pump_protocols::GradeId, pump_protocols::UnitPrice)> {
    state
        .setup
        .nozzles
        .iter()
        .map(|n| (n.nozzle, n.grade, n.price))
        .collect()
}

/// The station's prices from the configuration and the journal's price sets, and each
/// position's target and confirmed set.
pub(super) async fn load_prices(
    journal: &Journal,
    positions: &mut BTreeMap<PositionId, PositionState>,
) -> Result<PriceBook, ForecourtError> {
    let sets = journal
        .price_sets()
        .await
        .map_err(|e| ForecourtError::Journal(e.to_string()))?;
    let configured = positions
        .values()
        .flat_map(|s| s.setup.nozzles.iter().map(|n| (n.grade, n.price)))
        .collect();
    let (book, history) = PriceBook::load(configured, &sets);
    let Some(current) = book.current else {
        return Ok(book);
    };
    for (position, state) in positions.iter_mut() {
        let nozzles = nozzle_grades(state);
        let confirmed_by_pump = |id: i64| {
            sets.iter().find(|s| s.id == id).is_some_and(|s| {
                s.pumps
                    .iter()
                    .any(|p| p.position == *position && p.confirmed_at.is_some())
            })
        };
        let target = PriceBook::nozzle_prices(&book.grades, &nozzles);
        let mut pricing = PumpPrices::new(Some(current), target, confirmed_by_pump(current));
        if !pricing.confirmed {
            // What the pump has is the latest set it confirmed (or the configuration).
            let applied = history.iter().rev().find(|(id, _)| confirmed_by_pump(*id));
            pricing = match applied {
                Some((id, grades)) => {
                    pricing.with_applied(Some(*id), PriceBook::nozzle_prices(grades, &nozzles))
                }
                None => {
                    pricing.with_applied(None, nozzles.iter().map(|(n, _, p)| (*n, *p)).collect())
                }
            };
        }
        state.pricing = pricing;
    }
    Ok(book)
}
