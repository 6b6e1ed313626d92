//! The forecourt actor: the one owner of the live state of every position.
//!
//! Line tasks send pump events in; attendants' requests arrive from the admin API with a
//! `oneshot` for the answer; every change is published as an immutable [`Snapshot`]
//! through `tokio::sync::watch`. Readers (the order endpoint) never lock anything and never
//! wait on a pump or on this task. The rules live in [`dispatch`] as pure functions; this
//! module only carries out their effects: journal writes and pump commands.
//!
//! A completed dispatch is written to the journal *before* the snapshot shows it as
//! payable. If the journal fails, the record is kept in memory, retried, and logged in
//! full, and the position answers `timeout` meanwhile: a sale is never dropped.

pub mod answers;
pub mod dispatch;
pub mod evidence;
pub mod grades;
pub mod link;
pub mod prices;
mod station;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pump_protocols::{
    Authorization, BusAddress, GradeId, PositionId, Preset, PumpCommand, PumpEvent, PumpEventKind,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::journal::{
    baseline_json, CompletedSale, DispatchClosure, DispatchStage, Journal, NewAttention,
    NewDispatch, NozzleTotals, PriceSetId, PriceSetRecord, SeenCompletion,
};
use crate::liveness::Heartbeat;
use crate::sale::SaleId;
use answers::{AnswerRenderer, Answers, PreparedAnswer};
use dispatch::{
    ActiveDispatch, DispatchEnded, DispatchId, Effect, PositionSetup, PositionState,
    RequestRefused, SaleToRecord, Unproven,
};
use evidence::BookedFigures;
use prices::PriceBook;

/// How often a failed journal write of a sale is retried.
const RECORD_RETRY: Duration = Duration::from_secs(1);

/// How often every position's timers are checked (baseline and verification reads,
/// idle dispatches, price retries).
const TICK: Duration = Duration::from_millis(250);

/// A command for the pump at `address` on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineCommand {
    /// The pump.
    pub address: BusAddress,
    /// The command.
    pub command: PumpCommand,
}

/// The immutable picture of the forecourt that readers get. A new one is published only
/// when some position changed.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every configured position.
    pub positions: BTreeMap<PositionId, PositionState>,
    /// The station's prices and the sets scheduled.
    pub prices: PriceBook,
    /// The order endpoint's answer for every position, rendered from `positions`.
    pub answers: BTreeMap<PositionId, PreparedAnswer>,
}

impl Snapshot {
    /// When the pump of `position` last answered. Fresher than the copy in `positions`,
    /// which is as of the snapshot's publication.
    pub fn last_heard(&self, position: PositionId) -> Option<Instant> {
        match self.answers.get(&position) {
            Some(answer) => answer.heard.get(),
            None => self.positions.get(&position).and_then(|p| p.last_heard),
        }
    }

    /// Every position as it stands now: as published, with when its pump last answered.
    pub fn positions_now(&self) -> impl Iterator<Item = PositionState> + '_ {
        self.positions.iter().map(|(position, state)| {
            let mut state = state.clone();
            state.last_heard = self.last_heard(*position);
            state
        })
    }
}

/// Why an attendant's request failed.
#[derive(Debug, thiserror::Error)]
pub enum ForecourtError {
    /// No such position is configured.
    #[error("unknown position {0}")]
    UnknownPosition(PositionId),
    /// The pump's state does not allow it.
    #[error(transparent)]
    Refused(#[from] RequestRefused),
    /// The journal could not record the request; nothing was sent to the pump.
    #[error("journal: {0}")]
    Journal(String),
    /// The pump's line task is not running.
    #[error("line {0} is not running")]
    LineDown(String),
    /// The forecourt task has stopped.
    #[error("the forecourt task has stopped")]
    Stopped,
}

/// Messages into the actor.
#[derive(Debug)]
pub enum Message {
    /// An event from a pump on a line.
    Pump {
        /// The line's name.
        line: String,
        /// The event.
        event: PumpEvent,
    },
    /// Pumps on a line answered at these instants.
    Heard {
        /// The line's name.
        line: String,
        /// Last answer per pump.
        pumps: Vec<(BusAddress, Instant)>,
    },
    /// An attendant authorizes a dispatch.
    Authorize {
        /// The position.
        position: PositionId,
        /// Optional preset.
        preset: Option<Preset>,
        /// The grades it is limited to; empty for any grade.
        grades: Vec<GradeId>,
        /// The attendant's id.
        attendant: Option<String>,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<DispatchId, ForecourtError>>,
    },
    /// An attendant stops a dispatch.
    Stop {
        /// The position.
        position: PositionId,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<(), ForecourtError>>,
    },
    /// An attendant cancels a dispatch that is stuck without a pump.
    Cancel {
        /// The position.
        position: PositionId,
        /// Who asks (for the journal).
        by: Option<String>,
        /// Where the answer goes: the cancelled dispatch.
        reply: oneshot::Sender<Result<Option<DispatchId>, ForecourtError>>,
    },
    /// A sale was booked outside the pump's flow (an attendant booked an unproven
    /// completion): it becomes payable.
    SaleBooked {
        /// The sale.
        sale: Box<crate::sale::Sale>,
    },
    /// A sale was paid, settled or voided in the journal: it is no longer payable.
    SaleClosed {
        /// The sale.
        sale: SaleId,
    },
    /// Read every nozzle's totalizers now (a shift opens or closes).
    ReadAllTotals {
        /// Where the readings go.
        reply: oneshot::Sender<Vec<NozzleTotals>>,
    },
    /// A price set was journaled: in force now or at its time.
    PriceSet {
        /// The set.
        set: Box<PriceSetRecord>,
        /// Whether it is in force now.
        reply: oneshot::Sender<Result<bool, ForecourtError>>,
    },
    /// A scheduled price set was cancelled in the journal.
    PriceSetCancelled {
        /// The set.
        id: PriceSetId,
        /// Whether it was still scheduled.
        reply: oneshot::Sender<bool>,
    },
}

/// A cheap handle to the actor.
#[derive(Debug, Clone)]
pub struct ForecourtHandle {
    tx: mpsc::Sender<Message>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
}

impl ForecourtHandle {
    /// The latest snapshot; never waits.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// A receiver that is told about every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// The sender line tasks use.
    pub fn sender(&self) -> mpsc::Sender<Message> {
        self.tx.clone()
    }

    /// Authorizes a dispatch, limited to `grades` unless empty; returns its journal id
    /// once journaled and sent to the line.
    pub async fn authorize(
        &self,
        position: PositionId,
        preset: Option<Preset>,
        grades: Vec<GradeId>,
        attendant: Option<String>,
    ) -> Result<DispatchId, ForecourtError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Authorize {
                position,
                preset,
                grades,
                attendant,
                reply,
            })
            .await
            .map_err(|_| ForecourtError::Stopped)?;
        answer.await.map_err(|_| ForecourtError::Stopped)?
    }

    /// Stops the dispatch of a position.
    pub async fn stop(&self, position: PositionId) -> Result<(), ForecourtError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Stop { position, reply })
            .await
            .map_err(|_| ForecourtError::Stopped)?;
        answer.await.map_err(|_| ForecourtError::Stopped)?
    }

    /// Cancels the open dispatch of a position whose pump is not dispensing; returns the
    /// dispatch closed.
    pub async fn cancel(
        &self,
        position: PositionId,
        by: Option<String>,
    ) -> Result<Option<DispatchId>, ForecourtError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Cancel {
                position,
                by,
                reply,
            })
            .await
            .map_err(|_| ForecourtError::Stopped)?;
        answer.await.map_err(|_| ForecourtError::Stopped)?
    }

    /// Tells the actor a sale was booked by an attendant: it becomes payable.
    pub async fn sale_booked(&self, sale: crate::sale::Sale) -> Result<(), ForecourtError> {
        self.tx
            .send(Message::SaleBooked {
                sale: Box::new(sale),
            })
            .await
            .map_err(|_| ForecourtError::Stopped)
    }

    /// Reads every nozzle's totalizers (offline pumps and unanswered reads are marked).
    pub async fn read_all_totals(&self) -> Result<Vec<NozzleTotals>, ForecourtError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::ReadAllTotals { reply })
            .await
            .map_err(|_| ForecourtError::Stopped)?;
        answer.await.map_err(|_| ForecourtError::Stopped)
    }

    /// Hands a journaled price set to the actor; true when it is in force at once.
    pub async fn price_set(&self, set: PriceSetRecord) -> Result<bool, ForecourtError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::PriceSet {
                set: Box::new(set),
                reply,
            })
            .await
            .map_err(|_| ForecourtError::Stopped)?;
        answer.await.map_err(|_| ForecourtError::Stopped)?
    }

    /// Tells the actor a price set was cancelled in the journal; true when it was still
    /// scheduled in the book.
    pub async fn price_set_cancelled(&self, id: PriceSetId) -> Result<bool, ForecourtError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::PriceSetCancelled { id, reply })
            .await
            .map_err(|_| ForecourtError::Stopped)?;
        answer.await.map_err(|_| ForecourtError::Stopped)
    }

    /// Tells the actor a sale is no longer payable.
    pub async fn sale_closed(&self, sale: SaleId) -> Result<(), ForecourtError> {
        self.tx
            .send(Message::SaleClosed { sale })
            .await
            .map_err(|_| ForecourtError::Stopped)
    }
}

/// The actor's state and its connections.
pub struct Forecourt {
    positions: BTreeMap<PositionId, PositionState>,
    by_address: HashMap<(String, BusAddress), PositionId>,
    lines: HashMap<String, mpsc::Sender<LineCommand>>,
    journal: Journal,
    pending: Vec<SaleToRecord>,
    rx: mpsc::Receiver<Message>,
    publish: watch::Sender<Arc<Snapshot>>,
    answers: Answers,
    heartbeat: Heartbeat,
    price_book: PriceBook,
    sweeps: Vec<station::Sweep>,
    clock: Arc<dyn Clock>,
    links: link::Links,
}

impl Forecourt {
    /// Builds the actor from the configured positions, loading unpaid sales and open
    /// dispatches from the journal so a restart serves the same orders. `renderer` turns
    /// each position's state into the order endpoint's answer when it changes.
    pub async fn new(
        setups: Vec<PositionSetup>,
        lines: HashMap<String, mpsc::Sender<LineCommand>>,
        journal: Journal,
        renderer: Arc<dyn AnswerRenderer>,
    ) -> Result<(Self, ForecourtHandle), ForecourtError> {
        let mut positions = BTreeMap::new();
        let mut by_address = HashMap::new();
        for setup in setups {
            by_address.insert((setup.line.clone(), setup.address), setup.position);
            positions.insert(setup.position, PositionState::new(setup));
        }
        let unpaid = journal
            .unpaid_sales()
            .await
            .map_err(|e| ForecourtError::Journal(e.to_string()))?;
        for sale in unpaid {
            match positions.get_mut(&sale.position) {
                Some(state) => state.sale_recorded(sale),
                None => tracing::warn!(
                    sale = sale.id,
                    position = %sale.position,
                    "unpaid sale of a position that is no longer configured"
                ),
            }
        }
        let journal_error =
            |e: crate::journal::JournalError| ForecourtError::Journal(e.to_string());
        let now = crate::lines::now();
        for (position, state) in positions.iter_mut() {
            state.last_sale = journal
                .last_sale(*position)
                .await
                .map_err(journal_error)?
                .map(|sale| BookedFigures {
                    nozzle: sale.nozzle,
                    volume: sale.volume,
                    amount: sale.amount,
                    unit_price: sale.unit_price,
                });
        }
        let open = journal.open_dispatches().await.map_err(journal_error)?;
        for dispatch in open {
            let Some(state) = positions.get_mut(&dispatch.position) else {
                continue;
            };
            if dispatch.stage == DispatchStage::Requested {
                // Journaled but never handed to the line: the pump cannot have it.
                let reason = "the daemon stopped before the authorization reached the pump; \
                              authorize again";
                journal
                    .cancel_dispatch(
                        dispatch.id,
                        DispatchClosure {
                            reason: reason.to_owned(),
                            refused: false,
                            by: None,
                        },
                    )
                    .await
                    .map_err(journal_error)?;
                tracing::warn!(position = %dispatch.position, dispatch = dispatch.id, reason,
                    "dispatch closed at start");
                state.last_ended = Some(DispatchEnded {
                    id: Some(dispatch.id),
                    reason: reason.to_owned(),
                    refused: false,
                });
                continue;
            }
            state.dispatch = Some(ActiveDispatch::restored(
                dispatch.id,
                dispatch.attendant,
                dispatch.preset,
                dispatch.grades,
                dispatch.stage,
                dispatch.baseline,
                now,
            ));
        }
        let price_book = station::load_prices(&journal, &mut positions).await?;
        let links = link::Links::load(&journal, crate::lines::now())
            .await
            .map_err(journal_error)?;
        let (tx, rx) = mpsc::channel(1024);
        let mut answers = Answers::new(renderer, crate::lines::now());
        let snapshot = Arc::new(Snapshot {
            answers: answers.prepare(&positions),
            positions: positions.clone(),
            prices: price_book.clone(),
        });
        let (publish, snapshots) = watch::channel(snapshot);
        let actor = Self {
            positions,
            by_address,
            lines,
            journal,
            pending: Vec::new(),
            rx,
            publish,
            answers,
            heartbeat: Heartbeat::detached("forecourt"),
            price_book,
            sweeps: Vec::new(),
            clock: Arc::new(SystemClock),
            links,
        };
        Ok((actor, ForecourtHandle { tx, snapshots }))
    }

    /// Beats `heartbeat` on every turn of the loop (the service watchdog watches it).
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Reads wall-clock time (scheduled price sets) from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs until `shutdown` fires or every handle is gone. Sales still waiting for the
    /// journal are retried one last time before returning.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut retry = tokio::time::interval(RECORD_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat
                .beat_until(tokio::time::Instant::now() + TICK)
                .await;
            let mut completion = None;
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(message) => {
                        completion = completion_stamp(&message);
                        self.handle(message).await;
                    }
                    None => break,
                },
                _ = retry.tick(), if !self.pending.is_empty() => self.retry_pending().await,
                _ = tick.tick() => self.tick(crate::lines::now()).await,
                _ = shutdown.cancelled() => break,
            }
            let handled = crate::lines::now();
            self.publish_snapshot();
            if let Some((read_at, took_at)) = completion {
                // Where the time from the line to a payable answer goes (bench/latency.sh).
                let us =
                    |from: Instant, to: Instant| to.saturating_duration_since(from).as_micros();
                let published = crate::lines::now();
                tracing::debug!(
                    queued_us = us(read_at, took_at),
                    handled_us = us(took_at, handled),
                    published_us = us(handled, published),
                    "completion processed"
                );
            }
        }
        // Drain what the lines already reported so no completion is left unwritten.
        while let Ok(message) = self.rx.try_recv() {
            self.handle(message).await;
        }
        self.retry_pending().await;
        for record in &self.pending {
            tracing::error!(?record, "sale could not be journaled before shutdown");
        }
        self.publish_snapshot();
    }

    /// Publishes the state when it differs from the last snapshot: readers (and the
    /// order endpoint's answers) only change with the forecourt, never with the tick.
    fn publish_snapshot(&mut self) {
        let unchanged = {
            let published = self.publish.borrow();
            !answers::changed(&published.positions, &mut self.positions)
                && published.prices == self.price_book
                && !self.answers.stale()
        };
        if unchanged {
            return;
        }
        let snapshot = Snapshot {
            answers: self.answers.prepare(&self.positions),
            positions: self.positions.clone(),
            prices: self.price_book.clone(),
        };
        self.publish.send_replace(Arc::new(snapshot));
    }

    async fn handle(&mut self, message: Message) {
        match message {
            Message::Pump { line, event } => self.on_pump_event(&line, event).await,
            Message::Heard { line, pumps } => {
                for (address, at) in pumps {
                    self.heard(&line, address, at);
                }
            }
            Message::Authorize {
                position,
                preset,
                grades,
                attendant,
                reply,
            } => {
                let result = self.authorize(position, preset, grades, attendant).await;
                let _ = reply.send(result);
            }
            Message::Stop { position, reply } => {
                let result = self.stop(position).await;
                let _ = reply.send(result);
            }
            Message::Cancel {
                position,
                by,
                reply,
            } => {
                let result = self.cancel(position, by).await;
                let _ = reply.send(result);
            }
            Message::SaleBooked { sale } => {
                if let Some(state) = self.positions.get_mut(&sale.position) {
                    state.sale_recorded(*sale);
                }
            }
            Message::SaleClosed { sale } => {
                for state in self.positions.values_mut() {
                    state.sale_closed(sale);
                }
            }
            Message::ReadAllTotals { reply } => {
                self.start_sweep(reply, crate::lines::now()).await;
            }
            Message::PriceSet { set, reply } => {
                let result = self.price_set(*set).await;
                let _ = reply.send(result);
            }
            Message::PriceSetCancelled { id, reply } => {
                let _ = reply.send(self.price_set_cancelled(id));
            }
        }
    }

    /// The pump at `address` answered at `at`: readers see it without a new snapshot.
    fn heard(&mut self, line: &str, address: BusAddress, at: Instant) {
        let Some(state) = self.position_mut(line, address) else {
            return;
        };
        state.last_heard = Some(at);
        let position = state.setup.position;
        self.answers.heard(position).set(Some(at));
    }

    fn position_mut(&mut self, line: &str, address: BusAddress) -> Option<&mut PositionState> {
        let position = self.by_address.get(&(line.to_owned(), address))?;
        self.positions.get_mut(position)
    }

    async fn on_pump_event(&mut self, line: &str, event: PumpEvent) {
        let Some(state) = self.position_mut(line, event.pump) else {
            tracing::warn!(line, pump = %event.pump, "event from an unconfigured pump");
            return;
        };
        let position = state.setup.position;
        match &event.kind {
            PumpEventKind::Alarm { code, description } => {
                tracing::warn!(%position, code, description, "pump alarm");
            }
            PumpEventKind::CommandFailed { command, failure } => {
                tracing::warn!(%position, ?command, ?failure, "pump command failed");
            }
            PumpEventKind::StatusChanged(status) => {
                tracing::info!(%position, status = status.as_str(), "pump status");
            }
            _ => tracing::debug!(%position, kind = ?event.kind, "pump event"),
        }
        let (was, heard_before) = (state.pump_status, state.last_heard);
        self.heard(line, event.pump, event.at);
        let Some(state) = self.position_mut(line, event.pump) else {
            return;
        };
        let effects = state.on_pump_event(&event.kind, event.at);
        if let Some(state) = self.positions.get(&position) {
            let now = (event.at, self.clock.now());
            self.links
                .observe(&self.journal, state, was, heard_before, now)
                .await;
        }
        self.apply(position, effects).await;
        if !self.sweeps.is_empty() {
            self.sweep_event(position, &event.kind);
            self.finish_sweeps(event.at);
        }
    }

    async fn tick(&mut self, now: Instant) {
        self.activate_due().await;
        self.links
            .never_heard(
                &self.journal,
                self.positions.values(),
                (now, self.clock.now()),
            )
            .await;
        self.finish_sweeps(now);
        let due: Vec<_> = self
            .positions
            .iter_mut()
            .map(|(position, state)| (*position, state.on_tick(now)))
            .filter(|(_, effects)| !effects.is_empty())
            .collect();
        for (position, effects) in due {
            if effects
                .iter()
                .any(|e| matches!(e, Effect::Command(PumpCommand::SetPrices(_))))
            {
                tracing::warn!(%position,
                    "pump still not programmed; sending prices again (does the configuration \
                     price every nozzle of the head?)");
            }
            self.apply(position, effects).await;
        }
    }

    /// Carries out a position's effects in order. A journal write that must precede a
    /// command (the authorization's `sent` step) gates it.
    async fn apply(&mut self, position: PositionId, effects: Vec<Effect>) {
        let Some(state) = self.positions.get(&position) else {
            return;
        };
        let line = state.setup.line.clone();
        let address = state.setup.address;
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::RecordSale(record) => self.record(record).await,
                Effect::CloseDispatch {
                    id,
                    reason,
                    refused,
                } => {
                    tracing::warn!(%position, dispatch = id, refused, %reason, "dispatch closed");
                    let closure = DispatchClosure {
                        reason,
                        refused,
                        by: None,
                    };
                    if let Err(e) = self.journal.cancel_dispatch(id, closure).await {
                        tracing::error!(dispatch = id, error = %e, "could not close dispatch");
                    }
                }
                Effect::SendAuthorization {
                    id,
                    baseline,
                    command,
                } => {
                    let journaled = match id {
                        Some(id) => self
                            .journal
                            .advance_dispatch(id, DispatchStage::Sent, baseline)
                            .await
                            .map_err(|e| e.to_string()),
                        None => Ok(()),
                    };
                    match journaled {
                        Ok(()) => queue.push_front(Effect::Command(command)),
                        Err(e) => {
                            tracing::error!(%position, error = %e,
                                "could not journal the authorization as sent; not sending it");
                            if let Some(state) = self.positions.get_mut(&position) {
                                queue.extend(state.send_failed(format!(
                                    "the journal could not record the authorization: {e}"
                                )));
                            }
                        }
                    }
                }
                Effect::AdvanceDispatch { id, stage } => {
                    if let Err(e) = self.journal.advance_dispatch(id, stage, None).await {
                        tracing::error!(dispatch = id, error = %e, "could not journal stage");
                    }
                }
                Effect::RaiseAttention(unproven) => self.raise_attention(unproven).await,
                Effect::PriceStep { set, step } => {
                    let at = self.clock.now();
                    if let Err(e) = self
                        .journal
                        .price_set_pump_step(set, position, at, step.clone())
                        .await
                    {
                        tracing::error!(%position, price_set = set, ?step, error = %e,
                            "could not journal a price step");
                    }
                }
                Effect::Command(command) => {
                    if !self.send(&line, address, command.clone()).await {
                        // The line task is gone: the command fails as undeliverable, so a
                        // dispatch waiting on it is closed rather than left open.
                        let failed = PumpEventKind::CommandFailed {
                            command,
                            failure: pump_protocols::CommandFailure::Invalid(format!(
                                "line {line} is not running"
                            )),
                        };
                        if let Some(state) = self.positions.get_mut(&position) {
                            queue.extend(state.on_pump_event(&failed, crate::lines::now()));
                        }
                    }
                }
            }
        }
    }

    async fn raise_attention(&self, unproven: Unproven) {
        let c = unproven.completion;
        tracing::warn!(position = %unproven.position, dispatch = ?unproven.dispatch,
            volume = %c.volume, amount = %c.amount, reason = %unproven.reason,
            "completion not booked: it needs an attendant's decision");
        let evidence = json!({
            "before": unproven.before.map(|r| baseline_json(&[r])),
            "after": unproven.after.map(|r| baseline_json(&[r])),
        });
        let new = NewAttention {
            position: unproven.position,
            dispatch: unproven.dispatch,
            kind: "unproven_completion".to_owned(),
            reason: unproven.reason,
            completion: SeenCompletion {
                nozzle: c.nozzle,
                grade: c.grade,
                volume: c.volume,
                amount: c.amount,
                unit_price: c.unit_price,
                attendant: unproven.attendant,
            },
            evidence,
        };
        if let Err(e) = self.journal.raise_attention(new.clone()).await {
            tracing::error!(?new, error = %e, "could not journal an unproven completion");
        }
    }

    async fn record(&mut self, record: SaleToRecord) {
        let position = record.position;
        let new = CompletedSale {
            dispatch: record.dispatch,
            position,
            nozzle: record.transaction.nozzle,
            grade: record.transaction.grade,
            volume: record.transaction.volume,
            amount: record.transaction.amount,
            unit_price: record.transaction.unit_price,
            attendant: record.attendant.clone(),
            completed_at: jiff::Timestamp::now(),
            price_set: record.price_set,
        };
        let started = crate::lines::now();
        let committed = self.journal.complete_sale(new).await;
        tracing::debug!(
            %position,
            commit_us = crate::lines::now()
                .saturating_duration_since(started)
                .as_micros(),
            "sale journaled"
        );
        match committed {
            Ok(sale) => {
                tracing::info!(
                    sale = sale.id,
                    reference = %sale.external_reference,
                    %position,
                    volume = %sale.volume,
                    amount = %sale.amount,
                    "sale ready for payment"
                );
                if let Some(state) = self.positions.get_mut(&position) {
                    state.sale_recorded(sale);
                }
            }
            Err(e) => {
                tracing::error!(?record, error = %e, "could not journal a completed sale; will retry");
                if let Some(state) = self.positions.get_mut(&position) {
                    state.sale_record_failed();
                }
                self.pending.push(record);
            }
        }
    }

    async fn retry_pending(&mut self) {
        for record in std::mem::take(&mut self.pending) {
            self.record(record).await;
        }
    }

    /// Hands a command to its line; false when the line task is not running.
    async fn send(&self, line: &str, address: BusAddress, command: PumpCommand) -> bool {
        let Some(sender) = self.lines.get(line) else {
            tracing::error!(line, "no task for line");
            return false;
        };
        if sender.send(LineCommand { address, command }).await.is_err() {
            tracing::error!(line, "line task has stopped");
            return false;
        }
        true
    }

    async fn authorize(
        &mut self,
        position: PositionId,
        preset: Option<Preset>,
        grades: Vec<GradeId>,
        attendant: Option<String>,
    ) -> Result<DispatchId, ForecourtError> {
        let state = self
            .positions
            .get(&position)
            .ok_or(ForecourtError::UnknownPosition(position))?;
        state.check_authorize()?;
        let authorization = Authorization {
            preset,
            nozzles: grades::nozzles_for(&state.setup, &grades)?,
        };
        grades::check_authorization(&state.setup, &authorization)?;
        let line = state.setup.line.clone();
        if self.lines.get(&line).is_none_or(|s| s.is_closed()) {
            return Err(ForecourtError::LineDown(line));
        }
        // Journal first: if the daemon dies right after, the restart still knows the
        // dispatch and records its sale from the pump's figures.
        let id = self
            .journal
            .start_dispatch(NewDispatch {
                position,
                attendant: attendant.clone(),
                preset,
                grades: grades.clone(),
                authorized_at: jiff::Timestamp::now(),
            })
            .await
            .map_err(|e| ForecourtError::Journal(e.to_string()))?;
        let effects = match self.positions.get_mut(&position) {
            Some(state) => {
                state.authorized(Some(id), attendant, authorization, crate::lines::now())
            }
            None => return Err(ForecourtError::UnknownPosition(position)),
        };
        tracing::info!(%position, dispatch = id, ?preset, ?grades, "dispatch authorized");
        self.apply(position, effects).await;
        Ok(id)
    }

    async fn stop(&mut self, position: PositionId) -> Result<(), ForecourtError> {
        let state = self
            .positions
            .get_mut(&position)
            .ok_or(ForecourtError::UnknownPosition(position))?;
        let effects = state.stop()?;
        tracing::info!(%position, "stop requested");
        self.apply(position, effects).await;
        Ok(())
    }

    async fn cancel(
        &mut self,
        position: PositionId,
        by: Option<String>,
    ) -> Result<Option<DispatchId>, ForecourtError> {
        let state = self
            .positions
            .get_mut(&position)
            .ok_or(ForecourtError::UnknownPosition(position))?;
        let id = state.dispatch.as_ref().and_then(|d| d.id);
        let effects = state.cancel(by.as_deref())?;
        let mut rest = Vec::new();
        for effect in effects {
            match effect {
                // Closed here with who asked, so the journal says who cancelled it.
                Effect::CloseDispatch {
                    id,
                    reason,
                    refused,
                } => {
                    let closure = DispatchClosure {
                        reason,
                        refused,
                        by: by.clone(),
                    };
                    self.journal
                        .cancel_dispatch(id, closure)
                        .await
                        .map_err(|e| ForecourtError::Journal(e.to_string()))?;
                }
                other => rest.push(other),
            }
        }
        tracing::info!(%position, dispatch = ?id, by = ?by, "dispatch cancelled");
        self.apply(position, rest).await;
        Ok(id)
    }
}

/// For a pump's completed transaction: when the line read it and when the actor took it.
fn completion_stamp(message: &Message) -> Option<(Instant, Instant)> {
    match message {
        Message::Pump { event, .. }
            if matches!(event.kind, PumpEventKind::TransactionCompleted(_)) =>
        {
            Some((event.at, crate::lines::now()))
        }
        _ => None,
    }
}
