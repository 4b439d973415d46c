//! Requests inside a call's dialogs: ACK, BYE from either side (answered at
//! once, relayed as Tollgate's own BYE), and every other request relayed to
//! the other leg with that leg's own CSeq (re-INVITE, UPDATE, INFO…), its
//! answer carried back. Also the dispatch of responses and timeouts of the
//! client transactions calls started.

use bytes::Bytes;
use tollgate_sip::transaction::{MAX_HEADERS, Peer, Received, TxId};
use tollgate_sip::{Header, HeaderKind, Method, parse_datagram};

use super::attempt::filter_body;
use super::carrier_auth::{Credentials, authorization};
use super::leg::{Facts, Leg, send_request};
use super::{Call, Calls, Ctx, OwedAck, Relay, Role, Side};
use crate::core::{answer_to, response_tagged};

/// Headers of a relayed request that mean something to the far end and
/// reveal nothing of the near one.
const RELAYED_HEADERS: &[HeaderKind] = &[HeaderKind::ContentDisposition, HeaderKind::Event];

impl Calls {
    /// A response for a client transaction a call started.
    pub(crate) fn on_response(
        &mut self,
        cx: &mut Ctx<'_>,
        tx: TxId,
        data: &Bytes,
        received: &Received<'_, '_>,
    ) {
        // The cx.layer validated the response: it has what Facts needs.
        let Some(facts) = Facts::of(data, received) else {
            return;
        };
        let Some(role) = self.by_client.remove(&tx) else {
            if (200..300).contains(&facts.code()) {
                self.on_stray_2xx(cx, received, &facts);
            }
            return;
        };
        let code = facts.code();
        let provisional = code < 200;
        match role {
            Role::Invite(id) => self.on_invite_response(cx, tx, id, data, facts),
            Role::Abandoned(ab) => self.on_abandoned_response(cx, tx, ab, facts),
            Role::Bye {
                leg,
                retried,
                creds,
            } => match (code, creds) {
                (401 | 407, Some(creds)) if !retried => {
                    self.send_bye_with(cx, *leg, Some(creds), Some((data, code)));
                }
                (_, creds) if provisional => {
                    self.by_client.insert(
                        tx,
                        Role::Bye {
                            leg,
                            retried,
                            creds,
                        },
                    );
                }
                _ => {}
            },
            Role::Quiet => {
                if provisional {
                    self.by_client.insert(tx, Role::Quiet);
                }
            }
            Role::Relay(relay) => self.on_relay_response(cx, tx, relay, data, facts),
            Role::Probe(gateway) if provisional => {
                self.by_client.insert(tx, Role::Probe(gateway));
            }
            Role::Probe(gateway) => self.on_probe_result(cx.now, gateway, Some(code)),
        }
    }

    /// A 2xx no call waits for: the answer to an INVITE or re-INVITE sent
    /// again because our ACK was lost. It is ACKed again on its dialog,
    /// found by our From tag; the ACK of a late offer, which carries the
    /// caller's answer, is resent as it was. A 2xx from another fork of the
    /// answered INVITE is a dialog of its own ([`Calls::on_fork_2xx`]).
    fn on_stray_2xx(&mut self, cx: &mut Ctx<'_>, received: &Received, facts: &Facts) {
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
    fn on_fork_2xx(&mut self, cx: &mut Ctx<'_>, call: &mut Call, facts: &Facts) {
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

    /// A client transaction got no final response in time.
    pub(crate) fn on_timed_out(&mut self, cx: &mut Ctx<'_>, tx: TxId) {
        match self.by_client.remove(&tx) {
            Some(Role::Invite(id)) => {
                if let Some(call) = self.calls.remove(&id) {
                    if call.answered {
                        self.keep(id, call);
                    } else {
                        self.gateway_silent(&call, cx.now);
                        self.attempt_failed(cx, id, call, 408, "Request Timeout".into());
                    }
                }
            }
            Some(Role::Relay(relay)) => {
                if let Some(resp) = answer_to(&relay.request, 408, "Request Timeout", "", &[], None)
                {
                    let _ = cx.layer.respond(cx.now, relay.server, resp);
                }
            }
            Some(Role::Probe(gateway)) => self.on_probe_result(cx.now, gateway, None),
            // A BYE that timed out: the call ended when it was sent.
            _ => {}
        }
    }

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
                }
                self.relay_answer_in_ack(cx, &mut call, side, &facts);
                self.keep(call_id, call);
            }
            (Method::Bye, Some(sid)) => {
                let tag = leg_of(&call, side).local_tag();
                if let Some(resp) = response_tagged(&msg.head, 200, "OK", tag, &[], None) {
                    let _ = cx.layer.respond(cx.now, sid, resp);
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
                    self.relay(cx, &mut call, call_id, side, sid, data, &facts, None);
                } else if let Some(resp) = response_tagged(
                    &msg.head,
                    491,
                    "Request Pending",
                    leg_of(&call, side).local_tag(),
                    &[],
                    None,
                ) {
                    let _ = cx.layer.respond(cx.now, sid, resp);
                }
                self.keep(call_id, call);
            }
            (_, None) => self.keep(call_id, call),
        }
    }

    /// Sends the request `data` from `from` to the other leg with that
    /// leg's next CSeq; with `auth` (the answer to the carrier's
    /// challenge) it carries that header and is not answered again.
    #[allow(clippy::too_many_arguments)]
    fn relay(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        call_id: u64,
        from: Side,
        sid: TxId,
        data: &Bytes,
        facts: &Facts,
        auth: Option<(&str, String)>,
    ) {
        let Some(method) = method_of(data) else {
            return;
        };
        let restricted = if from == Side::A {
            call.restricted.clone()
        } else {
            Box::default()
        };
        let (mut headers, rack) = relayed_headers(data);
        let out = call.out.as_deref().filter(|_| !call.answered);
        let mut early = out.and_then(|o| o.early.clone());
        if let (Side::A, Some(out), Some((caller_rseq, method))) = (from, out, rack) {
            // A PRACK (to the carrier's reliable provisional, before the
            // answer) names it by the gateway's RSeq and the B-leg
            // INVITE's CSeq, in the early dialog of the fork that sent it.
            let (rseq, fork) = out.pracked(caller_rseq);
            early = fork.or(early);
            let rack = format!("{rseq} {} {method}", out.cseq);
            headers.push(("RAck".to_owned(), rack.into_bytes()));
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
        let relayed = Method::from_token(method.as_bytes());
        let (mut b, branch) = other.request(relayed, via, None, Some(seq));
        if matches!(method.as_str(), "INVITE" | "UPDATE" | "SUBSCRIBE" | "REFER") {
            b = b.header("Contact", contact);
        }
        for (name, value) in headers {
            b = b.header(&name, value);
        }
        let retried = auth.is_some();
        if let Some((name, value)) = auth {
            b = b.header(name, value);
        }
        if !facts.body.is_empty() {
            let ct = facts.content_type.as_deref().unwrap_or_default();
            let body = filter_body(facts.sdp, &facts.body, &restricted);
            b = b.body(ct, body.to_vec());
        }
        let peer = other.peer;
        let sent = send_request(cx.layer, cx.now, peer, b, relayed, &branch);
        match sent {
            Some(tx) => {
                self.by_client.insert(
                    tx,
                    Role::Relay(Box::new(Relay {
                        call: call_id,
                        from,
                        server: sid,
                        request: data.clone(),
                        retried,
                    })),
                );
            }
            None => {
                let tag = leg_of(call, from).local_tag().to_owned();
                if let Some(resp) = answer_to(data, 500, "Server Internal Error", &tag, &[], None) {
                    let _ = cx.layer.respond(cx.now, sid, resp);
                }
            }
        }
    }

    /// The side other than `near` answered with a 2xx (CSeq `cseq`,
    /// carrying `offer`) an INVITE or re-INVITE from `near`. With an offer
    /// in the request the 2xx carries the answer and is ACKed at once; when
    /// the request was `offerless` the 2xx brings an offer, and its ACK
    /// waits for `near`'s, whose answer it carries (see
    /// [`Calls::relay_answer_in_ack`]).
    pub(super) fn acknowledge_answer(
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

    /// The far side answered a relayed re-INVITE with a 2xx (`data`): its
    /// Contact is the dialog's new target, and it is ACKed as
    /// [`Calls::acknowledge_answer`] says.
    fn acknowledge_reinvite(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        relay: &Relay,
        data: &Bytes,
        facts: &Facts,
    ) {
        let Some(far) = leg_mut(call, other_side(relay.from)) else {
            return;
        };
        far.update(None, facts.contact.as_deref(), None);
        // The re-INVITE's CSeq, which the 2xx repeats: the leg's latest
        // may have moved on (a PRACK, an INFO meanwhile).
        let Some(cseq) = cseq_number(data) else {
            return;
        };
        let offerless = Facts::read(&relay.request).is_some_and(|r| r.body.is_empty());
        self.acknowledge_answer(cx, call, relay.from, cseq, offerless, &facts.body);
    }

    /// Side `side` sent an ACK: when it answers the offer an offerless
    /// INVITE's or re-INVITE's 2xx brought, the far side gets its ACK now,
    /// with that answer (the caller's restricted codecs removed, as from
    /// any caller's SDP). It is kept for the 2xx's retransmissions.
    fn relay_answer_in_ack(
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

    /// Side `far` sent a reliable provisional (`data`, RSeq `rseq`) to a
    /// relayed re-INVITE. Tollgate PRACKs it itself: the near side gets it
    /// as an ordinary provisional, with nothing to PRACK, and the far side
    /// stops sending it and does not fail the re-INVITE for want of a PRACK
    /// (RFC 3262 §3).
    fn prack_reinvite_provisional(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        far: Side,
        data: &Bytes,
        rseq: u32,
    ) {
        let Some(invite_cseq) = cseq_number(data) else {
            return;
        };
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

    /// The far end answered a relayed request: carry the answer back; a 2xx
    /// to a re-INVITE is acknowledged on the far leg (see
    /// [`Calls::acknowledge_reinvite`]).
    fn on_relay_response(
        &mut self,
        cx: &mut Ctx<'_>,
        tx: TxId,
        relay: Box<Relay>,
        data: &Bytes,
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
            let method = method_of(&relay.request).unwrap_or_default();
            let auth = call
                .creds
                .as_ref()
                .zip(call.b.as_ref())
                .and_then(|(c, b)| authorization(data, code, c, method.as_bytes(), b.target()));
            if let (Some(auth), Some(original)) = (auth, Facts::read(&relay.request)) {
                let (call_id, from, server) = (relay.call, relay.from, relay.server);
                self.relay(
                    cx,
                    &mut call,
                    call_id,
                    from,
                    server,
                    &relay.request,
                    &original,
                    Some(auth),
                );
                self.keep(call_id, call);
                return;
            }
        }
        let invite = method_of(&relay.request).as_deref() == Some("INVITE");
        if invite && (200..300).contains(&code) {
            self.acknowledge_reinvite(cx, &mut call, &relay, data, &facts);
        }
        if let (true, Some(rseq)) = (invite, facts.rseq) {
            self.prack_reinvite_provisional(cx, &mut call, other_side(relay.from), data, rseq);
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
        if let Some(resp) = answer_to(
            &relay.request,
            code,
            &reason,
            near.local_tag(),
            extra,
            (!body.is_empty()).then_some((ct, &body[..])),
        ) {
            let _ = cx.layer.respond(cx.now, relay.server, resp.clone());
            if invite && (200..300).contains(&code) {
                self.retransmit_until_ack(cx.now, &mut call, resp, near_peer);
            }
        }
        if code < 200 {
            let call_id = relay.call;
            self.by_client.insert(tx, Role::Relay(relay));
            self.keep(call_id, call);
        } else {
            self.keep(relay.call, call);
        }
    }

    /// Sends BYE on one leg of an ending call.
    pub(super) fn send_bye(&mut self, cx: &mut Ctx<'_>, call: &mut Call, side: Side) {
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
        challenge: Option<(&Bytes, u16)>,
    ) {
        let via = self.local.via(leg.peer.transport, leg.peer.addr.ip());
        let target = leg.target().to_owned();
        let (mut b, branch) = leg.request(Method::Bye, via, None, None);
        if let (Some((resp, code)), Some(c)) = (challenge, &creds) {
            match authorization(resp, code, c, b"BYE", &target) {
                Some((name, value)) => b = b.header(name, value),
                None => return,
            }
        }
        let peer: Peer = leg.peer;
        if let Some(tx) = send_request(cx.layer, cx.now, peer, b, Method::Bye, &branch) {
            self.by_client.insert(
                tx,
                Role::Bye {
                    leg: Box::new(leg),
                    retried: challenge.is_some(),
                    creds,
                },
            );
        }
    }
}

fn other_side(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

fn leg_of(call: &Call, side: Side) -> &Leg {
    match side {
        Side::A => &call.a,
        // The B-leg exists whenever a request can come from it.
        Side::B => call.b.as_ref().unwrap_or(&call.a),
    }
}

fn leg_mut(call: &mut Call, side: Side) -> Option<&mut Leg> {
    match side {
        Side::A => Some(&mut call.a),
        Side::B => call.b.as_mut(),
    }
}

/// The CSeq number of the message `data` (a response names its request's).
fn cseq_number(data: &[u8]) -> Option<u32> {
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let msg = parse_datagram(data, &mut headers).ok()?;
    msg.head.cseq().ok().map(|c| c.seq)
}

/// The method of a request, as text.
fn method_of(data: &[u8]) -> Option<String> {
    let end = data.iter().position(|&b| b == b' ')?;
    Some(String::from_utf8_lossy(&data[..end]).into_owned())
}

/// Headers to write, by name and value.
type Headers = Vec<(String, Vec<u8>)>;

/// The [`RELAYED_HEADERS`] of the request `data`, by name and value; and
/// its RAck's RSeq and method, when it has one (the caller's numbers, to be
/// told the gateway's way).
fn relayed_headers(data: &[u8]) -> (Headers, Option<(u32, String)>) {
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let Ok(msg) = parse_datagram(data, &mut headers) else {
        return (Vec::new(), None);
    };
    let relayed: Vec<_> = msg
        .head
        .headers()
        .iter()
        .filter(|h| RELAYED_HEADERS.contains(&h.kind))
        .filter_map(|h| Some((h.kind.canonical_name()?.to_owned(), h.value.to_vec())))
        .collect();
    let rack = msg.head.rack().ok().map(|rack| {
        let method = String::from_utf8_lossy(rack.cseq.method.as_bytes()).into_owned();
        (rack.rseq, method)
    });
    (relayed, rack)
}
