//! Test stations: simulated DART pumps on a pseudo-terminal pair, the daemon on the other
//! end (in-process, or as a child process for kill/restart tests), a temporary journal,
//! listeners on 127.0.0.1.
//!
//! Waiting is event-driven (snapshot changes) with a generous upper bound that only turns
//! a hang into a failure; no test asserts on elapsed time.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use forecourtd::access::tokens::CLI_TOKEN_FILE;
use forecourtd::admin_client;
use forecourtd::app::Daemon;
use forecourtd::config::Config;
use forecourtd::forecourt::{ForecourtHandle, Snapshot};
use forecourtd::lab::demo::{station_config_toml, GilbarcoLineSpec, StationSpec};
use forecourtd::lab::sim_line::{spawn_sim_line, SimLineHandle};
use forecourtd::protocols;
use forecourtd::secret::Secret;
use hyper::{Method, StatusCode};
use pump_protocols::{BusAddress, PositionId, SimAction, Volume};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Flow rate of test pumps, litres a minute (a real nozzle gives about 40).
pub const FAST_FLOW: u32 = 240;

/// Flow rate for tests that must act while fuel is still flowing.
pub const REAL_FLOW: u32 = 40;

/// Upper bound for anything a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Pump bus address of position `n` on the single simulated line.
pub fn address(n: u16) -> BusAddress {
    BusAddress(0x4F + u8::try_from(n).expect("test positions are small"))
}

/// Simulated pumps plus a configuration pointing at them.
pub struct Rig {
    /// The simulated line.
    pub sim: SimLineHandle,
    /// Temporary directory with the journal and the configuration file.
    pub dir: tempfile::TempDir,
    /// Stops the simulator.
    pub sim_shutdown: CancellationToken,
    /// Number of DART pumps (positions 1..=pumps).
    pub pumps: u8,
    /// A simulated Gilbarco loop and its number of pumps (addresses 1.., positions after
    /// the DART ones), for mixed stations.
    pub gilbarco: Option<(SimLineHandle, u8)>,
}

impl Rig {
    /// `pumps` simulated DART pumps on a new pseudo-terminal, flowing at [`FAST_FLOW`]
    /// litres a minute so dispatches take about a second.
    pub fn new(pumps: u8) -> Rig {
        let simulator = protocols::demo_simulator(pumps).expect("simulated pumps");
        Rig::with_simulator(pumps, simulator, FAST_FLOW)
    }

    /// `pumps` pumps of `simulator` (addressed as [`address`] gives them) on a new
    /// pseudo-terminal, flowing at `flow` litres a minute.
    pub fn with_simulator(
        pumps: u8,
        mut simulator: Box<dyn pump_protocols::LineSimulator>,
        flow: u32,
    ) -> Rig {
        let sim_shutdown = CancellationToken::new();
        for pump in 1..=pumps {
            simulator
                .act(
                    address(u16::from(pump)),
                    SimAction::SetFlowRate(Volume::new(Decimal::from(flow))),
                    std::time::Instant::now(),
                )
                .expect("flow rate");
        }
        let sim = spawn_sim_line(simulator, sim_shutdown.clone()).expect("pseudo-terminal");
        Rig {
            sim,
            dir: tempfile::tempdir().expect("temporary directory"),
            sim_shutdown,
            pumps,
            gilbarco: None,
        }
    }

    /// A mixed station: `dart` DART pumps on one line (positions 1..=dart) and `gilbarco`
    /// Gilbarco pumps on a second (addresses 1..=gilbarco, positions after the DART ones),
    /// all flowing at [`FAST_FLOW`].
    pub fn mixed(dart: u8, gilbarco: u8) -> Rig {
        let mut rig = Rig::new(dart);
        let mut simulator =
            protocols::demo_gilbarco_simulator(gilbarco).expect("simulated Gilbarco pumps");
        for pump in 1..=gilbarco {
            simulator
                .act(
                    BusAddress(pump),
                    SimAction::SetFlowRate(Volume::new(Decimal::from(FAST_FLOW))),
                    std::time::Instant::now(),
                )
                .expect("flow rate");
        }
        let sim = spawn_sim_line(simulator, rig.sim_shutdown.clone()).expect("pseudo-terminal");
        rig.gilbarco = Some((sim, gilbarco));
        rig
    }

    /// The Gilbarco line of a generated configuration, if the rig has one.
    pub fn gilbarco_spec(&self) -> Option<GilbarcoLineSpec> {
        self.gilbarco.as_ref().map(|(sim, pumps)| GilbarcoLineSpec {
            device: sim.path().to_path_buf(),
            pumps: *pumps,
        })
    }

    /// The simulated line and bus address of position `n`.
    pub fn pump_of(&self, n: u16) -> (&SimLineHandle, BusAddress) {
        match &self.gilbarco {
            Some((sim, _)) if n > u16::from(self.pumps) => (
                sim,
                BusAddress(u8::try_from(n - u16::from(self.pumps)).expect("small position")),
            ),
            _ => (&self.sim, address(n)),
        }
    }

    /// The journal path.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("journal.db")
    }

    /// A configuration for this rig. `tweak` edits the TOML text (e.g. a stale limit).
    pub fn config_text(
        &self,
        public: &str,
        admin: &str,
        tweak: impl Fn(String) -> String,
    ) -> String {
        tweak(station_config_toml(&StationSpec {
            devices: vec![self.sim.path().to_path_buf()],
            pumps_per_line: self.pumps,
            database: self.database(),
            public: public.to_owned(),
            admin: admin.to_owned(),
            payments: None,
            gilbarco: self.gilbarco_spec(),
        }))
    }

    /// Starts the daemon in-process on ports chosen by the system.
    pub async fn start(&self, tweak: impl Fn(String) -> String) -> Station {
        let text = self.config_text("127.0.0.1:0", "127.0.0.1:0", tweak);
        let config = Config::from_toml_str(&text, self.dir.path()).expect("valid configuration");
        let daemon = Daemon::start(config).await.expect("daemon starts");
        Station::new(daemon)
    }

    /// Sets position `n`'s pump to a real nozzle's flow rate, for tests that act while
    /// fuel flows.
    pub async fn real_flow(&self, n: u16) {
        self.act(
            n,
            SimAction::SetFlowRate(Volume::new(Decimal::from(REAL_FLOW))),
        )
        .await;
    }

    /// Applies a simulator action on position `n`'s pump.
    pub async fn act(&self, n: u16, action: SimAction) {
        let (sim, address) = self.pump_of(n);
        sim.act(address, action).await.expect("simulator action");
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.sim_shutdown.cancel();
    }
}

/// A running in-process daemon.
pub struct Station {
    /// The daemon.
    pub daemon: Daemon,
    /// Base URL of the public listener.
    pub public: String,
    /// Base URL of the admin listener.
    pub admin: String,
}

/// The service token of each admin listener the tests started, by base URL: [`get`] and
/// [`post`] present it, so every test calls the admin API as the CLI on the box does.
static TOKENS: std::sync::Mutex<Vec<(String, Secret)>> = std::sync::Mutex::new(Vec::new());

/// Remembers the CLI token the daemon wrote to `file` for the admin listener at `base`.
pub fn register_token(base: &str, file: &std::path::Path) {
    let token = admin_client::read_token_file(file).expect("the daemon wrote its CLI token");
    let mut tokens = TOKENS.lock().expect("token registry");
    tokens.retain(|(b, _)| b != base);
    tokens.push((base.to_owned(), token));
}

/// The token registered for `base`, if any.
pub fn token_for(base: &str) -> Option<Secret> {
    TOKENS
        .lock()
        .expect("token registry")
        .iter()
        .find(|(b, _)| b == base)
        .map(|(_, t)| t.clone())
}

impl Station {
    /// Wraps a started daemon and registers its CLI token for [`get`] and [`post`].
    pub fn new(daemon: Daemon) -> Station {
        let admin = format!("http://{}", daemon.admin_addr);
        let dir = daemon
            .journal()
            .path()
            .parent()
            .expect("the journal is in a directory")
            .to_path_buf();
        register_token(&admin, &dir.join(CLI_TOKEN_FILE));
        Station {
            public: format!("http://{}", daemon.public_addr),
            admin,
            daemon,
        }
    }

    /// The forecourt actor.
    pub fn forecourt(&self) -> &ForecourtHandle {
        &self.daemon.forecourt
    }

    /// Scans position `n` as Mercado Pago would.
    pub async fn scan(&self, n: u16) -> (StatusCode, Value) {
        get(&self.public, &format!("/pay-mp?apies=29&pos={n}")).await
    }

    /// Authorizes position `n` through the admin API.
    pub async fn authorize(&self, n: u16, body: Value) -> (StatusCode, Value) {
        post(&self.admin, &format!("/api/positions/{n}/authorize"), body).await
    }

    /// Waits until `predicate` holds on a snapshot.
    pub async fn wait_for(&self, what: &str, predicate: impl Fn(&Snapshot) -> bool) {
        wait_for(self.forecourt(), what, predicate).await
    }

    /// Waits until the order endpoint answers position `n` with `kind` (an error type, or
    /// "order" for a 200).
    pub async fn wait_for_answer(&self, n: u16, kind: &str) -> (StatusCode, Value) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut snapshots = self.forecourt().subscribe();
        loop {
            let answer = self.scan(n).await;
            if answer_kind(&answer) == kind {
                return answer;
            }
            if tokio::time::Instant::now() > deadline {
                let state = self
                    .forecourt()
                    .snapshot()
                    .positions
                    .get(&PositionId(n))
                    .cloned();
                panic!(
                    "position {n} never answered {kind}; last answer {answer:?}; state {state:?}"
                );
            }
            // Wake on the next state change, or re-check shortly for time-based answers
            // (stale limits).
            let _ = tokio::time::timeout(Duration::from_millis(200), snapshots.changed()).await;
        }
    }

    /// Stops the daemon cleanly.
    pub async fn stop(self) {
        self.daemon.shutdown().await;
    }
}

/// `"order"` for a 200, else the error type.
pub fn answer_kind(answer: &(StatusCode, Value)) -> String {
    if answer.0 == StatusCode::OK {
        "order".to_owned()
    } else {
        answer.1["error"]["type"].as_str().unwrap_or("?").to_owned()
    }
}

/// Waits until `predicate` holds on a snapshot of `forecourt`.
pub async fn wait_for(
    forecourt: &ForecourtHandle,
    what: &str,
    predicate: impl Fn(&Snapshot) -> bool,
) {
    let mut snapshots = forecourt.subscribe();
    let result = tokio::time::timeout(PATIENCE, async {
        loop {
            if predicate(&snapshots.borrow_and_update()) {
                return;
            }
            if snapshots.changed().await.is_err() {
                panic!("forecourt stopped while waiting for {what}");
            }
        }
    })
    .await;
    if result.is_err() {
        panic!("timed out waiting for {what}: {:#?}", forecourt.snapshot());
    }
}

/// GET returning status and JSON (with the listener's CLI token, when it has one).
pub async fn get(base: &str, path: &str) -> (StatusCode, Value) {
    admin_client::call_as(base, token_for(base).as_ref(), Method::GET, path, None)
        .await
        .expect("HTTP GET")
}

/// POST a JSON body returning status and JSON (with the listener's CLI token, when it
/// has one).
pub async fn post(base: &str, path: &str, body: Value) -> (StatusCode, Value) {
    admin_client::call_as(
        base,
        token_for(base).as_ref(),
        Method::POST,
        path,
        Some(&body),
    )
    .await
    .expect("HTTP POST")
}

/// True when position `n` has a payable sale.
pub fn has_payable(snapshot: &Snapshot, n: u16) -> bool {
    snapshot
        .positions
        .get(&PositionId(n))
        .map(|p| !p.payable.is_empty())
        .unwrap_or(false)
}

/// True when position `n`'s pump answers and has its prices (ready to authorize).
pub fn ready_to_authorize(snapshot: &Snapshot, n: u16) -> bool {
    snapshot.positions.get(&PositionId(n)).is_some_and(|p| {
        p.last_heard.is_some()
            && p.dispatch.is_none()
            && matches!(
                p.pump_status,
                pump_protocols::PumpStatus::Idle | pump_protocols::PumpStatus::Completed
            )
    })
}

/// Authorizes position `n` with an amount preset and lifts its nozzle: fuel flows.
pub async fn authorize_and_lift(rig: &Rig, station: &Station, n: u16, amount: &str) {
    station
        .wait_for("pump online and programmed", |s| ready_to_authorize(s, n))
        .await;
    let (status, body) = station
        .authorize(n, json!({ "amount": amount, "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "authorize: {body}");
    rig.act(n, SimAction::LiftNozzle(pump_protocols::NozzleId(1)))
        .await;
}

/// Drives one whole dispatch on position `n` with an amount preset and returns the order.
pub async fn full_dispatch(rig: &Rig, station: &Station, n: u16, amount: &str) -> Value {
    authorize_and_lift(rig, station, n, amount).await;
    let (_, order) = station.wait_for_answer(n, "order").await;
    rig.act(n, SimAction::HangNozzle).await;
    order
}

/// A free port on 127.0.0.1 (bound and released; for child-process daemons, which need a
/// known address before they start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until a daemon's admin listener at `admin` (a base URL) answers.
pub async fn wait_until_serving(admin: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if admin_client::call(admin, Method::GET, "/api/positions", None)
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "daemon never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `signal` (a name such as `TERM` or `USR1`) to a child process.
pub async fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("running child has a pid");
    let sent = tokio::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .await
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// Writes the rig's configuration with fixed free ports as `config.toml`; returns its
/// path and the admin listener's base URL.
pub fn write_config(rig: &Rig) -> (PathBuf, String) {
    let (public, admin) = (free_port(), free_port());
    let text = rig.config_text(
        &format!("127.0.0.1:{public}"),
        &format!("127.0.0.1:{admin}"),
        |t| t,
    );
    let path = rig.dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write configuration");
    (path, format!("http://127.0.0.1:{admin}"))
}

/// Starts `forecourtd run --config CONFIG` with `args` before `--config` and `env` added.
pub fn run_forecourtd(
    config: &Path,
    args: &[&str],
    env: &[(&str, &OsStr)],
    stderr: Stdio,
) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"))
        .arg("run")
        .args(args)
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn forecourtd")
}

/// The daemon as a separate process (for kill and restart tests).
pub struct ChildDaemon {
    child: tokio::process::Child,
    /// Base URL of the public listener.
    pub public: String,
    /// Base URL of the admin listener.
    pub admin: String,
}

impl ChildDaemon {
    /// Writes the rig's configuration with fixed ports and starts `forecourtd run`.
    pub async fn start(rig: &Rig, public: u16, admin: u16) -> ChildDaemon {
        let text = rig.config_text(
            &format!("127.0.0.1:{public}"),
            &format!("127.0.0.1:{admin}"),
            |t| t,
        );
        Self::start_with_text(rig, &text, public, admin).await
    }

    /// Starts `forecourtd run` with this configuration text (listening on the given ports).
    pub async fn start_with_text(rig: &Rig, text: &str, public: u16, admin: u16) -> ChildDaemon {
        Self::start_logged(rig, text, public, admin, None).await
    }

    /// As [`start_with_text`](Self::start_with_text), appending the daemon's log (stderr)
    /// to `log` when given.
    pub async fn start_logged(
        rig: &Rig,
        text: &str,
        public: u16,
        admin: u16,
        log: Option<&std::path::Path>,
    ) -> ChildDaemon {
        let public = format!("127.0.0.1:{public}");
        let admin = format!("127.0.0.1:{admin}");
        let path = rig.dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write configuration");
        let stderr = match log {
            Some(log) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .expect("daemon log file"),
            ),
            None => Stdio::null(),
        };
        let child = run_forecourtd(&path, &[], &[], stderr);
        let daemon = ChildDaemon {
            child,
            public: format!("http://{public}"),
            admin: format!("http://{admin}"),
        };
        daemon.wait_until_serving().await;
        register_token(&daemon.admin, &rig.dir.path().join(CLI_TOKEN_FILE));
        daemon
    }

    async fn wait_until_serving(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            // Serving, whether or not the pumps answer yet (503 until one does).
            if admin_client::call(&self.admin, Method::GET, "/healthz", None)
                .await
                .is_ok_and(|(status, _)| {
                    status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE
                })
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "daemon never served"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Positions as the admin API shows them.
    pub async fn positions(&self) -> Value {
        get(&self.admin, "/api/positions").await.1
    }

    /// Polls the admin API until `predicate` holds on position `n`.
    pub async fn wait_position(
        &self,
        n: u16,
        what: &str,
        predicate: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let positions = self.positions().await;
            let position = positions
                .as_array()
                .and_then(|a| a.iter().find(|p| p["position"] == json!(n)))
                .cloned()
                .unwrap_or(Value::Null);
            if predicate(&position) {
                return position;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "position {n} never reached {what}: {position}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the process to exit; returns its exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        signal(&self.child, "TERM").await;
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("forecourtd exits after SIGTERM")
            .expect("exit status")
    }

    /// SIGKILL: no shutdown, no flush beyond what the journal already made durable.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill forecourtd");
    }
}

pub mod bypass;
pub mod crash;
pub mod crash_cars;
pub mod crash_check;
pub mod crash_truth;
pub mod nats_jwt;
pub mod payments;

/// The executable `name` on `PATH`, if any.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Status, headers and the whole body of a response.
pub async fn read_response(
    response: hyper::Response<hyper::body::Incoming>,
) -> (StatusCode, hyper::HeaderMap, bytes::Bytes) {
    use http_body_util::BodyExt;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}
pub mod servers;
