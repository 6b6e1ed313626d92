//! The first request head of a connection, read before hyper sees it, so that a request
//! hyper would refuse below the HTTP layer (a malformed request line, headers over the
//! limit) still gets a JSON answer instead of hyper's bare status line.
//!
//! Owns the reading and checking of that head and the stream that hands the bytes read
//! on to hyper ([`Prefixed`]). A head that parses goes to hyper unchanged; hyper's own
//! limits and timeouts still apply to it and to later requests on the connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Most headers in one request head.
const MAX_HEADERS: usize = 64;

/// What reading the first head found.
pub enum Head<I> {
    /// A well-formed head (or the peer closed first): serve the stream.
    Serve(Prefixed<I>),
    /// Answered with a JSON error and closed.
    Refused,
}

/// Reads the first request head of `io` within `timeout`, at most `limit` bytes.
pub async fn read_first<I>(mut io: I, limit: usize, timeout: Duration) -> Head<I>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(1024);
    let outcome = tokio::time::timeout(timeout, async {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buffer) {
                Ok(httparse::Status::Complete(_)) => return Ok(()),
                Ok(httparse::Status::Partial) if buffer.len() >= limit => {
                    return Err((431, "request headers too large"))
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err((431, "too many request headers"))
                }
                Err(_) => return Err((400, "malformed HTTP request")),
            }
            match io.read_buf(&mut buffer).await {
                // Closed or failed: hand over what there is; hyper ends the connection.
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    })
    .await;
    match outcome {
        // Slow heads are hyper's to time out (it answers 408 itself).
        Ok(Ok(())) | Err(_) => Head::Serve(Prefixed {
            prefix: buffer.freeze(),
            inner: io,
        }),
        Ok(Err((status, message))) => {
            refuse(&mut io, status, message).await;
            Head::Refused
        }
    }
}

async fn refuse<I: AsyncWrite + Unpin>(io: &mut I, status: u16, message: &str) {
    let reason = if status == 431 {
        "Request Header Fields Too Large"
    } else {
        "Bad Request"
    };
    let body = json!({ "error": { "type": "bad_request", "message": message } }).to_string();
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // The peer may be gone already; nothing more to do either way.
    let _ = io.write_all(answer.as_bytes()).await;
    let _ = io.shutdown().await;
}

/// A stream whose first bytes were already read: they are read again first.
pub struct Prefixed<I> {
    prefix: Bytes,
    inner: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.has_remaining() {
            let n = self.prefix.len().min(buf.remaining());
            let chunk = self.prefix.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
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
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
    use tokio::io::duplex;

    async fn answer_to(request: &[u8]) -> (bool, String) {
        let (mut client, server) = duplex(64 * 1024);
        client.write_all(request).await.expect("write");
        let head = read_first(server, 8 * 1024, Duration::from_secs(5)).await;
        let served = matches!(head, Head::Serve(_));
        drop(head);
        let mut out = String::new();
        let _ = client.read_to_string(&mut out).await;
        (served, out)
    }

    #[tokio::test]
    async fn a_well_formed_head_is_served_unchanged() {
        const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: a\r\n\r\n";
        let (mut client, server) = duplex(1024);
        client.write_all(REQUEST).await.expect("write");
        let Head::Serve(mut stream) = read_first(server, 8 * 1024, Duration::from_secs(5)).await
        else {
            panic!("refused a good head");
        };
        let mut again = vec![0u8; REQUEST.len()];
        stream.read_exact(&mut again).await.expect("replayed");
        assert_eq!(again, REQUEST);
    }

    #[tokio::test]
    async fn garbage_and_huge_heads_get_json() {
        let (served, out) = answer_to(b"\x16\x03\x01 not http\r\n\r\n").await;
        assert!(!served);
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        assert!(out.contains("content-type: application/json"), "{out}");
        assert!(out.ends_with(r#""type":"bad_request"}}"#), "{out}");

        let mut huge = b"GET / HTTP/1.1\r\nx-big: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 9000));
        let (served, out) = answer_to(&huge).await;
        assert!(!served);
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
    }
}
