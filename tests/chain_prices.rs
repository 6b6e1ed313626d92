//! Central prices with the real servers: headquarters signs a plan with `forecourtd
//! hq-price-plan`, the station (the real daemon, simulated pumps) applies it like a
//! manager's change, the pumps confirm it and the confirmation reaches PostgreSQL through
//! `forecourtd hq-sink`; a forged, a malformed, another store's and an unknown grade's
//! plan change nothing and are reported; a plan put while the station was away arrives on
//! its start, and a plan is applied once and never when older than the one in force.

use std::path::{Path, PathBuf};
use std::time::Duration;

use forecourtd::chain::hq_tools::{read_key, PLAN_CONFIRMATIONS_SQL, PLAN_REFUSALS_SQL};
use forecourtd::chain::nats::{connect, NatsSettings};
use forecourtd::chain::price_plan::{Plan, Target, BUCKET};
use forecourtd::forecourt::Snapshot;
use forecourtd::journal::AuditOutcome;
use pump_protocols::{GradeId, PositionId};
use rust_decimal::Decimal;

use crate::chain::{with_chain, Headquarters, CHAIN_PATIENCE, STORE};
use crate::support::servers::{Nats, Postgres, TestCa};
use crate::support::{ready_to_authorize, Rig, Station};

/// Grade `super` of the test station.
const SUPER: GradeId = GradeId(1);

fn with_plans(text: String, nats: &str, public: &str) -> String {
    format!(
        "{}hq_public_key = \"{public}\"\ngroups = [\"north\"]\n",
        with_chain(text, nats)
    )
}

/// `forecourtd hq-keygen`: the secret key file and the public key.
async fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let out = dir.join(name);
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"))
        .arg("hq-keygen")
        .arg("--out")
        .arg(&out)
        .output()
        .await
        .expect("hq-keygen runs");
    assert!(run.status.success(), "{run:?}");
    let public = String::from_utf8_lossy(&run.stdout).trim().to_owned();
    (out, public)
}

/// `forecourtd hq-price-plan` with `args`, ready to run; its logs in plain text.
fn price_plan_command<S: AsRef<std::ffi::OsStr>>(
    nats: &str,
    key: &Path,
    args: &[S],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"));
    command
        .arg("hq-price-plan")
        .arg("--key")
        .arg(key)
        .args(["--nats", nats])
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .env("NO_COLOR", "1");
    command
}

/// `forecourtd hq-price-plan`; returns the plan id.
async fn publish(nats: &str, key: &Path, args: &[&str]) -> String {
    let run = price_plan_command(nats, key, args)
        .output()
        .await
        .expect("hq-price-plan runs");
    assert!(run.status.success(), "{run:?}");
    let out = String::from_utf8_lossy(&run.stdout).to_string();
    out.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("a plan id in {out:?}"))
        .to_owned()
}

/// Puts `bytes` under `key` of the plan bucket, as anyone with write access could.
async fn put_raw(nats: &str, key: &str, bytes: Vec<u8>) {
    let client = async_nats::connect(nats).await.expect("NATS");
    let js = async_nats::jetstream::new(client.clone());
    let bucket = js.get_key_value(BUCKET).await.expect("the bucket exists");
    bucket.put(key, bytes.into()).await.expect("put");
    client.flush().await.expect("flush");
}

/// The rows of `sql` at headquarters once `done` holds for them.
async fn wait_pg(
    pg: &Postgres,
    what: &str,
    sql: &str,
    done: impl Fn(&[tokio_postgres::Row]) -> bool,
) -> Vec<tokio_postgres::Row> {
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    let task = tokio::spawn(connection);
    loop {
        // Before the sink's first batch the table may not exist yet.
        let rows = client.query(sql, &[]).await.unwrap_or_default();
        if done(&rows) {
            task.abort();
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "headquarters never saw {what}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many plan messages the station's journal recorded.
async fn wait_handled(rig: &Rig, n: i64) {
    let deadline = tokio::time::Instant::now() + CHAIN_PATIENCE;
    loop {
        let conn = rusqlite::Connection::open_with_flags(
            rig.database(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("journal");
        let handled: i64 = conn
            .query_row("SELECT count(*) FROM price_plans", [], |r| r.get(0))
            .expect("count");
        if handled >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{handled} of {n} plan messages handled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all_confirmed(snapshot: &Snapshot, pumps: u16, price: Decimal) -> bool {
    snapshot.prices.grades.get(&SUPER).map(|p| p.value()) == Some(price)
        && (1..=pumps).all(|n| {
            snapshot.positions.get(&PositionId(n)).is_some_and(|p| {
                p.pricing.target.is_some()
                    && p.pricing.target == snapshot.prices.current
                    && p.pricing.confirmed
            })
        })
}

async fn pumps_ready(station: &Station, pumps: u16) {
    station
        .wait_for("pumps ready", |s| {
            (1..=pumps).all(|n| ready_to_authorize(s, n))
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_plan_is_confirmed_by_every_pump_and_forged_or_wrong_plans_change_nothing() {
    let Some(hq) = Headquarters::start().await else {
        return;
    };
    let keys = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(keys.path(), "hq.nk").await;
    let rig = Rig::new(2);
    let url = hq.nats.url();
    let station = rig.start(|t| with_plans(t, &url, &public)).await;
    pumps_ready(&station, 2).await;

    let plan = publish(&url, &key, &["--store", STORE, "--price", "super=1500.00"]).await;
    let price = Decimal::new(150_000, 2);
    station
        .wait_for("both pumps confirm the plan", |s| {
            all_confirmed(s, 2, price)
        })
        .await;
    let journal = station.daemon.journal();
    let sets = journal.price_sets().await.expect("price sets");
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].created_by, "hq");
    assert_eq!(sets[0].prices[&SUPER].value(), price);
    let applied = wait_pg(&hq.pg, "the confirmation", PLAN_CONFIRMATIONS_SQL, |rows| {
        rows.iter().any(|r| {
            r.get::<_, Option<String>>("plan").as_deref() == Some(plan.as_str())
                && r.get::<_, i64>("pumps_confirmed") == 2
                && r.get::<_, Option<std::time::SystemTime>>("activated_at")
                    .is_some()
        })
    })
    .await;
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0].get::<_, String>("store"), STORE);

    // Four plans the station must refuse.
    let (forger, _) = keygen(keys.path(), "forger.nk").await;
    publish(&url, &forger, &["--store", STORE, "--price", "super=1.00"]).await;
    let ours = format!("store.{STORE}");
    put_raw(&url, &ours, b"{\"plan\": 1".to_vec()).await;
    let other_store = Plan {
        plan_id: "plan-for-another-store".to_owned(),
        target: Target::Store("S2".to_owned()),
        effective_at: None,
        prices: [("super".to_owned(), Decimal::from(2))].into(),
        issued_at: jiff::Timestamp::now(),
    }
    .sign(&read_key(&key).expect("key"))
    .expect("signs");
    put_raw(&url, &ours, other_store).await;
    publish(
        &url,
        &key,
        &["--group", "north", "--price", "diesel=999.00"],
    )
    .await;

    let refusals = wait_pg(&hq.pg, "four refusals", PLAN_REFUSALS_SQL, |rows| {
        rows.len() >= 4
    })
    .await;
    let reasons: Vec<String> = refusals.iter().map(|r| r.get("reason")).collect();
    for wanted in [
        "not by the configured headquarters key",
        "malformed price plan",
        "plan for store.S2 arrived on store.S1",
        "unknown grade \"diesel\"",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(wanted)),
            "{wanted:?} in {reasons:?}"
        );
    }
    assert_eq!(refusals.len(), 4, "{reasons:?}");
    assert_eq!(journal.price_sets().await.expect("sets").len(), 1);
    let snapshot = station.forecourt().snapshot();
    assert_eq!(snapshot.prices.current, Some(sets[0].id));
    assert!(all_confirmed(&snapshot, 2, price));
    let trail = journal.audit_trail(100, None).await.expect("audit");
    let plans: Vec<_> = trail
        .iter()
        .filter(|a| a.entry.action == "prices.plan" && a.entry.actor == "hq")
        .map(|a| a.entry.outcome)
        .collect();
    assert_eq!(
        plans
            .iter()
            .filter(|o| **o == AuditOutcome::Refused)
            .count(),
        4
    );
    assert_eq!(plans.iter().filter(|o| **o == AuditOutcome::Ok).count(), 1);
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_put_while_the_station_was_away_arrives_at_its_start_and_applies_once() {
    let Some(hq) = Headquarters::start().await else {
        return;
    };
    let keys = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(keys.path(), "hq.nk").await;
    let url = hq.nats.url();
    publish(
        &url,
        &key,
        &["--group", "north", "--price", "super=1480.00"],
    )
    .await;

    let rig = Rig::new(1);
    let station = rig.start(|t| with_plans(t, &url, &public)).await;
    pumps_ready(&station, 1).await;
    station
        .wait_for("the group plan", |s| {
            all_confirmed(s, 1, Decimal::new(148_000, 2))
        })
        .await;
    station.stop().await;

    // After a restart the same plan is delivered again and not applied again; a plan
    // issued before the one in force is ignored; a newer one applies.
    let station = rig.start(|t| with_plans(t, &url, &public)).await;
    let stale = Plan {
        plan_id: "stale-plan".to_owned(),
        target: Target::Store(STORE.to_owned()),
        effective_at: None,
        prices: [("super".to_owned(), Decimal::from(1))].into(),
        issued_at: jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1),
    }
    .sign(&read_key(&key).expect("key"))
    .expect("signs");
    put_raw(&url, &format!("store.{STORE}"), stale).await;
    wait_handled(&rig, 2).await;
    publish(&url, &key, &["--store", STORE, "--price", "super=1490.00"]).await;
    station
        .wait_for("the newer plan", |s| {
            all_confirmed(s, 1, Decimal::new(149_000, 2))
        })
        .await;
    let sets = station.daemon.journal().price_sets().await.expect("sets");
    assert_eq!(sets.len(), 2, "{sets:?}");
    let conn = rusqlite::Connection::open_with_flags(
        rig.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("journal");
    let outcomes: Vec<(String, String)> = conn
        .prepare("SELECT coalesce(plan_id, ''), outcome FROM price_plans ORDER BY id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("outcomes");
    let kinds: Vec<&str> = outcomes.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(kinds, ["applied", "ignored", "applied"], "{outcomes:?}");
    assert_eq!(outcomes[1].0, "stale-plan");
    station.stop().await;
}

/// The revision `forecourtd hq-price-plan` printed (`plan ID published for KEY (revision
/// N)`), once checked against the bucket read back over `settings`.
async fn revision_in_bucket(stdout: &[u8], settings: &NatsSettings) -> u64 {
    let out = String::from_utf8_lossy(stdout);
    let words: Vec<&str> = out.split_whitespace().collect();
    let (key, revision) = match words.as_slice() {
        ["plan", _, "published", "for", key, "(revision", n] => (
            key.to_string(),
            n.trim_end_matches(')').parse::<u64>().expect("a revision"),
        ),
        _ => panic!("unexpected output {out:?}"),
    };
    let client = connect(settings, "test").await.expect("NATS");
    let bucket = async_nats::jetstream::new(client)
        .get_key_value(BUCKET)
        .await
        .expect("the bucket exists");
    let entry = bucket.entry(key).await.expect("entry").expect("the plan");
    assert_eq!(entry.revision, revision);
    revision
}

/// Reads `stderr` line by line until one contains `text`.
async fn wait_for_line(stderr: &mut tokio::process::ChildStderr, text: &str) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let read = tokio::time::timeout(CHAIN_PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("stderr") {
            if line.contains(text) {
                return line;
            }
        }
        panic!("stderr ended without {text:?}");
    })
    .await;
    read.unwrap_or_else(|_| panic!("no {text:?} on stderr"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_price_plan_authenticates_as_a_station_does_and_tries_its_connection_three_times() {
    let Some(ca) = TestCa::new("hq-plan-ca") else {
        return;
    };
    let user = nkeys::KeyPair::new_user();
    let conf = ca.server_with_users(&user.public_key(), ("hq", "pw-hq"));
    let Some(mut nats) = Nats::start_with_config(&conf).await else {
        return;
    };
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let dir = tempfile::tempdir().expect("temporary directory");
    let (key, _) = keygen(dir.path(), "hq.nk").await;
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write secret file");
        path.display().to_string()
    };
    let seed = file("seed", &user.seed().expect("seed"));
    let password = file("password", "pw-hq\n");
    let wrong = file("wrong", "pw-nobody\n");
    let ca_file = ca.ca.display().to_string();
    let plan = [
        "--store",
        STORE,
        "--price",
        "super=1500.00",
        "--tls-ca",
        &ca_file,
    ];
    let with = |auth: &[&str]| {
        let mut args: Vec<String> = plan.iter().map(|s| (*s).to_owned()).collect();
        args.extend(auth.iter().map(|s| (*s).to_owned()));
        args
    };
    let reader = NatsSettings {
        url: url.clone(),
        credentials_file: None,
        tls_ca_file: Some(ca.ca.clone()),
        tls_required: true,
        nkey_seed: None,
        user_password: Some(("hq".to_owned(), forecourtd::config::Secret::new("pw-hq"))),
    };

    // An NKey seed file, then a user and password file, over TLS with the CA given.
    let run = price_plan_command(&url, &key, &with(&["--nkey-seed-file", &seed]))
        .output()
        .await
        .expect("hq-price-plan runs");
    assert!(run.status.success(), "{run:?}");
    let first = revision_in_bucket(&run.stdout, &reader).await;
    let by_password = with(&["--user", "hq", "--password-file", &password]);
    let run = price_plan_command(&url, &key, &by_password)
        .output()
        .await
        .expect("hq-price-plan runs");
    assert!(run.status.success(), "{run:?}");
    assert!(revision_in_bucket(&run.stdout, &reader).await > first);

    // Two ways at once are refused, as in [chain].
    let both = with(&[
        "--nkey-seed-file",
        &seed,
        "--user",
        "hq",
        "--password-file",
        &password,
    ]);
    let run = price_plan_command(&url, &key, &both)
        .output()
        .await
        .expect("hq-price-plan runs");
    assert!(!run.status.success(), "{run:?}");

    // A wrong password: three attempts, and the last one's error.
    let refused = with(&["--user", "hq", "--password-file", &wrong]);
    let run = price_plan_command(&url, &key, &refused)
        .output()
        .await
        .expect("hq-price-plan runs");
    assert!(!run.status.success(), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let retried = stderr.matches("trying again").count();
    assert_eq!(retried, 2, "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("hq-price-plan: connecting to NATS at")
            && last.to_lowercase().contains("authoriz"),
        "{stderr}"
    );

    // The server down at the first attempt and back before the last: published.
    nats.stop();
    let mut child = price_plan_command(&url, &key, &by_password)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hq-price-plan starts");
    let mut stderr = child.stderr.take().expect("stderr");
    wait_for_line(&mut stderr, "trying again").await;
    nats.restart().await;
    let run = child.wait_with_output().await.expect("hq-price-plan ends");
    assert!(run.status.success(), "{run:?}");
    revision_in_bucket(&run.stdout, &reader).await;
}
