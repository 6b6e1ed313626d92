//! `GET /api/events`: the live feed of the console, as Server-Sent Events.
//!
//! Wire format (text/event-stream, UTF-8):
//!
//! ```text
//! event: positions          data: the array GET /api/positions answers
//! event: alerts             data: the array GET /api/alerts answers
//! event: prices             data: the object GET /api/prices answers
//! event: session_ended      data: {} — the session that opened the stream ended
//! : ping                    a comment every PING_EVERY, so both ends notice a dead peer
//! ```
//!
//! `positions` is sent at once, then whenever a snapshot differs from the last one sent
//! in anything but how long ago each pump answered (that changes on every poll), at most
//! every [`MIN_GAP`]; `alerts` at once, then when the list changes (checked every
//! [`ALERT_EVERY`]); `prices` at once, then when the prices or a pump's progress with
//! them change (a set comes into force or is scheduled or cancelled, a pump confirms). The stream ends when the client goes, the daemon shuts down, or the
//! browser session that opened it ends (sign-out, expiry, user disabled); a client then
//! reconnects and signs in again if asked to (`EventSource` reconnects by itself).
//!
//! A task per stream produces the events into a small channel the response body reads,
//! so a slow client slows only its own task, and a gone client ends it.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use serde_json::Value;
use tokio::sync::mpsc;

use super::admin::{positions_json, AdminContext};
use super::admin_console::current_alerts;
use super::admin_prices::prices_json;
use super::error::{ApiError, HttpResponse};
use super::routes::Call;
use crate::lines::now;

/// Least time between two `positions` events: live figures at a readable pace.
pub const MIN_GAP: Duration = Duration::from_millis(200);

/// How often alerts are recomputed and the session checked.
pub const ALERT_EVERY: Duration = Duration::from_secs(2);

/// Time between keep-alive comments.
pub const PING_EVERY: Duration = Duration::from_secs(15);

/// Events buffered for a client before its producer waits.
const BUFFER: usize = 8;

/// The body of an event stream: whatever the producer sends, until it stops.
struct EventBody {
    events: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.events
            .poll_recv(cx)
            .map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// One event in wire form.
pub fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The positions as the stream compares them: without the ever-changing silence times.
fn comparable(positions: &Value) -> Value {
    let mut copy = positions.clone();
    if let Value::Array(items) = &mut copy {
        for item in items {
            if let Value::Object(map) = item {
                map.remove("last_heard_ms_ago");
            }
        }
    }
    copy
}

/// The prices as the stream compares them: without each pump's status, which the
/// `positions` event carries (a pump lifting its nozzle is no news about prices).
fn pricing_only(prices: &Value) -> Value {
    let mut copy = prices.clone();
    if let Some(Value::Array(pumps)) = copy.get_mut("pumps") {
        for pump in pumps {
            if let Value::Object(map) = pump {
                map.remove("pump_status");
            }
        }
    }
    copy
}

/// `GET /api/events`.
pub async fn stream(call: Call) -> Result<HttpResponse, ApiError> {
    call.caller()?;
    let body = if call.request.method() == hyper::Method::HEAD {
        // A HEAD asks whether the stream is there; nothing needs producing.
        super::error::full(Bytes::new())
    } else {
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(produce(call.context.clone(), tx, call.session.clone()));
        EventBody { events: rx }.boxed()
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    Ok(response)
}

async fn produce(context: AdminContext, tx: mpsc::Sender<Bytes>, session: Option<String>) {
    let mut snapshots = context.forecourt.subscribe();
    let mut sent_positions = Value::Null;
    let mut sent_alerts = Value::Null;
    let mut sent_prices = Value::Null;
    let mut alert_tick = tokio::time::interval(ALERT_EVERY);
    let mut ping_tick = tokio::time::interval(PING_EVERY);
    ping_tick.reset();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let positions = positions_json(&snapshot, &context.station, now());
        let shape = comparable(&positions);
        let sent = shape != sent_positions;
        if sent {
            if tx.send(event("positions", &positions)).await.is_err() {
                return;
            }
            sent_positions = shape;
        }
        let prices = prices_json(&context.station, &snapshot);
        let pricing = pricing_only(&prices);
        if pricing != sent_prices {
            if tx.send(event("prices", &prices)).await.is_err() {
                return;
            }
            sent_prices = pricing;
        }
        if sent {
            tokio::time::sleep(MIN_GAP).await;
        }
        tokio::select! {
            _ = context.shutdown.cancelled() => return,
            _ = tx.closed() => return,
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = ping_tick.tick() => {
                if tx.send(Bytes::from_static(b": ping\n\n")).await.is_err() {
                    return;
                }
            }
            _ = alert_tick.tick() => {
                let ended = session
                    .as_deref()
                    .is_some_and(|id| !context.access.sessions.alive(id, now()));
                if ended {
                    let _ = tx.send(event("session_ended", &serde_json::json!({}))).await;
                    return;
                }
                let alerts = current_alerts(&context).await;
                if alerts != sent_alerts {
                    if tx.send(event("alerts", &alerts)).await.is_err() {
                        return;
                    }
                    sent_alerts = alerts;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_named_single_line_json() {
        let bytes = event("alerts", &json!([{"kind": "line_down", "line": "a\nb"}]));
        let text = std::str::from_utf8(&bytes).unwrap_or_default();
        assert_eq!(
            text,
            "event: alerts\ndata: [{\"kind\":\"line_down\",\"line\":\"a\\nb\"}]\n\n"
        );
    }

    #[test]
    fn silence_times_alone_are_no_change() {
        let a = json!([{"position": 1, "last_heard_ms_ago": 10, "pump_status": "idle"}]);
        let b = json!([{"position": 1, "last_heard_ms_ago": 250, "pump_status": "idle"}]);
        let c = json!([{"position": 1, "last_heard_ms_ago": 250, "pump_status": "calling"}]);
        assert_eq!(comparable(&a), comparable(&b));
        assert_ne!(comparable(&a), comparable(&c));
    }
}
