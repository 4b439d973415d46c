//! The core that decides who is calling, on the published policy snapshot:
//! IP-authenticated or digest-authenticated callers are identified, others
//! are challenged (407) or refused (403).
//!
//! Calls themselves come with the B2BUA; until then an identified INVITE is
//! answered `480 Temporarily Unavailable` — TEMPORARY, see [`PLACEHOLDER`].

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tollgate_policy::threat::{Signal, is_scanner};
use tollgate_policy::{Authenticator, Decision, Denial, Protocol, RequestFacts, SharedSnapshot};
use tollgate_sip::transaction::{Event, MAX_HEADERS, Peer, TransactionLayer, Transport};
use tollgate_sip::{Header, HeaderKind, Method, parse_datagram};

use crate::Defense;
use crate::core::{ALLOW, Core, OPTIONS_HEADERS, reply, response};
use crate::defense::unix_now;

/// TEMPORARY: what an identified INVITE gets until the B2BUA routes calls.
pub const PLACEHOLDER: (u16, &str) = (480, "Temporarily Unavailable");

/// Identifies callers with an [`Authenticator`] on the current snapshot.
#[derive(Debug)]
pub struct PolicyCore {
    snapshot: Arc<SharedSnapshot>,
    auth: Authenticator,
    defense: Option<Arc<Defense>>,
}

impl PolicyCore {
    /// A core reading `snapshot` (kept current by the store's refresher),
    /// reporting failures and scanners to `defense`.
    pub fn new(
        snapshot: Arc<SharedSnapshot>,
        auth: Authenticator,
        defense: Option<Arc<Defense>>,
    ) -> Self {
        Self {
            snapshot,
            auth,
            defense,
        }
    }

    fn signal(&self, peer: Peer, signal: Signal) {
        if let Some(d) = &self.defense {
            d.observe(peer.addr.ip(), signal);
        }
    }

    /// The response to one request.
    fn answer(&self, peer: Peer, data: &[u8]) -> Option<Bytes> {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let msg = parse_datagram(data, &mut headers).ok()?;
        let head = &msg.head;
        let line = head.request_line()?;
        let respond =
            |code: u16, reason: &str, extra: &[(&str, &str)]| response(head, code, reason, extra);
        if head.user_agent().is_some_and(is_scanner) {
            self.signal(peer, Signal::Scanner);
        }
        if line.method.is_extension() {
            return respond(501, "Not Implemented", &[("Allow", ALLOW)]);
        }
        let called = head
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.user())
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let now = unix_now();
        let facts = RequestFacts {
            source: peer.addr,
            transport: match peer.transport {
                Transport::Udp => Protocol::Udp,
                Transport::Tcp => Protocol::Tcp,
                Transport::Tls => Protocol::Tls,
            },
            method: line.method.as_bytes(),
            request_uri: line.uri,
            called: &called,
            proxy_authorization: head.value(HeaderKind::ProxyAuthorization),
            now,
        };
        let snapshot = self.snapshot.load();
        let decision = self.auth.identify(&snapshot, &facts);
        metrics::counter!("tollgate_requests_total", "decision" => decision_label(&decision))
            .increment(1);
        match decision {
            Decision::Identified(_) if line.method == Method::Options => {
                respond(200, "OK", OPTIONS_HEADERS)
            }
            Decision::Identified(_) => respond(PLACEHOLDER.0, PLACEHOLDER.1, &[]),
            Decision::Challenge { stale } => {
                if !stale {
                    self.signal(peer, Signal::Challenged);
                }
                let challenges = self.auth.challenges(peer.addr.ip(), now, stale);
                let headers: Vec<(&str, &str)> = challenges
                    .iter()
                    .map(|c| ("Proxy-Authenticate", c.as_str()))
                    .collect();
                respond(407, "Proxy Authentication Required", &headers)
            }
            Decision::Deny(reason) => {
                if !matches!(
                    reason,
                    Denial::Disabled | Denial::TransportMismatch | Denial::NoTechPrefixMatch
                ) {
                    self.signal(peer, Signal::AuthFailure);
                }
                respond(403, "Forbidden", &[])
            }
        }
    }
}

impl Core for PolicyCore {
    fn on_event(&mut self, now: Instant, event: Event, layer: &mut TransactionLayer) {
        match event {
            Event::Request {
                id: Some(id),
                peer,
                data,
            } => {
                if let Some(resp) = self.answer(peer, &data) {
                    reply(layer, now, id, resp);
                }
            }
            // OPTIONS handed over without a transaction.
            Event::Request {
                id: None,
                peer,
                data,
            } if data.starts_with(b"OPTIONS ") => {
                if let Some(resp) = self.answer(peer, &data) {
                    layer.respond_stateless(peer, resp);
                }
            }
            // Every request is answered at once (so a CANCEL never finds
            // one proceeding); ACKs, responses and timeouts need nothing.
            Event::Cancelled { .. }
            | Event::Request { .. }
            | Event::Response { .. }
            | Event::TimedOut { .. } => {}
        }
    }
}

/// The `decision` label of `tollgate_requests_total`.
fn decision_label(d: &Decision<'_>) -> &'static str {
    match d {
        Decision::Identified(tollgate_policy::Identity::Ip { .. }) => "ip_auth",
        Decision::Identified(tollgate_policy::Identity::Digest { .. }) => "digest_ok",
        Decision::Challenge { stale: false } => "challenged",
        Decision::Challenge { stale: true } => "stale",
        Decision::Deny(_) => "denied",
    }
}
