//! The one place where errors become HTTP answers.
//!
//! Every handler returns `Result<Response, ApiError>`; this module maps each error to its
//! status code and JSON body. The public listener speaks Mercado Pago's error shape
//! (`{"error":{"type":…,"message":…}}`, seeds 000 and 003) for everything, so the app and
//! any scanner get JSON, never an HTML page or an empty body.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;

/// The response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Mercado Pago's order errors: 400 with `type` `invalid`, `timeout`, `in_process` or
    /// `unavailable` (DESIGN.md, the order endpoint's table).
    Order {
        /// The error type the app understands.
        kind: OrderErrorKind,
        /// Plain-text explanation for people reading logs.
        message: String,
    },
    /// A malformed request to the admin API.
    BadRequest(String),
    /// Unknown path.
    NotFound,
    /// Known path, wrong method; lists the allowed ones.
    MethodNotAllowed(&'static str),
    /// The request is valid but the state does not allow it (e.g. pump busy).
    Conflict(String),
    /// The body is larger than the listener accepts.
    PayloadTooLarge,
    /// A subsystem the request needs is down.
    Unavailable(String),
}

/// The `error.type` values of the order endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderErrorKind {
    /// Unknown location or malformed parameters.
    Invalid,
    /// The pump (or another needed system) could not be reached.
    Timeout,
    /// A dispatch is in process; the amount is not known yet.
    InProcess,
    /// Nothing in process or pending payment.
    Unavailable,
}

impl OrderErrorKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderErrorKind::Invalid => "invalid",
            OrderErrorKind::Timeout => "timeout",
            OrderErrorKind::InProcess => "in_process",
            OrderErrorKind::Unavailable => "unavailable",
        }
    }
}

impl ApiError {
    /// An order error.
    pub fn order(kind: OrderErrorKind, message: impl Into<String>) -> Self {
        ApiError::Order {
            kind,
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Order { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn kind_and_message(&self) -> (&str, String) {
        match self {
            ApiError::Order { kind, message } => (kind.as_str(), message.clone()),
            ApiError::BadRequest(m) => ("bad_request", m.clone()),
            ApiError::NotFound => ("not_found", "no such resource".to_owned()),
            ApiError::MethodNotAllowed(allowed) => (
                "method_not_allowed",
                format!("method not allowed; use {allowed}"),
            ),
            ApiError::Conflict(m) => ("conflict", m.clone()),
            ApiError::PayloadTooLarge => ("payload_too_large", "request body too large".to_owned()),
            ApiError::Unavailable(m) => ("unavailable", m.clone()),
        }
    }

    /// The HTTP answer.
    pub fn into_response(self) -> HttpResponse {
        let status = self.status();
        let (kind, message) = self.kind_and_message();
        let body = json!({ "error": { "type": kind, "message": message } });
        let mut response = json_response(status, &body);
        if let ApiError::MethodNotAllowed(allowed) = self {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
        }
        response
    }
}

/// A JSON answer with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
