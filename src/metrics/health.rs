//! `/healthz`: whether this station can sell right now, and if not, what is wrong.
//!
//! Owns the rule that turns three checks into one status (README "Metrics and health",
//! docs/architecture.md):
//!
//! - **journal**: the journal thread answers and SQLite grants it the write lock. Without
//!   it no sale can be recorded.
//! - **lines**: a line *answers* while at least one of its pumps was heard within its
//!   position's stale limit and is not offline.
//! - **mercadopago**: the last API call succeeded (or none failed yet); a refused token
//!   and an unreachable API are told apart.
//!
//! `failing` (HTTP 503) when the journal is not writable or no configured line answers;
//! `degraded` (HTTP 200) when some line is silent, Mercado Pago fails or no access token is
//! configured; `ok` (HTTP 200) otherwise. The body always names every problem.
//!
//! A pure function of its inputs, so the rule is tested without a daemon.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pump_protocols::PumpStatus;
use serde_json::{json, Value};

use crate::forecourt::dispatch::PositionState;
use crate::forecourt::Snapshot;
use crate::mercadopago::health::{FailureKind, HealthSnapshot};

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Everything answers.
    Ok,
    /// The station sells, but something needs a look.
    Degraded,
    /// The station cannot sell.
    Failing,
}

impl HealthStatus {
    /// The name in the body.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "ok",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Failing => "failing",
        }
    }
}

/// What the checks found.
#[derive(Debug, Clone)]
pub struct HealthInputs<'a> {
    /// The journal's write probe: `Err` with why it failed.
    pub journal: Result<(), String>,
    /// The forecourt now.
    pub snapshot: &'a Snapshot,
    /// The daemon's clock (the snapshot's time base).
    pub now: Instant,
    /// The wall clock, to show when a line was last heard.
    pub wall_now: Timestamp,
    /// Mercado Pago's health, when an access token is configured.
    pub mercadopago: Option<HealthSnapshot>,
}

/// One line as the checks see it.
#[derive(Debug, Default)]
struct LineView {
    pumps: usize,
    answering: usize,
    last_heard: Option<Instant>,
}

/// The verdict and the body of `/healthz`.
pub fn assess(inputs: &HealthInputs<'_>) -> (HealthStatus, Value) {
    let mut problems: Vec<String> = Vec::new();
    let mut failing = false;

    let journal = match &inputs.journal {
        Ok(()) => json!({ "writable": true }),
        Err(e) => {
            failing = true;
            problems.push(format!("journal: not writable: {e}"));
            json!({ "writable": false, "error": e })
        }
    };

    // `positions_now`, not `positions`: a published snapshot keeps the instant its pumps
    // were last heard only as of its publication, and an idle station publishes rarely.
    let current: Vec<PositionState> = inputs.snapshot.positions_now().collect();
    let mut lines: BTreeMap<&str, LineView> = BTreeMap::new();
    for state in &current {
        let view = lines.entry(state.setup.line.as_str()).or_default();
        view.pumps += 1;
        let fresh = state
            .last_heard
            .is_some_and(|at| inputs.now.saturating_duration_since(at) <= state.setup.stale_limit);
        if fresh && state.pump_status != PumpStatus::Offline {
            view.answering += 1;
        }
        view.last_heard = view.last_heard.max(state.last_heard);
    }
    let answering_lines = lines.values().filter(|l| l.answering > 0).count();
    if !lines.is_empty() && answering_lines == 0 {
        failing = true;
    }
    let mut degraded = false;
    let lines_json: serde_json::Map<String, Value> = lines
        .iter()
        .map(|(name, view)| {
            let ago = view
                .last_heard
                .map(|at| inputs.now.saturating_duration_since(at));
            let last_heard = ago.and_then(|ago| wall_time(inputs.wall_now, ago));
            if view.answering == 0 {
                degraded = true;
                problems.push(match ago {
                    Some(ago) => format!(
                        "line {name}: no pump answers; silent for {:.1} s",
                        ago.as_secs_f64()
                    ),
                    None => format!("line {name}: no pump has ever answered"),
                });
            }
            let body = json!({
                "answering": view.answering > 0,
                "pumps": view.pumps,
                "pumps_answering": view.answering,
                "last_heard": last_heard,
                // Silent since the last answer; `null` while answering or if never heard.
                "silent_since": if view.answering > 0 { Value::Null } else { json!(last_heard) },
                "silent_for_ms": if view.answering > 0 { Value::Null } else {
                    json!(ago.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
                },
            });
            ((*name).to_owned(), body)
        })
        .collect();

    let mercadopago = match &inputs.mercadopago {
        None => {
            degraded = true;
            problems.push(
                "mercadopago: no access token configured; no payment can be confirmed".to_owned(),
            );
            json!({ "configured": false })
        }
        Some(health) => {
            let refused = !health.healthy()
                && health
                    .last_failure
                    .as_ref()
                    .is_some_and(|f| f.kind == FailureKind::Credentials);
            let unreachable = !health.healthy() && !refused;
            if refused {
                degraded = true;
                problems.push("mercadopago: the access token is refused".to_owned());
            } else if unreachable {
                degraded = true;
                problems.push("mercadopago: the API cannot be reached".to_owned());
            }
            let mut body = health.to_json();
            if let Value::Object(map) = &mut body {
                map.insert("reachable".to_owned(), json!(!unreachable));
                map.insert("token_refused".to_owned(), json!(refused));
            }
            body
        }
    };

    let status = if failing {
        HealthStatus::Failing
    } else if degraded {
        HealthStatus::Degraded
    } else {
        HealthStatus::Ok
    };
    let body = json!({
        "status": status.as_str(),
        "problems": problems,
        "checks": {
            "journal": journal,
            "lines": lines_json,
            "mercadopago": mercadopago,
        },
    });
    (status, body)
}

/// The wall time `ago` before `now`, as RFC 3339.
fn wall_time(now: Timestamp, ago: Duration) -> Option<String> {
    let span = jiff::SignedDuration::try_from(ago).ok()?;
    now.checked_sub(span).ok().map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use pump_protocols::PositionId;

    use super::*;
    use crate::forecourt::dispatch::PositionState;
    use crate::mercadopago::health::Failure;

    fn position(n: u16, line: &str, heard: Option<Instant>, status: PumpStatus) -> PositionState {
        let mut setup = crate::forecourt::dispatch::tests::setup();
        setup.position = PositionId(n);
        setup.line = line.to_owned();
        let mut state = PositionState::new(setup);
        state.last_heard = heard;
        state.pump_status = status;
        state
    }

    fn snapshot(positions: Vec<PositionState>) -> Snapshot {
        Snapshot {
            positions: positions
                .into_iter()
                .map(|p| (p.setup.position, p))
                .collect(),
            ..Snapshot::default()
        }
    }

    fn inputs<'a>(snapshot: &'a Snapshot, now: Instant) -> HealthInputs<'a> {
        HealthInputs {
            journal: Ok(()),
            snapshot,
            now,
            wall_now: Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(1000),
            mercadopago: Some(HealthSnapshot::default()),
        }
    }

    #[test]
    fn ok_when_every_check_passes() {
        let now = Instant::now();
        let s = snapshot(vec![position(1, "a", Some(now), PumpStatus::Idle)]);
        let (status, body) = assess(&inputs(&s, now));
        assert_eq!(status, HealthStatus::Ok, "{body}");
        assert_eq!(body["checks"]["lines"]["a"]["answering"], json!(true));
        assert_eq!(body["problems"], json!([]));
    }

    #[test]
    fn one_silent_line_degrades_and_is_named_with_since_when() {
        let now = Instant::now() + Duration::from_secs(60);
        let s = snapshot(vec![
            position(1, "north", Some(now), PumpStatus::Idle),
            position(
                2,
                "south",
                Some(now - Duration::from_secs(10)),
                PumpStatus::Idle,
            ),
        ]);
        let (status, body) = assess(&inputs(&s, now));
        assert_eq!(status, HealthStatus::Degraded, "{body}");
        let south = &body["checks"]["lines"]["south"];
        assert_eq!(south["answering"], json!(false));
        assert_eq!(south["silent_for_ms"], json!(10_000));
        assert!(south["silent_since"].is_string(), "{body}");
        assert!(body["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("line south")));
    }

    #[test]
    fn failing_when_no_line_answers_or_the_journal_is_not_writable() {
        let now = Instant::now();
        let s = snapshot(vec![position(1, "a", None, PumpStatus::Offline)]);
        let (status, body) = assess(&inputs(&s, now));
        assert_eq!(status, HealthStatus::Failing, "{body}");
        assert_eq!(
            body["problems"][0],
            json!("line a: no pump has ever answered")
        );

        let s = snapshot(vec![position(1, "a", Some(now), PumpStatus::Idle)]);
        let mut i = inputs(&s, now);
        i.journal = Err("attempt to write a readonly database".to_owned());
        let (status, body) = assess(&i);
        assert_eq!(status, HealthStatus::Failing);
        assert_eq!(body["checks"]["journal"]["writable"], json!(false));
    }

    #[test]
    fn a_refused_token_is_told_apart_from_an_unreachable_api() {
        let now = Instant::now();
        let s = snapshot(vec![position(1, "a", Some(now), PumpStatus::Idle)]);
        let failing = |kind| HealthSnapshot {
            last_success: None,
            last_failure: Some(Failure {
                kind,
                status: Some(401),
                at: Timestamp::UNIX_EPOCH,
                message: "GET /v1/payments/1: HTTP 401".to_owned(),
            }),
            failing_since: Some(Timestamp::UNIX_EPOCH),
            failures: 1,
        };
        let mut i = inputs(&s, now);
        i.mercadopago = Some(failing(FailureKind::Credentials));
        let (status, body) = assess(&i);
        assert_eq!(status, HealthStatus::Degraded);
        assert_eq!(body["checks"]["mercadopago"]["token_refused"], json!(true));
        assert_eq!(body["checks"]["mercadopago"]["reachable"], json!(true));
        i.mercadopago = Some(failing(FailureKind::Unavailable));
        let (_, body) = assess(&i);
        assert_eq!(body["checks"]["mercadopago"]["reachable"], json!(false));
        assert_eq!(body["checks"]["mercadopago"]["token_refused"], json!(false));
    }
}
