//! `/metrics` and `/healthz` of a real daemon: the exposition after a paid sale passes
//! `promtool check metrics` and shows the key families with plausible values; health
//! names a dead line and answers 503 when no pump answers.

use std::path::PathBuf;
use std::process::Stdio;

use forecourtd::lab::sandbox::CardHolder;
use forecourtd::sale::SaleStatus;
use http_body_util::Empty;
use hyper::StatusCode;
use pump_protocols::SimAction;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::support::payments::{eventually, reference, PaySetup, PayStation};
use crate::support::{find_tool, get, read_response, Rig};

/// `promtool`, or `None` with a message saying why the test is skipped. Under CI
/// (`CI=true`) a missing tool fails the test: `.ci/run` installs it.
fn promtool() -> Option<PathBuf> {
    let found = find_tool("promtool");
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is missing under CI (apt-get install prometheus)"
        );
        eprintln!("SKIPPED: promtool is not installed (apt-get install prometheus)");
    }
    found
}

/// Runs `promtool check metrics` over a classic-text exposition and fails the test with
/// its complaints (skipped outside CI when promtool is missing).
pub(crate) async fn assert_promtool_passes(text: &str) {
    let Some(promtool) = promtool() else {
        return;
    };
    let mut child = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).await.expect("write");
    drop(stdin);
    let out = child.wait_with_output().await.expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GET `path` with an optional `Accept`, as a scraper does (no identity: `/metrics` is
/// open to loopback by default); status, content type and body text.
pub(crate) async fn scrape(
    base: &str,
    path: &str,
    accept: Option<&str>,
) -> (StatusCode, String, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let mut request = hyper::Request::get(format!("{base}{path}"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = client
        .request(request.body(Empty::new()).expect("request"))
        .await
        .expect("response");
    let (status, headers, body) = read_response(response).await;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The value of the sample `series` (name and labels exactly as written), if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The sum over every sample of family `name` whose labels contain `label`.
fn sum_of(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_paid_sale_pass_promtool_and_show_every_key_family() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "500").await;
    s.pay(1, CardHolder::Apro).await;
    s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    let admin = s.station.admin.clone();
    // The payment is applied once the notification was processed; wait for its count.
    let text = eventually("the payment counted in /metrics", || async {
        let (_, _, text) = scrape(&admin, "/metrics", None).await;
        (sum_of(&text, "forecourtd_payments_total", "outcome=\"paid\"") >= 1.0).then_some(text)
    })
    .await;

    let (status, content_type, _) = scrape(&admin, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );

    // Lines: polled and answered; positions: one state each.
    assert!(
        sum_of(&text, "forecourtd_line_polls_total", "line=") > 0.0,
        "{text}"
    );
    assert!(
        sum_of(&text, "forecourtd_line_answers_total", "line=") > 0.0,
        "{text}"
    );
    assert!(
        sum_of(&text, "forecourtd_line_poll_cycle_seconds_count", "line=") > 0.0,
        "{text}"
    );
    for family in [
        "forecourtd_line_crc_errors_total",
        "forecourtd_line_timeouts_total",
        "forecourtd_line_retries_total",
        "forecourtd_line_reopens_total",
    ] {
        assert!(
            text.contains(&format!("{family}{{line=")),
            "{family} missing:\n{text}"
        );
    }
    assert_eq!(
        sum_of(&text, "forecourtd_position_state", "position=\"1\""),
        1.0,
        "{text}"
    );
    // The order served, the notification stored, the payment and the sale.
    assert!(
        sum_of(&text, "forecourtd_order_answers_total", "answer=\"order\"") >= 1.0,
        "{text}"
    );
    assert!(
        sum_of(
            &text,
            "forecourtd_notifications_total",
            "outcome=\"stored\""
        ) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "forecourtd_sales{state=\"paid\"}").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sum_of(
            &text,
            "forecourtd_mercadopago_requests_total",
            "endpoint=\"GET /v1/payments/{id}\""
        ) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "forecourtd_journal_write_duration_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(text.contains("forecourtd_build_info{version=\""), "{text}");
    // The outbox fills without an uplink: every event of the sale waits.
    assert!(
        sample(&text, "forecourtd_outbox_backlog").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        text.contains("forecourtd_refusals_total{reason=\"csrf\"} 0"),
        "{text}"
    );

    // Prometheus asks for OpenMetrics and gets it.
    let (_, content_type, om) = scrape(
        &admin,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");

    assert_promtool_passes(&text).await;
    s.station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_the_dead_line_and_answers_503_when_every_pump_is_silent() {
    let rig = Rig::new(2);
    let station = rig.start(|t| t).await;
    // Without an access token the station is at best degraded, but it answers 200.
    let line = eventually("the line answering", || async {
        let (status, body) = get(&station.admin, "/healthz").await;
        let lines = body["checks"]["lines"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let (name, check) = lines.into_iter().next()?;
        (status == StatusCode::OK && check["answering"] == Value::Bool(true)).then_some(name)
    })
    .await;
    let (_, body) = get(&station.admin, "/healthz").await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["checks"]["journal"]["writable"], true, "{body}");
    assert_eq!(body["checks"]["mercadopago"]["configured"], false, "{body}");

    for n in 1..=2 {
        rig.act(n, SimAction::Silent(true)).await;
    }
    let body = eventually("healthz failing", || async {
        let (status, body) = get(&station.admin, "/healthz").await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await;
    assert_eq!(body["status"], "failing", "{body}");
    let check = &body["checks"]["lines"][line.as_str()];
    assert_eq!(check["answering"], false, "{body}");
    assert!(check["silent_since"].is_string(), "{body}");
    let problems = body["problems"].to_string();
    assert!(
        problems.contains(&format!("line {line}: no pump answers")),
        "{body}"
    );
    station.stop().await;
}

/// Snapshots are published only when something changes, so an idle station's snapshot
/// keeps the instant its pumps were heard at publication. Health and the console's alerts
/// once read that instant and called a line of answering, idle pumps down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_idle_pumps_are_not_reported_down_once_the_snapshot_is_older_than_the_stale_limit(
) {
    let rig = Rig::new(2);
    let station = rig
        .start(|t| {
            t.replace(
                "protocol = \"dart\"\n",
                "protocol = \"dart\"\nstale_limit_ms = 400\n",
            )
        })
        .await;
    station.wait_for_answer(1, "unavailable").await;
    station.wait_for_answer(2, "unavailable").await;
    // Nothing changes on an idle station: after several stale limits the published
    // snapshot is older than the limit while the pumps still answer every poll.
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    let (status, body) = get(&station.admin, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = body["checks"]["lines"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(!lines.is_empty(), "{body}");
    for (name, check) in &lines {
        assert_eq!(check["answering"], Value::Bool(true), "line {name}: {body}");
    }
    let (status, alerts) = get(&station.admin, "/api/alerts").await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    let kinds: Vec<&str> = alerts
        .as_array()
        .map(|list| list.iter().filter_map(|a| a["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !kinds.contains(&"line_down") && !kinds.contains(&"pump_offline"),
        "{alerts}"
    );
    station.stop().await;
}
