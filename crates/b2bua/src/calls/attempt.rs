//! A call on its way to the carriers: the B-leg INVITE to one gateway after
//! another (weighted pick, failover as the carrier's reply rules say, the
//! carrier's challenge answered once, its nonce reused on the next INVITE),
//! the provisional responses relayed to the caller, until one gateway
//! answers (`answer.rs`) or every candidate has failed. An attempt given
//! up (timed out, cancelled) is abandoned: a late provisional gets a
//! CANCEL, a late 2xx an ACK and a BYE.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_policy::admission::{Limit, Scope};
use tollgate_policy::routing::{Outcome, judge_failure};
use tollgate_policy::{Account, AccountStatus, CallState, IpAuthEntry};
use tollgate_sip::Method;
use tollgate_sip::transaction::TxId;

use super::call::*;
use super::carrier_auth::{CarrierNonce, Credentials};
use super::gateway::Hop;
use super::leg::{Facts, Leg, send_request};
use super::local::Host;
use super::relay::filter_body;
use super::timers::Timer;
use super::{Calls, Ctx};
use crate::core::{ALLOW, random_hex, sized_text};

/// The limits of sending to a gateway of a carrier.
fn gateway_limits(entry: &IpAuthEntry, carrier: &Account) -> [Limit; 2] {
    [
        Limit {
            scope: Scope::Gateway(entry.id),
            channels: entry.channels,
            cps: entry.cps,
        },
        Limit {
            scope: Scope::Account(carrier.id),
            channels: carrier.channels,
            cps: carrier.cps,
        },
    ]
}

/// How long a gateway that did not answer an INVITE at all is tried only
/// after the others.
pub(super) const GATEWAY_DOWN_FOR: Duration = Duration::from_secs(30);

impl Calls {
    /// Sends the call to the next candidate gateway, or answers the caller
    /// with the last failure when none is left.
    pub(super) fn next_attempt(&mut self, cx: &mut Ctx<'_>, id: u64, mut call: Box<Call>) {
        loop {
            if let Some(gateway) = call.plan().gateways.pop_front() {
                if self.send_invite(cx, id, &mut call, gateway) {
                    self.show(&call);
                    self.keep(id, call);
                    return;
                }
                continue;
            }
            let Some(carrier_id) = call.plan().carriers.pop_front() else {
                let (code, reason) = call.plan().last_failure.clone();
                self.fail(cx, call, code, &reason);
                return;
            };
            let Some(carrier) = cx
                .snap
                .account(carrier_id)
                .filter(|a| a.status == AccountStatus::Active)
            else {
                continue;
            };
            let entries: Vec<&IpAuthEntry> = cx.snap.gateways(carrier_id).collect();
            let gateways: Vec<(i64, u32)> = entries.iter().map(|g| (g.id, g.weight)).collect();
            let admission = &self.admission;
            let now_ms = cx.unix_ms;
            let usable = |gw| {
                entries.iter().any(|g| {
                    g.id == gw
                        && !cx.snap.gateway_addresses(gw).is_empty()
                        && admission.check(&gateway_limits(g, carrier), now_ms).is_ok()
                })
            };
            let down = |gw| self.down.get(&gw).is_some_and(|&until| until > cx.now);
            let mut order = self
                .picker
                .order(carrier_id, &gateways, |gw| usable(gw) && !down(gw));
            // Gateways that went silent lately come last: still tried
            // before the carrier is given up, never first.
            order.extend(
                gateways
                    .iter()
                    .map(|&(id, _)| id)
                    .filter(|&id| down(id) && usable(id)),
            );
            let tries = 1 + usize::from(carrier.carrier.gateway_failover);
            let plan = call.plan();
            plan.current = Some(carrier_id);
            plan.gateways = order.into_iter().take(tries).collect();
            if plan.gateways.is_empty() && !gateways.is_empty() {
                plan.last_failure = (503, "No carrier available".into());
            }
        }
    }

    /// Admits and sends the B-leg INVITE to `gateway` of the current
    /// carrier. False when the gateway is full, unreachable or gone.
    fn send_invite(&mut self, cx: &mut Ctx<'_>, id: u64, call: &mut Call, gateway: i64) -> bool {
        let Some(carrier_id) = call.plan.as_ref().and_then(|p| p.current) else {
            return false;
        };
        let (Some(carrier), Some(entry)) = (
            cx.snap.account(carrier_id),
            cx.snap.gateways(carrier_id).find(|g| g.id == gateway),
        ) else {
            return false;
        };
        let Some(&ip) = cx.snap.gateway_addresses(gateway).first() else {
            return false;
        };
        let limits = gateway_limits(entry, carrier);
        if self.admission.admit(&limits, cx.unix_ms).is_err() {
            return false;
        }
        call.gateway_held = limits.iter().map(|l| l.scope).collect();
        self.publish_channels(carrier_id);
        let hop = Hop::to(entry, ip);
        // The carrier's tech prefix goes in front of the called number.
        let (prefix, callee) = (&carrier.carrier.tech_prefix, &call.info.callee);
        let own = self.local.own(hop.peer.transport, hop.peer.addr.ip());
        let gateway_text = sized_text(47, hop.gateway);
        let tag = self.tags.make(id);
        let uri_params = hop.uri_params;
        let leg = Leg::new(
            hop.peer,
            [
                &format_args!("{}@tollgate", random_hex()) as &dyn std::fmt::Display,
                &format_args!("<sip:{}@{}>;tag={tag}", call.info.caller, own.host()),
                &format_args!("<sip:{prefix}{callee}@{}>", Host(hop.gateway)),
                &format_args!("sip:{prefix}{callee}@{gateway_text}{uri_params}"),
                &hop.routes,
            ],
            call.a_max_forwards - 1,
        );
        call.creds = match (&entry.username, &entry.password) {
            (u, Some(p)) if !u.is_empty() => Some(Box::new(Credentials {
                username: u.clone(),
                password: p.clone(),
            })),
            _ => None,
        };
        let first_reply =
            Duration::from_secs(u64::from(carrier.carrier.first_reply_timeout_s.max(1)));
        // A nonce this gateway gave before answers its challenge in advance.
        let preemptive = match (&call.creds, self.carrier_nonces.get_mut(&gateway)) {
            (Some(creds), Some(nonce)) => Some(nonce.answer(creds, b"INVITE", leg.target())),
            _ => None,
        };
        call.b = Some(leg);
        let sent = preemptive.is_some();
        let Some((tx, branch, cseq)) = self.send_b_invite(cx, call, preemptive) else {
            self.release_gateway(call);
            call.b = None;
            return false;
        };
        self.by_client.insert(tx, Role::Invite(id));
        call.out = Some(Box::new(Outgoing {
            tx,
            branch,
            cseq,
            carrier: carrier_id,
            replied: false,
            ringing: false,
            auth_tried: false,
            preemptive: sent,
            early: None,
            reliables: Vec::new(),
        }));
        call.timers.set(Timer::Reply, cx.now + first_reply);
        let info = Arc::make_mut(&mut call.info);
        info.carrier_id = Some(carrier_id);
        info.gateway_id = Some(gateway);
        info.gateway_address = Some(gateway_text);
        set_state(call, CallState::Routing);
        true
    }

    /// Builds and sends the INVITE on the call's B-leg (with the next
    /// CSeq), carrying `auth` when answering a challenge.
    fn send_b_invite(
        &mut self,
        cx: &mut Ctx<'_>,
        call: &mut Call,
        auth: Option<(&str, String)>,
    ) -> Option<(TxId, String, u32)> {
        let leg = call.b.as_mut()?;
        let via = self.local.via(leg.peer.transport, leg.peer.addr.ip());
        let contact = self.local.contact(leg.peer.transport, leg.peer.addr.ip());
        let (mut b, branch) = leg.request(Method::Invite, via, None, None);
        b = b.header("Contact", contact).header("Allow", ALLOW);
        if let Some((name, value)) = call.reliable.header() {
            b = b.header(name, value);
        }
        if let Some((name, value)) = auth {
            b = b.header(name, value);
        }
        if let Some((ct, body)) = call.offer.as_deref() {
            b = b.body(ct, body.to_vec());
        }
        let tx = send_request(cx.layer, cx.now, leg.peer, b, Method::Invite, &branch)?;
        Some((tx, branch, leg.cseq))
    }

    /// Keeps `nonce` to answer `gateway`'s next challenge in advance when
    /// it may be reused; otherwise forgets what the gateway gave before.
    fn keep_nonce(&mut self, gateway: Option<i64>, nonce: Option<CarrierNonce>) {
        let Some(gateway) = gateway else {
            return;
        };
        match nonce.filter(CarrierNonce::reusable) {
            Some(nonce) => self.carrier_nonces.insert(gateway, nonce),
            None => self.carrier_nonces.remove(&gateway),
        };
    }

    /// Gives back the current gateway's channels.
    fn release_gateway(&mut self, call: &mut Call) {
        self.admission.release(call.gateway_held.drain(..));
        if let Some(carrier) = call.plan.as_ref().and_then(|p| p.current) {
            self.publish_channels(carrier);
        }
    }

    /// Marks the call's current gateway as down for [`GATEWAY_DOWN_FOR`].
    pub(super) fn gateway_silent(&mut self, call: &Call, now: Instant) {
        if let Some(gw) = call.info.gateway_id {
            tracing::info!(
                gateway = gw,
                "gateway did not answer an INVITE: tried last for 30 s"
            );
            self.down.insert(gw, now + GATEWAY_DOWN_FOR);
        }
    }

    /// Stops waiting for the current B-leg INVITE: its channels are freed
    /// and its transaction is left to a CANCEL (once it has a provisional)
    /// and to [`Role::Abandoned`].
    pub(super) fn abandon_attempt(&mut self, cx: &mut Ctx<'_>, call: &mut Call) {
        self.release_gateway(call);
        call.timers.stop(Timer::Reply);
        let (Some(out), Some(mut leg)) = (call.out.take(), call.b.take()) else {
            return;
        };
        if out.replied {
            self.send_cancel(cx, &mut leg, &out.branch, out.cseq);
        }
        self.by_client.insert(
            out.tx,
            Role::Abandoned(Box::new(Abandoned {
                leg,
                branch: out.branch,
                cseq: out.cseq,
                cancel_sent: out.replied,
                late_offer: call.late_offer,
            })),
        );
    }

    fn send_cancel(&mut self, cx: &mut Ctx<'_>, leg: &mut Leg, branch: &str, cseq: u32) {
        let via = self.local.via(leg.peer.transport, leg.peer.addr.ip());
        let (b, _) = leg.request(Method::Cancel, via, Some(branch), Some(cseq));
        if let Some(tx) = send_request(cx.layer, cx.now, leg.peer, b, Method::Cancel, branch) {
            self.by_client.insert(tx, Role::Quiet);
        }
    }

    /// The caller cancelled (the layer already answered the CANCEL 200).
    pub(crate) fn on_cancelled(&mut self, cx: &mut Ctx<'_>, sid: TxId) {
        let Some(id) = self.by_server.get(&sid).copied() else {
            return;
        };
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        self.abandon_attempt(cx, &mut call);
        respond_a(cx, &call, 487, "Request Terminated", &[], None);
        self.finish(call, "cancelled");
    }

    /// A response to the current B-leg INVITE of call `id`.
    pub(super) fn on_invite_response(
        &mut self,
        cx: &mut Ctx<'_>,
        tx: TxId,
        id: u64,
        mut facts: Facts,
    ) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let Some((code, reason)) = facts.status.clone() else {
            self.by_client.insert(tx, Role::Invite(id));
            self.keep(id, call);
            return;
        };
        let Some(carrier_id) = call.out.as_ref().map(|o| o.carrier) else {
            self.keep(id, call);
            return;
        };
        let timeouts = cx.snap.account(carrier_id).map(|c| {
            (
                Duration::from_secs(u64::from(c.carrier.pdd_timeout_s.max(1))),
                Duration::from_secs(u64::from(c.carrier.ring_timeout_s.max(1))),
            )
        });
        let (pdd, ring) = timeouts.unwrap_or((Duration::from_secs(5), Duration::from_secs(60)));
        let preemptive = call.out.as_ref().is_some_and(|o| o.preemptive);
        if code >= 300 && !matches!(code, 401 | 407) && preemptive {
            // A gateway refusing an INVITE that answered its challenge in
            // advance may be refusing the credentials: the next INVITE
            // waits to be challenged.
            self.keep_nonce(call.info.gateway_id, None);
        }
        match code {
            100..=199 => {
                if let Some(out) = call.out.as_mut() {
                    if !out.replied {
                        out.replied = true;
                        call.timers.set(Timer::Reply, cx.now + pdd);
                    }
                    if code > 100 && !facts.to_tag.is_empty() {
                        out.early = Some((
                            facts.to.clone().into_owned(),
                            facts.contact.clone().map(Cow::into_owned),
                        ));
                    }
                    if code > 100 && !out.ringing {
                        out.ringing = true;
                        call.timers.set(Timer::Reply, cx.now + ring);
                        self.board.set_state(call.info.id, CallState::Ringing, None);
                    }
                }
                if code > 100 {
                    let body = filter_body(facts.sdp, &facts.body, &call.restricted);
                    let contact = self
                        .local
                        .contact(call.a.peer.transport, call.a.peer.addr.ip());
                    let ct = facts.content_type.as_deref().unwrap_or_default();
                    // A reliable provisional keeps its RSeq (renumbered
                    // after a failover): the caller's PRACK names it, and
                    // the carrier's retransmissions reach the caller until
                    // then.
                    let rseq = facts.rseq.filter(|_| call.reliable != Reliable::No);
                    let rseq = rseq
                        .and_then(|n| call.caller_rseq(n))
                        .map(|n| sized_text(10, n));
                    let headers = [
                        ("Contact", &*contact),
                        ("Require", RELIABLE_TAG),
                        ("RSeq", rseq.as_deref().unwrap_or_default()),
                    ];
                    let extra = if rseq.is_some() {
                        &headers[..]
                    } else {
                        &headers[..1]
                    };
                    respond_a(
                        cx,
                        &call,
                        code,
                        &reason,
                        extra,
                        (!body.is_empty()).then_some((ct, &body[..])),
                    );
                }
                self.by_client.insert(tx, Role::Invite(id));
                self.keep(id, call);
            }
            // Retransmissions of the 2xx find the call by its dialog
            // (`on_stray_2xx`): the transaction has nothing left to do.
            200..=299 => self.answer(cx, id, call, &facts, &reason),
            401 | 407
                if call.creds.is_some() && call.out.as_ref().is_some_and(|o| !o.auth_tried) =>
            {
                let answered = call
                    .creds
                    .as_ref()
                    .zip(call.b.as_ref())
                    .zip(facts.challenge.take())
                    .map(|((c, b), mut nonce)| (nonce.answer(c, b"INVITE", b.target()), nonce));
                let (auth, nonce) = answered.unzip();
                // The gateway's new challenge replaces what it gave before.
                self.keep_nonce(call.info.gateway_id, nonce);
                let resent = auth.and_then(|a| self.send_b_invite(cx, &mut call, Some(a)));
                match (resent, call.out.as_mut()) {
                    (Some((new_tx, branch, cseq)), Some(out)) => {
                        out.tx = new_tx;
                        out.branch = branch;
                        out.cseq = cseq;
                        out.auth_tried = true;
                        out.preemptive = false;
                        self.by_client.insert(new_tx, Role::Invite(id));
                        self.keep(id, call);
                    }
                    _ => self.attempt_failed(cx, id, call, code, reason.into()),
                }
            }
            _ => self.attempt_failed(cx, id, call, code, reason.into()),
        }
    }

    /// The current attempt ended with a failure `code`: fail over or give
    /// the caller the answer, as the carrier's reply rules say. A
    /// challenge that could not be answered counts as a failure to fail
    /// over from.
    pub(super) fn attempt_failed(
        &mut self,
        cx: &mut Ctx<'_>,
        id: u64,
        mut call: Box<Call>,
        code: u16,
        reason: String,
    ) {
        let carrier = call.out.as_ref().map(|o| o.carrier);
        self.release_gateway(&mut call);
        call.out = None;
        call.timers.stop(Timer::Reply);
        call.b = None;
        let outcome = match (code, carrier.and_then(|c| cx.snap.account(c))) {
            (401 | 407, _) => Outcome::Failover,
            (_, Some(carrier)) => judge_failure(carrier, code),
            (_, None) => Outcome::Failover,
        };
        match outcome {
            Outcome::Failover => {
                call.plan().last_failure = (code, reason.into());
                self.next_attempt(cx, id, call);
            }
            Outcome::Answer(code, replaced) => {
                let reason = replaced.unwrap_or(reason);
                self.fail(cx, call, code, &reason);
            }
        }
    }

    /// A response to an INVITE the call gave up on.
    pub(super) fn on_abandoned_response(
        &mut self,
        cx: &mut Ctx<'_>,
        tx: TxId,
        mut ab: Box<Abandoned>,
        facts: Facts,
    ) {
        match facts.code() {
            100..=199 => {
                if !ab.cancel_sent {
                    let (branch, cseq) = (ab.branch.clone(), ab.cseq);
                    self.send_cancel(cx, &mut ab.leg, &branch, cseq);
                    ab.cancel_sent = true;
                }
                self.by_client.insert(tx, Role::Abandoned(ab));
            }
            200..=299 => {
                // Answered after all: acknowledge and hang up at once.
                let mut leg = ab.leg;
                leg.answered_by(&facts);
                let offer = if ab.late_offer { &facts.body[..] } else { &[] };
                self.send_declining_ack(cx, &mut leg, ab.cseq, offer);
                self.send_bye_with(cx, leg, None, None);
            }
            _ => {}
        }
    }
}
