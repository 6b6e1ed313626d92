//! The one place where errors become HTTP answers.
//!
//! Every handler returns `Result<Response, ApiError>`; this module maps each error to its
//! status code and JSON body. The public listener speaks Mercado Pago's error shape
//! (`{"error":{"type":…,"message":…}}`, seeds 000 and 003) for everything, so the app and
//! any scanner get JSON, never an HTML page or an empty body.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde_json::json;

/// The body of every answer: whole bytes for nearly all, a stream for the event feed.
pub type Body = BoxBody<Bytes, Infallible>;

/// The response type of every handler.
pub type HttpResponse = Response<Body>;

/// A body of these bytes, whole.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Mercado Pago's order errors: 400 with `type` `invalid`, `timeout`, `in_process` or
    /// `unavailable` (docs/order-endpoint.md).
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
    /// No identity, or one that does not verify (401).
    Unauthorized(String),
    /// An identity whose role does not allow the request, or a refused origin, host or
    /// CSRF token (403).
    Forbidden(String),
    /// A state change whose body is not declared as JSON (415).
    NotJson,
    /// Too many attempts; try again after this many seconds (429).
    TooManyRequests(u64),
    /// A well-formed request naming something this resource cannot do (422), with its
    /// own `error.type` so a client can tell the cases apart.
    Unprocessable {
        /// The `error.type`, e.g. `grade_not_at_position`.
        kind: &'static str,
        /// What is wrong, for people.
        message: String,
    },
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

    /// The kind of refusal, as the order-answer metrics name it.
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::Order { kind, .. } => kind.as_str(),
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            _ => "other_error",
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Order { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
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
            ApiError::Unauthorized(m) => ("unauthorized", m.clone()),
            ApiError::Forbidden(m) => ("forbidden", m.clone()),
            ApiError::NotJson => (
                "unsupported_media_type",
                "a state change needs Content-Type: application/json".to_owned(),
            ),
            ApiError::TooManyRequests(_) => (
                "rate_limited",
                "too many attempts; try again later".to_owned(),
            ),
            ApiError::Unprocessable { kind, message } => (kind, message.clone()),
        }
    }

    /// The message people read.
    pub fn message(&self) -> String {
        self.kind_and_message().1
    }

    /// The JSON body: `{"error":{"type":…,"message":…}}`.
    pub fn body(&self) -> serde_json::Value {
        let (kind, message) = self.kind_and_message();
        json!({ "error": { "type": kind, "message": message } })
    }

    /// The HTTP answer.
    pub fn into_response(self) -> HttpResponse {
        let status = self.status();
        let mut response = json_response(status, &self.body());
        match self {
            ApiError::MethodNotAllowed(allowed) => {
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allowed));
            }
            ApiError::TooManyRequests(seconds) => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// A JSON answer with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    json_bytes_response(status, Bytes::from(body.to_string()))
}

/// A JSON answer from a body already serialized (a clone of `Bytes` copies nothing).
pub fn json_bytes_response(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
