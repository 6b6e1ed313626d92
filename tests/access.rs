//! Identity and access on the admin listener: every route needs the right role, sessions
//! are CSRF-checked, foreign hosts are refused, sign-ins are throttled, state changes are
//! audited.

use bytes::Bytes;
use forecourtd::access::counters::Refusal;
use forecourtd::access::Role;
use forecourtd::http::admin::ROUTES;
use forecourtd::http::routes::{Access, Verb};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::support::{full_dispatch, get, post, token_for, Rig, Station};

/// An answer: status, headers, JSON body (`Null` when not JSON).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// Sends a request with exactly these headers (plus `Host` from the URL unless given).
async fn send(
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.expect("HTTP request");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A refused request: what it is, its headers, the status it must get.
type Attempt<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode);

/// A signed-in browser: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn sign_in(station: &Station, user: &str, field: &str, secret: &str) -> Browser {
        let answer = send(
            &station.admin,
            Method::POST,
            "/api/login",
            &[("content-type", "application/json")],
            &json!({ "user": user, field: secret }).to_string(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "sign-in: {}", answer.body);
        let set_cookie = answer
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie")
            .to_owned();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set_cookie.contains(flag), "{set_cookie}");
        }
        Browser {
            cookie: set_cookie
                .split(';')
                .next()
                .expect("cookie pair")
                .to_owned(),
            csrf: answer.body["csrf_token"]
                .as_str()
                .expect("csrf token")
                .to_owned(),
        }
    }

    /// A same-origin JSON request as the console's page makes it.
    async fn call(&self, station: &Station, method: Method, path: &str, body: Value) -> Answer {
        send(
            &station.admin,
            method,
            path,
            &[
                ("cookie", &self.cookie),
                ("x-csrf-token", &self.csrf),
                ("content-type", "application/json"),
                ("sec-fetch-site", "same-origin"),
            ],
            &body.to_string(),
        )
        .await
    }
}

/// A station with attendant 7 (PIN 1234) and manager `ana`, and one ready sale by 7.
async fn station_with_people() -> (Rig, Station, i64) {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    let (status, body) = post(
        &station.admin,
        "/api/users/7/reset",
        json!({ "pin": "1234" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(
        &station.admin,
        "/api/users",
        json!({ "name": "ana", "role": "manager", "password": "correct horse battery" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    full_dispatch(&rig, &station, 1, "500").await;
    let (_, sales) = get(&station.admin, "/api/sales").await;
    let sale = sales[0]["id"].as_i64().expect("a sale");
    (rig, station, sale)
}

fn concrete(path: &str, sale: i64) -> String {
    path.replace("{n}", "1")
        .replace("{id}", &sale.to_string())
        .replace("{name}", "8")
}

async fn audit_len(station: &Station) -> usize {
    let (status, rows) = get(&station.admin, "/api/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    rows.as_array().map_or(0, Vec::len)
}

async fn sale_status(station: &Station, sale: i64) -> Value {
    get(&station.admin, &format!("/api/sales/{sale}")).await.1["status"].clone()
}

#[tokio::test]
async fn every_route_refuses_without_identity_and_with_the_wrong_role() {
    let (_rig, station, sale) = station_with_people().await;
    let attendant = Browser::sign_in(&station, "7", "pin", "1234").await;
    let audit_before = audit_len(&station).await;
    let counters = &station.daemon.refusals();
    let mut checked = 0;
    for route in ROUTES {
        let path = concrete(route.path, sale);
        let method = match route.verb {
            // The event stream never ends by itself; its HEAD passes the same gate.
            Verb::Get if route.path == "/api/events" => Method::HEAD,
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
        };
        let needed = match route.access {
            Access::Role(role) => role,
            // Open routes and loopback metrics answer anyone on the box.
            Access::Open | Access::Metrics => continue,
        };
        // No identity: 401, whatever the body.
        let anonymous = send(
            &station.admin,
            method.clone(),
            &path,
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{} {path} without identity: {}",
            route.action,
            anonymous.body
        );
        // An attendant on a manager's route: 403.
        if needed == Role::Manager {
            let answer = attendant
                .call(&station, method.clone(), &path, json!({}))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{} {path} as an attendant: {}",
                route.action,
                answer.body
            );
        }
        // The right role gets past the gate (the handler may still refuse the content).
        let token = token_for(&station.admin).expect("CLI token");
        let bearer = format!("Bearer {}", token.expose());
        let right = send(
            &station.admin,
            method,
            // Harmless targets: an unknown position, sale and user.
            &path
                .replace("/positions/1/", "/positions/99/")
                .replace(&format!("/sales/{sale}"), "/sales/999999")
                .replace("/users/8/", "/users/nobody/")
                .replace("/tokens/8/", "/tokens/nobody/")
                .replace("/api/logout", "/api/me"),
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
        assert!(
            right.status != StatusCode::UNAUTHORIZED && right.status != StatusCode::FORBIDDEN,
            "{} {path} as a manager: {} {}",
            route.action,
            right.status,
            right.body
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} routes checked");
    // Nothing changed: the sale is still payable, user 8 still enabled.
    assert_eq!(sale_status(&station, sale).await, json!("ready"));
    let (_, users) = get(&station.admin, "/api/users").await;
    let eight = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == json!("8")))
        .expect("attendant 8");
    assert_eq!(eight["disabled"], json!(false));
    // Refusals with an identity are audited; anonymous ones only counted.
    let (_, rows) = get(&station.admin, "/api/audit?limit=1000").await;
    let refused: Vec<&Value> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["actor"] == json!("attendant:7") && r["status"] == json!(403))
        .collect();
    assert!(!refused.is_empty());
    assert!(refused.iter().all(|r| r["outcome"] == json!("refused")));
    assert!(audit_len(&station).await > audit_before);
    assert!(counters.get(Refusal::Unauthenticated) >= 20);
    assert!(counters.get(Refusal::Forbidden) >= 10);
    station.stop().await;
}

#[tokio::test]
async fn cross_origin_and_non_json_state_changes_are_refused_with_a_valid_session() {
    let (_rig, station, sale) = station_with_people().await;
    let attendant = Browser::sign_in(&station, "7", "pin", "1234").await;
    let path = format!("/api/sales/{sale}/settle");
    let body = json!({ "note": "cash" }).to_string();
    let cookie = attendant.cookie.as_str();
    let csrf = attendant.csrf.as_str();
    let attempts: [Attempt<'_>; 5] = [
        (
            "text/plain, as a cross-origin fetch sends it",
            vec![
                ("cookie", cookie),
                ("x-csrf-token", csrf),
                ("content-type", "text/plain"),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a foreign Origin",
            vec![
                ("cookie", cookie),
                ("x-csrf-token", csrf),
                ("content-type", "application/json"),
                ("origin", "https://evil.example"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "Sec-Fetch-Site cross-site",
            vec![
                ("cookie", cookie),
                ("x-csrf-token", csrf),
                ("content-type", "application/json"),
                ("sec-fetch-site", "cross-site"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "no CSRF token",
            vec![("cookie", cookie), ("content-type", "application/json")],
            StatusCode::FORBIDDEN,
        ),
        (
            "a wrong CSRF token",
            vec![
                ("cookie", cookie),
                ("x-csrf-token", "0000"),
                ("content-type", "application/json"),
            ],
            StatusCode::FORBIDDEN,
        ),
    ];
    for (what, headers, expected) in attempts {
        let answer = send(&station.admin, Method::POST, &path, &headers, &body).await;
        assert_eq!(answer.status, expected, "{what}: {}", answer.body);
        assert_eq!(sale_status(&station, sale).await, json!("ready"), "{what}");
    }
    assert!(station.daemon.refusals().get(Refusal::Csrf) >= 4);
    assert!(station.daemon.refusals().get(Refusal::NotJson) >= 1);
    // The same request from the console's own page goes through.
    let own_origin = station.admin.clone();
    let answer = send(
        &station.admin,
        Method::POST,
        &path,
        &[
            ("cookie", cookie),
            ("x-csrf-token", csrf),
            ("content-type", "application/json"),
            ("origin", &own_origin),
            ("sec-fetch-site", "same-origin"),
        ],
        &body,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(sale_status(&station, sale).await, json!("settled_other"));
    station.stop().await;
}

#[tokio::test]
async fn a_foreign_host_is_refused_even_with_a_valid_token() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    let token = token_for(&station.admin).expect("CLI token");
    let bearer = format!("Bearer {}", token.expose());
    for (method, path) in [
        (Method::GET, "/api/positions"),
        (Method::POST, "/api/positions/1/stop"),
        (Method::GET, "/healthz"),
    ] {
        let answer = send(
            &station.admin,
            method,
            path,
            &[
                ("host", "evil.example:8081"),
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
    }
    assert_eq!(station.daemon.refusals().get(Refusal::Host), 3);
    let port = station.daemon.admin_addr.port();
    let localhost = format!("localhost:{port}");
    let answer = send(
        &station.admin,
        Method::GET,
        "/api/positions",
        &[("host", &localhost), ("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    station.stop().await;
}

#[tokio::test]
async fn sign_in_is_throttled_per_user_and_per_source() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    let (status, _) = post(
        &station.admin,
        "/api/users/7/reset",
        json!({ "pin": "1234" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let login = |user: &'static str, pin: &'static str| {
        let admin = station.admin.clone();
        async move {
            send(
                &admin,
                Method::POST,
                "/api/login",
                &[("content-type", "application/json")],
                &json!({ "user": user, "pin": pin }).to_string(),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(login("7", "0000").await.status, StatusCode::UNAUTHORIZED);
    }
    // The right PIN is refused too while the user is throttled.
    let throttled = login("7", "1234").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.get("retry-after").is_some());
    // Per source: guesses spread over many names trip the source's limit.
    let mut source_throttled = false;
    for name in [
        "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b1", "b2", "b3", "b4", "b5", "b6",
        "b7",
    ] {
        if login(name, "0000").await.status == StatusCode::TOO_MANY_REQUESTS {
            source_throttled = true;
            break;
        }
    }
    assert!(
        source_throttled,
        "many names from one source must be throttled"
    );
    let refusals = station.daemon.refusals();
    assert!(refusals.get(Refusal::LoginFailed) >= 15);
    assert!(refusals.get(Refusal::LoginThrottled) >= 2);
    station.stop().await;
}

#[tokio::test]
async fn audit_rows_say_who_from_where_what_and_how_it_ended_without_secrets() {
    let (rig, station, sale) = station_with_people().await;
    let attendant = Browser::sign_in(&station, "7", "pin", "1234").await;
    let answer = attendant
        .call(
            &station,
            Method::POST,
            &format!("/api/sales/{sale}/settle"),
            json!({ "note": "cash" }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let refused = attendant
        .call(
            &station,
            Method::POST,
            &format!("/api/sales/{sale}/void"),
            json!({ "note": "x" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // An attendant acts only as themself.
    let other = attendant
        .call(
            &station,
            Method::POST,
            "/api/positions/1/authorize",
            json!({ "attendant": "8" }),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);

    let (status, rows) = get(&station.admin, "/api/audit?limit=100").await;
    assert_eq!(status, StatusCode::OK);
    let rows = rows.as_array().expect("rows").clone();
    let find = |action: &str, actor: &str| {
        rows.iter()
            .find(|r| r["action"] == json!(action) && r["actor"] == json!(actor))
            .cloned()
            .unwrap_or_else(|| panic!("no {action} by {actor} in {rows:#?}"))
    };
    let settle = find("sale.settle", "attendant:7");
    assert_eq!(settle["outcome"], json!("ok"));
    assert_eq!(settle["source"], json!("127.0.0.1"));
    assert_eq!(settle["path"], json!(format!("/api/sales/{sale}/settle")));
    assert_eq!(settle["detail"]["request"]["note"], json!("cash"));
    assert!(settle["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let void = find("sale.void", "attendant:7");
    assert_eq!(
        (void["status"].clone(), void["outcome"].clone()),
        (json!(403), json!("refused"))
    );
    let reset = find("user.reset", "token:cli");
    assert_eq!(reset["outcome"], json!("ok"));
    let login = find("session.login", "anonymous");
    assert_eq!(login["detail"]["request"]["user"], json!("7"));
    let text = Value::Array(rows.clone()).to_string();
    assert!(!text.contains("1234"), "a PIN reached the audit trail");
    assert!(
        !text.contains("correct horse"),
        "a password reached the audit trail"
    );

    // The CLI lists the same rows.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"))
        .args([
            "audit",
            "--limit",
            "5",
            "--admin",
            &station.admin,
            "--token-file",
        ])
        .arg(rig.dir.path().join("cli.token"))
        .output()
        .await
        .expect("run forecourtd audit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sale.void"));
    station.stop().await;
}

#[tokio::test]
async fn sessions_end_at_sign_out_and_when_the_user_is_disabled() {
    let (_rig, station, sale) = station_with_people().await;
    let attendant = Browser::sign_in(&station, "7", "pin", "1234").await;
    // An attendant sees their own sales, the forecourt, and themself.
    let me = attendant
        .call(&station, Method::GET, "/api/me", Value::Null)
        .await;
    assert_eq!(me.body["name"], json!("7"));
    let own = attendant
        .call(
            &station,
            Method::GET,
            &format!("/api/sales/{sale}"),
            Value::Null,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
    let out = attendant
        .call(&station, Method::POST, "/api/logout", json!({}))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    let cleared = out.headers.get("set-cookie").and_then(|v| v.to_str().ok());
    assert!(
        cleared.is_some_and(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let after = attendant
        .call(&station, Method::GET, "/api/positions", Value::Null)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    let manager = Browser::sign_in(&station, "ana", "password", "correct horse battery").await;
    let again = Browser::sign_in(&station, "7", "pin", "1234").await;
    let disabled = manager
        .call(&station, Method::POST, "/api/users/7/disable", json!({}))
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    let after = again
        .call(&station, Method::GET, "/api/positions", Value::Null)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let login = send(
        &station.admin,
        Method::POST,
        "/api/login",
        &[("content-type", "application/json")],
        &json!({ "user": "7", "pin": "1234" }).to_string(),
    )
    .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    station.stop().await;
}

/// An HTTPS client trusting only the test certificate of `tests/data`.
fn tls_client() -> Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
> {
    use rustls::pki_types::pem::PemObject;
    let cert = rustls::pki_types::CertificateDer::from_pem_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/admin-test.crt"
    ))
    .expect("test certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

#[tokio::test]
async fn the_admin_listener_serves_tls_with_secure_cookies() {
    let rig = Rig::new(1);
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let station = rig
        .start(|t| {
            format!(
                "{t}\n[admin]\ntls_cert_file = \"{data}/admin-test.crt\"\n\
                 tls_key_file = \"{data}/admin-test.key\"\n"
            )
        })
        .await;
    let port = station.daemon.admin_addr.port();
    let client = tls_client();
    // Plain HTTP to a TLS listener gets nowhere.
    let plain = forecourtd::admin_client::call(&station.admin, Method::GET, "/healthz", None).await;
    assert!(
        !plain.is_ok_and(|(status, _)| status == StatusCode::OK),
        "plain HTTP must not reach a TLS listener"
    );
    let token = token_for(&station.admin).expect("CLI token");
    let reset = client
        .request(
            Request::post(format!("https://localhost:{port}/api/users/7/reset"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {}", token.expose()))
                .body(Full::new(Bytes::from(r#"{"pin":"1234"}"#)))
                .expect("request"),
        )
        .await
        .expect("TLS request");
    assert_eq!(reset.status(), StatusCode::OK);
    let health = client
        .get(
            format!("https://localhost:{port}/healthz")
                .parse()
                .expect("uri"),
        )
        .await
        .expect("TLS request");
    // The open route answers over TLS (503 only says no pump has answered yet).
    assert!(
        [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&health.status()),
        "{}",
        health.status()
    );
    let login = client
        .request(
            Request::post(format!("https://localhost:{port}/api/login"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(r#"{"user":"7","pin":"1234"}"#)))
                .expect("request"),
        )
        .await
        .expect("TLS request");
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.starts_with("__Host-forecourtd_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(login.headers().get("strict-transport-security").is_some());
    station.stop().await;
}

/// Regression: an attendant a manager added while the daemon ran got the unknown cashier
/// (`00000000`) in the loyalty block of their sales until the next restart.
#[tokio::test]
async fn regression_an_attendant_added_at_runtime_names_themself_in_loyalty() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    let (status, body) = post(
        &station.admin,
        "/api/users",
        json!({
            "name": "31", "role": "attendant", "pin": "4321",
            "document_type": "DNI", "document_number": "27444555",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    station
        .wait_for("pump online and programmed", |s| {
            crate::support::ready_to_authorize(s, 1)
        })
        .await;
    let (status, body) = station
        .authorize(1, json!({ "amount": "300", "attendant": "31" }))
        .await;
    assert_eq!(status, StatusCode::OK, "authorize: {body}");
    rig.act(
        1,
        pump_protocols::SimAction::LiftNozzle(pump_protocols::NozzleId(1)),
    )
    .await;
    let (_, order) = station.wait_for_answer(1, "order").await;
    assert_eq!(
        order["loyalty"]["cashier_identification"],
        json!({ "type": "DNI", "number": "27444555" }),
        "{order}"
    );

    // Disabling the attendant afterwards does not rewrite who made the sale.
    let (status, body) = post(&station.admin, "/api/users/31/disable", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, order) = station.wait_for_answer(1, "order").await;
    assert_eq!(
        order["loyalty"]["cashier_identification"]["number"],
        json!("27444555"),
        "a disabled attendant's earlier sale still names them: {order}"
    );
}
