//! Wiring: builds every subsystem from a validated [`Config`], runs them, and shuts them
//! down in order.
//!
//! Start order: journal (migrated) → forecourt actor (unpaid sales and open dispatches
//! loaded) → line tasks → listeners bound. Shutdown order is the reverse of what could
//! lose data: stop accepting HTTP and drain, let each line finish its exchange, let the
//! actor write what the lines reported, close the journal last.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use pump_protocols::LineMaster;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::counters::RefusalCounters;
use crate::access::sessions::{SessionSettings, Sessions};
use crate::access::throttle::Throttle;
use crate::access::tokens::{self, TokenChecker};
use crate::access::Role;
use crate::config::{Config, Line, MetricsSetting, MpMode};
use crate::forecourt::dispatch::{NozzlePrice, PositionSetup};
use crate::forecourt::{Forecourt, ForecourtHandle};
use crate::http::admin::{AccessState, AdminContext};
use crate::http::guard::GuardSettings;
use crate::http::hint_gate::{HintGate, HintRates};
use crate::http::notifications::{NotificationEndpoint, NotificationSettings};
use crate::http::order::{Cashier, GradeInfo, LoyaltySettings, OrderSettings};
use crate::http::routes::MetricsAccess;
use crate::http::server::{self, Limits};
use crate::http::{AdminHandler, PublicHandler};
use crate::journal::{HintPolicy, Journal, JournalSettings, NewUser};
use crate::lines::LineTask;
use crate::mercadopago::{ClientSettings, MercadoPagoClient};
use crate::payments::decide::PaymentPolicy;
use crate::payments::pos_sync;
use crate::payments::preference::Preferences;
use crate::payments::processor::{NotificationProcessor, PaymentApplier};
use crate::payments::reconcile::Reconciler;
use crate::protocols;

/// A running daemon.
pub struct Daemon {
    /// Where the public listener is bound.
    pub public_addr: SocketAddr,
    /// Where the admin listener is bound.
    pub admin_addr: SocketAddr,
    /// The forecourt actor.
    pub forecourt: ForecourtHandle,
    journal: Journal,
    refusals: Arc<RefusalCounters>,
    http_shutdown: CancellationToken,
    http_tasks: TaskTracker,
    line_shutdown: CancellationToken,
    line_tasks: TaskTracker,
    actor_shutdown: CancellationToken,
    actor_task: tokio::task::JoinHandle<()>,
    payment_shutdown: CancellationToken,
    payment_tasks: TaskTracker,
}

/// Bound on one admin request (POS sync over every position included).
pub const ADMIN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The payment applier, when an access token is configured.
pub fn payment_applier(
    config: &Config,
    journal: &Journal,
    forecourt: &ForecourtHandle,
) -> anyhow::Result<Option<PaymentApplier>> {
    let mp = config.mercadopago();
    let Some(token) = &mp.access_token else {
        return Ok(None);
    };
    let mut settings = ClientSettings::new(mp.api_base_url.clone(), token.clone());
    settings.request_timeout = mp.request_timeout;
    let client = MercadoPagoClient::new(settings).context("building the Mercado Pago client")?;
    Ok(Some(PaymentApplier {
        journal: journal.clone(),
        client,
        forecourt: forecourt.clone(),
        policy: PaymentPolicy {
            collector_id: mp.collector_id,
            currency: config.station().currency.clone(),
            refund_unowed: mp.refund_duplicates,
        },
    }))
}

/// Settings of the order endpoint, from the configuration.
pub fn order_settings(config: &Config) -> OrderSettings {
    let station = config.station();
    let mp = config.mercadopago();
    OrderSettings {
        store_id: station.store_id.clone(),
        store_id_padded: station.store_id_padded(),
        token: config.order_endpoint().token.clone(),
        allowed_methods: config.order_endpoint().allowed_methods.clone(),
        collector_id: mp.collector_id,
        sponsor_id: mp.sponsor_id,
        notification_url: mp.notification_url.clone(),
        currency: station.currency.clone(),
        time_zone: station.time_zone.clone(),
        loyalty: config.loyalty().map(|l| LoyaltySettings {
            program: l.program.clone(),
            affinity_plan: l.affinity_plan.clone(),
            period: l.period.clone(),
            shift: l.shift.clone(),
        }),
        grades: config
            .grades()
            .iter()
            .map(|g| {
                (
                    g.id,
                    GradeInfo {
                        name: g.name.clone(),
                        code: g.code.clone(),
                        unit: g.unit.as_str().to_owned(),
                    },
                )
            })
            .collect(),
        attendants: config
            .attendants()
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    Cashier {
                        document_type: a.document_type.clone(),
                        document_number: a
                            .document_number
                            .clone()
                            .unwrap_or_else(|| "00000000".to_owned()),
                    },
                )
            })
            .collect(),
        position_label: "Surtidor".to_owned(),
    }
}

/// The positions the forecourt actor manages.
pub fn position_setups(config: &Config) -> Vec<PositionSetup> {
    config
        .pumps()
        .map(|(line, pump)| PositionSetup {
            position: pump.position,
            line: line.name.clone(),
            address: pump.address,
            stale_limit: line.stale_limit,
            nozzles: pump
                .nozzles
                .iter()
                .filter_map(|(nozzle, grade)| {
                    config.grade(*grade).map(|g| NozzlePrice {
                        nozzle: *nozzle,
                        grade: *grade,
                        price: g.price,
                    })
                })
                .collect(),
        })
        .collect()
}

fn open_serial(line: &Line) -> std::io::Result<tokio_serial::SerialStream> {
    use tokio_serial::SerialPortBuilderExt;
    let device = line.device.to_string_lossy().into_owned();
    tokio_serial::new(device, line.baud)
        .parity(line.parity.into())
        .data_bits(line.data_bits.into())
        .stop_bits(line.stop_bits.into())
        .open_native_async()
        .map_err(std::io::Error::other)
}

/// Creates a journal user for each configured attendant not there yet. The journal is
/// the source of truth afterwards: a manager adds, disables and resets attendants through
/// the admin API, and an attendant seeded here signs in once a manager has set a PIN.
async fn seed_attendants(config: &Config, journal: &Journal) -> anyhow::Result<()> {
    let seeds = config
        .attendants()
        .iter()
        .map(|a| NewUser {
            name: a.id.clone(),
            role: Role::Attendant,
            display_name: a.name.clone(),
            secret_hash: None,
            document_type: Some(a.document_type.clone()),
            document_number: a.document_number.clone(),
        })
        .collect();
    let created = journal
        .seed_users(seeds)
        .await
        .context("adding the configured attendants to the journal")?;
    if created > 0 {
        tracing::info!(
            created,
            "attendants from the configuration added to the journal"
        );
    }
    Ok(())
}

/// The loyalty identification of every enabled attendant in the journal (the source of
/// truth once seeded; an attendant added later is known to loyalty after a restart).
async fn cashiers(journal: &Journal) -> anyhow::Result<HashMap<String, Cashier>> {
    let users = journal.users().await.context("reading the attendants")?;
    Ok(users
        .into_iter()
        .filter(|u| u.role == Role::Attendant && !u.disabled)
        .map(|u| {
            let cashier = Cashier {
                document_type: u.document_type.unwrap_or_else(|| "DNI".to_owned()),
                document_number: u.document_number.unwrap_or_else(|| "00000000".to_owned()),
            };
            (u.name, cashier)
        })
        .collect())
}

/// The admin listener's access state, once its address is known.
fn access_state(
    config: &Config,
    tokens: TokenChecker,
    local: SocketAddr,
    counters: Arc<RefusalCounters>,
) -> AccessState {
    let admin = config.admin();
    AccessState {
        guard: GuardSettings {
            allowed_hosts: admin.allowed_hosts.clone(),
            local,
            tls: admin.tls.is_some(),
        },
        sessions: Sessions::new(SessionSettings {
            idle: admin.session_idle,
            absolute: admin.session_absolute,
            ..SessionSettings::default()
        }),
        throttle: Throttle::default(),
        tokens,
        counters,
        metrics: match admin.metrics {
            MetricsSetting::Loopback => MetricsAccess::OpenOnLoopback,
            MetricsSetting::Identity => MetricsAccess::Identity,
        },
    }
}

impl Daemon {
    /// Starts every subsystem. Fails (without leaving tasks behind) if the journal cannot
    /// be opened or a listener cannot be bound.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        Self::start_with_public(config, None).await
    }

    /// Like [`start`](Self::start), serving the public listener on `public` when given
    /// (a caller that must know the public address before writing the configuration, such
    /// as the demo's notification URL, binds it first).
    pub async fn start_with_public(
        config: Config,
        public: Option<TcpListener>,
    ) -> anyhow::Result<Daemon> {
        if config.mercadopago().mode == MpMode::Preference
            && config.mercadopago().access_token.is_none()
        {
            anyhow::bail!("mercadopago.mode = \"preference\" needs an access token");
        }
        let journal = Journal::open(
            &config.database().path,
            JournalSettings {
                store_id: config.station().store_id.clone(),
            },
        )
        .await
        .with_context(|| format!("opening the journal {}", config.database().path.display()))?;

        seed_attendants(&config, &journal).await?;
        let cli_token = config.cli_token_file();
        let token_checker = TokenChecker::new(journal.clone());
        tokens::ensure_cli_token(&journal, &token_checker, &cli_token)
            .await
            .with_context(|| format!("writing the CLI token {}", cli_token.display()))?;
        let counters = Arc::new(RefusalCounters::default());

        let mut line_senders = HashMap::new();
        let mut line_inputs = Vec::new();
        for line in config.lines() {
            let (tx, rx) = mpsc::channel(64);
            line_senders.insert(line.name.clone(), tx);
            let master: Box<dyn LineMaster> =
                protocols::build_master(line).with_context(|| format!("line {}", line.name))?;
            line_inputs.push((line.clone(), master, rx));
        }
        let (actor, forecourt) =
            Forecourt::new(position_setups(&config), line_senders, journal.clone())
                .await
                .context("loading the forecourt state from the journal")?;

        let public = match public {
            Some(listener) => listener,
            None => TcpListener::bind(config.listen().public)
                .await
                .with_context(|| {
                    format!("binding the public listener {}", config.listen().public)
                })?,
        };
        let admin_tls = match &config.admin().tls {
            Some(tls) => Some(
                crate::http::tls::acceptor(&tls.cert_file, &tls.key_file)
                    .context("loading the admin listener's TLS certificate")?,
            ),
            None => None,
        };
        let admin = TcpListener::bind(config.listen().admin)
            .await
            .with_context(|| format!("binding the admin listener {}", config.listen().admin))?;
        let public_addr = public.local_addr()?;
        let admin_addr = admin.local_addr()?;

        let actor_shutdown = CancellationToken::new();
        let actor_task = tokio::spawn(actor.run(actor_shutdown.clone()));

        let line_shutdown = CancellationToken::new();
        let line_tasks = TaskTracker::new();
        for (line, master, commands) in line_inputs {
            let opener_line = line.clone();
            let task = LineTask {
                name: line.name.clone(),
                master,
                opener: Box::new(move || open_serial(&opener_line)),
                commands,
                events: forecourt.sender(),
                reopen_backoff_max: line.reopen_backoff_max,
            };
            line_tasks.spawn(task.run(line_shutdown.clone()));
        }
        line_tasks.close();

        let wake = Arc::new(Notify::new());
        let payment_shutdown = CancellationToken::new();
        let payment_tasks = TaskTracker::new();
        let applier = payment_applier(&config, &journal, &forecourt)?;
        match applier.clone() {
            Some(applier) => {
                let processor = NotificationProcessor {
                    applier: applier.clone(),
                    wake: wake.clone(),
                };
                payment_tasks.spawn(processor.run(payment_shutdown.clone()));
                let reconciler = Reconciler::new(applier, config.mercadopago().reconcile_after);
                payment_tasks.spawn(reconciler.run(payment_shutdown.clone()));
            }
            None => tracing::warn!(
                "no Mercado Pago access token: notifications are stored but no payment can be \
                 confirmed until one is configured"
            ),
        }

        let mp = config.mercadopago();
        let mut order = order_settings(&config);
        order.attendants = cashiers(&journal).await?;
        let order = Arc::new(order);
        let preferences = match (mp.mode, &applier) {
            (MpMode::Preference, Some(applier)) => Some(Preferences::new(
                applier.client.clone(),
                journal.clone(),
                mp.notification_url.clone(),
                config.station().currency.clone(),
                mp.order_answer_timeout,
            )),
            // Checked at the start, before anything was spawned.
            (MpMode::Preference, None) | (MpMode::Order, _) => None,
        };
        if let Some(preferences) = preferences.clone() {
            let settings = order.clone();
            payment_tasks.spawn(preferences.prefetch(
                forecourt.subscribe(),
                move |sale| crate::http::order::item_title(sale, &settings),
                payment_shutdown.clone(),
            ));
        }
        payment_tasks.close();
        let http_shutdown = CancellationToken::new();
        let http_tasks = TaskTracker::new();
        let notifications = Arc::new(NotificationEndpoint {
            settings: NotificationSettings {
                secrets: mp
                    .webhook_secrets
                    .iter()
                    .map(|s| s.expose().to_owned())
                    .collect(),
                tolerance: mp.signature_tolerance,
                accept_unsigned: mp.accept_unsigned,
            },
            journal: journal.clone(),
            wake,
            gate: std::sync::Mutex::new(HintGate::new(HintRates::default())),
            hint_policy: HintPolicy::default(),
            trusted_proxies: config.listen().public_trusted_proxies.clone(),
            counters: counters.clone(),
        });
        if mp.webhook_secrets.is_empty() {
            tracing::warn!("no webhook secret configured: webhook signatures cannot be verified");
        }
        let public_handler = Arc::new(PublicHandler {
            order_path: config.order_endpoint().path.clone(),
            order,
            forecourt: forecourt.clone(),
            notifications,
            journal: journal.clone(),
            preferences,
        });
        let admin_handler = Arc::new(AdminHandler {
            context: AdminContext {
                forecourt: forecourt.clone(),
                journal: journal.clone(),
                payments: applier,
                pos_plans: Arc::new(pos_sync::plans(&config)),
                access: Arc::new(access_state(
                    &config,
                    token_checker,
                    admin_addr,
                    counters.clone(),
                )),
            },
        });
        http_tasks.spawn(server::serve(
            public,
            public_handler,
            Limits::default(),
            None,
            http_shutdown.clone(),
        ));
        // Staff operations (POS sync, refunds) wait on Mercado Pago with retries; the admin
        // listener is loopback-only, so it may take longer than a public request.
        let admin_limits = Limits {
            request_timeout: ADMIN_REQUEST_TIMEOUT,
            ..Limits::default()
        };
        http_tasks.spawn(server::serve(
            admin,
            admin_handler,
            admin_limits,
            admin_tls,
            http_shutdown.clone(),
        ));
        http_tasks.close();
        tracing::info!(%public_addr, %admin_addr, positions = config.positions().count(),
            "forecourtd running");
        Ok(Daemon {
            public_addr,
            admin_addr,
            forecourt,
            journal,
            refusals: counters,
            http_shutdown,
            http_tasks,
            line_shutdown,
            line_tasks,
            actor_shutdown,
            actor_task,
            payment_shutdown,
            payment_tasks,
        })
    }

    /// Refusal counters of both listeners.
    pub fn refusals(&self) -> &RefusalCounters {
        &self.refusals
    }

    /// The journal, for read-only inspection (tests, CLI).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Shuts down in order and closes the journal last.
    pub async fn shutdown(self) {
        self.http_shutdown.cancel();
        self.http_tasks.wait().await;
        self.payment_shutdown.cancel();
        self.payment_tasks.wait().await;
        self.line_shutdown.cancel();
        self.line_tasks.wait().await;
        self.actor_shutdown.cancel();
        if let Err(e) = self.actor_task.await {
            tracing::error!(error = %e, "forecourt task failed");
        }
        if let Err(e) = self.journal.close().await {
            tracing::error!(error = %e, "closing the journal");
        }
        tracing::info!("forecourtd stopped");
    }
}
