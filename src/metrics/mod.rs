//! The daemon's metrics: one registry per daemon, every metric family, and `/metrics`.
//!
//! Owns the Prometheus registry and the families an operator watches (see README
//! "Metrics and health" for the list). Counters are bumped where things happen, without a
//! lock (prometheus-client counters are atomics); gauges that describe current state
//! (position states, sales by state) are computed from the forecourt snapshot and the
//! journal at scrape time, so there is nothing to keep in step. Components that exist
//! before the registry or outside the daemon's wiring own their metric and this module
//! registers a handle to it: the journal thread its write-latency histogram
//! ([`crate::journal::Journal::write_latency`]), the Mercado Pago client its call counters
//! ([`crate::mercadopago::client::MercadoPagoClient::calls`]), the access layer its
//! refusal counters ([`crate::access::counters`]).
//!
//! Never here: deciding anything. A metric is read by people and alerts, not by code.
//!
//! Wire format: [`Metrics::render`] writes OpenMetrics 1.0 text; [`classic_text`] turns
//! it into the classic Prometheus text format (0.0.4) for scrapers that do not ask for
//! OpenMetrics (`curl`, `promtool check metrics`).

mod chain;
pub mod health;
mod line;
mod text;

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};
use pump_protocols::PumpStatus;

use crate::access::counters::RefusalCounters;
use crate::forecourt::Snapshot;

pub use chain::{ChainMetrics, FailureStage};
pub use line::LineMetrics;
pub use text::{classic_text, wants_openmetrics, CLASSIC_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};

/// Every state a position's pump can be in, for the state gauge.
const PUMP_STATES: [PumpStatus; 9] = [
    PumpStatus::Offline,
    PumpStatus::NotProgrammed,
    PumpStatus::Idle,
    PumpStatus::Calling,
    PumpStatus::Authorized,
    PumpStatus::Filling,
    PumpStatus::Suspended,
    PumpStatus::Completed,
    PumpStatus::Stopped,
];

/// A metric labelled by one line.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LineLabel {
    /// The line's configured name.
    pub line: String,
}

/// A position and one of its pump states.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PositionStateLabels {
    position: String,
    state: &'static str,
}

/// An answer of the order endpoint.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabel {
    answer: &'static str,
}

/// An outcome (notifications, payments, refunds).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// A sale state.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// The build.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Buckets of the poll-cycle histogram, in seconds: a cycle over a few pumps at 9600
/// baud takes tens of milliseconds; seconds mean offline pumps or a crawling line.
const CYCLE_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Buckets of the journal write latency, in seconds: a commit with `synchronous=FULL`
/// is about a millisecond on an SSD and can take tens on an SD card.
pub const JOURNAL_WRITE_BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

fn cycle_histogram() -> Histogram {
    Histogram::new(CYCLE_BUCKETS)
}

/// The per-line families.
#[derive(Debug, Clone)]
struct LineFamilies {
    polls: Family<LineLabel, Counter>,
    answers: Family<LineLabel, Counter>,
    crc_errors: Family<LineLabel, Counter>,
    timeouts: Family<LineLabel, Counter>,
    retries: Family<LineLabel, Counter>,
    reopens: Family<LineLabel, Counter>,
    cycle: Family<LineLabel, Histogram, fn() -> Histogram>,
}

impl LineFamilies {
    fn new() -> Self {
        LineFamilies {
            polls: Family::default(),
            answers: Family::default(),
            crc_errors: Family::default(),
            timeouts: Family::default(),
            retries: Family::default(),
            reopens: Family::default(),
            cycle: Family::new_with_constructor(cycle_histogram),
        }
    }

    fn register(&self, registry: &mut Registry) {
        for (name, help, family) in [
            (
                "line_polls",
                "Exchanges started on a serial line (polls and commands).",
                &self.polls,
            ),
            (
                "line_answers",
                "Answers taken from the pump being served.",
                &self.answers,
            ),
            (
                "line_crc_errors",
                "Answers dropped as corrupt (bad CRC or LRC, broken frame).",
                &self.crc_errors,
            ),
            (
                "line_timeouts",
                "Exchanges that ended without an answer in time.",
                &self.timeouts,
            ),
            (
                "line_retries",
                "Command attempts that failed and were sent again.",
                &self.retries,
            ),
            (
                "line_reopens",
                "Times the serial port was opened again after it failed.",
                &self.reopens,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        registry.register_with_unit(
            "line_poll_cycle",
            "Time of one round-robin cycle over the pumps of a line.",
            Unit::Seconds,
            self.cycle.clone(),
        );
    }
}

/// A new `M` registered as `name` with `help`; the handle to it.
fn registered<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// A Mercado Pago call: its endpoint with ids replaced by `{id}`, and its status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    endpoint: String,
    status: String,
}

/// Attempts of Mercado Pago API calls by endpoint and status. Owned by the client (which
/// exists apart from any daemon: the CLI, the tests); a daemon registers it.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls {
    family: Family<CallLabels, Counter>,
}

impl ApiCalls {
    /// Counts one attempt of `endpoint` (`METHOD /path`) that ended with `status` (an
    /// HTTP status code, or `transport`, `timeout`).
    pub fn count(&self, endpoint: &str, status: &str) {
        self.family
            .get_or_create(&CallLabels {
                endpoint: endpoint_template(endpoint),
                status: status.to_owned(),
            })
            .inc();
    }

    /// Attempts of `endpoint` (as a template, `GET /v1/payments/{id}`) with `status`.
    pub fn get(&self, endpoint: &str, status: &str) -> u64 {
        self.family
            .get(&CallLabels {
                endpoint: endpoint.to_owned(),
                status: status.to_owned(),
            })
            .map_or(0, |c| c.get())
    }
}

/// `GET /v1/payments/123/refunds` → `GET /v1/payments/{id}/refunds`: one series per
/// endpoint, not per payment.
fn endpoint_template(endpoint: &str) -> String {
    endpoint
        .split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What a scrape reads besides the counters.
#[derive(Debug, Clone, Default)]
pub struct ScrapeState {
    /// The forecourt as it is now.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Sales in the journal by state (`ready`, `paid`, …); `None` when the journal could
    /// not be read (the family is then left out rather than reported as zero).
    pub sales: Option<Vec<(String, u64)>>,
    /// The outbox's unsent events; `None` when the journal could not be read (the gauges
    /// then keep their last values; `/healthz` names the journal).
    pub outbox: Option<OutboxScrape>,
}

/// What waits in the journal's outbox at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxScrape {
    /// Events waiting to be published.
    pub events: u64,
    /// Age of the oldest of them (zero when none waits).
    pub oldest_age: std::time::Duration,
}

/// The daemon's metrics. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    lines: LineFamilies,
    position_state: Family<PositionStateLabels, Gauge>,
    order_answers: Family<AnswerLabel, Counter>,
    notifications: Family<OutcomeLabel, Counter>,
    payments: Family<OutcomeLabel, Counter>,
    refunds: Family<OutcomeLabel, Counter>,
    sales: Family<StateLabel, Gauge>,
    outbox_backlog: Gauge,
    outbox_oldest_age: Gauge,
}

impl Metrics {
    /// A registry with every family, the refusal counters and the journal's write
    /// latency registered.
    pub fn new(refusals: &RefusalCounters, journal_write_latency: Histogram) -> Self {
        let mut registry = Registry::with_prefix("forecourtd");
        let lines = LineFamilies::new();
        lines.register(&mut registry);
        let r = &mut registry;
        let position_state = registered(
            r,
            "position_state",
            "1 for the state each position's pump is in, 0 for the others.",
        );
        let order_answers = registered(
            r,
            "order_answers",
            "Answers of the order endpoint, by kind (order, preference, or the error type).",
        );
        let notifications = registered(
            r,
            "notifications",
            "Mercado Pago notifications received, by what became of them.",
        );
        let payments = registered(r, "payments", "Payments applied to sales, by decision.");
        let refunds = registered(r, "refunds", "Refunds asked of Mercado Pago, by outcome.");
        let sales = registered(r, "sales", "Sales in the journal, by state.");
        let outbox_backlog = registered(
            r,
            "outbox_backlog",
            "Events in the journal's outbox waiting to be published to headquarters (the outbox fills whether or not the uplink is configured).",
        );
        let outbox_oldest_age = Gauge::default();
        r.register_with_unit(
            "outbox_oldest_age",
            "Age of the oldest event waiting in the outbox (0 when none waits).",
            Unit::Seconds,
            outbox_oldest_age.clone(),
        );
        r.register_with_unit(
            "journal_write_duration",
            "Time the journal thread took for each request that wrote, commit included.",
            Unit::Seconds,
            journal_write_latency,
        );
        r.register(
            "refusals",
            "Requests refused, by reason.",
            refusals.family(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("build_info", "The running build (always 1).", build);
        Metrics {
            registry: Mutex::new(registry),
            lines,
            position_state,
            order_answers,
            notifications,
            payments,
            refunds,
            sales,
            outbox_backlog,
            outbox_oldest_age,
        }
    }

    /// Registers the chain uplink's counters and connection gauge (once, when `[chain]`
    /// is configured).
    pub fn register_chain(&self, chain: &ChainMetrics) {
        let mut registry = self.lock();
        registry.register(
            "chain_published",
            "Events acknowledged by headquarters' JetStream since the start.",
            chain.published.clone(),
        );
        registry.register(
            "chain_publish_failures",
            "Failed attempts of the uplink, by stage (connect, stream, publish, journal).",
            chain.failures.clone(),
        );
        registry.register(
            "chain_connected",
            "1 while the uplink is connected to headquarters' NATS server, 0 otherwise.",
            chain.connected.clone(),
        );
    }

    /// Registers the Mercado Pago client's call counters (once, when a token is
    /// configured).
    pub fn register_mercadopago(&self, calls: &ApiCalls) {
        self.lock().register(
            "mercadopago_requests",
            "Attempts of Mercado Pago API calls, by endpoint and HTTP status (or transport, timeout, too_large).",
            calls.family.clone(),
        );
    }

    /// The handles of line `name`, for its line task.
    pub fn line(&self, name: &str) -> LineMetrics {
        LineMetrics::new(&self.lines, name)
    }

    /// The order endpoint answered with `answer` (`order`, `preference`, `invalid`,
    /// `timeout`, `in_process`, `unavailable`, `method_not_allowed`, `other_error`).
    pub fn order_answer(&self, answer: &'static str) {
        self.order_answers
            .get_or_create(&AnswerLabel { answer })
            .inc();
    }

    /// A notification ended as `outcome`.
    pub fn notification(&self, outcome: &'static str) {
        self.notifications
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// A payment was decided as `outcome`.
    pub fn payment(&self, outcome: &'static str) {
        self.payments.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// A refund ended as `outcome`.
    pub fn refund(&self, outcome: &'static str) {
        self.refunds.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// The exposition in OpenMetrics 1.0 text, with the scrape-time gauges set from
    /// `state`.
    pub fn render(&self, state: &ScrapeState) -> String {
        // One scrape at a time: the gauges below are cleared and set again.
        let registry = self.lock();
        if let Some(snapshot) = &state.snapshot {
            self.position_state.clear();
            for (position, p) in &snapshot.positions {
                for status in PUMP_STATES {
                    self.position_state
                        .get_or_create(&PositionStateLabels {
                            position: position.0.to_string(),
                            state: status.as_str(),
                        })
                        .set(i64::from(p.pump_status == status));
                }
            }
        }
        if let Some(sales) = &state.sales {
            self.sales.clear();
            for (status, count) in sales {
                self.sales
                    .get_or_create(&StateLabel {
                        state: status.clone(),
                    })
                    .set(i64::try_from(*count).unwrap_or(i64::MAX));
            }
        }
        if let Some(outbox) = state.outbox {
            self.outbox_backlog
                .set(i64::try_from(outbox.events).unwrap_or(i64::MAX));
            self.outbox_oldest_age
                .set(i64::try_from(outbox.oldest_age.as_secs()).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "encoding the metrics");
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_gauges_follow_the_scrape_and_the_chain_counters_their_handles() {
        let metrics = Metrics::new(
            &RefusalCounters::default(),
            Histogram::new(JOURNAL_WRITE_BUCKETS),
        );
        let chain = ChainMetrics::default();
        metrics.register_chain(&chain);
        chain.published(7);
        chain.failed(FailureStage::Connect);
        chain.set_connected(true);
        let text = metrics.render(&ScrapeState {
            outbox: Some(OutboxScrape {
                events: 12,
                oldest_age: std::time::Duration::from_secs(95),
            }),
            ..ScrapeState::default()
        });
        for line in [
            "forecourtd_outbox_backlog 12\n",
            "forecourtd_outbox_oldest_age_seconds 95\n",
            "forecourtd_chain_published_total 7\n",
            "forecourtd_chain_publish_failures_total{stage=\"connect\"} 1\n",
            "forecourtd_chain_publish_failures_total{stage=\"publish\"} 0\n",
            "forecourtd_chain_connected 1\n",
        ] {
            assert!(text.contains(line), "{line:?} missing:\n{text}");
        }
    }

    #[test]
    fn endpoints_are_counted_without_their_ids() {
        assert_eq!(
            endpoint_template("GET /v1/payments/123/refunds"),
            "GET /v1/payments/{id}/refunds"
        );
        assert_eq!(endpoint_template("POST /pos"), "POST /pos");
        let calls = ApiCalls::default();
        calls.count("GET /v1/payments/1", "200");
        calls.count("GET /v1/payments/2", "200");
        assert_eq!(calls.get("GET /v1/payments/{id}", "200"), 2);
    }

    #[test]
    fn every_family_has_help_and_the_state_gauges_follow_the_scrape() {
        let metrics = Metrics::new(
            &RefusalCounters::default(),
            Histogram::new(JOURNAL_WRITE_BUCKETS),
        );
        metrics.order_answer("order");
        let text = metrics.render(&ScrapeState {
            snapshot: None,
            sales: Some(vec![("paid".to_owned(), 3)]),
            outbox: None,
        });
        assert!(
            text.contains("forecourtd_order_answers_total{answer=\"order\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("forecourtd_sales{state=\"paid\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("forecourtd_build_info{version=\""), "{text}");
        for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let name = line.split(' ').next().unwrap_or_default();
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} has no HELP"
            );
        }
        let text = metrics.render(&ScrapeState {
            snapshot: None,
            sales: Some(vec![("ready".to_owned(), 1)]),
            outbox: None,
        });
        assert!(!text.contains("forecourtd_sales{state=\"paid\"}"), "{text}");
    }
}
