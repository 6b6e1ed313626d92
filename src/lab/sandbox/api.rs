//! The sandbox's HTTP side: the accept loop and the fake Mercado Pago API routes.
//!
//! Routes (docs/mercadopago.md §5, §8–§11, §14–§15), all JSON:
//!
//! | route | answer |
//! |---|---|
//! | `POST /oauth/token` (form or JSON, no auth) | 200 token, 400 `invalid_client` |
//! | `POST /users/test_user` | 201 test user |
//! | `POST /pos`, `GET /pos`, `GET/PUT/DELETE /pos/{id}` | §5 codes, 409 duplicate |
//! | `POST /checkout/preferences` | 201, id `<collector_id>-<uuid>`; same key, same preference |
//! | `GET /v1/payments/{id}`, `GET /v1/payments/search` | payment, paged search |
//! | `GET /merchant_orders/{id}` | merchant order |
//! | `POST/GET /v1/payments/{id}/refunds` | 201 refund (key required), list |
//!
//! Auth is `Authorization: Bearer <token>` or `?access_token=`; another token is 401.
//! The API knobs (slow, failing) apply before routing; a stalled POST is carried out and
//! its answer held until the sandbox shuts down. `/_sandbox/…` goes to `control.rs`.
//! This module owns HTTP plumbing only; the rules live in `state.rs` and `pos.rs`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::mercadopago::query;
use crate::mercadopago::types::{OAuthToken, PreferenceRequest, RefundRequest};

use super::state::ApiFailure;
use super::{control, Shared};

/// Largest request body the sandbox reads.
const MAX_BODY: usize = 1024 * 1024;

/// Accepts connections until shutdown; each connection drains gracefully on shutdown.
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, _) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: log, pause briefly, keep serving.
                tracing::warn!(error = %e, "sandbox accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn_shared = shared.clone();
        shared.tracker.spawn(async move {
            let service_shared = conn_shared.clone();
            let service = service_fn(move |req| handle(service_shared.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "sandbox connection ended with an error");
                    }
                }
                _ = conn_shared.shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

/// A parsed request: method, path segments, query pairs, headers of interest, body.
pub(super) struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub bearer: Option<String>,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl ApiRequest {
    fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The body as JSON; an empty body is `Value::Null`.
    pub fn json(&self) -> Result<Value, ApiFailure> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiFailure::bad_request("bad_request", format!("Invalid JSON: {e}")))
    }
}

/// A JSON answer.
pub(super) fn json<T: Serialize>(status: u16, value: &T) -> Response<Full<Bytes>> {
    let (status, body) = match serde_json::to_vec(value) {
        Ok(body) => (status, body),
        Err(_) => (
            500,
            br#"{"message":"encoding failed","error":"internal_error","status":500}"#.to_vec(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// MP's error answer.
pub(super) fn failure(f: &ApiFailure) -> Response<Full<Bytes>> {
    json(f.status, &f.body())
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(failure(&ApiFailure::new(
                413,
                "payload_too_large",
                "The body is too large or was cut short",
            )))
        }
    };
    let Some(query) = query::parse(parts.uri.query().unwrap_or("")) else {
        return Ok(failure(&ApiFailure::bad_request(
            "bad_request",
            "Malformed query string",
        )));
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let bearer = header(AUTHORIZATION.as_str()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    let req = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query,
        bearer,
        idempotency_key: header("x-idempotency-key"),
        content_type: header(CONTENT_TYPE.as_str()),
        body,
    };
    if req.path == "/_sandbox" || req.path.starts_with("/_sandbox/") {
        return Ok(control::handle(&shared, req).await);
    }
    Ok(api(&shared, &req).await)
}

/// Applies the slow and failing knobs; `Some` is the failure to answer.
async fn knobs(shared: &Shared) -> Option<Response<Full<Bytes>>> {
    let slow = {
        let mut state = shared.lock();
        let k = &mut state.knobs;
        if k.api_slow_next > 0 {
            k.api_slow_next -= 1;
            Some(Duration::from_millis(k.api_slow_ms))
        } else {
            None
        }
    };
    if let Some(delay) = slow {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.shutdown.cancelled() => {}
        }
    }
    let mut state = shared.lock();
    let k = &mut state.knobs;
    if k.api_fail_next == 0 {
        return None;
    }
    k.api_fail_next -= 1;
    let status = k.api_fail_status;
    let mut resp = failure(&ApiFailure::new(
        status,
        match status {
            429 => "too_many_requests",
            401 => "unauthorized",
            403 => "forbidden",
            _ => "internal_error",
        },
        "Failure injected by the sandbox",
    ));
    if let (429 | 503, Some(secs)) = (status, k.api_retry_after_secs) {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    Some(resp)
}

fn authorized(shared: &Shared, req: &ApiRequest) -> bool {
    let token = req.bearer.as_deref().or_else(|| {
        req.query
            .iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.as_str())
    });
    token == Some(shared.settings.access_token.expose())
}

fn parse_id(segment: &str) -> Result<i64, ApiFailure> {
    segment
        .parse()
        .map_err(|_| ApiFailure::not_found("not_found", format!("Resource not found: {segment}")))
}

async fn api(shared: &Shared, req: &ApiRequest) -> Response<Full<Bytes>> {
    if let Some(resp) = knobs(shared).await {
        return resp;
    }
    let segs = req.segments();
    if req.method == Method::POST && segs == ["oauth", "token"] {
        return match oauth(shared, req) {
            Ok(token) => json(200, &token),
            Err(f) => failure(&f),
        };
    }
    if !authorized(shared, req) {
        return failure(&ApiFailure::new(
            401,
            "unauthorized",
            "invalid access token",
        ));
    }
    let stall = req.method == Method::POST && {
        let mut state = shared.lock();
        let k = &mut state.knobs;
        let stall = k.stall_posts_next > 0;
        k.stall_posts_next = k.stall_posts_next.saturating_sub(1);
        stall
    };
    let resp = match route(shared, req, &segs) {
        Ok(resp) => resp,
        Err(f) => failure(&f),
    };
    if stall {
        // Carried out, but the caller never hears: as a station that crashed meanwhile.
        shared.shutdown.cancelled().await;
    }
    resp
}

fn oauth(shared: &Shared, req: &ApiRequest) -> Result<OAuthToken, ApiFailure> {
    let is_json = req
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"));
    let fields: Vec<(String, String)> = if is_json {
        match req.json()? {
            Value::Object(o) => o
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            _ => Vec::new(),
        }
    } else {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| ApiFailure::bad_request("invalid_request", "body is not UTF-8"))?;
        query::parse(text)
            .ok_or_else(|| ApiFailure::bad_request("invalid_request", "malformed form"))?
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("grant_type") != Some("client_credentials") {
        return Err(ApiFailure::bad_request(
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        ));
    }
    let s = &shared.settings;
    if field("client_id") != Some(s.client_id.as_str())
        || field("client_secret") != Some(s.client_secret.expose())
    {
        return Err(ApiFailure::bad_request(
            "invalid_client",
            "invalid client_id or client_secret",
        ));
    }
    Ok(OAuthToken {
        access_token: s.access_token.expose().to_owned(),
        token_type: Some("bearer".to_owned()),
        expires_in: Some(15_552_000),
        scope: Some("offline_access read write".to_owned()),
        user_id: Some(shared.collector_id),
        live_mode: Some(s.live_mode),
    })
}

fn route(
    shared: &Shared,
    req: &ApiRequest,
    segs: &[&str],
) -> Result<Response<Full<Bytes>>, ApiFailure> {
    let now = shared.now();
    let m = &req.method;
    let mut state = shared.lock();
    let store = &mut state.store;
    Ok(match segs {
        ["users", "test_user"] if m == Method::POST => {
            json(201, &store.create_test_user(&req.json()?)?)
        }
        ["pos"] if m == Method::POST => json(200, &store.pos.create(&req.json()?, now)?),
        ["pos"] if m == Method::GET => json(200, &store.pos.list(&req.query)?),
        ["pos", id] if m == Method::GET => json(200, store.pos.get(parse_id(id)?)?),
        ["pos", id] if m == Method::PUT => {
            json(200, &store.pos.update(parse_id(id)?, &req.json()?, now)?)
        }
        ["pos", id] if m == Method::DELETE => {
            store.pos.delete(parse_id(id)?)?;
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
        ["checkout", "preferences"] if m == Method::POST => {
            let request: PreferenceRequest = serde_json::from_value(req.json()?).map_err(|e| {
                ApiFailure::bad_request("bad_request", format!("Invalid preference: {e}"))
            })?;
            let key = req
                .idempotency_key
                .as_deref()
                .filter(|k| !k.trim().is_empty());
            json(201, &store.create_preference(request, key, now)?)
        }
        ["v1", "payments", "search"] if m == Method::GET => {
            json(200, &store.search_payments(&req.query)?)
        }
        ["v1", "payments", id] if m == Method::GET => json(200, store.payment(parse_id(id)?)?),
        ["merchant_orders", id] if m == Method::GET => {
            json(200, store.merchant_order(parse_id(id)?)?)
        }
        ["v1", "payments", id, "refunds"] if m == Method::GET => {
            json(200, &store.refunds(parse_id(id)?)?)
        }
        ["v1", "payments", id, "refunds"] if m == Method::POST => {
            let key = req
                .idempotency_key
                .as_deref()
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| {
                    ApiFailure::bad_request("bad_request", "X-Idempotency-Key is required")
                })?;
            let amount: Option<Decimal> = match req.json()? {
                Value::Null => None,
                body => {
                    let r: RefundRequest = serde_json::from_value(body).map_err(|e| {
                        ApiFailure::bad_request(
                            "invalid_amount",
                            format!("Invalid refund body: {e}"),
                        )
                    })?;
                    Some(r.amount)
                }
            };
            json(201, &store.refund(parse_id(id)?, amount, key, now)?)
        }
        _ => {
            return Err(ApiFailure::not_found(
                "not_found",
                format!("No route for {} {}", req.method, req.path),
            ))
        }
    })
}
