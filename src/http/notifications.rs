//! `POST /mp/notifications`: Mercado Pago's payment notifications, IPN and webhook forms.
//!
//! The handler only sorts, checks and stores: it parses the query (`topic`/`id` for IPN,
//! `type`/`data.id` for webhooks, with the body as a fallback for the resource), verifies a
//! webhook's `x-signature` when one is sent (docs/mercadopago.md §7; 401 when bad or stale),
//! writes the delivery to the journal under its dedupe key and answers 200 at once. The
//! payment itself is read from the API later by the processor, which is woken here; no
//! decision is ever taken from a notification's body (docs/architecture.md "Payments", U12).
//!
//! IPN deliveries and unsigned webhooks cannot be authenticated. They are accepted as
//! hints unless the station says `accept_unsigned = false`: rate-limited per source and
//! overall ([`super::hint_gate`]), stored without their body, deduplicated by topic and
//! id, pruned and bounded (`journal::hints`). The worst a forged hint can do is cost one
//! API read, and the gate bounds how many such reads a minute can bring.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::error::{json_response, ApiError, HttpResponse};
use super::hint_gate::{client_address, HintGate};
use super::order::form_pairs;
use crate::access::counters::{Refusal, RefusalCounters};
use crate::journal::{
    HintPolicy, Journal, JournalError, NewNotification, NotificationSource, StoreOutcome,
    Verification,
};
use crate::mercadopago::signature::{self, Freshness, SignedRequest};
use crate::metrics::Metrics;

/// Topics the processor understands; anything else is acknowledged and ignored, so
/// Mercado Pago does not retry it forever.
pub const TOPICS: [&str; 3] = ["payment", "merchant_order", "topic_merchant_order_wh"];

/// What the notification endpoint needs.
pub struct NotificationSettings {
    /// Webhook secrets (two during a rotation).
    pub secrets: Vec<String>,
    /// Accepted distance of a signature's `ts` from now.
    pub tolerance: Duration,
    /// Accept IPN deliveries and unsigned webhooks as hints.
    pub accept_unsigned: bool,
}

/// The endpoint's state.
pub struct NotificationEndpoint {
    /// Settings.
    pub settings: NotificationSettings,
    /// Where deliveries are stored.
    pub journal: Journal,
    /// Wakes the processor.
    pub wake: Arc<Notify>,
    /// Limits unverified hints per source and overall.
    pub gate: Mutex<HintGate>,
    /// Bounds on stored hints.
    pub hint_policy: HintPolicy,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Refusal counters.
    pub counters: Arc<RefusalCounters>,
    /// Deliveries by outcome.
    pub metrics: Arc<Metrics>,
}

/// A delivery as parsed from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// IPN or webhook.
    pub source: NotificationSource,
    /// Topic or type.
    pub topic: String,
    /// Resource id.
    pub resource_id: String,
    /// `data.id` as it appeared in the query (for the signature manifest).
    pub query_data_id: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Resource ids are numbers today (payments, merchant orders) and short alphanumeric
/// strings for newer APIs; anything else is not a Mercado Pago id.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The trailing id of a resource URL (`https://api.mercadolibre.com/merchant_orders/123`).
fn id_from_resource(resource: &str) -> &str {
    resource
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(resource)
}

/// Sorts a request into a delivery.
pub fn parse_delivery(query: Option<&str>, body: &[u8]) -> Result<Delivery, ApiError> {
    let pairs = form_pairs(query.unwrap_or_default());
    let find = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let body: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(body).map_err(|_| bad("body is not JSON"))?)
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let delivery = if let Some(kind) = find("type") {
        let query_data_id = find("data.id");
        let resource = query_data_id
            .clone()
            .or_else(|| body.as_ref().and_then(|b| text(&b["data"]["id"])))
            .ok_or_else(|| bad("webhook without data.id"))?;
        Delivery {
            source: NotificationSource::Webhook,
            topic: kind,
            resource_id: resource,
            query_data_id,
        }
    } else if let Some(topic) =
        find("topic").or_else(|| body.as_ref().and_then(|b| text(&b["topic"])))
    {
        let resource = find("id")
            .or_else(|| {
                body.as_ref()
                    .and_then(|b| text(&b["resource"]))
                    .map(|r| id_from_resource(&r).to_owned())
            })
            .ok_or_else(|| bad("IPN without id"))?;
        Delivery {
            source: NotificationSource::Ipn,
            topic,
            resource_id: resource,
            query_data_id: None,
        }
    } else if let Some(kind) = body.as_ref().and_then(|b| text(&b["type"])) {
        let resource = body
            .as_ref()
            .and_then(|b| text(&b["data"]["id"]))
            .ok_or_else(|| bad("webhook without data.id"))?;
        Delivery {
            source: NotificationSource::Webhook,
            topic: kind,
            resource_id: resource,
            query_data_id: None,
        }
    } else {
        return Err(bad("neither topic/id nor type/data.id given"));
    };
    if !valid_id(&delivery.resource_id) {
        return Err(bad("malformed resource id"));
    }
    if delivery.topic.len() > 64 {
        return Err(bad("malformed topic"));
    }
    Ok(delivery)
}

impl NotificationEndpoint {
    /// Handles one delivery from `peer`, counting its outcome.
    pub async fn handle(
        &self,
        request: &Request<Bytes>,
        peer: SocketAddr,
    ) -> Result<HttpResponse, ApiError> {
        let mut outcome = "invalid";
        let answer = self.receive(request, peer, &mut outcome).await;
        self.metrics.notification(outcome);
        answer
    }

    /// Handles one delivery; `outcome` is set to what became of it.
    async fn receive(
        &self,
        request: &Request<Bytes>,
        peer: SocketAddr,
        outcome: &mut &'static str,
    ) -> Result<HttpResponse, ApiError> {
        if request.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed("POST"));
        }
        let delivery = parse_delivery(request.uri().query(), request.body())?;
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("x-request-id");
        let signature_header = header("x-signature");
        let verified = match (delivery.source, &signature_header) {
            (NotificationSource::Webhook, Some(value)) => {
                let signed = SignedRequest {
                    x_signature: Some(value),
                    x_request_id: request_id.as_deref(),
                    data_id: delivery.query_data_id.as_deref(),
                };
                let freshness = Freshness {
                    now: jiff::Timestamp::now(),
                    tolerance: self.settings.tolerance,
                };
                match signature::verify(&signed, &self.settings.secrets, Some(freshness)) {
                    Ok(_) => Verification::Valid,
                    Err(e) => {
                        tracing::warn!(reason = ?e, request_id = ?request_id,
                            resource = %delivery.resource_id, "notification signature refused");
                        *outcome = "bad_signature";
                        return Ok(unauthorized(&format!("{e:?}")));
                    }
                }
            }
            (NotificationSource::Webhook, None) => Verification::Unsigned,
            (NotificationSource::Ipn, _) => Verification::Ipn,
        };
        if verified != Verification::Valid {
            if !self.settings.accept_unsigned {
                *outcome = "unsigned_refused";
                return Ok(unauthorized("MissingSignatureHeader"));
            }
            let source = client_address(peer, request.headers(), &self.trusted_proxies);
            let allowed = self
                .gate
                .lock()
                .map(|mut gate| gate.allow(source, crate::lines::now()))
                .unwrap_or(false);
            if !allowed {
                self.counters.bump(Refusal::HintRateLimited);
                *outcome = "rate_limited";
                let mut response = json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({ "error": { "type": "rate_limited", "message": "too many unverified notifications" } }),
                );
                response.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    hyper::header::HeaderValue::from_static("60"),
                );
                return Ok(response);
            }
        }
        if !TOPICS.contains(&delivery.topic.as_str()) {
            tracing::debug!(topic = %delivery.topic, "notification topic ignored");
            *outcome = "ignored";
            return Ok(json_response(
                StatusCode::OK,
                &json!({ "status": "ignored" }),
            ));
        }
        let body = String::from_utf8_lossy(request.body()).into_owned();
        let new = NewNotification {
            received_at: jiff::Timestamp::now(),
            source: delivery.source,
            topic: delivery.topic.clone(),
            resource_id: delivery.resource_id.clone(),
            request_id,
            query: request.uri().query().unwrap_or_default().to_owned(),
            body: (!body.is_empty()).then_some(body),
            verified,
        };
        // Hints are kept without body, deduplicated by topic and id, and bounded.
        let stored = if verified == Verification::Valid {
            self.journal.store_notification(new).await
        } else {
            self.journal.store_hint(new, self.hint_policy).await
        };
        *outcome = "unavailable";
        let stored = stored.map_err(|e| {
            if matches!(e, JournalError::HintsFull) {
                self.counters.bump(Refusal::HintStoreFull);
                tracing::warn!("unverified notification refused: the hint store is full");
            } else {
                // Mercado Pago retries on a non-2xx answer; nothing is lost.
                tracing::error!(error = %e, "cannot store a notification");
            }
            ApiError::Unavailable("cannot store the notification now".to_owned())
        })?;
        tracing::info!(topic = %delivery.topic, resource = %delivery.resource_id,
            source = delivery.source.as_str(), verified = verified.as_str(),
            outcome = ?stored, "notification stored");
        *outcome = match stored {
            StoreOutcome::Inserted(_) => "stored",
            StoreOutcome::Duplicate(_) => "duplicate",
            StoreOutcome::Rearmed(_) => "rearmed",
        };
        if !matches!(stored, StoreOutcome::Duplicate(_)) {
            self.wake.notify_one();
        }
        Ok(json_response(
            StatusCode::OK,
            &json!({ "status": "received" }),
        ))
    }
}

fn unauthorized(reason: &str) -> HttpResponse {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": { "type": "unauthorized", "message": reason } }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipn_and_webhook_forms() {
        let ipn = parse_delivery(Some("topic=payment&id=123"), b"").expect("ipn");
        assert_eq!(ipn.source, NotificationSource::Ipn);
        assert_eq!(
            (ipn.topic.as_str(), ipn.resource_id.as_str()),
            ("payment", "123")
        );
        let mo = parse_delivery(
            Some("topic=merchant_order"),
            br#"{"resource":"https://api.mercadolibre.com/merchant_orders/777","topic":"merchant_order"}"#,
        )
        .expect("merchant order");
        assert_eq!(mo.resource_id, "777");
        let hook = parse_delivery(
            Some("data.id=456&type=payment"),
            br#"{"type":"payment","data":{"id":"456"},"action":"payment.created"}"#,
        )
        .expect("webhook");
        assert_eq!(hook.source, NotificationSource::Webhook);
        assert_eq!(hook.query_data_id.as_deref(), Some("456"));
        let body_only =
            parse_delivery(None, br#"{"type":"payment","data":{"id":789}}"#).expect("body only");
        assert_eq!(body_only.resource_id, "789");
        assert_eq!(body_only.query_data_id, None);
    }

    #[test]
    fn refuses_garbage() {
        for (query, body) in [
            (None, &b""[..]),
            (Some("topic=payment"), b""),
            (Some("type=payment"), b""),
            (Some("topic=payment&id=1%20OR%201"), b""),
            (Some("topic=payment&id=1"), b"{not json"),
            (Some("x=1"), b"[]"),
        ] {
            assert!(parse_delivery(query, body).is_err(), "{query:?}");
        }
    }
}
