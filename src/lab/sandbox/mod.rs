//! `forecourtd sandbox`: a local stand-in for the Mercado Pago API and app (docs/mercadopago.md §15).
//!
//! - **API** (`api.rs`): the paths, shapes and status codes of §5 and §8–§11 — OAuth token,
//!   test users, POS, preferences, payments get/search, merchant orders, refunds — with
//!   Bearer or `?access_token=` auth for one seller whose `collector_id` is its token's
//!   last segment.
//! - **App** (`scan.rs`): a scan GETs the POS `url` as the app does, polls while the
//!   station answers `in_process`, then creates a merchant order and a payment whose outcome
//!   follows the test-card holder name (`cards.rs`), and notifies (`notify.rs`) in the
//!   format `source_news` selects, IPN or signed webhook, retrying like MP.
//! - **Knobs** (not MP behaviour): failing or slow API calls; dropped, duplicated, delayed,
//!   reordered or badly signed notifications.
//! - **Control** (`control.rs`): the same scan, knobs and read access over HTTP under
//!   `/_sandbox/…`, so a demo can drive a sandbox in another process.
//!
//! Use it as a library with [`Sandbox::start`], or from the CLI with
//! [`run_sandbox_command`]. It binds loopback addresses only and keeps everything in
//! memory; it never talks to the real Mercado Pago.

mod api;
pub mod cards;
mod control;
pub mod notify;
mod pos;
pub mod scan;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::mercadopago::client::{http_client, HttpClient, MpError};
use crate::mercadopago::types::{MerchantOrder, Payment, Pos, Preference, QrOrder, Refund};
use crate::mercadopago::{collector_id_from_token, Secret};

pub use cards::CardHolder;
pub use notify::{Channel, DeliveryAttempt, DeliveryRecord, DeliveryState};
pub use scan::{ScanError, ScanOptions, ScanOutcome, ScanTarget};

/// Access token of the sandbox's seller unless configured (collector 446566691).
pub const DEFAULT_ACCESS_TOKEN: &str =
    "TEST-0000000000000000-112326-5f3c0d5f8a6e4b7c9d1e2f3a4b5c6d7e-446566691";
/// Webhook secret unless configured (the key of docs/mercadopago.md §7's test vectors).
pub const DEFAULT_WEBHOOK_SECRET: &str = "forecourtd-test-secret";
/// OAuth client id unless configured.
pub const DEFAULT_CLIENT_ID: &str = "0000000000000000";
/// OAuth client secret unless configured.
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-client-secret";

/// Where the sandbox's idea of "now" comes from (dates of resources, webhook `ts`).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(jiff::Timestamp::now))
    }

    /// Always the same instant (deterministic tests).
    pub fn fixed(at: jiff::Timestamp) -> Self {
        Clock(Arc::new(move || at))
    }

    /// Any function.
    pub fn from_fn(f: impl Fn() -> jiff::Timestamp + Send + Sync + 'static) -> Self {
        Clock(Arc::new(f))
    }

    /// The current instant.
    pub fn now(&self) -> jiff::Timestamp {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// How notifications are retried (docs/mercadopago.md §6, in-person IPN: +30 s, +5 min, +30 min).
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Waits before each retry after a failed delivery; its length is the retry count.
    pub retry_schedule: Vec<Duration>,
    /// Bound on one delivery attempt (MP: 5 s for in-person IPN, 22 s for webhooks).
    pub timeout: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            retry_schedule: vec![
                Duration::from_secs(30),
                Duration::from_secs(5 * 60),
                Duration::from_secs(30 * 60),
            ],
            timeout: Duration::from_secs(5),
        }
    }
}

/// Everything the sandbox is configured with.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// Address to bind; loopback only (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// The seller's access token.
    pub access_token: Secret,
    /// The seller's user id; `None` takes the token's last segment.
    pub collector_id: Option<i64>,
    /// OAuth client id accepted by `POST /oauth/token`.
    pub client_id: String,
    /// OAuth client secret accepted by `POST /oauth/token`.
    pub client_secret: Secret,
    /// Secret that signs webhooks (§7).
    pub webhook_secret: Secret,
    /// Application id carried by webhooks.
    pub application_id: i64,
    /// Site (`MLA`).
    pub site_id: String,
    /// Currency when an order names none.
    pub currency_id: String,
    /// `live_mode` of payments and notifications (false: test credentials).
    pub live_mode: bool,
    /// Hosts a POS `url` may use (MP's "host enabling", 403 otherwise); `None`: all.
    pub enabled_url_hosts: Option<Vec<String>>,
    /// Defaults for scans.
    pub scan: ScanOptions,
    /// Notification retries.
    pub notify: NotifySettings,
    /// The sandbox's clock.
    pub clock: Clock,
}

impl SandboxSettings {
    /// Defaults for a sandbox on `bind`.
    pub fn new(bind: SocketAddr) -> Self {
        SandboxSettings {
            bind,
            access_token: Secret::new(DEFAULT_ACCESS_TOKEN),
            collector_id: None,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: Secret::new(DEFAULT_CLIENT_SECRET),
            webhook_secret: Secret::new(DEFAULT_WEBHOOK_SECRET),
            application_id: 1_234_567_890_123_456,
            site_id: "MLA".to_owned(),
            currency_id: "ARS".to_owned(),
            live_mode: false,
            enabled_url_hosts: None,
            scan: ScanOptions::default(),
            notify: NotifySettings::default(),
            clock: Clock::system(),
        }
    }
}

/// Test knobs: not Mercado Pago behaviour, ways to make it misbehave on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// The next N API calls answer `api_fail_status`.
    pub api_fail_next: u32,
    /// Status of a failed call (429, 500, 503…).
    pub api_fail_status: u16,
    /// `Retry-After` seconds sent with a failing 429 or 503.
    pub api_retry_after_secs: Option<u64>,
    /// The next N API calls wait `api_slow_ms` before answering.
    pub api_slow_next: u32,
    /// How long a slow call waits.
    pub api_slow_ms: u64,
    /// The next N notifications are never sent.
    pub drop_next: u32,
    /// The next N notifications are sent twice.
    pub duplicate_next: u32,
    /// Every batch of notifications waits this long before its first attempt.
    pub delay_ms: u64,
    /// The next N batches are held back and sent after the following batch.
    pub reorder_next: u32,
    /// The next N webhooks carry a signature made with the wrong secret.
    pub bad_signature_next: u32,
    /// The next N authorized POST calls (preferences, refunds, POS) are carried out, but
    /// their answer is held until the sandbox shuts down: the caller never learns the
    /// outcome, as a station that crashes while waiting.
    pub stall_posts_next: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            api_fail_next: 0,
            api_fail_status: 503,
            api_retry_after_secs: Some(1),
            api_slow_next: 0,
            api_slow_ms: 0,
            drop_next: 0,
            duplicate_next: 0,
            delay_ms: 0,
            reorder_next: 0,
            bad_signature_next: 0,
            stall_posts_next: 0,
        }
    }
}

/// The sandbox could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The address is not a loopback address.
    #[error("the sandbox binds loopback addresses only, not {0}")]
    NotLoopback(SocketAddr),
    /// The access token does not end in a user id and none was configured.
    #[error("the access token does not end in a user id; set the collector id")]
    NoCollectorId,
    /// Binding failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The outgoing HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] MpError),
}

/// Mutable state behind one lock, never held across an `.await`.
pub(crate) struct State {
    pub store: state::Store,
    pub knobs: Knobs,
    pub deliveries: Vec<DeliveryRecord>,
    pub held: Vec<Vec<notify::Outgoing>>,
    pub next_notification_id: i64,
}

/// What every task of one sandbox shares.
pub(crate) struct Shared {
    pub settings: SandboxSettings,
    pub collector_id: i64,
    pub base_url: String,
    pub http: HttpClient,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// Bumped whenever a delivery record changes, so tests await instead of sleeping.
    pub deliveries_changed: watch::Sender<u64>,
    /// Signs IPN headers that, as at MP, never verify with the application's secret.
    pub ipn_secret: Secret,
    state: Mutex<State>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.settings.clock.now()
    }

    pub fn bump_deliveries(&self) {
        self.deliveries_changed.send_modify(|n| *n += 1);
    }
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Binds `settings.bind`, starts serving and returns a handle. Dropping the handle
    /// stops the sandbox.
    pub async fn start(settings: SandboxSettings) -> Result<SandboxHandle, SandboxError> {
        if !settings.bind.ip().is_loopback() {
            return Err(SandboxError::NotLoopback(settings.bind));
        }
        let collector_id = settings
            .collector_id
            .or_else(|| collector_id_from_token(settings.access_token.expose()))
            .ok_or(SandboxError::NoCollectorId)?;
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: settings.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: settings.bind,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let store = state::Store::new(state::StoreConfig {
            seller: state::Seller {
                collector_id,
                nickname: format!("TESTSELLER{collector_id}"),
            },
            site_id: settings.site_id.clone(),
            currency_id: settings.currency_id.clone(),
            live_mode: settings.live_mode,
            client_id: settings.client_id.clone(),
            base_url: base_url.clone(),
            enabled_url_hosts: settings.enabled_url_hosts.clone(),
        });
        let shared = Arc::new(Shared {
            collector_id,
            base_url,
            http: http_client()?,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            deliveries_changed: watch::Sender::new(0),
            ipn_secret: Secret::new(uuid::Uuid::new_v4().to_string()),
            state: Mutex::new(State {
                store,
                knobs: Knobs::default(),
                deliveries: Vec::new(),
                held: Vec::new(),
                next_notification_id: 110_000_000_000,
            }),
            settings,
        });
        let server = shared.clone();
        shared
            .tracker
            .spawn(async move { api::serve(listener, server).await });
        tracing::info!(%addr, collector_id, "Mercado Pago sandbox listening");
        Ok(SandboxHandle { shared, addr })
    }
}

/// A running sandbox: its address, the app's scan, knobs and read access for assertions.
/// Clones share the same sandbox.
#[derive(Clone)]
pub struct SandboxHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SandboxHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the base URL to give [`MercadoPagoClient`](crate::mercadopago::MercadoPagoClient).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The seller's user id.
    pub fn collector_id(&self) -> i64 {
        self.shared.collector_id
    }

    /// The seller's access token.
    pub fn access_token(&self) -> &Secret {
        &self.shared.settings.access_token
    }

    /// The secret webhooks are signed with.
    pub fn webhook_secret(&self) -> &Secret {
        &self.shared.settings.webhook_secret
    }

    /// The scan options this sandbox was configured with.
    pub fn default_scan_options(&self) -> ScanOptions {
        self.shared.settings.scan.clone()
    }

    /// Scans a QR as the app does: see [`scan`].
    pub async fn scan(
        &self,
        target: ScanTarget,
        holder: CardHolder,
        options: &ScanOptions,
    ) -> Result<ScanOutcome, ScanError> {
        scan::scan(&self.shared, target, holder, options).await
    }

    /// The app pays `order` without scanning again, as if it had got it from an earlier
    /// scan (the station answered, then perhaps crashed before recording that it did).
    pub fn pay_order(&self, order: QrOrder, holder: CardHolder) -> ScanOutcome {
        scan::pay_order(&self.shared, order, holder)
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        self.shared.lock().knobs.clone()
    }

    /// Changes knobs in place.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.shared.lock().knobs);
    }

    /// The next `count` API calls answer `status` (a 429/503 carries `Retry-After`).
    pub fn fail_api(&self, count: u32, status: u16) {
        self.update_knobs(|k| {
            k.api_fail_next = count;
            k.api_fail_status = status;
        });
    }

    /// The next `count` API calls wait `delay` first.
    pub fn slow_api(&self, count: u32, delay: Duration) {
        self.update_knobs(|k| {
            k.api_slow_next = count;
            k.api_slow_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        });
    }

    /// The next `count` notifications are never sent.
    pub fn drop_notifications(&self, count: u32) {
        self.update_knobs(|k| k.drop_next = count);
    }

    /// The next `count` notifications are sent twice.
    pub fn duplicate_notifications(&self, count: u32) {
        self.update_knobs(|k| k.duplicate_next = count);
    }

    /// Every batch of notifications waits `delay` before its first attempt.
    pub fn delay_notifications(&self, delay: Duration) {
        self.update_knobs(|k| k.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
    }

    /// The next `count` batches are held and sent after the following batch.
    pub fn reorder_notifications(&self, count: u32) {
        self.update_knobs(|k| k.reorder_next = count);
    }

    /// The next `count` webhooks are signed with a wrong secret.
    pub fn bad_signatures(&self, count: u32) {
        self.update_knobs(|k| k.bad_signature_next = count);
    }

    /// The next `count` POST calls are carried out, but never answered.
    pub fn stall_posts(&self, count: u32) {
        self.update_knobs(|k| k.stall_posts_next = count);
    }

    /// Sends every held batch now.
    pub fn release_held(&self) {
        notify::release_held(&self.shared);
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        self.shared.lock().store.payments()
    }

    /// One payment.
    pub fn payment(&self, id: i64) -> Option<Payment> {
        self.shared.lock().store.payment(id).ok().cloned()
    }

    /// Refunds of a payment (empty if unknown).
    pub fn refunds(&self, payment_id: i64) -> Vec<Refund> {
        self.shared
            .lock()
            .store
            .refunds(payment_id)
            .unwrap_or_default()
    }

    /// Every POS.
    pub fn pos(&self) -> Vec<Pos> {
        self.shared.lock().store.pos.all()
    }

    /// Every merchant order.
    pub fn merchant_orders(&self) -> Vec<MerchantOrder> {
        self.shared.lock().store.merchant_orders()
    }

    /// Every preference.
    pub fn preferences(&self) -> Vec<Preference> {
        self.shared.lock().store.preferences()
    }

    /// Every notification and its attempts.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.lock().deliveries.clone()
    }

    /// Waits until `done` holds for the delivery records (checked on every change).
    pub async fn wait_deliveries(&self, mut done: impl FnMut(&[DeliveryRecord]) -> bool) {
        let mut changed = self.shared.deliveries_changed.subscribe();
        loop {
            if done(&self.shared.lock().deliveries) {
                return;
            }
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops accepting, lets connections and in-flight deliveries finish, then returns.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// Arguments of `forecourtd sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8091")]
    pub listen: SocketAddr,
    /// The seller's access token; its last segment is the collector id.
    #[arg(long, default_value = DEFAULT_ACCESS_TOKEN)]
    pub access_token: String,
    /// The seller's user id, if the token does not end in it.
    #[arg(long)]
    pub collector_id: Option<i64>,
    /// Secret that signs webhooks.
    #[arg(long, default_value = DEFAULT_WEBHOOK_SECRET)]
    pub webhook_secret: String,
    /// OAuth client id accepted by POST /oauth/token.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// OAuth client secret accepted by POST /oauth/token.
    #[arg(long, default_value = DEFAULT_CLIENT_SECRET)]
    pub client_secret: String,
    /// Hosts a POS url may use (repeat); all when none is given.
    #[arg(long = "enabled-url-host")]
    pub enabled_url_hosts: Vec<String>,
    /// Wait between polls while the station answers in_process, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub scan_poll_interval_ms: u64,
    /// Polls before a scan gives up on in_process.
    #[arg(long, default_value_t = 30)]
    pub scan_max_polls: u32,
    /// Bound on one call to the station's order URL, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub scan_answer_timeout_ms: u64,
    /// Waits before notification retries, in seconds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "30,300,1800")]
    pub notify_retry_secs: Vec<u64>,
    /// Bound on one notification attempt, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub notify_timeout_ms: u64,
}

impl SandboxArgs {
    /// The settings these arguments describe.
    pub fn settings(&self) -> SandboxSettings {
        let mut s = SandboxSettings::new(self.listen);
        s.access_token = Secret::new(self.access_token.clone());
        s.collector_id = self.collector_id;
        s.webhook_secret = Secret::new(self.webhook_secret.clone());
        s.client_id = self.client_id.clone();
        s.client_secret = Secret::new(self.client_secret.clone());
        s.enabled_url_hosts =
            (!self.enabled_url_hosts.is_empty()).then(|| self.enabled_url_hosts.clone());
        s.scan.poll_interval = Duration::from_millis(self.scan_poll_interval_ms);
        s.scan.max_polls = self.scan_max_polls;
        s.scan.answer_timeout = Duration::from_millis(self.scan_answer_timeout_ms);
        s.notify.retry_schedule = self
            .notify_retry_secs
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect();
        s.notify.timeout = Duration::from_millis(self.notify_timeout_ms);
        s
    }
}

/// Runs `forecourtd sandbox` until `shutdown` is cancelled.
///
/// Prints one line, `mercadopago sandbox listening on http://<addr>`, to stdout once bound,
/// so a demo script can read the address. The binary calls this from its `sandbox`
/// subcommand and cancels `shutdown` on SIGINT/SIGTERM.
pub async fn run_sandbox_command(
    args: SandboxArgs,
    shutdown: CancellationToken,
) -> Result<(), SandboxError> {
    let handle = Sandbox::start(args.settings()).await?;
    println!("mercadopago sandbox listening on {}", handle.base_url());
    shutdown.cancelled().await;
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    #[test]
    fn command_line_defaults_and_overrides() {
        let cli = Cli::try_parse_from(["forecourtd"]).expect("defaults parse");
        let s = cli.sandbox.settings();
        assert_eq!(s.bind, SocketAddr::from(([127, 0, 0, 1], 8091)));
        assert_eq!(s.access_token.expose(), DEFAULT_ACCESS_TOKEN);
        assert_eq!(s.notify.retry_schedule.len(), 3);
        assert_eq!(s.enabled_url_hosts, None);
        let cli = Cli::try_parse_from([
            "forecourtd",
            "--listen",
            "127.0.0.1:0",
            "--notify-retry-secs",
            "1,2",
            "--enabled-url-host",
            "station.example",
            "--scan-max-polls",
            "3",
        ])
        .expect("overrides parse");
        let s = cli.sandbox.settings();
        assert_eq!(
            s.notify.retry_schedule,
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!(
            s.enabled_url_hosts,
            Some(vec!["station.example".to_owned()])
        );
        assert_eq!(s.scan.max_polls, 3);
    }

    #[tokio::test]
    async fn only_loopback_addresses_are_bound() {
        let settings = SandboxSettings::new(SocketAddr::from(([0, 0, 0, 0], 0)));
        assert!(matches!(
            Sandbox::start(settings).await,
            Err(SandboxError::NotLoopback(_))
        ));
        let mut settings = SandboxSettings::new(SocketAddr::from(([127, 0, 0, 1], 0)));
        settings.access_token = Secret::new("TEST-no-user-id-");
        assert!(matches!(
            Sandbox::start(settings).await,
            Err(SandboxError::NoCollectorId)
        ));
    }

    #[tokio::test]
    async fn the_command_runs_until_shutdown() {
        let cli = Cli::try_parse_from(["forecourtd", "--listen", "127.0.0.1:0"]).expect("parses");
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        run_sandbox_command(cli.sandbox, shutdown)
            .await
            .expect("starts and stops");
    }
}
