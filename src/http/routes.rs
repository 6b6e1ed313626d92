//! The admin API's route table mechanics and the request pipeline every route goes
//! through.
//!
//! A route is one row: method, path pattern (`{name}` matches one segment), who may call
//! it ([`Access`]), the action name the audit trail records, and its handler. The table
//! itself is `admin::ROUTES`; adding a route is adding a row there.
//!
//! Pipeline, in order, for every request: Host check → route lookup (404/405) → for a
//! state change, JSON and same-origin checks → identity (bearer token or session cookie;
//! a bad token is 401) → role (401 without identity, 403 with a role too low) → for a
//! session-authenticated state change, the CSRF token → the handler → for a state change,
//! an audit row → security headers. A refusal changes nothing and is counted.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Request};
use serde_json::{json, Value};

use super::admin::AdminContext;
use super::error::{ApiError, HttpResponse};
use super::guard::{self, Credentials};
use crate::access::counters::Refusal;
use crate::access::throttle::ThrottleLimit;
use crate::access::{Identity, Proof, Role};
use crate::journal::{AuditEntry, AuditOutcome};

/// HTTP methods the admin API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Reads; never changes state.
    Get,
    /// Changes state: JSON, CSRF-checked, audited.
    Post,
}

impl Verb {
    fn matches(self, method: &Method) -> bool {
        match self {
            Verb::Get => method == Method::GET || method == Method::HEAD,
            Verb::Post => method == Method::POST,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches the listener (health, sign-in).
    Open,
    /// `/metrics`: open to loopback peers when configured so, else any identity.
    Metrics,
    /// An identity with at least this role.
    Role(Role),
}

/// How `/metrics` is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Open to peers on loopback (a local scraper), an identity from anywhere else.
    OpenOnLoopback,
    /// Always an identity.
    Identity,
}

/// Everything a handler gets.
pub struct Call {
    /// What the admin API works with.
    pub context: AdminContext,
    /// The request, body read.
    pub request: Request<Bytes>,
    /// The values of the pattern's `{…}` segments, in order.
    pub params: Vec<String>,
    /// Who is calling (`None` only on open routes).
    pub identity: Option<Identity>,
    /// The session cookie's value, when the identity came from one.
    pub session: Option<String>,
    /// The peer.
    pub peer: SocketAddr,
    /// Monotonic now.
    pub now: Instant,
}

impl Call {
    /// The `i`th path parameter.
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or_default()
    }

    /// The caller, on routes that require one.
    pub fn caller(&self) -> Result<&Identity, ApiError> {
        self.identity
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("sign in first".to_owned()))
    }
}

/// A handler's future.
pub type RouteFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, ApiError>> + Send>>;

/// One row of the route table.
pub struct Route {
    /// Method.
    pub verb: Verb,
    /// Pattern, e.g. `/api/sales/{id}/refund`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Name in the audit trail, e.g. `sale.refund`.
    pub action: &'static str,
    /// The handler.
    pub handler: fn(Call) -> RouteFuture,
}

/// Shorthand for a table row.
pub const fn route(
    verb: Verb,
    path: &'static str,
    access: Access,
    action: &'static str,
    handler: fn(Call) -> RouteFuture,
) -> Route {
    Route {
        verb,
        path,
        access,
        action,
        handler,
    }
}

/// The parameters when `path` fits `pattern`.
fn fit(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {
                params.push(g.to_owned())
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// What a lookup found.
pub enum Found<'r> {
    /// The route and its parameters.
    Route(&'r Route, Vec<String>),
    /// The path exists with another method.
    WrongMethod(&'static str),
    /// No such path.
    NotFound,
}

/// Finds the route for `method` and `path`.
pub fn find<'r>(routes: &'r [Route], method: &Method, path: &str) -> Found<'r> {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let mut other = None;
    for route in routes {
        if let Some(params) = fit(route.path, path) {
            if route.verb.matches(method) {
                return Found::Route(route, params);
            }
            other = Some(route.verb.as_str());
        }
    }
    other.map_or(Found::NotFound, Found::WrongMethod)
}

/// Failed bearer tokens allowed per source before it is refused for a while (each costs
/// an argon2id verification).
const BAD_TOKENS_PER_SOURCE: ThrottleLimit = ThrottleLimit {
    failures: 20,
    window: Duration::from_secs(300),
};

/// Resolves the caller's identity; a presented but bad credential is an error.
async fn identify(
    context: &AdminContext,
    request: &Request<Bytes>,
    peer: SocketAddr,
    now: Instant,
) -> Result<(Option<Identity>, Option<(String, String)>), ApiError> {
    let access = &context.access;
    match guard::credentials(request.headers(), &access.guard) {
        Credentials::None => Ok((None, None)),
        Credentials::Bearer(text) => {
            let key = format!("token-source:{}", peer.ip());
            if let Err(wait) = access.throttle.check(&key, BAD_TOKENS_PER_SOURCE, now) {
                access.counters.bump(Refusal::LoginThrottled);
                return Err(ApiError::TooManyRequests(wait.as_secs()));
            }
            match access.tokens.check(&text).await {
                Some(identity) => Ok((Some(identity), None)),
                None => {
                    access.throttle.failure(&key, BAD_TOKENS_PER_SOURCE, now);
                    access.counters.bump(Refusal::BadToken);
                    Err(ApiError::Unauthorized(
                        "invalid or revoked token".to_owned(),
                    ))
                }
            }
        }
        // An expired session is the same as none: the page asks to sign in again.
        Credentials::Session(id) => Ok(access
            .sessions
            .check(&id, now)
            .map(|view| {
                let identity = Identity {
                    name: view.user,
                    role: view.role,
                    proof: Proof::Session,
                };
                (Some(identity), Some((id, view.csrf)))
            })
            .unwrap_or((None, None))),
    }
}

/// Whether `identity` (from `peer`) may call a route of `access`.
fn admit(
    context: &AdminContext,
    access: Access,
    identity: Option<&Identity>,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    let needed = match access {
        Access::Open => return Ok(()),
        Access::Metrics
            if context.access.metrics == MetricsAccess::OpenOnLoopback
                && peer.ip().is_loopback() =>
        {
            return Ok(())
        }
        Access::Metrics => Role::Attendant,
        Access::Role(role) => role,
    };
    let counters = &context.access.counters;
    match identity {
        None => {
            counters.bump(Refusal::Unauthenticated);
            Err(ApiError::Unauthorized(
                "sign in or present a service token".to_owned(),
            ))
        }
        Some(identity) if identity.role.allows(needed) => Ok(()),
        Some(identity) => {
            counters.bump(Refusal::Forbidden);
            Err(ApiError::Forbidden(format!(
                "{} may not do this; it needs the {} role",
                identity,
                needed.as_str()
            )))
        }
    }
}

/// Runs one admin request through the pipeline of the module docs.
pub async fn dispatch(
    routes: &'static [Route],
    context: AdminContext,
    request: Request<Bytes>,
    peer: SocketAddr,
    now: Instant,
) -> HttpResponse {
    let guard_settings = Arc::clone(&context.access);
    let mut response = match run(routes, context, request, peer, now).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    guard::secure_headers(&mut response, &guard_settings.guard);
    response
}

async fn run(
    routes: &'static [Route],
    context: AdminContext,
    request: Request<Bytes>,
    peer: SocketAddr,
    now: Instant,
) -> Result<HttpResponse, ApiError> {
    let access = Arc::clone(&context.access);
    guard::check_host(&request, &access.guard, &access.counters)?;
    let (route, params) = match find(routes, request.method(), request.uri().path()) {
        Found::Route(route, params) => (route, params),
        Found::WrongMethod(allowed) => return Err(ApiError::MethodNotAllowed(allowed)),
        Found::NotFound => return Err(ApiError::NotFound),
    };
    let changes_state = route.verb == Verb::Post;
    if changes_state {
        guard::check_state_change(&request, &access.guard, &access.counters)?;
    }
    let (identity, session) = identify(&context, &request, peer, now).await?;
    let audit = changes_state.then(|| Audit::new(route, &request, identity.as_ref(), peer));
    let admitted = admit(&context, route.access, identity.as_ref(), peer);
    // Only callers with an identity are audited when refused: anonymous refusals are
    // counted, so a flood of them cannot grow the journal.
    if let (Err(error), Some(audit), Some(_)) = (&admitted, &audit, &identity) {
        audit
            .write(&context, error.status().as_u16(), Some(error))
            .await;
    }
    admitted?;
    if let (true, Some((_, csrf))) = (changes_state, &session) {
        if let Err(error) = guard::check_csrf(request.headers(), csrf, &access.counters) {
            if let Some(audit) = &audit {
                audit
                    .write(&context, error.status().as_u16(), Some(&error))
                    .await;
            }
            return Err(error);
        }
    }
    let call = Call {
        context: context.clone(),
        request,
        params,
        identity,
        session: session.map(|(id, _)| id),
        peer,
        now,
    };
    let result = (route.handler)(call).await;
    if let Some(audit) = audit {
        let status = match &result {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.status().as_u16(),
        };
        audit.write(&context, status, result.as_ref().err()).await;
    }
    result
}

/// Body fields never written to the audit trail.
const SECRET_FIELDS: [&str; 4] = ["pin", "password", "token", "secret"];

/// An audit row in the making.
struct Audit {
    actor: String,
    role: String,
    source: String,
    method: String,
    path: String,
    action: &'static str,
    detail: Value,
}

impl Audit {
    fn new(
        route: &Route,
        request: &Request<Bytes>,
        identity: Option<&Identity>,
        peer: SocketAddr,
    ) -> Self {
        let body = request.body();
        let mut asked = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| !SECRET_FIELDS.contains(&k.as_str()))
                    .collect(),
            ),
            _ if body.iter().all(u8::is_ascii_whitespace) => json!({}),
            _ => json!({ "body_bytes": body.len() }),
        };
        if asked.to_string().len() > 2048 {
            asked = json!({ "body_bytes": body.len() });
        }
        Self {
            actor: identity.map_or_else(|| "anonymous".to_owned(), ToString::to_string),
            role: identity.map_or("-", |i| i.role.as_str()).to_owned(),
            source: peer.ip().to_string(),
            method: request.method().as_str().to_owned(),
            path: request.uri().path().chars().take(256).collect(),
            action: route.action,
            detail: json!({ "request": asked }),
        }
    }

    async fn write(&self, context: &AdminContext, status: u16, error: Option<&ApiError>) {
        let mut detail = self.detail.clone();
        if let (Some(error), Value::Object(map)) = (error, &mut detail) {
            map.insert("error".to_owned(), json!(error.message()));
        }
        let entry = AuditEntry {
            at: jiff::Timestamp::now(),
            actor: self.actor.clone(),
            role: self.role.clone(),
            source: self.source.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            action: self.action.to_owned(),
            status,
            outcome: AuditOutcome::of_status(status),
            detail,
        };
        if let Err(e) = context.journal.audit(entry).await {
            tracing::error!(error = %e, action = self.action, "cannot write the audit trail");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_fit_whole_paths_only() {
        assert_eq!(fit("/api/sales", "/api/sales"), Some(vec![]));
        assert_eq!(
            fit("/api/sales/{id}/refund", "/api/sales/12/refund"),
            Some(vec!["12".to_owned()])
        );
        assert_eq!(fit("/api/sales/{id}", "/api/sales/12/refund"), None);
        assert_eq!(fit("/api/sales/{id}", "/api/sales/"), None);
        assert_eq!(fit("/api/sales", "/api/sale"), None);
    }
}
