//! The web console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver, against the daemon with simulated pumps and
//! the Mercado Pago sandbox. One test walks an attendant's day: sign in, authorize with a
//! preset, watch the fill live, see the sale awaiting payment, the customer pays by QR,
//! authorize another limited to one grade and see its name on the card, settle that sale
//! in cash, and find every manager action out of reach; then a
//! manager signs in on the same tablet, and the page shows the lost connection when the
//! daemon goes away. Another has a manager change prices and watch each pump confirm them,
//! cancel a scheduled change, and close the shift with its report checked against the
//! simulated pumps' totalizers. Screenshots of the main screens land in
//! `target/test-output/console/` (four of them are in docs/images/ for the README).
//!
//! CI installs the browser (`.ci/run`), so there a missing browser fails the test; on a
//! developer machine without it the test is skipped with a message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use forecourtd::lab::sandbox::CardHolder;
use hyper::StatusCode;
use pump_protocols::{NozzleId, PositionId, SimAction};
use serde_json::{json, Value};

use crate::support::payments::{eventually, PaySetup, PayStation};
use crate::support::servers::wait_for_port;
use crate::support::{
    authorize_and_lift, find_tool, free_port, full_dispatch, get, post, token_for, Rig, PATIENCE,
};

/// Chromium and its driver, or `None` (skipped) off CI.
fn browser() -> Option<(PathBuf, PathBuf)> {
    match (find_tool("chromium"), find_tool("chromedriver")) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("chromium and chromedriver are missing on CI (.ci/run installs them)")
        }
        _ => {
            eprintln!(
                "SKIPPED: chromium or chromedriver is not installed \
                 (apt-get install chromium chromium-driver)"
            );
            None
        }
    }
}

/// chromedriver on 127.0.0.1, stopped by its pid when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(program: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_for_port(port, "chromedriver").await;
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_browser(driver: &Driver, chromium: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=es-AR"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// A browser on the console of the admin listener at `admin`.
async fn open_console(driver: &Driver, chromium: &Path, admin: &str) -> Client {
    let client = open_browser(driver, chromium).await;
    client
        .goto(&format!("{admin}/"))
        .await
        .expect("open the console");
    client
}

/// Where screenshots go.
fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output/console");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(output_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// The card of position `n` once it is in `state`.
async fn card_in(client: &Client, n: u16, state: &str) -> fantoccini::elements::Element {
    let css = format!("[data-position='{n}'][data-state='{state}']");
    wait_css(client, &css, &format!("position {n} never showed {state}")).await
}

/// The element `css` names, once it is there; `what` says what was awaited.
async fn wait_css(client: &Client, css: &str, what: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn click(client: &Client, css: &str) {
    wait_css(client, css, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let field = wait_css(client, css, css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// The text of a field of position `n`'s card once it shows `state` and the field has
/// text, with the non-breaking spaces Intl puts in plain.
async fn field(client: &Client, n: u16, state: &str, name: &str) -> String {
    let css = format!("[data-position='{n}'][data-state='{state}'] [data-field='{name}']");
    text_shown(
        client,
        &css,
        &format!("position {n} never showed its {name} while {state}"),
    )
    .await
}

/// The text of `css` once it has some, with non-breaking spaces plain; `what` says what
/// was awaited.
async fn text_shown(client: &Client, css: &str, what: &str) -> String {
    // A live card changes under the reader: look again until a whole read succeeds.
    eventually(what, move || async move {
        let text = client
            .find(Locator::Css(css))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (!text.is_empty()).then(|| text.replace('\u{a0}', " "))
    })
    .await
}

/// The grade name on position `n`'s card once it shows `state`.
async fn grade_shown(client: &Client, n: u16, state: &str) -> String {
    let css = format!("[data-position='{n}'][data-state='{state}'] .row.grade .value");
    text_shown(
        client,
        &css,
        &format!("position {n} never showed a grade while {state}"),
    )
    .await
}

/// Signs the person at the tablet out, back to the sign-in form.
async fn switch_user(client: &Client) {
    click(client, "#switch-user").await;
    wait_css(client, "body[data-view='login']", "the sign-in form again").await;
}

/// Attendant 7 and his PIN, as [`staff`] sets them.
const ATTENDANT: (&str, &str) = ("7", "1234");
/// Manager "ana" and her password, as [`staff`] sets them.
const MANAGER: (&str, &str) = ("ana", "correct horse battery");

/// `who` (user and secret) signs in on the form and the forecourt shows.
async fn sign_in(client: &Client, (user, secret): (&str, &str)) {
    type_into(client, "#login-user", user).await;
    type_into(client, "#login-secret", secret).await;
    click(client, "#login button[type=submit]").await;
    let forecourt = "body[data-view='forecourt'] [data-position='1']";
    wait_css(client, forecourt, "the forecourt after sign-in").await;
}

/// The status of a same-origin API call made by the page, as its own code would make it.
async fn page_fetch(client: &Client, method: &str, path: &str) -> u64 {
    let script = "const [method, path, done] = arguments;
        const headers = { 'Content-Type': 'application/json',
                          'X-CSRF-Token': sessionStorage.getItem('forecourtd.csrf') || '' };
        const init = method === 'GET' ? { headers } : { method, headers, body: '{}' };
        fetch(path, init).then((r) => done(r.status), () => done(0));";
    client
        .execute_async(script, vec![json!(method), json!(path)])
        .await
        .expect("script runs")
        .as_u64()
        .unwrap_or(0)
}

/// [`ATTENDANT`] with his PIN and [`MANAGER`] with her password.
async fn staff(admin: &str) {
    let (attendant, pin) = ATTENDANT;
    let reset = format!("/api/users/{attendant}/reset");
    let (status, body) = post(admin, &reset, json!({ "pin": pin })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (name, password) = MANAGER;
    let (status, body) = post(
        admin,
        "/api/users",
        json!({ "name": name, "role": "manager", "password": password }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// True when nothing matches `css`.
async fn absent(client: &Client, css: &str) -> bool {
    client
        .find_all(Locator::Css(css))
        .await
        .expect("lookup")
        .is_empty()
}

async fn displayed(client: &Client, css: &str) -> bool {
    client
        .find(Locator::Css(css))
        .await
        .expect("element exists")
        .is_displayed()
        .await
        .expect("visibility")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attendant_runs_the_forecourt_from_the_console() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let pay = PayStation::start(PaySetup::default()).await;
    let admin = pay.station.admin.clone();
    staff(&admin).await;
    // A real nozzle's pace on pump 1, so the fill is there to be watched.
    pay.rig.real_flow(1).await;

    let driver = Driver::start(&chromedriver).await;
    let client = open_console(&driver, &chromium, &admin).await;
    wait_css(&client, "#login-user", "the sign-in form").await;
    screenshot(&client, "01-login").await;
    assert!(
        !displayed(&client, "#estop").await,
        "nothing but sign-in before sign-in"
    );

    // An attendant signs in; manager actions are not on the page, and the API refuses them.
    sign_in(&client, ATTENDANT).await;
    let live = "#connection[data-live='true']";
    wait_css(&client, live, "the live feed is connected").await;
    assert!(
        displayed(&client, "#estop").await,
        "the emergency stop is for everyone"
    );
    assert!(!displayed(&client, "[data-tab='flagged']").await);
    assert_eq!(
        page_fetch(&client, "GET", "/api/payments/flagged").await,
        403
    );
    assert_eq!(page_fetch(&client, "POST", "/api/sales/1/void").await, 403);
    assert_eq!(
        page_fetch(&client, "POST", "/api/sales/1/refund").await,
        403
    );

    // Authorize pump 1 for $ 4.350 (3 litres of super) and watch it fill to the preset.
    card_in(&client, 1, "idle").await;
    click(&client, "[data-position='1'] [data-action='authorize']").await;
    type_into(&client, "#authorize-value", "4.350").await;
    click(&client, "#authorize-submit").await;
    card_in(&client, 1, "authorized").await;
    pay.rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    card_in(&client, 1, "filling").await;
    assert!(field(&client, 1, "filling", "amount")
        .await
        .starts_with("$ "));
    screenshot(&client, "02-filling").await;
    card_in(&client, 1, "awaiting_payment").await;
    assert_eq!(
        field(&client, 1, "awaiting_payment", "amount").await,
        "$ 4.350,00"
    );
    assert_eq!(
        field(&client, 1, "awaiting_payment", "volume").await,
        "3,000 l"
    );
    pay.rig.act(1, SimAction::HangNozzle).await;

    // The sale awaiting payment, then the customer pays with the pump's QR.
    click(&client, "[data-position='1'] [data-action='sale']").await;
    let dialog = wait_css(&client, "#sale-dialog[open]", "the sale panel").await;
    let (_, sales) = get(&admin, "/api/sales?position=1&status=ready").await;
    let reference = sales[0]["external_reference"]
        .as_str()
        .expect("a ready sale")
        .to_owned();
    assert!(dialog.text().await.expect("text").contains(&reference));
    assert!(
        absent(&client, "#sale-dialog [data-action='void']").await,
        "an attendant is offered no void"
    );
    screenshot(&client, "03-awaiting-payment").await;
    click(&client, "#sale-dialog [data-close]").await;
    pay.pay(1, CardHolder::Apro).await;
    card_in(&client, 1, "paid").await;
    screenshot(&client, "04-paid").await;

    // Pump 2, limited to Infinia: a sale settled in cash at the counter.
    click(&client, "[data-position='2'] [data-action='authorize']").await;
    type_into(&client, "#authorize-value", "1.450").await;
    click(&client, "#authorize-grades [data-grade='2'] input").await;
    screenshot(&client, "08-authorize-grade").await;
    click(&client, "#authorize-submit").await;
    assert_eq!(grade_shown(&client, 2, "authorized").await, "Infinia");
    let (_, positions) = get(&admin, "/api/positions").await;
    assert_eq!(
        positions[1]["dispatch"]["grades"],
        json!([2]),
        "{positions}"
    );
    pay.rig.act(2, SimAction::LiftNozzle(NozzleId(2))).await;
    assert_eq!(grade_shown(&client, 2, "awaiting_payment").await, "Infinia");
    pay.rig.act(2, SimAction::HangNozzle).await;
    click(&client, "[data-position='2'] [data-action='sale']").await;
    click(&client, "#sale-dialog [data-action='cash']").await;
    card_in(&client, 2, "settled").await;
    let (_, settled) = get(&admin, "/api/sales?position=2").await;
    assert_eq!(settled[0]["status"], json!("settled_other"), "{settled}");

    // The sales list finds both, by status.
    click(&client, "[data-tab='sales']").await;
    for status in ["paid", "settled_other"] {
        let css = format!("#sales tr[data-status='{status}']");
        wait_css(&client, &css, &format!("no {status} sale listed")).await;
    }
    screenshot(&client, "05-sales").await;

    // A phone-sized view of the forecourt.
    click(&client, "[data-tab='forecourt']").await;
    client.set_window_size(390, 844).await.expect("resize");
    card_in(&client, 1, "paid").await;
    screenshot(&client, "06-phone").await;
    client.set_window_size(1280, 900).await.expect("resize");

    // The next person on the shared tablet is the manager, who sees the manager's tools.
    switch_user(&client).await;
    assert_eq!(page_fetch(&client, "GET", "/api/positions").await, 401);
    sign_in(&client, MANAGER).await;
    assert!(displayed(&client, "[data-tab='flagged']").await);
    assert_eq!(
        page_fetch(&client, "GET", "/api/payments/flagged").await,
        200
    );
    let audit: Value = get(&admin, "/api/audit?limit=200").await.1;
    let by_browser = audit.as_array().into_iter().flatten().any(|a| {
        a["action"] == json!("sale.settle") && a["actor"].as_str().is_some_and(|s| s.contains('7'))
    });
    assert!(
        by_browser,
        "the cash settlement is audited as attendant 7: {audit}"
    );

    // The daemon goes away: the page says so instead of showing a stale forecourt.
    let (_rig, _sandbox) = pay.stop_daemon().await;
    wait_css(
        &client,
        "#connection[data-live='false']",
        "a visible connection-lost state",
    )
    .await;
    screenshot(&client, "07-connection-lost").await;

    client.close().await.expect("close the browser");
    drop(driver);
}

/// Reads the event stream at `base` (as the CLI token) until `done` holds on the text so
/// far; returns the text.
async fn read_events(base: &str, done: impl Fn(&str) -> bool) -> String {
    use http_body_util::{BodyExt, Empty};
    let token = token_for(base).expect("CLI token");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let request = hyper::Request::get(format!("{base}/api/events"))
        .header("authorization", format!("Bearer {}", token.expose()))
        .body(Empty::new())
        .expect("request");
    let response = client.request(request).await.expect("the event stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let mut body = response.into_body();
    let mut text = String::new();
    let read = tokio::time::timeout(PATIENCE, async {
        while !done(&text) {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        text.push_str(&String::from_utf8_lossy(&data));
                    }
                }
                _ => panic!("the stream ended early: {text}"),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the stream never showed what was expected: {text}"
    );
    text
}

/// The `data` of the last `name` event in `text`.
fn last_event(text: &str, name: &str) -> Value {
    let marker = format!("event: {name}\ndata: ");
    let start = text.rfind(&marker).expect("the event") + marker.len();
    let line = text[start..].lines().next().expect("its data");
    serde_json::from_str(line).expect("JSON data")
}

#[tokio::test]
async fn the_event_stream_follows_the_pumps_and_the_emergency_stop_stops_them() {
    let rig = Rig::new(2);
    let station = rig.start(|t| t).await;
    // A sale on pump 2 for the searches below.
    full_dispatch(&rig, &station, 2, "1450").await;

    let first = read_events(&station.admin, |t| {
        t.contains("event: positions") && t.contains("event: alerts")
    })
    .await;
    let positions = last_event(&first, "positions");
    assert_eq!(positions.as_array().map(Vec::len), Some(2), "{positions}");
    assert_eq!(
        get(&station.admin, "/api/positions").await.1[1]["payable"],
        positions[1]["payable"]
    );

    // Pump 1 filling at a real nozzle's pace: the stream shows it, the stop-all stops it.
    rig.real_flow(1).await;
    authorize_and_lift(&rig, &station, 1, "14500").await;
    let filling = read_events(&station.admin, |t| {
        t.contains("\"pump_status\":\"filling\"")
    })
    .await;
    assert_eq!(
        last_event(&filling, "positions")[0]["pump_status"],
        json!("filling")
    );
    let (status, stopped) = post(&station.admin, "/api/positions/stop-all", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert_eq!(
        stopped,
        json!({ "stopped": [1], "idle": [2], "failed": [] })
    );
    station
        .wait_for("pump 1 stopped", |s| {
            s.positions.get(&PositionId(1)).is_some_and(|p| {
                p.pump_status != pump_protocols::PumpStatus::Filling && p.dispatch.is_none()
            })
        })
        .await;

    // The sales search: by position, reference, status; a bad status is refused.
    let (_, two) = get(&station.admin, "/api/sales?position=2").await;
    assert_eq!(two.as_array().map(Vec::len), Some(1), "{two}");
    let reference = two[0]["external_reference"].as_str().expect("reference");
    let part = &reference[reference.len() - 4..];
    let (_, found) = get(
        &station.admin,
        &format!("/api/sales?reference={part}&position=2"),
    )
    .await;
    assert_eq!(found[0]["external_reference"], json!(reference));
    let (_, none) = get(&station.admin, "/api/sales?position=2&status=paid").await;
    assert_eq!(none, json!([]));
    let (status, _) = get(&station.admin, "/api/sales?status=gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, alerts) = get(&station.admin, "/api/alerts").await;
    assert_eq!(alerts, json!([]), "a healthy station has no alerts");
}

// ---- Shift and prices panels ----

/// A figure as the page shows it in es-AR (`$ 1.500,00`, `18.211,400 l`), as a decimal.
fn shown_decimal(text: &str) -> rust_decimal::Decimal {
    let plain = text
        .replace('\u{a0}', " ")
        .trim()
        .trim_start_matches('$')
        .trim_end_matches(" l")
        .trim()
        .replace('.', "")
        .replace(',', ".");
    plain
        .parse()
        .unwrap_or_else(|_| panic!("a figure, got {text:?}"))
}

/// The text of `css`'s cell `index` (0-based).
async fn cell(client: &Client, css: &str, index: usize) -> String {
    let row = wait_css(client, css, css).await;
    let cells = row
        .find_all(Locator::Css("td"))
        .await
        .expect("the row's cells");
    cells[index].text().await.expect("cell text")
}

/// Waits until nothing matches `css`.
async fn wait_gone(client: &Client, css: &str, what: &str) {
    eventually(what, move || async move {
        absent(client, css).await.then_some(())
    })
    .await;
}

/// The next person signs in on the shared tablet (from the forecourt, where sign-in lands).
async fn hand_over(client: &Client, who: (&str, &str)) {
    click(client, "[data-tab='forecourt']").await;
    switch_user(client).await;
    sign_in(client, who).await;
}

/// Every nozzle's volume totalizer as the simulated pumps hold it: the ground truth.
async fn simulator_totals(rig: &Rig) -> Vec<(u16, u8, rust_decimal::Decimal)> {
    let pumps = rig.sim.view().await.expect("simulator view");
    let mut out = Vec::new();
    for n in 1..=2u16 {
        let pump = pumps
            .iter()
            .find(|p| p.address == crate::support::address(n))
            .expect("simulated pump");
        for totals in &pump.totals {
            let volume = totals.volume.expect("a volume total").value();
            out.push((n, totals.nozzle.0, volume));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_changes_prices_and_closes_the_shift_from_the_console() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let rig = Rig::new(2);
    let station = rig.start(|t| t).await;
    let admin = station.admin.clone();
    staff(&admin).await;
    station
        .wait_for("pumps ready", |s| {
            crate::support::ready_to_authorize(s, 1) && crate::support::ready_to_authorize(s, 2)
        })
        .await;

    let driver = Driver::start(&chromedriver).await;
    let client = open_console(&driver, &chromium, &admin).await;
    sign_in(&client, MANAGER).await;

    // The manager opens the shift; the simulator's totalizers are what it opened with.
    click(&client, "[data-tab='shifts']").await;
    click(&client, "#shift-open").await;
    wait_css(
        &client,
        "#shift-close",
        "the open shift with its close button",
    )
    .await;
    let opened = simulator_totals(&rig).await;

    // Pump 2 is filling (no preset) when the prices change: it cannot take them yet.
    rig.real_flow(2).await;
    let (status, body) = station.authorize(2, json!({ "attendant": "7" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rig.act(2, SimAction::LiftNozzle(NozzleId(1))).await;
    card_in(&client, 2, "filling").await;

    click(&client, "[data-tab='prices']").await;
    wait_css(&client, "#price-pumps", "the prices panel").await;
    type_into(&client, "#price-book input[name='super']", "1.500").await;
    click(&client, "#price-submit").await;
    let confirmed = |n: u16| {
        format!(
            "#price-pumps tr[data-position='{n}'][data-confirmed='true']:not([data-price-set=''])"
        )
    };
    let row = wait_css(
        &client,
        &confirmed(1),
        "pump 1 never confirmed the new prices",
    )
    .await;
    let (_, prices) = get(&admin, "/api/prices").await;
    let set = prices["current"]["price_set"]
        .as_i64()
        .expect("a set in force");
    assert_eq!(
        row.attr("data-price-set").await.expect("attribute"),
        Some(set.to_string())
    );
    let super_price = cell(&client, "#price-book tr[data-grade='super']", 1).await;
    assert_eq!(super_price.replace('\u{a0}', " "), "$ 1.500,00");
    assert_eq!(
        cell(&client, "#price-book tr[data-grade='super']", 0).await,
        prices["grade_names"]["super"].as_str().expect("grade name")
    );
    wait_css(
        &client,
        "#price-pumps tr[data-position='2'][data-confirmed='false']",
        "pump 2 pending while it fills",
    )
    .await;
    // The fill ends; pump 2 takes the prices and the panel shows it without a reload.
    rig.act(2, SimAction::HangNozzle).await;
    wait_css(&client, &confirmed(2), "pump 2's confirmation never showed").await;

    // A change scheduled for later, then cancelled from the panel: it never takes effect.
    type_into(&client, "#price-book input[name='infinia']", "1.900").await;
    click(&client, "#price-form input[value='at']").await;
    client
        .execute(
            "document.querySelector('#price-form input[name=at]').value = '2030-01-01T06:00';",
            vec![],
        )
        .await
        .expect("set the time");
    click(&client, "#price-submit").await;
    wait_css(
        &client,
        "#price-scheduled [data-cancel]",
        "the scheduled change",
    )
    .await;
    screenshot(&client, "08-prices").await;
    click(&client, "#price-scheduled [data-cancel]").await;
    click(&client, "#ask-dialog [data-answer='yes']").await;
    wait_gone(
        &client,
        "#price-scheduled [data-cancel]",
        "the cancelled change stayed listed",
    )
    .await;
    let (_, prices) = get(&admin, "/api/prices").await;
    assert_eq!(prices["scheduled"], json!([]), "{prices}");
    assert_eq!(prices["current"]["price_set"], set, "{prices}");

    // A sale at the new price on pump 1, settled in cash; pump 2's sale stays unpaid.
    full_dispatch(&rig, &station, 1, "3000").await;
    station
        .wait_for("pump 1's sale", |s| crate::support::has_payable(s, 1))
        .await;
    let (_, ready) = get(&admin, "/api/sales?position=1&status=ready").await;
    let id = ready[0]["id"].as_i64().expect("a ready sale");
    let (status, body) = post(
        &admin,
        &format!("/api/sales/{id}/settle"),
        json!({ "note": "cash" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The attendant on the same tablet: no prices panel, no reports; the API refuses them.
    hand_over(&client, ATTENDANT).await;
    assert!(!displayed(&client, "[data-tab='prices']").await);
    assert_eq!(page_fetch(&client, "POST", "/api/prices").await, 403);
    assert_eq!(
        page_fetch(&client, "POST", &format!("/api/prices/{set}/cancel")).await,
        403
    );
    assert_eq!(
        page_fetch(&client, "GET", "/api/shifts/latest/report").await,
        403
    );
    click(&client, "[data-tab='shifts']").await;
    wait_css(&client, "#shift-current", "the shift panel").await;
    assert!(
        absent(&client, "#shift-list").await,
        "past shifts are the manager's"
    );

    // The manager closes the shift; the report on screen matches the simulator's totalizers.
    hand_over(&client, MANAGER).await;
    click(&client, "[data-tab='shifts']").await;
    click(&client, "#shift-close").await;
    click(&client, "#ask-dialog [data-answer='yes']").await;
    wait_css(
        &client,
        "#shift-report[data-shift] #shift-nozzles",
        "the report",
    )
    .await;
    let closed = simulator_totals(&rig).await;
    let mut dispensed = rust_decimal::Decimal::ZERO;
    for ((n, nozzle, open), (_, _, close)) in opened.iter().zip(&closed) {
        let css = format!("#shift-nozzles tr[data-position='{n}'][data-nozzle='{nozzle}']");
        let row = wait_css(&client, &css, &css).await;
        let text = row.text().await.expect("row text");
        let figure = |index: usize| {
            let client = &client;
            let css = &css;
            let text = &text;
            async move {
                let shown = cell(client, css, index).await;
                assert_ne!(shown, "—", "pump {n} nozzle {nozzle} not read: {text}");
                shown_decimal(&shown)
            }
        };
        let shown_open = figure(2).await;
        let shown_close = figure(3).await;
        let shown_moved = figure(4).await;
        assert_eq!(shown_open, *open, "pump {n} nozzle {nozzle} at open");
        assert_eq!(shown_close, *close, "pump {n} nozzle {nozzle} at close");
        assert_eq!(shown_moved, close - open, "pump {n} nozzle {nozzle} moved");
        dispensed += close - open;
    }
    assert!(dispensed > rust_decimal::Decimal::ZERO, "fuel was sold");
    let total = wait_css(&client, "#shift-total-volume", "the total volume").await;
    let shown_total = shown_decimal(&total.text().await.expect("text"));
    assert_eq!(shown_total, dispensed, "every litre dispensed was sold");
    wait_css(
        &client,
        "#shift-report [data-flagged='false']",
        "the totals reconcile",
    )
    .await;
    let (_, sales) = get(&admin, "/api/sales").await;
    let sold: rust_decimal::Decimal = sales
        .as_array()
        .expect("sales")
        .iter()
        .map(|s| {
            let text = s["amount"].to_string();
            text.trim_matches('"')
                .parse::<rust_decimal::Decimal>()
                .unwrap_or_else(|_| panic!("an amount, got {text}"))
        })
        .sum();
    let amount = wait_css(&client, "#shift-total-amount", "the total amount").await;
    assert_eq!(shown_decimal(&amount.text().await.expect("text")), sold);
    let csv = wait_css(&client, "#shift-csv", "the CSV link").await;
    let href = csv.attr("href").await.expect("href").expect("a link");
    assert_eq!(page_fetch(&client, "GET", &href).await, 200);
    screenshot(&client, "09-shift-report").await;
    // On paper the report stands alone: the print rules hide the page's chrome and buttons,
    // and nothing of the report itself.
    let script = "const hidden = [];
        for (const sheet of document.styleSheets) for (const rule of sheet.cssRules) {
          if (!(rule.media && rule.media.mediaText === 'print')) continue;
          for (const inner of rule.cssRules) if (inner.style && inner.style.display === 'none')
            hidden.push(inner.selectorText);
        }
        const out = (css) => hidden.some((s) => document.querySelector(css).matches(s));
        return { chrome: ['#top', '#tabs', '#shift-print', '#shift-csv', '#shift-current',
                          '#shift-list'].filter((c) => !out(c)),
                 report: ['#shift-report', '#shift-nozzles', '#shift-total-amount']
                          .filter(out) };";
    let print = client.execute(script, vec![]).await.expect("script runs");
    assert_eq!(
        print,
        json!({ "chrome": [], "report": [] }),
        "print stylesheet"
    );

    client.close().await.expect("close the browser");
    drop(driver);
    station.stop().await;
}
