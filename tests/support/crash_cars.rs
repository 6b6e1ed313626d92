//! Cars, attendants and customers of the crash-safety run.
//!
//! One task per position sends car after car: the attendant authorizes through the admin
//! API (politely retrying while the daemon is down), the customer lifts a nozzle once the
//! pump (the simulator, not the daemon) shows it authorized, fuel flows to the preset or
//! the customer hangs up early, then the customer pays: an approved card, a declined card
//! then an approved one, two scans at once (paying twice), cash at the counter, or cash
//! while the app is paying too. Everything they did is kept in the [`Ledger`]; a position
//! that keeps refusing work while the daemon is up is recorded as wedged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use forecourtd::admin_client;
use forecourtd::lab::sandbox::{CardHolder, ScanOutcome, ScanTarget};
use forecourtd::lab::sim_line::SimLineHandle;
use forecourtd::mercadopago::types::{Payment, PaymentStatus};
use hyper::{Method, StatusCode};
use pump_protocols::dart::DartStatus;
use pump_protocols::{NozzleId, SimAction};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::crash::{Moment, Shared};
use super::crash_truth::PumpNow;
use super::{address, Rig};

/// What the cars' people did, for the checker and the report.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Cars that went through (authorized, filled, tried to pay).
    pub cars: u32,
    /// Customers by how they paid.
    pub customers: BTreeMap<&'static str, u32>,
    /// Sales the attendant tried to settle as cash (whatever the answer).
    pub settle_attempts: BTreeSet<i64>,
    /// Positions found wedged during the run, with what they answered.
    pub wedges: Vec<String>,
    /// Customers who gave up paying, with the last answer.
    pub gave_up: Vec<String>,
    /// Answers that broke the order endpoint's contract.
    pub bad_answers: Vec<String>,
    /// Presets the pump cannot take that the daemon answered 200.
    pub bad_presets_accepted: u32,
}

/// The running cars.
pub struct Cars {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Cars {
    /// One stream of cars per position.
    pub fn start(shared: &Shared, rig: &Rig, seed: u64) -> Cars {
        let stop = CancellationToken::new();
        let tasks = (1..=u16::from(shared.knobs.pumps))
            .map(|position| {
                let rng = StdRng::seed_from_u64(seed ^ u64::from(position));
                tokio::spawn(drive(
                    shared.clone(),
                    rig.sim.clone(),
                    position,
                    rng,
                    stop.clone(),
                ))
            })
            .collect();
        Cars { stop, tasks }
    }

    /// No new car; waits for the cars under way.
    pub async fn finish(self) {
        self.stop.cancel();
        for task in self.tasks {
            task.await.expect("car task");
        }
    }
}

/// How a customer pays.
#[derive(Debug, Clone, Copy)]
enum Customer {
    Card,
    DeclinedFirst,
    Twice,
    Cash,
    CashWhileScanning,
}

impl Customer {
    fn pick(rng: &mut StdRng) -> Customer {
        match rng.random_range(0..100) {
            0..50 => Customer::Card,
            50..60 => Customer::DeclinedFirst,
            60..75 => Customer::Twice,
            75..87 => Customer::Cash,
            _ => Customer::CashWhileScanning,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Customer::Card => "card",
            Customer::DeclinedFirst => "declined then card",
            Customer::Twice => "paid twice",
            Customer::Cash => "cash",
            Customer::CashWhileScanning => "cash while scanning",
        }
    }
}

async fn drive(
    shared: Shared,
    sim: SimLineHandle,
    position: u16,
    mut rng: StdRng,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let preset = if rng.random_bool(0.7) {
            json!({ "amount": rng.random_range(1000..9000).to_string() })
        } else {
            json!({ "volume": format!("{}.{:02}", rng.random_range(1..5), rng.random_range(0..100)) })
        };
        let nozzle = NozzleId(rng.random_range(1..=2));
        let early = rng.random_bool(0.25).then(|| rng.random_range(150..900));
        let customer = Customer::pick(&mut rng);
        if rng.random_bool(shared.knobs.bad_presets) {
            let bad = BAD_PRESETS[rng.random_range(0..BAD_PRESETS.len())];
            awkward_attendant(&shared, position, bad).await;
        }
        if authorize(&shared, position, preset, &stop).await.is_err() {
            // Only the end of the run stops an attendant.
            return;
        }
        if let Err(why) = fill(&shared, &sim, position, nozzle, early).await {
            shared.ledger.lock().expect("ledger").gave_up.push(why);
            continue;
        }
        pay(&shared, position, customer).await;
        let mut ledger = shared.ledger.lock().expect("ledger");
        ledger.cars += 1;
        *ledger.customers.entry(customer.name()).or_default() += 1;
    }
}

/// Presets no pump head of the demo can take (issue: a refused command must not wedge the
/// position): too many digits, too many decimals, less than the volume's last digit.
const BAD_PRESETS: [(&str, &str); 3] = [
    ("amount", "1000000.00"),
    ("amount", "1.005"),
    ("volume", "0.0001"),
];

/// The attendant types a preset the pump cannot take. The daemon may refuse it (4xx) or
/// accept it; either way the next car must be served: a position left refusing work is
/// found wedged by [`authorize`], and a pump that did take it simply fills.
async fn awkward_attendant(shared: &Shared, position: u16, (kind, value): (&str, &str)) {
    let path = format!("/api/positions/{position}/authorize");
    let body = json!({ kind: value, "attendant": "8" });
    let accepted = matches!(
        admin_client::call_as(
            &shared.admin,
            super::token_for(&shared.admin).as_ref(),
            Method::POST,
            &path,
            Some(&body)
        )
        .await,
        Ok((StatusCode::OK, _))
    );
    if accepted {
        shared.publish(Moment::Authorized(position));
        shared.ledger.lock().expect("ledger").bad_presets_accepted += 1;
        wait_pump(shared, position, Duration::from_secs(2), |p| {
            p.status == DartStatus::Authorized
        })
        .await;
    }
}

/// The attendant authorizes until the pump shows it is authorized. Gives up only when
/// `stop` fires; a position refusing work for [`super::crash::Knobs::wedge`] while the
/// daemon is up is recorded as wedged (once) and the attendant presses stop.
pub async fn authorize(
    shared: &Shared,
    position: u16,
    preset: Value,
    stop: &CancellationToken,
) -> Result<(), String> {
    let started = Instant::now();
    let mut wedged = false;
    let mut last = String::from("no answer");
    let mut body = preset;
    body["attendant"] = json!("7");
    let path = format!("/api/positions/{position}/authorize");
    loop {
        if shared.truth.pump(position).status == DartStatus::Authorized {
            return Ok(());
        }
        if stop.is_cancelled() {
            return Err(format!("gave up authorizing; last answer {last}"));
        }
        match admin_client::call_as(
            &shared.admin,
            super::token_for(&shared.admin).as_ref(),
            Method::POST,
            &path,
            Some(&body),
        )
        .await
        {
            Ok((StatusCode::OK, _)) => {
                shared.publish(Moment::Authorized(position));
                let authorized = wait_pump(shared, position, Duration::from_secs(5), |p| {
                    p.status == DartStatus::Authorized
                })
                .await;
                if authorized {
                    return Ok(());
                }
                last = "200, but the pump was never authorized".to_owned();
            }
            Ok((status, answer)) => {
                last = format!("{status} {answer}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                last = format!("unreachable: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let wedge = shared.knobs.wedge;
        if !wedged && started.elapsed() >= wedge && shared.up_for(wedge) {
            wedged = true;
            let shown = position_json(shared, position).await;
            shared.ledger.lock().expect("ledger").wedges.push(format!(
                "position {position} refused work for {:?} with the daemon up: {last}; pump {:?}; daemon shows {shown}",
                started.elapsed(),
                shared.truth.pump(position)
            ));
            let stop_path = format!("/api/positions/{position}/stop");
            let _ = admin_client::call_as(
                &shared.admin,
                super::token_for(&shared.admin).as_ref(),
                Method::POST,
                &stop_path,
                Some(&json!({})),
            )
            .await;
        }
    }
}

/// The customer lifts `nozzle`, lets fuel flow (to the preset, or for `early` ms) and
/// hangs up.
pub async fn fill(
    shared: &Shared,
    sim: &SimLineHandle,
    position: u16,
    nozzle: NozzleId,
    early: Option<u64>,
) -> Result<(), String> {
    let pump = address(position);
    if shared.truth.pump(position).nozzle_out.is_some() {
        sim.act(pump, SimAction::HangNozzle)
            .await
            .map_err(|e| e.to_string())?;
    }
    sim.act(pump, SimAction::LiftNozzle(nozzle))
        .await
        .map_err(|e| e.to_string())?;
    let flowing = wait_pump(shared, position, Duration::from_secs(5), |p| {
        p.status == DartStatus::Filling
    })
    .await;
    if flowing {
        shared.publish(Moment::FillingStarted(position));
        if let Some(ms) = early {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            wait_pump(shared, position, Duration::from_secs(10), |p| {
                !p.volume.is_zero() || p.status != DartStatus::Filling
            })
            .await;
        } else {
            wait_pump(shared, position, Duration::from_secs(120), |p| {
                p.status != DartStatus::Filling && p.status != DartStatus::Suspended
            })
            .await;
        }
    }
    sim.act(pump, SimAction::HangNozzle)
        .await
        .map_err(|e| e.to_string())?;
    shared.publish(Moment::FillingEnded(position));
    if flowing {
        Ok(())
    } else {
        Err(format!(
            "position {position}: authorized pump never filled: {:?}",
            shared.truth.pump(position)
        ))
    }
}

/// Waits until `predicate` holds on the pump's display, at most `limit`.
async fn wait_pump(
    shared: &Shared,
    position: u16,
    limit: Duration,
    predicate: impl Fn(&PumpNow) -> bool,
) -> bool {
    let mut pumps = shared.truth.subscribe();
    let index = usize::from(position) - 1;
    tokio::time::timeout(limit, async {
        loop {
            if predicate(&pumps.borrow_and_update()[index]) {
                return;
            }
            if pumps.changed().await.is_err() {
                return;
            }
        }
    })
    .await
    .is_ok()
}

async fn position_json(shared: &Shared, position: u16) -> Value {
    match admin_client::call_as(
        &shared.admin,
        super::token_for(&shared.admin).as_ref(),
        Method::GET,
        "/api/positions",
        None,
    )
    .await
    {
        Ok((_, Value::Array(all))) => all
            .into_iter()
            .find(|p| p["position"] == json!(position))
            .unwrap_or(Value::Null),
        Ok((status, other)) => json!({ "status": status.as_u16(), "body": other }),
        Err(e) => json!(format!("unreachable: {e}")),
    }
}

async fn pay(shared: &Shared, position: u16, customer: Customer) {
    match customer {
        Customer::Card => {
            card(shared, position).await;
        }
        Customer::DeclinedFirst => {
            let _ = scan(shared, position, CardHolder::Othe).await;
            card(shared, position).await;
        }
        Customer::Twice => {
            let (a, b) = tokio::join!(
                scan(shared, position, CardHolder::Apro),
                scan(shared, position, CardHolder::Apro)
            );
            match (approved(a), approved(b)) {
                (Some(_), Some(second)) => shared.publish(Moment::UnownedPayment(second.id)),
                (Some(_), None) | (None, Some(_)) => {}
                (None, None) => {
                    card(shared, position).await;
                }
            }
        }
        Customer::Cash => {
            cash(shared, position).await;
        }
        Customer::CashWhileScanning => {
            let (settled, paid) = tokio::join!(
                cash(shared, position),
                scan(shared, position, CardHolder::Apro)
            );
            if let (true, Some(payment)) = (settled, approved(paid)) {
                shared.publish(Moment::UnownedPayment(payment.id));
            }
        }
    }
}

fn approved(outcome: Result<Payment, String>) -> Option<Payment> {
    outcome.ok().filter(|p| p.status == PaymentStatus::Approved)
}

/// Scans with an approved card until a payment is made; `None` when the customer gives up.
pub async fn card(shared: &Shared, position: u16) -> Option<Payment> {
    let started = Instant::now();
    loop {
        match scan(shared, position, CardHolder::Apro).await {
            Ok(payment) => return Some(payment),
            Err(last) => {
                // Long enough for a restart and the recovery of a sale completed while
                // the daemon was down; the daemon must have been up a while too.
                if started.elapsed() > Duration::from_secs(60)
                    || (started.elapsed() > Duration::from_secs(15)
                        && shared.up_for(Duration::from_secs(10)))
                {
                    shared
                        .ledger
                        .lock()
                        .expect("ledger")
                        .gave_up
                        .push(format!("position {position}: could not pay; {last}"));
                    return None;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One look at the order (published as served when it is one), then one scan with `card`.
async fn scan(shared: &Shared, position: u16, card: CardHolder) -> Result<Payment, String> {
    let path = format!("/pay-mp?apies=29&pos={position}");
    let url = format!("{}{path}", shared.public);
    if let Ok((StatusCode::OK, _)) =
        admin_client::call(&shared.public, Method::GET, &path, None).await
    {
        shared.publish(Moment::Served(position));
    }
    let options = shared.sandbox.default_scan_options();
    match shared
        .sandbox
        .scan(ScanTarget::Url(url), card, &options)
        .await
    {
        Ok(ScanOutcome::Paid { payment, .. }) => Ok(*payment),
        Ok(ScanOutcome::BadAnswer { status, detail }) => {
            let what = format!("position {position}: {status} {detail}");
            shared
                .ledger
                .lock()
                .expect("ledger")
                .bad_answers
                .push(what.clone());
            Err(what)
        }
        Ok(other) => Err(format!("{other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The attendant settles, as cash, the payable sale with the pump's displayed figures.
/// True when the daemon accepted it.
async fn cash(shared: &Shared, position: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let shown = shared.truth.pump(position);
        let sale = position_json(shared, position).await["payable"]
            .as_array()
            .and_then(|sales| {
                sales.iter().find(|s| {
                    decimal(&s["amount"]) == Some(shown.amount)
                        && decimal(&s["volume"]) == Some(shown.volume)
                })
            })
            .and_then(|s| s["id"].as_i64());
        if let Some(id) = sale {
            shared
                .ledger
                .lock()
                .expect("ledger")
                .settle_attempts
                .insert(id);
            let path = format!("/api/sales/{id}/settle");
            match admin_client::call_as(
                &shared.admin,
                super::token_for(&shared.admin).as_ref(),
                Method::POST,
                &path,
                Some(&json!({ "note": "cash" })),
            )
            .await
            {
                Ok((StatusCode::OK, _)) => return true,
                Ok(_) => return false,
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    false
}

/// A JSON decimal (number or string).
pub fn decimal(value: &Value) -> Option<rust_decimal::Decimal> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// After the last restart: every position, first handed a preset it cannot take (unless
/// `CRASH_BAD_PRESET_PCT=0`), must authorize, fill and take a paid sale again.
/// Returns, per position, `None` when it did, or what went wrong.
pub async fn final_round(shared: &Shared, rig: &Rig) -> Vec<(u16, Option<String>)> {
    let never = CancellationToken::new();
    let rounds = (1..=u16::from(shared.knobs.pumps)).map(|position| {
        let (shared, sim, never) = (shared.clone(), rig.sim.clone(), never.clone());
        async move {
            let limit = shared.knobs.wedge + Duration::from_secs(10);
            let attempt = async {
                if shared.knobs.bad_presets > 0.0 {
                    let bad = BAD_PRESETS[usize::from(position) % BAD_PRESETS.len()];
                    awkward_attendant(&shared, position, bad).await;
                }
                authorize(&shared, position, json!({ "amount": "2000" }), &never).await?;
                fill(&shared, &sim, position, NozzleId(1), None).await?;
                card(&shared, position)
                    .await
                    .map(|_| ())
                    .ok_or_else(|| "the customer could not pay".to_owned())
            };
            let outcome = match tokio::time::timeout(limit, attempt).await {
                Ok(Ok(())) => None,
                Ok(Err(why)) => Some(why),
                Err(_) => Some(format!(
                    "no sale within {limit:?}; pump {:?}; daemon shows {}",
                    shared.truth.pump(position),
                    position_json(&shared, position).await
                )),
            };
            (position, outcome)
        }
    });
    let tasks: Vec<_> = rounds.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("final round task"));
    }
    out
}
