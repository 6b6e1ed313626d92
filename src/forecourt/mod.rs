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

pub mod dispatch;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pump_protocols::{BusAddress, PositionId, Preset, PumpCommand, PumpEvent, PumpEventKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::journal::{CompletedSale, Journal, NewDispatch};
use crate::liveness::Heartbeat;
use crate::sale::SaleId;
use dispatch::{DispatchId, Effect, PositionSetup, PositionState, RequestRefused, SaleToRecord};

/// How often a failed journal write of a sale is retried.
const RECORD_RETRY: Duration = Duration::from_secs(1);

/// Longest an idle actor waits before turning its loop, so its heartbeat shows it alive.
const PULSE: Duration = Duration::from_secs(1);

/// A command for the pump at `address` on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineCommand {
    /// The pump.
    pub address: BusAddress,
    /// The command.
    pub command: PumpCommand,
}

/// The immutable picture of the forecourt that readers get.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every configured position.
    pub positions: BTreeMap<PositionId, PositionState>,
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
    /// A sale was paid, settled or voided in the journal: it is no longer payable.
    SaleClosed {
        /// The sale.
        sale: SaleId,
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

    /// Authorizes a dispatch; returns its journal id once journaled and sent to the line.
    pub async fn authorize(
        &self,
        position: PositionId,
        preset: Option<Preset>,
        attendant: Option<String>,
    ) -> Result<DispatchId, ForecourtError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Authorize {
                position,
                preset,
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
    heartbeat: Heartbeat,
}

impl Forecourt {
    /// Builds the actor from the configured positions, loading unpaid sales and open
    /// dispatches from the journal so a restart serves the same orders.
    pub async fn new(
        setups: Vec<PositionSetup>,
        lines: HashMap<String, mpsc::Sender<LineCommand>>,
        journal: Journal,
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
        let open = journal
            .open_dispatches()
            .await
            .map_err(|e| ForecourtError::Journal(e.to_string()))?;
        for dispatch in open {
            if let Some(state) = positions.get_mut(&dispatch.position) {
                state.dispatch = Some(dispatch::ActiveDispatch {
                    id: Some(dispatch.id),
                    attendant: dispatch.attendant,
                    preset: dispatch.preset,
                });
            }
        }
        let (tx, rx) = mpsc::channel(1024);
        let snapshot = Arc::new(Snapshot {
            positions: positions.clone(),
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
            heartbeat: Heartbeat::detached("forecourt"),
        };
        Ok((actor, ForecourtHandle { tx, snapshots }))
    }

    /// Beats `heartbeat` on every turn of the loop (the service watchdog watches it).
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Runs until `shutdown` fires or every handle is gone. Sales still waiting for the
    /// journal are retried one last time before returning.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut retry = tokio::time::interval(RECORD_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pulse = tokio::time::interval(PULSE);
        loop {
            self.heartbeat
                .beat_until(tokio::time::Instant::now() + PULSE)
                .await;
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(message) => self.handle(message).await,
                    None => break,
                },
                _ = retry.tick(), if !self.pending.is_empty() => self.retry_pending().await,
                _ = shutdown.cancelled() => break,
                // Nothing changed: no snapshot to publish.
                _ = pulse.tick() => continue,
            }
            self.publish_snapshot();
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

    fn publish_snapshot(&self) {
        self.publish.send_replace(Arc::new(Snapshot {
            positions: self.positions.clone(),
        }));
    }

    async fn handle(&mut self, message: Message) {
        match message {
            Message::Pump { line, event } => self.on_pump_event(&line, event).await,
            Message::Heard { line, pumps } => {
                let mut resend = Vec::new();
                for (address, at) in pumps {
                    if let Some(state) = self.position_mut(&line, address) {
                        state.last_heard = Some(at);
                        if let Some(Effect::Command(command)) = state.on_tick(at) {
                            resend.push((state.setup.position, address, command));
                        }
                    }
                }
                for (position, address, command) in resend {
                    tracing::warn!(%position,
                        "pump still not programmed; sending prices again (does the configuration \
                         price every nozzle of the head?)");
                    self.send(&line, address, command).await;
                }
            }
            Message::Authorize {
                position,
                preset,
                attendant,
                reply,
            } => {
                let result = self.authorize(position, preset, attendant).await;
                let _ = reply.send(result);
            }
            Message::Stop { position, reply } => {
                let result = self.stop(position).await;
                let _ = reply.send(result);
            }
            Message::SaleClosed { sale } => {
                for state in self.positions.values_mut() {
                    state.sale_closed(sale);
                }
            }
        }
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
        state.last_heard = Some(event.at);
        let effects = state.on_pump_event(&event.kind, event.at);
        let line = state.setup.line.clone();
        let address = state.setup.address;
        for effect in effects {
            match effect {
                Effect::RecordSale(record) => self.record(record).await,
                Effect::CancelDispatch { id, reason } => {
                    if let Err(e) = self.journal.cancel_dispatch(id, reason.to_owned()).await {
                        tracing::error!(dispatch = id, error = %e, "could not close dispatch");
                    }
                }
                Effect::Command(command) => self.send(&line, address, command).await,
            }
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
        };
        match self.journal.complete_sale(new).await {
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

    async fn send(&self, line: &str, address: BusAddress, command: PumpCommand) {
        let Some(sender) = self.lines.get(line) else {
            tracing::error!(line, "no task for line");
            return;
        };
        if sender.send(LineCommand { address, command }).await.is_err() {
            tracing::error!(line, "line task has stopped");
        }
    }

    async fn authorize(
        &mut self,
        position: PositionId,
        preset: Option<Preset>,
        attendant: Option<String>,
    ) -> Result<DispatchId, ForecourtError> {
        let state = self
            .positions
            .get(&position)
            .ok_or(ForecourtError::UnknownPosition(position))?;
        state.check_authorize()?;
        let line = state.setup.line.clone();
        let address = state.setup.address;
        let sender = self
            .lines
            .get(&line)
            .cloned()
            .ok_or_else(|| ForecourtError::LineDown(line.clone()))?;
        // Journal first: if the daemon dies right after, the restart still knows the
        // dispatch and records its sale from the pump's figures.
        let id = self
            .journal
            .start_dispatch(NewDispatch {
                position,
                attendant: attendant.clone(),
                preset,
                authorized_at: jiff::Timestamp::now(),
            })
            .await
            .map_err(|e| ForecourtError::Journal(e.to_string()))?;
        let command = match self.positions.get_mut(&position) {
            Some(state) => state.authorized(Some(id), attendant, preset),
            None => return Err(ForecourtError::UnknownPosition(position)),
        };
        sender
            .send(LineCommand { address, command })
            .await
            .map_err(|_| ForecourtError::LineDown(line))?;
        tracing::info!(%position, dispatch = id, ?preset, "dispatch authorized");
        Ok(id)
    }

    async fn stop(&mut self, position: PositionId) -> Result<(), ForecourtError> {
        let state = self
            .positions
            .get(&position)
            .ok_or(ForecourtError::UnknownPosition(position))?;
        let command = state.check_stop()?;
        let line = state.setup.line.clone();
        let address = state.setup.address;
        let sender = self
            .lines
            .get(&line)
            .ok_or_else(|| ForecourtError::LineDown(line.clone()))?;
        sender
            .send(LineCommand { address, command })
            .await
            .map_err(|_| ForecourtError::LineDown(line))?;
        Ok(())
    }
}
