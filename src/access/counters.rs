//! A counter for every refusal, so an operator sees an attack in `/metrics` before a
//! customer does.
//!
//! Owns the refusal reasons and their counts (atomic counters, bumped on the request path
//! without a lock), exported through [`crate::metrics`]. It never decides to refuse
//! anything.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

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

/// The label of a refusal counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    reason: &'static str,
}

/// Counts of refusals since start.
#[derive(Debug)]
pub struct RefusalCounters {
    family: Family<ReasonLabel, Counter>,
    counts: [Counter; 10],
}

impl Default for RefusalCounters {
    fn default() -> Self {
        let family = Family::<ReasonLabel, Counter>::default();
        // Every reason is shown from the start, at zero, so an alert on a rate has a series.
        let counts = Refusal::ALL.map(|reason| {
            family.get_or_create_owned(&ReasonLabel {
                reason: reason.as_str(),
            })
        });
        RefusalCounters { family, counts }
    }
}

impl RefusalCounters {
    /// Counts one refusal.
    pub fn bump(&self, reason: Refusal) {
        if let Some(c) = self.counts.get(reason.index()) {
            c.inc();
        }
    }

    /// How many refusals of `reason` so far.
    pub fn get(&self, reason: Refusal) -> u64 {
        self.counts.get(reason.index()).map_or(0, Counter::get)
    }

    /// The family `/metrics` shows as `forecourtd_refusals_total` (see [`crate::metrics`]).
    pub fn family(&self) -> Family<ReasonLabel, Counter> {
        self.family.clone()
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
        assert_eq!(
            c.family()
                .get(&ReasonLabel {
                    reason: Refusal::Host.as_str()
                })
                .map(|counter| counter.get()),
            Some(2)
        );
    }
}
