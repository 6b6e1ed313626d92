//! The `forecourtd` command line: thin glue over the library.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use forecourtd::app::{Daemon, SHUTDOWN_DEADLINE};
use forecourtd::config::{Config, ConfigError, LogFormat, EXAMPLE};
use forecourtd::journal::maintenance;
use forecourtd::lab::{demo, simulate};
use forecourtd::liveness::Fault;
use forecourtd::{admin_client, cli_access, cli_station, signals, telemetry};
use serde_json::json;

/// Exit status for a configuration that cannot be used (unreadable, bad TOML, invalid).
const EXIT_BAD_CONFIG: u8 = 2;

/// Exit status for a command line that cannot be used (EX_USAGE).
const EXIT_USAGE: u8 = 64;

/// Exit status when a long-lived task died (EX_SOFTWARE): the service manager restarts.
const EXIT_TASK_DIED: u8 = 70;

/// The environment variable that must be `1` for the hidden test hooks to be accepted.
const TEST_HOOKS_ENV: &str = "FORECOURTD_TEST_HOOKS";

/// Forecourt controller daemon: pump lines, live dispatch state, Mercado Pago integrated QR.
#[derive(Debug, Parser)]
#[command(name = "forecourtd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file and report every problem with its key path.
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
    /// Print an example configuration documenting every option.
    ExampleConfig,
    /// Run the daemon.
    Run {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Log as JSON lines instead of human-readable text (overrides the file).
        #[arg(long)]
        json_logs: bool,
        /// Test only: on SIGUSR1, make a task (`forecourt`, `line NAME`) stall or panic,
        /// as `TASK=stall|panic`. Refused unless FORECOURTD_TEST_HOOKS=1 is set too.
        #[arg(long, hide = true, value_name = "TASK=FAULT")]
        test_fault_on_sigusr1: Option<String>,
    },
    /// Copy the journal to FILE while the daemon runs (a consistent snapshot; never
    /// overwrites). Run it as the service's user.
    Backup {
        /// The backup file to create.
        file: PathBuf,
        #[command(flatten)]
        journal: JournalTarget,
    },
    /// Give the space freed by pruning back to the file system (rewrites the journal;
    /// the daemon's writes wait meanwhile). Run it as the service's user.
    Vacuum {
        #[command(flatten)]
        journal: JournalTarget,
    },
    /// Show the live state of every position (admin API).
    Status {
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Authorize a dispatch on a position (admin API).
    Authorize {
        /// The position number.
        position: u16,
        /// Preset amount of money.
        #[arg(long, conflicts_with = "volume")]
        amount: Option<String>,
        /// Preset volume.
        #[arg(long)]
        volume: Option<String>,
        /// Id of the attendant starting the dispatch.
        #[arg(long)]
        attendant: Option<String>,
        /// Limit the dispatch to this grade (number or name as configured); repeat or
        /// separate with commas for several. Without it, any grade of the position.
        #[arg(long = "grade", value_delimiter = ',')]
        grades: Vec<String>,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Stop the dispatch on a position (admin API).
    Stop {
        /// The position number.
        position: u16,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// List recent sales (admin API).
    Sales {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Payments flagged for the attendant: mismatches, duplicates, payments after cash,
    /// refunds, chargebacks (admin API).
    Flagged {
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Mark a sale as settled by another means, e.g. cash (admin API).
    Settle {
        /// The sale id.
        sale: i64,
        /// What it was settled with.
        #[arg(long, default_value = "cash")]
        note: String,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Void a sale: nothing is owed (admin API).
    Void {
        /// The sale id.
        sale: i64,
        /// Why.
        #[arg(long)]
        note: String,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Refund a paid sale through Mercado Pago, in full or in part (admin API).
    Refund {
        /// The sale id.
        sale: i64,
        /// Partial amount; omit to refund what is left.
        #[arg(long)]
        amount: Option<String>,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Mercado Pago POS of the positions (admin API).
    Pos {
        #[command(subcommand)]
        action: PosAction,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Users: attendants and managers.
    User {
        #[command(subcommand)]
        action: cli_access::UserAction,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Service tokens for a POS, a back office or a script.
    Token {
        #[command(subcommand)]
        action: cli_access::TokenAction,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// The audit trail of admin actions, newest first (admin API, manager).
    Audit {
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only rows older than this id (paging).
        #[arg(long)]
        before: Option<i64>,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Shifts: open, close, show, report (admin API).
    Shift {
        #[command(subcommand)]
        action: cli_station::ShiftAction,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Grade prices: show, set now or at a time (admin API).
    Prices {
        #[command(subcommand)]
        action: cli_station::PricesAction,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Headquarters: load every station's events from JetStream into PostgreSQL,
    /// exactly once (docs/chain.md).
    HqSink(forecourtd::chain::hq_sink::HqSinkArgs),
    /// Headquarters: make the key pair that signs central price plans (docs/chain.md).
    HqKeygen(forecourtd::chain::hq_tools::HqKeygenArgs),
    /// Headquarters: sign a price plan for a station or a group and publish it.
    HqPricePlan(forecourtd::chain::hq_tools::HqPricePlanArgs),
    /// Feed a field capture to the protocol master offline; print its frames, events and
    /// state changes.
    Replay(forecourtd::replay::ReplayArgs),
    /// A local stand-in for the Mercado Pago API and app, for tests and the demo.
    Sandbox(forecourtd::lab::sandbox::SandboxArgs),
    /// Run simulated pumps on a new pseudo-terminal; actions come from stdin.
    Simulate(simulate::SimulateArgs),
    /// Simulated pumps, the real daemon and scripted cars: the whole flow, no hardware.
    Demo(demo::DemoArgs),
}

/// What to do with the POS.
#[derive(Debug, Subcommand)]
enum PosAction {
    /// Create (or find) one POS per position with its order URL and store the QR data.
    Sync,
    /// Show the stored POS and their QR images.
    List,
}

/// Where the admin API is, and the token the CLI proves itself with.
#[derive(Debug, clap::Args)]
struct AdminTarget {
    /// Admin API base URL.
    #[arg(long, conflicts_with = "config")]
    admin: Option<String>,
    /// Take the admin address and token file from this configuration file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Service token file (default: the daemon's `cli.token` next to the journal).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

/// Which journal file.
#[derive(Debug, clap::Args)]
struct JournalTarget {
    /// The journal file.
    #[arg(long, conflicts_with = "config")]
    database: Option<PathBuf>,
    /// Take the journal's path from this configuration file.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

impl JournalTarget {
    /// The journal's path; the packaged location when neither option is given.
    fn path(&self) -> Result<PathBuf, String> {
        if let Some(path) = &self.database {
            return Ok(path.clone());
        }
        if let Some(path) = &self.config {
            let config = Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(config.database().path.clone());
        }
        Ok(PathBuf::from(DEFAULT_JOURNAL))
    }
}

/// Where the packaged daemon keeps its journal (StateDirectory=forecourtd).
const DEFAULT_JOURNAL: &str = "/var/lib/forecourtd/journal.db";

/// Where the daemon writes the CLI's token with the default configuration.
const DEFAULT_TOKEN_FILE: &str = "/var/lib/forecourtd/cli.token";

impl AdminTarget {
    /// The base URL and the token file.
    fn resolve(&self) -> Result<(String, PathBuf), String> {
        let config = match &self.config {
            Some(path) => Some(Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?),
            None => None,
        };
        let url = match (&self.admin, &config) {
            (Some(url), _) => url.clone(),
            (None, Some(config)) => {
                let scheme = if config.admin().tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}", config.listen().admin)
            }
            (None, None) => "http://127.0.0.1:8081".to_owned(),
        };
        let token_file = match (&self.token_file, &config) {
            (Some(path), _) => path.clone(),
            (None, Some(config)) => config.cli_token_file(),
            (None, None) => PathBuf::from(DEFAULT_TOKEN_FILE),
        };
        Ok((url, token_file))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::ExampleConfig => {
            print!("{EXAMPLE}");
            ExitCode::SUCCESS
        }
        Command::Run {
            config,
            json_logs,
            test_fault_on_sigusr1,
        } => match test_fault(test_fault_on_sigusr1.as_deref()) {
            Ok(fault) => run_async(run_daemon(config, json_logs, fault)),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Backup { file, journal } => maintenance(&journal, |db| {
            let report = maintenance::backup(db, &file)?;
            Ok(format!(
                "{}: {} bytes, schema version {}",
                file.display(),
                report.bytes,
                report.schema_version
            ))
        }),
        Command::Vacuum { journal } => maintenance(&journal, |db| {
            let report = maintenance::vacuum(db)?;
            Ok(format!(
                "{}: {} bytes before, {} after",
                db.display(),
                report.before,
                report.after
            ))
        }),
        Command::Status { admin } => run_async(status(admin)),
        Command::Authorize {
            position,
            amount,
            volume,
            attendant,
            grades,
            admin,
        } => run_async(admin_post(
            admin,
            format!("/api/positions/{position}/authorize"),
            json!({ "amount": amount, "volume": volume, "attendant": attendant,
                    "grades": grades }),
        )),
        Command::Stop { position, admin } => run_async(admin_post(
            admin,
            format!("/api/positions/{position}/stop"),
            json!({}),
        )),
        Command::Sales { limit, admin } => {
            run_async(admin_get(admin, format!("/api/sales?limit={limit}")))
        }
        Command::Flagged { admin } => {
            run_async(admin_get(admin, "/api/payments/flagged".to_owned()))
        }
        Command::Settle { sale, note, admin } => run_async(admin_post(
            admin,
            format!("/api/sales/{sale}/settle"),
            json!({ "note": note }),
        )),
        Command::Void { sale, note, admin } => run_async(admin_post(
            admin,
            format!("/api/sales/{sale}/void"),
            json!({ "note": note }),
        )),
        Command::Refund {
            sale,
            amount,
            admin,
        } => run_async(admin_post(
            admin,
            format!("/api/sales/{sale}/refund"),
            json!({ "amount": amount }),
        )),
        Command::Pos { action, admin } => match action {
            PosAction::Sync => run_async(admin_post(admin, "/api/pos/sync".to_owned(), json!({}))),
            PosAction::List => run_async(admin_get(admin, "/api/pos".to_owned())),
        },
        Command::User { action, admin } => match action {
            cli_access::UserAction::AddManager { name, config } => {
                run_async(add_manager(name, config))
            }
            action => match action.request(cli_access::read_secret) {
                Ok(Some(request)) => run_async(api_request(admin, request)),
                Ok(None) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(EXIT_BAD_CONFIG)
                }
            },
        },
        Command::Token { action, admin } => match action.request() {
            Ok(request) => run_async(api_request(admin, request)),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_BAD_CONFIG)
            }
        },
        Command::Audit {
            limit,
            before,
            admin,
        } => {
            let before = before.map(|b| format!("&before={b}")).unwrap_or_default();
            run_async(admin_get(
                admin,
                format!("/api/audit?limit={limit}{before}"),
            ))
        }
        Command::Shift { action, admin } if action.wants_csv() => {
            run_async(admin_text(admin, action.request().path))
        }
        Command::Shift { action, admin } => run_async(api_request(admin, action.request())),
        Command::Prices { action, admin } => match action.request() {
            Ok(request) => run_async(api_request(admin, request)),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_BAD_CONFIG)
            }
        },
        Command::HqSink(args) => run_async(hq_sink(args)),
        Command::HqKeygen(args) => match forecourtd::chain::hq_tools::keygen(&args) {
            Ok(public) => {
                println!("{public}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("hq-keygen: {e}");
                ExitCode::FAILURE
            }
        },
        Command::HqPricePlan(args) => run_async(hq_price_plan(args)),
        Command::Replay(args) => forecourtd::replay::run(args),
        Command::Sandbox(args) => run_async(sandbox(args)),
        Command::Simulate(args) => run_async(simulate::simulate(args)),
        Command::Demo(args) => run_async(demo::demo(args)),
    }
}

fn run_async<F>(future: F) -> ExitCode
where
    F: std::future::Future<Output = ExitCode>,
{
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a maintenance command on the journal and prints its report.
fn maintenance(
    target: &JournalTarget,
    run: impl FnOnce(&Path) -> Result<String, maintenance::MaintenanceError>,
) -> ExitCode {
    let path = match target.path() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match run(&path) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the hidden `--test-fault-on-sigusr1 TASK=FAULT`, refused unless the test hooks
/// are enabled explicitly in the environment, so a production unit can never arm it.
fn test_fault(arg: Option<&str>) -> Result<Option<(String, Fault)>, String> {
    let Some(arg) = arg else { return Ok(None) };
    if std::env::var_os(TEST_HOOKS_ENV).as_deref() != Some(std::ffi::OsStr::new("1")) {
        return Err(format!(
            "--test-fault-on-sigusr1 is a test hook; it needs {TEST_HOOKS_ENV}=1"
        ));
    }
    let (task, fault) = arg
        .split_once('=')
        .ok_or_else(|| format!("--test-fault-on-sigusr1 {arg:?}: expected TASK=stall|panic"))?;
    Ok(Some((task.to_owned(), fault.parse()?)))
}

/// Arms `fault` in the daemon when SIGUSR1 arrives (test hook).
async fn fault_on_sigusr1(daemon: &Daemon, fault: Option<(String, Fault)>) {
    let Some((task, fault)) = fault else {
        return std::future::pending().await;
    };
    let mut signal =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGUSR1");
                return std::future::pending().await;
            }
        };
    signal.recv().await;
    if !daemon.inject_fault(&task, fault) {
        tracing::warn!(task, "no such task to inject a fault into");
    }
    std::future::pending().await
}

async fn run_daemon(
    path: PathBuf,
    json_logs: bool,
    test_fault: Option<(String, Fault)>,
) -> ExitCode {
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(ConfigError::Invalid(issues)) => {
            for issue in &issues {
                eprintln!("{issue}");
            }
            eprintln!("{}: {} error(s)", path.display(), issues.len());
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let format = if json_logs {
        LogFormat::Json
    } else {
        config.logging().format
    };
    telemetry::init(format, &config.logging().level);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let daemon = match Daemon::start(config).await {
        Ok(daemon) => daemon,
        Err(e) => {
            tracing::error!("cannot start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut exit = ExitCode::SUCCESS;
    tokio::select! {
        _ = signals::wait_for_signal() => tracing::info!("stopping"),
        failure = daemon.failed() => {
            tracing::error!(task = %failure.task, how = %failure.how,
                "{failure}; exiting so the service manager restarts forecourtd");
            exit = ExitCode::from(EXIT_TASK_DIED);
        }
        () = fault_on_sigusr1(&daemon, test_fault) => {}
    }
    if let Err(e) = daemon.shutdown_within(SHUTDOWN_DEADLINE).await {
        tracing::error!("{e}; exiting anyway");
        return ExitCode::FAILURE;
    }
    exit
}

/// A token cancelled at SIGINT or SIGTERM (for the foreground tools).
fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        signals::wait_for_signal().await;
        stopper.cancel();
    });
    shutdown
}

async fn hq_sink(args: forecourtd::chain::hq_sink::HqSinkArgs) -> ExitCode {
    telemetry::init(LogFormat::Human, "info");
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("hq-sink: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = shutdown_on_signal();
    match forecourtd::chain::hq_sink::run(settings, shutdown).await {
        Ok(loaded) => {
            tracing::info!(loaded, "hq-sink stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hq-sink: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn hq_price_plan(args: forecourtd::chain::hq_tools::HqPricePlanArgs) -> ExitCode {
    // Warnings only: a failed connection attempt that is tried again.
    telemetry::init(LogFormat::Human, "warn");
    match forecourtd::chain::hq_tools::publish(&args).await {
        Ok((plan, revision)) => {
            println!(
                "plan {} published for {} (revision {revision})",
                plan.plan_id,
                plan.target.key()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hq-price-plan: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn sandbox(args: forecourtd::lab::sandbox::SandboxArgs) -> ExitCode {
    telemetry::init(LogFormat::Human, "info");
    let shutdown = shutdown_on_signal();
    match forecourtd::lab::sandbox::run_sandbox_command(args, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn status(admin: AdminTarget) -> ExitCode {
    let target = admin.resolve().ok();
    let code = admin_call(
        admin,
        hyper::Method::GET,
        "/api/positions".to_owned(),
        None,
        admin_client::positions_table,
    )
    .await;
    // A daemon without `/api/status` (older) or without trouble prints nothing more.
    if let Some((url, token_file)) = target {
        let token = admin_client::read_token_file(&token_file).ok();
        if let Ok((answer, body)) = admin_client::call_as(
            &url,
            token.as_ref(),
            hyper::Method::GET,
            "/api/status",
            None,
        )
        .await
        {
            if let Some(line) = answer
                .is_success()
                .then(|| admin_client::mercadopago_line(&body))
                .flatten()
            {
                print!("{line}");
            }
        }
    }
    code
}

fn pretty(body: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string());
    format!("{text}\n")
}

async fn admin_get(admin: AdminTarget, path: String) -> ExitCode {
    admin_call(admin, hyper::Method::GET, path, None, pretty).await
}

async fn admin_post(admin: AdminTarget, path: String, body: serde_json::Value) -> ExitCode {
    // Leave out what was not given, so the daemon sees exactly the request made.
    let body = match body {
        serde_json::Value::Object(map) => {
            serde_json::Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    };
    admin_call(admin, hyper::Method::POST, path, Some(body), pretty).await
}

/// Calls the admin API and prints the answer with `render` (or the error's message).
async fn admin_call(
    admin: AdminTarget,
    method: hyper::Method,
    path: String,
    body: Option<serde_json::Value>,
    render: fn(&serde_json::Value) -> String,
) -> ExitCode {
    let (url, token_file) = match admin.resolve() {
        Ok(target) => target,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    // Without a readable token the call goes out bare; the daemon's 401 says what is
    // missing, and open routes still answer.
    let token = admin_client::read_token_file(&token_file).ok();
    if token.is_none() {
        eprintln!(
            "note: no token in {} (run as the daemon's user, or pass --token-file)",
            token_file.display()
        );
    }
    match admin_client::call_as(&url, token.as_ref(), method, &path, body.as_ref()).await {
        Ok((status, body)) if status.is_success() => {
            print!("{}", render(&body));
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("request refused");
            eprintln!("{status}: {message}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// GETs `path` and prints the body as it came (CSV).
async fn admin_text(admin: AdminTarget, path: String) -> ExitCode {
    let (url, token_file) = match admin.resolve() {
        Ok(target) => target,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let token = admin_client::read_token_file(&token_file).ok();
    match admin_client::call_raw_as(&url, token.as_ref(), hyper::Method::GET, &path, None).await {
        Ok((status, body)) if status.is_success() => {
            print!("{}", String::from_utf8_lossy(&body));
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!("{status}: {}", String::from_utf8_lossy(&body));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn api_request(admin: AdminTarget, request: cli_access::ApiRequest) -> ExitCode {
    admin_call(admin, request.method, request.path, request.body, pretty).await
}

async fn add_manager(name: String, config: PathBuf) -> ExitCode {
    let password = match cli_access::read_secret() {
        Ok(password) => password,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match cli_access::add_manager(&name, &config, password).await {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `FILE: OK`, the summary and any warnings; or every error, one per line.
fn check_config(file: &Path) -> ExitCode {
    let shown = file.display();
    match Config::load(file) {
        Ok(config) => {
            println!("{shown}: OK");
            println!("{}", config.summary());
            for warning in config.warnings() {
                println!("warning: {warning}");
            }
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid(issues)) => {
            for issue in &issues {
                eprintln!("{issue}");
            }
            eprintln!("{shown}: {} error(s)", issues.len());
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        // The message names the file already.
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        Err(e @ ConfigError::Syntax { .. }) => {
            eprintln!("{shown}: {e}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}
