//! Below warp: clients too slow to finish a request, and the answers hyper writes on its own.
//!
//! - [`TimedBody`]: a request body that must arrive within a deadline; past it, reading fails
//!   with [`BodyTimedOut`] (answered 408 by `http::error`).
//! - [`Wire`]: the connection's byte stream. It gives each request's headers a deadline (past
//!   it: a JSON 408 if part of a request came, else the connection just closes) and gives the
//!   bodiless answers hyper writes itself (400 for an unparsable head, 414, 431 for headers
//!   too large) the JSON error body every other error has.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::metrics::Metrics;

/// The error of a body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// A request body with a deadline.
pub struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    // Made only when the body has to be waited for: most bodies come with their headers.
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    /// `inner`, which must be read in full within `limit` from now.
    pub fn new(inner: Incoming, limit: Duration) -> TimedBody {
        TimedBody {
            inner,
            deadline: Instant::now() + limit,
            timer: None,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error` (or what caused it) is a [`BodyTimedOut`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The JSON 408 a client gets when its headers or body came too slowly.
pub const TIMEOUT_BODY: &str =
    r#"{"error":"request_timeout","message":"the request did not arrive in time"}"#;

/// Where the connection is in the current request, as far as the bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head; `started` once any of it came.
    Head { started: bool },
    /// The head is complete: the body (with its own deadline) and the answer follow.
    Past,
}

/// A connection's stream, with a deadline for each request head and JSON bodies on hyper's
/// own error answers.
pub struct Wire {
    stream: TcpStream,
    limit: Duration,
    phase: Phase,
    // The last bytes of the head read so far, to find its end (an empty line) across reads.
    tail: [u8; 3],
    timer: Pin<Box<Sleep>>,
    // A replacement answer still to be written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
    // Counts the requests refused here, which never reach the routes' own counting.
    metrics: Metrics,
}

impl Wire {
    /// Wraps `stream`; each request head must arrive within `limit` of the previous answer
    /// (or of the connection's start).
    pub fn new(stream: TcpStream, limit: Duration, metrics: Metrics) -> Wire {
        Wire {
            stream,
            limit,
            phase: Phase::Head { started: false },
            tail: [0; 3],
            timer: Box::pin(tokio::time::sleep(limit)),
            pending: None,
            metrics,
        }
    }

    fn await_next_head(&mut self) {
        self.phase = Phase::Head { started: false };
        self.tail = [0; 3];
        let deadline = Instant::now() + self.limit;
        self.timer.as_mut().reset(deadline);
    }

    /// Notes the bytes of a request read from the client.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.phase == Phase::Past {
            return;
        }
        // An empty line ends the head: look across the previous read's last bytes, then
        // within this read.
        let mut seam = [0u8; 6];
        seam[..3].copy_from_slice(&self.tail);
        let joined = bytes.len().min(3);
        seam[3..3 + joined].copy_from_slice(&bytes[..joined]);
        if seam[..3 + joined].windows(4).any(|w| w == b"\r\n\r\n")
            || bytes.windows(4).any(|w| w == b"\r\n\r\n")
        {
            self.phase = Phase::Past;
            return;
        }
        self.phase = Phase::Head { started: true };
        let mut tail = [0u8; 6];
        tail[..3].copy_from_slice(&self.tail);
        tail[3..3 + joined].copy_from_slice(&bytes[bytes.len() - joined..]);
        self.tail.copy_from_slice(&tail[joined..joined + 3]);
    }

    /// Writes what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.pending {
            if *sent == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Phase::Head { started } = this.phase else {
                    return Poll::Pending;
                };
                ready!(this.timer.as_mut().poll(cx));
                if started {
                    // Best effort: the client is slow, so it gets one try and no waiting.
                    let _ = this.stream.try_write(&answer(408, TIMEOUT_BODY));
                    this.metrics.observe_unrouted(408);
                }
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        // Every answer of the application carries a JSON body: a bodiless 400, 414 or 431 can
        // only be hyper's own.
        if let Some((status, replacement)) = replace_bodiless_error(buf) {
            this.metrics.observe_unrouted(status);
            this.pending = Some((replacement, 0));
            // The original is reported written: hyper closes the connection after it.
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let n = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        // An answer is going out: the next request's head gets a fresh deadline. (Whatever
        // the client still sends of an unread body then counts as head: it must end in time.)
        this.await_next_head();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The JSON answer for a bodiless error answer hyper wrote on its own (it does so only for a
/// request head it could not take) with its status, or `None` for anything else.
fn replace_bodiless_error(written: &[u8]) -> Option<(u16, Vec<u8>)> {
    let (status, code, message) = match written.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => (
            400,
            "malformed_request",
            "the request line or headers are not valid HTTP",
        ),
        b"HTTP/1.1 414 " | b"HTTP/1.0 414 " => (414, "uri_too_long", "the request URI is too long"),
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => (
            431,
            "headers_too_large",
            "the request headers are too large",
        ),
        _ => return None,
    };
    let head_end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&written[..head_end]).to_ascii_lowercase();
    if head.contains("\r\ncontent-type:") || head.contains("\r\ntransfer-encoding:") {
        return None;
    }
    let body = format!(r#"{{"error":"{code}","message":"{message}"}}"#);
    Some((status, answer(status, &body)))
}

/// A complete HTTP/1.1 answer with a JSON body that closes the connection.
fn answer(status: u16, body: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n",
        body.len()
    );
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}
