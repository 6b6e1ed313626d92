//! Public listener hardening: a flood of unsigned hints from one source neither blocks a
//! genuine delivery from another, nor grows the journal, nor costs unbounded Mercado Pago
//! reads; a replayed signed webhook costs one read.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use forecourtd::access::counters::Refusal;
use forecourtd::lab::sandbox::{CardHolder, Sandbox, SandboxHandle};
use forecourtd::mercadopago::signature;
use forecourtd::sale::SaleStatus;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::support::payments::{
    eventually, reference, sandbox_settings, start_daemon_with, PaySetup, PayStation,
};
use crate::support::Rig;

/// A stand-in in front of the sandbox that counts each API read by path.
struct CountingProxy {
    url: String,
    reads: Arc<Mutex<Vec<String>>>,
}

impl CountingProxy {
    async fn start(upstream: String) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let reads = Arc::new(Mutex::new(Vec::new()));
        let seen = reads.clone();
        tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            while let Ok((stream, _)) = listener.accept().await {
                let (client, seen, upstream) = (client.clone(), seen.clone(), upstream.clone());
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (client, seen, upstream) = (client.clone(), seen.clone(), upstream.clone());
                    async move {
                        let (mut parts, body) = request.into_parts();
                        let path = parts.uri.path_and_query().map(|p| p.to_string());
                        let path = path.unwrap_or_default();
                        if parts.method == hyper::Method::GET
                            && (path.starts_with("/v1/payments/")
                                || path.starts_with("/merchant_orders/"))
                        {
                            seen.lock().expect("reads").push(path.clone());
                        }
                        parts.uri = format!("{upstream}{path}").parse().expect("uri");
                        parts.headers.remove(hyper::header::HOST);
                        let body = body.collect().await.expect("body").to_bytes();
                        let answer = client
                            .request(Request::from_parts(parts, Full::new(body)))
                            .await
                            .expect("upstream");
                        let (parts, body) = answer.into_parts();
                        let body = body.collect().await.expect("body").to_bytes();
                        Ok::<_, Infallible>(Response::from_parts(parts, Full::new(body)))
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CountingProxy {
            url: format!("http://{addr}"),
            reads,
        }
    }

    fn reads(&self) -> Vec<String> {
        self.reads.lock().expect("reads").clone()
    }

    fn reads_of(&self, fragment: &str) -> usize {
        self.reads().iter().filter(|p| p.contains(fragment)).count()
    }
}

/// A paying station whose API calls go through a counting proxy, behind a trusted
/// reverse proxy at 127.0.0.1.
async fn station(source_news: &'static str) -> (PayStation, CountingProxy) {
    let rig = Rig::new(1);
    let sandbox: SandboxHandle = Sandbox::start(sandbox_settings()).await.expect("sandbox");
    let proxy = CountingProxy::start(sandbox.base_url().to_owned()).await;
    let setup = PaySetup {
        pumps: 1,
        source_news,
        ..PaySetup::default()
    };
    let base = sandbox.base_url().to_owned();
    let proxy_url = proxy.url.clone();
    let station = start_daemon_with(&rig, &sandbox, &setup, move |text| {
        text.replace(
            &format!("api_base_url = \"{base}\""),
            &format!("api_base_url = \"{proxy_url}\""),
        )
        .replace(
            "[listen]\n",
            "[listen]\npublic_trusted_proxies = [\"127.0.0.1\"]\n",
        )
    })
    .await;
    (
        PayStation {
            rig,
            sandbox,
            station,
        },
        proxy,
    )
}

async fn notify(public: &str, query: &str, headers: &[(&str, &str)], body: &str) -> StatusCode {
    let mut request = Request::post(format!("{public}/mp/notifications?{query}"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let client = Client::builder(TokioExecutor::new()).build_http();
    client.request(request).await.expect("response").status()
}

#[tokio::test]
async fn a_hint_flood_from_one_source_does_not_block_another_nor_grow_the_journal_or_the_reads() {
    let (pay, proxy) = station("ipn").await;
    let public = pay.station.public.clone();
    let accepted = AtomicUsize::new(0);
    for i in 0..300u32 {
        let status = notify(
            &public,
            &format!("topic=payment&id={}", 900_000_000 + i),
            &[("x-forwarded-for", "203.0.113.7")],
            &format!("{{\"padding\":\"{}\"}}", "x".repeat(2000)),
        )
        .await;
        match status {
            StatusCode::OK => {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected answer {other} to a hint"),
        }
    }
    let accepted = accepted.into_inner();
    // The source's burst, plus one a second for however long the loop took.
    assert!(
        (30..=60).contains(&accepted),
        "{accepted} hints accepted from one source"
    );
    let refusals = pay.station.daemon.refusals();
    assert_eq!(
        refusals.get(Refusal::HintRateLimited),
        u64::try_from(300 - accepted).expect("count")
    );

    // A genuine customer pays meanwhile; Mercado Pago's IPN comes from another source.
    let order = pay.dispatch(1, "500").await;
    pay.pay(1, CardHolder::Apro).await;
    pay.wait_sale(&reference(&order), SaleStatus::Paid).await;

    // Every accepted hint cost at most one read, and the journal holds no more hints than
    // were accepted, none with a body.
    let flood_reads = eventually("flood hints read", || async {
        let n = proxy.reads_of("/v1/payments/9000");
        (n >= accepted).then_some(n)
    })
    .await;
    assert_eq!(flood_reads, accepted, "{:?}", proxy.reads());
    let journal = pay.station.daemon.journal();
    let stored = journal.hint_count().await.expect("count");
    assert!(stored as usize <= accepted + 2, "{stored} hints stored");
    let notification = journal
        .notification(1)
        .await
        .expect("read")
        .expect("first hint");
    assert_eq!(notification.body, None);
    pay.station.stop().await;
}

#[tokio::test]
async fn a_replayed_signed_webhook_costs_one_read() {
    let (pay, proxy) = station("webhooks").await;
    let public = pay.station.public.clone();
    let secret = pay.sandbox.webhook_secret().expose().to_owned();
    let signed = |id: &str, request_id: &str| {
        let ts = u64::try_from(jiff::Timestamp::now().as_second()).expect("after 1970");
        signature::sign(secret.as_bytes(), Some(id), Some(request_id), ts)
    };
    let replayed = signed("777000111", "req-replayed");
    for i in 0..30 {
        let status = notify(
            &public,
            "type=payment&data.id=777000111",
            &[("x-signature", &replayed), ("x-request-id", "req-replayed")],
            r#"{"type":"payment","data":{"id":"777000111"}}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "delivery {i}");
        if i == 0 {
            eventually("first read", || async {
                (proxy.reads_of("777000111") >= 1).then_some(())
            })
            .await;
        }
    }
    // A later, different delivery is read; the replays queued before it would have been
    // read by then.
    let other = signed("777000222", "req-other");
    let status = notify(
        &public,
        "type=payment&data.id=777000222",
        &[("x-signature", &other), ("x-request-id", "req-other")],
        r#"{"type":"payment","data":{"id":"777000222"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    eventually("the other delivery read", || async {
        (proxy.reads_of("777000222") >= 1).then_some(())
    })
    .await;
    assert_eq!(proxy.reads_of("777000111"), 1, "{:?}", proxy.reads());
    pay.station.stop().await;
}
