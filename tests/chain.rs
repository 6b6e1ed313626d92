//! The chain of stations with the real servers: a station's events reach PostgreSQL
//! through NATS JetStream and `forecourtd hq-sink` exactly once, through a broker outage
//! and a daemon restart that re-sends what it had not recorded as acknowledged.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use forecourtd::journal::NewEvent;
use serde_json::json;

use crate::support::servers::{Nats, Postgres};
use crate::support::{full_dispatch, get, Rig, Station};

/// The station's token in subjects.
const STORE: &str = "S1";
/// Long enough for the publisher's backoff after a short outage.
const CHAIN_PATIENCE: Duration = Duration::from_secs(90);

fn with_chain(text: String, nats: &str) -> String {
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
    let Some(mut nats) = Nats::start().await else {
        return;
    };
    let Some(pg) = Postgres::start().await else {
        return;
    };
    let _sink = start_sink(&nats, &pg);
    let rig = Rig::new(2);
    let url = nats.url();
    let station = rig.start(|t| with_chain(t, &url)).await;

    full_dispatch(&rig, &station, 1, "100.00").await;
    full_dispatch(&rig, &station, 2, "150.00").await;
    let before_outage = wait_all_loaded(&rig, &pg).await;
    let seqs: Vec<i64> = before_outage.iter().map(|r| r.0).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "stream order is the station's order: {seqs:?}"
    );

    nats.stop();
    // Selling goes on while headquarters is unreachable.
    full_dispatch(&rig, &station, 1, "200.00").await;
    burst(&station, 300).await;
    let (_, status) = get(&station.admin, "/api/status").await;
    assert_eq!(status["chain"]["configured"], json!(true), "{status}");
    assert!(
        status["chain"]["backlog"].as_u64().unwrap_or(0) >= 300,
        "the backlog shows: {status}"
    );

    nats.restart().await;
    full_dispatch(&rig, &station, 2, "50.00").await;
    let all = wait_all_loaded(&rig, &pg).await;
    assert!(all.len() > 300 + before_outage.len());
    assert_eq!(
        stream_messages(&nats).await,
        u64::try_from(all.len()).expect("small"),
        "the stream holds every event once"
    );
    let completed = outbox(&rig.database()).len();
    assert_eq!(all.len(), completed);
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_publisher_resends_unrecorded_acks_and_jetstream_keeps_them_single() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let Some(pg) = Postgres::start().await else {
        return;
    };
    let _sink = start_sink(&nats, &pg);
    let rig = Rig::new(1);
    let url = nats.url();
    let station = rig.start(|t| with_chain(t, &url)).await;
    full_dispatch(&rig, &station, 1, "100.00").await;
    burst(&station, 40).await;
    wait_all_loaded(&rig, &pg).await;
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
    let all = wait_all_loaded(&rig, &pg).await;
    assert_eq!(
        stream_messages(&nats).await,
        u64::try_from(all.len()).expect("small"),
        "re-sent events were dropped as duplicates by JetStream"
    );
    station.stop().await;
}
