//! A call from the caller's INVITE to the carrier's answer: numbers,
//! route, admission and codecs, then the B-leg INVITE to one gateway after
//! another (weighted pick, failover, the carrier's challenge answered once)
//! until one answers or every candidate has failed.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tollgate_policy::admission::{Breach, Limit, Scope};
use tollgate_policy::numbers::{NumberRules, prepare_numbers};
use tollgate_policy::routing::{Outcome, judge_failure, select_route};
use tollgate_policy::{Account, AccountStatus, CallInfo, CallState, Identity, IpAuthEntry};
use tollgate_sip::sdp::{self, remove_codecs};
use tollgate_sip::transaction::{Peer, Received, TxId};
use tollgate_sip::{MessageBuilder, Method, ResponseHeaders};

use super::carrier_auth::{CarrierNonce, Credentials};
use super::gateway::Hop;
use super::leg::{Facts, Leg, send_request};
use super::local::Host;
use super::{
    Abandoned, Call, Calls, Ctx, Outgoing, Plan, RELIABLE_TAG, Reliable, Role, Side, WAIT_RETRY,
    Waiting, respond_a, set_state,
};
use crate::core::{ALLOW, random_hex, response_tagged, sized_text};

/// Who is calling, as the call needs it.
struct CallerSide<'a> {
    scope: Scope,
    channels: u32,
    cps: u32,
    rules: NumberRules<'a>,
    called: String,
    tech_prefix: Option<&'a str>,
    restricted: &'a [String],
}

fn caller_side<'a>(
    identity: &'a Identity<'a>,
    request_user: &str,
) -> (&'a Account, CallerSide<'a>) {
    match identity {
        Identity::Ip {
            entry,
            account,
            called,
        } => (
            account,
            CallerSide {
                scope: Scope::Entry(entry.id),
                channels: entry.channels,
                cps: entry.cps,
                rules: NumberRules {
                    strip_digits: entry.strip_digits,
                    dial_pattern: &entry.dial_pattern,
                    cli_prefix: &entry.cli_prefix,
                    force_from: &entry.force_from,
                },
                called: called.clone(),
                tech_prefix: (!entry.tech_prefix.is_empty()).then_some(entry.tech_prefix.as_str()),
                restricted: &entry.restricted_codecs,
            },
        ),
        Identity::Digest { user, account } => (
            account,
            CallerSide {
                scope: Scope::User(user.id),
                channels: user.channels,
                cps: user.cps,
                rules: NumberRules {
                    strip_digits: 0,
                    dial_pattern: &user.dial_pattern,
                    cli_prefix: "",
                    force_from: "",
                },
                called: request_user.to_owned(),
                tech_prefix: None,
                restricted: &user.restricted_codecs,
            },
        ),
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

impl Calls {
    /// A new call from an identified caller's INVITE `data` (`received`:
    /// what the layer read of it; `sid` is its server transaction): refused at once (dial
    /// plan, route, limits, codecs) or sent towards the first carrier
    /// gateway.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        &mut self,
        cx: &mut Ctx<'_>,
        sid: TxId,
        peer: Peer,
        data: &Bytes,
        received: &Received<'_, '_>,
        identity: &Identity<'_>,
        request_user: &str,
    ) {
        self.attempted.increment(1);
        let id = self.next_id + 1;
        let tag = self.tags.make(id);
        let msg = &received.message;
        let refuse = |cx: &mut Ctx<'_>, calls: &mut Self, code: u16, reason: &str| {
            if let Some(resp) = response_tagged(&msg.head, code, reason, &tag, &[], None) {
                let _ = cx.layer.respond(cx.now, sid, resp);
            }
            calls.failed.increment(code);
        };
        let Some(facts) = Facts::of(data, received) else {
            refuse(cx, self, 400, "Bad Request");
            return;
        };
        if facts.max_forwards == 0 {
            // A loop through Tollgate (or something else) ends here.
            refuse(cx, self, 483, "Too Many Hops");
            return;
        }
        let (account, side) = caller_side(identity, request_user);
        let Some(numbers) = prepare_numbers(&side.called, &facts.from_user, &side.rules) else {
            refuse(cx, self, self.config.dial_plan_code, "Blocked by dial plan");
            return;
        };
        let Some(route) = select_route(
            cx.snap.routes(account.id),
            side.tech_prefix,
            &numbers.called,
        ) else {
            refuse(cx, self, 404, "No route");
            return;
        };
        let limits = [
            Limit {
                scope: side.scope,
                channels: side.channels,
                cps: side.cps,
            },
            Limit {
                scope: Scope::Account(account.id),
                channels: account.channels,
                cps: account.cps,
            },
            Limit {
                scope: Scope::Route(route.id),
                channels: route.channels,
                cps: route.cps,
            },
        ];
        // Over CPS with a buffer configured, the call waits for budget
        // (see `retry_admission`) instead of being refused.
        let waiting = match self.admission.admit(&limits, cx.unix_ms) {
            Ok(()) => None,
            Err(Breach::Cps(_)) if !self.config.cps_buffer.is_zero() => Some(Waiting {
                limits: limits.to_vec(),
                until: cx.now + self.config.cps_buffer,
                next_try: cx.now + WAIT_RETRY,
                next_trying: cx.now,
            }),
            Err(breach) => {
                let (code, reason) = self.breach_answer(breach);
                refuse(cx, self, code, reason);
                return;
            }
        };
        let held: Vec<Scope> = if waiting.is_some() {
            Vec::new()
        } else {
            limits.iter().map(|l| l.scope).collect()
        };
        let offer = if facts.body.is_empty() {
            None
        } else {
            let ct = facts.content_type.as_deref().unwrap_or_default().to_owned();
            if facts.sdp && !side.restricted.is_empty() {
                let names: Vec<&str> = side.restricted.iter().map(String::as_str).collect();
                let filtered = remove_codecs(&facts.body, &names);
                if filtered.audio_without_codec {
                    self.admission.release(held);
                    refuse(cx, self, 488, "Not Acceptable Here");
                    return;
                }
                Some((ct, Bytes::from(filtered.sdp)))
            } else {
                Some((ct, facts.body.clone()))
            }
        };
        self.next_id = id;
        let target = facts
            .contact
            .as_deref()
            .map_or_else(|| Cow::Owned(format!("sip:{}", peer.addr)), Cow::Borrowed);
        let a = Leg::new(
            peer,
            [
                &facts.call_id as &dyn std::fmt::Display,
                &format_args!("{};tag={tag}", facts.to),
                &facts.from,
                &target,
                &facts.record_route,
            ],
            70,
        );
        let (entry_id, user_id) = match identity {
            Identity::Ip { entry, .. } => (Some(entry.id), None),
            Identity::Digest { user, .. } => (None, Some(user.id)),
        };
        let call = Box::new(Call {
            info: Arc::new(CallInfo {
                id,
                account_id: account.id,
                entry_id,
                user_id,
                caller: numbers.caller,
                callee: numbers.called,
                carrier_id: None,
                gateway_id: None,
                gateway_address: None,
                state: CallState::Routing,
                started: cx.unix_ms,
                answered: None,
            }),
            late_offer: offer.is_none(),
            reliable: Reliable::of(&msg.head),
            a_max_forwards: facts.max_forwards,
            a,
            a_reply: MessageBuilder::response_headers(&msg.head, Some(tag.as_bytes())),
            a_server: sid,
            b: None,
            out: None,
            answered: false,
            held,
            gateway_held: Vec::new(),
            plan: Some(Box::new(Plan {
                carriers: route.carriers.iter().copied().collect(),
                ..Plan::default()
            })),
            offer: offer.map(Box::new),
            restricted: side.restricted.into(),
            unacked: None,
            b_invite_cseq: 0,
            rare: None,
            creds: None,
            max_duration: if route.max_duration_s > 0 {
                Duration::from_secs(u64::from(route.max_duration_s))
            } else {
                self.config.max_duration
            },
            ends_at: None,
            armed: None,
            waiting: waiting.map(Box::new),
        });
        self.publish_channels(account.id);
        self.by_server.insert(sid, id);
        if call.waiting.is_some() {
            self.show(&call);
            self.keep(id, call);
        } else {
            self.next_attempt(cx, id, call);
        }
    }

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
            deadline: cx.now + first_reply,
            reliables: Vec::new(),
        }));
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

    /// Stops waiting for the current B-leg INVITE: its channels are freed
    /// and its transaction is left to a CANCEL (once it has a provisional)
    /// and to [`Role::Abandoned`].
    pub(super) fn abandon_attempt(&mut self, cx: &mut Ctx<'_>, call: &mut Call) {
        self.release_gateway(call);
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
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_invite_response(
        &mut self,
        cx: &mut Ctx<'_>,
        tx: TxId,
        id: u64,
        data: &Bytes,
        facts: Facts,
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
                        out.deadline = cx.now + pdd;
                    }
                    if code > 100 && !facts.to_tag.is_empty() {
                        out.early = Some((
                            facts.to.clone().into_owned(),
                            facts.contact.clone().map(Cow::into_owned),
                        ));
                    }
                    if code > 100 && !out.ringing {
                        out.ringing = true;
                        out.deadline = cx.now + ring;
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
                    .zip(CarrierNonce::from_response(data, code))
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
    #[allow(clippy::too_many_arguments)]
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

    /// The carrier answered: ACK the B-leg (or wait for the caller's ACK
    /// with a late offer), relay the 2xx to the caller and retransmit it
    /// until the caller's ACK.
    fn answer(
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
        call.ends_at = Some(cx.now + call.max_duration);
        self.board
            .set_state(call.info.id, CallState::Answered, Some(cx.unix_ms));
        self.answered.increment(1);
        self.keep(id, call);
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
