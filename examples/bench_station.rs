//! A station on simulated pumps for the scripts in `bench/`: the real daemon in-process,
//! its line on a pseudo-terminal paced as a serial line.
//!
//! ```text
//! bench_station serve   [--pumps N]      one payable sale on position 1, then serve
//!                                        until stdin closes; prints `READY <public addr>`
//! bench_station cycle   [--pumps N] [--baud B] [--poll-interval-ms P]
//!                       [--answer-delay-ms D] [--seconds S]
//!                                        poll cycle against the wire-time limit
//! bench_station latency [same options] [--samples K]
//!                                        simulator event → new order answer, split at
//!                                        the end of the pump's turn that carried it
//! ```
//!
//! Measuring only: it prints figures and never judges them.

use std::io::{BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use forecourtd::app::Daemon;
use forecourtd::config::Config;
use forecourtd::forecourt::Snapshot;
use forecourtd::lab::demo::{station_config_toml, StationSpec, STORE_ID};
use forecourtd::lab::sim_line::{spawn_paced_sim_line, Pacing, SimLineHandle};
use forecourtd::protocols::{DEMO_PRICE_INFINIA, DEMO_PRICE_SUPER};
use pump_protocols::dart::{DartSimulator, SimPumpSetup, SimSettings};
use pump_protocols::{
    BusAddress, Decimals, NozzleId, PositionId, PumpStatus, SimAction, UnitPrice, Volume,
};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

struct Options {
    mode: String,
    pumps: u8,
    baud: u32,
    poll_interval_ms: u64,
    answer_delay_ms: u64,
    seconds: u64,
    samples: u16,
}

fn options() -> anyhow::Result<Options> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        mode: args.next().unwrap_or_else(|| "serve".to_owned()),
        pumps: 32,
        baud: 9600,
        poll_interval_ms: 0,
        answer_delay_ms: 5,
        seconds: 5,
        samples: 8,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--pumps" => o.pumps = value.parse()?,
            "--baud" => o.baud = value.parse()?,
            "--poll-interval-ms" => o.poll_interval_ms = value.parse()?,
            "--answer-delay-ms" => o.answer_delay_ms = value.parse()?,
            "--seconds" => o.seconds = value.parse()?,
            "--samples" => o.samples = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// The simulated line, on its own thread: a paced link waits out its last millisecond
/// by yielding, which must not take a worker from the daemon.
fn start_line(o: &Options, paced: bool) -> anyhow::Result<SimLineHandle> {
    let price = |text: &str| -> anyhow::Result<UnitPrice> { Ok(UnitPrice::new(text.parse()?)) };
    let nozzles = vec![
        (NozzleId(1), price(DEMO_PRICE_SUPER)?),
        (NozzleId(2), price(DEMO_PRICE_INFINIA)?),
    ];
    let pumps = (0..o.pumps)
        .map(|i| SimPumpSetup::new(BusAddress(0x50 + i), Decimals::default(), nozzles.clone()))
        .collect();
    let settings = SimSettings {
        answer_delay: Duration::from_millis(o.answer_delay_ms),
        ..SimSettings::default()
    };
    let mut simulator = DartSimulator::new(pumps, settings).context("simulated pumps")?;
    for i in 0..o.pumps {
        // About a litre a second: a dispatch shows figures within a poll cycle.
        pump_protocols::LineSimulator::act(
            &mut simulator,
            BusAddress(0x50 + i),
            SimAction::SetFlowRate(Volume::new(Decimal::from(60))),
            Instant::now(),
        )
        .context("flow rate")?;
    }
    let pacing = paced.then(|| Pacing::eleven_bit(o.baud));
    let (tx, rx) = std::sync::mpsc::channel();
    // Named, so the idle bench can leave the simulator's CPU time out of the daemon's.
    let thread = std::thread::Builder::new().name("sim-line".to_owned());
    thread.spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = tx.send(Err(anyhow::Error::from(e)));
                return;
            }
        };
        runtime.block_on(async move {
            let shutdown = CancellationToken::new();
            let line = spawn_paced_sim_line(Box::new(simulator), pacing, shutdown.clone());
            let _ = tx.send(line.map_err(anyhow::Error::from));
            shutdown.cancelled().await;
        });
    })?;
    rx.recv().context("simulator thread")?
}

async fn start_daemon(o: &Options, line: &SimLineHandle, dir: &Path) -> anyhow::Result<Daemon> {
    let text = station_config_toml(&StationSpec {
        devices: vec![line.path().to_path_buf()],
        pumps_per_line: o.pumps,
        database: dir.join("journal.db"),
        public: "127.0.0.1:0".to_owned(),
        admin: "127.0.0.1:0".to_owned(),
        payments: None,
        gilbarco: None,
    });
    let text = text.replace(
        "protocol = \"dart\"\n",
        &format!(
            "protocol = \"dart\"\nbaud = {}\npoll_interval_ms = {}\n",
            o.baud, o.poll_interval_ms
        ),
    );
    let config = Config::from_toml_str(&text, dir).context("configuration")?;
    Daemon::start(config).await
}

async fn wait_for(
    daemon: &Daemon,
    what: &str,
    ok: impl Fn(&Snapshot) -> bool,
) -> anyhow::Result<()> {
    let mut snapshots = daemon.forecourt.subscribe();
    let wait = async {
        loop {
            if ok(&snapshots.borrow_and_update()) {
                return;
            }
            if snapshots.changed().await.is_err() {
                return;
            }
        }
    };
    let waited = tokio::time::timeout(Duration::from_secs(60), wait).await;
    if waited.is_err() {
        let snapshot = daemon.forecourt.snapshot();
        let mut statuses = std::collections::BTreeMap::new();
        for state in snapshot.positions_now() {
            let heard = state.last_heard.is_some();
            *statuses
                .entry((state.pump_status.as_str(), heard))
                .or_insert(0) += 1;
        }
        bail!("waiting for {what}: (status, heard) of the positions: {statuses:?}");
    }
    Ok(())
}

fn idle(snapshot: &Snapshot, n: u16) -> bool {
    snapshot.positions.get(&PositionId(n)).is_some_and(|p| {
        snapshot.last_heard(PositionId(n)).is_some()
            && p.dispatch.is_none()
            && matches!(p.pump_status, PumpStatus::Idle | PumpStatus::Completed)
    })
}

fn all_idle(snapshot: &Snapshot) -> bool {
    snapshot.positions.keys().all(|p| idle(snapshot, p.0))
}

fn address(n: u16) -> BusAddress {
    BusAddress(0x4F + u8::try_from(n).unwrap_or(1))
}

/// One keep-alive GET of the order endpoint: status and body. Read through a buffer, so
/// a request costs the client a few system calls, not one a byte.
fn get_order(stream: &mut BufReader<TcpStream>, n: u16) -> anyhow::Result<(u16, Vec<u8>)> {
    write!(
        stream.get_mut(),
        "GET /pay-mp?apies={STORE_ID}&pos={n} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head.get(9..12).unwrap_or("0").parse()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse())
        .transpose()?
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok((status, body))
}

/// Authorizes position `n`, lifts its nozzle and waits until fuel flows.
async fn start_filling(daemon: &Daemon, line: &SimLineHandle, n: u16) -> anyhow::Result<()> {
    wait_for(daemon, "the pump idle", |s| idle(s, n)).await?;
    daemon
        .forecourt
        .authorize(PositionId(n), None, Vec::new(), Some("7".to_owned()))
        .await
        .context("authorize")?;
    line.act(address(n), SimAction::LiftNozzle(NozzleId(1)))
        .await
        .context("lift")?;
    wait_for(daemon, "fuel flowing", |s| {
        s.positions.get(&PositionId(n)).is_some_and(|p| {
            p.running
                .is_some_and(|r| r.volume.is_some_and(|v| !v.value().is_zero()))
        })
    })
    .await
}

async fn serve(o: &Options) -> anyhow::Result<()> {
    let line = start_line(o, false)?;
    let dir = tempfile::tempdir()?;
    let daemon = start_daemon(o, &line, dir.path()).await?;
    start_filling(&daemon, &line, 1).await?;
    line.act(address(1), SimAction::HangNozzle).await?;
    wait_for(&daemon, "a payable sale", |s| {
        s.positions
            .get(&PositionId(1))
            .is_some_and(|p| !p.payable.is_empty())
    })
    .await?;
    println!("READY {}", daemon.public_addr);
    // Until the script closes stdin.
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    daemon.shutdown().await;
    Ok(())
}

/// Measures the poll cycle; returns (cycle, wire limit) of one full round.
async fn measure_cycle(o: &Options, line: &SimLineHandle) -> (Duration, Duration) {
    let stats = line.stats();
    let before = (
        Instant::now(),
        stats.bytes_from_master() + stats.bytes_to_master(),
        stats.answers(),
    );
    tokio::time::sleep(Duration::from_secs(o.seconds)).await;
    let after = (
        Instant::now(),
        stats.bytes_from_master() + stats.bytes_to_master(),
        stats.answers(),
    );
    let answers = (after.2 - before.2).max(1);
    let rounds = answers as f64 / f64::from(o.pumps);
    let elapsed = after.0 - before.0;
    let pacing = Pacing::eleven_bit(o.baud);
    let bytes = usize::try_from(after.1 - before.1).unwrap_or(usize::MAX);
    let wire = pacing.wire_time(bytes)
        + Duration::from_millis(o.answer_delay_ms) * u32::try_from(answers).unwrap_or(u32::MAX);
    (elapsed.div_f64(rounds), wire.div_f64(rounds))
}

async fn cycle(o: &Options) -> anyhow::Result<()> {
    let line = start_line(o, true)?;
    let dir = tempfile::tempdir()?;
    let daemon = start_daemon(o, &line, dir.path()).await?;
    wait_for(&daemon, "every pump idle", all_idle).await?;
    let (cycle, wire) = measure_cycle(o, &line).await;
    println!(
        "pumps={} baud={} poll_interval_ms={} answer_delay_ms={} cycle_ms={:.1} wire_limit_ms={:.1} ratio={:.3}",
        o.pumps,
        o.baud,
        o.poll_interval_ms,
        o.answer_delay_ms,
        cycle.as_secs_f64() * 1e3,
        wire.as_secs_f64() * 1e3,
        cycle.as_secs_f64() / wire.as_secs_f64()
    );
    daemon.shutdown().await;
    Ok(())
}

async fn latency(o: &Options) -> anyhow::Result<()> {
    let line = start_line(o, true)?;
    let dir = tempfile::tempdir()?;
    let daemon = start_daemon(o, &line, dir.path()).await?;
    wait_for(&daemon, "every pump idle", all_idle).await?;
    let (cycle, _) = measure_cycle(o, &line).await;
    let public: SocketAddr = daemon.public_addr;
    let mut samples = Vec::new();
    let (mut wire, mut processing) = (Vec::new(), Vec::new());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for n in 1..=o.samples.min(u16::from(o.pumps)) {
        start_filling(&daemon, &line, n).await?;
        let stream = TcpStream::connect(public)?;
        stream.set_nodelay(true)?;
        let mut stream = BufReader::new(stream);
        // When the snapshot with the sale is published, seen from inside the process.
        let mut snapshots = daemon.forecourt.subscribe();
        let published = tokio::spawn(async move {
            loop {
                let payable = snapshots
                    .borrow_and_update()
                    .positions
                    .get(&PositionId(n))
                    .is_some_and(|p| !p.payable.is_empty());
                if payable {
                    return Instant::now();
                }
                if snapshots.changed().await.is_err() {
                    return Instant::now();
                }
            }
        });
        let started = Instant::now();
        line.act(address(n), SimAction::HangNozzle).await?;
        let answered = tokio::task::spawn_blocking(move || -> anyhow::Result<Instant> {
            loop {
                let (status, _) = get_order(&mut stream, n)?;
                if status == 200 {
                    return Ok(Instant::now());
                }
                if started.elapsed() > Duration::from_secs(30) {
                    bail!("no order after 30 s");
                }
            }
        })
        .await??;
        samples.push(answered - started);
        // The turn that carried the sale: the pump's last turn with data before the
        // answer. It is logged once the master turns to the next pump.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let carried = line
            .stats()
            .turn_ends(address(n).0)
            .into_iter()
            .rfind(|t| t.data && t.at >= started && t.at <= answered);
        let turns: Vec<String> = line
            .stats()
            .turn_ends(address(n).0)
            .iter()
            .filter(|t| t.at >= started)
            .map(|t| format!("{:.1}{}", ms(t.at - started), if t.data { "d" } else { "" }))
            .collect();
        let published = published.await?;
        eprintln!(
            "sample {n}: published {:.1} ms, answer {:.1} ms, turns of the pump ended at {turns:?}",
            ms(published - started),
            ms(answered - started)
        );
        if let Some(turn) = carried {
            wire.push(turn.at - started);
            processing.push(answered - turn.at);
        }
    }
    let (median, worst) = median_max(&mut samples);
    let (wire_median, wire_max) = median_max(&mut wire);
    let (proc_median, proc_max) = median_max(&mut processing);
    let budget = cycle + Duration::from_millis(10);
    println!(
        "samples={} cycle_ms={:.1} budget_ms={:.1} median_ms={:.1} max_ms={:.1} ratio_max={:.3} \
         split={} wire_median_ms={:.1} wire_max_ms={:.1} proc_median_ms={:.1} proc_max_ms={:.1}",
        samples.len(),
        ms(cycle),
        ms(budget),
        ms(median),
        ms(worst),
        worst.as_secs_f64() / budget.as_secs_f64(),
        wire.len(),
        ms(wire_median),
        ms(wire_max),
        ms(proc_median),
        ms(proc_max),
    );
    daemon.shutdown().await;
    Ok(())
}

/// The median and the largest of `samples` (zero when there are none).
fn median_max(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
    (median, samples.last().copied().unwrap_or_default())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    match o.mode.as_str() {
        "serve" => serve(&o).await,
        "cycle" => cycle(&o).await,
        "latency" => latency(&o).await,
        other => bail!("unknown mode {other} (serve, cycle, latency)"),
    }
}
