//! The application behind the transaction layer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;
use tollgate_sip::transaction::{Event, MAX_HEADERS, Received, TransactionLayer, Transport, TxId};
use tollgate_sip::{Head, Header, MessageBuilder, Method, ResponseHeaders, parse_datagram};

/// What handles requests and responses once transactions have absorbed
/// retransmissions: the B2BUA. It runs on the driver task and must not
/// block.
pub trait Core: Send + 'static {
    /// One event from the transaction layer. Answers and new requests go
    /// through `layer`.
    fn on_event(&mut self, now: Instant, event: Event, layer: &mut TransactionLayer);

    /// One event about a message the layer has just read (a request or a
    /// response it hands over): `received` is what the layer read of the
    /// event's data, so the core need not read it again. By default the
    /// same as [`Core::on_event`].
    fn on_parsed_event(
        &mut self,
        now: Instant,
        event: Event,
        received: &Received<'_, '_>,
        layer: &mut TransactionLayer,
    ) {
        let _ = received;
        self.on_event(now, event, layer);
    }

    /// The addresses the edge listens on, told once at `now`, before the
    /// first event (the core needs them for its own Via and Contact
    /// headers, and may start its own timers from then).
    fn bind(&mut self, _now: Instant, _local: &[(Transport, SocketAddr)]) {}

    /// When the core's own timers next need [`Core::handle_timeout`].
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    /// Called on every wake-up of the driver: runs the core's due timers
    /// and anything asked of it from outside (see [`Core::waker`]).
    fn handle_timeout(&mut self, _now: Instant, _layer: &mut TransactionLayer) {}

    /// Notified from other tasks (the API hanging up a call) to wake the
    /// driver, which then calls [`Core::handle_timeout`].
    fn waker(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// A fresh, unpredictable To tag.
pub(crate) fn new_tag() -> String {
    sized_text(16, random_hex())
}

/// `value` written into a String with room for `capacity` bytes:
/// `format!` and `to_string` start small and grow by copying.
pub(crate) fn sized_text(capacity: usize, value: impl std::fmt::Display) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(capacity);
    // Writing into a String cannot fail.
    let _ = write!(text, "{value}");
    text
}

/// Sixteen fresh, unpredictable hex digits, written straight into the text
/// that needs them (a branch, a Call-ID).
pub(crate) fn random_hex() -> impl std::fmt::Display {
    struct Hex(u64);
    impl std::fmt::Display for Hex {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:016x}", self.0)
        }
    }
    Hex(rand::random())
}

/// A response to the parsed request `head`, with a fresh To tag and the
/// `extra` headers.
pub(crate) fn response(
    head: &Head<'_, '_>,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
) -> Option<Bytes> {
    response_tagged(head, code, reason, &new_tag(), extra, None)
}

/// A response to the parsed request `head` with To tag `tag` (none when
/// empty, or when the request's To has one already), `extra` headers and
/// `body` (its type and bytes).
pub(crate) fn response_tagged(
    head: &Head<'_, '_>,
    code: u16,
    reason: &str,
    tag: &str,
    extra: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Option<Bytes> {
    let tag = (!tag.is_empty()).then_some(tag.as_bytes());
    finish(
        MessageBuilder::response_to(head, code, reason, tag),
        extra,
        body,
    )
}

/// A response whose copied headers (To tag included) were written by
/// [`MessageBuilder::response_headers`], with `extra` headers and `body`.
pub(crate) fn response_with(
    headers: &ResponseHeaders,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Option<Bytes> {
    finish(
        MessageBuilder::response_with(code, reason, headers),
        extra,
        body,
    )
}

/// Adds `extra` headers and `body` (its type and bytes) to a response.
fn finish(
    mut b: MessageBuilder,
    extra: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Option<Bytes> {
    for (name, value) in extra {
        b = b.header(name, value);
    }
    if let Some((content_type, body)) = body {
        b = b.body(content_type, body.to_vec());
    }
    b.build().ok().map(Bytes::from)
}

/// A response to the request `data`, with a fresh To tag.
pub(crate) fn build_answer(
    data: &[u8],
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
) -> Option<Bytes> {
    answer_to(data, code, reason, &new_tag(), extra, None)
}

/// [`response_tagged`] for the unparsed request `data`.
pub(crate) fn answer_to(
    data: &[u8],
    code: u16,
    reason: &str,
    tag: &str,
    extra: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Option<Bytes> {
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let msg = parse_datagram(data, &mut headers).ok()?;
    response_tagged(&msg.head, code, reason, tag, extra, body)
}

/// Answers the request `data` of server transaction `id` with `code`.
pub(crate) fn answer(
    now: Instant,
    layer: &mut TransactionLayer,
    id: TxId,
    data: &[u8],
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
) {
    if let Some(resp) = build_answer(data, code, reason, extra) {
        reply(layer, now, id, resp);
    }
}

/// Sends `resp` in server transaction `id`, which an event just came from.
pub(crate) fn reply(layer: &mut TransactionLayer, now: Instant, id: TxId, resp: Bytes) {
    // The transaction is live; a refusal here would mean it already has a
    // final response, which is fine.
    let _ = layer.respond(now, id, resp);
}

/// The core until authentication exists: OPTIONS is answered 200 (a
/// keep-alive probe must work), a method Tollgate does not know 501, every
/// other request 403.
#[derive(Debug, Default)]
pub struct OptionsCore;

/// What OPTIONS advertises.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// The headers of a 200 to OPTIONS.
pub(crate) const OPTIONS_HEADERS: &[(&str, &str)] =
    &[("Allow", ALLOW), ("Accept", "application/sdp")];

impl Core for OptionsCore {
    fn on_event(&mut self, now: Instant, event: Event, layer: &mut TransactionLayer) {
        match event {
            Event::Request {
                id: Some(id), data, ..
            } => {
                let method = data.split(|&b| b == b' ').next().unwrap_or_default();
                match Method::from_token(method) {
                    Method::Options => answer(now, layer, id, &data, 200, "OK", OPTIONS_HEADERS),
                    Method::Extension(_) => {
                        answer(
                            now,
                            layer,
                            id,
                            &data,
                            501,
                            "Not Implemented",
                            &[("Allow", ALLOW)],
                        );
                    }
                    _ => answer(now, layer, id, &data, 403, "Forbidden", &[]),
                }
            }
            // OPTIONS handed over without a transaction: answered at once.
            Event::Request {
                id: None,
                peer,
                data,
            } if data.starts_with(b"OPTIONS ") => {
                if let Some(resp) = build_answer(&data, 200, "OK", OPTIONS_HEADERS) {
                    layer.respond_stateless(peer, resp);
                }
            }
            // Every INVITE is answered at once, so a CANCEL never finds one
            // still proceeding; ACKs, responses and timeouts need nothing.
            Event::Cancelled { .. }
            | Event::Request { id: None, .. }
            | Event::Response { .. }
            | Event::TimedOut { .. } => {}
        }
    }
}
