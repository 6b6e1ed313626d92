//! A small client for the admin API, used by the CLI (`forecourtd status`,
//! `forecourtd authorize …`). The CLI changes state only through the admin API, exactly as
//! an attendant console would, and proves who it is with a service token (on the box, the
//! one the daemon writes to `cli.token` next to the journal).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::secret::Secret;

/// How long the CLI waits for the daemon: a little longer than the daemon's own bound on
/// an admin request, so the daemon's answer (even a timeout) always arrives.
const TIMEOUT: Duration = Duration::from_secs(125);

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    /// The URL could not be built.
    #[error("bad admin URL {0:?}")]
    BadUrl(String),
    /// The daemon could not be reached.
    #[error("cannot reach the daemon at {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The token file could not be read.
    #[error("cannot read the token file {path}: {reason}")]
    Token {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The daemon answered with something that is not JSON.
    #[error("the daemon answered {status} with a body that is not JSON")]
    NotJson {
        /// The status.
        status: StatusCode,
    },
}

/// Reads a service token from `path` (its text, surrounding white space ignored).
pub fn read_token_file(path: &std::path::Path) -> Result<Secret, AdminClientError> {
    std::fs::read_to_string(path)
        .map(|text| Secret::new(text.trim()))
        .map_err(|e| AdminClientError::Token {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Calls the admin API at `base` (e.g. `http://127.0.0.1:8081`) without credentials and
/// returns the status and JSON body.
pub async fn call(
    base: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), AdminClientError> {
    call_as(base, None, method, path, body).await
}

/// Calls the admin API at `base` with `token` as the bearer and returns the status and
/// JSON body.
pub async fn call_as(
    base: &str,
    token: Option<&Secret>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), AdminClientError> {
    let (status, bytes) = call_raw_as(base, token, method, path, body).await?;
    let value = serde_json::from_slice(&bytes).map_err(|_| AdminClientError::NotJson { status })?;
    Ok((status, value))
}

/// Calls the admin API at `base` with `token` as the bearer and returns the status and
/// the body as it came (a CSV report, say).
pub async fn call_raw_as(
    base: &str,
    token: Option<&Secret>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Bytes), AdminClientError> {
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| AdminClientError::BadUrl(url.clone()))?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(
            hyper::header::AUTHORIZATION,
            format!("Bearer {}", token.expose()),
        );
    }
    let request = request
        .body(Full::new(Bytes::from(payload)))
        .map_err(|_| AdminClientError::BadUrl(url.clone()))?;
    let unreachable = |reason: String| AdminClientError::Unreachable {
        url: url.clone(),
        reason,
    };
    // Loading the TLS roots costs more than a loopback call: only for an https URL.
    let answer = if url.starts_with("https:") {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_only()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        tokio::time::timeout(TIMEOUT, client.request(request)).await
    } else {
        let client = Client::builder(TokioExecutor::new()).build_http();
        tokio::time::timeout(TIMEOUT, client.request(request)).await
    };
    let response = answer
        .map_err(|_| unreachable("timed out".to_owned()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    let bytes = tokio::time::timeout(TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| unreachable("timed out reading the answer".to_owned()))?
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    Ok((status, bytes))
}

/// One line about Mercado Pago from `GET /api/status`, when it is failing: what fails
/// and since when. `None` while it works (or is not configured).
pub fn mercadopago_line(status: &Value) -> Option<String> {
    let mp = &status["mercadopago"];
    if mp["healthy"] != Value::Bool(false) {
        return None;
    }
    let failure = &mp["last_failure"];
    let kind = match failure["kind"].as_str() {
        Some("credentials") => "refuses the access token (expired or rotated?)",
        _ => "cannot be reached",
    };
    let since = mp["failing_since"].as_str().unwrap_or("?");
    let last_success = mp["last_success"].as_str().unwrap_or("never");
    Some(format!(
        "MERCADO PAGO: {kind} since {since}; last success {last_success}; {} calls failed; payments wait\n",
        mp["failures"]
    ))
}

/// Renders `GET /api/positions` as a table for people.
pub fn positions_table(positions: &Value) -> String {
    let mut out = String::from(
        "POS  LINE        PUMP            ORDER        NOZZLE  RUNNING              PAYABLE\n",
    );
    for p in positions.as_array().map(Vec::as_slice).unwrap_or_default() {
        let text = |v: &Value| match v {
            Value::Null => "-".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let running = match &p["running"] {
            Value::Null => "-".to_owned(),
            r => format!("{} / {}", text(&r["volume"]), text(&r["amount"])),
        };
        let payable = p["payable"]
            .as_array()
            .map(|sales| {
                sales
                    .iter()
                    .map(|s| format!("{} ${}", text(&s["external_reference"]), text(&s["amount"])))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_owned());
        out.push_str(&format!(
            "{:<4} {:<11} {:<15} {:<12} {:<7} {:<20} {}\n",
            text(&p["position"]),
            text(&p["line"]),
            text(&p["pump_status"]),
            text(&p["order_state"]),
            text(&p["nozzle_out"]),
            running,
            payable
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_mercadopago_line_shows_only_trouble() {
        assert_eq!(mercadopago_line(&json!({})), None);
        assert_eq!(
            mercadopago_line(&json!({ "mercadopago": { "configured": false } })),
            None
        );
        assert_eq!(
            mercadopago_line(&json!({ "mercadopago": { "healthy": true } })),
            None
        );
        let line = mercadopago_line(&json!({ "mercadopago": {
            "healthy": false, "failing_since": "2026-12-03T10:00:00Z", "failures": 7,
            "last_success": null, "last_failure": { "kind": "credentials", "status": 401 } } }))
        .expect("a line");
        assert!(line.contains("access token"), "{line}");
        assert!(line.contains("2026-12-03T10:00:00Z"), "{line}");
        assert!(line.contains("never"), "{line}");
    }
}
