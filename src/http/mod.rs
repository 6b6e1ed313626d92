//! HTTP: the public listener (Mercado Pago's order call, later its notifications) and the
//! admin listener (attendants and operators).
//!
//! Both share one accept loop ([`server`]) with bounded requests; errors become answers in
//! one place ([`error`]). Handlers read forecourt snapshots and send requests to the
//! actor; they never hold a lock or wait on a pump.

pub mod admin;
pub mod error;
pub mod order;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::Request;

use crate::forecourt::ForecourtHandle;
use crate::lines::now;
use error::ApiError;
use server::{Handler, HandlerFuture};

/// The public listener's routes.
pub struct PublicHandler {
    /// The order endpoint's path (`/pay-mp` by default).
    pub order_path: String,
    /// Settings of the order body.
    pub order: Arc<order::OrderSettings>,
    /// The forecourt.
    pub forecourt: ForecourtHandle,
}

impl Handler for PublicHandler {
    fn handle(&self, request: Request<Bytes>, peer: SocketAddr) -> HandlerFuture {
        let response = if request.uri().path() == self.order_path {
            let snapshot = self.forecourt.snapshot();
            let result = order::handle(&request, &snapshot, &self.order, now());
            let status = match &result {
                Ok(r) => r.status().as_u16(),
                Err(ApiError::Order { kind, .. }) => {
                    tracing::info!(%peer, query = ?request.uri().query(), answer = kind.as_str(),
                        user_agent = ?request.headers().get(hyper::header::USER_AGENT),
                        "order call");
                    400
                }
                Err(_) => 0,
            };
            if status == 200 {
                tracing::info!(%peer, query = ?request.uri().query(), "order call answered with the order");
            }
            result.unwrap_or_else(ApiError::into_response)
        } else {
            ApiError::NotFound.into_response()
        };
        Box::pin(async move { response })
    }
}

/// The admin listener's routes.
pub struct AdminHandler {
    /// What the admin API works with.
    pub context: admin::AdminContext,
}

impl Handler for AdminHandler {
    fn handle(&self, request: Request<Bytes>, _peer: SocketAddr) -> HandlerFuture {
        let context = self.context.clone();
        Box::pin(async move {
            admin::handle(&context, request, now())
                .await
                .unwrap_or_else(ApiError::into_response)
        })
    }
}
