//! The Mercado Pago sandbox driven by the project's own client, against a tiny in-test
//! station (order URL + notification endpoint) on 127.0.0.1:0.
//!
//! Time is tokio's paused clock: polls, back-offs, retries and timeouts run in virtual
//! time, and deliveries are awaited through channels, never slept for.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use forecourtd::lab::sandbox::{
    CardHolder, DeliveryState, Sandbox, SandboxHandle, SandboxSettings, ScanOptions, ScanOutcome,
    ScanTarget,
};
use forecourtd::mercadopago::signature::{self, Freshness, SignatureError, SignedRequest};
use forecourtd::mercadopago::types::{
    CashierIdentification, IpnBody, Item, Loyalty, LoyaltyProduct, Payment, PaymentStatus,
    PosRequest, PreferenceRequest, QrOrder, WebhookBody,
};
use forecourtd::mercadopago::{ClientSettings, IdempotencyKey, MercadoPagoClient, MpError, Secret};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rust_decimal::Decimal;
use tokio::sync::mpsc;

/// The sandbox's fixed "now" (2026-11-22T13:46:40Z): webhook `ts` and freshness use it.
const NOW_SECS: i64 = 1_795_787_200;

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(NOW_SECS).expect("constant is in range")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

async fn start_sandbox() -> SandboxHandle {
    let mut settings = SandboxSettings::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.clock = forecourtd::lab::sandbox::Clock::fixed(now());
    settings.notify.retry_schedule = vec![
        Duration::from_secs(30),
        Duration::from_secs(300),
        Duration::from_secs(1800),
    ];
    Sandbox::start(settings).await.expect("sandbox starts")
}

fn client_for(sandbox: &SandboxHandle) -> MercadoPagoClient {
    let mut settings = ClientSettings::new(sandbox.base_url(), sandbox.access_token().clone());
    settings.request_timeout = Duration::from_secs(2);
    settings.max_retries = 3;
    settings.retry_backoff = Duration::from_millis(100);
    MercadoPagoClient::new(settings).expect("client builds")
}

fn scan_options() -> ScanOptions {
    ScanOptions {
        poll_interval: Duration::from_secs(2),
        max_polls: 5,
        answer_timeout: Duration::from_secs(5),
        ..ScanOptions::default()
    }
}

// ----- the in-test station -----

/// A request the station received.
#[derive(Debug)]
struct Hit {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Default)]
struct Script {
    /// Answers to `GET /pay-mp`, in order; the last one repeats.
    orders: VecDeque<(u16, String)>,
    /// Statuses for `POST /mp/notifications`, in order; then 200.
    notifications: VecDeque<u16>,
}

struct Station {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    order_hits: mpsc::UnboundedReceiver<Hit>,
    notification_hits: mpsc::UnboundedReceiver<Hit>,
}

impl Station {
    async fn start() -> Station {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("station binds");
        let addr = listener.local_addr().expect("station address");
        let script = Arc::new(Mutex::new(Script::default()));
        let (order_tx, order_hits) = mpsc::unbounded_channel();
        let (notification_tx, notification_hits) = mpsc::unbounded_channel();
        let shared = script.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = shared.clone();
                let order_tx = order_tx.clone();
                let notification_tx = notification_tx.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let script = script.clone();
                        let order_tx = order_tx.clone();
                        let notification_tx = notification_tx.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let hit = Hit {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().unwrap_or("").to_owned(),
                                headers: parts.headers,
                                body,
                            };
                            let (status, answer) = {
                                let mut s = script.lock().expect("script lock");
                                if hit.path == "/pay-mp" {
                                    let answer = if s.orders.len() > 1 {
                                        s.orders.pop_front()
                                    } else {
                                        s.orders.front().cloned()
                                    };
                                    answer.unwrap_or((500, "{}".to_owned()))
                                } else {
                                    (s.notifications.pop_front().unwrap_or(200), "{}".to_owned())
                                }
                            };
                            let tx = if hit.path == "/pay-mp" {
                                &order_tx
                            } else {
                                &notification_tx
                            };
                            let _ = tx.send(hit);
                            let mut resp = Response::new(Full::new(Bytes::from(answer)));
                            *resp.status_mut() =
                                hyper::StatusCode::from_u16(status).expect("status");
                            resp.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                hyper::header::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Station {
            addr,
            script,
            order_hits,
            notification_hits,
        }
    }

    fn order_url(&self) -> String {
        format!("http://{}/pay-mp?apies=29&pos=3", self.addr)
    }

    fn notification_url(&self, source_news: &str) -> String {
        format!(
            "http://{}/mp/notifications?source_news={source_news}",
            self.addr
        )
    }

    fn answer_orders(&self, answers: Vec<(u16, String)>) {
        self.script.lock().expect("script lock").orders = answers.into();
    }

    fn answer_notifications(&self, statuses: Vec<u16>) {
        self.script.lock().expect("script lock").notifications = statuses.into();
    }

    async fn next_notification(&mut self) -> Hit {
        self.notification_hits
            .recv()
            .await
            .expect("the station is alive")
    }

    fn drain_order_hits(&mut self) -> Vec<Hit> {
        let mut hits = Vec::new();
        while let Ok(hit) = self.order_hits.try_recv() {
            hits.push(hit);
        }
        hits
    }
}

fn waiting(kind: &str) -> (u16, String) {
    (
        400,
        format!(r#"{{"error":{{"type":"{kind}","message":"wait"}}}}"#),
    )
}

fn order(collector_id: i64, reference: &str, amount: &str, notification_url: &str) -> QrOrder {
    QrOrder {
        collector_id,
        sponsor_id: Some(446559784),
        items: vec![Item {
            id: None,
            title: "Super".to_owned(),
            currency_id: Some("ARS".to_owned()),
            description: Some("Surtidor 3, 10,000 l Super".to_owned()),
            quantity: Decimal::ONE,
            unit_price: dec(amount),
        }],
        external_reference: reference.to_owned(),
        notification_url: Some(notification_url.to_owned()),
        loyalty: Some(Loyalty {
            program: "serviclub".to_owned(),
            transaction_id: format!("00029-P03-{reference}"),
            invoice_number: "00000184".to_owned(),
            transaction_date: "2026-11-22T10:40:49.000-03:00".to_owned(),
            transaction_amount: dec(amount),
            store_id: "00029".to_owned(),
            products: vec![LoyaltyProduct {
                code: "1".to_owned(),
                quantity: dec("10.000"),
                unit: "litre".to_owned(),
                unit_price: dec("800.00"),
            }],
            cashier_identification: CashierIdentification {
                kind: "DNI".to_owned(),
                number: "00000000".to_owned(),
            },
            period: "0000".to_owned(),
            shift: "1".to_owned(),
            affinity_plan: "7".to_owned(),
        }),
    }
}

fn ready(order: &QrOrder) -> (u16, String) {
    (200, serde_json::to_string(order).expect("order encodes"))
}

fn paid(outcome: ScanOutcome) -> Payment {
    match outcome {
        ScanOutcome::Paid { payment, .. } => *payment,
        other => panic!("expected a payment, got {other:?}"),
    }
}

/// Scans the station's order URL with [`scan_options`].
async fn scan_station(
    sandbox: &SandboxHandle,
    station: &Station,
    holder: CardHolder,
) -> ScanOutcome {
    sandbox
        .scan(
            ScanTarget::Url(station.order_url()),
            holder,
            &scan_options(),
        )
        .await
        .expect("scan runs")
}

fn pump_pos(external_id: &str, url: &str) -> PosRequest {
    PosRequest {
        name: "Surtidor 3".to_owned(),
        fixed_amount: true,
        category: Some(473000),
        store_id: Some("1234567".to_owned()),
        external_store_id: Some("ST29".to_owned()),
        external_id: Some(external_id.to_owned()),
        url: Some(url.to_owned()),
    }
}

fn error_code(e: &MpError) -> (Option<u16>, Option<String>) {
    (e.status(), e.api_error().and_then(|b| b.error.clone()))
}

/// A plain HTTP call for what the client does not do (OAuth, `?access_token=`, control).
async fn raw(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut builder = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request builds");
    let resp = client.request(req).await.expect("sandbox answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, value)
}

async fn post_json(url: &str, body: &str) -> (u16, serde_json::Value) {
    raw("POST", url, &[("content-type", "application/json")], body).await
}

// ----- POS and preferences -----

#[tokio::test(start_paused = true)]
async fn pos_are_created_listed_and_refused_with_mp_codes() {
    let sandbox = start_sandbox().await;
    let mp = client_for(&sandbox);
    let url = "https://station.example/pay-mp?apies=29&pos=3";
    let pos = mp
        .create_pos(&pump_pos("ST29P03", url))
        .await
        .expect("POS created");
    assert_eq!(pos.user_id, Some(sandbox.collector_id()));
    assert_eq!(pos.external_id.as_deref(), Some("ST29P03"));
    assert!(pos.qr.as_ref().and_then(|q| q.image.as_ref()).is_some());
    mp.create_pos(&pump_pos("ST29P04", url))
        .await
        .expect("second POS");

    let found = mp
        .list_pos(Some("st29p03"))
        .await
        .expect("list by external_id");
    assert_eq!(found.paging.total, 1);
    assert_eq!(found.results[0].id, pos.id);
    assert_eq!(mp.list_pos(None).await.expect("list all").paging.total, 2);

    let dup = mp
        .create_pos(&pump_pos("st29P03", url))
        .await
        .expect_err("duplicate");
    assert_eq!(dup.status(), Some(409));

    let bad_id = mp
        .create_pos(&pump_pos("pos_1", url))
        .await
        .expect_err("seed 003 id");
    assert_eq!(
        error_code(&bad_id),
        (Some(400), Some("INVALID_EXTERNAL_ID".to_owned()))
    );

    let mut long_name = pump_pos("ST29P05", url);
    long_name.name = "Surtidor ".repeat(5);
    let e = mp.create_pos(&long_name).await.expect_err("name too long");
    assert_eq!(
        error_code(&e),
        (Some(400), Some("NAME_TOO_LONG".to_owned()))
    );

    let mut not_fixed = pump_pos("ST29P05", url);
    not_fixed.fixed_amount = false;
    let e = mp
        .create_pos(&not_fixed)
        .await
        .expect_err("url without fixed amount");
    assert_eq!(
        error_code(&e),
        (Some(400), Some("FIXED_AMOUNT_FALSE".to_owned()))
    );

    let long_url = format!("https://station.example/pay-mp?t={}", "x".repeat(300));
    let e = mp
        .create_pos(&pump_pos("ST29P05", &long_url))
        .await
        .expect_err("long url");
    assert_eq!(error_code(&e), (Some(400), Some("URL_TOO_LONG".to_owned())));

    // 4xx answers are final: none of them was retried into a second POS.
    assert_eq!(sandbox.pos().len(), 2);

    let base = sandbox.base_url();
    let auth = format!("Bearer {}", sandbox.access_token().expose());
    let one = format!("{base}/pos/{}", pos.id);
    let (status, body) = raw("GET", &one, &[("authorization", &auth)], "").await;
    assert_eq!(
        (status, body["external_id"].as_str()),
        (200, Some("ST29P03"))
    );
    let (status, _) = raw("DELETE", &one, &[("authorization", &auth)], "").await;
    assert_eq!(status, 204);
    let (status, body) = raw("GET", &one, &[("authorization", &auth)], "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("pos_obtainment_error"))
    );
    assert_eq!(
        mp.list_pos(Some("ST29P03"))
            .await
            .expect("list")
            .paging
            .total,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn tokens_are_checked_on_every_route() {
    let sandbox = start_sandbox().await;
    let mut settings = ClientSettings::new(sandbox.base_url(), Secret::new("TEST-1-2-999"));
    settings.max_retries = 0;
    let stranger = MercadoPagoClient::new(settings).expect("client builds");
    let e = stranger.get_payment(1).await.expect_err("unknown token");
    assert_eq!(e.status(), Some(401));

    let base = sandbox.base_url();
    let token = sandbox.access_token().expose().to_owned();
    // The seeds' legacy ?access_token= works too.
    let (status, user) = post_json(
        &format!("{base}/users/test_user?access_token={token}"),
        r#"{"site_id":"MLA"}"#,
    )
    .await;
    assert_eq!(status, 201);
    assert!(user["nickname"].as_str().is_some_and(|n| !n.is_empty()));
    let (status, _) = raw("GET", &format!("{base}/pos?access_token=nope"), &[], "").await;
    assert_eq!(status, 401);

    // OAuth client credentials hand out the seller's token.
    let form = "grant_type=client_credentials&client_id=0000000000000000&client_secret=sandbox-client-secret";
    let (status, body) = raw(
        "POST",
        &format!("{base}/oauth/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        form,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["access_token"].as_str(), Some(token.as_str()));
    assert_eq!(body["user_id"].as_i64(), Some(sandbox.collector_id()));
    let (status, body) = raw(
        "POST",
        &format!("{base}/oauth/token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        "grant_type=client_credentials&client_id=0000000000000000&client_secret=wrong",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_preference_scanned_in_model_a_is_paid_with_its_reference() {
    let sandbox = start_sandbox().await;
    let mut station = Station::start().await;
    let mp = client_for(&sandbox);
    let request = PreferenceRequest {
        items: vec![Item {
            id: None,
            title: "Super".to_owned(),
            currency_id: Some("ARS".to_owned()),
            description: None,
            quantity: Decimal::ONE,
            unit_price: dec("4321.09"),
        }],
        external_reference: Some("ST29P03T000185".to_owned()),
        notification_url: Some(station.notification_url("webhooks")),
        expires: None,
        expiration_date_from: None,
        expiration_date_to: None,
        date_of_expiration: None,
        binary_mode: Some(true),
        metadata: None,
    };
    let key = IdempotencyKey::new("S185PREFST29P03T000185").expect("key");
    let preference = mp
        .create_preference(&request, &key)
        .await
        .expect("preference created");
    // A retry with the same key (the answer was lost, or the station crashed before
    // storing it) gets the same preference; another key makes another one.
    let again = mp.create_preference(&request, &key).await.expect("retried");
    assert_eq!(again.id, preference.id);
    let other = mp
        .create_preference(&request, &IdempotencyKey::random())
        .await
        .expect("another");
    assert_ne!(other.id, preference.id);
    assert_eq!(sandbox.preferences().len(), 2);
    let (collector, uuid) = preference.id.split_once('-').expect("<collector>-<uuid>");
    assert_eq!(collector, sandbox.collector_id().to_string());
    assert_eq!(uuid.len(), 36);

    station.answer_orders(vec![(
        200,
        format!(r#"{{"preference_id":"{}"}}"#, preference.id),
    )]);
    let payment = paid(scan_station(&sandbox, &station, CardHolder::Apro).await);
    assert_eq!(
        payment.external_reference.as_deref(),
        Some("ST29P03T000185")
    );
    assert_eq!(payment.transaction_amount, dec("4321.09"));
    let mo = mp
        .get_merchant_order(payment.order.as_ref().and_then(|o| o.id).expect("MO id"))
        .await
        .expect("merchant order");
    assert_eq!(mo.preference_id.as_deref(), Some(preference.id.as_str()));
    assert_eq!(mo.status.as_deref(), Some("closed"));
    let hit = station.next_notification().await;
    assert!(hit.query.contains(&format!("data.id={}", payment.id)));
}

// ----- scans -----

#[tokio::test(start_paused = true)]
async fn a_scan_waits_out_in_process_pays_and_sends_a_signed_webhook() {
    let sandbox = start_sandbox().await;
    let mut station = Station::start().await;
    let mp = client_for(&sandbox);
    let pos = mp
        .create_pos(&pump_pos("ST29P03", &station.order_url()))
        .await
        .expect("POS created");
    let the_order = order(
        sandbox.collector_id(),
        "ST29P03T000184",
        "8000.00",
        &station.notification_url("webhooks"),
    );
    station.answer_orders(vec![
        waiting("in_process"),
        waiting("in_process"),
        ready(&the_order),
    ]);

    let outcome = sandbox
        .scan(
            ScanTarget::PosExternalId("st29p03".to_owned()),
            CardHolder::Apro,
            &scan_options(),
        )
        .await
        .expect("scan runs");
    let payment = paid(outcome);
    assert_eq!(payment.status, PaymentStatus::Approved);
    assert_eq!(payment.status_detail, "accredited");
    assert_eq!(payment.transaction_amount.to_string(), "8000.00");
    assert_eq!(payment.pos_id, Some(pos.id.to_string()));
    assert_eq!(payment.store_id.as_deref(), Some("1234567"));
    assert_eq!(payment.collector_id, Some(sandbox.collector_id()));
    assert_eq!(payment.sponsor_id, Some(446559784));

    let gets = station.drain_order_hits();
    assert_eq!(gets.len(), 3, "two in_process answers, then the order");
    for get in &gets {
        assert_eq!(get.method, "GET");
        assert!(get.header("user-agent").starts_with("MercadoPago-Android/"));
        assert_eq!(get.query, "apies=29&pos=3");
    }

    let hit = station.next_notification().await;
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/mp/notifications");
    assert_eq!(
        hit.query,
        format!("source_news=webhooks&data.id={}&type=payment", payment.id)
    );
    assert_eq!(hit.header("user-agent"), "MercadoPago WebHook v1.0 payment");
    let data_id = payment.id.to_string();
    let request = SignedRequest {
        x_signature: Some(hit.header("x-signature")),
        x_request_id: Some(hit.header("x-request-id")),
        data_id: Some(&data_id),
    };
    let fresh = Freshness {
        now: now(),
        tolerance: Duration::from_secs(15 * 60),
    };
    let verified = signature::verify(&request, &[sandbox.webhook_secret()], Some(fresh))
        .expect("the webhook verifies");
    assert_eq!(verified.ts_millis, Some(NOW_SECS as u64 * 1000));
    let parts = signature::parse_header(hit.header("x-signature")).expect("header parses");
    assert_eq!(
        parts.ts,
        NOW_SECS.to_string(),
        "ts is in seconds, as MP sends it"
    );
    let body: WebhookBody = serde_json::from_slice(&hit.body).expect("webhook body");
    assert_eq!(body.data.id, data_id);
    assert_eq!(body.kind, "payment");
    assert_eq!(body.action.as_deref(), Some("payment.created"));
    assert_eq!(body.user_id, Some(sandbox.collector_id()));

    // The daemon's view: re-read the payment, find it by reference.
    let read = mp.get_payment(payment.id).await.expect("payment readable");
    assert_eq!(read, payment);
    let found = mp
        .search_payments_by_reference("ST29P03T000184")
        .await
        .expect("search");
    assert_eq!(found.paging.total, 1);
    assert_eq!(found.results[0].id, payment.id);
    assert_eq!(
        mp.search_payments_by_reference("ST29P03T999999")
            .await
            .expect("search")
            .paging
            .total,
        0
    );
    let mo_id = payment.order.as_ref().and_then(|o| o.id).expect("MO id");
    let mo = mp.get_merchant_order(mo_id).await.expect("merchant order");
    assert_eq!(mo.status.as_deref(), Some("closed"));
    assert_eq!(mo.total_amount, Some(dec("8000.00")));
    assert_eq!(mo.payments.len(), 1);
    sandbox
        .wait_deliveries(|d| d.len() == 1 && d[0].state == DeliveryState::Delivered)
        .await;
}

#[tokio::test(start_paused = true)]
async fn ipn_notifies_payment_and_merchant_order_unverifiably() {
    let sandbox = start_sandbox().await;
    let mut station = Station::start().await;
    let the_order = order(
        sandbox.collector_id(),
        "R1",
        "10.50",
        &station.notification_url("ipn"),
    );
    station.answer_orders(vec![ready(&the_order)]);
    let outcome = scan_station(&sandbox, &station, CardHolder::Apro).await;
    let ScanOutcome::Paid {
        payment,
        merchant_order,
    } = outcome
    else {
        panic!("expected a payment, got {outcome:?}");
    };
    let first = station.next_notification().await;
    let second = station.next_notification().await;
    assert_eq!(
        first.query,
        format!("source_news=ipn&topic=payment&id={}", payment.id)
    );
    assert_eq!(first.header("user-agent"), "MercadoPago Feed v2.0 payment");
    let body: IpnBody = serde_json::from_slice(&first.body).expect("IPN body");
    assert_eq!(
        body,
        IpnBody {
            resource: payment.id.to_string(),
            topic: "payment".to_owned()
        }
    );
    assert_eq!(
        second.query,
        format!(
            "source_news=ipn&topic=merchant_order&id={}",
            merchant_order.id
        )
    );
    assert_eq!(
        second.header("user-agent"),
        "MercadoPago Feed v2.0 merchant_order"
    );
    let body: IpnBody = serde_json::from_slice(&second.body).expect("IPN body");
    assert!(body
        .resource
        .ends_with(&format!("/merchant_orders/{}", merchant_order.id)));
    // As at MP, an IPN's signature header does not verify with the application's secret.
    let id = payment.id.to_string();
    let request = SignedRequest {
        x_signature: Some(first.header("x-signature")),
        x_request_id: Some(first.header("x-request-id")),
        data_id: Some(&id),
    };
    assert_eq!(
        signature::verify(&request, &[sandbox.webhook_secret()], None),
        Err(SignatureError::SignatureMismatch)
    );
}

#[tokio::test(start_paused = true)]
async fn station_errors_unreachable_and_silent_stations() {
    let sandbox = start_sandbox().await;
    let mut station = Station::start().await;
    station.answer_orders(vec![waiting("unavailable")]);
    let outcome = scan_station(&sandbox, &station, CardHolder::Apro).await;
    assert_eq!(
        outcome,
        ScanOutcome::Error {
            kind: "unavailable".to_owned(),
            message: Some("wait".to_owned()),
            polls: 1
        }
    );

    station.answer_orders(vec![waiting("in_process")]);
    let outcome = scan_station(&sandbox, &station, CardHolder::Apro).await;
    assert!(
        matches!(&outcome, ScanOutcome::Error { kind, polls: 5, .. } if kind == "in_process"),
        "{outcome:?}"
    );
    assert_eq!(station.drain_order_hits().len(), 6);

    // A station that answers 200 without JSON breaks the contract.
    station.answer_orders(vec![(200, "not json".to_owned())]);
    let outcome = scan_station(&sandbox, &station, CardHolder::Apro).await;
    assert!(
        matches!(outcome, ScanOutcome::BadAnswer { status: 200, .. }),
        "{outcome:?}"
    );

    // An order for another seller is refused too.
    let foreign = order(1, "R2", "10.00", &station.notification_url("ipn"));
    station.answer_orders(vec![ready(&foreign)]);
    let outcome = scan_station(&sandbox, &station, CardHolder::Apro).await;
    assert!(
        matches!(outcome, ScanOutcome::BadAnswer { .. }),
        "{outcome:?}"
    );
    assert!(sandbox.payments().is_empty());

    // Closed port: connection refused.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        l.local_addr().expect("address")
    };
    let outcome = sandbox
        .scan(
            ScanTarget::Url(format!("http://{closed}/pay-mp?pos=1")),
            CardHolder::Apro,
            &scan_options(),
        )
        .await
        .expect("scan runs");
    assert!(
        matches!(outcome, ScanOutcome::StationUnreachable { .. }),
        "{outcome:?}"
    );

    // A port that accepts but never answers: unreachable once the bound passes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let silent_addr = silent.local_addr().expect("address");
    let outcome = sandbox
        .scan(
            ScanTarget::Url(format!("http://{silent_addr}/pay-mp")),
            CardHolder::Apro,
            &scan_options(),
        )
        .await
        .expect("scan runs");
    assert!(
        matches!(outcome, ScanOutcome::StationUnreachable { .. }),
        "{outcome:?}"
    );
    drop(silent);

    let unknown = sandbox
        .scan(
            ScanTarget::PosExternalId("NOPE".to_owned()),
            CardHolder::Apro,
            &scan_options(),
        )
        .await;
    assert!(unknown.is_err());
}

#[tokio::test(start_paused = true)]
async fn holder_names_pick_the_payment_status() {
    let sandbox = start_sandbox().await;
    let station = Station::start().await;
    let mp = client_for(&sandbox);
    let expected = [
        (CardHolder::Apro, "approved", "accredited"),
        (CardHolder::Othe, "rejected", "cc_rejected_other_reason"),
        (
            CardHolder::Call,
            "rejected",
            "cc_rejected_call_for_authorize",
        ),
        (CardHolder::Cont, "in_process", "pending_contingency"),
        (
            CardHolder::Fund,
            "rejected",
            "cc_rejected_insufficient_amount",
        ),
        (
            CardHolder::Secu,
            "rejected",
            "cc_rejected_bad_filled_security_code",
        ),
        (CardHolder::Expi, "rejected", "cc_rejected_bad_filled_date"),
        (CardHolder::Form, "rejected", "cc_rejected_bad_filled_other"),
    ];
    for (holder, status, detail) in expected {
        let reference = format!("REF{holder}");
        let ipn = station.notification_url("ipn");
        let payment = pay(&sandbox, &station, &reference, "100.00", &ipn, holder).await;
        let read = mp.get_payment(payment.id).await.expect("payment readable");
        assert_eq!(
            (read.status.as_str(), read.status_detail.as_str()),
            (status, detail),
            "{holder}"
        );
        assert_eq!(read.external_reference.as_deref(), Some(reference.as_str()));
        let mo = mp
            .get_merchant_order(read.order.as_ref().and_then(|o| o.id).expect("MO id"))
            .await
            .expect("merchant order");
        let closed = if status == "approved" {
            "closed"
        } else {
            "opened"
        };
        assert_eq!(mo.status.as_deref(), Some(closed), "{holder}");
    }
    assert_eq!(sandbox.payments().len(), 8);
}

// ----- refunds -----

/// The station offers an order; the customer pays it with `holder`.
async fn pay(
    sandbox: &SandboxHandle,
    station: &Station,
    reference: &str,
    amount: &str,
    notification_url: &str,
    holder: CardHolder,
) -> Payment {
    let the_order = order(sandbox.collector_id(), reference, amount, notification_url);
    station.answer_orders(vec![ready(&the_order)]);
    paid(scan_station(sandbox, station, holder).await)
}

async fn approved_payment(
    sandbox: &SandboxHandle,
    station: &Station,
    reference: &str,
    amount: &str,
) -> Payment {
    let ipn = station.notification_url("ipn");
    pay(sandbox, station, reference, amount, &ipn, CardHolder::Apro).await
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).expect("valid key")
}

#[tokio::test(start_paused = true)]
async fn refunds_total_partial_idempotent_and_bounded() {
    let sandbox = start_sandbox().await;
    let station = Station::start().await;
    let mp = client_for(&sandbox);
    let payment = approved_payment(&sandbox, &station, "R1", "8000.00").await;

    let partial = mp
        .refund(payment.id, Some(dec("1000.50")), &key("sale-1-refund-1"))
        .await
        .expect("partial refund");
    assert_eq!(partial.amount, dec("1000.50"));
    assert_eq!(partial.payment_id, payment.id);
    let again = mp
        .refund(payment.id, Some(dec("1000.50")), &key("sale-1-refund-1"))
        .await
        .expect("same key");
    assert_eq!(again, partial, "the same key returns the same refund");
    let read = mp.get_payment(payment.id).await.expect("payment");
    assert_eq!(
        (read.status.clone(), read.status_detail.as_str()),
        (PaymentStatus::Approved, "partially_refunded")
    );
    assert_eq!(read.transaction_amount_refunded, Some(dec("1000.50")));

    let over = mp
        .refund(payment.id, Some(dec("6999.51")), &key("sale-1-refund-2"))
        .await
        .expect_err("more than what is left");
    assert_eq!(over.status(), Some(400));

    let total = mp
        .refund(payment.id, None, &key("sale-1-refund-3"))
        .await
        .expect("total refund of the rest");
    assert_eq!(total.amount, dec("6999.50"));
    let read = mp.get_payment(payment.id).await.expect("payment");
    assert_eq!(
        (read.status.clone(), read.status_detail.as_str()),
        (PaymentStatus::Refunded, "refunded")
    );
    assert_eq!(read.transaction_amount_refunded, Some(dec("8000.00")));
    let listed = mp.list_refunds(payment.id).await.expect("refund list");
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![partial.id, total.id]
    );
    assert!(mp
        .refund(payment.id, None, &key("sale-1-refund-4"))
        .await
        .is_err());

    // At most 20 partial refunds.
    let small = approved_payment(&sandbox, &station, "R2", "100.00").await;
    for i in 0..20 {
        mp.refund(small.id, Some(Decimal::ONE), &key(&format!("r2-{i}")))
            .await
            .expect("partial within the limit");
    }
    let e = mp
        .refund(small.id, Some(Decimal::ONE), &key("r2-20"))
        .await
        .expect_err("21st partial");
    assert_eq!(e.status(), Some(400));

    // A rejected payment cannot be refunded; an unknown one is 404.
    let ipn = station.notification_url("ipn");
    let rejected = pay(&sandbox, &station, "R3", "5.00", &ipn, CardHolder::Othe).await;
    assert_eq!(
        mp.refund(rejected.id, None, &key("r3"))
            .await
            .map_err(|e| e.status())
            .err(),
        Some(Some(400))
    );
    assert!(mp
        .refund(1, None, &key("r4"))
        .await
        .expect_err("unknown")
        .is_not_found());
}

#[tokio::test(start_paused = true)]
async fn a_refund_without_idempotency_key_is_refused() {
    let sandbox = start_sandbox().await;
    let station = Station::start().await;
    let payment = approved_payment(&sandbox, &station, "R1", "10.00").await;
    let url = format!("{}/v1/payments/{}/refunds", sandbox.base_url(), payment.id);
    let auth = format!("Bearer {}", sandbox.access_token().expose());
    let (status, _) = raw("POST", &url, &[("authorization", &auth)], "").await;
    assert_eq!(status, 400);
    assert!(sandbox.refunds(payment.id).is_empty());
    let (status, body) = raw(
        "POST",
        &url,
        &[
            ("authorization", &auth),
            ("x-idempotency-key", "k1"),
            ("content-type", "application/json"),
        ],
        r#"{"amount": 2.25}"#,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["amount"].to_string(), "2.25");
}

// ----- client behaviour against the knobs -----

#[tokio::test(start_paused = true)]
async fn the_client_retries_503_and_429_and_gives_up_after_its_budget() {
    let sandbox = start_sandbox().await;
    let station = Station::start().await;
    let mp = client_for(&sandbox);
    let payment = approved_payment(&sandbox, &station, "R1", "10.00").await;

    sandbox.fail_api(2, 503);
    assert_eq!(
        mp.get_payment(payment.id)
            .await
            .expect("third try works")
            .id,
        payment.id
    );
    assert_eq!(sandbox.knobs().api_fail_next, 0);

    // 429 with Retry-After: 1 is honoured (virtual time: exactly the waits).
    sandbox.fail_api(2, 429);
    let started = tokio::time::Instant::now();
    mp.get_payment(payment.id).await.expect("after two 429s");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Budget: 1 attempt + 3 retries, then the error with MP's body.
    sandbox.fail_api(10, 500);
    let e = mp.get_payment(payment.id).await.expect_err("still failing");
    assert_eq!(
        error_code(&e),
        (Some(500), Some("internal_error".to_owned()))
    );
    assert_eq!(sandbox.knobs().api_fail_next, 6);
    sandbox.fail_api(0, 503);

    // A POST is retried with its idempotency key: one refund however many tries.
    sandbox.fail_api(1, 503);
    let refund = mp
        .refund(payment.id, Some(dec("1.00")), &key("retry-1"))
        .await
        .expect("refund after a retry");
    assert_eq!(sandbox.refunds(payment.id), vec![refund]);
}

#[tokio::test(start_paused = true)]
async fn the_client_times_out_on_a_slow_api() {
    let sandbox = start_sandbox().await;
    let station = Station::start().await;
    let mp = client_for(&sandbox);
    let payment = approved_payment(&sandbox, &station, "R1", "10.00").await;

    sandbox.slow_api(4, Duration::from_secs(60));
    let e = mp.get_payment(payment.id).await.expect_err("too slow");
    assert!(matches!(e, MpError::Timeout { .. }), "{e:?}");
    assert!(e.is_transient());

    // A slow first attempt of a refund: the retry reuses the key, so there is one refund.
    sandbox.slow_api(1, Duration::from_secs(5));
    mp.refund(payment.id, Some(dec("1.00")), &key("slow-1"))
        .await
        .expect("the retry answers");
    let refunds = mp.list_refunds(payment.id).await.expect("refunds");
    assert_eq!(refunds.len(), 1);
}

// ----- notification retries and knobs -----

#[tokio::test(start_paused = true)]
async fn notifications_are_retried_until_the_station_accepts() {
    let sandbox = start_sandbox().await;
    let mut station = Station::start().await;
    station.answer_notifications(vec![500, 503]);
    let webhooks = station.notification_url("webhooks");
    let payment = pay(
        &sandbox,
        &station,
        "R1",
        "10.00",
        &webhooks,
        CardHolder::Apro,
    )
    .await;
    for _ in 0..3 {
        let hit = station.next_notification().await;
        assert!(hit.query.contains(&format!("data.id={}", payment.id)));
    }
    sandbox
        .wait_deliveries(|d| {
            d.first()
                .is_some_and(|r| r.state == DeliveryState::Delivered)
        })
        .await;
    let record = &sandbox.deliveries()[0];
    let statuses: Vec<Option<u16>> = record.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(503), Some(200)]);
    // Every attempt has its own request id.
    assert_ne!(record.attempts[0].request_id, record.attempts[1].request_id);
}

#[tokio::test(start_paused = true)]
async fn knobs_drop_duplicate_sign_badly_and_reorder() {
    let sandbox = start_sandbox().await;
    let mut station = Station::start().await;
    let webhooks = station.notification_url("webhooks");
    // Dropped: recorded, never sent; the payment is still found by search.
    sandbox.drop_notifications(1);
    let dropped = pay(
        &sandbox,
        &station,
        "DROP",
        "10.00",
        &webhooks,
        CardHolder::Apro,
    )
    .await;
    assert_eq!(sandbox.deliveries()[0].state, DeliveryState::Dropped);

    // Duplicated with a bad signature on the first copy.
    sandbox.duplicate_notifications(1);
    sandbox.bad_signatures(1);
    let dup = pay(
        &sandbox,
        &station,
        "DUP",
        "10.00",
        &webhooks,
        CardHolder::Apro,
    )
    .await;
    let first = station.next_notification().await;
    let second = station.next_notification().await;
    let id = dup.id.to_string();
    let verify = |hit: &Hit| {
        signature::verify(
            &SignedRequest {
                x_signature: Some(hit.header("x-signature")),
                x_request_id: Some(hit.header("x-request-id")),
                data_id: Some(&id),
            },
            &[sandbox.webhook_secret()],
            None,
        )
        .map(|_| ())
    };
    assert_eq!(verify(&first), Err(SignatureError::SignatureMismatch));
    assert_eq!(verify(&second), Ok(()));
    let b1: WebhookBody = serde_json::from_slice(&first.body).expect("body");
    let b2: WebhookBody = serde_json::from_slice(&second.body).expect("body");
    assert_eq!(b1.id, b2.id, "a duplicate is the same notification");
    assert!(!first.query.contains(&dropped.id.to_string()));

    // Reordered: the held batch arrives after the next scan's.
    sandbox.reorder_notifications(1);
    let held = pay(
        &sandbox,
        &station,
        "HELD",
        "10.00",
        &webhooks,
        CardHolder::Apro,
    )
    .await;
    let next = pay(
        &sandbox,
        &station,
        "NEXT",
        "10.00",
        &webhooks,
        CardHolder::Apro,
    )
    .await;
    let a = station.next_notification().await;
    let b = station.next_notification().await;
    assert!(
        a.query.contains(&format!("data.id={}", next.id)),
        "{}",
        a.query
    );
    assert!(
        b.query.contains(&format!("data.id={}", held.id)),
        "{}",
        b.query
    );

    // Delayed: nothing arrives before the delay, then it does (virtual time).
    sandbox.delay_notifications(Duration::from_secs(90));
    let started = tokio::time::Instant::now();
    let late = pay(
        &sandbox,
        &station,
        "LATE",
        "10.00",
        &webhooks,
        CardHolder::Apro,
    )
    .await;
    let hit = station.next_notification().await;
    assert!(hit.query.contains(&format!("data.id={}", late.id)));
    assert!(started.elapsed() >= Duration::from_secs(90));
    sandbox
        .wait_deliveries(|d| d.iter().all(|r| r.state.is_final()))
        .await;
}

// ----- control surface -----

#[tokio::test(start_paused = true)]
async fn the_control_surface_scans_and_sets_knobs_over_http() {
    let sandbox = start_sandbox().await;
    let station = Station::start().await;
    let mp = client_for(&sandbox);
    let base = sandbox.base_url().to_owned();
    let the_order = order(
        sandbox.collector_id(),
        "CTRL1",
        "1234.56",
        &station.notification_url("ipn"),
    );
    station.answer_orders(vec![ready(&the_order)]);
    let scan = serde_json::json!({"url": station.order_url(), "card_holder": "CALL", "poll_interval_ms": 10});
    let (status, outcome) = post_json(&format!("{base}/_sandbox/scan"), &scan.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(outcome["outcome"], "paid");
    assert_eq!(
        outcome["payment"]["status_detail"],
        "cc_rejected_call_for_authorize"
    );
    assert_eq!(
        outcome["payment"]["transaction_amount"].to_string(),
        "1234.56"
    );
    let decoded: ScanOutcome = serde_json::from_value(outcome).expect("outcome decodes");
    let payment = paid(decoded);

    let (status, knobs) = post_json(
        &format!("{base}/_sandbox/knobs"),
        r#"{"api_fail_next": 1, "api_fail_status": 503}"#,
    )
    .await;
    assert_eq!((status, knobs["api_fail_next"].as_u64()), (200, Some(1)));
    assert_eq!(
        mp.get_payment(payment.id).await.expect("retried").id,
        payment.id
    );
    assert_eq!(sandbox.knobs().api_fail_next, 0);

    let (status, _) = post_json(&format!("{base}/_sandbox/knobs"), r#"{"no_such_knob": 1}"#).await;
    assert_eq!(status, 400);
    let (status, payments) = raw("GET", &format!("{base}/_sandbox/payments"), &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(payments.as_array().map(Vec::len), Some(1));
    let (status, _) = post_json(
        &format!("{base}/_sandbox/scan"),
        r#"{"pos_external_id": "NOPE"}"#,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(start_paused = true)]
async fn search_filters_sorts_and_pages() {
    let sandbox = start_sandbox().await;
    let station = Station::start().await;
    let mp = client_for(&sandbox);
    let first = approved_payment(&sandbox, &station, "SAME", "1.00").await;
    let second = approved_payment(&sandbox, &station, "SAME", "2.00").await;
    approved_payment(&sandbox, &station, "OTHER", "3.00").await;
    let found = mp
        .search_payments_by_reference("SAME")
        .await
        .expect("search");
    assert_eq!(found.paging.total, 2);
    assert_eq!(
        found.results.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![second.id, first.id],
        "newest first"
    );
    let base = sandbox.base_url();
    let auth = format!("Bearer {}", sandbox.access_token().expose());
    let (status, page) = raw(
        "GET",
        &format!("{base}/v1/payments/search?status=approved&sort=date_created&criteria=asc&limit=1&offset=1"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["paging"]["total"], 3);
    assert_eq!(page["results"][0]["id"].as_i64(), Some(second.id));
    let (status, _) = raw(
        "GET",
        &format!("{base}/v1/payments/search?criteria=sideways"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = raw(
        "GET",
        &format!("{base}/v1/payments/search?external_referense=SAME"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, 400, "a misspelt filter is refused, not ignored");
}
