//! `forecourtd demo`: the whole station on one machine, with no hardware and no
//! credentials.
//!
//! Simulated DART pumps run on a pseudo-terminal (and, with `--gilbarco N`, simulated
//! Gilbarco pumps on a second one: a mixed station); the real daemon opens them as it would open
//! an RS-485 adapter, from a configuration generated here (and validated like any other).
//! A local Mercado Pago sandbox stands in for the API and the customer's app. Scripted cars
//! then go through the pumps: the attendant authorizes through the admin API, the customer
//! lifts the nozzle on the simulator, fuel flows to the preset, the sale becomes payable,
//! the customer scans the QR and pays with a test card (sometimes declined first, sometimes
//! paying cash instead), Mercado Pago notifies the station, the daemon confirms the payment
//! with the API and releases the sale.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hyper::Method;
use pump_protocols::{BusAddress, NozzleId, PositionId, SimAction};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::admin_client;
use crate::app::Daemon;
use crate::config::Config;
use crate::config::LogFormat;
use crate::forecourt::dispatch::OrderState;
use crate::forecourt::ForecourtHandle;
use crate::lab::sandbox::{
    CardHolder, Sandbox, SandboxHandle, SandboxSettings, ScanOutcome, ScanTarget,
};
use crate::lab::sim_line::{spawn_sim_line, SimLineHandle};
use crate::lines::now;
use crate::protocols;
use crate::secret::Secret;
use crate::signals::wait_for_signal;

/// The station every generated configuration describes.
pub const STORE_ID: &str = "29";

/// How the generated station reaches Mercado Pago.
#[derive(Debug, Clone)]
pub struct PaymentSpec {
    /// API base URL (the sandbox's).
    pub api_base_url: String,
    /// File holding the access token.
    pub access_token_file: PathBuf,
    /// File holding the webhook secret.
    pub webhook_secret_file: PathBuf,
    /// The seller's user id.
    pub collector_id: u64,
    /// `order` or `preference`.
    pub mode: &'static str,
    /// Seconds before a served, unpaid sale is searched for.
    pub reconcile_after_secs: u64,
    /// Refund money the station is not owed.
    pub refund_duplicates: bool,
    /// Notification channel asked of Mercado Pago (`source_news`): `ipn` or `webhooks`.
    pub source_news: &'static str,
}

/// What a generated station configuration contains.
#[derive(Debug, Clone)]
pub struct StationSpec {
    /// One serial line per device.
    pub devices: Vec<PathBuf>,
    /// Pumps on each line (addresses from 0x50; positions numbered across lines from 1).
    pub pumps_per_line: u8,
    /// The journal.
    pub database: PathBuf,
    /// Public listener address (also used in the notification and POS URLs).
    pub public: String,
    /// Admin listener address.
    pub admin: String,
    /// Mercado Pago, if payments are to be confirmed.
    pub payments: Option<PaymentSpec>,
    /// A Gilbarco line after the DART ones, if any.
    pub gilbarco: Option<GilbarcoLineSpec>,
}

/// A simulated Gilbarco loop in a generated configuration.
#[derive(Debug, Clone)]
pub struct GilbarcoLineSpec {
    /// Its device.
    pub device: PathBuf,
    /// Pumps on it, addresses 1..=pumps; their positions follow the DART lines' ones.
    pub pumps: u8,
}

/// A station configuration for simulated lines: two nozzles per pump (1 super, 2
/// infinia), loyalty and two attendants.
pub fn station_config_toml(spec: &StationSpec) -> String {
    let (price_super, price_infinia) = (protocols::DEMO_PRICE_SUPER, protocols::DEMO_PRICE_INFINIA);
    let public = &spec.public;
    let source_news = spec.payments.as_ref().map_or("webhooks", |p| p.source_news);
    let mercadopago = match &spec.payments {
        None => "collector_id = 446566691\n".to_owned(),
        Some(p) => format!(
            "mode = \"{}\"\napi_base_url = \"{}\"\naccess_token_file = {:?}\nwebhook_secret_file = {:?}\n\
             collector_id = {}\nreconcile_after_secs = {}\nrefund_duplicates = {}\n",
            p.mode,
            p.api_base_url,
            p.access_token_file.display().to_string(),
            p.webhook_secret_file.display().to_string(),
            p.collector_id,
            p.reconcile_after_secs,
            p.refund_duplicates
        ),
    };
    let mut text = format!(
        r#"[station]
store_id = "{STORE_ID}"
name = "Estacion Demo"
time_zone = "America/Argentina/Buenos_Aires"
currency = "ARS"

[mercadopago]
{mercadopago}sponsor_id = 446559784
notification_url = "http://{public}/mp/notifications?source_news={source_news}"
public_base_url = "http://{public}"

[listen]
public = "{public}"
admin = "{admin}"

[database]
path = {database:?}

[grades.super]
id = 1
name = "Super"
code = "1"
price = "{price_super}"

[grades.infinia]
id = 2
name = "Infinia"
code = "4"
price = "{price_infinia}"

[loyalty]
program = "serviclub"

[[attendants]]
id = "7"
name = "Juana Perez"
document_type = "DNI"
document_number = "30123456"

[[attendants]]
id = "8"
name = "Carlos Gomez"
document_type = "DNI"
document_number = "28999111"
"#,
        admin = spec.admin,
        database = spec.database.display().to_string(),
    );
    let mut position = 1;
    let mut index = 0;
    for device in &spec.devices {
        text.push_str(&format!(
            "\n[[lines]]\nname = \"line{}\"\ndevice = {:?}\nprotocol = \"dart\"\n",
            index + 1,
            device.display().to_string()
        ));
        index += 1;
        for pump in 0..spec.pumps_per_line {
            text.push_str(&pump_toml(&format!("0x{:02X}", 0x50 + pump), position));
            position += 1;
        }
    }
    if let Some(gilbarco) = &spec.gilbarco {
        let digits = match protocols::DEMO_GILBARCO_DIGITS {
            pump_protocols::gilbarco::DigitMode::Six => 6,
            pump_protocols::gilbarco::DigitMode::Eight => 8,
        };
        // A pseudo-terminal takes any rate; a real loop needs an adapter that does 5787.
        text.push_str(&format!(
            "\n[[lines]]\nname = \"line{}\"\ndevice = {:?}\nprotocol = \"gilbarco\"\ndigits = {digits}\n",
            index + 1,
            gilbarco.device.display().to_string()
        ));
        for pump in 1..=gilbarco.pumps {
            text.push_str(&pump_toml(&pump.to_string(), position));
            position += 1;
        }
    }
    text
}

fn pump_toml(address: &str, position: u16) -> String {
    format!(
        "\n[[lines.pumps]]\naddress = {address}\nposition = {position}\nnozzles = {{ \"1\" = \"super\", \"2\" = \"infinia\" }}\n"
    )
}

/// Writes the sandbox's credentials where the generated configuration reads them.
pub fn write_credentials(
    dir: &Path,
    sandbox: &SandboxHandle,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let token = dir.join("mp_access_token");
    let secret = dir.join("mp_webhook_secret");
    std::fs::write(&token, sandbox.access_token().expose()).context("writing the token file")?;
    std::fs::write(&secret, sandbox.webhook_secret().expose())
        .context("writing the secret file")?;
    Ok((token, secret))
}

/// A sandbox for the demo: notifications retried within seconds, the app polling every
/// second while a dispatch is in process.
pub fn demo_sandbox_settings() -> SandboxSettings {
    let mut settings = SandboxSettings::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.notify.retry_schedule = vec![
        Duration::from_secs(1),
        Duration::from_secs(3),
        Duration::from_secs(10),
    ];
    settings.scan.poll_interval = Duration::from_secs(1);
    settings
}

/// Runs the demo until Ctrl-C (or until `args.sales` sales are settled). `pause` is the
/// time a car waits between steps.
pub async fn run(args: DemoArgs, pause: Duration) -> anyhow::Result<()> {
    let sim_shutdown = CancellationToken::new();
    let sim = spawn_sim_line(protocols::demo_simulator(args.pumps)?, sim_shutdown.clone())
        .context("starting the simulated pumps")?;
    let gilbarco = match args.gilbarco {
        0 => None,
        n => Some(
            spawn_sim_line(protocols::demo_gilbarco_simulator(n)?, sim_shutdown.clone())
                .context("starting the simulated Gilbarco pumps")?,
        ),
    };
    let sandbox = Sandbox::start(demo_sandbox_settings())
        .await
        .context("starting the Mercado Pago sandbox")?;
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| temp.path().join("journal.db"));
    let public = tokio::net::TcpListener::bind(args.public)
        .await
        .with_context(|| {
            format!(
                "binding {} (in use? try --public 127.0.0.1:0 --admin 127.0.0.1:0)",
                args.public
            )
        })?;
    let public_addr = public.local_addr()?;
    let (token_file, secret_file) = write_credentials(temp.path(), &sandbox)?;
    let text = station_config_toml(&StationSpec {
        devices: vec![sim.path().to_path_buf()],
        pumps_per_line: args.pumps,
        database: database.clone(),
        public: public_addr.to_string(),
        admin: args.admin.to_string(),
        payments: Some(PaymentSpec {
            api_base_url: sandbox.base_url().to_owned(),
            access_token_file: token_file,
            webhook_secret_file: secret_file,
            collector_id: u64::try_from(sandbox.collector_id()).unwrap_or_default(),
            mode: "order",
            reconcile_after_secs: 30,
            refund_duplicates: true,
            source_news: "webhooks",
        }),
        gilbarco: gilbarco.as_ref().map(|g| GilbarcoLineSpec {
            device: g.path().to_path_buf(),
            pumps: args.gilbarco,
        }),
    });
    let config = Config::from_toml_str(&text, temp.path())
        .map_err(|e| anyhow::anyhow!("generated configuration is invalid:\n{e}"))?;
    let token_file = config.cli_token_file();
    let daemon = Daemon::start_with_public(config, Some(public))
        .await
        .with_context(|| format!("starting the daemon (is {} in use?)", args.admin))?;
    print_banner(
        &daemon,
        &database,
        &sim,
        gilbarco.as_ref(),
        &args,
        sandbox.base_url(),
    );

    let admin_url = format!("http://{}", daemon.admin_addr);
    let admin_token = admin_client::read_token_file(&token_file)?;
    println!(
        "  CLI token       {} (e.g. forecourtd status --token-file {})",
        token_file.display(),
        token_file.display()
    );
    let public_url = format!("http://{}", daemon.public_addr);
    let cars_shutdown = CancellationToken::new();
    let watcher = tokio::spawn(watch_positions(
        daemon.forecourt.clone(),
        public_url.clone(),
    ));
    let mut cars = Vec::new();
    let dart_pumps = (1..=args.pumps).map(|n| (sim.clone(), BusAddress(0x4F + n)));
    let gilbarco_pumps = gilbarco
        .iter()
        .flat_map(|g| (1..=args.gilbarco).map(|n| (g.clone(), BusAddress(n))));
    for (index, (sim, address)) in dart_pumps.chain(gilbarco_pumps).enumerate() {
        let position = u16::try_from(index + 1).unwrap_or(u16::MAX);
        cars.push(tokio::spawn(drive_cars(Car {
            sim,
            address,
            position,
            sandbox: sandbox.clone(),
            forecourt: daemon.forecourt.clone(),
            admin_url: admin_url.clone(),
            admin_token: admin_token.clone(),
            public_url: public_url.clone(),
            pause,
            shutdown: cars_shutdown.clone(),
        })));
    }
    let target = args.sales;
    let enough = async {
        if target == 0 {
            return std::future::pending::<()>().await;
        }
        loop {
            let settled = match admin_client::call_as(
                &admin_url,
                Some(&admin_token),
                Method::GET,
                "/api/sales?limit=500",
                None,
            )
            .await
            {
                Ok((_, sales)) => sales
                    .as_array()
                    .map(|s| s.iter().filter(|s| s["status"] != json!("ready")).count())
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if settled >= target as usize {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = wait_for_signal() => println!("\nstopping…"),
        _ = enough => println!("\n{target} sale(s) settled; stopping…"),
    }
    cars_shutdown.cancel();
    for car in cars {
        let _ = car.await;
    }
    watcher.abort();
    // The daemon first, so the line task ends its exchange before the pumps go away.
    daemon.shutdown().await;
    sim_shutdown.cancel();
    sandbox.shutdown().await;
    if args.database.is_some() {
        println!("journal kept at {}", database.display());
    }
    Ok(())
}

fn print_banner(
    daemon: &Daemon,
    database: &Path,
    dart: &SimLineHandle,
    gilbarco: Option<&SimLineHandle>,
    args: &DemoArgs,
    sandbox: &str,
) {
    println!(
        "forecourtd demo: {} simulated DART pump(s) on {} (positions 1..{})",
        args.pumps,
        dart.path().display(),
        args.pumps
    );
    if let Some(g) = gilbarco {
        println!(
            "                 {} simulated Gilbarco pump(s) on {} (positions {}..{})",
            args.gilbarco,
            g.path().display(),
            u16::from(args.pumps) + 1,
            u16::from(args.pumps) + u16::from(args.gilbarco)
        );
    }
    let pumps = u16::from(args.pumps) + u16::from(args.gilbarco);
    println!("  journal         {}", database.display());
    println!("  Mercado Pago    {sandbox} (local sandbox)");
    println!(
        "  order endpoint  http://{}/pay-mp?apies={STORE_ID}&pos=1   (pos=1..{pumps})",
        daemon.public_addr
    );
    println!(
        "  admin API       http://{}/api/positions",
        daemon.admin_addr
    );
    println!(
        "  console         http://{}/   (sign in once attendant 7 has a PIN: forecourtd user reset 7)",
        daemon.admin_addr
    );
    println!(
        "  try             curl -s 'http://{}/pay-mp?apies={STORE_ID}&pos=1'",
        daemon.public_addr
    );
    println!(
        "                  forecourtd status --admin http://{}",
        daemon.admin_addr
    );
    println!(
        "                  forecourtd sales --admin http://{}",
        daemon.admin_addr
    );
    println!("Ctrl-C stops the demo.\n");
}

/// Prints each position's order answer whenever it changes.
async fn watch_positions(forecourt: ForecourtHandle, public_url: String) {
    let mut snapshots = forecourt.subscribe();
    let mut last: BTreeMap<PositionId, String> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let snapshot = snapshots.borrow_and_update().clone();
        for state in snapshot.positions_now() {
            let position = state.setup.position;
            let (label, detail) = match state.order_state(now()) {
                OrderState::Timeout => ("timeout", String::new()),
                OrderState::InProcess => ("in_process", String::new()),
                OrderState::Unavailable => ("unavailable", String::new()),
                OrderState::Payable(sale) => (
                    "ready",
                    format!(
                        ": {} ${} for {} l → {public_url}/pay-mp?apies={STORE_ID}&pos={position}",
                        sale.external_reference, sale.amount, sale.volume
                    ),
                ),
            };
            let previous = last.insert(position, label.to_owned());
            if previous.as_deref() != Some(label) {
                println!(
                    "pos {position}: {} → {label}{detail}",
                    previous.as_deref().unwrap_or("start")
                );
            }
        }
    }
}

/// What one pump's stream of cars needs.
struct Car {
    sim: SimLineHandle,
    sandbox: SandboxHandle,
    forecourt: ForecourtHandle,
    admin_url: String,
    admin_token: Secret,
    public_url: String,
    /// The pump's bus address on its simulated line.
    address: BusAddress,
    /// Its position number.
    position: u16,
    pause: Duration,
    shutdown: CancellationToken,
}

impl Car {
    async fn wait(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(duration) => true,
        }
    }
}

/// One pump's stream of cars: authorize with a preset, lift, fill, hang up, pay.
async fn drive_cars(car: Car) {
    let address = car.address;
    let position = PositionId(car.position);
    let presets = ["5000", "8000", "12000", "3000"];
    let mut n: usize = usize::from(car.position);
    loop {
        if !car
            .wait(Duration::from_millis(700) * u32::from(car.position) + car.pause)
            .await
        {
            return;
        }
        n += 1;
        let preset = presets.get(n % presets.len()).copied().unwrap_or("5000");
        let attendant = if n % 2 == 0 { "7" } else { "8" };
        let body = json!({ "amount": preset, "attendant": attendant });
        let path = format!("/api/positions/{}/authorize", car.position);
        match admin_client::call_as(
            &car.admin_url,
            Some(&car.admin_token),
            Method::POST,
            &path,
            Some(&body),
        )
        .await
        {
            Ok((status, _)) if status.is_success() => {
                println!(
                    "pos {}: attendant {attendant} authorizes ${preset}",
                    car.position
                );
            }
            Ok((status, answer)) => {
                tracing::debug!(%status, %answer, "authorization refused; retrying later");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin API unreachable");
                continue;
            }
        }
        if !car.wait(car.pause).await {
            return;
        }
        let nozzle = NozzleId(if n % 3 == 0 { 2 } else { 1 });
        if let Err(e) = car.sim.act(address, SimAction::LiftNozzle(nozzle)).await {
            tracing::warn!(error = %e, "simulator refused the lift");
        }
        // Wait until the dispatch is a sale (the preset stops the pump), then hang up.
        let mut snapshots = car.forecourt.subscribe();
        loop {
            let done = snapshots
                .borrow()
                .positions
                .get(&position)
                .map(|p| p.dispatch.is_none() && !p.recording)
                .unwrap_or(true);
            if done {
                break;
            }
            tokio::select! {
                _ = car.shutdown.cancelled() => return,
                changed = snapshots.changed() => if changed.is_err() { return },
            }
        }
        if let Err(e) = car.sim.act(address, SimAction::HangNozzle).await {
            tracing::warn!(error = %e, "simulator refused the hang-up");
        }
        if !car.wait(car.pause).await {
            return;
        }
        pay(&car, n).await;
    }
}

/// The customer pays: usually an approved card; every fifth car is declined first
/// (seed 000 case 9); every seventh pays cash at the counter instead.
async fn pay(car: &Car, n: usize) {
    let url = format!(
        "{}/pay-mp?apies={STORE_ID}&pos={}",
        car.public_url, car.position
    );
    if n % 7 == 0 {
        let Some(sale) = car
            .forecourt
            .snapshot()
            .positions
            .get(&PositionId(car.position))
            .and_then(|p| p.payable.last().map(|s| s.id))
        else {
            return;
        };
        let path = format!("/api/sales/{sale}/settle");
        if admin_client::call_as(
            &car.admin_url,
            Some(&car.admin_token),
            Method::POST,
            &path,
            Some(&json!({ "note": "cash" })),
        )
        .await
        .is_ok()
        {
            println!(
                "pos {}: customer pays cash; sale {sale} settled at the counter",
                car.position
            );
        }
        return;
    }
    let cards: &[CardHolder] = if n % 5 == 0 {
        &[CardHolder::Call, CardHolder::Apro]
    } else {
        &[CardHolder::Apro]
    };
    for card in cards {
        let options = car.sandbox.default_scan_options();
        match car
            .sandbox
            .scan(ScanTarget::Url(url.clone()), *card, &options)
            .await
        {
            Ok(ScanOutcome::Paid { payment, .. }) => println!(
                "pos {}: customer scans and pays ${} with card {}: {} ({})",
                car.position,
                payment.transaction_amount,
                card.name(),
                payment.status,
                payment.status_detail
            ),
            Ok(other) => println!("pos {}: scan: {other:?}", car.position),
            Err(e) => println!("pos {}: scan failed: {e}", car.position),
        }
    }
}

/// Arguments of `forecourtd demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the journal in this file instead of a temporary one.
    #[arg(long)]
    pub database: Option<PathBuf>,
    /// Address of the public listener (order endpoint).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub public: std::net::SocketAddr,
    /// Address of the admin listener.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub admin: std::net::SocketAddr,
    /// Simulated DART positions (pumps), on the first pseudo-terminal.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub pumps: u8,
    /// Simulated Gilbarco pumps on a second pseudo-terminal line (a mixed station);
    /// their positions follow the DART ones. 0 for none.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=16))]
    pub gilbarco: u8,
    /// Stop after this many sales (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub sales: u32,
    /// Log as JSON lines.
    #[arg(long)]
    pub json_logs: bool,
}

/// `forecourtd demo`.
pub async fn demo(args: DemoArgs) -> ExitCode {
    crate::telemetry::init(
        if args.json_logs {
            LogFormat::Json
        } else {
            LogFormat::Human
        },
        "warn",
    );
    match run(args, Duration::from_secs(2)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
