//! The Mercado Pago API client (docs/mercadopago.md §8–§11, §13).
//!
//! What every request carries, as MP's SDKs send it:
//!
//! - `Authorization: Bearer <token>` (never `?access_token=`, so no URL ever holds it);
//! - `X-Request-Id: <uuid>`, one per call and kept across its retries, for MP's support;
//! - `X-Idempotency-Key` on every POST, created once per call (or given by the caller for
//!   refunds and preferences, derived from the journal) and reused on every retry, so a
//!   retried POST can never act twice.
//!
//! Every call's outcome goes to the shared [`MpHealth`] (status, logs).
//!
//! Each attempt is bounded by `request_timeout`. Transport errors, timeouts and
//! 429/500/502/503/504 are retried up to `max_retries` times with a doubling back-off,
//! or after `Retry-After` when MP gives one (both capped by `max_backoff`).
//!
//! HTTPS uses rustls with the `ring` provider and the Mozilla roots; plain `http://` is
//! accepted only for a loopback base URL (the local sandbox), so a token never crosses a
//! network in clear. This module never logs a token or a URL with one; errors name the
//! method and path only.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::health::{Failure, FailureKind, MpHealth};
use super::query;
use super::types::{
    ApiErrorBody, MerchantOrder, Payment, PaymentSearch, Pos, PosList, PosRequest, Preference,
    PreferenceRequest, Refund, RefundRequest,
};
use super::Secret;
use crate::metrics::ApiCalls;

/// Largest answer body read from MP; a larger one is a decode error, not an allocation.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The HTTP stack shared by the client and the sandbox's app side.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds a hyper client speaking HTTPS (rustls, ring, webpki roots) or plain HTTP.
pub(crate) fn http_client() -> Result<HttpClient, MpError> {
    let provider = rustls::crypto::ring::default_provider();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| MpError::Config(format!("TLS set-up failed: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

/// How the client reaches MP.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `https://api.mercadopago.com`, or the sandbox's `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The seller's access token.
    pub access_token: Secret,
    /// Bound on one attempt: connect, send and read the whole answer (SDK: 10 s).
    pub request_timeout: Duration,
    /// Retries after the first attempt (SDK: 3).
    pub max_retries: u32,
    /// First back-off; doubles on each retry (SDK: a constant 2 s).
    pub retry_backoff: Duration,
    /// Cap on any wait between attempts, `Retry-After` included.
    pub max_backoff: Duration,
    /// `User-Agent` sent.
    pub user_agent: String,
}

impl ClientSettings {
    /// Settings with MP's SDK defaults for the given base URL and token.
    pub fn new(base_url: impl Into<String>, access_token: Secret) -> Self {
        ClientSettings {
            base_url: base_url.into(),
            access_token,
            request_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            user_agent: concat!("forecourtd/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// An `X-Idempotency-Key`: the same key makes MP return the first result again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// A string that cannot be an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key is 1 to 64 visible ASCII characters without spaces")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// Wraps a key (e.g. one derived from the journal, so a retry after a crash reuses it).
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidIdempotencyKey> {
        let key = key.into();
        if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidIdempotencyKey);
        }
        Ok(IdempotencyKey(key))
    }

    /// A fresh UUID v4 key.
    pub fn random() -> Self {
        IdempotencyKey(uuid::Uuid::new_v4().to_string())
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What went wrong with a call. `endpoint` is `METHOD /path`, never a query or token.
#[derive(Debug, thiserror::Error)]
pub enum MpError {
    /// The client could not be built (bad base URL, TLS set-up).
    #[error("Mercado Pago client configuration: {0}")]
    Config(String),
    /// Connect, send or receive failed.
    #[error("{endpoint}: transport error")]
    Transport {
        /// The call.
        endpoint: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No complete answer within the per-attempt timeout.
    #[error("{endpoint}: no answer within {timeout:?}")]
    Timeout {
        /// The call.
        endpoint: String,
        /// The bound that passed.
        timeout: Duration,
    },
    /// MP answered with a non-2xx status.
    #[error("{endpoint}: HTTP {status}{}", body.as_ref().map(|b| format!(" ({b})")).unwrap_or_default())]
    Status {
        /// The call.
        endpoint: String,
        /// The status code.
        status: u16,
        /// MP's error body, when it sent one.
        body: Option<Box<ApiErrorBody>>,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// A 2xx answer that is not the expected JSON.
    #[error("{endpoint}: cannot decode the answer: {message}")]
    Decode {
        /// The call.
        endpoint: String,
        /// What did not fit.
        message: String,
    },
}

impl MpError {
    /// The HTTP status, for [`MpError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            MpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 404 (unknown payment, POS, merchant order).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// MP's error body, for [`MpError::Status`].
    pub fn api_error(&self) -> Option<&ApiErrorBody> {
        match self {
            MpError::Status { body, .. } => body.as_deref(),
            _ => None,
        }
    }

    /// True when Mercado Pago refuses the access token: 401, or 403 outside POS calls
    /// (there a 403 means the POS `url` host is not enabled, docs/mercadopago.md §5). Expired or
    /// rotated credentials: worth retrying later, never a reason to drop work.
    pub fn is_credentials(&self) -> bool {
        match self {
            MpError::Status { status: 401, .. } => true,
            MpError::Status {
                status: 403,
                endpoint,
                ..
            } => !endpoint.contains(" /pos"),
            _ => false,
        }
    }

    /// What this error says about Mercado Pago's health; `None` when the API answered
    /// (the call was wrong, not the API) or nothing was sent.
    fn health_kind(&self) -> Option<FailureKind> {
        if self.is_credentials() {
            Some(FailureKind::Credentials)
        } else if self.is_transient() {
            Some(FailureKind::Unavailable)
        } else {
            None
        }
    }

    /// True when another attempt may succeed (what the client itself retries).
    pub fn is_transient(&self) -> bool {
        match self {
            MpError::Transport { .. } | MpError::Timeout { .. } => true,
            MpError::Status { status, .. } => is_retryable_status(*status),
            MpError::Config(_) | MpError::Decode { .. } => false,
        }
    }
}

fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// The Mercado Pago API client. Cheap to clone; share one per access token.
#[derive(Clone)]
pub struct MercadoPagoClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    /// Base URL without a trailing slash.
    base: String,
    settings: ClientSettings,
    auth: HeaderValue,
    health: Arc<MpHealth>,
    calls: ApiCalls,
}

impl std::fmt::Debug for MercadoPagoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MercadoPagoClient")
            .field("base_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// One logical call: the same request id and idempotency key on every attempt.
struct Call {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Bytes>,
    idempotency_key: Option<IdempotencyKey>,
}

impl Call {
    fn get(path: String) -> Self {
        Call {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            idempotency_key: None,
        }
    }

    fn post(path: String, body: Option<Bytes>, key: IdempotencyKey) -> Self {
        Call {
            method: Method::POST,
            path,
            query: Vec::new(),
            body,
            idempotency_key: Some(key),
        }
    }

    fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl MercadoPagoClient {
    /// Builds a client. Refuses a base URL that is not `https://`, except `http://` to a
    /// loopback address.
    pub fn new(settings: ClientSettings) -> Result<Self, MpError> {
        let base = settings.base_url.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|_| MpError::Config("base URL is not a valid URL".to_owned()))?;
        let host = uri
            .host()
            .ok_or_else(|| MpError::Config("base URL has no host".to_owned()))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback_host(host) => {}
            Some("http") => {
                return Err(MpError::Config(
                    "plain http is only allowed to a loopback address (the sandbox)".to_owned(),
                ))
            }
            _ => return Err(MpError::Config("base URL must be https://".to_owned())),
        }
        if uri.query().is_some() {
            return Err(MpError::Config(
                "base URL must not carry a query".to_owned(),
            ));
        }
        if settings.access_token.is_empty() {
            return Err(MpError::Config("access token is empty".to_owned()));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.access_token.expose()))
            .map_err(|_| MpError::Config("access token is not a valid header value".to_owned()))?;
        auth.set_sensitive(true);
        Ok(MercadoPagoClient {
            inner: Arc::new(Inner {
                http: http_client()?,
                base,
                settings,
                auth,
                health: Arc::default(),
                calls: ApiCalls::default(),
            }),
        })
    }

    /// Mercado Pago's health as this client's calls found it.
    pub fn health(&self) -> &Arc<MpHealth> {
        &self.inner.health
    }

    /// Attempts of each endpoint by status, for `/metrics`.
    pub fn calls(&self) -> &ApiCalls {
        &self.inner.calls
    }

    /// Records the outcome of a call in [`Self::health`].
    fn observe<T>(&self, result: &Result<T, MpError>) {
        let now = jiff::Timestamp::now();
        match result {
            Ok(_) => self.inner.health.record_success(now),
            Err(MpError::Config(_)) => {}
            Err(e) => match e.health_kind() {
                Some(kind) => self.inner.health.record_failure(Failure {
                    kind,
                    status: e.status(),
                    at: now,
                    message: e.to_string(),
                }),
                None => self.inner.health.record_success(now),
            },
        }
    }

    /// `GET /v1/payments/{id}`.
    pub async fn get_payment(&self, id: i64) -> Result<Payment, MpError> {
        self.execute(Call::get(format!("/v1/payments/{id}"))).await
    }

    /// `GET /v1/payments/search?external_reference=…&sort=date_created&criteria=desc`:
    /// the newest payments first (the reconciler's query, docs/mercadopago.md §10).
    pub async fn search_payments_by_reference(
        &self,
        external_reference: &str,
    ) -> Result<PaymentSearch, MpError> {
        let mut call = Call::get("/v1/payments/search".to_owned());
        call.query = vec![
            ("external_reference", external_reference.to_owned()),
            ("sort", "date_created".to_owned()),
            ("criteria", "desc".to_owned()),
        ];
        self.execute(call).await
    }

    /// `GET /merchant_orders/{id}`.
    pub async fn get_merchant_order(&self, id: i64) -> Result<MerchantOrder, MpError> {
        self.execute(Call::get(format!("/merchant_orders/{id}")))
            .await
    }

    /// `POST /pos`: one POS (QR) per pump face.
    pub async fn create_pos(&self, pos: &PosRequest) -> Result<Pos, MpError> {
        let body = self.json_body("POST /pos", pos)?;
        self.execute(Call::post(
            "/pos".to_owned(),
            Some(body),
            IdempotencyKey::random(),
        ))
        .await
    }

    /// `GET /pos`, optionally filtered by `external_id`.
    pub async fn list_pos(&self, external_id: Option<&str>) -> Result<PosList, MpError> {
        let mut call = Call::get("/pos".to_owned());
        if let Some(id) = external_id {
            call.query.push(("external_id", id.to_owned()));
        }
        self.execute(call).await
    }

    /// `POST /checkout/preferences` (model A). The key is derived from the sale, so a
    /// creation retried after a crash returns the first preference instead of a second.
    pub async fn create_preference(
        &self,
        preference: &PreferenceRequest,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Preference, MpError> {
        let body = self.json_body("POST /checkout/preferences", preference)?;
        self.execute(Call::post(
            "/checkout/preferences".to_owned(),
            Some(body),
            idempotency_key.clone(),
        ))
        .await
    }

    /// `POST /v1/payments/{id}/refunds`: total with `amount: None` (no body), partial
    /// otherwise. The key makes a repeated refund return the first one.
    pub async fn refund(
        &self,
        payment_id: i64,
        amount: Option<Decimal>,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Refund, MpError> {
        let path = format!("/v1/payments/{payment_id}/refunds");
        let body = match amount {
            Some(amount) => Some(self.json_body("POST refunds", &RefundRequest { amount })?),
            None => None,
        };
        self.execute(Call::post(path, body, idempotency_key.clone()))
            .await
    }

    /// `GET /v1/payments/{id}/refunds`.
    pub async fn list_refunds(&self, payment_id: i64) -> Result<Vec<Refund>, MpError> {
        self.execute(Call::get(format!("/v1/payments/{payment_id}/refunds")))
            .await
    }

    fn json_body<T: Serialize>(&self, endpoint: &str, value: &T) -> Result<Bytes, MpError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| MpError::Decode {
                endpoint: endpoint.to_owned(),
                message: format!("cannot encode the request: {e}"),
            })
    }

    fn build_request(
        &self,
        call: &Call,
        request_id: &str,
    ) -> Result<Request<Full<Bytes>>, MpError> {
        let s = &self.inner.settings;
        let mut url = format!("{}{}", self.inner.base, call.path);
        if !call.query.is_empty() {
            url = query::append(&url, &call.query);
        }
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(url)
            .header(AUTHORIZATION, self.inner.auth.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, s.user_agent.as_str())
            .header("x-request-id", request_id);
        if let Some(key) = &call.idempotency_key {
            builder = builder.header("x-idempotency-key", key.as_str());
        }
        if call.body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        builder
            .body(Full::new(call.body.clone().unwrap_or_default()))
            .map_err(|e| {
                MpError::Config(format!(
                    "{}: cannot build the request: {e}",
                    call.endpoint()
                ))
            })
    }

    /// One attempt: send, then read the whole (bounded) body.
    async fn attempt(
        &self,
        request: Request<Full<Bytes>>,
        endpoint: &str,
    ) -> Result<(StatusCode, HeaderMap, Bytes), MpError> {
        let response = self
            .inner
            .http
            .request(request)
            .await
            .map_err(|e| MpError::Transport {
                endpoint: endpoint.to_owned(),
                source: Box::new(e),
            })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    // Retrying would fetch the same oversized answer again.
                    MpError::Decode {
                        endpoint: endpoint.to_owned(),
                        message: format!("the answer exceeds {MAX_RESPONSE_BYTES} bytes"),
                    }
                } else {
                    MpError::Transport {
                        endpoint: endpoint.to_owned(),
                        source: e,
                    }
                }
            })?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    async fn execute<T: DeserializeOwned>(&self, call: Call) -> Result<T, MpError> {
        let result = self.execute_with_retries(call).await;
        self.observe(&result);
        result
    }

    async fn execute_with_retries<T: DeserializeOwned>(&self, call: Call) -> Result<T, MpError> {
        let s = &self.inner.settings;
        let endpoint = call.endpoint();
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut attempt_no: u32 = 0;
        loop {
            let request = self.build_request(&call, &request_id)?;
            let outcome =
                tokio::time::timeout(s.request_timeout, self.attempt(request, &endpoint)).await;
            let status = match &outcome {
                Err(_) => "timeout",
                Ok(Err(MpError::Decode { .. })) => "too_large",
                Ok(Err(_)) => "transport",
                Ok(Ok((status, _, _))) => status.as_str(),
            };
            self.inner.calls.count(&endpoint, status);
            let error = match outcome {
                Err(_) => MpError::Timeout {
                    endpoint: endpoint.clone(),
                    timeout: s.request_timeout,
                },
                Ok(Err(e)) => e,
                Ok(Ok((status, _, body))) if status.is_success() => {
                    return serde_json::from_slice(&body).map_err(|e| MpError::Decode {
                        endpoint: endpoint.clone(),
                        message: e.to_string(),
                    });
                }
                Ok(Ok((status, headers, body))) => MpError::Status {
                    endpoint: endpoint.clone(),
                    status: status.as_u16(),
                    body: serde_json::from_slice(&body).ok().map(Box::new),
                    retry_after: retry_after(&headers),
                },
            };
            if !error.is_transient() || attempt_no >= s.max_retries {
                return Err(error);
            }
            let wait = match &error {
                MpError::Status {
                    retry_after: Some(after),
                    ..
                } => *after,
                _ => s
                    .retry_backoff
                    .saturating_mul(2u32.saturating_pow(attempt_no)),
            }
            .min(s.max_backoff);
            attempt_no += 1;
            tracing::warn!(
                %endpoint,
                request_id = %request_id,
                attempt = attempt_no,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "Mercado Pago call failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by MP and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(hyper::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base: &str) -> ClientSettings {
        ClientSettings::new(base, Secret::new("TEST-1-2-446566691"))
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://api.mercadopago.com",
            "http://127.0.0.1:8091",
            "http://localhost:1/",
            "http://[::1]:80",
        ] {
            assert!(MercadoPagoClient::new(settings(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.mercadopago.com",
            "ftp://127.0.0.1",
            "api.mercadopago.com",
            "https://api.mercadopago.com?access_token=x",
        ] {
            assert!(
                matches!(
                    MercadoPagoClient::new(settings(bad)),
                    Err(MpError::Config(_))
                ),
                "{bad}"
            );
        }
        let mut empty = settings("https://api.mercadopago.com");
        empty.access_token = Secret::new("");
        assert!(MercadoPagoClient::new(empty).is_err());
    }

    #[test]
    fn debug_output_holds_no_token() {
        let client = MercadoPagoClient::new(settings("http://127.0.0.1:9")).expect("builds");
        let text = format!("{client:?} {:?}", client.inner.settings);
        assert!(!text.contains("446566691"), "{text}");
    }

    #[test]
    fn idempotency_keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::new("sale-42-refund-1").is_ok());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("has space").is_err());
        assert!(IdempotencyKey::new("x".repeat(65)).is_err());
        assert_ne!(IdempotencyKey::random(), IdempotencyKey::random());
    }

    #[tokio::test]
    async fn an_oversized_answer_is_a_decode_error_not_retried() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("address");
        let calls = Arc::new(AtomicUsize::new(0));
        let served = calls.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served = served.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        served.fetch_add(1, Ordering::SeqCst);
                        let body = Bytes::from(vec![b' '; MAX_RESPONSE_BYTES + 1]);
                        async move {
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let client =
            MercadoPagoClient::new(settings(&format!("http://{addr}"))).expect("client builds");
        let e = client.get_payment(1).await.expect_err("too large");
        assert!(matches!(e, MpError::Decode { .. }), "{e:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn refused_tokens_are_told_from_other_refusals() {
        let status = |endpoint: &str, status| MpError::Status {
            endpoint: endpoint.to_owned(),
            status,
            body: None,
            retry_after: None,
        };
        assert!(status("GET /v1/payments/1", 401).is_credentials());
        assert!(status("POST /v1/payments/1/refunds", 403).is_credentials());
        // A 403 on POS creation is a host not enabled by Mercado Pago (§5).
        assert!(!status("POST /pos", 403).is_credentials());
        assert!(!status("GET /v1/payments/1", 404).is_credentials());
        assert_eq!(
            status("GET /v1/payments/1", 401).health_kind(),
            Some(FailureKind::Credentials)
        );
        assert_eq!(
            status("GET /v1/payments/1", 503).health_kind(),
            Some(FailureKind::Unavailable)
        );
        assert_eq!(status("GET /v1/payments/1", 404).health_kind(), None);
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(hyper::header::RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            hyper::header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
