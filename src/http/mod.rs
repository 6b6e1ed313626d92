//! HTTP: the public listener (Mercado Pago's order call, later its notifications) and the
//! admin listener (attendants and operators).
//!
//! Both share one accept loop ([`server`]) with bounded requests; errors become answers in
//! one place ([`error`]). Handlers read forecourt snapshots and send requests to the
//! actor; they never hold a lock or wait on a pump.

pub mod admin;
pub mod admin_access;
pub mod admin_capture;
pub mod admin_console;
pub mod admin_dispatch;
pub mod admin_prices;
pub mod admin_sales;
pub mod admin_shifts;
pub mod alerts;
pub mod cashiers;
pub mod error;
pub mod events;
pub mod grade_limit;
pub mod guard;
pub mod head;
pub mod hint_gate;
pub mod notifications;
pub mod order;
pub mod quiet;
pub mod ready;
pub mod routes;
pub mod server;
pub mod tls;
pub mod write_timeout;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, Request};

use crate::forecourt::ForecourtHandle;
use crate::lines::now;
use crate::metrics::Metrics;
use crate::payments::preference::Preferences;
use crate::payments::served::ServedTracker;
use error::ApiError;
use ready::Ready;
use server::{Handler, HandlerFuture};

/// Path of Mercado Pago's notifications on the public listener.
pub const NOTIFICATIONS_PATH: &str = "/mp/notifications";

/// The public listener's routes.
pub struct PublicHandler {
    /// The order endpoint's path (`/pay-mp` by default).
    pub order_path: String,
    /// Settings of the order body.
    pub order: Arc<order::OrderSettings>,
    /// The forecourt.
    pub forecourt: ForecourtHandle,
    /// The notification endpoint.
    pub notifications: Arc<notifications::NotificationEndpoint>,
    /// Told when a sale is served; it journals the first serving of each sale.
    pub served: ServedTracker,
    /// Preference mode (seed 000): the answer is a preference id instead of the order.
    pub preferences: Option<Preferences>,
    /// Order answers by kind.
    pub metrics: Arc<Metrics>,
}

impl Handler for PublicHandler {
    fn ready(&self, method: &Method, target: &str, peer: SocketAddr) -> Option<Ready> {
        // Preference mode makes a preference the first time a sale is asked for.
        if self.preferences.is_some() || target.contains('#') {
            return None;
        }
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        if path != self.order_path {
            return None;
        }
        let snapshot = self.forecourt.snapshot();
        // Errors are answered through `handle`, which counts them.
        let answer = order::answer(method, query, &snapshot, &self.order, now()).ok()?;
        log_order_call(&answer, peer, query, None);
        self.count_served(&answer);
        Some(Ready {
            status: hyper::StatusCode::from_u16(answer.status).ok()?,
            body: answer.body.clone(),
        })
    }

    fn handle(&self, request: Request<Bytes>, peer: SocketAddr) -> HandlerFuture {
        if request.uri().path() == NOTIFICATIONS_PATH {
            let endpoint = self.notifications.clone();
            return Box::pin(async move {
                endpoint
                    .handle(&request, peer)
                    .await
                    .unwrap_or_else(ApiError::into_response)
            });
        }
        if request.uri().path() != self.order_path {
            return Box::pin(async { ApiError::NotFound.into_response() });
        }
        let metrics = self.metrics.clone();
        let snapshot = self.forecourt.snapshot();
        let answer = match order::handle(&request, &snapshot, &self.order, now()) {
            Ok(answer) => answer,
            Err(error) => {
                metrics.order_answer(error.label());
                return Box::pin(std::future::ready(error.into_response()));
            }
        };
        let user_agent = request.headers().get(hyper::header::USER_AGENT);
        log_order_call(&answer, peer, request.uri().query(), user_agent);
        let Some(preferences) = self.preferences.clone().filter(|_| answer.sale.is_some()) else {
            self.count_served(&answer);
            return Box::pin(std::future::ready(order::response(&answer)));
        };
        let sale_id = answer.sale;
        // Preference mode: the answer is the sale's preference id, made once per sale.
        let sale = snapshot
            .positions
            .values()
            .flat_map(|p| &p.payable)
            .find(|s| Some(s.id) == sale_id)
            .cloned();
        let served = self.served.clone();
        let settings = self.order.clone();
        Box::pin(async move {
            let Some(sale) = sale else {
                metrics.order_answer(answer.label);
                return order::response(&answer);
            };
            let title = order::item_title(&sale, &settings);
            match preferences.preference_for(&sale, title).await {
                Ok(id) => {
                    metrics.order_answer("preference");
                    served.record(sale.id, jiff::Timestamp::now());
                    error::json_response(
                        hyper::StatusCode::OK,
                        &serde_json::json!({ "preference_id": id }),
                    )
                }
                Err(e) => {
                    metrics.order_answer(error::OrderErrorKind::Timeout.as_str());
                    tracing::warn!(sale = sale.id, error = %e, "order call answered timeout");
                    ApiError::order(error::OrderErrorKind::Timeout, e.to_string()).into_response()
                }
            }
        })
    }
}

impl PublicHandler {
    /// Counts an order answer about to be sent, and records the serving of its sale.
    fn count_served(&self, answer: &crate::forecourt::answers::OrderAnswer) {
        self.metrics.order_answer(answer.label);
        if let Some(sale) = answer.sale {
            self.served.record(sale, jiff::Timestamp::now());
        }
    }
}

/// Logs an order call at debug level.
fn log_order_call(
    answer: &crate::forecourt::answers::OrderAnswer,
    peer: SocketAddr,
    query: Option<&str>,
    user_agent: Option<&hyper::header::HeaderValue>,
) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        // The query may carry the order token: only the location goes to the logs.
        let query = query.map(loggable_query);
        tracing::debug!(%peer, ?query, ?user_agent, status = answer.status, sale = ?answer.sale,
            "order call");
    }
}

/// The query of an order call as logs may show it: every parameter but `token`, whose
/// value is replaced, so the order token never reaches a log line.
fn loggable_query(query: &str) -> String {
    order::form_pairs(query)
        .into_iter()
        .map(|(k, v)| {
            if k.eq_ignore_ascii_case("token") {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The admin listener's routes.
pub struct AdminHandler {
    /// What the admin API works with.
    pub context: admin::AdminContext,
}

impl Handler for AdminHandler {
    fn handle(&self, request: Request<Bytes>, peer: SocketAddr) -> HandlerFuture {
        let context = self.context.clone();
        Box::pin(async move { admin::handle(&context, request, peer, now()).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_token_never_reaches_the_log() {
        let shown = loggable_query("apies=29&pos=3&token=s3cr3t-value&TOKEN=x");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(shown, "apies=29&pos=3&token=***&TOKEN=***");
    }
}
