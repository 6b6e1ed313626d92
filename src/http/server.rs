//! The HTTP/1 accept loop shared by the public and the admin listener.
//!
//! A task per connection (hyper's `http1` over `TokioIo`), with bounds on everything a
//! client controls: header bytes, time to send the headers, body size and total request
//! time. The body is read (up to the limit) before a handler sees the request, so
//! handlers work on plain bytes and never on a half-open stream. Each connection starts
//! in [`ready`], which answers requests whose answer is ready bytes without hyper and
//! hands the rest to hyper; heads are checked before hyper parses them
//! ([`super::head`]), so garbage and oversized headers get a JSON answer too. Shutdown stops
//! accepting, lets requests in progress finish, and gives up after a deadline.
//!
//! Under a flood the listener stays bounded: at most [`Limits::max_connections`] are
//! served at once, and a connection over the cap gets a JSON 503 at once and is closed
//! (rather than left waiting: a waiting socket holds memory too, and the client learns
//! to retry instead of timing out). A client that stops reading its answer is cut off
//! after [`Limits::write_timeout`] ([`WriteTimeout`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, HttpResponse};
use super::quiet::Quiet;
use super::ready::{self, Ready};
use super::write_timeout::WriteTimeout;

/// Bounds on what one client may make a listener do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body: usize,
    /// Time allowed to send the request headers.
    pub header_timeout: Duration,
    /// Time allowed for the whole request, body included.
    pub request_timeout: Duration,
    /// How long shutdown waits for requests in progress.
    pub drain_timeout: Duration,
    /// Connections served at once; more get a 503 and are closed.
    pub max_connections: usize,
    /// Time a write of the answer may make no progress before the connection is closed.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 64 * 1024,
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// Connections served at once by default: far above what Mercado Pago and a station's
/// staff make, far below what fits in the box's memory (about 16 KiB each).
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Default time a write may stall: a phone on a poor link still takes a 1 KiB answer
/// well within it.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection over the cap gets, in one write, before it is closed.
fn over_capacity() -> &'static [u8] {
    static ANSWER: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let body = ApiError::Unavailable("too many connections; try again".to_owned())
            .body()
            .to_string();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    &ANSWER
}

/// Answers a connection over the cap without a task: one non-blocking write (a fresh
/// socket's send buffer always takes it), then close.
fn refuse(stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "connection over the cap refused");
    let _ = stream.try_write(over_capacity());
}

/// Bytes hyper buffers for one connection's headers; its minimum. Real Mercado Pago
/// calls carry a few hundred bytes of headers.
const MAX_HEADER_BUFFER: usize = 8 * 1024;

/// A boxed handler future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = HttpResponse> + Send>>;

/// Answers one request whose body has been read.
pub trait Handler: Send + Sync + 'static {
    /// Handles the request from `peer`.
    fn handle(&self, request: Request<Bytes>, peer: SocketAddr) -> HandlerFuture;

    /// The answer to a `GET` or `HEAD` of `target` (path and query, as sent) from `peer`
    /// when it is ready at once, without a body or anything to wait for; `None` has
    /// [`Handler::handle`] serve it (see [`ready`]). Whatever an answer counts or records
    /// is done here, as `handle` would do it.
    fn ready(&self, _method: &Method, _target: &str, _peer: SocketAddr) -> Option<Ready> {
        None
    }
}

/// Serves `listener` with `handler` until `shutdown` fires, then drains. With `tls`,
/// every connection first completes a TLS handshake within the header timeout.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let quiet = Quiet::new(slots.clone(), limits.max_connections);
    let trimmer = tokio::spawn(quiet.clone().run(shutdown.clone()));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream, peer);
            continue;
        };
        // Small answers go out at once instead of waiting for Nagle's timer.
        let _ = stream.set_nodelay(true);
        let stream = WriteTimeout::new(stream, limits.write_timeout);
        let handler = handler.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let quiet = quiet.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _slot = Slot {
                permit: Some(slot),
                quiet,
            };
            match tls {
                None => serve_connection(stream, handler, peer, limits, watcher, stop).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, handler, peer, limits, watcher, stop).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = trimmer.await;
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("connections still open after the drain deadline");
        }
    }
}

/// A connection's slot; giving it back tells [`Quiet`] (also when the task panics).
struct Slot {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    quiet: Quiet,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The permit goes back first, so the last connection finds the listener idle.
        drop(self.permit.take());
        self.quiet.connection_closed();
    }
}

/// Serves one connection (plain or TLS) until it ends or shutdown drains it.
async fn serve_connection<I>(
    io: I,
    handler: Arc<dyn Handler>,
    peer: SocketAddr,
    limits: Limits,
    watcher: Watcher,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let served = ready::serve(
        io,
        &*handler,
        peer,
        MAX_HEADER_BUFFER,
        limits.header_timeout,
        &shutdown,
    )
    .await;
    let io = match served {
        ready::Served::Hyper(io) => io,
        ready::Served::Done => return,
    };
    let service = service_fn(move |request: Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(answer(handler, request, peer, limits).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The stream bounds the time to send each head itself, on one timer per
        // connection instead of one per request (see `head`).
        .header_read_timeout(None)
        // A refused later head ends the read side (see `head`); the answers owed for the
        // requests before it are still written.
        .half_close(true)
        .max_buf_size(MAX_HEADER_BUFFER);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

async fn answer(
    handler: Arc<dyn Handler>,
    request: Request<Incoming>,
    peer: SocketAddr,
    limits: Limits,
) -> HttpResponse {
    let work = async {
        let (parts, body) = request.into_parts();
        let bytes = match Limited::new(body, limits.max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return if e.is::<http_body_util::LengthLimitError>() {
                    ApiError::PayloadTooLarge.into_response()
                } else {
                    ApiError::BadRequest("could not read the request body".to_owned())
                        .into_response()
                };
            }
        };
        handler
            .handle(Request::from_parts(parts, bytes), peer)
            .await
    };
    match tokio::time::timeout(limits.request_timeout, work).await {
        Ok(response) => response,
        Err(_) => {
            let mut response =
                ApiError::BadRequest("request took too long".to_owned()).into_response();
            *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    struct Hello;

    impl Handler for Hello {
        fn handle(&self, _request: Request<Bytes>, _peer: SocketAddr) -> HandlerFuture {
            Box::pin(async {
                super::super::error::json_response(StatusCode::OK, &serde_json::json!({}))
            })
        }
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut text = Vec::new();
        let _ = stream.read_to_end(&mut text).await;
        String::from_utf8_lossy(&text).into_owned()
    }

    #[tokio::test]
    async fn a_connection_over_the_cap_gets_a_json_503_and_a_slot_frees_on_close() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(Hello),
            limits,
            None,
            shutdown.clone(),
        ));
        let mut first = TcpStream::connect(addr).await.expect("first");
        // The first connection holds the only slot until it ends.
        first
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("request");
        let mut head = [0u8; 12];
        first.read_exact(&mut head).await.expect("first answer");
        assert_eq!(&head, b"HTTP/1.1 200");

        let mut second = TcpStream::connect(addr).await.expect("second");
        let answer = read_all(&mut second).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(json["error"]["type"], "unavailable");

        drop(first);
        // The slot comes back once the first connection's task has ended.
        let answer = loop {
            let mut third = TcpStream::connect(addr).await.expect("third");
            third
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .expect("request");
            let answer = read_all(&mut third).await;
            if !answer.starts_with("HTTP/1.1 503") {
                break answer;
            }
            tokio::task::yield_now().await;
        };
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        shutdown.cancel();
        server.await.expect("server");
    }
}
