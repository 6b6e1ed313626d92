//! A station with payments: simulated pumps, the daemon, and the local Mercado Pago
//! sandbox standing in for the API and the customer's app.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use forecourtd::app::Daemon;
use forecourtd::config::Config;
use forecourtd::journal::{PaymentRecord, SaleRecord};
use forecourtd::lab::demo::{station_config_toml, write_credentials, PaymentSpec, StationSpec};
use forecourtd::lab::sandbox::{
    CardHolder, Sandbox, SandboxHandle, SandboxSettings, ScanOptions, ScanOutcome, ScanTarget,
};
use forecourtd::mercadopago::types::{Payment, QrOrder};
use forecourtd::sale::{Sale, SaleStatus};
use pump_protocols::{PositionId, SimAction};
use serde_json::{json, Value};

use super::{
    authorize_and_lift, free_port, full_dispatch, has_payable, post, ChildDaemon, Rig, Station,
    PATIENCE,
};

/// How the station is set up.
#[derive(Debug, Clone)]
pub struct PaySetup {
    /// Simulated DART pumps.
    pub pumps: u8,
    /// Simulated Gilbarco pumps on a second line (positions after the DART ones).
    pub gilbarco: u8,
    /// `order` or `preference`.
    pub mode: &'static str,
    /// Seconds before the reconciler searches a served sale.
    pub reconcile_after_secs: u64,
    /// Refund money the station is not owed.
    pub refund_duplicates: bool,
    /// `ipn` or `webhooks`.
    pub source_news: &'static str,
}

impl Default for PaySetup {
    fn default() -> Self {
        Self {
            pumps: 2,
            gilbarco: 0,
            mode: "order",
            // Far in the future: tests that want the reconciler ask for it.
            reconcile_after_secs: 3600,
            refund_duplicates: false,
            source_news: "webhooks",
        }
    }
}

/// The sandbox as the tests use it: notifications retried within a second or two.
pub fn sandbox_settings() -> SandboxSettings {
    let mut settings = SandboxSettings::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.notify.retry_schedule = vec![
        Duration::from_millis(200),
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_secs(2),
    ];
    settings.notify.timeout = Duration::from_secs(5);
    settings.scan.poll_interval = Duration::from_millis(200);
    settings.scan.max_polls = 5;
    settings
}

/// A station with payments.
pub struct PayStation {
    /// Pumps and temporary directory.
    pub rig: Rig,
    /// Mercado Pago.
    pub sandbox: SandboxHandle,
    /// The daemon.
    pub station: Station,
}

impl PayStation {
    /// Starts pumps, sandbox and daemon.
    pub async fn start(setup: PaySetup) -> PayStation {
        let rig = match setup.gilbarco {
            0 => Rig::new(setup.pumps),
            n => Rig::mixed(setup.pumps, n),
        };
        let sandbox = Sandbox::start(sandbox_settings()).await.expect("sandbox");
        let station = start_daemon(&rig, &sandbox, &setup).await;
        PayStation {
            rig,
            sandbox,
            station,
        }
    }

    /// The configuration text for this station listening on `public`/`admin`.
    pub fn config_text(
        rig: &Rig,
        sandbox: &SandboxHandle,
        setup: &PaySetup,
        public: &str,
        admin: &str,
    ) -> String {
        let (token, secret) = write_credentials(rig.dir.path(), sandbox).expect("credentials");
        station_config_toml(&StationSpec {
            devices: vec![rig.sim.path().to_path_buf()],
            pumps_per_line: rig.pumps,
            database: rig.database(),
            public: public.to_owned(),
            admin: admin.to_owned(),
            payments: Some(PaymentSpec {
                api_base_url: sandbox.base_url().to_owned(),
                access_token_file: token,
                webhook_secret_file: secret,
                collector_id: u64::try_from(sandbox.collector_id()).expect("collector id"),
                mode: setup.mode,
                reconcile_after_secs: setup.reconcile_after_secs,
                refund_duplicates: setup.refund_duplicates,
                source_news: setup.source_news,
            }),
            gilbarco: rig.gilbarco_spec(),
        })
    }

    /// Stops the daemon cleanly; the pumps and Mercado Pago carry on.
    pub async fn stop_daemon(self) -> (Rig, SandboxHandle) {
        let PayStation {
            rig,
            sandbox,
            station,
        } = self;
        station.stop().await;
        (rig, sandbox)
    }

    /// The order URL of position `n`, as its QR code carries it.
    pub fn order_url(&self, n: u16) -> String {
        format!("{}/pay-mp?apies=29&pos={n}", self.station.public)
    }

    /// The app scans position `n` and pays with `card` (polling `polls` times while the
    /// dispatch is in process).
    pub async fn scan(&self, n: u16, card: CardHolder, polls: u32) -> ScanOutcome {
        let options = ScanOptions {
            max_polls: polls,
            ..self.sandbox.default_scan_options()
        };
        self.sandbox
            .scan(ScanTarget::Url(self.order_url(n)), card, &options)
            .await
            .expect("scan starts")
    }

    /// Scans and expects a payment; returns it.
    pub async fn pay(&self, n: u16, card: CardHolder) -> Payment {
        match self.scan(n, card, 5).await {
            ScanOutcome::Paid { payment, .. } => *payment,
            other => panic!("position {n}: expected a payment, got {other:?}"),
        }
    }

    /// One whole dispatch on position `n`; returns the order served.
    pub async fn dispatch(&self, n: u16, amount: &str) -> Value {
        full_dispatch(&self.rig, &self.station, n, amount).await
    }

    /// One whole dispatch on position `n` that nobody scans: the sale becomes payable
    /// without the order endpoint ever serving it. Returns the sale.
    pub async fn dispatch_unscanned(&self, n: u16, amount: &str) -> Sale {
        let station = &self.station;
        authorize_and_lift(&self.rig, station, n, amount).await;
        station
            .wait_for("a payable sale", |s| has_payable(s, n))
            .await;
        self.rig.act(n, SimAction::HangNozzle).await;
        let snapshot = station.forecourt().snapshot();
        snapshot
            .positions
            .get(&PositionId(n))
            .and_then(|p| p.payable.last().cloned())
            .expect("payable sale")
    }

    /// The order the station would answer for `sale` (without loyalty), as the app holds
    /// it after a scan.
    pub fn order_for(&self, sale: &Sale) -> QrOrder {
        serde_json::from_value(json!({
            "collector_id": self.sandbox.collector_id(),
            "items": [{
                "title": "Combustible",
                "currency_id": "ARS",
                "quantity": 1,
                "unit_price": sale.amount.value(),
            }],
            "external_reference": sale.external_reference,
            "notification_url": format!("{}/mp/notifications?source_news=webhooks", self.station.public),
        }))
        .expect("order")
    }

    /// The journal's record of the sale with this reference.
    pub async fn sale(&self, reference: &str) -> SaleRecord {
        let journal = self.station.daemon.journal();
        let sale = journal
            .sale_by_reference(reference)
            .await
            .expect("journal")
            .expect("sale exists");
        journal
            .sale_record(sale.id)
            .await
            .expect("journal")
            .expect("record")
    }

    /// Waits until the journal has recorded payment `id` and `accept` holds on it.
    pub async fn recorded_payment(
        &self,
        id: i64,
        accept: impl Fn(&PaymentRecord) -> bool,
    ) -> PaymentRecord {
        let journal = self.station.daemon.journal();
        eventually(&format!("payment {id} recorded"), || async {
            journal
                .payment(&id.to_string())
                .await
                .ok()
                .flatten()
                .filter(|p| accept(p))
        })
        .await
    }

    /// Waits until the sale with this reference has `status`.
    pub async fn wait_sale(&self, reference: &str, status: SaleStatus) -> SaleRecord {
        let reference = reference.to_owned();
        eventually(&format!("sale {reference} {}", status.as_str()), || async {
            let record = self.sale(&reference).await;
            (record.sale.status == status).then_some(record)
        })
        .await
    }
}

/// Starts the daemon for a station (a fresh public port each time).
pub async fn start_daemon(rig: &Rig, sandbox: &SandboxHandle, setup: &PaySetup) -> Station {
    start_daemon_with(rig, sandbox, setup, |t| t).await
}

/// [`start_daemon`] with the configuration text edited by `tweak`.
pub async fn start_daemon_with(
    rig: &Rig,
    sandbox: &SandboxHandle,
    setup: &PaySetup,
    tweak: impl Fn(String) -> String,
) -> Station {
    let public = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let public_addr = public.local_addr().expect("address");
    let text = tweak(PayStation::config_text(
        rig,
        sandbox,
        setup,
        &public_addr.to_string(),
        "127.0.0.1:0",
    ));
    let config = Config::from_toml_str(&text, rig.dir.path()).expect("valid configuration");
    let daemon = Daemon::start_with_public(config, Some(public))
        .await
        .expect("daemon starts");
    Station::new(daemon)
}

/// Polls `check` until it gives a value; fails after [`PATIENCE`]. For state that lives
/// outside the forecourt snapshot (journal rows, sandbox records).
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `external_reference` of an order.
pub fn reference(order: &Value) -> String {
    order["external_reference"]
        .as_str()
        .expect("order has a reference")
        .to_owned()
}

/// Pumps, Mercado Pago and a daemon run as a child process, for kill and restart tests.
pub struct ChildPayStation {
    /// Pumps and temporary directory.
    pub rig: Rig,
    /// Mercado Pago.
    pub sandbox: SandboxHandle,
    text: String,
    public: u16,
    admin: u16,
}

impl ChildPayStation {
    /// Starts one pump and the sandbox; the daemon is started with [`Self::start_daemon`].
    pub async fn new(setup: PaySetup) -> ChildPayStation {
        let rig = Rig::new(1);
        let sandbox = Sandbox::start(sandbox_settings()).await.expect("sandbox");
        let (public, admin) = (free_port(), free_port());
        let text = PayStation::config_text(
            &rig,
            &sandbox,
            &setup,
            &format!("127.0.0.1:{public}"),
            &format!("127.0.0.1:{admin}"),
        );
        ChildPayStation {
            rig,
            sandbox,
            text,
            public,
            admin,
        }
    }

    /// Starts `forecourtd run` on the station's journal and ports.
    pub async fn start_daemon(&self) -> ChildDaemon {
        ChildDaemon::start_with_text(&self.rig, &self.text, self.public, self.admin).await
    }

    /// The order URL of position 1.
    pub fn order_url(&self) -> String {
        format!("http://127.0.0.1:{}/pay-mp?apies=29&pos=1", self.public)
    }

    /// A dispatch on position 1 up to a payable sale; returns its reference.
    pub async fn dispatch(&self, daemon: &ChildDaemon, amount: &str) -> String {
        daemon
            .wait_position(1, "programmed", |p| {
                p["pump_status"] == json!("completed") || p["pump_status"] == json!("idle")
            })
            .await;
        let (status, body) = post(
            &daemon.admin,
            "/api/positions/1/authorize",
            json!({ "amount": amount, "attendant": "7" }),
        )
        .await;
        assert_eq!(status, hyper::StatusCode::OK, "{body}");
        self.rig
            .act(1, SimAction::LiftNozzle(pump_protocols::NozzleId(1)))
            .await;
        let position = daemon
            .wait_position(1, "payable", |p| p["order_state"] == json!("payable"))
            .await;
        position["payable"][0]["external_reference"]
            .as_str()
            .expect("reference")
            .to_owned()
    }

    /// The app scans position 1 and pays with `card`; returns the payment.
    pub async fn pay(&self, card: CardHolder) -> Payment {
        let outcome = self
            .sandbox
            .scan(
                ScanTarget::Url(self.order_url()),
                card,
                &self.sandbox.default_scan_options(),
            )
            .await
            .expect("scan");
        match outcome {
            ScanOutcome::Paid { payment, .. } => *payment,
            other => panic!("expected a payment, got {other:?}"),
        }
    }
}
