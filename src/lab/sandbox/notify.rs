//! The sandbox's notifications: what MP sends to `notification_url` after a payment
//! (docs/mercadopago.md §6, §7).
//!
//! `source_news` in the URL picks the channel:
//!
//! | `source_news` | sent |
//! |---|---|
//! | `webhooks` | webhook `POST <url>&data.id=<payment>&type=payment`, §6 body, UA `MercadoPago WebHook v1.0 payment`, `x-signature` (ts in seconds) + `x-request-id` |
//! | `ipn`, absent | IPN `POST <url>&topic=payment&id=<payment>` and `…topic=merchant_order&id=<mo>`, `{resource, topic}`, UA `MercadoPago Feed v2.0 <topic>`, an `x-signature` that never verifies (as at MP) |
//!
//! A delivery succeeds on 2xx within the timeout; otherwise it is retried after each wait
//! of the schedule, then given up. The notifications of one scan form a batch whose first
//! attempts are made in order, so the knobs (drop, duplicate, delay, reorder, bad
//! signature) have exact, testable effects. Every attempt is recorded.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::Request;
use serde::{Deserialize, Serialize};

use crate::mercadopago::types::{IpnBody, WebhookBody, WebhookData};
use crate::mercadopago::{query, signature};

use super::state::mp_date;
use super::{Shared, State};

/// The notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `?topic=…&id=…`, `{resource, topic}`.
    Ipn,
    /// `?data.id=…&type=…`, signed body.
    Webhook,
}

/// Where a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Held back by the reorder knob.
    Held,
    /// Being delivered or waiting for a retry.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Every retry failed.
    GaveUp,
    /// Dropped by the drop knob: never sent.
    Dropped,
}

impl DeliveryState {
    /// True once nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Delivered | DeliveryState::GaveUp | DeliveryState::Dropped
        )
    }
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// The status answered, if any.
    pub status: Option<u16>,
    /// Transport error or timeout, if any.
    pub error: Option<String>,
    /// `x-request-id` sent.
    pub request_id: String,
}

/// A notification and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Index in the log.
    pub seq: usize,
    /// The channel.
    pub channel: Channel,
    /// `payment` or `merchant_order`.
    pub topic: String,
    /// The payment or merchant order id.
    pub resource_id: i64,
    /// The URL posted to (notification_url plus the channel's query).
    pub url: String,
    /// Second copy sent by the duplicate knob.
    pub duplicate: bool,
    /// Signed with a wrong secret by the knob.
    pub bad_signature: bool,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: Vec<DeliveryAttempt>,
}

/// One delivery to make (an entry of a batch).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    seq: usize,
    channel: Channel,
    topic: &'static str,
    resource_id: i64,
    url: String,
    notification_id: i64,
    bad_signature: bool,
}

/// Which notifications `notification_url` asks for.
fn plan(
    notification_url: &str,
    payment_id: i64,
    order_id: i64,
) -> Vec<(Channel, &'static str, i64)> {
    let source_news = notification_url
        .split_once('?')
        .and_then(|(_, q)| query::parse(q))
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "source_news"))
        .map(|(_, v)| v);
    match source_news.as_deref() {
        Some("webhooks") => vec![(Channel::Webhook, "payment", payment_id)],
        _ => vec![
            (Channel::Ipn, "payment", payment_id),
            (Channel::Ipn, "merchant_order", order_id),
        ],
    }
}

fn channel_url(notification_url: &str, channel: Channel, topic: &str, id: i64) -> String {
    let id = id.to_string();
    match channel {
        Channel::Ipn => query::append(notification_url, &[("topic", topic), ("id", &id)]),
        Channel::Webhook => query::append(
            notification_url,
            &[("data.id", id.as_str()), ("type", topic)],
        ),
    }
}

/// Queues the notifications of one scan, applying the knobs.
pub(super) fn dispatch(
    shared: &Arc<Shared>,
    notification_url: Option<&str>,
    payment_id: i64,
    order_id: i64,
) {
    let Some(base) = notification_url.filter(|u| !u.trim().is_empty()) else {
        return;
    };
    let (batch, released, delay) = {
        let mut guard = shared.lock();
        let state = &mut *guard;
        let mut batch = Vec::new();
        for (channel, topic, id) in plan(base, payment_id, order_id) {
            let url = channel_url(base, channel, topic, id);
            let mut record = DeliveryRecord {
                seq: state.deliveries.len(),
                channel,
                topic: topic.to_owned(),
                resource_id: id,
                url: url.clone(),
                duplicate: false,
                bad_signature: false,
                state: DeliveryState::Pending,
                attempts: Vec::new(),
            };
            if state.knobs.drop_next > 0 {
                state.knobs.drop_next -= 1;
                record.state = DeliveryState::Dropped;
                state.deliveries.push(record);
                continue;
            }
            let copies = if state.knobs.duplicate_next > 0 {
                state.knobs.duplicate_next -= 1;
                2
            } else {
                1
            };
            state.next_notification_id += 1;
            let notification_id = state.next_notification_id;
            for copy in 0..copies {
                let bad = channel == Channel::Webhook && state.knobs.bad_signature_next > 0;
                if bad {
                    state.knobs.bad_signature_next -= 1;
                }
                let seq = state.deliveries.len();
                state.deliveries.push(DeliveryRecord {
                    seq,
                    duplicate: copy > 0,
                    bad_signature: bad,
                    ..record.clone()
                });
                batch.push(Outgoing {
                    seq,
                    channel,
                    topic,
                    resource_id: id,
                    url: url.clone(),
                    notification_id,
                    bad_signature: bad,
                });
            }
        }
        if state.knobs.reorder_next > 0 && !batch.is_empty() {
            state.knobs.reorder_next -= 1;
            for send in &batch {
                state.deliveries[send.seq].state = DeliveryState::Held;
            }
            state.held.push(batch);
            (Vec::new(), Vec::new(), Duration::ZERO)
        } else {
            let released = take_held(state);
            (batch, released, Duration::from_millis(state.knobs.delay_ms))
        }
    };
    shared.bump_deliveries();
    if batch.is_empty() && released.is_empty() {
        return;
    }
    spawn_batch(shared, batch.into_iter().chain(released).collect(), delay);
}

/// Sends every held batch now, in the order they were held.
pub(super) fn release_held(shared: &Arc<Shared>) {
    let released = take_held(&mut shared.lock());
    shared.bump_deliveries();
    if !released.is_empty() {
        spawn_batch(shared, released, Duration::ZERO);
    }
}

/// Every held delivery, in the order held, marked pending again.
fn take_held(state: &mut State) -> Vec<Outgoing> {
    let released: Vec<Outgoing> = state.held.drain(..).flatten().collect();
    for send in &released {
        state.deliveries[send.seq].state = DeliveryState::Pending;
    }
    released
}

fn spawn_batch(shared: &Arc<Shared>, sends: Vec<Outgoing>, delay: Duration) {
    let task_shared = shared.clone();
    shared.tracker.spawn(async move {
        let shared = task_shared;
        if !delay.is_zero() && !sleep_or_shutdown(&shared, delay).await {
            return;
        }
        for send in sends {
            if attempt(&shared, &send).await {
                continue;
            }
            let retry_shared = shared.clone();
            shared
                .tracker
                .spawn(async move { retry(retry_shared, send).await });
        }
    });
}

/// False when the sandbox is shutting down.
async fn sleep_or_shutdown(shared: &Shared, wait: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = shared.shutdown.cancelled() => false,
    }
}

async fn retry(shared: Arc<Shared>, send: Outgoing) {
    for wait in shared.settings.notify.retry_schedule.clone() {
        if !sleep_or_shutdown(&shared, wait).await {
            return;
        }
        if attempt(&shared, &send).await {
            return;
        }
    }
    shared.lock().deliveries[send.seq].state = DeliveryState::GaveUp;
    shared.bump_deliveries();
}

/// One POST; records it and returns true on 2xx.
async fn attempt(shared: &Shared, send: &Outgoing) -> bool {
    let now = shared.now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let id = send.resource_id.to_string();
    let ts = u64::try_from(now.as_second()).unwrap_or(0);
    let (body, user_agent, signature) = match send.channel {
        Channel::Ipn => {
            let resource = if send.topic == "merchant_order" {
                format!("{}/merchant_orders/{id}", shared.base_url)
            } else {
                id.clone()
            };
            let body = serde_json::to_vec(&IpnBody {
                resource,
                topic: send.topic.to_owned(),
            });
            // MP's IPN carries a signature header that does not verify with the
            // application's secret (docs/mercadopago.md §6); a random secret mirrors that.
            let sig = signature::sign(shared.ipn_secret.as_ref(), Some(&id), Some(&request_id), ts);
            (body, format!("MercadoPago Feed v2.0 {}", send.topic), sig)
        }
        Channel::Webhook => {
            let body = serde_json::to_vec(&WebhookBody {
                id: send.notification_id,
                live_mode: shared.settings.live_mode,
                kind: send.topic.to_owned(),
                date_created: Some(mp_date(now)),
                user_id: Some(shared.collector_id),
                api_version: Some("v1".to_owned()),
                action: Some(format!("{}.created", send.topic)),
                data: WebhookData { id: id.clone() },
                application_id: Some(shared.settings.application_id),
                version: Some(1),
            });
            let secret: &[u8] = if send.bad_signature {
                b"not-the-webhook-secret"
            } else {
                shared.settings.webhook_secret.as_ref()
            };
            let sig = signature::sign(secret, Some(&id), Some(&request_id), ts);
            (
                body,
                format!("MercadoPago WebHook v1.0 {}", send.topic),
                sig,
            )
        }
    };
    let result = match body {
        Ok(body) => post(shared, send, body, &user_agent, &signature, &request_id).await,
        Err(e) => Err(format!("cannot encode the body: {e}")),
    };
    let ok = matches!(result, Ok(status) if (200..300).contains(&status));
    {
        let mut state = shared.lock();
        let record = &mut state.deliveries[send.seq];
        record.attempts.push(DeliveryAttempt {
            status: result.as_ref().ok().copied(),
            error: result.err(),
            request_id,
        });
        if ok {
            record.state = DeliveryState::Delivered;
        }
    }
    shared.bump_deliveries();
    ok
}

async fn post(
    shared: &Shared,
    send: &Outgoing,
    body: Vec<u8>,
    user_agent: &str,
    signature: &str,
    request_id: &str,
) -> Result<u16, String> {
    let request = Request::post(send.url.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, user_agent)
        .header("x-signature", signature)
        .header("x-request-id", request_id)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let timeout = shared.settings.notify.timeout;
    match tokio::time::timeout(timeout, shared.http.request(request)).await {
        Ok(Ok(response)) => Ok(response.status().as_u16()),
        Ok(Err(e)) => Err(format!("transport error: {e}")),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_news_selects_the_channel() {
        assert_eq!(
            plan("https://s/mp/notifications?source_news=webhooks", 7, 9),
            vec![(Channel::Webhook, "payment", 7)]
        );
        let ipn = vec![
            (Channel::Ipn, "payment", 7),
            (Channel::Ipn, "merchant_order", 9),
        ];
        assert_eq!(
            plan("https://s/mp/notifications?source_news=ipn", 7, 9),
            ipn
        );
        assert_eq!(plan("https://s/mp/notifications", 7, 9), ipn);
    }

    #[test]
    fn channel_query_is_appended_to_the_notification_url() {
        assert_eq!(
            channel_url(
                "https://s/n?source_news=webhooks",
                Channel::Webhook,
                "payment",
                7
            ),
            "https://s/n?source_news=webhooks&data.id=7&type=payment"
        );
        assert_eq!(
            channel_url("https://s/n", Channel::Ipn, "merchant_order", 9),
            "https://s/n?topic=merchant_order&id=9"
        );
    }
}
