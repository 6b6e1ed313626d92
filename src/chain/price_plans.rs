//! The station's side of central prices: watches headquarters' price plan bucket and
//! applies each valid plan like a manager's price change (docs/chain.md "Central price
//! plans").
//!
//! Owns the watcher task and the decision on one plan message. The station watches the
//! keys `store.<store>` and `group.<group>` (each of `[chain] groups`) of the JetStream
//! key-value bucket [`BUCKET`]; a (re)started watch delivers the latest value of each key
//! first, so a station that was offline gets its current plan on reconnect. A message is
//! handled once (the journal remembers its digest); a plan is applied once (by plan id)
//! and never when older than the newest one applied. A plan that is malformed, not
//! signed by `[chain] hq_public_key`, for another station, or with an unknown grade or a
//! price a pump cannot take is refused: logged, audited, reported to headquarters as
//! `price_plan_refused`, and nothing changes. A valid one becomes a journaled price set
//! (created by `hq`), scheduled, programmed into each pump when idle and confirmed per
//! pump exactly like `POST /api/prices`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use futures_util::StreamExt;
use nkeys::KeyPair;
use pump_protocols::UnitPrice;
use tokio_util::sync::CancellationToken;

use super::nats::{connect, NatsSettings};
use super::price_plan::{digest, verify, Plan, BUCKET};
use crate::clock::Clock;
use crate::config::Chain;
use crate::forecourt::prices::check_pumps_take;
use crate::forecourt::ForecourtHandle;
use crate::http::admin::StationInfo;
use crate::journal::price_plans::HQ_ACTOR;
use crate::journal::{Journal, JournalError, NewPriceSet, PlanReceipt, PlanStanding};

/// How long the watcher waits before watching again after a failure.
pub const RETRY: Duration = Duration::from_secs(5);

/// Versions of each key the bucket keeps (headquarters' history of a station's plans).
const HISTORY: i64 = 16;

/// The price plan bucket, created when missing (by whichever side comes first).
pub async fn plan_bucket(js: &jetstream::Context) -> Result<kv::Store, String> {
    // The stream a key-value bucket is made of, created directly: `create_key_value`
    // first asks for the account's details, which servers before 2.10 (Debian's) answer
    // in a form the client does not read.
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{BUCKET}"),
        description: Some("forecourtd central price plans, signed by headquarters".to_owned()),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: HISTORY,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("price plan bucket {BUCKET}: {e}"))?;
    js.get_key_value(BUCKET)
        .await
        .map_err(|e| format!("price plan bucket {BUCKET}: {e}"))
}

/// Watches `keys` from each one's latest value on: that value first (the plan in
/// force for the key, even one put while the station was away), then every new one.
/// Older values are not delivered: a station never replays a key's history.
async fn watch_latest(
    js: &jetstream::Context,
    bucket: &kv::Store,
    keys: &[String],
) -> Result<futures_util::stream::SelectAll<kv::Watch>, String> {
    // Read before the keys: a value put meanwhile lies after it and is still delivered.
    let next = js
        .get_stream(format!("KV_{BUCKET}"))
        .await
        .map_err(|e| e.to_string())?
        .info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .last_sequence
        + 1;
    let mut watches = Vec::with_capacity(keys.len());
    for key in keys {
        let from = match bucket
            .entry(key.as_str())
            .await
            .map_err(|e| e.to_string())?
        {
            Some(latest) => latest.revision,
            None => next,
        };
        let watch = bucket
            .watch_from_revision(key, from)
            .await
            .map_err(|e| e.to_string())?;
        watches.push(watch);
    }
    Ok(futures_util::stream::select_all(watches))
}

/// What became of one plan message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied as this price set.
    Applied(crate::journal::PriceSetId),
    /// Refused, for this reason.
    Refused(String),
    /// Replayed, older than the newest applied plan, or this very message seen before.
    Ignored(String),
}

/// The watcher task.
pub struct PlanWatcher {
    /// The station's journal.
    pub journal: Journal,
    /// The forecourt actor that schedules and programs price sets.
    pub forecourt: ForecourtHandle,
    /// The station's grades.
    pub station: Arc<StationInfo>,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// `[chain]`.
    pub settings: Chain,
}

impl PlanWatcher {
    /// The keys this station watches.
    pub fn keys(&self) -> Vec<String> {
        std::iter::once(format!("store.{}", self.settings.store))
            .chain(self.settings.groups.iter().map(|g| format!("group.{g}")))
            .collect()
    }

    /// Runs until `shutdown` fires. Without `[chain] hq_public_key` it only says, once,
    /// that central plans are ignored, and waits.
    pub async fn run(self, shutdown: CancellationToken) {
        let hq = match self
            .settings
            .hq_public_key
            .as_deref()
            .map(KeyPair::from_public_key)
        {
            // The task stays (a supervised task must not end before shutdown) but idle.
            None => {
                tracing::info!("no [chain] hq_public_key: central price plans are ignored");
                return shutdown.cancelled().await;
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "[chain] hq_public_key is not a public NKey: \
                    central price plans are ignored");
                return shutdown.cancelled().await;
            }
            Some(Ok(key)) => key,
        };
        loop {
            let failure = tokio::select! {
                _ = shutdown.cancelled() => return,
                failure = self.watch(&hq) => failure,
            };
            tracing::warn!(error = %failure, "price plan watch failed; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Watches until something fails; returns why.
    async fn watch(&self, hq: &KeyPair) -> String {
        let nats = NatsSettings::from(&self.settings);
        let name = format!("forecourtd {} price plans", self.settings.store);
        let client = match connect(&nats, &name).await {
            Ok(client) => client,
            Err(e) => return e.to_string(),
        };
        let js = jetstream::new(client);
        let bucket = match plan_bucket(&js).await {
            Ok(bucket) => bucket,
            Err(e) => return e,
        };
        let keys = self.keys();
        let mut watch = match watch_latest(&js, &bucket, &keys).await {
            Ok(watch) => watch,
            Err(e) => return format!("watching {keys:?}: {e}"),
        };
        tracing::info!(?keys, "watching central price plans");
        while let Some(entry) = watch.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => return format!("price plan watch: {e}"),
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            if let Err(e) = self.handle(hq, &entry.key, &entry.value).await {
                // Not remembered as handled: the next watch delivers it again.
                return format!("journal: {e}");
            }
        }
        "price plan watch ended".to_owned()
    }

    /// Decides on the plan message `bytes` that came on `key`, records the decision and,
    /// for a valid plan, hands its price set to the forecourt.
    pub async fn handle(
        &self,
        hq: &KeyPair,
        key: &str,
        bytes: &[u8],
    ) -> Result<Outcome, JournalError> {
        let now = self.clock.now();
        let mut receipt = PlanReceipt {
            digest: digest(bytes),
            key: key.to_owned(),
            plan_id: None,
            issued_at: None,
        };
        if self.journal.price_plan_standing(receipt.clone()).await? == PlanStanding::Handled {
            return Ok(Outcome::Ignored("handled before".to_owned()));
        }
        let plan = match verify(bytes, hq) {
            Ok(plan) => plan,
            Err(e) => return self.refuse(now, receipt, e.to_string()).await,
        };
        receipt.plan_id = Some(plan.plan_id.clone());
        receipt.issued_at = Some(plan.issued_at);
        if plan.target.key() != key {
            let reason = format!(
                "plan for {} arrived on {key}; this station is store {}",
                plan.target.key(),
                self.settings.store
            );
            return self.refuse(now, receipt, reason).await;
        }
        let reason = match self.journal.price_plan_standing(receipt.clone()).await? {
            PlanStanding::New => None,
            PlanStanding::Handled => Some("handled before".to_owned()),
            PlanStanding::Replayed => Some("plan already applied".to_owned()),
            PlanStanding::Older { newest } => Some(format!(
                "issued {}, not after the newest applied plan ({newest})",
                plan.issued_at
            )),
        };
        if let Some(reason) = reason {
            tracing::info!(plan = %plan.plan_id, %key, %reason, "price plan ignored");
            self.journal
                .ignore_price_plan(now, receipt, reason.clone())
                .await?;
            return Ok(Outcome::Ignored(reason));
        }
        let prices = match self.station_prices(&plan) {
            Ok(prices) => prices,
            Err(reason) => return self.refuse(now, receipt, reason).await,
        };
        let effective_at = plan.effective_at.unwrap_or(now);
        let record = self
            .journal
            .apply_price_plan(
                now,
                receipt,
                NewPriceSet {
                    prices,
                    effective_at,
                    created_by: HQ_ACTOR.to_owned(),
                },
            )
            .await?;
        let id = record.id;
        match self.forecourt.price_set(record).await {
            Ok(in_force) => tracing::info!(plan = %plan.plan_id, price_set = id, in_force,
                at = %effective_at, "central price plan applied"),
            // Journaled: the forecourt loads it from the journal when it starts again.
            Err(e) => tracing::error!(plan = %plan.plan_id, price_set = id, error = %e,
                "central price plan journaled but not handed to the forecourt"),
        }
        Ok(Outcome::Applied(id))
    }

    /// The plan's prices by grade id, when every grade is the station's and every pump
    /// selling it can take its price.
    fn station_prices(
        &self,
        plan: &Plan,
    ) -> Result<BTreeMap<pump_protocols::GradeId, UnitPrice>, String> {
        let mut prices = BTreeMap::new();
        for (grade, price) in &plan.prices {
            let id = self
                .station
                .grade_by_name(grade)
                .ok_or_else(|| format!("unknown grade {grade:?}"))?;
            prices.insert(id, UnitPrice::new(*price));
        }
        check_pumps_take(&self.forecourt.snapshot(), &prices)?;
        Ok(prices)
    }

    async fn refuse(
        &self,
        now: jiff::Timestamp,
        receipt: PlanReceipt,
        reason: String,
    ) -> Result<Outcome, JournalError> {
        tracing::warn!(key = %receipt.key, plan = ?receipt.plan_id, digest = %receipt.digest,
            %reason, "central price plan refused; nothing changed");
        self.journal
            .refuse_price_plan(now, receipt, reason.clone())
            .await?;
        Ok(Outcome::Refused(reason))
    }
}
