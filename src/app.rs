//! Wiring: builds every subsystem from a validated [`Config`], runs them, and shuts them
//! down in order.
//!
//! Start order: journal (migrated) → forecourt actor (unpaid sales and open dispatches
//! loaded) → line tasks → listeners bound. Shutdown order is the reverse of what could
//! lose data: stop accepting HTTP and drain, let each line finish its exchange, let the
//! actor write what the lines reported, close the journal last. The whole shutdown has a
//! deadline ([`SHUTDOWN_DEADLINE`]); past it the daemon gives up and names what did not
//! finish (the journal is crash-safe, so giving up loses nothing committed).
//!
//! Every long-lived task is spawned through a [`Supervisor`]: the first one that ends
//! before shutdown makes [`Daemon::failed`] resolve, and `forecourtd run` exits non-zero
//! so the service manager restarts the process. The actor and every line beat a
//! [`Heartbeat`](crate::liveness::Heartbeat); the [`systemd::Notifier`] pings the service
//! watchdog only while they all make progress.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
use crate::capture::{CaptureTap, Captures};
use crate::chain::price_plans::PlanWatcher;
use crate::chain::publisher::{ChainStatus, Publisher};
use crate::config::{Config, Line, MetricsSetting, MpMode};
use crate::forecourt::dispatch::{NozzlePrice, PositionSetup};
use crate::forecourt::{Forecourt, ForecourtHandle};
use crate::http::admin::{AccessState, AdminContext, StationInfo};
use crate::http::cashiers::{self, Cashier, Cashiers};
use crate::http::guard::GuardSettings;
use crate::http::hint_gate::{HintGate, HintRates};
use crate::http::notifications::{NotificationEndpoint, NotificationSettings};
use crate::http::order::{GradeInfo, LoyaltySettings, OrderRenderer, OrderSettings};
use crate::http::routes::MetricsAccess;
use crate::http::server::{self, Limits};
use crate::http::{AdminHandler, PublicHandler};
use crate::journal::prune::Pruner;
use crate::journal::{HintPolicy, Journal, JournalSettings, NewUser};
use crate::lines::LineTask;
use crate::liveness::{Fault, Liveness};
use crate::mercadopago::{ClientSettings, MercadoPagoClient};
use crate::metrics::Metrics;
use crate::payments::decide::PaymentPolicy;
use crate::payments::pos_sync;
use crate::payments::preference::Preferences;
use crate::payments::processor::{NotificationProcessor, PaymentApplier};
use crate::payments::reconcile::Reconciler;
use crate::payments::refunds::RefundRetrier;
use crate::payments::served::ServedTracker;
use crate::protocols;
use crate::supervise::{Supervisor, TaskFailure};
use crate::systemd;

/// A running daemon.
pub struct Daemon {
    /// Where the public listener is bound.
    pub public_addr: SocketAddr,
    /// Where the admin listener is bound.
    pub admin_addr: SocketAddr,
    /// The forecourt actor.
    pub forecourt: ForecourtHandle,
    journal: Journal,
    supervisor: Supervisor,
    liveness: Arc<Liveness>,
    service_shutdown: CancellationToken,
    service_tasks: TaskTracker,
    refusals: Arc<RefusalCounters>,
    metrics: Arc<Metrics>,
    http_shutdown: CancellationToken,
    http_tasks: TaskTracker,
    line_shutdown: CancellationToken,
    line_tasks: TaskTracker,
    actor_shutdown: CancellationToken,
    actor_tasks: TaskTracker,
    payment_shutdown: CancellationToken,
    payment_tasks: TaskTracker,
    journal_watch: TaskTracker,
    captures: Arc<Captures>,
}

/// Longest the whole shutdown may take; the unit's `TimeoutStopSec=` leaves room above it.
/// HTTP drains for 5 s at most, a line finishes its exchange within its write deadline,
/// the actor's last journal writes take well under a second.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(20);

/// The supervised name of the journal thread.
const JOURNAL: &str = "journal";

/// How often start-up checks that the actor and every line have turned once.
const STARTED_CHECK: Duration = Duration::from_millis(20);

/// Longest start-up waits for the actor and every line to turn once.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The shutdown deadline passed; these tasks had not finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shutdown deadline passed; still running: {}", unfinished.join(", "))]
pub struct ShutdownIncomplete {
    /// Names of the tasks (and `journal` for its close) that had not finished.
    pub unfinished: Vec<String>,
}

/// Bound on one admin request (POS sync over every position included).
pub const ADMIN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The payment applier, when an access token is configured.
pub fn payment_applier(
    config: &Config,
    journal: &Journal,
    forecourt: &ForecourtHandle,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Option<PaymentApplier>> {
    let mp = config.mercadopago();
    let Some(token) = &mp.access_token else {
        return Ok(None);
    };
    let mut settings = ClientSettings::new(mp.api_base_url.clone(), token.clone());
    settings.request_timeout = mp.request_timeout;
    let client = MercadoPagoClient::new(settings).context("building the Mercado Pago client")?;
    metrics.register_mercadopago(client.calls());
    Ok(Some(PaymentApplier {
        journal: journal.clone(),
        client,
        forecourt: forecourt.clone(),
        metrics: metrics.clone(),
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
        attendants: Cashiers::new(
            config
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
        ),
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
            never_heard_offline_after: crate::protocols::never_heard_offline_after(line),
            pump: pump.setup(),
            idle_dispatch_limit: crate::forecourt::dispatch::IDLE_DISPATCH_LIMIT,
            commands: crate::protocols::CommandRules::of(line),
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
        Self::start_with(config, public, Arc::new(crate::clock::SystemClock)).await
    }

    /// Like [`start_with_public`](Self::start_with_public), reading wall-clock time
    /// (shift times, scheduled price sets) from `clock` (tests set the time).
    pub async fn start_with(
        config: Config,
        public: Option<TcpListener>,
        clock: Arc<dyn crate::clock::Clock>,
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
        let served = ServedTracker::load(journal.clone())
            .await
            .context("loading served sales from the journal")?;

        seed_attendants(&config, &journal).await?;
        let cli_token = config.cli_token_file();
        let token_checker = TokenChecker::new(journal.clone());
        tokens::ensure_cli_token(&journal, &token_checker, &cli_token)
            .await
            .with_context(|| format!("writing the CLI token {}", cli_token.display()))?;
        let counters = Arc::new(RefusalCounters::default());
        let metrics = Arc::new(Metrics::new(&counters, journal.write_latency()));

        let mut line_senders = HashMap::new();
        let mut line_inputs = Vec::new();
        for line in config.lines() {
            let (tx, rx) = mpsc::channel(64);
            line_senders.insert(line.name.clone(), tx);
            let master: Box<dyn LineMaster> =
                protocols::build_master(line).with_context(|| format!("line {}", line.name))?;
            line_inputs.push((line.clone(), master, rx));
        }
        let mut order = order_settings(&config);
        order.attendants = Cashiers::new(
            cashiers::load(&journal)
                .await
                .context("reading the attendants")?,
        );
        let cashier_directory = order.attendants.clone();
        let order = Arc::new(order);
        let renderer = Arc::new(OrderRenderer {
            settings: order.clone(),
        });
        let (actor, forecourt) = Forecourt::new(
            position_setups(&config),
            line_senders,
            journal.clone(),
            renderer,
        )
        .await
        .context("loading the forecourt state from the journal")?;
        let supervisor = Supervisor::default();
        let liveness = Arc::new(Liveness::default());
        let actor = actor
            .with_heartbeat(liveness.register("forecourt"))
            .with_clock(clock.clone());

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

        let journal_watch = TaskTracker::new();
        let watched = journal.clone();
        supervisor.spawn(
            &journal_watch,
            JOURNAL,
            async move { watched.stopped().await },
        );
        journal_watch.close();

        let actor_shutdown = CancellationToken::new();
        let actor_tasks = TaskTracker::new();
        supervisor.spawn(&actor_tasks, "forecourt", actor.run(actor_shutdown.clone()));
        actor_tasks.close();

        let capture_dir = config
            .database()
            .path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("captures");
        let captures = Arc::new(Captures::start(config.lines(), &capture_dir));
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
                heartbeat: liveness.register(&format!("line {}", line.name)),
                metrics: metrics.line(&line.name),
                capture: captures
                    .tap(&line.name)
                    .unwrap_or_else(|| CaptureTap::disabled(&line.name)),
            };
            supervisor.spawn(
                &line_tasks,
                format!("line {}", line.name),
                task.run(line_shutdown.clone()),
            );
        }
        line_tasks.close();

        let wake = Arc::new(Notify::new());
        let payment_shutdown = CancellationToken::new();
        let payment_tasks = TaskTracker::new();
        let applier = payment_applier(&config, &journal, &forecourt, &metrics)?;
        match applier.clone() {
            Some(applier) => {
                let processor = NotificationProcessor {
                    applier: applier.clone(),
                    wake: wake.clone(),
                };
                supervisor.spawn(
                    &payment_tasks,
                    "notification processor",
                    processor.run(payment_shutdown.clone()),
                );
                let refunds = RefundRetrier::new(applier.clone(), jiff::Timestamp::now());
                supervisor.spawn(
                    &payment_tasks,
                    "refund retrier",
                    refunds.run(payment_shutdown.clone()),
                );
                let reconciler = Reconciler::new(applier, config.mercadopago().reconcile_after);
                supervisor.spawn(
                    &payment_tasks,
                    "reconciler",
                    reconciler.run(payment_shutdown.clone()),
                );
            }
            None => tracing::warn!(
                "no Mercado Pago access token: notifications are stored but no payment can be \
                 confirmed until one is configured"
            ),
        }

        let mp = config.mercadopago();
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
            supervisor.spawn(
                &payment_tasks,
                "preference prefetch",
                preferences.prefetch(
                    forecourt.subscribe(),
                    move |sale| crate::http::order::item_title(sale, &settings),
                    payment_shutdown.clone(),
                ),
            );
        }
        // Its last flush runs at payment shutdown, after the listeners have drained.
        supervisor.spawn(
            &payment_tasks,
            "served tracker",
            served.clone().run(payment_shutdown.clone()),
        );
        supervisor.spawn(
            &payment_tasks,
            "journal pruner",
            Pruner {
                journal: journal.clone(),
                keep: config.database().prune_after,
            }
            .run(payment_shutdown.clone()),
        );
        let station_info = Arc::new(StationInfo {
            shift_role: config.shifts().open_close,
            time_zone: config.station().time_zone.clone(),
            grades: config
                .grades()
                .iter()
                .map(|g| (g.id, g.key.clone(), g.name.clone()))
                .collect(),
        });
        if let Some(settings) = config.chain() {
            supervisor.spawn(
                &payment_tasks,
                "price plan watcher",
                PlanWatcher {
                    journal: journal.clone(),
                    forecourt: forecourt.clone(),
                    station: station_info.clone(),
                    clock: clock.clone(),
                    settings: settings.clone(),
                }
                .run(payment_shutdown.clone()),
            );
        }
        let chain_status = config.chain().map(|settings| {
            let status = ChainStatus::new(settings.backlog_alert_after);
            metrics.register_chain(status.metrics());
            supervisor.spawn(
                &payment_tasks,
                "chain publisher",
                Publisher {
                    journal: journal.clone(),
                    settings: settings.clone(),
                    status: status.clone(),
                }
                .run(payment_shutdown.clone()),
            );
            status
        });
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
            metrics: metrics.clone(),
        });
        if mp.webhook_secrets.is_empty() {
            tracing::warn!("no webhook secret configured: webhook signatures cannot be verified");
        }
        let public_handler = Arc::new(PublicHandler {
            order_path: config.order_endpoint().path.clone(),
            order,
            forecourt: forecourt.clone(),
            notifications,
            served,
            preferences,
            metrics: metrics.clone(),
        });
        let admin_handler = Arc::new(AdminHandler {
            context: AdminContext {
                forecourt: forecourt.clone(),
                journal: journal.clone(),
                cashiers: cashier_directory,
                payments: applier,
                pos_plans: Arc::new(pos_sync::plans(&config)),
                captures: captures.clone(),
                access: Arc::new(access_state(
                    &config,
                    token_checker,
                    admin_addr,
                    counters.clone(),
                )),
                metrics: metrics.clone(),
                console: config.console().clone(),
                shutdown: http_shutdown.clone(),
                station: station_info,
                clock,
                chain: chain_status,
            },
        });
        supervisor.spawn(
            &http_tasks,
            "listener public",
            server::serve(
                public,
                public_handler,
                Limits {
                    max_connections: config.listen().public_max_connections,
                    write_timeout: config.listen().write_timeout,
                    ..Limits::default()
                },
                None,
                http_shutdown.clone(),
            ),
        );
        // Staff operations (POS sync, refunds) wait on Mercado Pago with retries; the admin
        // listener is loopback-only, so it may take longer than a public request.
        let admin_limits = Limits {
            request_timeout: ADMIN_REQUEST_TIMEOUT,
            max_connections: config.listen().admin_max_connections,
            write_timeout: config.listen().write_timeout,
            ..Limits::default()
        };
        supervisor.spawn(
            &http_tasks,
            "listener admin",
            server::serve(
                admin,
                admin_handler,
                admin_limits,
                admin_tls,
                http_shutdown.clone(),
            ),
        );
        http_tasks.close();

        let service_shutdown = CancellationToken::new();
        let service_tasks = TaskTracker::new();
        let notifier = systemd::Notifier {
            liveness: liveness.clone(),
            forecourt: forecourt.clone(),
            watchdog: systemd::watchdog_interval(),
        };
        supervisor.spawn(
            &service_tasks,
            "service notifier",
            notifier.run(service_shutdown.clone()),
        );
        service_tasks.close();

        let daemon = Daemon {
            public_addr,
            admin_addr,
            forecourt,
            journal,
            supervisor,
            liveness,
            service_shutdown,
            service_tasks,
            refusals: counters,
            metrics,
            http_shutdown,
            http_tasks,
            line_shutdown,
            line_tasks,
            actor_shutdown,
            actor_tasks,
            payment_shutdown,
            payment_tasks,
            journal_watch,
            captures,
        };
        // Ready only once the actor runs and every line is open or retrying.
        let started = tokio::time::timeout(START_DEADLINE, daemon.liveness.started(STARTED_CHECK));
        tokio::select! {
            result = started => if result.is_err() {
                let waiting = daemon.liveness.check(tokio::time::Instant::now()).starting;
                daemon.shutdown().await;
                anyhow::bail!("these tasks never started: {}", waiting.join(", "));
            },
            failure = daemon.supervisor.failed() => {
                daemon.shutdown().await;
                return Err(failure).context("starting");
            }
        }
        tracing::info!(%public_addr, %admin_addr, positions = daemon.forecourt.snapshot().positions.len(),
            "forecourtd running");
        systemd::ready();
        Ok(daemon)
    }

    /// Resolves with the first long-lived task that ended unexpectedly (panicked or
    /// returned); never resolves while every task runs.
    pub async fn failed(&self) -> TaskFailure {
        self.supervisor.failed().await
    }

    /// The first long-lived task that ended unexpectedly, if any did.
    pub fn failure(&self) -> Option<TaskFailure> {
        self.supervisor.failure()
    }

    /// Resolves once the task `name` has ended unexpectedly.
    pub async fn failure_of(&self, name: &str) -> TaskFailure {
        self.supervisor.failure_of(name).await
    }

    /// The heartbeats of the actor and the lines.
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Makes the loop `task` (`forecourt`, `line NAME`) stall or panic at its next turn.
    /// For tests of supervision and of the watchdog; returns false for an unknown task.
    pub fn inject_fault(&self, task: &str, fault: Fault) -> bool {
        match self.liveness.find(task) {
            Some(heartbeat) => {
                tracing::warn!(task, ?fault, "injecting a fault");
                heartbeat.inject(fault);
                true
            }
            None => false,
        }
    }

    /// Refusal counters of both listeners.
    pub fn refusals(&self) -> &RefusalCounters {
        &self.refusals
    }

    /// The daemon's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The journal, for read-only inspection (tests, CLI).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Shuts down in order and closes the journal last, within [`SHUTDOWN_DEADLINE`];
    /// logs what did not finish.
    pub async fn shutdown(self) {
        if let Err(e) = self.shutdown_within(SHUTDOWN_DEADLINE).await {
            tracing::error!("{e}");
        }
    }

    /// Shuts down in order and closes the journal last; gives up once `limit` has passed
    /// and names what had not finished.
    pub async fn shutdown_within(self, limit: Duration) -> Result<(), ShutdownIncomplete> {
        let deadline = tokio::time::Instant::now() + limit;
        systemd::stopping();
        self.supervisor.begin_stopping();
        let stages = async {
            self.service_shutdown.cancel();
            self.service_tasks.wait().await;
            self.http_shutdown.cancel();
            self.http_tasks.wait().await;
            self.payment_shutdown.cancel();
            self.payment_tasks.wait().await;
            self.line_shutdown.cancel();
            self.line_tasks.wait().await;
            self.captures.stop_all().await;
            self.actor_shutdown.cancel();
            self.actor_tasks.wait().await;
        };
        if tokio::time::timeout_at(deadline, stages).await.is_err() {
            // The journal's watch ends only when the journal closes, which comes next.
            let unfinished = self.supervisor.running();
            return Err(ShutdownIncomplete {
                unfinished: unfinished.into_iter().filter(|t| t != JOURNAL).collect(),
            });
        }
        match tokio::time::timeout_at(deadline, self.journal.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "closing the journal"),
            Err(_) => {
                return Err(ShutdownIncomplete {
                    unfinished: vec![JOURNAL.to_owned()],
                })
            }
        }
        self.journal_watch.wait().await;
        tracing::info!("forecourtd stopped");
        Ok(())
    }
}
