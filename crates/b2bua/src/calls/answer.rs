//! Answers and their ACKs: the carrier's 2xx relayed to the caller and
//! retransmitted until the caller's ACK (RFC 3261 §13.3.1.4); Tollgate's
//! own ACKs to the carrier; and the owed ACK of an INVITE or re-INVITE
//! that had no offer (its 2xx brings one, and the ACK that answers it must
//! wait for the other side's ACK, RFC 3261 §13.2.2.4), declined when the
//! call ends first.

use std::time::Instant;

use bytes::Bytes;
use tollgate_policy::CallState;
use tollgate_sip::sdp::{self};
use tollgate_sip::transaction::Peer;
use tollgate_sip::{Method, ResponseHeaders};

use super::call::*;
use super::leg::{Facts, Leg};
use super::relay::filter_body;
use super::timers::Timer;
use super::{Calls, Ctx};
use crate::core::ALLOW;

impl Calls {
    /// The carrier answered: ACK the B-leg (or wait for the caller's ACK
    /// with a late offer), relay the 2xx to the caller and retransmit it
    /// until the caller's ACK.
    pub(super) fn answer(
        &mut self,
        cx: &mut Ctx<'_>,
        id: u64,
        mut call: Box<Call>,
        facts: &Facts,
        reason: &str,
    ) {
        // The INVITE's CSeq, not the leg's latest: an early UPDATE may
        // have moved that on.
        let invite_cseq = call.out.take().map(|o| o.cseq);
        if let Some(b) = call.b.as_mut() {
            call.b_invite_cseq = invite_cseq.unwrap_or(b.cseq);
            b.answered_by(facts);
        }
        let (cseq, late_offer) = (call.b_invite_cseq, call.late_offer);
        self.acknowledge_answer(cx, &mut call, Side::A, cseq, late_offer, &facts.body);
        let body = filter_body(facts.sdp, &facts.body, &call.restricted);
        let contact = self
            .local
            .contact(call.a.peer.transport, call.a.peer.addr.ip());
        let ct = facts.content_type.as_deref().unwrap_or_default();
        let ok = respond_a(
            cx,
            &call,
            200,
            reason,
            &[("Contact", &contact), ("Allow", ALLOW)],
            (!body.is_empty()).then_some((ct, &body[..])),
        );
        if let Some(data) = ok {
            let peer = call.a.peer;
            self.retransmit_until_ack(cx.now, &mut call, data, peer);
        }
        // The caller's INVITE, the offer and the plan were needed to answer
        // the INVITE and to retry it; a long call should not carry them.
        call.a_reply = ResponseHeaders::default();
        call.offer = None;
        call.plan = None;
        call.answered = true;
        call.timers.stop(Timer::Reply);
        call.timers
            .set(Timer::MaxDuration, cx.now + call.max_duration);
        self.board
            .set_state(call.info.id, CallState::Answered, Some(cx.unix_ms));
        self.answered.increment(1);
        self.keep(id, call);
    }

    /// Retransmits the 2xx `data` (to an INVITE or re-INVITE) to `peer`
    /// over UDP until its ACK (RFC 3261 §13.3.1.4); the transaction layer
    /// leaves that to the dialog. `data` is the 2xx as first sent: built
    /// from the request as delivered, its Via is already stamped.
    pub(super) fn retransmit_until_ack(
        &self,
        now: Instant,
        call: &mut Call,
        data: Bytes,
        peer: Peer,
    ) {
        if peer.transport.is_reliable() {
            return;
        }
        let t1 = self.config.timers.t1;
        call.unacked = Some(Box::new(Unacked {
            data,
            peer,
            interval: t1,
        }));
        call.timers.set(Timer::Retransmit, now + t1);
        call.timers
            .set(Timer::AckGiveUp, now + self.config.timers.timeout());
    }

    /// The side other than `near` answered with a 2xx (CSeq `cseq`,
    /// carrying `offer`) an INVITE or re-INVITE from `near`. With an offer
    /// in the request the 2xx carries the answer and is ACKed at once; when
    /// the request was `offerless` the 2xx brings an offer, and its ACK
    /// waits for `near`'s, whose answer it carries (see
    /// [`Calls::relay_answer_in_ack`]).
    fn acknowledge_answer(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        near: Side,
        cseq: u32,
        offerless: bool,
        offer: &[u8],
    ) {
        if offerless && !offer.is_empty() {
            call.rare.get_or_insert_default().owed_ack = Some(OwedAck::Waits {
                near,
                cseq,
                // A copy: the offer may wait a while for the ACK, and
                // should not hold the datagram it came in.
                offer: Bytes::copy_from_slice(offer),
            });
        } else if let Some(far) = leg_mut(call, other_side(near)) {
            self.send_ack(cx, far, cseq, None);
        }
    }

    /// The far side answered a relayed re-INVITE with a 2xx (`facts`): its
    /// Contact is the dialog's new target, and it is ACKed as
    /// [`Calls::acknowledge_answer`] says.
    pub(super) fn acknowledge_reinvite(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        relay: &Relay,
        facts: &Facts,
    ) {
        let Some(far) = leg_mut(call, other_side(relay.from)) else {
            return;
        };
        far.update(None, facts.contact.as_deref(), None);
        // The re-INVITE's CSeq, which the 2xx repeats: the leg's latest
        // may have moved on (a PRACK, an INFO meanwhile).
        let offerless = relay.request.is_offerless();
        self.acknowledge_answer(cx, call, relay.from, facts.cseq, offerless, &facts.body);
    }

    /// Side `side` sent an ACK: when it answers the offer an offerless
    /// INVITE's or re-INVITE's 2xx brought, the far side gets its ACK now,
    /// with that answer (the caller's restricted codecs removed, as from
    /// any caller's SDP). It is kept for the 2xx's retransmissions.
    pub(super) fn relay_answer_in_ack(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        side: Side,
        facts: &Facts,
    ) {
        let answers = |p: &mut OwedAck| matches!(p, OwedAck::Waits { near, .. } if *near == side);
        let pending = call.rare.as_mut().and_then(|r| r.owed_ack.take_if(answers));
        let Some(OwedAck::Waits { cseq, .. }) = pending else {
            return;
        };
        let body = if side == Side::A {
            filter_body(facts.sdp, &facts.body, &call.restricted)
        } else {
            facts.body.clone()
        };
        let ct = facts.content_type.as_deref().unwrap_or_default();
        let far = other_side(side);
        let Some(leg) = leg_mut(call, far) else {
            return;
        };
        let sent = self.send_ack(cx, leg, cseq, (!body.is_empty()).then_some((ct, &body[..])));
        if let (Some(ack), Some(rare)) = (sent, call.rare.as_mut()) {
            rare.owed_ack = Some(OwedAck::Acked { far, cseq, ack });
        }
    }

    /// ACKs a 2xx to `leg`'s INVITE (CSeq `cseq`) that is to be hung up at
    /// once: a fork's, or one to an INVITE the call gave up on. When the
    /// INVITE had no offer the 2xx brought `offer`, and an ACK must answer
    /// it (RFC 3261 §13.2.2.4): the answer declines every stream. Returns
    /// what was sent.
    pub(super) fn send_declining_ack(
        &mut self,
        cx: &mut Ctx<'_>,
        leg: &mut Leg,
        cseq: u32,
        offer: &[u8],
    ) -> Option<Bytes> {
        if offer.is_empty() {
            return self.send_ack(cx, leg, cseq, None);
        }
        let ip = self.local.ip(leg.peer.transport, leg.peer.addr.ip());
        let answer = sdp::declining_answer(offer, ip);
        self.send_ack(cx, leg, cseq, Some(("application/sdp", &answer)))
    }

    /// Sends the ACK for the 2xx to `leg`'s INVITE with CSeq `cseq`
    /// (carrying `body` when given); returns what was sent.
    pub(super) fn send_ack(
        &mut self,
        cx: &mut Ctx<'_>,
        leg: &mut Leg,
        cseq: u32,
        body: Option<(&str, &[u8])>,
    ) -> Option<Bytes> {
        let via = self.local.via(leg.peer.transport, leg.peer.addr.ip());
        let (mut msg, _) = leg.request(Method::Ack, via, None, Some(cseq));
        if let Some((ct, body)) = body {
            msg = msg.body(ct, body.to_vec());
        }
        let data = Bytes::from(msg.build().ok()?);
        cx.layer.send_stateless(leg.peer, data.clone());
        Some(data)
    }
}
