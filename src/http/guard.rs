//! The admin listener's gate: the one place that reads credentials from a request and
//! decides every cookie and security header of an answer.
//!
//! - **Host** ([`GuardSettings::host_allowed`]): the `Host` header must name the listener
//!   by one of the configured names, by its own IP address (any IP literal when it listens
//!   on all addresses), or `localhost` on loopback. A DNS name the station did not choose
//!   is refused, so a page served from `evil.example` that re-resolves to the box (DNS
//!   rebinding) gets nothing.
//! - **Credentials** ([`credentials`]): `Authorization: Bearer <service token>`, or the
//!   session cookie. A bearer header wins over a cookie.
//! - **State changes** ([`check_state_change`]): the body must be declared JSON (a
//!   cross-site form or a `text/plain` fetch cannot be); `Sec-Fetch-Site`, when a browser
//!   sends it, must be `same-origin` or `none`; `Origin`, when present, must name an
//!   allowed host; and a session-authenticated request must echo its session's CSRF token
//!   in `X-CSRF-Token`. A service token needs no CSRF token: browsers never attach it on
//!   their own.
//! - **Cookies** ([`session_cookie`], [`clear_session_cookie`]): `HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, and over TLS `Secure` with the `__Host-` prefix.
//! - **Headers** ([`secure_headers`]): `Cache-Control: no-store`, `nosniff`, no framing,
//!   no referrer, a closed content security policy, and HSTS over TLS.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::Request;

use super::error::{ApiError, HttpResponse};
use crate::access::counters::{Refusal, RefusalCounters};
use crate::secret::Secret;

/// Cookie name over plain HTTP.
const COOKIE: &str = "forecourtd_session";
/// Cookie name over TLS: the `__Host-` prefix makes browsers insist on `Secure`, `Path=/`
/// and no `Domain`.
const TLS_COOKIE: &str = "__Host-forecourtd_session";

/// Header carrying a session's CSRF token on state changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What the gate knows about its listener.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Host names the listener may be reached by (lowercase, no port).
    pub allowed_hosts: Vec<String>,
    /// The address the listener is bound to.
    pub local: SocketAddr,
    /// Served over TLS.
    pub tls: bool,
}

impl GuardSettings {
    /// True when `host` (a `Host` header or an origin's authority, port allowed) names
    /// this listener.
    pub fn host_allowed(&self, host: &str) -> bool {
        let Ok(authority) = host.parse::<hyper::http::uri::Authority>() else {
            return false;
        };
        let name = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if let Ok(ip) = name.parse::<IpAddr>() {
            let own = self.local.ip();
            return own.is_unspecified() || ip == own;
        }
        if name == "localhost" && self.local.ip().is_loopback() {
            return true;
        }
        self.allowed_hosts.contains(&name)
    }

    fn cookie_name(&self) -> &'static str {
        if self.tls {
            TLS_COOKIE
        } else {
            COOKIE
        }
    }
}

/// Checks the `Host` header.
pub fn check_host(
    request: &Request<Bytes>,
    settings: &GuardSettings,
    counters: &RefusalCounters,
) -> Result<(), ApiError> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if settings.host_allowed(host) => Ok(()),
        _ => {
            counters.bump(Refusal::Host);
            Err(ApiError::Forbidden(
                "this listener is not reachable under that host name".to_owned(),
            ))
        }
    }
}

/// Credentials a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// None.
    None,
    /// A bearer token (its text).
    Bearer(String),
    /// A session cookie (its value).
    Session(String),
}

/// The credentials in `headers`.
pub fn credentials(headers: &HeaderMap, settings: &GuardSettings) -> Credentials {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or_default()
            .trim();
        return Credentials::Bearer(token.to_owned());
    }
    let name = settings.cookie_name();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map_or(Credentials::None, |(_, v)| {
            Credentials::Session(v.to_owned())
        })
}

/// The checks every state change passes before its identity is even looked at: a JSON
/// body and a same-origin browser context.
pub fn check_state_change(
    request: &Request<Bytes>,
    settings: &GuardSettings,
    counters: &RefusalCounters,
) -> Result<(), ApiError> {
    let headers = request.headers();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        counters.bump(Refusal::NotJson);
        return Err(ApiError::NotJson);
    }
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or("invalid"));
    if fetch_site.is_some_and(|site| site != "same-origin" && site != "none") {
        counters.bump(Refusal::Csrf);
        return Err(ApiError::Forbidden("cross-site request refused".to_owned()));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .ok()
            .and_then(|o| o.parse::<hyper::Uri>().ok())
            .and_then(|uri| uri.authority().map(|a| settings.host_allowed(a.as_str())))
            .unwrap_or(false);
        if !allowed {
            counters.bump(Refusal::Csrf);
            return Err(ApiError::Forbidden(
                "cross-origin request refused".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Checks the CSRF token of a session-authenticated state change.
pub fn check_csrf(
    headers: &HeaderMap,
    expected: &str,
    counters: &RefusalCounters,
) -> Result<(), ApiError> {
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if Secret::new(expected).matches(given) {
        Ok(())
    } else {
        counters.bump(Refusal::Csrf);
        Err(ApiError::Forbidden(
            "missing or wrong X-CSRF-Token".to_owned(),
        ))
    }
}

fn set_cookie(response: &mut HttpResponse, text: String) {
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Adds the session cookie `id` (living at most `max_age_secs`) to `response`.
pub fn session_cookie(
    response: &mut HttpResponse,
    settings: &GuardSettings,
    id: &str,
    max_age_secs: u64,
) {
    let secure = if settings.tls { "; Secure" } else { "" };
    set_cookie(
        response,
        format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}",
            settings.cookie_name()
        ),
    );
}

/// Tells the browser to forget the session cookie.
pub fn clear_session_cookie(response: &mut HttpResponse, settings: &GuardSettings) {
    let secure = if settings.tls { "; Secure" } else { "" };
    set_cookie(
        response,
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
            settings.cookie_name()
        ),
    );
}

/// The content security policy of every answer but the console's page.
const CLOSED_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The console's page: its own scripts, styles and images and the API, nothing inline,
/// nothing from elsewhere.
const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The security headers of every admin answer.
pub fn secure_headers(response: &mut HttpResponse, settings: &GuardSettings) {
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    let fixed = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            if page { CONSOLE_POLICY } else { CLOSED_POLICY },
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if settings.tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(local: &str) -> GuardSettings {
        GuardSettings {
            allowed_hosts: vec!["forecourt.station".to_owned()],
            local: local.parse().expect("address"),
            tls: false,
        }
    }

    #[test]
    fn hosts_are_the_listeners_own_names() {
        let loopback = settings("127.0.0.1:8081");
        for ok in [
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost:8081",
            "forecourt.station",
            "FORECOURT.station:8081",
        ] {
            assert!(loopback.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8081",
            "10.0.0.5:8081",
            "",
            "a b",
        ] {
            assert!(!loopback.host_allowed(bad), "{bad}");
        }
        let lan = settings("0.0.0.0:8081");
        assert!(lan.host_allowed("192.168.1.20:8081"));
        assert!(!lan.host_allowed("localhost:8081"));
        assert!(!lan.host_allowed("rebound.evil.example"));
        let v6 = settings("[::1]:8081");
        assert!(v6.host_allowed("[::1]:8081"));
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let s = settings("127.0.0.1:8081");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; forecourtd_session=abc"),
        );
        assert_eq!(
            credentials(&headers, &s),
            Credentials::Session("abc".into())
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        assert_eq!(credentials(&headers, &s), Credentials::Bearer("t".into()));
    }
}
