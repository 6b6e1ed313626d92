//! A counter for every refusal, so an operator sees an attack in `/metrics` before a
//! customer does.
//!
//! Owns the refusal reasons and their counts (plain atomics, bumped on the request path
//! without a lock) and their Prometheus text form. It never decides to refuse anything.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Admin request without an identity (401).
    Unauthenticated,
    /// Admin request with an identity whose role is too low (403).
    Forbidden,
    /// State change failing the CSRF checks (Origin, Sec-Fetch-Site, token).
    Csrf,
    /// A Host header that is not one of the listener's names (DNS rebinding).
    Host,
    /// A state change whose body is not declared as JSON.
    NotJson,
    /// A sign-in with a wrong name or secret.
    LoginFailed,
    /// A sign-in refused because of earlier failures (per user or per source).
    LoginThrottled,
    /// A bad service token.
    BadToken,
    /// An unverified notification over its source's or the global rate.
    HintRateLimited,
    /// An unverified notification refused because the hint store is full.
    HintStoreFull,
}

impl Refusal {
    /// Every reason, in the order of the counters.
    pub const ALL: [Refusal; 10] = [
        Refusal::Unauthenticated,
        Refusal::Forbidden,
        Refusal::Csrf,
        Refusal::Host,
        Refusal::NotJson,
        Refusal::LoginFailed,
        Refusal::LoginThrottled,
        Refusal::BadToken,
        Refusal::HintRateLimited,
        Refusal::HintStoreFull,
    ];

    /// The label value in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Forbidden => "forbidden",
            Refusal::Csrf => "csrf",
            Refusal::Host => "host",
            Refusal::NotJson => "not_json",
            Refusal::LoginFailed => "login_failed",
            Refusal::LoginThrottled => "login_throttled",
            Refusal::BadToken => "bad_token",
            Refusal::HintRateLimited => "hint_rate_limited",
            Refusal::HintStoreFull => "hint_store_full",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Counts of refusals since start.
#[derive(Debug, Default)]
pub struct RefusalCounters {
    counts: [AtomicU64; 10],
}

impl RefusalCounters {
    /// Counts one refusal.
    pub fn bump(&self, reason: Refusal) {
        if let Some(c) = self.counts.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many refusals of `reason` so far.
    pub fn get(&self, reason: Refusal) -> u64 {
        self.counts
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP forecourtd_refusals_total Requests refused, by reason.\n\
             # TYPE forecourtd_refusals_total counter\n",
        );
        for reason in Refusal::ALL {
            let _ = writeln!(
                out,
                "forecourtd_refusals_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.get(reason)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_reason_apart() {
        let c = RefusalCounters::default();
        c.bump(Refusal::Host);
        c.bump(Refusal::Host);
        c.bump(Refusal::HintStoreFull);
        assert_eq!(c.get(Refusal::Host), 2);
        assert_eq!(c.get(Refusal::HintStoreFull), 1);
        assert_eq!(c.get(Refusal::Csrf), 0);
        assert!(c
            .render()
            .contains("forecourtd_refusals_total{reason=\"host\"} 2\n"));
    }
}
