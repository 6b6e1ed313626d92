//! Admin API for access itself: health, metrics, sign-in and sign-out, users, service
//! tokens and the audit trail.
//!
//! - `GET  /healthz`: `{"status":"ok"|"degraded"|"failing","problems":[…],"checks":{…}}`,
//!   503 when failing ([`crate::metrics::health`]); open.
//! - `GET  /metrics`: every family of [`crate::metrics`], OpenMetrics or classic text
//!   (see `routes::MetricsAccess` for who may read it).
//! - `POST /api/login` `{"user":"7","pin":"1234"}` or `{"user":"ana","password":"…"}`:
//!   sets the session cookie and answers the CSRF token the page must send back in
//!   `X-CSRF-Token`. Failures are throttled per user and per source (429).
//! - `POST /api/logout`, `GET /api/me` (with `csrf_token` for a browser session).
//! - `GET /api/users`, `POST /api/users` `{"name","role","pin"|"password",
//!   "display_name","document_type","document_number"}`, `POST /api/users/{name}/disable`,
//!   `/enable`, `/reset` `{"pin"|"password"}` (manager).
//! - `GET /api/tokens`, `POST /api/tokens` `{"name","role"}` (the token text is in the
//!   answer, once), `POST /api/tokens/{name}/revoke` (manager).
//! - `GET /api/audit[?limit=N&before=ID]` (manager), newest first.

use std::sync::OnceLock;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{json, Value};

use super::error::{json_response, ApiError, HttpResponse};
use super::guard;
use super::order::form_pairs;
use super::routes::Call;
use crate::access::counters::Refusal;
use crate::access::throttle::ThrottleLimit;
use crate::access::{check_secret, secrets, tokens, valid_name, Identity, Role};
use crate::journal::{JournalError, NewUser, User, UserChange};
use crate::metrics::health::{self, HealthInputs, HealthStatus};
use crate::metrics::{self, ScrapeState};

/// Failed sign-ins allowed per user name.
const PER_USER: ThrottleLimit = ThrottleLimit {
    failures: 5,
    window: Duration::from_secs(300),
};

/// Failed sign-ins allowed per source address.
const PER_SOURCE: ThrottleLimit = ThrottleLimit {
    failures: 20,
    window: Duration::from_secs(300),
};

fn journal_error(e: JournalError) -> ApiError {
    match e {
        JournalError::NameTaken(_) => ApiError::Conflict(e.to_string()),
        JournalError::UnknownUser(_) => ApiError::NotFound,
        other => ApiError::Unavailable(format!("journal: {other}")),
    }
}

fn body(call: &Call) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(call.request.body()) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(ApiError::BadRequest(
            "the body must be a JSON object".to_owned(),
        )),
    }
}

fn text<'v>(body: &'v Value, key: &str) -> Option<&'v str> {
    body.get(key).and_then(Value::as_str)
}

fn ok(body: Value) -> Result<HttpResponse, ApiError> {
    Ok(json_response(StatusCode::OK, &body))
}

/// Longest a health check or a scrape waits for the journal: a journal that cannot
/// take a request within this is as good as not writable.
const JOURNAL_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the verdict of [`crate::metrics::health`]; 503 when failing.
pub async fn health(call: Call) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
    let journal =
        match tokio::time::timeout(JOURNAL_CHECK_TIMEOUT, context.journal.probe_write()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {JOURNAL_CHECK_TIMEOUT:?}")),
        };
    let snapshot = context.forecourt.snapshot();
    let (status, body) = health::assess(&HealthInputs {
        journal,
        snapshot: &snapshot,
        now: call.now,
        wall_now: jiff::Timestamp::now(),
        mercadopago: context
            .payments
            .as_ref()
            .map(|p| p.client.health().snapshot()),
    });
    let code = match status {
        HealthStatus::Failing => StatusCode::SERVICE_UNAVAILABLE,
        HealthStatus::Ok | HealthStatus::Degraded => StatusCode::OK,
    };
    Ok(json_response(code, &body))
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it (Prometheus does), the
/// classic text format otherwise.
pub async fn metrics(call: Call) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
    let sales = tokio::time::timeout(JOURNAL_CHECK_TIMEOUT, context.journal.sale_counts())
        .await
        .ok()
        .and_then(Result::ok);
    let outbox = tokio::time::timeout(JOURNAL_CHECK_TIMEOUT, context.journal.outbox_state())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| metrics::OutboxScrape {
            events: b.events,
            oldest_age: b.oldest.map_or(std::time::Duration::ZERO, |t| {
                crate::chain::status::age(jiff::Timestamp::now(), t)
            }),
        });
    let state = ScrapeState {
        snapshot: Some(context.forecourt.snapshot()),
        sales,
        outbox,
    };
    let openmetrics = context.metrics.render(&state);
    let accept = call
        .request
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (text, content_type) = if metrics::wants_openmetrics(accept) {
        (openmetrics, metrics::OPENMETRICS_CONTENT_TYPE)
    } else {
        (
            metrics::classic_text(&openmetrics),
            metrics::CLASSIC_CONTENT_TYPE,
        )
    };
    let mut response = json_response(StatusCode::OK, &Value::Null);
    *response.body_mut() = super::error::full(text);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    Ok(response)
}

/// A hash no secret matches, verified against when the user does not exist so that a
/// wrong name takes as long as a wrong PIN.
fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY
        .get_or_init(|| secrets::hash(&secrets::random_hex()).unwrap_or_default())
        .clone()
}

/// `POST /api/login`.
pub async fn login(call: Call) -> Result<HttpResponse, ApiError> {
    let body = body(&call)?;
    let access = &call.context.access;
    let name = text(&body, "user").unwrap_or_default().to_owned();
    let secret = text(&body, "pin")
        .or_else(|| text(&body, "password"))
        .unwrap_or_default()
        .to_owned();
    let user_key = format!("user:{name}");
    let source_key = format!("source:{}", call.peer.ip());
    for (key, limit) in [(&user_key, PER_USER), (&source_key, PER_SOURCE)] {
        if let Err(wait) = access.throttle.check(key, limit, call.now) {
            access.counters.bump(Refusal::LoginThrottled);
            return Err(ApiError::TooManyRequests(wait.as_secs()));
        }
    }
    let user = call
        .context
        .journal
        .user(&name)
        .await
        .map_err(journal_error)?;
    let usable = user
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.secret_hash.clone());
    let matched = secrets::verify_blocking(secret, usable.clone().unwrap_or_else(decoy_hash)).await
        && usable.is_some();
    let user = match (matched, user) {
        (true, Some(user)) => user,
        _ => {
            access.throttle.failure(&user_key, PER_USER, call.now);
            access.throttle.failure(&source_key, PER_SOURCE, call.now);
            access.counters.bump(Refusal::LoginFailed);
            return Err(ApiError::Unauthorized("wrong user or secret".to_owned()));
        }
    };
    access.throttle.success(&user_key);
    let session = access.sessions.create(&user.name, user.role, call.now);
    let mut response = json_response(
        StatusCode::OK,
        &json!({
            "user": user.name,
            "role": user.role.as_str(),
            "display_name": user.display_name,
            "csrf_token": session.csrf,
            "idle_expiry_secs": access.sessions.settings().idle.as_secs(),
        }),
    );
    guard::session_cookie(
        &mut response,
        &access.guard,
        &session.id,
        access.sessions.settings().absolute.as_secs(),
    );
    Ok(response)
}

/// `POST /api/logout`.
pub async fn logout(call: Call) -> Result<HttpResponse, ApiError> {
    let access = &call.context.access;
    if let Some(id) = &call.session {
        access.sessions.end(id);
    }
    let mut response = json_response(StatusCode::OK, &json!({ "signed_out": true }));
    guard::clear_session_cookie(&mut response, &access.guard);
    Ok(response)
}

fn identity_json(identity: &Identity) -> Value {
    json!({
        "name": identity.name,
        "role": identity.role.as_str(),
        "via": match identity.proof {
            crate::access::Proof::Session => "session",
            crate::access::Proof::Token => "token",
        },
    })
}

/// `GET /api/me`. A browser session also gets its CSRF token back, so a reloaded page
/// can act without signing in again (only a same-origin page can read this answer).
pub async fn me(call: Call) -> Result<HttpResponse, ApiError> {
    let mut body = identity_json(call.caller()?);
    let csrf = call
        .session
        .as_deref()
        .and_then(|id| call.context.access.sessions.check(id, call.now))
        .map(|view| view.csrf);
    if let (Some(csrf), Value::Object(map)) = (csrf, &mut body) {
        map.insert("csrf_token".to_owned(), json!(csrf));
    }
    ok(body)
}

/// The API view of a user: never the hash.
pub fn user_json(user: &User) -> Value {
    json!({
        "name": user.name,
        "role": user.role.as_str(),
        "display_name": user.display_name,
        "document_type": user.document_type,
        "document_number": user.document_number,
        "disabled": user.disabled,
        "can_sign_in": user.secret_hash.is_some() && !user.disabled,
        "created_at": user.created_at.to_string(),
        "updated_at": user.updated_at.to_string(),
    })
}

/// `GET /api/users`.
pub async fn users(call: Call) -> Result<HttpResponse, ApiError> {
    let users = call.context.journal.users().await.map_err(journal_error)?;
    ok(Value::Array(users.iter().map(user_json).collect()))
}

fn secret_for(role: Role, body: &Value) -> Result<String, ApiError> {
    let secret = match role {
        Role::Attendant => text(body, "pin"),
        Role::Manager => text(body, "password"),
    }
    .unwrap_or_default();
    check_secret(role, secret).map_err(ApiError::BadRequest)?;
    Ok(secret.to_owned())
}

async fn hash(secret: String) -> Result<String, ApiError> {
    secrets::hash_blocking(secret)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

fn optional_field(
    body: &Value,
    key: &str,
    valid: fn(&str) -> bool,
) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if valid(s) => Ok(Some(s.clone())),
        _ => Err(ApiError::BadRequest(format!("{key} is not valid"))),
    }
}

/// `POST /api/users`.
pub async fn add_user(call: Call) -> Result<HttpResponse, ApiError> {
    let body = body(&call)?;
    let name = text(&body, "name").unwrap_or_default().to_owned();
    if !valid_name(&name) {
        return Err(ApiError::BadRequest(
            "name must be 1 to 64 letters, digits, '-' or '_'".to_owned(),
        ));
    }
    let role = text(&body, "role")
        .and_then(Role::parse)
        .ok_or_else(|| ApiError::BadRequest("role must be attendant or manager".to_owned()))?;
    let secret = secret_for(role, &body)?;
    let new = NewUser {
        name,
        role,
        display_name: optional_field(&body, "display_name", |s| s.chars().count() <= 64)?
            .unwrap_or_default(),
        secret_hash: Some(hash(secret).await?),
        document_type: optional_field(&body, "document_type", |s| {
            (1..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
        })?,
        document_number: optional_field(&body, "document_number", |s| {
            (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        })?,
    };
    let user = call
        .context
        .journal
        .add_user(new)
        .await
        .map_err(journal_error)?;
    reload_cashiers(&call).await;
    Ok(json_response(StatusCode::CREATED, &user_json(&user)))
}

async fn change_user(call: &Call, change: UserChange) -> Result<HttpResponse, ApiError> {
    let name = call.param(0);
    let user = call
        .context
        .journal
        .change_user(name, change)
        .await
        .map_err(journal_error)?;
    // A disabled user, or one whose secret changed, is signed out everywhere.
    call.context.access.sessions.end_user(&user.name);
    reload_cashiers(call).await;
    ok(user_json(&user))
}

/// `POST /api/users/{name}/disable`.
pub async fn disable_user(call: Call) -> Result<HttpResponse, ApiError> {
    change_user(&call, UserChange::Disabled(true)).await
}

/// `POST /api/users/{name}/enable`.
pub async fn enable_user(call: Call) -> Result<HttpResponse, ApiError> {
    change_user(&call, UserChange::Disabled(false)).await
}

/// `POST /api/users/{name}/reset`: a new PIN or password.
pub async fn reset_user(call: Call) -> Result<HttpResponse, ApiError> {
    let body = body(&call)?;
    let user = call
        .context
        .journal
        .user(call.param(0))
        .await
        .map_err(journal_error)?
        .ok_or(ApiError::NotFound)?;
    let secret = secret_for(user.role, &body)?;
    let hashed = hash(secret).await?;
    change_user(&call, UserChange::Secret(hashed)).await
}

/// `GET /api/tokens`.
pub async fn tokens(call: Call) -> Result<HttpResponse, ApiError> {
    let tokens = call
        .context
        .journal
        .service_tokens()
        .await
        .map_err(journal_error)?;
    ok(Value::Array(
        tokens
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "role": t.role.as_str(),
                    "created_at": t.created_at.to_string(),
                    "revoked_at": t.revoked_at.map(|at| at.to_string()),
                })
            })
            .collect(),
    ))
}

/// `POST /api/tokens`: the token's text is in this answer and nowhere else, ever.
pub async fn add_token(call: Call) -> Result<HttpResponse, ApiError> {
    let body = body(&call)?;
    let name = text(&body, "name").unwrap_or_default();
    let role = text(&body, "role")
        .and_then(Role::parse)
        .ok_or_else(|| ApiError::BadRequest("role must be attendant or manager".to_owned()))?;
    let token = tokens::issue(&call.context.journal, name, role, false)
        .await
        .map_err(|e| match e {
            tokens::TokenError::BadName => ApiError::BadRequest(e.to_string()),
            tokens::TokenError::Journal(j) => journal_error(j),
            other => ApiError::Unavailable(other.to_string()),
        })?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "name": name, "role": role.as_str(), "token": token }),
    ))
}

/// `POST /api/tokens/{name}/revoke`.
pub async fn revoke_token(call: Call) -> Result<HttpResponse, ApiError> {
    let token = call
        .context
        .journal
        .revoke_service_token(call.param(0))
        .await
        .map_err(journal_error)?;
    call.context.access.tokens.forget_all();
    ok(json!({ "name": token.name, "revoked_at": token.revoked_at.map(|t| t.to_string()) }))
}

/// `GET /api/audit`.
pub async fn audit(call: Call) -> Result<HttpResponse, ApiError> {
    let pairs = form_pairs(call.request.uri().query().unwrap_or_default());
    let number = |key: &str| -> Result<Option<i64>, ApiError> {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::BadRequest(format!("{key} must be a number")))
            })
            .transpose()
    };
    let limit = number("limit")?.unwrap_or(100).clamp(1, 1000);
    let before = number("before")?;
    let rows = call
        .context
        .journal
        .audit_trail(u32::try_from(limit).unwrap_or(100), before)
        .await
        .map_err(journal_error)?;
    ok(Value::Array(
        rows.iter()
            .map(|r| {
                let e = &r.entry;
                json!({
                    "id": r.id,
                    "at": e.at.to_string(),
                    "actor": e.actor,
                    "role": e.role,
                    "source": e.source,
                    "method": e.method,
                    "path": e.path,
                    "action": e.action,
                    "status": e.status,
                    "outcome": e.outcome.as_str(),
                    "detail": e.detail,
                })
            })
            .collect(),
    ))
}

/// Brings the order endpoint's loyalty identities in step with the journal after a user
/// change. The change itself is already journaled; a failed reload only delays the new
/// identity until the next change or restart, so it is logged, not returned.
async fn reload_cashiers(call: &Call) {
    if let Err(e) = call.context.cashiers.reload(&call.context.journal).await {
        tracing::warn!(error = %e, "cannot reload the attendants' loyalty identities");
    }
}
