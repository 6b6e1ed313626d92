//! `forecourtd simulate`: a line of simulated pumps on a pseudo-terminal, driven by actions
//! typed on standard input.

use std::io::Write as _;
use std::process::ExitCode;

use pump_protocols::{BusAddress, NozzleId, SimAction, Volume};
use rust_decimal::Decimal;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use crate::config::LogFormat;
use crate::lab::sim_line::spawn_sim_line;
use crate::protocols;
use crate::signals::wait_for_signal;

/// Arguments of `forecourtd simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The protocol the pumps speak.
    #[arg(long, default_value = "dart")]
    pub protocol: String,
    /// How many pumps on the line (bus addresses from 0x50 up).
    #[arg(long, default_value_t = 4)]
    pub pumps: u8,
}

const SIMULATE_HELP: &str = "\
actions (one per line):
  lift PUMP [NOZZLE]     lift a nozzle (default 1); PUMP is 1.. (address 0x50 + PUMP - 1)
  hang PUMP              hang the nozzle up
  flow PUMP LITRES_MIN   set the flow rate (0 stops the flow)
  silent PUMP on|off     stop answering / answer again
  drop PUMP N            drop the next N answers
  corrupt PUMP N         corrupt the CRC of the next N answers
  reset PUMP             power-cycle the pump
  show                   print every pump
  help                   this text
  quit";

/// Parses one `simulate` action line into a pump and an action.
pub fn parse_sim_action(line: &str) -> Result<Option<(BusAddress, SimAction)>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let pump = |i: usize| -> Result<BusAddress, String> {
        let n: u8 = words
            .get(i)
            .ok_or("missing pump number")?
            .parse()
            .map_err(|_| "pump must be a number 1..=32".to_owned())?;
        if !(1..=32).contains(&n) {
            return Err("pump must be a number 1..=32".to_owned());
        }
        Ok(BusAddress(0x4F + n))
    };
    let count = |i: usize| -> Result<u32, String> {
        words
            .get(i)
            .ok_or("missing count")?
            .parse()
            .map_err(|_| "count must be a whole number".to_owned())
    };
    let action = match words.as_slice() {
        [] => return Ok(None),
        ["lift", ..] => {
            let nozzle = match words.get(2) {
                Some(n) => n
                    .parse()
                    .ok()
                    .filter(|n| (1..=15).contains(n))
                    .ok_or("nozzle must be 1..=15")?,
                None => 1,
            };
            (pump(1)?, SimAction::LiftNozzle(NozzleId(nozzle)))
        }
        ["hang", ..] => (pump(1)?, SimAction::HangNozzle),
        ["flow", _, rate] => {
            let rate: Decimal = rate.parse().map_err(|_| "flow rate must be a number")?;
            if rate.is_sign_negative() {
                return Err("flow rate must not be negative".to_owned());
            }
            (pump(1)?, SimAction::SetFlowRate(Volume::new(rate)))
        }
        ["silent", _, "on"] => (pump(1)?, SimAction::Silent(true)),
        ["silent", _, "off"] => (pump(1)?, SimAction::Silent(false)),
        ["drop", _, _] => (pump(1)?, SimAction::DropAnswers(count(2)?)),
        ["corrupt", _, _] => (pump(1)?, SimAction::CorruptAnswers(count(2)?)),
        ["reset", _] => (pump(1)?, SimAction::PowerReset),
        _ => return Err(format!("unknown action {line:?}; type help")),
    };
    Ok(Some(action))
}

/// `forecourtd simulate`: pumps on a new pseudo-terminal, driven from stdin.
pub async fn simulate(args: SimulateArgs) -> ExitCode {
    crate::telemetry::init(LogFormat::Human, "warn");
    if args.protocol != "dart" {
        eprintln!("unknown protocol {:?} (supported: dart)", args.protocol);
        return ExitCode::from(2);
    }
    if !(1..=32).contains(&args.pumps) {
        eprintln!("--pumps must be 1..=32");
        return ExitCode::from(2);
    }
    let shutdown = CancellationToken::new();
    let simulator = match protocols::demo_simulator(args.pumps) {
        Ok(simulator) => simulator,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let handle = match spawn_sim_line(simulator, shutdown.clone()) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot create a pseudo-terminal: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", handle.path().display());
    eprintln!(
        "{} simulated DART pump(s) on {} (9600 8O1); point a line's `device` at it.\n{SIMULATE_HELP}",
        args.pumps,
        handle.path().display()
    );
    let _ = std::io::stdout().flush();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            _ = wait_for_signal() => break,
            line = lines.next_line() => line,
        };
        let line = match line {
            Ok(Some(line)) => line,
            // End of input: keep the pumps running until a signal, so a script can
            // start the simulator in the background.
            Ok(None) => {
                wait_for_signal().await;
                break;
            }
            Err(e) => {
                eprintln!("stdin: {e}");
                break;
            }
        };
        match line.trim() {
            "quit" | "exit" => break,
            "help" => eprintln!("{SIMULATE_HELP}"),
            "show" => match handle.view().await {
                Ok(pumps) => {
                    for p in pumps {
                        eprintln!(
                            "pump {} status {} nozzle {} volume {} amount {}",
                            p.address,
                            p.status.as_str(),
                            p.nozzle_out.map(|n| n.to_string()).unwrap_or("-".into()),
                            p.volume,
                            p.amount
                        );
                    }
                }
                Err(e) => eprintln!("{e}"),
            },
            other => match parse_sim_action(other) {
                Ok(Some((pump, action))) => match handle.act(pump, action).await {
                    Ok(()) => eprintln!("ok"),
                    Err(e) => eprintln!("refused: {e}"),
                },
                Ok(None) => {}
                Err(e) => eprintln!("{e}"),
            },
        }
    }
    shutdown.cancel();
    ExitCode::SUCCESS
}
