//! `forecourtd demo`: the whole station on one machine, with no hardware and no
//! credentials.
//!
//! Simulated DART pumps run on a pseudo-terminal; the real daemon opens it as it would open
//! an RS-485 adapter, from a configuration generated here (and validated like any other).
//! Scripted cars then go through the pumps: the attendant authorizes through the admin
//! API, the customer lifts the nozzle on the simulator, fuel flows to the preset, the sale
//! becomes payable, and the order endpoint shows what Mercado Pago's app would get.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hyper::Method;
use pump_protocols::{BusAddress, NozzleId, PositionId, SimAction};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::admin_client;
use crate::app::Daemon;
use crate::cli_support::{wait_for_signal, DemoArgs};
use crate::config::Config;
use crate::forecourt::dispatch::OrderState;
use crate::lines::now;
use crate::protocols;
use crate::sim::{spawn_sim_line, SimLineHandle};

/// The station every generated configuration describes.
pub const STORE_ID: &str = "29";

/// A station configuration for simulated lines: one `[[lines]]` per device, `pumps_per_line`
/// pumps each (addresses from 0x50, positions numbered across lines from 1), two nozzles
/// per pump (1 = super, 2 = infinia), loyalty and two attendants.
pub fn station_config_toml(
    devices: &[&Path],
    pumps_per_line: u8,
    database: &Path,
    public: &str,
    admin: &str,
) -> String {
    let (price_super, price_infinia) = (protocols::DEMO_PRICE_SUPER, protocols::DEMO_PRICE_INFINIA);
    let mut text = format!(
        r#"[station]
store_id = "{STORE_ID}"
name = "Estacion Demo"
time_zone = "America/Argentina/Buenos_Aires"
currency = "ARS"

[mercadopago]
collector_id = 446566691
sponsor_id = 446559784
notification_url = "http://{public}/mp/notifications?source_news=ipn"
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
"#
    );
    let mut position = 1;
    for (index, device) in devices.iter().enumerate() {
        text.push_str(&format!(
            "\n[[lines]]\nname = \"line{}\"\ndevice = {:?}\nprotocol = \"dart\"\n",
            index + 1,
            device.display().to_string()
        ));
        for pump in 0..pumps_per_line {
            text.push_str(&format!(
                "\n[[lines.pumps]]\naddress = 0x{:02X}\nposition = {position}\nnozzles = {{ \"1\" = \"super\", \"2\" = \"infinia\" }}\n",
                0x50 + pump
            ));
            position += 1;
        }
    }
    text
}

/// Runs the demo until Ctrl-C (or until `args.sales` sales are ready). `pause` is the time
/// a car waits between steps.
pub async fn run(args: DemoArgs, pause: Duration) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let sim = spawn_sim_line(protocols::demo_simulator(args.pumps)?, shutdown.clone())
        .context("starting the simulated pumps")?;
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| temp.path().join("journal.db"));
    let text = station_config_toml(
        &[sim.path()],
        args.pumps,
        &database,
        &args.public.to_string(),
        &args.admin.to_string(),
    );
    let config = Config::from_toml_str(&text, temp.path())
        .map_err(|e| anyhow::anyhow!("generated configuration is invalid:\n{e}"))?;
    let daemon = Daemon::start(config).await.with_context(|| {
        format!(
            "starting the daemon (is {} or {} in use? try --public 127.0.0.1:0 --admin 127.0.0.1:0)",
            args.public, args.admin
        )
    })?;
    print_banner(&daemon, &database, sim.path(), args.pumps);

    let admin_url = format!("http://{}", daemon.admin_addr);
    let public_url = format!("http://{}", daemon.public_addr);
    let watcher = tokio::spawn(watch_positions(
        daemon.forecourt.clone(),
        public_url.clone(),
    ));
    let mut cars = Vec::new();
    for pump in 1..=args.pumps {
        cars.push(tokio::spawn(drive_cars(
            sim.clone(),
            daemon.forecourt.clone(),
            admin_url.clone(),
            pump,
            pause,
            shutdown.clone(),
        )));
    }
    let target = args.sales;
    let mut snapshots = daemon.forecourt.subscribe();
    let enough = async {
        if target == 0 {
            return std::future::pending::<()>().await;
        }
        loop {
            let ready: usize = snapshots
                .borrow()
                .positions
                .values()
                .map(|p| p.payable.len())
                .sum();
            if ready >= target as usize {
                return;
            }
            if snapshots.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = wait_for_signal() => println!("\nstopping…"),
        _ = enough => println!("\n{target} sale(s) ready; stopping…"),
    }
    shutdown.cancel();
    for car in cars {
        let _ = car.await;
    }
    watcher.abort();
    daemon.shutdown().await;
    if args.database.is_some() {
        println!("journal kept at {}", database.display());
    }
    Ok(())
}

fn print_banner(daemon: &Daemon, database: &Path, device: &Path, pumps: u8) {
    println!(
        "forecourtd demo: {pumps} simulated DART pump(s) on {}",
        device.display()
    );
    println!("  journal         {}", database.display());
    println!(
        "  order endpoint  http://{}/pay-mp?apies={STORE_ID}&pos=1   (pos=1..{pumps})",
        daemon.public_addr
    );
    println!(
        "  admin API       http://{}/api/positions",
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
    println!("Ctrl-C stops the demo.\n");
}

/// Prints each position's order answer whenever it changes.
async fn watch_positions(forecourt: crate::forecourt::ForecourtHandle, public_url: String) {
    let mut snapshots = forecourt.subscribe();
    let mut last: BTreeMap<PositionId, String> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let snapshot = snapshots.borrow_and_update().clone();
        for (position, state) in &snapshot.positions {
            let (label, detail) = match state.order_state(now()) {
                OrderState::Timeout => ("timeout", String::new()),
                OrderState::InProcess => (
                    "in_process",
                    match state.running {
                        Some(r) => format!(" ({} l, ${})", r.volume, r.amount),
                        None => String::new(),
                    },
                ),
                OrderState::Unavailable => ("unavailable", String::new()),
                OrderState::Payable(sale) => (
                    "ready",
                    format!(
                        " {} ${} for {} l → {}/pay-mp?apies={STORE_ID}&pos={position}",
                        sale.external_reference, sale.amount, sale.volume, public_url
                    ),
                ),
            };
            let previous = last.insert(*position, label.to_owned());
            if previous.as_deref() != Some(label) {
                println!(
                    "pos {position}: {} → {label}{detail}",
                    previous.as_deref().unwrap_or("start")
                );
            }
        }
    }
}

/// One pump's stream of cars: authorize with a preset, lift, fill, hang up, wait.
async fn drive_cars(
    sim: SimLineHandle,
    forecourt: crate::forecourt::ForecourtHandle,
    admin_url: String,
    pump: u8,
    pause: Duration,
    shutdown: CancellationToken,
) {
    let address = BusAddress(0x4F + pump);
    let position = PositionId(u16::from(pump));
    let presets = ["5000", "8000", "12000", "3000"];
    let mut car: usize = usize::from(pump);
    loop {
        let step = Duration::from_millis(700) * u32::from(pump) + pause;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(step) => {}
        }
        car += 1;
        let preset = presets.get(car % presets.len()).copied().unwrap_or("5000");
        let attendant = if car % 2 == 0 { "7" } else { "8" };
        let body = json!({ "amount": preset, "attendant": attendant });
        let path = format!("/api/positions/{pump}/authorize");
        match admin_client::call(&admin_url, Method::POST, &path, Some(&body)).await {
            Ok((status, _)) if status.is_success() => {
                println!("pos {pump}: attendant {attendant} authorizes ${preset}");
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
        let nozzle = NozzleId(if car % 3 == 0 { 2 } else { 1 });
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        if let Err(e) = sim.act(address, SimAction::LiftNozzle(nozzle)).await {
            tracing::warn!(error = %e, "simulator refused the lift");
        }
        // Wait until the dispatch is a sale (the preset stops the pump), then hang up.
        let mut snapshots = forecourt.subscribe();
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
                _ = shutdown.cancelled() => return,
                changed = snapshots.changed() => if changed.is_err() { return },
            }
        }
        if let Err(e) = sim.act(address, SimAction::HangNozzle).await {
            tracing::warn!(error = %e, "simulator refused the hang-up");
        }
    }
}
