//! The application behind the transaction layer.

use std::time::Instant;

use bytes::Bytes;
use tollgate_sip::transaction::{Event, MAX_HEADERS, TransactionLayer, TxId};
use tollgate_sip::{Header, MessageBuilder, Method, parse_datagram};

/// What handles requests and responses once transactions have absorbed
/// retransmissions: the B2BUA, eventually. It runs on the driver task and
/// must not block.
pub trait Core: Send + 'static {
    /// One event from the transaction layer. Answers and new requests go
    /// through `layer`.
    fn on_event(&mut self, now: Instant, event: Event, layer: &mut TransactionLayer);
}

/// A fresh, unpredictable To tag.
pub(crate) fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
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
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let Ok(msg) = parse_datagram(data, &mut headers) else {
        return;
    };
    let tag = new_tag();
    let mut b = MessageBuilder::response_to(&msg.head, code, reason, Some(tag.as_bytes()));
    for (name, value) in extra {
        b = b.header(name, value);
    }
    if let Ok(resp) = b.build() {
        // The transaction is live (the event just came from it); a refusal
        // here would mean it already has a final response, which is fine.
        let _ = layer.respond(now, id, Bytes::from(resp));
    }
}

/// The core until authentication exists: OPTIONS is answered 200 (a
/// keep-alive probe must work), a method Tollgate does not know 501, every
/// other request 403.
#[derive(Debug, Default)]
pub struct OptionsCore;

/// What OPTIONS advertises.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

impl Core for OptionsCore {
    fn on_event(&mut self, now: Instant, event: Event, layer: &mut TransactionLayer) {
        match event {
            Event::Request {
                id: Some(id), data, ..
            } => {
                let method = data.split(|&b| b == b' ').next().unwrap_or_default();
                match Method::from_token(method) {
                    Method::Options => {
                        let extra = [("Allow", ALLOW), ("Accept", "application/sdp")];
                        answer(now, layer, id, &data, 200, "OK", &extra);
                    }
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
            // Every INVITE is answered at once, so a CANCEL never finds one
            // still proceeding; ACKs, responses and timeouts need nothing.
            Event::Cancelled { .. }
            | Event::Request { id: None, .. }
            | Event::Response { .. }
            | Event::TimedOut { .. } => {}
        }
    }
}
