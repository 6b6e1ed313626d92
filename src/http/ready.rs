//! Requests answered from ready bytes, before hyper.
//!
//! The order endpoint's answers are rendered when the forecourt changes and kept as bytes
//! (`crate::forecourt::answers`), so a call for one needs its head parsed and the bytes
//! written, nothing more. Every connection starts here: each whole head of a `GET` or
//! `HEAD` without a body that the handler answers at once ([`Handler::ready`]) is
//! answered in this loop, with one write for the answers to everything read (pipelined
//! requests included). The first request it does not answer (another method or path, a
//! body, an answer that is an error, HTTP/1.0, `expect`, `upgrade`…) hands the
//! connection, with every byte not yet answered, to hyper through [`Watched`], for good.
//! Every answer written before that is whole, so answers keep the order of requests.
//!
//! A malformed or oversized head gets its JSON refusal here and the connection closes, as
//! [`Watched`] does for heads hyper would see. The time to send a head is bounded the same
//! way ([`HeadDeadline`]), and shutdown closes a connection that waits between requests.

use std::future::{poll_fn, Future};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use hyper::{Method, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::head::{self, Check, HeadDeadline, Watched, MAX_HEADERS};
use super::server::Handler;

/// An answer ready to go: a JSON body and its status.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Bytes,
}

/// How a connection left the ready loop.
pub(super) enum Served<I> {
    /// It ended (closed by either side, refused, timed out or shut down).
    Done,
    /// A request the loop does not answer: hyper serves it and the rest.
    Hyper(Watched<I>),
}

/// Room kept free in the read buffer before each read.
const READ_ROOM: usize = 1024;

/// Serves `io` from ready answers until it ends or a request needs hyper.
pub(super) async fn serve<I>(
    mut io: I,
    handler: &dyn Handler,
    peer: SocketAddr,
    limit: usize,
    head_timeout: Duration,
    shutdown: &CancellationToken,
) -> Served<I>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut input = BytesMut::with_capacity(4 * READ_ROOM);
    let mut output = Vec::with_capacity(4 * READ_ROOM);
    let mut deadline = HeadDeadline::new(head_timeout);
    let mut date = HttpDate::default();
    let mut cancelled = std::pin::pin!(shutdown.cancelled());
    loop {
        let stop = answer_batch(
            &mut input,
            &mut output,
            limit,
            (handler, peer),
            &mut deadline,
            &mut date,
        );
        if !output.is_empty() {
            // The flush sends what a TLS stream still holds (a no-op on plain TCP).
            if io.write_all(&output).await.is_err() || io.flush().await.is_err() {
                return Served::Done;
            }
            output.clear();
            // A client that pipelines and never reads is held to one batch in memory.
            output.shrink_to(OUTPUT_BATCH);
        }
        match stop {
            Stop::Close => {
                let _ = io.shutdown().await;
                return Served::Done;
            }
            Stop::Hyper => return Served::Hyper(Watched::new(io, input, limit, head_timeout)),
            Stop::BatchFull => continue,
            Stop::NeedMore => {}
        }
        if input.capacity() - input.len() < READ_ROOM {
            input.reserve(4 * READ_ROOM);
        }
        let read = poll_fn(|cx| {
            match tokio_util::io::poll_read_buf(Pin::new(&mut io), cx, &mut input) {
                Poll::Ready(result) => Poll::Ready(Read::Bytes(result)),
                Poll::Pending => {
                    // Shutdown ends a connection between requests, never one mid-head.
                    let stopping =
                        shutdown.is_cancelled() || cancelled.as_mut().poll(cx).is_ready();
                    if stopping && input.is_empty() {
                        Poll::Ready(Read::Stopping)
                    } else if deadline.poll_overdue(cx) {
                        Poll::Ready(Read::Overdue)
                    } else {
                        Poll::Pending
                    }
                }
            }
        })
        .await;
        match read {
            Read::Bytes(Ok(0)) if input.is_empty() => return Served::Done,
            // The peer ended mid-head: hyper sees the partial bytes and judges them.
            Read::Bytes(Ok(0)) => {
                return Served::Hyper(Watched::new(io, input, limit, head_timeout));
            }
            Read::Bytes(Ok(_)) => {}
            Read::Bytes(Err(_)) | Read::Stopping => return Served::Done,
            Read::Overdue => {
                tracing::debug!(%peer, "the request head did not arrive in time");
                return Served::Done;
            }
        }
    }
}

/// Answers written to the connection at once; past it, the heads read are answered
/// after the write (so a client that pipelines requests and never reads its answers
/// holds at most this much of the daemon's memory, plus what it sent).
const OUTPUT_BATCH: usize = 16 * 1024;

/// Why a batch of answers ended.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// Every whole head was answered: read more.
    NeedMore,
    /// The batch is full: write it, then answer the heads left.
    BatchFull,
    /// Write the batch, then close (`connection: close`, or a refusal).
    Close,
    /// Write the batch, then hand the rest to hyper.
    Hyper,
}

/// Answers the whole heads at the front of `input` into `output`, up to one batch.
fn answer_batch(
    input: &mut BytesMut,
    output: &mut Vec<u8>,
    limit: usize,
    (handler, peer): (&dyn Handler, SocketAddr),
    deadline: &mut HeadDeadline,
    date: &mut HttpDate,
) -> Stop {
    while !input.is_empty() {
        if output.len() >= OUTPUT_BATCH {
            return Stop::BatchFull;
        }
        match next(input, limit, handler, peer) {
            Step::Answer {
                length,
                ready,
                head_only,
                close,
            } => {
                input.advance(length);
                deadline.head_arrived();
                write_answer(output, &ready, head_only, close, date.now());
                if close {
                    return Stop::Close;
                }
            }
            Step::NeedMore => return Stop::NeedMore,
            Step::Hyper => return Stop::Hyper,
            Step::Refused(status, message) => {
                tracing::debug!(%peer, status, message, "refused a request head");
                output.extend_from_slice(&head::refusal(status, message));
                return Stop::Close;
            }
        }
    }
    Stop::NeedMore
}

/// What waiting for more bytes found.
enum Read {
    Bytes(io::Result<usize>),
    Stopping,
    Overdue,
}

/// What the next head in the buffer calls for.
enum Step {
    /// Answered from ready bytes: the head's length, the answer, whether the body is left
    /// out (`HEAD`), whether the connection closes after it.
    Answer {
        length: usize,
        ready: Ready,
        head_only: bool,
        close: bool,
    },
    /// The head is not whole yet.
    NeedMore,
    /// Hyper serves this request and the rest of the connection.
    Hyper,
    /// Refused with a JSON error: status and message.
    Refused(u16, &'static str),
}

fn next(input: &[u8], limit: usize, handler: &dyn Handler, peer: SocketAddr) -> Step {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(input) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if input.len() < limit => return Step::NeedMore,
        // Over the limit or malformed: the same judgement as for any later head.
        _ => {
            return match head::check(input, limit) {
                Check::Refused(status, message) => Step::Refused(status, message),
                _ => Step::Hyper,
            }
        }
    };
    if request.version != Some(1) {
        return Step::Hyper;
    }
    let method = match request.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Step::Hyper,
    };
    let Some(target) = request.path.filter(|t| t.starts_with('/')) else {
        return Step::Hyper;
    };
    let mut close = false;
    for header in request.headers.iter() {
        let name = header.name;
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        if is("content-length") {
            if header.value.trim_ascii() != b"0" {
                return Step::Hyper;
            }
        } else if is("connection") {
            let value = header.value.trim_ascii();
            if value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if !value.eq_ignore_ascii_case(b"keep-alive") {
                return Step::Hyper;
            }
        } else if is("transfer-encoding") || is("expect") || is("upgrade") {
            return Step::Hyper;
        }
    }
    match handler.ready(&method, target, peer) {
        Some(ready) => Step::Answer {
            length,
            ready,
            head_only: method == Method::HEAD,
            close,
        },
        None => Step::Hyper,
    }
}

/// Appends an answer in the bytes hyper would write for it.
fn write_answer(out: &mut Vec<u8>, ready: &Ready, head_only: bool, close: bool, date: &str) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(ready.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        ready
            .status
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\ncontent-type: application/json");
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\ncontent-length: ");
    let _ = write!(out, "{}", ready.body.len());
    out.extend_from_slice(b"\r\ndate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(&ready.body);
    }
}

/// The `date` header's value, formatted once a second.
#[derive(Default)]
struct HttpDate {
    second: u64,
    text: String,
}

impl HttpDate {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hyper::Request;
    use tokio::io::{duplex, AsyncReadExt, DuplexStream};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::http::error::json_bytes_response;
    use crate::http::server::{serve as serve_listener, HandlerFuture, Limits};

    const BODY: &str = r#"{"order":1}"#;

    /// Answers `/ready` from ready bytes and everything through `handle`: the same body.
    struct Fixed;

    impl Handler for Fixed {
        fn handle(&self, request: Request<Bytes>, _peer: SocketAddr) -> HandlerFuture {
            let body = if request.uri().path() == "/ready" {
                Bytes::from_static(BODY.as_bytes())
            } else {
                Bytes::from(format!(
                    r#"{{"via":"hyper","len":{}}}"#,
                    request.body().len()
                ))
            };
            Box::pin(async move { json_bytes_response(StatusCode::OK, body) })
        }

        fn ready(&self, _method: &Method, target: &str, _peer: SocketAddr) -> Option<Ready> {
            (target == "/ready").then(|| Ready {
                status: StatusCode::OK,
                body: Bytes::from_static(BODY.as_bytes()),
            })
        }
    }

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    /// Runs the loop over a duplex pipe fed `input`; what it wrote and whether it handed
    /// the connection to hyper.
    async fn run(input: &[u8], close_input: bool) -> (String, bool) {
        let (mut client, server) = duplex(64 * 1024);
        client.write_all(input).await.expect("write");
        if close_input {
            client.shutdown().await.expect("half-close");
        }
        let shutdown = CancellationToken::new();
        let served = serve(
            server,
            &Fixed,
            peer(),
            8 * 1024,
            Duration::from_secs(5),
            &shutdown,
        );
        let hyper = match served.await {
            Served::Done => false,
            Served::Hyper(watched) => {
                drop(watched);
                true
            }
        };
        let mut out = String::new();
        let _ = client.read_to_string(&mut out).await;
        (out, hyper)
    }

    /// A listener served with [`Fixed`]: its address, its shutdown and its task.
    async fn listening() -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve_listener(
            listener,
            Arc::new(Fixed),
            Limits::default(),
            None,
            shutdown.clone(),
        ));
        (addr, shutdown, server)
    }

    /// Sends `request` on a new connection and reads until the server closes it.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("request");
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn without_dates(text: &str) -> String {
        text.lines()
            .filter(|l| !l.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn ready_answers_are_the_bytes_hyper_writes() {
        let (addr, shutdown, server) = listening().await;
        // The same request and answer, once from ready bytes and once through hyper (a
        // chunked body, which the ready loop never takes).
        let ready = exchange(
            addr,
            b"GET /ready HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
        )
        .await;
        let hyper = exchange(
            addr,
            b"GET /ready HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\
              transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .await;
        assert!(ready.starts_with("HTTP/1.1 200 OK\r\n"), "{ready}");
        assert!(ready.contains("\r\ndate: "), "{ready}");
        assert_eq!(without_dates(&ready), without_dates(&hyper));
        for head_only in [
            &b"HEAD /ready HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"[..],
            b"HEAD /ready HTTP/1.1\r\nhost: a\r\nconnection: close\r\ncontent-length: 0\r\n\
              transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        ] {
            let out = exchange(addr, head_only).await;
            assert!(out.ends_with("\r\n\r\n"), "no body for HEAD: {out}");
            assert!(
                out.contains(&format!("content-length: {}\r\n", BODY.len())),
                "{out}"
            );
        }
        shutdown.cancel();
        server.await.expect("server");
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order_across_the_hand_over() {
        let (addr, shutdown, server) = listening().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(
                b"GET /ready HTTP/1.1\r\nhost: a\r\n\r\n\
                  GET /ready HTTP/1.1\r\nhost: a\r\n\r\n\
                  POST /other HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello\
                  GET /ready HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
            )
            .await
            .expect("requests");
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        let out = String::from_utf8_lossy(&out);
        let bodies: Vec<&str> = out
            .split("HTTP/1.1 200 OK")
            .skip(1)
            .filter_map(|a| a.split("\r\n\r\n").nth(1))
            .collect();
        assert_eq!(
            bodies,
            [BODY, BODY, r#"{"via":"hyper","len":5}"#, BODY],
            "{out}"
        );
        shutdown.cancel();
        server.await.expect("server");
    }

    #[tokio::test]
    async fn what_the_loop_does_not_answer_goes_to_hyper_unread() {
        for request in [
            &b"GET /other HTTP/1.1\r\n\r\n"[..],
            b"POST /ready HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
            b"GET /ready HTTP/1.0\r\n\r\n",
            b"GET /ready HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
            b"GET /ready HTTP/1.1\r\nexpect: 100-continue\r\n\r\n",
            b"GET /ready HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
            b"GET http://a/ready HTTP/1.1\r\n\r\n",
        ] {
            let (out, hyper) = run(request, false).await;
            assert!(hyper, "{}", String::from_utf8_lossy(request));
            assert_eq!(out, "", "nothing written before the hand-over");
        }
    }

    #[test]
    fn a_client_that_pipelines_without_reading_is_answered_one_batch_at_a_time() {
        let request = b"GET /ready HTTP/1.1\r\n\r\n";
        let mut input = BytesMut::new();
        for _ in 0..2000 {
            input.extend_from_slice(request);
        }
        let mut output = Vec::new();
        let mut deadline = HeadDeadline::new(Duration::from_secs(5));
        let mut date = HttpDate::default();
        let mut batches = 0;
        let mut answered = 0;
        loop {
            let stop = answer_batch(
                &mut input,
                &mut output,
                8 * 1024,
                (&Fixed, peer()),
                &mut deadline,
                &mut date,
            );
            // At most one answer past the batch size.
            assert!(
                output.len() < OUTPUT_BATCH + 200,
                "a batch holds {} bytes",
                output.len()
            );
            answered += String::from_utf8_lossy(&output).matches(BODY).count();
            output.clear();
            batches += 1;
            if stop == Stop::NeedMore {
                break;
            }
            assert_eq!(stop, Stop::BatchFull);
        }
        assert_eq!(answered, 2000);
        assert!(batches > 10, "{batches} batches");
        assert!(input.is_empty());
    }

    #[tokio::test]
    async fn garbage_and_huge_heads_get_json_and_the_connection_closes() {
        let (out, hyper) = run(b"\x16\x03\x01 not http\r\n\r\n", false).await;
        assert!(!hyper);
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        assert!(out.contains("content-type: application/json"), "{out}");
        assert!(out.ends_with(r#""type":"bad_request"}}"#), "{out}");

        let mut huge = b"GET /ready HTTP/1.1\r\nx-big: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 9000));
        let (out, hyper) = run(&huge, false).await;
        assert!(!hyper);
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");

        // Ready answers owed before a bad head are written first.
        let mut input = b"GET /ready HTTP/1.1\r\n\r\n".to_vec();
        input.extend_from_slice(b"\x16\x03 garbage\r\n\r\n");
        let (out, _) = run(&input, false).await;
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.contains(&format!("{BODY}HTTP/1.1 400 ")), "{out}");
    }

    #[tokio::test]
    async fn a_connection_ending_mid_head_goes_to_hyper_and_one_ending_between_requests_ends() {
        let (out, hyper) = run(b"GET /ready HTTP/1.1\r\n\r\nGET /rea", true).await;
        assert!(hyper, "hyper judges the partial head");
        assert!(out.ends_with(BODY), "{out}");
        let (out, hyper) = run(b"GET /ready HTTP/1.1\r\n\r\n", true).await;
        assert!(!hyper);
        assert!(out.ends_with(BODY), "{out}");
    }

    async fn serving(
        timeout: Duration,
        shutdown: CancellationToken,
    ) -> (DuplexStream, tokio::task::JoinHandle<bool>) {
        let (client, server) = duplex(64 * 1024);
        let task = tokio::spawn(async move {
            let served = serve(server, &Fixed, peer(), 8 * 1024, timeout, &shutdown).await;
            matches!(served, Served::Hyper(_))
        });
        (client, task)
    }

    /// Reads one whole answer (it ends with [`BODY`]).
    async fn read_answer(client: &mut DuplexStream) -> String {
        let mut answer = Vec::new();
        while !answer.ends_with(BODY.as_bytes()) {
            let mut byte = [0u8; 1];
            client.read_exact(&mut byte).await.expect("an answer");
            answer.push(byte[0]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn each_head_has_the_head_timeout_from_its_own_wait() {
        let timeout = Duration::from_secs(5);
        let (mut client, task) = serving(timeout, CancellationToken::new()).await;
        const REQUEST: &[u8] = b"GET /ready HTTP/1.1\r\n\r\n";
        // Requests 3/4 of the timeout apart, longer than the timeout in all.
        for _ in 0..3 {
            tokio::time::sleep(timeout * 3 / 4).await;
            client.write_all(REQUEST).await.expect("write");
            let answer = read_answer(&mut client).await;
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        }
        client
            .write_all(b"GET /ready HTTP/1.1\r\n")
            .await
            .expect("write");
        let began = tokio::time::Instant::now();
        let hyper = task.await.expect("task");
        assert!(!hyper);
        assert_eq!(
            began.elapsed(),
            timeout,
            "a head that never ends is cut off"
        );
    }

    #[tokio::test]
    async fn shutdown_closes_a_connection_waiting_between_requests() {
        let shutdown = CancellationToken::new();
        let (mut client, task) = serving(Duration::from_secs(60), shutdown.clone()).await;
        client
            .write_all(b"GET /ready HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        read_answer(&mut client).await;
        shutdown.cancel();
        assert!(!task.await.expect("task"));
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest).await;
    }
}
