//! Health probes of gateways. With [`CallConfig::gateway_probe`] set, each
//! gateway (every enabled ingress entry of an active account that has an
//! address) gets an OPTIONS that often, one at a time. A gateway that does
//! not answer within the transaction timeout (64·T1), or answers 408 or
//! 503, is down: like a gateway silent to an INVITE, it is tried only after
//! the others, until a probe gets another answer. Any other answer, a 404
//! or 405 included, shows a SIP stack at work: the gateway is up, even if
//! an INVITE's silence had put it last a moment before (the probe is the
//! fresher word).
//!
//! [`CallConfig::gateway_probe`]: super::CallConfig::gateway_probe

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tollgate_policy::EntryId;
use tollgate_sip::Method;

use super::gateway::Hop;
use super::leg::{Leg, send_request};
use super::{Calls, Ctx, Role};
use crate::core::{random_hex, sized_text};

/// When probes go out, and which are on the wire.
#[derive(Debug, Default)]
pub(super) struct Probes {
    /// How often each gateway is probed; `None`: never.
    every: Option<Duration>,
    /// When the next round is due (set once the edge is bound).
    next_round: Option<Instant>,
    /// The gateways whose probe is still waiting for its answer.
    in_flight: HashSet<EntryId>,
}

impl Probes {
    /// Probes every `every`, or none.
    pub(super) fn new(every: Option<Duration>) -> Self {
        Self {
            every: every.filter(|e| !e.is_zero()),
            ..Self::default()
        }
    }

    /// Schedules the first round, one interval after `now`.
    pub(super) fn start(&mut self, now: Instant) {
        self.next_round = self.every.map(|every| now + every);
    }

    /// When the next round is due.
    pub(super) fn next_round(&self) -> Option<Instant> {
        self.next_round
    }

    /// True when a round is due at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.next_round.is_some_and(|at| at <= now)
    }
}

impl Calls {
    /// Sends a round of probes: an OPTIONS to each gateway of `snap`
    /// whose previous probe has its answer.
    pub(super) fn probe_round(&mut self, cx: &mut Ctx<'_>) {
        let Some(every) = self.probes.every else {
            return;
        };
        self.probes.next_round = Some(cx.now + every);
        for entry in cx.snap.all_gateways() {
            if self.probes.in_flight.contains(&entry.id) {
                continue;
            }
            let Some(&ip) = cx.snap.gateway_addresses(entry.id).first() else {
                continue;
            };
            let hop = Hop::to(entry, ip);
            let own = self.local.own(hop.peer.transport, hop.peer.addr.ip());
            let gateway = sized_text(47, hop.gateway);
            let mut leg = Leg::new(
                hop.peer,
                [
                    &format_args!("{}@tollgate", random_hex()),
                    &format_args!("<sip:tollgate@{}>;tag={}", own.host(), random_hex()),
                    &format_args!("<sip:{gateway}>"),
                    &format_args!("sip:{gateway}{}", hop.uri_params),
                    &hop.routes,
                ],
                70,
            );
            let via = self.local.via(hop.peer.transport, hop.peer.addr.ip());
            let (options, branch) = leg.request(Method::Options, via, None, None);
            let options = options.header("Accept", "application/sdp");
            if let Some(tx) = send_request(
                cx.layer,
                cx.now,
                hop.peer,
                options,
                Method::Options,
                &branch,
            ) {
                self.by_client.insert(tx, Role::Probe(entry.id));
                self.probes.in_flight.insert(entry.id);
            }
        }
    }

    /// The probe of `gateway` got its final answer `code`, or none in time.
    pub(super) fn on_probe_result(&mut self, now: Instant, gateway: EntryId, code: Option<u16>) {
        self.probes.in_flight.remove(&gateway);
        let up = !matches!(code, None | Some(408 | 503));
        if up {
            self.down.remove(&gateway);
        } else {
            // Down until the next probe's answer says otherwise: that
            // answer comes within one interval and one transaction timeout.
            let every = self.probes.every.unwrap_or_default();
            let lease = every + 64 * self.config.timers.t1 + Duration::from_secs(1);
            self.down.insert(gateway, now + lease);
        }
        self.gateway_up.set(gateway, f64::from(u8::from(up)));
        if self.board.set_gateway_up(gateway, up) != Some(up) {
            match code {
                _ if up => tracing::info!(gateway, "gateway answers its probes: up"),
                Some(code) => tracing::warn!(gateway, code, "gateway refused a probe: down"),
                None => tracing::warn!(gateway, "gateway did not answer a probe: down"),
            }
        }
    }
}
