//! Requests inside a call's dialogs relayed to the other leg with that
//! leg's own CSeq (re-INVITE, UPDATE, INFO, PRACK…), and their answers
//! carried back: the carrier's challenge to a relayed request answered
//! once with the gateway's credentials, a reliable provisional to a
//! relayed re-INVITE PRACKed by Tollgate itself, restricted codecs kept
//! out of every SDP from the caller. A relayed request is read once, when
//! it arrives ([`Relayed`]); its answers and its resending never read it
//! again.

use bytes::Bytes;
use tollgate_sip::sdp::remove_codecs;
use tollgate_sip::transaction::TxId;
use tollgate_sip::{Head, HeaderKind, MessageBuilder, Method, ResponseHeaders};

use super::call::*;
use super::leg::{Facts, Leg, send_request};
use super::{Calls, Ctx};
use crate::core::{reply, response_with};

/// Headers of a relayed request that mean something to the far end and
/// reveal nothing of the near one.
const RELAYED_HEADERS: &[HeaderKind] = &[HeaderKind::ContentDisposition, HeaderKind::Event];

/// What a relayed request carries to the far side, read once from the
/// request as it arrived; kept until its final answer, to send it again
/// with the answer to a carrier's challenge.
#[derive(Debug)]
pub(super) struct Relayed {
    /// Its method, as the near side wrote it.
    method: Box<str>,
    /// The [`RELAYED_HEADERS`] it had, by name and value.
    headers: Vec<(&'static str, Box<[u8]>)>,
    /// Its RAck's RSeq and method, when it has one (a PRACK: the caller's
    /// numbers, to be told the gateway's way).
    rack: Option<(u32, Box<str>)>,
    /// Its body, its Content-Type, and whether that says SDP.
    body: Bytes,
    content_type: Box<str>,
    sdp: bool,
}

impl Relayed {
    /// What the request `head` (read as `facts`) carries to the far side.
    pub(super) fn read(head: &Head<'_, '_>, facts: &Facts<'_>) -> Self {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into();
        let method = head
            .request_line()
            .map_or_else(Default::default, |line| text(line.method.as_bytes()));
        let headers = head
            .headers()
            .iter()
            .filter(|h| RELAYED_HEADERS.contains(&h.kind))
            .filter_map(|h| Some((h.kind.canonical_name()?, h.value.into())))
            .collect();
        let rack = head
            .rack()
            .ok()
            .map(|rack| (rack.rseq, text(rack.cseq.method.as_bytes())));
        Self {
            method,
            headers,
            rack,
            body: facts.body.clone(),
            content_type: facts.content_type.as_deref().unwrap_or_default().into(),
            sdp: facts.sdp,
        }
    }

    /// True for a re-INVITE.
    pub(super) fn is_invite(&self) -> bool {
        &*self.method == "INVITE"
    }

    /// True when it carries no body: a re-INVITE without an offer.
    pub(super) fn is_offerless(&self) -> bool {
        self.body.is_empty()
    }
}

impl Calls {
    /// Sends `relay`'s request to the leg other than the one it came from,
    /// with that leg's next CSeq; with `auth` (the answer to the carrier's
    /// challenge) it carries that header and is not answered again.
    pub(super) fn relay(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        mut relay: Box<Relay>,
        auth: Option<(&str, String)>,
    ) {
        let (from, request) = (relay.from, &relay.request);
        let restricted = if from == Side::A {
            call.restricted.clone()
        } else {
            Box::default()
        };
        let out = call.out.as_deref().filter(|_| !call.answered);
        let mut early = out.and_then(|o| o.early.clone());
        let mut rack = None;
        if let (Side::A, Some(out), Some((caller_rseq, method))) = (from, out, &request.rack) {
            // A PRACK (to the carrier's reliable provisional, before the
            // answer) names it by the gateway's RSeq and the B-leg
            // INVITE's CSeq, in the early dialog of the fork that sent it.
            let (rseq, fork) = out.pracked(*caller_rseq);
            early = fork.or(early);
            rack = Some(format!("{rseq} {} {method}", out.cseq));
        }
        let Some(other) = leg_mut(call, other_side(from)) else {
            return;
        };
        other.cseq += 1;
        // In an early dialog the carrier's tag and Contact come from its
        // provisional response; the leg keeps the INVITE's until the answer.
        let mut early_leg;
        let other: &mut Leg = match early.filter(|_| from == Side::A) {
            Some((remote, target)) => {
                early_leg = other.clone();
                early_leg.update(Some(&remote), target.as_deref(), None);
                &mut early_leg
            }
            None => other,
        };
        let via = self.local.via(other.peer.transport, other.peer.addr.ip());
        let contact = self
            .local
            .contact(other.peer.transport, other.peer.addr.ip());
        let seq = other.cseq;
        let method = Method::from_token(request.method.as_bytes());
        let (mut b, branch) = other.request(method, via, None, Some(seq));
        if matches!(
            &*request.method,
            "INVITE" | "UPDATE" | "SUBSCRIBE" | "REFER"
        ) {
            b = b.header("Contact", contact);
        }
        for (name, value) in &request.headers {
            b = b.header(name, value);
        }
        if let Some(rack) = rack {
            b = b.header("RAck", rack);
        }
        let retried = auth.is_some();
        if let Some((name, value)) = auth {
            b = b.header(name, value);
        }
        if !request.body.is_empty() {
            let body = filter_body(request.sdp, &request.body, &restricted);
            b = b.body(&request.content_type, body.to_vec());
        }
        let peer = other.peer;
        match send_request(cx.layer, cx.now, peer, b, method, &branch) {
            Some(tx) => {
                relay.retried = retried;
                self.by_client.insert(tx, Role::Relay(relay));
            }
            None => {
                let error = response_with(&relay.reply, 500, "Server Internal Error", &[], None);
                if let Some(resp) = error {
                    reply(cx.layer, cx.now, relay.server, resp);
                }
            }
        }
    }

    /// The far end answered a relayed request (`data`, read as `facts`):
    /// carry the answer back; a 2xx to a re-INVITE is acknowledged on the
    /// far leg (see [`Calls::acknowledge_reinvite`]).
    pub(super) fn on_relay_response(
        &mut self,
        cx: &mut Ctx<'_>,
        tx: TxId,
        relay: Box<Relay>,
        facts: Facts,
    ) {
        let Some((code, reason)) = facts.status.clone() else {
            return;
        };
        if code == 100 {
            self.by_client.insert(tx, Role::Relay(relay));
            return;
        }
        let Some(mut call) = self.calls.remove(&relay.call) else {
            return;
        };
        if matches!(code, 401 | 407) && relay.from == Side::A && !relay.retried {
            // The carrier challenges a request inside the dialog (a
            // re-INVITE, say): answered with the gateway's credentials, once,
            // never passed to the caller.
            let method = relay.request.method.as_bytes();
            let auth = call
                .creds
                .as_ref()
                .zip(call.b.as_ref())
                .zip(facts.challenge.clone())
                .map(|((c, b), mut nonce)| nonce.answer(c, method, b.target()));
            if let Some(auth) = auth {
                let call_id = relay.call;
                self.relay(cx, &mut call, relay, Some(auth));
                self.keep(call_id, call);
                return;
            }
        }
        let invite = relay.request.is_invite();
        if invite && (200..300).contains(&code) {
            self.acknowledge_reinvite(cx, &mut call, &relay, &facts);
        }
        if let (true, Some(rseq)) = (invite, facts.rseq) {
            let far = other_side(relay.from);
            self.prack_reinvite_provisional(cx, &mut call, far, facts.cseq, rseq);
        }
        let restricted = if relay.from == Side::A {
            call.restricted.clone()
        } else {
            Box::default()
        };
        let near = leg_of(&call, relay.from);
        let contact = self.local.contact(near.peer.transport, near.peer.addr.ip());
        let body = filter_body(facts.sdp, &facts.body, &restricted);
        let ct = facts.content_type.as_deref().unwrap_or_default();
        let extra: &[(&str, &str)] = if invite && code < 300 {
            &[("Contact", &*contact)]
        } else {
            &[]
        };
        let near_peer = near.peer;
        let body = (!body.is_empty()).then_some((ct, &body[..]));
        if let Some(resp) = response_with(&relay.reply, code, &reason, extra, body) {
            reply(cx.layer, cx.now, relay.server, resp.clone());
            if invite && (200..300).contains(&code) {
                self.retransmit_until_ack(cx.now, &mut call, resp, near_peer);
            }
        }
        let call_id = relay.call;
        if code < 200 {
            self.by_client.insert(tx, Role::Relay(relay));
        }
        self.keep(call_id, call);
    }

    /// Side `far` sent a reliable provisional (RSeq `rseq`) to a relayed
    /// re-INVITE (CSeq `invite_cseq`). Tollgate PRACKs it itself: the near
    /// side gets it as an ordinary provisional, with nothing to PRACK, and
    /// the far side stops sending it and does not fail the re-INVITE for
    /// want of a PRACK (RFC 3262 §3).
    fn prack_reinvite_provisional(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        far: Side,
        invite_cseq: u32,
        rseq: u32,
    ) {
        let Some(leg) = leg_mut(call, far) else {
            return;
        };
        leg.cseq += 1;
        let via = self.local.via(leg.peer.transport, leg.peer.addr.ip());
        let seq = leg.cseq;
        let (prack, branch) = leg.request(Method::Prack, via, None, Some(seq));
        let prack = prack.header("RAck", format!("{rseq} {invite_cseq} INVITE"));
        if let Some(tx) = send_request(cx.layer, cx.now, leg.peer, prack, Method::Prack, &branch) {
            self.by_client.insert(tx, Role::Quiet);
        }
    }
}

/// `body` without the `restricted` codecs when it is SDP, else as it is.
pub(super) fn filter_body(sdp: bool, body: &Bytes, restricted: &[String]) -> Bytes {
    if restricted.is_empty() || body.is_empty() || !sdp {
        return body.clone();
    }
    let names: Vec<&str> = restricted.iter().map(String::as_str).collect();
    Bytes::from(remove_codecs(body, &names).sdp)
}

/// The headers every response to the in-dialog request `head` copies,
/// written once when it arrives; `tag` is our tag on its dialog.
pub(super) fn reply_headers(head: &Head<'_, '_>, tag: &str) -> ResponseHeaders {
    MessageBuilder::response_headers(head, Some(tag.as_bytes()))
}
