//! The HTTP/1 accept loop shared by the public and the admin listener.
//!
//! A task per connection (hyper's `http1` over `TokioIo`), with bounds on everything a
//! client controls: header bytes, time to send the headers, body size and total request
//! time. The body is read (up to the limit) before a handler sees the request, so
//! handlers work on plain bytes and never on a half-open stream. A connection's first
//! request head is checked before hyper parses it ([`head`]), so garbage and oversized
//! headers get a JSON answer too. Shutdown stops
//! accepting, lets requests in progress finish, and gives up after a deadline.

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
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, HttpResponse};
use super::head;

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 64 * 1024,
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
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
        let handler = handler.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, handler, peer, limits, watcher).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, handler, peer, limits, watcher).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("connections still open after the drain deadline");
        }
    }
}

/// Serves one connection (plain or TLS) until it ends or shutdown drains it.
async fn serve_connection<I>(
    io: I,
    handler: Arc<dyn Handler>,
    peer: SocketAddr,
    limits: Limits,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = match head::read_first(io, MAX_HEADER_BUFFER, limits.header_timeout).await {
        head::Head::Serve(io) => io,
        head::Head::Refused => return,
    };
    let service = service_fn(move |request: Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(answer(handler, request, peer, limits).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
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
