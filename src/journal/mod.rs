//! The sale journal: one thread owns the SQLite connection; async callers hold a handle.
//!
//! Owns the journal database (docs/sale-lifecycle.md; one thread owns the connection).
//! A std thread named `journal` owns the rusqlite [`Connection`]; every [`Journal`] clone
//! sends it a request over a bounded tokio channel and awaits a `oneshot` reply, so no
//! blocking SQLite call ever runs on an async worker and no lock guards the connection.
//! Requests run one at a time in arrival order, each in its own transaction.
//!
//! Durability: WAL mode with `synchronous=FULL`, so when `complete_sale`, `mark_paid` or
//! `upsert_payment` returns, the change is on disk. A request that reached the thread
//! runs to its end even if the caller stops waiting (a cancelled HTTP handler cannot
//! half-record a sale). Times the journal records itself (`events.at`, `created_at`,
//! `updated_at`, `cancelled_at`) come from the wall clock of the journal thread; business
//! times (authorized, completed, served, paid) are given by the caller.
//!
//! Never here: pump state, payment decisions, Mercado Pago calls, signature checks. The
//! schema and its conventions are documented in [`schema`]; the sale identity rules in
//! [`identity`].
//!
//! Files: [`schema`] (pragmas, migrations), [`identity`] (invoice/reference formats),
//! [`sales`], [`dispatches`], [`events`], [`notifications`] (with [`hints`] for the
//! unverified ones), [`payments`] (with refunds), [`users`] and [`audit`] (access),
//! [`outbox`] (events for headquarters, written with every change above),
//! `row` (value formats and typed decoding), [`error`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use jiff::Timestamp;
use prometheus_client::metrics::histogram::Histogram;
use pump_protocols::PositionId;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::sale::{Sale, SaleId};

pub mod attention;
pub mod audit;
pub mod dispatches;
pub mod error;
pub mod events;
pub mod hints;
pub mod identity;
pub mod maintenance;
pub mod notifications;
pub mod outbox;
pub mod payments;
pub mod pos;
pub mod price_plans;
pub mod prices;
pub mod prune;
mod row;
pub mod sales;
pub mod schema;
pub mod shifts;
pub mod users;

#[cfg(test)]
mod outbox_tests;
#[cfg(test)]
mod price_plans_tests;
#[cfg(test)]
mod tests;

pub use attention::{Attention, AttentionId, NewAttention, Resolution, SeenCompletion};
pub use audit::{AuditEntry, AuditOutcome, AuditRecord};
pub use dispatches::{
    baseline_json, Dispatch, DispatchClosure, DispatchId, DispatchStage, NewDispatch, TotalsReading,
};
pub use error::JournalError;
pub use events::{Event, EventId, NewEvent};
pub use hints::HintPolicy;
pub use identity::{SaleIdentity, StoreId};
pub use notifications::{
    NewNotification, Notification, NotificationId, NotificationOutcome, NotificationSource,
    NotificationState, StoreOutcome, Verification,
};
pub use outbox::OutboxEvent;
pub use payments::{NewRefund, PaymentChange, PaymentRecord, Refund, RefundOutcome};
pub use pos::PosRecord;
pub use price_plans::{PlanReceipt, PlanStanding};
pub use prices::{NewPriceSet, PriceSetId, PriceSetRecord, PumpProgress, PumpStep};
pub use sales::{CompletedSale, SaleFilter, SaleRecord, ServedTally};
pub use shifts::{NewShift, NozzleTotals, Shift, ShiftId, ShiftReporter};
pub use users::{NewUser, ServiceToken, User, UserChange};

use error::Result;

/// How many requests may wait for the journal thread before senders wait their turn.
const QUEUE: usize = 1024;

/// Settings of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSettings {
    /// The station's store id (APIES / SiteID), 1 to 5 letters or digits; it goes into
    /// every sale's reference and transaction id ([`identity`]).
    pub store_id: String,
}

/// What the journal thread owns.
struct Db {
    conn: Connection,
    store: StoreId,
}

type Job = Box<dyn FnOnce(&mut Db) + Send>;

enum Message {
    Job(Job),
    Close(oneshot::Sender<Result<()>>),
}

/// A cheap, cloneable handle to the journal thread.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    write_latency: Histogram,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path`, applies pending migrations and starts
    /// the journal thread. The directory must exist: it is never created here.
    pub async fn open(path: impl AsRef<Path>, settings: JournalSettings) -> Result<Journal> {
        let path = path.as_ref().to_path_buf();
        let store = StoreId::parse(&settings.store_id)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_path = path.clone();
        let write_latency = Histogram::new(crate::metrics::JOURNAL_WRITE_BUCKETS);
        let observed = write_latency.clone();
        let thread = std::thread::Builder::new()
            .name("journal".to_owned())
            .spawn(move || run(&thread_path, store, rx, ready_tx, observed))
            .map_err(JournalError::Spawn)?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(Journal {
                inner: Arc::new(Inner {
                    tx,
                    thread: Mutex::new(Some(thread)),
                    path,
                    write_latency,
                }),
            }),
            Ok(Err(e)) => {
                join(thread).await;
                Err(e)
            }
            Err(_) => Err(JournalError::Lost),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How long each request that wrote took on the journal thread, commit included
    /// (measured there, so the queue wait is not in it), in seconds.
    pub fn write_latency(&self) -> Histogram {
        self.inner.write_latency.clone()
    }

    /// Closes the journal: requests already queued still run, later ones get
    /// [`JournalError::Closed`]; then the WAL is checkpointed into the main file, the
    /// connection closed and the thread joined. Closing twice is harmless.
    pub async fn close(&self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        if self.inner.tx.send(Message::Close(reply)).await.is_err() {
            return Ok(());
        }
        let result = done.await.map_err(|_| JournalError::Lost)?;
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            join(thread).await;
        }
        result
    }

    /// Resolves once the journal thread takes no more requests: after [`close`](Self::close),
    /// or when the thread ended abnormally (supervision watches for the latter).
    pub async fn stopped(&self) {
        self.inner.tx.closed().await;
    }

    /// Runs `f` on the journal thread and returns its result.
    async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |db| {
            // The caller may have stopped waiting; the work is done and committed anyway.
            let _ = reply.send(f(db));
        });
        self.inner
            .tx
            .send(Message::Job(job))
            .await
            .map_err(|_| JournalError::Closed)?;
        answer.await.map_err(|_| JournalError::Lost)?
    }

    // ---- shifts ----

    /// The open shift, if any.
    pub async fn current_shift(&self) -> Result<Option<Shift>> {
        self.call(|db| shifts::current(&db.conn)).await
    }

    /// One shift.
    pub async fn shift(&self, id: ShiftId) -> Result<Option<Shift>> {
        self.call(move |db| shifts::get(&db.conn, id)).await
    }

    /// The latest shifts, newest first.
    pub async fn recent_shifts(&self, limit: u32) -> Result<Vec<Shift>> {
        self.call(move |db| shifts::recent(&db.conn, limit)).await
    }

    /// How many shifts opened at or after `since` (for the default shift code).
    pub async fn shifts_opened_since(&self, since: Timestamp) -> Result<u32> {
        self.call(move |db| shifts::opened_since(&db.conn, since))
            .await
    }

    /// Opens a shift ([`JournalError::ShiftOpen`] while another is open).
    pub async fn open_shift(&self, new: NewShift) -> Result<Shift> {
        self.call(move |db| shifts::open(&mut db.conn, &new)).await
    }

    /// Closes the open shift ([`JournalError::NoShiftOpen`] when none is).
    pub async fn close_shift(
        &self,
        at: Timestamp,
        by: String,
        totals: Vec<NozzleTotals>,
        reporter: shifts::ShiftReporter,
    ) -> Result<Shift> {
        self.call(move |db| shifts::close(&mut db.conn, at, &by, &totals, reporter))
            .await
    }

    /// The sales journaled during a shift, oldest first.
    pub async fn shift_sales(&self, id: ShiftId) -> Result<Vec<SaleRecord>> {
        self.call(move |db| sales::for_shift(&db.conn, id)).await
    }

    // ---- price sets ----

    /// Records a price set.
    pub async fn add_price_set(&self, new: NewPriceSet) -> Result<PriceSetRecord> {
        self.call(move |db| prices::add(&db.conn, Timestamp::now(), &new))
            .await
    }

    /// Every price set, oldest first, with each pump's progress.
    pub async fn price_sets(&self) -> Result<Vec<PriceSetRecord>> {
        self.call(|db| prices::all(&db.conn)).await
    }

    /// Marks a price set as the station's prices from `at`.
    pub async fn activate_price_set(&self, id: PriceSetId, at: Timestamp) -> Result<()> {
        self.call(move |db| prices::activate(&db.conn, id, at))
            .await
    }

    /// Cancels a price set that is not in force yet ([`JournalError::PriceSetInForce`],
    /// [`JournalError::PriceSetCancelled`] otherwise); answers the set as cancelled.
    pub async fn cancel_price_set(
        &self,
        id: PriceSetId,
        at: Timestamp,
        by: String,
    ) -> Result<PriceSetRecord> {
        self.call(move |db| prices::cancel(&db.conn, id, at, &by))
            .await
    }

    /// Records a step of programming a price set into the pump of `position`.
    pub async fn price_set_pump_step(
        &self,
        id: PriceSetId,
        position: PositionId,
        at: Timestamp,
        step: PumpStep,
    ) -> Result<()> {
        self.call(move |db| prices::pump_step(&db.conn, id, position, at, &step))
            .await
    }

    // ---- central price plans ----

    /// Whether a central price plan message is new to the station.
    pub async fn price_plan_standing(&self, receipt: PlanReceipt) -> Result<PlanStanding> {
        self.call(move |db| price_plans::standing(&db.conn, &receipt))
            .await
    }

    /// Records a central price plan as applied with its price set `new` (audited as `hq`).
    pub async fn apply_price_plan(
        &self,
        at: Timestamp,
        receipt: PlanReceipt,
        new: NewPriceSet,
    ) -> Result<PriceSetRecord> {
        self.call(move |db| price_plans::apply(&db.conn, at, &receipt, &new))
            .await
    }

    /// Records a central price plan as refused: audited and reported to headquarters.
    pub async fn refuse_price_plan(
        &self,
        at: Timestamp,
        receipt: PlanReceipt,
        reason: String,
    ) -> Result<()> {
        self.call(move |db| price_plans::refuse(&db.conn, at, &receipt, &reason))
            .await
    }

    /// Records a central price plan as ignored (replayed or superseded).
    pub async fn ignore_price_plan(
        &self,
        at: Timestamp,
        receipt: PlanReceipt,
        reason: String,
    ) -> Result<()> {
        self.call(move |db| price_plans::ignore(&db.conn, at, &receipt, &reason))
            .await
    }

    // ---- POS ----

    /// Stores a position's POS as Mercado Pago answered it.
    pub async fn upsert_pos(&self, pos: PosRecord) -> Result<()> {
        self.call(move |db| pos::upsert(&db.conn, &pos)).await
    }

    /// Every stored POS, by position.
    pub async fn pos_records(&self) -> Result<Vec<PosRecord>> {
        self.call(|db| pos::all(&db.conn)).await
    }

    // ---- dispatches ----

    /// Records a dispatch started by an attendant (one open dispatch per position).
    pub async fn start_dispatch(&self, new: NewDispatch) -> Result<DispatchId> {
        self.call(move |db| dispatches::start(&mut db.conn, Timestamp::now(), &new))
            .await
    }

    /// One dispatch by id.
    pub async fn dispatch(&self, id: DispatchId) -> Result<Option<Dispatch>> {
        self.call(move |db| dispatches::get(&db.conn, id)).await
    }

    /// The open dispatch of a position, if any.
    pub async fn open_dispatch(&self, position: PositionId) -> Result<Option<Dispatch>> {
        self.call(move |db| dispatches::open_for(&db.conn, position))
            .await
    }

    /// Every open dispatch (restart recovery), by position.
    pub async fn open_dispatches(&self) -> Result<Vec<Dispatch>> {
        self.call(|db| dispatches::open_all(&db.conn)).await
    }

    /// Closes an open dispatch without a sale.
    pub async fn cancel_dispatch(&self, id: DispatchId, closure: DispatchClosure) -> Result<()> {
        self.call(move |db| dispatches::cancel(&mut db.conn, Timestamp::now(), id, &closure))
            .await
    }

    /// Moves a dispatch's authorization forward a step, storing the baseline totals when
    /// given. Durable when it returns.
    pub async fn advance_dispatch(
        &self,
        id: DispatchId,
        stage: DispatchStage,
        baseline: Option<Vec<TotalsReading>>,
    ) -> Result<()> {
        self.call(move |db| {
            dispatches::advance(
                &mut db.conn,
                Timestamp::now(),
                id,
                stage,
                baseline.as_deref(),
            )
        })
        .await
    }

    // ---- attention ----

    /// Raises a completion nobody could vouch for.
    pub async fn raise_attention(&self, new: NewAttention) -> Result<AttentionId> {
        self.call(move |db| attention::raise(&mut db.conn, Timestamp::now(), &new))
            .await
    }

    /// Open items (oldest first), or the latest items of any state (newest first).
    pub async fn attention_items(&self, open_only: bool, limit: u32) -> Result<Vec<Attention>> {
        self.call(move |db| attention::list(&db.conn, open_only, limit))
            .await
    }

    /// Books or dismisses an open item; booking returns the new payable sale.
    pub async fn resolve_attention(
        &self,
        id: AttentionId,
        resolution: Resolution,
        by: Option<String>,
    ) -> Result<Option<Sale>> {
        self.call(move |db| {
            attention::resolve(
                &mut db.conn,
                &db.store,
                Timestamp::now(),
                id,
                &resolution,
                by.as_deref(),
            )
        })
        .await
    }

    /// The latest sale of a position, whatever its status.
    pub async fn last_sale(&self, position: PositionId) -> Result<Option<Sale>> {
        self.call(move |db| sales::last_for(&db.conn, position))
            .await
    }

    // ---- sales ----

    /// Records a completed dispatch as a payable sale: one transaction bumps the invoice
    /// counter, inserts the sale, links the dispatch and writes the event. Durable when
    /// it returns.
    pub async fn complete_sale(&self, completed: CompletedSale) -> Result<Sale> {
        self.call(move |db| sales::complete(&mut db.conn, &db.store, Timestamp::now(), &completed))
            .await
    }

    /// Every payable (`ready`) sale, oldest first.
    pub async fn unpaid_sales(&self) -> Result<Vec<Sale>> {
        self.call(|db| sales::unpaid(&db.conn)).await
    }

    /// The newest payable sale of a position: the one the order endpoint serves.
    pub async fn latest_payable(&self, position: PositionId) -> Result<Option<Sale>> {
        self.call(move |db| sales::latest_payable(&db.conn, position))
            .await
    }

    /// One sale by id.
    pub async fn sale(&self, id: SaleId) -> Result<Option<Sale>> {
        self.call(move |db| sales::get(&db.conn, id)).await
    }

    /// One sale with its bookkeeping (served, paid, notes, dispatch).
    pub async fn sale_record(&self, id: SaleId) -> Result<Option<SaleRecord>> {
        self.call(move |db| sales::record(&db.conn, id)).await
    }

    /// A sale by external reference, ignoring case (Mercado Pago ignores it too).
    pub async fn sale_by_reference(&self, reference: &str) -> Result<Option<Sale>> {
        let reference = reference.to_owned();
        self.call(move |db| sales::by_reference(&db.conn, &reference))
            .await
    }

    /// The newest `limit` sales with their bookkeeping, newest first.
    pub async fn recent_sales(&self, limit: u32) -> Result<Vec<SaleRecord>> {
        self.call(move |db| sales::recent(&db.conn, limit)).await
    }

    /// Sales matching `filter`, newest first.
    pub async fn search_sales(&self, filter: SaleFilter) -> Result<Vec<SaleRecord>> {
        self.call(move |db| sales::search(&db.conn, &filter)).await
    }

    /// Adds servings counted in memory to the sales' served counts; a sale's first
    /// serving also writes its `sale_served` event (see [`sales::record_served`]).
    pub async fn record_served(&self, tallies: Vec<ServedTally>) -> Result<()> {
        self.call(move |db| sales::record_served(&mut db.conn, Timestamp::now(), &tallies))
            .await
    }

    /// Payable sales already served at least once (the served tracker's start state).
    pub async fn served_unpaid_sales(&self) -> Result<Vec<SaleId>> {
        self.call(|db| sales::served_unpaid(&db.conn)).await
    }

    /// Stores the sale's Mercado Pago preference id unless one is stored already;
    /// returns the stored id (the first one wins, so every scan serves the same one).
    pub async fn set_preference(
        &self,
        id: SaleId,
        preference_id: impl Into<String>,
    ) -> Result<String> {
        let preference_id = preference_id.into();
        self.call(move |db| {
            sales::set_preference(&mut db.conn, Timestamp::now(), id, &preference_id)
        })
        .await
    }

    /// `ready` → `paid` by this payment. Any other starting status is
    /// [`JournalError::InvalidTransition`] and changes nothing. Durable when it returns.
    pub async fn mark_paid(
        &self,
        id: SaleId,
        payment_id: impl Into<String>,
        paid_at: Timestamp,
    ) -> Result<Sale> {
        let payment_id = payment_id.into();
        self.call(move |db| {
            let outcome = sales::Outcome::Paid {
                payment_id: &payment_id,
                paid_at,
            };
            sales::finish(&mut db.conn, Timestamp::now(), id, outcome)
        })
        .await
    }

    /// `ready` → `settled_other` (cash, card at the counter), with a note.
    pub async fn settle_other(&self, id: SaleId, note: impl Into<String>) -> Result<Sale> {
        self.close_sale(id, note.into(), false).await
    }

    /// `ready` → `voided`, with a note.
    pub async fn void(&self, id: SaleId, note: impl Into<String>) -> Result<Sale> {
        self.close_sale(id, note.into(), true).await
    }

    /// Closes a ready sale without a payment: settled another way, or voided.
    async fn close_sale(&self, id: SaleId, note: String, voided: bool) -> Result<Sale> {
        self.call(move |db| {
            let outcome = if voided {
                sales::Outcome::Voided(&note)
            } else {
                sales::Outcome::SettledOther(&note)
            };
            sales::finish(&mut db.conn, Timestamp::now(), id, outcome)
        })
        .await
    }

    // ---- events ----

    /// Appends an event (for changes recorded outside the journal, e.g. a pump going
    /// offline).
    pub async fn append_event(&self, event: NewEvent) -> Result<EventId> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let id = events::append(&tx, Timestamp::now(), &event)?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// The last `pump_offline`/`pump_online` event of every position that has one.
    pub async fn last_pump_links(&self) -> Result<Vec<Event>> {
        self.call(|db| events::last_pump_links(&db.conn)).await
    }

    /// Events of one sale, oldest first.
    pub async fn events_for_sale(&self, id: SaleId) -> Result<Vec<Event>> {
        self.call(move |db| events::for_sale(&db.conn, id)).await
    }

    /// The newest `limit` events, newest first.
    pub async fn recent_events(&self, limit: u32) -> Result<Vec<Event>> {
        self.call(move |db| events::recent(&db.conn, limit)).await
    }

    /// One event by id.
    pub async fn event(&self, id: EventId) -> Result<Option<Event>> {
        self.call(move |db| events::get(&db.conn, id)).await
    }

    // ---- outbox ----

    /// The oldest `limit` events not yet acknowledged by headquarters' broker, in order.
    pub async fn outbox_unsent(&self, limit: u32) -> Result<Vec<OutboxEvent>> {
        self.call(move |db| outbox::unsent(&db.conn, limit)).await
    }

    /// Marks events sent (acknowledged by the broker), by `seq`.
    pub async fn outbox_mark_sent(&self, seqs: Vec<i64>) -> Result<()> {
        self.call(move |db| outbox::mark_sent(&mut db.conn, Timestamp::now(), &seqs))
            .await
    }

    /// How many events wait to be published (the chain backlog; a gauge for metrics).
    pub async fn outbox_backlog(&self) -> Result<u64> {
        self.call(|db| outbox::backlog(&db.conn)).await
    }

    /// The backlog with its oldest event and the last acknowledgement.
    pub async fn outbox_state(&self) -> Result<outbox::Backlog> {
        self.call(|db| outbox::backlog_state(&db.conn)).await
    }

    // ---- notifications ----

    /// Stores a notification delivery, deduplicated by `(topic, resource_id, request_id)`.
    pub async fn store_notification(&self, new: NewNotification) -> Result<StoreOutcome> {
        self.call(move |db| notifications::store(&mut db.conn, &new))
            .await
    }

    /// One notification by id.
    pub async fn notification(&self, id: NotificationId) -> Result<Option<Notification>> {
        self.call(move |db| notifications::get(&db.conn, id)).await
    }

    /// Pending notifications due at `now`, earliest first, at most `limit`.
    pub async fn pending_notifications(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        self.call(move |db| notifications::pending(&db.conn, now, limit))
            .await
    }

    /// Ends the processing of a notification (done or given up).
    pub async fn finish_notification(
        &self,
        id: NotificationId,
        outcome: NotificationOutcome,
    ) -> Result<()> {
        self.call(move |db| notifications::finish(&db.conn, id, &outcome))
            .await
    }

    /// Records a failed attempt and schedules the next one.
    pub async fn retry_notification(
        &self,
        id: NotificationId,
        error: impl Into<String>,
        next_attempt_at: Timestamp,
    ) -> Result<()> {
        let error = error.into();
        self.call(move |db| notifications::retry(&db.conn, id, &error, next_attempt_at))
            .await
    }

    /// Records why a pending notification waits, without counting an attempt.
    pub async fn defer_notification(
        &self,
        id: NotificationId,
        error: impl Into<String>,
    ) -> Result<()> {
        let error = error.into();
        self.call(move |db| notifications::defer(&db.conn, id, &error))
            .await
    }

    /// Stores an unverified delivery (IPN or unsigned webhook) under the bounds of
    /// [`hints`]: deduplicated by topic and resource, without its body, pruned.
    pub async fn store_hint(
        &self,
        new: NewNotification,
        policy: HintPolicy,
    ) -> Result<StoreOutcome> {
        self.call(move |db| hints::store(&mut db.conn, &new, policy))
            .await
    }

    /// How many sales are in each state, by the state's name.
    pub async fn sale_counts(&self) -> Result<Vec<(String, u64)>> {
        self.call(|db| sales::counts_by_status(&db.conn)).await
    }

    /// Proves the journal can take a write now: the thread answers and SQLite grants
    /// the write lock (`BEGIN IMMEDIATE`, then rolled back, so nothing is written). A
    /// read-only file, a locked database or a dead thread fail here.
    pub async fn probe_write(&self) -> Result<()> {
        self.call(|db| {
            db.conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            Ok(())
        })
        .await
    }

    /// How many unverified deliveries are stored.
    pub async fn hint_count(&self) -> Result<u32> {
        self.call(|db| hints::count(&db.conn)).await
    }

    // ---- users, service tokens, audit ----

    /// One user by name.
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let name = name.to_owned();
        self.call(move |db| users::by_name(&db.conn, &name)).await
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<User>> {
        self.call(|db| users::all(&db.conn)).await
    }

    /// Creates a user; a taken name is [`JournalError::NameTaken`].
    pub async fn add_user(&self, new: NewUser) -> Result<User> {
        self.call(move |db| users::add(&db.conn, Timestamp::now(), &new))
            .await
    }

    /// Creates each user whose name is free (attendants from the configuration at start);
    /// returns how many were created.
    pub async fn seed_users(&self, new: Vec<NewUser>) -> Result<usize> {
        self.call(move |db| users::seed(&mut db.conn, Timestamp::now(), &new))
            .await
    }

    /// Changes a user's secret or enabled state.
    pub async fn change_user(&self, name: &str, change: UserChange) -> Result<User> {
        let name = name.to_owned();
        self.call(move |db| users::change(&db.conn, Timestamp::now(), &name, &change))
            .await
    }

    /// One service token by name.
    pub async fn service_token(&self, name: &str) -> Result<Option<ServiceToken>> {
        let name = name.to_owned();
        self.call(move |db| users::token(&db.conn, &name)).await
    }

    /// Every service token.
    pub async fn service_tokens(&self) -> Result<Vec<ServiceToken>> {
        self.call(|db| users::tokens(&db.conn)).await
    }

    /// Stores a service token's hash under `name`, replacing one of that name when
    /// `replace` (else a taken name is [`JournalError::NameTaken`]).
    pub async fn put_service_token(
        &self,
        name: &str,
        role: crate::access::Role,
        secret_hash: String,
        replace: bool,
    ) -> Result<ServiceToken> {
        let name = name.to_owned();
        self.call(move |db| {
            users::put_token(
                &db.conn,
                Timestamp::now(),
                &name,
                role,
                &secret_hash,
                replace,
            )
        })
        .await
    }

    /// Revokes a service token.
    pub async fn revoke_service_token(&self, name: &str) -> Result<ServiceToken> {
        let name = name.to_owned();
        self.call(move |db| users::revoke_token(&db.conn, Timestamp::now(), &name))
            .await
    }

    /// Appends an audit row.
    pub async fn audit(&self, entry: AuditEntry) -> Result<i64> {
        self.call(move |db| {
            let tx = db.conn.transaction()?;
            let id = audit::append(&tx, &entry)?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// The newest `limit` audit rows with an id below `before`, newest first.
    pub async fn audit_trail(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditRecord>> {
        self.call(move |db| audit::recent(&db.conn, limit, before))
            .await
    }

    // ---- payments and refunds ----

    /// Inserts or refreshes a payment read from the API (an event when its state
    /// changed). Durable when it returns.
    pub async fn upsert_payment(&self, payment: PaymentRecord) -> Result<PaymentChange> {
        self.call(move |db| payments::upsert(&mut db.conn, Timestamp::now(), &payment))
            .await
    }

    /// One payment by id.
    pub async fn payment(&self, payment_id: &str) -> Result<Option<PaymentRecord>> {
        let payment_id = payment_id.to_owned();
        self.call(move |db| payments::get(&db.conn, &payment_id))
            .await
    }

    /// Payments matched to a sale.
    pub async fn payments_for_sale(&self, id: SaleId) -> Result<Vec<PaymentRecord>> {
        self.call(move |db| payments::for_sale(&db.conn, id)).await
    }

    /// Payments flagged for the attendant (mismatches, duplicates, refunds,
    /// chargebacks), most recently seen first.
    pub async fn flagged_payments(&self, limit: u32) -> Result<Vec<PaymentRecord>> {
        self.call(move |db| payments::flagged(&db.conn, limit))
            .await
    }

    /// Records a refund request (status `requested`), or returns the earlier refund with
    /// the same idempotency key; the key reused with other figures is an error.
    pub async fn insert_refund(&self, refund: NewRefund) -> Result<RefundOutcome> {
        self.call(move |db| payments::insert_refund(&mut db.conn, Timestamp::now(), &refund))
            .await
    }

    /// Records Mercado Pago's answer to a refund.
    pub async fn update_refund(
        &self,
        id: i64,
        mp_refund_id: Option<String>,
        status: impl Into<String>,
    ) -> Result<Refund> {
        let status = status.into();
        self.call(move |db| {
            payments::update_refund(
                &mut db.conn,
                Timestamp::now(),
                id,
                mp_refund_id.as_deref(),
                &status,
            )
        })
        .await
    }

    /// Refunds still `requested` (asked of Mercado Pago, answer not recorded), oldest
    /// first.
    pub async fn requested_refunds(&self) -> Result<Vec<Refund>> {
        self.call(|db| payments::requested_refunds(&db.conn)).await
    }

    /// Refunds of a payment, oldest first.
    pub async fn refunds_for_payment(&self, payment_id: &str) -> Result<Vec<Refund>> {
        let payment_id = payment_id.to_owned();
        self.call(move |db| payments::refunds_for(&db.conn, &payment_id))
            .await
    }

    /// Runs raw SQL on the journal thread (tests only: corrupting rows on purpose).
    #[cfg(test)]
    async fn raw(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> Result<()> {
        self.call(move |db| f(&db.conn).map_err(JournalError::from))
            .await
    }
}

/// Waits for the journal thread to end without blocking an async worker.
async fn join(thread: JoinHandle<()>) {
    let joined = tokio::task::spawn_blocking(move || thread.join()).await;
    if !matches!(joined, Ok(Ok(()))) {
        tracing::error!("the journal thread ended abnormally");
    }
}

/// The journal thread: open, report readiness, serve until closed or abandoned.
fn run(
    path: &Path,
    store: StoreId,
    rx: mpsc::Receiver<Message>,
    ready: oneshot::Sender<Result<()>>,
    write_latency: Histogram,
) {
    match open_db(path, store) {
        Ok(db) => {
            // If the opener gave up waiting, its sender is gone too and `serve` ends at
            // once.
            let _ = ready.send(Ok(()));
            serve(db, rx, &write_latency);
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
}

fn open_db(path: &Path, store: StoreId) -> Result<Db> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(JournalError::MissingDirectory(dir.to_path_buf()));
    }
    let mut conn = Connection::open(path)?;
    schema::configure(&conn)?;
    let version = schema::migrate(&mut conn)?;
    tracing::info!(path = %path.display(), version, "journal open");
    Ok(Db { conn, store })
}

fn serve(mut db: Db, mut rx: mpsc::Receiver<Message>, write_latency: &Histogram) {
    let mut closers = Vec::new();
    // After `close`, the channel refuses new requests but still yields the queued ones,
    // so everything accepted before the close is answered.
    while let Some(message) = rx.blocking_recv() {
        match message {
            Message::Job(job) => {
                // A panic inside a request drops its reply (the caller gets `Lost`) and
                // its open transaction rolls back; the journal keeps serving the others.
                let started = std::time::Instant::now();
                let changes = db.conn.total_changes();
                if catch_unwind(AssertUnwindSafe(|| job(&mut db))).is_err() {
                    tracing::error!("a journal request panicked; its transaction was rolled back");
                }
                // Reads are not writes: only requests that changed rows are timed.
                if db.conn.total_changes() != changes {
                    write_latency.observe(started.elapsed().as_secs_f64());
                }
            }
            Message::Close(reply) => {
                closers.push(reply);
                rx.close();
            }
        }
    }
    let mut result = shutdown(db);
    for reply in closers {
        let _ = reply.send(std::mem::replace(&mut result, Ok(())));
    }
}

/// Folds the WAL into the main file and closes the connection.
fn shutdown(db: Db) -> Result<()> {
    db.conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    db.conn.close().map_err(|(_, e)| JournalError::Sqlite(e))?;
    tracing::info!("journal closed");
    Ok(())
}
