//! Requests that claim a dialog of a call (an ACK, or a To tag of ours):
//! found by the tag, or refused 481 statelessly. BYE from either side is
//! answered at once and becomes Tollgate's own BYE on the other leg (and
//! Tollgate hangs up both legs itself for the API, limits and timeouts);
//! a 2xx retransmitted because an ACK was lost is ACKed again on its
//! dialog; a 2xx from a second fork of the answered INVITE is a dialog of
//! its own, ACKed and hung up.

use bytes::Bytes;
use tollgate_sip::Method;
use tollgate_sip::transaction::{Peer, Received, TxId};

use super::call::*;
use super::carrier_auth::{CarrierNonce, Credentials};
use super::leg::{Facts, Leg, send_request};
use super::relay::{Relayed, reply_headers};
use super::timers::Timer;
use super::{Calls, Ctx};
use crate::core::{reply, response_tagged};

impl Calls {
    /// A request carrying a To tag (or an ACK): it belongs to a dialog of
    /// a call, or gets 481. `id` is its server transaction (`None` for ACK);
    /// `msg` is `data` parsed.
    pub(crate) fn in_dialog(
        &mut self,
        cx: &mut Ctx<'_>,
        id: Option<TxId>,
        method: Method<'_>,
        data: &Bytes,
        received: &Received<'_, '_>,
    ) {
        let msg = &received.message;
        let found = Facts::of(data, received)
            .and_then(|f| self.dialog_of(&f.call_id, &f.to_tag).map(|d| (d, f)));
        let Some(((call_id, side), facts)) = found else {
            // No call of ours: whoever sent it gets one stateless answer,
            // as a stranger would (a spoofed source cannot make Tollgate
            // retransmit).
            if let Some(sid) = id {
                let reason = "Call/Transaction Does Not Exist";
                let refusal = response_tagged(&msg.head, 481, reason, "", &[], None);
                cx.layer.respond_statelessly(sid, refusal);
            }
            return;
        };
        let Some(mut call) = self.calls.remove(&call_id) else {
            return;
        };
        match (method, id) {
            (Method::Ack, _) => {
                let acked = call
                    .unacked
                    .as_ref()
                    .is_some_and(|u| u.peer == leg_of(&call, side).peer);
                if acked {
                    call.unacked = None;
                    call.timers.stop(Timer::Retransmit);
                    call.timers.stop(Timer::AckGiveUp);
                }
                self.relay_answer_in_ack(cx, &mut call, side, &facts);
                self.keep(call_id, call);
            }
            (Method::Bye, Some(sid)) => {
                let tag = leg_of(&call, side).local_tag();
                if let Some(resp) = response_tagged(&msg.head, 200, "OK", tag, &[], None) {
                    reply(cx.layer, cx.now, sid, resp);
                }
                if call.answered {
                    let other = other_side(side);
                    self.send_bye(cx, &mut call, other);
                    self.finish(
                        call,
                        if side == Side::A {
                            "bye_caller"
                        } else {
                            "bye_callee"
                        },
                    );
                } else {
                    self.hang_up(cx, call, "bye_early");
                }
            }
            (_, Some(sid)) => {
                // Before the answer only the early dialog exists: no
                // re-INVITE in it (RFC 3261 §14.1), and towards the carrier
                // only once its provisional response set it up.
                let early = method != Method::Invite
                    && (side == Side::B || call.out.as_ref().is_some_and(|o| o.early.is_some()));
                if call.answered || early {
                    let relay = Box::new(Relay {
                        call: call_id,
                        from: side,
                        server: sid,
                        request: Box::new(Relayed::read(&msg.head, &facts)),
                        reply: reply_headers(&msg.head, leg_of(&call, side).local_tag()),
                        retried: false,
                    });
                    self.relay(cx, &mut call, relay, None);
                } else if let Some(resp) = response_tagged(
                    &msg.head,
                    491,
                    "Request Pending",
                    leg_of(&call, side).local_tag(),
                    &[],
                    None,
                ) {
                    reply(cx.layer, cx.now, sid, resp);
                }
                self.keep(call_id, call);
            }
            (_, None) => self.keep(call_id, call),
        }
    }

    /// Ends a call from Tollgate's side: BYE on answered legs, CANCEL (and
    /// 487 to the caller) before the answer.
    pub(super) fn hang_up(&mut self, cx: &mut Ctx<'_>, mut call: Box<Call>, why: &'static str) {
        if call.answered {
            self.send_bye(cx, &mut call, Side::A);
            self.send_bye(cx, &mut call, Side::B);
            self.finish(call, why);
        } else {
            self.abandon_attempt(cx, &mut call);
            respond_a(cx, &call, 487, "Request Terminated", &[], None);
            self.finish(call, why);
        }
    }

    /// Sends BYE on one leg of an ending call.
    fn send_bye(&mut self, cx: &mut Ctx<'_>, call: &mut Call, side: Side) {
        // A side still owed the ACK of an offerless INVITE's or re-INVITE's
        // 2xx (the call ends before the other side's answer) gets it before
        // the BYE, declining the offer.
        let owed = |p: &mut OwedAck| matches!(p, OwedAck::Waits { near, .. } if *near != side);
        if let Some(OwedAck::Waits { cseq, offer, .. }) =
            call.rare.as_mut().and_then(|r| r.owed_ack.take_if(owed))
            && let Some(leg) = leg_mut(call, side)
        {
            self.send_declining_ack(cx, leg, cseq, &offer);
        }
        let creds = if side == Side::B {
            call.creds.clone()
        } else {
            None
        };
        if let Some(leg) = leg_mut(call, side) {
            let leg = leg.clone();
            self.send_bye_with(cx, leg, creds, None);
        }
    }

    /// Sends BYE on `leg` with the next CSeq; with `challenge` (a 401/407
    /// to the previous BYE) it carries the answer and is not retried again.
    pub(super) fn send_bye_with(
        &mut self,
        cx: &mut Ctx<'_>,
        mut leg: Leg,
        creds: Option<Box<Credentials>>,
        challenge: Option<CarrierNonce>,
    ) {
        let via = self.local.via(leg.peer.transport, leg.peer.addr.ip());
        let target = leg.target().to_owned();
        let (mut b, branch) = leg.request(Method::Bye, via, None, None);
        let retried = challenge.is_some();
        if let (Some(mut challenge), Some(c)) = (challenge, &creds) {
            let (name, value) = challenge.answer(c, b"BYE", &target);
            b = b.header(name, value);
        }
        let peer: Peer = leg.peer;
        if let Some(tx) = send_request(cx.layer, cx.now, peer, b, Method::Bye, &branch) {
            self.by_client.insert(
                tx,
                Role::Bye {
                    leg: Box::new(leg),
                    retried,
                    creds,
                },
            );
        }
    }

    /// A 2xx no call waits for: the answer to an INVITE or re-INVITE sent
    /// again because our ACK was lost. It is ACKed again on its dialog,
    /// found by our From tag; the ACK of a late offer, which carries the
    /// caller's answer, is resent as it was. A 2xx from another fork of the
    /// answered INVITE is a dialog of its own ([`Calls::on_fork_2xx`]).
    pub(super) fn on_stray_2xx(&mut self, cx: &mut Ctx<'_>, received: &Received, facts: &Facts) {
        let (cseq, from) = (received.checked.cseq(), received.checked.from());
        let tag = String::from_utf8_lossy(from.tag().unwrap_or_default());
        let Some((id, side)) = self.dialog_of(&facts.call_id, &tag) else {
            return;
        };
        if cseq.method != Method::Invite {
            return;
        }
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let answer = side == Side::B && cseq.seq == call.b_invite_cseq;
        let other_tag = |b: &Leg| !facts.to_tag.is_empty() && b.remote_tag() != facts.to_tag;
        if answer && call.b.as_ref().is_some_and(other_tag) {
            self.on_fork_2xx(cx, &mut call, facts);
            self.keep(id, call);
            return;
        }
        // The answer to an offerless INVITE or re-INVITE sent again: its
        // ACK waits for the other side's answer, or is sent again as it
        // was; any other answer gets its bodyless ACK built again.
        let owed = call.rare.as_ref().and_then(|r| r.owed_ack.as_ref());
        match owed {
            Some(OwedAck::Waits { near, cseq: c, .. })
                if other_side(*near) == side && *c == cseq.seq => {}
            Some(OwedAck::Acked { far, cseq: c, ack }) if *far == side && *c == cseq.seq => {
                cx.layer
                    .send_stateless(leg_of(&call, side).peer, ack.clone());
            }
            _ if call.answered => {
                if let Some(leg) = leg_mut(&mut call, side) {
                    self.send_ack(cx, leg, cseq.seq, None);
                }
            }
            _ => {}
        }
        self.keep(id, call);
    }

    /// A 2xx to the answered B-leg INVITE from another fork of it (a
    /// second phone behind the carrier's forking proxy picked up): a dialog
    /// the call does not want. It is acknowledged and hung up (RFC 3261
    /// §13.2.2.4); the caller never hears of it. Its answer sent again
    /// (the ACK crossed it) is acknowledged again, not hung up twice.
    pub(super) fn on_fork_2xx(&mut self, cx: &mut Ctx<'_>, call: &mut Call, facts: &Facts) {
        let Some(mut fork) = call.b.clone() else {
            return;
        };
        fork.answered_by(facts);
        let offer = if call.late_offer {
            &facts.body[..]
        } else {
            &[]
        };
        self.send_declining_ack(cx, &mut fork, call.b_invite_cseq, offer);
        let hung_up = &mut call.rare.get_or_insert_default().forks_hung_up;
        if hung_up.iter().any(|tag| *tag == facts.to_tag) {
            return;
        }
        hung_up.push(facts.to_tag.clone().into_owned());
        self.send_bye_with(cx, fork, call.creds.clone(), None);
    }
}
