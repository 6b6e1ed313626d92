//! Request heads checked before hyper sees them, so that a request hyper would refuse
//! below the HTTP layer (a malformed request line, headers over the limit) gets a JSON
//! answer instead of hyper's bare status line, on the first request of a connection and
//! on every later one (keep-alive, pipelining).
//!
//! Owns the checking of heads and the stream that hands the bytes on to hyper
//! ([`Watched`]). A connection's first heads go through `super::ready`, which answers
//! what it can from ready bytes and refuses bad heads itself; from the first request it
//! hands to hyper on, heads are checked here as hyper reads them. A head that parses goes
//! to hyper unchanged; hyper's own limits and timeouts still apply.
//!
//! A bad later head is not given to hyper: hyper sees the end of the stream, finishes the
//! answers it owes for the requests before it, and shuts the stream down; the shutdown
//! writes the JSON refusal first. Bodies are skipped by their `content-length`; a request
//! with `transfer-encoding` (neither listener takes one) ends the checking for the rest of
//! the connection, and hyper judges what follows.
//!
//! It also bounds the time to send each head (slow-header clients, idle keep-alive
//! connections): from the moment the stream waits at a request boundary, the head must be
//! whole within the header timeout, or the read fails and the connection ends, as
//! hyper's own header timeout would end it. hyper's timer costs a boxed sleep registered
//! and cancelled in the timer wheel for every request; here one timer per connection is
//! armed once and moved on only when it fires early, so a busy keep-alive connection
//! pays a clock read per request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Most headers in one request head.
pub(super) const MAX_HEADERS: usize = 64;

/// What checking the bytes at a request boundary found.
pub(super) enum Check {
    /// A whole, well-formed head of this many bytes, and the body length that follows.
    Complete { head: usize, body: Body },
    /// Not a whole head yet, and not over the limit.
    Partial,
    /// Refused: status and message.
    Refused(u16, &'static str),
}

/// How the body after a head is delimited.
pub(super) enum Body {
    /// This many bytes (`content-length`, 0 without one).
    Length(u64),
    /// `transfer-encoding`: the checking stops here.
    Unchecked,
}

pub(super) fn check(buffer: &[u8], limit: usize) -> Check {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buffer) {
        Ok(httparse::Status::Complete(head)) => {
            let mut body = Body::Length(0);
            for header in request.headers.iter() {
                if header.name.eq_ignore_ascii_case("transfer-encoding") {
                    body = Body::Unchecked;
                    break;
                }
                if header.name.eq_ignore_ascii_case("content-length") {
                    match std::str::from_utf8(header.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                    {
                        Some(length) => body = Body::Length(length),
                        None => return Check::Refused(400, "malformed content-length"),
                    }
                }
            }
            Check::Complete { head, body }
        }
        Ok(httparse::Status::Partial) if buffer.len() >= limit => {
            Check::Refused(431, "request headers too large")
        }
        Ok(httparse::Status::Partial) => Check::Partial,
        Err(httparse::Error::TooManyHeaders) => Check::Refused(431, "too many request headers"),
        Err(_) => Check::Refused(400, "malformed HTTP request"),
    }
}

/// The bytes of a JSON refusal that closes the connection.
pub(super) fn refusal(status: u16, message: &str) -> Bytes {
    let reason = if status == 431 {
        "Request Header Fields Too Large"
    } else {
        "Bad Request"
    };
    let body = json!({ "error": { "type": "bad_request", "message": message } }).to_string();
    Bytes::from(format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// A stream handed to hyper whose request heads are checked as they go by.
pub struct Watched<I> {
    inner: I,
    /// Bytes read from `inner` that hyper has not had yet.
    pending: BytesMut,
    /// How many bytes at the front of `pending` are cleared for hyper.
    cleared: usize,
    /// Body bytes still to come before the next head.
    body_left: u64,
    /// The checking stopped (a chunked body, or the peer's bytes ended mid-head).
    unchecked: bool,
    /// Bytes at which a head counts as too large.
    limit: usize,
    /// A refusal to write before the stream is shut down, and how much of it is written.
    refusal: Option<(Bytes, usize)>,
    /// The time allowed for the head being waited for.
    deadline: HeadDeadline,
}

/// The deadline of the head the stream waits for, on one lazily moved timer.
pub(super) struct HeadDeadline {
    limit: Duration,
    /// When the stream began to wait at a request boundary; `None` between heads.
    since: Option<Instant>,
    /// Armed at the first wait; a deadline it fires before is moved on then.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HeadDeadline {
    /// A deadline of `limit` for each head.
    pub(super) fn new(limit: Duration) -> Self {
        Self {
            limit,
            since: None,
            sleep: None,
        }
    }

    /// A whole head arrived: the next one's time starts when the stream waits for it.
    pub(super) fn head_arrived(&mut self) {
        self.since = None;
    }

    /// The stream waits at a request boundary: true once the head is overdue.
    pub(super) fn poll_overdue(&mut self, cx: &mut Context<'_>) -> bool {
        let since = *self.since.get_or_insert_with(Instant::now);
        let deadline = since + self.limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            if sleep.deadline() >= deadline {
                return true;
            }
            // Set for an earlier head: the one waited for now has until `deadline`.
            sleep.as_mut().reset(deadline);
        }
    }
}

impl<I> Watched<I> {
    /// Watches `inner`, whose bytes `pending` were read but not yet handed on.
    pub(super) fn new(inner: I, pending: BytesMut, limit: usize, head_timeout: Duration) -> Self {
        Self {
            inner,
            pending,
            cleared: 0,
            body_left: 0,
            unchecked: false,
            limit,
            refusal: None,
            deadline: HeadDeadline::new(head_timeout),
        }
    }

    /// Clears what can be cleared at the front of `pending`; `false` when more bytes are
    /// needed to decide, or the stream was refused.
    fn clear(&mut self) -> bool {
        if self.cleared > 0 {
            return true;
        }
        if self.unchecked {
            self.cleared = self.pending.len();
            return self.cleared > 0;
        }
        if self.body_left > 0 {
            let n = u64::try_from(self.pending.len())
                .unwrap_or(u64::MAX)
                .min(self.body_left);
            self.body_left -= n;
            // n ≤ pending.len(), which is a usize.
            self.cleared = usize::try_from(n).unwrap_or(0);
            return self.cleared > 0;
        }
        if self.pending.is_empty() {
            return false;
        }
        match check(&self.pending, self.limit) {
            Check::Complete { head, body } => {
                self.deadline.head_arrived();
                self.cleared = head;
                match body {
                    Body::Length(length) => self.body_left = length,
                    Body::Unchecked => self.unchecked = true,
                }
                true
            }
            Check::Partial => false,
            Check::Refused(status, message) => {
                tracing::debug!(status, message, "refused a later request head");
                self.refusal = Some((refusal(status, message), 0));
                self.pending.clear();
                false
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.refusal.is_some() {
                // The end of the stream for hyper: it finishes what it owes and shuts down.
                return Poll::Ready(Ok(()));
            }
            if this.clear() {
                let n = this.cleared.min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                this.cleared -= n;
                return Poll::Ready(Ok(()));
            }
            if this.refusal.is_some() {
                continue;
            }
            if this.pending.capacity() - this.pending.len() < 1024 {
                this.pending.reserve(4096);
            }
            let before = this.pending.len();
            let mut read =
                tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.pending);
            if let Poll::Ready(Ok(0)) = read {
                if before == 0 {
                    return Poll::Ready(Ok(()));
                }
                // The peer ended mid-head: hyper sees the partial bytes and judges them.
                this.unchecked = true;
                read = Poll::Ready(Ok(before));
            }
            let at_boundary = !this.unchecked && this.body_left == 0;
            if read.is_pending() && at_boundary && this.deadline.poll_overdue(cx) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request head did not arrive in time",
                )));
            }
            ready!(read)?;
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some((answer, written)) = &mut this.refusal {
            while *written < answer.len() {
                match ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..])) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => *written += n,
                }
            }
            *written = answer.len();
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    fn watched<I>(io: I, timeout: Duration) -> Watched<I> {
        Watched::new(io, BytesMut::new(), 8 * 1024, timeout)
    }

    #[tokio::test]
    async fn a_well_formed_head_is_served_unchanged() {
        const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: a\r\n\r\n";
        let (mut client, server) = duplex(1024);
        client.write_all(REQUEST).await.expect("write");
        let mut stream = watched(server, Duration::from_secs(5));
        let mut again = vec![0u8; REQUEST.len()];
        stream.read_exact(&mut again).await.expect("replayed");
        assert_eq!(again, REQUEST);
    }

    /// Reads everything the watcher lets through, then shuts it down as hyper would.
    async fn through_watcher(input: &[u8]) -> (Vec<u8>, String) {
        let (mut client, server) = duplex(64 * 1024);
        client.write_all(input).await.expect("write");
        client.shutdown().await.expect("half-close");
        let mut stream = watched(server, Duration::from_secs(5));
        let mut passed = Vec::new();
        stream.read_to_end(&mut passed).await.expect("read");
        stream.shutdown().await.expect("shutdown");
        let mut out = String::new();
        let _ = client.read_to_string(&mut out).await;
        (passed, out)
    }

    #[tokio::test]
    async fn a_bad_later_head_ends_the_stream_and_is_answered_with_json_at_shutdown() {
        let good = b"POST /a HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello";
        let mut input = good.to_vec();
        input.extend_from_slice(b"\x16\x03 garbage\r\n\r\n");
        let (passed, out) = through_watcher(&input).await;
        assert_eq!(passed, good, "only the good request reaches hyper");
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        assert!(out.contains("content-type: application/json"), "{out}");

        let mut input = good.to_vec();
        input.extend_from_slice(b"GET / HTTP/1.1\r\nx-big: ");
        input.extend(std::iter::repeat_n(b'a', 9000));
        let (passed, out) = through_watcher(&input).await;
        assert_eq!(passed, good);
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
    }

    #[tokio::test]
    async fn body_bytes_are_never_taken_for_a_head() {
        // The body looks like garbage at a request boundary; it must pass untouched.
        let input = b"POST /a HTTP/1.1\r\ncontent-length: 6\r\n\r\n\x16\x03\r\n\r\n\
                      GET /b HTTP/1.1\r\nhost: a\r\n\r\n";
        let (passed, out) = through_watcher(input).await;
        assert_eq!(passed, input);
        assert_eq!(out, "", "nothing refused");
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_head_that_does_not_arrive_in_time_ends_the_stream() {
        let timeout = Duration::from_secs(5);
        let (mut client, server) = duplex(64 * 1024);
        const FIRST: &[u8] = b"GET /a HTTP/1.1\r\nhost: a\r\n\r\n";
        client.write_all(FIRST).await.expect("write");
        let mut stream = watched(server, timeout);
        const LATER: &[u8] = b"GET /b HTTP/1.1\r\nhost: a\r\n\r\n";
        let mut first = [0u8; FIRST.len()];
        stream
            .read_exact(&mut first)
            .await
            .expect("the first request");
        let writer = async {
            // Keep-alive requests, each 3/4 of the timeout after the last, for longer than
            // the timeout in all: each head has the whole timeout from its own wait.
            for _ in 0..3 {
                tokio::time::sleep(timeout * 3 / 4).await;
                client.write_all(LATER).await.expect("write");
            }
            // A head that starts and never ends.
            client
                .write_all(b"GET /c HTTP/1.1\r\n")
                .await
                .expect("write");
            client
        };
        let reader = async {
            for _ in 0..3 {
                let mut next = [0u8; LATER.len()];
                stream.read_exact(&mut next).await.expect("a later request");
            }
            let began = Instant::now();
            let mut rest = Vec::new();
            let error = stream.read_to_end(&mut rest).await.expect_err("timed out");
            (error, Instant::now() - began, rest)
        };
        let (_client, (error, waited, rest)) = tokio::join!(writer, reader);
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(waited, timeout);
        assert!(rest.is_empty(), "the partial head never reaches hyper");
    }

    #[tokio::test]
    async fn a_chunked_request_ends_the_checking_and_hyper_judges_the_rest() {
        let input =
            b"POST /a HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nnot http\r\n\r\n";
        let (passed, out) = through_watcher(input).await;
        assert_eq!(passed, input);
        assert_eq!(out, "");
    }
}
