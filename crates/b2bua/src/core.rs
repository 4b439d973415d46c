//! The application behind the transaction layer.

use std::net::{IpAddr, SocketAddr};
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_sip::transaction::{Event, Received, TransactionLayer, Transport, TxId};
use tollgate_sip::{Head, MessageBuilder, ResponseHeaders, parse_datagram};

/// The time an event is handled at: the monotonic instant the transaction
/// layer and the call timers run on, and the wall clock (Unix
/// milliseconds) that limits' windows, digest nonces and call times are
/// told in. The driver reads both once per wake-up; the B2BUA reads no
/// clock of its own, so a test can run it on a simulated one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The monotonic time.
    pub at: Instant,
    /// The wall-clock time, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Now {
    /// `unix_ms` in whole seconds.
    pub fn unix_s(self) -> u64 {
        self.unix_ms / 1000
    }

    /// This time moved on by `d` on both clocks (a simulated clock's step).
    pub fn after(self, d: Duration) -> Self {
        Self {
            at: self.at + d,
            unix_ms: self
                .unix_ms
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// What the edge tells the core about where it listens, once, before the
/// first event: the core needs it for its own Via and Contact headers.
#[derive(Clone, Copy, Debug)]
pub struct Bound<'a> {
    /// Each listener's transport and bound address.
    pub listeners: &'a [(Transport, SocketAddr)],
    /// The local address the system would send from towards a peer (for a
    /// listener bound to 0.0.0.0 or ::): the edge finds it with its
    /// sockets; `None` when it cannot tell.
    pub source_toward: fn(IpAddr) -> Option<IpAddr>,
}

/// What handles requests and responses once transactions have absorbed
/// retransmissions: the B2BUA. It runs on the driver task and must not
/// block.
pub trait Core: Send + 'static {
    /// One event from the transaction layer. Answers and new requests go
    /// through `layer`.
    fn on_event(&mut self, now: Now, event: Event, layer: &mut TransactionLayer);

    /// One event about a message the layer has just read (a request or a
    /// response it hands over): `received` is what the layer read of the
    /// event's data, so the core need not read it again. By default the
    /// same as [`Core::on_event`].
    fn on_parsed_event(
        &mut self,
        now: Now,
        event: Event,
        received: &Received<'_, '_>,
        layer: &mut TransactionLayer,
    ) {
        let _ = received;
        self.on_event(now, event, layer);
    }

    /// Where the edge listens, told once at `now`, before the first event
    /// (the core may start its own timers from then).
    fn bind(&mut self, _now: Now, _bound: Bound<'_>) {}

    /// When the core's own timers next need [`Core::handle_timeout`].
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    /// Called on every wake-up of the driver: runs the core's due timers.
    fn handle_timeout(&mut self, _now: Now, _layer: &mut TransactionLayer) {}

    /// Gives the core what wakes the driver when another task (the API
    /// hanging a call up) asks something of it; the driver then feeds the
    /// request in with [`Core::handle_asked`].
    fn set_waker(&mut self, _waker: Waker) {}

    /// Carries out what other tasks asked for since the last call.
    fn handle_asked(&mut self, _now: Now, _layer: &mut TransactionLayer) {}
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
pub fn build_answer(data: &[u8], code: u16, reason: &str, extra: &[(&str, &str)]) -> Option<Bytes> {
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
    let mut headers = tollgate_sip::header_array();
    let msg = parse_datagram(data, &mut headers).ok()?;
    response_tagged(&msg.head, code, reason, tag, extra, body)
}

/// Answers the request `data` of server transaction `id` with `code`.
pub fn answer(
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

/// Sends `resp` in server transaction `id`. The transaction may be gone
/// by then (a relayed request's server transaction timed out while the
/// far side took its time, or it has its final response already): the
/// response is then dropped, and counted in
/// `tollgate_responses_dropped_total` (a rare path: the counter is looked
/// up only then).
pub(crate) fn reply(layer: &mut TransactionLayer, now: Instant, id: TxId, resp: Bytes) {
    if layer.respond(now, id, resp).is_err() {
        metrics::counter!("tollgate_responses_dropped_total").increment(1);
    }
}

/// What Tollgate's OPTIONS and 405s advertise.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";
