//! Whether Mercado Pago is answering the station, as the client last saw it.
//!
//! Every API call ends in a success (an answer that shows the API is reachable and takes
//! the token, a 404 included) or a failure of one of two kinds: the token is refused (401,
//! or 403 outside POS calls: expired or rotated credentials) or the API is unavailable
//! (transport errors, timeouts, 429/5xx after the client's own retries). [`MpHealth`] keeps
//! the last of each and since when the API has been failing, for `GET /api/status` and
//! `forecourtd status`; work that failed meanwhile is kept and retried by its owner.
//!
//! Logging: the first failure after a success (or a change of kind) is one clear error;
//! while the trouble lasts it is repeated at most every [`LOG_EVERY`]; the recovery is
//! logged once. The rules are a pure function of `(state, outcome, now)`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// Least time between two log lines about the same trouble.
pub const LOG_EVERY: Duration = Duration::from_secs(300);

/// Why calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Mercado Pago refuses the access token (401/403): expired, revoked or rotated.
    Credentials,
    /// Mercado Pago cannot be reached or answers 429/5xx.
    Unavailable,
}

impl FailureKind {
    /// Name shown by the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Credentials => "credentials",
            FailureKind::Unavailable => "unavailable",
        }
    }
}

/// The last failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its kind.
    pub kind: FailureKind,
    /// The HTTP status, when Mercado Pago answered.
    pub status: Option<u16>,
    /// When it failed.
    pub at: Timestamp,
    /// The error (method and path, never a token).
    pub message: String,
}

/// What the station knows about Mercado Pago's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// The last call that succeeded.
    pub last_success: Option<Timestamp>,
    /// The last call that failed.
    pub last_failure: Option<Failure>,
    /// The first failure since the last success; `None` while healthy.
    pub failing_since: Option<Timestamp>,
    /// Calls failed since the last success.
    pub failures: u64,
}

impl HealthSnapshot {
    /// True unless calls have failed since the last success.
    pub fn healthy(&self) -> bool {
        self.failing_since.is_none()
    }

    /// The admin API's view.
    pub fn to_json(&self) -> Value {
        let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
        json!({
            "configured": true,
            "healthy": self.healthy(),
            "last_success": time(self.last_success),
            "failing_since": time(self.failing_since),
            "failures": self.failures,
            "last_failure": self.last_failure.as_ref().map(|f| json!({
                "kind": f.kind.as_str(),
                "status": f.status,
                "at": f.at.to_string(),
                "message": f.message,
            })),
        })
    }
}

/// What an outcome means for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    /// Nothing to say.
    Quiet,
    /// Calls started failing (or fail another way now).
    Down,
    /// Still failing; the last line is old enough to repeat.
    StillDown,
    /// Working again after failures since this time.
    Recovered(Timestamp, u64),
}

#[derive(Debug, Default)]
struct State {
    snapshot: HealthSnapshot,
    last_logged: Option<Timestamp>,
}

impl State {
    fn success(&mut self, now: Timestamp) -> Report {
        let s = &mut self.snapshot;
        s.last_success = Some(now);
        let report = match s.failing_since.take() {
            Some(since) => Report::Recovered(since, s.failures),
            None => Report::Quiet,
        };
        s.failures = 0;
        self.last_logged = None;
        report
    }

    fn failure(&mut self, failure: Failure) -> Report {
        let now = failure.at;
        let s = &mut self.snapshot;
        let kind_changed = s.last_failure.as_ref().map(|f| f.kind) != Some(failure.kind);
        let newly = s.failing_since.is_none();
        if newly {
            s.failing_since = Some(now);
        }
        s.failures += 1;
        s.last_failure = Some(failure);
        let due = self
            .last_logged
            .and_then(|at| now.duration_since(at).try_into().ok())
            .is_none_or(|elapsed: Duration| elapsed >= LOG_EVERY);
        let report = if newly || kind_changed {
            Report::Down
        } else if due {
            Report::StillDown
        } else {
            return Report::Quiet;
        };
        self.last_logged = Some(now);
        report
    }
}

/// Mercado Pago's health as the client sees it; shared by every clone of the client.
#[derive(Debug, Default)]
pub struct MpHealth {
    state: Mutex<State>,
    recovered: Notify,
}

impl MpHealth {
    /// A call succeeded at `now`.
    pub fn record_success(&self, now: Timestamp) {
        let report = self.lock().success(now);
        if let Report::Recovered(since, failures) = report {
            tracing::warn!(failing_since = %since, failures,
                "Mercado Pago answers again; retrying the work kept meanwhile");
            self.recovered.notify_waiters();
        }
    }

    /// A call failed.
    pub fn record_failure(&self, failure: Failure) {
        let (report, snapshot) = {
            let mut state = self.lock();
            let report = state.failure(failure);
            (report, state.snapshot.clone())
        };
        let Some(last) = &snapshot.last_failure else {
            return;
        };
        let since = snapshot
            .failing_since
            .map(|t| t.to_string())
            .unwrap_or_default();
        match (report, last.kind) {
            (Report::Quiet | Report::Recovered(..), _) => {}
            (Report::Down, FailureKind::Credentials) => tracing::error!(
                status = ?last.status, error = %last.message,
                "Mercado Pago refuses the access token (expired or rotated?): install a valid \
                 one; payments and refunds are kept and retried until it works"
            ),
            (Report::Down, FailureKind::Unavailable) => tracing::error!(
                status = ?last.status, error = %last.message,
                "Mercado Pago cannot be reached: payments and refunds are kept and retried"
            ),
            (Report::StillDown, kind) => tracing::error!(
                kind = kind.as_str(), failing_since = %since, failures = snapshot.failures,
                error = %last.message, "Mercado Pago still failing"
            ),
        }
    }

    /// The current view.
    pub fn snapshot(&self) -> HealthSnapshot {
        self.lock().snapshot.clone()
    }

    /// Completes at the next success after failures.
    pub async fn recovered(&self) {
        self.recovered.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain data updated in place: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("time")
    }

    fn refused(second: i64) -> Failure {
        Failure {
            kind: FailureKind::Credentials,
            status: Some(401),
            at: at(second),
            message: "GET /v1/payments/1: HTTP 401".to_owned(),
        }
    }

    #[test]
    fn one_error_then_rate_limited_then_one_recovery() {
        let mut s = State::default();
        assert_eq!(s.success(at(0)), Report::Quiet);
        assert_eq!(s.failure(refused(10)), Report::Down);
        assert_eq!(s.failure(refused(11)), Report::Quiet);
        assert_eq!(s.failure(refused(309)), Report::Quiet);
        assert_eq!(s.failure(refused(310)), Report::StillDown);
        assert_eq!(s.failure(refused(311)), Report::Quiet);
        assert!(!s.snapshot.healthy());
        assert_eq!(s.snapshot.failing_since, Some(at(10)));
        assert_eq!(s.snapshot.failures, 5);
        assert_eq!(s.success(at(400)), Report::Recovered(at(10), 5));
        assert!(s.snapshot.healthy());
        assert_eq!(s.snapshot.failures, 0);
        assert_eq!(s.snapshot.last_success, Some(at(400)));
        // The last failure stays visible after the recovery.
        assert_eq!(
            s.snapshot.last_failure.as_ref().map(|f| f.at),
            Some(at(311))
        );
        assert_eq!(s.failure(refused(401)), Report::Down, "a new episode");
    }

    #[test]
    fn another_kind_of_failure_is_reported_at_once() {
        let mut s = State::default();
        assert_eq!(s.failure(refused(0)), Report::Down);
        let down = Failure {
            kind: FailureKind::Unavailable,
            status: None,
            at: at(1),
            message: "GET /v1/payments/1: transport error".to_owned(),
        };
        assert_eq!(s.failure(down), Report::Down);
        assert_eq!(s.snapshot.failing_since, Some(at(0)));
        let shown = s.snapshot.to_json();
        assert_eq!(shown["healthy"], json!(false));
        assert_eq!(shown["last_failure"]["kind"], json!("unavailable"));
    }
}
