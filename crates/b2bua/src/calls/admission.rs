//! A new call: who is calling (IP entry or SIP user), their numbers
//! (strip digits, dial pattern, CLI prefix, force from), the route, the
//! channel and CPS limits of the caller, its account and the route (with
//! the CPS buffer: a call over a CPS limit may wait for budget), and the
//! caller's codec restriction. What passes goes to the carriers
//! (`attempt.rs`); what does not is refused at once.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tollgate_policy::admission::{Breach, Limit, Scope};
use tollgate_policy::numbers::{NumberRules, prepare_numbers};
use tollgate_policy::routing::select_route;
use tollgate_policy::{Account, CallInfo, CallState, Identity};
use tollgate_sip::MessageBuilder;
use tollgate_sip::sdp::remove_codecs;
use tollgate_sip::transaction::{Peer, Received, TxId};

use super::call::*;
use super::leg::{Facts, Leg};
use super::timers::{Timer, Timers};
use super::{Calls, Ctx};
use crate::core::{reply, response_tagged, response_with};

/// Who is calling, as the call needs it.
pub(super) struct CallerSide<'a> {
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

/// How often a waiting call tries admission again.
pub(super) const WAIT_RETRY: Duration = Duration::from_millis(20);

impl Calls {
    /// A new call from an identified caller's INVITE `data` (`received`:
    /// what the layer read of it; `sid` is its server transaction; `caller`
    /// the identity and the Request-URI's user): refused at once (dial
    /// plan, route, limits, codecs) or sent towards the first carrier
    /// gateway.
    pub(crate) fn start(
        &mut self,
        cx: &mut Ctx<'_>,
        (sid, peer): (TxId, Peer),
        data: &Bytes,
        received: &Received<'_, '_>,
        (identity, request_user): (&Identity<'_>, &str),
    ) {
        self.attempted.increment(1);
        let id = self.next_id + 1;
        let tag = self.tags.make(id);
        let msg = &received.message;
        let refuse = |cx: &mut Ctx<'_>, calls: &mut Self, code: u16, reason: &str| {
            if let Some(resp) = response_tagged(&msg.head, code, reason, &tag, &[], None) {
                reply(cx.layer, cx.now, sid, resp);
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
        let mut call = Box::new(Call {
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
            timers: Timers::default(),
            armed: None,
            waiting: waiting.map(Box::new),
        });
        self.publish_channels(account.id);
        self.by_server.insert(sid, id);
        if call.waiting.is_some() {
            call.timers.set(Timer::Admission, cx.now + WAIT_RETRY);
            self.show(&call);
            self.keep(id, call);
        } else {
            self.next_attempt(cx, id, call);
        }
    }

    /// A call waiting for CPS budget tries admission again: admitted, it
    /// goes on to the carriers; out of time, it is refused.
    pub(super) fn retry_admission(&mut self, cx: &mut Ctx<'_>, id: u64, mut call: Box<Call>) {
        let Some(mut w) = call.waiting.take() else {
            return;
        };
        match self.admission.admit(&w.limits, cx.unix_ms) {
            Ok(()) => {
                call.held = w.limits.iter().map(|l| l.scope).collect();
                self.publish_channels(call.info.account_id);
                self.next_attempt(cx, id, call);
            }
            Err(Breach::Cps(_)) if cx.now < w.until => {
                if w.next_trying <= cx.now {
                    if let Some(trying) = response_with(&call.a_reply, 100, "Trying", &[], None) {
                        reply(cx.layer, cx.now, call.a_server, trying);
                    }
                    w.next_trying = cx.now + Duration::from_secs(1);
                }
                call.timers.set(Timer::Admission, cx.now + WAIT_RETRY);
                call.waiting = Some(w);
                self.keep(id, call);
            }
            Err(breach) => {
                let (code, reason) = self.breach_answer(breach);
                self.fail(cx, call, code, reason);
            }
        }
    }

    /// The response to a limit breach.
    fn breach_answer(&self, breach: Breach) -> (u16, &'static str) {
        match breach {
            Breach::Channels(_) => (self.config.channel_limit_code, "Channel limit reached"),
            Breach::Cps(_) => (self.config.cps_limit_code, "CPS limit reached"),
        }
    }

    /// Answers the caller's INVITE with a final failure and ends the call.
    pub(super) fn fail(&mut self, cx: &mut Ctx<'_>, call: Box<Call>, code: u16, reason: &str) {
        respond_a(cx, &call, code, reason, &[], None);
        self.failed.increment(code);
        self.finish(call, "failed");
    }
}
