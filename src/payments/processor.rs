//! Works the journal's notification queue: reads each notified payment (or merchant order)
//! from the Mercado Pago API, decides with [`super::decide`], and applies the decision.
//!
//! The queue lives in the journal, so a notification stored just before a crash is
//! processed after the restart, exactly once in effect: every step is idempotent (a sale
//! is marked paid only from `ready`; a payment row is an upsert; a refund is keyed by its
//! idempotency key). Transient API failures are retried with exponential backoff; a
//! resource Mercado Pago does not know (a forged hint) is given up at once. A refused
//! access token (401/403) gives up nothing and counts no attempt: the queue pauses, with
//! backoff, until Mercado Pago takes the token again.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use pump_protocols::Money;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::decide::{decide, Decision, PaymentPolicy};
use crate::forecourt::ForecourtHandle;
use crate::journal::{
    Journal, NewRefund, Notification, NotificationOutcome, PaymentRecord, RefundOutcome,
};
use crate::mercadopago::types::Payment;
use crate::mercadopago::{IdempotencyKey, MercadoPagoClient, MpError};
use crate::metrics::Metrics;

/// How many due notifications one pass takes.
const BATCH: u32 = 50;
/// Longest wait between two looks at the queue (notifications due for a retry).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Attempts after which a notification is given up (the reconciler still covers its sale).
const MAX_ATTEMPTS: u32 = 12;

/// Why processing a notification failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Worth retrying later (API down, journal busy).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (unknown resource, malformed id).
    #[error("{0}")]
    Permanent(String),
    /// Mercado Pago refuses the access token (expired or rotated): nothing is wrong with
    /// the work itself; it waits, uncounted, until the token works again.
    #[error("{0}")]
    Credentials(String),
}

impl From<MpError> for ProcessError {
    fn from(e: MpError) -> Self {
        if e.is_credentials() {
            ProcessError::Credentials(e.to_string())
        } else if e.is_not_found() || matches!(e.status(), Some(400 | 403)) && !e.is_transient() {
            ProcessError::Permanent(e.to_string())
        } else {
            ProcessError::Transient(e.to_string())
        }
    }
}

impl From<crate::journal::JournalError> for ProcessError {
    fn from(e: crate::journal::JournalError) -> Self {
        ProcessError::Transient(format!("journal: {e}"))
    }
}

/// Applies payments to sales. Shared by the notification processor, the reconciler and
/// the admin API.
#[derive(Clone)]
pub struct PaymentApplier {
    /// The journal.
    pub journal: Journal,
    /// The Mercado Pago API.
    pub client: MercadoPagoClient,
    /// The forecourt, told when a sale stops being payable.
    pub forecourt: ForecourtHandle,
    /// What a payment is checked against.
    pub policy: PaymentPolicy,
    /// Payments and refunds by outcome.
    pub metrics: Arc<Metrics>,
}

impl PaymentApplier {
    /// Records `payment` and applies what it means for its sale.
    pub async fn apply(&self, payment: &Payment) -> Result<Decision, ProcessError> {
        let result = self.decide_and_apply(payment).await;
        self.metrics.payment(match &result {
            Ok(Decision::Pay(_)) => "paid",
            Ok(Decision::AlreadyApplied(_)) => "already_applied",
            Ok(Decision::Declined(_)) => "declined",
            Ok(Decision::Wait(_)) => "waiting",
            Ok(Decision::Flag { .. }) => "flagged",
            Err(_) => "error",
        });
        result
    }

    async fn decide_and_apply(&self, payment: &Payment) -> Result<Decision, ProcessError> {
        let record = match &payment.external_reference {
            Some(reference) => match self.journal.sale_by_reference(reference).await? {
                Some(sale) => self.journal.sale_record(sale.id).await?,
                None => None,
            },
            None => None,
        };
        let decision = decide(payment, record.as_ref(), &self.policy);
        let (sale, flagged_reason) = match &decision {
            Decision::Pay(id) | Decision::AlreadyApplied(id) => (Some(*id), None),
            Decision::Declined(sale) | Decision::Wait(sale) => (*sale, None),
            Decision::Flag { sale, flag, .. } => (*sale, Some(flag.reason())),
        };
        let payment_id = payment.id.to_string();
        self.journal
            .upsert_payment(PaymentRecord {
                payment_id: payment_id.clone(),
                sale,
                status: payment.status.as_str().to_owned(),
                status_detail: Some(payment.status_detail.clone()).filter(|d| !d.is_empty()),
                amount: Money::new(payment.transaction_amount),
                currency: payment.currency_id.clone().unwrap_or_default(),
                external_reference: payment.external_reference.clone(),
                flagged_reason: flagged_reason.clone(),
                raw: serde_json::to_string(payment).unwrap_or_default(),
                seen_at: Timestamp::now(),
            })
            .await?;
        match &decision {
            Decision::Pay(id) => {
                let paid_at = payment
                    .date_approved
                    .as_deref()
                    .and_then(|d| d.parse::<Timestamp>().ok())
                    .unwrap_or_else(Timestamp::now);
                match self
                    .journal
                    .mark_paid(*id, payment_id.clone(), paid_at)
                    .await
                {
                    Ok(sale) => {
                        tracing::info!(sale = sale.id, reference = %sale.external_reference,
                            payment = %payment_id, amount = %sale.amount, "sale paid");
                        if self.forecourt.sale_closed(sale.id).await.is_err() {
                            tracing::warn!("forecourt stopped; the sale is paid in the journal");
                        }
                    }
                    Err(crate::journal::JournalError::InvalidTransition { .. }) => {
                        // Settled another way between the read and the write: decide again
                        // with the new state (it becomes a payment after settlement).
                        return Box::pin(self.decide_and_apply(payment)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Decision::Flag { flag, refund, .. } => {
                tracing::warn!(payment = %payment_id, reason = %flag.reason(), "payment flagged");
                if *refund {
                    self.refund(payment.id, None, format!("auto-{payment_id}"))
                        .await?;
                }
            }
            Decision::Declined(_) => {
                tracing::info!(payment = %payment_id, detail = %payment.status_detail,
                    "payment declined; the sale stays payable");
            }
            Decision::AlreadyApplied(_) | Decision::Wait(_) => {}
        }
        Ok(decision)
    }

    /// Asks Mercado Pago for a refund under `key`, recording it first so a retry after a
    /// crash reuses the same key (and Mercado Pago answers with the same refund).
    pub async fn refund(
        &self,
        payment_id: i64,
        amount: Option<Money>,
        key: String,
    ) -> Result<crate::journal::Refund, ProcessError> {
        let result = self.request_refund(payment_id, amount, key).await;
        self.metrics.refund(match &result {
            Ok(refund) => match refund.status.as_str() {
                "approved" => "approved",
                "in_process" | "pending" => "in_process",
                "rejected" => "rejected",
                "cancelled" => "cancelled",
                crate::journal::payments::REFUND_REQUESTED => "requested",
                _ => "other",
            },
            Err(_) => "error",
        });
        result
    }

    async fn request_refund(
        &self,
        payment_id: i64,
        amount: Option<Money>,
        key: String,
    ) -> Result<crate::journal::Refund, ProcessError> {
        let idempotency = IdempotencyKey::new(key.clone())
            .map_err(|_| ProcessError::Permanent(format!("bad idempotency key {key:?}")))?;
        let stored = match self
            .journal
            .insert_refund(NewRefund {
                payment_id: payment_id.to_string(),
                amount,
                idempotency_key: key,
                created_at: Timestamp::now(),
            })
            .await?
        {
            RefundOutcome::Inserted(r) => r,
            RefundOutcome::Existing(r)
                if r.status != crate::journal::payments::REFUND_REQUESTED =>
            {
                return Ok(r)
            }
            RefundOutcome::Existing(r) => r,
        };
        let answer = self
            .client
            .refund(payment_id, amount.map(Money::value), &idempotency)
            .await?;
        let status = answer
            .status
            .clone()
            .unwrap_or_else(|| "approved".to_owned());
        let refund = self
            .journal
            .update_refund(stored.id, Some(answer.id.to_string()), status)
            .await?;
        tracing::info!(payment = payment_id, refund = answer.id, amount = ?amount, "refund made");
        Ok(refund)
    }

    /// Reads a payment from the API again and applies it (after a refund, so the journal
    /// shows its new status).
    pub async fn refresh(&self, payment_id: i64) -> Result<Decision, ProcessError> {
        let payment = self.client.get_payment(payment_id).await?;
        self.apply(&payment).await
    }
}

/// The notification queue worker.
pub struct NotificationProcessor {
    /// Applies what the API says.
    pub applier: PaymentApplier,
    /// Woken by the notification endpoint.
    pub wake: Arc<Notify>,
}

/// How a pass over the queue ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Every due notification was handled.
    Done,
    /// Mercado Pago refused the token: the pass stopped at the first refusal.
    CredentialsRefused,
}

impl NotificationProcessor {
    /// Runs until `shutdown`. A pass in progress finishes its current notification.
    ///
    /// While Mercado Pago refuses the token, passes are spaced by a growing pause
    /// ([`credentials_pause`]) instead of being woken by each new notification, and end
    /// early when any call succeeds again (a new token, or the reconciler's search).
    pub async fn run(self, shutdown: CancellationToken) {
        let health = self.applier.client.health().clone();
        let mut refusals: u32 = 0;
        loop {
            let refused = match self.pass(&shutdown).await {
                Ok(pass) => pass == Pass::CredentialsRefused,
                Err(e) => {
                    tracing::warn!(error = %e, "notification queue unavailable");
                    false
                }
            };
            refusals = if refused {
                refusals.saturating_add(1)
            } else {
                0
            };
            let wait = if refused {
                credentials_pause(refusals)
            } else {
                IDLE_POLL
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified(), if !refused => {}
                _ = health.recovered() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn pass(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Pass, crate::journal::JournalError> {
        let journal = &self.applier.journal;
        for notification in journal
            .pending_notifications(Timestamp::now(), BATCH)
            .await?
        {
            if shutdown.is_cancelled() {
                return Ok(Pass::Done);
            }
            match self.process(&notification).await {
                Err(ProcessError::Credentials(e)) => {
                    // Not an attempt: the notification keeps its place and its retries.
                    // The health state logs the refusal once for everything waiting.
                    tracing::debug!(id = notification.id, error = %e, "notification waits for valid credentials");
                    journal.defer_notification(notification.id, e).await?;
                    return Ok(Pass::CredentialsRefused);
                }
                Ok(()) => {
                    journal
                        .finish_notification(notification.id, NotificationOutcome::Done)
                        .await?
                }
                Err(ProcessError::Permanent(e)) => {
                    tracing::warn!(id = notification.id, error = %e, "notification given up");
                    journal
                        .finish_notification(notification.id, NotificationOutcome::Failed(e))
                        .await?
                }
                Err(ProcessError::Transient(e)) if notification.attempts + 1 >= MAX_ATTEMPTS => {
                    tracing::warn!(id = notification.id, error = %e,
                        "notification given up after retries; the reconciler covers its sale");
                    journal
                        .finish_notification(notification.id, NotificationOutcome::Failed(e))
                        .await?
                }
                Err(ProcessError::Transient(e)) => {
                    let wait = retry_delay(notification.attempts);
                    tracing::info!(id = notification.id, error = %e, ?wait, "notification retry");
                    let next = Timestamp::now()
                        .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
                        .unwrap_or_else(|_| Timestamp::now());
                    journal.retry_notification(notification.id, e, next).await?
                }
            }
        }
        Ok(Pass::Done)
    }

    async fn process(&self, notification: &Notification) -> Result<(), ProcessError> {
        let id: i64 = notification
            .resource_id
            .parse()
            .map_err(|_| ProcessError::Permanent("resource id is not a number".to_owned()))?;
        let client = &self.applier.client;
        match notification.topic.as_str() {
            "payment" => {
                let payment = client.get_payment(id).await?;
                self.applier.apply(&payment).await?;
            }
            "merchant_order" | "topic_merchant_order_wh" => {
                let order = client.get_merchant_order(id).await?;
                for listed in &order.payments {
                    let payment = client.get_payment(listed.id).await?;
                    self.applier.apply(&payment).await?;
                }
            }
            other => return Err(ProcessError::Permanent(format!("unknown topic {other}"))),
        }
        Ok(())
    }
}

/// The pause after the `refusals`-th pass in a row stopped by refused credentials:
/// 1 s, 2 s, 4 s … capped at a minute, so a token fixed by the operator is noticed soon.
pub fn credentials_pause(refusals: u32) -> Duration {
    let exponent = refusals.saturating_sub(1).min(6);
    (Duration::from_secs(1) * 2u32.pow(exponent)).min(Duration::from_secs(60))
}

/// 2 s, 4 s, 8 s … capped at 10 minutes.
pub fn retry_delay(attempts: u32) -> Duration {
    let exponent = attempts.min(9);
    (Duration::from_secs(2) * 2u32.pow(exponent)).min(Duration::from_secs(600))
}
