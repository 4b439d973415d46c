//! The core that decides who is calling, on the published policy snapshot:
//! IP-authenticated or digest-authenticated callers are identified, others
//! are challenged (407) or refused (403). An identified INVITE becomes a
//! call of the B2BUA ([`crate::calls`]); requests inside a dialog go to
//! their call without identification (481 when there is none).

use std::sync::Arc;

use bytes::Bytes;
use tollgate_policy::threat::Signal;
use tollgate_policy::{
    Authenticator, Decision, Denial, Identity, RequestFacts, SharedSnapshot, Snapshot,
};
use tollgate_sip::transaction::{Event, Peer, Received, TransactionLayer, stateless_tag};
use tollgate_sip::validate::unsupported_options;
use tollgate_sip::{Checked, Head, HeaderKind, Method, ValidRequest};

use crate::calls::{CallBoard, CallConfig, Calls, Ctx, SUPPORTED, SUPPORTED_OPTIONS};
use crate::core::{ALLOW, Bound, Core, Now, reply, response, response_tagged};
use crate::firewall::Firewall;
use crate::meters::LabelledCounter;

/// Identifies callers with an [`Authenticator`] on the current snapshot
/// and hands identified INVITEs to the B2BUA.
#[derive(Debug)]
pub struct PolicyCore {
    snapshot: Arc<SharedSnapshot>,
    auth: Authenticator,
    defense: Option<Arc<dyn Firewall>>,
    calls: Calls,
    /// `tollgate_requests_total` by decision.
    requests: LabelledCounter<&'static str>,
    /// `tollgate_stateless_withheld_total`: answers to strangers not sent
    /// because their source would have drawn over 1.5 times what it sent.
    withheld: metrics::Counter,
}

/// The headers of a 200 to an identified caller's OPTIONS (RFC 3261
/// §11.2): methods, body type and the extensions calls carry.
const IDENTIFIED_OPTIONS_HEADERS: &[(&str, &str)] = &[
    ("Allow", ALLOW),
    ("Accept", "application/sdp"),
    ("Supported", SUPPORTED),
];

/// What one out-of-dialog request gets.
enum Verdict<'s> {
    /// This answer to an identified caller, in the request's transaction.
    Reply(Option<Bytes>),
    /// This answer, sent once and without a transaction, to a request
    /// that is not identified (a challenge, a refusal); none: dropped
    /// unanswered. A stranger's request, spoofed or not, never makes
    /// Tollgate send more than one message nor keep any state.
    Stateless(Option<Bytes>),
    /// A call: the identified caller and the Request-URI user.
    Call(Identity<'s>, String),
}

impl PolicyCore {
    /// A core reading `snapshot` (kept current by the store's refresher),
    /// reporting failures and scanners to `defense`, publishing live calls
    /// on `board`.
    pub fn new(
        snapshot: Arc<SharedSnapshot>,
        auth: Authenticator,
        defense: Option<Arc<dyn Firewall>>,
        calls: CallConfig,
        board: Arc<CallBoard>,
    ) -> Self {
        Self {
            snapshot,
            auth,
            defense,
            calls: Calls::new(calls, board),
            requests: LabelledCounter::new("tollgate_requests_total", "decision"),
            withheld: metrics::counter!("tollgate_stateless_withheld_total"),
        }
    }

    fn signal(&self, peer: Peer, signal: Signal) {
        if let Some(d) = &self.defense {
            d.observe(peer.addr.ip(), signal);
        }
    }

    /// What one request outside any dialog gets.
    fn decide<'s>(
        &mut self,
        now: Now,
        snapshot: &'s Snapshot,
        peer: Peer,
        head: &Head<'_, '_>,
        req: &ValidRequest<'_>,
    ) -> Verdict<'s> {
        let Some(line) = head.request_line() else {
            return Verdict::Stateless(None);
        };
        let respond = |code: u16, reason: &str, extra: &[(&str, &str)]| {
            Verdict::Reply(response(head, code, reason, extra))
        };
        let refuse = |code: u16, reason: &str, extra: &[(&str, &str)]| {
            let tag = stateless_tag(head);
            Verdict::Stateless(response_tagged(head, code, reason, &tag, extra, None))
        };
        if let (Some(d), Some(ua)) = (&self.defense, head.user_agent())
            && d.is_scanner(peer.addr.ip(), ua)
        {
            return Verdict::Stateless(None);
        }
        if line.method.is_extension() {
            return refuse(501, "Not Implemented", &[("Allow", ALLOW)]);
        }
        let called = req
            .uri
            .user()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let now = now.unix_s();
        let facts = RequestFacts {
            source: peer.addr,
            transport: peer.transport,
            method: line.method.as_bytes(),
            request_uri: line.uri,
            called: &called,
            proxy_authorization: head.value(HeaderKind::ProxyAuthorization),
            named_users: [req.from.uri.user(), req.to.uri.user()],
            now,
        };
        let decision = self.auth.identify(snapshot, &facts);
        self.requests.increment(decision_label(&decision));
        if let (Decision::Identified(Identity::Digest { .. }), Some(d)) = (&decision, &self.defense)
        {
            d.authenticated(peer.addr.ip());
        }
        match decision {
            Decision::Identified(_) if line.method == Method::Options => {
                respond(200, "OK", IDENTIFIED_OPTIONS_HEADERS)
            }
            Decision::Identified(identity) if line.method == Method::Invite => {
                // Of the SIP extensions a caller may require, Tollgate
                // supports only those it carries end to end (RFC 3261
                // §8.2.2.3): it never relays the others blind.
                let unsupported = unsupported_options(head, HeaderKind::Require, SUPPORTED_OPTIONS);
                if unsupported.is_empty() {
                    Verdict::Call(identity, called.into_owned())
                } else {
                    let tags = unsupported
                        .iter()
                        .map(|t| String::from_utf8_lossy(t))
                        .collect::<Vec<_>>()
                        .join(", ");
                    respond(420, "Bad Extension", &[("Unsupported", &tags)])
                }
            }
            Decision::Identified(_) => respond(405, "Method Not Allowed", &[("Allow", ALLOW)]),
            Decision::Challenge { stale, policy } => {
                if !stale {
                    self.signal(peer, Signal::Challenged);
                }
                let challenges = self.auth.challenges(peer.addr.ip(), now, stale, policy);
                let headers: Vec<(&str, &str)> = challenges
                    .iter()
                    .map(|c| ("Proxy-Authenticate", c.as_str()))
                    .collect();
                refuse(407, "Proxy Authentication Required", &headers)
            }
            Decision::Deny(reason) => {
                if !matches!(
                    reason,
                    Denial::Disabled | Denial::TransportMismatch | Denial::NoTechPrefixMatch
                ) {
                    self.signal(peer, Signal::AuthFailure);
                }
                refuse(403, "Forbidden", &[])
            }
        }
    }
}

impl Core for PolicyCore {
    fn on_event(&mut self, now: Now, event: Event, layer: &mut TransactionLayer) {
        let data = match &event {
            Event::Request { data, .. } | Event::Response { data, .. } => data.clone(),
            Event::Cancelled { .. } | Event::TimedOut { .. } => {
                return self.handle(now, event, None, layer);
            }
        };
        let mut headers = tollgate_sip::header_array();
        if let Some(received) = Received::read(&data, &mut headers) {
            self.handle(now, event, Some(&received), layer);
        }
    }

    fn on_parsed_event(
        &mut self,
        now: Now,
        event: Event,
        received: &Received<'_, '_>,
        layer: &mut TransactionLayer,
    ) {
        self.handle(now, event, Some(received), layer);
    }

    fn bind(&mut self, now: Now, bound: Bound<'_>) {
        self.calls.bind(now.at, bound);
    }

    fn poll_timeout(&mut self) -> Option<std::time::Instant> {
        self.calls.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Now, layer: &mut TransactionLayer) {
        self.calls.handle_timeout(now, layer, &self.snapshot);
    }

    fn set_waker(&mut self, waker: std::task::Waker) {
        self.calls.set_waker(waker);
    }

    fn handle_asked(&mut self, now: Now, layer: &mut TransactionLayer) {
        self.calls.handle_asked(now, layer, &self.snapshot);
    }
}

impl PolicyCore {
    /// True when `answer` to a request from `peer` that is not identified
    /// (of `request` bytes as it arrived) may go: a source draws at most
    /// 1.5 times what it sends, so a spoofed one cannot aim more at its
    /// victim. One that may not is withheld, and counted.
    fn may_answer(&self, peer: Peer, answer: &[u8], request: usize) -> bool {
        let fits = self
            .defense
            .as_ref()
            .is_none_or(|d| d.may_answer(peer.addr.ip(), request, answer.len()));
        if !fits {
            self.withheld.increment(1);
        }
        fits
    }

    /// One event; `received` is what was read of its data (always there
    /// for a request or a response).
    fn handle(
        &mut self,
        now: Now,
        event: Event,
        received: Option<&Received<'_, '_>>,
        layer: &mut TransactionLayer,
    ) {
        let snapshot = self.snapshot.load();
        let cx = &mut Ctx::new(now, layer, &snapshot);
        match event {
            Event::Request { id, peer, data } => {
                let Some(received) = received else {
                    return;
                };
                let Checked::Request(req) = &received.checked else {
                    return;
                };
                // A To tag claims a dialog: it goes to its call, never
                // through identification.
                if req.method == Method::Ack || (id.is_some() && req.to.tag().is_some()) {
                    self.calls.in_dialog(cx, id, req.method, &data, received);
                    return;
                }
                match (
                    self.decide(now, &snapshot, peer, &received.message.head, req),
                    id,
                ) {
                    (Verdict::Call(identity, user), Some(sid)) => {
                        self.calls
                            .start(cx, (sid, peer), &data, received, (&identity, &user));
                    }
                    (Verdict::Reply(Some(resp)), Some(sid)) => reply(cx.layer, now.at, sid, resp),
                    (Verdict::Stateless(answer), Some(sid)) => {
                        let answer = answer.filter(|a| self.may_answer(peer, a, received.wire_len));
                        cx.layer.respond_statelessly(sid, answer);
                    }
                    // OPTIONS handed over without a transaction.
                    (Verdict::Stateless(Some(resp)), None)
                        if self.may_answer(peer, &resp, received.wire_len) =>
                    {
                        cx.layer.respond_stateless(peer, resp);
                    }
                    (Verdict::Reply(Some(resp)), None) => cx.layer.respond_stateless(peer, resp),
                    _ => {}
                }
            }
            Event::Cancelled { invite } => self.calls.on_cancelled(cx, invite),
            Event::Response { id, data } => {
                if let Some(received) = received {
                    self.calls.on_response(cx, id, &data, received);
                }
            }
            Event::TimedOut { id } => self.calls.on_timed_out(cx, id),
        }
    }
}

/// The `decision` label of `tollgate_requests_total`.
fn decision_label(d: &Decision<'_>) -> &'static str {
    match d {
        Decision::Identified(tollgate_policy::Identity::Ip { .. }) => "ip_auth",
        Decision::Identified(tollgate_policy::Identity::Digest { .. }) => "digest_ok",
        Decision::Challenge { stale: false, .. } => "challenged",
        Decision::Challenge { stale: true, .. } => "stale",
        Decision::Deny(_) => "denied",
    }
}
