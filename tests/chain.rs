//! The chain of stations with the real servers: a station's events reach PostgreSQL
//! through NATS JetStream and `forecourtd hq-sink` exactly once, through a broker outage
//! a daemon restart that re-sends what it had not recorded as acknowledged, and a daemon
//! SIGKILLed while it publishes. The catch-up measurement behind bench/chain-catchup.sh
//! is here too (ignored by default).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use forecourtd::journal::NewEvent;
use serde_json::{json, Value};

use crate::support::servers::{Nats, Postgres, TestCa};
use crate::support::{free_port, full_dispatch, get, ChildDaemon, Rig, Station};

/// The station's token in subjects.
pub(crate) const STORE: &str = "S1";
/// Long enough for the publisher's backoff after a short outage.
pub(crate) const CHAIN_PATIENCE: Duration = Duration::from_secs(90);

pub(crate) fn with_chain(text: String, nats: &str) -> String {
    format!("{text}\n[chain]\nnats_url = \"{nats}\"\nstore = \"{STORE}\"\n")
}

/// `forecourtd hq-sink` as a child process, killed when dropped.
fn start_sink(nats: &Nats, pg: &Postgres) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"))
        .args(["hq-sink", "--nats", &nats.url(), "--postgres", &pg.url()])
        .args(["--stream", "FORECOURT", "--durable", "hq-test"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("hq-sink starts")
}

/// A broker, a database and the sink between them.
pub(crate) struct Headquarters {
    pub(crate) nats: Nats,
    pub(crate) pg: Postgres,
    _sink: tokio::process::Child,
}

impl Headquarters {
    /// Everything started, or `None` (skip) when a server is not installed outside CI.
    pub(crate) async fn start() -> Option<Headquarters> {
        let nats = Nats::start().await?;
        let pg = Postgres::start().await?;
        let sink = start_sink(&nats, &pg);
        Some(Headquarters {
            nats,
            pg,
            _sink: sink,
        })
    }
}

/// (seq, event_id, sent) of every outbox row of the station's journal, in order.
fn outbox(journal: &Path) -> Vec<(i64, String, bool)> {
    let conn =
        rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("journal opens read-only");
    let mut stmt = conn
        .prepare("SELECT seq, event_id, sent_at IS NOT NULL FROM outbox ORDER BY seq")
        .expect("query");
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows");
    rows.collect::<Result<_, _>>().expect("outbox rows")
}

/// (seq, event_id) loaded for the station, in stream order.
async fn loaded(pg: &Postgres) -> Vec<(i64, String)> {
    let Ok((client, connection)) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await
    else {
        return Vec::new();
    };
    let task = tokio::spawn(connection);
    // Before the sink's first start the table does not exist yet: nothing is loaded.
    let rows = client
        .query(
            "SELECT seq, event_id FROM chain_events WHERE store = $1 ORDER BY stream_seq",
            &[&STORE],
        )
        .await
        .unwrap_or_default();
    task.abort();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Messages in the JetStream stream.
async fn stream_messages(nats: &Nats) -> u64 {
    let client = async_nats::connect(nats.url()).await.expect("NATS");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("FORECOURT").await.expect("stream exists");
    stream.info().await.expect("stream info").state.messages
}

/// Waits until every outbox row is sent and PostgreSQL holds exactly those events, each
/// once; returns them in stream order.
async fn wait_all_loaded(rig: &Rig, pg: &Postgres) -> Vec<(i64, String)> {
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    loop {
        let rows = outbox(&rig.database());
        let in_pg = loaded(pg).await;
        let mut sorted = in_pg.clone();
        sorted.sort();
        let expected: Vec<(i64, String)> = rows.iter().map(|(s, id, _)| (*s, id.clone())).collect();
        if rows.iter().all(|r| r.2) && sorted == expected {
            return in_pg;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not loaded: {} outbox rows ({} unsent), {} in PostgreSQL",
            rows.len(),
            rows.iter().filter(|r| !r.2).count(),
            in_pg.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn burst(station: &Station, n: usize) {
    for i in 0..n {
        station
            .daemon
            .journal()
            .append_event(NewEvent {
                sale: None,
                position: None,
                kind: "test_burst".to_owned(),
                detail: json!({ "i": i }),
            })
            .await
            .expect("event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_postgres_once_and_in_order_through_a_broker_outage() {
    let Some(mut hq) = Headquarters::start().await else {
        return;
    };
    let rig = Rig::new(2);
    let url = hq.nats.url();
    let station = rig.start(|t| with_chain(t, &url)).await;

    full_dispatch(&rig, &station, 1, "100.00").await;
    full_dispatch(&rig, &station, 2, "150.00").await;
    let before_outage = wait_all_loaded(&rig, &hq.pg).await;
    let seqs: Vec<i64> = before_outage.iter().map(|r| r.0).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "stream order is the station's order: {seqs:?}"
    );

    hq.nats.stop();
    // Selling goes on while headquarters is unreachable.
    full_dispatch(&rig, &station, 1, "200.00").await;
    burst(&station, 300).await;
    let (_, status) = get(&station.admin, "/api/status").await;
    assert_eq!(status["chain"]["configured"], json!(true), "{status}");
    assert!(
        status["chain"]["backlog"].as_u64().unwrap_or(0) >= 300,
        "the backlog shows: {status}"
    );

    hq.nats.restart().await;
    full_dispatch(&rig, &station, 2, "50.00").await;
    let all = wait_all_loaded(&rig, &hq.pg).await;
    assert!(all.len() > 300 + before_outage.len());
    assert_eq!(
        stream_messages(&hq.nats).await,
        u64::try_from(all.len()).expect("small"),
        "the stream holds every event once"
    );
    let completed = outbox(&rig.database()).len();
    assert_eq!(all.len(), completed);
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_publisher_resends_unrecorded_acks_and_jetstream_keeps_them_single() {
    let Some(hq) = Headquarters::start().await else {
        return;
    };
    let (nats, pg) = (&hq.nats, &hq.pg);
    let rig = Rig::new(1);
    let url = nats.url();
    let station = rig.start(|t| with_chain(t, &url)).await;
    full_dispatch(&rig, &station, 1, "100.00").await;
    burst(&station, 40).await;
    wait_all_loaded(&rig, pg).await;
    station.stop().await;

    // As if the daemon died after JetStream stored the last events but before it recorded
    // their acknowledgements.
    let conn = rusqlite::Connection::open(rig.database()).expect("journal");
    let forgotten = conn
        .execute(
            "UPDATE outbox SET sent_at = NULL WHERE seq > (SELECT max(seq) - 25 FROM outbox)",
            [],
        )
        .expect("forget acks");
    assert_eq!(forgotten, 25);
    drop(conn);

    let station = rig.start(|t| with_chain(t, &url)).await;
    let all = wait_all_loaded(&rig, pg).await;
    assert_eq!(
        stream_messages(nats).await,
        u64::try_from(all.len()).expect("small"),
        "re-sent events were dropped as duplicates by JetStream"
    );
    station.stop().await;
}

/// Adds `n` events to the outbox of a stopped station, in one transaction, as days without
/// an uplink leave them (rows written as `outbox::record` writes them).
fn backlog(journal: &Path, n: usize) {
    let mut conn = rusqlite::Connection::open(journal).expect("journal");
    let tx = conn.transaction().expect("transaction");
    for i in 0..n {
        tx.execute(
            "INSERT INTO outbox (event_id, kind, subject, payload, created_at)
             VALUES (?1, 'test_backlog', 'station', ?2, '2026-11-22T13:00:00.000000000Z')",
            rusqlite::params![
                uuid::Uuid::now_v7().to_string(),
                json!({ "schema": 1, "i": i }).to_string()
            ],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
}

/// (sent, total) rows of the outbox.
fn sent_of(journal: &Path) -> (usize, usize) {
    let rows = outbox(journal);
    (rows.iter().filter(|r| r.2).count(), rows.len())
}

/// A station as a child process that ran once without an uplink and holds `n` unsent
/// events; returns its configuration text with `[chain]` and its ports.
async fn station_with_backlog(rig: &Rig, nats: &Nats, n: usize) -> (String, u16, u16) {
    let (public, admin) = (free_port(), free_port());
    let plain = rig.config_text(
        &format!("127.0.0.1:{public}"),
        &format!("127.0.0.1:{admin}"),
        |t| t,
    );
    ChildDaemon::start_with_text(rig, &plain, public, admin)
        .await
        .terminate()
        .await;
    backlog(&rig.database(), n);
    (with_chain(plain, &nats.url()), public, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_while_publishing_loses_and_duplicates_nothing() {
    let Some(hq) = Headquarters::start().await else {
        return;
    };
    let (nats, pg) = (&hq.nats, &hq.pg);
    let rig = Rig::new(1);
    let (text, public, admin) = station_with_backlog(&rig, nats, 20_000).await;

    let daemon = ChildDaemon::start_with_text(&rig, &text, public, admin).await;
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    while sent_of(&rig.database()).0 == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing was sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.kill().await;
    let (sent, total) = sent_of(&rig.database());
    assert!(
        sent < total,
        "killed while publishing: {sent} of {total} sent"
    );

    let daemon = ChildDaemon::start_with_text(&rig, &text, public, admin).await;
    let all = wait_all_loaded(&rig, pg).await;
    assert!(all.len() >= 20_000);
    assert_eq!(
        stream_messages(nats).await,
        u64::try_from(all.len()).expect("fits"),
        "each event once in the stream"
    );
    daemon.terminate().await;
}

/// Catch-up after an outage: a station holding 10 000 unsent events connects; prints how
/// long until JetStream acknowledged them all and until PostgreSQL held them all. A
/// measurement, not a check of speed: run it through bench/chain-catchup.sh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run by bench/chain-catchup.sh"]
async fn catch_up_after_an_outage_of_10000_events() {
    const EVENTS: usize = 10_000;
    let Some(hq) = Headquarters::start().await else {
        return;
    };
    let (nats, pg) = (&hq.nats, &hq.pg);
    let rig = Rig::new(1);
    let (text, public, admin) = station_with_backlog(&rig, nats, EVENTS).await;

    let started = std::time::Instant::now();
    let daemon = ChildDaemon::start_with_text(&rig, &text, public, admin).await;
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE * 4;
    loop {
        let (sent, total) = sent_of(&rig.database());
        if sent == total {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sent} of {total}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let published = started.elapsed();
    let all = wait_all_loaded(&rig, pg).await;
    let loaded_in = started.elapsed();
    let rate = |d: Duration| EVENTS as f64 / d.as_secs_f64().max(f64::EPSILON);
    println!(
        "chain catch-up: {} events; all acknowledged by JetStream in {:.2} s ({:.0} events/s, \
         daemon start included); all in PostgreSQL in {:.2} s ({:.0} events/s)",
        all.len(),
        published.as_secs_f64(),
        rate(published),
        loaded_in.as_secs_f64(),
        rate(loaded_in)
    );
    daemon.terminate().await;
}

// ---- The uplink watched: metrics, status and the console's alert ----

/// Waits until `/api/status`'s `chain` object satisfies `ok`; returns it.
async fn wait_chain_status(station: &Station, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    loop {
        let (_, status) = get(&station.admin, "/api/status").await;
        if ok(&status["chain"]) {
            return status["chain"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `/metrics` exposition of a station in the classic text format.
async fn metrics_text(station: &Station) -> String {
    crate::metrics::scrape(&station.admin, "/metrics", None)
        .await
        .2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_shows_in_metrics_status_and_an_alert_while_headquarters_is_away() {
    let Some(mut nats) = Nats::start().await else {
        return;
    };
    let rig = Rig::new(1);
    let url = nats.url();
    let station = rig
        .start(|t| format!("{}backlog_alert_after_secs = 60\n", with_chain(t, &url)))
        .await;
    full_dispatch(&rig, &station, 1, "100.00").await;
    let chain = wait_chain_status(&station, "all sent", |c| {
        c["connected"] == json!(true) && c["backlog"] == json!(0) && c["sent"] != json!(0)
    })
    .await;
    assert!(chain["last_acked_at"].is_string(), "{chain}");
    assert_eq!(chain["backlog_alert_after_s"], json!(60));
    let text = metrics_text(&station).await;
    let value = |series| crate::metrics::sample(&text, series);
    assert_eq!(value("forecourtd_chain_connected"), Some(1.0), "{text}");
    assert!(value("forecourtd_chain_published_total").is_some_and(|n| n >= 1.0));
    assert_eq!(value("forecourtd_outbox_backlog"), Some(0.0), "{text}");
    assert_eq!(value("forecourtd_outbox_oldest_age_seconds"), Some(0.0));
    crate::metrics::assert_promtool_passes(&text).await;
    let (_, alerts) = get(&station.admin, "/api/alerts").await;
    assert!(!alerts.to_string().contains("chain_backlog"), "{alerts}");

    // Headquarters goes away; events written days ago still wait (rows as the journal
    // writes them, dated in the past).
    nats.stop();
    wait_chain_status(&station, "disconnected", |c| c["connected"] == json!(false)).await;
    backlog(&rig.database(), 5);
    let chain = wait_chain_status(&station, "backlog", |c| c["backlog"] == json!(5)).await;
    assert!(
        chain["oldest_unsent_age_s"]
            .as_u64()
            .is_some_and(|s| s > 60),
        "{chain}"
    );
    let (_, alerts) = get(&station.admin, "/api/alerts").await;
    let alert = alerts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["kind"] == json!("chain_backlog")))
        .cloned()
        .unwrap_or_else(|| panic!("no chain_backlog alert: {alerts}"));
    assert_eq!(alert["backlog"], json!(5), "{alert}");
    let text = metrics_text(&station).await;
    let value = |series| crate::metrics::sample(&text, series);
    assert_eq!(value("forecourtd_outbox_backlog"), Some(5.0), "{text}");
    assert!(value("forecourtd_outbox_oldest_age_seconds").is_some_and(|s| s > 60.0));
    assert_eq!(value("forecourtd_chain_connected"), Some(0.0), "{text}");
    crate::metrics::assert_promtool_passes(&text).await;

    // Back: the backlog drains and the alert goes.
    nats.restart().await;
    wait_chain_status(&station, "drained", |c| {
        c["connected"] == json!(true) && c["backlog"] == json!(0)
    })
    .await;
    let (_, alerts) = get(&station.admin, "/api/alerts").await;
    assert!(!alerts.to_string().contains("chain_backlog"), "{alerts}");
    station.stop().await;
}

// ---- Authentication and TLS with a real server ----

/// Writes `text` to `name` in `dir`; returns its path.
fn secret_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write secret file");
    path
}

/// Waits until `/api/status` shows a failed connection; returns its error.
async fn wait_refused(station: &Station) -> String {
    let chain = wait_chain_status(station, "a refused connection", |c| {
        c["connected"] == json!(false) && c["last_error"].is_string()
    })
    .await;
    chain["last_error"].as_str().unwrap_or_default().to_owned()
}

/// Failed connection attempts counted in `/metrics`.
async fn connect_failures(station: &Station) -> f64 {
    let text = metrics_text(station).await;
    crate::metrics::sample(
        &text,
        "forecourtd_chain_publish_failures_total{stage=\"connect\"}",
    )
    .unwrap_or(0.0)
}

/// Waits until the outbox is sent to the last row; returns how many rows it holds.
async fn wait_all_sent(rig: &Rig) -> usize {
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    loop {
        let (sent, total) = sent_of(&rig.database());
        if sent == total {
            return total;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sent} of {total} sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sells `amount` at a station whose credentials the server refuses, checks `/api/status`
/// names the refusal, stops it; returns the events kept unsent (none is sent).
async fn sell_while_refused(rig: &Rig, station: Station, amount: &str) -> usize {
    full_dispatch(rig, &station, 1, amount).await;
    let error = wait_refused(&station).await;
    assert!(
        error.to_lowercase().contains("authorization"),
        "names the refusal: {error}"
    );
    station.stop().await;
    let (sent, waiting) = sent_of(&rig.database());
    assert_eq!(sent, 0, "nothing published while refused");
    assert!(waiting > 0);
    waiting
}

/// Messages in the JetStream stream, read over TLS (trusting `ca`) as `options` log in.
async fn stream_messages_over_tls(
    options: async_nats::ConnectOptions,
    ca: &TestCa,
    url: &str,
) -> usize {
    let client = options
        .add_root_certificates(ca.ca.clone())
        .connect(url)
        .await
        .expect("authenticated TLS connection");
    let mut stream = async_nats::jetstream::new(client)
        .get_stream("FORECOURT")
        .await
        .expect("stream");
    let messages = stream.info().await.expect("info").state.messages;
    usize::try_from(messages).expect("small")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_credentials_a_wrong_ca_or_seed_connects_nowhere_and_loses_nothing() {
    let (Some(ca), Some(other_ca)) = (TestCa::new("hq-test-ca"), TestCa::new("someone-else"))
    else {
        return;
    };
    let user = nkeys::KeyPair::new_user();
    let stranger = nkeys::KeyPair::new_user();
    let conf = ca.server_with_users(&user.public_key(), ("s29", "pw-29"));
    let Some(nats) = Nats::start_with_config(&conf).await else {
        return;
    };
    let secrets = tempfile::tempdir().expect("temporary directory");
    let seed = secret_file(secrets.path(), "seed", &user.seed().expect("seed"));
    let wrong_seed = secret_file(secrets.path(), "wrong", &stranger.seed().expect("seed"));
    let password = secret_file(secrets.path(), "password", "pw-29\n");
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let rig = Rig::new(1);
    let config = |keys: String| {
        let url = url.clone();
        move |t: String| format!("{}{keys}", with_chain(t, &url))
    };
    let nkey = |ca: &Path, seed: &Path| {
        format!(
            "tls_ca_file = \"{}\"\nnkey_seed_file = \"{}\"\n",
            ca.display(),
            seed.display()
        )
    };

    // A CA that did not sign the server: nothing connects, selling goes on.
    let station = rig.start(config(nkey(&other_ca.ca, &seed))).await;
    full_dispatch(&rig, &station, 1, "100.00").await;
    let error = wait_refused(&station).await;
    assert!(
        error.contains("certificate"),
        "names the certificate: {error}"
    );
    assert!(connect_failures(&station).await >= 1.0);
    station.stop().await;

    // The right CA, a seed the server does not know.
    let station = rig.start(config(nkey(&ca.ca, &wrong_seed))).await;
    let waiting = sell_while_refused(&rig, station, "120.00").await;

    // Fixed and restarted: every event kept meanwhile is published, in order.
    let station = rig.start(config(nkey(&ca.ca, &seed))).await;
    assert_eq!(wait_all_sent(&rig).await, waiting);
    let (_, status) = get(&station.admin, "/api/status").await;
    assert_eq!(status["chain"]["connected"], json!(true), "{status}");
    station.stop().await;

    // A user and password work as well.
    let keys = format!(
        "tls_ca_file = \"{}\"\nuser = \"s29\"\npassword_file = \"{}\"\n",
        ca.ca.display(),
        password.display()
    );
    let station = rig.start(config(keys)).await;
    full_dispatch(&rig, &station, 1, "80.00").await;
    let total = wait_all_sent(&rig).await;
    assert!(total > waiting);
    station.stop().await;

    // What the stream holds, read over TLS with the NKey user: each event once.
    let options = async_nats::ConnectOptions::new().nkey(user.seed().expect("seed"));
    assert_eq!(stream_messages_over_tls(options, &ca, &url).await, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_against_a_plain_server_fails_clearly_and_keeps_the_events() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let rig = Rig::new(1);
    let url = nats.url();
    let station = rig
        .start(|t| format!("{}tls_required = true\n", with_chain(t, &url)))
        .await;
    full_dispatch(&rig, &station, 1, "100.00").await;
    let error = wait_refused(&station).await;
    assert!(error.contains("TLS"), "names TLS: {error}");
    station.stop().await;
    let (sent, total) = sent_of(&rig.database());
    assert!(sent == 0 && total > 0, "{sent} of {total} sent");
    let client = async_nats::connect(nats.url()).await.expect("plain client");
    assert!(
        async_nats::jetstream::new(client)
            .get_stream("FORECOURT")
            .await
            .is_err(),
        "the station never reached JetStream"
    );
}

// ---- A pump offline and back, as business events ----

/// (kind, payload) of the outbox rows of `kind`s, in order.
fn outbox_of(journal: &Path, kinds: &[&str]) -> Vec<(String, Value)> {
    let conn =
        rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("journal opens read-only");
    let mut stmt = conn
        .prepare("SELECT kind, payload FROM outbox ORDER BY seq")
        .expect("query");
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("rows");
    rows.map(|r| r.expect("row"))
        .filter(|(kind, _)| kinds.contains(&kind.as_str()))
        .map(|(kind, payload)| (kind, serde_json::from_str(&payload).expect("JSON")))
        .collect()
}

/// Waits until the outbox holds `n` link events; returns them.
async fn wait_link_events(rig: &Rig, n: usize) -> Vec<(String, Value)> {
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    loop {
        let events = outbox_of(&rig.database(), &["pump_offline", "pump_online"]);
        if events.len() >= n {
            return events;
        }
        assert!(tokio::time::Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until position `n`'s pump is offline (`offline` true) or answers, as
/// `/api/positions` shows it.
async fn wait_pump_offline(station: &Station, n: u16, offline: bool) {
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    loop {
        let (_, positions) = get(&station.admin, "/api/positions").await;
        let found = positions
            .as_array()
            .and_then(|a| a.iter().find(|p| p["position"] == json!(n)))
            .map(|p| p["pump_status"].clone());
        if found.is_some_and(|s| (s == json!("offline")) == offline) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{positions}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pump_silent_and_back_is_one_offline_and_one_online_event() {
    // Headquarters too when its servers are installed: the two events reach PostgreSQL.
    let hq = Headquarters::start().await;
    let uplink = |t: String| match &hq {
        Some(hq) => with_chain(t, &hq.nats.url()),
        None => t,
    };
    let rig = Rig::new(2);
    let station = rig.start(uplink).await;
    wait_pump_offline(&station, 1, false).await;
    assert!(
        outbox_of(&rig.database(), &["pump_offline", "pump_online"]).is_empty(),
        "answering from the start is no transition"
    );

    rig.act(1, pump_protocols::SimAction::Silent(true)).await;
    wait_pump_offline(&station, 1, true).await;
    wait_link_events(&rig, 1).await;
    rig.act(1, pump_protocols::SimAction::Silent(false)).await;
    wait_pump_offline(&station, 1, false).await;
    let events = wait_link_events(&rig, 2).await;
    // A few more polls: a pump back for good writes nothing more.
    full_dispatch(&rig, &station, 1, "10.00").await;
    let again = outbox_of(&rig.database(), &["pump_offline", "pump_online"]);
    assert_eq!(again, events, "one event per transition");
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["pump_offline", "pump_online"]);
    let (offline, online) = (&events[0].1, &events[1].1);
    assert_eq!(offline["position"], json!(1), "{offline}");
    assert!(offline["detail"]["line"].is_string(), "{offline}");
    assert!(offline["detail"]["offline_at"].is_string(), "{offline}");
    assert!(offline["detail"]["last_heard_at"].is_string(), "{offline}");
    assert_eq!(
        online["detail"]["offline_since"], offline["detail"]["offline_at"],
        "{online}"
    );
    assert!(online["detail"]["offline_for_s"].is_u64(), "{online}");
    station.stop().await;

    // A restart does not repeat them, and the other pump never went offline.
    let station = rig.start(uplink).await;
    wait_pump_offline(&station, 1, false).await;
    full_dispatch(&rig, &station, 2, "10.00").await;
    let after = outbox_of(&rig.database(), &["pump_offline", "pump_online"]);
    assert_eq!(after, events);
    if let Some(hq) = &hq {
        wait_all_loaded(&rig, &hq.pg).await;
        let (client, connection) = tokio_postgres::connect(&hq.pg.url(), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL");
        let task = tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT kind, payload->>'position' FROM chain_events
                 WHERE kind IN ('pump_offline', 'pump_online') ORDER BY seq",
                &[],
            )
            .await
            .expect("query");
        let loaded: Vec<(String, Option<String>)> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let one = Some("1".to_owned());
        assert_eq!(
            loaded,
            [
                ("pump_offline".to_owned(), one.clone()),
                ("pump_online".to_owned(), one)
            ]
        );
        task.abort();
    }
    station.stop().await;
}

/// Regression: a pump that had never answered since the daemon started got no
/// `pump_offline` event (only the console's alert showed it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_pump_that_never_answered_since_the_start_gets_no_pump_offline_event() {
    // Two missed polls make a pump offline; a pump never heard is polled once a second.
    let tweak = |t: String| {
        t.replace(
            "protocol = \"dart\"\n",
            "protocol = \"dart\"\noffline_after_misses = 2\n",
        )
    };
    let threshold = Duration::from_secs(2);
    let rig = Rig::new(2);
    // Pump 2 is silent before the daemon ever polls it.
    rig.act(2, pump_protocols::SimAction::Silent(true)).await;
    let station = rig.start(tweak).await;
    wait_pump_offline(&station, 1, false).await;
    let events = wait_link_events(&rig, 1).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["pump_offline"], "{events:?}");
    let offline = &events[0].1;
    assert_eq!(offline["position"], json!(2), "{offline}");
    assert!(offline["detail"]["offline_at"].is_string(), "{offline}");
    assert!(offline["detail"]["last_heard_at"].is_null(), "{offline}");
    // A full dispatch on pump 1 is time for many more polls: still one event.
    full_dispatch(&rig, &station, 1, "10.00").await;
    assert_eq!(
        outbox_of(&rig.database(), &["pump_offline", "pump_online"]),
        events
    );
    station.stop().await;

    // A restart while it is still silent does not repeat it.
    let station = rig.start(tweak).await;
    wait_pump_offline(&station, 1, false).await;
    full_dispatch(&rig, &station, 1, "10.00").await;
    // Only the passing of time can show that nothing more comes: past the threshold
    // and a few ticks.
    tokio::time::sleep(threshold + Duration::from_secs(1)).await;
    full_dispatch(&rig, &station, 1, "10.00").await;
    assert_eq!(
        outbox_of(&rig.database(), &["pump_offline", "pump_online"]),
        events
    );

    // It answers at last: one pump_online, that says since when it was offline (the
    // journal row's time, read back at the restart).
    rig.act(2, pump_protocols::SimAction::Silent(false)).await;
    wait_pump_offline(&station, 2, false).await;
    let both = wait_link_events(&rig, 2).await;
    assert_eq!(both[0], events[0]);
    assert_eq!(both[1].0, "pump_online", "{both:?}");
    assert!(both[1].1["detail"]["offline_since"].is_string(), "{both:?}");
    station.stop().await;

    // A restart with every pump answering invents nothing.
    let station = rig.start(tweak).await;
    wait_pump_offline(&station, 2, false).await;
    full_dispatch(&rig, &station, 2, "10.00").await;
    assert_eq!(
        outbox_of(&rig.database(), &["pump_offline", "pump_online"]),
        both
    );
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_creds_file_in_operator_mode_an_unknown_account_connects_nowhere() {
    use crate::support::nats_jwt::{account_jwt, creds, operator_jwt};
    use nkeys::KeyPair;

    let Some(ca) = TestCa::new("hq-test-ca") else {
        return;
    };
    let operator = KeyPair::new_operator();
    let system = KeyPair::new_account();
    let account = KeyPair::new_account();
    let stranger_account = KeyPair::new_account();
    let (user, stranger) = (KeyPair::new_user(), KeyPair::new_user());
    // The stranger's account is signed by the operator too but never given to the server.
    let conf = format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n\
         operator: \"{}\"\nsystem_account: \"{}\"\nresolver: MEMORY\n\
         resolver_preload: {{ {}: \"{}\", {}: \"{}\" }}\n",
        ca.cert.display(),
        ca.key.display(),
        operator_jwt(&operator),
        system.public_key(),
        system.public_key(),
        account_jwt(&operator, &system, "SYS", false),
        account.public_key(),
        account_jwt(&operator, &account, "HQ", true),
    );
    let Some(nats) = Nats::start_with_config(&conf).await else {
        return;
    };
    let secrets = tempfile::tempdir().expect("temporary directory");
    let good = secret_file(secrets.path(), "station.creds", &creds(&account, &user));
    let unknown = secret_file(
        secrets.path(),
        "stranger.creds",
        &creds(&stranger_account, &stranger),
    );
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let rig = Rig::new(1);
    let config = |creds: &Path| {
        let keys = format!(
            "tls_ca_file = \"{}\"\ncredentials_file = \"{}\"\n",
            ca.ca.display(),
            creds.display()
        );
        let url = url.clone();
        move |t: String| format!("{}{keys}", with_chain(t, &url))
    };

    // A user of an account the server does not know: refused, selling goes on.
    let station = rig.start(config(&unknown)).await;
    let waiting = sell_while_refused(&rig, station, "100.00").await;

    // The account's own user: every event kept meanwhile is published over TLS.
    let station = rig.start(config(&good)).await;
    full_dispatch(&rig, &station, 1, "120.00").await;
    let total = wait_all_sent(&rig).await;
    assert!(total > waiting);
    let (_, status) = get(&station.admin, "/api/status").await;
    assert_eq!(status["chain"]["connected"], json!(true), "{status}");
    station.stop().await;

    // What the account's stream holds, read with the same creds file: each event once.
    let options = async_nats::ConnectOptions::with_credentials_file(&good)
        .await
        .expect("creds file");
    assert_eq!(stream_messages_over_tls(options, &ca, &url).await, total);
}
